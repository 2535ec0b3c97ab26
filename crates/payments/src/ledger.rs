//! The ledger as the payment service uses it: named accounts, transfers (idempotent by id), ids
//! derived for each business step, and the currencies' minor units.

use nexgate_platform::db::query;
use nexgate_platform::money::Money;
use nexgate_platform::Problem;
use sha2::{Digest, Sha256};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// An id derived from another and a label (the same inputs give the same id), so that the ledger
/// transfers of one business step are idempotent across retries.
pub fn derived_id(base: Uuid, label: &str) -> Uuid {
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    h.update(label.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8: custom
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    Uuid::from_bytes(b)
}

/// The ledger accounts the service uses, by name.
pub enum Account<'a> {
    /// Money the provider holds for us (collections in, refunds and payouts out).
    Clearing(&'a str, &'a str),
    /// The escrow of one payable.
    Escrow(Uuid, &'a str),
    /// A seller's or organizer's available balance.
    Available(Uuid, &'a str),
    /// The platform's fees.
    Fees(&'a str),
}

/// The id of a named ledger account (made on first use).
pub fn account(conn: &Connection, which: Account<'_>) -> Result<Uuid, Problem> {
    let (name, code, owner, currency, limit): (String, &str, Option<Uuid>, &str, Option<&str>) =
        match which {
            Account::Clearing(provider, cur) => (
                format!("clearing:{provider}:{cur}"),
                "provider_clearing",
                None,
                cur,
                None,
            ),
            Account::Escrow(payable, cur) => (
                format!("escrow:{payable}"),
                "escrow",
                Some(payable),
                cur,
                Some("debits"),
            ),
            Account::Available(user, cur) => (
                format!("available:{user}:{cur}"),
                "available",
                Some(user),
                cur,
                Some("debits"),
            ),
            Account::Fees(cur) => (
                format!("fees:{cur}"),
                "platform_fees",
                None,
                cur,
                Some("debits"),
            ),
        };
    let rows = query(
        conn,
        "SELECT payments.named_account($1, $2, $3, $4, $5) AS id",
        &[
            P::Str(name),
            P::Str(code.into()),
            owner.map(|o| P::Uuid(o.to_string())).unwrap_or(P::DbNull),
            P::Str(currency.into()),
            limit.map(|l| P::Str(l.into())).unwrap_or(P::DbNull),
        ],
    )?;
    rows.value(0, "id")
}

/// One ledger transfer; `created` and `exists` (a retry) are fine, anything else is an error
/// naming the result.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    conn: &Connection,
    id: Uuid,
    debit: Uuid,
    credit: Uuid,
    amount: Option<i64>,
    currency: &str,
    kind: &str,
    pending: Option<Uuid>,
    reference: &str,
) -> Result<String, Problem> {
    let rows = query(
        conn,
        "SELECT payments.create_transfer($1, $2, $3, $4, $5, $6, $7, $8) AS result",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(debit.to_string()),
            P::Uuid(credit.to_string()),
            amount.map(P::Int64).unwrap_or(P::DbNull),
            P::Str(currency.into()),
            P::Str(kind.into()),
            pending.map(|p| P::Uuid(p.to_string())).unwrap_or(P::DbNull),
            P::Str(reference.chars().take(200).collect()),
        ],
    )?;
    let result: String = rows.value(0, "result")?;
    Ok(result)
}

/// [`transfer`] that must succeed (`created` or `exists`).
#[allow(clippy::too_many_arguments)]
pub fn must_transfer(
    conn: &Connection,
    id: Uuid,
    debit: Uuid,
    credit: Uuid,
    amount: Option<i64>,
    currency: &str,
    kind: &str,
    pending: Option<Uuid>,
    reference: &str,
) -> Result<(), Problem> {
    match transfer(
        conn, id, debit, credit, amount, currency, kind, pending, reference,
    )?
    .as_str()
    {
        "created" | "exists" => Ok(()),
        other => Err(Problem::internal(format!(
            "ledger transfer {id} refused: {other}"
        ))),
    }
}

/// The amount in whole major units, as mobile money moves them; a fraction of one is a 422.
pub fn whole_major_units(money: Money) -> Result<i64, Problem> {
    money.whole_major().ok_or_else(|| {
        Problem::new(
            422,
            "amount_not_payable",
            "Mobile money takes whole units of the currency",
        )
        .with_detail(format!(
            "{} minor units of {} is not a whole amount",
            money.amount,
            money.currency.code()
        ))
    })
}

/// Whether a provider's report of `major` whole units is exactly `expected`.
pub fn reports_amount(major: i64, expected: Money) -> bool {
    Money::from_whole_major(major, expected.currency) == Some(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let base = Uuid::now_v7();
        assert_eq!(derived_id(base, "release"), derived_id(base, "release"));
        assert_ne!(derived_id(base, "release"), derived_id(base, "fee"));
    }
}
