//! Statistics of a node over a period (`GET /api/v1/stats`): the seed's figures (政策宣传场次,
//! 帮办实事件数, 解决困难问题个数, 排查整治隐患个数, 化解矛盾纠纷起数 and 化解率) with the case
//! counts and assessment rates, for the node and each child, from the rollups of
//! `territory_day_stats` and the subtree counts of `territory_counts`: no scan of cases, logs or
//! reports (only the open cases past their deadline are counted live, through the deadline
//! index). The war room builds on this.

use chrono::NaiveDate;
use domain::stats::{CategoryClass, Figures, OrgCounts};
use domain::{Level, TerritoryCode};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Longest period one request may ask for (days).
pub const MAX_DAYS: i64 = 3_660;

/// The figures of a node or a child.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStats {
    pub territory: String,
    pub name: String,
    pub level: String,
    /// Set on the one extra entry of `children` that holds what the node has itself, outside
    /// every child (cases reported at a village without a grid, a county department's counters),
    /// so that the node's counts are always the sum over `children`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub direct: bool,
    #[serde(flatten)]
    pub figures: Figures,
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsView {
    pub territory: String,
    pub name: String,
    pub level: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub figures: Figures,
    pub children: Vec<NodeStats>,
}

/// The taxonomy's view of categories: disputes by their flag, hazards by their limit profile.
struct Classes<'a>(&'a domain::category::Taxonomy);

impl CategoryClass for Classes<'_> {
    fn is_dispute(&self, category: &str) -> bool {
        self.0.get(category).is_some_and(|c| c.is_dispute)
    }
    fn is_hazard(&self, category: &str) -> bool {
        self.0
            .get(category)
            .is_some_and(|c| c.limit_profile == domain::category::profile::HAZARD)
    }
}

fn parse_day(field: &str, raw: Option<&str>, default: NaiveDate) -> AppResult<NaiveDate> {
    match raw.map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| AppError::unprocessable(field, "a date YYYY-MM-DD")),
    }
}

/// The length of the codes of a node's children (for grouping by child prefix).
fn child_code_len(node: &TerritoryCode) -> usize {
    match node.level() {
        Level::Prefecture => 6,
        Level::County => 9,
        Level::Group => node.as_str().len(),
        _ => node.as_str().len() + 3,
    }
}

/// The statistics of `territory` (default: the caller's node) from `from` to `to` (default
/// today), both inclusive, in Asia/Shanghai days.
pub async fn stats(
    state: &AppState,
    caller: &Caller,
    territory: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> AppResult<StatsView> {
    let code = match territory.map(str::trim) {
        None | Some("") => caller.principal.scope.clone(),
        Some(t) => crate::actions::territory::parse_code("territory", t)?,
    };
    let node = caller.scoped(&code)?;
    let today = crate::actions::fieldwork::today(state);
    let to = parse_day("to", to, today)?;
    let from = parse_day("from", from, to)?;
    if from > to {
        return Err(AppError::unprocessable("from", "from is after to"));
    }
    let days = (to - from).num_days() + 1;
    if days > MAX_DAYS {
        return Err(AppError::unprocessable(
            "from",
            format!("at most {MAX_DAYS} days at once"),
        ));
    }
    let record = crate::actions::territory::node(state, &node).await?;
    let children = state.db.territory_children(node.code(), false).await?;
    let mut codes: Vec<String> = vec![node.code().to_string()];
    codes.extend(children.iter().map(|c| c.code.to_string()));
    let sums = state.db.stats_sums(&codes, from, to).await?;
    let own_counts = state.db.territory_counts(node.code()).await?;
    let child_counts = state.db.child_counts(node.code()).await?;
    let overdue = state
        .db
        .overdue_by_child(
            node.code().subtree_prefix(),
            child_code_len(node.code()),
            state.clock.now(),
        )
        .await?;
    let org = |c: &store::territory::Counts| OrgCounts {
        households: c.households,
        members: c.members,
        reporters: c.grids + c.groups,
    };
    let rules = state.rules.read().await;
    let class = Classes(&rules.taxonomy);
    let empty = domain::stats::Sums::default();
    let figures = Figures::compute(
        sums.0.get(node.code().as_str()).unwrap_or(&empty),
        org(&own_counts),
        overdue.values().sum(),
        days,
        &class,
    );
    let mut out_children: Vec<NodeStats> = children
        .iter()
        .map(|c| {
            let k = c.code.as_str();
            NodeStats {
                territory: k.to_owned(),
                name: c.name.clone(),
                level: c.level.as_str().to_owned(),
                direct: false,
                figures: Figures::compute(
                    sums.0.get(k).unwrap_or(&empty),
                    org(&child_counts.get(k).copied().unwrap_or_default()),
                    overdue.get(k).copied().unwrap_or(0),
                    days,
                    &class,
                ),
            }
        })
        .collect();
    if !out_children.is_empty() {
        let others: Vec<&Figures> = out_children.iter().map(|c| &c.figures).collect();
        let direct = figures.minus_counts(&others);
        if !direct.is_empty() {
            out_children.push(NodeStats {
                territory: node.code().to_string(),
                name: record.name.clone(),
                level: record.level.as_str().to_owned(),
                direct: true,
                figures: direct,
            });
        }
    }
    Ok(StatsView {
        territory: node.code().to_string(),
        name: record.name,
        level: record.level.as_str().to_owned(),
        from,
        to,
        figures,
        children: out_children,
    })
}
