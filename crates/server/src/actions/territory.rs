//! Reading the territory tree.

use domain::{Level, TerritoryCode};
use serde::Serialize;
use store::territory::{Counts, TerritoryRecord};

use crate::auth::{Caller, InScope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// A node as the API and pages show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TerritoryView {
    /// National statistical division code (grids and groups extend it by 3 digits each).
    pub code: String,
    /// `prefecture, county, township, village, grid, group`.
    pub level: String,
    pub name: String,
    /// Tibetan name, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_bo: Option<String>,
    pub parent: Option<String>,
    pub children: Vec<String>,
    /// GeoJSON geometry (WGS-84), where the node has an outline.
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<serde_json::Value>,
    /// `official` (published outline) or `generated` (made by Gesang: none is public).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry_source: Option<String>,
    pub counts: CountsView,
}

/// Counts of a node's whole subtree.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct CountsView {
    pub households: i64,
    pub members: i64,
    pub groups: i64,
    pub grids: i64,
}

impl From<Counts> for CountsView {
    fn from(c: Counts) -> Self {
        CountsView {
            households: c.households,
            members: c.members,
            groups: c.groups,
            grids: c.grids,
        }
    }
}

/// Parse a territory code from outside input (path or query), as a 422 naming the field.
pub fn parse_code(field: &str, raw: &str) -> AppResult<TerritoryCode> {
    TerritoryCode::parse(raw).map_err(|e| AppError::unprocessable(field, format!("{raw:?}: {e}")))
}

/// Load a node the caller may see, or 404.
pub async fn node(state: &AppState, code: &InScope) -> AppResult<TerritoryRecord> {
    state
        .db
        .territory(code.code())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("territory {}", code.code())))
}

/// `GET /api/v1/territories/{code}`: the node, its children's codes, geometry and counts.
pub async fn get_territory(
    state: &AppState,
    caller: &Caller,
    code: &TerritoryCode,
) -> AppResult<TerritoryView> {
    let code = caller.scoped(code)?;
    let rec = node(state, &code).await?;
    let children = state.db.territory_child_codes(code.code()).await?;
    let counts = state.db.territory_counts(code.code()).await?;
    let geometry = match &rec.geometry {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| AppError::Internal(format!("stored geometry of {}: {e}", rec.code)))?,
        ),
        None => None,
    };
    Ok(TerritoryView {
        code: rec.code.to_string(),
        level: rec.level.as_str().to_owned(),
        name: rec.name,
        name_bo: rec.name_bo,
        parent: rec.parent.map(String::from),
        children: children.into_iter().map(String::from).collect(),
        geometry,
        geometry_source: rec.geometry_source,
        counts: counts.into(),
    })
}

/// A node with its children (with outlines for drawing) and every child's counts.
pub struct NodeWithChildren {
    pub node: TerritoryRecord,
    pub counts: Counts,
    pub children: Vec<(TerritoryRecord, Counts)>,
    pub ancestors: Vec<TerritoryRecord>,
}

/// Everything the territory browser page needs about one node.
pub async fn browse(state: &AppState, code: &InScope) -> AppResult<NodeWithChildren> {
    let node = node(state, code).await?;
    let counts = state.db.territory_counts(code.code()).await?;
    let mut counts_of = state.db.child_counts(code.code()).await?;
    let children = state
        .db
        .territory_children(code.code(), true)
        .await?
        .into_iter()
        .map(|child| {
            let c = counts_of.remove(child.code.as_str()).unwrap_or_default();
            (child, c)
        })
        .collect();
    let mut ancestors = Vec::new();
    let mut cur = node.parent.clone();
    while let Some(p) = cur {
        match state.db.territory(&p).await? {
            Some(rec) => {
                cur = rec.parent.clone();
                ancestors.push(rec);
            }
            None => break,
        }
    }
    ancestors.reverse();
    Ok(NodeWithChildren {
        node,
        counts,
        children,
        ancestors,
    })
}

/// The level names in Chinese, for pages.
pub fn level_key(level: Level) -> &'static str {
    match level {
        Level::Prefecture => "level-prefecture",
        Level::County => "level-county",
        Level::Township => "level-township",
        Level::Village => "level-village",
        Level::Grid => "level-grid",
        Level::Group => "level-group",
    }
}

/// The grid index, built on first use from every grid outline in the database.
pub async fn grid_index(state: &AppState) -> AppResult<&domain::locate::GridIndex> {
    state
        .grid_index
        .get_or_try_init(|| async {
            let root = TerritoryCode::parse(domain::gannan::PREFECTURE_CODE)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let grids = state
                .db
                .territories_at_level(&root, Level::Grid, true)
                .await?;
            let mut shapes = Vec::with_capacity(grids.len());
            for g in grids {
                let Some(text) = g.geometry else { continue };
                let shape = parse_multipolygon(&text)
                    .ok_or_else(|| AppError::Internal(format!("stored outline of {}", g.code)))?;
                shapes.push((g.code, shape));
            }
            tracing::info!(grids = shapes.len(), "grid index built");
            Ok(domain::locate::GridIndex::new(shapes))
        })
        .await
}

/// A stored GeoJSON outline as a geo MultiPolygon.
pub fn parse_multipolygon(text: &str) -> Option<geo::MultiPolygon<f64>> {
    // Found by the fuzz target `geojson` (issue 9): a position of fewer than two numbers made the
    // conversion to geo types panic. Every position is checked first.
    let raw: serde_json::Value = serde_json::from_str(text).ok()?;
    if !positions_ok(&raw) {
        return None;
    }
    let gj: geojson::Geometry = text.parse().ok()?;
    match geo::Geometry::<f64>::try_from(gj).ok()? {
        geo::Geometry::MultiPolygon(mp) => Some(mp),
        geo::Geometry::Polygon(p) => Some(geo::MultiPolygon(vec![p])),
        _ => None,
    }
}

/// Whether every position under `coordinates` (and of every geometry of a collection) has at
/// least two numbers, all finite.
fn positions_ok(v: &serde_json::Value) -> bool {
    fn walk(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Array(items) if items.iter().all(|i| i.is_number()) => {
                items.len() >= 2 && items.iter().all(|i| i.as_f64().is_some_and(f64::is_finite))
            }
            serde_json::Value::Array(items) => items.iter().all(|i| i.is_array() && walk(i)),
            _ => false,
        }
    }
    match v {
        serde_json::Value::Object(o) => {
            o.get("coordinates").is_none_or(walk)
                && o.get("geometries")
                    .is_none_or(|g| g.as_array().is_some_and(|gs| gs.iter().all(positions_ok)))
        }
        _ => false,
    }
}

/// Where a point lies: its grid and the chain above it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocateView {
    /// The point in WGS-84, after conversion from the datum it was sent in.
    pub lng: f64,
    pub lat: f64,
    /// The grid containing the point, or null outside every grid of the prefecture.
    pub grid: Option<String>,
    /// The grid and its ancestors up to the prefecture, nearest first.
    pub chain: Vec<String>,
}

/// Locate a point in the grid of the territory (point-in-polygon over an R-tree).
pub async fn locate(state: &AppState, point: domain::coord::GeoPoint) -> AppResult<LocateView> {
    let index = grid_index(state).await?;
    let grid = index.locate(point.to_point()).cloned();
    Ok(LocateView {
        lng: point.lng(),
        lat: point.lat(),
        chain: grid
            .as_ref()
            .map(|g| {
                g.ancestors_and_self()
                    .into_iter()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        grid: grid.map(String::from),
    })
}

#[cfg(test)]
mod fuzz_findings {
    #[test]
    fn outlines_with_short_positions_are_refused_not_a_panic() {
        // Found by the fuzz target `geojson` (issue 9).
        for text in [
            r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1],[0,0]]]}"#,
            r#"{"type":"MultiPolygon","coordinates":[[[[10.0]]]]}"#,
            r#"{"type":"Polygon","coordinates":[[[0,0],[],[0,0]]]}"#,
        ] {
            assert!(super::parse_multipolygon(text).is_none(), "{text}");
        }
        assert!(
            super::parse_multipolygon(
                r#"{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}"#
            )
            .is_some()
        );
    }
}
