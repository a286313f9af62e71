//! The two backends behind one [`Db`]: connection set-up and the macros that run one body of
//! query code against whichever pool is configured. This is the only file that matches on the
//! backend.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{Result, StoreError};

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The pools of the configured backend.
///
/// SQLite gets two pools: many readers, and a single writer whose transactions start with
/// `BEGIN IMMEDIATE`, so that writers queue in-process instead of failing with `SQLITE_BUSY`.
#[derive(Debug, Clone)]
pub enum Pools {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub pools: Pools,
    /// Woken after this handle commits rows of the live feed (see [`crate::feed`]).
    pub(crate) feed_wake: std::sync::Arc<tokio::sync::Notify>,
    /// The data keys personal data is sealed with ([`crate::vault`]); none until
    /// [`Db::with_vault`].
    pub vault: std::sync::Arc<crate::vault::Vault>,
}

/// Run `$body` with `$pool` bound to a pool for reading, on either backend.
#[macro_export]
macro_rules! on_read {
    ($db:expr, $pool:ident => $body:expr) => {
        match &$db.pools {
            $crate::db::Pools::Sqlite { read, .. } => {
                let $pool = read;
                $body
            }
            $crate::db::Pools::Postgres(pg) => {
                let $pool = pg;
                $body
            }
        }
    };
}

/// Run `$body` inside one write transaction bound to `$tx`, committing when it returns `Ok`.
/// On SQLite the transaction takes the write lock up front (`BEGIN IMMEDIATE`).
#[macro_export]
macro_rules! on_write {
    ($db:expr, $tx:ident => $body:expr) => {
        match &$db.pools {
            $crate::db::Pools::Sqlite { write, .. } => {
                let mut txn = write.begin_with("BEGIN IMMEDIATE").await?;
                let $tx = &mut txn;
                let out = $body;
                txn.commit().await?;
                out
            }
            $crate::db::Pools::Postgres(pg) => {
                let mut txn = pg.begin().await?;
                let $tx = &mut txn;
                let out = $body;
                txn.commit().await?;
                out
            }
        }
    };
}

/// Run `$body` with `$conn` bound to one connection that sees a single consistent snapshot of
/// the database for every query of the body, while writers go on: a `REPEATABLE READ READ ONLY`
/// transaction on PostgreSQL, a read transaction on SQLite (in WAL mode its first read fixes the
/// snapshot). For backups and other reads that must agree with each other across tables.
#[macro_export]
macro_rules! on_snapshot {
    ($db:expr, $conn:ident => $body:expr) => {
        match &$db.pools {
            $crate::db::Pools::Sqlite { read, .. } => {
                let mut txn = read.begin().await?;
                let $conn = &mut *txn;
                let out = $body;
                txn.rollback().await?;
                out
            }
            $crate::db::Pools::Postgres(pg) => {
                let mut txn = pg
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                let $conn = &mut *txn;
                let out = $body;
                txn.rollback().await?;
                out
            }
        }
    };
}

impl Db {
    /// Connect to `url` (`sqlite://…`, `postgres://…`), or to `<data_dir>/gesang.db` when no
    /// URL is given. Creates the SQLite file and the data directory if they are missing.
    pub async fn connect(url: Option<&str>, data_dir: &Path) -> Result<Db> {
        match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Self::connect_postgres(u).await
            }
            Some(u) if u.starts_with("sqlite:") => {
                let opts = SqliteConnectOptions::from_str(u)
                    .map_err(|e| StoreError::BadUrl(format!("{u}: {e}")))?;
                Self::connect_sqlite(opts).await
            }
            Some(u) => Err(StoreError::BadUrl(format!(
                "{u}: expected sqlite:… or postgres://…"
            ))),
            None => {
                std::fs::create_dir_all(data_dir).map_err(|e| {
                    StoreError::BadUrl(format!("cannot create {}: {e}", data_dir.display()))
                })?;
                let opts = SqliteConnectOptions::new().filename(data_dir.join("gesang.db"));
                Self::connect_sqlite(opts).await
            }
        }
    }

    async fn connect_sqlite(opts: SqliteConnectOptions) -> Result<Db> {
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable: every commit is fsynced. Throughput comes from batching, not from
            // weaker durability.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory");
        // Page caches: 64 MB for the one writer (bulk loads and group commits), 16 MB for each
        // of the 8 readers, so that a server stays within a few hundred megabytes at a million
        // cases (the operating system's file cache serves what they do not hold).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(opts.clone().pragma("cache_size", "-65536"))
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.read_only(true).pragma("cache_size", "-16384"))
            .await?;
        Ok(Db {
            pools: Pools::Sqlite { read, write },
            feed_wake: Default::default(),
            vault: Default::default(),
        })
    }

    async fn connect_postgres(url: &str) -> Result<Db> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        Ok(Db {
            pools: Pools::Postgres(pool),
            feed_wake: Default::default(),
            vault: Default::default(),
        })
    }

    /// Create database `name` on the PostgreSQL server of `admin_url` (dropping a leftover of
    /// the same name) and return the URL to reach it. For benchmarks and tests.
    pub async fn create_postgres_database(admin_url: &str, name: &str) -> Result<String> {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::BadUrl(format!(
                "{name}: not a plain database name"
            )));
        }
        let admin = Self::connect_postgres(admin_url).await?;
        if let Pools::Postgres(pool) = &admin.pools {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(pool).await?;
            let create = format!("CREATE DATABASE {name}");
            sqlx::query(sqlx::AssertSqlSafe(create))
                .execute(pool)
                .await?;
        }
        admin.close().await;
        Ok(crate::testing::replace_db_name(admin_url, name))
    }

    /// Drop database `name` on the PostgreSQL server of `admin_url` (best effort clean-up).
    pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<()> {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::BadUrl(format!(
                "{name}: not a plain database name"
            )));
        }
        let admin = Self::connect_postgres(admin_url).await?;
        if let Pools::Postgres(pool) = &admin.pools {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(pool).await?;
        }
        admin.close().await;
        Ok(())
    }

    /// The same database, sealing and opening personal data with `vault`.
    pub fn with_vault(mut self, vault: std::sync::Arc<crate::vault::Vault>) -> Db {
        self.vault = vault;
        self
    }

    pub fn backend(&self) -> Backend {
        match self.pools {
            Pools::Sqlite { .. } => Backend::Sqlite,
            Pools::Postgres(_) => Backend::Postgres,
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_read!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Whether [`Db::close`] has been called (background jobs stop then).
    pub fn is_closed(&self) -> bool {
        match &self.pools {
            // The read pool closes first: a read failing on it is the database closing too.
            Pools::Sqlite { read, write } => read.is_closed() || write.is_closed(),
            Pools::Postgres(pg) => pg.is_closed(),
        }
    }

    /// Close every connection (graceful shutdown; on SQLite this checkpoints the WAL).
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(pg) => pg.close().await,
        }
    }
}
