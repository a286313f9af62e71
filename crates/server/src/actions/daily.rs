//! The daily mechanism's summary and analysis (日汇总、日研判) of a node for one day, from the
//! cases created that day and the 30 before (read by creation time): the day's cases by class
//! and by child node; the categories and places that rose against their 7- and 30-day baselines
//! (`domain::analysis::rising`: a conditional binomial test with FDR control); space-time
//! clusters; the day's sensitive cases; the open large disputes, overdue and red-carded cases;
//! and a short list of what needs a leader's attention; and the collection by name (日收集): every
//! grid worker and household head of the node, whether they reported that day (a zero report
//! counts as a report), grouped by child node.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
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

/// A person expected to report (staff: their name is not personal data of a household).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReporterView {
    pub account: String,
    pub name: String,
    /// `grid_worker` or `household_head`.
    pub role: String,
    /// The person's grid or joint-defence group.
    pub territory: String,
    /// The unit's name (a grid's), or the node's code.
    pub unit: String,
    pub reported: bool,
    /// A zero report (零报告); null when nothing was sent.
    pub nothing_to_report: Option<bool>,
    pub reported_at: Option<DateTime<Utc>>,
}

/// The collection of one child node.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionGroup {
    pub territory: String,
    pub name: String,
    pub expected: u64,
    pub reported: u64,
    pub zero_reports: u64,
    pub missing: u64,
    /// Who has not reported first, then who has (at most [`PEOPLE_MAX`]).
    pub people: Vec<ReporterView>,
    /// People of the group left off `people`.
    pub more: u64,
}

/// People listed by name per child node (the counts always hold everyone).
pub const PEOPLE_MAX: usize = 100;

/// 日收集: who reported and who did not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Collection {
    pub expected: u64,
    pub reported: u64,
    pub zero_reports: u64,
    pub missing: u64,
    pub groups: Vec<CollectionGroup>,
}

/// `GET /api/v1/daily`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DailyResponse {
    pub territory: String,
    pub name: String,
    pub date: NaiveDate,
    /// 日收集: who reported and who did not, by child node.
    pub collection: Collection,
    pub summary: Summary,
    /// The day's cases by category: top-level categories and the most frequent leaves.
    pub by_category: CategoryBreakdown,
    pub rising_categories: Vec<RisingItem>,
    pub rising_places: Vec<RisingItem>,
    /// Cases within 500 m and 24 h of each other, three or more, over the last two days.
    pub clusters: Vec<ClusterItem>,
    pub sensitive: Vec<DayCase>,
    pub large_disputes: Vec<DayCase>,
    pub overdue: Vec<DayCase>,
    pub red_carded: Vec<DayCase>,
    /// What needs a leader's attention, most pressing first (one line each, in Chinese).
    pub attention: Vec<String>,
    /// The same as data, for pages in other languages.
    pub attention_items: Vec<AttentionItem>,
}

/// One thing that needs a leader's attention.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttentionItem {
    /// `rising` (a category or place above its baselines), `cluster`, `red_carded`,
    /// `large_disputes`, `sensitive`.
    pub kind: String,
    /// The category or place that rose.
    pub name: Option<String>,
    /// Today's cases (rising), the cluster's size, or the list's length.
    pub count: u64,
    pub expected_7: Option<f64>,
    pub expected_30: Option<f64>,
    pub p: Option<f64>,
    pub codes: Vec<String>,
}

use crate::actions::figures::day_start;

/// Cases by category, as the category charts draw them.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CategoryBreakdown {
    /// Top-level categories (the class roots' children), most cases first.
    pub top: Vec<CategoryCount>,
    /// The most frequent categories cases are filed under.
    pub leaves: Vec<CategoryCount>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryCount {
    pub category: String,
    pub name: String,
    pub cases: u64,
}

/// How many leaves the category charts show.
pub const TOP_LEAVES: usize = 8;

/// The breakdown of `(category, cases)` counts, named from the taxonomy.
pub fn breakdown(
    counts: &[(String, u64)],
    taxonomy: &domain::category::Taxonomy,
) -> CategoryBreakdown {
    let (top, leaves) = domain::stats::category_breakdown(counts, TOP_LEAVES);
    let name = |c: &str| {
        taxonomy
            .get(c)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| c.to_owned())
    };
    let named = |v: Vec<(String, u64)>| {
        v.into_iter()
            .map(|(c, n)| CategoryCount {
                name: name(&c),
                category: c,
                cases: n,
            })
            .collect()
    };
    CategoryBreakdown {
        top: named(top),
        leaves: named(leaves),
    }
}

/// The child of `node` (of `level`) a code under it belongs to.
fn child_of(level: Level, code: &str) -> String {
    let len = match level {
        Level::Prefecture => 6,
        Level::County => 9,
        Level::Township => 12,
        Level::Village => 15,
        Level::Grid | Level::Group => 18,
    };
    code.chars().take(len).collect()
}

/// 日收集 of `node` for `date`: every grid worker and household head under it and their report.
pub async fn collection(
    state: &AppState,
    node: &InScope,
    level: Level,
    children: &[(String, String)],
    date: NaiveDate,
) -> AppResult<Collection> {
    let roster = state
        .db
        .daily_roster(node.code().subtree_prefix(), date)
        .await?;
    let units = crate::actions::people::unit_map(state).await?;
    let mut groups: Vec<CollectionGroup> = children
        .iter()
        .map(|(code, name)| CollectionGroup {
            territory: code.clone(),
            name: name.clone(),
            expected: 0,
            reported: 0,
            zero_reports: 0,
            missing: 0,
            people: Vec::new(),
            more: 0,
        })
        .collect();
    let own = node.code().to_string();
    for r in roster {
        let child = child_of(level, &r.scope);
        let at = match groups.iter().position(|g| g.territory == child) {
            Some(i) => i,
            None => {
                // Someone placed at the node itself (or under a child not listed).
                let key = if r.scope == own { own.clone() } else { child };
                match groups.iter().position(|g| g.territory == key) {
                    Some(i) => i,
                    None => {
                        groups.push(CollectionGroup {
                            territory: key.clone(),
                            name: key,
                            expected: 0,
                            reported: 0,
                            zero_reports: 0,
                            missing: 0,
                            people: Vec::new(),
                            more: 0,
                        });
                        groups.len() - 1
                    }
                }
            }
        };
        let g = &mut groups[at];
        g.expected += 1;
        match r.report {
            Some((zero, _)) => {
                g.reported += 1;
                g.zero_reports += u64::from(zero);
            }
            None => g.missing += 1,
        }
        let unit = r
            .unit
            .as_ref()
            .and_then(|u| units.get(u))
            .map(|u| u.name.clone())
            .unwrap_or_else(|| r.scope.clone());
        g.people.push(ReporterView {
            account: r.username,
            name: r.name,
            role: r.role,
            territory: r.scope,
            unit,
            reported: r.report.is_some(),
            nothing_to_report: r.report.map(|x| x.0),
            reported_at: r.report.map(|x| x.1),
        });
    }
    for g in &mut groups {
        // Who has not reported first; the store's order (by place) within each.
        g.people.sort_by_key(|p| p.reported);
        if g.people.len() > PEOPLE_MAX {
            g.more = (g.people.len() - PEOPLE_MAX) as u64;
            g.people.truncate(PEOPLE_MAX);
        }
    }
    Ok(Collection {
        expected: groups.iter().map(|g| g.expected).sum(),
        reported: groups.iter().map(|g| g.reported).sum(),
        zero_reports: groups.iter().map(|g| g.zero_reports).sum(),
        missing: groups.iter().map(|g| g.missing).sum(),
        groups,
    })
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
    let mut today_by_cat: BTreeMap<String, u64> = BTreeMap::new();
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
            *today_by_cat.entry(c.category.clone()).or_default() += 1;
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
    let mut items = Vec::new();
    let item = |kind: &str, count: u64| AttentionItem {
        kind: kind.to_owned(),
        name: None,
        count,
        expected_7: None,
        expected_30: None,
        p: None,
        codes: Vec::new(),
    };
    for r in rising_categories.iter().chain(&rising_places).take(5) {
        items.push(AttentionItem {
            name: Some(r.name.clone()),
            expected_7: Some(r.expected_7),
            expected_30: Some(r.expected_30),
            p: Some(r.p_min()),
            ..item("rising", r.today)
        });
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
        items.push(AttentionItem {
            codes: k.codes.clone(),
            ..item("cluster", k.size as u64)
        });
        attention.push(format!(
            "{} 件报事在 500 米、24 小时内聚集（{}）",
            k.size,
            k.codes.join("、")
        ));
    }
    if !red_carded.is_empty() {
        items.push(item("red_carded", red_carded.len() as u64));
        attention.push(format!("{} 件红牌督办案件未办结", red_carded.len()));
    }
    if !large_disputes.is_empty() {
        items.push(item("large_disputes", large_disputes.len() as u64));
        attention.push(format!(
            "{} 起涉及 {} 人以上的矛盾纠纷未化解",
            large_disputes.len(),
            crate::actions::center::LARGE_DISPUTE_PEOPLE
        ));
    }
    if !sensitive.is_empty() {
        items.push(item("sensitive", sensitive.len() as u64));
        attention.push(format!("今日敏感类报事 {} 件", sensitive.len()));
    }
    let by_category = breakdown(
        &today_by_cat.into_iter().collect::<Vec<_>>(),
        &rules.taxonomy,
    );
    drop(rules);
    let children: Vec<(String, String)> = view
        .children
        .iter()
        .map(|(c, _)| (c.code.to_string(), c.name.clone()))
        .collect();
    let collection = collection(state, node, view.node.level, &children, date).await?;

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
        collection,
        by_category,
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
        attention_items: items,
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
    {
        // 日收集: who reported and who did not, by child node and by name.
        let ws = book.add_worksheet();
        ws.set_name("日收集").map_err(err)?;
        let c = &d.collection;
        ws.write_string_with_format(
            0,
            0,
            format!(
                "{} {} 日收集：应报 {} 人，已报 {} 人（其中零报告 {} 人），未报 {} 人",
                d.name, d.date, c.expected, c.reported, c.zero_reports, c.missing
            ),
            &bold,
        )
        .map_err(err)?;
        for (i, h) in ["下级", "代码", "应报", "已报", "零报告", "未报"]
            .iter()
            .enumerate()
        {
            ws.write_string_with_format(1, i as u16, *h, &bold)
                .map_err(err)?;
        }
        let mut r = 2u32;
        for g in &c.groups {
            ws.write_string(r, 0, &g.name).map_err(err)?;
            ws.write_string(r, 1, &g.territory).map_err(err)?;
            for (i, n) in [g.expected, g.reported, g.zero_reports, g.missing]
                .iter()
                .enumerate()
            {
                ws.write_number(r, 2 + i as u16, *n as f64).map_err(err)?;
            }
            r += 1;
        }
        r += 1;
        for (i, h) in [
            "下级",
            "姓名",
            "账号",
            "身份",
            "单位",
            "节点",
            "情况",
            "报送时间",
        ]
        .iter()
        .enumerate()
        {
            ws.write_string_with_format(r, i as u16, *h, &bold)
                .map_err(err)?;
        }
        for g in &c.groups {
            for p in &g.people {
                r += 1;
                let role = if p.role == "grid_worker" {
                    "网格员"
                } else {
                    "联户长"
                };
                let status = match p.nothing_to_report {
                    None => "未报",
                    Some(true) => "零报告",
                    Some(false) => "已报",
                };
                for (i, v) in [
                    g.name.as_str(),
                    p.name.as_str(),
                    p.account.as_str(),
                    role,
                    p.unit.as_str(),
                    p.territory.as_str(),
                    status,
                ]
                .iter()
                .enumerate()
                {
                    ws.write_string(r, i as u16, *v).map_err(err)?;
                }
                if let Some(at) = p.reported_at {
                    ws.write_string(
                        r,
                        7,
                        at.with_timezone(&domain::clock::china_offset())
                            .format("%H:%M")
                            .to_string(),
                    )
                    .map_err(err)?;
                }
            }
            if g.more > 0 {
                r += 1;
                ws.write_string(r, 0, format!("{} 另有 {} 人", g.name, g.more))
                    .map_err(err)?;
            }
        }
        ws.set_column_width(0, 20).map_err(err)?;
        ws.set_column_width(4, 24).map_err(err)?;
        ws.set_column_width(5, 20).map_err(err)?;
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
