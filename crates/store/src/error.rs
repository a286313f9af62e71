//! The store's error type.

/// What can go wrong below the server.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database URL is not understood: {0}")]
    BadUrl(String),
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "the database was migrated by a newer Gesang (it has {0}, this build does not know it)"
    )]
    UnknownMigration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("at most {max} attachments of kind {kind} per owner")]
    LimitReached { kind: String, max: i64 },
    #[error("the database is not empty: {0}")]
    NotEmpty(String),
    #[error("backup: {0}")]
    Backup(String),
    #[error("personal data: {0}")]
    Vault(#[from] crate::vault::VaultError),
}

impl StoreError {
    /// Whether the error is a unique-constraint violation (a duplicate key).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}
