//! Authentication and the one scope check.
//!
//! Passwords are hashed with Argon2id; API bearer tokens and page session cookies are random
//! 256-bit strings of which only the SHA-256 is stored. Login is throttled per account and per
//! client. Handlers receive a [`Caller`] and reach territory only through [`Caller::scoped`],
//! which returns an [`InScope`] code: every store read keyed by territory takes an `InScope`,
//! so a handler cannot forget the scope check.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use domain::TerritoryCode;
use domain::account::{OutOfScope, Principal, Role};
use sha2::{Digest, Sha256};
use store::account::SessionKind;

use crate::error::AppError;
use crate::state::AppState;

/// Name of the page session cookie.
pub const SESSION_COOKIE: &str = "gesang_session";

/// Hash a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Internal(format!("hashing: {e}")))
}

/// Check a password against a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A new random token (64 hex characters).
pub fn new_token() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(hex(&bytes))
}

/// SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Failed-login throttle: after `MAX_FAILURES` failures within `WINDOW` for one account or one
/// client address, further attempts are refused until the window has passed.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(15 * 60);

impl LoginThrottle {
    fn keys(username: &str, client: Option<IpAddr>) -> Vec<String> {
        let mut keys = vec![format!("u:{}", username.to_lowercase())];
        if let Some(ip) = client {
            keys.push(format!("ip:{ip}"));
        }
        keys
    }

    /// `Err` with the seconds to wait when the account or the client is locked out.
    pub fn check(&self, username: &str, client: Option<IpAddr>) -> Result<(), AppError> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for k in Self::keys(username, client) {
            if let Some((n, since)) = map.get(&k) {
                let age = now.duration_since(*since);
                if *n >= MAX_FAILURES && age < WINDOW {
                    return Err(AppError::TooManyRequests {
                        retry_after_s: (WINDOW - age).as_secs().max(1),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, username: &str, client: Option<IpAddr>) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for k in Self::keys(username, client) {
            let e = map.entry(k).or_insert((0, now));
            if now.duration_since(e.1) >= WINDOW {
                *e = (0, now);
            }
            e.0 += 1;
        }
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now.duration_since(*since) < WINDOW);
        }
    }

    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("u:{}", username.to_lowercase()));
    }
}

/// A short-lived cache of live sessions (page cookies and API tokens alike), so that a busy
/// client does not cost a database read per request. An entry lives at most [`SESSION_CACHE_TTL`]; signing out on this server
/// removes it at once, and a revocation on another server takes effect here within the TTL.
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, (store::account::SessionInfo, Instant)>>,
}

/// How long a cached session is trusted before the database is asked again.
pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(5);

impl SessionCache {
    pub async fn get(
        &self,
        db: &store::Db,
        hash: &str,
        kind: SessionKind,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<store::account::SessionInfo>, AppError> {
        let key = format!("{}:{hash}", kind.as_str());
        {
            let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((info, at)) = map.get(&key)
                && at.elapsed() < SESSION_CACHE_TTL
                && info.expires_at > now
            {
                return Ok(Some(info.clone()));
            }
        }
        let info = db.session(hash, kind, now).await?;
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match &info {
            Some(i) => {
                if map.len() > 50_000 {
                    map.retain(|_, (_, at)| at.elapsed() < SESSION_CACHE_TTL);
                }
                map.insert(key, (i.clone(), Instant::now()));
            }
            None => {
                map.remove(&key);
            }
        }
        Ok(info)
    }

    /// Forget every cached session of an account (its password changed here).
    pub fn forget_account(&self, account_id: i64) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (info, _)| info.principal.account_id != account_id);
    }

    /// Forget a session (signed out here).
    pub fn forget(&self, hash: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|k, _| !k.ends_with(hash));
    }
}

/// A territory code that has passed the caller's scope check. Only [`Caller::scoped`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InScope(TerritoryCode);

impl InScope {
    pub fn code(&self) -> &TerritoryCode {
        &self.0
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The session's CSRF token (pages only; empty for bearer tokens).
    pub csrf_token: String,
    /// The client as the server saw it (address and user agent), for the audit log.
    pub client: String,
}

/// The client of a request as the audit log names it: `<address> <user agent>` (the agent cut to
/// 120 characters; `-` for what is unknown).
pub fn client_of(parts: &Parts) -> String {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "-".to_owned(), |c| c.0.ip().to_string());
    let agent: String = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect();
    format!("{ip} {agent}")
}

impl Caller {
    /// The one scope check: `code` must be the caller's node or lie below it.
    pub fn scoped(&self, code: &TerritoryCode) -> Result<InScope, OutOfScope> {
        self.principal.check_scope(code)?;
        Ok(InScope(code.clone()))
    }

    /// The caller's own node.
    pub fn home(&self) -> InScope {
        InScope(self.principal.scope.clone())
    }

    pub fn role(&self) -> Role {
        self.principal.role
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A caller authenticated by `Authorization: Bearer <token>`.
pub struct ApiCaller(pub Caller);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(AppError::Unauthorized(
                "missing Authorization: Bearer token".into(),
            ));
        }
        let token = bearer_token(&parts.headers).ok_or_else(|| {
            AppError::Unauthorized("expected Authorization: Bearer <token>".into())
        })?;
        let session = state
            .sessions
            .get(
                &state.db,
                &token_hash(token),
                SessionKind::Api,
                state.clock.now(),
            )
            .await?
            .ok_or_else(|| {
                AppError::Unauthorized("the token is unknown, expired or revoked".into())
            })?;
        Ok(ApiCaller(Caller {
            principal: session.principal,
            csrf_token: String::new(),
            client: client_of(parts),
        }))
    }
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The client's address when the server knows it (not in in-process tests).
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A caller of a page, authenticated by the session cookie; `None` when signed out.
pub struct PageCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for PageCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(PageCaller(None));
        };
        let session = state
            .sessions
            .get(
                &state.db,
                &token_hash(&token),
                SessionKind::Web,
                state.clock.now(),
            )
            .await?;
        let client = client_of(parts);
        Ok(PageCaller(session.map(|s| Caller {
            principal: s.principal,
            csrf_token: s.csrf_token,
            client,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_wrong_ones_do_not() {
        let h = hash_password("gesang-demo").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("gesang-demo", &h));
        assert!(!verify_password("gesang-dem0", &h));
        assert!(!verify_password("gesang-demo", "not a hash"));
    }

    #[test]
    fn throttle_locks_after_repeated_failures() {
        let t = LoginThrottle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(t.check("admin", Some(ip)).is_ok());
            t.record_failure("admin", Some(ip));
        }
        assert!(matches!(
            t.check("admin", None),
            Err(AppError::TooManyRequests { .. })
        ));
        // The same client is locked out for other accounts too.
        assert!(t.check("someone-else", Some(ip)).is_err());
        assert!(t.check("someone-else", None).is_ok());
    }
}
