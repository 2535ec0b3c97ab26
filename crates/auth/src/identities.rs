//! The identity providers linked to a signed-in account (docs/auth.md, "Linked sign-in methods"):
//! `GET /auth/oauth/identities`, `POST /auth/oauth/{provider}/link`, `DELETE /auth/oauth/{provider}`.
//!
//! Linking and unlinking change how the account can be entered, so both need a recent
//! re-authentication (a stolen bearer token alone cannot add an attacker's Google account), and
//! the owner is told (`auth.identity.linked`, `auth.identity.unlinked`). An account is never left
//! without a way in: the last sign-in method (no password and no other provider) cannot be
//! unlinked.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::auth::{IdentityLinked, IdentityUnlinked};
use nexgate_events::outbox::with_events;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{open, query, ts_as};
use nexgate_platform::time::now_unix;
use nexgate_platform::Problem;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::ParameterValue as P;

use crate::events::SCHEMA;
use crate::http::{content_type, json};
use crate::oauth::{account_of, insert_identity, verified_identity, Provider, ProviderProof};
use crate::settings::Settings;

fn provider(name: &str) -> Result<Provider, Problem> {
    Provider::parse(name)
        .ok_or_else(|| Problem::not_found("no such provider: google, apple or facebook"))
}

/// `GET /auth/oauth/identities`: the providers linked to the caller's account.
pub fn list(req: &Request) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let rows = query(
        &conn,
        &format!(
            "SELECT provider, email, {} FROM auth.oauth_identities WHERE account_id = $1 ORDER BY created_at",
            ts_as("created_at", "linked_at")
        ),
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let items = (0..rows.len())
        .map(|i| {
            Ok(json!({
                "provider": rows.value::<String>(i, "provider")?,
                "email": rows.value::<Option<String>>(i, "email")?,
                "linked_at": rows.value::<String>(i, "linked_at")?,
            }))
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    Ok(json(200, &json!({ "items": items })))
}

/// `POST /auth/oauth/{provider}/link` `{id_token, nonce}` (Facebook: `{access_token}`), after a
/// recent re-authentication. 200 (also when already linked to this account), 409
/// `identity_in_use` (another account's), 409 `provider_already_linked` (another identity of
/// this provider is linked here).
pub async fn link(req: Request, name: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(&req)?;
    ctx.require_recent_auth(now_unix().0)?;
    let provider = provider(name)?;
    let proof: ProviderProof = parse_json(req.body(), content_type(&req), JSON_BODY_BYTES_MAX)?;
    let settings = Settings::from_variables()?;
    let identity = verified_identity(&settings, provider, &proof).await?;
    let conn = open(&settings.db_url)?;
    match account_of(&conn, provider, &identity.subject)? {
        Some(owner) if owner == ctx.user_id => return linked(provider),
        Some(_) => {
            return Err(Problem::conflict(
                "identity_in_use",
                "this sign-in is linked to another account",
            ))
        }
        None => {}
    }
    let me = ctx.user_id;
    with_events(&conn, SCHEMA, component, |conn, outbox| {
        // One identity per provider per account; the account row serialises two links at once.
        conn.execute(
            "SELECT 1 FROM auth.accounts WHERE id = $1 FOR UPDATE",
            &[P::Uuid(me.to_string())],
        )?;
        let held = query(
            conn,
            "SELECT 1 AS held FROM auth.oauth_identities WHERE account_id = $1 AND provider = $2",
            &[P::Uuid(me.to_string()), P::Str(provider.as_str().into())],
        )?;
        if !held.is_empty() {
            return Err(Problem::conflict(
                "provider_already_linked",
                format!(
                    "another {} sign-in is linked to this account; unlink it first",
                    provider.as_str()
                ),
            ));
        }
        insert_identity(conn, provider, &identity, me, identity.name.as_deref())?;
        outbox.record(
            conn,
            Some(me),
            ("account", me.to_string()),
            vec![me],
            &IdentityLinked {
                user_id: me,
                provider: provider.as_str().to_string(),
                email: identity.email.clone().unwrap_or_default(),
            },
        )
    })?;
    linked(provider)
}

fn linked(provider: Provider) -> Result<Response, Problem> {
    Ok(json(
        200,
        &json!({ "provider": provider.as_str(), "linked": true }),
    ))
}

/// `DELETE /auth/oauth/{provider}`, after a recent re-authentication: 204 (also when nothing was
/// linked), 409 `last_sign_in_method` when it is the account's only way in.
pub fn unlink(req: &Request, name: &str, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    ctx.require_recent_auth(now_unix().0)?;
    let provider = provider(name)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let me = ctx.user_id;
    with_events(&conn, SCHEMA, component, |conn, outbox| {
        let ways = query(
            conn,
            "SELECT a.password_hash IS NOT NULL AS has_password, \
                    (SELECT count(*) FROM auth.oauth_identities i WHERE i.account_id = a.id AND i.provider <> $2)::int8 AS others, \
                    EXISTS (SELECT 1 FROM auth.oauth_identities i WHERE i.account_id = a.id AND i.provider = $2) AS linked \
             FROM auth.accounts a WHERE a.id = $1 FOR UPDATE",
            &[P::Uuid(me.to_string()), P::Str(provider.as_str().into())],
        )?;
        if ways.is_empty() || !ways.value::<bool>(0, "linked")? {
            return Ok(());
        }
        if !ways.value::<bool>(0, "has_password")? && ways.value::<i64>(0, "others")? == 0 {
            return Err(Problem::conflict(
                "last_sign_in_method",
                "this is the only way into the account: set a password or link another sign-in first",
            ));
        }
        conn.execute(
            "DELETE FROM auth.oauth_identities WHERE account_id = $1 AND provider = $2",
            &[P::Uuid(me.to_string()), P::Str(provider.as_str().into())],
        )?;
        outbox.record(
            conn,
            Some(me),
            ("account", me.to_string()),
            vec![me],
            &IdentityUnlinked {
                user_id: me,
                provider: provider.as_str().to_string(),
            },
        )
    })?;
    Ok(Response::builder().status(204).body(Vec::new()).build())
}
