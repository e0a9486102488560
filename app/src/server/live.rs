//! Live events across instances: published with PostgreSQL `NOTIFY` on `live_events`,
//! heard by every instance's listener, and handed to the event streams of the team's
//! open pages on that instance.
//!
//! Publishing never waits: events queue in memory and a publisher task sends them in
//! batches (one `pg_notify` per team and batch), after the change they describe has
//! committed. Should the listening connection drop, notifications may be missed, so
//! every open stream is told to catch up ([`Signal::Resync`]) once it is back.
//!
//! A team's streams are also told when who may see the team changed (a member left, a
//! role changed, someone signed out: [`LiveHub::recheck`]); each stream then checks
//! its sign-in again and ends if it no longer stands. A session opens at most
//! [`MAX_STREAMS_PER_SESSION`] streams on one instance ([`LiveHub::open_stream`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::domain::live::LiveEvent;

/// The notification channel live events travel on.
const CHANNEL: &str = "live_events";
/// PostgreSQL refuses payloads of 8,000 bytes and more; a team's batch is split below.
const MAX_PAYLOAD: usize = 7_000;
/// Events one publish statement carries at most.
const MAX_BATCH: usize = 512;
/// How long the publisher gathers events before sending: under load, one notifying
/// transaction then serves many alerts instead of a few (each takes PostgreSQL's
/// notification lock at commit).
const GATHER: Duration = Duration::from_millis(10);
/// Events a slow page may fall behind by before it is told to catch up instead.
const STREAM_BUFFER: usize = 256;

/// Streams one session may hold open on one instance (a page per browser tab).
pub const MAX_STREAMS_PER_SESSION: usize = 8;

/// What an open page hears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Something happened.
    Event(LiveEvent),
    /// Events may have been missed: fetch everything shown again.
    Resync,
    /// Who may see the team changed: check the stream's sign-in again.
    Recheck,
}

/// One notification: a team, its events, and whether its streams must check their
/// sign-ins again.
#[derive(Serialize, Deserialize)]
struct Payload {
    team: Uuid,
    events: Vec<LiveEvent>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    recheck: bool,
}

/// Publishes and hears live events; cheap to clone.
#[derive(Clone, Debug)]
pub struct LiveHub {
    outbox: mpsc::UnboundedSender<(Uuid, Signal)>,
    teams: Arc<Mutex<HashMap<Uuid, broadcast::Sender<Signal>>>>,
    /// Open streams by session id, on this instance.
    streams: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream of a session, counted until dropped.
#[derive(Debug)]
pub struct StreamPermit {
    streams: Arc<Mutex<HashMap<String, usize>>>,
    session: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().expect("not poisoned");
        if let Some(open) = streams.get_mut(&self.session) {
            *open -= 1;
            if *open == 0 {
                streams.remove(&self.session);
            }
        }
    }
}

impl LiveHub {
    /// Starts the publisher and the listener on the current tokio runtime (the listener
    /// on a connection of its own from `pool`, until the pool closes).
    pub fn start(pool: PgPool) -> Self {
        let (outbox, queued) = mpsc::unbounded_channel();
        let hub = Self { outbox, teams: Arc::default(), streams: Arc::default() };
        tokio::spawn(publish(pool.clone(), queued));
        tokio::spawn(hub.clone().listen(pool));
        hub
    }

    /// Announces `events` of `team` to every instance. Call after they committed.
    pub fn publish(&self, team: Uuid, events: impl IntoIterator<Item = LiveEvent>) {
        for event in events {
            // Fails only once the publisher has stopped (shutting down).
            let _ = self.outbox.send((team, Signal::Event(event)));
        }
    }

    /// Tells `team`'s open streams, on every instance, to check their sign-ins again:
    /// call after a member left or changed role, or a session of the team ended.
    pub fn recheck(&self, team: Uuid) {
        let _ = self.outbox.send((team, Signal::Recheck));
    }

    /// Counts one more stream of `session`, or `None` when it already holds
    /// [`MAX_STREAMS_PER_SESSION`] on this instance.
    pub fn open_stream(&self, session: &str) -> Option<StreamPermit> {
        let mut streams = self.streams.lock().expect("not poisoned");
        let open = streams.entry(session.to_string()).or_default();
        if *open >= MAX_STREAMS_PER_SESSION {
            return None;
        }
        *open += 1;
        Some(StreamPermit { streams: self.streams.clone(), session: session.to_string() })
    }

    /// What `team`'s open pages hear from now on.
    pub fn subscribe(&self, team: Uuid) -> broadcast::Receiver<Signal> {
        let mut teams = self.teams.lock().expect("not poisoned");
        teams.retain(|_, sender| sender.receiver_count() > 0);
        teams.entry(team).or_insert_with(|| broadcast::channel(STREAM_BUFFER).0).subscribe()
    }

    /// Ends every open stream on this instance (shutting down); pages reconnect to
    /// another instance.
    pub fn close_streams(&self) {
        self.teams.lock().expect("not poisoned").clear();
    }

    fn deliver(&self, team: Uuid, signal: Signal) {
        let teams = self.teams.lock().expect("not poisoned");
        if let Some(sender) = teams.get(&team) {
            let _ = sender.send(signal);
        }
    }

    fn resync_all(&self) {
        for sender in self.teams.lock().expect("not poisoned").values() {
            let _ = sender.send(Signal::Resync);
        }
    }

    async fn listen(self, pool: PgPool) {
        let mut lost = false;
        loop {
            match self.listen_until_lost(&pool, lost).await {
                Ok(()) => return,
                Err(error) => {
                    lost = true;
                    tracing::warn!(%error, "not hearing live events; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Listens until the pool closes (`Ok`) or the connection fails.
    async fn listen_until_lost(&self, pool: &PgPool, was_lost: bool) -> Result<(), sqlx::Error> {
        let mut listener = match PgListener::connect_with(pool).await {
            Err(sqlx::Error::PoolClosed) => return Ok(()),
            connected => connected?,
        };
        listener.listen(CHANNEL).await?;
        if was_lost {
            self.resync_all();
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => match serde_json::from_str::<Payload>(notification.payload()) {
                    Ok(payload) => {
                        for event in payload.events {
                            self.deliver(payload.team, Signal::Event(event));
                        }
                        if payload.recheck {
                            self.deliver(payload.team, Signal::Recheck);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "ignoring a live event that does not parse"),
                },
                // Reconnected: notifications may have been missed meanwhile.
                Ok(None) => self.resync_all(),
                Err(sqlx::Error::PoolClosed) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }
}

/// Sends queued events: whatever queued up within [`GATHER`] of the first, in one
/// statement. Notifications need no durability (a page that misses one catches up when
/// it reconnects), so their transaction commits without waiting for the disk.
async fn publish(pool: PgPool, mut queued: mpsc::UnboundedReceiver<(Uuid, Signal)>) {
    let mut batch = Vec::new();
    while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
        tokio::time::sleep(GATHER).await;
        while batch.len() < MAX_BATCH {
            match queued.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let payloads = payloads(&batch);
        batch.clear();
        let sent = sqlx::query(
            "select pg_notify($1, payload)
             from (select set_config('synchronous_commit', 'off', true)) as asynchronous,
                  unnest($2::text[]) as payload",
        )
        .bind(CHANNEL)
        .bind(&payloads)
        .execute(&pool)
        .await;
        match sent {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => tracing::warn!(%error, "publishing live events failed; open pages catch up on reconnect"),
        }
    }
}

/// The notifications for `signals`: per team, in order, each under PostgreSQL's limit;
/// a recheck rides on the team's last one.
fn payloads(signals: &[(Uuid, Signal)]) -> Vec<String> {
    let mut by_team: Vec<(Uuid, Vec<LiveEvent>, bool)> = Vec::new();
    for &(team, signal) in signals {
        let index = match by_team.iter().position(|(known, _, _)| *known == team) {
            Some(index) => index,
            None => {
                by_team.push((team, Vec::new(), false));
                by_team.len() - 1
            }
        };
        let (_, list, recheck) = &mut by_team[index];
        match signal {
            Signal::Event(event) if !list.contains(&event) => list.push(event),
            Signal::Recheck => *recheck = true,
            Signal::Event(_) | Signal::Resync => {}
        }
    }
    let mut payloads = Vec::new();
    for (team, events, recheck) in by_team {
        let mut chunk = Vec::new();
        for event in events {
            chunk.push(event);
            if chunk.len() > 1 && encode(team, &chunk, false).len() > MAX_PAYLOAD {
                let last = chunk.pop().expect("just pushed");
                payloads.push(encode(team, &chunk, false));
                chunk = vec![last];
            }
        }
        payloads.push(encode(team, &chunk, recheck));
    }
    payloads
}

fn encode(team: Uuid, events: &[LiveEvent], recheck: bool) -> String {
    serde_json::to_string(&Payload { team, events: events.to_vec(), recheck }).expect("plain data serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::live::LiveKind;

    #[test]
    fn payloads_stay_under_the_notify_limit_and_keep_every_event() {
        let team = Uuid::new_v4();
        let other = Uuid::new_v4();
        let mut events: Vec<_> =
            (0..500).map(|_| (team, Signal::Event(LiveEvent::new(LiveKind::IncidentNew, Uuid::new_v4())))).collect();
        events.push((other, Signal::Event(LiveEvent::new(LiveKind::AlertRecorded, Uuid::new_v4()))));
        // A repeat within one batch is sent once.
        events.push(events[0]);
        events.push((other, Signal::Recheck));
        let payloads = payloads(&events);
        assert!(payloads.len() > 2, "500 events do not fit one notification");
        let (mut heard, mut rechecks) = (Vec::new(), Vec::new());
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let payload: Payload = serde_json::from_str(payload).unwrap();
            heard.extend(payload.events.into_iter().map(|event| (payload.team, Signal::Event(event))));
            rechecks.extend(payload.recheck.then_some(payload.team));
        }
        assert_eq!(heard, events[..501].to_vec());
        assert_eq!(rechecks, [other]);
    }

    #[test]
    fn a_session_holds_a_bounded_number_of_streams() {
        let hub = LiveHub { outbox: mpsc::unbounded_channel().0, teams: Arc::default(), streams: Arc::default() };
        let permits: Vec<_> = (0..MAX_STREAMS_PER_SESSION).map(|_| hub.open_stream("s1").unwrap()).collect();
        assert!(hub.open_stream("s1").is_none(), "one more is refused");
        assert!(hub.open_stream("s2").is_some(), "another session's are counted apart");
        drop(permits);
        assert!(hub.open_stream("s1").is_some(), "closing streams frees their places");
        assert!(hub.streams.lock().unwrap().is_empty(), "nothing is left behind for closed sessions");
    }
}
