//! `POST /payments/callbacks/{provider}/{intent}/{secret}`: the providers' callbacks, each
//! authenticated as well as its provider allows, recorded as received, then applied once.
//! - Daraja (M-Pesa) does not sign: the per-intent secret in the URL must match, and the payment's
//!   fate comes from a confirming STK status query; the callback only adds the receipt number.
//! - Selcom signs: the `Digest` headers must verify with `selcom_callback_secret` (and the URL
//!   secret must match too).
//! - Tembo Plus: the URL secret must match, an `x-signature` must verify when
//!   `tembo_callback_secret` is set, and the status query confirms.
//!
//! Only this component holds the callback secrets.

use nexgate_platform::config::var;
use nexgate_platform::db::query;
use nexgate_platform::ids::new_id;
use nexgate_platform::time::now_unix;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::common::{db, json, sha256, Intent, Settings};
use crate::disburse::{self, Disbursement};
use crate::gateway;
use crate::phone::Provider;
use crate::providers::{daraja, selcom, tembo, Status};
use crate::settle::{self, Applied};

const COMPONENT: &str = "payments-callbacks";
/// Largest callback body read.
const CALLBACK_BYTES_MAX: usize = 64 * 1024;
/// How far a Selcom webhook's timestamp may be from our clock.
const SELCOM_SKEW_SECS: i64 = 600;

fn record(
    conn: &Connection,
    provider: &str,
    intent: Option<Uuid>,
    body: &Value,
    applied: &Applied,
) {
    let (outcome, detail) = applied.outcome();
    let stored = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    if let Err(e) = query(
        conn,
        "INSERT INTO payments.callbacks (id, provider, intent_id, body, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            P::Uuid(new_id().to_string()),
            P::Str(provider.into()),
            intent.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            P::Jsonb(stored),
            P::Str(outcome.into()),
            detail.map(P::Str).unwrap_or(P::DbNull),
        ],
    ) {
        eprintln!("payments: callback not recorded: {e:?}");
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The intent named by the URL, if its secret matches.
fn intent_with_secret(
    conn: &Connection,
    intent: &str,
    secret: &str,
) -> Result<Option<Intent>, Problem> {
    let Ok(id) = Uuid::parse_str(intent) else {
        return Ok(None);
    };
    let rows = query(
        conn,
        "SELECT callback_secret_sha256 FROM payments.intents WHERE id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let stored: Vec<u8> = rows.value(0, "callback_secret_sha256")?;
    if !constant_time_eq(&stored, &sha256(secret)) {
        return Ok(None);
    }
    Intent::load(conn, id, false)
}

/// The disbursement named by the URL, if the secret is its callback secret or its latest
/// status-query secret (then `true`).
fn disbursement_with_secret(
    conn: &Connection,
    id: &str,
    secret: &str,
) -> Result<Option<(Disbursement, bool)>, Problem> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let rows = query(
        conn,
        "SELECT callback_secret_sha256, query_secret_sha256 FROM payments.disbursements WHERE id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let presented = sha256(secret);
    let main: Vec<u8> = rows.value(0, "callback_secret_sha256")?;
    let query_secret: Option<Vec<u8>> = rows.value(0, "query_secret_sha256")?;
    let via_query = query_secret.is_some_and(|q| constant_time_eq(&q, &presented));
    if !via_query && !constant_time_eq(&main, &presented) {
        return Ok(None);
    }
    Ok(Disbursement::load(conn, id, false)?.map(|d| (d, via_query)))
}

/// A refund's or payout's result: Daraja posts its B2C (or transaction-status) result; Tembo
/// calls back and the status query confirms; Selcom answers cash-ins synchronously, so a Selcom
/// callback for one is refused.
async fn disbursement_callback(
    settings: &Settings,
    conn: &Connection,
    provider: Provider,
    d: &Disbursement,
    via_query: bool,
    body: &Value,
) -> Result<Response, Problem> {
    let name = provider.as_str();
    let applied = if d.provider != name {
        Applied::Rejected("disbursement belongs to another provider".into())
    } else {
        match provider {
            Provider::Daraja => match daraja::b2c_result(body) {
                // The answer to our own transaction-status query (its fresh secret): it decides.
                Some(status) if via_query => {
                    disburse::apply(conn, COMPONENT, d.id, &status, "daraja status query")?
                }
                // M-Pesa does not sign: a B2C result is only a hint; the status query confirms.
                Some(status) if !d.is_final() => {
                    disburse::note_hint(conn, d.id, &status)?;
                    disburse::status(settings, d, Some(conn)).await?;
                    Applied::Deferred("confirming with a transaction-status query")
                }
                Some(_) => Applied::Duplicate,
                None => Applied::Rejected("not a Daraja result".into()),
            },
            Provider::Tembo => match tembo::callback(body) {
                Some((reference, _)) if reference == d.id.to_string() => {
                    match disburse::status(settings, d, None).await? {
                        Some(status) => {
                            disburse::apply(conn, COMPONENT, d.id, &status, "tembo callback")?
                        }
                        None => Applied::Duplicate,
                    }
                }
                _ => Applied::Rejected("transactionRef does not match".into()),
            },
            Provider::Selcom => Applied::Rejected("Selcom cash-ins have no callbacks".into()),
        }
    };
    record(conn, name, Some(d.id), body, &applied);
    if matches!(applied, Applied::Rejected(_)) && provider == Provider::Selcom {
        return Ok(Problem::new(
            403,
            "callback_rejected",
            "The callback could not be authenticated",
        )
        .into_response());
    }
    Ok(match provider {
        Provider::Daraja => json(200, &json!({"ResultCode": 0, "ResultDesc": "Accepted"})),
        _ => json(200, &json!({"statusCode": "RECEIVED"})),
    })
}

fn forged(conn: &Connection, provider: &str, body: &Value, why: &str) -> Response {
    record(conn, provider, None, body, &Applied::Rejected(why.into()));
    Problem::new(
        403,
        "callback_rejected",
        "The callback could not be authenticated",
    )
    .into_response()
}

/// Routes `/payments/callbacks/...`.
pub async fn handle(req: Request) -> Result<Response, Problem> {
    let path = req.path().trim_end_matches('/').to_string();
    let rest = path.strip_prefix("/payments/callbacks/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    let [provider, intent, secret] = parts[..] else {
        return Err(Problem::not_found("no such callback"));
    };
    let provider =
        Provider::parse(provider).ok_or_else(|| Problem::not_found("no such provider"))?;
    if req.body().len() > CALLBACK_BYTES_MAX {
        return Err(Problem::body_too_large(CALLBACK_BYTES_MAX));
    }
    let raw = req.body().to_vec();
    let body: Value = serde_json::from_slice(&raw)
        .map_err(|_| Problem::bad_request("the callback body is not JSON"))?;
    let settings = Settings::from_variables()?;
    let conn = db()?;
    let name = provider.as_str();
    let Some(intent) = intent_with_secret(&conn, intent, secret)? else {
        if let Some((d, via_query)) = disbursement_with_secret(&conn, intent, secret)? {
            return disbursement_callback(&settings, &conn, provider, &d, via_query, &body).await;
        }
        return Ok(forged(&conn, name, &body, "unknown intent or secret"));
    };
    if intent.provider != name {
        return Ok(forged(
            &conn,
            name,
            &body,
            "intent belongs to another provider",
        ));
    }
    let applied = match provider {
        Provider::Daraja => daraja_callback(&settings, &conn, &intent, &body).await?,
        Provider::Selcom => {
            let headers: Vec<(String, String)> = req
                .headers()
                .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or("").to_string()))
                .collect();
            let secret = var("selcom_callback_secret").map_err(Problem::internal)?;
            // An empty or placeholder key would let anyone sign: refuse rather than verify.
            if nexgate_platform::config::is_placeholder_secret(&secret) {
                eprintln!("payments: selcom_callback_secret is empty or a placeholder; refusing Selcom webhooks");
                return Ok(forged(
                    &conn,
                    name,
                    &body,
                    "selcom_callback_secret is not configured",
                ));
            }
            if let Err(why) =
                selcom::verify_webhook(&secret, &headers, &body, now_unix().0, SELCOM_SKEW_SECS)
            {
                return Ok(forged(&conn, name, &body, why));
            }
            match selcom::webhook(&body) {
                Some((order, status)) if order == intent.id.to_string() => {
                    settle::apply(&conn, COMPONENT, intent.id, &status, "selcom webhook")?
                }
                Some(_) => Applied::Rejected("order_id does not match the intent".into()),
                None => Applied::Rejected("not a Selcom webhook".into()),
            }
        }
        Provider::Tembo => {
            let secret = var("tembo_callback_secret").unwrap_or_default();
            if !secret.is_empty() {
                let presented = req
                    .header("x-signature")
                    .and_then(|h| h.as_str())
                    .unwrap_or("");
                if !constant_time_eq(
                    presented.as_bytes(),
                    tembo::signature(&secret, &raw).as_bytes(),
                ) {
                    return Ok(forged(&conn, name, &body, "bad x-signature"));
                }
            }
            match tembo::callback(&body) {
                Some((reference, _)) if reference == intent.id.to_string() => {
                    confirm_and_apply(&settings, &conn, &intent, None, "tembo callback").await?
                }
                Some(_) => Applied::Rejected("transactionRef does not match the intent".into()),
                None => Applied::Rejected("not a Tembo callback".into()),
            }
        }
    };
    record(&conn, name, Some(intent.id), &body, &applied);
    let ok = !matches!(applied, Applied::Rejected(_));
    Ok(match provider {
        Provider::Daraja => json(200, &json!({"ResultCode": 0, "ResultDesc": "Accepted"})),
        Provider::Selcom => json(
            200,
            &json!({"reference": intent.id, "resultcode": if ok { "000" } else { "400" }, "result": if ok { "SUCCESS" } else { "FAIL" }, "message": "received"}),
        ),
        Provider::Tembo => json(200, &json!({"statusCode": "RECEIVED"})),
    })
}

/// M-Pesa: the callback must name this intent's CheckoutRequestID; its fate comes from the status
/// query, and a success takes the receipt number and amount from the callback.
async fn daraja_callback(
    settings: &Settings,
    conn: &Connection,
    intent: &Intent,
    body: &Value,
) -> Result<Applied, Problem> {
    let Some(cb) = daraja::callback(body) else {
        return Ok(Applied::Rejected("not an STK callback".into()));
    };
    match &intent.provider_request_id {
        Some(id) if *id == cb.checkout_request_id => {}
        Some(_) => {
            return Ok(Applied::Rejected(
                "CheckoutRequestID does not match the intent".into(),
            ))
        }
        None => {
            // The push answer never reached us; the callback tells us its id (authenticated by
            // the URL secret), and the status query below confirms it.
            query(
                conn,
                "UPDATE payments.intents SET provider_request_id = $2 WHERE id = $1 AND provider_request_id IS NULL",
                &[P::Uuid(intent.id.to_string()), P::Str(cb.checkout_request_id.clone())],
            )?;
        }
    }
    let mut intent = intent.clone();
    intent.provider_request_id = Some(cb.checkout_request_id.clone());
    confirm_and_apply(settings, conn, &intent, Some(cb.status), "daraja callback").await
}

/// Asks the provider, then applies its answer. A reported success adds its transaction id and
/// amount (checked against the intent) when the query agrees.
async fn confirm_and_apply(
    settings: &Settings,
    conn: &Connection,
    intent: &Intent,
    reported: Option<Status>,
    source: &str,
) -> Result<Applied, Problem> {
    // A settled intent needs no second look, except for a reported success: it may carry M-Pesa's
    // receipt number (a status query settles without it, so a callback racing the query arrives
    // after), or come after the intent failed or expired (the money must reach an operator).
    // Both are `settle::apply`'s to decide, after the query like any other report.
    if intent.is_final() && !matches!(reported, Some(Status::Succeeded { .. })) {
        return Ok(Applied::Duplicate);
    }
    let confirmed = gateway::status(settings, intent)
        .await?
        .unwrap_or(Status::Pending);
    let status = match (confirmed, reported) {
        (
            Status::Succeeded {
                transaction_id,
                amount_major,
            },
            Some(Status::Succeeded {
                transaction_id: cb_id,
                amount_major: cb_amount,
            }),
        ) => Status::Succeeded {
            transaction_id: if cb_id.is_empty() {
                transaction_id
            } else {
                cb_id
            },
            amount_major: cb_amount.or(amount_major),
        },
        (confirmed, _) => confirmed,
    };
    settle::apply(conn, COMPONENT, intent.id, &status, source)
}
