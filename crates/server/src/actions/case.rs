//! Cases: intake (through the group-commit writer), reading, listing and acting, written once
//! for every door.

use chrono::{DateTime, Utc};
use domain::TerritoryCode;
use domain::account::Role;
use domain::case::{
    self, Actor, Case, CaseError, Command, Event, HandleResult, Satisfaction, SuperviseLevel,
    UnitRef, Urgency,
};
use domain::coord::{Datum, GeoPoint};
use domain::people::Unit;
use domain::routing::{self, Place, Route, UnitDirectory};
use domain::rules::Rules;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use store::cases::{
    CaseFilter, CaseRecord, CounterChange, EventRecord, TimerRecord, TransitionWrite,
};

use crate::auth::{Caller, InScope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Longest description accepted (characters).
pub const MAX_DESCRIPTION: usize = 5_000;
const MAX_TITLE: usize = 200;
const MAX_KEY: usize = 100;

/// A new case, parsed at the edge: past this point every field is valid.
#[derive(Debug, Clone)]
pub struct NewCaseInput {
    pub category: String,
    pub description: String,
    pub title: Option<String>,
    pub urgency: Urgency,
    pub location: Option<GeoPoint>,
    pub territory: Option<TerritoryCode>,
    pub channel: case::Channel,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub idempotency_key: Option<String>,
}

/// The body of `POST /api/v1/cases`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CreateCaseRequest {
    /// A category code from `GET /api/v1/categories`.
    pub category: String,
    pub description: String,
    pub title: Option<String>,
    /// `normal` (default) or `urgent`.
    pub urgency: Option<String>,
    pub location: Option<LocationIn>,
    /// Where the case is when it has no location (a node inside the caller's scope).
    pub territory: Option<String>,
    /// Channel code; defaults by role (grid workers: `field_app`, others: `walk_in`).
    pub channel: Option<String>,
    pub reporter: Option<ReporterIn>,
    /// The same key twice creates one case and returns it both times.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct LocationIn {
    pub lat: f64,
    pub lng: f64,
    /// `wgs84` (default) or `gcj02`.
    pub datum: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ReporterIn {
    pub name: Option<String>,
    pub phone: Option<String>,
}

fn text_field(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::unprocessable(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if v.chars().count() > max {
        return Err(AppError::unprocessable(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text_field(field, v, max).map(Some),
    }
}

/// Parse the datum and coordinates of a location.
pub fn parse_location(loc: &LocationIn) -> AppResult<GeoPoint> {
    let datum = match loc
        .datum
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("wgs84") => Datum::Wgs84,
        Some("gcj02") => Datum::Gcj02,
        Some(other) => {
            return Err(AppError::unprocessable(
                "location.datum",
                format!("{other:?}: expected wgs84 or gcj02"),
            ));
        }
    };
    GeoPoint::from_datum(loc.lng, loc.lat, datum)
        .map_err(|e| AppError::unprocessable("location", e.to_string()))
}

impl CreateCaseRequest {
    /// Parse at the edge. `default_channel` is the door's channel.
    pub fn parse(&self, rules: &Rules, default_channel: case::Channel) -> AppResult<NewCaseInput> {
        let category = self.category.trim();
        if rules.taxonomy.get(category).is_none() {
            return Err(AppError::unprocessable(
                "category",
                format!("unknown category {category:?}; see GET /api/v1/categories"),
            ));
        }
        let urgency = match self.urgency.as_deref().map(str::trim) {
            None | Some("") => Urgency::Normal,
            Some(u) => Urgency::parse(u)
                .ok_or_else(|| AppError::unprocessable("urgency", "expected normal or urgent"))?,
        };
        let channel = match self.channel.as_deref().map(str::trim) {
            None | Some("") => default_channel,
            Some(c) => case::Channel::parse(c).ok_or_else(|| {
                AppError::unprocessable("channel", format!("unknown channel {c:?}"))
            })?,
        };
        let idempotency_key = match self.idempotency_key.as_deref() {
            None => None,
            Some(k) => {
                let ok = !k.is_empty()
                    && k.len() <= MAX_KEY
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
                if !ok {
                    return Err(AppError::unprocessable(
                        "idempotency_key",
                        "1 to 100 characters of A-Z a-z 0-9 - _ . :",
                    ));
                }
                Some(k.to_owned())
            }
        };
        let territory = match self.territory.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(crate::actions::territory::parse_code("territory", t)?),
        };
        Ok(NewCaseInput {
            category: category.to_owned(),
            description: text_field("description", &self.description, MAX_DESCRIPTION)?,
            title: optional_text("title", self.title.as_deref(), MAX_TITLE)?,
            urgency,
            location: self.location.as_ref().map(parse_location).transpose()?,
            territory,
            channel,
            reporter_name: optional_text(
                "reporter.name",
                self.reporter.as_ref().and_then(|r| r.name.as_deref()),
                50,
            )?,
            reporter_phone: optional_text(
                "reporter.phone",
                self.reporter.as_ref().and_then(|r| r.phone.as_deref()),
                20,
            )?,
            idempotency_key,
        })
    }
}

/// A unit directory over the cached units.
pub struct Units<'a>(pub &'a std::collections::HashMap<String, Unit>);

impl UnitDirectory for Units<'_> {
    fn unit(&self, code: &str) -> Option<Unit> {
        self.0.get(code).cloned()
    }
}

/// Where a new case goes: locate it, then let the category's rules pick the centre.
pub async fn route_case(
    state: &AppState,
    caller: Option<&Caller>,
    input: &NewCaseInput,
) -> AppResult<Route> {
    let place = match (&input.location, &input.territory, caller) {
        (Some(p), _, _) => {
            let index = crate::actions::territory::grid_index(state).await?;
            Place::Located(index.locate(p.to_point()).cloned())
        }
        (None, Some(t), _) => Place::Chosen(t.clone()),
        (None, None, Some(c)) if c.role() == Role::GridWorker => {
            Place::WorkerGrid(c.principal.scope.clone())
        }
        (None, None, Some(c)) => Place::Chosen(c.principal.scope.clone()),
        (None, None, None) => {
            return Err(AppError::unprocessable(
                "location",
                "give a location or a territory",
            ));
        }
    };
    let rules = state.rules.read().await;
    let category = rules
        .taxonomy
        .get(&input.category)
        .ok_or_else(|| AppError::unprocessable("category", "unknown category"))?
        .clone();
    drop(rules);
    let units = crate::actions::people::unit_map(state).await?;
    routing::route(&place, &category, input.urgency, &Units(&units)).map_err(|e| match e {
        routing::RoutingError::OutsideTerritory => {
            AppError::unprocessable("location", "the location lies outside the prefecture")
        }
        routing::RoutingError::UnknownTerritory(t) => {
            AppError::unprocessable("territory", format!("unknown territory {t}"))
        }
        other => AppError::unprocessable("territory", other.to_string()),
    })
}

/// `POST /api/v1/cases`: parse, check scope, route, and hand to the group-commit writer.
pub async fn create_case(
    state: &AppState,
    caller: Option<&Caller>,
    input: NewCaseInput,
) -> AppResult<(CaseRecord, bool)> {
    create_case_with_files(state, caller, input, vec![]).await
}

/// [`create_case`] with checked photos and audio notes, committed with the case (all or
/// nothing). The public reporting door and the field app's reports use it.
pub async fn create_case_with_files(
    state: &AppState,
    caller: Option<&Caller>,
    mut input: NewCaseInput,
    files: Vec<domain::attachment::Checked>,
) -> AppResult<(CaseRecord, bool)> {
    // A key names one client's request: each account has its own key space.
    input.idempotency_key = input.idempotency_key.take().map(|k| match caller {
        Some(c) => format!("{}:{k}", c.principal.account_id),
        None => format!("public:{k}"),
    });
    if let Some(key) = &input.idempotency_key
        && let Some(id) = state.db.case_id_by_key(key).await?
    {
        let rec = state
            .db
            .case_by_id(id)
            .await?
            .ok_or_else(|| AppError::Internal(format!("case {id} vanished")))?;
        return Ok((rec, false));
    }
    let route = route_case(state, caller, &input).await?;
    if let Some(c) = caller {
        c.scoped(&route.territory)?;
    }
    let by = caller.map(|c| Actor::from(&c.principal));
    state
        .intake
        .submit_with_files(input, route, by, files)
        .await
}

/// The engine's case from its stored row.
pub fn engine_case(rec: &CaseRecord) -> AppResult<Case> {
    serde_json::from_str(&rec.state)
        .map_err(|e| AppError::Internal(format!("stored state of case {}: {e}", rec.id)))
}

/// Load a case the caller may see.
pub async fn load_case(state: &AppState, caller: &Caller, id: i64) -> AppResult<CaseRecord> {
    let rec = state
        .db
        .case_by_id(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("case {id}")))?;
    let territory = crate::actions::territory::parse_code("territory", &rec.territory)?;
    let centre = crate::actions::territory::parse_code("centre", &rec.centre)?;
    // Seen by everyone whose scope covers the place, and by the units it was sent to.
    let held = caller.principal.unit.as_deref() == Some(rec.handling_unit.as_str());
    if !held && caller.scoped(&centre).is_err() {
        caller.scoped(&territory)?;
    }
    Ok(rec)
}

/// The stored records of the events and counter changes a transition makes.
pub fn event_record(e: &Event) -> AppResult<EventRecord> {
    Ok(EventRecord {
        case_id: e.case_id,
        seq: i64::from(e.seq),
        at: e.at,
        action: e.action().to_owned(),
        by_account: e.by.as_ref().map(|b| b.account_id),
        by_role: e.by.as_ref().map(|b| b.role.as_str().to_owned()),
        by_level: e.by.as_ref().map(|b| b.level.as_str().to_owned()),
        from_status: e.from_status.map(|s| s.as_str().to_owned()),
        to_status: e.to_status.as_str().to_owned(),
        body: serde_json::to_string(e).map_err(|err| AppError::Internal(err.to_string()))?,
    })
}

pub fn counter_changes(before: &Case, event: &Event, after: &Case) -> Vec<CounterChange> {
    case::counter_deltas(before, event, after)
        .into_iter()
        .map(|d| CounterChange {
            unit: d.unit,
            day: d.day,
            counter: d.counter.as_str().to_owned(),
            delta: d.delta,
        })
        .collect()
}

/// Fold decided events into the case, with the counter changes and stored records they make.
pub fn apply_events(
    before: &Case,
    events: &[Event],
) -> AppResult<(Case, Vec<CounterChange>, Vec<EventRecord>)> {
    let mut after = before.clone();
    let mut counters = Vec::new();
    let mut records = Vec::with_capacity(events.len());
    for e in events {
        let next = case::apply(after.clone(), e);
        counters.extend(counter_changes(&after, e, &next));
        records.push(event_record(e)?);
        after = next;
    }
    Ok((after, counters, records))
}

/// The supervision timers of a case as it stands.
pub fn timers(rules: &Rules, case: &Case) -> Vec<TimerRecord> {
    match rules.card_times(case) {
        Some(t) if !case.status.is_terminal() => vec![
            TimerRecord {
                case_id: case.id,
                kind: "yellow_card".into(),
                version: i64::from(case.version),
                due_at: t.yellow,
            },
            TimerRecord {
                case_id: case.id,
                kind: "red_card".into(),
                version: i64::from(case.version),
                due_at: t.red,
            },
        ],
        _ => vec![],
    }
}

/// The stored row of a case after a transition (content fields kept from `prev`).
pub fn record_of(prev: &CaseRecord, case: &Case) -> AppResult<CaseRecord> {
    prev.clone()
        .with_state(case)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// The fields an action body names, read as [`parse_command`] reads them (for the fuzz target:
/// everything of the command parser that does not need the database).
pub fn command_fields(body: &Json) -> AppResult<Vec<&str>> {
    let mut out = vec![str_param(body, "action")?];
    for f in [
        "reason",
        "redirect",
        "to",
        "note",
        "result",
        "satisfaction",
        "until",
        "hours",
    ] {
        if let Ok(v) = str_param(body, f) {
            out.push(v);
        }
    }
    Ok(out)
}

fn str_param<'a>(body: &'a Json, field: &str) -> AppResult<&'a str> {
    body.get(field)
        .and_then(Json::as_str)
        .ok_or_else(|| AppError::unprocessable(field, format!("{field} (text) is required")))
}

fn bool_param(body: &Json, field: &str) -> AppResult<bool> {
    body.get(field)
        .and_then(Json::as_bool)
        .ok_or_else(|| AppError::unprocessable(field, format!("{field} (true/false) is required")))
}

async fn unit_param(state: &AppState, body: &Json) -> AppResult<UnitRef> {
    let code = body
        .get("to")
        .and_then(|t| t.get("unit"))
        .and_then(Json::as_str)
        .ok_or_else(|| {
            AppError::unprocessable("to.unit", "to: {\"unit\": UNIT_CODE} is required")
        })?;
    let units = crate::actions::people::unit_map(state).await?;
    let u = units
        .get(code)
        .ok_or_else(|| AppError::unprocessable("to.unit", format!("unknown unit {code:?}")))?;
    Ok(UnitRef {
        code: u.code.clone(),
        kind: u.kind,
        territory: u.territory.clone(),
    })
}

fn parse_result(body: &Json) -> AppResult<HandleResult> {
    let r = str_param(body, "result")?;
    HandleResult::parse(r).ok_or_else(|| {
        AppError::unprocessable("result", "expected solved, partly_solved or unsolved")
    })
}

/// Parse an action body (`{"action": NAME, …}`) into a command for `case`.
pub async fn parse_command(state: &AppState, case: &Case, body: &Json) -> AppResult<Command> {
    let name = str_param(body, "action")?;
    let owned = |f: &str| str_param(body, f).map(str::to_owned);
    Ok(match name {
        "accept" => Command::Accept,
        "reject" => Command::Reject {
            reason: owned("reason")?,
            redirect: body
                .get("redirect")
                .and_then(Json::as_str)
                .map(str::to_owned),
        },
        "merge" => Command::Merge {
            into: body
                .get("into")
                .and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                })
                .ok_or_else(|| AppError::unprocessable("into", "into: CASE_ID is required"))?,
        },
        "dispatch" => Command::Dispatch {
            to: unit_param(state, body).await?,
        },
        "sign" => Command::Sign,
        "send_back" => Command::SendBack {
            reason: owned("reason")?,
        },
        "escalate" => {
            let parent = routing::escalation_target(&case.centre).ok_or_else(|| {
                AppError::Conflict("the prefecture centre has no level above it".into())
            })?;
            Command::Escalate {
                reason: owned("reason")?,
                to: UnitRef::centre(&parent),
            }
        }
        "transfer" => Command::Transfer {
            to: unit_param(state, body).await?,
            reason: body.get("reason").and_then(Json::as_str).map(str::to_owned),
        },
        "note" => Command::Note {
            text: owned("text")?,
        },
        "request_extension" => Command::RequestExtension {
            working_days: body
                .get("working_days")
                .and_then(Json::as_u64)
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| {
                    AppError::unprocessable("working_days", "a whole number of working days")
                })?,
            reason: owned("reason")?,
        },
        "decide_extension" => Command::DecideExtension {
            approve: bool_param(body, "approve")?,
        },
        "request_park" => Command::RequestPark {
            reason: owned("reason")?,
        },
        "decide_park" => Command::DecidePark {
            approve: bool_param(body, "approve")?,
        },
        "resume" => Command::Resume,
        "report_handled" => Command::ReportHandled {
            result: parse_result(body)?,
            text: owned("text")?,
        },
        "verify" => Command::Verify {
            passed: bool_param(body, "passed")?,
        },
        "revisit" => Command::Revisit {
            satisfaction: Satisfaction::parse(str_param(body, "satisfaction")?).ok_or_else(
                || {
                    AppError::unprocessable(
                        "satisfaction",
                        "expected very_satisfied, satisfied, understanding or unsatisfied",
                    )
                },
            )?,
        },
        "close" => Command::Close,
        "supervise" => Command::Supervise {
            level: match body.get("level").and_then(Json::as_str) {
                None => SuperviseLevel::Normal,
                Some(l) => SuperviseLevel::parse(l).ok_or_else(|| {
                    AppError::unprocessable("level", "expected normal, yellow or red")
                })?,
            },
            text: owned("text")?,
        },
        "mark_urgent" => Command::MarkUrgent,
        "self_handle" => Command::SelfHandle {
            result: parse_result(body)?,
            text: owned("text")?,
        },
        other => {
            return Err(AppError::unprocessable(
                "action",
                format!("unknown action {other:?}"),
            ));
        }
    })
}

/// The engine's refusal as an HTTP error.
pub fn case_error(e: CaseError) -> AppError {
    match e {
        CaseError::Forbidden { action } => {
            AppError::Forbidden(format!("this account may not {action} this case"))
        }
        e @ CaseError::NotAllowed { .. } => AppError::Conflict(e.to_string()),
        CaseError::Invalid { field, message } => AppError::unprocessable(field, message),
    }
}

/// `POST /api/v1/cases/{id}/actions`: load, decide, apply, and save in one transaction;
/// on a concurrent change, decide again on the fresh state.
pub async fn act(state: &AppState, caller: &Caller, id: i64, body: &Json) -> AppResult<CaseRecord> {
    Ok(act_once(state, caller, id, body).await?.0)
}

/// A client's idempotency key, checked (1 to 100 characters of `A-Z a-z 0-9 - _ . :`) and put
/// in the caller's own key space (`"<account>:<key>"`); `None` when none was sent.
pub fn scoped_key(caller: &Caller, raw: Option<&str>) -> AppResult<Option<String>> {
    let Some(k) = raw else { return Ok(None) };
    let ok = !k.is_empty()
        && k.len() <= MAX_KEY
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if !ok {
        return Err(AppError::unprocessable(
            "idempotency_key",
            "1 to 100 characters of A-Z a-z 0-9 - _ . :",
        ));
    }
    Ok(Some(format!("{}:{k}", caller.principal.account_id)))
}

/// The answer stored under a key of this caller for `kind` on case `id`, if the key was used;
/// a key used for something else is refused.
pub async fn stored_answer(
    state: &AppState,
    key: &str,
    kind: &str,
    id: i64,
) -> AppResult<Option<String>> {
    match state.db.request_key(key).await? {
        None => Ok(None),
        Some(k) if k.kind == kind && k.target == id => Ok(Some(k.answer)),
        Some(_) => Err(AppError::unprocessable(
            "idempotency_key",
            "this key was already used for another request",
        )),
    }
}

/// [`act`] with the body's optional `idempotency_key`: the key is stored with the case as the
/// action left it, in the action's transaction, so the same key again (from any server process
/// on the database) acts no more and answers that case again. The flag says it was a replay.
pub async fn act_once(
    state: &AppState,
    caller: &Caller,
    id: i64,
    body: &Json,
) -> AppResult<(CaseRecord, bool)> {
    let key = match body.get("idempotency_key") {
        None | Some(Json::Null) => None,
        Some(Json::String(k)) => scoped_key(caller, Some(k))?,
        Some(_) => {
            return Err(AppError::unprocessable(
                "idempotency_key",
                "idempotency_key is text",
            ));
        }
    };
    let actor = Actor::from(&caller.principal);
    for _attempt in 0..5 {
        if let Some(k) = &key
            && let Some(answer) = stored_answer(state, k, "case_action", id).await?
        {
            // Still the caller's to see (a scope may have changed since).
            load_case(state, caller, id).await?;
            let rec: CaseRecord = serde_json::from_str(&answer)
                .map_err(|e| AppError::Internal(format!("stored answer of a key: {e}")))?;
            return Ok((rec, true));
        }
        let rec = load_case(state, caller, id).await?;
        let before = engine_case(&rec)?;
        let command = parse_command(state, &before, body).await?;
        if let Command::Merge { into } = &command {
            let target = load_case(state, caller, *into).await?;
            if target.id == rec.id {
                return Err(AppError::unprocessable(
                    "into",
                    "a case cannot merge into itself",
                ));
            }
        }
        let now = state.clock.now();
        let rules = state.rules.read().await;
        let events = case::decide(&before, &command, &actor, &*rules, now).map_err(case_error)?;
        let write = transition_write(&rec, &before, &events, &rules)?;
        drop(rules);
        let record = write.record.clone();
        let request_key = match &key {
            Some(k) => Some(store::request_keys::NewRequestKey {
                key: k.clone(),
                kind: "case_action",
                target: id,
                answer: serde_json::to_string(&record)
                    .map_err(|e| AppError::Internal(e.to_string()))?,
                created_at: now,
            }),
            None => None,
        };
        match state
            .db
            .apply_transition_keyed(write, request_key.as_ref())
            .await?
        {
            store::cases::Keyed::Applied => return Ok((record, false)),
            // The key's first request won meanwhile: the next round answers with its result.
            store::cases::Keyed::KeyTaken => continue,
            store::cases::Keyed::Stale => {}
        }
        tracing::debug!(case.id = id, "concurrent change; deciding again");
    }
    Err(AppError::Conflict(
        "the case is being changed by others right now; try again".into(),
    ))
}

/// Everything a decided transition writes: the new row, the events, the counters, the timers.
pub fn transition_write(
    rec: &CaseRecord,
    before: &Case,
    events: &[Event],
    rules: &Rules,
) -> AppResult<TransitionWrite> {
    let (after, counters, records) = apply_events(before, events)?;
    Ok(TransitionWrite {
        expected_version: rec.version,
        record: record_of(rec, &after)?,
        events: records,
        counters,
        timers: timers(rules, &after),
        attachments: vec![],
    })
}

/// The reporter's answer at the return visit, from the tracking page or an Open311 client: the
/// same `revisit` action as the centre's (the engine's [`case::decide_by_reporter`]), saved by
/// the same transition write. The door has checked the tracking code.
pub async fn revisit_by_reporter(
    state: &AppState,
    id: i64,
    satisfaction: Satisfaction,
) -> AppResult<CaseRecord> {
    let command = Command::Revisit { satisfaction };
    for _attempt in 0..5 {
        let rec = state
            .db
            .case_by_id(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("case {id}")))?;
        let before = engine_case(&rec)?;
        let now = state.clock.now();
        let rules = state.rules.read().await;
        let events =
            case::decide_by_reporter(&before, &command, &*rules, now).map_err(case_error)?;
        let write = transition_write(&rec, &before, &events, &rules)?;
        drop(rules);
        let record = write.record.clone();
        if state.db.apply_transition(write).await? {
            return Ok(record);
        }
    }
    Err(AppError::Conflict(
        "the case is being changed by others right now; try again".into(),
    ))
}

/// A case as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: String,
    pub code: String,
    pub status: String,
    pub category: String,
    pub category_name: Option<String>,
    /// The grid for a located case.
    pub territory: String,
    /// The centre that owns the case.
    pub centre: String,
    pub handling_level: String,
    pub handling_unit: String,
    /// The unit routing suggests for the first dispatch (the category's department at the
    /// centre's node, or the centre itself), and why.
    pub routed_unit: Option<String>,
    pub routing_reason: Option<String>,
    pub urgency: String,
    pub channel: String,
    pub title: Option<String>,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationOut>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The running step (accept, sign, handle, verify, revisit).
    pub step: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    /// `green`, `yellow`, `red`, or null when no clock runs.
    pub light: Option<String>,
    pub result: Option<String>,
    pub satisfaction: Option<String>,
    /// What the caller may do now.
    pub allowed_actions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<ReporterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryItem>>,
    /// The mediation record of a dispute (with the full case view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub mediation: Option<case::mediation::MediationRecord>,
    /// Photos and audio notes, with their URLs (with the full case view only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<crate::actions::attachments::AttachmentView>>,
    /// Open cases of the same category reported nearby lately, nearest first: candidates to
    /// merge this one into (with the full case view, to those who may merge it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similar: Option<Vec<SimilarCase>>,
}

/// A possible duplicate of a case.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarCase {
    pub id: String,
    pub code: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// Metres between the two places.
    pub distance_m: u32,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationOut {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReporterOut {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// One event of the history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryItem {
    pub seq: i64,
    pub action: String,
    /// Account id of who acted; null for the system or an anonymous report.
    pub by: Option<i64>,
    pub by_role: Option<String>,
    pub by_level: Option<String>,
    pub at: DateTime<Utc>,
    pub from_status: Option<String>,
    pub to_status: String,
    pub reason: Option<String>,
    pub text: Option<String>,
}

/// Render a stored case for a caller (the clock read once, the light computed now).
pub async fn view(
    state: &AppState,
    caller: Option<&Caller>,
    rec: &CaseRecord,
    with_history: bool,
) -> AppResult<CaseView> {
    let case = engine_case(rec)?;
    let rules = state.rules.read().await;
    let now = state.clock.now();
    let light = rules.light(&case, now).map(|l| l.as_str().to_owned());
    let category_name = rules.taxonomy.get(&rec.category).map(|c| c.name.clone());
    drop(rules);
    let allowed_actions = match caller {
        Some(c) => case
            .actions_for(&Actor::from(&c.principal))
            .into_iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        None => vec![],
    };
    // Only the full view of one case unmasks (and is audited); lists and summaries never do.
    let sees_personal = with_history && caller.is_some_and(|c| c.role().sees_personal_data());
    let mut revealed: Vec<&str> = Vec::new();
    let reporter = if rec.reporter_name.is_some() || rec.reporter_phone.is_some() {
        Some(ReporterOut {
            name: rec.reporter_name.clone(),
            phone: rec.reporter_phone.as_deref().map(|p| {
                if sees_personal {
                    revealed.push("reporter_phone");
                    p.to_owned()
                } else {
                    domain::text::mask_phone(p)
                }
            }),
        })
    } else {
        None
    };
    let stored_mediation = if with_history {
        state.db.mediation(rec.id).await?
    } else {
        None
    };
    let mediation: Option<case::mediation::MediationRecord> = match stored_mediation {
        Some(body) => Some(serde_json::from_str(&body).map_err(|e| {
            AppError::Internal(format!("stored mediation of case {}: {e}", rec.id))
        })?),
        None => None,
    };
    let mediation = mediation.map(|mut m| {
        for party in &mut m.parties {
            if sees_personal {
                if party.phone.is_some() && !revealed.contains(&"party_phone") {
                    revealed.push("party_phone");
                }
                if party.id_number.is_some() && !revealed.contains(&"party_id_number") {
                    revealed.push("party_id_number");
                }
            } else {
                party.phone = party.phone.as_deref().map(domain::text::mask_phone);
                party.id_number = party.id_number.as_deref().map(domain::text::mask_id_number);
            }
        }
        m
    });
    if let Some(c) = caller
        && !revealed.is_empty()
    {
        crate::actions::audit::reveal(
            state,
            c,
            crate::actions::audit::Reveal {
                kind: "case",
                id: rec.code.clone(),
                territory: Some(&rec.territory),
                fields: &revealed,
                via: "case view",
            },
        )
        .await?;
    }
    let similar = match (with_history, rec.lng.zip(rec.lat)) {
        (true, Some((lng, lat))) if allowed_actions.iter().any(|a| a == "merge") => {
            let point = GeoPoint::from_datum(lng, lat, domain::coord::Datum::Wgs84)
                .map_err(|e| AppError::Internal(format!("stored point of case {}: {e}", rec.id)))?;
            Some(
                crate::actions::resident::similar_open_cases(
                    state,
                    &rec.category,
                    point,
                    Some(rec.id),
                )
                .await?
                .into_iter()
                .map(|(r, distance_m)| SimilarCase {
                    id: r.id.to_string(),
                    code: r.code,
                    status: r.status,
                    created_at: r.created_at,
                    distance_m,
                })
                .collect(),
            )
        }
        _ => None,
    };
    let attachments = if with_history {
        Some(
            state
                .db
                .attachments_of(domain::attachment::OwnerKind::Case.as_str(), rec.id)
                .await?
                .iter()
                .map(crate::actions::attachments::AttachmentView::of)
                .collect(),
        )
    } else {
        None
    };
    let history = if with_history {
        let mut items = Vec::new();
        for e in state.db.case_events(rec.id).await? {
            let ev: Event = serde_json::from_str(&e.body).map_err(|err| {
                AppError::Internal(format!("event {} of case {}: {err}", e.seq, rec.id))
            })?;
            items.push(HistoryItem {
                seq: e.seq,
                action: e.action,
                by: e.by_account,
                by_role: e.by_role,
                by_level: e.by_level,
                at: e.at,
                from_status: e.from_status,
                to_status: e.to_status,
                reason: ev.reason().map(str::to_owned),
                text: ev.text().map(str::to_owned),
            });
        }
        Some(items)
    } else {
        None
    };
    Ok(CaseView {
        id: rec.id.to_string(),
        code: rec.code.clone(),
        status: rec.status.clone(),
        category: rec.category.clone(),
        category_name,
        territory: rec.territory.clone(),
        centre: rec.centre.clone(),
        handling_level: rec.handling_level.clone(),
        handling_unit: rec.handling_unit.clone(),
        routed_unit: rec.routed_unit.clone(),
        routing_reason: rec.routing_reason.clone(),
        urgency: rec.urgency.clone(),
        channel: rec.channel.clone(),
        title: rec.title.clone(),
        description: rec.description.clone(),
        location: rec
            .lat
            .zip(rec.lng)
            .map(|(lat, lng)| LocationOut { lat, lng }),
        created_at: rec.created_at,
        updated_at: rec.updated_at,
        step: rec.step.clone(),
        deadline: rec.deadline,
        light,
        result: case.result.map(|r| r.as_str().to_owned()),
        satisfaction: case.satisfaction.map(|s| s.as_str().to_owned()),
        allowed_actions,
        reporter,
        history,
        mediation,
        attachments,
        similar,
    })
}

/// Record or update the mediation of a dispute case: its owning centre and the unit holding it
/// may, as they may add notes.
pub async fn set_mediation(
    state: &AppState,
    caller: &Caller,
    id: i64,
    record: case::mediation::MediationRecord,
) -> AppResult<CaseRecord> {
    let rec = load_case(state, caller, id).await?;
    let is_dispute = state
        .rules
        .read()
        .await
        .taxonomy
        .get(&rec.category)
        .is_some_and(|c| c.is_dispute);
    if !is_dispute {
        return Err(AppError::Conflict(format!(
            "{} is not a dispute category; only disputes carry a mediation record",
            rec.category
        )));
    }
    let case = engine_case(&rec)?;
    if !case
        .actions_for(&Actor::from(&caller.principal))
        .contains(&case::Action::Note)
    {
        return Err(AppError::Forbidden(
            "only the owning centre and the unit handling the case record its mediation".into(),
        ));
    }
    record
        .validate()
        .map_err(|e| AppError::unprocessable(e.field, e.message))?;
    let body = serde_json::to_string(&record).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .db
        .set_mediation(id, &body, state.clock.now(), caller.principal.account_id)
        .await?;
    Ok(rec)
}

/// Filters of `GET /api/v1/cases`, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub within: Option<InScope>,
    pub status: Option<case::Status>,
    pub category: Option<String>,
    pub overdue: bool,
    pub q: Option<String>,
    pub before_id: Option<i64>,
    pub limit: i64,
    pub queue: bool,
    /// Only the cases on one desk: owned or held by a centre, or held by a unit.
    pub desk: Option<DeskFilter>,
    /// Only cases not yet ended.
    pub open_only: bool,
    /// The cases behind a figure: a period, solved, disputes or hazards.
    pub figure: crate::actions::figures::FigureFilter,
}

/// Whose desk a queue shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskFilter {
    /// A centre: the cases it owns or holds.
    Centre(String),
    /// A department or grid: the cases it holds.
    Unit(String),
}

/// Cases inside the caller's scope, newest first, paged by cursor.
pub async fn list(state: &AppState, caller: &Caller, q: &ListQuery) -> AppResult<Vec<CaseRecord>> {
    if q.q.is_some() {
        // Every committed case is searchable: index what is still waiting first.
        crate::search_index::index_pending(state).await?;
    }
    let within = q.within.clone().unwrap_or_else(|| caller.home());
    let period = q.figure.bounds();
    let categories = q.figure.categories(&state.rules.read().await.taxonomy);
    let filter = CaseFilter {
        territory_prefix: within.code().subtree_prefix().to_owned(),
        status: q.status.map(|s| s.as_str().to_owned()),
        category_prefix: q.category.clone(),
        overdue_at: q.overdue.then(|| state.clock.now()),
        handling_unit: match &q.desk {
            Some(DeskFilter::Unit(u)) => Some(u.clone()),
            _ => None,
        },
        centre: None,
        owned_or_held_by: match &q.desk {
            Some(DeskFilter::Centre(u)) => Some(u.clone()),
            _ => None,
        },
        open_only: q.open_only,
        terms: q
            .q
            .as_deref()
            .map(domain::search::query_terms)
            .unwrap_or_default(),
        before_id: q.before_id,
        by_deadline: q.queue,
        limit: q.limit,
        created_between: period.filter(|_| !q.figure.closed),
        closed_between: period.filter(|_| q.figure.closed),
        solved_only: q.figure.solved,
        categories,
    };
    Ok(state.db.list_cases(&filter).await?)
}
