//! `gesang bench dashboard`: a fresh database (SQLite in a temporary directory, or a new
//! PostgreSQL database with `--database-url`) with the full demo territory and `--cases` cases
//! (1,000,000) of history over `--history-days` days (365) with their events, work logs and
//! daily reports (`load_s`: all of it, demo included); then `gesang serve` on that database as
//! a child process (so its memory is its own) measured over HTTP with the prefecture centre's
//! token:
//!
//! - `stats_p50_ms`, `stats_p99_ms`: `GET /api/v1/stats` for the prefecture, random counties
//!   and random townships, over random periods from a day to a year;
//! - `list_p99_ms`: filtered case lists (`territory`, `status`, `category`, `overdue`, 50 a
//!   page), following `next_cursor` a few pages;
//! - `search_p99_ms`: `GET /api/v1/cases?q=` with words of the generated texts (Chinese and
//!   Tibetan, some with a territory filter);
//! - `rss_mb`: the server's peak resident memory (`VmHWM` of `/proc/PID/status`) after the
//!   queries; `cases`: the cases loaded.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Duration as Days, NaiveDate};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::{Value as Json, json};
use store::Db;

use crate::bench::{BenchArgs, emit};
use crate::routes::pages::urlencode;
use crate::state::SystemClock;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const SEARCH_WORDS: &[&str] = &[
    "草场",
    "纠纷",
    "隐患",
    "落石",
    "低保",
    "取暖",
    "垃圾",
    "工资",
    "虫草",
    "宅基地",
    "医疗保险",
    "停电",
    "自来水",
    "校车",
    "裂缝",
    "消防",
    "རྩོད་གཞི",
    "རྩྭ་ཐང",
    "ཉེན་ཁ",
    "རོགས་རམ",
];

/// The p-th percentile (0–100) of sorted samples, in ms.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    (sorted[i.min(sorted.len() - 1)] * 100.0).round() / 100.0
}

async fn get(client: &HttpClient, url: &str, token: &str) -> anyhow::Result<(u16, Json, f64)> {
    let started = Instant::now();
    let req = hyper::Request::get(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or(Json::Null),
        ms,
    ))
}

/// Peak resident set of a process, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub async fn run(args: &BenchArgs, database_url: Option<&str>) -> anyhow::Result<()> {
    let started = Instant::now();
    let key_line = store::Vault::generate_key_line()?;
    let vault = std::sync::Arc::new(store::Vault::parse(&key_line)?);
    let dir = std::env::temp_dir().join(format!("gesang-bench-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let key_file = dir.join("data.key");
    std::fs::write(&key_file, format!("{key_line}\n"))?;
    let (db, url, pg_name) = match database_url {
        Some(admin) if admin.starts_with("postgres") => {
            let name = format!("gesang_bench_{}", std::process::id());
            let url = Db::create_postgres_database(admin, &name).await?;
            eprintln!("bench dashboard: fresh database {name}");
            let db = Db::connect(Some(&url), &dir).await?.with_vault(vault);
            (db, Some(url), Some((admin.to_owned(), name)))
        }
        _ => (Db::connect(None, &dir).await?.with_vault(vault), None, None),
    };
    db.migrate().await?;
    // Record the data key on the empty database, as `serve` does on its first start: the
    // server started on it later must find every row already sealed, not walk them all.
    db.check_data_key(chrono::Utc::now(), &mut |_, _, _| {})
        .await?;
    let result = measure(args, &db, url.as_deref(), &dir, &key_file, started).await;
    db.close().await;
    if let Some((admin, name)) = pg_name
        && let Err(e) = Db::drop_postgres_database(&admin, &name).await
    {
        eprintln!("bench: could not drop {name}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(
    args: &BenchArgs,
    db: &Db,
    url: Option<&str>,
    dir: &std::path::Path,
    key_file: &std::path::Path,
    started: Instant,
) -> anyhow::Result<()> {
    eprintln!(
        "bench dashboard: loading the full demo and {} cases over {} days into {}…",
        args.cases,
        args.history_days,
        db.backend().as_str()
    );
    let summary = crate::demo::load_with_history(
        db,
        domain::demo::Scale::Full,
        &SystemClock,
        args.history_days,
        Some(args.cases),
    )
    .await?;
    let load_s = started.elapsed().as_secs_f64();
    let cases = summary
        .rows
        .iter()
        .find(|(t, _)| *t == "cases")
        .map_or(0, |(_, n)| *n);
    emit(
        json!({"phase": "load", "backend": db.backend().as_str(), "cases": cases,
        "rows": summary.rows.iter().map(|(t, n)| (t.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "seconds": load_s}),
    );
    eprintln!("bench dashboard: loaded in {load_s:.1} s; starting the server…");

    // The server as a child process on the loaded database.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--data-dir")
        .arg(dir)
        .arg("--data-key-file")
        .arg(key_file)
        .arg("--log")
        .arg(std::env::var("GESANG_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()));
    if let Some(u) = url {
        cmd.arg("--database-url").arg(u);
    }
    cmd.arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = Child(cmd.spawn().context("starting gesang serve")?);
    let pid = child.0.id();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let base = format!("http://127.0.0.1:{port}");
    let up = Instant::now();
    loop {
        let req = hyper::Request::get(format!("{base}/healthz")).body(Full::new(Bytes::new()))?;
        if let Ok(r) = client.request(req).await
            && r.status().is_success()
        {
            break;
        }
        anyhow::ensure!(
            up.elapsed() < Duration::from_secs(300),
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_s = up.elapsed().as_secs_f64();
    eprintln!("bench dashboard: server up in {start_s:.1} s (pid {pid})");
    let token = {
        let req = hyper::Request::post(format!("{base}/api/v1/auth/token"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"username":"center-623000","password":"{}"}}"#,
                domain::demo::DEMO_PASSWORD
            ))))?;
        let resp = client.request(req).await?;
        let body = resp.into_body().collect().await?.to_bytes();
        let v: Json = serde_json::from_slice(&body)?;
        v["token"].as_str().context("no token")?.to_owned()
    };

    let nodes: Vec<String> = domain::gannan::territory()
        .iter()
        .map(|n| n.code.as_str().to_owned())
        .collect();
    let counties: Vec<&String> = nodes
        .iter()
        .filter(|c| c.len() == 6 && c.as_str() != "623000")
        .collect();
    let townships: Vec<&String> = nodes.iter().filter(|c| c.len() == 9).collect();
    anyhow::ensure!(
        !counties.is_empty() && !townships.is_empty(),
        "no territory"
    );
    let leaves: Vec<String> = domain::category::default_taxonomy()
        .into_iter()
        .map(|c| c.code.to_string())
        .collect();
    let today = domain::stats::day_of(chrono::Utc::now());
    let mut rng = Pcg64::seed_from_u64(17);

    // Warm-up: a few of each, not counted.
    for _ in 0..5 {
        let _ = get(
            &client,
            &format!("{base}/api/v1/stats?territory=623000"),
            &token,
        )
        .await?;
        let _ = get(&client, &format!("{base}/api/v1/cases?limit=50"), &token).await?;
    }

    // Statistics.
    let mut stats = Vec::new();
    // Every request with its time, for the slowest few on stderr.
    let mut slowest: Vec<(f64, String)> = Vec::new();
    for i in 0..args.queries {
        let node = match i % 3 {
            0 => "623000".to_owned(),
            1 => counties[rng.random_range(0..counties.len())].clone(),
            _ => townships[rng.random_range(0..townships.len())].clone(),
        };
        let len = match rng.random_range(0..4) {
            0 => 1,
            1 => 7,
            2 => 30,
            _ => rng.random_range(1..=365),
        };
        let to: NaiveDate = today - Days::days(rng.random_range(0..30));
        let from = to - Days::days(len - 1);
        let (status, _, ms) = get(
            &client,
            &format!("{base}/api/v1/stats?territory={node}&from={from}&to={to}"),
            &token,
        )
        .await?;
        anyhow::ensure!(status == 200, "stats {node} {from}..{to}: {status}");
        stats.push(ms);
        slowest.push((ms, format!("stats {node} {from}..{to}")));
    }
    stats.sort_by(f64::total_cmp);
    emit(json!({"phase": "stats", "requests": stats.len(),
        "p50_ms": percentile(&stats, 50.0), "p99_ms": percentile(&stats, 99.0)}));
    eprintln!(
        "bench dashboard: stats p50 {:.1} ms, p99 {:.1} ms",
        percentile(&stats, 50.0),
        percentile(&stats, 99.0)
    );

    // Filtered, paged lists.
    const STATUSES: &[&str] = &[
        "",
        "closed",
        "in_progress",
        "dispatched",
        "accepted",
        "revisit",
        "handled",
    ];
    let mut lists = Vec::new();
    let mut items = 0usize;
    let per = (args.queries / 4).max(1);
    for i in 0..per {
        let mut q = vec!["limit=50".to_owned()];
        match i % 3 {
            0 => {}
            1 => q.push(format!(
                "territory={}",
                counties[rng.random_range(0..counties.len())]
            )),
            _ => q.push(format!(
                "territory={}",
                townships[rng.random_range(0..townships.len())]
            )),
        }
        let s = STATUSES[rng.random_range(0..STATUSES.len())];
        if !s.is_empty() {
            q.push(format!("status={s}"));
        }
        if rng.random_range(0..3) == 0 {
            let c = &leaves[rng.random_range(0..leaves.len())];
            q.push(format!(
                "category={}",
                c.split('.').take(2).collect::<Vec<_>>().join(".")
            ));
        }
        if rng.random_range(0..5) == 0 {
            q.push("overdue=true".into());
        }
        let mut url = format!("{base}/api/v1/cases?{}", q.join("&"));
        for _page in 0..3 {
            let (status, v, ms) = get(&client, &url, &token).await?;
            anyhow::ensure!(status == 200, "list {url}: {status}");
            lists.push(ms);
            slowest.push((ms, format!("list {}", q.join("&"))));
            items += v["items"].as_array().map_or(0, Vec::len);
            match v["next_cursor"].as_str() {
                Some(c) => url = format!("{base}/api/v1/cases?{}&cursor={c}", q.join("&")),
                None => break,
            }
        }
    }
    lists.sort_by(f64::total_cmp);
    emit(
        json!({"phase": "list", "requests": lists.len(), "items": items,
        "p50_ms": percentile(&lists, 50.0), "p99_ms": percentile(&lists, 99.0)}),
    );
    eprintln!(
        "bench dashboard: list p50 {:.1} ms, p99 {:.1} ms ({items} items)",
        percentile(&lists, 50.0),
        percentile(&lists, 99.0)
    );

    // Search.
    let mut searches = Vec::new();
    let mut found = 0usize;
    for i in 0..per {
        let mut w = SEARCH_WORDS[rng.random_range(0..SEARCH_WORDS.len())].to_owned();
        if i % 4 == 1 {
            w.push(' ');
            w.push_str(SEARCH_WORDS[rng.random_range(0..SEARCH_WORDS.len())]);
        }
        let mut q = vec![format!("q={}", urlencode(&w)), "limit=50".into()];
        if i % 2 == 1 {
            q.push(format!(
                "territory={}",
                townships[rng.random_range(0..townships.len())]
            ));
        }
        let url = format!("{base}/api/v1/cases?{}", q.join("&"));
        let (status, v, ms) = get(&client, &url, &token).await?;
        anyhow::ensure!(status == 200, "search {w}: {status}");
        searches.push(ms);
        slowest.push((ms, format!("search {w} {}", q.join("&"))));
        found += v["items"].as_array().map_or(0, Vec::len);
    }
    searches.sort_by(f64::total_cmp);
    emit(
        json!({"phase": "search", "requests": searches.len(), "items": found,
        "p50_ms": percentile(&searches, 50.0), "p99_ms": percentile(&searches, 99.0)}),
    );
    eprintln!(
        "bench dashboard: search p50 {:.1} ms, p99 {:.1} ms ({found} items)",
        percentile(&searches, 50.0),
        percentile(&searches, 99.0)
    );
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, what) in slowest.iter().take(8) {
        eprintln!("bench dashboard: slow {ms:>7.1} ms  {what}");
    }
    let rss = peak_rss_mb(pid).unwrap_or(-1.0);
    drop(child);
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    emit(
        json!({"scenario": "dashboard", "backend": db.backend().as_str(),
            "load_average": load_avg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            "figures": {
            "cases": cases,
            "load_s": (load_s * 10.0).round() / 10.0,
            "stats_p50_ms": percentile(&stats, 50.0),
            "stats_p99_ms": percentile(&stats, 99.0),
            "list_p99_ms": percentile(&lists, 99.0),
            "search_p99_ms": percentile(&searches, 99.0),
            "rss_mb": rss,
        }}),
    );
    Ok(())
}
