-- The files of directory objects, read once from each archive's central directory (the first
-- time the object is listed) so that one folder of a dataset of millions of files is answered
-- from an index. Keyed by the blob key of the version (every upload has its own), so an
-- overwrite never mixes the files of two versions. A version's rows go with it.
-- folder: the path of the folder the entry is in ('' at the top). name: its last component.
-- header: where its local header starts in the archive (0 for an implied folder).
CREATE TABLE object_files (
    blob_key TEXT NOT NULL,
    path TEXT NOT NULL,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    size BIGINT NOT NULL,
    crc32 TEXT NOT NULL,
    method BIGINT NOT NULL,
    compressed BIGINT NOT NULL,
    header BIGINT NOT NULL,
    PRIMARY KEY (blob_key, path)
);
CREATE INDEX object_files_folder ON object_files (blob_key, folder, name);
-- The versions whose files are all in object_files (written last, by the one indexing).
CREATE TABLE object_file_index (
    blob_key TEXT PRIMARY KEY,
    files BIGINT NOT NULL,
    indexed_at BIGINT NOT NULL
)
