//! The five full coverages (五个全覆盖, DOMAIN.md §2): what each one counts, as data, so the API,
//! the pages and the exports name them alike.

use serde::Serialize;

/// One coverage figure: how many of `total` are covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Fraction {
    pub covered: i64,
    pub total: i64,
}

impl Fraction {
    /// The share covered, in [0, 1]; `None` when there is nothing to cover.
    pub fn rate(self) -> Option<f64> {
        (self.total > 0).then(|| self.covered as f64 / self.total as f64)
    }

    /// How many are not covered (the length of the gap list).
    pub fn gaps(self) -> i64 {
        self.total - self.covered
    }
}

/// The five coverages, in the order the mechanism names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoverageKind {
    /// Households in a joint-defence group that has a household head (十户联防).
    HouseholdsInGroups,
    /// Monasteries with a paired cadre in force (联寺包僧).
    MonasteriesPaired,
    /// Enterprises with a pairing in force (企业包联).
    EnterprisesPaired,
    /// Households needing care with a pair in force (结对关爱).
    CareHouseholdsPaired,
    /// Villages with a paired department in force (部门包村).
    VillagesPaired,
}

impl CoverageKind {
    pub const ALL: [CoverageKind; 5] = [
        CoverageKind::HouseholdsInGroups,
        CoverageKind::MonasteriesPaired,
        CoverageKind::EnterprisesPaired,
        CoverageKind::CareHouseholdsPaired,
        CoverageKind::VillagesPaired,
    ];

    /// The JSON name (CONTRACT.md `GET /api/v1/coverage`).
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageKind::HouseholdsInGroups => "households_in_groups",
            CoverageKind::MonasteriesPaired => "monasteries_paired",
            CoverageKind::EnterprisesPaired => "enterprises_paired",
            CoverageKind::CareHouseholdsPaired => "care_households_paired",
            CoverageKind::VillagesPaired => "villages_paired",
        }
    }

    pub fn parse(s: &str) -> Option<CoverageKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            CoverageKind::HouseholdsInGroups => "十户联防全覆盖",
            CoverageKind::MonasteriesPaired => "联寺包僧全覆盖",
            CoverageKind::EnterprisesPaired => "企业包联全覆盖",
            CoverageKind::CareHouseholdsPaired => "结对关爱全覆盖",
            CoverageKind::VillagesPaired => "部门包村全覆盖",
        }
    }
}

/// Why a household is a gap of 十户联防: in no group, or in a group without a household head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HouseholdGap {
    NoGroup,
    GroupWithoutHead,
}

impl HouseholdGap {
    pub fn of(group: Option<&str>, group_has_head: bool) -> Option<HouseholdGap> {
        match (group, group_has_head) {
            (None, _) => Some(HouseholdGap::NoGroup),
            (Some(_), false) => Some(HouseholdGap::GroupWithoutHead),
            (Some(_), true) => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            HouseholdGap::NoGroup => "no_group",
            HouseholdGap::GroupWithoutHead => "group_without_head",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_gaps() {
        let f = Fraction {
            covered: 3,
            total: 4,
        };
        assert_eq!(f.rate(), Some(0.75));
        assert_eq!(f.gaps(), 1);
        assert_eq!(Fraction::default().rate(), None);
        for k in CoverageKind::ALL {
            assert_eq!(CoverageKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(HouseholdGap::of(None, true), Some(HouseholdGap::NoGroup));
        assert_eq!(
            HouseholdGap::of(Some("g"), false),
            Some(HouseholdGap::GroupWithoutHead)
        );
        assert_eq!(HouseholdGap::of(Some("g"), true), None);
    }
}
