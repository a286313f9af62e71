//! `/center`: the war room page (作战室) of the signed-in leader's or operator's node, and its
//! script. The page works without JavaScript (map, counts, lists, drill-down are links); the
//! script only adds the live feed.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use store::cases::CaseRecord;

use crate::actions::center::{self, WarRoom};
use crate::actions::figures;
use crate::actions::people::HouseholdView;
use crate::actions::territory::level_key;
use crate::charts::{self, Bar};
use crate::error::AppError;
use crate::map::{self, MapShape};
use crate::routes::pages::{Chrome, PageCtx};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/center", get(center_page))
        .route("/center/daily", get(daily_page))
        .route("/center/assessment", get(assessment_page))
        .route("/static/center.js", get(script))
}

#[derive(Deserialize)]
struct CenterQuery {
    territory: Option<String>,
    /// A chosen period for the fourth column of figures (`YYYY-MM-DD`, inclusive).
    from: Option<String>,
    to: Option<String>,
}

/// One figure across the periods, each a link to the list behind it where one exists.
pub struct KpiRow {
    pub label: String,
    /// Per period: the figure and the list behind it.
    pub values: Vec<(String, Option<String>)>,
}

/// One bar of the trend chart.
pub struct TrendBar {
    pub day: String,
    /// The cases created that day.
    pub href: String,
    pub cases: i64,
    pub x: i64,
    pub h: i64,
}

/// A case in one of the lists.
pub struct CaseRow {
    pub id: i64,
    pub code: String,
    pub category: String,
    pub status: String,
    pub place: String,
    pub deadline: String,
    pub extra: String,
}

/// A child of the node with its load.
pub struct LoadRow {
    pub code: String,
    pub name: String,
    pub open: i64,
    pub overdue: i64,
    pub households: i64,
}

#[derive(Template)]
#[template(path = "center.html")]
struct CenterPage {
    chrome: Chrome,
    t: std::collections::HashMap<&'static str, String>,
    code: String,
    name: String,
    level: String,
    breadcrumb: Vec<(String, String)>,
    open: i64,
    overdue: i64,
    households: i64,
    members: i64,
    map_svg: Option<String>,
    children: Vec<LoadRow>,
    overdue_cases: Vec<CaseRow>,
    red_carded: Vec<CaseRow>,
    large_disputes: Vec<CaseRow>,
    household_rows: Vec<HouseholdView>,
    /// The periods' names and the figures of `GET /api/v1/stats` for each.
    periods: Vec<String>,
    kpis: Vec<KpiRow>,
    trend: Vec<TrendBar>,
    /// Cases by category over `chart_period` (SVG): top-level categories and leaves.
    chart_period: String,
    chart_top: Option<String>,
    chart_leaves: Option<String>,
    /// Category names by code, as JSON, for the live list.
    category_names: String,
}

impl CenterPage {
    fn lists(&self) -> [(&'static str, &Vec<CaseRow>); 3] {
        [
            ("center-overdue-list", &self.overdue_cases),
            ("center-red-list", &self.red_carded),
            ("center-dispute-list", &self.large_disputes),
        ]
    }

    fn l<'a>(&'a self, key: &'a str) -> &'a str {
        self.t.get(key).map(String::as_str).unwrap_or(key)
    }
}

const KEYS: &[&str] = &[
    "center-title",
    "center-open",
    "center-overdue",
    "center-live",
    "center-live-hint",
    "center-live-new",
    "center-live-card",
    "center-live-changed",
    "center-live-off",
    "center-children",
    "center-overdue-list",
    "center-red-list",
    "center-dispute-list",
    "center-none",
    "center-col-case",
    "center-col-category",
    "center-col-status",
    "center-col-place",
    "center-col-deadline",
    "center-col-people",
    "center-map-caption",
    "center-households",
    "count-households",
    "count-members",
    "col-name",
    "col-code",
    "center-figures",
    "center-trend",
    "center-from",
    "center-to",
    "center-show",
    "center-categories",
    "center-categories-top",
    "center-categories-leaves",
    "center-daily-link",
    "center-assessment-link",
];

async fn center_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<CenterQuery>,
) -> Response {
    match center_inner(&state, &ctx, q).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::clock::china_offset())
        .format("%m-%d %H:%M")
        .to_string()
}

async fn center_inner(
    state: &AppState,
    ctx: &PageCtx,
    q: CenterQuery,
) -> Result<Response, AppError> {
    let caller = ctx.require_caller()?;
    let code = match q.territory.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => caller.scoped(&crate::actions::territory::parse_code("territory", t)?)?,
        None => caller.home(),
    };
    let room: WarRoom = center::war_room(state, caller, &code).await?;
    let (periods, kpis, trend, (cf, ct)) = figures(state, ctx, caller, code.code(), &q).await?;
    let (chart_top, chart_leaves) = category_charts(state, ctx, code.code(), cf, ct).await?;
    let rules = state.rules.read().await;
    let category = |c: &str| {
        rules
            .taxonomy
            .get(c)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| c.to_owned())
    };
    let row = |c: &CaseRecord, extra: String| CaseRow {
        id: c.id,
        code: c.code.clone(),
        category: category(&c.category),
        status: ctx.t(&format!("status-{}", c.status)),
        place: c.territory.clone(),
        deadline: c.deadline.map(beijing).unwrap_or_default(),
        extra,
    };
    let overdue_cases = room
        .overdue_cases
        .iter()
        .map(|c| row(c, c.handling_unit.clone()))
        .collect();
    let red_carded = room
        .red_carded
        .iter()
        .map(|c| row(c, c.handling_unit.clone()))
        .collect();
    let large_disputes = room
        .large_disputes
        .iter()
        .map(|(c, n)| row(c, n.to_string()))
        .collect();
    let category_names = serde_json::to_string(
        &rules
            .taxonomy
            .leaves()
            .map(|c| (c.code.to_string(), c.name.clone()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
    .unwrap_or_else(|_| "{}".into());
    drop(rules);

    let max_open = room
        .children
        .iter()
        .map(|c| c.open)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (open_w, overdue_w) = (ctx.t("center-open"), ctx.t("center-overdue"));
    let shapes: Vec<MapShape> = room
        .children
        .iter()
        .filter_map(|c| {
            Some(MapShape {
                code: c.node.code.to_string(),
                label: c.node.name.clone(),
                geometry: c.node.geometry.clone()?,
                href: format!("/center?territory={}", c.node.code),
                shade: c.open as f64 / max_open,
                title: format!(
                    "{} ({}) · {open_w} {} · {overdue_w} {}",
                    c.node.name, c.node.code, c.open, c.overdue
                ),
            })
        })
        .collect();
    let caption = ctx.t("center-map-caption");
    let map_svg = map::render(&shapes, &caption)
        .or_else(|| {
            // A grid's groups have no outlines: draw the node itself.
            room.node.geometry.clone().and_then(|g| {
                map::render(
                    &[MapShape {
                        code: room.node.code.to_string(),
                        label: room.node.name.clone(),
                        geometry: g,
                        href: format!("/center?territory={}", room.node.code),
                        shade: if room.open > 0 { 1.0 } else { 0.0 },
                        title: format!(
                            "{} · {open_w} {} · {overdue_w} {}",
                            room.node.name, room.open, room.overdue
                        ),
                    }],
                    &caption,
                )
            })
        })
        .map(|m| m.svg);
    let t = KEYS.iter().map(|k| (*k, ctx.t(k))).collect();
    Ok(ctx.render(
        StatusCode::OK,
        CenterPage {
            chrome: ctx.chrome(format!("{} · {}", ctx.t("center-title"), room.node.name)),
            t,
            code: room.node.code.to_string(),
            name: room.node.name.clone(),
            level: ctx.t(level_key(room.node.level)),
            breadcrumb: room
                .ancestors
                .iter()
                .map(|a| (a.code.to_string(), a.name.clone()))
                .collect(),
            open: room.open,
            overdue: room.overdue,
            households: room.counts.households,
            members: room.counts.members,
            map_svg,
            children: room
                .children
                .iter()
                .map(|c| LoadRow {
                    code: c.node.code.to_string(),
                    name: c.node.name.clone(),
                    open: c.open,
                    overdue: c.overdue,
                    households: c.counts.households,
                })
                .collect(),
            overdue_cases,
            red_carded,
            large_disputes,
            household_rows: room.households,
            periods,
            kpis,
            trend,
            chart_period: format!("{cf} – {ct}"),
            chart_top,
            chart_leaves,
            category_names,
        },
    ))
}

/// The category charts of `node` for the days `from..=to`: cases created, by top-level
/// category and the most frequent leaves, each bar a link to its cases.
async fn category_charts(
    state: &AppState,
    ctx: &PageCtx,
    node: &domain::TerritoryCode,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<(Option<String>, Option<String>), AppError> {
    let counts = state
        .db
        .cases_by_category(
            node.subtree_prefix(),
            figures::day_start(from),
            figures::day_start(to) + chrono::Duration::days(1),
        )
        .await?;
    let counts: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(c, n)| (c, u64::try_from(n).unwrap_or(0)))
        .collect();
    let b = {
        let rules = state.rules.read().await;
        crate::actions::daily::breakdown(&counts, &rules.taxonomy)
    };
    Ok(breakdown_svgs(ctx, node.as_str(), &b, from, to))
}

/// The two bar charts of a breakdown, bars linking to the cases of their category.
fn breakdown_svgs(
    ctx: &PageCtx,
    node: &str,
    b: &crate::actions::daily::CategoryBreakdown,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> (Option<String>, Option<String>) {
    let period = figures::created_in(from, to);
    let bars = |v: &[crate::actions::daily::CategoryCount]| -> Vec<Bar> {
        v.iter()
            .map(|c| Bar {
                label: c.name.clone(),
                value: c.cases,
                href: figures::cases_href(node, &period, &[&format!("category={}", c.category)]),
            })
            .collect()
    };
    (
        charts::bars(&bars(&b.top), &ctx.t("center-categories-top"), "categories"),
        charts::bars(
            &bars(&b.leaves),
            &ctx.t("center-categories-leaves"),
            "categories",
        ),
    )
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/center.js"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct DailyPageQuery {
    territory: Option<String>,
    date: Option<String>,
}

/// One child's line of the day's summary.
pub struct ChildLine {
    pub territory: String,
    pub name: String,
    pub cases: u64,
    pub cases_href: String,
}

/// One person of the collection, ready to show.
pub struct PersonLine {
    pub name: String,
    pub account: String,
    pub role: String,
    pub unit: String,
    pub territory: String,
    /// `missing`, `zero` or `reported`.
    pub state: &'static str,
    pub state_label: String,
    pub at: String,
}

/// One child's collection.
pub struct GroupLine {
    pub territory: String,
    pub name: String,
    pub expected: u64,
    pub reported: u64,
    pub zero_reports: u64,
    pub missing: u64,
    pub people: Vec<PersonLine>,
    pub more: String,
}

#[derive(Template)]
#[template(path = "daily.html")]
struct DailyPage {
    chrome: Chrome,
    t: std::collections::HashMap<&'static str, String>,
    d: crate::actions::daily::DailyResponse,
    heading: String,
    summary_heading: String,
    cases_href: String,
    by_class: String,
    attention: Vec<String>,
    collection_line: String,
    groups: Vec<GroupLine>,
    children: Vec<ChildLine>,
    max_child: u64,
    prev_day: String,
    next_day: String,
    chart_top: Option<String>,
    chart_leaves: Option<String>,
    xlsx_href: String,
}

const DAILY_KEYS: &[&str] = &[
    "daily-attention",
    "daily-attention-none",
    "daily-collection",
    "daily-col-child",
    "daily-col-expected",
    "daily-col-reported",
    "daily-col-zero",
    "daily-col-missing",
    "daily-col-name",
    "daily-col-role",
    "daily-col-unit",
    "daily-col-state",
    "daily-col-at",
    "daily-collection-none",
    "daily-by-child",
    "daily-rising-categories",
    "daily-rising-places",
    "daily-rising-none",
    "daily-col-category",
    "daily-col-place",
    "daily-col-today",
    "daily-col-mean-7",
    "daily-col-mean-30",
    "daily-col-p",
    "daily-clusters",
    "daily-none",
    "daily-sensitive",
    "daily-large-disputes",
    "daily-overdue",
    "daily-red-carded",
    "daily-prev",
    "daily-next",
    "daily-xlsx",
    "daily-print",
    "center-title",
    "center-categories",
    "center-categories-top",
    "center-categories-leaves",
    "center-assessment-link",
];

impl DailyPage {
    fn lists(&self) -> [(&'static str, &Vec<crate::actions::daily::DayCase>); 4] {
        [
            ("daily-sensitive", &self.d.sensitive),
            ("daily-large-disputes", &self.d.large_disputes),
            ("daily-overdue", &self.d.overdue),
            ("daily-red-carded", &self.d.red_carded),
        ]
    }

    fn l<'a>(&'a self, key: &'a str) -> &'a str {
        self.t.get(key).map(String::as_str).unwrap_or(key)
    }
}

fn t_args(ctx: &PageCtx, key: &str, args: &[(&str, String)]) -> String {
    ctx.i18n.t_args(ctx.lang, key, args)
}

/// An attention item in the page's language.
fn attention_line(ctx: &PageCtx, a: &crate::actions::daily::AttentionItem) -> String {
    let n = a.count.to_string();
    match a.kind.as_str() {
        "rising" => t_args(
            ctx,
            "daily-a-rising",
            &[
                ("name", a.name.clone().unwrap_or_default()),
                ("today", n),
                ("mean7", format!("{:.1}", a.expected_7.unwrap_or(0.0))),
                ("mean30", format!("{:.1}", a.expected_30.unwrap_or(0.0))),
                ("p", format!("{:.2e}", a.p.unwrap_or(1.0))),
            ],
        ),
        "cluster" => t_args(
            ctx,
            "daily-a-cluster",
            &[("count", n), ("codes", a.codes.join(" "))],
        ),
        "red_carded" => t_args(ctx, "daily-a-red", &[("count", n)]),
        "large_disputes" => t_args(
            ctx,
            "daily-a-disputes",
            &[
                ("count", n),
                ("people", center::LARGE_DISPUTE_PEOPLE.to_string()),
            ],
        ),
        _ => t_args(ctx, "daily-a-sensitive", &[("count", n)]),
    }
}

/// The printable daily report (日收集、日汇总、日研判) of a node: the same as `GET /api/v1/daily`.
async fn daily_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<DailyPageQuery>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        if !center::has_war_room(caller.role()) {
            return Err(AppError::Forbidden(
                "the daily report is for leaders and centre operators".into(),
            ));
        }
        let (node, day) = crate::routes::api_center::node_and_day(
            &state,
            caller,
            q.territory.as_deref(),
            q.date.as_deref(),
        )?;
        let mut d = crate::actions::daily::daily(&state, caller, &node, day).await?;
        for list in [
            &mut d.sensitive,
            &mut d.large_disputes,
            &mut d.overdue,
            &mut d.red_carded,
        ] {
            for c in list.iter_mut() {
                c.status = ctx.t(&format!("status-{}", c.status));
            }
        }
        let max_child = d
            .summary
            .by_child
            .iter()
            .map(|c| c.cases)
            .max()
            .unwrap_or(0)
            .max(1);
        let the_day = figures::created_in(d.date, d.date);
        let children = d
            .summary
            .by_child
            .iter()
            .map(|c| ChildLine {
                territory: c.territory.clone(),
                name: c.name.clone(),
                cases: c.cases,
                cases_href: figures::cases_href(&c.territory, &the_day, &[]),
            })
            .collect();
        let by_class = d
            .summary
            .by_class
            .iter()
            .map(|(k, v)| {
                t_args(
                    &ctx,
                    "daily-class-count",
                    &[
                        ("class", ctx.t(&format!("daily-class-{k}"))),
                        ("count", v.to_string()),
                    ],
                )
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let c = &d.collection;
        let collection_line = t_args(
            &ctx,
            "daily-collection-line",
            &[
                ("expected", c.expected.to_string()),
                ("reported", c.reported.to_string()),
                ("zero", c.zero_reports.to_string()),
                ("missing", c.missing.to_string()),
            ],
        );
        let groups = c
            .groups
            .iter()
            .map(|g| GroupLine {
                territory: g.territory.clone(),
                name: g.name.clone(),
                expected: g.expected,
                reported: g.reported,
                zero_reports: g.zero_reports,
                missing: g.missing,
                people: g
                    .people
                    .iter()
                    .map(|p| {
                        let state = match p.nothing_to_report {
                            None => "missing",
                            Some(true) => "zero",
                            Some(false) => "reported",
                        };
                        PersonLine {
                            name: p.name.clone(),
                            account: p.account.clone(),
                            role: ctx.t(&format!("role-{}", p.role)),
                            unit: p.unit.clone(),
                            territory: p.territory.clone(),
                            state,
                            state_label: ctx.t(&format!("daily-state-{state}")),
                            at: p
                                .reported_at
                                .map(|t| {
                                    t.with_timezone(&domain::clock::china_offset())
                                        .format("%H:%M")
                                        .to_string()
                                })
                                .unwrap_or_default(),
                        }
                    })
                    .collect(),
                more: if g.more > 0 {
                    t_args(&ctx, "daily-more", &[("count", g.more.to_string())])
                } else {
                    String::new()
                },
            })
            .collect();
        let (chart_top, chart_leaves) =
            breakdown_svgs(&ctx, &d.territory, &d.by_category, d.date, d.date);
        let t = DAILY_KEYS.iter().map(|k| (*k, ctx.t(k))).collect();
        let args = [("name", d.name.clone()), ("date", d.date.to_string())];
        Ok(ctx.render(
            StatusCode::OK,
            DailyPage {
                chrome: ctx.chrome(t_args(&ctx, "daily-title", &args)),
                t,
                heading: t_args(&ctx, "daily-title", &args),
                summary_heading: t_args(
                    &ctx,
                    "daily-summary",
                    &[("count", d.summary.cases.to_string())],
                ),
                cases_href: figures::cases_href(&d.territory, &the_day, &[]),
                by_class,
                attention: d
                    .attention_items
                    .iter()
                    .map(|a| attention_line(&ctx, a))
                    .collect(),
                collection_line,
                groups,
                children,
                prev_day: d.date.pred_opt().unwrap_or(d.date).to_string(),
                next_day: d.date.succ_opt().unwrap_or(d.date).to_string(),
                xlsx_href: format!(
                    "/api/v1/daily.xlsx?territory={}&date={}",
                    d.territory, d.date
                ),
                chart_top,
                chart_leaves,
                d,
                max_child,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

/// The periods' names, the figures, the trend and the category charts' period.
type FiguresOut = (
    Vec<String>,
    Vec<KpiRow>,
    Vec<TrendBar>,
    (chrono::NaiveDate, chrono::NaiveDate),
);

fn pct(r: Option<f64>) -> String {
    r.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "—".into())
}

/// The seed's figures for today, the last 7 days, this month and a chosen period, from
/// `GET /api/v1/stats` (rollups, no scan), and the cases of each of the last 14 days.
async fn figures(
    state: &AppState,
    ctx: &PageCtx,
    caller: &crate::auth::Caller,
    node: &domain::TerritoryCode,
    q: &CenterQuery,
) -> Result<FiguresOut, AppError> {
    use chrono::Datelike;
    let today = crate::actions::fieldwork::today(state);
    let mut spans = vec![
        (ctx.t("center-today"), today, today),
        (
            ctx.t("center-week"),
            today - chrono::Duration::days(6),
            today,
        ),
        (
            ctx.t("center-month"),
            today.with_day(1).unwrap_or(today),
            today,
        ),
    ];
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
    };
    if let (Some(f), Some(t)) = (parse(&q.from), parse(&q.to))
        && f <= t
    {
        spans.push((format!("{f} – {t}"), f, t));
    }
    let code = node.to_string();
    let mut views = Vec::new();
    for (_, f, t) in &spans {
        views.push(
            crate::actions::stats::stats(
                state,
                caller,
                Some(&code),
                Some(&f.to_string()),
                Some(&t.to_string()),
            )
            .await?,
        );
    }
    type Link = fn(&str, chrono::NaiveDate, chrono::NaiveDate) -> Option<String>;
    let created: Link = |n, f, t| Some(figures::cases_href(n, &figures::created_in(f, t), &[]));
    let closed: Link = |n, f, t| Some(figures::cases_href(n, &figures::closed_in(f, t), &[]));
    let solved: Link = |n, f, t| {
        let mut x = figures::closed_in(f, t);
        x.solved = true;
        Some(figures::cases_href(n, &x, &[]))
    };
    let hazards: Link = |n, f, t| {
        let mut x = figures::closed_in(f, t);
        x.solved = true;
        x.class = Some(figures::FigureClass::Hazard);
        Some(figures::cases_href(n, &x, &[]))
    };
    let disputes: Link = |n, f, t| {
        let mut x = figures::closed_in(f, t);
        x.solved = true;
        x.class = Some(figures::FigureClass::Dispute);
        Some(figures::cases_href(n, &x, &[]))
    };
    let disputes_closed: Link = |n, f, t| {
        let mut x = figures::closed_in(f, t);
        x.class = Some(figures::FigureClass::Dispute);
        Some(figures::cases_href(n, &x, &[]))
    };
    let daily: Link = |n, _, t| Some(format!("/center/daily?territory={n}&date={t}"));
    let propaganda: Link = |n, f, t| {
        Some(format!(
            "/worklogs?territory={n}&kind=propaganda&from={f}&to={t}"
        ))
    };
    let services: Link = |n, f, t| {
        Some(format!(
            "/worklogs?territory={n}&kind=service&from={f}&to={t}"
        ))
    };
    let none: Link = |_, _, _| None;
    let row = |key: &str, link: Link, v: &dyn Fn(&domain::stats::Figures) -> String| KpiRow {
        label: ctx.t(key),
        values: views
            .iter()
            .zip(&spans)
            .map(|(s, (_, f, t))| (v(&s.figures), link(&code, *f, *t)))
            .collect(),
    };
    let kpis = vec![
        row("center-k-cases", created, &|f| f.cases_total.to_string()),
        row("center-k-closed", closed, &|f| f.cases_closed.to_string()),
        row("center-k-propaganda", propaganda, &|f| {
            f.propaganda_sessions.to_string()
        }),
        row("center-k-services", services, &|f| {
            f.services_done.to_string()
        }),
        row("center-k-solved", solved, &|f| {
            f.problems_solved.to_string()
        }),
        row("center-k-hazards", hazards, &|f| {
            f.hazards_fixed.to_string()
        }),
        row("center-k-disputes", disputes, &|f| {
            f.disputes_resolved.to_string()
        }),
        row("center-k-resolution", disputes_closed, &|f| {
            pct(f.dispute_resolution_rate)
        }),
        row("center-k-accept", none, &|f| pct(f.timely_accept_rate)),
        row("center-k-close", none, &|f| pct(f.on_time_close_rate)),
        row("center-k-satisfaction", none, &|f| pct(f.satisfaction_rate)),
        row("center-k-reports", daily, &|f| {
            format!(
                "{} / {}",
                f.daily_reports_received, f.daily_reports_expected
            )
        }),
    ];
    let mut days = Vec::new();
    for k in (0..14).rev() {
        let d = today - chrono::Duration::days(k);
        let s = crate::actions::stats::stats(
            state,
            caller,
            Some(&code),
            Some(&d.to_string()),
            Some(&d.to_string()),
        )
        .await?;
        days.push((d, s.figures.cases_total));
    }
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let trend = days
        .iter()
        .enumerate()
        .map(|(i, (d, n))| TrendBar {
            day: d.format("%m-%d").to_string(),
            href: figures::cases_href(&code, &figures::created_in(*d, *d), &[]),
            cases: *n,
            x: i as i64 * 40,
            h: n * 100 / max,
        })
        .collect();
    // The category charts cover the chosen period, or else this month.
    let chart = spans.last().map(|s| (s.1, s.2)).unwrap_or((today, today));
    Ok((spans.into_iter().map(|s| s.0).collect(), kpis, trend, chart))
}

#[derive(Deserialize)]
struct AssessmentPageQuery {
    territory: Option<String>,
    month: Option<String>,
}

/// A rate with the list behind it.
pub struct Cell {
    pub text: String,
    pub href: Option<String>,
}

/// One ranked row (a unit, a level or a person).
pub struct AssessRow {
    pub rank: String,
    pub name: String,
    pub name_href: Option<String>,
    pub sub: String,
    pub score: String,
    pub penalty: String,
    pub cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "assessment.html")]
struct AssessmentPage {
    chrome: Chrome,
    t: std::collections::HashMap<&'static str, String>,
    heading: String,
    code: String,
    prev_month: String,
    next_month: String,
    xlsx_href: String,
    weights: String,
    columns: Vec<String>,
    units: Vec<AssessRow>,
    levels: Vec<AssessRow>,
    persons: Vec<AssessRow>,
}

impl AssessmentPage {
    fn tables(&self) -> [(&'static str, &Vec<AssessRow>); 3] {
        [
            ("assess-units", &self.units),
            ("assess-persons", &self.persons),
            ("assess-levels", &self.levels),
        ]
    }

    fn l<'a>(&'a self, key: &'a str) -> &'a str {
        self.t.get(key).map(String::as_str).unwrap_or(key)
    }
}

const ASSESS_KEYS: &[&str] = &[
    "center-title",
    "assess-units",
    "assess-levels",
    "assess-persons",
    "assess-col-rank",
    "assess-col-unit",
    "assess-col-person",
    "assess-col-level",
    "assess-col-score",
    "assess-col-penalty",
    "assess-prev",
    "assess-next",
    "assess-xlsx",
    "assess-weights",
    "assess-hint",
    "center-daily-link",
    "daily-none",
];

/// The indicator columns of the page, in order (label keys).
const ASSESS_COLUMNS: &[&str] = &[
    "assess-i-accept",
    "assess-i-sign",
    "assess-i-on-time",
    "assess-i-close",
    "assess-i-rework",
    "assess-i-dispatch",
    "assess-i-satisfaction",
    "assess-i-resolution",
    "assess-i-daily",
    "assess-i-zero",
];

/// The cells of one row: each rate with its counts as a tooltip-free `n / d` and, where a list
/// exists, the link to it (the cases of the territory in the month; the disputes closed in it;
/// the daily report of the month's last day).
fn assess_cells(
    i: &domain::assessment::Indicators,
    c: &std::collections::BTreeMap<String, i64>,
    f: &domain::assessment::FieldCounts,
    territory: Option<&str>,
    unit: Option<&str>,
    month: &crate::actions::assessment::Month,
) -> Vec<Cell> {
    let n = |k: &str| c.get(k).copied().unwrap_or(0);
    let rate = |r: Option<f64>, num: i64, den: i64| match r {
        Some(v) => format!("{:.1}% ({num}/{den})", v * 100.0),
        None => "—".to_owned(),
    };
    let period = figures::created_in(month.first, month.last);
    let unit_part = unit.map(|u| format!("unit={u}"));
    let extra: Vec<&str> = unit_part.iter().map(String::as_str).collect();
    let cases = territory.map(|t| figures::cases_href(t, &period, &extra));
    let mut disputes = figures::closed_in(month.first, month.last);
    disputes.class = Some(figures::FigureClass::Dispute);
    let daily = territory.map(|t| format!("/center/daily?territory={t}&date={}", month.last));
    vec![
        Cell {
            text: rate(i.timely_accept_rate, n("accepted_on_time"), n("due_accept")),
            href: cases.clone(),
        },
        Cell {
            text: rate(i.timely_sign_rate, n("signed_on_time"), n("due_sign")),
            href: cases.clone(),
        },
        Cell {
            text: rate(i.on_time_close_rate, n("closed_on_time"), n("due_close")),
            href: cases.clone(),
        },
        Cell {
            text: rate(i.close_rate, n("closed"), n("due_close")),
            href: cases.clone(),
        },
        Cell {
            text: rate(i.rework_rate, n("rework"), n("due_close")),
            href: cases.clone(),
        },
        Cell {
            text: rate(
                i.accurate_dispatch_rate,
                n("dispatched_accurately"),
                n("dispatched"),
            ),
            href: cases.clone(),
        },
        Cell {
            text: rate(i.satisfaction_rate, n("satisfied"), n("revisited")),
            href: cases,
        },
        Cell {
            text: rate(
                i.dispute_resolution_rate,
                f.disputes_resolved,
                f.disputes_closed,
            ),
            href: territory.map(|t| figures::cases_href(t, &disputes, &[])),
        },
        Cell {
            text: rate(i.daily_report_rate, f.reports_received, f.reports_expected),
            href: daily.clone(),
        },
        Cell {
            text: rate(i.zero_report_rate, f.zero_reports, f.reports_received),
            href: daily,
        },
    ]
}

fn score_text(s: Option<f64>) -> String {
    s.map(|v| format!("{v:.2}")).unwrap_or_else(|| "—".into())
}

/// The month's assessment of a node's units, levels and grid workers (the same as
/// `GET /api/v1/assessment`), every rate a link to the list behind it.
async fn assessment_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(q): Query<AssessmentPageQuery>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        if !center::has_war_room(caller.role()) {
            return Err(AppError::Forbidden(
                "the assessment is for leaders and centre operators".into(),
            ));
        }
        let (node, month) = crate::routes::api_center::node_and_month(
            &state,
            caller,
            &crate::routes::api_center::AssessmentQuery {
                territory: q.territory.filter(|t| !t.trim().is_empty()),
                month: q.month.filter(|m| !m.trim().is_empty()),
            },
        )?;
        let a = crate::actions::assessment::assess(&state, caller, &node, month).await?;
        let name = crate::actions::territory::node(&state, &node).await?.name;
        let kind = |k: &str| ctx.t(&format!("assess-kind-{k}"));
        let units = a
            .units
            .iter()
            .map(|u| AssessRow {
                rank: u.rank.map(|r| r.to_string()).unwrap_or_default(),
                name: u.name.clone(),
                name_href: Some(figures::cases_href(
                    &u.territory,
                    &figures::created_in(month.first, month.last),
                    &[&format!("unit={}", u.unit)],
                )),
                sub: format!(
                    "{} · {}",
                    kind(&u.kind),
                    ctx.t(&format!("level-{}", u.level))
                ),
                score: score_text(u.score),
                penalty: format!("{:.1}", u.penalty),
                cells: assess_cells(
                    &u.indicators,
                    &u.counts,
                    &u.field,
                    Some(&u.territory),
                    Some(&u.unit),
                    &month,
                ),
            })
            .collect();
        let levels = a
            .levels
            .iter()
            .map(|l| AssessRow {
                rank: String::new(),
                name: ctx.t(&format!("level-{}", l.level)),
                name_href: None,
                sub: t_args(
                    &ctx,
                    "assess-units-count",
                    &[("count", l.units.to_string())],
                ),
                score: score_text(l.score),
                penalty: String::new(),
                cells: assess_cells(&l.indicators, &l.counts, &l.field, None, None, &month),
            })
            .collect();
        let persons = a
            .persons
            .iter()
            .map(|p| AssessRow {
                rank: p.rank.map(|r| r.to_string()).unwrap_or_default(),
                name: p.name.clone(),
                name_href: Some(figures::cases_href(
                    &p.territory,
                    &figures::created_in(month.first, month.last),
                    &[],
                )),
                sub: p.unit_name.clone(),
                score: score_text(p.score),
                penalty: format!("{:.1}", p.penalty),
                cells: assess_cells(
                    &p.indicators,
                    &p.counts,
                    &p.field,
                    Some(&p.territory),
                    None,
                    &month,
                ),
            })
            .collect();
        let w = &a.weights;
        let weights = t_args(
            &ctx,
            "assess-weights-line",
            &[
                ("accept", w.timely_accept_rate.to_string()),
                ("sign", w.timely_sign_rate.to_string()),
                ("ontime", w.on_time_close_rate.to_string()),
                ("close", w.close_rate.to_string()),
                ("rework", w.rework_rate.to_string()),
                ("dispatch", w.accurate_dispatch_rate.to_string()),
                ("satisfaction", w.satisfaction_rate.to_string()),
                ("resolution", w.dispute_resolution_rate.to_string()),
                ("daily", w.daily_report_rate.to_string()),
                ("zero", w.zero_report_rate.to_string()),
                ("normal", w.penalty_normal.to_string()),
                ("yellow", w.penalty_yellow.to_string()),
                ("red", w.penalty_red.to_string()),
            ],
        );
        let step = |m: chrono::NaiveDate, forward: bool| {
            let one = chrono::Months::new(1);
            let d = if forward {
                m.checked_add_months(one)
            } else {
                m.checked_sub_months(one)
            };
            d.unwrap_or(m).format("%Y-%m").to_string()
        };
        let args = [("name", name), ("month", a.month.clone())];
        let heading = t_args(&ctx, "assess-title", &args);
        Ok(ctx.render(
            StatusCode::OK,
            AssessmentPage {
                chrome: ctx.chrome(heading.clone()),
                t: ASSESS_KEYS.iter().map(|k| (*k, ctx.t(k))).collect(),
                heading,
                code: a.territory.clone(),
                prev_month: step(month.first, false),
                next_month: step(month.first, true),
                xlsx_href: format!(
                    "/api/v1/assessment.xlsx?territory={}&month={}",
                    a.territory, a.month
                ),
                weights,
                columns: ASSESS_COLUMNS.iter().map(|k| ctx.t(k)).collect(),
                units,
                levels,
                persons,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}
