//! API keys and ids: random, shown once, stored only as a SHA-256 of the secret.
//!
//! A key reads `fml_<id>_<secret>`: the 16-hex-digit id finds the row, the 64-hex-digit
//! (256-bit) secret is checked against its stored hash in constant time.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly minted key: `full` is shown to the user once and never stored.
pub struct NewKey {
    pub id: String,
    pub full: String,
    pub secret_sha256: String,
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn mint() -> NewKey {
    let id = random_hex(8);
    let secret = random_hex(32);
    NewKey { full: format!("fml_{id}_{secret}"), secret_sha256: sha256_hex(&secret), id }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Splits a presented key into (id, secret) when it has the right shape.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("fml_")?;
    let (id, secret) = rest.split_once('_')?;
    let hex_ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_ok(id, 16) && hex_ok(secret, 64)).then_some((id, secret))
}

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_and_verify() {
        let key = mint();
        let (id, secret) = parse(&key.full).expect("parses");
        assert_eq!(id, key.id);
        assert!(constant_time_eq(sha256_hex(secret).as_bytes(), key.secret_sha256.as_bytes()));
        assert!(parse("fml_short_x").is_none());
        assert!(parse(&key.full.replace("fml_", "xyz_")).is_none());
        assert_ne!(mint().full, key.full);
    }
}
