//! Files sent ahead of the commit that names them (the Hub's LFS objects): taken in, checked
//! against their SHA-256, kept for a commit (`repos`) until their session's lifetime ends; and
//! the signed URL they are sent to, which carries no key.

use fedml_proto::ObjectKind;

use super::intake::{Body, Digesting, PutRequest};
use super::{Caller, Need, Platform};
use crate::catalogue::{CatalogueError, StagedFile};
use crate::error::{Error, Result};
use crate::time::now_secs;

/// Where the signed URL an LFS object is sent to lies (the front end serves it).
pub const LFS_UPLOAD_PREFIX: &str = "/hub/lfs-upload";

pub(super) fn hex_sha256(sha256: &str) -> Result<String> {
    let lower = sha256.to_ascii_lowercase();
    if lower.len() != 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Invalid(format!("{sha256:?} is not a SHA-256 (64 hex digits)")));
    }
    Ok(lower)
}

impl Platform {
    /// Takes in an LFS object's bytes for a later commit of `namespace`: `size` bytes whose
    /// SHA-256 is `sha256` (else [`Error::BadBytes`], nothing kept). Kept until a commit names it
    /// or the upload's lifetime ends.
    pub async fn stage_file(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        sha256: &str,
        size: u64,
        body: Body,
    ) -> Result<()> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let sha256 = hex_sha256(sha256)?;
        let req = PutRequest { name: format!(".staged-{sha256}"), size: Some(size), ..Default::default() };
        let mut upload = self.new_session(
            caller,
            &here,
            req.name.clone(),
            ObjectKind::File,
            self.default_service.clone(),
            super::part_size_for(size),
        );
        upload.layout = fedml_proto::content::Layout::Packs;
        upload.declared_size = Some(size);
        upload.reserved_bytes = size;
        let upload = self.begin_session(self.store(&upload.service)?, upload).await?;
        let digesting = Digesting { sha256: true, crc32: true, git_sha1: Some(size), ..Default::default() };
        let taken = match self.take(&upload, body, digesting, Some(size)).await {
            Ok(taken) => taken,
            Err(e) => return Err(self.intake_failed(&upload, e).await),
        };
        let got = taken.digests.sha256.map(hex::encode).unwrap_or_default();
        if got != sha256 {
            let e = Error::BadBytes(format!(
                "the bytes sent have the SHA-256 {got}, not {sha256}: damaged on the way; nothing was kept, send them \
                 again"
            ));
            return Err(self.intake_failed(&upload, e).await);
        }
        let file = StagedFile {
            sha256,
            size,
            crc32: format!("{:08x}", taken.digests.crc32.unwrap_or_default()),
            git_sha1: taken.digests.git_sha1.map(hex::encode).unwrap_or_default(),
            upload_id: upload.id.clone(),
            content: taken.content,
        };
        if let Err(e) = self.catalogue.stage_file(&upload, &file).await {
            return Err(self.intake_failed(&upload, e.into()).await);
        }
        Ok(())
    }

    /// For each SHA-256: whether `namespace` holds such a file already (staged for a commit, or
    /// in a version of a repository), so that it need not be sent.
    pub async fn have_files(&self, caller: &Caller, namespace: Option<&str>, sha256s: &[String]) -> Result<Vec<bool>> {
        let here = self.enter(caller, namespace, Need::Read).await?;
        let mut out = Vec::with_capacity(sha256s.len());
        for sha in sha256s {
            let Ok(sha) = hex_sha256(sha) else {
                out.push(false);
                continue;
            };
            let held = self.catalogue.staged_file(&here.id, &sha).await?.is_some()
                || self.catalogue.file_by_hash(&here.id, &sha).await?.is_some();
            out.push(held);
        }
        Ok(out)
    }

    /// The path and query of the URL an LFS object of `size` bytes with this SHA-256 is sent to
    /// for the caller, into the namespace with id `namespace_id`: signed, so that it carries no
    /// key, and valid for an upload's lifetime.
    pub fn sign_lfs_upload(&self, caller: &Caller, namespace_id: &str, sha256: &str, size: u64) -> String {
        let path =
            format!("{LFS_UPLOAD_PREFIX}/{namespace_id}/{}/{size}/{}", sha256.to_ascii_lowercase(), caller.key_id);
        let expires = now_secs() + self.lifetimes.upload_secs;
        format!("{path}?{}", self.signer.sign("PUT", &path, expires))
    }

    /// Checks a signed LFS upload URL (`path` and `query` as [`Platform::sign_lfs_upload`] made
    /// them) and answers the caller it acts as (its key read now: a revoked key is refused), the
    /// namespace's name, the SHA-256 and the size.
    pub async fn lfs_upload_caller(&self, path: &str, query: &str) -> Result<(Caller, String, String, u64)> {
        let refused = || Error::Forbidden("this upload URL is not valid (or expired): ask for a new one".into());
        let mut expires = None;
        let mut signature = None;
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => expires = v.parse::<i64>().ok(),
                Some(("sig", v)) => signature = Some(v),
                _ => {}
            }
        }
        self.signer.verify("PUT", path, expires, signature, now_secs()).map_err(|_| refused())?;
        let rest = path.strip_prefix(LFS_UPLOAD_PREFIX).and_then(|r| r.strip_prefix('/')).ok_or_else(refused)?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [namespace_id, sha256, size, key_id] = parts[..] else { return Err(refused()) };
        let size: u64 = size.parse().map_err(|_| refused())?;
        let record = match self.catalogue.api_key(key_id).await {
            Ok(record) if record.revoked_at.is_none() => record,
            Ok(_) | Err(CatalogueError::NotFound) => return Err(refused()),
            Err(e) => return Err(e.into()),
        };
        let caller = Caller::from(record);
        let names = self.namespace_names(&caller, &[namespace_id.to_string()]).await?;
        let namespace = names.into_iter().next().ok_or_else(refused)?;
        Ok((caller, namespace, sha256.to_string(), size))
    }
}
