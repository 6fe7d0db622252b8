//! Random secrets (tokens, session keys, passwords) and how they are stored: as
//! SHA-256 digests, compared in constant time.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A random string of letters and digits from the operating system's generator.
pub fn random_text(length: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), length)
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A new API token: what the user sees once, the digest that is stored, and the
/// prefix that lists show.
pub struct NewSecretToken {
    pub token: String,
    pub hash: String,
    pub prefix: String,
}

pub const TOKEN_PREFIX: &str = "ferry_";

pub fn new_api_token() -> NewSecretToken {
    let token = format!("{TOKEN_PREFIX}{}", random_text(40));
    NewSecretToken { hash: sha256_hex(&token), prefix: token[..TOKEN_PREFIX.len() + 6].to_string(), token }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_stored_only_as_digests() {
        let (a, b) = (new_api_token(), new_api_token());
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with("ferry_") && a.token.len() == 46);
        assert_eq!(a.hash, sha256_hex(&a.token));
        assert!(!a.hash.contains(&a.token[6..]));
        assert!(a.token.starts_with(&a.prefix));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
