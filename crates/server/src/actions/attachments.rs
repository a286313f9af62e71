//! Attachments: checking uploaded photos and audio notes, adding them to an existing case,
//! listing them, and handing a file only to a caller allowed to see its owner (the same check
//! as reading the case). Written once for the API, the pages and the public reporting door.

use chrono::{DateTime, Utc};
use domain::attachment::{self, AttachmentError, AttachmentKind, Checked, OwnerKind};
use serde::Serialize;
use store::StoreError;
use store::attachments::{AttachmentRecord, NewAttachment};

use crate::actions::case::{engine_case, load_case};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Largest multipart body of an upload: six full-size phone photos (about 6 MB each) and a
/// voice note fit; a 50 MB upload does not.
pub const MAX_UPLOAD_BODY: usize = 40 * 1024 * 1024;

/// One uploaded file, as the door read it: the kind the form field announced (if any) and the
/// bytes. Whatever name or type the client declared is ignored.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The form field it came in (for error messages).
    pub field: String,
    pub expected: Option<AttachmentKind>,
    pub bytes: Vec<u8>,
}

/// A file as the API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: String,
    /// `photo` or `audio`.
    pub kind: String,
    /// The type sniffed from the bytes (`image/jpeg`, `image/png`, `image/webp`, `audio/…`).
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    /// The event of the case's history it came with (1: the report).
    pub event_seq: Option<i64>,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    /// Where to fetch it with a bearer token (`GET /api/v1/attachments/{id}`).
    pub url: String,
}

impl AttachmentView {
    pub fn of(r: &AttachmentRecord) -> AttachmentView {
        AttachmentView {
            id: r.id.to_string(),
            kind: r.kind.clone(),
            content_type: r.content_type.clone(),
            size: r.size,
            width: r.width,
            height: r.height,
            event_seq: r.event_seq,
            sha256: r.sha256.clone(),
            created_at: r.created_at,
            url: format!("/api/v1/attachments/{}", r.id),
        }
    }
}

/// A refused file as an HTTP error naming its field: 413 when too large, 422 otherwise.
pub fn attachment_error(field: &str, e: &AttachmentError) -> AppError {
    match e {
        AttachmentError::TooLarge { .. } => AppError::FileTooLarge {
            field: field.to_owned(),
            message: e.to_string(),
        },
        _ => AppError::unprocessable(field, e.to_string()),
    }
}

/// Check every upload (type, size, structure; photos lose their metadata) and their number
/// per kind. Nothing is stored here: a caller stores all of them or none.
pub fn check_uploads(
    uploads: Vec<Upload>,
    existing: &[AttachmentRecord],
) -> AppResult<Vec<Checked>> {
    let mut out: Vec<Checked> = Vec::with_capacity(uploads.len());
    for u in uploads {
        let c =
            attachment::check(u.expected, u.bytes).map_err(|e| attachment_error(&u.field, &e))?;
        out.push(c);
    }
    for kind in [AttachmentKind::Photo, AttachmentKind::Audio] {
        let have = existing.iter().filter(|a| a.kind == kind.as_str()).count();
        let adding = out.iter().filter(|c| c.kind == kind).count();
        attachment::check_count(kind, have, adding)
            .map_err(|e| AppError::unprocessable(kind.as_str(), e.to_string()))?;
    }
    Ok(out)
}

/// The rows to store for checked files of one owner.
pub fn new_rows(
    owner: OwnerKind,
    owner_id: i64,
    event_seq: Option<i64>,
    files: Vec<Checked>,
    by: Option<i64>,
    now: DateTime<Utc>,
) -> Vec<NewAttachment> {
    // Both databases keep microseconds: what the caller is told is what is stored.
    let now = chrono::SubsecRound::trunc_subsecs(now, 6);
    files
        .into_iter()
        .map(|c| NewAttachment {
            owner_kind: owner.as_str().to_owned(),
            owner_id,
            event_seq,
            kind: c.kind.as_str().to_owned(),
            content_type: c.content_type.mime().to_owned(),
            sha256: c.sha256,
            width: c.width.map(i64::from),
            height: c.height.map(i64::from),
            created_at: now,
            created_by: by,
            data: c.bytes,
        })
        .collect()
}

/// The store's refusal of a batch past the limit, as a 422 (a racing upload took the place).
fn store_error(e: StoreError) -> AppError {
    match e {
        StoreError::LimitReached { kind, max } => AppError::unprocessable(
            &kind,
            format!("at most {max} files of kind {kind} per case"),
        ),
        e if e.is_unique_violation() => {
            AppError::Conflict("another upload to this case is under way; try again".into())
        }
        e => AppError::Store(e),
    }
}

/// `POST /api/v1/cases/{id}/attachments`: add photos or audio notes to a case. Allowed to the
/// account that reported it and to whoever may act on it now (its centre, its handlers);
/// `event_seq` ties them to one event of the history (e.g. the "report handled" they show).
/// All files are stored, or none.
pub async fn add_to_case(
    state: &AppState,
    caller: &Caller,
    case_id: i64,
    event_seq: Option<i64>,
    uploads: Vec<Upload>,
    idempotency_key: Option<&str>,
) -> AppResult<(Vec<AttachmentView>, bool)> {
    // With a key (the field app's outbox sends one), the files are stored with the key in one
    // transaction; the same key again stores nothing and answers the files of the first time.
    let key = crate::actions::case::scoped_key(caller, idempotency_key)?;
    if let Some(k) = &key
        && let Some(answer) = replay(state, caller, k, case_id).await?
    {
        return Ok((answer, true));
    }
    let rec = load_case(state, caller, case_id).await?;
    let case = engine_case(&rec)?;
    let reporter = rec.reporter_account == Some(caller.principal.account_id);
    let acts = !case
        .actions_for(&domain::case::Actor::from(&caller.principal))
        .is_empty();
    if !reporter && !acts {
        return Err(AppError::Forbidden(
            "only the reporter and those who may act on the case add files to it".into(),
        ));
    }
    if let Some(seq) = event_seq
        && !(1..=i64::from(case.version)).contains(&seq)
    {
        return Err(AppError::unprocessable(
            "event",
            format!("the case has events 1 to {}", case.version),
        ));
    }
    if uploads.is_empty() {
        return Err(AppError::unprocessable(
            "photo",
            "send at least one file (fields photo, audio or file)",
        ));
    }
    let existing = state
        .db
        .attachments_of(OwnerKind::Case.as_str(), rec.id)
        .await?;
    let files = check_uploads(uploads, &existing)?;
    let rows = new_rows(
        OwnerKind::Case,
        rec.id,
        event_seq,
        files,
        Some(caller.principal.account_id),
        state.clock.now(),
    );
    let stored = match key {
        None => state
            .db
            .insert_attachments(rows)
            .await
            .map_err(store_error)?,
        Some(k) => {
            let new_key = store::request_keys::NewRequestKey {
                key: k.clone(),
                kind: "case_attachments",
                target: rec.id,
                answer: String::new(),
                created_at: state.clock.now(),
            };
            let ids = |files: &[AttachmentRecord]| {
                serde_json::to_string(&files.iter().map(|f| f.id).collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            match state
                .db
                .insert_attachments_keyed(rows, new_key, ids)
                .await
                .map_err(store_error)?
            {
                store::request_keys::KeyedUpload::Stored(stored) => stored,
                // Another request with this key got there first: answer as it was answered.
                store::request_keys::KeyedUpload::KeyTaken => {
                    return match replay(state, caller, &k, case_id).await? {
                        Some(answer) => Ok((answer, true)),
                        None => Err(AppError::Conflict(
                            "another upload with this key is under way; try again".into(),
                        )),
                    };
                }
            }
        }
    };
    tracing::info!(case.id = rec.id, files = stored.len(), "attachments added");
    Ok((stored.iter().map(AttachmentView::of).collect(), false))
}

/// The files stored the first time a key was sent, if it was.
async fn replay(
    state: &AppState,
    caller: &Caller,
    key: &str,
    case_id: i64,
) -> AppResult<Option<Vec<AttachmentView>>> {
    let Some(answer) =
        crate::actions::case::stored_answer(state, key, "case_attachments", case_id).await?
    else {
        return Ok(None);
    };
    load_case(state, caller, case_id).await?;
    let ids: Vec<i64> = serde_json::from_str(&answer)
        .map_err(|e| AppError::Internal(format!("stored answer of a key: {e}")))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(meta) = state.db.attachment(id).await? {
            out.push(AttachmentView::of(&meta));
        }
    }
    Ok(Some(out))
}

/// The files of a case the caller may see.
pub async fn list_for_case(
    state: &AppState,
    caller: &Caller,
    case_id: i64,
) -> AppResult<Vec<AttachmentView>> {
    let rec = load_case(state, caller, case_id).await?;
    Ok(state
        .db
        .attachments_of(OwnerKind::Case.as_str(), rec.id)
        .await?
        .iter()
        .map(AttachmentView::of)
        .collect())
}

/// A file with its bytes, for a caller allowed to see its owner. A file the caller may not see
/// answers as its case would (403 outside the scope, 404 when there is none).
pub async fn fetch(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> AppResult<(AttachmentRecord, Vec<u8>)> {
    let meta = state
        .db
        .attachment(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("attachment {id}")))?;
    match OwnerKind::parse(&meta.owner_kind) {
        Some(OwnerKind::Case) => {
            load_case(state, caller, meta.owner_id).await?;
        }
        // Work logs are read through their own area's rules; until it serves them, nobody
        // gets their files here.
        Some(OwnerKind::Worklog) | None => {
            return Err(AppError::NotFound(format!("attachment {id}")));
        }
    }
    state
        .db
        .attachment_data(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("attachment {id}")))
}
