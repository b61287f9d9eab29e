//! `fedml admin backup`, `restore` and `fsck`: the catalogue copied and put back, and checked
//! against the blob stores. They read the server's configuration (`--config`, `--service`) to
//! reach the same stores.

use std::path::{Path, PathBuf};

use clap::Args;
use fedml_platform::catalogue::Catalogue;
use fedml_platform::maintenance::OpsError;
use fedml_platform::maintenance::backup::{self, Manifest};
use fedml_platform::maintenance::fsck::{self, FsckReport, Problem, Unreferenced};
use fedml_server::{ServerConfig, redact_url};
use serde_json::json;

use crate::Outcome;
use crate::output::say;
use crate::output::{Format, fail, human_size, json_pretty, message, table, visible};

/// Where the server's services are configured (as for `fedml server`).
#[derive(Args)]
pub struct StoreArgs {
    /// The server's TOML configuration file (its data directory, database and services).
    #[arg(long, env = "FEDML_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// A storage service as `fedml server` takes it, NAME=local:PATH or NAME=s3://BUCKET…;
    /// repeat for several [default: the file's, else R2=local:<data-dir>/blobs].
    #[arg(long = "service", value_name = "NAME=BACKEND")]
    services: Vec<String>,
}

#[derive(Args)]
pub struct BackupArgs {
    /// A new (or empty) directory for the backup; created mode 0700.
    dest: PathBuf,
    /// Write only the blob list and the manifest (PostgreSQL: the catalogue itself is copied by
    /// `pg_dump`).
    #[arg(long)]
    blobs_only: bool,
    /// The server's configuration (the services are not needed for a backup; the same flags
    /// as for `fsck` are accepted).
    #[command(flatten)]
    stores: StoreArgs,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A directory `fedml admin backup` wrote.
    src: PathBuf,
    /// Restore over an existing catalogue (which is kept aside as catalogue.db.before-restore-<time>).
    #[arg(long)]
    force: bool,
    /// Also read every byte in the check that follows the restore (as `fsck --deep`).
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    stores: StoreArgs,
}

#[derive(Args)]
pub struct FsckArgs {
    /// Also read every byte: hash each blob (BLAKE3) and each packed file assembled from its
    /// packs, compare with the recorded checksum, and check each pack's chunks against its index.
    #[arg(long)]
    deep: bool,
    #[command(flatten)]
    stores: StoreArgs,
}

/// Where `fedml admin` was told the catalogue is.
pub struct Location {
    pub format: Format,
    pub data_dir: Option<PathBuf>,
    pub database: Option<String>,
}

fn ops_error(format: Format, e: OpsError) -> Outcome {
    match e {
        OpsError::Refused(m) => fail(format, "FAILURE", &m),
        other => fail(format, "ERROR", &other.to_string()),
    }
}

fn config(at: &Location, file: Option<PathBuf>, services: Vec<String>) -> Result<ServerConfig, String> {
    crate::server::admin_config(file, at.data_dir.clone(), at.database.clone(), services)
}

/// The file of a `sqlite:` URL, `None` for another database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    Some(PathBuf::from(path))
}

fn runtime(format: Format) -> Result<tokio::runtime::Runtime, Outcome> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format, "ERROR", &format!("cannot start the runtime: {e}")))
}

pub fn backup(at: Location, args: BackupArgs) -> Outcome {
    let format = at.format;
    let config = match config(&at, args.stores.config, args.stores.services) {
        Ok(c) => c,
        Err(m) => return fail(format, "FAILURE", &m),
    };
    let url = config.database_url();
    let written = match (sqlite_file(&url), args.blobs_only) {
        (Some(file), false) => backup::backup_sqlite(&file, &args.dest),
        (None, false) => return fail(format, "FAILURE", &backup::pg_dump_advice(&args.dest)),
        (_, true) => {
            let rt = match runtime(format) {
                Ok(rt) => rt,
                Err(outcome) => return outcome,
            };
            rt.block_on(async {
                let catalogue = Catalogue::open(&url).await?;
                backup::backup_blob_list(&catalogue, &args.dest).await
            })
        }
    };
    match written {
        Ok(manifest) => {
            let text = format!(
                "backed up {} into {} ({} objects, {}, schema version {}); it holds the URL-signing key: keep it private",
                if args.blobs_only { "the blob list" } else { "the catalogue" },
                args.dest.display(),
                manifest.objects,
                human_size(manifest.bytes),
                manifest.schema_version
            );
            success(format, &text, json!(manifest_json(&manifest, &args.dest)))
        }
        Err(e) => ops_error(format, e),
    }
}

fn manifest_json(manifest: &Manifest, dest: &Path) -> serde_json::Value {
    json!({"dest": dest.display().to_string(), "manifest": manifest})
}

fn success(format: Format, text: &str, data: serde_json::Value) -> Outcome {
    if format == Format::Json {
        say!("{}", json_pretty(&json!({"code": "SUCCESS", "message": text, "data": data})));
    } else {
        say!("{}", visible(text));
    }
    Outcome::Success
}

pub fn restore(at: Location, args: RestoreArgs) -> Outcome {
    let format = at.format;
    let config = match config(&at, args.stores.config, args.stores.services) {
        Ok(c) => c,
        Err(m) => return fail(format, "FAILURE", &m),
    };
    let url = config.database_url();
    let default_url = format!("sqlite://{}", config.data_dir.join(backup::CATALOGUE_FILE).display());
    if sqlite_file(&url).is_none() {
        return fail(
            format,
            "FAILURE",
            &format!(
                "the catalogue is on PostgreSQL ({}): restore with `pg_restore --no-owner --dbname <database URL> {}` \
                 into an empty database, then run `fedml admin fsck`",
                redact_url(&url),
                args.src.join(backup::PG_DUMP_FILE).display()
            ),
        );
    }
    if url != default_url {
        return fail(
            format,
            "FAILURE",
            "restore puts the catalogue at <data-dir>/catalogue.db: name the server's data directory with --data-dir instead of --database",
        );
    }
    let restored = match backup::restore_sqlite(&args.src, &config.data_dir, args.force) {
        Ok(r) => r,
        Err(e) => return ops_error(format, e),
    };
    let mut text = format!(
        "restored the catalogue of {} into {} (schema version {}, {} objects)",
        args.src.display(),
        config.data_dir.display(),
        restored.schema_version,
        restored.objects
    );
    if let Some(aside) = &restored.kept_aside {
        text.push_str(&format!("; the previous catalogue is now {}", aside.display()));
    }
    // The check runs before any server may start on the restored catalogue.
    let report = match run_fsck(format, &config, &url, args.deep) {
        Ok(report) => report,
        Err(outcome) => return outcome,
    };
    drop(restored.lock);
    let done = json!({
        "src": args.src.display().to_string(),
        "data_dir": config.data_dir.display().to_string(),
        "schema_version": restored.schema_version,
        "objects": restored.objects,
        "kept_aside": restored.kept_aside.map(|p| p.display().to_string()),
    });
    report_fsck(format, &report, Some((&text, done)))
}

/// After a restore, files the restored catalogue does not reference are expected (whatever was
/// uploaded after the backup): they are listed, and only what it references and the stores lack
/// (or hold damaged) makes the restore a FAILURE.
fn restore_is_clean(report: &FsckReport) -> bool {
    report.problems.iter().all(|p| matches!(p, Problem::Unknown { .. }))
}

pub fn fsck(at: Location, args: FsckArgs) -> Outcome {
    let format = at.format;
    let config = match config(&at, args.stores.config, args.stores.services) {
        Ok(c) => c,
        Err(m) => return fail(format, "FAILURE", &m),
    };
    let url = config.database_url();
    if let Some(file) = sqlite_file(&url)
        && !file.is_file()
    {
        return fail(
            format,
            "FAILURE",
            &format!("no catalogue at {}; pass the server's --data-dir, --database or --config", file.display()),
        );
    }
    match run_fsck(format, &config, &url, args.deep) {
        Ok(report) => report_fsck(format, &report, None),
        Err(outcome) => outcome,
    }
}

fn run_fsck(format: Format, config: &ServerConfig, url: &str, deep: bool) -> Result<FsckReport, Outcome> {
    let rt = runtime(format)?;
    rt.block_on(async {
        let catalogue = Catalogue::open(url)
            .await
            .map_err(|e| fail(format, "ERROR", &format!("cannot open the catalogue: {e}")))?;
        let stores = fedml_platform::blobs::open_stores(config.service_specs(), &fedml_platform::blobs::Opening::Read)
            .map_err(|e| fail(format, "FAILURE", &e.to_string()))?;
        fsck::fsck(&catalogue, &stores, deep).await.map_err(|e| fail(format, "ERROR", &e.to_string()))
    })
}

fn summary(report: &FsckReport) -> String {
    let garbage = report.unreferenced.iter().filter(|u| u.status == Unreferenced::Garbage).count();
    let in_flight = report.unreferenced.iter().filter(|u| u.status == Unreferenced::InFlight).count();
    format!(
        "fsck: {} objects and {} earlier versions checked through {} blobs and {} packs ({}), {} live upload sessions, {} files in the stores ({garbage} garbage awaiting the collector, {in_flight} of uploads under way); {}",
        report.objects_checked,
        report.versions_checked,
        report.blobs_checked,
        report.packs_checked,
        if report.deep {
            "sizes and checksums: blobs hashed, packs read against their index, packed files assembled and hashed"
        } else {
            "sizes; --deep also compares checksums"
        },
        report.sessions_checked,
        report.files_listed,
        match report.problems.len() {
            0 => "no problem".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        }
    )
}

/// One table row per problem: what, service, object, blob, detail.
fn problem_row(problem: &Problem) -> [String; 5] {
    let object = |owner: &str, object: &str| format!("{owner}/{object}");
    match problem {
        Problem::Missing { service, owner, object: name, blob_key, size } => {
            ["missing".into(), service.clone(), object(owner, name), blob_key.clone(), format!("recorded size {size}")]
        }
        Problem::WrongSize { service, owner, object: name, blob_key, size, found_size } => [
            "wrong size".into(),
            service.clone(),
            object(owner, name),
            blob_key.clone(),
            format!("recorded {size} bytes, found {found_size}"),
        ],
        Problem::WrongChecksum { service, owner, object: name, blob_key, checksum, found_checksum } => [
            "wrong checksum".into(),
            service.clone(),
            object(owner, name),
            blob_key.clone(),
            format!("recorded {checksum}, found {found_checksum}"),
        ],
        Problem::ServiceNotConfigured { service, objects } => [
            "service not configured".into(),
            service.clone(),
            String::new(),
            String::new(),
            format!("{objects} objects not checked; pass the server's --service or --config"),
        ],
        Problem::StoreUnreadable { service, error } => {
            ["store unreadable".into(), service.clone(), String::new(), String::new(), error.clone()]
        }
        Problem::SessionBytesMissing { service, upload_id, name, state } => [
            "session bytes missing".into(),
            service.clone(),
            name.clone(),
            String::new(),
            format!("upload {upload_id} ({state}) has no bytes in the store"),
        ],
        Problem::SessionPackMissing { service, upload_id, name, blob_key, size, found_size } => [
            "session pack missing".into(),
            service.clone(),
            name.clone(),
            blob_key.clone(),
            format!(
                "upload {upload_id} relies on this pack of {size} bytes; the store holds {}",
                found_size.map(|f| format!("{f} bytes")).unwrap_or_else(|| "nothing".into())
            ),
        ],
        Problem::PackCorrupt { service, owner, blob_key, pack, why, readers } => [
            "corrupt pack".into(),
            service.clone(),
            match readers {
                0 => format!("{owner} (no object reads it)"),
                1 => format!("{owner} (1 object or version reads it)"),
                n => format!("{owner} ({n} objects and versions read it)"),
            },
            blob_key.clone(),
            format!("pack {pack} is not what its id names ({why}); never used again: upload the data it held again"),
        ],
        Problem::UsageDrift { owner, counted, held } => [
            "usage count drift".into(),
            String::new(),
            owner.clone(),
            String::new(),
            format!("{counted} bytes of packs counted against the quota, {held} held"),
        ],
        Problem::Unknown { service, place, key, size } => [
            "unknown file".into(),
            service.clone(),
            String::new(),
            key.clone(),
            format!("{} bytes in {}, referenced by nothing", size, place_name(*place)),
        ],
    }
}

fn place_name(place: fedml_platform::blobs::StoredPlace) -> &'static str {
    match place {
        fedml_platform::blobs::StoredPlace::Blob => "blobs",
        fedml_platform::blobs::StoredPlace::Staging => "staging",
    }
}

/// Prints the report; `restored` is what a restore did before the check (its words and its
/// JSON), if one did: its JSON data is then `{"restore": …, "fsck": report}`.
fn report_fsck(format: Format, report: &FsckReport, restored: Option<(&str, serde_json::Value)>) -> Outcome {
    let mut text = summary(report);
    let clean = if restored.is_some() { restore_is_clean(report) } else { report.is_clean() };
    let data = match restored {
        Some((done, restore)) => {
            text = format!("{done}. {text}");
            json!({"restore": restore, "fsck": report})
        }
        None => json!(report),
    };
    if format == Format::Json {
        let code = if clean { "SUCCESS" } else { "FAILURE" };
        say!("{}", json_pretty(&json!({"code": code, "message": text, "data": data})));
    } else {
        if !report.problems.is_empty() {
            let mut t = table(&["Problem", "Service", "Object", "Blob", "Detail"]);
            for problem in &report.problems {
                t.row(problem_row(problem));
            }
            say!("{t}");
        }
        if !report.unreferenced.is_empty() {
            let mut t = table(&["Unreferenced", "Service", "Where", "Key", "Size"]);
            for file in &report.unreferenced {
                let status = match file.status {
                    Unreferenced::Garbage => "garbage (the collector removes it)",
                    Unreferenced::InFlight => "upload under way",
                    Unreferenced::Unknown => "unknown",
                };
                t.row([
                    status.to_string(),
                    file.service.clone(),
                    place_name(file.place).to_string(),
                    file.key.clone(),
                    file.size.to_string(),
                ]);
            }
            say!("{t}");
        }
        if clean {
            say!("{}", visible(&text));
        } else {
            eprintln!("{}", message("FAILURE", &text));
        }
    }
    if clean { Outcome::Success } else { Outcome::Failure }
}
