//! The command centre's JSON API: assessment (and its Excel export, and its weights).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;

use crate::actions::assessment::{self, AssessmentResponse, Month};
use crate::actions::daily::{self, DailyResponse};
use crate::actions::territory::parse_code;
use crate::auth::{ApiCaller, Caller, InScope};
use crate::error::{AppResult, ErrorBody};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assessment", get(get_assessment))
        .route("/assessment.xlsx", get(export_assessment))
        .route("/daily", get(get_daily))
        .route("/daily.xlsx", get(export_daily))
        .route(
            "/admin/assessment-weights",
            put(put_assessment_weights).get(get_assessment_weights),
        )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssessmentQuery {
    /// The node whose units are assessed (default: the caller's own).
    pub territory: Option<String>,
    /// `YYYY-MM` (default: this month, Asia/Shanghai).
    pub month: Option<String>,
}

pub fn node_and_month(
    state: &AppState,
    caller: &Caller,
    q: &AssessmentQuery,
) -> AppResult<(InScope, Month)> {
    let node = match &q.territory {
        Some(t) => caller.scoped(&parse_code("territory", t)?)?,
        None => caller.home(),
    };
    let month = match &q.month {
        Some(m) => Month::parse(m)?,
        None => Month::of(
            state
                .clock
                .now()
                .with_timezone(&domain::clock::china_offset())
                .date_naive(),
        ),
    };
    Ok((node, month))
}

/// Units of a node ranked by their weighted assessment score for a month (DOMAIN.md §4), each
/// with its indicators and the counts behind them, and the same per level.
#[utoipa::path(get, path = "/api/v1/assessment", tag = "center",
    security(("bearer" = [])), params(AssessmentQuery),
    responses((status = 200, body = AssessmentResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn get_assessment(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<AssessmentQuery>,
) -> AppResult<Json<AssessmentResponse>> {
    let (node, month) = node_and_month(&state, &caller, &q)?;
    Ok(Json(
        assessment::assess(&state, &caller, &node, month).await?,
    ))
}

/// The same as an Excel workbook, with a native chart of the best scores.
#[utoipa::path(get, path = "/api/v1/assessment.xlsx", tag = "center",
    security(("bearer" = [])), params(AssessmentQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export_assessment(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<AssessmentQuery>,
) -> AppResult<Response> {
    let (node, month) = node_and_month(&state, &caller, &q)?;
    let a = assessment::assess(&state, &caller, &node, month).await?;
    let bytes = assessment::workbook(&a)?;
    let name = format!("assessment-{}-{}.xlsx", a.territory, a.month);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The weights of the assessment score and the supervision penalties.
#[utoipa::path(get, path = "/api/v1/admin/assessment-weights", tag = "center",
    security(("bearer" = [])),
    responses((status = 200, body = Object), (status = 401, body = ErrorBody)))]
pub async fn get_assessment_weights(
    State(state): State<AppState>,
    ApiCaller(_caller): ApiCaller,
) -> AppResult<Json<domain::assessment::Weights>> {
    Ok(Json(assessment::weights(&state).await?))
}

/// Replace the weights (administrators). Missing fields take their defaults.
#[utoipa::path(put, path = "/api/v1/admin/assessment-weights", tag = "center",
    security(("bearer" = [])), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_assessment_weights(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(w): ApiJson<domain::assessment::Weights>,
) -> AppResult<Json<domain::assessment::Weights>> {
    Ok(Json(assessment::set_weights(&state, &caller, w).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// The node (default: the caller's own).
    pub territory: Option<String>,
    /// `YYYY-MM-DD` (default: today, Asia/Shanghai).
    pub date: Option<String>,
}

/// The node and day of a daily request.
pub fn node_and_day(
    state: &AppState,
    caller: &Caller,
    territory: Option<&str>,
    date: Option<&str>,
) -> AppResult<(InScope, chrono::NaiveDate)> {
    let node = match territory.filter(|t| !t.is_empty()) {
        Some(t) => caller.scoped(&parse_code("territory", t)?)?,
        None => caller.home(),
    };
    let day = match date.filter(|d| !d.is_empty()) {
        Some(d) => chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
            crate::error::AppError::unprocessable("date", format!("{d:?} is not YYYY-MM-DD"))
        })?,
        None => state
            .clock
            .now()
            .with_timezone(&domain::clock::china_offset())
            .date_naive(),
    };
    Ok((node, day))
}

/// The day's summary and analysis (日汇总、日研判) of a node: cases by class and child, the
/// categories and places rising against their 7- and 30-day baselines (conditional binomial
/// test, 5 % false discovery rate), space-time clusters, sensitive cases, large disputes,
/// overdue and red-carded cases, and what needs a leader's attention.
#[utoipa::path(get, path = "/api/v1/daily", tag = "center",
    security(("bearer" = [])), params(DailyQuery),
    responses((status = 200, body = DailyResponse),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn get_daily(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<DailyQuery>,
) -> AppResult<Json<DailyResponse>> {
    let (node, day) = node_and_day(&state, &caller, q.territory.as_deref(), q.date.as_deref())?;
    Ok(Json(daily::daily(&state, &caller, &node, day).await?))
}

/// The same as an Excel workbook with a native chart.
#[utoipa::path(get, path = "/api/v1/daily.xlsx", tag = "center",
    security(("bearer" = [])), params(DailyQuery),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export_daily(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<DailyQuery>,
) -> AppResult<Response> {
    let (node, day) = node_and_day(&state, &caller, q.territory.as_deref(), q.date.as_deref())?;
    let d = daily::daily(&state, &caller, &node, day).await?;
    let bytes = daily::workbook(&d)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"daily-{}-{}.xlsx\"",
                    d.territory, d.date
                ),
            ),
        ],
        bytes,
    )
        .into_response())
}
