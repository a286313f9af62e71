//! The group-commit writer for new cases.
//!
//! Request handlers do the CPU work in parallel — routing, the engine's `create`, search terms,
//! serialisation — with ids and daily code numbers taken from blocks reserved in the database.
//! One writer task then takes whatever prepared cases are waiting and writes them all in one
//! transaction: one fsync for many cases instead of one each, with full durability. A request
//! is answered only after its transaction has committed.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use domain::case::{Actor, Case, CaseCode, NewCase};
use domain::clock::Clock;
use domain::routing::Route;
use domain::rules::Rules;
use store::Db;
use store::cases::{CaseRecord, Inserted, NewCaseWrite, Reported};
use tokio::sync::{Mutex, RwLock, mpsc, oneshot};

use crate::actions::case::{NewCaseInput, counter_changes, event_record, timers};
use crate::error::{AppError, AppResult};

/// Most cases written in one transaction.
const MAX_BATCH: usize = 500;
/// Ids and code numbers reserved at a time. Numbers of a block left unused when the server
/// stops are skipped, never reused.
const BLOCK: i64 = 200;

struct Job {
    write: NewCaseWrite,
    reply: oneshot::Sender<AppResult<(CaseRecord, bool)>>,
}

#[derive(Default)]
struct Blocks {
    next_id: i64,
    end_id: i64,
    day: Option<NaiveDate>,
    next_seq: i64,
    end_seq: i64,
}

/// A handle on the writer; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Job>,
    db: Db,
    rules: Arc<RwLock<Rules>>,
    clock: Arc<dyn Clock>,
    blocks: Arc<Mutex<Blocks>>,
}

impl Intake {
    /// Start the writer task.
    pub fn start(db: Db, rules: Arc<RwLock<Rules>>, clock: Arc<dyn Clock>) -> Intake {
        let (tx, rx) = mpsc::channel(8 * MAX_BATCH);
        tokio::spawn(run(db.clone(), rx));
        Intake {
            tx,
            db,
            rules,
            clock,
            blocks: Arc::new(Mutex::new(Blocks::default())),
        }
    }

    /// The next case id and code number of `day`, from the reserved blocks.
    async fn numbers(&self, day: NaiveDate) -> AppResult<(i64, u32)> {
        let mut b = self.blocks.lock().await;
        if b.next_id >= b.end_id {
            let (first, _) = self.db.reserve_case_numbers(BLOCK, &[]).await?;
            b.next_id = first;
            b.end_id = first + BLOCK;
        }
        if b.day != Some(day) || b.next_seq >= b.end_seq {
            let (_, firsts) = self.db.reserve_case_numbers(0, &[(day, BLOCK)]).await?;
            b.day = Some(day);
            b.next_seq = firsts[0];
            b.end_seq = firsts[0] + BLOCK;
        }
        let out = (b.next_id, u32::try_from(b.next_seq).unwrap_or(u32::MAX));
        b.next_id += 1;
        b.next_seq += 1;
        Ok(out)
    }

    /// Build a routed case and wait until it is committed. Returns the stored row and whether
    /// it is new (`false`: the idempotency key named an earlier case).
    pub async fn submit(
        &self,
        input: NewCaseInput,
        route: Route,
        by: Option<Actor>,
    ) -> AppResult<(CaseRecord, bool)> {
        self.submit_with_files(input, route, by, vec![]).await
    }

    /// As [`Intake::submit`], with checked photos and audio notes written in the same
    /// transaction as the case (tied to its report, event 1): the case and its files commit
    /// together or not at all.
    pub async fn submit_with_files(
        &self,
        input: NewCaseInput,
        route: Route,
        by: Option<Actor>,
        files: Vec<domain::attachment::Checked>,
    ) -> AppResult<(CaseRecord, bool)> {
        let now = self.clock.now();
        let day = now
            .with_timezone(&domain::clock::china_offset())
            .date_naive();
        let (id, seq) = self.numbers(day).await?;
        let write = {
            let rules = self.rules.read().await;
            build_write(&rules, now, id, seq, &input, &route, by.as_ref())?
        };
        let mut write = write;
        write.attachments = crate::actions::attachments::new_rows(
            domain::attachment::OwnerKind::Case,
            id,
            Some(1),
            files,
            by.as_ref().map(|a| a.account_id),
            now,
        );
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { write, reply })
            .await
            .map_err(|_| AppError::Internal("the case writer has stopped".into()))?;
        rx.await
            .map_err(|_| AppError::Internal("the case writer dropped a request".into()))?
    }
}

/// How long the writer waits to gather a batch of `GATHER_FROM` to `GATHER_BELOW` cases.
const GATHER: std::time::Duration = std::time::Duration::from_millis(2);
const GATHER_FROM: usize = 8;
const GATHER_BELOW: usize = 64;

fn drain(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        drain(&mut rx, &mut batch);
        // Under heavy load, a moment's wait gathers many more cases into the same commit; at
        // ordinary load the few waiting cases go at once.
        if (GATHER_FROM..GATHER_BELOW).contains(&batch.len()) {
            tokio::time::sleep(GATHER).await;
            drain(&mut rx, &mut batch);
        }
        metrics::histogram!("gesang_intake_batch_size").record(batch.len() as f64);
        write_batch(&db, batch).await;
    }
}

/// Write a batch; on a failure of the whole transaction (e.g. another server stored the same
/// idempotency key a moment earlier), write the jobs one by one so each gets its own answer.
async fn write_batch(db: &Db, batch: Vec<Job>) {
    // Several requests with one key in the same batch: the first is written, the others get
    // its case.
    let mut first_of_key: HashMap<String, usize> = HashMap::new();
    let mut followers: Vec<(usize, Job)> = Vec::new();
    let mut jobs: Vec<Job> = Vec::with_capacity(batch.len());
    for job in batch {
        match job.write.record.idempotency_key.clone() {
            Some(k) if first_of_key.contains_key(&k) => followers.push((first_of_key[&k], job)),
            Some(k) => {
                first_of_key.insert(k, jobs.len());
                jobs.push(job);
            }
            None => jobs.push(job),
        }
    }
    let writes: Vec<NewCaseWrite> = jobs.iter().map(|j| j.write.clone()).collect();
    let results = match insert(db, writes).await {
        Ok(r) => r,
        // A duplicate key means another server stored the same idempotency key a moment
        // ago: written again, alone, each case now finds that one and answers with it.
        Err(e) if jobs.len() > 1 || is_duplicate(&e) => {
            tracing::warn!(error = %e, cases = jobs.len(), "batch failed; writing one by one");
            let mut one_by_one = Vec::with_capacity(jobs.len());
            for job in &jobs {
                one_by_one.push(
                    insert(db, vec![job.write.clone()])
                        .await
                        .map(|mut v| v.remove(0))
                        .unwrap_or_else(Err),
                );
            }
            one_by_one
        }
        Err(e) => vec![Err(e)],
    };
    let shared: Vec<Option<CaseRecord>> = results
        .iter()
        .map(|r| r.as_ref().ok().map(|(rec, _)| rec.clone()))
        .collect();
    for (idx, job) in followers {
        let answer = match &shared[idx] {
            Some(rec) => Ok((rec.clone(), false)),
            None => Err(AppError::Internal(
                "the first request with this key failed".into(),
            )),
        };
        let _ = job.reply.send(answer);
    }
    for (job, result) in jobs.into_iter().zip(results) {
        let _ = job.reply.send(result);
    }
}

fn is_duplicate(e: &AppError) -> bool {
    matches!(e, AppError::Store(s) if s.is_unique_violation())
}

async fn insert(
    db: &Db,
    writes: Vec<NewCaseWrite>,
) -> AppResult<Vec<AppResult<(CaseRecord, bool)>>> {
    let records: Vec<CaseRecord> = writes.iter().map(|w| w.record.clone()).collect();
    let outcomes = db.insert_cases(writes).await?;
    let mut answers = Vec::with_capacity(records.len());
    for (rec, outcome) in records.into_iter().zip(outcomes) {
        answers.push(match outcome {
            Inserted::New(_) => Ok((rec, true)),
            Inserted::Existing(id) => db
                .case_by_id(id)
                .await?
                .map(|r| (r, false))
                .ok_or_else(|| AppError::Internal(format!("case {id} vanished"))),
        });
    }
    Ok(answers)
}

/// Everything one new case writes: the engine's create event, counters, timers, and its place
/// in the search backlog. Used by the writer, and by the benchmark to measure the store alone.
pub fn build_write(
    rules: &Rules,
    now: DateTime<Utc>,
    id: i64,
    seq: u32,
    input: &NewCaseInput,
    route: &Route,
    by: Option<&Actor>,
) -> AppResult<NewCaseWrite> {
    let code = CaseCode::for_instant(now, seq)
        .map_err(|e| AppError::Internal(format!("case code: {e}")))?;
    let (case, event) = Case::create(
        NewCase {
            id,
            code: code.clone(),
            category: input.category.clone(),
            territory: route.territory.clone(),
            centre: route.centre.clone(),
            urgency: input.urgency,
            channel: input.channel,
        },
        by,
        rules,
        now,
    )
    .map_err(crate::actions::case::case_error)?;
    let record = CaseRecord::from_case(
        &case,
        Reported {
            title: input.title.clone(),
            description: input.description.clone(),
            location: input.location.map(|p| (p.lng(), p.lat())),
            reporter_name: input.reporter_name.clone(),
            reporter_phone: input.reporter_phone.clone(),
            reporter_account: by.map(|a| a.account_id),
            routed_unit: route.handling_unit.clone(),
            routing_reason: route.reason.clone(),
            idempotency_key: input.idempotency_key.clone(),
        },
    )
    .map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(NewCaseWrite {
        events: vec![event_record(&event)?],
        counters: counter_changes(&case, &event, &case),
        // Search terms are written by the indexer, in large batches, off this path.
        terms: vec![],
        index_later: true,
        timers: timers(rules, &case),
        attachments: vec![],
        record,
    })
}
