//! The database side of sealed personal data ([`crate::vault`]): which columns are sealed, the
//! key check on start, the conversion of plaintext rows and the re-sealing of every row under
//! a new key (rotation), in batches.

use serde::Serialize;
use sqlx::Row;

use crate::{Db, Result, StoreError, VaultError};

/// The setting that names the key the database's rows are (being) sealed under.
const KEY_SETTING: &str = "data_key_id";

/// Rows per batch of a conversion or rotation (one transaction each).
const BATCH: i64 = 1000;

/// The personal fields of a history row's JSON (households and members), with the column label
/// each is sealed for.
const JSON_FIELDS: [(&str, &str); 3] = [
    ("phone", "org_changes.phone"),
    ("id_number", "org_changes.id_number"),
    ("address", "org_changes.address"),
];

/// What a conversion or rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResealSummary {
    /// Rows looked at.
    pub rows: u64,
    /// Rows written again (sealed under the sealing key, or their index recomputed).
    pub resealed: u64,
}

/// Progress of one table: (table, rows looked at so far, written so far), every two seconds or
/// so and once when the table is done.
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

impl Db {
    /// A record as history JSON, its personal fields sealed.
    pub(crate) fn sealed_json<T: Serialize>(&self, v: &T) -> Result<String> {
        let mut j =
            serde_json::to_value(v).map_err(|e| StoreError::Corrupt(format!("json: {e}")))?;
        if let Some(o) = j.as_object_mut() {
            for (k, label) in JSON_FIELDS {
                if let Some(serde_json::Value::String(s)) = o.get_mut(k) {
                    *s = self.vault.seal(label, s)?;
                }
            }
        }
        Ok(j.to_string())
    }

    /// History JSON with its personal fields opened.
    pub(crate) fn open_json(&self, text: Option<String>) -> Result<Option<String>> {
        let Some(text) = text else { return Ok(None) };
        if !text.contains(crate::vault::PREFIX) {
            return Ok(Some(text));
        }
        let mut j: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("history json: {e}")))?;
        if let Some(o) = j.as_object_mut() {
            for (k, label) in JSON_FIELDS {
                if let Some(serde_json::Value::String(s)) = o.get_mut(k) {
                    *s = self.vault.open(label, s)?;
                }
            }
        }
        Ok(Some(j.to_string()))
    }

    /// Whether every personal field of history JSON is sealed under the sealing key.
    fn json_is_current(&self, text: &str) -> bool {
        let Ok(j) = serde_json::from_str::<serde_json::Value>(text) else {
            return true;
        };
        JSON_FIELDS.iter().all(|(k, _)| match j.get(k) {
            Some(serde_json::Value::String(s)) => self.vault.is_current(s),
            _ => true,
        })
    }

    fn reseal_json(&self, text: Option<String>) -> Result<Option<String>> {
        let Some(text) = text else { return Ok(None) };
        let mut j: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("history json: {e}")))?;
        if let Some(o) = j.as_object_mut() {
            for (k, label) in JSON_FIELDS {
                if let Some(serde_json::Value::String(s)) = o.get_mut(k) {
                    let plain = self.vault.open(label, s)?;
                    *s = self.vault.seal(label, &plain)?;
                }
            }
        }
        Ok(Some(j.to_string()))
    }

    /// The blind indexes an ID number may be stored under (one per key of the ring).
    pub fn id_number_indexes(&self, id_number: &str) -> Result<Vec<String>> {
        Ok(self.vault.blind_all("id_number", id_number)?)
    }

    /// On start, after migrating: refuse a data key that cannot open this database's rows, and
    /// seal whatever is still plaintext (a database from before sealing). Returns what the
    /// conversion did (nothing on every later start).
    pub async fn check_data_key(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        progress: Progress<'_>,
    ) -> Result<ResealSummary> {
        let sealing = self
            .vault
            .sealing_key_id()
            .ok_or(VaultError::NoKey)?
            .to_owned();
        match self.setting(KEY_SETTING).await? {
            Some(id) if self.vault.has_key(&id) => Ok(ResealSummary::default()),
            Some(id) => Err(StoreError::Vault(VaultError::NotThisDatabase {
                key_id: id,
            })),
            None => {
                let summary = self.reseal_all(progress).await?;
                self.set_setting(KEY_SETTING, &sealing, now).await?;
                Ok(summary)
            }
        }
    }

    /// The key id the database's rows are sealed under, as last recorded.
    pub async fn data_key_id(&self) -> Result<Option<String>> {
        self.setting(KEY_SETTING).await
    }

    /// Seal every personal field not yet sealed under the vault's sealing key (plaintext, or
    /// sealed under an older key of the ring) and recompute the blind indexes, in batches of
    /// [`BATCH`] rows, one transaction each, so servers go on meanwhile and read both. Records
    /// the sealing key as the database's when done.
    pub async fn rotate_data_key(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        progress: Progress<'_>,
    ) -> Result<ResealSummary> {
        let sealing = self
            .vault
            .sealing_key_id()
            .ok_or(VaultError::NoKey)?
            .to_owned();
        let summary = self.reseal_all(progress).await?;
        self.set_setting(KEY_SETTING, &sealing, now).await?;
        Ok(summary)
    }

    async fn reseal_all(&self, progress: Progress<'_>) -> Result<ResealSummary> {
        let mut total = ResealSummary::default();
        for table in [
            "households",
            "members",
            "cases",
            "mediation_records",
            "org_changes",
        ] {
            let s = self.reseal_table(table, progress).await?;
            total.rows += s.rows;
            total.resealed += s.resealed;
        }
        Ok(total)
    }

    async fn reseal_table(
        &self,
        table: &'static str,
        progress: Progress<'_>,
    ) -> Result<ResealSummary> {
        let mut summary = ResealSummary::default();
        let mut after = i64::MIN;
        let mut noted = std::time::Instant::now();
        loop {
            let (n, last, written) = match table {
                "households" => self.reseal_households(after).await?,
                "members" => {
                    self.reseal_single(after, "members", "id", "phone", "members.phone")
                        .await?
                }
                "cases" => {
                    self.reseal_single(
                        after,
                        "cases",
                        "id",
                        "reporter_phone",
                        "cases.reporter_phone",
                    )
                    .await?
                }
                "mediation_records" => {
                    self.reseal_single(
                        after,
                        "mediation_records",
                        "case_id",
                        "body",
                        "mediation_records.body",
                    )
                    .await?
                }
                _ => self.reseal_changes(after).await?,
            };
            summary.rows += n;
            summary.resealed += written;
            if n < BATCH as u64 {
                break;
            }
            if noted.elapsed() >= std::time::Duration::from_secs(2) {
                progress(table, summary.rows, summary.resealed);
                noted = std::time::Instant::now();
            }
            after = last;
        }
        if summary.rows > 0 {
            progress(table, summary.rows, summary.resealed);
        }
        Ok(summary)
    }

    /// One batch of households after id `after`: (rows, last id, rows written).
    async fn reseal_households(&self, after: i64) -> Result<(u64, i64, u64)> {
        type HouseholdRow = (i64, String, String, String, Option<String>);
        let rows: Vec<HouseholdRow> = on_read!(self, pool => {
            sqlx::query(
                "SELECT id, address, phone, id_number, id_number_bidx FROM households \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(BATCH)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("address")?,
                    r.try_get("phone")?,
                    r.try_get("id_number")?,
                    r.try_get("id_number_bidx")?,
                ))
            })
            .collect::<Result<_>>()?
        });
        let v = &self.vault;
        let mut updates = Vec::new();
        let mut last = after;
        for (id, address, phone, number, index) in &rows {
            last = *id;
            let number_plain = v.open("households.id_number", number)?;
            let fresh_index = v.blind("id_number", &number_plain)?;
            if v.is_current(address)
                && v.is_current(phone)
                && v.is_current(number)
                && index.as_deref() == Some(fresh_index.as_str())
            {
                continue;
            }
            updates.push((
                *id,
                v.seal(
                    "households.address",
                    &v.open("households.address", address)?,
                )?,
                v.seal("households.phone", &v.open("households.phone", phone)?)?,
                v.seal("households.id_number", &number_plain)?,
                fresh_index,
            ));
        }
        let written = updates.len() as u64;
        if !updates.is_empty() {
            on_write!(self, tx => {
                for (id, a, p, n, b) in updates {
                    sqlx::query(
                        "UPDATE households SET address = $1, phone = $2, id_number = $3, \
                         id_number_bidx = $4 WHERE id = $5",
                    )
                    .bind(a)
                    .bind(p)
                    .bind(n)
                    .bind(b)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                }
            });
        }
        Ok((rows.len() as u64, last, written))
    }

    /// One batch of a table with one sealed text column.
    async fn reseal_single(
        &self,
        after: i64,
        table: &'static str,
        key: &'static str,
        column: &'static str,
        label: &'static str,
    ) -> Result<(u64, i64, u64)> {
        let select = format!(
            "SELECT {key} AS k, {column} AS v FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT $2"
        );
        let rows: Vec<(i64, Option<String>)> = on_read!(self, pool => {
            sqlx::query(sqlx::AssertSqlSafe(select))
                .bind(after)
                .bind(BATCH)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("k")?, r.try_get("v")?)))
                .collect::<Result<_>>()?
        });
        let mut updates = Vec::new();
        let mut last = after;
        for (k, value) in &rows {
            last = *k;
            let Some(value) = value else { continue };
            if self.vault.is_current(value) {
                continue;
            }
            updates.push((*k, self.vault.seal(label, &self.vault.open(label, value)?)?));
        }
        let written = updates.len() as u64;
        if !updates.is_empty() {
            let update = format!("UPDATE {table} SET {column} = $1 WHERE {key} = $2");
            on_write!(self, tx => {
                for (k, value) in updates {
                    sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                        .bind(value)
                        .bind(k)
                        .execute(&mut **tx)
                        .await?;
                }
            });
        }
        Ok((rows.len() as u64, last, written))
    }

    /// One batch of the history of households and members.
    async fn reseal_changes(&self, after: i64) -> Result<(u64, i64, u64)> {
        type ChangeRow = (i64, String, Option<String>, Option<String>);
        let rows: Vec<ChangeRow> = on_read!(self, pool => {
            sqlx::query(
                "SELECT id, entity, before, after FROM org_changes WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(BATCH)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("entity")?, r.try_get("before")?, r.try_get("after")?)))
            .collect::<Result<_>>()?
        });
        let mut updates = Vec::new();
        let mut last = after;
        for (id, entity, before, after_json) in rows.iter().cloned() {
            last = id;
            if entity != "household" && entity != "member" {
                continue;
            }
            if before.as_deref().is_none_or(|b| self.json_is_current(b))
                && after_json
                    .as_deref()
                    .is_none_or(|a| self.json_is_current(a))
            {
                continue;
            }
            updates.push((id, self.reseal_json(before)?, self.reseal_json(after_json)?));
        }
        let written = updates.len() as u64;
        if !updates.is_empty() {
            on_write!(self, tx => {
                for (id, b, a) in updates {
                    sqlx::query("UPDATE org_changes SET before = $1, after = $2 WHERE id = $3")
                        .bind(b)
                        .bind(a)
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                }
            });
        }
        Ok((rows.len() as u64, last, written))
    }
}
