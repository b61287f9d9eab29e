-- Administrators: users who see every user, their keys and usage in the dashboard. The account the
-- first start made (its key is labelled bootstrap) is one, and `fedml admin user admin NAME` marks others.
ALTER TABLE users ADD COLUMN is_admin BIGINT NOT NULL DEFAULT 0;
UPDATE users SET is_admin = 1 WHERE id IN (SELECT user_id FROM api_keys WHERE label = 'bootstrap');
-- Dashboard sessions. A signed-in browser holds a random token in an HttpOnly cookie and only the
-- token's SHA-256 is kept here, with the API key it was exchanged for (revoking the key ends the
-- session) and the CSRF token every state-changing request of the session must carry.
CREATE TABLE web_sessions (
    id_sha256 TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES api_keys (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX web_sessions_key ON web_sessions (key_id);
-- The dashboard sorts a user's objects by time and by size, a page at a time.
CREATE INDEX objects_owner_updated ON objects (owner_id, updated_at, name);
CREATE INDEX objects_owner_size ON objects (owner_id, size, name)
