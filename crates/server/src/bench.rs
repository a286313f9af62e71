//! `gesang bench SCENARIO`: benchmarks that print what they measured on this machine.
//!
//! - `intake`: a server on a fresh database with the full demo territory; case creation through
//!   HTTP from concurrent clients (closed loop: `intake_per_s`), then at a fixed offered load
//!   (open loop: `p50_ms`, `p99_ms`), then the same rows written straight through the store
//!   (`raw_per_s`) and `ratio_to_raw`. The search indexer and the supervision
//!   clock run in the background throughout, as in `gesang serve`; between phases the bench
//!   waits for the indexer to catch up with the backlog the closed loop left (`index_per_s`),
//!   so each phase measures its own load.
//! - `route`: point-in-polygon lookups per second over every grid of the full demo.
//! - `fanout`: a server on a fresh database with the small demo (夏河县); `--streams` clients
//!   (1,000) hold `GET /api/v1/events` open over their own connections, at the county and at
//!   达麦乡 (half each), and a creator posts `--fanout-cases` cases in 达麦乡, one every
//!   `--fanout-interval-ms`. The delay of a case for a client runs from the moment its POST
//!   was sent to the moment that client has read its event: `p50_ms`, `p99_ms`, `max_ms`
//!   over every (client, case) pair, and `missed` pairs not seen within 10 s.
//!
//! Progress goes to stderr; stdout gets one JSON object per line, the last being the summary
//! `{"scenario", "figures": {…}}`.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::json;
use store::Db;

use crate::actions::case::{CreateCaseRequest, LocationIn};
use crate::state::{AppState, Settings, SystemClock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    Intake,
    Route,
    /// Emergency roll call on the whole prefecture (issue 8): `crate::bench_rollcall`.
    Rollcall,
    /// Event-stream clients see new cases (see [`fanout`]).
    Fanout,
    /// Statistics, lists and search over a large case history (issue 7):
    /// `crate::bench_dashboard`.
    Dashboard,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    pub scenario: Scenario,
    /// Concurrent clients of the closed-loop phase.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds of the closed-loop phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Offered load of the open-loop phase, in cases per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds of the open-loop phase.
    #[arg(long, default_value_t = 10)]
    pub rate_seconds: u64,
    /// Cases written straight through the store in the raw phase.
    #[arg(long, default_value_t = 30_000)]
    pub raw_cases: usize,
    /// Point lookups of the route scenario.
    #[arg(long, default_value_t = 2_000_000)]
    pub lookups: usize,
    /// Roll-call entries per request of the rollcall scenario (at most 1,000; a grid worker's
    /// households are split into batches of this size).
    #[arg(long, default_value_t = 200)]
    pub batch: usize,
    /// Event-stream clients of the fanout scenario.
    #[arg(long, default_value_t = 1000)]
    pub streams: usize,
    /// Cases created while the streams watch (fanout).
    #[arg(long, default_value_t = 100)]
    pub fanout_cases: usize,
    /// Milliseconds between two of those cases (fanout).
    #[arg(long, default_value_t = 50)]
    pub fanout_interval_ms: u64,
    /// Cases of history loaded by the dashboard scenario.
    #[arg(long, default_value_t = 1_000_000)]
    pub cases: u64,
    /// Days the dashboard scenario's history spans, ending now.
    #[arg(long, default_value_t = 365)]
    pub history_days: u32,
    /// Statistics requests of the dashboard scenario (a quarter as many lists and searches).
    #[arg(long, default_value_t = 600)]
    pub queries: usize,
}

pub(crate) fn emit(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}

/// Run a scenario. `database_url`: PostgreSQL server to create a fresh database on; SQLite in
/// a temporary directory otherwise.
pub async fn run(args: BenchArgs, database_url: Option<&str>) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Route => route(&args),
        Scenario::Intake => intake(&args, database_url).await,
        Scenario::Rollcall => crate::bench_rollcall::run(&args, database_url).await,
        Scenario::Fanout => fanout(&args, database_url).await,
        Scenario::Dashboard => crate::bench_dashboard::run(&args, database_url).await,
    }
}

fn route(args: &BenchArgs) -> anyhow::Result<()> {
    eprintln!("bench route: generating the full demo grids…");
    let data = domain::demo::generate(domain::demo::Scale::Full);
    let grids: Vec<_> = data
        .nodes
        .iter()
        .filter(|n| n.level() == domain::Level::Grid)
        .filter_map(|n| n.geometry.clone().map(|g| (n.code.clone(), g)))
        .collect();
    let n_grids = grids.len();
    let index = domain::locate::GridIndex::new(grids);
    // Points uniformly over the prefecture's bounding box: some fall outside every grid.
    let (min_lng, max_lng, min_lat, max_lat) = (100.75, 104.75, 33.1, 35.6);
    let mut rng = Pcg64::seed_from_u64(7);
    let points: Vec<geo::Point<f64>> = (0..args.lookups)
        .map(|_| {
            geo::Point::new(
                rng.random_range(min_lng..max_lng),
                rng.random_range(min_lat..max_lat),
            )
        })
        .collect();
    eprintln!(
        "bench route: {} lookups over {n_grids} grids…",
        points.len()
    );
    let started = Instant::now();
    let mut hits = 0usize;
    for p in &points {
        if index.locate(*p).is_some() {
            hits += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let per_s = points.len() as f64 / secs;
    emit(json!({"phase": "lookups", "lookups": points.len(), "hits": hits, "seconds": secs}));
    emit(json!({"scenario": "route", "figures": {
        "lookups_per_s": per_s.round(),
        "grids": n_grids,
        "hit_rate": hits as f64 / points.len() as f64,
        "threads": 1,
    }}));
    eprintln!(
        "bench route: {:.0} lookups/s on one thread over {n_grids} grids ({hits} hits)",
        per_s
    );
    Ok(())
}

/// Index every case waiting in the search backlog; returns the cases indexed per second.
async fn drain_index(state: &AppState) -> anyhow::Result<f64> {
    let started = Instant::now();
    let n = state.db.search_backlog_len().await?;
    // The background indexer may be at work already: this waits for it, then does the rest.
    crate::search_index::index_pending(state)
        .await
        .map_err(|e| anyhow::anyhow!("indexing: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    let per_s = if n == 0 { 0.0 } else { n as f64 / secs };
    emit(json!({"phase": "index", "cases": n, "seconds": secs, "per_s": per_s}));
    eprintln!("bench intake: indexed {n} waiting cases in {secs:.1} s ({per_s:.0}/s)");
    Ok(per_s)
}

/// What to remove when the benchmark ends.
pub(crate) enum Scratch {
    Dir(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

/// A fresh random data key for a scratch database (gone with it).
fn bench_vault() -> anyhow::Result<std::sync::Arc<store::Vault>> {
    Ok(std::sync::Arc::new(store::Vault::parse(
        &store::Vault::generate_key_line()?,
    )?))
}

pub(crate) async fn fresh_db(database_url: Option<&str>) -> anyhow::Result<(Db, Scratch)> {
    match database_url {
        Some(admin_url) if admin_url.starts_with("postgres") => {
            let name = format!("gesang_bench_{}", std::process::id());
            let url = Db::create_postgres_database(admin_url, &name).await?;
            eprintln!("bench: fresh database {name}");
            let db = Db::connect(Some(&url), std::path::Path::new("."))
                .await?
                .with_vault(bench_vault()?);
            Ok((
                db,
                Scratch::Postgres {
                    admin_url: admin_url.to_owned(),
                    name,
                },
            ))
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("gesang-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let db = Db::connect(None, &dir).await?.with_vault(bench_vault()?);
            Ok((db, Scratch::Dir(dir)))
        }
    }
}

const PHRASES: &[&str] = &[
    "两户牧民因草场边界发生纠纷，需要调解",
    "村道旁山体有落石隐患，请尽快排查",
    "独居老人冬季取暖困难，请求帮助",
    "小区楼顶砖块掉落，存在安全隐患",
    "虫草采挖期间外来人员聚集，秩序混乱",
    "河道垃圾堆积，影响饮用水源",
    "邻里之间因宅基地产生矛盾",
    "咨询低保申请政策和所需材料",
];

async fn intake(args: &BenchArgs, database_url: Option<&str>) -> anyhow::Result<()> {
    let setup = Instant::now();
    let (db, scratch) = fresh_db(database_url).await?;
    db.migrate().await?;
    eprintln!(
        "bench intake: loading the full demo territory into {}…",
        db.backend().as_str()
    );
    crate::demo::load(&db, domain::demo::Scale::Full, &SystemClock).await?;
    let state = AppState::new(db.clone(), Arc::new(SystemClock), Settings::default());
    // The background jobs run as in `gesang serve`: the indexer competes for the writer.
    crate::jobs::spawn_clock(state.clone(), crate::jobs::TICK);
    crate::search_index::spawn_indexer(state.clone());
    let app = crate::router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.clients.max(256))
        .build_http();
    let base = format!("http://{addr}");
    let token = {
        let req = hyper::Request::post(format!("{base}/api/v1/auth/token"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                r#"{"username":"center-623000","password":"gesang-demo"}"#,
            )))?;
        let resp = client.request(req).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        v["token"].as_str().context("no token")?.to_owned()
    };
    // Realistic bodies: points inside a grid of Gannan, real leaf categories.
    let index = crate::actions::territory::grid_index(&state)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let leaves: Vec<String> = state
        .rules
        .read()
        .await
        .taxonomy
        .leaves()
        .map(|c| c.code.to_string())
        .collect();
    let mut rng = Pcg64::seed_from_u64(11);
    let mut bodies: Vec<CreateCaseRequest> = Vec::with_capacity(20_000);
    while bodies.len() < 20_000 {
        let (lng, lat) = (
            rng.random_range(100.75..104.75),
            rng.random_range(33.1..35.6),
        );
        if index.locate(geo::Point::new(lng, lat)).is_none() {
            continue;
        }
        bodies.push(CreateCaseRequest {
            category: leaves[rng.random_range(0..leaves.len())].clone(),
            description: PHRASES[rng.random_range(0..PHRASES.len())].to_owned(),
            title: None,
            urgency: None,
            location: Some(LocationIn {
                lat,
                lng,
                datum: None,
            }),
            territory: None,
            channel: Some("walk_in".into()),
            reporter: None,
            idempotency_key: None,
        });
    }
    let bodies: Arc<Vec<String>> = Arc::new(
        bodies
            .iter()
            .map(|b| {
                json!({
                    "category": b.category,
                    "description": b.description,
                    "location": b.location,
                    "channel": "walk_in",
                })
                .to_string()
            })
            .collect(),
    );
    emit(
        json!({"phase": "setup", "backend": db.backend().as_str(), "seconds": setup.elapsed().as_secs_f64()}),
    );

    let send = {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        let bodies = bodies.clone();
        move |i: usize| {
            let client = client.clone();
            let req = hyper::Request::post(format!("{base}/api/v1/cases"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(Full::new(Bytes::from(bodies[i % bodies.len()].clone())));
            async move {
                let req = req.ok()?;
                let resp = client.request(req).await.ok()?;
                let status = resp.status();
                let _ = resp.into_body().collect().await;
                Some(status.as_u16())
            }
        }
    };

    // Phase 1: closed loop.
    eprintln!(
        "bench intake: closed loop, {} clients for {} s…",
        args.clients, args.seconds
    );
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (next, ok, failed, send) = (next.clone(), ok.clone(), failed.clone(), send.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match send(i).await {
                    Some(201) => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let intake_per_s = ok.load(Ordering::Relaxed) as f64 / secs;
    emit(
        json!({"phase": "closed_loop", "clients": args.clients, "created": ok.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed), "seconds": secs, "per_s": intake_per_s}),
    );
    eprintln!(
        "bench intake: {intake_per_s:.0} cases/s ({} failed)",
        failed.load(Ordering::Relaxed)
    );

    // The indexer fell behind during the closed loop; let it catch up so that each phase
    // measures its own load, and report how fast it indexes.
    let index_per_s = drain_index(&state).await?;

    // Phase 2: open loop at a fixed offered rate; latency counted from the scheduled instant.
    eprintln!(
        "bench intake: open loop at {}/s for {} s…",
        args.rate, args.rate_seconds
    );
    let total = (args.rate * args.rate_seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(total);
    for k in 0..total {
        let due = started + interval * k as u32;
        tokio::time::sleep_until(due.into()).await;
        let send = send.clone();
        handles.push(tokio::spawn(async move {
            let status = send(1_000_000 + k).await;
            (status, due.elapsed())
        }));
    }
    let mut lat_ms = Vec::with_capacity(total);
    let mut open_failed = 0usize;
    for h in handles {
        let (status, d) = h.await?;
        if status == Some(201) {
            lat_ms.push(d.as_secs_f64() * 1000.0);
        } else {
            open_failed += 1;
        }
    }
    lat_ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if lat_ms.is_empty() {
            return f64::NAN;
        }
        let i = ((lat_ms.len() as f64 - 1.0) * p).round() as usize;
        lat_ms[i]
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    let achieved = lat_ms.len() as f64 / started.elapsed().as_secs_f64();
    emit(
        json!({"phase": "open_loop", "offered_per_s": args.rate, "achieved_per_s": achieved,
        "p50_ms": p50, "p99_ms": p99, "max_ms": lat_ms.last(), "failed": open_failed}),
    );
    eprintln!(
        "bench intake: p50 {p50:.1} ms, p99 {p99:.1} ms at {}/s offered",
        args.rate
    );

    drain_index(&state).await?;

    // Phase 3: the same kind of rows straight through the store, in batches.
    eprintln!(
        "bench intake: {} cases straight through the store…",
        args.raw_cases
    );
    let rules = state.rules.read().await.clone();
    let mut inputs = Vec::with_capacity(args.raw_cases);
    for i in 0..args.raw_cases {
        let body: CreateCaseRequest = serde_json::from_str(&bodies[i % bodies.len()])?;
        let input = body
            .parse(&rules, domain::case::Channel::WalkIn)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let route = crate::actions::case::route_case(&state, None, &input)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        inputs.push((input, route));
    }
    // Numbers reserved and rows built beforehand: the timed part is the store's writing alone.
    let now = chrono::Utc::now();
    let day = now
        .with_timezone(&domain::clock::china_offset())
        .date_naive();
    let n = inputs.len() as i64;
    let (first_id, firsts) = db.reserve_case_numbers(n, &[(day, n)]).await?;
    let mut writes = Vec::with_capacity(inputs.len());
    for (i, (input, route)) in inputs.iter().enumerate() {
        let w = crate::intake::build_write(
            &rules,
            now,
            first_id + i as i64,
            (firsts[0] + i as i64) as u32,
            input,
            route,
            None,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        writes.push(w);
    }
    let started = Instant::now();
    let mut writes = writes.into_iter().peekable();
    while writes.peek().is_some() {
        let batch: Vec<_> = writes.by_ref().take(500).collect();
        db.insert_cases(batch).await?;
    }
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_per_s = args.raw_cases as f64 / raw_secs;
    emit(
        json!({"phase": "raw", "cases": args.raw_cases, "batch": 500, "seconds": raw_secs, "per_s": raw_per_s}),
    );

    emit(json!({"scenario": "intake", "figures": {
        "intake_per_s": intake_per_s.round(),
        "p50_ms": (p50 * 100.0).round() / 100.0,
        "p99_ms": (p99 * 100.0).round() / 100.0,
        "offered_per_s": args.rate,
        "achieved_per_s": achieved.round(),
        "raw_per_s": raw_per_s.round(),
        "index_per_s": index_per_s.round(),
        "ratio_to_raw": ((intake_per_s / raw_per_s) * 1000.0).round() / 1000.0,
        "clients": args.clients,
        "backend": db.backend().as_str(),
    }}));
    eprintln!(
        "bench intake: {intake_per_s:.0} cases/s through HTTP, p99 {p99:.1} ms at {}/s, raw {raw_per_s:.0}/s ({})",
        args.rate,
        db.backend().as_str()
    );
    state.close().await;
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
    Ok(())
}

/// Wait until `n` streams are open on the server, or fail after `within`.
async fn wait_for_streams(state: &AppState, n: usize, within: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while state.events.streams() < n {
        anyhow::ensure!(
            started.elapsed() < within,
            "only {} of {n} event streams opened",
            state.events.streams()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The codes of the `case_created` events in `text`'s complete blocks, with what is left over.
fn created_codes(buf: &mut String) -> Vec<String> {
    let mut codes = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        if !block.lines().any(|l| l == "event: case_created") {
            continue;
        }
        for line in block.lines() {
            if let Some(data) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(data)
                && let Some(code) = v["code"].as_str()
            {
                codes.push(code.to_owned());
            }
        }
    }
    codes
}

async fn fanout(args: &BenchArgs, database_url: Option<&str>) -> anyhow::Result<()> {
    let setup = Instant::now();
    let (db, scratch) = fresh_db(database_url).await?;
    db.migrate().await?;
    eprintln!(
        "bench fanout: loading the small demo into {}…",
        db.backend().as_str()
    );
    crate::demo::load(&db, domain::demo::Scale::Small, &SystemClock).await?;
    let state = AppState::new(db.clone(), Arc::new(SystemClock), Settings::default());
    crate::jobs::spawn_clock(state.clone(), crate::jobs::TICK);
    crate::search_index::spawn_indexer(state.clone());
    let app = crate::router(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let base = format!("http://{addr}");
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.streams + 16)
        .build_http();
    let login = |user: &'static str| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let req = hyper::Request::post(format!("{base}/api/v1/auth/token"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(
                    json!({"username": user, "password": "gesang-demo"}).to_string(),
                )))?;
            let resp = client.request(req).await?;
            let body = resp.into_body().collect().await?.to_bytes();
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            anyhow::Ok(v["token"].as_str().context("no token")?.to_owned())
        }
    };
    let county = login("center-623027").await?;
    let township = login("center-623027202").await?;

    eprintln!("bench fanout: opening {} event streams…", args.streams);
    let stop = tokio_util::sync::CancellationToken::new();
    let mut watchers = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        // Each stream on a connection of its own (HTTP/1.1: one stream per connection).
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let (node, token) = if i % 2 == 0 {
            ("623027", county.clone())
        } else {
            ("623027202", township.clone())
        };
        let req = hyper::Request::get(format!("/api/v1/events?territory={node}"))
            .header("host", addr.to_string())
            .header("authorization", format!("Bearer {token}"))
            .body(Full::<Bytes>::default())?;
        let stop = stop.clone();
        watchers.push(tokio::spawn(async move {
            let resp = sender.send_request(req).await?;
            anyhow::ensure!(resp.status() == 200, "stream refused: {}", resp.status());
            let mut body = resp.into_body();
            let mut buf = String::new();
            let mut seen: Vec<(String, Instant)> = Vec::new();
            loop {
                let frame = tokio::select! {
                    _ = stop.cancelled() => break,
                    f = body.frame() => f,
                };
                match frame {
                    Some(Ok(f)) => {
                        if let Ok(bytes) = f.into_data() {
                            buf.push_str(&String::from_utf8_lossy(&bytes));
                            let now = Instant::now();
                            seen.extend(created_codes(&mut buf).into_iter().map(|c| (c, now)));
                        }
                    }
                    _ => break,
                }
            }
            anyhow::Ok(seen)
        }));
    }
    wait_for_streams(&state, args.streams, Duration::from_secs(60)).await?;
    emit(
        json!({"phase": "setup", "backend": db.backend().as_str(), "streams": args.streams,
        "seconds": setup.elapsed().as_secs_f64()}),
    );

    eprintln!(
        "bench fanout: {} cases, one every {} ms…",
        args.fanout_cases, args.fanout_interval_ms
    );
    let mut sent: Vec<(String, Instant)> = Vec::with_capacity(args.fanout_cases);
    let mut failed = 0usize;
    let interval = Duration::from_millis(args.fanout_interval_ms);
    let started = Instant::now();
    for k in 0..args.fanout_cases {
        tokio::time::sleep_until((started + interval * k as u32).into()).await;
        let body = json!({
            "category": "attention.security.theft",
            "description": PHRASES[k % PHRASES.len()],
            "territory": "623027202201001",
            "channel": "walk_in",
        });
        let req = hyper::Request::post(format!("{base}/api/v1/cases"))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {township}"))
            .body(Full::new(Bytes::from(body.to_string())))?;
        let at = Instant::now();
        let resp = client.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        match v["code"].as_str() {
            Some(code) if status == 201 => sent.push((code.to_owned(), at)),
            _ => failed += 1,
        }
    }
    // Give the last events time to arrive (or be missed), then close the streams.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let mut delays_ms = Vec::with_capacity(args.streams * sent.len());
    let mut missed = 0usize;
    let mut ended_early = 0usize;
    for w in watchers {
        let seen = match w.await? {
            Ok(seen) => seen,
            Err(e) => {
                eprintln!("bench fanout: a stream failed: {e}");
                ended_early += 1;
                continue;
            }
        };
        let at: std::collections::HashMap<&str, Instant> =
            seen.iter().map(|(c, t)| (c.as_str(), *t)).collect();
        for (code, t_sent) in &sent {
            match at.get(code.as_str()) {
                Some(t) if t.duration_since(*t_sent) <= Duration::from_secs(10) => {
                    delays_ms.push(t.duration_since(*t_sent).as_secs_f64() * 1000.0);
                }
                _ => missed += 1,
            }
        }
    }
    delays_ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if delays_ms.is_empty() {
            return f64::NAN;
        }
        delays_ms[((delays_ms.len() as f64 - 1.0) * p).round() as usize]
    };
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let (p50, p99, max) = (
        pct(0.5),
        pct(0.99),
        delays_ms.last().copied().unwrap_or(f64::NAN),
    );
    emit(
        json!({"phase": "fanout", "cases": sent.len(), "failed": failed, "deliveries": delays_ms.len(),
        "missed": missed, "streams_failed": ended_early}),
    );
    emit(json!({"scenario": "fanout", "figures": {
        "streams": args.streams,
        "cases": sent.len(),
        "deliveries": delays_ms.len(),
        "missed": missed,
        "p50_ms": round(p50),
        "p99_ms": round(p99),
        "max_ms": round(max),
        "backend": db.backend().as_str(),
    }}));
    eprintln!(
        "bench fanout: {} streams × {} cases: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, {missed} missed ({})",
        args.streams,
        sent.len(),
        db.backend().as_str()
    );
    state.close().await;
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
    Ok(())
}
