//! The commands of the `gesang` binary: `serve`, `demo`, `migrate`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use store::Db;

use crate::config::{Cli, Command, GlobalArgs, ServeArgs};
use crate::state::{AppState, Settings, SystemClock};

/// Run one command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(&cli.global, args).await,
        Command::Demo(args) => {
            let db = open(&cli.global).await?;
            crate::demo::load_with_history(
                &db,
                args.scale.into(),
                &SystemClock,
                args.history_days,
                None,
            )
            .await?;
            db.close().await;
            Ok(())
        }
        Command::Bench(args) => {
            let url = cli.global.database_url.as_ref().map(|u| u.0.as_str());
            crate::bench::run(args, url).await
        }
        Command::Backup(args) => {
            let db = open(&cli.global).await?;
            let result = backup(&db, &args.file).await;
            db.close().await;
            result
        }
        Command::Restore(args) => {
            // The copy moves sealed values as they are: no key is needed (nor recorded: the
            // database must be empty), and the backup's key is checked afterwards.
            let db = open_unkeyed(&cli.global).await?;
            let result = restore(&db, &args.file).await;
            let checked = match &result {
                Ok(()) => crate::datakey::attach(&cli.global, db.clone())
                    .await
                    .map(|_| ())
                    .context(
                        "restored, but the data key given does not open the backup's personal                          data: start the server with the key the backup was made under",
                    ),
                Err(_) => Ok(()),
            };
            db.close().await;
            result.and(checked)
        }
        Command::Import(args) => {
            let db = open(&cli.global).await?;
            crate::transfer::command::run_import(db, args).await
        }
        Command::Export(args) => {
            let db = open(&cli.global).await?;
            crate::transfer::command::run_export(db, args).await
        }
        Command::DemoIncident => {
            let db = open(&cli.global).await?;
            let result = crate::demo_incident::replay(db.clone()).await;
            db.close().await;
            let id = result?;
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, format!("{{\"incident\": {id}}}\n").as_bytes())?;
            Ok(())
        }
        Command::Migrate => {
            let db = open(&cli.global).await?;
            db.close().await;
            Ok(())
        }
        Command::RebuildStats => {
            let db = open(&cli.global).await?;
            let started = std::time::Instant::now();
            let rows = db.rebuild_stats().await?;
            db.close().await;
            eprintln!(
                "gesang rebuild-stats: {rows} rollup rows in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::RotateDataKey(args) => {
            let db = open(&cli.global).await?;
            let result =
                crate::datakey::rotate(&cli.global, db.clone(), &args.new_key_file, args.prepare)
                    .await;
            db.close().await;
            result
        }
    }
}

/// `gesang backup FILE`: progress per table on stderr, then a one-line summary.
async fn backup(db: &Db, file: &std::path::Path) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!(
        "gesang backup: copying the {} database into {}…",
        db.backend().as_str(),
        file.display()
    );
    let summary = db
        .backup_to(file, |table, rows| {
            eprintln!(
                "  {table:<24} {rows:>9} rows  {:>6.1} s",
                started.elapsed().as_secs_f64()
            );
        })
        .await
        .with_context(|| format!("backup into {} failed", file.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "gesang backup: {} rows of {} tables into {} ({:.1} MB) in {secs:.1} s ({:.0} rows/s)",
        summary.rows,
        summary.tables,
        file.display(),
        bytes as f64 / 1e6,
        summary.rows as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// `gesang restore FILE`: progress per table on stderr, then a one-line summary.
async fn restore(db: &Db, file: &std::path::Path) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!(
        "gesang restore: loading {} into the {} database…",
        file.display(),
        db.backend().as_str()
    );
    let summary = db
        .restore_from(file, |table, rows| {
            eprintln!(
                "  {table:<24} {rows:>9} rows  {:>6.1} s",
                started.elapsed().as_secs_f64()
            );
        })
        .await
        .with_context(|| {
            format!(
                "restore from {} failed; nothing was written",
                file.display()
            )
        })?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "gesang restore: {} rows of {} tables from {} in {secs:.1} s ({:.0} rows/s); search terms are rebuilt when the server starts",
        summary.rows,
        summary.tables,
        file.display(),
        summary.rows as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Connect and migrate, without the data key (for a restore).
async fn open_unkeyed(global: &GlobalArgs) -> anyhow::Result<Db> {
    let url = global.database_url.as_ref().map(|u| u.0.as_str());
    let db = Db::connect(url, &global.data_dir)
        .await
        .with_context(|| format!("cannot open the database {:?}", global.database_url))?;
    db.migrate().await.context("migration failed")?;
    Ok(db)
}

/// Connect, migrate, and attach the data key (checked against the database).
async fn open(global: &GlobalArgs) -> anyhow::Result<Db> {
    let url = global.database_url.as_ref().map(|u| u.0.as_str());
    let db = Db::connect(url, &global.data_dir)
        .await
        .with_context(|| format!("cannot open the database {:?}", global.database_url))?;
    let started = Instant::now();
    let n = db.migrate().await.context("migration failed")?;
    let db = crate::datakey::attach(global, db).await?;
    tracing::info!(
        backend = db.backend().as_str(),
        applied = n,
        data_key = db.vault.sealing_key_id().unwrap_or(""),
        ms = started.elapsed().as_millis() as u64,
        "database ready"
    );
    Ok(db)
}

async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let db = open(global).await?;
    if args.demo && !db.has_territory().await? {
        crate::demo::load_with_history(
            &db,
            args.demo_scale.into(),
            &SystemClock,
            args.demo_history_days,
            None,
        )
        .await?;
    }
    // A database from before the statistics rollups (migration 0020) gets them built once.
    if db.rollups_missing().await? {
        let started = Instant::now();
        let rows = db.rebuild_stats().await?;
        tracing::info!(
            rows,
            ms = started.elapsed().as_millis() as u64,
            "statistics rollups built"
        );
    }
    let mut state = AppState::new(
        db.clone(),
        Arc::new(SystemClock),
        Settings {
            session_hours: args.session_hours,
            secure_cookies: args.secure_cookies,
        },
    );
    state.metrics = crate::telemetry::init_metrics();
    crate::actions::rules::load(&state)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the rules: {e}"))?;
    crate::jobs::spawn_clock(
        state.clone(),
        std::time::Duration::from_millis(args.clock_tick_ms),
    );
    crate::search_index::spawn_indexer(state.clone());
    // The segmenter's dictionary is built off the request path, not by the first search.
    tokio::task::spawn_blocking(domain::search::warm_up);
    let events = state.events.clone();
    let hub = events.clone();
    let app = crate::router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "Gesang is serving on http://{}", args.listen);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        // Event streams never end by themselves: end them so in-flight requests can drain.
        events.shutdown();
    })
    .await
    .context("server failed")?;
    tracing::info!("shutting down: closing the database");
    // The live-event pump stops first: its last read must not meet a closed pool.
    hub.stop().await;
    db.close().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; in-flight requests then finish before the process exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}
