//! What payments does when an account is deleted (docs/payments.md, "Deleted accounts").
//!
//! Before: auth asks `payments.deletion_blockers(user)` (a migration publishes it) and refuses the
//! deletion while the user has an available balance, a payout or refund in flight, money in
//! escrow as payer or payee, or a live payment.
//!
//! After, on `auth.account.deleted` (`POST /internal/payments/events`): what identifies the person
//! is anonymised: their payment and payout numbers (the method rows stay, without number, label or
//! provider reference, because intents and disbursements point at them), the numbers of their
//! finished disbursements, and the provider payloads of their payments (which carry the number and
//! sometimes a name). The ledger, payables and intents stay under the bare user id, as accounting
//! requires. A number still needed to return money (a method behind a live intent or an escrowed
//! payable, possible only when a payment raced the deletion) is kept until that money has moved and
//! said so in the answer. Applying it twice changes nothing.

use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::inbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::{open_from_variables as db, query, transaction};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// `POST /internal/payments/events` (behind `payments_internal_token`), one envelope per call.
pub fn consume(req: &Request) -> Result<Response, Problem> {
    let envelope = inbox::read(req)?;
    let Some(deleted) = envelope.data_as::<AccountDeleted>() else {
        return Ok(inbox::not_consumed(&envelope));
    };
    let conn = db()?;
    let erased = transaction(&conn, |conn| anonymise(conn, deleted.user_id))?;
    Ok(json(200, &json!({ "applied": true, "erased": erased })))
}

/// Anonymises what identifies `user`; counts per kind of row, and the methods kept for now.
fn anonymise(conn: &Connection, user: Uuid) -> Result<serde_json::Value, Problem> {
    let me = || P::Uuid(user.to_string());
    let methods = query(
        conn,
        "UPDATE payments.methods m SET msisdn = NULL, label = 'erased', provider_reference = NULL, \
                is_default = false, removed_at = coalesce(m.removed_at, now()), erased_at = now() \
         WHERE m.user_id = $1 AND m.erased_at IS NULL AND NOT EXISTS ( \
             SELECT 1 FROM payments.intents i JOIN payments.payables p ON p.id = i.payable_id \
             WHERE i.method_id = m.id \
               AND (i.state IN ('created', 'awaiting_customer', 'processing') OR p.state IN ('paid', 'frozen'))) \
         RETURNING m.id",
        &[me()],
    )?
    .len();
    let kept = query(
        conn,
        "SELECT count(*)::int8 AS kept FROM payments.methods WHERE user_id = $1 AND erased_at IS NULL",
        &[me()],
    )?
    .value::<i64>(0, "kept")?;
    let disbursements = query(
        conn,
        "UPDATE payments.disbursements SET msisdn = NULL, updated_at = now() \
         WHERE user_id = $1 AND msisdn IS NOT NULL AND state IN ('succeeded', 'failed') RETURNING id",
        &[me()],
    )?
    .len();
    let callbacks = query(
        conn,
        "UPDATE payments.callbacks c SET body = jsonb_build_object('redacted', 'account deleted'), redacted_at = now() \
         FROM payments.intents i \
         WHERE c.intent_id = i.id AND i.payer_id = $1 AND c.redacted_at IS NULL \
           AND i.state NOT IN ('created', 'awaiting_customer', 'processing') RETURNING c.id",
        &[me()],
    )?
    .len();
    Ok(json!({
        "methods": methods,
        "methods_kept_until_money_moves": kept,
        "disbursements": disbursements,
        "callbacks": callbacks,
    }))
}
