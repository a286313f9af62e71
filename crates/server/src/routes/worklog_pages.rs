//! `/worklogs`: the work logs (台账) of a node and everything below it, of a kind, over days:
//! the list behind the war room's 政策宣传 and 帮办实事 figures, for every desk whose scope holds
//! the node. It calls `actions::fieldwork::list_worklogs`, like `GET /api/v1/worklogs`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use domain::clock::beijing_minute as beijing;
use domain::fieldwork::{WorklogDetails, WorklogKind};
use serde::Deserialize;

use crate::actions::fieldwork::{self, WorklogQuery};
use crate::error::AppResult;
use crate::routes::case_pages::Names;
use crate::routes::pages::{Chrome, PageCtx, Texts, urlencode};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/worklogs", get(worklogs_page))
}

const TEXT_KEYS: &[&str] = &[
    "worklogs-title",
    "worklogs-kind",
    "worklogs-kind-any",
    "worklogs-from",
    "worklogs-to",
    "worklogs-show",
    "worklogs-none",
    "worklogs-first",
    "worklogs-next",
    "worklogs-col-when",
    "worklogs-col-kind",
    "worklogs-col-place",
    "worklogs-col-author",
    "worklogs-col-what",
    "worklogs-col-case",
];

/// Logs per page.
const PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct Params {
    territory: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The last id of the previous page (anything else: the first page).
    cursor: Option<String>,
}

pub struct Opt {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

pub struct Row {
    pub when: String,
    pub day: String,
    pub kind: String,
    pub place: String,
    pub author: String,
    pub what: String,
    pub case: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "worklogs.html")]
struct WorklogsPage {
    chrome: Chrome,
    t: Texts,
    intro: String,
    territory: String,
    from: String,
    to: String,
    kinds: Vec<Opt>,
    rows: Vec<Row>,
    next_href: Option<String>,
    first_href: Option<String>,
}

async fn worklogs_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Query(p): Query<Params>,
) -> Response {
    match render(&state, &ctx, p).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

/// What a log says, in a line, from its stored details.
fn what(ctx: &PageCtx, details: &serde_json::Value, kind: &str) -> String {
    let mut with_kind = details.clone();
    if let serde_json::Value::Object(o) = &mut with_kind {
        o.insert("kind".into(), kind.into());
    }
    let args = |key: &str, args: &[(&str, String)]| ctx.i18n.t_args(ctx.lang, key, args);
    match serde_json::from_value::<WorklogDetails>(with_kind) {
        Ok(WorklogDetails::Propaganda {
            topic,
            place,
            attendees,
            language,
        }) => args(
            "worklogs-what-propaganda",
            &[
                ("topic", topic),
                ("place", place),
                ("attendees", attendees.to_string()),
                (
                    "language",
                    ctx.t(&format!("field-language-{}", language.as_str())),
                ),
            ],
        ),
        Ok(WorklogDetails::Service { what, .. }) => what,
        Ok(WorklogDetails::Visit { note, .. }) => {
            note.unwrap_or_else(|| ctx.t("worklogs-what-visit"))
        }
        Ok(WorklogDetails::HazardInspection { place, hazard, .. }) => match hazard {
            Some(h) => args(
                "worklogs-what-hazard",
                &[("place", place), ("description", h.description)],
            ),
            None => args("worklogs-what-no-hazard", &[("place", place)]),
        },
        Ok(WorklogDetails::DisputeScreening {
            place,
            disputes_found,
            ..
        }) => args(
            "worklogs-what-disputes",
            &[("place", place), ("count", disputes_found.to_string())],
        ),
        Err(_) => String::new(),
    }
}

async fn render(state: &AppState, ctx: &PageCtx, p: Params) -> AppResult<Response> {
    let caller = ctx.require_caller()?;
    let cursor = p
        .cursor
        .as_deref()
        .and_then(|c| c.trim().parse::<i64>().ok())
        .filter(|c| *c > 0);
    let territory = p
        .territory
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map_or_else(|| caller.principal.scope.to_string(), str::to_owned);
    let logs = fieldwork::list_worklogs(
        state,
        caller,
        &WorklogQuery {
            territory: Some(&territory),
            kind: p.kind.as_deref(),
            from: p.from.as_deref(),
            to: p.to.as_deref(),
            before: cursor,
            limit: PAGE,
        },
    )
    .await?;
    let kind = p
        .kind
        .as_deref()
        .map(str::trim)
        .and_then(WorklogKind::parse);
    let from = p.from.unwrap_or_default().trim().to_owned();
    let to = p.to.unwrap_or_default().trim().to_owned();

    let mut names = Names::new(state, caller).await?;
    let mut rows = Vec::with_capacity(logs.len());
    for l in &logs {
        let v = &l.view;
        rows.push(Row {
            when: beijing(v.at),
            day: v.day.to_string(),
            kind: ctx.t(&format!("field-kind-{}", v.kind)),
            place: names.case_place(&v.territory).await,
            author: l.author.clone(),
            what: what(ctx, &v.details, &v.kind),
            case: v
                .case_id
                .clone()
                .zip(v.case_code.clone())
                .map(|(id, code)| (format!("/cases/{id}"), code)),
        });
    }
    let link = |cursor: Option<i64>| {
        let mut parts = vec![format!("territory={}", urlencode(&territory))];
        if let Some(k) = kind {
            parts.push(format!("kind={}", k.as_str()));
        }
        if !from.is_empty() {
            parts.push(format!("from={}", urlencode(&from)));
        }
        if !to.is_empty() {
            parts.push(format!("to={}", urlencode(&to)));
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={c}"));
        }
        format!("/worklogs?{}", parts.join("&"))
    };
    let next = (logs.len() as i64 == PAGE)
        .then(|| logs.last().and_then(|l| l.view.id.parse::<i64>().ok()))
        .flatten();
    let area = names.case_place(&territory).await;
    let period = match (from.is_empty(), to.is_empty()) {
        (true, true) => String::new(),
        _ => format!(" {from} – {to}"),
    };
    let intro = ctx.i18n.t_args(
        ctx.lang,
        "worklogs-intro",
        &[
            ("area", area),
            ("period", period),
            (
                "kind",
                kind.map_or_else(
                    || ctx.t("worklogs-kind-any"),
                    |k| ctx.t(&format!("field-kind-{}", k.as_str())),
                ),
            ),
        ],
    );
    let kinds = std::iter::once(Opt {
        value: "",
        label: ctx.t("worklogs-kind-any"),
        selected: kind.is_none(),
    })
    .chain(WorklogKind::ALL.iter().map(|k| Opt {
        value: k.as_str(),
        label: ctx.t(&format!("field-kind-{}", k.as_str())),
        selected: kind == Some(*k),
    }))
    .collect();
    Ok(ctx.render(
        StatusCode::OK,
        WorklogsPage {
            chrome: ctx.chrome(ctx.t("worklogs-title")),
            t: Texts::keys(ctx, TEXT_KEYS),
            intro,
            territory: territory.clone(),
            from: from.clone(),
            to: to.clone(),
            kinds,
            rows,
            next_href: next.map(|c| link(Some(c))),
            first_href: cursor.map(|_| link(None)),
        },
    ))
}
