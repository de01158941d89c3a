//! The coordinator's background work: the heartbeat, the `LISTEN` connection, the notifier,
//! and the once-a-second refresh that bounds how late a missed notification can make
//! anything (presence, commits, commands, orphaned timers).

use crate::keys::{CommandRow, parse_command, parse_timer};
use crate::{NODE_LEASE, ORPHAN_GRACE, Owner, REFRESH, Shared, lock};
use futures_util::StreamExt;
use poigate_domain::{InteractionId, TerminalId, Timestamp};
use poigate_engine::{Committed, TerminalCommand};
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

type DbResult<T> = Result<T, String>;

fn micros_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Hands a change to this node's waiters and remembers how far they have seen.
pub(crate) fn publish_locally(shared: &Shared, committed: Arc<Committed>) {
    let id = committed.interaction.id;
    let seq = committed.interaction.last_seq;
    {
        let mut seen = lock(&shared.published_seq);
        if committed.interaction.is_final() {
            seen.remove(&id);
        } else {
            let entry = seen.entry(id).or_insert(0);
            *entry = (*entry).max(seq);
        }
    }
    shared.waiters.publish(committed);
}

/// Re-reads an interaction somebody on this node waits for and wakes them when it moved on
/// (a commit on another node).
async fn refresh_interaction(
    shared: &Shared,
    id: InteractionId,
    seq_hint: Option<u64>,
    committed_at: Option<i64>,
) {
    let known = lock(&shared.published_seq).get(&id).copied();
    if let (Some(hint), Some(known)) = (seq_hint, known)
        && hint <= known
    {
        return;
    }
    match shared.store.get_interaction(id).await {
        Ok(Some(interaction)) => {
            let newer = known.is_none_or(|k| interaction.last_seq > k) || interaction.is_final();
            if newer {
                publish_locally(
                    shared,
                    Arc::new(Committed {
                        interaction,
                        transaction: None,
                        committed_at_micros: committed_at.unwrap_or_else(micros_now),
                    }),
                );
            }
        }
        Ok(None) => {}
        Err(e) => tracing::debug!(interaction = %id, error = %e, "interaction not re-read"),
    }
}

/// Renews this node's membership.
pub(crate) async fn heartbeat(shared: &Shared) -> DbResult<()> {
    let client = shared.pool.get().await.map_err(|e| e.to_string())?;
    let lease = format!("{} seconds", NODE_LEASE.as_secs());
    client
        .execute(
            "INSERT INTO poigate_nodes (id, heartbeat_at, expires_at)
             VALUES ($1, now(), now() + $2::text::interval)
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = now() + $2::text::interval",
            &[&shared.node.0, &lease],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Reloads every terminal's owner and every node's liveness.
pub(crate) async fn refresh_presence(shared: &Shared) -> DbResult<()> {
    let client = shared.pool.get().await.map_err(|e| e.to_string())?;
    let nodes = client
        .query("SELECT id, expires_at > now() FROM poigate_nodes", &[])
        .await
        .map_err(|e| e.to_string())?;
    let alive: HashMap<String, bool> = nodes
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, bool>(1)))
        .collect();
    let rows = client
        .query(
            "SELECT terminal_id, node_id, epoch, connected, last_seen_at FROM poigate_terminal_owners",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut owners = HashMap::with_capacity(rows.len());
    for row in rows {
        let Ok(terminal) = row.get::<_, String>(0).parse::<TerminalId>() else {
            continue;
        };
        owners.insert(
            terminal,
            Owner {
                node: row.get(1),
                epoch: row.get(2),
                connected: row.get(3),
                last_seen_at: row.get::<_, Option<i64>>(4).map(Timestamp::from_millis),
            },
        );
    }
    {
        // This node's own view of when it last saw its terminals is fresher than the rows.
        let mut current = lock(&shared.owners);
        for (terminal, owner) in owners.iter_mut() {
            if owner.node == shared.node.0
                && let Some(mine) = current.get(terminal)
            {
                owner.last_seen_at = owner.last_seen_at.max(mine.last_seen_at);
            }
        }
        *current = owners;
    }
    *lock(&shared.alive_nodes) = alive;
    Ok(())
}

/// Takes the commands routed to this node and hands them to the engine.
async fn take_commands(shared: &Shared) -> DbResult<()> {
    let client = shared.pool.get().await.map_err(|e| e.to_string())?;
    let rows = client
        .query(
            "DELETE FROM poigate_terminal_commands WHERE id IN (
                SELECT id FROM poigate_terminal_commands WHERE node_id = $1
                ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 100)
             RETURNING id, body",
            &[&shared.node.0],
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut commands: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    commands.sort_by_key(|(id, _)| *id);
    for (_, body) in commands {
        let command = match parse_command(&body) {
            Some(CommandRow::Start(terminal, id)) => match shared.store.get_interaction(id).await {
                Ok(Some(interaction)) => TerminalCommand::Start {
                    terminal,
                    interaction: Box::new(interaction),
                },
                Ok(None) => continue,
                Err(e) => {
                    // The start is re-derived when the terminal reconnects, and the delivery
                    // timeout decides otherwise: nothing is invented.
                    tracing::warn!(interaction = %id, error = %e, "routed start not read");
                    continue;
                }
            },
            Some(CommandRow::Cancel(terminal, interaction)) => TerminalCommand::Cancel {
                terminal,
                interaction,
            },
            Some(CommandRow::Revoked(terminal)) => TerminalCommand::CredentialsRevoked { terminal },
            None => {
                tracing::warn!("unreadable routed command ignored");
                continue;
            }
        };
        let _ = shared.commands.send(command);
    }
    Ok(())
}

/// Finds timers that are late and unclaimed (their node died) and hands them to the engine.
async fn sweep_orphaned_timers(shared: &Shared) -> DbResult<()> {
    let grace = i64::try_from(ORPHAN_GRACE.as_millis()).unwrap_or(i64::MAX);
    let late = shared.clock.now().as_millis().saturating_sub(grace);
    let client = shared.pool.get().await.map_err(|e| e.to_string())?;
    let rows = client
        .query(
            "SELECT key FROM poigate_timers WHERE fired_by IS NULL AND due_at < $1
             ORDER BY due_at LIMIT 100",
            &[&late],
        )
        .await
        .map_err(|e| e.to_string())?;
    for row in rows {
        if let Some(timer) = parse_timer(&row.get::<_, String>(0)) {
            let _ = shared.orphans.send(timer);
        }
    }
    // Fired timers are kept a while for inspection, then removed.
    let day = 24 * 3600 * 1000;
    client
        .execute(
            "DELETE FROM poigate_timers WHERE fired_by IS NOT NULL AND due_at < $1",
            &[&late.saturating_sub(day)],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Once a second: heartbeat, presence, commands, missed commits, orphaned timers.
pub(crate) async fn every_refresh(shared: Weak<Shared>) {
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for (what, result) in [
            ("heartbeat", heartbeat(&shared).await),
            ("presence", refresh_presence(&shared).await),
            ("commands", take_commands(&shared).await),
            ("timers", sweep_orphaned_timers(&shared).await),
        ] {
            if let Err(e) = result {
                tracing::warn!(error = %e, "cluster refresh failed: {what}");
            }
        }
        for id in shared.waiters.subscribed() {
            refresh_interaction(&shared, id, None, None).await;
        }
    }
}

/// Sends queued notifications, several per round trip.
pub(crate) async fn notifier(
    shared: Arc<Shared>,
    mut queue: mpsc::UnboundedReceiver<(&'static str, String)>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (channels, payloads): (Vec<String>, Vec<String>) =
            batch.into_iter().map(|(c, p)| (c.to_string(), p)).unzip();
        let result = match shared.pool.get().await {
            Ok(client) => client
                .execute(
                    "SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)",
                    &[&channels, &payloads],
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            // Notifications are hints: the once-a-second refresh covers what they carried.
            tracing::debug!(error = %e, "notifications not sent");
        }
    }
}

/// Holds a `LISTEN` connection, reconnecting when it drops, and acts on notifications.
pub(crate) async fn listener(shared: Weak<Shared>, listening: tokio::sync::oneshot::Sender<()>) {
    let mut ready = Some(listening);
    loop {
        let Some(url) = shared.upgrade().map(|s| s.url.clone()) else {
            return;
        };
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let pump = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = messages.next().await {
                        match message {
                            Ok(AsyncMessage::Notification(n)) => {
                                let _ = tx.send((n.channel().to_string(), n.payload().to_string()));
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::debug!(error = %e, "listener connection ended");
                                return;
                            }
                        }
                    }
                });
                let listening = client
                    .batch_execute(
                        "LISTEN poigate_commit; LISTEN poigate_presence; LISTEN poigate_command; LISTEN poigate_key_revoked;",
                    )
                    .await;
                if let Err(e) = listening {
                    tracing::warn!(error = %e, "cannot LISTEN; retrying");
                    pump.abort();
                } else {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                    while let Some((channel, payload)) = rx.recv().await {
                        let Some(shared) = shared.upgrade() else {
                            pump.abort();
                            return;
                        };
                        on_notification(&shared, &channel, &payload).await;
                    }
                }
                drop(client);
            }
            Err(e) => tracing::warn!(error = %e, "cannot open the LISTEN connection; retrying"),
        }
        // The refresh covers the gap; reconnect without hammering a database that is down.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn on_notification(shared: &Shared, channel: &str, payload: &str) {
    match channel {
        "poigate_commit" => {
            let mut parts = payload.split('|');
            let (Some(node), Some(id), Some(seq)) = (parts.next(), parts.next(), parts.next())
            else {
                return;
            };
            let committed_at = parts.next().and_then(|at| at.parse::<i64>().ok());
            if node == shared.node.0 {
                return;
            }
            let Ok(id) = id.parse::<InteractionId>() else {
                return;
            };
            if !shared.waiters.subscribed().contains(&id) {
                return;
            }
            refresh_interaction(shared, id, seq.parse().ok(), committed_at).await;
        }
        "poigate_presence" => {
            if let Err(e) = refresh_presence(shared).await {
                tracing::debug!(error = %e, "presence not refreshed");
            }
        }
        "poigate_command" => {
            if payload == shared.node.0
                && let Err(e) = take_commands(shared).await
            {
                tracing::warn!(error = %e, "routed commands not taken; retried within a second");
            }
        }
        "poigate_key_revoked" => {
            if let Ok(id) = payload.parse() {
                shared.keys.forget(id);
            }
        }
        _ => {}
    }
}

/// Marks this node's terminals disconnected and removes its membership row.
pub(crate) async fn leave(shared: &Shared) -> DbResult<()> {
    let client = shared.pool.get().await.map_err(|e| e.to_string())?;
    client
        .execute(
            "UPDATE poigate_terminal_owners SET connected = false WHERE node_id = $1",
            &[&shared.node.0],
        )
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute("DELETE FROM poigate_nodes WHERE id = $1", &[&shared.node.0])
        .await
        .map_err(|e| e.to_string())?;
    client
        .execute(
            "SELECT pg_notify('poigate_presence', $1)",
            &[&shared.node.0],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
