//! `/payments/payouts` (a seller's or organizer's available balance to their payout number) and
//! `/payments/balances`. A payout needs an `Idempotency-Key`, a fresh step-up and a verification
//! level of at least `identity` (the profile service's published `profiles.verification_levels`).

use nexgate_authn::{authenticate, AuthContext};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::disburse::{self, Disbursement, NewDisbursement};
use crate::phone::Provider;
use crate::settings::{Settings, SCHEMA};
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// `level_rank` of `identity` in `profiles.verification_levels`.
pub const IDENTITY_RANK: i32 = 2;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPayout {
    amount: i64,
    method_id: String,
}

/// `POST /payments/payouts {amount, method_id}`.
pub async fn create(req: Request, component: &'static str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    ctx.require_step_up(nexgate_platform::time::now_unix().0)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let body: NewPayout = nexgate_platform::body::json_body(&req)?;
    let method_id = parse_id("method_id", &body.method_id)?;
    if body.amount <= 0 {
        return Err(Problem::invalid_field(
            "amount",
            "must be a positive number of minor units",
        ));
    }
    let conn = db()?;
    require_identity(&conn, ctx.user_id)?;
    require_no_recent_security_change(&conn, ctx.user_id)?;
    let scope = format!("payouts:{}", ctx.user_id);
    let fingerprint = idempotency::fingerprint(
        "POST",
        "/payments/payouts",
        format!("{}:{method_id}", body.amount).as_bytes(),
    );
    let settings = Settings::from_variables(component)?;
    let keyed = idempotency::Keyed {
        schema: SCHEMA,
        scope: &scope,
        key: &key,
        request_hash: &fingerprint,
    };
    let (id, secret) = transaction(&conn, |conn| {
        match idempotency::once(conn, keyed, |conn| {
            new_payout(conn, &ctx, method_id, &body, &settings)
        })? {
            Once::Replayed(stored) => Ok::<_, Problem>((stored.id()?, None)),
            Once::Ran((id, secret)) => Ok((id, Some(secret))),
        }
    })?;
    if let Some(secret) = secret {
        disburse::send_once(&settings, &conn, component, id, &secret).await?;
    }
    let d = Disbursement::load(&conn, id, false)?
        .ok_or_else(|| Problem::internal("payout vanished"))?;
    Ok(json(202, &d.view()))
}

/// The payout's row and reservation (inside the keyed transaction): the response to store, and
/// the id with its callback secret.
fn new_payout(
    conn: &Connection,
    ctx: &AuthContext,
    method_id: Uuid,
    body: &NewPayout,
    settings: &Settings,
) -> Result<(StoredResponse, (Uuid, String)), Problem> {
    let rows = query(
        conn,
        "SELECT msisdn, network, provider, currency FROM payments.methods
         WHERE id = $1 AND user_id = $2 AND use = 'payout' AND removed_at IS NULL",
        &[
            P::Uuid(method_id.to_string()),
            P::Uuid(ctx.user_id.to_string()),
        ],
    )?;
    if rows.is_empty() {
        return Err(Problem::invalid_field(
            "method_id",
            "is not one of your payout numbers",
        ));
    }
    let provider: String = rows.value(0, "provider")?;
    let provider =
        Provider::parse(&provider).ok_or_else(|| Problem::internal("unknown provider"))?;
    if !settings.enabled(provider) {
        return Err(crate::settings::not_configured(provider));
    }
    let (msisdn, network, currency): (String, String, String) = (
        rows.value(0, "msisdn")?,
        rows.value(0, "network")?,
        rows.value(0, "currency")?,
    );
    let (id, secret) = disburse::reserve(
        conn,
        &NewDisbursement {
            kind: "payout",
            intent_id: None,
            payable_id: None,
            method_id: Some(method_id),
            user_id: ctx.user_id,
            provider,
            msisdn: &msisdn,
            network: &network,
            amount: body.amount,
            currency: &currency,
            reason: "payout requested",
            requested_by: "user",
        },
    )?;
    Ok((
        StoredResponse::json(202, &json!({ "id": id }))?,
        (id, secret),
    ))
}

/// 403 `verification_required` unless `user`'s published verification level is at least
/// `identity`.
pub fn require_identity(conn: &spin_sdk::pg4::Connection, user: Uuid) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT level_rank::int4 AS rank FROM profiles.verification_levels WHERE user_id = $1",
        &[P::Uuid(user.to_string())],
    )?;
    let rank: i32 = if rows.is_empty() {
        0
    } else {
        rows.value(0, "rank")?
    };
    if rank < IDENTITY_RANK {
        return Err(Problem::new(
            403,
            "verification_required",
            "Payouts need a verified identity",
        )
        .with_detail("your verification level must be at least `identity`"));
    }
    Ok(())
}

/// How long payouts and payout numbers wait after MFA was turned on or a contact point changed.
pub const SECURITY_CHANGE_HOLD_HOURS: i32 = 24;

/// 403 `security_change_cooldown` while the account's last security change (auth's published
/// `auth.security_changes`: MFA enrolled, email or phone changed) is under
/// [`SECURITY_CHANGE_HOLD_HOURS`] old: a stolen session that enrolled its own authenticator gets
/// no money out.
pub fn require_no_recent_security_change(
    conn: &spin_sdk::pg4::Connection,
    user: Uuid,
) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT coalesce(changed_at > now() - make_interval(hours => $2), false) AS recent \
         FROM auth.security_changes WHERE account_id = $1",
        &[
            P::Uuid(user.to_string()),
            P::Int32(SECURITY_CHANGE_HOLD_HOURS),
        ],
    )?;
    if !rows.is_empty() && rows.value::<bool>(0, "recent")? {
        return Err(Problem::new(
            403,
            "security_change_cooldown",
            "Payouts wait after a security change",
        )
        .with_detail(format!(
            "MFA was turned on or an email or phone changed less than {SECURITY_CHANGE_HOLD_HOURS} hours ago"
        )));
    }
    Ok(())
}

/// `GET /payments/payouts/{id}` (your own).
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    let d = Disbursement::load(&conn, id, false)?
        .filter(|d| d.user_id == ctx.user_id && d.kind == "payout")
        .ok_or_else(|| Problem::not_found("no such payout"))?;
    Ok(json(200, &d.view()))
}

/// `GET /payments/balances`: per currency, what you can pay out (`available`), what is being
/// paid out (`payout_pending`), paid out so far, and what buyers paid you that is still in escrow.
pub fn balances(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let user = P::Uuid(ctx.user_id.to_string());
    let rows = query(
        &conn,
        "SELECT a.currency,
                (a.credits_posted - a.debits_posted - a.debits_pending)::int8 AS available,
                a.debits_pending::int8 AS payout_pending,
                a.debits_posted::int8 AS paid_out
         FROM payments.ledger_accounts a WHERE a.owner_id = $1 AND a.code = 'available' ORDER BY a.currency",
        std::slice::from_ref(&user),
    )?;
    let escrow = query(
        &conn,
        "SELECT p.currency, sum(a.credits_posted - a.debits_posted - a.debits_pending)::int8 AS in_escrow
         FROM payments.payables p JOIN payments.ledger_accounts a ON a.name = 'escrow:' || p.id::text
         WHERE p.payee_id = $1 AND p.state IN ('paid', 'frozen') GROUP BY p.currency",
        &[user],
    )?;
    let mut out: Vec<Value> = Vec::new();
    for i in 0..rows.len() {
        out.push(json!({
            "currency": rows.value::<String>(i, "currency")?,
            "available": rows.value::<i64>(i, "available")?,
            "payout_pending": rows.value::<i64>(i, "payout_pending")?,
            "paid_out": rows.value::<i64>(i, "paid_out")?,
            "in_escrow": 0,
        }));
    }
    for i in 0..escrow.len() {
        let cur: String = escrow.value(i, "currency")?;
        let amount: i64 = escrow.value(i, "in_escrow")?;
        match out.iter_mut().find(|b| b["currency"] == cur.as_str()) {
            Some(b) => b["in_escrow"] = json!(amount),
            None => out.push(json!({"currency": cur, "available": 0, "payout_pending": 0, "paid_out": 0, "in_escrow": amount})),
        }
    }
    Ok(json(200, &json!({ "balances": out })))
}
