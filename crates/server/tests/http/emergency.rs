//! Emergency response over HTTP: plans, activation (who may, and who it reaches: recounted from
//! the demo data set itself), instructions and their acknowledgement, the roll call (scope,
//! batches, idempotency, concurrent reports on one household), level changes, stand-down, the
//! board's counts against a recount, the after-action workbook and the pages.
//!
//! Incidents made here live in the shared demo database; they change no count the other modules
//! read (households, members and pairings are only read).

use super::*;

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use domain::TerritoryCode;
use domain::emergency::{TaskRole, area_covers, member_task};
use domain::people::{PairingSubject, PairingTarget, UnitKind};

fn tc(s: &str) -> TerritoryCode {
    TerritoryCode::parse(s).unwrap()
}

async fn activate(app: &App, token: &str, territories: &[&str], level: i64, title: &str) -> Resp {
    app.post_json(
        "/api/v1/incidents",
        &json!({"plan": "debris-flow", "territories": territories, "level": level, "title": title}),
        Some(token),
    )
    .await
}

/// An active incident on 达麦乡 (for the scope matrix of the spine module).
pub async fn incident_for_matrix(app: &App) -> String {
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let r = activate(app, &centre, &[TOWNSHIP], 3, "范围检查").await;
    r.expect(StatusCode::CREATED);
    r.json()["id"].as_i64().unwrap().to_string()
}

/// Who an activation on `area` reaches, recounted from the demo data set (not from the
/// database): (members by task, units).
fn recount(area: &[TerritoryCode], day: chrono::NaiveDate) -> (BTreeMap<TaskRole, usize>, usize) {
    static DATA: OnceLock<domain::demo::DemoData> = OnceLock::new();
    let d = DATA.get_or_init(|| domain::demo::generate(Scale::Small));
    let households: HashSet<i64> = d
        .households
        .iter()
        .filter(|h| area_covers(area, h.group.as_ref().unwrap_or(&h.grid)))
        .map(|h| h.id)
        .collect();
    let in_force = |p: &domain::people::Pairing| p.start <= day && p.end.is_none_or(|e| e >= day);
    let target_inside = |t: &PairingTarget| match t {
        PairingTarget::Territory(c) => area_covers(area, c),
        PairingTarget::Household(h) => households.contains(h),
        PairingTarget::Monastery(m) => d
            .monasteries
            .iter()
            .any(|x| x.id == *m && area_covers(area, &x.territory)),
        PairingTarget::Enterprise(e) => d
            .enterprises
            .iter()
            .any(|x| x.id == *e && area_covers(area, &x.territory)),
    };
    let paired_members: HashSet<i64> = d
        .pairings
        .iter()
        .filter(|p| in_force(p) && target_inside(&p.target))
        .filter_map(|p| match p.subject {
            PairingSubject::Member(m) => Some(m),
            PairingSubject::Unit(_) => None,
        })
        .collect();
    let heads: HashSet<i64> = d.group_heads.iter().map(|(_, m)| *m).collect();
    let grid_units: HashSet<&str> = d
        .units
        .iter()
        .filter(|u| u.kind == UnitKind::Grid)
        .map(|u| u.code.as_str())
        .collect();
    let mut members = BTreeMap::new();
    for m in &d.members {
        if area_covers(area, &m.territory) || paired_members.contains(&m.id) {
            let task = member_task(
                heads.contains(&m.id),
                grid_units.contains(m.unit.as_str()),
                &m.forces,
            );
            *members.entry(task).or_insert(0) += 1;
        }
    }
    let paired_units: HashSet<&str> = d
        .pairings
        .iter()
        .filter(|p| {
            in_force(p) && matches!(&p.target, PairingTarget::Territory(c) if area_covers(area, c))
        })
        .filter_map(|p| match &p.subject {
            PairingSubject::Unit(u) => Some(u.as_str()),
            PairingSubject::Member(_) => None,
        })
        .collect();
    let units = d
        .units
        .iter()
        .filter(|u| u.kind != UnitKind::Grid)
        .filter(|u| area_covers(area, &u.territory) || paired_units.contains(u.code.as_str()))
        .count();
    (members, units)
}

#[tokio::test]
async fn plans_cover_every_hazard_with_four_levels_in_chinese_and_tibetan() {
    let app = App::new().await;
    let head = app.token("head-623027202201001001").await;
    let r = app.get("/api/v1/plans", Some(&head)).await;
    r.expect(StatusCode::OK);
    let plans = r.json();
    let hazards: BTreeSet<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["hazard"].as_str().unwrap())
        .collect();
    for h in [
        "debris_flow",
        "flood",
        "earthquake",
        "snow_disaster",
        "fire",
        "epidemic",
    ] {
        assert!(hazards.contains(h), "no plan for {h}: {hazards:?}");
    }
    for p in plans.as_array().unwrap() {
        assert_eq!(p["levels"], json!([1, 2, 3, 4]), "{}", p["code"]);
        assert!(p["code"].is_string() && p["name"].is_string());
        let task = &p["plan"]["levels"][0]["tasks"][0];
        assert!(
            task["text_bo"].as_str().unwrap().contains('\u{0F0B}'),
            "{task}"
        );
    }
    assert_eq!(
        app.get("/api/v1/plans", None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Only administrators change plans.
    let mut plan = plans[0]["plan"].clone();
    let code = plan["code"].as_str().unwrap().to_owned();
    let put = |token: String, body: Value| {
        let code = code.clone();
        let app = &app;
        async move {
            let req = Request::put(format!("/api/v1/plans/{code}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(body.to_string()))
                .unwrap();
            app.send(req).await
        }
    };
    let centre = app.token("center-623027").await;
    put(centre, plan.clone())
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let admin = app.token("admin").await;
    plan["levels"][0]["tasks"][0]["text_bo"] = json!("not Tibetan");
    put(admin.clone(), plan.clone())
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    plan["levels"][0]["tasks"][0]["text_bo"] =
        plans[0]["plan"]["levels"][0]["tasks"][0]["text_bo"].clone();
    put(admin, plan).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn activation_on_damai_reaches_exactly_its_members_units_and_households() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let before = chrono::Utc::now();
    let r = activate(&app, &centre, &[TOWNSHIP], 2, "达麦乡泥石流").await;
    r.expect(StatusCode::CREATED);
    let v = r.json();
    let day = before
        .with_timezone(&domain::clock::china_offset())
        .date_naive();
    let (members, units) = recount(&[tc(TOWNSHIP)], day);
    let expected_total: usize = members.values().sum::<usize>() + units;
    assert_eq!(v["status"], "active");
    assert_eq!(v["level"], 2);
    assert_eq!(
        v["instructions_total"].as_u64().unwrap() as usize,
        expected_total,
        "instructions = members working in or paired with 达麦乡 ({members:?}) + units ({units})"
    );
    assert_eq!(v["instructions_acknowledged"], 0);
    let households = app.territory(&admin, TOWNSHIP).await["counts"]["households"]
        .as_i64()
        .unwrap();
    assert_eq!(v["households_total"], households);
    assert_eq!(v["rollcall"]["unreached"], households);
    for s in ["safe", "evacuated", "injured", "missing"] {
        assert_eq!(v["rollcall"][s], 0);
    }
    let villages = v["villages"].as_array().unwrap();
    let n_villages = children(&app.territory(&admin, TOWNSHIP).await).len();
    assert_eq!(villages.len(), n_villages);
    let sum: i64 = villages
        .iter()
        .map(|x| x["households"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, households);
    assert!(members[&TaskRole::HouseholdHead] > 10 && members[&TaskRole::GridWorker] > 2);
    assert!(members[&TaskRole::Militia] > 10, "{members:?}");

    // Each role got its task: the household head's own instruction, in both languages.
    let id = v["id"].as_i64().unwrap();
    let head = app.token("head-623027202201001001").await;
    let mine = app.get("/api/v1/me/instructions", Some(&head)).await;
    mine.expect(StatusCode::OK);
    let mine = mine.json();
    let ins = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["incident"] == id)
        .expect("the head's instruction")
        .clone();
    assert_eq!(ins["role"], "household_head");
    assert!(ins["text_zh"].as_str().unwrap().contains("Ⅱ级"), "{ins}");
    assert!(ins["text_zh"].as_str().unwrap().contains("清点"), "{ins}");
    assert!(
        ins["text_bo"]
            .as_str()
            .unwrap()
            .chars()
            .any(|c| ('\u{0F00}'..='\u{0FFF}').contains(&c))
    );
    assert!(ins["acknowledged_at"].is_null());

    // The department handler of the township's police station has one too (a unit inside).
    let police = app.token(&format!("handler-{TOWNSHIP}-police")).await;
    let theirs = app
        .get("/api/v1/me/instructions", Some(&police))
        .await
        .json();
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["incident"] == id && i["role"] == "department"),
        "{theirs}"
    );

    // Acknowledge: counted once; nobody else may acknowledge it.
    let seq = ins["seq"].as_i64().unwrap();
    let ack = format!("/api/v1/incidents/{id}/instructions/{seq}/ack");
    app.post_json(&ack, &json!({}), Some(&police))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let r = app.post_json(&ack, &json!({}), Some(&head)).await;
    r.expect(StatusCode::OK);
    assert!(r.json()["acknowledged_at"].is_string());
    app.post_json(&ack, &json!({}), Some(&head))
        .await
        .expect(StatusCode::OK);
    let v = app
        .get(&format!("/api/v1/incidents/{id}"), Some(&centre))
        .await
        .json();
    assert_eq!(v["instructions_acknowledged"], 1);
    let open = app
        .get(
            &format!("/api/v1/incidents/{id}/instructions?limit=1000"),
            Some(&centre),
        )
        .await
        .json();
    assert!(open.as_array().unwrap().iter().all(|i| i["seq"] != seq));
}

#[tokio::test]
async fn only_leaders_and_centres_covering_the_area_activate() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let cases: Vec<(String, Vec<String>, StatusCode)> = vec![
        (
            format!("center-{TOWNSHIP}"),
            vec![p.other_township.clone()],
            StatusCode::FORBIDDEN,
        ),
        (
            format!("center-{TOWNSHIP}"),
            vec![TOWNSHIP.into(), p.other_township.clone()],
            StatusCode::FORBIDDEN,
        ),
        (
            format!("worker-{}", p.grid),
            vec![p.grid.clone()],
            StatusCode::FORBIDDEN,
        ),
        (
            format!("head-{}", p.group),
            vec![p.group.clone()],
            StatusCode::FORBIDDEN,
        ),
        (
            "handler-623027-police".into(),
            vec![VILLAGE.into()],
            StatusCode::FORBIDDEN,
        ),
        ("admin".into(), vec![VILLAGE.into()], StatusCode::FORBIDDEN),
        (
            "leader-623027".into(),
            vec![VILLAGE.into(), p.grid.clone()],
            StatusCode::CREATED,
        ),
        (
            format!("center-{VILLAGE}"),
            vec![VILLAGE.into()],
            StatusCode::CREATED,
        ),
    ];
    for (user, area, want) in cases {
        let token = app.token(&user).await;
        let area: Vec<&str> = area.iter().map(String::as_str).collect();
        let r = activate(&app, &token, &area, 4, "演练").await;
        assert_eq!(r.status, want, "{user} on {area:?}: {}", r.text());
        if want == StatusCode::CREATED {
            // A grid listed with its village counts once.
            assert_eq!(r.json()["territories"], json!([VILLAGE]));
        }
    }
    let centre = app.token("center-623027").await;
    for (body, field) in [
        (
            json!({"plan": "nope", "territories": [TOWNSHIP], "level": 3, "title": "x"}),
            "plan",
        ),
        (
            json!({"plan": "flood", "territories": [TOWNSHIP], "level": 5, "title": "x"}),
            "level",
        ),
        (
            json!({"plan": "flood", "territories": [], "level": 3, "title": "x"}),
            "territories",
        ),
        (
            json!({"plan": "flood", "territories": ["12"], "level": 3, "title": "x"}),
            "territories",
        ),
        (
            json!({"plan": "flood", "territories": [TOWNSHIP], "level": 3, "title": " "}),
            "title",
        ),
    ] {
        let r = app
            .post_json("/api/v1/incidents", &body, Some(&centre))
            .await;
        r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn roll_call_keeps_scope_history_and_adds_up() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let r = activate(&app, &centre, &[VILLAGE], 3, "达麦村点名").await;
    r.expect(StatusCode::CREATED);
    let v = r.json();
    let id = v["id"].as_i64().unwrap();
    let total = v["households_total"].as_i64().unwrap();
    let base = format!("/api/v1/incidents/{id}");

    // The head sees his group's households, unmasked (he needs the phones).
    let head = app.token(&format!("head-{}", p.group)).await;
    let mine = app.get(&format!("{base}/households"), Some(&head)).await;
    mine.expect(StatusCode::OK);
    let mine = mine.json()["items"].as_array().unwrap().clone();
    assert!(
        !mine.is_empty() && mine.len() <= 15,
        "{} households",
        mine.len()
    );
    for h in &mine {
        assert_eq!(h["group"], p.group.as_str());
        assert_eq!(h["masked"], false);
        assert!(!h["phone"].as_str().unwrap().contains('*'));
    }
    let ids: Vec<i64> = mine
        .iter()
        .map(|h| h["household"].as_i64().unwrap())
        .collect();

    // Another group's household is out of his scope: the whole batch is refused.
    let theirs = app
        .get(
            &format!("{base}/households?territory={}", p.other_group),
            Some(&centre),
        )
        .await
        .json()["items"][0]["household"]
        .as_i64()
        .unwrap();
    let rc = format!("{base}/rollcall");
    app.post_json(
        &rc,
        &json!({"entries": [{"household": ids[0], "status": "safe"}, {"household": theirs, "status": "safe"}]}),
        Some(&head),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    // Bad input.
    for (body, code) in [
        (json!({"entries": []}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"entries": [{"household": ids[0], "status": "fine"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"entries": [{"household": 999_999_999, "status": "safe"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        assert_eq!(
            app.post_json(&rc, &body, Some(&head)).await.status,
            code,
            "{body}"
        );
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"household": ids[0], "status": "safe"}))
        .collect();
    app.post_json(&rc, &json!({"entries": too_many}), Some(&head))
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    // A department handler does no roll call.
    let police = app.token("handler-623027-police").await;
    app.post_json(
        &rc,
        &json!({"entries": [{"household": ids[0], "status": "safe"}]}),
        Some(&police),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // The head's batch, sent twice with one key (a phone resending): applied once.
    let t_first = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    let entries: Vec<Value> = ids
        .iter()
        .map(|h| json!({"household": h, "status": "evacuated", "at": t_first}))
        .collect();
    let body = json!({"entries": entries, "idempotency_key": format!("test-{id}")});
    let first = app.post_json(&rc, &body, Some(&head)).await;
    first.expect(StatusCode::OK);
    assert_eq!(first.json()["applied"], ids.len());
    let again = app.post_json(&rc, &body, Some(&head)).await;
    again.expect(StatusCode::OK);
    assert_eq!(again.json()["replayed"], true);
    let hist = app
        .get(
            &format!("{base}/households/{}/history", ids[0]),
            Some(&head),
        )
        .await;
    hist.expect(StatusCode::OK);
    assert_eq!(
        hist.json().as_array().unwrap().len(),
        1,
        "the replay wrote nothing"
    );

    // Concurrent reports on one household: the grid worker's and the head's, observed at
    // different times, sent at once. Both are kept; the later observation stands.
    let worker = app.token(&format!("worker-{}", p.grid)).await;
    let t_early = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
    let t_late = (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc3339();
    let body_a = json!({"entries": [{"household": ids[0], "status": "missing", "at": t_early, "note": "家中无人"}]});
    let body_b = json!({"entries": [{"household": ids[0], "status": "injured", "at": t_late, "note": "腿部擦伤"}]});
    let a = app.post_json(&rc, &body_a, Some(&head));
    let b = app.post_json(&rc, &body_b, Some(&worker));
    let (a, b) = tokio::join!(a, b);
    a.expect(StatusCode::OK);
    b.expect(StatusCode::OK);
    let hist = app
        .get(
            &format!("{base}/households/{}/history", ids[0]),
            Some(&head),
        )
        .await
        .json();
    let statuses: Vec<&str> = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), 3, "{hist}");
    assert!(
        statuses.contains(&"missing") && statuses.contains(&"injured"),
        "{hist}"
    );
    let now_status = app
        .get(&format!("{base}/households?status=injured"), Some(&head))
        .await
        .json();
    assert_eq!(
        now_status["items"].as_array().unwrap().len(),
        1,
        "{now_status}"
    );
    assert_eq!(now_status["items"][0]["household"], ids[0]);
    assert_eq!(now_status["items"][0]["note"], "腿部擦伤");
    // An observation older than what stands goes to history only.
    let stale = app
        .post_json(
            &rc,
            &json!({"entries": [{"household": ids[0], "status": "safe", "at": t_early}]}),
            Some(&worker),
        )
        .await;
    assert_eq!(stale.json()["superseded"], 1);

    // The board: counters equal a recount, and add up to the households.
    let v = app.get(&base, Some(&centre)).await.json();
    let rcnt = &v["rollcall"];
    let sum: i64 = ["safe", "evacuated", "injured", "missing", "unreached"]
        .iter()
        .map(|s| rcnt[*s].as_i64().unwrap())
        .sum();
    assert_eq!(sum, total);
    assert_eq!(rcnt["injured"], 1);
    assert_eq!(rcnt["evacuated"].as_i64().unwrap(), ids.len() as i64 - 1);
    let db = &app.state.db;
    let recount = db.recount_rollcall(id).await.unwrap();
    let village = v["villages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == VILLAGE)
        .unwrap()
        .clone();
    let (_, rc_village) = recount.iter().find(|(c, _)| c == VILLAGE).unwrap();
    assert_eq!(
        serde_json::to_value(rc_village).unwrap(),
        village["rollcall"]
    );
    // The centre sees the head's contact masked.
    let unreached = app
        .get(
            &format!("{base}/households?status=unreached&limit=5"),
            Some(&centre),
        )
        .await
        .json();
    for h in unreached["items"].as_array().unwrap() {
        assert_eq!(h["masked"], true);
        assert!(h["phone"].as_str().unwrap().contains("****"), "{h}");
    }

    // Level change: every instruction sent again, acknowledgements cleared; then stand-down.
    let r = app
        .post_json(
            &format!("{base}/level"),
            &json!({"level": 2, "reason": "降雨持续"}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json()["level"], 2);
    app.post_json(
        &format!("{base}/level"),
        &json!({"level": 2, "reason": "again"}),
        Some(&centre),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    app.post_json(
        &format!("{base}/level"),
        &json!({"level": 1, "reason": "x"}),
        Some(&head),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let village_centre = app.token(&format!("center-{VILLAGE}")).await;
    app.post_json(
        &format!("{base}/reports"),
        &json!({"text": "达麦村34户已全部转移"}),
        Some(&village_centre),
    )
    .await
    .expect(StatusCode::OK);
    app.post_json(
        &format!("{base}/stand-down"),
        &json!({"summary": "险情解除"}),
        Some(&centre),
    )
    .await
    .expect(StatusCode::OK);
    app.post_json(
        &rc,
        &json!({"entries": [{"household": ids[1], "status": "safe"}]}),
        Some(&head),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    let tl = app
        .get(&format!("{base}/timeline"), Some(&head))
        .await
        .json();
    let kinds: Vec<&str> = tl
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["activated", "level_changed", "report", "stood_down"]
    );
    assert_eq!(tl[1]["from_level"], 3);

    // The after-action report, as JSON and as a workbook.
    let rep = app.get(&format!("{base}/report"), Some(&centre)).await;
    rep.expect(StatusCode::OK);
    assert_eq!(rep.json()["injured"].as_array().unwrap().len(), 1);
    let x = app.get(&format!("{base}/report.xlsx"), Some(&centre)).await;
    x.expect(StatusCode::OK);
    assert!(
        x.header(header::CONTENT_TYPE)
            .unwrap()
            .contains("spreadsheetml")
    );
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(x.body.clone())).unwrap();
    let names = book.sheet_names().to_vec();
    assert!(
        names.contains(&"各村清点".to_owned()) && names.contains(&"受伤户".to_owned()),
        "{names:?}"
    );
    let sheet = book.worksheet_range("受伤户").unwrap();
    assert_eq!(sheet.height(), 2, "header and one household");
}

#[tokio::test]
async fn the_board_and_the_field_pages_render() {
    let app = App::new().await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let r = activate(&app, &centre, &[VILLAGE], 3, "页面检查").await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();
    let s = app.session(&format!("center-{TOWNSHIP}")).await;
    let page = app.page(&format!("/incidents/{id}"), Some(&s)).await;
    page.expect(StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("页面检查") && html.contains("各村（社区）清点"),
        "board"
    );
    assert!(
        html.contains("/static/emergency/board.js") && !html.contains("<script>"),
        "no inline script"
    );
    let live = app
        .page(&format!("/incidents/{id}/live.json"), Some(&s))
        .await;
    live.expect(StatusCode::OK);
    assert_eq!(live.json()["id"], id);
    app.page("/incidents", Some(&s))
        .await
        .expect(StatusCode::OK);
    // A refused activation comes back as the page with its error, 422.
    let r = app
        .post_form(
            "/incidents",
            &[
                ("csrf", &csrf_of(&html)),
                ("plan", "flood"),
                ("territories", "not-a-code"),
                ("level", "3"),
                ("title", "页面检查"),
            ],
            Some(&s),
        )
        .await;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("class=\"error\""), "{}", r.text());
    let rep = app.page(&format!("/incidents/{id}/report"), Some(&s)).await;
    rep.expect(StatusCode::OK);

    // A level change through the board's form (with its CSRF token).
    let csrf = csrf_of(&html);
    let r = app
        .post_form(
            &format!("/incidents/{id}/command"),
            &[
                ("csrf", &csrf),
                ("action", "order"),
                ("text", "沟道两侧群众立即转移"),
            ],
            Some(&s),
        )
        .await;
    assert!(r.status.is_redirection(), "{}", r.status);

    // The head's roll-call screen: his households with a button per status, his instruction.
    let hs = app.session("head-623027202201001001").await;
    let f = app.page("/field/rollcall", Some(&hs)).await;
    f.expect(StatusCode::OK);
    let fh = f.text();
    assert!(
        fh.contains("页面检查") && fh.contains("value=\"evacuated\""),
        "field page"
    );
    assert!(fh.contains("/static/field/rollcall.js"));
    let csrf = csrf_of(&fh);
    let hh: i64 = fh
        .split("data-household=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .parse()
        .unwrap();
    // Without JavaScript: one form post per tap.
    let r = app
        .post_form(
            &format!("/field/rollcall/{id}"),
            &[
                ("csrf", &csrf),
                ("household", &hh.to_string()),
                ("status", "safe"),
            ],
            Some(&hs),
        )
        .await;
    assert!(r.status.is_redirection(), "{} {}", r.status, r.text());
    let v = app
        .get(&format!("/api/v1/incidents/{id}"), Some(&centre))
        .await
        .json();
    assert_eq!(v["rollcall"]["safe"], 1);
    for js in [
        "/static/field/rollcall.js",
        "/static/field/queue.js",
        "/static/emergency/board.js",
    ] {
        app.page(js, None).await.expect(StatusCode::OK);
    }
}

#[tokio::test]
async fn the_damai_replay_ends_with_34_households_evacuated_and_nobody_hurt() {
    let app = App::new().await;
    let id = server::demo_incident::replay(app.state.db.clone())
        .await
        .expect("the replay runs on the demo");
    let centre = app.token("center-623027").await;
    let v = app
        .get(&format!("/api/v1/incidents/{id}"), Some(&centre))
        .await
        .json();
    assert_eq!(v["status"], "stood_down");
    assert_eq!(v["territories"], json!([TOWNSHIP]));
    let village = v["villages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == VILLAGE)
        .unwrap()
        .clone();
    assert_eq!(village["rollcall"]["evacuated"], 34, "{village}");
    let r = &v["rollcall"];
    for s in ["injured", "missing", "unreached"] {
        assert_eq!(r[s], 0, "{s}: {r}");
    }
    assert_eq!(
        r["safe"].as_i64().unwrap() + r["evacuated"].as_i64().unwrap(),
        v["households_total"].as_i64().unwrap()
    );
    assert_eq!(
        v["instructions_acknowledged"].as_i64().unwrap(),
        v["instructions_total"].as_i64().unwrap() - 3
    );
    let tl = app
        .get(&format!("/api/v1/incidents/{id}/timeline"), Some(&centre))
        .await
        .json();
    let kinds: Vec<&str> = tl
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "activated",
            "order",
            "report",
            "report",
            "level_changed",
            "stood_down"
        ]
    );
    assert!(tl[2]["text"].as_str().unwrap().contains("34户"), "{tl}");
    let evacuated = app
        .get(
            &format!("/api/v1/incidents/{id}/households?status=evacuated&limit=100"),
            Some(&centre),
        )
        .await
        .json();
    let items = evacuated["items"].as_array().unwrap();
    assert_eq!(items.len(), 34);
    assert!(items.iter().all(|h| h["village"] == VILLAGE));
}

#[tokio::test]
async fn incident_changes_go_live_and_each_level_keeps_its_acknowledgements() {
    use crate::events::{Sse, Stream};
    use std::time::Duration;
    let app = App::new().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let head = app.token(&format!("head-{}", p.group)).await;
    let auth = |t: &str| format!("Bearer {t}");
    let stream = |node: &str| format!("/api/v1/events?territory={node}");
    // The township's stream, a stream below the area (the head's group: an incident is news
    // for every node inside it) and one of another township (not its news).
    let mut town = Stream::open(&app, &stream(TOWNSHIP), ("authorization", &auth(&centre))).await;
    let mut group = Stream::open(&app, &stream(&p.group), ("authorization", &auth(&head))).await;
    let mut other = Stream::open(
        &app,
        &stream(&p.other_township),
        ("authorization", &auth(&admin)),
    )
    .await;

    let r = activate(&app, &centre, &[VILLAGE], 3, "直播与各轮签收").await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();
    let base = format!("/api/v1/incidents/{id}");
    let wait = Duration::from_secs(10);
    let of = |kind: &'static str| {
        let id = id.to_string();
        move |e: &Sse| e.event.as_deref() == Some(kind) && e.data["incident"] == id.as_str()
    };
    let heard = town
        .until(wait, of("incident_activated"))
        .await
        .expect("township hears it");
    assert_eq!(heard.data["level"], 3);
    assert_eq!(
        heard.data["territory"], VILLAGE,
        "published at the area's node"
    );
    group
        .until(wait, of("incident_activated"))
        .await
        .expect("the group hears it");

    // The head acknowledges his instruction, then reports a batch.
    let mine = app.get("/api/v1/me/instructions", Some(&head)).await.json();
    let seq = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["incident"] == id)
        .expect("the head has an instruction")["seq"]
        .as_i64()
        .unwrap();
    let ack = format!("{base}/instructions/{seq}/ack");
    app.post_json(&ack, &json!({}), Some(&head))
        .await
        .expect(StatusCode::OK);
    town.until(wait, of("incident_acknowledged"))
        .await
        .expect("ack heard");
    let households = app
        .get(&format!("{base}/households"), Some(&head))
        .await
        .json();
    let h = households["items"][0]["household"].as_i64().unwrap();
    app.post_json(
        &format!("{base}/rollcall"),
        &json!({"entries": [{"household": h, "status": "safe"}]}),
        Some(&head),
    )
    .await
    .expect(StatusCode::OK);
    group
        .until(wait, of("incident_rollcall"))
        .await
        .expect("roll call heard");

    // Raised to Ⅱ: sent again, to be acknowledged again; the first round keeps its one.
    app.post_json(
        &format!("{base}/level"),
        &json!({"level": 2, "reason": "降雨加剧"}),
        Some(&centre),
    )
    .await
    .expect(StatusCode::OK);
    let changed = town
        .until(wait, of("incident_changed"))
        .await
        .expect("level heard");
    assert_eq!(changed.data["level"], 2);
    assert_eq!(changed.data["events"], json!(["level_changed"]));
    let v = app.get(&base, Some(&centre)).await.json();
    assert_eq!(
        v["instructions_acknowledged"], 0,
        "the new round starts unacknowledged"
    );
    let report = app
        .get(&format!("{base}/report"), Some(&centre))
        .await
        .json();
    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{report}");
    assert_eq!(
        (
            rounds[0]["level"].as_i64(),
            rounds[0]["acknowledged"].as_i64()
        ),
        (Some(3), Some(1))
    );
    assert_eq!(
        (
            rounds[1]["level"].as_i64(),
            rounds[1]["acknowledged"].as_i64()
        ),
        (Some(2), Some(0))
    );
    app.post_json(&ack, &json!({}), Some(&head))
        .await
        .expect(StatusCode::OK);
    let report = app
        .get(&format!("{base}/report"), Some(&centre))
        .await
        .json();
    let rounds = report["rounds"].as_array().unwrap();
    assert_eq!(rounds[0]["acknowledged"], 1);
    assert_eq!(rounds[1]["acknowledged"], 1);
    assert_eq!(
        rounds[1]["instructions"], v["instructions_total"],
        "every instruction was sent again"
    );
    // The workbook has the rounds too.
    let x = app.get(&format!("{base}/report.xlsx"), Some(&centre)).await;
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(x.body.clone())).unwrap();
    assert_eq!(book.worksheet_range("各轮签收").unwrap().height(), 3);

    // Another township's stream heard none of it.
    assert!(
        other
            .until(Duration::from_millis(300), |e| e.data["incident"]
                == id.to_string().as_str())
            .await
            .is_none(),
        "{:?}",
        other.seen
    );
}
