//! Namespaces, organisations and their members, as rows: which account a name is, which role a
//! user holds in it, and the changes of membership (each one transaction that also writes its
//! audit line).
//!
//! An organisation is a row of `users` with `kind = 'org'`, so that user and organisation names
//! share one space, and quotas, usage and packs (dedup) stay per namespace as they were per user.
//! Every change of an organisation's members locks its row first: the same lock an upload's
//! commit into it takes (`lock_owner`), so that a commit and the removal of its writer happen one
//! after the other, each seeing the other's outcome.

use sqlx::{AssertSqlSafe, Row};

use super::records::Columns;
use super::{Bind, Catalogue, CatalogueError, Result};
use crate::time::now_ms;
use fedml_proto::Role;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// An account a namespace name resolves to, with the role of the user who asked in it.
#[derive(Debug, Clone)]
pub struct NamespaceRow {
    pub id: String,
    pub name: String,
    pub organisation: bool,
    /// The asking user's membership, if any (a user's own namespace has none).
    pub role: Option<Role>,
}

fn namespace_from_row(row: &dyn Columns) -> Result<NamespaceRow> {
    Ok(NamespaceRow {
        id: row.text("id")?,
        name: row.text("name")?,
        organisation: row.text("kind")? == "org",
        role: row.opt_text("role")?.map(|r| parse_role(&r)).transpose()?,
    })
}

fn parse_role(text: &str) -> Result<Role> {
    Role::parse_member(text).ok_or_else(|| CatalogueError::Corrupt(format!("unknown role {text:?} in memberships")))
}

/// An organisation as a list shows it.
#[derive(Debug, Clone)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// The asking user's role; `None` when listed for an administrator who is not a member.
    pub role: Option<Role>,
    pub members: i64,
    pub objects: i64,
}

fn org_from_row(row: &dyn Columns) -> Result<OrgRow> {
    Ok(OrgRow {
        id: row.text("id")?,
        name: row.text("name")?,
        created_at: row.int("created_at")?,
        role: row.opt_text("role")?.map(|r| parse_role(&r)).transpose()?,
        members: row.int("members")?,
        objects: row.int("objects")?,
    })
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub user_id: String,
    pub user: String,
    pub role: Role,
    pub added_at: i64,
    pub added_by: String,
}

fn member_from_row(row: &dyn Columns) -> Result<MemberRow> {
    Ok(MemberRow {
        user_id: row.text("user_id")?,
        user: row.text("name")?,
        role: parse_role(&row.text("role")?)?,
        added_at: row.int("added_at")?,
        added_by: row.text("added_by")?,
    })
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor<'a> {
    pub user: &'a str,
    pub key_id: &'a str,
}

/// One line to write to a namespace's audit log.
#[derive(Debug, Clone)]
pub struct AuditLine<'a> {
    pub namespace_id: &'a str,
    pub actor: Actor<'a>,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub key_id: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

fn audit_from_row(row: &dyn Columns) -> Result<AuditRow> {
    Ok(AuditRow {
        id: row.text("id")?,
        at: row.int("at")?,
        actor: row.text("actor")?,
        key_id: row.text("key_id")?,
        action: row.text("action")?,
        target: row.text("target")?,
        detail: row.text("detail")?,
    })
}

/// What a change of membership found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Added,
    /// The member held the first role before.
    Changed(Role),
    Unchanged,
}

/// The name a deleted organisation's row is renamed to: no user or organisation name has a space.
fn retired_name(id: &str) -> String {
    format!("deleted org {id}")
}

impl Catalogue {
    /// The account named `name` and `user_id`'s membership in it; `NotFound` when no account
    /// has that name (a retired organisation's name is no account's).
    pub async fn namespace_named(&self, name: &str, user_id: &str) -> Result<NamespaceRow> {
        self.read_one(
            "SELECT u.id, u.name, u.kind, m.role FROM users u \
             LEFT JOIN memberships m ON m.org_id = u.id AND m.user_id = $1 \
             WHERE u.name = $2 AND u.kind IN ('user', 'org')",
            &[Bind::Text(user_id), Bind::Text(name)],
            namespace_from_row,
        )
        .await
    }

    /// The account with id `id` and `user_id`'s membership in it.
    pub async fn namespace_by_id(&self, id: &str, user_id: &str) -> Result<NamespaceRow> {
        self.read_one(
            "SELECT u.id, u.name, u.kind, m.role FROM users u \
             LEFT JOIN memberships m ON m.org_id = u.id AND m.user_id = $1 WHERE u.id = $2",
            &[Bind::Text(user_id), Bind::Text(id)],
            namespace_from_row,
        )
        .await
    }

    /// The organisations `user_id` belongs to, by name; every organisation with `all`.
    pub async fn organisations(&self, user_id: &str, all: bool) -> Result<Vec<OrgRow>> {
        let join = if all { "LEFT JOIN" } else { "JOIN" };
        self.read(
            &format!(
                "SELECT u.id, u.name, u.created_at, m.role, \
                 (SELECT COUNT(*) FROM memberships c WHERE c.org_id = u.id) AS members, \
                 (SELECT COUNT(*) FROM objects o WHERE o.owner_id = u.id) AS objects \
                 FROM users u {join} memberships m ON m.org_id = u.id AND m.user_id = $1 \
                 WHERE u.kind = 'org' ORDER BY u.name"
            ),
            &[Bind::Text(user_id)],
            org_from_row,
        )
        .await
    }

    pub async fn members(&self, org_id: &str) -> Result<Vec<MemberRow>> {
        self.read(
            "SELECT m.user_id, u.name, m.role, m.added_at, m.added_by FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.name",
            &[Bind::Text(org_id)],
            member_from_row,
        )
        .await
    }

    /// Creates organisation `name` (id `id`) with `creator` as its admin, in one transaction.
    pub async fn create_org(&self, id: &str, name: &str, creator_id: &str, actor: &Actor<'_>) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let inserted = sqlx::query("INSERT INTO users (id, name, created_at, kind) VALUES ($1, $2, $3, 'org')")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if super::is_unique_violation(&e) => {
                return Err(CatalogueError::Conflict(format!(
                    "the name {name:?} is taken (by a user or an organisation); choose another"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        insert_membership(&mut tx, id, creator_id, Role::Admin, now, actor.user).await?;
        let line = AuditLine {
            namespace_id: id,
            actor: actor.clone(),
            action: "org-create",
            target: name,
            detail: String::new(),
        };
        write_audit(self, &mut tx, &line, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives `user_id` the role `role` in the organisation (adding them when they are not a
    /// member), unless that would leave it without an admin.
    pub async fn set_member(
        &self,
        org_id: &str,
        user_id: &str,
        user_name: &str,
        role: Role,
        actor: &Actor<'_>,
    ) -> Result<MemberChange> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_owner(&mut tx, org_id).await?;
        let now = now_ms();
        let before = current_role(&mut tx, org_id, user_id).await?;
        let change = match before {
            None => MemberChange::Added,
            Some(r) if r == role => MemberChange::Unchanged,
            Some(r) => MemberChange::Changed(r),
        };
        match before {
            None => insert_membership(&mut tx, org_id, user_id, role, now, actor.user).await?,
            Some(r) if r == role => {}
            Some(r) => {
                if r == Role::Admin && admin_count(&mut tx, org_id).await? <= 1 {
                    return Err(last_admin(user_name));
                }
                sqlx::query(
                    "UPDATE memberships SET role = $1, added_at = $2, added_by = $3 WHERE org_id = $4 AND user_id = $5",
                )
                .bind(role.as_str())
                .bind(now)
                .bind(actor.user)
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        if change != MemberChange::Unchanged {
            bump_generation(&mut tx).await?;
            let (action, detail) = match change {
                MemberChange::Changed(from) => ("member-role", format!("{from} -> {role}")),
                _ => ("member-add", role.as_str().to_string()),
            };
            let line = AuditLine { namespace_id: org_id, actor: actor.clone(), action, target: user_name, detail };
            write_audit(self, &mut tx, &line, now).await?;
        }
        tx.commit().await?;
        Ok(change)
    }

    /// Removes `user_id` from the organisation, unless they are its last admin. `Ok(false)` when
    /// they were not a member.
    pub async fn remove_member(&self, org_id: &str, user_id: &str, user_name: &str, actor: &Actor<'_>) -> Result<bool> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_owner(&mut tx, org_id).await?;
        let Some(role) = current_role(&mut tx, org_id, user_id).await? else {
            return Ok(false);
        };
        if role == Role::Admin && admin_count(&mut tx, org_id).await? <= 1 {
            return Err(last_admin(user_name));
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        bump_generation(&mut tx).await?;
        let line = AuditLine {
            namespace_id: org_id,
            actor: actor.clone(),
            action: "member-remove",
            target: user_name,
            detail: role.as_str().to_string(),
        };
        write_audit(self, &mut tx, &line, now_ms()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Retires an organisation that holds no object: its members, links and open upload sessions
    /// end, its name is free again. `Conflict` while it still holds objects.
    pub async fn retire_org(&self, org_id: &str, name: &str, reclaim_after: i64) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_owner(&mut tx, org_id).await?;
        let objects: i64 = sqlx::query("SELECT COUNT(*) AS n FROM objects WHERE owner_id = $1")
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if objects > 0 {
            return Err(CatalogueError::Conflict(format!(
                "organisation {name:?} still holds {objects} objects; delete them first, or pass --force \
                 (CLI) / force=true to delete them with it"
            )));
        }
        let now = now_ms();
        let sessions = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, service FROM uploads WHERE owner_id = $1 AND state IN ('{}', '{}')",
            super::UploadState::Open,
            super::UploadState::Finished
        )))
        .bind(org_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in &sessions {
            let upload_id: String = row.try_get("id")?;
            let service: String = row.try_get("service")?;
            super::uploads::end_session(self, &mut tx, &upload_id, org_id, &service, reclaim_after).await?;
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE uploads SET state = '{}' WHERE id = $1",
                super::UploadState::Aborted
            )))
            .bind(&upload_id)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM memberships WHERE org_id = $1").bind(org_id).execute(&mut *tx).await?;
        bump_generation(&mut tx).await?;
        sqlx::query("UPDATE share_links SET revoked_at = $1 WHERE namespace_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET name = $1, kind = 'retired' WHERE id = $2")
            .bind(retired_name(org_id))
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the key `key_id` may still write into namespace `owner_id`: its user's own, or
    /// an organisation the user still writes in (or a server administrator's). Read inside a
    /// transaction that holds the namespace's row (see the module's note), so that a commit and
    /// the removal of its writer each see the other's outcome.
    pub(super) async fn key_may_write(&self, tx: &mut Tx, owner_id: &str, key_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT u.id, u.is_admin, m.role FROM api_keys k JOIN users u ON u.id = k.user_id \
             LEFT JOIN memberships m ON m.org_id = $1 AND m.user_id = u.id WHERE k.id = $2",
        )
        .bind(owner_id)
        .bind(key_id)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let user_id: String = row.try_get("id")?;
        let admin: i64 = row.try_get("is_admin")?;
        let role: Option<String> = row.try_get("role")?;
        Ok(user_id == owner_id || admin != 0 || matches!(role.as_deref(), Some("writer" | "admin")))
    }

    // ---------------------------------------------------------------- audit log

    /// Writes one line to a namespace's audit log.
    pub async fn audit(&self, line: &AuditLine<'_>) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        write_audit(self, &mut tx, line, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The namespace's audit lines before `before` (all with `None`), newest first.
    pub async fn audit_page(&self, namespace_id: &str, before: Option<&str>, limit: u32) -> Result<Vec<AuditRow>> {
        self.read(
            "SELECT id, at, actor, key_id, action, target, detail FROM audit_log \
             WHERE namespace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            &[Bind::Text(namespace_id), Bind::Text(before.unwrap_or("~")), Bind::Int(i64::from(limit))],
            audit_from_row,
        )
        .await
    }

    /// The pool, for tests that age rows by hand.
    #[cfg(test)]
    pub(crate) fn pool_for_tests(&self) -> sqlx::AnyPool {
        self.pool.clone()
    }

    /// Forgets audit lines older than `before` (Unix ms); how many went.
    pub async fn prune_audit(&self, before: i64) -> Result<u64> {
        let _gate = self.gate().await;
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1").bind(before).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}

/// Counts a change of membership or of an organisation (see `team_state` in the migration).
async fn bump_generation(tx: &mut Tx) -> Result<()> {
    sqlx::query("UPDATE team_state SET generation = generation + 1 WHERE id = 1").execute(&mut **tx).await?;
    Ok(())
}

async fn current_role(tx: &mut Tx, org_id: &str, user_id: &str) -> Result<Option<Role>> {
    let row = sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => Ok(Some(parse_role(&row.try_get::<String, _>("role")?)?)),
        None => Ok(None),
    }
}

async fn admin_count(tx: &mut Tx, org_id: &str) -> Result<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM memberships WHERE org_id = $1 AND role = 'admin'")
        .bind(org_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?)
}

fn last_admin(user: &str) -> CatalogueError {
    CatalogueError::Conflict(format!(
        "{user:?} is the organisation's last admin; make another member admin first \
         (`fedml org add ORG USER --role admin`), or delete the organisation"
    ))
}

async fn insert_membership(tx: &mut Tx, org_id: &str, user_id: &str, role: Role, now: i64, by: &str) -> Result<()> {
    sqlx::query("INSERT INTO memberships (org_id, user_id, role, added_at, added_by) VALUES ($1, $2, $3, $4, $5)")
        .bind(org_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(now)
        .bind(by)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Writes an audit line. Its id sorts as the lines of its namespace were written: the time in
/// milliseconds, then a count within that millisecond, taken under the namespace's row lock (the
/// lock membership changes and commits take), so that two instances never give one id twice
/// nor two lines of one millisecond in the wrong order.
pub(super) async fn write_audit(catalogue: &Catalogue, tx: &mut Tx, line: &AuditLine<'_>, now: i64) -> Result<()> {
    catalogue.lock_owner(tx, line.namespace_id).await?;
    let last: Option<String> = sqlx::query("SELECT id FROM audit_log WHERE namespace_id = $1 ORDER BY id DESC LIMIT 1")
        .bind(line.namespace_id)
        .fetch_optional(&mut **tx)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()?;
    let after = last.as_deref().and_then(|id| {
        let (ms, n) = id.split_once('-')?;
        Some((ms.parse::<i64>().ok()?, n.parse::<u64>().ok()?))
    });
    let id = match after {
        Some((ms, n)) if ms >= now => format!("{ms:013}-{:06}", n + 1),
        _ => format!("{now:013}-{:06}", 0),
    };
    sqlx::query(
        "INSERT INTO audit_log (id, namespace_id, at, actor, key_id, action, target, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(line.namespace_id)
    .bind(now)
    .bind(line.actor.user)
    .bind(line.actor.key_id)
    .bind(line.action)
    .bind(line.target)
    .bind(&line.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
