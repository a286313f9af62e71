//! Cases: the current-state row (a cache of the history), the append-only history, counters,
//! search terms and clock timers, each change written in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::bulk::Value;
use crate::{Backend, Db, Result};

/// The stored row of a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: i64,
    pub code: String,
    pub status: String,
    pub category: String,
    pub territory: String,
    pub centre: String,
    pub handling_unit: String,
    pub handling_level: String,
    pub urgency: String,
    pub channel: String,
    pub title: Option<String>,
    pub description: String,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub reporter_account: Option<i64>,
    /// The unit routing suggested for the first dispatch (the category's department), and why.
    pub routed_unit: Option<String>,
    pub routing_reason: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub step: Option<String>,
    pub step_started_at: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    pub version: i64,
    /// The engine's state of the case, as JSON.
    pub state: String,
}

/// One event of a case's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRecord {
    pub case_id: i64,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub action: String,
    pub by_account: Option<i64>,
    pub by_role: Option<String>,
    pub by_level: Option<String>,
    pub from_status: Option<String>,
    pub to_status: String,
    /// The whole event as JSON.
    pub body: String,
}

/// A change to one assessment counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterChange {
    pub unit: String,
    pub day: NaiveDate,
    pub counter: String,
    pub delta: i64,
}

/// A supervision timer: fires once at `due_at` unless the case has moved past `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRecord {
    pub case_id: i64,
    /// `yellow_card` or `red_card`.
    pub kind: String,
    pub version: i64,
    pub due_at: DateTime<Utc>,
}

/// Everything a new case writes.
#[derive(Debug, Clone)]
pub struct NewCaseWrite {
    pub record: CaseRecord,
    pub events: Vec<EventRecord>,
    pub counters: Vec<CounterChange>,
    /// Search terms written now; when empty and `index_later`, the case joins the backlog.
    pub terms: Vec<String>,
    /// Leave the search terms to the indexer (see [`Db::pending_index`]).
    pub index_later: bool,
    pub timers: Vec<TimerRecord>,
    /// Photos and audio notes that came with the report, written in the same transaction
    /// (`owner_id` is the case's id).
    pub attachments: Vec<crate::attachments::NewAttachment>,
}

/// The text of a case the indexer needs.
#[derive(Debug, Clone)]
pub struct IndexItem {
    pub case_id: i64,
    pub code: String,
    pub category: String,
    pub title: Option<String>,
    pub description: String,
}

/// Everything a transition writes. The row is updated only if its version is still
/// `expected_version` (optimistic concurrency).
#[derive(Debug, Clone)]
pub struct TransitionWrite {
    pub expected_version: i64,
    pub record: CaseRecord,
    pub events: Vec<EventRecord>,
    pub counters: Vec<CounterChange>,
    /// The case's timers after the transition (replacing the unfired ones).
    pub timers: Vec<TimerRecord>,
    /// Photos and audio notes that came with the action (e.g. "report handled"), written in
    /// the same transaction; a per-owner limit passed fails the whole transition.
    pub attachments: Vec<crate::attachments::NewAttachment>,
}

/// What a keyed write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    Applied,
    /// The case moved on meanwhile (its version changed): nothing was written.
    Stale,
    /// The idempotency key was stored by another request first: nothing was written.
    KeyTaken,
}

/// What happened to one new case of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// The idempotency key was seen before: the first case's id.
    Existing(i64),
}

/// Filters of the case list. Every field narrows; `territory_prefix` is the caller's scope or
/// a node inside it.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub territory_prefix: String,
    pub status: Option<String>,
    pub category_prefix: Option<String>,
    /// Only cases whose running step is past its deadline at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only cases held by this unit.
    pub handling_unit: Option<String>,
    /// Only cases owned by this centre.
    pub centre: Option<String>,
    /// Only cases this unit owns (as a centre) or holds: a centre operator's desk.
    pub owned_or_held_by: Option<String>,
    /// Only cases not yet ended (closed, rejected, merged).
    pub open_only: bool,
    /// Full-text terms that must all match.
    pub terms: Vec<String>,
    /// Page after this id (ids descending: newest first).
    pub before_id: Option<i64>,
    /// Queue order: open cases with the earliest deadline first.
    pub by_deadline: bool,
    pub limit: i64,
    /// Only cases created in `[from, to)`.
    pub created_between: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Only cases closed in `[from, to)` (an event that moved them into `closed`).
    pub closed_between: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Only cases whose result is 解决 (solved).
    pub solved_only: bool,
    /// Only cases of these exact categories (the disputes, the hazards).
    pub categories: Option<Vec<String>>,
}

pub const CASE_COLUMNS: &[&str] = &[
    "id",
    "code",
    "status",
    "category",
    "territory",
    "centre",
    "handling_unit",
    "handling_level",
    "urgency",
    "channel",
    "title",
    "description",
    "lng",
    "lat",
    "reporter_name",
    "reporter_phone",
    "reporter_account",
    "routed_unit",
    "routing_reason",
    "idempotency_key",
    "created_at",
    "updated_at",
    "step",
    "step_started_at",
    "deadline",
    "version",
    "state",
];

const EVENT_COLUMNS: &[&str] = &[
    "case_id",
    "seq",
    "at",
    "action",
    "by_account",
    "by_role",
    "by_level",
    "from_status",
    "to_status",
    "body",
];

fn time_value(t: Option<DateTime<Utc>>) -> Value {
    match t {
        Some(t) => Value::Time(t),
        None => Value::OptTime(None),
    }
}

/// What a new case's row holds beyond the engine's state: what was reported, by whom, how it
/// was routed, and the key that makes a retry safe.
#[derive(Debug, Clone, Default)]
pub struct Reported {
    pub title: Option<String>,
    pub description: String,
    /// (longitude, latitude), WGS-84.
    pub location: Option<(f64, f64)>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub reporter_account: Option<i64>,
    pub routed_unit: String,
    pub routing_reason: String,
    pub idempotency_key: Option<String>,
}

impl CaseRecord {
    /// The row of a new case: the engine's state `case` (whose id and code it takes) and what
    /// was reported. The one place a row is made from a case; intake, imports and the demo's
    /// history all come through here.
    pub fn from_case(case: &domain::case::Case, reported: Reported) -> Result<Self> {
        let record = CaseRecord {
            id: case.id,
            code: case.code.as_str().to_owned(),
            category: case.category.clone(),
            channel: case.channel.as_str().to_owned(),
            title: reported.title,
            description: reported.description,
            lng: reported.location.map(|l| l.0),
            lat: reported.location.map(|l| l.1),
            reporter_name: reported.reporter_name,
            reporter_phone: reported.reporter_phone,
            reporter_account: reported.reporter_account,
            routed_unit: Some(reported.routed_unit),
            routing_reason: Some(reported.routing_reason),
            idempotency_key: reported.idempotency_key,
            created_at: case.created_at,
            // Set from the case just below.
            status: String::new(),
            territory: String::new(),
            centre: String::new(),
            handling_unit: String::new(),
            handling_level: String::new(),
            urgency: String::new(),
            updated_at: case.updated_at,
            step: None,
            step_started_at: None,
            deadline: None,
            version: 0,
            state: String::new(),
        };
        record.with_state(case)
    }

    /// This row with the engine's state `case` after a transition: where the case is, who
    /// holds it, its clock and its state as JSON; what was reported stays.
    pub fn with_state(self, case: &domain::case::Case) -> Result<Self> {
        Ok(CaseRecord {
            status: case.status.as_str().to_owned(),
            territory: case.territory.to_string(),
            centre: case.centre.to_string(),
            handling_unit: case.handling_unit.clone(),
            handling_level: case.handling_level.as_str().to_owned(),
            urgency: case.urgency.as_str().to_owned(),
            updated_at: case.updated_at,
            step: case.step.map(|s| s.as_str().to_owned()),
            step_started_at: case.step_started_at,
            deadline: case.deadline,
            version: i64::from(case.version),
            state: serde_json::to_string(case)
                .map_err(|e| crate::StoreError::Corrupt(format!("case state: {e}")))?,
            ..self
        })
    }

    pub(crate) fn values(&self, vault: &crate::vault::Vault) -> Result<Vec<Value>> {
        Ok(vec![
            self.id.into(),
            self.code.clone().into(),
            self.status.clone().into(),
            self.category.clone().into(),
            self.territory.clone().into(),
            self.centre.clone().into(),
            self.handling_unit.clone().into(),
            self.handling_level.clone().into(),
            self.urgency.clone().into(),
            self.channel.clone().into(),
            self.title.clone().into(),
            self.description.clone().into(),
            self.lng.into(),
            self.lat.into(),
            self.reporter_name.clone().into(),
            vault
                .seal_opt("cases.reporter_phone", self.reporter_phone.as_deref())?
                .into(),
            self.reporter_account.into(),
            self.routed_unit.clone().into(),
            self.routing_reason.clone().into(),
            self.idempotency_key.clone().into(),
            self.created_at.into(),
            self.updated_at.into(),
            self.step.clone().into(),
            time_value(self.step_started_at),
            time_value(self.deadline),
            self.version.into(),
            self.state.clone().into(),
        ])
    }
}

impl EventRecord {
    pub(crate) fn values(&self) -> Vec<Value> {
        vec![
            self.case_id.into(),
            self.seq.into(),
            self.at.into(),
            self.action.clone().into(),
            self.by_account.into(),
            self.by_role.clone().into(),
            self.by_level.clone().into(),
            self.from_status.clone().into(),
            self.to_status.clone().into(),
            self.body.clone().into(),
        ]
    }
}

macro_rules! case_from_row {
    ($r:expr, $db:expr) => {{
        let r = $r;
        let v = &$db.vault;
        CaseRecord {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            status: r.try_get("status")?,
            category: r.try_get("category")?,
            territory: r.try_get("territory")?,
            centre: r.try_get("centre")?,
            handling_unit: r.try_get("handling_unit")?,
            handling_level: r.try_get("handling_level")?,
            urgency: r.try_get("urgency")?,
            channel: r.try_get("channel")?,
            title: r.try_get("title")?,
            description: r.try_get("description")?,
            lng: r.try_get("lng")?,
            lat: r.try_get("lat")?,
            reporter_name: r.try_get("reporter_name")?,
            reporter_phone: v.open_opt(
                "cases.reporter_phone",
                r.try_get::<Option<String>, _>("reporter_phone")?.as_deref(),
            )?,
            reporter_account: r.try_get("reporter_account")?,
            routed_unit: r.try_get("routed_unit")?,
            routing_reason: r.try_get("routing_reason")?,
            idempotency_key: r.try_get("idempotency_key")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
            step: r.try_get("step")?,
            step_started_at: r.try_get("step_started_at")?,
            deadline: r.try_get("deadline")?,
            version: r.try_get("version")?,
            state: r.try_get("state")?,
        }
    }};
}

macro_rules! event_from_row {
    ($r:expr) => {{
        let r = $r;
        EventRecord {
            case_id: r.try_get("case_id")?,
            seq: r.try_get("seq")?,
            at: r.try_get("at")?,
            action: r.try_get("action")?,
            by_account: r.try_get("by_account")?,
            by_role: r.try_get("by_role")?,
            by_level: r.try_get("by_level")?,
            from_status: r.try_get("from_status")?,
            to_status: r.try_get("to_status")?,
            body: r.try_get("body")?,
        }
    }};
}

/// Sum counter changes by key so one upsert per key is sent.
fn summed(changes: impl IntoIterator<Item = CounterChange>) -> Vec<Vec<Value>> {
    let mut sums: BTreeMap<(String, NaiveDate, String), i64> = BTreeMap::new();
    for c in changes {
        *sums.entry((c.unit, c.day, c.counter)).or_default() += c.delta;
    }
    sums.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|((unit, day, counter), n)| vec![unit.into(), day.into(), counter.into(), n.into()])
        .collect()
}

pub(crate) const UPSERT_COUNTERS: &str =
    " ON CONFLICT (unit, day, counter) DO UPDATE SET n = case_counters.n + excluded.n";

/// Multi-row insert inside an open transaction (the batch sizes here stay far below the bind
/// limits: the callers send at most a few thousand rows).
macro_rules! insert_in_tx {
    ($tx:expr, $table:expr, $columns:expr, $rows:expr, $tail:expr) => {{
        let rows: Vec<Vec<Value>> = $rows;
        let per_stmt = (30_000 / $columns.len()).clamp(1, 1_000);
        let head = format!("INSERT INTO {} ({}) ", $table, $columns.join(", "));
        let mut it = rows.into_iter().peekable();
        while it.peek().is_some() {
            let chunk: Vec<Vec<Value>> = it.by_ref().take(per_stmt).collect();
            let mut qb = sqlx::QueryBuilder::new(head.clone());
            qb.push_values(chunk, |mut sep, row| {
                for v in row {
                    push_value!(sep, v);
                }
            });
            qb.push($tail);
            qb.build().execute(&mut **$tx).await?;
        }
    }};
}

/// Write `(case id, terms)` rows into the full-text index inside an open transaction, replacing
/// what a case had. The terms are joined by spaces: no term contains one (see
/// `domain::search`), and both engines split on it alone.
macro_rules! index_in_tx {
    ($tx:expr, $backend:expr, $rows:expr) => {{
        let rows: Vec<(i64, Vec<String>)> = $rows;
        let mut it = rows.into_iter().filter(|(_, t)| !t.is_empty()).peekable();
        while it.peek().is_some() {
            let chunk: Vec<(i64, Vec<String>)> = it.by_ref().take(500).collect();
            let mut qb = sqlx::QueryBuilder::new(match $backend {
                Backend::Sqlite => "INSERT OR REPLACE INTO case_search (rowid, terms) ",
                Backend::Postgres => "INSERT INTO case_search (case_id, terms) ",
            });
            qb.push_values(chunk, |mut sep, (id, terms)| {
                sep.push_bind(id);
                match $backend {
                    Backend::Sqlite => {
                        sep.push_bind(terms.join(" "));
                    }
                    Backend::Postgres => {
                        sep.push("array_to_tsvector(string_to_array(");
                        sep.push_bind_unseparated(terms.join(" "));
                        sep.push_unseparated(", ' '))");
                    }
                }
            });
            if $backend == Backend::Postgres {
                qb.push(" ON CONFLICT (case_id) DO UPDATE SET terms = excluded.terms");
            }
            qb.build().execute(&mut **$tx).await?;
        }
    }};
}

/// The condition "case `c` has every one of `terms`" for the configured engine, with the
/// query text to bind: an FTS5 match of quoted terms on SQLite, a tsquery of quoted lexemes
/// (taken literally by the cast, no dictionary) on PostgreSQL.
fn search_condition(backend: Backend, terms: &[String]) -> (&'static str, String) {
    match backend {
        Backend::Sqlite => (
            "c.id IN (SELECT rowid FROM case_search WHERE case_search MATCH ",
            // Each piece the `ascii` tokenizer would make of a term is one quoted token (a term
            // never holds ASCII punctuation, but a multi-token phrase would be an error under
            // `detail=none`).
            terms
                .iter()
                .flat_map(|t| t.split(|c: char| c.is_ascii() && !c.is_ascii_alphanumeric()))
                .filter(|p| !p.is_empty())
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Backend::Postgres => (
            "c.id IN (SELECT case_id FROM case_search WHERE terms @@ CAST(",
            terms
                .iter()
                .map(|t| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(" & "),
        ),
    }
}

impl Db {
    /// Hand out `n` case ids and, per day, a block of daily code sequences. Returns the first
    /// id and the first sequence of each requested day, in order.
    pub async fn reserve_case_numbers(
        &self,
        n: i64,
        days: &[(NaiveDate, i64)],
    ) -> Result<(i64, Vec<i64>)> {
        const RESERVE: &str = "INSERT INTO case_sequences (name, last) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET last = case_sequences.last + excluded.last \
             RETURNING last";
        Ok(on_write!(self, tx => {
            let last: i64 = sqlx::query(RESERVE)
                .bind("case_id")
                .bind(n)
                .fetch_one(&mut **tx)
                .await?
                .try_get("last")?;
            let mut firsts = Vec::with_capacity(days.len());
            for (day, count) in days {
                let last_seq: i64 = sqlx::query(RESERVE)
                    .bind(format!("code:{day}"))
                    .bind(*count)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("last")?;
                firsts.push(last_seq - count + 1);
            }
            (last - n + 1, firsts)
        }))
    }

    /// Write a batch of new cases in one transaction. Cases whose idempotency key is already
    /// stored are not written again; their first case's id is returned instead.
    pub async fn insert_cases(&self, batch: Vec<NewCaseWrite>) -> Result<Vec<Inserted>> {
        let backend = self.backend();
        let out = on_write!(self, tx => {
            let mut outcome = Vec::with_capacity(batch.len());
            let mut fresh = Vec::with_capacity(batch.len());
            for w in batch {
                let existing = match &w.record.idempotency_key {
                    Some(key) => sqlx::query("SELECT id FROM cases WHERE idempotency_key = $1")
                        .bind(key)
                        .fetch_optional(&mut **tx)
                        .await?
                        .map(|r| r.try_get::<i64, _>("id"))
                        .transpose()?,
                    None => None,
                };
                match existing {
                    Some(id) => outcome.push(Inserted::Existing(id)),
                    None => {
                        outcome.push(Inserted::New(w.record.id));
                        fresh.push(w);
                    }
                }
            }
            if !fresh.is_empty() {
                insert_in_tx!(tx, "cases", CASE_COLUMNS,
                    fresh.iter().map(|w| w.record.values(&self.vault)).collect::<Result<_>>()?, "");
                insert_in_tx!(tx, "case_events", EVENT_COLUMNS,
                    fresh.iter().flat_map(|w| w.events.iter().map(EventRecord::values)).collect(), "");
                index_in_tx!(tx, backend,
                    fresh.iter().map(|w| (w.record.id, w.terms.clone())).collect());
                let backlog: Vec<Vec<Value>> = fresh
                    .iter()
                    .filter(|w| w.index_later)
                    .map(|w| vec![w.record.id.into()])
                    .collect();
                insert_in_tx!(tx, "search_backlog", &["case_id"], backlog, "");
                let counters = summed(fresh.iter().flat_map(|w| w.counters.iter().cloned()));
                insert_in_tx!(tx, "case_counters", &["unit", "day", "counter", "n"], counters,
                    UPSERT_COUNTERS);
                // Statistics rollups (issue 5), in the same transaction.
                rollups_in_tx!(tx, fresh.iter().flat_map(|w| {
                    crate::stats::case_write_rollups(&w.record, &w.events, &w.counters)
                }));
                let timers: Vec<Vec<Value>> = fresh
                    .iter()
                    .flat_map(|w| w.timers.iter())
                    .map(|t| vec![t.case_id.into(), t.kind.clone().into(), t.version.into(), t.due_at.into()])
                    .collect();
                insert_in_tx!(tx, "case_timers", &["case_id", "kind", "version", "due_at"], timers, "");
                let attachments: Vec<crate::attachments::NewAttachment> =
                    fresh.iter().flat_map(|w| w.attachments.iter().cloned()).collect();
                if !attachments.is_empty() {
                    write_attachments_in_tx!(tx, attachments)?;
                }
                // The live feed's rows commit with the cases (an outbox: no event without its
                // case, no case without its event).
                insert_in_tx!(tx, "live_feed", crate::feed::FEED_COLUMNS,
                    fresh.iter().map(|w| crate::feed::created_row(&w.record).values()).collect(), "");
            }
            outcome
        });
        self.feed_written();
        Ok(out)
    }

    /// Apply one transition: update the row if its version is unchanged, append the events,
    /// add the counters, replace the unfired timers. `false` when another writer got there
    /// first (reload and decide again).
    pub async fn apply_transition(&self, w: TransitionWrite) -> Result<bool> {
        Ok(self.apply_transition_keyed(w, None).await? == Keyed::Applied)
    }

    /// [`Db::apply_transition`] that also stores a client's idempotency key with its answer,
    /// in the same transaction: if the key is already stored (another request, perhaps on
    /// another server process, got there first), nothing is written and the answer is
    /// [`Keyed::KeyTaken`].
    pub async fn apply_transition_keyed(
        &self,
        w: TransitionWrite,
        key: Option<&crate::request_keys::NewRequestKey>,
    ) -> Result<Keyed> {
        let applied = on_write!(self, tx => {
            let r = &w.record;
            let updated = sqlx::query(
                "UPDATE cases SET status = $1, territory = $2, centre = $3, handling_unit = $4, \
                 handling_level = $5, urgency = $6, updated_at = $7, step = $8, \
                 step_started_at = $9, deadline = $10, version = $11, state = $12 \
                 WHERE id = $13 AND version = $14",
            )
            .bind(&r.status)
            .bind(&r.territory)
            .bind(&r.centre)
            .bind(&r.handling_unit)
            .bind(&r.handling_level)
            .bind(&r.urgency)
            .bind(r.updated_at)
            .bind(&r.step)
            .bind(r.step_started_at)
            .bind(r.deadline)
            .bind(r.version)
            .bind(&r.state)
            .bind(r.id)
            .bind(w.expected_version)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if updated == 1 {
                insert_in_tx!(tx, "case_events", EVENT_COLUMNS,
                    w.events.iter().map(EventRecord::values).collect(), "");
                insert_in_tx!(tx, "case_counters", &["unit", "day", "counter", "n"],
                    summed(w.counters.iter().cloned()), UPSERT_COUNTERS);
                // Statistics rollups (issue 5), in the same transaction.
                rollups_in_tx!(tx, crate::stats::case_write_rollups(&w.record, &w.events, &w.counters));
                sqlx::query("DELETE FROM case_timers WHERE case_id = $1 AND fired_at IS NULL")
                    .bind(r.id)
                    .execute(&mut **tx)
                    .await?;
                let timers: Vec<Vec<Value>> = w
                    .timers
                    .iter()
                    .map(|t| vec![t.case_id.into(), t.kind.clone().into(), t.version.into(), t.due_at.into()])
                    .collect();
                insert_in_tx!(tx, "case_timers", &["case_id", "kind", "version", "due_at"], timers,
                    " ON CONFLICT (case_id, kind) DO UPDATE SET version = excluded.version, \
                     due_at = excluded.due_at, fired_at = CASE WHEN case_timers.due_at = excluded.due_at \
                     THEN case_timers.fired_at ELSE NULL END");
                if !w.attachments.is_empty() {
                    write_attachments_in_tx!(tx, w.attachments.clone())?;
                }
                insert_in_tx!(tx, "live_feed", crate::feed::FEED_COLUMNS,
                    crate::feed::transition_rows(r, &w.events).iter()
                        .map(crate::feed::NewFeedRow::values).collect(), "");
                if let Some(k) = key
                    && !request_key_in_tx!(tx, k)
                {
                    // Dropping the transaction rolls back what was written above.
                    return Ok(Keyed::KeyTaken);
                }
            }
            updated == 1
        });
        if applied {
            self.feed_written();
            Ok(Keyed::Applied)
        } else {
            Ok(Keyed::Stale)
        }
    }

    pub async fn case_by_id(&self, id: i64) -> Result<Option<CaseRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM cases WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(case_from_row!(&r, self)),
                None => None,
            })
        })
    }

    pub async fn case_by_code(&self, code: &str) -> Result<Option<CaseRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM cases WHERE code = $1")
                .bind(code)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(case_from_row!(&r, self)),
                None => None,
            })
        })
    }

    /// A case's history, oldest first.
    pub async fn case_events(&self, case_id: i64) -> Result<Vec<EventRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT * FROM case_events WHERE case_id = $1 ORDER BY seq")
                .bind(case_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(event_from_row!(r))).collect()
        })
    }

    /// Cases matching `f`, newest first (or, for queues, earliest deadline first), paged.
    pub async fn list_cases(&self, f: &CaseFilter) -> Result<Vec<CaseRecord>> {
        on_read!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new("SELECT c.* FROM cases c WHERE ");
            let prefix = f.territory_prefix.as_str();
            match prefix.len() {
                // A county or a township: the expression index of its prefix walks its cases
                // newest first (the length is a number, written into the query so that it
                // matches the index's expression).
                6 | 9 => {
                    qb.push(format!("substr(c.territory, 1, {}) = ", prefix.len()))
                        .push_bind(prefix.to_owned());
                }
                // The prefecture: every case (a LIKE, which no index takes, so that the newest
                // cases are walked by id).
                0..=5 => {
                    qb.push("c.territory LIKE ").push_bind(format!("{prefix}%"));
                }
                // A village, grid or group: its few cases through the territory index.
                _ => {
                    let (lo, hi) = crate::territory::code_range(prefix);
                    qb.push("c.territory >= ").push_bind(lo);
                    qb.push(" AND c.territory < ").push_bind(hi);
                }
            }
            if let Some(s) = &f.status {
                qb.push(" AND c.status = ").push_bind(s.clone());
            }
            if let Some(c) = &f.category_prefix {
                qb.push(" AND (c.category = ").push_bind(c.clone());
                qb.push(" OR c.category LIKE ").push_bind(format!("{c}.%"));
                qb.push(")");
            }
            if let Some(t) = f.overdue_at {
                qb.push(" AND c.deadline < ").push_bind(t);
                qb.push(" AND c.status NOT IN ('closed','rejected','merged','parked')");
            }
            if let Some(u) = &f.handling_unit {
                qb.push(" AND c.handling_unit = ").push_bind(u.clone());
            }
            if let Some(u) = &f.centre {
                qb.push(" AND c.centre = ").push_bind(u.clone());
            }
            if let Some(u) = &f.owned_or_held_by {
                qb.push(" AND (c.centre = ").push_bind(u.clone());
                qb.push(" OR c.handling_unit = ").push_bind(u.clone());
                qb.push(")");
            }
            if f.open_only {
                qb.push(" AND c.status NOT IN ('closed','rejected','merged')");
            }
            if let Some((from, to)) = f.created_between {
                qb.push(" AND c.created_at >= ").push_bind(from);
                qb.push(" AND c.created_at < ").push_bind(to);
            }
            if let Some((from, to)) = f.closed_between {
                qb.push(
                    " AND EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id \
                     AND e.to_status = 'closed' AND (e.from_status IS NULL OR e.from_status <> 'closed') AND e.at >= ",
                )
                .push_bind(from);
                qb.push(" AND e.at < ").push_bind(to).push(")");
            }
            if f.solved_only {
                qb.push(match self.backend() {
                    Backend::Sqlite => " AND json_extract(c.state, '$.result') = 'solved'",
                    Backend::Postgres => " AND (CAST(c.state AS jsonb) ->> 'result') = 'solved'",
                });
            }
            if let Some(cats) = &f.categories {
                if cats.is_empty() {
                    qb.push(" AND 1 = 0");
                } else {
                    qb.push(" AND c.category IN (");
                    let mut sep = qb.separated(", ");
                    for c in cats {
                        sep.push_bind(c.clone());
                    }
                    qb.push(")");
                }
            }
            if !f.terms.is_empty() {
                let (head, query) = search_condition(self.backend(), &f.terms);
                qb.push(" AND ").push(head).push_bind(query);
                qb.push(match self.backend() {
                    Backend::Sqlite => ")",
                    Backend::Postgres => " AS tsquery))",
                });
            }
            if let Some(b) = f.before_id {
                qb.push(" AND c.id < ").push_bind(b);
            }
            if f.by_deadline {
                qb.push(" ORDER BY CASE WHEN c.deadline IS NULL THEN 1 ELSE 0 END, c.deadline, c.id DESC");
            } else {
                qb.push(" ORDER BY c.id DESC");
            }
            qb.push(" LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter().map(|r| Ok(case_from_row!(r, self))).collect()
        })
    }

    /// Cases waiting for their search terms, oldest first.
    pub async fn pending_index(&self, limit: i64) -> Result<Vec<IndexItem>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                // The backlog first (a join let SQLite scan every case to find it empty).
                "SELECT c.id, c.code, c.category, c.title, c.description FROM \
                 (SELECT case_id FROM search_backlog ORDER BY case_id LIMIT $1) b \
                 JOIN cases c ON c.id = b.case_id ORDER BY b.case_id",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(IndexItem {
                        case_id: r.try_get("id")?,
                        code: r.try_get("code")?,
                        category: r.try_get("category")?,
                        title: r.try_get("title")?,
                        description: r.try_get("description")?,
                    })
                })
                .collect()
        })
    }

    /// How many cases wait in the search backlog.
    pub async fn search_backlog_len(&self) -> Result<i64> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT COUNT(*) AS n FROM search_backlog")
                .fetch_one(pool)
                .await?
                .try_get("n")?)
        })
    }

    /// Write the search terms of indexed cases and take them off the backlog, in one
    /// transaction. Idempotent: a case indexed twice keeps one entry, the last written.
    pub async fn write_index(&self, items: Vec<(i64, Vec<String>)>) -> Result<u64> {
        if items.is_empty() {
            return Ok(0);
        }
        let n = items.len() as u64;
        let backend = self.backend();
        on_write!(self, tx => {
            let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
            index_in_tx!(tx, backend, items);
            for chunk in ids.chunks(1000) {
                let mut qb = sqlx::QueryBuilder::new("DELETE FROM search_backlog WHERE case_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut **tx).await?;
            }
        });
        Ok(n)
    }

    /// The id of the case stored under an idempotency key.
    pub async fn case_id_by_key(&self, key: &str) -> Result<Option<i64>> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT id FROM cases WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get::<i64, _>("id"))
                .transpose()?)
        })
    }

    /// Counters of units whose code starts with `unit_prefix`, summed per counter, for days in
    /// `[from, to]`.
    pub async fn counter_totals(
        &self,
        unit: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, i64)>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT counter, CAST(SUM(n) AS BIGINT) AS n FROM case_counters WHERE unit = $1 AND day >= $2 \
                 AND day <= $3 GROUP BY counter ORDER BY counter",
            )
            .bind(unit)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("counter")?, r.try_get::<i64, _>("n")?)))
                .collect()
        })
    }

    /// Timers due at `now` that have not fired, oldest first.
    pub async fn due_timers(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<TimerRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT case_id, kind, version, due_at FROM case_timers \
                 WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(TimerRecord {
                        case_id: r.try_get("case_id")?,
                        kind: r.try_get("kind")?,
                        version: r.try_get("version")?,
                        due_at: r.try_get("due_at")?,
                    })
                })
                .collect()
        })
    }

    /// Claim a due timer: exactly one caller, across every server on the database, gets `true`.
    pub async fn claim_timer(&self, case_id: i64, kind: &str, now: DateTime<Utc>) -> Result<bool> {
        Ok(on_write!(self, tx => {
            sqlx::query(
                "UPDATE case_timers SET fired_at = $1 WHERE case_id = $2 AND kind = $3 AND fired_at IS NULL",
            )
            .bind(now)
            .bind(case_id)
            .bind(kind)
            .execute(&mut **tx)
            .await?
            .rows_affected()
                == 1
        }))
    }

    /// Replace the category tree (JSON bodies in tree order).
    pub async fn replace_categories(
        &self,
        rows: Vec<(String, Option<String>, String)>,
    ) -> Result<u64> {
        on_write!(self, tx => {
            sqlx::query("DELETE FROM categories").execute(&mut **tx).await?;
        });
        let rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, (code, parent, body))| {
                vec![code.into(), parent.into(), (i as i64).into(), body.into()]
            })
            .collect();
        self.insert_rows("categories", &["code", "parent", "position", "body"], rows)
            .await
    }

    /// Category bodies in tree order.
    pub async fn categories(&self) -> Result<Vec<String>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT body FROM categories ORDER BY position")
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(r.try_get::<String, _>("body")?)).collect()
        })
    }

    /// A setting's JSON value.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get::<String, _>("value"))
                .transpose()?)
        })
    }

    pub async fn set_setting(&self, key: &str, value: &str, now: DateTime<Utc>) -> Result<()> {
        on_write!(self, tx => {
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        });
        Ok(())
    }
}

impl Db {
    /// Store (replace) the mediation record of a case.
    pub async fn set_mediation(
        &self,
        case_id: i64,
        body: &str,
        now: DateTime<Utc>,
        by: i64,
    ) -> Result<()> {
        on_write!(self, tx => {
            sqlx::query(
                "INSERT INTO mediation_records (case_id, body, updated_at, updated_by) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (case_id) DO UPDATE SET body = excluded.body, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(case_id)
            .bind(self.vault.seal("mediation_records.body", body)?)
            .bind(now)
            .bind(by)
            .execute(&mut **tx)
            .await?;
        });
        Ok(())
    }

    /// The mediation record of a case, as JSON.
    pub async fn mediation(&self, case_id: i64) -> Result<Option<String>> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT body FROM mediation_records WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get::<String, _>("body"))
                .transpose()?
                .map(|b| self.vault.open("mediation_records.body", &b))
                .transpose()?)
        })
    }
}
