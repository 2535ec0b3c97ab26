//! One-time secrets in events, sealed to the notifier's public key (DESIGN.md, Events).
//!
//! A verification code or a reset link must reach its recipient through the bus, but the broker,
//! its queues, dead letters and logs must never see it. So the producer moves a type's secret
//! fields ([`secret_fields`]) out of `data` into `data.sealed`:
//!
//! ```json
//! "sealed": { "alg": "x25519-xsalsa20poly1305-sealedbox", "kid": "3f1c9a0b2d4e6f70",
//!             "ciphertext": "<base64url, no padding>" }
//! ```
//!
//! The ciphertext is a libsodium sealed box (an ephemeral X25519 key, XSalsa20-Poly1305) of the
//! JSON object of the secret fields, to the notifier's public key; `kid` is the first 8 bytes of
//! SHA-256 of that public key in hex, so the notifier can hold several keys while rotating. Only
//! the notifier's private key opens it; integrity comes with the box. Provenance does not: that is
//! the broker's permissions (only auth may publish `auth.*`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use crypto_box::{PublicKey, SecretKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The algorithm named in `data.sealed.alg`.
pub const SEALED_BOX_ALG: &str = "x25519-xsalsa20poly1305-sealedbox";

/// The `data` field that holds the sealed secrets.
pub const SEALED_FIELD: &str = "sealed";

/// The data fields of a type that are one-time secrets (empty for every other type).
pub fn secret_fields(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "auth.verification_code.issued" => &["code"],
        "auth.password_reset.requested" => &["token", "link"],
        _ => &[],
    }
}

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the notifier's key is not 32 bytes of base64url")]
    BadKey,
    #[error("`data.sealed` is missing or malformed")]
    Malformed,
    #[error("no key for `kid` {0}")]
    UnknownKey(String),
    #[error("the sealed secrets do not open (tampered, or sealed to another key)")]
    DoesNotOpen,
}

/// The notifier's public key (variable `notifier_public_key`: 32 bytes, base64url).
#[derive(Clone)]
pub struct SealingKey {
    key: PublicKey,
    kid: String,
}

impl SealingKey {
    pub fn parse(base64url: &str) -> Result<Self, SealError> {
        let bytes: [u8; 32] = decode32(base64url)?;
        Ok(Self {
            kid: key_id(&bytes),
            key: PublicKey::from(bytes),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Moves `event_type`'s secret fields out of `data` into `data.sealed`. A type without
    /// secrets is left as it is.
    pub fn seal_secrets(&self, event_type: &str, data: &mut Value) -> Result<(), SealError> {
        let fields = secret_fields(event_type);
        let Some(object) = data.as_object_mut().filter(|_| !fields.is_empty()) else {
            return Ok(());
        };
        let mut secrets = Map::new();
        for field in fields {
            if let Some(value) = object.remove(*field) {
                secrets.insert((*field).to_string(), value);
            }
        }
        let plaintext = serde_json::to_vec(&secrets).map_err(|_| SealError::Malformed)?;
        let ciphertext = self
            .key
            .seal(&mut crypto_box::aead::OsRng, &plaintext)
            .map_err(|_| SealError::Malformed)?;
        object.insert(
            SEALED_FIELD.to_string(),
            serde_json::json!({
                "alg": SEALED_BOX_ALG,
                "kid": self.kid,
                "ciphertext": URL_SAFE_NO_PAD.encode(ciphertext),
            }),
        );
        Ok(())
    }
}

/// The notifier's private keys (the current one first, older ones while rotating).
pub struct OpeningKeys {
    keys: Vec<(String, SecretKey)>,
}

impl OpeningKeys {
    /// From base64url private keys, comma-separated.
    pub fn parse(list: &str) -> Result<Self, SealError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                let secret = SecretKey::from(decode32(k)?);
                Ok((key_id(secret.public_key().as_bytes()), secret))
            })
            .collect::<Result<Vec<_>, SealError>>()?;
        if keys.is_empty() {
            return Err(SealError::BadKey);
        }
        Ok(Self { keys })
    }

    /// `data` with its sealed secrets opened back into their fields (a copy: the caller keeps
    /// the sealed form for anything it stores). Data without `sealed` is returned as it is.
    pub fn open(&self, data: &Value) -> Result<Value, SealError> {
        let Some(sealed) = data.get(SEALED_FIELD) else {
            return Ok(data.clone());
        };
        if sealed["alg"] != SEALED_BOX_ALG {
            return Err(SealError::Malformed);
        }
        let kid = sealed["kid"].as_str().ok_or(SealError::Malformed)?;
        let ciphertext = sealed["ciphertext"]
            .as_str()
            .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
            .ok_or(SealError::Malformed)?;
        let (_, key) = self
            .keys
            .iter()
            .find(|(id, _)| id == kid)
            .ok_or_else(|| SealError::UnknownKey(kid.to_string()))?;
        let plaintext = key
            .unseal(&ciphertext)
            .map_err(|_| SealError::DoesNotOpen)?;
        let secrets: Map<String, Value> =
            serde_json::from_slice(&plaintext).map_err(|_| SealError::DoesNotOpen)?;
        let mut opened = data.clone();
        let object = opened.as_object_mut().ok_or(SealError::Malformed)?;
        object.remove(SEALED_FIELD);
        object.extend(secrets);
        Ok(opened)
    }
}

/// A new key pair: (private, public), both base64url (`nexgate-ops seal-keygen`, test harnesses).
pub fn generate_key_pair() -> (String, String) {
    let secret = SecretKey::generate(&mut crypto_box::aead::OsRng);
    (
        URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        URL_SAFE_NO_PAD.encode(secret.public_key().as_bytes()),
    )
}

fn decode32(base64url: &str) -> Result<[u8; 32], SealError> {
    URL_SAFE_NO_PAD
        .decode(base64url.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SealError::BadKey)
}

fn key_id(public: &[u8; 32]) -> String {
    Sha256::digest(public)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys() -> (SealingKey, OpeningKeys) {
        let (private, public) = generate_key_pair();
        (
            SealingKey::parse(&public).unwrap(),
            OpeningKeys::parse(&private).unwrap(),
        )
    }

    #[test]
    fn a_sealed_code_leaves_no_trace_in_clear_and_opens_with_the_notifier_key() {
        let (sealing, opening) = keys();
        let mut data = json!({ "channel": "email", "address": "a@example.com", "code": "493027" });
        sealing
            .seal_secrets("auth.verification_code.issued", &mut data)
            .unwrap();
        assert!(data.get("code").is_none());
        assert!(!data.to_string().contains("493027"));
        assert_eq!(data["sealed"]["kid"], sealing.kid());
        let opened = opening.open(&data).unwrap();
        assert_eq!(opened["code"], "493027");
        assert_eq!(opened["address"], "a@example.com");
        assert!(opened.get("sealed").is_none());
    }

    #[test]
    fn another_key_or_a_tampered_box_does_not_open() {
        let (sealing, opening) = keys();
        let (_, other) = keys();
        let mut data = json!({ "token": "t0k3n", "link": "https://x/reset?token=t0k3n" });
        sealing
            .seal_secrets("auth.password_reset.requested", &mut data)
            .unwrap();
        assert!(matches!(other.open(&data), Err(SealError::UnknownKey(_))));
        let c = data["sealed"]["ciphertext"].as_str().unwrap().to_string();
        let mut bytes = URL_SAFE_NO_PAD.decode(c).unwrap();
        bytes[40] ^= 1;
        let mut tampered = data.clone();
        tampered["sealed"]["ciphertext"] = json!(URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(opening.open(&tampered), Err(SealError::DoesNotOpen));
        assert_eq!(opening.open(&data).unwrap()["token"], "t0k3n");
    }

    #[test]
    fn types_without_secrets_are_untouched_and_keys_are_checked() {
        let (sealing, _) = keys();
        let mut data = json!({ "user_id": "x" });
        sealing
            .seal_secrets("auth.account.created", &mut data)
            .unwrap();
        assert_eq!(data, json!({ "user_id": "x" }));
        assert!(SealingKey::parse("short").is_err());
        assert!(OpeningKeys::parse("").is_err());
    }

    #[test]
    fn every_type_that_carries_a_secret_names_its_secret_fields() {
        for t in crate::catalogue::all() {
            let fields = secret_fields(t.name);
            assert_eq!(t.carries_secret, !fields.is_empty(), "{}", t.name);
            for f in fields {
                assert!(
                    t.data_fields.iter().any(|d| d.name == *f),
                    "{}: {f} is not one of its fields",
                    t.name
                );
            }
        }
    }
}
