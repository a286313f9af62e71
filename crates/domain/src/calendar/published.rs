//! The published holiday tables for 2025 and 2026 and Gannan's local holidays, with their sources.
//!
//! Only what could be cited is encoded. Outside the years in [`PUBLISHED_YEARS`] the calendar
//! knows no statutory holidays and falls back to plain weekends (Saturday and Sunday off): an
//! administrator must add each new year's notice (the State Council publishes it every
//! November) through the calendar spec.

use chrono::NaiveDate;

/// Years whose statutory holidays and make-up working days are encoded below.
pub const PUBLISHED_YEARS: [i32; 2] = [2025, 2026];

/// A named run of days, inclusive, as `(name, (y, m, d) from, (y, m, d) to)`.
pub type Row = (&'static str, (i32, u32, u32), (i32, u32, u32));

/// Statutory holidays (放假调休 days off, weekends inside the run included).
///
/// 2025: 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12),
/// full text as carried by Xinhua, e.g. <https://m.gmw.cn/2024-11/12/content_1303894933.htm>.
/// From 2025 the revised 全国年节及纪念日放假办法 (Nov 2024) adds 除夕 and 5月2日.
///
/// 2026: 国务院办公厅关于2026年部分节假日安排的通知 (dated 2025-11-04), full text as carried
/// by Xinhua, e.g. <https://politics.gmw.cn/2025-11/04/content_38391083.htm>. The notice's
/// document number was not in the text found, so it is not quoted here.
pub const STATUTORY_HOLIDAYS: [Row; 13] = [
    // 2025
    ("元旦", (2025, 1, 1), (2025, 1, 1)),
    ("春节", (2025, 1, 28), (2025, 2, 4)),
    ("清明节", (2025, 4, 4), (2025, 4, 6)),
    ("劳动节", (2025, 5, 1), (2025, 5, 5)),
    ("端午节", (2025, 5, 31), (2025, 6, 2)),
    ("国庆节、中秋节", (2025, 10, 1), (2025, 10, 8)),
    // 2026
    ("元旦", (2026, 1, 1), (2026, 1, 3)),
    ("春节", (2026, 2, 15), (2026, 2, 23)),
    ("清明节", (2026, 4, 4), (2026, 4, 6)),
    ("劳动节", (2026, 5, 1), (2026, 5, 5)),
    ("端午节", (2026, 6, 19), (2026, 6, 21)),
    ("中秋节", (2026, 9, 25), (2026, 9, 27)),
    ("国庆节", (2026, 10, 1), (2026, 10, 7)),
];

/// Weekend days that are working days (调休上班), from the same two notices.
pub const MAKE_UP_WORKING_DAYS: [Row; 11] = [
    // 2025
    ("春节调休上班", (2025, 1, 26), (2025, 1, 26)),
    ("春节调休上班", (2025, 2, 8), (2025, 2, 8)),
    ("劳动节调休上班", (2025, 4, 27), (2025, 4, 27)),
    ("国庆节调休上班", (2025, 9, 28), (2025, 9, 28)),
    ("国庆节调休上班", (2025, 10, 11), (2025, 10, 11)),
    // 2026
    ("元旦调休上班", (2026, 1, 4), (2026, 1, 4)),
    ("春节调休上班", (2026, 2, 14), (2026, 2, 14)),
    ("春节调休上班", (2026, 2, 28), (2026, 2, 28)),
    ("劳动节调休上班", (2026, 5, 9), (2026, 5, 9)),
    ("国庆节调休上班", (2026, 9, 20), (2026, 9, 20)),
    ("国庆节调休上班", (2026, 10, 10), (2026, 10, 10)),
];

/// First day (藏历正月初一) of Losar, the Tibetan New Year.
///
/// 2025 (Wood Snake): 2025-02-28, e.g. Tibet Relief Fund, "Happy Losar! – The Year of the Wood
/// Snake" (<https://tibetrelieffund.co.uk/losar2025woodsnake/>); Lhasa's 2025 notice gave
/// 2025-02-27..03-04 off (中国新闻网, 2025-02-24).
/// 2026 (Fire Horse): 2026-02-18, one day after the lunar Spring Festival, per 加永泽仁 of the
/// Tibetan Hospital's astro-calendar institute, in 中新社 (Lhasa, 2026-01-28) reporting Lhasa's
/// 2026 notice (2026-02-15..02-26 off).
///
/// No official Gannan notice fixing how many Losar days are given off was found: the number
/// of days is a parameter of [`super::CalendarSpec::gannan`] (default
/// [`DEFAULT_LOSAR_DAYS`], 初一 to 初三, the core days of the festival). In 2026 those days fall
/// inside the Spring Festival holiday, so Losar adds nothing there unless more days are given.
pub const LOSAR_FIRST_DAYS: [(i32, u32, u32); 2] = [(2025, 2, 28), (2026, 2, 18)];

/// Default number of Losar days off in Gannan (calendar days from 初一).
pub const DEFAULT_LOSAR_DAYS: u32 = 3;

/// 甘南藏族自治州成立纪念日 holiday: from 2025 on, the day after the National Day holiday ends.
///
/// Decision of the Standing Committee of the 17th Gannan Prefecture People's Congress,
/// 19th session, 2024-10-24 (甘南藏族自治州人民代表大会常务委员会关于甘南藏族自治州成立纪念日
/// 假日的决定), as reposted at <https://595189.com/post/26530.html>: "从2025年起，将自治州成立纪念日
/// 假日确定为国庆节法定假日结束的次日，放假一天". National Day ends 2025-10-08 and 2026-10-07.
pub const PREFECTURE_DAY: [(i32, u32, u32); 2] = [(2025, 10, 9), (2026, 10, 8)];

pub(crate) fn ymd((y, m, d): (i32, u32, u32)) -> NaiveDate {
    // The tables above are literal dates checked by the tests; a typo must fail loudly.
    NaiveDate::from_ymd_opt(y, m, d).expect("published tables hold valid dates")
}
