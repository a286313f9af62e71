//! Assessment (考核评估, DOMAIN.md §4), pure: a unit's indicators from its assessment counters
//! (see [`crate::case::counter_deltas`]), a configurable weighted score with supervision penalties,
//! and the ranking of units by it.
//!
//! Indicators, each a ratio of counters (null when the denominator is 0):
//! 及时受理率 = 按时受理数 / 应受理数, 及时签收率 = 按时签收数 / 应签收数,
//! 按期办结率 = 按期办结数 / 应办结数, 结案率 = 结案数 / 应办结数, 返工率 = 返工数 / 应办结数,
//! 准确派遣率 = 准确派遣数 / 派遣数, 回访满意率 = 满意数 / 回访数; and from the field (what the
//! case engine's counters do not hold, see [`FieldCounts`]): 化解率 = 成功化解数 / 受理纠纷数
//! (disputes closed as 解决 over disputes closed), 日报率 = 收到日报数 / 应报日报数 (a zero report
//! counts as a report), 零报告率 = 零报告数 / 收到日报数.
//!
//! Score: 100 × the weighted mean of the indicators the unit has (返工率 and 零报告率 enter as
//! 1 − the rate: a day reported as "nothing to report" is a report, and counts fully in 日报率,
//! but a grid that only ever reports nothing while cases arise is the silence the mechanism is
//! there to surface;
//! weights of indicators without a denominator drop out, so a department is not marked down
//! for not accepting cases it never receives), minus the penalty points of the supervision it
//! drew (督办, 黄牌, 红牌), floored at 0. A unit with no indicator at all has no score and is
//! not ranked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::Counter;

/// The indicators of one unit over a period.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Indicators {
    pub timely_accept_rate: Option<f64>,
    pub timely_sign_rate: Option<f64>,
    pub on_time_close_rate: Option<f64>,
    pub close_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub accurate_dispatch_rate: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    /// 化解率 = disputes resolved / disputes closed.
    pub dispute_resolution_rate: Option<f64>,
    /// 日报率 = daily reports received / expected.
    pub daily_report_rate: Option<f64>,
    /// 零报告率 = zero reports / daily reports received.
    pub zero_report_rate: Option<f64>,
}

/// The field figures of a unit or a person over a period, beside the case counters: the
/// disputes of its territory closed and resolved, and the daily reports expected of its people,
/// received, and of those the zero reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FieldCounts {
    pub disputes_closed: i64,
    pub disputes_resolved: i64,
    pub reports_expected: i64,
    pub reports_received: i64,
    pub zero_reports: i64,
}

impl std::ops::AddAssign for FieldCounts {
    fn add_assign(&mut self, o: FieldCounts) {
        self.disputes_closed += o.disputes_closed;
        self.disputes_resolved += o.disputes_resolved;
        self.reports_expected += o.reports_expected;
        self.reports_received += o.reports_received;
        self.zero_reports += o.zero_reports;
    }
}

/// The daily reports one person owes over `from..=to` when `today` is the current day: one a
/// day, none for days still to come (0 when the period has not begun).
pub fn reports_owed(
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    today: chrono::NaiveDate,
) -> i64 {
    let last = to.min(today);
    if last < from {
        0
    } else {
        (last - from).num_days() + 1
    }
}

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| (num as f64 / den as f64).clamp(0.0, 1.0))
}

/// A unit's counters over a period, by counter.
pub type Counts = BTreeMap<Counter, i64>;

/// The indicators of these counts.
pub fn indicators(c: &Counts, f: &FieldCounts) -> Indicators {
    let n = |k: Counter| c.get(&k).copied().unwrap_or(0);
    use Counter as C;
    Indicators {
        timely_accept_rate: ratio(n(C::AcceptedOnTime), n(C::DueAccept)),
        timely_sign_rate: ratio(n(C::SignedOnTime), n(C::DueSign)),
        on_time_close_rate: ratio(n(C::ClosedOnTime), n(C::DueClose)),
        close_rate: ratio(n(C::Closed), n(C::DueClose)),
        rework_rate: ratio(n(C::Rework), n(C::DueClose)),
        accurate_dispatch_rate: ratio(n(C::DispatchedAccurately), n(C::Dispatched)),
        satisfaction_rate: ratio(n(C::Satisfied), n(C::Revisited)),
        dispute_resolution_rate: ratio(f.disputes_resolved, f.disputes_closed),
        daily_report_rate: ratio(f.reports_received, f.reports_expected),
        zero_report_rate: ratio(f.zero_reports, f.reports_received),
    }
}

/// The weights of the score and the penalty points of supervision (configurable by the
/// prefecture; these are the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    pub timely_accept_rate: f64,
    pub timely_sign_rate: f64,
    pub on_time_close_rate: f64,
    pub close_rate: f64,
    /// Applied to 1 − 返工率.
    pub rework_rate: f64,
    pub accurate_dispatch_rate: f64,
    pub satisfaction_rate: f64,
    pub dispute_resolution_rate: f64,
    pub daily_report_rate: f64,
    /// Applied to 1 − 零报告率.
    pub zero_report_rate: f64,
    /// Points off per 督办, 黄牌 and 红牌.
    pub penalty_normal: f64,
    pub penalty_yellow: f64,
    pub penalty_red: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            timely_accept_rate: 15.0,
            timely_sign_rate: 10.0,
            on_time_close_rate: 25.0,
            close_rate: 10.0,
            rework_rate: 10.0,
            accurate_dispatch_rate: 10.0,
            satisfaction_rate: 20.0,
            dispute_resolution_rate: 15.0,
            daily_report_rate: 10.0,
            zero_report_rate: 5.0,
            penalty_normal: 0.5,
            penalty_yellow: 2.0,
            penalty_red: 5.0,
        }
    }
}

/// Why a set of weights is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeightsError(pub String);

impl Weights {
    /// Every weight and penalty finite and not negative, and some weight above 0.
    pub fn check(&self) -> Result<(), WeightsError> {
        let all = [
            self.timely_accept_rate,
            self.timely_sign_rate,
            self.on_time_close_rate,
            self.close_rate,
            self.rework_rate,
            self.accurate_dispatch_rate,
            self.satisfaction_rate,
            self.dispute_resolution_rate,
            self.daily_report_rate,
            self.zero_report_rate,
            self.penalty_normal,
            self.penalty_yellow,
            self.penalty_red,
        ];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(WeightsError(
                "weights and penalties are numbers of 0 or more".into(),
            ));
        }
        if all[..10].iter().all(|w| *w == 0.0) {
            return Err(WeightsError("at least one weight must be above 0".into()));
        }
        Ok(())
    }
}

/// The score of one unit: its weighted indicators and its penalty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Score {
    /// 0–100 before the penalty.
    pub base: f64,
    pub penalty: f64,
    /// `base − penalty`, floored at 0.
    pub score: f64,
}

/// The score of these counts, or `None` when the unit has no indicator.
pub fn score(c: &Counts, f: &FieldCounts, w: &Weights) -> Option<Score> {
    let i = indicators(c, f);
    let parts = [
        (i.timely_accept_rate, w.timely_accept_rate),
        (i.timely_sign_rate, w.timely_sign_rate),
        (i.on_time_close_rate, w.on_time_close_rate),
        (i.close_rate, w.close_rate),
        (i.rework_rate.map(|r| 1.0 - r), w.rework_rate),
        (i.accurate_dispatch_rate, w.accurate_dispatch_rate),
        (i.satisfaction_rate, w.satisfaction_rate),
        (i.dispute_resolution_rate, w.dispute_resolution_rate),
        (i.daily_report_rate, w.daily_report_rate),
        (i.zero_report_rate.map(|r| 1.0 - r), w.zero_report_rate),
    ];
    let (sum, weight) = parts
        .iter()
        .filter_map(|(v, w)| v.map(|v| (v * w, *w)))
        .fold((0.0, 0.0), |(s, t), (a, b)| (s + a, t + b));
    if weight <= 0.0 {
        return None;
    }
    let n = |k: Counter| c.get(&k).copied().unwrap_or(0) as f64;
    let penalty = n(Counter::SupervisedNormal) * w.penalty_normal
        + n(Counter::SupervisedYellow) * w.penalty_yellow
        + n(Counter::SupervisedRed) * w.penalty_red;
    let base = 100.0 * sum / weight;
    Some(Score {
        base,
        penalty,
        score: (base - penalty).max(0.0),
    })
}

/// Rank scored units: highest score first, ties by code; equal scores share a rank
/// (1, 2, 2, 4). Returns (rank, index into `scores`) for every unit with a score.
pub fn rank(scores: &[(String, Option<Score>)]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..scores.len())
        .filter(|&i| scores[i].1.is_some())
        .collect();
    let s = |i: usize| scores[i].1.map(|x| x.score).unwrap_or(0.0);
    order.sort_by(|&a, &b| s(b).total_cmp(&s(a)).then(scores[a].0.cmp(&scores[b].0)));
    let mut out = Vec::with_capacity(order.len());
    for (pos, &i) in order.iter().enumerate() {
        let rank = match out.last() {
            Some(&(r, prev)) if s(prev) == s(i) => r,
            _ => pos + 1,
        };
        out.push((rank, i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONE: FieldCounts = FieldCounts {
        disputes_closed: 0,
        disputes_resolved: 0,
        reports_expected: 0,
        reports_received: 0,
        zero_reports: 0,
    };

    fn counts(pairs: &[(Counter, i64)]) -> Counts {
        pairs.iter().copied().collect()
    }

    #[test]
    fn indicators_are_the_ratios_of_domain_section_4() {
        use Counter as C;
        let c = counts(&[
            (C::DueAccept, 10),
            (C::AcceptedOnTime, 9),
            (C::DueSign, 4),
            (C::SignedOnTime, 4),
            (C::DueClose, 8),
            (C::ClosedOnTime, 6),
            (C::Closed, 7),
            (C::Rework, 2),
            (C::Dispatched, 5),
            (C::DispatchedAccurately, 4),
            (C::Revisited, 5),
            (C::Satisfied, 4),
        ]);
        let i = indicators(&c, &FieldCounts::default());
        assert_eq!(i.timely_accept_rate, Some(0.9));
        assert_eq!(i.timely_sign_rate, Some(1.0));
        assert_eq!(i.on_time_close_rate, Some(0.75));
        assert_eq!(i.close_rate, Some(0.875));
        assert_eq!(i.rework_rate, Some(0.25));
        assert_eq!(i.accurate_dispatch_rate, Some(0.8));
        assert_eq!(i.satisfaction_rate, Some(0.8));
        assert_eq!(
            indicators(&Counts::new(), &FieldCounts::default()),
            Indicators::default()
        );
    }

    #[test]
    fn the_score_weighs_what_the_unit_has_and_takes_off_penalties() {
        use Counter as C;
        let w = Weights::default();
        // A department: only handling figures. On time 1/2, closed 2/2, no rework.
        let c = counts(&[(C::DueClose, 2), (C::ClosedOnTime, 1), (C::Closed, 2)]);
        let s = score(&c, &NONE, &w).unwrap();
        // (0.5·25 + 1·10 + 1·10) / 45 · 100
        assert!((s.base - 100.0 * 32.5 / 45.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.penalty, 0.0);
        let mut carded = c.clone();
        carded.insert(C::SupervisedYellow, 1);
        carded.insert(C::SupervisedRed, 2);
        let s2 = score(&carded, &NONE, &w).unwrap();
        assert!((s2.penalty - 12.0).abs() < 1e-9);
        assert!((s2.score - (s.base - 12.0)).abs() < 1e-9);
        // Penalties never drive a score below 0; nothing to score: no score.
        carded.insert(C::SupervisedRed, 100);
        assert_eq!(score(&carded, &NONE, &w).unwrap().score, 0.0);
        assert_eq!(score(&counts(&[(C::Received, 5)]), &NONE, &w), None);
    }

    #[test]
    fn field_indicators_are_resolution_daily_report_and_zero_report_rates() {
        let f = FieldCounts {
            disputes_closed: 10,
            disputes_resolved: 9,
            reports_expected: 30,
            reports_received: 27,
            zero_reports: 9,
        };
        let i = indicators(&Counts::new(), &f);
        assert_eq!(i.dispute_resolution_rate, Some(0.9));
        assert_eq!(i.daily_report_rate, Some(0.9));
        assert_eq!(i.zero_report_rate, Some(1.0 / 3.0));
        // Nothing closed, nothing expected, nothing received: no rate (not 0).
        let none = indicators(&Counts::new(), &NONE);
        assert_eq!(none.dispute_resolution_rate, None);
        assert_eq!(none.daily_report_rate, None);
        assert_eq!(none.zero_report_rate, None);
        // A grid worker's score by hand: (0.9·15 + 0.9·10 + (1 − 1/3)·5) / 30 · 100.
        let w = Weights::default();
        let s = score(&Counts::new(), &f, &w).unwrap();
        let by_hand = 100.0 * (0.9 * 15.0 + 0.9 * 10.0 + (2.0 / 3.0) * 5.0) / 30.0;
        assert!((s.base - by_hand).abs() < 1e-9, "{s:?} vs {by_hand}");
        // More zero reports (with the same number of reports) lower the score.
        let quieter = FieldCounts {
            zero_reports: 20,
            ..f
        };
        assert!(score(&Counts::new(), &quieter, &w).unwrap().score < s.score);
        let mut sum = f;
        sum += f;
        assert_eq!(sum.reports_expected, 60);
        assert_eq!(indicators(&Counts::new(), &sum), i);
    }

    #[test]
    fn reports_owed_stop_at_today() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            reports_owed(d("2025-10-01"), d("2025-10-31"), d("2025-11-05")),
            31
        );
        assert_eq!(
            reports_owed(d("2025-10-01"), d("2025-10-31"), d("2025-10-10")),
            10
        );
        assert_eq!(
            reports_owed(d("2025-10-01"), d("2025-10-31"), d("2025-09-30")),
            0
        );
    }

    #[test]
    fn weights_are_checked() {
        assert!(Weights::default().check().is_ok());
        let bad = Weights {
            penalty_red: -1.0,
            ..Default::default()
        };
        assert!(bad.check().is_err());
        let zero = Weights {
            timely_accept_rate: 0.0,
            timely_sign_rate: 0.0,
            on_time_close_rate: 0.0,
            close_rate: 0.0,
            rework_rate: 0.0,
            accurate_dispatch_rate: 0.0,
            satisfaction_rate: 0.0,
            dispute_resolution_rate: 0.0,
            daily_report_rate: 0.0,
            zero_report_rate: 0.0,
            ..Default::default()
        };
        assert!(zero.check().is_err());
    }

    #[test]
    fn ranks_are_shared_by_equal_scores() {
        let sc = |v: f64| {
            Some(Score {
                base: v,
                penalty: 0.0,
                score: v,
            })
        };
        let units = vec![
            ("b".to_owned(), sc(80.0)),
            ("a".to_owned(), sc(90.0)),
            ("c".to_owned(), None),
            ("d".to_owned(), sc(80.0)),
            ("e".to_owned(), sc(70.0)),
        ];
        let r = rank(&units);
        let named: Vec<(usize, &str)> = r.iter().map(|&(k, i)| (k, units[i].0.as_str())).collect();
        assert_eq!(named, vec![(1, "a"), (2, "b"), (2, "d"), (4, "e")]);
    }

    proptest! {
        #[test]
        fn scores_stay_between_0_and_100(
            due in 0i64..50, on_time in 0i64..50, rework in 0i64..50,
            revisited in 0i64..50, satisfied in 0i64..50, red in 0i64..5,
        ) {
            use Counter as C;
            let c = counts(&[
                (C::DueClose, due), (C::ClosedOnTime, on_time.min(due)), (C::Closed, due),
                (C::Rework, rework.min(due)), (C::Revisited, revisited),
                (C::Satisfied, satisfied.min(revisited)), (C::SupervisedRed, red),
            ]);
            if let Some(s) = score(&c, &NONE, &Weights::default()) {
                prop_assert!((0.0..=100.0).contains(&s.base));
                prop_assert!((0.0..=100.0).contains(&s.score));
                prop_assert!(s.score <= s.base);
            } else {
                prop_assert!(due == 0 && revisited == 0);
            }
        }

        #[test]
        fn more_on_time_never_lowers_the_score(due in 1i64..40, on_time in 0i64..40) {
            use Counter as C;
            let on_time = on_time.min(due - 1);
            let at = |k: i64| score(&counts(&[(C::DueClose, due), (C::ClosedOnTime, k)]), &NONE, &Weights::default()).unwrap().score;
            prop_assert!(at(on_time + 1) >= at(on_time));
        }
    }
}
