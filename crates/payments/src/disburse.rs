//! Refunds and payouts: money out of a ledger account to a mobile number (docs/payments.md,
//! "Refunds and payouts"). The amount is reserved with a pending ledger transfer whose id is the
//! disbursement's id, in the transaction that creates the row; after commit the provider is asked
//! once; its answer (synchronous, callback or status query) posts or voids the reservation, once.
//! An unclear answer is never re-sent: the sweeper asks the provider.

use nexgate_events::outbox::Outbox;
use nexgate_platform::db::{constraint, query, Rows};
use nexgate_platform::ids::new_id;
use nexgate_platform::time::now_unix;
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::common::{
    account, derived_id, minor_per_major, must_transfer, new_secret, not_configured, transfer, ts,
    whole_major_units, with_events, Account, Settings,
};
use crate::gateway;
use crate::phone::{Network, Provider};
use crate::providers::{daraja, selcom, send, tembo, Status};
use crate::settle::Applied;

/// A row of `payments.disbursements`.
#[derive(Debug, Clone)]
pub struct Disbursement {
    pub id: Uuid,
    pub kind: String,
    pub intent_id: Option<Uuid>,
    pub payable_id: Option<Uuid>,
    pub user_id: Uuid,
    pub provider: String,
    pub msisdn: String,
    pub network: String,
    pub amount: i64,
    pub currency: String,
    pub state: String,
    pub provider_request_id: Option<String>,
    pub provider_transaction_id: Option<String>,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub reason: String,
    pub status_checks: i32,
    pub created_at: String,
    pub completed_at: Option<String>,
}

pub fn columns() -> String {
    format!(
        "id, kind, intent_id, payable_id, user_id, provider, msisdn, network, amount, currency, state, \
         provider_request_id, provider_transaction_id, failure_code, failure_reason, reason, status_checks, {}, {}",
        ts("created_at"),
        ts("completed_at")
    )
}

impl Disbursement {
    pub fn from_rows(r: &Rows, i: usize) -> Result<Self, Problem> {
        Ok(Self {
            id: r.value(i, "id")?,
            kind: r.value(i, "kind")?,
            intent_id: r.value(i, "intent_id")?,
            payable_id: r.value(i, "payable_id")?,
            user_id: r.value(i, "user_id")?,
            provider: r.value(i, "provider")?,
            msisdn: r.value(i, "msisdn")?,
            network: r.value(i, "network")?,
            amount: r.value(i, "amount")?,
            currency: r.value(i, "currency")?,
            state: r.value(i, "state")?,
            provider_request_id: r.value(i, "provider_request_id")?,
            provider_transaction_id: r.value(i, "provider_transaction_id")?,
            failure_code: r.value(i, "failure_code")?,
            failure_reason: r.value(i, "failure_reason")?,
            reason: r.value(i, "reason")?,
            status_checks: r.value(i, "status_checks")?,
            created_at: r.value(i, "created_at")?,
            completed_at: r.value(i, "completed_at")?,
        })
    }

    pub fn load(conn: &Connection, id: Uuid, lock: bool) -> Result<Option<Self>, Problem> {
        let rows = query(
            conn,
            &format!(
                "SELECT {} FROM payments.disbursements WHERE id = $1{}",
                columns(),
                if lock { " FOR UPDATE" } else { "" }
            ),
            &[P::Uuid(id.to_string())],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self::from_rows(&rows, 0)?))
    }

    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "succeeded" | "failed")
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "kind": self.kind,
            "intent_id": self.intent_id,
            "payable_id": self.payable_id,
            "provider": self.provider,
            "phone": crate::phone::masked(&self.msisdn),
            "amount": self.amount,
            "currency": self.currency,
            "state": self.state,
            "provider_reference": self.provider_transaction_id,
            "failure": self.failure_code.as_ref().map(|code| json!({"code": code, "reason": self.failure_reason})),
            "reason": self.reason,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
        })
    }

    /// (debit, credit) accounts of the reservation.
    fn accounts(&self, conn: &Connection) -> Result<(Uuid, Uuid), Problem> {
        let source = match (self.kind.as_str(), self.payable_id) {
            ("refund", Some(payable)) => account(conn, Account::Escrow(payable, &self.currency))?,
            _ => account(conn, Account::Available(self.user_id, &self.currency))?,
        };
        Ok((
            source,
            account(conn, Account::Clearing(&self.provider, &self.currency))?,
        ))
    }
}

/// What to reserve.
pub struct NewDisbursement<'a> {
    pub kind: &'a str,
    pub intent_id: Option<Uuid>,
    pub payable_id: Option<Uuid>,
    pub method_id: Option<Uuid>,
    pub user_id: Uuid,
    pub provider: Provider,
    pub msisdn: &'a str,
    pub network: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub reason: &'a str,
    pub requested_by: &'a str,
}

/// Inserts the row and reserves the amount (inside the caller's transaction). Returns the id and
/// the callback secret. 409 `insufficient_balance` when the source account cannot cover it.
pub fn reserve(conn: &Connection, d: &NewDisbursement<'_>) -> Result<(Uuid, String), Problem> {
    whole_major_units(d.amount, d.currency)?;
    let id = new_id();
    let (secret, secret_hash) = new_secret()?;
    query(
        conn,
        "INSERT INTO payments.disbursements (id, kind, intent_id, payable_id, method_id, user_id, provider, msisdn, network,
             amount, currency, callback_secret_sha256, reason, requested_by, next_check_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now() + interval '60 seconds')",
        &[
            P::Uuid(id.to_string()),
            P::Str(d.kind.into()),
            d.intent_id.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            d.payable_id.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            d.method_id.map(|i| P::Uuid(i.to_string())).unwrap_or(P::DbNull),
            P::Uuid(d.user_id.to_string()),
            P::Str(d.provider.as_str().into()),
            P::Str(d.msisdn.into()),
            P::Str(d.network.into()),
            P::Int64(d.amount),
            P::Str(d.currency.into()),
            P::Binary(secret_hash),
            P::Str(d.reason.chars().take(200).collect()),
            P::Str(d.requested_by.into()),
        ],
    )?;
    let source = match (d.kind, d.payable_id) {
        ("refund", Some(payable)) => account(conn, Account::Escrow(payable, d.currency))?,
        _ => account(conn, Account::Available(d.user_id, d.currency))?,
    };
    let clearing = account(conn, Account::Clearing(d.provider.as_str(), d.currency))?;
    let result = transfer(
        conn,
        id,
        source,
        clearing,
        Some(d.amount),
        d.currency,
        "pending",
        None,
        &format!("{} {id} reserved by {}", d.kind, d.requested_by),
    )?;
    match result.as_str() {
        "created" => Ok((id, secret)),
        "exceeds_credits" => Err(Problem::conflict(
            "insufficient_balance",
            format!(
                "the balance does not cover {} minor units of {}",
                d.amount, d.currency
            ),
        )),
        other => Err(Problem::internal(format!("reserve {id}: {other}"))),
    }
}

fn result_url(settings: &Settings, d: &Disbursement, secret: &str) -> String {
    settings.callback_url(
        Provider::parse(&d.provider).unwrap_or(Provider::Selcom),
        d.id,
        secret,
    )
}

/// Sends a reserved disbursement to its provider, once, and applies a clear answer.
pub async fn send_once(
    settings: &Settings,
    conn: &Connection,
    component: &str,
    id: Uuid,
    secret: &str,
) -> Result<(), Problem> {
    let d = Disbursement::load(conn, id, false)?
        .ok_or_else(|| Problem::internal("disbursement vanished"))?;
    let provider =
        Provider::parse(&d.provider).ok_or_else(|| Problem::internal("unknown provider"))?;
    let amount = whole_major_units(d.amount, &d.currency)?;
    let now = now_unix().0;
    let narration = if d.kind == "refund" {
        "Nexgate refund"
    } else {
        "Nexgate payout"
    };
    let outcome: Result<Option<String>, Option<(String, String)>> = match provider {
        Provider::Daraja => {
            let c = settings
                .daraja
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            match gateway::daraja_token(settings, c).await {
                Err(_) => Err(None),
                Ok(token) => {
                    let out = daraja::b2c(
                        c,
                        &token,
                        &d.id.to_string(),
                        amount,
                        &d.msisdn,
                        &result_url(settings, &d, secret),
                        narration,
                    );
                    match send("daraja", out).await {
                        Ok(a) => daraja::b2c_answer(a.status, &a.body).map(Some),
                        Err(_) => Err(None),
                    }
                }
            }
        }
        Provider::Selcom => {
            let c = settings
                .selcom
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let code = selcom::cashin_utility_code(&d.network)
                .ok_or_else(|| Problem::internal("no Selcom cash-in for this network"))?;
            let out = selcom::wallet_cashin(
                c,
                &selcom::timestamp(now),
                &d.id.to_string(),
                code,
                &d.msisdn,
                amount,
                &settings.selcom_pin,
            );
            match send("selcom", out).await {
                Ok(a) => {
                    // Selcom answers cash-ins synchronously.
                    let status = selcom::cashin_status(a.status, &a.body);
                    if !matches!(status, Status::Pending) {
                        apply(conn, component, d.id, &status, "selcom answer")?;
                        return Ok(());
                    }
                    Err(None)
                }
                Err(_) => Err(None),
            }
        }
        Provider::Tembo => {
            let c = settings
                .tembo
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let service = Network::parse(&d.network)
                .and_then(|n| n.tembo_channel("B2C"))
                .ok_or_else(|| Problem::internal("no Tembo payout for this network"))?;
            let out = tembo::wallet_to_mobile(
                c,
                &Uuid::now_v7().to_string(),
                &service,
                &d.msisdn,
                amount,
                narration,
                &d.id.to_string(),
                &tembo::transaction_date(now),
                &result_url(settings, &d, secret),
            );
            match send("tembo", out).await {
                Ok(a) => tembo::collection_outcome(a.status, &a.body),
                Err(_) => Err(None),
            }
        }
    };
    let id_param = P::Uuid(d.id.to_string());
    match outcome {
        Ok(request_id) => {
            query(
                conn,
                "UPDATE payments.disbursements SET state = 'sent', provider_request_id = $2, updated_at = now()
                 WHERE id = $1 AND state = 'created'",
                &[id_param, request_id.map(P::Str).unwrap_or(P::DbNull)],
            )?;
        }
        Err(Some((code, reason))) => {
            apply(
                conn,
                component,
                d.id,
                &Status::Failed { code, reason },
                "provider refusal",
            )?;
        }
        Err(None) => {
            // Unclear: never re-sent; the sweeper asks.
            query(
                conn,
                "UPDATE payments.disbursements SET state = 'unknown', updated_at = now() WHERE id = $1 AND state = 'created'",
                &[id_param],
            )?;
        }
    }
    Ok(())
}

/// Applies a provider's answer to a disbursement, once.
pub fn apply(
    conn: &Connection,
    component: &str,
    id: Uuid,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    with_events(conn, component, |conn, events| {
        let Some(d) = Disbursement::load(conn, id, true)? else {
            return Ok(Applied::Rejected("no such disbursement".into()));
        };
        apply_locked(conn, events, &d, status, source)
    })
}

fn apply_locked(
    conn: &Connection,
    events: &mut Outbox,
    d: &Disbursement,
    status: &Status,
    source: &str,
) -> Result<Applied, Problem> {
    if d.is_final() {
        return Ok(Applied::Duplicate);
    }
    let id = P::Uuid(d.id.to_string());
    match status {
        Status::Pending => {
            if d.state == "created" {
                query(conn, "UPDATE payments.disbursements SET state = 'unknown', updated_at = now() WHERE id = $1", &[id])?;
            }
            Ok(Applied::Duplicate)
        }
        Status::Succeeded {
            transaction_id,
            amount_major,
        } => {
            if let Some(major) = amount_major {
                if major * minor_per_major(&d.currency) != d.amount {
                    return Ok(Applied::Rejected(format!(
                        "amount mismatch: provider says {major}"
                    )));
                }
            }
            let (debit, credit) = d.accounts(conn)?;
            let transaction_id = if transaction_id.is_empty() {
                d.id.to_string()
            } else {
                transaction_id.clone()
            };
            if let Err(e) = query(
                conn,
                "UPDATE payments.disbursements SET state = 'succeeded', provider_transaction_id = $2, failure_code = NULL, failure_reason = NULL,
                     completed_at = now(), updated_at = now() WHERE id = $1",
                &[id, P::Str(transaction_id.clone())],
            ) {
                if constraint(&e) == Some("disbursements_provider_transaction_key") {
                    return Ok(Applied::Rejected(format!("provider transaction {transaction_id} already used")));
                }
                return Err(e.into());
            }
            must_transfer(
                conn,
                derived_id(d.id, "post"),
                debit,
                credit,
                None,
                &d.currency,
                "post_pending",
                Some(d.id),
                &format!("{} {} sent ({source})", d.kind, d.id),
            )?;
            if d.kind == "refund" {
                refund_succeeded(conn, events, d)?;
            } else {
                events.record(
                    conn,
                    "payments.payout.sent",
                    Some(d.user_id),
                    ("payout", d.id.to_string()),
                    vec![d.user_id],
                    json!({"payout_id": d.id, "user_id": d.user_id, "amount": d.amount, "currency": d.currency,
                           "provider": d.provider, "provider_reference": transaction_id}),
                )?;
            }
            Ok(Applied::Applied("succeeded"))
        }
        Status::Failed { code, reason } => {
            // A transaction-status query says only "Failed": keep the code of the result it confirms.
            let (code, reason) = match (code.as_str(), &d.failure_code) {
                ("Failed", Some(hinted)) => (
                    hinted.clone(),
                    d.failure_reason.clone().unwrap_or_else(|| reason.clone()),
                ),
                _ => (code.clone(), reason.clone()),
            };
            let (code, reason) = (&code, &reason);
            let (debit, credit) = d.accounts(conn)?;
            query(
                conn,
                "UPDATE payments.disbursements SET state = 'failed', failure_code = $2, failure_reason = $3,
                     completed_at = now(), updated_at = now() WHERE id = $1",
                &[id, P::Str(code.chars().take(40).collect()), P::Str(reason.chars().take(200).collect())],
            )?;
            must_transfer(
                conn,
                derived_id(d.id, "void"),
                debit,
                credit,
                None,
                &d.currency,
                "void_pending",
                Some(d.id),
                &format!("{} {} failed: {code}", d.kind, d.id),
            )?;
            if d.kind == "refund" {
                // The reservation is back in escrow.
                let (intent, payable) = (
                    d.intent_id.unwrap_or_default(),
                    d.payable_id.unwrap_or_default(),
                );
                query(conn, "UPDATE payments.intents SET refunded_amount = refunded_amount - $2, updated_at = now() WHERE id = $1", &[P::Uuid(intent.to_string()), P::Int64(d.amount)])?;
                query(conn, "UPDATE payments.payables SET refunded_amount = refunded_amount - $2, updated_at = now() WHERE id = $1", &[P::Uuid(payable.to_string()), P::Int64(d.amount)])?;
            } else {
                events.record(
                    conn,
                    "payments.payout.failed",
                    Some(d.user_id),
                    ("payout", d.id.to_string()),
                    vec![d.user_id],
                    json!({"payout_id": d.id, "user_id": d.user_id, "amount": d.amount, "currency": d.currency,
                           "code": code, "reason": reason}),
                )?;
            }
            Ok(Applied::Applied("failed"))
        }
    }
}

fn refund_succeeded(
    conn: &Connection,
    events: &mut Outbox,
    d: &Disbursement,
) -> Result<(), Problem> {
    let intent = d.intent_id.unwrap_or_default();
    let payable = d.payable_id.unwrap_or_default();
    let rows = query(
        conn,
        "SELECT i.amount, i.refunded_amount, p.payer_id, p.payee_id, p.owner_service, p.reference
         FROM payments.intents i JOIN payments.payables p ON p.id = i.payable_id WHERE i.id = $1",
        &[P::Uuid(intent.to_string())],
    )?;
    let amount: i64 = rows.value(0, "amount")?;
    let refunded: i64 = rows.value(0, "refunded_amount")?;
    let in_flight: i64 = query(
        conn,
        "SELECT count(*) AS n FROM payments.disbursements WHERE intent_id = $1 AND state IN ('created', 'sent', 'unknown') AND id <> $2",
        &[P::Uuid(intent.to_string()), P::Uuid(d.id.to_string())],
    )?
    .value(0, "n")?;
    let fully = refunded == amount && in_flight == 0;
    query(
        conn,
        "UPDATE payments.intents SET state = CASE WHEN $2 THEN 'refunded' ELSE 'partially_refunded' END, updated_at = now() WHERE id = $1",
        &[P::Uuid(intent.to_string()), P::Boolean(fully)],
    )?;
    if fully {
        query(
            conn,
            "UPDATE payments.payables SET state = 'refunded', frozen_reason = NULL, updated_at = now() WHERE id = $1",
            &[P::Uuid(payable.to_string())],
        )?;
    }
    let payer: Uuid = rows.value(0, "payer_id")?;
    let payee: Uuid = rows.value(0, "payee_id")?;
    events.record(
        conn,
        "payments.refund.processed",
        None,
        ("refund", d.id.to_string()),
        vec![payer, payee],
        json!({"refund_id": d.id, "payable_id": payable, "intent_id": intent, "payer_id": payer, "payee_id": payee,
               "owner_service": rows.value::<String>(0, "owner_service")?, "reference": rows.value::<String>(0, "reference")?,
               "amount": d.amount, "currency": d.currency, "fully_refunded": fully}),
    )?;
    Ok(())
}

/// Remembers what an unconfirmed result said (its failure code and words), for the confirmation.
pub fn note_hint(conn: &Connection, id: Uuid, status: &Status) -> Result<(), Problem> {
    if let Status::Failed { code, reason } = status {
        query(
            conn,
            "UPDATE payments.disbursements SET failure_code = $2, failure_reason = $3, updated_at = now()
             WHERE id = $1 AND state IN ('created', 'sent', 'unknown')",
            &[P::Uuid(id.to_string()), P::Str(code.chars().take(40).collect()), P::Str(reason.chars().take(200).collect())],
        )?;
    }
    Ok(())
}

/// Asks the provider where a disbursement stands: `Some(status)` for a synchronous answer, `None`
/// when the answer comes by callback (Daraja's transaction-status query) or cannot be asked.
pub async fn status(
    settings: &Settings,
    d: &Disbursement,
    query_conn: Option<&Connection>,
) -> Result<Option<Status>, Problem> {
    let provider =
        Provider::parse(&d.provider).ok_or_else(|| Problem::internal("unknown provider"))?;
    let now = now_unix().0;
    match provider {
        Provider::Selcom => {
            let c = settings
                .selcom
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            Ok(Some(
                match send(
                    "selcom",
                    selcom::cashin_query(c, &selcom::timestamp(now), &d.id.to_string()),
                )
                .await
                {
                    Ok(a) => selcom::cashin_status(a.status, &a.body),
                    Err(_) => Status::Pending,
                },
            ))
        }
        Provider::Tembo => {
            let c = settings
                .tembo
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            Ok(Some(
                match send(
                    "tembo",
                    tembo::payment_status(c, &Uuid::now_v7().to_string(), &d.id.to_string()),
                )
                .await
                {
                    Ok(a) if a.status == 200 => tembo::status_of(&a.body),
                    _ => Status::Pending,
                },
            ))
        }
        Provider::Daraja => {
            let c = settings
                .daraja
                .as_ref()
                .ok_or_else(|| not_configured(provider))?;
            let Some(conn) = query_conn else {
                return Ok(None);
            };
            // The answer comes to a result URL with a fresh secret, remembered by its hash.
            let (secret, hash) = new_secret()?;
            query(
                conn,
                "UPDATE payments.disbursements SET query_secret_sha256 = $2 WHERE id = $1",
                &[P::Uuid(d.id.to_string()), P::Binary(hash)],
            )?;
            let secret = secret.as_str();
            if let Ok(token) = gateway::daraja_token(settings, c).await {
                let out = daraja::transaction_status(
                    c,
                    &token,
                    &d.id.to_string(),
                    &result_url(settings, d, secret),
                );
                let _ = send("daraja", out).await;
            }
            Ok(None)
        }
    }
}
