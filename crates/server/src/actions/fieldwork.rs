//! Field work: work logs (台账) and daily reports (日报) of grid workers, household heads and the
//! members of the forces, written once for every door. A hazard found on an inspection becomes
//! a case through the ordinary case intake, in the same request.

use chrono::{DateTime, NaiveDate, Utc};
use domain::TerritoryCode;
use domain::account::Role;
use domain::case::{Channel, Urgency};
use domain::coord::{Datum, GeoPoint};
use domain::fieldwork::{DailyReport, FieldworkError, WorklogDetails, WorklogKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::fieldwork::{
    DailyReportRecord, NewDailyReport, NewWorklog, WorklogInsert, WorklogRecord,
};

use crate::actions::case::{self as cases, NewCaseInput};
use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const MAX_KEY: usize = 100;

impl From<FieldworkError> for AppError {
    fn from(e: FieldworkError) -> AppError {
        AppError::unprocessable(&e.field, e.message)
    }
}

/// The body of `POST /api/v1/worklogs`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CreateWorklogRequest {
    /// `propaganda`, `service`, `visit`, `hazard_inspection` or `dispute_screening`.
    pub kind: String,
    /// Where the work was done: a node inside the caller's scope (default: the caller's node).
    pub territory: Option<String>,
    /// When (RFC 3339; default now).
    pub at: Option<String>,
    /// Per kind: propaganda `{topic, place, attendees, language: zh|bo|bilingual}`; service
    /// `{household?, what}`; visit `{household, note?}`; hazard_inspection `{place,
    /// hazard_found, category?, description?, location?: {lat, lng}, urgent?, note?}` (a hazard
    /// found becomes a case); dispute_screening `{place, disputes_found?, note?}`.
    #[schema(value_type = Object)]
    pub details: Option<Value>,
    /// The same key twice stores one log and returns it both times.
    pub idempotency_key: Option<String>,
}

/// A work log as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WorklogView {
    /// The log's id (a string, like case ids).
    pub id: String,
    pub kind: String,
    pub territory: String,
    pub at: DateTime<Utc>,
    /// The day it counts on (Asia/Shanghai).
    pub day: NaiveDate,
    #[schema(value_type = Object)]
    pub details: Value,
    /// The case a hazard found became (its id, a string like every case id).
    pub case_id: Option<String>,
    pub case_code: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The body of `POST /api/v1/daily-reports`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct DailyReportRequest {
    /// `YYYY-MM-DD` (Asia/Shanghai): today or up to 7 days back.
    pub date: String,
    /// 零报告: nothing to report.
    pub nothing_to_report: bool,
    pub text: Option<String>,
    pub idempotency_key: Option<String>,
}

/// A daily report as the API returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DailyReportView {
    pub date: NaiveDate,
    pub territory: String,
    pub nothing_to_report: bool,
    pub text: Option<String>,
    /// This report replaced an earlier one of the same day.
    pub replaced: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn parse_key(raw: Option<&str>) -> AppResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(k) => {
            let ok = !k.is_empty()
                && k.len() <= MAX_KEY
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
            if ok {
                Ok(Some(k.to_owned()))
            } else {
                Err(AppError::unprocessable(
                    "idempotency_key",
                    "1 to 100 characters of A-Z a-z 0-9 - _ . :",
                ))
            }
        }
    }
}

/// Who keeps work logs: grid workers, household heads, and the members of the forces who work
/// in a centre or a department (paired cadres).
fn may_log(role: Role) -> bool {
    matches!(
        role,
        Role::GridWorker | Role::HouseholdHead | Role::DepartmentHandler | Role::CenterOperator
    )
}

/// Who sends daily reports: grid workers and household heads.
fn may_report_daily(role: Role) -> bool {
    matches!(role, Role::GridWorker | Role::HouseholdHead)
}

/// A parsed work log.
pub struct NewWorklogInput {
    pub territory: TerritoryCode,
    pub at: DateTime<Utc>,
    pub details: WorklogDetails,
    pub idempotency_key: Option<String>,
}

impl CreateWorklogRequest {
    /// Parse at the edge.
    pub fn parse(&self, caller: &Caller, now: DateTime<Utc>) -> AppResult<NewWorklogInput> {
        let kind = WorklogKind::parse(self.kind.trim()).ok_or_else(|| {
            AppError::unprocessable(
                "kind",
                "propaganda, service, visit, hazard_inspection or dispute_screening",
            )
        })?;
        let territory = match self.territory.as_deref().map(str::trim) {
            None | Some("") => caller.principal.scope.clone(),
            Some(t) => crate::actions::territory::parse_code("territory", t)?,
        };
        let at = match self.at.as_deref().map(str::trim) {
            None | Some("") => now,
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map_err(|_| AppError::unprocessable("at", "an RFC 3339 time"))?
                .with_timezone(&Utc),
        };
        if at > now + chrono::Duration::minutes(10) {
            return Err(AppError::unprocessable("at", "the time is in the future"));
        }
        if now - at > chrono::Duration::days(90) {
            return Err(AppError::unprocessable("at", "more than 90 days ago"));
        }
        let details = WorklogDetails::parse(kind, self.details.as_ref().unwrap_or(&Value::Null))?;
        Ok(NewWorklogInput {
            territory,
            at,
            details,
            idempotency_key: parse_key(self.idempotency_key.as_deref())?,
        })
    }
}

/// Store a work log; a hazard found first becomes a case (idempotently, under a key derived
/// from the log's), so a retried request makes one case and one log.
pub async fn create_worklog(
    state: &AppState,
    caller: &Caller,
    input: NewWorklogInput,
) -> AppResult<(WorklogView, bool)> {
    if !may_log(caller.role()) {
        return Err(AppError::Forbidden(
            "work logs are kept by grid workers, household heads and members of the forces".into(),
        ));
    }
    let territory = caller.scoped(&input.territory)?;
    let key = input
        .idempotency_key
        .as_ref()
        .map(|k| format!("{}:{k}", caller.principal.account_id));
    if let Some(k) = &key
        && let Some(rec) = state.db.worklog_by_key(k).await?
    {
        return Ok((view(state, rec).await?, false));
    }
    if state.db.territory(territory.code()).await?.is_none() {
        return Err(AppError::unprocessable(
            "territory",
            format!("unknown territory {}", territory.code()),
        ));
    }
    if let Some(h) = input.details.household() {
        let rec = state
            .db
            .household(h)
            .await?
            .ok_or_else(|| AppError::unprocessable("details.household", "unknown household"))?;
        let place = rec.group.as_deref().unwrap_or(&rec.grid);
        let place = crate::actions::territory::parse_code("details.household", place)?;
        caller.scoped(&place)?;
    }
    let mut case_id = None;
    if let WorklogDetails::HazardInspection {
        hazard: Some(h),
        place,
        ..
    } = &input.details
    {
        if state.rules.read().await.taxonomy.get(&h.category).is_none() {
            return Err(AppError::unprocessable(
                "details.category",
                format!(
                    "unknown category {:?}; see GET /api/v1/categories",
                    h.category
                ),
            ));
        }
        let location = h
            .location
            .map(|(lng, lat)| GeoPoint::from_datum(lng, lat, Datum::Wgs84))
            .transpose()
            .map_err(|e| AppError::unprocessable("details.location", e.to_string()))?;
        let case_input = NewCaseInput {
            category: h.category.clone(),
            description: h.description.clone(),
            title: Some(format!("隐患排查：{place}")),
            urgency: if h.urgent {
                Urgency::Urgent
            } else {
                Urgency::Normal
            },
            territory: location.is_none().then(|| territory.code().clone()),
            location,
            channel: Channel::FieldApp,
            reporter_name: None,
            reporter_phone: None,
            idempotency_key: input.idempotency_key.as_ref().map(|k| format!("wl:{k}")),
        };
        let (rec, _) = cases::create_case(state, Some(caller), case_input).await?;
        case_id = Some(rec.id);
    }
    let details = serde_json::to_string(&input.details)
        .map_err(|e| AppError::Internal(format!("details: {e}")))?;
    let out = state
        .db
        .insert_worklog(NewWorklog {
            account: caller.principal.account_id,
            kind: input.details.kind(),
            territory: territory.code().clone(),
            at: input.at,
            day: domain::stats::day_of(input.at),
            details,
            attendees: input.details.attendees(),
            case_id,
            idempotency_key: key,
            created_at: state.clock.now(),
        })
        .await?;
    Ok(match out {
        WorklogInsert::New(r) => (view(state, r).await?, true),
        WorklogInsert::Existing(r) => (view(state, r).await?, false),
    })
}

async fn view(state: &AppState, r: WorklogRecord) -> AppResult<WorklogView> {
    let case_code = match r.case_id {
        Some(id) => state.db.case_by_id(id).await?.map(|c| c.code),
        None => None,
    };
    let mut details: Value = serde_json::from_str(&r.details).unwrap_or(Value::Null);
    if let Value::Object(o) = &mut details {
        o.remove("kind");
    }
    Ok(WorklogView {
        id: r.id.to_string(),
        kind: r.kind,
        territory: r.territory,
        at: r.at,
        day: r.day,
        details,
        case_id: r.case_id.map(|i| i.to_string()),
        case_code,
        created_at: r.created_at,
    })
}

/// Which logs to list: the caller's own (no `territory`), or every log under a node inside
/// the caller's scope, of a kind, over days (the logs behind a 政策宣传 or 帮办实事 figure).
#[derive(Debug, Clone, Default)]
pub struct WorklogQuery<'a> {
    pub territory: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub before: Option<i64>,
    pub limit: i64,
}

/// A listed log with its author's name.
pub struct ListedWorklog {
    pub view: WorklogView,
    pub author: String,
}

/// The logs `q` asks for, newest first.
pub async fn list_worklogs(
    state: &AppState,
    caller: &Caller,
    q: &WorklogQuery<'_>,
) -> AppResult<Vec<ListedWorklog>> {
    let kind = match q.kind.map(str::trim) {
        None | Some("") => None,
        Some(k) => Some(
            WorklogKind::parse(k).ok_or_else(|| AppError::unprocessable("kind", "unknown kind"))?,
        ),
    };
    let within = match q.territory.map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(caller.scoped(&crate::actions::territory::parse_code("territory", t)?)?),
    };
    let day = crate::actions::figures::day;
    let days = match (day("from", q.from)?, day("to", q.to)?) {
        (None, None) => None,
        (f, t) => {
            // Bounds both engines compare as dates (SQLite compares the text).
            let f = f.unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
            let t = t.unwrap_or(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default());
            if f > t {
                return Err(AppError::unprocessable("to", "before from"));
            }
            Some((f, t))
        }
    };
    let code = within.as_ref().map(|w| w.code().to_string());
    let rows = state
        .db
        .worklogs(&store::fieldwork::WorklogFilter {
            account: within.is_none().then_some(caller.principal.account_id),
            within: code.as_deref(),
            kind,
            days,
            before: q.before,
            limit: q.limit.clamp(1, 200),
        })
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (r, author) in rows {
        out.push(ListedWorklog {
            view: view(state, r).await?,
            author,
        });
    }
    Ok(out)
}

/// Today in the prefecture.
pub fn today(state: &AppState) -> NaiveDate {
    domain::stats::day_of(state.clock.now())
}

/// Store the caller's daily report for a day, replacing one sent before.
pub async fn put_daily_report(
    state: &AppState,
    caller: &Caller,
    req: &DailyReportRequest,
) -> AppResult<DailyReportView> {
    if !may_report_daily(caller.role()) {
        return Err(AppError::Forbidden(
            "daily reports are sent by grid workers and household heads".into(),
        ));
    }
    let report = DailyReport::parse(
        &req.date,
        req.nothing_to_report,
        req.text.as_deref(),
        today(state),
    )?;
    let key = parse_key(req.idempotency_key.as_deref())?;
    let home = caller.home();
    let (rec, replaced) = state
        .db
        .put_daily_report(&NewDailyReport {
            account: caller.principal.account_id,
            territory: home.code(),
            day: report.date,
            nothing_to_report: report.nothing_to_report,
            text: report.text.as_deref(),
            idempotency_key: key.as_deref(),
            now: state.clock.now(),
        })
        .await?;
    Ok(report_view(rec, replaced))
}

fn report_view(r: DailyReportRecord, replaced: bool) -> DailyReportView {
    DailyReportView {
        date: r.day,
        territory: r.territory,
        nothing_to_report: r.nothing_to_report,
        text: r.text,
        replaced,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// The caller's daily reports of the last 30 days.
pub async fn list_daily_reports(
    state: &AppState,
    caller: &Caller,
) -> AppResult<Vec<DailyReportView>> {
    let to = today(state);
    let from = to - chrono::Duration::days(30);
    Ok(state
        .db
        .daily_reports_of(caller.principal.account_id, from, to)
        .await?
        .into_iter()
        .map(|r| report_view(r, false))
        .collect())
}
