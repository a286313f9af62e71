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
            client: String::new(),
        },
    })
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("the current password is wrong")]
    WrongCurrent,
    #[error("{0}")]
    Policy(domain::account::PasswordProblem),
    #[error("the new password is the current one")]
    Same,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<PasswordChangeError> for AppError {
    fn from(e: PasswordChangeError) -> AppError {
        match e {
            PasswordChangeError::WrongCurrent => {
                AppError::unprocessable("current_password", e.to_string())
            }
            PasswordChangeError::Policy(_) | PasswordChangeError::Same => {
                AppError::unprocessable("new_password", e.to_string())
            }
            PasswordChangeError::App(e) => e,
        }
    }
}

/// Change the caller's password: the current one must be right (failures count towards the
/// sign-in throttle), the new one must meet the policy. Every session of the account is
/// revoked, this one included: the caller signs in again with the new password.
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current: &str,
    new: &str,
    client: Option<IpAddr>,
) -> Result<(), PasswordChangeError> {
    let username = caller.principal.username.clone();
    state.throttle.check(&username, client)?;
    let creds = state
        .db
        .credentials(&username)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::Unauthorized("the account no longer exists".into()))?;
    let (pw, phc) = (current.to_owned(), creds.password_hash.clone());
    let ok = !current.is_empty()
        && current.len() <= 1024
        && tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
            .await
            .map_err(|e| AppError::Internal(format!("password check: {e}")))?;
    if !ok {
        state.throttle.record_failure(&username, client);
        return Err(PasswordChangeError::WrongCurrent);
    }
    domain::account::check_password_policy(new, &username).map_err(PasswordChangeError::Policy)?;
    if new == current {
        return Err(PasswordChangeError::Same);
    }
    let pw = new.to_owned();
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&pw))
        .await
        .map_err(|e| AppError::Internal(format!("password hashing: {e}")))??;
    let revoked = state
        .db
        .set_password(caller.principal.account_id, &hash, state.clock.now())
        .await
        .map_err(AppError::from)?;
    state.sessions.forget_account(caller.principal.account_id);
    tracing::info!(
        account.id = caller.principal.account_id,
        sessions.revoked = revoked,
        "password changed"
    );
    Ok(())
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
