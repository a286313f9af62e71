//! Invariants of the roll call under random batches: the counts always add up to the
//! households, every report lands in history exactly once, and the status that stands is the
//! latest observed, however the reports were split into batches and in whatever order they
//! arrived.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone};
use proptest::prelude::*;

use super::*;

const VILLAGES: [&str; 3] = ["623027202201", "623027202202", "623027202203"];

fn status() -> impl Strategy<Value = RollCallStatus> {
    prop::sample::select(RollCallStatus::ALL.to_vec())
}

/// Households (village index each) and reports (household index, status, distinct minute).
/// Village of each household, raw reports, batch sizes.
type Scenario = (Vec<usize>, Vec<(usize, RollCallStatus, i64)>, Vec<usize>);

fn scenario() -> impl Strategy<Value = Scenario> {
    prop::collection::vec(0..VILLAGES.len(), 1..30).prop_flat_map(|villages| {
        let n = villages.len();
        (
            Just(villages),
            prop::collection::vec((0..n, status(), 0i64..1_000_000), 0..120),
            prop::collection::vec(1usize..20, 1..10),
        )
    })
}

proptest! {
    #[test]
    fn counts_sum_to_households_and_latest_wins((villages, raw, cuts) in scenario()) {
        let t0 = Utc.with_ymd_and_hms(2026, 9, 12, 0, 0, 0).unwrap();
        // Distinct observation times, so "latest" is unambiguous whatever the arrival order.
        let mut seen = std::collections::HashSet::new();
        let reports: Vec<Report> = raw
            .iter()
            .enumerate()
            .filter(|(_, (_, _, m))| seen.insert(*m))
            .map(|(_, (h, s, m))| Report {
                household: *h as i64 + 1,
                status: *s,
                at: t0 + Duration::seconds(*m),
                note: None,
            })
            .collect();
        let mut current: BTreeMap<i64, CurrentEntry> = villages
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (i as i64 + 1, CurrentEntry {
                    household: i as i64 + 1,
                    village: TerritoryCode::parse(VILLAGES[*v]).unwrap(),
                    status: RollCallStatus::Unreached,
                    at: None,
                    version: 0,
                })
            })
            .collect();
        let mut counts: BTreeMap<TerritoryCode, RollCallCounts> = BTreeMap::new();
        for c in current.values() {
            counts.entry(c.village.clone()).or_default().unreached += 1;
        }
        let households_total = villages.len() as i64;
        let mut history = 0usize;
        let mut rest = &reports[..];
        let mut k = 0;
        while !rest.is_empty() {
            let take = cuts[k % cuts.len()].min(rest.len());
            k += 1;
            let (batch, tail) = rest.split_at(take);
            rest = tail;
            let touched: Vec<CurrentEntry> = current
                .values()
                .filter(|c| batch.iter().any(|r| r.household == c.household))
                .cloned()
                .collect();
            let out = roll_call(&touched, batch);
            history += out.recorded.len();
            for (v, d) in &out.deltas {
                prop_assert_eq!(d.total(), 0);
                counts.get_mut(v).unwrap().add(d);
            }
            for (id, c) in out.current {
                current.insert(id, c);
            }
            let total: i64 = counts.values().map(|c| c.total()).sum();
            prop_assert_eq!(total, households_total);
            for c in counts.values() {
                for s in RollCallStatus::ALL {
                    prop_assert!(c.get(s) >= 0);
                }
            }
        }
        prop_assert_eq!(history, reports.len());
        for c in current.values() {
            let latest = reports
                .iter()
                .filter(|r| r.household == c.household)
                .max_by_key(|r| r.at);
            let want = latest.map_or(RollCallStatus::Unreached, |r| r.status);
            prop_assert_eq!(c.status, want);
            let n = reports.iter().filter(|r| r.household == c.household).count();
            prop_assert_eq!(c.version, n as i64);
        }
        // The counters equal a recount of the current statuses.
        let mut recount: BTreeMap<TerritoryCode, RollCallCounts> = BTreeMap::new();
        for c in current.values() {
            let e = recount.entry(c.village.clone()).or_default();
            e.unreached += 1;
            e.moved(RollCallStatus::Unreached, c.status);
        }
        prop_assert_eq!(recount, counts);
    }

    #[test]
    fn area_normalisation_keeps_coverage(picks in prop::collection::vec(0usize..8, 1..8)) {
        let pool = ["623000", "623027", "623027202", "623027202201", "623027202201001",
            "623026", "623027203", "623027202201001001"];
        let codes: Vec<TerritoryCode> =
            picks.iter().map(|i| TerritoryCode::parse(pool[*i]).unwrap()).collect();
        let area = normalize_area(&codes).unwrap();
        for c in &codes {
            prop_assert!(area_covers(&area, c));
        }
        for a in &area {
            prop_assert!(codes.contains(a));
            prop_assert!(!area.iter().any(|b| b != a && b.covers(a)));
        }
    }
}
