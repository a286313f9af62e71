//! The "8+" organisation as administrators keep it: writes of households, members, units,
//! groups, monasteries, enterprises and pairings, each with its change history and subtree
//! counts in the same transaction; the five coverages and their gap lists; keyset-paged reads for
//! the management pages and the streamed exports; the audit log of personal-data disclosures.
//!
//! Subtree reads use a range on the territory code (`code >= prefix AND code < next(prefix)`),
//! which both backends answer from the B-tree index, instead of `LIKE 'prefix%'` (SQLite only
//! uses an index for LIKE with case-sensitive matching, PostgreSQL only with pattern ops).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use domain::TerritoryCode;
use serde::Serialize;
use sqlx::Row;

use crate::bulk::Value;
use crate::{Db, Result, StoreError};

/// The half-open range of codes of a node's subtree: `[prefix, next)`. Codes are digits, and
/// digit strings compare the same in every collation.
pub fn subtree_range(code: &TerritoryCode) -> (String, String) {
    let prefix = code.subtree_prefix().to_owned();
    let mut next = prefix.clone().into_bytes();
    while let Some(last) = next.pop() {
        if last < b'9' {
            next.push(last + 1);
            break;
        }
    }
    // All nines (no real code): every digit string sorts below a letter.
    let next = if next.is_empty() {
        "a".to_owned()
    } else {
        String::from_utf8(next).expect("digits")
    };
    (prefix, next)
}

/// Who made a change, when, and through which door (`page`, `api` or `import`).
#[derive(Debug, Clone)]
pub struct ChangeMeta {
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub via: &'static str,
}

/// A write refused because of what is already stored (a duplicate ID number, a group that does
/// not exist…). The server shows it as a 409 or 422 naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub reason: &'static str,
    pub message: String,
    /// 409 (the data conflicts) rather than 422 (the value is wrong).
    pub conflict: bool,
}

impl Refusal {
    fn invalid(field: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            field,
            reason,
            message: message.into(),
            conflict: false,
        }
    }
    fn conflict(field: &'static str, reason: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            field,
            reason,
            message: message.into(),
            conflict: true,
        }
    }
}

/// The result of a write: done, or refused for a reason the caller shows.
pub type Outcome<T> = std::result::Result<T, Refusal>;

/// One entry of the change history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub account_name: Option<String>,
    pub via: String,
    pub entity: String,
    pub entity_id: String,
    pub territory: String,
    pub action: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A household with everything the edit form needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdRecord {
    pub id: i64,
    pub group: Option<String>,
    pub grid: String,
    pub head_name: String,
    pub address: String,
    pub phone: String,
    pub id_number: String,
    pub resident_count: i64,
    pub care: bool,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
}

/// A household to write: `id` None creates one.
#[derive(Debug, Clone, PartialEq)]
pub struct HouseholdWrite {
    pub id: Option<i64>,
    pub grid: TerritoryCode,
    pub group: Option<TerritoryCode>,
    pub head_name: String,
    pub address: String,
    pub phone: String,
    pub id_number: String,
    /// For a new household (its residents are not listed); kept for an existing one.
    pub resident_count: i64,
    pub care: bool,
    pub location: Option<(f64, f64)>,
}

/// A member to write: `id` None creates one.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberWrite {
    pub id: Option<i64>,
    pub name: String,
    pub gender: domain::people::Gender,
    pub phone: String,
    pub forces: Vec<domain::people::Force>,
    pub unit: String,
    pub territory: TerritoryCode,
    pub title: String,
}

/// A member as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRecord {
    pub id: i64,
    pub name: String,
    pub gender: String,
    pub phone: String,
    pub forces: Vec<String>,
    pub unit: String,
    pub unit_name: String,
    pub territory: String,
    pub title: String,
}

/// A monastery or an enterprise (the same shape: a name, a place and a head count).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceRecord {
    pub id: i64,
    pub name: String,
    pub territory: String,
    /// Monks of a monastery, employees of an enterprise.
    pub people: i64,
}

/// Which of the two place tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    Monastery,
    Enterprise,
}

impl PlaceKind {
    fn table(self) -> &'static str {
        match self {
            PlaceKind::Monastery => "monasteries",
            PlaceKind::Enterprise => "enterprises",
        }
    }
    fn people(self) -> &'static str {
        match self {
            PlaceKind::Monastery => "monks",
            PlaceKind::Enterprise => "employees",
        }
    }
    pub fn entity(self) -> &'static str {
        match self {
            PlaceKind::Monastery => "monastery",
            PlaceKind::Enterprise => "enterprise",
        }
    }
}

/// A pairing with the names of both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairingRecord {
    pub id: i64,
    pub kind: String,
    pub member: Option<i64>,
    pub member_name: Option<String>,
    pub unit: Option<String>,
    pub unit_name: Option<String>,
    pub target_kind: String,
    pub target: String,
    pub target_name: String,
    /// The territory node the target lies in (its own code for a territory target).
    pub target_territory: String,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
}

/// A pairing to write: `id` None creates one.
#[derive(Debug, Clone, PartialEq)]
pub struct PairingWrite {
    pub id: Option<i64>,
    pub kind: domain::people::PairingKind,
    pub subject: domain::people::PairingSubject,
    pub target: domain::people::PairingTarget,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
}

/// A joint-defence group with its household head.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRecord {
    pub code: String,
    pub name: String,
    pub head: Option<i64>,
    pub head_name: Option<String>,
    pub households: i64,
}

/// The five coverages of a node: (covered, total) each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CoverageCounts {
    pub households_in_groups: (i64, i64),
    pub monasteries_paired: (i64, i64),
    pub enterprises_paired: (i64, i64),
    pub care_households_paired: (i64, i64),
    pub villages_paired: (i64, i64),
}

/// One gap of a coverage: the thing not covered and where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapRecord {
    /// A household, monastery or enterprise id, or a village code.
    pub id: String,
    pub name: String,
    pub territory: String,
    /// For households: `no_group` or `group_without_head`.
    pub reason: Option<String>,
    /// For households: the phone (masked by the server unless the role sees it).
    pub phone: Option<String>,
    pub address: Option<String>,
}

/// An entry of the audit log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub role: Option<String>,
    /// What happened: `reveal_personal_data`, `export_personal_data`, …
    pub action: &'static str,
    pub subject_kind: &'static str,
    pub subject_id: String,
    pub territory: Option<String>,
    pub detail: Option<String>,
    /// Which personal fields were shown, comma-separated (`phone,id_number,address`).
    pub fields: Option<String>,
    /// Who asked, as the server saw it: the client's address and user agent.
    pub client: Option<String>,
}

/// Which audit entries to read (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub account: Option<i64>,
    pub action: Option<String>,
    pub subject_kind: Option<String>,
    pub subject_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries with an id below this (paging; 0 from the newest).
    pub before: i64,
    pub limit: i64,
}

/// An entry of the audit log as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub account: Option<i64>,
    pub role: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub territory: Option<String>,
    pub detail: Option<String>,
    pub fields: Option<String>,
    pub client: Option<String>,
}

macro_rules! audit_record {
    ($r:expr) => {{
        let r = $r;
        AuditRecord {
            id: r.try_get("id")?,
            at: r.try_get("at")?,
            account: r.try_get("account")?,
            role: r.try_get("role")?,
            action: r.try_get("action")?,
            subject_kind: r.try_get("subject_kind")?,
            subject_id: r.try_get("subject_id")?,
            territory: r.try_get("territory")?,
            detail: r.try_get("detail")?,
            fields: r.try_get("fields")?,
            client: r.try_get("client")?,
        }
    }};
}

/// What import validation needs to know about one stored household.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdKey {
    pub id: i64,
    pub grid: String,
    pub group: Option<String>,
    /// The blind index of the ID number ([`crate::vault::Vault::blind`]), never the number.
    pub id_number_bidx: String,
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("json: {e}")))
}

macro_rules! household_record {
    ($r:expr, $db:expr) => {{
        let r = $r;
        let v = &$db.vault;
        HouseholdRecord {
            id: r.try_get("id")?,
            group: r.try_get("group_code")?,
            grid: r.try_get("grid")?,
            head_name: r.try_get("head_name")?,
            address: v.open("households.address", &r.try_get::<String, _>("address")?)?,
            phone: v.open("households.phone", &r.try_get::<String, _>("phone")?)?,
            id_number: v.open(
                "households.id_number",
                &r.try_get::<String, _>("id_number")?,
            )?,
            resident_count: r.try_get("resident_count")?,
            care: r.try_get("care")?,
            lng: r.try_get("lng")?,
            lat: r.try_get("lat")?,
        }
    }};
}

macro_rules! member_record {
    ($r:expr, $db:expr) => {{
        let r = $r;
        let v = &$db.vault;
        let forces: String = r.try_get("forces")?;
        MemberRecord {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            gender: r.try_get("gender")?,
            phone: v.open("members.phone", &r.try_get::<String, _>("phone")?)?,
            forces: forces
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            unit: r.try_get("unit")?,
            unit_name: r.try_get("unit_name")?,
            territory: r.try_get("territory")?,
            title: r.try_get("title")?,
        }
    }};
}

macro_rules! pairing_record {
    ($r:expr) => {{
        let r = $r;
        PairingRecord {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            member: r.try_get("member")?,
            member_name: r.try_get("member_name")?,
            unit: r.try_get("unit")?,
            unit_name: r.try_get("unit_name")?,
            target_kind: r.try_get("target_kind")?,
            target: r.try_get("target")?,
            target_name: r.try_get("target_name")?,
            target_territory: r.try_get("target_territory")?,
            start_date: r.try_get("start_date")?,
            end_date: r.try_get("end_date")?,
        }
    }};
}

macro_rules! change_record {
    ($r:expr, $db:expr) => {{
        let r = $r;
        let db = &$db;
        ChangeRecord {
            id: r.try_get("id")?,
            at: r.try_get("at")?,
            account: r.try_get("account")?,
            account_name: r.try_get("account_name")?,
            via: r.try_get("via")?,
            entity: r.try_get("entity")?,
            entity_id: r.try_get("entity_id")?,
            territory: r.try_get("territory")?,
            action: r.try_get("action")?,
            before: db.open_json(r.try_get("before")?)?,
            after: db.open_json(r.try_get("after")?)?,
        }
    }};
}

/// Run `$body` (which evaluates to an `Outcome`) in one write transaction that commits only
/// when the outcome is `Ok`: a refusal rolls back whatever the body wrote.
macro_rules! write_outcome {
    ($db:expr, $tx:ident => $body:expr) => {
        match &$db.pools {
            $crate::db::Pools::Sqlite { write, .. } => {
                let mut txn = write.begin_with("BEGIN IMMEDIATE").await?;
                let $tx = &mut txn;
                let out = $body;
                if out.is_ok() {
                    txn.commit().await?;
                }
                out
            }
            $crate::db::Pools::Postgres(pg) => {
                let mut txn = pg.begin().await?;
                let $tx = &mut txn;
                let out = $body;
                if out.is_ok() {
                    txn.commit().await?;
                }
                out
            }
        }
    };
}

/// Hand out `n` new ids of `table` (never below what the table holds: rows loaded in bulk did
/// not go through the sequence). Returns the first.
macro_rules! next_ids {
    ($tx:expr, $table:expr, $n:expr) => {{
        let n: i64 = $n;
        let sql = format!(
            "INSERT INTO case_sequences (name, last) \
             VALUES ($1, (SELECT COALESCE(MAX(id), 0) FROM {t}) + $2) \
             ON CONFLICT (name) DO UPDATE SET last = CASE \
             WHEN case_sequences.last + $2 > excluded.last THEN case_sequences.last + $2 \
             ELSE excluded.last END RETURNING last",
            t = $table
        );
        let last: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(format!("org:{}", $table))
            .bind(n)
            .fetch_one(&mut **$tx)
            .await?
            .try_get("last")?;
        last - n + 1
    }};
}

/// Append one change to the history (inside the caller's transaction).
macro_rules! log_change {
    ($tx:expr, $meta:expr, $entity:expr, $id:expr, $territory:expr, $action:expr, $before:expr, $after:expr) => {{
        let action: &str = $action;
        let before: Option<String> = $before;
        let after: Option<String> = $after;
        let id = next_ids!($tx, "org_changes", 1);
        sqlx::query(
            "INSERT INTO org_changes (id, at, account, via, entity, entity_id, territory, action, before, after) \
             VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind($meta.at)
        .bind($meta.account)
        .bind($meta.via)
        .bind($entity)
        .bind($id)
        .bind($territory)
        .bind(action)
        .bind(before)
        .bind(after)
        .bind(id)
        .execute(&mut **$tx)
        .await?;
    }};
}

/// Add `delta` to one count column of a node and every ancestor (inside the caller's
/// transaction). `column` is an identifier from the code.
macro_rules! adjust_counts {
    ($tx:expr, $column:expr, $deltas:expr) => {{
        let deltas: BTreeMap<String, i64> = $deltas;
        for (code, d) in deltas.into_iter().filter(|(_, d)| *d != 0) {
            let sql = format!(
                "INSERT INTO territory_counts (code, {col}) VALUES ($1, $2) \
                 ON CONFLICT (code) DO UPDATE SET {col} = territory_counts.{col} + excluded.{col}",
                col = $column
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(code)
                .bind(d)
                .execute(&mut **$tx)
                .await?;
        }
    }};
}

/// ±1 along the chain of `leaf` and its ancestors.
fn chain_delta(out: &mut BTreeMap<String, i64>, leaf: Option<&str>, d: i64) {
    let Some(code) = leaf.and_then(|c| TerritoryCode::parse(c).ok()) else {
        return;
    };
    for c in code.ancestors_and_self() {
        *out.entry(c.to_string()).or_default() += d;
    }
}

const PAIRINGS_SELECT: &str = "SELECT x.*, mm.name AS member_name, u.name AS unit_name FROM (";
const PAIRINGS_BRANCHES: &str = "\
    SELECT p.id, p.kind, p.member, p.unit, p.target_kind, p.target, p.start_date, p.end_date, \
           t.name AS target_name, t.code AS target_territory \
      FROM pairings p JOIN territories t ON t.code = p.target \
     WHERE p.target_kind = 'territory' AND t.code >= $1 AND t.code < $2 AND p.id > $3 \
    UNION ALL \
    SELECT p.id, p.kind, p.member, p.unit, p.target_kind, p.target, p.start_date, p.end_date, \
           h.head_name AS target_name, COALESCE(h.group_code, h.grid) AS target_territory \
      FROM households h JOIN pairings p ON p.target_kind = 'household' AND p.target = CAST(h.id AS TEXT) \
     WHERE h.grid >= $1 AND h.grid < $2 AND p.id > $3 \
    UNION ALL \
    SELECT p.id, p.kind, p.member, p.unit, p.target_kind, p.target, p.start_date, p.end_date, \
           m.name AS target_name, m.territory AS target_territory \
      FROM monasteries m JOIN pairings p ON p.target_kind = 'monastery' AND p.target = CAST(m.id AS TEXT) \
     WHERE m.territory >= $1 AND m.territory < $2 AND p.id > $3 \
    UNION ALL \
    SELECT p.id, p.kind, p.member, p.unit, p.target_kind, p.target, p.start_date, p.end_date, \
           e.name AS target_name, e.territory AS target_territory \
      FROM enterprises e JOIN pairings p ON p.target_kind = 'enterprise' AND p.target = CAST(e.id AS TEXT) \
     WHERE e.territory >= $1 AND e.territory < $2 AND p.id > $3";
const PAIRINGS_TAIL: &str = ") x LEFT JOIN members mm ON mm.id = x.member \
     LEFT JOIN units u ON u.code = x.unit ORDER BY x.id LIMIT $4";

impl Db {
    // -----------------------------------------------------------------------------------------
    // Coverage

    /// The five coverages of a node's subtree on `day` (pairings in force that day).
    pub async fn coverage(&self, within: &TerritoryCode, day: NaiveDate) -> Result<CoverageCounts> {
        let (lo, hi) = subtree_range(within);
        on_read!(self, pool => {
            let households = sqlx::query(
                "SELECT COUNT(*) AS total, COUNT(g.group_code) AS covered FROM households h \
                 LEFT JOIN group_heads g ON g.group_code = h.group_code \
                 WHERE h.grid >= $1 AND h.grid < $2",
            )
            .bind(&lo)
            .bind(&hi)
            .fetch_one(pool)
            .await?;
            let care = sqlx::query(
                "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM pairings p \
                 WHERE p.target_kind = 'household' AND p.target = CAST(h.id AS TEXT) AND p.kind = 'care' \
                 AND p.start_date <= $3 AND (p.end_date IS NULL OR p.end_date >= $3)) THEN 1 ELSE 0 END), 0) AS covered \
                 FROM households h WHERE h.care AND h.grid >= $1 AND h.grid < $2",
            )
            .bind(&lo)
            .bind(&hi)
            .bind(day)
            .fetch_one(pool)
            .await?;
            let mut places = Vec::new();
            for (table, kind) in [("monasteries", "monastery"), ("enterprises", "enterprise")] {
                let sql = format!(
                    "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM pairings p \
                     WHERE p.target_kind = '{kind}' AND p.target = CAST(x.id AS TEXT) AND p.kind = '{kind}' \
                     AND p.member IS NOT NULL AND p.start_date <= $3 \
                     AND (p.end_date IS NULL OR p.end_date >= $3)) THEN 1 ELSE 0 END), 0) AS covered \
                     FROM {table} x WHERE x.territory >= $1 AND x.territory < $2"
                );
                places.push(
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&lo)
                        .bind(&hi)
                        .bind(day)
                        .fetch_one(pool)
                        .await?,
                );
            }
            let villages = sqlx::query(
                "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM pairings p \
                 WHERE p.target_kind = 'territory' AND p.target = t.code AND p.kind = 'department_village' \
                 AND p.start_date <= $3 AND (p.end_date IS NULL OR p.end_date >= $3)) THEN 1 ELSE 0 END), 0) AS covered \
                 FROM territories t WHERE t.level = 'village' AND t.code >= $1 AND t.code < $2",
            )
            .bind(&lo)
            .bind(&hi)
            .bind(day)
            .fetch_one(pool)
            .await?;
            Ok(CoverageCounts {
                households_in_groups: (households.try_get("covered")?, households.try_get("total")?),
                monasteries_paired: (places[0].try_get("covered")?, places[0].try_get("total")?),
                enterprises_paired: (places[1].try_get("covered")?, places[1].try_get("total")?),
                care_households_paired: (care.try_get("covered")?, care.try_get("total")?),
                villages_paired: (villages.try_get("covered")?, villages.try_get("total")?),
            })
        })
    }

    /// The gaps of one coverage (`kind` as in [`domain::coverage::CoverageKind::as_str`]) in a
    /// node's subtree, ordered by id or code, paged after `after` (an id or a code; `""` from
    /// the start).
    pub async fn coverage_gaps(
        &self,
        within: &TerritoryCode,
        day: NaiveDate,
        kind: domain::coverage::CoverageKind,
        after: &str,
        limit: i64,
    ) -> Result<Vec<GapRecord>> {
        use domain::coverage::CoverageKind as K;
        let (lo, hi) = subtree_range(within);
        let after_id: i64 = after.parse().unwrap_or(0);
        on_read!(self, pool => {
            let rows = match kind {
                K::HouseholdsInGroups => sqlx::query(
                    "SELECT CAST(h.id AS TEXT) AS id, h.head_name AS name, COALESCE(h.group_code, h.grid) AS territory, \
                     CASE WHEN h.group_code IS NULL THEN 'no_group' ELSE 'group_without_head' END AS reason, \
                     h.phone AS phone, h.address AS address FROM households h \
                     LEFT JOIN group_heads g ON g.group_code = h.group_code \
                     WHERE h.grid >= $1 AND h.grid < $2 AND g.group_code IS NULL AND h.id > $3 \
                     ORDER BY h.id LIMIT $4",
                )
                .bind(&lo).bind(&hi).bind(after_id).bind(limit)
                .fetch_all(pool).await?,
                K::CareHouseholdsPaired => sqlx::query(
                    "SELECT CAST(h.id AS TEXT) AS id, h.head_name AS name, COALESCE(h.group_code, h.grid) AS territory, \
                     NULL AS reason, h.phone AS phone, h.address AS address FROM households h \
                     WHERE h.care AND h.grid >= $1 AND h.grid < $2 AND h.id > $3 AND NOT EXISTS (SELECT 1 FROM pairings p \
                     WHERE p.target_kind = 'household' AND p.target = CAST(h.id AS TEXT) AND p.kind = 'care' \
                     AND p.start_date <= $5 AND (p.end_date IS NULL OR p.end_date >= $5)) ORDER BY h.id LIMIT $4",
                )
                .bind(&lo).bind(&hi).bind(after_id).bind(limit).bind(day)
                .fetch_all(pool).await?,
                K::MonasteriesPaired | K::EnterprisesPaired => {
                    let (table, k) = if kind == K::MonasteriesPaired {
                        ("monasteries", "monastery")
                    } else {
                        ("enterprises", "enterprise")
                    };
                    let sql = format!(
                        "SELECT CAST(x.id AS TEXT) AS id, x.name AS name, x.territory AS territory, NULL AS reason, \
                         NULL AS phone, NULL AS address FROM {table} x \
                         WHERE x.territory >= $1 AND x.territory < $2 AND x.id > $3 AND NOT EXISTS (SELECT 1 FROM pairings p \
                         WHERE p.target_kind = '{k}' AND p.target = CAST(x.id AS TEXT) AND p.kind = '{k}' \
                         AND p.member IS NOT NULL AND p.start_date <= $5 \
                         AND (p.end_date IS NULL OR p.end_date >= $5)) ORDER BY x.id LIMIT $4"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&lo).bind(&hi).bind(after_id).bind(limit).bind(day)
                        .fetch_all(pool).await?
                }
                K::VillagesPaired => sqlx::query(
                    "SELECT t.code AS id, t.name AS name, t.code AS territory, NULL AS reason, NULL AS phone, \
                     NULL AS address FROM territories t \
                     WHERE t.level = 'village' AND t.code >= $1 AND t.code < $2 AND t.code > $3 \
                     AND NOT EXISTS (SELECT 1 FROM pairings p WHERE p.target_kind = 'territory' \
                     AND p.target = t.code AND p.kind = 'department_village' AND p.start_date <= $5 \
                     AND (p.end_date IS NULL OR p.end_date >= $5)) ORDER BY t.code LIMIT $4",
                )
                .bind(&lo).bind(&hi).bind(after).bind(limit).bind(day)
                .fetch_all(pool).await?,
            };
            rows.iter()
                .map(|r| {
                    Ok(GapRecord {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        territory: r.try_get("territory")?,
                        reason: r.try_get("reason")?,
                        phone: self.vault.open_opt("households.phone", r.try_get::<Option<String>, _>("phone")?.as_deref())?,
                        address: self.vault.open_opt("households.address", r.try_get::<Option<String>, _>("address")?.as_deref())?,
                    })
                })
                .collect()
        })
    }

    // -----------------------------------------------------------------------------------------
    // Households

    pub async fn household(&self, id: i64) -> Result<Option<HouseholdRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT * FROM households WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(household_record!(&r, self)),
                None => None,
            })
        })
    }

    /// Households of a node's subtree, by id, after `after_id`.
    pub async fn households_page(
        &self,
        within: &TerritoryCode,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<HouseholdRecord>> {
        let (lo, hi) = subtree_range(within);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM households WHERE grid >= $1 AND grid < $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(lo)
            .bind(hi)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(household_record!(r, self))).collect()
        })
    }

    /// Every stored household's id, grid, group and ID number (import validation).
    pub async fn household_keys(&self) -> Result<Vec<HouseholdKey>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT id, grid, group_code, id_number_bidx FROM households")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(HouseholdKey {
                        id: r.try_get("id")?,
                        grid: r.try_get("grid")?,
                        group: r.try_get("group_code")?,
                        id_number_bidx: r.try_get::<Option<String>, _>("id_number_bidx")?.unwrap_or_default(),
                    })
                })
                .collect()
        })
    }

    /// Create or update households in one transaction: ID numbers must stay unique, groups must
    /// exist and lie in the household's grid. Counts and history are kept in the same
    /// transaction. Returns the stored rows, in order.
    pub async fn save_households(
        &self,
        meta: &ChangeMeta,
        writes: Vec<HouseholdWrite>,
    ) -> Result<Outcome<Vec<HouseholdRecord>>> {
        if writes.is_empty() {
            return Ok(Ok(vec![]));
        }
        Ok(write_outcome!(self, tx => 'body: {
            let ids: Vec<i64> = writes.iter().filter_map(|w| w.id).collect();
            let mut before: HashMap<i64, HouseholdRecord> = HashMap::new();
            for chunk in ids.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new("SELECT * FROM households WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                for r in qb.build().fetch_all(&mut **tx).await? {
                    let h = household_record!(&r, self);
                    before.insert(h.id, h);
                }
            }
            if let Some(id) = ids.iter().find(|id| !before.contains_key(id)) {
                break 'body Err(Refusal::invalid("id", "unknown_household", format!("no household {id}")));
            }
            // Groups and grids that exist.
            let mut codes: Vec<String> = writes.iter().flat_map(|w| {
                std::iter::once(w.grid.to_string()).chain(w.group.as_ref().map(|g| g.to_string()))
            }).collect();
            codes.sort();
            codes.dedup();
            let mut known = std::collections::HashSet::new();
            for chunk in codes.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new("SELECT code FROM territories WHERE code IN (");
                let mut sep = qb.separated(", ");
                for c in chunk {
                    sep.push_bind(c.clone());
                }
                qb.push(")");
                for r in qb.build().fetch_all(&mut **tx).await? {
                    known.insert(r.try_get::<String, _>("code")?);
                }
            }
            if let Some(c) = codes.iter().find(|c| !known.contains(*c)) {
                let field = if c.len() == 15 { "grid" } else { "group" };
                break 'body Err(Refusal::invalid(field, "unknown_code", format!("no territory {c}")));
            }
            // ID numbers stay unique: within the batch and against the other stored rows.
            let mut seen: HashMap<&str, Option<i64>> = HashMap::new();
            for w in &writes {
                if seen.insert(w.id_number.as_str(), w.id).is_some() {
                    break 'body Err(Refusal::conflict("id_number", "duplicate_id_number",
                        format!("the ID number {} is given twice", domain::text::mask_id_number(&w.id_number))));
                }
            }
            // Through the blind index, under every key of the ring (rows indexed before a rotation
            // finished match too).
            let mut by_index: HashMap<String, &str> = HashMap::new();
            for n in seen.keys() {
                for b in self.vault.blind_all("id_number", n)? {
                    by_index.insert(b, n);
                }
            }
            let indexes: Vec<&String> = by_index.keys().collect();
            for chunk in indexes.chunks(500) {
                let mut qb = sqlx::QueryBuilder::new("SELECT id, id_number_bidx FROM households WHERE id_number_bidx IN (");
                let mut sep = qb.separated(", ");
                for b in chunk {
                    sep.push_bind((*b).clone());
                }
                qb.push(")");
                for r in qb.build().fetch_all(&mut **tx).await? {
                    let other: i64 = r.try_get("id")?;
                    let index: String = r.try_get("id_number_bidx")?;
                    let Some(number) = by_index.get(&index).copied() else { continue };
                    if seen.get(number).copied().flatten() != Some(other) {
                        break 'body Err(Refusal::conflict("id_number", "duplicate_id_number",
                            format!("the ID number {} is already household {other}'s",
                                domain::text::mask_id_number(number))));
                    }
                }
            }
            let fresh = writes.iter().filter(|w| w.id.is_none()).count() as i64;
            let mut next = if fresh > 0 { next_ids!(tx, "households", fresh) } else { 0 };
            let mut out = Vec::with_capacity(writes.len());
            let mut rows: Vec<Vec<Value>> = Vec::with_capacity(writes.len());
            let mut deltas = BTreeMap::new();
            for w in &writes {
                let id = match w.id {
                    Some(id) => id,
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                let old = before.get(&id);
                let rec = HouseholdRecord {
                    id,
                    group: w.group.as_ref().map(|g| g.to_string()),
                    grid: w.grid.to_string(),
                    head_name: w.head_name.clone(),
                    address: w.address.clone(),
                    phone: w.phone.clone(),
                    id_number: w.id_number.clone(),
                    resident_count: old.map_or(w.resident_count, |o| o.resident_count),
                    care: w.care,
                    lng: w.location.map(|p| p.0),
                    lat: w.location.map(|p| p.1),
                };
                if old == Some(&rec) {
                    out.push(rec);
                    continue;
                }
                let old_leaf = old.map(|o| o.group.clone().unwrap_or_else(|| o.grid.clone()));
                let new_leaf = rec.group.clone().unwrap_or_else(|| rec.grid.clone());
                if old_leaf.as_deref() != Some(new_leaf.as_str()) {
                    chain_delta(&mut deltas, old_leaf.as_deref(), -1);
                    chain_delta(&mut deltas, Some(&new_leaf), 1);
                }
                log_change!(tx, meta, "household", id.to_string(), new_leaf.clone(),
                    if old.is_some() { "update" } else { "create" },
                    old.map(|o| self.sealed_json(o)).transpose()?, Some(self.sealed_json(&rec)?));
                rows.push(vec![
                    rec.id.into(),
                    rec.group.clone().into(),
                    rec.grid.clone().into(),
                    rec.head_name.clone().into(),
                    self.vault.seal("households.address", &rec.address)?.into(),
                    self.vault.seal("households.phone", &rec.phone)?.into(),
                    self.vault.seal("households.id_number", &rec.id_number)?.into(),
                    self.vault.blind("id_number", &rec.id_number)?.into(),
                    "[]".into(),
                    rec.resident_count.into(),
                    rec.care.into(),
                    rec.lng.into(),
                    rec.lat.into(),
                ]);
                out.push(rec);
            }
            for chunk in rows.chunks(1000) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO households (id, group_code, grid, head_name, address, phone, id_number, \
                     id_number_bidx, residents, resident_count, care, lng, lat) ",
                );
                qb.push_values(chunk.iter().cloned(), |mut sep, row| {
                    for v in row {
                        push_value!(sep, v);
                    }
                });
                qb.push(
                    " ON CONFLICT (id) DO UPDATE SET group_code = excluded.group_code, grid = excluded.grid, \
                     head_name = excluded.head_name, address = excluded.address, phone = excluded.phone, \
                     id_number = excluded.id_number, id_number_bidx = excluded.id_number_bidx, care = excluded.care, \
                     lng = excluded.lng, lat = excluded.lat",
                );
                qb.build().execute(&mut **tx).await?;
            }
            adjust_counts!(tx, "n_households", deltas);
            Ok(out)
        }))
    }

    /// Households by id (any order), for filling in fields an import left masked.
    pub async fn households_by_ids(&self, ids: &[i64]) -> Result<Vec<HouseholdRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            on_read!(self, pool => {
                let mut qb = sqlx::QueryBuilder::new("SELECT * FROM households WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                for r in qb.build().fetch_all(pool).await? {
                    out.push(household_record!(&r, self));
                }
            });
        }
        Ok(out)
    }

    /// Every pairing id (import validation).
    pub async fn pairing_ids(&self) -> Result<Vec<i64>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT id FROM pairings").fetch_all(pool).await?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    // -----------------------------------------------------------------------------------------
    // Members and units

    pub async fn member(&self, id: i64) -> Result<Option<MemberRecord>> {
        on_read!(self, pool => {
            let row = sqlx::query(
                "SELECT m.*, u.name AS unit_name FROM members m JOIN units u ON u.code = m.unit WHERE m.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some(r) => Some(member_record!(&r, self)),
                None => None,
            })
        })
    }

    /// Members working in a node's subtree, by id, after `after_id`.
    pub async fn members_page(
        &self,
        within: &TerritoryCode,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<MemberRecord>> {
        let (lo, hi) = subtree_range(within);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT m.*, u.name AS unit_name FROM members m JOIN units u ON u.code = m.unit \
                 WHERE m.territory >= $1 AND m.territory < $2 AND m.id > $3 ORDER BY m.id LIMIT $4",
            )
            .bind(lo)
            .bind(hi)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(member_record!(r, self))).collect()
        })
    }

    /// Every member id (import validation).
    pub async fn member_ids(&self) -> Result<Vec<i64>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT id FROM members").fetch_all(pool).await?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    /// Create or update members in one transaction (units must exist; counts and history kept).
    pub async fn save_members(
        &self,
        meta: &ChangeMeta,
        writes: Vec<MemberWrite>,
    ) -> Result<Outcome<Vec<MemberRecord>>> {
        if writes.is_empty() {
            return Ok(Ok(vec![]));
        }
        Ok(write_outcome!(self, tx => 'body: {
            let mut units: HashMap<String, String> = HashMap::new();
            for w in &writes {
                if units.contains_key(&w.unit) {
                    continue;
                }
                let name: Option<String> = sqlx::query("SELECT name FROM units WHERE code = $1")
                    .bind(&w.unit)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get("name"))
                    .transpose()?;
                match name {
                    Some(n) => {
                        units.insert(w.unit.clone(), n);
                    }
                    None => break 'body Err(Refusal::invalid("unit", "unknown_unit", format!("no unit {:?}", w.unit))),
                }
                let t: Option<String> = sqlx::query("SELECT code FROM territories WHERE code = $1")
                    .bind(w.territory.as_str())
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get("code"))
                    .transpose()?;
                if t.is_none() {
                    break 'body Err(Refusal::invalid("territory", "unknown_code", format!("no territory {}", w.territory)));
                }
            }
            let fresh = writes.iter().filter(|w| w.id.is_none()).count() as i64;
            let mut next = if fresh > 0 { next_ids!(tx, "members", fresh) } else { 0 };
            let mut deltas = BTreeMap::new();
            let mut out = Vec::new();
            for w in &writes {
                let old = match w.id {
                    Some(id) => {
                        let r = sqlx::query(
                            "SELECT m.*, u.name AS unit_name FROM members m JOIN units u ON u.code = m.unit WHERE m.id = $1",
                        )
                        .bind(id)
                        .fetch_optional(&mut **tx)
                        .await?;
                        match r {
                            Some(r) => Some(member_record!(&r, self)),
                            None => break 'body Err(Refusal::invalid("id", "unknown_member", format!("no member {id}"))),
                        }
                    }
                    None => None,
                };
                let id = match w.id {
                    Some(id) => id,
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                let forces: Vec<&str> = w.forces.iter().map(|f| f.as_str()).collect();
                let rec = MemberRecord {
                    id,
                    name: w.name.clone(),
                    gender: match w.gender {
                        domain::people::Gender::Female => "female".into(),
                        domain::people::Gender::Male => "male".into(),
                    },
                    phone: w.phone.clone(),
                    forces: forces.iter().map(|s| (*s).to_owned()).collect(),
                    unit: w.unit.clone(),
                    unit_name: units.get(&w.unit).cloned().unwrap_or_default(),
                    territory: w.territory.to_string(),
                    title: w.title.clone(),
                };
                if old.as_ref() == Some(&rec) {
                    out.push(rec);
                    continue;
                }
                if old.as_ref().map(|o| o.territory.as_str()) != Some(rec.territory.as_str()) {
                    chain_delta(&mut deltas, old.as_ref().map(|o| o.territory.as_str()), -1);
                    chain_delta(&mut deltas, Some(&rec.territory), 1);
                }
                sqlx::query(
                    "INSERT INTO members (id, name, gender, phone, forces, unit, territory, title) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET \
                     name = excluded.name, gender = excluded.gender, phone = excluded.phone, \
                     forces = excluded.forces, unit = excluded.unit, territory = excluded.territory, \
                     title = excluded.title",
                )
                .bind(rec.id)
                .bind(&rec.name)
                .bind(&rec.gender)
                .bind(self.vault.seal("members.phone", &rec.phone)?)
                .bind(forces.join(","))
                .bind(&rec.unit)
                .bind(&rec.territory)
                .bind(&rec.title)
                .execute(&mut **tx)
                .await?;
                log_change!(tx, meta, "member", id.to_string(), rec.territory.clone(),
                    if old.is_some() { "update" } else { "create" },
                    old.as_ref().map(|o| self.sealed_json(o)).transpose()?, Some(self.sealed_json(&rec)?));
                out.push(rec);
            }
            adjust_counts!(tx, "n_members", deltas);
            Ok(out)
        }))
    }

    /// Create a department unit or rename a unit (history kept).
    pub async fn save_unit(
        &self,
        meta: &ChangeMeta,
        unit: &domain::people::Unit,
    ) -> Result<Outcome<domain::people::Unit>> {
        Ok(write_outcome!(self, tx => 'body: {
            let old = sqlx::query("SELECT code, name, kind, territory FROM units WHERE code = $1")
                .bind(&unit.code)
                .fetch_optional(&mut **tx)
                .await?;
            let before = match &old {
                Some(r) => {
                    let kind: String = r.try_get("kind")?;
                    let territory: String = r.try_get("territory")?;
                    if kind != unit.kind.as_str() || territory != unit.territory.as_str() {
                        break 'body Err(Refusal::invalid("code", "unit_exists",
                            format!("the unit {} exists as a {kind} of {territory}", unit.code)));
                    }
                    Some(serde_json::json!({"code": unit.code, "name": r.try_get::<String, _>("name")?,
                        "kind": kind, "territory": territory}).to_string())
                }
                None => None,
            };
            sqlx::query(
                "INSERT INTO units (code, name, kind, territory) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            )
            .bind(&unit.code)
            .bind(&unit.name)
            .bind(unit.kind.as_str())
            .bind(unit.territory.as_str())
            .execute(&mut **tx)
            .await?;
            log_change!(tx, meta, "unit", unit.code.clone(), unit.territory.to_string(),
                if before.is_some() { "update" } else { "create" }, before,
                Some(serde_json::json!({"code": unit.code, "name": unit.name,
                    "kind": unit.kind.as_str(), "territory": unit.territory.as_str()}).to_string()));
            Ok(unit.clone())
        }))
    }

    // -----------------------------------------------------------------------------------------
    // Joint-defence groups

    /// The groups of a grid with their household heads and sizes.
    pub async fn groups_of(&self, grid: &TerritoryCode) -> Result<Vec<GroupRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT t.code, t.name, g.member AS head, m.name AS head_name, \
                 (SELECT COUNT(*) FROM households h WHERE h.group_code = t.code) AS households \
                 FROM territories t LEFT JOIN group_heads g ON g.group_code = t.code \
                 LEFT JOIN members m ON m.id = g.member WHERE t.parent = $1 ORDER BY t.code",
            )
            .bind(grid.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(GroupRecord {
                        code: r.try_get("code")?,
                        name: r.try_get("name")?,
                        head: r.try_get("head")?,
                        head_name: r.try_get("head_name")?,
                        households: r.try_get("households")?,
                    })
                })
                .collect()
        })
    }

    /// Create a joint-defence group in a grid (the next free code), with its head if given.
    pub async fn create_group(
        &self,
        meta: &ChangeMeta,
        grid: &TerritoryCode,
        name: &str,
        head: Option<i64>,
    ) -> Result<Outcome<GroupRecord>> {
        Ok(write_outcome!(self, tx => 'body: {
            let exists: Option<String> = sqlx::query("SELECT level FROM territories WHERE code = $1")
                .bind(grid.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("level"))
                .transpose()?;
            if exists.as_deref() != Some("grid") {
                break 'body Err(Refusal::invalid("grid", "unknown_code", format!("no grid {grid}")));
            }
            let last: Option<String> = sqlx::query(
                "SELECT MAX(code) AS code FROM territories WHERE parent = $1",
            )
            .bind(grid.as_str())
            .fetch_one(&mut **tx)
            .await?
            .try_get("code")?;
            let seq = last.as_deref().and_then(|c| c.get(15..)).and_then(|s| s.parse::<u32>().ok()).unwrap_or(0) + 1;
            if seq > 999 {
                break 'body Err(Refusal::conflict("grid", "grid_full", "the grid has 999 groups"));
            }
            let code = grid.child_seq(seq);
            sqlx::query("INSERT INTO territories (code, parent, level, name) VALUES ($1, $2, 'group', $3)")
                .bind(code.as_str())
                .bind(grid.as_str())
                .bind(name)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO territory_counts (code) VALUES ($1)")
                .bind(code.as_str())
                .execute(&mut **tx)
                .await?;
            let mut deltas = BTreeMap::new();
            chain_delta(&mut deltas, Some(code.as_str()), 1);
            adjust_counts!(tx, "n_groups", deltas);
            let mut head_name = None;
            if let Some(m) = head {
                head_name = sqlx::query("SELECT name FROM members WHERE id = $1")
                    .bind(m)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get::<String, _>("name"))
                    .transpose()?;
                if head_name.is_none() {
                    break 'body Err(Refusal::invalid("head", "unknown_member", format!("no member {m}")));
                }
                sqlx::query("INSERT INTO group_heads (group_code, member) VALUES ($1, $2)")
                    .bind(code.as_str())
                    .bind(m)
                    .execute(&mut **tx)
                    .await?;
            }
            let rec = GroupRecord { code: code.to_string(), name: name.to_owned(), head, head_name, households: 0 };
            log_change!(tx, meta, "group", code.to_string(), code.to_string(), "create", None, Some(json(&rec)?));
            Ok(rec)
        }))
    }

    /// Set (or clear) the household head of a group.
    pub async fn set_group_head(
        &self,
        meta: &ChangeMeta,
        group: &TerritoryCode,
        head: Option<i64>,
    ) -> Result<Outcome<()>> {
        Ok(write_outcome!(self, tx => 'body: {
            let level: Option<String> = sqlx::query("SELECT level FROM territories WHERE code = $1")
                .bind(group.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("level"))
                .transpose()?;
            if level.as_deref() != Some("group") {
                break 'body Err(Refusal::invalid("group", "unknown_code", format!("no group {group}")));
            }
            let before: Option<i64> = sqlx::query("SELECT member FROM group_heads WHERE group_code = $1")
                .bind(group.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| r.try_get("member"))
                .transpose()?;
            if before == head {
                break 'body Ok(());
            }
            match head {
                Some(m) => {
                    let exists = sqlx::query("SELECT id FROM members WHERE id = $1")
                        .bind(m)
                        .fetch_optional(&mut **tx)
                        .await?
                        .is_some();
                    if !exists {
                        break 'body Err(Refusal::invalid("head", "unknown_member", format!("no member {m}")));
                    }
                    sqlx::query(
                        "INSERT INTO group_heads (group_code, member) VALUES ($1, $2) \
                         ON CONFLICT (group_code) DO UPDATE SET member = excluded.member",
                    )
                    .bind(group.as_str())
                    .bind(m)
                    .execute(&mut **tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM group_heads WHERE group_code = $1")
                        .bind(group.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
            }
            log_change!(tx, meta, "group", group.to_string(), group.to_string(), "update",
                Some(serde_json::json!({"head": before}).to_string()),
                Some(serde_json::json!({"head": head}).to_string()));
            Ok(())
        }))
    }

    // -----------------------------------------------------------------------------------------
    // Monasteries and enterprises

    pub async fn place(&self, kind: PlaceKind, id: i64) -> Result<Option<PlaceRecord>> {
        let sql = format!(
            "SELECT id, name, territory, {} AS people FROM {} WHERE id = $1",
            kind.people(),
            kind.table()
        );
        on_read!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
            Ok(match row {
                Some(r) => Some(PlaceRecord {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    territory: r.try_get("territory")?,
                    people: r.try_get("people")?,
                }),
                None => None,
            })
        })
    }

    /// Monasteries or enterprises of a subtree, by id.
    pub async fn places_page(
        &self,
        kind: PlaceKind,
        within: &TerritoryCode,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<PlaceRecord>> {
        let (lo, hi) = subtree_range(within);
        let sql = format!(
            "SELECT id, name, territory, {} AS people FROM {} WHERE territory >= $1 AND territory < $2 \
             AND id > $3 ORDER BY id LIMIT $4",
            kind.people(),
            kind.table()
        );
        on_read!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(lo).bind(hi).bind(after_id).bind(limit)
                .fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(PlaceRecord {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        territory: r.try_get("territory")?,
                        people: r.try_get("people")?,
                    })
                })
                .collect()
        })
    }

    /// Create or update a monastery or an enterprise (`id` None creates).
    pub async fn save_place(
        &self,
        meta: &ChangeMeta,
        kind: PlaceKind,
        id: Option<i64>,
        name: &str,
        territory: &TerritoryCode,
        people: i64,
    ) -> Result<Outcome<PlaceRecord>> {
        let select = format!(
            "SELECT id, name, territory, {} AS people FROM {} WHERE id = $1",
            kind.people(),
            kind.table()
        );
        let upsert = format!(
            "INSERT INTO {t} (id, name, territory, {p}) VALUES ($1, $2, $3, $4) ON CONFLICT (id) \
             DO UPDATE SET name = excluded.name, territory = excluded.territory, {p} = excluded.{p}",
            t = kind.table(),
            p = kind.people()
        );
        Ok(write_outcome!(self, tx => 'body: {
            let exists = sqlx::query("SELECT code FROM territories WHERE code = $1")
                .bind(territory.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .is_some();
            if !exists {
                break 'body Err(Refusal::invalid("territory", "unknown_code", format!("no territory {territory}")));
            }
            let before = match id {
                Some(id) => {
                    let r = sqlx::query(sqlx::AssertSqlSafe(select.clone())).bind(id).fetch_optional(&mut **tx).await?;
                    match r {
                        Some(r) => Some(PlaceRecord {
                            id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            territory: r.try_get("territory")?,
                            people: r.try_get("people")?,
                        }),
                        None => break 'body Err(Refusal::invalid("id", "unknown_id", format!("no {} {id}", kind.entity()))),
                    }
                }
                None => None,
            };
            let id = match id {
                Some(id) => id,
                None => next_ids!(tx, kind.table(), 1),
            };
            let rec = PlaceRecord { id, name: name.to_owned(), territory: territory.to_string(), people };
            if before.as_ref() == Some(&rec) {
                break 'body Ok(rec);
            }
            sqlx::query(sqlx::AssertSqlSafe(upsert))
                .bind(id).bind(name).bind(territory.as_str()).bind(people)
                .execute(&mut **tx).await?;
            log_change!(tx, meta, kind.entity(), id.to_string(), territory.to_string(),
                if before.is_some() { "update" } else { "create" },
                before.as_ref().map(json).transpose()?, Some(json(&rec)?));
            Ok(rec)
        }))
    }

    // -----------------------------------------------------------------------------------------
    // Pairings

    pub async fn pairing(&self, id: i64) -> Result<Option<PairingRecord>> {
        let sql = format!("{PAIRINGS_SELECT}{PAIRINGS_BRANCHES}{PAIRINGS_TAIL}")
            .replace("p.id > $3", "p.id = $3");
        on_read!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                // Every code: digit strings sort below letters in every collation.
                .bind("")
                .bind("a")
                .bind(id)
                .bind(1_i64)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(r) => Some(pairing_record!(&r)),
                None => None,
            })
        })
    }

    /// Pairings whose target lies in a node's subtree, by id, after `after_id`.
    pub async fn pairings_page(
        &self,
        within: &TerritoryCode,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<PairingRecord>> {
        let (lo, hi) = subtree_range(within);
        let sql = format!("{PAIRINGS_SELECT}{PAIRINGS_BRANCHES}{PAIRINGS_TAIL}");
        on_read!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(lo)
                .bind(hi)
                .bind(after_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(pairing_record!(r))).collect()
        })
    }

    /// The pairings of one target (`target_kind`, `target`), newest first.
    pub async fn pairings_of_target(&self, target_kind: &str, target: &str) -> Result<Vec<i64>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT id FROM pairings WHERE target_kind = $1 AND target = $2 ORDER BY id DESC",
            )
            .bind(target_kind)
            .bind(target)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
        })
    }

    /// Create or update pairings in one transaction: both sides must exist. Returns the ids.
    pub async fn save_pairings(
        &self,
        meta: &ChangeMeta,
        writes: Vec<PairingWrite>,
    ) -> Result<Outcome<Vec<i64>>> {
        use domain::people::{PairingSubject as S, PairingTarget as T};
        if writes.is_empty() {
            return Ok(Ok(vec![]));
        }
        Ok(write_outcome!(self, tx => 'body: {
            let fresh = writes.iter().filter(|w| w.id.is_none()).count() as i64;
            let mut next = if fresh > 0 { next_ids!(tx, "pairings", fresh) } else { 0 };
            let mut ids = Vec::with_capacity(writes.len());
            for w in &writes {
                // The subject exists.
                let (member, unit, ok) = match &w.subject {
                    S::Member(m) => (Some(*m), None, sqlx::query("SELECT id FROM members WHERE id = $1")
                        .bind(*m).fetch_optional(&mut **tx).await?.is_some()),
                    S::Unit(u) => (None, Some(u.clone()), sqlx::query("SELECT code FROM units WHERE code = $1")
                        .bind(u).fetch_optional(&mut **tx).await?.is_some()),
                };
                if !ok {
                    let (field, what) = match &w.subject {
                        S::Member(m) => ("member", format!("no member {m}")),
                        S::Unit(u) => ("unit", format!("no unit {u:?}")),
                    };
                    break 'body Err(Refusal::invalid(field, "unknown_subject", what));
                }
                // The target exists, and where it lies.
                let (target_kind, target, sql) = match &w.target {
                    T::Territory(c) => ("territory", c.to_string(), "SELECT code AS t FROM territories WHERE code = $1"),
                    T::Household(h) => ("household", h.to_string(), "SELECT COALESCE(group_code, grid) AS t FROM households WHERE CAST(id AS TEXT) = $1"),
                    T::Monastery(m) => ("monastery", m.to_string(), "SELECT territory AS t FROM monasteries WHERE CAST(id AS TEXT) = $1"),
                    T::Enterprise(e) => ("enterprise", e.to_string(), "SELECT territory AS t FROM enterprises WHERE CAST(id AS TEXT) = $1"),
                };
                let place: Option<String> = sqlx::query(sql)
                    .bind(&target)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|r| r.try_get("t"))
                    .transpose()?;
                let Some(place) = place else {
                    break 'body Err(Refusal::invalid("target", "unknown_target", format!("no {target_kind} {target}")));
                };
                let before = match w.id {
                    Some(id) => {
                        let r = sqlx::query("SELECT * FROM pairings WHERE id = $1")
                            .bind(id).fetch_optional(&mut **tx).await?;
                        match r {
                            Some(r) => Some(serde_json::json!({
                                "kind": r.try_get::<String, _>("kind")?,
                                "member": r.try_get::<Option<i64>, _>("member")?,
                                "unit": r.try_get::<Option<String>, _>("unit")?,
                                "target_kind": r.try_get::<String, _>("target_kind")?,
                                "target": r.try_get::<String, _>("target")?,
                                "start_date": r.try_get::<NaiveDate, _>("start_date")?,
                                "end_date": r.try_get::<Option<NaiveDate>, _>("end_date")?,
                            })),
                            None => break 'body Err(Refusal::invalid("id", "unknown_pairing", format!("no pairing {id}"))),
                        }
                    }
                    None => None,
                };
                let id = match w.id {
                    Some(id) => id,
                    None => {
                        next += 1;
                        next - 1
                    }
                };
                let after = serde_json::json!({
                    "kind": w.kind.as_str(), "member": member, "unit": unit,
                    "target_kind": target_kind, "target": target,
                    "start_date": w.start, "end_date": w.end,
                });
                ids.push(id);
                if before.as_ref() == Some(&after) {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO pairings (id, kind, member, unit, target_kind, target, start_date, end_date) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
                     member = excluded.member, unit = excluded.unit, target_kind = excluded.target_kind, \
                     target = excluded.target, start_date = excluded.start_date, end_date = excluded.end_date",
                )
                .bind(id)
                .bind(w.kind.as_str())
                .bind(member)
                .bind(&unit)
                .bind(target_kind)
                .bind(&target)
                .bind(w.start)
                .bind(w.end)
                .execute(&mut **tx)
                .await?;
                log_change!(tx, meta, "pairing", id.to_string(), place,
                    if before.is_some() { "update" } else { "create" },
                    before.map(|b| b.to_string()), Some(after.to_string()));
            }
            Ok(ids)
        }))
    }

    /// Delete a pairing (a mistake; a pairing that ended gets an end date instead).
    pub async fn delete_pairing(&self, meta: &ChangeMeta, id: i64) -> Result<Outcome<()>> {
        let Some(old) = self.pairing(id).await? else {
            return Ok(Err(Refusal::invalid(
                "id",
                "unknown_pairing",
                format!("no pairing {id}"),
            )));
        };
        Ok(write_outcome!(self, tx => {
            sqlx::query("DELETE FROM pairings WHERE id = $1").bind(id).execute(&mut **tx).await?;
            log_change!(tx, meta, "pairing", id.to_string(), old.target_territory.clone(), "delete",
                Some(json(&old)?), None);
            Ok::<(), Refusal>(())
        }))
    }

    // -----------------------------------------------------------------------------------------
    // History and audit

    /// The history of one thing, newest first.
    pub async fn changes_of(
        &self,
        entity: &str,
        entity_id: &str,
        limit: i64,
    ) -> Result<Vec<ChangeRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT c.*, a.display_name AS account_name FROM org_changes c \
                 LEFT JOIN accounts a ON a.id = c.account \
                 WHERE c.entity = $1 AND c.entity_id = $2 ORDER BY c.id DESC LIMIT $3",
            )
            .bind(entity)
            .bind(entity_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(change_record!(r, self))).collect()
        })
    }

    /// The history of a subtree, newest first, before id `before` (0: from the newest).
    pub async fn changes_within(
        &self,
        within: &TerritoryCode,
        before: i64,
        limit: i64,
    ) -> Result<Vec<ChangeRecord>> {
        let (lo, hi) = subtree_range(within);
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT c.*, a.display_name AS account_name FROM org_changes c \
                 LEFT JOIN accounts a ON a.id = c.account \
                 WHERE c.territory >= $1 AND c.territory < $2 AND ($3 = 0 OR c.id < $3) \
                 ORDER BY c.id DESC LIMIT $4",
            )
            .bind(lo)
            .bind(hi)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(change_record!(r, self))).collect()
        })
    }

    /// Write entries to the audit log (ids from `case_sequences`, like the history's).
    pub async fn record_audit(&self, entries: Vec<AuditEntry>) -> Result<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let n = entries.len() as u64;
        on_write!(self, tx => {
            let first = next_ids!(tx, "audit_log", entries.len() as i64);
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (id, at, account, role, action, subject_kind, subject_id, territory, detail, \
                 fields, client) ",
            );
            qb.push_values(entries.into_iter().enumerate(), |mut sep, (i, e)| {
                sep.push_bind(first + i as i64)
                    .push_bind(e.at)
                    .push_bind(e.account)
                    .push_bind(e.role)
                    .push_bind(e.action)
                    .push_bind(e.subject_kind)
                    .push_bind(e.subject_id)
                    .push_bind(e.territory)
                    .push_bind(e.detail)
                    .push_bind(e.fields)
                    .push_bind(e.client);
            });
            qb.build().execute(&mut **tx).await?;
        });
        Ok(n)
    }

    /// The audit entries about one subject, newest first.
    pub async fn audit_of(&self, subject_kind: &str, subject_id: &str) -> Result<Vec<AuditRecord>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM audit_log WHERE subject_kind = $1 AND subject_id = $2 ORDER BY id DESC LIMIT 200",
            )
            .bind(subject_kind)
            .bind(subject_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(audit_record!(r))).collect()
        })
    }

    /// Audit entries by a filter, newest first.
    pub async fn audit_page(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        on_read!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new("SELECT * FROM audit_log WHERE 1 = 1");
            if let Some(a) = f.account {
                qb.push(" AND account = ").push_bind(a);
            }
            if let Some(a) = &f.action {
                qb.push(" AND action = ").push_bind(a.clone());
            }
            if let Some(k) = &f.subject_kind {
                qb.push(" AND subject_kind = ").push_bind(k.clone());
            }
            if let Some(i) = &f.subject_id {
                qb.push(" AND subject_id = ").push_bind(i.clone());
            }
            if let Some(t) = f.from {
                qb.push(" AND at >= ").push_bind(t);
            }
            if let Some(t) = f.to {
                qb.push(" AND at < ").push_bind(t);
            }
            if f.before > 0 {
                qb.push(" AND id < ").push_bind(f.before);
            }
            qb.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await?;
            rows.iter().map(|r| Ok(audit_record!(r))).collect()
        })
    }

    /// Every territory code with its level (import validation: a few tens of thousands).
    pub async fn territory_levels(&self) -> Result<HashMap<String, String>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT code, level FROM territories").fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get("code")?, r.try_get("level")?)))
                .collect()
        })
    }

    /// Nodes of a subtree in code order, after `after` (`""` from the start).
    pub async fn territories_page(
        &self,
        within: &TerritoryCode,
        after: &str,
        limit: i64,
    ) -> Result<Vec<crate::territory::TerritoryRecord>> {
        let (lo, hi) = subtree_range(within);
        /// (code, level, parent, name, name_bo)
        type NodeRow = (String, String, Option<String>, String, Option<String>);
        let rows: Vec<NodeRow> = on_read!(self, pool => {
            sqlx::query(
                "SELECT code, level, parent, name, name_bo FROM territories WHERE code >= $1 AND code < $2 \
                 AND code > $3 ORDER BY code LIMIT $4",
            )
            .bind(lo)
            .bind(hi)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("code")?, r.try_get("level")?, r.try_get("parent")?,
                r.try_get("name")?, r.try_get("name_bo")?)))
            .collect::<Result<Vec<_>>>()?
        });
        rows.into_iter()
            .map(|(code, level, parent, name, name_bo)| {
                let code = TerritoryCode::parse(&code)
                    .map_err(|e| StoreError::Corrupt(format!("territory {code}: {e}")))?;
                Ok(crate::territory::TerritoryRecord {
                    parent: parent.and_then(|p| TerritoryCode::parse(&p).ok()),
                    level: domain::Level::parse(&level)
                        .ok_or_else(|| StoreError::Corrupt(format!("level {level}")))?,
                    code,
                    name,
                    name_bo,
                    geometry: None,
                    geometry_source: None,
                    center: None,
                })
            })
            .collect()
    }

    /// Create or rename territory nodes (grids and groups, or names of existing nodes), keeping
    /// the history. Parents must exist (or come earlier in the batch).
    pub async fn save_territories(
        &self,
        meta: &ChangeMeta,
        nodes: Vec<(TerritoryCode, String, Option<String>)>,
    ) -> Result<Outcome<u64>> {
        Ok(write_outcome!(self, tx => 'body: {
            let mut n = 0;
            for (code, name, name_bo) in &nodes {
                let old = sqlx::query("SELECT name, name_bo FROM territories WHERE code = $1")
                    .bind(code.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
                match old {
                    Some(r) => {
                        let old_name: String = r.try_get("name")?;
                        let old_bo: Option<String> = r.try_get("name_bo")?;
                        if &old_name == name && &old_bo == name_bo {
                            continue;
                        }
                        sqlx::query("UPDATE territories SET name = $1, name_bo = $2 WHERE code = $3")
                            .bind(name).bind(name_bo).bind(code.as_str())
                            .execute(&mut **tx).await?;
                        log_change!(tx, meta, "territory", code.to_string(), code.to_string(), "update",
                            Some(serde_json::json!({"name": old_name, "name_bo": old_bo}).to_string()),
                            Some(serde_json::json!({"name": name, "name_bo": name_bo}).to_string()));
                    }
                    None => {
                        let Some(parent) = code.parent() else {
                            break 'body Err(Refusal::invalid("code", "unknown_code", format!("{code} has no parent")));
                        };
                        let has_parent = sqlx::query("SELECT code FROM territories WHERE code = $1")
                            .bind(parent.as_str())
                            .fetch_optional(&mut **tx)
                            .await?
                            .is_some();
                        if !has_parent {
                            break 'body Err(Refusal::invalid("code", "unknown_parent", format!("no parent {parent} for {code}")));
                        }
                        sqlx::query("INSERT INTO territories (code, parent, level, name, name_bo) VALUES ($1, $2, $3, $4, $5)")
                            .bind(code.as_str()).bind(parent.as_str()).bind(code.level().as_str())
                            .bind(name).bind(name_bo)
                            .execute(&mut **tx).await?;
                        sqlx::query("INSERT INTO territory_counts (code) VALUES ($1) ON CONFLICT (code) DO NOTHING")
                            .bind(code.as_str())
                            .execute(&mut **tx).await?;
                        let col = match code.level() {
                            domain::Level::Grid => Some("n_grids"),
                            domain::Level::Group => Some("n_groups"),
                            _ => None,
                        };
                        if let Some(col) = col {
                            let mut deltas = BTreeMap::new();
                            chain_delta(&mut deltas, Some(code.as_str()), 1);
                            adjust_counts!(tx, col, deltas);
                        }
                        log_change!(tx, meta, "territory", code.to_string(), code.to_string(), "create", None,
                            Some(serde_json::json!({"name": name, "name_bo": name_bo}).to_string()));
                    }
                }
                n += 1;
            }
            Ok(n)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_ranges_are_half_open_on_the_code_prefix() {
        let r = |c: &str| subtree_range(&TerritoryCode::parse(c).unwrap());
        assert_eq!(r("623000"), ("6230".into(), "6231".into()));
        assert_eq!(r("623027"), ("623027".into(), "623028".into()));
        assert_eq!(r("623029"), ("623029".into(), "62303".into()));
        assert_eq!(
            r("623027202199"),
            ("623027202199".into(), "6230272022".into())
        );
        let (lo, hi) = r("623029");
        for inside in ["623029", "623029100", "623029999999999999"] {
            assert!(inside >= lo.as_str() && inside < hi.as_str(), "{inside}");
        }
        for outside in ["623030", "623028999", "6230"] {
            assert!(
                !(outside >= lo.as_str() && outside < hi.as_str()),
                "{outside}"
            );
        }
    }
}
