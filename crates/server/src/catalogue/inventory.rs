//! What the catalogue references, for `fedml admin backup` and `fedml admin fsck`: every
//! object's blob, the live upload sessions, the garbage awaiting the collector, the schema
//! version. The blob list is one SQL text read either through the pool or straight from a
//! SQLite file (a backup copy), with one row mapping for both.

use sqlx::{AssertSqlSafe, Row};

use super::records::{Columns, upload_from_row};
use super::{Catalogue, GarbageRecord, MIGRATIONS, Result, UploadRecord, UploadState};

/// The schema version this build migrates catalogues to.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One blob an object points at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlobReference {
    pub service: String,
    pub blob_key: String,
    pub size: u64,
    pub checksum: String,
    /// The owner's user name and the object's name, to say which object a problem touches.
    pub owner: String,
    pub object: String,
}

/// Objects and earlier versions stored as one blob, and the stored packs they read (named after
/// the first object that reads each; their "checksum" is `pack:<pack id>`: a pack is checked
/// against its own index, see `ops::fsck`). An earlier version is named `NAME@VERSION`.
const REFERENCED_BLOBS: &str = "SELECT service, blob_key, size, checksum, owner, object FROM ( \
     SELECT objects.service AS service, objects.blob_key AS blob_key, objects.size AS size, \
       objects.checksum AS checksum, users.name AS owner, objects.name AS object \
       FROM objects JOIN users ON users.id = objects.owner_id WHERE objects.content IS NULL \
     UNION ALL \
     SELECT v.service AS service, v.blob_key AS blob_key, v.size AS size, v.checksum AS checksum, \
       users.name AS owner, v.name || '@' || CAST(v.version AS TEXT) AS object \
       FROM object_versions v JOIN users ON users.id = v.owner_id WHERE v.content IS NULL \
     UNION ALL \
     SELECT packs.service AS service, packs.blob_key AS blob_key, packs.size AS size, \
       'pack:' || packs.hash AS checksum, \
       users.name AS owner, MIN(readers.name) AS object \
       FROM packs JOIN users ON users.id = packs.owner_id \
       JOIN object_packs ON object_packs.pack_key = packs.blob_key \
       JOIN (SELECT id, name FROM objects UNION ALL \
             SELECT id, name || '@' || CAST(version AS TEXT) AS name FROM object_versions) readers \
         ON readers.id = object_packs.object_id \
       GROUP BY packs.service, packs.blob_key, packs.size, packs.hash, users.name \
   ) refs ORDER BY service, blob_key";

/// What a catalogue from before versions (schema 6) references.
const REFERENCED_BLOBS_BEFORE_VERSIONS: &str = "SELECT service, blob_key, size, checksum, owner, object FROM ( \
     SELECT objects.service AS service, objects.blob_key AS blob_key, objects.size AS size, \
       objects.checksum AS checksum, users.name AS owner, objects.name AS object \
       FROM objects JOIN users ON users.id = objects.owner_id WHERE objects.content IS NULL \
     UNION ALL \
     SELECT packs.service AS service, packs.blob_key AS blob_key, packs.size AS size, \
       'pack:' || packs.hash AS checksum, \
       users.name AS owner, MIN(objects.name) AS object \
       FROM packs JOIN users ON users.id = packs.owner_id \
       JOIN object_packs ON object_packs.pack_key = packs.blob_key JOIN objects ON objects.id = object_packs.object_id \
       GROUP BY packs.service, packs.blob_key, packs.size, packs.hash, users.name \
   ) refs ORDER BY service, blob_key";

fn reference_from_row(row: &dyn Columns) -> Result<BlobReference> {
    Ok(BlobReference {
        service: row.text("service")?,
        blob_key: row.text("blob_key")?,
        size: u64::try_from(row.int("size")?).unwrap_or(0),
        checksum: row.text("checksum")?,
        owner: row.text("owner")?,
        object: row.text("object")?,
    })
}

/// The schema version recorded in a SQLite catalogue file opened with rusqlite.
pub fn schema_version_of(conn: &rusqlite::Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |row| row.get(0))?)
}

/// What a catalogue from before the content store (schema 5 and older) references.
const REFERENCED_BLOBS_BEFORE_PACKS: &str = "SELECT objects.service AS service, objects.blob_key AS blob_key, \
     objects.size AS size, objects.checksum AS checksum, users.name AS owner, objects.name AS object \
     FROM objects JOIN users ON users.id = objects.owner_id ORDER BY objects.service, objects.blob_key";

/// The schema versions that brought packs, and versions.
const PACKS_SCHEMA: i64 = 6;
const VERSIONS_SCHEMA: i64 = 7;

/// Every blob the objects of a SQLite catalogue file reference (a backup copy, say, possibly
/// written by an older release).
pub fn referenced_blobs_of(conn: &rusqlite::Connection) -> Result<Vec<BlobReference>> {
    let sql = match schema_version_of(conn)? {
        v if v < PACKS_SCHEMA => REFERENCED_BLOBS_BEFORE_PACKS,
        v if v < VERSIONS_SCHEMA => REFERENCED_BLOBS_BEFORE_VERSIONS,
        _ => REFERENCED_BLOBS,
    };
    let mut statement = conn.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(reference_from_row(row)?);
    }
    Ok(out)
}

impl Catalogue {
    /// Every blob an object references, ordered by service and key.
    pub async fn referenced_blobs(&self) -> Result<Vec<BlobReference>> {
        let rows = sqlx::query(REFERENCED_BLOBS).fetch_all(&self.pool).await?;
        rows.iter().map(|row| reference_from_row(row)).collect()
    }

    /// Upload sessions that can still come to something (open, completing, finished).
    pub async fn live_uploads(&self) -> Result<Vec<UploadRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} WHERE state IN ('{open}', '{completing}', '{finished}') ORDER BY id",
            columns = Self::UPLOAD_COLUMNS,
            open = UploadState::Open,
            completing = UploadState::Completing,
            finished = UploadState::Finished
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| upload_from_row(row)).collect()
    }

    /// Every garbage row, due or not.
    pub async fn all_garbage(&self) -> Result<Vec<GarbageRecord>> {
        let rows = sqlx::query("SELECT service, blob_key FROM garbage ORDER BY service, blob_key")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| super::records::garbage_from_row(row)).collect()
    }

    /// The schema version the catalogue is at.
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM schema_version").fetch_one(&self.pool).await?;
        Ok(row.try_get::<Option<i64>, _>("v")?.unwrap_or(0))
    }
}
