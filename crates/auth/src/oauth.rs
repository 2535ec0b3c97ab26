//! `POST /auth/oauth/{google|apple|facebook}`: sign in (or up) with an identity provider.
//!
//! - Google and Apple: the app sends the provider's **ID token**; it is verified here
//!   ([`crate::id_token`]) against the provider's JWKS (cached in Redis for an hour, fetched again
//!   once on an unknown `kid`), with the issuer, our client ids as audience (and `azp` when set),
//!   expiry, and a **server-issued, single-use nonce** (`POST /auth/oauth/nonce`, ten minutes):
//!   the token must carry it (Apple: its SHA-256), and the sign-in spends it.
//! - Facebook: the app sends a user **access token**; Graph's `debug_token` (with our app token)
//!   must say it is valid, for our app, not expired; `/me` (with `appsecret_proof`) gives the id,
//!   name and email. Facebook does not say an email is verified, so it never links by email.
//!
//! Then: a known `(provider, subject)` logs its account in; else a verified provider email that
//! is some account's (verified) email links to that account (`auth.identity.linked` tells the
//! owner); else a new account is created with its profile (a username from the request, or made
//! from the name or email). Apple sends the user's name only on the first sign-in, in the request
//! (`user.name`): it is kept with the identity. Accounts with MFA get the same challenge as a
//! password login. Provider endpoints are variables, so tests run against local simulators.

use hmac::{Hmac, Mac};
use nexgate_events::catalogue::auth::{AccountCreated, IdentityLinked};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::config::var;
use nexgate_platform::db::{constraint, open, query, transaction};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use spin_sdk::redis::RedisParameter;
use uuid::Uuid;

use crate::device::{Device, DeviceInput};
use crate::events::SCHEMA;
use crate::http::{client_ip, content_type, json as json_response, limit_bucket};
use crate::id_token::{self, Expectations, IdClaims, IdTokenError};
use crate::rate_limit;
use crate::secrets::{new_refresh_token, sha256_hex};
use crate::session;
use crate::settings::Settings;
use nexgate_events::outbox::Outbox;

/// How long a provider's JWKS is kept in Redis.
pub const JWKS_CACHE_SECS: u64 = 3600;
/// Longest provider answer read.
const PROVIDER_BODY_BYTES_MAX: usize = 256 * 1024;
/// Graph API version of the Facebook calls.
pub const FACEBOOK_GRAPH_VERSION: &str = "v19.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Apple,
    Facebook,
}

impl Provider {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Self::Google),
            "apple" => Some(Self::Apple),
            "facebook" => Some(Self::Facebook),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Apple => "apple",
            Self::Facebook => "facebook",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppleName {
    #[serde(rename = "firstName")]
    first_name: Option<String>,
    #[serde(rename = "lastName")]
    last_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppleUser {
    name: Option<AppleName>,
    /// Apple repeats the email here; the ID token's is the one trusted.
    #[allow(dead_code)]
    email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuthBody {
    id_token: Option<String>,
    access_token: Option<String>,
    nonce: Option<String>,
    device: DeviceInput,
    /// For a new account: the username to claim (else one is made).
    username: Option<String>,
    display_name: Option<String>,
    /// Apple's first-sign-in user object, as the app received it.
    user: Option<AppleUser>,
}

fn list(name: &str) -> Result<Vec<String>, Problem> {
    Ok(var(name)
        .map_err(Problem::internal)?
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect())
}

fn token_refused(why: impl std::fmt::Display) -> Problem {
    Problem::new(
        401,
        "provider_token_invalid",
        "The provider's token is not valid",
    )
    .with_detail(why.to_string())
}

fn provider_unreachable(provider: Provider) -> Problem {
    Problem::unavailable(format!("the {} sign-in service", provider.as_str()))
}

/// GET a provider URL; (status, body).
async fn fetch(provider: Provider, url: &str) -> Result<(u16, Vec<u8>), Problem> {
    let req = Request::builder().method(Method::Get).uri(url).build();
    let resp: Response = spin_sdk::http::send(req).await.map_err(|e| {
        eprintln!("auth: {} unreachable: {e}", provider.as_str());
        provider_unreachable(provider)
    })?;
    let mut body = resp.body().to_vec();
    body.truncate(PROVIDER_BODY_BYTES_MAX);
    Ok((*resp.status(), body))
}

/// The provider's JWKS, from Redis or fetched (and cached) when absent or `refresh`.
async fn jwks(
    settings: &Settings,
    provider: Provider,
    url: &str,
    refresh: bool,
) -> Result<String, Problem> {
    let key = settings.redis_key(&["oauth", "jwks", provider.as_str()]);
    let redis = settings.redis()?;
    if !refresh {
        if let Ok(Some(cached)) = redis.get(&key) {
            if let Ok(text) = String::from_utf8(cached) {
                return Ok(text);
            }
        }
    }
    let (status, body) = fetch(provider, url).await?;
    if status != 200 {
        eprintln!("auth: {} JWKS answered {status}", provider.as_str());
        return Err(provider_unreachable(provider));
    }
    let text = String::from_utf8(body).map_err(|_| provider_unreachable(provider))?;
    let _ = redis.execute(
        "SET",
        &[
            spin_sdk::redis::RedisParameter::Binary(key.into_bytes()),
            spin_sdk::redis::RedisParameter::Binary(text.clone().into_bytes()),
            spin_sdk::redis::RedisParameter::Binary(b"EX".to_vec()),
            spin_sdk::redis::RedisParameter::Int64(JWKS_CACHE_SECS as i64),
        ],
    );
    Ok(text)
}

async fn verify_id_token(
    settings: &Settings,
    provider: Provider,
    token: &str,
    nonce: Option<&str>,
) -> Result<IdClaims, Problem> {
    let (origin_var, path, clients_var, issuers) = match provider {
        Provider::Google => (
            "oauth_google_origin",
            "/oauth2/v3/certs",
            "oauth_google_client_ids",
            vec![
                "https://accounts.google.com".to_string(),
                "accounts.google.com".to_string(),
            ],
        ),
        Provider::Apple => (
            "oauth_apple_origin",
            "/auth/keys",
            "oauth_apple_client_ids",
            vec!["https://appleid.apple.com".to_string()],
        ),
        Provider::Facebook => unreachable!("Facebook sends access tokens"),
    };
    let audiences = list(clients_var)?;
    if audiences.is_empty() {
        return Err(provider_disabled(provider));
    }
    let url = format!(
        "{}{path}",
        var(origin_var)
            .map_err(Problem::internal)?
            .trim_end_matches('/')
    );
    let expect = Expectations {
        issuers: &issuers,
        audiences: &audiences,
        now: nexgate_platform::time::now_unix().0,
        nonce,
    };
    let keys = jwks(settings, provider, &url, false).await?;
    match id_token::verify(token, &keys, &expect) {
        // The provider may have rotated its keys since we cached them: fetch once more.
        Err(IdTokenError::UnknownKey) => {
            let keys = jwks(settings, provider, &url, true).await?;
            id_token::verify(token, &keys, &expect).map_err(token_refused)
        }
        other => other.map_err(token_refused),
    }
}

fn provider_disabled(provider: Provider) -> Problem {
    Problem::new(
        404,
        "provider_not_configured",
        "This sign-in provider is not available",
    )
    .with_detail(format!("{} sign-in is not configured", provider.as_str()))
}

async fn verify_facebook(token: &str) -> Result<IdClaims, Problem> {
    let provider = Provider::Facebook;
    let app_id = var("oauth_facebook_app_id").map_err(Problem::internal)?;
    let app_secret = var("oauth_facebook_app_secret").map_err(Problem::internal)?;
    if app_id.is_empty() || app_secret.is_empty() {
        return Err(provider_disabled(provider));
    }
    let origin = var("oauth_facebook_origin").map_err(Problem::internal)?;
    let graph = format!("{}/{FACEBOOK_GRAPH_VERSION}", origin.trim_end_matches('/'));
    let enc = |s: &str| nexgate_platform::sigv4::uri_encode(s, false);
    let (status, body) = fetch(
        provider,
        &format!(
            "{graph}/debug_token?input_token={}&access_token={}",
            enc(token),
            enc(&format!("{app_id}|{app_secret}"))
        ),
    )
    .await?;
    let debug: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status >= 500 {
        return Err(provider_unreachable(provider));
    }
    let data = &debug["data"];
    if status != 200 || data["is_valid"] != true {
        return Err(token_refused("Facebook says the token is not valid"));
    }
    if data["app_id"].as_str() != Some(app_id.as_str()) {
        return Err(token_refused(
            "the token was issued for another application",
        ));
    }
    let now = nexgate_platform::time::now_unix().0;
    if data["expires_at"]
        .as_i64()
        .is_some_and(|e| e != 0 && e <= now)
    {
        return Err(token_refused("the token has expired"));
    }
    let user_id = data["user_id"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| token_refused("the token names no user"))?
        .to_string();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).map_err(Problem::internal)?;
    mac.update(token.as_bytes());
    let proof = hex::encode(mac.finalize().into_bytes());
    let (status, body) = fetch(
        provider,
        &format!(
            "{graph}/me?fields=id,name,email&access_token={}&appsecret_proof={proof}",
            enc(token)
        ),
    )
    .await?;
    if status >= 500 {
        return Err(provider_unreachable(provider));
    }
    let me: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 || me["id"].as_str() != Some(user_id.as_str()) {
        return Err(token_refused("Facebook did not confirm the user"));
    }
    Ok(IdClaims {
        subject: user_id,
        email: me["email"].as_str().map(|e| e.trim().to_lowercase()),
        // Facebook does not say whether an email is verified: never link by it.
        email_verified: false,
        name: me["name"].as_str().map(str::to_string),
    })
}

/// A username made from a name or an email: letters, digits and `_`, plus four random digits.
fn username_candidate(seed: &str) -> String {
    let mut base: String = seed
        .chars()
        .filter_map(|c| {
            let c = c.to_ascii_lowercase();
            (c.is_ascii_alphanumeric() || c == '_').then_some(c)
        })
        .take(20)
        .collect();
    if base.len() < 3 {
        base = "user".into();
    }
    let mut n = [0u8; 2];
    let _ = getrandom::fill(&mut n);
    format!("{base}{:04}", u16::from_le_bytes(n) % 10_000)
}

fn username_problem(conn: &Connection, name: &str) -> Result<Option<String>, Problem> {
    query(
        conn,
        "SELECT profiles.username_problem($1) AS problem",
        &[P::Str(name.to_string())],
    )?
    .value(0, "problem")
}

/// The account an identity belongs to, if any.
pub(crate) fn account_of(
    conn: &Connection,
    provider: Provider,
    subject: &str,
) -> Result<Option<Uuid>, Problem> {
    let rows = query(
        conn,
        "SELECT account_id FROM auth.oauth_identities WHERE provider = $1 AND subject = $2",
        &[P::Str(provider.as_str().into()), P::Str(subject.into())],
    )?;
    if rows.is_empty() {
        Ok(None)
    } else {
        Ok(Some(rows.value(0, "account_id")?))
    }
}

enum Outcome {
    Existing(Uuid),
    Linked(Uuid),
    Created(Uuid),
}

/// How long a sign-in nonce waits for its ID token.
pub const NONCE_TTL_SECS: i64 = 600;
/// Nonces handed to one client address (IPv6: its /64) per minute.
const NONCES_PER_SOURCE_PER_MINUTE_MAX: i64 = 30;
/// Longest nonce accepted back (ours are 43 characters).
const NONCE_CHARS_MAX: usize = 128;

fn nonce_key(settings: &Settings, nonce: &str) -> String {
    settings.redis_key(&["oauth", "nonce", &sha256_hex(nonce)])
}

/// `POST /auth/oauth/nonce`: a single-use nonce (256 bits) for the app to put into its Google or
/// Apple sign-in request (Apple: its SHA-256 in hex), then send back with the ID token. It lives
/// in Redis, by its hash, for [`NONCE_TTL_SECS`]; a sign-in spends it, so an ID token cannot be
/// replayed (a stolen one, or one issued to another app's flow).
pub fn issue_nonce(req: &Request) -> Result<Response, Problem> {
    let settings = Settings::from_variables()?;
    let redis = settings.redis()?;
    if let Some(ip) = client_ip(req) {
        let minute = rate_limit::Rule {
            limit: NONCES_PER_SOURCE_PER_MINUTE_MAX,
            window_ms: 60_000,
            lockout_base_ms: 60_000,
            lockout_max_ms: 60_000,
        };
        let key = settings.redis_key(&["oauth", "nonces", "ip", &limit_bucket(&ip)]);
        rate_limit::count_or_refuse(&redis, &key, minute, "oauth nonce")?;
    }
    let nonce = new_refresh_token().map_err(Problem::internal)?;
    let stored = redis.execute(
        "SET",
        &[
            RedisParameter::Binary(nonce_key(&settings, &nonce).into_bytes()),
            RedisParameter::Binary(b"1".to_vec()),
            RedisParameter::Binary(b"EX".to_vec()),
            RedisParameter::Int64(NONCE_TTL_SECS),
        ],
    );
    if let Err(e) = stored {
        eprintln!("auth: nonce not stored: {e:?}");
        return Err(Problem::unavailable("the session store is unavailable"));
    }
    Ok(json_response(
        201,
        &json!({ "nonce": nonce, "expires_in": NONCE_TTL_SECS }),
    ))
}

/// The nonce a Google or Apple sign-in must carry (checked for shape; spent after the token).
fn required_nonce(nonce: Option<&str>) -> Result<&str, Problem> {
    match nonce {
        Some(n) if !n.is_empty() && n.len() <= NONCE_CHARS_MAX => Ok(n),
        Some(_) => Err(Problem::invalid_field("nonce", "is not one we issued")),
        None => Err(Problem::invalid_field(
            "nonce",
            "is required for google and apple: get one from POST /auth/oauth/nonce",
        )),
    }
}

/// Spends `nonce`: true exactly once, for a nonce we issued that has not expired.
fn spend_nonce(settings: &Settings, nonce: &str) -> Result<(), Problem> {
    let redis = settings.redis()?;
    let removed = redis.del(&[nonce_key(settings, nonce)]).map_err(|e| {
        eprintln!("auth: nonce not checked: {e:?}");
        Problem::unavailable("the session store is unavailable")
    })?;
    if removed == 1 {
        return Ok(());
    }
    Err(Problem::new(
        401,
        "nonce_invalid",
        "The sign-in nonce is unknown, used or expired",
    )
    .with_detail("get a new one from POST /auth/oauth/nonce and sign in with the provider again"))
}

/// `POST /auth/oauth/{provider}`.
pub async fn sign_in(req: Request, provider: &str, component: &str) -> Result<Response, Problem> {
    let provider = Provider::parse(provider)
        .ok_or_else(|| Problem::not_found("no such provider: google, apple or facebook"))?;
    let body: OAuthBody = parse_json(req.body(), content_type(&req), JSON_BODY_BYTES_MAX)?;
    let device = Device::parse(body.device.clone(), "device")?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|d| {
            nexgate_names::display_name::parse(d)
                .map_err(|m| Problem::invalid_field("display_name", m))
        })
        .transpose()?;
    let settings = Settings::from_variables()?;
    let identity = verified_identity(&settings, provider, &body.proof()).await?;
    let name = body.apple_name().or(identity.name.clone());
    let ip = client_ip(&req);
    let conn = open(&settings.db_url)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let outcome = match account_of(&conn, provider, &identity.subject)? {
        Some(account) => {
            query(
                &conn,
                "UPDATE auth.oauth_identities SET last_login_at = now(), \
                     display_name = COALESCE(display_name, $3) \
                 WHERE provider = $1 AND subject = $2",
                &[
                    P::Str(provider.as_str().into()),
                    P::Str(identity.subject.clone()),
                    name.clone().map(P::Str).unwrap_or(P::DbNull),
                ],
            )?;
            Outcome::Existing(account)
        }
        None => {
            let first = FirstSignIn {
                provider,
                identity: &identity,
                name: name.as_deref(),
                username: body.username.as_deref(),
                display_name: display_name.as_deref(),
            };
            link_or_create(&conn, &mut outbox, &first)?
        }
    };
    outbox.publish(&conn);
    let (account, created) = match outcome {
        Outcome::Existing(a) | Outcome::Linked(a) => (a, false),
        Outcome::Created(a) => (a, true),
    };
    let mfa_on = !query(
        &conn,
        "SELECT 1 AS on FROM auth.mfa_totp WHERE account_id = $1 AND enabled_at IS NOT NULL",
        &[P::Uuid(account.to_string())],
    )?
    .is_empty();
    if mfa_on {
        return crate::mfa::challenge(&conn, account, &device, ip.as_deref(), "fed");
    }
    let signer = session::signer_from_variables()?;
    let resp = crate::login::finish_login(
        &conn,
        &settings,
        &signer,
        component,
        account,
        &device,
        ip.as_deref(),
        "fed",
    )?;
    if !created {
        return Ok(resp);
    }
    Ok(Response::builder()
        .status(201)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(resp.body().to_vec())
        .build())
}

/// What an app sends as proof of an identity: Facebook's access token, or an ID token with the
/// nonce we issued for it.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProviderProof {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
    pub nonce: Option<String>,
}

impl OAuthBody {
    fn proof(&self) -> ProviderProof {
        ProviderProof {
            id_token: self.id_token.clone(),
            access_token: self.access_token.clone(),
            nonce: self.nonce.clone(),
        }
    }
}

/// The identity the provider vouches for: Facebook's access token, or an ID token bound to a
/// nonce we issued (spent here, once).
pub(crate) async fn verified_identity(
    settings: &Settings,
    provider: Provider,
    body: &ProviderProof,
) -> Result<IdClaims, Problem> {
    if provider == Provider::Facebook {
        let token = body
            .access_token
            .as_deref()
            .ok_or_else(|| Problem::invalid_field("access_token", "is required for facebook"))?;
        return verify_facebook(token).await;
    }
    let token = body
        .id_token
        .as_deref()
        .ok_or_else(|| Problem::invalid_field("id_token", "is required"))?;
    let nonce = required_nonce(body.nonce.as_deref())?;
    let identity = verify_id_token(settings, provider, token, Some(nonce)).await?;
    spend_nonce(settings, nonce)?;
    Ok(identity)
}

impl OAuthBody {
    /// Apple's name comes only once, from the app.
    fn apple_name(&self) -> Option<String> {
        let n = self.user.as_ref()?.name.as_ref()?;
        let joined = [n.first_name.as_deref(), n.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then_some(joined)
    }
}

/// A first sign-in with an identity no account has yet.
struct FirstSignIn<'a> {
    provider: Provider,
    identity: &'a IdClaims,
    /// The person's name, as the provider or the app gave it.
    name: Option<&'a str>,
    /// What the app asked for, for a new account.
    username: Option<&'a str>,
    display_name: Option<&'a str>,
}

impl FirstSignIn<'_> {
    /// The email, when the provider vouches for it.
    fn verified_email(&self) -> Option<&str> {
        self.identity
            .email
            .as_deref()
            .filter(|_| self.identity.email_verified)
            .filter(|e| e.contains('@'))
    }
}

/// Links the identity to the account with the same verified email, or creates an account.
fn link_or_create(
    conn: &Connection,
    outbox: &mut Outbox,
    first: &FirstSignIn<'_>,
) -> Result<Outcome, Problem> {
    // Link: the provider vouches for the email and so does the account (every account email is
    // verified before it is stored, registration and contact change both see to that).
    if let Some(email) = first.verified_email() {
        let rows = query(
            conn,
            "SELECT id FROM auth.accounts WHERE email = $1 AND email_verified_at IS NOT NULL",
            &[P::Str(email.into())],
        )?;
        if !rows.is_empty() {
            let account: Uuid = rows.value(0, "id")?;
            transaction(conn, |conn| -> Result<(), Problem> {
                insert_identity(conn, first.provider, first.identity, account, first.name)?;
                outbox.record(
                    conn,
                    Some(account),
                    ("account", account.to_string()),
                    vec![account],
                    &IdentityLinked {
                        user_id: account,
                        provider: first.provider.as_str().to_string(),
                        email: email.to_string(),
                    },
                )
            })?;
            return Ok(Outcome::Linked(account));
        }
    }
    let username = choose_username(conn, first)?;
    match create_account(conn, outbox, first, username) {
        Ok(account) => Ok(Outcome::Created(account)),
        // A concurrent first sign-in with the same identity won: use its account.
        Err(p) if p.code == "identity_exists" => {
            account_of(conn, first.provider, &first.identity.subject)?
                .map(Outcome::Existing)
                .ok_or(p)
        }
        Err(p) => Err(p),
    }
}

/// The username asked for (checked), or one made from the name or the email's local part.
fn choose_username(conn: &Connection, first: &FirstSignIn<'_>) -> Result<String, Problem> {
    if let Some(u) = first.username {
        if let Some(problem) = username_problem(conn, u)? {
            return Err(Problem::invalid_field("username", problem));
        }
        return Ok(u.to_string());
    }
    let seed = first
        .name
        .map(str::to_string)
        .or_else(|| {
            first
                .identity
                .email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(str::to_string)
        })
        .unwrap_or_default();
    for _ in 0..8 {
        let candidate = username_candidate(&seed);
        if username_problem(conn, &candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Err(Problem::invalid_field("username", "choose a username"))
}

/// A new account, its profile and its identity, in one transaction.
fn create_account(
    conn: &Connection,
    outbox: &mut Outbox,
    first: &FirstSignIn<'_>,
    username: String,
) -> Result<Uuid, Problem> {
    let display = first
        .display_name
        .map(str::to_string)
        .or_else(|| first.name.map(|n| n.chars().take(50).collect()))
        .filter(|d| !d.trim().is_empty())
        .unwrap_or_else(|| "New user".to_string());
    let verified_email = first.verified_email();
    let account = nexgate_platform::ids::new_id();
    transaction(conn, |conn| -> Result<(), Problem> {
        conn.execute(
            "INSERT INTO auth.accounts (id, email, email_verified_at) VALUES ($1, $2, $3::text::timestamptz)",
            &[
                P::Uuid(account.to_string()),
                verified_email.map(|e| P::Str(e.into())).unwrap_or(P::DbNull),
                if verified_email.is_some() {
                    P::Str(nexgate_platform::time::now_rfc3339())
                } else {
                    P::DbNull
                },
            ],
        )?;
        conn.execute(
            "SELECT profiles.create_profile($1, $2, $3)",
            &[
                P::Uuid(account.to_string()),
                P::Str(username.clone()),
                P::Str(display),
            ],
        )
        .map_err(|e| {
            if constraint(&e).is_some() {
                Problem::conflict(
                    "username_taken",
                    "the username was taken meanwhile; try again",
                )
            } else {
                Problem::internal(format!("creating the profile: {e:?}"))
            }
        })?;
        insert_identity(conn, first.provider, first.identity, account, first.name)?;
        outbox.record(
            conn,
            Some(account),
            ("account", account.to_string()),
            vec![account],
            &AccountCreated {
                user_id: account,
                channel: first.provider.as_str().to_string(),
                username,
            },
        )
    })?;
    Ok(account)
}

pub(crate) fn insert_identity(
    conn: &Connection,
    provider: Provider,
    identity: &IdClaims,
    account: Uuid,
    name: Option<&str>,
) -> Result<(), Problem> {
    conn.execute(
        "INSERT INTO auth.oauth_identities (provider, subject, account_id, email, email_verified, display_name) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            P::Str(provider.as_str().into()),
            P::Str(identity.subject.clone()),
            P::Uuid(account.to_string()),
            identity.email.clone().map(P::Str).unwrap_or(P::DbNull),
            P::Boolean(identity.email_verified),
            name.map(|n| P::Str(n.into())).unwrap_or(P::DbNull),
        ],
    )
    .map_err(|e| {
        if constraint(&e) == Some("oauth_identities_pkey") {
            Problem::conflict("identity_exists", "this identity was linked meanwhile")
        } else if constraint(&e) == Some("accounts_email_key") {
            Problem::conflict("address_taken", "an account with this email exists")
        } else {
            Problem::internal(format!("linking the identity: {e:?}"))
        }
    })?;
    Ok(())
}
