use std::collections::BTreeSet;

use super::*;
use crate::calendar::{Step, TimeLimit, TimeUnit, Urgency};

fn taxonomy() -> Taxonomy {
    Taxonomy::new(default_taxonomy()).expect("the default taxonomy is valid")
}

#[test]
fn default_taxonomy_is_valid_and_sized() {
    let t = taxonomy();
    assert_eq!(t.len(), 53);
    assert_eq!(t.all().iter().filter(|c| c.parent.is_none()).count(), 3);
    assert_eq!(t.all().iter().filter(|c| c.code.depth() == 2).count(), 11);
    assert_eq!(t.leaves().count(), 41);
    t.check_limits(&default_limits())
        .expect("every profile has rules");
}

#[test]
fn codes_are_unique_and_every_parent_exists() {
    let cats = default_taxonomy();
    let codes: BTreeSet<_> = cats.iter().map(|c| c.code.clone()).collect();
    assert_eq!(codes.len(), cats.len());
    for c in &cats {
        if let Some(p) = &c.parent {
            assert!(codes.contains(p), "{}: parent {p} missing", c.code);
            assert!(p.covers(&c.code));
            assert_eq!(p.depth() + 1, c.code.depth());
        } else {
            assert_eq!(Class::parse(c.code.as_str()), Some(c.class));
        }
    }
}

#[test]
fn classes_are_consistent_with_the_root() {
    let t = taxonomy();
    for c in t.all() {
        let root = t.ancestry(&c.code).last().expect("has a root");
        assert!(root.parent.is_none());
        assert_eq!(root.class, c.class, "{}", c.code);
        assert_eq!(root.code.as_str(), c.class.as_str());
    }
    let names: Vec<_> = t
        .all()
        .iter()
        .filter(|c| c.parent.is_none())
        .map(|c| (c.name.as_str(), c.class.name_zh()))
        .collect();
    assert_eq!(
        names,
        [
            ("关注类", "关注类"),
            ("管理类", "管理类"),
            ("服务类", "服务类")
        ]
    );
}

#[test]
fn every_leaf_has_a_profile_of_the_limit_table_and_a_limit_for_every_step() {
    let t = taxonomy();
    let limits = default_limits();
    let profiles = limits.profiles();
    for leaf in t.leaves() {
        assert!(
            profiles.contains(leaf.limit_profile.as_str()),
            "{}: {}",
            leaf.code,
            leaf.limit_profile
        );
        for &step in Step::ALL {
            for &urgency in Urgency::ALL {
                for level in Level::ALL {
                    assert!(
                        limits
                            .lookup(
                                leaf.code.as_str(),
                                &leaf.limit_profile,
                                urgency,
                                level,
                                step
                            )
                            .is_some(),
                        "{} {step} {urgency} {level:?}",
                        leaf.code
                    );
                }
            }
        }
    }
    for p in profile::ALL {
        assert!(profiles.contains(p), "{p} has no rule");
    }
}

#[test]
fn dispute_categories_are_under_disputes_or_harvest_disputes() {
    let t = taxonomy();
    let disputes = CategoryCode::parse("attention.dispute").expect("code");
    let harvest = CategoryCode::parse("attention.cordyceps.dispute").expect("code");
    let mut n = 0;
    for c in t.all() {
        let under = disputes.covers(&c.code) || harvest.covers(&c.code);
        assert_eq!(c.is_dispute, under, "{}", c.code);
        if c.is_dispute {
            n += 1;
            assert_eq!(c.limit_profile, profile::DISPUTE, "{}", c.code);
            assert!(!c.public, "{}", c.code);
        }
    }
    // 矛盾纠纷, its ten kinds, and harvest disputes.
    assert_eq!(n, 12);
    for kind in [
        "婚姻家庭纠纷",
        "邻里纠纷",
        "山林土地纠纷",
        "草场纠纷",
        "民族宗教纠纷",
        "劳资纠纷",
        "征地拆迁纠纷",
        "医疗纠纷",
        "损害赔偿纠纷",
        "其他纠纷",
    ] {
        let c = t
            .all()
            .iter()
            .find(|c| c.name == kind)
            .expect("dispute kind present");
        assert_eq!(c.parent.as_ref(), Some(&disputes));
    }
}

#[test]
fn tibetan_names_are_only_tibetan() {
    let t = taxonomy();
    let with_bo: Vec<_> = t
        .all()
        .iter()
        .filter_map(|c| c.name_bo.as_deref())
        .collect();
    assert!(with_bo.len() >= 15);
    for bo in with_bo {
        assert!(is_tibetan(bo), "{bo:?}");
        assert!(bo.chars().all(|c| ('\u{0F00}'..='\u{0FFF}').contains(&c)));
    }
    assert!(!is_tibetan(""));
    assert!(!is_tibetan("རྩོད གཞི")); // a space is not Tibetan script
    assert!(!is_tibetan("草场"));
}

#[test]
fn sensitive_is_never_public_and_departments_exist() {
    let t = taxonomy();
    for c in t.all() {
        assert!(!(c.sensitive && c.public), "{}", c.code);
        if let Some(d) = &c.default_department {
            assert!(is_department(d), "{}: {d}", c.code);
        }
        assert!(c.default_level.has_centre(), "{}", c.code);
    }
    let monastery = t.get("attention.religion.monastery").expect("present");
    assert!(monastery.sensitive && !monastery.public);
    assert_eq!(
        monastery.default_department.as_deref(),
        Some("ethnic-religious")
    );
    let pasture = t.get("attention.dispute.pasture").expect("present");
    assert_eq!(pasture.name, "草场纠纷");
    assert!(pasture.is_dispute);
}

#[test]
fn default_limits_follow_the_documented_table() {
    let l = default_limits();
    let look = |code: &str, urgency, level, step| {
        let t = taxonomy();
        let c = t.get(code).expect("category");
        l.lookup(code, &c.limit_profile, urgency, level, step)
            .expect("limit")
    };
    let (n, u) = (Urgency::Normal, Urgency::Urgent);
    let wh = TimeLimit::working_hours;
    let wd = TimeLimit::working_days;
    // Accept and sign.
    let garbage = "management.environment.garbage";
    assert_eq!(look(garbage, n, Level::Village, Step::Accept), wh(2));
    assert_eq!(
        look(garbage, u, Level::Village, Step::Accept),
        TimeLimit::working_minutes(30)
    );
    assert_eq!(look(garbage, n, Level::Township, Step::Sign), wh(4));
    // Handle by level for the standard profile.
    assert_eq!(look(garbage, n, Level::Village, Step::Handle), wd(3));
    assert_eq!(look(garbage, n, Level::Township, Step::Handle), wd(5));
    assert_eq!(look(garbage, n, Level::County, Step::Handle), wd(10));
    assert_eq!(look(garbage, n, Level::Prefecture, Step::Handle), wd(15));
    assert_eq!(look(garbage, u, Level::County, Step::Handle), wd(1));
    // Disputes.
    let pasture = "attention.dispute.pasture";
    assert_eq!(look(pasture, n, Level::Village, Step::Handle), wd(20));
    assert_eq!(look(pasture, u, Level::Township, Step::Handle), wd(5));
    assert_eq!(look(pasture, n, Level::Village, Step::Revisit), wd(5));
    // Urgent hazards run on the clock.
    let geo = "management.safety.geohazard";
    assert_eq!(look(geo, n, Level::Township, Step::Handle), wd(3));
    assert_eq!(
        look(geo, u, Level::Township, Step::Handle),
        TimeLimit::clock_hours(24)
    );
    assert_eq!(
        look(geo, u, Level::Township, Step::Accept),
        TimeLimit::clock_minutes(30)
    );
    assert_eq!(look(geo, n, Level::Township, Step::Verify), wd(1));
    assert_eq!(look(geo, u, Level::Township, Step::Verify), wh(4));
    // Category-specific rules.
    let er = "attention.dispute.ethnic-religious";
    assert_eq!(look(er, n, Level::County, Step::Accept), wh(1));
    assert_eq!(look(er, n, Level::County, Step::Handle), wd(20));
    assert_eq!(
        look(er, u, Level::County, Step::Sign),
        TimeLimit::clock_hours(1)
    );
    let harvest = "attention.cordyceps.dispute";
    assert_eq!(look(harvest, n, Level::Township, Step::Handle), wd(5));
    assert_eq!(
        look(harvest, u, Level::Township, Step::Handle).unit,
        TimeUnit::ClockHours
    );
    // Policy questions.
    assert_eq!(
        look("service.policy", n, Level::Village, Step::Handle),
        wd(2)
    );
}

#[test]
fn edited_taxonomies_are_checked() {
    let base = default_taxonomy();
    let edit = |f: &dyn Fn(&mut Vec<Category>)| {
        let mut v = base.clone();
        f(&mut v);
        Taxonomy::new(v)
    };
    let code = |s: &str| CategoryCode::parse(s).expect("code");
    assert!(matches!(
        edit(&|v| {
            let c = v[5].clone();
            v.push(c)
        }),
        Err(TaxonomyError::Duplicate(_))
    ));
    assert!(matches!(
        edit(&|v| v.retain(|c| c.code.as_str() != "attention.dispute")),
        Err(TaxonomyError::MissingParent(_))
    ));
    assert!(matches!(
        edit(&|v| v.retain(|c| !c.code.as_str().starts_with("service"))),
        Err(TaxonomyError::MissingRoot(Class::Service))
    ));
    assert!(matches!(
        edit(&|v| v[3].class = Class::Service),
        Err(TaxonomyError::WrongClass(_))
    ));
    assert!(matches!(
        edit(&|v| v[3].parent = Some(code("management"))),
        Err(TaxonomyError::BadParent(_))
    ));
    assert!(matches!(
        edit(&|v| v[3].name_bo = Some("Losar".into())),
        Err(TaxonomyError::NotTibetan(_))
    ));
    assert!(matches!(
        edit(&|v| v[3].default_department = Some("tax".into())),
        Err(TaxonomyError::UnknownDepartment(..))
    ));
    assert!(matches!(
        edit(&|v| {
            v[3].sensitive = true;
            v[3].public = true;
        }),
        Err(TaxonomyError::SensitivePublic(_))
    ));
    let mut v = base.clone();
    v[3].limit_profile = "nonexistent".into();
    let t = Taxonomy::new(v).expect("structurally valid");
    assert!(matches!(
        t.check_limits(&default_limits()),
        Err(TaxonomyError::UnknownProfile(..))
    ));
    for bad in ["", "Attention", "a..b", "a.-b", "a b", "a.b."] {
        assert!(CategoryCode::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn serde_shapes_match_the_contract() {
    let t = taxonomy();
    let tree = t.tree();
    assert_eq!(tree.len(), 3);
    let json = serde_json::to_value(&tree).expect("json");
    assert_eq!(json[0]["code"], "attention");
    assert_eq!(json[0]["class"], "attention");
    assert_eq!(json[1]["class"], "management");
    assert_eq!(json[2]["class"], "service");
    assert_eq!(json[0]["children"][0]["code"], "attention.dispute");
    assert_eq!(
        json[0]["children"][0]["children"][3]["code"],
        "attention.dispute.pasture"
    );
    fn count(n: &[CategoryTree]) -> usize {
        n.iter().map(|c| 1 + count(&c.children)).sum()
    }
    assert_eq!(count(&tree), t.len());
    // A whole taxonomy round-trips, and a bad one is refused on the way in.
    let s = serde_json::to_string(&t).expect("json");
    let back: Taxonomy = serde_json::from_str(&s).expect("parse");
    assert_eq!(back, t);
    let cat = serde_json::to_value(&t.all()[4]).expect("json");
    assert_eq!(cat["default_level"], "township");
    assert_eq!(cat["class"], "attention");
    let bad = s.replace("\"attention.dispute.pasture\"", "\"attention.Dispute\"");
    assert!(serde_json::from_str::<Taxonomy>(&bad).is_err());
}
