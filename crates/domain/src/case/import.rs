//! Cases imported from a legacy system's history (a 12345 hotline, a 311 service): the engine's
//! own events that bring a new case to the state the source recorded, at the source's times,
//! done by the system (no account). The history replays like any other ([`super::replay`]),
//! every step is one the state allows, and deadlines come from the same [`Policy`], so the
//! assessment counters of imported cases mean what they mean for live ones.

use chrono::{DateTime, Utc};

use super::engine::finish;
use super::{Case, CaseError, Change, Event, HandleResult, NewCase, Policy, Status, apply};

/// What the source says became of the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Still waiting to be accepted.
    Submitted,
    /// Accepted and open (the source's "open", "in progress", …).
    Accepted,
    /// Closed at `at`, with the handler's result and text (the source's closure note).
    Closed {
        at: DateTime<Utc>,
        result: HandleResult,
        text: String,
    },
    /// Turned away at `at` (不予受理) with the reason.
    Rejected { at: DateTime<Utc>, reason: String },
}

/// One record of the source, routed and mapped onto our vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCase {
    /// The new case, its `channel` the import's.
    pub new: NewCase,
    pub created_at: DateTime<Utc>,
    pub outcome: ImportOutcome,
}

/// Why a record does not make a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error("the case ends ({ended}) before it was created ({created})")]
    EndsBeforeCreated {
        created: DateTime<Utc>,
        ended: DateTime<Utc>,
    },
}

/// The history of an imported case and the case it replays to.
///
/// - submitted: `create`;
/// - accepted: `create`, `accept` (at creation);
/// - closed: `create`, `accept` (at creation), then at the close time `report_handled` (with the
///   source's closure note), `verify` (passed) and `close`;
/// - rejected: `create`, `reject` (at the source's time, with its reason).
pub fn imported_history(
    imported: &ImportedCase,
    policy: &dyn Policy,
) -> Result<(Case, Vec<Event>), ImportError> {
    let created = imported.created_at;
    let (mut case, first) = Case::create(imported.new.clone(), None, policy, created)?;
    let mut events = vec![first];
    let mut step = |case: &mut Case, change: Change, at: DateTime<Utc>| {
        let event = finish(case, change, None, policy, at);
        *case = apply(case.clone(), &event);
        events.push(event);
    };
    let ends_at = |at: DateTime<Utc>| {
        if at < created {
            Err(ImportError::EndsBeforeCreated { created, ended: at })
        } else {
            Ok(at)
        }
    };
    match &imported.outcome {
        ImportOutcome::Submitted => {}
        ImportOutcome::Accepted => step(&mut case, Change::Accept, created),
        ImportOutcome::Closed { at, result, text } => {
            let at = ends_at(*at)?;
            step(&mut case, Change::Accept, created);
            step(
                &mut case,
                Change::ReportHandled {
                    result: *result,
                    text: text.clone(),
                },
                at,
            );
            step(&mut case, Change::Verify { passed: true }, at);
            step(&mut case, Change::Close, at);
        }
        ImportOutcome::Rejected { at, reason } => {
            let at = ends_at(*at)?;
            step(
                &mut case,
                Change::Reject {
                    reason: reason.clone(),
                    redirect: None,
                },
                at,
            );
        }
    }
    debug_assert!(matches!(
        case.status,
        Status::Submitted | Status::Accepted | Status::Closed | Status::Rejected
    ));
    Ok((case, events))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::super::{
        CaseCode, Channel, SimplePolicy, Urgency, allowed_actions, counter_deltas, recount, replay,
    };
    use super::*;
    use crate::TerritoryCode;

    fn imported(outcome: ImportOutcome) -> ImportedCase {
        let created = Utc.with_ymd_and_hms(2015, 1, 5, 17, 40, 41).unwrap();
        ImportedCase {
            new: NewCase {
                id: 7,
                code: CaseCode::for_instant(created, 3).unwrap(),
                category: "management.environment.garbage".into(),
                territory: TerritoryCode::parse("623027202").unwrap(),
                centre: TerritoryCode::parse("623027202").unwrap(),
                urgency: Urgency::Normal,
                channel: Channel::LegacyImport,
            },
            created_at: created,
            outcome,
        }
    }

    fn outcomes() -> Vec<(ImportOutcome, Status)> {
        let created = Utc.with_ymd_and_hms(2015, 1, 5, 17, 40, 41).unwrap();
        vec![
            (ImportOutcome::Submitted, Status::Submitted),
            (ImportOutcome::Accepted, Status::Accepted),
            (
                ImportOutcome::Closed {
                    at: created + Duration::hours(25),
                    result: HandleResult::Solved,
                    text: "Case noted".into(),
                },
                Status::Closed,
            ),
            (
                ImportOutcome::Rejected {
                    at: created + Duration::minutes(5),
                    reason: "duplicate of another request".into(),
                },
                Status::Rejected,
            ),
        ]
    }

    #[test]
    fn histories_replay_to_the_state_the_source_recorded_by_allowed_steps() {
        let policy = SimplePolicy::default();
        for (outcome, status) in outcomes() {
            let (case, events) = imported_history(&imported(outcome), &policy).unwrap();
            assert_eq!(case.status, status);
            assert_eq!(replay(&events).unwrap(), case);
            for e in &events[1..] {
                let from = e.from_status.unwrap();
                let action = e.change.action().unwrap();
                assert!(
                    allowed_actions(from).contains(&action),
                    "{action} from {from}"
                );
                assert!(e.by.is_none(), "imported steps are the system's");
            }
            assert_eq!(case.created_at, events[0].at);
            assert_eq!(case.channel, Channel::LegacyImport);
            if status.is_terminal() {
                assert_eq!(case.ended_at, Some(events.last().unwrap().at));
                assert_eq!(case.deadline, None);
            } else {
                assert!(case.deadline.is_some(), "an open case runs its clock");
            }
            // The counters of the history are those a recount gives.
            let mut folded = Vec::new();
            let mut c = Case::from_created(&events[0]).unwrap();
            folded.extend(counter_deltas(&c, &events[0], &c));
            for e in &events[1..] {
                let next = apply(c.clone(), e);
                folded.extend(counter_deltas(&c, e, &next));
                c = next;
            }
            let sum = |ds: Vec<super::super::CounterDelta>| {
                let mut m = std::collections::BTreeMap::new();
                for d in ds {
                    *m.entry(d.key()).or_insert(0) += d.delta;
                }
                m.retain(|_, v| *v != 0);
                m
            };
            assert_eq!(sum(folded), recount(&events).into_iter().collect());
        }
    }

    #[test]
    fn a_close_before_the_creation_is_refused() {
        let created = Utc.with_ymd_and_hms(2015, 1, 5, 17, 40, 41).unwrap();
        let bad = imported(ImportOutcome::Closed {
            at: created - Duration::minutes(1),
            result: HandleResult::Solved,
            text: "x".into(),
        });
        assert!(matches!(
            imported_history(&bad, &SimplePolicy::default()),
            Err(ImportError::EndsBeforeCreated { .. })
        ));
    }
}
