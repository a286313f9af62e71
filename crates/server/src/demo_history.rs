//! The demo's case history: `domain::history` generated on a thread of its own, turned into
//! stored rows (the same records the live write path makes: `actions::case::event_record`,
//! `timers`, the engine's state as JSON, the indexer's search terms), and bulk-loaded through
//! `store::history` in batches while the next batch is generated, with progress on stderr.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use domain::demo::DemoData;
use domain::history::{History, HistoryCase, HistorySpec};
use domain::rules::Rules;
use store::cases::{CaseRecord, CounterChange, Reported};
use store::history::{HistoryBatch, LoadReport, LoadWorklog, Rollups};
use store::{Db, StoreError};

/// Cases per batch (one transaction each).
const BATCH_CASES: usize = 10_000;

/// What a history load wrote.
#[derive(Debug, Clone, Default)]
pub struct HistoryLoaded {
    pub cases: u64,
    pub events: u64,
    pub worklogs: u64,
    pub reports: u64,
    pub rollup_rows: u64,
    pub seconds: f64,
}

/// Search terms of texts seen before: the generated texts repeat, jieba runs once per text.
#[derive(Default)]
struct TermCache(HashMap<String, Arc<Vec<String>>>);

impl TermCache {
    fn terms(&mut self, c: &HistoryCase, category_name: &str) -> Vec<String> {
        let text = format!(
            "{} {} {}",
            c.title.as_deref().unwrap_or(""),
            c.description,
            category_name
        );
        let words = self
            .0
            .entry(text)
            .or_insert_with_key(|t| Arc::new(domain::search::terms(t)))
            .clone();
        let mut out: Vec<String> = words.as_ref().clone();
        for t in domain::search::terms(c.case.code.as_str()) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }
}

fn record(c: &HistoryCase) -> Result<CaseRecord, StoreError> {
    CaseRecord::from_case(
        &c.case,
        Reported {
            title: c.title.clone(),
            description: c.description.clone(),
            location: c.location,
            reporter_account: c.reporter_account,
            routed_unit: c.routed_unit.clone(),
            routing_reason: c.routing_reason.clone(),
            ..Reported::default()
        },
    )
}

struct Builder<'a> {
    history: History<'a>,
    rules: &'a Rules,
    names: HashMap<String, String>,
    cache: TermCache,
    rollups: Rollups,
    next_log: i64,
    loaded: HistoryLoaded,
}

impl Builder<'_> {
    fn add_case(&mut self, b: &mut HistoryBatch, c: HistoryCase) -> Result<(), StoreError> {
        let rec = record(&c)?;
        let events = c
            .events
            .iter()
            .map(crate::actions::case::event_record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let counters: Vec<CounterChange> = domain::case::recount(&c.events)
            .into_iter()
            .map(|((unit, day, counter), delta)| CounterChange {
                unit,
                day,
                counter: counter.as_str().to_owned(),
                delta,
            })
            .collect();
        self.rollups.add_case(&rec, &events, &counters);
        let name = self
            .names
            .get(&c.case.category)
            .map(String::as_str)
            .unwrap_or("");
        b.terms.push((c.case.id, self.cache.terms(&c, name)));
        for t in crate::actions::case::timers(self.rules, &c.case) {
            let fired = match t.kind.as_str() {
                "yellow_card" if c.cards_fired.0 => Some(t.due_at),
                "red_card" if c.cards_fired.1 => Some(t.due_at),
                _ => None,
            };
            b.timers.push((t, fired));
        }
        self.loaded.cases += 1;
        self.loaded.events += events.len() as u64;
        b.cases.push(rec);
        b.events.extend(events);
        Ok(())
    }

    fn add_fieldwork(&mut self, b: &mut HistoryBatch, day: usize) -> Result<(), StoreError> {
        let (logs, reports) = self.history.day_fieldwork(day);
        for l in logs {
            self.next_log += 1;
            let w = LoadWorklog {
                id: self.next_log,
                account: l.account,
                kind: l.details.kind(),
                territory: l.territory,
                at: l.at,
                day: l.day,
                attendees: l.details.attendees(),
                details: serde_json::to_string(&l.details)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            };
            self.rollups.add_worklog(&w);
            self.loaded.worklogs += 1;
            b.worklogs.push(w);
        }
        for r in reports {
            let r = LoadReport {
                account: r.account,
                territory: r.territory,
                day: r.day,
                at: r.at,
                nothing_to_report: r.nothing_to_report,
                text: r.text,
            };
            self.rollups.add_report(&r);
            self.loaded.reports += 1;
            b.reports.push(r);
        }
        Ok(())
    }
}

/// What the generator thread sends: a batch, or at the end the rollups and sequences.
enum Msg {
    Batch(HistoryBatch),
    Done(Rollups, Vec<(String, i64)>, HistoryLoaded),
}

/// Generate `spec`'s history of the demo `data` and load it. `data` must be the demo just
/// loaded (its accounts' ids are the demo's).
pub async fn load(
    db: &Db,
    data: Arc<DemoData>,
    spec: HistorySpec,
) -> Result<HistoryLoaded, StoreError> {
    let started = Instant::now();
    if spec.days == 0 || spec.cases == 0 {
        return Ok(HistoryLoaded::default());
    }
    eprintln!(
        "gesang demo: history of {} days, {} cases…",
        spec.days, spec.cases
    );
    let deferred = db.begin_history_load().await?;
    if deferred > 0 {
        eprintln!("  history        {deferred} indexes to build at the end");
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Msg, StoreError>>(2);
    let generator = tokio::task::spawn_blocking(move || {
        let rules = Rules::gannan_default();
        let names = rules
            .taxonomy
            .all()
            .iter()
            .map(|c| (c.code.to_string(), c.name.clone()))
            .collect();
        let mut b = Builder {
            history: History::new(&data, &rules, spec),
            rules: &rules,
            names,
            cache: TermCache::default(),
            rollups: Rollups::default(),
            next_log: 0,
            loaded: HistoryLoaded::default(),
        };
        let days: Vec<_> = b.history.days().to_vec();
        let mut batch = HistoryBatch::default();
        let send = |batch: HistoryBatch| tx.blocking_send(Ok(Msg::Batch(batch))).is_ok();
        for (i, _) in days.iter().enumerate() {
            for c in b.history.day_cases(i) {
                if let Err(e) = b.add_case(&mut batch, c) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
                if batch.cases.len() >= BATCH_CASES && !send(std::mem::take(&mut batch)) {
                    return;
                }
            }
            if let Err(e) = b.add_fieldwork(&mut batch, i) {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
        if (!batch.cases.is_empty() || !batch.worklogs.is_empty()) && !send(batch) {
            return;
        }
        let mut seqs: Vec<(String, i64)> = vec![
            ("case_id".into(), b.history.next_id() - 1),
            ("worklog_id".into(), b.next_log),
        ];
        seqs.extend(
            days.iter()
                .filter(|d| d.cases > 0)
                .map(|d| (format!("code:{}", d.day), i64::from(d.cases))),
        );
        let _ = tx.blocking_send(Ok(Msg::Done(b.rollups, seqs, b.loaded)));
    });
    let mut done = None;
    let mut written = 0u64;
    let mut last_note = Instant::now();
    while let Some(msg) = rx.recv().await {
        match msg? {
            Msg::Batch(b) => {
                written += b.cases.len() as u64;
                db.load_history_batch(b).await?;
                if last_note.elapsed().as_secs_f64() >= 2.0 {
                    eprintln!(
                        "  history        {written:>8} cases  {:>6.1} s",
                        started.elapsed().as_secs_f64()
                    );
                    last_note = Instant::now();
                }
            }
            Msg::Done(r, s, l) => done = Some((r, s, l)),
        }
    }
    generator
        .await
        .map_err(|e| StoreError::Corrupt(format!("history generator failed: {e}")))?;
    let (rollups, seqs, mut loaded) =
        done.ok_or_else(|| StoreError::Corrupt("history generator stopped early".into()))?;
    eprintln!(
        "  history        {:>8} cases  {:>6.1} s (rollups: {} rows)",
        loaded.cases,
        started.elapsed().as_secs_f64(),
        rollups.len()
    );
    loaded.rollup_rows = db.finish_history(rollups, seqs).await?;
    loaded.seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "  history        {} cases, {} events, {} work logs, {} daily reports, {} rollup rows in {:.1} s",
        loaded.cases,
        loaded.events,
        loaded.worklogs,
        loaded.reports,
        loaded.rollup_rows,
        loaded.seconds
    );
    Ok(loaded)
}
