//! Access tokens: compact JWS with `alg: EdDSA` (RFC 8037) over Ed25519.
//!
//! The private key is a JWK (`kty: OKP`, `crv: Ed25519`, `d`, `x`, `kid`) held only by auth's
//! issuing components (variable `jwt_private_key`); everyone verifies with the JWKS in
//! `jwt_public_keys`, choosing the key by the header's `kid`, so keys can be rotated by publishing
//! the new public key before signing with it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest token accepted: a bound on work before the signature is checked.
pub const ACCESS_TOKEN_BYTES_MAX: usize = 4096;
/// Clock skew tolerated on `exp` and `iat`.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The session id (one per login; the refresh-token family).
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// When the user last proved who they are (login or step-up), Unix seconds.
    pub auth_time: i64,
    /// Authentication methods (RFC 8176): `pwd`, `otp`, `fed`, ...
    pub amr: Vec<String>,
    pub roles: Vec<String>,
    /// Unique per token.
    pub jti: Uuid,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    kid: String,
}

/// One JSON Web Key as the platform uses them (OKP / Ed25519).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub kid: String,
    pub x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// A JWK Set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Why a key or token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is signed with an unknown key")]
    UnknownKey,
    #[error("the token's signature is wrong")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is for another issuer or audience")]
    WrongAudience,
    #[error("key configuration: {0}")]
    BadKey(String),
}

fn decode_key_bytes(field: &str, value: &str) -> Result<[u8; 32], TokenError> {
    let bytes = B64
        .decode(value)
        .map_err(|_| TokenError::BadKey(format!("`{field}` is not base64url")))?;
    bytes
        .try_into()
        .map_err(|_| TokenError::BadKey(format!("`{field}` is not 32 bytes")))
}

fn check_okp(jwk: &Jwk) -> Result<(), TokenError> {
    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
        return Err(TokenError::BadKey(format!(
            "key `{}` is not an OKP Ed25519 key",
            jwk.kid
        )));
    }
    Ok(())
}

/// A private signing key with its id.
pub struct TokenSigner {
    kid: String,
    key: SigningKey,
}

impl TokenSigner {
    /// From a private JWK (the `jwt_private_key` variable).
    pub fn from_jwk_json(json: &str) -> Result<Self, TokenError> {
        let jwk: Jwk = serde_json::from_str(json)
            .map_err(|e| TokenError::BadKey(format!("not a JWK: {e}")))?;
        check_okp(&jwk)?;
        let d = jwk
            .d
            .as_deref()
            .ok_or_else(|| TokenError::BadKey("the private key has no `d`".into()))?;
        let key = SigningKey::from_bytes(&decode_key_bytes("d", d)?);
        if B64.encode(key.verifying_key().as_bytes()) != jwk.x {
            return Err(TokenError::BadKey(
                "`x` does not match the private key".into(),
            ));
        }
        Ok(Self { kid: jwk.kid, key })
    }

    /// From 32 secret bytes (key generation in tools and tests).
    pub fn from_secret_bytes(kid: &str, secret: &[u8; 32]) -> Self {
        Self {
            kid: kid.to_string(),
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The private JWK.
    pub fn private_jwk(&self) -> Jwk {
        Jwk {
            d: Some(B64.encode(self.key.to_bytes())),
            ..self.public_jwk()
        }
    }

    /// The public JWK to publish.
    pub fn public_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            kid: self.kid.clone(),
            x: B64.encode(self.key.verifying_key().as_bytes()),
            d: None,
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    /// Signs claims into a compact JWS.
    pub fn sign(&self, claims: &AccessClaims) -> String {
        let header = Header {
            alg: "EdDSA".into(),
            typ: Some("JWT".into()),
            kid: self.kid.clone(),
        };
        let signing_input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).unwrap_or_default()),
            B64.encode(serde_json::to_vec(claims).unwrap_or_default())
        );
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }
}

/// The public keys and the expected issuer and audience.
pub struct TokenVerifier {
    keys: Vec<(String, VerifyingKey)>,
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    /// From a JWKS (the `jwt_public_keys` variable); private members (`d`) are refused, so a
    /// misconfigured private key never ends up in every component.
    pub fn from_jwks_json(json: &str, issuer: &str, audience: &str) -> Result<Self, TokenError> {
        let jwks: Jwks = serde_json::from_str(json)
            .map_err(|e| TokenError::BadKey(format!("not a JWKS: {e}")))?;
        let mut keys = Vec::with_capacity(jwks.keys.len());
        for jwk in &jwks.keys {
            check_okp(jwk)?;
            if jwk.d.is_some() {
                return Err(TokenError::BadKey(format!(
                    "key `{}` in the public JWKS carries a private part",
                    jwk.kid
                )));
            }
            let key = VerifyingKey::from_bytes(&decode_key_bytes("x", &jwk.x)?).map_err(|_| {
                TokenError::BadKey(format!("key `{}` is not a valid point", jwk.kid))
            })?;
            keys.push((jwk.kid.clone(), key));
        }
        if keys.is_empty() {
            return Err(TokenError::BadKey("the JWKS has no keys".into()));
        }
        Ok(Self {
            keys,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
    }

    /// Verifies signature, issuer, audience and expiry at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let parts = split(token)?;
        let key = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == parts.header.kid)
            .map(|(_, k)| k)
            .ok_or(TokenError::UnknownKey)?;
        let signature: [u8; 64] = B64
            .decode(parts.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(TokenError::Malformed)?;
        key.verify(
            parts.signing_input.as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| TokenError::BadSignature)?;
        checked_claims(parts.claims, &self.issuer, &self.audience, now)
    }
}

/// A compact JWS taken apart (header decoded, the rest still base64url).
struct Parts<'a> {
    header: Header,
    /// `header.claims`, what the signature covers.
    signing_input: &'a str,
    claims: &'a str,
    signature: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, TokenError> {
    if token.len() > ACCESS_TOKEN_BYTES_MAX {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Header = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Malformed);
    }
    Ok(Parts {
        header,
        signing_input: &token[..h.len() + 1 + c.len()],
        claims: c,
        signature: s,
    })
}

/// Decodes the claims and checks issuer, audience and the time window.
fn checked_claims(
    claims_b64: &str,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    let claims: AccessClaims = B64
        .decode(claims_b64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    if claims.iss != issuer || claims.aud != audience {
        return Err(TokenError::WrongAudience);
    }
    if claims.exp + CLOCK_SKEW_SECS <= now || claims.iat - CLOCK_SKEW_SECS > now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// Reads and checks a token's claims (structure, `alg`, issuer, audience, expiry) *without* its
/// signature: only for a token whose exact bytes were verified before (the extractor's cache), or
/// to refuse a malformed or expired one before any cryptography.
pub fn read_claims_unverified(
    token: &str,
    issuer: &str,
    audience: &str,
    now: i64,
) -> Result<AccessClaims, TokenError> {
    checked_claims(split(token)?.claims, issuer, audience, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(kid: &str, seed: u8) -> TokenSigner {
        TokenSigner::from_secret_bytes(kid, &[seed; 32])
    }

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "nexgate".into(),
            aud: "nexgate".into(),
            sub: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            iat: now,
            exp: now + 900,
            auth_time: now,
            amr: vec!["pwd".into()],
            roles: vec![],
            jti: Uuid::now_v7(),
        }
    }

    fn jwks(signers: &[&TokenSigner]) -> String {
        serde_json::to_string(&Jwks {
            keys: signers.iter().map(|s| s.public_jwk()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn a_signed_token_verifies_with_the_published_key() {
        let s = signer("k1", 7);
        let v = TokenVerifier::from_jwks_json(&jwks(&[&s]), "nexgate", "nexgate").unwrap();
        let c = claims(1_000_000);
        assert_eq!(v.verify(&s.sign(&c), 1_000_100).unwrap(), c);
    }

    #[test]
    fn the_private_jwk_round_trips() {
        let s = signer("k1", 9);
        let json = serde_json::to_string(&s.private_jwk()).unwrap();
        let back = TokenSigner::from_jwk_json(&json).unwrap();
        assert_eq!(back.public_jwk().x, s.public_jwk().x);
    }

    #[test]
    fn tampering_expiry_and_foreign_keys_are_refused() {
        let s = signer("k1", 7);
        let other = signer("k1", 8);
        let v = TokenVerifier::from_jwks_json(&jwks(&[&s]), "nexgate", "nexgate").unwrap();
        let c = claims(1_000_000);
        let token = s.sign(&c);
        assert_eq!(
            v.verify(&token, 1_000_000 + 900 + CLOCK_SKEW_SECS),
            Err(TokenError::Expired)
        );
        assert_eq!(
            v.verify(&other.sign(&c), 1_000_000),
            Err(TokenError::BadSignature)
        );
        let mut forged = c.clone();
        forged.roles = vec!["operator".into()];
        let forged_body = B64.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let spliced = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert_eq!(v.verify(&spliced, 1_000_000), Err(TokenError::BadSignature));
        let unknown = signer("k2", 7).sign(&c);
        assert_eq!(v.verify(&unknown, 1_000_000), Err(TokenError::UnknownKey));
        assert_eq!(v.verify("a.b", 1_000_000), Err(TokenError::Malformed));
        let wrong_aud = TokenVerifier::from_jwks_json(&jwks(&[&s]), "nexgate", "other").unwrap();
        assert_eq!(
            wrong_aud.verify(&token, 1_000_000),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn unverified_reading_checks_everything_but_the_signature() {
        let s = signer("k1", 7);
        let c = claims(1_000_000);
        let token = s.sign(&c);
        assert_eq!(
            read_claims_unverified(&token, "nexgate", "nexgate", 1_000_000).unwrap(),
            c
        );
        assert_eq!(
            read_claims_unverified(&token, "nexgate", "other", 1_000_000),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            read_claims_unverified(&token, "nexgate", "nexgate", 1_000_000 + 2000),
            Err(TokenError::Expired)
        );
        assert_eq!(
            read_claims_unverified("a.b", "nexgate", "nexgate", 0),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn rotation_verifies_tokens_of_every_published_key() {
        let old = signer("2026-01", 1);
        let new = signer("2026-02", 2);
        let v = TokenVerifier::from_jwks_json(&jwks(&[&old, &new]), "nexgate", "nexgate").unwrap();
        let c = claims(5_000);
        assert!(v.verify(&old.sign(&c), 5_000).is_ok());
        assert!(v.verify(&new.sign(&c), 5_000).is_ok());
    }

    #[test]
    fn a_public_jwks_with_a_private_part_is_refused() {
        let s = signer("k1", 7);
        let json = serde_json::to_string(&Jwks {
            keys: vec![s.private_jwk()],
        })
        .unwrap();
        assert!(matches!(
            TokenVerifier::from_jwks_json(&json, "a", "b"),
            Err(TokenError::BadKey(_))
        ));
    }
}
