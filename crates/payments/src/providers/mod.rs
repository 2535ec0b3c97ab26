//! The providers' wire formats, sans-IO: each module builds the exact requests a provider expects
//! and reads its answers and callbacks into a [`Status`]. [`send`] puts a request on the wire.
//! Unit tests pin the formats; the simulators in `tests/src/payments.rs` speak them back.

pub mod daraja;
pub mod selcom;
pub mod tembo;

use nexgate_platform::Problem;
use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};

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
