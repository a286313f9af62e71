//! People and organisation: units, members, households, groups, monasteries, enterprises,
//! pairings. Inserts are batched; reads are scoped by territory prefix.

use domain::TerritoryCode;
use domain::people::{
    Enterprise, Gender, Household, Member, Monastery, Pairing, PairingSubject, PairingTarget, Unit,
    UnitKind,
};
use serde::Serialize;
use sqlx::Row;

use crate::territory::escape_like;
use crate::{Db, Result, StoreError};

fn gender_str(g: Gender) -> &'static str {
    match g {
        Gender::Female => "female",
        Gender::Male => "male",
    }
}

/// A household as listed (personal data included; the server masks it by role).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HouseholdRow {
    pub id: i64,
    pub group: Option<String>,
    pub grid: String,
    pub head_name: String,
    pub address: String,
    pub phone: String,
    pub id_number: String,
    pub resident_count: i64,
    pub care: bool,
}

/// A member as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberRow {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub forces: Vec<String>,
    pub unit: String,
    pub unit_name: String,
    pub territory: String,
    pub title: String,
}

macro_rules! household_from_row {
    ($r:expr, $db:expr) => {{
        let r = $r;
        let v = &$db.vault;
        HouseholdRow {
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
        }
    }};
}

macro_rules! unit_from_row {
    ($r:expr) => {{
        let r = $r;
        let kind: String = r.try_get("kind")?;
        let t: String = r.try_get("territory")?;
        Unit {
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            kind: UnitKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unit kind {kind}")))?,
            territory: TerritoryCode::parse(&t)
                .map_err(|e| StoreError::Corrupt(format!("unit territory {t}: {e}")))?,
        }
    }};
}

macro_rules! member_from_row {
    ($r:expr, $db:expr) => {{
        let r = $r;
        let v = &$db.vault;
        let forces: String = r.try_get("forces")?;
        MemberRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
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

impl Db {
    pub async fn insert_units(&self, units: &[Unit]) -> Result<u64> {
        let rows = units
            .iter()
            .map(|u| {
                vec![
                    u.code.clone().into(),
                    u.name.clone().into(),
                    u.kind.as_str().into(),
                    u.territory.to_string().into(),
                ]
            })
            .collect();
        self.insert_rows("units", &["code", "name", "kind", "territory"], rows)
            .await
    }

    pub async fn insert_members(&self, members: &[Member]) -> Result<u64> {
        let rows = members
            .iter()
            .map(|m| {
                let forces: Vec<&str> = m.forces.iter().map(|f| f.as_str()).collect();
                Ok(vec![
                    m.id.into(),
                    m.name.clone().into(),
                    gender_str(m.gender).into(),
                    self.vault.seal("members.phone", &m.phone)?.into(),
                    forces.join(",").into(),
                    m.unit.clone().into(),
                    m.territory.to_string().into(),
                    m.title.clone().into(),
                ])
            })
            .collect::<Result<_>>()?;
        self.insert_rows(
            "members",
            &[
                "id",
                "name",
                "gender",
                "phone",
                "forces",
                "unit",
                "territory",
                "title",
            ],
            rows,
        )
        .await
    }

    pub async fn insert_households(&self, households: &[Household]) -> Result<u64> {
        let mut rows = Vec::with_capacity(households.len());
        for h in households {
            let residents = serde_json::to_string(&h.residents).map_err(|e| {
                StoreError::Corrupt(format!("residents of household {}: {e}", h.id))
            })?;
            rows.push(vec![
                h.id.into(),
                h.group.as_ref().map(|g| g.to_string()).into(),
                h.grid.to_string().into(),
                h.head_name.clone().into(),
                self.vault.seal("households.address", &h.address)?.into(),
                self.vault.seal("households.phone", &h.phone)?.into(),
                self.vault
                    .seal("households.id_number", &h.id_number)?
                    .into(),
                self.vault.blind("id_number", &h.id_number)?.into(),
                residents.into(),
                (h.residents.len() as i64).into(),
                h.care.into(),
                h.location.map(|p| p.0).into(),
                h.location.map(|p| p.1).into(),
            ]);
        }
        self.insert_rows(
            "households",
            &[
                "id",
                "group_code",
                "grid",
                "head_name",
                "address",
                "phone",
                "id_number",
                "id_number_bidx",
                "residents",
                "resident_count",
                "care",
                "lng",
                "lat",
            ],
            rows,
        )
        .await
    }

    pub async fn insert_group_heads(&self, heads: &[(TerritoryCode, i64)]) -> Result<u64> {
        let rows = heads
            .iter()
            .map(|(g, m)| vec![g.to_string().into(), (*m).into()])
            .collect();
        self.insert_rows("group_heads", &["group_code", "member"], rows)
            .await
    }

    pub async fn insert_monasteries(&self, items: &[Monastery]) -> Result<u64> {
        let rows = items
            .iter()
            .map(|m| {
                vec![
                    m.id.into(),
                    m.name.clone().into(),
                    m.territory.to_string().into(),
                    i64::from(m.monks).into(),
                ]
            })
            .collect();
        self.insert_rows("monasteries", &["id", "name", "territory", "monks"], rows)
            .await
    }

    pub async fn insert_enterprises(&self, items: &[Enterprise]) -> Result<u64> {
        let rows = items
            .iter()
            .map(|e| {
                vec![
                    e.id.into(),
                    e.name.clone().into(),
                    e.territory.to_string().into(),
                    i64::from(e.employees).into(),
                ]
            })
            .collect();
        self.insert_rows(
            "enterprises",
            &["id", "name", "territory", "employees"],
            rows,
        )
        .await
    }

    pub async fn insert_pairings(&self, items: &[Pairing]) -> Result<u64> {
        let rows = items
            .iter()
            .map(|p| {
                let (member, unit): (Option<i64>, Option<String>) = match &p.subject {
                    PairingSubject::Member(m) => (Some(*m), None),
                    PairingSubject::Unit(u) => (None, Some(u.clone())),
                };
                let (target_kind, target) = match &p.target {
                    PairingTarget::Territory(c) => ("territory", c.to_string()),
                    PairingTarget::Household(h) => ("household", h.to_string()),
                    PairingTarget::Monastery(m) => ("monastery", m.to_string()),
                    PairingTarget::Enterprise(e) => ("enterprise", e.to_string()),
                };
                vec![
                    p.id.into(),
                    p.kind.as_str().into(),
                    member.into(),
                    unit.into(),
                    target_kind.into(),
                    target.into(),
                    p.start.into(),
                    p.end.into(),
                ]
            })
            .collect();
        self.insert_rows(
            "pairings",
            &[
                "id",
                "kind",
                "member",
                "unit",
                "target_kind",
                "target",
                "start_date",
                "end_date",
            ],
            rows,
        )
        .await
    }

    /// The units attached to exactly this node.
    pub async fn units_at(&self, territory: &TerritoryCode) -> Result<Vec<Unit>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT code, name, kind, territory FROM units WHERE territory = $1 \
                 ORDER BY CASE kind WHEN 'center' THEN 0 WHEN 'department' THEN 1 ELSE 2 END, code",
            )
            .bind(territory.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(unit_from_row!(r))).collect()
        })
    }

    /// Every unit (a few thousand; cached by the server for routing).
    pub async fn all_units(&self) -> Result<Vec<Unit>> {
        on_read!(self, pool => {
            let rows = sqlx::query("SELECT code, name, kind, territory FROM units ORDER BY code")
                .fetch_all(pool)
                .await?;
            rows.iter().map(|r| Ok(unit_from_row!(r))).collect()
        })
    }

    /// A unit by code.
    pub async fn unit(&self, code: &str) -> Result<Option<Unit>> {
        on_read!(self, pool => {
            let row = sqlx::query("SELECT code, name, kind, territory FROM units WHERE code = $1")
                .bind(code)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                None => None,
                Some(r) => Some(unit_from_row!(&r)),
            })
        })
    }

    /// Households of a grid or group (or any node: by prefix), ordered by id, paged by id.
    pub async fn households_in(
        &self,
        within: &TerritoryCode,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<HouseholdRow>> {
        let prefix = format!("{}%", within.subtree_prefix());
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM households WHERE grid LIKE $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(prefix)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(household_from_row!(r, self))).collect()
        })
    }

    /// Search households by the head's name (prefix match) inside a subtree.
    pub async fn search_households(
        &self,
        within: &TerritoryCode,
        name: &str,
        limit: i64,
    ) -> Result<Vec<HouseholdRow>> {
        let prefix = format!("{}%", within.subtree_prefix());
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT * FROM households WHERE head_name LIKE $1 ESCAPE '\\' AND grid LIKE $2 \
                 ORDER BY id LIMIT $3",
            )
            .bind(format!("{}%", escape_like(name)))
            .bind(prefix)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(household_from_row!(r, self))).collect()
        })
    }

    /// Search members by name (prefix match) inside a subtree.
    pub async fn search_members(
        &self,
        within: &TerritoryCode,
        name: &str,
        limit: i64,
    ) -> Result<Vec<MemberRow>> {
        let prefix = format!("{}%", within.subtree_prefix());
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT m.*, u.name AS unit_name FROM members m JOIN units u ON u.code = m.unit \
                 WHERE m.name LIKE $1 ESCAPE '\\' AND m.territory LIKE $2 ORDER BY m.id LIMIT $3",
            )
            .bind(format!("{}%", escape_like(name)))
            .bind(prefix)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(member_from_row!(r, self))).collect()
        })
    }

    /// Members working at exactly this node.
    pub async fn members_at(
        &self,
        territory: &TerritoryCode,
        limit: i64,
    ) -> Result<Vec<MemberRow>> {
        on_read!(self, pool => {
            let rows = sqlx::query(
                "SELECT m.*, u.name AS unit_name FROM members m JOIN units u ON u.code = m.unit \
                 WHERE m.territory = $1 ORDER BY m.id LIMIT $2",
            )
            .bind(territory.as_str())
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|r| Ok(member_from_row!(r, self))).collect()
        })
    }

    /// Row counts of the main tables, for the demo summary and tests.
    pub async fn table_counts(&self) -> Result<Vec<(&'static str, i64)>> {
        const TABLES: [&str; 10] = [
            "territories",
            "units",
            "members",
            "households",
            "group_heads",
            "monasteries",
            "enterprises",
            "pairings",
            "accounts",
            "sessions",
        ];
        let mut out = Vec::new();
        for t in TABLES {
            let sql = format!("SELECT COUNT(*) AS n FROM {t}");
            let n: i64 = on_read!(self, pool => {
                sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await?.try_get("n")?
            });
            out.push((t, n));
        }
        Ok(out)
    }
}
