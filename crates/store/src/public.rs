//! What the public doors read and keep: open cases near a point (the duplicate check), the
//! server secret behind tracking codes, cases for the Open311 request list, and the Open311
//! API keys administrators issue.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::cases::CaseRecord;
use crate::{Db, Result};

/// An issued Open311 key, without the key itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Open311Key {
    /// The first 12 characters of the key's hash: enough to name it, useless to use it.
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<i64>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Filters of the Open311 request list. Categories and ids are exact.
#[derive(Debug, Clone, Default)]
pub struct PublicCaseFilter {
    /// Only these categories (the public ones when the caller names none).
    pub categories: Vec<String>,
    /// Only these case codes.
    pub codes: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// `Some(true)`: only ended cases; `Some(false)`: only open ones.
    pub ended: Option<bool>,
    pub limit: i64,
}

impl Db {
    /// Open located cases of `category` inside a latitude/longitude box, created since `since`.
    pub async fn open_cases_in_box(
        &self,
        category: &str,
        (min_lat, max_lat, min_lng, max_lng): (f64, f64, f64, f64),
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CaseRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM cases WHERE category = $1 AND lat >= $2 AND lat <= $3 \
                 AND lng >= $4 AND lng <= $5 AND created_at >= $6 \
                 AND status NOT IN ('closed','rejected','merged') ORDER BY id DESC LIMIT $7",
            )
            .bind(category)
            .bind(min_lat)
            .bind(max_lat)
            .bind(min_lng)
            .bind(max_lng)
            .bind(since)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(case_from_row!(r, self))).collect()
        })
    }

    /// Cases for the Open311 request list, newest first.
    pub async fn public_cases(&self, f: &PublicCaseFilter) -> Result<Vec<CaseRecord>> {
        if f.categories.is_empty() {
            return Ok(vec![]);
        }
        on_read!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new("SELECT * FROM cases WHERE category IN (");
            let mut sep = qb.separated(", ");
            for c in &f.categories {
                sep.push_bind(c.clone());
            }
            qb.push(")");
            if !f.codes.is_empty() {
                qb.push(" AND code IN (");
                let mut sep = qb.separated(", ");
                for c in &f.codes {
                    sep.push_bind(c.clone());
                }
                qb.push(")");
            }
            if let Some(t) = f.from {
                qb.push(" AND created_at >= ").push_bind(t);
            }
            if let Some(t) = f.to {
                qb.push(" AND created_at <= ").push_bind(t);
            }
            match f.ended {
                Some(true) => {
                    qb.push(" AND status IN ('closed','rejected','merged')");
                }
                Some(false) => {
                    qb.push(" AND status NOT IN ('closed','rejected','merged')");
                }
                None => {}
            }
            qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter().map(|r| Ok(case_from_row!(r, self))).collect()
        })
    }

    /// The value of setting `key`, written as `candidate` if it has none yet. Several servers
    /// asking at once all get the first one written.
    pub async fn setting_or_insert(
        &self,
        key: &str,
        candidate: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        on_write!(self, tx => {
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(candidate)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        });
        Ok(self
            .setting(key)
            .await?
            .unwrap_or_else(|| candidate.to_owned()))
    }

    /// Record an Open311 key by its hash (a second key with the same hash is a conflict).
    pub async fn insert_open311_key(
        &self,
        key_hash: &str,
        name: &str,
        now: DateTime<Utc>,
        by: Option<i64>,
    ) -> Result<Open311Key> {
        on_write!(self, tx => {
            sqlx::query(
                "INSERT INTO open311_keys (key_hash, name, created_at, created_by) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(key_hash)
            .bind(name)
            .bind(now)
            .bind(by)
            .execute(&mut **tx)
            .await?;
        });
        Ok(Open311Key {
            id: key_hash.chars().take(12).collect(),
            name: name.to_owned(),
            created_at: now,
            created_by: by,
            revoked_at: None,
        })
    }

    /// The name of the live key with this hash.
    pub async fn open311_key(&self, key_hash: &str) -> Result<Option<String>> {
        on_read!(self, pool => {
            Ok(sqlx::query(
                "SELECT name FROM open311_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(key_hash)
            .fetch_optional(pool)
            .await?
            .map(|r| r.try_get::<String, _>("name"))
            .transpose()?)
        })
    }

    /// Every issued key, newest first.
    pub async fn open311_keys(&self) -> Result<Vec<Open311Key>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT key_hash, name, created_at, created_by, revoked_at FROM open311_keys \
                 ORDER BY created_at DESC",
            )
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let hash: String = r.try_get("key_hash")?;
                    Ok(Open311Key {
                        id: hash.chars().take(12).collect(),
                        name: r.try_get("name")?,
                        created_at: r.try_get("created_at")?,
                        created_by: r.try_get("created_by")?,
                        revoked_at: r.try_get("revoked_at")?,
                    })
                })
                .collect()
        })
    }

    /// Revoke the key whose hash starts with `id`; whether one was revoked.
    pub async fn revoke_open311_key(&self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        if id.len() < 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        Ok(on_write!(self, tx => {
            sqlx::query(
                "UPDATE open311_keys SET revoked_at = $1 WHERE key_hash LIKE $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(format!("{id}%"))
            .execute(&mut **tx)
            .await?
            .rows_affected()
                > 0
        }))
    }
}
