//! The demo's case history (issue 7): bulk-loaded into its own database, it agrees with a
//! recount from the raw rows (rollups and counters), and its cases are listed, paged and
//! searched through the API like any other.

use super::*;

#[tokio::test]
async fn a_loaded_history_agrees_with_a_recount_and_is_listed_and_searched() {
    let t = store::testing::create("gesang_hist")
        .await
        .expect("a database");
    let db = store::testing::connect(&t.url).await.expect("connect");
    db.migrate().await.expect("migrate");
    let clock = Arc::new(FixedClock::at(
        Utc.with_ymd_and_hms(2026, 3, 18, 6, 0, 0).unwrap(),
    ));
    let summary =
        server::demo::load_with_history(&db, Scale::Small, clock.as_ref(), 40, Some(1_500))
            .await
            .expect("load the small demo with history");
    let rows = |name: &str| {
        summary
            .rows
            .iter()
            .find(|(t, _)| *t == name)
            .map_or(0, |(_, n)| *n)
    };
    assert!(rows("cases") > 1_400, "{:?}", summary.rows);
    assert!(rows("worklogs") > 0 && rows("daily_reports") > 0);

    // The rollups written once equal those recounted from cases, events, logs and reports;
    // the counters equal the engine's recount of every history.
    let stored = db.all_rollups().await.unwrap();
    let recount = domain::stats::summed(db.recount_rollups().await.unwrap());
    assert!(!stored.is_empty());
    assert_eq!(stored.len(), recount.len());
    assert!(stored == recount, "rollups differ from a recount");
    // Periods read through whole months (the monthly rows) and the days around them agree
    // with a sum of the daily rows; the monthly rows are the sums of their days.
    assert!(db.month_rollups_disagreeing().await.unwrap().is_empty());
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let nodes: Vec<String> = vec!["623027".into(), TOWNSHIP.into(), VILLAGE.into()];
    for (from, to) in [
        (d("2026-02-01"), d("2026-02-28")),
        (d("2026-01-15"), d("2026-03-18")),
        (d("2026-02-10"), d("2026-03-05")),
        (d("2026-03-01"), d("2026-03-01")),
    ] {
        let sums = db.stats_sums(&nodes, from, to).await.unwrap();
        for n in &nodes {
            let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
            let (mut created, mut ended) = (0, 0);
            for ((t, day, c, m), v) in &stored {
                if t != n || *day > to {
                    continue;
                }
                if *day >= from {
                    *want.entry((c.clone(), m.clone())).or_insert(0) += v;
                }
                if c.is_empty() && m == domain::stats::metric::CASE_CREATED {
                    created += v;
                } else if c.is_empty() && m == domain::stats::metric::CASE_ENDED {
                    ended += v;
                }
            }
            want.retain(|_, v| *v != 0);
            let got = &sums.0[n];
            let mut period = got.period.clone();
            period.retain(|_, v| *v != 0);
            assert_eq!(period, want, "{n} {from}..{to}");
            assert_eq!(
                (got.created_to_end, got.ended_to_end),
                (created, ended),
                "{n} up to {to}"
            );
            assert!(created > 0, "{n} has cases up to {to}");
        }
    }
    let counters = db.all_counters().await.unwrap();
    assert!(!counters.is_empty());
    assert!(
        counters == db.recount_counters().await.unwrap(),
        "counters differ"
    );

    let state = AppState::new(db, clock.clone(), Settings::default());
    let app = App {
        router: server::router(state.clone()),
        state,
        counted: true,
    };
    let token = app.token("center-623027").await;

    // Statistics of the county show the history.
    let s = app
        .get(
            "/api/v1/stats?territory=623027&from=2026-02-10&to=2026-03-18",
            Some(&token),
        )
        .await;
    s.expect(StatusCode::OK);
    let s = s.json();
    assert!(s["cases_total"].as_i64().unwrap() > 1_000, "{s}");
    assert!(s["cases_closed"].as_i64().unwrap() > 0, "{s}");
    assert!(s["visits"].as_i64().unwrap() > 0, "{s}");
    assert!(s["daily_reports_received"].as_i64().unwrap() > 0, "{s}");

    // A filtered list, paged by its cursor: every item matches, no item twice.
    let mut seen = HashSet::new();
    let mut uri = format!("/api/v1/cases?territory={TOWNSHIP}&status=closed&limit=50");
    for _ in 0..3 {
        let r = app.get(&uri, Some(&token)).await;
        r.expect(StatusCode::OK);
        let v = r.json();
        for c in v["items"].as_array().unwrap() {
            assert_eq!(c["status"], "closed");
            assert!(c["territory"].as_str().unwrap().starts_with(TOWNSHIP));
            assert!(seen.insert(id_of(&c["id"])), "no case twice");
        }
        match v["next_cursor"].as_str() {
            Some(cur) => {
                uri = format!(
                    "/api/v1/cases?territory={TOWNSHIP}&status=closed&limit=50&cursor={cur}"
                )
            }
            None => break,
        }
    }
    assert!(
        seen.len() > 50,
        "more than one page of closed cases: {}",
        seen.len()
    );

    // Overdue open cases exist and are listed.
    let r = app
        .get("/api/v1/cases?overdue=true&limit=50", Some(&token))
        .await;
    r.expect(StatusCode::OK);
    assert!(!r.json()["items"].as_array().unwrap().is_empty());

    // Search: a Chinese word and a Tibetan one of the generated texts find loaded cases.
    for q in ["取暖", "རྩོད་གཞི"] {
        let r = app
            .get(
                &format!("/api/v1/cases?q={}&limit=50", enc(q)),
                Some(&token),
            )
            .await;
        r.expect(StatusCode::OK);
        let items = r.json()["items"].as_array().unwrap().clone();
        assert!(!items.is_empty(), "{q} finds cases");
        assert!(items.iter().all(|c| id_of(&c["id"]) <= 1_500 + 10));
    }

    // A new case goes on numbering after the history.
    let worker = app.token("worker-623027202201001").await;
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "service.policy", "description": "咨询政策", "territory": "623027202201001"}),
            Some(&worker),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert!(id_of(&r.json()["id"]) > rows("cases") as i64);
    assert!(
        app.state
            .db
            .month_rollups_disagreeing()
            .await
            .unwrap()
            .is_empty(),
        "a live write keeps the monthly rows the sums of their days"
    );

    let db = app.state.db.clone();
    drop(app);
    db.close().await;
    store::testing::remove(t).await;
}

/// A case id, given as a number or a string.
fn id_of(v: &Value) -> i64 {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an id: {v}"))
}
