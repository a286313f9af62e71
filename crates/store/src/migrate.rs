//! Embedded schema migrations: the same names in `migrations/sqlite` and
//! `migrations/postgres`, applied in order, each once, each in its own transaction.

use chrono::Utc;
use sqlx::Row;

use crate::{Db, Result, StoreError};

/// One migration: its name and its SQL for each backend.
pub struct Migration {
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

macro_rules! migration {
    ($name:literal) => {
        Migration {
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
        }
    };
}

/// Every migration, in the order it is applied. A new migration is a pair of files and a line here.
pub const MIGRATIONS: &[Migration] = &[
    migration!("0001_spine"),
    migration!("0002_cases"),
    migration!("0003_search"),
    migration!("0010_attachments"),
    migration!("0011_open311_keys"),
    migration!("0020_fieldwork"),
    migration!("0030_org"),
    migration!("0040_emergency"),
    migration!("0050_live_feed"),
    migration!("0051_center_open_cases"),
    migration!("0052_cases_created"),
    migration!("0060_sealed_personal_data"),
    migration!("0061_audit_reveals"),
    migration!("0090_notices_and_keys"),
    migration!("0110_incident_ack_history"),
    migration!("0120_month_stats"),
    migration!("0121_case_lists_and_day_stats"),
];

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL
)";

impl Db {
    /// Apply the migrations this database has not seen yet; returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        on_write!(self, tx => {
            sqlx::query(CREATE_LEDGER).execute(&mut **tx).await?;
        });
        let applied: Vec<String> = on_read!(self, pool => {
            sqlx::query("SELECT name FROM schema_migrations ORDER BY name")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("name"))
                .collect::<Result<_, _>>()?
        });
        for name in &applied {
            if !MIGRATIONS.iter().any(|m| m.name == name) {
                return Err(StoreError::UnknownMigration(name.clone()));
            }
        }
        let backend = self.backend();
        let mut count = 0;
        for m in MIGRATIONS
            .iter()
            .filter(|m| !applied.iter().any(|a| a == m.name))
        {
            let sql = match backend {
                crate::Backend::Sqlite => m.sqlite,
                crate::Backend::Postgres => m.postgres,
            };
            let name = m.name;
            let wrap = |source| StoreError::Migration { name, source };
            on_write!(self, tx => {
                sqlx::raw_sql(sql).execute(&mut **tx).await.map_err(wrap)?;
                sqlx::query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)")
                    .bind(name)
                    .bind(Utc::now().to_rfc3339())
                    .execute(&mut **tx)
                    .await?;
            });
            tracing::info!(
                migration = name,
                backend = backend.as_str(),
                "applied migration"
            );
            count += 1;
        }
        // A history load that died before its end left indexes to build.
        self.build_deferred_indexes().await?;
        Ok(count)
    }

    /// Tables and their columns (lower case, sorted), for the parity test and diagnostics.
    ///
    /// The full-text index `case_search` is left out: it is the one structure that differs by
    /// engine (an FTS5 table on SQLite, a tsvector under GIN on PostgreSQL); the store suite
    /// checks that both answer the same searches.
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows: Vec<(String, String)> = on_read!(self, pool => {
            let sql = match self.backend() {
                crate::Backend::Sqlite => "SELECT m.name AS t, p.name AS c FROM sqlite_master m \
                    JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
                    AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE 'case_search%' \
                    ORDER BY 1, 2",
                crate::Backend::Postgres => "SELECT table_name::text AS t, column_name::text AS c \
                    FROM information_schema.columns WHERE table_schema = current_schema() \
                    AND table_name NOT LIKE 'case_search%' ORDER BY 1, 2",
            };
            sqlx::query(sql)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("t")?, r.try_get("c")?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (t, c) in rows {
            let (t, c) = (t.to_lowercase(), c.to_lowercase());
            match out.last_mut() {
                Some((last, cols)) if *last == t => cols.push(c),
                _ => out.push((t, vec![c])),
            }
        }
        Ok(out)
    }
}
