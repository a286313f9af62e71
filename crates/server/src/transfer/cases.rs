//! Cases as spreadsheets: the legacy import (a hotline's or 311 system's history through a
//! TOML mapping, `examples/import/*.toml`) and the case export.
//!
//! Imported records become real cases: routed like live ones (by their position when it lies
//! in one of our grids, else by the area the mapping names), their history made of the engine's
//! own events at the source's times ([`domain::case::imported_history`]), written with their
//! counters, search backlog and, for open cases, the supervision timers still ahead, in
//! batches of [`BATCH`] cases per transaction. A source record imported once is never imported twice.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use domain::TerritoryCode;
use domain::case::{
    self, Case, CaseCode, Channel, ImportOutcome, ImportedCase, NewCase, Urgency, imported_history,
};
use domain::coord::{Datum, GeoPoint};
use domain::legacy::{CompiledMapping, LegacyRecord, Mapping, TargetState};
use domain::routing::{self, Place};
use domain::rules::Rules;
use store::cases::{CaseRecord, Reported};
use store::import::{CaseSource, ImportedCaseWrite};

use super::org::{ColSpec, sheet_columns};
use super::sheet::{self, Format, SheetError, SheetWriter};
use super::{BATCH, ImportOptions, ImportReport, Kind, Operator, Rejection, TransferError};
use crate::actions::case::{Units, counter_changes, event_record, timers};
use crate::state::AppState;

pub const CASE_COLUMNS: &[ColSpec] = &[
    ColSpec {
        key: "code",
        header: "案件编号",
        width: 18.0,
        required: true,
        export_only: false,
    },
    ColSpec {
        key: "status",
        header: "状态",
        width: 8.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "category",
        header: "类别",
        width: 22.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "territory",
        header: "区划",
        width: 21.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "handling_unit",
        header: "承办单位",
        width: 24.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "channel",
        header: "来源",
        width: 14.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "urgency",
        header: "紧急程度",
        width: 8.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "title",
        header: "标题",
        width: 30.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "description",
        header: "描述",
        width: 60.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "created_at",
        header: "创建时间",
        width: 20.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "updated_at",
        header: "更新时间",
        width: 20.0,
        required: false,
        export_only: false,
    },
    ColSpec {
        key: "deadline",
        header: "当前期限",
        width: 20.0,
        required: false,
        export_only: false,
    },
];

/// Read a mapping file (TOML).
pub fn read_mapping(path: &Path) -> Result<Mapping, TransferError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TransferError::Invalid(format!("{}: {e}", path.display())))?;
    parse_mapping(&text).map_err(|e| TransferError::Invalid(format!("{}: {e}", path.display())))
}

/// Parse a mapping from its TOML text.
pub fn parse_mapping(text: &str) -> Result<Mapping, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

/// Shanghai time, to the second.
fn beijing(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::clock::china_offset())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Everything routing and the engine need, read once.
struct Context<'a> {
    rules: Rules,
    /// When the import runs: supervision timers already past by then are not written.
    now: DateTime<Utc>,
    units: crate::actions::people::UnitMap,
    grids: &'a domain::locate::GridIndex,
    op: &'a Operator,
}

/// One record waiting in a batch, numbered when the batch is written.
struct Pending {
    line: u64,
    record: LegacyRecord,
    route: routing::Route,
    /// The position on our map (WGS-84), when it lies in one of our grids.
    location: Option<GeoPoint>,
}

impl Context<'_> {
    /// Route a record: by its position when it lies in one of our grids, else by its area.
    fn route(
        &self,
        r: &LegacyRecord,
        datum: Datum,
    ) -> Result<(routing::Route, Option<GeoPoint>), (&'static str, String)> {
        let category = self
            .rules
            .taxonomy
            .get(&r.category)
            .ok_or(("unknown_category", format!("no category {}", r.category)))?;
        let located = r
            .location
            .and_then(|(lng, lat)| GeoPoint::from_datum(lng, lat, datum).ok())
            .and_then(|p| self.grids.locate(p.to_point()).cloned().map(|g| (p, g)));
        let (place, location) = match located {
            Some((p, grid)) => (Place::Located(Some(grid)), Some(p)),
            None => (Place::Chosen(r.territory.clone()), None),
        };
        let route = routing::route(&place, category, Urgency::Normal, &Units(&self.units))
            .map_err(|e| ("unroutable", e.to_string()))?;
        if !self.op.covers(&route.territory) {
            return Err((
                "out_of_scope",
                format!("{} is outside the scope {}", route.territory, self.op.scope),
            ));
        }
        Ok((route, location))
    }

    /// The stored writes of a numbered batch.
    fn build(
        &self,
        p: &Pending,
        id: i64,
        seq: u32,
        source: &str,
        file: &str,
    ) -> Result<ImportedCaseWrite, (&'static str, String)> {
        let r = &p.record;
        let code =
            CaseCode::for_instant(r.created_at, seq).map_err(|e| ("numbering", e.to_string()))?;
        let outcome = match r.state {
            TargetState::Submitted => ImportOutcome::Submitted,
            TargetState::Accepted => ImportOutcome::Accepted,
            TargetState::Closed => ImportOutcome::Closed {
                at: r.ended_at.unwrap_or(r.created_at),
                result: r.result,
                text: r.note.clone(),
            },
            TargetState::Rejected => ImportOutcome::Rejected {
                at: r.ended_at.unwrap_or(r.created_at),
                reason: r.note.clone(),
            },
        };
        let imported = ImportedCase {
            new: NewCase {
                id,
                code: code.clone(),
                category: r.category.clone(),
                territory: p.route.territory.clone(),
                centre: p.route.centre.clone(),
                urgency: Urgency::Normal,
                channel: Channel::LegacyImport,
            },
            created_at: r.created_at,
            outcome,
        };
        let (case, events) = imported_history(&imported, &self.rules)
            .map_err(|e| ("invalid_history", e.to_string()))?;
        let mut counters = Vec::new();
        let mut before: Option<Case> = None;
        for e in &events {
            let (b, a) = match before.take() {
                None => {
                    let c =
                        Case::from_created(e).ok_or(("invalid_history", "no create".to_owned()))?;
                    (c.clone(), c)
                }
                Some(b) => {
                    let a = case::apply(b.clone(), e);
                    (b, a)
                }
            };
            counters.extend(counter_changes(&b, e, &a));
            before = Some(a);
        }
        let records = events
            .iter()
            .map(event_record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ("invalid_history", e.to_string()))?;
        let record = CaseRecord::from_case(
            &case,
            Reported {
                title: r.title.clone(),
                description: r.description.clone(),
                location: p.location.map(|l| (l.lng(), l.lat())),
                reporter_name: r.reporter_name.clone(),
                reporter_phone: r.reporter_phone.clone(),
                reporter_account: None,
                routed_unit: p.route.handling_unit.clone(),
                routing_reason: p.route.reason.clone(),
                idempotency_key: Some(format!("import:{source}:{}", r.source_id)),
            },
        )
        .map_err(|e| ("invalid_history", e.to_string()))?;
        Ok(ImportedCaseWrite {
            // A limit that lapsed in the legacy system is not a lapse of ours: the case shows
            // red in the lists, but no automatic card is issued for it (an import of a year's
            // open cases would otherwise issue tens of thousands at the next start).
            timers: timers(&self.rules, &case)
                .into_iter()
                .filter(|t| t.due_at > self.now)
                .collect(),
            record,
            events: records,
            counters,
            source: CaseSource {
                source: source.to_owned(),
                source_id: r.source_id.clone(),
                file: file.to_owned(),
                line: p.line as i64,
                source_type: Some(r.source_type.clone()),
                source_status: r.source_status.clone(),
                source_area: r.source_area.clone(),
                source_lng: r.location.map(|l| l.0),
                source_lat: r.location.map(|l| l.1),
            },
        })
    }
}

/// Progress of a whole run (all files), printed to stderr when asked.
struct Progress {
    enabled: bool,
    started: Instant,
    rows: u64,
    last: Instant,
}

impl Progress {
    fn tick(&mut self, n: u64, file: &str, index: usize, files: usize) {
        self.rows += n;
        if self.enabled && self.last.elapsed().as_secs_f64() >= 2.0 {
            self.last = Instant::now();
            let s = self.started.elapsed().as_secs_f64();
            eprintln!(
                "  [{index}/{files}] {file}: {} rows so far, {:.0} rows/s",
                self.rows,
                self.rows as f64 / s.max(1e-9)
            );
        }
    }
}

/// Import legacy case files through `mapping`. One report per file.
pub async fn import_legacy(
    state: &AppState,
    op: &Operator,
    mapping: &Mapping,
    files: &[(PathBuf, String)],
    opts: ImportOptions,
    progress: bool,
) -> Result<Vec<ImportReport>, TransferError> {
    let levels = state.db.territory_levels().await?;
    let ctx = Context {
        rules: state.rules.read().await.clone(),
        now: state.clock.now(),
        units: crate::actions::people::unit_map(state).await?,
        grids: crate::actions::territory::grid_index(state).await?,
        op,
    };
    let datum = if mapping.source.datum.as_deref() == Some("gcj02") {
        Datum::Gcj02
    } else {
        Datum::Wgs84
    };
    let mut seen_ids: HashSet<String> = HashSet::new();
    let mut reports = Vec::with_capacity(files.len());
    let mut prog = Progress {
        enabled: progress,
        started: Instant::now(),
        rows: 0,
        last: Instant::now(),
    };
    for (i, (path, name)) in files.iter().enumerate() {
        let started = Instant::now();
        let mut report = ImportReport::new(name, Kind::Cases);
        let delimiter = mapping.source.delimiter.map(|c| c as u8);
        let rows = sheet::open_with(path.clone(), None, delimiter).await?;
        let compiled = mapping
            .compile(
                &rows.header,
                &|c| ctx.rules.taxonomy.get(c).is_some(),
                &|t| levels.contains_key(t.as_str()),
            )
            .map_err(|e| TransferError::Invalid(format!("{name}: {e}")))?;
        // All or nothing: check the whole file before writing any of it.
        let must_check = !opts.partial || opts.dry_run;
        if must_check {
            let mut rows = rows;
            let mut ids = seen_ids.clone();
            while let Some(item) = rows.next().await {
                report.rows += 1;
                match item {
                    Ok((line, cells)) => {
                        if let Err(r) = check(&ctx, &compiled, datum, &mut ids, &cells) {
                            report.reject(rejection(name, line, r));
                        }
                    }
                    Err(e) => report.reject(sheet_rejection(name, e)?),
                }
            }
            if opts.dry_run || report.rejected_count > 0 {
                report.seconds = started.elapsed().as_secs_f64();
                prog.tick(report.rows, name, i + 1, files.len());
                reports.push(report);
                continue;
            }
            report = ImportReport::new(name, Kind::Cases);
        }
        let mut rows = sheet::open_with(path.clone(), None, delimiter).await?;
        let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
        while let Some(item) = rows.next().await {
            report.rows += 1;
            let (line, cells) = match item {
                Ok(r) => r,
                Err(e) => {
                    report.reject(sheet_rejection(name, e)?);
                    continue;
                }
            };
            let fields: Vec<&str> = cells.iter().map(String::as_str).collect();
            let record = match compiled.record(&fields) {
                Ok(r) => r,
                Err(e) => {
                    report.reject(rejection(name, line, (e.reason, e.message)));
                    continue;
                }
            };
            if !seen_ids.insert(record.source_id.clone()) {
                report.reject(rejection(
                    name,
                    line,
                    (
                        "duplicate_id",
                        format!("record {} was read before in this run", record.source_id),
                    ),
                ));
                continue;
            }
            match ctx.route(&record, datum) {
                Ok((route, location)) => batch.push(Pending {
                    line,
                    record,
                    route,
                    location,
                }),
                Err(r) => report.reject(rejection(name, line, r)),
            }
            if batch.len() >= BATCH {
                write_batch(state, &ctx, &compiled, name, &mut batch, &mut report).await?;
                prog.tick(BATCH as u64, name, i + 1, files.len());
            }
        }
        let rest = batch.len() as u64;
        write_batch(state, &ctx, &compiled, name, &mut batch, &mut report).await?;
        prog.tick(rest, name, i + 1, files.len());
        report.committed = true;
        report.seconds = started.elapsed().as_secs_f64();
        reports.push(report);
    }
    Ok(reports)
}

/// The checks of pass one (all-or-nothing): the record reads, is new in this run, routes.
fn check(
    ctx: &Context<'_>,
    compiled: &CompiledMapping,
    datum: Datum,
    ids: &mut HashSet<String>,
    cells: &[String],
) -> Result<(), (&'static str, String)> {
    let fields: Vec<&str> = cells.iter().map(String::as_str).collect();
    let r = compiled
        .record(&fields)
        .map_err(|e| (e.reason, e.message))?;
    if !ids.insert(r.source_id.clone()) {
        return Err((
            "duplicate_id",
            format!("record {} is given twice", r.source_id),
        ));
    }
    ctx.route(&r, datum).map(|_| ())
}

fn rejection(file: &str, line: u64, (reason, message): (&'static str, String)) -> Rejection {
    Rejection {
        file: file.to_owned(),
        line,
        field: None,
        reason: reason.to_owned(),
        message,
    }
}

fn sheet_rejection(file: &str, e: SheetError) -> Result<Rejection, TransferError> {
    match e {
        SheetError::Row { line, message } => Ok(Rejection {
            file: file.to_owned(),
            line,
            field: None,
            reason: "unreadable".into(),
            message,
        }),
        other => Err(other.into()),
    }
}

/// Number and write one batch: skip records imported by an earlier run, reserve ids and daily
/// code numbers for the rest, build their histories, write them in one transaction.
async fn write_batch(
    state: &AppState,
    ctx: &Context<'_>,
    compiled: &CompiledMapping,
    file: &str,
    batch: &mut Vec<Pending>,
    report: &mut ImportReport,
) -> Result<(), TransferError> {
    if batch.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(batch);
    let ids: Vec<String> = pending.iter().map(|p| p.record.source_id.clone()).collect();
    let done = state.db.imported_source_ids(&compiled.source, &ids).await?;
    let fresh: Vec<Pending> = pending
        .into_iter()
        .filter(|p| !done.contains(&p.record.source_id))
        .collect();
    report.already += done.len() as u64;
    if fresh.is_empty() {
        return Ok(());
    }
    let mut per_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    let day_of = |t: DateTime<Utc>| t.with_timezone(&domain::clock::china_offset()).date_naive();
    for p in &fresh {
        *per_day.entry(day_of(p.record.created_at)).or_default() += 1;
    }
    let days: Vec<(NaiveDate, i64)> = per_day.into_iter().collect();
    let (first_id, firsts) = state
        .db
        .reserve_case_numbers(fresh.len() as i64, &days)
        .await?;
    let mut next_seq: BTreeMap<NaiveDate, i64> = days
        .iter()
        .zip(firsts)
        .map(|((d, _), first)| (*d, first))
        .collect();
    let mut writes = Vec::with_capacity(fresh.len());
    for (k, p) in fresh.iter().enumerate() {
        let day = day_of(p.record.created_at);
        let seq = next_seq.get_mut(&day).expect("reserved for every day");
        let s = *seq;
        *seq += 1;
        match ctx.build(p, first_id + k as i64, s as u32, &compiled.source, file) {
            Ok(w) => writes.push(w),
            Err(r) => report.reject(rejection(file, p.line, r)),
        }
    }
    let outcome = state
        .db
        .insert_imported_cases(writes, state.clock.now())
        .await?;
    report.imported += outcome.inserted;
    report.created += outcome.inserted;
    report.already += outcome.already;
    Ok(())
}

/// Write the cases of a subtree to `path`.
pub async fn export_cases(
    state: &AppState,
    op: &Operator,
    within: &TerritoryCode,
    format: Format,
    path: &Path,
) -> Result<u64, TransferError> {
    if !op.covers(within) {
        return Err(TransferError::Invalid(format!(
            "{within} is outside the scope {}",
            op.scope
        )));
    }
    let rules = state.rules.read().await.clone();
    let mut w = SheetWriter::create(
        path,
        format,
        Kind::Cases.name_zh(),
        &sheet_columns(CASE_COLUMNS),
    )?;
    let prefix = within.subtree_prefix().to_owned();
    let mut after = 0;
    let mut n = 0u64;
    loop {
        let page = state.db.cases_page(&prefix, after, 1000).await?;
        for c in &page {
            let category = rules
                .taxonomy
                .get(&c.category)
                .map_or_else(|| c.category.clone(), |cat| cat.name.clone());
            let status = case::Status::parse(&c.status).map_or(c.status.as_str(), |s| s.name_zh());
            let channel = Channel::parse(&c.channel).map_or(c.channel.as_str(), |ch| ch.name_zh());
            let urgency = if c.urgency == "urgent" {
                "加急"
            } else {
                "一般"
            };
            w.write_row(&[
                c.code.clone().into(),
                status.into(),
                category.into(),
                c.territory.clone().into(),
                c.handling_unit.clone().into(),
                channel.into(),
                urgency.into(),
                c.title.clone().into(),
                c.description.clone().into(),
                beijing(c.created_at).into(),
                beijing(c.updated_at).into(),
                c.deadline.map(beijing).into(),
            ])?;
        }
        n += page.len() as u64;
        match page.last() {
            Some(c) if page.len() == 1000 => after = c.id,
            _ => break,
        }
    }
    w.finish()?;
    Ok(n)
}
