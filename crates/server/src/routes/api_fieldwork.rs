//! The field-work endpoints of the JSON API: work logs and daily reports (thin handlers over
//! `actions::fieldwork`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::actions::fieldwork::{
    self, CreateWorklogRequest, DailyReportRequest, DailyReportView, WorklogView,
};
use crate::auth::ApiCaller;
use crate::error::{AppResult, ErrorBody};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The routes of this area, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/worklogs", get(list_worklogs).post(create_worklog))
        .route(
            "/daily-reports",
            get(list_daily_reports).post(create_daily_report),
        )
}

/// Record a work log (台账). A hazard inspection with `hazard_found: true` also files the
/// hazard as a case (its `case_id` and `case_code` are in the answer), in the same request.
#[utoipa::path(post, path = "/api/v1/worklogs", tag = "field",
    security(("bearer" = [])),
    request_body = CreateWorklogRequest,
    responses(
        (status = 201, body = WorklogView, description = "stored (or, for a repeated idempotency key, the first log, with `Idempotent-Replayed: true`)"),
        (status = 403, body = ErrorBody, description = "not a field role, or outside the caller's scope"),
        (status = 422, body = ErrorBody, description = "a field is invalid; `field` names it"),
    ))]
pub async fn create_worklog(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(req): ApiJson<CreateWorklogRequest>,
) -> AppResult<Response> {
    let input = req.parse(&caller, state.clock.now())?;
    let (view, new) = fieldwork::create_worklog(&state, &caller, input).await?;
    let mut resp = (StatusCode::CREATED, Json(view)).into_response();
    if !new {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorklogListParams {
    /// Every log of this node and below (inside the caller's scope; 403 outside); without it,
    /// the caller's own logs.
    pub territory: Option<String>,
    pub kind: Option<String>,
    /// Days counted on, `YYYY-MM-DD`, both inclusive (Asia/Shanghai).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Logs with ids below this one (the `id` of the last log of the previous page).
    pub before: Option<i64>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
}

/// The caller's own work logs, or with `territory` every log under that node (the logs behind
/// the 政策宣传 and 帮办实事 figures of `/api/v1/stats`), newest first.
#[utoipa::path(get, path = "/api/v1/worklogs", tag = "field",
    security(("bearer" = [])), params(WorklogListParams),
    responses(
        (status = 200, body = [WorklogView]),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`territory` outside the caller's scope"),
        (status = 422, body = ErrorBody, description = "a parameter is invalid; `field` names it"),
    ))]
pub async fn list_worklogs(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<WorklogListParams>,
) -> AppResult<Json<Vec<WorklogView>>> {
    let rows = fieldwork::list_worklogs(
        &state,
        &caller,
        &fieldwork::WorklogQuery {
            territory: q.territory.as_deref(),
            kind: q.kind.as_deref(),
            from: q.from.as_deref(),
            to: q.to.as_deref(),
            before: q.before,
            limit: q.limit.unwrap_or(50),
        },
    )
    .await?;
    Ok(Json(rows.into_iter().map(|r| r.view).collect()))
}

/// Send the daily report (日报) of a day, or the zero report (零报告) with
/// `nothing_to_report: true`. One per person per day: a second one replaces the first
/// (`replaced: true`).
#[utoipa::path(post, path = "/api/v1/daily-reports", tag = "field",
    security(("bearer" = [])),
    request_body = DailyReportRequest,
    responses(
        (status = 201, body = DailyReportView),
        (status = 403, body = ErrorBody, description = "only grid workers and household heads report daily"),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_daily_report(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(req): ApiJson<DailyReportRequest>,
) -> AppResult<Response> {
    let view = fieldwork::put_daily_report(&state, &caller, &req).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The caller's daily reports of the last 30 days, newest first.
#[utoipa::path(get, path = "/api/v1/daily-reports", tag = "field",
    security(("bearer" = [])),
    responses((status = 200, body = [DailyReportView]), (status = 401, body = ErrorBody)))]
pub async fn list_daily_reports(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> AppResult<Json<Vec<DailyReportView>>> {
    Ok(Json(fieldwork::list_daily_reports(&state, &caller).await?))
}
