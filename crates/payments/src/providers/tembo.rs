//! Tembo Plus (Tanzania): mobile-money collection, its callback and status query.
//! Every request carries `x-account-id`, `x-secret-key` and a fresh `x-request-id`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{text, Outbound, Status};

#[derive(Debug, Clone)]
pub struct Config {
    pub origin: String,
    pub account_id: String,
    pub secret_key: String,
}

fn headers(c: &Config, request_id: &str) -> Vec<(String, String)> {
    vec![
        ("x-account-id".into(), c.account_id.clone()),
        ("x-secret-key".into(), c.secret_key.clone()),
        ("x-request-id".into(), request_id.into()),
    ]
}

/// Tembo's `transactionDate`: `YYYY-MM-DD HH:mm:ss`, East Africa Time.
pub fn transaction_date(unix_secs: i64) -> String {
    let (y, mo, d, h, mi, s) = nexgate_platform::time::parts(unix_secs + 3 * 3600);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// `POST /tembo/v1/collection`. `amount` in whole shillings.
#[allow(clippy::too_many_arguments)]
pub fn collection(
    c: &Config,
    request_id: &str,
    channel: &str,
    msisdn: &str,
    amount: i64,
    narration: &str,
    transaction_ref: &str,
    transaction_date: &str,
    callback_url: &str,
) -> Outbound {
    let body = json!({
        "channel": channel,
        "msisdn": msisdn,
        "amount": amount,
        "narration": narration,
        "transactionRef": transaction_ref,
        "transactionDate": transaction_date,
        "callbackUrl": callback_url,
    });
    Outbound::json(
        "POST",
        format!("{}/tembo/v1/collection", c.origin),
        headers(c, request_id),
        &body,
    )
}

/// `POST /tembo/v1/collection/status`.
pub fn collection_status(
    c: &Config,
    request_id: &str,
    transaction_ref: &str,
    transaction_id: Option<&str>,
) -> Outbound {
    let mut body = json!({"transactionRef": transaction_ref});
    if let Some(id) = transaction_id {
        body["transactionId"] = json!(id);
    }
    Outbound::json(
        "POST",
        format!("{}/tembo/v1/collection/status", c.origin),
        headers(c, request_id),
        &body,
    )
}

/// `POST /tembo/v1/payment/wallet-to-mobile`: money to a wallet. `amount` in whole shillings.
#[allow(clippy::too_many_arguments)]
pub fn wallet_to_mobile(
    c: &Config,
    request_id: &str,
    service_code: &str,
    msisdn: &str,
    amount: i64,
    narration: &str,
    transaction_ref: &str,
    transaction_date: &str,
    callback_url: &str,
) -> Outbound {
    let body = json!({
        "countryCode": "TZ",
        "accountNo": c.account_id,
        "serviceCode": service_code,
        "amount": amount,
        "msisdn": msisdn,
        "narration": narration,
        "currencyCode": "TZS",
        "recipientNames": "",
        "transactionRef": transaction_ref,
        "transactionDate": transaction_date,
        "callbackUrl": callback_url,
    });
    Outbound::json(
        "POST",
        format!("{}/tembo/v1/payment/wallet-to-mobile", c.origin),
        headers(c, request_id),
        &body,
    )
}

/// `POST /tembo/v1/payment/status`.
pub fn payment_status(c: &Config, request_id: &str, transaction_ref: &str) -> Outbound {
    let body = json!({"transactionRef": transaction_ref});
    Outbound::json(
        "POST",
        format!("{}/tembo/v1/payment/status", c.origin),
        headers(c, request_id),
        &body,
    )
}

/// What a `statusCode` means. Only the final codes decide; everything else is pending.
pub fn status_of(body: &Value) -> Status {
    let code = body.get("statusCode").and_then(text).unwrap_or_default();
    match code.as_str() {
        "PAYMENT_ACCEPTED" | "SUCCESS" => Status::Succeeded {
            transaction_id: body.get("transactionId").and_then(text).unwrap_or_default(),
            amount_major: None,
        },
        "PAYMENT_REJECTED" | "PAYMENT_FAILED" | "FAILED" | "REJECTED" => Status::Failed {
            reason: body
                .get("statusMessage")
                .or_else(|| body.get("message"))
                .and_then(text)
                .unwrap_or_else(|| code.to_lowercase()),
            code,
        },
        _ => Status::Pending,
    }
}

/// The answer to a collection request: accepted (with Tembo's `transactionId` when given), unsure,
/// or refused (4xx with a code).
pub fn collection_outcome(
    status: u16,
    body: &Value,
) -> Result<Option<String>, Option<(String, String)>> {
    if (200..300).contains(&status) {
        return match status_of(body) {
            Status::Failed { code, reason } => Err(Some((code, reason))),
            _ => Ok(body.get("transactionId").and_then(text)),
        };
    }
    if (400..500).contains(&status) && status != 408 && status != 429 {
        let code = body
            .get("statusCode")
            .or_else(|| body.get("reason"))
            .and_then(text)
            .unwrap_or_else(|| format!("http_{status}"));
        let reason = body
            .get("message")
            .and_then(text)
            .unwrap_or_else(|| "refused by Tembo Plus".into());
        return Err(Some((code, reason)));
    }
    Err(None)
}

/// The callback: `{statusCode, transactionRef, transactionId}`.
pub fn callback(body: &Value) -> Option<(String, Status)> {
    let reference = body.get("transactionRef").and_then(text)?;
    body.get("statusCode")?;
    Some((reference, status_of(body)))
}

/// The optional signature we accept on Tembo callbacks when a secret is configured:
/// `x-signature` = base64(HMAC-SHA256(secret, raw body)).
pub fn signature(secret: &str, raw_body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(raw_body);
    B64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_request_has_tembo_fields() {
        let c = Config {
            origin: "https://api.temboplus.com".into(),
            account_id: "acc".into(),
            secret_key: "sec".into(),
        };
        let out = collection(
            &c,
            "rid",
            "TZ-AIRTEL-C2B",
            "255684345678",
            5000,
            "Order",
            "ref1",
            &transaction_date(1_700_000_000),
            "https://x/cb",
        );
        let body: Value = serde_json::from_slice(out.body.as_ref().unwrap()).unwrap();
        assert_eq!(body["channel"], "TZ-AIRTEL-C2B");
        assert_eq!(body["transactionDate"], "2023-11-15 01:13:20");
        assert!(out
            .headers
            .iter()
            .any(|(k, v)| k == "x-request-id" && v == "rid"));
    }

    #[test]
    fn only_final_codes_decide() {
        assert_eq!(
            status_of(&json!({"statusCode":"PENDING_ACK"})),
            Status::Pending
        );
        assert!(matches!(
            status_of(&json!({"statusCode":"PAYMENT_ACCEPTED","transactionId":"t"})),
            Status::Succeeded { .. }
        ));
        assert!(matches!(
            status_of(&json!({"statusCode":"PAYMENT_REJECTED"})),
            Status::Failed { .. }
        ));
        assert_eq!(collection_outcome(503, &Value::Null), Err(None));
        assert!(matches!(
            collection_outcome(400, &json!({"statusCode":"INVALID_MSISDN"})),
            Err(Some(_))
        ));
    }
}
