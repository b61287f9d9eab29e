-- Teams. An organisation is an account like a user (one name space for both, its own quota,
-- usage and packs: dedup stays within a namespace) that nobody signs in as: `kind` tells them
-- apart. Every object row's owner_id is its namespace: rows made before stay in their user's own.
-- A deleted organisation keeps its row (its packs and sessions still name it until collected)
-- under a name no user or organisation can take.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';
CREATE TABLE memberships (
    org_id TEXT NOT NULL REFERENCES users (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    role TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    added_by TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);
-- Counts every change of membership or of an organisation: read with each API key, it tells an
-- instance whether what it remembers of namespaces is still true (a change made on any instance
-- is seen by the next request everywhere).
CREATE TABLE team_state (
    id BIGINT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO team_state (id, generation) VALUES (1, 0);
-- A key limited to some namespaces: their account ids, comma-separated (NULL for every one).
ALTER TABLE api_keys ADD COLUMN namespaces TEXT;
-- Share links: the secret is kept as its SHA-256 only, and `version` NULL follows the latest.
CREATE TABLE share_links (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    namespace_id TEXT NOT NULL REFERENCES users (id),
    object_id TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT,
    created_by TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    uses BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX share_links_namespace ON share_links (namespace_id, expires_at);
CREATE INDEX share_links_object ON share_links (object_id);
-- The audit log: within a namespace, ids sort as the lines were written (the millisecond, then
-- a count within it).
CREATE TABLE audit_log (
    id TEXT NOT NULL,
    namespace_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    key_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (namespace_id, id)
);
CREATE INDEX audit_log_age ON audit_log (at)
