//! The router: every door of Gesang and the layers around it.

pub mod admin_pages;
pub mod api;
pub mod api_attachments;
pub mod api_cases;
pub mod api_center;
pub mod api_emergency;
pub mod api_events;
pub mod api_fieldwork;
// Notices (通知) and their acknowledgement (issue 5).
pub mod api_notices;
pub mod api_org;
pub mod api_stats;
// Audit log of personal data (issue 9).
pub mod api_audit;
pub mod case_pages;
pub mod center_pages;
pub mod emergency_pages;
pub mod extract;
pub mod field;
// The centre's notice pages (issue 5).
pub mod notice_pages;
pub mod open311;
pub mod openapi;
pub mod pages;
pub mod resident;
pub mod worklog_pages;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::state::AppState;

/// Largest JSON body the API accepts.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// Build the whole application.
pub fn router(state: AppState) -> Router {
    let hsts = state
        .settings
        .secure_cookies
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    let api = Router::new()
        .route("/auth/token", post(api::create_token))
        .route("/auth/logout", post(api::revoke_token))
        .route("/me", get(api::me))
        .route("/me/password", post(api::change_password))
        .route("/territories/{code}", get(api::get_territory))
        .route("/units", get(api::list_units))
        .route("/households", get(api::list_households))
        .route("/people", get(api::search_people))
        .route("/locate", get(api::locate_point))
        .route("/categories", get(api_cases::list_categories))
        .route(
            "/admin/rules",
            get(api_cases::get_rules).put(api_cases::put_rules),
        )
        .route(
            "/cases",
            get(api_cases::list_cases).post(api_cases::create_case),
        )
        .route("/cases/{id}", get(api_cases::get_case))
        .route("/cases/{id}/actions", post(api_cases::act_on_case))
        .route(
            "/cases/{id}/mediation",
            axum::routing::put(api_cases::put_mediation),
        )
        .merge(api_attachments::api_router())
        .merge(resident::api_router())
        .merge(open311::api_router())
        .merge(api_org::router())
        .merge(api_fieldwork::router())
        .merge(api_notices::router())
        .merge(api_stats::router())
        .merge(api_emergency::router())
        .merge(api_events::router())
        .merge(api_center::router())
        .merge(api_audit::router())
        .route("/openapi.json", get(openapi_json))
        .method_not_allowed_fallback(api_method_not_allowed)
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));

    let pages = pages::router()
        .merge(center_pages::router())
        .merge(notice_pages::router())
        .merge(worklog_pages::router())
        .layer(CsrfLayer::new());

    Router::new()
        .nest("/api/v1", api)
        .merge(pages)
        .merge(api_attachments::page_router())
        .merge(resident::page_router())
        .merge(field::router())
        .merge(open311::router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn(record_metrics))
                .layer(TraceLayer::new_for_http())
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(60),
                ))
                .layer(CompressionLayer::new())
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                // The resident page and the field app ask for the position, and may use the
                // camera and microphone for photos and voice notes; nothing else is needed.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::HeaderName::from_static("permissions-policy"),
                    HeaderValue::from_static(
                        "geolocation=(self), camera=(self), microphone=(self), payment=(), \
                         usb=(), serial=(), bluetooth=(), interest-cohort=()",
                    ),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::HeaderName::from_static("cross-origin-opener-policy"),
                    HeaderValue::from_static("same-origin"),
                ))
                // Behind HTTPS (the operator says so with --secure-cookies), browsers are told
                // to use nothing else for a year.
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::STRICT_TRANSPORT_SECURITY,
                    hsts,
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                         script-src 'self'; object-src 'none'; base-uri 'none'; \
                         form-action 'self'; frame-ancestors 'none'",
                    ),
                )),
        )
}

/// Count requests and time them per route pattern (never per raw path: codes would explode
/// the label set).
async fn record_metrics(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("gesang_http_requests_total", &labels).increment(1);
    metrics::histogram!("gesang_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    resp
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let body = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
        .into_response()
}

async fn api_not_found(uri: Uri) -> AppError {
    AppError::NotFound(format!("API endpoint {}", uri.path()))
}

async fn api_method_not_allowed(method: axum::http::Method, uri: Uri) -> AppError {
    AppError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    AppError::Internal("panic".into()).into_response()
}
