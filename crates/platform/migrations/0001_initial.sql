-- The catalogue: one schema for SQLite and PostgreSQL (only TEXT and BIGINT columns, ids made by the server).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- An API key is `fml_<id>_<secret>`: only the id and the SHA-256 of the secret are kept.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    secret_sha256 TEXT NOT NULL,
    read_only BIGINT NOT NULL,
    label TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE objects (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    size BIGINT NOT NULL,
    checksum TEXT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    declared_size BIGINT,
    part_size BIGINT NOT NULL,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    overwrite BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    store_upload_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX uploads_state_expiry ON uploads (state, expires_at);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    part_number BIGINT NOT NULL,
    size BIGINT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);

-- Blobs no object points at any more, reclaimed by the collector once `reclaim_after` has passed.
CREATE TABLE garbage (
    service TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    reclaim_after BIGINT NOT NULL,
    PRIMARY KEY (service, blob_key)
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
