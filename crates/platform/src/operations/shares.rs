//! Share links: a URL that downloads one object (or one version of it) with no key, until it
//! expires, is revoked, or its object or version is deleted.
//!
//! A link reads `{public_url}/s/{id}{secret}`: 16 hex digits of id that find its row, 64 of
//! secret (256 bits) of which only the SHA-256 is kept and compared in constant time. An unknown
//! id, a wrong secret, a revoked, expired or dead link all answer the same refusal after the same
//! work, so that a link's existence is never told.

use bytes::Bytes;
use futures_util::stream::BoxStream;

use fedml_proto::{CreateShare, NewShare, ShareInfo};

use super::{Caller, Here, Need, Platform};
use crate::blobs::BlobError;
use crate::catalogue::{AuditLine, CatalogueError, NewShareRow, ObjectRecord, ShareRow};
use crate::error::{Error, Result};
use crate::keys;
use crate::time::{now_ms, rfc3339};

/// Length of a link's id and secret, in hex digits.
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;

/// The longest a link may live unless the server says otherwise: 30 days.
pub const DEFAULT_MAX_SHARE_SECS: u64 = 30 * 24 * 3600;

/// What a live link reads: the object (or version) and the link's expiry.
#[derive(Debug, Clone)]
pub struct SharedObject {
    pub share_id: String,
    /// The namespace the object is in.
    pub namespace: String,
    pub record: ObjectRecord,
    /// Unix milliseconds.
    pub expires_at: i64,
}

impl SharedObject {
    /// A strong validator of the bytes: their checksum.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.record.meta.checksum.trim_start_matches(fedml_proto::checksum::PREFIX))
    }
}

/// The bytes a link's read streams.
pub type SharedRead = BoxStream<'static, std::result::Result<Bytes, BlobError>>;

fn gone() -> Error {
    Error::NotFound(
        "this link does not exist or no longer works (expired, revoked, or its data was deleted); ask whoever sent \
         it for a new one"
            .into(),
    )
}

fn share_info(row: &ShareRow) -> ShareInfo {
    ShareInfo {
        id: row.id.clone(),
        namespace: row.namespace.clone(),
        name: row.name.clone(),
        version: row.version,
        created_by: row.created_by.clone(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        uses: row.uses,
    }
}

impl Platform {
    /// The longest a share link may live on this server.
    pub fn max_share_secs(&self) -> u64 {
        self.max_share_secs
    }

    /// Makes a link that downloads `req.name` (or version `req.version` of it) of `req.namespace`
    /// with no key, for `req.expires_in` seconds (the server's maximum when left out). Writers
    /// only. The answer holds the only copy of the link.
    pub async fn share(&self, caller: &Caller, req: &CreateShare) -> Result<NewShare> {
        let here = self.enter(caller, req.namespace.as_deref(), Need::Write).await?;
        let lifetime = match req.expires_in {
            None => self.max_share_secs,
            Some(0) => return Err(Error::Invalid("a link must live at least one second".into())),
            Some(secs) if secs > self.max_share_secs => {
                return Err(Error::Invalid(format!(
                    "a link lives at most {} on this server; ask for less",
                    describe_secs(self.max_share_secs)
                )));
            }
            Some(secs) => secs,
        };
        // The link names the object by the id of its latest row (an earlier version's row has an
        // id of its own), and the version by number, checked here to exist.
        let record = self.object_record(&here, &req.name, None).await?;
        if let Some(version) = req.version.filter(|v| *v != record.meta.version) {
            self.object_record(&here, &req.name, Some(version)).await?;
        }
        let id = keys::random_hex(ID_HEX / 2);
        let secret = keys::random_hex(SECRET_HEX / 2);
        let expires_at = now_ms() + lifetime as i64 * 1000;
        let detail = match req.version {
            Some(v) => format!("version {v}, link {id}, until {}", rfc3339(expires_at)),
            None => format!("latest version, link {id}, until {}", rfc3339(expires_at)),
        };
        let line = AuditLine {
            namespace_id: &here.id,
            actor: Here::actor(caller),
            action: "share",
            target: &record.meta.data_name,
            detail,
        };
        let row = NewShareRow {
            id: &id,
            secret_sha256: &keys::sha256_hex(&secret),
            object: &record,
            version: req.version,
            expires_at,
        };
        match self.catalogue.insert_share(&row, &line).await {
            Ok(()) => {}
            Err(CatalogueError::NotFound) => return Err(super::not_found(&req.name)),
            Err(e) => return Err(e.into()),
        }
        let share = self.catalogue.share(&id).await?;
        let url = format!("{}/s/{id}{secret}", self.public_url.trim_end_matches('/'));
        Ok(NewShare { share: share_info(&share), url })
    }

    /// The live links of `namespace` (writers only), newest first.
    pub async fn shares(&self, caller: &Caller, namespace: Option<&str>) -> Result<Vec<ShareInfo>> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        Ok(self.catalogue.live_shares(&here.id, now_ms()).await?.iter().map(share_info).collect())
    }

    /// Ends link `id` at once (a writer of its namespace). `false` when it had ended already.
    pub async fn unshare(&self, caller: &Caller, id: &str) -> Result<bool> {
        super::access::may_change(caller)?;
        let unknown = || Error::NotFound(format!("no link with id {id:?}; `fedml storage shares` lists them"));
        let row = match self.catalogue.share(id).await {
            Ok(row) => row,
            Err(CatalogueError::NotFound) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        let here = match self.enter_id(caller, &row.namespace_id, Need::Write).await {
            Ok(here) => here,
            Err(Error::NotFound(_)) => return Err(unknown()),
            Err(e) => return Err(e),
        };
        let line = AuditLine {
            namespace_id: &here.id,
            actor: Here::actor(caller),
            action: "unshare",
            target: &row.name,
            detail: format!("link {id}"),
        };
        Ok(self.catalogue.revoke_share(id, &line).await?)
    }

    /// The object a presented link reads, if the link works; the same refusal for every link
    /// that does not.
    pub async fn shared(&self, token: &str) -> Result<SharedObject> {
        let shaped = token.len() == ID_HEX + SECRET_HEX && token.bytes().all(|b| b.is_ascii_hexdigit());
        let (id, secret) = if shaped { token.split_at(ID_HEX) } else { ("", token) };
        let row = match self.catalogue.share(id).await {
            Ok(row) => Some(row),
            Err(CatalogueError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        // Hashed and compared whether or not a row was found: every refusal costs the same.
        if !keys::secret_matches(secret, row.as_ref().map(|r| r.secret_sha256.as_str())) || !shaped {
            return Err(gone());
        }
        let Some(row) = row else { return Err(gone()) };
        if row.revoked_at.is_some() || row.expires_at <= now_ms() {
            return Err(gone());
        }
        let record = match self.catalogue.object_by_id(&row.object_id, row.version).await {
            Ok(record) => record,
            Err(CatalogueError::NotFound | CatalogueError::NoVersion(_)) => return Err(gone()),
            Err(e) => return Err(e.into()),
        };
        Ok(SharedObject { share_id: row.id, namespace: row.namespace, record, expires_at: row.expires_at })
    }

    /// Bytes `first .. first + count` of what a link reads, from its packs or its blob, whatever
    /// the store; counts one use of the link.
    pub async fn read_shared(&self, shared: &SharedObject, (first, count): (u64, u64)) -> Result<SharedRead> {
        if let Err(e) = self.catalogue.count_share_use(&shared.share_id).await {
            tracing::warn!(error = %e, "cannot count a use of a share link");
        }
        self.read_record(&shared.record, (first, count)).await
    }
}

/// `3 days`, `5 hours`, `90 seconds`: a lifetime as a person reads it.
pub(crate) fn describe_secs(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}
