//! The JSON API under `/api/v1`: thin handlers that parse, call an action, and render.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::account::SessionKind;

use crate::actions;
use crate::actions::people::{HouseholdView, MemberView, UnitView};
use crate::actions::territory::{TerritoryView, parse_code};
use crate::auth::{ApiCaller, ClientIp};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Exchange a user name and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = ErrorBody, description = "wrong user name or password"),
        (status = 429, body = ErrorBody, description = "too many failed attempts"),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<TokenRequest>,
) -> AppResult<Json<TokenResponse>> {
    let s = actions::auth::sign_in(
        &state,
        &req.username,
        &req.password,
        SessionKind::Api,
        client,
    )
    .await?;
    Ok(Json(TokenResponse {
        token: s.token,
        expires_at: s.expires_at,
    }))
}

/// Revoke the bearer token of this request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    _caller: ApiCaller,
    headers: axum::http::HeaderMap,
) -> AppResult<StatusCode> {
    // ApiCaller has already checked the header; the token is there.
    if let Some(token) = crate::auth::bearer_token(&headers) {
        actions::auth::sign_out(&state, token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// `admin, leader, center_operator, department_handler, grid_worker, household_head`.
    pub roles: Vec<String>,
    /// The territory code this account sees and acts on (and everything below it).
    pub scope: String,
    pub scope_name: String,
    pub scope_level: String,
    pub unit: Option<String>,
}

/// The signed-in account, its roles and its territory scope.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> AppResult<Json<MeResponse>> {
    let home = caller.home();
    let node = actions::territory::node(&state, &home).await?;
    let p = caller.principal;
    Ok(Json(MeResponse {
        id: p.account_id,
        username: p.username,
        display_name: p.display_name,
        roles: vec![p.role.as_str().to_owned()],
        scope: p.scope.to_string(),
        scope_name: node.name,
        scope_level: node.level.as_str().to_owned(),
        unit: p.unit,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChangeRequest {
    pub current_password: String,
    /// At least 10 characters, not a common password, not containing the user name.
    pub new_password: String,
}

/// Change the signed-in account's password. Every session of the account is revoked, this
/// token included: sign in again with the new password.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    security(("bearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 204, description = "changed; every session of the account is revoked"),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`current_password` wrong, or `new_password` against the policy"),
        (status = 429, body = ErrorBody, description = "too many wrong passwords"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<PasswordChangeRequest>,
) -> AppResult<StatusCode> {
    actions::auth::change_password(
        &state,
        &caller,
        &req.current_password,
        &req.new_password,
        client,
    )
    .await
    .map_err(AppError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A territory node with its children, outline and subtree counts.
#[utoipa::path(get, path = "/api/v1/territories/{code}", tag = "territory",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "territory code, e.g. 623027")),
    responses(
        (status = 200, body = TerritoryView),
        (status = 403, body = ErrorBody, description = "outside the caller's scope"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "not a territory code"),
    ))]
pub async fn get_territory(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(code): Path<String>,
) -> AppResult<Json<TerritoryView>> {
    let code = parse_code("code", &code)?;
    Ok(Json(
        actions::territory::get_territory(&state, &caller, &code).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TerritoryParam {
    /// Territory code.
    pub territory: String,
}

/// The units attached to a node: its centre, its departments, or its grid unit.
#[utoipa::path(get, path = "/api/v1/units", tag = "territory",
    security(("bearer" = [])),
    params(TerritoryParam),
    responses((status = 200, body = [UnitView]), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_units(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<TerritoryParam>,
) -> AppResult<Json<Vec<UnitView>>> {
    let code = caller.scoped(&parse_code("territory", &q.territory)?)?;
    actions::territory::node(&state, &code).await?;
    Ok(Json(actions::people::units_at(&state, &code).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HouseholdsParams {
    /// Territory code; households of this node and below.
    pub territory: String,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HouseholdPage {
    pub items: Vec<HouseholdView>,
    pub next_cursor: Option<String>,
}

/// Households below a node, with personal data masked unless the role needs it.
#[utoipa::path(get, path = "/api/v1/households", tag = "people",
    security(("bearer" = [])),
    params(HouseholdsParams),
    responses((status = 200, body = HouseholdPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_households(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<HouseholdsParams>,
) -> AppResult<Json<HouseholdPage>> {
    let code = caller.scoped(&parse_code("territory", &q.territory)?)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::unprocessable(
            "limit",
            "limit must be between 1 and 500",
        ));
    }
    let after = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| AppError::unprocessable("cursor", "not a cursor from this API"))?,
    };
    let items = actions::people::households(&state, &caller, &code, after, limit).await?;
    let next_cursor = if items.len() as i64 == limit {
        items.last().map(|h| h.id.to_string())
    } else {
        None
    };
    Ok(Json(HouseholdPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Name, or the start of it.
    pub q: String,
    /// Territory code to search in (default: the caller's scope).
    pub territory: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PeopleSearchResponse {
    pub households: Vec<HouseholdView>,
    pub members: Vec<MemberView>,
}

/// Search households (by the head's name) and members (by name) in the caller's territory.
#[utoipa::path(get, path = "/api/v1/people", tag = "people",
    security(("bearer" = [])),
    params(SearchParams),
    responses((status = 200, body = PeopleSearchResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn search_people(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<SearchParams>,
) -> AppResult<Json<PeopleSearchResponse>> {
    let within = match &q.territory {
        Some(t) => caller.scoped(&parse_code("territory", t)?)?,
        None => caller.home(),
    };
    let term = q.q.trim();
    if term.is_empty() || term.chars().count() > 50 {
        return Err(AppError::unprocessable(
            "q",
            "give 1 to 50 characters to search for",
        ));
    }
    let (households, members) = actions::people::search(&state, &caller, &within, term, 50).await?;
    Ok(Json(PeopleSearchResponse {
        households,
        members,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LocateParams {
    pub lng: f64,
    pub lat: f64,
    /// `wgs84` (phones, GPS; the default) or `gcj02` (Chinese web maps, WeChat).
    pub datum: Option<String>,
}

/// Which grid a point lies in. GCJ-02 input is converted to WGS-84 first.
#[utoipa::path(get, path = "/api/v1/locate", tag = "territory",
    security(("bearer" = [])),
    params(LocateParams),
    responses((status = 200, body = actions::territory::LocateView), (status = 422, body = ErrorBody)))]
pub async fn locate_point(
    State(state): State<AppState>,
    ApiCaller(_caller): ApiCaller,
    ApiQuery(q): ApiQuery<LocateParams>,
) -> AppResult<Json<actions::territory::LocateView>> {
    use domain::coord::{Datum, GeoPoint};
    let datum = match q.datum.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("wgs84") => Datum::Wgs84,
        Some("gcj02") => Datum::Gcj02,
        Some(other) => {
            return Err(AppError::unprocessable(
                "datum",
                format!("{other:?}: expected wgs84 or gcj02"),
            ));
        }
    };
    let point = GeoPoint::from_datum(q.lng, q.lat, datum)
        .map_err(|e| AppError::unprocessable("lng/lat", e.to_string()))?;
    Ok(Json(actions::territory::locate(&state, point).await?))
}
