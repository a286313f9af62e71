//! Statistics of a territory node over a period (`GET /api/v1/stats`), from rollups kept per
//! (territory node, day) in the same transaction as every case event, work log and daily report.
//!
//! Rollups are stored for the node an item belongs to **and each of its ancestors** (a grid's
//! propaganda session adds one to the grid, its village, township, county and prefecture), so a
//! node's figures for any period are a sum over at most one row per (day, metric) of that node,
//! never a scan of its subtree. The cost is five or six upserts per event instead of one, which
//! the group-commit writer absorbs. Everything here is pure: [`case_rollups`] and
//! [`worklog_rollups`] say what an event adds, [`Figures::compute`] turns sums into figures.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use crate::case::Status;
use crate::clock::china_offset;
use crate::fieldwork::WorklogKind;
use crate::territory::TerritoryCode;

/// Metric names of the rollup table.
pub mod metric {
    /// A case was created (its create event's day).
    pub const CASE_CREATED: &str = "case_created";
    /// A case reached a terminal state (closed, rejected, merged).
    pub const CASE_ENDED: &str = "case_ended";
    /// A case was closed (kept per category: disputes and hazards are told apart at query time).
    pub const CASE_CLOSED: &str = "case_closed";
    /// A case was closed with the result 解决 (solved), per category.
    pub const CASE_SOLVED: &str = "case_solved";
    /// Attendees of propaganda sessions.
    pub const ATTENDEES: &str = "attendees";
    /// A daily report received (counted once per person and day; a replacement adds nothing).
    pub const DAILY_REPORT: &str = "daily_report";
    /// Of the daily reports, the zero reports (零报告).
    pub const ZERO_REPORT: &str = "zero_report";
    /// Prefix of a work-log count: `log:propaganda`, `log:service`, …
    pub const LOG_PREFIX: &str = "log:";
    /// Prefix of an assessment counter of the case engine, by the unit's node: `c:due_accept`, …
    pub const COUNTER_PREFIX: &str = "c:";

    /// The metric counting logs of a kind.
    pub fn log(kind: crate::fieldwork::WorklogKind) -> String {
        format!("{LOG_PREFIX}{}", kind.as_str())
    }
}

/// One change to one rollup row: (node, day, category or "", metric) += delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupDelta {
    pub territory: String,
    pub day: NaiveDate,
    /// The case's category for per-category metrics; empty otherwise.
    pub category: String,
    pub metric: String,
    pub delta: i64,
}

/// The key rollup rows are kept under.
pub type RollupKey = (String, NaiveDate, String, String);

/// The day of an instant in the prefecture's time zone.
pub fn day_of(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_offset()).date_naive()
}

/// The first day of the month of `day`: the key of the monthly rollups.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// A period as the rollups read it: a range of months from the monthly table (the first days
/// of the first and last month, inclusive), plus the days of `days` and minus the days of
/// `minus` from the daily table (inclusive ranges), together every day of the period exactly
/// once. A month the period covers only partly is read by its days, or, when the period holds
/// most of it, as the month less the days it leaves out: a year reads 12 rows per key, and
/// never more than about 15 days at each end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodSplit {
    pub months: Option<(NaiveDate, NaiveDate)>,
    pub days: Vec<(NaiveDate, NaiveDate)>,
    pub minus: Vec<(NaiveDate, NaiveDate)>,
}

/// Split `from..=to` into months and the days to add to them or take away.
pub fn split_period(from: NaiveDate, to: NaiveDate) -> PeriodSplit {
    let mut split = PeriodSplit::default();
    if from > to {
        return split;
    }
    let mut month = month_of(from);
    while month <= to {
        let Some(next) = month.checked_add_months(chrono::Months::new(1)) else {
            break;
        };
        let last_day = next.pred_opt().unwrap_or(month);
        let (a, b) = (from.max(month), to.min(last_day));
        let covered = (b - a).num_days() + 1;
        let left_out = (last_day - month).num_days() + 1 - covered;
        if left_out < covered {
            split.months = Some(split.months.map_or((month, month), |(f, _)| (f, month)));
            if a > month {
                split.minus.push((month, a.pred_opt().unwrap_or(a)));
            }
            if b < last_day {
                split.minus.push((b.succ_opt().unwrap_or(b), last_day));
            }
        } else {
            split.days.push((a, b));
        }
        month = next;
    }
    split
}

/// The node a unit belongs to: a centre's or grid's code is its node's, a department's is
/// `<node>-<slug>`.
pub fn unit_territory(unit: &str) -> Option<TerritoryCode> {
    TerritoryCode::parse(unit.split('-').next().unwrap_or(unit)).ok()
}

fn expand(
    out: &mut Vec<RollupDelta>,
    node: &TerritoryCode,
    day: NaiveDate,
    category: &str,
    metric: &str,
    delta: i64,
) {
    if delta == 0 {
        return;
    }
    for t in node.ancestors_and_self() {
        out.push(RollupDelta {
            territory: t.as_str().to_owned(),
            day,
            category: category.to_owned(),
            metric: metric.to_owned(),
            delta,
        });
    }
}

/// What one event of a case's history contributes.
#[derive(Debug, Clone, Copy)]
pub struct CaseEventFacts<'a> {
    pub from_status: Option<&'a str>,
    pub to_status: &'a str,
    pub at: DateTime<Utc>,
}

/// An assessment counter change of the case engine.
#[derive(Debug, Clone, Copy)]
pub struct CounterFacts<'a> {
    pub unit: &'a str,
    pub day: NaiveDate,
    pub counter: &'a str,
    pub delta: i64,
}

fn terminal(status: &str) -> bool {
    Status::parse(status)
        .is_some_and(|s| matches!(s, Status::Closed | Status::Rejected | Status::Merged))
}

/// The rollup changes of a write of events to one case (its creation, or a transition).
/// `solved`: the case's result after the write is 解决 (only read when an event closes it; a
/// closed case is terminal, so the state after the write is the state it closed in).
pub fn case_rollups(
    territory: &TerritoryCode,
    category: &str,
    events: &[CaseEventFacts<'_>],
    solved: bool,
    counters: &[CounterFacts<'_>],
) -> Vec<RollupDelta> {
    let mut out = Vec::new();
    for e in events {
        let day = day_of(e.at);
        if e.from_status.is_none() {
            expand(&mut out, territory, day, "", metric::CASE_CREATED, 1);
        }
        let was_terminal = e.from_status.is_some_and(terminal);
        if terminal(e.to_status) && !was_terminal {
            expand(&mut out, territory, day, "", metric::CASE_ENDED, 1);
            if e.to_status == Status::Closed.as_str() {
                expand(&mut out, territory, day, category, metric::CASE_CLOSED, 1);
                if solved {
                    expand(&mut out, territory, day, category, metric::CASE_SOLVED, 1);
                }
            }
        }
    }
    for c in counters {
        if let Some(node) = unit_territory(c.unit) {
            let m = format!("{}{}", metric::COUNTER_PREFIX, c.counter);
            expand(&mut out, &node, c.day, "", &m, c.delta);
        }
    }
    out
}

/// The rollup changes of a new work log.
pub fn worklog_rollups(
    territory: &TerritoryCode,
    day: NaiveDate,
    kind: WorklogKind,
    attendees: u32,
) -> Vec<RollupDelta> {
    let mut out = Vec::new();
    expand(&mut out, territory, day, "", &metric::log(kind), 1);
    expand(
        &mut out,
        territory,
        day,
        "",
        metric::ATTENDEES,
        i64::from(attendees),
    );
    out
}

/// The rollup changes of a daily report: a first report of (person, day) counts one (and one
/// zero report when it is one); a replacement only moves the zero-report count.
pub fn daily_report_rollups(
    territory: &TerritoryCode,
    day: NaiveDate,
    previous_zero: Option<bool>,
    zero: bool,
) -> Vec<RollupDelta> {
    let mut out = Vec::new();
    let z = i64::from(zero);
    match previous_zero {
        None => {
            expand(&mut out, territory, day, "", metric::DAILY_REPORT, 1);
            expand(&mut out, territory, day, "", metric::ZERO_REPORT, z);
        }
        Some(before) => expand(
            &mut out,
            territory,
            day,
            "",
            metric::ZERO_REPORT,
            z - i64::from(before),
        ),
    }
    out
}

/// Sum deltas by key, dropping zeros: one upsert per key.
pub fn summed(deltas: impl IntoIterator<Item = RollupDelta>) -> BTreeMap<RollupKey, i64> {
    let mut sums = BTreeMap::new();
    for d in deltas {
        *sums
            .entry((d.territory, d.day, d.category, d.metric))
            .or_insert(0) += d.delta;
    }
    sums.retain(|_, n| *n != 0);
    sums
}

/// Sums of a node's rollups: per (category, metric) over the period, and the running totals of
/// created and ended cases up to the period's last day (for the cases open then).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums {
    pub period: BTreeMap<(String, String), i64>,
    pub created_to_end: i64,
    pub ended_to_end: i64,
}

impl Sums {
    /// A period metric summed over every category.
    pub fn total(&self, metric: &str) -> i64 {
        self.period
            .iter()
            .filter(|((_, m), _)| m == metric)
            .map(|(_, n)| n)
            .sum()
    }

    /// A period metric summed over the categories `pick` chooses.
    pub fn over(&self, metric: &str, pick: impl Fn(&str) -> bool) -> i64 {
        self.period
            .iter()
            .filter(|((c, m), _)| m == metric && pick(c))
            .map(|(_, n)| n)
            .sum()
    }
}

/// The org counts of a node (its subtree), for households, members and expected reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrgCounts {
    pub households: i64,
    pub members: i64,
    /// Grid workers and household heads expected to report daily: one per grid, one per group.
    pub reporters: i64,
}

/// The figures of `GET /api/v1/stats` for one node (without its code and period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub cases_total: i64,
    pub cases_open: i64,
    pub cases_closed: i64,
    pub cases_overdue: i64,
    pub propaganda_sessions: i64,
    pub propaganda_attendees: i64,
    pub services_done: i64,
    pub visits: i64,
    pub hazard_inspections: i64,
    pub dispute_screenings: i64,
    pub problems_solved: i64,
    pub hazards_fixed: i64,
    pub disputes_closed: i64,
    pub disputes_resolved: i64,
    pub dispute_resolution_rate: Option<f64>,
    pub timely_accept_rate: Option<f64>,
    pub timely_sign_rate: Option<f64>,
    pub on_time_close_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub households: i64,
    pub members: i64,
    pub daily_reports_expected: i64,
    pub daily_reports_received: i64,
    pub zero_reports: i64,
}

/// `num / den` in [0, 1], or `None` when nothing was due.
pub fn rate(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| (num as f64 / den as f64).clamp(0.0, 1.0))
}

/// How the categories of cases count: disputes (化解) and safety hazards (排查整治).
pub trait CategoryClass {
    fn is_dispute(&self, category: &str) -> bool;
    fn is_hazard(&self, category: &str) -> bool;
}

impl Figures {
    /// The figures from a node's sums. `overdue` is counted live (open cases past their running
    /// step's deadline now); `days` is the number of days of the period.
    pub fn compute(
        s: &Sums,
        org: OrgCounts,
        overdue: i64,
        days: i64,
        class: &dyn CategoryClass,
    ) -> Figures {
        let c = |name: &str| s.total(&format!("{}{name}", metric::COUNTER_PREFIX));
        let log = |k: WorklogKind| s.total(&metric::log(k));
        let disputes_closed = s.over(metric::CASE_CLOSED, |cat| class.is_dispute(cat));
        let disputes_resolved = s.over(metric::CASE_SOLVED, |cat| class.is_dispute(cat));
        Figures {
            cases_total: s.total(metric::CASE_CREATED),
            cases_open: s.created_to_end - s.ended_to_end,
            cases_closed: s.total(metric::CASE_CLOSED),
            cases_overdue: overdue,
            propaganda_sessions: log(WorklogKind::Propaganda),
            propaganda_attendees: s.total(metric::ATTENDEES),
            services_done: log(WorklogKind::Service),
            visits: log(WorklogKind::Visit),
            hazard_inspections: log(WorklogKind::HazardInspection),
            dispute_screenings: log(WorklogKind::DisputeScreening),
            problems_solved: s.total(metric::CASE_SOLVED),
            hazards_fixed: s.over(metric::CASE_SOLVED, |cat| class.is_hazard(cat)),
            disputes_closed,
            disputes_resolved,
            dispute_resolution_rate: rate(disputes_resolved, disputes_closed),
            timely_accept_rate: rate(c("accepted_on_time"), c("due_accept")),
            timely_sign_rate: rate(c("signed_on_time"), c("due_sign")),
            on_time_close_rate: rate(c("closed_on_time"), c("due_close")),
            rework_rate: rate(c("rework"), c("due_close")),
            satisfaction_rate: rate(c("satisfied"), c("revisited")),
            households: org.households,
            members: org.members,
            daily_reports_expected: org.reporters * days.max(0),
            daily_reports_received: s.total(metric::DAILY_REPORT),
            zero_reports: s.total(metric::ZERO_REPORT),
        }
    }

    /// The counts of `self` less those of `others` (what a node holds itself, outside every
    /// child: cases reported at a village without a grid, a county department's counters).
    /// Rates are recomputed by the caller; here they are dropped.
    pub fn minus_counts(&self, others: &[&Figures]) -> Figures {
        let sub = |f: fn(&Figures) -> i64| f(self) - others.iter().map(|o| f(o)).sum::<i64>();
        Figures {
            cases_total: sub(|f| f.cases_total),
            cases_open: sub(|f| f.cases_open),
            cases_closed: sub(|f| f.cases_closed),
            cases_overdue: sub(|f| f.cases_overdue),
            propaganda_sessions: sub(|f| f.propaganda_sessions),
            propaganda_attendees: sub(|f| f.propaganda_attendees),
            services_done: sub(|f| f.services_done),
            visits: sub(|f| f.visits),
            hazard_inspections: sub(|f| f.hazard_inspections),
            dispute_screenings: sub(|f| f.dispute_screenings),
            problems_solved: sub(|f| f.problems_solved),
            hazards_fixed: sub(|f| f.hazards_fixed),
            disputes_closed: sub(|f| f.disputes_closed),
            disputes_resolved: sub(|f| f.disputes_resolved),
            dispute_resolution_rate: None,
            timely_accept_rate: None,
            timely_sign_rate: None,
            on_time_close_rate: None,
            rework_rate: None,
            satisfaction_rate: None,
            households: sub(|f| f.households),
            members: sub(|f| f.members),
            daily_reports_expected: sub(|f| f.daily_reports_expected),
            daily_reports_received: sub(|f| f.daily_reports_received),
            zero_reports: sub(|f| f.zero_reports),
        }
    }

    /// Whether every count is zero.
    pub fn is_empty(&self) -> bool {
        self.minus_counts(&[self]) == *self
    }
}

/// The top-level category of a code: its first two segments (`attention.security` for
/// `attention.security.theft`), or the code itself when it has fewer.
pub fn top_category(code: &str) -> &str {
    match code.match_indices('.').nth(1) {
        Some((i, _)) => &code[..i],
        None => code,
    }
}

/// Counts by code, in order.
pub type Counted = Vec<(String, u64)>;

/// Cases by category for a chart: the counts summed by top-level category, and the `n` most
/// frequent categories as given; both most cases first, ties by code, zeros dropped.
pub fn category_breakdown(counts: &[(String, u64)], n: usize) -> (Counted, Counted) {
    let mut top: BTreeMap<String, u64> = BTreeMap::new();
    for (c, k) in counts {
        *top.entry(top_category(c).to_owned()).or_default() += k;
    }
    let order = |v: &mut Vec<(String, u64)>| {
        v.retain(|(_, k)| *k > 0);
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    };
    let mut top: Vec<(String, u64)> = top.into_iter().collect();
    order(&mut top);
    let mut leaves: Vec<(String, u64)> = counts.to_vec();
    order(&mut leaves);
    leaves.truncate(n);
    (top, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_period_covers_every_day_once_and_reads_few_days() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // Most of January and a third of March: January less its first days, March by its days.
        assert_eq!(
            split_period(d("2026-01-05"), d("2026-03-10")),
            PeriodSplit {
                months: Some((d("2026-01-01"), d("2026-02-01"))),
                days: vec![(d("2026-03-01"), d("2026-03-10"))],
                minus: vec![(d("2026-01-01"), d("2026-01-04"))],
            }
        );
        assert_eq!(
            split_period(d("2026-01-01"), d("2026-12-31")),
            PeriodSplit {
                months: Some((d("2026-01-01"), d("2026-12-01"))),
                ..PeriodSplit::default()
            }
        );
        // Most of a month inside it: the month less both ends.
        assert_eq!(
            split_period(d("2026-02-03"), d("2026-02-27")),
            PeriodSplit {
                months: Some((d("2026-02-01"), d("2026-02-01"))),
                days: vec![],
                minus: vec![
                    (d("2026-02-01"), d("2026-02-02")),
                    (d("2026-02-28"), d("2026-02-28"))
                ],
            }
        );
        assert_eq!(split_period(d("2026-02-10"), d("2026-02-12")).months, None);
        assert_eq!(
            split_period(d("2026-02-03"), d("2026-02-01")),
            PeriodSplit::default()
        );
        // Every period within a span of leap-year months: each day of it counted once, no other
        // day counted, at most about half a month of days read at each end.
        let start = d("2027-12-01");
        for a in 0..160 {
            for len in [
                0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 45, 59, 60, 61, 90, 120, 160,
            ] {
                let from = start + chrono::Duration::days(a);
                let to = from + chrono::Duration::days(len);
                let split = split_period(from, to);
                let mut seen: BTreeMap<NaiveDate, i32> = BTreeMap::new();
                let mut read = 0;
                for ((f, t), sign) in split
                    .days
                    .iter()
                    .map(|r| (r, 1))
                    .chain(split.minus.iter().map(|r| (r, -1)))
                {
                    let mut x = *f;
                    while x <= *t {
                        *seen.entry(x).or_insert(0) += sign;
                        read += 1;
                        x = x.succ_opt().unwrap();
                    }
                }
                if let Some((f, l)) = split.months {
                    let mut m = f;
                    while m <= l {
                        assert_eq!(m.day(), 1);
                        let mut x = m;
                        while month_of(x) == m {
                            *seen.entry(x).or_insert(0) += 1;
                            x = x.succ_opt().unwrap();
                        }
                        m = m.checked_add_months(chrono::Months::new(1)).unwrap();
                    }
                }
                seen.retain(|_, n| *n != 0);
                let want = (len + 1) as usize;
                assert_eq!(seen.len(), want, "{from}..{to}: {split:?}");
                assert!(seen.values().all(|n| *n == 1), "{from}..{to}: {split:?}");
                assert!(*seen.keys().next().unwrap() == from && *seen.keys().last().unwrap() == to);
                assert!(read <= 31, "{from}..{to} reads {read} days: {split:?}");
            }
        }
    }

    #[test]
    fn categories_sum_to_their_top_level_and_the_leaves_are_the_most_frequent() {
        assert_eq!(
            top_category("attention.security.theft"),
            "attention.security"
        );
        assert_eq!(top_category("service"), "service");
        let c = |s: &str, n: u64| (s.to_owned(), n);
        let counts = vec![
            c("attention.security.theft", 3),
            c("attention.security.fraud", 2),
            c("attention.dispute.land", 4),
            c("service.help", 1),
            c("service.other", 0),
        ];
        let (top, leaves) = category_breakdown(&counts, 2);
        assert_eq!(
            top,
            vec![
                c("attention.security", 5),
                c("attention.dispute", 4),
                c("service.help", 1)
            ]
        );
        assert_eq!(
            leaves,
            vec![
                c("attention.dispute.land", 4),
                c("attention.security.theft", 3)
            ]
        );
        let total: u64 = top.iter().map(|x| x.1).sum();
        assert_eq!(total, 10);
    }
    use chrono::TimeZone;

    fn code(s: &str) -> TerritoryCode {
        TerritoryCode::parse(s).unwrap()
    }

    #[test]
    fn a_case_counts_at_its_node_and_every_ancestor_on_shanghai_days() {
        // 2026-11-30 17:00 UTC is 2026-12-01 01:00 in Shanghai.
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 17, 0, 0).unwrap();
        let d = case_rollups(
            &code("623027202201001"),
            "management.safety.fire",
            &[
                CaseEventFacts {
                    from_status: None,
                    to_status: "submitted",
                    at,
                },
                CaseEventFacts {
                    from_status: Some("revisit"),
                    to_status: "closed",
                    at,
                },
            ],
            true,
            &[CounterFacts {
                unit: "623027-police",
                day: day_of(at),
                counter: "due_sign",
                delta: 1,
            }],
        );
        let sums = summed(d);
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        for node in [
            "623027202201001",
            "623027202201",
            "623027202",
            "623027",
            "623000",
        ] {
            for (cat, m) in [
                ("", metric::CASE_CREATED),
                ("", metric::CASE_ENDED),
                ("management.safety.fire", metric::CASE_CLOSED),
                ("management.safety.fire", metric::CASE_SOLVED),
            ] {
                assert_eq!(
                    sums.get(&(node.into(), day, cat.into(), m.into())),
                    Some(&1),
                    "{node} {m}"
                );
            }
        }
        // The department's counter goes to its county and up, not to the township.
        assert_eq!(
            sums.get(&("623027".into(), day, String::new(), "c:due_sign".into())),
            Some(&1)
        );
        assert_eq!(
            sums.get(&("623027202".into(), day, String::new(), "c:due_sign".into())),
            None
        );
    }

    #[test]
    fn a_replaced_daily_report_counts_once() {
        let g = code("623027202201001001");
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let all = [
            daily_report_rollups(&g, day, None, false),
            daily_report_rollups(&g, day, Some(false), true),
        ]
        .concat();
        let s = summed(all);
        assert_eq!(
            s[&(
                g.to_string(),
                day,
                String::new(),
                metric::DAILY_REPORT.into()
            )],
            1
        );
        assert_eq!(
            s[&(
                g.to_string(),
                day,
                String::new(),
                metric::ZERO_REPORT.into()
            )],
            1
        );
    }

    struct NoClass;
    impl CategoryClass for NoClass {
        fn is_dispute(&self, c: &str) -> bool {
            c.starts_with("attention.dispute")
        }
        fn is_hazard(&self, _: &str) -> bool {
            false
        }
    }

    #[test]
    fn rates_are_null_without_a_denominator() {
        let mut s = Sums::default();
        let f = Figures::compute(&s, OrgCounts::default(), 0, 1, &NoClass);
        assert_eq!(f.timely_accept_rate, None);
        assert_eq!(f.dispute_resolution_rate, None);
        assert!(f.is_empty());
        s.period.insert((String::new(), "c:due_accept".into()), 4);
        s.period
            .insert((String::new(), "c:accepted_on_time".into()), 3);
        s.period.insert(
            (
                "attention.dispute.pasture".into(),
                metric::CASE_CLOSED.into(),
            ),
            2,
        );
        s.period.insert(
            (
                "attention.dispute.pasture".into(),
                metric::CASE_SOLVED.into(),
            ),
            1,
        );
        s.period
            .insert(("service.x".into(), metric::CASE_SOLVED.into()), 1);
        let f = Figures::compute(&s, OrgCounts::default(), 0, 1, &NoClass);
        assert_eq!(f.timely_accept_rate, Some(0.75));
        assert_eq!(f.dispute_resolution_rate, Some(0.5));
        assert_eq!(f.problems_solved, 2);
        assert!(!f.is_empty());
    }
}
