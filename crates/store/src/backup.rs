//! Backups: a consistent copy of a live database, of either engine, in one SQLite file with
//! Gesang's schema ([`Db::backup_to`]); and its restore into an empty database of either engine
//! ([`Db::restore_from`]).
//!
//! One format for both engines means a backup is also the way from SQLite to PostgreSQL and
//! back, and a file anyone can open with `sqlite3`. The copy reads every table inside one
//! snapshot ([`on_snapshot!`]), so writers go on while it runs and the copy is the database as
//! it was at one instant. Tables are copied in the order the migrations create them (a table
//! after every table it references) and rows in primary-key order (territories parents first),
//! so foreign keys hold at every insert. A restore is one transaction: all or nothing.
//!
//! The full-text index is not copied: it is derived from the cases, and a restore puts every
//! case back in the search backlog for the indexer. Column types are read from the SQLite
//! schema; [`ColType::of_declared`] names every type the migrations use, and the store suite
//! checks that every column of both engines maps.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use sqlx::Row;

use crate::{Backend, Db, Result, StoreError};

/// Rows per multi-row `INSERT` of the copy.
const ROWS_PER_STATEMENT: usize = 500;

/// The type of a column, as the copy reads and binds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int,
    Real,
    Text,
    Bool,
    Date,
    Time,
    Bytes,
}

impl ColType {
    /// The type of a column from its declared SQLite type (the migrations' spelling).
    pub fn of_declared(declared: &str) -> Option<ColType> {
        let d = declared.to_ascii_uppercase();
        Some(if d.contains("TIMESTAMP") {
            ColType::Time
        } else if d == "DATE" {
            ColType::Date
        } else if d.contains("INT") {
            ColType::Int
        } else if d.contains("BOOL") {
            ColType::Bool
        } else if d.contains("DOUBLE") || d.contains("REAL") || d.contains("FLOAT") {
            ColType::Real
        } else if d.contains("TEXT") || d.contains("CHAR") || d.contains("CLOB") {
            ColType::Text
        } else if d.contains("BLOB") || d.contains("BYTEA") {
            ColType::Bytes
        } else {
            return None;
        })
    }

    /// Whether a PostgreSQL column type (`information_schema.columns.data_type`) is what the
    /// copy binds for this type.
    pub fn matches_postgres(self, data_type: &str) -> bool {
        matches!(
            (self, data_type),
            (ColType::Int, "bigint")
                | (ColType::Real, "double precision")
                | (ColType::Text, "text")
                | (ColType::Bool, "boolean")
                | (ColType::Date, "date")
                | (ColType::Time, "timestamp with time zone")
                | (ColType::Bytes, "bytea")
        )
    }
}

/// One value of a row in transit.
#[derive(Debug, Clone)]
enum Cell {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Date(Option<NaiveDate>),
    Time(Option<DateTime<Utc>>),
    Bytes(Option<Vec<u8>>),
}

/// A table to copy: its columns with their types, and the order its rows go in.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub columns: Vec<(String, ColType)>,
    order_by: Option<String>,
}

/// What a backup or restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopySummary {
    pub tables: usize,
    pub rows: u64,
    /// Rows per table, in copy order.
    pub per_table: Vec<(String, u64)>,
}

/// Rows are ordered so that a row comes after the rows it references in its own table.
/// Territories reference their parent: shorter codes first.
fn order_of(table: &str, pk: &[String]) -> Option<String> {
    match table {
        "territories" => Some("length(code), code".into()),
        _ if pk.is_empty() => None,
        _ => Some(pk.join(", ")),
    }
}

/// Decode column `$i` of `$row` as `$ty`.
macro_rules! cell_of {
    ($row:expr, $i:expr, $ty:expr) => {
        match $ty {
            ColType::Int => Cell::Int($row.try_get($i)?),
            ColType::Real => Cell::Real($row.try_get($i)?),
            ColType::Text => Cell::Text($row.try_get($i)?),
            ColType::Bool => Cell::Bool($row.try_get($i)?),
            ColType::Date => Cell::Date($row.try_get($i)?),
            ColType::Time => Cell::Time($row.try_get($i)?),
            ColType::Bytes => Cell::Bytes($row.try_get($i)?),
        }
    };
}

/// Insert `$rows` into table `$t` inside the open transaction `$tx`.
macro_rules! insert_cells {
    ($tx:expr, $t:expr, $rows:expr) => {{
        let rows: Vec<Vec<Cell>> = $rows;
        if !rows.is_empty() {
            let cols: Vec<&str> = $t.columns.iter().map(|(c, _)| c.as_str()).collect();
            let mut qb =
                sqlx::QueryBuilder::new(format!("INSERT INTO {} ({}) ", $t.name, cols.join(", ")));
            qb.push_values(rows, |mut sep, row| {
                for cell in row {
                    match cell {
                        Cell::Int(v) => sep.push_bind(v),
                        Cell::Real(v) => sep.push_bind(v),
                        Cell::Text(v) => sep.push_bind(v),
                        Cell::Bool(v) => sep.push_bind(v),
                        Cell::Date(v) => sep.push_bind(v),
                        Cell::Time(v) => sep.push_bind(v),
                        Cell::Bytes(v) => sep.push_bind(v),
                    };
                }
            });
            qb.build().execute(&mut **$tx).await?;
        }
    }};
}

/// Copy every table of `$tables` from the snapshot connection `$src` into the open write
/// transaction `$tx`, calling `$progress(table, rows)` after each table.
macro_rules! copy_tables {
    ($src:expr, $tx:expr, $tables:expr, $progress:expr) => {{
        let mut summary = CopySummary::default();
        for t in $tables {
            let cols: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
            let mut sql = format!("SELECT {} FROM {}", cols.join(", "), t.name);
            if let Some(o) = &t.order_by {
                sql.push_str(" ORDER BY ");
                sql.push_str(o);
            }
            let mut n = 0u64;
            let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(ROWS_PER_STATEMENT);
            {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *$src);
                while let Some(row) = rows.try_next().await? {
                    let mut cells = Vec::with_capacity(t.columns.len());
                    for (i, (_, ty)) in t.columns.iter().enumerate() {
                        cells.push(cell_of!(row, i, *ty));
                    }
                    batch.push(cells);
                    n += 1;
                    if batch.len() == ROWS_PER_STATEMENT {
                        insert_cells!($tx, t, std::mem::take(&mut batch));
                    }
                }
            }
            insert_cells!($tx, t, std::mem::take(&mut batch));
            ($progress)(t.name.as_str(), n);
            summary.tables += 1;
            summary.rows += n;
            summary.per_table.push((t.name.clone(), n));
        }
        summary
    }};
}

impl Db {
    /// The tables a backup holds, in creation order, with their column types. `self` must be
    /// SQLite (a backup file, or the fresh file a backup is written to).
    pub async fn backup_tables(&self) -> Result<Vec<TableSpec>> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::Backup(
                "table specs are read from a SQLite schema".into(),
            ));
        }
        let rows: Vec<(String, String, String, i64)> = on_read!(self, pool => {
            sqlx::query(
                "SELECT m.name AS t, p.name AS c, p.type AS ty, p.pk AS pk \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name NOT LIKE 'case_search%' AND m.name <> 'schema_migrations' \
                 ORDER BY m.rowid, p.cid",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("t")?, r.try_get("c")?, r.try_get("ty")?, r.try_get("pk")?)))
            .collect::<Result<_, sqlx::Error>>()?
        });
        let mut out: Vec<(TableSpec, Vec<(i64, String)>)> = Vec::new();
        for (t, c, ty, pk) in rows {
            let col_type = ColType::of_declared(&ty).ok_or_else(|| {
                StoreError::Backup(format!(
                    "column {t}.{c} has a type the backup does not know: {ty:?}"
                ))
            })?;
            if out.last().is_none_or(|(spec, _)| spec.name != t) {
                out.push((
                    TableSpec {
                        name: t.clone(),
                        columns: vec![],
                        order_by: None,
                    },
                    vec![],
                ));
            }
            let (spec, pks) = out.last_mut().expect("just pushed");
            spec.columns.push((c.clone(), col_type));
            if pk > 0 {
                pks.push((pk, c));
            }
        }
        Ok(out
            .into_iter()
            .map(|(mut spec, mut pks)| {
                pks.sort();
                let pk: Vec<String> = pks.into_iter().map(|(_, c)| c).collect();
                spec.order_by = order_of(&spec.name, &pk);
                spec
            })
            .collect())
    }

    /// Write a consistent copy of this database into a new SQLite file `file` (which must not
    /// exist), while the database stays in use. Calls `progress(table, rows)` per table.
    pub async fn backup_to(
        &self,
        file: &Path,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<CopySummary> {
        if file.exists() {
            return Err(StoreError::Backup(format!(
                "{} exists already; a backup never overwrites a file",
                file.display()
            )));
        }
        self.check_fully_migrated().await?;
        let out = Db::connect(Some(&sqlite_url(file)), Path::new(".")).await?;
        let result = async {
            out.migrate().await?;
            let tables = out.backup_tables().await?;
            let summary = on_snapshot!(self, src => {
                on_write!(out, tx => copy_tables!(src, tx, &tables, &mut progress))
            });
            Ok::<_, StoreError>(summary)
        }
        .await;
        out.close().await;
        if result.is_err() {
            remove_sqlite_files(file);
        }
        result
    }

    /// Load the backup `file` into this database, which must be migrated and empty, in one
    /// transaction. The file itself is never changed: an older backup is brought up to the
    /// current schema in a temporary copy first. Calls `progress(table, rows)` per table.
    pub async fn restore_from(
        &self,
        file: &Path,
        mut progress: impl FnMut(&str, u64),
    ) -> Result<CopySummary> {
        if !file.is_file() {
            return Err(StoreError::Backup(format!(
                "{} is not a backup file",
                file.display()
            )));
        }
        let scratch = std::env::temp_dir().join(format!(
            "gesang-restore-{}-{}.db",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        std::fs::copy(file, &scratch)
            .map_err(|e| StoreError::Backup(format!("cannot copy {}: {e}", file.display())))?;
        let result = self.restore_from_copy(&scratch, &mut progress).await;
        remove_sqlite_files(&scratch);
        result
    }

    async fn restore_from_copy(
        &self,
        scratch: &Path,
        progress: &mut impl FnMut(&str, u64),
    ) -> Result<CopySummary> {
        let src = Db::connect(Some(&sqlite_url(scratch)), Path::new(".")).await?;
        let result = async {
            // Not a Gesang backup: no ledger of migrations.
            let ledger: i64 = on_read!(src, pool => {
                sqlx::query("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'schema_migrations'")
                    .fetch_one(pool)
                    .await?
                    .try_get("n")?
            });
            if ledger == 0 {
                return Err(StoreError::Backup(
                    "the file is a SQLite database but not a Gesang backup".into(),
                ));
            }
            src.migrate().await?;
            let tables = src.backup_tables().await?;
            self.check_fully_migrated().await?;
            for t in &tables {
                let n = self.row_count(&t.name).await?;
                if n > 0 {
                    return Err(StoreError::Backup(format!(
                        "a restore needs an empty database: table {} has {n} rows",
                        t.name
                    )));
                }
            }
            let backend = self.backend();
            let summary = on_snapshot!(src, from => {
                on_write!(self, tx => {
                    let summary = copy_tables!(from, tx, &tables, &mut *progress);
                    // The search index is derived: every case goes back to the indexer.
                    sqlx::query(
                        "INSERT INTO search_backlog (case_id) SELECT id FROM cases WHERE true \
                         ON CONFLICT DO NOTHING",
                    )
                    .execute(&mut **tx)
                    .await?;
                    if backend == Backend::Postgres {
                        let identities: Vec<(String, String)> = sqlx::query(
                            "SELECT table_name::text AS t, column_name::text AS c \
                             FROM information_schema.columns \
                             WHERE table_schema = current_schema() \
                             AND (is_identity = 'YES' OR column_default LIKE 'nextval%')",
                        )
                        .fetch_all(&mut **tx)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get("t")?, r.try_get("c")?)))
                        .collect::<Result<_, sqlx::Error>>()?;
                        for (t, c) in identities {
                            // The next generated id follows the largest restored one.
                            let sql = format!(
                                "SELECT setval(pg_get_serial_sequence('{t}', '{c}'), \
                                 COALESCE(MAX({c}), 0) + 1, false) FROM {t}"
                            );
                            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut **tx).await?;
                        }
                    }
                    summary
                })
            });
            Ok(summary)
        }
        .await;
        src.close().await;
        result
    }

    /// PostgreSQL's type of every column of the current schema, by (table, column); empty on
    /// SQLite. For the check that every column has a type the backup copies.
    pub async fn column_types(
        &self,
    ) -> Result<std::collections::HashMap<(String, String), String>> {
        if self.backend() != Backend::Postgres {
            return Ok(Default::default());
        }
        on_read!(self, pool => {
            sqlx::query(
                "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS d \
                 FROM information_schema.columns WHERE table_schema = current_schema()",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| Ok(((r.try_get("t")?, r.try_get("c")?), r.try_get("d")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
        })
    }

    /// Rows in `table` (an identifier from the schema, never user input).
    pub async fn row_count(&self, table: &str) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        on_read!(self, pool => {
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await?
                .try_get("n")?)
        })
    }

    /// Refuse to copy a database this binary has not fully migrated (its tables would not
    /// match the backup's).
    async fn check_fully_migrated(&self) -> Result<()> {
        let applied: Vec<String> = on_read!(self, pool => {
            sqlx::query("SELECT name FROM schema_migrations ORDER BY name")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>("name"))
                .collect::<Result<_, _>>()?
        });
        let known: Vec<String> = crate::migrate::MIGRATIONS
            .iter()
            .map(|m| m.name.to_owned())
            .collect();
        if applied != known {
            return Err(StoreError::Backup(format!(
                "the database's schema ({} migrations) is not this version's ({}): run `gesang migrate` first",
                applied.len(),
                known.len()
            )));
        }
        Ok(())
    }
}

fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}", file.display())
}

/// Remove a SQLite file with its WAL and shared-memory files.
fn remove_sqlite_files(file: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = PathBuf::from(file);
        p.set_file_name(format!(
            "{}{suffix}",
            file.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        ));
        let _ = std::fs::remove_file(p);
    }
}
