//! The clock rules as data: categories, calendar, time limits and supervision thresholds are
//! stored in the database, edited by administrators, and loaded into the running server.

use domain::account::Role;
use domain::calendar::{Calendar, CalendarSpec, ClockPolicy, Limits};
use domain::category::{Category, Taxonomy};
use domain::rules::Rules;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

const CALENDAR: &str = "calendar";
const LIMITS: &str = "limits";
const CLOCK: &str = "clock_policy";

/// Load the stored rules (falling back to Gannan's defaults for what is not stored) into the
/// running server.
pub async fn load(state: &AppState) -> AppResult<()> {
    let mut rules = Rules::gannan_default();
    let bodies = state.db.categories().await?;
    if !bodies.is_empty() {
        let categories = bodies
            .iter()
            .map(|b| serde_json::from_str::<Category>(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| AppError::Internal(format!("stored categories: {e}")))?;
        rules.taxonomy = Taxonomy::new(categories)
            .map_err(|e| AppError::Internal(format!("stored categories: {e}")))?;
    }
    if let Some(text) = state.db.setting(CALENDAR).await? {
        let spec: CalendarSpec = serde_json::from_str(&text)
            .map_err(|e| AppError::Internal(format!("stored calendar: {e}")))?;
        rules.calendar =
            Calendar::new(spec).map_err(|e| AppError::Internal(format!("stored calendar: {e}")))?;
    }
    if let Some(text) = state.db.setting(LIMITS).await? {
        rules.limits = serde_json::from_str(&text)
            .map_err(|e| AppError::Internal(format!("stored limits: {e}")))?;
    }
    if let Some(text) = state.db.setting(CLOCK).await? {
        rules.clock = serde_json::from_str(&text)
            .map_err(|e| AppError::Internal(format!("stored clock policy: {e}")))?;
    }
    *state.rules.write().await = rules;
    Ok(())
}

/// Store the default taxonomy (the demo does this, so administrators edit real data).
pub async fn store_default_categories(db: &store::Db) -> Result<u64, store::StoreError> {
    let rows = domain::category::default_taxonomy()
        .into_iter()
        .map(|c| {
            let body = serde_json::to_string(&c).unwrap_or_default();
            (
                c.code.to_string(),
                c.parent.as_ref().map(|p| p.to_string()),
                body,
            )
        })
        .collect();
    db.replace_categories(rows).await
}

fn admin_only(caller: &Caller) -> AppResult<()> {
    if caller.role() == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only administrators edit the rules".into(),
        ))
    }
}

/// The editable rules as one document.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RulesDocument {
    #[schema(value_type = Vec<Object>)]
    pub categories: Vec<Category>,
    #[schema(value_type = Object)]
    pub calendar: CalendarSpec,
    #[schema(value_type = Vec<Object>)]
    pub limits: Limits,
    #[schema(value_type = Object)]
    pub clock: ClockPolicy,
}

pub async fn get(state: &AppState, caller: &Caller) -> AppResult<RulesDocument> {
    admin_only(caller)?;
    let r = state.rules.read().await;
    Ok(RulesDocument {
        categories: r.taxonomy.all().to_vec(),
        calendar: r.calendar.spec().clone(),
        limits: r.limits.clone(),
        clock: r.clock,
    })
}

/// Replace the rules: validated as a whole (every leaf category has limits, the calendar is
/// consistent) before anything is stored; then the running server uses them at once.
pub async fn put(
    state: &AppState,
    caller: &Caller,
    doc: RulesDocument,
) -> AppResult<RulesDocument> {
    admin_only(caller)?;
    let taxonomy = Taxonomy::new(doc.categories.clone())
        .map_err(|e| AppError::unprocessable("categories", e.to_string()))?;
    taxonomy
        .check_limits(&doc.limits)
        .map_err(|e| AppError::unprocessable("limits", e.to_string()))?;
    let calendar = Calendar::new(doc.calendar.clone())
        .map_err(|e| AppError::unprocessable("calendar", e.to_string()))?;
    let now = state.clock.now();
    state
        .db
        .set_setting(CALENDAR, &json(&doc.calendar), now)
        .await?;
    state
        .db
        .set_setting(LIMITS, &json(&doc.limits), now)
        .await?;
    state.db.set_setting(CLOCK, &json(&doc.clock), now).await?;
    let rows = doc
        .categories
        .iter()
        .map(|c| {
            (
                c.code.to_string(),
                c.parent.as_ref().map(|p| p.to_string()),
                serde_json::to_string(c).unwrap_or_default(),
            )
        })
        .collect();
    state.db.replace_categories(rows).await?;
    *state.rules.write().await = Rules {
        calendar,
        limits: doc.limits.clone(),
        taxonomy,
        clock: doc.clock,
    };
    tracing::info!(account.id = caller.principal.account_id, "rules replaced");
    Ok(doc)
}

/// JSON text of a rules part (these types always serialise).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
