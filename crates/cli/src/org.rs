//! `fedml org …`: organisations, their members and roles, and their audit log. Each command is
//! one SDK call.

use clap::{Args, Subcommand};
use fedml_client::{Role, Target};

use crate::Outcome;
use crate::output::say;
use crate::output::{Format, emit, fail, quoted, table, visible};

/// Where and as whom `fedml org` commands run.
#[derive(Args, Clone)]
pub struct Connection {
    /// API key (default: FEDML_API_KEY, then the one saved by `fedml login`).
    #[arg(short = 'k', long = "api_key", visible_alias = "api-key")]
    api_key: Option<String>,
    /// Server URL (default: FEDML_SERVER_URL, then the one saved by `fedml login`).
    #[arg(long)]
    server: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    output: Format,
}

impl Connection {
    fn target(&self) -> Target {
        Target { api_key: self.api_key.clone(), server: self.server.clone(), ..Target::default() }
    }
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organisation (its name shares one space with user names); you become its admin.
    Create {
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// List your organisations and your role in each (a server administrator sees all).
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// List the members of an organisation and their roles.
    Members {
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Add a user to an organisation, or change a member's role (admins only).
    Add {
        name: String,
        user: String,
        /// reader: lists and downloads; writer: also uploads, edits, deletes and shares;
        /// admin: also manages members and links.
        #[arg(long, value_name = "reader|writer|admin")]
        role: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Remove a member from an organisation (admins; or a member leaving); their access ends at once.
    Remove {
        name: String,
        user: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete an organisation (admins only); refused while it holds data, unless --force.
    Delete {
        name: String,
        /// Delete it with all the data it holds.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Show an organisation's audit log, newest first: who uploaded, deleted, edited, shared,
    /// added or removed whom, when, with which key (admins only; your own name: your own log).
    Log {
        name: String,
        /// Show at most N entries [default: 100; at most 1,000].
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Show the entries older than this entry id (what the previous page said to pass).
        #[arg(long, value_name = "ID")]
        before: Option<String>,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: OrgCommand) -> Outcome {
    match command {
        OrgCommand::Create { name, connection } => {
            let response = fedml_client::org_create(&name, &connection.target());
            emit(connection.output, &response, |org| {
                say!("Created organisation {}; you are its admin.", quoted(&org.name));
                say!(
                    "  add members with `fedml org add {} USER --role reader|writer|admin`, and store data in it with \
                     `fedml storage upload PATH --namespace {}`",
                    visible(&org.name),
                    visible(&org.name)
                );
            })
        }
        OrgCommand::List { connection } => {
            let response = fedml_client::org_list(&connection.target());
            emit(connection.output, &response, |orgs| {
                if orgs.is_empty() {
                    say!("You belong to no organisation; `fedml org create NAME` makes one.");
                    return;
                }
                let mut t = table(&["Organisation", "Your Role", "Members", "Objects", "Created At"]);
                for o in orgs {
                    t.row([
                        o.name.clone(),
                        o.role.map_or_else(|| "-".to_string(), |r| r.to_string()),
                        o.members.to_string(),
                        o.objects.to_string(),
                        o.created_at.clone(),
                    ]);
                }
                say!("{t}");
            })
        }
        OrgCommand::Members { name, connection } => {
            let response = fedml_client::org_members(&name, &connection.target());
            emit(connection.output, &response, |members| {
                let mut t = table(&["User", "Role", "Added At", "Added By"]);
                for m in members {
                    t.row([m.user.clone(), m.role.to_string(), m.added_at.clone(), m.added_by.clone()]);
                }
                say!("{t}");
            })
        }
        OrgCommand::Add { name, user, role, connection } => {
            let role = match fedml_client::parse_role(&role) {
                Ok(r) => r,
                Err(e) => return fail(connection.output, "FAILURE", &format!("--role: {}", e.message())),
            };
            let response = fedml_client::org_set_member(&name, &user, role, &connection.target());
            emit(connection.output, &response, |m| {
                say!("{} is {} of {}.", quoted(&m.user), with_article(m.role), quoted(&name))
            })
        }
        OrgCommand::Remove { name, user, connection } => {
            let response = fedml_client::org_remove_member(&name, &user, &connection.target());
            emit(connection.output, &response, |_| {
                say!("Removed {} from {}; their access ended.", quoted(&user), quoted(&name))
            })
        }
        OrgCommand::Delete { name, force, connection } => {
            let response = fedml_client::org_delete(&name, force, &connection.target());
            emit(connection.output, &response, |_| say!("Deleted organisation {}.", quoted(&name)))
        }
        OrgCommand::Log { name, limit, before, connection } => {
            if limit == Some(0) {
                return fail(connection.output, "FAILURE", "--limit: give at least 1");
            }
            let response = fedml_client::audit_log(Some(&name), before.as_deref(), limit, &connection.target());
            emit(connection.output, &response, |page| {
                if page.entries.is_empty() {
                    say!("Nothing logged in {}{}.", quoted(&name), if before.is_some() { " before that" } else { "" });
                    return;
                }
                let mut t = table(&["When", "Who", "Key", "Action", "Target", "Detail"]);
                for e in &page.entries {
                    t.row([
                        e.at.clone(),
                        e.actor.clone(),
                        e.key_id.clone(),
                        e.action.clone(),
                        e.target.clone(),
                        e.detail.clone(),
                    ]);
                }
                say!("{t}");
                if let Some(next) = &page.next {
                    say!("Older entries: add --before {}", visible(next));
                }
            })
        }
    }
}

fn with_article(role: Role) -> String {
    match role {
        Role::Admin | Role::Owner => format!("an {role}"),
        other => format!("a {other}"),
    }
}
