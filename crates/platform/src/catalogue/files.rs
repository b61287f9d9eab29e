//! The files of directory objects (`object_files`), indexed once per version from its archive's
//! central directory, so that a folder of a dataset of millions of files lists from an index.
//!
//! A version's files are keyed by its blob key (each upload has its own). They are written in
//! one transaction, the `object_file_index` row last: a reader that finds that row finds every
//! file. Two servers indexing the same version at once write the same rows; the second writes
//! nothing. The rows go when the version goes (`Catalogue::let_go`).

use fedml_proto::archive::{ArchiveEntry, split_path};
use fedml_proto::{ObjectEntry, ObjectKind};
use sqlx::{AssertSqlSafe, Row};

use super::records::Columns;
use super::{Catalogue, CatalogueError, Result};
use crate::time::now_ms;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Rows per INSERT statement (10 values each, well under every database's parameter limit).
const BATCH: usize = 500;

/// One indexed entry: what a listing shows, and where its bytes lie in the archive.
#[derive(Debug, Clone)]
pub struct IndexedFile {
    pub entry: ObjectEntry,
    pub method: u16,
    pub compressed: u64,
    pub header: u64,
}

pub(super) fn file_from_row(row: &dyn Columns) -> Result<IndexedFile> {
    let kind: String = row.text("kind")?;
    let kind = ObjectKind::parse(&kind).ok_or_else(|| CatalogueError::Corrupt(format!("file kind {kind:?}")))?;
    let int = |name: &str| row.int(name).map(|n| n.max(0) as u64);
    Ok(IndexedFile {
        entry: ObjectEntry { path: row.text("path")?, kind, size: int("size")?, crc32: row.text("crc32")? },
        method: u16::try_from(int("method")?).unwrap_or(u16::MAX),
        compressed: int("compressed")?,
        header: int("header")?,
    })
}

pub(super) const FILE_COLUMNS: &str = "path, kind, size, crc32, method, compressed, header FROM object_files";

impl Catalogue {
    /// How many entries the version stored as `blob_key` has, once they are all indexed.
    pub async fn indexed_files(&self, blob_key: &str) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT files FROM object_file_index WHERE blob_key = $1")
            .bind(blob_key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get::<i64, _>("files").map(|n| n.max(0) as u64)).transpose()?)
    }

    /// Records every entry of the version stored as `blob_key`, in one transaction.
    pub async fn index_files(&self, blob_key: &str, entries: Vec<ArchiveEntry>) -> Result<()> {
        let _gate = self.gate().await;
        if let Some(reader) = self.reader.clone() {
            // SQLite: one prepared statement run per row, straight on the file (sqlx's batches
            // of bound rows took 70 µs a row; this takes about 2).
            let blob_key = blob_key.to_string();
            let written = tokio::task::spawn_blocking(move || reader.write(|tx| index_sqlite(tx, &blob_key, &entries)));
            return written.await.map_err(|e| CatalogueError::Corrupt(format!("indexing stopped: {e}")))?;
        }
        let mut tx = self.begin().await?;
        for batch in entries.chunks(BATCH) {
            insert_batch(&mut tx, blob_key, batch).await?;
        }
        sqlx::query(
            "INSERT INTO object_file_index (blob_key, files, indexed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (blob_key) DO NOTHING",
        )
        .bind(blob_key)
        .bind(i64::try_from(entries.len()).unwrap_or(i64::MAX))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The entries directly in `folder` (`""`: the top) after the entry named `after`, by name.
    pub async fn files_in(&self, blob_key: &str, folder: &str, after: &str, limit: u32) -> Result<Vec<IndexedFile>> {
        let sql =
            format!("SELECT {FILE_COLUMNS} WHERE blob_key = $1 AND folder = $2 AND name > $3 ORDER BY name LIMIT $4");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(blob_key)
            .bind(folder)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| file_from_row(row)).collect()
    }

    /// Every entry below `folder` (`""`: all of them) whose path comes after `after`, by path.
    pub async fn files_under(&self, blob_key: &str, folder: &str, after: &str, limit: u32) -> Result<Vec<IndexedFile>> {
        let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
        let sql = format!(
            "SELECT {FILE_COLUMNS} WHERE blob_key = $1 AND SUBSTR(path, 1, CAST($2 AS INTEGER)) = $3 AND path > $4 ORDER BY path LIMIT $5"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(blob_key)
            .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
            .bind(prefix)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| file_from_row(row)).collect()
    }

    /// The entry at `path`, if the version has one.
    pub async fn file_at(&self, blob_key: &str, path: &str) -> Result<Option<IndexedFile>> {
        let sql = format!("SELECT {FILE_COLUMNS} WHERE blob_key = $1 AND path = $2");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(blob_key).bind(path).fetch_optional(&self.pool).await?;
        row.as_ref().map(|row| file_from_row(row)).transpose()
    }
}

fn index_sqlite(tx: &rusqlite::Transaction<'_>, blob_key: &str, entries: &[ArchiveEntry]) -> Result<()> {
    let mut insert = tx.prepare(
        "INSERT INTO object_files (blob_key, path, folder, name, kind, size, crc32, method, compressed, header) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (blob_key, path) DO NOTHING",
    )?;
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    for e in entries {
        let (folder, name) = split_path(&e.path);
        insert.execute(rusqlite::params![
            blob_key,
            e.path,
            folder,
            name,
            e.kind.as_str(),
            int(e.size),
            format!("{:08x}", e.crc),
            i64::from(e.method),
            int(e.compressed),
            int(e.header),
        ])?;
    }
    tx.execute(
        "INSERT INTO object_file_index (blob_key, files, indexed_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (blob_key) DO NOTHING",
        rusqlite::params![blob_key, int(entries.len() as u64), now_ms()],
    )?;
    Ok(())
}

async fn insert_batch(tx: &mut Tx, blob_key: &str, batch: &[ArchiveEntry]) -> Result<()> {
    let mut values = Vec::with_capacity(batch.len());
    for i in 0..batch.len() {
        let n = i * 10;
        values.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 8,
            n + 9,
            n + 10
        ));
    }
    let sql = format!(
        "INSERT INTO object_files (blob_key, path, folder, name, kind, size, crc32, method, compressed, header) \
         VALUES {} ON CONFLICT (blob_key, path) DO NOTHING",
        values.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for e in batch {
        let (folder, name) = split_path(&e.path);
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        query = query
            .bind(blob_key.to_string())
            .bind(e.path.clone())
            .bind(folder.to_string())
            .bind(name.to_string())
            .bind(e.kind.as_str())
            .bind(int(e.size))
            .bind(format!("{:08x}", e.crc))
            .bind(i64::from(e.method))
            .bind(int(e.compressed))
            .bind(int(e.header));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Drops the files of the version stored as `blob_key` (it is being removed).
pub(super) async fn forget(tx: &mut Tx, blob_key: &str) -> Result<()> {
    sqlx::query("DELETE FROM object_file_index WHERE blob_key = $1").bind(blob_key).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM object_files WHERE blob_key = $1").bind(blob_key).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM file_hashes WHERE blob_key = $1").bind(blob_key).execute(&mut **tx).await?;
    Ok(())
}
