//! S3 credentials, derived from API keys: nothing new is stored. An S3 client signs each request
//! with a secret the server must know in plain text, while an API key's secret is kept only as a
//! digest; so the S3 secret of a key is derived from the key's id under the key every instance
//! shares (the URL-signing key, [`crate::signing::UrlSigner::derive`]), and the access key id
//! names the API key. The S3 key has exactly the API key's rights (its namespaces, read-only or
//! not) since every request through it acts as that key's [`Caller`], and it dies with the API
//! key: a revoked or unknown key's id answers [`Error::NotFound`].

use fedml_proto::S3Credentials;

use super::{Caller, Platform};
use crate::catalogue::CatalogueError;
use crate::error::{Error, Result};

/// What every S3 access key id starts with; the API key's id follows, in upper case (20
/// characters in all, the shape S3 clients expect).
pub const ACCESS_KEY_PREFIX: &str = "FMLK";
/// The region S3 clients sign for.
pub const S3_REGION: &str = "us-east-1";
/// What the derivation is for (a key derived for another purpose differs).
const PURPOSE: &str = "s3-secret-access-key";
/// Length of an API key's id, in hex digits.
const KEY_ID_HEX: usize = 16;

/// The S3 access key id of the API key with id `key_id`.
pub fn access_key_id(key_id: &str) -> String {
    format!("{ACCESS_KEY_PREFIX}{}", key_id.to_ascii_uppercase())
}

/// The API key id an S3 access key id names, if it has the shape of one.
fn key_id_of(access_key_id: &str) -> Option<String> {
    let hex = access_key_id.strip_prefix(ACCESS_KEY_PREFIX)?;
    (hex.len() == KEY_ID_HEX && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| hex.to_ascii_lowercase())
}

impl Platform {
    /// The URL of this server's S3 endpoint (`None`: it serves none).
    pub fn with_s3_url(mut self, url: Option<String>) -> Self {
        self.s3_url = url;
        self
    }

    /// The URL of this server's S3 endpoint, if it serves one.
    pub fn s3_url(&self) -> Option<&str> {
        self.s3_url.as_deref()
    }

    /// The S3 secret access key of the API key with id `key_id`: 40 hex digits (160 bits).
    fn s3_secret(&self, key_id: &str) -> String {
        hex::encode(&self.signer.derive(PURPOSE, key_id)[..20])
    }

    /// The S3 credentials of the API key the caller uses, with the server's S3 endpoint and the
    /// buckets (namespaces) they may use. Refused where the server serves no S3 endpoint.
    pub async fn s3_credentials(&self, caller: &Caller) -> Result<S3Credentials> {
        let endpoint_url = self.s3_url.clone().ok_or_else(|| {
            Error::NotFound(
                "this server does not serve the S3 API (its operator started it with `--s3-listen off`); ask them \
                 to turn it on"
                    .into(),
            )
        })?;
        let buckets = self.namespaces(caller).await?.into_iter().map(|ns| ns.name).collect();
        Ok(S3Credentials {
            access_key_id: access_key_id(&caller.key_id),
            secret_access_key: self.s3_secret(&caller.key_id),
            endpoint_url,
            region: S3_REGION.to_string(),
            buckets,
        })
    }

    /// The secret of the S3 access key id `access_key_id` and the caller it acts as: that of its
    /// API key, read now (so a revoked key is refused at once, on every instance). An id of no
    /// live API key (malformed, unknown, revoked) answers [`Error::NotFound`].
    pub async fn s3_caller(&self, access_key_id: &str) -> Result<(String, Caller)> {
        let unknown = || {
            Error::NotFound(
                "no such S3 access key: it is not one `fedml storage s3-credentials` gave, or its API key was revoked"
                    .into(),
            )
        };
        let key_id = key_id_of(access_key_id).ok_or_else(unknown)?;
        let record = match self.catalogue.api_key(&key_id).await {
            Ok(record) => record,
            Err(CatalogueError::NotFound) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        if record.revoked_at.is_some() {
            return Err(unknown());
        }
        Ok((self.s3_secret(&key_id), Caller::from(record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::test_support;

    #[test]
    fn access_key_ids_name_their_api_key() {
        let id = access_key_id("0123456789abcdef");
        assert_eq!(id, "FMLK0123456789ABCDEF");
        assert_eq!(id.len(), 20);
        assert_eq!(key_id_of(&id).as_deref(), Some("0123456789abcdef"));
        for bad in ["", "FMLK", "FMLK0123", "AKIA0123456789ABCDEF", "FMLK0123456789ABCDEG", "FMLK0123456789ABCDEF0"] {
            assert_eq!(key_id_of(bad), None, "{bad}");
        }
    }

    /// The credentials of a key open its caller with the same secret; revoked, they open nothing.
    #[tokio::test]
    async fn credentials_are_the_keys_and_die_with_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let catalogue = test_support::catalogue(dir.path()).await;
        crate::admin::create_user(&catalogue, "alice").await.expect("user");
        let key = crate::admin::create_key(&catalogue, "alice", true, "ro").await.expect("key").1;
        let platform = test_support::platform(catalogue).with_s3_url(Some("http://127.0.0.1:2".into()));
        let caller = platform.authenticate(Some(&key)).await.expect("caller");
        let made = platform.s3_credentials(&caller).await.expect("credentials");
        assert_eq!(made.secret_access_key.len(), 40);
        assert_eq!((made.endpoint_url.as_str(), made.region.as_str()), ("http://127.0.0.1:2", S3_REGION));
        assert_eq!(made.buckets, ["alice"]);
        let (secret, found) = platform.s3_caller(&made.access_key_id).await.expect("found");
        assert_eq!(secret, made.secret_access_key);
        assert_eq!(
            (found.user_name.as_str(), found.key_id.as_str(), found.read_only),
            ("alice", caller.key_id.as_str(), true)
        );
        // Another key of the same user has another secret.
        let other = crate::admin::create_key(&platform.catalogue, "alice", false, "rw").await.expect("key").1;
        let other = platform.authenticate(Some(&other)).await.expect("caller");
        assert_ne!(platform.s3_credentials(&other).await.expect("credentials").secret_access_key, secret);
        crate::admin::revoke_key(&platform.catalogue, &key).await.expect("revoke");
        assert!(matches!(platform.s3_caller(&made.access_key_id).await, Err(Error::NotFound(_))));
        assert!(matches!(platform.s3_caller("FMLK0000000000000000").await, Err(Error::NotFound(_))));
        let off = test_support::platform(test_support::catalogue(dir.path()).await);
        assert!(matches!(off.s3_credentials(&other).await, Err(Error::NotFound(_))), "no endpoint, no credentials");
    }
}
