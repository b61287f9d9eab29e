//! Organisations, their members, the namespaces a caller may use, scoped keys' namespaces and
//! the audit log. Who may do each is decided by [`Platform::enter`] (`access`), as everywhere.

use fedml_proto::{AuditEntry, AuditPage, CreateOrg, Member, NamespaceInfo, OrgInfo, Role};

use super::{Caller, Here, Need, Platform};
use crate::catalogue::{AuditLine, CatalogueError, UploadRecord};
use crate::error::{Error, Result};
use crate::keys;
use crate::time::{now_ms, rfc3339};

/// Audit lines a page holds unless asked for fewer.
const AUDIT_PAGE: u32 = 100;
const AUDIT_MAX_PAGE: u32 = 1000;

/// An organisation's name: 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or
/// digit (it names a namespace in URLs, paths and, later, buckets and repository ids).
fn check_org_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(Error::Invalid(format!(
            "organisation name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or \
             digit"
        )));
    }
    Ok(())
}

fn org_info(row: crate::catalogue::OrgRow) -> OrgInfo {
    OrgInfo {
        name: row.name,
        role: row.role,
        members: row.members.max(0) as u64,
        objects: row.objects.max(0) as u64,
        created_at: rfc3339(row.created_at),
    }
}

impl Platform {
    /// The namespaces the caller may use: its own first, then its organisations by name (for a
    /// key limited to some namespaces, those only).
    pub async fn namespaces(&self, caller: &Caller) -> Result<Vec<NamespaceInfo>> {
        let allowed = |id: &str| super::access::key_allows(caller, id);
        let mut found = Vec::new();
        if allowed(&caller.user_id) {
            found.push(NamespaceInfo { name: caller.user_name.clone(), organisation: false, role: Role::Owner });
        }
        for org in self.catalogue.organisations(&caller.user_id, false).await? {
            if allowed(&org.id)
                && let Some(role) = org.role
            {
                found.push(NamespaceInfo { name: org.name, organisation: true, role });
            }
        }
        Ok(found)
    }

    /// The namespace `name`, if the caller may do what `need` says there (the refusal of
    /// [`Platform::enter`] else: an unknown name and one the caller has no role in read alike).
    pub async fn namespace(&self, caller: &Caller, name: &str, need: Need) -> Result<NamespaceInfo> {
        let here = self.enter(caller, Some(name), need).await?;
        Ok(NamespaceInfo { name: here.name, organisation: here.organisation, role: here.role })
    }

    /// The names of the namespaces with these account ids (a retired organisation's reads as
    /// such).
    pub(crate) async fn namespace_names(&self, caller: &Caller, ids: &[String]) -> Result<Vec<String>> {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            match self.catalogue.namespace_by_id(id, &caller.user_id).await {
                Ok(row) => names.push(row.name),
                Err(CatalogueError::NotFound) => names.push(format!("(gone: {id})")),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(names)
    }

    /// The account ids a new key of the caller's may be limited to: each named namespace must
    /// be one the caller may read (and, for a caller's key itself limited, one it may use).
    pub(crate) async fn key_scope(&self, caller: &Caller, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Err(Error::Invalid(
                "name at least one namespace to limit the key to, or leave the limit out".into(),
            ));
        }
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let here = self.enter(caller, Some(name), Need::Read).await?;
            if !ids.contains(&here.id) {
                ids.push(here.id);
            }
        }
        Ok(ids)
    }

    /// Writes an audit line for `caller` acting in `here`. The change it records has been made:
    /// a line that cannot be written is logged, not turned into a failure of the change.
    pub(crate) async fn audit(&self, caller: &Caller, here: &Here, action: &str, target: &str, detail: String) {
        let line = AuditLine { namespace_id: &here.id, actor: Here::actor(caller), action, target, detail };
        if let Err(e) = self.catalogue.audit(&line).await {
            tracing::warn!(error = %e, action, "cannot write an audit line");
        }
    }

    /// The audit line of a committed upload, its actor read from the session's key.
    pub(crate) async fn audit_commit(&self, upload: &UploadRecord, object: &fedml_proto::ObjectMeta) {
        let Some(key_id) = upload.key_id.as_deref() else { return };
        let user = match self.catalogue.api_key(key_id).await {
            Ok(key) => key.user_name,
            Err(e) => {
                tracing::warn!(error = %e, "cannot name the actor of an upload in the audit log");
                return;
            }
        };
        let action = if object.version > 1 { "overwrite" } else { "upload" };
        let line = AuditLine {
            namespace_id: &upload.owner_id,
            actor: crate::catalogue::Actor { user: &user, key_id },
            action,
            target: &object.data_name,
            detail: format!("version {}, {} bytes", object.version, object.size),
        };
        if let Err(e) = self.catalogue.audit(&line).await {
            tracing::warn!(error = %e, action, "cannot write an audit line");
        }
    }

    // ---------------------------------------------------------------- organisations

    /// Creates organisation `req.name`; the caller becomes its admin. Its name shares the space
    /// of user names.
    pub async fn create_org(&self, caller: &Caller, req: &CreateOrg) -> Result<OrgInfo> {
        super::access::may_manage_account(caller, "create organisations")?;
        check_org_name(&req.name)?;
        let id = keys::random_hex(8);
        self.catalogue.create_org(&id, &req.name, &caller.user_id, &Here::actor(caller)).await?;
        let org = self.catalogue.organisations(&caller.user_id, false).await?.into_iter().find(|o| o.id == id);
        org.map(org_info).ok_or_else(|| Error::Internal("an organisation just made is not listed".into()))
    }

    /// The caller's organisations with its role in each; a server administrator's lists every
    /// organisation.
    pub async fn orgs(&self, caller: &Caller) -> Result<Vec<OrgInfo>> {
        let allowed = |id: &str| super::access::key_allows(caller, id);
        let rows = self.catalogue.organisations(&caller.user_id, caller.admin).await?;
        Ok(rows.into_iter().filter(|o| allowed(&o.id)).map(org_info).collect())
    }

    /// The organisation `org` as `need` allows the caller to see it; a user's own namespace is
    /// not an organisation.
    async fn org(&self, caller: &Caller, org: &str, need: Need) -> Result<Here> {
        let here = self.enter(caller, Some(org), need).await?;
        if !here.organisation {
            return Err(Error::Invalid(format!(
                "{org:?} is a user's own namespace, not an organisation; `fedml org create NAME` makes one"
            )));
        }
        Ok(here)
    }

    /// The members of `org` (any member may see them).
    pub async fn members(&self, caller: &Caller, org: &str) -> Result<Vec<Member>> {
        let here = self.org(caller, org, Need::Read).await?;
        Ok(self
            .catalogue
            .members(&here.id)
            .await?
            .into_iter()
            .map(|m| Member { user: m.user, role: m.role, added_at: rfc3339(m.added_at), added_by: m.added_by })
            .collect())
    }

    /// Gives `user` the role `role` in `org`, adding them if they are not a member (admins
    /// only). Refused when it would leave the organisation without an admin.
    pub async fn set_member(&self, caller: &Caller, org: &str, user: &str, role: Role) -> Result<Member> {
        let here = self.org(caller, org, Need::Manage).await?;
        if role == Role::Owner {
            return Err(Error::Invalid("a member's role is reader, writer or admin".into()));
        }
        let member = self.user_named(user).await?;
        self.catalogue.set_member(&here.id, &member.id, &member.name, role, &Here::actor(caller)).await?;
        let listed = self.catalogue.members(&here.id).await?.into_iter().find(|m| m.user_id == member.id);
        let m = listed.ok_or_else(|| Error::Conflict(format!("{user:?} was removed meanwhile; add them again")))?;
        Ok(Member { user: m.user, role: m.role, added_at: rfc3339(m.added_at), added_by: m.added_by })
    }

    /// Removes `user` from `org`: an admin removes anyone, a member themself. Their access ends
    /// with this call, on every instance (each request reads the membership). Refused for the
    /// last admin. `false` when they were not a member.
    pub async fn remove_member(&self, caller: &Caller, org: &str, user: &str) -> Result<bool> {
        super::access::may_change(caller)?;
        let need = if user == caller.user_name { Need::Read } else { Need::Manage };
        let here = self.org(caller, org, need).await?;
        let member = self.user_named(user).await?;
        Ok(self.catalogue.remove_member(&here.id, &member.id, &member.name, &Here::actor(caller)).await?)
    }

    /// Deletes organisation `org` (admins only). Refused while it holds objects unless `force`,
    /// which deletes them first (their bytes go to the collector). Its members, links and open
    /// upload sessions end, and its name is free again.
    pub async fn delete_org(&self, caller: &Caller, org: &str, force: bool) -> Result<bool> {
        let here = self.org(caller, org, Need::Manage).await?;
        // Objects an upload commits while this runs are found by the next round.
        for _round in 0..5 {
            if force {
                loop {
                    let page = self.catalogue.list_objects(&here.id, None, 1000).await?;
                    if page.is_empty() {
                        break;
                    }
                    for object in page {
                        match self.catalogue.delete_object(&here.id, &object.meta.data_name, self.reclaim_after()).await
                        {
                            Ok(_) | Err(CatalogueError::NotFound) => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            }
            match self.catalogue.retire_org(&here.id, &here.name, self.reclaim_after()).await {
                Ok(()) => {
                    self.collect_garbage().await?;
                    return Ok(true);
                }
                Err(CatalogueError::Conflict(m)) if !force => return Err(Error::Conflict(m)),
                Err(CatalogueError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(format!("{org:?} kept receiving uploads while it was being deleted; try again")))
    }

    /// A user by name, for membership changes.
    async fn user_named(&self, user: &str) -> Result<crate::catalogue::User> {
        match self.catalogue.user_by_name(user).await {
            Ok(found) => Ok(found),
            Err(CatalogueError::NotFound) => Err(Error::NotFound(format!(
                "no user named {user:?}; the server admin creates users (`fedml admin user create NAME`)"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    // ---------------------------------------------------------------- the audit log

    /// The audit log of `namespace`, newest first, before the line `before` (admins of an
    /// organisation; the owner of a user's own namespace).
    pub async fn audit_log(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<AuditPage> {
        let here = self.enter(caller, namespace, Need::Manage).await?;
        let limit = limit.unwrap_or(AUDIT_PAGE).clamp(1, AUDIT_MAX_PAGE);
        let rows = self.catalogue.audit_page(&here.id, before, limit).await?;
        let next = (rows.len() == limit as usize).then(|| rows.last().map(|r| r.id.clone())).flatten();
        let entries = rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                at: rfc3339(r.at),
                namespace: here.name.clone(),
                actor: r.actor,
                key_id: r.key_id,
                action: r.action,
                target: r.target,
                detail: r.detail,
            })
            .collect();
        Ok(AuditPage { entries, next })
    }

    /// Forgets audit lines older than the retention (the collector's round).
    pub(crate) async fn prune_audit(&self) -> Result<u64> {
        let before = now_ms() - self.audit_retention_secs as i64 * 1000;
        Ok(self.catalogue.prune_audit(before).await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::catalogue::{Actor, AuditLine};
    use crate::operations::test_support;

    /// The audit log keeps its lines for the retention, newest first, paged by id; the collector
    /// forgets older ones.
    #[tokio::test]
    async fn audit_lines_page_newest_first_and_go_after_the_retention() {
        let dir = tempfile::tempdir().expect("tmp");
        let catalogue = test_support::catalogue(dir.path()).await;
        let user = crate::admin::create_user(&catalogue, "alice").await.expect("user");
        let platform = test_support::platform(catalogue).with_audit_retention_secs(3600);
        for i in 0..5 {
            let line = AuditLine {
                namespace_id: &user.id,
                actor: Actor { user: "alice", key_id: "k" },
                action: "upload",
                target: &format!("object-{i}"),
                detail: String::new(),
            };
            platform.catalogue.audit(&line).await.expect("audit");
        }
        let first = platform.catalogue.audit_page(&user.id, None, 3).await.expect("page");
        assert_eq!(first.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["object-4", "object-3", "object-2"]);
        let rest = platform.catalogue.audit_page(&user.id, Some(&first[2].id), 3).await.expect("page");
        assert_eq!(rest.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["object-1", "object-0"]);
        assert_eq!(platform.prune_audit().await.expect("prune"), 0, "nothing is older than an hour");
        // Two lines written two hours ago go; the rest stay.
        let old = crate::time::now_ms() - 2 * 3600 * 1000;
        let ids: Vec<String> = rest.iter().map(|r| r.id.clone()).collect();
        for id in &ids {
            sqlx::query("UPDATE audit_log SET at = $1 WHERE id = $2")
                .bind(old)
                .bind(id)
                .execute(&platform.catalogue.pool_for_tests())
                .await
                .expect("age");
        }
        assert_eq!(platform.prune_audit().await.expect("prune"), 2);
        assert_eq!(platform.catalogue.audit_page(&user.id, None, 10).await.expect("page").len(), 3);
    }
}
