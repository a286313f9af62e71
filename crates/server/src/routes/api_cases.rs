//! The case endpoints of the JSON API.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::case::{Channel, Status};
use domain::category::CategoryTree;
use serde::{Deserialize, Serialize};

use crate::actions::case::{self as cases, CaseView, CreateCaseRequest, ListQuery};
use crate::actions::figures::{FigureFilter, FigureParams};
use crate::actions::territory::parse_code;
use crate::auth::ApiCaller;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// The category tree: three classes, then the 综治 taxonomy with local additions.
#[utoipa::path(get, path = "/api/v1/categories", tag = "cases",
    security(("bearer" = [])),
    responses((status = 200, body = [Object], description = "[{code, name, class, children}]"),
        (status = 401, body = ErrorBody)))]
pub async fn list_categories(
    State(state): State<AppState>,
    ApiCaller(_caller): ApiCaller,
) -> Json<Vec<CategoryTree>> {
    Json(state.rules.read().await.taxonomy.tree())
}

/// Report a case. Located cases go to their grid; the category picks the centre.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases",
    security(("bearer" = [])),
    request_body = CreateCaseRequest,
    responses(
        (status = 201, body = CaseView, description = "created (or, for a repeated idempotency key, the first case, with `Idempotent-Replayed: true`)"),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "a field is invalid; `field` names it"),
    ))]
pub async fn create_case(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(req): ApiJson<CreateCaseRequest>,
) -> AppResult<Response> {
    let channel = match caller.role() {
        domain::account::Role::GridWorker | domain::account::Role::HouseholdHead => {
            Channel::FieldApp
        }
        _ => Channel::WalkIn,
    };
    let input = {
        let rules = state.rules.read().await;
        req.parse(&rules, channel)?
    };
    let (rec, new) = cases::create_case(&state, Some(&caller), input).await?;
    let view = cases::view(&state, Some(&caller), &rec, false).await?;
    let mut resp = (StatusCode::CREATED, Json(view)).into_response();
    if !new {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Parse a case reference: its numeric id or its code.
pub(crate) async fn case_id(state: &AppState, raw: &str) -> AppResult<i64> {
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(id);
    }
    if domain::case::CaseCode::parse(raw).is_ok() {
        return state
            .db
            .case_by_code(raw)
            .await?
            .map(|r| r.id)
            .ok_or_else(|| AppError::NotFound(format!("case {raw}")));
    }
    Err(AppError::unprocessable(
        "id",
        "a case id or a case code like GN20261126000001",
    ))
}

/// A case with its history.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "case id or code")),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<CaseView>> {
    let id = case_id(&state, &id).await?;
    let rec = cases::load_case(&state, &caller, id).await?;
    Ok(Json(cases::view(&state, Some(&caller), &rec, true).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    pub status: Option<String>,
    /// This node and everything below it (default: the caller's scope).
    pub territory: Option<String>,
    /// A category code; its sub-categories match too.
    pub category: Option<String>,
    /// Only cases past the deadline of their running step.
    pub overdue: Option<bool>,
    /// Full text over Chinese, Tibetan and English.
    pub q: Option<String>,
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `deadline`: open cases earliest deadline first (a queue); default newest first.
    pub order: Option<String>,
    /// Created on or after this day (`YYYY-MM-DD`, Asia/Shanghai); with `closed=true`, closed.
    pub from: Option<String>,
    /// Created on or before this day (inclusive); with `closed=true`, closed.
    pub to: Option<String>,
    /// `from`/`to` are the day the case was closed (the figures of cases closed in a period).
    pub closed: Option<bool>,
    /// `solved`: only cases closed with the result 解决.
    pub result: Option<String>,
    /// Only the dispute categories (化解矛盾纠纷).
    pub dispute: Option<bool>,
    /// Only the safety-hazard categories (排查整治隐患).
    pub hazard: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CasePage {
    pub items: Vec<CaseView>,
    pub next_cursor: Option<String>,
}

/// Cases inside the caller's scope.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases",
    security(("bearer" = [])),
    params(CaseListParams),
    responses((status = 200, body = CasePage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_cases(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(p): ApiQuery<CaseListParams>,
) -> AppResult<Json<CasePage>> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::unprocessable(
            "limit",
            "limit must be between 1 and 200",
        ));
    }
    let queue = match p.order.as_deref() {
        None | Some("") | Some("newest") => false,
        Some("deadline") => true,
        Some(_) => {
            return Err(AppError::unprocessable(
                "order",
                "expected newest or deadline",
            ));
        }
    };
    if queue && p.cursor.is_some() {
        return Err(AppError::unprocessable(
            "cursor",
            "the deadline order is one page; drop cursor",
        ));
    }
    let q =
        ListQuery {
            within: match &p.territory {
                Some(t) => Some(caller.scoped(&parse_code("territory", t)?)?),
                None => None,
            },
            status: match p.status.as_deref() {
                None | Some("") => None,
                Some(s) => Some(Status::parse(s).ok_or_else(|| {
                    AppError::unprocessable("status", format!("unknown status {s:?}"))
                })?),
            },
            category: p.category.filter(|c| !c.trim().is_empty()),
            overdue: p.overdue.unwrap_or(false),
            q: p.q.filter(|q| !q.trim().is_empty()),
            before_id: match p.cursor.as_deref() {
                None | Some("") => None,
                Some(c) => Some(c.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    AppError::unprocessable("cursor", "not a cursor from this API")
                })?),
            },
            limit,
            queue,
            desk: None,
            open_only: false,
            figure: FigureFilter::parse(&FigureParams {
                from: p.from.as_deref(),
                to: p.to.as_deref(),
                closed: p.closed.map(|b| if b { "true" } else { "" }),
                result: p.result.as_deref(),
                dispute: p.dispute.map(|b| if b { "true" } else { "" }),
                hazard: p.hazard.map(|b| if b { "true" } else { "" }),
            })?,
        };
    let rows = cases::list(&state, &caller, &q).await?;
    let next_cursor = if !queue && rows.len() as i64 == limit {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        items.push(cases::view(&state, Some(&caller), r, false).await?);
    }
    Ok(Json(CasePage { items, next_cursor }))
}

/// Act on a case: `{"action": NAME, …parameters, "idempotency_key"?}` (CONTRACT.md lists
/// them). The same `idempotency_key` twice applies the action once and answers the case as that
/// action left it both times (the second with `Idempotent-Replayed: true`); a key is the
/// caller's own and names one request (used for another case or kind: 422).
#[utoipa::path(post, path = "/api/v1/cases/{id}/actions", tag = "cases",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "case id or code")),
    request_body(content = Object, description = "{\"action\": NAME, …, \"idempotency_key\"?: TEXT}"),
    responses(
        (status = 200, body = CaseView, description = "the case after the action (for a repeated idempotency key: as the first request left it, with `Idempotent-Replayed: true`)"),
        (status = 403, body = ErrorBody, description = "not this account's to do"),
        (status = 409, body = ErrorBody, description = "the case's state does not allow it; the message names the allowed actions"),
        (status = 422, body = ErrorBody),
    ))]
pub async fn act_on_case(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> AppResult<Response> {
    if !body.is_object() {
        return Err(AppError::unprocessable(
            "body",
            "expected a JSON object with an action",
        ));
    }
    let id = case_id(&state, &id).await?;
    let (rec, replayed) = cases::act_once(&state, &caller, id, &body).await?;
    let mut resp = Json(cases::view(&state, Some(&caller), &rec, true).await?).into_response();
    if replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// The editable rules: categories, calendar, time limits, supervision thresholds (admin only).
#[utoipa::path(get, path = "/api/v1/admin/rules", tag = "cases",
    security(("bearer" = [])),
    responses((status = 200, body = crate::actions::rules::RulesDocument), (status = 403, body = ErrorBody)))]
pub async fn get_rules(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> AppResult<Json<crate::actions::rules::RulesDocument>> {
    Ok(Json(crate::actions::rules::get(&state, &caller).await?))
}

/// Replace the rules as a whole; validated before anything is stored (admin only).
#[utoipa::path(put, path = "/api/v1/admin/rules", tag = "cases",
    security(("bearer" = [])),
    request_body = crate::actions::rules::RulesDocument,
    responses((status = 200, body = crate::actions::rules::RulesDocument), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_rules(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(doc): ApiJson<crate::actions::rules::RulesDocument>,
) -> AppResult<Json<crate::actions::rules::RulesDocument>> {
    Ok(Json(
        crate::actions::rules::put(&state, &caller, doc).await?,
    ))
}

/// Record the mediation of a dispute case (parties, people involved, mediators, sessions,
/// outcome, agreement, judicial confirmation, follow-up).
#[utoipa::path(put, path = "/api/v1/cases/{id}/mediation", tag = "cases",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "case id or code")),
    request_body(content = Object, description = "the mediation record"),
    responses((status = 200, body = CaseView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not a dispute"), (status = 422, body = ErrorBody)))]
pub async fn put_mediation(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(record): ApiJson<domain::case::mediation::MediationRecord>,
) -> AppResult<Json<CaseView>> {
    let id = case_id(&state, &id).await?;
    let rec = cases::set_mediation(&state, &caller, id, record).await?;
    Ok(Json(cases::view(&state, Some(&caller), &rec, true).await?))
}
