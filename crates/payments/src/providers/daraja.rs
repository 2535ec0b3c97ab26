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
