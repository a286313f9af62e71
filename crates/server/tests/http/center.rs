//! The war room page (`/center`): who may open it, the map and children drawn from our
//! geometry with their open and overdue loads, drill-down to a grid and its households, the
//! lists, every figure a link, and the live script (no inline script: CSP).

use super::*;

fn count_in(html: &str, anchor: &str) -> i64 {
    let at = html
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} not on the page"));
    let rest = &html[at + anchor.len()..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap() + start;
    rest[start..end].trim().parse().expect("a number")
}

#[tokio::test]
async fn the_war_room_shows_its_node_live_and_drills_down() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;

    // Signed out: to the login page; a grid worker has no war room; a leader has.
    let r = app.page("/center", None).await;
    assert!(r.status.is_redirection(), "{}", r.status);
    let worker = app.session(&format!("worker-{}", p.grid)).await;
    app.page("/center", Some(&worker))
        .await
        .expect(StatusCode::FORBIDDEN);
    let leader = app.session(&format!("leader-{TOWNSHIP}")).await;
    app.page("/center?territory=623027", Some(&leader))
        .await
        .expect(StatusCode::FORBIDDEN);

    // A grid no other test writes to (they share the database and run at once): the last
    // grid of the last village of 达麦乡 other than 达麦村.
    let villages = children(&app.territory(&admin, TOWNSHIP).await);
    let village = villages
        .iter()
        .rev()
        .find(|v| v.as_str() != VILLAGE)
        .expect("达麦乡 has another village")
        .clone();
    let grid = children(&app.territory(&admin, &village).await)
        .pop()
        .expect("the village has a grid");
    let before = app
        .page(&format!("/center?territory={village}"), Some(&leader))
        .await;
    before.expect(StatusCode::OK);
    let row = format!("<tr data-child=\"{grid}\">");
    let grid_before = {
        let html = before.text();
        let at = html.find(&row).expect("the grid's row");
        count_in(&html[at..], "class=\"open\"")
    };
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "attention.security.theft", "description": "作战室测试",
                    "territory": grid}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let case = r.json();

    // The township's room: the map has a link per village, the live section its node, the
    // script is external.
    let r = app.page("/center", Some(&leader)).await;
    r.expect(StatusCode::OK);
    let html = r.text();
    assert!(html.contains("作战室"), "title");
    assert!(html.contains("<svg class=\"map\""), "a map");
    assert!(
        html.contains(&format!("href=\"/center?territory={VILLAGE}\"")),
        "the village is a link on the map or the table"
    );
    assert!(html.contains(&format!("id=\"live\" data-territory=\"{TOWNSHIP}\"")));
    assert!(html.contains("<script src=\"/static/center.js\" defer></script>"));
    assert!(!html.contains("<script>"), "no inline script");
    assert!(count_in(&html, "id=\"center-open\"") >= 1);
    // The seed's figures for today, the week and the month, from the statistics rollups; the
    // case figures link to their list; today's cases count the new one.
    assert!(html.contains("主要指标") && html.contains("政策宣传"));
    let kpi = html.find("报事总数").expect("the cases figure");
    let cell = &html[kpi..];
    assert!(
        cell.replace("&#38;", "&amp;")
            .contains(&format!("<a href=\"/cases?territory={TOWNSHIP}&amp;from=")),
        "the figure links to the cases of its node and period"
    );
    assert!(html.contains("近 14 日报事"), "the trend chart");

    // The village's room counts the new case in its grid.
    let r = app
        .page(&format!("/center?territory={village}"), Some(&leader))
        .await;
    let html = r.text();
    let at = html.find(&row).expect("the grid's row");
    let grid_after = count_in(&html[at..], "class=\"open\"");
    assert!(
        grid_after > grid_before,
        "open in {} went {grid_before} → {grid_after}",
        grid
    );
    // Every figure opens its list: the open cases of the grid list the new case.
    let href = format!("/cases?territory={}&amp;open=1", grid);
    assert!(html.contains(&href), "the open count links to {href}");
    let list = app
        .page(&format!("/cases?territory={}&open=1", grid), Some(&leader))
        .await;
    list.expect(StatusCode::OK);
    assert!(
        list.text().contains(case["code"].as_str().unwrap()),
        "the list behind the figure holds the case"
    );
    app.page("/cases?territory=623027&open=1", Some(&leader))
        .await
        .expect(StatusCode::FORBIDDEN);

    // Down to the grid: its households.
    let r = app
        .page(&format!("/center?territory={}", p.grid), Some(&leader))
        .await;
    r.expect(StatusCode::OK);
    assert!(
        r.text().contains("id=\"households\""),
        "the grid's households"
    );

    let js = app.page("/static/center.js", None).await;
    js.expect(StatusCode::OK);
    assert!(
        js.header(header::CONTENT_TYPE)
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text().contains("EventSource"));
}

/// The load per child agrees with a recount of the open cases, and the overdue list holds
/// the cases whose step is past due (seen by a clock a month later).
#[tokio::test]
async fn loads_agree_with_a_recount_and_overdue_cases_are_listed() {
    let clock = Arc::new(FixedClock::at(Utc::now()));
    let app = App::with_clock(clock.clone()).await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "attention.security.theft", "description": "会超期的事",
                    "territory": p.other_grid}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let code = r.json()["code"].as_str().unwrap().to_owned();

    // A recount through the case list, against the partial-index query, at one instant (the
    // other tests may add cases in between: retry until two reads agree).
    let now = clock.now();
    let mut agreed = false;
    for _ in 0..5 {
        let loads = app.state.db.open_load(VILLAGE, 15, now).await.unwrap();
        let open = app
            .state
            .db
            .list_cases(&store::cases::CaseFilter {
                territory_prefix: VILLAGE.into(),
                open_only: true,
                limit: 100_000,
                ..Default::default()
            })
            .await
            .unwrap();
        let again = app.state.db.open_load(VILLAGE, 15, now).await.unwrap();
        if loads != again {
            continue;
        }
        let mut recount: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for c in &open {
            let e = recount
                .entry(c.territory[..15.min(c.territory.len())].to_owned())
                .or_default();
            e.0 += 1;
            if c.status != "parked" && c.deadline.is_some_and(|d| d < now) {
                e.1 += 1;
            }
        }
        let got: BTreeMap<String, (i64, i64)> = loads
            .into_iter()
            .map(|l| (l.code, (l.open, l.overdue)))
            .collect();
        if got == recount {
            agreed = true;
            break;
        }
    }
    assert!(agreed, "the open load agrees with a recount");

    // Two months later.
    clock.advance(chrono::Duration::days(60));
    let leader = app.session(&format!("leader-{TOWNSHIP}")).await;
    let r = app
        .page(
            &format!("/center?territory={}", p.other_grid),
            Some(&leader),
        )
        .await;
    r.expect(StatusCode::OK);
    let html = r.text();
    let list = html.find("超期案件").expect("the overdue list");
    assert!(
        html[list..].contains(&code),
        "the case is overdue two months later"
    );
    assert!(count_in(&html, "id=\"center-overdue\"") >= 1);
}

/// A month's assessment of 达麦乡's units: the counts are the counters of the month (a recount
/// per unit from `case_counters`), the indicators their ratios, units ranked by score; the
/// weights are the administrator's; the Excel export is a workbook.
#[tokio::test]
async fn the_assessment_ranks_units_by_their_months_counters() {
    // October 2025: a month no other test acts in.
    let t0 = Utc.with_ymd_and_hms(2025, 10, 9, 2, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::at(t0));
    let app = App::with_clock(clock.clone()).await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let police = format!("{TOWNSHIP}-police");
    let handler = app.token(&format!("handler-{police}")).await;
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "attention.security.theft", "description": "考核测试",
                    "territory": p.grid}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let act = |token: String, body: Value| {
        let path = format!("/api/v1/cases/{id}/actions");
        let app = &app;
        let clock = clock.clone();
        async move {
            clock.advance(chrono::Duration::minutes(30));
            app.post_json(&path, &body, Some(&token))
                .await
                .expect(StatusCode::OK);
        }
    };
    act(centre.clone(), json!({"action": "accept"})).await;
    act(
        centre.clone(),
        json!({"action": "dispatch", "to": {"unit": police}}),
    )
    .await;
    act(handler.clone(), json!({"action": "sign"})).await;
    act(
        handler.clone(),
        json!({"action": "report_handled", "result": "solved", "text": "已追回"}),
    )
    .await;
    act(centre.clone(), json!({"action": "verify", "passed": true})).await;
    act(
        centre.clone(),
        json!({"action": "revisit", "satisfaction": "satisfied"}),
    )
    .await;

    let r = app
        .get(
            &format!("/api/v1/assessment?territory={TOWNSHIP}&month=2025-10"),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::OK);
    let a = r.json();
    assert_eq!(a["from"], "2025-10-01");
    assert_eq!(a["to"], "2025-10-31");
    let units = a["units"].as_array().unwrap();
    let unit = |code: &str| {
        units
            .iter()
            .find(|u| u["unit"] == code)
            .unwrap_or_else(|| panic!("{code} is assessed"))
            .clone()
    };
    // The counts are the month's counters of each unit.
    let from = chrono::NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2025, 10, 31).unwrap();
    for code in [TOWNSHIP, police.as_str()] {
        let u = unit(code);
        let stored = app.state.db.counter_totals(code, from, to).await.unwrap();
        let stored: BTreeMap<String, i64> = stored.into_iter().filter(|(_, n)| *n != 0).collect();
        let counts: BTreeMap<String, i64> = serde_json::from_value(u["counts"].clone()).unwrap();
        assert_eq!(counts, stored, "{code}");
    }
    let p_unit = unit(&police);
    assert_eq!(p_unit["counts"]["due_sign"], 1);
    assert_eq!(p_unit["indicators"]["timely_sign_rate"], 1.0);
    assert_eq!(p_unit["indicators"]["satisfaction_rate"], 1.0);
    assert_eq!(p_unit["kind"], "department");
    assert!(p_unit["rank"].as_u64().is_some(), "{p_unit}");
    let c_unit = unit(TOWNSHIP);
    assert_eq!(c_unit["indicators"]["timely_accept_rate"], 1.0);
    assert_eq!(c_unit["indicators"]["accurate_dispatch_rate"], 1.0);
    // Ranked best first; units with nothing to score come last, unranked.
    let scores: Vec<Option<f64>> = units.iter().map(|u| u["score"].as_f64()).collect();
    let ranked: Vec<f64> = scores.iter().map_while(|s| *s).collect();
    assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores[ranked.len()..].iter().all(Option::is_none));
    assert!(
        units.iter().any(|u| u["rank"].is_null()),
        "idle units are listed too"
    );
    assert!(
        a["levels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["level"] == "township"),
        "{}",
        a["levels"]
    );

    // The administrator sets the weights: only satisfaction counts, so a satisfied unit scores 100.
    let w = json!({"timely_accept_rate": 0, "timely_sign_rate": 0, "on_time_close_rate": 0,
        "close_rate": 0, "rework_rate": 0, "accurate_dispatch_rate": 0, "satisfaction_rate": 1});
    app.post_json("/api/v1/admin/assessment-weights", &w, Some(&admin))
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    let put = |token: &str, body: &Value| {
        let req = Request::put("/api/v1/admin/assessment-weights")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        app.send(req)
    };
    put(&centre, &w)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    put(&admin, &json!({"penalty_red": -1}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    put(&admin, &w).await.expect(StatusCode::OK);
    let a = app
        .get(
            &format!("/api/v1/assessment?territory={TOWNSHIP}&month=2025-10"),
            Some(&centre),
        )
        .await
        .json();
    let p_unit = a["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == police)
        .unwrap()
        .clone();
    assert_eq!(p_unit["score"], 100.0, "{p_unit}");
    put(&admin, &json!({})).await.expect(StatusCode::OK); // back to the defaults

    let x = app
        .get(
            &format!("/api/v1/assessment.xlsx?territory={TOWNSHIP}&month=2025-10"),
            Some(&centre),
        )
        .await;
    x.expect(StatusCode::OK);
    assert!(x.body.starts_with(b"PK"), "an xlsx (zip) file");
    app.get(
        "/api/v1/assessment?territory=623027&month=2025-10",
        Some(&centre),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    app.get("/api/v1/assessment?month=2025-13", Some(&centre))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
}

/// A day with a burst of thefts at one spot: the daily report counts them, flags the category
/// and the place as rising against their empty baselines, finds the space-time cluster, puts
/// them on the leader's attention list, and exports the workbook and the printable page.
#[tokio::test]
async fn the_daily_report_flags_a_burst_and_its_cluster() {
    use geo::InteriorPoint;
    // 20 November 2025: a day no other test acts in, with nothing in the month before.
    let t0 = Utc.with_ymd_and_hms(2025, 11, 20, 1, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::at(t0));
    let app = App::with_clock(clock.clone()).await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let node = app.territory(&admin, &p.grid).await;
    let shape = server::actions::territory::parse_multipolygon(&node["geometry"].to_string())
        .expect("the grid's outline");
    let pt = shape.interior_point().expect("a point inside");
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let mut codes = Vec::new();
    for i in 0..6 {
        clock.advance(chrono::Duration::minutes(20));
        let r = app
            .post_json(
                "/api/v1/cases",
                &json!({"category": "attention.security.theft",
                        "description": format!("牛棚被盗 {i}"),
                        "location": {"lng": pt.x() + 0.0001 * f64::from(i), "lat": pt.y()}}),
                Some(&centre),
            )
            .await;
        r.expect(StatusCode::CREATED);
        codes.push(r.json()["code"].as_str().unwrap().to_owned());
    }
    let r = app
        .get(
            &format!("/api/v1/daily?territory={VILLAGE}&date=2025-11-20"),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::OK);
    let d = r.json();
    assert_eq!(d["summary"]["cases"], 6, "{}", d["summary"]);
    assert_eq!(d["summary"]["by_class"]["attention"], 6);
    let grid_row = d["summary"]["by_child"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["territory"] == p.grid.as_str())
        .expect("the grid in the summary")
        .clone();
    assert_eq!(grid_row["cases"], 6);
    let theft = d["rising_categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "attention.security.theft")
        .unwrap_or_else(|| panic!("theft rose: {}", d["rising_categories"]))
        .clone();
    assert_eq!(theft["today"], 6);
    assert_eq!(theft["last_7"], 0);
    assert!(theft["p_7"].as_f64().unwrap() < 1e-4, "{theft}");
    assert!(
        d["rising_places"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == p.grid.as_str()),
        "{}",
        d["rising_places"]
    );
    let clusters = d["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert_eq!(clusters[0]["size"], 6);
    let mut in_cluster: Vec<String> = serde_json::from_value(clusters[0]["codes"].clone()).unwrap();
    in_cluster.sort();
    codes.sort();
    assert_eq!(in_cluster, codes);
    assert!(!d["attention"].as_array().unwrap().is_empty());
    // The day before: nothing.
    let before = app
        .get(
            &format!("/api/v1/daily?territory={VILLAGE}&date=2025-11-19"),
            Some(&centre),
        )
        .await
        .json();
    assert_eq!(before["summary"]["cases"], 0);
    assert!(before["rising_categories"].as_array().unwrap().is_empty());

    let x = app
        .get(
            &format!("/api/v1/daily.xlsx?territory={VILLAGE}&date=2025-11-20"),
            Some(&centre),
        )
        .await;
    x.expect(StatusCode::OK);
    assert!(x.body.starts_with(b"PK"));
    let leader = app.session(&format!("leader-{TOWNSHIP}")).await;
    let page = app
        .page(
            &format!("/center/daily?territory={VILLAGE}&date=2025-11-20"),
            Some(&leader),
        )
        .await;
    page.expect(StatusCode::OK);
    let html = page.text();
    assert!(html.contains("日汇总") && html.contains("时空聚集"));
    assert!(html.contains(&codes[0]));
    app.get("/api/v1/daily?date=2025-11-31", Some(&centre))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
}

/// 20 August 2025 (a day and a month no other test acts in): a grid worker sends a zero
/// report, one household head reports something, the other heads send nothing. The daily
/// collection names them; the grid worker's assessment of the month is recounted by hand; and
/// every figure of the war room for the day equals the number of cases its link lists.
#[tokio::test]
async fn the_daily_collection_names_who_reported_and_each_figure_opens_its_cases() {
    let t0 = Utc.with_ymd_and_hms(2025, 8, 20, 2, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::at(t0));
    let app = App::with_clock(clock.clone()).await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let groups = children(&app.territory(&admin, &p.grid).await);
    let worker_name = format!("worker-{}", p.grid);
    let head_name = format!("head-{}", groups[0]);
    let worker = app.token(&worker_name).await;
    let head = app.token(&head_name).await;
    let report = |token: String, zero: bool| {
        let app = &app;
        async move {
            let body = if zero {
                json!({"date": "2025-08-20", "nothing_to_report": true})
            } else {
                json!({"date": "2025-08-20", "nothing_to_report": false, "text": "草场边界有争议"})
            };
            app.post_json("/api/v1/daily-reports", &body, Some(&token))
                .await
                .expect(StatusCode::CREATED);
        }
    };
    report(worker.clone(), true).await;
    report(head.clone(), false).await;

    // The collection of the grid: everyone expected, by name; a zero report is a report.
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let d = app
        .get(
            &format!("/api/v1/daily?territory={}&date=2025-08-20", p.grid),
            Some(&centre),
        )
        .await;
    d.expect(StatusCode::OK);
    let c = d.json()["collection"].clone();
    let people: Vec<Value> = c["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["people"].as_array().unwrap().clone())
        .collect();
    let person = |account: &str| {
        people
            .iter()
            .find(|x| x["account"] == account)
            .unwrap_or_else(|| panic!("{account} in {c}"))
            .clone()
    };
    let w = person(&worker_name);
    assert_eq!(w["reported"], true);
    assert_eq!(
        w["nothing_to_report"], true,
        "a zero report counts as a report"
    );
    assert_eq!(w["role"], "grid_worker");
    let h = person(&head_name);
    assert_eq!(
        (h["reported"].clone(), h["nothing_to_report"].clone()),
        (json!(true), json!(false))
    );
    let missing: Vec<&Value> = people.iter().filter(|x| x["reported"] == false).collect();
    assert_eq!(
        missing.len() + 2,
        people.len(),
        "everyone but the two who reported is missing: {c}"
    );
    if groups.len() > 1 {
        let other = format!("head-{}", groups[1]);
        assert_eq!(person(&other)["reported"], false, "a head who sent nothing");
    }
    assert!(!missing.is_empty(), "someone did not report: {c}");
    // Counts are a recount of the names.
    assert_eq!(c["expected"], people.len());
    assert_eq!(c["reported"], 2);
    assert_eq!(c["zero_reports"], 1);
    assert_eq!(c["missing"], missing.len());
    // Staff names only: no household's personal data.
    for x in &people {
        let keys: Vec<&String> = x.as_object().unwrap().keys().collect();
        assert!(
            keys.iter().all(|k| [
                "account",
                "name",
                "role",
                "territory",
                "unit",
                "reported",
                "nothing_to_report",
                "reported_at"
            ]
            .contains(&k.as_str())),
            "{x}"
        );
    }
    // The village groups the grid's people under the grid.
    let v = app
        .get(
            &format!("/api/v1/daily?territory={VILLAGE}&date=2025-08-20"),
            Some(&centre),
        )
        .await
        .json();
    let g = v["collection"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["territory"] == p.grid.as_str())
        .expect("the grid's group")
        .clone();
    assert_eq!(
        (g["reported"].clone(), g["zero_reports"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(g["expected"], people.len());

    // The page names them, in Chinese and in Tibetan.
    let leader = app.session(&format!("leader-{TOWNSHIP}")).await;
    let page = app
        .page(
            &format!("/center/daily?territory={}&date=2025-08-20", p.grid),
            Some(&leader),
        )
        .await;
    page.expect(StatusCode::OK);
    let html = page.text();
    assert!(html.contains("日收集"), "the collection section");
    assert!(html.contains(&format!(
        "<tr class=\"report-zero\" data-account=\"{worker_name}\">"
    )));
    assert!(html.contains(&format!(
        "<tr class=\"report-reported\" data-account=\"{head_name}\">"
    )));
    assert!(html.contains("<tr class=\"report-missing\""));
    assert!(html.contains(w["name"].as_str().unwrap()));
    let x = app
        .get(
            &format!("/api/v1/daily.xlsx?territory={}&date=2025-08-20", p.grid),
            Some(&centre),
        )
        .await;
    x.expect(StatusCode::OK);
    assert!(x.body.starts_with(b"PK"));

    // Cases of the day: two thefts by the centre, one pasture dispute the worker settles
    // himself (verified and closed by the village).
    for i in 0..2 {
        app.post_json(
            "/api/v1/cases",
            &json!({"category": "attention.security.theft", "description": format!("八月失窃 {i}"),
                    "territory": p.grid}),
            Some(&centre),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "attention.dispute.pasture", "description": "两户草场边界纠纷",
                    "territory": p.grid}),
            Some(&worker),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let village = app
        .token(&format!("center-{}", r.json()["centre"].as_str().unwrap()))
        .await;
    for (token, body) in [
        (
            &worker,
            json!({"action": "self_handle", "result": "solved", "text": "调解达成协议"}),
        ),
        (&village, json!({"action": "verify", "passed": true})),
        (&village, json!({"action": "close"})),
    ] {
        clock.advance(chrono::Duration::minutes(10));
        app.post_json(&format!("/api/v1/cases/{id}/actions"), &body, Some(token))
            .await
            .expect(StatusCode::OK);
    }

    // The war room of the grid: each of today's figures links to a list of as many cases.
    let room = app
        .page(&format!("/center?territory={}", p.grid), Some(&leader))
        .await;
    room.expect(StatusCode::OK);
    let html = room.text().replace("&#38;", "&amp;");
    let today_cell = |label: &str| -> (i64, String) {
        let at = html
            .find(label)
            .unwrap_or_else(|| panic!("{label} on the page"));
        let row = &html[at..];
        let a = row.find("<a href=\"").expect("a link") + 9;
        let end = row[a..].find('"').unwrap() + a;
        let href = row[a..end].replace("&amp;", "&");
        let n_at = row[end..].find('>').unwrap() + end + 1;
        let n_end = row[n_at..].find('<').unwrap() + n_at;
        (row[n_at..n_end].trim().parse().expect("a number"), href)
    };
    let mut checked = 0;
    for (label, want) in [
        ("报事总数", 3),
        ("<th>办结</th>", 1),
        ("解决困难问题", 1),
        ("化解矛盾纠纷", 1),
    ] {
        let (n, href) = today_cell(label);
        assert_eq!(n, want, "{label}: {href}");
        assert!(href.contains("from=2025-08-20&to=2025-08-20"), "{href}");
        // The page behind the figure lists as many cases, and the API with the same filters.
        let list = app.page(&href, Some(&leader)).await;
        list.expect(StatusCode::OK);
        let rows = list.text().matches("<li class=\"case-row").count() as i64;
        assert_eq!(rows, n, "{label}: {href} lists {rows}");
        let api = href.replacen("/cases?", "/api/v1/cases?", 1);
        let items = app.get(&api, Some(&centre)).await;
        items.expect(StatusCode::OK);
        assert_eq!(
            items.json()["items"].as_array().unwrap().len() as i64,
            n,
            "{api}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
    // The category chart: bars link to their category's cases of the period.
    assert!(html.contains("id=\"center-categories\""));
    assert!(
        html.contains("category=attention.security.theft"),
        "a leaf bar"
    );
    // A period filter keeps its days: nothing on the day before.
    let none = app
        .get(
            &format!(
                "/api/v1/cases?territory={}&from=2025-08-19&to=2025-08-19",
                p.grid
            ),
            Some(&centre),
        )
        .await;
    none.expect(StatusCode::OK);
    assert_eq!(none.json()["items"].as_array().unwrap().len(), 0);
    app.get("/api/v1/cases?from=2025-08-21&to=2025-08-20", Some(&centre))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // The grid worker's assessment of August, recounted by hand: 20 reports owed (1–20
    // August), 1 received, a zero one; the grid's dispute closed and resolved; the grid's
    // handling counters.
    let a = app
        .get(
            &format!("/api/v1/assessment?territory={VILLAGE}&month=2025-08"),
            Some(&centre),
        )
        .await;
    a.expect(StatusCode::OK);
    let a = a.json();
    let me = a["persons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["account"] == worker_name.as_str())
        .expect("the worker is assessed")
        .clone();
    assert_eq!(me["territory"], p.grid.as_str());
    let f = &me["field"];
    assert_eq!(
        (
            f["reports_expected"].clone(),
            f["reports_received"].clone(),
            f["zero_reports"].clone()
        ),
        (json!(20), json!(1), json!(1)),
        "{me}"
    );
    assert_eq!(
        (f["disputes_closed"].clone(), f["disputes_resolved"].clone()),
        (json!(1), json!(1))
    );
    let i = &me["indicators"];
    assert_eq!(i["daily_report_rate"], 0.05);
    assert_eq!(i["zero_report_rate"], 1.0);
    assert_eq!(i["dispute_resolution_rate"], 1.0);
    let from = chrono::NaiveDate::from_ymd_opt(2025, 8, 1).unwrap();
    let to = chrono::NaiveDate::from_ymd_opt(2025, 8, 31).unwrap();
    let stored: BTreeMap<String, i64> = app
        .state
        .db
        .counter_totals(&p.grid, from, to)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect();
    let counts: BTreeMap<String, i64> = serde_json::from_value(me["counts"].clone()).unwrap();
    assert_eq!(counts, stored, "the grid's counters");
    let n = |k: &str| stored.get(k).copied().unwrap_or(0) as f64;
    assert_eq!(n("due_close"), 1.0, "{stored:?}");
    // Default weights: on time 25, closed 10, rework (1 − r) 10, resolution 15, daily 10,
    // zero (1 − r) 5; the rates the grid has no denominator for drop out.
    let mut sum = 0.0;
    let mut weight = 0.0;
    for (v, wgt) in [
        (Some(n("closed_on_time") / n("due_close")), 25.0),
        (Some(n("closed") / n("due_close")), 10.0),
        (Some(1.0 - n("rework") / n("due_close")), 10.0),
        (Some(1.0), 15.0),
        (Some(1.0 / 20.0), 10.0),
        (Some(1.0 - 1.0), 5.0),
    ] {
        if let Some(v) = v {
            sum += v * wgt;
            weight += wgt;
        }
    }
    let by_hand = (100.0 * sum / weight * 100.0).round() / 100.0;
    assert_eq!(me["score"].as_f64().unwrap(), by_hand, "{me}");
    assert!(me["rank"].as_u64().is_some());
    let ranks: Vec<Option<f64>> = a["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["score"].as_f64())
        .collect();
    let scored: Vec<f64> = ranks.iter().map_while(|s| *s).collect();
    assert!(scored.windows(2).all(|w| w[0] >= w[1]), "{ranks:?}");
    // The grid unit carries the same field figures of its territory (its people's reports).
    let unit = a["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == p.grid.as_str())
        .expect("the grid unit")
        .clone();
    assert_eq!(unit["field"]["reports_received"], 2, "{unit}");
    assert_eq!(unit["field"]["disputes_resolved"], 1);
    // The page: every person, every rate a link.
    let page = app
        .page(
            &format!("/center/assessment?territory={VILLAGE}&month=2025-08"),
            Some(&leader),
        )
        .await;
    page.expect(StatusCode::OK);
    let html = page.text().replace("&#38;", "&amp;");
    assert!(html.contains("id=\"assess-persons\"") && html.contains("id=\"assess-units\""));
    assert!(html.contains("化解率") && html.contains("零报告率") && html.contains("日报率"));
    assert!(html.contains(&format!(
        "/cases?territory={}&amp;from=2025-08-01&amp;to=2025-08-31&amp;closed=true&amp;dispute=true",
        p.grid
    )));
    let x = app
        .get(
            &format!("/api/v1/assessment.xlsx?territory={VILLAGE}&month=2025-08"),
            Some(&centre),
        )
        .await;
    x.expect(StatusCode::OK);
    assert!(x.body.starts_with(b"PK"));
    // In Tibetan, the pages speak Tibetan.
    let bo = app
        .page(
            &format!("/center/daily?territory={}&date=2025-08-20&lang=bo", p.grid),
            Some(&leader),
        )
        .await;
    bo.expect(StatusCode::OK);
    assert!(bo.text().contains("ཉིན་རེའི་བསྡུ་ལེན།"), "the Tibetan daily page");
}
