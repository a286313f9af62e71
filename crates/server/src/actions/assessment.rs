//! Assessment (考核评估) of the units of a node for a month: each unit's counters summed from
//! `case_counters` over the month, its indicators, weighted score and rank (the pure rules in
//! `domain::assessment`), and the same per level. Weights are a prefecture setting.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use domain::assessment::{self, Counts, Indicators, Score, Weights};
use domain::case::Counter;
use serde::Serialize;

use crate::auth::{Caller, InScope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The settings key of the weights.
pub const WEIGHTS_KEY: &str = "assessment_weights";

/// A month: its first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(s: &str) -> AppResult<Month> {
        let first = NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
            .map_err(|_| AppError::unprocessable("month", format!("{s:?} is not YYYY-MM")))?;
        Ok(Month::of(first))
    }

    /// The month holding `day`.
    pub fn of(day: NaiveDate) -> Month {
        let first = day.with_day(1).unwrap_or(day);
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(first);
        Month {
            first,
            last: next.pred_opt().unwrap_or(first),
        }
    }

    pub fn label(&self) -> String {
        self.first.format("%Y-%m").to_string()
    }
}

/// One unit's assessment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnitAssessment {
    /// 1 for the best score; equal scores share a rank; null: nothing to score.
    pub rank: Option<usize>,
    pub unit: String,
    pub name: String,
    /// `center`, `department` or `grid`.
    pub kind: String,
    pub territory: String,
    pub level: String,
    pub score: Option<f64>,
    /// The weighted indicators before penalties, and the penalty points.
    pub base: Option<f64>,
    pub penalty: f64,
    #[schema(value_type = Object)]
    pub indicators: Indicators,
    /// The counts behind the indicators, by counter name.
    pub counts: BTreeMap<String, i64>,
}

/// One level's assessment (all its units together).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LevelAssessment {
    pub level: String,
    pub units: usize,
    pub score: Option<f64>,
    #[schema(value_type = Object)]
    pub indicators: Indicators,
    pub counts: BTreeMap<String, i64>,
}

/// `GET /api/v1/assessment`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AssessmentResponse {
    pub territory: String,
    pub month: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[schema(value_type = Object)]
    pub weights: Weights,
    /// Ranked units first (best first), then the units with nothing to score.
    pub units: Vec<UnitAssessment>,
    pub levels: Vec<LevelAssessment>,
}

/// The weights in force.
pub async fn weights(state: &AppState) -> AppResult<Weights> {
    Ok(match state.db.setting(WEIGHTS_KEY).await? {
        Some(json) => serde_json::from_str(&json).unwrap_or_default(),
        None => Weights::default(),
    })
}

/// Replace the weights (administrators).
pub async fn set_weights(state: &AppState, caller: &Caller, w: Weights) -> AppResult<Weights> {
    if caller.role() != domain::account::Role::Admin {
        return Err(AppError::Forbidden(
            "only administrators set the assessment weights".into(),
        ));
    }
    w.check()
        .map_err(|e| AppError::unprocessable("weights", e.to_string()))?;
    let json = serde_json::to_string(&w).map_err(|e| AppError::Internal(e.to_string()))?;
    state
        .db
        .set_setting(WEIGHTS_KEY, &json, state.clock.now())
        .await?;
    Ok(w)
}

fn named(c: &Counts) -> BTreeMap<String, i64> {
    c.iter().map(|(k, v)| (k.as_str().to_owned(), *v)).collect()
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The assessment of the units of `node` for `month`.
pub async fn assess(
    state: &AppState,
    _caller: &Caller,
    node: &InScope,
    month: Month,
) -> AppResult<AssessmentResponse> {
    let w = weights(state).await?;
    let units = crate::actions::people::unit_map(state).await?;
    let rows = state
        .db
        .counter_sums_by_unit(node.code().subtree_prefix(), month.first, month.last)
        .await?;
    let mut by_unit: BTreeMap<String, Counts> = BTreeMap::new();
    for r in rows {
        if let Some(c) = Counter::parse(&r.counter) {
            *by_unit.entry(r.unit).or_default().entry(c).or_insert(0) += r.n;
        }
    }
    // Every unit of the node is assessed, the idle ones too (they have nothing to score).
    for u in units.values() {
        if node.code().covers(&u.territory) {
            by_unit.entry(u.code.clone()).or_default();
        }
    }
    let mut by_level: BTreeMap<domain::Level, (usize, Counts)> = BTreeMap::new();
    let mut list: Vec<(String, Option<Score>, Counts)> = Vec::new();
    for (code, counts) in by_unit {
        let Some(u) = units.get(&code) else { continue };
        if !node.code().covers(&u.territory) {
            continue;
        }
        let e = by_level.entry(u.territory.level()).or_default();
        e.0 += 1;
        for (k, v) in &counts {
            *e.1.entry(*k).or_insert(0) += v;
        }
        list.push((code, assessment::score(&counts, &w), counts));
    }
    let ranked = assessment::rank(
        &list
            .iter()
            .map(|(c, s, _)| (c.clone(), *s))
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::with_capacity(list.len());
    let mut placed = vec![false; list.len()];
    let view = |i: usize, rank: Option<usize>| {
        let (code, s, counts) = &list[i];
        let u = &units[code];
        UnitAssessment {
            rank,
            unit: code.clone(),
            name: u.name.clone(),
            kind: u.kind.as_str().to_owned(),
            territory: u.territory.to_string(),
            level: u.territory.level().as_str().to_owned(),
            score: s.map(|s| round(s.score)),
            base: s.map(|s| round(s.base)),
            penalty: s.map(|s| s.penalty).unwrap_or(0.0),
            indicators: assessment::indicators(counts),
            counts: named(counts),
        }
    };
    for (rank, i) in ranked {
        placed[i] = true;
        out.push(view(i, Some(rank)));
    }
    for (i, done) in placed.iter().enumerate() {
        if !done {
            out.push(view(i, None));
        }
    }
    let levels = by_level
        .into_iter()
        .map(|(level, (n, counts))| LevelAssessment {
            level: level.as_str().to_owned(),
            units: n,
            score: assessment::score(&counts, &w).map(|s| round(s.score)),
            indicators: assessment::indicators(&counts),
            counts: named(&counts),
        })
        .collect();
    Ok(AssessmentResponse {
        territory: node.code().to_string(),
        month: month.label(),
        from: month.first,
        to: month.last,
        weights: w,
        units: out,
        levels,
    })
}

/// The assessment as an Excel workbook: the ranking with every indicator and count, and a
/// native bar chart of the ten best scores.
pub fn workbook(a: &AssessmentResponse) -> AppResult<Vec<u8>> {
    use rust_xlsxwriter::{Chart, ChartType, Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("xlsx: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.0%");
    let ws = book.add_worksheet();
    ws.set_name("考核排名").map_err(err)?;
    let headers = [
        "名次",
        "单位编码",
        "单位",
        "类型",
        "层级",
        "得分",
        "加权指标分",
        "督办扣分",
        "及时受理率",
        "及时签收率",
        "按期办结率",
        "结案率",
        "返工率",
        "准确派遣率",
        "回访满意率",
    ];
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(err)?;
    }
    let counters: Vec<Counter> = Counter::ALL.to_vec();
    let first_count_col = headers.len() as u16;
    for (j, c) in counters.iter().enumerate() {
        ws.write_string_with_format(0, first_count_col + j as u16, c.name_zh(), &bold)
            .map_err(err)?;
    }
    ws.set_column_width(2, 28).map_err(err)?;
    ws.set_column_width(1, 20).map_err(err)?;
    for (i, u) in a.units.iter().enumerate() {
        let r = (i + 1) as u32;
        if let Some(k) = u.rank {
            ws.write_number(r, 0, k as f64).map_err(err)?;
        }
        ws.write_string(r, 1, &u.unit).map_err(err)?;
        ws.write_string(r, 2, &u.name).map_err(err)?;
        ws.write_string(r, 3, &u.kind).map_err(err)?;
        ws.write_string(r, 4, &u.level).map_err(err)?;
        if let Some(s) = u.score {
            ws.write_number(r, 5, s).map_err(err)?;
        }
        if let Some(b) = u.base {
            ws.write_number(r, 6, b).map_err(err)?;
        }
        ws.write_number(r, 7, u.penalty).map_err(err)?;
        let i = &u.indicators;
        for (c, v) in [
            i.timely_accept_rate,
            i.timely_sign_rate,
            i.on_time_close_rate,
            i.close_rate,
            i.rework_rate,
            i.accurate_dispatch_rate,
            i.satisfaction_rate,
        ]
        .iter()
        .enumerate()
        {
            if let Some(v) = v {
                ws.write_number_with_format(r, 8 + c as u16, *v, &pct)
                    .map_err(err)?;
            }
        }
        for (j, c) in counters.iter().enumerate() {
            let n = u.counts.get(c.as_str()).copied().unwrap_or(0);
            ws.write_number(r, first_count_col + j as u16, n as f64)
                .map_err(err)?;
        }
    }
    ws.set_freeze_panes(1, 3).map_err(err)?;
    let ranked = a.units.iter().filter(|u| u.rank.is_some()).count().min(10);
    if ranked > 0 {
        let mut chart = Chart::new(ChartType::Bar);
        chart
            .add_series()
            .set_name("得分")
            .set_categories(("考核排名", 1, 2, ranked as u32, 2))
            .set_values(("考核排名", 1, 5, ranked as u32, 5));
        chart
            .title()
            .set_name(&format!("{} 考核得分前 {ranked} 名", a.month));
        ws.insert_chart(1, first_count_col + counters.len() as u16 + 1, &chart)
            .map_err(err)?;
    }
    book.save_to_buffer().map_err(err)
}
