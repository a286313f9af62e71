//! The audit log of personal data for administrators: `GET /api/v1/audit` (paged, newest
//! first) and `GET /api/v1/audit/export` (.xlsx or CSV). Thin handlers over `actions::audit`.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use store::org::AuditFilter;

use crate::actions::audit::{self, AuditView};
use crate::auth::ApiCaller;
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::api_org::{Page, download, format_param, limit_param, page, temp_path};
use crate::routes::extract::ApiQuery;
use crate::state::AppState;

/// The routes of this area, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit", get(list_audit))
        .route("/audit/export", get(export_audit))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries of this account id.
    pub account: Option<i64>,
    /// Only this action, e.g. `reveal_personal_data`, `export_personal_data`.
    pub action: Option<String>,
    /// Only this kind of subject: `household`, `households`, `case`, `history`.
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    /// From this day or instant (`YYYY-MM-DD` or RFC 3339), inclusive.
    pub from: Option<String>,
    /// Before this day or instant, exclusive.
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1–1000 (default 100).
    pub limit: Option<i64>,
    /// For the export: `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

fn instant(field: &'static str, raw: Option<&str>) -> AppResult<Option<DateTime<Utc>>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| AppError::unprocessable(field, "expected YYYY-MM-DD or RFC 3339"))
}

impl AuditParams {
    fn filter(&self, limit: i64) -> AppResult<AuditFilter> {
        let before =
            match self.cursor.as_deref().map(str::trim) {
                None | Some("") => 0,
                Some(c) => c.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                    AppError::unprocessable("cursor", "not a cursor of this list")
                })?,
            };
        Ok(AuditFilter {
            account: self.account,
            action: self.action.clone().filter(|s| !s.is_empty()),
            subject_kind: self.subject_kind.clone().filter(|s| !s.is_empty()),
            subject_id: self.subject_id.clone().filter(|s| !s.is_empty()),
            from: instant("from", self.from.as_deref())?,
            to: instant("to", self.to.as_deref())?,
            before,
            limit,
        })
    }
}

/// The audit log of personal data, newest first: who saw which fields of what, when, from
/// which client. Administrators only.
#[utoipa::path(get, path = "/api/v1/audit", tag = "org",
    security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, body = Page<AuditView>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_audit(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> AppResult<Json<Page<AuditView>>> {
    let limit = limit_param(q.limit, 100, 1000)?;
    let filter = q.filter(limit)?;
    let items = audit::page(&state, &caller, &filter).await?;
    Ok(Json(page(items, limit, |a| a.id.to_string())))
}

/// The audit log (with the same filters) as .xlsx or CSV. Administrators only.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "org",
    security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, description = "the file"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export_audit(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> AppResult<Response> {
    let format = format_param(q.format.as_deref())?;
    let filter = q.filter(1000)?;
    let tmp = temp_path(format)?;
    audit::export(&state, &caller, &filter, format, &tmp).await?;
    download(tmp, format, "审计日志").await
}
