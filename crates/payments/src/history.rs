//! `GET /payments/transactions`: one history of the money a user paid, received, was refunded,
//! paid in fees and was paid out, newest first (docs/payments.md, "Transactions"), and
//! `GET /payments/payouts`.
//!
//! Every item has the same shape: `id`, `kind` (`payment`, `refund`, `sale`, `fee`, `payout`),
//! `role` (`payer` or `payee`), `direction` (`in` or `out` of the user's pocket), `amount`,
//! `currency`, `state`, `at`, and where it has them `payable_id`, `intent_id`, `owner_service`,
//! `reference` and `receipt_number`. Ownership is checked in the SQL: a payer sees their payments
//! and the refunds paid back to them; a payee (a seller, an organizer) sees the sales of their
//! payables (with the payable's escrow state: `paid`, `frozen`, `released`, `refunded`), the fees
//! taken at release, the refunds taken out of their escrow and their payouts.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, query_param, query_string};
use nexgate_platform::db::{open_from_variables as db, query, ts_as, Rows};
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

/// The payer's side: payments made, refunds received.
const PAYER_ITEMS: &str = "
    SELECT i.id, 'payment' AS kind, 'payer' AS role, 'out' AS direction, i.amount, i.currency,
           i.state, i.created_at AS at, i.payable_id, i.id AS intent_id, p.owner_service,
           p.reference, i.receipt_number
    FROM payments.intents i JOIN payments.payables p ON p.id = i.payable_id
    WHERE p.payer_id = $1
    UNION ALL
    SELECT d.id, 'refund', 'payer', 'in', d.amount, d.currency, d.state, d.created_at,
           d.payable_id, d.intent_id, p.owner_service, p.reference, NULL
    FROM payments.disbursements d JOIN payments.payables p ON p.id = d.payable_id
    WHERE d.kind = 'refund' AND p.payer_id = $1";

/// The payee's side: sales (with the escrow's state), fees, refunds out of their escrow (and
/// [`PAYOUTS`]).
const PAYEE_ITEMS: &str = "
    SELECT i.id, 'sale' AS kind, 'payee' AS role, 'in' AS direction, i.amount, i.currency,
           p.state, i.completed_at AS at, i.payable_id, i.id AS intent_id, p.owner_service,
           p.reference, i.receipt_number
    FROM payments.intents i JOIN payments.payables p ON p.id = i.payable_id
    WHERE p.payee_id = $1 AND i.state IN ('succeeded', 'refunded', 'partially_refunded')
    UNION ALL
    SELECT t.id, 'fee', 'payee', 'out', t.amount, t.currency, 'taken', t.created_at, p.id, NULL,
           p.owner_service, p.reference, NULL
    FROM payments.payables p
    JOIN payments.ledger_accounts e ON e.owner_id = p.id AND e.code = 'escrow'
    JOIN payments.ledger_transfers t ON t.debit_account_id = e.id
    JOIN payments.ledger_accounts f ON f.id = t.credit_account_id AND f.code = 'platform_fees'
    WHERE p.payee_id = $1
    UNION ALL
    SELECT d.id, 'refund', 'payee', 'out', d.amount, d.currency, d.state, d.created_at,
           d.payable_id, d.intent_id, p.owner_service, p.reference, NULL
    FROM payments.disbursements d JOIN payments.payables p ON p.id = d.payable_id
    WHERE d.kind = 'refund' AND p.payee_id = $1
";

/// The payee's payouts.
const PAYOUTS: &str = "
    SELECT d.id, 'payout' AS kind, 'payee' AS role, 'out' AS direction, d.amount, d.currency,
           d.state, d.created_at AS at, NULL::uuid AS payable_id, NULL::uuid AS intent_id,
           NULL AS owner_service, NULL AS reference, NULL AS receipt_number
    FROM payments.disbursements d
    WHERE d.kind = 'payout' AND d.user_id = $1";

/// `GET /payments/transactions?role=payer|payee&limit=&cursor=` (both roles by default).
pub fn transactions(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let items = match query_param(query_string(req), "role") {
        None | Some("") => format!("{PAYER_ITEMS} UNION ALL {PAYEE_ITEMS} UNION ALL {PAYOUTS}"),
        Some("payer") => PAYER_ITEMS.to_string(),
        Some("payee") => format!("{PAYEE_ITEMS} UNION ALL {PAYOUTS}"),
        Some(_) => return Err(Problem::invalid_field("role", "must be payer or payee")),
    };
    page(req, ctx.user_id, &items)
}

/// `GET /payments/payouts?limit=&cursor=`: the user's payouts, newest first.
pub fn payouts(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    page(req, ctx.user_id, PAYOUTS)
}

/// One page of `items` (SQL whose `$1` is the user), newest first, keyset on (`at`, `id`).
fn page(req: &Request, user: Uuid, items: &str) -> Result<Response, Problem> {
    let page = page_request::<(CursorTime, Uuid)>(query_string(req), 20, 100)?;
    let mut params = vec![P::Uuid(user.to_string()), P::Int64(page.limit as i64 + 1)];
    let mut after = String::new();
    if let Some((at, id)) = &page.after {
        after = "WHERE (h.at, h.id) < ($3::text::timestamptz, $4)".into();
        params.push(P::Str(at.as_str().into()));
        params.push(P::Uuid(id.to_string()));
    }
    let conn = db()?;
    let rows = query(
        &conn,
        &format!(
            "SELECT h.id, h.kind, h.role, h.direction, h.amount::int8 AS amount, h.currency, h.state,
                    {at}, h.payable_id, h.intent_id, h.owner_service, h.reference, h.receipt_number
             FROM ({items}) h {after}
             ORDER BY h.at DESC, h.id DESC LIMIT $2",
            at = ts_as("h.at", "at"),
        ),
        &params,
    )?;
    let mut out = Vec::new();
    let mut next = None;
    for i in 0..rows.len().min(page.limit as usize) {
        let item = item(&rows, i)?;
        if i + 1 == page.limit as usize && rows.len() > page.limit as usize {
            next = Some(encode_cursor(&(item["at"].as_str(), item["id"].as_str())));
        }
        out.push(item);
    }
    Ok(json(200, &json!({ "items": out, "next_cursor": next })))
}

fn item(rows: &Rows, i: usize) -> Result<Value, Problem> {
    Ok(json!({
        "id": rows.value::<Uuid>(i, "id")?,
        "kind": rows.value::<String>(i, "kind")?,
        "role": rows.value::<String>(i, "role")?,
        "direction": rows.value::<String>(i, "direction")?,
        "amount": rows.value::<i64>(i, "amount")?,
        "currency": rows.value::<String>(i, "currency")?,
        "state": rows.value::<String>(i, "state")?,
        "at": rows.value::<String>(i, "at")?,
        "payable_id": rows.value::<Option<Uuid>>(i, "payable_id")?,
        "intent_id": rows.value::<Option<Uuid>>(i, "intent_id")?,
        "owner_service": rows.value::<Option<String>>(i, "owner_service")?,
        "reference": rows.value::<Option<String>>(i, "reference")?,
        "receipt_number": rows.value::<Option<String>>(i, "receipt_number")?,
    }))
}
