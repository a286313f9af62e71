//! Notices (通知): a centre operator or leader of a level writes to the grid workers and/or
//! household heads of nodes inside their scope, in Chinese and optionally Tibetan; each
//! recipient reads and acknowledges it (again changes nothing), and the senders' desk follows
//! the count and the names of those who have not acknowledged yet. Written once for the JSON
//! API, the centre's pages and the field app.

use chrono::{DateTime, Utc};
use domain::account::Role;
use serde::{Deserialize, Serialize};
use store::notices::{NewNotice, NoticeInsert, NoticeRecipient, NoticeRecord, ReceivedNotice};

use crate::actions::territory::parse_code;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const MAX_TITLE: usize = 200;
const MAX_TEXT: usize = 5_000;
const MAX_TERRITORIES: usize = 50;
/// Names of recipients listed with a sent notice (the full list is `GET /notices/{id}`).
const PENDING_LISTED: i64 = 50;

/// The body of `POST /api/v1/notices`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct SendNoticeRequest {
    /// Chinese title (1–200 characters).
    pub title: Option<String>,
    /// Chinese text (1–5,000 characters).
    pub text: Option<String>,
    /// Tibetan title (Unicode U+0F00–U+0FFF; no legacy private-use encodings).
    pub title_bo: Option<String>,
    /// Tibetan text.
    pub text_bo: Option<String>,
    /// Target nodes (1–50), each inside the sender's scope.
    pub territories: Option<Vec<String>>,
    /// `grid_workers` and/or `household_heads`.
    pub audience: Option<Vec<String>>,
    /// The same key twice sends one notice and returns it both times.
    pub idempotency_key: Option<String>,
}

/// A notice as the API returns it. For its recipient `read_at` and `acknowledged_at` are his;
/// for its senders' desk `recipients_total`, `acknowledged` and `pending` (the first
/// recipients who have not acknowledged) are filled in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeView {
    pub id: String,
    pub title: String,
    pub text: String,
    pub title_bo: Option<String>,
    pub text_bo: Option<String>,
    pub territories: Vec<String>,
    /// `grid_workers`, `household_heads`.
    pub audience: Vec<String>,
    pub sender: String,
    pub sender_scope: String,
    pub sent_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub recipients_total: Option<i64>,
    pub acknowledged: Option<i64>,
    pub pending: Option<Vec<RecipientView>>,
}

/// One recipient, for the senders.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub territory: String,
    pub read_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/notices`: what the caller received (not acknowledged first) and, for a desk
/// that sends, what it sent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeList {
    pub received: Vec<NoticeView>,
    pub sent: Vec<NoticeView>,
}

/// A notice with every recipient (for its senders) or the caller's own copy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeDetail {
    pub notice: NoticeView,
    /// Every recipient, not acknowledged first (senders only).
    pub recipients: Option<Vec<RecipientView>>,
}

/// Whether the role writes notices.
pub fn sends(role: Role) -> bool {
    matches!(role, Role::CenterOperator | Role::Leader | Role::Admin)
}

fn audience(n: &NoticeRecord) -> Vec<String> {
    let mut a = Vec::new();
    if n.to_workers {
        a.push("grid_workers".to_owned());
    }
    if n.to_heads {
        a.push("household_heads".to_owned());
    }
    a
}

fn view(n: &NoticeRecord) -> NoticeView {
    NoticeView {
        id: n.id.to_string(),
        title: n.title.clone(),
        text: n.body.clone(),
        title_bo: n.title_bo.clone(),
        text_bo: n.body_bo.clone(),
        territories: n.territories.clone(),
        audience: audience(n),
        sender: n.sender_name.clone(),
        sender_scope: n.sender_scope.clone(),
        sent_at: n.sent_at,
        read_at: None,
        acknowledged_at: None,
        recipients_total: None,
        acknowledged: None,
        pending: None,
    }
}

fn received_view(r: &ReceivedNotice) -> NoticeView {
    NoticeView {
        read_at: r.read_at,
        acknowledged_at: r.acknowledged_at,
        ..view(&r.notice)
    }
}

fn recipient_view(r: &NoticeRecipient) -> RecipientView {
    RecipientView {
        username: r.username.clone(),
        display_name: r.display_name.clone(),
        role: r.role.clone(),
        territory: r.scope.clone(),
        read_at: r.read_at,
        acknowledged_at: r.acknowledged_at,
    }
}

async fn sent_view(state: &AppState, n: &NoticeRecord) -> AppResult<NoticeView> {
    let pending = if n.acknowledged < n.recipients_total {
        state
            .db
            .notice_recipients(n.id, PENDING_LISTED)
            .await?
            .iter()
            .filter(|r| r.acknowledged_at.is_none())
            .map(recipient_view)
            .collect()
    } else {
        vec![]
    };
    Ok(NoticeView {
        recipients_total: Some(n.recipients_total),
        acknowledged: Some(n.acknowledged),
        pending: Some(pending),
        ..view(n)
    })
}

fn text_field(
    field: &str,
    v: Option<&str>,
    max: usize,
    required: bool,
) -> AppResult<Option<String>> {
    let v = v.map(str::trim).filter(|s| !s.is_empty());
    match v {
        None if required => Err(AppError::unprocessable(
            field,
            format!("{field} is required"),
        )),
        None => Ok(None),
        Some(s) if s.chars().count() > max => Err(AppError::unprocessable(
            field,
            format!("at most {max} characters"),
        )),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// Tibetan text must be Unicode Tibetan: the legacy fonts' private-use code points would show as
/// boxes on every other phone.
fn tibetan(field: &str, v: Option<String>) -> AppResult<Option<String>> {
    if let Some(s) = &v
        && s.chars().any(|c| ('\u{E000}'..='\u{F8FF}').contains(&c))
    {
        return Err(AppError::unprocessable(
            field,
            "private-use characters (a legacy Tibetan encoding): use Unicode Tibetan",
        ));
    }
    Ok(v)
}

/// Send a notice (centre operators, leaders, administrators; every target inside the scope).
pub async fn send(
    state: &AppState,
    caller: &Caller,
    req: SendNoticeRequest,
) -> AppResult<(NoticeView, bool)> {
    if !sends(caller.role()) {
        return Err(AppError::Forbidden(
            "notices are sent by a level's centre and its leaders".into(),
        ));
    }
    let title = text_field("title", req.title.as_deref(), MAX_TITLE, true)?.unwrap_or_default();
    let body = text_field("text", req.text.as_deref(), MAX_TEXT, true)?.unwrap_or_default();
    let title_bo = tibetan(
        "title_bo",
        text_field("title_bo", req.title_bo.as_deref(), MAX_TITLE, false)?,
    )?;
    let body_bo = tibetan(
        "text_bo",
        text_field("text_bo", req.text_bo.as_deref(), MAX_TEXT, false)?,
    )?;
    let codes = req.territories.unwrap_or_default();
    if codes.is_empty() || codes.len() > MAX_TERRITORIES {
        return Err(AppError::unprocessable(
            "territories",
            format!("1 to {MAX_TERRITORIES} territory codes"),
        ));
    }
    let mut territories: Vec<(String, String)> = Vec::new();
    for c in &codes {
        let code = parse_code("territories", c.trim())?;
        caller.scoped(&code)?;
        if !territories.iter().any(|(t, _)| t == code.as_str()) {
            territories.push((code.to_string(), code.subtree_prefix().to_owned()));
        }
    }
    let aud = req.audience.unwrap_or_default();
    if aud.is_empty()
        || aud
            .iter()
            .any(|a| a != "grid_workers" && a != "household_heads")
    {
        return Err(AppError::unprocessable(
            "audience",
            "grid_workers and/or household_heads",
        ));
    }
    let key = crate::actions::case::scoped_key(caller, req.idempotency_key.as_deref())?;
    let inserted = state
        .db
        .insert_notice(NewNotice {
            title,
            body,
            title_bo,
            body_bo,
            territories,
            to_workers: aud.iter().any(|a| a == "grid_workers"),
            to_heads: aud.iter().any(|a| a == "household_heads"),
            sender: caller.principal.account_id,
            sender_scope: caller.principal.scope.to_string(),
            sent_at: state.clock.now(),
            idempotency_key: key,
        })
        .await?;
    let (rec, new) = match inserted {
        NoticeInsert::New(r) => (r, true),
        NoticeInsert::Existing(r) => (r, false),
    };
    if new {
        tracing::info!(
            notice.id = rec.id,
            notice.recipients = rec.recipients_total,
            "notice sent"
        );
    }
    Ok((sent_view(state, &rec).await?, new))
}

/// The caller's notices: received (not acknowledged first) and, for a sending desk, sent.
pub async fn list(state: &AppState, caller: &Caller) -> AppResult<NoticeList> {
    let received = state
        .db
        .notices_for(caller.principal.account_id, 200)
        .await?
        .iter()
        .map(received_view)
        .collect();
    let mut sent = Vec::new();
    if sends(caller.role()) {
        for n in state
            .db
            .notices_sent_from(caller.principal.scope.as_str(), 100)
            .await?
        {
            sent.push(sent_view(state, &n).await?);
        }
    }
    Ok(NoticeList { received, sent })
}

/// Whether the caller belongs to the desk that sent `n` (or above it).
fn sender_side(caller: &Caller, n: &NoticeRecord) -> bool {
    sends(caller.role())
        && parse_code("sender_scope", &n.sender_scope)
            .ok()
            .is_some_and(|c| caller.scoped(&c).is_ok())
}

/// One notice: for its senders with every recipient; for a recipient his copy (now read).
/// Anyone else: 404, as if it did not exist.
pub async fn get(state: &AppState, caller: &Caller, id: i64) -> AppResult<NoticeDetail> {
    let not_found = || AppError::NotFound(format!("notice {id}"));
    let n = state.db.notice(id).await?.ok_or_else(not_found)?;
    if sender_side(caller, &n) {
        let recipients = state
            .db
            .notice_recipients(id, 100_000)
            .await?
            .iter()
            .map(recipient_view)
            .collect();
        return Ok(NoticeDetail {
            notice: sent_view(state, &n).await?,
            recipients: Some(recipients),
        });
    }
    let account = caller.principal.account_id;
    state
        .db
        .mark_notice_read(id, account, state.clock.now())
        .await?;
    let r = state
        .db
        .received_notice(id, account)
        .await?
        .ok_or_else(not_found)?;
    Ok(NoticeDetail {
        notice: received_view(&r),
        recipients: None,
    })
}

/// Acknowledge a notice addressed to the caller: the first time counts, again changes nothing
/// and answers the same. Not addressed to the caller: 404.
pub async fn acknowledge(state: &AppState, caller: &Caller, id: i64) -> AppResult<NoticeView> {
    let account = caller.principal.account_id;
    if !state
        .db
        .acknowledge_notice(id, account, state.clock.now())
        .await?
    {
        return Err(AppError::NotFound(format!("notice {id}")));
    }
    let r = state
        .db
        .received_notice(id, account)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("notice {id}")))?;
    Ok(received_view(&r))
}
