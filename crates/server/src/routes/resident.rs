//! The resident channel (我要报事): the pages `/report` and `/track/{code}`, mobile first and
//! working without JavaScript, in Chinese, Tibetan and English; and the public API
//! `POST /api/v1/public/reports`, `GET /api/v1/public/reports/{code}` with the rating and the
//! duplicate suggestion. Every door calls `actions::resident`.

use askama::Template;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::case::Channel;
use domain::category::Class;
use domain::clock::beijing_minute as beijing;
use serde::{Deserialize, Serialize};

use crate::actions::case::LocationIn;
use crate::actions::resident::{
    self as resident, ClientKeys, PublicReportRequest, PublicReportView, PublicReporter,
    SimilarReport,
};
use crate::auth::{ClientIp, cookie};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::i18n::Lang;
use crate::map::{self, MapShape};
use crate::routes::api_attachments::{MultipartForm, file_response, read_multipart};
use crate::routes::extract::{ApiJson, ApiQuery};
use crate::routes::pages::{PageCtx, Texts};
use crate::state::AppState;

/// The device cookie the report page sets, for the per-device rate limit.
const DEVICE_COOKIE: &str = "gesang_device";
/// The Tibetan font, versioned by name and cached for a year.
pub const TIBETAN_FONT: &str = "/static/fonts/noto-serif-tibetan-2.103-core.woff2";

/// The public API routes (under `/api/v1`).
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route(
            "/public/reports",
            post(create_report).layer(axum::extract::DefaultBodyLimit::max(
                crate::actions::attachments::MAX_UPLOAD_BODY,
            )),
        )
        .route("/public/reports/{tracking_code}", get(get_report))
        .route("/public/reports/{tracking_code}/rating", post(rate_report))
        .route("/public/similar", get(similar_reports))
}

/// The resident pages and their static files.
pub fn page_router() -> Router<AppState> {
    Router::new()
        .route(
            "/report",
            get(report_page)
                .post(submit_report_page)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::actions::attachments::MAX_UPLOAD_BODY,
                )),
        )
        .route("/track", get(track_lookup))
        .route("/track/{code}", get(track_page))
        .route("/track/{code}/rate", post(rate_page))
        .route("/track/{code}/files/{id}", get(track_file))
        .route(
            "/static/resident.css",
            get(|| static_text("text/css", include_str!("../../static/resident.css"))),
        )
        .route(
            "/static/resident-bo.css",
            get(|| static_text("text/css", include_str!("../../static/resident-bo.css"))),
        )
        .route(
            "/static/resident.js",
            get(|| static_text("text/javascript", include_str!("../../static/resident.js"))),
        )
        .route(TIBETAN_FONT, get(tibetan_font))
        .layer(tower_http::csrf::CsrfLayer::new())
}

async fn static_text(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, format!("{kind}; charset=utf-8")),
            (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn tibetan_font() -> Response {
    (
        [
            (header::CONTENT_TYPE, "font/woff2"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        include_bytes!("../../static/fonts/noto-serif-tibetan-2.103-core.woff2").as_slice(),
    )
        .into_response()
}

fn client_keys(ip: Option<std::net::IpAddr>, headers: &HeaderMap) -> ClientKeys {
    ClientKeys {
        address: ip.map(|i| i.to_string()),
        device: cookie(headers, DEVICE_COOKIE).filter(|d| {
            (16..=64).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_alphanumeric())
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// The public API

/// The answer to a filed report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportReceipt {
    /// Follow the report with it: `GET /api/v1/public/reports/{tracking_code}`, `/track/{code}`.
    pub tracking_code: String,
    /// The tracking page.
    pub url: String,
    /// Open reports of the same category nearby (a possible duplicate; the centre sees them
    /// too, to merge).
    pub similar: Vec<SimilarReport>,
}

/// Form fields of a multipart report, as the page and API clients send them.
fn request_from_form(form: &MultipartForm) -> AppResult<PublicReportRequest> {
    let t = |k: &str| {
        form.text
            .get(k)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let num = |k: &str| -> AppResult<Option<f64>> {
        t(k).map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| AppError::unprocessable("location", format!("{k} is not a number")))
        })
        .transpose()
    };
    let location = match (num("lat")?, num("lng")?) {
        (Some(lat), Some(lng)) => Some(LocationIn {
            lat,
            lng,
            datum: t("datum"),
        }),
        (None, None) => None,
        _ => {
            return Err(AppError::unprocessable("location", "give both lat and lng"));
        }
    };
    Ok(PublicReportRequest {
        category: t("category").unwrap_or_default(),
        description: t("description").unwrap_or_default(),
        location,
        village: t("village"),
        reporter: Some(PublicReporter {
            name: t("name"),
            phone: t("phone"),
        }),
        anonymous: matches!(t("anonymous").as_deref(), Some("1" | "on" | "true")),
        idempotency_key: t("idempotency_key"),
        urgency: t("urgency"),
    })
}

/// A JSON or multipart report body.
async fn read_report(
    state: &AppState,
    req: Request,
) -> AppResult<(
    PublicReportRequest,
    Vec<crate::actions::attachments::Upload>,
)> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, state).await;
        let form = read_multipart(mp).await?;
        Ok((request_from_form(&form)?, form.files))
    } else {
        let ApiJson(body) = ApiJson::<PublicReportRequest>::from_request(req, state).await?;
        Ok((body, vec![]))
    }
}

/// File a report without an account: JSON (`PublicReportRequest`) or `multipart/form-data`
/// (fields `category`, `description`, `lat`, `lng`, `datum`, `village`, `name`, `phone`,
/// `anonymous`, `idempotency_key`, and files `photo` (≤ 6, ≤ 8 MB each, JPEG/PNG/WebP) and
/// `audio` (≤ 2, ≤ 10 MB); body ≤ 40 MB). Rate limited per client address and device cookie
/// (429 with `Retry-After`). Files are checked by their bytes before anything is stored; the
/// case enters the same loop as `POST /api/v1/cases` on channel `resident_page`.
#[utoipa::path(post, path = "/api/v1/public/reports", tag = "public",
    request_body(content = PublicReportRequest, description = "JSON, or multipart/form-data with photos"),
    responses(
        (status = 201, body = ReportReceipt),
        (status = 413, body = ErrorBody, description = "a file or the body is too large"),
        (status = 422, body = ErrorBody, description = "a field is invalid (`field` names it): empty description, place outside the prefecture, not an image…"),
        (status = 429, body = ErrorBody, description = "too many reports from this client"),
    ))]
pub async fn create_report(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    req: Request,
) -> AppResult<Response> {
    let client = client_keys(ip, req.headers());
    let (body, files) = read_report(&state, req).await?;
    let receipt = resident::submit(&state, &client, &body, files, Channel::ResidentPage).await?;
    let code = receipt.tracking_code.to_string();
    let mut resp = (
        StatusCode::CREATED,
        Json(ReportReceipt {
            url: format!("/track/{code}"),
            tracking_code: code,
            similar: receipt.similar,
        }),
    )
        .into_response();
    if !receipt.new {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LangParam {
    /// `zh` (default), `bo` or `en`: the language of names in the answer.
    pub lang: Option<String>,
}

/// The public view of a report: status, stage, public history; no name, phone or internal
/// notes.
#[utoipa::path(get, path = "/api/v1/public/reports/{tracking_code}", tag = "public",
    params(("tracking_code" = String, Path, description = "tracking code"), LangParam),
    responses((status = 200, body = PublicReportView), (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(code): Path<String>,
    ApiQuery(p): ApiQuery<LangParam>,
) -> AppResult<Json<PublicReportView>> {
    resident::limit_lookup(&state, &client_keys(ip, &headers))?;
    let lang = p.lang.as_deref().and_then(Lang::parse).unwrap_or_default();
    let (code, rec) = resident::case_of_code(&state, &code).await?;
    Ok(Json(
        resident::public_view(&state, &code, &rec, lang).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RatingRequest {
    /// `very_satisfied`, `satisfied`, `understanding` or `unsatisfied` (the centre's codes).
    pub satisfaction: String,
}

/// The reporter's rating at the return visit (the case's `revisit` action): 409 before the
/// case reaches the return visit or once it is rated.
#[utoipa::path(post, path = "/api/v1/public/reports/{tracking_code}/rating", tag = "public",
    params(("tracking_code" = String, Path, description = "tracking code")),
    request_body = RatingRequest,
    responses((status = 200, body = PublicReportView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "not waiting for a rating"), (status = 422, body = ErrorBody)))]
pub async fn rate_report(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> AppResult<Json<PublicReportView>> {
    let client = client_keys(ip, &headers);
    let (code, rec) = resident::rate(&state, &client, &code, &body.satisfaction).await?;
    Ok(Json(
        resident::public_view(&state, &code, &rec, Lang::Zh).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    pub category: String,
    pub lat: f64,
    pub lng: f64,
    /// `wgs84` (default) or `gcj02`.
    pub datum: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimilarList {
    pub items: Vec<SimilarReport>,
}

/// Open reports of the same category near a point (300 m, 3 days): shown to a resident
/// before filing, so a problem already reported need not be reported again.
#[utoipa::path(get, path = "/api/v1/public/similar", tag = "public",
    params(SimilarParams),
    responses((status = 200, body = SimilarList), (status = 422, body = ErrorBody)))]
pub async fn similar_reports(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<SimilarParams>,
) -> AppResult<Json<SimilarList>> {
    resident::limit_lookup(&state, &client_keys(ip, &headers))?;
    let point = crate::actions::case::parse_location(&LocationIn {
        lat: p.lat,
        lng: p.lng,
        datum: p.datum,
    })?;
    if state.rules.read().await.taxonomy.get(&p.category).is_none() {
        return Err(AppError::unprocessable("category", "unknown category"));
    }
    Ok(Json(SimilarList {
        items: resident::similar(&state, &p.category, point, None).await?,
    }))
}

// ---------------------------------------------------------------------------------------------
// The pages

const TEXT_KEYS: &[&str] = &[
    "resident-title",
    "resident-intro",
    "resident-choose-class",
    "resident-class-attention",
    "resident-class-attention-hint",
    "resident-class-management",
    "resident-class-management-hint",
    "resident-class-service",
    "resident-class-service-hint",
    "resident-track-link",
    "resident-back",
    "resident-category",
    "resident-place",
    "resident-place-hint",
    "resident-use-position",
    "resident-position-set",
    "resident-map-hint",
    "resident-county",
    "resident-village",
    "resident-choose",
    "resident-description",
    "resident-description-hint",
    "resident-photos",
    "resident-photos-hint",
    "resident-voice",
    "resident-voice-hint",
    "resident-contact",
    "resident-contact-hint",
    "resident-name",
    "resident-phone",
    "resident-anonymous",
    "resident-submit",
    "resident-optional",
    "resident-error-title",
    "resident-files-again",
    "resident-similar-title",
    "resident-similar-hint",
    "resident-track-title",
    "resident-track-code",
    "resident-track-go",
    "resident-received",
    "resident-received-hint",
    "resident-your-code",
    "resident-stage",
    "resident-history",
    "resident-handler",
    "resident-reported-at",
    "resident-deadline",
    "resident-rate-title",
    "resident-rate-hint",
    "resident-rate-submit",
    "resident-rated",
    "resident-sat-very_satisfied",
    "resident-sat-satisfied",
    "resident-sat-understanding",
    "resident-sat-unsatisfied",
    "resident-lang",
    "resident-your-report",
    "resident-rated-by-you",
    "resident-meters",
    "resident-err-not-found",
];

/// The head and header every resident page shares.
pub struct Frame {
    pub lang: Lang,
    pub title: String,
    /// (code, own name, current, href)
    pub langs: Vec<(&'static str, &'static str, bool, String)>,
    pub font: &'static str,
}

fn frame(ctx: &PageCtx, title: String, path_and_query: &str) -> Frame {
    // The language links keep the page and its query, without an earlier `lang=`.
    let (path, q) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let kept: Vec<&str> = q
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("lang="))
        .collect();
    let base = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    Frame {
        lang: ctx.lang,
        title,
        langs: Lang::ALL
            .iter()
            .map(|l| {
                (
                    l.code(),
                    l.own_name(),
                    *l == ctx.lang,
                    format!("{base}{sep}lang={}", l.code()),
                )
            })
            .collect(),
        font: TIBETAN_FONT,
    }
}

/// One big choice of the first step.
pub struct ClassTile {
    pub class: &'static str,
    pub name: String,
    pub hint: String,
    pub href: String,
}

/// A category choice.
pub struct CategoryTile {
    pub code: String,
    pub name: String,
    pub checked: bool,
}

/// A link or option naming a place.
pub struct PlaceOpt {
    pub code: String,
    pub name: String,
    pub selected: bool,
}

/// What a resident typed, kept when the form comes back with an error.
#[derive(Default)]
pub struct Typed {
    pub category: String,
    pub description: String,
    pub lat: String,
    pub lng: String,
    pub village: String,
    pub name: String,
    pub phone: String,
    pub anonymous: bool,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    f: Frame,
    t: Texts,
    classes: Vec<ClassTile>,
    class: Option<&'static str>,
    class_name: String,
    categories: Vec<CategoryTile>,
    counties: Vec<PlaceOpt>,
    county: Option<String>,
    villages: Vec<PlaceOpt>,
    map_svg: Option<String>,
    /// `min_lng,max_lat,kx,scale` of the map, for the pin script.
    map_frame: String,
    typed: Typed,
    error: Option<String>,
    key: String,
}

#[derive(Deserialize, Default)]
struct ReportParams {
    class: Option<String>,
    county: Option<String>,
}

fn class_of(s: Option<&str>) -> Option<&'static str> {
    match s? {
        "attention" => Some("attention"),
        "management" => Some("management"),
        "service" => Some("service"),
        _ => None,
    }
}

fn with_device_cookie(mut resp: Response, headers: &HeaderMap, secure: bool) -> Response {
    if cookie(headers, DEVICE_COOKIE).is_none() {
        let mut b = [0u8; 16];
        if getrandom::fill(&mut b).is_ok() {
            let id: String = b.iter().map(|x| format!("{x:02x}")).collect();
            let c = format!(
                "{DEVICE_COOKIE}={id}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
                if secure { "; Secure" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
    resp
}

async fn report_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    headers: HeaderMap,
    Query(p): Query<ReportParams>,
    uri: axum::http::Uri,
) -> Response {
    let result = render_report(
        &state,
        &ctx,
        &uri,
        class_of(p.class.as_deref()),
        p.county,
        Typed::default(),
        None,
        StatusCode::OK,
    )
    .await;
    let resp = result.unwrap_or_else(|e| ctx.error(e));
    with_device_cookie(resp, &headers, state.settings.secure_cookies)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one page, rendered from several doors"
)]
async fn render_report(
    state: &AppState,
    ctx: &PageCtx,
    uri: &axum::http::Uri,
    class: Option<&'static str>,
    county: Option<String>,
    typed: Typed,
    error: Option<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let t = Texts::keys(ctx, TEXT_KEYS);
    let lang_q = format!("lang={}", ctx.lang.code());
    let classes = ["attention", "management", "service"]
        .into_iter()
        .map(|c| ClassTile {
            class: c,
            name: t.get(&format!("resident-class-{c}")).to_owned(),
            hint: t.get(&format!("resident-class-{c}-hint")).to_owned(),
            href: format!("/report?class={c}&{lang_q}"),
        })
        .collect();
    let mut categories = Vec::new();
    let mut class_name = String::new();
    let (mut counties, mut villages, mut map_svg, mut map_frame) =
        (vec![], vec![], None, String::new());
    let county = county.filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
    if let Some(c) = class {
        class_name = t.get(&format!("resident-class-{c}")).to_owned();
        let rules = state.rules.read().await;
        for cat in resident::resident_categories(&rules) {
            if cat.class != Class::parse(c).unwrap_or(Class::Service) {
                continue;
            }
            let code = cat.code.to_string();
            categories.push(CategoryTile {
                name: resident::category_name(state, &rules, &code, ctx.lang),
                checked: typed.category == code,
                code,
            });
        }
        drop(rules);
        let root = domain::TerritoryCode::parse("623000")
            .map_err(|e| AppError::Internal(e.to_string()))?;
        let county_recs = state.db.territory_children(&root, true).await?;
        counties = county_recs
            .iter()
            .map(|r| PlaceOpt {
                code: r.code.to_string(),
                name: r.name.clone(),
                selected: county.as_deref() == Some(r.code.as_str()),
            })
            .collect();
        // The map: the chosen county's townships (with its villages in the list), else the
        // prefecture's counties, each a link that narrows the choice.
        let (shapes_of, link): (Vec<store::territory::TerritoryRecord>, bool) = match &county {
            Some(cc) => {
                let code = crate::actions::territory::parse_code("county", cc)?;
                let towns = state.db.territory_children(&code, true).await?;
                for town in &towns {
                    for v in state.db.territory_children(&town.code, false).await? {
                        if v.level == domain::Level::Village {
                            villages.push(PlaceOpt {
                                selected: typed.village == v.code.as_str(),
                                code: v.code.to_string(),
                                name: format!("{} · {}", town.name, v.name),
                            });
                        }
                    }
                }
                (towns, false)
            }
            None => (county_recs, true),
        };
        let shapes: Vec<MapShape> = shapes_of
            .iter()
            .filter_map(|r| {
                Some(MapShape {
                    code: r.code.to_string(),
                    label: r.name.clone(),
                    geometry: r.geometry.clone()?,
                    href: if link {
                        format!("/report?class={c}&county={}&{lang_q}#place", r.code)
                    } else {
                        "#place".to_owned()
                    },
                    shade: 0.1,
                    title: r.name.clone(),
                })
            })
            .collect();
        if let Some(m) = map::render(&shapes, t.get("resident-place")) {
            map_frame = m
                .frame
                .iter()
                .map(|v| format!("{v:.6}"))
                .collect::<Vec<_>>()
                .join(",");
            map_svg = Some(m.svg);
        }
    }
    let mut key = [0u8; 12];
    let _ = getrandom::fill(&mut key);
    let page = ReportPage {
        f: frame(ctx, t.get("resident-title").to_owned(), &uri.to_string()),
        classes,
        class,
        class_name,
        categories,
        counties,
        county,
        villages,
        map_svg,
        map_frame,
        typed,
        error,
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        t,
    };
    let mut resp = ctx.render(status, page);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A failure in the resident's language.
fn resident_message(ctx: &PageCtx, e: &AppError) -> String {
    let key = match e {
        AppError::Unprocessable { field, message } => match field.as_str() {
            "category" => "resident-err-category",
            "description" => "resident-err-description",
            "location" if message.contains("outside") => "resident-err-outside",
            "location" | "village" => "resident-err-location",
            "reporter.phone" => "resident-err-phone",
            "reporter.name" => "resident-err-name",
            "photo" | "audio" if message.starts_with("at most") => "resident-err-too-many",
            _ => "resident-err-file",
        },
        AppError::FileTooLarge { .. } | AppError::PayloadTooLarge => "resident-err-too-large",
        AppError::TooManyRequests { .. } => "resident-err-rate",
        _ => "resident-err-other",
    };
    ctx.t(key)
}

async fn submit_report_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    uri: axum::http::Uri,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let client = client_keys(ip, &headers);
    let form = match read_multipart(multipart).await {
        Ok(f) => f,
        Err(e) => {
            let msg = resident_message(&ctx, &e);
            return render_report(
                &state,
                &ctx,
                &uri,
                None,
                None,
                Typed::default(),
                Some(msg),
                e.status(),
            )
            .await
            .unwrap_or_else(|e| ctx.error(e));
        }
    };
    let class = class_of(form.text.get("class").map(String::as_str));
    let county = form.text.get("county").cloned();
    let typed = Typed {
        category: form.text.get("category").cloned().unwrap_or_default(),
        description: form.text.get("description").cloned().unwrap_or_default(),
        lat: form.text.get("lat").cloned().unwrap_or_default(),
        lng: form.text.get("lng").cloned().unwrap_or_default(),
        village: form.text.get("village").cloned().unwrap_or_default(),
        name: form.text.get("name").cloned().unwrap_or_default(),
        phone: form.text.get("phone").cloned().unwrap_or_default(),
        anonymous: form.text.contains_key("anonymous"),
    };
    let outcome = async {
        let req = request_from_form(&form)?;
        resident::submit(
            &state,
            &client,
            &req,
            form.files.clone(),
            Channel::ResidentPage,
        )
        .await
    }
    .await;
    match outcome {
        Ok(r) => Redirect::to(&format!(
            "/track/{}?new=1&lang={}",
            r.tracking_code,
            ctx.lang.code()
        ))
        .into_response(),
        Err(e) => {
            if e.status().is_server_error() {
                return ctx.error(e);
            }
            let msg = resident_message(&ctx, &e);
            render_report(
                &state,
                &ctx,
                &uri,
                class.or(Some("service")),
                county,
                typed,
                Some(msg),
                e.status(),
            )
            .await
            .unwrap_or_else(|e| ctx.error(e))
        }
    }
}

#[derive(Template)]
#[template(path = "track.html")]
struct TrackPage {
    f: Frame,
    t: Texts,
    view: Option<PublicReportView>,
    stage_name: String,
    steps: Vec<StepRow>,
    photos: Vec<String>,
    new: bool,
    rated: bool,
    similar: Vec<(String, String, String)>,
    code_typed: String,
    not_found: bool,
    error: Option<String>,
}

/// One line of the public history.
pub struct StepRow {
    pub time: String,
    pub what: String,
    pub detail: Option<String>,
}

#[derive(Deserialize, Default)]
struct TrackParams {
    code: Option<String>,
    new: Option<String>,
    rated: Option<String>,
}

async fn track_lookup(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(p): Query<TrackParams>,
) -> Response {
    if let Some(code) = p.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        // A genuine code goes to its canonical page (upper case, in four groups).
        let clean: String = match resident::secret(&state).await {
            Ok(secret) => match domain::public_report::TrackingCode::verify(code, secret) {
                Some((c, _)) => c.to_string(),
                None => code
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect(),
            },
            Err(e) => return ctx.error(e),
        };
        return Redirect::to(&format!("/track/{clean}")).into_response();
    }
    render_track(
        &state,
        &ctx,
        None,
        &TrackParams::default(),
        None,
        StatusCode::OK,
    )
    .await
    .unwrap_or_else(|e| ctx.error(e))
}

async fn render_track(
    state: &AppState,
    ctx: &PageCtx,
    code: Option<&str>,
    p: &TrackParams,
    error: Option<String>,
    status: StatusCode,
) -> AppResult<Response> {
    let t = Texts::keys(ctx, TEXT_KEYS);
    let path = match code {
        Some(c) => format!("/track/{c}"),
        None => "/track".to_owned(),
    };
    let mut page = TrackPage {
        f: frame(ctx, t.get("resident-track-title").to_owned(), &path),
        view: None,
        stage_name: String::new(),
        steps: vec![],
        photos: vec![],
        new: p.new.is_some(),
        rated: p.rated.is_some(),
        similar: vec![],
        code_typed: code.unwrap_or_default().to_owned(),
        not_found: false,
        error,
        t,
    };
    let mut status = status;
    if let Some(raw) = code {
        match resident::case_of_code(state, raw).await {
            Ok((code, rec)) => {
                let view = resident::public_view(state, &code, &rec, ctx.lang).await?;
                page.stage_name = ctx.t(&format!("resident-stage-{}", view.stage));
                page.steps = view
                    .history
                    .iter()
                    .map(|s| StepRow {
                        time: beijing(s.at),
                        what: if s.by_reporter {
                            ctx.t("resident-rated-by-you")
                        } else {
                            ctx.t(&format!("resident-step-{}", s.action))
                        },
                        detail: s
                            .unit
                            .clone()
                            .or_else(|| {
                                s.result
                                    .as_ref()
                                    .map(|r| ctx.t(&format!("resident-result-{r}")))
                            })
                            .or_else(|| {
                                s.satisfaction
                                    .as_ref()
                                    .map(|x| ctx.t(&format!("resident-sat-{x}")))
                            })
                            .or_else(|| {
                                s.reason.as_ref().map(|r| match &s.redirect {
                                    Some(d) => format!("{r} → {d}"),
                                    None => r.clone(),
                                })
                            }),
                    })
                    .collect();
                page.photos = state
                    .db
                    .attachments_of("case", rec.id)
                    .await?
                    .iter()
                    .filter(|a| a.kind == "photo")
                    .map(|a| format!("/track/{code}/files/{}", a.id))
                    .collect();
                if page.new
                    && let (Some(lat), Some(lng)) = (rec.lat, rec.lng)
                    && let Ok(point) =
                        domain::coord::GeoPoint::from_datum(lng, lat, domain::coord::Datum::Wgs84)
                {
                    let rules = state.rules.read().await;
                    for s in resident::similar(state, &rec.category, point, Some(rec.id)).await? {
                        page.similar.push((
                            resident::category_name(state, &rules, &s.category, ctx.lang),
                            ctx.t(&format!("resident-stage-{}", s.stage)),
                            format!(
                                "{} · {} {}",
                                beijing(s.created_at),
                                s.distance_m,
                                page.t.get("resident-meters")
                            ),
                        ));
                    }
                }
                page.view = Some(view);
            }
            Err(AppError::NotFound(_)) => {
                page.not_found = true;
                status = StatusCode::NOT_FOUND;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(ctx.render(status, page))
}

async fn track_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(p): Query<TrackParams>,
) -> Response {
    if let Err(e) = resident::limit_lookup(&state, &client_keys(ip, &headers)) {
        return ctx.error(e);
    }
    render_track(&state, &ctx, Some(&code), &p, None, StatusCode::OK)
        .await
        .unwrap_or_else(|e| ctx.error(e))
}

#[derive(Deserialize)]
struct RateForm {
    satisfaction: Option<String>,
}

async fn rate_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(code): Path<String>,
    axum::Form(form): axum::Form<RateForm>,
) -> Response {
    let client = client_keys(ip, &headers);
    match resident::rate(
        &state,
        &client,
        &code,
        form.satisfaction.as_deref().unwrap_or(""),
    )
    .await
    {
        Ok((code, _)) => Redirect::to(&format!("/track/{code}?rated=1")).into_response(),
        Err(e) if e.status().is_client_error() && !matches!(e, AppError::NotFound(_)) => {
            let msg = match &e {
                AppError::Conflict(_) => ctx.t("resident-err-not-rating"),
                AppError::TooManyRequests { .. } => ctx.t("resident-err-rate"),
                _ => ctx.t("resident-err-satisfaction"),
            };
            render_track(
                &state,
                &ctx,
                Some(&code),
                &TrackParams::default(),
                Some(msg),
                e.status(),
            )
            .await
            .unwrap_or_else(|e| ctx.error(e))
        }
        Err(e) => ctx.error(e),
    }
}

/// A photo of the report, for whoever holds its tracking code.
async fn track_file(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path((code, id)): Path<(String, String)>,
) -> AppResult<Response> {
    resident::limit_lookup(&state, &client_keys(ip, &headers))?;
    let (_, rec) = resident::case_of_code(&state, &code).await?;
    let id: i64 = id.parse().map_err(|_| AppError::NotFound("file".into()))?;
    let (meta, data) = state
        .db
        .attachment_data(id)
        .await?
        .filter(|(m, _)| m.owner_kind == "case" && m.owner_id == rec.id && m.kind == "photo")
        .ok_or_else(|| AppError::NotFound("file".into()))?;
    Ok(file_response(&meta, data, &headers))
}
