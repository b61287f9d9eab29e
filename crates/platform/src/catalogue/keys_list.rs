//! The reads behind a listing of keys in byte order (`operations::keys_list`): a namespace's
//! objects by name, and a directory object's files by path, each one indexed range read. Names
//! and paths compare as bytes on both databases ([`Catalogue::bytewise`]).

use super::files::{FILE_COLUMNS, IndexedFile, file_from_row};
use super::reader::Bind;
use super::records::listed_object_from_row;
use super::{Catalogue, ObjectRecord, Result};

/// Where a range of names or paths begins: at `key` itself (`inclusive`) or just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeStart {
    pub key: String,
    pub inclusive: bool,
}

impl RangeStart {
    pub fn at(key: impl Into<String>) -> RangeStart {
        RangeStart { key: key.into(), inclusive: true }
    }

    pub fn after(key: impl Into<String>) -> RangeStart {
        RangeStart { key: key.into(), inclusive: false }
    }

    /// Whether `key` lies at or after this start.
    pub fn admits(&self, key: &str) -> bool {
        match key.as_bytes().cmp(self.key.as_bytes()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => self.inclusive,
            std::cmp::Ordering::Less => false,
        }
    }

    /// The later of two starts.
    pub fn max(self, other: RangeStart) -> RangeStart {
        match self.key.as_bytes().cmp(other.key.as_bytes()) {
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Equal => RangeStart { key: self.key, inclusive: self.inclusive && other.inclusive },
        }
    }

    fn operator(&self) -> &'static str {
        if self.inclusive { ">=" } else { ">" }
    }
}

impl Catalogue {
    /// At most `limit` objects of namespace `owner_id` whose names lie from `start` up to (not
    /// including) `end`, in byte order; listing records (no content).
    pub async fn objects_in_range(
        &self,
        owner_id: &str,
        start: &RangeStart,
        end: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>> {
        let c = self.bytewise();
        let mut binds = vec![Bind::Text(owner_id), Bind::Text(&start.key)];
        let mut sql =
            format!("SELECT {} WHERE owner_id = $1 AND name{c} {} $2", Self::LISTED_COLUMNS, start.operator());
        if let Some(end) = end {
            binds.push(Bind::Text(end));
            sql.push_str(&format!(" AND name{c} < $3"));
        }
        binds.push(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY name{c} LIMIT ${}", binds.len()));
        self.read(&sql, &binds, listed_object_from_row).await
    }

    /// The directory objects of namespace `owner_id` among `names` (listing records).
    pub async fn directories_named(&self, owner_id: &str, names: &[&str]) -> Result<Vec<ObjectRecord>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {} WHERE owner_id = $1 AND kind = 'directory' AND name IN ({})",
            Self::LISTED_COLUMNS,
            marks.join(", ")
        );
        let mut binds = vec![Bind::Text(owner_id)];
        binds.extend(names.iter().map(|n| Bind::Text(n)));
        self.read(&sql, &binds, listed_object_from_row).await
    }

    /// At most `limit` files (not folders) of the directory version stored as `blob_key` whose
    /// paths lie from `start` up to (not including) `end`, in byte order.
    pub async fn files_in_range(
        &self,
        blob_key: &str,
        start: &RangeStart,
        end: Option<&str>,
        limit: usize,
    ) -> Result<Vec<IndexedFile>> {
        let c = self.bytewise();
        let mut binds = vec![Bind::Text(blob_key), Bind::Text(&start.key)];
        let mut sql =
            format!("SELECT {FILE_COLUMNS} WHERE blob_key = $1 AND kind = 'file' AND path{c} {} $2", start.operator());
        if let Some(end) = end {
            binds.push(Bind::Text(end));
            sql.push_str(&format!(" AND path{c} < $3"));
        }
        binds.push(Bind::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY path{c} LIMIT ${}", binds.len()));
        self.read(&sql, &binds, file_from_row).await
    }
}

#[cfg(test)]
impl Catalogue {
    /// Test only: an object row of namespace `owner_id` without bytes behind it (a file, or a
    /// directory whose files are indexed under `blob_key` by the test).
    pub(crate) async fn insert_bare_object(&self, owner_id: &str, name: &str, kind: &str, blob_key: &str, size: i64) {
        sqlx::query(
            "INSERT INTO objects (id, owner_id, name, kind, service, size, checksum, description, tags, metadata, \
             blob_key, created_at, updated_at) VALUES ($1, $2, $3, $4, 'R2', $5, $6, '', '[]', '{}', $7, 0, 7)",
        )
        .bind(crate::keys::random_hex(8))
        .bind(owner_id)
        .bind(name)
        .bind(kind)
        .bind(size)
        .bind(format!("sum-{name}"))
        .bind(blob_key)
        .execute(&self.pool)
        .await
        .expect("insert an object row");
    }
}
