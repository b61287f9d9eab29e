-- An upload session remembers which of description, tags and user metadata its client left out
-- (1: left out). The commit of an overwrite takes those from the version it replaces, read in
-- the commit's own transaction, so that of overwrites racing on one name each inherits from the
-- version it really replaces. A new name starts without them. Sessions recorded before these
-- columns came from clients that always sent all three: 0, set as given, as then.
ALTER TABLE uploads ADD COLUMN keep_description BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN keep_tags BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN keep_metadata BIGINT NOT NULL DEFAULT 0
