//! The Hub's LFS batch, decided on the platform: which objects a commit into a namespace still
//! needs sent, and the signed URL each is sent to ([`Platform::sign_lfs_upload`]). One call, so
//! that the front end needs neither the namespace's account id nor a decision of its own.

use super::{Caller, Need, Platform};
use crate::error::Result;

impl Platform {
    /// For each LFS object (`sha256`, `size`) a commit into `namespace` is to name: `None` when
    /// the namespace holds its bytes already (staged, or in a version of a repository), else the
    /// path and query of the signed URL it is sent to. Only for a caller who may write there.
    pub async fn lfs_uploads(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        objects: &[(String, u64)],
    ) -> Result<Vec<Option<String>>> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        let sha256s: Vec<String> = objects.iter().map(|(sha256, _)| sha256.clone()).collect();
        let held = self.have_files(caller, namespace, &sha256s).await?;
        Ok(objects
            .iter()
            .zip(held)
            .map(|((sha256, size), held)| (!held).then(|| self.sign_lfs_upload(caller, &here.id, sha256, *size)))
            .collect())
    }
}
