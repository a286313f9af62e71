//! Emergency response: plans, incidents and their timeline, the instructions an activation
//! sends (set-based `INSERT … SELECT`, so a whole prefecture is one statement per table), the
//! roll call with its history, and the per-village counters kept in the same transaction as
//! every roll-call update.
//!
//! Who an activation reaches (the server's tests recount it from the data): every member who
//! works in the area (`members.territory` inside it) or holds a pairing in force on the day
//! with something inside it (a node, a household, a monastery, an enterprise); every centre and
//! department whose node lies inside the area; every unit (包村 department, party branch)
//! paired in force with a node inside it. Every household of the area gets a roll-call entry.

use chrono::{DateTime, NaiveDate, Utc};
use domain::TerritoryCode;
use domain::emergency::{
    CurrentEntry, Report, RollCallCounts, RollCallOutcome, RollCallStatus, roll_call,
};
use sqlx::Row;

use crate::{Backend, Db, Result, StoreError};

/// A stored plan (its JSON body is a `domain::emergency::Plan`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRow {
    pub code: String,
    pub hazard: String,
    pub name: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRow {
    pub id: i64,
    pub plan: String,
    pub plan_body: String,
    pub title: String,
    pub level: i64,
    pub status: String,
    pub territories: Vec<TerritoryCode>,
    pub activated_by: Option<i64>,
    pub activated_at: DateTime<Utc>,
    pub stood_down_at: Option<DateTime<Utc>>,
    pub households_total: i64,
    pub instructions_total: i64,
    pub instructions_acknowledged: i64,
}

/// What an activation writes.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub plan: String,
    pub plan_body: String,
    pub title: String,
    pub level: i64,
    /// Normalised: no node covers another.
    pub area: Vec<TerritoryCode>,
    pub account: Option<i64>,
    pub at: DateTime<Utc>,
    /// The day pairings must be in force on (Asia/Shanghai).
    pub day: NaiveDate,
    /// The JSON of the `activated` timeline event.
    pub event_body: String,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub account_name: Option<String>,
    pub kind: String,
    pub level: i64,
    pub body: String,
}

/// A new timeline line and what it changes on the incident.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: &'static str,
    pub body: String,
    /// The level after the event.
    pub level: i64,
    /// The level changed: instructions are sent again and need a new acknowledgement.
    pub resend: bool,
    pub stand_down: bool,
}

/// An instruction with its recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct InstructionRow {
    pub incident: i64,
    pub seq: i64,
    pub member: Option<i64>,
    pub member_name: Option<String>,
    pub member_phone: Option<String>,
    pub unit: Option<String>,
    pub unit_name: Option<String>,
    pub role: String,
    pub territory: String,
    pub level: i64,
    pub sent_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A household of an incident with its roll-call status and its head's contact.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentHouseholdRow {
    pub household: i64,
    pub village: String,
    pub grid: String,
    pub group: Option<String>,
    pub status: String,
    pub status_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub version: i64,
    pub head_name: String,
    pub phone: String,
    pub address: String,
}

/// One history line of a household's roll call.
#[derive(Debug, Clone, PartialEq)]
pub struct RollCallHistoryRow {
    pub household: i64,
    pub version: i64,
    pub status: String,
    pub observed_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub account: Option<i64>,
    pub note: Option<String>,
    pub current: bool,
}

/// Roll-call counts of one village of an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct VillageCounts {
    pub village: String,
    pub name: String,
    pub households: i64,
    pub counts: RollCallCounts,
}

/// What a roll-call batch did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RollCallResult {
    /// Reports written to history.
    pub recorded: usize,
    /// Reports that became the household's current status.
    pub applied: usize,
    /// Reports observed before the status already shown: in history, not shown.
    pub superseded: usize,
    /// The same idempotency key was seen before: nothing was written this time.
    #[serde(default)]
    pub replayed: bool,
}

/// A roll-call batch refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollCallRefusal {
    NoSuchIncident,
    StoodDown,
}

/// A household's place, for the scope check before a roll-call write.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdPlace {
    pub household: i64,
    pub grid: String,
    pub group: Option<String>,
}

fn status_of(s: &str) -> Result<RollCallStatus> {
    RollCallStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("roll-call status {s}")))
}

fn code_of(s: &str) -> Result<TerritoryCode> {
    TerritoryCode::parse(s).map_err(|e| StoreError::Corrupt(format!("territory {s}: {e}")))
}

macro_rules! incident_from_row {
    ($r:expr) => {{
        let r = $r;
        let t: String = r.try_get("territories")?;
        IncidentRow {
            id: r.try_get("id")?,
            plan: r.try_get("plan")?,
            plan_body: r.try_get("plan_body")?,
            title: r.try_get("title")?,
            level: r.try_get("level")?,
            status: r.try_get("status")?,
            territories: t
                .split(',')
                .filter(|s| !s.is_empty())
                .map(code_of)
                .collect::<Result<_>>()?,
            activated_by: r.try_get("activated_by")?,
            activated_at: r.try_get("activated_at")?,
            stood_down_at: r.try_get("stood_down_at")?,
            households_total: r.try_get("households_total")?,
            instructions_total: r.try_get("instructions_total")?,
            instructions_acknowledged: r.try_get("instructions_acknowledged")?,
        }
    }};
}

macro_rules! instruction_from_row {
    ($r:expr, $db:expr) => {{
        let r = $r;
        InstructionRow {
            incident: r.try_get("incident")?,
            seq: r.try_get("seq")?,
            member: r.try_get("member")?,
            member_name: r.try_get("member_name")?,
            member_phone: $db.vault.open_opt(
                "members.phone",
                r.try_get::<Option<String>, _>("member_phone")?.as_deref(),
            )?,
            unit: r.try_get("unit")?,
            unit_name: r.try_get("unit_name")?,
            role: r.try_get("role")?,
            territory: r.try_get("territory")?,
            level: r.try_get("level")?,
            sent_at: r.try_get("sent_at")?,
            acknowledged_at: r.try_get("acknowledged_at")?,
        }
    }};
}

const INSTRUCTION_SELECT: &str = "SELECT i.incident, i.seq, i.member, m.name AS member_name, \
     m.phone AS member_phone, i.unit, u.name AS unit_name, i.role, i.territory, i.level, \
     i.sent_at, i.acknowledged_at \
     FROM incident_instructions i LEFT JOIN members m ON m.id = i.member \
     LEFT JOIN units u ON u.code = i.unit";

/// Members reached by an activation, with their task (mirrors `domain::emergency::member_task`).
const INSERT_MEMBER_INSTRUCTIONS: &str = "INSERT INTO incident_instructions \
     (incident, seq, member, unit, role, territory, level, sent_at) \
     SELECT $1, ROW_NUMBER() OVER (ORDER BY m.id), m.id, NULL, \
       CASE WHEN EXISTS (SELECT 1 FROM group_heads g WHERE g.member = m.id) THEN 'household_head' \
            WHEN u.kind = 'grid' THEN 'grid_worker' \
            WHEN (',' || m.forces || ',') LIKE '%,militia,%' THEN 'militia' \
            ELSE 'cadre' END, \
       m.territory, $2, $3 \
     FROM members m JOIN units u ON u.code = m.unit \
     WHERE EXISTS (SELECT 1 FROM incident_territories t WHERE t.incident = $1 \
                   AND m.territory LIKE t.prefix || '%') \
        OR EXISTS (SELECT 1 FROM pairings p WHERE p.member = m.id \
             AND p.start_date <= $4 AND (p.end_date IS NULL OR p.end_date >= $4) \
             AND ((p.target_kind = 'territory' AND EXISTS (SELECT 1 FROM incident_territories t \
                     WHERE t.incident = $1 AND p.target LIKE t.prefix || '%')) \
               OR (p.target_kind = 'household' AND EXISTS (SELECT 1 FROM incident_households ih \
                     WHERE ih.incident = $1 AND ih.household = CAST(p.target AS BIGINT))) \
               OR (p.target_kind = 'monastery' AND EXISTS (SELECT 1 FROM monasteries x \
                     JOIN incident_territories t ON t.incident = $1 AND x.territory LIKE t.prefix || '%' \
                     WHERE x.id = CAST(p.target AS BIGINT))) \
               OR (p.target_kind = 'enterprise' AND EXISTS (SELECT 1 FROM enterprises x \
                     JOIN incident_territories t ON t.incident = $1 AND x.territory LIKE t.prefix || '%' \
                     WHERE x.id = CAST(p.target AS BIGINT)))))";

/// Centres and departments of the area, and units paired with a node inside it.
const INSERT_UNIT_INSTRUCTIONS: &str = "INSERT INTO incident_instructions \
     (incident, seq, member, unit, role, territory, level, sent_at) \
     SELECT $1, $5 + ROW_NUMBER() OVER (ORDER BY u.code), NULL, u.code, \
       CASE WHEN u.kind = 'center' THEN 'centre' ELSE 'department' END, u.territory, $2, $3 \
     FROM units u WHERE u.kind IN ('center', 'department') AND ( \
        EXISTS (SELECT 1 FROM incident_territories t WHERE t.incident = $1 \
                AND u.territory LIKE t.prefix || '%') \
        OR EXISTS (SELECT 1 FROM pairings p WHERE p.unit = u.code AND p.target_kind = 'territory' \
             AND p.start_date <= $4 AND (p.end_date IS NULL OR p.end_date >= $4) \
             AND EXISTS (SELECT 1 FROM incident_territories t WHERE t.incident = $1 \
                         AND p.target LIKE t.prefix || '%')))";

const INSERT_HOUSEHOLDS: &str = "INSERT INTO incident_households \
     (incident, household, village, grid, group_code, status, status_at, updated_by, note, version) \
     SELECT $1, h.id, substr(h.grid, 1, 12), h.grid, h.group_code, 'unreached', NULL, NULL, NULL, 0 \
     FROM households h WHERE EXISTS (SELECT 1 FROM incident_territories t WHERE t.incident = $1 \
          AND COALESCE(h.group_code, h.grid) LIKE t.prefix || '%')";

const INSERT_VILLAGE_COUNTS: &str = "INSERT INTO incident_village_counts \
     (incident, village, households, safe, evacuated, injured, missing, unreached) \
     SELECT incident, village, COUNT(*), 0, 0, 0, 0, COUNT(*) FROM incident_households \
     WHERE incident = $1 GROUP BY incident, village";

/// Whether a database error is one a retry of the whole transaction cures (PostgreSQL
/// deadlock or serialization failure between two roll-call batches).
fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(d)) => {
            matches!(d.code().as_deref(), Some("40P01") | Some("40001"))
        }
        _ => false,
    }
}

impl Db {
    /// Insert or replace plans (administrators, and the demo).
    pub async fn save_plans(&self, plans: &[PlanRow]) -> Result<u64> {
        on_write!(self, tx => {
            for p in plans {
                sqlx::query(
                    "INSERT INTO emergency_plans (code, hazard, name, body, updated_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (code) DO UPDATE SET \
                     hazard = excluded.hazard, name = excluded.name, body = excluded.body, \
                     updated_at = excluded.updated_at",
                )
                .bind(&p.code)
                .bind(&p.hazard)
                .bind(&p.name)
                .bind(&p.body)
                .bind(p.updated_at)
                .execute(&mut **tx)
                .await?;
            }
        });
        Ok(plans.len() as u64)
    }

    /// Every plan, by code.
    pub async fn plans(&self) -> Result<Vec<PlanRow>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT * FROM emergency_plans ORDER BY code")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(PlanRow {
                        code: r.try_get("code")?,
                        hazard: r.try_get("hazard")?,
                        name: r.try_get("name")?,
                        body: r.try_get("body")?,
                        updated_at: r.try_get("updated_at")?,
                    })
                })
                .collect()
        })
    }

    /// Activate: the incident, its area, a roll-call entry per household, per-village
    /// counters, an instruction per member and unit reached, and the first timeline line, in
    /// one transaction of a few set-based statements.
    pub async fn activate_incident(&self, n: NewIncident) -> Result<IncidentRow> {
        let territories: Vec<String> = n.area.iter().map(|c| c.to_string()).collect();
        let id = on_write!(self, tx => {
            let last: i64 = sqlx::query(
                "INSERT INTO case_sequences (name, last) \
                 VALUES ('emergency:incidents', (SELECT COALESCE(MAX(id), 0) FROM incidents) + 1) \
                 ON CONFLICT (name) DO UPDATE SET last = case_sequences.last + 1 RETURNING last",
            )
            .fetch_one(&mut **tx)
            .await?
            .try_get("last")?;
            let id = last;
            sqlx::query(
                "INSERT INTO incidents (id, plan, plan_body, title, level, status, territories, \
                 activated_by, activated_at, stood_down_at, households_total, instructions_total, \
                 instructions_acknowledged, events_last) \
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, NULL, 0, 0, 0, 1)",
            )
            .bind(id)
            .bind(&n.plan)
            .bind(&n.plan_body)
            .bind(&n.title)
            .bind(n.level)
            .bind(territories.join(","))
            .bind(n.account)
            .bind(n.at)
            .execute(&mut **tx)
            .await?;
            for c in &n.area {
                sqlx::query(
                    "INSERT INTO incident_territories (incident, code, prefix) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(c.as_str())
                .bind(c.subtree_prefix())
                .execute(&mut **tx)
                .await?;
            }
            let households = sqlx::query(INSERT_HOUSEHOLDS)
                .bind(id)
                .execute(&mut **tx)
                .await?
                .rows_affected() as i64;
            sqlx::query(INSERT_VILLAGE_COUNTS)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            let members = sqlx::query(INSERT_MEMBER_INSTRUCTIONS)
                .bind(id)
                .bind(n.level)
                .bind(n.at)
                .bind(n.day)
                .execute(&mut **tx)
                .await?
                .rows_affected() as i64;
            let units = sqlx::query(INSERT_UNIT_INSTRUCTIONS)
                .bind(id)
                .bind(n.level)
                .bind(n.at)
                .bind(n.day)
                .bind(members)
                .execute(&mut **tx)
                .await?
                .rows_affected() as i64;
            sqlx::query(
                "UPDATE incidents SET households_total = $2, instructions_total = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(households)
            .bind(members + units)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO incident_events (incident, seq, at, account, kind, level, body) \
                 VALUES ($1, 1, $2, $3, 'activated', $4, $5)",
            )
            .bind(id)
            .bind(n.at)
            .bind(n.account)
            .bind(n.level)
            .bind(&n.event_body)
            .execute(&mut **tx)
            .await?;
            id
        });
        self.incident(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("incident {id} vanished")))
    }

    pub async fn incident(&self, id: i64) -> Result<Option<IncidentRow>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some(incident_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// Incidents, newest first; `active_only` keeps those not stood down.
    pub async fn incidents(&self, active_only: bool, limit: i64) -> Result<Vec<IncidentRow>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM incidents WHERE ($1 = FALSE OR status = 'active') \
                 ORDER BY id DESC LIMIT $2",
            )
            .bind(active_only)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(incident_from_row!(r))).collect()
        })
    }

    /// The per-village counters of an incident, with the villages' names, by code.
    pub async fn incident_village_counts(&self, id: i64) -> Result<Vec<VillageCounts>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT c.*, t.name FROM incident_village_counts c \
                 JOIN territories t ON t.code = c.village WHERE c.incident = $1 ORDER BY c.village",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(VillageCounts {
                        village: r.try_get("village")?,
                        name: r.try_get("name")?,
                        households: r.try_get("households")?,
                        counts: RollCallCounts {
                            safe: r.try_get("safe")?,
                            evacuated: r.try_get("evacuated")?,
                            injured: r.try_get("injured")?,
                            missing: r.try_get("missing")?,
                            unreached: r.try_get("unreached")?,
                        },
                    })
                })
                .collect()
        })
    }

    /// The timeline, oldest first.
    pub async fn incident_events(&self, id: i64) -> Result<Vec<EventRow>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT e.*, a.display_name FROM incident_events e \
                 LEFT JOIN accounts a ON a.id = e.account WHERE e.incident = $1 ORDER BY e.seq",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(EventRow {
                        seq: r.try_get("seq")?,
                        at: r.try_get("at")?,
                        account: r.try_get("account")?,
                        account_name: r.try_get("display_name")?,
                        kind: r.try_get("kind")?,
                        level: r.try_get("level")?,
                        body: r.try_get("body")?,
                    })
                })
                .collect()
        })
    }

    /// Append timeline lines and apply what they change (level, stand-down), in one
    /// transaction. A level change sends every instruction again at the new level and clears
    /// its acknowledgement. Returns `false` when the incident was stood down meanwhile.
    pub async fn append_incident_events(
        &self,
        id: i64,
        events: Vec<NewEvent>,
        account: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = events.len() as i64;
        on_write!(self, tx => {
            // Takes the incident's row lock on PostgreSQL: timeline lines of one incident are
            // numbered one writer at a time.
            let row = sqlx::query(
                "UPDATE incidents SET events_last = events_last + $2 \
                 WHERE id = $1 AND status = 'active' RETURNING events_last",
            )
            .bind(id)
            .bind(n)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else {
                return Ok(false);
            };
            let last: i64 = row.try_get("events_last")?;
            let mut seq = last - n;
            for e in &events {
                seq += 1;
                sqlx::query(
                    "INSERT INTO incident_events (incident, seq, at, account, kind, level, body) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(seq)
                .bind(at)
                .bind(account)
                .bind(e.kind)
                .bind(e.level)
                .bind(&e.body)
                .execute(&mut **tx)
                .await?;
                if e.resend {
                    // The round this ends keeps its acknowledgements.
                    sqlx::query(
                        "INSERT INTO incident_ack_history \
                         (incident, seq, level, sent_at, acknowledged_at, acknowledged_by) \
                         SELECT incident, seq, level, sent_at, acknowledged_at, acknowledged_by \
                         FROM incident_instructions WHERE incident = $1 AND acknowledged_at IS NOT NULL",
                    )
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "UPDATE incident_instructions SET level = $2, sent_at = $3, \
                         acknowledged_at = NULL, acknowledged_by = NULL WHERE incident = $1",
                    )
                    .bind(id)
                    .bind(e.level)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(
                        "UPDATE incidents SET level = $2, instructions_acknowledged = 0 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(e.level)
                    .execute(&mut **tx)
                    .await?;
                }
                if e.stand_down {
                    sqlx::query(
                        "UPDATE incidents SET status = 'stood_down', stood_down_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(at)
                    .execute(&mut **tx)
                    .await?;
                }
            }
        });
        Ok(true)
    }

    /// Where some households of an incident are (for the scope check before a roll-call
    /// write); households not in the incident are absent from the answer.
    pub async fn incident_household_places(
        &self,
        id: i64,
        households: &[i64],
    ) -> Result<Vec<HouseholdPlace>> {
        if households.is_empty() {
            return Ok(Vec::new());
        }
        on_read!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT household, grid, group_code FROM incident_households WHERE incident = ",
            );
            qb.push_bind(id).push(" AND household IN (");
            let mut sep = qb.separated(", ");
            for h in households {
                sep.push_bind(*h);
            }
            qb.push(")");
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(HouseholdPlace {
                        household: r.try_get("household")?,
                        grid: r.try_get("grid")?,
                        group: r.try_get("group_code")?,
                    })
                })
                .collect()
        })
    }

    /// Record a roll-call batch: every report into history, the latest observation of each
    /// household as its current status (decided by `domain::emergency::roll_call` on the rows
    /// as locked inside the transaction, so two concurrent batches on one household both land
    /// in history and the later observation stands), and the village counters moved in the same
    /// transaction. With an idempotency key, a batch already recorded answers with its first
    /// result and writes nothing.
    pub async fn record_rollcall(
        &self,
        id: i64,
        idempotency_key: Option<&str>,
        account: Option<i64>,
        now: DateTime<Utc>,
        reports: &[Report],
    ) -> Result<Result<RollCallResult, RollCallRefusal>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .record_rollcall_once(id, idempotency_key, account, now, reports)
                .await
            {
                Err(e)
                    if attempt < 5 && self.backend() == Backend::Postgres && is_retryable(&e) =>
                {
                    tracing::warn!(incident.id = id, attempt, "roll-call batch retried: {e}");
                }
                other => return other,
            }
        }
    }

    async fn record_rollcall_once(
        &self,
        id: i64,
        idempotency_key: Option<&str>,
        account: Option<i64>,
        now: DateTime<Utc>,
        reports: &[Report],
    ) -> Result<Result<RollCallResult, RollCallRefusal>> {
        let out = on_write!(self, tx => {
            let status: Option<String> = sqlx::query("SELECT status FROM incidents WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("status"))
                .transpose()?;
            match status.as_deref() {
                None => return Ok(Err(RollCallRefusal::NoSuchIncident)),
                Some("active") => {}
                Some(_) => return Ok(Err(RollCallRefusal::StoodDown)),
            }
            if let Some(key) = idempotency_key {
                let fresh = sqlx::query(
                    "INSERT INTO incident_rollcall_batches (incident, idempotency_key, account, at, result) \
                     VALUES ($1, $2, $3, $4, '') ON CONFLICT (incident, idempotency_key) DO NOTHING",
                )
                .bind(id)
                .bind(key)
                .bind(account)
                .bind(now)
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1;
                if !fresh {
                    let stored: String = sqlx::query(
                        "SELECT result FROM incident_rollcall_batches \
                         WHERE incident = $1 AND idempotency_key = $2",
                    )
                    .bind(id)
                    .bind(key)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get("result")?;
                    let mut r: RollCallResult = serde_json::from_str(&stored)
                        .map_err(|e| StoreError::Corrupt(format!("stored roll-call result: {e}")))?;
                    r.replayed = true;
                    return Ok(Ok(r));
                }
            }
            let mut ids: Vec<i64> = reports.iter().map(|r| r.household).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut current = Vec::with_capacity(ids.len());
            if !ids.is_empty() {
                // A no-op update that locks the rows on PostgreSQL and reads them as they are
                // now (the same statement on SQLite, whose writer is single anyway).
                let mut qb = sqlx::QueryBuilder::new(
                    "UPDATE incident_households SET version = version WHERE incident = ",
                );
                qb.push_bind(id).push(" AND household IN (");
                let mut sep = qb.separated(", ");
                for h in &ids {
                    sep.push_bind(*h);
                }
                qb.push(") RETURNING household, village, status, status_at, version");
                let rows = qb.build().fetch_all(&mut **tx).await?;
                for r in &rows {
                    let village: String = r.try_get("village")?;
                    let status: String = r.try_get("status")?;
                    current.push(CurrentEntry {
                        household: r.try_get("household")?,
                        village: code_of(&village)?,
                        status: status_of(&status)?,
                        at: r.try_get("status_at")?,
                        version: r.try_get("version")?,
                    });
                }
            }
            let outcome: RollCallOutcome = roll_call(&current, reports);
            for chunk in outcome.recorded.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO incident_rollcall_history (incident, household, version, status, \
                     observed_at, recorded_at, account, note, current) ",
                );
                qb.push_values(chunk, |mut sep, r| {
                    sep.push_bind(id)
                        .push_bind(r.report.household)
                        .push_bind(r.version)
                        .push_bind(r.report.status.as_str())
                        .push_bind(r.report.at)
                        .push_bind(now)
                        .push_bind(account)
                        .push_bind(r.report.note.clone())
                        .push_bind(r.current);
                });
                qb.build().execute(&mut **tx).await?;
            }
            for (household, cur) in &outcome.current {
                // The note of the report that now stands (the last current one recorded).
                let note = outcome
                    .recorded
                    .iter()
                    .rev()
                    .find(|r| r.report.household == *household && r.current)
                    .and_then(|r| r.report.note.clone());
                let changed = outcome
                    .recorded
                    .iter()
                    .any(|r| r.report.household == *household && r.current);
                if changed {
                    sqlx::query(
                        "UPDATE incident_households SET status = $3, status_at = $4, \
                         updated_by = $5, note = $6, version = $7 \
                         WHERE incident = $1 AND household = $2",
                    )
                    .bind(id)
                    .bind(household)
                    .bind(cur.status.as_str())
                    .bind(cur.at)
                    .bind(account)
                    .bind(note)
                    .bind(cur.version)
                    .execute(&mut **tx)
                    .await?;
                } else {
                    sqlx::query(
                        "UPDATE incident_households SET version = $3 \
                         WHERE incident = $1 AND household = $2",
                    )
                    .bind(id)
                    .bind(household)
                    .bind(cur.version)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            for (village, d) in &outcome.deltas {
                sqlx::query(
                    "UPDATE incident_village_counts SET safe = safe + $3, \
                     evacuated = evacuated + $4, injured = injured + $5, \
                     missing = missing + $6, unreached = unreached + $7 \
                     WHERE incident = $1 AND village = $2",
                )
                .bind(id)
                .bind(village.as_str())
                .bind(d.safe)
                .bind(d.evacuated)
                .bind(d.injured)
                .bind(d.missing)
                .bind(d.unreached)
                .execute(&mut **tx)
                .await?;
            }
            let applied = outcome.applied();
            let result = RollCallResult {
                recorded: outcome.recorded.len(),
                applied,
                superseded: outcome.recorded.len() - applied,
                replayed: false,
            };
            if let Some(key) = idempotency_key {
                let text = serde_json::to_string(&result)
                    .map_err(|e| StoreError::Corrupt(format!("roll-call result: {e}")))?;
                sqlx::query(
                    "UPDATE incident_rollcall_batches SET result = $3 \
                     WHERE incident = $1 AND idempotency_key = $2",
                )
                .bind(id)
                .bind(key)
                .bind(text)
                .execute(&mut **tx)
                .await?;
            }
            Ok(result)
        });
        Ok(out)
    }

    /// Households of an incident with their status, by id after `after`; `prefix` limits them
    /// to a subtree (matched on the group, or the grid for households in no group).
    pub async fn incident_households(
        &self,
        id: i64,
        status: Option<RollCallStatus>,
        prefix: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<IncidentHouseholdRow>> {
        let pattern = format!("{prefix}%");
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT ih.*, h.head_name, h.phone, h.address FROM incident_households ih \
                 JOIN households h ON h.id = ih.household \
                 WHERE ih.incident = $1 AND ($2 = '' OR ih.status = $2) \
                 AND COALESCE(ih.group_code, ih.grid) LIKE $3 AND ih.household > $4 \
                 ORDER BY ih.household LIMIT $5",
            )
            .bind(id)
            .bind(status.map(|s| s.as_str()).unwrap_or(""))
            .bind(pattern)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(IncidentHouseholdRow {
                        household: r.try_get("household")?,
                        village: r.try_get("village")?,
                        grid: r.try_get("grid")?,
                        group: r.try_get("group_code")?,
                        status: r.try_get("status")?,
                        status_at: r.try_get("status_at")?,
                        note: r.try_get("note")?,
                        version: r.try_get("version")?,
                        head_name: r.try_get("head_name")?,
                        phone: self
                            .vault
                            .open("households.phone", &r.try_get::<String, _>("phone")?)?,
                        address: self
                            .vault
                            .open("households.address", &r.try_get::<String, _>("address")?)?,
                    })
                })
                .collect()
        })
    }

    /// The roll-call history of one household in an incident, oldest first.
    pub async fn rollcall_history(
        &self,
        id: i64,
        household: i64,
    ) -> Result<Vec<RollCallHistoryRow>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM incident_rollcall_history WHERE incident = $1 AND household = $2 \
                 ORDER BY version",
            )
            .bind(id)
            .bind(household)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(RollCallHistoryRow {
                        household: r.try_get("household")?,
                        version: r.try_get("version")?,
                        status: r.try_get("status")?,
                        observed_at: r.try_get("observed_at")?,
                        recorded_at: r.try_get("recorded_at")?,
                        account: r.try_get("account")?,
                        note: r.try_get("note")?,
                        current: r.try_get("current")?,
                    })
                })
                .collect()
        })
    }

    /// A recount of an incident's statuses from its households (tests and the benchmark's
    /// final check; the board reads the counters).
    pub async fn recount_rollcall(&self, id: i64) -> Result<Vec<(String, RollCallCounts)>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT village, status, COUNT(*) AS n FROM incident_households \
                 WHERE incident = $1 GROUP BY village, status ORDER BY village",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            let mut out: Vec<(String, RollCallCounts)> = Vec::new();
            for r in &rows {
                let village: String = r.try_get("village")?;
                let status: String = r.try_get("status")?;
                let n: i64 = r.try_get("n")?;
                if out.last().is_none_or(|(v, _)| *v != village) {
                    out.push((village, RollCallCounts::default()));
                }
                if let Some((_, c)) = out.last_mut() {
                    let mut add = RollCallCounts::default();
                    match status_of(&status)? {
                        RollCallStatus::Safe => add.safe = n,
                        RollCallStatus::Evacuated => add.evacuated = n,
                        RollCallStatus::Injured => add.injured = n,
                        RollCallStatus::Missing => add.missing = n,
                        RollCallStatus::Unreached => add.unreached = n,
                    }
                    c.add(&add);
                }
            }
            Ok(out)
        })
    }

    /// One instruction.
    pub async fn instruction(&self, id: i64, seq: i64) -> Result<Option<InstructionRow>> {
        on_read!(self, pool => {
            let sql = format!("{INSTRUCTION_SELECT} WHERE i.incident = $1 AND i.seq = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(seq)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some(instruction_from_row!(&r, self))),
                None => Ok(None),
            }
        })
    }

    /// Instructions of an incident, by seq after `after`; `open_only` keeps the
    /// unacknowledged.
    pub async fn incident_instructions(
        &self,
        id: i64,
        open_only: bool,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InstructionRow>> {
        on_read!(self, pool => {
            let sql = format!(
                "{INSTRUCTION_SELECT} WHERE i.incident = $1 AND ($2 = FALSE OR i.acknowledged_at IS NULL) \
                 AND i.seq > $3 ORDER BY i.seq LIMIT $4"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(open_only)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(instruction_from_row!(r, self))).collect()
        })
    }

    /// The instructions addressed to a member or a unit, in active incidents, newest first.
    pub async fn instructions_for(
        &self,
        member: Option<i64>,
        unit: Option<&str>,
    ) -> Result<Vec<InstructionRow>> {
        on_read!(self, pool => {
            let sql = format!(
                "{INSTRUCTION_SELECT} JOIN incidents x ON x.id = i.incident \
                 WHERE x.status = 'active' AND (i.member = $1 OR i.unit = $2) \
                 ORDER BY i.incident DESC, i.seq LIMIT 200"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(member.unwrap_or(-1))
                .bind(unit.unwrap_or(""))
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(instruction_from_row!(r, self))).collect()
        })
    }

    /// Acknowledge an instruction (once: a second acknowledgement changes nothing). Returns
    /// whether this call acknowledged it.
    pub async fn acknowledge_instruction(
        &self,
        id: i64,
        seq: i64,
        account: i64,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(on_write!(self, tx => {
            let n = sqlx::query(
                "UPDATE incident_instructions SET acknowledged_at = $3, acknowledged_by = $4 \
                 WHERE incident = $1 AND seq = $2 AND acknowledged_at IS NULL",
            )
            .bind(id)
            .bind(seq)
            .bind(at)
            .bind(account)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE incidents SET instructions_acknowledged = instructions_acknowledged + 1 \
                     WHERE id = $1",
                )
                .bind(id)
                .execute(&mut **tx)
                .await?;
            }
            n == 1
        }))
    }

    /// Every acknowledgement of an incident's instructions, of earlier rounds (kept when the
    /// level changed) and of the current one: `(sent_at, acknowledged_at)`, by sending time.
    pub async fn incident_acknowledgements(
        &self,
        id: i64,
    ) -> Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT sent_at, acknowledged_at FROM incident_ack_history WHERE incident = $1 \
                 UNION ALL \
                 SELECT sent_at, acknowledged_at FROM incident_instructions \
                 WHERE incident = $1 AND acknowledged_at IS NOT NULL \
                 ORDER BY 1, 2",
            )
            .bind(id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("sent_at")?, r.try_get("acknowledged_at")?)))
                .collect()
        })
    }

    /// The member behind an account, if any.
    pub async fn account_member(&self, account: i64) -> Result<Option<i64>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT member FROM accounts WHERE id = $1")
                .bind(account)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(r.try_get("member")?),
                None => Ok(None),
            }
        })
    }
}
