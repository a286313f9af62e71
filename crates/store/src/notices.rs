//! Notices (通知): written by a level's centre to the grid workers and household heads of some
//! nodes; the recipients are fixed when the notice is sent (one row per account), and each
//! row records when its account read and acknowledged it. The notice keeps its own count of
//! acknowledgements, updated in the acknowledging transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{Db, Result};

/// A notice to send.
#[derive(Debug, Clone)]
pub struct NewNotice {
    pub title: String,
    pub body: String,
    pub title_bo: Option<String>,
    pub body_bo: Option<String>,
    /// The target nodes' codes with the LIKE prefix of each subtree.
    pub territories: Vec<(String, String)>,
    pub to_workers: bool,
    pub to_heads: bool,
    pub sender: i64,
    pub sender_scope: String,
    pub sent_at: DateTime<Utc>,
    /// Account-scoped (`"<account>:<key>"`).
    pub idempotency_key: Option<String>,
}

/// A stored notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub title_bo: Option<String>,
    pub body_bo: Option<String>,
    pub territories: Vec<String>,
    pub to_workers: bool,
    pub to_heads: bool,
    pub sender: i64,
    pub sender_name: String,
    pub sender_scope: String,
    pub sent_at: DateTime<Utc>,
    pub recipients_total: i64,
    pub acknowledged: i64,
}

/// A notice as one recipient holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedNotice {
    pub notice: NoticeRecord,
    pub read_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// One recipient of a notice, for its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecipient {
    pub account: i64,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scope: String,
    pub read_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

const NOTICE_COLUMNS: &str = "n.id, n.title, n.body, n.title_bo, n.body_bo, n.territories, \
    n.to_workers, n.to_heads, n.sender, a.display_name AS sender_name, n.sender_scope, n.sent_at, \
    n.recipients_total, n.acknowledged";

macro_rules! notice_from_row {
    ($r:expr) => {{
        let r = $r;
        let territories: String = r.try_get("territories")?;
        NoticeRecord {
            id: r.try_get("id")?,
            title: r.try_get("title")?,
            body: r.try_get("body")?,
            title_bo: r.try_get("title_bo")?,
            body_bo: r.try_get("body_bo")?,
            territories: territories
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            to_workers: r.try_get("to_workers")?,
            to_heads: r.try_get("to_heads")?,
            sender: r.try_get("sender")?,
            sender_name: r.try_get("sender_name")?,
            sender_scope: r.try_get("sender_scope")?,
            sent_at: r.try_get("sent_at")?,
            recipients_total: r.try_get("recipients_total")?,
            acknowledged: r.try_get("acknowledged")?,
        }
    }};
}

/// When a recipient read or acknowledged a notice, if he has.
type Seen = Option<DateTime<Utc>>;

/// What sending did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeInsert {
    New(NoticeRecord),
    /// The idempotency key was stored before: the first notice.
    Existing(NoticeRecord),
}

impl Db {
    /// Store a notice and its recipients (the active accounts of the audience's roles whose
    /// node lies in one of the target subtrees) in one transaction.
    pub async fn insert_notice(&self, n: NewNotice) -> Result<NoticeInsert> {
        let id = on_write!(self, tx => {
            let existing: Option<i64> = match &n.idempotency_key {
                Some(k) => sqlx::query("SELECT id FROM notices WHERE idempotency_key = $1")
                    .bind(k)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get("id"))
                    .transpose()?,
                None => None,
            };
            match existing {
                Some(id) => Err(id),
                None => {
                    let id: i64 = sqlx::query(
                        "INSERT INTO case_sequences (name, last) VALUES ('notice_id', 1) \
                         ON CONFLICT (name) DO UPDATE SET last = case_sequences.last + 1 RETURNING last",
                    )
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("last")?;
                    let codes: Vec<&str> = n.territories.iter().map(|(c, _)| c.as_str()).collect();
                    sqlx::query(
                        "INSERT INTO notices (id, title, body, title_bo, body_bo, territories, to_workers, \
                         to_heads, sender, sender_scope, sent_at, recipients_total, acknowledged, \
                         idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, 0, $12)",
                    )
                    .bind(id)
                    .bind(&n.title)
                    .bind(&n.body)
                    .bind(&n.title_bo)
                    .bind(&n.body_bo)
                    .bind(codes.join(","))
                    .bind(n.to_workers)
                    .bind(n.to_heads)
                    .bind(n.sender)
                    .bind(&n.sender_scope)
                    .bind(n.sent_at)
                    .bind(&n.idempotency_key)
                    .execute(&mut **tx)
                    .await?;
                    let mut roles = Vec::new();
                    if n.to_workers {
                        roles.push("'grid_worker'");
                    }
                    if n.to_heads {
                        roles.push("'household_head'");
                    }
                    // Placeholders $2.. are the subtree prefixes; the roles are constants.
                    let within = (0..n.territories.len())
                        .map(|i| format!("scope LIKE ${}", i + 2))
                        .collect::<Vec<_>>()
                        .join(" OR ");
                    let sql = format!(
                        "INSERT INTO notice_recipients (notice, account) SELECT $1, id FROM accounts \
                         WHERE NOT disabled AND role IN ({}) AND ({within})",
                        roles.join(", ")
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
                    for (_, prefix) in &n.territories {
                        q = q.bind(format!("{prefix}%"));
                    }
                    let reached = q.execute(&mut **tx).await?.rows_affected();
                    sqlx::query("UPDATE notices SET recipients_total = $1 WHERE id = $2")
                        .bind(reached as i64)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    Ok(id)
                }
            }
        });
        let (id, new) = match id {
            Ok(id) => (id, true),
            Err(id) => (id, false),
        };
        let rec = self
            .notice(id)
            .await?
            .ok_or_else(|| crate::StoreError::Corrupt(format!("notice {id} vanished")))?;
        Ok(if new {
            NoticeInsert::New(rec)
        } else {
            NoticeInsert::Existing(rec)
        })
    }

    pub async fn notice(&self, id: i64) -> Result<Option<NoticeRecord>> {
        on_read!(self, pool => {
            let sql = format!("SELECT {NOTICE_COLUMNS} FROM notices n JOIN accounts a ON a.id = n.sender WHERE n.id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
            Ok(match row {
                Some(r) => Some(notice_from_row!(&r)),
                None => None,
            })
        })
    }

    /// The notices sent from one desk (its node), newest first.
    pub async fn notices_sent_from(&self, scope: &str, limit: i64) -> Result<Vec<NoticeRecord>> {
        on_read!(self, pool => {
            let sql = format!(
                "SELECT {NOTICE_COLUMNS} FROM notices n JOIN accounts a ON a.id = n.sender \
                 WHERE n.sender_scope = $1 ORDER BY n.id DESC LIMIT $2"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(scope).bind(limit).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(notice_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The notices addressed to an account: not yet acknowledged first, then newest first.
    pub async fn notices_for(&self, account: i64, limit: i64) -> Result<Vec<ReceivedNotice>> {
        on_read!(self, pool => {
            let sql = format!(
                "SELECT {NOTICE_COLUMNS}, r.read_at, r.acknowledged_at FROM notice_recipients r \
                 JOIN notices n ON n.id = r.notice JOIN accounts a ON a.id = n.sender \
                 WHERE r.account = $1 \
                 ORDER BY CASE WHEN r.acknowledged_at IS NULL THEN 0 ELSE 1 END, n.id DESC LIMIT $2"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(account).bind(limit).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(ReceivedNotice {
                    notice: notice_from_row!(r),
                    read_at: r.try_get("read_at")?,
                    acknowledged_at: r.try_get("acknowledged_at")?,
                });
            }
            Ok(out)
        })
    }

    /// One account's copy of a notice (`None`: not addressed to it).
    pub async fn received_notice(&self, id: i64, account: i64) -> Result<Option<ReceivedNotice>> {
        let row: Option<(Seen, Seen)> = on_read!(self, pool => {
            sqlx::query("SELECT read_at, acknowledged_at FROM notice_recipients WHERE notice = $1 AND account = $2")
                .bind(id)
                .bind(account)
                .fetch_optional(pool)
                .await?
                .map(|r| Ok::<_, sqlx::Error>((r.try_get("read_at")?, r.try_get("acknowledged_at")?)))
                .transpose()?
        });
        let Some((read_at, acknowledged_at)) = row else {
            return Ok(None);
        };
        Ok(self.notice(id).await?.map(|notice| ReceivedNotice {
            notice,
            read_at,
            acknowledged_at,
        }))
    }

    /// The recipients of a notice: not yet acknowledged first, then by node and name.
    pub async fn notice_recipients(&self, id: i64, limit: i64) -> Result<Vec<NoticeRecipient>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT a.id, a.username, a.display_name, a.role, a.scope, r.read_at, r.acknowledged_at \
                 FROM notice_recipients r JOIN accounts a ON a.id = r.account WHERE r.notice = $1 \
                 ORDER BY CASE WHEN r.acknowledged_at IS NULL THEN 0 ELSE 1 END, a.scope, a.username LIMIT $2",
            )
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(NoticeRecipient {
                    account: r.try_get("id")?,
                    username: r.try_get("username")?,
                    display_name: r.try_get("display_name")?,
                    role: r.try_get("role")?,
                    scope: r.try_get("scope")?,
                    read_at: r.try_get("read_at")?,
                    acknowledged_at: r.try_get("acknowledged_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Mark a notice read by one of its recipients (the first time only).
    pub async fn mark_notice_read(&self, id: i64, account: i64, now: DateTime<Utc>) -> Result<()> {
        on_write!(self, tx => {
            sqlx::query("UPDATE notice_recipients SET read_at = $3 WHERE notice = $1 AND account = $2 AND read_at IS NULL")
                .bind(id)
                .bind(account)
                .bind(now)
                .execute(&mut **tx)
                .await?;
        });
        Ok(())
    }

    /// Acknowledge a notice for one of its recipients: the first time counts (and reads it);
    /// again changes nothing. `false` when the notice is not addressed to the account.
    pub async fn acknowledge_notice(
        &self,
        id: i64,
        account: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(on_write!(self, tx => {
            let first = sqlx::query(
                "UPDATE notice_recipients SET acknowledged_at = $3, read_at = COALESCE(read_at, $3) \
                 WHERE notice = $1 AND account = $2 AND acknowledged_at IS NULL",
            )
            .bind(id)
            .bind(account)
            .bind(now)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if first == 1 {
                sqlx::query("UPDATE notices SET acknowledged = acknowledged + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                true
            } else {
                sqlx::query("SELECT 1 AS one FROM notice_recipients WHERE notice = $1 AND account = $2")
                    .bind(id)
                    .bind(account)
                    .fetch_optional(&mut **tx)
                    .await?
                    .is_some()
            }
        }))
    }
}
