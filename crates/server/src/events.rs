//! Live events: the hub that fans the live feed out to this server's event-stream clients
//! (`GET /api/v1/events`), and the one way to publish an event ([`Events::publish`]).
//!
//! Case events are written to the feed by the store in the case's own transaction (an outbox);
//! other doors publish theirs after their commit. One pump task per server reads committed
//! rows — pushed by PostgreSQL's NOTIFY from every server on the database, or, on SQLite,
//! followed in id order when this process commits (and every half second for other writers)
//! — and broadcasts them. A client too slow to keep up loses its place in the broadcast ring
//! and its stream ends; the browser reconnects with `Last-Event-ID` and resumes from the table.
//! Nobody else waits for it.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse;
use chrono::{DateTime, Utc};
use domain::clock::Clock;
use domain::territory::TerritoryCode;
use futures_util::Stream;
use store::Db;
use store::feed::{FeedRow, Heard, NewFeedRow};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::AppResult;

/// Events a client may fall behind by before its stream is ended.
pub const RING: usize = 2048;
/// Rows replayed at most on a resume (`Last-Event-ID`).
pub const REPLAY_MAX: i64 = 1000;
/// How long the feed keeps rows (for resumption; history lives in `case_events`).
pub const KEEP_HOURS: i64 = 48;
/// How often SQLite's pump looks at the table without being woken (other processes' writes).
const POLL: Duration = Duration::from_millis(500);

/// An event to publish: what happened, where, and its public facts.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// What happened: `incident_…` for the emergency's events (`case_…` kinds come from the
    /// case writes themselves).
    pub kind: String,
    /// The node it happened in; streams of this node and of every node above it see it.
    pub territory: TerritoryCode,
    pub case_id: Option<i64>,
    pub at: DateTime<Utc>,
    /// Public facts, a JSON object (no personal data: every account in scope sees it).
    pub body: serde_json::Value,
}

/// One event as the streams get it.
#[derive(Debug)]
pub struct Delivered {
    pub id: i64,
    pub kind: String,
    territory: Option<TerritoryCode>,
    centre: Option<TerritoryCode>,
    /// The event's JSON, as sent.
    pub data: String,
}

impl Delivered {
    fn of(row: FeedRow) -> Delivered {
        let mut data: serde_json::Value =
            serde_json::from_str(&row.body).unwrap_or_else(|_| serde_json::json!({}));
        if !data.is_object() {
            data = serde_json::json!({ "body": data });
        }
        data["id"] = row.id.to_string().into();
        data["kind"] = row.kind.clone().into();
        data["at"] = row.at.to_rfc3339().into();
        data["territory"] = row.territory.clone().into();
        data["centre"] = row.centre.clone().into();
        data["case_id"] = row.case_id.map(|id| id.to_string()).into();
        Delivered {
            id: row.id,
            territory: TerritoryCode::parse(&row.territory).ok(),
            centre: row
                .centre
                .as_deref()
                .and_then(|c| TerritoryCode::parse(c).ok()),
            kind: row.kind,
            data: data.to_string(),
        }
    }

    /// Whether a stream of `node` shows this event: it happened in the node, or belongs to a
    /// centre in it, or it is an incident whose area covers the node (an emergency is news for
    /// every node inside its area).
    pub fn inside(&self, node: &TerritoryCode) -> bool {
        self.territory.as_ref().is_some_and(|t| {
            node.covers(t) || (self.kind.starts_with("incident_") && t.covers(node))
        }) || self.centre.as_ref().is_some_and(|c| node.covers(c))
    }

    fn sse(&self) -> sse::Event {
        sse::Event::default()
            .id(self.id.to_string())
            .event(self.kind.as_str())
            .data(self.data.as_str())
    }
}

/// The hub; cheap to clone.
#[derive(Clone)]
pub struct Events {
    db: Db,
    tx: broadcast::Sender<Arc<Delivered>>,
    stop: CancellationToken,
    /// Keys of [`Events::publish_throttled`]: when each last went out, and whether one waits.
    throttle: Arc<std::sync::Mutex<std::collections::HashMap<String, Throttle>>>,
    /// The pump task, awaited by [`Events::stop`] so it never runs on a closed pool.
    pump: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

#[derive(Default)]
struct Throttle {
    last: Option<tokio::time::Instant>,
    pending: bool,
}

impl Events {
    /// Start the pump of this server (needs a Tokio runtime).
    pub fn start(db: Db, clock: Arc<dyn Clock>) -> Events {
        let (tx, _) = broadcast::channel(RING);
        let events = Events {
            db,
            tx,
            stop: CancellationToken::new(),
            throttle: Default::default(),
            pump: Arc::default(),
        };
        let task = tokio::spawn(pump(events.clone(), clock));
        if let Ok(mut slot) = events.pump.lock() {
            *slot = Some(task);
        }
        events
    }

    /// Publish an event after the change it reports has committed: every server's streams of
    /// nodes covering `territory` get it. (Case events need no call: they are written with the
    /// case.)
    pub async fn publish(&self, e: LiveEvent) -> AppResult<()> {
        self.db
            .publish_feed(vec![NewFeedRow {
                at: e.at,
                kind: e.kind,
                territory: e.territory.to_string(),
                centre: None,
                case_id: e.case_id,
                body: e.body.to_string(),
            }])
            .await?;
        Ok(())
    }

    /// Publish like [`Events::publish`], but at most once per `gap` for one `key`: a call
    /// inside the gap is folded into one event sent when the gap ends (the later calls of the
    /// gap are dropped). For events that say "look again" (a roll-call batch landed), where
    /// a burst of writes should not become a burst of feed rows.
    pub async fn publish_throttled(&self, key: &str, gap: Duration, e: LiveEvent) -> AppResult<()> {
        let wait = {
            let mut map = self.throttle.lock().unwrap_or_else(|p| p.into_inner());
            let t = map.entry(key.to_owned()).or_default();
            if t.pending {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            match t.last {
                Some(last) if now.duration_since(last) < gap => {
                    t.pending = true;
                    Some(gap - now.duration_since(last))
                }
                _ => {
                    t.last = Some(now);
                    None
                }
            }
        };
        let Some(wait) = wait else {
            return self.publish(e).await;
        };
        let me = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = me.stop.cancelled() => return,
            }
            if let Some(t) = me
                .throttle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&key)
            {
                t.pending = false;
                t.last = Some(tokio::time::Instant::now());
            }
            if let Err(err) = me.publish(e).await {
                tracing::warn!(error = %err, key, "a throttled live event was not published");
            }
        });
        Ok(())
    }

    /// A receiver of everything this server hears (for streams and benchmarks).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.tx.subscribe()
    }

    /// How many streams are open on this server.
    pub fn streams(&self) -> usize {
        self.tx.receiver_count()
    }

    /// End every stream and the pump (graceful shutdown: open streams would keep it waiting).
    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    /// End every stream and the pump, and wait until the pump has stopped: call it before the
    /// database closes, or the pump's last read meets a closed pool.
    pub async fn stop(&self) {
        self.stop.cancel();
        let task = self.pump.lock().ok().and_then(|mut slot| slot.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The stream of events inside `node` (scope already checked), after event `after` when
    /// resuming, ending after `until` if given.
    pub async fn open(
        &self,
        node: TerritoryCode,
        after: Option<i64>,
        until: Option<Duration>,
    ) -> AppResult<impl Stream<Item = Result<sse::Event, std::convert::Infallible>> + use<>> {
        // Subscribe before reading the table, so nothing committed in between is missed.
        let rx = self.subscribe();
        let mut replay = VecDeque::new();
        let mut seen = HashSet::new();
        if let Some(after) = after {
            for row in self
                .db
                .feed_after(after, Some(node.subtree_prefix()), REPLAY_MAX)
                .await?
            {
                seen.insert(row.id);
                let d = Delivered::of(row);
                if d.inside(&node) {
                    replay.push_back(Arc::new(d));
                }
            }
        }
        metrics::gauge!("gesang_event_streams").increment(1.0);
        let st = StreamState {
            rx,
            replay,
            seen,
            node,
            stop: self.stop.clone(),
            until: until.map(|d| tokio::time::Instant::now() + d),
            _open: OpenStream,
        };
        Ok(futures_util::stream::unfold(st, next_event))
    }
}

/// Counts an open stream in `gesang_event_streams` while it lives.
struct OpenStream;

impl Drop for OpenStream {
    fn drop(&mut self) {
        metrics::gauge!("gesang_event_streams").decrement(1.0);
    }
}

struct StreamState {
    rx: broadcast::Receiver<Arc<Delivered>>,
    replay: VecDeque<Arc<Delivered>>,
    /// The ids replayed: their live copies are skipped.
    seen: HashSet<i64>,
    node: TerritoryCode,
    stop: CancellationToken,
    until: Option<tokio::time::Instant>,
    _open: OpenStream,
}

async fn next_event(
    mut st: StreamState,
) -> Option<(Result<sse::Event, std::convert::Infallible>, StreamState)> {
    if let Some(e) = st.replay.pop_front() {
        return Some((Ok(e.sse()), st));
    }
    let until = st.until;
    let ended = async move {
        match until {
            Some(t) => tokio::time::sleep_until(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(ended);
    loop {
        let got = tokio::select! {
            _ = st.stop.cancelled() => return None,
            _ = &mut ended => return None,
            got = st.rx.recv() => got,
        };
        match got {
            Ok(e) => {
                if e.inside(&st.node) && !st.seen.remove(&e.id) {
                    return Some((Ok(e.sse()), st));
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                metrics::counter!("gesang_event_streams_dropped_total").increment(1);
                tracing::debug!(missed = n, "slow event stream dropped");
                return None;
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Ids broadcast lately, so a row heard twice (a catch-up after a reconnection) goes out once.
#[derive(Default)]
struct Recent {
    order: VecDeque<i64>,
    set: HashSet<i64>,
}

impl Recent {
    const CAP: usize = 16_384;

    fn first_time(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAP
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

async fn pump(events: Events, clock: Arc<dyn Clock>) {
    let db = events.db.clone();
    let mut last = loop {
        match db.feed_last_id().await {
            Ok(id) => break id,
            Err(_) if db.is_closed() => return,
            Err(e) => {
                tracing::warn!(error = %e, "live feed: cannot read the feed; retrying");
                tokio::select! {
                    _ = events.stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let mut listener = match db.feed_listener().await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "live feed: cannot LISTEN; following the table instead");
            None
        }
    };
    let mut recent = Recent::default();
    let mut pruned_at = tokio::time::Instant::now();
    let send = |row: FeedRow, last: &mut i64, recent: &mut Recent| {
        *last = (*last).max(row.id);
        if recent.first_time(row.id) {
            // No receiver is not an error: nobody is watching right now.
            let _ = events.tx.send(Arc::new(Delivered::of(row)));
        }
    };
    loop {
        if db.is_closed() {
            break;
        }
        let catch_up = match &mut listener {
            Some(l) => {
                let heard = tokio::select! {
                    _ = events.stop.cancelled() => break,
                    heard = l.next() => heard,
                };
                match heard {
                    Ok(Heard::Row(row)) => {
                        send(row, &mut last, &mut recent);
                        false
                    }
                    Ok(Heard::Reconnected) => true,
                    Err(_) if db.is_closed() => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "live feed: listening failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        true
                    }
                }
            }
            None => {
                tokio::select! {
                    _ = events.stop.cancelled() => break,
                    _ = db.feed_wait() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
                true
            }
        };
        if catch_up {
            loop {
                match db.feed_after(last, None, 1000).await {
                    Ok(rows) if rows.is_empty() => break,
                    Ok(rows) => {
                        let full = rows.len() == 1000;
                        for row in rows {
                            send(row, &mut last, &mut recent);
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        if !db.is_closed() {
                            tracing::warn!(error = %e, "live feed: reading failed");
                        }
                        break;
                    }
                }
            }
        }
        if pruned_at.elapsed() > Duration::from_secs(600) {
            pruned_at = tokio::time::Instant::now();
            let before = clock.now() - chrono::Duration::hours(KEEP_HOURS);
            if let Err(e) = db.prune_feed(before).await {
                tracing::warn!(error = %e, "live feed: pruning failed");
            }
        }
    }
}
