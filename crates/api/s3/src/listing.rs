//! Listing a bucket: ListObjectsV2, ListObjects (V1) and ListObjectVersions over the platform's
//! key listing ([`Platform::list_keys`]: prefix, delimiter, paging after a key). A continuation
//! token is the key to go on after, encoded (clients take it as opaque). With
//! `encoding-type=url` every key and prefix in the answer is percent-encoded, as botocore
//! expects when it asks for it (it always does).

use fedml_platform::Caller;
use fedml_platform::operations::{KeyEntry, KeyPage, KeyQuery, MAX_KEYS, Need};
use s3s::dto::{
    CommonPrefix, ETag, EncodingType, ListObjectVersionsInput, ListObjectVersionsOutput, ListObjectsInput,
    ListObjectsOutput, ListObjectsV2Input, ListObjectsV2Output, Object, ObjectStorageClass, ObjectVersion,
    ObjectVersionStorageClass, Owner,
};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::Fedml;
use crate::auth::caller;
use crate::errors::{On, s3};
use crate::objects::{etag, file_etag, timestamp};

/// What a listing asks, as every kind of listing takes it.
struct Asked<'a> {
    bucket: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    after: Option<&'a str>,
    max_keys: Option<i32>,
}

/// Keys in answers: as they are, or percent-encoded (`encoding-type=url`).
struct Encoding(bool);

impl Encoding {
    fn of(asked: Option<&EncodingType>) -> S3Result<Encoding> {
        match asked.map(EncodingType::as_str) {
            None => Ok(Encoding(false)),
            Some(EncodingType::URL) => Ok(Encoding(true)),
            Some(other) => Err(S3Error::with_message(
                S3ErrorCode::InvalidArgument,
                format!("encoding-type {other:?} is not one S3 knows; the only one is \"url\""),
            )),
        }
    }

    fn key(&self, key: &str) -> String {
        if !self.0 {
            return key.to_string();
        }
        key.split('/').map(fedml_proto::encode_path_segment).collect::<Vec<_>>().join("/")
    }

    fn opt(&self, text: Option<String>) -> Option<String> {
        text.map(|t| self.key(&t))
    }
}

/// A continuation token: the key a page ended at, base64url-encoded.
fn token_of(after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after.as_bytes())
}

fn after_of_token(token: &str) -> S3Result<String> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            S3Error::with_message(S3ErrorCode::InvalidArgument, "the continuation token is not one a listing gave")
        })
}

/// An object of a listing.
fn object(entry: &KeyEntry, encoding: &Encoding) -> Object {
    Object {
        key: Some(encoding.key(&entry.key)),
        size: Some(entry.size as i64),
        last_modified: Some(timestamp(entry.modified_ms)),
        e_tag: Some(ETag::Strong(entry_etag(entry))),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        ..Default::default()
    }
}

fn entry_etag(entry: &KeyEntry) -> String {
    match (&entry.record, &entry.inside) {
        (Some(record), _) => etag(record),
        (None, Some((_, path))) => file_etag(entry.modified_ms, &entry.checksum, entry.size, path),
        (None, None) => entry.checksum.clone(),
    }
}

impl Fedml {
    /// A page of keys, or `None` when no key is asked for (`max-keys=0`).
    async fn page(&self, caller: &Caller, asked: &Asked<'_>) -> S3Result<Option<KeyPage>> {
        self.bucket(caller, asked.bucket, Need::Read).await?;
        let max = match asked.max_keys {
            None => MAX_KEYS,
            Some(n) if n < 0 => {
                return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, "max-keys cannot be negative"));
            }
            Some(0) => return Ok(None),
            Some(n) => (n as usize).min(MAX_KEYS),
        };
        let query = KeyQuery { prefix: asked.prefix, delimiter: asked.delimiter, after: asked.after, max };
        self.platform.list_keys(caller, Some(asked.bucket), &query).await.map(Some).map_err(|e| s3(e, On::Bucket))
    }

    pub(crate) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let caller = caller(&req)?;
        let input = req.input;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let from_token = input.continuation_token.as_deref().map(after_of_token).transpose()?;
        // A token goes on from where its page ended, which lies after any start-after.
        let after = from_token.as_deref().or(input.start_after.as_deref());
        let asked = Asked {
            bucket: &input.bucket,
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref(),
            after,
            max_keys: input.max_keys,
        };
        let page = self.page(&caller, &asked).await?.unwrap_or_default();
        let contents: Vec<Object> = page.entries.iter().map(|e| object(e, &encoding)).collect();
        let prefixes: Vec<CommonPrefix> =
            page.prefixes.iter().map(|p| CommonPrefix { prefix: Some(encoding.key(p)) }).collect();
        let count = contents.len() + prefixes.len();
        let next = page.next_after.as_deref().filter(|_| page.truncated).map(token_of);
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(encoding.key(asked.prefix)),
            delimiter: encoding.opt(input.delimiter.clone()),
            start_after: encoding.opt(input.start_after.clone()),
            max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS as i32)),
            key_count: Some(count as i32),
            is_truncated: Some(page.truncated && next.is_some()),
            continuation_token: input.continuation_token.clone(),
            next_continuation_token: next,
            contents: Some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        }))
    }

    pub(crate) async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let asked = Asked {
            bucket: &input.bucket,
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref(),
            after: input.marker.as_deref().filter(|m| !m.is_empty()),
            max_keys: input.max_keys,
        };
        let page = self.page(&caller, &asked).await?.unwrap_or_default();
        let contents: Vec<Object> = page.entries.iter().map(|e| object(e, &encoding)).collect();
        let prefixes: Vec<CommonPrefix> =
            page.prefixes.iter().map(|p| CommonPrefix { prefix: Some(encoding.key(p)) }).collect();
        let next = page.next_after.clone().filter(|_| page.truncated);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(encoding.key(asked.prefix)),
            delimiter: encoding.opt(input.delimiter.clone()),
            marker: Some(encoding.key(input.marker.as_deref().unwrap_or(""))),
            max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS as i32)),
            is_truncated: Some(page.truncated && next.is_some()),
            next_marker: encoding.opt(next),
            contents: Some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        }))
    }

    /// Every version of each key of a page of keys (a key's versions never span two pages).
    pub(crate) async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let caller = caller(&req)?;
        let input = req.input;
        let encoding = Encoding::of(input.encoding_type.as_ref())?;
        let asked = Asked {
            bucket: &input.bucket,
            prefix: input.prefix.as_deref().unwrap_or(""),
            delimiter: input.delimiter.as_deref(),
            after: input.key_marker.as_deref().filter(|m| !m.is_empty()),
            max_keys: input.max_keys,
        };
        let page = self.page(&caller, &asked).await?.unwrap_or_default();
        let owner = Owner { display_name: Some(caller.user_name.clone()), id: Some(caller.user_id.clone()) };
        let mut versions = Vec::new();
        for entry in &page.entries {
            let key = Some(encoding.key(&entry.key));
            let Some(record) = &entry.record else {
                // A file inside a directory object has its object's version.
                versions.push(ObjectVersion {
                    key,
                    version_id: None,
                    is_latest: Some(true),
                    size: Some(entry.size as i64),
                    last_modified: Some(timestamp(entry.modified_ms)),
                    e_tag: Some(ETag::Strong(entry_etag(entry))),
                    owner: Some(owner.clone()),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    ..Default::default()
                });
                continue;
            };
            let all = match self.platform.version_records(&caller, Some(&input.bucket), &record.meta.data_name).await {
                Ok(all) => all,
                // Deleted since the page was read.
                Err(fedml_platform::Error::NotFound(_)) => continue,
                Err(e) => return Err(s3(e, On::Key)),
            };
            for (i, version) in all.iter().enumerate() {
                versions.push(ObjectVersion {
                    key: key.clone(),
                    version_id: Some(version.meta.version.to_string()),
                    is_latest: Some(i == 0),
                    size: Some(version.meta.size as i64),
                    last_modified: Some(timestamp(version.updated_ms)),
                    e_tag: Some(ETag::Strong(etag(version))),
                    owner: Some(owner.clone()),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    ..Default::default()
                });
            }
        }
        let prefixes: Vec<CommonPrefix> =
            page.prefixes.iter().map(|p| CommonPrefix { prefix: Some(encoding.key(p)) }).collect();
        let next = page.next_after.clone().filter(|_| page.truncated);
        let next_version = next.as_ref().and(versions.last().and_then(|v| v.version_id.clone()));
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(encoding.key(asked.prefix)),
            delimiter: encoding.opt(input.delimiter.clone()),
            key_marker: encoding.opt(input.key_marker.clone()),
            version_id_marker: input.version_id_marker.clone(),
            max_keys: Some(input.max_keys.unwrap_or(MAX_KEYS as i32)),
            is_truncated: Some(next.is_some()),
            next_key_marker: encoding.opt(next),
            next_version_id_marker: next_version,
            versions: Some(versions),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            encoding_type: input.encoding_type.clone(),
            ..Default::default()
        }))
    }
}
