//! Invariants under random walks: random commands by random actors, half of them steered to
//! what the case allows so the walk reaches every state.

use std::collections::BTreeMap;

use chrono::Duration;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

use crate::account::Role;

use super::tests::*;
use super::*;

/// Everyone who might try something on a case of 达麦乡.
fn cast() -> Vec<Actor> {
    vec![
        centre_op("623000"),
        centre_op(COUNTY),
        centre_op(TOWNSHIP),
        centre_op(VILLAGE),
        centre_op(OTHER_COUNTY),
        leader(COUNTY),
        leader(TOWNSHIP),
        leader(OTHER_COUNTY),
        dept_handler(&dept(COUNTY, "police")),
        dept_handler(&dept(TOWNSHIP, "police")),
        dept_handler(&dept(TOWNSHIP, "justice")),
        worker(GRID),
        worker(OTHER_GRID),
        admin(),
        actor(Role::HouseholdHead, "623027202201001004", None),
    ]
}

fn units() -> Vec<UnitRef> {
    vec![
        dept(TOWNSHIP, "police"),
        dept(TOWNSHIP, "justice"),
        dept(COUNTY, "police"),
        centre_ref(TOWNSHIP),
        centre_ref(VILLAGE),
        centre_ref(COUNTY),
        grid_ref(GRID),
        grid_ref(OTHER_GRID),
    ]
}

/// A command for `action`, its parameters drawn from `p` (sometimes wrong on purpose).
fn command(case: &Case, action: Action, p: u8) -> Command {
    let units = units();
    let unit = units[usize::from(p) % units.len()].clone();
    let words = |p: u8| {
        if p.is_multiple_of(13) {
            String::new()
        } else {
            format!("说明{p}")
        }
    };
    let pick = |all: &[HandleResult]| all[usize::from(p) % all.len()];
    match action {
        Action::Accept => Command::Accept,
        Action::Reject => Command::Reject {
            reason: words(p),
            redirect: (p.is_multiple_of(2)).then(|| "12345".to_owned()),
        },
        Action::Merge => Command::Merge {
            into: if p.is_multiple_of(7) { case.id } else { 77 },
        },
        Action::Dispatch => Command::Dispatch { to: unit },
        Action::Sign => Command::Sign,
        Action::SendBack => Command::SendBack { reason: words(p) },
        Action::Escalate => Command::Escalate {
            reason: words(p),
            to: match case.centre.parent() {
                Some(parent) if !p.is_multiple_of(5) => UnitRef::centre(&parent),
                _ => unit,
            },
        },
        Action::Transfer => Command::Transfer {
            to: unit,
            reason: (p.is_multiple_of(3)).then(|| words(p)),
        },
        Action::Note => Command::Note { text: words(p) },
        Action::RequestExtension => Command::RequestExtension {
            working_days: u32::from(p % 35),
            reason: words(p),
        },
        Action::DecideExtension => Command::DecideExtension {
            approve: !p.is_multiple_of(4),
        },
        Action::RequestPark => Command::RequestPark { reason: words(p) },
        Action::DecidePark => Command::DecidePark {
            approve: !p.is_multiple_of(4),
        },
        Action::Resume => Command::Resume,
        Action::ReportHandled => Command::ReportHandled {
            result: pick(HandleResult::ALL),
            text: words(p),
        },
        Action::Verify => Command::Verify {
            passed: !p.is_multiple_of(3),
        },
        Action::Revisit => Command::Revisit {
            satisfaction: Satisfaction::ALL[usize::from(p) % Satisfaction::ALL.len()],
        },
        Action::Close => Command::Close,
        Action::Supervise => Command::Supervise {
            level: SuperviseLevel::ALL[usize::from(p) % 3],
            text: words(p),
        },
        Action::MarkUrgent => Command::MarkUrgent,
        Action::SelfHandle => Command::SelfHandle {
            result: pick(HandleResult::ALL),
            text: words(p),
        },
    }
}

/// One step of a walk: (steered when below 192, which action, which actor, parameters, minutes
/// to wait; negative waits model a server clock behind the last event).
type Move = (u8, u8, u8, u8, i64);

fn moves() -> impl Strategy<Value = Vec<Move>> {
    prop::collection::vec(
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            -120i64..4000,
        ),
        0..80,
    )
}

fn start() -> impl Strategy<Value = (usize, bool, bool)> {
    (0usize..4, any::<bool>(), any::<bool>())
}

/// Walks a case; checks the per-step invariants and returns the run and the statuses seen.
fn walk(start: (usize, bool, bool), moves: &[Move]) -> Result<Run, TestCaseError> {
    let (centre, urgent, in_grid) = start;
    let centre = ["623000", COUNTY, TOWNSHIP, VILLAGE][centre];
    let place = if in_grid { GRID } else { VILLAGE };
    let urgency = if urgent {
        Urgency::Urgent
    } else {
        Urgency::Normal
    };
    let mut run = Run::with(centre, place, urgency, Channel::Hotline12345);
    let cast = cast();
    for &(steer, a, who, p, minutes) in moves {
        run.now += Duration::minutes(minutes);
        let (action, actor) = if steer < 192 {
            let options: Vec<(Action, &Actor)> = cast
                .iter()
                .flat_map(|actor| {
                    run.case
                        .actions_for(actor)
                        .into_iter()
                        .map(move |a| (a, actor))
                })
                .collect();
            if options.is_empty() {
                (
                    Action::ALL[usize::from(a) % 21],
                    &cast[usize::from(who) % cast.len()],
                )
            } else {
                let i = (usize::from(a) * 256 + usize::from(who)) % options.len();
                options[i]
            }
        } else {
            (
                Action::ALL[usize::from(a) % 21],
                &cast[usize::from(who) % cast.len()],
            )
        };
        let cmd = command(&run.case, action, p);
        let before = run.case.clone();
        let result = decide(&before, &cmd, actor, &run.policy, run.now);
        // (1) A terminal case never changes: every command is refused.
        if before.status.is_terminal() {
            prop_assert!(result.is_err(), "{action} on a {} case", before.status);
        }
        let Ok(events) = result else { continue };
        for e in events {
            // (4) Histories are ordered and consistent.
            prop_assert_eq!(e.seq, run.case.version + 1);
            prop_assert_eq!(e.from_status, Some(run.case.status));
            prop_assert!(e.at >= run.case.updated_at);
            let after = apply(run.case.clone(), &e);
            prop_assert_eq!(after.status, e.to_status);
            let after = {
                // Incremental counters, as the store keeps them.
                for d in counter_deltas(&run.case, &e, &after) {
                    prop_assert!(d.delta == 1);
                    *run.counters.entry(d.key()).or_insert(0) += d.delta;
                }
                after
            };
            run.case = after;
            run.history.push(e);
        }
        check_state(&run.case)?;
    }
    Ok(run)
}

/// What must hold of any case at rest.
fn check_state(case: &Case) -> Result<(), TestCaseError> {
    prop_assert!(Status::ALL.contains(&case.status));
    prop_assert_eq!(case.status.is_terminal(), case.ended_at.is_some());
    if case.status.is_terminal() {
        prop_assert!(case.step.is_none() && case.deadline.is_none());
        prop_assert!(case.pending_extension.is_none() && case.pending_park.is_none());
    } else {
        prop_assert!(case.step.is_some());
    }
    prop_assert_eq!(case.status == Status::Parked, case.parked_since.is_some());
    prop_assert_eq!(case.status == Status::Parked, case.parked_from.is_some());
    prop_assert!(case.parked_seconds >= 0);
    // The handling unit is always at or below the owning centre.
    prop_assert!(case.centre.covers(&case.handling_territory));
    prop_assert_eq!(case.handling_level, case.handling_territory.level());
    prop_assert!(case.centre.level().has_centre());
    if matches!(case.status, Status::Submitted | Status::Accepted) {
        prop_assert!(case.held_by_centre());
    }
    if let Some(s) = case.parked_from {
        prop_assert!(matches!(s, Status::Accepted | Status::InProgress));
    }
    prop_assert!(case.reopen_count <= MAX_REOPENS);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (2) the stored case is its history replayed, also after a JSON round trip;
    /// (3) counters recomputed from the history equal the incremental ones;
    /// (4) statuses are among the ten and times never go backwards.
    #[test]
    fn random_walks_keep_the_invariants(start in start(), moves in moves()) {
        let run = walk(start, &moves)?;
        prop_assert_eq!(replay(&run.history).unwrap(), run.case.clone());
        let json = serde_json::to_string(&run.history).unwrap();
        let back: Vec<Event> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &run.history);
        prop_assert_eq!(replay(&back).unwrap(), run.case.clone());
        prop_assert_eq!(recount(&run.history), run.counters.clone());
        prop_assert!(run.history.windows(2).all(|w| w[0].at <= w[1].at));
        prop_assert_eq!(run.case.version as usize, run.history.len());
        let folded = run.history[1..]
            .iter()
            .fold(Case::from_created(&run.history[0]).unwrap(), apply);
        prop_assert_eq!(folded, run.case);
    }

    /// (1) Once terminal, nothing anyone tries changes the case.
    #[test]
    fn terminal_cases_refuse_everything(start in start(), moves in moves(), tail in moves()) {
        let run = walk(start, &moves)?;
        if run.case.status.is_terminal() {
            let cast = cast();
            for &(_, a, who, p, _) in &tail {
                let action = Action::ALL[usize::from(a) % 21];
                let cmd = command(&run.case, action, p);
                let actor = &cast[usize::from(who) % cast.len()];
                prop_assert!(decide(&run.case, &cmd, actor, &run.policy, run.now).is_err());
            }
            for &action in Action::ALL {
                for actor in &cast {
                    let cmd = command(&run.case, action, 1);
                    prop_assert!(decide(&run.case, &cmd, actor, &run.policy, run.now).is_err());
                }
            }
        }
    }
}

/// The steered walks reach every state (a guard against a walk that never leaves intake).
#[test]
fn walks_reach_every_state() {
    let mut seen: BTreeMap<Status, usize> = BTreeMap::new();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..300 {
        let s = start().new_tree(&mut runner).unwrap().current();
        let m: Vec<Move> = moves()
            .new_tree(&mut runner)
            .unwrap()
            .current()
            .into_iter()
            .map(|(_, a, w, p, t)| (0, a, w, p, t))
            .collect();
        let run = walk(s, &m).unwrap();
        for e in &run.history {
            *seen.entry(e.to_status).or_default() += 1;
        }
    }
    for status in Status::ALL {
        assert!(
            seen.contains_key(status),
            "never reached {status}: {seen:?}"
        );
    }
}
