-- Bytes the server takes in itself (an S3 PUT or part, a Hub upload): what the protocol that
-- sent them keeps of an object beside its content (its media type, the MD5 an S3 ETag names,
-- the SHA-256 an LFS pointer names), as JSON, on the object and on each earlier version.
ALTER TABLE objects ADD COLUMN attributes TEXT;
ALTER TABLE object_versions ADD COLUMN attributes TEXT;
-- The parts of a multipart intake (an S3 multipart upload): each part's bytes already cut into
-- chunks in packs pinned for its session, kept as that part's packs and segments. Completing
-- the session joins the parts' segments in the order the client names: no byte moves.
CREATE TABLE intake_parts (
    upload_id TEXT NOT NULL,
    part_number BIGINT NOT NULL,
    size BIGINT NOT NULL,
    md5 TEXT NOT NULL,
    digest TEXT,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
-- Multipart intakes of a namespace, for listing them.
ALTER TABLE uploads ADD COLUMN attributes TEXT
