//! Passwords: the policy (8 to 128 characters, not one of the most common) and argon2id hashing
//! (19 MiB, t=2, p=1; OWASP's minimum), stored as PHC strings.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

include!(concat!(env!("OUT_DIR"), "/common_passwords.rs"));

/// Shortest password, in characters.
pub const PASSWORD_CHARS_MIN: usize = 8;
/// Longest password, in characters (bounds hashing work).
pub const PASSWORD_CHARS_MAX: usize = 128;
/// argon2id memory in KiB (19 MiB).
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// argon2id passes.
pub const ARGON2_ITERATIONS: u32 = 2;
/// argon2id lanes.
pub const ARGON2_PARALLELISM: u32 = 1;

/// Verified against when the account does not exist, so an unknown user costs the same time as a
/// wrong password. Same parameters as real hashes; its digest matches no password anyone knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bmV4Z2F0ZWR1bW15c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn argon2() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .expect("argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy; the error is for a 422 on the `password` field.
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < PASSWORD_CHARS_MIN {
        return Err("must be at least 8 characters");
    }
    if chars > PASSWORD_CHARS_MAX {
        return Err("must be at most 128 characters");
    }
    if is_common(password) {
        return Err("is one of the most common passwords; choose another");
    }
    Ok(())
}

/// Whether the password (case-insensitively) is in the bundled list.
pub fn is_common(password: &str) -> bool {
    COMMON_PASSWORDS
        .binary_search(&password.to_lowercase().as_str())
        .is_ok()
}

/// Hashes a password with a fresh 16-byte salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("random salt: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

/// Verifies a password against a stored hash, or against the dummy hash when there is none (the
/// answer is then always false, after the same work).
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let (phc, real) = match stored {
        Some(h) => (h, true),
        None => (DUMMY_HASH, false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        eprintln!("auth: a stored password hash does not parse");
        return false;
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_bounds_length_and_refuses_common_passwords() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(&"x".repeat(129)).is_err());
        assert!(check_policy("password").is_err());
        assert!(check_policy("Password1").is_err(), "case-insensitive");
        assert!(check_policy("qwertyuiop").is_err());
        assert!(check_policy("tembo-kilimanjaro-42").is_ok());
        assert!(COMMON_PASSWORDS.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn hashes_are_argon2id_with_the_documented_parameters_and_verify() {
        let h = hash("tembo-kilimanjaro-42").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("tembo-kilimanjaro-42", Some(&h)));
        assert!(!verify("tembo-kilimanjaro-43", Some(&h)));
        assert_ne!(h, hash("tembo-kilimanjaro-42").unwrap(), "salted");
    }

    #[test]
    fn an_unknown_account_never_verifies() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("anything at all", None));
    }
}
