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
ALTER TABLE uploads ADD COLUMN attributes TEXT;
-- Files sent ahead of the commit that names them (a Hub LFS upload): their content in packs
-- pinned by the session that took them in, until that commit or the session's end.
CREATE TABLE staged_files (
    owner_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    crc32 TEXT NOT NULL,
    git_sha1 TEXT NOT NULL,
    upload_id TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, sha256)
);
CREATE INDEX staged_files_upload ON staged_files (upload_id);
-- The hashes the Hub names a directory object's files by (SHA-256, Git's blob id), per version
-- (its blob key, as its file index), computed once.
CREATE TABLE file_hashes (
    blob_key TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    git_sha1 TEXT NOT NULL,
    PRIMARY KEY (blob_key, path)
)
