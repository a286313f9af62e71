//! Personal data (issue 9): every reveal path writes exactly one audit entry, with who, what,
//! which fields, when and from which client; masked views write none; administrators read and
//! export the log, nobody else does.

use super::*;

const GARBAGE: &str = "management.environment.garbage";
const AGENT: &str = "gesang-audit-test/1";

/// GET with a user agent the entries must name.
async fn get_as(app: &App, uri: &str, token: &str) -> Resp {
    app.send(
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::USER_AGENT, AGENT)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

/// The audit entries about one subject, as the administrators' API lists them.
async fn entries(app: &App, admin: &str, kind: &str, id: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!(
                "/api/v1/audit?subject_kind={kind}&subject_id={}&limit=1000",
                enc(id)
            ),
            Some(admin),
        )
        .await;
    r.expect(StatusCode::OK);
    r.json()["items"].as_array().unwrap().clone()
}

fn fields(e: &Value) -> Vec<String> {
    e["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_reveal_writes_one_entry_and_masked_views_none() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let operator = app.token(&format!("center-{TOWNSHIP}")).await;
    let me = app.get("/api/v1/me", Some(&admin)).await.json();
    let admin_id = me["account_id"].as_i64().or(me["id"].as_i64());

    // A household of 达麦村: the list is masked for everyone and writes nothing.
    let list = app
        .get(
            &format!("/api/v1/org/households?territory={VILLAGE}&limit=1"),
            Some(&admin),
        )
        .await
        .json();
    let h = &list["items"][0];
    let id = h["id"].as_i64().unwrap().to_string();
    assert_eq!(h["masked"], true);
    assert!(entries(&app, &admin, "household", &id).await.is_empty());

    // The operator opens it masked: no entry.
    let masked = get_as(&app, &format!("/api/v1/org/households/{id}"), &operator).await;
    masked.expect(StatusCode::OK);
    assert_eq!(masked.json()["masked"], true);
    assert!(entries(&app, &admin, "household", &id).await.is_empty());

    // The administrator opens it unmasked: exactly one entry, naming everything.
    let full = get_as(&app, &format!("/api/v1/org/households/{id}"), &admin).await;
    full.expect(StatusCode::OK);
    assert_eq!(full.json()["masked"], false);
    let e = entries(&app, &admin, "household", &id).await;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0]["action"], "reveal_personal_data");
    assert_eq!(e[0]["role"], "admin");
    if let Some(a) = admin_id {
        assert_eq!(e[0]["account"], a);
    }
    assert_eq!(fields(&e[0]), ["phone", "id_number", "address"]);
    assert!(
        e[0]["client"].as_str().unwrap().contains(AGENT),
        "{}",
        e[0]["client"]
    );
    assert!(e[0]["at"].as_str().is_some());
    // The value itself is never in the log.
    let shown = full.json();
    let log = app
        .get("/api/v1/audit?limit=1000", Some(&admin))
        .await
        .text();
    for f in ["phone", "id_number", "address"] {
        let v = shown[f].as_str().unwrap();
        assert!(!log.contains(v), "{f} value in the audit log");
    }

    // A case with the reporter's phone: lists and the operator's view are masked and write
    // nothing; the administrator's full view writes one entry.
    let created = app
        .post_json(
            "/api/v1/cases",
            &json!({"category": GARBAGE, "description": "审计测试：垃圾堆放",
                    "territory": VILLAGE, "reporter": {"name": "才让", "phone": "13912340000"}}),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let case = created.json();
    let case_id = case["id"].as_str().unwrap().to_owned();
    let code = case["code"].as_str().unwrap().to_owned();
    let listed = app
        .get(
            &format!("/api/v1/cases?territory={VILLAGE}&limit=200"),
            Some(&admin),
        )
        .await
        .text();
    assert!(!listed.contains("13912340000"), "a list unmasks the phone");
    let op_view = app
        .get(&format!("/api/v1/cases/{case_id}"), Some(&operator))
        .await;
    op_view.expect(StatusCode::OK);
    assert!(!op_view.text().contains("13912340000"));
    assert!(entries(&app, &admin, "case", &code).await.is_empty());
    let full_case = get_as(&app, &format!("/api/v1/cases/{case_id}"), &admin).await;
    full_case.expect(StatusCode::OK);
    assert_eq!(full_case.json()["reporter"]["phone"], "13912340000");
    let e = entries(&app, &admin, "case", &code).await;
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(fields(&e[0]), ["reporter_phone"]);

    // An export with personal data: one entry for the file; a masked export none.
    let grid = children(&app.territory(&admin, VILLAGE).await)[0].clone();
    let before = entries(&app, &admin, "households", &grid).await.len();
    app.get(
        &format!("/api/v1/export/households?territory={grid}&format=csv"),
        Some(&operator),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        entries(&app, &admin, "households", &grid).await.len(),
        before
    );
    app.get(
        &format!("/api/v1/export/households?territory={grid}&format=csv"),
        Some(&admin),
    )
    .await
    .expect(StatusCode::OK);
    let e = entries(&app, &admin, "households", &grid).await;
    assert_eq!(e.len(), before + 1);
    assert_eq!(e[0]["action"], "export_personal_data");
}

#[tokio::test]
async fn only_administrators_read_and_export_the_audit_log() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let operator = app.token(&format!("center-{TOWNSHIP}")).await;
    // Something to find.
    let list = app
        .get(
            &format!("/api/v1/org/households?territory={VILLAGE}&limit=1"),
            Some(&admin),
        )
        .await
        .json();
    let id = list["items"][0]["id"].as_i64().unwrap();
    app.get(&format!("/api/v1/org/households/{id}"), Some(&admin))
        .await
        .expect(StatusCode::OK);

    app.get("/api/v1/audit", None)
        .await
        .expect(StatusCode::UNAUTHORIZED);
    app.get("/api/v1/audit", Some(&operator))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/api/v1/audit/export?format=csv", Some(&operator))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    app.get("/api/v1/audit?from=yesterday", Some(&admin))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // Paged newest first: two pages of one do not overlap.
    let first = app.get("/api/v1/audit?limit=1", Some(&admin)).await.json();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get(
            &format!("/api/v1/audit?limit=1&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .json();
    assert!(first["items"][0]["id"].as_i64() > second["items"][0]["id"].as_i64());

    let csv = app
        .get(
            &format!("/api/v1/audit/export?format=csv&subject_kind=household&subject_id={id}"),
            Some(&admin),
        )
        .await;
    csv.expect(StatusCode::OK);
    let text = csv.text();
    assert!(text.contains("reveal_personal_data"), "{text}");
    assert!(text.contains("phone,id_number,address"), "{text}");
    let xlsx = app.get("/api/v1/audit/export", Some(&admin)).await;
    xlsx.expect(StatusCode::OK);
    assert!(xlsx.body.starts_with(b"PK"), "an xlsx is a zip");
}

/// Run the `gesang` binary with `env`, returning (success, stderr).
fn gesang_with(env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gesang"));
    cmd.env_remove("GESANG_DATA_KEY")
        .env_remove("GESANG_DATA_KEY_FILE")
        .env("GESANG_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(args).output().expect("run gesang");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_data_key_is_created_checked_and_rotated_from_the_command_line() {
    let _app = App::new().await;
    let dir = std::env::temp_dir().join(format!("gesang_datakey_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data_dir = dir.to_str().unwrap().to_owned();

    // A fresh SQLite database in a fresh data directory: the key file is made on first start.
    let (ok, err) = gesang_with(&[], &["--data-dir", &data_dir, "migrate"]);
    assert!(ok, "{err}");
    let key_file = dir.join("data.key");
    let key_text = std::fs::read_to_string(&key_file).expect("the default key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the key file is readable by others: {mode:o}"
        );
    }
    // Without it, a sealed database refuses to start rather than sealing under a new key.
    std::fs::rename(&key_file, dir.join("moved.key")).unwrap();
    let (ok, err) = gesang_with(&[], &["--data-dir", &data_dir, "migrate"]);
    assert!(!ok && err.contains("is missing"), "{err}");
    std::fs::rename(dir.join("moved.key"), &key_file).unwrap();
    // Another key does not fit, and the message names no key material.
    let (ok, err) = gesang_with(
        &[("GESANG_DATA_KEY", store::vault::TEST_KEY)],
        &["--data-dir", &data_dir, "migrate"],
    );
    assert!(!ok && err.contains("does not fit"), "{err}");
    assert!(!err.contains(store::vault::TEST_KEY));

    // Rotation on a database with households (the test database's engine).
    let t = store::testing::create("gesang_rotate").await.unwrap();
    let db = store::testing::connect(&t.url).await.unwrap();
    db.migrate().await.unwrap();
    let clock = FixedClock::at(Utc.with_ymd_and_hms(2025, 1, 6, 2, 0, 0).unwrap());
    server::demo::load(&db, Scale::Small, &clock).await.unwrap();
    let some = db
        .households_page(&domain::TerritoryCode::parse("623027").unwrap(), 0, 1)
        .await
        .unwrap()
        .remove(0);
    let new_file = dir.join("new.key");
    let new_path = new_file.to_str().unwrap().to_owned();
    let (ok, err) = gesang_with(
        &[("GESANG_DATA_KEY", store::vault::TEST_KEY)],
        &[
            "--database-url",
            &t.url,
            "rotate-data-key",
            "--new-key-file",
            &new_path,
        ],
    );
    assert!(ok, "{err}");
    let summary = err.lines().last().unwrap_or_default();
    assert!(
        summary.contains("sealed again under key") && summary.contains("rows looked at"),
        "{err}"
    );
    // The new file holds the new key first, then the old one.
    let ring = store::Vault::parse(&std::fs::read_to_string(&new_file).unwrap()).unwrap();
    assert_eq!(ring.key_ids().len(), 2);
    let new_only = store::Vault::parse(
        std::fs::read_to_string(&new_file)
            .unwrap()
            .lines()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap(),
    )
    .unwrap();
    let rotated = db.clone().with_vault(Arc::new(new_only));
    assert_eq!(
        rotated.household(some.id).await.unwrap().unwrap().id_number,
        some.id_number
    );
    assert!(
        db.household(some.id).await.is_err(),
        "the old key alone opens nothing now"
    );
    assert!(!key_text.is_empty());
    db.close().await;
    store::testing::remove(t).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_households_of_an_incident_shown_unmasked_are_one_reveal() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let r = app
        .post_json(
            "/api/v1/incidents",
            &json!({"plan": "flood", "territories": [TOWNSHIP], "level": 4, "title": "审计检查"}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();
    let grid = format!("{VILLAGE}001");
    let uri = format!("/api/v1/incidents/{id}/households?territory={grid}&limit=5");

    // The grid worker sees his households' phones and addresses: one entry naming them.
    let worker = app.token(&format!("worker-{grid}")).await;
    let shown = get_as(&app, &uri, &worker).await;
    shown.expect(StatusCode::OK);
    let items = shown.json()["items"].as_array().unwrap().clone();
    assert!(!items.is_empty());
    assert!(items.iter().all(|h| h["masked"] == false));
    let ids: Vec<String> = items.iter().map(|h| h["household"].to_string()).collect();
    let logged = entries(&app, &admin, "households", &ids.join(",")).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(fields(&logged[0]), ["phone", "address"]);

    // The township centre sees them masked: nothing more is written.
    let masked = get_as(&app, &uri, &centre).await;
    masked.expect(StatusCode::OK);
    assert!(
        masked.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["masked"] == true)
    );
    assert_eq!(
        entries(&app, &admin, "households", &ids.join(","))
            .await
            .len(),
        1
    );
}

/// Members' phones on an incident's open instructions (issue 9): shown to those who command the
/// incident, each answer one reveal naming the members (written before the answer); masked for a
/// department handler, whose answers write nothing.
#[tokio::test]
async fn members_phones_on_instructions_are_one_reveal_per_answer_or_masked() {
    let app = App::new().await;
    let admin = app.token("admin").await;
    let centre = app.token(&format!("center-{TOWNSHIP}")).await;
    let police = app.token(&format!("handler-{TOWNSHIP}-police")).await;
    let r = app
        .post_json(
            "/api/v1/incidents",
            &json!({"plan": "debris-flow", "territories": [TOWNSHIP], "level": 4,
                    "title": "审计测试：成员电话"}),
            Some(&centre),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();
    let uri = format!("/api/v1/incidents/{id}/instructions?limit=1000");
    let members_entries = || async {
        let r = app
            .get(
                "/api/v1/audit?subject_kind=members&limit=1000",
                Some(&admin),
            )
            .await;
        r.expect(StatusCode::OK);
        // Only this test's requests (other tests open boards too, with another client).
        let mine: Vec<Value> = r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["client"].as_str().is_some_and(|c| c.contains(AGENT)))
            .cloned()
            .collect();
        mine
    };

    // The centre operator commands it: phones shown, one entry for the answer.
    let before = members_entries().await.len();
    let open = get_as(&app, &uri, &centre).await;
    open.expect(StatusCode::OK);
    let phones: Vec<String> = open
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["phone"].as_str().map(str::to_owned))
        .collect();
    assert!(
        phones.len() > 10,
        "members' instructions with phones: {}",
        phones.len()
    );
    assert!(
        phones.iter().all(|p| !p.contains('*')),
        "unmasked: {phones:?}"
    );
    let after = members_entries().await;
    assert_eq!(after.len(), before + 1, "one reveal for the answer");
    let e = &after[0];
    assert_eq!(e["action"], "reveal_personal_data");
    assert_eq!(fields(e), ["phone"]);
    assert_eq!(e["role"], "center_operator");
    assert!(e["client"].as_str().unwrap().contains(AGENT), "{e}");
    let named = e["subject_id"].as_str().unwrap().split(',').count();
    assert_eq!(named, phones.len(), "every member shown is named: {e}");
    let log = app
        .get("/api/v1/audit?limit=1000", Some(&admin))
        .await
        .text();
    assert!(
        phones.iter().all(|p| !log.contains(p.as_str())),
        "a phone in the audit log"
    );

    // A department handler sees the board with the phones masked, and nothing is written.
    let theirs = get_as(&app, &uri, &police).await;
    theirs.expect(StatusCode::OK);
    let masked: Vec<String> = theirs
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["phone"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(masked.len(), phones.len());
    assert!(
        masked.iter().all(|p| p.contains("****")),
        "masked: {masked:?}"
    );
    assert_eq!(
        members_entries().await.len(),
        before + 1,
        "a masked answer writes nothing"
    );
}
