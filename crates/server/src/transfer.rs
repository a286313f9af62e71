//! Import and export of spreadsheets, written once for the command line (`gesang import`,
//! `gesang export`) and the administration pages and API: territory, households, members and
//! pairings both ways, cases out, and legacy case histories in through a column mapping.
//!
//! An import reads its file twice, streamed: the first pass validates every row (and reports
//! each refused one with its line and reason) without writing; unless the caller asked to import
//! the good rows, a file with any refused row writes nothing. The second pass writes in
//! transactions of [`BATCH`] rows. Exports page through the database by key and write row by row.

pub mod cases;
pub mod command;
pub mod org;
pub mod sheet;

use domain::TerritoryCode;
use domain::account::Role;
use serde::Serialize;

use crate::auth::Caller;

/// Rows written per transaction.
pub const BATCH: usize = 500;

/// Most refused rows kept in a report (all are counted).
pub const MAX_REPORTED: usize = 10_000;

/// What can be imported and exported (CONTRACT.md `gesang import KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Territory,
    Households,
    Members,
    Pairings,
    Cases,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Territory,
        Kind::Households,
        Kind::Members,
        Kind::Pairings,
        Kind::Cases,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Territory => "territory",
            Kind::Households => "households",
            Kind::Members => "members",
            Kind::Pairings => "pairings",
            Kind::Cases => "cases",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }

    /// The sheet name and file name stem of an export.
    pub fn name_zh(self) -> &'static str {
        match self {
            Kind::Territory => "区划",
            Kind::Households => "户籍",
            Kind::Members => "力量成员",
            Kind::Pairings => "包联结对",
            Kind::Cases => "案件",
        }
    }
}

/// Who imports or exports, and where: a signed-in caller, or the command line (the whole
/// prefecture, no account, personal data unmasked).
#[derive(Debug, Clone)]
pub struct Operator {
    pub account: Option<i64>,
    pub role: Option<Role>,
    pub scope: TerritoryCode,
    pub via: &'static str,
    /// The client, for the audit log (`cli` on the command line).
    pub client: String,
}

impl Operator {
    /// The command line: the operator at the machine has the database itself.
    pub fn cli() -> Operator {
        Operator {
            account: None,
            role: None,
            scope: TerritoryCode::parse(domain::gannan::PREFECTURE_CODE)
                .expect("the prefecture code is valid"),
            via: "import",
            client: "cli".into(),
        }
    }

    pub fn of(caller: &Caller, via: &'static str) -> Operator {
        Operator {
            account: Some(caller.principal.account_id),
            role: Some(caller.role()),
            scope: caller.principal.scope.clone(),
            via,
            client: caller.client.clone(),
        }
    }

    /// Whether personal data (phones, ID numbers, addresses) goes out unmasked.
    pub fn sees_personal_data(&self) -> bool {
        self.role.is_none_or(|r| r.sees_personal_data())
    }

    pub fn covers(&self, code: &TerritoryCode) -> bool {
        self.scope.covers(code)
    }
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub file: String,
    /// The row's line in the file (the header is line 1; 0 for the file as a whole).
    pub line: u64,
    /// The column, when one is at fault.
    pub field: Option<String>,
    /// A stable snake_case reason: `unknown_code`, `duplicate_id_number`,
    /// `household_in_two_groups`, `bad_check_digit`, …
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)?;
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How an import is run.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Import the good rows of a file that has refused ones (default: all or nothing).
    pub partial: bool,
    /// Validate only; write nothing.
    pub dry_run: bool,
}

/// What an import of one file did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub file: String,
    pub kind: String,
    /// Data rows read.
    pub rows: u64,
    /// Rows written (created or updated).
    pub imported: u64,
    pub created: u64,
    pub updated: u64,
    /// Cases already imported by an earlier run (legacy imports).
    pub already: u64,
    /// Rows refused (all of them are counted; the first [`MAX_REPORTED`] are listed).
    pub rejected_count: u64,
    pub rejected: Vec<Rejection>,
    /// Whether anything was written (false: refused rows under all-or-nothing, or a dry run).
    pub committed: bool,
    pub seconds: f64,
}

impl ImportReport {
    fn new(file: &str, kind: Kind) -> ImportReport {
        ImportReport {
            file: file.to_owned(),
            kind: kind.as_str().to_owned(),
            ..ImportReport::default()
        }
    }

    fn reject(&mut self, r: Rejection) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_REPORTED {
            self.rejected.push(r);
        }
    }

    /// The one-line summary a person reads.
    pub fn summary(&self) -> String {
        let rate = self.rows as f64 / self.seconds.max(1e-9);
        format!(
            "{} ({}): {} rows, {} imported ({} new, {} updated), {} already imported, {} refused{} in {:.1} s ({:.0} rows/s)",
            self.file,
            self.kind,
            self.rows,
            self.imported,
            self.created,
            self.updated,
            self.already,
            self.rejected_count,
            if self.committed {
                ""
            } else {
                ", nothing written"
            },
            self.seconds,
            rate
        )
    }
}

/// Why an import or export cannot run at all (as opposed to refused rows).
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Sheet(#[from] sheet::SheetError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    App(#[from] crate::error::AppError),
}

impl From<TransferError> for crate::error::AppError {
    fn from(e: TransferError) -> Self {
        match e {
            TransferError::Sheet(e) => crate::error::AppError::unprocessable("file", e.to_string()),
            TransferError::Store(e) => crate::error::AppError::Store(e),
            TransferError::Invalid(m) => crate::error::AppError::unprocessable("file", m),
            TransferError::App(e) => e,
        }
    }
}

/// The peak resident memory of this process in MiB, where the system says (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
