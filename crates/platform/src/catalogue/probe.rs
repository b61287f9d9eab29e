//! What the readiness probe and the metrics ask the catalogue: whether it answers, how many
//! upload sessions are live, how much garbage waits, how busy the pool is.

use sqlx::Row;

use super::{Catalogue, Result, UploadState};

impl Catalogue {
    /// A trivial query through the pool: the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1 AS one").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Upload sessions neither committed nor aborted.
    pub async fn live_upload_count(&self) -> Result<i64> {
        let live = [UploadState::Open, UploadState::Completing, UploadState::Finished];
        let row = sqlx::query("SELECT COUNT(*) AS n FROM uploads WHERE state IN ($1, $2, $3)")
            .bind(live[0].as_str())
            .bind(live[1].as_str())
            .bind(live[2].as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Blobs recorded as garbage and not yet removed.
    pub async fn garbage_backlog(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM garbage").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Packs recorded as corrupt (from their partial index).
    pub async fn corrupt_pack_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM packs WHERE state = 'corrupt'").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// (connections open, connections idle) of the pool.
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }
}
