//! Signing in and out: one use case for the API token and the page session.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use store::account::SessionKind;

use crate::auth::{Caller, new_token, token_hash, verify_password};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A new session.
pub struct SignedIn {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub caller: Caller,
}

/// Check a user name and password (throttled) and open a session of `kind`.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    kind: SessionKind,
    client: Option<IpAddr>,
) -> AppResult<SignedIn> {
    let username = username.trim();
    if username.is_empty() || password.is_empty() || username.len() > 200 || password.len() > 1024 {
        return Err(AppError::Unauthorized("wrong user name or password".into()));
    }
    state.throttle.check(username, client)?;
    let creds = state.db.credentials(username).await?;
    // Verify against a real hash even for unknown users, so timing does not reveal accounts.
    let (phc, known) = match &creds {
        Some(c) if !c.disabled => (c.password_hash.clone(), true),
        _ => (DUMMY_HASH.to_owned(), false),
    };
    let pw = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
        .await
        .map_err(|e| AppError::Internal(format!("password check: {e}")))?;
    let creds = match creds {
        Some(c) if ok && known => c,
        _ => {
            state.throttle.record_failure(username, client);
            tracing::info!(reason = "bad_credentials", "sign-in refused");
            return Err(AppError::Unauthorized("wrong user name or password".into()));
        }
    };
    state.throttle.record_success(username);
    let now = state.clock.now();
    let expires_at = now + Duration::hours(i64::from(state.settings.session_hours));
    let token = new_token()?;
    let csrf_token = new_token()?;
    state
        .db
        .create_session(
            &token_hash(&token),
            creds.principal.account_id,
            kind,
            &csrf_token,
            now,
            expires_at,
        )
        .await?;
    tracing::info!(account.id = creds.principal.account_id, "signed in");
    Ok(SignedIn {
        token,
        csrf_token: csrf_token.clone(),
        expires_at,
        caller: Caller {
            principal: creds.principal,
            csrf_token,
        },
    })
}

/// Revoke the session behind `token`.
pub async fn sign_out(state: &AppState, token: &str) -> AppResult<()> {
    let hash = token_hash(token);
    state.sessions.forget(&hash);
    state.db.revoke_session(&hash, state.clock.now()).await?;
    Ok(())
}

/// An Argon2id hash of a random password nobody knows, checked for unknown accounts.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2jHMlqB3V0wL2i2Gl0o0yZ1C3o8s8bqg3kqY2v2M3xM";
