//! User and API-key administration, used by `fedml admin` (directly on the catalogue, so it
//! needs access to the server's data directory or database) and by the first start.

use std::path::{Path, PathBuf};

use crate::catalogue::{ApiKeyRecord, Catalogue, CatalogueError, User};
use crate::keys;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The admin account made on first start, with its key (shown once).
#[derive(Debug, Clone)]
pub struct Bootstrap {
    pub user: String,
    pub api_key: String,
    pub key_file: PathBuf,
}

pub const ADMIN_KEY_FILE: &str = "admin-api-key";

fn check_user_name(name: &str) -> Result<(), AdminError> {
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AdminError::Refused(format!(
            "user name {name:?} must be 1 to 64 characters without spaces or control characters"
        )));
    }
    if let Some(c) = fedml_proto::text::find_invisible(name) {
        return Err(AdminError::Refused(format!(
            "user name {name:?} contains {}, an invisible character that makes a name display as another; remove it",
            fedml_proto::text::describe(c)
        )));
    }
    Ok(())
}

pub async fn create_user(catalogue: &Catalogue, name: &str) -> Result<User, AdminError> {
    check_user_name(name)?;
    match catalogue.create_user(&keys::random_hex(8), name).await {
        Ok(user) => Ok(user),
        Err(CatalogueError::Conflict(m)) => Err(AdminError::Refused(m)),
        Err(e) => Err(e.into()),
    }
}

/// Mints a key for `user`; the returned string is the only copy of the secret.
pub async fn create_key(
    catalogue: &Catalogue,
    user: &str,
    read_only: bool,
    label: &str,
) -> Result<(String, String), AdminError> {
    create_key_scoped(catalogue, user, read_only, label, &[]).await
}

/// Mints a key for `user` limited to the namespaces `namespaces` (not limited when empty): each
/// must be the user's own or an organisation the user belongs to. Answers the key's id and the
/// only copy of the key.
pub async fn create_key_scoped(
    catalogue: &Catalogue,
    user: &str,
    read_only: bool,
    label: &str,
    namespaces: &[String],
) -> Result<(String, String), AdminError> {
    let user = match catalogue.user_by_name(user).await {
        Ok(u) => u,
        Err(CatalogueError::NotFound) => {
            return Err(AdminError::Refused(format!(
                "no user named {user:?}; create it with `fedml admin user create {user}`"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let mut scope = Vec::with_capacity(namespaces.len());
    for name in namespaces {
        let row = match catalogue.namespace_named(name, &user.id).await {
            Ok(row) => row,
            Err(CatalogueError::NotFound) => {
                return Err(AdminError::Refused(format!(
                    "no namespace named {name:?}; `fedml org list` shows the organisations"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let usable = row.id == user.id || (row.organisation && (row.role.is_some() || user.admin));
        if !usable {
            return Err(AdminError::Refused(format!(
                "{:?} cannot use the namespace {name:?}; add them to it first (`fedml org add {name} {} --role \
                 reader`)",
                user.name, user.name
            )));
        }
        if !scope.contains(&row.id) {
            scope.push(row.id);
        }
    }
    let key = keys::mint();
    let scope = (!scope.is_empty()).then_some(scope);
    catalogue.insert_api_key(&key.id, &user.id, &key.secret_sha256, read_only, label, scope.as_deref()).await?;
    Ok((key.id, key.full))
}

pub async fn list_keys(catalogue: &Catalogue, user: Option<&str>) -> Result<Vec<ApiKeyRecord>, AdminError> {
    Ok(catalogue.list_api_keys(user).await?)
}

/// The names of the namespaces a key is limited to (its record holds their account ids).
pub async fn namespace_names(catalogue: &Catalogue, ids: &[String]) -> Result<Vec<String>, AdminError> {
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        match catalogue.namespace_by_id(id, "").await {
            Ok(row) => names.push(row.name),
            Err(CatalogueError::NotFound) => names.push(format!("(gone: {id})")),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(names)
}

/// Revokes a key by its id (the part after `fml_`, or the whole key).
pub async fn revoke_key(catalogue: &Catalogue, id_or_key: &str) -> Result<bool, AdminError> {
    let id = keys::parse(id_or_key).map(|(id, _)| id).unwrap_or(id_or_key);
    match catalogue.revoke_api_key(id).await {
        Ok(changed) => Ok(changed),
        Err(CatalogueError::NotFound) => {
            Err(AdminError::Refused(format!("no API key with id {id:?}; `fedml admin key list` shows the ids")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Marks the user named `name` as an administrator (`admin` false: no longer one).
pub async fn set_admin(catalogue: &Catalogue, name: &str, admin: bool) -> Result<(), AdminError> {
    match catalogue.set_user_admin(name, admin).await {
        Ok(()) => Ok(()),
        Err(CatalogueError::NotFound) => {
            Err(AdminError::Refused(format!("no user named {name:?}; `fedml admin user list` shows the users")))
        }
        Err(e) => Err(e.into()),
    }
}

/// On a catalogue without users: creates `admin`, an administrator, with a read-write key,
/// written to a 0600 file.
pub async fn bootstrap(catalogue: &Catalogue, data_dir: &Path) -> Result<Option<Bootstrap>, AdminError> {
    if catalogue.user_count().await? > 0 {
        return Ok(None);
    }
    let user = match create_user(catalogue, "admin").await {
        Ok(u) => u,
        // Another instance bootstrapped at the same moment.
        Err(AdminError::Refused(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (_, api_key) = create_key(catalogue, &user.name, false, "bootstrap").await?;
    set_admin(catalogue, &user.name, true).await?;
    let key_file = data_dir.join(ADMIN_KEY_FILE);
    write_private(&key_file, &format!("{api_key}\n"))?;
    Ok(Some(Bootstrap { user: user.name, api_key, key_file }))
}

/// Writes a file only its owner can read (mode 0600 from creation, then renamed into place).
pub fn write_private(path: &Path, contents: &str) -> Result<(), AdminError> {
    let err = |source| AdminError::Write { path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(err)?;
        file.write_all(contents.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

/// A user's quota settings and usage, for `fedml admin user quota`.
#[derive(Debug, Clone)]
pub struct QuotaReport {
    pub user_name: String,
    pub quota: crate::quota::UserQuota,
    pub usage: crate::quota::Usage,
}

fn unknown_user(name: &str) -> AdminError {
    AdminError::Refused(format!("no user named {name:?}; `fedml admin user list` shows the users"))
}

/// A user's quota settings and what they use now.
pub async fn quota_report(catalogue: &Catalogue, user_name: &str) -> Result<QuotaReport, AdminError> {
    let (user_id, quota) = match catalogue.user_quota(user_name).await {
        Ok(found) => found,
        Err(CatalogueError::NotFound) => return Err(unknown_user(user_name)),
        Err(e) => return Err(e.into()),
    };
    let usage = catalogue.usage(&user_id).await?;
    Ok(QuotaReport { user_name: user_name.to_string(), quota, usage })
}

/// Sets a user's limits (`None`: leave that one as it is); answers the new settings and usage.
/// A lower limit than what is stored deletes nothing: further uploads that add to it are refused.
pub async fn set_quota(
    catalogue: &Catalogue,
    user_name: &str,
    bytes: Option<crate::quota::Override>,
    objects: Option<crate::quota::Override>,
) -> Result<QuotaReport, AdminError> {
    match catalogue.set_user_quota(user_name, bytes, objects).await {
        Ok(()) => quota_report(catalogue, user_name).await,
        Err(CatalogueError::NotFound) => Err(unknown_user(user_name)),
        Err(e) => Err(e.into()),
    }
}
