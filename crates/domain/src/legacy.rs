//! Legacy case records (a 12345 hotline's or a 311 system's CSV history) read through a column
//! mapping: which columns are the id, times, type, status, area and text; how their types,
//! statuses and areas translate into our categories, states and territory codes; in which time
//! zone their times are written. Pure: the server reads the TOML and the files, and routes and
//! writes what [`CompiledMapping::record`] returns.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

use crate::TerritoryCode;
use crate::case::{HandleResult, MAX_TEXT_CHARS, Status};

/// A mapping file (`examples/import/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    pub source: SourceSpec,
    pub fields: Fields,
    /// Their status → our state (`submitted`, `accepted`, `closed` or `rejected`).
    #[serde(default)]
    pub statuses: BTreeMap<String, String>,
    /// Their type → our category code.
    #[serde(default)]
    pub categories: BTreeMap<String, String>,
    /// Their area → our territory code.
    #[serde(default)]
    pub areas: BTreeMap<String, String>,
}

/// The source system as a whole.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// A short name (`boston-311`): with each record's id it names the case, so importing the
    /// same record twice finds the first case.
    pub name: String,
    /// The time zone the times are written in: an IANA name (`America/New_York`,
    /// `Asia/Shanghai`) or a fixed offset (`+08:00`).
    pub time_zone: String,
    /// chrono formats tried in order (`%m/%d/%Y %I:%M:%S %p`); RFC 3339 is always understood.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// The datum of the coordinates: `wgs84` (default) or `gcj02`.
    #[serde(default)]
    pub datum: Option<String>,
    /// The category for types the `[categories]` table does not name (else the row is refused).
    #[serde(default)]
    pub default_category: Option<String>,
    /// The territory for empty or unnamed areas (else the row is refused).
    #[serde(default)]
    pub default_area: Option<String>,
    /// The state for statuses the `[statuses]` table does not name (else the row is refused).
    #[serde(default)]
    pub default_status: Option<String>,
    /// The result recorded for closed cases: `solved` (default), `partly_solved`, `unsolved`.
    #[serde(default)]
    pub result: Option<String>,
    /// The note recorded when a closed record has no closure text.
    #[serde(default)]
    pub closure_note: Option<String>,
    /// The CSV delimiter (default `,`).
    #[serde(default)]
    pub delimiter: Option<char>,
}

/// Which column holds what. Column names are the header's, exactly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    pub id: String,
    pub created_at: String,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// Their type (mapped through `[categories]`).
    pub category: String,
    #[serde(default)]
    pub area: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Columns joined, one per line, into the description (empty ones skipped).
    #[serde(default)]
    pub description: Vec<String>,
    /// The closure text of closed records (the handler's report).
    #[serde(default)]
    pub closure_note: Option<String>,
    #[serde(default)]
    pub latitude: Option<String>,
    #[serde(default)]
    pub longitude: Option<String>,
    #[serde(default)]
    pub reporter_name: Option<String>,
    #[serde(default)]
    pub reporter_phone: Option<String>,
}

/// The states an imported record may end in: the ones a history can reach without a unit to
/// dispatch to (DOMAIN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Submitted,
    Accepted,
    Closed,
    Rejected,
}

impl TargetState {
    fn parse(s: &str) -> Result<TargetState, MappingError> {
        match Status::parse(s.trim()) {
            Some(Status::Submitted) => Ok(TargetState::Submitted),
            Some(Status::Accepted) => Ok(TargetState::Accepted),
            Some(Status::Closed) => Ok(TargetState::Closed),
            Some(Status::Rejected) => Ok(TargetState::Rejected),
            Some(other) => Err(MappingError(format!(
                "state {other} cannot be imported (it needs a unit the record does not name); \
                 use submitted, accepted, closed or rejected"
            ))),
            None => Err(MappingError(format!("{s:?} is not a state"))),
        }
    }
}

/// A mapping that does not fit the file or our vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping: {0}")]
pub struct MappingError(pub String);

/// Why one record is refused, with a stable reason code for the report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct RecordError {
    pub reason: &'static str,
    pub message: String,
}

fn refuse(reason: &'static str, message: impl Into<String>) -> RecordError {
    RecordError {
        reason,
        message: message.into(),
    }
}

/// A time zone: an IANA zone (with its daylight-saving rules) or a fixed offset.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Iana(chrono_tz::Tz),
    Fixed(FixedOffset),
}

impl Zone {
    pub fn parse(s: &str) -> Result<Zone, MappingError> {
        let t = s.trim();
        if let Ok(tz) = t.parse::<chrono_tz::Tz>() {
            return Ok(Zone::Iana(tz));
        }
        let fixed = DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{t}"))
            .map(|d| *d.offset())
            .ok()
            .or_else(|| (t == "UTC" || t == "Z").then(|| FixedOffset::east_opt(0).expect("0")));
        fixed
            .map(Zone::Fixed)
            .ok_or_else(|| MappingError(format!("unknown time zone {t:?}")))
    }

    /// The instant a wall-clock time names. An ambiguous time (the hour repeated when daylight
    /// saving ends) is the earlier one; a time skipped when it starts is read on the offset
    /// before the change, as a clock that had not yet been moved would show it.
    pub fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        fn resolve<Z: TimeZone>(z: &Z, local: NaiveDateTime) -> DateTime<Utc> {
            match z.from_local_datetime(&local).earliest() {
                Some(t) => t.with_timezone(&Utc),
                // 02:30 on the old offset is 03:30 on the new one: the same instant.
                None => z
                    .from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| Utc.from_utc_datetime(&local)),
            }
        }
        match self {
            Zone::Iana(tz) => resolve(tz, local),
            Zone::Fixed(off) => resolve(off, local),
        }
    }
}

/// One record as our vocabulary reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyRecord {
    pub source_id: String,
    pub created_at: DateTime<Utc>,
    pub state: TargetState,
    /// When it was closed or rejected.
    pub ended_at: Option<DateTime<Utc>>,
    pub result: HandleResult,
    /// The closure note (closed) or the reason (rejected).
    pub note: String,
    pub category: String,
    pub territory: TerritoryCode,
    pub title: Option<String>,
    pub description: String,
    /// (lng, lat) as given, in the mapping's datum.
    pub location: Option<(f64, f64)>,
    pub reporter_name: Option<String>,
    pub reporter_phone: Option<String>,
    pub source_type: String,
    pub source_status: Option<String>,
    pub source_area: Option<String>,
}

/// A mapping checked against a file's header and our categories and territory.
#[derive(Debug, Clone)]
pub struct CompiledMapping {
    pub source: String,
    pub zone: Zone,
    pub gcj02: bool,
    formats: Vec<String>,
    id: usize,
    created_at: usize,
    closed_at: Option<usize>,
    status: Option<usize>,
    category: usize,
    area: Option<usize>,
    title: Option<usize>,
    description: Vec<usize>,
    closure_note: Option<usize>,
    latitude: Option<usize>,
    longitude: Option<usize>,
    reporter_name: Option<usize>,
    reporter_phone: Option<usize>,
    statuses: BTreeMap<String, TargetState>,
    default_status: Option<TargetState>,
    categories: BTreeMap<String, String>,
    default_category: Option<String>,
    areas: BTreeMap<String, TerritoryCode>,
    default_area: Option<TerritoryCode>,
    result: HandleResult,
    closure_default: String,
    /// How many columns a record must have.
    pub width: usize,
}

/// Longest title kept (characters).
const MAX_TITLE: usize = 200;

fn truncated(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// Keys compared without case or surrounding blanks.
fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

impl Mapping {
    /// Check the mapping against a file's `header`, the category codes that exist and the
    /// territory nodes that exist.
    pub fn compile(
        &self,
        header: &[String],
        category_exists: &dyn Fn(&str) -> bool,
        territory_exists: &dyn Fn(&TerritoryCode) -> bool,
    ) -> Result<CompiledMapping, MappingError> {
        let name = self.source.name.trim();
        if name.is_empty()
            || name.len() > 40
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(MappingError(
                "source.name: 1 to 40 characters of a-z 0-9 - _".into(),
            ));
        }
        let col = |c: &str| -> Result<usize, MappingError> {
            header
                .iter()
                .position(|h| h.trim() == c.trim())
                .ok_or_else(|| MappingError(format!("the file has no column {c:?}")))
        };
        let opt = |c: &Option<String>| c.as_deref().map(col).transpose();
        let state = |s: &str| TargetState::parse(s);
        let category = |c: &str| -> Result<String, MappingError> {
            if category_exists(c.trim()) {
                Ok(c.trim().to_owned())
            } else {
                Err(MappingError(format!("unknown category {c:?}")))
            }
        };
        let territory = |c: &str| -> Result<TerritoryCode, MappingError> {
            let code = TerritoryCode::parse(c)
                .map_err(|e| MappingError(format!("area code {c:?}: {e}")))?;
            if territory_exists(&code) {
                Ok(code)
            } else {
                Err(MappingError(format!("no territory {code}")))
            }
        };
        let f = &self.fields;
        let gcj02 = match self.source.datum.as_deref().map(str::trim) {
            None | Some("") | Some("wgs84") => false,
            Some("gcj02") => true,
            Some(other) => return Err(MappingError(format!("datum {other:?}"))),
        };
        let result = match self.source.result.as_deref() {
            None => HandleResult::Solved,
            Some(r) => HandleResult::parse(r.trim())
                .ok_or_else(|| MappingError(format!("result {r:?}")))?,
        };
        Ok(CompiledMapping {
            source: name.to_owned(),
            zone: Zone::parse(&self.source.time_zone)?,
            gcj02,
            formats: self.source.date_formats.clone(),
            id: col(&f.id)?,
            created_at: col(&f.created_at)?,
            closed_at: opt(&f.closed_at)?,
            status: opt(&f.status)?,
            category: col(&f.category)?,
            area: opt(&f.area)?,
            title: opt(&f.title)?,
            description: f
                .description
                .iter()
                .map(|c| col(c))
                .collect::<Result<_, _>>()?,
            closure_note: opt(&f.closure_note)?,
            latitude: opt(&f.latitude)?,
            longitude: opt(&f.longitude)?,
            reporter_name: opt(&f.reporter_name)?,
            reporter_phone: opt(&f.reporter_phone)?,
            statuses: self
                .statuses
                .iter()
                .map(|(k, v)| Ok((key(k), state(v)?)))
                .collect::<Result<_, MappingError>>()?,
            default_status: self
                .source
                .default_status
                .as_deref()
                .map(state)
                .transpose()?,
            categories: self
                .categories
                .iter()
                .map(|(k, v)| Ok((key(k), category(v)?)))
                .collect::<Result<_, MappingError>>()?,
            default_category: self
                .source
                .default_category
                .as_deref()
                .map(category)
                .transpose()?,
            areas: self
                .areas
                .iter()
                .map(|(k, v)| Ok((key(k), territory(v)?)))
                .collect::<Result<_, MappingError>>()?,
            default_area: self
                .source
                .default_area
                .as_deref()
                .map(territory)
                .transpose()?,
            result,
            closure_default: self
                .source
                .closure_note
                .clone()
                .unwrap_or_else(|| "历史系统记录已办结".to_owned()),
            width: header.len(),
        })
    }
}

impl CompiledMapping {
    fn time(&self, field: &str, raw: &str) -> Result<DateTime<Utc>, RecordError> {
        let t = raw.trim();
        if let Ok(d) = DateTime::parse_from_rfc3339(t) {
            return Ok(d.with_timezone(&Utc));
        }
        for f in &self.formats {
            if let Ok(n) = NaiveDateTime::parse_from_str(t, f) {
                return Ok(self.zone.instant(n));
            }
        }
        Err(refuse(
            "bad_time",
            format!("{field} {t:?} matches none of the date formats"),
        ))
    }

    /// Read one record (its fields in header order).
    pub fn record(&self, fields: &[&str]) -> Result<LegacyRecord, RecordError> {
        if fields.len() != self.width {
            return Err(refuse(
                "wrong_width",
                format!("{} fields, the header has {}", fields.len(), self.width),
            ));
        }
        let get = |i: usize| fields[i].trim();
        let opt = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty());
        let source_id = get(self.id);
        if source_id.is_empty() {
            return Err(refuse("missing_id", "the record has no id"));
        }
        if source_id.chars().count() > 100 {
            return Err(refuse("bad_id", "an id longer than 100 characters"));
        }
        let created_at = self.time("created_at", get(self.created_at))?;
        let ended = opt(self.closed_at)
            .map(|t| self.time("closed_at", t))
            .transpose()?;
        let source_status = opt(self.status).map(str::to_owned);
        let state = match &source_status {
            Some(s) => self.statuses.get(&key(s)).copied().or(self.default_status),
            None => self.default_status,
        }
        .ok_or_else(|| {
            refuse(
                "unknown_status",
                format!(
                    "status {:?} is not mapped",
                    source_status.as_deref().unwrap_or("")
                ),
            )
        })?;
        let source_type = get(self.category).to_owned();
        let category = self
            .categories
            .get(&key(&source_type))
            .or(self.default_category.as_ref())
            .cloned()
            .ok_or_else(|| {
                refuse(
                    "unknown_type",
                    format!("type {source_type:?} is not mapped"),
                )
            })?;
        let source_area = opt(self.area).map(str::to_owned);
        let territory = match &source_area {
            Some(a) => self.areas.get(&key(a)).or(self.default_area.as_ref()),
            None => self.default_area.as_ref(),
        }
        .cloned()
        .ok_or_else(|| {
            refuse(
                "unknown_area",
                format!(
                    "area {:?} is not mapped",
                    source_area.as_deref().unwrap_or("")
                ),
            )
        })?;
        let ended_at = match state {
            TargetState::Closed => Some(ended.ok_or_else(|| {
                refuse(
                    "closed_without_time",
                    "a closed record without its close time",
                )
            })?),
            TargetState::Rejected => Some(ended.unwrap_or(created_at)),
            _ => None,
        };
        if let Some(e) = ended_at
            && e < created_at
        {
            return Err(refuse(
                "closed_before_created",
                format!("closed at {e}, before it was created at {created_at}"),
            ));
        }
        let note = match (state, opt(self.closure_note)) {
            (_, Some(n)) => truncated(n, MAX_TEXT_CHARS),
            (TargetState::Rejected, None) => "历史系统记录为不予受理".to_owned(),
            _ => self.closure_default.clone(),
        };
        let mut description: Vec<&str> = self
            .description
            .iter()
            .map(|i| get(*i))
            .filter(|s| !s.is_empty())
            .collect();
        description.dedup();
        let description = if description.is_empty() {
            source_type.clone()
        } else {
            description.join("\n")
        };
        let coord = |i: Option<usize>| opt(i).and_then(|s| s.parse::<f64>().ok());
        let location = match (coord(self.longitude), coord(self.latitude)) {
            (Some(lng), Some(lat))
                if lng.is_finite()
                    && lat.is_finite()
                    && (-180.0..=180.0).contains(&lng)
                    && (-90.0..=90.0).contains(&lat)
                    && (lng, lat) != (0.0, 0.0) =>
            {
                Some((lng, lat))
            }
            _ => None,
        };
        Ok(LegacyRecord {
            source_id: source_id.to_owned(),
            created_at,
            state,
            ended_at,
            result: self.result,
            note,
            category,
            territory,
            title: opt(self.title).map(|t| truncated(t, MAX_TITLE)),
            description: truncated(&description, MAX_TEXT_CHARS),
            location,
            reporter_name: opt(self.reporter_name).map(|s| truncated(s, 50)),
            reporter_phone: opt(self.reporter_phone).map(|s| truncated(s, 20)),
            source_type,
            source_status,
            source_area,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<String> {
        [
            "CASE_ENQUIRY_ID",
            "OPEN_DT",
            "CLOSED_DT",
            "CASE_STATUS",
            "CLOSURE_REASON",
            "CASE_TITLE",
            "TYPE",
            "Location",
            "neighborhood",
            "LATITUDE",
            "LONGITUDE",
        ]
        .map(String::from)
        .to_vec()
    }

    fn compiled() -> CompiledMapping {
        let m: Mapping = mapping();
        m.compile(&header(), &|c| c.starts_with("management"), &|t| {
            t.as_str().starts_with("623027")
        })
        .unwrap()
    }

    /// The shape of `examples/import/boston-311.toml` (the server's tests read that file).
    fn mapping() -> Mapping {
        Mapping {
            source: SourceSpec {
                name: "boston-311".into(),
                time_zone: "America/New_York".into(),
                date_formats: vec!["%m/%d/%Y %I:%M:%S %p".into()],
                datum: None,
                default_category: None,
                default_area: Some("623027".into()),
                default_status: None,
                result: None,
                closure_note: None,
                delimiter: None,
            },
            fields: Fields {
                id: "CASE_ENQUIRY_ID".into(),
                created_at: "OPEN_DT".into(),
                closed_at: Some("CLOSED_DT".into()),
                status: Some("CASE_STATUS".into()),
                category: "TYPE".into(),
                area: Some("neighborhood".into()),
                title: Some("CASE_TITLE".into()),
                description: vec!["CASE_TITLE".into(), "Location".into()],
                closure_note: Some("CLOSURE_REASON".into()),
                latitude: Some("LATITUDE".into()),
                longitude: Some("LONGITUDE".into()),
                reporter_name: None,
                reporter_phone: None,
            },
            statuses: [("Closed", "closed"), ("Open", "accepted")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
            categories: [("Abandoned Bicycle", "management.environment.garbage")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
            areas: [("Back Bay", "623027100")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .into(),
        }
    }

    fn row<'a>(open: &'a str, closed: &'a str, status: &'a str, area: &'a str) -> Vec<&'a str> {
        vec![
            "101001242404",
            open,
            closed,
            status,
            "Case Closed Case Noted",
            "Abandoned Bicycle",
            "Abandoned Bicycle",
            "29 Hereford St  Boston  MA  02115",
            area,
            "42.3504",
            "-71.0867",
        ]
    }

    #[test]
    fn a_closed_record_reads_in_its_own_time_zone() {
        let c = compiled();
        let r = c
            .record(&row(
                "01/05/2015 12:40:41 PM",
                "07/06/2015 01:46:56 PM",
                "Closed",
                "Back Bay",
            ))
            .unwrap();
        // January: EST (UTC-5); July: EDT (UTC-4).
        assert_eq!(r.created_at.to_rfc3339(), "2015-01-05T17:40:41+00:00");
        assert_eq!(
            r.ended_at.unwrap().to_rfc3339(),
            "2015-07-06T17:46:56+00:00"
        );
        assert_eq!(r.state, TargetState::Closed);
        assert_eq!(r.territory.as_str(), "623027100");
        assert_eq!(r.category, "management.environment.garbage");
        assert_eq!(r.note, "Case Closed Case Noted");
        assert_eq!(
            r.description,
            "Abandoned Bicycle\n29 Hereford St  Boston  MA  02115"
        );
        assert_eq!(r.location, Some((-71.0867, 42.3504)));
        assert_eq!(r.source_id, "101001242404");
    }

    #[test]
    fn areas_fall_back_to_the_default_and_bad_records_say_why() {
        let c = compiled();
        let open = c
            .record(&row("01/05/2015 12:40:41 PM", "", "open", ""))
            .unwrap();
        assert_eq!(open.state, TargetState::Accepted);
        assert_eq!(open.territory.as_str(), "623027");
        let reason = |r: Vec<&str>| c.record(&r).unwrap_err().reason;
        assert_eq!(
            reason(row(
                "01/06/2015 12:40:41 PM",
                "01/05/2015 12:40:41 PM",
                "Closed",
                ""
            )),
            "closed_before_created"
        );
        assert_eq!(reason(row("2015-13-01", "", "Open", "")), "bad_time");
        assert_eq!(
            reason(row("01/05/2015 12:40:41 PM", "", "Closed", "")),
            "closed_without_time"
        );
        assert_eq!(
            reason(row("01/05/2015 12:40:41 PM", "", "Pending", "")),
            "unknown_status"
        );
        assert_eq!(reason(vec!["1", "2"]), "wrong_width");
    }

    #[test]
    fn the_mapping_must_fit_the_file_and_our_vocabulary() {
        let m = mapping();
        let err = m.compile(&header()[1..], &|_| true, &|_| true).unwrap_err();
        assert!(err.0.contains("CASE_ENQUIRY_ID"), "{err}");
        let err = m.compile(&header(), &|_| false, &|_| true).unwrap_err();
        assert!(err.0.contains("unknown category"), "{err}");
        let mut bad = m.clone();
        bad.statuses
            .insert("Dispatched".into(), "dispatched".into());
        assert!(bad.compile(&header(), &|_| true, &|_| true).is_err());
    }

    #[test]
    fn time_zones_by_name_or_offset_and_the_daylight_saving_gap() {
        let z = Zone::parse("+08:00").unwrap();
        let n = NaiveDateTime::parse_from_str("2025-01-01 08:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(z.instant(n).to_rfc3339(), "2025-01-01T00:00:00+00:00");
        let ny = Zone::parse("America/New_York").unwrap();
        // 02:30 on 8 March 2015 did not exist in New York: read on the EST offset.
        let gap =
            NaiveDateTime::parse_from_str("2015-03-08 02:30:00", "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(ny.instant(gap).to_rfc3339(), "2015-03-08T07:30:00+00:00");
        assert!(Zone::parse("Mars/Olympus").is_err());
    }
}
