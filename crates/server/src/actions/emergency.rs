//! Emergency response, written once for the API, the incident board and the field app: plans,
//! activation (一声令), instructions and their acknowledgement, the household roll call, level
//! changes, situation reports, stand-down and the after-action report.
//!
//! Who may do what:
//! - activate, raise or lower the level, give an order, stand down: a leader or centre operator
//!   whose scope covers every node of the area;
//! - send a situation report (续报): a leader or centre operator whose scope touches the area
//!   (covers part of it, or lies inside it);
//! - see the incident: anyone whose scope touches the area (counts of the villages he has to do
//!   with);
//! - roll call: a household head for the households of his group, a grid worker for his grid, a
//!   centre operator or leader for the households inside his scope;
//! - acknowledge an instruction: its recipient (the member behind the account, or the account's
//!   unit).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::TerritoryCode;
use domain::account::Role;
use domain::emergency::{
    self, EmergencyError, IncidentCommand, IncidentEvent, IncidentState, IncidentStatus, Plan,
    Report, ResponseLevel, RollCallCounts, RollCallStatus, TaskRole,
};
use serde::{Deserialize, Serialize};
use store::emergency::{
    IncidentRow, InstructionRow, NewEvent, NewIncident, PlanRow, RollCallRefusal, RollCallResult,
};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Most entries in one roll-call batch.
pub const MAX_BATCH: usize = 1000;
const MAX_NOTE: usize = 500;
const MAX_KEY: usize = 200;

impl From<EmergencyError> for AppError {
    fn from(e: EmergencyError) -> Self {
        match e {
            EmergencyError::StoodDown | EmergencyError::SameLevel(_) => {
                AppError::Conflict(e.to_string())
            }
            EmergencyError::BadLevel(_) => AppError::unprocessable("level", e.to_string()),
            EmergencyError::Invalid { field, message } => AppError::unprocessable(field, message),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

/// A plan as listed (`GET /api/v1/plans`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanSummary {
    pub code: String,
    pub name: String,
    pub name_bo: String,
    /// `debris_flow`, `flood`, `earthquake`, `snow_disaster`, `fire`, `epidemic`.
    pub hazard: String,
    /// The response levels the plan has (1 = Ⅰ, the gravest … 4 = Ⅳ).
    pub levels: Vec<i64>,
    /// The whole plan: per level, the task of every role in Chinese and Tibetan, checklists.
    #[schema(value_type = Object)]
    pub plan: Plan,
}

fn parse_plan(row: &PlanRow) -> AppResult<Plan> {
    serde_json::from_str(&row.body)
        .map_err(|e| AppError::Internal(format!("stored plan {}: {e}", row.code)))
}

fn plan_summary(p: Plan) -> PlanSummary {
    PlanSummary {
        code: p.code.clone(),
        name: p.name.clone(),
        name_bo: p.name_bo.clone(),
        hazard: p.hazard.as_str().to_owned(),
        levels: p.levels.iter().map(|l| l.level.number()).collect(),
        plan: p,
    }
}

/// Every plan (any signed-in account: the field needs to read them too).
pub async fn list_plans(state: &AppState) -> AppResult<Vec<PlanSummary>> {
    let rows = state.db.plans().await?;
    rows.iter()
        .map(|r| parse_plan(r).map(plan_summary))
        .collect()
}

fn plan_row(p: &Plan, now: DateTime<Utc>) -> AppResult<PlanRow> {
    Ok(PlanRow {
        code: p.code.clone(),
        hazard: p.hazard.as_str().to_owned(),
        name: p.name.clone(),
        body: serde_json::to_string(p).map_err(|e| AppError::Internal(format!("plan: {e}")))?,
        updated_at: now,
    })
}

/// Create or replace a plan (administrators).
pub async fn save_plan(state: &AppState, caller: &Caller, plan: Plan) -> AppResult<PlanSummary> {
    if caller.role() != Role::Admin {
        return Err(AppError::Forbidden(
            "plans are managed by administrators".into(),
        ));
    }
    plan.validate()?;
    state
        .db
        .save_plans(&[plan_row(&plan, state.clock.now())?])
        .await?;
    Ok(plan_summary(plan))
}

/// Store the default plans of every hazard (the demo loader).
pub async fn store_default_plans(db: &store::Db, now: DateTime<Utc>) -> AppResult<u64> {
    let rows = emergency::default_plans()
        .iter()
        .map(|p| plan_row(p, now))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(db.save_plans(&rows).await?)
}

// ---------------------------------------------------------------------------------------------
// Incidents

/// Counts of one village.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VillageView {
    pub code: String,
    pub name: String,
    pub households: i64,
    #[schema(value_type = Object)]
    pub rollcall: RollCallCounts,
    /// `共34户，已转移34户，无人员受伤，无失联`.
    pub summary: String,
}

/// An incident as the API and the board show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentView {
    pub id: i64,
    /// `active` or `stood_down`.
    pub status: String,
    pub plan: String,
    pub plan_name: String,
    pub hazard: String,
    pub title: String,
    /// 1 (Ⅰ, the gravest) … 4 (Ⅳ).
    pub level: i64,
    /// `Ⅱ级`.
    pub level_name: String,
    pub territories: Vec<String>,
    pub activated_at: DateTime<Utc>,
    pub stood_down_at: Option<DateTime<Utc>>,
    pub instructions_total: i64,
    pub instructions_acknowledged: i64,
    /// Households of the area (the whole area, whatever the caller's scope).
    pub households_total: i64,
    /// Counts over the villages shown (all of them for a caller who covers the area).
    #[schema(value_type = Object)]
    pub rollcall: RollCallCounts,
    pub summary: String,
    /// Per village, by code (only the villages the caller has to do with).
    pub villages: Vec<VillageView>,
    /// Whether this caller may change the level, give orders and stand down.
    pub can_command: bool,
}

fn area(i: &IncidentRow) -> &[TerritoryCode] {
    &i.territories
}

/// Whether the caller has to do with the incident at all.
fn touches(caller: &Caller, i: &IncidentRow) -> bool {
    emergency::area_touches(area(i), &caller.principal.scope)
}

fn commands_role(role: Role) -> bool {
    matches!(role, Role::Leader | Role::CenterOperator)
}

/// Whether the caller may command the incident (its whole area is inside his scope).
fn commands(caller: &Caller, i: &IncidentRow) -> bool {
    commands_role(caller.role())
        && area(i)
            .iter()
            .all(|c| caller.principal.check_scope(c).is_ok())
}

fn parse_status(s: &str) -> AppResult<IncidentStatus> {
    IncidentStatus::parse(s).ok_or_else(|| AppError::Internal(format!("incident status {s}")))
}

fn level_of(i: &IncidentRow) -> AppResult<ResponseLevel> {
    ResponseLevel::new(i.level).map_err(|e| AppError::Internal(format!("incident {}: {e}", i.id)))
}

fn incident_plan(i: &IncidentRow) -> AppResult<Plan> {
    serde_json::from_str(&i.plan_body)
        .map_err(|e| AppError::Internal(format!("plan of incident {}: {e}", i.id)))
}

/// Load an incident the caller has to do with, or 404 (403 when it exists outside his scope).
pub async fn load(state: &AppState, caller: &Caller, id: i64) -> AppResult<IncidentRow> {
    let i = state
        .db
        .incident(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("incident {id}")))?;
    if !touches(caller, &i) {
        return Err(AppError::Forbidden(format!(
            "incident {id} is outside the scope {} of this account",
            caller.principal.scope
        )));
    }
    Ok(i)
}

async fn view(state: &AppState, caller: &Caller, i: &IncidentRow) -> AppResult<IncidentView> {
    let plan = incident_plan(i)?;
    let level = level_of(i)?;
    let scope = &caller.principal.scope;
    let mut total = RollCallCounts::default();
    let mut villages = Vec::new();
    for v in state.db.incident_village_counts(i.id).await? {
        let code = TerritoryCode::parse(&v.village)
            .map_err(|e| AppError::Internal(format!("village {}: {e}", v.village)))?;
        if !(scope.covers(&code) || code.covers(scope)) {
            continue;
        }
        total.add(&v.counts);
        villages.push(VillageView {
            summary: v.counts.summary_zh(),
            code: v.village,
            name: v.name,
            households: v.households,
            rollcall: v.counts,
        });
    }
    Ok(IncidentView {
        id: i.id,
        status: i.status.clone(),
        plan: i.plan.clone(),
        plan_name: plan.name.clone(),
        hazard: plan.hazard.as_str().to_owned(),
        title: i.title.clone(),
        level: i.level,
        level_name: level.to_string(),
        territories: i.territories.iter().map(|c| c.to_string()).collect(),
        activated_at: i.activated_at,
        stood_down_at: i.stood_down_at,
        instructions_total: i.instructions_total,
        instructions_acknowledged: i.instructions_acknowledged,
        households_total: i.households_total,
        summary: total.summary_zh(),
        rollcall: total,
        villages,
        can_command: commands(caller, i),
    })
}

/// The lowest node covering the whole area of an incident: its live events are published there
/// (`GET /api/v1/events` of that node and of every node above it shows them), and its board
/// listens there.
pub fn incident_node(area: &[TerritoryCode]) -> Option<TerritoryCode> {
    let mut node = area.first()?.clone();
    while !area.iter().all(|t| node.covers(t)) {
        node = node.parent()?;
    }
    Some(node)
}

/// The node whose event stream a caller's board of this incident listens to: the incident's
/// node when the caller's scope covers it, else the caller's own part of it; `None` when they
/// do not meet (the board then polls only).
pub fn board_stream_node(caller: &Caller, v: &IncidentView) -> Option<TerritoryCode> {
    let area: Vec<TerritoryCode> = v
        .territories
        .iter()
        .filter_map(|c| TerritoryCode::parse(c).ok())
        .collect();
    let node = incident_node(&area)?;
    let scope = &caller.principal.scope;
    if scope.covers(&node) {
        Some(node)
    } else if node.covers(scope) {
        Some(scope.clone())
    } else {
        None
    }
}

/// How often at most a busy incident's roll call or acknowledgements become a live event.
const LIVE_GAP: std::time::Duration = std::time::Duration::from_secs(1);

/// Tell the live streams that an incident changed (after the change committed). The event
/// carries no figures: a board fetches its exact counts when it hears one. A failure to
/// publish is logged and not the caller's error: the change itself is saved, and boards also
/// poll.
async fn announce(state: &AppState, i: &IncidentRow, kind: &str, mut body: serde_json::Value) {
    let Some(node) = incident_node(&i.territories) else {
        return;
    };
    body["incident"] = i.id.to_string().into();
    let event = crate::events::LiveEvent {
        kind: kind.to_owned(),
        territory: node,
        case_id: None,
        at: state.clock.now(),
        body,
    };
    let published = if matches!(kind, "incident_rollcall" | "incident_acknowledged") {
        let key = format!("{kind}:{}", i.id);
        state.events.publish_throttled(&key, LIVE_GAP, event).await
    } else {
        state.events.publish(event).await
    };
    if let Err(err) = published {
        tracing::warn!(incident.id = i.id, kind, error = %err, "live event not published");
    }
}

/// An activation, parsed at the edge.
#[derive(Debug, Clone)]
pub struct ActivateInput {
    pub plan: String,
    pub territories: Vec<TerritoryCode>,
    pub level: ResponseLevel,
    pub title: String,
}

/// Activate a plan on a set of nodes (一声令).
pub async fn activate(
    state: &AppState,
    caller: &Caller,
    input: ActivateInput,
) -> AppResult<IncidentView> {
    if !commands_role(caller.role()) {
        return Err(AppError::Forbidden(
            "plans are activated by a leader or a centre operator".into(),
        ));
    }
    let area = emergency::normalize_area(&input.territories)?;
    for c in &area {
        caller.scoped(c)?;
        if state.db.territory(c).await?.is_none() {
            return Err(AppError::unprocessable(
                "territories",
                format!("no territory {c}"),
            ));
        }
    }
    let plan_row = state
        .db
        .plans()
        .await?
        .into_iter()
        .find(|p| p.code == input.plan)
        .ok_or_else(|| AppError::unprocessable("plan", format!("no plan {:?}", input.plan)))?;
    let event = emergency::activate(input.level, &input.title)?;
    let now = state.clock.now();
    let title = match &event {
        IncidentEvent::Activated { title, .. } => title.clone(),
        _ => input.title.clone(),
    };
    let started = std::time::Instant::now();
    let row = state
        .db
        .activate_incident(NewIncident {
            plan: plan_row.code.clone(),
            plan_body: plan_row.body.clone(),
            title,
            level: input.level.number(),
            area,
            account: Some(caller.principal.account_id),
            at: now,
            day: now
                .with_timezone(&domain::clock::china_offset())
                .date_naive(),
            event_body: serde_json::to_string(&event)
                .map_err(|e| AppError::Internal(format!("event: {e}")))?,
        })
        .await?;
    tracing::info!(
        incident.id = row.id,
        incident.households = row.households_total,
        incident.instructions = row.instructions_total,
        ms = started.elapsed().as_millis() as u64,
        "emergency plan activated"
    );
    announce(
        state,
        &row,
        "incident_activated",
        serde_json::json!({ "status": row.status, "level": row.level, "title": row.title, "plan": row.plan }),
    )
    .await;
    view(state, caller, &row).await
}

pub async fn get(state: &AppState, caller: &Caller, id: i64) -> AppResult<IncidentView> {
    let i = load(state, caller, id).await?;
    view(state, caller, &i).await
}

/// An incident as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentSummary {
    pub id: i64,
    pub status: String,
    pub title: String,
    pub plan: String,
    pub level: i64,
    pub level_name: String,
    pub territories: Vec<String>,
    pub activated_at: DateTime<Utc>,
    pub households_total: i64,
}

/// The incidents the caller has to do with, newest first.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    active_only: bool,
) -> AppResult<Vec<IncidentSummary>> {
    let rows = state.db.incidents(active_only, 500).await?;
    Ok(rows
        .into_iter()
        .filter(|i| touches(caller, i))
        .map(|i| IncidentSummary {
            level_name: ResponseLevel::new(i.level)
                .map(|l| l.to_string())
                .unwrap_or_default(),
            id: i.id,
            status: i.status,
            title: i.title,
            plan: i.plan,
            level: i.level,
            territories: i.territories.iter().map(|c| c.to_string()).collect(),
            activated_at: i.activated_at,
            households_total: i.households_total,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Timeline: level changes, orders, situation reports, stand-down

/// A line of the timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub by: Option<String>,
    /// `activated`, `level_changed`, `report`, `order`, `stood_down`.
    pub kind: String,
    pub level: i64,
    pub level_name: String,
    /// What was said: the title, the reason, the report, the order or the summary.
    pub text: String,
    pub from_level: Option<i64>,
}

pub async fn timeline(state: &AppState, caller: &Caller, id: i64) -> AppResult<Vec<EventView>> {
    load(state, caller, id).await?;
    timeline_of(state, id).await
}

async fn timeline_of(state: &AppState, id: i64) -> AppResult<Vec<EventView>> {
    let rows = state.db.incident_events(id).await?;
    rows.into_iter()
        .map(|e| {
            let ev: IncidentEvent = serde_json::from_str(&e.body)
                .map_err(|err| AppError::Internal(format!("event {id}/{}: {err}", e.seq)))?;
            let (text, from) = match ev {
                IncidentEvent::Activated { title, .. } => (title, None),
                IncidentEvent::LevelChanged { from, reason, .. } => (reason, Some(from.number())),
                IncidentEvent::Report { text } | IncidentEvent::Order { text } => (text, None),
                IncidentEvent::StoodDown { summary } => (summary, None),
            };
            Ok(EventView {
                seq: e.seq,
                at: e.at,
                by: e.account_name,
                kind: e.kind,
                level: e.level,
                level_name: ResponseLevel::new(e.level)
                    .map(|l| l.to_string())
                    .unwrap_or_default(),
                text,
                from_level: from,
            })
        })
        .collect()
}

/// Run a command on an incident: level change, order, report, stand-down.
pub async fn command(
    state: &AppState,
    caller: &Caller,
    id: i64,
    cmd: IncidentCommand,
) -> AppResult<IncidentView> {
    let i = load(state, caller, id).await?;
    let allowed = match cmd {
        IncidentCommand::Report { .. } => commands_role(caller.role()),
        _ => commands(caller, &i),
    };
    if !allowed {
        return Err(AppError::Forbidden(
            "a leader or centre operator whose scope covers the whole area commands an incident \
             (situation reports: any leader or centre operator of the area)"
                .into(),
        ));
    }
    let st = IncidentState {
        status: parse_status(&i.status)?,
        level: level_of(&i)?,
    };
    let events = emergency::decide(&st, cmd)?;
    let mut next = st;
    let mut writes = Vec::new();
    for e in &events {
        next = emergency::apply(next, e);
        writes.push(NewEvent {
            kind: e.kind(),
            body: serde_json::to_string(e).map_err(|e| AppError::Internal(e.to_string()))?,
            level: next.level.number(),
            resend: matches!(e, IncidentEvent::LevelChanged { .. }),
            stand_down: matches!(e, IncidentEvent::StoodDown { .. }),
        });
    }
    let ok = state
        .db
        .append_incident_events(
            id,
            writes,
            Some(caller.principal.account_id),
            state.clock.now(),
        )
        .await?;
    if !ok {
        return Err(EmergencyError::StoodDown.into());
    }
    let after = load(state, caller, id).await?;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind()).collect();
    announce(
        state,
        &after,
        "incident_changed",
        serde_json::json!({ "status": after.status, "level": after.level, "events": kinds }),
    )
    .await;
    view(state, caller, &after).await
}

// ---------------------------------------------------------------------------------------------
// Roll call

/// One roll-call entry of a batch.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RollCallEntryIn {
    /// Household id (from `GET /api/v1/incidents/{id}/households`).
    pub household: i64,
    /// `safe`, `evacuated`, `injured`, `missing` or `unreached`.
    pub status: String,
    pub note: Option<String>,
    /// When the status was observed (the phone's clock, when it was taken offline); default
    /// now, and never later than now. The latest observation of a household stands.
    pub at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/incidents/{id}/rollcall`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RollCallRequest {
    /// At most 1,000 entries.
    pub entries: Vec<RollCallEntryIn>,
    /// The same key twice is applied once (an offline queue resending).
    pub idempotency_key: Option<String>,
}

/// Roles that may do a roll call.
fn calls_roll(role: Role) -> bool {
    matches!(
        role,
        Role::HouseholdHead | Role::GridWorker | Role::CenterOperator | Role::Leader
    )
}

/// Record a roll-call batch.
pub async fn roll_call(
    state: &AppState,
    caller: &Caller,
    id: i64,
    req: RollCallRequest,
) -> AppResult<RollCallResult> {
    if !calls_roll(caller.role()) {
        return Err(AppError::Forbidden(
            "the roll call is done by household heads, grid workers and centres".into(),
        ));
    }
    if req.entries.is_empty() || req.entries.len() > MAX_BATCH {
        return Err(AppError::unprocessable(
            "entries",
            format!("1 to {MAX_BATCH} entries per batch"),
        ));
    }
    let key = match req.idempotency_key.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(k) if k.chars().count() > MAX_KEY => {
            return Err(AppError::unprocessable(
                "idempotency_key",
                format!("at most {MAX_KEY} characters"),
            ));
        }
        Some(k) => Some(k.to_owned()),
    };
    let now = state.clock.now();
    let mut reports = Vec::with_capacity(req.entries.len());
    for (k, e) in req.entries.iter().enumerate() {
        let status = RollCallStatus::parse(&e.status).ok_or_else(|| {
            AppError::unprocessable(
                "status",
                format!(
                    "entry {k}: {:?} is not safe, evacuated, injured, missing or unreached",
                    e.status
                ),
            )
        })?;
        let note = match e.note.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > MAX_NOTE => {
                return Err(AppError::unprocessable(
                    "note",
                    format!("entry {k}: at most {MAX_NOTE} characters"),
                ));
            }
            Some(n) => Some(n.to_owned()),
        };
        reports.push(Report {
            household: e.household,
            status,
            at: e.at.map_or(now, |t| t.min(now)),
            note,
        });
    }
    let i = load(state, caller, id).await?;
    let ids: Vec<i64> = reports.iter().map(|r| r.household).collect();
    let places: HashMap<i64, store::emergency::HouseholdPlace> = state
        .db
        .incident_household_places(i.id, &ids)
        .await?
        .into_iter()
        .map(|p| (p.household, p))
        .collect();
    for r in &reports {
        let Some(p) = places.get(&r.household) else {
            return Err(AppError::unprocessable(
                "household",
                format!("household {} is not in incident {id}", r.household),
            ));
        };
        let at = p.group.as_deref().unwrap_or(&p.grid);
        let code = TerritoryCode::parse(at)
            .map_err(|e| AppError::Internal(format!("household place {at}: {e}")))?;
        caller.scoped(&code)?;
    }
    match state
        .db
        .record_rollcall(
            i.id,
            key.as_deref(),
            Some(caller.principal.account_id),
            now,
            &reports,
        )
        .await?
    {
        Ok(r) => {
            announce(state, &i, "incident_rollcall", serde_json::json!({})).await;
            Ok(r)
        }
        Err(RollCallRefusal::NoSuchIncident) => Err(AppError::NotFound(format!("incident {id}"))),
        Err(RollCallRefusal::StoodDown) => Err(EmergencyError::StoodDown.into()),
    }
}

/// A household of an incident as shown to a caller: the head's contact masked unless the role
/// sees personal data (as every household view does).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentHouseholdView {
    pub household: i64,
    pub village: String,
    pub grid: String,
    pub group: Option<String>,
    pub status: String,
    pub status_name: String,
    pub status_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Reports in the household's history.
    pub reports: i64,
    pub head_name: String,
    pub phone: String,
    pub address: String,
    pub masked: bool,
}

/// A page of households.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncidentHouseholdPage {
    pub items: Vec<IncidentHouseholdView>,
    pub next_cursor: Option<String>,
}

/// The households of an incident inside the caller's scope (and `territory`, if given), with
/// their status.
pub async fn households(
    state: &AppState,
    caller: &Caller,
    id: i64,
    status: Option<RollCallStatus>,
    territory: Option<TerritoryCode>,
    after: i64,
    limit: i64,
) -> AppResult<IncidentHouseholdPage> {
    let i = load(state, caller, id).await?;
    let within = match territory {
        Some(t) => caller.scoped(&t)?.code().clone(),
        None => caller.principal.scope.clone(),
    };
    // A caller above the area sees all of it; one inside sees his own part.
    let prefix = if i.territories.iter().all(|a| within.covers(a)) {
        String::new()
    } else {
        within.subtree_prefix().to_owned()
    };
    let rows = state
        .db
        .incident_households(i.id, status, &prefix, after, limit)
        .await?;
    let masked = !caller.role().sees_personal_data();
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.household.to_string()))
        .flatten();
    // Heads' phones and addresses shown unmasked (board, API, after-action report): one reveal
    // per answer, written before anything is shown.
    if !masked && !rows.is_empty() {
        let ids: Vec<String> = rows.iter().map(|r| r.household.to_string()).collect();
        crate::actions::audit::reveal(
            state,
            caller,
            crate::actions::audit::Reveal {
                kind: "households",
                id: ids.join(","),
                territory: Some(within.as_str()),
                fields: &["phone", "address"],
                via: "incident households",
            },
        )
        .await?;
    }
    let items = rows
        .into_iter()
        .map(|r| IncidentHouseholdView {
            status_name: RollCallStatus::parse(&r.status)
                .map(|s| s.name_zh().to_owned())
                .unwrap_or_default(),
            household: r.household,
            village: r.village,
            grid: r.grid,
            group: r.group,
            status: r.status,
            status_at: r.status_at,
            note: r.note,
            reports: r.version,
            head_name: r.head_name,
            phone: if masked {
                domain::text::mask_phone(&r.phone)
            } else {
                r.phone
            },
            address: if masked {
                domain::text::mask_address(&r.address)
            } else {
                r.address
            },
            masked,
        })
        .collect();
    Ok(IncidentHouseholdPage { items, next_cursor })
}

/// One report of a household's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RollCallHistoryView {
    pub version: i64,
    pub status: String,
    pub observed_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub account: Option<i64>,
    pub note: Option<String>,
    /// Whether it was the latest observation when it arrived.
    pub current: bool,
}

/// Every report about one household, oldest first.
pub async fn household_history(
    state: &AppState,
    caller: &Caller,
    id: i64,
    household: i64,
) -> AppResult<Vec<RollCallHistoryView>> {
    let i = load(state, caller, id).await?;
    let places = state
        .db
        .incident_household_places(i.id, &[household])
        .await?;
    let p = places
        .first()
        .ok_or_else(|| AppError::NotFound(format!("household {household} in incident {id}")))?;
    let at = p.group.as_deref().unwrap_or(&p.grid);
    let code = TerritoryCode::parse(at).map_err(|e| AppError::Internal(e.to_string()))?;
    caller.scoped(&code)?;
    Ok(state
        .db
        .rollcall_history(i.id, household)
        .await?
        .into_iter()
        .map(|h| RollCallHistoryView {
            version: h.version,
            status: h.status,
            observed_at: h.observed_at,
            recorded_at: h.recorded_at,
            account: h.account,
            note: h.note,
            current: h.current,
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Instructions

/// An instruction with the plan's text for its role and level.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstructionView {
    pub incident: i64,
    pub incident_title: String,
    /// The instruction's number within its incident (`…/instructions/{seq}/ack`).
    pub seq: i64,
    /// `militia`, `grid_worker`, `household_head`, `cadre`, `department`, `centre`.
    pub role: String,
    pub role_name: String,
    pub recipient: String,
    /// The member's phone: unmasked (and audited) for those who command the incident or see
    /// personal data, masked for the others.
    pub phone: Option<String>,
    pub territory: String,
    pub level: i64,
    pub text_zh: String,
    pub text_bo: String,
    pub checklist: Vec<String>,
    pub sent_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

fn instruction_view(i: &IncidentRow, plan: &Plan, r: InstructionRow) -> InstructionView {
    let role = TaskRole::parse(&r.role).unwrap_or(TaskRole::Cadre);
    let task = ResponseLevel::new(r.level)
        .ok()
        .and_then(|l| plan.task(l, role));
    InstructionView {
        incident: i.id,
        incident_title: i.title.clone(),
        seq: r.seq,
        role: r.role,
        role_name: role.name_zh().to_owned(),
        recipient: r.member_name.or(r.unit_name).unwrap_or_default(),
        phone: r.member_phone,
        territory: r.territory,
        level: r.level,
        text_zh: task.map(|t| t.text_zh.clone()).unwrap_or_default(),
        text_bo: task.map(|t| t.text_bo.clone()).unwrap_or_default(),
        checklist: task.map(|t| t.checklist.clone()).unwrap_or_default(),
        sent_at: r.sent_at,
        acknowledged_at: r.acknowledged_at,
    }
}

/// The instructions addressed to the caller (the member behind the account, or its unit), in
/// active incidents.
pub async fn my_instructions(state: &AppState, caller: &Caller) -> AppResult<Vec<InstructionView>> {
    let member = state.db.account_member(caller.principal.account_id).await?;
    let unit = caller.principal.unit.as_deref();
    if member.is_none() && unit.is_none() {
        return Ok(Vec::new());
    }
    let rows = state.db.instructions_for(member, unit).await?;
    let mut incidents: HashMap<i64, (IncidentRow, Plan)> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if let std::collections::hash_map::Entry::Vacant(slot) = incidents.entry(r.incident) {
            let Some(i) = state.db.incident(r.incident).await? else {
                continue;
            };
            let plan = incident_plan(&i)?;
            slot.insert((i, plan));
        }
        if let Some((i, plan)) = incidents.get(&r.incident) {
            out.push(instruction_view(i, plan, r));
        }
    }
    Ok(out)
}

/// Acknowledge an instruction addressed to the caller (a second time changes nothing).
pub async fn acknowledge(
    state: &AppState,
    caller: &Caller,
    id: i64,
    seq: i64,
) -> AppResult<InstructionView> {
    let i = state
        .db
        .incident(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("incident {id}")))?;
    let r = state
        .db
        .instruction(id, seq)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("instruction {seq} of incident {id}")))?;
    let member = state.db.account_member(caller.principal.account_id).await?;
    let mine = (r.member.is_some() && r.member == member)
        || (r.unit.is_some() && r.unit == caller.principal.unit);
    if !mine {
        return Err(AppError::Forbidden(
            "only its recipient acknowledges an instruction".into(),
        ));
    }
    if parse_status(&i.status)? == IncidentStatus::StoodDown {
        return Err(EmergencyError::StoodDown.into());
    }
    state
        .db
        .acknowledge_instruction(id, seq, caller.principal.account_id, state.clock.now())
        .await?;
    announce(state, &i, "incident_acknowledged", serde_json::json!({})).await;
    let r = state
        .db
        .instruction(id, seq)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("instruction {seq}")))?;
    Ok(instruction_view(&i, &incident_plan(&i)?, r))
}

/// Instructions of an incident not yet acknowledged (the board), by seq after `after`.
pub async fn open_instructions(
    state: &AppState,
    caller: &Caller,
    id: i64,
    after: i64,
    limit: i64,
) -> AppResult<Vec<InstructionView>> {
    let i = load(state, caller, id).await?;
    let plan = incident_plan(&i)?;
    let rows = state
        .db
        .incident_instructions(id, true, after, limit)
        .await?;
    // Members' phones are what the command rings when an instruction goes unacknowledged:
    // shown to those who command or see personal data, and then written to the audit log (one
    // reveal per answer, naming the members) before anything is shown; masked for the others.
    let masked = !caller.role().sees_personal_data() && !commands_role(caller.role());
    if !masked {
        let mut members: Vec<i64> = rows
            .iter()
            .filter(|r| r.member_phone.as_deref().is_some_and(|p| !p.is_empty()))
            .filter_map(|r| r.member)
            .collect();
        members.sort_unstable();
        members.dedup();
        if !members.is_empty() {
            let ids: Vec<String> = members.iter().map(i64::to_string).collect();
            crate::actions::audit::reveal(
                state,
                caller,
                crate::actions::audit::Reveal {
                    kind: "members",
                    id: ids.join(","),
                    territory: i.territories.first().map(TerritoryCode::as_str),
                    fields: &["phone"],
                    via: "incident instructions",
                },
            )
            .await?;
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut v = instruction_view(&i, &plan, r);
            if masked {
                v.phone = v.phone.map(|p| domain::text::mask_phone(&p));
            }
            v
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// After-action report

/// What the after-action report holds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AfterActionReport {
    pub incident: IncidentView,
    pub timeline: Vec<EventView>,
    /// Households still missing or injured, and those never reached.
    pub missing: Vec<IncidentHouseholdView>,
    pub injured: Vec<IncidentHouseholdView>,
    pub unreached: Vec<IncidentHouseholdView>,
    /// Instructions never acknowledged (first 1,000).
    pub unacknowledged: Vec<InstructionView>,
    /// Minutes from activation to stand-down (or to now, while active).
    pub duration_minutes: i64,
    /// The instructions' acknowledgement, round by round: the activation, then each level
    /// change (which sends every instruction again).
    pub rounds: Vec<AckRoundView>,
}

/// One round of the instructions (see [`domain::emergency::AckRound`]).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AckRoundView {
    pub level: i64,
    pub level_name: String,
    pub sent_at: DateTime<Utc>,
    pub instructions: i64,
    pub acknowledged: i64,
    /// Minutes from sending to acknowledgement, median and 90th percentile.
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

/// The acknowledgement of an incident's instructions, round by round.
async fn ack_rounds_of(
    state: &AppState,
    id: i64,
    instructions: i64,
) -> AppResult<Vec<AckRoundView>> {
    let starts: Vec<(i64, DateTime<Utc>)> = state
        .db
        .incident_events(id)
        .await?
        .into_iter()
        .filter(|e| matches!(e.kind.as_str(), "activated" | "level_changed"))
        .map(|e| (e.level, e.at))
        .collect();
    let acks = state.db.incident_acknowledgements(id).await?;
    Ok(domain::emergency::ack_rounds(&starts, instructions, &acks)
        .into_iter()
        .map(|r| AckRoundView {
            level_name: ResponseLevel::new(r.level)
                .map(|l| l.to_string())
                .unwrap_or_default(),
            level: r.level,
            sent_at: r.sent_at,
            instructions: r.instructions,
            acknowledged: r.acknowledged,
            median_minutes: r.median_minutes,
            p90_minutes: r.p90_minutes,
        })
        .collect())
}

pub async fn after_action(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> AppResult<AfterActionReport> {
    let incident = get(state, caller, id).await?;
    let timeline = timeline_of(state, id).await?;
    let list = |s| households(state, caller, id, Some(s), None, 0, 1000);
    let missing = list(RollCallStatus::Missing).await?.items;
    let injured = list(RollCallStatus::Injured).await?.items;
    let unreached = list(RollCallStatus::Unreached).await?.items;
    let unacknowledged = open_instructions(state, caller, id, 0, 1000).await?;
    let end = incident.stood_down_at.unwrap_or_else(|| state.clock.now());
    let rounds = ack_rounds_of(state, id, incident.instructions_total).await?;
    Ok(AfterActionReport {
        rounds,
        duration_minutes: (end - incident.activated_at).num_minutes(),
        incident,
        timeline,
        missing,
        injured,
        unreached,
        unacknowledged,
    })
}
