//! The JSON shapes of namespaces, organisations, scoped keys, share links and the audit log.
//!
//! Every object lives in a namespace: a user's own (named after the user) or an organisation's.
//! User and organisation names share one space. Calls that take a namespace take it as
//! `?namespace=NS` (or a `namespace` field of their body); without it they mean the caller's own.

use serde::{Deserialize, Serialize};

/// What a member may do in an organisation's namespace. Ordered: each role may do all that the
/// roles before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Lists, reads metadata, downloads, reads inside objects and versions.
    Reader,
    /// Also uploads, edits, deletes and shares.
    Writer,
    /// Also manages members, quotas and links.
    Admin,
    /// The user whose own namespace it is (never stored as a membership).
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// A role a member can be given (`owner` is not one).
    pub fn parse_member(text: &str) -> Option<Role> {
        match text {
            "reader" => Some(Role::Reader),
            "writer" => Some(Role::Writer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A namespace the caller may use, with the caller's role in it (`GET /api/v1/namespaces`, and
/// in [`crate::Identity`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceInfo {
    pub name: String,
    /// An organisation's (`true`) or a user's own (`false`).
    pub organisation: bool,
    pub role: Role,
}

/// `POST /api/v1/orgs`: create an organisation; its creator becomes its admin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    pub name: String,
}

/// An organisation as a member (or the server administrator) sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrgInfo {
    pub name: String,
    /// The caller's role; `None` for a server administrator who is not a member.
    pub role: Option<Role>,
    pub members: u64,
    pub objects: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// One member of an organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub user: String,
    pub role: Role,
    /// RFC 3339, UTC.
    pub added_at: String,
    /// Who added the member or last changed their role.
    pub added_by: String,
}

/// `PUT /api/v1/orgs/{org}/members/{user}`: add a member or change their role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    pub role: Role,
}

/// `POST /api/v1/shares`: a link that downloads an object (or one version of it) without a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A fixed version; without it the link reads the latest version when it is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Seconds from now; the server's maximum (and default) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// A share link as its namespace's writers see it: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareInfo {
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub version: Option<u64>,
    pub created_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// How many downloads (and ranged reads) it answered.
    pub uses: u64,
}

/// The answer to [`CreateShare`]: the only time the link is shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewShare {
    pub share: ShareInfo,
    pub url: String,
}

/// One line of a namespace's audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Sorts as the lines were written; pass as `before` to read older lines.
    pub id: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub namespace: String,
    /// The user who did it.
    pub actor: String,
    /// The API key it was done with (a dashboard session names its key).
    pub key_id: String,
    /// `upload`, `overwrite`, `delete`, `delete-version`, `edit`, `share`, `unshare`,
    /// `member-add`, `member-role`, `member-remove`, `org-create`.
    pub action: String,
    /// The object, link or user acted on.
    pub target: String,
    /// What else there is to say (a version, a role, an expiry).
    pub detail: String,
}

/// `GET /api/v1/log?namespace=NS`: newest first; pass `next` as `before` for older entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
}
