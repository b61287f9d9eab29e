//! `fedml admin backup` and `fedml admin restore` for the embedded SQLite catalogue.
//!
//! A backup directory (mode 0700: the catalogue holds the URL-signing key) holds
//! `catalogue.db` (SQLite's online backup of the live file, one consistent snapshot taken while
//! servers keep writing, as a self-contained file without WAL), `blobs.jsonl` (one line per
//! blob the copy references: service, blob key, size, checksum, owner, object; and each pack
//! that only an upload under way holds, which its resume relies on, with the session's id) and
//! `manifest.json` (when, schema version, server version, counts). On PostgreSQL the catalogue
//! is copied by `pg_dump`; `blobs_only` writes the blob list and the manifest from the live
//! catalogue.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use super::lock::DataDirLock;
use super::{OpsError, io_error};
use crate::catalogue::{
    BlobReference, Catalogue, SCHEMA_VERSION, object_counts_of, referenced_blobs_of, schema_version_of,
    session_pack_references, session_packs_of,
};

pub const CATALOGUE_FILE: &str = "catalogue.db";
pub const BLOBS_FILE: &str = "blobs.jsonl";
pub const MANIFEST_FILE: &str = "manifest.json";
/// Where the operator puts `pg_dump`'s output in a PostgreSQL backup directory.
pub const PG_DUMP_FILE: &str = "catalogue.dump";

/// What a backup directory says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// RFC 3339, when the snapshot was taken.
    pub created_at: String,
    pub schema_version: i64,
    pub server_version: String,
    /// `sqlite` (the catalogue is `catalogue.db`) or `postgres` (the blob list only).
    pub backend: String,
    /// Objects (the latest version of each name).
    pub objects: u64,
    /// Earlier versions kept.
    #[serde(default)]
    pub versions: u64,
    /// The blobs and packs `blobs.jsonl` lists, and their bytes.
    #[serde(default)]
    pub blobs: u64,
    pub bytes: u64,
}

/// The `pg_dump` a PostgreSQL catalogue needs, for the operator.
pub fn pg_dump_advice(dest: &Path) -> String {
    format!(
        "the catalogue is on PostgreSQL: copy it with `pg_dump --format=custom --no-owner --file {dest}/{PG_DUMP_FILE} <database URL>` \
         (it reads one consistent snapshot while servers run; the role needs SELECT on every table of the \
         catalogue: its owner, or a role granted pg_read_all_data), and write the blob list with \
         `fedml admin backup --blobs-only {dest}` first",
        dest = dest.display()
    )
}

/// Makes `dest` a new private directory (mode 0700); refuses one that holds anything.
fn prepare_dest(dest: &Path) -> Result<(), OpsError> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(OpsError::Refused(format!(
                    "{} already holds files; back up into a new or empty directory",
                    dest.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dest).map_err(io_error(dest))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(OpsError::Refused(format!("{} is a file; back up into a directory", dest.display())));
        }
        Err(e) => return Err(io_error(dest)(e)),
    }
    set_mode(dest, 0o700)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), OpsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_error(path))?;
    }
    let _ = mode;
    Ok(())
}

/// Writes `contents` to `dir/name` (mode 0600), durably.
fn write_file(dir: &Path, name: &str, contents: &[u8]) -> Result<(), OpsError> {
    let path = dir.join(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io_error(&path))?;
    file.write_all(contents).map_err(io_error(&path))?;
    file.sync_all().map_err(io_error(&path))
}

fn sync_dir(dir: &Path) -> Result<(), OpsError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

fn blob_lines(blobs: &[BlobReference]) -> Vec<u8> {
    let mut out = Vec::new();
    for blob in blobs {
        // A struct of strings and numbers always serialises.
        if let Ok(line) = serde_json::to_string(blob) {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

fn manifest(backend: &str, schema_version: i64, (objects, versions): (u64, u64), blobs: &[BlobReference]) -> Manifest {
    Manifest {
        created_at: crate::time::rfc3339(crate::time::now_ms()),
        schema_version,
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: backend.to_string(),
        objects,
        versions,
        blobs: blobs.len() as u64,
        bytes: blobs.iter().map(|b| b.size).sum(),
    }
}

fn finish(dest: &Path, manifest: &Manifest, blobs: &[BlobReference]) -> Result<(), OpsError> {
    write_file(dest, BLOBS_FILE, &blob_lines(blobs))?;
    let text = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    write_file(dest, MANIFEST_FILE, &text)?;
    sync_dir(dest)
}

/// Backs up the SQLite catalogue at `db_path` into the new directory `dest`, while servers may
/// be writing to it: one step of SQLite's online backup copies every page inside one read
/// transaction, so the copy is the catalogue as of one instant (writers are not held up: in
/// WAL mode a reader does not block them).
pub fn backup_sqlite(db_path: &Path, dest: &Path) -> Result<Manifest, OpsError> {
    if !db_path.is_file() {
        return Err(OpsError::Refused(format!(
            "no catalogue at {}; pass the server's --data-dir (or --database)",
            db_path.display()
        )));
    }
    prepare_dest(dest)?;
    let partial = dest.join(format!("{CATALOGUE_FILE}.partial"));
    let source =
        Connection::open_with_flags(db_path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    source.busy_timeout(Duration::from_secs(10))?;
    source.pragma_update(None, "query_only", true)?;
    let mut copy = Connection::open(&partial)?;
    set_mode(&partial, 0o600)?;
    {
        let backup = Backup::new(&source, &mut copy)?;
        let started = std::time::Instant::now();
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if started.elapsed() < Duration::from_secs(60) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(OpsError::Refused(format!(
                        "the catalogue {} stayed locked for a minute; try again",
                        db_path.display()
                    )));
                }
                _ => {}
            }
        }
    }
    drop(source);
    // A self-contained file: no WAL beside it, readable by any SQLite.
    copy.pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get::<_, String>(0))?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if check != "ok" {
        return Err(OpsError::Refused(format!(
            "the copy fails SQLite's integrity check ({check}); the live catalogue may be damaged"
        )));
    }
    let schema_version = schema_version_of(&copy)?;
    let mut blobs = referenced_blobs_of(&copy)?;
    blobs.extend(session_pack_references(&blobs, &session_packs_of(&copy)?));
    let counts = object_counts_of(&copy)?;
    copy.close().map_err(|(_, e)| OpsError::Sqlite(e))?;
    std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io_error(&partial))?;
    let target = dest.join(CATALOGUE_FILE);
    std::fs::rename(&partial, &target).map_err(io_error(&target))?;
    let manifest = manifest("sqlite", schema_version, counts, &blobs);
    finish(dest, &manifest, &blobs)?;
    Ok(manifest)
}

/// The blob list and manifest of a live catalogue (PostgreSQL's, whose copy is `pg_dump`'s).
pub async fn backup_blob_list(catalogue: &Catalogue, dest: &Path) -> Result<Manifest, OpsError> {
    prepare_dest(dest)?;
    let schema_version = catalogue.schema_version().await?;
    // The sessions' packs first: one committed meanwhile is then among the references read after.
    let pins = catalogue.session_packs().await?;
    let mut blobs = catalogue.referenced_blobs().await?;
    blobs.extend(session_pack_references(&blobs, &pins));
    let counts = catalogue.object_counts().await?;
    let backend = if catalogue.is_postgres() { "postgres" } else { "sqlite" };
    let manifest = manifest(backend, schema_version, counts, &blobs);
    finish(dest, &manifest, &blobs)?;
    Ok(manifest)
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub schema_version: i64,
    pub objects: u64,
    /// Where the catalogue that was there before now is (`--force`).
    pub kept_aside: Option<PathBuf>,
    /// Held until the caller has checked the restored catalogue: no server starts meanwhile.
    pub lock: DataDirLock,
}

/// Puts the backup in `src` back as the catalogue of `data_dir`. Refuses while a server runs on
/// `data_dir`, and when a catalogue is there already unless `force` (which renames the old one
/// to `catalogue.db.before-restore-<ms>`, with its WAL files).
pub fn restore_sqlite(src: &Path, data_dir: &Path, force: bool) -> Result<Restored, OpsError> {
    let source_path = src.join(CATALOGUE_FILE);
    if !source_path.is_file() {
        let hint = if src.join(PG_DUMP_FILE).exists() {
            format!(
                "{} is a PostgreSQL backup: restore it with `pg_restore --no-owner --dbname <database URL> {}` into an empty database, then run `fedml admin fsck`",
                src.display(),
                src.join(PG_DUMP_FILE).display()
            )
        } else {
            format!("no {CATALOGUE_FILE} in {}; name a directory `fedml admin backup` wrote", src.display())
        };
        return Err(OpsError::Refused(hint));
    }
    let (schema_version, objects) = {
        let source = Connection::open_with_flags(&source_path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let check: String = source
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .map_err(|e| OpsError::Refused(format!("{} is not a readable catalogue ({e})", source_path.display())))?;
        if check != "ok" {
            return Err(OpsError::Refused(format!(
                "{} fails SQLite's integrity check ({check}); restore another backup",
                source_path.display()
            )));
        }
        let version = schema_version_of(&source)
            .map_err(|e| OpsError::Refused(format!("{} is not a FedML catalogue ({e})", source_path.display())))?;
        if !(1..=SCHEMA_VERSION).contains(&version) {
            return Err(OpsError::Refused(format!(
                "{} is at schema version {version}; this fedml knows versions 1 to {SCHEMA_VERSION}{}",
                source_path.display(),
                if version > SCHEMA_VERSION { ": restore it with a newer fedml" } else { "" }
            )));
        }
        (version, object_counts_of(&source)?.0)
    };
    if !data_dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(data_dir).map_err(io_error(data_dir))?;
    }
    if std::fs::canonicalize(src).ok() == std::fs::canonicalize(data_dir).ok() {
        return Err(OpsError::Refused(format!(
            "{} is the data directory itself; restore from a directory `fedml admin backup` wrote",
            src.display()
        )));
    }
    let lock = DataDirLock::exclusive(data_dir)?;
    let target = data_dir.join(CATALOGUE_FILE);
    let companions = |base: &Path| -> Vec<PathBuf> {
        ["", "-wal", "-shm"].iter().map(|s| PathBuf::from(format!("{}{s}", base.display()))).collect()
    };
    let present: Vec<PathBuf> = companions(&target).into_iter().filter(|p| p.exists()).collect();
    if !present.is_empty() && !force {
        return Err(OpsError::Refused(format!(
            "{} already holds a catalogue; pass --force to restore over it (the current one is kept as {CATALOGUE_FILE}.before-restore-<time>)",
            data_dir.display()
        )));
    }
    // The copy is made (and durable) before anything already there is touched.
    let partial = data_dir.join(format!("{CATALOGUE_FILE}.restoring"));
    let copied = (|| {
        std::fs::copy(&source_path, &partial).map_err(io_error(&partial))?;
        set_mode(&partial, 0o600)?;
        std::fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io_error(&partial))
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let mut kept_aside = None;
    if !present.is_empty() {
        let aside = data_dir.join(format!("{CATALOGUE_FILE}.before-restore-{}", crate::time::now_ms()));
        let mut moved = Vec::new();
        for (from, to) in companions(&target).into_iter().zip(companions(&aside)) {
            if !from.exists() {
                continue;
            }
            if let Err(e) = std::fs::rename(&from, &to) {
                for (from, to) in moved {
                    let _ = std::fs::rename(to, from);
                }
                let _ = std::fs::remove_file(&partial);
                return Err(io_error(&from)(e));
            }
            moved.push((from, to));
        }
        kept_aside = Some(aside);
    }
    let installed = std::fs::rename(&partial, &target).map_err(io_error(&target)).and_then(|()| sync_dir(data_dir));
    if let Err(e) = installed {
        // Nothing half-done stays: the catalogue that was there comes back.
        let _ = std::fs::remove_file(&partial);
        if let Some(aside) = &kept_aside {
            for (from, to) in companions(aside).into_iter().zip(companions(&target)) {
                if from.exists() {
                    let _ = std::fs::rename(&from, &to);
                }
            }
        }
        return Err(e);
    }
    Ok(Restored { schema_version, objects, kept_aside, lock })
}
