//! Names as paths: a name holds `/`-separated parts (`team/data/x.bin`), so a name is either data
//! or a folder of other names, never both. [`Catalogue::name_clash`] is the one check, run
//! authoritatively in every transaction that gives an object a new name (under the namespace's
//! row lock), and early, before any byte travels, by the operations that open one.
//!
//! Names compare as bytes (UTF-8's order is code point order): SQLite's default `BINARY`
//! collation does; PostgreSQL's default collation may follow the locale, so its comparisons name
//! `COLLATE "C"` ([`Catalogue::bytewise`]) and the indexes they use are made in it
//! ([`POSTGRES_INDEXES`]).

use fedml_proto::rules;
use sqlx::{AssertSqlSafe, Row};

use super::{Catalogue, Result};

/// Indexes in byte order that PostgreSQL needs for range scans over names and paths (SQLite's
/// `UNIQUE (owner_id, name)` and `PRIMARY KEY (blob_key, path)` already are). Made after the
/// migrations, if missing: a migration's text is shared by both databases.
pub(super) const POSTGRES_INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS objects_owner_name_bytes ON objects (owner_id, name COLLATE \"C\")",
    "CREATE INDEX IF NOT EXISTS object_files_path_bytes ON object_files (blob_key, path COLLATE \"C\")",
];

/// The smallest string greater than every string that starts with `prefix` (`None` when there is
/// none): its last character moved on by one (`a/` gives `a0`). UTF-8 orders as code points, so
/// this is a bound in byte order too.
pub(crate) fn after_all_starting_with(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl Catalogue {
    /// ` COLLATE "C"` on PostgreSQL, nothing on SQLite: appended to a text column, it compares
    /// and orders it as bytes on both.
    pub(crate) fn bytewise(&self) -> &'static str {
        if self.postgres { " COLLATE \"C\"" } else { "" }
    }

    /// Whether `name` clashes with an object of namespace `owner_id`: the name of an object that
    /// is a folder of `name` (`team` or `team/data` for `team/data/x.bin`), or of one inside
    /// `name` taken as a folder (`team/data/x.bin` for `team`); `None` when there is none. One
    /// lookup of the folders by key and one indexed range read, on `conn` (a transaction that
    /// holds the namespace's row lock makes it authoritative).
    pub(crate) async fn name_clash(
        &self,
        conn: &mut sqlx::AnyConnection,
        owner_id: &str,
        name: &str,
    ) -> Result<Option<String>> {
        let folders: Vec<&str> = rules::folders_of(name).collect();
        if !folders.is_empty() {
            let marks: Vec<String> = (0..folders.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT name FROM objects WHERE owner_id = $1 AND name IN ({}) ORDER BY LENGTH(name) LIMIT 1",
                marks.join(", ")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(owner_id);
            for folder in &folders {
                query = query.bind(*folder);
            }
            if let Some(row) = query.fetch_optional(&mut *conn).await? {
                return Ok(Some(row.try_get("name")?));
            }
        }
        let inside = format!("{name}/");
        let Some(end) = after_all_starting_with(&inside) else { return Ok(None) };
        let c = self.bytewise();
        let sql = format!(
            "SELECT name FROM objects WHERE owner_id = $1 AND name{c} >= $2 AND name{c} < $3 ORDER BY name{c} LIMIT 1"
        );
        let row = sqlx::query(AssertSqlSafe(sql)).bind(owner_id).bind(inside).bind(end).fetch_optional(conn).await?;
        Ok(row.map(|r| r.try_get("name")).transpose()?)
    }

    /// [`Catalogue::name_clash`] outside any transaction: the early check of an operation that
    /// is about to open an upload (the commit checks again).
    pub async fn name_clash_now(&self, owner_id: &str, name: &str) -> Result<Option<String>> {
        let mut conn = self.pool.acquire().await?;
        self.name_clash(&mut conn, owner_id, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_after_a_prefix_is_its_last_character_moved_on() {
        assert_eq!(after_all_starting_with("a/").as_deref(), Some("a0"));
        assert_eq!(after_all_starting_with("é").as_deref(), Some("ê"));
        assert_eq!(after_all_starting_with("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(after_all_starting_with("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(after_all_starting_with("\u{10FFFF}"), None);
        assert_eq!(after_all_starting_with(""), None);
        // Every string that starts with the prefix is below the bound, in byte order.
        for (prefix, longer) in
            [("a/", "a/\u{10FFFF}\u{10FFFF}"), ("x\u{7F}", "x\u{7F}\u{FFFF}"), ("\u{FFFF}", "\u{FFFF}z")]
        {
            let end = after_all_starting_with(prefix).expect("bound");
            assert!(longer.as_bytes() < end.as_bytes() && prefix.as_bytes() < end.as_bytes(), "{prefix:?}");
        }
    }

    #[tokio::test]
    async fn a_name_is_either_data_or_a_folder_of_names() {
        let dir = tempfile::tempdir().expect("tmp");
        for (_, catalogue) in crate::operations::test_support::catalogues(dir.path()).await {
            clashes_in(catalogue).await;
        }
    }

    async fn clashes_in(catalogue: Catalogue) {
        let user = crate::admin::create_user(&catalogue, "alice").await.expect("user");
        let other = crate::admin::create_user(&catalogue, "bob").await.expect("user");
        for (owner, name) in [(&user.id, "team/data/x.bin"), (&user.id, "ds"), (&user.id, "a-b"), (&other.id, "z")] {
            insert_object(&catalogue, owner, name).await;
        }
        let clash = |name: &'static str| {
            let catalogue = catalogue.clone();
            let owner = user.id.clone();
            async move { catalogue.name_clash_now(&owner, name).await.expect("query") }
        };
        assert_eq!(clash("team").await.as_deref(), Some("team/data/x.bin"));
        assert_eq!(clash("team/data").await.as_deref(), Some("team/data/x.bin"));
        assert_eq!(clash("team/data/x.bin/more").await.as_deref(), Some("team/data/x.bin"));
        assert_eq!(clash("ds/file").await.as_deref(), Some("ds"));
        assert_eq!(clash("ds/a/b").await.as_deref(), Some("ds"));
        // No clash: the name itself (an overwrite), neighbours in byte order, other namespaces.
        for free in ["team/data/x.bin", "team/data/y.bin", "team/dat", "tea", "ds0", "ds-1", "a", "a-b-c", "z/y"] {
            assert_eq!(clash(free).await, None, "{free}");
        }
    }

    async fn insert_object(catalogue: &Catalogue, owner_id: &str, name: &str) {
        catalogue.insert_bare_object(owner_id, name, "file", name, 0).await;
    }
}
