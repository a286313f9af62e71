//! The case code (一案一码): `GN` + the creation day (yyyymmdd, Asia/Shanghai) + a 6-digit
//! sequence of that day, e.g. `GN20250915000042`.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::china_offset;

/// Why a string is not a case code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseCodeError {
    #[error("a case code is GN, a date yyyymmdd and a 6-digit sequence (16 characters)")]
    Shape,
    #[error("the date in a case code is not a calendar day")]
    Date,
    #[error("the sequence of a case code runs from 000001 to 999999")]
    Sequence,
}

/// One case, one code. Codes sort by day, then by sequence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseCode(String);

impl CaseCode {
    /// The prefix of every code: 甘南 (Gannan).
    pub const PREFIX: &'static str = "GN";
    /// The highest daily sequence.
    pub const MAX_SEQUENCE: u32 = 999_999;

    /// The code of the `sequence`-th case of `day`.
    pub fn new(day: NaiveDate, sequence: u32) -> Result<Self, CaseCodeError> {
        if !(1..=Self::MAX_SEQUENCE).contains(&sequence) || !(1000..=9999).contains(&day.year()) {
            return Err(CaseCodeError::Sequence);
        }
        Ok(Self(format!(
            "{}{}{:06}",
            Self::PREFIX,
            day.format("%Y%m%d"),
            sequence
        )))
    }

    /// The code of the `sequence`-th case created on the Shanghai day of `at`.
    pub fn for_instant(at: DateTime<Utc>, sequence: u32) -> Result<Self, CaseCodeError> {
        Self::new(at.with_timezone(&china_offset()).date_naive(), sequence)
    }

    pub fn parse(s: &str) -> Result<Self, CaseCodeError> {
        let s = s.trim();
        let rest = s.strip_prefix(Self::PREFIX).ok_or(CaseCodeError::Shape)?;
        if rest.len() != 14 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CaseCodeError::Shape);
        }
        let day =
            NaiveDate::parse_from_str(&rest[..8], "%Y%m%d").map_err(|_| CaseCodeError::Date)?;
        let sequence: u32 = rest[8..].parse().map_err(|_| CaseCodeError::Shape)?;
        Self::new(day, sequence)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The (Shanghai) day the case was created.
    pub fn day(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[2..10], "%Y%m%d").expect("checked when built")
    }

    /// The sequence within the day.
    pub fn sequence(&self) -> u32 {
        self.0[10..].parse().expect("checked when built")
    }
}

impl fmt::Display for CaseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for CaseCode {
    type Err = CaseCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for CaseCode {
    type Error = CaseCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CaseCode> for String {
    fn from(c: CaseCode) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn code_round_trips() {
        let day = NaiveDate::from_ymd_opt(2025, 9, 15).unwrap();
        let c = CaseCode::new(day, 42).unwrap();
        assert_eq!(c.as_str(), "GN20250915000042");
        assert_eq!(c.to_string(), "GN20250915000042");
        let p = CaseCode::parse("GN20250915000042").unwrap();
        assert_eq!(p, c);
        assert_eq!(p.day(), day);
        assert_eq!(p.sequence(), 42);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"GN20250915000042\"");
        assert_eq!(serde_json::from_str::<CaseCode>(&json).unwrap(), c);
    }

    #[test]
    fn bad_codes_are_refused() {
        assert_eq!(
            CaseCode::parse("GX20250915000042"),
            Err(CaseCodeError::Shape)
        );
        assert_eq!(
            CaseCode::parse("GN2025091500004"),
            Err(CaseCodeError::Shape)
        );
        assert_eq!(
            CaseCode::parse("GN2025091500004a"),
            Err(CaseCodeError::Shape)
        );
        assert_eq!(
            CaseCode::parse("GN20250231000001"),
            Err(CaseCodeError::Date)
        );
        assert_eq!(
            CaseCode::parse("GN20250915000000"),
            Err(CaseCodeError::Sequence)
        );
        assert_eq!(
            CaseCode::parse("ＧＮ2025091500001"),
            Err(CaseCodeError::Shape)
        );
        assert!(serde_json::from_str::<CaseCode>("\"GN1\"").is_err());
        let day = NaiveDate::from_ymd_opt(2025, 9, 15).unwrap();
        assert_eq!(CaseCode::new(day, 1_000_000), Err(CaseCodeError::Sequence));
    }

    #[test]
    fn the_day_is_the_shanghai_day() {
        // 2025-09-15 17:30 UTC is already the 16th in Gannan.
        let at = Utc.with_ymd_and_hms(2025, 9, 15, 17, 30, 0).unwrap();
        assert_eq!(
            CaseCode::for_instant(at, 7).unwrap().as_str(),
            "GN20250916000007"
        );
    }
}
