//! The clock rules of a deployment in one value: the working-time calendar, the time limits,
//! the category taxonomy and the supervision thresholds. It is the [`Policy`] the case engine
//! asks for deadlines, and it tells the traffic light and the supervision timers of a case.

use chrono::{DateTime, TimeDelta, Utc};

use crate::calendar::{
    self, Basis, Calendar, CardTimes, ClockPolicy, Light, Limits, Step, TimeLimit,
};
use crate::case::{Case, Policy};
use crate::category::{self, Taxonomy};

/// Everything the clocks of cases depend on; editable by administrators as data.
#[derive(Debug, Clone)]
pub struct Rules {
    pub calendar: Calendar,
    pub limits: Limits,
    pub taxonomy: Taxonomy,
    pub clock: ClockPolicy,
}

impl Rules {
    /// Gannan's defaults: the published 2025–2026 calendar with Losar, the default taxonomy and
    /// its limits, yellow light at 70 %, yellow card at the limit, red card at twice the limit.
    pub fn gannan_default() -> Rules {
        Rules {
            calendar: Calendar::default_gannan(),
            limits: category::default_limits(),
            taxonomy: Taxonomy::new(category::default_taxonomy())
                .expect("the default taxonomy is valid (tested)"),
            clock: ClockPolicy::default(),
        }
    }

    /// The limit of `step` for this case, most specific rule first.
    pub fn limit(&self, case: &Case, step: Step) -> Option<TimeLimit> {
        let profile = self
            .taxonomy
            .get(&case.category)
            .map(|c| c.limit_profile.as_str())
            .unwrap_or("");
        self.limits.lookup(
            &case.category,
            profile,
            case.urgency,
            case.handling_level,
            step,
        )
    }

    fn basis(&self, case: &Case) -> Basis {
        case.step
            .and_then(|s| self.limit(case, s))
            .map(TimeLimit::basis)
            .unwrap_or(Basis::Working)
    }

    /// The traffic light of the running step at `now`; `None` when no clock runs (terminal,
    /// parked, or no limit configured).
    pub fn light(&self, case: &Case, now: DateTime<Utc>) -> Option<Light> {
        if case.status.is_terminal() || case.parked_since.is_some() {
            return None;
        }
        let (start, deadline) = (case.step_started_at?, case.deadline?);
        Some(
            self.clock
                .light(self.basis(case), start, deadline, now, &self.calendar),
        )
    }

    /// When the yellow and red cards of the running step fall due.
    pub fn card_times(&self, case: &Case) -> Option<CardTimes> {
        if case.status.is_terminal() || case.parked_since.is_some() {
            return None;
        }
        let (start, deadline) = (case.step_started_at?, case.deadline?);
        Some(
            self.clock
                .card_times(self.basis(case), start, deadline, &self.calendar),
        )
    }
}

impl Policy for Rules {
    fn deadline(
        &self,
        case: &Case,
        step: Step,
        from: DateTime<Utc>,
        extra_working_days: u32,
    ) -> Option<DateTime<Utc>> {
        let limit = self.limit(case, step)?;
        Some(calendar::deadline(
            limit,
            from,
            &self.calendar,
            extra_working_days,
            TimeDelta::zero(),
        ))
    }

    fn add_working_days(&self, deadline: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        self.calendar.add_working_days(deadline, days)
    }

    fn resume_deadline(
        &self,
        case: &Case,
        step: Step,
        deadline: DateTime<Utc>,
        paused_at: DateTime<Utc>,
        resumed_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let basis = self
            .limit(case, step)
            .map(TimeLimit::basis)
            .unwrap_or(Basis::Working);
        let swallowed = self.calendar.measure(basis, paused_at, resumed_at);
        self.calendar.add(basis, deadline, swallowed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::TerritoryCode;
    use crate::case::CaseCode;
    use crate::case::{Channel, NewCase, Urgency};

    fn new_case(category: &str, urgency: Urgency) -> Case {
        let rules = Rules::gannan_default();
        // Thursday 2026-11-26 10:00 Beijing time.
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
        let (case, _) = Case::create(
            NewCase {
                id: 1,
                code: CaseCode::for_instant(now, 1).unwrap(),
                category: category.into(),
                territory: TerritoryCode::parse("623027202201001").unwrap(),
                centre: TerritoryCode::parse("623027202201").unwrap(),
                urgency,
                channel: Channel::FieldApp,
            },
            None,
            &rules,
            now,
        )
        .unwrap();
        case
    }

    #[test]
    fn every_leaf_category_gets_an_accept_deadline_on_a_working_instant() {
        let rules = Rules::gannan_default();
        for leaf in rules.taxonomy.leaves() {
            for urgency in [Urgency::Normal, Urgency::Urgent] {
                let case = new_case(leaf.code.as_str(), urgency);
                let d = case
                    .deadline
                    .unwrap_or_else(|| panic!("{} has no accept limit", leaf.code));
                assert!(d > case.created_at);
                if rules.basis(&case) == Basis::Working {
                    assert!(
                        rules.calendar.is_working_instant(d)
                            || rules.calendar.is_working_instant(d - TimeDelta::minutes(1)),
                        "{} due at {d}",
                        leaf.code
                    );
                }
            }
        }
    }

    #[test]
    fn the_light_turns_yellow_then_red_and_cards_follow_the_deadline() {
        let rules = Rules::gannan_default();
        let case = new_case("attention.dispute.pasture", Urgency::Normal);
        let start = case.step_started_at.unwrap();
        let deadline = case.deadline.unwrap();
        assert_eq!(rules.light(&case, start), Some(Light::Green));
        assert_eq!(
            rules.light(&case, deadline + TimeDelta::minutes(1)),
            Some(Light::Red)
        );
        let cards = rules.card_times(&case).unwrap();
        assert_eq!(cards.yellow, deadline);
        assert!(cards.red > cards.yellow);
    }
}
