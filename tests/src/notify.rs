//! Local stand-ins for the Notification Service's gateways, speaking the providers' wire formats:
//! Africa's Talking SMS (`POST /version1/messaging`, `apiKey` header, form body, `SMSMessageData`
//! answer), FCM HTTP v1 (`POST /v1/projects/{p}/messages:send` with a bearer token, `UNREGISTERED`
//! errors) and Google's OAuth token endpoint (an RS256 JWT-bearer assertion, verified here with the
//! service account's real public key). Every request is recorded; per recipient a plan of answers
//! (success, an HTTP status, an Africa's Talking status code, an unregistered token) and a delay.
//! Plus [`SmtpServer`]: aiosmtpd (Debian's `python3-aiosmtpd`) writing a Maildir.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use lapin::options::{BasicGetOptions, BasicPublishOptions};
use lapin::BasicProperties;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::TestApp;

const SMS_USERNAME: &str = "nexgate";
const SMS_API_KEY: &str = "atsk_test_4f1c0e2d9b8a7f6e5d4c3b2a1908f7e6";
const FCM_PROJECT: &str = "nexgate-test";
const FCM_CLIENT_EMAIL: &str = "notifier@nexgate-test.iam.gserviceaccount.com";

/// One planned answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Ok,
    /// This HTTP status with a provider-shaped error body.
    Http(u16),
    /// Africa's Talking answers 201 with this per-recipient statusCode (403 InvalidPhoneNumber…).
    AtStatus(i64),
    /// FCM's 404 with errorCode UNREGISTERED.
    Unregistered,
}

#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub message: String,
    pub from: Option<String>,
    pub at: Instant,
    pub answered: String,
}

#[derive(Debug, Clone)]
pub struct Push {
    pub token: String,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub at: Instant,
    pub answered: String,
}

#[derive(Default)]
struct State {
    plans: HashMap<String, VecDeque<Answer>>,
    delay: Duration,
    sms: Vec<Sms>,
    pushes: Vec<Push>,
    access_tokens: Vec<String>,
    refusals: Vec<String>,
}

#[derive(Clone)]
pub struct GatewaySimulator {
    pub origin: String,
    pub service_account: PathBuf,
    public_key: RsaPublicKey,
    state: Arc<Mutex<State>>,
    _dir: Option<Arc<TempDir>>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nexgate-{tag}-{}", crate::unique_id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

impl GatewaySimulator {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dir = temp_dir("fcm");
        let mut sim = Self::start_on(listener, &dir);
        sim._dir = Some(Arc::new(TempDir(dir)));
        sim
    }

    /// Serves on `listener`, writing the FCM service account the notifier reads into `dir` (kept:
    /// the local sandbox's notifier starts after it).
    pub fn start_on(listener: tokio::net::TcpListener, dir: &std::path::Path) -> Self {
        let mut rng = rand::thread_rng();
        let key = RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let public_key = RsaPublicKey::from(&key);
        let origin = format!("http://{}", listener.local_addr().unwrap());
        std::fs::create_dir_all(dir).unwrap();
        let service_account = dir.join("fcm-service-account.json");
        std::fs::write(
            &service_account,
            json!({
                "type": "service_account",
                "project_id": FCM_PROJECT,
                "private_key_id": "k1",
                "private_key": key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                "client_email": FCM_CLIENT_EMAIL,
                "token_uri": format!("{origin}/token"),
            })
            .to_string(),
        )
        .unwrap();
        let sim = Self {
            origin,
            service_account,
            public_key,
            state: Arc::new(Mutex::new(State::default())),
            _dir: None,
        };
        let served = sim.clone();
        crate::serve_http(listener, move |req| {
            let sim = served.clone();
            async move { sim.answer(req).await }
        });
        sim
    }

    /// The notifier's environment for push (FCM) alone through this simulator.
    pub fn push_env(&self) -> Vec<(String, String)> {
        self.notifier_env()
            .into_iter()
            .filter(|(name, _)| name.starts_with("NEXGATE_FCM_"))
            .collect()
    }

    /// The notifier's environment for SMS and push through this simulator.
    pub fn notifier_env(&self) -> Vec<(String, String)> {
        vec![
            ("NEXGATE_SMS_ORIGIN".into(), self.origin.clone()),
            ("NEXGATE_SMS_USERNAME".into(), SMS_USERNAME.into()),
            ("NEXGATE_SMS_API_KEY".into(), SMS_API_KEY.into()),
            ("NEXGATE_SMS_SENDER_ID".into(), "NEXGATE".into()),
            ("NEXGATE_FCM_ORIGIN".into(), self.origin.clone()),
            (
                "NEXGATE_FCM_SERVICE_ACCOUNT".into(),
                self.service_account.display().to_string(),
            ),
        ]
    }

    /// The next answers for this phone number or push token (then success).
    pub fn plan(&self, to: &str, answers: Vec<Answer>) {
        self.state
            .lock()
            .unwrap()
            .plans
            .insert(to.to_string(), answers.into());
    }

    /// Every answer waits this long (a slow gateway).
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    pub fn sms(&self) -> Vec<Sms> {
        self.state.lock().unwrap().sms.clone()
    }

    pub fn pushes(&self) -> Vec<Push> {
        self.state.lock().unwrap().pushes.clone()
    }

    /// Access tokens issued (one per notifier while cached).
    pub fn tokens_issued(&self) -> usize {
        self.state.lock().unwrap().access_tokens.len()
    }

    /// Requests refused for bad credentials or malformed bodies (every test expects none).
    pub fn refusals(&self) -> Vec<String> {
        self.state.lock().unwrap().refusals.clone()
    }

    fn refuse(&self, status: u16, why: String) -> Response<Full<Bytes>> {
        self.state.lock().unwrap().refusals.push(why.clone());
        reply(status, json!({ "error": why }))
    }

    fn next_answer(&self, to: &str) -> (Answer, Duration) {
        let mut s = self.state.lock().unwrap();
        let a = s
            .plans
            .get_mut(to)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Answer::Ok);
        (a, s.delay)
    }

    async fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let headers = req.headers().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        match path.as_str() {
            "/version1/messaging" => {
                self.messaging(&header("apikey"), &header("accept"), &body)
                    .await
            }
            "/token" => self.token(&body),
            p if p == format!("/v1/projects/{FCM_PROJECT}/messages:send") => {
                self.fcm_send(&header("authorization"), &body).await
            }
            other => self.refuse(404, format!("no route {other}")),
        }
    }

    async fn messaging(&self, api_key: &str, accept: &str, body: &[u8]) -> Response<Full<Bytes>> {
        if api_key != SMS_API_KEY {
            return self.refuse(401, "Africa's Talking: wrong apiKey".into());
        }
        if accept != "application/json" {
            return self.refuse(
                406,
                "Africa's Talking: Accept must be application/json".into(),
            );
        }
        let form: HashMap<String, String> = form_urlencoded(body);
        if form.get("username").map(String::as_str) != Some(SMS_USERNAME) {
            return self.refuse(401, "Africa's Talking: wrong username".into());
        }
        let (Some(to), Some(message)) = (form.get("to"), form.get("message")) else {
            return self.refuse(400, "Africa's Talking: to and message are required".into());
        };
        let (answer, delay) = self.next_answer(to);
        tokio::time::sleep(delay).await;
        let (status, body, label) = match answer {
            Answer::Ok => (
                201,
                json!({"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000", "Recipients": [
                    {"statusCode": 101, "number": to, "status": "Success", "cost": "KES 0.8000",
                     "messageId": format!("ATXid_{}", uuid::Uuid::new_v4().simple())}]}}),
                "sent".to_string(),
            ),
            Answer::AtStatus(code) => (
                201,
                json!({"SMSMessageData": {"Message": "Sent to 0/1 Total Cost: 0", "Recipients": [
                    {"statusCode": code, "number": to, "status": at_status_name(code), "cost": "0", "messageId": "None"}]}}),
                format!("at_{code}"),
            ),
            Answer::Http(s) => (
                s,
                json!({"error": "The service is unavailable"}),
                format!("http_{s}"),
            ),
            Answer::Unregistered => (404, json!({"error": "not found"}), "http_404".to_string()),
        };
        self.state.lock().unwrap().sms.push(Sms {
            to: to.clone(),
            message: message.clone(),
            from: form.get("from").cloned(),
            at: Instant::now(),
            answered: label,
        });
        reply(status, body)
    }

    fn token(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let form = form_urlencoded(body);
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return self.refuse(400, "token: wrong grant_type".into());
        }
        let Some(assertion) = form.get("assertion") else {
            return self.refuse(400, "token: no assertion".into());
        };
        if let Err(why) = self.verify_assertion(assertion) {
            return self.refuse(400, format!("token: {why}"));
        }
        let token = format!("ya29.{}", uuid::Uuid::new_v4().simple());
        self.state.lock().unwrap().access_tokens.push(token.clone());
        reply(
            200,
            json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
        )
    }

    fn verify_assertion(&self, jwt: &str) -> Result<(), String> {
        let parts: Vec<&str> = jwt.split('.').collect();
        let [h, c, s] = parts.as_slice() else {
            return Err("assertion is not a JWT".into());
        };
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" {
            return Err(format!("alg {}", header["alg"]));
        }
        let sig = Signature::try_from(
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|e| e.to_string())?
                .as_slice(),
        )
        .map_err(|e| e.to_string())?;
        VerifyingKey::<Sha256>::new(self.public_key.clone())
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "bad signature".to_string())?;
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if claims["iss"] != FCM_CLIENT_EMAIL {
            return Err(format!("iss {}", claims["iss"]));
        }
        if claims["aud"] != format!("{}/token", self.origin) {
            return Err(format!("aud {}", claims["aud"]));
        }
        if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
            return Err(format!("scope {}", claims["scope"]));
        }
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        if iat > now + 60 || exp < now || exp - iat > 3600 {
            return Err("iat/exp out of range".into());
        }
        Ok(())
    }

    async fn fcm_send(&self, authorization: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let bearer = authorization.strip_prefix("Bearer ").unwrap_or("");
        if !self
            .state
            .lock()
            .unwrap()
            .access_tokens
            .iter()
            .any(|t| t == bearer)
        {
            return self.refuse(401, "FCM: unknown access token".into());
        }
        let Ok(msg) = serde_json::from_slice::<Value>(body) else {
            return self.refuse(400, "FCM: body is not JSON".into());
        };
        let m = &msg["message"];
        let Some(token) = m["token"].as_str() else {
            return self.refuse(400, "FCM: message.token is required".into());
        };
        if let Some(bad) = m["data"]
            .as_object()
            .and_then(|d| d.iter().find(|(_, v)| !v.is_string()))
        {
            return self.refuse(400, format!("FCM: data.{} is not a string", bad.0));
        }
        let (answer, delay) = self.next_answer(token);
        tokio::time::sleep(delay).await;
        let (status, answer_body, label) = match answer {
            Answer::Ok => (
                200,
                json!({"name": format!("projects/{FCM_PROJECT}/messages/{}", uuid::Uuid::new_v4().simple())}),
                "sent".to_string(),
            ),
            Answer::Unregistered => (
                404,
                json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                    "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}),
                "unregistered".to_string(),
            ),
            Answer::Http(s) => {
                let status_name = match s {
                    400 => "INVALID_ARGUMENT",
                    401 => "UNAUTHENTICATED",
                    429 => "RESOURCE_EXHAUSTED",
                    500 => "INTERNAL",
                    _ => "UNAVAILABLE",
                };
                (
                    s,
                    json!({"error": {"code": s, "message": "planned failure", "status": status_name}}),
                    format!("http_{s}"),
                )
            }
            Answer::AtStatus(_) => (
                500,
                json!({"error": {"code": 500, "status": "INTERNAL"}}),
                "http_500".to_string(),
            ),
        };
        self.state.lock().unwrap().pushes.push(Push {
            token: token.to_string(),
            title: m["notification"]["title"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            body: m["notification"]["body"].as_str().unwrap_or("").to_string(),
            data: m["data"].clone(),
            at: Instant::now(),
            answered: label,
        });
        reply(status, answer_body)
    }
}

fn at_status_name(code: i64) -> &'static str {
    match code {
        401 => "RiskHold",
        402 => "InvalidSenderId",
        403 => "InvalidPhoneNumber",
        404 => "UnsupportedNumberType",
        405 => "InsufficientBalance",
        406 => "UserInBlacklist",
        407 => "CouldNotRoute",
        500 => "InternalServerError",
        501 => "GatewayError",
        _ => "RejectedByGateway",
    }
}

fn form_urlencoded(body: &[u8]) -> HashMap<String, String> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A received email.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// A real SMTP server (aiosmtpd) on a free port, storing messages in a Maildir; stopped on drop.
pub struct SmtpServer {
    pub port: u16,
    child: std::process::Child,
    dir: PathBuf,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = temp_dir("smtp");
        let child = std::process::Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("maildir"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd (python3-aiosmtpd; infra/setup-stores.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        SmtpServer { port, child, dir }
    }

    pub fn notifier_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "NEXGATE_SMTP_URL".into(),
                format!("smtp://127.0.0.1:{}", self.port),
            ),
            (
                "NEXGATE_EMAIL_FROM".into(),
                "Nexgate <no-reply@nexgate.test>".into(),
            ),
        ]
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Mail> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.dir.join("maildir").join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    continue;
                };
                let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| {
                            l.split_once(':')
                                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                                .map(|(_, v)| v.trim().to_string())
                        })
                        .unwrap_or_default()
                };
                let body = body.replace("\r\n", "\n");
                let body = match header("Content-Transfer-Encoding")
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "quoted-printable" => quoted_printable_decode(&body),
                    "base64" => base64::engine::general_purpose::STANDARD
                        .decode(body.split_whitespace().collect::<String>())
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or(body),
                    _ => body,
                };
                out.push(Mail {
                    to: header("X-RcptTo"),
                    subject: header("Subject"),
                    body: body.trim_end().to_string(),
                });
            }
        }
        out
    }
}

/// RFC 2045 quoted-printable: soft line breaks (`=` at the end) join lines, `=XX` is a byte.
fn quoted_printable_decode(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ------------------------------------------------------------------------------------------
// Publishing synthetic events and reading the notifications database

/// A synthetic event envelope of a catalogued type.
pub fn envelope(event_type: &str, actor: Option<Uuid>, audience: &[Uuid], data: Value) -> Value {
    json!({
        "id": Uuid::now_v7(),
        "type": event_type,
        "occurred_at": "2026-11-30T10:00:00.000Z",
        "actor": actor,
        "subject": {"kind": "test", "id": "1"},
        "audience": audience,
        "data": data,
        "version": 1,
    })
}

/// Publishes like producers do (`amq.topic`, `<prefix>.<type>`, each type as its producer's broker
/// user `nexgate-<schema>`) and reads the notifier's dead letters (as `nexgate-admin`).
pub struct Bus {
    _conn: lapin::Connection,
    channel: lapin::Channel,
    prefix: String,
    env: crate::LocalEnv,
    /// The app's notifier public key: secret-carrying events are sealed to it, as auth does.
    sealing: nexgate_events::sealed::SealingKey,
    /// One connection per producing schema, opened on its first publish.
    producers: tokio::sync::Mutex<HashMap<String, (lapin::Connection, lapin::Channel)>>,
}

impl Bus {
    pub async fn open(app: &TestApp) -> Self {
        let conn = lapin::Connection::connect(
            &app.env.amqp_url("nexgate-admin"),
            lapin::ConnectionProperties::default(),
        )
        .await
        .unwrap();
        let channel = conn.create_channel().await.unwrap();
        Self {
            _conn: conn,
            channel,
            prefix: app.prefix.clone(),
            env: app.env.clone(),
            sealing: nexgate_events::sealed::SealingKey::parse(&app.seal_keys.1).unwrap(),
            producers: Default::default(),
        }
    }

    pub async fn publish_raw(&self, event_type: &str, body: &[u8]) {
        let schema = event_type.split('.').next().unwrap_or_default().to_string();
        let mut producers = self.producers.lock().await;
        if !producers.contains_key(&schema) {
            let conn = lapin::Connection::connect(
                &self.env.amqp_url(&format!("nexgate-{schema}")),
                lapin::ConnectionProperties::default(),
            )
            .await
            .unwrap();
            let channel = conn.create_channel().await.unwrap();
            producers.insert(schema.clone(), (conn, channel));
        }
        let (_, channel) = &producers[&schema];
        channel
            .basic_publish(
                "amq.topic",
                &format!("{}.{event_type}", self.prefix),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Publishes an envelope; a type's one-time secrets are sealed first, as producers do.
    pub async fn publish(&self, e: &Value) {
        let event_type = e["type"].as_str().unwrap();
        let mut e = e.clone();
        self.sealing
            .seal_secrets(event_type, &mut e["data"])
            .unwrap();
        self.publish_raw(event_type, &serde_json::to_vec(&e).unwrap())
            .await;
    }

    /// Publishes an envelope exactly as given (a secret stays in clear: the notifier refuses it).
    pub async fn publish_unsealed(&self, e: &Value) {
        self.publish_raw(e["type"].as_str().unwrap(), &serde_json::to_vec(e).unwrap())
            .await;
    }

    /// Waits (10 s at most) until `count` deliveries are in the notifier's dead-letter queue;
    /// answers what arrived by then: (body, answer header).
    pub async fn wait_dead_letters(&self, count: usize) -> Vec<(Vec<u8>, String)> {
        let start = Instant::now();
        let mut dead = Vec::new();
        while dead.len() < count && start.elapsed() < Duration::from_secs(10) {
            dead.extend(self.dead_letters().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        dead
    }

    /// Everything in the notifier's dead-letter queue: (body, answer header).
    pub async fn dead_letters(&self) -> Vec<(Vec<u8>, String)> {
        let queue = format!("{}.worker.notifier.dead", self.prefix);
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(&queue, BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let answer = m
                .delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get("x-nexgate-answer").cloned())
                .map(|v| match v {
                    lapin::types::AMQPValue::LongString(s) => {
                        String::from_utf8_lossy(s.as_bytes()).into_owned()
                    }
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            out.push((m.delivery.data.clone(), answer));
        }
        out
    }
}

/// An admin client of the app's notifications database.
pub async fn notifications_db(app: &TestApp) -> Client {
    let (client, conn) = tokio_postgres::connect(
        &app.env.db_url("nexgate_admin", &app.db.notifications_name),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    client
}

pub async fn count(db: &Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// Waits until `sql` counts `want`.
pub async fn wait_count(db: &Client, sql: &str, want: i64) {
    let start = Instant::now();
    loop {
        let n = count(db, sql).await;
        if n == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{sql}: {n}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
