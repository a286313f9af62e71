//! Bulk loading of a generated case history (`domain::history`): cases, their events, counters,
//! search terms and timers, work logs and daily reports in large multi-row `INSERT`s, one code
//! path for both backends, one transaction per batch. The statistics rollups are not upserted
//! per row as live writes do: [`Rollups`] sums them in memory over the whole load (keys interned
//! into integers, so a million cases fit in a few hundred megabytes) and
//! [`Db::finish_history`] writes each row once; so are the assessment counters. Afterwards
//! `recount_rollups` finds exactly what the live path would have written (tested on both
//! databases).
//!
//! Into empty tables, [`Db::begin_history_load`] drops their secondary indexes (their
//! definitions kept in `settings`) and [`Db::finish_history`] builds them again at the end:
//! one sort per index instead of a million random B-tree inserts. A load that dies halfway
//! leaves the definitions behind, and the next [`Db::migrate`] builds them.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use domain::TerritoryCode;
use domain::fieldwork::WorklogKind;

use crate::bulk::Value;
use crate::cases::{CASE_COLUMNS, CaseRecord, CounterChange, EventRecord, TimerRecord};
use crate::{Backend, Db, Result};

/// A work log to load (ids are the loader's; `details` is the JSON of its details).
#[derive(Debug, Clone)]
pub struct LoadWorklog {
    pub id: i64,
    pub account: i64,
    pub kind: WorklogKind,
    pub territory: TerritoryCode,
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    pub details: String,
    pub attendees: u32,
}

/// A daily report to load.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub account: i64,
    pub territory: TerritoryCode,
    pub day: NaiveDate,
    pub at: DateTime<Utc>,
    pub nothing_to_report: bool,
    pub text: Option<String>,
}

/// One batch of a history load.
#[derive(Debug, Clone, Default)]
pub struct HistoryBatch {
    pub cases: Vec<CaseRecord>,
    pub events: Vec<EventRecord>,
    /// Search terms per case (written straight into the index; no backlog).
    pub terms: Vec<(i64, Vec<String>)>,
    /// Timers of the open cases, with when they fired (a card already given).
    pub timers: Vec<(TimerRecord, Option<DateTime<Utc>>)>,
    pub worklogs: Vec<LoadWorklog>,
    pub reports: Vec<LoadReport>,
}

type Key = (u32, i32, u32, u32);
/// An assessment counter's key: (unit, day, counter), interned.
type CounterKey = (u32, i32, u32);
/// A row to write: its interned texts in column order (unused ones 0), its day, its sum.
type InternedRow = ([u32; 3], i32, i64);
/// Bind parameters per statement (below SQLite's 32,766 and PostgreSQL's 65,535).
const MAX_BINDS: usize = 30_000;

/// Rollup sums and assessment counters of a load, kept in memory under interned keys.
#[derive(Debug, Default)]
pub struct Rollups {
    sums: HashMap<Key, i64>,
    counters: HashMap<CounterKey, i64>,
    names: HashMap<String, u32>,
    strings: Vec<String>,
}

impl Rollups {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.names.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.names.insert(s.to_owned(), i);
        i
    }

    fn add(&mut self, deltas: Vec<domain::stats::RollupDelta>) {
        for d in deltas {
            let key = (
                self.intern(&d.territory),
                d.day.num_days_from_ce(),
                self.intern(&d.category),
                self.intern(&d.metric),
            );
            *self.sums.entry(key).or_insert(0) += d.delta;
        }
    }

    /// Add what a case's whole history contributes (as `insert_cases` and every transition
    /// would have, together): its rollups and its assessment counters.
    pub fn add_case(
        &mut self,
        record: &CaseRecord,
        events: &[EventRecord],
        counters: &[CounterChange],
    ) {
        self.add(crate::stats::case_write_rollups(record, events, counters));
        for c in counters {
            let key = (
                self.intern(&c.unit),
                c.day.num_days_from_ce(),
                self.intern(&c.counter),
            );
            *self.counters.entry(key).or_insert(0) += c.delta;
        }
    }

    pub fn add_worklog(&mut self, w: &LoadWorklog) {
        self.add(domain::stats::worklog_rollups(
            &w.territory,
            w.day,
            w.kind,
            w.attendees,
        ));
    }

    pub fn add_report(&mut self, r: &LoadReport) {
        self.add(domain::stats::daily_report_rollups(
            &r.territory,
            r.day,
            None,
            r.nothing_to_report,
        ));
    }

    /// Rows kept so far.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }
}

/// The tables a history load fills whose secondary indexes it may build at the end.
const DEFERRED_TABLES: &str = "'cases', 'case_events', 'case_timers', 'worklogs', 'daily_reports'";
/// The `settings` key of the index definitions a load has dropped (a JSON list of
/// `[name, CREATE INDEX …]`).
const DEFERRED_SETTING: &str = "history_load_deferred_indexes";

/// `CREATE [UNIQUE] INDEX` made `… IF NOT EXISTS`, so that building again is harmless.
fn if_not_exists(sql: &str) -> String {
    let trimmed = sql.trim_start();
    for head in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if trimmed.len() >= head.len() && trimmed[..head.len()].eq_ignore_ascii_case(head) {
            let rest = &trimmed[head.len()..];
            if rest.to_ascii_uppercase().starts_with("IF NOT EXISTS") {
                return trimmed.to_owned();
            }
            return format!("{head}IF NOT EXISTS {rest}");
        }
    }
    trimmed.to_owned()
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

impl Db {
    /// Start a history load: when the tables it fills are all empty, drop their secondary
    /// indexes (not those of primary keys and unique constraints), keeping their definitions
    /// in `settings` for [`Db::finish_history`] (or the next [`Db::migrate`]) to build again.
    /// Returns how many were dropped (none into tables that already hold rows).
    pub async fn begin_history_load(&self) -> Result<usize> {
        use sqlx::Row;
        let backend = self.backend();
        let any_rows: bool = on_read!(self, pool => {
            sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM cases) OR EXISTS (SELECT 1 FROM case_events) \
                 OR EXISTS (SELECT 1 FROM worklogs) OR EXISTS (SELECT 1 FROM daily_reports) \
                 OR EXISTS (SELECT 1 FROM case_timers) AS filled",
            )
            .fetch_one(pool)
            .await?
            .try_get("filled")?
        });
        if any_rows || self.setting(DEFERRED_SETTING).await?.is_some() {
            return Ok(0);
        }
        let list = match backend {
            Backend::Sqlite => format!(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
                 AND tbl_name IN ({DEFERRED_TABLES}) ORDER BY name"
            ),
            Backend::Postgres => format!(
                "SELECT indexname AS name, indexdef AS sql FROM pg_indexes \
                 WHERE schemaname = current_schema() AND tablename IN ({DEFERRED_TABLES}) \
                 AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
            ),
        };
        let indexes: Vec<(String, String)> = on_read!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(list))
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("name")?, r.try_get("sql")?)))
                .collect::<Result<_>>()?
        });
        if indexes.is_empty() {
            return Ok(0);
        }
        let kept = serde_json::to_string(&indexes)
            .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
        on_write!(self, tx => {
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)",
            )
            .bind(DEFERRED_SETTING)
            .bind(&kept)
            .bind(Utc::now())
            .execute(&mut **tx)
            .await?;
            for (name, _) in &indexes {
                // Names read from the catalogue of our own schema, quoted.
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS \"{name}\"")))
                    .execute(&mut **tx)
                    .await?;
            }
        });
        Ok(indexes.len())
    }

    /// Build the indexes a history load dropped, if any are still to build (after a load, or
    /// on the start after one that died). Returns how many were built.
    pub async fn build_deferred_indexes(&self) -> Result<usize> {
        let Some(kept) = self.setting(DEFERRED_SETTING).await? else {
            return Ok(0);
        };
        let indexes: Vec<(String, String)> = serde_json::from_str(&kept)
            .map_err(|e| crate::StoreError::Corrupt(format!("{DEFERRED_SETTING}: {e}")))?;
        let started = std::time::Instant::now();
        let backend = self.backend();
        on_write!(self, tx => {
            if backend == Backend::Postgres {
                sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
                    .execute(&mut **tx)
                    .await?;
            }
            for (_, sql) in &indexes {
                // Definitions this schema's own catalogue gave us.
                sqlx::query(sqlx::AssertSqlSafe(if_not_exists(sql)))
                    .execute(&mut **tx)
                    .await?;
            }
            sqlx::query("DELETE FROM settings WHERE key = $1")
                .bind(DEFERRED_SETTING)
                .execute(&mut **tx)
                .await?;
        });
        tracing::info!(
            indexes = indexes.len(),
            ms = started.elapsed().as_millis() as u64,
            "built the indexes of a history load"
        );
        Ok(indexes.len())
    }

    /// Write one batch in one transaction. The cases must be new (no idempotency keys are
    /// checked) and their ids and codes must have been kept off the sequences (see
    /// [`Db::finish_history`]).
    pub async fn load_history_batch(&self, b: HistoryBatch) -> Result<u64> {
        let backend = self.backend();
        let n = (b.cases.len() + b.events.len() + b.worklogs.len() + b.reports.len()) as u64;
        let cases: Vec<Vec<Value>> = b
            .cases
            .iter()
            .map(|c| c.values(&self.vault))
            .collect::<Result<_>>()?;
        let events: Vec<Vec<Value>> = b.events.iter().map(EventRecord::values).collect();
        let timers: Vec<Vec<Value>> = b
            .timers
            .into_iter()
            .map(|(t, fired)| {
                vec![
                    t.case_id.into(),
                    t.kind.into(),
                    t.version.into(),
                    t.due_at.into(),
                    Value::OptTime(fired),
                ]
            })
            .collect();
        let logs: Vec<Vec<Value>> = b
            .worklogs
            .into_iter()
            .map(|w| {
                vec![
                    w.id.into(),
                    w.account.into(),
                    w.kind.as_str().into(),
                    w.territory.as_str().into(),
                    w.at.into(),
                    w.day.into(),
                    w.details.into(),
                    Value::OptI64(None),
                    Value::OptText(None),
                    w.at.into(),
                ]
            })
            .collect();
        let reports: Vec<Vec<Value>> = b
            .reports
            .into_iter()
            .map(|r| {
                vec![
                    r.account.into(),
                    r.day.into(),
                    r.territory.as_str().into(),
                    r.nothing_to_report.into(),
                    r.text.into(),
                    Value::OptText(None),
                    r.at.into(),
                    r.at.into(),
                ]
            })
            .collect();
        let terms = b.terms;
        on_write!(self, tx => {
            insert_in_tx!(tx, "cases", CASE_COLUMNS, cases, "");
            insert_in_tx!(tx, "case_events", EVENT_COLUMNS, events, "");
            index_in_tx!(tx, backend, terms);
            insert_in_tx!(tx, "case_timers", &["case_id", "kind", "version", "due_at", "fired_at"],
                timers, "");
            insert_in_tx!(tx, "worklogs", &["id", "account", "kind", "territory", "at", "day",
                "details", "case_id", "idempotency_key", "created_at"], logs, "");
            insert_in_tx!(tx, "daily_reports", &["account", "day", "territory", "nothing_to_report",
                "text", "idempotency_key", "created_at", "updated_at"], reports, "");
        });
        Ok(n)
    }

    /// Write summed rollup rows (interned keys) into the daily or the monthly table, in key
    /// order (appends to the primary key instead of random page splits), added to any stored.
    async fn write_rollup_rows(
        &self,
        monthly: bool,
        sums: HashMap<Key, i64>,
        strings: &[String],
    ) -> Result<u64> {
        let (table, columns, tail): (&'static str, &'static [&'static str], &'static str) =
            if monthly {
                (
                    "territory_month_stats",
                    &["territory", "month", "metric", "category", "n"],
                    " ON CONFLICT (territory, month, metric, category) \
                     DO UPDATE SET n = territory_month_stats.n + excluded.n",
                )
            } else {
                (
                    "territory_day_stats",
                    &["territory", "day", "metric", "category", "n"],
                    " ON CONFLICT (territory, day, metric, category) \
                     DO UPDATE SET n = territory_day_stats.n + excluded.n",
                )
            };
        // (territory, metric, category) in column order.
        let rows: Vec<InternedRow> = sums
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((t, day, c, m), n)| ([t, m, c], day, n))
            .collect();
        self.write_interned(table, columns, tail, rows, strings)
            .await
    }

    /// Write interned rows (`texts[0]`, day, `texts[1..]`, n) into `table` sorted by key, many
    /// rows per statement, binding the interned strings and each day's text where they are
    /// (a million rows would otherwise be a million small vectors of owned values).
    async fn write_interned(
        &self,
        table: &'static str,
        columns: &'static [&'static str],
        tail: &'static str,
        mut rows: Vec<InternedRow>,
        strings: &[String],
    ) -> Result<u64> {
        let texts = columns.len() - 2;
        let key = |(t, d, _): &InternedRow| {
            (
                &strings[t[0] as usize],
                *d,
                &strings[t[1] as usize],
                (texts > 2).then(|| &strings[t[2] as usize]),
            )
        };
        rows.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        let mut days: HashMap<i32, (NaiveDate, String)> = HashMap::new();
        for (_, d, _) in &rows {
            if !days.contains_key(d) {
                let day = NaiveDate::from_num_days_from_ce_opt(*d)
                    .ok_or_else(|| crate::StoreError::Corrupt("rollup day out of range".into()))?;
                days.insert(*d, (day, day.format("%Y-%m-%d").to_string()));
            }
        }
        let backend = self.backend();
        let head = format!("INSERT INTO {table} ({}) ", columns.join(", "));
        let per_stmt = (MAX_BINDS / columns.len()).max(1);
        for tx_rows in rows.chunks(200_000) {
            on_write!(self, tx => {
                for chunk in tx_rows.chunks(per_stmt) {
                    let mut qb = sqlx::QueryBuilder::new(head.as_str());
                    qb.push_values(chunk, |mut sep, (t, d, n)| {
                        sep.push_bind(strings[t[0] as usize].as_str());
                        let (date, text) = &days[d];
                        match backend {
                            Backend::Sqlite => sep.push_bind(text.as_str()),
                            Backend::Postgres => sep.push_bind(*date),
                        };
                        for i in &t[1..texts] {
                            sep.push_bind(strings[*i as usize].as_str());
                        }
                        sep.push_bind(*n);
                    });
                    qb.push(tail);
                    qb.build().execute(&mut **tx).await?;
                }
            });
        }
        Ok(rows.len() as u64)
    }

    /// End a load: write the rollups and assessment counters (added to any already stored),
    /// build the indexes [`Db::begin_history_load`] dropped, and move the sequences past what
    /// was loaded (`case_id`, `worklog_id`, `code:<day>`), so that live writes go on numbering
    /// after the history. Returns the rollup rows written.
    pub async fn finish_history(
        &self,
        rollups: Rollups,
        sequences: Vec<(String, i64)>,
    ) -> Result<u64> {
        let Rollups {
            sums,
            counters,
            strings,
            ..
        } = rollups;
        let counters: Vec<InternedRow> = counters
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .map(|((u, day, c), n)| ([u, c, 0], day, n))
            .collect();
        self.write_interned(
            "case_counters",
            &["unit", "day", "counter", "n"],
            crate::cases::UPSERT_COUNTERS,
            counters,
            &strings,
        )
        .await?;
        let mut months: HashMap<Key, i64> = HashMap::new();
        for ((t, day, c, m), n) in &sums {
            let month = NaiveDate::from_num_days_from_ce_opt(*day)
                .map_or(*day, |d| domain::stats::month_of(d).num_days_from_ce());
            *months.entry((*t, month, *c, *m)).or_insert(0) += n;
        }
        let mut written = 0;
        for (monthly, sums) in [(false, sums), (true, months)] {
            written += self.write_rollup_rows(monthly, sums, &strings).await?;
        }
        let seqs: Vec<Vec<Value>> = sequences
            .into_iter()
            .map(|(name, last)| vec![name.into(), last.into()])
            .collect();
        self.insert_rows_then(
            "case_sequences",
            &["name", "last"],
            seqs,
            " ON CONFLICT (name) DO UPDATE SET last = CASE WHEN excluded.last > case_sequences.last \
             THEN excluded.last ELSE case_sequences.last END",
        )
        .await?;
        self.build_deferred_indexes().await?;
        if self.backend() == Backend::Postgres {
            on_write!(self, tx => {
                for q in [
                    "ANALYZE cases",
                    "ANALYZE case_events",
                    "ANALYZE case_search",
                    "ANALYZE territory_day_stats",
                    "ANALYZE territory_month_stats",
                    "ANALYZE worklogs",
                    "ANALYZE daily_reports",
                ] {
                    sqlx::query(q).execute(&mut **tx).await?;
                }
            });
        } else {
            on_write!(self, tx => {
                // A full ANALYZE: with `analysis_limit = 1000` (a sample) it took 3 s instead
                // of 5 at 200,000 cases, but the planner then walked the wrong index for a
                // county's filtered list (700 ms at 1,000,000 cases).
                sqlx::query("ANALYZE").execute(&mut **tx).await?;
            });
        }
        Ok(written)
    }
}

impl Db {
    /// Every assessment counter row, `(unit, day, counter) → n` (for tests and recounts).
    pub async fn all_counters(
        &self,
    ) -> Result<std::collections::BTreeMap<(String, NaiveDate, String), i64>> {
        use sqlx::Row;
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT unit, day, counter, n FROM case_counters WHERE n <> 0")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        (r.try_get("unit")?, r.try_get("day")?, r.try_get("counter")?),
                        r.try_get::<i64, _>("n")?,
                    ))
                })
                .collect()
        })
    }

    /// Every case's history recounted by the engine (`domain::case::recount`), summed:
    /// what `case_counters` must hold.
    pub async fn recount_counters(
        &self,
    ) -> Result<std::collections::BTreeMap<(String, NaiveDate, String), i64>> {
        use sqlx::Row;
        let mut out = std::collections::BTreeMap::new();
        let mut after = i64::MIN;
        loop {
            let rows: Vec<(i64, String)> = on_read!(self, pool => {
                sqlx::query(
                    "SELECT case_id, body FROM case_events WHERE case_id IN \
                     (SELECT id FROM cases WHERE id > $1 ORDER BY id LIMIT 2000) ORDER BY case_id, seq",
                )
                .bind(after)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("case_id")?, r.try_get("body")?)))
                .collect::<Result<_>>()?
            });
            if rows.is_empty() {
                break;
            }
            let mut by_case: std::collections::BTreeMap<i64, Vec<domain::case::Event>> =
                std::collections::BTreeMap::new();
            for (id, body) in &rows {
                let id = *id;
                let e: domain::case::Event = serde_json::from_str(body)
                    .map_err(|e| crate::StoreError::Corrupt(format!("event of case {id}: {e}")))?;
                by_case.entry(id).or_default().push(e);
                after = after.max(id);
            }
            for history in by_case.values() {
                for ((unit, day, counter), n) in domain::case::recount(history) {
                    *out.entry((unit, day, counter.as_str().to_owned()))
                        .or_insert(0) += n;
                }
            }
        }
        out.retain(|_, n| *n != 0);
        Ok(out)
    }
}
