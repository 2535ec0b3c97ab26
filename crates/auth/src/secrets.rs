//! One-time secrets: refresh tokens (256 random bits), 6-digit codes, and their stored hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Random bytes from the host (WASI `random_get`).
pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
    Ok(buf)
}

/// A new opaque refresh token: 256 random bits, base64url (43 characters).
pub fn new_refresh_token() -> anyhow::Result<String> {
    Ok(B64.encode(random_bytes::<32>()?))
}

/// SHA-256 in hex: how tokens are stored and looked up.
pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// A uniformly random 6-digit code (rejection sampling, so no digit is favoured).
pub fn new_code() -> anyhow::Result<String> {
    loop {
        let n = u32::from_le_bytes(random_bytes::<4>()?);
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

/// The stored form of a code: bound to the thing it verifies, so equal codes hash differently.
pub fn code_hash(owner: Uuid, code: &str) -> String {
    sha256_hex(&format!("{owner}:{code}"))
}

/// Constant-time equality of two hex digests.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_six_digits_and_tokens_256_bits() {
        for _ in 0..100 {
            let c = new_code().unwrap();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
        let t = new_refresh_token().unwrap();
        assert_eq!(B64.decode(&t).unwrap().len(), 32);
        assert_ne!(t, new_refresh_token().unwrap());
    }

    #[test]
    fn code_hashes_are_bound_to_their_owner() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        assert_ne!(code_hash(a, "123456"), code_hash(b, "123456"));
        assert!(digests_equal(
            &code_hash(a, "123456"),
            &code_hash(a, "123456")
        ));
        assert!(!digests_equal(
            &code_hash(a, "123456"),
            &code_hash(a, "123457")
        ));
    }
}
