//! The field app (`/field`, 平安通) for grid workers and household heads: an installable,
//! offline-first web app. The server gives it a static shell (the page, its scripts, styles,
//! icons, manifest and service worker, in Chinese or Tibetan) and one door of its own,
//! `POST /field/token`, which turns the page session of the signed-in account into an API
//! bearer token the app keeps in IndexedDB; everything else goes through the JSON API.
//!
//! Why a token: the JSON API authenticates by `Authorization: Bearer` only, and the session
//! cookie is `HttpOnly`, so a script cannot read it (and should not). The shell itself carries no
//! personal data and no session, so the service worker may cache it for offline starts.

use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use store::account::SessionKind;

use crate::auth::{PageCaller, new_token, token_hash};
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;
use crate::routes::pages::PageCtx;
use crate::state::AppState;

/// The header the app sends with `POST /field/token`. A cross-site page cannot send a custom
/// header without a CORS preflight (which the server never grants), so together with the
/// `Sec-Fetch-Site` check of the CSRF layer no other site can mint a token with the cookie.
pub const FIELD_HEADER: &str = "x-gesang-field";

/// The field translations (every key of `field.ftl`, handed to the scripts).
const FIELD_FTL: &str = include_str!("../../i18n/zh-CN/field.ftl");

/// The files of the shell: path under `/static/field/`, content type, body.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "queue.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/field/queue.js"),
    ),
    (
        "idb.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/field/idb.js"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../static/field/app.js"),
    ),
    (
        "field.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/field/field.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../static/field/icon.svg"),
    ),
    (
        "icon-192.png",
        "image/png",
        include_bytes!("../../static/field/icon-192.png"),
    ),
    (
        "icon-512.png",
        "image/png",
        include_bytes!("../../static/field/icon-512.png"),
    ),
];

const SERVICE_WORKER: &str = include_str!("../../static/field/sw.js");

/// A version of the shell: a hash of every file, so a new build changes the service worker's
/// bytes and phones fetch the new shell once.
fn shell_version() -> String {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(compute_version).clone()
}

fn compute_version() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, _, body) in FILES {
        h.update(name.as_bytes());
        h.update(body);
    }
    h.update(FIELD_FTL.as_bytes());
    h.update(SERVICE_WORKER.as_bytes());
    h.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn router() -> Router<AppState> {
    let mut r = Router::new()
        .route("/field", get(shell))
        .route("/field/", get(|| async { Redirect::permanent("/field") }))
        .route("/field/sw.js", get(service_worker))
        .route("/field/manifest.webmanifest", get(manifest))
        .route("/field/token", post(mint_token));
    for (name, kind, body) in FILES {
        let kind: &'static str = kind;
        let body: &'static [u8] = body;
        let etag = format!("\"{}-{name}\"", shell_version());
        r = r.route(
            &format!("/static/field/{name}"),
            get(move |headers: HeaderMap| {
                let etag = etag.clone();
                async move { static_file(&headers, kind, body, &etag) }
            }),
        );
    }
    r.layer(tower_http::csrf::CsrfLayer::new())
}

/// A shell file, revalidated by its ETag (the shell version): the service worker's precache
/// right after the page's own first load costs a few hundred bytes of 304s, not the files again.
fn static_file(
    headers: &HeaderMap,
    kind: &'static str,
    body: &'static [u8],
    etag: &str,
) -> Response {
    let tag = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, kind)], body).into_response()
    };
    let h = resp.headers_mut();
    // Revalidated each time online (cheap, by the ETag): the service worker serves the files
    // offline, and a new build must reach phones at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ETAG, tag);
    resp
}

#[derive(Template)]
#[template(path = "field.html")]
struct FieldShell {
    lang: Lang,
    title: String,
    loading: String,
    noscript: String,
    /// The translations as JSON, for the scripts.
    strings: String,
    version: String,
}

/// Every key of the field area in `lang`.
fn strings(ctx: &PageCtx) -> String {
    let mut map = serde_json::Map::new();
    for line in FIELD_FTL.lines() {
        let line = line.trim_start();
        if line.starts_with('#') || line.starts_with('.') {
            continue;
        }
        if let Some((key, _)) = line.split_once(" = ")
            && !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            map.insert(key.to_owned(), serde_json::Value::String(ctx.t(key)));
        }
    }
    map.insert("lang".into(), ctx.lang.code().into());
    // `</` cannot end the data block early: the JSON is inert text inside it.
    serde_json::Value::Object(map)
        .to_string()
        .replace("</", "<\\/")
}

async fn shell(ctx: PageCtx) -> Response {
    let page = FieldShell {
        lang: ctx.lang,
        title: ctx.t("field-title"),
        loading: ctx.t("field-loading"),
        noscript: ctx.t("field-noscript"),
        strings: strings(&ctx),
        version: shell_version(),
    };
    let mut resp = ctx.render(StatusCode::OK, page);
    // Revalidated online; the service worker keeps a copy per language for offline starts.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn service_worker() -> Response {
    let body = SERVICE_WORKER.replace("__SHELL_VERSION__", &shell_version());
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // The worker lives at /field/sw.js and controls /field (the page) and below.
            (
                header::HeaderName::from_static("service-worker-allowed"),
                "/field",
            ),
        ],
        body,
    )
        .into_response()
}

async fn manifest(ctx: PageCtx) -> Response {
    let body = serde_json::json!({
        "name": ctx.t("field-app-name"),
        "short_name": ctx.t("field-short-name"),
        "description": ctx.t("field-app-description"),
        "lang": ctx.lang.html_lang(),
        "start_url": "/field",
        "scope": "/field",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": "#8a1c1c",
        "icons": [
            {"src": "/static/field/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/field/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {"src": "/static/field/icon.svg", "sizes": "any", "type": "image/svg+xml", "purpose": "any"}
        ]
    });
    (
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// What `POST /field/token` answers.
#[derive(Debug, Serialize)]
pub struct FieldToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scope: String,
}

/// An API token for the account of the page session (401 when signed out). It lives as long as
/// a session; signing out of the app revokes it through `POST /api/v1/auth/logout`.
async fn mint_token(
    State(state): State<AppState>,
    PageCaller(caller): PageCaller,
    headers: HeaderMap,
) -> AppResult<Json<FieldToken>> {
    if !headers.contains_key(FIELD_HEADER) {
        return Err(AppError::Forbidden(format!(
            "send the {FIELD_HEADER} header from the field app"
        )));
    }
    let caller = caller.ok_or_else(|| AppError::Unauthorized("sign in first".into()))?;
    let now = state.clock.now();
    let expires_at = now + Duration::hours(i64::from(state.settings.session_hours));
    let token = new_token()?;
    let csrf = new_token()?;
    state
        .db
        .create_session(
            &token_hash(&token),
            caller.principal.account_id,
            SessionKind::Api,
            &csrf,
            now,
            expires_at,
        )
        .await?;
    tracing::info!(
        account.id = caller.principal.account_id,
        "field app token issued"
    );
    Ok(Json(FieldToken {
        token,
        expires_at,
        username: caller.principal.username.clone(),
        display_name: caller.principal.display_name.clone(),
        role: caller.principal.role.as_str().to_owned(),
        scope: caller.principal.scope.to_string(),
    }))
}
