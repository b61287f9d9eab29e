-- Versions. objects keeps each name's latest version, as before, so every reader of the latest
-- (the seed's calls, the FedML SDK, the dashboard) reads what it always read. An overwrite moves
-- the version it replaces into object_versions, the references to its packs with it (under the
-- version row's own id), where it stays until the server's retention removes it.
-- version: the number of this version of the name. last_version: the highest number the name
-- ever had, so that a number once given never names other data. added_bytes: what this version
-- added to the store (its new packs, or its blob), unknown for objects stored before.
ALTER TABLE objects ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE objects ADD COLUMN last_version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE objects ADD COLUMN added_bytes BIGINT;
CREATE TABLE object_versions (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL,
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    size BIGINT NOT NULL,
    checksum TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    content TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    added_bytes BIGINT,
    UNIQUE (object_id, version)
);
CREATE INDEX object_versions_blob ON object_versions (service, blob_key);
CREATE INDEX object_versions_age ON object_versions (updated_at)
