//! The resident channel: public reports (JSON and multipart with photos) entering the same case
//! loop, the public view by tracking code, the reporter's rating through the engine's revisit,
//! the duplicate suggestion, abuse controls, and the `/report` and `/track` pages in three
//! languages.

use super::*;
use geo::InteriorPoint;

const JPEG_GPS: &[u8] = include_bytes!("../../../domain/testdata/photo-gps.jpg");

/// A point inside a grid of 达麦村 (WGS-84 lng, lat).
pub(crate) async fn damai_point(app: &App) -> (f64, f64) {
    let admin = app.token("admin").await;
    let grid = picks(app, &admin).await.grid;
    let node = app.territory(&admin, &grid).await;
    let shape = server::actions::territory::parse_multipolygon(&node["geometry"].to_string())
        .expect("grid outline");
    let p = shape.interior_point().expect("interior point");
    (p.x(), p.y())
}

/// A device cookie of its own for each test, so rate limits do not mix tests.
fn device() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "testdevice{:016}",
        N.fetch_add(1, Ordering::SeqCst) + std::process::id() as usize * 1000
    )
}

async fn post_multipart(
    app: &App,
    uri: &str,
    dev: &str,
    parts: &[(&str, Option<&str>, &[u8])],
) -> Resp {
    let (ct, body) = super::attachments::multipart(parts);
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, ct)
        .header(header::COOKIE, format!("gesang_device={dev}"))
        .header("sec-fetch-site", "same-origin")
        .body(Body::from(body))
        .unwrap();
    app.send(req).await
}

async fn case_of(app: &App, code: &str) -> store::cases::CaseRecord {
    server::actions::resident::case_of_code(&app.state, code)
        .await
        .expect("a genuine code")
        .1
}

#[tokio::test]
async fn a_report_with_a_photo_runs_the_loop_and_the_reporter_rates_it() {
    let app = App::new().await;
    let (lng, lat) = damai_point(&app).await;
    let dev = device();
    let lat_s = lat.to_string();
    let lng_s = lng.to_string();
    let r = post_multipart(
        &app,
        "/api/v1/public/reports",
        &dev,
        &[
            ("category", None, b"service.policy"),
            (
                "description",
                None,
                "ཞིང་འབྲོག་པའི་སྲིད་ཇུས་བློ་འདྲི། 牧民补贴政策咨询".as_bytes(),
            ),
            ("lat", None, lat_s.as_bytes()),
            ("lng", None, lng_s.as_bytes()),
            ("name", None, "卓玛".as_bytes()),
            ("phone", None, b"13800001111"),
            ("photo", Some("IMG_1.jpg"), JPEG_GPS),
        ],
    )
    .await;
    r.expect(StatusCode::CREATED);
    let code = r.json()["tracking_code"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["url"], format!("/track/{code}"));
    assert_eq!(code.len(), 19);

    // The same case loop: channel resident_page, routed to its grid, with its photo.
    let rec = case_of(&app, &code).await;
    assert_eq!(rec.channel, "resident_page");
    assert_eq!(rec.status, "submitted");
    assert!(rec.territory.starts_with(VILLAGE), "{}", rec.territory);
    let files = app.state.db.attachments_of("case", rec.id).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].event_seq, Some(1));

    // The public view: no name, no phone.
    let v = app
        .get(&format!("/api/v1/public/reports/{code}"), None)
        .await;
    v.expect(StatusCode::OK);
    let text = v.text();
    assert!(
        !text.contains("卓玛") && !text.contains("13800001111"),
        "{text}"
    );
    let v = v.json();
    assert_eq!(v["stage"], "received");
    assert_eq!(v["can_rate"], false);
    assert_eq!(v["photos"], 1);
    assert_eq!(v["history"][0]["action"], "create");
    // Lower case and no dashes are the same code; a forged one is not found.
    app.get(
        &format!(
            "/api/v1/public/reports/{}",
            code.to_lowercase().replace('-', "")
        ),
        None,
    )
    .await
    .expect(StatusCode::OK);
    let mut forged = code.clone();
    forged.replace_range(18..19, if code.ends_with('Z') { "Y" } else { "Z" });
    app.get(&format!("/api/v1/public/reports/{forged}"), None)
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Too early to rate: 409.
    let rating = |s: &str| json!({"satisfaction": s});
    app.post_json(
        &format!("/api/v1/public/reports/{code}/rating"),
        &rating("satisfied"),
        None,
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");

    // The centre takes it to the return visit through the ordinary actions.
    let centre = app.token(&format!("center-{}", rec.centre)).await;
    let id = rec.id.to_string();
    for body in [
        json!({"action": "accept"}),
        json!({"action": "report_handled", "result": "solved", "text": "已电话答复补贴标准"}),
        json!({"action": "verify", "passed": true}),
    ] {
        app.post_json(&format!("/api/v1/cases/{id}/actions"), &body, Some(&centre))
            .await
            .expect(StatusCode::OK);
    }
    let v = app
        .get(&format!("/api/v1/public/reports/{code}"), None)
        .await
        .json();
    assert_eq!(v["stage"], "awaiting_rating");
    assert_eq!(v["can_rate"], true);
    assert!(
        !v.to_string().contains("已电话答复"),
        "handlers' texts stay inside"
    );

    // A bad code of satisfaction, then the rating: the case closes with it.
    app.post_json(
        &format!("/api/v1/public/reports/{code}/rating"),
        &rating("great"),
        None,
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    let r = app
        .post_json(
            &format!("/api/v1/public/reports/{code}/rating"),
            &rating("very_satisfied"),
            None,
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.json()["status"], "closed");
    assert_eq!(r.json()["satisfaction"], "very_satisfied");
    let last = r.json()["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "revisit");
    assert_eq!(last["by_reporter"], true);
    // The centre's view: the same revisit event, by nobody (the reporter).
    let case = app
        .get(&format!("/api/v1/cases/{id}"), Some(&centre))
        .await
        .json();
    assert_eq!(case["satisfaction"], "very_satisfied");
    let h = case["history"].as_array().unwrap();
    assert_eq!(h.last().unwrap()["action"], "revisit");
    assert_eq!(h.last().unwrap()["by"], Value::Null);
    app.post_json(
        &format!("/api/v1/public/reports/{code}/rating"),
        &rating("satisfied"),
        None,
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn bad_reports_get_clear_errors_and_store_nothing() {
    let app = App::new().await;
    let (lng, lat) = damai_point(&app).await;
    let dev = device();
    let tag = format!("zqres{}", std::process::id());
    let post = |body: Value| {
        let dev = dev.clone();
        let app = &app;
        async move {
            let req = Request::post("/api/v1/public/reports")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, format!("gesang_device={dev}"))
                .body(Body::from(body.to_string()))
                .unwrap();
            app.send(req).await
        }
    };
    let field = |r: &Resp| {
        r.json()["error"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let loc = json!({"lat": lat, "lng": lng});

    let r =
        post(json!({"category": "service.policy", "description": "   ", "location": loc})).await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(field(&r), "description");
    // Beijing is outside the prefecture.
    let r = post(json!({"category": "service.policy", "description": tag, "location": {"lat": 39.9, "lng": 116.4}})).await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    assert_eq!(field(&r), "location");
    let r = post(json!({"category": "service.policy", "description": tag})).await;
    assert_eq!(field(&r), "location");
    // Sensitive matters are not taken from a public form; unknown categories neither.
    for cat in ["attention.special-groups.drug", "nonsense", "service"] {
        let r = post(json!({"category": cat, "description": tag, "location": loc})).await;
        r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert_eq!(field(&r), "category", "{cat}");
    }
    let r = post(json!({"category": "service.policy", "description": tag, "village": "623027202"}))
        .await;
    assert_eq!(field(&r), "village", "{}", r.text());
    let r = post(json!({"category": "service.policy", "description": tag, "location": loc, "reporter": {"phone": "call me"}})).await;
    assert_eq!(field(&r), "reporter.phone");
    // Malformed JSON is a 400.
    let req = Request::post("/api/v1/public/reports")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"category\":"))
        .unwrap();
    app.send(req)
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");

    // A "photo" that is not one: nothing stored, the case neither.
    let lat_s = lat.to_string();
    let lng_s = lng.to_string();
    let r = post_multipart(
        &app,
        "/api/v1/public/reports",
        &dev,
        &[
            ("category", None, b"service.policy"),
            ("description", None, tag.as_bytes()),
            ("lat", None, lat_s.as_bytes()),
            ("lng", None, lng_s.as_bytes()),
            ("photo", Some("a.jpg"), JPEG_GPS),
            ("photo", Some("evil.jpg"), b"MZ\x90\0 not a picture"),
        ],
    )
    .await;
    r.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    // A 50 MB upload.
    let huge = vec![0u8; 50 * 1024 * 1024];
    post_multipart(
        &app,
        "/api/v1/public/reports",
        &dev,
        &[
            ("category", None, b"service.policy"),
            ("photo", Some("x.jpg"), &huge),
        ],
    )
    .await
    .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // The village named as the place: filed, in that village.
    let r = post(json!({"category": "service.policy", "description": format!("{tag} village"), "village": VILLAGE, "anonymous": true, "reporter": {"name": "x"}})).await;
    r.expect(StatusCode::CREATED);
    let rec = case_of(&app, r.json()["tracking_code"].as_str().unwrap()).await;
    assert_eq!(rec.territory, VILLAGE);
    assert_eq!(rec.reporter_name, None, "anonymous keeps no name");
    // Nothing else of this test was stored.
    let admin = app.token("admin").await;
    let found = app
        .get(&format!("/api/v1/cases?q={tag}"), Some(&admin))
        .await
        .json();
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
}

#[tokio::test]
async fn rate_limits_idempotency_and_the_duplicate_suggestion() {
    let app = App::new().await;
    let (lng, lat) = damai_point(&app).await;
    let dev = device();
    let body = |d: &str| json!({"category": "management.environment.garbage", "description": d, "location": {"lat": lat, "lng": lng}});
    let send = |b: Value, dev: String| {
        let app = &app;
        async move {
            let req = Request::post("/api/v1/public/reports")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, format!("gesang_device={dev}"))
                .body(Body::from(b.to_string()))
                .unwrap();
            app.send(req).await
        }
    };
    let first = send(body("路口垃圾堆 first"), dev.clone()).await;
    first.expect(StatusCode::CREATED);
    // The second report of the same problem nearby is told about the first.
    let second = send(body("路口垃圾堆 second"), dev.clone()).await;
    second.expect(StatusCode::CREATED);
    let similar = second.json()["similar"].as_array().unwrap().clone();
    assert!(!similar.is_empty(), "{}", second.text());
    assert_eq!(similar[0]["category"], "management.environment.garbage");
    assert!(similar[0]["distance_m"].as_u64().unwrap() < 300);
    let near = app
        .get(
            &format!(
                "/api/v1/public/similar?category=management.environment.garbage&lat={lat}&lng={lng}"
            ),
            None,
        )
        .await;
    near.expect(StatusCode::OK);
    assert!(near.json()["items"].as_array().unwrap().len() >= 2);

    // The same idempotency key twice: one report, one code.
    let mut keyed = body("idempotent");
    keyed["idempotency_key"] = json!(format!("k-{dev}"));
    let a = send(keyed.clone(), dev.clone()).await;
    let b = send(keyed, dev.clone()).await;
    assert_eq!(a.json()["tracking_code"], b.json()["tracking_code"]);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));

    // Past the device's limit: 429 with Retry-After, in the envelope.
    *app.state.public.reports_by_device.lock().unwrap() =
        domain::public_report::RateLimit::new(2, chrono::Duration::hours(1));
    let other = device();
    send(body("limit 1"), other.clone())
        .await
        .expect(StatusCode::CREATED);
    send(body("limit 2"), other.clone())
        .await
        .expect(StatusCode::CREATED);
    let r = send(body("limit 3"), other.clone()).await;
    r.expect_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(r.header(header::RETRY_AFTER).is_some());
    // Another device is not held back.
    send(body("limit other"), device())
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn the_pages_work_without_javascript_in_three_languages() {
    let app = App::new().await;
    // The first step: three big choices, in Tibetan with the served font.
    let r = app.page("/report?lang=bo", None).await;
    r.expect(StatusCode::OK);
    let html = r.text();
    assert!(html.contains("lang=\"bo\""));
    assert!(html.contains("དོན་དག་སྙན་ཞུ།"));
    assert!(html.contains("/static/resident-bo.css"));
    assert!(html.contains(server::routes::resident::TIBETAN_FONT));
    assert_eq!(html.matches("class=\"rclass rclass-").count(), 3);
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with("gesang_device=")),
        "a device cookie"
    );
    let zh = app.page("/report?lang=zh", None).await.text();
    assert!(
        zh.contains("我要报事") && !zh.contains("resident-bo.css"),
        "no Tibetan font on Chinese pages"
    );
    let en = app.page("/report?class=service&lang=en", None).await.text();
    assert!(
        en.contains("Policy questions") || en.contains("policy"),
        "categories in English"
    );
    let font = app.page(server::routes::resident::TIBETAN_FONT, None).await;
    font.expect(StatusCode::OK);
    assert_eq!(font.header(header::CONTENT_TYPE), Some("font/woff2"));
    assert!(
        font.header(header::CACHE_CONTROL)
            .unwrap()
            .contains("immutable")
    );
    assert!(font.body.starts_with(b"wOF2"));

    // The form: a county narrows the villages; every resident string is translated.
    let form = app
        .page("/report?class=management&county=623027&lang=bo", None)
        .await
        .text();
    assert!(form.contains("name=\"village\"") && form.contains(VILLAGE));
    assert!(form.contains("enctype=\"multipart/form-data\""));
    let untranslated: Vec<&str> = form
        .match_indices("resident-")
        .map(|(i, _)| &form[i..(i + 24).min(form.len())])
        .filter(|s| !s.starts_with("resident-bo.css"))
        .collect();
    assert!(
        untranslated.is_empty(),
        "untranslated keys: {untranslated:?}"
    );

    // Sending it without a description: the error in Tibetan, what was typed kept.
    let dev = device();
    let r = post_multipart(
        &app,
        "/report?lang=bo",
        &dev,
        &[
            ("class", None, b"service"),
            ("category", None, b"service.policy"),
            ("village", None, VILLAGE.as_bytes()),
            ("name", None, "བཀྲ་ཤིས།".as_bytes()),
        ],
    )
    .await;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text();
    assert!(page.contains("གནས་ཚུལ་ཚིག་འགའ་འབྲི་རོགས།"), "the Tibetan error");
    assert!(page.contains("value=\"བཀྲ་ཤིས།\""), "the name is kept");

    // Sent right: to the tracking page with the receipt.
    let r = post_multipart(
        &app,
        "/report?lang=bo",
        &dev,
        &[
            ("class", None, b"service"),
            ("category", None, b"service.policy"),
            ("village", None, VILLAGE.as_bytes()),
            ("description", None, "སྲིད་ཇུས་བློ་འདྲི།".as_bytes()),
            ("photo", Some("p.jpg"), JPEG_GPS),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let to = r.header(header::LOCATION).unwrap().to_owned();
    assert!(to.starts_with("/track/") && to.contains("new=1"));
    let track = app.page(&to, None).await;
    track.expect(StatusCode::OK);
    let t = track.text();
    assert!(t.contains("ཁྱེད་ཀྱི་སྙན་ཞུ་འབྱོར་སོང་།"), "the receipt in Tibetan");
    assert!(t.contains("id=\"tracking-code\""));
    let photo = t
        .split("<img src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let p = app.page(&photo, None).await;
    p.expect(StatusCode::OK);
    assert_eq!(p.header(header::CONTENT_TYPE), Some("image/jpeg"));

    // A typed code finds the page; a wrong one says so in the reader's language.
    let code = to
        .trim_start_matches("/track/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let r = app
        .page(&format!("/track?code={}", code.to_lowercase()), None)
        .await;
    assert!(r.status.is_redirection());
    let r = app.page("/track/ABCD-EFGH-JKMN-PQRS?lang=en", None).await;
    r.expect(StatusCode::NOT_FOUND);
    assert!(r.text().contains("No report has this tracking code"));

    // Rating from the page before the return visit: refused on the page, in Tibetan.
    let r = app
        .post_form(
            &format!("/track/{code}/rate?lang=bo"),
            &[("satisfaction", "satisfied")],
            None,
        )
        .await;
    r.expect(StatusCode::CONFLICT);
    assert!(r.text().contains("ད་ལྟ་ལན་འདེབས་བྱེད་མི་ཐུབ།"));
}
