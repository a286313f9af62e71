//! The audit log of personal data: every reveal (an unmasked ID number, phone number or address
//! shown to a role that may see it, by API, page or export) is written before it is shown, and
//! administrators read and export the log.

use chrono::{DateTime, Utc};
use domain::account::Role;
use serde::Serialize;
use store::org::{AuditEntry, AuditFilter, AuditRecord};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The action of a reveal on screen or in an API answer.
pub const REVEAL: &str = "reveal_personal_data";

/// What a reveal showed.
pub struct Reveal<'a> {
    /// `household`, `case`, `households` (a list), `history`, `members` (a list).
    pub kind: &'static str,
    pub id: String,
    pub territory: Option<&'a str>,
    /// The personal fields shown, e.g. `["phone", "id_number", "address"]`.
    pub fields: &'a [&'a str],
    /// `api` or `page`, and what was opened.
    pub via: &'a str,
}

/// Write one reveal to the audit log. Fails closed: when the entry cannot be written the
/// caller gets an error instead of the data.
pub async fn reveal(state: &AppState, caller: &Caller, r: Reveal<'_>) -> AppResult<()> {
    let entry = AuditEntry {
        at: state.clock.now(),
        account: Some(caller.principal.account_id),
        role: Some(caller.role().as_str().to_owned()),
        action: REVEAL,
        subject_kind: r.kind,
        subject_id: r.id,
        territory: r.territory.map(str::to_owned),
        detail: Some(format!("via {}", r.via)),
        fields: Some(r.fields.join(",")),
        client: Some(caller.client.clone()),
    };
    state.db.record_audit(vec![entry]).await.map_err(|e| {
        tracing::error!(error = %e, "audit log write failed; the personal data is not shown");
        AppError::Internal("the audit log cannot be written".into())
    })?;
    Ok(())
}

/// An audit entry as administrators read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub role: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub territory: Option<String>,
    pub fields: Vec<String>,
    pub client: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        AuditView {
            id: r.id,
            at: r.at,
            account: r.account,
            role: r.role,
            action: r.action,
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            territory: r.territory,
            fields: r
                .fields
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            client: r.client,
            detail: r.detail,
        }
    }
}

fn require_admin(caller: &Caller) -> AppResult<()> {
    if caller.role() == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only administrators read the audit log".into(),
        ))
    }
}

/// A page of the audit log, newest first (administrators only).
pub async fn page(
    state: &AppState,
    caller: &Caller,
    filter: &AuditFilter,
) -> AppResult<Vec<AuditView>> {
    require_admin(caller)?;
    Ok(state
        .db
        .audit_page(filter)
        .await?
        .into_iter()
        .map(AuditView::from)
        .collect())
}

/// Columns of the audit export.
pub const EXPORT_COLUMNS: &[crate::transfer::sheet::Column] = &[
    crate::transfer::sheet::Column {
        header: "编号",
        width: 10.0,
    },
    crate::transfer::sheet::Column {
        header: "时间",
        width: 22.0,
    },
    crate::transfer::sheet::Column {
        header: "账号",
        width: 10.0,
    },
    crate::transfer::sheet::Column {
        header: "角色",
        width: 18.0,
    },
    crate::transfer::sheet::Column {
        header: "操作",
        width: 22.0,
    },
    crate::transfer::sheet::Column {
        header: "对象类型",
        width: 12.0,
    },
    crate::transfer::sheet::Column {
        header: "对象",
        width: 20.0,
    },
    crate::transfer::sheet::Column {
        header: "区域",
        width: 20.0,
    },
    crate::transfer::sheet::Column {
        header: "字段",
        width: 26.0,
    },
    crate::transfer::sheet::Column {
        header: "客户端",
        width: 40.0,
    },
    crate::transfer::sheet::Column {
        header: "说明",
        width: 30.0,
    },
];

/// Write the whole log matching `filter` (newest first) to `path` (administrators only).
/// Returns the number of entries.
pub async fn export(
    state: &AppState,
    caller: &Caller,
    filter: &AuditFilter,
    format: crate::transfer::sheet::Format,
    path: &std::path::Path,
) -> AppResult<u64> {
    use crate::transfer::sheet::{Cell, SheetWriter};
    require_admin(caller)?;
    let sheet_error = |e: crate::transfer::sheet::SheetError| AppError::Internal(e.to_string());
    let mut w =
        SheetWriter::create(path, format, "审计日志", EXPORT_COLUMNS).map_err(sheet_error)?;
    let mut f = filter.clone();
    f.limit = 1000;
    let mut n = 0u64;
    loop {
        let page = state.db.audit_page(&f).await?;
        for r in &page {
            w.write_row(&[
                Cell::Int(r.id),
                r.at.to_rfc3339().into(),
                r.account.map_or(Cell::Empty, Cell::Int),
                r.role.clone().into(),
                r.action.clone().into(),
                r.subject_kind.clone().into(),
                r.subject_id.clone().into(),
                r.territory.clone().into(),
                r.fields.clone().into(),
                r.client.clone().into(),
                r.detail.clone().into(),
            ])
            .map_err(sheet_error)?;
        }
        n += page.len() as u64;
        match page.last() {
            Some(r) if page.len() as i64 == f.limit => f.before = r.id,
            _ => break,
        }
    }
    w.finish().map_err(sheet_error)?;
    Ok(n)
}
