//! The merchant-wide event feed: every webhook event this node commits, as it commits it,
//! for live followers (`GET /v1/events/stream`, `poigate listen`, a dashboard).
//!
//! Each published message gets a feed number, increasing by one per message on this node,
//! and goes into a bounded ring (the last [`RING_CAPACITY`] messages, every merchant
//! together) and to the followers waiting for it. A follower that reconnects names the last
//! number it received (with this feed's `epoch`, a random name of this process) and gets
//! what followed from the ring, then the live messages, with nothing lost and nothing twice.
//!
//! What it is not: a durable log. The ring lives in memory, so a follower that was away for
//! more than the ring holds, or whose `Last-Event-ID` names an earlier process (another
//! epoch: a restart, or another node behind a load balancer), is told that events may be
//! missing (a *gap*) and continues from now; webhooks remain the durable, retried delivery.
//! In a cluster each node's feed carries the events that node committed.

use poigate_domain::OutboxMessage;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Messages kept for followers that reconnect.
pub const RING_CAPACITY: usize = 4096;

/// One published message and its number in this feed.
#[derive(Debug)]
pub struct FeedEntry {
    pub number: u64,
    pub message: OutboxMessage,
}

/// Where a follower (re)starts.
#[derive(Debug)]
pub struct FeedStart {
    /// Messages after the follower's position still in the ring, oldest first.
    pub backlog: Vec<Arc<FeedEntry>>,
    /// True when messages between the follower's position and `backlog` may be missing
    /// (the follower then continues from now).
    pub gap: bool,
    /// The follower's position: the number of the last message before `backlog` (its own
    /// position when resumed, else the newest message published so far).
    pub position: u64,
    /// Live messages published after `backlog` (skip numbers already seen).
    pub live: broadcast::Receiver<Arc<FeedEntry>>,
}

pub struct EventFeed {
    epoch: String,
    state: Mutex<Ring>,
    live: broadcast::Sender<Arc<FeedEntry>>,
}

struct Ring {
    next: u64,
    entries: VecDeque<Arc<FeedEntry>>,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFeed")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed::new()
    }
}

impl EventFeed {
    pub fn new() -> EventFeed {
        let mut bytes = [0u8; 4];
        let epoch = match getrandom::fill(&mut bytes) {
            Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            // Without randomness the start time tells processes apart as well.
            Err(_) => format!(
                "{:08x}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as u32)
                    .unwrap_or(0)
            ),
        };
        let (live, _) = broadcast::channel(1024);
        EventFeed {
            epoch,
            state: Mutex::new(Ring {
                next: 1,
                entries: VecDeque::with_capacity(RING_CAPACITY),
            }),
            live,
        }
    }

    /// This process's feed name: part of every event id, so a position from another process
    /// is recognised as such.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Publishes committed messages, in order.
    pub fn publish(&self, messages: &[OutboxMessage]) {
        if messages.is_empty() {
            return;
        }
        let mut ring = match self.state.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        for message in messages {
            let entry = Arc::new(FeedEntry {
                number: ring.next,
                message: message.clone(),
            });
            ring.next += 1;
            if ring.entries.len() == RING_CAPACITY {
                ring.entries.pop_front();
            }
            ring.entries.push_back(entry.clone());
            // Sent under the lock, so live followers see numbers in order. No follower: fine.
            let _ = self.live.send(entry);
        }
    }

    /// Starts a follower after `after` (`None`: from now on). `after` from another epoch
    /// is a gap.
    pub fn follow(&self, after: Option<(String, u64)>) -> FeedStart {
        let ring = match self.state.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let live = self.live.subscribe();
        let newest = ring.next - 1;
        let oldest = ring.entries.front().map(|e| e.number).unwrap_or(ring.next);
        let (backlog, gap, position) = match after {
            None => (Vec::new(), false, newest),
            Some((epoch, n)) if epoch == self.epoch && n <= newest && n + 1 >= oldest => {
                let backlog = ring
                    .entries
                    .iter()
                    .filter(|e| e.number > n)
                    .cloned()
                    .collect();
                (backlog, false, n)
            }
            // Too old for the ring, another process's position, or one this feed never
            // gave out: from now on, with the gap said.
            Some(_) => (Vec::new(), true, newest),
        };
        FeedStart {
            backlog,
            gap,
            position,
            live,
        }
    }

    /// The messages after `after` still in the ring (for a follower that fell behind the
    /// live channel); `None` when some were already dropped from the ring.
    pub fn since(&self, after: u64) -> Option<Vec<Arc<FeedEntry>>> {
        let ring = match self.state.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let oldest = ring.entries.front().map(|e| e.number).unwrap_or(ring.next);
        if after + 1 < oldest {
            return None;
        }
        Some(
            ring.entries
                .iter()
                .filter(|e| e.number > after)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poigate_domain::webhook::interaction_messages;
    use poigate_domain::{InteractionType, Timestamp, fixtures};

    fn messages(n: usize) -> Vec<OutboxMessage> {
        (0..n)
            .flat_map(|i| {
                let at = Timestamp::from_millis(1_800_000_000_000 + i as i64);
                let created = fixtures::new_interaction(InteractionType::Sale, 100, "EUR", at);
                interaction_messages(None, &created, None, at)
            })
            .collect()
    }

    fn numbers(entries: &[Arc<FeedEntry>]) -> Vec<u64> {
        entries.iter().map(|e| e.number).collect()
    }

    #[test]
    fn a_follower_resumes_after_its_position_without_gap_or_repeat() {
        let feed = EventFeed::new();
        feed.publish(&messages(5));
        let fresh = feed.follow(None);
        assert!(fresh.backlog.is_empty() && !fresh.gap);
        assert_eq!(fresh.position, 5);
        let resumed = feed.follow(Some((feed.epoch().to_string(), 2)));
        assert_eq!(numbers(&resumed.backlog), vec![3, 4, 5]);
        assert!(!resumed.gap);
        assert_eq!(resumed.position, 2);
        let mut live = resumed.live;
        feed.publish(&messages(1));
        assert_eq!(live.try_recv().map(|e| e.number).ok(), Some(6));
    }

    #[test]
    fn positions_it_cannot_serve_are_gaps_from_now() {
        let feed = EventFeed::new();
        feed.publish(&messages(RING_CAPACITY + 10));
        let newest = (RING_CAPACITY + 10) as u64;
        for after in [
            ("another-process".to_string(), 3),
            (feed.epoch().to_string(), 1),
            (feed.epoch().to_string(), newest + 1),
        ] {
            let start = feed.follow(Some(after.clone()));
            assert!(start.gap, "{after:?}");
            assert!(start.backlog.is_empty());
            assert_eq!(start.position, newest);
        }
        // The oldest position the ring still serves without a gap.
        let oldest_kept = newest - RING_CAPACITY as u64;
        let start = feed.follow(Some((feed.epoch().to_string(), oldest_kept)));
        assert!(!start.gap);
        assert_eq!(start.backlog.len(), RING_CAPACITY);
        assert!(feed.since(oldest_kept - 1).is_none());
        assert_eq!(feed.since(newest - 2).map(|e| e.len()), Some(2));
    }
}
