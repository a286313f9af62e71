//! The daily analysis (日研判), pure: what rose today against its 7- and 30-day baselines, tested
//! rather than eyeballed, and which cases cluster in space and time.
//!
//! **Rising.** For one key (a category, a place) with `x` cases today and `b` cases over the
//! `n` baseline days before it, the question is whether today's rate is above the baseline's.
//! Under the null hypothesis of one constant daily rate, the cases of those `n + 1` days are
//! spread over the days uniformly, so conditional on the total `m = x + b`, today's count is
//! Binomial(`m`, 1/(`n` + 1)) (the conditional test for comparing two Poisson rates, exact
//! for any count, with no normal approximation and no unknown rate to estimate). The p-value is
//! the upper tail P(X ≥ x). Many keys are tested each day, so the flags are controlled for the
//! false discovery rate with the Benjamini–Hochberg procedure, and a key also needs a minimum
//! count so that one case where there were none is not news.
//!
//! **Clusters.** Cases closer than `radius_m` in space and `window_hours` in time are linked;
//! a cluster is a connected group of at least `min_cases` (single linkage, as a dispatcher
//! would read a map: "these five reports are the same event").

use chrono::{DateTime, Utc};

/// ln C(m, x), exact enough for any count a day can hold.
fn ln_choose(m: u64, x: u64) -> f64 {
    let x = x.min(m - x);
    (1..=x)
        .map(|i| ((m - x + i) as f64).ln() - (i as f64).ln())
        .sum()
}

/// P(X ≥ x) for X ~ Binomial(m, p), summed exactly from the pmf at `x` upwards.
pub fn binomial_upper_tail(x: u64, m: u64, p: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if x > m {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let ln_pmf = |k: u64| ln_choose(m, k) + k as f64 * p.ln() + (m - k) as f64 * (1.0 - p).ln();
    let ratio = p / (1.0 - p);
    // Sum the side of the distribution that `x` cuts off, starting at its largest term (the
    // one nearest the mean), so nothing underflows: the upper side from x up when x is at or
    // above the mean, else one minus the lower side from x - 1 down.
    if x as f64 >= m as f64 * p {
        let mut term = ln_pmf(x).exp();
        let mut sum = term;
        for k in x..m {
            term *= (m - k) as f64 / (k + 1) as f64 * ratio;
            sum += term;
            if term < sum * 1e-17 {
                break;
            }
        }
        sum.min(1.0)
    } else {
        let mut term = ln_pmf(x - 1).exp();
        let mut sum = term;
        for k in (1..x).rev() {
            term *= k as f64 / (m - k + 1) as f64 / ratio;
            sum += term;
            if term < sum * 1e-17 {
                break;
            }
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

/// The test of one key: `today` cases against `baseline` cases over `baseline_days` days.
#[derive(Debug, Clone, PartialEq)]
pub struct RiseTest {
    pub today: u64,
    pub baseline: u64,
    pub baseline_days: u32,
    /// Cases a day at the baseline's rate.
    pub expected: f64,
    /// One-sided p-value of "today is above the baseline's rate".
    pub p_value: f64,
}

/// Test one key (see the module's note).
pub fn rise_test(today: u64, baseline: u64, baseline_days: u32) -> RiseTest {
    let days = f64::from(baseline_days.max(1));
    let p0 = 1.0 / (days + 1.0);
    RiseTest {
        today,
        baseline,
        baseline_days,
        expected: baseline as f64 / days,
        p_value: binomial_upper_tail(today, today + baseline, p0),
    }
}

/// Which p-values are discoveries at false discovery rate `q` (Benjamini–Hochberg).
pub fn benjamini_hochberg(p_values: &[f64], q: f64) -> Vec<bool> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut cutoff = None;
    for (rank, &i) in order.iter().enumerate() {
        if p_values[i] <= q * (rank + 1) as f64 / m as f64 {
            cutoff = Some(rank);
        }
    }
    let mut out = vec![false; m];
    if let Some(c) = cutoff {
        for &i in &order[..=c] {
            out[i] = true;
        }
    }
    out
}

/// One key's counts: today and each baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCounts<K> {
    pub key: K,
    pub today: u64,
    /// Cases over the 7 days before today.
    pub last_7: u64,
    /// Cases over the 30 days before today.
    pub last_30: u64,
}

/// Settings of [`rising`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiseSettings {
    /// False discovery rate over the day's keys.
    pub fdr: f64,
    /// Fewest cases today for a key to be reported.
    pub min_today: u64,
}

impl Default for RiseSettings {
    fn default() -> Self {
        RiseSettings {
            fdr: 0.05,
            min_today: 3,
        }
    }
}

/// A key that rose.
#[derive(Debug, Clone, PartialEq)]
pub struct Rising<K> {
    pub key: K,
    pub against_7: RiseTest,
    pub against_30: RiseTest,
    /// Which baselines it rose against (`true` when the discovery holds for it).
    pub above_7: bool,
    pub above_30: bool,
}

/// The keys whose count today is significantly above their 7-day or 30-day baseline (each
/// baseline tested over all keys with FDR control), most significant first.
pub fn rising<K: Clone>(keys: &[KeyCounts<K>], s: RiseSettings) -> Vec<Rising<K>> {
    let t7: Vec<RiseTest> = keys
        .iter()
        .map(|k| rise_test(k.today, k.last_7, 7))
        .collect();
    let t30: Vec<RiseTest> = keys
        .iter()
        .map(|k| rise_test(k.today, k.last_30, 30))
        .collect();
    let d7 = benjamini_hochberg(&t7.iter().map(|t| t.p_value).collect::<Vec<_>>(), s.fdr);
    let d30 = benjamini_hochberg(&t30.iter().map(|t| t.p_value).collect::<Vec<_>>(), s.fdr);
    let mut out: Vec<Rising<K>> = keys
        .iter()
        .enumerate()
        .filter(|(i, k)| k.today >= s.min_today && (d7[*i] || d30[*i]))
        .map(|(i, k)| Rising {
            key: k.key.clone(),
            against_7: t7[i].clone(),
            against_30: t30[i].clone(),
            above_7: d7[i],
            above_30: d30[i],
        })
        .collect();
    out.sort_by(|a, b| {
        let pa = a.against_7.p_value.min(a.against_30.p_value);
        let pb = b.against_7.p_value.min(b.against_30.p_value);
        pa.total_cmp(&pb)
    });
    out
}

/// A case placed in space and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting<K> {
    pub key: K,
    pub lat: f64,
    pub lng: f64,
    pub at: DateTime<Utc>,
}

/// Settings of [`clusters`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterSettings {
    pub radius_m: f64,
    pub window_hours: f64,
    pub min_cases: usize,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            radius_m: 500.0,
            window_hours: 24.0,
            min_cases: 3,
        }
    }
}

/// A space-time cluster: its cases (indexes into the input, in input order), centre and span.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub members: Vec<usize>,
    pub lat: f64,
    pub lng: f64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

/// Great-circle distance in metres.
pub fn distance_m(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    const R: f64 = 6_371_008.8;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

fn find(parent: &mut [usize], i: usize) -> usize {
    let mut r = i;
    while parent[r] != r {
        r = parent[r];
    }
    let mut j = i;
    while parent[j] != r {
        let next = parent[j];
        parent[j] = r;
        j = next;
    }
    r
}

/// Space-time clusters of `cases` (see the module's note), largest first. Pairs are only
/// compared within the time window (cases sorted by time), so a day's cases cost little.
pub fn clusters<K>(cases: &[Sighting<K>], s: ClusterSettings) -> Vec<Cluster> {
    let n = cases.len();
    let mut by_time: Vec<usize> = (0..n).collect();
    by_time.sort_by_key(|&i| cases[i].at);
    let window = chrono::Duration::milliseconds((s.window_hours * 3_600_000.0) as i64);
    let mut parent: Vec<usize> = (0..n).collect();
    for (a_pos, &a) in by_time.iter().enumerate() {
        for &b in &by_time[a_pos + 1..] {
            if cases[b].at - cases[a].at > window {
                break;
            }
            if distance_m(cases[a].lat, cases[a].lng, cases[b].lat, cases[b].lng) <= s.radius_m {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                if ra != rb {
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let mut out: Vec<Cluster> = groups
        .into_values()
        .filter(|m| m.len() >= s.min_cases.max(2))
        .map(|members| {
            let k = members.len() as f64;
            let lat = members.iter().map(|&i| cases[i].lat).sum::<f64>() / k;
            let lng = members.iter().map(|&i| cases[i].lng).sum::<f64>() / k;
            let first = members
                .iter()
                .map(|&i| cases[i].at)
                .min()
                .unwrap_or_default();
            let last = members
                .iter()
                .map(|&i| cases[i].at)
                .max()
                .unwrap_or_default();
            Cluster {
                members,
                lat,
                lng,
                first,
                last,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.first.cmp(&b.first))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn binomial_tails_match_known_values() {
        // (x, m, p, P(X >= x)), computed independently (exact sums / R's pbinom).
        let table: &[(u64, u64, f64, f64)] = &[
            (0, 10, 0.3, 1.0),
            (1, 1, 0.5, 0.5),
            (5, 10, 0.5, 0.623_046_875),
            (10, 10, 0.5, 0.000_976_562_5),
            (3, 10, 0.125, 0.119_502_153_247_594_83),
            (8, 16, 0.125, 0.000_300_681_914_392_697_5),
            (11, 10, 0.5, 0.0),
        ];
        for &(x, m, p, want) in table {
            let got = binomial_upper_tail(x, m, p);
            assert!(
                close(got, want, 1e-6),
                "P(X>={x}; {m}, {p}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn a_day_at_the_baseline_rate_is_not_news_and_a_surge_is() {
        // (today, last 7 days, expect p < 0.01)
        let table: &[(u64, u64, bool)] = &[
            (3, 21, false), // three a day, as usual
            (4, 21, false), // a little more
            (0, 21, false),
            (12, 21, true), // four times the rate
            (5, 0, true),   // five where there were none all week
            (1, 0, false),  // one where there were none: could be chance (p = 1/8)
        ];
        for &(today, last_7, surge) in table {
            let t = rise_test(today, last_7, 7);
            assert_eq!(
                t.p_value < 0.01,
                surge,
                "{today} today vs {last_7} in 7 days: p = {}",
                t.p_value
            );
        }
        // One case where none were seen has p = 1/(n+1) exactly.
        assert!(close(rise_test(1, 0, 7).p_value, 0.125, 1e-12));
        assert!(close(rise_test(1, 0, 30).p_value, 1.0 / 31.0, 1e-12));
    }

    #[test]
    fn benjamini_hochberg_picks_the_step_up_set() {
        let p = [0.01, 0.04, 0.03, 0.2, 0.001];
        // Sorted: 0.001, 0.01, 0.03, 0.04, 0.2 vs 0.05*k/5 = 0.01, 0.02, 0.03, 0.04, 0.05:
        // the largest k with p(k) <= qk/m is k = 4 (0.04 <= 0.04).
        assert_eq!(
            benjamini_hochberg(&p, 0.05),
            vec![true, true, true, false, true]
        );
        assert_eq!(benjamini_hochberg(&[0.5, 0.9], 0.05), vec![false, false]);
        assert!(benjamini_hochberg(&[], 0.05).is_empty());
    }

    #[test]
    fn rising_reports_the_surging_keys_most_significant_first() {
        let keys = vec![
            KeyCounts {
                key: "theft",
                today: 14,
                last_7: 14,
                last_30: 60,
            },
            KeyCounts {
                key: "garbage",
                today: 5,
                last_7: 35,
                last_30: 150,
            },
            KeyCounts {
                key: "pasture",
                today: 6,
                last_7: 1,
                last_30: 3,
            },
            KeyCounts {
                key: "fire",
                today: 1,
                last_7: 0,
                last_30: 0,
            },
        ];
        let r = rising(&keys, RiseSettings::default());
        let names: Vec<&str> = r.iter().map(|x| x.key).collect();
        // pasture: p = 8.7e-8 against 30 days; theft: 9.7e-8.
        assert_eq!(names, vec!["pasture", "theft"]);
        assert!(r.iter().all(|x| x.above_7 && x.above_30));
        assert!(close(r[1].against_7.expected, 2.0, 1e-12));
    }

    fn at(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    #[test]
    fn clusters_link_cases_close_in_space_and_time() {
        // 0.001° of latitude is about 111 m.
        let s = |lat: f64, lng: f64, h: i64| Sighting {
            key: (),
            lat,
            lng,
            at: at(h),
        };
        let cases = vec![
            s(34.000, 102.000, 0),
            s(34.002, 102.000, 2),  // 222 m, 2 h: linked to 0
            s(34.004, 102.000, 5),  // 222 m from 1: linked (single linkage)
            s(34.000, 102.000, 40), // same place, two days later: alone
            s(34.100, 102.000, 1),  // 11 km away: alone
            s(35.000, 103.000, 3),
            s(35.000, 103.001, 3), // a pair: below min_cases
        ];
        let c = clusters(&cases, ClusterSettings::default());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].members, vec![0, 1, 2]);
        assert_eq!((c[0].first, c[0].last), (at(0), at(5)));
        assert!(close(c[0].lat, 34.002, 1e-9));
        let pairs = clusters(
            &cases,
            ClusterSettings {
                min_cases: 2,
                ..Default::default()
            },
        );
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1].members, vec![5, 6]);
    }

    #[test]
    fn distances_are_great_circle_metres() {
        assert!(close(distance_m(34.0, 102.0, 34.001, 102.0), 111.2, 0.01));
        assert!(distance_m(34.0, 102.0, 34.0, 102.0).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn tails_are_probabilities_and_fall_with_the_count(m in 0u64..400, p in 0.01f64..0.99) {
            let mut prev = 1.0;
            for x in 0..=m + 1 {
                let t = binomial_upper_tail(x, m, p);
                prop_assert!((0.0..=1.0).contains(&t), "P(X>={x}) = {t}");
                prop_assert!(t <= prev + 1e-12, "not decreasing at {x}: {t} > {prev}");
                prev = t;
            }
        }

        #[test]
        fn tails_sum_the_pmf(m in 1u64..60, p in 0.05f64..0.95, x in 0u64..60) {
            let x = x.min(m);
            // Direct sum of the pmf, each term by its own product (no recurrence).
            let pmf = |k: u64| (ln_choose(m, k) + k as f64 * p.ln() + (m - k) as f64 * (1.0 - p).ln()).exp();
            let want: f64 = (x..=m).map(pmf).sum();
            prop_assert!((binomial_upper_tail(x, m, p) - want).abs() < 1e-9);
        }

        #[test]
        fn more_cases_today_is_never_less_significant(b in 0u64..200, x in 0u64..50) {
            prop_assert!(rise_test(x + 1, b, 7).p_value <= rise_test(x, b, 7).p_value + 1e-12);
            prop_assert!(rise_test(x, b + 1, 30).p_value >= rise_test(x, b, 30).p_value - 1e-12);
        }

        /// Under the null (every case of the n+1 days equally likely on any day), the test
        /// flags a day at level 0.05 no more often than 5 % of the time (it is conservative,
        /// being discrete).
        #[test]
        fn the_test_keeps_its_level_under_the_null(m in 1u64..80) {
            let p0: f64 = 1.0 / 8.0;
            // P(reject) = sum over x of P(X = x) for the x whose p-value is below 0.05.
            let mut reject = 0.0;
            for x in 0..=m {
                if rise_test(x, m - x, 7).p_value < 0.05 {
                    let pmf = (ln_choose(m, x) + x as f64 * p0.ln() + (m - x) as f64 * (1.0 - p0).ln()).exp();
                    reject += pmf;
                }
            }
            prop_assert!(reject <= 0.05 + 1e-9, "size {reject} at m = {m}");
        }

        #[test]
        fn every_cluster_is_connected_and_clusters_are_disjoint(
            pts in proptest::collection::vec((0.0f64..0.02, 0.0f64..0.02, 0i64..72), 0..40)
        ) {
            let cases: Vec<Sighting<()>> = pts.iter().map(|&(a, b, h)| Sighting {
                key: (), lat: 34.0 + a, lng: 102.0 + b, at: at(h),
            }).collect();
            let s = ClusterSettings { min_cases: 2, ..Default::default() };
            let cs = clusters(&cases, s);
            let linked = |i: usize, j: usize| {
                (cases[i].at - cases[j].at).num_milliseconds().abs() <= 24 * 3_600_000
                    && distance_m(cases[i].lat, cases[i].lng, cases[j].lat, cases[j].lng) <= s.radius_m
            };
            let mut seen = std::collections::HashSet::new();
            for c in &cs {
                for &m in &c.members {
                    prop_assert!(seen.insert(m), "case {m} in two clusters");
                    // Every member is linked to another member.
                    prop_assert!(c.members.iter().any(|&o| o != m && linked(m, o)));
                    // No case outside is linked to a member.
                    for o in 0..cases.len() {
                        if !c.members.contains(&o) {
                            prop_assert!(!linked(m, o), "{o} is linked to {m} but outside");
                        }
                    }
                }
            }
        }
    }
}
