//! Field work and statistics (issue 5): work logs and daily reports through the API, once per
//! idempotency key, scoped, and counted once in `GET /api/v1/stats`, whose counts of a node
//! equal the sum over its children and agree with a rebuild from the raw rows.

use super::*;

const FIRE: &str = "management.safety.fire";
const PASTURE: &str = "attention.dispute.pasture";
/// A dispute the village handles (小事不出村).
const NEIGHBOUR: &str = "attention.dispute.neighbour";

/// A township of 夏河县 that no other test works in (the `nth` from the end: each test of this
/// module has its own), with one of its villages and two grids of that village.
struct Quiet {
    township: String,
    village: String,
    grid: String,
    other_grid: String,
}

async fn quiet(app: &App, admin: &str, nth: usize) -> Quiet {
    let townships = children(&app.territory(admin, "623027").await);
    let township = townships[townships.len() - 1 - nth].clone();
    assert_ne!(township, TOWNSHIP);
    let villages = children(&app.territory(admin, &township).await);
    let (village, grids) = {
        let mut found = None;
        for v in &villages {
            let g = children(&app.territory(admin, v).await);
            if g.len() >= 2 {
                found = Some((v.clone(), g));
                break;
            }
        }
        found.expect("a village with two grids")
    };
    Quiet {
        township,
        village,
        grid: grids[0].clone(),
        other_grid: grids[1].clone(),
    }
}

fn today() -> String {
    Utc::now()
        .with_timezone(&domain::clock::china_offset())
        .date_naive()
        .to_string()
}

fn tag() -> String {
    format!(
        "t{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default() % 1_000_000_000_000
    )
}

async fn stats(app: &App, token: &str, territory: &str) -> Value {
    let d = today();
    let r = app
        .get(
            &format!("/api/v1/stats?territory={territory}&from={d}&to={d}"),
            Some(token),
        )
        .await;
    r.expect(StatusCode::OK);
    r.json()
}

const COUNTS: &[&str] = &[
    "cases_total",
    "cases_open",
    "cases_closed",
    "cases_overdue",
    "propaganda_sessions",
    "services_done",
    "problems_solved",
    "hazards_fixed",
    "disputes_resolved",
    "households",
    "members",
    "daily_reports_expected",
    "daily_reports_received",
];

#[tokio::test]
async fn worklogs_once_per_key_scoped_and_a_hazard_becomes_a_case() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let q = quiet(&app, &admin, 1).await;
    let worker = app.token(&format!("worker-{}", q.grid)).await;
    let key = tag();
    let body = json!({"kind": "propaganda", "territory": q.grid, "at": Utc::now().to_rfc3339(),
        "details": {"topic": "草原防火", "place": "村委会", "attendees": 35, "language": "bilingual"},
        "idempotency_key": key});
    let first = app
        .post_json("/api/v1/worklogs", &body, Some(&worker))
        .await;
    first.expect(StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = app
        .post_json("/api/v1/worklogs", &body, Some(&worker))
        .await;
    again.expect(StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.json()["id"], again.json()["id"]);
    assert_eq!(first.json()["details"]["attendees"], 35);
    let mine = app
        .get("/api/v1/worklogs?kind=propaganda", Some(&worker))
        .await;
    mine.expect(StatusCode::OK);
    let listed = mine.json();
    let same = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["id"] == first.json()["id"])
        .count();
    assert_eq!(same, 1, "one log for one key");

    // Bad input names its field; outside the grid is 403; a leader keeps no logs.
    let bad = app
        .post_json(
            "/api/v1/worklogs",
            &json!({"kind": "propaganda", "details": {"topic": "x", "place": "y"}}),
            Some(&worker),
        )
        .await;
    bad.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(bad.json()["error"]["field"], "details.attendees");
    app.post_json(
        "/api/v1/worklogs",
        &json!({"kind": "meeting"}),
        Some(&worker),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    app.post_json(
        "/api/v1/worklogs",
        &json!({"kind": "dispute_screening", "territory": q.other_grid, "details": {"place": "x"}}),
        Some(&worker),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    let leader = app.token(&format!("leader-{}", q.township)).await;
    app.post_json(
        "/api/v1/worklogs",
        &json!({"kind": "dispute_screening", "territory": q.grid, "details": {"place": "x"}}),
        Some(&leader),
    )
    .await
    .expect(StatusCode::FORBIDDEN);

    // A hazard found becomes one case, however often the phone sends it.
    let hkey = tag();
    let hazard = json!({"kind": "hazard_inspection", "territory": q.grid,
        "details": {"place": "寺院东侧", "hazard_found": true, "category": FIRE, "description": "电线老化"},
        "idempotency_key": hkey});
    let h1 = app
        .post_json("/api/v1/worklogs", &hazard, Some(&worker))
        .await;
    h1.expect(StatusCode::CREATED);
    let h2 = app
        .post_json("/api/v1/worklogs", &hazard, Some(&worker))
        .await;
    h2.expect(StatusCode::CREATED);
    let case_id = h1.json()["case_id"].as_str().expect("a case id").to_owned();
    assert_eq!(h2.json()["case_id"], case_id);
    assert!(
        h1.json()["case_code"]
            .as_str()
            .is_some_and(|c| c.starts_with("GN"))
    );
    let case = app
        .get(&format!("/api/v1/cases/{case_id}"), Some(&worker))
        .await;
    case.expect(StatusCode::OK);
    assert_eq!(case.json()["category"], FIRE);
    assert_eq!(case.json()["territory"], q.grid.as_str());
    let unknown = app
        .post_json("/api/v1/worklogs", &json!({"kind": "hazard_inspection", "territory": q.grid,
            "details": {"place": "x", "hazard_found": true, "category": "nope", "description": "d"}}), Some(&worker))
        .await;
    unknown.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.json()["error"]["field"], "details.category");
}

#[tokio::test]
async fn a_second_daily_report_replaces_the_first_and_counts_once() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let q = quiet(&app, &admin, 2).await;
    let group = children(&app.territory(&admin, &q.other_grid).await)[0].clone();
    let head = app.token(&format!("head-{group}")).await;
    let before = stats(&app, &admin, &group).await;
    let r = app
        .post_json(
            "/api/v1/daily-reports",
            &json!({"date": today(), "nothing_to_report": false, "text": "牧道积雪"}),
            Some(&head),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let r = app
        .post_json(
            "/api/v1/daily-reports",
            &json!({"date": today(), "nothing_to_report": true}),
            Some(&head),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.json()["replaced"], true);
    assert_eq!(r.json()["nothing_to_report"], true);
    let after = stats(&app, &admin, &group).await;
    let received = |v: &Value| v["daily_reports_received"].as_i64().unwrap();
    assert_eq!(received(&before), 0);
    assert_eq!(received(&after), 1, "{after}");
    assert_eq!(after["zero_reports"], 1);
    assert_eq!(
        after["daily_reports_expected"], 1,
        "one head for one group, one day"
    );
    let mine = app.get("/api/v1/daily-reports", Some(&head)).await;
    mine.expect(StatusCode::OK);
    assert_eq!(mine.json()[0]["nothing_to_report"], true);
    // Nothing said and no zero report; a day in the future; a leader does not report.
    app.post_json(
        "/api/v1/daily-reports",
        &json!({"date": today(), "nothing_to_report": false}),
        Some(&head),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.post_json(
        "/api/v1/daily-reports",
        &json!({"date": "2999-01-01", "nothing_to_report": true}),
        Some(&head),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    let leader = app.token(&format!("leader-{}", q.township)).await;
    app.post_json(
        "/api/v1/daily-reports",
        &json!({"date": today(), "nothing_to_report": true}),
        Some(&leader),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn stats_of_a_node_are_the_sum_of_its_children_and_agree_with_a_rebuild() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let q = quiet(&app, &admin, 0).await;
    let worker = app.token(&format!("worker-{}", q.grid)).await;
    let other = app.token(&format!("worker-{}", q.other_grid)).await;
    let before = stats(&app, &admin, &q.township).await;

    // Two cases in one grid, one in the other; a propaganda session and a service.
    for (token, grid, category) in [
        (&worker, &q.grid, FIRE),
        (&worker, &q.grid, PASTURE),
        (&other, &q.other_grid, FIRE),
    ] {
        app.post_json(
            "/api/v1/cases",
            &json!({"category": category, "description": "统计测试", "territory": grid}),
            Some(token),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    app.post_json(
        "/api/v1/worklogs",
        &json!({"kind": "propaganda", "territory": q.grid,
        "details": {"topic": "反诈", "place": "学校", "attendees": 12}}),
        Some(&worker),
    )
    .await
    .expect(StatusCode::CREATED);
    app.post_json(
        "/api/v1/worklogs",
        &json!({"kind": "service", "territory": q.other_grid,
        "details": {"what": "代办医保"}}),
        Some(&other),
    )
    .await
    .expect(StatusCode::CREATED);
    // A dispute solved on the spot and closed: one problem solved, one dispute resolved.
    let dispute = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": NEIGHBOUR, "description": "邻里边界", "territory": q.grid}),
            Some(&worker),
        )
        .await;
    dispute.expect(StatusCode::CREATED);
    let id = dispute.json()["id"].as_str().unwrap().to_owned();
    let act = |token: String, body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            let r = app
                .post_json(&format!("/api/v1/cases/{id}/actions"), &body, Some(&token))
                .await;
            r.expect(StatusCode::OK);
            r.json()
        }
    };
    act(
        worker.clone(),
        json!({"action": "self_handle", "result": "solved", "text": "当场调解"}),
    )
    .await;
    let centre = app.token(&format!("center-{}", q.village)).await;
    act(centre.clone(), json!({"action": "verify", "passed": true})).await;
    let closed = act(
        centre.clone(),
        json!({"action": "revisit", "satisfaction": "satisfied"}),
    )
    .await;
    assert_eq!(closed["status"], "closed");

    let after = stats(&app, &admin, &q.township).await;
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert_eq!(n(&after, "cases_total") - n(&before, "cases_total"), 4);
    assert_eq!(n(&after, "cases_closed") - n(&before, "cases_closed"), 1);
    assert_eq!(n(&after, "cases_open") - n(&before, "cases_open"), 3);
    assert_eq!(
        n(&after, "propaganda_sessions") - n(&before, "propaganda_sessions"),
        1
    );
    assert_eq!(n(&after, "services_done") - n(&before, "services_done"), 1);
    assert_eq!(
        n(&after, "problems_solved") - n(&before, "problems_solved"),
        1
    );
    assert_eq!(
        n(&after, "disputes_resolved") - n(&before, "disputes_resolved"),
        1
    );
    assert!(
        after["dispute_resolution_rate"]
            .as_f64()
            .is_some_and(|r| (0.0..=1.0).contains(&r))
    );
    assert!(n(&after, "households") > 0);

    // Each node equals the sum over its children, and each child's entry is that child's own
    // figures. What the node holds itself (the township's own cadres) is one `direct` entry;
    // every case and log of this township lies in a child.
    for node in [&q.township, &q.village] {
        let s = stats(&app, &admin, node).await;
        let kids = s["children"].as_array().unwrap();
        for k in COUNTS {
            let sum: i64 = kids.iter().map(|c| n(c, k)).sum();
            assert_eq!(sum, n(&s, k), "{node}: {k}");
        }
        for k in [
            "cases_total",
            "cases_open",
            "cases_closed",
            "propaganda_sessions",
            "services_done",
        ] {
            let real: i64 = kids
                .iter()
                .filter(|c| c.get("direct").is_none())
                .map(|c| n(c, k))
                .sum();
            assert_eq!(real, n(&s, k), "{node}: {k} outside the children");
        }
        for child in kids.iter().filter(|c| c.get("direct").is_none()) {
            let own = stats(&app, &admin, child["territory"].as_str().unwrap()).await;
            for k in COUNTS {
                assert_eq!(
                    n(child, k),
                    n(&own, k),
                    "{k} of child {}",
                    child["territory"]
                );
            }
        }
    }
    let county = stats(&app, &admin, "623027").await;
    for k in COUNTS {
        let sum: i64 = county["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| n(c, k))
            .sum();
        assert_eq!(sum, n(&county, k), "county: {k}");
    }
    // Rates are null without a denominator.
    let group = children(&app.territory(&admin, &q.grid).await)[0].clone();
    let g = stats(&app, &admin, &group).await;
    assert!(g["timely_sign_rate"].is_null(), "{g}");

    // The rollups of this township are what a recount from the raw rows gives.
    let prefix = q.township.clone();
    let mine =
        |all: &std::collections::BTreeMap<(String, chrono::NaiveDate, String, String), i64>| {
            all.iter()
                .filter(|((t, ..), _)| t.starts_with(&prefix))
                .map(|(k, v)| (k.clone(), *v))
                .collect::<Vec<_>>()
        };
    let stored = mine(&app.state.db.all_rollups().await.unwrap());
    let recount = {
        let all = domain::stats::summed(app.state.db.recount_rollups().await.unwrap());
        mine(&all)
    };
    assert_eq!(stored, recount);
    app.state.db.rebuild_stats().await.unwrap();
    assert!(
        !app.state.db.rollups_missing().await.unwrap(),
        "rollups exist: no rebuild at start"
    );
    let rebuilt = stats(&app, &admin, &q.township).await;
    for k in COUNTS {
        assert_eq!(n(&rebuilt, k), n(&after, k), "{k} after rebuild");
    }

    // Scope: a worker sees his grid's figures, not his neighbour's; bad periods are refused.
    app.get(
        &format!("/api/v1/stats?territory={}", q.grid),
        Some(&worker),
    )
    .await
    .expect(StatusCode::OK);
    app.get(
        &format!("/api/v1/stats?territory={}", q.other_grid),
        Some(&worker),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get("/api/v1/stats?from=2026-02-01&to=2026-01-01", Some(&admin))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/api/v1/stats?from=yesterday", Some(&admin))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
}

/// The field app's shell is public and cacheable, in Chinese and Tibetan; a signed-in page
/// session (and only one, with the app's header) gets an API token for the app.
#[tokio::test]
async fn the_field_shell_is_served_and_a_session_becomes_an_api_token() {
    let app = App::new().await;
    let shell = app.page("/field", None).await;
    shell.expect(StatusCode::OK);
    let html = shell.text();
    assert!(html.contains("/static/field/app.js") && html.contains("rel=\"manifest\""));
    assert!(html.contains("平安通"));
    assert!(!html.contains("<script>"), "no inline script");
    let bo = app.page("/field?lang=bo", None).await.text();
    assert!(bo.contains("lang=\"bo\"") && bo.contains("བདེ་འཇགས"));
    let sw = app.page("/field/sw.js", None).await;
    sw.expect(StatusCode::OK);
    assert_eq!(sw.header("service-worker-allowed"), Some("/field"));
    assert!(!sw.text().contains("__SHELL_VERSION__"));
    let manifest = app.page("/field/manifest.webmanifest", None).await;
    manifest.expect(StatusCode::OK);
    assert_eq!(manifest.json()["start_url"], "/field");
    for f in [
        "queue.js",
        "idb.js",
        "app.js",
        "field.css",
        "icon-192.png",
        "icon-512.png",
        "icon.svg",
    ] {
        app.page(&format!("/static/field/{f}"), None)
            .await
            .expect(StatusCode::OK);
    }
    let queue = app.page("/static/field/queue.js", None).await.text();
    for export in [
        "export async function enqueue",
        "export async function pending",
        "export function flush",
        "export function onChange",
    ] {
        assert!(queue.contains(export), "queue.js lacks {export}");
    }

    let mint = |session: Option<String>, header: bool| {
        let app = &app;
        async move {
            let mut req = Request::post("/field/token").header("sec-fetch-site", "same-origin");
            if header {
                req = req.header("x-gesang-field", "1");
            }
            if let Some(s) = session {
                req = req.header(header::COOKIE, format!("gesang_session={s}"));
            }
            app.send(req.body(Body::empty()).unwrap()).await
        }
    };
    mint(None, true).await.expect(StatusCode::UNAUTHORIZED);
    let session = app.session("worker-623027202201001").await;
    mint(Some(session.clone()), false)
        .await
        .expect(StatusCode::FORBIDDEN);
    let r = mint(Some(session), true).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json()["role"], "grid_worker");
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/me", Some(&token)).await;
    me.expect(StatusCode::OK);
    assert_eq!(me.json()["username"], "worker-623027202201001");
}

/// The logs behind the 政策宣传 and 帮办实事 figures: `GET /api/v1/worklogs?territory=` and the
/// `/worklogs` page list exactly what the statistics count, inside the caller's scope only, and
/// the war room's figures link to them.
#[tokio::test]
async fn the_logs_behind_a_figure_are_listed_in_scope_and_agree_with_the_count() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let q = quiet(&app, &admin, 3).await;
    let worker = app.token(&format!("worker-{}", q.grid)).await;
    let other = app.token(&format!("worker-{}", q.other_grid)).await;
    let topic = format!("森林防火{}", tag());
    for (token, grid, kind, details) in [
        (
            &worker,
            &q.grid,
            "propaganda",
            json!({"topic": topic, "place": "村委会", "attendees": 20, "language": "bilingual"}),
        ),
        (
            &worker,
            &q.grid,
            "propaganda",
            json!({"topic": "反诈", "place": "学校", "attendees": 8}),
        ),
        (
            &other,
            &q.other_grid,
            "propaganda",
            json!({"topic": "禁毒", "place": "寺院", "attendees": 15, "language": "bo"}),
        ),
        (
            &other,
            &q.other_grid,
            "service",
            json!({"what": "代办医保"}),
        ),
    ] {
        app.post_json(
            "/api/v1/worklogs",
            &json!({"kind": kind, "territory": grid, "details": details}),
            Some(token),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let d = today();
    let leader = app.token(&format!("leader-{}", q.township)).await;
    let listed = |territory: String, kind: &'static str| {
        let (app, leader, d) = (&app, &leader, &d);
        async move {
            let r = app
                .get(
                    &format!(
                        "/api/v1/worklogs?territory={territory}&kind={kind}&from={d}&to={d}&limit=200"
                    ),
                    Some(leader),
                )
                .await;
            r.expect(StatusCode::OK);
            r.json().as_array().unwrap().clone()
        }
    };
    for (node, kind, figure) in [
        (&q.township, "propaganda", "propaganda_sessions"),
        (&q.village, "propaganda", "propaganda_sessions"),
        (&q.grid, "propaganda", "propaganda_sessions"),
        (&q.other_grid, "propaganda", "propaganda_sessions"),
        (&q.township, "service", "services_done"),
        (&q.grid, "service", "services_done"),
    ] {
        let logs = listed(node.clone(), kind).await;
        let counted = stats(&app, &leader, node).await[figure].as_i64().unwrap();
        assert_eq!(
            logs.len() as i64,
            counted,
            "{kind} logs of {node} against {figure}"
        );
        assert!(logs.iter().all(|l| l["kind"] == kind
            && l["territory"].as_str().unwrap().starts_with(node.as_str())
            && l["day"] == d.as_str()));
    }
    assert!(listed(q.grid.clone(), "propaganda").await.len() >= 2);
    assert!(
        !listed(q.other_grid.clone(), "service").await.is_empty(),
        "the service of the other grid"
    );

    // Outside the scope: 403; bad parameters name their field.
    let stranger = app.token(&format!("leader-{TOWNSHIP}")).await;
    app.get(
        &format!("/api/v1/worklogs?territory={}", q.grid),
        Some(&stranger),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    let bad = app
        .get(
            &format!("/api/v1/worklogs?territory={}&from=yesterday", q.grid),
            Some(&leader),
        )
        .await;
    bad.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(bad.json()["error"]["field"], "from");
    let bad = app
        .get(
            &format!("/api/v1/worklogs?territory={}&kind=meeting", q.grid),
            Some(&leader),
        )
        .await;
    assert_eq!(bad.json()["error"]["field"], "kind");

    // The page: the war room's figure links to it, and it shows the session.
    let session = app.session(&format!("leader-{}", q.township)).await;
    let room = app
        .page(&format!("/center?territory={}", q.village), Some(&session))
        .await;
    room.expect(StatusCode::OK);
    let href = format!(
        "/worklogs?territory={}&amp;kind=propaganda&amp;from={d}&amp;to={d}",
        q.village
    );
    assert!(
        room.text().replace("&#38;", "&amp;").contains(&href),
        "the 政策宣传 figure of today links to {href}"
    );
    let page = app
        .page(
            &format!(
                "/worklogs?territory={}&kind=propaganda&from={d}&to={d}",
                q.village
            ),
            Some(&session),
        )
        .await;
    page.expect(StatusCode::OK);
    let html = page.text();
    assert!(html.contains("id=\"worklogs\""), "the table");
    assert!(html.contains(&topic), "the session's topic");
    assert!(
        html.contains("20 人") && html.contains("双语"),
        "attendees and language"
    );
    assert_eq!(
        html.matches("<tr data-day=").count(),
        listed(q.village.clone(), "propaganda").await.len(),
        "one row per log"
    );
    // A cursor that is not an id is the first page, not an error.
    app.page(
        &format!("/worklogs?territory={}&cursor=abc", q.village),
        Some(&session),
    )
    .await
    .expect(StatusCode::OK);
    let elsewhere = app.session(&format!("leader-{TOWNSHIP}")).await;
    app.page(
        &format!("/worklogs?territory={}", q.village),
        Some(&elsewhere),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}
