//! Accounts and sessions (bearer tokens and page cookies share one table; only the SHA-256
//! of a token is stored).

use chrono::{DateTime, Utc};
use domain::TerritoryCode;
use domain::account::{Principal, Role};
use sqlx::Row;

use crate::bulk::Value;
use crate::{Db, Result, StoreError};

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub display_name: String,
    pub role: Role,
    pub scope: TerritoryCode,
    pub unit: Option<String>,
    pub member: Option<i64>,
}

/// What login needs to know about an account.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub principal: Principal,
    pub password_hash: String,
    pub disabled: bool,
}

/// Whether a session is for the API (bearer token) or for pages (cookie).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Api,
    Web,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Api => "api",
            SessionKind::Web => "web",
        }
    }
}

/// A live session found by its token.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub principal: Principal,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

macro_rules! principal_from_row {
    ($r:expr) => {{
        let r = $r;
        let role: String = r.try_get("role")?;
        let scope: String = r.try_get("scope")?;
        Principal {
            account_id: r.try_get("id")?,
            username: r.try_get("username")?,
            display_name: r.try_get("display_name")?,
            role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
            scope: TerritoryCode::parse(&scope)
                .map_err(|e| StoreError::Corrupt(format!("scope {scope}: {e}")))?,
            unit: r.try_get("unit")?,
        }
    }};
}

impl Db {
    /// Create accounts in batches.
    pub async fn insert_accounts(
        &self,
        accounts: Vec<NewAccount>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let rows: Vec<Vec<Value>> = accounts
            .into_iter()
            .map(|a| {
                vec![
                    a.id.into(),
                    a.username.into(),
                    a.password_hash.into(),
                    a.display_name.into(),
                    a.role.as_str().into(),
                    a.scope.to_string().into(),
                    a.unit.into(),
                    a.member.into(),
                    false.into(),
                    now.into(),
                ]
            })
            .collect();
        self.insert_rows(
            "accounts",
            &[
                "id",
                "username",
                "password_hash",
                "display_name",
                "role",
                "scope",
                "unit",
                "member",
                "disabled",
                "created_at",
            ],
            rows,
        )
        .await
    }

    /// The next free account id.
    pub async fn next_account_id(&self) -> Result<i64> {
        on_read!(self, pool => {
            Ok(sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 AS n FROM accounts")
                .fetch_one(pool)
                .await?
                .try_get("n")?)
        })
    }

    /// Look an account up by user name for login.
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM accounts WHERE username = $1")
                .bind(username)
                .fetch_optional(pool)
                .await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some(Credentials {
                    principal: principal_from_row!(&r),
                    password_hash: r.try_get("password_hash")?,
                    disabled: r.try_get("disabled")?,
                })),
            }
        })
    }

    /// Store a new session under the SHA-256 of its token.
    pub async fn create_session(
        &self,
        token_hash: &str,
        account: i64,
        kind: SessionKind,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        on_write!(self, tx => {
            sqlx::query(
                "INSERT INTO sessions (token_hash, account, kind, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(token_hash)
            .bind(account)
            .bind(kind.as_str())
            .bind(csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(&mut **tx)
            .await?;
        });
        Ok(())
    }

    /// The account behind a live (unexpired, unrevoked) session of `kind`.
    pub async fn session(
        &self,
        token_hash: &str,
        kind: SessionKind,
        now: DateTime<Utc>,
    ) -> Result<Option<SessionInfo>> {
        on_read!(self, pool => {
            let row = sqlx::query(
                "SELECT a.*, s.csrf_token, s.expires_at FROM sessions s \
                 JOIN accounts a ON a.id = s.account \
                 WHERE s.token_hash = $1 AND s.kind = $2 AND s.revoked_at IS NULL \
                 AND s.expires_at > $3 AND NOT a.disabled",
            )
            .bind(token_hash)
            .bind(kind.as_str())
            .bind(now)
            .fetch_optional(pool)
            .await?;
            match row {
                None => Ok(None),
                Some(r) => Ok(Some(SessionInfo {
                    principal: principal_from_row!(&r),
                    csrf_token: r.try_get("csrf_token")?,
                    expires_at: r.try_get("expires_at")?,
                })),
            }
        })
    }

    /// Revoke one session (logout).
    pub async fn revoke_session(&self, token_hash: &str, now: DateTime<Utc>) -> Result<()> {
        on_write!(self, tx => {
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(token_hash)
                .execute(&mut **tx)
                .await?;
        });
        Ok(())
    }

    /// Replace an account's password hash and revoke every session it has, in one
    /// transaction: whoever knew the old password is signed out everywhere.
    pub async fn set_password(
        &self,
        account: i64,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(on_write!(self, tx => {
            sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(account)
                .execute(&mut **tx)
                .await?;
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(account)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }))
    }

    /// Revoke every session of an account (password change, disabling).
    pub async fn revoke_sessions_of(&self, account: i64, now: DateTime<Utc>) -> Result<u64> {
        Ok(on_write!(self, tx => {
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(account)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }))
    }

    /// Delete sessions that expired before `before` (housekeeping).
    pub async fn purge_sessions(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(on_write!(self, tx => {
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(before)
                .execute(&mut **tx)
                .await?
                .rows_affected()
        }))
    }
}
