//! The centre's notice pages: `/notices` (write a notice to the grid workers and household
//! heads of nodes in the scope; the desk's notices with their acknowledgement counts) and
//! `/notices/{id}` (who has acknowledged and who has not). They call `actions::notices`, like
//! the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use domain::clock::beijing_minute as beijing;
use serde::Deserialize;

use crate::actions::notices::{self, NoticeView, SendNoticeRequest};
use crate::error::{AppError, AppResult};
use crate::routes::pages::{Chrome, PageCtx, Texts};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notices", get(notices_page).post(send_form))
        .route("/notices/{id}", get(notice_page))
}

/// The texts of this area: every `notice-` key of the Chinese file, in the page's language.
fn texts(ctx: &PageCtx) -> Texts {
    Texts::area(ctx, include_str!("../../i18n/zh-CN/notices.ftl"), "notice-")
}

pub struct NoticeLine {
    pub href: String,
    pub title: String,
    pub at: String,
    pub territories: String,
    pub audience: String,
    pub acknowledged: i64,
    pub total: i64,
}

pub struct RecipientLine {
    pub name: String,
    pub username: String,
    pub role: String,
    pub territory: String,
    pub read: bool,
    pub at: String,
}

#[derive(Template)]
#[template(path = "notices.html")]
pub struct NoticesPage {
    pub chrome: Chrome,
    pub t: Texts,
    pub csrf: String,
    pub can_send: bool,
    pub scope: String,
    pub sent: Vec<NoticeLine>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "notice.html")]
pub struct NoticePage {
    pub chrome: Chrome,
    pub t: Texts,
    pub title: String,
    pub text: String,
    pub title_bo: Option<String>,
    pub text_bo: Option<String>,
    pub at: String,
    pub sender: String,
    pub territories: String,
    pub audience: String,
    pub acknowledged: i64,
    pub total: i64,
    pub pending: Vec<RecipientLine>,
    pub done: Vec<RecipientLine>,
}

fn audience(t: &Texts, n: &NoticeView) -> String {
    n.audience
        .iter()
        .map(|a| t.get(&format!("notice-audience-{a}")).to_owned())
        .collect::<Vec<_>>()
        .join("、")
}

async fn notices_page(State(state): State<AppState>, ctx: PageCtx) -> Response {
    match notices_inner(&state, &ctx, None).await {
        Ok(r) => r,
        Err(e) => ctx.error(e),
    }
}

async fn notices_inner(
    state: &AppState,
    ctx: &PageCtx,
    error: Option<String>,
) -> AppResult<Response> {
    let caller = ctx.require_caller()?;
    let t = texts(ctx);
    let list = notices::list(state, caller).await?;
    let sent = list
        .sent
        .iter()
        .map(|n| NoticeLine {
            href: format!("/notices/{}", n.id),
            title: n.title.clone(),
            at: beijing(n.sent_at),
            territories: n.territories.join(" "),
            audience: audience(&t, n),
            acknowledged: n.acknowledged.unwrap_or(0),
            total: n.recipients_total.unwrap_or(0),
        })
        .collect();
    let page = NoticesPage {
        chrome: ctx.chrome(t.get("notice-title").to_owned()),
        csrf: caller.csrf_token.clone(),
        can_send: notices::sends(caller.role()),
        scope: caller.principal.scope.to_string(),
        sent,
        error,
        t,
    };
    Ok(ctx.render_form_page(page.error.is_some(), page))
}

#[derive(Debug, Deserialize)]
pub struct SendForm {
    pub csrf: String,
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub title_bo: String,
    #[serde(default)]
    pub text_bo: String,
    /// Codes separated by spaces or commas.
    pub territories: String,
    #[serde(default)]
    pub to_workers: Option<String>,
    #[serde(default)]
    pub to_heads: Option<String>,
}

async fn send_form(
    State(state): State<AppState>,
    ctx: PageCtx,
    Form(f): Form<SendForm>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        crate::routes::pages::check_csrf(caller, Some(&f.csrf))?;
        let mut audience = Vec::new();
        if f.to_workers.is_some() {
            audience.push("grid_workers".to_owned());
        }
        if f.to_heads.is_some() {
            audience.push("household_heads".to_owned());
        }
        let req = SendNoticeRequest {
            title: Some(f.title.clone()),
            text: Some(f.text.clone()),
            title_bo: Some(f.title_bo.clone()),
            text_bo: Some(f.text_bo.clone()),
            territories: Some(
                f.territories
                    .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            audience: Some(audience),
            idempotency_key: None,
        };
        notices::send(&state, caller, req).await
    }
    .await;
    match result {
        Ok((v, _)) => Redirect::to(&format!("/notices/{}", v.id)).into_response(),
        Err(e @ AppError::Unprocessable { .. }) => {
            match notices_inner(&state, &ctx, Some(e.to_string())).await {
                Ok(r) => r,
                Err(e) => ctx.error(e),
            }
        }
        Err(e) => ctx.error(e),
    }
}

async fn notice_page(
    State(state): State<AppState>,
    ctx: PageCtx,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let caller = ctx.require_caller()?;
        let id = id
            .parse::<i64>()
            .map_err(|_| AppError::NotFound(format!("notice {id:?}")))?;
        let d = notices::get(&state, caller, id).await?;
        let t = texts(&ctx);
        let line = |r: &notices::RecipientView| RecipientLine {
            name: r.display_name.clone(),
            username: r.username.clone(),
            role: ctx.t(&format!("role-{}", r.role)),
            territory: r.territory.clone(),
            read: r.read_at.is_some(),
            at: r.acknowledged_at.map(beijing).unwrap_or_default(),
        };
        let recipients = d.recipients.unwrap_or_default();
        let n = &d.notice;
        let page = NoticePage {
            chrome: ctx.chrome(n.title.clone()),
            title: n.title.clone(),
            text: n.text.clone(),
            title_bo: n.title_bo.clone(),
            text_bo: n.text_bo.clone(),
            at: beijing(n.sent_at),
            sender: n.sender.clone(),
            territories: n.territories.join(" "),
            audience: audience(&t, n),
            acknowledged: n.acknowledged.unwrap_or(0),
            total: n.recipients_total.unwrap_or(0),
            pending: recipients
                .iter()
                .filter(|r| r.acknowledged_at.is_none())
                .map(line)
                .collect(),
            done: recipients
                .iter()
                .filter(|r| r.acknowledged_at.is_some())
                .map(line)
                .collect(),
            t,
        };
        Ok::<_, AppError>(ctx.render(StatusCode::OK, page))
    }
    .await;
    result.unwrap_or_else(|e| ctx.error(e))
}
