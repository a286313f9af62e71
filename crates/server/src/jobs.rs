//! Background jobs: the supervision clock. Timers live in the database, so they survive
//! restarts; each is claimed by an atomic update, so it fires exactly once even with several
//! servers on one PostgreSQL.

use std::time::Duration;

use domain::case::{self, Command, SuperviseLevel};
use store::cases::TransitionWrite;

use crate::actions::case::{apply_events, engine_case, record_of, timers};
use crate::error::AppResult;
use crate::state::AppState;

/// How often the clock looks for due timers (`serve --clock-tick-ms`).
pub const TICK: Duration = Duration::from_secs(15);

/// Run the supervision clock until the process ends, looking for due timers every `every`.
pub fn spawn_clock(state: AppState, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if state.db.is_closed() {
                break;
            }
            match fire_due_timers(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(fired = n, "supervision timers fired"),
                // The database closing under a running pass is the process stopping.
                Err(_) if state.db.is_closed() => break,
                Err(e) => tracing::error!(error = %e, "supervision clock failed"),
            }
        }
    });
}

/// An instant to the microsecond (what both databases keep).
fn to_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// Fire every timer due now; returns how many supervisions were recorded.
pub async fn fire_due_timers(state: &AppState) -> AppResult<usize> {
    let mut fired = 0;
    loop {
        let now = state.clock.now();
        let due = state.db.due_timers(now, 200).await?;
        if due.is_empty() {
            return Ok(fired);
        }
        for t in due {
            if !state.db.claim_timer(t.case_id, &t.kind, now).await? {
                continue; // another server took it
            }
            let Some(rec) = state.db.case_by_id(t.case_id).await? else {
                continue;
            };
            let before = engine_case(&rec)?;
            // Fire only the card of the step that runs now (the case may have moved on, or an
            // earlier card of this round may have bumped its version: what counts is the card).
            let current = state.rules.read().await.card_times(&before).map(|c| {
                if t.kind == "red_card" {
                    c.red
                } else {
                    c.yellow
                }
            });
            // Compared to the microsecond: PostgreSQL keeps timestamps to the microsecond, and
            // the card computed again from the case has the nanoseconds of its clock (found by
            // `cluster::two_servers_fire_each_due_timer_once`: no card ever fired there).
            if current.map(to_micros) != Some(to_micros(t.due_at)) {
                continue;
            }
            let (level, text) = match t.kind.as_str() {
                "red_card" => (SuperviseLevel::Red, "超时未办：红牌督办（自动）"),
                _ => (SuperviseLevel::Yellow, "到期未办：黄牌督办（自动）"),
            };
            let command = Command::Supervise {
                level,
                text: text.to_owned(),
            };
            let rules = state.rules.read().await;
            let Ok(events) = case::decide_by_system(&before, &command, &*rules, now) else {
                continue;
            };
            let (after, counters, records) = apply_events(&before, &events)?;
            // Keep the other card of the same step: only the fired one is gone.
            let keep: Vec<_> = timers(&rules, &after)
                .into_iter()
                .filter(|x| x.kind != t.kind)
                .collect();
            drop(rules);
            let write = TransitionWrite {
                expected_version: rec.version,
                record: record_of(&rec, &after)?,
                events: records,
                counters,
                timers: keep,
                attachments: vec![],
            };
            if state.db.apply_transition(write).await? {
                fired += 1;
            }
        }
    }
}
