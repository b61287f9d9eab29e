//! Multipart intakes in the catalogue (an S3 multipart upload): each part's content, kept until
//! the session is completed or ends; the reservation a session grows as its parts arrive.

use sqlx::{AssertSqlSafe, Row};

use super::records::{StoredContent, from_json, to_json};
use super::{Catalogue, Result, UploadRecord, UploadState};
use crate::time::now_ms;

/// A part of a multipart intake as recorded.
#[derive(Debug, Clone)]
pub struct IntakePart {
    pub number: u32,
    pub size: u64,
    /// Hex MD5 of the part's bytes (its S3 ETag).
    pub md5: String,
    /// The part's BLAKE3 subtree digest, computed for parts whose size is a power of two (see
    /// `operations::intake`), as JSON.
    pub digest: Option<String>,
    pub content: StoredContent,
    /// The sample chunks of the part's new packs: `(chunk id, pack key)`.
    pub samples: Vec<(String, String)>,
    pub created_ms: i64,
}

/// A part's `content` column: its packs and segments, and the samples of its new packs.
#[derive(serde::Serialize, serde::Deserialize)]
struct PartColumn {
    packs: Vec<String>,
    segments: Vec<fedml_proto::content::Segment>,
    #[serde(default)]
    samples: Vec<(String, String)>,
}

/// An open multipart intake of a namespace.
#[derive(Debug, Clone)]
pub struct OpenIntake {
    pub upload_id: String,
    pub name: String,
    pub started_ms: i64,
}

impl Catalogue {
    /// Adds `bytes` to what open session `upload` reserves of its owner's quota, refused (nothing
    /// changed) when the owner would go over it.
    pub async fn grow_reservation(
        &self,
        upload: &UploadRecord,
        bytes: u64,
        default: &crate::quota::Quota,
    ) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_open_session(&mut tx, upload).await?;
        let quota = self.lock_quota(&mut tx, &upload.owner_id, default).await?;
        sqlx::query("UPDATE uploads SET reserved_bytes = reserved_bytes + $1 WHERE id = $2")
            .bind(bytes as i64)
            .bind(&upload.id)
            .execute(&mut *tx)
            .await?;
        if let Some(quota) = quota {
            self.check_quota(&mut tx, upload, &quota).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records part `part.number` of open session `upload`, replacing one sent before under
    /// that number.
    pub async fn put_intake_part(&self, upload: &UploadRecord, part: &IntakePart) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_open_session(&mut tx, upload).await?;
        sqlx::query("DELETE FROM intake_parts WHERE upload_id = $1 AND part_number = $2")
            .bind(&upload.id)
            .bind(i64::from(part.number))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO intake_parts (upload_id, part_number, size, md5, digest, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&upload.id)
        .bind(i64::from(part.number))
        .bind(part.size as i64)
        .bind(&part.md5)
        .bind(part.digest.as_deref())
        .bind(to_json(&PartColumn {
            packs: part.content.packs.clone(),
            segments: part.content.segments.clone(),
            samples: part.samples.clone(),
        }))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The parts recorded for session `upload_id`, by number, from `after` (exclusive) on, at
    /// most `limit`.
    pub async fn intake_parts(&self, upload_id: &str, after: u32, limit: u32) -> Result<Vec<IntakePart>> {
        let rows = sqlx::query(
            "SELECT part_number, size, md5, digest, content, created_at FROM intake_parts \
             WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
        )
        .bind(upload_id)
        .bind(i64::from(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let content: String = row.try_get("content")?;
                let column: PartColumn = from_json(&content, "content")?;
                Ok(IntakePart {
                    number: row.try_get::<i64, _>("part_number")?.clamp(0, i64::from(u32::MAX)) as u32,
                    size: row.try_get::<i64, _>("size")?.max(0) as u64,
                    md5: row.try_get("md5")?,
                    digest: row.try_get("digest")?,
                    content: StoredContent { packs: column.packs, segments: column.segments },
                    samples: column.samples,
                    created_ms: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// The open multipart intakes of namespace `owner_id` whose name starts with `prefix`, by
    /// name then start, at most `limit`.
    pub async fn open_intakes(&self, owner_id: &str, prefix: &str, limit: u32) -> Result<Vec<OpenIntake>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, name, created_at FROM uploads WHERE owner_id = $1 AND state = '{}' AND expires_at >= $2 \
             AND layout = 'packs' AND attributes LIKE '%\"multipart\":true%' ORDER BY name, created_at LIMIT $3",
            UploadState::Open
        )))
        .bind(owner_id)
        .bind(now_ms())
        .bind(i64::from(limit) * 4)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in rows {
            let name: String = row.try_get("name")?;
            if !name.starts_with(prefix) {
                continue;
            }
            out.push(OpenIntake { upload_id: row.try_get("id")?, name, started_ms: row.try_get("created_at")? });
            if out.len() >= limit as usize {
                break;
            }
        }
        Ok(out)
    }
}
