//! Working time in Gannan: the holiday calendar, time limits per step, deadlines and traffic lights.
//!
//! All arithmetic happens in China Standard Time (UTC+8, [`crate::clock::china_offset`]) and is
//! exact to the second; callers pass instants in UTC and get instants in UTC. Working time is the
//! union of the spec's working periods (by default 08:30–12:00 and 14:30–18:00) on working days.
//! A working day is a Monday to Friday that is not a holiday, or a weekend day the State Council
//! moved to a working day (调休上班). Holidays are known for the years in
//! [`published::PUBLISHED_YEARS`]; outside them only weekends are days off, and
//! [`Calendar::is_published`] says so.
//!
//! Deadlines are the earliest instant at which the given amount of working time has run, so a
//! deadline always falls on a working day, inside or at the end of a working period, never on a
//! holiday or at night.

mod limits;
pub mod published;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::clock::china_offset;

pub use limits::{LimitRule, Limits, LimitsError, TimeLimit, TimeUnit};

/// A step of the case loop that runs against its own clock.
///
/// Same names, `ALL`, `as_str`, `parse`, `name_zh` and `Display` as the case engine's
/// vocabulary, so `case::kinds` can re-export this type instead of declaring its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 受理: from submission to acceptance (or rejection).
    Accept,
    /// 签收: from dispatch to sign-for by the addressee.
    Sign,
    /// 办理: from sign-for to the handler's report.
    Handle,
    /// 核查: from the handler's report to verification.
    Verify,
    /// 回访: from verification to the return visit.
    Revisit,
}

impl Step {
    /// Every step, in the order of the loop.
    pub const ALL: &'static [Step] = &[
        Step::Accept,
        Step::Sign,
        Step::Handle,
        Step::Verify,
        Step::Revisit,
    ];

    /// The stable snake_case name used in JSON, the database and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Accept => "accept",
            Step::Sign => "sign",
            Step::Handle => "handle",
            Step::Verify => "verify",
            Step::Revisit => "revisit",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// The Chinese name shown to users.
    pub fn name_zh(self) -> &'static str {
        match self {
            Step::Accept => "受理",
            Step::Sign => "签收",
            Step::Handle => "办理",
            Step::Verify => "核查",
            Step::Revisit => "回访",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a case is (加急 makes it urgent); urgent cases get their category's shorter limits.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
}

impl Urgency {
    pub const ALL: &'static [Urgency] = &[Urgency::Normal, Urgency::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Urgency> {
        Urgency::ALL.iter().copied().find(|x| x.as_str() == s)
    }

    /// The Chinese name shown to users.
    pub fn name_zh(self) -> &'static str {
        match self {
            Urgency::Normal => "一般",
            Urgency::Urgent => "紧急",
        }
    }
}

impl fmt::Display for Urgency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// The spec: what administrators edit.

/// A time of day to the minute, written `"HH:MM"`; `"24:00"` is allowed as the end of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub const MIDNIGHT: TimeOfDay = TimeOfDay(0);
    pub const END_OF_DAY: TimeOfDay = TimeOfDay(24 * 60);

    /// `None` unless `hour:minute` is a time of day (24:00 included).
    pub fn new(hour: u32, minute: u32) -> Option<TimeOfDay> {
        let m = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && m <= 24 * 60).then_some(TimeOfDay(m as u16))
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl FromStr for TimeOfDay {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CalendarError::BadTime(s.to_owned());
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u32 = h.parse().map_err(|_| bad())?;
        let m: u32 = m.parse().map_err(|_| bad())?;
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One working period of a working day, `[start, end)` local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingPeriod {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

/// A named run of days, both ends included; `to` defaults to `from` (a single day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaySpan {
    pub name: String,
    pub from: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

impl DaySpan {
    pub fn new(name: impl Into<String>, from: NaiveDate, to: NaiveDate) -> DaySpan {
        DaySpan {
            name: name.into(),
            from,
            to: (to != from).then_some(to),
        }
    }

    pub fn last(&self) -> NaiveDate {
        self.to.unwrap_or(self.from)
    }

    /// Every day of the span, in order.
    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(move |d| *d <= self.last())
    }
}

/// The editable description of a working-time calendar (what the database stores as JSON).
///
/// Saturday and Sunday are the weekend. A day in `holidays` or `local_holidays` is a day off;
/// a day in `working_days` (调休上班) is a working day even on a weekend. A local holiday wins
/// over a make-up working day; a statutory holiday that is also a make-up day is an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarSpec {
    /// Statutory holidays (放假), as published by the State Council.
    pub holidays: Vec<DaySpan>,
    /// Weekend days that are working days (调休上班).
    pub working_days: Vec<DaySpan>,
    /// Holidays decided locally (藏历新年, 州庆).
    pub local_holidays: Vec<DaySpan>,
    /// The working periods of every working day, in order, not overlapping.
    pub working_hours: Vec<WorkingPeriod>,
    /// Years whose statutory holidays are complete in this spec; outside them only weekends.
    #[serde(default)]
    pub published_years: Vec<i32>,
}

impl CalendarSpec {
    /// Gannan's calendar: the State Council's 2025 and 2026 notices, the prefecture's day, and
    /// `losar_days` days off from Losar's first day (see [`published::LOSAR_FIRST_DAYS`]).
    pub fn gannan(losar_days: u32) -> CalendarSpec {
        use published::{
            LOSAR_FIRST_DAYS, MAKE_UP_WORKING_DAYS, PREFECTURE_DAY, STATUTORY_HOLIDAYS, ymd,
        };
        let span = |(name, from, to): &published::Row| DaySpan::new(*name, ymd(*from), ymd(*to));
        let mut local_holidays: Vec<DaySpan> = LOSAR_FIRST_DAYS
            .iter()
            .filter(|_| losar_days > 0)
            .map(|d| {
                let first = ymd(*d);
                let last = first + TimeDelta::days(i64::from(losar_days) - 1);
                DaySpan::new("藏历新年", first, last)
            })
            .collect();
        local_holidays.extend(
            PREFECTURE_DAY
                .iter()
                .map(|d| DaySpan::new("甘南藏族自治州成立纪念日", ymd(*d), ymd(*d))),
        );
        CalendarSpec {
            holidays: STATUTORY_HOLIDAYS.iter().map(span).collect(),
            working_days: MAKE_UP_WORKING_DAYS.iter().map(span).collect(),
            local_holidays,
            working_hours: default_working_hours(),
            published_years: published::PUBLISHED_YEARS.to_vec(),
        }
    }
}

/// 08:30–12:00 and 14:30–18:00, the usual office hours of Gannan's organs (7 h a day).
pub fn default_working_hours() -> Vec<WorkingPeriod> {
    let t = |h, m| TimeOfDay::new(h, m).expect("literal time of day");
    vec![
        WorkingPeriod {
            start: t(8, 30),
            end: t(12, 0),
        },
        WorkingPeriod {
            start: t(14, 30),
            end: t(18, 0),
        },
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("not a time of day (HH:MM): {0:?}")]
    BadTime(String),
    #[error("a calendar needs at least one working period")]
    NoWorkingHours,
    #[error("working period {start}–{end} is empty, reversed or overlaps the one before")]
    BadPeriod { start: TimeOfDay, end: TimeOfDay },
    #[error("day span {name:?} ends before it starts")]
    ReversedSpan { name: String },
    #[error("{date} is both a statutory holiday and a make-up working day")]
    Conflict { date: NaiveDate },
}

// ---------------------------------------------------------------------------------------------
// The calendar: the spec compiled for fast questions.

/// Whether a day is worked, and why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    Working,
    /// A weekend day moved to a working day (调休上班).
    MakeUpWorking,
    Weekend,
    Holiday,
    LocalHoliday,
}

/// A working-time calendar. Build it from a [`CalendarSpec`]; it serialises back to its spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct Calendar {
    spec: CalendarSpec,
    holidays: BTreeMap<NaiveDate, DayKind>,
    working_days: BTreeSet<NaiveDate>,
    /// Working periods in seconds since local midnight.
    periods: Vec<(i64, i64)>,
    published: BTreeSet<i32>,
}

impl TryFrom<CalendarSpec> for Calendar {
    type Error = CalendarError;

    fn try_from(spec: CalendarSpec) -> Result<Self, Self::Error> {
        Calendar::new(spec)
    }
}

impl From<Calendar> for CalendarSpec {
    fn from(c: Calendar) -> Self {
        c.spec
    }
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar::default_gannan()
    }
}

/// One minute: the precision of limits and of the working hours.
const SECS_PER_MINUTE: i64 = 60;

impl Calendar {
    pub fn new(spec: CalendarSpec) -> Result<Calendar, CalendarError> {
        if spec.working_hours.is_empty() {
            return Err(CalendarError::NoWorkingHours);
        }
        let mut periods = Vec::with_capacity(spec.working_hours.len());
        let mut prev_end = 0;
        for p in &spec.working_hours {
            let (s, e) = (i64::from(p.start.minutes()), i64::from(p.end.minutes()));
            if s >= e || s < prev_end {
                return Err(CalendarError::BadPeriod {
                    start: p.start,
                    end: p.end,
                });
            }
            prev_end = e;
            periods.push((s * SECS_PER_MINUTE, e * SECS_PER_MINUTE));
        }
        let check = |span: &DaySpan| {
            if span.last() < span.from {
                Err(CalendarError::ReversedSpan {
                    name: span.name.clone(),
                })
            } else {
                Ok(())
            }
        };
        let mut working_days = BTreeSet::new();
        for span in &spec.working_days {
            check(span)?;
            working_days.extend(span.days());
        }
        let mut holidays = BTreeMap::new();
        for span in &spec.holidays {
            check(span)?;
            for d in span.days() {
                if working_days.contains(&d) {
                    return Err(CalendarError::Conflict { date: d });
                }
                holidays.insert(d, DayKind::Holiday);
            }
        }
        for span in &spec.local_holidays {
            check(span)?;
            for d in span.days() {
                holidays.entry(d).or_insert(DayKind::LocalHoliday);
            }
        }
        let published = spec.published_years.iter().copied().collect();
        Ok(Calendar {
            spec,
            holidays,
            working_days,
            periods,
            published,
        })
    }

    /// Gannan's default calendar, with [`published::DEFAULT_LOSAR_DAYS`] days of Losar.
    pub fn default_gannan() -> Calendar {
        Calendar::new(CalendarSpec::gannan(published::DEFAULT_LOSAR_DAYS))
            .expect("the built-in Gannan calendar is consistent")
    }

    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// Whether the statutory holidays of `year` are in this calendar. When not, the calendar
    /// still answers, with weekends (and local holidays) only.
    pub fn is_published(&self, year: i32) -> bool {
        self.published.contains(&year)
    }

    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        if let Some(kind) = self.holidays.get(&date) {
            return *kind;
        }
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        match (weekend, self.working_days.contains(&date)) {
            (true, true) => DayKind::MakeUpWorking,
            (true, false) => DayKind::Weekend,
            (false, _) => DayKind::Working,
        }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        matches!(
            self.day_kind(date),
            DayKind::Working | DayKind::MakeUpWorking
        )
    }

    /// The working time of one working day (7 h by default).
    pub fn working_day_length(&self) -> TimeDelta {
        TimeDelta::seconds(self.periods.iter().map(|(s, e)| e - s).sum())
    }

    /// Whether `at` lies within working time: on a working day, inside a period, its end
    /// included (a deadline at 18:00 is within working hours).
    pub fn is_working_instant(&self, at: DateTime<Utc>) -> bool {
        let date = local_date(at);
        self.periods_on(date).any(|(s, e)| s <= at && at <= e)
    }

    /// The working periods of a local date, as UTC instants (none on a day off).
    fn periods_on(
        &self,
        date: NaiveDate,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let working = self.is_working_day(date);
        let midnight = local_midnight_utc(date);
        self.periods
            .iter()
            .filter(move |_| working)
            .filter_map(move |(s, e)| {
                let m = midnight?;
                Some((
                    m.checked_add_signed(TimeDelta::seconds(*s))?,
                    m.checked_add_signed(TimeDelta::seconds(*e))?,
                ))
            })
    }

    /// The earliest instant at or after `from` by which `amount` of working time has run.
    ///
    /// With a zero amount this is the first working instant at or after `from`. A negative
    /// amount counts as zero. Saturates at the end of time.
    pub fn add_working_time(&self, from: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        let mut remaining = amount.max(TimeDelta::zero());
        let mut date = local_date(from);
        loop {
            for (s, e) in self.periods_on(date) {
                if e <= from {
                    continue;
                }
                let s = s.max(from);
                let available = e - s;
                if remaining <= available {
                    return s + remaining;
                }
                remaining -= available;
            }
            // Terminates: the holiday lists are finite, so working days always come again.
            match date.succ_opt() {
                Some(next) => date = next,
                None => return DateTime::<Utc>::MAX_UTC,
            }
        }
    }

    /// `from` plus `hours` working hours.
    pub fn add_working_hours(&self, from: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        self.add_working_time(from, TimeDelta::hours(i64::from(hours)))
    }

    /// `from` plus `n` working days, a working day being [`Calendar::working_day_length`] of
    /// working time: Monday 10:00 + 1 is Tuesday 10:00; a start outside working hours first
    /// moves to the next working instant, so Saturday + 1 is Monday 18:00.
    pub fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let secs = self
            .working_day_length()
            .num_seconds()
            .saturating_mul(i64::from(n));
        self.add_working_time(from, TimeDelta::try_seconds(secs).unwrap_or(TimeDelta::MAX))
    }

    /// The working time between `a` and `b` (zero when `b` is not after `a`).
    pub fn working_duration_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        let mut total = TimeDelta::zero();
        if b <= a {
            return total;
        }
        let last = local_date(b);
        let mut date = local_date(a);
        while date <= last {
            for (s, e) in self.periods_on(date) {
                let (s, e) = (s.max(a), e.min(b));
                if s < e {
                    total += e - s;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// Time between `a` and `b` measured on `basis` (what [`deadline`]'s `parked` expects).
    pub fn measure(&self, basis: Basis, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        match basis {
            Basis::Working => self.working_duration_between(a, b),
            Basis::Clock => (b - a).max(TimeDelta::zero()),
        }
    }

    /// `from` plus `amount` on `basis`.
    pub fn add(&self, basis: Basis, from: DateTime<Utc>, amount: TimeDelta) -> DateTime<Utc> {
        match basis {
            Basis::Working => self.add_working_time(from, amount),
            Basis::Clock => from
                .checked_add_signed(amount.max(TimeDelta::zero()))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_offset()).date_naive()
}

fn local_midnight_utc(date: NaiveDate) -> Option<DateTime<Utc>> {
    let offset = TimeDelta::seconds(i64::from(china_offset().local_minus_utc()));
    date.and_hms_opt(0, 0, 0)?
        .checked_sub_signed(offset)
        .map(|n| n.and_utc())
}

// ---------------------------------------------------------------------------------------------
// Deadlines, lights and supervision.

/// What a limit counts: working time only, or elapsed time around the clock (emergencies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Working,
    Clock,
}

/// The deadline of a step that started at `start` under `limit`.
///
/// `extra_working_days` are the approved extensions (延期). `parked` is the time the case spent
/// parked (挂账) during the step, measured on the limit's basis ([`Calendar::measure`]); it does
/// not count against the limit, so it is added back.
pub fn deadline(
    limit: TimeLimit,
    start: DateTime<Utc>,
    calendar: &Calendar,
    extra_working_days: u32,
    parked: TimeDelta,
) -> DateTime<Utc> {
    let basis = limit.basis();
    let due = calendar.add(basis, start, limit.duration(calendar) + parked);
    if extra_working_days == 0 {
        due
    } else {
        calendar.add_working_days(due, extra_working_days)
    }
}

/// The traffic light of an open step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Light {
    pub fn as_str(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Yellow => "yellow",
            Light::Red => "red",
        }
    }
}

/// An automatic supervision card (督办) for an overdue step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Card {
    Yellow,
    Red,
}

impl Card {
    pub fn as_str(self) -> &'static str {
        match self {
            Card::Yellow => "yellow",
            Card::Red => "red",
        }
    }
}

/// The instants after which each supervision card is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardTimes {
    pub yellow: DateTime<Utc>,
    pub red: DateTime<Utc>,
}

/// Thresholds of the traffic light and of automatic supervision, in percent of the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockPolicy {
    /// Yellow light from this share of the limit used (70).
    pub yellow_light_percent: u32,
    /// Yellow card once this share of the limit has run (100: at the deadline).
    pub yellow_card_percent: u32,
    /// Red card once this share has run (200: twice the limit).
    pub red_card_percent: u32,
}

impl Default for ClockPolicy {
    fn default() -> Self {
        ClockPolicy {
            yellow_light_percent: 70,
            yellow_card_percent: 100,
            red_card_percent: 200,
        }
    }
}

impl ClockPolicy {
    /// Red once `now` is past the deadline; yellow once `yellow_light_percent` of the time from
    /// `start` to `deadline` (measured on `basis`) has run; green before.
    pub fn light(
        &self,
        basis: Basis,
        start: DateTime<Utc>,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Light {
        if now > deadline {
            return Light::Red;
        }
        let total = calendar.measure(basis, start, deadline).num_seconds();
        let used = calendar.measure(basis, start, now).num_seconds();
        if i128::from(used) * 100 >= i128::from(total) * i128::from(self.yellow_light_percent) {
            Light::Yellow
        } else {
            Light::Green
        }
    }

    /// When each card falls due: the limit being the time from `start` to `deadline` on
    /// `basis`, the yellow card after `yellow_card_percent` of it, the red after
    /// `red_card_percent`.
    pub fn card_times(
        &self,
        basis: Basis,
        start: DateTime<Utc>,
        deadline: DateTime<Utc>,
        calendar: &Calendar,
    ) -> CardTimes {
        let limit = calendar.measure(basis, start, deadline);
        let at = |percent: u32| {
            let secs = i128::from(limit.num_seconds()) * i128::from(percent) / 100;
            let secs = i64::try_from(secs).unwrap_or(i64::MAX / 1000);
            let d = TimeDelta::try_seconds(secs).unwrap_or(TimeDelta::MAX);
            calendar.add(basis, start, d)
        };
        CardTimes {
            yellow: at(self.yellow_card_percent),
            red: at(self.red_card_percent),
        }
    }

    /// The strongest card due at `now`, if any: a card is due strictly after its instant
    /// (finishing exactly at the deadline is on time).
    pub fn supervision_due(
        &self,
        basis: Basis,
        start: DateTime<Utc>,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Option<Card> {
        let t = self.card_times(basis, start, deadline, calendar);
        if now > t.red {
            Some(Card::Red)
        } else if now > t.yellow {
            Some(Card::Yellow)
        } else {
            None
        }
    }
}

/// The light of a working-time limit under the default policy (yellow from 70%).
pub fn light(
    start: DateTime<Utc>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Light {
    ClockPolicy::default().light(Basis::Working, start, deadline, now, calendar)
}

/// The card due for a working-time limit under the default policy (yellow at the limit, red at
/// twice the limit).
pub fn supervision_due(
    start: DateTime<Utc>,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Option<Card> {
    ClockPolicy::default().supervision_due(Basis::Working, start, deadline, now, calendar)
}

#[cfg(test)]
mod tests;
