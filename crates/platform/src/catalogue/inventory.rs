//! What the catalogue references, for `fedml admin backup` and `fedml admin fsck`: every
//! object's blob, the packed files and the packs they read, the live upload sessions and the
//! packs they pin, the garbage awaiting the collector, the schema version. Each list is one SQL
//! text read either through the pool or straight from a SQLite file (a backup copy), with one
//! row mapping for both.

use sqlx::{AssertSqlSafe, Row};

use super::records::{Columns, upload_from_row};
use super::{Catalogue, CatalogueError, GarbageRecord, MIGRATIONS, Result, StoredContent, UploadRecord, UploadState};

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
    /// Whose blob it is: the latest version's, an earlier version's, or a pack (not written to
    /// a backup's blob list, where the checksum says it: a pack's is `pack:<id>`).
    #[serde(skip)]
    pub holder: Holder,
    /// For a pack that only a live upload session holds (an interrupted upload's, which its
    /// resume relies on): the session's id; `object` is then the name it uploads to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
}

/// Who holds a referenced blob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Holder {
    /// The latest version of an object (`objects`).
    #[default]
    Object,
    /// An earlier version (`object_versions`).
    Version,
    /// A pack the packed files read.
    Pack,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        match text {
            "version" => Holder::Version,
            "pack" => Holder::Pack,
            _ => Holder::Object,
        }
    }
}

/// A packed file: the latest version of an object, or an earlier one, whose bytes are segments
/// of packs (`content`), without its content (read one at a time, [`Catalogue::packed_content`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedFile {
    pub service: String,
    /// The key of the version's content (no blob of its own holds it).
    pub blob_key: String,
    pub size: u64,
    pub checksum: String,
    pub owner: String,
    /// The object's name; an earlier version's is `NAME@VERSION`.
    pub object: String,
    pub holder: Holder,
}

/// A pack a live upload session pins: one it stored, announced or was offered, which its
/// completion (or an interrupted upload's resume) may name without sending it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPack {
    pub upload_id: String,
    /// The name the session uploads to, and its owner's user name.
    pub name: String,
    pub owner: String,
    pub service: String,
    pub blob_key: String,
    pub size: u64,
    pub hash: String,
    /// The pack's state as recorded, as text (`pending`: its PUT URL is out and the store may
    /// not hold it yet; `stored`, `verified`: the store was seen to hold it whole; any other,
    /// such as a pack that failed verification, is not relied on).
    pub state: String,
}

impl SessionPack {
    /// Whether the store was seen to hold it whole, so that the session's completion (or its
    /// resume) names it without sending it again.
    pub fn held(&self) -> bool {
        matches!(self.state.as_str(), "stored" | "verified")
    }
}

/// Objects and earlier versions stored as one blob, and the stored packs they read (named after
/// the first object that reads each; their "checksum" is `pack:<pack id>`: a pack is checked
/// against its own index, see `ops::fsck`). An earlier version is named `NAME@VERSION`.
const REFERENCED_BLOBS: &str = "SELECT service, blob_key, size, checksum, owner, object, holder FROM ( \
     SELECT objects.service AS service, objects.blob_key AS blob_key, objects.size AS size, \
       objects.checksum AS checksum, users.name AS owner, objects.name AS object, 'object' AS holder \
       FROM objects JOIN users ON users.id = objects.owner_id WHERE objects.content IS NULL \
     UNION ALL \
     SELECT v.service AS service, v.blob_key AS blob_key, v.size AS size, v.checksum AS checksum, \
       users.name AS owner, v.name || '@' || CAST(v.version AS TEXT) AS object, 'version' AS holder \
       FROM object_versions v JOIN users ON users.id = v.owner_id WHERE v.content IS NULL \
     UNION ALL \
     SELECT packs.service AS service, packs.blob_key AS blob_key, packs.size AS size, \
       'pack:' || packs.hash AS checksum, \
       users.name AS owner, MIN(readers.name) AS object, 'pack' AS holder \
       FROM packs JOIN users ON users.id = packs.owner_id \
       JOIN object_packs ON object_packs.pack_key = packs.blob_key \
       JOIN (SELECT id, name FROM objects UNION ALL \
             SELECT id, name || '@' || CAST(version AS TEXT) AS name FROM object_versions) readers \
         ON readers.id = object_packs.object_id \
       GROUP BY packs.service, packs.blob_key, packs.size, packs.hash, users.name \
   ) refs ORDER BY service, blob_key";

/// What a catalogue from before versions (schema 6) references.
const REFERENCED_BLOBS_BEFORE_VERSIONS: &str = "SELECT service, blob_key, size, checksum, owner, object, holder FROM ( \
     SELECT objects.service AS service, objects.blob_key AS blob_key, objects.size AS size, \
       objects.checksum AS checksum, users.name AS owner, objects.name AS object, 'object' AS holder \
       FROM objects JOIN users ON users.id = objects.owner_id WHERE objects.content IS NULL \
     UNION ALL \
     SELECT packs.service AS service, packs.blob_key AS blob_key, packs.size AS size, \
       'pack:' || packs.hash AS checksum, \
       users.name AS owner, MIN(objects.name) AS object, 'pack' AS holder \
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
        holder: Holder::parse(&row.text("holder")?),
        upload: None,
    })
}

/// The schema version recorded in a SQLite catalogue file opened with rusqlite.
pub fn schema_version_of(conn: &rusqlite::Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |row| row.get(0))?)
}

/// What a catalogue from before the content store (schema 5 and older) references.
const REFERENCED_BLOBS_BEFORE_PACKS: &str = "SELECT objects.service AS service, objects.blob_key AS blob_key, \
     objects.size AS size, objects.checksum AS checksum, users.name AS owner, objects.name AS object, \
     'object' AS holder FROM objects JOIN users ON users.id = objects.owner_id \
     ORDER BY objects.service, objects.blob_key";

/// The packed files: the latest versions, then the earlier ones (`NAME@VERSION`).
const PACKED_FILES: &str = "SELECT service, blob_key, size, checksum, owner, object, holder FROM ( \
     SELECT objects.service AS service, objects.blob_key AS blob_key, objects.size AS size, \
       objects.checksum AS checksum, users.name AS owner, objects.name AS object, 'object' AS holder \
       FROM objects JOIN users ON users.id = objects.owner_id WHERE objects.content IS NOT NULL \
     UNION ALL \
     SELECT v.service AS service, v.blob_key AS blob_key, v.size AS size, v.checksum AS checksum, \
       users.name AS owner, v.name || '@' || CAST(v.version AS TEXT) AS object, 'version' AS holder \
       FROM object_versions v JOIN users ON users.id = v.owner_id WHERE v.content IS NOT NULL \
   ) files ORDER BY service, blob_key";

/// One packed file's content, wherever its version is now (a version's key is its own).
const PACKED_CONTENT: &str = "SELECT content FROM objects WHERE service = $1 AND blob_key = $2 \
     AND content IS NOT NULL UNION ALL \
     SELECT content FROM object_versions WHERE service = $1 AND blob_key = $2 AND content IS NOT NULL";

/// The packs that live upload sessions pin, with the session's name and owner.
const SESSION_PACKS: &str = "SELECT n.upload_id AS upload_id, u.name AS name, users.name AS owner, \
     p.service AS service, p.blob_key AS blob_key, p.size AS size, p.hash AS hash, p.state AS state \
     FROM pack_pins n JOIN packs p ON p.blob_key = n.pack_key JOIN uploads u ON u.id = n.upload_id \
     JOIN users ON users.id = p.owner_id \
     WHERE u.state IN ('open', 'completing', 'finished') ORDER BY p.service, p.blob_key, n.upload_id";

/// How many objects and earlier versions there are.
const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM objects) AS objects, \
     (SELECT COUNT(*) FROM object_versions) AS versions";

fn packed_from_row(row: &dyn Columns) -> Result<PackedFile> {
    Ok(PackedFile {
        service: row.text("service")?,
        blob_key: row.text("blob_key")?,
        size: u64::try_from(row.int("size")?).unwrap_or(0),
        checksum: row.text("checksum")?,
        owner: row.text("owner")?,
        object: row.text("object")?,
        holder: Holder::parse(&row.text("holder")?),
    })
}

fn session_pack_from_row(row: &dyn Columns) -> Result<SessionPack> {
    Ok(SessionPack {
        upload_id: row.text("upload_id")?,
        name: row.text("name")?,
        owner: row.text("owner")?,
        service: row.text("service")?,
        blob_key: row.text("blob_key")?,
        size: u64::try_from(row.int("size")?).unwrap_or(0),
        hash: row.text("hash")?,
        state: row.text("state")?,
    })
}

/// What a backup lists beside the objects' blobs: each pack that only live sessions hold and
/// that the store was seen to hold (an interrupted upload's resume takes it as stored), once,
/// under the first session that pins it.
pub fn session_pack_references(references: &[BlobReference], pins: &[SessionPack]) -> Vec<BlobReference> {
    let referenced: std::collections::HashSet<(&str, &str)> =
        references.iter().map(|r| (r.service.as_str(), r.blob_key.as_str())).collect();
    let mut seen = std::collections::HashSet::new();
    pins.iter()
        .filter(|p| p.held() && !referenced.contains(&(p.service.as_str(), p.blob_key.as_str())))
        .filter(|p| seen.insert((p.service.as_str(), p.blob_key.as_str())))
        .map(|p| BlobReference {
            service: p.service.clone(),
            blob_key: p.blob_key.clone(),
            size: p.size,
            checksum: format!("pack:{}", p.hash),
            owner: p.owner.clone(),
            object: p.name.clone(),
            holder: Holder::Pack,
            upload: Some(p.upload_id.clone()),
        })
        .collect()
}

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

/// The packs the live upload sessions of a SQLite catalogue file pin (none before packs).
pub fn session_packs_of(conn: &rusqlite::Connection) -> Result<Vec<SessionPack>> {
    if schema_version_of(conn)? < PACKS_SCHEMA {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare(SESSION_PACKS)?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(session_pack_from_row(row)?);
    }
    Ok(out)
}

/// How many objects and earlier versions a SQLite catalogue file holds.
pub fn object_counts_of(conn: &rusqlite::Connection) -> Result<(u64, u64)> {
    if schema_version_of(conn)? < VERSIONS_SCHEMA {
        let objects: i64 = conn.query_row("SELECT COUNT(*) FROM objects", [], |row| row.get(0))?;
        return Ok((objects.max(0) as u64, 0));
    }
    let (objects, versions): (i64, i64) =
        conn.query_row(COUNTS, [], |row| Ok((row.get("objects")?, row.get("versions")?)))?;
    Ok((objects.max(0) as u64, versions.max(0) as u64))
}

impl Catalogue {
    /// Every blob an object references, ordered by service and key.
    pub async fn referenced_blobs(&self) -> Result<Vec<BlobReference>> {
        let rows = sqlx::query(REFERENCED_BLOBS).fetch_all(&self.pool).await?;
        rows.iter().map(|row| reference_from_row(row)).collect()
    }

    /// Every packed file (latest and earlier versions), ordered by service and key.
    pub async fn packed_files(&self) -> Result<Vec<PackedFile>> {
        let rows = sqlx::query(PACKED_FILES).fetch_all(&self.pool).await?;
        rows.iter().map(|row| packed_from_row(row)).collect()
    }

    /// The content of the packed file stored under `blob_key`; `None` once no version has it.
    pub async fn packed_content(&self, service: &str, blob_key: &str) -> Result<Option<StoredContent>> {
        let row = sqlx::query(PACKED_CONTENT).bind(service).bind(blob_key).fetch_optional(&self.pool).await?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("content")?;
        serde_json::from_str(&text).map(Some).map_err(|e| CatalogueError::Corrupt(format!("content: {e}")))
    }

    /// The packs the live upload sessions pin, ordered by service and key.
    pub async fn session_packs(&self) -> Result<Vec<SessionPack>> {
        let rows = sqlx::query(SESSION_PACKS).fetch_all(&self.pool).await?;
        rows.iter().map(|row| session_pack_from_row(row)).collect()
    }

    /// Whether upload session `upload_id` still pins the pack `blob_key`.
    pub async fn pins(&self, upload_id: &str, blob_key: &str) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM pack_pins WHERE upload_id = $1 AND pack_key = $2")
            .bind(upload_id)
            .bind(blob_key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The recorded size of the pack stored under `blob_key`; `None` once it is let go.
    pub async fn pack_size(&self, blob_key: &str) -> Result<Option<u64>> {
        let row =
            sqlx::query("SELECT size FROM packs WHERE blob_key = $1").bind(blob_key).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get::<i64, _>("size").map(|n| n.max(0) as u64)).transpose()?)
    }

    /// How many objects and earlier versions the catalogue holds.
    pub async fn object_counts(&self) -> Result<(u64, u64)> {
        let row = sqlx::query(COUNTS).fetch_one(&self.pool).await?;
        let count = |name: &str| row.try_get::<i64, _>(name).map(|n| n.max(0) as u64);
        Ok((count("objects")?, count("versions")?))
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
