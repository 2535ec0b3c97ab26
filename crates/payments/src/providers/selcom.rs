//! Selcom (Tanzania): every request signed with the HMAC digest headers, the checkout order
//! (`create-order-minimal`), the wallet push (`wallet-payment`), the order status, and the
//! webhook, which Selcom signs the same way.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{integer, text, Outbound, Status};

/// Credentials and the vendor (till), from the variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub origin: String,
    pub api_key: String,
    pub api_secret: String,
    pub vendor: String,
}

/// `Digest` = base64(HMAC-SHA256(secret, "timestamp=<ts>&k1=v1&k2=v2...")) over the fields named
/// in `Signed-Fields`, in that order.
pub fn digest(secret: &str, timestamp: &str, fields: &[(String, String)]) -> String {
    let mut message = format!("timestamp={timestamp}");
    for (k, v) in fields {
        message.push('&');
        message.push_str(k);
        message.push('=');
        message.push_str(v);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// The top-level fields of a JSON object as the strings Selcom signs (objects and arrays as
/// JSON text), in the object's order.
pub fn signable_fields(body: &Value) -> Vec<(String, String)> {
    body.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let s = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k.clone(), s)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The headers of a signed request.
pub fn signed_headers(
    c: &Config,
    timestamp: &str,
    fields: &[(String, String)],
) -> Vec<(String, String)> {
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    vec![
        (
            "authorization".into(),
            format!("SELCOM {}", B64.encode(&c.api_key)),
        ),
        ("digest-method".into(), "HS256".into()),
        ("digest".into(), digest(&c.api_secret, timestamp, fields)),
        ("timestamp".into(), timestamp.into()),
        ("signed-fields".into(), names.join(",")),
    ]
}

/// Selcom's `Timestamp`: ISO 8601 with the offset, in East Africa Time.
pub fn timestamp(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = nexgate_platform::time::parts(unix_secs + 3 * 3600);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}+03:00")
}

fn post(c: &Config, path: &str, timestamp: &str, body: Value) -> Outbound {
    let fields = signable_fields(&body);
    Outbound::json(
        "POST",
        format!("{}{path}", c.origin),
        signed_headers(c, timestamp, &fields),
        &body,
    )
}

/// `POST /v1/checkout/create-order-minimal`: an order whose payment page (cards, wallets) is
/// Selcom's. `webhook` is our callback URL, base64-encoded as Selcom wants it.
#[allow(clippy::too_many_arguments)]
pub fn create_order(
    c: &Config,
    timestamp: &str,
    order_id: &str,
    amount: i64,
    buyer_phone: &str,
    buyer_name: &str,
    webhook_url: &str,
    remarks: &str,
) -> Outbound {
    let body = json!({
        "vendor": c.vendor,
        "order_id": order_id,
        "buyer_email": "",
        "buyer_name": buyer_name,
        "buyer_phone": buyer_phone,
        "amount": amount,
        "currency": "TZS",
        "webhook": B64.encode(webhook_url),
        "buyer_remarks": remarks,
        "merchant_remarks": remarks,
        "no_of_items": 1,
    });
    post(c, "/v1/checkout/create-order-minimal", timestamp, body)
}

/// `POST /v1/checkout/wallet-payment`: the USSD push to the buyer's wallet for an order.
pub fn wallet_payment(
    c: &Config,
    timestamp: &str,
    transid: &str,
    order_id: &str,
    msisdn: &str,
) -> Outbound {
    let body = json!({"transid": transid, "order_id": order_id, "msisdn": msisdn});
    post(c, "/v1/checkout/wallet-payment", timestamp, body)
}

/// `GET /v1/checkout/order-status?order_id=...` (the query string is what is signed).
pub fn order_status(c: &Config, timestamp: &str, order_id: &str) -> Outbound {
    let fields = vec![("order_id".to_string(), order_id.to_string())];
    Outbound {
        method: "GET",
        url: format!(
            "{}/v1/checkout/order-status?order_id={}",
            c.origin,
            urlencode(order_id)
        ),
        headers: signed_headers(c, timestamp, &fields),
        body: None,
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Selcom's utility code for cash-in to a network's wallet.
pub fn cashin_utility_code(network: &str) -> Option<&'static str> {
    Some(match network {
        "vodacom_tz" => "VMCASHIN",
        "airtel_tz" => "AMCASHIN",
        "tigo_tz" => "TPCASHIN",
        "halotel_tz" => "HPCASHIN",
        "zantel_tz" => "ZPCASHIN",
        _ => return None,
    })
}

/// `POST /v1/walletcashin/process`: money to a wallet (`utilityref` = the number). `amount` in
/// whole shillings; `pin` is the vendor's PIN.
pub fn wallet_cashin(
    c: &Config,
    timestamp: &str,
    transid: &str,
    utility_code: &str,
    msisdn: &str,
    amount: i64,
    pin: &str,
) -> Outbound {
    let body = json!({
        "transid": transid,
        "utilitycode": utility_code,
        "utilityref": msisdn,
        "amount": amount,
        "vendor": c.vendor,
        "pin": pin,
        "msisdn": msisdn,
    });
    post(c, "/v1/walletcashin/process", timestamp, body)
}

/// `GET /v1/walletcashin/query?transid=...`: where a cash-in stands.
pub fn cashin_query(c: &Config, timestamp: &str, transid: &str) -> Outbound {
    let fields = vec![("transid".to_string(), transid.to_string())];
    Outbound {
        method: "GET",
        url: format!(
            "{}/v1/walletcashin/query?transid={}",
            c.origin,
            urlencode(transid)
        ),
        headers: signed_headers(c, timestamp, &fields),
        body: None,
    }
}

/// A cash-in answer (process or query): `000` done (Selcom's `reference` is the transaction id),
/// `111`/`999`/5xx pending, anything else failed.
pub fn cashin_status(status: u16, body: &Value) -> Status {
    match result_code(body).as_str() {
        "000" if status == 200 => Status::Succeeded {
            transaction_id: body
                .get("reference")
                .and_then(text)
                .or_else(|| {
                    body.get("data")
                        .and_then(|d| d.get(0))
                        .and_then(|d| d.get("reference"))
                        .and_then(text)
                })
                .unwrap_or_default(),
            amount_major: None,
        },
        "111" | "999" | "" => Status::Pending,
        _ if status >= 500 => Status::Pending,
        code => Status::Failed {
            code: code.to_string(),
            reason: body
                .get("message")
                .and_then(text)
                .unwrap_or_else(|| "refused by Selcom".into()),
        },
    }
}

/// An answer's `resultcode`: "000" success, "111" pending, "999" ambiguous, others failed.
pub fn result_code(body: &Value) -> String {
    body.get("resultcode").and_then(text).unwrap_or_default()
}

/// The create-order answer: the hosted payment page (Selcom base64-encodes it).
pub fn checkout_url(body: &Value) -> Option<String> {
    let encoded = body
        .get("data")?
        .as_array()?
        .first()?
        .get("payment_gateway_url")
        .and_then(Value::as_str)?;
    B64.decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .or_else(|| Some(encoded.to_string()))
}

/// What an answer to a request (create order, wallet push) means: accepted, still unsure, or
/// refused with its code and message.
pub fn request_outcome(status: u16, body: &Value) -> Result<(), Option<(String, String)>> {
    match result_code(body).as_str() {
        "000" if status == 200 => Ok(()),
        // 111 (in progress) and 999 (ambiguous) are never failures; neither is a 5xx.
        "111" | "999" | "" => Err(None),
        _ if status >= 500 => Err(None),
        code => Err(Some((
            code.to_string(),
            body.get("message")
                .and_then(text)
                .unwrap_or_else(|| "refused by Selcom".into()),
        ))),
    }
}

/// The order-status answer: `data[0].payment_status` COMPLETED (with `transid`), PENDING or
/// INPROGRESS (pending), CANCELLED, USERCANCELED, REJECTED (failed).
pub fn order_status_answer(status: u16, body: &Value) -> Status {
    if status != 200 || result_code(body) != "000" {
        return Status::Pending;
    }
    let Some(row) = body
        .get("data")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    else {
        return Status::Pending;
    };
    payment_status(row)
}

fn payment_status(row: &Value) -> Status {
    match row.get("payment_status").and_then(text).as_deref() {
        Some("COMPLETED") => Status::Succeeded {
            transaction_id: row
                .get("transid")
                .and_then(text)
                .filter(|t| !t.is_empty())
                .or_else(|| row.get("reference").and_then(text))
                .unwrap_or_default(),
            amount_major: row.get("amount").and_then(integer),
        },
        Some(s @ ("CANCELLED" | "USERCANCELED" | "REJECTED" | "FAILED")) => Status::Failed {
            code: s.to_string(),
            reason: format!("Selcom: {}", s.to_lowercase()),
        },
        _ => Status::Pending,
    }
}

/// A webhook: `order_id` and what it says. Its digest headers are checked by the caller.
pub fn webhook(body: &Value) -> Option<(String, Status)> {
    let order_id = body.get("order_id").and_then(text)?;
    let status = match (
        body.get("resultcode").and_then(text).as_deref(),
        body.get("payment_status").and_then(text).as_deref(),
    ) {
        (Some("000"), Some(_)) => payment_status(body),
        (Some("111" | "999"), _) => Status::Pending,
        (Some(code), _) => Status::Failed {
            code: code.to_string(),
            reason: body
                .get("result")
                .and_then(text)
                .unwrap_or_else(|| "FAIL".into()),
        },
        (None, _) => return None,
    };
    Some((order_id, status))
}

/// Checks a signed webhook: the `Digest` over `Signed-Fields` of the body with `secret`, and a
/// `Timestamp` within `max_skew_secs` of `now`.
pub fn verify_webhook(
    secret: &str,
    headers: &[(String, String)],
    body: &Value,
    now_unix: i64,
    max_skew_secs: i64,
) -> Result<(), &'static str> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let (Some(ts), Some(presented), Some(signed)) = (
        header("timestamp"),
        header("digest"),
        header("signed-fields"),
    ) else {
        return Err("missing digest headers");
    };
    if header("digest-method").is_some_and(|m| m != "HS256") {
        return Err("unsupported digest method");
    }
    let when = parse_timestamp(ts).ok_or("bad timestamp")?;
    if (now_unix - when).abs() > max_skew_secs {
        return Err("stale timestamp");
    }
    let all = signable_fields(body);
    let mut fields = Vec::new();
    for name in signed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let v = all
            .iter()
            .find(|(k, _)| k == name)
            .ok_or("signed field missing")?;
        fields.push(v.clone());
    }
    // What we act on must be covered by the signature.
    for needed in ["order_id", "resultcode"] {
        if !fields.iter().any(|(k, _)| k == needed) {
            return Err("order_id and resultcode must be signed");
        }
    }
    let expected = digest(secret, ts, &fields);
    let presented = B64.decode(presented).map_err(|_| "bad digest")?;
    let expected = B64.decode(expected).map_err(|_| "bad digest")?;
    if presented.len() == expected.len()
        && presented
            .iter()
            .zip(&expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    {
        Ok(())
    } else {
        Err("digest mismatch")
    }
}

/// `2019-02-26T09:30:46+03:00` → Unix seconds.
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &ts[19..];
    let rest = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match rest {
        "Z" | "" => 0,
        o if o.len() == 6 => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (o[1..3].parse::<i64>().ok()? * 3600 + o[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(days * 86400 + h * 3600 + mi * 60 + s - offset)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// What the payments service asks of Selcom, over the wire formats above. Dispatched from
/// [`crate::providers::Provider`].
pub mod adapter {
    use nexgate_platform::config::var;
    use nexgate_platform::time::now_unix;
    use nexgate_platform::Problem;
    use serde_json::{json, Value};
    use uuid::Uuid;

    use super::Config;
    use crate::disburse::Disbursement;
    use crate::ledger::whole_major_units;
    use crate::providers::{
        ask_status, send, Collection, CollectionReport, PayoutAsked, Provider, ReportNames,
        Started, Status,
    };
    use crate::rows::Intent;
    use crate::settings::{not_configured, Settings};

    /// How far a webhook's timestamp may be from our clock.
    const WEBHOOK_SKEW_SECS: i64 = 600;

    fn config(settings: &Settings) -> Result<&Config, Problem> {
        settings
            .selcom
            .as_ref()
            .ok_or_else(|| not_configured(Provider::Selcom))
    }

    /// An order, then a wallet push for a phone, or the hosted checkout page for a card.
    pub async fn start_collection(
        settings: &Settings,
        col: &Collection<'_>,
    ) -> Result<Started, Problem> {
        let c = config(settings)?;
        let amount = whole_major_units(col.amount)?;
        let ts = super::timestamp(now_unix().0);
        let intent = col.intent.to_string();
        let out = super::create_order(
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
        if let Err(refusal) = super::request_outcome(answer.status, &answer.body) {
            return Ok(Started::from_refusal(refusal));
        }
        let Some(msisdn) = col.msisdn else {
            // A card: the customer pays on Selcom's page.
            return Ok(match super::checkout_url(&answer.body) {
                Some(url) => Started::Accepted {
                    request_id: intent,
                    checkout_url: Some(url),
                },
                None => Started::Unknown,
            });
        };
        let out = super::wallet_payment(c, &ts, &intent, &intent, msisdn);
        let Ok(answer) = send("selcom", out).await else {
            return Ok(Started::Unknown);
        };
        Ok(match super::request_outcome(answer.status, &answer.body) {
            Ok(()) => Started::Accepted {
                request_id: intent,
                checkout_url: None,
            },
            Err(refusal) => Started::from_refusal(refusal),
        })
    }

    /// An order-status query.
    pub async fn collection_status(
        settings: &Settings,
        intent: &Intent,
    ) -> Result<Option<Status>, Problem> {
        let c = config(settings)?;
        let out = super::order_status(c, &super::timestamp(now_unix().0), &intent.id.to_string());
        Ok(Some(
            ask_status("selcom", out, super::order_status_answer).await,
        ))
    }

    /// A wallet cash-in, answered synchronously.
    pub async fn pay_out(settings: &Settings, d: &Disbursement) -> Result<PayoutAsked, Problem> {
        let c = config(settings)?;
        let amount = whole_major_units(d.money())?;
        let code = super::cashin_utility_code(&d.network)
            .ok_or_else(|| Problem::internal("no Selcom cash-in for this network"))?;
        let out = super::wallet_cashin(
            c,
            &super::timestamp(now_unix().0),
            &d.id.to_string(),
            code,
            &d.msisdn,
            amount,
            &settings.selcom_pin,
        );
        Ok(match send("selcom", out).await {
            Ok(a) => match super::cashin_status(a.status, &a.body) {
                Status::Pending => PayoutAsked::Unclear,
                status => PayoutAsked::Answered(status),
            },
            Err(_) => PayoutAsked::Unclear,
        })
    }

    /// A cash-in query.
    pub async fn payout_status(
        settings: &Settings,
        d: &Disbursement,
    ) -> Result<Option<Status>, Problem> {
        let c = config(settings)?;
        let out = super::cashin_query(c, &super::timestamp(now_unix().0), &d.id.to_string());
        Ok(Some(ask_status("selcom", out, super::cashin_status).await))
    }

    /// Selcom signs webhooks: the `Digest` headers must verify with `selcom_callback_secret`
    /// (an empty or placeholder key would let anyone sign, so it refuses them all).
    pub fn verify_callback(headers: &[(String, String)], body: &Value) -> Result<(), &'static str> {
        let secret = var("selcom_callback_secret").unwrap_or_default();
        if nexgate_platform::config::is_placeholder_secret(&secret) {
            eprintln!("payments: selcom_callback_secret is empty or a placeholder; refusing Selcom webhooks");
            return Err("selcom_callback_secret is not configured");
        }
        super::verify_webhook(&secret, headers, body, now_unix().0, WEBHOOK_SKEW_SECS)
    }

    /// A webhook names our order id (the intent) and its state, with the amount paid.
    pub fn read_collection_callback(body: &Value) -> Option<CollectionReport> {
        let (order, status) = super::webhook(body)?;
        Some(CollectionReport {
            names: ReportNames::Ours(order),
            status: Some(status),
        })
    }

    /// What Selcom expects back from a webhook.
    pub fn acknowledgement(intent: Option<Uuid>, accepted: bool) -> Value {
        let (code, result) = if accepted {
            ("000", "SUCCESS")
        } else {
            ("400", "FAIL")
        };
        json!({"reference": intent, "resultcode": code, "result": result, "message": "received"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            origin: "https://apigw.selcommobile.com".into(),
            api_key: "key".into(),
            api_secret: "secret".into(),
            vendor: "TILL1".into(),
        }
    }

    #[test]
    fn digest_signs_timestamp_then_fields() {
        let fields = vec![
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "x y".to_string()),
        ];
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"timestamp=2019-02-26T09:30:46+03:00&a=1&b=x y");
        assert_eq!(
            digest("secret", "2019-02-26T09:30:46+03:00", &fields),
            B64.encode(mac.finalize().into_bytes())
        );
    }

    #[test]
    fn requests_carry_the_signed_headers() {
        let ts = timestamp(1_700_000_000);
        assert_eq!(ts, "2023-11-15T01:13:20+03:00");
        assert_eq!(parse_timestamp(&ts), Some(1_700_000_000));
        let out = wallet_payment(&config(), &ts, "T1", "O1", "255684345678");
        let h = |n: &str| out.headers.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(h("authorization"), format!("SELCOM {}", B64.encode("key")));
        let mut signed: Vec<String> = h("signed-fields").split(',').map(str::to_string).collect();
        signed.sort();
        assert_eq!(signed, ["msisdn", "order_id", "transid"]);
        let fields = signable_fields(&serde_json::from_slice(out.body.as_ref().unwrap()).unwrap());
        assert_eq!(h("digest"), digest("secret", &ts, &fields));
    }

    #[test]
    fn webhooks_verify_and_forgeries_do_not() {
        let body = json!({"result":"SUCCESS","resultcode":"000","order_id":"O1","transid":"T1","reference":"R1","channel":"AIRTELMONEY","amount":"5000","phone":"255684345678","payment_status":"COMPLETED"});
        let ts = timestamp(1_700_000_000);
        let fields = signable_fields(&body);
        let names: Vec<_> = fields.iter().map(|(k, _)| k.clone()).collect();
        let headers = vec![
            ("Timestamp".to_string(), ts.clone()),
            ("Digest".to_string(), digest("secret", &ts, &fields)),
            ("Signed-Fields".to_string(), names.join(",")),
            ("Digest-Method".to_string(), "HS256".to_string()),
        ];
        assert_eq!(
            verify_webhook("secret", &headers, &body, 1_700_000_010, 300),
            Ok(())
        );
        assert!(verify_webhook("other", &headers, &body, 1_700_000_010, 300).is_err());
        assert_eq!(
            verify_webhook("secret", &headers, &body, 1_700_009_000, 300),
            Err("stale timestamp")
        );
        let mut tampered = body.clone();
        tampered["amount"] = json!("9000");
        assert!(verify_webhook("secret", &headers, &tampered, 1_700_000_010, 300).is_err());
        let (order, status) = webhook(&body).unwrap();
        assert_eq!(order, "O1");
        assert_eq!(
            status,
            Status::Succeeded {
                transaction_id: "T1".into(),
                amount_major: Some(5000)
            }
        );
    }

    #[test]
    fn pending_and_ambiguous_are_never_failures() {
        assert_eq!(
            request_outcome(200, &json!({"resultcode":"111"})),
            Err(None)
        );
        assert_eq!(
            request_outcome(200, &json!({"resultcode":"999"})),
            Err(None)
        );
        assert!(matches!(
            request_outcome(200, &json!({"resultcode":"403","message":"Invalid"})),
            Err(Some(_))
        ));
        assert_eq!(
            order_status_answer(
                200,
                &json!({"resultcode":"000","data":[{"payment_status":"PENDING"}]})
            ),
            Status::Pending
        );
    }
}
