//! A deterministic case history for the demo territory: cases over the past days with the
//! events of their lifecycles, the work logs of the grid workers and their daily reports.
//! Pure: no I/O, no clock (the caller says when the history ends), no threads.
//!
//! Every case is driven through the case engine itself ([`decide`], [`decide_by_system`]) by
//! the demo accounts that may act on it, at plausible times: so every history is one the engine
//! could have produced, with its deadlines from the deployment's [`Rules`], its automatic
//! yellow and red cards where a step ran late (as the supervision clock gives them), and the
//! counters [`crate::case::recount`] derives from it.
//!
//! - **Arrivals**: a number of cases per day (fewer at weekends and on rest days of the
//!   calendar, with some day-to-day noise), at local times drawn from a working-day profile
//!   (mornings and afternoons, little at night); each in a grid drawn by its households, a leaf
//!   category drawn with per-class weights, a channel drawn with realistic weights.
//! - **Lifecycles**: accepted (a few rejected or merged), dispatched to the category's
//!   department, the grid or the village centre (some sent back, transferred or escalated),
//!   signed, handled (some self-handled on the spot by the grid worker), verified (a few sent
//!   back for rework), revisited (a few unsatisfied answers reopen the case) or closed without a
//!   visit. Each step takes a fraction of its time limit, and a few run late (overdue, carded).
//!   A small share of cases stall and stay open; and whatever would happen after the end of the
//!   history has not happened yet, so the recent cases are still open.
//! - **Field work**: every grid worker's logs of the five kinds on most days (fewer at
//!   weekends), and a daily report (most of them zero reports) on most days, some people
//!   missing days more often than others.
//!
//! Per day, the arrivals and field work come from their own random stream (seeded from the
//! seed and the day), so any day can be generated alone and in parallel, and the same
//! (data, rules, spec) give the same history on every machine.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use rand::SeedableRng;

use crate::account::Role;
use crate::case::{
    Actor, Case, CaseCode, Channel, Command, Event, HandleResult, NewCase, Satisfaction, Status,
    SuperviseLevel, UnitRef, Urgency, decide, decide_by_system,
};
use crate::category::{Category, Class};
use crate::clock::china_offset;
use crate::demo::DemoData;
// Randomness: the conversions of `draw` (as in `demo`), so the history does not shift when
// rand changes its sampling algorithms.
use crate::draw::{Rng, below, chance, pick, unit, weighted};
use crate::fieldwork::{SessionLanguage, WorklogDetails};
use crate::people::{Unit, UnitKind};
use crate::routing::{self, Place};
use crate::rules::Rules;
use crate::territory::{Level, TerritoryCode};

/// What history to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistorySpec {
    /// The history ends at this instant (now): nothing happens after it.
    pub end: DateTime<Utc>,
    /// Days of history before the end's local day (the end's own day included).
    pub days: u32,
    /// Cases in all (spread over the days).
    pub cases: u64,
    /// The id of the first case; ids follow in creation order.
    pub first_id: i64,
    pub seed: u64,
}

impl HistorySpec {
    /// A realistic rate for the demo: about 1.2 cases a year per household (a few hundred a
    /// day in the whole prefecture), over `days` days ending at `end`.
    pub fn demo(households: usize, days: u32, end: DateTime<Utc>) -> HistorySpec {
        let per_day = households as f64 * 1.2 / 365.0;
        HistorySpec {
            end,
            days,
            cases: (per_day * f64::from(days)).round() as u64,
            first_id: 1,
            seed: 2026,
        }
    }
}

/// A generated case: its state at the end of the history, its events, and its text.
#[derive(Debug, Clone)]
pub struct HistoryCase {
    pub case: Case,
    /// From the create event on, in order.
    pub events: Vec<Event>,
    pub title: Option<String>,
    pub description: String,
    /// WGS-84 (lng, lat) for a located case.
    pub location: Option<(f64, f64)>,
    /// The account that reported it (a grid worker for the field app).
    pub reporter_account: Option<i64>,
    /// The unit routing suggested, and why.
    pub routed_unit: String,
    pub routing_reason: String,
    /// Automatic cards given so far on the running step (the supervision clock's timers that
    /// have fired): `(yellow, red)`.
    pub cards_fired: (bool, bool),
}

/// A generated work log.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLog {
    pub account: i64,
    pub territory: TerritoryCode,
    pub at: DateTime<Utc>,
    pub day: NaiveDate,
    pub details: WorklogDetails,
}

/// A generated daily report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryReport {
    pub account: i64,
    pub territory: TerritoryCode,
    pub day: NaiveDate,
    pub at: DateTime<Utc>,
    pub nothing_to_report: bool,
    pub text: Option<String>,
}

/// One day of the history: its local date, and its cases' ids `first_id..first_id + cases`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryDay {
    pub day: NaiveDate,
    pub first_id: i64,
    pub cases: u32,
}

struct Grid {
    code: TerritoryCode,
    village: TerritoryCode,
    households: Vec<i64>,
    locations: Vec<(f64, f64)>,
    worker: Option<i64>,
}

/// The demo world a history happens in, prepared once.
pub struct History<'a> {
    rules: &'a Rules,
    spec: HistorySpec,
    units: HashMap<String, Unit>,
    /// Account id of the operator, handler or worker of each unit.
    by_unit: HashMap<String, (i64, Role, TerritoryCode)>,
    /// Account id of the leader of each node.
    leaders: HashMap<String, i64>,
    grids: Vec<Grid>,
    /// Cumulative household counts of `grids`, to draw a grid by its households.
    grid_cum: Vec<u64>,
    leaves: Vec<Category>,
    leaf_cum: Vec<u64>,
    plan: Vec<HistoryDay>,
}

/// Cases per class out of 100: attention (disputes, security), management (hazards,
/// environment), service (help, policy questions).
const CLASS_WEIGHTS: [(Class, u64); 3] = [
    (Class::Attention, 30),
    (Class::Management, 30),
    (Class::Service, 40),
];

const CHANNELS: [(Channel, u32); 8] = [
    (Channel::FieldApp, 38),
    (Channel::ResidentPage, 27),
    (Channel::Hotline12345, 14),
    (Channel::WalkIn, 10),
    (Channel::Petition, 3),
    (Channel::DeputyRelay, 2),
    (Channel::CourtReferral, 2),
    (Channel::Open311, 4),
];

/// Relative arrivals per local hour 0–23.
const HOURLY: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 4, 8, 16, 24, 26, 22, 12, 8, 14, 20, 22, 20, 14, 10, 8, 6, 3, 2,
];

const ATTENTION_TEXTS: &[&str] = &[
    "两户牧民因草场边界发生纠纷，双方情绪激动，需要调解",
    "邻里之间因宅基地界线产生矛盾，多次协商未果",
    "村民反映有人拖欠务工工资，涉及十余人，请求协调",
    "家庭矛盾引发争吵，老人要求村委会出面调解",
    "虫草采挖期间外来人员越界采挖，与本村群众发生冲突",
    "夜间有不明车辆在村口徘徊，群众担心治安问题",
    "山林承包合同到期后权属不清，两村群众产生争议",
    "征地补偿款分配有异议，部分群众到乡政府反映",
];
const MANAGEMENT_TEXTS: &[&str] = &[
    "村道旁山体有落石隐患，雨后更加严重，请尽快排查",
    "河道垃圾堆积，影响饮用水源，需要清理",
    "小区楼顶砖块松动掉落，存在安全隐患",
    "冬季燃煤取暖存在一氧化碳中毒隐患，请加强宣传检查",
    "牧区道路积雪结冰，车辆通行困难",
    "自建房屋墙体出现裂缝，担心倒塌",
    "寺院周边私搭乱建，影响消防通道",
    "草场围栏被破坏，牛羊进入公路影响交通安全",
];
const SERVICE_TEXTS: &[&str] = &[
    "独居老人冬季取暖困难，请求帮助解决燃料",
    "咨询低保申请政策和所需材料",
    "残疾人补贴未按时到账，请求查询",
    "留守儿童上学路途较远，家长请求协调校车",
    "村里自来水管冻裂，几十户群众吃水困难",
    "咨询医疗保险报销流程和异地就医备案",
    "牧民定居点电力不稳，经常停电",
    "请求帮助办理身份证和户口迁移手续",
];
/// Tibetan sentences some reports carry (a resident writing in Tibetan, or both languages).
const TIBETAN_TEXTS: &[&str] = &[
    "རྩྭ་ཐང་གི་རྩོད་གཞི་ཡོད།",
    "ལམ་ཁར་རྡོ་འབབ་ཀྱི་ཉེན་ཁ་ཡོད།",
    "རྒན་པ་གཅིག་པུར་རོགས་རམ་དགོས།",
    "ཆུ་མ་ཡོང་བས་དཀའ་ངལ་ཆེ།",
];

impl<'a> History<'a> {
    /// Prepare the world of `data` under `rules` and plan the days of `spec`.
    pub fn new(data: &DemoData, rules: &'a Rules, spec: HistorySpec) -> History<'a> {
        let units: HashMap<String, Unit> = data
            .units
            .iter()
            .map(|u| (u.code.clone(), u.clone()))
            .collect();
        let mut by_unit = HashMap::new();
        let mut leaders = HashMap::new();
        for (i, a) in data.accounts.iter().enumerate() {
            let id = i as i64 + 1;
            match (a.role, &a.unit) {
                (Role::CenterOperator | Role::DepartmentHandler | Role::GridWorker, Some(u)) => {
                    by_unit
                        .entry(u.clone())
                        .or_insert((id, a.role, a.scope.clone()));
                }
                (Role::Leader, _) => {
                    leaders.entry(a.scope.as_str().to_owned()).or_insert(id);
                }
                _ => {}
            }
        }
        let mut index: HashMap<TerritoryCode, usize> = HashMap::new();
        let mut grids: Vec<Grid> = Vec::new();
        for n in data.nodes.iter().filter(|n| n.level() == Level::Grid) {
            let village = n
                .code
                .ancestors_and_self()
                .into_iter()
                .find(|c| c.level() == Level::Village)
                .unwrap_or_else(|| n.code.clone());
            index.insert(n.code.clone(), grids.len());
            grids.push(Grid {
                worker: by_unit.get(n.code.as_str()).map(|(id, _, _)| *id),
                code: n.code.clone(),
                village,
                households: Vec::new(),
                locations: Vec::new(),
            });
        }
        for h in &data.households {
            if let Some(&gi) = index.get(&h.grid) {
                grids[gi].households.push(h.id);
                if let Some(loc) = h.location {
                    grids[gi].locations.push(loc);
                }
            }
        }
        grids.retain(|g| !g.households.is_empty());
        let mut grid_cum = Vec::with_capacity(grids.len());
        let mut total = 0u64;
        for g in &grids {
            total += g.households.len() as u64;
            grid_cum.push(total);
        }
        let leaves: Vec<Category> = rules.taxonomy.leaves().cloned().collect();
        let per_class = |class: Class| leaves.iter().filter(|c| c.class == class).count() as u64;
        let mut leaf_cum = Vec::with_capacity(leaves.len());
        let mut total = 0u64;
        for c in &leaves {
            let (_, w) = CLASS_WEIGHTS
                .iter()
                .find(|(k, _)| *k == c.class)
                .copied()
                .unwrap_or((c.class, 1));
            // The class's share split evenly over its leaves (in thousandths).
            total += (w * 1000 / per_class(c.class).max(1)).max(1);
            leaf_cum.push(total);
        }
        let mut h = History {
            rules,
            spec,
            units,
            by_unit,
            leaders,
            grids,
            grid_cum,
            leaves,
            leaf_cum,
            plan: Vec::new(),
        };
        h.plan = h.make_plan();
        h
    }

    /// The days of the history, oldest first, with their case ids.
    pub fn days(&self) -> &[HistoryDay] {
        &self.plan
    }

    /// The id after the last case.
    pub fn next_id(&self) -> i64 {
        self.plan
            .last()
            .map_or(self.spec.first_id, |d| d.first_id + i64::from(d.cases))
    }

    pub fn spec(&self) -> &HistorySpec {
        &self.spec
    }

    fn end_day(&self) -> NaiveDate {
        self.spec.end.with_timezone(&china_offset()).date_naive()
    }

    fn make_plan(&self) -> Vec<HistoryDay> {
        if self.spec.days == 0 || self.grids.is_empty() || self.leaves.is_empty() {
            return Vec::new();
        }
        let last = self.end_day();
        let first = last - Duration::days(i64::from(self.spec.days) - 1);
        let mut rng = Rng::seed_from_u64(self.spec.seed ^ 0x5eed);
        let weights: Vec<f64> = (0..self.spec.days)
            .map(|i| {
                let day = first + Duration::days(i64::from(i));
                let base = if !self.rules.calendar.is_working_day(day) {
                    0.55
                } else if day.weekday() == Weekday::Mon {
                    1.15
                } else {
                    1.0
                };
                let mut w = base * (0.85 + 0.3 * unit(&mut rng));
                if day == last {
                    // Only the part of today that has passed.
                    let t = self.spec.end.with_timezone(&china_offset());
                    w *= f64::from(t.hour()) / 24.0 + 0.02;
                }
                w
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        let mut out = Vec::with_capacity(weights.len());
        let mut id = self.spec.first_id;
        let mut given = 0u64;
        let mut acc = 0.0;
        for (i, w) in weights.iter().enumerate() {
            acc += w;
            let upto = ((acc / sum) * self.spec.cases as f64).round() as u64;
            let n = upto
                .saturating_sub(given)
                .min(u64::from(CaseCode::MAX_SEQUENCE));
            given += n;
            out.push(HistoryDay {
                day: first + Duration::days(i as i64),
                first_id: id,
                cases: n as u32,
            });
            id += n as i64;
        }
        out
    }

    fn day_rng(&self, day: NaiveDate, salt: u64) -> Rng {
        let d = u64::try_from(day.num_days_from_ce()).unwrap_or(0);
        Rng::seed_from_u64(
            self.spec
                .seed
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                .wrapping_add(d.wrapping_mul(0xbf58_476d_1ce4_e5b9))
                ^ salt,
        )
    }

    /// The cases created on the `i`-th day of [`History::days`], in creation order.
    pub fn day_cases(&self, i: usize) -> Vec<HistoryCase> {
        let Some(plan) = self.plan.get(i).copied() else {
            return Vec::new();
        };
        let mut rng = self.day_rng(plan.day, 1);
        let start = local_midnight(plan.day);
        let limit = if plan.day == self.end_day() {
            self.spec.end
        } else {
            start + Duration::days(1)
        };
        let span = (limit - start).num_seconds().max(1);
        let mut times: Vec<DateTime<Utc>> = (0..plan.cases)
            .map(|_| {
                let hour = weighted(&mut rng, &HOURLY);
                let secs = hour as i64 * 3600 + below(&mut rng, 3600) as i64;
                start + Duration::seconds(secs.min(span - 1))
            })
            .collect();
        times.sort();
        times
            .into_iter()
            .enumerate()
            .filter_map(|(k, at)| {
                let id = plan.first_id + k as i64;
                let mut crng = Rng::seed_from_u64(
                    self.spec.seed ^ (id as u64).wrapping_mul(0xd1b5_4a32_d192_ed03),
                );
                self.one_case(&mut crng, id, k as u32 + 1, plan.day, at)
            })
            .collect()
    }

    fn actor_of_unit(&self, unit: &str) -> Option<Actor> {
        self.by_unit.get(unit).map(|(id, role, scope)| Actor {
            account_id: *id,
            role: *role,
            scope: scope.clone(),
            unit: Some(unit.to_owned()),
        })
    }

    fn leader_of(&self, node: &TerritoryCode) -> Option<Actor> {
        self.leaders.get(node.as_str()).map(|id| Actor {
            account_id: *id,
            role: Role::Leader,
            scope: node.clone(),
            unit: None,
        })
    }

    fn one_case(
        &self,
        rng: &mut Rng,
        id: i64,
        seq: u32,
        day: NaiveDate,
        at: DateTime<Utc>,
    ) -> Option<HistoryCase> {
        let total = *self.grid_cum.last()?;
        let x = below(rng, total as usize) as u64;
        let gi = self.grid_cum.partition_point(|c| *c <= x);
        let grid = &self.grids[gi.min(self.grids.len() - 1)];
        let lx = below(rng, *self.leaf_cum.last()? as usize) as u64;
        let category = &self.leaves[self.leaf_cum.partition_point(|c| *c <= lx)];
        let mut channel = CHANNELS[weighted(rng, &CHANNELS.map(|(_, w)| w))].0;
        if channel == Channel::CourtReferral && !category.is_dispute {
            channel = Channel::WalkIn;
        }
        let located = matches!(
            channel,
            Channel::FieldApp | Channel::ResidentPage | Channel::Open311
        );
        let place = if located {
            Place::Located(Some(grid.code.clone()))
        } else {
            Place::Chosen(grid.village.clone())
        };
        let urgency = if chance(rng, 0.07) {
            Urgency::Urgent
        } else {
            Urgency::Normal
        };
        let route = routing::route(&place, category, urgency, &self.units).ok()?;
        let worker = if channel == Channel::FieldApp {
            self.actor_of_unit(grid.code.as_str())
        } else {
            None
        };
        let code = CaseCode::new(day, seq).ok()?;
        let (case, event) = Case::create(
            NewCase {
                id,
                code,
                category: category.code.to_string(),
                territory: route.territory.clone(),
                centre: route.centre.clone(),
                urgency,
                channel,
            },
            worker.as_ref(),
            self.rules,
            at,
        )
        .ok()?;
        let texts = match category.class {
            Class::Attention => ATTENTION_TEXTS,
            Class::Management => MANAGEMENT_TEXTS,
            Class::Service => SERVICE_TEXTS,
        };
        let mut description = (*pick(rng, texts)).to_owned();
        if chance(rng, 0.12) {
            description.push(' ');
            let tibetan: &&str = pick(rng, TIBETAN_TEXTS);
            description.push_str(tibetan);
        }
        let title = chance(rng, 0.4).then(|| category.name.clone());
        let location = if located && !grid.locations.is_empty() {
            let (lng, lat) = *pick(rng, &grid.locations);
            Some((
                lng + (unit(rng) - 0.5) * 0.002,
                lat + (unit(rng) - 0.5) * 0.002,
            ))
        } else {
            None
        };
        let mut drive = Drive {
            h: self,
            case,
            events: vec![event],
            now: at,
            end: self.spec.end,
            fired: (false, false),
            stopped: false,
            grid: grid.code.clone(),
            route_unit: route.handling_unit.clone(),
        };
        drive.run(rng);
        Some(HistoryCase {
            reporter_account: worker.map(|w| w.account_id),
            cards_fired: drive.fired,
            case: drive.case,
            events: drive.events,
            title,
            description,
            location,
            routed_unit: route.handling_unit,
            routing_reason: route.reason,
        })
    }

    /// The work logs and daily reports of the `i`-th day of [`History::days`].
    pub fn day_fieldwork(&self, i: usize) -> (Vec<HistoryLog>, Vec<HistoryReport>) {
        let Some(plan) = self.plan.get(i).copied() else {
            return (Vec::new(), Vec::new());
        };
        let mut rng = self.day_rng(plan.day, 2);
        let working = self.rules.calendar.is_working_day(plan.day);
        let start = local_midnight(plan.day);
        let end = self.spec.end;
        let mut logs = Vec::new();
        let mut reports = Vec::new();
        for g in &self.grids {
            let Some(account) = g.worker else { continue };
            // Some people miss days far more often than others (the same ones every day).
            let diligence = match (account as u64).wrapping_mul(2_654_435_761) % 100 {
                0..=5 => 0.35,
                6..=20 => 0.7,
                _ => 0.93,
            };
            let active = if working { diligence } else { diligence * 0.4 };
            if !chance(&mut rng, active) {
                continue;
            }
            let mut visits = 0u32;
            let mut hazards = 0u32;
            let n_logs = 1 + below(&mut rng, 3);
            for _ in 0..n_logs {
                let at = start + Duration::minutes(9 * 60 + below(&mut rng, 9 * 60) as i64);
                if at > end {
                    continue;
                }
                let details = match weighted(&mut rng, &[50, 20, 10, 12, 8]) {
                    0 => {
                        visits += 1;
                        WorklogDetails::Visit {
                            household: *pick(&mut rng, &g.households),
                            note: chance(&mut rng, 0.3).then(|| "了解家庭近况，无异常".into()),
                        }
                    }
                    1 => WorklogDetails::Service {
                        household: Some(*pick(&mut rng, &g.households)),
                        what: (*pick(
                            &mut rng,
                            &[
                                "代办医保续缴",
                                "帮助办理低保材料",
                                "送药上门",
                                "协助修缮房屋",
                            ],
                        ))
                        .to_owned(),
                    },
                    2 => WorklogDetails::Propaganda {
                        topic: (*pick(
                            &mut rng,
                            &["防范电信诈骗", "草原防火", "民法典宣讲", "冬季取暖安全"],
                        ))
                        .to_owned(),
                        place: "村委会".into(),
                        attendees: 8 + below(&mut rng, 70) as u32,
                        language: if chance(&mut rng, 0.5) {
                            SessionLanguage::Bilingual
                        } else {
                            SessionLanguage::Bo
                        },
                    },
                    3 => {
                        hazards += 1;
                        WorklogDetails::HazardInspection {
                            place: "村道及周边山体".into(),
                            hazard: None,
                            note: chance(&mut rng, 0.2).then(|| "未发现隐患".into()),
                        }
                    }
                    _ => WorklogDetails::DisputeScreening {
                        place: "本网格".into(),
                        disputes_found: u32::from(chance(&mut rng, 0.1)),
                        note: None,
                    },
                };
                logs.push(HistoryLog {
                    account,
                    territory: g.code.clone(),
                    at,
                    day: plan.day,
                    details,
                });
            }
            let at = start + Duration::minutes(17 * 60 + below(&mut rng, 4 * 60) as i64);
            if at > end || !chance(&mut rng, 0.92) {
                continue;
            }
            let zero = chance(&mut rng, 0.6);
            reports.push(HistoryReport {
                account,
                territory: g.code.clone(),
                day: plan.day,
                at,
                nothing_to_report: zero,
                text: (!zero).then(|| {
                    format!(
                        "今日走访{}户，排查隐患{}处，网格内总体平稳",
                        visits, hazards
                    )
                }),
            });
        }
        logs.sort_by_key(|l| l.at);
        (logs, reports)
    }
}

/// 00:00 of a local (UTC+8) day.
fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    china_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight"))
        .single()
        .expect("a fixed offset is unambiguous")
        .with_timezone(&Utc)
}

/// A case being driven through the engine.
struct Drive<'h, 'a> {
    h: &'h History<'a>,
    case: Case,
    events: Vec<Event>,
    now: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Automatic (yellow, red) cards given on the running step.
    fired: (bool, bool),
    /// Nothing more happens to the case (it stalled, or the history ended).
    stopped: bool,
    grid: TerritoryCode,
    route_unit: String,
}

impl Drive<'_, '_> {
    fn push(&mut self, events: Vec<Event>) {
        for e in events {
            let started = self.case.step_started_at;
            self.case = crate::case::apply(self.case.clone(), &e);
            if self.case.step_started_at != started {
                // A new step: its own cards.
                self.fired = (false, false);
            }
            self.events.push(e);
        }
    }

    /// The supervision clock up to `until`: the cards of the running step that fall due
    /// before it (and before the end of the history).
    fn clock(&mut self, until: DateTime<Utc>) {
        let Some(t) = self.h.rules.card_times(&self.case) else {
            return;
        };
        let until = until.min(self.end);
        for (level, due, text) in [
            (
                SuperviseLevel::Yellow,
                t.yellow,
                "到期未办：黄牌督办（自动）",
            ),
            (SuperviseLevel::Red, t.red, "超时未办：红牌督办（自动）"),
        ] {
            let given = match level {
                SuperviseLevel::Red => self.fired.1,
                _ => self.fired.0,
            };
            if given || due >= until {
                continue;
            }
            let cmd = Command::Supervise {
                level,
                text: text.to_owned(),
            };
            // The clock fires a moment after the card falls due.
            let at = due + Duration::seconds(30);
            if at > self.end {
                continue;
            }
            if let Ok(evs) = decide_by_system(&self.case, &cmd, self.h.rules, at) {
                self.push(evs);
                match level {
                    SuperviseLevel::Red => self.fired.1 = true,
                    _ => self.fired.0 = true,
                }
            }
        }
    }

    /// Wait for the next action: a fraction of the running step's limit (`late`: past it),
    /// moved into working hours. Stops the case when that falls after the end.
    fn wait(&mut self, rng: &mut Rng, late_share: f64) -> bool {
        let limit = match (self.case.step_started_at, self.case.deadline) {
            (Some(s), Some(d)) if d > s => d - s,
            _ => Duration::hours(4),
        };
        let frac = if chance(rng, late_share) {
            1.1 + 2.0 * unit(rng)
        } else {
            0.05 + 0.6 * unit(rng) * unit(rng).sqrt()
        };
        let secs = (limit.num_seconds() as f64 * frac).max(60.0) as i64;
        let mut next = self.now + Duration::seconds(secs);
        next = self.in_working_hours(rng, next);
        self.clock(next);
        if next > self.end {
            self.stopped = true;
            return false;
        }
        self.now = next.max(self.case.updated_at);
        true
    }

    fn in_working_hours(&self, rng: &mut Rng, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&china_offset());
        let minute = local.hour() * 60 + local.minute();
        let mut day = local.date_naive();
        let in_hours = (510..1080).contains(&minute);
        if in_hours && self.h.rules.calendar.is_working_day(day) {
            return t;
        }
        if minute >= 1080 {
            day += Duration::days(1);
        }
        let mut guard = 0;
        while !self.h.rules.calendar.is_working_day(day) && guard < 20 {
            day += Duration::days(1);
            guard += 1;
        }
        local_midnight(day) + Duration::minutes(510 + below(rng, 150) as i64)
    }

    fn act(&mut self, by: Option<Actor>, cmd: Command) -> bool {
        let Some(by) = by else { return false };
        match decide(&self.case, &cmd, &by, self.h.rules, self.now) {
            Ok(evs) => {
                self.push(evs);
                true
            }
            Err(_) => false,
        }
    }

    fn centre(&self) -> Option<Actor> {
        self.h.actor_of_unit(self.case.centre.as_str())
    }

    fn handler(&self) -> Option<Actor> {
        self.h.actor_of_unit(&self.case.handling_unit)
    }

    /// Where the owning centre sends the case: the category's department at the centre, the
    /// case's grid, or the centre of the village it is in.
    fn dispatch_target(&self, rng: &mut Rng) -> Option<UnitRef> {
        let centre = &self.case.centre;
        if self.route_unit != centre.as_str()
            && let Some(u) = self.h.units.get(&self.route_unit)
            && u.kind == UnitKind::Department
            && u.territory == *centre
        {
            return Some(UnitRef::department(
                centre,
                self.route_unit.rsplit('-').next()?,
            ));
        }
        let grid_below = self.case.territory.level() >= Level::Grid
            && centre.covers(&self.grid)
            && *centre != self.grid;
        if grid_below && chance(rng, 0.6) {
            return Some(UnitRef::grid(&self.grid));
        }
        let village = self
            .case
            .territory
            .ancestors_and_self()
            .into_iter()
            .find(|c| c.level() == Level::Village)?;
        if village != *centre
            && centre.covers(&village)
            && self.h.units.contains_key(village.as_str())
        {
            return Some(UnitRef::centre(&village));
        }
        grid_below.then(|| UnitRef::grid(&self.grid))
    }

    fn run(&mut self, rng: &mut Rng) {
        // A few cases stall somewhere and stay open (and run late).
        let stall_after = if chance(rng, 0.02) {
            Some(1 + below(rng, 5))
        } else {
            None
        };
        let late = if chance(rng, 0.1) { 0.6 } else { 0.04 };
        for step in 0..40 {
            if self.case.status.is_terminal() || self.stopped {
                break;
            }
            if stall_after == Some(step) {
                self.clock(self.end);
                self.stopped = true;
                break;
            }
            if !self.wait(rng, late) {
                break;
            }
            if let Some(p) = self.case.pending_extension.clone() {
                let by = if p.by_centre {
                    self.h.leader_of(&self.case.centre)
                } else {
                    self.centre()
                };
                let approve = chance(rng, 0.85);
                if !self.act(by, Command::DecideExtension { approve }) {
                    break;
                }
                continue;
            }
            if chance(rng, 0.01) {
                let by = self.h.leader_of(&self.case.centre);
                self.act(
                    by,
                    Command::Supervise {
                        level: SuperviseLevel::Normal,
                        text: "请抓紧办理，按时反馈".into(),
                    },
                );
                continue;
            }
            let ok = match self.case.status {
                Status::Submitted => self.submitted(rng),
                Status::Accepted => self.accepted(rng),
                Status::Dispatched => self.dispatched(rng),
                Status::InProgress => self.in_progress(rng),
                Status::Handled => {
                    let passed = self.case.rework_count > 0 || chance(rng, 0.94);
                    self.act(self.centre(), Command::Verify { passed })
                }
                Status::Revisit => self.revisit(rng),
                Status::Parked => self.act(self.centre(), Command::Resume),
                Status::Closed | Status::Rejected | Status::Merged => false,
            };
            if !ok {
                break;
            }
        }
        if !self.case.status.is_terminal() {
            self.clock(self.end);
        }
    }

    fn submitted(&mut self, rng: &mut Rng) -> bool {
        let x = unit(rng);
        if x < 0.02 {
            return self.act(
                self.centre(),
                Command::Reject {
                    reason: "不属于综治中心受理范围".into(),
                    redirect: Some("12345热线".into()),
                },
            );
        }
        if x < 0.025 && self.case.id > self.h.spec.first_id {
            return self.act(
                self.centre(),
                Command::Merge {
                    into: self.case.id - 1,
                },
            );
        }
        if self.case.channel == Channel::FieldApp
            && self.case.territory.level() >= Level::Grid
            && x < 0.2
        {
            let worker = self.h.actor_of_unit(self.grid.as_str());
            if self.act(
                worker,
                Command::SelfHandle {
                    result: HandleResult::Solved,
                    text: "网格员现场处置，问题已解决".into(),
                },
            ) {
                return true;
            }
        }
        self.act(self.centre(), Command::Accept)
    }

    fn accepted(&mut self, rng: &mut Rng) -> bool {
        let x = unit(rng);
        if x < 0.02
            && self.case.escalation_count == 0
            && let Some(parent) = routing::escalation_target(&self.case.centre)
            && self.h.units.contains_key(parent.as_str())
        {
            return self.act(
                self.centre(),
                Command::Escalate {
                    reason: "超出本级处置权限，请上级协调".into(),
                    to: UnitRef::centre(&parent),
                },
            );
        }
        if x < 0.75
            && self.case.centre_dispatch_count < 2
            && let Some(to) = self.dispatch_target(rng)
            && self.act(self.centre(), Command::Dispatch { to })
        {
            return true;
        }
        self.report(rng, self.centre())
    }

    fn dispatched(&mut self, rng: &mut Rng) -> bool {
        let x = unit(rng);
        if x < 0.04 && self.case.sent_back_count == 0 {
            return self.act(
                self.handler(),
                Command::SendBack {
                    reason: "不属于本单位职责，请重新派遣".into(),
                },
            );
        }
        self.act(self.handler(), Command::Sign)
    }

    fn in_progress(&mut self, rng: &mut Rng) -> bool {
        if self.case.extension_days == 0 && chance(rng, 0.04) {
            return self.act(
                self.handler(),
                Command::RequestExtension {
                    working_days: 1 + below(rng, 5) as u32,
                    reason: "需协调多个部门，申请延期".into(),
                },
            );
        }
        self.report(rng, self.handler())
    }

    fn report(&mut self, rng: &mut Rng, by: Option<Actor>) -> bool {
        let result = match weighted(rng, &[86, 10, 4]) {
            0 => HandleResult::Solved,
            1 => HandleResult::PartlySolved,
            _ => HandleResult::Unsolved,
        };
        self.act(
            by,
            Command::ReportHandled {
                result,
                text: "已到现场核实处理，向群众做了解释".into(),
            },
        )
    }

    fn revisit(&mut self, rng: &mut Rng) -> bool {
        if chance(rng, 0.12) {
            return self.act(self.centre(), Command::Close);
        }
        let satisfaction = match weighted(rng, &[36, 46, 13, 5]) {
            0 => Satisfaction::VerySatisfied,
            1 => Satisfaction::Satisfied,
            2 => Satisfaction::Understanding,
            _ => Satisfaction::Unsatisfied,
        };
        self.act(self.centre(), Command::Revisit { satisfaction })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::case::{Action, recount, replay};

    fn small() -> (DemoData, Rules) {
        (
            crate::demo::generate(crate::demo::Scale::Small),
            Rules::gannan_default(),
        )
    }

    fn end() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 20, 7, 30, 0).unwrap()
    }

    #[test]
    fn histories_replay_through_the_engine_and_cover_the_lifecycle() {
        let (data, rules) = small();
        let spec = HistorySpec {
            end: end(),
            days: 45,
            cases: 3000,
            first_id: 1,
            seed: 7,
        };
        let h = History::new(&data, &rules, spec.clone());
        assert_eq!(h.days().len(), 45);
        let planned: u64 = h.days().iter().map(|d| u64::from(d.cases)).sum();
        assert_eq!(planned, 3000);
        let mut statuses: BTreeMap<Status, usize> = BTreeMap::new();
        let mut actions: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut n = 0;
        let mut overdue_open = 0;
        let mut expected_id = 1;
        for i in 0..h.days().len() {
            for c in h.day_cases(i) {
                n += 1;
                assert_eq!(c.case.id, expected_id, "ids follow in creation order");
                expected_id += 1;
                // The stored state is exactly the replay of the history, events in order, none
                // after the end, and the counters are the history's.
                assert_eq!(replay(&c.events).unwrap(), c.case);
                assert!(c.events.windows(2).all(|w| w[0].at <= w[1].at));
                assert!(c.events.iter().all(|e| e.at <= spec.end));
                assert_eq!(c.events.last().unwrap().seq, c.case.version);
                let _ = recount(&c.events);
                *statuses.entry(c.case.status).or_default() += 1;
                for e in &c.events {
                    *actions.entry(e.action()).or_default() += 1;
                }
                if !c.case.status.is_terminal() && c.case.deadline.is_some_and(|d| d < spec.end) {
                    overdue_open += 1;
                }
            }
        }
        assert!(n >= 2900, "nearly every planned case is generated ({n})");
        for s in [
            Status::Closed,
            Status::Rejected,
            Status::Merged,
            Status::Submitted,
            Status::InProgress,
        ] {
            assert!(
                statuses.get(&s).copied().unwrap_or(0) > 0,
                "{s}: {statuses:?}"
            );
        }
        assert!(statuses[&Status::Closed] > n / 2, "{statuses:?}");
        for a in [
            Action::Accept,
            Action::Dispatch,
            Action::Sign,
            Action::ReportHandled,
            Action::Verify,
            Action::Revisit,
            Action::Close,
            Action::SendBack,
            Action::Escalate,
            Action::SelfHandle,
            Action::Supervise,
            Action::RequestExtension,
            Action::DecideExtension,
        ] {
            assert!(actions.contains_key(a.as_str()), "{a}: {actions:?}");
        }
        assert!(overdue_open > 0, "some open cases are overdue");
    }

    #[test]
    fn the_same_spec_gives_the_same_history_and_days_stand_alone() {
        let (data, rules) = small();
        let spec = HistorySpec {
            end: end(),
            days: 10,
            cases: 400,
            first_id: 100,
            seed: 3,
        };
        let a = History::new(&data, &rules, spec.clone());
        let b = History::new(&data, &rules, spec);
        let last = a.days().len() - 1;
        let ca = a.day_cases(last);
        let cb = b.day_cases(last);
        assert_eq!(ca.len(), cb.len());
        for (x, y) in ca.iter().zip(&cb) {
            assert_eq!(x.events, y.events);
            assert_eq!(x.description, y.description);
        }
        assert_eq!(a.day_fieldwork(3), b.day_fieldwork(3));
        assert_eq!(a.days()[0].first_id, 100);
        assert_eq!(a.next_id(), 500);
    }

    #[test]
    fn field_work_has_every_kind_zero_reports_and_missing_people() {
        let (data, rules) = small();
        let spec = HistorySpec {
            end: end(),
            days: 14,
            cases: 10,
            first_id: 1,
            seed: 1,
        };
        let h = History::new(&data, &rules, spec);
        let workers = h.grids.iter().filter(|g| g.worker.is_some()).count();
        let mut kinds = std::collections::BTreeSet::new();
        let (mut reports, mut zero) = (0, 0);
        for i in 0..h.days().len() {
            let (logs, reps) = h.day_fieldwork(i);
            for l in &logs {
                kinds.insert(l.details.kind().as_str());
                assert_eq!(crate::stats::day_of(l.at), l.day);
            }
            assert!(reps.len() < workers, "someone misses every day");
            reports += reps.len();
            zero += reps.iter().filter(|r| r.nothing_to_report).count();
            for r in &reps {
                assert_eq!(r.nothing_to_report, r.text.is_none());
            }
        }
        assert_eq!(kinds.len(), 5, "{kinds:?}");
        assert!(zero > 0 && zero < reports);
    }
}
