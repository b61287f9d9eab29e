//! Teams: the SDK's calls for namespaces, organisations and their members, share links, the audit
//! log and scoped keys. Every object call takes its namespace from [`Target::namespace`]; these
//! calls are the rest. Each answers a [`FedMLResponse`] as the seed's calls do: FAILURE for a
//! refusal (no such organisation, not allowed, bad input), ERROR when something broke.

use std::time::Duration;

pub use fedml_proto::{
    AuditEntry, AuditPage, CreateKey, CreateShare, KeyInfo, Member, NamespaceInfo, NewKey, NewShare, OrgInfo, Role,
    S3Credentials, ShareInfo,
};

use crate::error::{ClientError, Result};
use crate::{FedMLResponse, Target, block_on, check_namespace};

/// The namespaces the caller may use, its own first then its organisations by name, each with
/// the caller's role in it (`owner` of its own; `reader`, `writer` or `admin` of an
/// organisation's).
pub fn namespaces(target: &Target) -> FedMLResponse<Vec<NamespaceInfo>> {
    let result = (|| block_on(target.client()?.namespaces()))();
    FedMLResponse::from_result(result, |list| format!("{} namespaces", list.len()))
}

/// Creates organisation `name` (it shares one space of names with users); the caller becomes
/// its admin. `data` is the organisation as the caller now sees it.
pub fn org_create(name: &str, target: &Target) -> FedMLResponse<OrgInfo> {
    let result = (|| {
        check_org(name)?;
        block_on(target.client()?.create_org(name))
    })();
    FedMLResponse::from_result(result, |org| format!("created organisation {:?}; you are its admin", org.name))
}

/// The organisations the caller belongs to, with its role in each (a server administrator sees
/// every organisation; `role` is `None` where they are no member).
pub fn org_list(target: &Target) -> FedMLResponse<Vec<OrgInfo>> {
    let result = (|| block_on(target.client()?.orgs()))();
    FedMLResponse::from_result(result, |orgs| format!("{} organisations", orgs.len()))
}

/// The members of organisation `org` with their roles (any member may read them).
pub fn org_members(org: &str, target: &Target) -> FedMLResponse<Vec<Member>> {
    let result = (|| {
        check_org(org)?;
        block_on(target.client()?.members(org))
    })();
    FedMLResponse::from_result(result, |members| format!("{} members of {org:?}", members.len()))
}

/// Adds user `user` to organisation `org` with `role` (`reader`, `writer` or `admin`), or
/// changes the role of a member; only an admin of `org` may. `data` is the member as they now
/// are. The last admin cannot be made anything else.
pub fn org_set_member(org: &str, user: &str, role: Role, target: &Target) -> FedMLResponse<Member> {
    let result = (|| {
        check_org(org)?;
        check_user(user)?;
        if role == Role::Owner {
            return Err(ClientError::Failure(
                "a member's role is reader, writer or admin; owner is only a user's own namespace".into(),
            ));
        }
        block_on(target.client()?.set_member(org, user, role))
    })();
    FedMLResponse::from_result(result, |m| format!("{:?} is {} of {org:?}", m.user, article(m.role)))
}

/// Removes user `user` from organisation `org` (an admin may remove anyone but the last admin;
/// a member may remove themself). Their access ends at once. `data` is `true` once removed.
pub fn org_remove_member(org: &str, user: &str, target: &Target) -> FedMLResponse<bool> {
    let result = (|| {
        check_org(org)?;
        check_user(user)?;
        block_on(target.client()?.remove_member(org, user))
    })();
    FedMLResponse::from_result(result, |_| format!("removed {user:?} from {org:?}"))
}

/// Deletes organisation `org` (its admin only). Refused while it holds objects unless `force`,
/// which deletes them with it. `data` is `true` once it is gone.
pub fn org_delete(org: &str, force: bool, target: &Target) -> FedMLResponse<bool> {
    let result = (|| {
        check_org(org)?;
        block_on(target.client()?.delete_org(org, force))
    })();
    FedMLResponse::from_result(result, |_| format!("deleted organisation {org:?}"))
}

/// Creates a link that downloads object `data_name` with no key: of `namespace` (else
/// [`Target::namespace`], else the caller's own), of version `version` (else whatever version is
/// the latest when the link is used), for `expires_in` (else, and at most, the server's
/// maximum, 30 days by default). Only a writer of the namespace may. `data` holds the link
/// (`url`, shown only this once) and what the link is (`share`: its id, expiry, …).
pub fn share(
    data_name: &str,
    namespace: Option<&str>,
    version: Option<u64>,
    expires_in: Option<Duration>,
    target: &Target,
) -> FedMLResponse<NewShare> {
    let result = (|| {
        fedml_proto::rules::check_name(data_name).map_err(ClientError::Failure)?;
        if let Some(ns) = namespace {
            check_namespace(ns)?;
        }
        let expires_in = match expires_in {
            Some(d) if d.as_secs() == 0 => {
                return Err(ClientError::Failure(
                    "a link must live at least one second; give an expiry such as 1h or 7d".into(),
                ));
            }
            d => d.map(|d| d.as_secs()),
        };
        let request =
            CreateShare { name: data_name.to_string(), namespace: namespace.map(str::to_string), version, expires_in };
        block_on(target.client()?.create_share(&request))
    })();
    FedMLResponse::from_result(result, |new| {
        format!("shared {data_name:?} until {}: {}", new.share.expires_at, new.url)
    })
}

/// The live share links of `namespace` (else [`Target::namespace`], else the caller's own),
/// with when each expires and how many times it was used (a writer of the namespace may list
/// them; the links themselves are never shown again).
pub fn shares(namespace: Option<&str>, target: &Target) -> FedMLResponse<Vec<ShareInfo>> {
    let result = (|| {
        let mut client = target.client()?;
        if let Some(ns) = namespace {
            check_namespace(ns)?;
            client = client.in_namespace(ns);
        }
        block_on(client.shares())
    })();
    FedMLResponse::from_result(result, |list| format!("{} live links", list.len()))
}

/// Ends share link `id` (as [`shares`] lists it) at once: its URL answers 404 from then on.
/// `data` is `true` once it is ended.
pub fn unshare(id: &str, target: &Target) -> FedMLResponse<bool> {
    let result = (|| {
        if id.trim().is_empty() {
            return Err(ClientError::Failure(
                "name the link to end by its id (`fedml storage shares` lists them)".into(),
            ));
        }
        block_on(target.client()?.delete_share(id.trim()))
    })();
    FedMLResponse::from_result(result, |_| format!("link {id} ended; it no longer downloads anything"))
}

/// A page of the audit log of `namespace` (else [`Target::namespace`], else the caller's own),
/// newest first: who uploaded, overwrote, deleted, edited, shared, unshared, added or removed
/// whom, when, with which key. `before` (an entry's id, the `next` of the previous page) reads
/// older entries; `limit` caps the page. Only an admin of an organisation (or the owner of
/// their own namespace) may read it.
pub fn audit_log(
    namespace: Option<&str>,
    before: Option<&str>,
    limit: Option<u32>,
    target: &Target,
) -> FedMLResponse<AuditPage> {
    let result = (|| {
        let mut client = target.client()?;
        if let Some(ns) = namespace {
            check_namespace(ns)?;
            client = client.in_namespace(ns);
        }
        if limit == Some(0) {
            return Err(ClientError::Failure("--limit must be at least 1".into()));
        }
        block_on(client.audit_log(before, limit))
    })();
    FedMLResponse::from_result(result, |page| format!("{} entries", page.entries.len()))
}

/// Mints an API key for the caller: `read_only` (it lists, reads and downloads only), limited
/// to `namespaces` when given (each one the caller may use; every namespace the caller may use
/// otherwise). `data` holds the key (`api_key`, shown only this once) and what it is (`key`).
pub fn create_key(
    label: &str,
    read_only: bool,
    namespaces: Option<Vec<String>>,
    target: &Target,
) -> FedMLResponse<NewKey> {
    let result = (|| {
        if let Some(list) = &namespaces {
            if list.is_empty() {
                return Err(ClientError::Failure(
                    "a key limited to no namespace could do nothing; name at least one, or leave the limit out".into(),
                ));
            }
            for ns in list {
                check_namespace(ns)?;
            }
        }
        let request = CreateKey { label: label.to_string(), read_only, namespaces };
        block_on(target.client()?.create_key(&request))
    })();
    FedMLResponse::from_result(result, |new| format!("key {} created; it is shown only now", new.key.id))
}

/// The caller's API keys, with the namespaces each is limited to (never their secrets).
pub fn list_keys(target: &Target) -> FedMLResponse<Vec<KeyInfo>> {
    let result = (|| block_on(target.client()?.keys()))();
    FedMLResponse::from_result(result, |keys| format!("{} keys", keys.len()))
}

/// The S3 credentials of the API key in use: an access key id and secret for the server's S3
/// endpoint (`data.endpoint_url`), with exactly the key's rights (its namespaces are the buckets,
/// read-only or not). Nothing is stored for them: they stop working when the key is revoked.
pub fn s3_credentials(target: &Target) -> FedMLResponse<S3Credentials> {
    let result = (|| block_on(target.client()?.s3_credentials()))();
    FedMLResponse::from_result(result, |c| format!("S3 access key {} for {}", c.access_key_id, c.endpoint_url))
}

/// A role a member can be given, from its name; the FAILURE says which there are.
pub fn parse_role(text: &str) -> Result<Role> {
    Role::parse_member(text.trim().to_ascii_lowercase().as_str())
        .ok_or_else(|| ClientError::Failure(format!("{text:?} is not a role; give reader, writer or admin")))
}

/// A duration such as `90s`, `30m`, `12h`, `7d` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        ClientError::Failure(format!(
            "{text:?} is not a duration; give a number and a unit: s, m, h or d (e.g. 90s, 30m, 12h, 7d)"
        ))
    };
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let count: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    let seconds = count.checked_mul(scale).ok_or_else(bad)?;
    if seconds == 0 {
        return Err(ClientError::Failure(format!("{text:?} is no time at all; give an expiry such as 1h or 7d")));
    }
    Ok(Duration::from_secs(seconds))
}

fn article(role: Role) -> String {
    match role {
        Role::Admin => "an admin".into(),
        other => format!("a {other}"),
    }
}

fn check_org(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(ClientError::Failure("name the organisation (`fedml org list` lists yours)".into()));
    }
    check_namespace(name)
}

fn check_user(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ClientError::Failure(format!(
            "{name:?} is not a user name (1 to 64 characters without spaces); name a user of this server"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(parse_duration("90s").map(|d| d.as_secs()).ok(), Some(90));
        assert_eq!(parse_duration("30m").map(|d| d.as_secs()).ok(), Some(1800));
        assert_eq!(parse_duration("12h").map(|d| d.as_secs()).ok(), Some(43_200));
        assert_eq!(parse_duration("7d").map(|d| d.as_secs()).ok(), Some(604_800));
        assert_eq!(parse_duration("45").map(|d| d.as_secs()).ok(), Some(45));
        for bad in ["", "d", "7w", "-1d", "1.5h", "0s", "99999999999999999999d", "7 dd"] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.message().contains("duration") || e.message().contains("no time"), "{bad}: {e}");
        }
    }

    #[test]
    fn roles_read_as_members_have_them() {
        assert_eq!(parse_role("Writer").ok(), Some(Role::Writer));
        assert!(parse_role("owner").is_err());
        assert!(parse_role("root").expect_err("root").message().contains("reader, writer or admin"));
    }
}
