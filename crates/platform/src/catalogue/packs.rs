//! Packs in the catalogue: recording them, pinning them for a session, finding the ones an
//! upload can reuse, and letting them go when nothing needs them any more.
//!
//! A pack is live while an object references it (`object_packs`) or a live session pins it
//! (`pack_pins`). Every transaction that decides about packs — pinning one for a session,
//! committing an upload, ending a session, deleting an object — takes its owner's `users` row
//! after the session's row and before any object's, so on PostgreSQL two of them on one owner
//! run one after the other (and cannot deadlock over the packs and samples they share), and "the
//! server holds pack P" is never said of a pack a concurrent transaction is making garbage.
//! SQLite has one writer anyway.

use fedml_proto::content::NewPack;
use sqlx::{AssertSqlSafe, Row};

use super::{Catalogue, CatalogueError, Garbage, Result, UploadRecord, UploadState, insert_garbage};
use crate::time::now_ms;

/// What the server knows of a pack's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackState {
    /// A PUT URL is out for it; the store may or may not hold it yet.
    Pending,
    /// The store was seen to hold it whole, but the server never read it (a pack of the release
    /// before this one): it is verified before an upload relies on it.
    Stored,
    /// The server read it and found its index to be the one its id names and every chunk's
    /// bytes to match the chunk's id.
    Verified,
    /// The server read it and it was not what its id names: never offered to an upload again.
    Corrupt,
}

impl PackState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PackState::Pending => "pending",
            PackState::Stored => "stored",
            PackState::Verified => "verified",
            PackState::Corrupt => "corrupt",
        }
    }

    fn parse(text: &str) -> Result<PackState> {
        match text {
            "pending" => Ok(PackState::Pending),
            "stored" => Ok(PackState::Stored),
            "verified" => Ok(PackState::Verified),
            "corrupt" => Ok(PackState::Corrupt),
            other => Err(CatalogueError::Corrupt(format!("pack state {other:?}"))),
        }
    }
}

/// What the server found when it read a pack (see `blobs::verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackCheck {
    /// Its index is the one its id names and every chunk matches: it holds `data_bytes` of chunk data.
    Verified { data_bytes: u64 },
    /// It is not what its id names; `problem` says how.
    Corrupt { problem: String },
}

/// One pack row.
#[derive(Debug, Clone)]
pub struct PackRecord {
    pub blob_key: String,
    pub hash: String,
    pub size: u64,
    pub state: PackState,
    /// Whether it was already recorded (by this session or another) before this request.
    pub existed: bool,
    /// The session that first announced it (its PUT URL went to that session's key).
    pub group_id: String,
    /// Whether an object or version reads it (known where a request needs it: `reserve_packs`).
    pub referenced: bool,
}

fn pack_from_row(row: &sqlx::any::AnyRow, existed: bool) -> Result<PackRecord> {
    Ok(PackRecord {
        blob_key: row.try_get("blob_key")?,
        hash: row.try_get("hash")?,
        size: row.try_get::<i64, _>("size")? as u64,
        state: PackState::parse(&row.try_get::<String, _>("state")?)?,
        existed,
        group_id: row.try_get("group_id")?,
        referenced: false,
    })
}

/// The columns [`pack_from_row`] reads, of the table `packs` named `p`.
const PACK_COLUMNS: &str = "p.blob_key AS blob_key, p.hash AS hash, p.size AS size, p.state AS state, \
    p.group_id AS group_id";

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The bytes the user whose id is the SQL expression `user` keeps alive in the stores: the blob
/// of each object and earlier version stored as one, and the chunk data of each pack of theirs
/// once it has left pending, counted once however many objects and versions read it (kept in
/// step in `users.pack_bytes`, see [`count_pack`]). What quotas and `usage` count.
pub(super) fn kept_bytes_sql(user: &str) -> String {
    format!(
        "((SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects WHERE owner_id = {user} AND content IS NULL) \
         + (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM object_versions WHERE owner_id = {user} \
            AND content IS NULL) \
         + (SELECT pack_bytes FROM users WHERE id = {user}))"
    )
}

/// Per user `u`: objects, their bytes (the latest versions'), and the bytes kept alive for them.
fn storage_usage_sql() -> String {
    format!(
        "SELECT u.name AS name, \
           (SELECT COUNT(*) FROM objects WHERE owner_id = u.id) AS objects, \
           (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects WHERE owner_id = u.id) AS logical_bytes, \
           {} AS kept_bytes \
         FROM users u",
        kept_bytes_sql("u.id")
    )
}

fn storage_usage_from_row(row: &sqlx::any::AnyRow) -> Result<fedml_proto::StorageUsage> {
    let count = |name: &str| row.try_get::<i64, _>(name).map(|n| n.max(0) as u64);
    Ok(fedml_proto::StorageUsage {
        user: row.try_get("name")?,
        objects: count("objects")?,
        logical_bytes: count("logical_bytes")?,
        stored_bytes: count("kept_bytes")?,
    })
}

impl Catalogue {
    /// What one user's objects hold, and what the stores hold for them.
    pub async fn storage_usage(&self, user_id: &str) -> Result<fedml_proto::StorageUsage> {
        let row = sqlx::query(AssertSqlSafe(format!("{} WHERE u.id = $1", storage_usage_sql())))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(CatalogueError::NotFound)?;
        storage_usage_from_row(&row)
    }

    /// [`Catalogue::storage_usage`] of every user, by name.
    pub async fn storage_usages(&self) -> Result<Vec<fedml_proto::StorageUsage>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{} WHERE u.kind IN ('user', 'org') ORDER BY u.name",
            storage_usage_sql()
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(storage_usage_from_row).collect()
    }

    /// Locks the session's row while it is open (else [`CatalogueError::Moved`]) and then its
    /// owner's: the order every pack transaction takes them in.
    pub(super) async fn lock_open_session(&self, tx: &mut Tx, upload: &UploadRecord) -> Result<()> {
        let open = sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM uploads WHERE id = $1 AND state = '{}' AND expires_at >= $2{}",
            UploadState::Open,
            self.lock_rows()
        )))
        .bind(&upload.id)
        .bind(now_ms())
        .fetch_optional(&mut **tx)
        .await?;
        if open.is_none() {
            return Err(CatalogueError::Moved);
        }
        self.lock_owner(tx, &upload.owner_id).await
    }

    pub(super) async fn lock_owner(&self, tx: &mut Tx, owner_id: &str) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!("SELECT id FROM users WHERE id = $1{}", self.lock_rows())))
            .bind(owner_id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(())
    }

    /// For each pack an open session wants to store: the owner's pack with that hash if there is
    /// one (pinned for the session), else a new pending pack under `new_key()` (pinned too),
    /// recorded with the session's expiry as its PUT URL's.
    pub async fn reserve_packs(
        &self,
        upload: &UploadRecord,
        packs: &[NewPack],
        new_key: &(dyn Fn() -> String + Sync),
    ) -> Result<Vec<PackRecord>> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_open_session(&mut tx, upload).await?;
        let mut out = Vec::with_capacity(packs.len());
        for pack in packs {
            let found = sqlx::query(AssertSqlSafe(format!(
                "SELECT {PACK_COLUMNS} FROM packs p WHERE p.owner_id = $1 AND p.service = $2 AND p.hash = $3 \
                 AND p.state <> '{}'",
                PackState::Corrupt.as_str()
            )))
            .bind(&upload.owner_id)
            .bind(&upload.service)
            .bind(&pack.pack)
            .fetch_optional(&mut *tx)
            .await?;
            let record = match found {
                Some(row) => {
                    let mut record = pack_from_row(&row, true)?;
                    let readers = sqlx::query("SELECT COUNT(*) AS n FROM object_packs WHERE pack_key = $1")
                        .bind(&record.blob_key)
                        .fetch_one(&mut *tx)
                        .await?;
                    record.referenced = readers.try_get::<i64, _>("n")? > 0;
                    if record.size != pack.size {
                        return Err(CatalogueError::Conflict(format!(
                            "pack {} was announced before with {} bytes, not {}",
                            pack.pack, record.size, pack.size
                        )));
                    }
                    record
                }
                None => {
                    let key = new_key();
                    sqlx::query(
                        "INSERT INTO packs (blob_key, owner_id, service, hash, size, state, group_id, created_at, \
                         url_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(&key)
                    .bind(&upload.owner_id)
                    .bind(&upload.service)
                    .bind(&pack.pack)
                    .bind(pack.size as i64)
                    .bind(PackState::Pending.as_str())
                    .bind(&upload.id)
                    .bind(now_ms())
                    .bind(upload.expires_at)
                    .execute(&mut *tx)
                    .await?;
                    PackRecord {
                        blob_key: key,
                        hash: pack.pack.clone(),
                        size: pack.size,
                        state: PackState::Pending,
                        existed: false,
                        group_id: upload.id.clone(),
                        referenced: false,
                    }
                }
            };
            pin(&mut tx, &upload.id, &record.blob_key).await?;
            out.push(record);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The stored packs of the owner an upload may reuse, pinned for the session in the same
    /// transaction: every pack of each group one of the `samples` (chunk ids) was found in, and
    /// with `previous` the packs of the object the session would replace. At most `limit`.
    pub async fn known_packs(
        &self,
        upload: &UploadRecord,
        samples: &[String],
        previous: bool,
        limit: u32,
    ) -> Result<Vec<PackRecord>> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_open_session(&mut tx, upload).await?;
        let mut keys: Vec<String> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for chunk in samples {
            let rows = sqlx::query(
                "SELECT DISTINCT p.group_id AS group_id FROM pack_samples s JOIN packs p ON p.blob_key = s.pack_key \
                 WHERE s.owner_id = $1 AND s.service = $2 AND s.chunk = $3",
            )
            .bind(&upload.owner_id)
            .bind(&upload.service)
            .bind(chunk)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let group: String = row.try_get("group_id")?;
                if !groups.contains(&group) {
                    groups.push(group);
                }
            }
        }
        // Packs of the release before are offered too: the completion verifies them.
        let offered = format!("'{}', '{}'", PackState::Stored.as_str(), PackState::Verified.as_str());
        let mut found = Vec::new();
        for group in &groups {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {PACK_COLUMNS} FROM packs p WHERE p.owner_id = $1 AND p.service = $2 AND p.group_id = $3 \
                 AND p.state IN ({offered}) ORDER BY p.created_at, p.blob_key LIMIT $4"
            )))
            .bind(&upload.owner_id)
            .bind(&upload.service)
            .bind(group)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
            found.extend(rows);
        }
        if previous {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {PACK_COLUMNS} FROM objects o \
                 JOIN object_packs r ON r.object_id = o.id JOIN packs p ON p.blob_key = r.pack_key \
                 WHERE o.owner_id = $1 AND o.name = $2 AND p.service = $3 AND p.state IN ({offered})"
            )))
            .bind(&upload.owner_id)
            .bind(&upload.name)
            .bind(&upload.service)
            .fetch_all(&mut *tx)
            .await?;
            found.extend(rows);
        }
        let mut out = Vec::new();
        for row in &found {
            let record = pack_from_row(row, true)?;
            if keys.contains(&record.blob_key) || out.len() >= limit as usize {
                continue;
            }
            pin(&mut tx, &upload.id, &record.blob_key).await?;
            keys.push(record.blob_key.clone());
            out.push(record);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Records what the server found when it read these packs: verified, or corrupt (never offered
    /// again; its id may be stored anew). A pack leaving pending starts to count against its
    /// owner's quota ([`count_pack`]); a corrupt pack stays corrupt.
    pub async fn record_checks(&self, checks: &[(String, PackCheck)]) -> Result<()> {
        if checks.is_empty() {
            return Ok(());
        }
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let now = now_ms();
        for (key, check) in checks {
            let row = sqlx::query("SELECT owner_id, size, state, data_bytes FROM packs WHERE blob_key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { continue };
            let owner: String = row.try_get("owner_id")?;
            let size = row.try_get::<i64, _>("size")?;
            let state = PackState::parse(&row.try_get::<String, _>("state")?)?;
            let counted = counted_bytes(state, row.try_get("data_bytes")?, size);
            let (to, data_bytes, problem) = match check {
                _ if state == PackState::Corrupt => continue,
                PackCheck::Verified { .. } if state == PackState::Verified => continue,
                PackCheck::Verified { data_bytes } => (PackState::Verified, *data_bytes as i64, None),
                PackCheck::Corrupt { problem } => (PackState::Corrupt, size, Some(problem.as_str())),
            };
            self.lock_owner(&mut tx, &owner).await?;
            // Moved from the state read, or not at all (another request recorded it first).
            let moved = sqlx::query(
                "UPDATE packs SET state = $1, data_bytes = $2, checked_at = $3, problem = $4 \
                 WHERE blob_key = $5 AND state = $6",
            )
            .bind(to.as_str())
            .bind(data_bytes)
            .bind(now)
            .bind(problem)
            .bind(key)
            .bind(state.as_str())
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() == 1 {
                count_pack(&mut tx, &owner, data_bytes - counted).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The users whose counted pack bytes (`users.pack_bytes`) differ from what their packs hold,
    /// read in one statement: `(name, counted, held)`. Empty when every count is right.
    pub async fn pack_bytes_drift(&self) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT name, counted, held FROM (SELECT u.name AS name, u.pack_bytes AS counted, \
               (SELECT CAST(COALESCE(SUM(COALESCE(p.data_bytes, p.size)), 0) AS BIGINT) FROM packs p \
                WHERE p.owner_id = u.id AND p.state <> 'pending') AS held FROM users u) t \
             WHERE counted <> held ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("name")?, row.try_get("counted")?, row.try_get("held")?))).collect()
    }

    /// The corrupt packs, with what was wrong and how many objects and versions read each
    /// (for `fedml admin fsck` and `/metrics`).
    pub async fn corrupt_packs(&self) -> Result<Vec<CorruptPack>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT p.service AS service, p.blob_key AS blob_key, p.hash AS hash, u.name AS owner, \
               COALESCE(p.problem, '') AS problem, \
               (SELECT COUNT(*) FROM object_packs r WHERE r.pack_key = p.blob_key) AS readers \
             FROM packs p JOIN users u ON u.id = p.owner_id WHERE p.state = '{}' ORDER BY p.service, p.blob_key",
            PackState::Corrupt.as_str()
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CorruptPack {
                    service: row.try_get("service")?,
                    blob_key: row.try_get("blob_key")?,
                    hash: row.try_get("hash")?,
                    owner: row.try_get("owner")?,
                    problem: row.try_get("problem")?,
                    readers: row.try_get::<i64, _>("readers")?.max(0) as u64,
                })
            })
            .collect()
    }

    /// The packs a session pinned that are not corrupt (at most one per hash).
    pub async fn pinned_packs(&self, upload_id: &str) -> Result<Vec<PackRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PACK_COLUMNS} FROM pack_pins n JOIN packs p ON p.blob_key = n.pack_key \
             WHERE n.upload_id = $1 AND p.state <> '{}'",
            PackState::Corrupt.as_str()
        )))
        .bind(upload_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| pack_from_row(row, true)).collect()
    }

    /// The packs only this session pins that were never confirmed stored: what an expired
    /// session's bytes are when its abort cannot be recorded (a full disk). No object reads
    /// them and no other session waits for them.
    pub async fn packs_only_pinned_by(&self, upload_id: &str) -> Result<Vec<PackRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PACK_COLUMNS} FROM pack_pins n \
             JOIN packs p ON p.blob_key = n.pack_key WHERE n.upload_id = $1 AND p.state = $2 \
             AND NOT EXISTS (SELECT 1 FROM pack_pins o WHERE o.pack_key = n.pack_key AND o.upload_id <> $1) \
             AND NOT EXISTS (SELECT 1 FROM object_packs r WHERE r.pack_key = n.pack_key)"
        )))
        .bind(upload_id)
        .bind(PackState::Pending.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| pack_from_row(row, true)).collect()
    }

    /// The packs a session announced first that no one has checked yet.
    pub async fn pending_packs_of(&self, upload: &UploadRecord) -> Result<Vec<PackRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PACK_COLUMNS} FROM packs p WHERE p.owner_id = $1 AND p.service = $2 AND p.group_id = $3 \
             AND p.state = $4"
        )))
        .bind(&upload.owner_id)
        .bind(&upload.service)
        .bind(&upload.id)
        .bind(PackState::Pending.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| pack_from_row(row, true)).collect()
    }

    /// The pack stored under `blob_key` if it is still recorded (a signed PUT URL's check).
    pub async fn pack(&self, blob_key: &str) -> Result<PackRecord> {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {PACK_COLUMNS} FROM packs p WHERE p.blob_key = $1")))
            .bind(blob_key)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(CatalogueError::NotFound)?;
        pack_from_row(&row, true)
    }

    /// The recorded packs among `keys`, in any order (a packed file's read: their ids).
    pub async fn packs_by_key(&self, keys: &[String]) -> Result<Vec<PackRecord>> {
        let mut out = Vec::with_capacity(keys.len());
        for batch in keys.chunks(500) {
            let placeholders: Vec<String> = (1..=batch.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT {PACK_COLUMNS} FROM packs p WHERE p.blob_key IN ({})", placeholders.join(", "));
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for key in batch {
                query = query.bind(key);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(pack_from_row(&row, true)?);
            }
        }
        Ok(out)
    }

    /// Whether a blob key is a pack the catalogue still records (a guard before reclaiming it).
    pub(super) async fn pack_in_use(&self, blob_key: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM packs WHERE blob_key = $1")
            .bind(blob_key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }
}

/// A corrupt pack as `fedml admin fsck` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptPack {
    pub service: String,
    pub blob_key: String,
    pub hash: String,
    pub owner: String,
    pub problem: String,
    /// Objects and earlier versions that read it (their downloads fail their checksum).
    pub readers: u64,
}

/// What a pack in `state` counts against its owner's quota: nothing while pending, else its
/// chunk data (its whole size where that is not known).
fn counted_bytes(state: PackState, data_bytes: Option<i64>, size: i64) -> i64 {
    match state {
        PackState::Pending => 0,
        _ => data_bytes.unwrap_or(size),
    }
}

/// Adds `delta` to the bytes of packs its owner keeps (`users.pack_bytes`), inside the
/// transaction that moves a pack out of pending, re-checks it, or lets it go.
async fn count_pack(tx: &mut Tx, owner_id: &str, delta: i64) -> Result<()> {
    if delta != 0 {
        sqlx::query("UPDATE users SET pack_bytes = pack_bytes + $1 WHERE id = $2")
            .bind(delta)
            .bind(owner_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn pin(tx: &mut Tx, upload_id: &str, pack_key: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO pack_pins (upload_id, pack_key) VALUES ($1, $2) ON CONFLICT (upload_id, pack_key) DO NOTHING",
    )
    .bind(upload_id)
    .bind(pack_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Drops a session's pins (it has ended, or committed what it references) and lets go of the
/// packs nothing holds any more. Runs inside the transaction that ends the session.
pub(super) async fn unpin_session(
    tx: &mut Tx,
    catalogue: &Catalogue,
    upload_id: &str,
    owner_id: &str,
    reclaim_after: i64,
) -> Result<()> {
    let rows =
        sqlx::query("SELECT pack_key FROM pack_pins WHERE upload_id = $1").bind(upload_id).fetch_all(&mut **tx).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = rows.iter().map(|r| r.try_get("pack_key")).collect::<std::result::Result<_, _>>()?;
    sqlx::query("DELETE FROM pack_pins WHERE upload_id = $1").bind(upload_id).execute(&mut **tx).await?;
    release(tx, catalogue, owner_id, &keys, reclaim_after).await
}

/// Makes garbage of the packs among `keys` that no object references and no session pins.
/// Their rows and keys are gone for good: no URL is issued for them again, and a URL issued
/// before (a bucket's presigned PUT works until it expires) can only write a blob that the
/// collector removes once more after that (`Garbage::PackAgain`), never one something reads.
pub(super) async fn release(
    tx: &mut Tx,
    catalogue: &Catalogue,
    owner_id: &str,
    keys: &[String],
    reclaim_after: i64,
) -> Result<()> {
    catalogue.lock_owner(tx, owner_id).await?;
    for key in keys {
        let row = sqlx::query(
            "SELECT service, size, state, data_bytes, \
               (SELECT COUNT(*) FROM pack_pins WHERE pack_key = $1) AS pins, \
               (SELECT COUNT(*) FROM object_packs WHERE pack_key = $1) AS refs \
             FROM packs WHERE blob_key = $1",
        )
        .bind(key)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { continue };
        if row.try_get::<i64, _>("pins")? > 0 || row.try_get::<i64, _>("refs")? > 0 {
            continue;
        }
        let service: String = row.try_get("service")?;
        let state = PackState::parse(&row.try_get::<String, _>("state")?)?;
        let counted = counted_bytes(state, row.try_get("data_bytes")?, row.try_get("size")?);
        sqlx::query("DELETE FROM pack_samples WHERE pack_key = $1").bind(key).execute(&mut **tx).await?;
        sqlx::query("DELETE FROM packs WHERE blob_key = $1").bind(key).execute(&mut **tx).await?;
        count_pack(tx, owner_id, -counted).await?;
        insert_garbage(tx, &service, &Garbage::Pack(key.clone()), reclaim_after).await?;
    }
    Ok(())
}

/// References a committed packed file's packs from its object and records the samples of its
/// new packs; the session's pins are dropped by the commit after this.
pub(super) async fn reference(
    tx: &mut Tx,
    owner_id: &str,
    service: &str,
    object_id: &str,
    content: &super::StoredContent,
    samples: &[(String, String)],
) -> Result<()> {
    for key in &content.packs {
        sqlx::query(
            "INSERT INTO object_packs (object_id, pack_key) VALUES ($1, $2) ON CONFLICT (object_id, pack_key) DO NOTHING",
        )
        .bind(object_id)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    }
    for (chunk, key) in samples {
        sqlx::query(
            "INSERT INTO pack_samples (owner_id, service, chunk, pack_key) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (owner_id, service, chunk, pack_key) DO NOTHING",
        )
        .bind(owner_id)
        .bind(service)
        .bind(chunk)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Drops an object's references to its packs (deleted, or replaced by a commit) and answers them.
pub(super) async fn unreference(tx: &mut Tx, object_id: &str) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT pack_key FROM object_packs WHERE object_id = $1")
        .bind(object_id)
        .fetch_all(&mut **tx)
        .await?;
    let keys: Vec<String> = rows.iter().map(|r| r.try_get("pack_key")).collect::<std::result::Result<_, _>>()?;
    if !keys.is_empty() {
        sqlx::query("DELETE FROM object_packs WHERE object_id = $1").bind(object_id).execute(&mut **tx).await?;
    }
    Ok(keys)
}
