//! `POST /payments/callbacks/{provider}/{intent}/{secret}`: the providers' callbacks, each
//! authenticated as well as its provider allows, recorded as received, then applied once.
//! - Daraja (M-Pesa) does not sign: the per-intent secret in the URL must match, and the payment's
//!   fate comes from a confirming STK status query; the callback only adds the receipt number.
//! - Selcom signs: the `Digest` headers must verify with `selcom_callback_secret` (and the URL
//!   secret must match too), and an order-status query confirms before anything moves.
//! - Tembo Plus: the URL secret must match, an `x-signature` must verify when
//!   `tembo_callback_secret` is set, and the status query confirms.
//!
//! Only this component holds the callback secrets.

use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::ids::new_id;
use nexgate_platform::Problem;
use serde_json::Value;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::disburse::{self, Disbursement};
use crate::ledger::reports_amount;
use crate::providers::{CollectionReport, Provider, ReportNames, Status};
use crate::rows::Intent;
use crate::secrets::{constant_time_eq, sha256};
use crate::settings::Settings;
use crate::settle::{self, Applied};
use nexgate_platform::body::json_response as json;

/// Largest callback body read.
const CALLBACK_BYTES_MAX: usize = 64 * 1024;

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

/// A refund's or payout's result. Where the provider answers status queries by callback
/// (Daraja), a result is only a hint unless it answers our own query (`via_query`), and a
/// "failed" answer needs a second agreeing one before money goes back; elsewhere (Tembo) the
/// callback only prompts a status query. Selcom answers cash-ins on the spot and sends none.
async fn disbursement_callback(
    settings: &Settings,
    conn: &Connection,
    provider: Provider,
    d: &Disbursement,
    via_query: bool,
    body: &Value,
) -> Result<Response, Problem> {
    let name = provider.as_str();
    let applied = if d.provider != provider {
        Applied::Rejected("disbursement belongs to another provider".into())
    } else {
        match provider.read_payout_callback(body) {
            None => Applied::Rejected(format!("not a {name} payout result")),
            Some(report)
                if report
                    .reference
                    .as_ref()
                    .is_some_and(|r| *r != d.id.to_string()) =>
            {
                Applied::Rejected("the reference does not match".into())
            }
            Some(report) if provider.answers_payout_status_by_callback() => {
                query_answered_result(settings, conn, d, via_query, report.status).await?
            }
            Some(_) => match disburse::status(settings, d, None).await? {
                Some(status) => disburse::apply(
                    conn,
                    settings.component,
                    d.id,
                    &status,
                    &format!("{name} callback"),
                )?,
                None => Applied::Duplicate,
            },
        }
    };
    record(conn, name, Some(d.id), body, &applied);
    if matches!(applied, Applied::Rejected(_)) && provider.read_payout_callback(body).is_none() {
        return Ok(rejected());
    }
    Ok(json(200, &provider.acknowledgement(Some(d.id), true)))
}

/// A result where the provider answers status queries by callback (Daraja, which signs none).
async fn query_answered_result(
    settings: &Settings,
    conn: &Connection,
    d: &Disbursement,
    via_query: bool,
    status: Option<Status>,
) -> Result<Applied, Problem> {
    let source = format!("{} status query", d.provider);
    Ok(match status {
        // A "failed" answer to our own status query gives money back only when a second
        // answer, under another fresh secret, agrees.
        Some(status @ Status::Failed { .. }) if via_query => {
            disburse::confirm_failure(settings, conn, settings.component, d, &status).await?
        }
        // A success only posts the reservation: it cannot re-credit anything.
        Some(status) if via_query => {
            disburse::apply(conn, settings.component, d.id, &status, &source)?
        }
        // An unprompted result is only a hint; the status query confirms.
        Some(status) if !d.is_final() => {
            disburse::note_hint(conn, d.id, &status)?;
            disburse::status(settings, d, Some(conn)).await?;
            Applied::Deferred("confirming with a transaction-status query")
        }
        Some(_) => Applied::Duplicate,
        None => Applied::Rejected("the result says nothing".into()),
    })
}

fn rejected() -> Response {
    Problem::new(
        403,
        "callback_rejected",
        "The callback could not be authenticated",
    )
    .into_response()
}

fn forged(conn: &Connection, provider: &str, body: &Value, why: &str) -> Response {
    record(conn, provider, None, body, &Applied::Rejected(why.into()));
    rejected()
}

/// Routes `/payments/callbacks/...`.
pub async fn handle(req: Request, component: &'static str) -> Result<Response, Problem> {
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
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    let name = provider.as_str();
    let Some(intent) = intent_with_secret(&conn, intent, secret)? else {
        if let Some((d, via_query)) = disbursement_with_secret(&conn, intent, secret)? {
            return disbursement_callback(&settings, &conn, provider, &d, via_query, &body).await;
        }
        return Ok(forged(&conn, name, &body, "unknown intent or secret"));
    };
    if intent.provider != provider {
        return Ok(forged(
            &conn,
            name,
            &body,
            "intent belongs to another provider",
        ));
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or("").to_string()))
        .collect();
    if let Err(why) = provider.verify_callback(&headers, &raw, &body) {
        return Ok(forged(&conn, name, &body, why));
    }
    let applied = match provider.read_collection_callback(&body) {
        Some(report) => collection_callback(&settings, &conn, &intent, report, name).await?,
        None => Applied::Rejected(format!("not a {name} callback")),
    };
    record(&conn, name, Some(intent.id), &body, &applied);
    let accepted = !matches!(applied, Applied::Rejected(_));
    Ok(json(
        200,
        &provider.acknowledgement(Some(intent.id), accepted),
    ))
}

/// A collection callback must name this intent (by our reference, or by the provider's request
/// id, learnt from it when the push's answer never reached us); a success whose own amount is
/// not the intent's is refused. Its fate comes from a confirming status query.
async fn collection_callback(
    settings: &Settings,
    conn: &Connection,
    intent: &Intent,
    report: CollectionReport,
    provider: &str,
) -> Result<Applied, Problem> {
    let mut intent = intent.clone();
    match report.names {
        ReportNames::Ours(reference) if reference != intent.id.to_string() => {
            return Ok(Applied::Rejected(
                "the reference does not match the intent".into(),
            ))
        }
        ReportNames::Ours(_) => {}
        ReportNames::ProviderRequest(id) => match &intent.provider_request_id {
            Some(known) if *known == id => {}
            Some(_) => {
                return Ok(Applied::Rejected(
                    "the request id does not match the intent".into(),
                ))
            }
            None => {
                query(
                    conn,
                    "UPDATE payments.intents SET provider_request_id = $2 WHERE id = $1 AND provider_request_id IS NULL",
                    &[P::Uuid(intent.id.to_string()), P::Str(id.clone())],
                )?;
                intent.provider_request_id = Some(id);
            }
        },
    }
    if let Some(Status::Succeeded {
        amount_major: Some(major),
        ..
    }) = &report.status
    {
        if !reports_amount(*major, intent.collected()) {
            return Ok(Applied::Rejected(format!(
                "amount mismatch: the callback says {major}, the intent collects {} minor units",
                intent.collected().amount
            )));
        }
    }
    let source = format!("{provider} callback");
    confirm_and_apply(settings, conn, &intent, report.status, &source).await
}

/// Asks the provider, then applies its answer. A reported success adds its transaction id (the
/// M-Pesa receipt number) when the query agrees; the amount is never taken from the report.
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
    let confirmed = intent
        .provider
        .collection_status(settings, intent)
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
                ..
            }),
        ) => Status::Succeeded {
            transaction_id: if cb_id.is_empty() {
                transaction_id
            } else {
                cb_id
            },
            // The amount is the query's (or, as an STK query names none, the one we asked for),
            // never the unsigned callback's.
            amount_major,
        },
        (confirmed, _) => confirmed,
    };
    settle::apply_then_return(settings, conn, intent.id, &status, source).await
}
