//! The catalogue: users, API keys, objects, upload sessions, garbage — one SQL schema served by
//! SQLite (embedded default) or PostgreSQL (scale-out) through the same queries.
//!
//! Architecture invariant: the catalogue knows nothing about HTTP or blob stores. It answers in
//! domain types and [`CatalogueError`]; every state change that must be atomic (commit of an
//! upload, overwrite, delete) is one transaction here.

use std::sync::Arc;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::time::now_ms;

mod files;
mod intake;
mod inventory;
mod keys_list;
mod names;
mod packs;
mod probe;
mod quota;
mod reader;
mod records;
mod repos;
mod shares;
mod teams;
mod uploads;
mod versions;
mod web;

pub use files::IndexedFile;
pub use intake::{IntakePart, OpenIntake};
pub use inventory::{
    BlobReference, Holder, PackedFile, SCHEMA_VERSION, SessionPack, object_counts_of, referenced_blobs_of,
    schema_version_of, session_pack_references, session_packs_of,
};
pub use keys_list::RangeStart;
pub(crate) use names::after_all_starting_with;
pub use packs::{CorruptPack, PackCheck, PackRecord, PackState};
use reader::{Bind, SqliteReader};
pub use records::{
    ApiKeyRecord, Attributes, Garbage, GarbageRecord, ObjectRecord, PartRecord, StoredContent, UploadRecord,
    UploadState, User,
};
use records::{Columns, garbage_from_row, key_from_row, listed_object_from_row, object_from_row, user_from_row};
pub use repos::{FileHashes, StagedFile};
pub use shares::{NewShareRow, ShareRow};
pub use teams::{Actor, AuditLine, AuditRow, MemberChange, MemberRow, NamespaceRow, OrgRow};
pub use uploads::Made;
pub use versions::{Retention, VersionRemoved};
pub use web::{Browse, ObjectEdit, SortBy, UserSummary, WebSession};

/// The migrations, applied in order at start-up; never edit one that has shipped. Statements are
/// split at every `;`, so none may appear in a comment.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_fedml_compat.sql"),
    include_str!("../../migrations/0003_upload_states.sql"),
    include_str!("../../migrations/0004_quotas.sql"),
    include_str!("../../migrations/0005_dashboard.sql"),
    include_str!("../../migrations/0006_content_store.sql"),
    include_str!("../../migrations/0007_versions.sql"),
    include_str!("../../migrations/0008_object_files.sql"),
    include_str!("../../migrations/0009_pack_integrity.sql"),
    include_str!("../../migrations/0010_upload_keeps.sql"),
    include_str!("../../migrations/0011_teams.sql"),
    include_str!("../../migrations/0012_intake.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("not found")]
    NotFound,
    #[error("an object with that name already exists")]
    NameTaken,
    /// The object exists but not in the version asked for; carries its latest version.
    #[error("no such version (the latest is {0})")]
    NoVersion(u64),
    #[error("{0}")]
    Conflict(String),
    /// The caller lost a right while the change was made (a member removed during an upload).
    #[error("{0}")]
    Forbidden(String),
    /// `name` cannot be given: `other` is data that would be a folder of it, or data inside it
    /// taken as a folder ([`Catalogue::name_clash`]).
    #[error("{name:?} clashes with {other:?}")]
    Clash { name: String, other: String },
    /// A commit made from a version that is no longer the latest (the latest's number; 0: none).
    #[error("the latest version is {0} now")]
    Stale(u64),
    /// A compare-and-set found the upload session in another state than expected.
    #[error("the upload session changed state meanwhile")]
    Moved,
    #[error("catalogue database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("catalogue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("catalogue: {0}")]
    Corrupt(String),
    /// Opening an upload session would take its owner over a quota (nothing was recorded).
    #[error("{0}")]
    OverQuota(Box<crate::quota::QuotaRefusal>),
}

type Result<T> = std::result::Result<T, CatalogueError>;

#[derive(Clone)]
pub struct Catalogue {
    pool: AnyPool,
    /// SQLite allows one writer: write transactions queue here instead of failing as busy.
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Direct reads of the SQLite file for the hot lookups (see `reader`); `None` on PostgreSQL.
    reader: Option<Arc<SqliteReader>>,
    postgres: bool,
    /// The versions an overwrite keeps (`versions`).
    retention: Retention,
}

impl CatalogueError {
    /// Whether the database could not write for want of room (a full disk, a file size limit).
    pub fn is_storage_full(&self) -> bool {
        use std::io::ErrorKind::{FileTooLarge, QuotaExceeded, StorageFull};
        match self {
            CatalogueError::Database(sqlx::Error::Database(db)) => {
                db.code().as_deref() == Some("13") || db.message().contains("database or disk is full")
            }
            CatalogueError::Database(sqlx::Error::Io(e)) => {
                matches!(e.kind(), StorageFull | FileTooLarge | QuotaExceeded)
            }
            CatalogueError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => e.code == rusqlite::ErrorCode::DiskFull,
            _ => false,
        }
    }
}

impl Catalogue {
    /// Opens (creating if needed) the catalogue at `url` (`sqlite://path` or `postgres://…`) and
    /// applies pending migrations.
    pub async fn open(url: &str) -> Result<Catalogue> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if !sqlite && !postgres {
            return Err(CatalogueError::Corrupt(format!(
                "unsupported database URL scheme in {:?}; use sqlite://PATH or postgres://…",
                url.split(':').next().unwrap_or_default()
            )));
        }
        let url = if sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
        } else {
            url.to_string()
        };
        // A SQLite connection is a file handle on this machine that cannot go stale: the pool's
        // liveness ping before each acquire would be one more round trip to the connection's
        // worker thread per query for nothing.
        let options = AnyPoolOptions::new().max_connections(if sqlite { 8 } else { 16 }).test_before_acquire(!sqlite);
        let options = if sqlite {
            options
                // A connection still inside a transaction is closed, never handed out again: when
                // SQLite refuses a COMMIT for a full disk it has already rolled the transaction
                // back, sqlx's own ROLLBACK then fails, and the connection would refuse every
                // later `BEGIN` ("non-zero transaction depth") long after room is back.
                .before_acquire(|conn, _| {
                    Box::pin(async move {
                        use sqlx_core::transaction::TransactionManager;
                        let depth = <<sqlx::Any as sqlx::Database>::TransactionManager>::get_transaction_depth(conn);
                        if depth > 0 {
                            tracing::warn!(depth, "closing a catalogue connection left inside a transaction");
                        }
                        Ok(depth == 0)
                    })
                })
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        Ok(())
                    })
                })
        } else {
            options
        };
        let pool = options.connect(&url).await?;
        let mut reader = None;
        if sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            // The file SQLite itself opened (an in-memory database has none: no direct reads).
            let file: String = sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&pool)
                .await?
                .try_get("file")?;
            if !file.is_empty() {
                reader = Some(Arc::new(SqliteReader::open(file.into())?));
            }
        }
        let write_gate = sqlite.then(|| Arc::new(tokio::sync::Mutex::new(())));
        let catalogue = Catalogue { pool, write_gate, reader, postgres, retention: Retention::default() };
        catalogue.migrate().await?;
        Ok(catalogue)
    }

    /// A write transaction. SQLite's takes the write lock at once (`BEGIN IMMEDIATE`), so that two
    /// processes on one file wait for each other instead of failing on a stale snapshot.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(if self.postgres { self.pool.begin().await? } else { self.pool.begin_with("BEGIN IMMEDIATE").await? })
    }

    /// Row locks for read-then-write transactions (PostgreSQL; SQLite has one writer anyway).
    /// The same catalogue keeping versions by `retention` from now on.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    fn lock_rows(&self) -> &'static str {
        if self.postgres { " FOR UPDATE" } else { "" }
    }

    /// Rows of a read-only query: directly from the SQLite file where there is one, else
    /// through the pool. Parameters are `$1`, `$2`, … in order of appearance.
    async fn read<T>(&self, sql: &str, binds: &[Bind<'_>], map: fn(&dyn Columns) -> Result<T>) -> Result<Vec<T>> {
        if let Some(reader) = &self.reader {
            return reader.query(sql, binds, map);
        }
        let mut query = sqlx::query(AssertSqlSafe(sql.to_string()));
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.to_string()),
                Bind::Int(int) => query.bind(*int),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|row| map(row)).collect()
    }

    /// The one row a lookup by key finds.
    async fn read_one<T>(&self, sql: &str, binds: &[Bind<'_>], map: fn(&dyn Columns) -> Result<T>) -> Result<T> {
        self.read(sql, binds, map).await?.into_iter().next().ok_or(CatalogueError::NotFound)
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    async fn gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    async fn migrate(&self) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        if self.postgres {
            // Several servers may start at once: one applies the migrations, the others wait.
            sqlx::query("SELECT pg_advisory_xact_lock(7242031)").execute(&mut *tx).await?;
        }
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").execute(&mut *tx).await?;
        let current: Option<i64> =
            sqlx::query("SELECT MAX(version) AS v FROM schema_version").fetch_one(&mut *tx).await?.try_get("v")?;
        let current = current.unwrap_or(0) as usize;
        if current > MIGRATIONS.len() {
            return Err(CatalogueError::Corrupt(format!(
                "the catalogue is at schema version {current}, newer than this server knows ({}); upgrade the server",
                MIGRATIONS.len()
            )));
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(current) {
            for statement in migration.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let statement: String =
                    statement.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
                if statement.trim().is_empty() {
                    continue;
                }
                sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
                .bind((i + 1) as i64)
                .execute(&mut *tx)
                .await?;
        }
        if self.postgres {
            for statement in names::POSTGRES_INDEXES {
                sqlx::query(AssertSqlSafe(*statement)).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    // ---------------------------------------------------------------- settings

    /// Returns the setting `name`, creating it with `make()` if absent (first writer wins).
    pub async fn setting_or_insert(&self, name: &str, make: impl FnOnce() -> String) -> Result<String> {
        if let Some(row) =
            sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(&self.pool).await?
        {
            return Ok(row.try_get("value")?);
        }
        let _gate = self.gate().await;
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(make())
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1").bind(name).fetch_one(&self.pool).await?;
        Ok(row.try_get("value")?)
    }

    // ---------------------------------------------------------------- users and keys

    pub async fn user_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    pub async fn create_user(&self, id: &str, name: &str) -> Result<User> {
        let _gate = self.gate().await;
        let now = now_ms();
        let result = sqlx::query("INSERT INTO users (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(User { id: id.into(), name: name.into(), created_at: now, admin: false }),
            Err(e) if is_unique_violation(&e) => {
                Err(CatalogueError::Conflict(format!("a user named {name:?} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn user_by_name(&self, name: &str) -> Result<User> {
        let row = sqlx::query("SELECT id, name, created_at, is_admin FROM users WHERE name = $1 AND kind = 'user'")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(CatalogueError::NotFound)?;
        user_from_row(&row)
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT id, name, created_at, is_admin FROM users WHERE kind = 'user' ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn insert_api_key(
        &self,
        id: &str,
        user_id: &str,
        secret_sha256: &str,
        read_only: bool,
        label: &str,
        namespaces: Option<&[String]>,
    ) -> Result<()> {
        let _gate = self.gate().await;
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, secret_sha256, read_only, label, created_at, namespaces) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(user_id)
        .bind(secret_sha256)
        .bind(read_only as i64)
        .bind(label)
        .bind(now_ms())
        .bind(namespaces.map(|ids| ids.join(",")))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    const KEY_COLUMNS: &'static str = "k.id, k.user_id, u.name AS user_name, u.is_admin AS user_admin, k.secret_sha256, \
        k.read_only, k.label, k.created_at, k.revoked_at, k.namespaces, \
        (SELECT generation FROM team_state WHERE id = 1) AS teams_generation \
        FROM api_keys k JOIN users u ON u.id = k.user_id";

    pub async fn api_key(&self, id: &str) -> Result<ApiKeyRecord> {
        self.read_one(&format!("SELECT {} WHERE k.id = $1", Self::KEY_COLUMNS), &[Bind::Text(id)], key_from_row).await
    }

    pub async fn list_api_keys(&self, user_name: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        let rows = match user_name {
            Some(name) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {} WHERE u.name = $1 ORDER BY k.created_at",
                    Self::KEY_COLUMNS
                )))
                .bind(name)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!("SELECT {} ORDER BY u.name, k.created_at", Self::KEY_COLUMNS)))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(|row| key_from_row(row)).collect()
    }

    /// Revokes a key and, in the same transaction, ends the upload sessions it opened that have
    /// not reached their commit (open ones, and FedML SDK blobs waiting for their dataset
    /// record): their part URLs stop working at once and their bytes go to the collector. A
    /// completion already under way is left to finish. `Ok(false)` when it was already revoked.
    pub async fn revoke_api_key(&self, id: &str) -> Result<bool> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        let now = now_ms();
        let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            drop(tx);
            return self.api_key(id).await.map(|_| false);
        }
        let sessions = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, owner_id, service FROM uploads WHERE key_id = $1 AND state IN ('{}', '{}'){}",
            UploadState::Open,
            UploadState::Finished,
            self.lock_rows()
        )))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for row in &sessions {
            let upload_id: String = row.try_get("id")?;
            let service: String = row.try_get("service")?;
            let owner_id: String = row.try_get("owner_id")?;
            uploads::end_session(self, &mut tx, &upload_id, &owner_id, &service, now).await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE uploads SET state = '{}' WHERE key_id = $1 AND state IN ('{}', '{}')",
            UploadState::Aborted,
            UploadState::Open,
            UploadState::Finished
        )))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---------------------------------------------------------------- objects

    const OBJECT_COLUMNS: &'static str = "id, owner_id, name, kind, service, size, checksum, \
        description, tags, metadata, blob_key, content, created_at, updated_at, version, added_bytes, attributes FROM objects";

    /// The columns of a listing: whether each is packed, never its content.
    const LISTED_COLUMNS: &'static str = "id, owner_id, name, kind, service, size, checksum, description, tags, \
        metadata, blob_key, CASE WHEN content IS NULL THEN 0 ELSE 1 END AS packed, created_at, updated_at, version, \
        added_bytes, attributes FROM objects";

    /// The same, of the earlier versions.
    const LISTED_VERSION_COLUMNS: &'static str = "id, owner_id, name, kind, service, size, checksum, description, \
        tags, metadata, blob_key, CASE WHEN content IS NULL THEN 0 ELSE 1 END AS packed, created_at, updated_at, \
        version, added_bytes, attributes FROM object_versions";

    /// The same columns of the earlier versions (`versions`).
    const VERSION_COLUMNS: &'static str = "id, owner_id, name, kind, service, size, checksum, \
        description, tags, metadata, blob_key, content, created_at, updated_at, version, added_bytes, \
        attributes FROM object_versions";

    pub async fn object(&self, owner_id: &str, name: &str) -> Result<ObjectRecord> {
        let sql = format!("SELECT {} WHERE owner_id = $1 AND name = $2", Self::OBJECT_COLUMNS);
        self.read_one(&sql, &[Bind::Text(owner_id), Bind::Text(name)], object_from_row).await
    }

    /// The object, or earlier version of one, whose row names `blob_key` in `service` (a packed
    /// file's assembled read).
    pub async fn object_by_blob(&self, service: &str, blob_key: &str) -> Result<ObjectRecord> {
        let binds = [Bind::Text(service), Bind::Text(blob_key)];
        let sql = format!("SELECT {} WHERE service = $1 AND blob_key = $2", Self::OBJECT_COLUMNS);
        match self.read_one(&sql, &binds, object_from_row).await {
            Err(CatalogueError::NotFound) => {
                let sql = format!("SELECT {} WHERE service = $1 AND blob_key = $2", Self::VERSION_COLUMNS);
                self.read_one(&sql, &binds, object_from_row).await
            }
            found => found,
        }
    }

    pub async fn object_exists(&self, owner_id: &str, name: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM objects WHERE owner_id = $1 AND name = $2")
            .bind(owner_id)
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// A page of the owner's objects in name order, starting after `after`.
    pub async fn list_objects(&self, owner_id: &str, after: Option<&str>, limit: u32) -> Result<Vec<ObjectRecord>> {
        let sql = format!("SELECT {} WHERE owner_id = $1 AND name > $2 ORDER BY name LIMIT $3", Self::LISTED_COLUMNS);
        let binds = [Bind::Text(owner_id), Bind::Text(after.unwrap_or("")), Bind::Int(limit as i64)];
        self.read(&sql, &binds, listed_object_from_row).await
    }

    /// The object `owner_id` calls `name`, read inside `tx` for a change (row-locked on
    /// PostgreSQL); [`CatalogueError::NotFound`] when there is none.
    async fn locked_object(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner_id: &str,
        name: &str,
    ) -> Result<ObjectRecord> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} WHERE owner_id = $1 AND name = $2{}",
            Self::OBJECT_COLUMNS,
            self.lock_rows()
        )))
        .bind(owner_id)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(CatalogueError::NotFound)?;
        object_from_row(&row)
    }

    /// Removes the object with all its versions and hands their bytes to the collector, in one
    /// transaction.
    pub async fn delete_object(&self, owner_id: &str, name: &str, reclaim_after: i64) -> Result<ObjectRecord> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        self.lock_owner(&mut tx, owner_id).await?;
        let record = self.locked_object(&mut tx, owner_id, name).await?;
        self.delete_name(&mut tx, &record, reclaim_after).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Inside `tx`: removes the latest version `record` and every earlier version of its name.
    async fn delete_name(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        record: &ObjectRecord,
        reclaim_after: i64,
    ) -> Result<()> {
        let deleted = sqlx::query("DELETE FROM objects WHERE id = $1").bind(&record.id).execute(&mut **tx).await?;
        if deleted.rows_affected() != 1 {
            return Err(CatalogueError::NotFound);
        }
        self.let_go(tx, record, reclaim_after).await?;
        for version in versions::earlier_in(tx, &record.id).await? {
            versions::drop_version(tx, self, &version, reclaim_after).await?;
        }
        Ok(())
    }

    /// Inside `tx`: drops what a removed version `record` (its row already gone) held, handing
    /// its blob, or the packs nothing else references, to the collector.
    async fn let_go(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        record: &ObjectRecord,
        reclaim_after: i64,
    ) -> Result<()> {
        files::forget(tx, &record.blob_key).await?;
        if record.content.is_some() {
            let keys = packs::unreference(tx, &record.id).await?;
            packs::release(tx, self, &record.owner_id, &keys, reclaim_after).await
        } else {
            insert_garbage(tx, &record.meta.service, &Garbage::Blob(record.blob_key.clone()), reclaim_after).await
        }
    }

    // ---------------------------------------------------------------- garbage

    /// Garbage of the given services that is due, oldest first. Only the services the caller
    /// can reach: garbage of another one (a retired service, another instance's) must not fill
    /// every batch and keep the caller's own from ever being reached.
    pub async fn due_garbage(&self, now: i64, services: &[String], limit: u32) -> Result<Vec<GarbageRecord>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..services.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT service, blob_key FROM garbage WHERE reclaim_after <= $1 AND service IN ({}) \
             ORDER BY reclaim_after LIMIT $2",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(now).bind(limit as i64);
        for service in services {
            query = query.bind(service);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|row| garbage_from_row(row)).collect()
    }

    pub async fn forget_garbage(&self, item: &GarbageRecord) -> Result<()> {
        let _gate = self.gate().await;
        sqlx::query("DELETE FROM garbage WHERE service = $1 AND blob_key = $2")
            .bind(&item.service)
            .bind(item.item.column())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Puts an item of garbage off until `reclaim_after` (a reclaim that failed, or a session
    /// whose part URLs may still create parts until they expire).
    pub async fn postpone_garbage(&self, item: &GarbageRecord, reclaim_after: i64) -> Result<()> {
        let _gate = self.gate().await;
        sqlx::query("UPDATE garbage SET reclaim_after = $1 WHERE service = $2 AND blob_key = $3")
            .bind(reclaim_after)
            .bind(&item.service)
            .bind(item.item.column())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces an item of garbage by the next step of its removal, due at `reclaim_after`, in
    /// one transaction (a crash leaves one of the two, and either removes the blob again).
    pub async fn replace_garbage(&self, item: &GarbageRecord, next: &Garbage, reclaim_after: i64) -> Result<()> {
        let _gate = self.gate().await;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM garbage WHERE service = $1 AND blob_key = $2")
            .bind(&item.service)
            .bind(item.item.column())
            .execute(&mut *tx)
            .await?;
        insert_garbage(&mut tx, &item.service, next, reclaim_after).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether any object still points at this blob (a guard before reclaiming it).
    pub async fn blob_in_use(&self, service: &str, blob_key: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM objects WHERE service = $1 AND blob_key = $2) \
               + (SELECT COUNT(*) FROM object_versions WHERE service = $1 AND blob_key = $2) AS n",
        )
        .bind(service)
        .bind(blob_key)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0 || self.pack_in_use(blob_key).await?)
    }

    pub async fn garbage_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM garbage").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }
}

async fn insert_garbage(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    service: &str,
    item: &Garbage,
    reclaim_after: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO garbage (service, blob_key, reclaim_after) VALUES ($1, $2, $3) \
         ON CONFLICT (service, blob_key) DO NOTHING",
    )
    .bind(service)
    .bind(item.column())
    .bind(reclaim_after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.is_unique_violation() || db.message().contains("UNIQUE constraint failed"),
        _ => false,
    }
}
