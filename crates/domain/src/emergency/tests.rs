//! Table tests of plans, the incident state machine, recipients' tasks and the roll call.

use chrono::{Duration, TimeZone};

use super::*;

fn code(s: &str) -> TerritoryCode {
    TerritoryCode::parse(s).unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 12, 3, 0, 0).unwrap()
}

fn lvl(n: i64) -> ResponseLevel {
    ResponseLevel::new(n).unwrap()
}

#[test]
fn every_default_plan_is_valid_and_covers_the_hazards() {
    let plans = default_plans();
    assert_eq!(plans.len(), Hazard::ALL.len());
    for h in Hazard::ALL {
        let p = plans
            .iter()
            .find(|p| p.hazard == h)
            .expect("a plan per hazard");
        p.validate().unwrap_or_else(|e| panic!("{}: {e}", p.code));
        for l in ResponseLevel::ALL {
            for r in TaskRole::ALL {
                let t = p.task(l, r).unwrap();
                assert!(t.text_zh.contains(l.roman()), "{}", t.text_zh);
                assert!(is_tibetan_text(&t.text_bo), "{}", t.text_bo);
                assert!(!t.checklist.is_empty());
            }
        }
    }
    let debris = plans.iter().find(|p| p.code == "debris-flow").unwrap();
    assert_eq!(debris.name, "泥石流灾害应急预案");
    let centre = debris.task(lvl(1), TaskRole::Centre).unwrap();
    assert!(centre.text_zh.contains("每1小时"), "{}", centre.text_zh);
    assert!(centre.text_bo.contains('༡'), "{}", centre.text_bo);
}

#[test]
fn plan_validation_refuses_what_an_administrator_might_get_wrong() {
    let good = default_plans().remove(0);
    type Breaker = Box<dyn Fn(&mut Plan)>;
    let cases: Vec<(&str, Breaker)> = vec![
        ("code", Box::new(|p| p.code = "Debris Flow".into())),
        ("name", Box::new(|p| p.name = " ".into())),
        ("name_bo", Box::new(|p| p.name_bo = "泥石流".into())),
        (
            "levels",
            Box::new(|p| {
                p.levels.pop();
            }),
        ),
        (
            "levels",
            Box::new(|p| {
                let l = p.levels[0].clone();
                p.levels.push(l);
            }),
        ),
        (
            "tasks",
            Box::new(|p| {
                p.levels[1]
                    .tasks
                    .retain(|t| t.role != TaskRole::HouseholdHead);
            }),
        ),
        (
            "text_bo",
            Box::new(|p| p.levels[2].tasks[0].text_bo = "\u{F0A1}\u{F0B2}".into()),
        ),
        (
            "text_bo",
            Box::new(|p| p.levels[2].tasks[0].text_bo = "请转移".into()),
        ),
        (
            "text_zh",
            Box::new(|p| p.levels[3].tasks[1].text_zh = "".into()),
        ),
        (
            "report_every_hours",
            Box::new(|p| p.levels[0].report_every_hours = 0),
        ),
    ];
    for (field, break_it) in cases {
        let mut p = good.clone();
        break_it(&mut p);
        match p.validate() {
            Err(EmergencyError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(good.validate().is_ok());
}

#[test]
fn plans_survive_json() {
    for p in default_plans() {
        let s = serde_json::to_string(&p).unwrap();
        assert!(s.contains("\"level\":1"), "levels as numbers");
        let back: Plan = serde_json::from_str(&s).unwrap();
        assert_eq!(back, p);
    }
    assert!(serde_json::from_str::<ResponseLevel>("5").is_err());
}

#[test]
fn response_levels() {
    assert!(ResponseLevel::new(0).is_err());
    assert!(ResponseLevel::new(5).is_err());
    assert_eq!(lvl(1).roman(), "Ⅰ");
    assert_eq!(lvl(4).to_string(), "Ⅳ级");
    assert!(lvl(3).is_raised_to(lvl(2)));
    assert!(!lvl(2).is_raised_to(lvl(3)));
}

#[test]
fn member_tasks_follow_what_the_member_is() {
    use crate::people::Force::*;
    let table = [
        (
            true,
            true,
            vec![JointDefence, Militia],
            TaskRole::HouseholdHead,
        ),
        (false, true, vec![JointDefence], TaskRole::GridWorker),
        (false, false, vec![Militia], TaskRole::Militia),
        (false, false, vec![Militia, JointDefence], TaskRole::Militia),
        (false, false, vec![Cadres], TaskRole::Cadre),
        (false, false, vec![PartyBuilding], TaskRole::Cadre),
    ];
    for (head, grid, forces, want) in table {
        assert_eq!(
            member_task(head, grid, &forces),
            want,
            "{head} {grid} {forces:?}"
        );
    }
}

#[test]
fn areas_drop_nodes_covered_by_another() {
    let a = normalize_area(&[
        code("623027202201"),
        code("623027202"),
        code("623027202"),
        code("623026"),
    ])
    .unwrap();
    assert_eq!(a, vec![code("623026"), code("623027202")]);
    assert_eq!(
        normalize_area(&[code("623000"), code("623027")]).unwrap(),
        vec![code("623000")]
    );
    assert!(normalize_area(&[]).is_err());
    assert!(area_covers(&a, &code("623027202201001")));
    assert!(!area_covers(&a, &code("623027203")));
    assert!(area_touches(&a, &code("623027")), "the county above");
    assert!(
        area_touches(&a, &code("623027202201001001")),
        "a group inside"
    );
    assert!(!area_touches(&a, &code("623021")));
}

#[test]
fn incident_state_machine_table() {
    let active = IncidentState {
        status: IncidentStatus::Active,
        level: lvl(3),
    };
    let down = IncidentState {
        status: IncidentStatus::StoodDown,
        level: lvl(3),
    };
    type Case = (
        IncidentState,
        fn() -> IncidentCommand,
        Result<&'static str, &'static str>,
    );
    let table: Vec<Case> = vec![
        (
            active,
            || IncidentCommand::ChangeLevel {
                to: ResponseLevel(2),
                reason: "雨势加大".into(),
            },
            Ok("level_changed"),
        ),
        (
            active,
            || IncidentCommand::ChangeLevel {
                to: ResponseLevel(4),
                reason: "减弱".into(),
            },
            Ok("level_changed"),
        ),
        (
            active,
            || IncidentCommand::ChangeLevel {
                to: ResponseLevel(3),
                reason: "x".into(),
            },
            Err("same"),
        ),
        (
            active,
            || IncidentCommand::ChangeLevel {
                to: ResponseLevel(2),
                reason: "".into(),
            },
            Err("invalid"),
        ),
        (
            active,
            || IncidentCommand::Report {
                text: "34户已全部转移".into(),
            },
            Ok("report"),
        ),
        (
            active,
            || IncidentCommand::Report { text: " ".into() },
            Err("invalid"),
        ),
        (
            active,
            || IncidentCommand::Order {
                text: "加强巡查".into(),
            },
            Ok("order"),
        ),
        (
            active,
            || IncidentCommand::StandDown {
                summary: "险情解除".into(),
            },
            Ok("stood_down"),
        ),
        (
            down,
            || IncidentCommand::ChangeLevel {
                to: ResponseLevel(2),
                reason: "x".into(),
            },
            Err("stood_down"),
        ),
        (
            down,
            || IncidentCommand::Report { text: "x".into() },
            Err("stood_down"),
        ),
        (
            down,
            || IncidentCommand::Order { text: "x".into() },
            Err("stood_down"),
        ),
        (
            down,
            || IncidentCommand::StandDown {
                summary: "x".into(),
            },
            Err("stood_down"),
        ),
    ];
    for (state, cmd, want) in table {
        let got = decide(&state, cmd());
        match (got, want) {
            (Ok(events), Ok(kind)) => {
                assert_eq!(events.len(), 1);
                assert_eq!(events[0].kind(), kind);
                let next = apply(state, &events[0]);
                match &events[0] {
                    IncidentEvent::LevelChanged { from, to, .. } => {
                        assert_eq!(*from, state.level);
                        assert_eq!(next.level, *to);
                    }
                    IncidentEvent::StoodDown { .. } => {
                        assert_eq!(next.status, IncidentStatus::StoodDown)
                    }
                    _ => assert_eq!(next, state),
                }
            }
            (Err(EmergencyError::SameLevel(_)), Err("same"))
            | (Err(EmergencyError::StoodDown), Err("stood_down"))
            | (Err(EmergencyError::Invalid { .. }), Err("invalid")) => {}
            (got, want) => panic!("{state:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn activation_needs_a_title() {
    assert!(activate(lvl(2), "  ").is_err());
    let e = activate(lvl(2), " 达麦乡泥石流 ").unwrap();
    assert_eq!(
        e,
        IncidentEvent::Activated {
            level: lvl(2),
            title: "达麦乡泥石流".into()
        }
    );
    let s = apply(
        IncidentState {
            status: IncidentStatus::StoodDown,
            level: lvl(4),
        },
        &e,
    );
    assert_eq!(
        s,
        IncidentState {
            status: IncidentStatus::Active,
            level: lvl(2)
        }
    );
}

fn entry(id: i64, village: &str) -> CurrentEntry {
    CurrentEntry {
        household: id,
        village: code(village),
        status: RollCallStatus::Unreached,
        at: None,
        version: 0,
    }
}

fn report(id: i64, s: RollCallStatus, minutes: i64) -> Report {
    Report {
        household: id,
        status: s,
        at: t0() + Duration::minutes(minutes),
        note: None,
    }
}

#[test]
fn roll_call_latest_observation_wins_and_every_report_is_kept() {
    use RollCallStatus::*;
    let current = vec![
        entry(1, "623027202201"),
        entry(2, "623027202201"),
        entry(3, "623027202202"),
    ];
    // Household 1: the grid worker's "evacuated" (10:05) arrives after the head's offline
    // "missing" (10:01 observed, sent late): evacuated stands, missing is in history.
    let out = roll_call(
        &current,
        &[
            report(1, Evacuated, 5),
            report(1, Missing, 1),
            report(2, Safe, 2),
            report(99, Safe, 1),
        ],
    );
    assert_eq!(out.recorded.len(), 3, "unknown households are skipped");
    assert_eq!(out.recorded[0].version, 1);
    assert!(out.recorded[0].current);
    assert_eq!(out.recorded[1].version, 2);
    assert!(!out.recorded[1].current, "observed earlier: history only");
    assert_eq!(out.applied(), 2);
    assert_eq!(out.current[&1].status, Evacuated);
    assert_eq!(out.current[&1].version, 2);
    assert_eq!(out.current[&2].status, Safe);
    assert!(!out.current.contains_key(&3));
    let d = &out.deltas[&code("623027202201")];
    assert_eq!((d.unreached, d.evacuated, d.safe, d.missing), (-2, 1, 1, 0));
    assert_eq!(d.total(), 0);
    assert!(!out.deltas.contains_key(&code("623027202202")));
}

#[test]
fn roll_call_equal_times_later_arrival_wins() {
    use RollCallStatus::*;
    let out = roll_call(
        &[entry(7, "623027202201")],
        &[report(7, Safe, 3), report(7, Injured, 3)],
    );
    assert_eq!(out.current[&7].status, Injured);
    assert!(out.recorded.iter().all(|r| r.current));
}

#[test]
fn roll_call_back_to_the_same_status_moves_no_counter() {
    use RollCallStatus::*;
    let mut e = entry(4, "623027202201");
    e.status = Safe;
    e.at = Some(t0());
    e.version = 1;
    let out = roll_call(&[e], &[report(4, Missing, 1), report(4, Safe, 2)]);
    assert!(out.deltas.is_empty());
    assert_eq!(out.current[&4].version, 3);
}

#[test]
fn counts_and_summary() {
    let mut c = RollCallCounts::unreached(34);
    for _ in 0..34 {
        c.moved(RollCallStatus::Unreached, RollCallStatus::Evacuated);
    }
    assert_eq!(c.total(), 34);
    assert_eq!(c.reached(), 34);
    assert_eq!(c.summary_zh(), "共34户，已转移34户，无人员受伤，无失联");
    c.moved(RollCallStatus::Evacuated, RollCallStatus::Missing);
    c.moved(RollCallStatus::Evacuated, RollCallStatus::Unreached);
    assert_eq!(
        c.summary_zh(),
        "共34户，已转移32户，无人员受伤，失联1户，尚未联系上1户"
    );
    let mut sum = RollCallCounts::default();
    sum.add(&c);
    sum.add(&RollCallCounts::unreached(6));
    assert_eq!(sum.total(), 40);
}

#[test]
fn tibetan_text_check() {
    assert!(is_tibetan_text("ཆུ་ལོག ༡༢"));
    assert!(!is_tibetan_text(""));
    assert!(!is_tibetan_text("123"));
    assert!(!is_tibetan_text("ཆུ་ལོག 洪涝"));
}

#[test]
fn acknowledgements_fall_into_the_round_they_were_sent_in() {
    let t = |m: i64| Utc.with_ymd_and_hms(2026, 9, 3, 8, 0, 0).unwrap() + Duration::minutes(m);
    // Activated at level Ⅲ at 0, raised to Ⅱ at 60.
    let starts = [(3, t(0)), (2, t(60))];
    let acks = [(t(0), t(2)), (t(0), t(4)), (t(0), t(30)), (t(60), t(61))];
    let r = ack_rounds(&starts, 5, &acks);
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].level, r[0].acknowledged, r[0].instructions),
        (3, 3, 5)
    );
    assert_eq!(r[0].median_minutes, Some(4.0));
    assert_eq!(r[0].p90_minutes, Some(30.0));
    assert_eq!((r[1].level, r[1].acknowledged), (2, 1));
    assert_eq!(r[1].median_minutes, Some(1.0));
    // A round nobody acknowledged is still a round.
    let r = ack_rounds(&starts, 5, &acks[..3]);
    assert_eq!((r[1].acknowledged, r[1].median_minutes), (0, None));
}
