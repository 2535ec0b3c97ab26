//! A local simulator of the three payment providers, speaking their wire formats:
//! - Daraja: `GET /oauth/v1/generate` (Basic auth), `POST /mpesa/stkpush/v1/processrequest`
//!   (checks the `Password`, `Timestamp`, integer `Amount`), `POST /mpesa/stkpushquery/v1/query`
//!   (HTTP 500 `500.001.1001` while pending), and the STK callback.
//! - Selcom: the `Authorization`/`Digest`/`Signed-Fields` headers are verified on every request;
//!   `create-order-minimal`, `wallet-payment`, `order-status`, and webhooks signed the same way.
//! - Tembo Plus: `x-account-id`/`x-secret-key`/`x-request-id`, `collection`, `collection/status`
//!   and the callback.
//!
//! Each payment follows a [`Plan`]: its outcome, how many status queries still answer "pending",
//! and when callbacks go out (late, twice, never, a contradicting one first). Callbacks are
//! delivered to the app's real address (`deliver_to`), keeping the path of the URL we were given,
//! as a tunnel in front of a deployment would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde_json::{json, Value};
use sha2::Sha256;

pub const DARAJA_KEY: &str = "daraja-consumer-key";
pub const DARAJA_SECRET: &str = "daraja-consumer-secret";
pub const DARAJA_SHORTCODE: &str = "174379";
pub const DARAJA_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
pub const DARAJA_INITIATOR: &str = "nexgate-api";
pub const DARAJA_CREDENTIAL: &str = "c2VjdXJpdHktY3JlZGVudGlhbA==";
pub const DARAJA_B2C_SHORTCODE: &str = "600996";
pub const SELCOM_PIN: &str = "4321";
pub const SELCOM_KEY: &str = "selcom-api-key";
pub const SELCOM_SECRET: &str = "selcom-api-secret";
pub const SELCOM_VENDOR: &str = "TILL60917564";
/// What Selcom signs webhooks with (the deployment's `selcom_callback_secret`).
pub const SELCOM_WEBHOOK_SECRET: &str = "selcom-webhook-secret";
pub const TEMBO_ACCOUNT: &str = "tembo-account";
pub const TEMBO_SECRET: &str = "tembo-secret";

/// How one payment goes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `None`: succeeds; `Some(code)`: fails with the provider's code (M-Pesa `1032`...).
    pub fail_with: Option<String>,
    /// Status queries answered "still processing" before the outcome shows.
    pub pending_queries: u32,
    /// Callbacks sent, each after its delay (ms). Empty: the callback never comes.
    pub callbacks_after_ms: Vec<u64>,
    /// Also send a contradicting callback (a failure for a success and the reverse) at once.
    pub contradicting_callback: bool,
    /// The amount the callback reports, when not the real one (a provider bug or forgery).
    pub callback_amount: Option<i64>,
    /// The request is taken but its synchronous answer is lost (HTTP 503): the caller cannot
    /// know whether it happened.
    pub unclear_answer: bool,
    /// How long M-Pesa takes to post a transaction-status answer (ms).
    pub status_answer_after_ms: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            fail_with: None,
            pending_queries: 0,
            callbacks_after_ms: vec![200],
            contradicting_callback: false,
            callback_amount: None,
            unclear_answer: false,
            status_answer_after_ms: 0,
        }
    }
}

/// One payment as the provider sees it.
#[derive(Debug, Clone)]
pub struct Payment {
    pub provider: &'static str,
    /// CheckoutRequestID (Daraja), order_id (Selcom), transactionRef (Tembo).
    pub request_id: String,
    pub transaction_id: String,
    pub amount: i64,
    pub msisdn: String,
    pub callback_url: String,
    pub plan: Plan,
    pub queries: u32,
    pub request: Value,
}

#[derive(Default)]
struct State {
    next_plan: Option<Plan>,
    default_plan: Option<Plan>,
    payments: Vec<Payment>,
    tokens: Vec<String>,
    hits: HashMap<String, usize>,
    /// Requests refused, with why (tests assert it stays empty).
    refusals: Vec<String>,
    app_origin: Option<String>,
    counter: u64,
    /// The ResultURL of every Daraja transaction-status query, with the payment it asked about.
    status_queries: Vec<(String, String)>,
    /// What a person decided for a payment waiting for them (the sandbox): request id → approved.
    decisions: HashMap<String, bool>,
    /// The local sandbox: callbacks to plain-HTTP addresses are accepted (a laptop has no TLS).
    sandbox: bool,
}

#[derive(Clone)]
pub struct PaymentSimulator {
    pub origin: String,
    state: Arc<Mutex<State>>,
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn selcom_digest(secret: &str, timestamp: &str, fields: &[(String, String)]) -> String {
    let mut message = format!("timestamp={timestamp}");
    for (k, v) in fields {
        message.push_str(&format!("&{k}={v}"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Signs a Selcom webhook body: the headers Selcom sends with it.
pub fn selcom_webhook_headers(secret: &str, body: &Value) -> Vec<(String, String)> {
    let fields: Vec<(String, String)> = body
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), field_text(v)))
        .collect();
    let ts = eat_iso(now());
    vec![
        ("Digest-Method".into(), "HS256".into()),
        ("Timestamp".into(), ts.clone()),
        ("Digest".into(), selcom_digest(secret, &ts, &fields)),
        (
            "Signed-Fields".into(),
            fields
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn eat_iso(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs + 3 * 3600);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+03:00")
}

fn eat_compact(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs + 3 * 3600);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// The sandbox's plan: nothing happens until a person approves or declines the payment
/// ([`PaymentSimulator::decide`]); until then status queries answer "still processing".
pub fn awaiting_a_person() -> Plan {
    Plan {
        callbacks_after_ms: vec![],
        pending_queries: u32::MAX,
        ..Plan::default()
    }
}

impl PaymentSimulator {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener)
    }

    /// The local sandbox's providers on `listener`: every payment waits for a person, and
    /// callbacks may go to plain-HTTP addresses.
    pub fn start_sandbox(listener: tokio::net::TcpListener) -> Self {
        let sim = Self::start_on(listener);
        {
            let mut st = sim.state.lock().unwrap();
            st.default_plan = Some(awaiting_a_person());
            st.sandbox = true;
        }
        sim
    }

    /// Serves the providers on `listener`.
    pub fn start_on(listener: tokio::net::TcpListener) -> Self {
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let sim = Self {
            origin,
            state: Arc::new(Mutex::new(State::default())),
        };
        let served = sim.clone();
        crate::serve_http(listener, move |req| {
            let sim = served.clone();
            async move { sim.answer(req).await }
        });
        sim
    }

    /// The variables that point the app at this simulator with its credentials.
    pub fn app_env(&self) -> Vec<(String, String)> {
        let mut env = Self::provider_env(&self.origin);
        env.push((
            "SPIN_VARIABLE_PUBLIC_BASE_URL".into(),
            "https://pay.nexgate.test".into(),
        ));
        env
    }

    /// The providers' origins and credentials for an app using a simulator at `origin`.
    pub fn provider_env(origin: &str) -> Vec<(String, String)> {
        [
            ("DARAJA_ORIGIN", origin),
            ("DARAJA_CONSUMER_KEY", DARAJA_KEY),
            ("DARAJA_CONSUMER_SECRET", DARAJA_SECRET),
            ("DARAJA_SHORTCODE", DARAJA_SHORTCODE),
            ("DARAJA_PASSKEY", DARAJA_PASSKEY),
            ("DARAJA_INITIATOR_NAME", DARAJA_INITIATOR),
            ("DARAJA_SECURITY_CREDENTIAL", DARAJA_CREDENTIAL),
            ("DARAJA_B2C_SHORTCODE", DARAJA_B2C_SHORTCODE),
            ("SELCOM_PIN", SELCOM_PIN),
            ("SELCOM_ORIGIN", origin),
            ("SELCOM_API_KEY", SELCOM_KEY),
            ("SELCOM_API_SECRET", SELCOM_SECRET),
            ("SELCOM_VENDOR", SELCOM_VENDOR),
            ("SELCOM_CALLBACK_SECRET", SELCOM_WEBHOOK_SECRET),
            ("TEMBO_ORIGIN", origin),
            ("TEMBO_ACCOUNT_ID", TEMBO_ACCOUNT),
            ("TEMBO_SECRET_KEY", TEMBO_SECRET),
        ]
        .into_iter()
        .map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), v.to_string()))
        .collect()
    }

    /// Where callbacks really go (the app under test), whatever host their URL names.
    pub fn deliver_to(&self, app_origin: &str) {
        self.state.lock().unwrap().app_origin = Some(app_origin.trim_end_matches('/').to_string());
    }

    /// The plan of the next payment started (then back to the default).
    pub fn plan_next(&self, plan: Plan) {
        self.state.lock().unwrap().next_plan = Some(plan);
    }

    /// The plan of every payment without a `plan_next` (the benchmark's silent providers).
    pub fn plan_all(&self, plan: Plan) {
        self.state.lock().unwrap().default_plan = Some(plan);
    }

    pub fn payments(&self) -> Vec<Payment> {
        self.state.lock().unwrap().payments.clone()
    }

    pub fn hits(&self, path: &str) -> usize {
        *self.state.lock().unwrap().hits.get(path).unwrap_or(&0)
    }

    /// The ResultURLs the app gave M-Pesa's transaction-status queries about `request_id`.
    pub fn status_query_urls(&self, request_id: &str) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.status_queries
            .iter()
            .filter(|(id, _)| id == request_id)
            .map(|(_, url)| url.clone())
            .collect()
    }

    /// A person approves or declines payment `request_id` (the sandbox's buttons): from now on
    /// its status queries answer the outcome, and its callback goes out. `Err` names why not: an
    /// unknown payment, or one already decided.
    pub fn decide(&self, request_id: &str, approve: bool) -> Result<Payment, &'static str> {
        let p = {
            let mut st = self.state.lock().unwrap();
            if st.decisions.contains_key(request_id) {
                return Err("already decided");
            }
            let Some(p) = st.payments.iter_mut().find(|p| p.request_id == request_id) else {
                return Err("no such payment");
            };
            p.plan.pending_queries = 0;
            p.plan.fail_with = (!approve).then(|| match p.provider {
                "daraja_b2c" => "2001".to_string(),
                _ => "1032".to_string(),
            });
            let p = p.clone();
            st.decisions.insert(request_id.to_string(), approve);
            p
        };
        let sim = self.clone();
        let sent = p.clone();
        tokio::spawn(async move { sim.send_callback(&sent, false).await });
        Ok(p)
    }

    /// Every payment with what a person decided (`None`: still waiting).
    pub fn payments_with_decisions(&self) -> Vec<(Payment, Option<bool>)> {
        let st = self.state.lock().unwrap();
        st.payments
            .iter()
            .map(|p| (p.clone(), st.decisions.get(&p.request_id).copied()))
            .collect()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.state.lock().unwrap().refusals.clone()
    }

    /// The customer finishes a hosted checkout (cards): the payment succeeds and Selcom calls back.
    pub fn complete_checkout(&self, order_id: &str) {
        let p = {
            let st = self.state.lock().unwrap();
            st.payments
                .iter()
                .find(|p| p.request_id == order_id)
                .cloned()
        };
        let p = p.expect("no such checkout order");
        let sim = self.clone();
        tokio::spawn(async move { sim.send_callback(&p, false).await });
    }

    fn refuse(&self, why: String) {
        self.state.lock().unwrap().refusals.push(why);
    }

    async fn answer(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let headers: HashMap<String, String> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let raw = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        *self
            .state
            .lock()
            .unwrap()
            .hits
            .entry(path.clone())
            .or_default() += 1;
        match path.as_str() {
            "/oauth/v1/generate" => self.daraja_token(&headers, &query),
            "/mpesa/stkpush/v1/processrequest" => self.daraja_push(&headers, body),
            "/mpesa/stkpushquery/v1/query" => self.daraja_query(&headers, &body),
            "/mpesa/b2c/v1/paymentrequest" => self.daraja_b2c(&headers, body),
            "/mpesa/transactionstatus/v1/query" => self.daraja_transaction_status(&headers, &body),
            p if p.starts_with("/v1/") => {
                if let Err(why) = self.check_selcom(&headers, &body, &query) {
                    self.refuse(format!("selcom {p}: {why}"));
                    return reply(
                        401,
                        json!({"resultcode": "401", "result": "FAIL", "message": why}),
                    );
                }
                match p {
                    "/v1/checkout/create-order-minimal" => self.selcom_order(body),
                    "/v1/checkout/wallet-payment" => self.selcom_push(&body),
                    "/v1/checkout/order-status" => self.selcom_status(&query),
                    "/v1/walletcashin/process" => self.selcom_cashin(body),
                    "/v1/walletcashin/query" => self.selcom_cashin_query(&query),
                    _ => reply(404, json!({"resultcode": "404"})),
                }
            }
            p if p.starts_with("/tembo/") => {
                if headers.get("x-account-id").map(String::as_str) != Some(TEMBO_ACCOUNT)
                    || headers.get("x-secret-key").map(String::as_str) != Some(TEMBO_SECRET)
                    || headers.get("x-request-id").is_none_or(|r| r.is_empty())
                {
                    self.refuse(format!("tembo {p}: bad credentials headers"));
                    return reply(401, json!({"statusCode": "UNAUTHORIZED"}));
                }
                match p {
                    "/tembo/v1/collection" => self.tembo_collect(body),
                    "/tembo/v1/collection/status" => self.tembo_status(&body),
                    "/tembo/v1/payment/wallet-to-mobile" => self.tembo_payout(body),
                    "/tembo/v1/payment/status" => self.tembo_status(&body),
                    _ => reply(404, json!({"statusCode": "NOT_FOUND"})),
                }
            }
            _ => reply(404, json!({"error": "not found"})),
        }
    }

    fn take_plan(&self) -> Plan {
        let mut st = self.state.lock().unwrap();
        st.next_plan
            .take()
            .or_else(|| st.default_plan.clone())
            .unwrap_or_default()
    }

    /// Providers call back over HTTPS only; the local sandbox also takes plain HTTP.
    fn callback_address_ok(&self, url: &str) -> bool {
        url.starts_with("https://")
            || (url.starts_with("http://") && self.state.lock().unwrap().sandbox)
    }

    fn next_number(&self) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.counter += 1;
        st.counter
    }

    fn bearer_ok(&self, headers: &HashMap<String, String>) -> bool {
        let Some(token) = headers
            .get("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.state.lock().unwrap().tokens.iter().any(|t| t == token)
    }

    fn daraja_token(
        &self,
        headers: &HashMap<String, String>,
        query: &str,
    ) -> Response<Full<Bytes>> {
        let expected = format!(
            "Basic {}",
            B64.encode(format!("{DARAJA_KEY}:{DARAJA_SECRET}"))
        );
        if headers.get("authorization") != Some(&expected)
            || query != "grant_type=client_credentials"
        {
            self.refuse("daraja token: bad credentials".into());
            return reply(
                400,
                json!({"requestId": "", "errorCode": "400.008.01", "errorMessage": "Invalid Authentication passed"}),
            );
        }
        let token = format!("tok{}", self.next_number());
        self.state.lock().unwrap().tokens.push(token.clone());
        reply(200, json!({"access_token": token, "expires_in": "3599"}))
    }

    fn daraja_error(&self, why: &str) -> Response<Full<Bytes>> {
        self.refuse(format!("daraja: {why}"));
        reply(
            400,
            json!({"requestId": "r", "errorCode": "400.002.02", "errorMessage": format!("Bad Request - Invalid {why}")}),
        )
    }

    fn daraja_password_ok(&self, body: &Value) -> bool {
        let ts = body["Timestamp"].as_str().unwrap_or("");
        let expected = B64.encode(format!("{DARAJA_SHORTCODE}{DARAJA_PASSKEY}{ts}"));
        // The timestamp is East Africa Time, within a few minutes of now.
        let close = [-120, -60, 0, 60, 120]
            .iter()
            .any(|d| eat_compact(now() + d)[..11] == ts.get(..11).unwrap_or("")[..]);
        body["Password"].as_str() == Some(expected.as_str()) && ts.len() == 14 && close
    }

    fn daraja_push(&self, headers: &HashMap<String, String>, body: Value) -> Response<Full<Bytes>> {
        if !self.bearer_ok(headers) {
            self.refuse("daraja push: bad token".into());
            return reply(
                401,
                json!({"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}),
            );
        }
        if !self.daraja_password_ok(&body) {
            return self.daraja_error("Password or Timestamp");
        }
        let Some(amount) = body["Amount"].as_i64().filter(|a| *a >= 1) else {
            return self.daraja_error("Amount");
        };
        let phone = body["PhoneNumber"].as_str().unwrap_or("").to_string();
        if !phone.starts_with("254") || phone.len() != 12 || body["PartyA"] != body["PhoneNumber"] {
            return self.daraja_error("PhoneNumber");
        }
        if body["BusinessShortCode"] != DARAJA_SHORTCODE
            || body["TransactionType"] != "CustomerPayBillOnline"
        {
            return self.daraja_error("BusinessShortCode");
        }
        let callback_url = body["CallBackURL"].as_str().unwrap_or("").to_string();
        if !self.callback_address_ok(&callback_url) {
            return self.daraja_error("CallBackURL");
        }
        let n = self.next_number();
        let checkout = format!("ws_CO_{}{n:06}", eat_compact(now()));
        let payment = Payment {
            provider: "daraja",
            request_id: checkout.clone(),
            transaction_id: format!("SIM{n:07}"),
            amount,
            msisdn: phone,
            callback_url,
            plan: self.take_plan(),
            queries: 0,
            request: body,
        };
        self.schedule_callbacks(&payment);
        self.state.lock().unwrap().payments.push(payment);
        reply(
            200,
            json!({
                "MerchantRequestID": format!("29115-{n}"),
                "CheckoutRequestID": checkout,
                "ResponseCode": "0",
                "ResponseDescription": "Success. Request accepted for processing",
                "CustomerMessage": "Success. Request accepted for processing"
            }),
        )
    }

    /// Counts a status query; `None` while the payment still shows as pending.
    fn query_payment(&self, request_id: &str) -> Option<Option<Payment>> {
        let mut st = self.state.lock().unwrap();
        let p = st
            .payments
            .iter_mut()
            .find(|p| p.request_id == request_id)?;
        p.queries += 1;
        if p.queries <= p.plan.pending_queries {
            return Some(None);
        }
        Some(Some(p.clone()))
    }

    fn daraja_query(
        &self,
        headers: &HashMap<String, String>,
        body: &Value,
    ) -> Response<Full<Bytes>> {
        if !self.bearer_ok(headers) {
            return reply(
                401,
                json!({"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}),
            );
        }
        if !self.daraja_password_ok(body) {
            return self.daraja_error("Password or Timestamp");
        }
        let id = body["CheckoutRequestID"].as_str().unwrap_or("");
        match self.query_payment(id) {
            None => reply(
                400,
                json!({"requestId": "r", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid CheckoutRequestID"}),
            ),
            Some(None) => reply(
                500,
                json!({"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"}),
            ),
            Some(Some(p)) => {
                let (code, desc) = match &p.plan.fail_with {
                    None => (
                        "0".to_string(),
                        "The service request is processed successfully.".to_string(),
                    ),
                    Some(c) => (c.clone(), "Request cancelled by user".to_string()),
                };
                reply(
                    200,
                    json!({
                        "ResponseCode": "0",
                        "ResponseDescription": "The service request has been accepted successsfully",
                        "MerchantRequestID": "29115-1",
                        "CheckoutRequestID": id,
                        "ResultCode": code,
                        "ResultDesc": desc
                    }),
                )
            }
        }
    }

    fn check_selcom(
        &self,
        headers: &HashMap<String, String>,
        body: &Value,
        query: &str,
    ) -> Result<(), String> {
        if headers.get("authorization") != Some(&format!("SELCOM {}", B64.encode(SELCOM_KEY))) {
            return Err("bad Authorization".into());
        }
        if headers.get("digest-method").map(String::as_str) != Some("HS256") {
            return Err("bad Digest-Method".into());
        }
        let ts = headers.get("timestamp").ok_or("no Timestamp")?;
        let signed = headers.get("signed-fields").ok_or("no Signed-Fields")?;
        let source: Vec<(String, String)> = if body.is_object() {
            body.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), field_text(v)))
                .collect()
        } else {
            query
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let mut fields = Vec::new();
        for name in signed.split(',') {
            let v = source
                .iter()
                .find(|(k, _)| k == name)
                .ok_or(format!("signed field {name} missing"))?;
            fields.push(v.clone());
        }
        if fields.len() != source.len() {
            return Err("not every field is signed".into());
        }
        if headers.get("digest") != Some(&selcom_digest(SELCOM_SECRET, ts, &fields)) {
            return Err("Digest mismatch".into());
        }
        Ok(())
    }

    fn selcom_order(&self, body: Value) -> Response<Full<Bytes>> {
        let order_id = body["order_id"].as_str().unwrap_or("").to_string();
        let webhook = body["webhook"]
            .as_str()
            .and_then(|w| B64.decode(w).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        if body["vendor"] != SELCOM_VENDOR
            || order_id.is_empty()
            || body["currency"] != "TZS"
            || !self.callback_address_ok(&webhook)
        {
            self.refuse(format!("selcom order: bad fields {body}"));
            return reply(
                400,
                json!({"reference": "", "resultcode": "400", "result": "FAIL", "message": "Invalid request"}),
            );
        }
        let Some(amount) = body["amount"].as_i64() else {
            return reply(
                400,
                json!({"resultcode": "400", "result": "FAIL", "message": "Invalid amount"}),
            );
        };
        let n = self.next_number();
        let is_wallet = !body["buyer_phone"].as_str().unwrap_or("").is_empty();
        let payment = Payment {
            provider: "selcom",
            request_id: order_id.clone(),
            transaction_id: format!("SEL{n:09}"),
            amount,
            msisdn: body["buyer_phone"].as_str().unwrap_or("").to_string(),
            callback_url: webhook,
            plan: if is_wallet {
                Plan::default()
            } else {
                Plan {
                    callbacks_after_ms: vec![],
                    ..Plan::default()
                }
            },
            queries: 0,
            request: body,
        };
        self.state.lock().unwrap().payments.push(payment);
        let page = format!("{}/checkout/{order_id}", self.origin);
        reply(
            200,
            json!({
                "reference": format!("0{n:09}"),
                "resultcode": "000",
                "result": "SUCCESS",
                "message": "Order creation successful",
                "data": [{"gateway_buyer_uuid": "b", "payment_token": format!("{n:08}"), "qr": "QR", "payment_gateway_url": B64.encode(page)}]
            }),
        )
    }

    fn selcom_push(&self, body: &Value) -> Response<Full<Bytes>> {
        let order_id = body["order_id"].as_str().unwrap_or("");
        let plan = self.take_plan();
        let payment = {
            let mut st = self.state.lock().unwrap();
            let Some(p) = st.payments.iter_mut().find(|p| p.request_id == order_id) else {
                return reply(
                    400,
                    json!({"resultcode": "400", "result": "FAIL", "message": "Order not found"}),
                );
            };
            p.msisdn = body["msisdn"].as_str().unwrap_or("").to_string();
            p.plan = plan;
            p.clone()
        };
        self.schedule_callbacks(&payment);
        reply(
            200,
            json!({"reference": "0289999288", "resultcode": "000", "result": "SUCCESS", "message": "Push sent", "data": []}),
        )
    }

    fn selcom_status(&self, query: &str) -> Response<Full<Bytes>> {
        let order_id = query.strip_prefix("order_id=").unwrap_or("");
        match self.query_payment(order_id) {
            None => reply(
                200,
                json!({"resultcode": "404", "result": "FAIL", "message": "Order not found", "data": []}),
            ),
            Some(None) => reply(
                200,
                json!({"reference": "r", "resultcode": "000", "result": "SUCCESS", "message": "Order fetch successful",
                "data": [{"order_id": order_id, "amount": "0", "payment_status": "PENDING", "transid": null}]}),
            ),
            Some(Some(p)) => {
                let status = if p.plan.fail_with.is_some() {
                    "REJECTED"
                } else {
                    "COMPLETED"
                };
                reply(
                    200,
                    json!({"reference": "r", "resultcode": "000", "result": "SUCCESS", "message": "Order fetch successful",
                    "data": [{"order_id": order_id, "creation_date": eat_iso(now()), "amount": p.amount.to_string(), "payment_status": status,
                              "transid": p.transaction_id, "channel": "AIRTELMONEY", "reference": "0281121212", "phone": p.msisdn}]}),
                )
            }
        }
    }

    fn tembo_collect(&self, body: Value) -> Response<Full<Bytes>> {
        let reference = body["transactionRef"].as_str().unwrap_or("").to_string();
        let channel = body["channel"].as_str().unwrap_or("");
        let msisdn = body["msisdn"].as_str().unwrap_or("").to_string();
        let callback_url = body["callbackUrl"].as_str().unwrap_or("").to_string();
        let date_ok = body["transactionDate"]
            .as_str()
            .is_some_and(|d| d.len() == 19 && &d[10..11] == " ");
        if !channel.starts_with("TZ-")
            || !channel.ends_with("-C2B")
            || !msisdn.starts_with("255")
            || reference.is_empty()
            || !date_ok
            || !self.callback_address_ok(&callback_url)
        {
            self.refuse(format!("tembo collection: bad fields {body}"));
            return reply(
                400,
                json!({"statusCode": "INVALID_REQUEST", "message": "validation failed"}),
            );
        }
        let Some(amount) = body["amount"].as_i64().filter(|a| *a > 0) else {
            return reply(400, json!({"statusCode": "INVALID_AMOUNT"}));
        };
        let n = self.next_number();
        let payment = Payment {
            provider: "tembo",
            request_id: reference.clone(),
            transaction_id: format!("TMB{n:09}"),
            amount,
            msisdn,
            callback_url,
            plan: self.take_plan(),
            queries: 0,
            request: body,
        };
        self.schedule_callbacks(&payment);
        let id = payment.transaction_id.clone();
        self.state.lock().unwrap().payments.push(payment);
        reply(
            202,
            json!({"statusCode": "PENDING_ACK", "transactionRef": reference, "transactionId": id}),
        )
    }

    fn tembo_status(&self, body: &Value) -> Response<Full<Bytes>> {
        let reference = body["transactionRef"].as_str().unwrap_or("");
        match self.query_payment(reference) {
            None => reply(404, json!({"statusCode": "NOT_FOUND"})),
            Some(None) => reply(
                200,
                json!({"statusCode": "PENDING_ACK", "transactionRef": reference}),
            ),
            Some(Some(p)) => {
                let code = if p.plan.fail_with.is_some() {
                    "PAYMENT_REJECTED"
                } else {
                    "PAYMENT_ACCEPTED"
                };
                reply(
                    200,
                    json!({"statusCode": code, "transactionRef": reference, "transactionId": p.transaction_id}),
                )
            }
        }
    }

    fn daraja_b2c(&self, headers: &HashMap<String, String>, body: Value) -> Response<Full<Bytes>> {
        if !self.bearer_ok(headers) {
            self.refuse("daraja b2c: bad token".into());
            return reply(
                401,
                json!({"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"}),
            );
        }
        if body["InitiatorName"] != DARAJA_INITIATOR
            || body["SecurityCredential"] != DARAJA_CREDENTIAL
        {
            return self.daraja_error("Initiator or SecurityCredential");
        }
        if body["CommandID"] != "BusinessPayment" || body["PartyA"] != DARAJA_B2C_SHORTCODE {
            return self.daraja_error("CommandID or PartyA");
        }
        let phone = body["PartyB"].as_str().unwrap_or("").to_string();
        let result_url = body["ResultURL"].as_str().unwrap_or("").to_string();
        let originator = body["OriginatorConversationID"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let Some(amount) = body["Amount"].as_i64().filter(|a| *a >= 10) else {
            return self.daraja_error("Amount (at least 10)");
        };
        if !phone.starts_with("254")
            || phone.len() != 12
            || !self.callback_address_ok(&result_url)
            || originator.is_empty()
        {
            return self.daraja_error("PartyB, ResultURL or OriginatorConversationID");
        }
        let n = self.next_number();
        let payment = Payment {
            provider: "daraja_b2c",
            request_id: originator.clone(),
            transaction_id: format!("B2C{n:07}"),
            amount,
            msisdn: phone,
            callback_url: result_url,
            plan: self.take_plan(),
            queries: 0,
            request: body,
        };
        self.schedule_callbacks(&payment);
        let unclear = payment.plan.unclear_answer;
        self.state.lock().unwrap().payments.push(payment);
        if unclear {
            return reply(
                503,
                json!({"requestId": "r", "errorCode": "503.001.01", "errorMessage": "Service Unavailable"}),
            );
        }
        reply(
            200,
            json!({
                "ConversationID": format!("AG_{}_{n:08}", eat_compact(now())),
                "OriginatorConversationID": originator,
                "ResponseCode": "0",
                "ResponseDescription": "Accept the service request successfully."
            }),
        )
    }

    /// The transaction-status query: answered by posting a result to its ResultURL.
    fn daraja_transaction_status(
        &self,
        headers: &HashMap<String, String>,
        body: &Value,
    ) -> Response<Full<Bytes>> {
        if !self.bearer_ok(headers)
            || body["Initiator"] != DARAJA_INITIATOR
            || body["SecurityCredential"] != DARAJA_CREDENTIAL
        {
            return self.daraja_error("Initiator or SecurityCredential");
        }
        let originator = body["OriginatorConversationID"].as_str().unwrap_or("");
        let result_url = body["ResultURL"].as_str().unwrap_or("").to_string();
        self.state
            .lock()
            .unwrap()
            .status_queries
            .push((originator.to_string(), result_url.clone()));
        if let Some(Some(p)) = self.query_payment(originator) {
            let result = Self::status_result_body(&p, p.plan.fail_with.is_some());
            let sim = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(p.plan.status_answer_after_ms)).await;
                sim.post_to_app(&result_url, &result, "daraja_b2c").await
            });
        }
        reply(
            200,
            json!({"OriginatorConversationID": "ts", "ConversationID": "AG_ts", "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."}),
        )
    }

    fn selcom_cashin(&self, body: Value) -> Response<Full<Bytes>> {
        let network_ok = matches!(
            body["utilitycode"].as_str(),
            Some("VMCASHIN" | "AMCASHIN" | "TPCASHIN" | "HPCASHIN" | "ZPCASHIN")
        );
        let transid = body["transid"].as_str().unwrap_or("").to_string();
        if body["pin"] != SELCOM_PIN
            || body["vendor"] != SELCOM_VENDOR
            || !network_ok
            || transid.is_empty()
            || body["utilityref"] != body["msisdn"]
        {
            self.refuse(format!("selcom cashin: bad fields {body}"));
            return reply(
                200,
                json!({"reference": "", "resultcode": "403", "result": "FAIL", "message": "Invalid request"}),
            );
        }
        let Some(amount) = body["amount"].as_i64().filter(|a| *a > 0) else {
            return reply(
                200,
                json!({"resultcode": "400", "result": "FAIL", "message": "Invalid amount"}),
            );
        };
        let n = self.next_number();
        let payment = Payment {
            provider: "selcom_cashin",
            request_id: transid,
            transaction_id: format!("CI{n:08}"),
            amount,
            msisdn: body["msisdn"].as_str().unwrap_or("").to_string(),
            callback_url: String::new(),
            plan: self.take_plan(),
            queries: 0,
            request: body,
        };
        let answer = if payment.plan.unclear_answer {
            reply(
                503,
                json!({"resultcode": "999", "result": "FAIL", "message": "Service Unavailable"}),
            )
        } else if payment.plan.pending_queries > 0 {
            reply(
                200,
                json!({"reference": "", "resultcode": "111", "result": "PENDING", "message": "In progress"}),
            )
        } else {
            Self::cashin_final(&payment)
        };
        self.state.lock().unwrap().payments.push(payment);
        answer
    }

    fn cashin_final(p: &Payment) -> Response<Full<Bytes>> {
        match &p.plan.fail_with {
            None => reply(
                200,
                json!({"reference": p.transaction_id, "resultcode": "000", "result": "SUCCESS", "message": "Cashin successful", "data": []}),
            ),
            Some(code) => reply(
                200,
                json!({"reference": "", "resultcode": code, "result": "FAIL", "message": "Recipient wallet not registered"}),
            ),
        }
    }

    fn selcom_cashin_query(&self, query: &str) -> Response<Full<Bytes>> {
        let transid = query.strip_prefix("transid=").unwrap_or("");
        match self.query_payment(transid) {
            None => reply(
                200,
                json!({"resultcode": "404", "result": "FAIL", "message": "Transaction not found"}),
            ),
            Some(None) => reply(
                200,
                json!({"resultcode": "111", "result": "PENDING", "message": "In progress"}),
            ),
            Some(Some(p)) => Self::cashin_final(&p),
        }
    }

    fn tembo_payout(&self, body: Value) -> Response<Full<Bytes>> {
        let reference = body["transactionRef"].as_str().unwrap_or("").to_string();
        let service = body["serviceCode"].as_str().unwrap_or("");
        let callback_url = body["callbackUrl"].as_str().unwrap_or("").to_string();
        if !service.starts_with("TZ-")
            || !service.ends_with("-B2C")
            || body["accountNo"] != TEMBO_ACCOUNT
            || body["currencyCode"] != "TZS"
            || reference.is_empty()
            || !self.callback_address_ok(&callback_url)
        {
            self.refuse(format!("tembo payout: bad fields {body}"));
            return reply(400, json!({"statusCode": "INVALID_REQUEST"}));
        }
        let n = self.next_number();
        let payment = Payment {
            provider: "tembo_payout",
            request_id: reference.clone(),
            transaction_id: format!("TPO{n:09}"),
            amount: body["amount"].as_i64().unwrap_or(0),
            msisdn: body["msisdn"].as_str().unwrap_or("").to_string(),
            callback_url,
            plan: self.take_plan(),
            queries: 0,
            request: body,
        };
        self.schedule_callbacks(&payment);
        let id = payment.transaction_id.clone();
        self.state.lock().unwrap().payments.push(payment);
        reply(
            202,
            json!({"statusCode": "PENDING_ACK", "transactionRef": reference, "transactionId": id}),
        )
    }

    async fn post_to_app(&self, url: &str, body: &Value, provider: &str) {
        let path = url
            .splitn(4, '/')
            .nth(3)
            .map(|r| format!("/{r}"))
            .unwrap_or_default();
        let Some(origin) = self.state.lock().unwrap().app_origin.clone() else {
            return;
        };
        let mut req = reqwest::Client::new()
            .post(format!("{origin}{path}"))
            .json(body);
        if provider == "selcom" {
            for (k, v) in selcom_webhook_headers(SELCOM_WEBHOOK_SECRET, body) {
                req = req.header(k, v);
            }
        }
        let _ = req.send().await;
    }

    fn schedule_callbacks(&self, p: &Payment) {
        for (i, delay) in p.plan.callbacks_after_ms.iter().copied().enumerate() {
            let sim = self.clone();
            let p = p.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay)).await;
                if i == 0 && p.plan.contradicting_callback {
                    let s2 = sim.clone();
                    let p2 = p.clone();
                    tokio::spawn(async move { s2.send_callback(&p2, true).await });
                }
                sim.send_callback(&p, false).await;
            });
        }
    }

    /// M-Pesa's transaction-status result for B2C payment `p`: `Completed` or `Failed`.
    pub fn status_result_body(p: &Payment, failed: bool) -> Value {
        let status = if failed { "Failed" } else { "Completed" };
        json!({"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
            "OriginatorConversationID": format!("ts-{}", p.request_id), "ConversationID": "AG_ts", "TransactionID": "TSQ1",
            "ResultParameters": {"ResultParameter": [
                {"Key": "ReceiptNo", "Value": p.transaction_id}, {"Key": "TransactionStatus", "Value": status},
                {"Key": "Amount", "Value": p.amount}]}}})
    }

    /// The callback body of `p` as its provider sends it (`contradict`: the opposite outcome).
    pub fn callback_body(p: &Payment, contradict: bool) -> Value {
        let fails = p.plan.fail_with.is_some() != contradict;
        let code = p.plan.fail_with.clone().unwrap_or_else(|| "1032".into());
        let amount = p.plan.callback_amount.unwrap_or(p.amount);
        match p.provider {
            "daraja_b2c" => {
                if fails {
                    json!({"Result": {"ResultType": 0, "ResultCode": code.parse::<i64>().unwrap_or(2001), "ResultDesc": "The initiator information is invalid.",
                        "OriginatorConversationID": p.request_id, "ConversationID": "AG_1", "TransactionID": p.transaction_id}})
                } else {
                    json!({"Result": {"ResultType": 0, "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
                        "OriginatorConversationID": p.request_id, "ConversationID": "AG_1", "TransactionID": p.transaction_id,
                        "ResultParameters": {"ResultParameter": [
                            {"Key": "TransactionAmount", "Value": amount},
                            {"Key": "TransactionReceipt", "Value": p.transaction_id},
                            {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                            {"Key": "ReceiverPartyPublicName", "Value": format!("{} - Jane Doe", p.msisdn)}]},
                        "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"}}}})
                }
            }
            "daraja" => {
                if fails {
                    json!({"Body": {"stkCallback": {"MerchantRequestID": "29115-1", "CheckoutRequestID": p.request_id,
                        "ResultCode": code.parse::<i64>().unwrap_or(1032), "ResultDesc": "Request cancelled by user"}}})
                } else {
                    json!({"Body": {"stkCallback": {"MerchantRequestID": "29115-1", "CheckoutRequestID": p.request_id,
                        "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
                        "CallbackMetadata": {"Item": [
                            {"Name": "Amount", "Value": amount},
                            {"Name": "MpesaReceiptNumber", "Value": p.transaction_id},
                            {"Name": "Balance"},
                            {"Name": "TransactionDate", "Value": eat_compact(now()).parse::<i64>().unwrap()},
                            {"Name": "PhoneNumber", "Value": p.msisdn.parse::<i64>().unwrap_or(0)}]}}}})
                }
            }
            "selcom" => {
                if fails {
                    json!({"result": "FAIL", "resultcode": "400", "order_id": p.request_id, "transid": p.transaction_id,
                        "reference": "0281121212", "channel": "AIRTELMONEY", "amount": amount.to_string(), "phone": p.msisdn, "payment_status": "REJECTED"})
                } else {
                    json!({"result": "SUCCESS", "resultcode": "000", "order_id": p.request_id, "transid": p.transaction_id,
                        "reference": "0281121212", "channel": "AIRTELMONEY", "amount": amount.to_string(), "phone": p.msisdn, "payment_status": "COMPLETED"})
                }
            }
            _ => json!({
                "statusCode": if fails { "PAYMENT_REJECTED" } else { "PAYMENT_ACCEPTED" },
                "transactionRef": p.request_id,
                "transactionId": p.transaction_id,
            }),
        }
    }

    async fn send_callback(&self, p: &Payment, contradict: bool) {
        let body = Self::callback_body(p, contradict);
        self.post_to_app(&p.callback_url, &body, p.provider).await;
    }
}
