//! The collector: expired sessions ended, versions the retention no longer keeps let go, and
//! blobs and packs nothing references any more removed from their stores, a bounded batch per
//! pass. Every step re-checks the catalogue, so every instance may run it at once.

use super::Platform;
use crate::blobs::BlobStore;
use crate::catalogue::{CatalogueError, Garbage};
use crate::error::Result;
use crate::time::now_ms;

impl Platform {
    /// Aborts expired upload sessions and removes blobs nothing points at any more. Safe to run
    /// on every instance at once: each step re-checks the catalogue and tolerates missing blobs.
    /// One pass handles a bounded batch (see [`GcReport::more`]); the periodic collector runs
    /// [`Platform::collect_all_garbage`].
    pub async fn collect_garbage(&self) -> Result<GcReport> {
        const SESSIONS: u32 = 500;
        const BLOBS: u32 = 1000;
        let mut report = GcReport::default();
        let now = now_ms();
        let expired = self.catalogue.expired_uploads(now, SESSIONS).await?;
        let full_sessions = expired.len() == SESSIONS as usize;
        for upload in expired {
            match self.catalogue.abort_upload(&upload, upload.state, now).await {
                Ok(true) => report.sessions_expired += 1,
                Ok(false) => {}
                // The record of the abort does not fit on the disk that the session's own bytes
                // fill. The session has expired, so nothing can complete it any more: give its
                // bytes' room back now, and the next pass records the abort.
                Err(e) if e.is_storage_full() => {
                    tracing::warn!(upload = %upload.id, "the catalogue's disk is full; releasing an expired upload's space");
                    if let Err(e) = self.release_space(&upload).await {
                        tracing::warn!(error = %e, "cannot release the space of an expired upload");
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let expired_versions = self.catalogue.expire_versions(now, SESSIONS, self.reclaim_after()).await?;
        report.versions_expired = expired_versions;
        let due = self.catalogue.due_garbage(now, &self.service_names(), BLOBS).await?;
        let full_blobs = due.len() == BLOBS as usize;
        for item in due {
            let Ok(store) = self.store(&item.service) else {
                tracing::warn!(service = %item.service, "garbage in a service this server does not serve; left for another instance");
                continue;
            };
            match self.reclaim(store, &item, now).await {
                Ok(Reclaimed::Done) => {
                    self.catalogue.forget_garbage(&item).await?;
                    // A pack's second sweep finds nothing but what a replayed URL wrote: the
                    // pack was counted when it was removed.
                    report.blobs_reclaimed += u64::from(!matches!(item.item, Garbage::PackAgain(_)));
                }
                Ok(Reclaimed::SweepAgainAt(at)) => self.catalogue.postpone_garbage(&item, at).await?,
                Ok(Reclaimed::Then(next, at)) => {
                    self.catalogue.replace_garbage(&item, &next, at).await?;
                    report.blobs_reclaimed += 1;
                }
                // One item the store refuses (a lease on it, an outage) must not stop the pass or
                // every later one: it is tried again later, the others go on.
                Err(e) => {
                    tracing::warn!(error = %e, service = %item.service, "cannot reclaim garbage yet; trying again in 10 minutes");
                    self.catalogue.postpone_garbage(&item, now + RETRY_RECLAIM_MS).await?;
                }
            }
        }
        report.sessions_pruned = self.catalogue.prune_sessions(now - 7 * 24 * 3600 * 1000).await?;
        self.catalogue.prune_web_sessions(now - 24 * 3600 * 1000).await?;
        self.prune_audit().await?;
        // More may be due when a batch came back full and this pass got somewhere with it.
        report.more = (full_sessions && report.sessions_expired > 0)
            || (full_blobs && report.blobs_reclaimed > 0)
            || expired_versions == u64::from(SESSIONS);
        self.observe.metrics.collected(report.sessions_expired, report.blobs_reclaimed);
        Ok(report)
    }

    /// Passes of [`Platform::collect_garbage`] until nothing more is due, so that the periodic
    /// collector keeps up however fast deletes, overwrites and abandoned uploads come.
    pub async fn collect_all_garbage(&self) -> Result<GcReport> {
        let mut total = GcReport::default();
        loop {
            let pass = self.collect_garbage().await?;
            total.sessions_expired += pass.sessions_expired;
            total.blobs_reclaimed += pass.blobs_reclaimed;
            total.sessions_pruned += pass.sessions_pruned;
            total.versions_expired += pass.versions_expired;
            if !pass.more {
                return Ok(total);
            }
        }
    }
}

impl Platform {
    /// Gives back the room of an expired session whose abort does not fit on the catalogue's
    /// full disk: its staging file, or (a packed session) the packs only it pins and never
    /// confirmed. Their records stay until the abort is recorded; a pack recorded with no bytes
    /// is what an interrupted upload leaves anyway, and is sent again by whoever wants it.
    async fn release_space(&self, upload: &crate::catalogue::UploadRecord) -> Result<()> {
        let store = self.store(&upload.service)?;
        if upload.layout != fedml_proto::content::Layout::Packs {
            return Ok(store.release_space(upload).await?);
        }
        for pack in self.catalogue.packs_only_pinned_by(&upload.id).await? {
            store.delete(&pack.blob_key).await?;
        }
        Ok(())
    }
}

/// How long a reclaim the store refused waits before it is tried again.
const RETRY_RECLAIM_MS: i64 = 10 * 60 * 1000;

/// What became of one item of garbage.
enum Reclaimed {
    Done,
    /// Removed for now, but the store may get more of it until then (Unix ms): a session's part
    /// URLs on a store that cannot revoke them (GCS, Azure) can still create parts until they
    /// expire, so its parts are swept once more after that.
    SweepAgainAt(i64),
    /// Removed; the next step of its removal is due then (Unix ms).
    Then(Garbage, i64),
}

impl Platform {
    async fn reclaim(&self, store: &BlobStore, item: &crate::catalogue::GarbageRecord, now: i64) -> Result<Reclaimed> {
        match &item.item {
            Garbage::Session(upload_id) => match self.catalogue.upload(upload_id).await {
                // A packed session stored nothing of its own: its packs are garbage of their own.
                Ok(upload) if upload.layout == fedml_proto::content::Layout::Packs => Ok(Reclaimed::Done),
                Ok(upload) => {
                    if !self.catalogue.blob_in_use(&item.service, &upload.blob_key).await? {
                        store.abort_upload(&upload).await?;
                    }
                    let urls_dead_at = upload.expires_at + 1000;
                    if !store.revokes_part_urls() && urls_dead_at > now {
                        return Ok(Reclaimed::SweepAgainAt(urls_dead_at));
                    }
                    Ok(Reclaimed::Done)
                }
                Err(CatalogueError::NotFound) => Ok(Reclaimed::Done),
                Err(e) => Err(e.into()),
            },
            Garbage::Blob(blob_key) | Garbage::Pack(blob_key) | Garbage::PackAgain(blob_key) => {
                if !self.catalogue.blob_in_use(&item.service, blob_key).await? {
                    store.delete(blob_key).await?;
                }
                if !matches!(item.item, Garbage::Pack(_)) || store.revokes_pack_urls() {
                    return Ok(Reclaimed::Done);
                }
                // Every PUT URL of this pack was issued before its row went (none is issued
                // after) by a session the catalogue still records, and expires with it.
                let urls_dead_at = self.catalogue.latest_session_expiry().await?.max(now) + 1000;
                Ok(Reclaimed::Then(Garbage::PackAgain(blob_key.clone()), urls_dead_at))
            }
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct GcReport {
    pub sessions_expired: u64,
    pub blobs_reclaimed: u64,
    pub sessions_pruned: u64,
    /// Earlier versions the retention no longer keeps, removed.
    pub versions_expired: u64,
    /// The pass stopped at its batch limit: more may be due now.
    pub more: bool,
}
