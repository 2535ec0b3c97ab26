//! Talking to the providers for one intent: starting the collection, and asking its status
//! (for callbacks that must be confirmed and for the sweeper). Dispatches on the provider.

use nexgate_platform::config::redis_key;
use nexgate_platform::time::now_unix;
use nexgate_platform::Problem;
use spin_sdk::redis::RedisParameter;
use uuid::Uuid;

use crate::common::{not_configured, whole_major_units, Intent, Settings};
use crate::phone::{Network, Provider};
use crate::providers::{daraja, selcom, send, tembo, Status};

/// Seconds a Daraja token is kept (they live 3599 s).
const DARAJA_TOKEN_CACHE_SECS: i64 = 3000;

/// What starting a collection gave.
#[derive(Debug)]
pub enum Started {
    /// The provider took it: its request id, and the hosted page for cards.
    Accepted {
        request_id: String,
        checkout_url: Option<String>,
    },
    /// The provider refused it: code and reason (the intent fails).
    Refused { code: String, reason: String },
    /// No clear answer (timeout, 5xx, ambiguous): the sweeper will ask.
    Unknown,
}

/// The collection to start.
pub struct Collection<'a> {
    pub intent: Uuid,
    pub amount: i64,
    pub currency: &'a str,
    pub msisdn: Option<&'a str>,
    pub network: Option<&'a str>,
    pub description: &'a str,
    pub callback_url: String,
}

/// A Daraja access token, from Redis or fetched.
pub async fn daraja_token(settings: &Settings, c: &daraja::Config) -> Result<String, Problem> {
    let key = redis_key(
        &settings.redis_key_prefix,
        &["payments", "daraja", "token", &c.consumer_key],
    );
    let redis = spin_sdk::redis::Connection::open(&settings.redis_url).ok();
    if let Some(r) = &redis {
        if let Ok(Some(t)) = r.get(&key) {
            if let Ok(t) = String::from_utf8(t) {
                return Ok(t);
            }
        }
    }
    let answer = send("daraja", daraja::token_request(c)).await?;
    let (token, expires) = daraja::token_answer(&answer.body).ok_or_else(|| {
        eprintln!("payments: daraja token refused ({})", answer.status);
        crate::providers::provider_unavailable("daraja")
    })?;
    if let Some(r) = redis {
        let ttl = DARAJA_TOKEN_CACHE_SECS.min(expires - 60).max(1);
        let _ = r.execute(
            "SET",
            &[
                RedisParameter::Binary(key.into_bytes()),
                RedisParameter::Binary(token.clone().into_bytes()),
                RedisParameter::Binary(b"EX".to_vec()),
                RedisParameter::Int64(ttl),
            ],
        );
    }
    Ok(token)
}

/// Starts the collection with `provider`. `Err` only for what the caller must answer with a 5xx
/// before anything was sent (no credentials).
pub async fn start(
    settings: &Settings,
    provider: Provider,
    col: &Collection<'_>,
) -> Result<Started, Problem> {
    let amount = whole_major_units(col.amount, col.currency)?;
    let now = now_unix().0;
    let intent = col.intent.to_string();
    match provider {
        Provider::Daraja => {
            let c = settings
                .daraja
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let Ok(token) = daraja_token(settings, c).await else {
                return Ok(Started::Unknown);
            };
            let ts = daraja::timestamp(now);
            let msisdn = col.msisdn.unwrap_or_default();
            let reference = format!("NX{}", &intent.replace('-', "")[20..]);
            let out = daraja::stk_push(
                c,
                &token,
                &ts,
                amount,
                msisdn,
                &col.callback_url,
                &reference,
                col.description,
            );
            let Ok(answer) = send("daraja", out).await else {
                return Ok(Started::Unknown);
            };
            Ok(match daraja::stk_push_answer(answer.status, &answer.body) {
                Ok(request_id) => Started::Accepted {
                    request_id,
                    checkout_url: None,
                },
                Err((code, reason)) if (400..500).contains(&answer.status) => {
                    Started::Refused { code, reason }
                }
                Err(_) => Started::Unknown,
            })
        }
        Provider::Selcom => {
            let c = settings
                .selcom
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let ts = selcom::timestamp(now);
            let out = selcom::create_order(
                c,
                &ts,
                &intent,
                amount,
                col.msisdn.unwrap_or_default(),
                "Nexgate customer",
                &col.callback_url,
                col.description,
            );
            let Ok(answer) = send("selcom", out).await else {
                return Ok(Started::Unknown);
            };
            match selcom::request_outcome(answer.status, &answer.body) {
                Ok(()) => {}
                Err(Some((code, reason))) => return Ok(Started::Refused { code, reason }),
                Err(None) => return Ok(Started::Unknown),
            }
            let Some(msisdn) = col.msisdn else {
                // A card: the customer pays on Selcom's page.
                return Ok(match selcom::checkout_url(&answer.body) {
                    Some(url) => Started::Accepted {
                        request_id: intent,
                        checkout_url: Some(url),
                    },
                    None => Started::Unknown,
                });
            };
            let out = selcom::wallet_payment(c, &ts, &intent, &intent, msisdn);
            let Ok(answer) = send("selcom", out).await else {
                return Ok(Started::Unknown);
            };
            Ok(match selcom::request_outcome(answer.status, &answer.body) {
                Ok(()) => Started::Accepted {
                    request_id: intent,
                    checkout_url: None,
                },
                Err(Some((code, reason))) => Started::Refused { code, reason },
                Err(None) => Started::Unknown,
            })
        }
        Provider::Tembo => {
            let c = settings
                .tembo
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let channel = col
                .network
                .and_then(Network::parse)
                .and_then(|n| n.tembo_channel("C2B"))
                .ok_or_else(|| Problem::internal("tembo method without a Tembo network"))?;
            let out = tembo::collection(
                c,
                &Uuid::now_v7().to_string(),
                &channel,
                col.msisdn.unwrap_or_default(),
                amount,
                col.description,
                &intent,
                &tembo::transaction_date(now),
                &col.callback_url,
            );
            let Ok(answer) = send("tembo", out).await else {
                return Ok(Started::Unknown);
            };
            Ok(
                match tembo::collection_outcome(answer.status, &answer.body) {
                    Ok(_) => Started::Accepted {
                        request_id: intent,
                        checkout_url: None,
                    },
                    Err(Some((code, reason))) => Started::Refused { code, reason },
                    Err(None) => Started::Unknown,
                },
            )
        }
    }
}

/// Asks the provider where `intent` stands. Anything unclear is [`Status::Pending`]; `None` when
/// it cannot be asked (no request id yet at a provider that needs one).
pub async fn status(settings: &Settings, intent: &Intent) -> Result<Option<Status>, Problem> {
    let provider =
        Provider::parse(&intent.provider).ok_or_else(|| Problem::internal("unknown provider"))?;
    let now = now_unix().0;
    match provider {
        Provider::Daraja => {
            let c = settings
                .daraja
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let Some(checkout) = &intent.provider_request_id else {
                return Ok(None);
            };
            let Ok(token) = daraja_token(settings, c).await else {
                return Ok(Some(Status::Pending));
            };
            let out = daraja::stk_query(c, &token, &daraja::timestamp(now), checkout);
            Ok(Some(match send("daraja", out).await {
                Ok(a) => daraja::stk_query_answer(a.status, &a.body),
                Err(_) => Status::Pending,
            }))
        }
        Provider::Selcom => {
            let c = settings
                .selcom
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let out = selcom::order_status(c, &selcom::timestamp(now), &intent.id.to_string());
            Ok(Some(match send("selcom", out).await {
                Ok(a) => selcom::order_status_answer(a.status, &a.body),
                Err(_) => Status::Pending,
            }))
        }
        Provider::Tembo => {
            let c = settings
                .tembo
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let out = tembo::collection_status(
                c,
                &Uuid::now_v7().to_string(),
                &intent.id.to_string(),
                None,
            );
            Ok(Some(match send("tembo", out).await {
                Ok(a) if a.status == 200 => tembo::status_of(&a.body),
                _ => Status::Pending,
            }))
        }
    }
}
