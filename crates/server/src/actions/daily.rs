//! The daily mechanism's summary and analysis (日汇总、日研判) of a node for one day, from the
//! cases created that day and the 30 before (read by creation time): the day's cases by class
//! and by child node; the categories and places that rose against their 7- and 30-day baselines
//! (`domain::analysis::rising`: a conditional binomial test with FDR control); space-time
//! clusters; the day's sensitive cases; the open large disputes, overdue and red-carded cases;
//! and a short list of what needs a leader's attention. (Who reported and who did not — the
//! daily reports of grid workers and household heads — joins when the work logs land.)

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use domain::analysis::{self, ClusterSettings, KeyCounts, RiseSettings, Sighting};
use domain::territory::Level;
use serde::Serialize;

use crate::auth::{Caller, InScope};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Cases read at most for one report (today and the 30 days before).
const WINDOW_MAX: i64 = 500_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayCase {
    pub id: String,
    pub code: String,
    pub category: String,
    pub category_name: String,
    pub territory: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChildCount {
    pub territory: String,
    pub name: String,
    pub cases: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub cases: u64,
    /// By class: `attention`, `management`, `service`.
    pub by_class: BTreeMap<String, u64>,
    pub by_child: Vec<ChildCount>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RisingItem {
    /// A category code, or a child node's code.
    pub key: String,
    pub name: String,
    pub today: u64,
    pub last_7: u64,
    pub last_30: u64,
    /// Cases a day at each baseline's rate.
    pub expected_7: f64,
    pub expected_30: f64,
    /// One-sided p-values of "today is above the baseline".
    pub p_7: f64,
    pub p_30: f64,
    /// Discoveries at a 5 % false discovery rate over the day's keys.
    pub above_7: bool,
    pub above_30: bool,
}

impl RisingItem {
    /// The smaller of the two p-values.
    pub fn p_min(&self) -> f64 {
        self.p_7.min(self.p_30)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClusterItem {
    pub size: usize,
    pub codes: Vec<String>,
    pub lat: f64,
    pub lng: f64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// `GET /api/v1/daily`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DailyResponse {
    pub territory: String,
    pub name: String,
    pub date: NaiveDate,
    pub summary: Summary,
    pub rising_categories: Vec<RisingItem>,
    pub rising_places: Vec<RisingItem>,
    /// Cases within 500 m and 24 h of each other, three or more, over the last two days.
    pub clusters: Vec<ClusterItem>,
    pub sensitive: Vec<DayCase>,
    pub large_disputes: Vec<DayCase>,
    pub overdue: Vec<DayCase>,
    pub red_carded: Vec<DayCase>,
    /// What needs a leader's attention, most pressing first (one line each).
    pub attention: Vec<String>,
}

/// Midnight of `day` in Asia/Shanghai, as UTC.
fn day_start(day: NaiveDate) -> DateTime<Utc> {
    domain::clock::china_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn child_len(level: Level) -> usize {
    match level {
        Level::Prefecture => 6,
        Level::County => 9,
        Level::Township => 12,
        Level::Village | Level::Grid | Level::Group => 15,
    }
}

/// The day's summary and analysis of `node`.
pub async fn daily(
    state: &AppState,
    caller: &Caller,
    node: &InScope,
    date: NaiveDate,
) -> AppResult<DailyResponse> {
    // Aggregates and case codes of the caller's own scope only: everyone in scope may read it.
    let _ = caller;
    let view = crate::actions::territory::browse(state, node).await?;
    let prefix = node.code().subtree_prefix().to_owned();
    let today = day_start(date);
    let tomorrow = today + Duration::days(1);
    let window = state
        .db
        .cases_created_between(&prefix, today - Duration::days(30), tomorrow, WINDOW_MAX)
        .await?;
    let rules = state.rules.read().await;
    let name_of = |c: &str| {
        rules
            .taxonomy
            .get(c)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| c.to_owned())
    };
    let len = child_len(view.node.level);
    let child_names: BTreeMap<String, String> = view
        .children
        .iter()
        .map(|(c, _)| (c.code.to_string(), c.name.clone()))
        .collect();

    // Counts per key: today, the 7 days before, the 30 days before.
    let mut by_cat: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut by_place: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    let mut sensitive = Vec::new();
    let week_ago = today - Duration::days(7);
    for c in &window {
        let slot = if c.created_at >= today {
            0
        } else if c.created_at >= week_ago {
            1
        } else {
            2
        };
        let place = c.territory.chars().take(len).collect::<String>();
        for (map, key) in [(&mut by_cat, c.category.clone()), (&mut by_place, place)] {
            let e = map.entry(key).or_default();
            match slot {
                0 => e[0] += 1,
                1 => {
                    e[1] += 1;
                    e[2] += 1;
                }
                _ => e[2] += 1,
            }
        }
        if slot == 0 {
            let cat = rules.taxonomy.get(&c.category);
            let class = cat.map(|x| x.class.as_str()).unwrap_or("attention");
            *by_class.entry(class.to_owned()).or_default() += 1;
            if cat.is_some_and(|x| x.sensitive) {
                sensitive.push(DayCase {
                    id: c.id.to_string(),
                    code: c.code.clone(),
                    category: c.category.clone(),
                    category_name: name_of(&c.category),
                    territory: c.territory.clone(),
                    status: c.status.clone(),
                    created_at: c.created_at,
                });
            }
        }
    }
    let rise = |map: &BTreeMap<String, [u64; 3]>, name: &dyn Fn(&str) -> String| {
        let keys: Vec<KeyCounts<String>> = map
            .iter()
            .map(|(k, v)| KeyCounts {
                key: k.clone(),
                today: v[0],
                last_7: v[1],
                last_30: v[2],
            })
            .collect();
        analysis::rising(&keys, RiseSettings::default())
            .into_iter()
            .map(|r| RisingItem {
                name: name(&r.key),
                key: r.key,
                today: r.against_7.today,
                last_7: r.against_7.baseline,
                last_30: r.against_30.baseline,
                expected_7: r.against_7.expected,
                expected_30: r.against_30.expected,
                p_7: r.against_7.p_value,
                p_30: r.against_30.p_value,
                above_7: r.above_7,
                above_30: r.above_30,
            })
            .collect::<Vec<_>>()
    };
    let rising_categories = rise(&by_cat, &|k| name_of(k));
    let rising_places = rise(&by_place, &|k| {
        child_names.get(k).cloned().unwrap_or_else(|| k.to_owned())
    });

    // Clusters over yesterday and today (a cluster may straddle midnight).
    let recent: Vec<&store::center::Sighted> = window
        .iter()
        .filter(|c| c.created_at >= today - Duration::days(1))
        .filter(|c| c.lat.is_some() && c.lng.is_some())
        .collect();
    let sightings: Vec<Sighting<usize>> = recent
        .iter()
        .enumerate()
        .map(|(i, c)| Sighting {
            key: i,
            lat: c.lat.unwrap_or_default(),
            lng: c.lng.unwrap_or_default(),
            at: c.created_at,
        })
        .collect();
    let clusters: Vec<ClusterItem> = analysis::clusters(&sightings, ClusterSettings::default())
        .into_iter()
        .filter(|k| k.last >= today)
        .map(|k| ClusterItem {
            size: k.members.len(),
            codes: k.members.iter().map(|&i| recent[i].code.clone()).collect(),
            lat: k.lat,
            lng: k.lng,
            first: k.first,
            last: k.last,
        })
        .collect();

    let day_case = |c: &store::cases::CaseRecord| DayCase {
        id: c.id.to_string(),
        code: c.code.clone(),
        category: c.category.clone(),
        category_name: name_of(&c.category),
        territory: c.territory.clone(),
        status: c.status.clone(),
        created_at: c.created_at,
    };
    let end_of_day = tomorrow.min(state.clock.now().max(today));
    let overdue: Vec<DayCase> = state
        .db
        .list_cases(&store::cases::CaseFilter {
            territory_prefix: prefix.clone(),
            overdue_at: Some(end_of_day),
            by_deadline: true,
            limit: 50,
            ..Default::default()
        })
        .await?
        .iter()
        .map(day_case)
        .collect();
    let red_carded: Vec<DayCase> = state
        .db
        .red_carded(&prefix, 50)
        .await?
        .iter()
        .map(day_case)
        .collect();
    let large_disputes: Vec<DayCase> = state
        .db
        .large_disputes(&prefix, crate::actions::center::LARGE_DISPUTE_PEOPLE, 50)
        .await?
        .iter()
        .map(|(c, _)| day_case(c))
        .collect();

    let mut attention = Vec::new();
    for r in rising_categories.iter().chain(&rising_places).take(5) {
        attention.push(format!(
            "{}：今日 {} 件，近 7 日日均 {:.1} 件、近 30 日日均 {:.1} 件（p = {:.2e}）",
            r.name,
            r.today,
            r.expected_7,
            r.expected_30,
            r.p_7.min(r.p_30)
        ));
    }
    for k in clusters.iter().take(3) {
        attention.push(format!(
            "{} 件报事在 500 米、24 小时内聚集（{}）",
            k.size,
            k.codes.join("、")
        ));
    }
    if !red_carded.is_empty() {
        attention.push(format!("{} 件红牌督办案件未办结", red_carded.len()));
    }
    if !large_disputes.is_empty() {
        attention.push(format!(
            "{} 起涉及 {} 人以上的矛盾纠纷未化解",
            large_disputes.len(),
            crate::actions::center::LARGE_DISPUTE_PEOPLE
        ));
    }
    if !sensitive.is_empty() {
        attention.push(format!("今日敏感类报事 {} 件", sensitive.len()));
    }
    drop(rules);

    let by_child = view
        .children
        .iter()
        .map(|(c, _)| ChildCount {
            territory: c.code.to_string(),
            name: c.name.clone(),
            cases: by_place.get(c.code.as_str()).map(|v| v[0]).unwrap_or(0),
        })
        .collect();
    Ok(DailyResponse {
        territory: node.code().to_string(),
        name: view.node.name.clone(),
        date,
        summary: Summary {
            cases: by_class.values().sum(),
            by_class,
            by_child,
        },
        rising_categories,
        rising_places,
        clusters,
        sensitive,
        large_disputes,
        overdue,
        red_carded,
        attention,
    })
}

/// The day's report as an Excel workbook: the summary by child node with a native column
/// chart, the rising categories and places with their tests, the clusters, and the lists.
pub fn workbook(d: &DailyResponse) -> AppResult<Vec<u8>> {
    use rust_xlsxwriter::{Chart, ChartType, Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| AppError::Internal(format!("xlsx: {e}"));
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    {
        let ws = book.add_worksheet();
        ws.set_name("日汇总").map_err(err)?;
        ws.write_string_with_format(0, 0, format!("{} {} 日汇总", d.name, d.date), &bold)
            .map_err(err)?;
        ws.write_string_with_format(1, 0, "下级", &bold)
            .map_err(err)?;
        ws.write_string_with_format(1, 1, "代码", &bold)
            .map_err(err)?;
        ws.write_string_with_format(1, 2, "今日报事", &bold)
            .map_err(err)?;
        ws.set_column_width(0, 20).map_err(err)?;
        ws.set_column_width(1, 18).map_err(err)?;
        for (i, c) in d.summary.by_child.iter().enumerate() {
            let r = 2 + i as u32;
            ws.write_string(r, 0, &c.name).map_err(err)?;
            ws.write_string(r, 1, &c.territory).map_err(err)?;
            ws.write_number(r, 2, c.cases as f64).map_err(err)?;
        }
        let n = d.summary.by_child.len() as u32;
        if n > 0 {
            let mut chart = Chart::new(ChartType::Column);
            chart
                .add_series()
                .set_name("今日报事")
                .set_categories(("日汇总", 2, 0, 1 + n, 0))
                .set_values(("日汇总", 2, 2, 1 + n, 2));
            chart.title().set_name("今日报事（按下级）");
            ws.insert_chart(1, 4, &chart).map_err(err)?;
        }
        let mut r = 3 + n;
        ws.write_string_with_format(r, 0, "需领导关注", &bold)
            .map_err(err)?;
        for line in &d.attention {
            r += 1;
            ws.write_string(r, 0, line).map_err(err)?;
        }
    }
    for (sheet, items) in [
        ("类别上升", &d.rising_categories),
        ("地点上升", &d.rising_places),
    ] {
        let ws = book.add_worksheet();
        ws.set_name(sheet).map_err(err)?;
        let heads = [
            "代码",
            "名称",
            "今日",
            "前7日",
            "前30日",
            "7日日均",
            "30日日均",
            "p(7日)",
            "p(30日)",
        ];
        for (c, h) in heads.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(err)?;
        }
        for (i, it) in items.iter().enumerate() {
            let r = 1 + i as u32;
            ws.write_string(r, 0, &it.key).map_err(err)?;
            ws.write_string(r, 1, &it.name).map_err(err)?;
            for (c, v) in [
                it.today as f64,
                it.last_7 as f64,
                it.last_30 as f64,
                it.expected_7,
                it.expected_30,
                it.p_7,
                it.p_30,
            ]
            .iter()
            .enumerate()
            {
                ws.write_number(r, 2 + c as u16, *v).map_err(err)?;
            }
        }
    }
    {
        let ws = book.add_worksheet();
        ws.set_name("案件清单").map_err(err)?;
        let mut r = 0u32;
        for (title, list) in [
            ("超期", &d.overdue),
            ("红牌督办", &d.red_carded),
            ("较大矛盾纠纷", &d.large_disputes),
            ("敏感类", &d.sensitive),
        ] {
            ws.write_string_with_format(r, 0, title, &bold)
                .map_err(err)?;
            r += 1;
            for c in list.iter() {
                ws.write_string(r, 0, &c.code).map_err(err)?;
                ws.write_string(r, 1, &c.category_name).map_err(err)?;
                ws.write_string(r, 2, &c.territory).map_err(err)?;
                ws.write_string(r, 3, &c.status).map_err(err)?;
                r += 1;
            }
            r += 1;
        }
        let ws2 = book.add_worksheet();
        ws2.set_name("聚集").map_err(err)?;
        for (i, k) in d.clusters.iter().enumerate() {
            let r = i as u32;
            ws2.write_number(r, 0, k.size as f64).map_err(err)?;
            ws2.write_string(r, 1, k.codes.join(" ")).map_err(err)?;
            ws2.write_number(r, 2, k.lat).map_err(err)?;
            ws2.write_number(r, 3, k.lng).map_err(err)?;
        }
    }
    book.save_to_buffer().map_err(err)
}
