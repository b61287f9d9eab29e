//! What the Hub's protocol needs beside the objects: files sent ahead of the commit that names
//! them (staged, by SHA-256, per namespace), and the hashes a repository's files are named by.

use sqlx::Row;

use super::records::{StoredContent, from_json, to_json};
use super::{Catalogue, Result, UploadRecord};
use crate::time::now_ms;

/// A file sent ahead of its commit.
#[derive(Debug, Clone)]
pub struct StagedFile {
    pub sha256: String,
    pub size: u64,
    /// 8 hex digits.
    pub crc32: String,
    pub git_sha1: String,
    /// The session that took it in (its packs stay pinned until that session ends).
    pub upload_id: String,
    pub content: StoredContent,
}

/// A file's hashes in one version of a directory object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    pub path: String,
    pub sha256: String,
    pub git_sha1: String,
}

impl Catalogue {
    /// Records a staged file of open session `upload` (one sent before with the same SHA-256 is
    /// replaced).
    pub async fn stage_file(&self, upload: &UploadRecord, file: &StagedFile) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_open_session(&mut tx, upload).await?;
        sqlx::query("DELETE FROM staged_files WHERE owner_id = $1 AND sha256 = $2")
            .bind(&upload.owner_id)
            .bind(&file.sha256)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staged_files (owner_id, sha256, size, crc32, git_sha1, upload_id, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&upload.owner_id)
        .bind(&file.sha256)
        .bind(file.size as i64)
        .bind(&file.crc32)
        .bind(&file.git_sha1)
        .bind(&upload.id)
        .bind(to_json(&file.content))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The staged file of namespace `owner_id` with this SHA-256, if its session is still open.
    pub async fn staged_file(&self, owner_id: &str, sha256: &str) -> Result<Option<StagedFile>> {
        let row = sqlx::query(
            "SELECT s.sha256, s.size, s.crc32, s.git_sha1, s.upload_id, s.content FROM staged_files s \
             JOIN uploads u ON u.id = s.upload_id WHERE s.owner_id = $1 AND s.sha256 = $2 AND u.state = 'open' \
             AND u.expires_at >= $3",
        )
        .bind(owner_id)
        .bind(sha256)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let content: String = row.try_get("content")?;
        Ok(Some(StagedFile {
            sha256: row.try_get("sha256")?,
            size: row.try_get::<i64, _>("size")?.max(0) as u64,
            crc32: row.try_get("crc32")?,
            git_sha1: row.try_get("git_sha1")?,
            upload_id: row.try_get("upload_id")?,
            content: from_json(&content, "content")?,
        }))
    }

    /// A file with this SHA-256 in the latest version of a directory object of `owner_id`: that
    /// version's service and blob key, and the file's path.
    pub async fn file_by_hash(&self, owner_id: &str, sha256: &str) -> Result<Option<(String, String, String)>> {
        let row = sqlx::query(
            "SELECT o.service, h.blob_key, h.path FROM file_hashes h JOIN objects o ON o.blob_key = h.blob_key \
             WHERE o.owner_id = $1 AND h.sha256 = $2 LIMIT 1",
        )
        .bind(owner_id)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("service")?, r.try_get("blob_key")?, r.try_get("path")?))).transpose()
    }

    /// The hashes kept of the files of the version stored as `blob_key`, by path.
    pub async fn file_hashes(&self, blob_key: &str) -> Result<Vec<FileHashes>> {
        let rows = sqlx::query("SELECT path, sha256, git_sha1 FROM file_hashes WHERE blob_key = $1 ORDER BY path")
            .bind(blob_key)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(FileHashes {
                    path: row.try_get("path")?,
                    sha256: row.try_get("sha256")?,
                    git_sha1: row.try_get("git_sha1")?,
                })
            })
            .collect()
    }

    /// Keeps the hashes of files of the version stored as `blob_key`.
    pub async fn keep_file_hashes(&self, blob_key: &str, hashes: &[FileHashes]) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        for h in hashes {
            sqlx::query("DELETE FROM file_hashes WHERE blob_key = $1 AND path = $2")
                .bind(blob_key)
                .bind(&h.path)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO file_hashes (blob_key, path, sha256, git_sha1) VALUES ($1, $2, $3, $4)")
                .bind(blob_key)
                .bind(&h.path)
                .bind(&h.sha256)
                .bind(&h.git_sha1)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
