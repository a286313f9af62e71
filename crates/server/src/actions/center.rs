//! The war room (作战室) of a node: its children's open and overdue load for the map, the
//! overdue, red-card and large-dispute lists, and at a grid its households. Read from the open
//! cases alone (an indexed range), never from the history.

use chrono::{DateTime, Utc};
use domain::account::Role;
use domain::territory::{Level, TerritoryCode};
use store::cases::{CaseFilter, CaseRecord};
use store::territory::{Counts, TerritoryRecord};

use crate::actions::people::HouseholdView;
use crate::auth::{Caller, InScope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Rows of each list.
pub const LIST_LEN: i64 = 20;
/// A dispute involving at least this many people is a large one (群体性纠纷).
pub const LARGE_DISPUTE_PEOPLE: u32 = 10;

/// One child of the node, with its load.
pub struct ChildLoad {
    pub node: TerritoryRecord,
    pub counts: Counts,
    pub open: i64,
    pub overdue: i64,
}

/// Everything the war room shows about one node.
pub struct WarRoom {
    pub node: TerritoryRecord,
    pub counts: Counts,
    pub ancestors: Vec<TerritoryRecord>,
    pub children: Vec<ChildLoad>,
    /// Open and overdue cases of the whole node (children and the node itself).
    pub open: i64,
    pub overdue: i64,
    pub overdue_cases: Vec<CaseRecord>,
    pub red_carded: Vec<CaseRecord>,
    pub large_disputes: Vec<(CaseRecord, u32)>,
    /// At a grid or group: its households (masked for the caller's role).
    pub households: Vec<HouseholdView>,
    pub now: DateTime<Utc>,
}

/// Who has a war room: leaders, centre operators and administrators.
pub fn has_war_room(role: Role) -> bool {
    matches!(role, Role::Leader | Role::CenterOperator | Role::Admin)
}

/// The length of the codes of a node's children (cases are placed at most at a grid).
fn child_code_len(level: Level) -> usize {
    match level {
        Level::Prefecture => 6,
        Level::County => 9,
        Level::Township => 12,
        Level::Village | Level::Grid | Level::Group => 15,
    }
}

/// The war room of `code` for `caller`.
pub async fn war_room(state: &AppState, caller: &Caller, code: &InScope) -> AppResult<WarRoom> {
    if !has_war_room(caller.role()) {
        return Err(AppError::Forbidden(
            "the war room is for leaders and centre operators".into(),
        ));
    }
    let view = crate::actions::territory::browse(state, code).await?;
    let now = state.clock.now();
    let prefix = code.code().subtree_prefix().to_owned();
    let loads = state
        .db
        .open_load(&prefix, child_code_len(view.node.level), now)
        .await?;
    let (open, overdue) = loads
        .iter()
        .filter(|l| TerritoryCode::parse(&l.code).is_ok_and(|c| code.code().covers(&c)))
        .fold((0, 0), |(o, d), l| (o + l.open, d + l.overdue));
    let children = view
        .children
        .into_iter()
        .map(|(node, counts)| {
            let l = loads
                .iter()
                .find(|l| l.code == node.code.as_str())
                .cloned()
                .unwrap_or_default();
            ChildLoad {
                node,
                counts,
                open: l.open,
                overdue: l.overdue,
            }
        })
        .collect();
    let overdue_cases = state
        .db
        .list_cases(&CaseFilter {
            territory_prefix: prefix.clone(),
            overdue_at: Some(now),
            by_deadline: true,
            limit: LIST_LEN,
            ..Default::default()
        })
        .await?;
    let red_carded = state.db.red_carded(&prefix, LIST_LEN).await?;
    let large_disputes = state
        .db
        .large_disputes(&prefix, LARGE_DISPUTE_PEOPLE, LIST_LEN as usize)
        .await?;
    let households = if view.node.level >= Level::Grid {
        crate::actions::people::households(state, caller, code, 0, 200).await?
    } else {
        vec![]
    };
    Ok(WarRoom {
        ancestors: view
            .ancestors
            .into_iter()
            .filter(|a| caller.principal.scope.covers(&a.code))
            .collect(),
        node: view.node,
        counts: view.counts,
        children,
        open,
        overdue,
        overdue_cases,
        red_carded,
        large_disputes,
        households,
        now,
    })
}
