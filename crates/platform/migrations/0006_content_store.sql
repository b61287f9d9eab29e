-- The content store. A packed file keeps its layout in objects.content (JSON: the keys of the
-- packs it reads and its segments, in file order), and objects.blob_key names no blob then.
-- Objects stored before (one blob each) have no content and read as before.
ALTER TABLE objects ADD COLUMN content TEXT;
ALTER TABLE uploads ADD COLUMN layout TEXT NOT NULL DEFAULT 'blob';
-- A pack: an immutable blob of one owner's chunks, under a fresh key (never reused, so a pack
-- the collector removes can never be confused with one stored again later). Pending while its
-- PUT URL is out, stored once the store was seen to hold it. group_id is the session that first
-- stored it: a later upload that finds one pack of a group is offered the whole group.
-- url_expires_at is when the last PUT URL issued for it stops working.
CREATE TABLE packs (
    blob_key TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    service TEXT NOT NULL,
    hash TEXT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT NOT NULL,
    group_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    url_expires_at BIGINT NOT NULL,
    UNIQUE (owner_id, service, hash)
);
CREATE INDEX packs_group ON packs (owner_id, service, group_id);
-- What keeps a pack from the collector: the live sessions that may use it, and the objects that do.
CREATE TABLE pack_pins (
    upload_id TEXT NOT NULL,
    pack_key TEXT NOT NULL,
    PRIMARY KEY (upload_id, pack_key)
);
CREATE INDEX pack_pins_pack ON pack_pins (pack_key);
CREATE TABLE object_packs (
    object_id TEXT NOT NULL,
    pack_key TEXT NOT NULL,
    PRIMARY KEY (object_id, pack_key)
);
CREATE INDEX object_packs_pack ON object_packs (pack_key);
-- About one chunk id in 128 of each stored pack, by which later uploads of the owner find it.
CREATE TABLE pack_samples (
    owner_id TEXT NOT NULL,
    service TEXT NOT NULL,
    chunk TEXT NOT NULL,
    pack_key TEXT NOT NULL,
    PRIMARY KEY (owner_id, service, chunk, pack_key)
);
CREATE INDEX pack_samples_pack ON pack_samples (pack_key);
-- The collector's check that no object still names a blob, and a packed file's assembled read.
CREATE INDEX objects_blob ON objects (service, blob_key)
