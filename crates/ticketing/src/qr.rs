//! The signed ticket (docs/ticketing.md, "The signed ticket"): a 65-byte payload signed with
//! RSASSA-PKCS1-v1_5 and SHA-256 by the signing component's RSA-2048 key, carried in a QR code as
//! `NXT1:` and base64url (no padding) of payload ‖ signature. Scanners verify it offline with the
//! published JWKS; the key id in the payload picks the key, so keys rotate without invalidating
//! issued tickets.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use uuid::Uuid;

/// The payload's format version (its first byte).
pub const FORMAT_VERSION: u8 = 1;
/// Payload bytes: version, key id, ticket, event and ticket type ids, admitted days, validity.
pub const PAYLOAD_BYTES: usize = 1 + 4 + 16 * 3 + 4 + 4 + 4;
/// What every ticket's QR text starts with.
pub const QR_PREFIX: &str = "NXT1:";
/// The QR text's budget: QR version 20 at error correction M holds 666 bytes.
pub const QR_TEXT_BYTES_MAX: usize = 600;
/// RSA modulus size: signatures are `RSA_BITS / 8` bytes.
pub const RSA_BITS: usize = 2048;
/// `days` of a ticket that admits every day of its event.
pub const EVERY_DAY: u32 = u32::MAX;

/// What a ticket says about itself (signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketClaims {
    /// Which signing key (the JWKS `kid`, 8 hex digits).
    pub key_id: u32,
    pub ticket_id: Uuid,
    pub event_id: Uuid,
    pub ticket_type_id: Uuid,
    /// Bit `d - 1` set: admits day `d` (1 to 30); [`EVERY_DAY`] for all.
    pub days: u32,
    /// Unix seconds: the ticket is good from `valid_from` to `valid_until`.
    pub valid_from: u32,
    pub valid_until: u32,
}

impl TicketClaims {
    /// The payload bytes, big-endian.
    pub fn encode(&self) -> [u8; PAYLOAD_BYTES] {
        let mut out = [0u8; PAYLOAD_BYTES];
        out[0] = FORMAT_VERSION;
        out[1..5].copy_from_slice(&self.key_id.to_be_bytes());
        out[5..21].copy_from_slice(self.ticket_id.as_bytes());
        out[21..37].copy_from_slice(self.event_id.as_bytes());
        out[37..53].copy_from_slice(self.ticket_type_id.as_bytes());
        out[53..57].copy_from_slice(&self.days.to_be_bytes());
        out[57..61].copy_from_slice(&self.valid_from.to_be_bytes());
        out[61..65].copy_from_slice(&self.valid_until.to_be_bytes());
        out
    }

    /// The claims of a payload of this format version; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != PAYLOAD_BYTES || bytes[0] != FORMAT_VERSION {
            return None;
        }
        let u32_at = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
        let uuid_at = |at: usize| Uuid::from_slice(&bytes[at..at + 16]).ok();
        Some(Self {
            key_id: u32_at(1),
            ticket_id: uuid_at(5)?,
            event_id: uuid_at(21)?,
            ticket_type_id: uuid_at(37)?,
            days: u32_at(53),
            valid_from: u32_at(57),
            valid_until: u32_at(61),
        })
    }

    /// Whether the ticket admits day `day` (1 to 30) of its event.
    pub fn admits_day(&self, day: u8) -> bool {
        (1..=30).contains(&day) && self.days & (1 << (day - 1)) != 0
    }
}

/// The `days` bits for a list of days (1 to 30); `None` means every day.
pub fn days_mask(days: Option<&[u8]>) -> u32 {
    match days {
        None => EVERY_DAY,
        Some(days) => days
            .iter()
            .filter(|d| (1..=30).contains(*d))
            .fold(0, |mask, d| mask | 1 << (d - 1)),
    }
}

/// A key's id as the payload carries it: the JWKS `kid`, exactly 8 hex digits.
pub fn parse_key_id(kid: &str) -> Option<u32> {
    (kid.len() == 8 && kid.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u32::from_str_radix(kid, 16).ok())
        .flatten()
}

/// Why a key or a ticket could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Signs tickets: only the signing component holds one.
pub struct TicketSigner {
    key: SigningKey<Sha256>,
    key_id: u32,
}

impl TicketSigner {
    /// From the PKCS#8 PEM of an RSA-2048 key and its `kid`.
    pub fn from_pkcs8_pem(pem: &str, kid: &str) -> Result<Self, KeyError> {
        let key_id =
            parse_key_id(kid).ok_or_else(|| KeyError("the key id must be 8 hex digits".into()))?;
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError(format!("the signing key is not a PKCS#8 RSA key: {e}")))?;
        if private.size() * 8 != RSA_BITS {
            return Err(KeyError(format!("the signing key must be RSA-{RSA_BITS}")));
        }
        Ok(Self {
            key: SigningKey::new(private),
            key_id,
        })
    }

    /// The key id tickets signed here carry.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The QR text of `claims` (whose `key_id` is set to this key's).
    pub fn sign(&self, claims: &TicketClaims) -> String {
        let claims = TicketClaims {
            key_id: self.key_id,
            ..claims.clone()
        };
        let payload = claims.encode();
        // Blinded with fresh randomness, so signing time does not leak the key.
        let signature = self
            .key
            .sign_with_rng(&mut rand_core::OsRng, &payload)
            .to_vec();
        let mut bytes = payload.to_vec();
        bytes.extend_from_slice(&signature);
        format!("{QR_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// The ticket id a QR text claims, read without checking anything (to find the stored ticket an
/// online check-in compares the whole text with); `None` when it is not shaped like a ticket.
pub fn claimed_ticket(text: &str) -> Option<uuid::Uuid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.strip_prefix(QR_PREFIX)?.trim())
        .ok()?;
    if bytes.len() != PAYLOAD_BYTES + RSA_BITS / 8 {
        return None;
    }
    TicketClaims::decode(&bytes[..PAYLOAD_BYTES]).map(|c| c.ticket_id)
}

/// Whether two texts are equal, in time that depends on their lengths only.
pub fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, byte) in a.iter().enumerate() {
        diff |= byte ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Verifies tickets with the published public keys (check-in components and scanner apps).
pub struct TicketVerifier {
    keys: Vec<(u32, VerifyingKey<Sha256>)>,
}

impl TicketVerifier {
    /// From a JWKS: every `RSA` key with an 8-hex-digit `kid`.
    pub fn from_jwks(json: &str) -> Result<Self, KeyError> {
        let jwks: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| KeyError(format!("the JWKS is not JSON: {e}")))?;
        let mut keys = Vec::new();
        for jwk in jwks["keys"].as_array().into_iter().flatten() {
            let Some(kid) = jwk["kid"].as_str().and_then(parse_key_id) else {
                continue;
            };
            if jwk["kty"] != "RSA" {
                continue;
            }
            let part = |name: &str| {
                jwk[name]
                    .as_str()
                    .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                    .map(|b| BigUint::from_bytes_be(&b))
                    .ok_or_else(|| KeyError(format!("key {kid:08x}: `{name}` is missing")))
            };
            let public = RsaPublicKey::new(part("n")?, part("e")?)
                .map_err(|e| KeyError(format!("key {kid:08x}: {e}")))?;
            keys.push((kid, VerifyingKey::new(public)));
        }
        if keys.is_empty() {
            return Err(KeyError("the JWKS has no usable RSA key".into()));
        }
        Ok(Self { keys })
    }

    /// The claims of a QR text whose signature verifies under the key it names; `None` for
    /// anything malformed, truncated, signed by an unknown key or altered.
    pub fn verify(&self, text: &str) -> Option<TicketClaims> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.strip_prefix(QR_PREFIX)?.trim())
            .ok()?;
        if bytes.len() != PAYLOAD_BYTES + RSA_BITS / 8 {
            return None;
        }
        let (payload, signature) = bytes.split_at(PAYLOAD_BYTES);
        let claims = TicketClaims::decode(payload)?;
        let (_, key) = self.keys.iter().find(|(kid, _)| *kid == claims.key_id)?;
        let signature = Signature::try_from(signature).ok()?;
        key.verify(payload, &signature).ok()?;
        Some(claims)
    }
}

/// A new signing key: (PKCS#8 PEM of the private key, the public JWK as JSON) for `kid`
/// (`nexgate-ops ticket-keygen`, and the tests).
pub fn new_key(kid: &str) -> Result<(String, serde_json::Value), KeyError> {
    parse_key_id(kid).ok_or_else(|| KeyError("the key id must be 8 hex digits".into()))?;
    let private =
        RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS).map_err(|e| KeyError(e.to_string()))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError(e.to_string()))?;
    let public = private.to_public_key();
    let jwk = serde_json::json!({
        "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    Ok((pem.to_string(), jwk))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_claimed_ticket_is_read_without_a_key_and_texts_compare_whole() {
        let (pem, _) = new_key("0000002a").unwrap();
        let signer = TicketSigner::from_pkcs8_pem(&pem, "0000002a").unwrap();
        let ticket = uuid::Uuid::now_v7();
        let claims = TicketClaims {
            key_id: 42,
            ticket_id: ticket,
            event_id: uuid::Uuid::now_v7(),
            ticket_type_id: uuid::Uuid::now_v7(),
            days: EVERY_DAY,
            valid_from: 0,
            valid_until: u32::MAX,
        };
        let text = signer.sign(&claims);
        assert_eq!(claimed_ticket(&text), Some(ticket));
        assert_eq!(claimed_ticket("NXT1:short"), None);
        assert!(same_text(&text, &text.clone()));
        assert!(!same_text(&text, &text[..text.len() - 1]));
        assert!(!same_text("abc", "abd"));
        assert!(!same_text("", "a"));
    }

    use super::*;
    use std::sync::OnceLock;

    /// One key pair for the whole test binary (generating RSA-2048 takes a while).
    fn keys() -> &'static (String, serde_json::Value, serde_json::Value) {
        static KEYS: OnceLock<(String, serde_json::Value, serde_json::Value)> = OnceLock::new();
        KEYS.get_or_init(|| {
            let (pem, jwk) = new_key("0000a1b2").unwrap();
            let (_, other) = new_key("0000c3d4").unwrap();
            (pem, jwk, other)
        })
    }

    fn claims() -> TicketClaims {
        TicketClaims {
            key_id: 0,
            ticket_id: Uuid::now_v7(),
            event_id: Uuid::now_v7(),
            ticket_type_id: Uuid::now_v7(),
            days: days_mask(Some(&[1, 3])),
            valid_from: 1_800_000_000,
            valid_until: 1_800_086_400,
        }
    }

    fn verifier(jwks: &[&serde_json::Value]) -> TicketVerifier {
        TicketVerifier::from_jwks(&serde_json::json!({ "keys": jwks }).to_string()).unwrap()
    }

    #[test]
    fn a_signed_ticket_fits_the_qr_budget_and_verifies() {
        let (pem, jwk, _) = keys();
        let signer = TicketSigner::from_pkcs8_pem(pem, "0000a1b2").unwrap();
        let c = claims();
        let text = signer.sign(&c);
        assert!(text.len() <= QR_TEXT_BYTES_MAX, "{} bytes", text.len());
        assert_eq!(
            text.len(),
            433,
            "NXT1: and 321 bytes in base64url (docs/ticketing.md)"
        );
        let got = verifier(&[jwk]).verify(&text).expect("verifies");
        assert_eq!(
            got,
            TicketClaims {
                key_id: 0x0000_a1b2,
                ..c
            }
        );
        assert!(got.admits_day(1) && got.admits_day(3) && !got.admits_day(2));
    }

    #[test]
    fn altered_truncated_or_foreign_tickets_do_not_verify() {
        let (pem, jwk, other) = keys();
        let signer = TicketSigner::from_pkcs8_pem(pem, "0000a1b2").unwrap();
        let text = signer.sign(&claims());
        let v = verifier(&[jwk]);
        // One payload character changed (the ticket type, say): the signature no longer matches.
        let mut altered: Vec<char> = text.chars().collect();
        let i = QR_PREFIX.len() + 60;
        altered[i] = if altered[i] == 'A' { 'B' } else { 'A' };
        assert!(v.verify(&altered.into_iter().collect::<String>()).is_none());
        assert!(v.verify(&text[..text.len() - 4]).is_none(), "truncated");
        assert!(v.verify(&text.replace(QR_PREFIX, "NXT2:")).is_none());
        assert!(v.verify("NXT1:not base64!").is_none());
        // A key the verifier does not know (a re-signed ticket), and the rotation case: a
        // verifier that knows both keys accepts tickets of either.
        let only_other = verifier(&[other]);
        assert!(only_other.verify(&text).is_none());
        assert!(verifier(&[other, jwk]).verify(&text).is_some());
    }

    #[test]
    fn key_ids_are_eight_hex_digits() {
        assert_eq!(parse_key_id("0000a1b2"), Some(0xa1b2));
        assert_eq!(parse_key_id("a1b2"), None);
        assert_eq!(parse_key_id("0000a1bz"), None);
        assert!(TicketSigner::from_pkcs8_pem("not a key", "0000a1b2").is_err());
    }

    #[test]
    fn day_masks() {
        assert_eq!(days_mask(None), EVERY_DAY);
        assert_eq!(days_mask(Some(&[1, 2, 30])), 0b11 | 1 << 29);
        let c = TicketClaims {
            days: EVERY_DAY,
            ..claims()
        };
        assert!(c.admits_day(30) && !c.admits_day(0) && !c.admits_day(31));
    }
}
