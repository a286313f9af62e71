//! The live feed (`live_feed`): the outbox of live events. Case writes add their rows inside
//! their own transaction ([`Db::insert_cases`] and [`Db::apply_transition`], from
//! [`created_row`] and [`transition_rows`]); other events (incidents) are published after their commit with
//! [`Db::publish_feed`]. Readers follow the table by id ([`Db::feed_after`]) and, on
//! PostgreSQL, get every committed row pushed by NOTIFY ([`Db::feed_listener`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::bulk::Value;
use crate::cases::{CaseRecord, EventRecord};
use crate::db::Pools;
use crate::{Db, Result};

/// The NOTIFY channel of the feed (PostgreSQL).
pub const FEED_CHANNEL: &str = "gesang_feed";

/// A row of the feed to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedRow {
    pub at: DateTime<Utc>,
    /// `case_created`, `case_changed`, `case_supervised`, or another door's kind
    /// (`incident_…`).
    pub kind: String,
    /// The node the event happened in (a case's grid or territory; an incident's node).
    pub territory: String,
    /// The centre that owns the case, when it is a case's event.
    pub centre: Option<String>,
    pub case_id: Option<i64>,
    /// The event's public facts, as a JSON object (no personal data).
    pub body: String,
}

/// A stored row of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub territory: String,
    pub centre: Option<String>,
    pub case_id: Option<i64>,
    pub body: String,
}

pub(crate) const FEED_COLUMNS: &[&str] = &["at", "kind", "territory", "centre", "case_id", "body"];

impl NewFeedRow {
    pub(crate) fn values(&self) -> Vec<Value> {
        vec![
            self.at.into(),
            self.kind.clone().into(),
            self.territory.clone().into(),
            self.centre.clone().into(),
            self.case_id.into(),
            self.body.clone().into(),
        ]
    }
}

/// The feed row of a new case.
pub fn created_row(rec: &CaseRecord) -> NewFeedRow {
    let body = serde_json::json!({
        "code": rec.code,
        "category": rec.category,
        "status": rec.status,
        "urgency": rec.urgency,
        "channel": rec.channel,
        "handling_level": rec.handling_level,
        "handling_unit": rec.handling_unit,
        "lat": rec.lat,
        "lng": rec.lng,
    });
    NewFeedRow {
        at: rec.created_at,
        kind: "case_created".into(),
        territory: rec.territory.clone(),
        centre: Some(rec.centre.clone()),
        case_id: Some(rec.id),
        body: body.to_string(),
    }
}

/// The feed rows of a transition: one per event that changes the state, supervises (a card
/// from the clock is an overdue case) or marks urgent. Notes and requests that leave the state
/// alone are not live news.
pub fn transition_rows(rec: &CaseRecord, events: &[EventRecord]) -> Vec<NewFeedRow> {
    events
        .iter()
        .filter(|e| {
            e.from_status.as_deref() != Some(e.to_status.as_str())
                || matches!(e.action.as_str(), "supervise" | "mark_urgent")
        })
        .map(|e| {
            let payload: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            let mut body = serde_json::json!({
                "code": rec.code,
                "category": rec.category,
                "action": e.action,
                "from_status": e.from_status,
                "status": e.to_status,
                "urgency": rec.urgency,
                "handling_level": rec.handling_level,
                "handling_unit": rec.handling_unit,
                "lat": rec.lat,
                "lng": rec.lng,
            });
            let kind = if e.action == "supervise" {
                body["level"] = payload["level"].clone();
                body["automatic"] = payload["automatic"].clone();
                "case_supervised"
            } else {
                "case_changed"
            };
            NewFeedRow {
                at: e.at,
                kind: kind.into(),
                territory: rec.territory.clone(),
                centre: Some(rec.centre.clone()),
                case_id: Some(rec.id),
                body: body.to_string(),
            }
        })
        .collect()
}

macro_rules! feed_from_row {
    ($r:expr) => {{
        let r = $r;
        FeedRow {
            id: r.try_get("id")?,
            at: r.try_get("at")?,
            kind: r.try_get("kind")?,
            territory: r.try_get("territory")?,
            centre: r.try_get("centre")?,
            case_id: r.try_get("case_id")?,
            body: r.try_get("body")?,
        }
    }};
}

/// A NOTIFY message of the feed: the whole row, or its id alone when the row was too large.
#[derive(Debug, Deserialize)]
struct Announced {
    id: i64,
    #[serde(default)]
    truncated: bool,
}

/// A PostgreSQL connection listening on [`FEED_CHANNEL`].
pub struct FeedListener {
    listener: sqlx::postgres::PgListener,
    db: Db,
}

/// What [`FeedListener::next`] got.
#[derive(Debug)]
pub enum Heard {
    Row(FeedRow),
    /// The connection was lost and has been made again: rows committed meanwhile were not
    /// announced (read them with [`Db::feed_after`]).
    Reconnected,
}

impl FeedListener {
    /// The next committed row (waits).
    pub async fn next(&mut self) -> Result<Heard> {
        loop {
            let Some(n) = self.listener.try_recv().await? else {
                return Ok(Heard::Reconnected);
            };
            let Ok(head) = serde_json::from_str::<Announced>(n.payload()) else {
                tracing::warn!("unreadable live feed notification");
                continue;
            };
            if !head.truncated
                && let Ok(row) = serde_json::from_str::<FeedRow>(n.payload())
            {
                return Ok(Heard::Row(row));
            }
            if let Some(row) = self.db.feed_row(head.id).await? {
                return Ok(Heard::Row(row));
            }
        }
    }
}

impl Db {
    /// Publish rows after the caller's own commit (e.g. an incident's event).
    pub async fn publish_feed(&self, rows: Vec<NewFeedRow>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        on_write!(self, tx => {
            insert_in_tx!(tx, "live_feed", FEED_COLUMNS,
                rows.iter().map(NewFeedRow::values).collect(), "");
        });
        self.feed_written();
        Ok(())
    }

    /// Up to `limit` rows after id `after`, in id order; only those whose territory or centre
    /// starts with `prefix` when one is given.
    pub async fn feed_after(
        &self,
        after: i64,
        prefix: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FeedRow>> {
        let like = prefix.map(|p| format!("{p}%"));
        on_read!(self, pool => {
            let rows = match &like {
                Some(l) => sqlx::query(
                    "SELECT * FROM live_feed WHERE id > $1 \
                     AND (territory LIKE $2 OR centre LIKE $2) ORDER BY id LIMIT $3",
                )
                .bind(after)
                .bind(l)
                .bind(limit)
                .fetch_all(pool)
                .await?,
                None => sqlx::query("SELECT * FROM live_feed WHERE id > $1 ORDER BY id LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?,
            };
            rows.iter().map(|r| Ok(feed_from_row!(r))).collect()
        })
    }

    /// One row by id.
    pub async fn feed_row(&self, id: i64) -> Result<Option<FeedRow>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM live_feed WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.map(|r| Ok(feed_from_row!(r))).transpose()
        })
    }

    /// The id of the newest row (0 when the feed is empty).
    pub async fn feed_last_id(&self) -> Result<i64> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM live_feed")
                .fetch_one(pool)
                .await?
                .try_get("id")?)
        })
    }

    /// Delete rows older than `before`; returns how many.
    pub async fn prune_feed(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_write!(self, tx => {
            sqlx::query("DELETE FROM live_feed WHERE at < $1")
                .bind(before)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }))
    }

    /// Listen for committed rows (PostgreSQL; `None` on SQLite, where a reader follows the
    /// table after [`Db::feed_wait`]).
    pub async fn feed_listener(&self) -> Result<Option<FeedListener>> {
        match &self.pools {
            Pools::Postgres(pg) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pg).await?;
                listener.listen(FEED_CHANNEL).await?;
                Ok(Some(FeedListener {
                    listener,
                    db: self.clone(),
                }))
            }
            Pools::Sqlite { .. } => Ok(None),
        }
    }

    /// Wait until this handle (or a clone of it) has committed feed rows since the last wait.
    pub async fn feed_wait(&self) {
        self.feed_wake.notified().await;
    }

    pub(crate) fn feed_written(&self) {
        self.feed_wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_columns_match_the_values() {
        let row = NewFeedRow {
            at: Utc::now(),
            kind: "case_created".into(),
            territory: "623027202201001".into(),
            centre: None,
            case_id: None,
            body: "{}".into(),
        };
        assert_eq!(row.values().len(), FEED_COLUMNS.len());
    }
}
