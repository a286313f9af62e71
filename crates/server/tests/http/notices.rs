//! Notices (通知) and idempotent case actions and uploads (issue 5): a centre reaches only the
//! audience it names inside its scope, acknowledgements count once, and a key sent twice (to
//! one server or two on the same database) acts once and answers the same.

use super::*;

const TOWNSHIP_CENTRE: &str = "center-623027202";
const JPEG: &[u8] = include_bytes!("../../../domain/testdata/photo-gps.jpg");

async fn send_notice(app: &App, token: &str, body: Value) -> Resp {
    app.post_json("/api/v1/notices", &body, Some(token)).await
}

fn notice_ids(list: &Value, side: &str) -> Vec<String> {
    list[side]
        .as_array()
        .unwrap_or_else(|| panic!("{side} in {list}"))
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_notice_reaches_its_audience_inside_the_scope_and_counts_each_acknowledgement_once() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let p = picks(&app, &admin).await;
    let centre = app.token(TOWNSHIP_CENTRE).await;
    let head_name = format!("head-{}", p.group);
    let head = app.token(&head_name).await;
    let worker = app.token(&format!("worker-{}", p.grid)).await;

    // Outside the sender's scope: refused; a field role does not send.
    send_notice(
        &app,
        &centre,
        json!({"title": "越界", "text": "x", "territories": [p.other_township], "audience": ["household_heads"]}),
    )
    .await
    .expect_error(StatusCode::FORBIDDEN, "out_of_scope");
    send_notice(
        &app,
        &worker,
        json!({"title": "网格员", "text": "x", "territories": [p.grid], "audience": ["household_heads"]}),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    for bad in [
        json!({"text": "x", "territories": [VILLAGE], "audience": ["household_heads"]}),
        json!({"title": "t", "text": "x", "territories": [], "audience": ["household_heads"]}),
        json!({"title": "t", "text": "x", "territories": [VILLAGE], "audience": ["everyone"]}),
        json!({"title": "t", "text": "x", "title_bo": "\u{E001}\u{E002}", "territories": [VILLAGE], "audience": ["household_heads"]}),
    ] {
        send_notice(&app, &centre, bad.clone())
            .await
            .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    }

    // To the household heads of 达麦村, in Chinese and Tibetan, twice with one key.
    let body = json!({"title": "防汛通知", "text": "今晚有强降雨，请通知各户注意安全。",
        "title_bo": "ཆུ་ལོག་སྔོན་འགོག", "territories": [VILLAGE], "audience": ["household_heads"],
        "idempotency_key": "notice-test-1"});
    let first = send_notice(&app, &centre, body.clone()).await;
    first.expect(StatusCode::CREATED);
    let n = first.json();
    let id = n["id"].as_str().unwrap().to_owned();
    let total = n["recipients_total"].as_i64().unwrap();
    let again = send_notice(&app, &centre, body).await;
    again.expect(StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["id"], id.as_str(), "one notice for one key");
    // Every household head of the village (the demo has one per group), and nobody else.
    let village_heads = app.territory(&admin, VILLAGE).await["counts"]["groups"]
        .as_i64()
        .unwrap();
    assert!(village_heads > 1, "达麦村 has household heads");
    assert_eq!(total, village_heads, "{n}");
    assert_eq!(n["acknowledged"], 0);

    // The head sees it, unacknowledged; the grid worker (not in the audience) does not.
    let list = app.get("/api/v1/notices", Some(&head)).await.json();
    assert!(notice_ids(&list, "received").contains(&id), "{list}");
    let mine = list["received"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap();
    assert!(mine["acknowledged_at"].is_null());
    assert_eq!(mine["title_bo"], "ཆུ་ལོག་སྔོན་འགོག");
    assert!(notice_ids(&list, "sent").is_empty(), "a head sends nothing");
    let wl = app.get("/api/v1/notices", Some(&worker)).await.json();
    assert!(!notice_ids(&wl, "received").contains(&id));
    app.get(&format!("/api/v1/notices/{id}"), Some(&worker))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    app.post_json(
        &format!("/api/v1/notices/{id}/ack"),
        &json!({}),
        Some(&worker),
    )
    .await
    .expect_error(StatusCode::NOT_FOUND, "not_found");

    // Opening marks it read; acknowledging twice counts once and answers the same.
    let opened = app.get(&format!("/api/v1/notices/{id}"), Some(&head)).await;
    opened.expect(StatusCode::OK);
    assert!(opened.json()["notice"]["read_at"].is_string());
    assert!(
        opened.json()["recipients"].is_null(),
        "a recipient sees no list"
    );
    let a1 = app
        .post_json(
            &format!("/api/v1/notices/{id}/ack"),
            &json!({"idempotency_key": "f-1"}),
            Some(&head),
        )
        .await;
    a1.expect(StatusCode::OK);
    let a2 = app
        .post_json(
            &format!("/api/v1/notices/{id}/ack"),
            &json!({"idempotency_key": "f-1"}),
            Some(&head),
        )
        .await;
    a2.expect(StatusCode::OK);
    assert_eq!(a1.json()["acknowledged_at"], a2.json()["acknowledged_at"]);
    assert!(a1.json()["acknowledged_at"].is_string());

    // The sender's desk: one acknowledgement, the head no longer among those pending.
    let sent = app.get("/api/v1/notices", Some(&centre)).await.json();
    let s = sent["sent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the desk lists its notice: {sent}"));
    assert_eq!(s["acknowledged"], 1, "{s}");
    assert_eq!(s["recipients_total"], total);
    let pending: Vec<&str> = s["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    assert!(!pending.contains(&head_name.as_str()), "{pending:?}");
    assert!(!pending.is_empty());
    let detail = app
        .get(&format!("/api/v1/notices/{id}"), Some(&centre))
        .await
        .json();
    let recipients = detail["recipients"].as_array().unwrap();
    assert_eq!(recipients.len() as i64, total);
    let acked: Vec<&Value> = recipients
        .iter()
        .filter(|r| r["acknowledged_at"].is_string())
        .collect();
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0]["username"], head_name.as_str());
    // A centre of another township does not see it.
    let other = app.token(&format!("center-{}", p.other_township)).await;
    app.get(&format!("/api/v1/notices/{id}"), Some(&other))
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(
        !notice_ids(
            &app.get("/api/v1/notices", Some(&other)).await.json(),
            "sent"
        )
        .contains(&id)
    );

    // The centre's pages: the form, the list with its count, and who has acknowledged.
    let session = app.session(TOWNSHIP_CENTRE).await;
    let page = app.page("/notices", Some(&session)).await;
    page.expect(StatusCode::OK);
    assert!(page.text().contains("防汛通知") && page.text().contains("notice-form"));
    let page = app.page(&format!("/notices/{id}"), Some(&session)).await;
    page.expect(StatusCode::OK);
    assert!(
        page.text()
            .contains(&format!("data-acknowledged=\"1\" data-total=\"{total}\"")),
        "the page shows 1 of {total}"
    );
    let csrf = csrf_of(&app.page("/notices", Some(&session)).await.text());
    let r = app
        .post_form(
            "/notices",
            &[
                ("csrf", &csrf),
                ("title", "网格员例会"),
                ("text", "周五开会"),
                ("territories", &p.grid),
                ("to_workers", "1"),
            ],
            Some(&session),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // A refused form comes back as the page with its error, 422.
    let r = app
        .post_form(
            "/notices",
            &[
                ("csrf", &csrf),
                ("title", ""),
                ("text", "周五开会"),
                ("territories", &p.grid),
                ("to_workers", "1"),
            ],
            Some(&session),
        )
        .await;
    r.expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("class=\"error\"") && r.text().contains("notice-form"),
        "{}",
        r.text()
    );
    let wl = app.get("/api/v1/notices", Some(&worker)).await.json();
    assert_eq!(wl["received"][0]["title"], "网格员例会", "{wl}");
}

async fn act(app: &App, token: &str, id: &str, body: Value) -> Resp {
    app.post_json(&format!("/api/v1/cases/{id}/actions"), &body, Some(token))
        .await
}

async fn history_len(app: &App, token: &str, id: &str, action: &str) -> usize {
    let c = app
        .get(&format!("/api/v1/cases/{id}"), Some(token))
        .await
        .json();
    c["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == action)
        .count()
}

#[tokio::test]
async fn a_case_action_with_a_key_applies_once_on_one_server_or_two() {
    let app = App::new().await;
    // A second server process on the same database: its own pool, state and router.
    let other = App::another().await;
    let centre = app.token(TOWNSHIP_CENTRE).await;
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "service.policy", "description": "幂等测试 idempotent actions", "territory": TOWNSHIP}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();

    // The same key twice: one history entry, the same answer, the second marked a replay.
    let accept = json!({"action": "accept", "idempotency_key": "k-accept-1"});
    let a1 = act(&app, &centre, &id, accept.clone()).await;
    a1.expect(StatusCode::OK);
    let a2 = act(&other, &centre, &id, accept.clone()).await;
    a2.expect(StatusCode::OK);
    assert_eq!(a2.header("idempotent-replayed"), Some("true"));
    assert!(a1.header("idempotent-replayed").is_none());
    let (v1, v2) = (a1.json(), a2.json());
    for f in ["status", "version", "updated_at", "handling_unit"] {
        assert_eq!(v1[f], v2[f], "{f}");
    }
    assert_eq!(v1["status"], "accepted");
    assert_eq!(history_len(&app, &centre, &id, "accept").await, 1);
    // A new key is a new request: the state machine refuses a second accept.
    act(
        &app,
        &centre,
        &id,
        json!({"action": "accept", "idempotency_key": "k-accept-2"}),
    )
    .await
    .expect_error(StatusCode::CONFLICT, "conflict");

    // A note sent at once to both servers with one key: one note.
    let note = json!({"action": "note", "text": "已电话联系", "idempotency_key": "k-note-1"});
    let (n1, n2) = tokio::join!(
        act(&app, &centre, &id, note.clone()),
        act(&other, &centre, &id, note.clone())
    );
    n1.expect(StatusCode::OK);
    n2.expect(StatusCode::OK);
    assert_eq!(n1.json()["version"], n2.json()["version"]);
    assert_eq!(history_len(&app, &centre, &id, "note").await, 1);
    // A different key applies again (a note may be repeated).
    act(
        &other,
        &centre,
        &id,
        json!({"action": "note", "text": "再次联系", "idempotency_key": "k-note-2"}),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(history_len(&app, &centre, &id, "note").await, 2);
    // The key was the centre's: another account's same key is its own request.
    let leader = app.token("leader-623027202").await;
    let r = act(
        &app,
        &leader,
        &id,
        json!({"action": "note", "text": "领导批示", "idempotency_key": "k-note-1"}),
    )
    .await;
    if r.status == StatusCode::OK {
        assert!(r.header("idempotent-replayed").is_none());
    }
    // One key names one request: on another case it is refused.
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "service.policy", "description": "另一件", "territory": TOWNSHIP}),
            Some(&centre),
        )
        .await;
    let id2 = r.json()["id"].as_str().unwrap().to_owned();
    act(&app, &centre, &id2, accept)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
    act(
        &app,
        &centre,
        &id,
        json!({"action": "note", "text": "x", "idempotency_key": "bad key!"}),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}

async fn upload(app: &App, uri: &str, token: &str, key: Option<&str>) -> Resp {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("photo", Some("a.jpg"), JPEG)];
    if let Some(k) = key {
        parts.push(("idempotency_key", None, k.as_bytes()));
    }
    let (ct, body) = super::attachments::multipart(&parts);
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, ct)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    app.send(req.body(Body::from(body)).unwrap()).await
}

async fn count_files(app: &App, uri: &str, token: &str) -> usize {
    app.get(uri, Some(token)).await.json()["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_upload_with_a_key_stores_its_photos_once() {
    let app = App::new().await;
    let other = App::another().await;
    let worker = app.token("worker-623027202201002").await;
    let r = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": "service.policy", "description": "上传幂等 uploads"}),
            Some(&worker),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/cases/{id}/attachments");
    let u1 = upload(&app, &uri, &worker, Some("f-photo-1")).await;
    u1.expect(StatusCode::CREATED);
    let u2 = upload(&other, &uri, &worker, Some("f-photo-1")).await;
    u2.expect(StatusCode::CREATED);
    assert_eq!(u2.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        u1.json()["items"],
        u2.json()["items"],
        "the same files answered"
    );
    assert_eq!(count_files(&app, &uri, &worker).await, 1);
    // At once on both servers with a new key: one more file.
    let (a, b) = tokio::join!(
        upload(&app, &uri, &worker, Some("f-photo-2")),
        upload(&other, &uri, &worker, Some("f-photo-2"))
    );
    assert!(a.status == StatusCode::CREATED || b.status == StatusCode::CREATED);
    for r in [&a, &b] {
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT,
            "{}: {}",
            r.status,
            r.text()
        );
    }
    assert_eq!(count_files(&app, &uri, &worker).await, 2);
    // Without a key, an upload is a new upload.
    upload(&app, &uri, &worker, None)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(count_files(&app, &uri, &worker).await, 3);
    // The key of an upload is not the key of an action.
    act(
        &app,
        &worker,
        &id,
        json!({"action": "note", "text": "x", "idempotency_key": "f-photo-1"}),
    )
    .await
    .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
}
