//! The search indexer. Intake writes a new case with only its id in the search backlog; this
//! job turns the backlog into search terms in large batches (segmenting Chinese with jieba,
//! Tibetan on tsheg and shad) a moment later, off the intake's critical path. A search first
//! drains the backlog, so every search sees every committed case. The backlog is a table, so a
//! crash loses no indexing work: the next run picks it up.

use std::time::Duration;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Cases indexed per transaction: small enough that intake never waits long for the single
/// SQLite writer (a case gives 30–40 terms, so a batch writes about 2,500 index rows). Measured
/// with `gesang bench intake` at 1,000 cases/s offered: batches of 250 gave a p99 of 50–60 ms,
/// batches of 64 about 24 ms, at no loss of indexing throughput.
const BATCH: i64 = 64;
/// How often the background indexer looks at the backlog.
pub const TICK: Duration = Duration::from_millis(500);

/// Index every case waiting in the backlog; returns how many were indexed.
pub async fn index_pending(state: &AppState) -> AppResult<u64> {
    let _one_at_a_time = state.indexing.lock().await;
    let mut total = 0;
    loop {
        let items = state.db.pending_index(BATCH).await?;
        if items.is_empty() {
            return Ok(total);
        }
        let names: std::collections::HashMap<String, String> = {
            let rules = state.rules.read().await;
            items
                .iter()
                .filter_map(|i| {
                    rules
                        .taxonomy
                        .get(&i.category)
                        .map(|c| (i.category.clone(), c.name.clone()))
                })
                .collect()
        };
        let batch = tokio::task::spawn_blocking(move || {
            items
                .into_iter()
                .map(|i| {
                    let text = format!(
                        "{} {} {} {}",
                        i.title.as_deref().unwrap_or(""),
                        i.description,
                        names.get(&i.category).map(String::as_str).unwrap_or(""),
                        i.code
                    );
                    (i.case_id, domain::search::terms(&text))
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| AppError::Internal(format!("indexer: {e}")))?;
        total += state.db.write_index(batch).await?;
    }
}

/// Run the indexer in the background until the process ends.
pub fn spawn_indexer(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if state.db.is_closed() {
                break;
            }
            if let Err(e) = index_pending(&state).await {
                // The database closing under a running pass is the process stopping.
                if state.db.is_closed() {
                    break;
                }
                tracing::error!(error = %e, "search indexer failed");
            }
        }
    });
}
