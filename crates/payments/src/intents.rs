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
    /// One payable, or
    payable_id: Option<String>,
    /// several payables of the same payer and currency, paid with one prompt.
    payable_ids: Option<Vec<String>>,
    method_id: String,
}

/// At most this many payables paid with one prompt.
pub const PAYABLES_PER_INTENT_MAX: usize = 20;

/// The payables a request names: `payable_id`, or 1 to [`PAYABLES_PER_INTENT_MAX`] distinct
/// `payable_ids`.
fn named_payables(body: &NewIntent) -> Result<Vec<Uuid>, Problem> {
    match (&body.payable_id, &body.payable_ids) {
        (Some(one), None) => Ok(vec![parse_id("payable_id", one)?]),
        (None, Some(many)) if (1..=PAYABLES_PER_INTENT_MAX).contains(&many.len()) => {
            let mut ids: Vec<Uuid> = Vec::with_capacity(many.len());
            for (i, text) in many.iter().enumerate() {
                let id = parse_id(&format!("payable_ids[{i}]"), text)?;
                if ids.contains(&id) {
                    return Err(Problem::invalid_field(
                        format!("payable_ids[{i}]"),
                        "repeats an earlier payable",
                    ));
                }
                ids.push(id);
            }
            Ok(ids)
        }
        (None, Some(_)) => Err(Problem::invalid_field(
            "payable_ids",
            format!("give 1 to {PAYABLES_PER_INTENT_MAX} payables"),
        )),
        _ => Err(Problem::invalid_field(
            "payable_id",
            "give payable_id or payable_ids (not both)",
        )),
    }
}

/// `POST /payments/intents`: one payable, or several (`payable_ids`) paid with one prompt for
/// their total (docs/payments.md, "Several payables, one prompt").
pub async fn create(req: Request, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let body: NewIntent = nexgate_platform::body::json_body(&req)?;
    let payable_ids = named_payables(&body)?;
    let method_id = parse_id("method_id", &body.method_id)?;
    let settings = Settings::from_variables(component)?;
    let scope = format!("intents:{}", ctx.user_id);
    // The fingerprint covers what the request means, not its formatting.
    let named: Vec<String> = payable_ids.iter().map(Uuid::to_string).collect();
    let fingerprint = idempotency::fingerprint(
        "POST",
        "/payments/intents",
        format!("{}:{method_id}", named.join(",")).as_bytes(),
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
            let new = new_intent(conn, &ctx, &settings, &payable_ids, method_id)?;
            Ok((
                StoredResponse::json(201, &json!({ "id": new.lead.id }))?,
                new,
            ))
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
    New(Box<NewPayment>),
}

/// A payment just written: the lead intent (the one the provider sees), its callback secret, the
/// paying method, the lead's payable, and the members (one per further payable).
struct NewPayment {
    lead: Intent,
    secret: String,
    method: crate::methods::PayingMethod,
    payable: Payable,
    members: Vec<Intent>,
}

/// One named payable, checked: the caller's, open, not expired, in whole major units.
fn payable_to_pay(
    conn: &Connection,
    ctx: &AuthContext,
    id: Uuid,
    field: &str,
) -> Result<Payable, Problem> {
    let payable = Payable::load(conn, id, true)?
        .filter(|p| p.payer_id == ctx.user_id)
        .ok_or_else(|| Problem::invalid_field(field, "is not a payable of yours"))?;
    if payable.state != PayableState::Open {
        return Err(Problem::conflict(
            "payable_not_open",
            format!("{field}: this payable is {}", payable.state),
        ));
    }
    if payable.expired {
        return Err(
            Problem::new(410, "payable_expired", "This payable has expired")
                .with_detail(format!("{field}: ask the seller for a new one")),
        );
    }
    whole_major_units(payable.money())?;
    Ok(payable)
}

/// The intents' rows (inside the keyed transaction): the lead for the first payable, collecting
/// the total when there are more, and one member per further payable.
fn new_intent(
    conn: &Connection,
    ctx: &AuthContext,
    settings: &Settings,
    payable_ids: &[Uuid],
    method_id: Uuid,
) -> Result<NewPayment, Problem> {
    let field = |i: usize| {
        if payable_ids.len() == 1 {
            "payable_id".to_string()
        } else {
            format!("payable_ids[{i}]")
        }
    };
    let mut payables = Vec::with_capacity(payable_ids.len());
    for (i, id) in payable_ids.iter().enumerate() {
        payables.push(payable_to_pay(conn, ctx, *id, &field(i))?);
    }
    let method = paying_method(conn, ctx.user_id, method_id)?;
    for (i, payable) in payables.iter().enumerate() {
        if method.currency != payable.currency {
            return Err(Problem::new(
                422,
                "currency_mismatch",
                "This method cannot pay in this currency",
            )
            .with_detail(format!(
                "{} is in {}, and {} pays in {}",
                field(i),
                payable.currency,
                method.provider.as_str(),
                method.currency
            )));
        }
    }
    if !settings.enabled(method.provider) {
        return Err(crate::settings::not_configured(method.provider));
    }
    let total: i64 = payables.iter().map(|p| p.amount).sum();
    let cap = crate::payables::amount_max(payables[0].currency.code()).unwrap_or(i64::MAX);
    if total > cap {
        return Err(Problem::new(
            422,
            "total_above_provider_cap",
            "The total is more than one payment may carry",
        )
        .with_field(
            "payable_ids",
            format!("the total {total} is above {cap} minor units; pay them in parts"),
        ));
    }
    let (secret, secret_hash) = new_secret()?;
    let collect = (payables.len() > 1).then_some(total);
    let lead = insert_intent(
        conn,
        ctx,
        IntentRow {
            method_id,
            method: &method,
            payable: &payables[0],
            secret_hash,
            lead: None,
            collect_amount: collect,
        },
    )?;
    let mut members = Vec::with_capacity(payables.len() - 1);
    for payable in &payables[1..] {
        // Members are never called back (the provider knows the lead only): an unused secret.
        let (_, unused_hash) = new_secret()?;
        let row = IntentRow {
            method_id,
            method: &method,
            payable,
            secret_hash: unused_hash,
            lead: Some(lead.id),
            collect_amount: None,
        };
        members.push(insert_intent(conn, ctx, row)?);
    }
    let payable = payables.swap_remove(0);
    Ok(NewPayment {
        lead,
        secret,
        method,
        payable,
        members,
    })
}

/// What an intent row is for: who pays, how, which payable, and its place in a payment.
struct IntentRow<'a> {
    method_id: Uuid,
    method: &'a crate::methods::PayingMethod,
    payable: &'a Payable,
    secret_hash: Vec<u8>,
    lead: Option<Uuid>,
    collect_amount: Option<i64>,
}

fn insert_intent(
    conn: &Connection,
    ctx: &AuthContext,
    row: IntentRow<'_>,
) -> Result<Intent, Problem> {
    let id = new_id();
    query(
        conn,
        "INSERT INTO payments.intents (id, payable_id, payer_id, method_id, provider, amount, currency,
             callback_secret_sha256, next_check_at, lead_intent_id, collect_amount)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + interval '60 seconds', $9, $10)",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(row.payable.id.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Uuid(row.method_id.to_string()),
            P::Str(row.method.provider.as_str().into()),
            P::Int64(row.payable.amount),
            P::Str(row.payable.currency.to_string()),
            P::Binary(row.secret_hash),
            row.lead.map(|l| P::Uuid(l.to_string())).unwrap_or(P::DbNull),
            row.collect_amount.map(P::Int64).unwrap_or(P::DbNull),
        ],
    )
    .map_err(|e| {
        if constraint(&e) == Some("intents_one_live_per_payable") {
            Problem::conflict(
                "payment_in_progress",
                "this payable already has a payment in progress or made",
            )
        } else {
            Problem::from(e)
        }
    })?;
    Intent::load(conn, id, false)?.ok_or_else(|| Problem::internal("new intent vanished"))
}

/// The lead's view, with its members' when it pays several payables.
fn payment_view(conn: &Connection, lead: Uuid) -> Result<serde_json::Value, Problem> {
    let intent =
        Intent::load(conn, lead, false)?.ok_or_else(|| Problem::internal("intent vanished"))?;
    let mut view = intent.view();
    let members = Intent::members(conn, lead, false)?;
    if !members.is_empty() {
        let mut all = vec![intent.view()];
        all.extend(members.iter().map(Intent::view));
        view["intents"] = serde_json::Value::Array(all);
    }
    Ok(view)
}

/// After the keyed transaction: a replay answers the payment as it is now; a new one is sent to
/// its provider (the lead, for the total).
async fn finish_create(
    settings: &Settings,
    conn: &Connection,
    component: &'static str,
    first: First,
) -> Result<Response, Problem> {
    let NewPayment {
        lead: intent,
        secret,
        method,
        payable,
        members,
    } = match first {
        First::Replay(id) => return Ok(json(201, &payment_view(conn, id)?)),
        First::New(new) => *new,
    };
    let description = if members.is_empty() {
        payable.description.clone()
    } else {
        format!("Nexgate: {} payments", members.len() + 1)
    };
    // After commit: the provider call. Whatever it answers, the intent row already exists, and
    // its callback URL names it.
    let started = method
        .provider
        .start_collection(
            settings,
            &Collection {
                intent: intent.id,
                amount: intent.collected(),
                msisdn: method.msisdn.as_deref(),
                network: method.network.as_deref(),
                description: &description,
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
                &[id.clone(), P::Str(request_id), checkout_url.map(P::Str).unwrap_or(P::DbNull)],
            )?;
            query(
                conn,
                "UPDATE payments.intents SET state = 'awaiting_customer', updated_at = now()
                 WHERE lead_intent_id = $1 AND state = 'created'",
                &[id],
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
    Ok(json(201, &payment_view(conn, intent.id)?))
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
