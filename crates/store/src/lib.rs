//! Gesang's database layer: one code path for SQLite (embedded, the default) and PostgreSQL.
//!
//! [`Db`] holds the pool of one backend; every query is written once, with `$n` placeholders
//! that both backends accept, and runs through the [`on_read!`] / [`on_write!`] macros of
//! [`db`], the one place where the backend is matched. Migrations live in two folders with
//! identical names and are embedded in the binary ([`migrate`]).

#[macro_use]
pub mod db;
pub mod account;
#[macro_use]
pub mod attachments;
pub mod backup;
// Idempotency keys of case actions and uploads (issue 5); before `cases`, whose writes use
// its macro.
#[macro_use]
pub mod request_keys;
#[macro_use]
pub mod bulk;
// Statistics rollups (issue 5); before `cases`, whose writes use its macro.
#[macro_use]
pub mod stats;
#[macro_use]
pub mod cases;
// Before `center`, whose reads use its row mapping of the subtree counts.
#[macro_use]
pub mod territory;
pub mod center;
pub mod emergency;
pub mod error;
pub mod feed;
pub mod fieldwork;
pub mod history;
pub mod import;
pub mod migrate;
// Notices (通知) and their acknowledgement (issue 5).
pub mod notices;
pub mod org;
pub mod people;
pub mod public;
pub mod sealed;
pub mod testing;
/// Sealing of personal data (its own crate, so that it is compiled optimised in dev builds).
pub use vault;

pub use db::{Backend, Db};
pub use error::StoreError;
pub use vault::{Vault, VaultError};

/// Result type of every store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
