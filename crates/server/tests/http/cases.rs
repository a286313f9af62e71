//! Cases: the closed loop of DOMAIN.md §3 through the API of CONTRACT.md, and the case pages.
//!
//! Every test isolates its cases from the others' (they share the database): by the ids it
//! created, or by a search tag no other case carries. Tests that look at time run on a
//! `FixedClock` with a day of their own, so counters keyed by (unit, day) and supervision
//! timers are theirs alone. The clock tests sit in February to April 2025 and only ever
//! fire timers that fall due there; the other fixed-clock tests sit in June 2025 and the
//! rest run on the wall clock, after both.

use super::*;
use chrono::{DateTime, Duration, NaiveDate};
use domain::case::{Case, Change, Event, SuperviseLevel};
use geo::InteriorPoint;

/// 达麦乡's justice office and police station; 夏河县's police bureau.
const TOWNSHIP_JUSTICE: &str = "623027202-justice";
const TOWNSHIP_POLICE: &str = "623027202-police";
const COUNTY: &str = "623027";
const COUNTY_POLICE: &str = "623027-police";
/// 草场纠纷: owned by the township (its natural-resources office exists only at the county).
const PASTURE: &str = "attention.dispute.pasture";
/// 盗窃: owned by the township, for its police station.
const THEFT: &str = "attention.security.theft";
/// 垃圾: owned by the village.
const GARBAGE: &str = "management.environment.garbage";
/// 政策咨询: owned by the village; 2 working hours to accept.
const POLICY: &str = "service.policy";

/// A word of Latin letters no other case of this run carries (one search term).
fn tag() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut v = (N.fetch_add(1, Ordering::SeqCst) as u64) << 32 | u64::from(nanos);
    let mut s = String::from("zq");
    while v > 0 {
        s.push((b'a' + (v % 26) as u8) as char);
        v /= 26;
    }
    s
}

/// Move a fixed clock to `t`.
fn set_clock(clock: &FixedClock, t: DateTime<Utc>) {
    clock.advance(t - clock.now());
}

/// A Beijing-time instant (UTC+8).
fn beijing(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap() - Duration::hours(8)
}

/// What most tests need: the app, an admin token, two grids of 达麦村 with a point inside
/// each, and another township of 夏河县.
struct Fx {
    admin: String,
    grid: String,
    other_grid: String,
    point: (f64, f64),
    other_point: (f64, f64),
    other_township: String,
    group: String,
}

async fn fixture(app: &App) -> Fx {
    let admin = app.token("admin").await;
    let p = picks(app, &admin).await;
    let point = point_in(app, &admin, &p.grid).await;
    let other_point = point_in(app, &admin, &p.other_grid).await;
    Fx {
        admin,
        grid: p.grid,
        other_grid: p.other_grid,
        point,
        other_point,
        other_township: p.other_township,
        group: p.group,
    }
}

/// A point inside a grid (WGS-84 lng, lat), checked with `/api/v1/locate`.
async fn point_in(app: &App, admin: &str, grid: &str) -> (f64, f64) {
    let node = app.territory(admin, grid).await;
    let shape = server::actions::territory::parse_multipolygon(&node["geometry"].to_string())
        .unwrap_or_else(|| panic!("grid {grid} has no outline"));
    let p = shape.interior_point().expect("an interior point");
    let r = app
        .get(
            &format!("/api/v1/locate?lng={}&lat={}", p.x(), p.y()),
            Some(admin),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json()["grid"], grid, "the interior point of {grid}");
    (p.x(), p.y())
}

fn located(category: &str, description: &str, (lng, lat): (f64, f64)) -> Value {
    json!({
        "category": category,
        "description": description,
        "location": {"lng": lng, "lat": lat},
    })
}

async fn post_case(app: &App, token: &str, body: &Value) -> Resp {
    app.post_json("/api/v1/cases", body, Some(token)).await
}

async fn create(app: &App, token: &str, body: Value) -> Value {
    let r = post_case(app, token, &body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "create {body}: {}",
        r.text().chars().take(500).collect::<String>()
    );
    r.json()
}

fn id_of(case: &Value) -> String {
    case["id"].as_str().expect("a case id (string)").to_owned()
}

fn num_id(case: &Value) -> i64 {
    id_of(case).parse().expect("a numeric case id")
}

/// The case pages call the same actions as the API: a form with the session's csrf token
/// accepts and dispatches; a wrong token is refused; a missing reason re-renders the page
/// with the typed values kept; the queue lists the desk's cases.
#[tokio::test]
async fn case_pages_act_through_forms_with_csrf() {
    let app = App::new().await;
    let worker = app.token("worker-623027202201002").await;
    let case = create(
        &app,
        &worker,
        json!({"category": "attention.dispute.pasture",
               "description": "页面测试 草场纠纷 formcheck",
               "territory": "623027202201002"}),
    )
    .await;
    let id = id_of(&case);
    let session = app.session("center-623027202").await;
    let page = app.page(&format!("/cases/{id}"), Some(&session)).await;
    page.expect(StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("formcheck"),
        "the case page shows the description"
    );
    let csrf = csrf_of(&html);

    let r = app
        .post_form(
            &format!("/cases/{id}/act"),
            &[("csrf", "wrong"), ("action", "accept")],
            Some(&session),
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    assert_eq!(get_case(&app, &worker, &id).await["status"], "submitted");

    let r = app
        .post_form(
            &format!("/cases/{id}/act"),
            &[("csrf", &csrf), ("action", "accept")],
            Some(&session),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "{}",
        r.text().chars().take(300).collect::<String>()
    );
    assert_eq!(get_case(&app, &worker, &id).await["status"], "accepted");

    let r = app
        .post_form(
            &format!("/cases/{id}/act"),
            &[
                ("csrf", &csrf),
                ("action", "reject"),
                ("redirect", "12345热线-typed"),
            ],
            Some(&session),
        )
        .await;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("12345热线-typed"),
        "what was typed is kept"
    );
    assert_eq!(get_case(&app, &worker, &id).await["status"], "accepted");

    let r = app
        .post_form(
            &format!("/cases/{id}/act"),
            &[
                ("csrf", &csrf),
                ("action", "dispatch"),
                ("to", "623027202201002"),
            ],
            Some(&session),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(get_case(&app, &worker, &id).await["status"], "dispatched");

    let wsession = app.session("worker-623027202201002").await;
    let queue = app.page("/cases", Some(&wsession)).await;
    queue.expect(StatusCode::OK);
    assert!(
        queue.text().contains(case["code"].as_str().unwrap()),
        "the grid's queue lists the case"
    );
    let outsider = app.session("center-623027100").await;
    app.page(&format!("/cases/{id}"), Some(&outsider))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn act(app: &App, token: &str, id: &str, body: Value) -> Resp {
    app.post_json(&format!("/api/v1/cases/{id}/actions"), &body, Some(token))
        .await
}

/// Act and expect 200 with the case's new `status`; returns the case.
async fn act_ok(app: &App, token: &str, id: &str, body: Value, status: &str) -> Value {
    let r = act(app, token, id, body.clone()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{body} on case {id}: {}",
        r.text().chars().take(500).collect::<String>()
    );
    let case = r.json();
    assert_eq!(case["status"], status, "{body} on case {id}: {case}");
    case
}

async fn get_case(app: &App, token: &str, id: &str) -> Value {
    let r = app.get(&format!("/api/v1/cases/{id}"), Some(token)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "GET case {id}: {}",
        r.text().chars().take(300).collect::<String>()
    );
    r.json()
}

async fn account_id(app: &App, token: &str) -> i64 {
    app.get("/api/v1/me", Some(token)).await.json()["id"]
        .as_i64()
        .expect("an account id")
}

fn history(case: &Value) -> &Vec<Value> {
    case["history"].as_array().expect("a history")
}

fn actions(case: &Value) -> Vec<String> {
    history(case)
        .iter()
        .map(|h| h["action"].as_str().unwrap().to_owned())
        .collect()
}

fn allowed(case: &Value) -> Vec<String> {
    case["allowed_actions"]
        .as_array()
        .expect("allowed_actions")
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// A 422 naming `field`.
#[track_caller]
fn expect_field(r: &Resp, field: &str) {
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(r.json()["error"]["field"], field, "{}", r.text());
}

/// The ids of a case list.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

async fn list(app: &App, token: &str, query: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/cases?{query}"), Some(token))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "list ?{query}: {}",
        r.text().chars().take(300).collect::<String>()
    );
    r.json()
}

/// The stored history of a case as the engine's events.
async fn events(state: &AppState, id: i64) -> Vec<Event> {
    state
        .db
        .case_events(id)
        .await
        .expect("case events")
        .iter()
        .map(|e| serde_json::from_str(&e.body).expect("an event body"))
        .collect()
}

/// The automatic supervisions of a case, in order.
async fn automatic_cards(state: &AppState, id: i64) -> Vec<SuperviseLevel> {
    events(state, id)
        .await
        .iter()
        .filter_map(|e| match &e.change {
            Change::Supervise {
                level,
                automatic: true,
                ..
            } => {
                assert!(e.by.is_none(), "an automatic card has no actor: {e:?}");
                assert_eq!(e.from_status, Some(e.to_status), "a card moves nothing");
                Some(*level)
            }
            _ => None,
        })
        .collect()
}

/// The store's counters of every unit these cases touched, over `from..=to`, equal the
/// recount of their histories; and each history replayed gives the stored case.
async fn assert_counters_match(state: &AppState, ids: &[i64], from: NaiveDate, to: NaiveDate) {
    let mut want: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for &id in ids {
        let history = events(state, id).await;
        for ((unit, day, counter), n) in domain::case::recount(&history) {
            assert!(
                (from..=to).contains(&day),
                "case {id}: counter {counter} of {unit} on {day}, outside {from}..={to}"
            );
            *want
                .entry(unit)
                .or_default()
                .entry(counter.as_str().to_owned())
                .or_default() += n;
        }
        let rec = state.db.case_by_id(id).await.unwrap().expect("the case");
        let stored: Case = serde_json::from_str(&rec.state).expect("the stored case");
        assert_eq!(
            domain::case::replay(&history).expect("the history replays"),
            stored,
            "case {id}: the history replayed is not the stored case"
        );
    }
    assert!(!want.is_empty(), "no counters at all");
    for (unit, counters) in &want {
        let counters: BTreeMap<String, i64> = counters
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(c, n)| (c.clone(), *n))
            .collect();
        let got: BTreeMap<String, i64> = state
            .db
            .counter_totals(unit, from, to)
            .await
            .expect("counter totals")
            .into_iter()
            .filter(|(_, n)| *n != 0)
            .collect();
        assert_eq!(got, counters, "counters of {unit} over {from}..={to}");
    }
}

async fn store_counters(state: &AppState, unit: &str, day: NaiveDate) -> BTreeMap<String, i64> {
    state
        .db
        .counter_totals(unit, day, day)
        .await
        .expect("counter totals")
        .into_iter()
        .collect()
}

/// Create a case at the township's centre and run it to `in_progress` at `unit` (a
/// department of the township): accept, dispatch, sign.
async fn in_progress_at(app: &App, centre: &str, handler: &str, unit: &str, body: Value) -> String {
    let id = id_of(&create(app, centre, body).await);
    act_ok(app, centre, &id, json!({"action": "accept"}), "accepted").await;
    let c = act_ok(
        app,
        centre,
        &id,
        json!({"action": "dispatch", "to": {"unit": unit}}),
        "dispatched",
    )
    .await;
    assert_eq!(c["handling_unit"], unit);
    act_ok(app, handler, &id, json!({"action": "sign"}), "in_progress").await;
    id
}

// -----------------------------------------------------------------------------------------
// 9.1 The loop of issue 3's "done when", and the counters it leaves

#[tokio::test]
async fn a_case_in_a_grid_of_damai_runs_the_whole_loop_and_its_counters_match_its_history() {
    // A day of its own (Tuesday 2025-06-10, 10:00 Beijing), so the counters of the units
    // on that day are this case's alone.
    let clock = FixedClock::at(beijing(2025, 6, 10, 10, 0));
    let app = App::with_clock(Arc::new(clock.clone())).await;
    let fx = fixture(&app).await;
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let handler = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let (worker_id, centre_id, handler_id) = (
        account_id(&app, &worker).await,
        account_id(&app, &centre).await,
        account_id(&app, &handler).await,
    );

    let t = tag();
    let mut body = located(
        PASTURE,
        &format!("两户牧民为冬季草场的界线发生争执，请求调解。{t}"),
        fx.point,
    );
    body["reporter"] = json!({"name": "才让", "phone": "13800001234"});
    let created = create(&app, &worker, body).await;
    assert_eq!(created["status"], "submitted");
    assert_eq!(created["territory"], fx.grid.as_str(), "lands in its grid");
    assert_eq!(
        created["centre"], TOWNSHIP,
        "a pasture dispute is the township's"
    );
    assert_eq!(created["handling_unit"], TOWNSHIP);
    assert_eq!(created["handling_level"], "township");
    assert_eq!(created["category"], PASTURE);
    assert_eq!(
        created["channel"], "field_app",
        "a grid worker reports from the field"
    );
    assert_eq!(created["urgency"], "normal");
    assert_eq!(created["light"], "green");
    assert_eq!(created["step"], "accept");
    assert!(time(&created["deadline"]) > clock.now());
    let code = created["code"].as_str().unwrap();
    assert!(code.starts_with("GN20250610"), "code {code}");
    let loc = &created["location"];
    assert!(
        (loc["lng"].as_f64().unwrap() - fx.point.0).abs() < 1e-9,
        "{loc}"
    );
    assert!(
        (loc["lat"].as_f64().unwrap() - fx.point.1).abs() < 1e-9,
        "{loc}"
    );
    let id = id_of(&created);
    // Found by its code too.
    assert_eq!(get_case(&app, &centre, code).await["id"], id.as_str());
    assert!(allowed(&get_case(&app, &centre, &id).await).contains(&"accept".to_owned()));
    assert_eq!(
        allowed(&get_case(&app, &worker, &id).await),
        ["self_handle"],
        "the grid worker may only handle it himself"
    );

    let steps: [(&str, Value, &str, &str); 6] = [
        (&centre, json!({"action": "accept"}), "accepted", TOWNSHIP),
        (
            &centre,
            json!({"action": "dispatch", "to": {"unit": TOWNSHIP_JUSTICE}}),
            "dispatched",
            TOWNSHIP_JUSTICE,
        ),
        (
            &handler,
            json!({"action": "sign"}),
            "in_progress",
            TOWNSHIP_JUSTICE,
        ),
        (
            &handler,
            json!({"action": "report_handled", "result": "solved", "text": "经调解双方同意以河沟为界，签订协议。"}),
            "handled",
            TOWNSHIP_JUSTICE,
        ),
        (
            &centre,
            json!({"action": "verify", "passed": true}),
            "revisit",
            TOWNSHIP_JUSTICE,
        ),
        (
            &centre,
            json!({"action": "revisit", "satisfaction": "satisfied"}),
            "closed",
            TOWNSHIP_JUSTICE,
        ),
    ];
    for (token, body, status, unit) in steps {
        clock.advance(Duration::minutes(20));
        let c = act_ok(&app, token, &id, body, status).await;
        assert_eq!(c["handling_unit"], unit, "{c}");
        assert_eq!(c["handling_level"], "township", "{c}");
        assert_eq!(c["centre"], TOWNSHIP, "{c}");
        if status == "dispatched" {
            let seen = get_case(&app, &handler, &id).await;
            assert!(allowed(&seen).contains(&"sign".to_owned()), "{seen}");
            assert!(!allowed(&get_case(&app, &centre, &id).await).contains(&"sign".to_owned()));
        }
    }

    let closed = get_case(&app, &centre, &id).await;
    assert_eq!(closed["result"], "solved");
    assert_eq!(closed["satisfaction"], "satisfied");
    assert!(
        closed["light"].is_null() && closed["deadline"].is_null(),
        "{closed}"
    );
    assert!(allowed(&closed).is_empty(), "a closed case allows nothing");
    let h = history(&closed);
    let expected = [
        (
            "create",
            worker_id,
            "grid_worker",
            "grid",
            None,
            "submitted",
        ),
        (
            "accept",
            centre_id,
            "center_operator",
            "township",
            Some("submitted"),
            "accepted",
        ),
        (
            "dispatch",
            centre_id,
            "center_operator",
            "township",
            Some("accepted"),
            "dispatched",
        ),
        (
            "sign",
            handler_id,
            "department_handler",
            "township",
            Some("dispatched"),
            "in_progress",
        ),
        (
            "report_handled",
            handler_id,
            "department_handler",
            "township",
            Some("in_progress"),
            "handled",
        ),
        (
            "verify",
            centre_id,
            "center_operator",
            "township",
            Some("handled"),
            "revisit",
        ),
        (
            "revisit",
            centre_id,
            "center_operator",
            "township",
            Some("revisit"),
            "closed",
        ),
    ];
    assert_eq!(h.len(), expected.len(), "{closed}");
    let mut last_at = None;
    for (i, (e, (action, by, role, level, from, to))) in h.iter().zip(expected).enumerate() {
        assert_eq!(e["seq"], i as i64 + 1, "{e}");
        assert_eq!(e["action"], action, "{e}");
        assert_eq!(e["by"], by, "{e}");
        assert_eq!(e["by_role"], role, "{e}");
        assert_eq!(e["by_level"], level, "{e}");
        assert_eq!(e["from_status"].as_str(), from, "{e}");
        assert_eq!(e["to_status"], to, "{e}");
        let at = time(&e["at"]);
        assert!(last_at.is_none_or(|l| l < at), "times go forward: {e}");
        last_at = Some(at);
    }
    assert_eq!(h[4]["text"], "经调解双方同意以河沟为界，签订协议。");

    // Nothing moves a closed case.
    let r = act(
        &app,
        &centre,
        &id,
        json!({"action": "note", "text": "补记"}),
    )
    .await;
    r.expect_error(StatusCode::CONFLICT, "conflict");

    // Counters (item 6): what the store kept equals the recount of the stored history…
    let day = NaiveDate::from_ymd_opt(2025, 6, 10).unwrap();
    let n = num_id(&closed);
    assert_counters_match(&app.state, &[n], day, day).await;
    // …and it is the expected assessment of this loop.
    let centre_counts = store_counters(&app.state, TOWNSHIP, day).await;
    for (c, v) in [
        ("received", 1),
        ("due_accept", 1),
        ("accepted_on_time", 1),
        ("dispatched", 1),
        ("dispatched_accurately", 1),
    ] {
        assert_eq!(
            centre_counts.get(c),
            Some(&v),
            "{c} of {TOWNSHIP}: {centre_counts:?}"
        );
    }
    let unit_counts = store_counters(&app.state, TOWNSHIP_JUSTICE, day).await;
    for (c, v) in [
        ("due_sign", 1),
        ("signed_on_time", 1),
        ("due_close", 1),
        ("closed_on_time", 1),
        ("revisited", 1),
        ("satisfied", 1),
        ("closed", 1),
    ] {
        assert_eq!(
            unit_counts.get(c),
            Some(&v),
            "{c} of {TOWNSHIP_JUSTICE}: {unit_counts:?}"
        );
    }
    assert!(store_counters(&app.state, &fx.grid, day).await.is_empty());
}

// -----------------------------------------------------------------------------------------
// 9.2 Every other path of DOMAIN.md §3

#[tokio::test]
async fn send_back_returns_the_case_to_the_owning_centre() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let police = app.token(&format!("handler-{TOWNSHIP_POLICE}")).await;
    let justice = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let id = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, "草场边界纠纷，误派派出所", fx.point),
        )
        .await,
    );
    act_ok(&app, &centre, &id, json!({"action": "accept"}), "accepted").await;
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "dispatch", "to": {"unit": TOWNSHIP_POLICE}}),
        "dispatched",
    )
    .await;

    // The reason is required.
    expect_field(
        &act(&app, &police, &id, json!({"action": "send_back"})).await,
        "reason",
    );
    expect_field(
        &act(
            &app,
            &police,
            &id,
            json!({"action": "send_back", "reason": "  "}),
        )
        .await,
        "reason",
    );
    let c = act_ok(
        &app,
        &police,
        &id,
        json!({"action": "send_back", "reason": "草场纠纷不属派出所职责"}),
        "accepted",
    )
    .await;
    assert_eq!(c["handling_unit"], TOWNSHIP, "back at the owning centre");
    assert_eq!(c["centre"], TOWNSHIP);
    assert_eq!(c["handling_level"], "township");
    let last = history(&c).last().unwrap().clone();
    assert_eq!(last["action"], "send_back");
    assert_eq!(last["by_role"], "department_handler");
    assert_eq!(last["from_status"], "dispatched");
    assert_eq!(last["to_status"], "accepted");
    assert_eq!(last["reason"], "草场纠纷不属派出所职责");

    // The police station has no part in it any more; the centre dispatches again.
    act(&app, &police, &id, json!({"action": "sign"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "dispatch", "to": {"unit": TOWNSHIP_JUSTICE}}),
        "dispatched",
    )
    .await;
    act_ok(
        &app,
        &justice,
        &id,
        json!({"action": "sign"}),
        "in_progress",
    )
    .await;
    // Sending back after signing works too.
    let c = act_ok(
        &app,
        &justice,
        &id,
        json!({"action": "send_back", "reason": "需县自然资源局确权"}),
        "accepted",
    )
    .await;
    assert_eq!(c["handling_unit"], TOWNSHIP);
}

#[tokio::test]
async fn escalation_takes_the_case_to_the_county_whose_police_handles_it() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let township = app.token(&format!("center-{TOWNSHIP}")).await;
    let county = app.token(&format!("center-{COUNTY}")).await;
    let police = app.token(&format!("handler-{COUNTY_POLICE}")).await;
    let c = create(
        &app,
        &township,
        located(THEFT, "连续多起牦牛被盗，涉及跨县团伙", fx.point),
    )
    .await;
    assert_eq!(c["centre"], TOWNSHIP, "theft is the township's first");
    let id = id_of(&c);
    act_ok(
        &app,
        &township,
        &id,
        json!({"action": "accept"}),
        "accepted",
    )
    .await;
    // The county's department is not the township's to dispatch to.
    expect_field(
        &act(
            &app,
            &township,
            &id,
            json!({"action": "dispatch", "to": {"unit": COUNTY_POLICE}}),
        )
        .await,
        "to",
    );
    expect_field(
        &act(&app, &township, &id, json!({"action": "escalate"})).await,
        "reason",
    );
    let c = act_ok(
        &app,
        &township,
        &id,
        json!({"action": "escalate", "reason": "跨县作案，超出乡镇处置能力"}),
        "accepted",
    )
    .await;
    assert_eq!(c["centre"], COUNTY);
    assert_eq!(c["handling_unit"], COUNTY);
    assert_eq!(c["handling_level"], "county");
    assert_eq!(c["territory"], fx.grid.as_str(), "the place does not move");
    // The township no longer owns it, but still sees it.
    act(
        &app,
        &township,
        &id,
        json!({"action": "dispatch", "to": {"unit": TOWNSHIP_POLICE}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    get_case(&app, &township, &id).await;

    let c = act_ok(
        &app,
        &county,
        &id,
        json!({"action": "dispatch", "to": {"unit": COUNTY_POLICE}}),
        "dispatched",
    )
    .await;
    assert_eq!(c["handling_unit"], COUNTY_POLICE);
    assert_eq!(c["handling_level"], "county");
    act_ok(&app, &police, &id, json!({"action": "sign"}), "in_progress").await;
    act_ok(
        &app,
        &police,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "团伙已抓获，牦牛已追回"}),
        "handled",
    )
    .await;
    act_ok(
        &app,
        &county,
        &id,
        json!({"action": "verify", "passed": true}),
        "revisit",
    )
    .await;
    let c = act_ok(&app, &county, &id, json!({"action": "close"}), "closed").await;
    let h = history(&c);
    assert_eq!(
        actions(&c),
        [
            "create",
            "accept",
            "escalate",
            "dispatch",
            "sign",
            "report_handled",
            "verify",
            "close"
        ]
    );
    assert_eq!(h[2]["by_level"], "township");
    assert_eq!(h[2]["reason"], "跨县作案，超出乡镇处置能力");
    assert_eq!(
        (h[2]["from_status"].as_str(), h[2]["to_status"].as_str()),
        (Some("accepted"), Some("accepted"))
    );
    for e in &h[3..] {
        assert_eq!(e["by_level"], "county", "{e}");
    }
    assert_eq!(h[4]["by_role"], "department_handler");
}

#[tokio::test]
async fn a_failed_verification_sends_the_work_back_to_the_same_unit() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let handler = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let id = in_progress_at(
        &app,
        &centre,
        &handler,
        TOWNSHIP_JUSTICE,
        located(PASTURE, "草场围栏被推倒", fx.point),
    )
    .await;
    act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "report_handled", "result": "partly_solved", "text": "围栏已扶起一半"}),
        "handled",
    )
    .await;
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "verify", "passed": false}),
        "in_progress",
    )
    .await;
    assert_eq!(
        c["handling_unit"], TOWNSHIP_JUSTICE,
        "rework at the same unit"
    );
    assert!(c["result"].is_null(), "the rejected result is cleared: {c}");
    let last = history(&c).last().unwrap().clone();
    assert_eq!(
        (
            last["action"].as_str(),
            last["from_status"].as_str(),
            last["to_status"].as_str()
        ),
        (Some("verify"), Some("handled"), Some("in_progress"))
    );
    // The centre cannot report for the unit; the unit reports again.
    act(
        &app,
        &centre,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "x"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "围栏全部修复"}),
        "handled",
    )
    .await;
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "verify", "passed": true}),
        "revisit",
    )
    .await;
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "revisit", "satisfaction": "very_satisfied"}),
        "closed",
    )
    .await;
    assert_eq!(c["result"], "solved");
    assert_eq!(
        actions(&c),
        [
            "create",
            "accept",
            "dispatch",
            "sign",
            "report_handled",
            "verify",
            "report_handled",
            "verify",
            "revisit"
        ]
    );
}

#[tokio::test]
async fn an_unsatisfied_return_visit_reopens_the_case() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let handler = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let id = in_progress_at(
        &app,
        &centre,
        &handler,
        TOWNSHIP_JUSTICE,
        located(PASTURE, "夏季草场轮牧纠纷", fx.point),
    )
    .await;
    act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "已调解"}),
        "handled",
    )
    .await;
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "verify", "passed": true}),
        "revisit",
    )
    .await;
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "revisit", "satisfaction": "unsatisfied"}),
        "in_progress",
    )
    .await;
    assert_eq!(
        c["handling_unit"], TOWNSHIP_JUSTICE,
        "reopened (重办) at the unit that handled it"
    );
    assert!(c["satisfaction"].is_null() && c["result"].is_null(), "{c}");
    assert_eq!(c["step"], "handle");
    let last = history(&c).last().unwrap().clone();
    assert_eq!(
        (last["from_status"].as_str(), last["to_status"].as_str()),
        (Some("revisit"), Some("in_progress"))
    );
    act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "重新划定轮牧时间"}),
        "handled",
    )
    .await;
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "verify", "passed": true}),
        "revisit",
    )
    .await;
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "revisit", "satisfaction": "satisfied"}),
        "closed",
    )
    .await;
    assert_eq!(c["satisfaction"], "satisfied");
    assert_eq!(actions(&c).iter().filter(|a| *a == "revisit").count(), 2);
}

#[tokio::test]
async fn parking_needs_approval_stops_the_clock_and_resumes() {
    // Tuesday 2025-06-17 10:00 Beijing: a day of its own.
    let clock = FixedClock::at(beijing(2025, 6, 17, 10, 0));
    let app = App::with_clock(Arc::new(clock.clone())).await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let handler = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let id = in_progress_at(
        &app,
        &centre,
        &handler,
        TOWNSHIP_JUSTICE,
        located(PASTURE, "草场确权需等待县级勘界", fx.point),
    )
    .await;
    let before = get_case(&app, &handler, &id).await;
    let deadline = time(&before["deadline"]);

    expect_field(
        &act(&app, &handler, &id, json!({"action": "request_park"})).await,
        "reason",
    );
    let c = act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "request_park", "reason": "待县自然资源局勘界"}),
        "in_progress",
    )
    .await;
    assert!(
        !allowed(&c).contains(&"decide_park".to_owned()),
        "nobody approves their own request"
    );
    act(
        &app,
        &handler,
        &id,
        json!({"action": "decide_park", "approve": true}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    // A second request while one is pending: not now.
    act(
        &app,
        &handler,
        &id,
        json!({"action": "request_park", "reason": "again"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    // The owning centre approves what the unit it dispatched to asks.
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "decide_park", "approve": true}),
        "parked",
    )
    .await;
    assert!(c["light"].is_null(), "no light while parked: {c}");
    let r = act(
        &app,
        &handler,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "x"}),
    )
    .await;
    r.expect_error(StatusCode::CONFLICT, "conflict");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resume"),
        "{}",
        r.text()
    );
    let listed = ids(&list(
        &app,
        &centre,
        &format!("status=parked&territory={}&limit=200", fx.grid),
    )
    .await);
    assert!(listed.contains(&id));

    // A day later (one working day of pause), the handler resumes; the clock stood still.
    clock.advance(Duration::days(1));
    let handler = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let c = act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "resume"}),
        "in_progress",
    )
    .await;
    let calendar = &domain::rules::Rules::gannan_default().calendar;
    assert_eq!(
        time(&c["deadline"]),
        calendar.add_working_days(deadline, 1),
        "the deadline moves by the working time parked"
    );
    assert_eq!(c["light"], "green");
    assert_eq!(actions(&c)[4..], ["request_park", "decide_park", "resume"]);

    // The centre's own request needs the level above (here the township's leader).
    clock.advance(Duration::minutes(10));
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let leader = app.token(&format!("leader-{TOWNSHIP}")).await;
    let own = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, "草场承包合同遗失待补办", fx.point),
        )
        .await,
    );
    act_ok(&app, &centre, &own, json!({"action": "accept"}), "accepted").await;
    act_ok(
        &app,
        &centre,
        &own,
        json!({"action": "request_park", "reason": "待补办合同"}),
        "accepted",
    )
    .await;
    act(
        &app,
        &centre,
        &own,
        json!({"action": "decide_park", "approve": true}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act_ok(
        &app,
        &leader,
        &own,
        json!({"action": "decide_park", "approve": true}),
        "parked",
    )
    .await;
    act_ok(&app, &centre, &own, json!({"action": "resume"}), "accepted").await;

    let days = (
        NaiveDate::from_ymd_opt(2025, 6, 17).unwrap(),
        NaiveDate::from_ymd_opt(2025, 6, 18).unwrap(),
    );
    let own_n: i64 = own.parse().unwrap();
    let n: i64 = id.parse().unwrap();
    assert_counters_match(&app.state, &[n, own_n], days.0, days.1).await;
}

#[tokio::test]
async fn an_approved_extension_moves_the_deadline() {
    // Tuesday 2025-06-24 10:00 Beijing: a day of its own.
    let clock = FixedClock::at(beijing(2025, 6, 24, 10, 0));
    let app = App::with_clock(Arc::new(clock.clone())).await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let handler = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let id = in_progress_at(
        &app,
        &centre,
        &handler,
        TOWNSHIP_JUSTICE,
        located(PASTURE, "草场纠纷当事人外出挖虫草", fx.point),
    )
    .await;
    let deadline = time(&get_case(&app, &handler, &id).await["deadline"]);
    for bad in [json!(0), json!(31), json!(-1), json!("3"), json!(1.5)] {
        expect_field(
            &act(
                &app,
                &handler,
                &id,
                json!({"action": "request_extension", "working_days": bad, "reason": "r"}),
            )
            .await,
            "working_days",
        );
    }
    expect_field(
        &act(
            &app,
            &handler,
            &id,
            json!({"action": "request_extension", "working_days": 3}),
        )
        .await,
        "reason",
    );
    // Nothing to decide yet.
    act(
        &app,
        &centre,
        &id,
        json!({"action": "decide_extension", "approve": true}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
    act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "request_extension", "working_days": 3, "reason": "当事人在山上挖虫草"}),
        "in_progress",
    )
    .await;
    act(
        &app,
        &handler,
        &id,
        json!({"action": "decide_extension", "approve": true}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    expect_field(
        &act(&app, &centre, &id, json!({"action": "decide_extension"})).await,
        "approve",
    );
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "decide_extension", "approve": true}),
        "in_progress",
    )
    .await;
    let calendar = &domain::rules::Rules::gannan_default().calendar;
    let extended = calendar.add_working_days(deadline, 3);
    assert_eq!(time(&c["deadline"]), extended, "three working days later");
    assert!(extended > deadline + Duration::days(2));

    // A refused request leaves the deadline alone.
    act_ok(
        &app,
        &handler,
        &id,
        json!({"action": "request_extension", "working_days": 5, "reason": "再延"}),
        "in_progress",
    )
    .await;
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "decide_extension", "approve": false}),
        "in_progress",
    )
    .await;
    assert_eq!(time(&c["deadline"]), extended);
    assert_eq!(
        actions(&c)[4..],
        [
            "request_extension",
            "decide_extension",
            "request_extension",
            "decide_extension"
        ]
    );
    let day = NaiveDate::from_ymd_opt(2025, 6, 24).unwrap();
    assert_counters_match(&app.state, &[id.parse().unwrap()], day, day).await;
}

#[tokio::test]
async fn a_duplicate_is_merged_into_another_case_and_ends_there() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let first = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, "草场被邻村牛群占用", fx.point),
        )
        .await,
    );
    let dup = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, "邻村牛群占用草场（重复反映）", fx.point),
        )
        .await,
    );

    // The centre is offered the first case as a likely duplicate: same category, same place,
    // still open; on the API and on the case page, with a button to merge into it.
    let first_code = get_case(&app, &centre, &first).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let offered = get_case(&app, &centre, &dup).await;
    let similar = offered["similar"]
        .as_array()
        .expect("similar cases offered");
    let hit = similar
        .iter()
        .find(|c| c["id"] == first.as_str())
        .unwrap_or_else(|| panic!("{first} among {similar:?}"));
    assert_eq!(hit["code"], first_code.as_str());
    assert!(hit["distance_m"].as_u64().unwrap() < 5, "{hit}");
    assert!(
        similar.iter().all(|c| c["id"] != dup.as_str()),
        "a case is not its own duplicate"
    );
    let session = app.session(&format!("center-{TOWNSHIP}")).await;
    let page = app.page(&format!("/cases/{dup}"), Some(&session)).await;
    page.expect(StatusCode::OK);
    assert!(
        page.text()
            .contains(&format!(r#"name="into" value="{first_code}""#)),
        "the page offers to merge into {first_code}"
    );
    // Someone who may not merge is not offered it.
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    assert!(get_case(&app, &worker, &dup).await.get("similar").is_none());

    expect_field(
        &act(&app, &centre, &dup, json!({"action": "merge"})).await,
        "into",
    );
    expect_field(
        &act(&app, &centre, &dup, json!({"action": "merge", "into": dup})).await,
        "into",
    );
    act(
        &app,
        &centre,
        &dup,
        json!({"action": "merge", "into": "999999999"}),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");
    let c = act_ok(
        &app,
        &centre,
        &dup,
        json!({"action": "merge", "into": first}),
        "merged",
    )
    .await;
    assert!(c["deadline"].is_null() && c["light"].is_null(), "{c}");
    assert!(allowed(&c).is_empty());
    let last = history(&c).last().unwrap().clone();
    assert_eq!(
        (
            last["action"].as_str(),
            last["from_status"].as_str(),
            last["to_status"].as_str()
        ),
        (Some("merge"), Some("submitted"), Some("merged"))
    );
    let state = app
        .state
        .db
        .case_by_id(dup.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let merged: Case = serde_json::from_str(&state.state).unwrap();
    assert_eq!(merged.merged_into, Some(first.parse().unwrap()));
    // Terminal: nothing more.
    let r = act(&app, &centre, &dup, json!({"action": "accept"})).await;
    r.expect_error(StatusCode::CONFLICT, "conflict");
    // The case it went into is untouched, and no longer offered the merged one.
    let into = get_case(&app, &centre, &first).await;
    assert_eq!(into["status"], "submitted");
    assert!(
        into["similar"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != dup.as_str())
    );
    act_ok(
        &app,
        &centre,
        &first,
        json!({"action": "accept"}),
        "accepted",
    )
    .await;
}

#[tokio::test]
async fn a_grid_worker_self_handles_a_small_matter_straight_to_verification() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let other = app.token(&format!("worker-{}", fx.other_grid)).await;
    let village = app.token(&format!("center-{VILLAGE}")).await;
    let c = create(&app, &worker, located(GARBAGE, "路边垃圾堆积", fx.point)).await;
    assert_eq!(c["centre"], VILLAGE, "rubbish is the village's");
    let id = id_of(&c);
    act(
        &app,
        &other,
        &id,
        json!({"action": "self_handle", "result": "solved", "text": "x"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    expect_field(
        &act(
            &app,
            &worker,
            &id,
            json!({"action": "self_handle", "text": "x"}),
        )
        .await,
        "result",
    );
    expect_field(
        &act(
            &app,
            &worker,
            &id,
            json!({"action": "self_handle", "result": "fixed", "text": "x"}),
        )
        .await,
        "result",
    );
    let c = act_ok(
        &app,
        &worker,
        &id,
        json!({"action": "self_handle", "result": "solved", "text": "已组织村民清运"}),
        "handled",
    )
    .await;
    assert_eq!(
        c["handling_unit"],
        fx.grid.as_str(),
        "held by the worker's grid"
    );
    assert_eq!(c["handling_level"], "grid");
    assert_eq!(c["result"], "solved");
    let last = history(&c).last().unwrap().clone();
    assert_eq!(
        (
            last["from_status"].as_str(),
            last["to_status"].as_str(),
            last["by_role"].as_str()
        ),
        (Some("submitted"), Some("handled"), Some("grid_worker"))
    );
    assert_eq!(last["text"], "已组织村民清运");
    // The worker cannot verify his own work; the village centre does.
    act(
        &app,
        &worker,
        &id,
        json!({"action": "verify", "passed": true}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act_ok(
        &app,
        &village,
        &id,
        json!({"action": "verify", "passed": true}),
        "revisit",
    )
    .await;
    act_ok(&app, &village, &id, json!({"action": "close"}), "closed").await;
}

#[tokio::test]
async fn a_rejected_case_ends_with_its_reason() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let id = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, "咨询离婚财产分割", fx.point),
        )
        .await,
    );
    expect_field(
        &act(&app, &centre, &id, json!({"action": "reject"})).await,
        "reason",
    );
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "reject", "reason": "属诉讼事项，不予受理", "redirect": "夏河县人民法院"}),
        "rejected",
    )
    .await;
    assert!(
        c["deadline"].is_null() && c["light"].is_null() && allowed(&c).is_empty(),
        "{c}"
    );
    let last = history(&c).last().unwrap().clone();
    assert_eq!(last["action"], "reject");
    assert_eq!(last["reason"], "属诉讼事项，不予受理");
    assert_eq!(last["to_status"], "rejected");
    let stored: Case = serde_json::from_str(
        &app.state
            .db
            .case_by_id(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .state,
    )
    .unwrap();
    assert_eq!(stored.redirect.as_deref(), Some("夏河县人民法院"));
    let r = act(&app, &centre, &id, json!({"action": "accept"})).await;
    r.expect_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_lower_centre_that_signs_a_dispatch_takes_the_case_over() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let township = app.token(&format!("center-{TOWNSHIP}")).await;
    let village = app.token(&format!("center-{VILLAGE}")).await;
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let id = id_of(
        &create(
            &app,
            &township,
            located(PASTURE, "村内两户草场界桩之争", fx.point),
        )
        .await,
    );
    act_ok(
        &app,
        &township,
        &id,
        json!({"action": "accept"}),
        "accepted",
    )
    .await;
    let c = act_ok(
        &app,
        &township,
        &id,
        json!({"action": "dispatch", "to": {"unit": VILLAGE}}),
        "dispatched",
    )
    .await;
    assert_eq!(
        (c["handling_unit"].as_str(), c["handling_level"].as_str()),
        (Some(VILLAGE), Some("village"))
    );
    // Signing makes the village the owning centre, the case accepted there.
    let c = act_ok(&app, &village, &id, json!({"action": "sign"}), "accepted").await;
    assert_eq!(c["centre"], VILLAGE);
    assert_eq!(c["handling_unit"], VILLAGE);
    act(
        &app,
        &township,
        &id,
        json!({"action": "dispatch", "to": {"unit": fx.grid}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act_ok(
        &app,
        &village,
        &id,
        json!({"action": "dispatch", "to": {"unit": fx.grid}}),
        "dispatched",
    )
    .await;
    act_ok(&app, &worker, &id, json!({"action": "sign"}), "in_progress").await;
    let c = act_ok(
        &app,
        &worker,
        &id,
        json!({"action": "note", "text": "已约双方周五到场"}),
        "in_progress",
    )
    .await;
    assert_eq!(history(&c).last().unwrap()["text"], "已约双方周五到场");
    act_ok(
        &app,
        &worker,
        &id,
        json!({"action": "report_handled", "result": "solved", "text": "重新埋设界桩"}),
        "handled",
    )
    .await;
    act_ok(
        &app,
        &village,
        &id,
        json!({"action": "verify", "passed": true}),
        "revisit",
    )
    .await;
    let c = act_ok(
        &app,
        &village,
        &id,
        json!({"action": "revisit", "satisfaction": "understanding"}),
        "closed",
    )
    .await;
    assert_eq!(c["satisfaction"], "understanding");
    let levels: Vec<&str> = history(&c)
        .iter()
        .map(|h| h["by_level"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        levels,
        [
            "township", "township", "township", "village", "village", "grid", "grid", "grid",
            "village", "village"
        ]
    );
}

#[tokio::test]
async fn transfer_re_dispatches_to_another_unit() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let police = app.token(&format!("handler-{TOWNSHIP_POLICE}")).await;
    let justice = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    let id = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, "草场纠纷引发口角", fx.point),
        )
        .await,
    );
    act_ok(&app, &centre, &id, json!({"action": "accept"}), "accepted").await;
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "dispatch", "to": {"unit": TOWNSHIP_POLICE}}),
        "dispatched",
    )
    .await;
    expect_field(
        &act(&app, &centre, &id, json!({"action": "transfer"})).await,
        "to.unit",
    );
    expect_field(
        &act(
            &app,
            &centre,
            &id,
            json!({"action": "transfer", "to": {"unit": "623027202-nowhere"}}),
        )
        .await,
        "to.unit",
    );
    expect_field(
        &act(
            &app,
            &centre,
            &id,
            json!({"action": "transfer", "to": {"unit": TOWNSHIP_POLICE}}),
        )
        .await,
        "to",
    );
    expect_field(
        &act(
            &app,
            &centre,
            &id,
            json!({"action": "transfer", "to": {"unit": COUNTY_POLICE}}),
        )
        .await,
        "to",
    );
    // Only the owning centre transfers.
    act(
        &app,
        &police,
        &id,
        json!({"action": "transfer", "to": {"unit": TOWNSHIP_JUSTICE}}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "transfer", "to": {"unit": TOWNSHIP_JUSTICE}, "reason": "属调解事项"}),
        "dispatched",
    )
    .await;
    assert_eq!(c["handling_unit"], TOWNSHIP_JUSTICE);
    assert_eq!(history(&c).last().unwrap()["reason"], "属调解事项");
    act(&app, &police, &id, json!({"action": "sign"}))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act_ok(
        &app,
        &justice,
        &id,
        json!({"action": "sign"}),
        "in_progress",
    )
    .await;
    // From in progress too, down to a grid this time.
    let c = act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "transfer", "to": {"unit": fx.grid}}),
        "dispatched",
    )
    .await;
    assert_eq!(c["handling_unit"], fx.grid.as_str());
    assert_eq!(c["handling_level"], "grid");
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    act_ok(&app, &worker, &id, json!({"action": "sign"}), "in_progress").await;
    assert_eq!(
        actions(&get_case(&app, &centre, &id).await),
        [
            "create", "accept", "dispatch", "transfer", "sign", "transfer", "sign"
        ]
    );
}

#[tokio::test]
async fn upper_levels_supervise_and_mark_urgent() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let county_leader = app.token(&format!("leader-{COUNTY}")).await;
    let county_centre = app.token(&format!("center-{COUNTY}")).await;
    let other_centre = app.token(&format!("center-{}", fx.other_township)).await;
    let county_police = app.token(&format!("handler-{COUNTY_POLICE}")).await;
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let leader_id = account_id(&app, &county_leader).await;
    let c = create(
        &app,
        &centre,
        located(THEFT, "牧场帐篷内财物被盗", fx.point),
    )
    .await;
    let id = id_of(&c);
    let deadline = time(&c["deadline"]);

    expect_field(
        &act(
            &app,
            &county_leader,
            &id,
            json!({"action": "supervise", "level": "yellow"}),
        )
        .await,
        "text",
    );
    expect_field(
        &act(
            &app,
            &county_leader,
            &id,
            json!({"action": "supervise", "level": "purple", "text": "x"}),
        )
        .await,
        "level",
    );
    let c = act_ok(
        &app,
        &county_leader,
        &id,
        json!({"action": "supervise", "level": "yellow", "text": "请乡派出所尽快处置"}),
        "submitted",
    )
    .await;
    let last = history(&c).last().unwrap().clone();
    assert_eq!(last["action"], "supervise");
    assert_eq!(last["by"], leader_id);
    assert_eq!(last["by_role"], "leader");
    assert_eq!(last["by_level"], "county");
    assert_eq!(last["text"], "请乡派出所尽快处置");
    assert_eq!(
        (last["from_status"].as_str(), last["to_status"].as_str()),
        (Some("submitted"), Some("submitted"))
    );
    // The county centre supervises too (level defaults to normal); nobody else.
    act_ok(
        &app,
        &county_centre,
        &id,
        json!({"action": "supervise", "text": "督办"}),
        "submitted",
    )
    .await;
    act(
        &app,
        &other_centre,
        &id,
        json!({"action": "supervise", "text": "x"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    act(
        &app,
        &county_police,
        &id,
        json!({"action": "supervise", "text": "x"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    act(
        &app,
        &worker,
        &id,
        json!({"action": "supervise", "text": "x"}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "forbidden");
    let stored: Case = serde_json::from_str(
        &app.state
            .db
            .case_by_id(num_id(&c))
            .await
            .unwrap()
            .unwrap()
            .state,
    )
    .unwrap();
    assert_eq!(
        (stored.supervision.yellow, stored.supervision.normal),
        (1, 1)
    );

    // 加急: the urgent limits apply from now on.
    let c = act_ok(
        &app,
        &county_leader,
        &id,
        json!({"action": "mark_urgent"}),
        "submitted",
    )
    .await;
    assert_eq!(c["urgency"], "urgent");
    assert!(time(&c["deadline"]) <= deadline, "urgent is never later");
    assert!(!allowed(&get_case(&app, &centre, &id).await).contains(&"mark_urgent".to_owned()));
    let r = act(&app, &centre, &id, json!({"action": "mark_urgent"})).await;
    r.expect_error(StatusCode::CONFLICT, "conflict");
    assert_eq!(
        actions(&get_case(&app, &centre, &id).await),
        ["create", "supervise", "supervise", "mark_urgent"]
    );
}

// -----------------------------------------------------------------------------------------
// 9.3 Bad input and rules

#[tokio::test]
async fn case_intake_names_the_field_it_refuses() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let ok = located(PASTURE, "草场纠纷", fx.point);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (located(PASTURE, "北京的事", (116.4, 39.9)), "location"),
        (
            with(&|b| b["location"]["datum"] = json!("bd09")),
            "location.datum",
        ),
        (with(&|b| b["location"]["lat"] = json!(95.0)), "location"),
        (
            with(&|b| b["category"] = json!("attention.dispute.nonsense")),
            "category",
        ),
        (with(&|b| b["category"] = json!("")), "category"),
        (
            with(&|b| b["description"] = json!("字".repeat(5001))),
            "description",
        ),
        (with(&|b| b["description"] = json!("   ")), "description"),
        (
            with(&|b| b["idempotency_key"] = json!("has spaces in it")),
            "idempotency_key",
        ),
        (
            with(&|b| b["idempotency_key"] = json!("k".repeat(101))),
            "idempotency_key",
        ),
        (
            with(&|b| b["idempotency_key"] = json!("")),
            "idempotency_key",
        ),
        (
            with(&|b| b["idempotency_key"] = json!("钥匙")),
            "idempotency_key",
        ),
        (with(&|b| b["urgency"] = json!("very")), "urgency"),
        (with(&|b| b["channel"] = json!("carrier_pigeon")), "channel"),
    ];
    for (body, field) in cases {
        let r = post_case(&app, &centre, &body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.text()
        );
        expect_field(&r, field);
    }
    // No location and no territory: the caller's own node (a township: a township case).
    // A territory outside the caller's scope is refused.
    let r = post_case(
        &app,
        &centre,
        &json!({"category": PASTURE, "description": "x", "territory": fx.other_township}),
    )
    .await;
    r.expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    // The limits themselves are fine: 5,000 characters and a 100-character key.
    let t = tag();
    let c = create(
        &app,
        &centre,
        with(&|b| {
            b["description"] = json!("字".repeat(5000));
            b["idempotency_key"] = json!(format!("{t}-{}", "k".repeat(100 - t.len() - 1)));
        }),
    )
    .await;
    assert_eq!(c["description"].as_str().unwrap().chars().count(), 5000);
    // Unlocated, at a chosen village: the case is there.
    let c = create(
        &app,
        &centre,
        json!({"category": GARBAGE, "description": "村口垃圾", "territory": VILLAGE}),
    )
    .await;
    assert_eq!(c["territory"], VILLAGE);
    assert_eq!(c["centre"], VILLAGE);
    assert!(c.get("location").is_none_or(Value::is_null));
}

#[tokio::test]
async fn an_idempotency_key_makes_one_case_even_under_concurrency() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let key = format!("field-{}:1.a_b", tag());
    let mut body = located(PASTURE, "离线补报的草场纠纷", fx.point);
    body["idempotency_key"] = json!(key);
    let r1 = post_case(&app, &worker, &body).await;
    r1.expect(StatusCode::CREATED);
    assert_eq!(r1.header("idempotent-replayed"), None);
    let r2 = post_case(&app, &worker, &body).await;
    r2.expect(StatusCode::CREATED);
    assert_eq!(r2.header("idempotent-replayed"), Some("true"));
    assert_eq!(r1.json()["id"], r2.json()["id"]);
    assert_eq!(r1.json()["code"], r2.json()["code"]);

    // Twenty at once with a fresh key: one case, the same id for all.
    let t = tag();
    let key = format!("burst-{t}");
    let mut body = located(PASTURE, &format!("同一报事连点二十次 {t}"), fx.point);
    body["idempotency_key"] = json!(key);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let router = app.router.clone();
        let req = Request::post("/api/v1/cases")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {worker}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        set.spawn(async move {
            let resp = router.oneshot(req).await.expect("infallible");
            let status = resp.status();
            let replayed = resp.headers().get("idempotent-replayed").is_some();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                replayed,
                serde_json::from_slice::<Value>(&bytes).unwrap(),
            )
        });
    }
    let mut ids_seen = BTreeSet::new();
    let mut fresh = 0;
    while let Some(res) = set.join_next().await {
        let (status, replayed, v) = res.expect("a request task");
        assert_eq!(status, StatusCode::CREATED, "{v}");
        ids_seen.insert(id_of(&v));
        if !replayed {
            fresh += 1;
        }
    }
    assert_eq!(ids_seen.len(), 1, "one case for one key: {ids_seen:?}");
    assert_eq!(fresh, 1, "exactly one response creates, the others replay");
    let id: i64 = ids_seen.first().unwrap().parse().unwrap();
    assert_eq!(
        ids(&list(&app, &worker, &format!("q={t}")).await),
        [id.to_string()],
        "one case stored"
    );
    assert_eq!(events(&app.state, id).await.len(), 1, "one create event");
}

#[tokio::test]
async fn an_idempotency_key_never_hands_out_a_case_outside_the_callers_scope() {
    // Keys are chosen by clients (an offline field app may well number its reports
    // 1, 2, 3…): another account sending the same key must not receive the first case.
    let app = App::new().await;
    let fx = fixture(&app).await;
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let other = app.token(&format!("center-{}", fx.other_township)).await;
    let key = format!("report-1-{}", tag());
    let mut body = located(PASTURE, "报事人电话在描述里：13900001111", fx.point);
    body["idempotency_key"] = json!(key);
    body["reporter"] = json!({"name": "卓玛", "phone": "13900001111"});
    let first = create(&app, &worker, body).await;
    let r = post_case(
        &app,
        &other,
        &json!({"category": GARBAGE, "description": "另一乡镇的报事", "territory": fx.other_township,
                "idempotency_key": key}),
    )
    .await;
    let leaked = r.status.is_success() && r.json()["id"] == first["id"];
    assert!(
        !leaked,
        "center-{} received case {} of {} (outside its scope) by reusing its idempotency key: {}",
        fx.other_township,
        first["id"],
        fx.grid,
        r.text().chars().take(300).collect::<String>()
    );
    // Whatever the answer, it is not a server error.
    assert!(!r.status.is_server_error(), "{}", r.text());
}

#[tokio::test]
async fn actions_are_refused_by_state_by_scope_and_by_parameter() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let other_centre = app.token(&format!("center-{}", fx.other_township)).await;
    let other_worker = app.token(&format!("worker-{}", fx.other_grid)).await;
    let county_police = app.token(&format!("handler-{COUNTY_POLICE}")).await;
    let county_leader = app.token(&format!("leader-{COUNTY}")).await;
    let head = app.token(&format!("head-{}", fx.group)).await;
    let id = id_of(&create(&app, &centre, located(PASTURE, "草场纠纷", fx.point)).await);

    // Not in this state: 409 naming what is allowed.
    for body in [
        json!({"action": "verify", "passed": true}),
        json!({"action": "dispatch", "to": {"unit": TOWNSHIP_JUSTICE}}),
        json!({"action": "close"}),
        json!({"action": "resume"}),
    ] {
        let r = act(&app, &centre, &id, body.clone()).await;
        r.expect_error(StatusCode::CONFLICT, "conflict");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
        for a in ["accept", "reject", "merge"] {
            assert!(msg.contains(a), "{body}: {msg} should name {a}");
        }
        assert!(msg.contains("submitted"), "{msg}");
    }

    // Outside the case's scope: 403 for reading and acting.
    for token in [&other_centre, &other_worker, &head] {
        app.get(&format!("/api/v1/cases/{id}"), Some(token))
            .await
            .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
        act(&app, token, &id, json!({"action": "accept"}))
            .await
            .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    }
    // In scope, but no part in it: 403 too.
    for token in [&county_police, &county_leader, &fx.admin] {
        act(&app, token, &id, json!({"action": "accept"}))
            .await
            .expect_error(StatusCode::FORBIDDEN, "forbidden");
    }
    get_case(&app, &county_police, &id).await;

    // Malformed actions: 422 naming the field.
    expect_field(
        &act(&app, &centre, &id, json!({"action": "teleport"})).await,
        "action",
    );
    expect_field(
        &act(&app, &centre, &id, json!({"reason": "no action"})).await,
        "action",
    );
    expect_field(
        &act(&app, &centre, &id, json!({"action": 7})).await,
        "action",
    );
    expect_field(&act(&app, &centre, &id, json!(["accept"])).await, "body");
    expect_field(
        &act(&app, &centre, &id, json!({"action": "reject", "reason": 5})).await,
        "reason",
    );
    expect_field(
        &act(
            &app,
            &centre,
            &id,
            json!({"action": "reject", "reason": "字".repeat(5001)}),
        )
        .await,
        "reason",
    );
    // Unknown and malformed case references.
    act(&app, &centre, "987654321", json!({"action": "accept"}))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/v1/cases/GN20990101999999", Some(&centre))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    expect_field(
        &app.get("/api/v1/cases/not-a-case", Some(&centre)).await,
        "id",
    );
    app.get(&format!("/api/v1/cases/{id}"), None)
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // send_back needs its reason (and a case where it is allowed).
    act_ok(&app, &centre, &id, json!({"action": "accept"}), "accepted").await;
    act_ok(
        &app,
        &centre,
        &id,
        json!({"action": "dispatch", "to": {"unit": TOWNSHIP_JUSTICE}}),
        "dispatched",
    )
    .await;
    let justice = app.token(&format!("handler-{TOWNSHIP_JUSTICE}")).await;
    expect_field(
        &act(&app, &justice, &id, json!({"action": "send_back"})).await,
        "reason",
    );
    // Nothing refused was recorded.
    assert_eq!(
        actions(&get_case(&app, &centre, &id).await),
        ["create", "accept", "dispatch"]
    );
}

#[tokio::test]
async fn a_gcj02_location_lands_in_the_same_grid_as_its_wgs84_point() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    for (grid, (lng, lat)) in [(&fx.grid, fx.point), (&fx.other_grid, fx.other_point)] {
        let (glng, glat) = domain::coord::wgs84_to_gcj02(lng, lat);
        assert!((glng - lng).abs() > 1e-4, "GCJ-02 is offset from WGS-84");
        let wgs = create(&app, &centre, located(GARBAGE, "WGS-84 point", (lng, lat))).await;
        let gcj = create(
            &app,
            &centre,
            json!({"category": GARBAGE, "description": "GCJ-02 point",
                   "location": {"lng": glng, "lat": glat, "datum": "gcj02"}}),
        )
        .await;
        assert_eq!(wgs["territory"], grid.as_str());
        assert_eq!(
            gcj["territory"],
            grid.as_str(),
            "the GCJ-02 point is converted first"
        );
        // Stored in WGS-84, within a metre or so of the original.
        let loc = &gcj["location"];
        assert!(
            (loc["lng"].as_f64().unwrap() - lng).abs() < 2e-5,
            "{loc} vs {lng}"
        );
        assert!(
            (loc["lat"].as_f64().unwrap() - lat).abs() < 2e-5,
            "{loc} vs {lat}"
        );
        // The unconverted GCJ-02 numbers taken as WGS-84 would be hundreds of metres off.
        let r = app
            .get(
                &format!("/api/v1/locate?lng={glng}&lat={glat}&datum=gcj02"),
                Some(&centre),
            )
            .await;
        assert_eq!(r.json()["grid"], grid.as_str());
    }
}

// -----------------------------------------------------------------------------------------
// 9.4 Listing and search

#[tokio::test]
async fn the_case_list_filters_pages_and_keeps_to_the_callers_scope() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let t = tag();
    let desc = |s: &str| format!("{s} {t}");
    // Five cases: three submitted (two grids and the village itself), one accepted, one
    // rejected.
    let a = id_of(&create(&app, &centre, located(PASTURE, &desc("草场"), fx.point)).await);
    let b = id_of(&create(&app, &centre, located(THEFT, &desc("盗窃"), fx.other_point)).await);
    let c = id_of(
        &create(
            &app,
            &centre,
            json!({"category": GARBAGE, "description": desc("垃圾"), "territory": VILLAGE}),
        )
        .await,
    );
    let d = id_of(&create(&app, &centre, located(PASTURE, &desc("草场二"), fx.point)).await);
    act_ok(&app, &centre, &d, json!({"action": "accept"}), "accepted").await;
    let e = id_of(&create(&app, &centre, located(THEFT, &desc("盗窃二"), fx.point)).await);
    act_ok(
        &app,
        &centre,
        &e,
        json!({"action": "reject", "reason": "重复"}),
        "rejected",
    )
    .await;
    let all: BTreeSet<String> = [&a, &b, &c, &d, &e].into_iter().cloned().collect();
    let set = |v: &[&String]| v.iter().map(|s| (*s).clone()).collect::<BTreeSet<String>>();
    let found = |page: Value| ids(&page).into_iter().collect::<BTreeSet<String>>();

    assert_eq!(
        found(list(&app, &centre, &format!("q={t}&limit=200")).await),
        all
    );
    // Newest first.
    let newest = ids(&list(&app, &centre, &format!("q={t}")).await);
    let mut sorted = newest.clone();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.parse::<i64>().unwrap()));
    assert_eq!(newest, sorted);

    for (query, want) in [
        ("status=submitted", set(&[&a, &b, &c])),
        ("status=accepted", set(&[&d])),
        ("status=rejected", set(&[&e])),
        ("status=closed", set(&[])),
        (&*format!("territory={}", fx.grid), set(&[&a, &d, &e])),
        (&*format!("territory={}", fx.other_grid), set(&[&b])),
        (&*format!("territory={VILLAGE}"), all.clone()),
        (&*format!("territory={TOWNSHIP}"), all.clone()),
        ("category=attention", set(&[&a, &b, &d, &e])),
        ("category=attention.dispute", set(&[&a, &d])),
        (&*format!("category={PASTURE}"), set(&[&a, &d])),
        ("category=attention.dispute.past", set(&[])),
        ("category=management", set(&[&c])),
        (
            &*format!("status=submitted&category=attention&territory={}", fx.grid),
            set(&[&a]),
        ),
        ("overdue=true", set(&[])),
        ("overdue=false", all.clone()),
    ] {
        assert_eq!(
            found(list(&app, &centre, &format!("q={t}&limit=200&{query}")).await),
            want,
            "?{query}"
        );
    }

    // Cursor paging: disjoint pages that together are the whole result.
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = format!("q={t}&limit=2");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let page = list(&app, &centre, &q).await;
        let items = ids(&page);
        assert!(items.len() <= 2);
        for i in items.clone() {
            assert!(seen.insert(i.clone()), "{i} on two pages");
        }
        pages += 1;
        assert!(pages <= 10, "paging does not end");
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 2, "a short page with a next cursor");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(seen, all, "the pages together");
    assert!(pages >= 3);

    // Only the caller's scope: the grid workers see their own grid, another township
    // nothing, and asking for a node outside the scope is refused.
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    let other_worker = app.token(&format!("worker-{}", fx.other_grid)).await;
    let other_centre = app.token(&format!("center-{}", fx.other_township)).await;
    assert_eq!(
        found(list(&app, &worker, &format!("q={t}")).await),
        set(&[&a, &d, &e])
    );
    assert_eq!(
        found(list(&app, &other_worker, &format!("q={t}")).await),
        set(&[&b])
    );
    assert!(ids(&list(&app, &other_centre, &format!("q={t}")).await).is_empty());
    app.get(
        &format!("/api/v1/cases?territory={}", fx.other_grid),
        Some(&worker),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get(
        &format!("/api/v1/cases?territory={TOWNSHIP}"),
        Some(&other_centre),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    // The county sees all of them.
    let county = app.token(&format!("center-{COUNTY}")).await;
    assert_eq!(
        found(list(&app, &county, &format!("q={t}&limit=200")).await),
        all
    );

    // Queue order: open cases, earliest deadline first.
    let queue = list(&app, &centre, &format!("q={t}&order=deadline")).await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(queue["next_cursor"].is_null());
    let open: Vec<&Value> = items.iter().filter(|c| !c["deadline"].is_null()).collect();
    assert_eq!(open.len(), 4, "four open cases have a deadline");
    for w in open.windows(2) {
        assert!(
            time(&w[0]["deadline"]) <= time(&w[1]["deadline"]),
            "{} before {}",
            w[0]["deadline"],
            w[1]["deadline"]
        );
    }
    let first_closed = items.iter().position(|c| c["deadline"].is_null()).unwrap();
    assert_eq!(first_closed, 4, "ended cases come after the queue");

    for bad in [
        "status=lost",
        "limit=0",
        "limit=201",
        "cursor=abc",
        "cursor=-3",
        "order=random",
        "territory=abc",
        "overdue=perhaps",
        "order=deadline&cursor=5",
    ] {
        let r = app
            .get(&format!("/api/v1/cases?{bad}"), Some(&centre))
            .await;
        r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    }
}

#[tokio::test]
async fn full_text_search_finds_chinese_english_and_tibetan_words() {
    let app = App::new().await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let t = tag();
    let zh = id_of(
        &create(
            &app,
            &centre,
            located(
                PASTURE,
                &format!("牧民反映冬季草场的围栏被邻村拆毁 {t}"),
                fx.point,
            ),
        )
        .await,
    );
    let en = id_of(
        &create(
            &app,
            &centre,
            located(
                GARBAGE,
                &format!("Tourists left rubbish beside the Daxia river {t}"),
                fx.point,
            ),
        )
        .await,
    );
    let bo = id_of(
        &create(
            &app,
            &centre,
            located(PASTURE, &format!("རྩྭ་ཐང་གི་རྩོད་གཞི་བྱུང་། {t}"), fx.point),
        )
        .await,
    );
    let search = |q: String| {
        let app = &app;
        let centre = &centre;
        async move {
            ids(&list(app, centre, &format!("q={}&limit=200", enc(&q))).await)
                .into_iter()
                .collect::<BTreeSet<String>>()
        }
    };
    let one = |s: &String| BTreeSet::from([s.clone()]);
    assert_eq!(search(t.clone()).await.len(), 3);
    // Chinese words cut by jieba (not just characters), and a word's single character.
    assert_eq!(search(format!("围栏 {t}")).await, one(&zh));
    assert_eq!(search(format!("拆毁 {t}")).await, one(&zh));
    assert_eq!(search(format!("冬季草场 {t}")).await, one(&zh));
    assert_eq!(search(format!("雪灾 {t}")).await, BTreeSet::new());
    // English words, any case; no stemming.
    assert_eq!(search(format!("RUBBISH {t}")).await, one(&en));
    assert_eq!(search(format!("tourists river {t}")).await, one(&en));
    assert_eq!(search(format!("tourist {t}")).await, BTreeSet::new());
    // Tibetan syllables split on the tsheg, and a two-syllable word.
    assert_eq!(search(format!("རྩོད {t}")).await, one(&bo));
    assert_eq!(search(format!("རྩྭ་ཐང {t}")).await, one(&bo));
    assert_eq!(search(format!("རྩྭ {t}")).await, one(&bo));
    // The category's name is indexed too.
    assert_eq!(
        search(format!("草场纠纷 {t}")).await,
        BTreeSet::from([zh.clone(), bo.clone()])
    );
    // Found by the code.
    let code = get_case(&app, &centre, &zh).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(search(code).await.contains(&zh));
    // Only inside the caller's scope.
    let other_worker = app.token(&format!("worker-{}", fx.other_grid)).await;
    let other_centre = app.token(&format!("center-{}", fx.other_township)).await;
    for token in [&other_worker, &other_centre] {
        assert!(ids(&list(&app, token, &format!("q={t}")).await).is_empty());
    }
    let worker = app.token(&format!("worker-{}", fx.grid)).await;
    assert_eq!(
        ids(&list(&app, &worker, &format!("q={}", enc(&format!("围栏 {t}")))).await),
        [zh]
    );
}

// -----------------------------------------------------------------------------------------
// 9.5 Clocks: lights, overdue lists, yellow and red cards fired exactly once

#[tokio::test]
async fn overdue_cases_turn_red_and_get_a_yellow_then_a_red_card_exactly_once() {
    // Tuesday 2025-02-11 10:00 Beijing, a working day after the Spring Festival.
    let start = beijing(2025, 2, 11, 10, 0);
    let clock = FixedClock::at(start);
    let app = App::with_clock(Arc::new(clock.clone())).await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let t = tag();
    let mut made = Vec::new();
    for i in 0..4 {
        made.push(
            create(
                &app,
                &centre,
                located(POLICY, &format!("草原奖补政策咨询{i} {t}"), fx.point),
            )
            .await,
        );
    }
    let ids_made: Vec<String> = made.iter().map(id_of).collect();
    let nums: Vec<i64> = made.iter().map(num_id).collect();
    let id = ids_made[0].clone();
    // Policy questions are the village's; accept within 2 working hours: 12:00.
    assert_eq!(made[0]["centre"], VILLAGE);
    let deadline = time(&made[0]["deadline"]);
    assert_eq!(deadline, beijing(2025, 2, 11, 12, 0));
    assert_eq!(made[0]["light"], "green");

    // Yellow from 70 % of the limit (84 working minutes).
    clock.advance(Duration::minutes(90));
    assert_eq!(get_case(&app, &centre, &id).await["light"], "yellow");
    let overdue = format!("q={t}&overdue=true&limit=200");
    assert!(ids(&list(&app, &centre, &overdue).await).is_empty());
    // Nothing due yet.
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    for &n in &nums {
        assert!(automatic_cards(&app.state, n).await.is_empty());
    }

    // Past the deadline: red light, listed as overdue.
    set_clock(&clock, deadline + Duration::minutes(1));
    assert_eq!(get_case(&app, &centre, &id).await["light"], "red");
    let listed: BTreeSet<String> = ids(&list(&app, &centre, &overdue).await)
        .into_iter()
        .collect();
    assert_eq!(listed, ids_made.iter().cloned().collect());

    // Two servers on one database fire the due cards at once: one yellow card each.
    let db2 = store::testing::connect(db_url()).await.unwrap();
    let second = AppState::new(db2, Arc::new(clock.clone()), Settings::default());
    let (a, b) = tokio::join!(
        server::jobs::fire_due_timers(&app.state),
        server::jobs::fire_due_timers(&second)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a + b >= nums.len(), "fired {a} + {b}");
    for &n in &nums {
        assert_eq!(
            automatic_cards(&app.state, n).await,
            [SuperviseLevel::Yellow],
            "case {n}"
        );
    }
    // Again, on either: nothing more.
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    server::jobs::fire_due_timers(&second).await.unwrap();
    for &n in &nums {
        assert_eq!(
            automatic_cards(&app.state, n).await,
            [SuperviseLevel::Yellow],
            "case {n}"
        );
    }
    let c = get_case(&app, &centre, &id).await;
    let last = history(&c).last().unwrap().clone();
    assert_eq!(last["action"], "supervise");
    assert!(
        last["by"].is_null() && last["by_role"].is_null(),
        "the system acts: {last}"
    );
    assert_eq!(c["status"], "submitted", "a card moves nothing");

    // Past twice the limit (a day later): the red card, once.
    clock.advance(Duration::days(1));
    let (a, b) = tokio::join!(
        server::jobs::fire_due_timers(&app.state),
        server::jobs::fire_due_timers(&second)
    );
    a.unwrap();
    b.unwrap();
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    for &n in &nums {
        assert_eq!(
            automatic_cards(&app.state, n).await,
            [SuperviseLevel::Yellow, SuperviseLevel::Red],
            "case {n}"
        );
    }
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    assert_eq!(get_case(&app, &centre, &id).await["light"], "red");

    // The cards count against the village centre, the unit whose step ran late.
    let from = NaiveDate::from_ymd_opt(2025, 2, 11).unwrap();
    let to = NaiveDate::from_ymd_opt(2025, 2, 12).unwrap();
    assert_counters_match(&app.state, &nums, from, to).await;
    let village: BTreeMap<String, i64> = app
        .state
        .db
        .counter_totals(VILLAGE, from, to)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(village.get("supervised_yellow"), Some(&4), "{village:?}");
    assert_eq!(village.get("supervised_red"), Some(&4), "{village:?}");
}

#[tokio::test]
async fn a_case_found_past_twice_its_limit_gets_both_cards() {
    // The server was down (or the clock job stopped) through both limits: when it fires,
    // the case is owed a yellow and a red card. Tuesday 2025-03-11, 10:00 Beijing.
    let clock = FixedClock::at(beijing(2025, 3, 11, 10, 0));
    let app = App::with_clock(Arc::new(clock.clone())).await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let c = create(&app, &centre, located(POLICY, "牧民咨询医保政策", fx.point)).await;
    clock.advance(Duration::days(2));
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    assert_eq!(
        automatic_cards(&app.state, num_id(&c)).await,
        [SuperviseLevel::Yellow, SuperviseLevel::Red]
    );
}

#[tokio::test]
async fn a_note_on_an_overdue_case_does_not_rearm_its_fired_card() {
    // Tuesday 2025-04-08, 10:00 Beijing.
    let clock = FixedClock::at(beijing(2025, 4, 8, 10, 0));
    let app = App::with_clock(Arc::new(clock.clone())).await;
    let fx = fixture(&app).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let village = app.token(&format!("center-{VILLAGE}")).await;
    let c = create(
        &app,
        &centre,
        located(POLICY, "咨询草原生态补奖发放", fx.point),
    )
    .await;
    let (id, n) = (id_of(&c), num_id(&c));
    set_clock(&clock, time(&c["deadline"]) + Duration::minutes(5));
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    assert_eq!(
        automatic_cards(&app.state, n).await,
        [SuperviseLevel::Yellow]
    );
    // Work on the case that does not restart its step: a note, a person's supervision.
    act_ok(
        &app,
        &village,
        &id,
        json!({"action": "note", "text": "已电话联系报事人"}),
        "submitted",
    )
    .await;
    server::jobs::fire_due_timers(&app.state).await.unwrap();
    assert_eq!(
        automatic_cards(&app.state, n).await,
        [SuperviseLevel::Yellow],
        "the same overdue step got a second yellow card"
    );
}
