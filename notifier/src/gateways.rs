//! The delivery gateways, each speaking its provider's real wire format: email over SMTP
//! (lettre), SMS through Africa's Talking (`POST /version1/messaging`), push through FCM HTTP v1
//! (`POST /v1/projects/{project}/messages:send`, with an OAuth access token obtained from a
//! service account's RS256-signed assertion). Each answer is classified: sent, transient (retry),
//! permanent (never retried), or a dead push token (dropped).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clap::Args;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use nexgate_notifications::Channel;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Mutex;

#[derive(Args, Clone, Debug)]
pub struct GatewayArgs {
    /// SMTP server: `smtp://host:port` (STARTTLS when offered), `smtps://host:465`, with
    /// credentials as `smtp://user:pass@host`. Unset: no email.
    #[arg(long, env = "NEXGATE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    #[arg(
        long,
        env = "NEXGATE_EMAIL_FROM",
        default_value = "Nexgate <no-reply@nexgate.app>"
    )]
    pub email_from: String,
    /// Africa's Talking API origin.
    #[arg(
        long,
        env = "NEXGATE_SMS_ORIGIN",
        default_value = "https://api.africastalking.com"
    )]
    pub sms_origin: String,
    /// Africa's Talking username. Unset: no SMS.
    #[arg(long, env = "NEXGATE_SMS_USERNAME")]
    pub sms_username: Option<String>,
    #[arg(long, env = "NEXGATE_SMS_API_KEY", hide_env_values = true)]
    pub sms_api_key: Option<String>,
    /// Sender id or short code (the account default when unset).
    #[arg(long, env = "NEXGATE_SMS_SENDER_ID")]
    pub sms_sender_id: Option<String>,
    /// A Firebase service account key file (JSON: project_id, client_email, private_key,
    /// token_uri). Unset: no push.
    #[arg(long, env = "NEXGATE_FCM_SERVICE_ACCOUNT")]
    pub fcm_service_account: Option<PathBuf>,
    #[arg(
        long,
        env = "NEXGATE_FCM_ORIGIN",
        default_value = "https://fcm.googleapis.com"
    )]
    pub fcm_origin: String,
    /// Longest wait for one gateway answer (a timeout is a transient failure).
    #[arg(long, env = "NEXGATE_GATEWAY_TIMEOUT_MS", default_value_t = 10_000)]
    pub gateway_timeout_ms: u64,
}

/// What one send attempt came to.
#[derive(Debug)]
pub enum Outcome {
    Sent { reference: Option<String> },
    Transient { status: Option<u16>, why: String },
    Permanent { status: Option<u16>, why: String },
    DeadToken { status: Option<u16>, why: String },
}

/// What to send.
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub data: &'a Value,
}

pub struct Gateways {
    email: Option<Email>,
    sms: Option<Sms>,
    push: Option<Push>,
}

impl Gateways {
    pub fn from_args(a: &GatewayArgs) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(a.gateway_timeout_ms))
            .build()?;
        let email = match &a.smtp_url {
            Some(url) if !url.is_empty() => Some(Email {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .context("NEXGATE_SMTP_URL")?
                    .timeout(Some(Duration::from_millis(a.gateway_timeout_ms)))
                    .build(),
                from: a.email_from.parse().context("NEXGATE_EMAIL_FROM")?,
            }),
            _ => None,
        };
        let sms = match (&a.sms_username, &a.sms_api_key) {
            (Some(u), Some(k)) if !u.is_empty() && !k.is_empty() => Some(Sms {
                http: http.clone(),
                origin: a.sms_origin.trim_end_matches('/').to_string(),
                username: u.clone(),
                api_key: k.clone(),
                sender_id: a.sms_sender_id.clone().filter(|s| !s.is_empty()),
            }),
            _ => None,
        };
        let push = match &a.fcm_service_account {
            Some(path) if !path.as_os_str().is_empty() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let account: ServiceAccount = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a service account key", path.display()))?;
                let key = RsaPrivateKey::from_pkcs8_pem(&account.private_key)
                    .context("the service account's private_key")?;
                Some(Push {
                    http,
                    origin: a.fcm_origin.trim_end_matches('/').to_string(),
                    key: SigningKey::<Sha256>::new(key),
                    account,
                    token: Mutex::new(None),
                })
            }
            _ => None,
        };
        Ok(Gateways { email, sms, push })
    }

    pub fn configured(&self, channel: Channel) -> bool {
        match channel {
            Channel::InApp => true,
            Channel::Email => self.email.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Push => self.push.is_some(),
        }
    }

    pub fn describe(&self) -> String {
        [Channel::Email, Channel::Sms, Channel::Push]
            .into_iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c.as_str(),
                    if self.configured(c) { "on" } else { "off" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub async fn send(&self, channel: Channel, m: &Outgoing<'_>) -> Outcome {
        let off = || Outcome::Permanent {
            status: None,
            why: format!("{} is not configured", channel.as_str()),
        };
        match channel {
            Channel::Email => match &self.email {
                Some(g) => g.send(m).await,
                None => off(),
            },
            Channel::Sms => match &self.sms {
                Some(g) => g.send(m).await,
                None => off(),
            },
            Channel::Push => match &self.push {
                Some(g) => g.send(m).await,
                None => off(),
            },
            Channel::InApp => Outcome::Sent { reference: None },
        }
    }
}

fn from_status(status: u16, why: String) -> Outcome {
    if status == 408 || status == 429 || status >= 500 {
        Outcome::Transient {
            status: Some(status),
            why,
        }
    } else {
        Outcome::Permanent {
            status: Some(status),
            why,
        }
    }
}

fn from_reqwest(e: &reqwest::Error) -> Outcome {
    Outcome::Transient {
        status: None,
        why: format!(
            "{}: {e}",
            if e.is_timeout() {
                "timeout"
            } else {
                "transport"
            }
        ),
    }
}

// ------------------------------------------------------------------------------------------
// Email

struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl Email {
    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        let to = match m.to.parse::<lettre::message::Mailbox>() {
            Ok(to) => to,
            Err(e) => {
                return Outcome::Permanent {
                    status: None,
                    why: format!("not an email address: {e}"),
                }
            }
        };
        let message = match Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.title)
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.to_string())
        {
            Ok(msg) => msg,
            Err(e) => {
                return Outcome::Permanent {
                    status: None,
                    why: format!("cannot build the message: {e}"),
                }
            }
        };
        match self.transport.send(message).await {
            Ok(r) => Outcome::Sent {
                reference: r.message().next().map(str::to_string),
            },
            Err(e) => {
                let status = e.status().map(u16::from);
                if e.is_permanent() {
                    Outcome::Permanent {
                        status,
                        why: format!("SMTP: {e}"),
                    }
                } else {
                    Outcome::Transient {
                        status,
                        why: format!("SMTP: {e}"),
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// SMS: Africa's Talking

struct Sms {
    http: reqwest::Client,
    origin: String,
    username: String,
    api_key: String,
    sender_id: Option<String>,
}

impl Sms {
    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        let text: String = m.body.chars().take(459).collect();
        let mut form: Vec<(&str, &str)> = vec![
            ("username", &self.username),
            ("to", m.to),
            ("message", &text),
        ];
        if let Some(from) = &self.sender_id {
            form.push(("from", from));
        }
        let resp = match self
            .http
            .post(format!("{}/version1/messaging", self.origin))
            .header("apiKey", &self.api_key)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return from_reqwest(&e),
        };
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return from_status(
                status,
                format!("Africa's Talking HTTP {status}: {}", trim(&body)),
            );
        }
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let Some(r) = parsed["SMSMessageData"]["Recipients"].get(0) else {
            // No recipient accepted: the message says why (e.g. "InvalidSenderId").
            return Outcome::Permanent {
                status: Some(status),
                why: format!(
                    "Africa's Talking accepted no recipient: {}",
                    parsed["SMSMessageData"]["Message"]
                        .as_str()
                        .unwrap_or(&trim(&body))
                ),
            };
        };
        let code = r["statusCode"].as_i64().unwrap_or(0);
        let why = format!(
            "Africa's Talking {code} {}",
            r["status"].as_str().unwrap_or("")
        );
        match code {
            100..=102 => Outcome::Sent {
                reference: r["messageId"].as_str().map(str::to_string),
            },
            // InvalidPhoneNumber, UnsupportedNumberType, UserInBlacklist: retrying cannot help.
            403 | 404 | 406 | 402 => Outcome::Permanent {
                status: Some(status),
                why,
            },
            // RiskHold, InsufficientBalance, CouldNotRoute, gateway errors: later may work.
            _ => Outcome::Transient {
                status: Some(status),
                why,
            },
        }
    }
}

fn trim(s: &str) -> String {
    s.chars().take(200).collect()
}

// ------------------------------------------------------------------------------------------
// Push: FCM HTTP v1

#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    client_email: String,
    private_key: String,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

struct AccessToken {
    value: String,
    expires_at: u64,
}

struct Push {
    http: reqwest::Client,
    origin: String,
    account: ServiceAccount,
    key: SigningKey<Sha256>,
    token: Mutex<Option<AccessToken>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Push {
    /// The OAuth 2.0 JWT-bearer assertion for the messaging scope (RFC 7523, RS256).
    fn assertion(&self, now: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            json!({
                "iss": self.account.client_email,
                "scope": "https://www.googleapis.com/auth/firebase.messaging",
                "aud": self.account.token_uri,
                "iat": now,
                "exp": now + 3600,
            })
            .to_string(),
        );
        let input = format!("{header}.{claims}");
        let sig = self.key.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    async fn access_token(&self) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        let now = unix_now();
        if let Some(t) = cached.as_ref().filter(|t| t.expires_at > now + 60) {
            return Ok(t.value.clone());
        }
        let resp = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &self.assertion(now)),
            ])
            .send()
            .await
            .map_err(|e| from_reqwest(&e))?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let (Some(value), true) = (body["access_token"].as_str(), status == 200) else {
            return Err(from_status(
                status,
                format!("FCM access token refused: HTTP {status} {}", body["error"]),
            ));
        };
        let expires_in = body["expires_in"].as_u64().unwrap_or(3600);
        *cached = Some(AccessToken {
            value: value.to_string(),
            expires_at: now + expires_in,
        });
        Ok(value.to_string())
    }

    async fn send(&self, m: &Outgoing<'_>) -> Outcome {
        let bearer = match self.access_token().await {
            Ok(t) => t,
            Err(o) => return o,
        };
        // FCM data values must be strings.
        let data: serde_json::Map<String, Value> = m
            .data
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        let s = v
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string());
                        (k.clone(), Value::String(s))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = json!({
            "message": {
                "token": m.to,
                "notification": { "title": m.title, "body": m.body },
                "data": data,
            }
        });
        let resp = match self
            .http
            .post(format!(
                "{}/v1/projects/{}/messages:send",
                self.origin, self.account.project_id
            ))
            .bearer_auth(&bearer)
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return from_reqwest(&e),
        };
        let status = resp.status().as_u16();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        if status == 200 {
            return Outcome::Sent {
                reference: answer["name"].as_str().map(str::to_string),
            };
        }
        let error_code = answer["error"]["details"]
            .as_array()
            .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
            .unwrap_or("");
        let why = format!(
            "FCM HTTP {status} {} {error_code}: {}",
            answer["error"]["status"].as_str().unwrap_or(""),
            answer["error"]["message"].as_str().unwrap_or("")
        );
        match (status, error_code) {
            // The app was uninstalled or the token expired: drop it.
            (404, _) | (_, "UNREGISTERED") => Outcome::DeadToken {
                status: Some(status),
                why,
            },
            // Our access token expired early or was revoked: fetch a new one and retry.
            (401, _) => {
                *self.token.lock().await = None;
                Outcome::Transient {
                    status: Some(status),
                    why,
                }
            }
            _ => from_status(status, why),
        }
    }
}
