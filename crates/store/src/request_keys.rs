//! Idempotency keys of case actions and uploads: a client's key with the answer it got,
//! written in the transaction of the change it names, so that the same key sent twice (a
//! retried outbox item, perhaps to another server process on the same database) changes
//! nothing the second time and gets the first answer.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{Db, Result};

/// A key to store with the change it names.
#[derive(Debug, Clone)]
pub struct NewRequestKey {
    /// Account-scoped: `"<account id>:<client key>"`.
    pub key: String,
    /// `case_action` or `case_attachments`.
    pub kind: &'static str,
    /// The case.
    pub target: i64,
    /// The answer, as JSON (the case row after the action; the ids of the stored files).
    pub answer: String,
    pub created_at: DateTime<Utc>,
}

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKeyRecord {
    pub kind: String,
    pub target: i64,
    pub answer: String,
}

/// Insert `$k` (a [`NewRequestKey`]) inside the open transaction `$tx`; `true` when it was new,
/// `false` when the key was already stored.
#[macro_export]
macro_rules! request_key_in_tx {
    ($tx:expr, $k:expr) => {{
        let k: &$crate::request_keys::NewRequestKey = $k;
        sqlx::query(
            "INSERT INTO request_keys (key, kind, target, answer, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&k.key)
        .bind(k.kind)
        .bind(k.target)
        .bind(&k.answer)
        .bind(k.created_at)
        .execute(&mut **$tx)
        .await?
        .rows_affected()
            == 1
    }};
}

/// What a keyed upload did.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyedUpload {
    Stored(Vec<crate::attachments::AttachmentRecord>),
    /// The key was stored by another request first: nothing was written.
    KeyTaken,
}

impl Db {
    /// The key stored under `key`, if any.
    pub async fn request_key(&self, key: &str) -> Result<Option<RequestKeyRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT kind, target, answer FROM request_keys WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(RequestKeyRecord {
                    kind: r.try_get("kind")?,
                    target: r.try_get("target")?,
                    answer: r.try_get("answer")?,
                }),
                None => None,
            })
        })
    }

    /// [`Db::insert_attachments`] with an idempotency key stored in the same transaction; the
    /// key's answer is `answer(&stored)`.
    pub async fn insert_attachments_keyed(
        &self,
        items: Vec<crate::attachments::NewAttachment>,
        key: NewRequestKey,
        answer: impl Fn(&[crate::attachments::AttachmentRecord]) -> String,
    ) -> Result<KeyedUpload> {
        Ok(on_write!(self, tx => {
            let stored = write_attachments_in_tx!(tx, items)?;
            let k = NewRequestKey { answer: answer(&stored), ..key };
            if !request_key_in_tx!(tx, &k) {
                // Dropping the transaction rolls the files back.
                return Ok(KeyedUpload::KeyTaken);
            }
            KeyedUpload::Stored(stored)
        }))
    }
}
