//! `gesang demo`: load the deterministic demo data set (DOMAIN.md scale) into the configured
//! database, in batches, with progress on stderr and a one-line summary at the end.

use std::io::Write as _;
use std::time::Instant;

use domain::clock::Clock;
use domain::demo::{DEMO_PASSWORD, DemoData, Scale, generate};
use domain::territory::Node;
use geo::{InteriorPoint, MapCoords};
use store::account::NewAccount;
use store::territory::TerritoryRecord;
use store::{Db, StoreError};

use crate::auth::hash_password;

/// What a demo load did.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub scale: Scale,
    pub rows: Vec<(&'static str, u64)>,
    pub seconds: f64,
}

/// Round to 6 decimals (≈ 0.1 m): plenty for outlines, and a third of the text.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A node as stored: outline as GeoJSON, plus a representative point.
pub fn territory_record(n: &Node) -> TerritoryRecord {
    let geometry = n.geometry.as_ref().map(|g| {
        let g = g.map_coords(|c| geo::Coord {
            x: round6(c.x),
            y: round6(c.y),
        });
        geojson::Geometry::from(&g).to_string()
    });
    let center = n
        .geometry
        .as_ref()
        .and_then(|g| g.interior_point())
        .map(|p| (round6(p.x()), round6(p.y())));
    TerritoryRecord {
        code: n.code.clone(),
        parent: n.parent(),
        level: n.level(),
        name: n.name.clone(),
        name_bo: n.name_bo.clone(),
        geometry,
        geometry_source: n.geometry_source.map(|s| s.as_str().to_owned()),
        center,
    }
}

fn progress(step: &str, rows: u64, started: Instant) {
    eprintln!(
        "  {step:<14} {rows:>8} rows   {:>6.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Days of case history `gesang demo` and `gesang serve --demo` load by default.
pub const DEFAULT_HISTORY_DAYS: u32 = 30;

/// Generate and load the demo data set, without case history. Refuses a database that already
/// holds territory.
pub async fn load(db: &Db, scale: Scale, clock: &dyn Clock) -> Result<DemoSummary, StoreError> {
    load_with_history(db, scale, clock, 0, None).await
}

/// Generate and load the demo data set, then `history_days` days of case history ending now
/// (`domain::history`) at the demo's realistic rate, or `history_cases` cases over those days.
pub async fn load_with_history(
    db: &Db,
    scale: Scale,
    clock: &dyn Clock,
    history_days: u32,
    history_cases: Option<u64>,
) -> Result<DemoSummary, StoreError> {
    if db.has_territory().await? {
        return Err(StoreError::NotEmpty(
            "it already holds territory; load the demo into an empty database".into(),
        ));
    }
    let started = Instant::now();
    eprintln!("gesang demo: generating the {scale} data set…");
    let data = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || generate(scale))
            .await
            .map_err(|e| StoreError::Corrupt(format!("demo generator failed: {e}")))?,
    );
    progress("generated", 0, started);
    // One Argon2id hash for every demo account: they share one published password, and
    // hashing 26,000 copies would cost minutes for no security gain.
    let hash = tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD))
        .await
        .map_err(|e| StoreError::Corrupt(format!("hashing failed: {e}")))?
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut rows = insert_all(db, &data, &hash, clock, started).await?;
    crate::routes::open311::ensure_demo_key(db, clock.now()).await?;
    if history_days > 0 {
        let mut spec =
            domain::history::HistorySpec::demo(data.households.len(), history_days, clock.now());
        if let Some(n) = history_cases {
            spec.cases = n;
        }
        let h = crate::demo_history::load(db, data.clone(), spec).await?;
        rows.push(("cases", h.cases));
        rows.push(("case_events", h.events));
        rows.push(("worklogs", h.worklogs));
        rows.push(("daily_reports", h.reports));
        rows.push(("territory_day_stats", h.rollup_rows));
    }
    let seconds = started.elapsed().as_secs_f64();
    let total: u64 = rows.iter().map(|(_, n)| n).sum();
    print_accounts(&data);
    eprintln!(
        "gesang demo: loaded {scale} demo into {}: {} households, {} members, {} accounts, {total} rows in {seconds:.1} s ({:.0} rows/s)",
        db.backend().as_str(),
        data.households.len(),
        data.members.len(),
        data.accounts.len(),
        total as f64 / seconds.max(1e-9)
    );
    Ok(DemoSummary {
        scale,
        rows,
        seconds,
    })
}

async fn insert_all(
    db: &Db,
    data: &DemoData,
    hash: &str,
    clock: &dyn Clock,
    started: Instant,
) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let mut rows = Vec::new();
    let n = db
        .insert_territories(data.nodes.iter().map(territory_record).collect())
        .await?;
    progress("territories", n, started);
    rows.push(("territories", n));
    let n = db.insert_units(&data.units).await?;
    progress("units", n, started);
    rows.push(("units", n));
    let n = insert_chunked(&data.members, 20_000, |c| db.insert_members(c)).await?;
    progress("members", n, started);
    rows.push(("members", n));
    let n = insert_chunked(&data.households, 20_000, |c| db.insert_households(c)).await?;
    progress("households", n, started);
    rows.push(("households", n));
    let n = db.insert_group_heads(&data.group_heads).await?;
    progress("group heads", n, started);
    rows.push(("group_heads", n));
    let n = db.insert_monasteries(&data.monasteries).await?;
    rows.push(("monasteries", n));
    let n = db.insert_enterprises(&data.enterprises).await?;
    rows.push(("enterprises", n));
    let n = insert_chunked(&data.pairings, 20_000, |c| db.insert_pairings(c)).await?;
    progress("pairings", n, started);
    rows.push(("pairings", n));
    let accounts: Vec<NewAccount> = data
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| NewAccount {
            id: i as i64 + 1,
            username: a.username.clone(),
            password_hash: hash.to_owned(),
            display_name: a.display_name.clone(),
            role: a.role,
            scope: a.scope.clone(),
            unit: a.unit.clone(),
            member: a.member,
        })
        .collect();
    let n = db.insert_accounts(accounts, clock.now()).await?;
    progress("accounts", n, started);
    rows.push(("accounts", n));
    let n = crate::actions::rules::store_default_categories(db).await?;
    progress("categories", n, started);
    rows.push(("categories", n));
    let n = crate::actions::emergency::store_default_plans(db, clock.now())
        .await
        .map_err(|e| StoreError::Corrupt(format!("emergency plans: {e}")))?;
    progress("plans", n, started);
    rows.push(("emergency_plans", n));
    let n = db.recompute_counts().await? as u64;
    progress("counts", n, started);
    rows.push(("territory_counts", n));
    Ok(rows)
}

/// Insert in transactions of `chunk` rows, so progress shows and no transaction grows huge.
async fn insert_chunked<'a, T, F, Fut>(
    items: &'a [T],
    chunk: usize,
    f: F,
) -> Result<u64, StoreError>
where
    F: Fn(&'a [T]) -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut n = 0;
    for c in items.chunks(chunk) {
        n += f(c).await?;
    }
    Ok(n)
}

/// The demo accounts, one example of each kind (there are thousands), on stderr with the
/// progress (stdout is kept for machine-readable output such as the benchmarks' JSON lines).
fn print_accounts(data: &DemoData) {
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "Demo accounts (password for all: {DEMO_PASSWORD}):");
    // First account of each kind, with how many there are.
    let mut kinds: Vec<(&str, &domain::demo::DemoAccount, usize)> = Vec::new();
    for a in &data.accounts {
        let kind = a.username.split('-').next().unwrap_or("");
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, _, n)) => *n += 1,
            None => kinds.push((kind, a, 1)),
        }
    }
    for (_, a, n) in kinds {
        let _ = writeln!(
            out,
            "  {:<28} {} ({n} accounts of this kind)",
            a.username, a.display_name
        );
    }
    for example in [
        "center-623027",
        "center-623027202",
        "leader-623027",
        "handler-623027-police",
    ] {
        if let Some(a) = data.accounts.iter().find(|a| a.username == example) {
            let _ = writeln!(out, "  {:<28} {}", a.username, a.display_name);
        }
    }
    let _ = writeln!(
        out,
        "Open311 API key: {} (GeoReport v2 under /open311/v2)",
        crate::routes::open311::DEMO_KEY
    );
}
