//! Attachments (photos, audio notes) kept in the database, so that every server on one
//! PostgreSQL serves the same files: the metadata and the bytes of each, per owner (a case,
//! optionally one event of it; a work log), numbered per kind with the per-owner limit of
//! `domain::attachment` enforced inside the writing transaction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{Db, Result, StoreError};

/// A checked file to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    /// `case` or `worklog` (`domain::attachment::OwnerKind`).
    pub owner_kind: String,
    pub owner_id: i64,
    /// The event of the owner's history it came with (a case's report, its "report handled").
    pub event_seq: Option<i64>,
    /// `photo` or `audio`.
    pub kind: String,
    /// The sniffed MIME type.
    pub content_type: String,
    pub sha256: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// The account that uploaded it; `None` for a resident's report.
    pub created_by: Option<i64>,
    pub data: Vec<u8>,
}

/// A stored attachment, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttachmentRecord {
    pub id: i64,
    pub owner_kind: String,
    pub owner_id: i64,
    pub event_seq: Option<i64>,
    pub kind: String,
    /// 1, 2, … per owner and kind.
    pub position: i64,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<i64>,
}

const META: &str = "id, owner_kind, owner_id, event_seq, kind, position, content_type, size, \
                    sha256, width, height, created_at, created_by";

macro_rules! attachment_from_row {
    ($r:expr) => {{
        let r = $r;
        AttachmentRecord {
            id: r.try_get("id")?,
            owner_kind: r.try_get("owner_kind")?,
            owner_id: r.try_get("owner_id")?,
            event_seq: r.try_get("event_seq")?,
            kind: r.try_get("kind")?,
            position: r.try_get("position")?,
            content_type: r.try_get("content_type")?,
            size: r.try_get("size")?,
            sha256: r.try_get("sha256")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
        }
    }};
}

/// Write `$items` (a `Vec<NewAttachment>`) inside the open transaction `$tx`, after checking
/// the per-owner limit of each kind; evaluates to `Result<Vec<AttachmentRecord>>`, failing
/// with [`StoreError::LimitReached`] before anything is written when a limit would be passed.
/// Two writers racing for the same place collide on the unique position instead.
#[macro_export]
macro_rules! write_attachments_in_tx {
    ($tx:expr, $items:expr) => {{
        let items: Vec<$crate::attachments::NewAttachment> = $items;
        let mut plan: Vec<(String, i64, String, i64)> = Vec::new();
        let mut out: $crate::Result<Vec<$crate::attachments::AttachmentRecord>> = Ok(Vec::new());
        for it in &items {
            if plan
                .iter()
                .any(|(k, o, kind, _)| *k == it.owner_kind && *o == it.owner_id && *kind == it.kind)
            {
                continue;
            }
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, COALESCE(MAX(position), 0) AS top FROM attachments \
                 WHERE owner_kind = $1 AND owner_id = $2 AND kind = $3",
            )
            .bind(&it.owner_kind)
            .bind(it.owner_id)
            .bind(&it.kind)
            .fetch_one(&mut **$tx)
            .await?;
            let existing: i64 = row.try_get("n")?;
            let top: i64 = row.try_get("top")?;
            let adding = items
                .iter()
                .filter(|x| {
                    x.owner_kind == it.owner_kind && x.owner_id == it.owner_id && x.kind == it.kind
                })
                .count() as i64;
            let max = domain::attachment::AttachmentKind::parse(&it.kind)
                .map_or(0, |k| k.max_per_owner() as i64);
            if existing + adding > max {
                out = Err($crate::StoreError::LimitReached {
                    kind: it.kind.clone(),
                    max,
                });
                break;
            }
            plan.push((it.owner_kind.clone(), it.owner_id, it.kind.clone(), top));
        }
        if out.is_ok() {
            let mut written = Vec::with_capacity(items.len());
            for it in items {
                let Some(slot) = plan.iter_mut().find(|(k, o, kind, _)| {
                    *k == it.owner_kind && *o == it.owner_id && *kind == it.kind
                }) else {
                    continue;
                };
                slot.3 += 1;
                let position = slot.3;
                let size = it.data.len() as i64;
                let row = sqlx::query(
                    "INSERT INTO attachments (owner_kind, owner_id, event_seq, kind, position, \
                     content_type, size, sha256, width, height, created_at, created_by, data) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                )
                .bind(&it.owner_kind)
                .bind(it.owner_id)
                .bind(it.event_seq)
                .bind(&it.kind)
                .bind(position)
                .bind(&it.content_type)
                .bind(size)
                .bind(&it.sha256)
                .bind(it.width)
                .bind(it.height)
                .bind(it.created_at)
                .bind(it.created_by)
                .bind(&it.data)
                .fetch_one(&mut **$tx)
                .await?;
                written.push($crate::attachments::AttachmentRecord {
                    id: row.try_get("id")?,
                    owner_kind: it.owner_kind,
                    owner_id: it.owner_id,
                    event_seq: it.event_seq,
                    kind: it.kind,
                    position,
                    content_type: it.content_type,
                    size,
                    sha256: it.sha256,
                    width: it.width,
                    height: it.height,
                    created_at: it.created_at,
                    created_by: it.created_by,
                });
            }
            out = Ok(written);
        }
        out
    }};
}

impl Db {
    /// Store files in one transaction: all of them, or — when a per-owner limit would be
    /// passed ([`StoreError::LimitReached`]) or anything fails — none.
    pub async fn insert_attachments(
        &self,
        items: Vec<NewAttachment>,
    ) -> Result<Vec<AttachmentRecord>> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        Ok(on_write!(self, tx => {
            write_attachments_in_tx!(tx, items)?
        }))
    }

    /// The attachments of one owner (of every event), photos first, each kind in upload order.
    pub async fn attachments_of(
        &self,
        owner_kind: &str,
        owner_id: i64,
    ) -> Result<Vec<AttachmentRecord>> {
        on_read!(self, pool => {
            let sql = format!(
                "SELECT {META} FROM attachments WHERE owner_kind = $1 AND owner_id = $2 \
                 ORDER BY CASE kind WHEN 'photo' THEN 0 ELSE 1 END, position"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(owner_kind)
                .bind(owner_id)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(attachment_from_row!(r))).collect()
        })
    }

    /// The attachments of many owners of one kind (for lists), in the same order per owner.
    pub async fn attachments_of_many(
        &self,
        owner_kind: &str,
        owner_ids: &[i64],
    ) -> Result<Vec<AttachmentRecord>> {
        if owner_ids.is_empty() {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        for chunk in owner_ids.chunks(500) {
            let part: Vec<AttachmentRecord> = on_read!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new(format!(
                    "SELECT {META} FROM attachments WHERE owner_kind = "
                ));
                qb.push_bind(owner_kind.to_owned());
                qb.push(" AND owner_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY owner_id, CASE kind WHEN 'photo' THEN 0 ELSE 1 END, position");
                let rows = qb.build().fetch_all(pool).await?;
                rows.iter().map(|r| Ok(attachment_from_row!(r))).collect::<Result<Vec<_>>>()?
            });
            out.extend(part);
        }
        Ok(out)
    }

    /// One attachment's metadata.
    pub async fn attachment(&self, id: i64) -> Result<Option<AttachmentRecord>> {
        on_read!(self, pool => {
            let sql = format!("SELECT {META} FROM attachments WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(attachment_from_row!(&r)),
                None => None,
            })
        })
    }

    /// One attachment with its bytes.
    pub async fn attachment_data(&self, id: i64) -> Result<Option<(AttachmentRecord, Vec<u8>)>> {
        on_read!(self, pool => {
            let sql = format!("SELECT {META}, data FROM attachments WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => {
                    let data: Vec<u8> = r.try_get("data")?;
                    let meta = attachment_from_row!(&r);
                    if meta.size != data.len() as i64 {
                        return Err(StoreError::Corrupt(format!(
                            "attachment {id}: {} bytes stored, {} recorded",
                            data.len(),
                            meta.size
                        )));
                    }
                    Some((meta, data))
                }
                None => None,
            })
        })
    }
}
