//! The operations the dashboard added to the native API (the CLI and the SDKs call them too):
//! listing with search and sort, editing an object's metadata, the caller's own API keys, what
//! administrators see, and dashboard sessions (an API key exchanged for an HttpOnly cookie).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fedml_proto::{EditObject, KeyInfo, NewKey, ObjectPage, SessionInfo, UserInfo, rules};

use super::{Caller, Need, Platform, access, not_found};
use crate::catalogue::{ApiKeyRecord, Browse, CatalogueError, ObjectEdit, SortBy};
use crate::error::{Error, Result};
use crate::keys;
use crate::time::{now_ms, rfc3339};

/// A page request of `GET /api/v1/objects`.
#[derive(Debug, Clone, Default)]
pub struct ListRequest<'a> {
    /// The `next` of the previous page.
    pub after: Option<&'a str>,
    pub limit: Option<u32>,
    /// Only objects whose name or a tag contains this (any case).
    pub query: Option<&'a str>,
    /// `name` (default), `size` or `updated`.
    pub sort: Option<&'a str>,
    pub descending: bool,
}

/// Failed sign-ins per client address: at most [`SignInLimiter::MAX_FAILURES`] in any
/// [`SignInLimiter::WINDOW`]; then the address waits. Each instance counts its own (a key is a
/// 256-bit secret, so this bounds the work a guesser makes, not its odds).
#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl SignInLimiter {
    pub const MAX_FAILURES: usize = 10;
    pub const WINDOW: Duration = Duration::from_secs(60);
    /// Addresses remembered at most; the oldest are forgotten first.
    const MAX_ADDRESSES: usize = 100_000;

    /// `Some(seconds to wait)` while `peer` has used up its attempts.
    fn wait(&self, peer: IpAddr) -> Option<u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let times = failures.get_mut(&peer)?;
        times.retain(|t| now.duration_since(*t) < Self::WINDOW);
        if times.len() < Self::MAX_FAILURES {
            return None;
        }
        let oldest = times.first().copied().unwrap_or(now);
        Some((Self::WINDOW.saturating_sub(now.duration_since(oldest))).as_secs().max(1))
    }

    fn failed(&self, peer: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if failures.len() >= Self::MAX_ADDRESSES {
            failures.retain(|_, times| times.last().is_some_and(|t| now.duration_since(*t) < Self::WINDOW));
        }
        failures.entry(peer).or_default().push(now);
    }
}

/// The id under which a session token is kept: its SHA-256 (the token itself is never stored).
fn session_id(token: &str) -> String {
    keys::sha256_hex(token)
}

fn key_info(record: &ApiKeyRecord) -> KeyInfo {
    KeyInfo {
        id: record.id.clone(),
        user: record.user_name.clone(),
        label: record.label.clone(),
        read_only: record.read_only,
        created_at: rfc3339(record.created_at),
        revoked_at: record.revoked_at.map(rfc3339),
        namespaces: None,
    }
}

impl Platform {
    // ---------------------------------------------------------------- objects

    /// A page of the objects of `namespace`: in name order from `after` by default, or searched
    /// and sorted as `request` asks. `next` is the position to pass as `after` for the next page;
    /// `total` (how many match) comes with the first page.
    pub async fn list(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        request: &ListRequest<'_>,
    ) -> Result<ObjectPage> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let limit = request.limit.unwrap_or(1000).clamp(1, 10_000);
        let sort = match request.sort {
            None => SortBy::Name,
            Some(text) => SortBy::parse(text)
                .ok_or_else(|| Error::Invalid(format!("sort {text:?} is not one of name, size, updated")))?,
        };
        if let Some(query) = request.query
            && query.chars().count() > 200
        {
            return Err(Error::Invalid("a search is at most 200 characters".into()));
        }
        // After a name (sorting by name), else after `<value>:<name>` as `next` gave it.
        let after = match (sort, request.after) {
            (_, None) => None,
            (SortBy::Name, Some(name)) => Some((None, name)),
            (_, Some(position)) => {
                let parsed = position.split_once(':').and_then(|(v, n)| Some((Some(v.parse::<i64>().ok()?), n)));
                Some(parsed.ok_or_else(|| {
                    Error::Invalid("after must be the `next` of the previous page of this listing".into())
                })?)
            }
        };
        // Names are stored in NFC (`rules::normal_name`): a search typed in another form finds them.
        let query = request.query.map(rules::nfc);
        let browse = Browse { query: query.as_deref(), sort, descending: request.descending, after, limit };
        let (records, total) = self.catalogue.browse_objects(&here.id, &browse).await?;
        let next = (records.len() == limit as usize).then(|| records.last()).flatten().map(|last| match sort {
            SortBy::Name => last.meta.data_name.clone(),
            SortBy::Size => format!("{}:{}", last.meta.size, last.meta.data_name),
            SortBy::Updated => format!("{}:{}", last.updated_ms, last.meta.data_name),
        });
        let mut objects = Vec::with_capacity(records.len());
        for record in records {
            objects.push(self.with_download_url(record).await?);
        }
        Ok(ObjectPage { objects, next, total })
    }

    /// Changes an object's description, tags or user metadata, checked by the rules an upload
    /// is checked by; answers the object as it now is.
    pub async fn edit_object(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        name: &str,
        edit: EditObject,
    ) -> Result<fedml_proto::ObjectMeta> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let stored = self.stored_name(&here, name).await?;
        if edit.description.is_none() && edit.tags.is_none() && edit.user_metadata.is_none() {
            return Err(Error::Invalid(
                "nothing to change: give description, tags or user_metadata (or several)".into(),
            ));
        }
        if let Some(description) = &edit.description {
            rules::check_description(description).map_err(Error::Invalid)?;
        }
        if let Some(tags) = &edit.tags {
            rules::check_tags(tags).map_err(Error::Invalid)?;
        }
        if let Some(metadata) = &edit.user_metadata {
            rules::check_metadata(metadata).map_err(Error::Invalid)?;
        }
        let changed: Vec<&str> = [
            edit.description.as_ref().map(|_| "description"),
            edit.tags.as_ref().map(|_| "tags"),
            edit.user_metadata.as_ref().map(|_| "user metadata"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let change = ObjectEdit { description: edit.description, tags: edit.tags, user_metadata: edit.user_metadata };
        let record = self.catalogue.edit_object(&here.id, &stored, &change).await.map_err(|e| match e {
            CatalogueError::NotFound => not_found(name),
            e => e.into(),
        })?;
        self.audit(caller, &here, "edit", &stored, changed.join(", ")).await;
        self.with_download_url(record).await
    }

    // ---------------------------------------------------------------- the caller's keys

    /// The caller's API keys (revoked ones too), oldest first; never a secret.
    pub async fn keys(&self, caller: &Caller) -> Result<Vec<KeyInfo>> {
        let keys = self.catalogue.list_api_keys(Some(&caller.user_name)).await?;
        self.key_infos(caller, &keys).await
    }

    /// Each key as its owner sees it, its namespaces by name.
    async fn key_infos(&self, caller: &Caller, keys: &[crate::catalogue::ApiKeyRecord]) -> Result<Vec<KeyInfo>> {
        let mut infos = Vec::with_capacity(keys.len());
        for record in keys {
            let mut info = key_info(record);
            if let Some(ids) = &record.namespaces {
                info.namespaces = Some(self.namespace_names(caller, ids).await?);
            }
            infos.push(info);
        }
        Ok(infos)
    }

    /// Mints a key for the caller, limited to `namespaces` (each one the caller may use) when
    /// given; the answer holds the only copy of it. A read-only key mints none.
    pub async fn create_key(
        &self,
        caller: &Caller,
        label: &str,
        read_only: bool,
        namespaces: Option<&[String]>,
    ) -> Result<NewKey> {
        access::may_manage_account(caller, "create keys")?;
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(Error::Invalid("a key's label is at most 100 characters, without control characters".into()));
        }
        if let Some(c) = fedml_proto::text::find_invisible(label) {
            return Err(Error::Invalid(format!(
                "the label contains {}, an invisible character; remove it",
                fedml_proto::text::describe(c)
            )));
        }
        let scope = match namespaces {
            Some(names) => Some(self.key_scope(caller, names).await?),
            None => None,
        };
        let key = keys::mint();
        self.catalogue
            .insert_api_key(&key.id, &caller.user_id, &key.secret_sha256, read_only, label, scope.as_deref())
            .await?;
        let record = self.catalogue.api_key(&key.id).await?;
        let info = self.key_infos(caller, std::slice::from_ref(&record)).await?.into_iter().next();
        Ok(NewKey { key: info.unwrap_or_else(|| key_info(&record)), api_key: key.full })
    }

    /// Revokes one of the caller's keys (an administrator: anyone's). Its upload sessions end
    /// and so do the dashboard sessions signed in with it. `false` when it was revoked already.
    pub async fn revoke_key(&self, caller: &Caller, id: &str) -> Result<bool> {
        access::may_manage_account(caller, "revoke keys")?;
        let unknown = || Error::NotFound(format!("you have no API key with id {id:?}; the key list shows the ids"));
        let record = match self.catalogue.api_key(id).await {
            Ok(record) => record,
            Err(CatalogueError::NotFound) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        // Another user's key reads as unknown: its existence is not told.
        if !access::may_touch_key(caller, &record.user_id) {
            return Err(unknown());
        }
        Ok(self.catalogue.revoke_api_key(id).await?)
    }

    // ---------------------------------------------------------------- administrators

    /// What the objects of `namespace` hold, and what the stores really hold for them (a pack
    /// shared by several objects counted once).
    pub async fn storage_usage(&self, caller: &Caller, namespace: Option<&str>) -> Result<fedml_proto::StorageUsage> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        Ok(self.catalogue.storage_usage(&here.id).await?)
    }

    /// [`Platform::storage_usage`] of every user (administrators only).
    pub async fn storage_usages(&self, caller: &Caller) -> Result<Vec<fedml_proto::StorageUsage>> {
        access::may_administer(caller)?;
        Ok(self.catalogue.storage_usages().await?)
    }

    /// Every user with what they store and their live keys (administrators only).
    pub async fn users(&self, caller: &Caller) -> Result<Vec<UserInfo>> {
        access::may_administer(caller)?;
        Ok(self
            .catalogue
            .user_summaries()
            .await?
            .into_iter()
            .map(|u| UserInfo {
                name: u.name,
                admin: u.admin,
                created_at: rfc3339(u.created_at),
                objects: u.objects,
                stored_bytes: u.stored_bytes,
                active_keys: u.active_keys,
            })
            .collect())
    }

    /// One user's keys (administrators only).
    pub async fn user_keys(&self, caller: &Caller, user: &str) -> Result<Vec<KeyInfo>> {
        access::may_administer(caller)?;
        match self.catalogue.user_by_name(user).await {
            Ok(_) => {}
            Err(CatalogueError::NotFound) => return Err(Error::NotFound(format!("no user named {user:?}"))),
            Err(e) => return Err(e.into()),
        }
        let keys = self.catalogue.list_api_keys(Some(user)).await?;
        self.key_infos(caller, &keys).await
    }

    // ---------------------------------------------------------------- dashboard sessions

    /// Exchanges an API key for a dashboard session: answers the session token (for the
    /// cookie only) and what the page may know of the session. Failed attempts are counted per
    /// address; past the limit the address waits, whatever key it sends.
    pub async fn sign_in(&self, presented: &str, peer: IpAddr) -> Result<(String, SessionInfo)> {
        if let Some(wait) = self.sign_ins.wait(peer) {
            return Err(Error::TooManyRequests(
                format!("too many failed sign-ins from your address; wait {wait} s and try again"),
                wait,
            ));
        }
        let caller = match self.authenticate(Some(presented)).await {
            Ok(caller) => caller,
            Err(e @ Error::Unauthorized(_)) => {
                self.sign_ins.failed(peer);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let token = keys::random_hex(32);
        let csrf_token = keys::random_hex(32);
        let expires_ms = now_ms() + self.lifetimes.session_secs * 1000;
        self.catalogue.insert_web_session(&session_id(&token), &caller.key_id, &csrf_token, expires_ms).await?;
        Ok((token, self.session_info(&caller, csrf_token, expires_ms)))
    }

    fn session_info(&self, caller: &Caller, csrf_token: String, expires_ms: i64) -> SessionInfo {
        SessionInfo {
            user: caller.user_name.clone(),
            key_id: caller.key_id.clone(),
            read_only: caller.read_only,
            admin: caller.admin,
            csrf_token,
            expires_at: expires_ms / 1000,
            services: self.service_names(),
            default_service: self.default_service.clone(),
        }
    }

    /// The caller behind a session cookie, with the session (for its CSRF token). Unknown,
    /// ended and expired sessions, and those whose key was revoked, are refused alike.
    pub async fn session_caller(&self, token: &str) -> Result<(Caller, SessionInfo)> {
        let session = match self.catalogue.web_session(&session_id(token), now_ms()).await {
            Ok(session) => session,
            Err(CatalogueError::NotFound) => {
                return Err(Error::Unauthorized(
                    "your dashboard session has ended (signed out, expired or its key revoked); sign in again".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let key = session.key;
        let caller = Caller {
            user_id: key.user_id,
            user_name: key.user_name,
            key_id: key.id,
            read_only: key.read_only,
            admin: key.user_admin,
            namespaces: key.namespaces,
            teams_generation: key.teams_generation,
        };
        let info = self.session_info(&caller, session.csrf_token, session.expires_at);
        Ok((caller, info))
    }

    /// Ends the session of `token` (sign-out); `false` when it had ended already.
    pub async fn sign_out(&self, token: &str) -> Result<bool> {
        Ok(self.catalogue.end_web_session(&session_id(token), now_ms()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_waits_after_its_failures_and_others_do_not() {
        let limiter = SignInLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..SignInLimiter::MAX_FAILURES {
            assert_eq!(limiter.wait(a), None);
            limiter.failed(a);
        }
        let wait = limiter.wait(a).expect("limited");
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(limiter.wait(b), None);
    }
}
