//! The JSON API of emergency response (`/api/v1/plans`, `/api/v1/incidents/…`,
//! `/api/v1/me/instructions`): thin handlers over `actions::emergency`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use domain::emergency::{IncidentCommand, Plan, ResponseLevel, RollCallStatus};
use serde::Deserialize;
use store::emergency::RollCallResult;

use crate::actions::emergency::{
    self, ActivateInput, AfterActionReport, EventView, IncidentHouseholdPage, IncidentSummary,
    IncidentView, InstructionView, PlanSummary, RollCallHistoryView, RollCallRequest,
};
use crate::actions::territory::parse_code;
use crate::auth::ApiCaller;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The routes of this area, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/plans", get(list_plans))
        .route("/plans/{code}", put(put_plan))
        .route("/incidents", get(list_incidents).post(create_incident))
        .route("/incidents/{id}", get(get_incident))
        .route("/incidents/{id}/households", get(list_incident_households))
        .route(
            "/incidents/{id}/households/{household}/history",
            get(get_household_history),
        )
        .route("/incidents/{id}/rollcall", post(post_rollcall))
        .route("/incidents/{id}/timeline", get(get_timeline))
        .route("/incidents/{id}/level", post(change_level))
        .route("/incidents/{id}/reports", post(post_report))
        .route("/incidents/{id}/orders", post(post_order))
        .route("/incidents/{id}/stand-down", post(stand_down))
        .route("/incidents/{id}/instructions", get(list_instructions))
        .route(
            "/incidents/{id}/instructions/{seq}/ack",
            post(acknowledge_instruction),
        )
        .route("/incidents/{id}/report", get(get_after_action))
        .route("/incidents/{id}/report.xlsx", get(export_after_action))
        .route("/me/instructions", get(my_instructions))
}

fn id_param(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::NotFound(format!("incident {raw:?}")))
}

fn cursor_param(raw: Option<&str>) -> AppResult<i64> {
    match raw {
        None | Some("") => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| AppError::unprocessable("cursor", "not a cursor from this API")),
    }
}

fn limit_param(limit: Option<i64>) -> AppResult<i64> {
    let l = limit.unwrap_or(200);
    if (1..=1000).contains(&l) {
        Ok(l)
    } else {
        Err(AppError::unprocessable("limit", "1 to 1000"))
    }
}

/// The emergency plans, each with its levels and the task of every role in Chinese and
/// Tibetan.
#[utoipa::path(get, path = "/api/v1/plans", tag = "emergency",
    security(("bearer" = [])),
    responses((status = 200, body = [PlanSummary]), (status = 401, body = ErrorBody)))]
pub async fn list_plans(
    State(state): State<AppState>,
    ApiCaller(_caller): ApiCaller,
) -> AppResult<Json<Vec<PlanSummary>>> {
    Ok(Json(emergency::list_plans(&state).await?))
}

/// Create or replace a plan (administrators). The body is a whole plan: `code`, `hazard`,
/// `name`, `name_bo` and `levels` 1–4, each with `report_every_hours` and a task (`role`,
/// `text_zh`, `text_bo`, `checklist`) for every role.
#[utoipa::path(put, path = "/api/v1/plans/{code}", tag = "emergency",
    security(("bearer" = [])),
    params(("code" = String, Path)),
    request_body(content = Object),
    responses((status = 200, body = PlanSummary), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn put_plan(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(code): Path<String>,
    ApiJson(plan): ApiJson<Plan>,
) -> AppResult<Json<PlanSummary>> {
    if plan.code != code {
        return Err(AppError::unprocessable(
            "code",
            "the body's code differs from the path's",
        ));
    }
    Ok(Json(emergency::save_plan(&state, &caller, plan).await?))
}

/// `POST /api/v1/incidents`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateIncidentRequest {
    /// A plan code from `GET /api/v1/plans`.
    pub plan: String,
    /// Territory codes of the area (each with everything below it).
    pub territories: Vec<String>,
    /// 1 (Ⅰ, the gravest) … 4 (Ⅳ).
    pub level: i64,
    pub title: String,
}

/// Activate a plan on a set of territory nodes (一声令): instructions go at once to every member
/// working in or paired with the area and to its centres and paired departments; every household
/// of the area gets a roll-call entry (`unreached`). By a leader or centre operator whose scope
/// covers every listed node.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "emergency",
    security(("bearer" = [])),
    request_body = CreateIncidentRequest,
    responses((status = 201, body = IncidentView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_incident(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(req): ApiJson<CreateIncidentRequest>,
) -> AppResult<Response> {
    let territories = req
        .territories
        .iter()
        .map(|t| parse_code("territories", t))
        .collect::<AppResult<Vec<_>>>()?;
    let level = ResponseLevel::new(req.level)?;
    let v = emergency::activate(
        &state,
        &caller,
        ActivateInput {
            plan: req.plan,
            territories,
            level,
            title: req.title,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListIncidentsParams {
    /// `true`: only incidents not stood down.
    pub active: Option<bool>,
}

/// The incidents whose area the caller has to do with, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "emergency",
    security(("bearer" = [])),
    params(ListIncidentsParams),
    responses((status = 200, body = [IncidentSummary])))]
pub async fn list_incidents(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ListIncidentsParams>,
) -> AppResult<Json<Vec<IncidentSummary>>> {
    Ok(Json(
        emergency::list(&state, &caller, q.active.unwrap_or(false)).await?,
    ))
}

/// The incident with its roll-call counts in total and per village (read from counters kept
/// with every roll-call update).
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = IncidentView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_incident(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<IncidentView>> {
    Ok(Json(emergency::get(&state, &caller, id_param(&id)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentHouseholdsParams {
    /// `safe`, `evacuated`, `injured`, `missing`, `unreached`.
    pub status: Option<String>,
    /// A node inside the caller's scope (default: all of the area the caller sees).
    pub territory: Option<String>,
    pub cursor: Option<String>,
    /// 1–1000 (default 200).
    pub limit: Option<i64>,
}

/// The households of the incident area with their roll-call status and their heads' contacts
/// (masked unless the role sees personal data), by id.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/households", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path), IncidentHouseholdsParams),
    responses((status = 200, body = IncidentHouseholdPage), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_incident_households(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<IncidentHouseholdsParams>,
) -> AppResult<Json<IncidentHouseholdPage>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(RollCallStatus::parse(s).ok_or_else(|| {
            AppError::unprocessable("status", "safe, evacuated, injured, missing or unreached")
        })?),
    };
    let territory = match q.territory.as_deref() {
        None | Some("") => None,
        Some(t) => Some(parse_code("territory", t)?),
    };
    let page = emergency::households(
        &state,
        &caller,
        id_param(&id)?,
        status,
        territory,
        cursor_param(q.cursor.as_deref())?,
        limit_param(q.limit)?,
    )
    .await?;
    Ok(Json(page))
}

/// Every roll-call report about one household, oldest first, with whether each was the latest
/// observation when it arrived.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/households/{household}/history", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path), ("household" = i64, Path)),
    responses((status = 200, body = [RollCallHistoryView]), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get_household_history(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path((id, household)): Path<(String, String)>,
) -> AppResult<Json<Vec<RollCallHistoryView>>> {
    let household = household
        .parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("household {household:?}")))?;
    Ok(Json(
        emergency::household_history(&state, &caller, id_param(&id)?, household).await?,
    ))
}

/// Set households' roll-call status, in batches of up to 1,000. Every report is kept in the
/// household's history; the latest observation (`at`, default now) stands, so two reports on
/// one household are never silently lost. A household head may report the households of his
/// group, a grid worker those of his grid. The same `idempotency_key` twice is applied once.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/rollcall", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = RollCallRequest,
    responses((status = 200, body = Object, description = "`{recorded, applied, superseded, replayed}`"),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn post_rollcall(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RollCallRequest>,
) -> AppResult<Json<RollCallResult>> {
    Ok(Json(
        emergency::roll_call(&state, &caller, id_param(&id)?, req).await?,
    ))
}

/// The timeline: activation, level changes, orders, situation reports (续报), stand-down.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = [EventView]), (status = 403, body = ErrorBody)))]
pub async fn get_timeline(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<Vec<EventView>>> {
    Ok(Json(
        emergency::timeline(&state, &caller, id_param(&id)?).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChangeLevelRequest {
    /// The new level, 1–4.
    pub level: i64,
    pub reason: String,
}

/// Raise or lower the response level: every instruction is sent again at the new level and
/// needs a new acknowledgement.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/level", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = ChangeLevelRequest,
    responses((status = 200, body = IncidentView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn change_level(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChangeLevelRequest>,
) -> AppResult<Json<IncidentView>> {
    let to = ResponseLevel::new(req.level)?;
    let cmd = IncidentCommand::ChangeLevel {
        to,
        reason: req.reason,
    };
    Ok(Json(
        emergency::command(&state, &caller, id_param(&id)?, cmd).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TextRequest {
    pub text: String,
}

/// A situation report (续报) on the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/reports", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = TextRequest,
    responses((status = 200, body = IncidentView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn post_report(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TextRequest>,
) -> AppResult<Json<IncidentView>> {
    let cmd = IncidentCommand::Report { text: req.text };
    Ok(Json(
        emergency::command(&state, &caller, id_param(&id)?, cmd).await?,
    ))
}

/// A further order on the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/orders", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = TextRequest,
    responses((status = 200, body = IncidentView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn post_order(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TextRequest>,
) -> AppResult<Json<IncidentView>> {
    let cmd = IncidentCommand::Order { text: req.text };
    Ok(Json(
        emergency::command(&state, &caller, id_param(&id)?, cmd).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StandDownRequest {
    pub summary: String,
}

/// Stand down (解除应急响应): the timeline closes; the after-action report stays.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/stand-down", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    request_body = StandDownRequest,
    responses((status = 200, body = IncidentView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn stand_down(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StandDownRequest>,
) -> AppResult<Json<IncidentView>> {
    let cmd = IncidentCommand::StandDown {
        summary: req.summary,
    };
    Ok(Json(
        emergency::command(&state, &caller, id_param(&id)?, cmd).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstructionParams {
    pub cursor: Option<String>,
    /// 1–1000 (default 200).
    pub limit: Option<i64>,
}

/// The incident's instructions not yet acknowledged, by number.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/instructions", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path), InstructionParams),
    responses((status = 200, body = [InstructionView]), (status = 403, body = ErrorBody)))]
pub async fn list_instructions(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<InstructionParams>,
) -> AppResult<Json<Vec<InstructionView>>> {
    Ok(Json(
        emergency::open_instructions(
            &state,
            &caller,
            id_param(&id)?,
            cursor_param(q.cursor.as_deref())?,
            limit_param(q.limit)?,
        )
        .await?,
    ))
}

/// Acknowledge an instruction addressed to the caller (once; again changes nothing).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/instructions/{seq}/ack", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path), ("seq" = i64, Path)),
    responses((status = 200, body = InstructionView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn acknowledge_instruction(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path((id, seq)): Path<(String, String)>,
) -> AppResult<Json<InstructionView>> {
    let seq = seq
        .parse::<i64>()
        .map_err(|_| AppError::NotFound(format!("instruction {seq:?}")))?;
    Ok(Json(
        emergency::acknowledge(&state, &caller, id_param(&id)?, seq).await?,
    ))
}

/// The instructions addressed to the caller in active incidents, with the plan's text for his
/// role in Chinese and Tibetan.
#[utoipa::path(get, path = "/api/v1/me/instructions", tag = "emergency",
    security(("bearer" = [])),
    responses((status = 200, body = [InstructionView])))]
pub async fn my_instructions(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> AppResult<Json<Vec<InstructionView>>> {
    Ok(Json(emergency::my_instructions(&state, &caller).await?))
}

/// The after-action report: the incident, its timeline, the households missing, injured and
/// never reached, and the instructions never acknowledged.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/report", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, body = AfterActionReport), (status = 403, body = ErrorBody)))]
pub async fn get_after_action(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<AfterActionReport>> {
    Ok(Json(
        emergency::after_action(&state, &caller, id_param(&id)?).await?,
    ))
}

/// The after-action report as an Excel workbook.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/report.xlsx", tag = "emergency",
    security(("bearer" = [])),
    params(("id" = i64, Path)),
    responses((status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (status = 403, body = ErrorBody)))]
pub async fn export_after_action(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let report = emergency::after_action(&state, &caller, id_param(&id)?).await?;
    crate::routes::emergency_pages::xlsx_response(&report)
}
