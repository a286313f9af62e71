//! Command line and environment: one clap definition gives the flags, the `GESANG_*`
//! variables and `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use domain::demo::Scale;

/// Gesang (格桑): grassroots governance for Gannan's "8+" mechanism.
#[derive(Debug, Parser)]
#[command(name = "gesang", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Directory for the embedded database and uploaded files.
    #[arg(long, env = "GESANG_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// Database URL: `postgres://…` for PostgreSQL, `sqlite:…` for another SQLite file.
    /// Default: `<data dir>/gesang.db`.
    #[arg(long, env = "GESANG_DATABASE_URL", global = true)]
    pub database_url: Option<DatabaseUrl>,
    /// Log filter, e.g. `info` or `gesang=debug,tower_http=info`.
    #[arg(long, env = "GESANG_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log format.
    #[arg(long, env = "GESANG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// File holding the data key that ID numbers, phone numbers and addresses are sealed with
    /// (64 hex digits a line; the first seals, every one opens). Default: `<data dir>/data.key`,
    /// created on the first start of a database that has never been sealed.
    #[arg(long, env = "GESANG_DATA_KEY_FILE", global = true)]
    pub data_key_file: Option<PathBuf>,
    /// The data key itself (as in the file) instead of a file; read from the environment only.
    #[arg(
        long,
        env = "GESANG_DATA_KEY",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub data_key: Option<SecretText>,
}

/// A secret given on the command line or in the environment; never printed.
#[derive(Clone)]
pub struct SecretText(pub String);

impl std::str::FromStr for SecretText {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretText(s.to_owned()))
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A database URL; printed with its password hidden.
#[derive(Clone)]
pub struct DatabaseUrl(pub String);

impl std::str::FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://")
            || s.starts_with("postgresql://")
            || s.starts_with("sqlite:")
        {
            Ok(DatabaseUrl(s.to_owned()))
        } else {
            Err("expected postgres://… or sqlite:…".into())
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // postgres://user:secret@host/db → postgres://user:***@host/db
        let s = &self.0;
        match (s.find("://"), s.rfind('@')) {
            (Some(a), Some(b)) if b > a => {
                let creds = &s[a + 3..b];
                match creds.find(':') {
                    Some(c) => write!(f, "{}{}:***{}", &s[..a + 3], &creds[..c], &s[b..]),
                    None => f.write_str(s),
                }
            }
            _ => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (migrates the database first).
    Serve(ServeArgs),
    /// Load the demo data set into the configured database.
    Demo(DemoArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Recompute the statistics rollups (GET /api/v1/stats) from the cases, work logs and
    /// daily reports (after an upgrade, or to check them).
    RebuildStats,
    /// Write a consistent copy of the database (either engine) into a new SQLite file, while
    /// it is in use.
    Backup(BackupArgs),
    /// Load a backup file into the configured database, which must be empty.
    Restore(BackupArgs),
    /// Run a benchmark on a fresh database (`intake`, `route`, `rollcall`); figures as JSON lines
    /// on stdout.
    Bench(crate::bench::BenchArgs),
    /// Import territory, households, members, pairings (CSV or .xlsx), or a legacy case history
    /// through a column mapping.
    Import(crate::transfer::command::ImportArgs),
    /// Replay the seed's September debris flow in 达麦乡 as an incident (on a demo database).
    DemoIncident,
    /// Export a subtree's territory, households, members, pairings or cases (.xlsx or CSV).
    Export(crate::transfer::command::ExportArgs),
    /// Seal every ID number, phone number and address again under a new data key, in batches,
    /// while servers go on (they read rows under either key).
    RotateDataKey(RotateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// The new key file: its first key seals. Created when missing (a fresh key, then the
    /// current keys, so the file opens every row during and after the rotation).
    #[arg(long)]
    pub new_key_file: PathBuf,
    /// Only create the new key file (restart the servers with it, then rotate).
    #[arg(long)]
    pub prepare: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GESANG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// If the database holds no territory yet, load the demo data set first.
    #[arg(long, env = "GESANG_DEMO")]
    pub demo: bool,
    /// Scale of the demo data loaded by `--demo`.
    #[arg(long, env = "GESANG_DEMO_SCALE", value_enum, default_value_t = ScaleArg::Full)]
    pub demo_scale: ScaleArg,
    /// Days of case history `--demo` loads, ending now (0: none).
    #[arg(long, env = "GESANG_DEMO_HISTORY_DAYS", default_value_t = crate::demo::DEFAULT_HISTORY_DAYS)]
    pub demo_history_days: u32,
    /// Lifetime of API tokens and page sessions, in hours.
    #[arg(long, env = "GESANG_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,
    /// Mark session cookies `Secure` (set when served over HTTPS).
    #[arg(long, env = "GESANG_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// How often the supervision clock looks for due yellow and red cards, in milliseconds.
    #[arg(long, env = "GESANG_CLOCK_TICK_MS", default_value_t = 15_000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub clock_tick_ms: u64,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The backup file (a SQLite database with Gesang's schema).
    pub file: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// `full`: Gannan scale (206,400 households); `small`: 夏河县 alone, for tests.
    #[arg(long, value_enum, default_value_t = ScaleArg::Full)]
    pub scale: ScaleArg,
    /// Days of case history to load, ending now, at a realistic rate for the scale (0: none).
    #[arg(long, default_value_t = crate::demo::DEFAULT_HISTORY_DAYS)]
    pub history_days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaleArg {
    Full,
    Small,
}

impl From<ScaleArg> for Scale {
    fn from(s: ScaleArg) -> Scale {
        match s {
            ScaleArg::Full => Scale::Full,
            ScaleArg::Small => Scale::Small,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_never_print() {
        let u: DatabaseUrl = "postgres://gesang:s3cret@db:5432/gesang".parse().unwrap();
        assert_eq!(format!("{u:?}"), "postgres://gesang:***@db:5432/gesang");
        let cli = Cli::try_parse_from([
            "gesang",
            "--data-key",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "migrate",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("0001020304"), "{shown}");
    }
}
