//! Table tests for every (state, action) pair, permissions, and every path of the loop.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::account::Role;
use crate::people::UnitKind;
use crate::territory::{Level, TerritoryCode};

use super::*;

// ---------------------------------------------------------------------------------------------
// The test world: 夏河县 623027, 达麦乡 623027202, 达麦村 623027202201 and two of its grids,
// another township, another county.

pub(super) const COUNTY: &str = "623027";
pub(super) const TOWNSHIP: &str = "623027202";
pub(super) const VILLAGE: &str = "623027202201";
pub(super) const GRID: &str = "623027202201001";
pub(super) const OTHER_GRID: &str = "623027202201002";
pub(super) const OTHER_TOWNSHIP: &str = "623027203";
pub(super) const OTHER_COUNTY: &str = "623026";

pub(super) fn tc(s: &str) -> TerritoryCode {
    TerritoryCode::parse(s).unwrap()
}

pub(super) fn t0() -> DateTime<Utc> {
    // 2025-09-15 10:00 in Gannan.
    Utc.with_ymd_and_hms(2025, 9, 15, 2, 0, 0).unwrap()
}

fn id_of(s: &str) -> i64 {
    s.bytes()
        .fold(17i64, |h, b| h.wrapping_mul(31).wrapping_add(i64::from(b)))
        .rem_euclid(1_000_000_007)
}

pub(super) fn actor(role: Role, scope: &str, unit: Option<&str>) -> Actor {
    Actor {
        account_id: id_of(&format!("{}/{scope}/{unit:?}", role.as_str())),
        role,
        scope: tc(scope),
        unit: unit.map(str::to_owned),
    }
}

pub(super) fn centre_op(code: &str) -> Actor {
    actor(Role::CenterOperator, code, Some(code))
}

pub(super) fn leader(code: &str) -> Actor {
    actor(Role::Leader, code, None)
}

pub(super) fn worker(grid: &str) -> Actor {
    actor(Role::GridWorker, grid, Some(grid))
}

pub(super) fn dept_handler(unit: &UnitRef) -> Actor {
    actor(
        Role::DepartmentHandler,
        unit.territory.as_str(),
        Some(&unit.code),
    )
}

pub(super) fn admin() -> Actor {
    actor(Role::Admin, "623000", None)
}

pub(super) fn dept(territory: &str, slug: &str) -> UnitRef {
    UnitRef::department(&tc(territory), slug)
}

pub(super) fn centre_ref(code: &str) -> UnitRef {
    UnitRef::centre(&tc(code))
}

pub(super) fn grid_ref(code: &str) -> UnitRef {
    UnitRef::grid(&tc(code))
}

/// Someone of the unit now handling the case.
pub(super) fn handler_of(case: &Case) -> Actor {
    match case.handling_kind {
        UnitKind::Center => centre_op(&case.handling_unit),
        UnitKind::Grid => worker(&case.handling_unit),
        UnitKind::Department => dept_handler(&UnitRef {
            code: case.handling_unit.clone(),
            kind: UnitKind::Department,
            territory: case.handling_territory.clone(),
        }),
    }
}

pub(super) fn the_centre(case: &Case) -> Actor {
    centre_op(case.centre.as_str())
}

pub(super) fn text(s: &str) -> String {
    s.to_owned()
}

/// A case driven through the engine, with its history and incrementally kept counters; every
/// step checks that replay and recount agree with the incremental state.
pub(super) struct Run {
    pub case: Case,
    pub history: Vec<Event>,
    pub counters: BTreeMap<CounterKey, i64>,
    pub now: DateTime<Utc>,
    pub policy: SimplePolicy,
}

impl Run {
    pub fn new(centre: &str, territory: &str) -> Run {
        Run::with(centre, territory, Urgency::Normal, Channel::ResidentPage)
    }

    pub fn with(centre: &str, territory: &str, urgency: Urgency, channel: Channel) -> Run {
        let policy = SimplePolicy::default();
        let now = t0();
        let new = NewCase {
            id: 1001,
            code: CaseCode::for_instant(now, 1).unwrap(),
            category: "dispute.pasture".into(),
            territory: tc(territory),
            centre: tc(centre),
            urgency,
            channel,
        };
        let (case, event) = Case::create(new, None, &policy, now).unwrap();
        let mut counters = BTreeMap::new();
        for d in counter_deltas(&case, &event, &case) {
            *counters.entry(d.key()).or_insert(0) += d.delta;
        }
        Run {
            case,
            history: vec![event],
            counters,
            now,
            policy,
        }
    }

    pub fn wait(&mut self, d: Duration) -> &mut Self {
        self.now += d;
        self
    }

    pub fn try_act(&mut self, by: &Actor, cmd: Command) -> Result<Status, CaseError> {
        let events = decide(&self.case, &cmd, by, &self.policy, self.now)?;
        for e in events {
            self.push(e);
        }
        Ok(self.case.status)
    }

    pub fn push(&mut self, e: Event) {
        let after = apply(self.case.clone(), &e);
        for d in counter_deltas(&self.case, &e, &after) {
            *self.counters.entry(d.key()).or_insert(0) += d.delta;
        }
        self.case = after;
        self.history.push(e);
        assert_eq!(replay(&self.history).unwrap(), self.case);
        assert_eq!(recount(&self.history), self.counters);
    }

    #[track_caller]
    pub fn ok(&mut self, by: &Actor, cmd: Command) -> &mut Self {
        let what = format!("{cmd:?} by {:?} at {:?}", by.role, self.case.status);
        if let Err(e) = self.try_act(by, cmd) {
            panic!("{what}: {e}");
        }
        self
    }

    /// The sum of a counter over all days.
    pub fn count(&self, unit: &str, counter: Counter) -> i64 {
        self.counters
            .iter()
            .filter(|((u, _, c), _)| u == unit && *c == counter)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn actions(&self) -> Vec<&'static str> {
        self.history.iter().map(Event::action).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The transition table.

/// Every allowed (state, action) pair and the state it leads to with the canonical parameters
/// of [`canonical`] (approve, pass, satisfied, a department as assignee). Every pair not listed
/// must be refused with `NotAllowed`.
const EXPECTED: &[(Status, Action, Status)] = {
    use Action as A;
    use Status as S;
    &[
        (S::Submitted, A::Accept, S::Accepted),
        (S::Submitted, A::Reject, S::Rejected),
        (S::Submitted, A::Merge, S::Merged),
        (S::Submitted, A::SelfHandle, S::Handled),
        (S::Submitted, A::Note, S::Submitted),
        (S::Submitted, A::Supervise, S::Submitted),
        (S::Submitted, A::MarkUrgent, S::Submitted),
        (S::Accepted, A::Dispatch, S::Dispatched),
        (S::Accepted, A::Escalate, S::Accepted),
        (S::Accepted, A::Merge, S::Merged),
        (S::Accepted, A::ReportHandled, S::Handled),
        (S::Accepted, A::SelfHandle, S::Handled),
        (S::Accepted, A::RequestExtension, S::Accepted),
        (S::Accepted, A::DecideExtension, S::Accepted),
        (S::Accepted, A::RequestPark, S::Accepted),
        (S::Accepted, A::DecidePark, S::Parked),
        (S::Accepted, A::Note, S::Accepted),
        (S::Accepted, A::Supervise, S::Accepted),
        (S::Accepted, A::MarkUrgent, S::Accepted),
        (S::Dispatched, A::Sign, S::InProgress),
        (S::Dispatched, A::SendBack, S::Accepted),
        (S::Dispatched, A::Transfer, S::Dispatched),
        (S::Dispatched, A::Note, S::Dispatched),
        (S::Dispatched, A::Supervise, S::Dispatched),
        (S::Dispatched, A::MarkUrgent, S::Dispatched),
        (S::InProgress, A::ReportHandled, S::Handled),
        (S::InProgress, A::SendBack, S::Accepted),
        (S::InProgress, A::Transfer, S::Dispatched),
        (S::InProgress, A::RequestExtension, S::InProgress),
        (S::InProgress, A::DecideExtension, S::InProgress),
        (S::InProgress, A::RequestPark, S::InProgress),
        (S::InProgress, A::DecidePark, S::Parked),
        (S::InProgress, A::Note, S::InProgress),
        (S::InProgress, A::Supervise, S::InProgress),
        (S::InProgress, A::MarkUrgent, S::InProgress),
        (S::Handled, A::Verify, S::Revisit),
        (S::Handled, A::Note, S::Handled),
        (S::Handled, A::Supervise, S::Handled),
        (S::Handled, A::MarkUrgent, S::Handled),
        (S::Revisit, A::Revisit, S::Closed),
        (S::Revisit, A::Close, S::Closed),
        (S::Revisit, A::Note, S::Revisit),
        (S::Revisit, A::Supervise, S::Revisit),
        (S::Revisit, A::MarkUrgent, S::Revisit),
        (S::Parked, A::Resume, S::InProgress),
        (S::Parked, A::Note, S::Parked),
        (S::Parked, A::Supervise, S::Parked),
    ]
};

/// A case of 达麦乡's centre in grid 001, brought to `status` by the usual path.
fn at_status(status: Status) -> Run {
    let mut run = Run::new(TOWNSHIP, GRID);
    let c = centre_op(TOWNSHIP);
    let police = dept(TOWNSHIP, "police");
    let h = dept_handler(&police);
    let hour = Duration::hours(1);
    let path: Vec<(Actor, Command)> = match status {
        Status::Submitted => vec![],
        Status::Accepted => vec![(c.clone(), Command::Accept)],
        Status::Rejected => vec![(
            c.clone(),
            Command::Reject {
                reason: text("不属于受理范围"),
                redirect: Some(text("12345")),
            },
        )],
        Status::Merged => vec![(c.clone(), Command::Merge { into: 7 })],
        _ => {
            let mut p = vec![
                (c.clone(), Command::Accept),
                (c.clone(), Command::Dispatch { to: police.clone() }),
                (h.clone(), Command::Sign),
            ];
            match status {
                Status::Dispatched => {
                    p.pop();
                }
                Status::InProgress => {}
                Status::Parked => p.extend([
                    (
                        h.clone(),
                        Command::RequestPark {
                            reason: text("待春季草场勘界"),
                        },
                    ),
                    (c.clone(), Command::DecidePark { approve: true }),
                ]),
                _ => {
                    p.push((
                        h.clone(),
                        Command::ReportHandled {
                            result: HandleResult::Solved,
                            text: text("已调解"),
                        },
                    ));
                    if status != Status::Handled {
                        p.push((c.clone(), Command::Verify { passed: true }));
                    }
                    if status == Status::Closed {
                        p.push((
                            c.clone(),
                            Command::Revisit {
                                satisfaction: Satisfaction::Satisfied,
                            },
                        ));
                    }
                }
            }
            p
        }
    };
    for (by, cmd) in path {
        run.wait(hour).ok(&by, cmd);
    }
    assert_eq!(run.case.status, status);
    run
}

/// The usual actor and parameters of each action on `case`.
fn canonical(case: &Case, action: Action) -> (Actor, Command) {
    let reason = || text("理由");
    let c = the_centre(case);
    let h = handler_of(case);
    let county_leader = leader(COUNTY);
    match action {
        Action::Accept => (c, Command::Accept),
        Action::Reject => (
            c,
            Command::Reject {
                reason: reason(),
                redirect: None,
            },
        ),
        Action::Merge => (c, Command::Merge { into: 7 }),
        Action::Dispatch => (
            c,
            Command::Dispatch {
                to: dept(TOWNSHIP, "police"),
            },
        ),
        Action::Sign => (h, Command::Sign),
        Action::SendBack => (h, Command::SendBack { reason: reason() }),
        Action::Escalate => (
            c,
            Command::Escalate {
                reason: reason(),
                to: centre_ref(case.centre.parent().unwrap().as_str()),
            },
        ),
        Action::Transfer => (
            c,
            Command::Transfer {
                to: dept(TOWNSHIP, "justice"),
                reason: None,
            },
        ),
        Action::Note => (c, Command::Note { text: reason() }),
        Action::RequestExtension => (
            h,
            Command::RequestExtension {
                working_days: 3,
                reason: reason(),
            },
        ),
        Action::DecideExtension => (leader(case.centre.as_str()), {
            Command::DecideExtension { approve: true }
        }),
        Action::RequestPark => (h, Command::RequestPark { reason: reason() }),
        Action::DecidePark => (
            leader(case.centre.as_str()),
            Command::DecidePark { approve: true },
        ),
        Action::Resume => (c, Command::Resume),
        Action::ReportHandled => (
            h,
            Command::ReportHandled {
                result: HandleResult::Solved,
                text: reason(),
            },
        ),
        Action::Verify => (c, Command::Verify { passed: true }),
        Action::Revisit => (
            c,
            Command::Revisit {
                satisfaction: Satisfaction::Satisfied,
            },
        ),
        Action::Close => (c, Command::Close),
        Action::Supervise => (
            county_leader,
            Command::Supervise {
                level: SuperviseLevel::Yellow,
                text: reason(),
            },
        ),
        Action::MarkUrgent => (county_leader, Command::MarkUrgent),
        Action::SelfHandle => (
            worker(GRID),
            Command::SelfHandle {
                result: HandleResult::Solved,
                text: reason(),
            },
        ),
    }
}

#[test]
fn every_state_action_pair_follows_the_table() {
    let expected: BTreeMap<(Status, Action), Status> =
        EXPECTED.iter().map(|(s, a, t)| ((*s, *a), *t)).collect();
    assert_eq!(expected.len(), EXPECTED.len(), "no pair twice");
    let mut checked = 0;
    for &status in Status::ALL {
        let table: BTreeSet<Action> = EXPECTED
            .iter()
            .filter(|(s, _, _)| *s == status)
            .map(|(_, a, _)| *a)
            .collect();
        let engine: BTreeSet<Action> = allowed_actions(status).iter().copied().collect();
        assert_eq!(engine, table, "allowed_actions({status})");
        assert_eq!(status.is_terminal(), table.is_empty(), "{status}");

        for &action in Action::ALL {
            let mut run = at_status(status);
            // A decision needs its request first.
            let request = match action {
                Action::DecideExtension => Some(Action::RequestExtension),
                Action::DecidePark => Some(Action::RequestPark),
                _ => None,
            };
            if let Some(request) = request.filter(|r| allowed_actions(status).contains(r)) {
                let (by, cmd) = canonical(&run.case, request);
                run.ok(&by, cmd);
            }
            let before = run.case.clone();
            let (by, cmd) = canonical(&run.case, action);
            let result = run.try_act(&by, cmd);
            match (expected.get(&(status, action)), result) {
                (Some(to), Ok(got)) => assert_eq!(got, *to, "{status} --{action}-->"),
                (Some(_), Err(e)) => panic!("{status} --{action}--> refused: {e:?}"),
                (None, Ok(got)) => panic!("{status} --{action}--> {got} should be refused"),
                (None, Err(e)) => {
                    assert_eq!(
                        e,
                        CaseError::NotAllowed {
                            status,
                            action,
                            allowed: before
                                .available_actions()
                                .into_iter()
                                .map(Action::as_str)
                                .collect(),
                        },
                        "{status} --{action}-->"
                    );
                    assert_eq!(run.case, before);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 10 * 21);
}

#[test]
fn available_actions_refine_the_table() {
    for &status in Status::ALL {
        let run = at_status(status);
        let available = run.case.available_actions();
        assert!(
            available
                .iter()
                .all(|a| allowed_actions(status).contains(a))
        );
        // Without a pending request, no decision is offered.
        assert!(!available.contains(&Action::DecideExtension));
        assert!(!available.contains(&Action::DecidePark));
    }
    let mut run = at_status(Status::InProgress);
    let h = handler_of(&run.case);
    run.ok(
        &h,
        Command::RequestExtension {
            working_days: 2,
            reason: text("等待鉴定"),
        },
    );
    let available = run.case.available_actions();
    assert!(available.contains(&Action::DecideExtension));
    assert!(!available.contains(&Action::RequestExtension));
}

#[test]
fn names_are_the_contract_names() {
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "submitted",
            "accepted",
            "dispatched",
            "in_progress",
            "handled",
            "revisit",
            "closed",
            "parked",
            "rejected",
            "merged"
        ]
    );
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(
        actions.join(", "),
        "accept, reject, merge, dispatch, sign, send_back, escalate, transfer, note, \
         request_extension, decide_extension, request_park, decide_park, resume, \
         report_handled, verify, revisit, close, supervise, mark_urgent, self_handle"
    );
    let channels: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        channels.join(" "),
        "resident_page field_app hotline_12345 walk_in petition deputy_relay court_referral \
         open311 csv_import legacy_import"
    );
    fn serde_agrees<T>(all: &[T], name: fn(&T) -> &'static str, parse: fn(&str) -> Option<T>)
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for v in all {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{}\"", name(v)));
            assert_eq!(serde_json::from_str::<T>(&json).unwrap(), *v);
            assert_eq!(parse(name(v)).as_ref(), Some(v));
        }
    }
    serde_agrees(Status::ALL, |v| v.as_str(), Status::parse);
    serde_agrees(Action::ALL, |v| v.as_str(), Action::parse);
    serde_agrees(Channel::ALL, |v| v.as_str(), Channel::parse);
    serde_agrees(Urgency::ALL, |v| v.as_str(), Urgency::parse);
    serde_agrees(HandleResult::ALL, |v| v.as_str(), HandleResult::parse);
    serde_agrees(Satisfaction::ALL, |v| v.as_str(), Satisfaction::parse);
    serde_agrees(SuperviseLevel::ALL, |v| v.as_str(), SuperviseLevel::parse);
    serde_agrees(Step::ALL, |v| v.as_str(), Step::parse);
    serde_agrees(Counter::ALL, |v| v.as_str(), Counter::parse);
    assert_eq!(Status::parse("open"), None);
    assert_eq!(Status::InProgress.name_zh(), "办理中");
}

// ---------------------------------------------------------------------------------------------
// Permissions.

fn forbidden(run: &mut Run, by: &Actor, cmd: Command) {
    let action = cmd.action();
    let before = run.case.clone();
    assert_eq!(
        run.try_act(by, cmd),
        Err(CaseError::Forbidden { action }),
        "{action} by {by:?}"
    );
    assert_eq!(run.case, before);
}

#[test]
fn a_centre_of_another_county_is_forbidden() {
    let mut run = Run::new(TOWNSHIP, GRID);
    forbidden(&mut run, &centre_op(OTHER_COUNTY), Command::Accept);
    // The other county's leader may not supervise either.
    forbidden(
        &mut run,
        &leader(OTHER_COUNTY),
        Command::Supervise {
            level: SuperviseLevel::Red,
            text: text("督办"),
        },
    );
    // Nor may the neighbouring township's centre, nor the village centre below.
    forbidden(&mut run, &centre_op(OTHER_TOWNSHIP), Command::Accept);
    forbidden(&mut run, &centre_op(VILLAGE), Command::Accept);
    // The county centre above may supervise but not accept for the township.
    forbidden(&mut run, &centre_op(COUNTY), Command::Accept);
    run.ok(
        &centre_op(COUNTY),
        Command::Supervise {
            level: SuperviseLevel::Normal,
            text: text("请尽快受理"),
        },
    );
    // An operator without a unit is recognised by his scope.
    run.ok(
        &actor(Role::CenterOperator, TOWNSHIP, None),
        Command::Accept,
    );
}

#[test]
fn a_handler_of_another_unit_is_forbidden() {
    let mut run = at_status(Status::Dispatched);
    let county_police = dept(COUNTY, "police");
    forbidden(&mut run, &dept_handler(&county_police), Command::Sign);
    forbidden(
        &mut run,
        &dept_handler(&dept(TOWNSHIP, "justice")),
        Command::Sign,
    );
    // A handler with the right scope but no unit is nobody's handler.
    forbidden(
        &mut run,
        &actor(Role::DepartmentHandler, TOWNSHIP, None),
        Command::Sign,
    );
    forbidden(&mut run, &worker(GRID), Command::Sign);
    // The centre dispatched it; it does not sign for the department.
    forbidden(&mut run, &centre_op(TOWNSHIP), Command::Sign);
    let h = handler_of(&run.case);
    run.ok(&h, Command::Sign);
    // Handlers do not verify their own work.
    run.ok(
        &h,
        Command::ReportHandled {
            result: HandleResult::Solved,
            text: text("已处理"),
        },
    );
    forbidden(&mut run, &h, Command::Verify { passed: true });
}

#[test]
fn an_upper_leader_may_supervise_but_not_sign() {
    let mut run = at_status(Status::Dispatched);
    for boss in [leader(COUNTY), leader("623000"), leader(TOWNSHIP)] {
        forbidden(&mut run, &boss, Command::Sign);
        forbidden(&mut run, &boss, Command::Accept);
        run.ok(
            &boss,
            Command::Supervise {
                level: SuperviseLevel::Yellow,
                text: text("限期签收"),
            },
        );
    }
    assert_eq!(run.case.supervision.yellow, 3);
    assert_eq!(run.case.status, Status::Dispatched);
    // A leader below the owning centre is not above it.
    forbidden(
        &mut run,
        &leader(VILLAGE),
        Command::Supervise {
            level: SuperviseLevel::Normal,
            text: text("x"),
        },
    );
}

#[test]
fn admins_and_household_heads_do_nothing_on_cases() {
    let head = actor(Role::HouseholdHead, "623027202201001004", None);
    for &status in Status::ALL {
        let run = at_status(status);
        for &action in Action::ALL {
            let (_, cmd) = canonical(&run.case, action);
            for who in [admin(), head.clone()] {
                let got = decide(&run.case, &cmd, &who, &run.policy, run.now);
                assert_eq!(got, Err(CaseError::Forbidden { action }));
            }
        }
        assert!(run.case.actions_for(&admin()).is_empty());
    }
}

#[test]
fn actions_for_lists_what_each_actor_may_do_now() {
    let run = at_status(Status::InProgress);
    let names = |a: &Actor| -> Vec<&str> {
        run.case
            .actions_for(a)
            .into_iter()
            .map(Action::as_str)
            .collect()
    };
    assert_eq!(
        names(&handler_of(&run.case)),
        [
            "report_handled",
            "send_back",
            "request_extension",
            "request_park",
            "note"
        ]
    );
    assert_eq!(
        names(&centre_op(TOWNSHIP)),
        ["transfer", "note", "supervise", "mark_urgent"]
    );
    assert_eq!(names(&leader(COUNTY)), ["supervise", "mark_urgent"]);
    assert!(names(&centre_op(OTHER_COUNTY)).is_empty());
}

#[test]
fn approvals_need_the_centre_or_the_level_above_and_four_eyes() {
    // The department asks; the dispatching centre may decide.
    let mut run = at_status(Status::InProgress);
    let h = handler_of(&run.case);
    run.ok(
        &h,
        Command::RequestExtension {
            working_days: 2,
            reason: text("等待鉴定"),
        },
    );
    forbidden(&mut run, &h, Command::DecideExtension { approve: true });
    forbidden(
        &mut run,
        &dept_handler(&dept(TOWNSHIP, "justice")),
        Command::DecideExtension { approve: true },
    );
    run.ok(
        &centre_op(TOWNSHIP),
        Command::DecideExtension { approve: true },
    );

    // The centre asks for its own step; it may not approve itself, its leader or the level above may.
    let mut run = at_status(Status::Accepted);
    let c = centre_op(TOWNSHIP);
    run.ok(
        &c,
        Command::RequestPark {
            reason: text("需县级统筹"),
        },
    );
    forbidden(&mut run, &c, Command::DecidePark { approve: true });
    let colleague = Actor {
        account_id: 99,
        ..centre_op(TOWNSHIP)
    };
    forbidden(&mut run, &colleague, Command::DecidePark { approve: true });
    run.ok(&centre_op(COUNTY), Command::DecidePark { approve: false });
    assert_eq!(run.case.status, Status::Accepted);
    run.ok(
        &c,
        Command::RequestPark {
            reason: text("需县级统筹"),
        },
    );
    run.ok(&leader(TOWNSHIP), Command::DecidePark { approve: true });
    assert_eq!(run.case.status, Status::Parked);
}

#[test]
fn only_the_grid_worker_of_the_place_self_handles() {
    let mut run = Run::with(VILLAGE, GRID, Urgency::Normal, Channel::FieldApp);
    let cmd = || Command::SelfHandle {
        result: HandleResult::Solved,
        text: text("现场劝解"),
    };
    forbidden(&mut run, &worker(OTHER_GRID), cmd());
    forbidden(&mut run, &centre_op(VILLAGE), cmd());
    run.ok(&worker(GRID), cmd());
    // A case placed at a village (no grid) cannot be self-handled.
    let run = Run::new(VILLAGE, VILLAGE);
    assert!(!run.case.available_actions().contains(&Action::SelfHandle));
}

// ---------------------------------------------------------------------------------------------
// Paths of the loop.

fn report(run: &mut Run, result: HandleResult) {
    let h = handler_of(&run.case);
    run.ok(
        &h,
        Command::ReportHandled {
            result,
            text: text("已处置，附照片"),
        },
    );
}

#[test]
fn happy_path_in_a_grid_of_damai() {
    let mut run = Run::new(TOWNSHIP, GRID);
    let c = centre_op(TOWNSHIP);
    let w = worker(GRID);
    assert_eq!(run.case.status, Status::Submitted);
    assert_eq!(run.case.handling_unit, TOWNSHIP);
    assert_eq!(run.case.handling_level, Level::Township);
    assert_eq!(run.case.step, Some(Step::Accept));
    assert_eq!(run.case.deadline, Some(t0() + Duration::hours(24)));

    run.wait(Duration::hours(2)).ok(&c, Command::Accept);
    assert_eq!(run.case.step, Some(Step::Handle));
    run.wait(Duration::hours(1))
        .ok(&c, Command::Dispatch { to: grid_ref(GRID) });
    assert_eq!(run.case.handling_unit, GRID);
    assert_eq!(run.case.handling_level, Level::Grid);
    assert_eq!(run.case.step, Some(Step::Sign));
    assert_eq!(run.case.deadline, Some(run.now + Duration::hours(24)));
    run.wait(Duration::hours(1)).ok(&w, Command::Sign);
    assert_eq!(run.case.status, Status::InProgress);
    assert_eq!(run.case.deadline, Some(run.now + Duration::hours(120)));
    run.wait(Duration::hours(30)).ok(
        &w,
        Command::Note {
            text: text("已约双方面谈"),
        },
    );
    run.wait(Duration::hours(20));
    report(&mut run, HandleResult::Solved);
    assert_eq!(run.case.status, Status::Handled);
    assert_eq!(run.case.result, Some(HandleResult::Solved));
    run.wait(Duration::hours(3))
        .ok(&c, Command::Verify { passed: true });
    assert_eq!(run.case.status, Status::Revisit);
    run.wait(Duration::hours(5)).ok(
        &c,
        Command::Revisit {
            satisfaction: Satisfaction::VerySatisfied,
        },
    );
    let case = &run.case;
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.satisfaction, Some(Satisfaction::VerySatisfied));
    assert_eq!(case.ended_at, Some(run.now));
    assert_eq!((case.step, case.deadline), (None, None));
    assert_eq!(
        run.actions(),
        [
            "create",
            "accept",
            "dispatch",
            "sign",
            "note",
            "report_handled",
            "verify",
            "revisit"
        ]
    );
    let statuses: Vec<(Option<Status>, Status)> = run
        .history
        .iter()
        .map(|e| (e.from_status, e.to_status))
        .collect();
    assert_eq!(statuses[0], (None, Status::Submitted));
    assert_eq!(statuses[2], (Some(Status::Accepted), Status::Dispatched));
    let by = run.history[3].by.as_ref().unwrap();
    assert_eq!((by.role, by.level), (Role::GridWorker, Level::Grid));

    for (unit, counter, n) in [
        (TOWNSHIP, Counter::Received, 1),
        (TOWNSHIP, Counter::DueAccept, 1),
        (TOWNSHIP, Counter::AcceptedOnTime, 1),
        (TOWNSHIP, Counter::Dispatched, 1),
        (TOWNSHIP, Counter::DispatchedAccurately, 1),
        (TOWNSHIP, Counter::Redispatched, 0),
        (GRID, Counter::DueSign, 1),
        (GRID, Counter::SignedOnTime, 1),
        (GRID, Counter::DueClose, 1),
        (GRID, Counter::ClosedOnTime, 1),
        (GRID, Counter::Revisited, 1),
        (GRID, Counter::Satisfied, 1),
        (GRID, Counter::Closed, 1),
        (GRID, Counter::Rework, 0),
    ] {
        assert_eq!(run.count(unit, counter), n, "{unit} {counter}");
    }
    // Counted on the Shanghai day of each event.
    let day = NaiveDate::from_ymd_opt(2025, 9, 15).unwrap();
    assert_eq!(
        run.counters
            .get(&(TOWNSHIP.to_owned(), day, Counter::DueAccept)),
        Some(&1)
    );
}

#[test]
fn send_back_returns_to_the_dispatching_centre() {
    let mut run = at_status(Status::Dispatched);
    let h = handler_of(&run.case);
    let c = centre_op(TOWNSHIP);
    assert_eq!(
        run.try_act(&h, Command::SendBack { reason: text(" ") }),
        Err(CaseError::Invalid {
            field: "reason",
            message: text("must not be empty")
        })
    );
    run.ok(
        &h,
        Command::SendBack {
            reason: text("非本单位职责，属草场权属纠纷"),
        },
    );
    assert_eq!(run.case.status, Status::Accepted);
    assert_eq!(run.case.handling_unit, TOWNSHIP);
    assert_eq!(run.case.sent_back_count, 1);
    assert_eq!(
        run.history.last().unwrap().reason(),
        Some("非本单位职责，属草场权属纠纷")
    );
    run.ok(
        &c,
        Command::Dispatch {
            to: dept(TOWNSHIP, "justice"),
        },
    );
    let h2 = handler_of(&run.case);
    run.ok(&h2, Command::Sign);
    // Sent back again after signing: also allowed.
    run.ok(
        &h2,
        Command::SendBack {
            reason: text("需乡政府统筹"),
        },
    );
    run.ok(&c, Command::Dispatch { to: grid_ref(GRID) });
    let w = worker(GRID);
    run.ok(&w, Command::Sign);
    report(&mut run, HandleResult::Solved);
    assert_eq!(run.count("623027202-police", Counter::SentBack), 1);
    assert_eq!(run.count("623027202-justice", Counter::SentBack), 1);
    assert_eq!(run.count(TOWNSHIP, Counter::Dispatched), 3);
    assert_eq!(run.count(TOWNSHIP, Counter::Redispatched), 2);
    assert_eq!(run.count(TOWNSHIP, Counter::DispatchedAccurately), 1);
    assert_eq!(run.count("623027202-justice", Counter::DueSign), 1);
}

#[test]
fn escalate_to_the_county_then_dispatch_to_a_department() {
    let mut run = Run::new(TOWNSHIP, GRID);
    let township = centre_op(TOWNSHIP);
    let county = centre_op(COUNTY);
    run.ok(&township, Command::Accept);
    // Only to the parent level's centre.
    for wrong in [
        centre_ref("623000"),
        centre_ref(VILLAGE),
        dept(COUNTY, "police"),
    ] {
        let got = run.try_act(
            &township,
            Command::Escalate {
                reason: text("超出乡级权限"),
                to: wrong,
            },
        );
        assert!(
            matches!(got, Err(CaseError::Invalid { field: "to", .. })),
            "{got:?}"
        );
    }
    run.wait(Duration::hours(4)).ok(
        &township,
        Command::Escalate {
            reason: text("涉及跨乡草场界线，超出乡级权限"),
            to: centre_ref(COUNTY),
        },
    );
    let case = &run.case;
    assert_eq!(case.status, Status::Accepted);
    assert_eq!(case.centre, tc(COUNTY));
    assert_eq!(case.handling_level, Level::County);
    assert_eq!(case.escalation_count, 1);
    assert_eq!(case.step_started_at, Some(run.now));
    // The township no longer holds it.
    forbidden(
        &mut run,
        &township,
        Command::Dispatch {
            to: dept(TOWNSHIP, "police"),
        },
    );
    // Across to a county department.
    run.ok(
        &county,
        Command::Dispatch {
            to: dept(COUNTY, "natural-resources"),
        },
    );
    let h = handler_of(&run.case);
    assert_eq!(h.unit.as_deref(), Some("623027-natural-resources"));
    run.ok(&h, Command::Sign);
    report(&mut run, HandleResult::PartlySolved);
    forbidden(&mut run, &township, Command::Verify { passed: true });
    run.ok(&county, Command::Verify { passed: true });
    run.ok(
        &county,
        Command::Revisit {
            satisfaction: Satisfaction::Understanding,
        },
    );
    assert_eq!(run.case.status, Status::Closed);
    assert_eq!(run.count(TOWNSHIP, Counter::Escalated), 1);
    assert_eq!(run.count(COUNTY, Counter::Dispatched), 1);
    assert_eq!(run.count(COUNTY, Counter::DispatchedAccurately), 1);
    assert_eq!(run.count("623027-natural-resources", Counter::Satisfied), 0);
    assert_eq!(run.count("623027-natural-resources", Counter::Closed), 1);

    // The prefecture has no level above.
    let mut run = Run::new("623000", GRID);
    run.ok(&centre_op("623000"), Command::Accept);
    assert!(!run.case.available_actions().contains(&Action::Escalate));
}

#[test]
fn a_lower_centre_that_signs_takes_the_case_over() {
    let mut run = Run::new(COUNTY, GRID);
    let county = centre_op(COUNTY);
    let township = centre_op(TOWNSHIP);
    run.ok(&county, Command::Accept);
    run.ok(
        &county,
        Command::Dispatch {
            to: centre_ref(TOWNSHIP),
        },
    );
    assert_eq!(run.case.handling_kind, UnitKind::Center);
    forbidden(&mut run, &county, Command::Sign);
    run.ok(&township, Command::Sign);
    assert_eq!(run.case.status, Status::Accepted);
    assert_eq!(run.case.centre, tc(TOWNSHIP));
    assert_eq!(run.count(TOWNSHIP, Counter::SignedOnTime), 1);
    assert_eq!(run.count(COUNTY, Counter::DispatchedAccurately), 1);
    // The township dispatches on, verifies and closes; the county still supervises.
    run.ok(&township, Command::Dispatch { to: grid_ref(GRID) });
    assert_eq!(run.count(TOWNSHIP, Counter::Redispatched), 0);
    run.ok(
        &county,
        Command::Supervise {
            level: SuperviseLevel::Normal,
            text: text("关注"),
        },
    );
    assert_eq!(run.count(GRID, Counter::SupervisedNormal), 1);
    run.ok(&worker(GRID), Command::Sign);
    report(&mut run, HandleResult::Solved);
    forbidden(&mut run, &county, Command::Verify { passed: true });
    run.ok(&township, Command::Verify { passed: true });
    run.ok(&township, Command::Close);
    assert_eq!(run.case.status, Status::Closed);
}

#[test]
fn a_centre_may_handle_a_case_itself() {
    let mut run = at_status(Status::Accepted);
    let c = centre_op(TOWNSHIP);
    report(&mut run, HandleResult::Solved);
    assert_eq!(run.case.status, Status::Handled);
    assert_eq!(run.case.handling_unit, TOWNSHIP);
    assert_eq!(run.count(TOWNSHIP, Counter::DueClose), 1);
    assert_eq!(run.count(TOWNSHIP, Counter::DispatchedAccurately), 0);
    run.ok(&c, Command::Verify { passed: false });
    assert_eq!(run.case.status, Status::InProgress);
    assert_eq!(run.case.handling_unit, TOWNSHIP);
    // Held by the centre, a send-back just puts it back on the centre's desk.
    run.ok(
        &c,
        Command::SendBack {
            reason: text("改派网格处理"),
        },
    );
    assert_eq!(run.case.status, Status::Accepted);
}

#[test]
fn failed_verification_is_rework_at_the_same_unit() {
    let mut run = at_status(Status::Handled);
    let c = centre_op(TOWNSHIP);
    let unit = run.case.handling_unit.clone();
    run.wait(Duration::hours(2))
        .ok(&c, Command::Verify { passed: false });
    assert_eq!(run.case.status, Status::InProgress);
    assert_eq!(run.case.handling_unit, unit);
    assert_eq!(run.case.rework_count, 1);
    assert_eq!(run.case.result, None);
    assert_eq!(run.case.step, Some(Step::Handle));
    assert_eq!(run.case.deadline, Some(run.now + Duration::hours(120)));
    report(&mut run, HandleResult::Solved);
    run.ok(&c, Command::Verify { passed: true });
    assert_eq!(run.case.status, Status::Revisit);
    assert_eq!(run.count(&unit, Counter::Rework), 1);
    assert_eq!(run.count(&unit, Counter::DueClose), 2);
    assert_eq!(run.count(TOWNSHIP, Counter::DispatchedAccurately), 1);
}

#[test]
fn an_unsatisfied_revisit_reopens_the_case() {
    let mut run = at_status(Status::Revisit);
    let c = centre_op(TOWNSHIP);
    let unit = run.case.handling_unit.clone();
    for round in 1..=MAX_REOPENS {
        run.ok(
            &c,
            Command::Revisit {
                satisfaction: Satisfaction::Unsatisfied,
            },
        );
        assert_eq!(run.case.status, Status::InProgress);
        assert_eq!(run.case.handling_unit, unit);
        assert_eq!(run.case.reopen_count, round);
        assert_eq!(run.case.satisfaction, None);
        report(&mut run, HandleResult::PartlySolved);
        run.ok(&c, Command::Verify { passed: true });
    }
    // Past the limit, an unsatisfied answer closes with 不满意 recorded.
    run.ok(
        &c,
        Command::Revisit {
            satisfaction: Satisfaction::Unsatisfied,
        },
    );
    assert_eq!(run.case.status, Status::Closed);
    assert_eq!(run.case.satisfaction, Some(Satisfaction::Unsatisfied));
    let reopens = i64::from(MAX_REOPENS);
    assert_eq!(run.count(&unit, Counter::Reopened), reopens);
    assert_eq!(run.count(&unit, Counter::Revisited), reopens + 1);
    assert_eq!(run.count(&unit, Counter::Satisfied), 0);
    assert_eq!(run.count(&unit, Counter::Closed), 1);
}

#[test]
fn park_and_resume_stop_the_clock() {
    let mut run = at_status(Status::InProgress);
    let h = handler_of(&run.case);
    let c = centre_op(TOWNSHIP);
    let deadline = run.case.deadline.unwrap();
    run.wait(Duration::hours(10)).ok(
        &h,
        Command::RequestPark {
            reason: text("待来年开春草场复勘"),
        },
    );
    assert_eq!(run.case.status, Status::InProgress);
    assert!(run.case.pending_park.is_some());
    run.wait(Duration::hours(2))
        .ok(&c, Command::DecidePark { approve: true });
    assert_eq!(run.case.status, Status::Parked);
    assert_eq!(run.case.parked_from, Some(Status::InProgress));
    assert_eq!(run.case.parked_since, Some(run.now));
    assert_eq!(run.case.deadline, Some(deadline), "frozen while parked");
    assert!(
        !run.case
            .available_actions()
            .contains(&Action::ReportHandled)
    );
    run.wait(Duration::days(40)).ok(&h, Command::Resume);
    assert_eq!(run.case.status, Status::InProgress);
    assert_eq!(run.case.parked_seconds, 40 * 86_400);
    assert_eq!(run.case.step_parked_seconds, 40 * 86_400);
    assert_eq!(run.case.parked_since, None);
    assert_eq!(run.case.deadline, Some(deadline + Duration::days(40)));
    assert_eq!(run.case.step, Some(Step::Handle));
    // Reported within the limit once parked time is left out.
    run.wait(Duration::hours(10));
    report(&mut run, HandleResult::Solved);
    assert_eq!(
        run.count(&h.unit.clone().unwrap(), Counter::ClosedOnTime),
        1
    );

    // A park refused leaves the case where it was; an accepted case parks and resumes there.
    let mut run = at_status(Status::Accepted);
    let c = centre_op(TOWNSHIP);
    run.ok(
        &c,
        Command::RequestPark {
            reason: text("待资金"),
        },
    );
    run.ok(&leader(TOWNSHIP), Command::DecidePark { approve: false });
    assert_eq!(
        (run.case.status, &run.case.pending_park),
        (Status::Accepted, &None)
    );
    run.ok(
        &c,
        Command::RequestPark {
            reason: text("待资金"),
        },
    );
    run.ok(&leader(TOWNSHIP), Command::DecidePark { approve: true });
    run.wait(Duration::days(3)).ok(&c, Command::Resume);
    assert_eq!(run.case.status, Status::Accepted);
    assert_eq!(run.case.parked_seconds, 3 * 86_400);
}

#[test]
fn an_approved_extension_moves_the_deadline() {
    let mut run = at_status(Status::InProgress);
    let h = handler_of(&run.case);
    let c = centre_op(TOWNSHIP);
    let deadline = run.case.deadline.unwrap();
    for bad in [0, MAX_EXTENSION_DAYS + 1] {
        let got = run.try_act(
            &h,
            Command::RequestExtension {
                working_days: bad,
                reason: text("等待鉴定"),
            },
        );
        assert!(matches!(
            got,
            Err(CaseError::Invalid {
                field: "working_days",
                ..
            })
        ));
    }
    run.ok(
        &h,
        Command::RequestExtension {
            working_days: 5,
            reason: text("等待司法鉴定结果"),
        },
    );
    // One request at a time.
    let got = run.try_act(
        &h,
        Command::RequestExtension {
            working_days: 1,
            reason: text("再延"),
        },
    );
    assert!(matches!(got, Err(CaseError::NotAllowed { .. })));
    run.ok(&c, Command::DecideExtension { approve: false });
    assert_eq!(run.case.deadline, Some(deadline));
    run.ok(
        &h,
        Command::RequestExtension {
            working_days: 5,
            reason: text("等待司法鉴定结果"),
        },
    );
    run.ok(&c, Command::DecideExtension { approve: true });
    assert_eq!(run.case.deadline, Some(deadline + Duration::days(5)));
    assert_eq!(run.case.step_extension_days, 5);
    assert_eq!(run.case.extension_days, 5);
    assert_eq!(run.case.pending_extension, None);
    // Nothing pending: no decision.
    let got = run.try_act(&c, Command::DecideExtension { approve: true });
    assert!(matches!(got, Err(CaseError::NotAllowed { .. })));
    // A request lapses when the case moves on.
    run.ok(
        &h,
        Command::RequestExtension {
            working_days: 2,
            reason: text("x"),
        },
    );
    report(&mut run, HandleResult::Solved);
    assert_eq!(run.case.pending_extension, None);
    assert_eq!(run.case.step_extension_days, 0);
    assert_eq!(run.case.extension_days, 5);
}

#[test]
fn a_duplicate_is_merged_and_then_frozen() {
    let mut run = Run::new(TOWNSHIP, GRID);
    let c = centre_op(TOWNSHIP);
    let got = run.try_act(&c, Command::Merge { into: run.case.id });
    assert!(matches!(got, Err(CaseError::Invalid { field: "into", .. })));
    run.ok(&c, Command::Merge { into: 42 });
    assert_eq!(run.case.status, Status::Merged);
    assert_eq!(run.case.merged_into, Some(42));
    assert_eq!(run.count(TOWNSHIP, Counter::DueAccept), 1);
    assert!(run.case.available_actions().is_empty());
    for &action in Action::ALL {
        let (by, cmd) = canonical(&run.case, action);
        assert!(matches!(
            run.try_act(&by, cmd),
            Err(CaseError::NotAllowed { allowed, .. }) if allowed.is_empty()
        ));
    }
}

#[test]
fn a_rejection_names_the_route_to_use_instead() {
    let mut run = Run::new(TOWNSHIP, GRID);
    run.wait(Duration::hours(30)).ok(
        &centre_op(TOWNSHIP),
        Command::Reject {
            reason: text("属于诉讼程序事项"),
            redirect: Some(text("请向夏河县人民法院起诉")),
        },
    );
    assert_eq!(run.case.status, Status::Rejected);
    assert_eq!(run.case.redirect.as_deref(), Some("请向夏河县人民法院起诉"));
    // Late: due but not on time.
    assert_eq!(run.count(TOWNSHIP, Counter::DueAccept), 1);
    assert_eq!(run.count(TOWNSHIP, Counter::AcceptedOnTime), 0);
}

#[test]
fn a_grid_worker_self_handles_on_the_spot() {
    let mut run = Run::with(VILLAGE, GRID, Urgency::Normal, Channel::FieldApp);
    let w = worker(GRID);
    let c = centre_op(VILLAGE);
    run.wait(Duration::minutes(20)).ok(
        &w,
        Command::SelfHandle {
            result: HandleResult::Solved,
            text: text("邻里噪音纠纷，现场劝解"),
        },
    );
    let case = &run.case;
    assert_eq!(case.status, Status::Handled);
    assert!(case.self_handled);
    assert_eq!(case.handling_unit, GRID);
    assert_eq!(case.step, Some(Step::Verify));
    assert_eq!(run.count(GRID, Counter::DueClose), 1);
    assert_eq!(run.count(GRID, Counter::ClosedOnTime), 1);
    assert_eq!(run.count(VILLAGE, Counter::DueAccept), 0);
    // Verification fails: rework at the grid.
    run.ok(&c, Command::Verify { passed: false });
    assert_eq!(run.case.status, Status::InProgress);
    report(&mut run, HandleResult::Solved);
    run.ok(&c, Command::Verify { passed: true });
    // Anonymous reporter: closed without a visit.
    run.ok(&c, Command::Close);
    assert_eq!(run.case.status, Status::Closed);
    assert_eq!(run.case.satisfaction, None);
    assert_eq!(run.count(GRID, Counter::Closed), 1);
    assert_eq!(run.count(GRID, Counter::Revisited), 0);
}

#[test]
fn transfer_redispatches_to_another_unit() {
    let mut run = at_status(Status::InProgress);
    let c = centre_op(TOWNSHIP);
    let got = run.try_act(
        &c,
        Command::Transfer {
            to: dept(TOWNSHIP, "police"),
            reason: None,
        },
    );
    assert!(matches!(got, Err(CaseError::Invalid { field: "to", .. })));
    run.ok(
        &c,
        Command::Transfer {
            to: dept(TOWNSHIP, "justice"),
            reason: Some(text("属调解事项")),
        },
    );
    assert_eq!(run.case.status, Status::Dispatched);
    assert_eq!(run.case.handling_unit, "623027202-justice");
    assert_eq!(run.count(TOWNSHIP, Counter::Redispatched), 1);
    assert_eq!(run.count(TOWNSHIP, Counter::Dispatched), 2);
    let h = handler_of(&run.case);
    run.ok(&h, Command::Sign);
    report(&mut run, HandleResult::Solved);
    assert_eq!(run.count(TOWNSHIP, Counter::DispatchedAccurately), 1);
}

#[test]
fn dispatch_goes_down_or_across_only() {
    let run = at_status(Status::Accepted);
    let c = centre_op(TOWNSHIP);
    let try_to = |to: UnitRef| {
        decide(
            &run.case,
            &Command::Dispatch { to },
            &c,
            &run.policy,
            run.now,
        )
    };
    for ok in [
        dept(TOWNSHIP, "police"),
        centre_ref(VILLAGE),
        grid_ref(GRID),
        grid_ref(OTHER_GRID),
    ] {
        assert!(try_to(ok.clone()).is_ok(), "{ok:?}");
    }
    for bad in [
        dept(COUNTY, "police"),
        centre_ref(COUNTY),
        centre_ref(TOWNSHIP),
        centre_ref(OTHER_TOWNSHIP),
        grid_ref("623027203201001"),
        dept(OTHER_COUNTY, "police"),
        // Inconsistent references.
        UnitRef {
            code: "623027202-".into(),
            kind: UnitKind::Department,
            territory: tc(TOWNSHIP),
        },
        UnitRef {
            code: VILLAGE.into(),
            kind: UnitKind::Grid,
            territory: tc(VILLAGE),
        },
        UnitRef {
            code: "x".into(),
            kind: UnitKind::Center,
            territory: tc(VILLAGE),
        },
    ] {
        assert!(
            matches!(
                try_to(bad.clone()),
                Err(CaseError::Invalid { field: "to", .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn texts_are_required_and_bounded() {
    let mut run = at_status(Status::InProgress);
    let c = centre_op(TOWNSHIP);
    let h = handler_of(&run.case);
    let long = "字".repeat(MAX_TEXT_CHARS + 1);
    for (by, cmd, field) in [
        (&c, Command::Note { text: text("") }, "text"),
        (&c, Command::Note { text: long.clone() }, "text"),
        (
            &h,
            Command::ReportHandled {
                result: HandleResult::Solved,
                text: text("  "),
            },
            "text",
        ),
        (&h, Command::RequestPark { reason: text("") }, "reason"),
        (
            &c,
            Command::Supervise {
                level: SuperviseLevel::Red,
                text: text(""),
            },
            "text",
        ),
        (
            &c,
            Command::Transfer {
                to: dept(TOWNSHIP, "justice"),
                reason: Some(text(" ")),
            },
            "reason",
        ),
    ] {
        let got = run.try_act(by, cmd);
        assert!(
            matches!(got, Err(CaseError::Invalid { field: f, .. }) if f == field),
            "{got:?}"
        );
    }
    run.ok(
        &c,
        Command::Note {
            text: text("  电话联系当事人  "),
        },
    );
    assert_eq!(run.history.last().unwrap().text(), Some("电话联系当事人"));
}

#[test]
fn marking_urgent_shortens_the_running_limit_once() {
    let mut run = at_status(Status::Dispatched);
    let started = run.case.step_started_at.unwrap();
    assert_eq!(run.case.deadline, Some(started + Duration::hours(24)));
    run.ok(&leader(COUNTY), Command::MarkUrgent);
    assert_eq!(run.case.urgency, Urgency::Urgent);
    assert_eq!(run.case.deadline, Some(started + Duration::hours(6)));
    let got = run.try_act(&leader(COUNTY), Command::MarkUrgent);
    assert!(matches!(got, Err(CaseError::NotAllowed { .. })));
    // Later steps get urgent limits too.
    let h = handler_of(&run.case);
    run.ok(&h, Command::Sign);
    assert_eq!(run.case.deadline, Some(run.now + Duration::hours(30)));
}

#[test]
fn marking_urgent_after_a_pause_keeps_the_parked_time_out() {
    let mut run = at_status(Status::InProgress);
    let started = run.case.step_started_at.unwrap();
    let h = handler_of(&run.case);
    let c = centre_op(TOWNSHIP);
    run.ok(
        &h,
        Command::RequestPark {
            reason: text("待鉴定"),
        },
    );
    run.wait(Duration::hours(1))
        .ok(&c, Command::DecidePark { approve: true });
    run.wait(Duration::days(2)).ok(&c, Command::Resume);
    assert_eq!(
        run.case.step_pauses,
        [Pause {
            from: run.now - Duration::days(2),
            to: run.now
        }]
    );
    run.ok(&leader(COUNTY), Command::MarkUrgent);
    assert_eq!(
        run.case.deadline,
        Some(started + Duration::hours(30) + Duration::days(2))
    );
    // A new step forgets the pauses of the last.
    report(&mut run, HandleResult::Solved);
    assert!(run.case.step_pauses.is_empty());
    assert_eq!(run.case.step_parked_seconds, 0);
    assert_eq!(run.case.parked_seconds, 2 * 86_400);
}

#[test]
fn supervision_by_the_clock_has_no_actor() {
    let mut run = at_status(Status::Dispatched);
    run.wait(Duration::hours(30));
    let cmd = Command::Supervise {
        level: SuperviseLevel::Yellow,
        text: text("签收超时，自动黄牌"),
    };
    let events = decide_by_system(&run.case, &cmd, &run.policy, run.now).unwrap();
    assert_eq!(events[0].by, None);
    assert!(matches!(
        events[0].change,
        Change::Supervise {
            automatic: true,
            ..
        }
    ));
    for e in events {
        run.push(e);
    }
    assert_eq!(run.count("623027202-police", Counter::SupervisedYellow), 1);
    assert_eq!(run.case.supervision.highest(), Some(SuperviseLevel::Yellow));
    assert_eq!(
        decide_by_system(&run.case, &Command::Sign, &run.policy, run.now),
        Err(CaseError::Forbidden {
            action: Action::Sign
        })
    );
    // Supervision while verifying is addressed to the centre.
    let mut run = at_status(Status::Handled);
    let events = decide_by_system(&run.case, &cmd, &run.policy, run.now).unwrap();
    for e in events {
        run.push(e);
    }
    assert_eq!(run.count(TOWNSHIP, Counter::SupervisedYellow), 1);
}

#[test]
fn events_never_go_back_in_time() {
    let mut run = at_status(Status::Accepted);
    let last = run.case.updated_at;
    run.now = last - Duration::minutes(5);
    run.ok(
        &centre_op(TOWNSHIP),
        Command::Note {
            text: text("服务器时钟回拨"),
        },
    );
    assert_eq!(run.history.last().unwrap().at, last);
}

#[test]
fn events_are_stable_json_and_replay_after_a_round_trip() {
    let mut run = at_status(Status::Revisit);
    run.ok(
        &centre_op(TOWNSHIP),
        Command::Revisit {
            satisfaction: Satisfaction::Satisfied,
        },
    );
    let json = serde_json::to_value(&run.history).unwrap();
    let dispatch = &json[2];
    assert_eq!(dispatch["action"], "dispatch");
    assert_eq!(dispatch["from_status"], "accepted");
    assert_eq!(dispatch["to_status"], "dispatched");
    assert_eq!(dispatch["to"]["code"], "623027202-police");
    assert_eq!(dispatch["to"]["kind"], "department");
    assert_eq!(dispatch["by"]["role"], "center_operator");
    assert_eq!(dispatch["by"]["level"], "township");
    assert_eq!(dispatch["seq"], 3);
    assert_eq!(json[0]["action"], "create");
    assert_eq!(json[0]["code"], "GN20250915000001");
    assert!(json[0]["from_status"].is_null());
    assert_eq!(
        json.as_array().unwrap().last().unwrap()["satisfaction"],
        "satisfied"
    );
    let back: Vec<Event> = serde_json::from_value(json).unwrap();
    assert_eq!(back, run.history);
    assert_eq!(replay(&back).unwrap(), run.case);
    // The case itself round-trips too (a stored snapshot).
    let case: Case = serde_json::from_str(&serde_json::to_string(&run.case).unwrap()).unwrap();
    assert_eq!(case, run.case);
}

#[test]
fn replay_refuses_broken_histories() {
    let run = at_status(Status::InProgress);
    assert_eq!(replay(&[]), Err(ReplayError::NoCreate));
    assert_eq!(replay(&run.history[1..]), Err(ReplayError::NoCreate));
    let mut skipped = run.history.clone();
    skipped.remove(2);
    assert!(matches!(
        replay(&skipped),
        Err(ReplayError::OutOfOrder { .. })
    ));
    let mut other = run.history.clone();
    other[2].case_id = 5;
    assert!(matches!(replay(&other), Err(ReplayError::OtherCase { .. })));
}

#[test]
fn intake_checks_the_routing() {
    let policy = SimplePolicy::default();
    let new = |centre: &str, territory: &str, category: &str| NewCase {
        id: 1,
        code: CaseCode::for_instant(t0(), 1).unwrap(),
        category: category.into(),
        territory: tc(territory),
        centre: tc(centre),
        urgency: Urgency::Urgent,
        channel: Channel::Open311,
    };
    let field = |n: NewCase| match Case::create(n, None, &policy, t0()) {
        Err(CaseError::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(new(GRID, GRID, "x")), "territory");
    assert_eq!(field(new(OTHER_TOWNSHIP, GRID, "x")), "territory");
    assert_eq!(field(new(TOWNSHIP, GRID, " ")), "category");
    let by = worker(GRID);
    let (case, event) = Case::create(new(TOWNSHIP, GRID, "x"), Some(&by), &policy, t0()).unwrap();
    assert_eq!(case.deadline, Some(t0() + Duration::hours(6)), "urgent");
    assert_eq!(event.by.unwrap().role, Role::GridWorker);
    assert_eq!(case.version, 1);
}

/// The reporter's own answer is the centre's revisit: same change, same counters, no actor;
/// refused before the return visit and for any other command.
#[test]
fn the_reporter_rates_through_the_same_revisit() {
    let mut by_centre = at_status(Status::Revisit);
    let mut by_reporter = at_status(Status::Revisit);
    let cmd = Command::Revisit {
        satisfaction: Satisfaction::Satisfied,
    };
    by_centre.ok(&centre_op(TOWNSHIP), cmd.clone());
    let events = decide_by_reporter(
        &by_reporter.case,
        &cmd,
        &by_reporter.policy,
        by_reporter.now,
    )
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].by, None);
    assert_eq!(events[0].change, by_centre.history.last().unwrap().change);
    for e in events {
        by_reporter.push(e);
    }
    assert_eq!(by_reporter.case.status, Status::Closed);
    assert_eq!(by_reporter.case.satisfaction, Some(Satisfaction::Satisfied));
    assert_eq!(
        by_reporter.counters, by_centre.counters,
        "the same counters"
    );
    // Not before the return visit, not twice, and nothing else.
    let handled = at_status(Status::Handled);
    assert!(matches!(
        decide_by_reporter(&handled.case, &cmd, &handled.policy, handled.now),
        Err(CaseError::NotAllowed { .. })
    ));
    assert!(matches!(
        decide_by_reporter(
            &by_reporter.case,
            &cmd,
            &by_reporter.policy,
            by_reporter.now
        ),
        Err(CaseError::NotAllowed { .. })
    ));
    let revisit = at_status(Status::Revisit);
    assert_eq!(
        decide_by_reporter(&revisit.case, &Command::Close, &revisit.policy, revisit.now),
        Err(CaseError::Forbidden {
            action: Action::Close
        })
    );
    // Unsatisfied reopens, as it does for the centre.
    let mut unhappy = at_status(Status::Revisit);
    let events = decide_by_reporter(
        &unhappy.case,
        &Command::Revisit {
            satisfaction: Satisfaction::Unsatisfied,
        },
        &unhappy.policy,
        unhappy.now,
    )
    .unwrap();
    for e in events {
        unhappy.push(e);
    }
    assert_eq!(unhappy.case.status, Status::InProgress);
}
