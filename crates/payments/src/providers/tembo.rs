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

/// What the payments service asks of Tembo Plus, over the wire formats above. Dispatched from
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
    use crate::phone::Network;
    use crate::providers::{
        ask_status, send, Collection, CollectionReport, PayoutAsked, PayoutReport, Provider,
        ReportNames, Started, Status,
    };
    use crate::rows::Intent;
    use crate::settings::{not_configured, Settings};

    /// A status answer: only a 200 says anything.
    fn read_status(status: u16, body: &Value) -> Status {
        if status == 200 {
            super::status_of(body)
        } else {
            Status::Pending
        }
    }

    fn config(settings: &Settings) -> Result<&Config, Problem> {
        settings
            .tembo
            .as_ref()
            .ok_or_else(|| not_configured(Provider::Tembo))
    }

    /// Tembo's channel for a network (`C2B` or `B2C` flavour).
    fn channel(network: Option<&str>, flavour: &str) -> Option<String> {
        network
            .and_then(Network::parse)
            .and_then(|n| n.tembo_channel(flavour))
    }

    /// A mobile-money collection (a push to the customer's phone).
    pub async fn start_collection(
        settings: &Settings,
        col: &Collection<'_>,
    ) -> Result<Started, Problem> {
        let c = config(settings)?;
        let amount = whole_major_units(col.amount)?;
        let channel = channel(col.network, "C2B")
            .ok_or_else(|| Problem::internal("tembo method without a Tembo network"))?;
        let out = super::collection(
            c,
            &Uuid::now_v7().to_string(),
            &channel,
            col.msisdn.unwrap_or_default(),
            amount,
            col.description,
            &col.intent.to_string(),
            &super::transaction_date(now_unix().0),
            &col.callback_url,
        );
        let Ok(answer) = send("tembo", out).await else {
            return Ok(Started::Unknown);
        };
        Ok(
            match super::collection_outcome(answer.status, &answer.body) {
                Ok(_) => Started::Accepted {
                    request_id: col.intent.to_string(),
                    checkout_url: None,
                },
                Err(refusal) => Started::from_refusal(refusal),
            },
        )
    }

    /// A collection-status query by our reference.
    pub async fn collection_status(
        settings: &Settings,
        intent: &Intent,
    ) -> Result<Option<Status>, Problem> {
        let c = config(settings)?;
        let out =
            super::collection_status(c, &Uuid::now_v7().to_string(), &intent.id.to_string(), None);
        Ok(Some(ask_status("tembo", out, read_status).await))
    }

    /// A wallet-to-mobile payment; the result comes by callback to `result_url`.
    pub async fn pay_out(
        settings: &Settings,
        d: &Disbursement,
        narration: &str,
        result_url: &str,
    ) -> Result<PayoutAsked, Problem> {
        let c = config(settings)?;
        let amount = whole_major_units(d.money())?;
        let service = channel(Some(&d.network), "B2C")
            .ok_or_else(|| Problem::internal("no Tembo payout for this network"))?;
        let out = super::wallet_to_mobile(
            c,
            &Uuid::now_v7().to_string(),
            &service,
            &d.msisdn,
            amount,
            narration,
            &d.id.to_string(),
            &super::transaction_date(now_unix().0),
            result_url,
        );
        Ok(match send("tembo", out).await {
            Ok(a) => PayoutAsked::from_outcome(super::collection_outcome(a.status, &a.body)),
            Err(_) => PayoutAsked::Unclear,
        })
    }

    /// A payment-status query by our reference.
    pub async fn payout_status(
        settings: &Settings,
        d: &Disbursement,
    ) -> Result<Option<Status>, Problem> {
        let c = config(settings)?;
        let out = super::payment_status(c, &Uuid::now_v7().to_string(), &d.id.to_string());
        Ok(Some(ask_status("tembo", out, read_status).await))
    }

    /// With `tembo_callback_secret` set, `x-signature` must be the HMAC of the raw body.
    pub fn verify_callback(headers: &[(String, String)], raw: &[u8]) -> Result<(), &'static str> {
        let secret = var("tembo_callback_secret").unwrap_or_default();
        if secret.is_empty() {
            return Ok(());
        }
        let presented = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-signature"))
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let expected = super::signature(&secret, raw);
        if crate::secrets::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err("bad x-signature")
        }
    }

    /// A callback names our reference; its status is not used (the status query decides).
    pub fn read_collection_callback(body: &Value) -> Option<CollectionReport> {
        let (reference, _) = super::callback(body)?;
        Some(CollectionReport {
            names: ReportNames::Ours(reference),
            status: None,
        })
    }

    /// The same for a payout.
    pub fn read_payout_callback(body: &Value) -> Option<PayoutReport> {
        let (reference, _) = super::callback(body)?;
        Some(PayoutReport {
            reference: Some(reference),
            status: None,
        })
    }

    /// What Tembo expects back from a callback.
    pub fn acknowledgement() -> Value {
        json!({"statusCode": "RECEIVED"})
    }
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
