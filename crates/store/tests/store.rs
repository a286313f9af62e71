//! The store contract suite: the same tests on SQLite (always) and on PostgreSQL (when
//! `TEST_DATABASE_URL` is set).

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use domain::account::Role;
use domain::people::{Gender, Household, Member, Unit, UnitKind};
use domain::{Level, TerritoryCode};
use store::Db;
use store::account::{NewAccount, SessionKind};
use store::migrate::MIGRATIONS;
use store::territory::TerritoryRecord;
use store::testing;

fn code(s: &str) -> TerritoryCode {
    TerritoryCode::parse(s).unwrap()
}

fn node(c: &str, name: &str) -> TerritoryRecord {
    let c = code(c);
    TerritoryRecord {
        parent: c.parent(),
        level: c.level(),
        code: c,
        name: name.into(),
        name_bo: None,
        geometry: None,
        geometry_source: None,
        center: None,
    }
}

/// A tiny tree: prefecture, one county, township, village, two grids, a group in each.
async fn seed(db: &Db) {
    let nodes = vec![
        node("623000", "甘南藏族自治州"),
        node("623027", "夏河县"),
        node("623027202", "达麦乡"),
        node("623027202201", "达麦村"),
        node("623027202201001", "达麦村第1网格"),
        node("623027202201001001", "第1联防组"),
        node("623027202201002", "达麦村第2网格"),
        node("623027202201002001", "第2联防组"),
        node("623026", "碌曲县"),
    ];
    assert_eq!(db.insert_territories(nodes).await.unwrap(), 9);
    let units = vec![
        Unit {
            code: "623027".into(),
            name: "夏河县综治中心".into(),
            kind: UnitKind::Center,
            territory: code("623027"),
        },
        Unit {
            code: "623027-police".into(),
            name: "夏河县公安局".into(),
            kind: UnitKind::Department,
            territory: code("623027"),
        },
        Unit {
            code: "623027202201001".into(),
            name: "达麦村第1网格".into(),
            kind: UnitKind::Grid,
            territory: code("623027202201001"),
        },
    ];
    db.insert_units(&units).await.unwrap();
    let members = vec![Member {
        id: 1,
        name: "索南扎西".into(),
        gender: Gender::Male,
        phone: "13800000001".into(),
        forces: vec![domain::people::Force::Cadres],
        unit: "623027202201001".into(),
        territory: code("623027202201001"),
        title: "网格员".into(),
    }];
    db.insert_members(&members).await.unwrap();
    let households: Vec<Household> = (1..=25)
        .map(|i| Household {
            id: i,
            group: if i <= 20 {
                Some(code(if i <= 10 {
                    "623027202201001001"
                } else {
                    "623027202201002001"
                }))
            } else {
                None
            },
            grid: code(if i <= 10 || i > 20 {
                "623027202201001"
            } else {
                "623027202201002"
            }),
            head_name: format!("才让{i}"),
            address: format!("夏河县达麦乡达麦村{i}号"),
            phone: format!("139{i:08}"),
            id_number: format!("62302719800101{i:04}"),
            residents: vec![],
            care: i % 5 == 0,
            location: None,
        })
        .collect();
    assert_eq!(db.insert_households(&households).await.unwrap(), 25);
}

async fn with_db<F, Fut>(name: &str, f: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (db, t) = testing::fresh(name).await.expect("fresh database");
    f(db.clone()).await;
    db.close().await;
    testing::remove(t).await;
}

#[test]
fn migrations_have_the_same_names_in_both_folders() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
    let list = |sub: &str| -> BTreeSet<String> {
        std::fs::read_dir(format!("{dir}/{sub}"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let sqlite = list("sqlite");
    assert_eq!(sqlite, list("postgres"));
    let embedded: BTreeSet<String> = MIGRATIONS
        .iter()
        .map(|m| format!("{}.sql", m.name))
        .collect();
    assert_eq!(
        sqlite, embedded,
        "every migration file is embedded, and only those"
    );
}

#[tokio::test]
async fn migrations_yield_the_expected_tables_and_are_idempotent() {
    with_db("store_migrate", |db| async move {
        assert_eq!(db.migrate().await.unwrap(), 0, "second run applies nothing");
        let schema = db.schema().await.unwrap();
        let tables: Vec<&str> = schema.iter().map(|(t, _)| t.as_str()).collect();
        for t in [
            "territories",
            "territory_counts",
            "units",
            "members",
            "households",
            "group_heads",
            "monasteries",
            "enterprises",
            "pairings",
            "accounts",
            "sessions",
            "schema_migrations",
        ] {
            assert!(tables.contains(&t), "missing table {t} in {tables:?}");
        }
    })
    .await;
}

/// Both backends yield the same tables and columns: compare against the other backend's
/// schema recorded in a fresh SQLite database (always available).
#[tokio::test]
async fn both_backends_have_the_same_columns() {
    with_db("store_parity", |db| async move {
        let here = db.schema().await.unwrap();
        let dir = std::env::temp_dir().join(format!("gesang_parity_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lite = Db::connect(None, &dir).await.unwrap();
        lite.migrate().await.unwrap();
        let there = lite.schema().await.unwrap();
        lite.close().await;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(here, there);
    })
    .await;
}

#[tokio::test]
async fn territory_reads_and_counts_roll_up() {
    with_db("store_territory", |db| async move {
        seed(&db).await;
        assert!(db.has_territory().await.unwrap());
        let t = db.territory(&code("623027202")).await.unwrap().unwrap();
        assert_eq!(t.name, "达麦乡");
        assert_eq!(t.level, Level::Township);
        assert_eq!(t.parent, Some(code("623027")));
        assert!(db.territory(&code("623099")).await.unwrap().is_none());
        let kids = db.territory_child_codes(&code("623000")).await.unwrap();
        assert_eq!(kids, vec![code("623026"), code("623027")]);

        db.recompute_counts().await.unwrap();
        let c = db.territory_counts(&code("623000")).await.unwrap();
        assert_eq!((c.households, c.members, c.groups, c.grids), (25, 1, 2, 2));
        let g1 = db.territory_counts(&code("623027202201001")).await.unwrap();
        assert_eq!(g1.households, 15, "10 grouped + 5 ungrouped in grid 1");
        assert_eq!(g1.groups, 1);
        let other = db.territory_counts(&code("623026")).await.unwrap();
        assert_eq!(other.households, 0);
        // Recomputing is idempotent.
        db.recompute_counts().await.unwrap();
        assert_eq!(db.territory_counts(&code("623000")).await.unwrap(), c);

        let grids = db
            .territories_at_level(&code("623027"), Level::Grid, false)
            .await
            .unwrap();
        assert_eq!(grids.len(), 2);
        let found = db
            .search_territories(&code("623000"), "达麦", 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 4, "township, village and two grids: {found:?}");
        let none = db
            .search_territories(&code("623026"), "达麦", 10)
            .await
            .unwrap();
        assert!(none.is_empty(), "search stays inside the subtree");
        let pct = db
            .search_territories(&code("623000"), "%", 10)
            .await
            .unwrap();
        assert!(pct.is_empty(), "LIKE wildcards are escaped");
    })
    .await;
}

#[tokio::test]
async fn people_are_listed_and_searched_by_subtree() {
    with_db("store_people", |db| async move {
        seed(&db).await;
        let page1 = db
            .households_in(&code("623027202201001"), 0, 10)
            .await
            .unwrap();
        assert_eq!(page1.len(), 10);
        let page2 = db
            .households_in(&code("623027202201001"), page1[9].id, 10)
            .await
            .unwrap();
        assert_eq!(page2.len(), 5);
        assert!(page2.iter().all(|h| h.id > page1[9].id));
        assert_eq!(
            db.households_in(&code("623026"), 0, 10)
                .await
                .unwrap()
                .len(),
            0
        );
        let found = db
            .search_households(&code("623027"), "才让1", 50)
            .await
            .unwrap();
        assert_eq!(found.len(), 11, "才让1 and 才让10-19");
        let m = db
            .search_members(&code("623027"), "索南", 10)
            .await
            .unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].unit_name, "达麦村第1网格");
        assert_eq!(m[0].forces, vec!["cadres"]);
        assert!(
            db.search_members(&code("623026"), "索南", 10)
                .await
                .unwrap()
                .is_empty()
        );
        let units = db.units_at(&code("623027")).await.unwrap();
        assert_eq!(
            units.iter().map(|u| u.code.as_str()).collect::<Vec<_>>(),
            ["623027", "623027-police"]
        );
        assert!(db.unit("623027-police").await.unwrap().is_some());
        assert!(db.unit("nope").await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn duplicate_keys_are_conflicts_and_nothing_half_written() {
    with_db("store_dup", |db| async move {
        seed(&db).await;
        let err = db
            .insert_territories(vec![node("623027", "again")])
            .await
            .unwrap_err();
        assert!(err.is_unique_violation(), "{err}");
        // A batch with one bad row writes nothing.
        let err = db
            .insert_territories(vec![node("623025", "迭部县"), node("623027", "dup")])
            .await
            .unwrap_err();
        assert!(err.is_unique_violation());
        assert!(db.territory(&code("623025")).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_and_revoke() {
    with_db("store_sessions", |db| async move {
        seed(&db).await;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap();
        db.insert_accounts(
            vec![NewAccount {
                id: 1,
                username: "center-623027".into(),
                password_hash: "x".into(),
                display_name: "夏河县综治中心".into(),
                role: Role::CenterOperator,
                scope: code("623027"),
                unit: Some("623027".into()),
                member: None,
            }],
            t0,
        )
        .await
        .unwrap();
        let creds = db.credentials("center-623027").await.unwrap().unwrap();
        assert_eq!(creds.principal.role, Role::CenterOperator);
        assert!(db.credentials("nobody").await.unwrap().is_none());
        let exp = t0 + chrono::Duration::hours(12);
        db.create_session("h1", 1, SessionKind::Api, "c1", t0, exp)
            .await
            .unwrap();
        assert!(
            db.session("h1", SessionKind::Api, t0)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            db.session("h1", SessionKind::Web, t0)
                .await
                .unwrap()
                .is_none(),
            "kinds do not mix"
        );
        assert!(
            db.session("h1", SessionKind::Api, exp)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
        db.revoke_session("h1", t0).await.unwrap();
        assert!(
            db.session("h1", SessionKind::Api, t0)
                .await
                .unwrap()
                .is_none(),
            "revoked"
        );
        db.create_session("h2", 1, SessionKind::Web, "c2", t0, exp)
            .await
            .unwrap();
        assert_eq!(db.revoke_sessions_of(1, t0).await.unwrap(), 1);
        assert_eq!(
            db.purge_sessions(exp + chrono::Duration::seconds(1))
                .await
                .unwrap(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_writers_queue_instead_of_failing() {
    with_db("store_concurrent", |db| async move {
        seed(&db).await;
        let mut tasks = Vec::new();
        for i in 0..16i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let c = format!("62302720220100{}", 3 + i % 7);
                let _ = c;
                db.insert_households(&[Household {
                    id: 1000 + i,
                    group: None,
                    grid: code("623027202201002"),
                    head_name: format!("并发{i}"),
                    address: "x".into(),
                    phone: "1".into(),
                    id_number: "1".into(),
                    residents: vec![],
                    care: false,
                    location: None,
                }])
                .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        assert_eq!(
            db.search_households(&code("623000"), "并发", 100)
                .await
                .unwrap()
                .len(),
            16
        );
    })
    .await;
}

mod cases {
    use super::*;
    use chrono::NaiveDate;
    use store::cases::{
        CaseFilter, CaseRecord, CounterChange, EventRecord, Inserted, NewCaseWrite, TimerRecord,
        TransitionWrite,
    };

    pub(super) fn t0() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
    }

    fn record(id: i64, key: Option<&str>) -> CaseRecord {
        CaseRecord {
            id,
            code: format!("GN20261126{id:06}"),
            status: "submitted".into(),
            category: "attention.dispute.pasture".into(),
            territory: "623027202201001".into(),
            centre: "623027202201".into(),
            handling_unit: "623027202201".into(),
            handling_level: "village".into(),
            urgency: "normal".into(),
            channel: "field_app".into(),
            title: None,
            description: format!("草场纠纷 {id}"),
            lng: Some(102.7),
            lat: Some(34.9),
            reporter_name: None,
            reporter_phone: None,
            reporter_account: None,
            routed_unit: None,
            routing_reason: None,
            idempotency_key: key.map(str::to_owned),
            created_at: t0(),
            updated_at: t0(),
            step: Some("accept".into()),
            step_started_at: Some(t0()),
            deadline: Some(t0() + chrono::Duration::hours(2)),
            version: 1,
            state: "{}".into(),
        }
    }

    pub(super) fn write(id: i64, key: Option<&str>, terms: &[&str]) -> NewCaseWrite {
        NewCaseWrite {
            record: record(id, key),
            events: vec![EventRecord {
                case_id: id,
                seq: 1,
                at: t0(),
                action: "create".into(),
                by_account: None,
                by_role: None,
                by_level: None,
                from_status: None,
                to_status: "submitted".into(),
                body: "{}".into(),
            }],
            counters: vec![CounterChange {
                unit: "623027202201".into(),
                day: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
                counter: "due_accept".into(),
                delta: 1,
            }],
            terms: terms.iter().map(|s| s.to_string()).collect(),
            index_later: false,
            timers: vec![TimerRecord {
                case_id: id,
                kind: "yellow_card".into(),
                version: 1,
                due_at: t0() + chrono::Duration::hours(2),
            }],
            attachments: vec![],
        }
    }

    #[tokio::test]
    async fn numbers_are_handed_out_in_disjoint_blocks() {
        with_db("store_numbers", |db| async move {
            let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    db.reserve_case_numbers(5, &[(day, 5)]).await
                }));
            }
            let mut ids = Vec::new();
            let mut seqs = Vec::new();
            for t in tasks {
                let (id, s) = t.await.unwrap().unwrap();
                ids.extend(id..id + 5);
                seqs.extend(s[0]..s[0] + 5);
            }
            ids.sort();
            seqs.sort();
            assert_eq!(ids, (1..=40).collect::<Vec<_>>());
            assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
        })
        .await;
    }

    #[tokio::test]
    async fn cases_insert_once_per_idempotency_key_and_are_found() {
        with_db("store_cases", |db| async move {
            seed(&db).await;
            let out = db
                .insert_cases(vec![
                    write(1, Some("k1"), &["草场", "纠纷"]),
                    write(2, None, &["纠纷"]),
                ])
                .await
                .unwrap();
            assert_eq!(out, vec![Inserted::New(1), Inserted::New(2)]);
            let again = db
                .insert_cases(vec![write(3, Some("k1"), &["x"])])
                .await
                .unwrap();
            assert_eq!(again, vec![Inserted::Existing(1)]);
            assert!(
                db.case_by_id(3).await.unwrap().is_none(),
                "the duplicate wrote nothing"
            );
            assert_eq!(db.case_id_by_key("k1").await.unwrap(), Some(1));
            let c = db.case_by_code("GN20261126000001").await.unwrap().unwrap();
            assert_eq!(c.deadline, Some(t0() + chrono::Duration::hours(2)));
            assert_eq!(db.case_events(1).await.unwrap().len(), 1);

            let base = CaseFilter {
                territory_prefix: "623027".into(),
                limit: 10,
                ..Default::default()
            };
            assert_eq!(db.list_cases(&base).await.unwrap().len(), 2);
            let both = CaseFilter {
                terms: vec!["草场".into(), "纠纷".into()],
                ..base.clone()
            };
            let found = db.list_cases(&both).await.unwrap();
            assert_eq!(found.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1]);
            let other = CaseFilter {
                territory_prefix: "623026".into(),
                ..base.clone()
            };
            assert!(db.list_cases(&other).await.unwrap().is_empty());
            let page = CaseFilter {
                before_id: Some(2),
                ..base.clone()
            };
            assert_eq!(
                db.list_cases(&page)
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| c.id)
                    .collect::<Vec<_>>(),
                vec![1]
            );
            let overdue = CaseFilter {
                overdue_at: Some(t0() + chrono::Duration::hours(3)),
                ..base.clone()
            };
            assert_eq!(db.list_cases(&overdue).await.unwrap().len(), 2);
            let not_yet = CaseFilter {
                overdue_at: Some(t0() + chrono::Duration::hours(1)),
                ..base.clone()
            };
            assert!(db.list_cases(&not_yet).await.unwrap().is_empty());
            let desk = CaseFilter {
                owned_or_held_by: Some("623027202201".into()),
                open_only: true,
                ..base.clone()
            };
            assert_eq!(db.list_cases(&desk).await.unwrap().len(), 2);
            let other_desk = CaseFilter {
                owned_or_held_by: Some("623027202".into()),
                ..base.clone()
            };
            assert!(db.list_cases(&other_desk).await.unwrap().is_empty());
            let held = CaseFilter {
                handling_unit: Some("623027202201".into()),
                ..base.clone()
            };
            assert_eq!(db.list_cases(&held).await.unwrap().len(), 2);
            let cat = CaseFilter {
                category_prefix: Some("attention.dispute".into()),
                ..base
            };
            assert_eq!(db.list_cases(&cat).await.unwrap().len(), 2);

            let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
            let totals = db.counter_totals("623027202201", day, day).await.unwrap();
            assert_eq!(totals, vec![("due_accept".to_string(), 2)]);
        })
        .await;
    }

    #[tokio::test]
    async fn transitions_are_refused_on_a_stale_version_and_timers_fire_once() {
        with_db("store_transitions", |db| async move {
            seed(&db).await;
            db.insert_cases(vec![write(1, None, &[])]).await.unwrap();
            let mut next = record(1, None);
            next.status = "accepted".into();
            next.version = 2;
            let t = |expected: i64| TransitionWrite {
                expected_version: expected,
                record: next.clone(),
                events: vec![EventRecord {
                    case_id: 1,
                    seq: 2,
                    at: t0(),
                    action: "accept".into(),
                    by_account: Some(1),
                    by_role: Some("center_operator".into()),
                    by_level: Some("village".into()),
                    from_status: Some("submitted".into()),
                    to_status: "accepted".into(),
                    body: "{}".into(),
                }],
                counters: vec![],
                timers: vec![],
                attachments: vec![],
            };
            assert!(
                !db.apply_transition(t(7)).await.unwrap(),
                "stale version refused"
            );
            assert_eq!(db.case_by_id(1).await.unwrap().unwrap().status, "submitted");
            assert!(db.apply_transition(t(1)).await.unwrap());
            assert_eq!(db.case_by_id(1).await.unwrap().unwrap().status, "accepted");
            assert_eq!(db.case_events(1).await.unwrap().len(), 2);
            assert!(
                db.due_timers(t0() + chrono::Duration::hours(5), 10)
                    .await
                    .unwrap()
                    .is_empty(),
                "the transition removed the unfired timer"
            );

            db.insert_cases(vec![write(2, None, &[])]).await.unwrap();
            let due = db
                .due_timers(t0() + chrono::Duration::hours(5), 10)
                .await
                .unwrap();
            assert_eq!(due.len(), 1);
            let mut claims = Vec::new();
            for _ in 0..6 {
                let db = db.clone();
                claims.push(tokio::spawn(async move {
                    db.claim_timer(2, "yellow_card", t0() + chrono::Duration::hours(5))
                        .await
                        .unwrap()
                }));
            }
            let mut won = 0;
            for c in claims {
                won += usize::from(c.await.unwrap());
            }
            assert_eq!(won, 1, "exactly one claim wins");
            assert!(
                db.due_timers(t0() + chrono::Duration::hours(5), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
        })
        .await;
    }

    #[tokio::test]
    async fn the_search_backlog_is_indexed_once_and_emptied() {
        with_db("store_backlog", |db| async move {
            seed(&db).await;
            let mut w = write(1, None, &[]);
            w.index_later = true;
            db.insert_cases(vec![w]).await.unwrap();
            let pending = db.pending_index(10).await.unwrap();
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].description, "草场纠纷 1");
            let filter = CaseFilter {
                territory_prefix: "623027".into(),
                terms: vec!["草场".into()],
                limit: 10,
                ..Default::default()
            };
            assert!(
                db.list_cases(&filter).await.unwrap().is_empty(),
                "not indexed yet"
            );
            let terms = vec!["草场".to_string(), "纠纷".to_string()];
            assert_eq!(db.write_index(vec![(1, terms.clone())]).await.unwrap(), 1);
            assert_eq!(
                db.write_index(vec![(1, terms)]).await.unwrap(),
                1,
                "idempotent"
            );
            assert!(db.pending_index(10).await.unwrap().is_empty());
            assert_eq!(db.list_cases(&filter).await.unwrap().len(), 1);
        })
        .await;
    }

    #[tokio::test]
    async fn settings_and_categories_round_trip() {
        with_db("store_settings", |db| async move {
            assert_eq!(db.setting("calendar").await.unwrap(), None);
            db.set_setting("calendar", "{\"a\":1}", t0()).await.unwrap();
            db.set_setting("calendar", "{\"a\":2}", t0()).await.unwrap();
            assert_eq!(
                db.setting("calendar").await.unwrap().as_deref(),
                Some("{\"a\":2}")
            );
            db.replace_categories(vec![
                ("attention".into(), None, "{\"code\":\"attention\"}".into()),
                (
                    "attention.dispute".into(),
                    Some("attention".into()),
                    "{\"code\":\"attention.dispute\"}".into(),
                ),
            ])
            .await
            .unwrap();
            let cats = db.categories().await.unwrap();
            assert_eq!(cats.len(), 2);
            assert!(cats[0].contains("\"attention\""));
        })
        .await;
    }
}

mod attachments {
    use super::*;
    use store::StoreError;
    use store::attachments::NewAttachment;

    fn file(owner: i64, kind: &str, data: &[u8]) -> NewAttachment {
        NewAttachment {
            owner_kind: "case".into(),
            owner_id: owner,
            event_seq: Some(1),
            kind: kind.into(),
            content_type: if kind == "photo" {
                "image/jpeg"
            } else {
                "audio/ogg"
            }
            .into(),
            sha256: format!("{:064x}", data.len()),
            width: (kind == "photo").then_some(64),
            height: (kind == "photo").then_some(48),
            created_at: super::cases::t0(),
            created_by: None,
            data: data.to_vec(),
        }
    }

    #[tokio::test]
    async fn files_round_trip_byte_for_byte_and_list_in_order() {
        with_db("store_attach", |db| async move {
            // Every byte value, zeros included, survives BLOB and BYTEA alike.
            let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
            let out = db
                .insert_attachments(vec![
                    file(9, "audio", b"OggS\0voice"),
                    file(9, "photo", &bytes),
                    file(9, "photo", b"\xff\xd8\xff second"),
                ])
                .await
                .unwrap();
            assert_eq!(out.len(), 3);
            assert_eq!(
                out.iter().map(|a| a.position).collect::<Vec<_>>(),
                [1, 1, 2]
            );
            let listed = db.attachments_of("case", 9).await.unwrap();
            assert_eq!(
                listed
                    .iter()
                    .map(|a| (a.kind.as_str(), a.position))
                    .collect::<Vec<_>>(),
                [("photo", 1), ("photo", 2), ("audio", 1)],
                "photos first, in upload order"
            );
            assert_eq!(listed[0], out[1]);
            let (meta, data) = db.attachment_data(out[1].id).await.unwrap().unwrap();
            assert_eq!(data, bytes);
            assert_eq!(meta.size, 70_000);
            assert_eq!(meta.width, Some(64));
            assert_eq!(
                db.attachment(out[0].id).await.unwrap().unwrap().kind,
                "audio"
            );
            assert!(db.attachment(999_999).await.unwrap().is_none());
            assert!(db.attachments_of("worklog", 9).await.unwrap().is_empty());
            let many = db.attachments_of_many("case", &[9, 10]).await.unwrap();
            assert_eq!(many.len(), 3);
        })
        .await;
    }

    #[tokio::test]
    async fn limits_hold_and_a_refused_batch_writes_nothing() {
        with_db("store_attach_limit", |db| async move {
            let five: Vec<_> = (0..5).map(|_| file(3, "photo", b"p")).collect();
            db.insert_attachments(five).await.unwrap();
            let err = db
                .insert_attachments(vec![
                    file(3, "audio", b"a"),
                    file(3, "photo", b"p"),
                    file(3, "photo", b"q"),
                ])
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::LimitReached { kind, max: 6 } if kind == "photo"),
                "{err}"
            );
            assert_eq!(
                db.attachments_of("case", 3).await.unwrap().len(),
                5,
                "nothing half-written"
            );
            db.insert_attachments(vec![file(3, "photo", b"6")])
                .await
                .unwrap();
            assert!(
                db.insert_attachments(vec![file(3, "photo", b"7")])
                    .await
                    .is_err()
            );
            // Another owner has its own places.
            db.insert_attachments(vec![file(4, "photo", b"p")])
                .await
                .unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn racing_writers_never_pass_the_limit() {
        with_db("store_attach_race", |db| async move {
            let mut tasks = Vec::new();
            for i in 0..10u8 {
                let db = db.clone();
                tasks.push(tokio::spawn(async move {
                    db.insert_attachments(vec![file(5, "photo", &[i])]).await
                }));
            }
            let mut ok = 0;
            for t in tasks {
                if t.await.unwrap().is_ok() {
                    ok += 1;
                }
            }
            let stored = db.attachments_of("case", 5).await.unwrap();
            assert!(
                ok <= 6 && ok == stored.len(),
                "{ok} ok, {} stored",
                stored.len()
            );
            let mut positions: Vec<i64> = stored.iter().map(|a| a.position).collect();
            positions.dedup();
            assert_eq!(positions.len(), stored.len(), "one file per place");
        })
        .await;
    }

    #[tokio::test]
    async fn photos_come_with_their_case_in_one_transaction() {
        with_db("store_attach_case", |db| async move {
            seed(&db).await;
            let mut w = super::cases::write(1, None, &[]);
            w.attachments = vec![file(1, "photo", b"with the report")];
            // Too many photos with a new case: the case is not written either.
            let mut over = super::cases::write(2, None, &[]);
            over.attachments = (0..7).map(|_| file(2, "photo", b"x")).collect();
            assert!(db.insert_cases(vec![over]).await.is_err());
            assert!(
                db.case_by_id(2).await.unwrap().is_none(),
                "no case without its photos"
            );
            db.insert_cases(vec![w]).await.unwrap();
            let files = db.attachments_of("case", 1).await.unwrap();
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].event_seq, Some(1));
        })
        .await;
    }
}

mod backup {
    //! Backups: a copy of either engine in one SQLite file, restored into either engine.
    use super::*;
    use chrono::NaiveDate;
    use store::StoreError;
    use store::attachments::NewAttachment;
    use store::backup::ColType;

    fn photo(case: i64, bytes: &[u8]) -> NewAttachment {
        NewAttachment {
            owner_kind: "case".into(),
            owner_id: case,
            event_seq: Some(1),
            kind: "photo".into(),
            content_type: "image/jpeg".into(),
            sha256: "00".repeat(32),
            width: Some(4),
            height: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 26, 1, 2, 3).unwrap(),
            created_by: None,
            data: bytes.to_vec(),
        }
    }

    /// A database with territory, people, accounts, sessions, cases with events, counters,
    /// timers, search terms and an attachment: every column type.
    async fn filled(db: &Db) {
        seed(db).await;
        db.recompute_counts().await.unwrap();
        let id = 7;
        db.insert_accounts(
            vec![NewAccount {
                id,
                username: "center-623027".into(),
                password_hash: "not-a-real-hash".into(),
                display_name: "夏河县综治中心".into(),
                role: Role::CenterOperator,
                scope: code("623027"),
                unit: Some("623027".into()),
                member: None,
            }],
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        )
        .await
        .unwrap();
        db.create_session(
            "hash-of-a-token",
            id,
            SessionKind::Api,
            "csrf",
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap(),
        )
        .await
        .unwrap();
        let mut w = super::cases::write(1, Some("k1"), &["草场", "纠纷"]);
        w.attachments = vec![photo(1, &[0xff, 0xd8, 0x00, 0x01, 0xff, 0xd9])];
        db.insert_cases(vec![w, super::cases::write(2, None, &["雪灾"])])
            .await
            .unwrap();
    }

    /// Rows per table, but the search backlog (a restore fills it for the indexer).
    async fn counts(db: &Db, tables: &[String]) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for t in tables.iter().filter(|t| *t != "search_backlog") {
            out.push((t.clone(), db.row_count(t).await.unwrap()));
        }
        out
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "gesang_backup_{name}_{}_{}",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[tokio::test]
    async fn a_backup_restores_into_both_engines_with_every_row() {
        with_db("store_backup", |db| async move {
            filled(&db).await;
            let dir = scratch("roundtrip");
            let file = dir.join("gesang-backup.db");
            let mut seen = Vec::new();
            let summary = db
                .backup_to(&file, |t, n| seen.push((t.to_owned(), n)))
                .await
                .unwrap();
            assert_eq!(summary.per_table, seen);
            assert!(summary.rows > 40, "{summary:?}");
            let tables: Vec<String> = summary.per_table.iter().map(|(t, _)| t.clone()).collect();
            for t in [
                "territories",
                "households",
                "accounts",
                "cases",
                "case_events",
                "attachments",
            ] {
                assert!(tables.iter().any(|x| x == t), "{t} is backed up");
            }
            // Referenced tables come first.
            let at = |t: &str| tables.iter().position(|x| x == t).unwrap();
            assert!(at("territories") < at("units") && at("accounts") < at("sessions"));
            assert!(at("cases") < at("case_events"));
            let before = counts(&db, &tables).await;
            // The per-table figures are the rows of the source.
            assert_eq!(
                before,
                summary
                    .per_table
                    .iter()
                    .filter(|(t, _)| t != "search_backlog")
                    .map(|(t, n)| (t.clone(), *n as i64))
                    .collect::<Vec<_>>()
            );
            // A backup never overwrites.
            assert!(matches!(
                db.backup_to(&file, |_, _| {}).await,
                Err(StoreError::Backup(_))
            ));

            // Into a fresh database of the same engine, and into a fresh SQLite one.
            let (same, t_same) = testing::fresh("store_restore").await.unwrap();
            let lite_dir = scratch("lite");
            let lite = Db::connect(None, &lite_dir)
                .await
                .unwrap()
                .with_vault(testing::vault());
            lite.migrate().await.unwrap();
            for target in [&same, &lite] {
                let restored = target.restore_from(&file, |_, _| {}).await.unwrap();
                assert_eq!(restored.per_table, summary.per_table);
                assert_eq!(counts(target, &tables).await, before);
                let c = target.case_by_id(1).await.unwrap().unwrap();
                assert_eq!(
                    format!("{c:?}"),
                    format!("{:?}", db.case_by_id(1).await.unwrap().unwrap())
                );
                assert_eq!(
                    format!("{:?}", target.case_events(1).await.unwrap()),
                    format!("{:?}", db.case_events(1).await.unwrap())
                );
                let files = target.attachments_of("case", 1).await.unwrap();
                assert_eq!(files, db.attachments_of("case", 1).await.unwrap());
                let data = target.attachment_data(files[0].id).await.unwrap().unwrap();
                assert_eq!(data.1, vec![0xff, 0xd8, 0x00, 0x01, 0xff, 0xd9]);
                assert_eq!(
                    target.territory_counts(&code("623027")).await.unwrap(),
                    db.territory_counts(&code("623027")).await.unwrap()
                );
                let s = target
                    .session(
                        "hash-of-a-token",
                        SessionKind::Api,
                        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap(),
                    )
                    .await
                    .unwrap()
                    .expect("the session is restored");
                assert_eq!(s.principal.username, "center-623027");
                // Search comes back through the indexer: every case waits in the backlog.
                assert_eq!(target.search_backlog_len().await.unwrap(), 2);
                // A second restore into the now full database is refused, and changes nothing.
                let again = target.restore_from(&file, |_, _| {}).await;
                assert!(
                    matches!(&again, Err(StoreError::Backup(m)) if m.contains("empty")),
                    "{again:?}"
                );
                assert_eq!(counts(target, &tables).await, before);
                // New rows get fresh ids after the restored ones.
                let more = target
                    .insert_attachments(vec![photo(2, b"later")])
                    .await
                    .unwrap();
                assert!(more[0].id > files[0].id);
            }
            same.close().await;
            lite.close().await;
            testing::remove(t_same).await;
            let _ = std::fs::remove_dir_all(&lite_dir);
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
    }

    #[tokio::test]
    async fn a_backup_taken_under_writes_is_one_instant() {
        with_db("store_backup_live", |db| async move {
            seed(&db).await;
            // A writer keeps adding cases, each with its event, counter and timer in one
            // transaction.
            let writer = {
                let db = db.clone();
                tokio::spawn(async move {
                    for id in 1..=400 {
                        db.insert_cases(vec![super::cases::write(id, None, &[])])
                            .await
                            .unwrap();
                    }
                })
            };
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(
                !writer.is_finished(),
                "the backup runs while the writer writes"
            );
            let dir = scratch("live");
            let file = dir.join("b.db");
            db.backup_to(&file, |_, _| {}).await.unwrap();
            writer.await.unwrap();
            let copy = Db::connect(Some(&format!("sqlite://{}", file.display())), &dir)
                .await
                .unwrap()
                .with_vault(testing::vault());
            let cases = copy.row_count("cases").await.unwrap();
            let events = copy.row_count("case_events").await.unwrap();
            let timers = copy.row_count("case_timers").await.unwrap();
            let (from, to) = (
                NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(),
                NaiveDate::from_ymd_opt(2100, 1, 1).unwrap(),
            );
            let due: i64 = copy
                .counter_totals("623027202201", from, to)
                .await
                .unwrap()
                .into_iter()
                .find(|(c, _)| c == "due_accept")
                .map(|(_, n)| n)
                .unwrap_or(0);
            assert_eq!(
                (events, timers, due),
                (cases, cases, cases),
                "no case without its rows"
            );
            assert!(cases > 0, "the snapshot holds the cases written before it");
            assert_eq!(db.row_count("cases").await.unwrap(), 400);
            copy.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
    }

    #[tokio::test]
    async fn every_column_of_both_engines_has_a_type_the_backup_copies() {
        with_db("store_backup_types", |db| async move {
            // The SQLite schema names every column's type (backup_tables fails otherwise).
            let dir = scratch("types");
            let lite = Db::connect(None, &dir).await.unwrap();
            lite.migrate().await.unwrap();
            let specs = lite.backup_tables().await.unwrap();
            assert!(specs.len() >= 15, "{} tables", specs.len());
            if db.backend() == store::Backend::Postgres {
                let pg = db.column_types().await.unwrap();
                for spec in &specs {
                    for (col, ty) in &spec.columns {
                        let pg_type = pg
                            .get(&(spec.name.clone(), col.clone()))
                            .unwrap_or_else(|| panic!("{}.{col} missing on PostgreSQL", spec.name));
                        assert!(
                            ty.matches_postgres(pg_type),
                            "{}.{col}: SQLite says {ty:?}, PostgreSQL {pg_type}",
                            spec.name
                        );
                    }
                }
            }
            assert_eq!(
                ColType::of_declared("DOUBLE PRECISION"),
                Some(ColType::Real)
            );
            assert_eq!(ColType::of_declared("TIMESTAMP"), Some(ColType::Time));
            assert_eq!(ColType::of_declared("JSONB"), None);
            lite.close().await;
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
    }

    #[tokio::test]
    async fn a_file_that_is_not_a_backup_is_refused() {
        with_db("store_backup_bad", |db| async move {
            let dir = scratch("bad");
            let junk = dir.join("junk.db");
            std::fs::write(&junk, b"this is not a database").unwrap();
            assert!(db.restore_from(&junk, |_, _| {}).await.is_err());
            assert!(matches!(
                db.restore_from(&dir.join("missing.db"), |_, _| {}).await,
                Err(StoreError::Backup(_))
            ));
            // A SQLite file of something else.
            let other_file = dir.join("other.db");
            let other = Db::connect(Some(&format!("sqlite://{}", other_file.display())), &dir)
                .await
                .unwrap();
            other.ping().await.unwrap();
            other.close().await;
            let r = db.restore_from(&other_file, |_, _| {}).await;
            assert!(
                matches!(&r, Err(StoreError::Backup(m)) if m.contains("not a Gesang backup")),
                "{r:?}"
            );
            assert_eq!(db.row_count("territories").await.unwrap(), 0);
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
    }
}

/// The organisation: coverage recounted from the raw rows of the small demo, writes with their
/// history and counts, and imported legacy cases written once.
mod org {
    use std::collections::HashSet;

    use chrono::NaiveDate;
    use domain::coverage::CoverageKind;
    use domain::demo::{DemoData, Scale};
    use domain::people::{Force, Gender, PairingKind, PairingSubject, PairingTarget};
    use domain::{Level, TerritoryCode};
    use store::Db;
    use store::org::{ChangeMeta, HouseholdWrite, MemberWrite, PairingWrite};
    use store::territory::TerritoryRecord;

    use super::{code, seed, with_db};

    async fn load_small(db: &Db) -> DemoData {
        let data = domain::demo::generate(Scale::Small);
        let nodes = data
            .nodes
            .iter()
            .map(|n| TerritoryRecord {
                code: n.code.clone(),
                parent: n.parent(),
                level: n.level(),
                name: n.name.clone(),
                name_bo: n.name_bo.clone(),
                geometry: None,
                geometry_source: None,
                center: None,
            })
            .collect();
        db.insert_territories(nodes).await.unwrap();
        db.insert_units(&data.units).await.unwrap();
        db.insert_members(&data.members).await.unwrap();
        db.insert_households(&data.households).await.unwrap();
        db.insert_group_heads(&data.group_heads).await.unwrap();
        db.insert_monasteries(&data.monasteries).await.unwrap();
        db.insert_enterprises(&data.enterprises).await.unwrap();
        db.insert_pairings(&data.pairings).await.unwrap();
        db.recompute_counts().await.unwrap();
        data
    }

    /// The five coverages of `at` on `day`, recounted from the generator's rows: (covered ids,
    /// all ids) per coverage.
    fn recount(
        d: &DemoData,
        at: &TerritoryCode,
        day: NaiveDate,
    ) -> Vec<(CoverageKind, HashSet<String>, HashSet<String>)> {
        let in_force = |p: &&domain::people::Pairing| domain::org::in_force(p.start, p.end, day);
        let paired = |kind: PairingKind, member_only: bool| -> HashSet<String> {
            d.pairings
                .iter()
                .filter(in_force)
                .filter(|p| p.kind == kind)
                .filter(|p| !member_only || matches!(p.subject, PairingSubject::Member(_)))
                .map(|p| match &p.target {
                    PairingTarget::Territory(c) => c.to_string(),
                    PairingTarget::Household(h) => h.to_string(),
                    PairingTarget::Monastery(m) => m.to_string(),
                    PairingTarget::Enterprise(e) => e.to_string(),
                })
                .collect()
        };
        let heads: HashSet<&TerritoryCode> = d.group_heads.iter().map(|(g, _)| g).collect();
        let households: Vec<_> = d.households.iter().filter(|h| at.covers(&h.grid)).collect();
        let all = |ids: Vec<String>| -> HashSet<String> { ids.into_iter().collect() };
        let mut out = Vec::new();
        out.push((
            CoverageKind::HouseholdsInGroups,
            all(households
                .iter()
                .filter(|h| h.group.as_ref().is_some_and(|g| heads.contains(g)))
                .map(|h| h.id.to_string())
                .collect()),
            all(households.iter().map(|h| h.id.to_string()).collect()),
        ));
        let p = paired(PairingKind::Monastery, true);
        let ms: Vec<String> = d
            .monasteries
            .iter()
            .filter(|m| at.covers(&m.territory))
            .map(|m| m.id.to_string())
            .collect();
        out.push((
            CoverageKind::MonasteriesPaired,
            all(ms.iter().filter(|m| p.contains(*m)).cloned().collect()),
            all(ms),
        ));
        let p = paired(PairingKind::Enterprise, true);
        let es: Vec<String> = d
            .enterprises
            .iter()
            .filter(|e| at.covers(&e.territory))
            .map(|e| e.id.to_string())
            .collect();
        out.push((
            CoverageKind::EnterprisesPaired,
            all(es.iter().filter(|e| p.contains(*e)).cloned().collect()),
            all(es),
        ));
        let p = paired(PairingKind::Care, false);
        let cs: Vec<String> = households
            .iter()
            .filter(|h| h.care)
            .map(|h| h.id.to_string())
            .collect();
        out.push((
            CoverageKind::CareHouseholdsPaired,
            all(cs.iter().filter(|c| p.contains(*c)).cloned().collect()),
            all(cs),
        ));
        let p = paired(PairingKind::DepartmentVillage, false);
        let vs: Vec<String> = d
            .nodes
            .iter()
            .filter(|n| n.level() == Level::Village && at.covers(&n.code))
            .map(|n| n.code.to_string())
            .collect();
        out.push((
            CoverageKind::VillagesPaired,
            all(vs.iter().filter(|v| p.contains(*v)).cloned().collect()),
            all(vs),
        ));
        out
    }

    #[tokio::test]
    async fn coverage_of_xiahe_agrees_with_a_recount_of_the_raw_rows() {
        with_db("store_coverage", |db| async move {
            let data = load_small(&db).await;
            let day = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
            for at in ["623027", "623027202", "623027202201", "623000"] {
                let at = code(at);
                let c = db.coverage(&at, day).await.unwrap();
                let figures = [
                    c.households_in_groups,
                    c.monasteries_paired,
                    c.enterprises_paired,
                    c.care_households_paired,
                    c.villages_paired,
                ];
                for (i, (kind, covered, total)) in recount(&data, &at, day).into_iter().enumerate()
                {
                    assert_eq!(
                        figures[i],
                        (covered.len() as i64, total.len() as i64),
                        "{} of {at}",
                        kind.as_str()
                    );
                    let gaps: HashSet<String> = db
                        .coverage_gaps(&at, day, kind, "", 1_000_000)
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|g| g.id)
                        .collect();
                    let expected: HashSet<String> = total.difference(&covered).cloned().collect();
                    assert_eq!(gaps, expected, "gaps of {} in {at}", kind.as_str());
                }
            }
            // The county has gaps of every designed kind, so the figures are not trivially 100%.
            let c = db.coverage(&code("623027"), day).await.unwrap();
            assert!(c.households_in_groups.0 < c.households_in_groups.1);
            assert!(c.monasteries_paired.0 < c.monasteries_paired.1);
            assert!(c.villages_paired.1 > 0);
            // Keyset paging of gaps returns them all, once.
            let mut after = String::new();
            let mut paged = Vec::new();
            loop {
                let page = db
                    .coverage_gaps(
                        &code("623027"),
                        day,
                        CoverageKind::HouseholdsInGroups,
                        &after,
                        7,
                    )
                    .await
                    .unwrap();
                paged.extend(page.iter().map(|g| g.id.clone()));
                match page.last() {
                    Some(g) if page.len() == 7 => after = g.id.clone(),
                    _ => break,
                }
            }
            assert_eq!(
                paged.len() as i64,
                c.households_in_groups.1 - c.households_in_groups.0
            );
        })
        .await;
    }

    fn meta() -> ChangeMeta {
        ChangeMeta {
            at: chrono::Utc::now(),
            account: None,
            via: "api",
        }
    }

    fn household(id: Option<i64>, group: Option<&str>, id_number: &str) -> HouseholdWrite {
        HouseholdWrite {
            id,
            grid: code("623027202201001"),
            group: group.map(code),
            head_name: "卓玛".into(),
            address: "夏河县达麦乡达麦村99号".into(),
            phone: "13900000099".into(),
            id_number: id_number.into(),
            resident_count: 3,
            care: true,
            location: None,
        }
    }

    #[tokio::test]
    async fn households_keep_unique_id_numbers_counts_and_history() {
        with_db("store_org_households", |db| async move {
            seed(&db).await;
            db.recompute_counts().await.unwrap();
            let before = db
                .territory_counts(&code("623027202201001001"))
                .await
                .unwrap();
            let saved = db
                .save_households(
                    &meta(),
                    vec![household(
                        None,
                        Some("623027202201001001"),
                        "11010519491231002X",
                    )],
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(saved[0].id, 26, "new ids follow the stored ones");
            let after = db
                .territory_counts(&code("623027202201001001"))
                .await
                .unwrap();
            assert_eq!(after.households, before.households + 1);
            assert_eq!(
                db.territory_counts(&code("623000"))
                    .await
                    .unwrap()
                    .households,
                26
            );
            // The same ID number on another household is a conflict, and nothing is written.
            let dup = db
                .save_households(&meta(), vec![household(None, None, "11010519491231002X")])
                .await
                .unwrap()
                .unwrap_err();
            assert_eq!(dup.reason, "duplicate_id_number");
            assert!(dup.conflict);
            assert_eq!(
                db.territory_counts(&code("623000"))
                    .await
                    .unwrap()
                    .households,
                26
            );
            // A group that does not exist is refused.
            let bad = db
                .save_households(
                    &meta(),
                    vec![household(
                        Some(26),
                        Some("623027202201001999"),
                        "11010519491231002X",
                    )],
                )
                .await
                .unwrap()
                .unwrap_err();
            assert_eq!(bad.reason, "unknown_code");
            // Moving out of the group (same grid): the group's count drops, the grid's stays.
            let grid_before = db.territory_counts(&code("623027202201001")).await.unwrap();
            db.save_households(
                &meta(),
                vec![household(Some(26), None, "11010519491231002X")],
            )
            .await
            .unwrap()
            .unwrap();
            assert_eq!(
                db.territory_counts(&code("623027202201001001"))
                    .await
                    .unwrap()
                    .households,
                before.households
            );
            assert_eq!(
                db.territory_counts(&code("623027202201001")).await.unwrap(),
                grid_before
            );
            let history = db.changes_of("household", "26", 10).await.unwrap();
            assert_eq!(history.len(), 2);
            assert_eq!(history[0].action, "update");
            assert!(
                history[0]
                    .before
                    .as_deref()
                    .unwrap()
                    .contains("623027202201001001")
            );
            assert_eq!(history[1].action, "create");
            let within = db.changes_within(&code("623027202"), 0, 10).await.unwrap();
            assert_eq!(within.len(), 2);
            assert!(
                db.changes_within(&code("623026"), 0, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
        })
        .await;
    }

    #[tokio::test]
    async fn members_and_pairings_are_checked_and_kept_with_history() {
        with_db("store_org_pairings", |db| async move {
            seed(&db).await;
            let m = db
                .save_members(
                    &meta(),
                    vec![MemberWrite {
                        id: None,
                        name: "旦正".into(),
                        gender: Gender::Male,
                        phone: "13900000100".into(),
                        forces: vec![Force::Cadres, Force::Militia],
                        unit: "623027-police".into(),
                        territory: code("623027202"),
                        title: "包村干部".into(),
                    }],
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m[0].id, 2);
            assert_eq!(m[0].unit_name, "夏河县公安局");
            let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
            let pairing = |id, end| PairingWrite {
                id,
                kind: PairingKind::Care,
                subject: PairingSubject::Member(2),
                target: PairingTarget::Household(5),
                start,
                end,
            };
            let ids = db
                .save_pairings(&meta(), vec![pairing(None, None)])
                .await
                .unwrap()
                .unwrap();
            let p = db.pairing(ids[0]).await.unwrap().unwrap();
            assert_eq!(p.member_name.as_deref(), Some("旦正"));
            assert_eq!(p.target_territory, "623027202201001001");
            let day = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
            let c = db.coverage(&code("623027202"), day).await.unwrap();
            assert_eq!(c.care_households_paired, (1, 5));
            // Ending it keeps it (history) and takes it out of the coverage.
            db.save_pairings(&meta(), vec![pairing(Some(ids[0]), Some(start))])
                .await
                .unwrap()
                .unwrap();
            let c = db.coverage(&code("623027202"), day).await.unwrap();
            assert_eq!(c.care_households_paired, (0, 5));
            // A target that does not exist is refused.
            let mut bad = pairing(None, None);
            bad.target = PairingTarget::Household(999);
            let r = db
                .save_pairings(&meta(), vec![bad])
                .await
                .unwrap()
                .unwrap_err();
            assert_eq!(r.reason, "unknown_target");
            let listed = db
                .pairings_page(&code("623027202201"), 0, 10)
                .await
                .unwrap();
            assert_eq!(listed.len(), 1);
            db.delete_pairing(&meta(), ids[0]).await.unwrap().unwrap();
            assert!(db.pairing(ids[0]).await.unwrap().is_none());
            let h = db
                .changes_of("pairing", &ids[0].to_string(), 10)
                .await
                .unwrap();
            let actions: Vec<&str> = h.iter().map(|c| c.action.as_str()).collect();
            assert_eq!(actions, ["delete", "update", "create"]);
        })
        .await;
    }

    #[tokio::test]
    async fn imported_cases_are_written_once_with_their_history() {
        use chrono::TimeZone;
        use domain::case::{
            CaseCode, Channel, HandleResult, ImportOutcome, ImportedCase, NewCase, SimplePolicy,
            Urgency, imported_history,
        };
        use store::cases::{CaseRecord, EventRecord};
        use store::import::{CaseSource, ImportedCaseWrite};
        with_db("store_import", |db| async move {
            seed(&db).await;
            let created = chrono::Utc
                .with_ymd_and_hms(2015, 1, 5, 17, 40, 41)
                .unwrap();
            let write = |id: i64, source_id: &str, closed: bool| {
                let imported = ImportedCase {
                    new: NewCase {
                        id,
                        code: CaseCode::for_instant(created, id as u32).unwrap(),
                        category: "management.environment.garbage".into(),
                        territory: code("623027"),
                        centre: code("623027"),
                        urgency: Urgency::Normal,
                        channel: Channel::LegacyImport,
                    },
                    created_at: created,
                    outcome: if closed {
                        ImportOutcome::Closed {
                            at: created + chrono::Duration::days(1),
                            result: HandleResult::Solved,
                            text: "done".into(),
                        }
                    } else {
                        ImportOutcome::Accepted
                    },
                };
                let (case, events) = imported_history(&imported, &SimplePolicy::default()).unwrap();
                ImportedCaseWrite {
                    record: CaseRecord {
                        id,
                        code: case.code.as_str().into(),
                        status: case.status.as_str().into(),
                        category: case.category.clone(),
                        territory: case.territory.to_string(),
                        centre: case.centre.to_string(),
                        handling_unit: case.handling_unit.clone(),
                        handling_level: case.handling_level.as_str().into(),
                        urgency: "normal".into(),
                        channel: "legacy_import".into(),
                        title: None,
                        description: "Abandoned Bicycle".into(),
                        lng: None,
                        lat: None,
                        reporter_name: None,
                        reporter_phone: None,
                        reporter_account: None,
                        routed_unit: None,
                        routing_reason: None,
                        idempotency_key: Some(format!("import:t:{source_id}")),
                        created_at: case.created_at,
                        updated_at: case.updated_at,
                        step: case.step.map(|s| s.as_str().into()),
                        step_started_at: case.step_started_at,
                        deadline: case.deadline,
                        version: i64::from(case.version),
                        state: serde_json::to_string(&case).unwrap(),
                    },
                    events: events
                        .iter()
                        .map(|e| EventRecord {
                            case_id: e.case_id,
                            seq: i64::from(e.seq),
                            at: e.at,
                            action: e.action().into(),
                            by_account: None,
                            by_role: None,
                            by_level: None,
                            from_status: e.from_status.map(|s| s.as_str().into()),
                            to_status: e.to_status.as_str().into(),
                            body: serde_json::to_string(e).unwrap(),
                        })
                        .collect(),
                    counters: vec![],
                    timers: vec![],
                    source: CaseSource {
                        source: "t".into(),
                        source_id: source_id.into(),
                        file: "a.csv".into(),
                        line: id + 1,
                        source_type: Some("Abandoned Bicycle".into()),
                        source_status: Some(if closed { "Closed" } else { "Open" }.into()),
                        source_area: None,
                        source_lng: Some(-71.0867),
                        source_lat: Some(42.3504),
                    },
                }
            };
            let now = chrono::Utc::now();
            let first = db
                .insert_imported_cases(vec![write(1, "A", true), write(2, "B", false)], now)
                .await
                .unwrap();
            assert_eq!((first.inserted, first.already), (2, 0));
            // Again, with one new record and one twice in the batch: only the new one is written.
            let again = db
                .insert_imported_cases(
                    vec![
                        write(3, "A", true),
                        write(4, "C", true),
                        write(5, "C", true),
                    ],
                    now,
                )
                .await
                .unwrap();
            assert_eq!((again.inserted, again.already), (1, 2));
            assert_eq!(db.imported_count("t").await.unwrap(), 3);
            let seen = db
                .imported_source_ids("t", &["A".into(), "Z".into()])
                .await
                .unwrap();
            assert_eq!(seen, ["A".to_owned()].into_iter().collect());
            let events = db.case_events(1).await.unwrap();
            let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
            assert_eq!(
                actions,
                ["create", "accept", "report_handled", "verify", "close"]
            );
            let closed = db.case_by_id(1).await.unwrap().unwrap();
            assert_eq!(closed.status, "closed");
            assert_eq!(closed.updated_at, created + chrono::Duration::days(1));
            assert_eq!(db.case_by_id(2).await.unwrap().unwrap().status, "accepted");
            let src = db.case_source(1).await.unwrap().unwrap();
            assert_eq!((src.source_id.as_str(), src.line), ("A", 2));
            assert_eq!(db.search_backlog_len().await.unwrap(), 3);
            let page = db.cases_page("623027", 0, 10).await.unwrap();
            assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2, 4]);
        })
        .await;
    }
}

/// Personal data sealed at rest: what the tables hold, the conversion of plaintext rows, the
/// blind index, and rotation to a new key with the old rows readable throughout.
mod sealed {
    use std::sync::Arc;

    use sqlx::Row;
    use store::Db;
    use store::org::{ChangeMeta, HouseholdWrite};
    use store::vault::{TEST_KEY, Vault};

    use super::{code, seed, with_db};

    const NEW_KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

    async fn raw(db: &Db, sql: &'static str) -> Vec<String> {
        store::on_read!(db, pool => {
            sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<Option<String>, _>(0).unwrap().unwrap_or_default())
                .collect()
        })
    }

    async fn exec(db: &Db, sql: &'static str) {
        let run = async {
            store::on_write!(db, tx => {
                sqlx::query(sql).execute(&mut **tx).await?;
            });
            Ok::<(), sqlx::Error>(())
        };
        run.await.unwrap();
    }

    fn meta() -> ChangeMeta {
        ChangeMeta {
            at: chrono::Utc::now(),
            account: None,
            via: "api",
        }
    }

    #[tokio::test]
    async fn personal_fields_are_sealed_in_the_tables_and_open_through_the_store() {
        with_db("store_sealed", |db| async move {
            seed(&db).await;
            let stored = raw(
                &db,
                "SELECT address || '|' || phone || '|' || id_number FROM households WHERE id = 3",
            )
            .await;
            assert!(stored[0].starts_with("gs1."), "{}", stored[0]);
            for plain in ["达麦村3号", "13900000003", "623027198001010003"] {
                assert!(!stored[0].contains(plain), "{} in {}", plain, stored[0]);
            }
            let h = db.household(3).await.unwrap().unwrap();
            assert_eq!(
                (h.address.as_str(), h.phone.as_str(), h.id_number.as_str()),
                ("夏河县达麦乡达麦村3号", "13900000003", "623027198001010003")
            );
            let phones = raw(&db, "SELECT phone FROM members").await;
            assert!(phones.iter().all(|p| p.starts_with("gs1.")), "{phones:?}");
            // No plaintext index is left; the blind index is filled in for every row.
            let blank = raw(
                &db,
                "SELECT CAST(COUNT(*) AS TEXT) FROM households WHERE id_number_bidx IS NULL",
            )
            .await;
            assert_eq!(blank, vec!["0".to_owned()]);
            // The history keeps the row sealed too, and reads back open.
            let saved = db
                .save_households(
                    &meta(),
                    vec![HouseholdWrite {
                        id: Some(3),
                        grid: code("623027202201001"),
                        group: Some(code("623027202201001001")),
                        head_name: "才让3".into(),
                        address: "夏河县达麦乡达麦村33号".into(),
                        phone: "13900000033".into(),
                        id_number: "623027198001010003".into(),
                        resident_count: 1,
                        care: false,
                        location: None,
                    }],
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(saved[0].phone, "13900000033");
            let history = raw(&db, "SELECT before || after FROM org_changes").await;
            assert!(
                !history[0].contains("13900000033") && !history[0].contains("623027198001010003"),
                "{}",
                history[0]
            );
            let changes = db.changes_of("household", "3", 10).await.unwrap();
            assert!(changes[0].after.as_deref().unwrap().contains("13900000033"));
            assert!(
                changes[0]
                    .before
                    .as_deref()
                    .unwrap()
                    .contains("13900000003")
            );
        })
        .await;
    }

    #[tokio::test]
    async fn plaintext_rows_are_sealed_on_first_start_and_a_rotation_keeps_them_readable() {
        with_db("store_rotation", |db| async move {
            seed(&db).await;
            // A database from before sealing: plaintext values, no blind index, no key recorded.
            exec(
                &db,
                "UPDATE households SET phone = '13912345678', id_number_bidx = NULL WHERE id = 5",
            )
            .await;
            assert_eq!(db.household(5).await.unwrap().unwrap().phone, "13912345678");
            let mut seen = Vec::new();
            let first = db
                .check_data_key(chrono::Utc::now(), &mut |t, n, w| {
                    seen.push((t.to_owned(), n, w))
                })
                .await
                .unwrap();
            assert_eq!(first.resealed, 1, "{seen:?}");
            let stored = raw(&db, "SELECT phone FROM households WHERE id = 5").await;
            assert!(stored[0].starts_with("gs1."));
            // Nothing to do on the next start.
            assert_eq!(
                db.check_data_key(chrono::Utc::now(), &mut |_, _, _| {})
                    .await
                    .unwrap()
                    .resealed,
                0
            );
            // A key that opens nothing here is refused on start.
            let stranger = db
                .clone()
                .with_vault(Arc::new(Vault::parse(NEW_KEY).unwrap()));
            assert!(
                stranger
                    .check_data_key(chrono::Utc::now(), &mut |_, _, _| {})
                    .await
                    .is_err()
            );
            // Rotation: the new key seals, the old one still opens until every row is moved.
            let old = Vault::parse(TEST_KEY).unwrap();
            let ring = Arc::new(Vault::with_older(Vault::parse(NEW_KEY).unwrap(), &old));
            let rotated = db.clone().with_vault(ring.clone());
            assert_eq!(
                rotated.household(5).await.unwrap().unwrap().phone,
                "13912345678"
            );
            let summary = rotated
                .rotate_data_key(chrono::Utc::now(), &mut |_, _, _| {})
                .await
                .unwrap();
            assert_eq!(summary.resealed, 25 + 1, "25 households and a member");
            let new_only = db
                .clone()
                .with_vault(Arc::new(Vault::parse(NEW_KEY).unwrap()));
            assert_eq!(
                new_only.household(5).await.unwrap().unwrap().phone,
                "13912345678"
            );
            assert!(
                db.household(5).await.is_err(),
                "the old key alone no longer opens"
            );
            assert_eq!(
                new_only.data_key_id().await.unwrap().as_deref(),
                ring.sealing_key_id()
            );
            // The blind index moved with the key: duplicates are still found.
            let dup = new_only
                .save_households(
                    &meta(),
                    vec![HouseholdWrite {
                        id: None,
                        grid: code("623027202201001"),
                        group: None,
                        head_name: "卓玛".into(),
                        address: "x".into(),
                        phone: "13900000099".into(),
                        id_number: "623027198001010005".into(),
                        resident_count: 1,
                        care: false,
                        location: None,
                    }],
                )
                .await
                .unwrap()
                .unwrap_err();
            assert_eq!(dup.reason, "duplicate_id_number");
            assert!(
                !dup.message.contains("623027198001010005"),
                "{}",
                dup.message
            );
        })
        .await;
    }
}

mod history_load {
    use sqlx::Row;
    use store::{Backend, Db};

    use super::with_db;

    /// The secondary indexes of the cases table, by name.
    async fn case_indexes(db: &Db) -> Vec<String> {
        let sql = match db.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'cases' \
                 AND sql IS NOT NULL ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'cases' \
                 AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
            }
        };
        store::on_read!(db, pool => {
            sqlx::query(sql)
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.try_get::<String, _>("name").unwrap())
                .collect()
        })
    }

    #[tokio::test]
    async fn a_history_load_that_dies_gets_its_indexes_back_on_the_next_start() {
        with_db("store_history_indexes", |db| async move {
            let before = case_indexes(&db).await;
            assert!(before.contains(&"cases_territory".to_owned()), "{before:?}");
            // The load drops them into empty tables…
            let dropped = db.begin_history_load().await.unwrap();
            assert!(dropped >= before.len(), "{dropped} of {before:?}");
            assert!(case_indexes(&db).await.is_empty());
            // …and a second start of a load does not drop (or forget) them again.
            assert_eq!(db.begin_history_load().await.unwrap(), 0);
            // It dies here; the next start's migration builds every one again, once.
            db.migrate().await.unwrap();
            assert_eq!(case_indexes(&db).await, before);
            assert_eq!(db.build_deferred_indexes().await.unwrap(), 0);
        })
        .await;
    }
}
