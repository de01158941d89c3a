//! The injectable clock. Every timer of the engine (delivery timeout, overdue deadline,
//! long-poll waits) sleeps through a [`Clock`], so tests drive time with [`ManualClock`]
//! instead of waiting for it.

use poigate_domain::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Completes once [`Clock::now`] has reached `deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> Sleep;
}

/// The real clock: system time for timestamps, tokio timers for sleeping.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let wait = deadline.millis_since(self.now()).max(0);
        Box::pin(tokio::time::sleep(Duration::from_millis(wait as u64)))
    }
}

/// A clock that moves only when told to. Sleepers wake when [`ManualClock::advance`] or
/// [`ManualClock::set`] moves time past their deadline.
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<i64>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new(start.as_millis())),
        }
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.send_modify(|t| *t = t.saturating_add(ms));
    }

    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to.as_millis());
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(*self.now.borrow())
    }

    fn sleep_until(&self, deadline: Timestamp) -> Sleep {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            loop {
                if *rx.borrow_and_update() >= deadline.as_millis() {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The clock is gone: nobody will ever advance it.
                    std::future::pending::<()>().await;
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let clock = ManualClock::new(Timestamp::from_millis(1_000));
        let sleeper = tokio::spawn(clock.sleep_until(Timestamp::from_millis(5_000)));
        clock.advance(Duration::from_millis(3_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_millis(1_000));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woke up")
            .expect("joined");
        assert_eq!(clock.now(), Timestamp::from_millis(5_000));
    }
}
