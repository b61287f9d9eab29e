//! What the dashboard needs of the catalogue: its sign-in sessions, browsing one user's objects
//! (search, sort, pages that stay fast with 100,000 objects), editing an object's description,
//! tags and user metadata, administrators, and a summary per user.

use std::collections::BTreeMap;

use sqlx::Row;

use super::records::{ApiKeyRecord, Columns, ObjectRecord, key_from_row, listed_object_from_row, to_json};
use super::{Bind, Catalogue, CatalogueError, Result};

/// A live dashboard session: the key it was exchanged for (with its user) and its CSRF token.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub key: ApiKeyRecord,
    pub csrf_token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// The orders the dashboard lists objects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Name,
    Size,
    Updated,
}

impl SortBy {
    pub fn parse(text: &str) -> Option<SortBy> {
        match text {
            "name" => Some(SortBy::Name),
            "size" => Some(SortBy::Size),
            "updated" => Some(SortBy::Updated),
            _ => None,
        }
    }

    fn column(self) -> Option<&'static str> {
        match self {
            SortBy::Name => None,
            SortBy::Size => Some("size"),
            SortBy::Updated => Some("updated_at"),
        }
    }
}

/// One page of a user's objects: those whose name or a tag contains `query` (any case), in
/// `sort` order, after the keyset position `after` (the last row of the previous page: its sort
/// value, none when sorting by name, and its name).
#[derive(Debug, Clone)]
pub struct Browse<'a> {
    pub query: Option<&'a str>,
    pub sort: SortBy,
    pub descending: bool,
    pub after: Option<(Option<i64>, &'a str)>,
    pub limit: u32,
}

/// What an edit changes; `None` leaves that part as it is.
#[derive(Debug, Clone, Default)]
pub struct ObjectEdit {
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub user_metadata: Option<BTreeMap<String, String>>,
}

/// One user as an administrator sees them.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub name: String,
    pub admin: bool,
    pub created_at: i64,
    pub objects: u64,
    pub stored_bytes: u64,
    pub active_keys: u64,
}

fn web_session_from_row(row: &dyn Columns) -> Result<WebSession> {
    Ok(WebSession {
        key: key_from_row(row)?,
        csrf_token: row.text("csrf_token")?,
        expires_at: row.int("session_expires_at")?,
    })
}

fn count_from_row(row: &dyn Columns) -> Result<i64> {
    row.int("n")
}

/// `text` as a LIKE pattern that matches it anywhere, its own `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Catalogue {
    // ---------------------------------------------------------------- sessions

    pub async fn insert_web_session(&self, id_sha256: &str, key_id: &str, csrf: &str, expires_at: i64) -> Result<()> {
        let _gate = self.gate().await;
        sqlx::query(
            "INSERT INTO web_sessions (id_sha256, key_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(key_id)
        .bind(csrf)
        .bind(crate::time::now_ms())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session whose token hashes to `id_sha256`, if it is live at `now`: not ended, not
    /// expired, and its key not revoked. [`CatalogueError::NotFound`] otherwise.
    pub async fn web_session(&self, id_sha256: &str, now: i64) -> Result<WebSession> {
        let sql = format!(
            "SELECT s.csrf_token, s.expires_at AS session_expires_at, {} JOIN web_sessions s ON s.key_id = k.id \
             WHERE s.id_sha256 = $1 AND s.ended_at IS NULL AND s.expires_at > $2 AND k.revoked_at IS NULL",
            Self::KEY_COLUMNS
        );
        self.read_one(&sql, &[Bind::Text(id_sha256), Bind::Int(now)], web_session_from_row).await
    }

    /// Ends a session (sign-out); `false` when it had already ended or never existed.
    pub async fn end_web_session(&self, id_sha256: &str, now: i64) -> Result<bool> {
        let _gate = self.gate().await;
        let done = sqlx::query("UPDATE web_sessions SET ended_at = $1 WHERE id_sha256 = $2 AND ended_at IS NULL")
            .bind(now)
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets sessions that expired or ended before `before` (the collector's housekeeping).
    pub async fn prune_web_sessions(&self, before: i64) -> Result<u64> {
        let _gate = self.gate().await;
        let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1 OR ended_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ---------------------------------------------------------------- administrators

    /// Marks (or unmarks) the user named `name` as an administrator.
    pub async fn set_user_admin(&self, name: &str, admin: bool) -> Result<()> {
        let _gate = self.gate().await;
        let done = sqlx::query("UPDATE users SET is_admin = $1 WHERE name = $2")
            .bind(admin as i64)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(CatalogueError::NotFound);
        }
        Ok(())
    }

    /// Every user with what they store and how many live keys they have, by name.
    pub async fn user_summaries(&self) -> Result<Vec<UserSummary>> {
        let rows = sqlx::query(
            "SELECT u.name, u.is_admin, u.created_at, \
               (SELECT COUNT(*) FROM objects o WHERE o.owner_id = u.id) AS objects, \
               (SELECT CAST(COALESCE(SUM(o.size), 0) AS BIGINT) FROM objects o WHERE o.owner_id = u.id) AS bytes, \
               (SELECT COUNT(*) FROM api_keys k WHERE k.user_id = u.id AND k.revoked_at IS NULL) AS active_keys \
             FROM users u ORDER BY u.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let count = |name: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
                Ok(UserSummary {
                    name: row.try_get("name")?,
                    admin: row.try_get::<i64, _>("is_admin")? != 0,
                    created_at: row.try_get("created_at")?,
                    objects: count("objects")?,
                    stored_bytes: count("bytes")?,
                    active_keys: count("active_keys")?,
                })
            })
            .collect()
    }

    // ---------------------------------------------------------------- browsing and editing

    /// A page of the owner's objects as `browse` asks and, on the first page (no `after`), how
    /// many match in all. Keyset pages on indexed columns: a page costs the same at the
    /// 100,000th object as at the first (counting costs a pass over the owner's index entries,
    /// so later pages skip it).
    pub async fn browse_objects(
        &self,
        owner_id: &str,
        browse: &Browse<'_>,
    ) -> Result<(Vec<ObjectRecord>, Option<u64>)> {
        let pattern = browse.query.filter(|q| !q.is_empty()).map(contains_pattern);
        let mut filter = String::from("owner_id = $1");
        let mut binds = vec![Bind::Text(owner_id)];
        if let Some(pattern) = &pattern {
            // Any case: SQLite's LIKE ignores ASCII case, PostgreSQL's ILIKE every case.
            let like = if self.postgres { "ILIKE" } else { "LIKE" };
            filter.push_str(&format!(" AND (name {like} $2 ESCAPE '\\' OR tags {like} $2 ESCAPE '\\')"));
            binds.push(Bind::Text(pattern));
        }
        let total = match browse.after {
            Some(_) => None,
            None => {
                let sql = format!("SELECT COUNT(*) AS n FROM objects WHERE {filter}");
                Some(self.read_one(&sql, &binds, count_from_row).await?.max(0) as u64)
            }
        };

        let (cmp, direction) = if browse.descending { ("<", "DESC") } else { (">", "ASC") };
        let column = browse.sort.column();
        let mut page_filter = filter;
        let next = |binds: &Vec<Bind<'_>>| binds.len() + 1;
        if let Some((value, name)) = browse.after {
            match (column, value) {
                (Some(column), Some(value)) => {
                    let (v, n) = (next(&binds), next(&binds) + 1);
                    page_filter.push_str(&format!(" AND ({column}, name) {cmp} (${v}, ${n})"));
                    binds.push(Bind::Int(value));
                    binds.push(Bind::Text(name));
                }
                _ => {
                    page_filter.push_str(&format!(" AND name {cmp} ${}", next(&binds)));
                    binds.push(Bind::Text(name));
                }
            }
        }
        let order = match column {
            Some(column) => format!("{column} {direction}, name {direction}"),
            None => format!("name {direction}"),
        };
        let limit = next(&binds);
        binds.push(Bind::Int(browse.limit as i64));
        let sql = format!("SELECT {} WHERE {page_filter} ORDER BY {order} LIMIT ${limit}", Self::LISTED_COLUMNS);
        let records = self.read(&sql, &binds, listed_object_from_row).await?;
        Ok((records, total))
    }

    /// Changes an object's description, tags or user metadata (its bytes stay as they are) and
    /// answers the object as it now is.
    pub async fn edit_object(&self, owner_id: &str, name: &str, edit: &ObjectEdit) -> Result<ObjectRecord> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let mut record = self.locked_object(&mut tx, owner_id, name).await?;
        if let Some(description) = &edit.description {
            record.meta.description = description.clone();
        }
        if let Some(tags) = &edit.tags {
            record.meta.tags = tags.clone();
        }
        if let Some(metadata) = &edit.user_metadata {
            record.meta.user_metadata = metadata.clone();
        }
        let now = crate::time::now_ms();
        sqlx::query("UPDATE objects SET description = $1, tags = $2, metadata = $3, updated_at = $4 WHERE id = $5")
            .bind(&record.meta.description)
            .bind(to_json(&record.meta.tags))
            .bind(to_json(&record.meta.user_metadata))
            .bind(now)
            .bind(&record.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        record.meta.updated_at = crate::time::rfc3339(now);
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_patterns_take_wildcards_literally() {
        assert_eq!(contains_pattern("Model"), "%Model%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
