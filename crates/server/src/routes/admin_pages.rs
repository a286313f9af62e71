//! The administration pages (`/admin`): for administrators and centre operators, each node of
//! their territory with its five coverages and gap lists, its households, members, pairings,
//! monasteries, enterprises, joint-defence groups and units, their history, and spreadsheet
//! import and export. Forms post to the same actions as the API (`actions::org`), carry the
//! session's CSRF token, and come back with what was typed when something is refused.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use domain::coverage::CoverageKind;
use domain::people::{Force, PairingKind};
use domain::{Level, TerritoryCode};
use serde::Deserialize;

use crate::actions::org::{
    self, GroupInput, HouseholdInput, MemberInput, PairingInput, PlaceInput, UnitInput,
};
use crate::actions::territory::{level_key, parse_code};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::routes::api_org::{self, MAX_UPLOAD};
use crate::routes::case_pages::Opt;
use crate::routes::pages::check_csrf;
use crate::routes::pages::{Chrome, PageCtx, urlencode};
use crate::state::AppState;
use crate::transfer::sheet::Format;
use crate::transfer::{ImportOptions, Kind};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_home))
        .route("/admin/t/{code}", get(node_page))
        .route("/admin/t/{code}/{section}", get(section_page))
        .route(
            "/admin/t/{code}/import",
            post(import_upload).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/admin/t/{code}/export/{kind}", get(export_download))
        .route(
            "/admin/households/{id}",
            get(household_page).post(household_save),
        )
        .route("/admin/pairings/{id}", get(pairing_page).post(pairing_save))
        .route("/admin/pairings/{id}/end", post(pairing_end))
        .route("/admin/pairings/{id}/delete", post(pairing_delete))
        .route("/admin/members/{id}", get(member_page).post(member_save))
        .route(
            "/admin/places/{kind}/{id}",
            get(place_page).post(place_save),
        )
        .route("/admin/groups/{code}/new", post(group_create))
        .route("/admin/groups/{code}/head", post(group_head))
        .route("/admin/units/new", post(unit_create))
}

// ---------------------------------------------------------------------------------------------
// The page model: one template for every administration page.

pub struct Tab {
    pub href: String,
    pub label: String,
    pub current: bool,
}

pub struct CellView {
    pub text: String,
    pub href: Option<String>,
    pub class: &'static str,
}

fn cell(text: impl Into<String>) -> CellView {
    CellView {
        text: text.into(),
        href: None,
        class: "",
    }
}

fn link(text: impl Into<String>, href: impl Into<String>) -> CellView {
    CellView {
        text: text.into(),
        href: Some(href.into()),
        class: "",
    }
}

fn code_cell(text: impl Into<String>) -> CellView {
    CellView {
        text: text.into(),
        href: None,
        class: "code",
    }
}

fn num(n: i64) -> CellView {
    CellView {
        text: n.to_string(),
        href: None,
        class: "num",
    }
}

pub struct TableView {
    pub id: String,
    pub caption: String,
    pub count: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<CellView>>,
    pub empty: String,
    pub more: Option<(String, String)>,
}

pub struct FieldView {
    pub name: &'static str,
    pub label: String,
    /// `text`, `number`, `date`, `tel`, `select`, `checkbox`, `checkboxes`, `file`, `textarea`,
    /// `hidden`.
    pub kind: &'static str,
    pub value: String,
    pub options: Vec<Opt>,
    pub required: bool,
    pub readonly: bool,
    pub multiple: bool,
    pub checked: bool,
    pub check_value: &'static str,
    pub hint: String,
    pub invalid: bool,
}

impl FieldView {
    fn new(name: &'static str, label: String, kind: &'static str, value: String) -> FieldView {
        FieldView {
            name,
            label,
            kind,
            value,
            options: vec![],
            required: true,
            readonly: false,
            multiple: false,
            checked: false,
            check_value: "on",
            hint: String::new(),
            invalid: false,
        }
    }
    fn optional(mut self) -> Self {
        self.required = false;
        self
    }
    fn hint(mut self, h: String) -> Self {
        self.hint = h;
        self
    }
    fn options(mut self, o: Vec<Opt>) -> Self {
        self.options = o;
        self
    }
}

pub struct FormView {
    pub heading: String,
    pub note: String,
    pub action: String,
    pub submit: String,
    pub fields: Vec<FieldView>,
    pub secondary: bool,
    pub upload: bool,
}

pub struct CoverageTile {
    pub key: &'static str,
    pub label: String,
    pub rate: String,
    pub width: u32,
    pub covered: i64,
    pub total: i64,
    pub gaps: i64,
    pub gaps_label: String,
}

#[derive(Default)]
pub struct AdminView {
    pub crumbs: Vec<(String, String)>,
    pub title: String,
    pub lead: String,
    pub tabs_label: String,
    pub tabs: Vec<Tab>,
    pub notice: Option<String>,
    pub error: Option<(String, String)>,
    pub coverage_label: String,
    pub coverage: Vec<CoverageTile>,
    pub links: Vec<(String, String)>,
    pub forms: Vec<FormView>,
    pub tables: Vec<TableView>,
    pub next_href: Option<String>,
    pub next_label: String,
    pub csrf: String,
    pub optional: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    p: AdminView,
}

fn t_args(ctx: &PageCtx, key: &str, args: &[(&str, String)]) -> String {
    ctx.i18n.t_args(ctx.lang, key, args)
}

/// The signed-in manager, or the reason the page is refused.
fn manager(ctx: &PageCtx) -> AppResult<&Caller> {
    let caller = ctx.require_caller()?;
    org::require_manager(caller)?;
    Ok(caller)
}

fn view(ctx: &PageCtx, caller: &Caller, title: String) -> AdminView {
    AdminView {
        title,
        tabs_label: ctx.t("org-sections"),
        coverage_label: ctx.t("org-coverage"),
        next_label: ctx.t("org-next-page"),
        optional: ctx.t("optional"),
        csrf: caller.csrf_token.clone(),
        ..AdminView::default()
    }
}

fn render(ctx: &PageCtx, status: StatusCode, title: &str, p: AdminView) -> Response {
    ctx.render(
        status,
        AdminPage {
            chrome: ctx.chrome(title.to_owned()),
            p,
        },
    )
}

/// Where a failed POST goes: back to its form with the message (422/409), or the error page.
fn refused_form(ctx: &PageCtx, e: &AppError) -> Option<(StatusCode, (String, String))> {
    match e {
        AppError::Unprocessable { field, message } => Some((
            e.status(),
            (
                t_args(ctx, "org-refused-field", &[("field", field.clone())]),
                message.clone(),
            ),
        )),
        AppError::Conflict(m) => Some((e.status(), (ctx.t("org-refused-conflict"), m.clone()))),
        _ => None,
    }
}

/// A submitted form: every value of every field (checkbox groups repeat their name).
struct Submitted(Vec<(String, String)>);

impl Submitted {
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// The fields as a JSON object (repeated fields joined by commas), for the actions' inputs.
    fn json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.0 {
            if k == "csrf" {
                continue;
            }
            let joined = match m.get(k) {
                Some(serde_json::Value::String(prev)) => format!("{prev},{v}"),
                _ => v.clone(),
            };
            m.insert(k.clone(), serde_json::Value::String(joined));
        }
        serde_json::Value::Object(m)
    }
    fn input<T: serde::de::DeserializeOwned>(&self) -> AppResult<T> {
        serde_json::from_value(self.json())
            .map_err(|e| AppError::unprocessable("form", e.to_string()))
    }
}

/// Values shown in a form: from the stored record, or from what was just submitted.
type Values = HashMap<String, String>;

fn values_of(s: &Submitted) -> Values {
    let mut v = Values::new();
    for (k, val) in &s.0 {
        v.entry(k.clone())
            .and_modify(|e: &mut String| {
                e.push(',');
                e.push_str(val);
            })
            .or_insert_with(|| val.clone());
    }
    v
}

fn val(v: &Values, k: &str) -> String {
    v.get(k).cloned().unwrap_or_default()
}

fn rate_text(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn tiles(ctx: &PageCtx, c: &org::CoverageView) -> Vec<CoverageTile> {
    CoverageKind::ALL
        .iter()
        .map(|k| {
            let f = c.fraction(*k);
            CoverageTile {
                key: k.as_str(),
                label: ctx.t(&format!("org-cov-{}", k.as_str())),
                rate: rate_text(f.rate),
                width: f.rate.map_or(0, |r| (r * 100.0).round() as u32),
                covered: f.covered,
                total: f.total,
                gaps: f.total - f.covered,
                gaps_label: ctx.t("org-gaps"),
            }
        })
        .collect()
}

/// The node a page is about, in scope, with its breadcrumb.
struct NodeCtx {
    code: TerritoryCode,
    name: String,
    level: Level,
    crumbs: Vec<(String, String)>,
}

async fn node_ctx(state: &AppState, caller: &Caller, raw: &str) -> AppResult<NodeCtx> {
    let code = caller.scoped(&parse_code("code", raw)?)?;
    let view = crate::actions::territory::browse(state, &code).await?;
    let mut crumbs: Vec<(String, String)> = view
        .ancestors
        .iter()
        .filter(|a| caller.principal.scope.covers(&a.code))
        .map(|a| (format!("/admin/t/{}", a.code), a.name.clone()))
        .collect();
    crumbs.push((
        format!("/admin/t/{}", view.node.code),
        view.node.name.clone(),
    ));
    Ok(NodeCtx {
        code: view.node.code.clone(),
        name: view.node.name.clone(),
        level: view.node.level,
        crumbs,
    })
}

const SECTIONS: &[&str] = &[
    "households",
    "members",
    "pairings",
    "monasteries",
    "enterprises",
    "groups",
    "units",
    "history",
    "transfer",
];

fn tabs(ctx: &PageCtx, n: &NodeCtx, current: &str) -> Vec<Tab> {
    let mut out = vec![Tab {
        href: format!("/admin/t/{}", n.code),
        label: ctx.t("org-tab-overview"),
        current: current.is_empty(),
    }];
    for s in SECTIONS {
        let shown = match *s {
            "groups" => n.level == Level::Grid,
            "units" => n.level.has_centre() && n.level != Level::Village,
            _ => true,
        };
        if shown {
            out.push(Tab {
                href: format!("/admin/t/{}/{s}", n.code),
                label: ctx.t(&format!("org-tab-{s}")),
                current: current == *s,
            });
        }
    }
    out
}

#[derive(Deserialize, Default)]
struct PageParams {
    after: Option<String>,
    done: Option<String>,
}

fn done_notice(ctx: &PageCtx, done: Option<&str>) -> Option<String> {
    match done? {
        "saved" => Some(ctx.t("org-done-saved")),
        "ended" => Some(ctx.t("org-done-ended")),
        "deleted" => Some(ctx.t("org-done-deleted")),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Overview

async fn admin_home(ctx: PageCtx) -> Response {
    match manager(&ctx) {
        Ok(c) => Redirect::to(&format!("/admin/t/{}", c.principal.scope)).into_response(),
        Err(e) => ctx.error(e),
    }
}

async fn node_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(code): Path<String>,
    Query(q): Query<PageParams>,
) -> Response {
    match node_inner(&state, &ctx, &code, &q).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

/// The gap's link: what fixes it.
fn gap_fix(kind: CoverageKind, id: &str) -> String {
    match kind {
        CoverageKind::HouseholdsInGroups => format!("/admin/households/{id}"),
        CoverageKind::MonasteriesPaired => {
            format!("/admin/pairings/new?kind=monastery&target={id}")
        }
        CoverageKind::EnterprisesPaired => {
            format!("/admin/pairings/new?kind=enterprise&target={id}")
        }
        CoverageKind::CareHouseholdsPaired => format!("/admin/pairings/new?kind=care&target={id}"),
        CoverageKind::VillagesPaired => {
            format!("/admin/pairings/new?kind=department_village&target={id}")
        }
    }
}

const GAPS_SHOWN: i64 = 20;

async fn node_inner(
    state: &AppState,
    ctx: &PageCtx,
    raw: &str,
    q: &PageParams,
) -> AppResult<Response> {
    let caller = manager(ctx)?;
    let n = node_ctx(state, caller, raw).await?;
    let cov = org::coverage(state, caller, &n.code, None, GAPS_SHOWN).await?;
    let mut p = view(ctx, caller, n.name.clone());
    p.lead = t_args(
        ctx,
        "org-overview-lead",
        &[
            ("level", ctx.t(level_key(n.level))),
            ("date", cov.date.to_string()),
        ],
    );
    p.crumbs = n.crumbs.clone();
    p.tabs = tabs(ctx, &n, "");
    p.notice = done_notice(ctx, q.done.as_deref());
    p.coverage = tiles(ctx, &cov);
    p.links = vec![
        (
            format!("/admin/t/{}/export/gaps?format=xlsx", n.code),
            ctx.t("org-export-gaps-xlsx"),
        ),
        (
            format!("/admin/t/{}/export/gaps?format=csv", n.code),
            ctx.t("org-export-gaps-csv"),
        ),
    ];
    // The children with their coverage, down to the villages.
    if n.level < Level::Village {
        let mut rows = Vec::new();
        for child in state.db.territory_child_codes(&n.code).await? {
            let c = state.db.coverage(&child, cov.date).await?;
            let name = state
                .db
                .territory(&child)
                .await?
                .map(|t| t.name)
                .unwrap_or_default();
            let mut row = vec![
                link(name, format!("/admin/t/{child}")),
                code_cell(child.to_string()),
            ];
            for f in [
                c.households_in_groups,
                c.monasteries_paired,
                c.enterprises_paired,
                c.care_households_paired,
                c.villages_paired,
            ] {
                let f: org::FractionView = f.into();
                row.push(CellView {
                    text: rate_text(f.rate),
                    href: None,
                    class: "num",
                });
            }
            rows.push(row);
        }
        let mut headers = vec![ctx.t("col-name"), ctx.t("col-code")];
        headers.extend(
            CoverageKind::ALL
                .iter()
                .map(|k| ctx.t(&format!("org-cov-short-{}", k.as_str()))),
        );
        p.tables.push(TableView {
            id: "children".into(),
            caption: t_args(
                ctx,
                "org-children",
                &[(
                    "level",
                    n.level
                        .child()
                        .map(|l| ctx.t(level_key(l)))
                        .unwrap_or_default(),
                )],
            ),
            count: String::new(),
            headers,
            rows,
            empty: ctx.t("org-none"),
            more: None,
        });
    }
    for kind in CoverageKind::ALL {
        let gaps = cov.gaps.get(kind);
        let f = cov.fraction(kind);
        let rows = gaps
            .iter()
            .map(|g| {
                vec![
                    code_cell(g.id.clone()),
                    cell(g.name.clone()),
                    link(g.territory.clone(), format!("/admin/t/{}", g.territory)),
                    cell(
                        g.reason
                            .as_deref()
                            .map(|r| ctx.t(&format!("org-gap-{r}")))
                            .unwrap_or_default(),
                    ),
                    link(
                        ctx.t(&format!("org-fix-{}", kind.as_str())),
                        gap_fix(kind, &g.id),
                    ),
                ]
            })
            .collect();
        p.tables.push(TableView {
            id: format!("gaps-{}", kind.as_str()),
            caption: t_args(
                ctx,
                "org-gaps-of",
                &[("coverage", ctx.t(&format!("org-cov-{}", kind.as_str())))],
            ),
            count: t_args(
                ctx,
                "org-gap-count",
                &[("n", (f.total - f.covered).to_string())],
            ),
            headers: vec![
                ctx.t("col-code"),
                ctx.t("col-name"),
                ctx.t("org-col-place"),
                ctx.t("org-col-reason"),
                String::new(),
            ],
            rows,
            empty: ctx.t("org-no-gaps"),
            more: ((f.total - f.covered) > GAPS_SHOWN).then(|| {
                (
                    format!("/admin/t/{}/export/gaps?format=xlsx", n.code),
                    ctx.t("org-all-gaps"),
                )
            }),
        });
    }
    let title = n.name.clone();
    Ok(render(ctx, StatusCode::OK, &title, p))
}

// ---------------------------------------------------------------------------------------------
// Sections of a node

async fn section_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((code, section)): Path<(String, String)>,
    Query(q): Query<PageParams>,
) -> Response {
    match section_inner(&state, &ctx, &code, &section, &q).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

const LIST: i64 = 100;

fn after_id(q: &PageParams) -> i64 {
    q.after.as_deref().and_then(|a| a.parse().ok()).unwrap_or(0)
}

async fn section_inner(
    state: &AppState,
    ctx: &PageCtx,
    raw: &str,
    section: &str,
    q: &PageParams,
) -> AppResult<Response> {
    let caller = manager(ctx)?;
    if !SECTIONS.contains(&section) {
        return Err(AppError::NotFound(format!("section {section}")));
    }
    let n = node_ctx(state, caller, raw).await?;
    let at = caller.scoped(&n.code)?;
    let mut p = view(
        ctx,
        caller,
        format!("{} · {}", n.name, ctx.t(&format!("org-tab-{section}"))),
    );
    p.crumbs = n.crumbs.clone();
    p.tabs = tabs(ctx, &n, section);
    p.notice = done_notice(ctx, q.done.as_deref());
    let next = |last: Option<i64>, len: usize| {
        (len as i64 == LIST)
            .then_some(last)
            .flatten()
            .map(|l| format!("/admin/t/{}/{section}?after={l}", n.code))
    };
    match section {
        "households" => {
            let rows = org::households(state, &at, after_id(q), LIST).await?;
            p.next_href = next(rows.last().map(|h| h.id), rows.len());
            if n.level == Level::Grid {
                p.links.push((
                    format!("/admin/households/new?grid={}", n.code),
                    ctx.t("org-new-household"),
                ));
            } else {
                p.lead = ctx.t("org-households-lead");
            }
            p.tables.push(TableView {
                id: "households".into(),
                caption: ctx.t("org-tab-households"),
                count: String::new(),
                headers: vec![
                    ctx.t("org-col-id"),
                    ctx.t("col-head"),
                    ctx.t("org-col-grid"),
                    ctx.t("org-col-group"),
                    ctx.t("col-phone"),
                    ctx.t("col-care"),
                ],
                rows: rows
                    .iter()
                    .map(|h| {
                        vec![
                            link(h.id.to_string(), format!("/admin/households/{}", h.id)),
                            cell(h.head_name.clone()),
                            code_cell(h.grid.clone()),
                            code_cell(h.group.clone().unwrap_or_else(|| ctx.t("org-no-group"))),
                            code_cell(h.phone.clone()),
                            cell(if h.care { ctx.t("yes") } else { String::new() }),
                        ]
                    })
                    .collect(),
                empty: ctx.t("org-none"),
                more: None,
            });
        }
        "members" => {
            let rows = org::members(state, &at, after_id(q), LIST).await?;
            p.next_href = next(rows.last().map(|m| m.id), rows.len());
            p.links.push((
                format!("/admin/members/new?territory={}", n.code),
                ctx.t("org-new-member"),
            ));
            p.tables.push(TableView {
                id: "members".into(),
                caption: ctx.t("org-tab-members"),
                count: String::new(),
                headers: vec![
                    ctx.t("org-col-id"),
                    ctx.t("col-name"),
                    ctx.t("col-title"),
                    ctx.t("col-unit"),
                    ctx.t("col-phone"),
                    ctx.t("col-forces"),
                ],
                rows: rows
                    .iter()
                    .map(|m| {
                        let forces: Vec<String> = m
                            .forces
                            .iter()
                            .map(|f| ctx.t(&format!("org-force-{f}")))
                            .collect();
                        vec![
                            link(m.id.to_string(), format!("/admin/members/{}", m.id)),
                            cell(m.name.clone()),
                            cell(m.title.clone()),
                            cell(m.unit_name.clone()),
                            code_cell(m.phone.clone()),
                            cell(forces.join("、")),
                        ]
                    })
                    .collect(),
                empty: ctx.t("org-none"),
                more: None,
            });
        }
        "pairings" => {
            let rows = org::pairings(state, &at, after_id(q), LIST).await?;
            p.next_href = next(rows.last().map(|r| r.id), rows.len());
            p.links
                .push(("/admin/pairings/new".into(), ctx.t("org-new-pairing")));
            let today = org::today(state);
            p.tables.push(pairing_table(
                ctx,
                "pairings",
                ctx.t("org-tab-pairings"),
                &rows,
                today,
            ));
        }
        "monasteries" | "enterprises" => {
            let kind = org::place_kind(section)?;
            let rows = state
                .db
                .places_page(kind, at.code(), after_id(q), LIST)
                .await?;
            p.next_href = next(rows.last().map(|r| r.id), rows.len());
            if n.level >= Level::Township {
                p.links.push((
                    format!("/admin/places/{}/new?territory={}", kind.entity(), n.code),
                    ctx.t(&format!("org-new-{}", kind.entity())),
                ));
            }
            p.tables.push(TableView {
                id: section.into(),
                caption: ctx.t(&format!("org-tab-{section}")),
                count: String::new(),
                headers: vec![
                    ctx.t("org-col-id"),
                    ctx.t("col-name"),
                    ctx.t("org-col-place"),
                    ctx.t(&format!("org-col-people-{}", kind.entity())),
                ],
                rows: rows
                    .iter()
                    .map(|r| {
                        vec![
                            link(
                                r.id.to_string(),
                                format!("/admin/places/{}/{}", kind.entity(), r.id),
                            ),
                            cell(r.name.clone()),
                            code_cell(r.territory.clone()),
                            num(r.people),
                        ]
                    })
                    .collect(),
                empty: ctx.t("org-none"),
                more: None,
            });
        }
        "groups" => {
            let groups = org::groups(state, caller, &n.code).await?;
            let members = state
                .db
                .members_page(&n.code.parent().unwrap_or(n.code.clone()), 0, 500)
                .await?;
            let member_opts = |selected: Option<i64>| -> Vec<Opt> {
                std::iter::once(Opt {
                    value: String::new(),
                    label: ctx.t("org-no-head"),
                    selected: selected.is_none(),
                })
                .chain(members.iter().map(|m| Opt {
                    value: m.id.to_string(),
                    label: format!("{} · {} ({})", m.name, m.title, m.id),
                    selected: selected == Some(m.id),
                }))
                .collect()
            };
            p.tables.push(TableView {
                id: "groups".into(),
                caption: ctx.t("org-tab-groups"),
                count: String::new(),
                headers: vec![
                    ctx.t("col-code"),
                    ctx.t("col-name"),
                    ctx.t("org-col-head"),
                    ctx.t("count-households"),
                ],
                rows: groups
                    .iter()
                    .map(|g| {
                        vec![
                            code_cell(g.code.clone()),
                            cell(g.name.clone()),
                            cell(g.head_name.clone().unwrap_or_else(|| ctx.t("org-no-head"))),
                            num(g.households),
                        ]
                    })
                    .collect(),
                empty: ctx.t("org-none"),
                more: None,
            });
            for g in &groups {
                p.forms.push(FormView {
                    heading: t_args(ctx, "org-set-head-of", &[("group", g.name.clone())]),
                    note: String::new(),
                    action: format!("/admin/groups/{}/head", g.code),
                    submit: ctx.t("org-save"),
                    fields: vec![
                        FieldView::new("head", ctx.t("org-col-head"), "select", String::new())
                            .optional()
                            .options(member_opts(g.head)),
                    ],
                    secondary: true,
                    upload: false,
                });
            }
            p.forms.insert(
                0,
                FormView {
                    heading: ctx.t("org-new-group"),
                    note: String::new(),
                    action: format!("/admin/groups/{}/new", n.code),
                    submit: ctx.t("org-create"),
                    fields: vec![
                        FieldView::new(
                            "name",
                            ctx.t("col-name"),
                            "text",
                            format!("{}第{}联防组", n.name, groups.len() + 1),
                        ),
                        FieldView::new("head", ctx.t("org-col-head"), "select", String::new())
                            .optional()
                            .options(member_opts(None)),
                    ],
                    secondary: false,
                    upload: false,
                },
            );
        }
        "units" => {
            let units = crate::actions::people::units_at(state, &at).await?;
            p.tables.push(TableView {
                id: "units".into(),
                caption: ctx.t("org-tab-units"),
                count: String::new(),
                headers: vec![ctx.t("col-code"), ctx.t("col-name"), ctx.t("col-kind")],
                rows: units
                    .iter()
                    .map(|u| {
                        vec![
                            code_cell(u.code.clone()),
                            cell(u.name.clone()),
                            cell(ctx.t(&format!("org-unit-{}", u.kind))),
                        ]
                    })
                    .collect(),
                empty: ctx.t("org-none"),
                more: None,
            });
            p.forms.push(FormView {
                heading: ctx.t("org-new-department"),
                note: ctx.t("org-new-department-note"),
                action: "/admin/units/new".into(),
                submit: ctx.t("org-create"),
                fields: vec![
                    FieldView::new("territory", String::new(), "hidden", n.code.to_string()),
                    FieldView::new("slug", ctx.t("org-col-slug"), "text", String::new())
                        .hint(ctx.t("org-slug-hint")),
                    FieldView::new("name", ctx.t("col-name"), "text", String::new()),
                ],
                secondary: false,
                upload: false,
            });
        }
        "history" => {
            let before = after_id(q);
            let rows = org::history_within(state, caller, &n.code, before, LIST).await?;
            p.next_href = next(rows.last().map(|c| c.id), rows.len());
            p.tables.push(history_table(ctx, &rows));
        }
        "transfer" => transfer_section(ctx, &n, &mut p),
        _ => {}
    }
    let title = p.title.clone();
    Ok(render(ctx, StatusCode::OK, &title, p))
}

fn pairing_table(
    ctx: &PageCtx,
    id: &str,
    caption: String,
    rows: &[org::PairingView],
    today: chrono::NaiveDate,
) -> TableView {
    TableView {
        id: id.into(),
        caption,
        count: String::new(),
        headers: vec![
            ctx.t("org-col-id"),
            ctx.t("org-col-kind"),
            ctx.t("org-col-subject"),
            ctx.t("org-col-target"),
            ctx.t("org-col-start"),
            ctx.t("org-col-end"),
            ctx.t("org-col-state"),
        ],
        rows: rows
            .iter()
            .map(|r| {
                let subject = r
                    .member_name
                    .clone()
                    .or(r.unit_name.clone())
                    .unwrap_or_default();
                let in_force = domain::org::in_force(r.start_date, r.end_date, today);
                vec![
                    link(r.id.to_string(), format!("/admin/pairings/{}", r.id)),
                    cell(ctx.t(&format!("org-kind-{}", r.kind))),
                    cell(subject),
                    cell(format!("{} ({})", r.target_name, r.target)),
                    cell(r.start_date.to_string()),
                    cell(r.end_date.map(|d| d.to_string()).unwrap_or_default()),
                    cell(ctx.t(if in_force {
                        "org-in-force"
                    } else {
                        "org-not-in-force"
                    })),
                ]
            })
            .collect(),
        empty: ctx.t("org-none"),
        more: None,
    }
}

fn history_table(ctx: &PageCtx, rows: &[org::ChangeView]) -> TableView {
    TableView {
        id: "history".into(),
        caption: ctx.t("org-history"),
        count: String::new(),
        headers: vec![
            ctx.t("org-col-time"),
            ctx.t("org-col-by"),
            ctx.t("org-col-entity"),
            ctx.t("org-col-action"),
            ctx.t("org-col-change"),
        ],
        rows: rows
            .iter()
            .map(|c| {
                let time =
                    c.at.with_timezone(&domain::clock::china_offset())
                        .format("%Y-%m-%d %H:%M")
                        .to_string();
                let by = c.by_name.clone().unwrap_or_else(|| ctx.t("org-by-import"));
                let href = match c.entity.as_str() {
                    "household" => Some(format!("/admin/households/{}", c.entity_id)),
                    "pairing" => Some(format!("/admin/pairings/{}", c.entity_id)),
                    "member" => Some(format!("/admin/members/{}", c.entity_id)),
                    "monastery" | "enterprise" => {
                        Some(format!("/admin/places/{}/{}", c.entity, c.entity_id))
                    }
                    _ => None,
                };
                let what = format!(
                    "{} {}",
                    ctx.t(&format!("org-entity-{}", c.entity)),
                    c.entity_id
                );
                vec![
                    cell(time),
                    cell(format!("{by} · {}", ctx.t(&format!("org-via-{}", c.via)))),
                    match href {
                        Some(h) => link(what, h),
                        None => cell(what),
                    },
                    cell(ctx.t(&format!("org-action-{}", c.action))),
                    cell(change_summary(c)),
                ]
            })
            .collect(),
        empty: ctx.t("org-none"),
        more: None,
    }
}

/// `field: before → after` for each field that changed.
fn change_summary(c: &org::ChangeView) -> String {
    let empty = serde_json::Map::new();
    let before = c
        .before
        .as_ref()
        .and_then(|v| v.as_object())
        .unwrap_or(&empty);
    let after = c
        .after
        .as_ref()
        .and_then(|v| v.as_object())
        .unwrap_or(&empty);
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "—".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {} → {}", show(before.get(k)), show(after.get(k))))
        .collect::<Vec<_>>()
        .join("; ")
}

fn transfer_section(ctx: &PageCtx, n: &NodeCtx, p: &mut AdminView) {
    let kinds: Vec<Opt> = Kind::ALL
        .iter()
        .map(|k| Opt {
            value: k.as_str().into(),
            label: ctx.t(&format!("org-kind-of-{}", k.as_str())),
            selected: *k == Kind::Households,
        })
        .collect();
    p.forms.push(FormView {
        heading: ctx.t("org-import"),
        note: ctx.t("org-import-note"),
        action: format!("/admin/t/{}/import", n.code),
        submit: ctx.t("org-import-submit"),
        fields: vec![
            FieldView::new("kind", ctx.t("org-import-kind"), "select", String::new())
                .options(kinds),
            {
                let mut f = FieldView::new(
                    "file",
                    ctx.t("org-import-file"),
                    "file",
                    ".csv,.xlsx".into(),
                );
                f.multiple = true;
                f
            },
            {
                let mut f = FieldView::new(
                    "partial",
                    ctx.t("org-import-partial"),
                    "checkbox",
                    String::new(),
                );
                f.required = false;
                f
            },
            {
                let mut f = FieldView::new(
                    "dry_run",
                    ctx.t("org-import-dry-run"),
                    "checkbox",
                    String::new(),
                );
                f.required = false;
                f
            },
            FieldView::new(
                "mapping",
                ctx.t("org-import-mapping"),
                "textarea",
                String::new(),
            )
            .optional()
            .hint(ctx.t("org-import-mapping-hint")),
        ],
        secondary: false,
        upload: true,
    });
    for k in Kind::ALL {
        for f in [Format::Xlsx, Format::Csv] {
            p.links.push((
                format!(
                    "/admin/t/{}/export/{}?format={}",
                    n.code,
                    k.as_str(),
                    f.extension()
                ),
                t_args(
                    ctx,
                    "org-export-kind",
                    &[
                        ("kind", ctx.t(&format!("org-kind-of-{}", k.as_str()))),
                        ("format", f.extension().to_uppercase()),
                    ],
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Import and export

#[derive(Deserialize)]
struct FormatParam {
    format: Option<String>,
}

async fn export_download(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((code, kind)): Path<(String, String)>,
    Query(q): Query<FormatParam>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let format = match q.format.as_deref() {
            None | Some("") => Format::Xlsx,
            Some(f) => {
                Format::parse(f).ok_or_else(|| AppError::unprocessable("format", "xlsx or csv"))?
            }
        };
        let (tmp, stem) = if kind == "gaps" {
            api_org::gaps_to_temp(&state, caller, &code, format).await?
        } else {
            let k =
                Kind::parse(&kind).ok_or_else(|| AppError::NotFound(format!("export {kind}")))?;
            api_org::export_to_temp(&state, caller, k, &code, format).await?
        };
        api_org::download(tmp, format, &stem).await
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn import_upload(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(code): Path<String>,
    mp: Multipart,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let n = node_ctx(&state, caller, &code).await?;
        let (uploads, fields) = api_org::read_multipart(mp, None).await?;
        check_csrf(caller, fields.get("csrf").map(String::as_str))?;
        let kind = fields
            .get("kind")
            .and_then(|k| Kind::parse(k))
            .ok_or_else(|| AppError::unprocessable("kind", "choose what the file holds"))?;
        let opts = ImportOptions {
            partial: fields.get("partial").is_some_and(|v| !v.is_empty()),
            dry_run: fields.get("dry_run").is_some_and(|v| !v.is_empty()),
        };
        let mut p = view(
            &ctx,
            caller,
            format!("{} · {}", n.name, ctx.t("org-tab-transfer")),
        );
        p.crumbs = n.crumbs.clone();
        p.tabs = tabs(&ctx, &n, "transfer");
        let outcome = api_org::run_import(
            &state,
            caller,
            kind,
            &uploads,
            fields.get("mapping").map(String::as_str),
            opts,
            "page",
        )
        .await;
        let status = match outcome {
            Ok(reports) => {
                let all = reports.iter().all(|r| r.committed) && !opts.dry_run;
                if all {
                    p.notice = Some(ctx.t("org-import-done"));
                } else {
                    p.error = Some((
                        ctx.t(if opts.dry_run {
                            "org-import-checked"
                        } else {
                            "org-import-refused"
                        }),
                        String::new(),
                    ));
                }
                p.tables.push(TableView {
                    id: "import-files".into(),
                    caption: ctx.t("org-import-report"),
                    count: String::new(),
                    headers: vec![
                        ctx.t("org-col-file"),
                        ctx.t("org-col-rows"),
                        ctx.t("org-col-imported"),
                        ctx.t("org-col-created"),
                        ctx.t("org-col-refused"),
                        ctx.t("org-col-written"),
                    ],
                    rows: reports
                        .iter()
                        .map(|r| {
                            vec![
                                cell(r.file.clone()),
                                num(r.rows as i64),
                                num(r.imported as i64),
                                num(r.created as i64),
                                num(r.rejected_count as i64),
                                cell(ctx.t(if r.committed { "yes" } else { "org-no" })),
                            ]
                        })
                        .collect(),
                    empty: ctx.t("org-none"),
                    more: None,
                });
                let refused: Vec<&crate::transfer::Rejection> = reports
                    .iter()
                    .flat_map(|r| &r.rejected)
                    .take(1000)
                    .collect();
                p.tables.push(TableView {
                    id: "import-refused".into(),
                    caption: ctx.t("org-import-refused-rows"),
                    count: String::new(),
                    headers: vec![
                        ctx.t("org-col-file"),
                        ctx.t("org-col-line"),
                        ctx.t("org-col-field"),
                        ctx.t("org-col-reason"),
                        ctx.t("org-col-message"),
                    ],
                    rows: refused
                        .iter()
                        .map(|r| {
                            vec![
                                cell(r.file.clone()),
                                num(r.line as i64),
                                code_cell(r.field.clone().unwrap_or_default()),
                                cell(ctx.t(&format!("org-reason-{}", r.reason))),
                                cell(r.message.clone()),
                            ]
                        })
                        .collect(),
                    empty: ctx.t("org-import-no-refusals"),
                    more: None,
                });
                if all {
                    StatusCode::OK
                } else {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            }
            Err(e) => match refused_form(&ctx, &e) {
                Some((status, err)) => {
                    p.error = Some(err);
                    status
                }
                None => return Err(e),
            },
        };
        transfer_section(&ctx, &n, &mut p);
        let title = p.title.clone();
        Ok::<_, AppError>(render(&ctx, status, &title, p))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

// ---------------------------------------------------------------------------------------------
// Households

#[derive(Deserialize, Default)]
struct NewParams {
    grid: Option<String>,
    territory: Option<String>,
    kind: Option<String>,
    target: Option<String>,
    done: Option<String>,
}

fn new_or_id(raw: &str) -> AppResult<Option<i64>> {
    if raw == "new" {
        return Ok(None);
    }
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .map(Some)
        .ok_or_else(|| AppError::NotFound(format!("{raw:?}")))
}

async fn household_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Query(q): Query<NewParams>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let id = new_or_id(&raw)?;
        let values = match id {
            Some(id) => {
                let h = org::household(&state, caller, id, "page").await?;
                household_values(&h)
            }
            None => {
                let mut v = Values::new();
                v.insert("grid".into(), q.grid.clone().unwrap_or_default());
                v
            }
        };
        household_form(
            &state,
            &ctx,
            caller,
            id,
            values,
            None,
            StatusCode::OK,
            q.done.as_deref(),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

fn household_values(h: &org::HouseholdDetail) -> Values {
    let mut v = Values::new();
    v.insert("grid".into(), h.grid.clone());
    v.insert("group".into(), h.group.clone().unwrap_or_default());
    v.insert("head_name".into(), h.head_name.clone());
    v.insert("address".into(), h.address.clone());
    v.insert("phone".into(), h.phone.clone());
    v.insert("id_number".into(), h.id_number.clone());
    v.insert("resident_count".into(), h.resident_count.to_string());
    if h.care {
        v.insert("care".into(), "on".into());
    }
    v.insert(
        "lng".into(),
        h.lng.map(|x| x.to_string()).unwrap_or_default(),
    );
    v.insert(
        "lat".into(),
        h.lat.map(|x| x.to_string()).unwrap_or_default(),
    );
    v
}

#[expect(
    clippy::too_many_arguments,
    reason = "a form page needs its record, the values to show, the outcome and the notice"
)]
async fn household_form(
    state: &AppState,
    ctx: &PageCtx,
    caller: &Caller,
    id: Option<i64>,
    v: Values,
    error: Option<(String, String)>,
    status: StatusCode,
    done: Option<&str>,
) -> AppResult<Response> {
    let grid_raw = val(&v, "grid");
    let grid = TerritoryCode::parse(&grid_raw)
        .ok()
        .filter(|g| g.level() == Level::Grid);
    let title = match id {
        Some(id) => t_args(ctx, "org-household-title", &[("id", id.to_string())]),
        None => ctx.t("org-new-household"),
    };
    let mut p = view(ctx, caller, title.clone());
    if let Some(g) = &grid
        && caller.scoped(g).is_ok()
    {
        p.crumbs = node_ctx(state, caller, g.as_str()).await?.crumbs;
        p.crumbs.push((
            format!("/admin/t/{g}/households"),
            ctx.t("org-tab-households"),
        ));
    }
    p.error = error;
    p.notice = done_notice(ctx, done);
    let masked = !caller.role().sees_personal_data();
    if masked && id.is_some() {
        p.lead = ctx.t("org-masked-edit");
    }
    let groups = match &grid {
        Some(g) if caller.scoped(g).is_ok() => state.db.groups_of(g).await?,
        _ => vec![],
    };
    let current_group = val(&v, "group");
    let group_opts: Vec<Opt> = std::iter::once(Opt {
        value: String::new(),
        label: ctx.t("org-no-group"),
        selected: current_group.is_empty(),
    })
    .chain(groups.iter().map(|g| Opt {
        value: g.code.clone(),
        label: format!(
            "{} ({}) · {}",
            g.name,
            g.code,
            g.head_name.clone().unwrap_or_else(|| ctx.t("org-no-head"))
        ),
        selected: g.code == current_group,
    }))
    .collect();
    let mut care = FieldView::new("care", ctx.t("org-field-care"), "checkbox", String::new());
    care.checked = v.contains_key("care");
    care.required = false;
    let mut fields = vec![
        FieldView::new("grid", ctx.t("org-col-grid"), "text", grid_raw.clone())
            .hint(ctx.t("org-grid-hint")),
        FieldView::new("group", ctx.t("org-col-group"), "select", String::new())
            .optional()
            .options(group_opts),
        FieldView::new("head_name", ctx.t("col-head"), "text", val(&v, "head_name")),
        FieldView::new("address", ctx.t("col-address"), "text", val(&v, "address")),
        FieldView::new("phone", ctx.t("col-phone"), "tel", val(&v, "phone")),
        FieldView::new(
            "id_number",
            ctx.t("col-id-number"),
            "text",
            val(&v, "id_number"),
        ),
        care,
        FieldView::new("lng", ctx.t("org-field-lng"), "text", val(&v, "lng")).optional(),
        FieldView::new("lat", ctx.t("org-field-lat"), "text", val(&v, "lat")).optional(),
    ];
    if id.is_none() {
        fields.insert(
            6,
            FieldView::new(
                "resident_count",
                ctx.t("col-residents"),
                "number",
                val(&v, "resident_count"),
            )
            .optional(),
        );
    }
    p.forms.push(FormView {
        heading: ctx.t("org-household-form"),
        note: String::new(),
        action: format!(
            "/admin/households/{}",
            id.map_or("new".to_owned(), |i| i.to_string())
        ),
        submit: ctx.t("org-save"),
        fields,
        secondary: false,
        upload: false,
    });
    if let Some(id) = id {
        let pairings = org::pairings_of(state, caller, "household", &id.to_string()).await?;
        p.tables.push(pairing_table(
            ctx,
            "pairings",
            ctx.t("org-household-pairings"),
            &pairings,
            org::today(state),
        ));
        p.links.push((
            format!("/admin/pairings/new?kind=care&target={id}"),
            ctx.t("org-add-care"),
        ));
        let history = org::history_of(state, caller, "household", &id.to_string()).await?;
        p.tables.push(history_table(ctx, &history));
    }
    Ok(render(ctx, status, &title, p))
}

async fn household_save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let id = new_or_id(&raw)?;
        let saved = async {
            let input: HouseholdInput = s.input()?;
            org::save_household(&state, caller, id, &input, "page").await
        }
        .await;
        match saved {
            Ok(h) => {
                Ok(Redirect::to(&format!("/admin/households/{}?done=saved", h.id)).into_response())
            }
            Err(e) => match refused_form(&ctx, &e) {
                Some((status, err)) => {
                    household_form(
                        &state,
                        &ctx,
                        caller,
                        id,
                        values_of(&s),
                        Some(err),
                        status,
                        None,
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

// ---------------------------------------------------------------------------------------------
// Pairings

async fn pairing_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Query(q): Query<NewParams>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let id = new_or_id(&raw)?;
        let mut v = Values::new();
        match id {
            Some(id) => {
                let p = org::pairing(&state, caller, id).await?;
                v.insert("kind".into(), p.kind.clone());
                v.insert(
                    "member".into(),
                    p.member.map(|m| m.to_string()).unwrap_or_default(),
                );
                v.insert("unit".into(), p.unit.clone().unwrap_or_default());
                v.insert("target".into(), p.target.clone());
                v.insert("start_date".into(), p.start_date.to_string());
                v.insert(
                    "end_date".into(),
                    p.end_date.map(|d| d.to_string()).unwrap_or_default(),
                );
            }
            None => {
                v.insert(
                    "kind".into(),
                    q.kind.clone().unwrap_or_else(|| "grid_households".into()),
                );
                v.insert("target".into(), q.target.clone().unwrap_or_default());
                v.insert("start_date".into(), org::today(&state).to_string());
            }
        }
        pairing_form(
            &state,
            &ctx,
            caller,
            id,
            v,
            None,
            StatusCode::OK,
            q.done.as_deref(),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

/// Where a pairing's target lies, if it exists and the caller sees it.
async fn target_place(
    state: &AppState,
    caller: &Caller,
    kind: PairingKind,
    target: &str,
) -> Option<(TerritoryCode, String)> {
    use domain::org::TargetKind;
    let shape = domain::org::pairing_shape(kind);
    let (place, name) = match shape.target {
        TargetKind::Territory => {
            let c = TerritoryCode::parse(target).ok()?;
            let n = state.db.territory(&c).await.ok()??;
            (c, n.name)
        }
        TargetKind::Household => {
            let h = state.db.household(target.parse().ok()?).await.ok()??;
            (TerritoryCode::parse(&h.grid).ok()?, h.head_name)
        }
        TargetKind::Monastery | TargetKind::Enterprise => {
            let k = if shape.target == TargetKind::Monastery {
                store::org::PlaceKind::Monastery
            } else {
                store::org::PlaceKind::Enterprise
            };
            let p = state.db.place(k, target.parse().ok()?).await.ok()??;
            (TerritoryCode::parse(&p.territory).ok()?, p.name)
        }
    };
    caller.scoped(&place).ok()?;
    Some((place, name))
}

#[expect(
    clippy::too_many_arguments,
    reason = "a form page needs its record, the values to show, the outcome and the notice"
)]
async fn pairing_form(
    state: &AppState,
    ctx: &PageCtx,
    caller: &Caller,
    id: Option<i64>,
    v: Values,
    error: Option<(String, String)>,
    status: StatusCode,
    done: Option<&str>,
) -> AppResult<Response> {
    let kind =
        domain::org::parse_pairing_kind(&val(&v, "kind")).unwrap_or(PairingKind::GridHouseholds);
    let shape = domain::org::pairing_shape(kind);
    let target = val(&v, "target");
    let place = target_place(state, caller, kind, &target).await;
    let title = match id {
        Some(id) => t_args(ctx, "org-pairing-title", &[("id", id.to_string())]),
        None => ctx.t("org-new-pairing"),
    };
    let mut p = view(ctx, caller, title.clone());
    p.error = error;
    p.notice = done_notice(ctx, done);
    if let Some((c, name)) = &place {
        p.crumbs = node_ctx(state, caller, c.as_str()).await?.crumbs;
        p.lead = t_args(
            ctx,
            "org-pairing-target",
            &[("name", name.clone()), ("code", target.clone())],
        );
    }
    let kinds: Vec<Opt> = PairingKind::ALL
        .iter()
        .map(|k| Opt {
            value: k.as_str().into(),
            label: ctx.t(&format!("org-kind-{}", k.as_str())),
            selected: *k == kind,
        })
        .collect();
    let mut fields =
        vec![FieldView::new("kind", ctx.t("org-col-kind"), "select", String::new()).options(kinds)];
    // Who may be paired: the members or the departments around the target.
    let around = place.as_ref().map(|(c, _)| {
        let township = c
            .ancestors_and_self()
            .into_iter()
            .find(|a| a.level() == Level::Township);
        township.unwrap_or_else(|| c.clone())
    });
    if shape.member_subject {
        let current = val(&v, "member");
        let mut opts = vec![Opt {
            value: String::new(),
            label: ctx.t("choose"),
            selected: current.is_empty(),
        }];
        if let Some(a) = &around {
            for m in state.db.members_page(a, 0, 500).await? {
                let forces: Vec<String> = m
                    .forces
                    .iter()
                    .map(|f| ctx.t(&format!("org-force-{f}")))
                    .collect();
                opts.push(Opt {
                    selected: current == m.id.to_string(),
                    value: m.id.to_string(),
                    label: format!(
                        "{} · {} · {} ({})",
                        m.name,
                        m.title,
                        forces.join("、"),
                        m.id
                    ),
                });
            }
        }
        if !current.is_empty() && !opts.iter().any(|o| o.value == current) {
            opts.push(Opt {
                value: current.clone(),
                label: current.clone(),
                selected: true,
            });
        }
        fields.push(
            FieldView::new("member", ctx.t("org-col-member"), "select", String::new())
                .options(opts),
        );
    } else {
        let current = val(&v, "unit");
        let mut opts = vec![Opt {
            value: String::new(),
            label: ctx.t("choose"),
            selected: current.is_empty(),
        }];
        if let Some(a) = &around {
            for node in a.ancestors_and_self().into_iter().rev() {
                if let Ok(scoped) = caller.scoped(&node) {
                    for u in crate::actions::people::units_at(state, &scoped).await? {
                        if u.kind == "department" {
                            opts.push(Opt {
                                selected: current == u.code,
                                label: format!("{} ({})", u.name, u.code),
                                value: u.code,
                            });
                        }
                    }
                }
            }
        }
        if !current.is_empty() && !opts.iter().any(|o| o.value == current) {
            opts.push(Opt {
                value: current.clone(),
                label: current.clone(),
                selected: true,
            });
        }
        fields.push(
            FieldView::new("unit", ctx.t("org-col-unit"), "select", String::new()).options(opts),
        );
    }
    fields.push(
        FieldView::new("target", ctx.t("org-col-target"), "text", target.clone())
            .hint(ctx.t(&format!("org-target-hint-{}", shape.target.as_str()))),
    );
    fields.push(FieldView::new(
        "start_date",
        ctx.t("org-col-start"),
        "date",
        val(&v, "start_date"),
    ));
    fields.push(
        FieldView::new(
            "end_date",
            ctx.t("org-col-end"),
            "date",
            val(&v, "end_date"),
        )
        .optional(),
    );
    p.forms.push(FormView {
        heading: ctx.t("org-pairing-form"),
        note: ctx.t(&format!("org-kind-note-{}", kind.as_str())),
        action: format!(
            "/admin/pairings/{}",
            id.map_or("new".to_owned(), |i| i.to_string())
        ),
        submit: ctx.t("org-save"),
        fields,
        secondary: false,
        upload: false,
    });
    if let Some(id) = id {
        p.forms.push(FormView {
            heading: ctx.t("org-end-pairing"),
            note: ctx.t("org-end-pairing-note"),
            action: format!("/admin/pairings/{id}/end"),
            submit: ctx.t("org-end-pairing"),
            fields: vec![FieldView::new(
                "end_date",
                ctx.t("org-col-end"),
                "date",
                org::today(state).to_string(),
            )],
            secondary: true,
            upload: false,
        });
        p.forms.push(FormView {
            heading: ctx.t("org-delete-pairing"),
            note: ctx.t("org-delete-pairing-note"),
            action: format!("/admin/pairings/{id}/delete"),
            submit: ctx.t("org-delete-pairing"),
            fields: vec![],
            secondary: true,
            upload: false,
        });
        let history = org::history_of(state, caller, "pairing", &id.to_string()).await?;
        p.tables.push(history_table(ctx, &history));
    }
    Ok(render(ctx, status, &title, p))
}

async fn pairing_save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let id = new_or_id(&raw)?;
        let saved = async {
            let input: PairingInput = s.input()?;
            org::save_pairing(&state, caller, id, &input, "page").await
        }
        .await;
        match saved {
            Ok(p) => {
                // Back to where the gap was: the target's node overview.
                let to = format!("/admin/pairings/{}?done=saved", p.id);
                Ok(Redirect::to(&to).into_response())
            }
            Err(e) => match refused_form(&ctx, &e) {
                Some((status, err)) => {
                    pairing_form(
                        &state,
                        &ctx,
                        caller,
                        id,
                        values_of(&s),
                        Some(err),
                        status,
                        None,
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn pairing_end(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let id = new_or_id(&raw)?.ok_or_else(|| AppError::NotFound("pairing".into()))?;
        let day = domain::org::parse_date("end_date", s.get("end_date").unwrap_or(""))
            .map_err(|e| AppError::unprocessable(e.field, e.message))?;
        org::end_pairing(&state, caller, id, day, "page").await?;
        Ok::<_, AppError>(Redirect::to(&format!("/admin/pairings/{id}?done=ended")).into_response())
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn pairing_delete(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let id = new_or_id(&raw)?.ok_or_else(|| AppError::NotFound("pairing".into()))?;
        let p = org::pairing(&state, caller, id).await?;
        org::delete_pairing(&state, caller, id, "page").await?;
        Ok::<_, AppError>(
            Redirect::to(&format!(
                "/admin/t/{}/pairings?done=deleted",
                p.target_territory
            ))
            .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

// ---------------------------------------------------------------------------------------------
// Members

async fn member_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Query(q): Query<NewParams>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let id = new_or_id(&raw)?;
        let mut v = Values::new();
        match id {
            Some(id) => {
                let m = org::member(&state, caller, id).await?;
                v.insert("name".into(), m.name.clone());
                v.insert("gender".into(), m.gender.clone());
                v.insert("phone".into(), m.phone.clone());
                v.insert("forces".into(), m.forces.join(","));
                v.insert("unit".into(), m.unit.clone());
                v.insert("territory".into(), m.territory.clone());
                v.insert("title".into(), m.title.clone());
            }
            None => {
                v.insert("territory".into(), q.territory.clone().unwrap_or_default());
            }
        }
        member_form(
            &state,
            &ctx,
            caller,
            id,
            v,
            None,
            StatusCode::OK,
            q.done.as_deref(),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

#[expect(
    clippy::too_many_arguments,
    reason = "a form page needs its record, the values to show, the outcome and the notice"
)]
async fn member_form(
    state: &AppState,
    ctx: &PageCtx,
    caller: &Caller,
    id: Option<i64>,
    v: Values,
    error: Option<(String, String)>,
    status: StatusCode,
    done: Option<&str>,
) -> AppResult<Response> {
    let title = match id {
        Some(id) => t_args(ctx, "org-member-title", &[("id", id.to_string())]),
        None => ctx.t("org-new-member"),
    };
    let mut p = view(ctx, caller, title.clone());
    p.error = error;
    p.notice = done_notice(ctx, done);
    if let Ok(t) = TerritoryCode::parse(&val(&v, "territory"))
        && caller.scoped(&t).is_ok()
        && let Ok(n) = node_ctx(state, caller, t.as_str()).await
    {
        p.crumbs = n.crumbs;
    }
    let gender = val(&v, "gender");
    let genders = ["female", "male"]
        .iter()
        .map(|g| Opt {
            value: (*g).into(),
            label: ctx.t(&format!("org-gender-{g}")),
            selected: gender == *g
                || domain::org::parse_gender(&gender).ok().map(|x| {
                    if x == domain::people::Gender::Female {
                        "female"
                    } else {
                        "male"
                    }
                }) == Some(*g),
        })
        .collect();
    let chosen = val(&v, "forces");
    let chosen: Vec<&str> = chosen.split(',').collect();
    let forces = Force::ALL
        .iter()
        .map(|f| Opt {
            value: f.as_str().into(),
            label: f.name_zh().into(),
            selected: chosen.contains(&f.as_str()),
        })
        .collect();
    let mut force_field =
        FieldView::new("forces", ctx.t("col-forces"), "checkboxes", String::new()).options(forces);
    force_field.required = false;
    p.forms.push(FormView {
        heading: ctx.t("org-member-form"),
        note: String::new(),
        action: format!(
            "/admin/members/{}",
            id.map_or("new".to_owned(), |i| i.to_string())
        ),
        submit: ctx.t("org-save"),
        fields: vec![
            FieldView::new("name", ctx.t("col-name"), "text", val(&v, "name")),
            FieldView::new("gender", ctx.t("org-col-gender"), "select", String::new())
                .options(genders),
            FieldView::new("phone", ctx.t("col-phone"), "tel", val(&v, "phone")),
            force_field,
            FieldView::new("unit", ctx.t("org-col-unit-code"), "text", val(&v, "unit"))
                .hint(ctx.t("org-unit-hint")),
            FieldView::new(
                "territory",
                ctx.t("org-col-territory"),
                "text",
                val(&v, "territory"),
            ),
            FieldView::new("title", ctx.t("col-title"), "text", val(&v, "title")),
        ],
        secondary: false,
        upload: false,
    });
    if let Some(id) = id {
        let history = org::history_of(state, caller, "member", &id.to_string()).await?;
        p.tables.push(history_table(ctx, &history));
    }
    Ok(render(ctx, status, &title, p))
}

async fn member_save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(raw): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let id = new_or_id(&raw)?;
        let saved = async {
            let mut input: MemberInput = s.input()?;
            input.forces = s.all("forces").join(",");
            org::save_member(&state, caller, id, &input, "page").await
        }
        .await;
        match saved {
            Ok(m) => {
                Ok(Redirect::to(&format!("/admin/members/{}?done=saved", m.id)).into_response())
            }
            Err(e) => match refused_form(&ctx, &e) {
                Some((status, err)) => {
                    member_form(
                        &state,
                        &ctx,
                        caller,
                        id,
                        values_of(&s),
                        Some(err),
                        status,
                        None,
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

// ---------------------------------------------------------------------------------------------
// Monasteries and enterprises

async fn place_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((kind, raw)): Path<(String, String)>,
    Query(q): Query<NewParams>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let kind = org::place_kind(&kind)?;
        let id = new_or_id(&raw)?;
        let mut v = Values::new();
        match id {
            Some(id) => {
                let pl = org::place(&state, caller, kind, id).await?;
                v.insert("name".into(), pl.name.clone());
                v.insert("territory".into(), pl.territory.clone());
                v.insert("people".into(), pl.people.to_string());
            }
            None => {
                v.insert("territory".into(), q.territory.clone().unwrap_or_default());
            }
        }
        place_form(
            &state,
            &ctx,
            caller,
            kind,
            id,
            v,
            None,
            StatusCode::OK,
            q.done.as_deref(),
        )
        .await
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

#[expect(
    clippy::too_many_arguments,
    reason = "a form page needs its record, the values to show, the outcome and the notice"
)]
async fn place_form(
    state: &AppState,
    ctx: &PageCtx,
    caller: &Caller,
    kind: store::org::PlaceKind,
    id: Option<i64>,
    v: Values,
    error: Option<(String, String)>,
    status: StatusCode,
    done: Option<&str>,
) -> AppResult<Response> {
    let e = kind.entity();
    let title = match id {
        Some(id) => t_args(ctx, &format!("org-{e}-title"), &[("id", id.to_string())]),
        None => ctx.t(&format!("org-new-{e}")),
    };
    let mut p = view(ctx, caller, title.clone());
    p.error = error;
    p.notice = done_notice(ctx, done);
    if let Ok(t) = TerritoryCode::parse(&val(&v, "territory"))
        && caller.scoped(&t).is_ok()
        && let Ok(n) = node_ctx(state, caller, t.as_str()).await
    {
        p.crumbs = n.crumbs;
    }
    p.forms.push(FormView {
        heading: ctx.t(&format!("org-{e}-form")),
        note: String::new(),
        action: format!(
            "/admin/places/{e}/{}",
            id.map_or("new".to_owned(), |i| i.to_string())
        ),
        submit: ctx.t("org-save"),
        fields: vec![
            FieldView::new("name", ctx.t("col-name"), "text", val(&v, "name")),
            FieldView::new(
                "territory",
                ctx.t("org-col-territory"),
                "text",
                val(&v, "territory"),
            ),
            FieldView::new(
                "people",
                ctx.t(&format!("org-col-people-{e}")),
                "number",
                val(&v, "people"),
            )
            .optional(),
        ],
        secondary: false,
        upload: false,
    });
    if let Some(id) = id {
        let pairings = org::pairings_of(state, caller, e, &id.to_string()).await?;
        p.tables.push(pairing_table(
            ctx,
            "pairings",
            ctx.t("org-place-pairings"),
            &pairings,
            org::today(state),
        ));
        p.links.push((
            format!("/admin/pairings/new?kind={e}&target={id}"),
            ctx.t("org-add-pairing"),
        ));
        let history = org::history_of(state, caller, e, &id.to_string()).await?;
        p.tables.push(history_table(ctx, &history));
    }
    Ok(render(ctx, status, &title, p))
}

async fn place_save(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((kind, raw)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let kind = org::place_kind(&kind)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let id = new_or_id(&raw)?;
        let saved = async {
            let input: PlaceInput = s.input()?;
            org::save_place(&state, caller, kind, id, &input, "page").await
        }
        .await;
        match saved {
            Ok(pl) => Ok(Redirect::to(&format!(
                "/admin/places/{}/{}?done=saved",
                kind.entity(),
                pl.id
            ))
            .into_response()),
            Err(e) => match refused_form(&ctx, &e) {
                Some((status, err)) => {
                    place_form(
                        &state,
                        &ctx,
                        caller,
                        kind,
                        id,
                        values_of(&s),
                        Some(err),
                        status,
                        None,
                    )
                    .await
                }
                None => Err(e),
            },
        }
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

// ---------------------------------------------------------------------------------------------
// Groups and units

async fn group_create(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(grid): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let grid = parse_code("grid", &grid)?;
        let input: GroupInput = s.input()?;
        org::create_group(&state, caller, &grid, &input, "page").await?;
        Ok::<_, AppError>(
            Redirect::to(&format!("/admin/t/{grid}/groups?done=saved")).into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn group_head(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(group): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let group = parse_code("group", &group)?;
        let input: GroupInput = s.input()?;
        org::set_group_head(&state, caller, &group, input.head, "page").await?;
        let grid = group.parent().unwrap_or(group.clone());
        Ok::<_, AppError>(
            Redirect::to(&format!("/admin/t/{grid}/groups?done=saved")).into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn unit_create(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = async {
        let caller = manager(&ctx)?;
        let s = Submitted(form);
        check_csrf(caller, s.get("csrf"))?;
        let input: UnitInput = s.input()?;
        let u = org::save_unit(&state, caller, None, &input, "page").await?;
        Ok::<_, AppError>(
            Redirect::to(&format!(
                "/admin/t/{}/units?done=saved",
                urlencode(u.territory.as_str())
            ))
            .into_response(),
        )
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}
