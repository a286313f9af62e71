//! Fresh databases for tests: a new SQLite file, or a new PostgreSQL database on the server
//! named by `TEST_DATABASE_URL` (CI sets it; without it the suites run on SQLite only).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Db, Result, StoreError};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database made for one test or one test binary.
#[derive(Debug, Clone)]
pub struct TestDb {
    /// URL to connect with.
    pub url: String,
    /// The SQLite file's directory, removed by the caller when done (None on PostgreSQL).
    pub dir: Option<PathBuf>,
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Which backend the tests run on: PostgreSQL when `TEST_DATABASE_URL` is set.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

/// Create an empty database (not migrated).
pub async fn create(prefix: &str) -> Result<TestDb> {
    let name = unique(prefix);
    match postgres_url() {
        Some(admin_url) => {
            let url = Db::create_postgres_database(&admin_url, &name).await?;
            Ok(TestDb { url, dir: None })
        }
        None => {
            let dir = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&dir)
                .map_err(|e| StoreError::BadUrl(format!("{}: {e}", dir.display())))?;
            let url = format!("sqlite://{}", dir.join("gesang.db").display());
            Ok(TestDb {
                url,
                dir: Some(dir),
            })
        }
    }
}

/// The data keys of every test database: [`crate::vault::TEST_KEY`], never a real one.
pub fn vault() -> std::sync::Arc<crate::Vault> {
    static VAULT: std::sync::OnceLock<std::sync::Arc<crate::Vault>> = std::sync::OnceLock::new();
    VAULT
        .get_or_init(|| {
            std::sync::Arc::new(
                crate::Vault::parse(crate::vault::TEST_KEY).expect("the test key parses"),
            )
        })
        .clone()
}

/// Connect to a test database with the test data key.
pub async fn connect(url: &str) -> Result<Db> {
    Ok(Db::connect(Some(url), std::path::Path::new("."))
        .await?
        .with_vault(vault()))
}

/// Create, connect and migrate.
pub async fn fresh(prefix: &str) -> Result<(Db, TestDb)> {
    let t = create(prefix).await?;
    let db = connect(&t.url).await?;
    db.migrate().await?;
    Ok((db, t))
}

/// Remove a test database (best effort: a leftover is harmless, it only takes space).
pub async fn remove(t: TestDb) {
    if let Some(dir) = t.dir {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    let (Some(admin_url), Some(name)) = (postgres_url(), t.url.rsplit('/').next()) else {
        return;
    };
    let name = name.split('?').next().unwrap_or(name);
    let _ = Db::drop_postgres_database(&admin_url, name).await;
}

/// `url` with its database name replaced by `name`.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::replace_db_name("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_db_name("postgres://h", "x"),
            "postgres://h/x"
        );
    }
}
