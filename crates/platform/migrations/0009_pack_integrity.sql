-- Packs the server has checked, and what a user's data keeps alive.
-- A pack is pending while its PUT URL is out, verified once the server has read it and found
-- its index to be the one its id names and every chunk's bytes to match the chunk's id,
-- corrupt when it did not (never offered to an upload again, kept while objects read it,
-- reported by fsck and /metrics, problem says what was wrong). stored: the store was seen to
-- hold it whole but the server never read it (packs of the release before this one).
-- A corrupt pack gives its id back, so that the same id can be stored again under a fresh
-- key: (owner, service, hash) is unique among the packs that are not corrupt. The table is
-- made anew for that (a table's UNIQUE constraint cannot be narrowed in place on SQLite).
-- data_bytes: the bytes of chunk data the pack holds (its index's sum once verified, its whole
-- size until then), what a user's quota counts of it from the time it leaves pending.
CREATE TABLE packs_checked (
    blob_key TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id),
    service TEXT NOT NULL,
    hash TEXT NOT NULL,
    size BIGINT NOT NULL,
    state TEXT NOT NULL,
    group_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    url_expires_at BIGINT NOT NULL,
    data_bytes BIGINT,
    checked_at BIGINT,
    problem TEXT
);
INSERT INTO packs_checked (blob_key, owner_id, service, hash, size, state, group_id, created_at, url_expires_at,
    data_bytes)
    SELECT blob_key, owner_id, service, hash, size, state, group_id, created_at, url_expires_at,
        CASE WHEN state = 'pending' THEN NULL ELSE size END
    FROM packs;
DROP TABLE packs;
ALTER TABLE packs_checked RENAME TO packs;
CREATE INDEX packs_group ON packs (owner_id, service, group_id);
CREATE UNIQUE INDEX packs_hash ON packs (owner_id, service, hash) WHERE state <> 'corrupt';
CREATE INDEX packs_corrupt ON packs (owner_id, service) WHERE state = 'corrupt';
-- The data bytes of the packs each user keeps (every pack that has left pending, until the
-- collector is given it): kept in step by the transactions that move a pack out of pending
-- and that let one go, under the owner's row lock, so a quota check reads one row.
ALTER TABLE users ADD COLUMN pack_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE users SET pack_bytes = (SELECT COALESCE(SUM(data_bytes), 0) FROM packs
    WHERE packs.owner_id = users.id AND packs.state <> 'pending')
