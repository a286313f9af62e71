//! The public doors' use cases, written once for the resident pages, the public API and
//! Open311: file a report (into the same case loop, through [`create_case_with_files`]), show
//! its public view by tracking code, take the reporter's rating at the return visit (the
//! engine's own `revisit`), and find similar open reports nearby. Abuse controls live here:
//! rate limits per client address and per device cookie, and files checked before anything
//! is stored.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use domain::attachment::Checked;
use domain::case::{Channel, Satisfaction, Status, Urgency};
use domain::category::Category;
use domain::coord::GeoPoint;
use domain::public_report::{self, DuplicateRule, Nearby, RateLimit, Stage, TrackingCode};
use serde::{Deserialize, Serialize};
use store::cases::CaseRecord;
use tokio::sync::OnceCell;

use crate::actions::attachments::{Upload, check_uploads};
use crate::actions::case::{
    LocationIn, NewCaseInput, create_case_with_files, engine_case, parse_location,
    revisit_by_reporter,
};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Longest description of a public report (characters).
pub const MAX_DESCRIPTION: usize = 2_000;
/// Reports per device cookie per hour.
pub const REPORTS_PER_DEVICE: usize = 6;
/// Reports per client address per hour (generous: mobile carriers put many phones behind one
/// address).
pub const REPORTS_PER_ADDRESS: usize = 60;
/// Tracking look-ups and ratings per client per minute (guessing codes is pointless, and slow).
pub const LOOKUPS_PER_MINUTE: usize = 120;

/// The setting holding the secret of tracking codes (shared by every server on the database).
const SECRET_SETTING: &str = "public.tracking_secret";

/// State of the public doors, shared by every request.
pub struct PublicState {
    secret: OnceCell<Vec<u8>>,
    /// Report submissions: per device and per address, each over an hour.
    pub reports_by_device: Mutex<RateLimit>,
    pub reports_by_address: Mutex<RateLimit>,
    /// Look-ups and ratings, per address or device, over a minute.
    pub lookups: Mutex<RateLimit>,
    pub duplicates: DuplicateRule,
}

impl Default for PublicState {
    fn default() -> Self {
        PublicState {
            secret: OnceCell::new(),
            reports_by_device: Mutex::new(RateLimit::new(REPORTS_PER_DEVICE, Duration::hours(1))),
            reports_by_address: Mutex::new(RateLimit::new(REPORTS_PER_ADDRESS, Duration::hours(1))),
            lookups: Mutex::new(RateLimit::new(LOOKUPS_PER_MINUTE, Duration::minutes(1))),
            duplicates: DuplicateRule::default(),
        }
    }
}

/// Who is asking, as far as the public doors can tell: the client address (when the server
/// knows it) and the device cookie the report page set (when the browser sent it back).
#[derive(Debug, Clone, Default)]
pub struct ClientKeys {
    pub address: Option<String>,
    pub device: Option<String>,
}

impl ClientKeys {
    fn address_key(&self) -> String {
        format!("ip:{}", self.address.as_deref().unwrap_or("unknown"))
    }
    fn device_key(&self) -> Option<String> {
        self.device.as_ref().map(|d| format!("dev:{d}"))
    }
}

fn limited(limit: &Mutex<RateLimit>, keys: &[String], now: DateTime<Utc>) -> AppResult<()> {
    let mut l = limit.lock().unwrap_or_else(|p| p.into_inner());
    l.check(keys, now)
        .map_err(|retry_after_s| AppError::TooManyRequests { retry_after_s })
}

/// Count a submission against the caller's limits (429 with `Retry-After` past them).
pub fn limit_report(state: &AppState, client: &ClientKeys) -> AppResult<()> {
    let now = state.clock.now();
    if let Some(dev) = client.device_key() {
        limited(&state.public.reports_by_device, &[dev], now)?;
    }
    limited(
        &state.public.reports_by_address,
        &[client.address_key()],
        now,
    )
}

/// Count a look-up or rating against the caller's limit.
pub fn limit_lookup(state: &AppState, client: &ClientKeys) -> AppResult<()> {
    let mut keys = vec![client.address_key()];
    keys.extend(client.device_key());
    limited(&state.public.lookups, &keys, state.clock.now())
}

/// The secret of tracking codes: read from the database, or made and stored on first use.
pub async fn secret(state: &AppState) -> AppResult<&[u8]> {
    let s = state
        .public
        .secret
        .get_or_try_init(|| async {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh)
                .map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
            let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
            let stored = state
                .db
                .setting_or_insert(SECRET_SETTING, &hex, state.clock.now())
                .await?;
            Ok::<_, AppError>(stored.into_bytes())
        })
        .await?;
    Ok(s.as_slice())
}

/// The tracking code of a case.
pub async fn tracking_code(state: &AppState, case_id: i64) -> AppResult<TrackingCode> {
    Ok(TrackingCode::of(case_id, secret(state).await?))
}

/// The case a tracking code names, if the code is genuine (404 otherwise: a wrong code and a
/// forged one look the same).
pub async fn case_of_code(state: &AppState, raw: &str) -> AppResult<(TrackingCode, CaseRecord)> {
    let (code, id) = TrackingCode::verify(raw, secret(state).await?)
        .ok_or_else(|| AppError::NotFound("report with this tracking code".into()))?;
    let rec = state
        .db
        .case_by_id(id)
        .await?
        .ok_or_else(|| AppError::NotFound("report with this tracking code".into()))?;
    Ok((code, rec))
}

/// Categories a resident may choose: every leaf that is not sensitive (those are reported
/// through the grid worker, not a public form), in tree order.
pub fn resident_categories(rules: &domain::rules::Rules) -> Vec<Category> {
    let tax = &rules.taxonomy;
    tax.all()
        .iter()
        .filter(|c| tax.is_leaf(&c.code) && !c.sensitive)
        .cloned()
        .collect()
}

/// A public report as the doors parse it (JSON body or form fields).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PublicReportRequest {
    /// A category code (a leaf; sensitive matters go through the grid worker).
    pub category: String,
    pub description: String,
    /// The phone's position (WGS-84 unless `datum` says `gcj02`).
    pub location: Option<LocationIn>,
    /// A village or community code, when the reporter chose a place instead.
    pub village: Option<String>,
    pub reporter: Option<PublicReporter>,
    /// `true`: keep no name or phone even if given.
    #[serde(default)]
    pub anonymous: bool,
    /// The same key twice files one report and returns its code both times.
    pub idempotency_key: Option<String>,
    /// `normal` (default) or `urgent`.
    pub urgency: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct PublicReporter {
    pub name: Option<String>,
    pub phone: Option<String>,
}

fn optional(field: &str, v: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.chars().count() > max => Err(AppError::unprocessable(
            field,
            format!("at most {max} characters"),
        )),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

impl PublicReportRequest {
    /// Parse into the case loop's input, on `channel`.
    pub fn parse(&self, rules: &domain::rules::Rules, channel: Channel) -> AppResult<NewCaseInput> {
        let category = self.category.trim();
        let ok = rules
            .taxonomy
            .get(category)
            .is_some_and(|c| !c.sensitive && rules.taxonomy.is_leaf(&c.code));
        if !ok {
            return Err(AppError::unprocessable(
                "category",
                "choose one of the categories offered",
            ));
        }
        let description = self.description.trim();
        if description.is_empty() {
            return Err(AppError::unprocessable(
                "description",
                "say what the problem is",
            ));
        }
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(AppError::unprocessable(
                "description",
                format!("at most {MAX_DESCRIPTION} characters"),
            ));
        }
        let location = self.location.as_ref().map(parse_location).transpose()?;
        let territory = match self.village.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => {
                let code = crate::actions::territory::parse_code("village", v)?;
                if code.level() != domain::Level::Village {
                    return Err(AppError::unprocessable(
                        "village",
                        "choose a village or community",
                    ));
                }
                Some(code)
            }
        };
        if location.is_none() && territory.is_none() {
            return Err(AppError::unprocessable(
                "location",
                "give the place: your position, a pin on the map, or a village",
            ));
        }
        let (name, phone) = if self.anonymous {
            (None, None)
        } else {
            let r = self.reporter.clone().unwrap_or_default();
            let phone = optional("reporter.phone", r.phone.as_deref(), 20)?;
            if let Some(p) = &phone {
                let digits = p.chars().filter(char::is_ascii_digit).count();
                if digits < 5 || !p.chars().all(|c| c.is_ascii_digit() || "+- ()".contains(c)) {
                    return Err(AppError::unprocessable(
                        "reporter.phone",
                        "a phone number of digits",
                    ));
                }
            }
            (optional("reporter.name", r.name.as_deref(), 50)?, phone)
        };
        let idempotency_key = match self.idempotency_key.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(k) => {
                if k.len() > 100
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                {
                    return Err(AppError::unprocessable(
                        "idempotency_key",
                        "1 to 100 characters of A-Z a-z 0-9 - _ . :",
                    ));
                }
                Some(k.to_owned())
            }
        };
        Ok(NewCaseInput {
            category: category.to_owned(),
            description: description.to_owned(),
            title: None,
            urgency: match self.urgency.as_deref().map(str::trim) {
                None | Some("") => Urgency::Normal,
                Some(u) => Urgency::parse(u).ok_or_else(|| {
                    AppError::unprocessable("urgency", "expected normal or urgent")
                })?,
            },
            location,
            territory,
            channel,
            reporter_name: name,
            reporter_phone: phone,
            idempotency_key,
        })
    }
}

/// An open report like this one nearby: what the public may know of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarReport {
    pub category: String,
    /// `received`, `in_progress`, …
    pub stage: String,
    pub created_at: DateTime<Utc>,
    /// Metres from the place given.
    pub distance_m: u32,
}

/// Open cases of the same category near `point`, created within the duplicate rule's window,
/// nearest first, with their distance in metres: the reporter's duplicate notice and the
/// centre's merge suggestion both come from here.
pub async fn similar_open_cases(
    state: &AppState,
    category: &str,
    point: GeoPoint,
    except: Option<i64>,
) -> AppResult<Vec<(CaseRecord, u32)>> {
    let rule = state.public.duplicates;
    let now = state.clock.now();
    let rows = state
        .db
        .open_cases_in_box(
            category,
            public_report::bounding_box(point, rule.radius_m),
            now - rule.window,
            50,
        )
        .await?;
    let nearby: Vec<Nearby> = rows
        .iter()
        .filter(|r| Some(r.id) != except)
        .filter_map(|r| {
            Some(Nearby {
                case_id: r.id,
                category: r.category.clone(),
                location: GeoPoint::from_datum(r.lng?, r.lat?, domain::coord::Datum::Wgs84).ok()?,
                created_at: r.created_at,
                status: Status::parse(&r.status)?,
            })
        })
        .collect();
    Ok(public_report::similar(rule, category, point, now, &nearby)
        .into_iter()
        .take(5)
        .filter_map(|(n, d)| {
            let rec = rows.iter().find(|r| r.id == n.case_id)?.clone();
            Some((rec, d.round() as u32))
        })
        .collect())
}

/// Open reports of the same category near `point` (the duplicate suggestion to a resident:
/// no codes, no texts, only that someone reported the same nearby).
pub async fn similar(
    state: &AppState,
    category: &str,
    point: GeoPoint,
    except: Option<i64>,
) -> AppResult<Vec<SimilarReport>> {
    Ok(similar_open_cases(state, category, point, except)
        .await?
        .into_iter()
        .filter_map(|(rec, distance_m)| {
            Some(SimilarReport {
                category: rec.category.clone(),
                stage: Stage::of(Status::parse(&rec.status)?).as_str().to_owned(),
                created_at: rec.created_at,
                distance_m,
            })
        })
        .collect())
}

/// What filing a report returns.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub tracking_code: TrackingCode,
    pub case: CaseRecord,
    /// `false`: the idempotency key named an earlier report.
    pub new: bool,
    pub similar: Vec<SimilarReport>,
}

/// File a report: every field and file checked (nothing stored if one is bad), the rate limits, then
/// the same case creation as `POST /api/v1/cases`, with the files in the same transaction.
pub async fn submit(
    state: &AppState,
    client: &ClientKeys,
    req: &PublicReportRequest,
    uploads: Vec<Upload>,
    channel: Channel,
) -> AppResult<Receipt> {
    let input = {
        let rules = state.rules.read().await;
        req.parse(&rules, channel)?
    };
    let files: Vec<Checked> = check_uploads(uploads, &[])?;
    // Only well-formed reports count against the limit: a resident correcting a mistake is
    // not held back, and a malformed flood costs only its parsing.
    limit_report(state, client)?;
    let (case, new) = create_case_with_files(state, None, input.clone(), files).await?;
    let similar = match input.location {
        Some(p) => similar(state, &input.category, p, Some(case.id)).await?,
        None => vec![],
    };
    if new {
        tracing::info!(
            case.id = case.id,
            channel = channel.as_str(),
            "public report filed"
        );
    }
    Ok(Receipt {
        tracking_code: tracking_code(state, case.id).await?,
        case,
        new,
        similar,
    })
}

/// One step of the public history, as the public API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicStepView {
    pub at: DateTime<Utc>,
    /// The engine's action (`create`, `accept`, `dispatch`, `report_handled`, `revisit`, …).
    pub action: String,
    /// The stage after it.
    pub stage: String,
    /// The unit the case went to (dispatch, transfer, escalation), by name.
    pub unit: Option<String>,
    pub reason: Option<String>,
    pub redirect: Option<String>,
    pub result: Option<String>,
    pub satisfaction: Option<String>,
    /// The reporter gave this answer (from the tracking page).
    pub by_reporter: bool,
}

/// The public view of a report: no name, no phone, no internal notes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PublicReportView {
    pub tracking_code: String,
    /// The case's state (DOMAIN.md §3).
    pub status: String,
    /// The plainer stage shown to the reporter.
    pub stage: String,
    pub category: String,
    pub category_name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the running step is due.
    pub deadline: Option<DateTime<Utc>>,
    /// The unit now holding the case, by name.
    pub handling_unit: String,
    pub result: Option<String>,
    pub satisfaction: Option<String>,
    /// The return visit is waiting for the reporter's answer.
    pub can_rate: bool,
    pub photos: usize,
    pub history: Vec<PublicStepView>,
}

/// The public view of the case behind a tracking code.
pub async fn public_view(
    state: &AppState,
    code: &TrackingCode,
    rec: &CaseRecord,
    lang: crate::i18n::Lang,
) -> AppResult<PublicReportView> {
    let case = engine_case(rec)?;
    let units = crate::actions::people::unit_map(state).await?;
    let unit_name = |code: &str| {
        units
            .get(code)
            .map_or_else(|| code.to_owned(), |u| u.name.clone())
    };
    let mut events = Vec::new();
    for e in state.db.case_events(rec.id).await? {
        events.push(
            serde_json::from_str::<domain::case::Event>(&e.body)
                .map_err(|err| AppError::Internal(format!("event of case {}: {err}", rec.id)))?,
        );
    }
    let history = public_report::public_history(&events)
        .into_iter()
        .map(|s| PublicStepView {
            at: s.at,
            action: s.action.to_owned(),
            stage: Stage::of(s.to_status).as_str().to_owned(),
            unit: s.unit.as_deref().map(unit_name),
            reason: s.reason,
            redirect: s.redirect,
            result: s.result.map(str::to_owned),
            satisfaction: s.satisfaction.map(str::to_owned),
            by_reporter: s.by_reporter,
        })
        .collect();
    let category_name = {
        let rules = state.rules.read().await;
        category_name(state, &rules, &rec.category, lang)
    };
    let photos = state
        .db
        .attachments_of(domain::attachment::OwnerKind::Case.as_str(), rec.id)
        .await?
        .iter()
        .filter(|a| a.kind == "photo")
        .count();
    Ok(PublicReportView {
        tracking_code: code.to_string(),
        status: rec.status.clone(),
        stage: Stage::of(case.status).as_str().to_owned(),
        category: rec.category.clone(),
        category_name,
        description: rec.description.clone(),
        created_at: rec.created_at,
        updated_at: rec.updated_at,
        deadline: rec.deadline,
        handling_unit: unit_name(&rec.handling_unit),
        result: case.result.map(|r| r.as_str().to_owned()),
        satisfaction: case.satisfaction.map(|s| s.as_str().to_owned()),
        can_rate: case.status == Status::Revisit,
        photos,
        history,
    })
}

/// A category's name in `lang`: the resident translations first, then the taxonomy's own.
pub fn category_name(
    state: &AppState,
    rules: &domain::rules::Rules,
    code: &str,
    lang: crate::i18n::Lang,
) -> String {
    let key = format!("resident-cat-{}", code.replace('.', "-"));
    let translated = state.i18n.t(lang, &key);
    if translated != key {
        return translated;
    }
    match rules.taxonomy.get(code) {
        Some(c) => match lang {
            crate::i18n::Lang::Zh => c.name.clone(),
            crate::i18n::Lang::En => c.name_en.clone(),
            crate::i18n::Lang::Bo => c.name_bo.clone().unwrap_or_else(|| c.name.clone()),
        },
        None => code.to_owned(),
    }
}

/// The reporter's rating at the return visit: the engine's `revisit`, with the same codes as
/// the centre's (`very_satisfied`, `satisfied`, `understanding`, `unsatisfied`).
pub async fn rate(
    state: &AppState,
    client: &ClientKeys,
    raw_code: &str,
    satisfaction: &str,
) -> AppResult<(TrackingCode, CaseRecord)> {
    limit_lookup(state, client)?;
    let satisfaction = Satisfaction::parse(satisfaction.trim()).ok_or_else(|| {
        AppError::unprocessable(
            "satisfaction",
            "expected very_satisfied, satisfied, understanding or unsatisfied",
        )
    })?;
    let (code, rec) = case_of_code(state, raw_code).await?;
    let rec = revisit_by_reporter(state, rec.id, satisfaction).await?;
    tracing::info!(case.id = rec.id, "reporter rated the case");
    Ok((code, rec))
}
