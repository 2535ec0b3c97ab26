//! Safaricom Daraja (M-Pesa Kenya): OAuth client credentials, STK push (Lipa na M-Pesa Online),
//! its callback, and the STK push status query.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

use super::{integer, text, Outbound, Status};

/// What Daraja answers to a status query while the customer has not finished.
pub const STILL_PROCESSING: &str = "500.001.1001";

/// Credentials and the till, from the variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub origin: String,
    pub consumer_key: String,
    pub consumer_secret: String,
    pub shortcode: String,
    pub passkey: String,
    /// B2C (payouts and refunds): the initiator, its security credential (the initiator password
    /// encrypted with Safaricom's certificate, as the Daraja portal produces it) and the B2C
    /// shortcode.
    pub initiator_name: String,
    pub security_credential: String,
    pub b2c_shortcode: String,
}

/// `GET /oauth/v1/generate?grant_type=client_credentials` with Basic auth.
pub fn token_request(c: &Config) -> Outbound {
    let basic = B64.encode(format!("{}:{}", c.consumer_key, c.consumer_secret));
    Outbound {
        method: "GET",
        url: format!(
            "{}/oauth/v1/generate?grant_type=client_credentials",
            c.origin
        ),
        headers: vec![("authorization".into(), format!("Basic {basic}"))],
        body: None,
    }
}

/// The token and its lifetime from the OAuth answer.
pub fn token_answer(body: &Value) -> Option<(String, i64)> {
    let token = body.get("access_token")?.as_str()?.to_string();
    let expires = body.get("expires_in").and_then(integer).unwrap_or(3599);
    Some((token, expires))
}

/// `Password` = base64(shortcode + passkey + timestamp).
pub fn password(c: &Config, timestamp: &str) -> String {
    B64.encode(format!("{}{}{}", c.shortcode, c.passkey, timestamp))
}

/// Daraja's `Timestamp`: `YYYYMMDDHHmmss` in East Africa Time (UTC+3).
pub fn timestamp(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = nexgate_platform::time::parts(unix_secs + 3 * 3600);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

/// The STK push request (`POST /mpesa/stkpush/v1/processrequest`). `amount` in whole shillings.
#[allow(clippy::too_many_arguments)]
pub fn stk_push(
    c: &Config,
    token: &str,
    timestamp: &str,
    amount: i64,
    msisdn: &str,
    callback_url: &str,
    account_reference: &str,
    description: &str,
) -> Outbound {
    let body = json!({
        "BusinessShortCode": c.shortcode,
        "Password": password(c, timestamp),
        "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": amount,
        "PartyA": msisdn,
        "PartyB": c.shortcode,
        "PhoneNumber": msisdn,
        "CallBackURL": callback_url,
        // Daraja limits: 12 and 13 characters.
        "AccountReference": account_reference.chars().take(12).collect::<String>(),
        "TransactionDesc": description.chars().take(13).collect::<String>(),
    });
    Outbound::json(
        "POST",
        format!("{}/mpesa/stkpush/v1/processrequest", c.origin),
        vec![("authorization".into(), format!("Bearer {token}"))],
        &body,
    )
}

/// The push answer: `Ok(CheckoutRequestID)` when accepted (`ResponseCode` "0"), otherwise the
/// error code and message (`errorCode`/`errorMessage`, or a non-zero `ResponseCode`).
pub fn stk_push_answer(status: u16, body: &Value) -> Result<String, (String, String)> {
    if status == 200 && body.get("ResponseCode").and_then(text).as_deref() == Some("0") {
        if let Some(id) = body.get("CheckoutRequestID").and_then(text) {
            return Ok(id);
        }
    }
    let code = body
        .get("errorCode")
        .or_else(|| body.get("ResponseCode"))
        .and_then(text)
        .unwrap_or_else(|| format!("http_{status}"));
    let message = body
        .get("errorMessage")
        .or_else(|| body.get("ResponseDescription"))
        .and_then(text)
        .unwrap_or_else(|| "rejected by M-Pesa".into());
    Err((code, message))
}

/// A parsed STK callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub checkout_request_id: String,
    pub status: Status,
}

/// `{"Body":{"stkCallback":{MerchantRequestID, CheckoutRequestID, ResultCode, ResultDesc,
/// CallbackMetadata:{Item:[{Name, Value}]}}}}`.
pub fn callback(body: &Value) -> Option<Callback> {
    let cb = body.get("Body")?.get("stkCallback")?;
    let checkout_request_id = cb.get("CheckoutRequestID").and_then(text)?;
    let code = cb.get("ResultCode").and_then(text)?;
    let status = if code == "0" {
        let items = cb
            .get("CallbackMetadata")
            .and_then(|m| m.get("Item"))
            .and_then(Value::as_array)?;
        let item = |name: &str| {
            items
                .iter()
                .find(|i| i.get("Name").and_then(Value::as_str) == Some(name))
                .and_then(|i| i.get("Value"))
        };
        Status::Succeeded {
            transaction_id: item("MpesaReceiptNumber").and_then(text)?,
            amount_major: item("Amount").and_then(integer),
        }
    } else {
        Status::Failed {
            reason: cb
                .get("ResultDesc")
                .and_then(text)
                .unwrap_or_else(|| "failed".into()),
            code,
        }
    };
    Some(Callback {
        checkout_request_id,
        status,
    })
}

/// `POST /mpesa/stkpushquery/v1/query`.
pub fn stk_query(c: &Config, token: &str, timestamp: &str, checkout_request_id: &str) -> Outbound {
    let body = json!({
        "BusinessShortCode": c.shortcode,
        "Password": password(c, timestamp),
        "Timestamp": timestamp,
        "CheckoutRequestID": checkout_request_id,
    });
    Outbound::json(
        "POST",
        format!("{}/mpesa/stkpushquery/v1/query", c.origin),
        vec![("authorization".into(), format!("Bearer {token}"))],
        &body,
    )
}

/// The query answer. `500.001.1001` ("being processed") and any unknown answer are pending;
/// `ResultCode` 0 is success without a receipt number (the query does not carry one), so the
/// caller keeps the receipt from the callback or uses the CheckoutRequestID.
pub fn stk_query_answer(status: u16, body: &Value) -> Status {
    if body.get("errorCode").and_then(text).as_deref() == Some(STILL_PROCESSING) {
        return Status::Pending;
    }
    if status != 200 || body.get("ResponseCode").and_then(text).as_deref() != Some("0") {
        return Status::Pending;
    }
    match body.get("ResultCode").and_then(text) {
        Some(code) if code == "0" => Status::Succeeded {
            transaction_id: String::new(),
            amount_major: None,
        },
        Some(code) => Status::Failed {
            reason: body
                .get("ResultDesc")
                .and_then(text)
                .unwrap_or_else(|| "failed".into()),
            code,
        },
        None => Status::Pending,
    }
}

/// `POST /mpesa/b2c/v1/paymentrequest`: money to a customer's M-Pesa. `amount` in whole shillings.
#[allow(clippy::too_many_arguments)]
pub fn b2c(
    c: &Config,
    token: &str,
    originator_id: &str,
    amount: i64,
    msisdn: &str,
    result_url: &str,
    remarks: &str,
) -> Outbound {
    let body = json!({
        "OriginatorConversationID": originator_id,
        "InitiatorName": c.initiator_name,
        "SecurityCredential": c.security_credential,
        "CommandID": "BusinessPayment",
        "Amount": amount,
        "PartyA": c.b2c_shortcode,
        "PartyB": msisdn,
        "Remarks": remarks.chars().take(100).collect::<String>(),
        "QueueTimeOutURL": result_url,
        "ResultURL": result_url,
        "Occasion": "",
    });
    Outbound::json(
        "POST",
        format!("{}/mpesa/b2c/v1/paymentrequest", c.origin),
        vec![("authorization".into(), format!("Bearer {token}"))],
        &body,
    )
}

/// The B2C request's synchronous answer: `Ok(ConversationID)` when accepted, `Err(Some(..))` for a
/// definite refusal (4xx with an error code), `Err(None)` when unclear.
pub fn b2c_answer(status: u16, body: &Value) -> Result<String, Option<(String, String)>> {
    if status == 200 && body.get("ResponseCode").and_then(text).as_deref() == Some("0") {
        return Ok(body
            .get("ConversationID")
            .and_then(text)
            .unwrap_or_default());
    }
    if (400..500).contains(&status) {
        if let Some(code) = body.get("errorCode").and_then(text) {
            let message = body
                .get("errorMessage")
                .and_then(text)
                .unwrap_or_else(|| "refused".into());
            return Err(Some((code, message)));
        }
    }
    Err(None)
}

/// `POST /mpesa/transactionstatus/v1/query` for a B2C payment we are unsure about, by its
/// OriginatorConversationID; the answer comes to `result_url` like a B2C result.
pub fn transaction_status(
    c: &Config,
    token: &str,
    originator_id: &str,
    result_url: &str,
) -> Outbound {
    let body = json!({
        "Initiator": c.initiator_name,
        "SecurityCredential": c.security_credential,
        "CommandID": "TransactionStatusQuery",
        "OriginatorConversationID": originator_id,
        "PartyA": c.b2c_shortcode,
        "IdentifierType": "4",
        "ResultURL": result_url,
        "QueueTimeOutURL": result_url,
        "Remarks": "status",
        "Occasion": "",
    });
    Outbound::json(
        "POST",
        format!("{}/mpesa/transactionstatus/v1/query", c.origin),
        vec![("authorization".into(), format!("Bearer {token}"))],
        &body,
    )
}

/// A result posted to a `ResultURL`: `{"Result":{ResultType, ResultCode, ResultDesc,
/// OriginatorConversationID, ConversationID, TransactionID, ResultParameters}}`, from a B2C
/// payment or a transaction-status query (which reports `TransactionStatus`).
pub fn b2c_result(body: &Value) -> Option<Status> {
    let r = body.get("Result")?;
    let code = r.get("ResultCode").and_then(text)?;
    let params: Vec<(String, Value)> = r
        .get("ResultParameters")
        .and_then(|p| p.get("ResultParameter"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    Some((
                        p.get("Key")?.as_str()?.to_string(),
                        p.get("Value").cloned().unwrap_or(Value::Null),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if code != "0" {
        return Some(Status::Failed {
            reason: r
                .get("ResultDesc")
                .and_then(text)
                .unwrap_or_else(|| "failed".into()),
            code,
        });
    }
    if let Some(status) = param("TransactionStatus").and_then(|v| text(&v)) {
        return Some(match status.as_str() {
            "Completed" => Status::Succeeded {
                transaction_id: param("ReceiptNo")
                    .and_then(|v| text(&v))
                    .unwrap_or_default(),
                amount_major: param("Amount").and_then(|v| integer(&v)),
            },
            "Failed" | "Cancelled" | "Expired" => Status::Failed {
                code: status.clone(),
                reason: status,
            },
            _ => Status::Pending,
        });
    }
    Some(Status::Succeeded {
        transaction_id: r
            .get("TransactionID")
            .and_then(text)
            .or_else(|| param("TransactionReceipt").and_then(|v| text(&v)))
            .unwrap_or_default(),
        amount_major: param("TransactionAmount").and_then(|v| integer(&v)),
    })
}

/// What the payments service asks of Daraja, over the wire formats above (the only place that
/// knows how M-Pesa does each step). Dispatched from [`crate::providers::Provider`].
pub mod adapter {
    use nexgate_platform::config::redis_key;
    use nexgate_platform::time::now_unix;
    use nexgate_platform::Problem;
    use serde_json::{json, Value};
    use spin_sdk::redis::RedisParameter;

    use super::Config;
    use crate::disburse::Disbursement;
    use crate::ledger::whole_major_units;
    use crate::providers::{
        ask_status, provider_unavailable, send, Collection, CollectionReport, PayoutAsked,
        PayoutReport, Provider, ReportNames, Started, Status,
    };
    use crate::rows::Intent;
    use crate::settings::{not_configured, Settings};

    /// Seconds a Daraja token is kept (they live 3599 s).
    const TOKEN_CACHE_SECS: i64 = 3000;

    fn config(settings: &Settings) -> Result<&Config, Problem> {
        settings
            .daraja
            .as_ref()
            .ok_or_else(|| not_configured(Provider::Daraja))
    }

    /// An access token, from Redis or fetched.
    async fn token(settings: &Settings, c: &Config) -> Result<String, Problem> {
        let key = redis_key(
            &settings.redis_key_prefix,
            &["payments", "daraja", "token", &c.consumer_key],
        );
        let redis = spin_sdk::redis::Connection::open(&settings.redis_url).ok();
        if let Some(Ok(Some(t))) = redis.as_ref().map(|r| r.get(&key)) {
            if let Ok(t) = String::from_utf8(t) {
                return Ok(t);
            }
        }
        let answer = send("daraja", super::token_request(c)).await?;
        let (token, expires) = super::token_answer(&answer.body).ok_or_else(|| {
            eprintln!("payments: daraja token refused ({})", answer.status);
            provider_unavailable("daraja")
        })?;
        if let Some(r) = redis {
            let ttl = TOKEN_CACHE_SECS.min(expires - 60).max(1);
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

    /// An STK push to the customer's phone.
    pub async fn start_collection(
        settings: &Settings,
        col: &Collection<'_>,
    ) -> Result<Started, Problem> {
        let c = config(settings)?;
        let amount = whole_major_units(col.amount)?;
        let Ok(token) = token(settings, c).await else {
            return Ok(Started::Unknown);
        };
        let intent = col.intent.to_string();
        let reference = format!("NX{}", &intent.replace('-', "")[20..]);
        let out = super::stk_push(
            c,
            &token,
            &super::timestamp(now_unix().0),
            amount,
            col.msisdn.unwrap_or_default(),
            &col.callback_url,
            &reference,
            col.description,
        );
        let Ok(answer) = send("daraja", out).await else {
            return Ok(Started::Unknown);
        };
        Ok(match super::stk_push_answer(answer.status, &answer.body) {
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

    /// An STK status query (needs the push's CheckoutRequestID).
    pub async fn collection_status(
        settings: &Settings,
        intent: &Intent,
    ) -> Result<Option<Status>, Problem> {
        let c = config(settings)?;
        let Some(checkout) = &intent.provider_request_id else {
            return Ok(None);
        };
        let Ok(token) = token(settings, c).await else {
            return Ok(Some(Status::Pending));
        };
        let out = super::stk_query(c, &token, &super::timestamp(now_unix().0), checkout);
        Ok(Some(
            ask_status("daraja", out, super::stk_query_answer).await,
        ))
    }

    /// A B2C payment to the customer's phone; its result comes to `result_url`.
    pub async fn pay_out(
        settings: &Settings,
        d: &Disbursement,
        narration: &str,
        result_url: &str,
    ) -> Result<PayoutAsked, Problem> {
        let c = config(settings)?;
        let amount = whole_major_units(d.money())?;
        let Ok(token) = token(settings, c).await else {
            return Ok(PayoutAsked::Unclear);
        };
        let out = super::b2c(
            c,
            &token,
            &d.id.to_string(),
            amount,
            &d.msisdn,
            result_url,
            narration,
        );
        Ok(match send("daraja", out).await {
            Ok(a) => PayoutAsked::from_outcome(super::b2c_answer(a.status, &a.body).map(Some)),
            Err(_) => PayoutAsked::Unclear,
        })
    }

    /// A transaction-status query: M-Pesa answers it at `result_url`, never synchronously.
    pub async fn payout_status(
        settings: &Settings,
        d: &Disbursement,
        result_url: &str,
    ) -> Result<Option<Status>, Problem> {
        let c = config(settings)?;
        if let Ok(token) = token(settings, c).await {
            let out = super::transaction_status(c, &token, &d.id.to_string(), result_url);
            let _ = send("daraja", out).await;
        }
        Ok(None)
    }

    /// An STK callback names the push's CheckoutRequestID and what happened (M-Pesa signs
    /// nothing: the URL secret is the only proof, so its word is only a hint).
    pub fn read_collection_callback(body: &Value) -> Option<CollectionReport> {
        let cb = super::callback(body)?;
        Some(CollectionReport {
            names: ReportNames::ProviderRequest(cb.checkout_request_id),
            status: Some(cb.status),
        })
    }

    /// A B2C or transaction-status result (names no reference we check: the URL does).
    pub fn read_payout_callback(body: &Value) -> Option<PayoutReport> {
        Some(PayoutReport {
            reference: None,
            status: Some(super::b2c_result(body)?),
        })
    }

    /// What Daraja expects back from a result URL.
    pub fn acknowledgement() -> Value {
        json!({"ResultCode": 0, "ResultDesc": "Accepted"})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            origin: "https://sandbox.safaricom.co.ke".into(),
            consumer_key: "key".into(),
            consumer_secret: "secret".into(),
            shortcode: "174379".into(),
            passkey: "passkey".into(),
            initiator_name: "api".into(),
            security_credential: "cred".into(),
            b2c_shortcode: "600000".into(),
        }
    }

    #[test]
    fn push_request_has_daraja_fields() {
        let ts = timestamp(1_700_000_000);
        assert_eq!(ts, "20231115011320", "EAT, 14 digits");
        let out = stk_push(
            &config(),
            "tok",
            &ts,
            150,
            "254712345678",
            "https://x/cb",
            "NXG-1234567890123",
            "Order payment x",
        );
        let body: Value = serde_json::from_slice(out.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["Amount"], 150);
        assert_eq!(body["Password"], B64.encode(format!("174379passkey{ts}")));
        assert_eq!(body["AccountReference"].as_str().unwrap().len(), 12);
        assert_eq!(body["TransactionDesc"].as_str().unwrap().len(), 13);
        assert!(out.url.ends_with("/mpesa/stkpush/v1/processrequest"));
    }

    #[test]
    fn callbacks_parse_success_and_failure() {
        let ok = json!({"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"ws_CO_1","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{"Item":[{"Name":"Amount","Value":150},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},{"Name":"Balance"},{"Name":"TransactionDate","Value":20191219102115_i64},{"Name":"PhoneNumber","Value":254712345678_i64}]}}}});
        let cb = callback(&ok).unwrap();
        assert_eq!(cb.checkout_request_id, "ws_CO_1");
        assert_eq!(
            cb.status,
            Status::Succeeded {
                transaction_id: "NLJ7RT61SV".into(),
                amount_major: Some(150)
            }
        );
        let cancelled = json!({"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"ws_CO_2","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}});
        assert!(
            matches!(callback(&cancelled).unwrap().status, Status::Failed { code, .. } if code == "1032")
        );
        assert!(callback(&json!({"Body":{}})).is_none());
    }

    #[test]
    fn b2c_results_parse() {
        let ok = json!({"Result":{"ResultType":0,"ResultCode":0,"ResultDesc":"The service request is processed successfully.","OriginatorConversationID":"o","ConversationID":"c","TransactionID":"NLJ41HAY6Q","ResultParameters":{"ResultParameter":[{"Key":"TransactionAmount","Value":10},{"Key":"TransactionReceipt","Value":"NLJ41HAY6Q"}]}}});
        assert_eq!(
            b2c_result(&ok),
            Some(Status::Succeeded {
                transaction_id: "NLJ41HAY6Q".into(),
                amount_major: Some(10)
            })
        );
        let failed = json!({"Result":{"ResultType":0,"ResultCode":2001,"ResultDesc":"The initiator information is invalid.","OriginatorConversationID":"o","ConversationID":"c","TransactionID":"x"}});
        assert!(matches!(b2c_result(&failed), Some(Status::Failed { code, .. }) if code == "2001"));
        let status = json!({"Result":{"ResultCode":0,"ResultParameters":{"ResultParameter":[{"Key":"ReceiptNo","Value":"R1"},{"Key":"TransactionStatus","Value":"Completed"},{"Key":"Amount","Value":10}]}}});
        assert_eq!(
            b2c_result(&status),
            Some(Status::Succeeded {
                transaction_id: "R1".into(),
                amount_major: Some(10)
            })
        );
    }

    #[test]
    fn a_query_still_processing_is_pending() {
        let busy = json!({"requestId":"r","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"});
        assert_eq!(stk_query_answer(500, &busy), Status::Pending);
        let failed = json!({"ResponseCode":"0","ResultCode":"1032","ResultDesc":"Request cancelled by user"});
        assert!(matches!(
            stk_query_answer(200, &failed),
            Status::Failed { .. }
        ));
    }
}
