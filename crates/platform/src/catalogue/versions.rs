//! Earlier versions of objects (`object_versions`): kept by an overwrite, read by number,
//! removed one at a time or by the server's retention.
//!
//! `objects` holds each name's latest version, so every call that names no version reads what
//! it always read. An overwrite moves the row it replaces here under an id of its own, and the
//! references to its packs with it: a pack stays while any version reads it, and the collector
//! never sees the difference between a version and an object.

use sqlx::{AssertSqlSafe, Row};

use super::records::{listed_object_from_row, object_from_row};
use super::{Attributes, Bind, Catalogue, CatalogueError, ObjectRecord, Result, insert_garbage, packs};
use crate::time::now_ms;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// How many versions of a name the server keeps, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Versions kept per name, the latest included (at least 1: the latest is never removed by
    /// retention).
    pub keep: u32,
    /// Earlier versions stored longer ago than this are removed however few they are.
    pub max_age_ms: Option<i64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { keep: 10, max_age_ms: None }
    }
}

/// What removing one version did to its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRemoved {
    /// An earlier version went; the latest is as it was.
    Earlier,
    /// The latest went, and this earlier version is the latest now.
    RolledBack(u64),
    /// It was the name's only version: the name is gone.
    Name,
}

impl Catalogue {
    /// Version `version` of the owner's object `name`, or its latest with `None`.
    /// [`CatalogueError::NotFound`] when the name does not exist, [`CatalogueError::NoVersion`]
    /// when it has no such version (never had it, or it was removed).
    pub async fn object_version(&self, owner_id: &str, name: &str, version: Option<u64>) -> Result<ObjectRecord> {
        let latest = self.object(owner_id, name).await?;
        let Some(wanted) = version else { return Ok(latest) };
        if wanted == latest.meta.version {
            return Ok(latest);
        }
        // An overwrite between the two reads moved the latest here: it is still found.
        let sql = format!("SELECT {} WHERE object_id = $1 AND version = $2", Self::VERSION_COLUMNS);
        match self.read_one(&sql, &[Bind::Text(&latest.id), Bind::Int(to_int(wanted))], object_from_row).await {
            Err(CatalogueError::NotFound) => Err(CatalogueError::NoVersion(latest.meta.version)),
            found => found,
        }
    }

    /// Sets the attributes of version `version` of the object with row id `object_id` of the
    /// namespace `owner_id` (the latest, or an earlier version). `false`: no such version.
    pub async fn set_attributes(
        &self,
        owner_id: &str,
        object_id: &str,
        version: u64,
        attributes: &Attributes,
    ) -> Result<bool> {
        let _gate = self.gate().await;
        let column = attributes.column();
        let latest = sqlx::query("UPDATE objects SET attributes = $1 WHERE id = $2 AND owner_id = $3 AND version = $4")
            .bind(column.clone())
            .bind(object_id)
            .bind(owner_id)
            .bind(version as i64)
            .execute(&self.pool)
            .await?;
        if latest.rows_affected() > 0 {
            return Ok(true);
        }
        let earlier = sqlx::query(
            "UPDATE object_versions SET attributes = $1 WHERE object_id = $2 AND owner_id = $3 AND version = $4",
        )
        .bind(column)
        .bind(object_id)
        .bind(owner_id)
        .bind(version as i64)
        .execute(&self.pool)
        .await?;
        Ok(earlier.rows_affected() > 0)
    }

    /// Every version of the owner's object `name`, newest first (the first is the latest).
    pub async fn versions(&self, owner_id: &str, name: &str) -> Result<Vec<ObjectRecord>> {
        let latest = self.object(owner_id, name).await?;
        let sql = format!(
            "SELECT {} WHERE object_id = $1 AND version < $2 ORDER BY version DESC",
            Self::LISTED_VERSION_COLUMNS
        );
        let binds = [Bind::Text(&latest.id), Bind::Int(to_int(latest.meta.version))];
        let earlier = self.read(&sql, &binds, listed_object_from_row).await?;
        Ok(std::iter::once(latest).chain(earlier).collect())
    }

    /// Removes one version of the owner's object `name`, in one transaction. Removing the
    /// latest makes the newest earlier version the latest again; removing the only one removes
    /// the name. Its bytes go to the collector unless another version reads them.
    pub async fn delete_version(
        &self,
        owner_id: &str,
        name: &str,
        version: u64,
        reclaim_after: i64,
    ) -> Result<VersionRemoved> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_owner(&mut tx, owner_id).await?;
        let latest = self.locked_object(&mut tx, owner_id, name).await?;
        let removed = if version == latest.meta.version {
            let sql = format!("SELECT {} WHERE object_id = $1 ORDER BY version DESC LIMIT 1", Self::VERSION_COLUMNS);
            let previous = sqlx::query(AssertSqlSafe(sql)).bind(&latest.id).fetch_optional(&mut *tx).await?;
            match previous {
                None => {
                    self.delete_name(&mut tx, &latest, reclaim_after).await?;
                    VersionRemoved::Name
                }
                Some(row) => {
                    let previous = object_from_row(&row)?;
                    self.roll_back(&mut tx, &latest, &previous, reclaim_after).await?;
                    VersionRemoved::RolledBack(previous.meta.version)
                }
            }
        } else {
            let sql = format!("SELECT {} WHERE object_id = $1 AND version = $2", Self::VERSION_COLUMNS);
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(&latest.id)
                .bind(to_int(version))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(CatalogueError::NoVersion(latest.meta.version))?;
            drop_version(&mut tx, self, &object_from_row(&row)?, reclaim_after).await?;
            VersionRemoved::Earlier
        };
        tx.commit().await?;
        Ok(removed)
    }

    /// Makes the earlier version `previous` the latest of `latest`'s name, and lets go of
    /// what only `latest` read.
    async fn roll_back(
        &self,
        tx: &mut Tx,
        latest: &ObjectRecord,
        previous: &ObjectRecord,
        reclaim_after: i64,
    ) -> Result<()> {
        // The latest's references first, before the previous version's join them under its id.
        let latest_packs =
            if latest.content.is_some() { Some(packs::unreference(tx, &latest.id).await?) } else { None };
        sqlx::query("UPDATE object_packs SET object_id = $1 WHERE object_id = $2")
            .bind(&latest.id)
            .bind(&previous.id)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE objects SET (kind, service, size, checksum, description, tags, metadata, blob_key, content, \
             updated_at, version, added_bytes, attributes) = (SELECT kind, service, size, checksum, description, \
             tags, metadata, blob_key, content, updated_at, version, added_bytes, attributes FROM object_versions \
             WHERE id = $1) \
             WHERE id = $2",
        )
        .bind(&previous.id)
        .bind(&latest.id)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM object_versions WHERE id = $1").bind(&previous.id).execute(&mut **tx).await?;
        super::files::forget(tx, &latest.blob_key).await?;
        match latest_packs {
            Some(keys) => packs::release(tx, self, &latest.owner_id, &keys, reclaim_after).await,
            None => {
                let blob = super::Garbage::Blob(latest.blob_key.clone());
                insert_garbage(tx, &latest.meta.service, &blob, reclaim_after).await
            }
        }
    }

    /// Removes, in a bounded batch, the earlier versions the retention no longer keeps: beyond
    /// the last [`Retention::keep`] of their name, or older than [`Retention::max_age_ms`]. An
    /// overwrite applies the retention to its own name; this catches the versions that age,
    /// and a retention made stricter since. Answers how many went.
    pub async fn expire_versions(&self, now: i64, limit: u32, reclaim_after: i64) -> Result<u64> {
        let cutoff = self.retention.max_age_ms.map_or(i64::MIN, |age| now.saturating_sub(age));
        let earlier_kept = i64::from(self.retention.keep.max(1) - 1);
        let condition = "(v.updated_at < $1 OR (SELECT COUNT(*) FROM object_versions w \
             WHERE w.object_id = v.object_id AND w.version > v.version) >= $2)";
        let sql =
            format!("SELECT v.id AS id, v.owner_id AS owner_id FROM object_versions v WHERE {condition} LIMIT $3");
        let due = sqlx::query(AssertSqlSafe(sql))
            .bind(cutoff)
            .bind(earlier_kept)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut removed = 0;
        for row in due {
            let (id, owner_id): (String, String) = (row.try_get("id")?, row.try_get("owner_id")?);
            let _gate = self.gate().await;
            let mut tx = self.begin().await?;
            self.lock_owner(&mut tx, &owner_id).await?;
            // Decided again under the owner's lock: a rollback may have made it the latest.
            let sql = format!("SELECT {} v WHERE {condition} AND v.id = $3", Self::VERSION_COLUMNS);
            let still = sqlx::query(AssertSqlSafe(sql))
                .bind(cutoff)
                .bind(earlier_kept)
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = still {
                drop_version(&mut tx, self, &object_from_row(&row)?, reclaim_after).await?;
                removed += 1;
            }
            tx.commit().await?;
        }
        Ok(removed)
    }
}

/// Inside an overwrite's transaction: moves the latest version of object `object_id` into
/// `object_versions`, with the references to its packs.
pub(super) async fn archive_latest(tx: &mut Tx, object_id: &str) -> Result<()> {
    let version_id = crate::keys::random_hex(16);
    sqlx::query(
        "INSERT INTO object_versions (id, object_id, owner_id, name, version, kind, service, size, checksum, \
         description, tags, metadata, blob_key, content, created_at, updated_at, added_bytes, attributes) \
         SELECT $1, id, owner_id, name, version, kind, service, size, checksum, description, tags, metadata, \
         blob_key, content, created_at, updated_at, added_bytes, attributes FROM objects WHERE id = $2",
    )
    .bind(&version_id)
    .bind(object_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE object_packs SET object_id = $1 WHERE object_id = $2")
        .bind(&version_id)
        .bind(object_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Inside an overwrite's transaction, after it: removes the earlier versions of object
/// `object_id` that the retention no longer keeps.
pub(super) async fn apply_retention(
    tx: &mut Tx,
    catalogue: &Catalogue,
    object_id: &str,
    reclaim_after: i64,
) -> Result<()> {
    let retention = catalogue.retention;
    let cutoff = retention.max_age_ms.map(|age| now_ms().saturating_sub(age));
    for (i, version) in earlier_in(tx, object_id).await?.into_iter().enumerate() {
        // `i` counts the earlier versions, newest first; the latest is one more.
        let beyond_count = i + 2 > retention.keep.max(1) as usize;
        let too_old = cutoff.is_some_and(|cutoff| version.updated_ms < cutoff);
        if beyond_count || too_old {
            drop_version(tx, catalogue, &version, reclaim_after).await?;
        }
    }
    Ok(())
}

/// The earlier versions of object `object_id`, newest first, read inside `tx`.
pub(super) async fn earlier_in(tx: &mut Tx, object_id: &str) -> Result<Vec<ObjectRecord>> {
    let sql = format!("SELECT {} WHERE object_id = $1 ORDER BY version DESC", Catalogue::VERSION_COLUMNS);
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(object_id).fetch_all(&mut **tx).await?;
    rows.iter().map(|row| object_from_row(row)).collect()
}

/// Removes one earlier version's row and lets go of what it held.
pub(super) async fn drop_version(
    tx: &mut Tx,
    catalogue: &Catalogue,
    version: &ObjectRecord,
    reclaim_after: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM object_versions WHERE id = $1").bind(&version.id).execute(&mut **tx).await?;
    catalogue.let_go(tx, version, reclaim_after).await
}

fn to_int(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}
