//! `POST /internal/payments/jobs/sweep`: asks the providers about intents whose callback never
//! came. "Still processing" answers (M-Pesa `500.001.1001`, Selcom `111`/`999`, Tembo
//! `PENDING_ACK`) keep the intent pending, never failed; after [`STATUS_CHECKS_MAX`] questions
//! or [`PENDING_HOURS_MAX`] hours it goes to manual review (`needs_review`), still not failed.

use nexgate_platform::db::{open_from_variables as db, query};
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;
use uuid::Uuid;

use crate::disburse::{self, Disbursement};
use crate::providers::Status;
use crate::rows::{intent_columns, Intent};
use crate::settings::Settings;
use crate::settle::{self, Applied};
use nexgate_platform::body::json_response as json;

/// Questions asked about one intent before a person looks at it.
pub const STATUS_CHECKS_MAX: i32 = 12;
/// Hours an intent may stay pending before a person looks at it.
pub const PENDING_HOURS_MAX: i64 = 24;
/// Minutes after which an intent the provider never acknowledged (no request id, so it cannot
/// be asked about) expires.
pub const UNACKNOWLEDGED_EXPIRY_MINUTES: i64 = 10;
/// Intents per sweep.
const BATCH: i64 = 50;

/// One sweep; answers what it did.
pub async fn sweep(req: Request, component: &'static str) -> Result<Response, Problem> {
    nexgate_platform::internal::check_request(&req)?;
    let settings = Settings::from_variables(component)?;
    let conn = db()?;
    // Claim a batch: pushing next_check_at out (exponential backoff, at most an hour) before
    // asking means two sweepers never ask about the same intent at once.
    let rows = query(
        &conn,
        &format!(
            "WITH due AS (
                 SELECT id FROM payments.intents
                 WHERE state IN ('created', 'awaiting_customer', 'processing') AND NOT needs_review AND next_check_at <= now()
                   AND lead_intent_id IS NULL
                 ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             UPDATE payments.intents i SET status_checks = status_checks + 1,
                 next_check_at = now() + make_interval(secs => least(3600, 30 * power(2, least(status_checks, 7))))
             WHERE i.id IN (SELECT id FROM due)
             RETURNING {}, created_at < now() - make_interval(hours => $2) AS too_old,
                       created_at < now() - make_interval(mins => $3) AS unacknowledged_expired",
            intent_columns()
        ),
        &[P::Int64(BATCH), P::Int32(PENDING_HOURS_MAX as i32), P::Int32(UNACKNOWLEDGED_EXPIRY_MINUTES as i32)],
    )?;
    let (mut settled, mut pending, mut review, mut expired) = (0, 0, 0, 0);
    for i in 0..rows.len() {
        let intent = Intent::from_rows(&rows, i)?;
        let too_old: bool = rows.value(i, "too_old")?;
        let unacknowledged_expired: bool = rows.value(i, "unacknowledged_expired")?;
        let answer = intent.provider.collection_status(&settings, &intent).await;
        let status = match answer {
            Ok(Some(s)) => s,
            Ok(None) => {
                // Never acknowledged by the provider and nothing to ask with.
                if unacknowledged_expired && expire(&conn, intent.id)? {
                    expired += 1;
                }
                continue;
            }
            Err(e) => {
                eprintln!("payments: sweep of {} could not ask: {e}", intent.id);
                Status::Pending
            }
        };
        match settle::apply_then_return(&settings, &conn, intent.id, &status, "sweeper").await? {
            Applied::Applied("succeeded")
            | Applied::Applied("failed")
            | Applied::Returning { .. } => settled += 1,
            _ if matches!(status, Status::Pending) => {
                pending += 1;
                if too_old || intent.status_checks + 1 >= STATUS_CHECKS_MAX {
                    query(
                        &conn,
                        "UPDATE payments.intents SET needs_review = true, updated_at = now() WHERE id = $1 AND state IN ('created', 'awaiting_customer', 'processing')",
                        &[P::Uuid(intent.id.to_string())],
                    )?;
                    review += 1;
                }
            }
            _ => {}
        }
    }
    let (d_checked, d_settled, d_review) = sweep_disbursements(&settings, &conn).await?;
    Ok(json(
        200,
        &json!({"checked": rows.len(), "settled": settled, "pending": pending, "sent_to_review": review, "expired": expired,
                "disbursements": {"checked": d_checked, "settled": d_settled, "sent_to_review": d_review}}),
    ))
}

/// Refunds and payouts without a final answer: asked about, never re-sent.
async fn sweep_disbursements(
    settings: &Settings,
    conn: &spin_sdk::pg4::Connection,
) -> Result<(usize, u32, u32), Problem> {
    let rows = query(
        conn,
        &format!(
            "WITH due AS (
                 SELECT id FROM payments.disbursements
                 WHERE state IN ('created', 'sent', 'unknown') AND NOT needs_review AND next_check_at <= now()
                 ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             UPDATE payments.disbursements d SET status_checks = status_checks + 1,
                 next_check_at = now() + make_interval(secs => least(3600, 30 * power(2, least(status_checks, 7))))
             WHERE d.id IN (SELECT id FROM due)
             RETURNING {}, created_at < now() - make_interval(hours => $2) AS too_old",
            disburse::columns()
        ),
        &[P::Int64(BATCH), P::Int32(PENDING_HOURS_MAX as i32)],
    )?;
    let (mut settled, mut review) = (0, 0);
    for i in 0..rows.len() {
        let d = Disbursement::from_rows(&rows, i)?;
        let too_old: bool = rows.value(i, "too_old")?;
        let answer = disburse::status(settings, &d, Some(conn))
            .await
            .unwrap_or(Some(Status::Pending));
        let decided = match answer {
            Some(status @ (Status::Succeeded { .. } | Status::Failed { .. })) => {
                matches!(
                    disburse::apply(conn, settings.component, d.id, &status, "sweeper")?,
                    Applied::Applied(_)
                )
            }
            _ => false,
        };
        if decided {
            settled += 1;
        } else if too_old || d.status_checks + 1 >= STATUS_CHECKS_MAX {
            query(
                conn,
                "UPDATE payments.disbursements SET needs_review = true, updated_at = now() WHERE id = $1 AND state IN ('created', 'sent', 'unknown')",
                &[P::Uuid(d.id.to_string())],
            )?;
            review += 1;
        }
    }
    Ok((rows.len(), settled, review))
}

fn expire(conn: &spin_sdk::pg4::Connection, id: Uuid) -> Result<bool, Problem> {
    let n = conn
        .execute(
            "UPDATE payments.intents SET state = 'expired', completed_at = now(), updated_at = now()
             WHERE id = $1 AND state = 'created' AND provider_request_id IS NULL",
            &[P::Uuid(id.to_string())],
        )
        .map_err(Problem::from)?;
    if n == 1 {
        // Its members (a multi-payable payment) were never sent either.
        conn.execute(
            "UPDATE payments.intents SET state = 'expired', completed_at = now(), updated_at = now()
             WHERE lead_intent_id = $1 AND state = 'created'",
            &[P::Uuid(id.to_string())],
        )
        .map_err(Problem::from)?;
    }
    Ok(n == 1)
}
