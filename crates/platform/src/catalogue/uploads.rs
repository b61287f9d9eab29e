//! Upload sessions in the catalogue: recording one (with its quota reservation), its parts, and
//! every move of its state (`UploadState`), each a compare-and-set; the commit that makes an
//! object of it; expiry and pruning.

use std::collections::BTreeMap;

use fedml_proto::ObjectMeta;
use sqlx::{AssertSqlSafe, Row};

use super::reader::Bind;
use super::records::{self, StoredContent, to_json, upload_from_row};
use super::{
    Catalogue, CatalogueError, Garbage, PartRecord, Result, UploadRecord, UploadState, insert_garbage,
    is_unique_violation, packs, versions,
};
use crate::time::{now_ms, rfc3339};

impl Catalogue {
    /// Records a new session, reserving what it needs of its owner's quota in the same
    /// transaction (`default` is the server's quota for users without their own): of uploads
    /// opened at the same moment, on any instance, only those that fit are recorded.
    pub async fn insert_upload(&self, upload: &UploadRecord, default: &crate::quota::Quota) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let quota = self.lock_quota(&mut tx, &upload.owner_id, default).await?;
        sqlx::query(
            "INSERT INTO uploads (id, owner_id, name, kind, service, declared_size, part_size, description, \
             tags, metadata, overwrite, blob_key, store_upload_id, state, created_at, expires_at, key_id, \
             reserved_bytes, layout, keep_description, keep_tags, keep_metadata, attributes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $23)",
        )
        .bind(&upload.id)
        .bind(&upload.owner_id)
        .bind(&upload.name)
        .bind(upload.kind.as_str())
        .bind(&upload.service)
        .bind(upload.declared_size.map(|s| s as i64))
        .bind(upload.part_size as i64)
        .bind(upload.description.as_deref().unwrap_or_default())
        .bind(to_json(&upload.tags.as_deref().unwrap_or_default()))
        .bind(to_json(&upload.metadata.clone().unwrap_or_default()))
        .bind(upload.overwrite as i64)
        .bind(&upload.blob_key)
        .bind(&upload.store_upload_id)
        .bind(upload.state.as_str())
        .bind(now_ms())
        .bind(upload.expires_at)
        .bind(upload.key_id.as_deref())
        .bind(upload.reserved_bytes as i64)
        .bind(if upload.layout.is_blob() { "blob" } else { "packs" })
        .bind(upload.description.is_none() as i64)
        .bind(upload.tags.is_none() as i64)
        .bind(upload.metadata.is_none() as i64)
        .bind(upload.attributes.column())
        .execute(&mut *tx)
        .await?;
        if let Some(quota) = quota {
            self.check_quota(&mut tx, upload, &quota).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) const UPLOAD_COLUMNS: &'static str = "id, owner_id, name, kind, service, declared_size, part_size, \
        description, tags, metadata, overwrite, blob_key, store_upload_id, state, expires_at, blob_size, blob_checksum, \
        key_id, reserved_bytes, layout, keep_description, keep_tags, keep_metadata, attributes FROM uploads";

    pub async fn upload(&self, id: &str) -> Result<UploadRecord> {
        self.read_one(&format!("SELECT {} WHERE id = $1", Self::UPLOAD_COLUMNS), &[Bind::Text(id)], upload_from_row)
            .await
    }

    /// Moves a session from `from` to `to` if it is still in `from`; `Ok(false)` if another
    /// request moved it first. (Moves that carry more — commit, abort — have their own calls.)
    pub async fn move_upload(&self, upload_id: &str, from: UploadState, to: UploadState) -> Result<bool> {
        let _gate = self.gate().await;
        let done = sqlx::query("UPDATE uploads SET state = $1 WHERE id = $2 AND state = $3")
            .bind(to.as_str())
            .bind(upload_id)
            .bind(from.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that a completing session's blob is finished, with its size and checksum: the
    /// session is then `finished`, waiting for its dataset record. `Ok(false)` if the session
    /// was no longer completing (its expiry or its key's revocation ended it meanwhile).
    pub async fn set_blob_result(&self, upload_id: &str, size: u64, checksum: &str) -> Result<bool> {
        let _gate = self.gate().await;
        let done = sqlx::query(
            "UPDATE uploads SET blob_size = $1, blob_checksum = $2, state = $3 WHERE id = $4 AND state = $5",
        )
        .bind(size as i64)
        .bind(checksum)
        .bind(UploadState::Finished.as_str())
        .bind(upload_id)
        .bind(UploadState::Completing.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records (or replaces, on retry) one received part, only while the session is open.
    /// `Ok(false)` when it is not (aborted, expired, revoked or being completed meanwhile).
    pub async fn put_part(&self, upload_id: &str, part: &PartRecord) -> Result<bool> {
        let _gate = self.gate().await;
        let done = sqlx::query(
            "INSERT INTO upload_parts (upload_id, part_number, size, etag) \
             SELECT id, $2, $3, $4 FROM uploads WHERE id = $1 AND state = $5 \
             ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, etag = excluded.etag",
        )
        .bind(upload_id)
        .bind(part.part_number as i64)
        .bind(part.size as i64)
        .bind(&part.etag)
        .bind(UploadState::Open.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn parts(&self, upload_id: &str) -> Result<Vec<PartRecord>> {
        let rows =
            sqlx::query("SELECT part_number, size, etag FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
                .bind(upload_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(PartRecord {
                    part_number: row.try_get::<i64, _>("part_number")? as u32,
                    size: row.try_get::<i64, _>("size")? as u64,
                    etag: row.try_get("etag")?,
                })
            })
            .collect()
    }

    /// The commit of an upload: the object appears (or replaces the old one) in one transaction,
    /// which moves the session from `from` (`completing`, or `finished` for FedML SDK uploads) to
    /// `committed`.
    ///
    /// Fails with [`CatalogueError::NameTaken`] when the name exists and the session did not ask
    /// to overwrite, with [`CatalogueError::Clash`] when the name is a folder of another object's
    /// or another's is a folder of it (overwrite or not), and with [`CatalogueError::Moved`] when the session is no longer in `from`
    /// (nothing is changed then). A replaced blob goes to the collector.
    pub async fn commit_upload(
        &self,
        upload: &UploadRecord,
        from: UploadState,
        made: &Made<'_>,
        reclaim_after: i64,
    ) -> Result<ObjectMeta> {
        match self.commit_upload_once(upload, from, made, reclaim_after).await {
            // Another server created the name between our read and our insert: an overwrite
            // then replaces what it committed (last writer wins), in a fresh transaction.
            Err(CatalogueError::NameTaken) if upload.overwrite => {
                self.commit_upload_once(upload, from, made, reclaim_after).await
            }
            other => other,
        }
    }

    async fn commit_upload_once(
        &self,
        upload: &UploadRecord,
        from: UploadState,
        made: &Made<'_>,
        reclaim_after: i64,
    ) -> Result<ObjectMeta> {
        let (size, checksum) = (made.size, made.checksum);
        let content = made.content.map(|(content, _)| records::to_json(content));
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let claimed = sqlx::query("UPDATE uploads SET state = $1 WHERE id = $2 AND state = $3")
            .bind(UploadState::Committed.as_str())
            .bind(&upload.id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() != 1 {
            return Err(CatalogueError::Moved);
        }
        // The owner's row before the object's (see `packs`): commits, deletes and pack requests
        // of one owner then run one after the other on PostgreSQL, and cannot deadlock over the
        // rows of the packs they share.
        self.lock_owner(&mut tx, &upload.owner_id).await?;
        // The writer's right is read again under the namespace's lock: a member removed (or made
        // a reader) before this point does not commit; one removed after it did, before.
        if let Some(key_id) = upload.key_id.as_deref()
            && !self.key_may_write(&mut tx, &upload.owner_id, key_id).await?
        {
            return Err(CatalogueError::Forbidden(
                "you can no longer write into this namespace (your membership or role changed while the upload \
                 ran); nothing was stored"
                    .into(),
            ));
        }
        // A name is either data or a folder of other names: checked under the namespace's lock,
        // so that `a` and `a/b` committed at once cannot both succeed.
        if let Some(other) = self.name_clash(&mut tx, &upload.owner_id, &upload.name).await? {
            return Err(CatalogueError::Clash { name: upload.name.clone(), other });
        }
        let now = now_ms();
        let existing = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, created_at, version, last_version, description, tags, metadata FROM objects \
             WHERE owner_id = $1 AND name = $2{}",
            self.lock_rows()
        )))
        .bind(&upload.owner_id)
        .bind(&upload.name)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(expected) = made.expected_version {
            let latest = existing.as_ref().map(|row| row.try_get::<i64, _>("version")).transpose()?;
            if latest != Some(expected as i64) {
                return Err(CatalogueError::Stale(latest.map_or(0, |v| v.max(0) as u64)));
            }
        }
        // Counted before the new content is referenced: what no object or version read before.
        let added = self.added_bytes(&mut tx, made).await? as i64;
        let mut described = Described::given(upload);
        let (created_at, version) = match existing {
            Some(_) if !upload.overwrite => return Err(CatalogueError::NameTaken),
            Some(row) => {
                let old_id: String = row.try_get("id")?;
                let created_at: i64 = row.try_get("created_at")?;
                let version = row.try_get::<i64, _>("last_version")? + 1;
                // What the session left out, it keeps of the version it replaces: this row, read
                // under the lock this transaction holds, so a racing overwrite cannot come between.
                described.keep_from(&row)?;
                // The version replaced stays, as an earlier one, until the retention removes it.
                versions::archive_latest(&mut tx, &old_id).await?;
                sqlx::query(
                    "UPDATE objects SET kind = $1, service = $2, size = $3, checksum = $4, description = $5, \
                     tags = $6, metadata = $7, blob_key = $8, updated_at = $9, content = $11, version = $12, \
                     last_version = $12, added_bytes = $13, attributes = $14 WHERE id = $10",
                )
                .bind(upload.kind.as_str())
                .bind(&upload.service)
                .bind(size as i64)
                .bind(checksum)
                .bind(&described.description)
                .bind(to_json(&described.tags))
                .bind(to_json(&described.metadata))
                .bind(&upload.blob_key)
                .bind(now)
                .bind(&old_id)
                .bind(&content)
                .bind(version)
                .bind(added)
                .bind(made.attributes.column())
                .execute(&mut *tx)
                .await?;
                self.reference_content(&mut tx, upload, &old_id, made).await?;
                versions::apply_retention(&mut tx, self, &old_id, reclaim_after).await?;
                (created_at, version)
            }
            None => {
                let inserted = sqlx::query(
                    "INSERT INTO objects (id, owner_id, name, kind, service, size, checksum, description, tags, \
                     metadata, blob_key, created_at, updated_at, content, version, last_version, added_bytes, \
                     attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, 1, $15, $16)",
                )
                .bind(&upload.id)
                .bind(&upload.owner_id)
                .bind(&upload.name)
                .bind(upload.kind.as_str())
                .bind(&upload.service)
                .bind(size as i64)
                .bind(checksum)
                .bind(&described.description)
                .bind(to_json(&described.tags))
                .bind(to_json(&described.metadata))
                .bind(&upload.blob_key)
                .bind(now)
                .bind(now)
                .bind(&content)
                .bind(added)
                .bind(made.attributes.column())
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {
                        self.reference_content(&mut tx, upload, &upload.id, made).await?;
                        (now, 1)
                    }
                    // Another server committed the same name between our read and our insert.
                    Err(e) if is_unique_violation(&e) => return Err(CatalogueError::NameTaken),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(&upload.id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM intake_parts WHERE upload_id = $1").bind(&upload.id).execute(&mut *tx).await?;
        packs::unpin_session(&mut tx, self, &upload.id, &upload.owner_id, reclaim_after).await?;
        tx.commit().await?;
        Ok(ObjectMeta {
            data_name: upload.name.clone(),
            description: described.description,
            kind: upload.kind,
            service: upload.service.clone(),
            size,
            checksum: checksum.to_string(),
            tags: described.tags,
            user_metadata: described.metadata,
            created_at: rfc3339(created_at),
            updated_at: rfc3339(now),
            version: version.max(1) as u64,
            download_url: None,
        })
    }

    /// Moves a session from `from` to `aborted` and hands its bytes to the collector, in one
    /// transaction. `Ok(false)` if it was no longer in `from` (another request moved it first:
    /// then its bytes are that request's business, and nothing is changed here).
    pub async fn abort_upload(&self, upload: &UploadRecord, from: UploadState, reclaim_after: i64) -> Result<bool> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE uploads SET state = $1 WHERE id = $2 AND state = $3")
            .bind(UploadState::Aborted.as_str())
            .bind(&upload.id)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        end_session(self, &mut tx, &upload.id, &upload.owner_id, &upload.service, reclaim_after).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// When the last URL any recorded session was given expires (Unix ms; 0 with none): a
    /// session's URLs expire with it, and a session is forgotten only a week after that.
    pub async fn latest_session_expiry(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(expires_at), 0) AS t FROM uploads").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("t")?)
    }

    /// Sessions to end: live ones (open, completing, finished) whose expiry has passed, and open
    /// or finished ones whose key was revoked (revocation ends them itself; this catches a
    /// session opened in the instant before, by a request that had already authenticated).
    pub async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<UploadRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} WHERE (state IN ('{open}', '{completing}', '{finished}') AND expires_at < $1) \
             OR (state IN ('{open}', '{finished}') AND key_id IN (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL)) \
             ORDER BY expires_at LIMIT $2",
            columns = Self::UPLOAD_COLUMNS,
            open = UploadState::Open,
            completing = UploadState::Completing,
            finished = UploadState::Finished
        )))
        .bind(now)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| upload_from_row(row)).collect()
    }

    /// Forgets finished sessions older than `before` (their rows only serve diagnosis).
    pub async fn prune_sessions(&self, before: i64) -> Result<u64> {
        let _gate = self.gate().await;
        let done = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM uploads WHERE state IN ('{}', '{}') AND expires_at < $1",
            UploadState::Committed,
            UploadState::Aborted
        )))
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// What ending a session leaves: its recorded parts go, its bytes become garbage, and so do
/// the packs it pinned that nothing else holds.
pub(super) async fn end_session(
    catalogue: &Catalogue,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    upload_id: &str,
    owner_id: &str,
    service: &str,
    reclaim_after: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1").bind(upload_id).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM intake_parts WHERE upload_id = $1").bind(upload_id).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM staged_files WHERE upload_id = $1").bind(upload_id).execute(&mut **tx).await?;
    insert_garbage(tx, service, &Garbage::Session(upload_id.to_string()), reclaim_after).await?;
    packs::unpin_session(tx, catalogue, upload_id, owner_id, reclaim_after).await
}

/// The description, tags and user metadata a commit gives the new version: those its session
/// was given, and for those it left out, those of the version it replaces (none for a new name).
/// Decided here only, in the commit's transaction.
struct Described {
    description: String,
    tags: Vec<String>,
    metadata: BTreeMap<String, String>,
    keep: (bool, bool, bool),
}

impl Described {
    fn given(upload: &UploadRecord) -> Described {
        Described {
            description: upload.description.clone().unwrap_or_default(),
            tags: upload.tags.clone().unwrap_or_default(),
            metadata: upload.metadata.clone().unwrap_or_default(),
            keep: (upload.description.is_none(), upload.tags.is_none(), upload.metadata.is_none()),
        }
    }

    /// Takes what the session left out from `replaced`, the row of the version it replaces.
    fn keep_from(&mut self, replaced: &sqlx::any::AnyRow) -> Result<()> {
        if self.keep.0 {
            self.description = replaced.try_get("description")?;
        }
        if self.keep.1 {
            self.tags = records::from_json(&replaced.try_get::<String, _>("tags")?, "tags")?;
        }
        if self.keep.2 {
            self.metadata = records::from_json(&replaced.try_get::<String, _>("metadata")?, "metadata")?;
        }
        Ok(())
    }
}

/// What a commit makes the object: its size and checksum, and for a packed file its content
/// and the samples of its new packs (`(chunk id, pack key)`).
pub struct Made<'a> {
    pub size: u64,
    pub checksum: &'a str,
    pub content: Option<(&'a StoredContent, &'a [(String, String)])>,
    /// What the protocol that wrote it keeps beside the content (none for the native clients).
    pub attributes: &'a super::Attributes,
    /// Commit only if the name's latest version is this one (a repository's next commit, made
    /// from that version): else [`CatalogueError::Stale`].
    pub expected_version: Option<u64>,
}

impl Catalogue {
    /// What a commit adds to the store: a blob whole; of packed content, the packs no object
    /// or version references yet (a new upload's packs hold only chunks the server lacked).
    async fn added_bytes(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, made: &Made<'_>) -> Result<u64> {
        let Some((content, _)) = made.content else { return Ok(made.size) };
        let mut added = 0u64;
        for key in &content.packs {
            let row = sqlx::query(
                "SELECT size, (SELECT COUNT(*) FROM object_packs WHERE pack_key = $1) AS refs FROM packs \
                 WHERE blob_key = $1",
            )
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(row) = row
                && row.try_get::<i64, _>("refs")? == 0
            {
                added += row.try_get::<i64, _>("size")?.max(0) as u64;
            }
        }
        Ok(added)
    }

    async fn reference_content(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        upload: &UploadRecord,
        object_id: &str,
        made: &Made<'_>,
    ) -> Result<()> {
        match made.content {
            Some((content, samples)) => {
                packs::reference(tx, &upload.owner_id, &upload.service, object_id, content, samples).await
            }
            None => Ok(()),
        }
    }
}
