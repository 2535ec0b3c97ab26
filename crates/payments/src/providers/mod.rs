//! The providers. Each module holds a provider's wire formats, sans-IO (the exact requests it
//! expects, its answers and callbacks read into a [`Status`]; unit tests pin them and the
//! simulators in `tests/src/payments.rs` speak them back), then its `adapter`: every step the
//! service asks of it (start a collection, ask its status, pay out, ask a payout's status, verify
//! and read a callback, acknowledge it). [`Provider`]'s methods are the one place that dispatches
//! on the provider; [`send`] puts a request on the wire.

pub mod daraja;
pub mod selcom;
pub mod tembo;

use nexgate_platform::money::Money;
use nexgate_platform::Problem;
use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use uuid::Uuid;

use crate::disburse::Disbursement;
use crate::rows::Intent;
use crate::settings::Settings;

/// A payment provider. Each has one adapter (`daraja::adapter`, ...) doing every step the
/// service needs of it; the methods below are the one place that dispatches on the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Safaricom's Daraja API (M-Pesa Kenya).
    Daraja,
    /// Selcom (Tanzanian wallets and cards).
    Selcom,
    /// Tembo Plus (Tanzanian wallets).
    Tembo,
}

/// The collection to start.
pub struct Collection<'a> {
    pub intent: Uuid,
    pub amount: Money,
    pub msisdn: Option<&'a str>,
    pub network: Option<&'a str>,
    pub description: &'a str,
    pub callback_url: String,
}

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

impl Started {
    /// A refusal with its code and words, or `None` for an unclear answer.
    fn from_refusal(refusal: Option<(String, String)>) -> Self {
        match refusal {
            Some((code, reason)) => Started::Refused { code, reason },
            None => Started::Unknown,
        }
    }
}

/// What asking a provider to pay out gave.
#[derive(Debug)]
pub enum PayoutAsked {
    /// Taken (with the provider's request id when it gives one); the result comes later.
    Taken(Option<String>),
    /// Refused: code and words.
    Refused { code: String, reason: String },
    /// No clear answer: never re-sent; the sweeper asks.
    Unclear,
    /// Answered on the spot with a final status (Selcom).
    Answered(Status),
}

impl PayoutAsked {
    fn from_outcome(outcome: Result<Option<String>, Option<(String, String)>>) -> Self {
        match outcome {
            Ok(request_id) => PayoutAsked::Taken(request_id),
            Err(Some((code, reason))) => PayoutAsked::Refused { code, reason },
            Err(None) => PayoutAsked::Unclear,
        }
    }
}

/// What a collection callback names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportNames {
    /// Our own reference (the intent id).
    Ours(String),
    /// The provider's request id (Daraja's CheckoutRequestID).
    ProviderRequest(String),
}

/// A collection callback as its adapter reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionReport {
    pub names: ReportNames,
    /// What it says happened; `None` when its word is not used at all (the query decides).
    pub status: Option<Status>,
}

/// A payout callback as its adapter reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutReport {
    /// Our reference, when the callback names one (it must be the disbursement's).
    pub reference: Option<String>,
    pub status: Option<Status>,
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Provider {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Daraja => "daraja",
            Provider::Selcom => "selcom",
            Provider::Tembo => "tembo",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "daraja" | "mpesa" => Some(Provider::Daraja),
            "selcom" => Some(Provider::Selcom),
            "tembo" => Some(Provider::Tembo),
            _ => None,
        }
    }

    /// From the database's text; another text is a 500 (rows hold only providers we wrote).
    pub fn from_db(text: &str) -> Result<Self, Problem> {
        Self::parse(text).ok_or_else(|| Problem::internal(format!("unknown provider `{text}`")))
    }

    /// The one currency the provider collects and pays out in.
    pub fn currency(self) -> &'static str {
        match self {
            Provider::Daraja => "KES",
            Provider::Selcom | Provider::Tembo => "TZS",
        }
    }

    /// Whether this deployment has the provider's credentials.
    pub fn is_configured(self, settings: &Settings) -> bool {
        match self {
            Provider::Daraja => settings.daraja.is_some(),
            Provider::Selcom => settings.selcom.is_some(),
            Provider::Tembo => settings.tembo.is_some(),
        }
    }

    /// Starts a collection. `Err` only for what must be a 5xx before anything was sent.
    pub async fn start_collection(
        self,
        settings: &Settings,
        col: &Collection<'_>,
    ) -> Result<Started, Problem> {
        match self {
            Provider::Daraja => daraja::adapter::start_collection(settings, col).await,
            Provider::Selcom => selcom::adapter::start_collection(settings, col).await,
            Provider::Tembo => tembo::adapter::start_collection(settings, col).await,
        }
    }

    /// Where a collection stands. Anything unclear is [`Status::Pending`]; `None` when it cannot
    /// be asked (no request id yet at a provider that needs one).
    pub async fn collection_status(
        self,
        settings: &Settings,
        intent: &Intent,
    ) -> Result<Option<Status>, Problem> {
        match self {
            Provider::Daraja => daraja::adapter::collection_status(settings, intent).await,
            Provider::Selcom => selcom::adapter::collection_status(settings, intent).await,
            Provider::Tembo => tembo::adapter::collection_status(settings, intent).await,
        }
    }

    /// Asks the provider, once, to pay `d` out; results that come later go to `result_url`.
    pub async fn pay_out(
        self,
        settings: &Settings,
        d: &Disbursement,
        narration: &str,
        result_url: &str,
    ) -> Result<PayoutAsked, Problem> {
        match self {
            Provider::Daraja => daraja::adapter::pay_out(settings, d, narration, result_url).await,
            Provider::Selcom => selcom::adapter::pay_out(settings, d).await,
            Provider::Tembo => tembo::adapter::pay_out(settings, d, narration, result_url).await,
        }
    }

    /// Whether a payout's status query is answered by callback (Daraja), not synchronously; its
    /// result URL then carries a fresh query secret.
    pub fn answers_payout_status_by_callback(self) -> bool {
        matches!(self, Provider::Daraja)
    }

    /// Where a payout stands: `Some` for a synchronous answer, `None` when the answer comes to
    /// `result_url` (needed exactly when [`Self::answers_payout_status_by_callback`]).
    pub async fn payout_status(
        self,
        settings: &Settings,
        d: &Disbursement,
        result_url: Option<&str>,
    ) -> Result<Option<Status>, Problem> {
        match (self, result_url) {
            (Provider::Daraja, Some(url)) => daraja::adapter::payout_status(settings, d, url).await,
            (Provider::Daraja, None) => Ok(None),
            (Provider::Selcom, _) => selcom::adapter::payout_status(settings, d).await,
            (Provider::Tembo, _) => tembo::adapter::payout_status(settings, d).await,
        }
    }

    /// Checks a callback's signature from its headers and raw body, as far as the provider
    /// signs (Daraja does not: its URL secret is all there is).
    pub fn verify_callback(
        self,
        headers: &[(String, String)],
        raw: &[u8],
        body: &Value,
    ) -> Result<(), &'static str> {
        match self {
            Provider::Daraja => Ok(()),
            Provider::Selcom => selcom::adapter::verify_callback(headers, body),
            Provider::Tembo => tembo::adapter::verify_callback(headers, raw),
        }
    }

    /// Reads a collection callback; `None` when it is not one of this provider's.
    pub fn read_collection_callback(self, body: &Value) -> Option<CollectionReport> {
        match self {
            Provider::Daraja => daraja::adapter::read_collection_callback(body),
            Provider::Selcom => selcom::adapter::read_collection_callback(body),
            Provider::Tembo => tembo::adapter::read_collection_callback(body),
        }
    }

    /// Reads a payout callback; `None` when it is not one (Selcom answers payouts on the spot
    /// and sends none).
    pub fn read_payout_callback(self, body: &Value) -> Option<PayoutReport> {
        match self {
            Provider::Daraja => daraja::adapter::read_payout_callback(body),
            Provider::Selcom => None,
            Provider::Tembo => tembo::adapter::read_payout_callback(body),
        }
    }

    /// The body the provider expects back from a callback (`intent`: what it was about).
    pub fn acknowledgement(self, intent: Option<Uuid>, accepted: bool) -> Value {
        match self {
            Provider::Daraja => daraja::adapter::acknowledgement(),
            Provider::Selcom => selcom::adapter::acknowledgement(intent, accepted),
            Provider::Tembo => tembo::adapter::acknowledgement(),
        }
    }
}

/// What a provider says about a payment (or a payout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// It happened: the provider's id for it, and the amount in major units when it says.
    Succeeded {
        transaction_id: String,
        amount_major: Option<i64>,
    },
    /// It definitely did not happen (the provider's code and words).
    Failed { code: String, reason: String },
    /// Not decided yet (still with the customer, or the provider is processing or unsure).
    Pending,
}

/// One HTTP request to a provider.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Outbound {
    pub fn json(
        method: &'static str,
        url: String,
        headers: Vec<(String, String)>,
        body: &Value,
    ) -> Self {
        let mut headers = headers;
        headers.push(("content-type".into(), "application/json".into()));
        Self {
            method,
            url,
            headers,
            body: Some(serde_json::to_vec(body).unwrap_or_default()),
        }
    }
}

/// Longest provider answer read.
const ANSWER_BYTES_MAX: usize = 256 * 1024;

/// A provider's answer: status and JSON body (`Value::Null` when not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Sends `out`. A transport failure is `Err` (the outcome is unknown: callers treat the payment
/// as pending and let the sweeper ask).
pub async fn send(provider: &str, out: Outbound) -> Result<Answer, Problem> {
    let method = match out.method {
        "GET" => Method::Get,
        _ => Method::Post,
    };
    let mut builder = Request::builder();
    builder.method(method).uri(&out.url);
    for (k, v) in &out.headers {
        builder.header(k, v);
    }
    let req = match out.body {
        Some(b) => builder.body(b).build(),
        None => builder.build(),
    };
    let resp: Response = spin_sdk::http::send(req).await.map_err(|e| {
        eprintln!("payments: {provider} unreachable: {e}");
        provider_unavailable(provider)
    })?;
    let mut body = resp.body().to_vec();
    body.truncate(ANSWER_BYTES_MAX);
    Ok(Answer {
        status: *resp.status(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// Sends a status query and reads its answer; a query that does not reach the provider is
/// [`Status::Pending`] (the next query asks again).
pub async fn ask_status(
    provider: &str,
    out: Outbound,
    read: impl FnOnce(u16, &Value) -> Status,
) -> Status {
    match send(provider, out).await {
        Ok(a) => read(a.status, &a.body),
        Err(_) => Status::Pending,
    }
}

/// 503 naming the provider.
pub fn provider_unavailable(provider: &str) -> Problem {
    Problem::new(
        503,
        "provider_unavailable",
        "The payment provider could not be reached",
    )
    .with_detail(format!("{provider} did not answer; try again shortly"))
}

/// A string or number field as text (providers are loose with JSON types).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string or number field as an integer.
pub fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}
