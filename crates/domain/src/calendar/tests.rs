use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use proptest::prelude::*;

use super::*;
use crate::territory::Level;

/// A local (UTC+8) wall-clock time as a UTC instant.
fn cst(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    china_offset()
        .with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .expect("valid local time")
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn cal() -> Calendar {
    Calendar::default_gannan()
}

/// The notices, re-typed independently of `published.rs`: each run of days off with the
/// weekdays the notice prints for its first and last day.
type Ymd = (i32, u32, u32);

const NOTICE_HOLIDAYS: &[(Ymd, Weekday, Ymd, Weekday)] = &[
    ((2025, 1, 1), Weekday::Wed, (2025, 1, 1), Weekday::Wed),
    ((2025, 1, 28), Weekday::Tue, (2025, 2, 4), Weekday::Tue),
    ((2025, 4, 4), Weekday::Fri, (2025, 4, 6), Weekday::Sun),
    ((2025, 5, 1), Weekday::Thu, (2025, 5, 5), Weekday::Mon),
    ((2025, 5, 31), Weekday::Sat, (2025, 6, 2), Weekday::Mon),
    ((2025, 10, 1), Weekday::Wed, (2025, 10, 8), Weekday::Wed),
    ((2026, 1, 1), Weekday::Thu, (2026, 1, 3), Weekday::Sat),
    ((2026, 2, 15), Weekday::Sun, (2026, 2, 23), Weekday::Mon),
    ((2026, 4, 4), Weekday::Sat, (2026, 4, 6), Weekday::Mon),
    ((2026, 5, 1), Weekday::Fri, (2026, 5, 5), Weekday::Tue),
    ((2026, 6, 19), Weekday::Fri, (2026, 6, 21), Weekday::Sun),
    ((2026, 9, 25), Weekday::Fri, (2026, 9, 27), Weekday::Sun),
    ((2026, 10, 1), Weekday::Thu, (2026, 10, 7), Weekday::Wed),
];

/// The make-up working days (上班) with the weekday the notice prints.
const NOTICE_WORKING: &[((i32, u32, u32), Weekday)] = &[
    ((2025, 1, 26), Weekday::Sun),
    ((2025, 2, 8), Weekday::Sat),
    ((2025, 4, 27), Weekday::Sun),
    ((2025, 9, 28), Weekday::Sun),
    ((2025, 10, 11), Weekday::Sat),
    ((2026, 1, 4), Weekday::Sun),
    ((2026, 2, 14), Weekday::Sat),
    ((2026, 2, 28), Weekday::Sat),
    ((2026, 5, 9), Weekday::Sat),
    ((2026, 9, 20), Weekday::Sun),
    ((2026, 10, 10), Weekday::Sat),
];

/// Gannan's local days off with the default 3 Losar days and the prefecture's day.
const LOCAL_DAYS_OFF: &[(i32, u32, u32)] = &[
    (2025, 2, 28),
    (2025, 3, 1),
    (2025, 3, 2),
    (2025, 10, 9),
    (2026, 2, 18),
    (2026, 2, 19),
    (2026, 2, 20),
    (2026, 10, 8),
];

fn ymd(t: (i32, u32, u32)) -> NaiveDate {
    date(t.0, t.1, t.2)
}

#[test]
fn the_notices_weekdays_match_the_dates() {
    for (from, wf, to, wt) in NOTICE_HOLIDAYS {
        assert_eq!(ymd(*from).weekday(), *wf, "{from:?}");
        assert_eq!(ymd(*to).weekday(), *wt, "{to:?}");
    }
    for (d, w) in NOTICE_WORKING {
        assert_eq!(ymd(*d).weekday(), *w, "{d:?}");
    }
}

#[test]
fn every_published_holiday_and_make_up_day() {
    let c = cal();
    let mut holidays = std::collections::BTreeSet::new();
    for (from, _, to, _) in NOTICE_HOLIDAYS {
        for d in ymd(*from).iter_days().take_while(|d| *d <= ymd(*to)) {
            assert_eq!(c.day_kind(d), DayKind::Holiday, "{d}");
            assert!(!c.is_working_day(d), "{d}");
            holidays.insert(d);
        }
    }
    // 2025: 1 + 8 + 3 + 5 + 3 + 8; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7.
    assert_eq!(holidays.iter().filter(|d| d.year() == 2025).count(), 28);
    assert_eq!(holidays.iter().filter(|d| d.year() == 2026).count(), 33);
    let mut make_up = std::collections::BTreeSet::new();
    for (d, _) in NOTICE_WORKING {
        assert_eq!(c.day_kind(ymd(*d)), DayKind::MakeUpWorking, "{d:?}");
        assert!(c.is_working_day(ymd(*d)));
        make_up.insert(ymd(*d));
    }
    let local: std::collections::BTreeSet<_> = LOCAL_DAYS_OFF.iter().map(|d| ymd(*d)).collect();
    // Every other day of both years is a plain weekday or weekend: the calendar is exactly the
    // notices plus Gannan's local days.
    for d in date(2025, 1, 1)
        .iter_days()
        .take_while(|d| d.year() <= 2026)
    {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        let expected = if holidays.contains(&d) || local.contains(&d) {
            false
        } else {
            make_up.contains(&d) || !weekend
        };
        assert_eq!(c.is_working_day(d), expected, "{d}");
    }
    assert!(c.is_published(2025) && c.is_published(2026));
    assert!(!c.is_published(2024) && !c.is_published(2027));
}

#[test]
fn built_in_tables_agree_with_the_retyped_notices() {
    let spec = CalendarSpec::gannan(published::DEFAULT_LOSAR_DAYS);
    let spans: Vec<_> = spec.holidays.iter().map(|s| (s.from, s.last())).collect();
    let notice: Vec<_> = NOTICE_HOLIDAYS
        .iter()
        .map(|(f, _, t, _)| (ymd(*f), ymd(*t)))
        .collect();
    assert_eq!(spans, notice);
    let working: Vec<_> = spec.working_days.iter().map(|s| s.from).collect();
    let notice: Vec<_> = NOTICE_WORKING.iter().map(|(d, _)| ymd(*d)).collect();
    assert_eq!(working, notice);
}

#[test]
fn spring_festival_2026() {
    let c = cal();
    // Friday 13 Feb, 17:00: one hour left, then the make-up Saturday 14 Feb.
    assert_eq!(
        c.add_working_hours(cst(2026, 2, 13, 17, 0), 2),
        cst(2026, 2, 14, 9, 30)
    );
    // From the make-up Saturday the next working day is Tuesday 24 Feb (15–23 off; Losar
    // 18–20 falls inside).
    assert_eq!(
        c.add_working_hours(cst(2026, 2, 14, 17, 0), 2),
        cst(2026, 2, 24, 9, 30)
    );
    assert_eq!(
        c.working_duration_between(cst(2026, 2, 14, 18, 0), cst(2026, 2, 24, 8, 30)),
        TimeDelta::zero()
    );
    for d in 15..=23 {
        assert!(!c.is_working_day(date(2026, 2, d)), "Feb {d}");
    }
    assert_eq!(c.day_kind(date(2026, 2, 18)), DayKind::Holiday);
    // The make-up Saturday after the holiday.
    assert!(c.is_working_day(date(2026, 2, 28)));
    assert_eq!(
        c.add_working_hours(cst(2026, 2, 27, 17, 0), 2),
        cst(2026, 2, 28, 9, 30)
    );
}

#[test]
fn national_day_2025_and_the_prefecture_day() {
    let c = cal();
    assert!(c.is_working_day(date(2025, 9, 28)));
    // Tuesday 30 Sep 17:00 + 2 h: 1–8 Oct off, 9 Oct the prefecture's day, so Friday 10 Oct.
    assert_eq!(
        c.add_working_hours(cst(2025, 9, 30, 17, 0), 2),
        cst(2025, 10, 10, 9, 30)
    );
    assert_eq!(c.day_kind(date(2025, 10, 9)), DayKind::LocalHoliday);
    // Saturday 11 Oct is worked.
    assert_eq!(
        c.add_working_days(cst(2025, 10, 10, 9, 30), 1),
        cst(2025, 10, 11, 9, 30)
    );
    // Without the local day, the national calendar alone gives Thursday 9 Oct.
    let mut spec = c.spec().clone();
    spec.local_holidays.clear();
    let national = Calendar::new(spec).expect("valid");
    assert_eq!(
        national.add_working_hours(cst(2025, 9, 30, 17, 0), 2),
        cst(2025, 10, 9, 9, 30)
    );
    // 2026: 1–7 Oct off, 8 Oct the prefecture's day, Friday 9 Oct worked.
    assert_eq!(
        c.add_working_hours(cst(2026, 9, 30, 17, 0), 2),
        cst(2026, 10, 9, 9, 30)
    );
}

#[test]
fn losar_2025_is_a_local_holiday_of_configurable_length() {
    let c = cal();
    assert_eq!(c.day_kind(date(2025, 2, 28)), DayKind::LocalHoliday);
    // Thursday 27 Feb 17:00 + 2 h: Friday 28 Feb is Losar, then the weekend.
    assert_eq!(
        c.add_working_hours(cst(2025, 2, 27, 17, 0), 2),
        cst(2025, 3, 3, 9, 30)
    );
    let none = Calendar::new(CalendarSpec::gannan(0)).expect("valid");
    assert!(none.is_working_day(date(2025, 2, 28)));
    let six = Calendar::new(CalendarSpec::gannan(6)).expect("valid");
    for d in [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 5)] {
        assert!(!six.is_working_day(d), "{d}");
    }
    assert!(six.is_working_day(date(2025, 3, 6)));
    // A long Losar in 2026 runs past the Spring Festival; a local holiday beats a make-up day.
    let long = Calendar::new(CalendarSpec::gannan(11)).expect("valid");
    assert_eq!(long.day_kind(date(2026, 2, 24)), DayKind::LocalHoliday);
    assert_eq!(long.day_kind(date(2026, 2, 28)), DayKind::LocalHoliday);
}

#[test]
fn starts_outside_working_hours() {
    let c = cal();
    // Saturday (plain weekend) + 1 working day: the whole of Monday.
    assert_eq!(
        c.add_working_days(cst(2025, 3, 8, 10, 0), 1),
        cst(2025, 3, 10, 18, 0)
    );
    // Lunch break, early morning, evening.
    assert_eq!(
        c.add_working_hours(cst(2025, 3, 10, 12, 30), 1),
        cst(2025, 3, 10, 15, 30)
    );
    assert_eq!(
        c.add_working_hours(cst(2025, 3, 10, 7, 0), 1),
        cst(2025, 3, 10, 9, 30)
    );
    assert_eq!(
        c.add_working_time(cst(2025, 3, 10, 19, 0), TimeDelta::minutes(30)),
        cst(2025, 3, 11, 9, 0)
    );
    // Zero moves to the next working instant; a period's end is not working time.
    assert_eq!(
        c.add_working_time(cst(2025, 3, 10, 12, 30), TimeDelta::zero()),
        cst(2025, 3, 10, 14, 30)
    );
    assert_eq!(
        c.add_working_time(cst(2025, 3, 10, 12, 0), TimeDelta::zero()),
        cst(2025, 3, 10, 14, 30)
    );
    // Ending exactly at noon stays at noon.
    assert_eq!(
        c.add_working_hours(cst(2025, 3, 10, 11, 0), 1),
        cst(2025, 3, 10, 12, 0)
    );
    // Monday 10:00 + 1 working day is Tuesday 10:00; Friday + 1 is Monday.
    assert_eq!(
        c.add_working_days(cst(2025, 3, 10, 10, 0), 1),
        cst(2025, 3, 11, 10, 0)
    );
    assert_eq!(
        c.add_working_days(cst(2025, 3, 14, 10, 0), 1),
        cst(2025, 3, 17, 10, 0)
    );
    assert_eq!(c.working_day_length(), TimeDelta::hours(7));
}

#[test]
fn working_duration_counts_only_working_time() {
    let c = cal();
    let mon = cst(2025, 3, 10, 0, 0);
    assert_eq!(
        c.working_duration_between(mon, cst(2025, 3, 11, 0, 0)),
        TimeDelta::hours(7)
    );
    // A whole ordinary week: five days.
    assert_eq!(
        c.working_duration_between(mon, cst(2025, 3, 17, 0, 0)),
        TimeDelta::hours(35)
    );
    // 11:00 to 15:00: one hour before noon, half an hour after.
    assert_eq!(
        c.working_duration_between(cst(2025, 3, 10, 11, 0), cst(2025, 3, 10, 15, 0)),
        TimeDelta::minutes(90)
    );
    assert_eq!(
        c.working_duration_between(cst(2025, 3, 10, 15, 0), cst(2025, 3, 10, 11, 0)),
        TimeDelta::zero()
    );
    // Seconds count.
    assert_eq!(
        c.working_duration_between(
            cst(2025, 3, 10, 9, 0),
            cst(2025, 3, 10, 9, 0) + TimeDelta::seconds(61)
        ),
        TimeDelta::seconds(61)
    );
}

#[test]
fn year_boundaries_and_unpublished_years() {
    let c = cal();
    // 2024 is not published: 31 Dec 2024 is a plain Tuesday; 1 Jan 2025 is off.
    assert_eq!(
        c.add_working_hours(cst(2024, 12, 31, 17, 0), 2),
        cst(2025, 1, 2, 9, 30)
    );
    // 2027 is not published: 1 Jan 2027, a Friday, counts as a working day until an
    // administrator adds the 2027 notice.
    assert!(!c.is_published(2027));
    assert!(c.is_working_day(date(2027, 1, 1)));
    assert_eq!(
        c.add_working_hours(cst(2026, 12, 31, 17, 0), 2),
        cst(2027, 1, 1, 9, 30)
    );
    // And its weekends are still off.
    assert!(!c.is_working_day(date(2027, 1, 2)));
    assert_eq!(
        c.working_duration_between(cst(2026, 12, 31, 0, 0), cst(2027, 1, 5, 0, 0)),
        TimeDelta::hours(21)
    );
}

#[test]
fn deadlines_with_extensions_and_parked_time() {
    let c = cal();
    let start = cst(2025, 3, 3, 9, 0); // Monday
    let five = TimeLimit::working_days(5);
    assert_eq!(
        deadline(five, start, &c, 0, TimeDelta::zero()),
        cst(2025, 3, 10, 9, 0)
    );
    assert_eq!(
        deadline(five, start, &c, 2, TimeDelta::zero()),
        cst(2025, 3, 12, 9, 0)
    );
    assert_eq!(
        deadline(five, start, &c, 0, TimeDelta::hours(3)),
        cst(2025, 3, 10, 12, 0)
    );
    assert_eq!(
        deadline(
            TimeLimit::working_minutes(30),
            start,
            &c,
            0,
            TimeDelta::zero()
        ),
        cst(2025, 3, 3, 9, 30)
    );
    // Clock limits run through the night and the weekend.
    let fri_evening = cst(2025, 3, 7, 20, 0);
    assert_eq!(
        deadline(
            TimeLimit::clock_hours(24),
            fri_evening,
            &c,
            0,
            TimeDelta::zero()
        ),
        cst(2025, 3, 8, 20, 0)
    );
    assert_eq!(
        deadline(
            TimeLimit::clock_minutes(30),
            fri_evening,
            &c,
            0,
            TimeDelta::zero()
        ),
        cst(2025, 3, 7, 20, 30)
    );
}

#[test]
fn lights_at_69_70_and_100_percent() {
    let c = cal();
    // Monday 3 March 2025 08:30, 10 working hours = 600 minutes: deadline Tuesday 11:30.
    let start = cst(2025, 3, 3, 8, 30);
    let due = deadline(
        TimeLimit::working_hours(10),
        start,
        &c,
        0,
        TimeDelta::zero(),
    );
    assert_eq!(due, cst(2025, 3, 4, 11, 30));
    // 69% = 414 working minutes = Monday 17:54.
    let at69 = c.add_working_time(start, TimeDelta::minutes(414));
    assert_eq!(at69, cst(2025, 3, 3, 17, 54));
    assert_eq!(light(start, due, at69, &c), Light::Green);
    // 70% = 420 minutes = Monday 18:00, and it stays yellow through the night.
    let at70 = c.add_working_time(start, TimeDelta::minutes(420));
    assert_eq!(at70, cst(2025, 3, 3, 18, 0));
    assert_eq!(
        light(start, due, at70 - TimeDelta::seconds(1), &c),
        Light::Green
    );
    assert_eq!(light(start, due, at70, &c), Light::Yellow);
    assert_eq!(light(start, due, cst(2025, 3, 4, 3, 0), &c), Light::Yellow);
    // 100%: at the deadline still yellow (finishing on time); one second later red.
    assert_eq!(light(start, due, due, &c), Light::Yellow);
    assert_eq!(
        light(start, due, due + TimeDelta::seconds(1), &c),
        Light::Red
    );
    // Before the start.
    assert_eq!(
        light(start, due, start - TimeDelta::hours(1), &c),
        Light::Green
    );
    // A stricter policy.
    let p = ClockPolicy {
        yellow_light_percent: 50,
        ..ClockPolicy::default()
    };
    let at50 = c.add_working_time(start, TimeDelta::minutes(300));
    assert_eq!(p.light(Basis::Working, start, due, at50, &c), Light::Yellow);
    assert_eq!(light(start, due, at50, &c), Light::Green);
    // On the clock basis 70% of 10 h is 7 h.
    let clock_due = start + TimeDelta::hours(10);
    let p = ClockPolicy::default();
    let at = start + TimeDelta::minutes(419);
    assert_eq!(
        p.light(Basis::Clock, start, clock_due, at, &c),
        Light::Green
    );
    let at = start + TimeDelta::minutes(420);
    assert_eq!(
        p.light(Basis::Clock, start, clock_due, at, &c),
        Light::Yellow
    );
}

#[test]
fn supervision_cards_at_the_limit_and_twice_the_limit() {
    let c = cal();
    let start = cst(2025, 3, 3, 8, 30);
    let due = cst(2025, 3, 4, 11, 30); // 10 working hours
    let t = ClockPolicy::default().card_times(Basis::Working, start, due, &c);
    assert_eq!(t.yellow, due);
    // 20 working hours: Monday 7, Tuesday 7, Wednesday 6 → Wednesday 17:00.
    assert_eq!(t.red, cst(2025, 3, 5, 17, 0));
    assert_eq!(supervision_due(start, due, due, &c), None);
    assert_eq!(
        supervision_due(start, due, due + TimeDelta::minutes(1), &c),
        Some(Card::Yellow)
    );
    assert_eq!(supervision_due(start, due, t.red, &c), Some(Card::Yellow));
    assert_eq!(
        supervision_due(start, due, t.red + TimeDelta::minutes(1), &c),
        Some(Card::Red)
    );
    // Configurable: red at one and a half times the limit (15 h: 7 + 7 + 1, Wednesday 09:30).
    let p = ClockPolicy {
        red_card_percent: 150,
        ..ClockPolicy::default()
    };
    assert_eq!(
        p.card_times(Basis::Working, start, due, &c).red,
        cst(2025, 3, 5, 9, 30)
    );
    // Clock basis: twice 24 h is 48 h.
    let s = cst(2025, 3, 7, 20, 0);
    let d = s + TimeDelta::hours(24);
    let t = ClockPolicy::default().card_times(Basis::Clock, s, d, &c);
    assert_eq!((t.yellow, t.red), (d, s + TimeDelta::hours(48)));
}

#[test]
fn spec_round_trips_through_json_and_is_checked() {
    let c = cal();
    let json = serde_json::to_string(&c).expect("serialise");
    assert!(json.contains("\"08:30\"") && json.contains("\"14:30\""));
    assert!(json.contains("\"2026-02-15\""));
    let back: Calendar = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, c);

    let spec = |hours: &str, extra: &str| {
        format!(
            r#"{{"holidays":[{{"name":"X","from":"2025-03-03"}}],"working_days":[{extra}],
               "local_holidays":[],"working_hours":{hours}}}"#
        )
    };
    let ok: Calendar = serde_json::from_str(&spec(r#"[{"start":"09:00","end":"17:00"}]"#, ""))
        .expect("valid spec");
    assert!(!ok.is_working_day(date(2025, 3, 3)));
    assert!(!ok.is_published(2025));
    assert_eq!(ok.working_day_length(), TimeDelta::hours(8));
    for bad in [
        spec("[]", ""),
        spec(r#"[{"start":"12:00","end":"09:00"}]"#, ""),
        spec(
            r#"[{"start":"08:00","end":"12:00"},{"start":"11:00","end":"13:00"}]"#,
            "",
        ),
        spec(r#"[{"start":"8:00","end":"12:00"}]"#, ""),
        spec(r#"[{"start":"08:00","end":"24:01"}]"#, ""),
        spec(
            r#"[{"start":"08:00","end":"12:00"}]"#,
            r#"{"name":"Y","from":"2025-03-03"}"#,
        ),
        spec(
            r#"[{"start":"08:00","end":"12:00"}]"#,
            r#"{"name":"Y","from":"2025-03-09","to":"2025-03-08"}"#,
        ),
    ] {
        assert!(serde_json::from_str::<Calendar>(&bad).is_err(), "{bad}");
    }
    assert_eq!("24:00".parse::<TimeOfDay>(), Ok(TimeOfDay::END_OF_DAY));
}

#[test]
fn steps_and_urgency_names() {
    for &s in Step::ALL {
        assert_eq!(Step::parse(s.as_str()), Some(s));
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            format!("\"{}\"", s.as_str())
        );
    }
    for &u in Urgency::ALL {
        assert_eq!(Urgency::parse(u.as_str()), Some(u));
    }
    assert_eq!(Step::parse("close"), None);
    assert_eq!(Urgency::default(), Urgency::Normal);
}

#[test]
fn the_most_specific_limit_rule_wins() {
    let h = TimeLimit::working_hours;
    let limits = Limits::new(vec![
        LimitRule::any(Step::Handle, h(1)),
        LimitRule::any(Step::Handle, h(2)).level(Level::County),
        LimitRule::any(Step::Handle, h(3)).urgency(Urgency::Urgent),
        LimitRule::any(Step::Handle, h(4)).profile("dispute"),
        LimitRule::any(Step::Handle, h(5)).category("attention.dispute"),
        LimitRule::any(Step::Handle, h(6)).category("attention.dispute.pasture"),
        LimitRule::any(Step::Handle, h(7))
            .category("attention.dispute")
            .urgency(Urgency::Urgent),
    ])
    .expect("valid");
    let (n, u) = (Urgency::Normal, Urgency::Urgent);
    let look = |code, profile, urgency, level| {
        limits
            .lookup(code, profile, urgency, level, Step::Handle)
            .map(|l| l.amount)
    };
    assert_eq!(
        look("service.policy", "consult", n, Level::Village),
        Some(1)
    );
    assert_eq!(look("service.policy", "consult", n, Level::County), Some(2));
    assert_eq!(look("service.policy", "consult", u, Level::County), Some(3));
    assert_eq!(look("x.y", "dispute", u, Level::County), Some(4));
    assert_eq!(
        look("attention.dispute.labour", "dispute", n, Level::County),
        Some(5)
    );
    assert_eq!(
        look("attention.dispute.pasture", "dispute", u, Level::County),
        Some(6)
    );
    assert_eq!(
        look("attention.dispute.labour", "dispute", u, Level::Village),
        Some(7)
    );
    // A prefix that is not a whole segment does not match.
    assert_eq!(
        look("attention.disputes", "standard", n, Level::Village),
        Some(1)
    );
    assert_eq!(
        limits.lookup("a", "b", n, Level::Village, Step::Accept),
        None
    );
    assert_eq!(
        Limits::new(vec![
            LimitRule::any(Step::Sign, h(1)),
            LimitRule::any(Step::Sign, h(2))
        ]),
        Err(LimitsError::Duplicate(Step::Sign))
    );
    assert_eq!(
        Limits::new(vec![LimitRule::any(Step::Sign, h(0))]),
        Err(LimitsError::Zero(Step::Sign))
    );
    let json = serde_json::to_string(&limits).expect("json");
    assert!(json.contains(r#""unit":"working_hours""#));
    let back: Limits = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, limits);
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 1 Dec 2024 to 31 Jan 2027, to the second: both published years and their edges.
    let lo = cst(2024, 12, 1, 0, 0).timestamp();
    let hi = cst(2027, 1, 31, 0, 0).timestamp();
    (lo..hi).prop_map(|t| DateTime::from_timestamp(t, 0).expect("in range"))
}

fn working_limit() -> impl Strategy<Value = TimeLimit> {
    prop_oneof![
        (1u32..=600).prop_map(TimeLimit::working_minutes),
        (1u32..=48).prop_map(TimeLimit::working_hours),
        (1u32..=30).prop_map(TimeLimit::working_days),
    ]
}

fn losar_days() -> impl Strategy<Value = u32> {
    prop_oneof![Just(3u32), 0u32..=10]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn add_then_measure_round_trips(a in instant(), minutes in 0i64..=(30 * 7 * 60)) {
        let c = cal();
        let h = TimeDelta::minutes(minutes);
        let b = c.add_working_time(a, h);
        prop_assert!(b >= a);
        prop_assert_eq!(c.working_duration_between(a, b), h);
    }

    #[test]
    fn deadlines_never_fall_on_a_day_off_or_outside_working_hours(
        start in instant(),
        limit in working_limit(),
        extra in 0u32..=5,
        parked_minutes in 0i64..=3000,
        losar in losar_days(),
    ) {
        let c = Calendar::new(CalendarSpec::gannan(losar)).expect("valid");
        let due = deadline(limit, start, &c, extra, TimeDelta::minutes(parked_minutes));
        let local = due.with_timezone(&china_offset());
        prop_assert!(c.is_working_day(local.date_naive()), "{} on a day off", local);
        prop_assert!(c.is_working_instant(due), "{} outside working hours", local);
        let minute = local.hour() * 60 + local.minute();
        prop_assert!((8 * 60 + 30..=18 * 60).contains(&minute));
        prop_assert!(!(12 * 60 + 1..14 * 60 + 30).contains(&minute));
        // The deadline leaves exactly the limit plus extensions and parked time to work.
        let expected = limit.duration(&c)
            + TimeDelta::minutes(parked_minutes)
            + c.working_day_length() * extra as i32;
        prop_assert_eq!(c.working_duration_between(start, due), expected);
    }

    #[test]
    fn working_time_is_additive(a in instant(), b in instant(), m in instant()) {
        let c = cal();
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let m = m.clamp(a, b);
        prop_assert_eq!(
            c.working_duration_between(a, b),
            c.working_duration_between(a, m) + c.working_duration_between(m, b)
        );
        prop_assert!(c.working_duration_between(a, b) <= b - a);
    }

    #[test]
    fn lights_only_get_worse(start in instant(), limit in working_limit(), t1 in instant(), t2 in instant()) {
        let c = cal();
        let due = deadline(limit, start, &c, 0, TimeDelta::zero());
        let (t1, t2) = if t1 <= t2 { (t1, t2) } else { (t2, t1) };
        prop_assert!(light(start, due, t1, &c) <= light(start, due, t2, &c));
        prop_assert!(supervision_due(start, due, t1, &c) <= supervision_due(start, due, t2, &c));
        if supervision_due(start, due, t2, &c).is_some() {
            prop_assert_eq!(light(start, due, t2, &c), Light::Red);
        }
    }
}
