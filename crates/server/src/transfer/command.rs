//! `gesang import KIND FILE… [--mapping FILE]` and `gesang export KIND --territory CODE
//! --format xlsx|csv --output FILE` (CONTRACT.md): progress and every refused row on stderr, a
//! one-line summary on stdout.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use store::Db;

use super::sheet::Format;
use super::{ImportOptions, ImportReport, Kind, Operator, Rejection, peak_rss_mib};
use crate::state::{AppState, Settings, SystemClock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Territory,
    Households,
    Members,
    Pairings,
    Cases,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::Territory => Kind::Territory,
            KindArg::Households => Kind::Households,
            KindArg::Members => Kind::Members,
            KindArg::Pairings => Kind::Pairings,
            KindArg::Cases => Kind::Cases,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Xlsx,
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// What the files hold.
    #[arg(value_enum)]
    pub kind: KindArg,
    /// CSV (UTF-8) or Excel .xlsx files; a directory stands for the .csv and .xlsx files in it.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Column mapping (TOML) of a legacy case history; required for `cases`
    /// (see examples/import/boston-311.toml).
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// Import the good rows of a file that has refused ones (default: a file with any refused
    /// row writes nothing).
    #[arg(long)]
    pub partial: bool,
    /// Check every row and report, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write every refused row (file, line, field, reason, message) to this CSV file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[arg(value_enum)]
    pub kind: KindArg,
    /// The node whose subtree is exported, e.g. 623027.
    #[arg(long)]
    pub territory: String,
    /// Default: from the output file's extension.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    #[arg(long)]
    pub output: PathBuf,
}

/// The files an argument list names (directories expanded, sorted by name).
fn expand(files: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(f)
                .with_context(|| format!("cannot read {}", f.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| Format::of_path(p).is_some())
                .collect();
            inner.sort();
            out.extend(inner);
        } else {
            out.push(f.clone());
        }
    }
    Ok(out
        .into_iter()
        .map(|p| {
            let name = p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            (p, name)
        })
        .collect())
}

async fn state_for(db: Db) -> anyhow::Result<AppState> {
    let state = AppState::new(db, Arc::new(SystemClock), Settings::default());
    crate::actions::rules::load(&state)
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the rules: {e}"))?;
    Ok(state)
}

fn write_report(path: &Path, rejections: &[&Rejection]) -> anyhow::Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    w.write_record(["file", "line", "field", "reason", "message"])?;
    for r in rejections {
        w.write_record([
            r.file.as_str(),
            &r.line.to_string(),
            r.field.as_deref().unwrap_or(""),
            r.reason.as_str(),
            r.message.as_str(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// `gesang import`.
pub async fn run_import(db: Db, args: ImportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let kind = Kind::from(args.kind);
    let files = expand(&args.files)?;
    let opts = ImportOptions {
        partial: args.partial,
        dry_run: args.dry_run,
    };
    let op = Operator::cli();
    let state = state_for(db.clone()).await?;
    eprintln!(
        "gesang import {}: {} file(s) into {}{}",
        kind.as_str(),
        files.len(),
        db.backend().as_str(),
        if opts.dry_run { " (dry run)" } else { "" }
    );
    let reports: Vec<ImportReport> = match kind {
        Kind::Cases => {
            let mapping = args
                .mapping
                .as_deref()
                .context("importing cases needs --mapping FILE (see examples/import/)")?;
            let mapping = super::cases::read_mapping(mapping)?;
            super::cases::import_legacy(&state, &op, &mapping, &files, opts, true).await?
        }
        _ => {
            let mut out = Vec::with_capacity(files.len());
            for (path, name) in &files {
                let r = super::org::import_file(
                    &db,
                    &op,
                    kind,
                    path,
                    None,
                    name,
                    opts,
                    chrono::Utc::now(),
                )
                .await?;
                eprintln!("  {}", r.summary());
                out.push(r);
            }
            out
        }
    };
    for r in reports.iter().flat_map(|r| &r.rejected) {
        eprintln!("  refused {r}");
    }
    let listed: Vec<&Rejection> = reports.iter().flat_map(|r| &r.rejected).collect();
    if let Some(path) = &args.report {
        write_report(path, &listed)?;
    }
    let rows: u64 = reports.iter().map(|r| r.rows).sum();
    let imported: u64 = reports.iter().map(|r| r.imported).sum();
    let already: u64 = reports.iter().map(|r| r.already).sum();
    let refused: u64 = reports.iter().map(|r| r.rejected_count).sum();
    let unwritten = reports
        .iter()
        .filter(|r| !r.committed && !opts.dry_run)
        .count();
    let seconds = started.elapsed().as_secs_f64();
    let mut by_reason: std::collections::BTreeMap<&str, u64> = Default::default();
    for r in &listed {
        *by_reason.entry(r.reason.as_str()).or_default() += 1;
    }
    let reasons: Vec<String> = by_reason.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let rss = peak_rss_mib().map_or_else(String::new, |m| format!(", peak RSS {m:.0} MiB"));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "gesang import {}: {} files, {rows} rows, {imported} imported, {already} already imported, {refused} refused{}{} in {seconds:.1} s ({:.0} rows/s){rss}",
        kind.as_str(),
        files.len(),
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        if unwritten > 0 {
            format!(
                "; {unwritten} file(s) not written (refused rows; --partial imports the good ones)"
            )
        } else {
            String::new()
        },
        rows as f64 / seconds.max(1e-9)
    )?;
    drop(out);
    state.close().await;
    if unwritten > 0 {
        anyhow::bail!("{unwritten} file(s) were not imported");
    }
    Ok(())
}

/// `gesang export`.
pub async fn run_export(db: Db, args: ExportArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let kind = Kind::from(args.kind);
    let territory = domain::TerritoryCode::parse(&args.territory)
        .map_err(|e| anyhow::anyhow!("--territory {}: {e}", args.territory))?;
    let format = match args.format {
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Xlsx) => Format::Xlsx,
        None => Format::of_path(&args.output)
            .context("give --format xlsx|csv, or name the output .xlsx or .csv")?,
    };
    if db.territory(&territory).await?.is_none() {
        anyhow::bail!("no territory {territory}");
    }
    let op = Operator::cli();
    let n = match kind {
        Kind::Cases => {
            let state = state_for(db.clone()).await?;
            let n = super::cases::export_cases(&state, &op, &territory, format, &args.output).await;
            state.events.stop().await;
            n?
        }
        _ => {
            super::org::export(
                &db,
                &op,
                kind,
                &territory,
                format,
                &args.output,
                chrono::Utc::now(),
            )
            .await?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "gesang export {}: {n} rows of {territory} to {} in {seconds:.1} s ({:.0} rows/s)",
        kind.as_str(),
        args.output.display(),
        n as f64 / seconds.max(1e-9)
    )?;
    drop(out);
    db.close().await;
    Ok(())
}
