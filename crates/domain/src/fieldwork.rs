//! Field work (台账 and 日报): the five kinds of work log and the daily report, parsed from what
//! a phone sent into types that hold only valid values (DOMAIN.md §4).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest free text of a log or a daily report (characters).
pub const MAX_TEXT: usize = 2_000;
/// Longest short field (topic, place, what was done).
pub const MAX_SHORT: usize = 200;
/// Most attendees one propaganda session may claim (a big 宣讲会 in a county town).
pub const MAX_ATTENDEES: u32 = 100_000;

/// Why a field-work input was refused: the field and a message for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldworkError {
    pub field: String,
    pub message: String,
}

fn err(field: &str, message: impl Into<String>) -> FieldworkError {
    FieldworkError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// The five kinds of work log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorklogKind {
    /// 政策宣传: a propaganda session.
    Propaganda,
    /// 帮办实事: a service done for a household.
    Service,
    /// 走访: a household visit.
    Visit,
    /// 隐患排查: a hazard inspection (a hazard found becomes a case).
    HazardInspection,
    /// 矛盾排查: dispute screening.
    DisputeScreening,
}

impl WorklogKind {
    pub const ALL: [WorklogKind; 5] = [
        WorklogKind::Propaganda,
        WorklogKind::Service,
        WorklogKind::Visit,
        WorklogKind::HazardInspection,
        WorklogKind::DisputeScreening,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorklogKind::Propaganda => "propaganda",
            WorklogKind::Service => "service",
            WorklogKind::Visit => "visit",
            WorklogKind::HazardInspection => "hazard_inspection",
            WorklogKind::DisputeScreening => "dispute_screening",
        }
    }

    pub fn parse(s: &str) -> Option<WorklogKind> {
        WorklogKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            WorklogKind::Propaganda => "政策宣传",
            WorklogKind::Service => "帮办实事",
            WorklogKind::Visit => "走访",
            WorklogKind::HazardInspection => "隐患排查",
            WorklogKind::DisputeScreening => "矛盾排查",
        }
    }
}

/// The language a propaganda session was held in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionLanguage {
    Zh,
    Bo,
    /// Chinese and Tibetan together (双语宣讲).
    Bilingual,
}

impl SessionLanguage {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionLanguage::Zh => "zh",
            SessionLanguage::Bo => "bo",
            SessionLanguage::Bilingual => "bilingual",
        }
    }

    pub fn parse(s: &str) -> Option<SessionLanguage> {
        match s {
            "zh" => Some(SessionLanguage::Zh),
            "bo" => Some(SessionLanguage::Bo),
            "bilingual" | "zh_bo" => Some(SessionLanguage::Bilingual),
            _ => None,
        }
    }
}

/// A hazard found during an inspection, to become a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HazardFound {
    /// A category code (checked against the taxonomy by the caller).
    pub category: String,
    pub description: String,
    /// WGS-84 `(lng, lat)` as the phone gave it, when it did.
    pub location: Option<(f64, f64)>,
    pub urgent: bool,
}

/// The details of a work log, one shape per kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorklogDetails {
    Propaganda {
        topic: String,
        place: String,
        attendees: u32,
        language: SessionLanguage,
    },
    Service {
        /// The household served (its id), when the service was for one.
        household: Option<i64>,
        what: String,
    },
    Visit {
        household: i64,
        note: Option<String>,
    },
    HazardInspection {
        place: String,
        /// `None`: nothing found.
        hazard: Option<HazardFound>,
        note: Option<String>,
    },
    DisputeScreening {
        place: String,
        /// Disputes found (each worth a case of its own, filed separately).
        disputes_found: u32,
        note: Option<String>,
    },
}

impl WorklogDetails {
    pub fn kind(&self) -> WorklogKind {
        match self {
            WorklogDetails::Propaganda { .. } => WorklogKind::Propaganda,
            WorklogDetails::Service { .. } => WorklogKind::Service,
            WorklogDetails::Visit { .. } => WorklogKind::Visit,
            WorklogDetails::HazardInspection { .. } => WorklogKind::HazardInspection,
            WorklogDetails::DisputeScreening { .. } => WorklogKind::DisputeScreening,
        }
    }

    /// The household the log concerns, if any (its scope is checked by the caller).
    pub fn household(&self) -> Option<i64> {
        match self {
            WorklogDetails::Service { household, .. } => *household,
            WorklogDetails::Visit { household, .. } => Some(*household),
            _ => None,
        }
    }

    /// People reached: a propaganda session's attendees.
    pub fn attendees(&self) -> u32 {
        match self {
            WorklogDetails::Propaganda { attendees, .. } => *attendees,
            _ => 0,
        }
    }

    /// Parse the `details` object of `POST /api/v1/worklogs` for `kind`.
    pub fn parse(kind: WorklogKind, details: &Value) -> Result<WorklogDetails, FieldworkError> {
        let obj = match details {
            Value::Object(o) => o,
            Value::Null => &serde_json::Map::new(),
            _ => return Err(err("details", "expected an object")),
        };
        let field = |name: &str| format!("details.{name}");
        let text = |name: &str, max: usize, required: bool| -> Result<Option<String>, _> {
            match obj.get(name) {
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(err(&field(name), "required")),
                Some(Value::String(s)) => {
                    let s = s.trim();
                    if s.is_empty() {
                        if required {
                            Err(err(&field(name), "must not be empty"))
                        } else {
                            Ok(None)
                        }
                    } else if s.chars().count() > max {
                        Err(err(&field(name), format!("longer than {max} characters")))
                    } else {
                        Ok(Some(s.to_owned()))
                    }
                }
                Some(_) => Err(err(&field(name), "expected text")),
            }
        };
        let required = |name: &str, max: usize| -> Result<String, FieldworkError> {
            text(name, max, true).map(|t| t.unwrap_or_default())
        };
        let count = |name: &str, max: u32, required: bool| -> Result<u32, FieldworkError> {
            match obj.get(name) {
                None | Some(Value::Null) if !required => Ok(0),
                None | Some(Value::Null) => Err(err(&field(name), "required")),
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n <= u64::from(max))
                    .map(|n| n as u32)
                    .ok_or_else(|| err(&field(name), format!("a whole number from 0 to {max}"))),
            }
        };
        let household = |required: bool| -> Result<Option<i64>, FieldworkError> {
            match obj.get("household") {
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(err(&field("household"), "required")),
                Some(v) => v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| err(&field("household"), "a household id")),
            }
        };
        Ok(match kind {
            WorklogKind::Propaganda => {
                let language = match obj.get("language") {
                    None | Some(Value::Null) => SessionLanguage::Zh,
                    Some(Value::String(s)) => SessionLanguage::parse(s.trim())
                        .ok_or_else(|| err(&field("language"), "zh, bo or bilingual"))?,
                    Some(_) => return Err(err(&field("language"), "zh, bo or bilingual")),
                };
                WorklogDetails::Propaganda {
                    topic: required("topic", MAX_SHORT)?,
                    place: required("place", MAX_SHORT)?,
                    attendees: count("attendees", MAX_ATTENDEES, true)?,
                    language,
                }
            }
            WorklogKind::Service => WorklogDetails::Service {
                household: household(false)?,
                what: required("what", MAX_TEXT)?,
            },
            WorklogKind::Visit => WorklogDetails::Visit {
                household: household(true)?.unwrap_or_default(),
                note: text("note", MAX_TEXT, false)?,
            },
            WorklogKind::HazardInspection => {
                let found = match obj.get("hazard_found") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(err(&field("hazard_found"), "true or false")),
                };
                let hazard = if found {
                    let location = match obj.get("location") {
                        None | Some(Value::Null) => None,
                        Some(v) => {
                            let lat = v.get("lat").and_then(Value::as_f64);
                            let lng = v.get("lng").and_then(Value::as_f64);
                            match (lng, lat) {
                                (Some(lng), Some(lat))
                                    if (-180.0..=180.0).contains(&lng)
                                        && (-90.0..=90.0).contains(&lat) =>
                                {
                                    Some((lng, lat))
                                }
                                _ => {
                                    return Err(err(
                                        &field("location"),
                                        "{\"lat\": F, \"lng\": F}",
                                    ));
                                }
                            }
                        }
                    };
                    Some(HazardFound {
                        category: required("category", 100)?,
                        description: required("description", MAX_TEXT)?,
                        location,
                        urgent: obj.get("urgent").and_then(Value::as_bool).unwrap_or(false),
                    })
                } else {
                    None
                };
                WorklogDetails::HazardInspection {
                    place: required("place", MAX_SHORT)?,
                    hazard,
                    note: text("note", MAX_TEXT, false)?,
                }
            }
            WorklogKind::DisputeScreening => WorklogDetails::DisputeScreening {
                place: required("place", MAX_SHORT)?,
                disputes_found: count("disputes_found", 10_000, false)?,
                note: text("note", MAX_TEXT, false)?,
            },
        })
    }
}

/// A daily report (日报), parsed: one per person per day; a second replaces the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyReport {
    pub date: NaiveDate,
    /// 零报告: nothing to report today (silence made visible).
    pub nothing_to_report: bool,
    pub text: Option<String>,
}

impl DailyReport {
    /// Parse a daily report. `today` is the prefecture's date now: a report may be for today or
    /// the 7 days before (a phone that was offline for a week), never for the future.
    pub fn parse(
        date: &str,
        nothing_to_report: bool,
        text: Option<&str>,
        today: NaiveDate,
    ) -> Result<DailyReport, FieldworkError> {
        let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|_| err("date", "a date YYYY-MM-DD"))?;
        if date > today {
            return Err(err("date", "a daily report cannot be for a future day"));
        }
        if (today - date).num_days() > 7 {
            return Err(err("date", "a daily report may be at most 7 days late"));
        }
        let text = text.map(str::trim).filter(|t| !t.is_empty());
        if let Some(t) = text
            && t.chars().count() > MAX_TEXT
        {
            return Err(err("text", format!("longer than {MAX_TEXT} characters")));
        }
        if !nothing_to_report && text.is_none() {
            return Err(err(
                "text",
                "say what there is to report, or send nothing_to_report: true",
            ));
        }
        Ok(DailyReport {
            date,
            nothing_to_report,
            text: text.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_parses_its_details() {
        let p = WorklogDetails::parse(
            WorklogKind::Propaganda,
            &json!({"topic": "草原防火", "place": "达麦村村委会", "attendees": 42, "language": "bilingual"}),
        )
        .unwrap();
        assert_eq!(p.kind(), WorklogKind::Propaganda);
        assert_eq!(p.attendees(), 42);
        let s = WorklogDetails::parse(
            WorklogKind::Service,
            &json!({"household": 17, "what": "代办低保"}),
        )
        .unwrap();
        assert_eq!(s.household(), Some(17));
        let v = WorklogDetails::parse(WorklogKind::Visit, &json!({"household": "9"})).unwrap();
        assert_eq!(v.household(), Some(9));
        let h = WorklogDetails::parse(
            WorklogKind::HazardInspection,
            &json!({"place": "桥", "hazard_found": true, "category": "x", "description": "裂缝",
                    "location": {"lat": 35.0, "lng": 102.5}}),
        )
        .unwrap();
        assert!(
            matches!(h, WorklogDetails::HazardInspection { hazard: Some(ref f), .. } if f.location == Some((102.5, 35.0)))
        );
        let d = WorklogDetails::parse(
            WorklogKind::DisputeScreening,
            &json!({"place": "牧场", "disputes_found": 2}),
        )
        .unwrap();
        assert_eq!(d.kind(), WorklogKind::DisputeScreening);
    }

    #[test]
    fn bad_details_name_their_field() {
        let cases = [
            (
                WorklogKind::Propaganda,
                json!({"topic": "a", "place": "b"}),
                "details.attendees",
            ),
            (
                WorklogKind::Propaganda,
                json!({"topic": "a", "place": "b", "attendees": -1}),
                "details.attendees",
            ),
            (
                WorklogKind::Propaganda,
                json!({"topic": " ", "place": "b", "attendees": 1}),
                "details.topic",
            ),
            (
                WorklogKind::Propaganda,
                json!({"topic": "a", "place": "b", "attendees": 1, "language": "fr"}),
                "details.language",
            ),
            (WorklogKind::Visit, json!({}), "details.household"),
            (
                WorklogKind::Service,
                json!({"household": 0, "what": "x"}),
                "details.household",
            ),
            (
                WorklogKind::HazardInspection,
                json!({"place": "p", "hazard_found": true, "category": "c"}),
                "details.description",
            ),
            (
                WorklogKind::HazardInspection,
                json!({"place": "p", "hazard_found": "yes"}),
                "details.hazard_found",
            ),
        ];
        for (kind, details, field) in cases {
            let e = WorklogDetails::parse(kind, &details).unwrap_err();
            assert_eq!(e.field, field, "{details}");
        }
        assert!(WorklogDetails::parse(WorklogKind::Visit, &json!([1])).is_err());
    }

    #[test]
    fn daily_reports_are_for_recent_days_and_say_something() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert!(DailyReport::parse("2026-12-01", true, None, today).is_ok());
        assert!(DailyReport::parse("2026-11-24", true, None, today).is_ok());
        assert_eq!(
            DailyReport::parse("2026-11-23", true, None, today)
                .unwrap_err()
                .field,
            "date"
        );
        assert_eq!(
            DailyReport::parse("2026-12-02", true, None, today)
                .unwrap_err()
                .field,
            "date"
        );
        assert_eq!(
            DailyReport::parse("2026-12-01", false, Some("  "), today)
                .unwrap_err()
                .field,
            "text"
        );
        assert!(DailyReport::parse("12/01/2026", true, None, today).is_err());
    }
}
