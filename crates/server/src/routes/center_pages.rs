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
use crate::actions::people::HouseholdView;
use crate::actions::territory::level_key;
use crate::error::AppError;
use crate::map::{self, MapShape};
use crate::routes::pages::{Chrome, PageCtx};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/center", get(center_page))
        .route("/center/daily", get(daily_page))
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
    pub values: Vec<String>,
    pub href: Option<String>,
}

/// One bar of the trend chart.
pub struct TrendBar {
    pub day: String,
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
    let (periods, kpis, trend) = figures(state, ctx, caller, code.code(), &q).await?;
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
            category_names,
        },
    ))
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

#[derive(Template)]
#[template(path = "daily.html")]
struct DailyPage {
    chrome: Chrome,
    d: crate::actions::daily::DailyResponse,
    max_child: u64,
    prev_day: String,
}

impl DailyPage {
    fn lists(&self) -> [(&'static str, &Vec<crate::actions::daily::DayCase>); 4] {
        [
            ("敏感类报事", &self.d.sensitive),
            ("较大矛盾纠纷", &self.d.large_disputes),
            ("超期案件", &self.d.overdue),
            ("红牌督办", &self.d.red_carded),
        ]
    }
}

/// The printable daily report (日汇总、日研判) of a node: the same as `GET /api/v1/daily`.
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
        let d = crate::actions::daily::daily(&state, caller, &node, day).await?;
        let max_child = d
            .summary
            .by_child
            .iter()
            .map(|c| c.cases)
            .max()
            .unwrap_or(0)
            .max(1);
        Ok(ctx.render(
            StatusCode::OK,
            DailyPage {
                chrome: ctx.chrome(format!("{} {} 日汇总与研判", d.name, d.date)),
                prev_day: d.date.pred_opt().unwrap_or(d.date).to_string(),
                d,
                max_child,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

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
) -> Result<(Vec<String>, Vec<KpiRow>, Vec<TrendBar>), AppError> {
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
    let cases = format!("/cases?territory={code}");
    let row =
        |key: &str, href: Option<String>, v: &dyn Fn(&domain::stats::Figures) -> String| KpiRow {
            label: ctx.t(key),
            values: views.iter().map(|s| v(&s.figures)).collect(),
            href,
        };
    let kpis = vec![
        row("center-k-cases", Some(cases.clone()), &|f| {
            f.cases_total.to_string()
        }),
        row("center-k-closed", Some(cases.clone()), &|f| {
            f.cases_closed.to_string()
        }),
        row("center-k-propaganda", None, &|f| {
            f.propaganda_sessions.to_string()
        }),
        row("center-k-services", None, &|f| f.services_done.to_string()),
        row("center-k-solved", Some(cases.clone()), &|f| {
            f.problems_solved.to_string()
        }),
        row("center-k-hazards", Some(cases.clone()), &|f| {
            f.hazards_fixed.to_string()
        }),
        row("center-k-disputes", Some(cases.clone()), &|f| {
            f.disputes_resolved.to_string()
        }),
        row("center-k-resolution", None, &|f| {
            pct(f.dispute_resolution_rate)
        }),
        row("center-k-accept", None, &|f| pct(f.timely_accept_rate)),
        row("center-k-close", None, &|f| pct(f.on_time_close_rate)),
        row("center-k-satisfaction", None, &|f| pct(f.satisfaction_rate)),
        row(
            "center-k-reports",
            Some(format!("/center/daily?territory={code}")),
            &|f| {
                format!(
                    "{} / {}",
                    f.daily_reports_received, f.daily_reports_expected
                )
            },
        ),
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
            cases: *n,
            x: i as i64 * 40,
            h: n * 100 / max,
        })
        .collect();
    Ok((spans.into_iter().map(|s| s.0).collect(), kpis, trend))
}
