//! Several servers on one PostgreSQL: two real `gesang serve` processes share a database, and
//! an idempotency key still makes one case, and a case is still dispatched once, whichever
//! server each request reaches. PostgreSQL only (SQLite is one server's embedded database).
//!
//! These tests make no [`App`]: they are not in `MODULES`' count.

use super::*;

use http_body_util::Full;
use hyper::body::Bytes;

use super::crash::{Http, Server, call, client, token};

fn post(base: &str, path: &str, token: &str, body: Value) -> hyper::Request<Full<Bytes>> {
    hyper::Request::post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn two_servers() -> Option<(Server, Server, store::testing::TestDb, std::path::PathBuf)> {
    store::testing::postgres_url()?;
    let t = store::testing::create("gesang_cluster")
        .await
        .expect("a database");
    let dir = std::env::temp_dir().join(format!("gesang_cluster_{}", std::process::id()));
    let args = |demo: bool| {
        let mut a = vec![
            "--data-dir".to_owned(),
            dir.display().to_string(),
            "--database-url".into(),
            t.url.clone(),
            "serve".into(),
        ];
        if demo {
            a.extend([
                "--demo".into(),
                "--demo-scale".into(),
                "small".into(),
                "--demo-history-days".into(),
                "0".into(),
            ]);
        }
        a
    };
    // The first loads the demo; the second starts on the loaded database.
    let a = Server::start(args(true)).await;
    let b = Server::start(args(false)).await;
    Some((a, b, t, dir))
}

async fn done(a: Server, b: Server, t: store::testing::TestDb, dir: std::path::PathBuf) {
    drop(a);
    drop(b);
    let _ = std::fs::remove_dir_all(dir);
    store::testing::remove(t).await;
}

#[tokio::test]
async fn two_servers_keep_idempotency_and_dispatch_a_case_once() {
    let Some((a, b, t, dir)) = two_servers().await else {
        eprintln!("cluster test skipped: TEST_DATABASE_URL is not PostgreSQL");
        return;
    };
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
    done(a, b, t, dir).await;
}
