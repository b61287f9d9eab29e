//! `fedml admin`: users and API keys, straight on the catalogue the server uses.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use fedml_platform::admin;
use fedml_platform::catalogue::Catalogue;
use serde_json::json;

use crate::Outcome;

mod quota;
use crate::output::say;
use crate::output::{Format, fail, json_line, quoted, table, visible};
use crate::server::default_data_dir;

#[derive(Args)]
pub struct AdminArgs {
    /// The server's data directory.
    #[arg(long, env = "FEDML_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The server's catalogue database URL (default: sqlite://<data-dir>/catalogue.db).
    #[arg(long, env = "FEDML_DATABASE_URL", hide_env_values = true, global = true)]
    database: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Copy the catalogue (SQLite's online backup, while the server runs) and the list of the
    /// blobs it references into a new directory (mode 0700: it holds the URL-signing key).
    Backup(crate::admin_ops::BackupArgs),
    /// Put a backup's catalogue back into a data directory no server is using, then check it
    /// against the blob stores.
    Restore(crate::admin_ops::RestoreArgs),
    /// Check that every blob the catalogue references is in its store with the recorded size
    /// (--deep: checksum), and list what the stores hold that nothing references. Changes nothing.
    Fsck(crate::admin_ops::FsckArgs),
    /// What each user's objects hold, and what the stores really hold for them (data shared by
    /// versions and copies counted once).
    Usage,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create { name: String },
    /// List users.
    List,
    /// Make a user an administrator (the dashboard shows them every user, their keys and
    /// usage); with --off, no longer one.
    Admin {
        name: String,
        #[arg(long)]
        off: bool,
    },
    /// Show a user's quota and usage; with --bytes / --objects, set the limits first.
    Quota {
        name: String,
        /// Bytes the user may store: a size (10GiB, 500MB, 1024), none (no limit) or default (the
        /// server's --quota-bytes).
        #[arg(long, value_name = "SIZE|none|default", allow_hyphen_values = true)]
        bytes: Option<String>,
        /// Objects the user may store: a number, none (no limit) or default (the server's
        /// --quota-objects).
        #[arg(long, value_name = "N|none|default", allow_hyphen_values = true)]
        objects: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key for a user (read-write unless --read-only, every namespace the user may
    /// use unless --namespace); it is shown only once.
    Create {
        /// The user (or give it with --user).
        #[arg(value_name = "USER", required_unless_present = "user", conflicts_with = "user")]
        name: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// The key can list, read and download, not upload or delete.
        #[arg(long)]
        read_only: bool,
        /// Limit the key to this namespace (the user's own or an organisation they belong to);
        /// repeatable. E.g. a training job's key: --namespace vision-team --read-only.
        #[arg(long = "namespace", value_name = "NS")]
        namespaces: Vec<String>,
        /// A note to recognise the key by.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (ids only; secrets are never stored).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a key by its id; it stops working at once.
    Revoke { id: String },
}

fn admin_error(format: Format, e: admin::AdminError) -> Outcome {
    match e {
        admin::AdminError::Refused(m) => fail(format, "FAILURE", &m),
        other => fail(format, "ERROR", &other.to_string()),
    }
}

pub fn run(args: AdminArgs) -> Outcome {
    let format = args.output;
    // Backup, restore and fsck open the catalogue (or not) their own way.
    let at = || crate::admin_ops::Location { format, data_dir: args.data_dir.clone(), database: args.database.clone() };
    let command = match args.command {
        AdminCommand::Backup(a) => return crate::admin_ops::backup(at(), a),
        AdminCommand::Restore(a) => return crate::admin_ops::restore(at(), a),
        AdminCommand::Fsck(a) => return crate::admin_ops::fsck(at(), a),
        other => other,
    };
    let data_dir = args.data_dir.unwrap_or_else(default_data_dir);
    let url = args.database.unwrap_or_else(|| format!("sqlite://{}", data_dir.join("catalogue.db").display()));
    if url.starts_with("sqlite:") && !data_dir.join("catalogue.db").exists() && args_uses_default(&url, &data_dir) {
        return fail(
            format,
            "FAILURE",
            &format!(
                "no catalogue in {}; start `fedml server` once there, or pass --data-dir / --database",
                data_dir.display()
            ),
        );
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format, "ERROR", &e.to_string()),
    };
    runtime.block_on(async move {
        let catalogue = match Catalogue::open(&url).await {
            Ok(c) => c,
            Err(e) => return fail(format, "ERROR", &format!("cannot open the catalogue: {e}")),
        };
        match command {
            AdminCommand::Backup(_) | AdminCommand::Restore(_) | AdminCommand::Fsck(_) => {
                unreachable!("dispatched before the catalogue is opened")
            }
            AdminCommand::User(UserCommand::Create { name }) => match admin::create_user(&catalogue, &name).await {
                Ok(user) => {
                    if format == Format::Json {
                        say!("{}", json_line(&json!({"code": "SUCCESS", "message": "user created", "data": {"name": user.name, "id": user.id}})));
                    } else {
                        say!(
                            "created user {}; give it a key with `fedml admin key create --user {}`",
                            quoted(&user.name),
                            visible(&user.name)
                        );
                    }
                    Outcome::Success
                }
                Err(e) => admin_error(format, e),
            },
            AdminCommand::Usage => match catalogue.storage_usages().await {
                Ok(usages) => {
                    if format == Format::Json {
                        let message = format!("{} users", usages.len());
                        say!("{}", json_line(&json!({"code": "SUCCESS", "message": message, "data": usages})));
                    } else {
                        say!("{}", crate::storage::usage_table(&usages));
                    }
                    Outcome::Success
                }
                Err(e) => fail(format, "ERROR", &e.to_string()),
            },
            AdminCommand::User(UserCommand::List) => match catalogue.list_users().await {
                Ok(users) => {
                    let quotas: std::collections::BTreeMap<String, _> = match catalogue.user_quotas().await {
                        Ok(quotas) => quotas.into_iter().collect(),
                        Err(e) => return fail(format, "ERROR", &e.to_string()),
                    };
                    let quota_of = |name: &str| quotas.get(name).copied().unwrap_or_default();
                    if format == Format::Json {
                        let list: Vec<_> = users.iter().map(|u| json!({"name": u.name, "id": u.id, "admin": u.admin, "createdAt": fedml_platform::time::rfc3339(u.created_at),
                            "quotaBytes": quota::setting_json(quota_of(&u.name).bytes), "quotaObjects": quota::setting_json(quota_of(&u.name).objects)})).collect();
                        say!("{}", json_line(&json!({"code": "SUCCESS", "message": format!("{} users", list.len()), "data": list})));
                    } else {
                        let mut t = table(&["User", "Id", "Admin", "Created At", "Quota Bytes", "Quota Objects"]);
                        for u in &users {
                            let q = quota_of(&u.name);
                            t.row([u.name.clone(), u.id.clone(), if u.admin { "yes".into() } else { String::new() }, fedml_platform::time::rfc3339(u.created_at), quota::setting_short(q.bytes, true), quota::setting_short(q.objects, false)]);
                        }
                        say!("{t}");
                    }
                    Outcome::Success
                }
                Err(e) => fail(format, "ERROR", &e.to_string()),
            },
            AdminCommand::User(UserCommand::Admin { name, off }) => match admin::set_admin(&catalogue, &name, !off).await {
                Ok(()) => {
                    let text = if off {
                        format!("{} is no longer an administrator", quoted(&name))
                    } else {
                        format!("{} is now an administrator", quoted(&name))
                    };
                    if format == Format::Json {
                        say!("{}", json_line(&json!({"code": "SUCCESS", "message": text, "data": {"name": name, "admin": !off}})));
                    } else {
                        say!("{text}");
                    }
                    Outcome::Success
                }
                Err(e) => admin_error(format, e),
            },
            AdminCommand::User(UserCommand::Quota { name, bytes, objects }) => {
                quota::run(format, &catalogue, &name, bytes, objects).await
            }
            AdminCommand::Key(KeyCommand::Create { name, user, read_only, namespaces, label }) => {
                let Some(user) = name.or(user) else {
                    return fail(format, "FAILURE", "name the user: `fedml admin key create USER`");
                };
                if let Some(bad) = namespaces.iter().find(|ns| fedml_client::check_namespace(ns).is_err()) {
                    return fail(
                        format,
                        "FAILURE",
                        &format!("--namespace {bad:?} is not a user or organisation name; `fedml org list` lists them"),
                    );
                }
                match admin::create_key_scoped(&catalogue, &user, read_only, &label, &namespaces).await {
                    Ok((id, key)) => {
                        let scope = (!namespaces.is_empty()).then_some(&namespaces);
                        if format == Format::Json {
                            say!("{}", json_line(&json!({"code": "SUCCESS", "message": "key created; it is shown only now", "data": {"id": id, "api_key": key, "user": user, "read_only": read_only, "namespaces": scope}})));
                        } else {
                            let limited = match scope {
                                Some(list) => format!(
                                    ", limited to {}",
                                    list.iter().map(|ns| quoted(ns)).collect::<Vec<_>>().join(", ")
                                ),
                                None => String::new(),
                            };
                            say!(
                                "API key {} for {} ({}{limited}), shown only now:",
                                visible(&id),
                                quoted(&user),
                                if read_only { "read-only" } else { "read-write" }
                            );
                            say!("  {key}");
                        }
                        Outcome::Success
                    }
                    Err(e) => admin_error(format, e),
                }
            }
            AdminCommand::Key(KeyCommand::List { user }) => match admin::list_keys(&catalogue, user.as_deref()).await {
                Ok(keys) => {
                    let mut scopes = Vec::with_capacity(keys.len());
                    for k in &keys {
                        scopes.push(match &k.namespaces {
                            Some(ids) => match admin::namespace_names(&catalogue, ids).await {
                                Ok(names) => Some(names),
                                Err(e) => return admin_error(format, e),
                            },
                            None => None,
                        });
                    }
                    if format == Format::Json {
                        let list: Vec<_> = keys
                            .iter()
                            .zip(&scopes)
                            .map(|(k, scope)| json!({"id": k.id, "user": k.user_name, "read_only": k.read_only, "label": k.label,
                                "namespaces": scope,
                                "createdAt": fedml_platform::time::rfc3339(k.created_at),
                                "revokedAt": k.revoked_at.map(fedml_platform::time::rfc3339)}))
                            .collect();
                        say!("{}", json_line(&json!({"code": "SUCCESS", "message": format!("{} keys", list.len()), "data": list})));
                    } else {
                        let mut t = table(&["Key Id", "User", "Access", "Label", "Created At", "Revoked At"]);
                        for (k, scope) in keys.iter().zip(&scopes) {
                            let access = if k.read_only { "read-only" } else { "read-write" };
                            t.row([
                                k.id.clone(),
                                k.user_name.clone(),
                                match scope {
                                    Some(names) => format!("{access}: {}", names.join(", ")),
                                    None => access.to_string(),
                                },
                                k.label.clone(),
                                fedml_platform::time::rfc3339(k.created_at),
                                k.revoked_at.map(fedml_platform::time::rfc3339).unwrap_or_default(),
                            ]);
                        }
                        say!("{t}");
                    }
                    Outcome::Success
                }
                Err(e) => admin_error(format, e),
            },
            AdminCommand::Key(KeyCommand::Revoke { id }) => match admin::revoke_key(&catalogue, &id).await {
                Ok(changed) => {
                    let message = if changed { "key revoked; it no longer works" } else { "the key was already revoked" };
                    if format == Format::Json {
                        say!("{}", json_line(&json!({"code": "SUCCESS", "message": message, "data": changed})));
                    } else {
                        say!("{message}");
                    }
                    Outcome::Success
                }
                Err(e) => admin_error(format, e),
            },
        }
    })
}

fn args_uses_default(url: &str, data_dir: &std::path::Path) -> bool {
    url == format!("sqlite://{}", data_dir.join("catalogue.db").display())
}
