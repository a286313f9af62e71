//! Crash safety: the real `gesang` binary is killed with SIGKILL in the middle of a load and
//! restarted on the same database, and every case that was answered 201 is there, with its
//! code and its history. On SQLite (a file in a temporary directory) and, when
//! `TEST_DATABASE_URL` is set, on a fresh PostgreSQL database.
//!
//! These tests make no [`App`]: they are not in `MODULES`' count.

use super::*;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub(crate) type Http = Client<HttpConnector, Full<Bytes>>;

/// A `gesang serve` process on a database of its own.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) base: String,
    args: Vec<String>,
}

impl Server {
    /// Start the binary and wait until `/healthz` answers.
    pub(crate) async fn start(args: Vec<String>) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut all = args.clone();
        all.extend(["--listen".into(), format!("127.0.0.1:{port}")]);
        let child = Command::new(env!("CARGO_BIN_EXE_gesang"))
            .args(&all)
            .env("GESANG_LOG", "warn")
            .env("GESANG_DATA_KEY", store::vault::TEST_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gesang");
        let server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            args,
        };
        let http = client();
        let started = Instant::now();
        loop {
            if let Ok(r) = http
                .request(
                    hyper::Request::get(format!("{}/healthz", server.base))
                        .body(Full::default())
                        .unwrap(),
                )
                .await
                && r.status() == 200
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "gesang did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// SIGKILL: no graceful shutdown, no checkpoint, connections cut.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            let _ = c.wait();
        }
    }

    /// Kill, then start again on the same database.
    async fn restart(mut self) -> Server {
        self.kill();
        Server::start(self.args.clone()).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn client() -> Http {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http()
}

pub(crate) async fn call(http: &Http, req: hyper::Request<Full<Bytes>>) -> Option<(u16, Value)> {
    let resp = http.request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

pub(crate) async fn token(http: &Http, base: &str, user: &str) -> String {
    let req = hyper::Request::post(format!("{base}/api/v1/auth/token"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            json!({"username": user, "password": PASSWORD}).to_string(),
        )))
        .unwrap();
    let (status, v) = call(http, req).await.expect("login answered");
    assert_eq!(status, 200, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

/// Post cases from `clients` concurrent clients until `stop` is set, returning every case
/// answered 201 as (id, code, description).
async fn load(
    http: &Http,
    base: &str,
    token: &str,
    round: usize,
    clients: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(String, String, String)> {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, token, stop) = (
            http.clone(),
            base.to_owned(),
            token.to_owned(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let description = format!("crash test round {round} client {c} case {n}");
                let req = hyper::Request::post(format!("{base}/api/v1/cases"))
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::new(Bytes::from(
                        json!({
                            "category": "management.environment.garbage",
                            "description": description,
                            "territory": "623027202201001",
                            "idempotency_key": format!("crash-{round}-{c}-{n}"),
                        })
                        .to_string(),
                    )))
                    .unwrap();
                match call(&http, req).await {
                    Some((201, v)) => got.push((
                        v["id"].as_str().unwrap().to_owned(),
                        v["code"].as_str().unwrap().to_owned(),
                        description,
                    )),
                    // The server died under the request: no answer, no promise.
                    None => break,
                    Some((status, v)) => panic!("unexpected {status}: {v}"),
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}

#[tokio::test]
async fn every_case_answered_201_survives_sigkill() {
    let t = store::testing::create("gesang_crash")
        .await
        .expect("a database");
    let data_dir = std::env::temp_dir().join(format!("gesang_crash_data_{}", std::process::id()));
    let args = vec![
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--database-url".into(),
        t.url.clone(),
        "serve".into(),
        "--demo".into(),
        "--demo-scale".into(),
        "small".into(),
    ];
    let http = client();
    let mut server = Server::start(args).await;
    let mut promised: Vec<(String, String, String)> = Vec::new();
    const KILLS: usize = 3;
    for round in 0..KILLS {
        let token = token(&http, &server.base, "center-623027202").await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let loader = {
            let (http, base, token, stop) = (
                http.clone(),
                server.base.clone(),
                token.clone(),
                stop.clone(),
            );
            tokio::spawn(async move { load(&http, &base, &token, round, 16, stop).await })
        };
        // Let the load run, then kill the server in the middle of it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let got = loader.await.unwrap();
        assert!(
            got.len() >= 10,
            "round {round}: only {} cases before the kill",
            got.len()
        );
        promised.extend(got);
        server = server.restart().await;
    }

    // Every promise kept: the case, its code, its text and its create event.
    let token = token(&http, &server.base, "center-623027202").await;
    for (id, code, description) in &promised {
        let req = hyper::Request::get(format!("{}/api/v1/cases/{id}", server.base))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::default())
            .unwrap();
        let (status, v) = call(&http, req).await.expect("answered");
        assert_eq!(
            status, 200,
            "case {id} ({code}) answered 201 but is gone: {v}"
        );
        assert_eq!(v["code"], code.as_str());
        assert_eq!(v["description"], description.as_str());
        assert_eq!(v["history"][0]["action"], "create");
    }
    let ids: HashSet<&String> = promised.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), promised.len(), "no id handed out twice");
    let codes: HashSet<&String> = promised.iter().map(|(_, c, _)| c).collect();
    assert_eq!(codes.len(), promised.len(), "no code handed out twice");
    eprintln!(
        "crash test: {} cases answered 201 across {KILLS} SIGKILLs, all present after restart",
        promised.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
    store::testing::remove(t).await;
}
