//! Short-lived signed URLs for the local blob store: HMAC-SHA256 over method, path and expiry.
//!
//! The secret lives in the catalogue (`settings`), so every server instance over the same
//! catalogue signs and checks the same URLs.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::keys::constant_time_eq;

#[derive(Clone)]
pub struct UrlSigner {
    secret: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Expired,
    Invalid,
}

impl UrlSigner {
    pub fn new(secret: &[u8]) -> Self {
        UrlSigner { secret: secret.to_vec() }
    }

    fn mac(&self, method: &str, path: &str, expires: i64) -> String {
        // Hmac accepts keys of any length: `new_from_slice` cannot fail for HMAC.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(method.as_bytes());
        mac.update(b"\n");
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A secret derived from this key for `purpose` and `input` (HMAC-SHA256 over both): the same
    /// on every instance, unguessable without the key, and never equal to a URL's signature (whose
    /// message has three lines where this one has a fixed first line and two more).
    pub fn derive(&self, purpose: &str, input: &str) -> [u8; 32] {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(b"fedml-derived-secret\n");
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(input.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The query string (`exp=…&sig=…`) that authorises `method` on `path` until `expires`.
    pub fn sign(&self, method: &str, path: &str, expires: i64) -> String {
        format!("exp={expires}&sig={}", self.mac(method, path, expires))
    }

    pub fn verify(
        &self,
        method: &str,
        path: &str,
        expires: Option<i64>,
        signature: Option<&str>,
        now: i64,
    ) -> Result<(), SignatureError> {
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        let expected = self.mac(method, path, expires);
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(SignatureError::Invalid);
        }
        if now > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampering_and_expiry_are_refused() {
        let signer = UrlSigner::new(b"k");
        let q = signer.sign("GET", "/blob/a", 100);
        let sig = q.split("sig=").nth(1).expect("sig");
        assert_eq!(signer.verify("GET", "/blob/a", Some(100), Some(sig), 50), Ok(()));
        assert_eq!(signer.verify("GET", "/blob/b", Some(100), Some(sig), 50), Err(SignatureError::Invalid));
        assert_eq!(signer.verify("PUT", "/blob/a", Some(100), Some(sig), 50), Err(SignatureError::Invalid));
        assert_eq!(signer.verify("GET", "/blob/a", Some(101), Some(sig), 50), Err(SignatureError::Invalid));
        assert_eq!(signer.verify("GET", "/blob/a", Some(100), Some(sig), 101), Err(SignatureError::Expired));
        assert_eq!(signer.verify("GET", "/blob/a", None, Some(sig), 50), Err(SignatureError::Missing));
        assert!(UrlSigner::new(b"other").verify("GET", "/blob/a", Some(100), Some(sig), 50).is_err());
    }

    #[test]
    fn derived_secrets_depend_on_key_purpose_and_input() {
        let signer = UrlSigner::new(b"k");
        let a = signer.derive("s3", "0123");
        assert_eq!(a, UrlSigner::new(b"k").derive("s3", "0123"), "every instance derives the same");
        assert_ne!(a, UrlSigner::new(b"other").derive("s3", "0123"));
        assert_ne!(a, signer.derive("s3", "0124"));
        assert_ne!(a, signer.derive("s4", "0123"));
    }
}
