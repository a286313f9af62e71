//! Several servers on one database: two real `gesang serve` processes share it, and an
//! idempotency key still makes one case, a case is still dispatched once, whichever server each
//! request reaches (PostgreSQL only), and every due supervision timer fires once although both
//! servers' clocks look for it (PostgreSQL, and SQLite with two processes on one WAL file).
//!
//! These tests make no [`App`]: they are not in `MODULES`' count.

use super::*;

use http_body_util::Full;
use hyper::body::Bytes;

use super::crash::{Http, call, client, remove, token, two_servers};

fn post(base: &str, path: &str, token: &str, body: Value) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

#[tokio::test]
async fn two_servers_keep_idempotency_and_dispatch_a_case_once() {
    if store::testing::postgres_url().is_none() {
        eprintln!("cluster test skipped: TEST_DATABASE_URL is not PostgreSQL");
        return;
    }
    let (a, b, t, dir) = two_servers("gesang_cluster", &[]).await;
    let http: Http = client();
    let user = "center-623027202";
    let (ta, tb) = (
        token(&http, &a.base, user).await,
        token(&http, &b.base, user).await,
    );

    // 24 concurrent reports with one key, alternating servers: one case, the same for all.
    let body = json!({
        "category": "attention.security.theft",
        "description": "两台服务器同时收到的同一报事",
        "territory": "623027202201001",
        "idempotency_key": "cluster-once",
    });
    let mut tasks = Vec::new();
    for i in 0..24 {
        let (http, base, token, body) = if i % 2 == 0 {
            (http.clone(), a.base.clone(), ta.clone(), body.clone())
        } else {
            (http.clone(), b.base.clone(), tb.clone(), body.clone())
        };
        tasks.push(tokio::spawn(async move {
            call(&http, post(&base, "/api/v1/cases", &token, body)).await
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        let (status, v) = task.await.unwrap().expect("answered");
        assert_eq!(status, 201, "{v}");
        ids.insert(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one key, one case: {ids:?}");
    let id = ids.into_iter().next().unwrap();

    // Accepted on one server, dispatched at the same moment through both to different units:
    // exactly one dispatch happens, the other is told the case moved on.
    let path = format!("/api/v1/cases/{id}/actions");
    let (status, v) = call(
        &http,
        post(&a.base, &path, &ta, json!({"action": "accept"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{v}");
    for _ in 0..5 {
        let ga = call(
            &http,
            post(
                &a.base,
                &path,
                &ta,
                json!({"action": "dispatch", "to": {"unit": "623027202-police"}}),
            ),
        );
        let gb = call(
            &http,
            post(
                &b.base,
                &path,
                &tb,
                json!({"action": "dispatch", "to": {"unit": "623027202-justice"}}),
            ),
        );
        let ((sa, va), (sb, vb)) = {
            let (x, y) = tokio::join!(ga, gb);
            (x.unwrap(), y.unwrap())
        };
        let statuses = BTreeSet::from([sa, sb]);
        assert_eq!(
            statuses,
            BTreeSet::from([200, 409]),
            "one dispatch wins, the other is refused: {va} {vb}"
        );
        // Send it back so the next round races again.
        let winner = if sa == 200 {
            "623027202-police"
        } else {
            "623027202-justice"
        };
        let handler = token(&http, &a.base, &format!("handler-{winner}")).await;
        let (s, v) = call(
            &http,
            post(
                &b.base,
                &path,
                &handler,
                json!({"action": "send_back", "reason": "不属于本单位"}),
            ),
        )
        .await
        .unwrap();
        assert_eq!(s, 200, "{v}");
    }
    let req = hyper::Request::get(format!("{}/api/v1/cases/{id}", b.base))
        .header("authorization", format!("Bearer {tb}"))
        .body(Full::default())
        .unwrap();
    let (_, case) = call(&http, req).await.unwrap();
    let dispatches = case["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "dispatch")
        .count();
    assert_eq!(dispatches, 5, "one dispatch per round: {}", case["history"]);
    remove(vec![a, b], t, dir).await;
}

fn put(base: &str, path: &str, token: &str, body: Value) -> hyper::Request<Full<Bytes>> {
    hyper::Request::put(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The supervision clock ticks every 100 ms on both servers in the timer test.
const FAST_TICK: &[&str] = &["--clock-tick-ms", "100"];
const THEFT: &str = "attention.security.theft";
/// Cases whose timers fall due while both servers run.
const DUE_CASES: usize = 12;

/// Two servers, both running the supervision clock every 100 ms, on one database; the rules
/// give theft reports a one-minute around-the-clock limit for acceptance with the yellow card
/// at 20 % of it (12 s) and the red at 35 % (21 s). Twelve cases created through both servers
/// fall due under both clocks: each gets exactly one automatic yellow and one automatic red
/// card, and the day's counters count 12 of each. On SQLite (two processes on one WAL file) and
/// on PostgreSQL, where it found that no card ever fired (the timer's instant, kept to the
/// microsecond, never equalled the card computed again in nanoseconds; fixed in `jobs.rs`).
#[tokio::test]
async fn two_servers_fire_each_due_timer_once() {
    let (a, t, dir) = super::crash::crash_server_with("gesang_timers", FAST_TICK).await;
    let http: Http = client();
    let admin = token(&http, &a.base, "admin").await;

    // The rules as data: a short clock-basis limit for accepting a theft report.
    let mut rules =
        super::crash::get_json(&http, format!("{}/api/v1/admin/rules", a.base), &admin).await;
    let limits = rules["limits"].as_array_mut().expect("limits");
    limits.retain(|r| !(r["category"] == THEFT && r["step"] == "accept"));
    limits.push(json!({"category": THEFT, "step": "accept",
        "limit": {"amount": 1, "unit": "clock_minutes"}}));
    rules["clock"] = json!({"yellow_light_percent": 10, "yellow_card_percent": 20,
        "red_card_percent": 35});
    let (status, v) = call(&http, put(&a.base, "/api/v1/admin/rules", &admin, rules))
        .await
        .unwrap();
    assert_eq!(status, 200, "{v}");
    // The second server reads the stored rules as it starts.
    let b = a.another().await;

    let user = "center-623027202";
    let (ta, tb) = (
        token(&http, &a.base, user).await,
        token(&http, &b.base, user).await,
    );
    // The counters are kept per responsible unit (the case's centre while it waits to be
    // accepted) and day, in the transaction of each card.
    let db = store::testing::connect(&t.url).await.expect("connect");
    let today = Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(1), today + chrono::Days::new(1));
    let counted = |centres: BTreeSet<String>| {
        let db = db.clone();
        async move {
            let (mut yellow, mut red) = (0, 0);
            for c in &centres {
                for (counter, n) in db.counter_totals(c, from, to).await.expect("counters") {
                    match counter.as_str() {
                        "supervised_yellow" => yellow += n,
                        "supervised_red" => red += n,
                        _ => {}
                    }
                }
            }
            (yellow, red)
        }
    };
    let mut ids = Vec::new();
    let mut centres = BTreeSet::new();
    for i in 0..DUE_CASES {
        let (base, token) = if i % 2 == 0 {
            (&a.base, &ta)
        } else {
            (&b.base, &tb)
        };
        let (status, v) = call(
            &http,
            post(
                base,
                "/api/v1/cases",
                token,
                json!({"category": THEFT, "description": format!("到期的报事 {i}"),
                    "territory": "623027202201001"}),
            ),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
        centres.insert(v["centre"].as_str().expect("a centre").to_owned());
    }
    // Nothing has fired yet (the yellow cards fall due 12 s after creation).
    let (y0, r0) = counted(centres.clone()).await;

    // Wait (bounded) until every case has its red card, then a little longer: a second firing
    // would come within a few ticks.
    let cards = |case: &Value, level: &str| {
        case["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["action"] == "supervise" && h.to_string().contains(level))
            .count()
    };
    let started = std::time::Instant::now();
    loop {
        let mut waiting = None;
        for id in &ids {
            let case =
                super::crash::get_json(&http, format!("{}/api/v1/cases/{id}", b.base), &tb).await;
            if cards(&case, "红牌") == 0 {
                waiting = Some(case);
                break;
            }
        }
        let Some(case) = waiting else { break };
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "the red cards did not all fire within 90 s: {case}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for id in &ids {
        let case =
            super::crash::get_json(&http, format!("{}/api/v1/cases/{id}", a.base), &ta).await;
        assert_eq!(
            cards(&case, "黄牌"),
            1,
            "one yellow card: {}",
            case["history"]
        );
        assert_eq!(cards(&case, "红牌"), 1, "one red card: {}", case["history"]);
    }
    let (y1, r1) = counted(centres.clone()).await;
    assert_eq!(
        (y1 - y0, r1 - r0),
        (DUE_CASES as i64, DUE_CASES as i64),
        "counted once each (centres {centres:?})"
    );
    db.close().await;
    eprintln!(
        "cluster timers: {DUE_CASES} cases, 2 servers ticking every 100 ms: {} yellow and {} red cards, each once",
        y1 - y0,
        r1 - r0
    );
    remove(vec![a, b], t, dir).await;
}
