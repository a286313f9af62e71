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
            // GESANG_TEST_SERVER_STDERR=1 shows the servers' warnings and errors.
            .stderr(if std::env::var_os("GESANG_TEST_SERVER_STDERR").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
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

    /// A second process with the same arguments (the same database), on a port of its own.
    pub(crate) async fn another(&self) -> Server {
        Server::start(self.args.clone()).await
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

/// Post from `clients` concurrent clients until `stop` is set: `make(round, client, n)` gives
/// each request's path and JSON body. Returns every body answered `expect` with its answer.
async fn load<F>(
    http: &Http,
    base: &str,
    token: &str,
    clients: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
    expect: u16,
    make: F,
) -> Vec<(Value, Value)>
where
    F: Fn(usize, usize) -> (String, Value) + Send + Sync + Clone + 'static,
{
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, base, token, stop, make) = (
            http.clone(),
            base.to_owned(),
            token.to_owned(),
            stop.clone(),
            make.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let (path, body) = make(c, n);
                let req = hyper::Request::post(format!("{base}{path}"))
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Full::new(Bytes::from(body.to_string())))
                    .unwrap();
                match call(&http, req).await {
                    Some((status, v)) if status == expect => got.push((body, v)),
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

/// A server on a fresh database with the small demo, the arguments to restart it, and what
/// to remove at the end.
async fn crash_server(prefix: &str) -> (Server, store::testing::TestDb, std::path::PathBuf) {
    crash_server_with(prefix, &[]).await
}

/// [`crash_server`] with more `serve` options.
pub(crate) async fn crash_server_with(
    prefix: &str,
    serve: &[&str],
) -> (Server, store::testing::TestDb, std::path::PathBuf) {
    let t = store::testing::create(prefix).await.expect("a database");
    let data_dir = std::env::temp_dir().join(format!("{prefix}_data_{}", std::process::id()));
    let mut args: Vec<String> = vec![
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--database-url".into(),
        t.url.clone(),
        "serve".into(),
        "--demo".into(),
        "--demo-scale".into(),
        "small".into(),
        "--demo-history-days".into(),
        "0".into(),
    ];
    args.extend(serve.iter().map(|s| (*s).to_owned()));
    (Server::start(args).await, t, data_dir)
}

/// Two `gesang serve` processes on one fresh database (the first loads the small demo; the
/// second starts on the loaded database with the same options), and what to remove at the end.
pub(crate) async fn two_servers(
    prefix: &str,
    serve: &[&str],
) -> (Server, Server, store::testing::TestDb, std::path::PathBuf) {
    let (a, t, dir) = crash_server_with(prefix, serve).await;
    let b = a.another().await;
    (a, b, t, dir)
}

/// Stop the servers and remove their database and data directory.
pub(crate) async fn remove(
    servers: Vec<Server>,
    t: store::testing::TestDb,
    dir: std::path::PathBuf,
) {
    drop(servers);
    let _ = std::fs::remove_dir_all(dir);
    store::testing::remove(t).await;
}

/// Drive `make` against the server as `user` from 16 clients, SIGKILL it mid-load `KILLS`
/// times, restarting each time; returns the server and every request answered `expect`.
async fn load_through_kills<F>(
    mut server: Server,
    http: &Http,
    user: &str,
    expect: u16,
    make: F,
) -> (Server, Vec<(Value, Value)>)
where
    F: Fn(usize, usize, usize) -> (String, Value) + Send + Sync + Clone + 'static,
{
    let mut promised = Vec::new();
    for round in 0..KILLS {
        let token = token(http, &server.base, user).await;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let loader = {
            let (http, base, stop, make) = (
                http.clone(),
                server.base.clone(),
                stop.clone(),
                make.clone(),
            );
            tokio::spawn(async move {
                load(&http, &base, &token, 16, stop, expect, move |c, n| {
                    make(round, c, n)
                })
                .await
            })
        };
        // Let the load run, then kill the server in the middle of it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let got = loader.await.unwrap();
        assert!(
            got.len() >= 10,
            "round {round}: only {} answered before the kill",
            got.len()
        );
        promised.extend(got);
        server = server.restart().await;
    }
    (server, promised)
}

const KILLS: usize = 3;
/// A grid of 达麦村, and its grid worker.
const CRASH_GRID: &str = "623027202201001";

#[tokio::test]
async fn every_case_answered_201_survives_sigkill() {
    let (server, t, data_dir) = crash_server("gesang_crash").await;
    let http = client();
    let (server, answered) =
        load_through_kills(server, &http, "center-623027202", 201, |round, c, n| {
            let body = json!({
                "category": "management.environment.garbage",
                "description": format!("crash test round {round} client {c} case {n}"),
                "territory": CRASH_GRID,
                "idempotency_key": format!("crash-{round}-{c}-{n}"),
            });
            ("/api/v1/cases".to_owned(), body)
        })
        .await;
    let promised: Vec<(String, String, String)> = answered
        .iter()
        .map(|(body, v)| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["code"].as_str().unwrap().to_owned(),
                body["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

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

#[tokio::test]
async fn every_work_log_answered_201_survives_sigkill() {
    let (server, t, data_dir) = crash_server("gesang_crash_logs").await;
    let http = client();
    let worker = format!("worker-{CRASH_GRID}");
    let (server, answered) = load_through_kills(server, &http, &worker, 201, |round, c, n| {
        let body = json!({
            "kind": "propaganda",
            "territory": CRASH_GRID,
            "at": Utc::now().to_rfc3339(),
            "details": {"topic": format!("crash {round}/{c}/{n}"), "place": "村委会",
                "attendees": 1 + n % 40, "language": "bilingual"},
            "idempotency_key": format!("crash-log-{round}-{c}-{n}"),
        });
        ("/api/v1/worklogs".to_owned(), body)
    })
    .await;

    // Every log answered 201 is listed after the last restart, with its topic, exactly once.
    let token = token(&http, &server.base, &worker).await;
    let mut stored: BTreeMap<String, String> = BTreeMap::new();
    let mut before: Option<i64> = None;
    loop {
        let mut url = format!("{}/api/v1/worklogs?limit=200", server.base);
        if let Some(b) = before {
            url.push_str(&format!("&before={b}"));
        }
        let req = hyper::Request::get(url)
            .header("authorization", format!("Bearer {token}"))
            .body(Full::default())
            .unwrap();
        let (status, v) = call(&http, req).await.expect("answered");
        assert_eq!(status, 200, "{v}");
        let page = v.as_array().expect("a list of logs");
        if page.is_empty() {
            break;
        }
        for log in page {
            let id = log["id"].to_string().trim_matches('"').to_owned();
            let topic = log["details"]["topic"].as_str().unwrap_or("").to_owned();
            assert!(stored.insert(id, topic).is_none(), "a log listed twice");
        }
        before = page
            .last()
            .and_then(|l| l["id"].as_i64().or_else(|| l["id"].as_str()?.parse().ok()));
        if page.len() < 200 {
            break;
        }
    }
    for (body, v) in &answered {
        let id = v["id"].to_string().trim_matches('"').to_owned();
        assert_eq!(
            stored.get(&id).map(String::as_str),
            body["details"]["topic"].as_str(),
            "log {id} answered 201 but is gone or changed"
        );
    }
    let ids: HashSet<String> = answered.iter().map(|(_, v)| v["id"].to_string()).collect();
    assert_eq!(ids.len(), answered.len(), "no id handed out twice");
    eprintln!(
        "crash test: {} work logs answered 201 across {KILLS} SIGKILLs, all present after restart",
        answered.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
    store::testing::remove(t).await;
}

pub(crate) async fn get_json(http: &Http, url: String, token: &str) -> Value {
    let req = hyper::Request::get(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let (status, v) = call(http, req).await.expect("answered");
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test]
async fn every_roll_call_entry_answered_200_survives_sigkill() {
    let (server, t, data_dir) = crash_server("gesang_crash_rollcall").await;
    let http = client();
    // An incident on 达麦乡, and the households of one grid, which its grid worker calls.
    let centre = token(&http, &server.base, "center-623027202").await;
    let req = hyper::Request::post(format!("{}/api/v1/incidents", server.base))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {centre}"))
        .body(Full::new(Bytes::from(
            json!({"plan": "debris-flow", "territories": ["623027202"], "level": 3,
                "title": "崩溃测试"})
            .to_string(),
        )))
        .unwrap();
    let (status, v) = call(&http, req).await.expect("answered");
    assert_eq!(status, 201, "{v}");
    let incident = v["id"].as_i64().expect("an incident id");
    let page = get_json(
        &http,
        format!(
            "{}/api/v1/incidents/{incident}/households?territory={CRASH_GRID}&limit=1000",
            server.base
        ),
        &centre,
    )
    .await;
    let households: Vec<i64> = page["items"]
        .as_array()
        .expect("households")
        .iter()
        .map(|h| h["household"].as_i64().unwrap())
        .collect();
    assert!(households.len() >= 16, "{} households", households.len());
    let households = Arc::new(households);

    // Each request reports one household with a note naming the request: client c reports the
    // households c, c+16, c+32, … in turn.
    let worker = format!("worker-{CRASH_GRID}");
    let hs = households.clone();
    let (server, answered) = load_through_kills(server, &http, &worker, 200, move |round, c, n| {
        let idx = (c + 16 * n) % hs.len();
        let status = ["safe", "evacuated", "injured", "missing", "unreached"][n % 5];
        let body = json!({
            "entries": [{"household": hs[idx], "status": status,
                "note": format!("crash {round}/{c}/{n}")}],
            "idempotency_key": format!("crash-rc-{round}-{c}-{n}"),
        });
        (format!("/api/v1/incidents/{incident}/rollcall"), body)
    })
    .await;

    // Every entry answered 200 is in its household's history after the last restart, once.
    let centre = token(&http, &server.base, "center-623027202").await;
    let mut promised: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for (body, _) in &answered {
        let e = &body["entries"][0];
        promised
            .entry(e["household"].as_i64().unwrap())
            .or_default()
            .push((
                e["note"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            ));
    }
    for (household, entries) in &promised {
        let history = get_json(
            &http,
            format!(
                "{}/api/v1/incidents/{incident}/households/{household}/history",
                server.base
            ),
            &centre,
        )
        .await;
        let kept: Vec<(String, String)> = history
            .as_array()
            .expect("a history")
            .iter()
            .map(|h| {
                (
                    h["note"].as_str().unwrap_or("").to_owned(),
                    h["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        for entry in entries {
            let times = kept.iter().filter(|k| *k == entry).count();
            assert_eq!(
                times, 1,
                "household {household}: entry {entry:?} answered 200, found {times} times"
            );
        }
    }
    // The board still adds up: the five statuses sum to the households of the incident.
    let board = get_json(
        &http,
        format!("{}/api/v1/incidents/{incident}", server.base),
        &centre,
    )
    .await;
    let sum: i64 = ["safe", "evacuated", "injured", "missing", "unreached"]
        .iter()
        .map(|s| board["rollcall"][s].as_i64().unwrap())
        .sum();
    assert_eq!(Some(sum), board["households_total"].as_i64(), "{board}");
    eprintln!(
        "crash test: {} roll-call entries answered 200 across {KILLS} SIGKILLs, all present after restart",
        answered.len()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
    store::testing::remove(t).await;
}
