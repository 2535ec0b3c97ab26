//! Deleting an account (docs/auth.md, "Deleting an account"): `DELETE /auth/account`.
//!
//! Behind a recent re-authentication (a stolen bearer token alone cannot destroy an account).
//! Refused with 409 `account_has_open_obligations` while any service says something is open for
//! the user: each service that can block a deletion publishes `<schema>.deletion_blockers(uuid)
//! RETURNS SETOF text` (stable codes such as `payments.available_balance`) granted to auth's role;
//! auth finds them through `auth.deletion_blocker_schemas()`, so a new service adds its own by a
//! migration alone. Otherwise, in one transaction: every session is revoked, the account row is
//! deleted (its tokens, MFA, identities, devices and pending changes go with it), its id is kept
//! in `auth.deleted_accounts`, and `auth.account.deleted` is recorded; every other service erases
//! or anonymises what it holds when that event reaches it.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::auth::AccountDeleted;
use nexgate_events::outbox::with_events;
use nexgate_platform::db::{open, query};
use nexgate_platform::time::now_unix;
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::events::SCHEMA;
use crate::http::no_content;
use crate::session;
use crate::settings::Settings;

/// `DELETE /auth/account`: 204 once the account is gone; 403 `reauthentication_required`; 409
/// `account_has_open_obligations` with `reasons` (the blockers' codes).
pub fn delete_account(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(now_unix().0)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let me = ctx.user_id;
    let revoked = with_events(&conn, SCHEMA, component, |conn, outbox| {
        // Serialises with every other change of this account (contact, MFA, identity links).
        let held = query(
            conn,
            "SELECT 1 AS held FROM auth.accounts WHERE id = $1 FOR UPDATE",
            &[P::Uuid(me.to_string())],
        )?;
        if held.is_empty() {
            return Err(Problem::not_found("no such account"));
        }
        let blockers = deletion_blockers(conn, me)?;
        if !blockers.is_empty() {
            return Err(Problem::conflict(
                "account_has_open_obligations",
                format!(
                    "the account cannot be deleted while something is open: {}",
                    blockers.join(", ")
                ),
            )
            .with_reasons(blockers));
        }
        // The sessions go with the account row; their ids are mirrored as revoked after commit.
        let revoked = query(
            conn,
            "SELECT id FROM auth.sessions WHERE account_id = $1 AND revoked_at IS NULL",
            &[P::Uuid(me.to_string())],
        )?
        .column::<Uuid>("id")?;
        let gone = query(
            conn,
            "WITH gone AS (DELETE FROM auth.accounts WHERE id = $1 RETURNING id) \
             INSERT INTO auth.deleted_accounts (id) SELECT id FROM gone \
             RETURNING to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS deleted_at",
            &[P::Uuid(me.to_string())],
        )?;
        outbox.record(
            conn,
            Some(me),
            ("account", me.to_string()),
            Vec::new(),
            &AccountDeleted {
                user_id: me,
                deleted_at: gone.value::<String>(0, "deleted_at")?,
            },
        )?;
        Ok(revoked)
    })?;
    // After commit: access tokens of the revoked sessions stop working at once.
    session::mirror_revoked(&settings, &revoked);
    Ok(no_content())
}

/// What every service that can block a deletion says is open for `user`, in schema order.
fn deletion_blockers(conn: &Connection, user: Uuid) -> Result<Vec<String>, Problem> {
    let schemas = query(
        conn,
        "SELECT s AS schema FROM auth.deletion_blocker_schemas() AS s",
        &[],
    )?
    .column::<String>("schema")?;
    let mut blockers = Vec::new();
    for schema in schemas {
        if !is_plain_identifier(&schema) {
            return Err(Problem::internal(format!(
                "deletion_blockers in an unexpected schema name {schema:?}"
            )));
        }
        let rows = query(
            conn,
            &format!("SELECT b AS blocker FROM {schema}.deletion_blockers($1) AS b"),
            &[P::Uuid(user.to_string())],
        )?;
        blockers.extend(rows.column::<String>("blocker")?);
    }
    Ok(blockers)
}

/// A lower-case SQL identifier that needs no quoting (our schema names).
fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::is_plain_identifier;

    #[test]
    fn only_plain_schema_names_are_interpolated() {
        assert!(is_plain_identifier("payments"));
        assert!(is_plain_identifier("commerce_2"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier("Payments"));
        assert!(!is_plain_identifier("x; DROP TABLE y"));
        assert!(!is_plain_identifier("2x"));
    }
}
