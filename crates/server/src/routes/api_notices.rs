//! The notice endpoints of the JSON API (thin handlers over `actions::notices`).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::actions::notices::{self, NoticeDetail, NoticeList, NoticeView, SendNoticeRequest};
use crate::auth::ApiCaller;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::extract::ApiJson;
use crate::state::AppState;

/// The routes of this area, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices", get(list_notices).post(send_notice))
        .route("/notices/{id}", get(get_notice))
        .route("/notices/{id}/ack", post(acknowledge_notice))
}

fn id_param(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::NotFound(format!("notice {raw:?}")))
}

/// Send a notice (通知) to the grid workers and/or household heads of nodes inside the
/// sender's scope (centre operators, leaders and administrators). The recipients are the
/// accounts of those roles below the nodes at the time of sending.
#[utoipa::path(post, path = "/api/v1/notices", tag = "notices",
    security(("bearer" = [])),
    request_body = SendNoticeRequest,
    responses(
        (status = 201, body = NoticeView, description = "sent, with its recipients count (for a repeated idempotency key: the first notice, with `Idempotent-Replayed: true`)"),
        (status = 403, body = ErrorBody, description = "not a sending role, or a target outside the caller's scope"),
        (status = 422, body = ErrorBody, description = "a field is invalid; `field` names it"),
    ))]
pub async fn send_notice(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(req): ApiJson<SendNoticeRequest>,
) -> AppResult<Response> {
    let (view, new) = notices::send(&state, &caller, req).await?;
    let mut resp = (StatusCode::CREATED, Json(view)).into_response();
    if !new {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// The caller's notices: `received` (addressed to the caller, not yet acknowledged first, with
/// his `read_at` and `acknowledged_at`) and `sent` (for a sending desk: the notices sent from
/// the caller's node, with `recipients_total`, `acknowledged` and the first of those who have
/// not acknowledged in `pending`).
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices",
    security(("bearer" = [])),
    responses((status = 200, body = NoticeList)))]
pub async fn list_notices(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> AppResult<Json<NoticeList>> {
    Ok(Json(notices::list(&state, &caller).await?))
}

/// One notice: for its sending desk (and the levels above) with every recipient; for a
/// recipient his own copy, marked read. 404 for anyone else.
#[utoipa::path(get, path = "/api/v1/notices/{id}", tag = "notices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "notice id")),
    responses((status = 200, body = NoticeDetail), (status = 404, body = ErrorBody)))]
pub async fn get_notice(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<NoticeDetail>> {
    Ok(Json(notices::get(&state, &caller, id_param(&id)?).await?))
}

/// Acknowledge a notice addressed to the caller. Idempotent: the first time counts, again
/// changes nothing and answers the same (a body, e.g. the field app's `idempotency_key`, is
/// ignored). 404 when it is not addressed to the caller.
#[utoipa::path(post, path = "/api/v1/notices/{id}/ack", tag = "notices",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "notice id")),
    responses((status = 200, body = NoticeView), (status = 404, body = ErrorBody)))]
pub async fn acknowledge_notice(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<NoticeView>> {
    Ok(Json(
        notices::acknowledge(&state, &caller, id_param(&id)?).await?,
    ))
}
