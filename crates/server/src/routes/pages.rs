//! Server-rendered pages: they work without JavaScript, in Chinese (default), Tibetan and
//! English, and call the same actions as the API.

use askama::Template;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::{Level, TerritoryCode};
use serde::Deserialize;
use store::account::SessionKind;

use crate::actions;
use crate::actions::people::{HouseholdView, MemberView, UnitView};
use crate::actions::territory::level_key;
use crate::auth::{Caller, ClientIp, PageCaller, SESSION_COOKIE, cookie};
use crate::error::AppError;
use crate::i18n::{I18n, Lang};
use crate::map::{self, MapShape};
use crate::state::AppState;

const LANG_COOKIE: &str = "gesang_lang";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/territory/{code}", get(territory_page))
        .route("/people", get(people_page))
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .merge(super::case_pages::router())
        .merge(super::admin_pages::router())
        .merge(super::emergency_pages::router())
        .route("/static/app.css", get(stylesheet))
        .fallback(not_found_page)
}

/// What every page knows about its request: language, caller, path.
pub struct PageCtx {
    pub lang: Lang,
    /// `?lang=` was given: remember it in a cookie.
    remember_lang: bool,
    pub caller: Option<Caller>,
    pub path: String,
    pub i18n: std::sync::Arc<I18n>,
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let from_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "lang")
                .and_then(|(_, v)| Lang::parse(v))
        });
        let from_cookie = || cookie(&parts.headers, LANG_COOKIE).and_then(|v| Lang::parse(&v));
        let lang = from_query.or_else(from_cookie).unwrap_or_default();
        let PageCaller(caller) = PageCaller::from_request_parts(parts, state).await?;
        Ok(PageCtx {
            lang,
            remember_lang: from_query.is_some(),
            caller,
            path: parts.uri.path().to_owned(),
            i18n: state.i18n.clone(),
        })
    }
}

impl PageCtx {
    pub fn t(&self, key: &str) -> String {
        self.i18n.t(self.lang, key)
    }

    pub(crate) fn chrome(&self, title: String) -> Chrome {
        Chrome {
            lang: self.lang,
            title,
            path: self.path.clone(),
            labels: Labels::new(self),
            user: self.caller.as_ref().map(|c| UserChip {
                display_name: c.principal.display_name.clone(),
                role: self.t(&format!("role-{}", c.principal.role.as_str())),
                scope: c.principal.scope.to_string(),
                csrf: c.csrf_token.clone(),
                staff: c.principal.role != domain::account::Role::HouseholdHead,
                manages: crate::actions::org::manages(c.principal.role),
            }),
        }
    }

    /// Render a template into a response, remembering the language when asked.
    pub(crate) fn render(&self, status: StatusCode, t: impl Template) -> Response {
        match t.render() {
            Ok(html) => {
                let mut resp = (status, Html(html)).into_response();
                let headers = resp.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                if self.remember_lang {
                    let cookie = format!(
                        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
                        self.lang.code()
                    );
                    if let Ok(v) = HeaderValue::from_str(&cookie) {
                        headers.append(header::SET_COOKIE, v);
                    }
                }
                resp
            }
            Err(e) => AppError::Internal(format!("template: {e}")).into_response(),
        }
    }

    /// Render a page with a form: 422 when it is shown again with the form's error (`failed`),
    /// 200 otherwise.
    pub(crate) fn render_form_page(&self, failed: bool, t: impl Template) -> Response {
        let status = if failed {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        self.render(status, t)
    }

    /// Render an error as a page.
    pub(crate) fn error(&self, e: AppError) -> Response {
        if matches!(e, AppError::Unauthorized(_)) {
            return Redirect::to(&format!("/login?next={}", urlencode(&self.path))).into_response();
        }
        if e.status().is_server_error() {
            tracing::error!(error = %e, "page failed");
        }
        let status = e.status();
        let message = match &e {
            AppError::OutOfScope(_) => self.t("error-out-of-scope"),
            AppError::NotFound(_) => self.t("error-not-found"),
            AppError::TooManyRequests { .. } => self.t("error-too-many"),
            e if e.status().is_server_error() => self.t("error-internal"),
            e => e.public_message(),
        };
        self.render(
            status,
            ErrorPage {
                chrome: self.chrome(self.t("error-title")),
                status: status.as_u16(),
                message,
            },
        )
    }

    pub(crate) fn require_caller(&self) -> Result<&Caller, AppError> {
        self.caller
            .as_ref()
            .ok_or_else(|| AppError::Unauthorized("sign in first".into()))
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The translated strings of one page, resolved once per page.
pub struct Texts(std::collections::HashMap<&'static str, String>);

impl Texts {
    /// The texts of `keys` in the page's language.
    pub fn keys(ctx: &PageCtx, keys: &[&'static str]) -> Texts {
        Texts(keys.iter().map(|k| (*k, ctx.t(k))).collect())
    }

    /// The texts of an area: every key starting with `prefix` of `ftl` (the source of the
    /// area's Chinese file, which has every key), in the page's language.
    pub fn area(ctx: &PageCtx, ftl: &'static str, prefix: &str) -> Texts {
        Texts(
            ftl.lines()
                .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
                .filter(|k| k.starts_with(prefix))
                .map(|k| (k, ctx.t(k)))
                .collect(),
        )
    }

    /// The text for `key` (the key itself if a template asks for one not listed).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map(String::as_str).unwrap_or(key)
    }
}

/// A submitted form's CSRF token against the session's (the CSRF layer checks the origin;
/// this the token), with the same message on every page.
pub(crate) fn check_csrf(caller: &Caller, given: Option<&str>) -> Result<(), AppError> {
    if given == Some(caller.csrf_token.as_str()) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "the form has expired; reload the page".into(),
        ))
    }
}

/// The frame shared by every page.
pub struct Chrome {
    pub lang: Lang,
    pub title: String,
    pub path: String,
    pub labels: Labels,
    pub user: Option<UserChip>,
}

impl Chrome {
    pub fn langs(&self) -> Vec<(&'static str, &'static str, bool)> {
        Lang::ALL
            .iter()
            .map(|l| (l.code(), l.own_name(), *l == self.lang))
            .collect()
    }
}

pub struct UserChip {
    pub display_name: String,
    pub role: String,
    pub scope: String,
    pub csrf: String,
    /// Works cases (every role but household heads): the nav shows the case queue.
    pub staff: bool,
    /// Manages the organisation data (administrators, centre operators): the nav shows /admin.
    pub manages: bool,
}

/// Every translated string the templates use, resolved once per page.
pub struct Labels(std::collections::HashMap<&'static str, String>);

const LABEL_KEYS: &[&str] = &[
    "app-name",
    "app-tagline",
    "nav-home",
    "nav-territory",
    "nav-people",
    "nav-cases",
    "org-nav-admin",
    "em-nav-incidents",
    "em-nav-rollcall",
    "nav-login",
    "nav-logout",
    "nav-account",
    "login-changed",
    "lang-switch",
    "home-title",
    "home-intro",
    "home-map-caption",
    "count-households",
    "count-members",
    "count-groups",
    "count-grids",
    "col-name",
    "col-code",
    "col-level",
    "login-title",
    "login-username",
    "login-password",
    "login-submit",
    "login-failed",
    "login-hint",
    "territory-children",
    "territory-units",
    "territory-members",
    "territory-households",
    "territory-no-map",
    "territory-generated",
    "territory-official",
    "territory-more",
    "people-title",
    "people-query",
    "people-search",
    "people-households",
    "people-members",
    "people-none",
    "col-head",
    "col-address",
    "col-phone",
    "col-id-number",
    "col-residents",
    "col-care",
    "col-unit",
    "col-title",
    "col-forces",
    "col-kind",
    "masked-note",
    "yes",
    "error-back",
    "skip-to-content",
    "notice-nav",
];

impl Labels {
    fn new(ctx: &PageCtx) -> Labels {
        Labels(LABEL_KEYS.iter().map(|k| (*k, ctx.t(k))).collect())
    }
    /// The label for `key` (the key itself if a template asks for one not listed).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.0.get(key).map(String::as_str).unwrap_or(key)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    message: String,
}

/// A row of the children table.
pub struct ChildRow {
    pub code: String,
    pub name: String,
    pub households: i64,
    pub members: i64,
    pub groups: i64,
    pub grids: i64,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    name_bo: Option<String>,
    households: i64,
    members: i64,
    groups: i64,
    grids: i64,
    map_svg: Option<String>,
    children: Vec<ChildRow>,
}

async fn home(State(state): State<AppState>, ctx: PageCtx) -> Response {
    match home_inner(&state, &ctx).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

/// The prefecture seen from the top: aggregate counts and the county map. Aggregates carry no
/// personal data, so the page is open; drilling down needs an account.
async fn home_inner(state: &AppState, ctx: &PageCtx) -> Result<Response, AppError> {
    let root = TerritoryCode::parse("623000").map_err(|e| AppError::Internal(e.to_string()))?;
    let Some(node) = state.db.territory(&root).await? else {
        return Ok(ctx.render(
            StatusCode::OK,
            HomePage {
                chrome: ctx.chrome(ctx.t("home-title")),
                name: ctx.t("home-empty"),
                name_bo: None,
                households: 0,
                members: 0,
                groups: 0,
                grids: 0,
                map_svg: None,
                children: vec![],
            },
        ));
    };
    let counts = state.db.territory_counts(&root).await?;
    let mut children = Vec::new();
    let mut rows = Vec::new();
    let mut counts_of = state.db.child_counts(&root).await?;
    for c in state.db.territory_children(&root, true).await? {
        let n = counts_of.remove(c.code.as_str()).unwrap_or_default();
        rows.push(child_row(&c, &n));
        children.push((c, n));
    }
    let svg = children_map(ctx, &children, &ctx.t("home-map-caption"));
    Ok(ctx.render(
        StatusCode::OK,
        HomePage {
            chrome: ctx.chrome(ctx.t("home-title")),
            name: node.name,
            name_bo: node.name_bo,
            households: counts.households,
            members: counts.members,
            groups: counts.groups,
            grids: counts.grids,
            map_svg: svg,
            children: rows,
        },
    ))
}

fn child_row(c: &store::territory::TerritoryRecord, n: &store::territory::Counts) -> ChildRow {
    ChildRow {
        code: c.code.to_string(),
        name: c.name.clone(),
        households: n.households,
        members: n.members,
        groups: n.groups,
        grids: n.grids,
    }
}

fn children_map(
    ctx: &PageCtx,
    children: &[(store::territory::TerritoryRecord, store::territory::Counts)],
    caption: &str,
) -> Option<String> {
    let max = children
        .iter()
        .map(|(_, n)| n.households)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let hh = ctx.t("count-households");
    let shapes: Vec<MapShape> = children
        .iter()
        .filter_map(|(c, n)| {
            Some(MapShape {
                code: c.code.to_string(),
                label: c.name.clone(),
                geometry: c.geometry.clone()?,
                href: format!("/territory/{}", c.code),
                shade: n.households as f64 / max,
                title: format!("{} ({}) · {hh} {}", c.name, c.code, n.households),
            })
        })
        .collect();
    map::render(&shapes, caption).map(|m| m.svg)
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
    /// Set after a password change signed the user out.
    changed: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    failed: bool,
    changed: bool,
    username: String,
}

/// Only same-site paths are followed after login.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn login_form(
    ctx: PageCtx,
    axum::extract::Query(q): axum::extract::Query<NextParam>,
) -> Response {
    ctx.render(
        StatusCode::OK,
        LoginPage {
            chrome: ctx.chrome(ctx.t("login-title")),
            next: safe_next(q.next.as_deref()),
            failed: false,
            changed: q.changed.is_some(),
            username: String::new(),
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ctx: PageCtx,
    ClientIp(client): ClientIp,
    Form(form): Form<LoginForm>,
) -> Response {
    match actions::auth::sign_in(
        &state,
        &form.username,
        &form.password,
        SessionKind::Web,
        client,
    )
    .await
    {
        Ok(s) => {
            let secure = if state.settings.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
                s.token,
                i64::from(state.settings.session_hours) * 3600
            );
            let mut resp = Redirect::to(&safe_next(form.next.as_deref())).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp
        }
        Err(AppError::Unauthorized(_)) => ctx.render(
            StatusCode::UNAUTHORIZED,
            LoginPage {
                chrome: ctx.chrome(ctx.t("login-title")),
                next: safe_next(form.next.as_deref()),
                failed: true,
                changed: false,
                username: form.username,
            },
        ),
        Err(e) => ctx.error(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    ctx: PageCtx,
    headers: axum::http::HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let Some(caller) = &ctx.caller else {
        return Redirect::to("/").into_response();
    };
    if let Err(e) = check_csrf(caller, Some(&form.csrf)) {
        return ctx.error(e);
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = actions::auth::sign_out(&state, &token).await
    {
        return ctx.error(e);
    }
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("gesang_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    resp
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    heading: String,
    username_label: String,
    username: String,
    role_label: String,
    role: String,
    password_heading: String,
    current_label: String,
    new_label: String,
    policy_hint: String,
    submit_label: String,
    csrf: String,
    done: Option<String>,
    error: Option<String>,
}

fn account_view(ctx: &PageCtx, caller: &Caller, error: Option<String>) -> AccountPage {
    AccountPage {
        chrome: ctx.chrome(ctx.t("account-title")),
        heading: ctx.t("account-title"),
        username_label: ctx.t("login-username"),
        username: caller.principal.username.clone(),
        role_label: ctx.t("account-role"),
        role: ctx.t(&format!("role-{}", caller.principal.role.as_str())),
        password_heading: ctx.t("account-password"),
        current_label: ctx.t("account-current"),
        new_label: ctx.t("account-new"),
        policy_hint: ctx.t("account-policy"),
        submit_label: ctx.t("account-submit"),
        csrf: caller.csrf_token.clone(),
        done: None,
        error,
    }
}

/// `/account`: who is signed in, and the form to change the password.
async fn account_page(ctx: PageCtx) -> Response {
    match ctx.require_caller() {
        Ok(caller) => ctx.render(StatusCode::OK, account_view(&ctx, caller, None)),
        Err(e) => ctx.error(e),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
}

/// Change the password from the page: on success every session ends, this one too, and the
/// login page says why.
async fn change_password(
    State(state): State<AppState>,
    ctx: PageCtx,
    ClientIp(client): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Response {
    let caller = match ctx.require_caller() {
        Ok(c) => c.clone(),
        Err(e) => return ctx.error(e),
    };
    if let Err(e) = check_csrf(&caller, Some(&form.csrf)) {
        return ctx.error(e);
    }
    match actions::auth::change_password(
        &state,
        &caller,
        &form.current_password,
        &form.new_password,
        client,
    )
    .await
    {
        Ok(()) => {
            let mut resp = Redirect::to("/login?changed=1").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "gesang_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
                ),
            );
            resp
        }
        Err(e) => {
            use actions::auth::PasswordChangeError as E;
            use domain::account::PasswordProblem as P;
            let key = match &e {
                E::WrongCurrent => "account-wrong-current",
                E::Same => "account-same",
                E::Policy(P::TooShort) => "account-too-short",
                E::Policy(P::TooLong) => "account-too-long",
                E::Policy(P::ContainsUsername) => "account-has-username",
                E::Policy(P::Common) => "account-common",
                E::Policy(P::TooSimple) => "account-too-simple",
                E::App(_) => return ctx.error(e.into()),
            };
            ctx.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                account_view(&ctx, &caller, Some(ctx.t(key))),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "territory.html")]
struct TerritoryPage {
    chrome: Chrome,
    code: String,
    name: String,
    name_bo: Option<String>,
    level: String,
    geometry_note: Option<String>,
    breadcrumb: Vec<(String, String)>,
    households: i64,
    members: i64,
    groups: i64,
    grids: i64,
    map_svg: Option<String>,
    child_level: Option<String>,
    children: Vec<ChildRow>,
    units: Vec<UnitView>,
    staff: Vec<MemberView>,
    household_rows: Vec<HouseholdView>,
    more_households: bool,
}

async fn territory_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(code): Path<String>,
) -> Response {
    match territory_inner(&state, &ctx, &code).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

const PAGE_HOUSEHOLDS: i64 = 200;

async fn territory_inner(state: &AppState, ctx: &PageCtx, raw: &str) -> Result<Response, AppError> {
    let caller = ctx.require_caller()?;
    let code = actions::territory::parse_code("code", raw)?;
    let code = caller.scoped(&code)?;
    let view = actions::territory::browse(state, &code).await?;
    let node = &view.node;
    // Where the children have no outlines (a grid's groups), draw the node's own outline.
    let svg = children_map(ctx, &view.children, &node.name)
        .or_else(|| children_map(ctx, &[(node.clone(), view.counts)], &node.name));
    let units = actions::people::units_at(state, &code).await?;
    let staff = if node.level >= Level::Township {
        actions::people::members_at(state, &code, 100).await?
    } else {
        vec![]
    };
    let mut household_rows = if node.level >= Level::Grid {
        actions::people::households(state, caller, &code, 0, PAGE_HOUSEHOLDS + 1).await?
    } else {
        vec![]
    };
    let more_households = household_rows.len() as i64 > PAGE_HOUSEHOLDS;
    household_rows.truncate(PAGE_HOUSEHOLDS as usize);
    let breadcrumb = view
        .ancestors
        .iter()
        .filter(|a| caller.principal.scope.covers(&a.code))
        .map(|a| (a.code.to_string(), a.name.clone()))
        .collect();
    let geometry_note = node.geometry_source.as_deref().map(|s| match s {
        "official" => ctx.t("territory-official"),
        _ => ctx.t("territory-generated"),
    });
    Ok(ctx.render(
        StatusCode::OK,
        TerritoryPage {
            chrome: ctx.chrome(node.name.clone()),
            code: node.code.to_string(),
            name: node.name.clone(),
            name_bo: node.name_bo.clone(),
            level: ctx.t(level_key(node.level)),
            geometry_note,
            breadcrumb,
            households: view.counts.households,
            members: view.counts.members,
            groups: view.counts.groups,
            grids: view.counts.grids,
            map_svg: svg,
            child_level: node.level.child().map(|l| ctx.t(level_key(l))),
            children: view.children.iter().map(|(c, n)| child_row(c, n)).collect(),
            units,
            staff,
            household_rows,
            more_households,
        },
    ))
}

#[derive(Deserialize)]
struct PeopleParams {
    q: Option<String>,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    chrome: Chrome,
    q: String,
    searched: bool,
    households: Vec<HouseholdView>,
    members: Vec<MemberView>,
    places: Vec<(String, String, String)>,
}

async fn people_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    axum::extract::Query(p): axum::extract::Query<PeopleParams>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        let q =
            p.q.unwrap_or_default()
                .trim()
                .chars()
                .take(50)
                .collect::<String>();
        let (households, members, places) = if q.is_empty() {
            (vec![], vec![], vec![])
        } else {
            let home = caller.home();
            let (h, m) = actions::people::search(&state, caller, &home, &q, 50).await?;
            let places = state
                .db
                .search_territories(home.code(), &q, 20)
                .await?
                .into_iter()
                .map(|t| (t.code.to_string(), t.name, ctx.t(level_key(t.level))))
                .collect();
            (h, m, places)
        };
        Ok::<_, AppError>(ctx.render(
            StatusCode::OK,
            PeoplePage {
                chrome: ctx.chrome(ctx.t("people-title")),
                searched: !q.is_empty(),
                q,
                households,
                members,
                places,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

async fn not_found_page(ctx: PageCtx) -> Response {
    ctx.error(AppError::NotFound("page".into()))
}
