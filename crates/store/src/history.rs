//! Bulk loading of a generated case history (`domain::history`): cases, their events, counters,
//! search terms and timers, work logs and daily reports in large multi-row `INSERT`s, one code
//! path for both backends, one transaction per batch. The statistics rollups are not upserted
//! per row as live writes do: [`Rollups`] sums them in memory over the whole load (keys interned
//! into integers, so a million cases fit in a few hundred megabytes) and
//! [`Db::finish_history`] writes each row once. Afterwards `recount_rollups` finds exactly what
//! the live path would have written (tested on both databases).

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
    pub counters: Vec<CounterChange>,
    /// Search terms per case (written straight into the index; no backlog).
    pub terms: Vec<(i64, Vec<String>)>,
    /// Timers of the open cases, with when they fired (a card already given).
    pub timers: Vec<(TimerRecord, Option<DateTime<Utc>>)>,
    pub worklogs: Vec<LoadWorklog>,
    pub reports: Vec<LoadReport>,
}

type Key = (u32, i32, u32, u32);

/// Rollup sums of a load, kept in memory under interned keys.
#[derive(Debug, Default)]
pub struct Rollups {
    sums: HashMap<Key, i64>,
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
    /// would have, together).
    pub fn add_case(
        &mut self,
        record: &CaseRecord,
        events: &[EventRecord],
        counters: &[CounterChange],
    ) {
        self.add(crate::stats::case_write_rollups(record, events, counters));
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
        let counters = crate::cases::summed_counters(b.counters);
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
            insert_in_tx!(tx, "case_counters", &["unit", "day", "counter", "n"], counters,
                " ON CONFLICT (unit, day, counter) DO UPDATE SET n = case_counters.n + excluded.n");
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
        let mut keys: Vec<(Key, i64)> = sums.into_iter().filter(|(_, n)| *n != 0).collect();
        keys.sort_unstable_by(|((t1, d1, c1, m1), _), ((t2, d2, c2, m2), _)| {
            (
                &strings[*t1 as usize],
                d1,
                &strings[*m1 as usize],
                &strings[*c1 as usize],
            )
                .cmp(&(
                    &strings[*t2 as usize],
                    d2,
                    &strings[*m2 as usize],
                    &strings[*c2 as usize],
                ))
        });
        let mut rows: Vec<Vec<Value>> = Vec::with_capacity(keys.len());
        for ((t, day, c, m), n) in keys {
            let day = NaiveDate::from_num_days_from_ce_opt(day)
                .ok_or_else(|| crate::StoreError::Corrupt("rollup day out of range".into()))?;
            rows.push(vec![
                strings[t as usize].clone().into(),
                day.into(),
                strings[m as usize].clone().into(),
                strings[c as usize].clone().into(),
                n.into(),
            ]);
        }
        let written = rows.len() as u64;
        for chunk in rows.chunks(200_000) {
            self.insert_rows_then(table, columns, chunk.to_vec(), tail)
                .await?;
        }
        Ok(written)
    }

    /// End a load: write the rollups (added to any already stored), and move the sequences
    /// past what was loaded (`case_id`, `worklog_id`, `code:<day>`), so that live writes go on
    /// numbering after the history. Returns the rollup rows written.
    pub async fn finish_history(
        &self,
        rollups: Rollups,
        sequences: Vec<(String, i64)>,
    ) -> Result<u64> {
        let Rollups { sums, strings, .. } = rollups;
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
