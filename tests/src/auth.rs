//! Helpers to get users and tokens through the real auth flows (register, verify, login).

use std::time::Duration;

use reqwest::Method;

use serde_json::{json, Value};

use crate::{EventObserver, TestApp};

/// The answer of an HTTP call: status, JSON body (or the text as a string), headers.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// Reads a response: status, headers, and the body as JSON (or as a string).
    pub async fn from_response(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }

    /// The problem code of a 4xx/5xx.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// Sends `method path` with an optional JSON body and bearer token.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> Answer {
    let mut req = app.http.request(method, app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    Answer::from_response(req.send().await.expect("request")).await
}

/// POST with a JSON body.
pub async fn post(app: &TestApp, path: &str, body: Value) -> Answer {
    call(app, reqwest::Method::POST, path, Some(body), None).await
}

/// A device description for login bodies.
pub fn device(id: &str) -> Value {
    json!({ "id": id, "name": format!("test device {id}"), "platform": "android", "app_version": "1.0.0" })
}

/// A registered, logged-in user.
pub struct User {
    pub user_id: String,
    pub email: String,
    pub username: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
}

/// A password that passes the policy.
pub const PASSWORD: &str = "kilimanjaro-sunrise-42";

/// Unique-enough names for one test.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Waits for the verification code sent to `address`.
pub async fn code_for(observer: &mut EventObserver, address: &str) -> String {
    let (_, event) = observer
        .wait_for(Duration::from_secs(15), |k, v| {
            k.ends_with(".auth.verification_code.issued") && v["data"]["address"] == address
        })
        .await
        .unwrap_or_else(|| panic!("no verification code for {address}"));
    // The code travels sealed to the notifier's key; the harness holds that key for its app.
    assert!(
        event["data"].get("code").is_none(),
        "a code on the bus in clear"
    );
    observer.open_sealed(&event["data"])["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Registers with an email and verifies the code; the user is logged in on `device_id`.
pub async fn sign_up(app: &TestApp, observer: &mut EventObserver) -> User {
    let username = unique_name("u");
    let email = format!("{username}@example.com");
    let started = post(
        app,
        "/auth/register",
        json!({ "email": email, "password": PASSWORD, "username": username, "display_name": "Test User" }),
    )
    .await;
    assert_eq!(
        started.status,
        202,
        "register: {started}\n{}",
        app.host.log()
    );
    let code = code_for(observer, &email).await;
    let verified = post(
        app,
        "/auth/register/verify",
        json!({ "registration_id": started.body["registration_id"], "code": code, "device": device("signup") }),
    )
    .await;
    assert_eq!(
        verified.status,
        201,
        "verify: {verified}\n{}",
        app.host.log()
    );
    let b = &verified.body;
    User {
        user_id: b["user_id"].as_str().unwrap().into(),
        email,
        username,
        password: PASSWORD.into(),
        access_token: b["access_token"].as_str().unwrap().into(),
        refresh_token: b["refresh_token"].as_str().unwrap().into(),
        session_id: b["session_id"].as_str().unwrap().into(),
    }
}

/// Logs in; returns the raw answer.
pub async fn log_in(app: &TestApp, identifier: &str, password: &str, device_id: &str) -> Answer {
    post(
        app,
        "/auth/login",
        json!({ "identifier": identifier, "password": password, "device": device(device_id) }),
    )
    .await
}

/// The claims of a JWT, decoded without verification (tests read what the server put there).
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The current TOTP code of a base32 secret, `offset` steps from now.
pub fn totp_now(secret_b32: &str, offset: i64) -> String {
    let secret = nexgate_auth::totp::base32_decode(secret_b32).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let step = (nexgate_auth::totp::step_of(now) as i64 + offset) as u64;
    nexgate_auth::totp::code_at(&secret, step)
}

/// Turns MFA on for a user; returns (secret, recovery codes, the code that enabled it).
pub async fn enable_mfa(app: &TestApp, token: &str) -> (String, Vec<String>, String) {
    let setup = call(
        app,
        Method::POST,
        "/auth/mfa/totp/setup",
        Some(json!({})),
        Some(token),
    )
    .await;
    assert_eq!(setup.status, 200, "{setup}\n{}", app.host.log());
    let secret = setup.body["secret"].as_str().unwrap().to_string();
    assert!(setup.body["otpauth_uri"]
        .as_str()
        .unwrap()
        .starts_with("otpauth://totp/Nexgate:"));
    let first_code = totp_now(&secret, 0);
    let enabled = call(
        app,
        Method::POST,
        "/auth/mfa/totp/enable",
        Some(json!({ "code": first_code })),
        Some(token),
    )
    .await;
    assert_eq!(enabled.status, 200, "{enabled}");
    let codes: Vec<String> = enabled.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    // 80 bits each: 16 base32 characters in groups of four.
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 19 && c.split('-').all(|g| g.len() == 4)),
        "{codes:?}"
    );
    (secret, codes, first_code)
}

/// A token of `user`'s session stepped up the way a user does it: MFA turned on with an
/// authenticator (the TOTP secret from setup), then `POST /auth/mfa/step-up` with its next code.
/// Answers (the stepped-up access token, the TOTP secret).
pub async fn step_up(app: &TestApp, user: &User) -> (String, String) {
    let (secret, _, _) = enable_mfa(app, &user.access_token).await;
    let stepped = call(
        app,
        Method::POST,
        "/auth/mfa/step-up",
        Some(json!({ "code": totp_now(&secret, 1) })),
        Some(&user.access_token),
    )
    .await;
    assert_eq!(stepped.status, 200, "step-up: {stepped}");
    (
        stepped.body["access_token"].as_str().unwrap().to_string(),
        secret,
    )
}

/// The first run of `len` ASCII digits in a message (a code in an email or SMS, read as a user
/// reads it).
pub fn digits_in(text: &str, len: usize) -> String {
    text.as_bytes()
        .windows(len)
        .find(|w| w.iter().all(u8::is_ascii_digit))
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .unwrap_or_else(|| panic!("no {len}-digit code in {text}"))
}

/// An account made by [`seed_users`]: it logs in with [`PASSWORD`] like any other.
#[derive(Debug, Clone)]
pub struct SeededUser {
    pub user_id: String,
    pub username: String,
    pub email: String,
}

/// Many ready accounts at once (`nexgate-ops seed-users`: verified email, profile, the shared
/// [`PASSWORD`]), for tests that need hundreds of users without registering each (and without
/// loosening the registration limits). Usernames are `<prefix><n>`, n from 1.
pub fn seed_users(app: &TestApp, count: u32, prefix: &str) -> Vec<SeededUser> {
    let out = std::process::Command::new(crate::ops_bin())
        .args(["seed-users", "--database-url", &app.db.url("nexgate_admin")])
        .args(["--count", &count.to_string(), "--prefix", prefix])
        .args(["--password", PASSWORD])
        .output()
        .expect("nexgate-ops seed-users");
    assert!(
        out.status.success(),
        "seed-users failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let mut parts = line.split(' ');
            SeededUser {
                user_id: parts.next().unwrap().to_string(),
                username: parts.next().unwrap().to_string(),
                email: parts.next().unwrap().to_string(),
            }
        })
        .collect()
}

/// A token of `user`'s session whose sign-in is `minutes` old: the session's `auth_time` is moved
/// back in the database (time passing), then the refresh token is used as an app would.
pub async fn token_signed_in_minutes_ago(app: &TestApp, user: &mut User, minutes: i64) -> String {
    app.db
        .admin()
        .await
        .execute(
            "UPDATE auth.sessions SET auth_time = now() - make_interval(mins => $2::int) WHERE id = $1::text::uuid",
            &[&user.session_id, &(minutes as i32)],
        )
        .await
        .unwrap();
    let refreshed = post(
        app,
        "/auth/refresh",
        json!({ "refresh_token": user.refresh_token }),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{refreshed}");
    user.refresh_token = refreshed.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    refreshed.body["access_token"].as_str().unwrap().to_string()
}

/// Grants `role` to `user` with `nexgate-ops grant-role` (as an operator's admin does) and
/// refreshes their token so it carries the role (not stepped up).
pub async fn grant_role(app: &TestApp, user: &mut User, role: &str) {
    let out = std::process::Command::new(crate::ops_bin())
        .args(["grant-role", "--user", &user.user_id, "--role", role])
        .env("NEXGATE_ADMIN_DB_URL", app.db.url("nexgate_admin"))
        .output()
        .expect("nexgate-ops grant-role");
    assert!(
        out.status.success(),
        "grant-role: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refreshed = post(
        app,
        "/auth/refresh",
        json!({"refresh_token": user.refresh_token}),
    )
    .await;
    user.access_token = refreshed.body["access_token"]
        .as_str()
        .expect("a refreshed token")
        .to_string();
}
