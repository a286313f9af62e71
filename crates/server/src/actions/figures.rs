//! The cases behind a figure: the optional narrowing of the case list (`GET /api/v1/cases` and
//! `/cases`) that the figures of the war room, the daily report and the assessment link to —
//! created (or closed) in a period of Asia/Shanghai days, solved, of the dispute or hazard
//! categories — and the links themselves.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::error::{AppError, AppResult};

/// Which categories a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FigureClass {
    /// The dispute categories (化解矛盾纠纷).
    Dispute,
    /// The safety-hazard categories (排查整治隐患).
    Hazard,
}

/// The narrowing of a case list to the cases behind a figure. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FigureFilter {
    /// First and last day, inclusive (Asia/Shanghai).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The period is the day the case was closed, not the day it was created.
    pub closed: bool,
    /// Only cases closed with the result 解决.
    pub solved: bool,
    pub class: Option<FigureClass>,
}

fn flag(v: Option<&str>) -> bool {
    matches!(v.map(str::trim), Some("1" | "on" | "true"))
}

/// An optional `YYYY-MM-DD` parameter.
pub fn day(field: &str, raw: Option<&str>) -> AppResult<Option<NaiveDate>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::unprocessable(field, "a date YYYY-MM-DD")),
    }
}

/// Midnight of `day` in Asia/Shanghai, as UTC.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    domain::clock::china_offset()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Bounds both databases store and compare as instants (SQLite compares text: a year with a
/// sign would sort wrongly; PostgreSQL refuses years beyond its range).
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The raw query parameters of the narrowing.
#[derive(Debug, Clone, Default)]
pub struct FigureParams<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    /// `closed=true`.
    pub closed: Option<&'a str>,
    /// `result=solved`.
    pub result: Option<&'a str>,
    /// `dispute=true` / `hazard=true`.
    pub dispute: Option<&'a str>,
    pub hazard: Option<&'a str>,
}

impl FigureFilter {
    /// Parse at the edge.
    pub fn parse(p: &FigureParams<'_>) -> AppResult<FigureFilter> {
        let from = day("from", p.from)?;
        let to = day("to", p.to)?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(AppError::unprocessable("from", "from is after to"));
        }
        let solved = match p.result.map(str::trim) {
            None | Some("") => false,
            Some("solved") => true,
            Some(_) => return Err(AppError::unprocessable("result", "expected solved")),
        };
        let class = match (flag(p.dispute), flag(p.hazard)) {
            (true, true) => {
                return Err(AppError::unprocessable(
                    "hazard",
                    "dispute and hazard exclude each other",
                ));
            }
            (true, false) => Some(FigureClass::Dispute),
            (false, true) => Some(FigureClass::Hazard),
            (false, false) => None,
        };
        Ok(FigureFilter {
            from,
            to,
            closed: flag(p.closed),
            solved,
            class,
        })
    }

    /// The period as a half-open range of instants, if any day is set.
    pub fn range(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.from.is_none() && self.to.is_none() {
            return None;
        }
        let lo = self.from.map(day_start).unwrap_or_else(earliest);
        let hi = self
            .to
            .map(|t| day_start(t) + Duration::days(1))
            .unwrap_or_else(latest);
        Some((lo, hi))
    }

    /// The range the list is narrowed to: the period, or all time when only `closed` is set.
    pub fn bounds(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.range()
            .or_else(|| self.closed.then(|| (earliest(), latest())))
    }

    /// The query-string parts of this narrowing (for links and paging), `&`-separated.
    pub fn query_parts(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = self.from {
            out.push(format!("from={f}"));
        }
        if let Some(t) = self.to {
            out.push(format!("to={t}"));
        }
        if self.closed {
            out.push("closed=true".to_owned());
        }
        if self.solved {
            out.push("result=solved".to_owned());
        }
        match self.class {
            Some(FigureClass::Dispute) => out.push("dispute=true".to_owned()),
            Some(FigureClass::Hazard) => out.push("hazard=true".to_owned()),
            None => {}
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        *self == FigureFilter::default()
    }

    /// The exact categories of the class, from the taxonomy in force.
    pub fn categories(&self, taxonomy: &domain::category::Taxonomy) -> Option<Vec<String>> {
        let class = self.class?;
        Some(
            taxonomy
                .all()
                .iter()
                .filter(|c| match class {
                    FigureClass::Dispute => c.is_dispute,
                    FigureClass::Hazard => c.limit_profile == domain::category::profile::HAZARD,
                })
                .map(|c| c.code.to_string())
                .collect(),
        )
    }
}

/// A link to the case list page behind a figure of `node`: `extra` (e.g. `open=1`,
/// `category=…`) and the narrowing.
pub fn cases_href(node: &str, f: &FigureFilter, extra: &[&str]) -> String {
    let mut parts = vec![format!("territory={node}")];
    parts.extend(extra.iter().map(|s| (*s).to_owned()));
    parts.extend(f.query_parts());
    format!("/cases?{}", parts.join("&"))
}

/// A period of days as a narrowing (created in it).
pub fn created_in(from: NaiveDate, to: NaiveDate) -> FigureFilter {
    FigureFilter {
        from: Some(from),
        to: Some(to),
        ..Default::default()
    }
}

/// A period of days as a narrowing (closed in it).
pub fn closed_in(from: NaiveDate, to: NaiveDate) -> FigureFilter {
    FigureFilter {
        closed: true,
        ..created_in(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_links_back_the_same_narrowing() {
        let f = FigureFilter::parse(&FigureParams {
            from: Some("2025-10-01"),
            to: Some("2025-10-31"),
            closed: Some("true"),
            result: Some("solved"),
            dispute: Some("1"),
            hazard: None,
        })
        .unwrap();
        assert_eq!(f.class, Some(FigureClass::Dispute));
        assert!(f.closed && f.solved);
        let href = cases_href("623027", &f, &[]);
        assert_eq!(
            href,
            "/cases?territory=623027&from=2025-10-01&to=2025-10-31&closed=true&result=solved&dispute=true"
        );
        // Shanghai days: 2025-10-01 00:00 +08:00 is 2025-09-30 16:00 UTC.
        let (lo, hi) = f.range().unwrap();
        assert_eq!(lo.to_rfc3339(), "2025-09-30T16:00:00+00:00");
        assert_eq!(hi.to_rfc3339(), "2025-10-31T16:00:00+00:00");
        assert!(
            FigureFilter::parse(&FigureParams {
                from: Some("2025-10-02"),
                to: Some("2025-10-01"),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            FigureFilter::parse(&FigureParams::default())
                .unwrap()
                .is_empty()
        );
    }
}
