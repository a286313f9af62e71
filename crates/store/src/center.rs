//! The war room's reads: the open and overdue load of a node per child, and its red-carded and
//! large-dispute lists. Every query walks the open cases of the node only (the partial index
//! `cases_open_territory`), never the history.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::cases::CaseRecord;
use crate::territory::code_range;
use crate::{Db, Result};

/// The open load of one child of a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Load {
    /// The child's code (the node's own code for cases placed at the node itself).
    pub code: String,
    pub open: i64,
    /// Open cases whose running step is past its deadline (parked ones do not run).
    pub overdue: i64,
}

/// The condition of the partial index, repeated word for word.
const OPEN: &str = "status NOT IN ('closed','rejected','merged')";

impl Db {
    /// Open and overdue cases under `prefix`, grouped by the first `child_len` characters of
    /// their territory code.
    pub async fn open_load(
        &self,
        prefix: &str,
        child_len: usize,
        now: DateTime<Utc>,
    ) -> Result<Vec<Load>> {
        let (lo, hi) = code_range(prefix);
        // A number, not input: formatted into the query (PostgreSQL's substr takes an int).
        let len = child_len.min(18);
        let sql = format!(
            "SELECT substr(territory, 1, {len}) AS child, COUNT(*) AS open, \
             SUM(CASE WHEN deadline < $1 AND status <> 'parked' THEN 1 ELSE 0 END) AS overdue \
             FROM cases WHERE territory >= $2 AND territory < $3 AND {OPEN} \
             GROUP BY substr(territory, 1, {len}) ORDER BY child"
        );
        on_read!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(&lo)
                .bind(&hi)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Load {
                        code: r.try_get("child")?,
                        open: r.try_get("open")?,
                        overdue: r.try_get::<Option<i64>, _>("overdue")?.unwrap_or(0),
                    })
                })
                .collect()
        })
    }

    /// Open cases under `prefix` whose red card has fired (the clock's, at twice the limit),
    /// latest card first.
    pub async fn red_carded(&self, prefix: &str, limit: i64) -> Result<Vec<CaseRecord>> {
        let (lo, hi) = code_range(prefix);
        let sql = format!(
            "SELECT c.* FROM cases c JOIN case_timers t ON t.case_id = c.id AND t.kind = 'red_card' \
             WHERE c.territory >= $1 AND c.territory < $2 AND c.{OPEN} AND t.fired_at IS NOT NULL \
             ORDER BY t.fired_at DESC, c.id DESC LIMIT $3"
        );
        on_read!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&lo)
                .bind(&hi)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(case_from_row!(r, self))).collect()
        })
    }

    /// Open disputes under `prefix` whose mediation record counts at least `min_people`
    /// people involved, most people first, with that number.
    pub async fn large_disputes(
        &self,
        prefix: &str,
        min_people: u32,
        limit: usize,
    ) -> Result<Vec<(CaseRecord, u32)>> {
        let (lo, hi) = code_range(prefix);
        let sql = format!(
            "SELECT c.*, m.body AS mediation FROM cases c JOIN mediation_records m ON m.case_id = c.id \
             WHERE c.territory >= $1 AND c.territory < $2 AND c.{OPEN} ORDER BY c.id DESC LIMIT 5000"
        );
        let mut out: Vec<(CaseRecord, u32)> = on_read!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&lo)
                .bind(&hi)
                .fetch_all(pool)
                .await?;
            let mut v = Vec::new();
            for r in &rows {
                let body: String = r.try_get("mediation")?;
                let people = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|b| b["people_involved"].as_u64())
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0);
                if people >= min_people {
                    v.push((case_from_row!(r, self), people));
                }
            }
            v
        });
        out.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.id.cmp(&a.0.id)));
        out.truncate(limit);
        Ok(out)
    }
}

/// One unit's sum of one counter over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCount {
    pub unit: String,
    pub counter: String,
    pub n: i64,
}

impl Db {
    /// Assessment counters of every unit whose code starts with `prefix` (a territory's units:
    /// its centres, grids and departments), summed per unit and counter over `[from, to]`.
    /// Reads the period's rows by day (`case_counters_day`), not the units' whole history.
    pub async fn counter_sums_by_unit(
        &self,
        prefix: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<UnitCount>> {
        let (lo, hi) = code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT unit, counter, CAST(SUM(n) AS BIGINT) AS n FROM case_counters \
                 WHERE day >= $1 AND day <= $2 AND unit >= $3 AND unit < $4 \
                 GROUP BY unit, counter ORDER BY unit, counter",
            )
            .bind(from)
            .bind(to)
            .bind(&lo)
            .bind(&hi)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(UnitCount {
                        unit: r.try_get("unit")?,
                        counter: r.try_get("counter")?,
                        n: r.try_get("n")?,
                    })
                })
                .collect()
        })
    }
}

/// A case as the daily analysis sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighted {
    pub id: i64,
    pub code: String,
    pub category: String,
    pub territory: String,
    pub status: String,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub created_at: DateTime<Utc>,
}

impl Db {
    /// Cases created in `[from, to)` under `prefix` (at most `limit`, oldest first), read by
    /// creation time (`cases_created`).
    pub async fn cases_created_between(
        &self,
        prefix: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Sighted>> {
        let (lo, hi) = code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, code, category, territory, status, lat, lng, created_at FROM cases \
                 WHERE created_at >= $1 AND created_at < $2 AND territory >= $3 AND territory < $4 \
                 ORDER BY created_at, id LIMIT $5",
            )
            .bind(from)
            .bind(to)
            .bind(&lo)
            .bind(&hi)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Sighted {
                        id: r.try_get("id")?,
                        code: r.try_get("code")?,
                        category: r.try_get("category")?,
                        territory: r.try_get("territory")?,
                        status: r.try_get("status")?,
                        lat: r.try_get("lat")?,
                        lng: r.try_get("lng")?,
                        created_at: r.try_get("created_at")?,
                    })
                })
                .collect()
        })
    }
}

/// A person expected to send daily reports (an enabled grid worker or household head), with
/// the report of one day if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reporter {
    pub account: i64,
    pub username: String,
    pub name: String,
    /// `grid_worker` or `household_head`.
    pub role: String,
    /// The person's node: a grid or a joint-defence group.
    pub scope: String,
    pub unit: Option<String>,
    /// The day's report: (nothing to report, last sent).
    pub report: Option<(bool, DateTime<Utc>)>,
}

/// Reports of one person over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportCount {
    pub account: i64,
    pub received: i64,
    pub zero: i64,
}

impl Db {
    /// The grid workers and household heads under `prefix` (accounts by their scope), each with
    /// its report of `day`: the daily collection by name (日收集). Disabled accounts are left out
    /// unless they reported that day.
    pub async fn daily_roster(
        &self,
        prefix: &str,
        day: chrono::NaiveDate,
    ) -> Result<Vec<Reporter>> {
        let (lo, hi) = code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT a.id, a.username, a.display_name, a.role, a.scope, a.unit, \
                 r.nothing_to_report, r.updated_at FROM accounts a \
                 LEFT JOIN daily_reports r ON r.account = a.id AND r.day = $1 \
                 WHERE a.role IN ('grid_worker', 'household_head') AND a.scope >= $2 AND a.scope < $3 \
                 AND (a.disabled = FALSE OR r.account IS NOT NULL) \
                 ORDER BY a.scope, a.role DESC, a.username",
            )
            .bind(day)
            .bind(&lo)
            .bind(&hi)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let zero: Option<bool> = r.try_get("nothing_to_report")?;
                    let at: Option<DateTime<Utc>> = r.try_get("updated_at")?;
                    Ok(Reporter {
                        account: r.try_get("id")?,
                        username: r.try_get("username")?,
                        name: r.try_get("display_name")?,
                        role: r.try_get("role")?,
                        scope: r.try_get("scope")?,
                        unit: r.try_get("unit")?,
                        report: zero.zip(at),
                    })
                })
                .collect()
        })
    }

    /// Daily reports of `from..=to` per person of `role` under `prefix`: received, and of them
    /// zero reports (one row per person who sent any).
    pub async fn report_counts_by_account(
        &self,
        prefix: &str,
        role: &str,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<ReportCount>> {
        let (lo, hi) = code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT r.account, COUNT(*) AS n, \
                 CAST(SUM(CASE WHEN r.nothing_to_report THEN 1 ELSE 0 END) AS BIGINT) AS z \
                 FROM daily_reports r JOIN accounts a ON a.id = r.account \
                 WHERE a.role = $1 AND a.scope >= $2 AND a.scope < $3 AND r.day >= $4 AND r.day <= $5 \
                 GROUP BY r.account",
            )
            .bind(role)
            .bind(&lo)
            .bind(&hi)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(ReportCount {
                        account: r.try_get("account")?,
                        received: r.try_get("n")?,
                        zero: r.try_get::<Option<i64>, _>("z")?.unwrap_or(0),
                    })
                })
                .collect()
        })
    }

    /// The subtree counts of every node under `prefix` that has them, by code, in one query.
    pub async fn counts_under(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashMap<String, crate::territory::Counts>> {
        let (lo, hi) = code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT code, n_households, n_members, n_groups, n_grids FROM territory_counts \
                 WHERE code >= $1 AND code < $2",
            )
            .bind(&lo)
            .bind(&hi)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String, _>("code")?, counts_from_row!(r))))
                .collect()
        })
    }
}

impl Db {
    /// Cases created in `[from, to)` under `prefix`, counted per category (through the
    /// creation-time index: the work is the period's cases, not the node's history).
    pub async fn cases_by_category(
        &self,
        prefix: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>> {
        let (lo, hi) = code_range(prefix);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT category, COUNT(*) AS n FROM cases \
                 WHERE created_at >= $1 AND created_at < $2 AND territory >= $3 AND territory < $4 \
                 GROUP BY category ORDER BY category",
            )
            .bind(from)
            .bind(to)
            .bind(&lo)
            .bind(&hi)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("category")?, r.try_get("n")?)))
                .collect()
        })
    }
}
