//! Per-intent and per-query callback secrets: random, kept only as their SHA-256.

use nexgate_platform::Problem;
use sha2::{Digest, Sha256};

/// A fresh URL-safe secret (32 random bytes, hex) and its SHA-256.
pub fn new_secret() -> Result<(String, Vec<u8>), Problem> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Problem::internal(format!("randomness: {e}")))?;
    let secret = hex::encode(bytes);
    Ok((secret.clone(), Sha256::digest(secret.as_bytes()).to_vec()))
}

pub fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// Compares two secrets (or their hashes) in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
