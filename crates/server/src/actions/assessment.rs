//! Assessment (考核评估) of the units of a node for a month: each unit's counters summed from
//! `case_counters` over the month with its field figures (the disputes closed and resolved in
//! its territory and the daily reports of its people, from the statistics rollups), its
//! indicators, weighted score and rank (the pure rules in `domain::assessment`); the same per
//! level; and per person, every grid worker with the counters of their grid and their own daily
//! reports. Weights are a prefecture setting.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use domain::assessment::{self, Counts, FieldCounts, Indicators, Score, Weights};
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
    /// The field figures behind 化解率, 日报率 and 零报告率.
    #[schema(value_type = Object)]
    pub field: FieldCounts,
}

/// One grid worker's assessment: the counters of their grid, the disputes of their grid and
/// their own daily reports.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonAssessment {
    pub rank: Option<usize>,
    /// The account name.
    pub account: String,
    pub name: String,
    /// The person's grid and its unit.
    pub territory: String,
    pub unit: String,
    pub unit_name: String,
    pub score: Option<f64>,
    pub base: Option<f64>,
    pub penalty: f64,
    #[schema(value_type = Object)]
    pub indicators: Indicators,
    pub counts: BTreeMap<String, i64>,
    #[schema(value_type = Object)]
    pub field: FieldCounts,
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
    #[schema(value_type = Object)]
    pub field: FieldCounts,
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
    /// Grid workers ranked by score (best first), then those with nothing to score.
    pub persons: Vec<PersonAssessment>,
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

/// The field figures of a node's subtree over the month: its disputes closed and resolved, and
/// its daily reports (expected of one grid worker per grid and one head per group, per day).
fn field_of(
    sums: &store::stats::NodeSums,
    counts: &std::collections::HashMap<String, store::territory::Counts>,
    taxonomy: &domain::category::Taxonomy,
    code: &str,
    days: i64,
) -> FieldCounts {
    use domain::stats::metric;
    let Some(s) = sums.0.get(code) else {
        return FieldCounts::default();
    };
    let dispute = |c: &str| taxonomy.get(c).is_some_and(|x| x.is_dispute);
    let c = counts.get(code).copied().unwrap_or_default();
    FieldCounts {
        disputes_closed: s.over(metric::CASE_CLOSED, dispute),
        disputes_resolved: s.over(metric::CASE_SOLVED, dispute),
        reports_expected: (c.grids + c.groups) * days,
        reports_received: s.total(metric::DAILY_REPORT),
        zero_reports: s.total(metric::ZERO_REPORT),
    }
}

fn ranked<T>(
    list: Vec<T>,
    key: impl Fn(&T) -> (String, Option<Score>),
    set: impl Fn(&mut T, usize),
) -> Vec<T> {
    let scores: Vec<(String, Option<Score>)> = list.iter().map(&key).collect();
    let order = assessment::rank(&scores);
    let mut slots: Vec<Option<T>> = list.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for (rank, i) in order {
        if let Some(mut x) = slots[i].take() {
            set(&mut x, rank);
            out.push(x);
        }
    }
    out.extend(slots.into_iter().flatten());
    out
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
    let prefix = node.code().subtree_prefix();
    let rows = state
        .db
        .counter_sums_by_unit(prefix, month.first, month.last)
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
    // The field figures of every centre's and grid's territory (departments serve their
    // categories, not a territory's disputes or reports: they have none).
    let days = assessment::reports_owed(
        month.first,
        month.last,
        crate::actions::fieldwork::today(state),
    );
    let territorial = |code: &str| {
        units
            .get(code)
            .filter(|u| u.kind.as_str() != "department")
            .map(|u| u.territory.to_string())
    };
    let mut nodes: Vec<String> = by_unit.keys().filter_map(|c| territorial(c)).collect();
    let roster = state.db.daily_roster(prefix, month.first).await?;
    let workers: Vec<&store::center::Reporter> =
        roster.iter().filter(|r| r.role == "grid_worker").collect();
    nodes.extend(workers.iter().map(|r| r.scope.clone()));
    nodes.sort();
    nodes.dedup();
    let sums = state.db.stats_sums(&nodes, month.first, month.last).await?;
    let org = state.db.counts_under(prefix).await?;
    let reports: BTreeMap<i64, store::center::ReportCount> = state
        .db
        .report_counts_by_account(prefix, "grid_worker", month.first, month.last)
        .await?
        .into_iter()
        .map(|r| (r.account, r))
        .collect();
    let rules = state.rules.read().await;
    let field = |code: &str| field_of(&sums, &org, &rules.taxonomy, code, days);

    let mut by_level: BTreeMap<domain::Level, (usize, Counts, FieldCounts)> = BTreeMap::new();
    let mut list: Vec<UnitAssessment> = Vec::new();
    for (code, counts) in &by_unit {
        let Some(u) = units.get(code) else { continue };
        if !node.code().covers(&u.territory) {
            continue;
        }
        let f = territorial(code).map(|t| field(&t)).unwrap_or_default();
        let e = by_level.entry(u.territory.level()).or_default();
        e.0 += 1;
        for (k, v) in counts {
            *e.1.entry(*k).or_insert(0) += v;
        }
        e.2 += f;
        let s = assessment::score(counts, &f, &w);
        list.push(UnitAssessment {
            rank: None,
            unit: code.clone(),
            name: u.name.clone(),
            kind: u.kind.as_str().to_owned(),
            territory: u.territory.to_string(),
            level: u.territory.level().as_str().to_owned(),
            score: s.map(|s| round(s.score)),
            base: s.map(|s| round(s.base)),
            penalty: s.map(|s| s.penalty).unwrap_or(0.0),
            indicators: assessment::indicators(counts, &f),
            counts: named(counts),
            field: f,
        });
    }
    let score_of = |score: Option<f64>, base: Option<f64>, penalty: f64| {
        score.zip(base).map(|(score, base)| Score {
            base,
            penalty,
            score,
        })
    };
    let out = ranked(
        list,
        |u| (u.unit.clone(), score_of(u.score, u.base, u.penalty)),
        |u, r| u.rank = Some(r),
    );
    let levels = by_level
        .into_iter()
        .map(|(level, (n, counts, f))| LevelAssessment {
            level: level.as_str().to_owned(),
            units: n,
            score: assessment::score(&counts, &f, &w).map(|s| round(s.score)),
            indicators: assessment::indicators(&counts, &f),
            counts: named(&counts),
            field: f,
        })
        .collect();

    // Per person: every grid worker of the node.
    let empty = Counts::new();
    let mut persons = Vec::with_capacity(workers.len());
    for r in workers {
        let unit = r.unit.clone().unwrap_or_else(|| r.scope.clone());
        let counts = by_unit.get(&unit).unwrap_or(&empty);
        let mine = reports.get(&r.account);
        let grid = field(&r.scope);
        let f = FieldCounts {
            disputes_closed: grid.disputes_closed,
            disputes_resolved: grid.disputes_resolved,
            reports_expected: days,
            reports_received: mine.map(|m| m.received).unwrap_or(0),
            zero_reports: mine.map(|m| m.zero).unwrap_or(0),
        };
        let s = assessment::score(counts, &f, &w);
        persons.push(PersonAssessment {
            rank: None,
            account: r.username.clone(),
            name: r.name.clone(),
            territory: r.scope.clone(),
            unit_name: units
                .get(&unit)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| unit.clone()),
            unit,
            score: s.map(|s| round(s.score)),
            base: s.map(|s| round(s.base)),
            penalty: s.map(|s| s.penalty).unwrap_or(0.0),
            indicators: assessment::indicators(counts, &f),
            counts: named(counts),
            field: f,
        });
    }
    drop(rules);
    let persons = ranked(
        persons,
        |p| (p.account.clone(), score_of(p.score, p.base, p.penalty)),
        |p, r| p.rank = Some(r),
    );
    Ok(AssessmentResponse {
        territory: node.code().to_string(),
        month: month.label(),
        from: month.first,
        to: month.last,
        weights: w,
        units: out,
        levels,
        persons,
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
    let first_count_col = write_sheet(
        ws,
        "考核排名",
        [
            "名次",
            "单位编码",
            "单位",
            "类型",
            "层级",
            "得分",
            "加权指标分",
            "督办扣分",
        ],
        &[(2, 28.0), (1, 20.0)],
        a.units.iter().map(|u| SheetRow {
            rank: u.rank,
            labels: [&u.unit, &u.name, &u.kind, &u.level],
            score: u.score,
            base: u.base,
            penalty: u.penalty,
            indicators: &u.indicators,
            field: &u.field,
            counts: &u.counts,
        }),
        &bold,
        &pct,
    )
    .map_err(err)?;
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
        ws.insert_chart(1, first_count_col + Counter::ALL.len() as u16 + 1, &chart)
            .map_err(err)?;
    }
    // The per-person sheet: every grid worker, ranked.
    let ws = book.add_worksheet();
    write_sheet(
        ws,
        "个人考核",
        [
            "名次",
            "账号",
            "姓名",
            "网格",
            "单位",
            "得分",
            "加权指标分",
            "督办扣分",
        ],
        &[(2, 12.0), (4, 28.0)],
        a.persons.iter().map(|p| SheetRow {
            rank: p.rank,
            labels: [&p.account, &p.name, &p.territory, &p.unit_name],
            score: p.score,
            base: p.base,
            penalty: p.penalty,
            indicators: &p.indicators,
            field: &p.field,
            counts: &p.counts,
        }),
        &bold,
        &pct,
    )
    .map_err(err)?;
    book.save_to_buffer().map_err(err)
}

/// The columns after the eight leading ones of either sheet: the indicators, then the field
/// counts behind them (as [`write_indicators`] writes them).
const INDICATOR_HEADS: [&str; 15] = [
    "及时受理率",
    "及时签收率",
    "按期办结率",
    "结案率",
    "返工率",
    "准确派遣率",
    "回访满意率",
    "化解率",
    "日报率",
    "零报告率",
    "受理纠纷数",
    "成功化解数",
    "应报日报数",
    "收到日报数",
    "零报告数",
];

/// One line of a sheet, a unit's or a person's: the rank, four labels, then the score and
/// everything behind it.
struct SheetRow<'a> {
    rank: Option<usize>,
    labels: [&'a str; 4],
    score: Option<f64>,
    base: Option<f64>,
    penalty: f64,
    indicators: &'a Indicators,
    field: &'a FieldCounts,
    counts: &'a BTreeMap<String, i64>,
}

/// Fill a ranking sheet: the eight leading heads (rank, four labels, score, base, penalty),
/// the indicator heads and one head per counter, the column widths in the order given, one
/// line per row, and the top row and first three columns frozen. Returns the column of the
/// first counter.
fn write_sheet<'a>(
    ws: &mut rust_xlsxwriter::Worksheet,
    name: &str,
    lead: [&str; 8],
    widths: &[(u16, f64)],
    rows: impl Iterator<Item = SheetRow<'a>>,
    bold: &rust_xlsxwriter::Format,
    pct: &rust_xlsxwriter::Format,
) -> Result<u16, rust_xlsxwriter::XlsxError> {
    ws.set_name(name)?;
    for (c, h) in lead.iter().chain(INDICATOR_HEADS.iter()).enumerate() {
        ws.write_string_with_format(0, c as u16, *h, bold)?;
    }
    let first_count_col = (lead.len() + INDICATOR_HEADS.len()) as u16;
    for (j, c) in Counter::ALL.iter().enumerate() {
        ws.write_string_with_format(0, first_count_col + j as u16, c.name_zh(), bold)?;
    }
    for (col, width) in widths {
        ws.set_column_width(*col, *width)?;
    }
    for (i, row) in rows.enumerate() {
        let r = (i + 1) as u32;
        if let Some(k) = row.rank {
            ws.write_number(r, 0, k as f64)?;
        }
        for (c, label) in row.labels.iter().enumerate() {
            ws.write_string(r, 1 + c as u16, *label)?;
        }
        if let Some(s) = row.score {
            ws.write_number(r, 5, s)?;
        }
        if let Some(b) = row.base {
            ws.write_number(r, 6, b)?;
        }
        ws.write_number(r, 7, row.penalty)?;
        write_indicators(ws, r, 8, row.indicators, row.field, pct)?;
        for (j, c) in Counter::ALL.iter().enumerate() {
            let n = row.counts.get(c.as_str()).copied().unwrap_or(0);
            ws.write_number(r, first_count_col + j as u16, n as f64)?;
        }
    }
    ws.set_freeze_panes(1, 3)?;
    Ok(first_count_col)
}

/// The ten indicator columns and the five field counts, from column `at`.
fn write_indicators(
    ws: &mut rust_xlsxwriter::Worksheet,
    r: u32,
    at: u16,
    i: &Indicators,
    f: &FieldCounts,
    pct: &rust_xlsxwriter::Format,
) -> Result<(), rust_xlsxwriter::XlsxError> {
    let rates = [
        i.timely_accept_rate,
        i.timely_sign_rate,
        i.on_time_close_rate,
        i.close_rate,
        i.rework_rate,
        i.accurate_dispatch_rate,
        i.satisfaction_rate,
        i.dispute_resolution_rate,
        i.daily_report_rate,
        i.zero_report_rate,
    ];
    for (c, v) in rates.iter().enumerate() {
        if let Some(v) = v {
            ws.write_number_with_format(r, at + c as u16, *v, pct)?;
        }
    }
    let at = at + rates.len() as u16;
    for (c, n) in [
        f.disputes_closed,
        f.disputes_resolved,
        f.reports_expected,
        f.reports_received,
        f.zero_reports,
    ]
    .iter()
    .enumerate()
    {
        ws.write_number(r, at + c as u16, *n as f64)?;
    }
    Ok(())
}
