//! Reading people and organisation, with personal data masked by role.

use domain::account::Role;
use domain::people::Unit;
use domain::text::{mask_address, mask_id_number, mask_phone};
use serde::Serialize;
use store::people::{HouseholdRow, MemberRow};

use crate::auth::{Caller, InScope};
use crate::error::AppResult;
use crate::state::AppState;

/// A unit as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitView {
    pub code: String,
    pub name: String,
    /// `center`, `department` or `grid`.
    pub kind: String,
    pub territory: String,
}

impl From<Unit> for UnitView {
    fn from(u: Unit) -> Self {
        UnitView {
            code: u.code,
            name: u.name,
            kind: u.kind.as_str().to_owned(),
            territory: u.territory.to_string(),
        }
    }
}

/// A household as shown to a caller: phone, ID number and address masked unless the role needs
/// them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HouseholdView {
    pub id: i64,
    pub group: Option<String>,
    pub grid: String,
    pub head_name: String,
    pub address: String,
    pub phone: String,
    pub id_number: String,
    pub residents: i64,
    pub care: bool,
    /// Whether personal fields are masked for this caller.
    pub masked: bool,
}

pub fn household_view(role: Role, h: HouseholdRow) -> HouseholdView {
    let masked = !role.sees_personal_data();
    HouseholdView {
        id: h.id,
        group: h.group,
        grid: h.grid,
        head_name: h.head_name,
        address: if masked {
            mask_address(&h.address)
        } else {
            h.address
        },
        phone: if masked {
            mask_phone(&h.phone)
        } else {
            h.phone
        },
        id_number: if masked {
            mask_id_number(&h.id_number)
        } else {
            h.id_number
        },
        residents: h.resident_count,
        care: h.care,
        masked,
    }
}

/// A member as shown to a caller (work phone numbers are shown: members are contacted for work).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub forces: Vec<String>,
    pub unit: String,
    pub unit_name: String,
    pub territory: String,
    pub title: String,
}

impl From<MemberRow> for MemberView {
    fn from(m: MemberRow) -> Self {
        MemberView {
            id: m.id,
            name: m.name,
            phone: m.phone,
            forces: m.forces,
            unit: m.unit,
            unit_name: m.unit_name,
            territory: m.territory,
            title: m.title,
        }
    }
}

pub async fn units_at(state: &AppState, at: &InScope) -> AppResult<Vec<UnitView>> {
    Ok(state
        .db
        .units_at(at.code())
        .await?
        .into_iter()
        .map(UnitView::from)
        .collect())
}

/// Households below a node, paged by id.
pub async fn households(
    state: &AppState,
    caller: &Caller,
    within: &InScope,
    after_id: i64,
    limit: i64,
) -> AppResult<Vec<HouseholdView>> {
    let rows = state
        .db
        .households_in(within.code(), after_id, limit)
        .await?;
    audit_list(state, caller, within, &rows, "household list").await?;
    Ok(rows
        .into_iter()
        .map(|h| household_view(caller.role(), h))
        .collect())
}

/// A list of households shown unmasked (to a role that sees personal data) is one reveal.
async fn audit_list(
    state: &AppState,
    caller: &Caller,
    within: &InScope,
    rows: &[HouseholdRow],
    via: &str,
) -> AppResult<()> {
    if rows.is_empty() || !caller.role().sees_personal_data() {
        return Ok(());
    }
    let ids: Vec<String> = rows.iter().map(|h| h.id.to_string()).collect();
    crate::actions::audit::reveal(
        state,
        caller,
        crate::actions::audit::Reveal {
            kind: "households",
            id: ids.join(","),
            territory: Some(within.code().as_str()),
            fields: &["phone", "id_number", "address"],
            via,
        },
    )
    .await
}

/// People search inside the caller's scope: households by head name, members by name.
pub async fn search(
    state: &AppState,
    caller: &Caller,
    within: &InScope,
    q: &str,
    limit: i64,
) -> AppResult<(Vec<HouseholdView>, Vec<MemberView>)> {
    let rows = state.db.search_households(within.code(), q, limit).await?;
    audit_list(state, caller, within, &rows, "people search").await?;
    let households = rows
        .into_iter()
        .map(|h| household_view(caller.role(), h))
        .collect();
    let members = state
        .db
        .search_members(within.code(), q, limit)
        .await?
        .into_iter()
        .map(MemberView::from)
        .collect();
    Ok((households, members))
}

/// Members working at exactly this node.
pub async fn members_at(state: &AppState, at: &InScope, limit: i64) -> AppResult<Vec<MemberView>> {
    Ok(state
        .db
        .members_at(at.code(), limit)
        .await?
        .into_iter()
        .map(MemberView::from)
        .collect())
}

/// Every unit by code, cached after the first call.
/// Every unit by code, shared.
pub type UnitMap = std::sync::Arc<std::collections::HashMap<String, domain::people::Unit>>;

pub async fn unit_map(state: &AppState) -> AppResult<UnitMap> {
    if let Some(map) = state.units.read().await.as_ref() {
        return Ok(map.clone());
    }
    let mut slot = state.units.write().await;
    if let Some(map) = slot.as_ref() {
        return Ok(map.clone());
    }
    let units = state.db.all_units().await?;
    let map = std::sync::Arc::new(units.into_iter().map(|u| (u.code.clone(), u)).collect());
    *slot = Some(std::sync::Arc::clone(&map));
    Ok(map)
}

/// Drop the cached units, so the next use reads them again (after a unit is created or
/// renamed). Another server on the same database sees the change after its restart.
pub async fn forget_units(state: &AppState) {
    *state.units.write().await = None;
}
