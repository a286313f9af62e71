//! Cases imported from a legacy system, written in batches: the same tables the case engine
//! writes (the case row, its history, counters, search backlog, timers) plus one provenance row
//! per source record in `case_imports`, whose `(source, source_id)` key makes re-running an
//! import find the cases it already wrote instead of writing them twice.
//!
//! One call writes one batch in one transaction with multi-row `INSERT`s; everything that
//! should follow every written case (statistics rollups, say) belongs in
//! [`Db::insert_imported_cases`], which sees the whole batch.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use crate::bulk::Value;
use crate::cases::{CASE_COLUMNS, CaseRecord, CounterChange, EventRecord, TimerRecord};
use crate::{Db, Result};

/// Where one imported case came from.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSource {
    /// The mapping's source name (`boston-311`).
    pub source: String,
    /// The record's id in the source.
    pub source_id: String,
    pub file: String,
    /// The record's line in the file (1 = the header).
    pub line: i64,
    pub source_type: Option<String>,
    pub source_status: Option<String>,
    pub source_area: Option<String>,
    /// The record's own position, kept even when it lies outside our territory.
    pub source_lng: Option<f64>,
    pub source_lat: Option<f64>,
}

/// Everything one imported case writes.
#[derive(Debug, Clone)]
pub struct ImportedCaseWrite {
    pub record: CaseRecord,
    pub events: Vec<EventRecord>,
    pub counters: Vec<CounterChange>,
    /// Timers of a case still open (none for a closed one).
    pub timers: Vec<TimerRecord>,
    pub source: CaseSource,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportBatch {
    pub inserted: u64,
    /// Records imported before (same source and id): not written again.
    pub already: u64,
}

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

const SOURCE_COLUMNS: &[&str] = &[
    "case_id",
    "source",
    "source_id",
    "file",
    "line",
    "source_type",
    "source_status",
    "source_area",
    "source_lng",
    "source_lat",
    "imported_at",
];

fn time(t: Option<DateTime<Utc>>) -> Value {
    match t {
        Some(t) => Value::Time(t),
        None => Value::OptTime(None),
    }
}

fn case_values(c: &CaseRecord, vault: &crate::vault::Vault) -> Result<Vec<Value>> {
    Ok(vec![
        c.id.into(),
        c.code.clone().into(),
        c.status.clone().into(),
        c.category.clone().into(),
        c.territory.clone().into(),
        c.centre.clone().into(),
        c.handling_unit.clone().into(),
        c.handling_level.clone().into(),
        c.urgency.clone().into(),
        c.channel.clone().into(),
        c.title.clone().into(),
        c.description.clone().into(),
        c.lng.into(),
        c.lat.into(),
        c.reporter_name.clone().into(),
        vault
            .seal_opt("cases.reporter_phone", c.reporter_phone.as_deref())?
            .into(),
        c.reporter_account.into(),
        c.routed_unit.clone().into(),
        c.routing_reason.clone().into(),
        c.idempotency_key.clone().into(),
        c.created_at.into(),
        c.updated_at.into(),
        c.step.clone().into(),
        time(c.step_started_at),
        time(c.deadline),
        c.version.into(),
        c.state.clone().into(),
    ])
}

fn event_values(e: &EventRecord) -> Vec<Value> {
    vec![
        e.case_id.into(),
        e.seq.into(),
        e.at.into(),
        e.action.clone().into(),
        e.by_account.into(),
        e.by_role.clone().into(),
        e.by_level.clone().into(),
        e.from_status.clone().into(),
        e.to_status.clone().into(),
        e.body.clone().into(),
    ]
}

/// Multi-row insert inside an open transaction, chunked below both backends' bind limits.
macro_rules! insert_chunked {
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

impl Db {
    /// Which of `ids` of `source` were imported before.
    pub async fn imported_source_ids(
        &self,
        source: &str,
        ids: &[String],
    ) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        for chunk in ids.chunks(1000) {
            on_read!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new("SELECT source_id FROM case_imports WHERE source = ");
                qb.push_bind(source.to_owned());
                qb.push(" AND source_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(id.clone());
                }
                qb.push(")");
                // Planned afresh each time: a plan cached while the table was small would go on
                // scanning it whole as it grows.
                for r in qb.build().persistent(false).fetch_all(pool).await? {
                    out.insert(r.try_get::<String, _>("source_id")?);
                }
            });
        }
        Ok(out)
    }

    /// How many cases came from `source`.
    pub async fn imported_count(&self, source: &str) -> Result<i64> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT COUNT(*) AS n FROM case_imports WHERE source = $1")
                .bind(source)
                .fetch_one(pool)
                .await?
                .try_get("n")?)
        })
    }

    /// Write a batch of imported cases in one transaction. Records of the batch already imported
    /// (by another run, or twice in the batch) are skipped; their ids and code numbers are left
    /// unused.
    pub async fn insert_imported_cases(
        &self,
        batch: Vec<ImportedCaseWrite>,
        imported_at: DateTime<Utc>,
    ) -> Result<ImportBatch> {
        if batch.is_empty() {
            return Ok(ImportBatch::default());
        }
        Ok(on_write!(self, tx => {
            // Records of the batch imported before, found by the (source, source_id) key.
            let mut seen = HashSet::new();
            let mut by_source: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for w in &batch {
                by_source.entry(w.source.source.as_str()).or_default().push(w.source.source_id.as_str());
            }
            for (source, ids) in by_source {
                for chunk in ids.chunks(1000) {
                    let mut qb = sqlx::QueryBuilder::new("SELECT source_id FROM case_imports WHERE source = ");
                    qb.push_bind(source.to_owned());
                    qb.push(" AND source_id IN (");
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind((*id).to_owned());
                    }
                    qb.push(")");
                    for r in qb.build().persistent(false).fetch_all(&mut **tx).await? {
                        seen.insert((source.to_owned(), r.try_get::<String, _>("source_id")?));
                    }
                }
            }
            let mut fresh = Vec::with_capacity(batch.len());
            let mut already = 0;
            for w in batch {
                if seen.insert((w.source.source.clone(), w.source.source_id.clone())) {
                    fresh.push(w);
                } else {
                    already += 1;
                }
            }
            insert_chunked!(tx, "cases", CASE_COLUMNS,
                fresh.iter().map(|w| case_values(&w.record, &self.vault)).collect::<Result<_>>()?, "");
            insert_chunked!(tx, "case_events", EVENT_COLUMNS,
                fresh.iter().flat_map(|w| w.events.iter().map(event_values)).collect(), "");
            insert_chunked!(tx, "search_backlog", &["case_id"],
                fresh.iter().map(|w| vec![w.record.id.into()]).collect(), "");
            let mut sums: BTreeMap<(String, NaiveDate, String), i64> = BTreeMap::new();
            for c in fresh.iter().flat_map(|w| w.counters.iter()) {
                *sums.entry((c.unit.clone(), c.day, c.counter.clone())).or_default() += c.delta;
            }
            let counters: Vec<Vec<Value>> = sums
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|((unit, day, counter), n)| vec![unit.into(), day.into(), counter.into(), n.into()])
                .collect();
            insert_chunked!(tx, "case_counters", &["unit", "day", "counter", "n"], counters,
                " ON CONFLICT (unit, day, counter) DO UPDATE SET n = case_counters.n + excluded.n");
            // Statistics rollups (issue 5), in the same transaction.
            rollups_in_tx!(tx, fresh.iter().flat_map(|w| {
                crate::stats::case_write_rollups(&w.record, &w.events, &w.counters)
            }));
            insert_chunked!(tx, "case_timers", &["case_id", "kind", "version", "due_at"],
                fresh.iter().flat_map(|w| w.timers.iter())
                    .map(|t| vec![t.case_id.into(), t.kind.clone().into(), t.version.into(), t.due_at.into()])
                    .collect(), "");
            insert_chunked!(tx, "case_imports", SOURCE_COLUMNS,
                fresh.iter().map(|w| {
                    let s = &w.source;
                    vec![
                        w.record.id.into(),
                        s.source.clone().into(),
                        s.source_id.clone().into(),
                        s.file.clone().into(),
                        s.line.into(),
                        s.source_type.clone().into(),
                        s.source_status.clone().into(),
                        s.source_area.clone().into(),
                        s.source_lng.into(),
                        s.source_lat.into(),
                        imported_at.into(),
                    ]
                }).collect(), "");
            ImportBatch { inserted: fresh.len() as u64, already }
        }))
    }

    /// Where an imported case came from.
    pub async fn case_source(&self, case_id: i64) -> Result<Option<CaseSource>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM case_imports WHERE case_id = $1")
                .bind(case_id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(CaseSource {
                    source: r.try_get("source")?,
                    source_id: r.try_get("source_id")?,
                    file: r.try_get("file")?,
                    line: r.try_get("line")?,
                    source_type: r.try_get("source_type")?,
                    source_status: r.try_get("source_status")?,
                    source_area: r.try_get("source_area")?,
                    source_lng: r.try_get("source_lng")?,
                    source_lat: r.try_get("source_lat")?,
                }),
                None => None,
            })
        })
    }

    /// Cases of a subtree for an export, by id ascending after `after_id`.
    pub async fn cases_page(
        &self,
        territory_prefix: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<CaseRecord>> {
        let mut hi = territory_prefix.as_bytes().to_vec();
        while let Some(last) = hi.pop() {
            if last < b'9' {
                hi.push(last + 1);
                break;
            }
        }
        let hi = if hi.is_empty() {
            "a".to_owned()
        } else {
            String::from_utf8_lossy(&hi).into_owned()
        };
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM cases WHERE territory >= $1 AND territory < $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(territory_prefix)
            .bind(hi)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(CaseRecord {
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
                        reporter_phone: self.vault.open_opt(
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
                    })
                })
                .collect()
        })
    }
}
