//! Open311 GeoReport v2 under `/open311/v2`: discovery, services and service definitions
//! generated from the public categories, POST requests into the same case loop (channel
//! `open311`, API keys issued by administrators), GET requests with the spec's filters, date
//! window and limit, GET a request, tokens, and photos as `media_url`. JSON and XML (with
//! the XML declaration, written by quick-xml) exactly as the spec lays them out; errors as
//! the spec's error list. Client habits tolerated: `jurisdiction_id` empty, `api_key` and
//! `jurisdiction_id` in the query or the form, `service/{code}` for `services/{code}`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use domain::case::{Channel, Status};
use domain::category::Category;
use domain::public_report::Stage;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json311, json};
use store::cases::CaseRecord;
use store::public::PublicCaseFilter;

use crate::actions::case::LocationIn;
use crate::actions::resident::{self, ClientKeys, PublicReportRequest, PublicReporter};
use crate::auth::{ApiCaller, token_hash};
use crate::error::{AppError, AppResult, ErrorBody};
use crate::i18n::Lang;
use crate::routes::extract::ApiJson;
use crate::state::AppState;

/// Our one jurisdiction (the prefecture's division code).
pub const JURISDICTION: &str = "623000";
/// The key the demo data set issues.
pub const DEMO_KEY: &str = "demo-open311-key";
/// Most requests one GET returns, and the default and widest date window (the spec's).
const MAX_REQUESTS: i64 = 1000;
const WINDOW_DAYS: i64 = 90;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/open311/v2/discovery.json",
            get(|h: HeaderMap| async move { discovery(&h, Format::Json) }),
        )
        .route(
            "/open311/v2/discovery.xml",
            get(|h: HeaderMap| async move { discovery(&h, Format::Xml) }),
        )
        .route(
            "/open311/v2/services.json",
            get(|s, q| services(s, q, Format::Json)),
        )
        .route(
            "/open311/v2/services.xml",
            get(|s, q| services(s, q, Format::Xml)),
        )
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/service/{file}", get(service_definition))
        .route(
            "/open311/v2/requests.json",
            get(|s, h, q| get_requests(s, h, q, Format::Json))
                .post(|s, h, q, b| post_request(s, h, q, b, Format::Json)),
        )
        .route(
            "/open311/v2/requests.xml",
            get(|s, h, q| get_requests(s, h, q, Format::Xml))
                .post(|s, h, q, b| post_request(s, h, q, b, Format::Xml)),
        )
        .route("/open311/v2/requests/{file}", get(get_request))
        .route("/open311/v2/tokens/{file}", get(get_token))
        .route("/open311/v2/media/{file}", get(get_media))
}

/// The administrators' key management under `/api/v1`.
pub fn api_router() -> Router<AppState> {
    Router::new().route("/admin/open311-keys", get(list_keys).post(create_key))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Xml,
}

/// `name.json` / `name.xml` → (name, format).
fn split_ext(file: &str) -> Option<(&str, Format)> {
    let (name, ext) = file.rsplit_once('.')?;
    match ext.to_ascii_lowercase().as_str() {
        "json" => Some((name, Format::Json)),
        "xml" => Some((name, Format::Xml)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Documents: one tree rendered as JSON or XML.

/// A field value of a document.
enum V {
    S(String),
    N(f64),
    B(bool),
    I(i64),
    Null,
    /// A nested list: (element name of the list, element name of each item, items).
    List(&'static str, &'static str, Vec<Item>),
    /// A list of strings: (list name, item name, values).
    Strs(&'static str, &'static str, Vec<String>),
}

type Item = Vec<(&'static str, V)>;

fn s(v: impl Into<String>) -> V {
    V::S(v.into())
}

fn opt(v: Option<String>) -> V {
    v.map_or(V::Null, V::S)
}

fn item_json(item: &Item) -> Json311 {
    let mut m = serde_json::Map::new();
    for (k, v) in item {
        let val = match v {
            V::S(x) => json!(x),
            V::N(x) => json!(x),
            V::B(x) => json!(x),
            V::I(x) => json!(x),
            V::Null => Json311::Null,
            V::List(_, _, items) => Json311::Array(items.iter().map(item_json).collect()),
            V::Strs(_, _, xs) => json!(xs),
        };
        m.insert((*k).to_owned(), val);
    }
    Json311::Object(m)
}

fn write_text<W: std::io::Write>(w: &mut Writer<W>, name: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn write_item<W: std::io::Write>(
    w: &mut Writer<W>,
    name: &str,
    item: &Item,
) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    for (k, v) in item {
        match v {
            V::S(x) => write_text(w, k, x)?,
            V::N(x) => write_text(w, k, &x.to_string())?,
            V::B(x) => write_text(w, k, if *x { "true" } else { "false" })?,
            V::I(x) => write_text(w, k, &x.to_string())?,
            V::Null => w.write_event(Event::Empty(BytesStart::new(*k)))?,
            V::List(list, each, items) => {
                w.write_event(Event::Start(BytesStart::new(*list)))?;
                for i in items {
                    write_item(w, each, i)?;
                }
                w.write_event(Event::End(BytesEnd::new(*list)))?;
            }
            V::Strs(list, each, xs) => {
                w.write_event(Event::Start(BytesStart::new(*list)))?;
                for x in xs {
                    write_text(w, each, x)?;
                }
                w.write_event(Event::End(BytesEnd::new(*list)))?;
            }
        }
    }
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// A document: a list of items (`root` of `each`), or one object (`each` only, for discovery
/// and service definitions).
fn render(
    format: Format,
    status: StatusCode,
    root: Option<&'static str>,
    each: &'static str,
    items: Vec<Item>,
) -> Response {
    match format {
        Format::Json => {
            let body = match root {
                Some(_) => Json311::Array(items.iter().map(item_json).collect()),
                None => items.first().map(item_json).unwrap_or(Json311::Null),
            };
            (
                status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                Json(body).into_response().into_body(),
            )
                .into_response()
        }
        Format::Xml => {
            let mut w = Writer::new(Vec::new());
            let out = (|| -> std::io::Result<()> {
                w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
                match root {
                    Some(r) => {
                        w.write_event(Event::Start(BytesStart::new(r)))?;
                        for i in &items {
                            write_item(&mut w, each, i)?;
                        }
                        w.write_event(Event::End(BytesEnd::new(r)))?;
                    }
                    None => {
                        if let Some(i) = items.first() {
                            write_item(&mut w, each, i)?;
                        }
                    }
                }
                Ok(())
            })();
            match out {
                Ok(()) => (
                    status,
                    [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                    w.into_inner(),
                )
                    .into_response(),
                Err(e) => AppError::Internal(format!("xml: {e}")).into_response(),
            }
        }
    }
}

/// The spec's error list: `[{"code", "description"}]` / `<errors><error>…`, with the status.
pub(crate) struct Open311Error {
    format: Format,
    code: u16,
    description: String,
}

impl Open311Error {
    fn new(format: Format, code: u16, description: impl Into<String>) -> Open311Error {
        Open311Error {
            format,
            code,
            description: description.into(),
        }
    }

    fn from_app(format: Format, e: AppError) -> Open311Error {
        let code = match e.status().as_u16() {
            422 => 400,
            c => c,
        };
        let description = match &e {
            AppError::Unprocessable { field, message } => format!("{field}: {message}"),
            other => other.public_message(),
        };
        if e.status().is_server_error() {
            tracing::error!(error = %e, "open311 request failed");
        }
        Open311Error::new(format, code, description)
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        render(
            self.format,
            status,
            Some("errors"),
            "error",
            vec![vec![
                ("code", V::I(i64::from(self.code))),
                ("description", s(self.description)),
            ]],
        )
    }
}

type R = Result<Response, Open311Error>;

/// Parameters from the query string and the form body (the body wins).
pub(crate) fn params(query: Option<&str>, body: Option<&[u8]>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for src in [query.map(str::as_bytes), body].into_iter().flatten() {
        for (k, v) in form_urlencoded(src) {
            out.insert(k, v);
        }
    }
    out
}

fn form_urlencoded(src: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(src);
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding of a form field (`+` is a space; a stray `%` stays as it is).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `jurisdiction_id`: ours, or empty/absent (a habit of single-city clients).
fn check_jurisdiction(p: &HashMap<String, String>, f: Format) -> Result<(), Open311Error> {
    match p.get("jurisdiction_id").map(|s| s.trim()) {
        None | Some("") => Ok(()),
        Some(j) if j == JURISDICTION || j.eq_ignore_ascii_case("gannan") => Ok(()),
        Some(j) => Err(Open311Error::new(
            f,
            404,
            format!("jurisdiction_id {j} was not found; this server serves {JURISDICTION}"),
        )),
    }
}

fn lang_of(p: &HashMap<String, String>) -> Lang {
    p.get("lang")
        .and_then(|l| Lang::parse(l))
        .unwrap_or_default()
}

fn iso(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::clock::china_offset())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn base_url(h: &HeaderMap) -> String {
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

// ---------------------------------------------------------------------------------------------
// Discovery and services

fn discovery(h: &HeaderMap, f: Format) -> Response {
    let changeset = "2026-12-01T00:00:00+08:00";
    let endpoint = vec![
        ("specification", s("http://wiki.open311.org/GeoReport_v2")),
        ("url", s(format!("{}/open311/v2", base_url(h)))),
        ("changeset", s(changeset)),
        ("type", s("production")),
        (
            "formats",
            V::Strs(
                "formats",
                "format",
                vec!["text/xml".into(), "application/json".into()],
            ),
        ),
    ];
    render(
        f,
        StatusCode::OK,
        None,
        "discovery",
        vec![vec![
            ("changeset", s(changeset)),
            (
                "contact",
                s("甘南州综治中心 Gannan prefecture governance centre"),
            ),
            (
                "key_service",
                s(
                    "API keys are issued by the administrators of Gesang (POST /api/v1/admin/open311-keys)",
                ),
            ),
            (
                "endpoints",
                V::List("endpoints", "endpoint", vec![endpoint]),
            ),
        ]],
    )
}

/// The categories offered as services: public leaves (never sensitive ones).
fn public_services(rules: &domain::rules::Rules) -> Vec<Category> {
    rules
        .taxonomy
        .all()
        .iter()
        .filter(|c| c.public && !c.sensitive && rules.taxonomy.is_leaf(&c.code))
        .cloned()
        .collect()
}

async fn services(State(state): State<AppState>, RawQuery(q): RawQuery, f: Format) -> R {
    let p = params(q.as_deref(), None);
    check_jurisdiction(&p, f)?;
    let lang = lang_of(&p);
    let rules = state.rules.read().await;
    let items = public_services(&rules)
        .iter()
        .map(|c| {
            let code = c.code.to_string();
            let group = rules
                .taxonomy
                .get(c.code.root())
                .map(|g| resident::category_name(&state, &rules, g.code.as_str(), lang))
                .unwrap_or_default();
            vec![
                ("service_code", s(code.clone())),
                (
                    "service_name",
                    s(resident::category_name(&state, &rules, &code, lang)),
                ),
                ("description", s(format!("{} / {}", c.name, c.name_en))),
                ("metadata", V::B(true)),
                ("type", s("realtime")),
                ("keywords", s(code.replace('.', ", "))),
                ("group", s(group)),
            ]
        })
        .collect();
    Ok(render(
        f,
        StatusCode::OK,
        Some("services"),
        "service",
        items,
    ))
}

async fn service_definition(
    State(state): State<AppState>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> R {
    let Some((code, f)) = split_ext(&file) else {
        return Err(Open311Error::new(
            Format::Json,
            404,
            "use services/{service_code}.json or .xml",
        ));
    };
    let p = params(q.as_deref(), None);
    check_jurisdiction(&p, f)?;
    let rules = state.rules.read().await;
    if !public_services(&rules)
        .iter()
        .any(|c| c.code.as_str() == code)
    {
        return Err(Open311Error::new(
            f,
            404,
            format!("service_code {code} was not found"),
        ));
    }
    let attributes = vec![
        vec![
            ("variable", V::B(true)),
            ("code", s("urgency")),
            ("datatype", s("singlevaluelist")),
            ("required", V::B(false)),
            ("datatype_description", s("")),
            ("order", V::I(1)),
            ("description", s("紧急程度 Urgency")),
            (
                "values",
                V::List(
                    "values",
                    "value",
                    vec![
                        vec![("key", s("normal")), ("name", s("一般 Normal"))],
                        vec![("key", s("urgent")), ("name", s("紧急 Urgent"))],
                    ],
                ),
            ),
        ],
        vec![
            ("variable", V::B(true)),
            ("code", s("datum")),
            ("datatype", s("singlevaluelist")),
            ("required", V::B(false)),
            (
                "datatype_description",
                s("The datum of lat/long: WGS-84 (GPS, the default) or GCJ-02 (Chinese map apps)"),
            ),
            ("order", V::I(2)),
            ("description", s("坐标系 Datum of lat/long")),
            (
                "values",
                V::List(
                    "values",
                    "value",
                    vec![
                        vec![("key", s("wgs84")), ("name", s("WGS-84"))],
                        vec![("key", s("gcj02")), ("name", s("GCJ-02"))],
                    ],
                ),
            ),
        ],
    ];
    Ok(render(
        f,
        StatusCode::OK,
        None,
        "service_definition",
        vec![vec![
            ("service_code", s(code)),
            ("attributes", V::List("attributes", "attribute", attributes)),
        ]],
    ))
}

// ---------------------------------------------------------------------------------------------
// Requests

async fn post_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
    f: Format,
) -> R {
    let p = params(q.as_deref(), Some(&body));
    check_jurisdiction(&p, f)?;
    let key = p.get("api_key").map(|k| k.trim()).unwrap_or("");
    if key.is_empty() {
        return Err(Open311Error::new(f, 403, "api_key was not provided"));
    }
    let key_name = state
        .db
        .open311_key(&token_hash(key))
        .await
        .map_err(|e| Open311Error::from_app(f, e.into()))?
        .ok_or_else(|| Open311Error::new(f, 403, "api_key is invalid or revoked"))?;
    let get = |k: &str| {
        p.get(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let code =
        get("service_code").ok_or_else(|| Open311Error::new(f, 400, "service_code is required"))?;
    {
        let rules = state.rules.read().await;
        if !public_services(&rules)
            .iter()
            .any(|c| c.code.as_str() == code)
        {
            return Err(Open311Error::new(
                f,
                400,
                format!("service_code {code} was not found"),
            ));
        }
    }
    let num = |k: &str| -> Result<Option<f64>, Open311Error> {
        get(k)
            .map(|v| {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| Open311Error::new(f, 400, format!("{k} is not a number")))
            })
            .transpose()
    };
    let location = match (num("lat")?, num("long")?) {
        (Some(lat), Some(lng)) => Some(LocationIn {
            lat,
            lng,
            datum: get("attribute[datum]"),
        }),
        (None, None) => None,
        _ => return Err(Open311Error::new(f, 400, "lat and long go together")),
    };
    let village = get("address_id");
    if location.is_none() && village.is_none() {
        return Err(Open311Error::new(
            f,
            400,
            "a location is required: lat and long, or address_id (a village code); address_string alone cannot be placed",
        ));
    }
    let mut description =
        get("description").ok_or_else(|| Open311Error::new(f, 400, "description is required"))?;
    if let Some(addr) = get("address_string") {
        description = format!("{description}\n地址 address: {addr}");
    }
    if let Some(m) = get("media_url") {
        description = format!("{description}\n照片 media: {m}");
    }
    let name = match (get("first_name"), get("last_name")) {
        (Some(a), Some(b)) => Some(format!("{b}{a}")),
        (a, b) => a.or(b),
    };
    let req = PublicReportRequest {
        category: code,
        description,
        location,
        village,
        reporter: Some(PublicReporter {
            name,
            phone: get("phone"),
        }),
        anonymous: false,
        idempotency_key: get("device_id")
            .zip(get("attribute[request_key]"))
            .map(|(d, k)| format!("{d}.{k}")),
        urgency: get("attribute[urgency]"),
    };
    let client = ClientKeys {
        address: None,
        device: Some(format!(
            "open311{}",
            token_hash(&key_name).chars().take(20).collect::<String>()
        )),
    };
    let receipt = resident::submit(&state, &client, &req, vec![], Channel::Open311)
        .await
        .map_err(|e| Open311Error::from_app(f, e))?;
    let _ = headers;
    Ok(render(
        f,
        StatusCode::CREATED,
        Some("service_requests"),
        "request",
        vec![vec![
            ("service_request_id", s(receipt.case.code.clone())),
            ("token", s(receipt.tracking_code.to_string())),
            ("service_notice", s("")),
            ("account_id", V::Null),
        ]],
    ))
}

/// One request as the spec lays it out.
async fn request_item(
    state: &AppState,
    rec: &CaseRecord,
    media: Option<String>,
    lang: Lang,
    names: &HashMap<String, String>,
) -> Item {
    let status = Status::parse(&rec.status).unwrap_or(Status::Submitted);
    let rules = state.rules.read().await;
    let service_name = resident::category_name(state, &rules, &rec.category, lang);
    drop(rules);
    let stage = state.i18n.t(
        lang,
        &format!("resident-stage-{}", Stage::of(status).as_str()),
    );
    let case = crate::actions::case::engine_case(rec).ok();
    let mut notes = stage;
    if let Some(c) = &case {
        if let Some(r) = c.result {
            notes = format!(
                "{notes}: {}",
                state
                    .i18n
                    .t(lang, &format!("resident-result-{}", r.as_str()))
            );
        }
        if let Some(s) = c.satisfaction {
            notes = format!(
                "{notes} ({})",
                state.i18n.t(lang, &format!("resident-sat-{}", s.as_str()))
            );
        }
        if let Some(r) = &c.rejection {
            notes = format!(
                "{notes}: {r}{}",
                c.redirect
                    .as_deref()
                    .map(|d| format!(" → {d}"))
                    .unwrap_or_default()
            );
        }
    }
    let unit = |code: &str| names.get(code).cloned().unwrap_or_else(|| code.to_owned());
    vec![
        ("service_request_id", s(rec.code.clone())),
        ("status", s(Stage::open311(status))),
        ("status_notes", s(notes)),
        ("service_name", s(service_name)),
        ("service_code", s(rec.category.clone())),
        ("description", s(rec.description.clone())),
        ("agency_responsible", s(unit(&rec.handling_unit))),
        ("service_notice", s("")),
        ("requested_datetime", s(iso(rec.created_at))),
        ("updated_datetime", s(iso(rec.updated_at))),
        ("expected_datetime", opt(rec.deadline.map(iso))),
        ("address", s(unit(&rec.territory))),
        ("address_id", s(rec.territory.clone())),
        ("zipcode", s("")),
        ("lat", rec.lat.map_or(V::Null, V::N)),
        ("long", rec.lng.map_or(V::Null, V::N)),
        ("media_url", opt(media)),
    ]
}

async fn items_for(
    state: &AppState,
    h: &HeaderMap,
    rows: &[CaseRecord],
    lang: Lang,
) -> AppResult<Vec<Item>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let files = state.db.attachments_of_many("case", &ids).await?;
    let base = base_url(h);
    let mut names: HashMap<String, String> = crate::actions::people::unit_map(state)
        .await?
        .iter()
        .map(|(k, u)| (k.clone(), u.name.clone()))
        .collect();
    for r in rows {
        if !names.contains_key(&r.territory)
            && let Ok(code) = domain::TerritoryCode::parse(&r.territory)
            && let Some(t) = state.db.territory(&code).await?
        {
            names.insert(r.territory.clone(), t.name);
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let media = files
            .iter()
            .find(|a| a.owner_id == r.id && a.kind == "photo")
            .map(|a| {
                let ext = domain::attachment::ContentType::from_mime(&a.content_type)
                    .map_or("bin", |c| c.extension());
                format!("{base}/open311/v2/media/{}.{ext}", a.id)
            });
        out.push(request_item(state, r, media, lang, &names).await);
    }
    Ok(out)
}

pub(crate) fn parse_time(f: Format, field: &str, v: &str) -> Result<DateTime<Utc>, Open311Error> {
    DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Open311Error::new(
                f,
                400,
                format!("{field} must be ISO 8601 with an offset, e.g. 2026-07-01T08:00:00+08:00"),
            )
        })
}

async fn get_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    f: Format,
) -> R {
    let p = params(q.as_deref(), None);
    check_jurisdiction(&p, f)?;
    let lang = lang_of(&p);
    let list = |k: &str| -> Vec<String> {
        p.get(k)
            .map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let public: Vec<String> = public_services(&*state.rules.read().await)
        .iter()
        .map(|c| c.code.to_string())
        .collect();
    let mut filter = PublicCaseFilter {
        categories: public.clone(),
        limit: MAX_REQUESTS,
        ..Default::default()
    };
    let ids = list("service_request_id");
    if !ids.is_empty() {
        // Ids override every other filter (the spec).
        filter.codes = ids;
    } else {
        let codes = list("service_code");
        if !codes.is_empty() {
            filter.categories = public.into_iter().filter(|c| codes.contains(c)).collect();
        }
        let now = state.clock.now();
        let start = p
            .get("start_date")
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse_time(f, "start_date", v))
            .transpose()?;
        let end = p
            .get("end_date")
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse_time(f, "end_date", v))
            .transpose()?;
        let (from, to) = match (start, end) {
            (Some(a), Some(b)) => (a, b),
            (Some(a), None) => (a, (a + Duration::days(WINDOW_DAYS)).min(now)),
            (None, Some(b)) => (b - Duration::days(WINDOW_DAYS), b),
            (None, None) => (now - Duration::days(WINDOW_DAYS), now),
        };
        if from > to {
            return Err(Open311Error::new(f, 400, "start_date is after end_date"));
        }
        if to - from > Duration::days(WINDOW_DAYS) {
            return Err(Open311Error::new(
                f,
                400,
                format!("the date window may span at most {WINDOW_DAYS} days"),
            ));
        }
        filter.from = Some(from);
        filter.to = Some(to);
        let statuses = list("status");
        let open = statuses.iter().any(|x| x == "open");
        let closed = statuses.iter().any(|x| x == "closed");
        if statuses.iter().any(|x| x != "open" && x != "closed") {
            return Err(Open311Error::new(f, 400, "status is open, closed, or both"));
        }
        filter.ended = match (open, closed) {
            (true, false) => Some(false),
            (false, true) => Some(true),
            _ => None,
        };
    }
    let rows = state
        .db
        .public_cases(&filter)
        .await
        .map_err(|e| Open311Error::from_app(f, e.into()))?;
    let items = items_for(&state, &headers, &rows, lang)
        .await
        .map_err(|e| Open311Error::from_app(f, e))?;
    Ok(render(
        f,
        StatusCode::OK,
        Some("service_requests"),
        "request",
        items,
    ))
}

async fn get_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> R {
    let Some((id, f)) = split_ext(&file) else {
        return Err(Open311Error::new(
            Format::Json,
            404,
            "use requests/{service_request_id}.json or .xml",
        ));
    };
    let p = params(q.as_deref(), None);
    check_jurisdiction(&p, f)?;
    let public: Vec<String> = public_services(&*state.rules.read().await)
        .iter()
        .map(|c| c.code.to_string())
        .collect();
    let rows = state
        .db
        .public_cases(&PublicCaseFilter {
            categories: public,
            codes: vec![id.to_owned()],
            limit: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| Open311Error::from_app(f, e.into()))?;
    if rows.is_empty() {
        return Err(Open311Error::new(
            f,
            404,
            format!("service_request_id {id} was not found"),
        ));
    }
    let items = items_for(&state, &headers, &rows, lang_of(&p))
        .await
        .map_err(|e| Open311Error::from_app(f, e))?;
    Ok(render(
        f,
        StatusCode::OK,
        Some("service_requests"),
        "request",
        items,
    ))
}

async fn get_token(State(state): State<AppState>, Path(file): Path<String>) -> R {
    let Some((token, f)) = split_ext(&file) else {
        return Err(Open311Error::new(
            Format::Json,
            404,
            "use tokens/{token}.json or .xml",
        ));
    };
    let (code, rec) = resident::case_of_code(&state, token)
        .await
        .map_err(|e| Open311Error::from_app(f, e))?;
    Ok(render(
        f,
        StatusCode::OK,
        Some("service_requests"),
        "request",
        vec![vec![
            ("service_request_id", s(rec.code)),
            ("token", s(code.to_string())),
        ]],
    ))
}

/// A photo of a request in a public category (what GET requests shows is public already).
async fn get_media(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> AppResult<Response> {
    let id: i64 = file
        .split('.')
        .next()
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| AppError::NotFound("media".into()))?;
    let (meta, data) = state
        .db
        .attachment_data(id)
        .await?
        .ok_or_else(|| AppError::NotFound("media".into()))?;
    let rec = state
        .db
        .case_by_id(meta.owner_id)
        .await?
        .ok_or_else(|| AppError::NotFound("media".into()))?;
    let public = public_services(&*state.rules.read().await)
        .iter()
        .any(|c| c.code.as_str() == rec.category);
    if meta.owner_kind != "case" || meta.kind != "photo" || !public {
        return Err(AppError::NotFound("media".into()));
    }
    Ok(crate::routes::api_attachments::file_response(
        &meta, data, &headers,
    ))
}

// ---------------------------------------------------------------------------------------------
// Keys

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewKeyRequest {
    /// The client system the key is for, e.g. "12345 hotline".
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewKeyResponse {
    /// Shown once: only its hash is kept.
    pub key: String,
    pub id: String,
    pub name: String,
}

fn admin_only(c: &crate::auth::Caller) -> AppResult<()> {
    if c.role() != domain::account::Role::Admin {
        return Err(AppError::Forbidden(
            "only administrators issue Open311 keys".into(),
        ));
    }
    Ok(())
}

/// Issue an Open311 API key (administrators).
#[utoipa::path(post, path = "/api/v1/admin/open311-keys", tag = "open311",
    security(("bearer" = [])), request_body = NewKeyRequest,
    responses((status = 201, body = NewKeyResponse), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(req): ApiJson<NewKeyRequest>,
) -> AppResult<Response> {
    admin_only(&caller)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::unprocessable("name", "1 to 100 characters"));
    }
    let key = crate::auth::new_token()?;
    let rec = state
        .db
        .insert_open311_key(
            &token_hash(&key),
            name,
            state.clock.now(),
            Some(caller.principal.account_id),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyResponse {
            key,
            id: rec.id,
            name: rec.name,
        }),
    )
        .into_response())
}

/// The issued Open311 keys (administrators; the keys themselves are not kept).
#[utoipa::path(get, path = "/api/v1/admin/open311-keys", tag = "open311",
    security(("bearer" = [])),
    responses((status = 200, body = [Object]), (status = 403, body = ErrorBody)))]
pub async fn list_keys(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> AppResult<Json<Vec<store::public::Open311Key>>> {
    admin_only(&caller)?;
    Ok(Json(state.db.open311_keys().await?))
}

/// Issue the demo's key `demo-open311-key` (once).
pub async fn ensure_demo_key(db: &store::Db, now: DateTime<Utc>) -> Result<(), store::StoreError> {
    let hash = token_hash(DEMO_KEY);
    if db.open311_key(&hash).await?.is_none() {
        db.insert_open311_key(&hash, "demo", now, None).await?;
    }
    Ok(())
}
