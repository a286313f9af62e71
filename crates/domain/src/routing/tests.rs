use std::collections::BTreeMap;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use geo::InteriorPoint;

use super::*;
use crate::account::Role;
use crate::case::{
    Actor, Case, CaseCode, Channel, Command, NewCase, SimplePolicy, UnitRef, decide,
};
use crate::category::{CategoryCode, Class, default_taxonomy};
use crate::demo::{self, Scale};
use crate::locate::GridIndex;
use crate::people::{TOWNSHIP_DEPARTMENTS, UPPER_DEPARTMENTS};

fn tc(s: &str) -> TerritoryCode {
    TerritoryCode::parse(s).unwrap()
}

fn unit(code: &str, kind: UnitKind, territory: &str) -> Unit {
    Unit {
        code: code.to_owned(),
        name: code.to_owned(),
        kind,
        territory: tc(territory),
    }
}

/// A slice of 夏河县 (623027):
///
/// - the prefecture and the county, each with a centre and every upper department;
/// - 达麦乡 (623027202), a centre with its police station and justice office;
/// - 拉卜楞镇 (623027100), a centre and no department;
/// - 达麦村 (623027202201), a centre and grids 001 and 002;
/// - 黄茨滩村 (623027202203), a grid but no centre of its own.
fn directory() -> BTreeMap<String, Unit> {
    let mut units = Vec::new();
    for node in ["623000", "623027"] {
        units.push(unit(node, UnitKind::Center, node));
        for d in UPPER_DEPARTMENTS {
            units.push(unit(
                &format!("{node}-{}", d.slug),
                UnitKind::Department,
                node,
            ));
        }
    }
    units.push(unit("623027202", UnitKind::Center, "623027202"));
    for d in TOWNSHIP_DEPARTMENTS {
        units.push(unit(
            &format!("623027202-{}", d.slug),
            UnitKind::Department,
            "623027202",
        ));
    }
    units.push(unit("623027100", UnitKind::Center, "623027100"));
    units.push(unit("623027202201", UnitKind::Center, "623027202201"));
    for g in ["623027202201001", "623027202201002", "623027202203001"] {
        units.push(unit(g, UnitKind::Grid, g));
    }
    units.into_iter().map(|u| (u.code.clone(), u)).collect()
}

fn category(level: Level, department: Option<&str>) -> Category {
    Category {
        code: CategoryCode::parse("attention.test").unwrap(),
        name: "测试".to_owned(),
        name_en: "Test".to_owned(),
        name_bo: None,
        class: Class::Attention,
        parent: Some(CategoryCode::parse("attention").unwrap()),
        default_level: level,
        default_department: department.map(str::to_owned),
        limit_profile: "standard".to_owned(),
        is_dispute: false,
        public: false,
        sensitive: false,
    }
}

const GRID: &str = "623027202201001";

fn located(grid: &str) -> Place {
    Place::Located(Some(tc(grid)))
}

#[test]
fn the_routing_table() {
    use Level::{County, Grid, Prefecture, Township, Village};
    let units = directory();
    // (category level, department, where the case is, centre, handling unit)
    let table: Vec<(Level, Option<&str>, Place, &str, &str)> = vec![
        // A located case in a 达麦村 grid.
        (Village, None, located(GRID), "623027202201", "623027202201"),
        // Villages have no departments: the village centre handles it (小事不出村).
        (
            Village,
            Some("justice"),
            located(GRID),
            "623027202201",
            "623027202201",
        ),
        (
            Township,
            Some("police"),
            located(GRID),
            "623027202",
            "623027202-police",
        ),
        (
            Township,
            Some("justice"),
            located(GRID),
            "623027202",
            "623027202-justice",
        ),
        // A department the township lacks: the township centre itself.
        (
            Township,
            Some("natural-resources"),
            located(GRID),
            "623027202",
            "623027202",
        ),
        (Township, None, located(GRID), "623027202", "623027202"),
        (
            County,
            Some("ethnic-religious"),
            located(GRID),
            "623027",
            "623027-ethnic-religious",
        ),
        (
            County,
            Some("police"),
            located(GRID),
            "623027",
            "623027-police",
        ),
        (County, None, located(GRID), "623027", "623027"),
        (
            Prefecture,
            Some("police"),
            located(GRID),
            "623000",
            "623000-police",
        ),
        (Prefecture, None, located(GRID), "623000", "623000"),
        // Grids have no centre: a grid-level category goes to the village.
        (Grid, None, located(GRID), "623027202201", "623027202201"),
        // The worker's grid routes like a position.
        (
            Township,
            Some("police"),
            Place::WorkerGrid(tc("623027202201002")),
            "623027202",
            "623027202-police",
        ),
        (
            Village,
            None,
            Place::WorkerGrid(tc("623027202201002")),
            "623027202201",
            "623027202201",
        ),
        // Reported at a township with a village-level category: clamped to the township.
        (
            Village,
            None,
            Place::Chosen(tc("623027202")),
            "623027202",
            "623027202",
        ),
        (
            Village,
            Some("justice"),
            Place::Chosen(tc("623027202")),
            "623027202",
            "623027202-justice",
        ),
        (
            Township,
            Some("police"),
            Place::Chosen(tc("623027202")),
            "623027202",
            "623027202-police",
        ),
        (
            County,
            Some("police"),
            Place::Chosen(tc("623027202")),
            "623027",
            "623027-police",
        ),
        // A township without departments.
        (
            Township,
            Some("police"),
            Place::Chosen(tc("623027100")),
            "623027100",
            "623027100",
        ),
        // Reported at the county or the prefecture.
        (
            Village,
            None,
            Place::Chosen(tc("623027")),
            "623027",
            "623027",
        ),
        (
            Township,
            Some("justice"),
            Place::Chosen(tc("623027")),
            "623027",
            "623027-justice",
        ),
        (
            Township,
            Some("police"),
            Place::Chosen(tc("623000")),
            "623000",
            "623000-police",
        ),
        (
            County,
            Some("ethnic-religious"),
            Place::Chosen(tc("623000")),
            "623000",
            "623000-ethnic-religious",
        ),
        // Chosen at a village, a grid, a joint-defence group.
        (
            Village,
            None,
            Place::Chosen(tc("623027202201")),
            "623027202201",
            "623027202201",
        ),
        (
            Township,
            Some("police"),
            Place::Chosen(tc(GRID)),
            "623027202",
            "623027202-police",
        ),
        (
            Village,
            None,
            Place::Chosen(tc("623027202201001004")),
            "623027202201",
            "623027202201",
        ),
        // 黄茨滩村 has no centre: the township's takes the case.
        (
            Village,
            None,
            located("623027202203001"),
            "623027202",
            "623027202",
        ),
        (
            Village,
            Some("justice"),
            located("623027202203001"),
            "623027202",
            "623027202-justice",
        ),
    ];
    for (level, dept, place, centre, handling) in table {
        let cat = category(level, dept);
        let r = route(&place, &cat, Urgency::Normal, &units)
            .unwrap_or_else(|e| panic!("{level} {dept:?} {place:?}: {e}"));
        let at = match &place {
            Place::Located(Some(c)) | Place::Chosen(c) | Place::WorkerGrid(c) => c,
            Place::Located(None) => unreachable!(),
        };
        assert_eq!(
            (r.centre.as_str(), r.handling_unit.as_str()),
            (centre, handling),
            "{level} {dept:?} {place:?}: {}",
            r.reason
        );
        assert_eq!(&r.territory, at);
        assert_eq!(r.handling_level, r.centre.level());
        assert!(r.centre.covers(&r.territory));
        // Every unit named exists.
        assert_eq!(
            units.unit(r.centre.as_str()).unwrap().kind,
            UnitKind::Center
        );
        assert!(units.unit(&r.handling_unit).is_some());
        assert!(!r.reason.is_empty());
    }
}

#[test]
fn reasons_explain_the_choice() {
    let units = directory();
    let r = route(
        &Place::Chosen(tc("623027202")),
        &category(Level::Village, Some("justice")),
        Urgency::Normal,
        &units,
    )
    .unwrap();
    assert!(r.reason.contains("reported at 623027202"), "{}", r.reason);
    assert!(r.reason.contains("village level"), "{}", r.reason);
    assert!(r.reason.contains("623027202-justice"), "{}", r.reason);

    let r = route(
        &located(GRID),
        &category(Level::Township, Some("natural-resources")),
        Urgency::Normal,
        &units,
    )
    .unwrap();
    assert!(
        r.reason.contains("no natural-resources department"),
        "{}",
        r.reason
    );

    let r = route(
        &located("623027202203001"),
        &category(Level::Village, None),
        Urgency::Normal,
        &units,
    )
    .unwrap();
    assert!(
        r.reason.contains("623027202203 has no centre"),
        "{}",
        r.reason
    );
}

#[test]
fn urgency_does_not_move_a_case() {
    let units = directory();
    for level in [Level::Village, Level::Township, Level::County] {
        let cat = category(level, Some("police"));
        let normal = route(&located(GRID), &cat, Urgency::Normal, &units).unwrap();
        let urgent = route(&located(GRID), &cat, Urgency::Urgent, &units).unwrap();
        assert_eq!(
            (&normal.centre, &normal.handling_unit),
            (&urgent.centre, &urgent.handling_unit)
        );
        assert!(urgent.reason.contains("urgent"));
    }
}

#[test]
fn routing_errors() {
    let units = directory();
    let cat = category(Level::Village, None);
    let err = |place: Place| route(&place, &cat, Urgency::Normal, &units).unwrap_err();
    assert_eq!(err(Place::Located(None)), RoutingError::OutsideTerritory);
    assert_eq!(
        err(located("623027202201099")),
        RoutingError::UnknownTerritory(tc("623027202201099"))
    );
    assert_eq!(
        err(Place::Chosen(tc("623027202299"))),
        RoutingError::UnknownTerritory(tc("623027202299"))
    );
    assert_eq!(
        err(Place::Chosen(tc("623027202299001001"))),
        RoutingError::UnknownTerritory(tc("623027202299001001"))
    );
    assert_eq!(
        err(Place::Chosen(tc("623026"))),
        RoutingError::UnknownTerritory(tc("623026"))
    );
    // 黄茨滩村 itself has no unit, so it is not a node this directory knows.
    assert_eq!(
        err(Place::Chosen(tc("623027202203"))),
        RoutingError::UnknownTerritory(tc("623027202203"))
    );
    assert_eq!(
        err(located("623027202201")),
        RoutingError::NotAGrid(tc("623027202201"))
    );
    assert_eq!(
        err(Place::WorkerGrid(tc("623027202201001004"))),
        RoutingError::NotAGrid(tc("623027202201001004"))
    );
    // A grid whose every centre above is missing.
    let lonely: Vec<Unit> = vec![unit(GRID, UnitKind::Grid, GRID)];
    assert_eq!(
        route(&located(GRID), &cat, Urgency::Normal, lonely.as_slice()).unwrap_err(),
        RoutingError::NoCentre(tc(GRID))
    );
}

#[test]
fn a_department_code_is_not_a_node() {
    // A department hanging off a node does not make the node known.
    let units: Vec<Unit> = vec![unit("623027202201", UnitKind::Department, "623027202201")];
    assert!(!units.as_slice().has_node(&tc("623027202201")));
}

#[test]
fn escalation_goes_one_level_up() {
    for (from, to) in [
        ("623027202201", Some("623027202")),
        ("623027202", Some("623027")),
        ("623027", Some("623000")),
        ("623001", Some("623000")),
        ("623000", None),
        (GRID, Some("623027202201")),
        ("623027202201001004", Some("623027202201")),
    ] {
        assert_eq!(
            escalation_target(&tc(from)),
            to.map(tc),
            "escalating from {from}"
        );
    }
}

#[test]
fn department_at_the_centre() {
    let units = directory();
    let cat = category(Level::Village, Some("police"));
    assert_eq!(
        department_at(&tc("623027"), &cat, &units).unwrap().code,
        "623027-police"
    );
    assert_eq!(
        department_at(&tc("623027202"), &cat, &units).unwrap().code,
        "623027202-police"
    );
    assert!(department_at(&tc("623027202201"), &cat, &units).is_none());
    assert!(department_at(&tc("623027100"), &cat, &units).is_none());
    assert!(department_at(&tc("623027"), &category(Level::Village, None), &units).is_none());
}

/// (from centre, unit, may dispatch)
fn dispatch_table() -> Vec<(&'static str, Unit, bool)> {
    use UnitKind::{Center, Department, Grid};
    vec![
        // Across: a department of the centre's own node.
        (
            "623027202",
            unit("623027202-police", Department, "623027202"),
            true,
        ),
        ("623027", unit("623027-police", Department, "623027"), true),
        ("623000", unit("623000-justice", Department, "623000"), true),
        // Down: lower centres, grids, lower departments.
        (
            "623027202",
            unit("623027202201", Center, "623027202201"),
            true,
        ),
        ("623027202", unit(GRID, Grid, GRID), true),
        ("623027", unit("623027202", Center, "623027202"), true),
        (
            "623027",
            unit("623027202-police", Department, "623027202"),
            true,
        ),
        ("623000", unit("623027-police", Department, "623027"), true),
        ("623027202201", unit(GRID, Grid, GRID), true),
        // Not up, not to itself, not sideways to another node.
        (
            "623027202",
            unit("623027-police", Department, "623027"),
            false,
        ),
        ("623027202", unit("623027", Center, "623027"), false),
        ("623027202", unit("623027202", Center, "623027202"), false),
        ("623027202", unit("623027204", Center, "623027204"), false),
        (
            "623027202",
            unit("623027204-police", Department, "623027204"),
            false,
        ),
        (
            "623027202201",
            unit("623027202202001", Grid, "623027202202001"),
            false,
        ),
        ("623027", unit("623026-police", Department, "623026"), false),
        // Malformed units.
        ("623027202", unit("x", Center, "623027202201"), false),
        (
            "623027202",
            unit("623027202201001", Center, "623027202201001"),
            false,
        ),
        (
            "623027202",
            unit("623027202201", Grid, "623027202201"),
            false,
        ),
        (
            "623027202",
            unit("623027202201-", Department, "623027202201"),
            false,
        ),
        (
            "623027202",
            unit("623027202201001-police", Department, "623027202201001"),
            false,
        ),
    ]
}

#[test]
fn dispatch_goes_down_or_across() {
    for (from, to, ok) in dispatch_table() {
        assert_eq!(may_dispatch(&tc(from), &to), ok, "{from} → {}", to.code);
    }
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 9, 15, 2, 0, 0).unwrap()
}

/// An accepted case owned by `centre`.
fn accepted_case(centre: &TerritoryCode, territory: &TerritoryCode) -> (Case, Actor) {
    let policy = SimplePolicy::default();
    let new = NewCase {
        id: 1,
        code: CaseCode::for_instant(t0(), 1).unwrap(),
        category: "attention.test".to_owned(),
        territory: territory.clone(),
        centre: centre.clone(),
        urgency: Urgency::Normal,
        channel: Channel::ResidentPage,
    };
    let (case, _) = Case::create(new, None, &policy, t0()).unwrap();
    let op = Actor {
        account_id: 7,
        role: Role::CenterOperator,
        scope: centre.clone(),
        unit: Some(centre.as_str().to_owned()),
    };
    let mut case = case;
    for e in decide(&case, &Command::Accept, &op, &policy, t0()).unwrap() {
        case = crate::case::apply(case, &e);
    }
    (case, op)
}

/// `may_dispatch` says what the case engine's dispatch check says.
#[test]
fn may_dispatch_agrees_with_the_case_engine() {
    let policy = SimplePolicy::default();
    for (from, to, ok) in dispatch_table() {
        let from = tc(from);
        let (case, op) = accepted_case(&from, &from);
        let cmd = Command::Dispatch {
            to: UnitRef {
                code: to.code.clone(),
                kind: to.kind,
                territory: to.territory.clone(),
            },
        };
        let engine = decide(&case, &cmd, &op, &policy, t0()).is_ok();
        assert_eq!(engine, ok, "engine: {from} → {}", to.code);
        assert_eq!(may_dispatch(&from, &to), engine, "{from} → {}", to.code);
    }
}

fn small() -> &'static demo::DemoData {
    static DATA: OnceLock<demo::DemoData> = OnceLock::new();
    DATA.get_or_init(|| demo::generate(Scale::Small))
}

/// Done-when of issue 3: a case reported at a point in a grid of 达麦乡 lands in that grid.
#[test]
fn a_point_in_a_damai_grid_lands_in_that_grid() {
    let d = small();
    let grids: Vec<_> = d
        .nodes
        .iter()
        .filter(|n| n.level() == Level::Grid)
        .filter_map(|n| Some((n.code.clone(), n.geometry.clone()?)))
        .collect();
    let index = GridIndex::new(grids);
    let units: BTreeMap<String, Unit> = d
        .units
        .iter()
        .map(|u| (u.code.clone(), u.clone()))
        .collect();
    let grid = d.nodes.iter().find(|n| n.code.as_str() == GRID).unwrap();
    let point = grid.geometry.as_ref().unwrap().interior_point().unwrap();
    let place = Place::Located(index.locate(point).cloned());
    assert_eq!(place, located(GRID));

    let taxonomy = default_taxonomy();
    let by_code = |c: &str| taxonomy.iter().find(|k| k.code.as_str() == c).unwrap();
    let r = route(
        &place,
        by_code("attention.dispute.neighbour"),
        Urgency::Normal,
        &units,
    )
    .unwrap();
    assert_eq!(
        (
            r.territory.as_str(),
            r.centre.as_str(),
            r.handling_unit.as_str()
        ),
        (GRID, "623027202201", "623027202201")
    );
    let r = route(
        &place,
        by_code("attention.security.theft"),
        Urgency::Normal,
        &units,
    )
    .unwrap();
    assert_eq!(
        (r.centre.as_str(), r.handling_unit.as_str()),
        ("623027202", "623027202-police")
    );
    let r = route(
        &place,
        by_code("attention.religion.monastery"),
        Urgency::Urgent,
        &units,
    )
    .unwrap();
    assert_eq!(
        (r.centre.as_str(), r.handling_unit.as_str()),
        ("623027", "623027-ethnic-religious")
    );
    // Far outside Gannan.
    let beijing = geo::Point::new(116.4, 39.9);
    assert_eq!(
        route(
            &Place::Located(index.locate(beijing).cloned()),
            by_code("service"),
            Urgency::Normal,
            &units
        ),
        Err(RoutingError::OutsideTerritory)
    );
}

/// Every category of the default taxonomy, at every grid and every centre node of the small
/// demo, routes to units that exist, and the case engine opens the case there.
#[test]
fn every_default_category_routes_to_existing_units_in_the_demo() {
    let d = small();
    let units: BTreeMap<String, Unit> = d
        .units
        .iter()
        .map(|u| (u.code.clone(), u.clone()))
        .collect();
    let policy = SimplePolicy::default();
    let places: Vec<Place> = d
        .nodes
        .iter()
        .filter(|n| n.level() <= Level::Grid)
        .map(|n| match n.level() {
            Level::Grid => located(n.code.as_str()),
            _ => Place::Chosen(n.code.clone()),
        })
        .chain(
            d.nodes
                .iter()
                .filter(|n| n.level() == Level::Group)
                .step_by(97)
                .map(|n| Place::Chosen(n.code.clone())),
        )
        .collect();
    let mut routed = 0;
    for cat in default_taxonomy() {
        for place in &places {
            let r = route(place, &cat, Urgency::Normal, &units)
                .unwrap_or_else(|e| panic!("{} at {place:?}: {e}", cat.code));
            let centre = units.unit(r.centre.as_str()).unwrap();
            assert_eq!(centre.kind, UnitKind::Center);
            let handler = units.unit(&r.handling_unit).unwrap();
            assert!(
                handler.code == centre.code || may_dispatch(&r.centre, &handler),
                "{} at {place:?}: {}",
                cat.code,
                r.reason
            );
            // Every node of the demo has its centre: the clamped level is the centre's.
            assert_eq!(
                r.centre.level(),
                cat.default_level
                    .min(r.territory.level())
                    .min(Level::Village)
            );
            let new = NewCase {
                id: 1,
                code: CaseCode::for_instant(t0(), 1).unwrap(),
                category: cat.code.to_string(),
                territory: r.territory.clone(),
                centre: r.centre.clone(),
                urgency: Urgency::Normal,
                channel: Channel::FieldApp,
            };
            Case::create(new, None, &policy, t0()).unwrap();
            routed += 1;
        }
    }
    assert!(routed > 10_000, "{routed}");
}
