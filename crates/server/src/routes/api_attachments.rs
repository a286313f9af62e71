//! The attachment endpoints: upload photos and audio notes to a case (multipart), list them,
//! and serve a file (API with a bearer token, pages with the session cookie) with an ETag and
//! private caching. Also the multipart reader every upload door shares.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::attachment::{AttachmentKind, ContentType};
use serde::{Deserialize, Serialize};
use store::attachments::AttachmentRecord;

use crate::actions::attachments::{self as files, AttachmentView, Upload};
use crate::auth::{ApiCaller, PageCaller};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::api_cases::case_id;
use crate::routes::extract::ApiQuery;
use crate::state::AppState;

/// Longest text field of a multipart form.
const MAX_TEXT_FIELD: usize = 64 * 1024;

/// What a multipart form carried: its files (in order) and its text fields (the last value
/// of each name).
#[derive(Debug, Default)]
pub struct MultipartForm {
    pub files: Vec<Upload>,
    pub text: HashMap<String, String>,
}

fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::PayloadTooLarge
    } else {
        AppError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// The kind a field name announces: `photo`/`photos` (also with `[]`), `audio`, or
/// `file`/`files`/`media` for "whatever it turns out to be".
fn file_field(name: &str) -> Option<Option<AttachmentKind>> {
    match name.trim_end_matches("[]") {
        "photo" | "photos" | "image" | "images" => Some(Some(AttachmentKind::Photo)),
        "audio" | "voice" => Some(Some(AttachmentKind::Audio)),
        "file" | "files" | "media" => Some(None),
        _ => None,
    }
}

/// Read a multipart body. Each file is read chunk by chunk and refused (413) as soon as it
/// passes the limit of the kind its field announces (the larger limit when it announces
/// none); an empty file input (a form sent with no file chosen) is skipped.
pub async fn read_multipart(
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<MultipartForm> {
    let mut mp = multipart.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        _ => AppError::BadRequest("expected Content-Type: multipart/form-data".into()),
    })?;
    let mut form = MultipartForm::default();
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        let is_file = field.file_name().is_some();
        match file_field(&name) {
            Some(expected) => {
                let max = expected.map_or(
                    domain::attachment::MAX_PHOTO_BYTES.max(domain::attachment::MAX_AUDIO_BYTES),
                    AttachmentKind::max_bytes,
                );
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > max {
                        return Err(files::attachment_error(
                            &name,
                            &domain::attachment::AttachmentError::TooLarge {
                                kind: expected.unwrap_or(AttachmentKind::Audio),
                                max,
                            },
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                if bytes.is_empty() && is_file {
                    continue;
                }
                form.files.push(Upload {
                    field: name,
                    expected,
                    bytes,
                });
            }
            None => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
                        return Err(AppError::unprocessable(&name, "this field is too long"));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(bytes)
                    .map_err(|_| AppError::unprocessable(&name, "not UTF-8 text"))?;
                form.text.insert(name, text);
            }
        }
    }
    Ok(form)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// Tie the files to one event of the case's history (its `seq`; 1 is the report).
    pub event: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentList {
    pub items: Vec<AttachmentView>,
}

/// Add photos or audio notes to a case: `multipart/form-data` with fields `photo` (up to 6
/// per case, JPEG/PNG/WebP, ≤ 8 MB each, location metadata removed), `audio` (up to 2, ≤ 10
/// MB: WebM, Ogg, MP4/M4A, 3GP, MP3, AAC, WAV, AMR) or `file` (either, by content). The type
/// is sniffed from the bytes; all files are stored or none. Body ≤ 40 MB.
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", tag = "cases",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "case id or code"), UploadParams),
    request_body(content_type = "multipart/form-data", content = Object,
        description = "fields photo, audio or file (repeatable), and optionally event and idempotency_key (or the Idempotency-Key header: the same key twice stores the files once and answers them both times)"),
    responses(
        (status = 201, body = AttachmentList, description = "stored (for a repeated idempotency key: the files of the first time, with `Idempotent-Replayed: true`)"),
        (status = 403, body = ErrorBody, description = "not the reporter nor anyone who may act on the case"),
        (status = 413, body = ErrorBody, description = "a file or the body is too large; `field` names the file"),
        (status = 422, body = ErrorBody, description = "not an image or audio, damaged, wrong kind, or too many; `field` names it"),
    ))]
pub async fn add_case_attachments(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<UploadParams>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<Response> {
    let id = case_id(&state, &id).await?;
    let form = read_multipart(multipart).await?;
    let event = match (p.event, form.text.get("event").map(|s| s.trim())) {
        (Some(e), _) => Some(e),
        (None, None | Some("")) => None,
        (None, Some(e)) => Some(
            e.parse()
                .map_err(|_| AppError::unprocessable("event", "an event number"))?,
        ),
    };
    // The key comes as a form field (the field app's outbox) or an `Idempotency-Key` header.
    let key = form
        .text
        .get("idempotency_key")
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .or_else(|| {
            headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
        });
    let (items, replayed) =
        files::add_to_case(&state, &caller, id, event, form.files, key.as_deref()).await?;
    let mut resp = (StatusCode::CREATED, Json(AttachmentList { items })).into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// The photos and audio notes of a case (metadata and URLs).
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments", tag = "cases",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "case id or code")),
    responses((status = 200, body = AttachmentList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_case_attachments(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<AttachmentList>> {
    let id = case_id(&state, &id).await?;
    Ok(Json(AttachmentList {
        items: files::list_for_case(&state, &caller, id).await?,
    }))
}

fn parse_id(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| AppError::unprocessable("id", "an attachment id"))
}

/// The bytes of a file, with its sniffed type, `ETag` (its SHA-256) and `Cache-Control:
/// private`; `If-None-Match` answers 304. Only for callers who may see the case.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "cases",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "attachment id")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 304, description = "not modified"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_attachment(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let (meta, data) = files::fetch(&state, &caller, parse_id(&id)?).await?;
    Ok(file_response(&meta, data, &headers))
}

/// The same file for pages (session cookie): the case page's thumbnails and players.
pub async fn get_attachment_page(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let caller = caller.ok_or_else(|| AppError::Unauthorized("sign in first".into()))?;
    let (meta, data) = files::fetch(&state, &caller, parse_id(&id)?).await?;
    Ok(file_response(&meta, data, &headers))
}

/// A stored file as a response: its type, length, ETag and private caching (the URL never
/// changes what it serves, so a day is safe; `private` keeps shared caches out).
pub fn file_response(meta: &AttachmentRecord, data: Vec<u8>, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", meta.sha256);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let ext = ContentType::from_mime(&meta.content_type).map_or("bin", ContentType::extension);
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "private, max-age=86400")
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}-{}.{ext}\"", meta.kind, meta.id),
        )
        // Photos and audio are compressed already.
        .header(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    if matches {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return builder.body(Body::empty()).unwrap_or_default();
    }
    builder
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, &meta.content_type)
        .header(header::CONTENT_LENGTH, data.len())
        .body(Body::from(data))
        .unwrap_or_else(|_| AppError::Internal("response".into()).into_response())
}

/// The API routes of this module (under `/api/v1`), with the upload body limit.
pub fn api_router() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/cases/{id}/attachments",
            get(list_case_attachments)
                .post(add_case_attachments)
                .layer(axum::extract::DefaultBodyLimit::max(files::MAX_UPLOAD_BODY)),
        )
        .route("/attachments/{id}", get(get_attachment))
}

/// The page route of this module (session cookie).
pub fn page_router() -> axum::Router<AppState> {
    axum::Router::new().route("/attachments/{id}", axum::routing::get(get_attachment_page))
}
