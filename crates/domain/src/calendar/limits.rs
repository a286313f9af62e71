//! Time limits per step, and the rule table that picks one for a case (most specific wins).

use std::collections::BTreeSet;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::{Basis, Calendar, Step, Urgency};
use crate::territory::Level;

/// The unit of a time limit. Working units count only working time on working days; clock units
/// run around the clock, for matters that cannot wait for Monday (an urgent debris-flow report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    WorkingMinutes,
    WorkingHours,
    /// A working day is [`Calendar::working_day_length`] of working time (7 h by default).
    WorkingDays,
    ClockMinutes,
    ClockHours,
}

/// A limit such as "2 working hours" or "5 working days".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeLimit {
    pub amount: u32,
    pub unit: TimeUnit,
}

impl TimeLimit {
    pub const fn new(amount: u32, unit: TimeUnit) -> TimeLimit {
        TimeLimit { amount, unit }
    }
    pub const fn working_minutes(amount: u32) -> TimeLimit {
        TimeLimit::new(amount, TimeUnit::WorkingMinutes)
    }
    pub const fn working_hours(amount: u32) -> TimeLimit {
        TimeLimit::new(amount, TimeUnit::WorkingHours)
    }
    pub const fn working_days(amount: u32) -> TimeLimit {
        TimeLimit::new(amount, TimeUnit::WorkingDays)
    }
    pub const fn clock_minutes(amount: u32) -> TimeLimit {
        TimeLimit::new(amount, TimeUnit::ClockMinutes)
    }
    pub const fn clock_hours(amount: u32) -> TimeLimit {
        TimeLimit::new(amount, TimeUnit::ClockHours)
    }

    pub fn basis(self) -> Basis {
        match self.unit {
            TimeUnit::WorkingMinutes | TimeUnit::WorkingHours | TimeUnit::WorkingDays => {
                Basis::Working
            }
            TimeUnit::ClockMinutes | TimeUnit::ClockHours => Basis::Clock,
        }
    }

    /// The limit as an amount of time on its basis.
    pub fn duration(self, calendar: &Calendar) -> TimeDelta {
        let n = i64::from(self.amount);
        match self.unit {
            TimeUnit::WorkingMinutes | TimeUnit::ClockMinutes => TimeDelta::minutes(n),
            TimeUnit::WorkingHours | TimeUnit::ClockHours => TimeDelta::hours(n),
            TimeUnit::WorkingDays => {
                TimeDelta::seconds(calendar.working_day_length().num_seconds() * n)
            }
        }
    }
}

/// One row of the limit table. Every key left out matches anything.
///
/// `category` matches a category code and everything below it (`attention.dispute` matches
/// `attention.dispute.pasture`); `profile` matches a category's limit profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency: Option<Urgency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    pub step: Step,
    pub limit: TimeLimit,
}

impl LimitRule {
    /// A rule for `step` matching everything, to narrow with the builder methods.
    pub fn any(step: Step, limit: TimeLimit) -> LimitRule {
        LimitRule {
            category: None,
            profile: None,
            urgency: None,
            level: None,
            step,
            limit,
        }
    }
    pub fn category(mut self, code: &str) -> Self {
        self.category = Some(code.to_owned());
        self
    }
    pub fn profile(mut self, profile: &str) -> Self {
        self.profile = Some(profile.to_owned());
        self
    }
    pub fn urgency(mut self, urgency: Urgency) -> Self {
        self.urgency = Some(urgency);
        self
    }
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }

    /// `None` when the rule does not apply; otherwise how specific it is. Keys rank category
    /// (deeper codes first), then profile, then urgency, then level: an urgent rule beats a
    /// level rule, because 加急 must tighten the limit wherever the case is handled.
    fn specificity(
        &self,
        category: &str,
        profile: &str,
        urgency: Urgency,
        level: Level,
        step: Step,
    ) -> Option<(usize, bool, bool, bool)> {
        if self.step != step
            || self.profile.as_deref().is_some_and(|p| p != profile)
            || self.urgency.is_some_and(|u| u != urgency)
            || self.level.is_some_and(|l| l != level)
        {
            return None;
        }
        let depth = match &self.category {
            None => 0,
            Some(c) if covers(c, category) => c.split('.').count(),
            Some(_) => return None,
        };
        Some((
            depth,
            self.profile.is_some(),
            self.urgency.is_some(),
            self.level.is_some(),
        ))
    }

    fn key(
        &self,
    ) -> (
        Option<&str>,
        Option<&str>,
        Option<Urgency>,
        Option<Level>,
        Step,
    ) {
        (
            self.category.as_deref(),
            self.profile.as_deref(),
            self.urgency,
            self.level,
            self.step,
        )
    }
}

/// Whether category code `prefix` is `code` or one of its ancestors.
fn covers(prefix: &str, code: &str) -> bool {
    code == prefix
        || code
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("two limit rules have the same keys (step {step})", step = .0.as_str())]
    Duplicate(Step),
    #[error("a limit of zero for step {}", .0.as_str())]
    Zero(Step),
    #[error("an empty category or profile in a limit rule")]
    EmptyKey,
}

/// The limit table: for a (category, profile, urgency, level, step), the most specific rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<LimitRule>", into = "Vec<LimitRule>")]
pub struct Limits {
    rules: Vec<LimitRule>,
}

impl TryFrom<Vec<LimitRule>> for Limits {
    type Error = LimitsError;

    fn try_from(rules: Vec<LimitRule>) -> Result<Self, Self::Error> {
        Limits::new(rules)
    }
}

impl From<Limits> for Vec<LimitRule> {
    fn from(l: Limits) -> Self {
        l.rules
    }
}

impl Limits {
    pub fn new(rules: Vec<LimitRule>) -> Result<Limits, LimitsError> {
        let mut seen = BTreeSet::new();
        for r in &rules {
            if r.limit.amount == 0 {
                return Err(LimitsError::Zero(r.step));
            }
            if r.category.as_deref() == Some("") || r.profile.as_deref() == Some("") {
                return Err(LimitsError::EmptyKey);
            }
            if !seen.insert(r.key()) {
                return Err(LimitsError::Duplicate(r.step));
            }
        }
        Ok(Limits { rules })
    }

    pub fn rules(&self) -> &[LimitRule] {
        &self.rules
    }

    /// The limit of `step` for a case of category `category` (a code) whose limit profile is
    /// `profile`, handled at `level`; `None` when no rule matches.
    pub fn lookup(
        &self,
        category: &str,
        profile: &str,
        urgency: Urgency,
        level: Level,
        step: Step,
    ) -> Option<TimeLimit> {
        self.rules
            .iter()
            .filter_map(|r| {
                r.specificity(category, profile, urgency, level, step)
                    .map(|s| (s, r.limit))
            })
            .max_by_key(|(s, _)| *s)
            .map(|(_, limit)| limit)
    }

    /// The profiles some rule names.
    pub fn profiles(&self) -> BTreeSet<&str> {
        self.rules
            .iter()
            .filter_map(|r| r.profile.as_deref())
            .collect()
    }
}
