//! Who may act on a case (CONTRACT.md, "Who may act"): the owning centre, the handling unit,
//! the levels above, and nobody else.
//!
//! The capacities, each judged from the case alone (the caller has resolved the actor):
//!
//! - **centre**: a centre operator of the owning centre: `unit` is the centre's code, or, for an
//!   account without a unit, `scope` is the centre's territory;
//! - **handler**: someone of the handling unit: a department handler whose `unit` is the
//!   handling unit; the grid worker of a handling grid (by `unit`, or by `scope` without a unit);
//!   a centre operator of a handling centre (the owning centre while the case sits there, or a
//!   lower centre it was dispatched to);
//! - **upper**: a leader whose scope covers the owning centre (the centre's own level or any level
//!   above), or a centre operator whose scope strictly covers it (a level above). The handling
//!   unit is always at or below the owning centre, so this also covers it;
//! - **approver** of an extension or parking: an upper (as above), or the owning centre when the
//!   request came from the unit it dispatched to; a request the centre raised for its own step
//!   needs the level above or a leader, and nobody approves their own request (four eyes);
//! - **grid worker of the case**: the grid worker whose grid contains the case's place.
//!
//! Administrators maintain data and do nothing on cases; household heads report through the
//! field app (they create cases) but take no case actions.

use crate::account::Role;
use crate::people::UnitKind;
use crate::territory::{Level, TerritoryCode};

use super::{Action, Actor, Case};

/// Whether `actor` has a part in `action` on `case` (whatever the case's state).
pub(crate) fn may(case: &Case, actor: &Actor, action: Action) -> bool {
    if matches!(actor.role, Role::Admin | Role::HouseholdHead) {
        return false;
    }
    match action {
        Action::Accept
        | Action::Reject
        | Action::Merge
        | Action::Dispatch
        | Action::Escalate
        | Action::Transfer
        | Action::Verify
        | Action::Revisit
        | Action::Close => is_centre(case, actor),
        Action::Sign
        | Action::SendBack
        | Action::ReportHandled
        | Action::RequestExtension
        | Action::RequestPark => is_handler(case, actor),
        Action::Note | Action::Resume => is_centre(case, actor) || is_handler(case, actor),
        Action::DecideExtension => {
            let (by_centre, requester) = case
                .pending_extension
                .as_ref()
                .map_or((case.held_by_centre(), None), |p| {
                    (p.by_centre, p.requested_by)
                });
            is_approver(case, actor, by_centre, requester)
        }
        Action::DecidePark => {
            let (by_centre, requester) = case
                .pending_park
                .as_ref()
                .map_or((case.held_by_centre(), None), |p| {
                    (p.by_centre, p.requested_by)
                });
            is_approver(case, actor, by_centre, requester)
        }
        Action::Supervise | Action::MarkUrgent => is_centre(case, actor) || is_upper(case, actor),
        Action::SelfHandle => is_grid_worker_of_case(case, actor),
    }
}

/// An operator of the centre of `territory`.
fn operates_centre(actor: &Actor, territory: &TerritoryCode) -> bool {
    actor.role == Role::CenterOperator
        && match &actor.unit {
            Some(unit) => unit == territory.as_str(),
            None => actor.scope == *territory,
        }
}

fn is_centre(case: &Case, actor: &Actor) -> bool {
    operates_centre(actor, &case.centre)
}

fn is_handler(case: &Case, actor: &Actor) -> bool {
    match case.handling_kind {
        UnitKind::Center => operates_centre(actor, &case.handling_territory),
        UnitKind::Department => {
            actor.role == Role::DepartmentHandler
                && actor.unit.as_deref() == Some(case.handling_unit.as_str())
        }
        UnitKind::Grid => {
            actor.role == Role::GridWorker
                && match &actor.unit {
                    Some(unit) => *unit == case.handling_unit,
                    None => actor.scope == case.handling_territory,
                }
        }
    }
}

fn is_upper(case: &Case, actor: &Actor) -> bool {
    match actor.role {
        Role::Leader => actor.scope.covers(&case.centre),
        Role::CenterOperator => actor.scope != case.centre && actor.scope.covers(&case.centre),
        _ => false,
    }
}

fn is_approver(case: &Case, actor: &Actor, by_centre: bool, requester: Option<i64>) -> bool {
    if requester == Some(actor.account_id) {
        return false;
    }
    is_upper(case, actor) || (!by_centre && is_centre(case, actor))
}

/// The grid an account works in: its unit (a grid code) or, without a unit, a grid scope.
pub(crate) fn grid_of(actor: &Actor) -> Option<TerritoryCode> {
    if actor.role != Role::GridWorker {
        return None;
    }
    let grid = match &actor.unit {
        Some(unit) => TerritoryCode::parse(unit).ok()?,
        None => actor.scope.clone(),
    };
    (grid.level() == Level::Grid).then_some(grid)
}

fn is_grid_worker_of_case(case: &Case, actor: &Actor) -> bool {
    grid_of(actor).is_some_and(|grid| grid.covers(&case.territory))
}
