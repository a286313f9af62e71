//! The HTTP suite: the real router driven in-process (`tower::ServiceExt::oneshot`, no network)
//! against one database per test binary loaded with the small demo data set (夏河县).
//!
//! Runs on SQLite, or on PostgreSQL when `TEST_DATABASE_URL` is set. The demo is loaded once, in
//! a thread with its own runtime (each `#[tokio::test]` has its own runtime, and pools must not
//! cross runtimes); every test then connects its own `Db` to that database.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{TimeZone, Utc};
use domain::clock::{Clock, FixedClock};
use domain::demo::Scale;
use domain::people::{TOWNSHIP_DEPARTMENTS, UPPER_DEPARTMENTS};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use server::AppState;
use server::state::{Settings, SystemClock};
use tower::ServiceExt;

const PASSWORD: &str = "gesang-demo";
/// 达麦乡 and 达麦村, the township and village the suite looks at closely.
const TOWNSHIP: &str = "623027202";
const VILLAGE: &str = "623027202201";

// ---------------------------------------------------------------------------------------------
// Setup

/// The demo database, created and loaded on first use.
fn test_db() -> &'static store::testing::TestDb {
    static DB: OnceLock<store::testing::TestDb> = OnceLock::new();
    DB.get_or_init(|| {
        on_own_runtime(async {
            let t = store::testing::create("gesang_http")
                .await
                .expect("create the test database");
            let db = store::testing::connect(&t.url)
                .await
                .expect("connect to the test database");
            db.migrate().await.expect("migrate");
            let clock = FixedClock::at(Utc.with_ymd_and_hms(2025, 1, 6, 2, 0, 0).unwrap());
            server::demo::load(&db, Scale::Small, &clock)
                .await
                .expect("load the small demo");
            db.close().await;
            t
        })
    })
}

fn db_url() -> &'static str {
    &test_db().url
}

/// Run a future to completion in a thread with its own runtime.
fn on_own_runtime<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f)
    })
    .join()
    .expect("the helper thread panicked")
}

mod attachments;
// Personal data reveals and the audit log (issue 9).
mod audit;
// The authorisation matrix, every operation × every role (issue 9).
mod authz;
// The fuzz targets as a bounded test (issue 9).
mod cases;
mod center;
mod cluster;
mod crash;
mod emergency;
mod events;
mod events_cluster;
mod fieldwork;
mod fuzz;
// Notices and idempotent case actions and uploads (issue 5).
mod notices;
// The demo's case history and its bulk load (issue 7).
mod history;
mod open311;
mod org;
mod resident;
mod spine;

/// The source of every test module, to count its tests (add a new module here too).
const MODULES: &[&str] = &[
    include_str!("spine.rs"),
    include_str!("cases.rs"),
    include_str!("attachments.rs"),
    include_str!("resident.rs"),
    include_str!("open311.rs"),
    include_str!("org.rs"),
    include_str!("fieldwork.rs"),
    include_str!("emergency.rs"),
    include_str!("events.rs"),
    include_str!("center.rs"),
    include_str!("audit.rs"),
    include_str!("authz.rs"),
    include_str!("fuzz.rs"),
    include_str!("notices.rs"),
    include_str!("history.rs"),
];

/// Tests that have finished (each makes one [`App`]; its drop counts it).
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// Remove the demo database once every test of this file has finished. A filtered run
/// (`cargo test -p server some_name`) never gets there and leaves it behind: harmless, it only
/// takes space (about 15 MB on SQLite, 25 MB on PostgreSQL).
fn test_finished() {
    let total: usize = MODULES
        .iter()
        .map(|src| src.lines().filter(|l| l.trim() == "#[tokio::test]").count())
        .sum();
    if FINISHED.fetch_add(1, Ordering::SeqCst) + 1 == total {
        let t = test_db().clone();
        on_own_runtime(store::testing::remove(t));
    }
}

/// One test's view of the server: its own pool, state and router.
struct App {
    router: Router,
    /// The state behind the router (its database, clock and rules).
    state: AppState,
    /// Whether its drop counts as its test finishing (a test's second server does not:
    /// counting it removed the shared database before the last test had run).
    counted: bool,
}

impl Drop for App {
    fn drop(&mut self) {
        if self.counted {
            test_finished();
        }
    }
}

/// A response with its body read.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                self.text().chars().take(300).collect::<String>()
            )
        })
    }

    fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` value.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    #[track_caller]
    fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            self.text().chars().take(500).collect::<String>()
        );
        self
    }

    /// Assert the JSON error envelope `{"error":{"code","message"}}` with this status and code.
    #[track_caller]
    fn expect_error(&self, status: StatusCode, code: &str) {
        self.expect(status);
        assert!(
            self.header(header::CONTENT_TYPE)
                .is_some_and(|c| c.starts_with("application/json")),
            "error content type {:?}",
            self.header(header::CONTENT_TYPE)
        );
        let v = self.json();
        let err = v.get("error").unwrap_or_else(|| panic!("no envelope: {v}"));
        assert_eq!(err["code"], code, "envelope {v}");
        let c = err["code"].as_str().unwrap_or_default();
        assert!(
            !c.is_empty() && c.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "code not snake_case: {v}"
        );
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {v}"
        );
    }
}

impl App {
    async fn new() -> App {
        App::with_clock(Arc::new(SystemClock)).await
    }

    async fn with_clock(clock: Arc<dyn Clock>) -> App {
        let db = store::testing::connect(db_url()).await.expect("connect");
        let state = AppState::new(db, clock, Settings::default());
        App {
            router: server::router(state.clone()),
            state,
            counted: true,
        }
    }

    /// A second server of the same test on the same database (its own pool, state and
    /// router); its drop does not count as a test finishing.
    async fn another() -> App {
        let mut app = App::new().await;
        app.counted = false;
        app
    }

    async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .expect("read the body")
            .to_bytes()
            .to_vec();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET uri` with an optional bearer token.
    async fn get(&self, uri: &str, token: Option<&str>) -> Resp {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// `GET uri` with a page session cookie.
    async fn page(&self, uri: &str, session: Option<&str>) -> Resp {
        let mut req = Request::get(uri);
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("gesang_session={s}"));
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// `POST uri` with a form body and an optional session cookie.
    async fn post_form(&self, uri: &str, form: &[(&str, &str)], session: Option<&str>) -> Resp {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin");
        if let Some(s) = session {
            req = req.header(header::COOKIE, format!("gesang_session={s}"));
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    async fn post_json(&self, uri: &str, body: &Value, token: Option<&str>) -> Resp {
        let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(req.body(Body::from(body.to_string())).unwrap())
            .await
    }

    async fn login(&self, username: &str, password: &str) -> Resp {
        self.post_json(
            "/api/v1/auth/token",
            &json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// A bearer token for a demo account.
    async fn token(&self, username: &str) -> String {
        self.token_with(username, PASSWORD).await
    }

    /// A bearer token for an account with this password.
    async fn token_with(&self, username: &str, password: &str) -> String {
        let r = self.login(username, password).await;
        r.expect(StatusCode::OK);
        r.json()["token"]
            .as_str()
            .expect("a token string")
            .to_owned()
    }

    /// A node as the administrator sees it.
    async fn territory(&self, admin: &str, code: &str) -> Value {
        let r = self
            .get(&format!("/api/v1/territories/{code}"), Some(admin))
            .await;
        r.expect(StatusCode::OK);
        r.json()
    }

    /// A page session cookie for a demo account.
    async fn session(&self, username: &str) -> String {
        let r = self
            .post_form(
                "/login",
                &[
                    ("username", username),
                    ("password", PASSWORD),
                    ("next", "/"),
                ],
                None,
            )
            .await;
        assert!(r.status.is_redirection(), "login status {}", r.status);
        r.set_cookies()
            .iter()
            .find_map(|c| {
                c.strip_prefix("gesang_session=")
                    .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            })
            .expect("a session cookie")
    }
}

/// The hidden `csrf` input of a page.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\"")
        .expect("a csrf input on the page");
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("a csrf value") + "value=\"".len();
    rest[v..].split('"').next().unwrap().to_owned()
}

/// Percent-encode for a query string or form body.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn children(node: &Value) -> Vec<String> {
    node["children"]
        .as_array()
        .expect("children array")
        .iter()
        .map(|c| c.as_str().expect("child code").to_owned())
        .collect()
}

/// Codes picked from the demo: a grid of 达麦村 with a sibling grid, a group of that grid with a
/// sibling group, and a township of 夏河县 other than 达麦乡.
struct Picks {
    grid: String,
    other_grid: String,
    group: String,
    other_group: String,
    other_township: String,
}

async fn picks(app: &App, admin: &str) -> Picks {
    let grids = children(&app.territory(admin, VILLAGE).await);
    assert!(grids.len() >= 2, "达麦村 should have two grids: {grids:?}");
    let groups = children(&app.territory(admin, &grids[0]).await);
    assert!(!groups.is_empty(), "grid {} has no group", grids[0]);
    let other_group = match groups.get(1) {
        Some(g) => g.clone(),
        None => children(&app.territory(admin, &grids[1]).await)[0].clone(),
    };
    let townships = children(&app.territory(admin, "623027").await);
    let other_township = townships
        .iter()
        .find(|t| t.as_str() != TOWNSHIP)
        .expect("夏河县 has more than one township")
        .clone();
    Picks {
        grid: grids[0].clone(),
        other_grid: grids[1].clone(),
        group: groups[0].clone(),
        other_group,
        other_township,
    }
}
