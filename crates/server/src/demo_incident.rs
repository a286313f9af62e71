//! `gesang demo-incident`: replay the seed's September debris flow in 达麦乡 (夏河县) on a
//! database holding the demo data set, through the same actions as the API: the county leader
//! activates the debris-flow plan at level Ⅱ on 达麦乡, orders the evacuation, the members
//! acknowledge, the grid workers call the roll (34 households of 达麦村 flooded and evacuated,
//! everyone else safe), the village and township centres report, the level is lowered and the
//! incident stood down. The timeline runs from six hours ago to now.

use std::sync::Arc;

use chrono::{Duration, Utc};
use domain::TerritoryCode;
use domain::clock::{Clock, FixedClock};
use domain::emergency::{IncidentCommand, ResponseLevel};
use store::Db;

use crate::actions::emergency::{self, ActivateInput, RollCallEntryIn, RollCallRequest};
use crate::auth::Caller;
use crate::state::{AppState, Settings};

/// 达麦乡 and 达麦村.
pub const TOWNSHIP: &str = "623027202";
pub const VILLAGE: &str = "623027202201";
/// Households of 达麦村 whose yards were flooded (the seed's figure).
pub const FLOODED: usize = 34;

/// Instructions the replay leaves unacknowledged (so the board's list has something to show).
pub const KEEP_OPEN: usize = 3;

/// Acknowledgements by phone, confirmed by the township centre within half an hour of `from`,
/// except for the first `keep_open` still open.
async fn acknowledge_all_but(
    db: &Db,
    id: i64,
    keep_open: usize,
    by: i64,
    from: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let open = db.incident_instructions(id, true, 0, 100_000).await?;
    for (k, ins) in open.iter().enumerate().skip(keep_open) {
        let at = from + Duration::seconds((k as i64 * 7) % 1800);
        db.acknowledge_instruction(id, ins.seq, by, at).await?;
    }
    Ok(())
}

async fn caller(db: &Db, username: &str) -> anyhow::Result<Caller> {
    let c = db.credentials(username).await?.ok_or_else(|| {
        anyhow::anyhow!("no account {username}: load the demo first (gesang demo)")
    })?;
    Ok(Caller {
        principal: c.principal,
        csrf_token: String::new(),
        client: "gesang demo-incident".to_owned(),
    })
}

fn err(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Replay the incident; returns its id.
pub async fn replay(db: Db) -> anyhow::Result<i64> {
    let clock = FixedClock::at(Utc::now() - Duration::hours(6));
    let state = AppState::new(db.clone(), Arc::new(clock.clone()), Settings::default());
    let leader = caller(&db, "leader-623027").await?;
    let township = caller(&db, &format!("center-{TOWNSHIP}")).await?;
    let village = caller(&db, &format!("center-{VILLAGE}")).await?;

    let v = emergency::activate(
        &state,
        &leader,
        ActivateInput {
            plan: "debris-flow".into(),
            territories: vec![TerritoryCode::parse(TOWNSHIP)?],
            level: ResponseLevel::new(2)?,
            title: "夏河县强降雨：达麦乡泥石流".into(),
        },
    )
    .await
    .map_err(err)?;
    let id = v.id;
    eprintln!(
        "gesang demo-incident: incident {id} on 达麦乡: {} households, {} instructions",
        v.households_total, v.instructions_total
    );
    clock.advance(Duration::minutes(4));
    emergency::command(
        &state,
        &leader,
        id,
        IncidentCommand::Order {
            text: "达麦村沟道两侧、河谷低洼处群众立即向村委会避险点转移；民兵应急队携带绳索、救生衣赶赴达麦村；包村部门即刻进村。".into(),
        },
    )
    .await
    .map_err(err)?;

    acknowledge_all_but(
        &db,
        id,
        KEEP_OPEN,
        township.principal.account_id,
        clock.now(),
    )
    .await?;

    // The roll call, grid by grid, by each grid's worker.
    clock.advance(Duration::minutes(20));
    let mut households = Vec::new();
    let mut after = 0;
    loop {
        let page = db.incident_households(id, None, "", after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.household;
        households.extend(page);
    }
    let flooded: Vec<i64> = households
        .iter()
        .filter(|h| h.village == VILLAGE)
        .take(FLOODED)
        .map(|h| h.household)
        .collect();
    let mut grids: Vec<String> = households.iter().map(|h| h.grid.clone()).collect();
    grids.sort();
    grids.dedup();
    for grid in &grids {
        let worker = caller(&db, &format!("worker-{grid}")).await?;
        let entries: Vec<RollCallEntryIn> = households
            .iter()
            .filter(|h| &h.grid == grid)
            .map(|h| {
                let hit = flooded.contains(&h.household);
                RollCallEntryIn {
                    household: h.household,
                    status: if hit { "evacuated" } else { "safe" }.into(),
                    note: hit.then(|| "院落被淹，全家已转移至村委会避险点".to_owned()),
                    at: None,
                }
            })
            .collect();
        for chunk in entries.chunks(1000) {
            emergency::roll_call(
                &state,
                &worker,
                id,
                RollCallRequest {
                    entries: chunk.to_vec(),
                    idempotency_key: Some(format!("demo-incident-{id}-{grid}")),
                },
            )
            .await
            .map_err(err)?;
        }
        clock.advance(Duration::minutes(3));
    }
    clock.advance(Duration::minutes(30));
    emergency::command(
        &state,
        &village,
        id,
        IncidentCommand::Report {
            text: format!("达麦村{FLOODED}户群众院落被淹，已全部转移至村委会避险点，无人员伤亡。"),
        },
    )
    .await
    .map_err(err)?;
    clock.advance(Duration::minutes(60));
    let board = emergency::get(&state, &township, id).await.map_err(err)?;
    emergency::command(
        &state,
        &township,
        id,
        IncidentCommand::Report {
            text: format!("达麦乡清点完毕：{}。", board.summary),
        },
    )
    .await
    .map_err(err)?;
    clock.advance(Duration::minutes(90));
    emergency::command(
        &state,
        &leader,
        id,
        IncidentCommand::ChangeLevel {
            to: ResponseLevel::new(4)?,
            reason: "降雨减弱，沟道水位回落，险情趋于稳定。".into(),
        },
    )
    .await
    .map_err(err)?;
    acknowledge_all_but(
        &db,
        id,
        KEEP_OPEN,
        township.principal.account_id,
        clock.now(),
    )
    .await?;
    clock.advance(Duration::minutes(80));
    let v = emergency::command(
        &state,
        &leader,
        id,
        IncidentCommand::StandDown {
            summary: format!(
                "险情解除。达麦村{FLOODED}户受灾，全部及时转移，无人员伤亡；{}。",
                board.summary
            ),
        },
    )
    .await
    .map_err(err)?;
    eprintln!(
        "gesang demo-incident: stood down; {} ; board at /incidents/{id}, report at /incidents/{id}/report",
        v.summary
    );
    state.events.stop().await;
    Ok(id)
}
