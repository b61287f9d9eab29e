-- A session remembers the API key that opened it: only that key continues it, and revoking the
-- key ends it. Sessions recorded before this column existed carry none and stay usable by any
-- key of their owner.
ALTER TABLE uploads ADD COLUMN key_id TEXT;
-- FedML SDK uploads whose blob is finished wait for their dataset record in a state of their own
-- (finished), where before they stayed open with their blob's size recorded.
UPDATE uploads SET state = 'finished' WHERE state = 'open' AND blob_size IS NOT NULL;
-- Revocation and the collector look sessions up by their key.
CREATE INDEX uploads_key ON uploads (key_id, state);
