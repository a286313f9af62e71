//! Case pages for centre operators, handlers and leaders: the queue of their desk, the case page
//! with its timeline, map pin and one form per allowed action, and search. They call the same
//! case actions as the JSON API; an action form becomes the API's action body.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::account::Role;
use domain::case::{
    Action, Case, HandleResult, MAX_EXTENSION_DAYS, MAX_TEXT_CHARS, Satisfaction, Status,
    SuperviseLevel,
};
use domain::clock::beijing_minute as beijing;
use domain::people::{Unit, UnitKind};
use domain::{Level, TerritoryCode};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use store::cases::CaseRecord;

use crate::actions;
use crate::actions::case::{self as cases, CaseView, ListQuery};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::i18n::Lang;
use crate::map::{self, MapPin, MapShape};
use crate::routes::api_cases::case_id;
use crate::routes::pages::{Chrome, PageCtx, Texts, urlencode};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cases", get(queue_page))
        .route("/cases/{id}", get(case_page))
        .route("/cases/{id}/act", post(act_on_case))
}

const TEXT_KEYS: &[&str] = &[
    "cases-title",
    "cases-view",
    "cases-all",
    "cases-q",
    "cases-q-hint",
    "cases-status",
    "cases-overdue-only",
    "cases-search",
    "cases-search-all",
    "cases-none",
    "cases-truncated",
    "cases-first",
    "cases-next",
    "urgent",
    "col-category",
    "col-place",
    "col-handler",
    "col-deadline",
    "case-error-title",
    "case-facts",
    "case-description",
    "case-actions",
    "case-no-actions",
    "case-similar-title",
    "case-similar-hint",
    "case-similar-merge",
    "case-map",
    "case-timeline",
    "case-no-history",
    "optional",
    "choose",
];

fn t_args(ctx: &PageCtx, key: &str, args: &[(&str, String)]) -> String {
    ctx.i18n.t_args(ctx.lang, key, args)
}

/// A traffic light as a badge: a coloured dot and its word (never colour alone).
pub struct LightBadge {
    pub class: &'static str,
    pub text: String,
}

fn light_badge(ctx: &PageCtx, light: Option<&str>) -> Option<LightBadge> {
    let class = match light? {
        "green" => "green",
        "yellow" => "yellow",
        "red" => "red",
        _ => return None,
    };
    Some(LightBadge {
        class,
        text: ctx.t(&format!("light-{class}")),
    })
}

fn status_label(ctx: &PageCtx, status: &str) -> String {
    ctx.t(&format!("status-{status}"))
}

fn action_label(ctx: &PageCtx, action: &str) -> String {
    ctx.t(&format!("action-{action}"))
}

/// Category names in the page's language, read from the rules once.
async fn category_names<'a>(
    state: &AppState,
    lang: Lang,
    codes: impl Iterator<Item = &'a str>,
) -> HashMap<String, String> {
    let rules = state.rules.read().await;
    codes
        .filter_map(|code| {
            let c = rules.taxonomy.get(code)?;
            let name = match lang {
                Lang::Zh => c.name.clone(),
                Lang::En => c.name_en.clone(),
                Lang::Bo => c.name_bo.clone().unwrap_or_else(|| c.name.clone()),
            };
            Some((code.to_owned(), name))
        })
        .collect()
}

/// Names of places and units for one page, each looked up once.
pub(crate) struct Names<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    units: std::sync::Arc<HashMap<String, Unit>>,
    places: HashMap<String, String>,
}

impl<'a> Names<'a> {
    pub(crate) async fn new(state: &'a AppState, caller: &'a Caller) -> AppResult<Names<'a>> {
        Ok(Names {
            state,
            caller,
            units: actions::people::unit_map(state).await?,
            places: HashMap::new(),
        })
    }

    fn unit(&self, code: &str) -> String {
        self.units
            .get(code)
            .map_or_else(|| code.to_owned(), |u| u.name.clone())
    }

    /// Where a case is, as a reader at the caller's level needs it: from county level up, a
    /// village or grid name is prefixed with its township's.
    pub(crate) async fn case_place(&mut self, code: &str) -> String {
        let name = self.place(code).await;
        let township = TerritoryCode::parse(code).ok().filter(|c| {
            c.level() > Level::Township && self.caller.principal.scope.level() < Level::Township
        });
        match township.and_then(|c| c.as_str().get(..9).map(str::to_owned)) {
            Some(t) => format!("{} · {name}", self.place(&t).await),
            None => name,
        }
    }

    /// A territory node's name; outside the caller's scope, the name of its unit or its code.
    async fn place(&mut self, code: &str) -> String {
        if let Some(n) = self.places.get(code) {
            return n.clone();
        }
        let in_scope = TerritoryCode::parse(code)
            .ok()
            .and_then(|c| self.caller.scoped(&c).ok());
        let name = match in_scope {
            Some(c) => actions::territory::node(self.state, &c)
                .await
                .ok()
                .map(|n| n.name),
            None => None,
        }
        .unwrap_or_else(|| self.unit(code));
        self.places.insert(code.to_owned(), name.clone());
        name
    }
}

/// Whose cases the queue shows.
enum Desk {
    /// A centre operator: open cases the centre owns or holds.
    Centre(String),
    /// A department handler or grid worker: open cases the unit holds.
    Unit(String),
    /// Leaders and everyone else: open cases in their territory.
    Area,
}

impl Desk {
    fn of(caller: &Caller) -> Desk {
        let unit = || {
            caller
                .principal
                .unit
                .clone()
                .unwrap_or_else(|| caller.principal.scope.to_string())
        };
        match caller.role() {
            Role::CenterOperator => Desk::Centre(unit()),
            Role::DepartmentHandler | Role::GridWorker => Desk::Unit(unit()),
            _ => Desk::Area,
        }
    }

    fn filter(&self) -> Option<cases::DeskFilter> {
        match self {
            Desk::Centre(u) => Some(cases::DeskFilter::Centre(u.clone())),
            Desk::Unit(u) => Some(cases::DeskFilter::Unit(u.clone())),
            Desk::Area => None,
        }
    }
}

#[derive(Deserialize, Default)]
struct QueueParams {
    q: Option<String>,
    status: Option<String>,
    overdue: Option<String>,
    view: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
    /// A node of the caller's scope (the war room's figures link here), with `open=1` for
    /// its open cases only; implies the full listing.
    territory: Option<String>,
    open: Option<String>,
    /// The cases behind a figure (with `territory`): `category`, and a period (`from`, `to`,
    /// `closed`), `result=solved`, `dispute`, `hazard` as in `GET /api/v1/cases`.
    category: Option<String>,
    /// The cases held by this unit (with `territory`: the assessment's rows link here).
    unit: Option<String>,
    from: Option<String>,
    to: Option<String>,
    closed: Option<String>,
    result: Option<String>,
    dispute: Option<String>,
    hazard: Option<String>,
}

/// One row of the queue.
pub struct QueueRow {
    pub href: String,
    pub code: String,
    pub summary: String,
    pub light: Option<LightBadge>,
    pub status: String,
    pub status_key: String,
    pub category: String,
    pub place: String,
    pub handler: String,
    pub deadline: String,
    pub step: String,
    pub urgent: bool,
}

/// A choice of a select or radio group.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct QueuePage {
    chrome: Chrome,
    t: Texts,
    intro: String,
    all: bool,
    q: String,
    statuses: Vec<Opt>,
    overdue: bool,
    rows: Vec<QueueRow>,
    truncated: bool,
    next_href: Option<String>,
    first_href: Option<String>,
    queue_label: String,
    queue_href: String,
    all_href: String,
    done: Option<String>,
}

/// The queue shows at most this many cases of a desk.
const QUEUE_SHOW: usize = 200;
/// Cases per page of the full listing.
const PAGE: i64 = 50;

async fn queue_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(p): Query<QueueParams>,
) -> Response {
    match queue_inner(&state, &ctx, p).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

async fn queue_inner(state: &AppState, ctx: &PageCtx, p: QueueParams) -> AppResult<Response> {
    let caller = ctx.require_caller()?;
    let within = match p.territory.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(caller.scoped(&crate::actions::territory::parse_code("territory", t)?)?),
    };
    let only_open = within.is_some() && matches!(p.open.as_deref(), Some("1" | "on" | "true"));
    let all = p.view.as_deref() == Some("all") || within.is_some();
    let q: String = p.q.unwrap_or_default().trim().chars().take(100).collect();
    let status =
        match p.status.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                AppError::unprocessable("status", format!("unknown status {s:?}"))
            })?),
        };
    let overdue = matches!(p.overdue.as_deref(), Some("1" | "on" | "true"));
    let figure =
        crate::actions::figures::FigureFilter::parse(&crate::actions::figures::FigureParams {
            from: p.from.as_deref(),
            to: p.to.as_deref(),
            closed: p.closed.as_deref(),
            result: p.result.as_deref(),
            dispute: p.dispute.as_deref(),
            hazard: p.hazard.as_deref(),
        })?;
    let category = p
        .category
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty() && within.is_some())
        .map(str::to_owned);
    let unit = p
        .unit
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty() && within.is_some())
        .map(str::to_owned);
    let before_id = if all {
        p.cursor
            .as_deref()
            .and_then(|c| c.parse::<i64>().ok())
            .filter(|c| *c > 0)
    } else {
        None
    };
    let desk = Desk::of(caller);
    let territory = within.as_ref().map(|w| w.code().to_string());
    let query = ListQuery {
        within,
        status,
        category: category.clone(),
        overdue,
        q: (!q.is_empty()).then(|| q.clone()),
        before_id,
        limit: if all { PAGE } else { QUEUE_SHOW as i64 + 1 },
        queue: !all,
        desk: match &unit {
            Some(u) => Some(cases::DeskFilter::Unit(u.clone())),
            None if all => None,
            None => desk.filter(),
        },
        open_only: (!all && status.is_none()) || only_open,
        figure: figure.clone(),
    };
    let rows = cases::list(state, caller, &query).await?;
    let next_cursor = (all && rows.len() as i64 == PAGE)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let mut truncated = false;
    let rows = if all {
        rows
    } else {
        // The store orders the desk's cases by deadline (overdue first); parked cases, whose
        // clock stands still, go after the running ones.
        let mut mine = rows;
        mine.sort_by_key(|r| r.status == Status::Parked.as_str());
        truncated = mine.len() > QUEUE_SHOW;
        mine.truncate(QUEUE_SHOW);
        mine
    };

    let mut names = Names::new(state, caller).await?;
    let categories =
        category_names(state, ctx.lang, rows.iter().map(|r| r.category.as_str())).await;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let v = cases::view(state, Some(caller), r, false).await?;
        out.push(queue_row(ctx, &mut names, &categories, &v).await);
    }

    let area = names.place(caller.principal.scope.as_str()).await;
    let intro = if all {
        t_args(ctx, "cases-intro-all", &[("area", area)])
    } else {
        match &desk {
            Desk::Centre(u) => t_args(ctx, "cases-intro-centre", &[("unit", names.unit(u))]),
            Desk::Unit(u) => t_args(ctx, "cases-intro-unit", &[("unit", names.unit(u))]),
            Desk::Area => t_args(ctx, "cases-intro-area", &[("area", area)]),
        }
    };
    let link = |view_all: bool, cursor: Option<i64>| {
        let mut parts = Vec::new();
        if view_all {
            parts.push("view=all".to_owned());
        }
        if !q.is_empty() {
            parts.push(format!("q={}", urlencode(&q)));
        }
        if let Some(s) = status {
            parts.push(format!("status={}", s.as_str()));
        }
        if overdue {
            parts.push("overdue=1".to_owned());
        }
        if let Some(t) = &territory {
            parts.push(format!("territory={t}"));
            if only_open {
                parts.push("open=1".to_owned());
            }
            if let Some(c) = &category {
                parts.push(format!("category={}", urlencode(c)));
            }
            if let Some(u) = &unit {
                parts.push(format!("unit={}", urlencode(u)));
            }
            parts.extend(figure.query_parts());
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={c}"));
        }
        if parts.is_empty() {
            "/cases".to_owned()
        } else {
            format!("/cases?{}", parts.join("&"))
        }
    };
    let statuses = std::iter::once(Opt {
        value: String::new(),
        label: ctx.t("cases-status-any"),
        selected: status.is_none(),
    })
    .chain(Status::ALL.iter().map(|s| Opt {
        value: s.as_str().to_owned(),
        label: status_label(ctx, s.as_str()),
        selected: status == Some(*s),
    }))
    .collect();
    let queue_label = match desk {
        Desk::Area => ctx.t("cases-open"),
        _ => ctx.t("cases-queue"),
    };
    let title = if all {
        ctx.t("cases-all")
    } else {
        queue_label.clone()
    };
    Ok(ctx.render(
        StatusCode::OK,
        QueuePage {
            chrome: ctx.chrome(title),
            t: Texts::keys(ctx, TEXT_KEYS),
            intro,
            all,
            statuses,
            overdue,
            rows: out,
            truncated,
            next_href: next_cursor.map(|c| link(true, Some(c))),
            first_href: before_id.map(|_| link(true, None)),
            queue_label,
            queue_href: link(false, None),
            all_href: link(true, None),
            done: done_message(ctx, p.done.as_deref()),
            q,
        },
    ))
}

async fn queue_row(
    ctx: &PageCtx,
    names: &mut Names<'_>,
    categories: &HashMap<String, String>,
    v: &CaseView,
) -> QueueRow {
    let summary = v
        .title
        .clone()
        .unwrap_or_else(|| excerpt(&v.description, 60));
    QueueRow {
        href: format!("/cases/{}", v.code),
        code: v.code.clone(),
        summary,
        light: light_badge(ctx, v.light.as_deref()),
        status: status_label(ctx, &v.status),
        status_key: v.status.clone(),
        category: categories
            .get(&v.category)
            .cloned()
            .unwrap_or_else(|| v.category.clone()),
        place: names.case_place(&v.territory).await,
        handler: names.unit(&v.handling_unit),
        deadline: v.deadline.map(beijing).unwrap_or_default(),
        step: v
            .step
            .as_deref()
            .map(|s| ctx.t(&format!("step-{s}")))
            .unwrap_or_default(),
        urgent: v.urgency == "urgent",
    }
}

fn excerpt(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > max || text.lines().nth(1).is_some() {
        let mut s: String = line.chars().take(max).collect();
        s.push('…');
        s
    } else {
        line.to_owned()
    }
}

/// "Done: <action>" after a successful action (only known action names are echoed).
fn done_message(ctx: &PageCtx, done: Option<&str>) -> Option<String> {
    let action = Action::parse(done?)?;
    Some(t_args(
        ctx,
        "case-done",
        &[("action", action_label(ctx, action.as_str()))],
    ))
}

// ---------------------------------------------------------------------------------------------
// The case page

/// The body of an action form; every field is optional text, as browsers send it.
#[derive(Debug, Clone, Default, Deserialize)]
struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    reason: Option<String>,
    redirect: Option<String>,
    into: Option<String>,
    to: Option<String>,
    text: Option<String>,
    result: Option<String>,
    passed: Option<String>,
    satisfaction: Option<String>,
    level: Option<String>,
    working_days: Option<String>,
    approve: Option<String>,
}

impl ActForm {
    /// What was typed into `field`, to show it again.
    fn value(&self, field: &str) -> &str {
        let v = match field {
            "reason" => &self.reason,
            "redirect" => &self.redirect,
            "into" => &self.into,
            "to" => &self.to,
            "text" => &self.text,
            "result" => &self.result,
            "passed" => &self.passed,
            "satisfaction" => &self.satisfaction,
            "level" => &self.level,
            "working_days" => &self.working_days,
            "approve" => &self.approve,
            _ => &None,
        };
        v.as_deref().unwrap_or("")
    }
}

/// Why an action was not done, to show on the re-rendered case page.
enum FailKind {
    Csrf,
    Forbidden,
    OutOfScope,
    Conflict,
    Invalid { field: String },
}

struct Failure {
    status: StatusCode,
    kind: FailKind,
    detail: String,
    form: ActForm,
}

/// A field of an action form.
pub struct Field {
    pub name: &'static str,
    pub label: String,
    /// `line`, `area`, `number`, `select`, `radio` or `units`.
    pub kind: &'static str,
    pub required: bool,
    pub value: String,
    pub options: Vec<Opt>,
    pub groups: Vec<(String, Vec<Opt>)>,
    pub min: u32,
    pub max: u32,
    pub maxlength: usize,
    pub hint: String,
    pub invalid: bool,
}

impl Field {
    fn new(name: &'static str, label: String, kind: &'static str) -> Field {
        Field {
            name,
            label,
            kind,
            required: true,
            value: String::new(),
            options: vec![],
            groups: vec![],
            min: 0,
            max: 0,
            maxlength: MAX_TEXT_CHARS,
            hint: String::new(),
            invalid: false,
        }
    }
    fn optional(mut self) -> Field {
        self.required = false;
        self
    }
    fn hint(mut self, hint: String) -> Field {
        self.hint = hint;
        self
    }
    /// The input's id, unique on the page.
    pub fn id(&self, action: &str) -> String {
        format!("f-{action}-{}", self.name)
    }
}

/// One form per action the caller may take now.
pub struct ActionForm {
    pub action: String,
    pub label: String,
    pub fields: Vec<Field>,
    /// What the caller should know before acting (the escalation target, a pending request).
    pub note: Option<String>,
    /// Open on arrival (the form whose submission failed).
    pub open: bool,
    /// Actions that end or turn a case away get a quieter, outlined button.
    pub secondary: bool,
}

/// One event of the timeline.
pub struct TimelineRow {
    pub time: String,
    pub action: String,
    pub who: String,
    pub from: Option<String>,
    pub to: String,
    /// The status changed (a note or a request leaves it as it was).
    pub changed: bool,
    pub detail: Option<String>,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    chrome: Chrome,
    t: Texts,
    code: String,
    heading: String,
    status: String,
    status_key: String,
    light: Option<LightBadge>,
    urgent: bool,
    facts: Vec<(String, String)>,
    description: String,
    map_svg: Option<String>,
    map_caption: String,
    timeline: Vec<TimelineRow>,
    forms: Vec<ActionForm>,
    /// Some forms are a bare button (no fields): they sit together in a row.
    has_quick: bool,
    csrf: String,
    done: Option<String>,
    error: Option<(String, String)>,
    /// Photos and audio notes (served to the signed-in page at `/attachments/{id}`).
    files: Vec<crate::actions::attachments::AttachmentView>,
    files_label: String,
    similar: Vec<SimilarRow>,
}

#[derive(Deserialize, Default)]
struct DoneParam {
    done: Option<String>,
}

async fn case_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Query(p): Query<DoneParam>,
) -> Response {
    let result = async {
        ctx.require_caller()?;
        let id = case_id(&state, &raw).await?;
        render_case(&state, &ctx, id, p.done.as_deref(), None).await
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn render_case(
    state: &AppState,
    ctx: &PageCtx,
    id: i64,
    done: Option<&str>,
    failure: Option<Failure>,
) -> AppResult<Response> {
    let caller = ctx.require_caller()?;
    let rec = cases::load_case(state, caller, id).await?;
    let v = cases::view(state, Some(caller), &rec, true).await?;
    let case = cases::engine_case(&rec)?;
    let mut names = Names::new(state, caller).await?;
    let categories = category_names(state, ctx.lang, std::iter::once(v.category.as_str())).await;
    let category = categories
        .get(&v.category)
        .cloned()
        .unwrap_or_else(|| v.category.clone());
    let place = names.case_place(&v.territory).await;

    let mut facts = vec![
        (ctx.t("case-code"), v.code.clone()),
        (ctx.t("case-category"), category.clone()),
        (
            ctx.t("case-urgency"),
            ctx.t(&format!("urgency-{}", v.urgency)),
        ),
        (
            ctx.t("case-channel"),
            ctx.t(&format!("channel-{}", v.channel)),
        ),
        (ctx.t("case-place"), place.clone()),
        (ctx.t("case-centre"), names.unit(&v.centre)),
        (ctx.t("case-handler"), names.unit(&v.handling_unit)),
    ];
    if let Some(step) = &v.step {
        facts.push((ctx.t("case-step"), ctx.t(&format!("step-{step}"))));
    }
    if let Some(d) = v.deadline {
        facts.push((ctx.t("case-deadline"), beijing(d)));
    }
    facts.push((ctx.t("case-created"), beijing(v.created_at)));
    facts.push((ctx.t("case-updated"), beijing(v.updated_at)));
    if let Some(r) = &v.result {
        facts.push((ctx.t("case-result"), ctx.t(&format!("result-{r}"))));
    }
    if let Some(s) = &v.satisfaction {
        facts.push((
            ctx.t("case-satisfaction"),
            ctx.t(&format!("satisfaction-{s}")),
        ));
    }
    if let Some(r) = &case.rejection {
        let text = match &case.redirect {
            Some(to) => format!("{r} → {to}"),
            None => r.clone(),
        };
        facts.push((ctx.t("case-rejection"), text));
    }
    if let Some(into) = case.merged_into {
        facts.push((ctx.t("case-merged-into"), format!("#{into}")));
    }
    if let Some(r) = &v.reporter {
        let who = [r.name.as_deref(), r.phone.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
        facts.push((ctx.t("case-reporter"), who));
    }

    let (map_svg, map_caption) = case_map(state, ctx, caller, &v, &place).await;

    let mut timeline = Vec::new();
    for h in v.history.as_deref().unwrap_or_default() {
        let who = match (&h.by_role, &h.by_level) {
            (Some(role), Some(level)) => format!(
                "{} · {}",
                ctx.t(&format!("level-{level}")),
                ctx.t(&format!("role-{role}"))
            ),
            (Some(role), None) => ctx.t(&format!("role-{role}")),
            _ if h.action == "create" => ctx.t(&format!("channel-{}", v.channel)),
            _ => ctx.t("case-by-system"),
        };
        let detail = match (&h.reason, &h.text) {
            (Some(r), Some(t)) => Some(format!("{r} · {t}")),
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (None, None) => None,
        };
        timeline.push(TimelineRow {
            time: beijing(h.at),
            action: action_label(ctx, &h.action),
            who,
            from: h.from_status.as_deref().map(|s| status_label(ctx, s)),
            to: status_label(ctx, &h.to_status),
            changed: h.from_status.as_deref() != Some(h.to_status.as_str()),
            detail,
        });
    }

    let mut actions: Vec<String> = v.allowed_actions.clone();
    // Keep what was typed into a form whose action is no longer allowed (it can be copied).
    if let Some(f) = &failure
        && Action::parse(&f.form.action).is_some()
        && !actions.contains(&f.form.action)
    {
        actions.push(f.form.action.clone());
    }
    let invalid_field = match &failure {
        Some(Failure {
            kind: FailKind::Invalid { field },
            ..
        }) => Some(field.split('.').next().unwrap_or_default().to_owned()),
        _ => None,
    };
    let mut forms = Vec::with_capacity(actions.len());
    for a in &actions {
        let typed = failure.as_ref().map(|f| &f.form).filter(|f| f.action == *a);
        let mut form = action_form(ctx, &mut names, &case, a, typed);
        if typed.is_some() {
            form.open = true;
            for field in &mut form.fields {
                field.invalid = invalid_field.as_deref() == Some(field.name);
            }
        }
        forms.push(form);
    }

    let error = failure.as_ref().map(|f| {
        let message = match &f.kind {
            FailKind::Csrf => ctx.t("case-error-csrf"),
            FailKind::Forbidden => ctx.t("case-error-forbidden"),
            FailKind::OutOfScope => ctx.t("error-out-of-scope"),
            FailKind::Conflict => t_args(
                ctx,
                "case-error-conflict",
                &[
                    ("action", action_label(ctx, &f.form.action)),
                    ("status", status_label(ctx, &v.status)),
                ],
            ),
            FailKind::Invalid { field } => t_args(
                ctx,
                "case-error-invalid",
                &[("field", field_label(ctx, field))],
            ),
        };
        (message, f.detail.clone())
    });
    let status = failure.as_ref().map_or(StatusCode::OK, |f| f.status);
    let heading = v.title.clone().unwrap_or_else(|| category.clone());
    Ok(ctx.render(
        status,
        CasePage {
            chrome: ctx.chrome(format!("{} {}", v.code, heading)),
            t: Texts::keys(ctx, TEXT_KEYS),
            code: v.code.clone(),
            heading,
            status: status_label(ctx, &v.status),
            status_key: v.status.clone(),
            light: light_badge(ctx, v.light.as_deref()),
            urgent: v.urgency == "urgent",
            facts,
            description: v.description.clone(),
            map_svg,
            map_caption,
            timeline,
            has_quick: forms.iter().any(|f| f.fields.is_empty()),
            forms,
            csrf: caller.csrf_token.clone(),
            done: if failure.is_none() {
                done_message(ctx, done)
            } else {
                None
            },
            error,
            files: v.attachments.clone().unwrap_or_default(),
            files_label: ctx.t("resident-case-files"),
            similar: v
                .similar
                .iter()
                .flatten()
                .map(|c| SimilarRow {
                    code: c.code.clone(),
                    status: status_label(ctx, &c.status),
                    distance: t_args(
                        ctx,
                        "case-similar-distance",
                        &[("metres", c.distance_m.to_string())],
                    ),
                    created: beijing(c.created_at),
                })
                .collect(),
        },
    ))
}

/// A possible duplicate shown on the case page, with a button to merge into it.
struct SimilarRow {
    code: String,
    status: String,
    distance: String,
    created: String,
}

/// The case's grid (or chosen node) with a pin where it was reported.
async fn case_map(
    state: &AppState,
    ctx: &PageCtx,
    caller: &Caller,
    v: &CaseView,
    place: &str,
) -> (Option<String>, String) {
    let node = match TerritoryCode::parse(&v.territory)
        .ok()
        .and_then(|c| caller.scoped(&c).ok())
    {
        Some(c) => actions::territory::node(state, &c).await.ok(),
        None => None,
    };
    let pin = v.location.as_ref().map(|l| MapPin {
        lng: l.lng,
        lat: l.lat,
        title: format!("{} · {:.5}, {:.5}", v.code, l.lat, l.lng),
    });
    let caption = if pin.is_some() {
        t_args(ctx, "case-map-caption", &[("place", place.to_owned())])
    } else {
        t_args(ctx, "case-map-unlocated", &[("place", place.to_owned())])
    };
    let svg = node.and_then(|n| {
        let shape = MapShape {
            code: n.code.to_string(),
            label: String::new(),
            geometry: n.geometry?,
            href: format!("/territory/{}", n.code),
            shade: 0.25,
            title: format!("{} ({})", n.name, n.code),
        };
        map::render_with_pin(&[shape], pin.as_ref(), &caption).map(|m| m.svg)
    });
    (svg, caption)
}

fn field_label(ctx: &PageCtx, field: &str) -> String {
    let name = field.split('.').next().unwrap_or(field);
    match name {
        "reason" | "redirect" | "into" | "to" | "text" | "result" | "passed" | "satisfaction"
        | "level" | "working_days" | "approve" => ctx.t(&format!("field-{name}")),
        other => other.to_owned(),
    }
}

fn choices<'a>(
    ctx: &PageCtx,
    prefix: &str,
    values: impl Iterator<Item = &'a str>,
    typed: &str,
) -> Vec<Opt> {
    values
        .map(|v| Opt {
            value: v.to_owned(),
            label: ctx.t(&format!("{prefix}{v}")),
            selected: v == typed,
        })
        .collect()
}

/// The form of one action with exactly the fields it needs.
fn action_form(
    ctx: &PageCtx,
    names: &mut Names<'_>,
    case: &Case,
    action: &str,
    typed: Option<&ActForm>,
) -> ActionForm {
    let value = |f: &str| typed.map(|t| t.value(f).to_owned()).unwrap_or_default();
    let area = |name: &'static str, label: &str| {
        let mut f = Field::new(name, ctx.t(label), "area");
        f.value = value(name);
        f
    };
    let yes_no = |name: &'static str, yes: &str, no: &str| {
        let typed = value(name);
        let mut f = Field::new(name, ctx.t(&format!("field-{name}")), "radio");
        f.options = vec![
            Opt {
                value: "yes".into(),
                label: ctx.t(yes),
                selected: typed == "yes",
            },
            Opt {
                value: "no".into(),
                label: ctx.t(no),
                selected: typed == "no",
            },
        ];
        f
    };
    let result = || {
        let mut f = Field::new("result", ctx.t("field-result"), "select");
        f.options = choices(
            ctx,
            "result-",
            HandleResult::ALL.iter().map(|r| r.as_str()),
            &value("result"),
        );
        f
    };
    let units = |except: Option<&str>| {
        let mut f = Field::new("to", ctx.t("field-to"), "units");
        f.groups = dispatch_targets(ctx, &names.units, &case.centre, except, &value("to"));
        f
    };
    let mut note = None;
    let fields = match action {
        "reject" => vec![area("reason", "field-reason"), {
            let mut f = Field::new("redirect", ctx.t("field-redirect"), "line")
                .optional()
                .hint(ctx.t("field-redirect-hint"));
            f.value = value("redirect");
            f.maxlength = 200;
            f
        }],
        "merge" => vec![{
            let mut f =
                Field::new("into", ctx.t("field-into"), "line").hint(ctx.t("field-into-hint"));
            f.value = value("into");
            f.maxlength = 30;
            f
        }],
        "dispatch" => vec![units(None)],
        "transfer" => vec![
            units(Some(&case.handling_unit)),
            area("reason", "field-reason").optional(),
        ],
        "escalate" => {
            if let Some(parent) = case.centre.parent() {
                note = Some(t_args(
                    ctx,
                    "case-escalate-to",
                    &[("unit", names.unit(parent.as_str()))],
                ));
            }
            vec![area("reason", "field-reason")]
        }
        "send_back" | "request_park" => vec![area("reason", "field-reason")],
        "note" => vec![area("text", "field-text")],
        "report_handled" | "self_handle" => vec![result(), area("text", "field-text")],
        "verify" => vec![yes_no("passed", "choice-pass", "choice-fail")],
        "revisit" => {
            let mut f = Field::new("satisfaction", ctx.t("field-satisfaction"), "radio");
            f.options = choices(
                ctx,
                "satisfaction-",
                Satisfaction::ALL.iter().map(|s| s.as_str()),
                &value("satisfaction"),
            );
            vec![f]
        }
        "supervise" => {
            let mut level = Field::new("level", ctx.t("field-level"), "select");
            let typed_level = value("level");
            level.options = choices(
                ctx,
                "supervise-",
                SuperviseLevel::ALL.iter().map(|l| l.as_str()),
                if typed_level.is_empty() {
                    "normal"
                } else {
                    &typed_level
                },
            );
            vec![level, area("text", "field-text")]
        }
        "request_extension" => {
            let mut days = Field::new("working_days", ctx.t("field-working_days"), "number");
            days.min = 1;
            days.max = MAX_EXTENSION_DAYS;
            days.value = value("working_days");
            vec![days, area("reason", "field-reason")]
        }
        "decide_extension" => {
            if let Some(p) = &case.pending_extension {
                note = Some(t_args(
                    ctx,
                    "case-pending-extension",
                    &[
                        ("days", p.working_days.to_string()),
                        ("reason", p.reason.clone()),
                    ],
                ));
            }
            vec![yes_no("approve", "choice-approve", "choice-deny")]
        }
        "decide_park" => {
            if let Some(p) = &case.pending_park {
                note = Some(t_args(
                    ctx,
                    "case-pending-park",
                    &[("reason", p.reason.clone())],
                ));
            }
            vec![yes_no("approve", "choice-approve", "choice-deny")]
        }
        _ => vec![],
    };
    ActionForm {
        action: action.to_owned(),
        label: action_label(ctx, action),
        fields,
        note,
        open: false,
        secondary: matches!(action, "reject" | "merge" | "send_back" | "mark_urgent"),
    }
}

/// Where the owning centre may send a case: its own departments (across), the centres one level
/// down, and, at township and village level, the grids below it.
fn dispatch_targets(
    ctx: &PageCtx,
    units: &HashMap<String, Unit>,
    centre: &TerritoryCode,
    except: Option<&str>,
    typed: &str,
) -> Vec<(String, Vec<Opt>)> {
    let mut departments = Vec::new();
    let mut centres = Vec::new();
    let mut grids = Vec::new();
    for u in units.values() {
        if Some(u.code.as_str()) == except {
            continue;
        }
        match u.kind {
            UnitKind::Department if u.territory == *centre => departments.push(u),
            UnitKind::Center if u.territory.parent().as_ref() == Some(centre) => centres.push(u),
            UnitKind::Grid
                if centre.level() >= Level::Township
                    && u.territory != *centre
                    && centre.covers(&u.territory) =>
            {
                grids.push(u)
            }
            _ => {}
        }
    }
    let opts = |mut list: Vec<&Unit>| {
        list.sort_by(|a, b| a.code.cmp(&b.code));
        list.into_iter()
            .map(|u| Opt {
                value: u.code.clone(),
                label: u.name.clone(),
                selected: u.code == typed,
            })
            .collect::<Vec<_>>()
    };
    [
        ("units-departments", departments),
        ("units-centres", centres),
        ("units-grids", grids),
    ]
    .into_iter()
    .filter(|(_, list)| !list.is_empty())
    .map(|(key, list)| (ctx.t(key), opts(list)))
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Acting

async fn act_on_case(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    let Some(caller) = &ctx.caller else {
        // Signed out (the session expired): sign in, then back to the case, not to this POST.
        let next = urlencode(&format!("/cases/{raw}"));
        return Redirect::to(&format!("/login?next={next}")).into_response();
    };
    let id = match case_id(&state, &raw).await {
        Ok(id) => id,
        Err(e) => return ctx.error(e),
    };
    let failure = if form.csrf != caller.csrf_token {
        Failure {
            status: StatusCode::FORBIDDEN,
            kind: FailKind::Csrf,
            detail: String::new(),
            form,
        }
    } else {
        match submit(&state, caller, id, &form).await {
            Ok(rec) => {
                let action = urlencode(form.action.trim());
                // After sending a case away the caller may no longer see it: back to the queue.
                let to = match cases::load_case(&state, caller, rec.id).await {
                    Ok(_) => format!("/cases/{}?done={action}", rec.code),
                    Err(_) => format!("/cases?done={action}"),
                };
                return Redirect::to(&to).into_response();
            }
            Err(e) => {
                let kind = match &e {
                    AppError::Forbidden(_) => FailKind::Forbidden,
                    AppError::OutOfScope(_) => FailKind::OutOfScope,
                    AppError::Conflict(_) => FailKind::Conflict,
                    AppError::Unprocessable { field, .. } => FailKind::Invalid {
                        field: field.clone(),
                    },
                    _ => return ctx.error(e),
                };
                Failure {
                    status: e.status(),
                    kind,
                    detail: e.public_message(),
                    form,
                }
            }
        }
    };
    match render_case(&state, &ctx, id, None, Some(failure)).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

/// Turn the form into the API's action body and act through the one case action.
async fn submit(
    state: &AppState,
    caller: &Caller,
    id: i64,
    form: &ActForm,
) -> AppResult<CaseRecord> {
    let merging = form.action.trim() == "merge";
    // A case to merge into may be given by its code as well as its id.
    let into = match given(&form.into) {
        Some(raw) if merging => Some(
            case_id(state, &raw)
                .await
                .map_err(|e| AppError::unprocessable("into", e.public_message()))?,
        ),
        _ => None,
    };
    let body = action_body(form, into);
    cases::act(state, caller, id, &body)
        .await
        .map_err(|e| match e {
            // The case to merge into does not exist: the field is wrong.
            AppError::NotFound(m) if merging => AppError::unprocessable("into", m),
            other => other,
        })
}

/// A field's trimmed text, if anything was typed.
fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The JSON body of `POST /api/v1/cases/{id}/actions` for a submitted form (`into`: the case
/// to merge into, resolved). A field left out reaches the action as missing, which names it.
fn action_body(form: &ActForm, into: Option<i64>) -> Json {
    let yes_no = |v: &Option<String>| match v.as_deref().map(str::trim) {
        Some("yes") => Some(Json::Bool(true)),
        Some("no") => Some(Json::Bool(false)),
        _ => None,
    };
    let text = |v: &Option<String>| given(v).map(Json::String);
    let action = form.action.trim();
    let mut fields: Vec<(&str, Option<Json>)> = Vec::new();
    match action {
        "reject" => {
            fields.push(("reason", text(&form.reason)));
            fields.push(("redirect", text(&form.redirect)));
        }
        "merge" => fields.push(("into", into.map(|id| json!(id)))),
        "dispatch" | "transfer" => {
            fields.push(("to", given(&form.to).map(|u| json!({ "unit": u }))));
            if action == "transfer" {
                fields.push(("reason", text(&form.reason)));
            }
        }
        "send_back" | "escalate" | "request_park" => fields.push(("reason", text(&form.reason))),
        "note" => fields.push(("text", text(&form.text))),
        "report_handled" | "self_handle" => {
            fields.push(("result", text(&form.result)));
            fields.push(("text", text(&form.text)));
        }
        "verify" => fields.push(("passed", yes_no(&form.passed))),
        "revisit" => fields.push(("satisfaction", text(&form.satisfaction))),
        "supervise" => {
            fields.push(("level", text(&form.level)));
            fields.push(("text", text(&form.text)));
        }
        "request_extension" => {
            fields.push((
                "working_days",
                given(&form.working_days)
                    .and_then(|d| d.parse::<u64>().ok())
                    .map(|d| json!(d)),
            ));
            fields.push(("reason", text(&form.reason)));
        }
        "decide_extension" | "decide_park" => fields.push(("approve", yes_no(&form.approve))),
        _ => {}
    }
    let mut body = serde_json::Map::new();
    body.insert("action".into(), json!(action));
    for (k, v) in fields {
        if let Some(v) = v {
            body.insert(k.to_owned(), v);
        }
    }
    Json::Object(body)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn form(action: &str) -> ActForm {
        ActForm {
            action: action.into(),
            ..ActForm::default()
        }
    }

    #[test]
    fn excerpts_cut_long_or_multiline_text() {
        assert_eq!(excerpt("短", 5), "短");
        assert_eq!(excerpt("一二三四五六", 5), "一二三四五…");
        assert_eq!(excerpt("一\n二", 5), "一…");
    }

    #[test]
    fn beijing_time_is_utc_plus_eight() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T16:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(beijing(t), "2026-01-02 00:30");
    }

    #[test]
    fn forms_become_the_api_action_body() {
        let mut f = form("dispatch");
        f.to = Some("623027202-police".into());
        f.reason = Some("ignored".into());
        assert_eq!(
            action_body(&f, None),
            json!({"action": "dispatch", "to": {"unit": "623027202-police"}})
        );
        let mut f = form("verify");
        f.passed = Some("no".into());
        assert_eq!(
            action_body(&f, None),
            json!({"action": "verify", "passed": false})
        );
        let mut f = form("request_extension");
        f.working_days = Some(" 3 ".into());
        f.reason = Some("  等待鉴定  ".into());
        assert_eq!(
            action_body(&f, None),
            json!({"action": "request_extension", "working_days": 3, "reason": "等待鉴定"})
        );
        // Nothing chosen, nothing sent: the action names the missing field.
        let mut f = form("decide_park");
        f.approve = Some("maybe".into());
        assert_eq!(action_body(&f, None), json!({"action": "decide_park"}));
        assert_eq!(
            action_body(&form("merge"), Some(7)),
            json!({"action": "merge", "into": 7})
        );
        let mut f = form("reject");
        f.reason = Some("不属于受理范围".into());
        f.redirect = Some(" ".into());
        assert_eq!(
            action_body(&f, None),
            json!({"action": "reject", "reason": "不属于受理范围"})
        );
    }

    #[test]
    fn typed_values_come_back_by_field_name() {
        let mut f = form("reject");
        f.reason = Some("重复".into());
        assert_eq!(f.value("reason"), "重复");
        assert_eq!(f.value("text"), "");
    }
}
