//! Access tokens: minting a party token (128 bits from the OS random
//! generator, hex), hashing it (only the SHA-256 is ever stored), finding the
//! token a request presents, and checking it in constant time.
//!
//! Owns token minting and checking; must never log, store or echo a token:
//! only its hash leaves this module.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in a party token (128 bits).
pub(super) const TOKEN_BYTES: usize = 16;

/// A fresh token: 32 lowercase hex characters from the OS random generator.
pub(super) fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// Lowercase hex SHA-256 of `token`.
pub(super) fn sha256_hex(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Whether `presented` hashes to `expected_sha256` (hex). The comparison of
/// the digests takes the same time wherever they differ.
pub(super) fn verify(presented: &str, expected_sha256: &str) -> bool {
    let actual = sha256_hex(presented);
    actual.as_bytes().ct_eq(expected_sha256.as_bytes()).into()
}

/// The token a request presents: `Authorization: Bearer <token>` first, then
/// the `token` query parameter. An empty value counts as none.
pub(super) fn presented<'a>(
    authorization: Option<&'a str>,
    query_token: Option<&'a str>,
) -> Option<&'a str> {
    let from_header = authorization.and_then(|v| {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
    });
    from_header.or(query_token).filter(|t| !t.is_empty())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bit_hex_and_distinct() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn hash_matches_known_vector_and_verifies() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let h = sha256_hex("secret");
        assert!(verify("secret", &h));
        assert!(!verify("secreT", &h));
        assert!(!verify("secret", "short"));
    }

    #[test]
    fn header_wins_over_query_and_other_schemes_count_as_none() {
        assert_eq!(presented(Some("Bearer abc"), Some("q")), Some("abc"));
        assert_eq!(presented(Some("bearer  abc "), None), Some("abc"));
        assert_eq!(presented(Some("Basic abc"), None), None);
        assert_eq!(presented(Some("Basic abc"), Some("q")), Some("q"));
        assert_eq!(presented(None, Some("")), None);
        assert_eq!(presented(None, None), None);
    }
}
