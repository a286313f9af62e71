//! The pages of emergency response: the incident list and activation form (`/incidents`), the
//! incident board (`/incidents/{id}`, refreshed by polling `/incidents/{id}/live.json`), the
//! after-action report (page and Excel), and the field app's roll-call screen
//! (`/field/rollcall`, offline-capable through the field app's outbox `queue.js`). All call
//! `actions::emergency`, like the API.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json};
use chrono::{DateTime, Utc};
use domain::account::Role;
use domain::clock::beijing_minute as beijing;
use domain::emergency::{IncidentCommand, ResponseLevel, RollCallStatus};
use serde::Deserialize;

use crate::actions::emergency::{
    self, ActivateInput, AfterActionReport, IncidentHouseholdView, IncidentView, InstructionView,
    RollCallEntryIn, RollCallRequest,
};
use crate::actions::territory::parse_code;
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::routes::pages::check_csrf;
use crate::routes::pages::{Chrome, PageCtx, Texts};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(incidents_page).post(activate_form))
        .route("/incidents/{id}", get(board_page))
        .route("/incidents/{id}/live.json", get(live_json))
        .route("/incidents/{id}/command", post(command_form))
        .route("/incidents/{id}/report", get(report_page))
        .route("/incidents/{id}/report.xlsx", get(report_xlsx))
        .route("/field/rollcall", get(rollcall_page))
        .route("/field/rollcall/{id}", post(rollcall_form))
        .route("/field/rollcall/{id}/batch", post(rollcall_batch))
        .route("/field/instructions/{id}/{seq}/ack", post(ack_form))
        .route(
            "/static/emergency/board.js",
            get(|| script(include_str!("../../static/emergency/board.js"))),
        )
        .route(
            "/static/field/rollcall.js",
            get(|| script(include_str!("../../static/field/rollcall.js"))),
        )
}

async fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The texts of this area: every `em-` key of the Chinese file, in the page's language.
fn texts(ctx: &PageCtx) -> Texts {
    Texts::area(ctx, include_str!("../../i18n/zh-CN/emergency.ftl"), "em-")
}

/// A form post of a signed-in caller with the page's CSRF token: run `act`, then redirect to
/// the page `to` names, or show the error page.
async fn posted<T>(
    ctx: &PageCtx,
    csrf: &str,
    act: impl AsyncFnOnce(&Caller) -> AppResult<T>,
    to: impl FnOnce(T) -> String,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        check_csrf(caller, Some(csrf))?;
        act(caller).await
    }
    .await;
    match result {
        Ok(v) => Redirect::to(&to(v)).into_response(),
        Err(e) => ctx.error(e),
    }
}

fn id_param(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::NotFound(format!("incident {raw:?}")))
}

// ---------------------------------------------------------------------------------------------
// /incidents

pub struct PlanOption {
    pub code: String,
    pub name: String,
}

pub struct IncidentLine {
    pub href: String,
    pub title: String,
    pub level: String,
    pub status: String,
    pub active: bool,
    pub at: String,
    pub households: i64,
}

#[derive(Template)]
#[template(path = "incidents.html")]
pub struct IncidentsPage {
    pub chrome: Chrome,
    pub t: Texts,
    pub csrf: String,
    pub can_activate: bool,
    pub scope: String,
    pub plans: Vec<PlanOption>,
    pub incidents: Vec<IncidentLine>,
    pub error: Option<String>,
}

async fn incidents_page(State(state): State<AppState>, ctx: PageCtx) -> Response {
    match incidents_inner(&state, &ctx, None).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

async fn incidents_inner(
    state: &AppState,
    ctx: &PageCtx,
    error: Option<String>,
) -> AppResult<Response> {
    let caller = ctx.require_caller()?;
    let t = texts(ctx);
    let plans = emergency::list_plans(state)
        .await?
        .into_iter()
        .map(|p| PlanOption {
            code: p.code,
            name: p.name,
        })
        .collect();
    let incidents = emergency::list(state, caller, false)
        .await?
        .into_iter()
        .map(|i| IncidentLine {
            href: format!("/incidents/{}", i.id),
            active: i.status == "active",
            status: t.get(&format!("em-status-{}", i.status)).to_owned(),
            title: i.title,
            level: i.level_name,
            at: beijing(i.activated_at),
            households: i.households_total,
        })
        .collect();
    let page = IncidentsPage {
        chrome: ctx.chrome(t.get("em-incidents-title").to_owned()),
        csrf: caller.csrf_token.clone(),
        can_activate: matches!(caller.role(), Role::Leader | Role::CenterOperator),
        scope: caller.principal.scope.to_string(),
        plans,
        incidents,
        error,
        t,
    };
    Ok(ctx.render_form_page(page.error.is_some(), page))
}

#[derive(Debug, Deserialize)]
pub struct ActivateForm {
    pub csrf: String,
    pub plan: String,
    /// Codes separated by spaces or commas.
    pub territories: String,
    pub level: String,
    pub title: String,
}

async fn activate_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<ActivateForm>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        check_csrf(caller, Some(&f.csrf))?;
        let territories = f
            .territories
            .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(|s| parse_code("territories", s))
            .collect::<AppResult<Vec<_>>>()?;
        let level = f
            .level
            .trim()
            .parse::<i64>()
            .map_err(|_| AppError::unprocessable("level", "1 to 4"))
            .and_then(|n| Ok(ResponseLevel::new(n)?))?;
        emergency::activate(
            &state,
            caller,
            ActivateInput {
                plan: f.plan.clone(),
                territories,
                level,
                title: f.title.clone(),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(v) => Redirect::to(&format!("/incidents/{}", v.id)).into_response(),
        Err(e @ (AppError::Unprocessable { .. } | AppError::Conflict(_))) => {
            match incidents_inner(&state, &ctx, Some(e.to_string())).await {
                Ok(r) => r,
                Err(e) => ctx.error(e),
            }
        }
        Err(e) => ctx.error(e),
    }
}

// ---------------------------------------------------------------------------------------------
// The board

pub struct CountCell {
    pub key: &'static str,
    pub label: String,
    pub n: i64,
}

pub struct VillageLine {
    pub code: String,
    pub name: String,
    pub households: i64,
    pub cells: Vec<CountCell>,
    pub summary: String,
}

pub struct HouseholdLine {
    pub id: i64,
    pub head: String,
    pub phone: String,
    pub address: String,
    pub grid: String,
    pub status: String,
    pub at: String,
    pub note: String,
}

pub struct InstructionLine {
    pub recipient: String,
    pub role: String,
    pub phone: String,
    pub territory: String,
}

pub struct EventLine {
    pub at: String,
    pub by: String,
    pub kind: String,
    pub level: String,
    pub text: String,
}

pub struct LevelOption {
    pub value: i64,
    pub label: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "incident.html")]
pub struct BoardPage {
    pub chrome: Chrome,
    pub t: Texts,
    pub csrf: String,
    pub id: i64,
    /// The node of the event stream the board listens to (empty: poll only).
    pub stream: String,
    pub title: String,
    pub plan: String,
    pub level: String,
    pub status: String,
    pub active: bool,
    pub can_command: bool,
    pub activated_at: String,
    pub total: Vec<CountCell>,
    pub households_total: i64,
    pub summary: String,
    pub acknowledged: i64,
    pub instructions_total: i64,
    pub villages: Vec<VillageLine>,
    pub unreached: Vec<HouseholdLine>,
    pub missing: Vec<HouseholdLine>,
    pub injured: Vec<HouseholdLine>,
    pub open_instructions: Vec<InstructionLine>,
    pub timeline: Vec<EventLine>,
    pub levels: Vec<LevelOption>,
    pub notice: Option<String>,
}

fn cells(t: &Texts, c: &domain::emergency::RollCallCounts) -> Vec<CountCell> {
    RollCallStatus::ALL
        .into_iter()
        .map(|s| CountCell {
            key: s.as_str(),
            label: t.get(&format!("em-rc-{}", s.as_str())).to_owned(),
            n: c.get(s),
        })
        .collect()
}

fn household_line(t: &Texts, h: IncidentHouseholdView) -> HouseholdLine {
    HouseholdLine {
        id: h.household,
        head: h.head_name,
        phone: h.phone,
        address: h.address,
        grid: h.grid,
        status: t.get(&format!("em-rc-{}", h.status)).to_owned(),
        at: h.status_at.map(beijing).unwrap_or_default(),
        note: h.note.unwrap_or_default(),
    }
}

/// Households listed per status on the board (the rest are a click away in the API).
const BOARD_LIST: i64 = 50;

async fn board_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        let id = id_param(&id)?;
        let t = texts(&ctx);
        let v = emergency::get(&state, caller, id).await?;
        let list = |s| emergency::households(&state, caller, id, Some(s), None, 0, BOARD_LIST);
        let unreached = list(RollCallStatus::Unreached).await?.items;
        let missing = list(RollCallStatus::Missing).await?.items;
        let injured = list(RollCallStatus::Injured).await?.items;
        let open = emergency::open_instructions(&state, caller, id, 0, BOARD_LIST).await?;
        let timeline = emergency::timeline(&state, caller, id).await?;
        let page = BoardPage {
            chrome: ctx.chrome(v.title.clone()),
            csrf: caller.csrf_token.clone(),
            id,
            stream: emergency::board_stream_node(caller, &v)
                .map(|n| n.to_string())
                .unwrap_or_default(),
            plan: v.plan_name.clone(),
            level: v.level_name.clone(),
            status: t.get(&format!("em-status-{}", v.status)).to_owned(),
            active: v.status == "active",
            can_command: v.can_command,
            activated_at: beijing(v.activated_at),
            total: cells(&t, &v.rollcall),
            households_total: v.households_total,
            summary: v.summary.clone(),
            acknowledged: v.instructions_acknowledged,
            instructions_total: v.instructions_total,
            villages: v
                .villages
                .iter()
                .map(|x| VillageLine {
                    code: x.code.clone(),
                    name: x.name.clone(),
                    households: x.households,
                    cells: cells(&t, &x.rollcall),
                    summary: x.summary.clone(),
                })
                .collect(),
            unreached: unreached
                .into_iter()
                .map(|h| household_line(&t, h))
                .collect(),
            missing: missing.into_iter().map(|h| household_line(&t, h)).collect(),
            injured: injured.into_iter().map(|h| household_line(&t, h)).collect(),
            open_instructions: open
                .into_iter()
                .map(|i| InstructionLine {
                    recipient: i.recipient,
                    role: t.get(&format!("em-role-{}", i.role)).to_owned(),
                    phone: i.phone.unwrap_or_default(),
                    territory: i.territory,
                })
                .collect(),
            timeline: timeline
                .into_iter()
                .rev()
                .map(|e| EventLine {
                    at: beijing(e.at),
                    by: e.by.unwrap_or_default(),
                    kind: t.get(&format!("em-ev-{}", e.kind)).to_owned(),
                    level: e.level_name,
                    text: e.text,
                })
                .collect(),
            levels: ResponseLevel::ALL
                .into_iter()
                .map(|l| LevelOption {
                    value: l.number(),
                    label: l.to_string(),
                    current: l.number() == v.level,
                })
                .collect(),
            notice: None,
            title: v.title,
            t,
        };
        Ok::<_, AppError>(ctx.render(StatusCode::OK, page))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

/// The board's live figures, polled by `board.js` (cookie session, like the page).
async fn live_json(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, AppError> {
    let caller = ctx.require_caller()?;
    let mut v = emergency::get(&state, caller, id_param(&id)?).await?;
    // The page shows the per-village lines; the poll needs only the counts.
    v.villages.iter_mut().for_each(|x| x.name.clear());
    Ok(Json(v))
}

#[derive(Debug, Deserialize)]
pub struct CommandForm {
    pub csrf: String,
    /// `level`, `report`, `order`, `stand_down`.
    pub action: String,
    pub level: Option<String>,
    pub text: Option<String>,
}

async fn command_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
    Form(f): Form<CommandForm>,
) -> Response {
    let act = async |caller: &Caller| {
        let id = id_param(&id)?;
        let text = f.text.clone().unwrap_or_default();
        let cmd = match f.action.as_str() {
            "level" => {
                let n = f
                    .level
                    .as_deref()
                    .unwrap_or("")
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| AppError::unprocessable("level", "1 to 4"))?;
                IncidentCommand::ChangeLevel {
                    to: ResponseLevel::new(n)?,
                    reason: text,
                }
            }
            "report" => IncidentCommand::Report { text },
            "order" => IncidentCommand::Order { text },
            "stand_down" => IncidentCommand::StandDown { summary: text },
            other => {
                return Err(AppError::unprocessable(
                    "action",
                    format!("unknown action {other:?}"),
                ));
            }
        };
        emergency::command(&state, caller, id, cmd).await?;
        Ok(id)
    };
    posted(&ctx, &f.csrf, act, |id| format!("/incidents/{id}")).await
}

// ---------------------------------------------------------------------------------------------
// After-action report

#[derive(Template)]
#[template(path = "incident_report.html")]
pub struct ReportPage {
    pub chrome: Chrome,
    pub t: Texts,
    pub id: i64,
    pub title: String,
    pub plan: String,
    pub level: String,
    pub status: String,
    pub activated_at: String,
    pub stood_down_at: String,
    pub duration: String,
    pub summary: String,
    pub total: Vec<CountCell>,
    pub households_total: i64,
    pub acknowledged: i64,
    pub instructions_total: i64,
    pub villages: Vec<VillageLine>,
    pub timeline: Vec<EventLine>,
    pub missing: Vec<HouseholdLine>,
    pub injured: Vec<HouseholdLine>,
    pub unreached: Vec<HouseholdLine>,
    pub rounds: Vec<RoundLine>,
}

/// A round of instructions on the after-action report.
pub struct RoundLine {
    pub level: String,
    pub sent_at: String,
    pub acknowledged: i64,
    pub instructions: i64,
    pub median: String,
    pub p90: String,
}

fn minutes(m: Option<f64>) -> String {
    m.map(|m| format!("{m:.1}")).unwrap_or_else(|| "—".into())
}

async fn report_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        let id = id_param(&id)?;
        let r = emergency::after_action(&state, caller, id).await?;
        let t = texts(&ctx);
        let v = &r.incident;
        let page = ReportPage {
            chrome: ctx.chrome(format!("{} · {}", t.get("em-report-title"), v.title)),
            id,
            title: v.title.clone(),
            plan: v.plan_name.clone(),
            level: v.level_name.clone(),
            status: t.get(&format!("em-status-{}", v.status)).to_owned(),
            activated_at: beijing(v.activated_at),
            stood_down_at: v.stood_down_at.map(beijing).unwrap_or_default(),
            duration: format!("{}:{:02}", r.duration_minutes / 60, r.duration_minutes % 60),
            rounds: r
                .rounds
                .iter()
                .map(|x| RoundLine {
                    level: x.level_name.clone(),
                    sent_at: beijing(x.sent_at),
                    acknowledged: x.acknowledged,
                    instructions: x.instructions,
                    median: minutes(x.median_minutes),
                    p90: minutes(x.p90_minutes),
                })
                .collect(),
            summary: v.summary.clone(),
            total: cells(&t, &v.rollcall),
            households_total: v.households_total,
            acknowledged: v.instructions_acknowledged,
            instructions_total: v.instructions_total,
            villages: v
                .villages
                .iter()
                .map(|x| VillageLine {
                    code: x.code.clone(),
                    name: x.name.clone(),
                    households: x.households,
                    cells: cells(&t, &x.rollcall),
                    summary: x.summary.clone(),
                })
                .collect(),
            timeline: r
                .timeline
                .iter()
                .map(|e| EventLine {
                    at: beijing(e.at),
                    by: e.by.clone().unwrap_or_default(),
                    kind: t.get(&format!("em-ev-{}", e.kind)).to_owned(),
                    level: e.level_name.clone(),
                    text: e.text.clone(),
                })
                .collect(),
            missing: r
                .missing
                .iter()
                .cloned()
                .map(|h| household_line(&t, h))
                .collect(),
            injured: r
                .injured
                .iter()
                .cloned()
                .map(|h| household_line(&t, h))
                .collect(),
            unreached: r
                .unreached
                .iter()
                .cloned()
                .map(|h| household_line(&t, h))
                .collect(),
            t,
        };
        Ok::<_, AppError>(ctx.render(StatusCode::OK, page))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

async fn report_xlsx(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        let r = emergency::after_action(&state, caller, id_param(&id)?).await?;
        xlsx_response(&r)
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

/// Display width of a cell's text: CJK and Tibetan characters count double (autofit would
/// measure them as Latin letters).
fn text_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) < 0x1100 { 1 } else { 2 })
        .sum()
}

/// The after-action report as a workbook: a summary sheet, one row per village, the timeline,
/// and the households missing, injured or never reached.
pub fn xlsx_workbook(r: &AfterActionReport) -> AppResult<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("xlsx: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let v = &r.incident;
    /// A sheet: its name, its column headers, its rows.
    type Sheet<'a> = (&'a str, Vec<&'a str>, Vec<Vec<String>>);
    let mut sheets: Vec<Sheet> = Vec::new();
    let when = |t: Option<DateTime<Utc>>| t.map(beijing).unwrap_or_default();
    sheets.push((
        "总体情况",
        vec!["项目", "内容"],
        vec![
            vec!["事件".into(), v.title.clone()],
            vec!["预案".into(), v.plan_name.clone()],
            vec!["响应级别".into(), v.level_name.clone()],
            vec![
                "状态".into(),
                if v.status == "active" {
                    "响应中".into()
                } else {
                    "已解除".into()
                },
            ],
            vec!["启动时间".into(), beijing(v.activated_at)],
            vec!["解除时间".into(), when(v.stood_down_at)],
            vec!["持续（分钟）".into(), r.duration_minutes.to_string()],
            vec!["涉及户数".into(), v.households_total.to_string()],
            vec!["清点结果".into(), v.summary.clone()],
            vec![
                "指令签收".into(),
                format!("{} / {}", v.instructions_acknowledged, v.instructions_total),
            ],
        ],
    ));
    sheets.push((
        "各轮签收",
        vec![
            "响应级别",
            "下发时间",
            "已签收",
            "指令数",
            "用时中位数（分钟）",
            "90% 用时（分钟）",
        ],
        r.rounds
            .iter()
            .map(|x| {
                vec![
                    x.level_name.clone(),
                    beijing(x.sent_at),
                    x.acknowledged.to_string(),
                    x.instructions.to_string(),
                    minutes(x.median_minutes),
                    minutes(x.p90_minutes),
                ]
            })
            .collect(),
    ));
    sheets.push((
        "各村清点",
        vec![
            "村（社区）代码",
            "村（社区）",
            "户数",
            "平安",
            "已转移",
            "受伤",
            "失联",
            "未联系上",
        ],
        v.villages
            .iter()
            .map(|x| {
                vec![
                    x.code.clone(),
                    x.name.clone(),
                    x.households.to_string(),
                    x.rollcall.safe.to_string(),
                    x.rollcall.evacuated.to_string(),
                    x.rollcall.injured.to_string(),
                    x.rollcall.missing.to_string(),
                    x.rollcall.unreached.to_string(),
                ]
            })
            .collect(),
    ));
    sheets.push((
        "时间线",
        vec!["时间", "类型", "级别", "人员", "内容"],
        r.timeline
            .iter()
            .map(|e| {
                vec![
                    beijing(e.at),
                    e.kind.clone(),
                    e.level_name.clone(),
                    e.by.clone().unwrap_or_default(),
                    e.text.clone(),
                ]
            })
            .collect(),
    ));
    let hh = |list: &[IncidentHouseholdView]| -> Vec<Vec<String>> {
        list.iter()
            .map(|h| {
                vec![
                    h.household.to_string(),
                    h.head_name.clone(),
                    h.phone.clone(),
                    h.address.clone(),
                    h.grid.clone(),
                    when(h.status_at),
                    h.note.clone().unwrap_or_default(),
                ]
            })
            .collect()
    };
    let hh_cols = vec!["户编号", "户主", "电话", "地址", "网格", "时间", "备注"];
    sheets.push(("失联户", hh_cols.clone(), hh(&r.missing)));
    sheets.push(("受伤户", hh_cols.clone(), hh(&r.injured)));
    sheets.push(("未联系上户", hh_cols, hh(&r.unreached)));
    sheets.push((
        "未签收指令",
        vec!["接收人", "角色", "电话", "区划"],
        r.unacknowledged
            .iter()
            .map(|i: &InstructionView| {
                vec![
                    i.recipient.clone(),
                    i.role_name.clone(),
                    i.phone.clone().unwrap_or_default(),
                    i.territory.clone(),
                ]
            })
            .collect(),
    ));
    for (name, cols, rows) in &sheets {
        let ws = book.add_worksheet();
        ws.set_name(*name).map_err(err)?;
        for (c, h) in cols.iter().enumerate() {
            let width = rows
                .iter()
                .map(|r| r.get(c).map_or(0, |s| text_width(s)))
                .chain([text_width(h)])
                .max()
                .unwrap_or(8)
                .clamp(6, 60);
            ws.set_column_width(c as u16, width as f64 + 2.0)
                .map_err(err)?;
            ws.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(err)?;
        }
        for (i, row) in rows.iter().enumerate() {
            for (c, s) in row.iter().enumerate() {
                ws.write_string(i as u32 + 1, c as u16, s).map_err(err)?;
            }
        }
    }
    book.save_to_buffer().map_err(err)
}

pub fn xlsx_response(r: &AfterActionReport) -> AppResult<Response> {
    let bytes = xlsx_workbook(r)?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    );
    let name = format!("应急处置报告-{}.xlsx", r.incident.id);
    let disposition = format!(
        "attachment; filename=\"incident-{}.xlsx\"; filename*=UTF-8''{}",
        r.incident.id,
        crate::routes::pages::urlencode(&name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// The field app's roll call

pub struct StatusButton {
    pub value: &'static str,
    pub label: String,
    pub current: bool,
}

pub struct RollCallHousehold {
    pub id: i64,
    pub head: String,
    pub phone: String,
    pub address: String,
    pub status: String,
    pub status_key: String,
    pub buttons: Vec<StatusButton>,
}

pub struct RollCallIncident {
    pub id: i64,
    pub title: String,
    pub level: String,
    pub households: Vec<RollCallHousehold>,
    pub more: bool,
}

pub struct MyInstruction {
    pub incident: i64,
    pub seq: i64,
    pub title: String,
    pub text_zh: String,
    pub text_bo: String,
    pub checklist: Vec<String>,
    pub acknowledged: bool,
}

#[derive(Template)]
#[template(path = "field_rollcall.html")]
pub struct RollCallPage {
    pub chrome: Chrome,
    pub t: Texts,
    pub csrf: String,
    pub instructions: Vec<MyInstruction>,
    pub incidents: Vec<RollCallIncident>,
}

/// Households shown per incident on the phone (a household head has about ten, a grid worker a
/// few hundred).
const FIELD_LIST: i64 = 1000;

async fn rollcall_page(State(state): State<AppState>, ctx: PageCtx) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        let t = texts(&ctx);
        let mut incidents = Vec::new();
        for i in emergency::list(&state, caller, true).await? {
            let page =
                emergency::households(&state, caller, i.id, None, None, 0, FIELD_LIST).await?;
            let households = page
                .items
                .into_iter()
                .map(|h| RollCallHousehold {
                    buttons: RollCallStatus::ALL
                        .into_iter()
                        .map(|s| StatusButton {
                            value: s.as_str(),
                            label: t.get(&format!("em-rc-{}", s.as_str())).to_owned(),
                            current: s.as_str() == h.status,
                        })
                        .collect(),
                    id: h.household,
                    head: h.head_name,
                    phone: h.phone,
                    address: h.address,
                    status: t.get(&format!("em-rc-{}", h.status)).to_owned(),
                    status_key: h.status,
                })
                .collect();
            incidents.push(RollCallIncident {
                id: i.id,
                title: i.title,
                level: i.level_name,
                households,
                more: page.next_cursor.is_some(),
            });
        }
        let instructions = emergency::my_instructions(&state, caller)
            .await?
            .into_iter()
            .map(|i| MyInstruction {
                incident: i.incident,
                seq: i.seq,
                title: i.incident_title,
                text_zh: i.text_zh,
                text_bo: i.text_bo,
                checklist: i.checklist,
                acknowledged: i.acknowledged_at.is_some(),
            })
            .collect();
        let page = RollCallPage {
            chrome: ctx.chrome(t.get("em-field-title").to_owned()),
            csrf: caller.csrf_token.clone(),
            instructions,
            incidents,
            t,
        };
        Ok::<_, AppError>(ctx.render(StatusCode::OK, page))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}

#[derive(Debug, Deserialize)]
pub struct RollCallForm {
    pub csrf: String,
    pub household: i64,
    pub status: String,
}

/// One tap without JavaScript: a form post per household.
async fn rollcall_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
    Form(f): Form<RollCallForm>,
) -> Response {
    let act = async |caller: &Caller| {
        let req = RollCallRequest {
            entries: vec![RollCallEntryIn {
                household: f.household,
                status: f.status.clone(),
                note: None,
                at: None,
            }],
            idempotency_key: None,
        };
        emergency::roll_call(&state, caller, id_param(&id)?, req).await
    };
    posted(&ctx, &f.csrf, act, |_| "/field/rollcall".into()).await
}

#[derive(Debug, Deserialize)]
pub struct RollCallBatchBody {
    pub csrf: String,
    pub entries: Vec<RollCallEntryIn>,
    pub idempotency_key: Option<String>,
}

/// The field app's outbox posts here (session cookie and the page's CSRF token in the body);
/// same rules and same idempotency as `POST /api/v1/incidents/{id}/rollcall`.
async fn rollcall_batch(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
    crate::routes::extract::ApiJson(b): crate::routes::extract::ApiJson<RollCallBatchBody>,
) -> Result<Json<store::emergency::RollCallResult>, AppError> {
    let caller = ctx.require_caller()?;
    check_csrf(caller, Some(&b.csrf))?;
    let req = RollCallRequest {
        entries: b.entries,
        idempotency_key: b.idempotency_key,
    };
    Ok(Json(
        emergency::roll_call(&state, caller, id_param(&id)?, req).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct AckForm {
    pub csrf: String,
}

async fn ack_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path((id, seq)): Path<(String, String)>,
    Form(f): Form<AckForm>,
) -> Response {
    let act = async |caller: &Caller| {
        let seq = seq
            .parse::<i64>()
            .map_err(|_| AppError::NotFound("instruction".into()))?;
        emergency::acknowledge(&state, caller, id_param(&id)?, seq).await
    };
    posted(&ctx, &f.csrf, act, |_| "/field/rollcall".into()).await
}
