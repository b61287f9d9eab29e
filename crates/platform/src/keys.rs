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

/// Whether `secret` hashes to `stored_sha256`. With `None` (no key has that id) the secret is
/// still hashed and compared, against a digest no secret has, so that an unknown id and a known
/// id with a wrong secret cost the same and cannot be told apart by the time they take.
pub fn secret_matches(secret: &str, stored_sha256: Option<&str>) -> bool {
    // 64 characters, like every SHA-256 in hex, but not hex: no secret's digest equals it.
    const NO_KEY: &str = "no-key-has-this-digest-no-key-has-this-digest-no-key-has-this-di";
    SECRET_HASHES.with(|n| n.set(n.get() + 1));
    let matches = constant_time_eq(sha256_hex(secret).as_bytes(), stored_sha256.unwrap_or(NO_KEY).as_bytes());
    matches && stored_sha256.is_some()
}

thread_local! {
    static SECRET_HASHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many presented secrets this thread has hashed (the work a key check does, counted so that
/// a test can show that every path through `Platform::authenticate` does it).
pub fn secret_hashes_on_this_thread() -> u64 {
    SECRET_HASHES.with(|n| n.get())
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
        assert!(secret_matches(secret, Some(&key.secret_sha256)));
        let wrong = format!("{}{}", if secret.starts_with('0') { '1' } else { '0' }, &secret[1..]);
        assert!(!secret_matches(&wrong, Some(&key.secret_sha256)));
        let before = secret_hashes_on_this_thread();
        assert!(!secret_matches(secret, None), "no stored digest never matches");
        assert_eq!(secret_hashes_on_this_thread(), before + 1, "an unknown id hashes the secret too");
    }
}
