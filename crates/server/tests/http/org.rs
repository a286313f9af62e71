//! The "8+" organisation: the management API and pages, scope and masking, the history, the
//! five coverages, spreadsheet import and export (with a round trip through a sheet written by
//! another program), and the command line (`gesang import`, `gesang export`) on a Boston sample.
//!
//! These tests change households and pairings, so they run on a database of their own (the
//! small demo again), never on the one the other modules read.

use super::*;

use std::io::Cursor;

use calamine::{Data, DataType, Reader, Xlsx};
use domain::TerritoryCode;
use domain::coverage::CoverageKind;

/// The organisation's own demo database, created and loaded on first use.
fn org_db() -> &'static store::testing::TestDb {
    static DB: OnceLock<store::testing::TestDb> = OnceLock::new();
    DB.get_or_init(|| {
        on_own_runtime(async {
            let t = store::testing::create("gesang_org")
                .await
                .expect("create the organisation test database");
            let db = store::testing::connect(&t.url).await.expect("connect");
            db.migrate().await.expect("migrate");
            let clock = FixedClock::at(Utc.with_ymd_and_hms(2025, 1, 6, 2, 0, 0).unwrap());
            server::demo::load(&db, Scale::Small, &clock)
                .await
                .expect("load the small demo");
            db.close().await;
            t
        })
    })
}

static ORG_FINISHED: AtomicUsize = AtomicUsize::new(0);

/// The tests of this module run one at a time: they change what the others count.
static ORG_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An [`App`] on the organisation's database, holding the module's lock; the last one dropped
/// removes the database.
struct OrgApp {
    app: App,
    _lock: tokio::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for OrgApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl Drop for OrgApp {
    fn drop(&mut self) {
        let total = include_str!("org.rs")
            .lines()
            .filter(|l| l.trim() == "#[tokio::test]")
            .count();
        if ORG_FINISHED.fetch_add(1, Ordering::SeqCst) + 1 == total {
            let t = org_db().clone();
            on_own_runtime(store::testing::remove(t));
        }
    }
}

async fn org_app() -> OrgApp {
    let guard = ORG_LOCK.lock().await;
    let db = store::testing::connect(&org_db().url)
        .await
        .expect("connect");
    let state = AppState::new(db, Arc::new(SystemClock), Settings::default());
    server::actions::rules::load(&state).await.expect("rules");
    OrgApp {
        app: App {
            router: server::router(state.clone()),
            state,
            counted: true,
        },
        _lock: guard,
    }
}

impl App {
    async fn send_json(&self, method: Method, uri: &str, body: &Value, token: &str) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    async fn upload(&self, uri: &str, content_type: &str, bytes: Vec<u8>, token: &str) -> Resp {
        let req = Request::post(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(bytes))
            .unwrap();
        self.send(req).await
    }
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const XIAHE: &str = "623027";
const DAMAI: &str = "623027202";

fn gap_ids(cov: &Value, kind: &str) -> Vec<String> {
    cov["gaps"][kind]
        .as_array()
        .unwrap_or_else(|| panic!("gaps of {kind}: {cov}"))
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

fn fraction(cov: &Value, kind: &str) -> (i64, i64) {
    (
        cov[kind]["covered"].as_i64().unwrap(),
        cov[kind]["total"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn coverage_follows_the_contract_and_adds_up_over_the_children() {
    let app = org_app().await;
    let admin = app.token("admin").await;
    let r = app
        .get(
            &format!("/api/v1/coverage?territory={XIAHE}&gap_limit=1000"),
            Some(&admin),
        )
        .await;
    r.expect(StatusCode::OK);
    let cov = r.json();
    let mut sum = BTreeMap::new();
    for t in children(&app.territory(&admin, XIAHE).await) {
        let c = app
            .get(
                &format!("/api/v1/coverage?territory={t}&gap_limit=0"),
                Some(&admin),
            )
            .await;
        c.expect(StatusCode::OK);
        let c = c.json();
        for k in CoverageKind::ALL {
            let (covered, total) = fraction(&c, k.as_str());
            let e = sum.entry(k.as_str()).or_insert((0, 0));
            e.0 += covered;
            e.1 += total;
            assert!(
                c["gaps"][k.as_str()].as_array().unwrap().is_empty(),
                "gap_limit=0"
            );
        }
    }
    for k in CoverageKind::ALL {
        let (covered, total) = fraction(&cov, k.as_str());
        assert_eq!(sum[k.as_str()], (covered, total), "{} adds up", k.as_str());
        let rate = cov[k.as_str()]["rate"].as_f64().unwrap();
        assert!((rate - covered as f64 / total as f64).abs() < 1e-9);
        // Every gap is listed (the limit is above every count in 夏河县).
        assert_eq!(gap_ids(&cov, k.as_str()).len() as i64, total - covered);
    }
    assert!(fraction(&cov, "households_in_groups").0 > 20_000);
    assert!(
        !gap_ids(&cov, "monasteries_paired").is_empty(),
        "the demo has a monastery gap in 夏河县"
    );
    // The gap endpoint pages through the same list.
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                &format!("/api/v1/coverage/gaps?territory={XIAHE}&kind=households_in_groups&limit=20&cursor={cursor}"),
                Some(&admin),
            )
            .await;
        r.expect(StatusCode::OK);
        let v = r.json();
        paged.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g["id"].as_str().unwrap().to_owned()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, gap_ids(&cov, "households_in_groups"));
    // Scope and bad input.
    let township = app.token(&format!("center-{DAMAI}")).await;
    app.get(
        &format!("/api/v1/coverage?territory={XIAHE}"),
        Some(&township),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get(
        &format!("/api/v1/coverage?territory={DAMAI}"),
        Some(&township),
    )
    .await
    .expect(StatusCode::OK);
    app.get("/api/v1/coverage?territory=62302", Some(&admin))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.get("/api/v1/coverage?territory=623099", Some(&admin))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get(&format!("/api/v1/coverage?territory={XIAHE}"), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // The gap lists export as a workbook with one sheet per coverage.
    let r = app
        .get(
            &format!("/api/v1/coverage/export?territory={DAMAI}&format=xlsx"),
            Some(&admin),
        )
        .await;
    r.expect(StatusCode::OK);
    let book: Xlsx<_> = Xlsx::new(Cursor::new(r.body.clone())).unwrap();
    assert_eq!(book.sheet_names().len(), 5);
}

/// The `index`-th household of a village of 达麦乡 other than 达麦村 (the round trip works on
/// 达麦村), and one of another township, as the administrator lists them.
async fn two_households(app: &App, admin: &str, index: usize) -> (Value, Value) {
    let p = picks(app, admin).await;
    let villages = children(&app.territory(admin, DAMAI).await);
    let nth = |territory: String, i: usize| async move {
        let r = app
            .get(
                &format!("/api/v1/org/households?territory={territory}&limit=5"),
                Some(admin),
            )
            .await;
        r.expect(StatusCode::OK);
        r.json()["items"][i].clone()
    };
    let other = villages
        .iter()
        .find(|v| !p.grid.starts_with(v.as_str()))
        .expect("达麦乡 has a village besides 达麦村")
        .clone();
    (nth(other, index).await, nth(p.other_township, 0).await)
}

#[tokio::test]
async fn households_are_managed_in_scope_masked_by_role_audited_and_kept_in_history() {
    let app = org_app().await;
    let admin = app.token("admin").await;
    let operator = app.token(&format!("center-{DAMAI}")).await;
    let (mine, theirs) = two_households(&app, &admin, 0).await;
    let id = mine["id"].as_i64().unwrap();
    assert_eq!(mine["masked"], true, "lists are masked for everyone");
    // The administrator sees the household in full, and that is audited.
    let full = app
        .get(&format!("/api/v1/org/households/{id}"), Some(&admin))
        .await;
    full.expect(StatusCode::OK);
    let full = full.json();
    assert_eq!(full["masked"], false);
    let phone = full["phone"].as_str().unwrap().to_owned();
    assert!(!phone.contains('*'));
    let audit = app
        .state
        .db
        .audit_of("household", &id.to_string())
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "reveal_personal_data" && a.role.as_deref() == Some("admin"))
    );
    // The township's operator sees it masked, and is not audited for it.
    let before = audit.len();
    let seen = app
        .get(&format!("/api/v1/org/households/{id}"), Some(&operator))
        .await;
    seen.expect(StatusCode::OK);
    let seen = seen.json();
    assert_eq!(seen["masked"], true);
    assert!(seen["phone"].as_str().unwrap().contains('*'));
    assert_eq!(
        app.state
            .db
            .audit_of("household", &id.to_string())
            .await
            .unwrap()
            .len(),
        before
    );
    // …and edits it: masked values sent back keep what is stored.
    let mut body = seen.clone();
    body["head_name"] = json!("卓玛草");
    body["care"] = json!(true);
    let r = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/org/households/{id}"),
            &body,
            &operator,
        )
        .await;
    r.expect(StatusCode::OK);
    let after = app
        .get(&format!("/api/v1/org/households/{id}"), Some(&admin))
        .await
        .json();
    assert_eq!(after["head_name"], "卓玛草");
    assert_eq!(after["care"], true);
    assert_eq!(
        after["phone"],
        phone.as_str(),
        "the masked phone did not overwrite the real one"
    );
    // Outside the operator's township: 403; a grid worker does not manage: 403.
    let other = theirs["id"].as_i64().unwrap();
    app.send_json(
        Method::PUT,
        &format!("/api/v1/org/households/{other}"),
        &body,
        &operator,
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    let p = picks(&app, &admin).await;
    let worker = app.token(&format!("worker-{}", p.grid)).await;
    app.send_json(
        Method::PUT,
        &format!("/api/v1/org/households/{id}"),
        &body,
        &worker,
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // A group of another grid, a wrong check digit, a duplicate ID number.
    let mut bad = after.clone();
    bad["group"] = json!(format!("{}001", p.other_grid));
    let r = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/org/households/{id}"),
            &bad,
            &admin,
        )
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(r.json()["error"]["field"], "group");
    let new = json!({"grid": p.grid, "head_name": "新户", "address": "达麦村200号",
        "phone": "13912345678", "id_number": "110105194912310021"});
    let r = app
        .send_json(Method::POST, "/api/v1/org/households", &new, &admin)
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("check character")
    );
    let mut dup = new.clone();
    dup["id_number"] = after["id_number"].clone();
    app.send_json(Method::POST, "/api/v1/org/households", &dup, &admin)
        .await
        .expect_error(StatusCode::CONFLICT, "conflict");
    let mut ok = new.clone();
    ok["id_number"] = json!("11010519491231002X");
    ok["group"] = json!(p.group);
    let r = app
        .send_json(Method::POST, "/api/v1/org/households", &ok, &admin)
        .await;
    r.expect(StatusCode::CREATED);
    let created = r.json();
    assert_eq!(created["group"], p.group.as_str());
    // The history: who, when, before and after; masked for the operator.
    let h = app
        .get(
            &format!("/api/v1/org/history?entity=household&id={id}"),
            Some(&operator),
        )
        .await;
    h.expect(StatusCode::OK);
    let items = h.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["action"], "update");
    assert_eq!(items[0]["via"], "api");
    assert_eq!(items[0]["after"]["head_name"], "卓玛草");
    assert!(items[0]["before"]["phone"].as_str().unwrap().contains('*'));
    let h = app
        .get(
            &format!("/api/v1/org/history?entity=household&id={id}"),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(h["items"][0]["before"]["phone"], phone.as_str());
    let within = app
        .get(
            &format!("/api/v1/org/history?territory={DAMAI}"),
            Some(&operator),
        )
        .await
        .json();
    assert!(within["items"].as_array().unwrap().len() >= 2);
}

#[tokio::test]
async fn pairings_open_and_close_coverage_gaps_with_their_dates() {
    let app = org_app().await;
    let admin = app.token("admin").await;
    let cov = app
        .get(
            &format!("/api/v1/coverage?territory={XIAHE}&gap_limit=1000"),
            Some(&admin),
        )
        .await
        .json();
    let gap = cov["gaps"]["monasteries_paired"][0].clone();
    let monastery = gap["id"].as_str().unwrap().to_owned();
    let place = gap["territory"].as_str().unwrap().to_owned();
    let (covered, total) = fraction(&cov, "monasteries_paired");
    let on = |day: &'static str| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let c = app
                .get(
                    &format!("/api/v1/coverage?territory={XIAHE}&date={day}&gap_limit=0"),
                    Some(&admin),
                )
                .await;
            c.expect(StatusCode::OK);
            fraction(&c.json(), "monasteries_paired")
        }
    };
    let mid_january = on("2025-01-15").await;
    // A cadre of the monastery's township.
    let members = app
        .get(
            &format!("/api/v1/org/members?territory={}&limit=50", &place[..9]),
            Some(&admin),
        )
        .await
        .json();
    let cadre = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["forces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "cadres")
        })
        .expect("a cadre in the township")["id"]
        .as_i64()
        .unwrap();
    let body = json!({"kind": "monastery", "member": cadre, "target": monastery, "start_date": "2025-01-01"});
    let r = app
        .send_json(Method::POST, "/api/v1/org/pairings", &body, &admin)
        .await;
    r.expect(StatusCode::CREATED);
    let pairing = r.json();
    let pid = pairing["id"].as_i64().unwrap();
    assert_eq!(pairing["target_territory"], place.as_str());
    let now = app
        .get(
            &format!("/api/v1/coverage?territory={XIAHE}&gap_limit=1000"),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(fraction(&now, "monasteries_paired"), (covered + 1, total));
    assert!(!gap_ids(&now, "monasteries_paired").contains(&monastery));
    // Ended: the gap opens again; the pairing stays.
    let mut ended = body.clone();
    ended["end_date"] = json!("2025-02-01");
    app.send_json(
        Method::PUT,
        &format!("/api/v1/org/pairings/{pid}"),
        &ended,
        &admin,
    )
    .await
    .expect(StatusCode::OK);
    let now = app
        .get(
            &format!("/api/v1/coverage?territory={XIAHE}&gap_limit=1000"),
            Some(&admin),
        )
        .await
        .json();
    assert_eq!(fraction(&now, "monasteries_paired"), (covered, total));
    // But on a day inside its period it counts.
    assert_eq!(on("2025-01-15").await, (mid_january.0 + 1, mid_january.1));
    // Wrong shapes are refused with the field.
    let mut wrong = body.clone();
    wrong["end_date"] = json!("2024-12-31");
    let r = app
        .send_json(Method::POST, "/api/v1/org/pairings", &wrong, &admin)
        .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(r.json()["error"]["field"], "end_date");
    let village = json!({"kind": "department_village", "member": cadre, "target": &place[..12], "start_date": "2025-01-01"});
    let r = app
        .send_json(Method::POST, "/api/v1/org/pairings", &village, &admin)
        .await;
    assert_eq!(r.json()["error"]["field"], "unit");
    let r = app
        .send_json(
            Method::POST,
            "/api/v1/org/pairings",
            &json!({"kind": "friendship"}),
            &admin,
        )
        .await;
    assert_eq!(r.json()["error"]["field"], "kind");
    app.send_json(
        Method::DELETE,
        &format!("/api/v1/org/pairings/{pid}"),
        &json!({}),
        &admin,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.get(&format!("/api/v1/org/pairings/{pid}"), Some(&admin))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    let h = app
        .get(
            &format!("/api/v1/org/history?entity=pairing&id={pid}"),
            Some(&admin),
        )
        .await
        .json();
    let actions: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    // Members, groups and places through the same API.
    let grid = picks(&app, &admin).await.grid;
    let g = app
        .send_json(
            Method::POST,
            &format!("/api/v1/org/groups?grid={grid}"),
            &json!({"name": "新联防组"}),
            &admin,
        )
        .await;
    g.expect(StatusCode::CREATED);
    let group = g.json()["code"].as_str().unwrap().to_owned();
    assert!(group.starts_with(&grid) && group.len() == 18);
    app.send_json(
        Method::PUT,
        &format!("/api/v1/org/groups/{group}"),
        &json!({"head": cadre}),
        &admin,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let groups = app
        .get(&format!("/api/v1/org/groups?grid={grid}"), Some(&admin))
        .await
        .json();
    assert!(
        groups
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == group.as_str() && x["head"] == cadre)
    );
    let e = app
        .send_json(
            Method::POST,
            "/api/v1/org/places/enterprise",
            &json!({"name": "达麦牦牛合作社", "territory": &place[..12], "people": 12}),
            &admin,
        )
        .await;
    e.expect(StatusCode::CREATED);
    let m = app
        .send_json(Method::POST, "/api/v1/org/members", &json!({"name": "拉毛", "gender": "女",
            "phone": "13912340000", "forces": ["militia"], "unit": DAMAI, "territory": DAMAI, "title": "民兵"}), &admin)
        .await;
    m.expect(StatusCode::CREATED);
    assert_eq!(m.json()["forces"], json!(["militia"]));
}

#[tokio::test]
async fn admin_pages_edit_through_forms_with_csrf_and_keep_what_was_typed() {
    let app = org_app().await;
    let admin = app.token("admin").await;
    let session = app.session("admin").await;
    let r = app.page(&format!("/admin/t/{XIAHE}"), Some(&session)).await;
    r.expect(StatusCode::OK);
    let html = r.text();
    for k in CoverageKind::ALL {
        assert!(
            html.contains(&format!("id=\"cov-{}\"", k.as_str())),
            "{}",
            k.as_str()
        );
    }
    assert!(
        html.contains("/admin/pairings/new?kind=monastery&"),
        "a gap links to its fix"
    );
    let (mine, _) = two_households(&app, &admin, 1).await;
    let id = mine["id"].as_i64().unwrap();
    let page = app
        .page(&format!("/admin/households/{id}"), Some(&session))
        .await;
    page.expect(StatusCode::OK);
    let csrf = csrf_of(&page.text());
    let grid = mine["grid"].as_str().unwrap();
    let full = app
        .get(&format!("/api/v1/org/households/{id}"), Some(&admin))
        .await
        .json();
    let form = |csrf: &str, phone: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("grid".to_owned(), grid.to_owned()),
            ("group".to_owned(), String::new()),
            ("head_name".to_owned(), "扎西".to_owned()),
            (
                "address".to_owned(),
                full["address"].as_str().unwrap().to_owned(),
            ),
            ("phone".to_owned(), phone.to_owned()),
            (
                "id_number".to_owned(),
                full["id_number"].as_str().unwrap().to_owned(),
            ),
        ]
    };
    let post = |f: Vec<(String, String)>| {
        let app = &app;
        let session = session.clone();
        async move {
            let pairs: Vec<(&str, &str)> =
                f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.post_form(&format!("/admin/households/{id}"), &pairs, Some(&session))
                .await
        }
    };
    // Without the session's token: refused.
    post(form("forged", "13912345678"))
        .await
        .expect(StatusCode::FORBIDDEN);
    // A wrong phone: 422, the page shows the message and keeps what was typed.
    let r = post(form(&csrf, "12345")).await;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text();
    assert!(text.contains("value=\"12345\""), "the typed phone is kept");
    assert!(text.contains("role=\"alert\""));
    // Right: saved, redirected, and the household left its group (a new coverage gap).
    let r = post(form(&csrf, "13912345678")).await;
    assert!(r.status.is_redirection(), "{}", r.status);
    let after = app
        .get(&format!("/api/v1/org/households/{id}"), Some(&admin))
        .await
        .json();
    assert_eq!(after["head_name"], "扎西");
    assert_eq!(after["group"], Value::Null);
    let gaps = app
        .get(
            &format!("/api/v1/coverage?territory={grid}&gap_limit=1000"),
            Some(&admin),
        )
        .await
        .json();
    assert!(gap_ids(&gaps, "households_in_groups").contains(&id.to_string()));
    let history = app
        .page(&format!("/admin/households/{id}"), Some(&session))
        .await
        .text();
    assert!(
        history.contains("head_name"),
        "the history shows the change"
    );
    // Every section renders; a grid worker is refused the pages.
    for s in [
        "households",
        "members",
        "pairings",
        "monasteries",
        "enterprises",
        "units",
        "history",
        "transfer",
    ] {
        app.page(&format!("/admin/t/{DAMAI}/{s}"), Some(&session))
            .await
            .expect(StatusCode::OK);
    }
    app.page(&format!("/admin/t/{grid}/groups"), Some(&session))
        .await
        .expect(StatusCode::OK);
    app.page("/admin/pairings/new?kind=care", Some(&session))
        .await
        .expect(StatusCode::OK);
    let worker = app.session(&format!("worker-{grid}")).await;
    app.page(&format!("/admin/t/{grid}"), Some(&worker))
        .await
        .expect(StatusCode::FORBIDDEN);
    let operator = app.session(&format!("center-{DAMAI}")).await;
    app.page(&format!("/admin/t/{XIAHE}"), Some(&operator))
        .await
        .expect(StatusCode::FORBIDDEN);
    app.page(&format!("/admin/t/{DAMAI}"), Some(&operator))
        .await
        .expect(StatusCode::OK);
}

/// Parse a CSV export into its header and rows.
fn read_csv(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let header = rows.remove(0);
    (header, rows)
}

fn write_csv(header: &[String], rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.into_inner().unwrap()
}

#[tokio::test]
async fn households_and_pairings_round_trip_through_spreadsheets() {
    let app = org_app().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let village = &p.grid[..12];
    // Households: export as CSV, move one into another group and flag another for care.
    let r = app
        .get(
            &format!("/api/v1/export/households?territory={village}&format=csv"),
            Some(&admin),
        )
        .await;
    r.expect(StatusCode::OK);
    assert!(
        r.header(header::CONTENT_DISPOSITION)
            .unwrap()
            .contains("attachment")
    );
    let (header, mut rows) = read_csv(&r.body);
    assert_eq!(
        header[..4],
        ["户编号", "网格编码", "联防组编码", "户主姓名"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (gi, ci, ni) = (col("联防组编码"), col("结对关爱"), col("身份证号"));
    let moved = rows
        .iter()
        .position(|r| r[gi] == p.group)
        .expect("a household of the group");
    rows[moved][gi] = p.other_group.clone();
    let moved_id = rows[moved][0].clone();
    let cared = rows.iter().position(|r| r[ci] == "否").unwrap();
    rows[cared][ci] = "是".into();
    let cared_id = rows[cared][0].clone();
    // The other group must be in the same grid for the move to be valid.
    let same_grid = p.other_group.starts_with(&p.grid);
    let r = app
        .upload(
            "/api/v1/import/households",
            "text/csv",
            write_csv(&header, &rows),
            &admin,
        )
        .await;
    if same_grid {
        r.expect(StatusCode::CREATED);
        let v = r.json();
        assert_eq!(v["committed"], true);
        assert_eq!(v["files"][0]["rows"].as_u64().unwrap() as usize, rows.len());
        let h = app
            .get(&format!("/api/v1/org/households/{moved_id}"), Some(&admin))
            .await
            .json();
        assert_eq!(h["group"], p.other_group.as_str());
    } else {
        // Moving across grids through the group alone is refused: nothing was written.
        r.expect(StatusCode::OK);
        assert_eq!(
            r.json()["files"][0]["rejected"][0]["reason"],
            "group_outside_grid"
        );
        rows[moved][gi] = p.group.clone();
        app.upload(
            "/api/v1/import/households",
            "text/csv",
            write_csv(&header, &rows),
            &admin,
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let h = app
        .get(&format!("/api/v1/org/households/{cared_id}"), Some(&admin))
        .await
        .json();
    assert_eq!(h["care"], true);
    // Re-importing the same file changes nothing (and says so in the history).
    let changes = app
        .state
        .db
        .changes_within(&TerritoryCode::parse(village).unwrap(), 0, 1000)
        .await
        .unwrap()
        .len();
    app.upload(
        "/api/v1/import/households",
        "text/csv",
        write_csv(&header, &rows),
        &admin,
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(
        app.state
            .db
            .changes_within(&TerritoryCode::parse(village).unwrap(), 0, 1000)
            .await
            .unwrap()
            .len(),
        changes
    );

    // Bad rows: every one reported with its reason, nothing written unless asked.
    let mut bad = rows[..6].to_vec();
    bad[0][col("网格编码")] = "623027202299001".into(); // no such grid
    bad[1][ni] = bad[2][ni].clone(); // duplicate ID number
    let mut check = bad[3][ni].clone();
    let last = check.pop().unwrap();
    check.push(if last == '0' { '1' } else { '0' });
    bad[3][ni] = check; // wrong check digit
    let mut twice = bad[4].clone();
    twice[gi] = if bad[4][gi] == p.group {
        String::new()
    } else {
        p.group.clone()
    };
    bad.push(twice); // the same household in two groups
    bad[5][col("户主姓名")] = "改了名".into(); // a good row
    let r = app
        .upload(
            "/api/v1/import/households",
            "text/csv",
            write_csv(&header, &bad),
            &admin,
        )
        .await;
    r.expect(StatusCode::OK);
    let v = r.json();
    assert_eq!(v["committed"], false);
    let reasons: BTreeSet<String> = v["files"][0]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["reason"].as_str().unwrap().to_owned())
        .collect();
    for reason in [
        "unknown_code",
        "duplicate_id_number",
        "bad_check_digit",
        "household_in_two_groups",
    ] {
        assert!(reasons.contains(reason), "{reason} in {reasons:?}");
    }
    let lines: Vec<u64> = v["files"][0]["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["line"].as_u64().unwrap())
        .collect();
    assert!(lines.contains(&2) && lines.contains(&8), "lines {lines:?}");
    let good_id = &bad[5][0];
    let h = app
        .get(&format!("/api/v1/org/households/{good_id}"), Some(&admin))
        .await
        .json();
    assert_ne!(h["head_name"], "改了名", "all or nothing");
    let r = app
        .upload(
            "/api/v1/import/households?partial=true",
            "text/csv",
            write_csv(&header, &bad),
            &admin,
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert!(r.json()["files"][0]["imported"].as_u64().unwrap() >= 1);
    let h = app
        .get(&format!("/api/v1/org/households/{good_id}"), Some(&admin))
        .await
        .json();
    assert_eq!(
        h["head_name"], "改了名",
        "the good rows are written when asked"
    );

    // Pairings: export as .xlsx, then edit in "another program": a workbook written cell by
    // cell with columns in another order, an extra column, numbers as numbers, the end date as
    // a real date.
    let r = app
        .get(
            &format!("/api/v1/export/pairings?territory={village}&format=xlsx"),
            Some(&admin),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), Some(XLSX));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(r.body.clone())).unwrap();
    let sheet = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&sheet).unwrap();
    let mut it = range.rows();
    let header: Vec<String> = it.next().unwrap().iter().map(|c| c.to_string()).collect();
    let rows: Vec<Vec<Data>> = it.map(|r| r.to_vec()).collect();
    assert!(!rows.is_empty());
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let order = [
        "开始日期",
        "结对编号",
        "对象编号",
        "结对类型",
        "对象类型",
        "结束日期",
        "结对人编号",
        "结对单位编码",
    ];
    let mut out = rust_xlsxwriter::Workbook::new();
    let ws = out.add_worksheet();
    ws.write(0, 0, "备注").unwrap();
    for (j, h) in order.iter().enumerate() {
        ws.write(0, j as u16 + 1, *h).unwrap();
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let edited = rows
        .iter()
        .position(|r| r[at("结束日期")].is_empty())
        .expect("a pairing in force");
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        ws.write(row, 0, "已核对").unwrap();
        for (j, h) in order.iter().enumerate() {
            let col = j as u16 + 1;
            let v = &r[at(h)];
            match (*h, v) {
                ("结束日期", _) if i == edited => {
                    let d = rust_xlsxwriter::ExcelDateTime::from_ymd(2025, 12, 31).unwrap();
                    ws.write_datetime_with_format(row, col, &d, &date_format)
                        .unwrap();
                }
                ("结对编号" | "结对人编号", Data::Float(_) | Data::Int(_)) => {
                    ws.write_number(row, col, v.to_string().parse::<f64>().unwrap())
                        .unwrap();
                }
                (_, Data::Empty) => {}
                _ => {
                    ws.write_string(row, col, v.to_string()).unwrap();
                }
            }
        }
    }
    let bytes = out.save_to_buffer().unwrap();
    let r = app
        .upload("/api/v1/import/pairings", XLSX, bytes, &admin)
        .await;
    r.expect(StatusCode::CREATED);
    let v = r.json();
    assert_eq!(
        v["files"][0]["rows"].as_u64().unwrap() as usize,
        rows.len(),
        "{v}"
    );
    let pid = rows[edited][at("结对编号")].to_string();
    let pid = pid.trim_end_matches(".0");
    let after = app
        .get(&format!("/api/v1/org/pairings/{pid}"), Some(&admin))
        .await
        .json();
    assert_eq!(after["end_date"], "2025-12-31");
    // New grids and groups come in by the territory sheet, parents before children; a Tibetan
    // name must be Tibetan script.
    let grid = format!("{village}099");
    let text = format!(
        "区划代码,名称,藏文名称\n{grid},新网格,\n{grid}001,新网格第1联防组,སྡེ་ཚན།\n{grid}002,新网格第2联防组,Group 2\n"
    );
    let r = app
        .upload(
            "/api/v1/import/territory?partial=true",
            "text/csv",
            text.into_bytes(),
            &admin,
        )
        .await;
    r.expect(StatusCode::CREATED);
    let v = r.json();
    assert_eq!(v["files"][0]["created"], 2, "{v}");
    assert_eq!(v["files"][0]["rejected"][0]["reason"], "not_tibetan");
    let node = app.territory(&admin, &grid).await;
    assert_eq!(children(&node), [format!("{grid}001")]);
    assert_eq!(
        app.territory(&admin, village).await["counts"]["grids"]
            .as_i64()
            .unwrap(),
        children(&app.territory(&admin, village).await).len() as i64
    );
    // Territory, members and cases export too.
    for kind in ["territory", "members", "cases"] {
        app.get(
            &format!("/api/v1/export/{kind}?territory={village}&format=csv"),
            Some(&admin),
        )
        .await
        .expect(StatusCode::OK);
    }
    let operator = app.token(&format!("center-{}", p.other_township)).await;
    app.get(
        &format!("/api/v1/export/households?territory={village}"),
        Some(&operator),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    let worker = app.token(&format!("worker-{}", p.grid)).await;
    app.upload(
        "/api/v1/import/households",
        "text/csv",
        write_csv(&header, &[]),
        &worker,
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
}

/// Run the `gesang` binary on `url`.
fn gesang(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gesang"))
        .env("GESANG_DATA_KEY", store::vault::TEST_KEY)
        .arg("--database-url")
        .arg(url)
        .arg("--log")
        .arg("warn")
        .args(args)
        .output()
        .expect("run gesang")
}

#[tokio::test]
async fn the_command_line_imports_a_boston_sample_and_households_and_exports() {
    let app = org_app().await;
    // A database of its own: the binary writes to it while this test reads.
    let t = store::testing::create("gesang_cli").await.unwrap();
    let db = store::testing::connect(&t.url).await.unwrap();
    db.migrate().await.unwrap();
    let clock = FixedClock::at(Utc.with_ymd_and_hms(2025, 1, 6, 2, 0, 0).unwrap());
    server::demo::load(&db, Scale::Small, &clock).await.unwrap();
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/311/boston_2015"
    );
    let dir = if std::path::Path::new(dir).exists() {
        dir.to_owned()
    } else {
        "/work/shared/data/311/boston_2015".to_owned()
    };
    let mapping = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/import/boston-311.toml"
    );
    let files: Vec<String> = ["Breathe Easy.csv", "Abandoned Building.csv", "Zoning.csv"]
        .iter()
        .map(|f| format!("{dir}/{f}"))
        .collect();
    let mut args = vec!["import", "cases"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--mapping", mapping]);
    // All or nothing: Breathe Easy has one request closed before it was opened.
    let out = gesang(&t.url, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a file with a refused row is not written"
    );
    assert!(
        stderr.contains("Breathe Easy.csv:") && stderr.contains("closed_before_created"),
        "{stderr}"
    );
    let first = db.imported_count("boston-311").await.unwrap();
    assert_eq!(first, 168 + 74, "the two clean files were written");
    // The good rows of all three, then again: nothing twice.
    args.push("--partial");
    let out = gesang(&t.url, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("209 imported") && summary.contains("242 already imported"),
        "{summary}"
    );
    assert!(summary.contains("rows/s"), "{summary}");
    let out = gesang(&t.url, &args);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(" 0 imported") && summary.contains("451 already imported"),
        "{summary}"
    );
    assert_eq!(db.imported_count("boston-311").await.unwrap(), 451);
    // They are real cases: closed ones with their close times, searchable, with history.
    let page = db.cases_page("623027", 0, 1000).await.unwrap();
    assert_eq!(page.len(), 451);
    let closed = page.iter().find(|c| c.status == "closed").unwrap();
    assert!(closed.updated_at > closed.created_at);
    assert_eq!(closed.channel, "legacy_import");
    let events = db.case_events(closed.id).await.unwrap();
    let history: Vec<domain::case::Event> = events
        .iter()
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    let replayed = domain::case::replay(&history).unwrap();
    assert_eq!(serde_json::to_string(&replayed).unwrap(), closed.state);
    assert_eq!(db.search_backlog_len().await.unwrap(), 451);
    // Export the cases and the territory.
    let out_dir = std::env::temp_dir().join(format!("gesang_cli_out_{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let cases_csv = out_dir.join("cases.csv");
    let out = gesang(
        &t.url,
        &[
            "export",
            "cases",
            "--territory",
            XIAHE,
            "--format",
            "csv",
            "--output",
            cases_csv.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (header, rows) = read_csv(&std::fs::read(&cases_csv).unwrap());
    assert_eq!(header[0], "案件编号");
    assert_eq!(rows.len(), 451);
    // A hand-made households file with bad rows.
    let hh = out_dir.join("households.csv");
    let grid = "623027202201001";
    let text = format!(
        "户编号,网格编码,联防组编码,户主姓名,住址,联系电话,身份证号,结对关爱\n\
         ,{grid},,才让,达麦村300号,13900000300,11010519491231002X,否\n\
         ,{grid},,卓玛,达麦村301号,13900000301,110105194912310021,是\n\
         ,623027202299001,,多杰,达麦村302号,13900000302,110105195001010011,否\n\
         ,{grid},,拉姆,达麦村303号,not-a-phone,11010519491231002X,否\n"
    );
    std::fs::write(&hh, text).unwrap();
    let report = out_dir.join("report.csv");
    let out = gesang(
        &t.url,
        &[
            "import",
            "households",
            hh.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for reason in ["bad_check_digit", "unknown_code", "bad_phone"] {
        assert!(stderr.contains(reason), "{reason}: {stderr}");
    }
    let (_, refused) = read_csv(&std::fs::read(&report).unwrap());
    let lines: Vec<&str> = refused.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(lines, ["3", "4", "5"]);
    let before = db
        .territory_counts(&TerritoryCode::parse(grid).unwrap())
        .await
        .unwrap()
        .households;
    let out = gesang(
        &t.url,
        &["import", "households", hh.to_str().unwrap(), "--partial"],
    );
    assert!(out.status.success());
    assert_eq!(
        db.territory_counts(&TerritoryCode::parse(grid).unwrap())
            .await
            .unwrap()
            .households,
        before + 1
    );
    let xlsx = out_dir.join("households.xlsx");
    let out = gesang(
        &t.url,
        &[
            "export",
            "households",
            "--territory",
            grid,
            "--output",
            xlsx.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let book: Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    assert_eq!(book.sheet_names(), ["户籍"]);
    db.close().await;
    let _ = std::fs::remove_dir_all(&out_dir);
    store::testing::remove(t).await;
    drop(app);
}

#[tokio::test]
async fn a_new_department_can_be_dispatched_to_at_once() {
    let app = org_app().await;
    let admin = app.token("admin").await;
    let centre = app.token("center-623027202").await;
    // A case first: routing reads (and caches) every unit.
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({
                "category": "attention.security.theft",
                "description": "水渠闸门被盗，需要水务站处理",
                "territory": "623027202201001",
            }),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.json()["centre"], "623027202", "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/cases/{id}/actions");
    app.post_json(&path, &json!({"action": "accept"}), Some(&centre))
        .await
        .expect(StatusCode::OK);
    // Then the department is created, and the case goes to it at once.
    let r = app
        .post_json(
            "/api/v1/org/units",
            &json!({"territory": "623027202", "slug": "water", "name": "达麦乡水务站"}),
            Some(&admin),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.json()["code"], "623027202-water");
    let r = app
        .post_json(
            &path,
            &json!({"action": "dispatch", "to": {"unit": "623027202-water"}}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json()["handling_unit"], "623027202-water");
}
