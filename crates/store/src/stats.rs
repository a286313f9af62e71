//! Statistics rollups (`territory_day_stats`): written in the transaction of every case write,
//! work log and daily report, read by `GET /api/v1/stats`, and rebuilt from the raw rows by
//! `gesang rebuild-stats`. What an event adds is decided by `domain::stats`; each row is kept
//! for the event's node and every ancestor, so a node's period is a sum over its own rows.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use domain::TerritoryCode;
use domain::stats::{CaseEventFacts, CounterFacts, RollupDelta, RollupKey, Sums, metric};
use sqlx::Row;

use crate::cases::{CaseRecord, CounterChange, EventRecord};
use crate::{Db, Result};

/// Upsert rollup deltas inside an open transaction `$tx` (summed by key first, sorted, so
/// concurrent writers lock shared rows in one order): the daily rows, then the monthly ones.
macro_rules! rollups_in_tx {
    ($tx:expr, $deltas:expr) => {{
        let sums = domain::stats::summed($deltas);
        let mut months: std::collections::BTreeMap<
            (String, chrono::NaiveDate, String, String),
            i64,
        > = std::collections::BTreeMap::new();
        let days: Vec<(String, chrono::NaiveDate, String, String, i64)> = sums
            .into_iter()
            .map(|((t, d, c, m), n)| {
                *months
                    .entry((t.clone(), domain::stats::month_of(d), m.clone(), c.clone()))
                    .or_insert(0) += n;
                (t, d, m, c, n)
            })
            .collect();
        let months: Vec<(String, chrono::NaiveDate, String, String, i64)> = months
            .into_iter()
            .map(|((t, d, m, c), n)| (t, d, m, c, n))
            .collect();
        for (table, key, rows) in [
            ("territory_day_stats", "day", days),
            ("territory_month_stats", "month", months),
        ] {
            for chunk in rows.chunks(1_000) {
                let mut qb = sqlx::QueryBuilder::new(format!(
                    "INSERT INTO {table} (territory, {key}, metric, category, n) "
                ));
                qb.push_values(chunk, |mut sep, (t, d, m, c, n)| {
                    sep.push_bind(t.clone());
                    sep.push_bind(*d);
                    sep.push_bind(m.clone());
                    sep.push_bind(c.clone());
                    sep.push_bind(*n);
                });
                qb.push(format!(
                    " ON CONFLICT (territory, {key}, metric, category) \
                     DO UPDATE SET n = {table}.n + excluded.n"
                ));
                qb.build().persistent(false).execute(&mut **$tx).await?;
            }
        }
    }};
}

/// The rollup changes of a write of `events` to the case `record` (as it is after them), with
/// the counters the write adds.
pub fn case_write_rollups(
    record: &CaseRecord,
    events: &[EventRecord],
    counters: &[CounterChange],
) -> Vec<RollupDelta> {
    let facts: Vec<CaseEventFacts<'_>> = events
        .iter()
        .filter(|e| e.case_id == record.id)
        .map(|e| CaseEventFacts {
            from_status: e.from_status.as_deref(),
            to_status: &e.to_status,
            at: e.at,
        })
        .collect();
    let counter_facts: Vec<CounterFacts<'_>> = counters
        .iter()
        .map(|c| CounterFacts {
            unit: &c.unit,
            day: c.day,
            counter: &c.counter,
            delta: c.delta,
        })
        .collect();
    let closes = facts.iter().any(|e| e.to_status == "closed");
    let solved = closes
        && serde_json::from_str::<serde_json::Value>(&record.state)
            .ok()
            .is_some_and(|s| s.get("result").and_then(|r| r.as_str()) == Some("solved"));
    match TerritoryCode::parse(&record.territory) {
        Ok(t) => domain::stats::case_rollups(&t, &record.category, &facts, solved, &counter_facts),
        Err(_) => domain::stats::case_rollups(
            &TerritoryCode::parse("623000").expect("the prefecture's code"),
            &record.category,
            &[],
            false,
            &counter_facts,
        ),
    }
}

/// The rollup sums of several nodes over a period.
#[derive(Debug, Clone, Default)]
pub struct NodeSums(pub HashMap<String, Sums>);

impl Db {
    /// The sums of `nodes` for the days `from..=to`, and their created/ended totals up to `to`:
    /// whole months from the monthly rows, the days around them from the daily rows.
    pub async fn stats_sums(
        &self,
        nodes: &[String],
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<NodeSums> {
        let mut out: HashMap<String, Sums> =
            nodes.iter().map(|n| (n.clone(), Sums::default())).collect();
        if nodes.is_empty() {
            return Ok(NodeSums(out));
        }
        let split = domain::stats::split_period(from, to);
        // (table, its day column, first, last, sign): the period's pieces.
        let mut pieces: Vec<(&str, &str, NaiveDate, NaiveDate, i64)> = split
            .days
            .iter()
            .map(|(f, t)| ("territory_day_stats", "day", *f, *t, 1))
            .chain(
                split
                    .minus
                    .iter()
                    .map(|(f, t)| ("territory_day_stats", "day", *f, *t, -1)),
            )
            .collect();
        if let Some((f, l)) = split.months {
            pieces.push(("territory_month_stats", "month", f, l, 1));
        }
        // Everything up to `to`: the months before its month, then its month's days.
        let to_month = domain::stats::month_of(to);
        // One snapshot for every piece: a month less some of its days must see both as of one
        // moment, or a case written in between would count wrong.
        on_snapshot!(self, conn => {
            for chunk in nodes.chunks(500) {
                for (table, col, first, last, sign) in &pieces {
                    let mut qb = sqlx::QueryBuilder::new(format!(
                        "SELECT territory, metric, category, CAST(SUM(n) AS BIGINT) AS n \
                         FROM {table} WHERE {col} >= "
                    ));
                    qb.push_bind(*first).push(format!(" AND {col} <= ")).push_bind(*last);
                    qb.push(" AND territory IN (");
                    let mut sep = qb.separated(", ");
                    for n in chunk {
                        sep.push_bind(n.clone());
                    }
                    qb.push(") GROUP BY territory, metric, category");
                    for r in qb.build().persistent(false).fetch_all(&mut *conn).await? {
                        let t: String = r.try_get("territory")?;
                        let n: i64 = r.try_get("n")?;
                        if let Some(s) = out.get_mut(&t) {
                            *s.period
                                .entry((r.try_get("category")?, r.try_get("metric")?))
                                .or_insert(0) += sign * n;
                        }
                    }
                }
                for (table, col, cmp, bound) in [
                    ("territory_month_stats", "month", "<", to_month),
                    ("territory_day_stats", "day", ">=", to_month),
                ] {
                    let mut qb = sqlx::QueryBuilder::new(format!(
                        "SELECT territory, metric, CAST(SUM(n) AS BIGINT) AS n \
                         FROM {table} WHERE {col} {cmp} "
                    ));
                    qb.push_bind(bound);
                    if table == "territory_day_stats" {
                        qb.push(" AND day <= ").push_bind(to);
                    }
                    qb.push(" AND metric IN ('case_created', 'case_ended') AND category = '' AND territory IN (");
                    let mut sep = qb.separated(", ");
                    for n in chunk {
                        sep.push_bind(n.clone());
                    }
                    qb.push(") GROUP BY territory, metric");
                    for r in qb.build().persistent(false).fetch_all(&mut *conn).await? {
                        let t: String = r.try_get("territory")?;
                        let m: String = r.try_get("metric")?;
                        let n: i64 = r.try_get("n")?;
                        if let Some(s) = out.get_mut(&t) {
                            if m == metric::CASE_CREATED {
                                s.created_to_end += n;
                            } else {
                                s.ended_to_end += n;
                            }
                        }
                    }
                }
            }
        });
        Ok(NodeSums(out))
    }

    /// Open cases whose running step is past its deadline at `now`, under the node `prefix`,
    /// counted per child prefix of `child_len` characters (the node's own total is their sum).
    /// Reads the partial index of open cases only (`cases_open_territory`, which covers the
    /// query: its condition is repeated word for word so that SQLite uses it), never the
    /// history: the work is the number of open cases of the node.
    pub async fn overdue_by_child(
        &self,
        prefix: &str,
        child_len: usize,
        now: DateTime<Utc>,
    ) -> Result<BTreeMap<String, i64>> {
        let (lo, hi) = crate::territory::code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT substr(territory, 1, CAST($1 AS INTEGER)) AS child, COUNT(*) AS n FROM cases \
                 WHERE status NOT IN ('closed','rejected','merged') AND status <> 'parked' \
                 AND deadline < $2 AND territory >= $3 AND territory < $4 GROUP BY 1",
            )
            .bind(child_len as i64)
            .bind(now)
            .bind(lo)
            .bind(hi)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("child")?, r.try_get::<i64, _>("n")?)))
                .collect()
        })
    }

    /// Whether there are cases, logs or reports but no rollup row at all: a database from
    /// before the rollups existed, to be rebuilt once.
    pub async fn rollups_missing(&self) -> Result<bool> {
        on_read!(self, pool => {
            let row = sqlx::query(
                "SELECT (EXISTS (SELECT 1 FROM cases) OR EXISTS (SELECT 1 FROM worklogs) \
                 OR EXISTS (SELECT 1 FROM daily_reports)) \
                 AND NOT EXISTS (SELECT 1 FROM territory_day_stats) AS missing",
            )
            .fetch_one(pool)
            .await?;
            Ok(row.try_get::<bool, _>("missing")?)
        })
    }

    /// Every rollup row (for tests and the rebuild's comparison).
    pub async fn all_rollups(&self) -> Result<BTreeMap<RollupKey, i64>> {
        self.rollup_rows(
            "SELECT territory, day, category, metric, n FROM territory_day_stats WHERE n <> 0",
        )
        .await
    }

    /// The rows of a rollup query whose columns are `territory, day, category, metric, n`.
    async fn rollup_rows(&self, sql: &'static str) -> Result<BTreeMap<RollupKey, i64>> {
        on_read!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        (
                            r.try_get("territory")?,
                            r.try_get("day")?,
                            r.try_get("category")?,
                            r.try_get("metric")?,
                        ),
                        r.try_get::<i64, _>("n")?,
                    ))
                })
                .collect()
        })
    }

    /// The monthly rollup rows that differ from the sum of their days (each key of either
    /// table whose numbers disagree, with both numbers): empty when the two tables agree.
    pub async fn month_rollups_disagreeing(&self) -> Result<Vec<(RollupKey, i64, i64)>> {
        let mut want: BTreeMap<RollupKey, i64> = BTreeMap::new();
        for ((t, d, c, m), n) in self.all_rollups().await? {
            *want
                .entry((t, domain::stats::month_of(d), c, m))
                .or_insert(0) += n;
        }
        let mut stored = self
            .rollup_rows(
                "SELECT territory, month AS day, category, metric, n \
                 FROM territory_month_stats WHERE n <> 0",
            )
            .await?;
        let mut out = Vec::new();
        for (k, n) in want {
            let got = stored.remove(&k).unwrap_or(0);
            if got != n {
                out.push((k, n, got));
            }
        }
        out.extend(stored.into_iter().map(|(k, got)| (k, 0, got)));
        Ok(out)
    }

    /// Recompute every rollup from the raw rows: each case's history replayed (its counters by
    /// `domain::case::recount`, its events by `domain::stats`), every work log and daily report;
    /// then replace the table, in one transaction that holds off every writer of rollups while
    /// it reads (SQLite: the write lock; PostgreSQL: a table lock), so no write made meanwhile
    /// is lost or counted twice. Returns the number of rows written.
    pub async fn rebuild_stats(&self) -> Result<usize> {
        let backend = self.backend();
        Ok(on_write!(self, tx => {
            if backend == crate::Backend::Postgres {
                sqlx::query("LOCK TABLE territory_day_stats, territory_month_stats IN EXCLUSIVE MODE")
                    .execute(&mut **tx)
                    .await?;
            }
            let rows = self.recount_rollups().await?;
            let written = rows.len();
            sqlx::query("DELETE FROM territory_day_stats").execute(&mut **tx).await?;
            sqlx::query("DELETE FROM territory_month_stats").execute(&mut **tx).await?;
            rollups_in_tx!(tx, rows);
            written
        }))
    }

    /// Every rollup recomputed from the raw rows (see [`Db::rebuild_stats`]).
    pub async fn recount_rollups(&self) -> Result<Vec<RollupDelta>> {
        let mut deltas: BTreeMap<RollupKey, i64> = BTreeMap::new();
        let mut add = |ds: Vec<RollupDelta>| {
            for (k, n) in domain::stats::summed(ds) {
                *deltas.entry(k).or_insert(0) += n;
            }
        };
        let mut after = i64::MIN;
        loop {
            let cases: Vec<CaseRecord> = self.cases_after(after, 2_000).await?;
            let Some(last) = cases.last() else { break };
            after = last.id;
            let ids: Vec<i64> = cases.iter().map(|c| c.id).collect();
            let mut events = self.events_of(&ids).await?;
            for c in &cases {
                let evs = events.remove(&c.id).unwrap_or_default();
                let history: Vec<domain::case::Event> = evs
                    .iter()
                    .filter_map(|e| serde_json::from_str(&e.body).ok())
                    .collect();
                let counters: Vec<CounterChange> = domain::case::recount(&history)
                    .into_iter()
                    .map(|((unit, day, counter), n)| CounterChange {
                        unit,
                        day,
                        counter: counter.as_str().to_owned(),
                        delta: n,
                    })
                    .collect();
                add(case_write_rollups(c, &evs, &counters));
            }
        }
        let logs: Vec<(String, NaiveDate, String, String)> = on_read!(self, pool => {
            sqlx::query("SELECT territory, day, kind, details FROM worklogs")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("territory")?, r.try_get("day")?, r.try_get("kind")?, r.try_get("details")?)))
                .collect::<Result<_>>()?
        });
        for (t, day, kind, details) in &logs {
            let (Ok(t), Some(kind)) = (
                TerritoryCode::parse(t),
                domain::fieldwork::WorklogKind::parse(kind),
            ) else {
                continue;
            };
            let attendees = serde_json::from_str::<domain::fieldwork::WorklogDetails>(details)
                .map(|d| d.attendees())
                .unwrap_or(0);
            add(domain::stats::worklog_rollups(&t, *day, kind, attendees));
        }
        let reports: Vec<(String, NaiveDate, bool)> = on_read!(self, pool => {
            sqlx::query("SELECT territory, day, nothing_to_report FROM daily_reports")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("territory")?, r.try_get("day")?, r.try_get("nothing_to_report")?)))
                .collect::<Result<_>>()?
        });
        for (t, day, zero) in &reports {
            let Ok(t) = TerritoryCode::parse(t) else {
                continue;
            };
            add(domain::stats::daily_report_rollups(&t, *day, None, *zero));
        }
        deltas.retain(|_, n| *n != 0);
        Ok(deltas
            .into_iter()
            .map(|((territory, day, category, metric), delta)| RollupDelta {
                territory,
                day,
                category,
                metric,
                delta,
            })
            .collect())
    }

    async fn cases_after(&self, after: i64, limit: i64) -> Result<Vec<CaseRecord>> {
        let ids: Vec<i64> = on_read!(self, pool => {
            sqlx::query("SELECT id FROM cases WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("id"))
                .collect::<std::result::Result<_, _>>()?
        });
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.case_by_id(id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn events_of(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<EventRecord>>> {
        let mut out: HashMap<i64, Vec<EventRecord>> = HashMap::new();
        for &id in ids {
            out.insert(id, self.case_events(id).await?);
        }
        Ok(out)
    }
}
