//! Payables and their escrow. The owning service (commerce, events) creates a payable through
//! `POST /internal/payments/payables` — the amount always comes from it — and later releases,
//! freezes or voids the escrow. `GET /payments/payables/{id}` shows one to its payer or payee.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::payments::{DisputeOpened, EscrowReleased};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::money::{Currency, Money};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::disburse;
use crate::ledger::{account, derived_id, must_transfer, Account};
use crate::phone::Provider;
use crate::rows::{payable_columns, Payable};
use crate::settings::{
    Settings, PAYABLE_TTL_SECS, PAYABLE_TTL_SECS_MAX, PAYABLE_TTL_SECS_MIN, SCHEMA,
};
use crate::states::PayableState;
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// The largest payable per currency, in minor units (the mobile-money transaction ceilings:
/// M-Pesa 250,000 KES, Tanzanian wallets 10,000,000 TZS).
pub fn amount_max(currency: &str) -> Option<i64> {
    match currency {
        "KES" => Some(250_000 * 100),
        "TZS" => Some(10_000_000 * 100),
        _ => None,
    }
}

/// Longest dispute window a payable may ask for: 60 days.
pub const DISPUTE_WINDOW_SECS_MAX: i64 = 60 * 24 * 3600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPayable {
    owner_service: String,
    reference: String,
    purpose: String,
    payer_id: String,
    payee_id: String,
    amount: i64,
    currency: String,
    description: String,
    release_rule: String,
    dispute_window_secs: Option<i64>,
    /// How long the payable waits for payment (default [`PAYABLE_TTL_SECS`]).
    expires_in_secs: Option<i64>,
    /// The id to give it (a UUID the owner chose, so it can store the id with its own row in
    /// the same transaction that makes the row); a new one when absent.
    id: Option<String>,
}

/// `POST /internal/payments/payables`: 201 with the new payable, or 200 with the same one when
/// the owner retries with the same reference and fields (409 when the fields differ).
pub fn create(req: &Request, component: &'static str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let b: NewPayable = nexgate_platform::body::json_body(req)?;
    let settings = Settings::from_variables(component)?;
    let Checked {
        payer,
        payee,
        currency,
        description,
        window,
        ttl,
    } = check_new_payable(&b, &settings)?;
    let description = description.as_str();
    let id = match &b.id {
        Some(id) => parse_id("id", id)?,
        None => new_id(),
    };
    let conn = db()?;
    let inserted = query(
        &conn,
        &format!(
            "INSERT INTO payments.payables (id, owner_service, reference, purpose, payer_id, payee_id, amount, currency,
                 description, release_rule, dispute_window_secs, fee_bps, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now() + make_interval(secs => $13))
             ON CONFLICT (owner_service, reference) DO NOTHING RETURNING {}",
            payable_columns()
        ),
        &[
            P::Uuid(id.to_string()),
            P::Str(b.owner_service.clone()),
            P::Str(b.reference.clone()),
            P::Str(b.purpose.clone()),
            P::Uuid(payer.to_string()),
            P::Uuid(payee.to_string()),
            P::Int64(b.amount),
            P::Str(currency.code().into()),
            P::Str(description.into()),
            P::Str(b.release_rule.clone()),
            P::Int32(window as i32),
            P::Int32(settings.fee_bps as i32),
            P::Floating64(ttl as f64),
        ],
    )
    .map_err(|e| match nexgate_platform::db::constraint(&e) {
        Some("payables_pkey") => Problem::conflict(
            "payable_id_taken",
            "a payable with this id exists for another reference",
        ),
        _ => Problem::from(e),
    })?;
    if !inserted.is_empty() {
        return Ok(json(201, &Payable::from_rows(&inserted, 0)?.view()));
    }
    let rows = query(
        &conn,
        &format!(
            "SELECT {} FROM payments.payables WHERE owner_service = $1 AND reference = $2",
            payable_columns()
        ),
        &[P::Str(b.owner_service.clone()), P::Str(b.reference.clone())],
    )?;
    let existing = Payable::from_rows(&rows, 0)?;
    let same =
        b.id.as_deref()
            .is_none_or(|id| parse_id("id", id).ok() == Some(existing.id))
            && existing.payer_id == payer
            && existing.payee_id == payee
            && existing.amount == b.amount
            && existing.currency == currency
            && existing.purpose == b.purpose
            && existing.release_rule == b.release_rule;
    if !same {
        return Err(Problem::conflict(
            "reference_reused",
            "a payable with this reference exists with other fields",
        ));
    }
    Ok(json(200, &existing.view()))
}

/// A new payable's fields, checked.
struct Checked {
    payer: Uuid,
    payee: Uuid,
    currency: Currency,
    description: String,
    window: i64,
    /// Seconds until it expires unpaid.
    ttl: i64,
}

/// Every field of a new payable checked (a 422 naming the first bad one), before anything is stored.
fn check_new_payable(b: &NewPayable, settings: &Settings) -> Result<Checked, Problem> {
    let service_ok = |s: &str| {
        !s.is_empty() && s.len() <= 40 && s.bytes().all(|c| c.is_ascii_lowercase() || c == b'_')
    };
    if !service_ok(&b.owner_service) {
        return Err(Problem::invalid_field(
            "owner_service",
            "must be a service name (a-z, _)",
        ));
    }
    if b.reference.trim().is_empty() || b.reference.len() > 120 {
        return Err(Problem::invalid_field(
            "reference",
            "must be 1 to 120 characters",
        ));
    }
    if !matches!(
        b.purpose.as_str(),
        "order" | "ticket" | "installment" | "group_buy_share" | "buy_together_share"
    ) {
        return Err(Problem::invalid_field(
            "purpose",
            "must be order, ticket, installment, group_buy_share or buy_together_share",
        ));
    }
    let payer = parse_id("payer_id", &b.payer_id)?;
    let payee = parse_id("payee_id", &b.payee_id)?;
    if payer == payee {
        return Err(Problem::invalid_field(
            "payee_id",
            "must differ from payer_id",
        ));
    }
    let currency = Currency::parse(&b.currency)?;
    let max = amount_max(currency.code()).ok_or_else(|| {
        Problem::invalid_field(
            "currency",
            "no provider collects this currency (KES or TZS)",
        )
    })?;
    if b.amount <= 0 || b.amount > max {
        return Err(Problem::invalid_field(
            "amount",
            format!("must be 1 to {max} minor units of {}", currency.code()),
        ));
    }
    crate::ledger::whole_major_units(Money::new(b.amount, currency))?;
    let description = b.description.trim();
    if description.is_empty() || description.chars().count() > 140 {
        return Err(Problem::invalid_field(
            "description",
            "must be 1 to 140 characters",
        ));
    }
    if !matches!(
        b.release_rule.as_str(),
        "on_confirmation" | "after_dispute_window"
    ) {
        return Err(Problem::invalid_field(
            "release_rule",
            "must be on_confirmation or after_dispute_window",
        ));
    }
    let window = b
        .dispute_window_secs
        .unwrap_or(settings.dispute_window_secs);
    if !(0..=DISPUTE_WINDOW_SECS_MAX).contains(&window) {
        return Err(Problem::invalid_field(
            "dispute_window_secs",
            format!("must be 0 to {DISPUTE_WINDOW_SECS_MAX}"),
        ));
    }
    Ok(Checked {
        payer,
        payee,
        currency,
        description: description.to_string(),
        window,
        ttl: payable_ttl(b.expires_in_secs)?,
    })
}

/// How long a payable waits for payment: the owner's `expires_in_secs` within
/// [`PAYABLE_TTL_SECS_MIN`]..=[`PAYABLE_TTL_SECS_MAX`], or [`PAYABLE_TTL_SECS`].
fn payable_ttl(asked: Option<i64>) -> Result<i64, Problem> {
    let ttl = asked.unwrap_or(PAYABLE_TTL_SECS);
    if !(PAYABLE_TTL_SECS_MIN..=PAYABLE_TTL_SECS_MAX).contains(&ttl) {
        return Err(Problem::invalid_field(
            "expires_in_secs",
            format!("must be {PAYABLE_TTL_SECS_MIN} to {PAYABLE_TTL_SECS_MAX} seconds"),
        ));
    }
    Ok(ttl)
}

/// `GET /internal/payments/payables/{id}`.
pub fn get_internal(req: &Request, id: &str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let p =
        Payable::load(&conn, id, false)?.ok_or_else(|| Problem::not_found("no such payable"))?;
    Ok(json(200, &p.view()))
}

/// `GET /payments/payables/{id}`: for its payer or payee.
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let p = Payable::load(&conn, id, false)?
        .filter(|p| p.payer_id == ctx.user_id || p.payee_id == ctx.user_id)
        .ok_or_else(|| Problem::not_found("no such payable"))?;
    Ok(json(200, &p.view()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EscrowAction {
    reason: Option<String>,
    /// Release or void a frozen payable (the dispute was settled).
    #[serde(default)]
    resolve_dispute: bool,
}

fn action_body(req: &Request) -> Result<EscrowAction, Problem> {
    if req.body().is_empty() {
        return Ok(EscrowAction::default());
    }
    nexgate_platform::body::json_body(req)
}

/// Releases a paid payable's escrow to the payee (minus the fee) in the caller's transaction.
/// Idempotent: the transfers' ids derive from the payable.
fn release_locked(
    conn: &Connection,
    events: &mut nexgate_events::outbox::Outbox,
    p: &Payable,
    why: &str,
) -> Result<(), Problem> {
    let escrow = account(conn, Account::Escrow(p.id, p.currency.code()))?;
    let available = account(conn, Account::Available(p.payee_id, p.currency.code()))?;
    let fee = p.fee();
    let net = p.remaining() - fee;
    if net > 0 {
        must_transfer(
            conn,
            derived_id(p.id, "release"),
            escrow,
            available,
            Some(net),
            p.currency.code(),
            "single_phase",
            None,
            &format!("release {}: {why}", p.id),
        )?;
    }
    if fee > 0 {
        let fees = account(conn, Account::Fees(p.currency.code()))?;
        must_transfer(
            conn,
            derived_id(p.id, "fee"),
            escrow,
            fees,
            Some(fee),
            p.currency.code(),
            "single_phase",
            None,
            &format!("fee {}", p.id),
        )?;
    }
    query(
        conn,
        "UPDATE payments.payables SET state = 'released', released_at = now(), frozen_reason = NULL, updated_at = now() WHERE id = $1",
        &[P::Uuid(p.id.to_string())],
    )?;
    events.record(
        conn,
        None,
        ("payable", p.id.to_string()),
        vec![p.payee_id],
        &EscrowReleased {
            payable_id: p.id,
            payee_id: p.payee_id,
            payer_id: p.payer_id,
            owner_service: p.owner_service.clone(),
            reference: p.reference.clone(),
            amount: net,
            fee,
            currency: p.currency.to_string(),
            reason: why.to_string(),
        },
    )?;
    Ok(())
}

/// `POST /internal/payments/payables/{id}/release|freeze|void`.
pub async fn escrow_action(
    req: &Request,
    id: &str,
    action: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let id = parse_id("id", id)?;
    let body = action_body(req)?;
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let conn = db()?;
    let mut events = Outbox::new(SCHEMA, component)?;
    let mut to_send: Option<(Uuid, String)> = None;
    let view = transaction(&conn, |conn| {
        let p =
            Payable::load(conn, id, true)?.ok_or_else(|| Problem::not_found("no such payable"))?;
        let done = match action {
            "release" => release(conn, &mut events, &p, body.resolve_dispute, &reason)?,
            "freeze" => freeze(conn, &mut events, &p, &reason)?,
            "void" => void(conn, &p, &reason)?,
            _ => return Err(Problem::not_found("no such action")),
        };
        match done {
            Escrow::Unchanged => return Ok(p.view()),
            Escrow::Changed => {}
            Escrow::Refund(refund, secret) => to_send = Some((refund, secret)),
        }
        Ok::<_, Problem>(
            Payable::load(conn, id, false)?
                .map(|p| p.view())
                .unwrap_or_default(),
        )
    })?;
    events.publish(&conn);
    if let Some((refund, secret)) = to_send {
        let settings = Settings::from_variables(component)?;
        disburse::send_once(&settings, &conn, component, refund, &secret).await?;
        let p = Payable::load(&conn, id, false)?
            .ok_or_else(|| Problem::internal("payable vanished"))?;
        let d = disburse::Disbursement::load(&conn, refund, false)?.map(|d| d.view());
        let mut v = p.view();
        v["refund"] = d.unwrap_or_default();
        return Ok(json(202, &v));
    }
    Ok(json(200, &view))
}

/// What an escrow action did inside its transaction.
enum Escrow {
    /// Already in the asked state (a retry): nothing changed.
    Unchanged,
    Changed,
    /// A void of collected money: this refund (id, callback secret) is to be sent after commit.
    Refund(Uuid, String),
}

/// `release`: the escrow goes to the payee (a frozen one only with `resolve_dispute`).
fn release(
    conn: &Connection,
    events: &mut Outbox,
    p: &Payable,
    resolve_dispute: bool,
    reason: &str,
) -> Result<Escrow, Problem> {
    let idem = |state: PayableState| p.state == state;
    if idem(PayableState::Released) {
        return Ok(Escrow::Unchanged);
    }
    if p.state == PayableState::Frozen && !resolve_dispute {
        return Err(Problem::conflict(
            "escrow_frozen",
            "the payable is frozen by a dispute; release with resolve_dispute",
        ));
    }
    if p.state != PayableState::Paid && p.state != PayableState::Frozen {
        return Err(Problem::conflict(
            "not_in_escrow",
            format!("the payable is {}", p.state),
        ));
    }
    if refund_in_flight(conn, p.id)? {
        return Err(Problem::conflict(
            "refund_in_progress",
            "a refund of this payable is still in flight",
        ));
    }
    release_locked(
        conn,
        events,
        p,
        if reason.is_empty() {
            "released by owner"
        } else {
            reason
        },
    )?;
    Ok(Escrow::Changed)
}

/// `freeze`: a dispute holds the escrow (a reason is required).
fn freeze(
    conn: &Connection,
    events: &mut Outbox,
    p: &Payable,
    reason: &str,
) -> Result<Escrow, Problem> {
    let idem = |state: PayableState| p.state == state;
    if idem(PayableState::Frozen) {
        return Ok(Escrow::Unchanged);
    }
    if p.state != PayableState::Paid {
        return Err(Problem::conflict(
            "not_in_escrow",
            format!("the payable is {}", p.state),
        ));
    }
    if reason.is_empty() {
        return Err(Problem::invalid_field("reason", "is required to freeze"));
    }
    query(
            conn,
            "UPDATE payments.payables SET state = 'frozen', frozen_reason = $2, updated_at = now() WHERE id = $1",
            &[P::Uuid(p.id.to_string()), P::Str(reason.to_string())],
        )?;
    events.record(
        conn,
        None,
        ("payable", p.id.to_string()),
        vec![p.payer_id, p.payee_id],
        &DisputeOpened {
            dispute_id: derived_id(p.id, "dispute"),
            payable_id: p.id,
            owner_service: p.owner_service.clone(),
            reference: p.reference.clone(),
            payee_id: p.payee_id,
            payer_id: p.payer_id,
            reason: reason.to_string(),
        },
    )?;
    Ok(Escrow::Changed)
}

/// `void`: an unpaid payable is voided; collected money still in escrow is refunded.
fn void(conn: &Connection, p: &Payable, reason: &str) -> Result<Escrow, Problem> {
    let idem = |state: PayableState| p.state == state;
    if idem(PayableState::Voided) || idem(PayableState::Refunded) {
        return Ok(Escrow::Unchanged);
    }
    if p.state == PayableState::Open {
        // A payment under way may still succeed: the owner waits for it to end (then voids, or
        // refunds what was paid), so no money lands on a voided payable unasked.
        if payment_in_progress(conn, p.id)? {
            return Err(Problem::conflict(
                "payment_in_progress",
                "a payment of this payable is under way; void it once it has ended",
            ));
        }
        query(
            conn,
            "UPDATE payments.payables SET state = 'voided', updated_at = now() WHERE id = $1",
            &[P::Uuid(p.id.to_string())],
        )?;
    } else if p.state == PayableState::Paid || p.state == PayableState::Frozen {
        // Money was collected: voiding refunds whatever is still in escrow.
        if !refund_in_flight(conn, p.id)? && p.remaining() > 0 {
            let why = if reason.is_empty() {
                "voided by owner"
            } else {
                reason
            };
            let (refund, secret) = start_refund(conn, p, p.remaining(), why)?;
            return Ok(Escrow::Refund(refund, secret));
        }
    } else {
        return Err(Problem::conflict(
            "not_voidable",
            format!("the payable is {}", p.state),
        ));
    }
    Ok(Escrow::Changed)
}

fn payment_in_progress(conn: &Connection, payable: Uuid) -> Result<bool, Problem> {
    query(
        conn,
        "SELECT EXISTS (SELECT 1 FROM payments.intents WHERE payable_id = $1
             AND state IN ('created', 'awaiting_customer', 'processing')) AS busy",
        &[P::Uuid(payable.to_string())],
    )?
    .value(0, "busy")
}

fn refund_in_flight(conn: &Connection, payable: Uuid) -> Result<bool, Problem> {
    query(
        conn,
        "SELECT EXISTS (SELECT 1 FROM payments.disbursements WHERE payable_id = $1 AND state IN ('created', 'sent', 'unknown')) AS busy",
        &[P::Uuid(payable.to_string())],
    )?
    .value(0, "busy")
}

/// Reserves a refund of `amount` of a paid payable back to the number that paid it (inside the
/// caller's transaction, with the payable locked).
pub(crate) fn start_refund(
    conn: &Connection,
    p: &Payable,
    amount: i64,
    reason: &str,
) -> Result<(Uuid, String), Problem> {
    let rows = query(
        conn,
        "SELECT i.id, i.provider, m.kind, m.msisdn, m.network FROM payments.intents i
         JOIN payments.methods m ON m.id = i.method_id
         WHERE i.payable_id = $1 AND i.state IN ('succeeded', 'partially_refunded') FOR UPDATE OF i",
        &[P::Uuid(p.id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::internal("a paid payable without its payment"));
    }
    let kind: String = rows.value(0, "kind")?;
    if kind != "mobile_money" {
        return Err(Problem::new(
            422,
            "refund_not_supported",
            "Card payments are refunded by the card provider",
        )
        .with_detail("refund card payments from Selcom's merchant dashboard"));
    }
    let intent: Uuid = rows.value(0, "id")?;
    let provider: String = rows.value(0, "provider")?;
    let msisdn: String = rows.value(0, "msisdn")?;
    let network: String = rows.value(0, "network")?;
    let reserved = disburse::reserve(
        conn,
        &disburse::NewDisbursement {
            kind: "refund",
            intent_id: Some(intent),
            payable_id: Some(p.id),
            method_id: None,
            user_id: p.payer_id,
            provider: Provider::parse(&provider)
                .ok_or_else(|| Problem::internal("unknown provider"))?,
            msisdn: &msisdn,
            network: &network,
            amount,
            currency: p.currency.code(),
            reason,
            requested_by: &p.owner_service,
        },
    )?;
    query(
        conn,
        "UPDATE payments.intents SET refunded_amount = refunded_amount + $2, updated_at = now() WHERE id = $1",
        &[P::Uuid(intent.to_string()), P::Int64(amount)],
    )?;
    query(
        conn,
        "UPDATE payments.payables SET refunded_amount = refunded_amount + $2, updated_at = now() WHERE id = $1",
        &[P::Uuid(p.id.to_string()), P::Int64(amount)],
    )?;
    Ok(reserved)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefundRequest {
    /// Minor units; the whole remaining escrow when absent.
    amount: Option<i64>,
    reason: String,
}

/// `POST /internal/payments/payables/{id}/refund {amount?, reason}` with an `Idempotency-Key`:
/// money back to the payer's number, out of what is still in escrow (paid or frozen). 202 with the
/// refund; a retry with the same key answers the same refund.
pub async fn refund(req: &Request, id: &str, component: &'static str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let id = parse_id("id", id)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let body: RefundRequest = nexgate_platform::body::json_body(req)?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Problem::invalid_field(
            "reason",
            "must be 1 to 200 characters",
        ));
    }
    let scope = format!("refund:{id}");
    let fingerprint = idempotency::fingerprint(
        "POST",
        "refund",
        format!("{:?}:{reason}", body.amount).as_bytes(),
    );
    let conn = db()?;
    let keyed = idempotency::Keyed {
        schema: SCHEMA,
        scope: &scope,
        key: &key,
        request_hash: &fingerprint,
    };
    let (refund, secret) = transaction(&conn, |conn| {
        let once = idempotency::once(conn, keyed, |conn| {
            new_refund(conn, id, body.amount, &reason)
        })?;
        match once {
            Once::Replayed(stored) => Ok::<_, Problem>((stored.id()?, None)),
            Once::Ran((refund, secret)) => Ok((refund, Some(secret))),
        }
    })?;
    if let Some(secret) = secret {
        let settings = Settings::from_variables(component)?;
        disburse::send_once(&settings, &conn, component, refund, &secret).await?;
    }
    let d = disburse::Disbursement::load(&conn, refund, false)?
        .ok_or_else(|| Problem::internal("refund vanished"))?;
    Ok(json(202, &d.view()))
}

/// The refund's row and reservation (inside the keyed transaction): the response to store, and
/// the refund's id with its callback secret.
fn new_refund(
    conn: &Connection,
    id: Uuid,
    amount: Option<i64>,
    reason: &str,
) -> Result<(StoredResponse, (Uuid, String)), Problem> {
    let p = Payable::load(conn, id, true)?.ok_or_else(|| Problem::not_found("no such payable"))?;
    if p.state != PayableState::Paid && p.state != PayableState::Frozen {
        return Err(Problem::conflict(
            "not_in_escrow",
            format!(
                "the payable is {}: only money in escrow is refunded",
                p.state
            ),
        ));
    }
    let amount = amount.unwrap_or(p.remaining());
    if amount <= 0 || amount > p.remaining() {
        return Err(Problem::invalid_field(
            "amount",
            format!("must be 1 to {} (what is still in escrow)", p.remaining()),
        ));
    }
    let (refund, secret) = start_refund(conn, &p, amount, reason)?;
    Ok((
        StoredResponse::json(202, &json!({ "id": refund }))?,
        (refund, secret),
    ))
}

/// `POST /internal/payments/jobs/release`: releases every paid payable whose dispute window has
/// passed. Each in its own transaction; answers how many.
pub fn release_due(req: &Request, component: &'static str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(req)?;
    let conn = db()?;
    let rows = query(
        &conn,
        "SELECT id FROM payments.payables WHERE state = 'paid' AND release_after <= now() ORDER BY release_after LIMIT 200",
        &[],
    )?;
    let mut released = 0;
    for i in 0..rows.len() {
        let id: Uuid = rows.value(i, "id")?;
        let mut events = Outbox::new(SCHEMA, component)?;
        let done = transaction(&conn, |conn| {
            let Some(p) = Payable::load(conn, id, true)? else {
                return Ok(false);
            };
            if p.state != PayableState::Paid || refund_in_flight(conn, p.id)? {
                return Ok::<_, Problem>(false);
            }
            release_locked(conn, &mut events, &p, "dispute window passed")?;
            Ok(true)
        })?;
        events.publish(&conn);
        released += done as u32;
    }
    Ok(json(200, &json!({ "released": released })))
}
