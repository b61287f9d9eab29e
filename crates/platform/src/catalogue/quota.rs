//! Quotas in the catalogue: the users' settings, their usage, and the reservation an upload
//! session makes of it in the transaction that records it (see `crate::quota`).

use sqlx::{AssertSqlSafe, Row};

use super::{Catalogue, CatalogueError, Result, UploadRecord, UploadState};
use crate::quota::{Quota, QuotaRefusal, Usage, UserQuota};
use crate::time::now_ms;

/// A user's resolved quota, held under the lock of their row for one transaction.
pub(super) struct HeldQuota {
    user_name: String,
    quota: Quota,
}

/// Usage of the owner `$1` at the time `$2`, leaving out the session `$3`, in one statement
/// (so one snapshot, on PostgreSQL too). Stored bytes are what the owner's objects and versions
/// keep alive in the stores, each pack once however many read it (`packs::kept_bytes_sql`),
/// the packs a session has sent and the server checked included. A session is live while it can
/// still become an object: open or finished and not expired, or being completed; it holds what
/// it reserved less what of it is already counted so (its checked packs). The overwrites among them are credited with what the objects they replace
/// alone keep alive (their blob, or the packs nothing else reads), each at most what the
/// overwrites of its name reserve (which only frees bytes when no earlier version is kept, see
/// [`Catalogue::usage_of`]).
fn usage_sql() -> String {
    let live = format!(
        "(state = '{completing}' OR (state IN ('{open}', '{finished}') AND expires_at >= $2))",
        completing = UploadState::Completing,
        open = UploadState::Open,
        finished = UploadState::Finished
    );
    // What the object `o` alone keeps alive: its blob, or its packs no other object or version reads.
    let alone = "(CASE WHEN o.content IS NULL THEN o.size ELSE (SELECT CAST(COALESCE(SUM(p.data_bytes), 0) AS BIGINT) \
          FROM object_packs r JOIN packs p ON p.blob_key = r.pack_key WHERE r.object_id = o.id \
          AND NOT EXISTS (SELECT 1 FROM object_packs x WHERE x.pack_key = r.pack_key AND x.object_id <> o.id)) END)";
    format!(
        "SELECT \
           {kept} AS stored_bytes, \
           (SELECT COUNT(*) FROM objects WHERE owner_id = $1) AS stored_objects, \
           (SELECT CAST(COALESCE(SUM(CASE WHEN r.reserved > r.sent THEN r.reserved - r.sent ELSE 0 END), 0) \
              AS BIGINT) FROM (SELECT reserved_bytes AS reserved, (SELECT COALESCE(SUM(p.data_bytes), 0) \
                FROM packs p WHERE p.group_id = uploads.id AND p.state <> 'pending') AS sent FROM uploads \
              WHERE owner_id = $1 AND id <> $3 AND {live}) r) AS reserved_bytes, \
           (SELECT COUNT(*) FROM uploads WHERE owner_id = $1 AND id <> $3 AND {live}) AS uploads, \
           (SELECT CAST(COALESCE(SUM(CASE WHEN {alone} < r.total THEN {alone} ELSE r.total END), 0) AS BIGINT) \
              FROM objects o JOIN (SELECT name, SUM(reserved_bytes) AS total FROM uploads \
                WHERE owner_id = $1 AND id <> $3 AND overwrite = 1 AND {live} GROUP BY name) r ON r.name = o.name \
              WHERE o.owner_id = $1) AS freed_bytes, \
           (SELECT COUNT(*) FROM objects o WHERE o.owner_id = $1 AND EXISTS (SELECT 1 FROM uploads \
              WHERE owner_id = $1 AND id <> $3 AND overwrite = 1 AND name = o.name AND {live})) AS freed_objects",
        kept = super::packs::kept_bytes_sql("$1")
    )
}

fn usage_from_row(row: &sqlx::any::AnyRow) -> Result<Usage> {
    let get = |name: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
    Ok(Usage {
        stored_bytes: get("stored_bytes")?,
        stored_objects: get("stored_objects")?,
        reserved_bytes: get("reserved_bytes")?,
        uploads: get("uploads")?,
        freed_bytes: get("freed_bytes")?,
        freed_objects: get("freed_objects")?,
    })
}

impl Catalogue {
    /// The usage a row of [`usage_sql`] gives. An overwrite frees the bytes of what it replaces
    /// only when the server keeps no earlier version; else the replaced version stays.
    fn usage_of(&self, row: &sqlx::any::AnyRow) -> Result<Usage> {
        let mut usage = usage_from_row(row)?;
        if self.retention.keep > 1 {
            usage.freed_bytes = 0;
        }
        Ok(usage)
    }

    /// Locks the owner's row for the rest of `tx` (PostgreSQL; SQLite's write transaction holds
    /// the whole file) and answers the quota that applies, or `None` when nothing is limited.
    pub(super) async fn lock_quota(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner_id: &str,
        default: &Quota,
    ) -> Result<Option<HeldQuota>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT name, quota_bytes, quota_objects FROM users WHERE id = $1{}",
            self.lock_rows()
        )))
        .bind(owner_id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(CatalogueError::NotFound)?;
        let quota = user_quota_from_row(&row)?.resolve(default);
        if quota.is_unlimited() {
            return Ok(None);
        }
        Ok(Some(HeldQuota { user_name: row.try_get("name")?, quota }))
    }

    /// Checks, after `upload` was inserted in `tx`, that its owner stays within `held`; refuses
    /// with the usage before and with it otherwise (the caller's transaction then rolls back).
    pub(super) async fn check_quota(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        upload: &UploadRecord,
        held: &HeldQuota,
    ) -> Result<()> {
        let now = now_ms();
        let with = self.usage_in(tx, &upload.owner_id, now, "").await?;
        let before = self.usage_in(tx, &upload.owner_id, now, &upload.id).await?;
        match QuotaRefusal::check(&held.user_name, &held.quota, before, with) {
            Some(refusal) => Err(CatalogueError::OverQuota(Box::new(refusal))),
            None => Ok(()),
        }
    }

    async fn usage_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner_id: &str,
        now: i64,
        leave_out: &str,
    ) -> Result<Usage> {
        let row = sqlx::query(AssertSqlSafe(usage_sql()))
            .bind(owner_id)
            .bind(now)
            .bind(leave_out)
            .fetch_one(&mut **tx)
            .await?;
        self.usage_of(&row)
    }

    /// What counts against the quota of the user `user_id` now.
    pub async fn usage(&self, user_id: &str) -> Result<Usage> {
        let row =
            sqlx::query(AssertSqlSafe(usage_sql())).bind(user_id).bind(now_ms()).bind("").fetch_one(&self.pool).await?;
        self.usage_of(&row)
    }

    /// The id and quota settings of the user named `name`.
    pub async fn user_quota(&self, name: &str) -> Result<(String, UserQuota)> {
        let row = sqlx::query("SELECT id, quota_bytes, quota_objects FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(CatalogueError::NotFound)?;
        Ok((row.try_get("id")?, user_quota_from_row(&row)?))
    }

    /// Every user's name and quota settings, by name.
    pub async fn user_quotas(&self) -> Result<Vec<(String, UserQuota)>> {
        let rows = sqlx::query("SELECT name, quota_bytes, quota_objects FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((row.try_get("name")?, user_quota_from_row(row)?))).collect()
    }

    /// Sets the limits given (`None` leaves one as it is) of the user named `name`.
    pub async fn set_user_quota(
        &self,
        name: &str,
        bytes: Option<crate::quota::Override>,
        objects: Option<crate::quota::Override>,
    ) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, quota_bytes, quota_objects FROM users WHERE name = $1{}",
            self.lock_rows()
        )))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CatalogueError::NotFound)?;
        let current = user_quota_from_row(&row)?;
        let id: String = row.try_get("id")?;
        sqlx::query("UPDATE users SET quota_bytes = $1, quota_objects = $2 WHERE id = $3")
            .bind(bytes.unwrap_or(current.bytes).to_column())
            .bind(objects.unwrap_or(current.objects).to_column())
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn user_quota_from_row(row: &sqlx::any::AnyRow) -> Result<UserQuota> {
    use crate::quota::Override;
    Ok(UserQuota {
        bytes: Override::from_column(row.try_get("quota_bytes")?),
        objects: Override::from_column(row.try_get("quota_objects")?),
    })
}
