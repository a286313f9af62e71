//! The data key personal data is sealed with ([`store::vault`]): where it comes from, its
//! creation on the first start of an empty database, and `gesang rotate-data-key`.
//!
//! The key comes from `GESANG_DATA_KEY` (the key text itself), else from `--data-key-file`
//! (`GESANG_DATA_KEY_FILE`), else from `<data dir>/data.key`. That default file is created (mode
//! 0600, a fresh random key) only when it is missing *and* the database has never been sealed,
//! so the demo needs nothing, while a server pointed at a sealed database without its key
//! refuses to start instead of sealing new rows under a key nobody else has.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use store::{Db, Vault};

use crate::config::GlobalArgs;

/// Name of the default key file inside the data directory.
pub const DEFAULT_FILE: &str = "data.key";

/// The key file `global` names, or the default one.
pub fn key_path(global: &GlobalArgs) -> PathBuf {
    global
        .data_key_file
        .clone()
        .unwrap_or_else(|| global.data_dir.join(DEFAULT_FILE))
}

fn read_key_file(path: &Path) -> anyhow::Result<Vault> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the data key file {}", path.display()))?;
    Vault::parse(&text).with_context(|| format!("data key file {}", path.display()))
}

/// Write a new key file (refusing to overwrite one), readable by its owner only.
pub fn write_key_file(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create the data key file {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write the data key file {}", path.display()))?;
    Ok(())
}

/// The data keys for `db` by the rules of the module doc.
pub async fn load(global: &GlobalArgs, db: &Db) -> anyhow::Result<Arc<Vault>> {
    if let Some(text) = &global.data_key {
        return Ok(Arc::new(Vault::parse(&text.0).context("GESANG_DATA_KEY")?));
    }
    let path = key_path(global);
    if path.exists() {
        return Ok(Arc::new(read_key_file(&path)?));
    }
    if global.data_key_file.is_some() {
        bail!("the data key file {} does not exist", path.display());
    }
    if let Some(id) = db.data_key_id().await? {
        bail!(
            "this database's personal data is sealed under data key {id}, and {} is missing: \
             give the key with --data-key-file or GESANG_DATA_KEY",
            path.display()
        );
    }
    let line = Vault::generate_key_line()?;
    write_key_file(
        &path,
        &format!(
            "# Gesang data key: personal data in the database is sealed with it. Keep a copy\n\
             # apart from the database's backups; without it they cannot be read.\n{line}\n"
        ),
    )?;
    tracing::info!(file = %path.display(), "created a new data key file");
    Ok(Arc::new(Vault::parse(&line)?))
}

/// Give `db` its keys and check them against the database (sealing plaintext rows left from
/// before sealing, with progress on stderr).
pub async fn attach(global: &GlobalArgs, db: Db) -> anyhow::Result<Db> {
    let vault = load(global, &db).await?;
    let db = db.with_vault(vault);
    let started = Instant::now();
    let summary = db
        .check_data_key(chrono::Utc::now(), &mut |table, rows, written| {
            eprintln!("  sealing personal data: {table:<18} {rows:>9} rows, {written:>9} sealed");
        })
        .await
        .context("the data key does not fit this database")?;
    if summary.resealed > 0 {
        tracing::info!(
            rows = summary.resealed,
            ms = started.elapsed().as_millis() as u64,
            "sealed the personal data left in plaintext"
        );
    }
    Ok(db)
}

/// `gesang rotate-data-key`: seal every row under the first key of `new_file` (created with a
/// fresh key, followed by the current keys, when missing), the current keys still opening the
/// rows not yet moved. Progress per batch on stderr, one summary line at the end.
pub async fn rotate(
    global: &GlobalArgs,
    db: Db,
    new_file: &Path,
    prepare: bool,
) -> anyhow::Result<()> {
    let current = db.vault.clone();
    if !new_file.exists() {
        let mut text = format!(
            "# Gesang data key ring: the first key seals, every key opens. The older keys can go\n\
             # once `gesang rotate-data-key` has finished and no server runs with the old file.\n{}\n",
            Vault::generate_key_line()?
        );
        let old_text = match &global.data_key {
            Some(t) => t.0.clone(),
            None => std::fs::read_to_string(key_path(global))
                .with_context(|| format!("cannot read {}", key_path(global).display()))?,
        };
        for line in old_text.lines() {
            let l = line.split('#').next().unwrap_or("").trim();
            if !l.is_empty() {
                text.push_str(l);
                text.push('\n');
            }
        }
        write_key_file(new_file, &text)?;
        eprintln!(
            "gesang rotate-data-key: created {} (a new key, then the current ones)",
            new_file.display()
        );
    }
    let ring = Arc::new(Vault::with_older(read_key_file(new_file)?, &current));
    let new_id = ring.sealing_key_id().unwrap_or_default().to_owned();
    if prepare {
        eprintln!(
            "gesang rotate-data-key: restart every server with --data-key-file {} (it reads both \
             keys), then run this again without --prepare",
            new_file.display()
        );
        return Ok(());
    }
    let started = Instant::now();
    eprintln!(
        "gesang rotate-data-key: sealing every row under key {new_id} (was {})…",
        current.key_ids().join(", ")
    );
    let db = db.with_vault(ring);
    let summary = db
        .rotate_data_key(chrono::Utc::now(), &mut |table, rows, written| {
            eprintln!(
                "  {table:<18} {rows:>9} rows, {written:>9} sealed again  {:>6.1} s",
                started.elapsed().as_secs_f64()
            );
        })
        .await
        .context(
            "rotation stopped; the rows already moved open with the new file, the rest with either",
        )?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "gesang rotate-data-key: {} rows looked at, {} sealed again under key {new_id} in {secs:.1} s ({:.0} rows/s); use --data-key-file {} from now on",
        summary.rows,
        summary.resealed,
        summary.rows as f64 / secs.max(1e-9),
        new_file.display()
    );
    Ok(())
}
