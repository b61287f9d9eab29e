//! Share links as rows: a link names an object by its id (so a deleted name's link dies with it,
//! and a new object under the same name is not reachable by the old link) and optionally one of
//! its versions. Only the SHA-256 of a link's secret is kept.

use super::records::{Columns, ObjectRecord, object_from_row};
use super::teams::{AuditLine, write_audit};
use super::{Bind, Catalogue, CatalogueError, Result};
use crate::time::now_ms;

#[derive(Debug, Clone)]
pub struct ShareRow {
    pub id: String,
    pub secret_sha256: String,
    pub namespace_id: String,
    pub namespace: String,
    pub object_id: String,
    pub name: String,
    pub version: Option<u64>,
    pub created_by: String,
    pub key_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub uses: u64,
}

fn share_from_row(row: &dyn Columns) -> Result<ShareRow> {
    Ok(ShareRow {
        id: row.text("id")?,
        secret_sha256: row.text("secret_sha256")?,
        namespace_id: row.text("namespace_id")?,
        namespace: row.text("namespace")?,
        object_id: row.text("object_id")?,
        name: row.text("name")?,
        version: row.opt_int("version")?.map(|v| v as u64),
        created_by: row.text("created_by")?,
        key_id: row.text("key_id")?,
        created_at: row.int("created_at")?,
        expires_at: row.int("expires_at")?,
        revoked_at: row.opt_int("revoked_at")?,
        uses: row.int("uses")?.max(0) as u64,
    })
}

const SHARE_COLUMNS: &str = "s.id, s.secret_sha256, s.namespace_id, u.name AS namespace, s.object_id, s.name, \
    s.version, s.created_by, s.key_id, s.created_at, s.expires_at, s.revoked_at, s.uses \
    FROM share_links s JOIN users u ON u.id = s.namespace_id";

/// A link to record.
#[derive(Debug, Clone)]
pub struct NewShareRow<'a> {
    pub id: &'a str,
    pub secret_sha256: &'a str,
    pub object: &'a ObjectRecord,
    pub version: Option<u64>,
    pub expires_at: i64,
}

impl Catalogue {
    /// Records a link and its audit line in one transaction; `NotFound` when the object (or the
    /// version) went meanwhile.
    pub async fn insert_share(&self, share: &NewShareRow<'_>, line: &AuditLine<'_>) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let now = now_ms();
        // The object row is read again under the transaction: a link is never made for a name
        // deleted between the check and here.
        let object_id = match share.version {
            Some(v) if v != share.object.meta.version => {
                // An earlier version: its own row names its object.
                sqlx::query("SELECT object_id AS id FROM object_versions WHERE object_id = $1 AND version = $2")
                    .bind(&share.object.id)
                    .bind(v as i64)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            _ => {
                sqlx::query("SELECT id FROM objects WHERE id = $1")
                    .bind(&share.object.id)
                    .fetch_optional(&mut *tx)
                    .await?
            }
        };
        if object_id.is_none() {
            return Err(CatalogueError::NotFound);
        }
        sqlx::query(
            "INSERT INTO share_links (id, secret_sha256, namespace_id, object_id, name, version, created_by, key_id, \
             created_at, expires_at, uses) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0)",
        )
        .bind(share.id)
        .bind(share.secret_sha256)
        .bind(line.namespace_id)
        .bind(&share.object.id)
        .bind(&share.object.meta.data_name)
        .bind(share.version.map(|v| v as i64))
        .bind(line.actor.user)
        .bind(line.actor.key_id)
        .bind(now)
        .bind(share.expires_at)
        .execute(&mut *tx)
        .await?;
        write_audit(self, &mut tx, line, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The link with id `id`, live or not.
    pub async fn share(&self, id: &str) -> Result<ShareRow> {
        self.read_one(&format!("SELECT {SHARE_COLUMNS} WHERE s.id = $1"), &[Bind::Text(id)], share_from_row).await
    }

    /// The namespace's links that still work at `now` (not revoked, not expired, their object
    /// still there), newest first.
    pub async fn live_shares(&self, namespace_id: &str, now: i64) -> Result<Vec<ShareRow>> {
        self.read(
            &format!(
                "SELECT {SHARE_COLUMNS} WHERE s.namespace_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
                 AND EXISTS (SELECT 1 FROM objects o WHERE o.id = s.object_id) ORDER BY s.created_at DESC"
            ),
            &[Bind::Text(namespace_id), Bind::Int(now)],
            share_from_row,
        )
        .await
    }

    /// Ends a link at once, with its audit line. `Ok(false)` when it had already ended.
    pub async fn revoke_share(&self, id: &str, line: &AuditLine<'_>) -> Result<bool> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let done = sqlx::query("UPDATE share_links SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        write_audit(self, &mut tx, line, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Counts one use of a link.
    pub async fn count_share_use(&self, id: &str) -> Result<()> {
        let _gate = self.gate().await;
        sqlx::query("UPDATE share_links SET uses = uses + 1 WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// The object with id `object_id` in version `version` (its latest with `None`).
    pub async fn object_by_id(&self, object_id: &str, version: Option<u64>) -> Result<ObjectRecord> {
        let sql = format!("SELECT {} WHERE id = $1", Self::OBJECT_COLUMNS);
        let latest = self.read_one(&sql, &[Bind::Text(object_id)], object_from_row).await?;
        match version {
            Some(v) if v != latest.meta.version => {
                let sql = format!("SELECT {} WHERE object_id = $1 AND version = $2", Self::VERSION_COLUMNS);
                self.read_one(&sql, &[Bind::Text(object_id), Bind::Int(v as i64)], object_from_row).await
            }
            _ => Ok(latest),
        }
    }
}
