//! A local simulator of the identity providers the auth service talks to, speaking their real
//! wire formats: Google's and Apple's JWKS (`/oauth2/v3/certs`, `/auth/keys`) with RS256-signed
//! ID tokens it issues, and Facebook's Graph API (`/v19.0/debug_token`, `/v19.0/me` with
//! `appsecret_proof`) for user access tokens it issues.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;

/// Facebook app credentials the simulator accepts.
pub const FACEBOOK_APP_ID: &str = "1234567890";
pub const FACEBOOK_APP_SECRET: &str = "fb-simulated-app-secret";

struct FacebookUser {
    id: String,
    name: String,
    email: Option<String>,
    app_id: String,
    expires_at: i64,
}

#[derive(Default)]
struct State {
    /// kid → key, per provider ("google", "apple").
    keys: HashMap<&'static str, Vec<(String, RsaPrivateKey)>>,
    facebook_tokens: HashMap<String, FacebookUser>,
    /// Requests per path, to see caching.
    hits: HashMap<String, usize>,
}

#[derive(Clone)]
pub struct ProviderSimulator {
    pub origin: String,
    state: Arc<Mutex<State>>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn new_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key")
}

impl ProviderSimulator {
    /// Starts on a free port with one signing key per provider.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener)
    }

    /// Serves on `listener` with one signing key per provider.
    pub fn start_on(listener: tokio::net::TcpListener) -> Self {
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let mut state = State::default();
        state.keys.insert("google", vec![("g1".into(), new_key())]);
        state.keys.insert("apple", vec![("a1".into(), new_key())]);
        let sim = Self {
            origin,
            state: Arc::new(Mutex::new(state)),
        };
        let served = sim.clone();
        crate::serve_http(listener, move |req| {
            let answer = served.answer(req);
            async move { answer }
        });
        sim
    }

    /// How many times `path` was requested.
    pub fn hits(&self, path: &str) -> usize {
        *self.state.lock().unwrap().hits.get(path).unwrap_or(&0)
    }

    /// Adds a new signing key (a rotation); later tokens are signed with it.
    pub fn rotate(&self, provider: &'static str) {
        let mut st = self.state.lock().unwrap();
        let keys = st.keys.get_mut(provider).unwrap();
        let kid = format!("{}{}", &provider[..1], keys.len() + 1);
        keys.push((kid, new_key()));
    }

    /// An RS256 ID token with these claims, signed with the provider's newest key.
    pub fn id_token(&self, provider: &'static str, claims: Value) -> String {
        let st = self.state.lock().unwrap();
        let (kid, key) = st.keys[provider].last().unwrap();
        sign(key, kid, &claims)
    }

    /// A token signed by a key the provider never published (a forgery).
    pub fn forged_id_token(&self, provider: &'static str, claims: Value) -> String {
        let st = self.state.lock().unwrap();
        let (kid, _) = st.keys[provider].last().unwrap();
        sign(&new_key(), kid, &claims)
    }

    /// Google-shaped claims for `sub`, valid for an hour.
    pub fn google_claims(aud: &str, sub: &str, email: &str, verified: bool) -> Value {
        json!({ "iss": "https://accounts.google.com", "aud": aud, "azp": aud, "sub": sub,
                "email": email, "email_verified": verified, "name": "Amina Google",
                "iat": now(), "exp": now() + 3600 })
    }

    /// Apple-shaped claims (email_verified as a string; no name).
    pub fn apple_claims(aud: &str, sub: &str, email: &str, nonce_sha256: Option<&str>) -> Value {
        let mut c = json!({ "iss": "https://appleid.apple.com", "aud": aud, "sub": sub,
                "email": email, "email_verified": "true", "is_private_email": "false",
                "iat": now(), "exp": now() + 600, "auth_time": now() });
        if let Some(n) = nonce_sha256 {
            c["nonce"] = json!(n);
            c["nonce_supported"] = json!(true);
        }
        c
    }

    /// Issues a Facebook user access token for `app_id`.
    pub fn facebook_token(
        &self,
        app_id: &str,
        id: &str,
        name: &str,
        email: Option<&str>,
        ttl: i64,
    ) -> String {
        let token = format!("EAAB{}", uuid::Uuid::new_v4().simple());
        self.state.lock().unwrap().facebook_tokens.insert(
            token.clone(),
            FacebookUser {
                id: id.into(),
                name: name.into(),
                email: email.map(str::to_string),
                app_id: app_id.into(),
                expires_at: now() + ttl,
            },
        );
        token
    }

    fn jwks(&self, provider: &'static str) -> Value {
        let st = self.state.lock().unwrap();
        let keys: Vec<Value> = st.keys[provider]
            .iter()
            .map(|(kid, k)| {
                let p = k.to_public_key();
                json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": B64.encode(p.n().to_bytes_be()), "e": B64.encode(p.e().to_bytes_be()) })
            })
            .collect();
        json!({ "keys": keys })
    }

    fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        *self
            .state
            .lock()
            .unwrap()
            .hits
            .entry(path.clone())
            .or_default() += 1;
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), percent_decode(v)))
            .collect();
        let (status, body) = match path.as_str() {
            "/oauth2/v3/certs" => (200, self.jwks("google")),
            "/auth/keys" => (200, self.jwks("apple")),
            "/v19.0/debug_token" => self.debug_token(&query),
            "/v19.0/me" => self.me(&query),
            _ => (404, json!({ "error": "not found" })),
        };
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    }

    fn debug_token(&self, q: &HashMap<String, String>) -> (u16, Value) {
        let app_token = format!("{FACEBOOK_APP_ID}|{FACEBOOK_APP_SECRET}");
        if q.get("access_token") != Some(&app_token) {
            return (
                400,
                json!({ "error": { "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190 } }),
            );
        }
        let st = self.state.lock().unwrap();
        match q.get("input_token").and_then(|t| st.facebook_tokens.get(t)) {
            Some(u) => (
                200,
                json!({ "data": { "app_id": u.app_id, "type": "USER", "application": "Nexgate",
                "expires_at": u.expires_at, "is_valid": u.expires_at > now(), "issued_at": now() - 60,
                "scopes": ["email", "public_profile"], "user_id": u.id } }),
            ),
            None => (
                200,
                json!({ "data": { "error": { "code": 190, "message": "Invalid OAuth access token." }, "is_valid": false, "scopes": [] } }),
            ),
        }
    }

    fn me(&self, q: &HashMap<String, String>) -> (u16, Value) {
        let st = self.state.lock().unwrap();
        let Some(token) = q.get("access_token") else {
            return (
                400,
                json!({ "error": { "message": "An active access token must be used", "code": 2500 } }),
            );
        };
        let proof = {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<Sha256>::new_from_slice(FACEBOOK_APP_SECRET.as_bytes()).unwrap();
            mac.update(token.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        };
        if q.get("appsecret_proof") != Some(&proof) {
            return (
                400,
                json!({ "error": { "message": "Invalid appsecret_proof provided in the API argument", "code": 100 } }),
            );
        }
        match st.facebook_tokens.get(token) {
            Some(u) if u.expires_at > now() => {
                let mut v = json!({ "id": u.id, "name": u.name });
                if let Some(e) = &u.email {
                    v["email"] = json!(e);
                }
                (200, v)
            }
            _ => (
                400,
                json!({ "error": { "message": "Error validating access token", "code": 190 } }),
            ),
        }
    }
}

fn sign(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let header = json!({ "alg": "RS256", "kid": kid, "typ": "JWT" });
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = SigningKey::<Sha256>::new(key.clone()).sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}
