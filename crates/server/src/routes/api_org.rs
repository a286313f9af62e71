//! The JSON API of the organisation (`/api/v1/org/…`), the five coverages (`/api/v1/coverage`)
//! and spreadsheet import and export (`/api/v1/import/{kind}`, `/api/v1/export/{kind}`): thin
//! handlers over `actions::org` and `transfer`.

use std::io::Write as _;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::NaiveDate;
use domain::coverage::CoverageKind;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::actions::org::{
    self, ChangeView, CoverageView, GapView, GroupInput, HouseholdDetail, HouseholdInput,
    MemberInput, PairingInput, PairingView, PlaceInput, UnitInput,
};
use crate::actions::territory::parse_code;
use crate::auth::{ApiCaller, Caller};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use crate::transfer::sheet::Format;
use crate::transfer::{ImportOptions, ImportReport, Kind, Operator};

/// Largest spreadsheet an upload may be.
pub const MAX_UPLOAD: usize = 64 * 1024 * 1024;

/// The routes of this area, merged into `/api/v1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/coverage", get(get_coverage))
        .route("/coverage/gaps", get(get_coverage_gaps))
        .route("/coverage/export", get(export_coverage_gaps))
        .route(
            "/org/households",
            get(list_households).post(create_household),
        )
        .route(
            "/org/households/{id}",
            get(get_household).put(update_household),
        )
        .route("/org/members", get(list_members).post(create_member))
        .route("/org/members/{id}", get(get_member).put(update_member))
        .route("/org/units", post(create_unit))
        .route("/org/units/{code}", put(rename_unit))
        .route("/org/groups", get(list_groups).post(create_group))
        .route("/org/groups/{code}", put(set_group_head))
        .route("/org/places/{kind}", get(list_places).post(create_place))
        .route("/org/places/{kind}/{id}", get(get_place).put(update_place))
        .route("/org/pairings", get(list_pairings).post(create_pairing))
        .route(
            "/org/pairings/{id}",
            get(get_pairing).put(update_pairing).delete(delete_pairing),
        )
        .route("/org/history", get(get_history))
        .route("/export/{kind}", get(export_kind))
        .route(
            "/import/{kind}",
            post(import_kind).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
}

fn id_param(raw: &str) -> AppResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| AppError::unprocessable("id", format!("{raw:?} is not an id")))
}

pub(crate) fn limit_param(limit: Option<i64>, default: i64, max: i64) -> AppResult<i64> {
    let l = limit.unwrap_or(default);
    if (1..=max).contains(&l) {
        Ok(l)
    } else {
        Err(AppError::unprocessable(
            "limit",
            format!("limit must be between 1 and {max}"),
        ))
    }
}

fn date_param(raw: Option<&str>) -> AppResult<Option<NaiveDate>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::unprocessable("date", "expected YYYY-MM-DD")),
    }
}

fn cursor_param(raw: Option<&str>) -> AppResult<i64> {
    match raw {
        None | Some("") => Ok(0),
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| AppError::unprocessable("cursor", "not a cursor from this API")),
    }
}

/// A page of items with the cursor of the next page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub(crate) fn page<T>(items: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(&key))
        .flatten();
    Page { items, next_cursor }
}

// ---------------------------------------------------------------------------------------------
// Coverage

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageParams {
    /// Territory code: the node and everything below it.
    pub territory: String,
    /// The day pairings are counted on (default today, Asia/Shanghai).
    pub date: Option<String>,
    /// Gaps listed per coverage, 0–1000 (default 100).
    pub gap_limit: Option<i64>,
}

/// The five full coverages (五个全覆盖) of a node, with the gaps: households in no group or in a
/// group without a household head, monasteries without a paired cadre, enterprises without a
/// pairing, care households without a pair, villages without a paired department.
#[utoipa::path(get, path = "/api/v1/coverage", tag = "org",
    security(("bearer" = [])),
    params(CoverageParams),
    responses((status = 200, body = CoverageView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_coverage(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<CoverageParams>,
) -> AppResult<Json<CoverageView>> {
    let code = parse_code("territory", &q.territory)?;
    let gap_limit = q.gap_limit.unwrap_or(100);
    if !(0..=1000).contains(&gap_limit) {
        return Err(AppError::unprocessable("gap_limit", "0 to 1000"));
    }
    let day = date_param(q.date.as_deref())?;
    Ok(Json(
        org::coverage(&state, &caller, &code, day, gap_limit).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapParams {
    pub territory: String,
    /// `households_in_groups, monasteries_paired, enterprises_paired, care_households_paired,
    /// villages_paired`.
    pub kind: String,
    pub date: Option<String>,
    pub cursor: Option<String>,
    /// 1–1000 (default 200).
    pub limit: Option<i64>,
}

/// Every gap of one coverage, paged.
#[utoipa::path(get, path = "/api/v1/coverage/gaps", tag = "org",
    security(("bearer" = [])),
    params(GapParams),
    responses((status = 200, body = Page<GapView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_coverage_gaps(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<GapParams>,
) -> AppResult<Json<Page<GapView>>> {
    let code = parse_code("territory", &q.territory)?;
    let kind = CoverageKind::parse(&q.kind)
        .ok_or_else(|| AppError::unprocessable("kind", format!("unknown coverage {:?}", q.kind)))?;
    let limit = limit_param(q.limit, 200, 1000)?;
    let day = date_param(q.date.as_deref())?;
    let after = q.cursor.clone().unwrap_or_default();
    let items = org::coverage_gaps(&state, &caller, &code, kind, day, &after, limit).await?;
    Ok(Json(page(items, limit, |g| g.id.clone())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    pub territory: String,
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
}

pub(crate) fn format_param(raw: Option<&str>) -> AppResult<Format> {
    match raw {
        None | Some("") => Ok(Format::Xlsx),
        Some(f) => Format::parse(f)
            .ok_or_else(|| AppError::unprocessable("format", "expected xlsx or csv")),
    }
}

/// A temporary file streamed as a download (removed from disk at once; the open handle keeps it
/// readable until the response is sent).
pub async fn download(tmp: tempfile::TempPath, format: Format, stem: &str) -> AppResult<Response> {
    let file = tokio::fs::File::open(&tmp)
        .await
        .map_err(|e| AppError::Internal(format!("export file: {e}")))?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    drop(tmp);
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    let name = format!("{stem}.{}", format.extension());
    let disposition = format!(
        "attachment; filename=\"export.{}\"; filename*=UTF-8''{}",
        format.extension(),
        crate::routes::pages::urlencode(&name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(l) = len
        && let Ok(v) = HeaderValue::from_str(&l.to_string())
    {
        h.insert(header::CONTENT_LENGTH, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

pub(crate) fn temp_path(format: Format) -> AppResult<tempfile::TempPath> {
    tempfile::Builder::new()
        .prefix("gesang-export-")
        .suffix(&format!(".{}", format.extension()))
        .tempfile()
        .map(|f| f.into_temp_path())
        .map_err(|e| AppError::Internal(format!("temporary file: {e}")))
}

/// Write an export of `kind` for a caller to a temporary file.
pub async fn export_to_temp(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    territory: &str,
    format: Format,
) -> AppResult<(tempfile::TempPath, String)> {
    let code = caller.scoped(&parse_code("territory", territory)?)?;
    let node = crate::actions::territory::node(state, &code).await?;
    let tmp = temp_path(format)?;
    let op = Operator::of(caller, "api");
    match kind {
        Kind::Cases => {
            crate::transfer::cases::export_cases(state, &op, code.code(), format, &tmp).await?;
        }
        _ => {
            crate::transfer::org::export(
                &state.db,
                &op,
                kind,
                code.code(),
                format,
                &tmp,
                state.clock.now(),
            )
            .await?;
        }
    }
    Ok((tmp, format!("{}{}", node.name, kind.name_zh())))
}

/// Export a subtree's territory, households, members, pairings or cases as .xlsx or CSV, with
/// Chinese headers. Households' personal data is masked unless the role sees it.
#[utoipa::path(get, path = "/api/v1/export/{kind}", tag = "org",
    security(("bearer" = [])),
    params(("kind" = String, Path, description = "territory, households, members, pairings or cases"), ExportParams),
    responses((status = 200, description = "the file"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export_kind(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(kind): Path<String>,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> AppResult<Response> {
    let kind = Kind::parse(&kind).ok_or_else(|| AppError::NotFound(format!("export {kind}")))?;
    let format = format_param(q.format.as_deref())?;
    let (tmp, stem) = export_to_temp(&state, &caller, kind, &q.territory, format).await?;
    download(tmp, format, &stem).await
}

/// Every gap of the five coverages of a node as a workbook (one sheet per coverage) or a CSV.
#[utoipa::path(get, path = "/api/v1/coverage/export", tag = "org",
    security(("bearer" = [])),
    params(ExportParams),
    responses((status = 200, description = "the file"), (status = 403, body = ErrorBody)))]
pub async fn export_coverage_gaps(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ExportParams>,
) -> AppResult<Response> {
    let format = format_param(q.format.as_deref())?;
    let (tmp, stem) = gaps_to_temp(&state, &caller, &q.territory, format).await?;
    download(tmp, format, &stem).await
}

/// Write the gap lists of a node to a temporary file.
pub async fn gaps_to_temp(
    state: &AppState,
    caller: &Caller,
    territory: &str,
    format: Format,
) -> AppResult<(tempfile::TempPath, String)> {
    let code = caller.scoped(&parse_code("territory", territory)?)?;
    let node = crate::actions::territory::node(state, &code).await?;
    let tmp = temp_path(format)?;
    let day = org::today(state);
    crate::transfer::org::export_gaps(&state.db, code.code(), day, format, &tmp).await?;
    Ok((tmp, format!("{}五个全覆盖缺口", node.name)))
}

// ---------------------------------------------------------------------------------------------
// Import

/// The body of an import: the file itself (`Content-Type: text/csv` or the xlsx type, or
/// `?format=`), or `multipart/form-data` with `file` parts and, for cases, a `mapping` part.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `csv` or `xlsx`, when the content type does not say.
    pub format: Option<String>,
    /// Import the good rows of a file that has refused ones.
    pub partial: Option<bool>,
    /// Check and report only.
    pub dry_run: Option<bool>,
}

/// An uploaded file on disk.
pub struct Upload {
    pub path: tempfile::TempPath,
    pub name: String,
    pub format: Format,
}

/// Spool a stream of chunks to a temporary file, refusing more than [`MAX_UPLOAD`] bytes.
pub fn spool(format: Format) -> AppResult<(std::fs::File, tempfile::TempPath)> {
    let f = tempfile::Builder::new()
        .prefix("gesang-upload-")
        .suffix(&format!(".{}", format.extension()))
        .tempfile()
        .map_err(|e| AppError::Internal(format!("temporary file: {e}")))?;
    let (file, path) = f.into_parts();
    Ok((file, path))
}

fn format_of_upload(
    name: &str,
    content_type: Option<&str>,
    given: Option<&str>,
) -> AppResult<Format> {
    if let Some(g) = given.filter(|g| !g.is_empty()) {
        return Format::parse(g)
            .ok_or_else(|| AppError::unprocessable("format", "expected xlsx or csv"));
    }
    if let Some(f) = Format::of_path(std::path::Path::new(name)) {
        return Ok(f);
    }
    match content_type.map(|c| c.split(';').next().unwrap_or("").trim()) {
        Some("text/csv") | Some("text/plain") => Ok(Format::Csv),
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet") => {
            Ok(Format::Xlsx)
        }
        _ => Err(AppError::unprocessable(
            "format",
            "send a .csv or .xlsx file (Content-Type text/csv or the xlsx type, or ?format=)",
        )),
    }
}

/// Read a multipart upload: its `file` parts to disk, its other text parts as fields.
pub async fn read_multipart(
    mut mp: Multipart,
    given_format: Option<&str>,
) -> AppResult<(Vec<Upload>, std::collections::HashMap<String, String>)> {
    let mut files = Vec::new();
    let mut fields = std::collections::HashMap::new();
    let mut total = 0usize;
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::BadRequest(format!("multipart: {e}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().map(str::to_owned);
        match (name.as_str(), file_name) {
            ("file", Some(file_name)) if !file_name.is_empty() => {
                let format = format_of_upload(&file_name, field.content_type(), given_format)?;
                let (mut out, path) = spool(format)?;
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| AppError::BadRequest(format!("upload: {e}")))?
                {
                    total += chunk.len();
                    if total > MAX_UPLOAD {
                        return Err(AppError::PayloadTooLarge);
                    }
                    out.write_all(&chunk)
                        .map_err(|e| AppError::Internal(format!("spooling: {e}")))?;
                }
                files.push(Upload {
                    path,
                    name: file_name,
                    format,
                });
            }
            ("file", _) => {}
            (other, _) => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| AppError::BadRequest(format!("multipart: {e}")))?;
                if text.len() > 1024 * 1024 {
                    return Err(AppError::PayloadTooLarge);
                }
                fields.insert(other.to_owned(), text);
            }
        }
    }
    Ok((files, fields))
}

/// Run an import for a caller (the API and the pages).
pub async fn run_import(
    state: &AppState,
    caller: &Caller,
    kind: Kind,
    uploads: &[Upload],
    mapping: Option<&str>,
    opts: ImportOptions,
    via: &'static str,
) -> AppResult<Vec<ImportReport>> {
    org::require_manager(caller)?;
    if uploads.is_empty() {
        return Err(AppError::unprocessable("file", "choose a file to import"));
    }
    let op = Operator::of(caller, via);
    let mut reports = Vec::with_capacity(uploads.len());
    match kind {
        Kind::Cases => {
            let text = mapping.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
                AppError::unprocessable("mapping", "a case import needs a mapping (TOML)")
            })?;
            let mapping = crate::transfer::cases::parse_mapping(text)
                .map_err(|e| AppError::unprocessable("mapping", e))?;
            let files: Vec<(std::path::PathBuf, String)> = uploads
                .iter()
                .map(|u| (u.path.to_path_buf(), u.name.clone()))
                .collect();
            reports.extend(
                crate::transfer::cases::import_legacy(state, &op, &mapping, &files, opts, false)
                    .await?,
            );
        }
        _ => {
            for u in uploads {
                reports.push(
                    crate::transfer::org::import_file(
                        &state.db,
                        &op,
                        kind,
                        &u.path,
                        Some(u.format),
                        &u.name,
                        opts,
                        state.clock.now(),
                    )
                    .await?,
                );
            }
        }
    }
    Ok(reports)
}

/// What an import did, file by file.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportResponse {
    /// Whether every file was written.
    pub committed: bool,
    #[schema(value_type = Vec<Object>)]
    pub files: Vec<ImportReport>,
}

/// Import a CSV or .xlsx of territory, households, members or pairings (or, with a mapping, a
/// legacy case history). Every row is checked first; a file with a refused row writes nothing
/// unless `partial=true`. 201 when written, 200 when nothing was (a dry run, or refused rows).
#[utoipa::path(post, path = "/api/v1/import/{kind}", tag = "org",
    security(("bearer" = [])),
    params(("kind" = String, Path, description = "territory, households, members, pairings or cases"), ImportParams),
    responses((status = 201, body = ImportResponse), (status = 200, body = ImportResponse),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_kind(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(kind): Path<String>,
    ApiQuery(q): ApiQuery<ImportParams>,
    req: Request,
) -> AppResult<Response> {
    let kind = Kind::parse(&kind).ok_or_else(|| AppError::NotFound(format!("import {kind}")))?;
    org::require_manager(&caller)?;
    let opts = ImportOptions {
        partial: q.partial.unwrap_or(false),
        dry_run: q.dry_run.unwrap_or(false),
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (uploads, fields) = if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("multipart/form-data"))
    {
        let mp = Multipart::from_request(req, &state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        read_multipart(mp, q.format.as_deref()).await?
    } else {
        let format = format_of_upload("", content_type.as_deref(), q.format.as_deref())?;
        let (mut out, path) = spool(format)?;
        let mut body = req.into_body();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| AppError::BadRequest(format!("upload: {e}")))?;
            if let Ok(data) = frame.into_data() {
                total += data.len();
                if total > MAX_UPLOAD {
                    return Err(AppError::PayloadTooLarge);
                }
                out.write_all(&data)
                    .map_err(|e| AppError::Internal(format!("spooling: {e}")))?;
            }
        }
        let name = format!("upload.{}", format.extension());
        (vec![Upload { path, name, format }], Default::default())
    };
    let reports = run_import(
        &state,
        &caller,
        kind,
        &uploads,
        fields.get("mapping").map(String::as_str),
        opts,
        "api",
    )
    .await?;
    let committed = !opts.dry_run && reports.iter().all(|r| r.committed);
    let status = if committed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ImportResponse {
            committed,
            files: reports,
        }),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Households

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    pub territory: String,
    pub cursor: Option<String>,
    /// 1–500 (default 100).
    pub limit: Option<i64>,
}

/// Households of a node (personal data masked: open one to see it).
#[utoipa::path(get, path = "/api/v1/org/households", tag = "org",
    security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Page<HouseholdDetail>), (status = 403, body = ErrorBody)))]
pub async fn list_households(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> AppResult<Json<Page<HouseholdDetail>>> {
    let at = caller.scoped(&parse_code("territory", &q.territory)?)?;
    let limit = limit_param(q.limit, 100, 500)?;
    let items = org::households(&state, &at, cursor_param(q.cursor.as_deref())?, limit).await?;
    Ok(Json(page(items, limit, |h| h.id.to_string())))
}

/// One household; unmasked for administrators (and audited).
#[utoipa::path(get, path = "/api/v1/org/households/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = HouseholdDetail), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_household(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<HouseholdDetail>> {
    Ok(Json(
        org::household(&state, &caller, id_param(&id)?, "api").await?,
    ))
}

/// Create a household.
#[utoipa::path(post, path = "/api/v1/org/households", tag = "org",
    security(("bearer" = [])), request_body = HouseholdInput,
    responses((status = 201, body = HouseholdDetail), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "duplicate ID number"), (status = 422, body = ErrorBody)))]
pub async fn create_household(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<HouseholdInput>,
) -> AppResult<(StatusCode, Json<HouseholdDetail>)> {
    let h = org::save_household(&state, &caller, None, &input, "api").await?;
    Ok((StatusCode::CREATED, Json(h)))
}

/// Change a household (its grid, group, head, contact, care flag…).
#[utoipa::path(put, path = "/api/v1/org/households/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = HouseholdInput,
    responses((status = 200, body = HouseholdDetail), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_household(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<HouseholdInput>,
) -> AppResult<Json<HouseholdDetail>> {
    Ok(Json(
        org::save_household(&state, &caller, Some(id_param(&id)?), &input, "api").await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Members, units, groups

#[utoipa::path(get, path = "/api/v1/org/members", tag = "org",
    security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Page<Object>), (status = 403, body = ErrorBody)))]
pub async fn list_members(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> AppResult<Json<Page<store::org::MemberRecord>>> {
    let at = caller.scoped(&parse_code("territory", &q.territory)?)?;
    let limit = limit_param(q.limit, 100, 500)?;
    let items = org::members(&state, &at, cursor_param(q.cursor.as_deref())?, limit).await?;
    Ok(Json(page(items, limit, |m| m.id.to_string())))
}

#[utoipa::path(get, path = "/api/v1/org/members/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_member(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<store::org::MemberRecord>> {
    Ok(Json(org::member(&state, &caller, id_param(&id)?).await?))
}

#[utoipa::path(post, path = "/api/v1/org/members", tag = "org",
    security(("bearer" = [])), request_body = MemberInput,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_member(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<MemberInput>,
) -> AppResult<(StatusCode, Json<store::org::MemberRecord>)> {
    let m = org::save_member(&state, &caller, None, &input, "api").await?;
    Ok((StatusCode::CREATED, Json(m)))
}

#[utoipa::path(put, path = "/api/v1/org/members/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = MemberInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_member(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MemberInput>,
) -> AppResult<Json<store::org::MemberRecord>> {
    Ok(Json(
        org::save_member(&state, &caller, Some(id_param(&id)?), &input, "api").await?,
    ))
}

/// Create a department (`<territory>-<slug>`).
#[utoipa::path(post, path = "/api/v1/org/units", tag = "org",
    security(("bearer" = [])), request_body = UnitInput,
    responses((status = 201, body = crate::actions::people::UnitView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_unit(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<UnitInput>,
) -> AppResult<(StatusCode, Json<crate::actions::people::UnitView>)> {
    let u = org::save_unit(&state, &caller, None, &input, "api").await?;
    Ok((StatusCode::CREATED, Json(u.into())))
}

/// Rename a unit.
#[utoipa::path(put, path = "/api/v1/org/units/{code}", tag = "org",
    security(("bearer" = [])), params(("code" = String, Path)), request_body = UnitInput,
    responses((status = 200, body = crate::actions::people::UnitView), (status = 404, body = ErrorBody)))]
pub async fn rename_unit(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<UnitInput>,
) -> AppResult<Json<crate::actions::people::UnitView>> {
    let u = org::save_unit(&state, &caller, Some(&code), &input, "api").await?;
    Ok(Json(u.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GridParam {
    /// Grid code (15 digits).
    pub grid: String,
}

/// The joint-defence groups of a grid with their household heads.
#[utoipa::path(get, path = "/api/v1/org/groups", tag = "org",
    security(("bearer" = [])), params(GridParam),
    responses((status = 200, body = Vec<Object>), (status = 403, body = ErrorBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<GridParam>,
) -> AppResult<Json<Vec<store::org::GroupRecord>>> {
    let grid = parse_code("grid", &q.grid)?;
    Ok(Json(org::groups(&state, &caller, &grid).await?))
}

/// Create a group in a grid (with its household head).
#[utoipa::path(post, path = "/api/v1/org/groups", tag = "org",
    security(("bearer" = [])), params(GridParam), request_body = GroupInput,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<GridParam>,
    ApiJson(input): ApiJson<GroupInput>,
) -> AppResult<(StatusCode, Json<store::org::GroupRecord>)> {
    let grid = parse_code("grid", &q.grid)?;
    let g = org::create_group(&state, &caller, &grid, &input, "api").await?;
    Ok((StatusCode::CREATED, Json(g)))
}

/// Set (or clear, with `head` null) a group's household head.
#[utoipa::path(put, path = "/api/v1/org/groups/{code}", tag = "org",
    security(("bearer" = [])), params(("code" = String, Path)), request_body = GroupInput,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_group_head(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<GroupInput>,
) -> AppResult<StatusCode> {
    let group = parse_code("code", &code)?;
    org::set_group_head(&state, &caller, &group, input.head, "api").await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Monasteries and enterprises

#[utoipa::path(get, path = "/api/v1/org/places/{kind}", tag = "org",
    security(("bearer" = [])), params(("kind" = String, Path, description = "monastery or enterprise"), ListParams),
    responses((status = 200, body = Page<Object>), (status = 403, body = ErrorBody)))]
pub async fn list_places(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(kind): Path<String>,
    ApiQuery(q): ApiQuery<ListParams>,
) -> AppResult<Json<Page<store::org::PlaceRecord>>> {
    let kind = org::place_kind(&kind)?;
    let at = caller.scoped(&parse_code("territory", &q.territory)?)?;
    let limit = limit_param(q.limit, 100, 500)?;
    let items = state
        .db
        .places_page(kind, at.code(), cursor_param(q.cursor.as_deref())?, limit)
        .await?;
    Ok(Json(page(items, limit, |p| p.id.to_string())))
}

#[utoipa::path(get, path = "/api/v1/org/places/{kind}/{id}", tag = "org",
    security(("bearer" = [])), params(("kind" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_place(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path((kind, id)): Path<(String, String)>,
) -> AppResult<Json<store::org::PlaceRecord>> {
    let kind = org::place_kind(&kind)?;
    Ok(Json(
        org::place(&state, &caller, kind, id_param(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/org/places/{kind}", tag = "org",
    security(("bearer" = [])), params(("kind" = String, Path)), request_body = PlaceInput,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_place(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(kind): Path<String>,
    ApiJson(input): ApiJson<PlaceInput>,
) -> AppResult<(StatusCode, Json<store::org::PlaceRecord>)> {
    let kind = org::place_kind(&kind)?;
    let p = org::save_place(&state, &caller, kind, None, &input, "api").await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(put, path = "/api/v1/org/places/{kind}/{id}", tag = "org",
    security(("bearer" = [])), params(("kind" = String, Path), ("id" = i64, Path)), request_body = PlaceInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_place(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path((kind, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<PlaceInput>,
) -> AppResult<Json<store::org::PlaceRecord>> {
    let kind = org::place_kind(&kind)?;
    Ok(Json(
        org::save_place(&state, &caller, kind, Some(id_param(&id)?), &input, "api").await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Pairings

/// Pairings whose target lies in a node's subtree.
#[utoipa::path(get, path = "/api/v1/org/pairings", tag = "org",
    security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = Page<Object>), (status = 403, body = ErrorBody)))]
pub async fn list_pairings(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ListParams>,
) -> AppResult<Json<Page<PairingView>>> {
    let at = caller.scoped(&parse_code("territory", &q.territory)?)?;
    let limit = limit_param(q.limit, 100, 500)?;
    let items = org::pairings(&state, &at, cursor_param(q.cursor.as_deref())?, limit).await?;
    Ok(Json(page(items, limit, |p| p.id.to_string())))
}

#[utoipa::path(get, path = "/api/v1/org/pairings/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_pairing(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<Json<PairingView>> {
    Ok(Json(org::pairing(&state, &caller, id_param(&id)?).await?))
}

/// Create a pairing (any of the six kinds), with its start date and, once ended, its end date.
#[utoipa::path(post, path = "/api/v1/org/pairings", tag = "org",
    security(("bearer" = [])), request_body = PairingInput,
    responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_pairing(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<PairingInput>,
) -> AppResult<(StatusCode, Json<PairingView>)> {
    let p = org::save_pairing(&state, &caller, None, &input, "api").await?;
    Ok((StatusCode::CREATED, Json(p)))
}

#[utoipa::path(put, path = "/api/v1/org/pairings/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)), request_body = PairingInput,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_pairing(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PairingInput>,
) -> AppResult<Json<PairingView>> {
    Ok(Json(
        org::save_pairing(&state, &caller, Some(id_param(&id)?), &input, "api").await?,
    ))
}

/// Delete a pairing entered by mistake (a pairing that ended gets an end date instead).
#[utoipa::path(delete, path = "/api/v1/org/pairings/{id}", tag = "org",
    security(("bearer" = [])), params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_pairing(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    org::delete_pairing(&state, &caller, id_param(&id)?, "api").await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// History

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The subtree's changes (when no entity is given).
    pub territory: Option<String>,
    /// `member, unit, household, group, monastery, enterprise, pairing, territory`.
    pub entity: Option<String>,
    pub id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// The history of one thing (`entity` and `id`) or of a subtree: who changed what, when, the
/// values before and after.
#[utoipa::path(get, path = "/api/v1/org/history", tag = "org",
    security(("bearer" = [])), params(HistoryParams),
    responses((status = 200, body = Page<ChangeView>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_history(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<HistoryParams>,
) -> AppResult<Json<Page<ChangeView>>> {
    let limit = limit_param(q.limit, 100, 500)?;
    match (&q.entity, &q.id, &q.territory) {
        (Some(e), Some(id), _) => {
            let items = org::history_of(&state, &caller, e, id).await?;
            Ok(Json(Page {
                items,
                next_cursor: None,
            }))
        }
        (None, None, Some(t)) => {
            let code = parse_code("territory", t)?;
            let before = cursor_param(q.cursor.as_deref())?;
            let items = org::history_within(&state, &caller, &code, before, limit).await?;
            Ok(Json(page(items, limit, |c| c.id.to_string())))
        }
        _ => Err(AppError::unprocessable(
            "territory",
            "give territory, or entity and id",
        )),
    }
}
