//! Who may do what, where: the one decision. Every operation on a namespace's data asks
//! [`Platform::enter`] (or [`Platform::enter_id`] for a session or link that already names its
//! namespace) for what it needs, and acts on the [`Here`] it answers; the operations on the
//! caller's account (keys, organisations) and the server administrator's views ask
//! [`may_manage_account`], [`may_touch_key`] and [`may_administer`]. No other code compares
//! owners, roles, key scopes or the read-only flag.
//!
//! The rules:
//! - A user's own namespace: the user is its owner (every right). Nobody else, not even a server
//!   administrator, sees into it.
//! - An organisation's: its members by role (reader < writer < admin); a server administrator
//!   is an admin of every organisation.
//! - A namespace the caller has no role in answers exactly what an unknown name answers (404):
//!   whether it exists is not told.
//! - A key limited to some namespaces is refused (403) everywhere else; a read-only key is
//!   refused (403) anything but reading.

use std::collections::HashMap;
use std::sync::Mutex;

use fedml_proto::Role;

use super::{Caller, Platform};
use crate::catalogue::{CatalogueError, NamespaceRow};
use crate::error::{Error, Result};

/// What an operation needs of the caller in the namespace it acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// List, read metadata, download, read inside objects and versions.
    Read,
    /// Upload, edit, delete, share.
    Write,
    /// Manage members, read the audit log, delete the organisation.
    Manage,
}

/// The namespace an operation acts on, with the caller's role there: only [`Platform::enter`]
/// makes one, so holding it means the caller may do what was asked.
// A private field rather than `#[non_exhaustive]`: that would still let every module of this
// crate make one without the decision.
#[allow(clippy::manual_non_exhaustive)]
#[derive(Debug, Clone)]
pub struct Here {
    /// The account id every row of the namespace is owned by.
    pub id: String,
    pub name: String,
    pub organisation: bool,
    pub role: Role,
    /// Private: no other module can make a `Here` without the decision.
    _decided: (),
}

impl Here {
    /// The audit log's actor for `caller` acting here.
    pub(crate) fn actor<'a>(caller: &'a Caller) -> crate::catalogue::Actor<'a> {
        crate::catalogue::Actor { user: &caller.user_name, key_id: &caller.key_id }
    }
}

/// What a namespace lookup is keyed by: the asking user and the namespace's name or id.
type RowKey = (String, Lookup);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Lookup {
    Name(String),
    Id(String),
}

/// Namespace rows as read for a user, each with the count of membership changes
/// (`team_state.generation`) it was read at. A request uses a row only when the count it read
/// with its key is the same: a change of membership or organisation, made on any instance, moves
/// the count in its own transaction, so the next request everywhere reads the row again. This
/// spares the lookup on every request into an organisation (a catalogue query each) while
/// removing a member still ends their access at once.
#[derive(Default)]
pub(crate) struct NamespaceRows(Mutex<HashMap<RowKey, (i64, NamespaceRow)>>);

impl NamespaceRows {
    /// At most this many rows are kept; past it the map starts again.
    const MAX: usize = 50_000;

    fn get(&self, key: &RowKey, generation: i64) -> Option<NamespaceRow> {
        let rows = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        rows.get(key).filter(|(at, _)| *at == generation).map(|(_, row)| row.clone())
    }

    fn put(&self, key: RowKey, generation: i64, row: &NamespaceRow) {
        let mut rows = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if rows.len() >= Self::MAX {
            rows.clear();
        }
        rows.insert(key, (generation, row.clone()));
    }
}

pub(crate) fn no_namespace(name: &str) -> Error {
    Error::NotFound(format!(
        "no namespace named {name:?} that you can use; `fedml org list` shows your organisations (an admin of one \
         can add you with `fedml org add ORG YOU --role reader|writer|admin`)"
    ))
}

impl Platform {
    /// The namespace `namespace` (the caller's own with `None` or `""`), if the caller may do
    /// what `need` says there; else the refusal that says why and what to do.
    pub(crate) async fn enter(&self, caller: &Caller, namespace: Option<&str>, need: Need) -> Result<Here> {
        if need != Need::Read {
            may_change(caller)?;
        }
        let row = match namespace.map(str::trim).filter(|n| !n.is_empty()) {
            None => NamespaceRow {
                id: caller.user_id.clone(),
                name: caller.user_name.clone(),
                organisation: false,
                role: None,
            },
            Some(name) if name == caller.user_name => NamespaceRow {
                id: caller.user_id.clone(),
                name: caller.user_name.clone(),
                organisation: false,
                role: None,
            },
            Some(name) => self.namespace_row(caller, Lookup::Name(name.to_string())).await?,
        };
        decide(caller, row, need)
    }

    /// The namespace row `lookup` names, as read for the caller: remembered while no membership
    /// has changed since (see [`NamespaceRows`]), else read again. Unknown names are never
    /// remembered.
    async fn namespace_row(&self, caller: &Caller, lookup: Lookup) -> Result<NamespaceRow> {
        let key = (caller.user_id.clone(), lookup);
        let generation = caller.teams_generation;
        if generation >= 0
            && let Some(row) = self.namespace_rows.get(&key, generation)
        {
            return Ok(row);
        }
        let read = match &key.1 {
            Lookup::Name(name) => self.catalogue.namespace_named(name, &caller.user_id).await,
            Lookup::Id(id) => self.catalogue.namespace_by_id(id, &caller.user_id).await,
        };
        match read {
            Ok(row) => {
                if generation >= 0 {
                    self.namespace_rows.put(key, generation, &row);
                }
                Ok(row)
            }
            Err(CatalogueError::NotFound) => match &key.1 {
                Lookup::Name(name) | Lookup::Id(name) => Err(no_namespace(name)),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The namespace with account id `id` (an upload session's, a link's), decided as
    /// [`Platform::enter`] decides.
    pub(crate) async fn enter_id(&self, caller: &Caller, id: &str, need: Need) -> Result<Here> {
        if need != Need::Read {
            may_change(caller)?;
        }
        let row = self.namespace_row(caller, Lookup::Id(id.to_string())).await?;
        decide(caller, row, need)
    }
}

/// A read-only key changes nothing anywhere: refused before any name is looked up, so that the
/// refusal reads the same whatever the request names.
pub(crate) fn may_change(caller: &Caller) -> Result<()> {
    if caller.read_only {
        return Err(Error::Forbidden(
            "this API key is read-only: it can list, read and download, not upload or delete".into(),
        ));
    }
    Ok(())
}

/// Minting, revoking and (for organisations) creating are for full keys: a read-only key, or
/// one limited to some namespaces (a training job's), manages nothing of its user's.
pub(crate) fn may_manage_account(caller: &Caller, what: &str) -> Result<()> {
    if caller.read_only || caller.namespaces.is_some() {
        return Err(Error::Forbidden(format!(
            "a read-only key, or one limited to some namespaces, cannot {what}; use a full read-write key"
        )));
    }
    Ok(())
}

/// Whether the caller's key may be used in the namespace with account id `id` (a key limited to
/// some namespaces: only those).
pub(crate) fn key_allows(caller: &Caller, id: &str) -> bool {
    caller.namespaces.as_ref().is_none_or(|ids| ids.iter().any(|i| i == id))
}

/// Whether the caller may act on the API key `owner_id`'s: its own user's, or anyone's for a
/// server administrator. Another user's key reads as unknown.
pub(crate) fn may_touch_key(caller: &Caller, owner_id: &str) -> bool {
    owner_id == caller.user_id || caller.admin
}

/// The server administrator's views (every user, their keys and usage).
pub(crate) fn may_administer(caller: &Caller) -> Result<()> {
    if !caller.admin {
        return Err(Error::Forbidden(
            "only administrators see other users; `fedml admin user admin NAME` makes one".into(),
        ));
    }
    Ok(())
}

/// The decision itself, on the namespace's row as read for this caller.
fn decide(caller: &Caller, row: NamespaceRow, need: Need) -> Result<Here> {
    let role = if row.id == caller.user_id {
        Role::Owner
    } else if row.organisation {
        match (row.role, caller.admin) {
            (_, true) => Role::Admin,
            (Some(role), false) => role,
            (None, false) => return Err(no_namespace(&row.name)),
        }
    } else {
        return Err(no_namespace(&row.name));
    };
    if !key_allows(caller, &row.id) {
        return Err(Error::Forbidden(format!(
            "this API key is limited to other namespaces than {:?}; use a key that may use it (the dashboard's \
             key page lists each key's namespaces)",
            row.name
        )));
    }
    let enough = match need {
        Need::Read => true,
        Need::Write => role >= Role::Writer,
        Need::Manage => role >= Role::Admin,
    };
    if !enough {
        let wanted = if need == Need::Write { "writer" } else { "admin" };
        return Err(Error::Forbidden(format!(
            "you are a {role} of {name:?}; this needs the {wanted} role, which an admin of it can give you \
             (`fedml org add {name} {user} --role {wanted}`)",
            name = row.name,
            user = caller.user_name
        )));
    }
    Ok(Here { id: row.id, name: row.name, organisation: row.organisation, role, _decided: () })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Actor;
    use crate::operations::test_support;

    /// A namespace row read once is used again while no membership changes (the lookup is not
    /// made: here its table is gone), and read again after a change anywhere.
    #[tokio::test]
    async fn namespace_rows_are_remembered_until_a_membership_changes() {
        let dir = tempfile::tempdir().expect("tmp");
        let catalogue = test_support::catalogue(dir.path()).await;
        let alice = crate::admin::create_user(&catalogue, "alice").await.expect("user");
        crate::admin::create_user(&catalogue, "rita").await.expect("user");
        let key = crate::admin::create_key(&catalogue, "rita", false, "k").await.expect("key").1;
        let actor = Actor { user: "alice", key_id: "k" };
        catalogue.create_org("org1", "team", &alice.id, &actor).await.expect("org");
        let rita = catalogue.user_by_name("rita").await.expect("rita");
        catalogue.set_member("org1", &rita.id, "rita", Role::Reader, &actor).await.expect("member");
        let platform = test_support::platform(catalogue);
        let caller = platform.authenticate(Some(&key)).await.expect("caller");
        assert!(caller.teams_generation > 0, "the key is read with the count: {}", caller.teams_generation);
        assert_eq!(platform.enter(&caller, Some("team"), Need::Read).await.expect("reader").role, Role::Reader);
        // Remembered: the same answer without the lookup (its table renamed away).
        sqlx::query("ALTER TABLE memberships RENAME TO memberships_away")
            .execute(&platform.catalogue.pool_for_tests())
            .await
            .expect("rename");
        assert_eq!(platform.enter(&caller, Some("team"), Need::Read).await.expect("remembered").role, Role::Reader);
        sqlx::query("ALTER TABLE memberships_away RENAME TO memberships")
            .execute(&platform.catalogue.pool_for_tests())
            .await
            .expect("rename back");
        // A removal moves the count: the next request reads again, and is refused.
        platform.catalogue.remove_member("org1", &rita.id, "rita", &actor).await.expect("removed");
        let caller = platform.authenticate(Some(&key)).await.expect("caller");
        assert!(matches!(platform.enter(&caller, Some("team"), Need::Read).await, Err(Error::NotFound(_))));
    }
}
