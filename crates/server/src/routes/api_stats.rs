//! `GET /api/v1/stats`: the figures of a node and its children over a period (a thin handler
//! over `actions::stats`).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::actions::stats::{self, StatsView};
use crate::auth::ApiCaller;
use crate::error::{AppResult, ErrorBody};
use crate::routes::extract::ApiQuery;
use crate::state::AppState;

/// The routes of this area, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new().route("/stats", get(get_stats))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// A node inside the caller's scope (default: the caller's node).
    pub territory: Option<String>,
    /// First day, `YYYY-MM-DD` in Asia/Shanghai (default: `to`).
    pub from: Option<String>,
    /// Last day, inclusive (default: today).
    pub to: Option<String>,
}

/// Figures for the node and everything below it, and for each child.
///
/// `{territory, name, level, from, to, cases_total, cases_open, cases_closed, cases_overdue,
/// propaganda_sessions, propaganda_attendees, services_done, visits, hazard_inspections,
/// dispute_screenings, problems_solved, hazards_fixed, disputes_closed, disputes_resolved,
/// dispute_resolution_rate, timely_accept_rate, timely_sign_rate, on_time_close_rate,
/// rework_rate, satisfaction_rate, households, members, daily_reports_expected,
/// daily_reports_received, zero_reports, children: [{territory, name, level, direct?, …the same
/// figures…}]}`.
///
/// - `cases_total`: cases created in the period; `cases_closed`: closed in it; `cases_open`:
///   open at the end of `to`; `cases_overdue`: open now and past their running step's deadline.
/// - `problems_solved`: cases closed in the period with the result 解决; `hazards_fixed`: of
///   them, the safety-hazard categories; `disputes_resolved` / `disputes_closed`: the dispute
///   categories (`dispute_resolution_rate` = resolved / closed).
/// - Rates are in [0, 1] or null when the denominator is 0: 及时受理率 accepted_on_time /
///   due_accept, 及时签收率 signed_on_time / due_sign, 按期办结率 closed_on_time / due_close,
///   返工率 rework / due_close, 回访满意率 satisfied / revisited, from the units of the node.
/// - `daily_reports_expected`: one per grid (its worker) and one per group (its household head)
///   per day of the period; `daily_reports_received`: one per person and day.
/// - A node's counts equal the sum over `children`; what the node holds outside every child
///   is one more entry with `direct: true` and the node's own code.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    security(("bearer" = [])), params(StatsParams),
    responses(
        (status = 200, body = Object, description = "the figures, as described above"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn get_stats(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<StatsParams>,
) -> AppResult<Json<StatsView>> {
    Ok(Json(
        stats::stats(
            &state,
            &caller,
            q.territory.as_deref(),
            q.from.as_deref(),
            q.to.as_deref(),
        )
        .await?,
    ))
}
