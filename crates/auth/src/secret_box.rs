//! Secrets that must be read back (TOTP seeds) are sealed with AES-256-GCM under the
//! `mfa_encryption_key` variable (64 hex digits), never stored in the clear. The stored form is
//! the 12-byte random nonce followed by the ciphertext and tag; the account id is bound in as
//! associated data, so a sealed secret moved to another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use nexgate_platform::Problem;
use uuid::Uuid;

/// The sealing key.
pub struct SecretBox(Aes256Gcm);

impl SecretBox {
    /// From 64 hex digits.
    pub fn from_hex(hex_key: &str) -> Result<Self, String> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| "not hex".to_string())?;
        if bytes.len() != 32 {
            return Err(format!("{} bytes, not 32", bytes.len()));
        }
        Ok(Self(
            Aes256Gcm::new_from_slice(&bytes).map_err(|e| e.to_string())?,
        ))
    }

    /// From the `mfa_encryption_key` variable.
    pub fn from_variables() -> Result<Self, Problem> {
        let key = nexgate_platform::config::var("mfa_encryption_key").map_err(Problem::internal)?;
        Self::from_hex(&key).map_err(|e| Problem::internal(format!("mfa_encryption_key: {e}")))
    }

    /// Seals `plain` for `owner`.
    pub fn seal(&self, owner: Uuid, plain: &[u8]) -> Result<Vec<u8>, Problem> {
        let nonce = crate::secrets::random_bytes::<12>().map_err(Problem::internal)?;
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| Problem::internal("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`SecretBox::seal`] sealed for `owner`.
    pub fn open(&self, owner: Uuid, sealed: &[u8]) -> Result<Vec<u8>, Problem> {
        if sealed.len() < 12 + 16 {
            return Err(Problem::internal("a sealed secret is too short"));
        }
        let (nonce, body) = sealed.split_at(12);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| Problem::internal("a sealed secret does not open (wrong key or row)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_owner_and_key() {
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let b = SecretBox::from_hex(key).unwrap();
        let owner = Uuid::now_v7();
        let sealed = b.seal(owner, b"totp seed").unwrap();
        assert_eq!(b.open(owner, &sealed).unwrap(), b"totp seed");
        assert!(b.open(Uuid::now_v7(), &sealed).is_err());
        let other = SecretBox::from_hex(&key.replace("00", "11")).unwrap();
        assert!(other.open(owner, &sealed).is_err());
        assert!(SecretBox::from_hex("abcd").is_err());
    }
}
