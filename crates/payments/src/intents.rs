//! `/payments/intents` (pay a payable with one of your methods, with an `Idempotency-Key`),
//! `/payments/transactions` (your payments, newest first, cursor) and `/payments/receipts/{id}`.

use nexgate_authn::{authenticate, AuthContext};
use nexgate_platform::db::{constraint, query, transaction};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::ledger::whole_major_units;
use crate::methods::paying_method;
use crate::providers::{Collection, Started};
use crate::rows::{Intent, Payable};
use crate::secrets::new_secret;
use crate::settings::{Settings, SCHEMA};
use crate::states::PayableState;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewIntent {
    payable_id: String,
    method_id: String,
}

/// `POST /payments/intents`.
pub async fn create(req: Request, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let body: NewIntent = nexgate_platform::body::json_body(&req)?;
    let payable_id = parse_id("payable_id", &body.payable_id)?;
    let method_id = parse_id("method_id", &body.method_id)?;
    let settings = Settings::from_variables(component)?;
    let scope = format!("intents:{}", ctx.user_id);
    // The fingerprint covers what the request means, not its formatting.
    let fingerprint = idempotency::fingerprint(
        "POST",
        "/payments/intents",
        format!("{payable_id}:{method_id}").as_bytes(),
    );
    let conn = db()?;

    let keyed = idempotency::Keyed {
        schema: SCHEMA,
        scope: &scope,
        key: &key,
        request_hash: &fingerprint,
    };
    let first = transaction(&conn, |conn| {
        let once = idempotency::once(conn, keyed, |conn| {
            let new = new_intent(conn, &ctx, &settings, payable_id, method_id)?;
            Ok((StoredResponse::json(201, &json!({ "id": new.0.id }))?, new))
        })?;
        match once {
            Once::Replayed(stored) => Ok::<_, Problem>(First::Replay(stored.id()?)),
            Once::Ran(new) => Ok(First::New(Box::new(new))),
        }
    })?;
    finish_create(&settings, &conn, component, first).await
}

enum First {
    Replay(Uuid),
    New(Box<(Intent, String, crate::methods::PayingMethod, Payable)>),
}

/// The intent's row (inside the keyed transaction), with its callback secret, the paying method
/// and the payable.
fn new_intent(
    conn: &Connection,
    ctx: &AuthContext,
    settings: &Settings,
    payable_id: Uuid,
    method_id: Uuid,
) -> Result<(Intent, String, crate::methods::PayingMethod, Payable), Problem> {
    let payable = Payable::load(conn, payable_id, true)?
        .filter(|p| p.payer_id == ctx.user_id)
        .ok_or_else(|| Problem::invalid_field("payable_id", "is not a payable of yours"))?;
    if payable.state != PayableState::Open {
        return Err(Problem::conflict(
            "payable_not_open",
            format!("this payable is {}", payable.state),
        ));
    }
    if payable.expired {
        return Err(
            Problem::new(410, "payable_expired", "This payable has expired")
                .with_detail("ask the seller for a new one"),
        );
    }
    let method = paying_method(conn, ctx.user_id, method_id)?;
    if method.currency != payable.currency {
        return Err(Problem::new(
            422,
            "currency_mismatch",
            "This method cannot pay in this currency",
        )
        .with_detail(format!(
            "the payable is in {}, and {} pays in {}",
            payable.currency,
            method.provider.as_str(),
            method.currency
        )));
    }
    if !settings.enabled(method.provider) {
        return Err(crate::settings::not_configured(method.provider));
    }
    whole_major_units(payable.money())?;
    let (secret, secret_hash) = new_secret()?;
    let id = new_id();
    query(
            conn,
            "INSERT INTO payments.intents (id, payable_id, payer_id, method_id, provider, amount, currency,
                 callback_secret_sha256, next_check_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + interval '60 seconds')",
            &[
                P::Uuid(id.to_string()),
                P::Uuid(payable.id.to_string()),
                P::Uuid(ctx.user_id.to_string()),
                P::Uuid(method_id.to_string()),
                P::Str(method.provider.as_str().into()),
                P::Int64(payable.amount),
                P::Str(payable.currency.to_string()),
                P::Binary(secret_hash),
            ],
        )
        .map_err(|e| {
            if constraint(&e) == Some("intents_one_live_per_payable") {
                Problem::conflict("payment_in_progress", "this payable already has a payment in progress or made")
            } else {
                Problem::from(e)
            }
        })?;
    let intent =
        Intent::load(conn, id, false)?.ok_or_else(|| Problem::internal("new intent vanished"))?;
    Ok((intent, secret, method, payable))
}

/// After the keyed transaction: a replay answers the intent as it is now; a new intent is sent to
/// its provider.
async fn finish_create(
    settings: &Settings,
    conn: &Connection,
    component: &'static str,
    first: First,
) -> Result<Response, Problem> {
    let (intent, secret, method, payable) = match first {
        First::Replay(id) => {
            let intent = Intent::load(conn, id, false)?
                .ok_or_else(|| Problem::internal("replayed intent vanished"))?;
            return Ok(json(201, &intent.view()));
        }
        First::New(new) => *new,
    };

    // After commit: the provider call. Whatever it answers, the intent row already exists, and
    // its callback URL names it.
    let started = method
        .provider
        .start_collection(
            settings,
            &Collection {
                intent: intent.id,
                amount: intent.money(),
                msisdn: method.msisdn.as_deref(),
                network: method.network.as_deref(),
                description: &payable.description,
                callback_url: settings.callback_url(method.provider, intent.id, &secret),
            },
        )
        .await?;
    let id = P::Uuid(intent.id.to_string());
    match started {
        Started::Accepted {
            request_id,
            checkout_url,
        } => {
            query(
                conn,
                "UPDATE payments.intents SET state = 'awaiting_customer', provider_request_id = $2, checkout_url = $3,
                     updated_at = now() WHERE id = $1 AND state = 'created'",
                &[id, P::Str(request_id), checkout_url.map(P::Str).unwrap_or(P::DbNull)],
            )?;
        }
        Started::Refused { code, reason } => {
            crate::settle::apply(
                conn,
                component,
                intent.id,
                &crate::providers::Status::Failed { code, reason },
                "start",
            )?;
        }
        Started::Unknown => {
            eprintln!(
                "payments: intent {} start unclear; the sweeper will ask",
                intent.id
            );
        }
    }
    let intent = Intent::load(conn, intent.id, false)?
        .ok_or_else(|| Problem::internal("intent vanished"))?;
    Ok(json(201, &intent.view()))
}

/// `GET /payments/intents/{id}` (the payer's).
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let intent = Intent::load(&conn, id, false)?
        .filter(|i| i.payer_id == ctx.user_id)
        .ok_or_else(|| Problem::not_found("no such payment"))?;
    Ok(json(200, &intent.view()))
}

/// `GET /payments/receipts/{id}`: the receipt of a succeeded payment (by intent id or receipt
/// number), for the payer or the payee.
pub fn receipt(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let (filter, param) = match Uuid::parse_str(id) {
        Ok(u) => ("i.id = $1::text::uuid", P::Str(u.to_string())),
        Err(_) => ("i.receipt_number = $1", P::Str(id.to_string())),
    };
    let rows = query(
        &conn,
        &format!(
            "SELECT i.id FROM payments.intents i JOIN payments.payables p ON p.id = i.payable_id
             WHERE {filter} AND i.receipt_number IS NOT NULL AND (p.payer_id = $2 OR p.payee_id = $2)"
        ),
        &[param, P::Uuid(ctx.user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such receipt"));
    }
    let intent = Intent::load(&conn, rows.value(0, "id")?, false)?
        .ok_or_else(|| Problem::not_found("no such receipt"))?;
    let payable = Payable::load(&conn, intent.payable_id, false)?
        .ok_or_else(|| Problem::internal("payable vanished"))?;
    Ok(json(
        200,
        &json!({
            "receipt_number": intent.receipt_number,
            "intent_id": intent.id,
            "provider": intent.provider,
            "provider_reference": intent.provider_transaction_id,
            "amount": intent.amount,
            "currency": intent.currency,
            "refunded_amount": intent.refunded_amount,
            "paid_at": intent.completed_at,
            "description": payable.description,
            "purpose": payable.purpose,
            "reference": payable.reference,
            "payer_id": payable.payer_id,
            "payee_id": payable.payee_id,
        }),
    ))
}
