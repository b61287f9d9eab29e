//! `fedml login` and `fedml storage …`: each command is one SDK call.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use fedml_client::{CancellationToken, DownloadOptions, Target, UploadOptions};

use crate::Outcome;
use crate::output::say;
use crate::output::{self, Format, emit, human_size, message, metadata_table, quoted, table, visible};

#[derive(Args)]
pub struct LoginArgs {
    /// The API key the server admin gave you.
    api_key: String,
    /// The server URL (default: FEDML_SERVER_URL, the saved one, or http://127.0.0.1:8780).
    #[arg(long)]
    server: Option<String>,
}

/// Options every storage command takes.
#[derive(Args, Clone)]
pub struct Common {
    /// API key (default: FEDML_API_KEY, then the one saved by `fedml login`).
    #[arg(short = 'k', long = "api_key", visible_alias = "api-key")]
    api_key: Option<String>,
    /// Server URL (default: FEDML_SERVER_URL, then the one saved by `fedml login`).
    #[arg(long)]
    server: Option<String>,
    /// The namespace to work in: an organisation's (`fedml org list` lists yours) or a user's
    /// [default: your own].
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

impl Common {
    pub fn target(&self, cancel: Option<CancellationToken>) -> Target {
        Target {
            api_key: self.api_key.clone(),
            server: self.server.clone(),
            parallel: None,
            cancel,
            namespace: self.namespace.clone(),
        }
    }

    pub fn output(&self) -> Format {
        self.output
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

/// Options of the commands that move bytes.
#[derive(Args, Clone, Copy)]
pub struct TransferArgs {
    /// Parts or ranges moved at once (default: 4 for an upload, 16 for a download).
    #[arg(long)]
    parallel: Option<usize>,
    /// Do not draw a progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Upload a file or a directory.
    Upload {
        /// The file or directory to upload.
        data_path: PathBuf,
        /// Name to store it under (default: the file or directory name).
        #[arg(short = 'n', long)]
        name: Option<String>,
        /// A description of the data. With --overwrite, left out keeps the description of the
        /// version replaced; -d "" clears it.
        #[arg(short = 'd', long)]
        description: Option<String>,
        /// User-defined metadata as a JSON object of strings, e.g. -um '{"k": "v"}'. With
        /// --overwrite, left out keeps the metadata of the version replaced; -um '{}' clears it.
        #[arg(long = "user_metadata", visible_alias = "user-metadata")]
        user_metadata: Option<String>,
        /// Comma-separated tags. With --overwrite, left out keeps the tags of the version
        /// replaced; -t "" clears them.
        #[arg(short = 't', long)]
        tags: Option<String>,
        /// Storage service, as the server names them (`fedml login` and the server's start-up log list them).
        #[arg(short = 's', long, default_value = fedml_client::DEFAULT_SERVICE)]
        service: String,
        /// Store a new version of an existing object of the same name (atomically); the earlier
        /// versions stay, as the server's retention keeps them (`fedml storage versions NAME`).
        /// The new version keeps the description, tags and metadata not given again.
        #[arg(long)]
        overwrite: bool,
        /// Store a file as one blob, as before the content store, instead of content-defined
        /// chunks (which send only what the server does not hold yet and resume an interrupted
        /// upload when the same command runs again).
        #[arg(long)]
        no_dedup: bool,
        #[command(flatten)]
        transfer: TransferArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Download stored data into a directory, under the last part of its name (DEST/x.bin for
    /// team/data/x.bin).
    Download {
        /// The name the data was stored under.
        data_name: String,
        /// Directory to download into (default: the current directory).
        #[arg(short = 'd', long = "dest_path", visible_alias = "dest-path")]
        dest_path: Option<PathBuf>,
        /// Storage service.
        #[arg(short = 's', long)]
        service: Option<String>,
        /// Replace whatever is at DEST/LAST, LAST the name's last part (a directory, a link, …).
        /// Without it, only a regular file (for a file object) or an earlier download of the same
        /// directory object is replaced; anything else is refused and left untouched.
        #[arg(long)]
        replace: bool,
        /// Of a directory object, download only this file or folder (a path inside it, as
        /// `fedml storage ls` shows it), into DEST/LAST/PATH; repeatable.
        #[arg(long = "path", value_name = "PATH")]
        paths: Vec<String>,
        /// Of a directory object, download only the files matching this glob (`*` within a
        /// folder, `**` across folders, `?` one character), e.g. 'train/*.parquet'; repeatable.
        #[arg(long = "include", value_name = "GLOB")]
        include: Vec<String>,
        /// Which version (`fedml storage versions NAME` lists them) [default: the latest].
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        #[command(flatten)]
        transfer: TransferArgs,
        #[command(flatten)]
        common: Common,
    },
    /// List the files of a directory object (path, size, CRC-32), without downloading it.
    Ls {
        data_name: String,
        /// The folder inside the object to list (default: its top).
        path: Option<String>,
        /// Everything below the folder, not only what is directly in it.
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Show at most N entries, and how to ask for the next ones.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Start after this path (what the previous page said to pass).
        #[arg(long, value_name = "PATH")]
        after: Option<String>,
        #[arg(short = 's', long)]
        service: Option<String>,
        /// Which version (`fedml storage versions NAME` lists them) [default: the latest].
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// Delete stored data: the name with all its versions, or with --version one version.
    Delete {
        data_name: String,
        #[arg(short = 's', long)]
        service: Option<String>,
        /// Delete only this version. Deleting the latest makes the newest earlier version the
        /// latest again; deleting the only version deletes the name.
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// List your stored data (or, with --namespace, an organisation's).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Show what your data takes (or, with --namespace, an organisation's): the bytes of the
    /// objects, and the bytes the server really stores for them (data shared by versions and
    /// copies counted once).
    Usage {
        #[command(flatten)]
        common: Common,
    },
    /// Show the metadata of stored data.
    GetMetadata {
        data_name: String,
        /// Which version (`fedml storage versions NAME` lists them) [default: the latest].
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// Show the user-defined metadata of stored data.
    GetUserMetadata {
        data_name: String,
        /// Which version (`fedml storage versions NAME` lists them) [default: the latest].
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// List the versions of stored data the server keeps, newest first (an upload with
    /// --overwrite adds one).
    Versions {
        data_name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Compare two versions: the files added, removed and changed, and the bytes they share.
    Diff {
        data_name: String,
        /// The older version.
        #[arg(long, value_name = "N")]
        from: u64,
        /// The newer version [default: the latest].
        #[arg(long, value_name = "N")]
        to: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
    /// Make a link that downloads stored data with no key (a plain GET, ranges too; a browser
    /// shows a page with a download button). It is printed only now.
    Share {
        data_name: String,
        /// Share this version only [default: whatever version is the latest when the link is used].
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        /// How long the link works: a number and s, m, h or d (e.g. 12h, 7d) [default and at most:
        /// the server's maximum, 30 days unless configured].
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List the live share links of a namespace: what each shares, until when, and how many
    /// times it was used.
    Shares {
        #[command(flatten)]
        common: Common,
    },
    /// End a share link at once (its id, as `fedml storage shares` lists it).
    Unshare {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Show the S3 credentials of your API key: an access key id, its secret and the server's S3
    /// endpoint, with exactly the key's rights (its namespaces are the buckets); they stop
    /// working when the key is revoked.
    S3Credentials {
        #[command(flatten)]
        common: Common,
    },
    /// Change the description, tags or user-defined metadata of stored data (not its bytes);
    /// what you leave out stays as it is.
    #[command(visible_alias = "update")]
    Edit {
        data_name: String,
        /// The new description ("" clears it).
        #[arg(short = 'd', long)]
        description: Option<String>,
        /// The new tags, comma-separated ("" clears them).
        #[arg(short = 't', long)]
        tags: Option<String>,
        /// The new user-defined metadata, a JSON object of strings ('{}' clears it).
        #[arg(long = "user_metadata", visible_alias = "user-metadata")]
        user_metadata: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

pub fn login(args: LoginArgs) -> Outcome {
    let response = fedml_client::fedml_login_to(&args.api_key, args.server.as_deref());
    if response.is_success() {
        let path = fedml_client::config::config_path().map(|p| p.display().to_string()).unwrap_or_default();
        say!("{} (saved in {})", visible(&response.message), visible(&path));
    } else {
        eprintln!("{}", message(response.code, &response.message));
    }
    output::outcome(response.code)
}

pub fn logout() -> Outcome {
    let mut saved = match fedml_client::config::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", message(e.code(), e.message()));
            return output::outcome(e.code());
        }
    };
    saved.api_key = None;
    match fedml_client::config::save(&saved) {
        Ok(path) => {
            say!("the saved API key is removed from {}", visible(&path.display().to_string()));
            Outcome::Success
        }
        Err(e) => {
            eprintln!("{}", message(e.code(), e.message()));
            output::outcome(e.code())
        }
    }
}

/// A token cancelled by Ctrl-C, so a transfer stops cleanly instead of dying half-way.
fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: cancelling…");
                cancel.cancel();
            }
        });
    });
    token
}

fn progress_wanted(no_progress: bool, format: Format) -> bool {
    !no_progress && format == Format::Table
}

/// The user metadata a flag gives as JSON, or the FAILURE that says what is wrong with it.
fn metadata_arg(
    text: Option<&str>,
    flag: &str,
    output: Format,
) -> Result<Option<std::collections::BTreeMap<String, String>>, Outcome> {
    text.map(fedml_proto::rules::parse_metadata_json).transpose().map_err(|message| {
        let r: fedml_client::FedMLResponse<()> = fedml_client::FedMLResponse {
            code: fedml_client::ResponseCode::Failure,
            message: format!("{flag}: {message}"),
            data: None,
        };
        emit(output, &r, |_| {})
    })
}

pub fn run(command: StorageCommand) -> Outcome {
    match command {
        StorageCommand::Upload {
            data_path,
            name,
            description,
            user_metadata,
            tags,
            service,
            overwrite,
            no_dedup,
            transfer: TransferArgs { parallel, no_progress },
            common,
        } => {
            let metadata = match metadata_arg(user_metadata.as_deref(), "-um/--user_metadata", common.output) {
                Ok(m) => m,
                Err(refused) => return refused,
            };
            let mut target = common.target(Some(ctrl_c_token()));
            target.parallel = parallel;
            let options = UploadOptions {
                target,
                service,
                name,
                description,
                metadata,
                tags: tags.as_deref().map(fedml_proto::rules::parse_tag_list),
                overwrite,
                show_progress: progress_wanted(no_progress, common.output),
                out_progress_to_err: true,
                progress_desc: None,
                progress_bar: None,
                dedup: !no_dedup,
            };
            let response = fedml_client::upload_with(&data_path, &options);
            emit(common.output, &response, |done| {
                say!(
                    "Uploaded {} ({}, {}) to service {}",
                    quoted(&done.object.data_name),
                    done.object.kind.as_str(),
                    human_size(done.object.size),
                    visible(&done.object.service)
                );
                if let Some(moved) = &done.transfer {
                    say!("  {}", transfer_summary(moved));
                }
                say!("  checksum {}", visible(&done.object.checksum));
                say!("  url      {}", visible(&done.url));
            })
        }
        StorageCommand::Download {
            data_name,
            dest_path,
            service,
            replace,
            paths,
            include,
            version,
            transfer: TransferArgs { parallel, no_progress },
            common,
        } => {
            let mut target = common.target(Some(ctrl_c_token()));
            target.parallel = parallel;
            let options = DownloadOptions {
                target,
                service,
                version,
                dest_path,
                replace,
                show_progress: progress_wanted(no_progress, common.output),
                out_progress_to_err: true,
                progress_desc: None,
                progress_bar: None,
            };
            if !paths.is_empty() || !include.is_empty() {
                let wanted: Vec<String> = paths.into_iter().chain(include).collect();
                let response = fedml_client::download_files_with(&data_name, &wanted, &options);
                return emit(common.output, &response, |written| {
                    let files = if written.len() == 1 { "file" } else { "files" };
                    say!("Downloaded {} {files} of {}", written.len(), quoted(&data_name));
                    for path in written {
                        say!("  {}", visible(&path.display().to_string()));
                    }
                });
            }
            let response = fedml_client::download_with(&data_name, &options);
            emit(common.output, &response, |path| {
                say!("Downloaded {} to {}", quoted(&data_name), visible(&path.display().to_string()))
            })
        }
        StorageCommand::Ls { data_name, path, recursive, limit, after, service, version, common } => {
            let query = fedml_client::FilesQuery {
                path: path.unwrap_or_default(),
                recursive,
                after,
                limit: limit.map(|n| n.max(1)),
                service,
                version,
            };
            let target = common.target(None);
            if query.limit.is_some() || query.after.is_some() {
                let response = fedml_client::list_object_files_page_with(&data_name, &query, &target);
                return emit(common.output, &response, |page| {
                    print_entries(&data_name, &page.entries);
                    if let Some(next) = &page.next {
                        say!("More: add --after {}", quoted(next));
                    }
                });
            }
            let response = fedml_client::list_object_files_with(
                &data_name,
                &query.path,
                recursive,
                query.service.as_deref(),
                version,
                &target,
            );
            emit(common.output, &response, |entries| print_entries(&data_name, entries))
        }
        StorageCommand::Delete { data_name, service, version: None, common } => {
            let response = fedml_client::delete_with(&data_name, service.as_deref(), &common.target(None));
            emit(common.output, &response, |_| say!("Deleted {} with all its versions", quoted(&data_name)))
        }
        StorageCommand::Delete { data_name, service, version: Some(version), common } => {
            crate::versions::delete(&data_name, version, service.as_deref(), &common.target(None), common.output)
        }
        StorageCommand::Versions { data_name, common } => {
            crate::versions::list(&data_name, &common.target(None), common.output)
        }
        StorageCommand::Diff { data_name, from, to, common } => {
            crate::versions::diff(&data_name, from, to, &common.target(None), common.output)
        }
        StorageCommand::List { common } => {
            let response = fedml_client::list_storage_objects_with(&common.target(None));
            emit(common.output, &response, |objects| {
                if objects.is_empty() {
                    match &common.namespace {
                        Some(ns) => say!(
                            "No data stored in {} yet; `fedml storage upload PATH --namespace {}` stores some.",
                            quoted(ns),
                            visible(ns)
                        ),
                        None => say!("No data stored yet; `fedml storage upload PATH` stores some."),
                    }
                    return;
                }
                let mut t = table(&["Data Name", "Kind", "Size", "Description", "Tags", "Created At", "Updated At"]);
                for o in objects {
                    t.row([
                        o.data_name.clone(),
                        o.kind.as_str().to_string(),
                        human_size(o.size),
                        o.description.clone(),
                        o.tags.join(", "),
                        o.created_at.clone(),
                        o.updated_at.clone(),
                    ]);
                }
                say!("{t}");
            })
        }
        StorageCommand::Usage { common } => {
            let response = fedml_client::storage_usage_with(&common.target(None));
            emit(common.output, &response, |u| say!("{}", usage_table(std::slice::from_ref(u))))
        }
        StorageCommand::GetMetadata { data_name, version, common } => {
            let response = fedml_client::get_storage_metadata_with(&data_name, version, &common.target(None));
            emit(common.output, &response, |meta| say!("{}", metadata_table(meta)))
        }
        StorageCommand::Edit { data_name, description, tags, user_metadata, common } => {
            let metadata = match metadata_arg(user_metadata.as_deref(), "--user_metadata", common.output) {
                Ok(m) => m,
                Err(refused) => return refused,
            };
            let edit = fedml_client::EditObject {
                description,
                tags: tags.as_deref().map(fedml_proto::rules::parse_tag_list),
                user_metadata: metadata,
            };
            let response = fedml_client::update_storage_metadata_with(&data_name, &edit, &common.target(None));
            emit(common.output, &response, |meta| {
                say!("Updated {}", quoted(&data_name));
                say!("{}", metadata_table(meta));
            })
        }
        StorageCommand::Share { data_name, version, expires, common } => {
            crate::share::share(&data_name, version, expires.as_deref(), &common)
        }
        StorageCommand::Shares { common } => crate::share::list(&common),
        StorageCommand::S3Credentials { common } => crate::s3::credentials(&common),
        StorageCommand::Unshare { id, common } => crate::share::unshare(&id, &common),
        StorageCommand::GetUserMetadata { data_name, version, common } => {
            let response =
                fedml_client::get_storage_user_defined_metadata_with(&data_name, version, &common.target(None));
            emit(common.output, &response, |map| {
                if map.is_empty() {
                    say!("{} has no user-defined metadata.", quoted(&data_name));
                    return;
                }
                let mut t = table(&["Key", "Value"]);
                for (k, v) in map {
                    t.row([k, v]);
                }
                say!("{t}");
            })
        }
    }
}

/// The table of `fedml storage ls`.
fn print_entries(data_name: &str, entries: &[fedml_client::ObjectEntry]) {
    if entries.is_empty() {
        say!("{} holds nothing there.", quoted(data_name));
        return;
    }
    let mut t = table(&["Path", "Size", "CRC-32"]);
    for e in entries {
        let folder = e.kind == fedml_proto::ObjectKind::Directory;
        let shown = if folder { format!("{}/", e.path) } else { e.path.clone() };
        let size = if folder { String::new() } else { human_size(e.size) };
        let crc = if folder { String::new() } else { e.crc32.clone() };
        t.row([shown, size, crc]);
    }
    say!("{t}");
}

/// `sent 10.4 MiB of 1.00 GiB (99.0% already stored)`, and whether it resumed.
fn transfer_summary(moved: &fedml_proto::content::TransferStats) -> String {
    let mut line = format!("sent {} of {}", human_size(moved.sent_bytes), human_size(moved.read_bytes));
    if moved.stored_bytes > 0 && moved.read_bytes > 0 {
        let share = moved.stored_bytes as f64 * 100.0 / moved.read_bytes as f64;
        line.push_str(&format!(" ({share:.1}% already stored)"));
    }
    if moved.resumed {
        line.push_str("; resumed an interrupted upload");
    }
    line
}

/// One row per namespace (a user's own or an organisation's): objects, their bytes, the bytes
/// stored, and what sharing saves.
pub fn usage_table(usages: &[fedml_proto::StorageUsage]) -> crate::output::TextTable {
    let mut t = table(&["Namespace", "Objects", "Size", "Stored", "Saved"]);
    for u in usages {
        let saved = u.logical_bytes.saturating_sub(u.stored_bytes);
        let share = if u.logical_bytes > 0 { saved as f64 * 100.0 / u.logical_bytes as f64 } else { 0.0 };
        t.row([
            u.user.clone(),
            u.objects.to_string(),
            human_size(u.logical_bytes),
            human_size(u.stored_bytes),
            format!("{} ({share:.1}%)", human_size(saved)),
        ]);
    }
    t
}
