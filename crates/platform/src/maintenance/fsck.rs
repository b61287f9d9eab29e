//! `fedml admin fsck`: does every blob the catalogue references exist, with the recorded size
//! (and, deep, the recorded checksum)? What does each store hold that nothing references?
//! Read-only: it changes nothing in the catalogue or the stores.
//!
//! What is checked: each object's and earlier version's blob (its size; deep, its BLAKE3), each
//! pack a packed file reads (its size; deep, every chunk against its index), each packed file
//! (deep: assembled from its packs' segments and hashed, see `assemble`), and each live upload
//! session's bytes: a blob session's staging file or finished blob, a packed session's packs
//! that the store was seen to hold (an interrupted upload's resume takes them as stored).
//!
//! The stores are listed first and the catalogue read after (the sessions before what objects
//! reference, so that a session committing meanwhile is seen in one or the other), so a blob
//! written while fsck runs is already known to the catalogue when it is classified; a
//! reference not found in the listing is looked up once more before it is reported missing.

mod assemble;

use std::collections::{BTreeMap, HashMap, HashSet};

use fedml_proto::content::Layout;
use serde::Serialize;

use crate::blobs::{BlobStore, StoredPlace};
use crate::catalogue::{BlobReference, Catalogue, Garbage, Holder, SessionPack, UploadState};

/// Something wrong that the operator must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// An object's blob is not in its store.
    Missing { service: String, owner: String, object: String, blob_key: String, size: u64 },
    /// An object's blob has another size than the catalogue records.
    WrongSize { service: String, owner: String, object: String, blob_key: String, size: u64, found_size: u64 },
    /// An object's blob hashes to another checksum than the catalogue records (`--deep`).
    WrongChecksum {
        service: String,
        owner: String,
        object: String,
        blob_key: String,
        checksum: String,
        found_checksum: String,
    },
    /// Objects are stored in a service this configuration does not name: they were not checked.
    ServiceNotConfigured { service: String, objects: u64 },
    /// A store could not be listed or read.
    StoreUnreadable { service: String, error: String },
    /// A live upload session's bytes are gone (its staging file, or its finished blob).
    SessionBytesMissing { service: String, upload_id: String, name: String, state: String },
    /// A pack a live packed session holds, which the store was seen to hold whole (so that the
    /// session's completion, or an interrupted upload's resume, names it without sending it),
    /// is not in the store with its recorded size (`found_size`: none, or another size).
    SessionPackMissing {
        service: String,
        upload_id: String,
        name: String,
        blob_key: String,
        size: u64,
        found_size: Option<u64>,
    },
    /// A file in a store that no object, live session or garbage row accounts for: nothing will
    /// ever reclaim it.
    Unknown { service: String, place: StoredPlace, key: String, size: u64 },
    /// A pack the server read and found not to be what its id names (on receipt, at a
    /// completion, at a read): never used again; the objects and versions that read it
    /// (`readers`) fail their download's checksum until their data is uploaded again.
    PackCorrupt { service: String, owner: String, blob_key: String, pack: String, why: String, readers: u64 },
    /// The bytes of packs counted against a user's quota differ from what their packs hold.
    UsageDrift { owner: String, counted: i64, held: i64 },
}

/// Why an unreferenced file is in a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreferenced {
    /// Recorded in the `garbage` table: the collector removes it once its grace has passed.
    Garbage,
    /// The bytes of an upload session still under way.
    InFlight,
    /// Nothing accounts for it (also listed among the problems).
    Unknown,
}

/// A file in a store that no object references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreferencedFile {
    pub service: String,
    pub place: StoredPlace,
    pub key: String,
    pub size: u64,
    pub status: Unreferenced,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    pub deep: bool,
    /// Objects (the latest version of each name) whose bytes were checked: their blob, or the
    /// packs they read (deep: and their assembled BLAKE3).
    pub objects_checked: u64,
    /// Earlier versions whose bytes were checked, likewise.
    pub versions_checked: u64,
    /// Blobs of objects and versions stored whole, checked (size; deep: BLAKE3).
    pub blobs_checked: u64,
    /// Packs that objects and versions read, checked (size; deep: every chunk against the
    /// pack's index).
    pub packs_checked: u64,
    /// Files found in the stores.
    pub files_listed: u64,
    /// Live upload sessions whose bytes were checked.
    pub sessions_checked: u64,
    pub problems: Vec<Problem>,
    pub unreferenced: Vec<UnreferencedFile>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FsckError {
    #[error(transparent)]
    Catalogue(#[from] crate::catalogue::CatalogueError),
}

/// Checks the catalogue against the stores (see the module's description).
pub async fn fsck(
    catalogue: &Catalogue,
    stores: &BTreeMap<String, BlobStore>,
    deep: bool,
) -> Result<FsckReport, FsckError> {
    let mut problems = Vec::new();
    let mut report = FsckReport { deep, ..FsckReport::default() };
    // 1. What the stores hold (before the catalogue is read).
    let mut listed: HashMap<(String, StoredPlace, String), u64> = HashMap::new();
    let mut readable: HashSet<String> = HashSet::new();
    for (service, store) in stores {
        match store.list_stored().await {
            Ok(files) => {
                readable.insert(service.clone());
                for file in files {
                    listed.insert((service.clone(), file.place, file.key), file.size);
                }
            }
            Err(e) => problems.push(Problem::StoreUnreadable { service: service.clone(), error: e.to_string() }),
        }
    }
    report.files_listed = listed.len() as u64;

    // 2. What the catalogue references: the live sessions' packs first (a pack in the listing
    // was pinned before it was stored), then the sessions, then what objects reference (a
    // session that commits meanwhile is then seen in one or the other), the garbage last (what
    // they let go meanwhile).
    let session_packs = catalogue.session_packs().await?;
    let sessions = catalogue.live_uploads().await?;
    let references = catalogue.referenced_blobs().await?;
    let packed = catalogue.packed_files().await?;
    let garbage: HashSet<(String, Garbage)> =
        catalogue.all_garbage().await?.into_iter().map(|g| (g.service, g.item)).collect();

    let mut accounted: HashSet<(String, StoredPlace, String)> = HashSet::new();
    let mut unconfigured: BTreeMap<String, u64> = BTreeMap::new();
    // The packs checked, and those of them found whole (for the packed files' deep check).
    let mut packs = assemble::CheckedPacks::default();
    for reference in &references {
        let Some(store) = stores.get(&reference.service) else {
            if reference.holder != Holder::Pack {
                *unconfigured.entry(reference.service.clone()).or_default() += 1;
            }
            continue;
        };
        if !readable.contains(&reference.service) {
            continue;
        }
        let id = (reference.service.clone(), StoredPlace::Blob, reference.blob_key.clone());
        let found = match listed.get(&id) {
            Some(size) => Some(*size),
            // Committed after the listing, or really gone: ask the store once more.
            None => match store.blob_size(&reference.blob_key).await {
                Ok(size) => size,
                Err(e) => {
                    problems
                        .push(Problem::StoreUnreadable { service: reference.service.clone(), error: e.to_string() });
                    continue;
                }
            },
        };
        accounted.insert(id);
        match reference.holder {
            Holder::Object => report.objects_checked += 1,
            Holder::Version => report.versions_checked += 1,
            Holder::Pack => {
                report.packs_checked += 1;
                packs.checked(&reference.service, &reference.blob_key, found == Some(reference.size));
            }
        }
        if reference.holder != Holder::Pack {
            report.blobs_checked += 1;
        }
        check_reference(catalogue, store, reference, found, deep, &mut problems).await?;
    }
    // Packed files: checked through their packs above; deep, assembled and hashed.
    for file in &packed {
        let Some(store) = stores.get(&file.service) else {
            *unconfigured.entry(file.service.clone()).or_default() += 1;
            continue;
        };
        if !readable.contains(&file.service) {
            continue;
        }
        match file.holder {
            Holder::Version => report.versions_checked += 1,
            Holder::Object | Holder::Pack => report.objects_checked += 1,
        }
        if deep {
            assemble::check(catalogue, store, file, &packs, &mut problems).await?;
        }
    }
    for (service, objects) in unconfigured {
        problems.push(Problem::ServiceNotConfigured { service, objects });
    }

    // 3. Live sessions: their bytes must be there, and they account for them.
    let mut pins: HashMap<&str, Vec<&SessionPack>> = HashMap::new();
    for pin in &session_packs {
        pins.entry(pin.upload_id.as_str()).or_default().push(pin);
    }
    let mut in_flight = Vec::new();
    for session in &sessions {
        let Some(store) = stores.get(&session.service) else { continue };
        if !readable.contains(&session.service) {
            continue;
        }
        if session.layout == Layout::Packs {
            // No staging file nor blob of its own: its bytes are the packs it pins.
            report.sessions_checked += 1;
            for pin in pins.remove(session.id.as_str()).unwrap_or_default() {
                check_session_pack(catalogue, store, session.state, pin, &listed, &mut accounted, &mut in_flight)
                    .await
                    .map(|problem| problems.extend(problem))?;
            }
            continue;
        }
        let blob = (session.service.clone(), StoredPlace::Blob, session.blob_key.clone());
        let staging = (session.service.clone(), StoredPlace::Staging, session.id.clone());
        let has_blob = listed.contains_key(&blob);
        let has_staging = listed.contains_key(&staging);
        in_flight_files([blob, staging], &listed, &mut accounted, &mut in_flight);
        // Where the bytes must be: a finished session's blob; an open local session's staging
        // file. A completing one is between the two; an S3 multipart upload is not listed.
        // Not in the listing: written since, or really gone? Ask the store once more.
        let recheck = match (session.state, store) {
            (UploadState::Finished, _) if has_blob => Ok(Some(0)),
            (UploadState::Finished, _) => store.blob_size(&session.blob_key).await,
            (UploadState::Open, BlobStore::Local(_)) if has_staging => Ok(Some(0)),
            (UploadState::Open, BlobStore::Local(_)) => store.staging_size(&session.id),
            _ => continue,
        };
        let missing = match recheck {
            Ok(found) => found.is_none(),
            Err(e) => {
                problems.push(Problem::StoreUnreadable { service: session.service.clone(), error: e.to_string() });
                continue;
            }
        };
        report.sessions_checked += 1;
        if missing && catalogue.upload(&session.id).await.is_ok_and(|now| now.state == session.state) {
            problems.push(Problem::SessionBytesMissing {
                service: session.service.clone(),
                upload_id: session.id.clone(),
                name: session.name.clone(),
                state: session.state.to_string(),
            });
        }
    }

    // 4. Whatever is left is unreferenced: garbage awaiting the collector, or unknown.
    let garbage_blobs: HashSet<(&str, &str)> =
        garbage.iter().filter_map(|(service, item)| Some((service.as_str(), item.blob_key()?))).collect();
    // A pack being received into the local folder is written under its key's last part first.
    let garbage_staging: HashSet<(&str, &str)> =
        garbage_blobs.iter().map(|(service, key)| (*service, key.rsplit('/').next().unwrap_or(key))).collect();
    let mut unreferenced: Vec<UnreferencedFile> = listed
        .into_iter()
        .filter(|(id, _)| !accounted.contains(id))
        .map(|((service, place, key), size)| {
            let session_id = match place {
                StoredPlace::Blob => key.rsplit('/').next().unwrap_or(&key).to_string(),
                StoredPlace::Staging => key.clone(),
            };
            let is_garbage = (place == StoredPlace::Blob && garbage_blobs.contains(&(service.as_str(), key.as_str())))
                || (place == StoredPlace::Staging && garbage_staging.contains(&(service.as_str(), key.as_str())))
                || garbage.contains(&(service.clone(), Garbage::Session(session_id)));
            let status = if is_garbage { Unreferenced::Garbage } else { Unreferenced::Unknown };
            UnreferencedFile { service, place, key, size, status }
        })
        .collect();
    unreferenced.extend(in_flight);
    unreferenced.sort_by(|a, b| (&a.service, a.place, &a.key).cmp(&(&b.service, b.place, &b.key)));
    for file in &unreferenced {
        if file.status == Unreferenced::Unknown {
            problems.push(Problem::Unknown {
                service: file.service.clone(),
                place: file.place,
                key: file.key.clone(),
                size: file.size,
            });
        }
    }
    // 4. Packs found corrupt, and counts that disagree with what they count.
    for pack in catalogue.corrupt_packs().await? {
        problems.push(Problem::PackCorrupt {
            service: pack.service,
            owner: pack.owner,
            blob_key: pack.blob_key,
            pack: pack.hash,
            why: pack.problem,
            readers: pack.readers,
        });
    }
    for (owner, counted, held) in catalogue.pack_bytes_drift().await? {
        problems.push(Problem::UsageDrift { owner, counted, held });
    }
    report.problems = problems;
    report.unreferenced = unreferenced;
    Ok(report)
}

/// The files among `ids` that the stores hold belong to an upload under way; all of them are
/// accounted for.
fn in_flight_files(
    ids: [(String, StoredPlace, String); 2],
    listed: &HashMap<(String, StoredPlace, String), u64>,
    accounted: &mut HashSet<(String, StoredPlace, String)>,
    in_flight: &mut Vec<UnreferencedFile>,
) {
    for id in ids {
        if let Some(size) = listed.get(&id) {
            let (service, place, key) = id.clone();
            in_flight.push(UnreferencedFile { service, place, key, size: *size, status: Unreferenced::InFlight });
        }
        accounted.insert(id);
    }
}

/// One pack a live packed session pins: its files in the store belong to the upload under way
/// (unless an object reads the pack: then it was checked as the object's), and one the store
/// was seen to hold must be there whole. Answers the problem, if any.
async fn check_session_pack(
    catalogue: &Catalogue,
    store: &BlobStore,
    state: UploadState,
    pin: &SessionPack,
    listed: &HashMap<(String, StoredPlace, String), u64>,
    accounted: &mut HashSet<(String, StoredPlace, String)>,
    in_flight: &mut Vec<UnreferencedFile>,
) -> Result<Option<Problem>, FsckError> {
    let blob = (pin.service.clone(), StoredPlace::Blob, pin.blob_key.clone());
    if accounted.contains(&blob) {
        return Ok(None);
    }
    // A pack being received into the local folder is first written under its key's last part.
    let received = pin.blob_key.rsplit('/').next().unwrap_or(&pin.blob_key).to_string();
    let staging = (pin.service.clone(), StoredPlace::Staging, received);
    in_flight_files([blob.clone(), staging], listed, accounted, in_flight);
    if !pin.held() {
        // Its PUT URL is out: the store may or may not hold it yet.
        return Ok(None);
    }
    let found = match listed.get(&blob) {
        Some(size) => Some(*size),
        None => match store.blob_size(&pin.blob_key).await {
            Ok(size) => size,
            Err(e) => return Ok(Some(Problem::StoreUnreadable { service: pin.service.clone(), error: e.to_string() })),
        },
    };
    if found == Some(pin.size) {
        return Ok(None);
    }
    // Not if the session ended meanwhile (and let the pack go).
    let still = catalogue.upload(&pin.upload_id).await.is_ok_and(|now| now.state == state)
        && catalogue.pins(&pin.upload_id, &pin.blob_key).await?;
    Ok(still.then(|| Problem::SessionPackMissing {
        service: pin.service.clone(),
        upload_id: pin.upload_id.clone(),
        name: pin.name.clone(),
        blob_key: pin.blob_key.clone(),
        size: pin.size,
        found_size: found,
    }))
}

/// How the catalogue's inventory writes a pack's "checksum": its id.
const PACK_CHECKSUM: &str = "pack:";

/// What `checksum` is checked against: the blob's BLAKE3, or for a pack the id its index gives
/// it once every chunk matches its own id (else what is damaged).
async fn found_checksum(store: &BlobStore, blob_key: &str, checksum: &str) -> Result<String, crate::blobs::BlobError> {
    if !checksum.starts_with(PACK_CHECKSUM) {
        return store.checksum(blob_key).await;
    }
    let body = store.read_small(blob_key).await?;
    Ok(match fedml_proto::content::verify_pack(&body) {
        Ok(index) => format!("{PACK_CHECKSUM}{}", index.pack_id()),
        Err(why) => format!("damaged: {why}"),
    })
}

async fn check_reference(
    catalogue: &Catalogue,
    store: &BlobStore,
    reference: &BlobReference,
    found: Option<u64>,
    deep: bool,
    problems: &mut Vec<Problem>,
) -> Result<(), FsckError> {
    let BlobReference { service, blob_key, size, checksum, owner, object, .. } = reference.clone();
    match found {
        None => {
            // Deleted (and collected) since the catalogue was read is not a problem.
            if catalogue.blob_in_use(&service, &blob_key).await? {
                problems.push(Problem::Missing { service, owner, object, blob_key, size });
            }
        }
        Some(found_size) if found_size != size => {
            problems.push(Problem::WrongSize { service, owner, object, blob_key, size, found_size });
        }
        Some(_) if deep && !checksum.is_empty() => match found_checksum(store, &blob_key, &checksum).await {
            Ok(found_checksum) if found_checksum != checksum => {
                problems.push(Problem::WrongChecksum { service, owner, object, blob_key, checksum, found_checksum });
            }
            Ok(_) => {}
            Err(crate::blobs::BlobError::NotFound) => {
                if catalogue.blob_in_use(&service, &blob_key).await? {
                    problems.push(Problem::Missing { service, owner, object, blob_key, size });
                }
            }
            Err(e) => problems.push(Problem::StoreUnreadable { service, error: e.to_string() }),
        },
        Some(_) => {}
    }
    Ok(())
}
