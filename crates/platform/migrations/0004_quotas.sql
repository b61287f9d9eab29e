-- Quotas per user. A column left NULL follows the server's default (--quota-bytes, --quota-objects),
-- -1 means no limit for this user, any other value is the user's own limit.
ALTER TABLE users ADD COLUMN quota_bytes BIGINT;
ALTER TABLE users ADD COLUMN quota_objects BIGINT;
-- What an upload session holds of its owner's quota while it is live: its announced size (a file's
-- exact size, a directory's upper bound, parts times 20 MiB for the FedML SDK), else the most its
-- parts can hold. A completion that holds more is refused. Sessions from before quotas reserve their
-- announced size, else the most their parts can hold.
ALTER TABLE uploads ADD COLUMN reserved_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE uploads SET reserved_bytes = COALESCE(declared_size, part_size * 10000);
-- The quota check sums a user's live sessions.
CREATE INDEX uploads_owner ON uploads (owner_id, state)
