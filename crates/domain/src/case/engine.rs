//! Commands, events, `decide` and `apply`: the transitions of the loop and the clocks they start.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::account::Role;
use crate::people::UnitKind;
use crate::territory::{Level, TerritoryCode};

use super::access;
use super::{
    Action, Actor, Case, CaseCode, CaseError, Channel, HandleResult, Pause, PendingExtension,
    PendingPark, Satisfaction, Status, Step, SuperviseLevel, Supervision, UnitRef, Urgency,
};

/// The longest text a reason, note or report may have, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;
/// The most working days one extension may ask for.
pub const MAX_EXTENSION_DAYS: u32 = 30;
/// How many times an unsatisfied return visit reopens a case (重办). Past that, an unsatisfied
/// answer closes the case with 不满意 recorded, so a case cannot loop forever.
pub const MAX_REOPENS: u32 = 2;

/// What `decide` needs from outside: the time limits on the working-time calendar.
///
/// The calendar module implements it from the configured limits per (category, urgency, level,
/// step) and the holidays; [`SimplePolicy`] is a fixed, calendar-free implementation for tests.
pub trait Policy {
    /// When `step` of `case` (as it stands once the step has started: its category, urgency and
    /// handling level) is due if it starts at `from`, with `extra_working_days` granted on top.
    /// `None` when no limit is configured.
    fn deadline(
        &self,
        case: &Case,
        step: Step,
        from: DateTime<Utc>,
        extra_working_days: u32,
    ) -> Option<DateTime<Utc>>;

    /// `deadline` pushed back by `days` working days (an approved extension).
    fn add_working_days(&self, deadline: DateTime<Utc>, days: u32) -> DateTime<Utc>;

    /// `deadline` of `step` of `case` pushed back after the clock stood still from `paused_at`
    /// to `resumed_at` (parked time does not count). The default shifts by the wall-clock length
    /// of the pause; a working-time calendar shifts by the time the pause swallowed, measured on
    /// the basis of the step's limit.
    fn resume_deadline(
        &self,
        case: &Case,
        step: Step,
        deadline: DateTime<Utc>,
        paused_at: DateTime<Utc>,
        resumed_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let _ = (case, step);
        deadline + (resumed_at - paused_at)
    }
}

/// Fixed limits in wall-clock hours, no calendar: a working day is 24 hours. Urgent cases get a
/// quarter of each limit. For tests and as a fallback when nothing is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimplePolicy {
    /// Limits in hours for accept, sign, handle, verify and revisit.
    pub hours: [i64; 5],
}

impl Default for SimplePolicy {
    fn default() -> Self {
        Self {
            hours: [24, 24, 120, 48, 72],
        }
    }
}

impl Policy for SimplePolicy {
    fn deadline(
        &self,
        case: &Case,
        step: Step,
        from: DateTime<Utc>,
        extra_working_days: u32,
    ) -> Option<DateTime<Utc>> {
        let i = Step::ALL.iter().position(|s| *s == step)?;
        let mut hours = self.hours[i];
        if case.urgency == Urgency::Urgent {
            hours = (hours / 4).max(1);
        }
        Some(self.add_working_days(from + Duration::hours(hours), extra_working_days))
    }

    fn add_working_days(&self, deadline: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        deadline + Duration::days(i64::from(days))
    }
}

/// An action on a case with its parameters (CONTRACT.md), units already resolved by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Accept,
    /// Not accepted; `redirect` names the channel or office to use instead.
    Reject {
        reason: String,
        redirect: Option<String>,
    },
    /// A duplicate of case `into`.
    Merge {
        into: i64,
    },
    /// Down to a lower centre, a grid or a department below, or across to a department of the
    /// owning centre's node.
    Dispatch {
        to: UnitRef,
    },
    Sign,
    /// Wrong addressee (退回/退单): back to the owning centre.
    SendBack {
        reason: String,
    },
    /// Beyond this level's power (上报): to the parent level's centre.
    Escalate {
        reason: String,
        to: UnitRef,
    },
    /// Re-dispatch (转办/改派) to another unit.
    Transfer {
        to: UnitRef,
        reason: Option<String>,
    },
    Note {
        text: String,
    },
    RequestExtension {
        working_days: u32,
        reason: String,
    },
    DecideExtension {
        approve: bool,
    },
    RequestPark {
        reason: String,
    },
    DecidePark {
        approve: bool,
    },
    Resume,
    ReportHandled {
        result: HandleResult,
        text: String,
    },
    Verify {
        passed: bool,
    },
    Revisit {
        satisfaction: Satisfaction,
    },
    /// Close without a return visit (anonymous reporter, unreachable).
    Close,
    Supervise {
        level: SuperviseLevel,
        text: String,
    },
    MarkUrgent,
    /// A grid worker solved it on the spot (自处理): straight to verification.
    SelfHandle {
        result: HandleResult,
        text: String,
    },
}

impl Command {
    pub fn action(&self) -> Action {
        match self {
            Command::Accept => Action::Accept,
            Command::Reject { .. } => Action::Reject,
            Command::Merge { .. } => Action::Merge,
            Command::Dispatch { .. } => Action::Dispatch,
            Command::Sign => Action::Sign,
            Command::SendBack { .. } => Action::SendBack,
            Command::Escalate { .. } => Action::Escalate,
            Command::Transfer { .. } => Action::Transfer,
            Command::Note { .. } => Action::Note,
            Command::RequestExtension { .. } => Action::RequestExtension,
            Command::DecideExtension { .. } => Action::DecideExtension,
            Command::RequestPark { .. } => Action::RequestPark,
            Command::DecidePark { .. } => Action::DecidePark,
            Command::Resume => Action::Resume,
            Command::ReportHandled { .. } => Action::ReportHandled,
            Command::Verify { .. } => Action::Verify,
            Command::Revisit { .. } => Action::Revisit,
            Command::Close => Action::Close,
            Command::Supervise { .. } => Action::Supervise,
            Command::MarkUrgent => Action::MarkUrgent,
            Command::SelfHandle { .. } => Action::SelfHandle,
        }
    }
}

/// Who did it, as recorded in the history: the account, its role and the level it acts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct By {
    pub account_id: i64,
    pub role: Role,
    /// The level of the account's scope.
    pub level: Level,
    pub unit: Option<String>,
}

impl From<&Actor> for By {
    fn from(a: &Actor) -> By {
        By {
            account_id: a.account_id,
            role: a.role,
            level: a.scope.level(),
            unit: a.unit.clone(),
        }
    }
}

/// What an event changed: the action's payload, tagged by the action's name (`"create"` for
/// the first event). Stored as JSON; the tags and field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    Create {
        id: i64,
        code: CaseCode,
        category: String,
        territory: TerritoryCode,
        /// The centre the case was routed to.
        centre: TerritoryCode,
        urgency: Urgency,
        channel: Channel,
    },
    Accept,
    Reject {
        reason: String,
        redirect: Option<String>,
    },
    Merge {
        into: i64,
    },
    Dispatch {
        to: UnitRef,
    },
    Sign,
    SendBack {
        reason: String,
    },
    Escalate {
        reason: String,
        to: UnitRef,
    },
    Transfer {
        to: UnitRef,
        reason: Option<String>,
    },
    Note {
        text: String,
    },
    RequestExtension {
        working_days: u32,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        working_days: u32,
    },
    RequestPark {
        reason: String,
    },
    DecidePark {
        approve: bool,
    },
    Resume {
        /// How long this pause lasted.
        parked_seconds: i64,
    },
    ReportHandled {
        result: HandleResult,
        text: String,
    },
    Verify {
        passed: bool,
    },
    Revisit {
        satisfaction: Satisfaction,
        /// The answer reopened the case (重办) rather than closing it.
        reopened: bool,
    },
    Close,
    Supervise {
        level: SuperviseLevel,
        text: String,
        /// Raised by the clock (overdue), not by a person.
        automatic: bool,
    },
    MarkUrgent,
    SelfHandle {
        result: HandleResult,
        text: String,
        /// The grid whose worker handled it.
        grid: UnitRef,
    },
}

impl Change {
    /// The action's name (`"create"` for the first event).
    pub fn name(&self) -> &'static str {
        self.action().map_or("create", Action::as_str)
    }

    /// The action, `None` for the create event.
    pub fn action(&self) -> Option<Action> {
        Some(match self {
            Change::Create { .. } => return None,
            Change::Accept => Action::Accept,
            Change::Reject { .. } => Action::Reject,
            Change::Merge { .. } => Action::Merge,
            Change::Dispatch { .. } => Action::Dispatch,
            Change::Sign => Action::Sign,
            Change::SendBack { .. } => Action::SendBack,
            Change::Escalate { .. } => Action::Escalate,
            Change::Transfer { .. } => Action::Transfer,
            Change::Note { .. } => Action::Note,
            Change::RequestExtension { .. } => Action::RequestExtension,
            Change::DecideExtension { .. } => Action::DecideExtension,
            Change::RequestPark { .. } => Action::RequestPark,
            Change::DecidePark { .. } => Action::DecidePark,
            Change::Resume { .. } => Action::Resume,
            Change::ReportHandled { .. } => Action::ReportHandled,
            Change::Verify { .. } => Action::Verify,
            Change::Revisit { .. } => Action::Revisit,
            Change::Close => Action::Close,
            Change::Supervise { .. } => Action::Supervise,
            Change::MarkUrgent => Action::MarkUrgent,
            Change::SelfHandle { .. } => Action::SelfHandle,
        })
    }

    /// Whether this change starts a new clocked step (with a fresh deadline).
    fn restarts_clock(&self) -> bool {
        match self {
            Change::Create { .. }
            | Change::Accept
            | Change::Dispatch { .. }
            | Change::Sign
            | Change::SendBack { .. }
            | Change::Escalate { .. }
            | Change::Transfer { .. }
            | Change::ReportHandled { .. }
            | Change::Verify { .. }
            | Change::SelfHandle { .. } => true,
            Change::Revisit { reopened, .. } => *reopened,
            _ => false,
        }
    }
}

/// One entry of a case's append-only history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub case_id: i64,
    /// 1 for the create event, then +1 per event.
    pub seq: u32,
    pub at: DateTime<Utc>,
    /// `None`: the system (an anonymous public report, an import, the clock's supervision).
    pub by: Option<By>,
    /// `None` for the create event.
    pub from_status: Option<Status>,
    pub to_status: Status,
    /// The deadline of the running step after this event.
    pub deadline: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub change: Change,
}

impl Event {
    /// The action's name (`"create"` for the first event).
    pub fn action(&self) -> &'static str {
        self.change.name()
    }

    /// The reason given, for actions that take one.
    pub fn reason(&self) -> Option<&str> {
        match &self.change {
            Change::Reject { reason, .. }
            | Change::SendBack { reason }
            | Change::Escalate { reason, .. }
            | Change::RequestExtension { reason, .. }
            | Change::RequestPark { reason } => Some(reason),
            Change::Transfer { reason, .. } => reason.as_deref(),
            _ => None,
        }
    }

    /// The free text, for actions that take one.
    pub fn text(&self) -> Option<&str> {
        match &self.change {
            Change::Note { text }
            | Change::ReportHandled { text, .. }
            | Change::Supervise { text, .. }
            | Change::SelfHandle { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// A new case as intake (routing) produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    /// The id the store reserved for it.
    pub id: i64,
    pub code: CaseCode,
    pub category: String,
    /// The grid for a located case, else the node chosen by the reporter or the worker's grid.
    pub territory: TerritoryCode,
    /// The centre routing chose; it must be at or above `territory`.
    pub centre: TerritoryCode,
    pub urgency: Urgency,
    pub channel: Channel,
}

impl Case {
    /// Opens a case: the `create` event and the case it makes (submitted at `new.centre`, its
    /// accept clock running). `by` is `None` for anonymous and system intake.
    pub fn create(
        new: NewCase,
        by: Option<&Actor>,
        policy: &dyn Policy,
        now: DateTime<Utc>,
    ) -> Result<(Case, Event), CaseError> {
        if new.category.trim().is_empty() {
            return Err(CaseError::invalid("category", "a case needs a category"));
        }
        if !new.centre.level().has_centre() {
            return Err(CaseError::invalid(
                "territory",
                format!("{} has no centre to receive the case", new.centre),
            ));
        }
        if !new.centre.covers(&new.territory) {
            return Err(CaseError::invalid(
                "territory",
                format!("{} lies outside the centre {}", new.territory, new.centre),
            ));
        }
        let mut event = Event {
            case_id: new.id,
            seq: 1,
            at: now,
            by: by.map(By::from),
            from_status: None,
            to_status: Status::Submitted,
            deadline: None,
            change: Change::Create {
                id: new.id,
                code: new.code,
                category: new.category.trim().to_owned(),
                territory: new.territory,
                centre: new.centre,
                urgency: new.urgency,
                channel: new.channel,
            },
        };
        let case = Case::from_created(&event).expect("a create event");
        event.deadline = policy.deadline(&case, Step::Accept, now, 0);
        let case = Case::from_created(&event).expect("a create event");
        Ok((case, event))
    }

    /// The case a `create` event opens; `None` for any other event.
    pub fn from_created(event: &Event) -> Option<Case> {
        let Change::Create {
            id,
            code,
            category,
            territory,
            centre,
            urgency,
            channel,
        } = &event.change
        else {
            return None;
        };
        Some(Case {
            id: *id,
            code: code.clone(),
            status: Status::Submitted,
            category: category.clone(),
            territory: territory.clone(),
            urgency: *urgency,
            channel: *channel,
            created_at: event.at,
            updated_at: event.at,
            version: event.seq,
            centre: centre.clone(),
            handling_unit: centre.as_str().to_owned(),
            handling_kind: UnitKind::Center,
            handling_territory: centre.clone(),
            handling_level: centre.level(),
            step: Some(Step::Accept),
            step_started_at: Some(event.at),
            deadline: event.deadline,
            step_extension_days: 0,
            step_parked_seconds: 0,
            step_pauses: Vec::new(),
            extension_days: 0,
            pending_extension: None,
            pending_park: None,
            parked_from: None,
            parked_since: None,
            parked_seconds: 0,
            result: None,
            satisfaction: None,
            merged_into: None,
            rejection: None,
            redirect: None,
            rework_count: 0,
            reopen_count: 0,
            sent_back_count: 0,
            escalation_count: 0,
            dispatch_count: 0,
            centre_dispatch_count: 0,
            open_dispatch: false,
            self_handled: false,
            supervision: Supervision::default(),
            ended_at: None,
        })
    }

    fn hold(&mut self, unit: &UnitRef) {
        self.handling_unit = unit.code.clone();
        self.handling_kind = unit.kind;
        self.handling_territory = unit.territory.clone();
        self.handling_level = unit.level();
    }

    fn hold_at_centre(&mut self) {
        let centre = UnitRef::centre(&self.centre);
        self.hold(&centre);
    }
}

/// Decides what `actor`'s `cmd` does to `case` at `now`: the events to append, or why not.
///
/// Checks in this order: the actor's part in the action ([`CaseError::Forbidden`]), the state
/// ([`CaseError::NotAllowed`] with the actions the case allows), the parameters
/// ([`CaseError::Invalid`]). Events never go back in time: an event is stamped
/// `max(now, case.updated_at)`.
pub fn decide(
    case: &Case,
    cmd: &Command,
    actor: &Actor,
    policy: &dyn Policy,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, CaseError> {
    let action = cmd.action();
    if !access::may(case, actor, action) {
        return Err(CaseError::Forbidden { action });
    }
    check_state(case, action)?;
    let at = now.max(case.updated_at);
    let change = build_change(case, cmd, actor, at)?;
    Ok(vec![finish(
        case,
        change,
        Some(By::from(actor)),
        policy,
        at,
    )])
}

/// Decides a command raised by the system rather than a person: only automatic supervision
/// (the clock's yellow and red cards), recorded with no actor.
pub fn decide_by_system(
    case: &Case,
    cmd: &Command,
    policy: &dyn Policy,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, CaseError> {
    let Command::Supervise { level, text } = cmd else {
        return Err(CaseError::Forbidden {
            action: cmd.action(),
        });
    };
    check_state(case, Action::Supervise)?;
    let change = Change::Supervise {
        level: *level,
        text: checked_text("text", text)?,
        automatic: true,
    };
    let at = now.max(case.updated_at);
    Ok(vec![finish(case, change, None, policy, at)])
}

/// Decides a command of the case's reporter, who has no account: only the return visit's
/// answer (满意度), given from the tracking page or link the reporter holds. It is the same
/// `revisit` as the centre's — same state check, same change, same counters — recorded with no
/// actor, which is how the history tells the reporter's own answer from an operator's.
pub fn decide_by_reporter(
    case: &Case,
    cmd: &Command,
    policy: &dyn Policy,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, CaseError> {
    let Command::Revisit { satisfaction } = cmd else {
        return Err(CaseError::Forbidden {
            action: cmd.action(),
        });
    };
    check_state(case, Action::Revisit)?;
    let at = now.max(case.updated_at);
    let change = revisit_change(case, *satisfaction);
    Ok(vec![finish(case, change, None, policy, at)])
}

/// The return visit's change: an unsatisfied answer reopens the case (重办) while reopenings
/// are left, otherwise it closes with the answer.
fn revisit_change(case: &Case, satisfaction: Satisfaction) -> Change {
    Change::Revisit {
        satisfaction,
        reopened: satisfaction == Satisfaction::Unsatisfied && case.reopen_count < MAX_REOPENS,
    }
}

fn check_state(case: &Case, action: Action) -> Result<(), CaseError> {
    let available = case.available_actions();
    if available.contains(&action) {
        Ok(())
    } else {
        Err(CaseError::NotAllowed {
            status: case.status,
            action,
            allowed: available.into_iter().map(Action::as_str).collect(),
        })
    }
}

fn checked_text(field: &'static str, text: &str) -> Result<String, CaseError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CaseError::invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(CaseError::invalid(
            field,
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}

fn checked_optional_text(
    field: &'static str,
    text: Option<&String>,
) -> Result<Option<String>, CaseError> {
    text.map(|t| checked_text(field, t)).transpose()
}

/// A unit reference must be consistent with the unit code conventions of CONTRACT.md.
fn check_unit(to: &UnitRef) -> Result<(), CaseError> {
    let level = to.territory.level();
    let ok = match to.kind {
        UnitKind::Center => level.has_centre() && to.code == to.territory.as_str(),
        UnitKind::Grid => level == Level::Grid && to.code == to.territory.as_str(),
        UnitKind::Department => {
            level.has_centre()
                && to
                    .code
                    .strip_prefix(to.territory.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|slug| !slug.is_empty())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(CaseError::invalid(
            "to",
            format!(
                "{} is not a {} of {}",
                to.code,
                to.kind.as_str(),
                to.territory
            ),
        ))
    }
}

/// Dispatch goes down (any unit strictly below the owning centre's node) or across (a
/// department of the owning centre's own node).
fn check_dispatch_target(case: &Case, to: &UnitRef) -> Result<(), CaseError> {
    check_unit(to)?;
    let across = to.kind == UnitKind::Department && to.territory == case.centre;
    let down = to.territory != case.centre && case.centre.covers(&to.territory);
    if across || down {
        Ok(())
    } else {
        Err(CaseError::invalid(
            "to",
            format!(
                "{} is neither below {} nor one of its departments",
                to.code, case.centre
            ),
        ))
    }
}

fn build_change(
    case: &Case,
    cmd: &Command,
    actor: &Actor,
    at: DateTime<Utc>,
) -> Result<Change, CaseError> {
    Ok(match cmd {
        Command::Accept => Change::Accept,
        Command::Reject { reason, redirect } => Change::Reject {
            reason: checked_text("reason", reason)?,
            redirect: checked_optional_text("redirect", redirect.as_ref())?,
        },
        Command::Merge { into } => {
            if *into == case.id {
                return Err(CaseError::invalid(
                    "into",
                    "a case cannot be merged into itself",
                ));
            }
            if *into <= 0 {
                return Err(CaseError::invalid("into", "not a case id"));
            }
            Change::Merge { into: *into }
        }
        Command::Dispatch { to } => {
            check_dispatch_target(case, to)?;
            Change::Dispatch { to: to.clone() }
        }
        Command::Sign => Change::Sign,
        Command::SendBack { reason } => Change::SendBack {
            reason: checked_text("reason", reason)?,
        },
        Command::Escalate { reason, to } => {
            let reason = checked_text("reason", reason)?;
            let parent = case
                .centre
                .parent()
                .ok_or_else(|| CaseError::invalid("to", "the prefecture has no level above"))?;
            check_unit(to)?;
            if to.kind != UnitKind::Center || to.territory != parent {
                return Err(CaseError::invalid(
                    "to",
                    format!("escalation goes to the centre of the level above, {parent}"),
                ));
            }
            Change::Escalate {
                reason,
                to: to.clone(),
            }
        }
        Command::Transfer { to, reason } => {
            check_dispatch_target(case, to)?;
            if to.code == case.handling_unit {
                return Err(CaseError::invalid(
                    "to",
                    "the case is already with this unit",
                ));
            }
            Change::Transfer {
                to: to.clone(),
                reason: checked_optional_text("reason", reason.as_ref())?,
            }
        }
        Command::Note { text } => Change::Note {
            text: checked_text("text", text)?,
        },
        Command::RequestExtension {
            working_days,
            reason,
        } => {
            if !(1..=MAX_EXTENSION_DAYS).contains(working_days) {
                return Err(CaseError::invalid(
                    "working_days",
                    format!("from 1 to {MAX_EXTENSION_DAYS} working days"),
                ));
            }
            Change::RequestExtension {
                working_days: *working_days,
                reason: checked_text("reason", reason)?,
            }
        }
        Command::DecideExtension { approve } => Change::DecideExtension {
            approve: *approve,
            working_days: case
                .pending_extension
                .as_ref()
                .map_or(0, |p| p.working_days),
        },
        Command::RequestPark { reason } => Change::RequestPark {
            reason: checked_text("reason", reason)?,
        },
        Command::DecidePark { approve } => Change::DecidePark { approve: *approve },
        Command::Resume => Change::Resume {
            parked_seconds: case
                .parked_since
                .map_or(0, |since| (at - since).num_seconds().max(0)),
        },
        Command::ReportHandled { result, text } => Change::ReportHandled {
            result: *result,
            text: checked_text("text", text)?,
        },
        Command::Verify { passed } => Change::Verify { passed: *passed },
        Command::Revisit { satisfaction } => revisit_change(case, *satisfaction),
        Command::Close => Change::Close,
        Command::Supervise { level, text } => Change::Supervise {
            level: *level,
            text: checked_text("text", text)?,
            automatic: false,
        },
        Command::MarkUrgent => Change::MarkUrgent,
        Command::SelfHandle { result, text } => {
            let grid = access::grid_of(actor)
                .ok_or_else(|| CaseError::invalid("actor", "only a grid worker self-handles"))?;
            Change::SelfHandle {
                result: *result,
                text: checked_text("text", text)?,
                grid: UnitRef::grid(&grid),
            }
        }
    })
}

/// The state a change leads to.
fn target_status(case: &Case, change: &Change) -> Status {
    match change {
        Change::Create { .. } => Status::Submitted,
        Change::Accept | Change::SendBack { .. } | Change::Escalate { .. } => Status::Accepted,
        Change::Reject { .. } => Status::Rejected,
        Change::Merge { .. } => Status::Merged,
        Change::Dispatch { .. } | Change::Transfer { .. } => Status::Dispatched,
        Change::Sign if case.handling_kind == UnitKind::Center => Status::Accepted,
        Change::Sign => Status::InProgress,
        Change::DecidePark { approve: true } => Status::Parked,
        Change::Resume { .. } => case.parked_from.unwrap_or(Status::InProgress),
        Change::ReportHandled { .. } | Change::SelfHandle { .. } => Status::Handled,
        Change::Verify { passed: true } => Status::Revisit,
        Change::Verify { passed: false } => Status::InProgress,
        Change::Revisit { reopened: true, .. } => Status::InProgress,
        Change::Revisit {
            reopened: false, ..
        }
        | Change::Close => Status::Closed,
        Change::Note { .. }
        | Change::RequestExtension { .. }
        | Change::DecideExtension { .. }
        | Change::RequestPark { .. }
        | Change::DecidePark { approve: false }
        | Change::Supervise { .. }
        | Change::MarkUrgent => case.status,
    }
}

/// Builds the event and fixes the deadline it leaves running.
pub(super) fn finish(
    case: &Case,
    change: Change,
    by: Option<By>,
    policy: &dyn Policy,
    at: DateTime<Utc>,
) -> Event {
    let mut event = Event {
        case_id: case.id,
        seq: case.version + 1,
        at,
        by,
        from_status: Some(case.status),
        to_status: target_status(case, &change),
        deadline: case.deadline,
        change,
    };
    let after = apply(case.clone(), &event);
    event.deadline = if after.status.is_terminal() {
        None
    } else {
        match &event.change {
            Change::DecideExtension {
                approve: true,
                working_days,
            } => case
                .deadline
                .map(|d| policy.add_working_days(d, *working_days)),
            Change::Resume { .. } => match (case.deadline, case.parked_since, case.step) {
                (Some(d), Some(since), Some(step)) => {
                    Some(policy.resume_deadline(case, step, d, since, at))
                }
                (d, _, _) => d,
            },
            Change::MarkUrgent => urgent_deadline(case, &after, policy),
            c if c.restarts_clock() => after
                .step
                .and_then(|step| policy.deadline(&after, step, at, 0)),
            _ => case.deadline,
        }
    };
    event
}

/// An urgent case's running step is due by its urgent limit counted from the step's start
/// (with the step's extensions and pauses), or by the old deadline if that is earlier.
fn urgent_deadline(before: &Case, after: &Case, policy: &dyn Policy) -> Option<DateTime<Utc>> {
    let fresh = match (before.step, before.step_started_at) {
        (Some(step), Some(started)) => policy
            .deadline(after, step, started, before.step_extension_days)
            .map(|d| {
                before.step_pauses.iter().fold(d, |d, p| {
                    policy.resume_deadline(after, step, d, p.from, p.to)
                })
            }),
        _ => None,
    };
    match (before.deadline, fresh) {
        (Some(old), Some(new)) => Some(old.min(new)),
        (old, new) => old.or(new),
    }
}

/// Folds one event into the case. Pure and total: the event is the truth (its status and
/// deadline are taken as recorded); a `create` event starts the case afresh.
pub fn apply(mut case: Case, event: &Event) -> Case {
    if let Some(created) = Case::from_created(event) {
        return created;
    }
    let before_status = case.status;
    let before_unit = case.handling_unit.clone();
    let at = event.at;
    match &event.change {
        Change::Create { .. } | Change::Accept | Change::Note { .. } | Change::Close => {}
        Change::Reject { reason, redirect } => {
            case.rejection = Some(reason.clone());
            case.redirect = redirect.clone();
        }
        Change::Merge { into } => case.merged_into = Some(*into),
        Change::Dispatch { to } | Change::Transfer { to, .. } => {
            case.hold(to);
            case.open_dispatch = true;
            case.dispatch_count += 1;
            case.centre_dispatch_count += 1;
        }
        Change::Sign => {
            if case.handling_kind == UnitKind::Center {
                // A lower centre signing takes the case over (and settles the dispatch).
                case.centre = case.handling_territory.clone();
                case.centre_dispatch_count = 0;
                case.open_dispatch = false;
            }
        }
        Change::SendBack { .. } => {
            case.open_dispatch = false;
            case.sent_back_count += 1;
            case.hold_at_centre();
        }
        Change::Escalate { to, .. } => {
            case.centre = to.territory.clone();
            case.centre_dispatch_count = 0;
            case.escalation_count += 1;
            case.open_dispatch = false;
            case.hold(to);
        }
        Change::RequestExtension {
            working_days,
            reason,
        } => {
            case.pending_extension = Some(PendingExtension {
                working_days: *working_days,
                reason: reason.clone(),
                requested_by: event.by.as_ref().map(|b| b.account_id),
                requested_at: at,
                by_centre: case.held_by_centre(),
            });
        }
        Change::DecideExtension {
            approve,
            working_days,
        } => {
            case.pending_extension = None;
            if *approve {
                case.step_extension_days += working_days;
                case.extension_days += working_days;
            }
        }
        Change::RequestPark { reason } => {
            case.pending_park = Some(PendingPark {
                reason: reason.clone(),
                requested_by: event.by.as_ref().map(|b| b.account_id),
                requested_at: at,
                by_centre: case.held_by_centre(),
            });
        }
        Change::DecidePark { approve } => {
            case.pending_park = None;
            if *approve {
                case.parked_from = Some(case.status);
                case.parked_since = Some(at);
            }
        }
        Change::Resume { parked_seconds } => {
            case.parked_seconds += parked_seconds;
            case.step_parked_seconds += parked_seconds;
            if let Some(from) = case.parked_since {
                case.step_pauses.push(Pause { from, to: at });
            }
            case.parked_from = None;
            case.parked_since = None;
        }
        Change::ReportHandled { result, .. } => {
            case.result = Some(*result);
            case.open_dispatch = false;
        }
        Change::Verify { passed } => {
            if !passed {
                case.rework_count += 1;
                case.result = None;
            }
        }
        Change::Revisit {
            satisfaction,
            reopened,
        } => {
            if *reopened {
                case.reopen_count += 1;
                case.result = None;
                case.satisfaction = None;
            } else {
                case.satisfaction = Some(*satisfaction);
            }
        }
        Change::Supervise { level, .. } => {
            match level {
                SuperviseLevel::Normal => case.supervision.normal += 1,
                SuperviseLevel::Yellow => case.supervision.yellow += 1,
                SuperviseLevel::Red => case.supervision.red += 1,
            }
            case.supervision.last = Some(*level);
            case.supervision.last_at = Some(at);
        }
        Change::MarkUrgent => case.urgency = Urgency::Urgent,
        Change::SelfHandle { result, grid, .. } => {
            case.hold(grid);
            case.result = Some(*result);
            case.self_handled = true;
            case.open_dispatch = false;
        }
    }

    case.status = event.to_status;
    case.updated_at = at;
    case.version = event.seq;
    case.deadline = event.deadline;
    if case.status != before_status || case.handling_unit != before_unit {
        // A request lapses when the case moves on.
        case.pending_extension = None;
        case.pending_park = None;
    }
    if event.change.restarts_clock() {
        case.step = case.status.step();
        case.step_started_at = Some(at);
        case.step_extension_days = 0;
        case.step_parked_seconds = 0;
        case.step_pauses.clear();
    }
    if case.status.is_terminal() {
        case.step = None;
        case.step_started_at = None;
        case.deadline = None;
        case.pending_extension = None;
        case.pending_park = None;
        case.ended_at = Some(at);
    }
    case
}

/// Why a history does not replay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("a history starts with a create event")]
    NoCreate,
    #[error("event {seq} belongs to case {found}, not {expected}")]
    OtherCase { seq: u32, expected: i64, found: i64 },
    #[error("event {seq} follows event {previous}")]
    OutOfOrder { seq: u32, previous: u32 },
}

/// The case a history makes, replayed from its create event.
pub fn replay(history: &[Event]) -> Result<Case, ReplayError> {
    let (first, rest) = history.split_first().ok_or(ReplayError::NoCreate)?;
    let mut case = Case::from_created(first).ok_or(ReplayError::NoCreate)?;
    for event in rest {
        if event.case_id != case.id {
            return Err(ReplayError::OtherCase {
                seq: event.seq,
                expected: case.id,
                found: event.case_id,
            });
        }
        if event.seq != case.version + 1 || matches!(event.change, Change::Create { .. }) {
            return Err(ReplayError::OutOfOrder {
                seq: event.seq,
                previous: case.version,
            });
        }
        case = apply(case, event);
    }
    Ok(case)
}
