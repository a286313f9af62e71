//! The case engine: one case, one code, one closed loop from report to return visit
//! (DOMAIN.md §3), as a pure state machine.
//!
//! [`decide`] turns a [`Command`] by an [`Actor`] into [`Event`]s (or refuses with a
//! [`CaseError`]); [`apply`] folds an event into the [`Case`]. A case is nothing but its
//! history replayed from its `create` event ([`replay`]), so the stored row is a cache of the
//! history. Deadlines are computed in `decide` through a [`Policy`] (the working-time calendar)
//! and recorded in each event, which keeps `apply` and replay free of any configuration.
//! Assessment counters are a pure function of each transition ([`counter_deltas`], [`recount`]).
//!
//! Who holds a case. Every case has an owning **centre** (the 综治中心 that accepted it or
//! received it by escalation or delegation): it dispatches, verifies, does the return visit and
//! closes. The **handling unit** is whoever must act next on the work itself: the centre itself
//! while the case sits there (submitted, accepted), or the department, grid or lower centre it
//! was dispatched to. A lower centre that signs a dispatched case takes the case over: it becomes
//! the owning centre and the case is `accepted` there, so it can handle or dispatch it further.

#[macro_use]
mod kinds;

mod access;
mod code;
mod counters;
mod engine;
mod import;
pub mod mediation;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::Role;
use crate::people::UnitKind;
use crate::territory::{Level, TerritoryCode};

pub use code::{CaseCode, CaseCodeError};
pub use counters::{Counter, CounterDelta, CounterKey, counter_deltas, recount};
pub use engine::{
    By, Change, Command, Event, MAX_EXTENSION_DAYS, MAX_REOPENS, MAX_TEXT_CHARS, NewCase, Policy,
    ReplayError, SimplePolicy, apply, decide, decide_by_reporter, decide_by_system, replay,
};
pub use import::{ImportError, ImportOutcome, ImportedCase, imported_history};
pub use kinds::{
    Action, Channel, HandleResult, Satisfaction, Status, Step, SuperviseLevel, Urgency,
};

/// A unit as the caller resolved it from the database before deciding: a centre (code = its
/// territory code), a grid (code = grid code) or a department (`<territory code>-<slug>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitRef {
    pub code: String,
    pub kind: UnitKind,
    pub territory: TerritoryCode,
}

impl UnitRef {
    /// The centre of a territory node (its unit code is the territory code).
    pub fn centre(territory: &TerritoryCode) -> UnitRef {
        UnitRef {
            code: territory.as_str().to_owned(),
            kind: UnitKind::Center,
            territory: territory.clone(),
        }
    }

    /// The unit of a grid (its unit code is the grid code).
    pub fn grid(grid: &TerritoryCode) -> UnitRef {
        UnitRef {
            code: grid.as_str().to_owned(),
            kind: UnitKind::Grid,
            territory: grid.clone(),
        }
    }

    /// A department hanging off a node, e.g. `623027-police`.
    pub fn department(territory: &TerritoryCode, slug: &str) -> UnitRef {
        UnitRef {
            code: format!("{territory}-{slug}"),
            kind: UnitKind::Department,
            territory: territory.clone(),
        }
    }

    /// The level the unit works at (a department at its node's level).
    pub fn level(&self) -> Level {
        self.territory.level()
    }
}

/// Who acts: the signed-in account as the case engine needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub account_id: i64,
    pub role: Role,
    /// The node the account is bound to.
    pub scope: TerritoryCode,
    /// The unit the account works in (a centre's code, a department's, a grid's).
    pub unit: Option<String>,
}

impl From<&crate::account::Principal> for Actor {
    fn from(p: &crate::account::Principal) -> Actor {
        Actor {
            account_id: p.account_id,
            role: p.role,
            scope: p.scope.clone(),
            unit: p.unit.clone(),
        }
    }
}

/// Why `decide` refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// The actor has no part in this action on this case (HTTP 403).
    #[error("this account may not {action} this case")]
    Forbidden { action: Action },
    /// The case's state does not allow the action now (HTTP 409, naming the allowed actions).
    #[error("{action} is not allowed while the case is {status}; allowed: {}", allowed.join(", "))]
    NotAllowed {
        status: Status,
        action: Action,
        allowed: Vec<&'static str>,
    },
    /// A parameter is wrong (HTTP 422 naming the field).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl CaseError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> CaseError {
        CaseError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// An extension (延期) asked for and not yet decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingExtension {
    pub working_days: u32,
    pub reason: String,
    pub requested_by: Option<i64>,
    pub requested_at: DateTime<Utc>,
    /// Asked by the owning centre for its own step (then only the level above may approve).
    pub by_centre: bool,
}

/// Parking (挂账) asked for and not yet decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPark {
    pub reason: String,
    pub requested_by: Option<i64>,
    pub requested_at: DateTime<Utc>,
    /// Asked by the owning centre for its own step (then only the level above may approve).
    pub by_centre: bool,
}

/// A spell during which a case was parked and its clock stood still.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The supervision (督办) a case has received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervision {
    pub normal: u32,
    pub yellow: u32,
    pub red: u32,
    /// The most recent level.
    pub last: Option<SuperviseLevel>,
    pub last_at: Option<DateTime<Utc>>,
}

impl Supervision {
    /// The highest level received so far.
    pub fn highest(&self) -> Option<SuperviseLevel> {
        if self.red > 0 {
            Some(SuperviseLevel::Red)
        } else if self.yellow > 0 {
            Some(SuperviseLevel::Yellow)
        } else if self.normal > 0 {
            Some(SuperviseLevel::Normal)
        } else {
            None
        }
    }
}

/// The state of a case: a fold of its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: i64,
    pub code: CaseCode,
    pub status: Status,
    /// Category code (the category tree is data).
    pub category: String,
    /// Where the case is: the grid for a located case, else the node chosen at intake.
    pub territory: TerritoryCode,
    pub urgency: Urgency,
    pub channel: Channel,
    pub created_at: DateTime<Utc>,
    /// The time of the last event; events never go back in time.
    pub updated_at: DateTime<Utc>,
    /// Number of events applied (the `seq` of the last one); for optimistic concurrency.
    pub version: u32,

    /// The owning centre's territory (its unit code is the same string): it dispatches,
    /// verifies, revisits and closes.
    pub centre: TerritoryCode,
    /// The unit that holds the work now (the centre itself while the case sits there).
    pub handling_unit: String,
    pub handling_kind: UnitKind,
    pub handling_territory: TerritoryCode,
    /// The level of the handling unit (a department at its node's level).
    pub handling_level: Level,

    /// The clocked step that runs (frozen while parked; `None` once terminal).
    pub step: Option<Step>,
    pub step_started_at: Option<DateTime<Utc>>,
    /// When the running step is due (`None`: no limit configured, or terminal).
    pub deadline: Option<DateTime<Utc>>,
    /// Working days granted by extensions on the running step.
    pub step_extension_days: u32,
    /// Seconds the running step spent parked.
    pub step_parked_seconds: i64,
    /// The running step's pauses (parked spells), to recompute its deadline exactly.
    pub step_pauses: Vec<Pause>,
    /// Working days granted by extensions over the whole life of the case.
    pub extension_days: u32,

    pub pending_extension: Option<PendingExtension>,
    pub pending_park: Option<PendingPark>,
    /// The state a parked case resumes to.
    pub parked_from: Option<Status>,
    pub parked_since: Option<DateTime<Utc>>,
    /// Seconds spent parked over the whole life of the case.
    pub parked_seconds: i64,

    /// The last reported result (cleared by rework and reopening).
    pub result: Option<HandleResult>,
    /// The satisfaction recorded when the case closed after a return visit.
    pub satisfaction: Option<Satisfaction>,
    pub merged_into: Option<i64>,
    /// Why the case was rejected, and the route advised instead.
    pub rejection: Option<String>,
    pub redirect: Option<String>,
    /// 返工: verifications that failed.
    pub rework_count: u32,
    /// 重办: return visits that reopened the case.
    pub reopen_count: u32,
    pub sent_back_count: u32,
    pub escalation_count: u32,
    /// Dispatches and transfers over the whole life of the case.
    pub dispatch_count: u32,
    /// Dispatches and transfers made by the current owning centre (a new one is a 重新派遣).
    pub centre_dispatch_count: u32,
    /// The current assignment came from a dispatch or transfer whose accuracy is not settled yet
    /// (settled by the assignee handling it, or a lower centre signing it).
    pub open_dispatch: bool,
    pub self_handled: bool,
    pub supervision: Supervision,
    /// When the case reached a terminal state.
    pub ended_at: Option<DateTime<Utc>>,
}

impl Case {
    /// The owning centre's unit code.
    pub fn centre_unit(&self) -> &str {
        self.centre.as_str()
    }

    /// The unit whose clock is running, and the one supervision and overdue notices are
    /// addressed to: the handling unit while dispatched or in progress, the owning centre
    /// otherwise (accepting, dispatching, verifying, revisiting).
    pub fn responsible_unit(&self) -> &str {
        let status = match self.status {
            Status::Parked => self.parked_from.unwrap_or(Status::InProgress),
            s => s,
        };
        match status {
            Status::Dispatched | Status::InProgress => &self.handling_unit,
            _ => self.centre.as_str(),
        }
    }

    /// Whether the handling unit is the owning centre itself.
    pub fn held_by_centre(&self) -> bool {
        self.handling_kind == UnitKind::Center && self.handling_territory == self.centre
    }

    /// The actions this case allows now, whoever asks: the state's actions of
    /// [`allowed_actions`] refined by the case's own data (a decision needs a pending request,
    /// a request needs none pending, an urgent case cannot be marked urgent again, self-handling
    /// needs a case located in a grid).
    pub fn available_actions(&self) -> Vec<Action> {
        allowed_actions(self.status)
            .iter()
            .copied()
            .filter(|a| match a {
                Action::RequestExtension => self.pending_extension.is_none(),
                Action::DecideExtension => self.pending_extension.is_some(),
                Action::RequestPark => self.pending_park.is_none(),
                Action::DecidePark => self.pending_park.is_some(),
                Action::MarkUrgent => self.urgency != Urgency::Urgent,
                Action::SelfHandle => self.territory.level() >= Level::Grid,
                Action::Escalate => self.centre.parent().is_some(),
                _ => true,
            })
            .collect()
    }

    /// The actions this actor may take on this case now (for the action forms of a page).
    pub fn actions_for(&self, actor: &Actor) -> Vec<Action> {
        self.available_actions()
            .into_iter()
            .filter(|a| access::may(self, actor, *a))
            .collect()
    }
}

/// The actions each state allows in principle (the transition table of DOMAIN.md §3).
///
/// | state | actions |
/// |---|---|
/// | submitted | accept, reject, merge, self_handle, note, supervise, mark_urgent |
/// | accepted | dispatch, escalate, merge, report_handled, self_handle, request/decide_extension, request/decide_park, note, supervise, mark_urgent |
/// | dispatched | sign, send_back, transfer, note, supervise, mark_urgent |
/// | in_progress | report_handled, send_back, transfer, request/decide_extension, request/decide_park, note, supervise, mark_urgent |
/// | handled | verify, note, supervise, mark_urgent |
/// | revisit | revisit, close, note, supervise, mark_urgent |
/// | parked | resume, note, supervise |
/// | closed, rejected, merged | nothing |
pub fn allowed_actions(status: Status) -> &'static [Action] {
    use Action as A;
    match status {
        Status::Submitted => &[
            A::Accept,
            A::Reject,
            A::Merge,
            A::SelfHandle,
            A::Note,
            A::Supervise,
            A::MarkUrgent,
        ],
        Status::Accepted => &[
            A::Dispatch,
            A::Escalate,
            A::Merge,
            A::ReportHandled,
            A::SelfHandle,
            A::RequestExtension,
            A::DecideExtension,
            A::RequestPark,
            A::DecidePark,
            A::Note,
            A::Supervise,
            A::MarkUrgent,
        ],
        Status::Dispatched => &[
            A::Sign,
            A::SendBack,
            A::Transfer,
            A::Note,
            A::Supervise,
            A::MarkUrgent,
        ],
        Status::InProgress => &[
            A::ReportHandled,
            A::SendBack,
            A::Transfer,
            A::RequestExtension,
            A::DecideExtension,
            A::RequestPark,
            A::DecidePark,
            A::Note,
            A::Supervise,
            A::MarkUrgent,
        ],
        Status::Handled => &[A::Verify, A::Note, A::Supervise, A::MarkUrgent],
        Status::Revisit => &[A::Revisit, A::Close, A::Note, A::Supervise, A::MarkUrgent],
        Status::Parked => &[A::Resume, A::Note, A::Supervise],
        Status::Closed | Status::Rejected | Status::Merged => &[],
    }
}
