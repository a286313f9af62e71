//! `GET /api/v1/events`: the server-sent event stream of case and incident events inside a
//! node, for the caller's scope.

use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, header, request::Parts};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::actions::territory::parse_code;
use crate::auth::{ApiCaller, Caller, PageCaller};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::extract::ApiQuery;
use crate::state::AppState;

/// Seconds between heartbeats (a comment line keeps proxies and mobile networks from closing
/// a quiet stream, and finds dead clients).
pub const HEARTBEAT: Duration = Duration::from_secs(15);

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(stream_events))
}

/// A caller by bearer token (API clients) or by the page session cookie (the war room's
/// `EventSource`, which cannot set headers). The stream only reads, and the browser sends no
/// cookie to it from another site's script without CORS, which Gesang never grants.
pub struct StreamCaller(pub Caller);

impl FromRequestParts<AppState> for StreamCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(StreamCaller(
                ApiCaller::from_request_parts(parts, state).await?.0,
            ));
        }
        match PageCaller::from_request_parts(parts, state).await?.0 {
            Some(c) => Ok(StreamCaller(c)),
            None => Err(AppError::Unauthorized(
                "missing Authorization: Bearer token or session".into(),
            )),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The node (default: the caller's own); events of it and of everything below it.
    pub territory: Option<String>,
    /// Resume after this event id (as the `Last-Event-ID` header does).
    pub last_event_id: Option<i64>,
    /// End the stream after this many seconds (at most a day; default: never). Clients
    /// reconnect with `Last-Event-ID`; behind a load balancer this spreads them over servers.
    pub max_seconds: Option<u32>,
}

/// One server-sent event as the stream carries it (the fields of the text/event-stream
/// format; `data` is the event's JSON, described on the operation).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ServerSentEvent {
    /// Resume after it with `Last-Event-ID`.
    pub id: Option<String>,
    /// The kind: `case_created`, `case_changed`, `case_supervised`, `incident_activated`,
    /// `incident_rollcall`, `incident_acknowledged`, `incident_changed`.
    pub event: Option<String>,
    /// The event's facts, a JSON object as text.
    pub data: Option<String>,
    pub retry: Option<i64>,
}

/// Live events inside a node, as server-sent events. Each has an `id` (resume with
/// `Last-Event-ID`), an `event` (`case_created`, `case_changed`, `case_supervised` — an
/// automatic one is an overdue case — and the emergency's `incident_…` kinds) and JSON `data`
/// `{id, kind, at, territory, centre, case_id, …}` (for cases: `code, category, status,
/// action, from_status, urgency, handling_level, handling_unit, lat, lng`, and `level,
/// automatic` for supervision). A comment every 15 s keeps the stream alive. A client that
/// falls more than 2,048 events behind is disconnected, to reconnect and resume.
#[utoipa::path(get, path = "/api/v1/events", tag = "cases",
    security(("bearer" = [])),
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses(
        (status = 200, content_type = "text/event-stream", body = ServerSentEvent, description = "the stream: one such event at a time"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn stream_events(
    State(state): State<AppState>,
    StreamCaller(caller): StreamCaller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> AppResult<Response> {
    let node = match &q.territory {
        Some(t) => caller.scoped(&parse_code("territory", t)?)?,
        None => caller.home(),
    };
    let after = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| AppError::unprocessable("Last-Event-ID", "not an event id"))?,
        ),
        None => q.last_event_id,
    };
    let until = q
        .max_seconds
        .map(|s| Duration::from_secs(u64::from(s.min(86_400))));
    let stream = state.events.open(node.code().clone(), after, until).await?;
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response();
    // Reverse proxies (nginx) must pass each event on at once.
    resp.headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    Ok(resp)
}
