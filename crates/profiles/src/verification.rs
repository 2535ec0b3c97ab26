//! The verification level (`none < contact < identity < business`; docs/profiles.md).
//!
//! `PUT /users/{id}/verification` `{level, reason}` (operators only: the token's `roles` must hold
//! `operator`) sets `identity` or `business`, or `none` to drop back to what auth's flags give;
//! every change is written to `profiles.verification_audit` and announced as
//! `profiles.verification.changed`. `GET /users/{id}/verification` shows the level and, to
//! operators, the audit trail.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::profiles::VerificationChanged;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{query, transaction};
use nexgate_platform::ids::new_id;
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::lookup::{no_such_user, resolve_as, SCHEMA};
use nexgate_events::outbox::Outbox;
use nexgate_platform::body::json_response as json;
use nexgate_platform::db::open_from_variables as db;

/// Audit entries shown at once.
pub const AUDIT_ENTRIES_MAX: i64 = 50;

/// The effective level of a user.
pub fn level_of(conn: &Connection, user_id: Uuid) -> Result<String, Problem> {
    let rows = query(
        conn,
        "SELECT level FROM profiles.verification_levels WHERE user_id = $1",
        &[P::Uuid(user_id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(no_such_user());
    }
    rows.value(0, "level")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    level: String,
    reason: String,
}

#[derive(Serialize)]
struct AuditEntry {
    previous_level: String,
    new_level: String,
    operator_id: Uuid,
    reason: String,
    at: String,
}

/// `PUT /users/{id}/verification`.
pub fn set(req: &Request, target: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_role("operator")?;
    // A stolen operator token alone cannot raise anyone's level: it takes a fresh second factor.
    ctx.require_step_up(nexgate_platform::time::now_unix().0)?;
    let body: SetBody = parse_json(
        req.body(),
        req.header("content-type").and_then(|v| v.as_str()),
        JSON_BODY_BYTES_MAX,
    )?;
    if !["identity", "business", "none"].contains(&body.level.as_str()) {
        return Err(Problem::invalid_field(
            "level",
            "must be identity, business, or none (back to what the verified contact points give)",
        ));
    }
    let reason = body.reason.trim().to_string();
    if reason.chars().count() < 3 || reason.chars().count() > 500 {
        return Err(Problem::invalid_field(
            "reason",
            "must be 3 to 500 characters",
        ));
    }
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let (previous, now) = transaction(&conn, |conn| -> Result<(String, String), Problem> {
        conn.execute(
            "SELECT 1 FROM profiles.profiles WHERE user_id = $1 FOR UPDATE",
            &[P::Uuid(target.to_string())],
        )?;
        let previous = level_of(conn, target)?;
        if body.level == "none" {
            conn.execute(
                "DELETE FROM profiles.verification_grants WHERE user_id = $1",
                &[P::Uuid(target.to_string())],
            )?;
        } else {
            conn.execute(
                "INSERT INTO profiles.verification_grants (user_id, level, granted_by, reason) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (user_id) DO UPDATE SET level = EXCLUDED.level, granted_by = EXCLUDED.granted_by, \
                     reason = EXCLUDED.reason, granted_at = now()",
                &[
                    P::Uuid(target.to_string()),
                    P::Str(body.level.clone()),
                    P::Uuid(ctx.user_id.to_string()),
                    P::Str(reason.clone()),
                ],
            )?;
        }
        let now = level_of(conn, target)?;
        conn.execute(
            "INSERT INTO profiles.verification_audit (id, user_id, previous_level, new_level, operator_id, reason) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                P::Uuid(new_id().to_string()),
                P::Uuid(target.to_string()),
                P::Str(previous.clone()),
                P::Str(now.clone()),
                P::Uuid(ctx.user_id.to_string()),
                P::Str(reason.clone()),
            ],
        )?;
        if previous != now {
            outbox.record(
                conn,
                Some(ctx.user_id),
                ("profile", target.to_string()),
                vec![target],
                &VerificationChanged {
                    user_id: target,
                    previous_level: previous.clone(),
                    level: now.clone(),
                },
            )?;
        }
        Ok((previous, now))
    })?;
    outbox.publish(&conn);
    Ok(json(
        200,
        &json!({ "user_id": target, "level": now, "previous_level": previous }),
    ))
}

/// `GET /users/{id}/verification`: the level; operators also see the audit trail (newest first).
pub fn get(req: &Request, target: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let conn = db()?;
    let target = resolve_as(&conn, ctx.user_id, target)?;
    if target != ctx.user_id && crate::lookup::blocked_either_way(&conn, ctx.user_id, target)? {
        return Err(no_such_user());
    }
    let level = level_of(&conn, target)?;
    if !ctx.has_role("operator") {
        return Ok(json(200, &json!({ "user_id": target, "level": level })));
    }
    let rows = query(
        &conn,
        &format!(
            "SELECT previous_level, new_level, operator_id, reason, {} \
             FROM profiles.verification_audit WHERE user_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            nexgate_platform::db::ts("at")
        ),
        &[P::Uuid(target.to_string()), P::Int64(AUDIT_ENTRIES_MAX)],
    )?;
    let mut audit = Vec::with_capacity(rows.len());
    for i in 0..rows.len() {
        audit.push(AuditEntry {
            previous_level: rows.value(i, "previous_level")?,
            new_level: rows.value(i, "new_level")?,
            operator_id: rows.value(i, "operator_id")?,
            reason: rows.value(i, "reason")?,
            at: rows.value(i, "at")?,
        });
    }
    Ok(json(
        200,
        &json!({ "user_id": target, "level": level, "audit": audit }),
    ))
}
