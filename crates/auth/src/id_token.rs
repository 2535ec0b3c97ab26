//! Identity-provider ID tokens (Google, Apple): RS256 compact JWS checked against the provider's
//! JWKS — signature, issuer, audience, expiry, issue time, and the nonce when the client gave one.
//! Pure (no I/O), so it is unit-tested natively and runs the same in the component.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Tolerated clock difference with the provider.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Longest ID token accepted.
pub const ID_TOKEN_BYTES_MAX: usize = 8 * 1024;
/// Smallest RSA modulus accepted, in bits.
pub const RSA_BITS_MIN: usize = 2048;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    Malformed,
    /// No key with the token's `kid` (the caller may refresh the JWKS once and retry).
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NonceMismatch,
}

impl std::fmt::Display for IdTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the token is not an RS256 JWT",
            Self::UnknownKey => "the token is signed with a key the provider does not publish",
            Self::BadSignature => "the token's signature does not verify",
            Self::WrongIssuer => "the token was not issued by the provider",
            Self::WrongAudience => "the token was issued for another application",
            Self::Expired => "the token has expired (or is not valid yet)",
            Self::NonceMismatch => "the token's nonce is not the one given",
        })
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// `aud` is a string or an array of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// `email_verified` is a boolean (Google) or the string "true"/"false" (Apple).
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    aud: Audience,
    sub: String,
    exp: i64,
    iat: Option<i64>,
    nonce: Option<String>,
    azp: Option<String>,
    email: Option<String>,
    email_verified: Option<Flag>,
    name: Option<String>,
}

/// What an identity provider vouched for (from a verified ID token, or Facebook's Graph API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub subject: String,
    pub email: Option<String>,
    /// Only true when the provider says so.
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Who must have issued the token, for whom, and the nonce the client sent (if any).
pub struct Expectations<'a> {
    pub issuers: &'a [String],
    pub audiences: &'a [String],
    pub now: i64,
    pub nonce: Option<&'a str>,
}

/// Verifies `token` against `jwks_json`.
pub fn verify(
    token: &str,
    jwks_json: &str,
    expect: &Expectations<'_>,
) -> Result<IdClaims, IdTokenError> {
    if token.len() > ID_TOKEN_BYTES_MAX {
        return Err(IdTokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdTokenError::Malformed);
    };
    let decode = |part: &str| B64.decode(part).map_err(|_| IdTokenError::Malformed);
    let header: Header =
        serde_json::from_slice(&decode(h)?).map_err(|_| IdTokenError::Malformed)?;
    // Only RS256: `none`, HS256 (with the public key as the secret) and friends are refused.
    if header.alg != "RS256" {
        return Err(IdTokenError::Malformed);
    }
    let kid = header.kid.ok_or(IdTokenError::Malformed)?;
    let jwks: Jwks = serde_json::from_str(jwks_json).map_err(|_| IdTokenError::UnknownKey)?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| {
            k.kty == "RSA"
                && k.kid.as_deref() == Some(kid.as_str())
                && k.use_.as_deref().is_none_or(|u| u == "sig")
        })
        .ok_or(IdTokenError::UnknownKey)?;
    let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
        return Err(IdTokenError::UnknownKey);
    };
    let key = RsaPublicKey::new(
        BigUint::from_bytes_be(&decode(n)?),
        BigUint::from_bytes_be(&decode(e)?),
    )
    .map_err(|_| IdTokenError::UnknownKey)?;
    if key.n().bits() < RSA_BITS_MIN {
        return Err(IdTokenError::UnknownKey);
    }
    let signature =
        Signature::try_from(decode(s)?.as_slice()).map_err(|_| IdTokenError::BadSignature)?;
    VerifyingKey::<Sha256>::new(key)
        .verify(&token.as_bytes()[..h.len() + 1 + c.len()], &signature)
        .map_err(|_| IdTokenError::BadSignature)?;

    let claims: RawClaims =
        serde_json::from_slice(&decode(c)?).map_err(|_| IdTokenError::Malformed)?;
    if !expect.issuers.contains(&claims.iss) {
        return Err(IdTokenError::WrongIssuer);
    }
    let for_us = match &claims.aud {
        Audience::One(a) => expect.audiences.contains(a),
        Audience::Many(list) => list.iter().any(|a| expect.audiences.contains(a)),
    };
    // `azp` (the client the token was issued to, set by Google when the audience differs or
    // holds several) must be ours too.
    if !for_us
        || claims
            .azp
            .as_ref()
            .is_some_and(|azp| !expect.audiences.contains(azp))
    {
        return Err(IdTokenError::WrongAudience);
    }
    if claims.exp + CLOCK_SKEW_SECS <= expect.now
        || claims
            .iat
            .is_some_and(|iat| iat - CLOCK_SKEW_SECS > expect.now)
    {
        return Err(IdTokenError::Expired);
    }
    if let Some(given) = expect.nonce {
        // Apple carries the SHA-256 (hex) of the nonce the app generated; Google the nonce itself.
        let hashed = hex::encode(Sha256::digest(given.as_bytes()));
        match &claims.nonce {
            Some(n) if *n == given || *n == hashed => {}
            _ => return Err(IdTokenError::NonceMismatch),
        }
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(IdTokenError::Malformed);
    }
    let email_verified = match claims.email_verified {
        Some(Flag::Bool(b)) => b,
        Some(Flag::Text(t)) => t == "true",
        None => false,
    };
    Ok(IdClaims {
        subject: claims.sub,
        email: claims.email.map(|e| e.trim().to_lowercase()),
        email_verified,
        name: claims.name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::RsaPrivateKey;
    use serde_json::json;

    fn key() -> RsaPrivateKey {
        // A fixed small set of keys would be faster, but generating keeps the test honest.
        let mut rng = rand_core::OsRng;
        RsaPrivateKey::new(&mut rng, 2048).unwrap()
    }

    fn jwks(key: &RsaPrivateKey, kid: &str) -> String {
        let public = key.to_public_key();
        json!({ "keys": [{ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": B64.encode(public.n().to_bytes_be()), "e": B64.encode(public.e().to_bytes_be()) }] })
        .to_string()
    }

    fn sign(key: &RsaPrivateKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = SigningKey::<Sha256>::new(key.clone()).sign(input.as_bytes());
        format!("{input}.{}", B64.encode(sig.to_bytes()))
    }

    #[test]
    fn a_good_token_passes_and_every_broken_promise_is_refused() {
        let k = key();
        let other = key();
        let keys = jwks(&k, "k1");
        let issuers = vec!["https://accounts.google.com".to_string()];
        let audiences = vec!["app.example".to_string()];
        let now = 1_800_000_000;
        let expect = Expectations {
            issuers: &issuers,
            audiences: &audiences,
            now,
            nonce: Some("n-123"),
        };
        let header = json!({ "alg": "RS256", "kid": "k1", "typ": "JWT" });
        let claims = json!({ "iss": "https://accounts.google.com", "aud": "app.example", "sub": "1001",
            "exp": now + 600, "iat": now, "nonce": "n-123", "email": "Amina@Example.com", "email_verified": true });
        let ok = verify(&sign(&k, header.clone(), claims.clone()), &keys, &expect).unwrap();
        assert_eq!(ok.subject, "1001");
        assert_eq!(ok.email.as_deref(), Some("amina@example.com"));
        assert!(ok.email_verified);

        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims.clone();
            f(&mut c);
            verify(&sign(&k, header.clone(), c), &keys, &expect)
        };
        assert_eq!(
            with(&|c| c["aud"] = json!("other.app")),
            Err(IdTokenError::WrongAudience)
        );
        assert_eq!(
            with(&|c| c["iss"] = json!("https://evil.example")),
            Err(IdTokenError::WrongIssuer)
        );
        assert_eq!(
            with(&|c| c["exp"] = json!(now - 120)),
            Err(IdTokenError::Expired)
        );
        assert_eq!(
            with(&|c| c["nonce"] = json!("other")),
            Err(IdTokenError::NonceMismatch)
        );
        assert!(with(&|c| c["aud"] = json!(["x", "app.example"])).is_ok());
        assert!(with(&|c| c["azp"] = json!("app.example")).is_ok());
        assert_eq!(
            with(&|c| c["azp"] = json!("someone-elses-client")),
            Err(IdTokenError::WrongAudience)
        );
        // Apple: the nonce's SHA-256, email_verified as a string.
        let hashed = hex::encode(Sha256::digest(b"n-123"));
        let apple = with(&|c| {
            c["nonce"] = json!(hashed);
            c["email_verified"] = json!("false");
        })
        .unwrap();
        assert!(!apple.email_verified);

        // Signed by a key the provider does not publish under that kid, or tampered with.
        assert_eq!(
            verify(
                &sign(&other, header.clone(), claims.clone()),
                &keys,
                &expect
            ),
            Err(IdTokenError::BadSignature)
        );
        let unknown = json!({ "alg": "RS256", "kid": "k9" });
        assert_eq!(
            verify(&sign(&k, unknown, claims.clone()), &keys, &expect),
            Err(IdTokenError::UnknownKey)
        );
        let good = sign(&k, header.clone(), claims.clone());
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_claims = B64.encode(
            json!({ "iss": "https://accounts.google.com", "aud": "app.example",
            "sub": "1", "exp": now + 600 })
            .to_string(),
        );
        parts[1] = &forged_claims;
        assert_eq!(
            verify(&parts.join("."), &keys, &expect),
            Err(IdTokenError::BadSignature)
        );
        // alg none / HS256 are refused before any key is looked at.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","kid":"k1"}"#),
            B64.encode(claims.to_string())
        );
        assert_eq!(verify(&none, &keys, &expect), Err(IdTokenError::Malformed));
    }
}
