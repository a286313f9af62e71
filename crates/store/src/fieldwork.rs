//! Work logs (台账) and daily reports (日报), each written with its statistics rollups in one
//! transaction.

use chrono::{DateTime, NaiveDate, Utc};
use domain::TerritoryCode;
use domain::fieldwork::WorklogKind;
use serde::Serialize;
use sqlx::Row;

use crate::{Db, Result};

/// A work log as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorklogRecord {
    pub id: i64,
    pub account: i64,
    pub kind: String,
    pub territory: String,
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    /// The parsed details as JSON (`domain::fieldwork::WorklogDetails`).
    pub details: String,
    pub case_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Which work logs to list: an account's own, or those under a node, of a kind, over days.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorklogFilter<'a> {
    pub account: Option<i64>,
    /// The node's code: logs of it and everything below it.
    pub within: Option<&'a str>,
    pub kind: Option<WorklogKind>,
    /// Days counted on, both inclusive (Asia/Shanghai).
    pub days: Option<(NaiveDate, NaiveDate)>,
    /// Ids below this one (the last of the previous page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// A new work log (its id is handed out by the store).
#[derive(Debug, Clone)]
pub struct NewWorklog {
    pub account: i64,
    pub kind: WorklogKind,
    pub territory: TerritoryCode,
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    pub details: String,
    pub attendees: u32,
    pub case_id: Option<i64>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A daily report to store.
#[derive(Debug, Clone, Copy)]
pub struct NewDailyReport<'a> {
    pub account: i64,
    /// The reporter's node (where a first report of the day counts).
    pub territory: &'a TerritoryCode,
    pub day: NaiveDate,
    pub nothing_to_report: bool,
    pub text: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// A daily report as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DailyReportRecord {
    pub account: i64,
    pub day: NaiveDate,
    pub territory: String,
    pub nothing_to_report: bool,
    pub text: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! worklog_from_row {
    ($r:expr) => {{
        let r = $r;
        WorklogRecord {
            id: r.try_get("id")?,
            account: r.try_get("account")?,
            kind: r.try_get("kind")?,
            territory: r.try_get("territory")?,
            at: r.try_get("at")?,
            day: r.try_get("day")?,
            details: r.try_get("details")?,
            case_id: r.try_get("case_id")?,
            idempotency_key: r.try_get("idempotency_key")?,
            created_at: r.try_get("created_at")?,
        }
    }};
}

macro_rules! report_from_row {
    ($r:expr) => {{
        let r = $r;
        DailyReportRecord {
            account: r.try_get("account")?,
            day: r.try_get("day")?,
            territory: r.try_get("territory")?,
            nothing_to_report: r.try_get("nothing_to_report")?,
            text: r.try_get("text")?,
            idempotency_key: r.try_get("idempotency_key")?,
            created_at: r.try_get("created_at")?,
            updated_at: r.try_get("updated_at")?,
        }
    }};
}

/// What storing a work log did.
#[derive(Debug, Clone, PartialEq)]
pub enum WorklogInsert {
    New(WorklogRecord),
    /// The idempotency key was stored before: the first log.
    Existing(WorklogRecord),
}

impl Db {
    /// The log stored under an idempotency key, if any.
    pub async fn worklog_by_key(&self, key: &str) -> Result<Option<WorklogRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM worklogs WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(worklog_from_row!(&r)),
                None => None,
            })
        })
    }

    /// Store a work log and its rollups in one transaction; a repeated idempotency key stores
    /// nothing and returns the first log.
    pub async fn insert_worklog(&self, w: NewWorklog) -> Result<WorklogInsert> {
        Ok(on_write!(self, tx => {
            let existing = match &w.idempotency_key {
                Some(k) => sqlx::query("SELECT * FROM worklogs WHERE idempotency_key = $1")
                    .bind(k)
                    .fetch_optional(&mut **tx)
                    .await?,
                None => None,
            };
            match existing {
                Some(r) => WorklogInsert::Existing(worklog_from_row!(&r)),
                None => {
                    let id: i64 = sqlx::query(
                        "INSERT INTO case_sequences (name, last) VALUES ('worklog_id', 1) \
                         ON CONFLICT (name) DO UPDATE SET last = case_sequences.last + 1 RETURNING last",
                    )
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("last")?;
                    let row = sqlx::query(
                        "INSERT INTO worklogs (id, account, kind, territory, at, day, details, case_id, \
                         idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         RETURNING *",
                    )
                    .bind(id)
                    .bind(w.account)
                    .bind(w.kind.as_str())
                    .bind(w.territory.as_str())
                    .bind(w.at)
                    .bind(w.day)
                    .bind(&w.details)
                    .bind(w.case_id)
                    .bind(&w.idempotency_key)
                    .bind(w.created_at)
                    .fetch_one(&mut **tx)
                    .await?;
                    let rec = worklog_from_row!(&row);
                    rollups_in_tx!(tx, domain::stats::worklog_rollups(&w.territory, w.day, w.kind, w.attendees));
                    WorklogInsert::New(rec)
                }
            }
        }))
    }

    /// Work logs matching `f`, newest first, each with its author's name.
    pub async fn worklogs(&self, f: &WorklogFilter<'_>) -> Result<Vec<(WorklogRecord, String)>> {
        on_read!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT w.*, a.display_name AS author FROM worklogs w \
                 JOIN accounts a ON a.id = w.account WHERE 1 = 1",
            );
            if let Some(a) = f.account {
                qb.push(" AND w.account = ").push_bind(a);
            }
            if let Some(p) = f.within {
                // A range, not a LIKE, so that the (territory, day) index serves it.
                let (lo, hi) = crate::territory::code_range(p);
                qb.push(" AND w.territory >= ").push_bind(lo);
                qb.push(" AND w.territory < ").push_bind(hi);
            }
            if let Some(k) = f.kind {
                qb.push(" AND w.kind = ").push_bind(k.as_str());
            }
            if let Some((from, to)) = f.days {
                qb.push(" AND w.day >= ").push_bind(from);
                qb.push(" AND w.day <= ").push_bind(to);
            }
            if let Some(b) = f.before {
                qb.push(" AND w.id < ").push_bind(b);
            }
            qb.push(" ORDER BY w.id DESC LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((worklog_from_row!(r), r.try_get("author")?)))
                .collect()
        })
    }

    /// Store a daily report, replacing the same person's report of the same day; the rollups
    /// count one report per (person, day) whatever the number of replacements. Returns the
    /// stored report and whether it replaced one.
    pub async fn put_daily_report(
        &self,
        r: &NewDailyReport<'_>,
    ) -> Result<(DailyReportRecord, bool)> {
        let NewDailyReport {
            account,
            territory,
            day,
            nothing_to_report,
            text,
            idempotency_key,
            now,
        } = *r;
        Ok(on_write!(self, tx => {
            let before = sqlx::query("SELECT * FROM daily_reports WHERE account = $1 AND day = $2")
                .bind(account)
                .bind(day)
                .fetch_optional(&mut **tx)
                .await?;
            let before = match before {
                Some(r) => Some(report_from_row!(&r)),
                None => None,
            };
            match &before {
                // The same request again (a retried send): nothing changes.
                Some(b) if idempotency_key.is_some() && b.idempotency_key.as_deref() == idempotency_key => {
                    (b.clone(), false)
                }
                _ => {
                    // The report counts where it was first filed.
                    let node = match &before {
                        Some(b) => TerritoryCode::parse(&b.territory).unwrap_or_else(|_| territory.clone()),
                        None => territory.clone(),
                    };
                    let row = sqlx::query(
                        "INSERT INTO daily_reports (account, day, territory, nothing_to_report, text, \
                         idempotency_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                         ON CONFLICT (account, day) DO UPDATE SET nothing_to_report = excluded.nothing_to_report, \
                         text = excluded.text, idempotency_key = excluded.idempotency_key, \
                         updated_at = excluded.updated_at RETURNING *",
                    )
                    .bind(account)
                    .bind(day)
                    .bind(node.as_str())
                    .bind(nothing_to_report)
                    .bind(text)
                    .bind(idempotency_key)
                    .bind(now)
                    .fetch_one(&mut **tx)
                    .await?;
                    let rec = report_from_row!(&row);
                    rollups_in_tx!(tx, domain::stats::daily_report_rollups(
                        &node, day, before.as_ref().map(|b| b.nothing_to_report), nothing_to_report));
                    (rec, before.is_some())
                }
            }
        }))
    }

    /// An account's daily reports from `from` to `to`, newest first.
    pub async fn daily_reports_of(
        &self,
        account: i64,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyReportRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM daily_reports WHERE account = $1 AND day >= $2 AND day <= $3 ORDER BY day DESC",
            )
            .bind(account)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(report_from_row!(r))).collect()
        })
    }
}
