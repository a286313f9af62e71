//! Routing a new case (DOMAIN.md §3): which node it belongs to, which centre owns it, and which unit should handle it first.
//!
//! A located case is placed in its grid by point-in-polygon ([`crate::locate::GridIndex`],
//! after GCJ-02 input is converted); an unlocated case is placed at the node the reporter chose
//! or at the reporting worker's grid. Then the category decides:
//!
//! - **The owning centre** is the ancestor of the case's node at the category's
//!   `default_level`, clamped so that it is never below the node itself (a case reported at a
//!   township with a village-level category goes to the township's centre: nothing below the
//!   township can be chosen for it) and never below the village (grids and groups have no
//!   centre). If the directory has no centre there, the nearest centre above that exists takes
//!   it, and the reason says so.
//! - **The handling unit** is the category's `default_department` at the centre's own node
//!   when the directory has it (`623027-police`, a township's `623027202-police`): the centre
//!   dispatches across to it. Otherwise it is the centre itself. A department the centre's node
//!   lacks is *not* looked for higher up: a centre can dispatch only down or across
//!   ([`may_dispatch`]), so reaching the county's department is an escalation, by action,
//!   never an accident of routing (小事不出村). Once escalated, [`department_at`] names the
//!   department of the new centre.
//!
//! Urgency never moves a case: an urgent case goes to the same centre and unit, and its clocks
//! run on the urgent limits instead (`calendar`). It is taken so the reason says so.
//!
//! Every unit a route names exists in the [`UnitDirectory`] it was computed with.

use std::collections::{BTreeMap, HashMap};

use crate::case::Urgency;
use crate::category::Category;
use crate::people::{Unit, UnitKind};
use crate::territory::{Level, TerritoryCode};

/// Where the units are: the route asks it so it never names a unit that does not exist.
pub trait UnitDirectory {
    /// The unit with this code (a centre's code is its territory code, a grid's its grid code,
    /// a department's `<territory code>-<slug>`).
    fn unit(&self, code: &str) -> Option<Unit>;

    /// Whether a territory node exists. By default: a node with a centre or a grid exists when
    /// its unit does, and a joint-defence group when its grid does (groups have no unit of
    /// their own). A directory that knows the tree may answer exactly.
    fn has_node(&self, code: &TerritoryCode) -> bool {
        let unit_code = match code.level() {
            Level::Group => match code.parent() {
                Some(grid) => grid,
                None => return false,
            },
            _ => code.clone(),
        };
        self.unit(unit_code.as_str())
            .is_some_and(|u| u.territory == unit_code && u.kind != UnitKind::Department)
    }
}

impl<D: UnitDirectory + ?Sized> UnitDirectory for &D {
    fn unit(&self, code: &str) -> Option<Unit> {
        (**self).unit(code)
    }
    fn has_node(&self, code: &TerritoryCode) -> bool {
        (**self).has_node(code)
    }
}

/// Units by code.
impl UnitDirectory for BTreeMap<String, Unit> {
    fn unit(&self, code: &str) -> Option<Unit> {
        self.get(code).cloned()
    }
}

/// Units by code.
impl<S: std::hash::BuildHasher> UnitDirectory for HashMap<String, Unit, S> {
    fn unit(&self, code: &str) -> Option<Unit> {
        self.get(code).cloned()
    }
}

/// A list of units, searched in order (for tests and small sets).
impl UnitDirectory for [Unit] {
    fn unit(&self, code: &str) -> Option<Unit> {
        self.iter().find(|u| u.code == code).cloned()
    }
}

/// Where a new case is, as intake knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The case came with a position: the grid point-in-polygon found for it
    /// ([`crate::locate::GridIndex::locate`]), or `None` when it lies outside every grid.
    Located(Option<TerritoryCode>),
    /// No position: the node the reporter chose (any level, a grid or group included).
    Chosen(TerritoryCode),
    /// No position: the grid of the grid worker who reported it.
    WorkerGrid(TerritoryCode),
}

/// Where a new case goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Where the case is: the grid for a located case, else the node chosen or the worker's grid.
    pub territory: TerritoryCode,
    /// The centre that owns the case (its unit code is the same string); at or above
    /// `territory`.
    pub centre: TerritoryCode,
    /// The level of the handling unit (a department works at its node's level, so this is
    /// always the centre's level).
    pub handling_level: Level,
    /// The unit that should handle the case first: the category's department at the centre's
    /// node, or the centre itself.
    pub handling_unit: String,
    /// Why, in a sentence an operator can check.
    pub reason: String,
}

/// Why a case cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The position lies outside every grid of the prefecture.
    #[error("the location lies outside every grid of the prefecture")]
    OutsideTerritory,
    /// The node is not in the territory tree.
    #[error("unknown territory {0}")]
    UnknownTerritory(TerritoryCode),
    /// A position or a worker's grid must name a grid.
    #[error("{0} is not a grid")]
    NotAGrid(TerritoryCode),
    /// No centre exists at or above the node (the directory lacks even the prefecture's).
    #[error("no centre at or above {0} can receive the case")]
    NoCentre(TerritoryCode),
}

/// Routes a new case of `category` at `place` (DOMAIN.md §3 Routing; see the module
/// documentation for the rules).
pub fn route<D: UnitDirectory + ?Sized>(
    place: &Place,
    category: &Category,
    urgency: Urgency,
    units: &D,
) -> Result<Route, RoutingError> {
    let (territory, how) = match place {
        Place::Located(None) => return Err(RoutingError::OutsideTerritory),
        Place::Located(Some(grid)) => (grid, "located in grid"),
        Place::WorkerGrid(grid) => (grid, "reported from the worker's grid"),
        Place::Chosen(node) => (node, "reported at"),
    };
    if matches!(place, Place::Located(_) | Place::WorkerGrid(_)) && territory.level() != Level::Grid
    {
        return Err(RoutingError::NotAGrid(territory.clone()));
    }
    if !units.has_node(territory) {
        return Err(RoutingError::UnknownTerritory(territory.clone()));
    }

    let wanted = centre_level(category.default_level, territory.level());
    let target = ancestor_at(territory, wanted);
    let mut reason = format!(
        "{how} {territory}; {} ({}) is handled at {} level",
        category.name, category.code, category.default_level
    );
    if wanted != category.default_level {
        if territory.level() < category.default_level.min(Level::Village) {
            reason.push_str(&format!(
                ", but nothing below the {} it is at can own it",
                territory.level()
            ));
        } else {
            reason.push_str(", which has no centre: the village owns it");
        }
    }

    let centre = target
        .ancestors_and_self()
        .into_iter()
        .filter(|c| c.level().has_centre())
        .find(|c| is_centre(units, c))
        .ok_or_else(|| RoutingError::NoCentre(territory.clone()))?;
    if centre != target {
        reason.push_str(&format!(
            "; {target} has no centre, so {} {centre} takes it",
            centre.level()
        ));
    }
    reason.push_str(&format!("; owning centre {centre}"));

    let handling_unit = match (
        &category.default_department,
        department_at(&centre, category, units),
    ) {
        (_, Some(dept)) => {
            reason.push_str(&format!(
                ", to be dispatched to its department {}",
                dept.code
            ));
            dept.code
        }
        (Some(slug), None) => {
            reason.push_str(&format!(
                ", which handles it itself: it has no {slug} department"
            ));
            centre.as_str().to_owned()
        }
        (None, None) => {
            reason.push_str(", which handles it itself");
            centre.as_str().to_owned()
        }
    };
    if urgency == Urgency::Urgent {
        reason.push_str("; urgent: same route, on the urgent time limits");
    }
    Ok(Route {
        handling_level: centre.level(),
        territory: territory.clone(),
        centre,
        handling_unit,
        reason,
    })
}

/// The category's department at `centre`'s own node, if the category names one and the
/// directory has it there (what the centre dispatches across to).
pub fn department_at<D: UnitDirectory + ?Sized>(
    centre: &TerritoryCode,
    category: &Category,
    units: &D,
) -> Option<Unit> {
    let slug = category.default_department.as_deref()?;
    units
        .unit(&format!("{centre}-{slug}"))
        .filter(|u| u.kind == UnitKind::Department && u.territory == *centre)
}

/// The centre a case escalates to (上报): the centre one level up, or `None` at the
/// prefecture. Given a node without a centre (a grid, a group), the nearest centre above it.
pub fn escalation_target(current_centre: &TerritoryCode) -> Option<TerritoryCode> {
    current_centre
        .ancestors_and_self()
        .into_iter()
        .skip(1)
        .find(|c| c.level().has_centre())
}

/// Whether the centre of `from_centre` may dispatch a case to `to`: **down** to any unit
/// strictly inside its subtree (a lower centre, a grid, a lower level's department) or
/// **across** to a department of its own node. `to` must also be a well-formed unit: a centre
/// or department at a node that has centres, a grid at a grid, with the code the conventions
/// give it.
///
/// This is the rule the case engine applies to `dispatch` and `transfer` (`case::engine`'s
/// private `check_dispatch_target`, which takes a whole case); it is written out here for
/// callers that have no case yet, such as the dispatch form listing the units to offer.
pub fn may_dispatch(from_centre: &TerritoryCode, to: &Unit) -> bool {
    let across = to.kind == UnitKind::Department && to.territory == *from_centre;
    let down = to.territory != *from_centre && from_centre.covers(&to.territory);
    well_formed(to) && (across || down)
}

/// Whether a unit's code and kind agree with its territory (CONTRACT.md unit codes).
fn well_formed(u: &Unit) -> bool {
    let level = u.territory.level();
    match u.kind {
        UnitKind::Center => level.has_centre() && u.code == u.territory.as_str(),
        UnitKind::Grid => level == Level::Grid && u.code == u.territory.as_str(),
        UnitKind::Department => {
            level.has_centre()
                && u.code
                    .strip_prefix(u.territory.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|slug| !slug.is_empty())
        }
    }
}

/// The level whose centre owns a case: the category's level, but never below the case's node
/// and never below the lowest level with centres.
fn centre_level(category_level: Level, node_level: Level) -> Level {
    // `Level` orders from the prefecture (smallest) down to the group.
    category_level.min(node_level).min(Level::Village)
}

/// The ancestor of `node` (or `node` itself) at `level`, which is at or above the node's.
fn ancestor_at(node: &TerritoryCode, level: Level) -> TerritoryCode {
    node.ancestors_and_self()
        .into_iter()
        .find(|c| c.level() == level)
        .unwrap_or_else(|| node.clone())
}

fn is_centre<D: UnitDirectory + ?Sized>(units: &D, code: &TerritoryCode) -> bool {
    units
        .unit(code.as_str())
        .is_some_and(|u| u.kind == UnitKind::Center && u.territory == *code)
}

#[cfg(test)]
mod tests;
