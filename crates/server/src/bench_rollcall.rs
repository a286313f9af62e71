//! `gesang bench rollcall`: a server on a fresh database with the full demo (206,400
//! households); the prefecture's centre activates the debris-flow plan on the whole prefecture
//! through HTTP (`activation_ms`, `instructions`), then every grid worker drives the status of
//! every household of his grid through `POST /api/v1/incidents/{id}/rollcall` from concurrent
//! clients, in batches as the field app sends them (`rollcall_s`, `p99_ms` per request). A
//! watcher reads the board throughout and checks that its counts always add up to the
//! households; at the end the board must equal both the statuses sent and a recount of the
//! stored statuses (`board_exact`).
//!
//! Grid workers' tokens are written straight into the sessions table during set-up (2,000
//! Argon2 sign-ins would measure the password hash, not the roll call).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value as Json, json};
use store::Db;
use store::bulk::Value;

use crate::bench::{BenchArgs, Scratch, emit, fresh_db};
use crate::state::{AppState, Settings, SystemClock};

const STATUSES: [&str; 5] = ["safe", "evacuated", "injured", "missing", "unreached"];

/// The status a household is given: a fixed mix (most safe or evacuated, a few injured, missing
/// or still unreached), the same on every run.
fn status_for(household: i64) -> &'static str {
    match household.wrapping_mul(2_654_435_761) % 100 {
        0..=59 => "safe",
        60..=94 => "evacuated",
        95..=96 => "injured",
        97 => "missing",
        _ => "unreached",
    }
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn call(
    client: &HttpClient,
    method: &str,
    url: String,
    token: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Json)> {
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    Ok((status, v))
}

fn counts_of(v: &Json) -> [i64; 5] {
    STATUSES.map(|s| v["rollcall"][s].as_i64().unwrap_or(-1))
}

pub async fn run(args: &BenchArgs, database_url: Option<&str>) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=crate::actions::emergency::MAX_BATCH).contains(&args.batch),
        "--batch must be 1 to 1000"
    );
    let setup = Instant::now();
    let (db, scratch) = fresh_db(database_url).await?;
    db.migrate().await?;
    eprintln!(
        "bench rollcall: loading the full demo into {}…",
        db.backend().as_str()
    );
    crate::demo::load(&db, domain::demo::Scale::Full, &SystemClock).await?;
    let result = measure(args, &db, setup).await;
    db.close().await;
    match scratch {
        Scratch::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Scratch::Postgres { admin_url, name } => {
            if let Err(e) = Db::drop_postgres_database(&admin_url, &name).await {
                eprintln!("bench: could not drop {name}: {e}");
            }
        }
    }
    result
}

async fn measure(args: &BenchArgs, db: &Db, setup: Instant) -> anyhow::Result<()> {
    let state = AppState::new(db.clone(), Arc::new(SystemClock), Settings::default());
    crate::jobs::spawn_clock(state.clone(), crate::jobs::TICK);
    crate::search_index::spawn_indexer(state.clone());
    let app = crate::router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.clients.max(64))
        .build_http();
    let base = format!("http://{addr}");

    // The grid workers and their households, from the deterministic demo (ids are the demo's).
    let data =
        tokio::task::spawn_blocking(|| domain::demo::generate(domain::demo::Scale::Full)).await?;
    let mut by_grid: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for h in &data.households {
        by_grid.entry(h.grid.to_string()).or_default().push(h.id);
    }
    let workers: Vec<(i64, String)> = data
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.role == domain::account::Role::GridWorker)
        .map(|(i, a)| (i as i64 + 1, a.scope.to_string()))
        .collect();
    let now = chrono::Utc::now();
    let mut tokens: BTreeMap<String, String> = BTreeMap::new();
    let mut rows = Vec::with_capacity(workers.len());
    for (account, grid) in &workers {
        let token = crate::auth::new_token().map_err(|e| anyhow::anyhow!("{e}"))?;
        rows.push(vec![
            Value::Text(crate::auth::token_hash(&token)),
            Value::I64(*account),
            Value::Text("api".into()),
            Value::Text(String::new()),
            Value::Time(now),
            Value::Time(now + chrono::Duration::hours(12)),
        ]);
        tokens.insert(grid.clone(), token);
    }
    db.insert_rows(
        "sessions",
        &[
            "token_hash",
            "account",
            "kind",
            "csrf_token",
            "created_at",
            "expires_at",
        ],
        rows,
    )
    .await?;
    let households: usize = by_grid.values().map(Vec::len).sum();
    // Requests: (grid's token, body), a grid split into batches.
    let mut requests: Vec<(String, String, usize)> = Vec::new();
    let mut expected = [0i64; 5];
    for (grid, ids) in &by_grid {
        let token = tokens
            .get(grid)
            .with_context(|| format!("no grid worker for {grid}"))?;
        for chunk in ids.chunks(args.batch) {
            let entries: Vec<Json> = chunk
                .iter()
                .map(|h| {
                    let s = status_for(*h);
                    if let Some(k) = STATUSES.iter().position(|x| *x == s) {
                        expected[k] += 1;
                    }
                    json!({"household": h, "status": s})
                })
                .collect();
            let key = format!("bench-{grid}-{}", chunk[0]);
            let body = json!({"entries": entries, "idempotency_key": key}).to_string();
            requests.push((token.clone(), body, chunk.len()));
        }
    }
    let centre_token = {
        let (status, v) = {
            let req = hyper::Request::post(format!("{base}/api/v1/auth/token"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(
                    r#"{"username":"center-623000","password":"gesang-demo"}"#,
                )))?;
            let resp = client.request(req).await?;
            let s = resp.status().as_u16();
            let b = resp.into_body().collect().await?.to_bytes();
            (s, serde_json::from_slice::<Json>(&b)?)
        };
        anyhow::ensure!(status == 200, "sign-in failed: {v}");
        v["token"].as_str().context("no token")?.to_owned()
    };
    emit(json!({"phase": "setup", "backend": db.backend().as_str(),
        "households": households, "grid_workers": workers.len(), "requests": requests.len(),
        "seconds": setup.elapsed().as_secs_f64()}));

    // Activation on the whole prefecture.
    eprintln!("bench rollcall: activating on 623000 ({households} households)…");
    let started = Instant::now();
    let (status, inc) = call(
        &client,
        "POST",
        format!("{base}/api/v1/incidents"),
        &centre_token,
        Some(
            json!({"plan": "debris-flow", "territories": ["623000"], "level": 1,
                "title": "全州应急点名演练"})
            .to_string(),
        ),
    )
    .await?;
    let activation_ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(status == 201, "activation failed ({status}): {inc}");
    let id = inc["id"].as_i64().context("incident id")?;
    let instructions = inc["instructions_total"].as_i64().unwrap_or(0);
    let households_total = inc["households_total"].as_i64().unwrap_or(0);
    emit(
        json!({"phase": "activation", "ms": activation_ms, "households": households_total,
        "instructions": instructions}),
    );
    eprintln!(
        "bench rollcall: activated in {activation_ms:.0} ms: {households_total} households, {instructions} instructions"
    );

    // The watcher: the board adds up at every look.
    let done = Arc::new(AtomicBool::new(false));
    let looks = Arc::new(AtomicUsize::new(0));
    let broken = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (client, base, token) = (client.clone(), base.clone(), centre_token.clone());
        let (done, looks, broken) = (done.clone(), looks.clone(), broken.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok((200, v)) = call(
                    &client,
                    "GET",
                    format!("{base}/api/v1/incidents/{id}"),
                    &token,
                    None,
                )
                .await
                {
                    looks.fetch_add(1, Ordering::Relaxed);
                    if counts_of(&v).iter().sum::<i64>() != households_total {
                        broken.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    eprintln!(
        "bench rollcall: {} requests of ≤{} entries from {} clients…",
        requests.len(),
        args.batch,
        args.clients
    );
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, base) = (client.clone(), base.clone());
        let (requests, next, failed) = (requests.clone(), next.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((token, body, _)) = requests.get(i) else {
                    break;
                };
                let t = Instant::now();
                let url = format!("{base}/api/v1/incidents/{id}/rollcall");
                match call(&client, "POST", url, token, Some(body.clone())).await {
                    Ok((200, _)) => lat.push(t.elapsed().as_secs_f64() * 1000.0),
                    Ok((s, v)) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("bench rollcall: request {i} answered {s}: {v}");
                        }
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("bench rollcall: request {i} failed: {e}");
                        }
                    }
                }
            }
            lat
        }));
    }
    let mut lat_ms = Vec::new();
    for t in tasks {
        lat_ms.extend(t.await?);
    }
    let rollcall_s = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    watcher.await?;
    lat_ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if lat_ms.is_empty() {
            return f64::NAN;
        }
        lat_ms[((lat_ms.len() as f64 - 1.0) * p).round() as usize]
    };
    let (p50, p99) = (pct(0.5), pct(0.99));
    let failed = failed.load(Ordering::Relaxed);
    emit(
        json!({"phase": "rollcall", "requests": requests.len(), "failed": failed,
        "seconds": rollcall_s, "entries_per_s": households as f64 / rollcall_s,
        "p50_ms": p50, "p99_ms": p99, "max_ms": lat_ms.last()}),
    );
    eprintln!(
        "bench rollcall: {households} households in {rollcall_s:.1} s ({:.0}/s), p99 {p99:.1} ms, {failed} failed",
        households as f64 / rollcall_s
    );

    // The board at the end: equal to what was sent, and to a recount of the stored statuses.
    let (_, board) = call(
        &client,
        "GET",
        format!("{base}/api/v1/incidents/{id}"),
        &centre_token,
        None,
    )
    .await?;
    let shown = counts_of(&board);
    let mut recount = [0i64; 5];
    for (_, c) in db.recount_rollcall(id).await? {
        for (k, s) in STATUSES.iter().enumerate() {
            let st = domain::emergency::RollCallStatus::parse(s).context("status")?;
            recount[k] += c.get(st);
        }
    }
    let exact = shown == expected && shown == recount;
    let looks = looks.load(Ordering::Relaxed);
    let broken = broken.load(Ordering::Relaxed);
    emit(
        json!({"phase": "board", "shown": shown, "sent": expected, "recount": recount,
        "exact": exact, "looks_during": looks, "looks_not_adding_up": broken}),
    );
    eprintln!(
        "bench rollcall: board {} (shown {shown:?}, sent {expected:?}, recount {recount:?}); {looks} looks during the roll call, {broken} did not add up",
        if exact { "exact" } else { "NOT EXACT" }
    );
    emit(json!({"scenario": "rollcall", "figures": {
        "households": households_total,
        "activation_ms": activation_ms.round(),
        "instructions": instructions,
        "rollcall_s": (rollcall_s * 100.0).round() / 100.0,
        "p99_ms": (p99 * 100.0).round() / 100.0,
        "p50_ms": (p50 * 100.0).round() / 100.0,
        "requests": requests.len(),
        "batch": args.batch,
        "clients": args.clients,
        "failed": failed,
        "board_exact": u8::from(exact),
        "board_looks_not_adding_up": broken,
        "backend": db.backend().as_str(),
    }}));
    anyhow::ensure!(
        exact && failed == 0 && broken == 0,
        "the roll call was not exact"
    );
    state.events.stop().await;
    Ok(())
}
