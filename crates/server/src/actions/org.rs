//! Keeping the "8+" organisation true: the management use cases of households, members,
//! units, joint-defence groups, monasteries, enterprises and pairings, their history, and the
//! five coverages with their gaps. Written once for the administration pages and the API.
//!
//! Who: administrators and centre operators, within their scope (coverage is readable by every
//! staff role in scope). Personal data is masked unless the role needs it (`Role::
//! sees_personal_data`); every unmasked disclosure of a household is written to the audit log.

use chrono::NaiveDate;
use domain::account::Role;
use domain::coverage::{CoverageKind, Fraction};
use domain::org::{self, OrgError, TargetKind};
use domain::people::{PairingKind, PairingSubject, PairingTarget, Unit, UnitKind};
use domain::text::{mask_address, mask_id_number, mask_phone};
use domain::{Level, TerritoryCode};
use serde::{Deserialize, Deserializer, Serialize};
use store::org::{
    ChangeMeta, ChangeRecord, GapRecord, GroupRecord, HouseholdRecord, HouseholdWrite,
    MemberRecord, MemberWrite, PairingRecord, PairingWrite, PlaceKind, PlaceRecord, Refusal,
};

use crate::auth::{Caller, InScope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Whether a role manages the organisation data (administrators and centre operators).
pub fn manages(role: Role) -> bool {
    matches!(role, Role::Admin | Role::CenterOperator)
}

/// Refuse callers who do not manage the organisation data.
pub fn require_manager(caller: &Caller) -> AppResult<()> {
    if manages(caller.role()) {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only administrators and centre operators manage the organisation data".into(),
        ))
    }
}

fn org_error(e: OrgError) -> AppError {
    AppError::unprocessable(e.field, e.message)
}

fn refusal(r: Refusal) -> AppError {
    if r.conflict {
        AppError::Conflict(format!("{}: {}", r.field, r.message))
    } else {
        AppError::unprocessable(r.field, r.message)
    }
}

fn code(field: &str, raw: &str) -> AppResult<TerritoryCode> {
    crate::actions::territory::parse_code(field, raw)
}

fn meta(state: &AppState, caller: &Caller, via: &'static str) -> ChangeMeta {
    ChangeMeta {
        at: state.clock.now(),
        account: Some(caller.principal.account_id),
        via,
    }
}

/// Today in the prefecture (Asia/Shanghai).
pub fn today(state: &AppState) -> NaiveDate {
    state
        .clock
        .now()
        .with_timezone(&domain::clock::china_offset())
        .date_naive()
}

/// A boolean from JSON (`true`) or a form (`on`, `是`, `1`); absent = false.
fn flex_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(false),
        Some(B::Bool(b)) => Ok(b),
        Some(B::Text(t)) => org::parse_flag("flag", &t).map_err(serde::de::Error::custom),
    }
}

/// A number from JSON or a form's text; empty = none.
fn flex_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(f64),
        Text(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::Num(n)) => Ok(Some(n)),
        Some(N::Text(t)) if t.trim().is_empty() => Ok(None),
        Some(N::Text(t)) => t
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{t:?} is not a number"))),
    }
}

fn flex_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(flex_f64(d)?.map(|f| f as i64))
}

// ---------------------------------------------------------------------------------------------
// Coverage

/// One coverage as the API shows it.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct FractionView {
    pub covered: i64,
    pub total: i64,
    /// covered / total, or null when there is nothing to cover.
    pub rate: Option<f64>,
}

impl From<(i64, i64)> for FractionView {
    fn from((covered, total): (i64, i64)) -> Self {
        FractionView {
            covered,
            total,
            rate: Fraction { covered, total }.rate(),
        }
    }
}

/// One gap: the thing not covered and where it is (no personal data).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GapView {
    /// A household, monastery or enterprise id, or a village code.
    pub id: String,
    pub name: String,
    /// The node it is in (a household's group or grid).
    pub territory: String,
    /// Households: `no_group` or `group_without_head`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<GapRecord> for GapView {
    fn from(g: GapRecord) -> Self {
        GapView {
            id: g.id,
            name: g.name,
            territory: g.territory,
            reason: g.reason,
        }
    }
}

/// The gap lists of the five coverages.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct GapsView {
    pub households_in_groups: Vec<GapView>,
    pub monasteries_paired: Vec<GapView>,
    pub enterprises_paired: Vec<GapView>,
    pub care_households_paired: Vec<GapView>,
    pub villages_paired: Vec<GapView>,
}

impl GapsView {
    pub fn get_mut(&mut self, k: CoverageKind) -> &mut Vec<GapView> {
        match k {
            CoverageKind::HouseholdsInGroups => &mut self.households_in_groups,
            CoverageKind::MonasteriesPaired => &mut self.monasteries_paired,
            CoverageKind::EnterprisesPaired => &mut self.enterprises_paired,
            CoverageKind::CareHouseholdsPaired => &mut self.care_households_paired,
            CoverageKind::VillagesPaired => &mut self.villages_paired,
        }
    }
    pub fn get(&self, k: CoverageKind) -> &[GapView] {
        match k {
            CoverageKind::HouseholdsInGroups => &self.households_in_groups,
            CoverageKind::MonasteriesPaired => &self.monasteries_paired,
            CoverageKind::EnterprisesPaired => &self.enterprises_paired,
            CoverageKind::CareHouseholdsPaired => &self.care_households_paired,
            CoverageKind::VillagesPaired => &self.villages_paired,
        }
    }
}

/// `GET /api/v1/coverage`: the five coverages of a node and what they leave uncovered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CoverageView {
    pub territory: String,
    /// The day the pairings are counted on (in force that day).
    pub date: NaiveDate,
    pub households_in_groups: FractionView,
    pub monasteries_paired: FractionView,
    pub enterprises_paired: FractionView,
    pub care_households_paired: FractionView,
    pub villages_paired: FractionView,
    /// Up to `gap_limit` of each coverage's gaps (every one is counted in `total - covered`;
    /// `GET /api/v1/coverage/gaps` pages through all of them).
    pub gaps: GapsView,
    /// Whether a gap list was cut at `gap_limit`.
    pub gaps_truncated: bool,
}

impl CoverageView {
    pub fn fraction(&self, k: CoverageKind) -> FractionView {
        match k {
            CoverageKind::HouseholdsInGroups => self.households_in_groups,
            CoverageKind::MonasteriesPaired => self.monasteries_paired,
            CoverageKind::EnterprisesPaired => self.enterprises_paired,
            CoverageKind::CareHouseholdsPaired => self.care_households_paired,
            CoverageKind::VillagesPaired => self.villages_paired,
        }
    }
}

/// The coverages of a node the caller may see.
pub async fn coverage(
    state: &AppState,
    caller: &Caller,
    at: &TerritoryCode,
    day: Option<NaiveDate>,
    gap_limit: i64,
) -> AppResult<CoverageView> {
    let at = caller.scoped(at)?;
    crate::actions::territory::node(state, &at).await?;
    let day = day.unwrap_or_else(|| today(state));
    let c = state.db.coverage(at.code(), day).await?;
    let mut gaps = GapsView::default();
    let mut truncated = false;
    for k in CoverageKind::ALL {
        let page = state
            .db
            .coverage_gaps(at.code(), day, k, "", gap_limit + 1)
            .await?;
        truncated |= page.len() as i64 > gap_limit;
        gaps.get_mut(k)
            .extend(page.into_iter().take(gap_limit as usize).map(GapView::from));
    }
    Ok(CoverageView {
        territory: at.code().to_string(),
        date: day,
        households_in_groups: c.households_in_groups.into(),
        monasteries_paired: c.monasteries_paired.into(),
        enterprises_paired: c.enterprises_paired.into(),
        care_households_paired: c.care_households_paired.into(),
        villages_paired: c.villages_paired.into(),
        gaps,
        gaps_truncated: truncated,
    })
}

/// A page of one coverage's gaps, after `after` (an id or a village code).
pub async fn coverage_gaps(
    state: &AppState,
    caller: &Caller,
    at: &TerritoryCode,
    kind: CoverageKind,
    day: Option<NaiveDate>,
    after: &str,
    limit: i64,
) -> AppResult<Vec<GapView>> {
    let at = caller.scoped(at)?;
    let day = day.unwrap_or_else(|| today(state));
    Ok(state
        .db
        .coverage_gaps(at.code(), day, kind, after, limit)
        .await?
        .into_iter()
        .map(GapView::from)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Households

/// A household as a caller sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HouseholdDetail {
    pub id: i64,
    pub grid: String,
    pub group: Option<String>,
    pub head_name: String,
    pub address: String,
    pub phone: String,
    pub id_number: String,
    pub resident_count: i64,
    pub care: bool,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    /// Whether phone, ID number and address are masked for this caller.
    pub masked: bool,
}

/// A household with its personal data masked or not.
pub fn household_detail(masked: bool, h: HouseholdRecord) -> HouseholdDetail {
    HouseholdDetail {
        id: h.id,
        grid: h.grid,
        group: h.group,
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
        resident_count: h.resident_count,
        care: h.care,
        lng: h.lng,
        lat: h.lat,
        masked,
    }
}

/// A household to create or change. Phone, ID number and address sent back masked (or left
/// empty on an existing household) keep what is stored.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct HouseholdInput {
    /// The grid it lives in (15 digits).
    #[serde(default)]
    pub grid: String,
    /// Its joint-defence group (18 digits), if any.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub head_name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub id_number: String,
    /// Needs care (结对关爱).
    #[serde(default, deserialize_with = "flex_bool")]
    pub care: bool,
    #[serde(default, deserialize_with = "flex_i64")]
    pub resident_count: Option<i64>,
    #[serde(default, deserialize_with = "flex_f64")]
    pub lng: Option<f64>,
    #[serde(default, deserialize_with = "flex_f64")]
    pub lat: Option<f64>,
}

impl HouseholdInput {
    fn parse(&self, id: Option<i64>, old: Option<&HouseholdRecord>) -> AppResult<HouseholdWrite> {
        let grid = org::parse_code_at("grid", &self.grid, &[Level::Grid]).map_err(org_error)?;
        let group = match self.group.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(g) => {
                let g = org::parse_code_at("group", g, &[Level::Group]).map_err(org_error)?;
                org::check_group_in_grid(&grid, &g).map_err(org_error)?;
                Some(g)
            }
        };
        // An existing value stays when the field comes back masked or empty.
        let keep = |raw: &str, stored: Option<&String>| -> Option<String> {
            let t = raw.trim();
            match stored {
                Some(s) if t.is_empty() || org::is_masked(t) => Some(s.clone()),
                _ => None,
            }
        };
        let address = match keep(&self.address, old.map(|o| &o.address)) {
            Some(a) => a,
            None => org::parse_text("address", &self.address, 200).map_err(org_error)?,
        };
        let phone = match keep(&self.phone, old.map(|o| &o.phone)) {
            Some(p) => p,
            None => org::parse_phone(&self.phone).map_err(org_error)?,
        };
        let id_number = match keep(&self.id_number, old.map(|o| &o.id_number)) {
            Some(n) => n,
            None => org::parse_id_number(&self.id_number).map_err(org_error)?,
        };
        let location = match (self.lng, self.lat) {
            (None, None) => None,
            (Some(x), Some(y)) if (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y) => {
                Some((x, y))
            }
            _ => {
                return Err(AppError::unprocessable(
                    "lng",
                    "give both longitude and latitude (WGS-84)",
                ));
            }
        };
        let resident_count = self.resident_count.unwrap_or(1);
        if !(0..=100).contains(&resident_count) {
            return Err(AppError::unprocessable("resident_count", "0 to 100"));
        }
        Ok(HouseholdWrite {
            id,
            grid,
            group,
            head_name: org::parse_text("head_name", &self.head_name, 50).map_err(org_error)?,
            address,
            phone,
            id_number,
            resident_count,
            care: self.care,
            location,
        })
    }
}

async fn audit_reveal(
    state: &AppState,
    caller: &Caller,
    kind: &'static str,
    id: String,
    territory: &str,
    via: &str,
) -> AppResult<()> {
    crate::actions::audit::reveal(
        state,
        caller,
        crate::actions::audit::Reveal {
            kind,
            id,
            territory: Some(territory),
            fields: &["phone", "id_number", "address"],
            via,
        },
    )
    .await
}

/// A household the caller may see, or 404/403.
async fn load_household(state: &AppState, caller: &Caller, id: i64) -> AppResult<HouseholdRecord> {
    let h = state
        .db
        .household(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("household {id}")))?;
    caller.scoped(&code("grid", &h.grid)?)?;
    Ok(h)
}

/// One household; unmasked for roles that see personal data, and then audited.
pub async fn household(
    state: &AppState,
    caller: &Caller,
    id: i64,
    via: &'static str,
) -> AppResult<HouseholdDetail> {
    let h = load_household(state, caller, id).await?;
    if caller.role().sees_personal_data() {
        audit_reveal(state, caller, "household", id.to_string(), &h.grid, via).await?;
    }
    Ok(household_detail(!caller.role().sees_personal_data(), h))
}

/// Households of a node by id after `after`, masked for everyone: a list never discloses;
/// opening one household does (and is audited).
pub async fn households(
    state: &AppState,
    at: &InScope,
    after: i64,
    limit: i64,
) -> AppResult<Vec<HouseholdDetail>> {
    Ok(state
        .db
        .households_page(at.code(), after, limit)
        .await?
        .into_iter()
        .map(|h| household_detail(true, h))
        .collect())
}

/// Create (`id` None) or change a household.
pub async fn save_household(
    state: &AppState,
    caller: &Caller,
    id: Option<i64>,
    input: &HouseholdInput,
    via: &'static str,
) -> AppResult<HouseholdDetail> {
    require_manager(caller)?;
    let old = match id {
        Some(id) => Some(load_household(state, caller, id).await?),
        None => None,
    };
    let write = input.parse(id, old.as_ref())?;
    caller.scoped(&write.grid)?;
    let saved = state
        .db
        .save_households(&meta(state, caller, via), vec![write])
        .await?
        .map_err(refusal)?;
    let h = saved
        .into_iter()
        .next()
        .ok_or_else(|| AppError::Internal("no household saved".into()))?;
    // The answer shows the stored row unmasked to a role that sees it: a reveal like opening it.
    if caller.role().sees_personal_data() {
        audit_reveal(state, caller, "household", h.id.to_string(), &h.grid, via).await?;
    }
    Ok(household_detail(!caller.role().sees_personal_data(), h))
}

// ---------------------------------------------------------------------------------------------
// Members and units

/// A member to create or change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct MemberInput {
    #[serde(default)]
    pub name: String,
    /// `female`/`male` or `女`/`男`.
    #[serde(default)]
    pub gender: String,
    #[serde(default)]
    pub phone: String,
    /// Force codes or names, separated by `、` or `,` (or a list in JSON).
    #[serde(default, deserialize_with = "flex_list")]
    pub forces: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub territory: String,
    #[serde(default)]
    pub title: String,
}

/// A list of strings from JSON, or one string from a form (several checkboxes arrive joined by
/// the page handler).
fn flex_list<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum L {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<L>::deserialize(d)? {
        None => String::new(),
        Some(L::List(v)) => v.join(","),
        Some(L::Text(t)) => t,
    })
}

pub async fn member(state: &AppState, caller: &Caller, id: i64) -> AppResult<MemberRecord> {
    let m = state
        .db
        .member(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("member {id}")))?;
    caller.scoped(&code("territory", &m.territory)?)?;
    Ok(m)
}

pub async fn members(
    state: &AppState,
    at: &InScope,
    after: i64,
    limit: i64,
) -> AppResult<Vec<MemberRecord>> {
    Ok(state.db.members_page(at.code(), after, limit).await?)
}

pub async fn save_member(
    state: &AppState,
    caller: &Caller,
    id: Option<i64>,
    input: &MemberInput,
    via: &'static str,
) -> AppResult<MemberRecord> {
    require_manager(caller)?;
    if let Some(id) = id {
        member(state, caller, id).await?;
    }
    let territory = code("territory", &input.territory)?;
    caller.scoped(&territory)?;
    let write = MemberWrite {
        id,
        name: org::parse_text("name", &input.name, 50).map_err(org_error)?,
        gender: org::parse_gender(&input.gender).map_err(org_error)?,
        phone: org::parse_phone(&input.phone).map_err(org_error)?,
        forces: org::parse_forces(&input.forces).map_err(org_error)?,
        unit: input.unit.trim().to_owned(),
        territory,
        title: org::parse_text("title", &input.title, 50).map_err(org_error)?,
    };
    state
        .db
        .save_members(&meta(state, caller, via), vec![write])
        .await?
        .map_err(refusal)?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::Internal("no member saved".into()))
}

/// A department to create at a node, or a unit's new name.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct UnitInput {
    /// The node (prefecture, county or township) a new department hangs off.
    #[serde(default)]
    pub territory: String,
    /// The department's slug (`police`, `water-resources`): its code is `<territory>-<slug>`.
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub name: String,
}

/// Create a department (code `<territory>-<slug>`) or rename an existing unit (`code` given).
pub async fn save_unit(
    state: &AppState,
    caller: &Caller,
    existing: Option<&str>,
    input: &UnitInput,
    via: &'static str,
) -> AppResult<Unit> {
    require_manager(caller)?;
    let name = org::parse_text("name", &input.name, 60).map_err(org_error)?;
    let unit = match existing {
        Some(c) => {
            let mut u = state
                .db
                .unit(c)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("unit {c}")))?;
            caller.scoped(&u.territory)?;
            u.name = name;
            u
        }
        None => {
            let territory = code("territory", &input.territory)?;
            caller.scoped(&territory)?;
            if !matches!(
                territory.level(),
                Level::Prefecture | Level::County | Level::Township
            ) {
                return Err(AppError::unprocessable(
                    "territory",
                    "departments hang off prefecture, county and township nodes",
                ));
            }
            let slug = input.slug.trim();
            if slug.is_empty()
                || slug.len() > 30
                || !slug
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(AppError::unprocessable(
                    "slug",
                    "1 to 30 characters of a-z 0-9 -",
                ));
            }
            Unit {
                code: format!("{territory}-{slug}"),
                name,
                kind: UnitKind::Department,
                territory,
            }
        }
    };
    let saved = state
        .db
        .save_unit(&meta(state, caller, via), &unit)
        .await?
        .map_err(refusal)?;
    // Routing and dispatch know the new or renamed unit from the next request on.
    crate::actions::people::forget_units(state).await;
    Ok(saved)
}

// ---------------------------------------------------------------------------------------------
// Groups

pub async fn groups(
    state: &AppState,
    caller: &Caller,
    grid: &TerritoryCode,
) -> AppResult<Vec<GroupRecord>> {
    let grid = caller.scoped(grid)?;
    if grid.code().level() != Level::Grid {
        return Err(AppError::unprocessable(
            "grid",
            "groups are listed per grid",
        ));
    }
    Ok(state.db.groups_of(grid.code()).await?)
}

/// A new group, or a group's household head.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct GroupInput {
    /// The name of a new group.
    #[serde(default)]
    pub name: String,
    /// The member who is its household head (联户长); empty clears it.
    #[serde(default, deserialize_with = "flex_i64")]
    pub head: Option<i64>,
}

pub async fn create_group(
    state: &AppState,
    caller: &Caller,
    grid: &TerritoryCode,
    input: &GroupInput,
    via: &'static str,
) -> AppResult<GroupRecord> {
    require_manager(caller)?;
    let grid = caller.scoped(grid)?;
    let name = org::parse_text("name", &input.name, 60).map_err(org_error)?;
    state
        .db
        .create_group(&meta(state, caller, via), grid.code(), &name, input.head)
        .await?
        .map_err(refusal)
}

pub async fn set_group_head(
    state: &AppState,
    caller: &Caller,
    group: &TerritoryCode,
    head: Option<i64>,
    via: &'static str,
) -> AppResult<()> {
    require_manager(caller)?;
    let group = caller.scoped(group)?;
    state
        .db
        .set_group_head(&meta(state, caller, via), group.code(), head)
        .await?
        .map_err(refusal)
}

// ---------------------------------------------------------------------------------------------
// Monasteries and enterprises

/// A monastery or an enterprise to create or change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PlaceInput {
    #[serde(default)]
    pub name: String,
    /// The village (or community) it is in.
    #[serde(default)]
    pub territory: String,
    /// Monks of a monastery, employees of an enterprise.
    #[serde(default, deserialize_with = "flex_i64")]
    pub people: Option<i64>,
}

pub fn place_kind(s: &str) -> AppResult<PlaceKind> {
    match s {
        "monastery" | "monasteries" => Ok(PlaceKind::Monastery),
        "enterprise" | "enterprises" => Ok(PlaceKind::Enterprise),
        other => Err(AppError::NotFound(format!(
            "{other:?}: monastery or enterprise"
        ))),
    }
}

pub async fn place(
    state: &AppState,
    caller: &Caller,
    kind: PlaceKind,
    id: i64,
) -> AppResult<PlaceRecord> {
    let p = state
        .db
        .place(kind, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("{} {id}", kind.entity())))?;
    caller.scoped(&code("territory", &p.territory)?)?;
    Ok(p)
}

pub async fn save_place(
    state: &AppState,
    caller: &Caller,
    kind: PlaceKind,
    id: Option<i64>,
    input: &PlaceInput,
    via: &'static str,
) -> AppResult<PlaceRecord> {
    require_manager(caller)?;
    if let Some(id) = id {
        place(state, caller, kind, id).await?;
    }
    let territory = code("territory", &input.territory)?;
    caller.scoped(&territory)?;
    if territory.level() < Level::Township {
        return Err(AppError::unprocessable(
            "territory",
            "a monastery or an enterprise lies in a township, village or grid",
        ));
    }
    let people = input.people.unwrap_or(0);
    if !(0..=100_000).contains(&people) {
        return Err(AppError::unprocessable("people", "0 to 100000"));
    }
    let name = org::parse_text("name", &input.name, 100).map_err(org_error)?;
    state
        .db
        .save_place(
            &meta(state, caller, via),
            kind,
            id,
            &name,
            &territory,
            people,
        )
        .await?
        .map_err(refusal)
}

// ---------------------------------------------------------------------------------------------
// Pairings

/// A pairing to create or change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PairingInput {
    /// `grid_households, monastery, care, enterprise, party_branch, department_village` (or the
    /// Chinese names).
    #[serde(default)]
    pub kind: String,
    /// The paired member (all kinds but the two unit ones).
    #[serde(default, deserialize_with = "flex_i64")]
    pub member: Option<i64>,
    /// The paired unit (支部联建, 部门包村).
    #[serde(default)]
    pub unit: Option<String>,
    /// A territory code, or a household, monastery or enterprise id (as the kind says).
    #[serde(default)]
    pub target: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub start_date: String,
    /// `YYYY-MM-DD`, or empty while in force.
    #[serde(default)]
    pub end_date: Option<String>,
}

/// A pairing as the API shows it.
pub type PairingView = PairingRecord;

async fn pairing_place(state: &AppState, target: &PairingTarget) -> AppResult<TerritoryCode> {
    let place = match target {
        PairingTarget::Territory(c) => Some(c.to_string()),
        PairingTarget::Household(h) => state.db.household(*h).await?.map(|h| h.grid),
        PairingTarget::Monastery(m) => state
            .db
            .place(PlaceKind::Monastery, *m)
            .await?
            .map(|p| p.territory),
        PairingTarget::Enterprise(e) => state
            .db
            .place(PlaceKind::Enterprise, *e)
            .await?
            .map(|p| p.territory),
    };
    let place =
        place.ok_or_else(|| AppError::unprocessable("target", "the target does not exist"))?;
    code("target", &place)
}

impl PairingInput {
    fn parse(&self, id: Option<i64>) -> AppResult<PairingWrite> {
        let kind = org::parse_pairing_kind(&self.kind).map_err(org_error)?;
        let shape = org::pairing_shape(kind);
        let subject = if shape.member_subject {
            PairingSubject::Member(self.member.ok_or_else(|| {
                AppError::unprocessable("member", format!("a {} pairs a member", kind.name_zh()))
            })?)
        } else {
            let u = self.unit.as_deref().map(str::trim).unwrap_or("");
            if u.is_empty() {
                return Err(AppError::unprocessable(
                    "unit",
                    format!("a {} pairs a unit", kind.name_zh()),
                ));
            }
            PairingSubject::Unit(u.to_owned())
        };
        let raw = self.target.trim();
        let id_of = |raw: &str| {
            raw.parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| AppError::unprocessable("target", format!("{raw:?} is not an id")))
        };
        let target = match shape.target {
            TargetKind::Territory => PairingTarget::Territory(
                org::parse_code_at("target", raw, shape.levels).map_err(org_error)?,
            ),
            TargetKind::Household => PairingTarget::Household(id_of(raw)?),
            TargetKind::Monastery => PairingTarget::Monastery(id_of(raw)?),
            TargetKind::Enterprise => PairingTarget::Enterprise(id_of(raw)?),
        };
        let start = org::parse_date("start_date", &self.start_date).map_err(org_error)?;
        let end = match self.end_date.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => Some(org::parse_date("end_date", e).map_err(org_error)?),
        };
        org::check_period(start, end).map_err(org_error)?;
        Ok(PairingWrite {
            id,
            kind,
            subject,
            target,
            start,
            end,
        })
    }
}

pub async fn pairing(state: &AppState, caller: &Caller, id: i64) -> AppResult<PairingView> {
    let p = state
        .db
        .pairing(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("pairing {id}")))?;
    caller.scoped(&code("territory", &p.target_territory)?)?;
    Ok(p)
}

pub async fn pairings(
    state: &AppState,
    at: &InScope,
    after: i64,
    limit: i64,
) -> AppResult<Vec<PairingView>> {
    Ok(state.db.pairings_page(at.code(), after, limit).await?)
}

/// The pairings of one household, monastery, enterprise or node.
pub async fn pairings_of(
    state: &AppState,
    caller: &Caller,
    target_kind: &str,
    target: &str,
) -> AppResult<Vec<PairingView>> {
    let mut out = Vec::new();
    for id in state.db.pairings_of_target(target_kind, target).await? {
        if let Ok(p) = pairing(state, caller, id).await {
            out.push(p);
        }
    }
    Ok(out)
}

pub async fn save_pairing(
    state: &AppState,
    caller: &Caller,
    id: Option<i64>,
    input: &PairingInput,
    via: &'static str,
) -> AppResult<PairingView> {
    require_manager(caller)?;
    if let Some(id) = id {
        pairing(state, caller, id).await?;
    }
    let write = input.parse(id)?;
    caller.scoped(&pairing_place(state, &write.target).await?)?;
    let ids = state
        .db
        .save_pairings(&meta(state, caller, via), vec![write])
        .await?
        .map_err(refusal)?;
    let id = ids
        .first()
        .copied()
        .ok_or_else(|| AppError::Internal("no pairing saved".into()))?;
    pairing(state, caller, id).await
}

/// End a pairing on `day` (it stays as history).
pub async fn end_pairing(
    state: &AppState,
    caller: &Caller,
    id: i64,
    day: NaiveDate,
    via: &'static str,
) -> AppResult<PairingView> {
    let p = pairing(state, caller, id).await?;
    let input = PairingInput {
        kind: p.kind.clone(),
        member: p.member,
        unit: p.unit.clone(),
        target: p.target.clone(),
        start_date: p.start_date.to_string(),
        end_date: Some(day.to_string()),
    };
    save_pairing(state, caller, Some(id), &input, via).await
}

pub async fn delete_pairing(
    state: &AppState,
    caller: &Caller,
    id: i64,
    via: &'static str,
) -> AppResult<()> {
    require_manager(caller)?;
    pairing(state, caller, id).await?;
    state
        .db
        .delete_pairing(&meta(state, caller, via), id)
        .await?
        .map_err(refusal)
}

/// The kinds of pairing with their Chinese names, for forms.
pub fn pairing_kinds() -> Vec<(&'static str, &'static str)> {
    PairingKind::ALL
        .iter()
        .map(|k| (k.as_str(), k.name_zh()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// History

/// An entry of the history, personal data masked for roles that do not see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// The account that made the change (null: the command-line import).
    pub by: Option<i64>,
    pub by_name: Option<String>,
    /// `page`, `api` or `import`.
    pub via: String,
    pub entity: String,
    pub entity_id: String,
    pub territory: String,
    /// `create`, `update` or `delete`.
    pub action: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

fn masked_json(text: Option<String>, mask: bool) -> Option<serde_json::Value> {
    let mut v: serde_json::Value = serde_json::from_str(&text?).ok()?;
    if mask && let Some(o) = v.as_object_mut() {
        for (k, f) in [
            ("phone", mask_phone as fn(&str) -> String),
            ("id_number", mask_id_number),
            ("address", mask_address),
        ] {
            if let Some(serde_json::Value::String(s)) = o.get(k) {
                let m = f(s);
                o.insert(k.to_owned(), serde_json::Value::String(m));
            }
        }
    }
    Some(v)
}

fn change_view(c: ChangeRecord, role: Role) -> ChangeView {
    // Members' phones are work phones, shown to staff; households' personal data is masked.
    let mask = !role.sees_personal_data() && c.entity == "household";
    ChangeView {
        id: c.id,
        at: c.at,
        by: c.account,
        by_name: c.account_name,
        via: c.via,
        entity: c.entity,
        entity_id: c.entity_id,
        territory: c.territory,
        action: c.action,
        before: masked_json(c.before, mask),
        after: masked_json(c.after, mask),
    }
}

/// The history of one thing (newest first), if the caller may see the thing.
pub async fn history_of(
    state: &AppState,
    caller: &Caller,
    entity: &str,
    entity_id: &str,
) -> AppResult<Vec<ChangeView>> {
    let rows = state.db.changes_of(entity, entity_id, 200).await?;
    if let Some(first) = rows.first() {
        caller.scoped(&code("territory", &first.territory)?)?;
    }
    let rows: Vec<ChangeRecord> = rows
        .into_iter()
        .filter(|c| TerritoryCode::parse(&c.territory).is_ok_and(|t| caller.scoped(&t).is_ok()))
        .collect();
    audit_history(
        state,
        caller,
        &rows,
        format!("{entity}:{entity_id}"),
        rows.first().map(|c| c.territory.as_str()),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|c| change_view(c, caller.role()))
        .collect())
}

/// A history with households' personal data unmasked is a reveal: one entry per answer.
async fn audit_history(
    state: &AppState,
    caller: &Caller,
    rows: &[ChangeRecord],
    id: String,
    territory: Option<&str>,
) -> AppResult<()> {
    if caller.role().sees_personal_data() && rows.iter().any(|c| c.entity == "household") {
        crate::actions::audit::reveal(
            state,
            caller,
            crate::actions::audit::Reveal {
                kind: "history",
                id,
                territory,
                fields: &["phone", "id_number", "address"],
                via: "history",
            },
        )
        .await?;
    }
    Ok(())
}

/// The history of a subtree (newest first), before change `before` (0: from the newest).
pub async fn history_within(
    state: &AppState,
    caller: &Caller,
    at: &TerritoryCode,
    before: i64,
    limit: i64,
) -> AppResult<Vec<ChangeView>> {
    let at = caller.scoped(at)?;
    let rows = state.db.changes_within(at.code(), before, limit).await?;
    audit_history(
        state,
        caller,
        &rows,
        at.code().to_string(),
        Some(at.code().as_str()),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|c| change_view(c, caller.role()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_masks_household_data_for_roles_that_do_not_see_it() {
        let c = ChangeRecord {
            id: 1,
            at: chrono::Utc::now(),
            account: Some(1),
            account_name: None,
            via: "api".into(),
            entity: "household".into(),
            entity_id: "7".into(),
            territory: "623027202201001".into(),
            action: "update".into(),
            before: Some(r#"{"phone":"13812345678","id_number":"623027199001011234","address":"达麦村12号"}"#.into()),
            after: None,
        };
        let v = change_view(c.clone(), Role::CenterOperator);
        assert_eq!(v.before.as_ref().unwrap()["phone"], "138****5678");
        assert_eq!(
            v.before.as_ref().unwrap()["id_number"],
            "623027**********34"
        );
        let v = change_view(c, Role::Admin);
        assert_eq!(v.before.as_ref().unwrap()["phone"], "13812345678");
    }

    #[test]
    fn inputs_from_forms_and_json_alike() {
        let form: HouseholdInput = serde_json::from_value(
            serde_json::json!({"care": "on", "lng": "", "resident_count": "3"}),
        )
        .unwrap();
        assert!(form.care);
        assert_eq!(form.lng, None);
        assert_eq!(form.resident_count, Some(3));
        let json: HouseholdInput =
            serde_json::from_value(serde_json::json!({"care": true, "lng": 102.5})).unwrap();
        assert!(json.care);
        assert_eq!(json.lng, Some(102.5));
        let m: MemberInput =
            serde_json::from_value(serde_json::json!({"forces": ["cadres", "militia"]})).unwrap();
        assert_eq!(m.forces, "cadres,militia");
    }
}
