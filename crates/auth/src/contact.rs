//! Adding or changing the email address or phone number (docs/auth.md, "Contact points").
//!
//! - `POST /auth/contact/change` `{email | phone, current_password}` (logged in): the password is
//!   checked (failures count like logins; an account without a password, made through an identity
//!   provider, needs a sign-in within the last ten minutes instead), then a code goes to the new address in
//!   `auth.verification_code.issued` (purpose `contact_change`); answer 202 `{change_id, ...}`. An
//!   address that belongs to another account gets no code; the answer, and its time, are the same
//!   (the code goes out after the answer). At most 5 codes per account and 3 per address an hour.
//! - `POST /auth/contact/verify` `{change_id, code}` (5 tries per code, 10 per account and per
//!   address an hour): the new address replaces the old (verified now), and `auth.contact.changed` tells the old address (`old_address`), if there was one.

use nexgate_authn::authenticate;
use nexgate_events::catalogue::auth::ContactChanged;
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{constraint, open, query, sqlstate, transaction, UNIQUE_VIOLATION};
use nexgate_platform::ids::new_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::events::SCHEMA;
use crate::http::{content_type, json};
use crate::identifier::{contact_point, Channel};
use crate::password_flows::{current_password_field, has_password, verify_current_password};
use crate::rate_limit::{self, Rule};
use crate::registration::{account_with_address, send_code, CODE_ATTEMPTS_MAX, CODE_TTL_SECS};
use crate::secrets::{code_hash, digests_equal, new_code, sha256_hex};
use crate::settings::Settings;
use nexgate_events::outbox::Outbox;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    email: Option<String>,
    phone: Option<String>,
    /// Required when the account has a password.
    current_password: Option<String>,
}

/// Codes sent to new contact points per account per hour.
pub const CODES_PER_ACCOUNT_PER_HOUR_MAX: i64 = 5;
/// Codes sent to one address per hour, whoever asks (taken or not, counted alike).
pub const CODES_PER_ADDRESS_PER_HOUR_MAX: i64 = 3;
/// Code checks per account per hour, across all its changes.
pub const GUESSES_PER_ACCOUNT_PER_HOUR_MAX: i64 = 10;
/// Code checks per address per hour, across every account that targets it.
pub const GUESSES_PER_ADDRESS_PER_HOUR_MAX: i64 = 10;

/// Counts one event against an hourly limit; over it, 429 `rate_limited` with `Retry-After`.
fn count_hourly(settings: &Settings, parts: &[&str], limit: i64) -> Result<(), Problem> {
    let redis = settings.redis()?;
    let hour = Rule {
        limit,
        window_ms: 3_600_000,
        lockout_base_ms: 3_600_000,
        lockout_max_ms: 3_600_000,
    };
    rate_limit::count_or_refuse(&redis, &settings.redis_key(parts), hour, "contact change")
}

/// A code to send after the answer (only when the address is free).
pub struct PendingCode {
    settings: Settings,
    change_id: Uuid,
    account_id: Uuid,
    channel: Channel,
    address: String,
    code: String,
}

impl PendingCode {
    /// Records `auth.verification_code.issued` (sealed) and publishes it; failures are logged
    /// (the user asks again).
    pub fn send(self, component: &str) {
        let sent = (|| -> Result<(), Problem> {
            let conn = open(&self.settings.db_url)?;
            let mut outbox = Outbox::new(SCHEMA, component)?;
            transaction(&conn, |conn| {
                send_code(
                    conn,
                    &mut outbox,
                    "contact_change",
                    ("contact_change", self.change_id),
                    Some(self.account_id),
                    self.channel,
                    &self.address,
                    &self.code,
                )
            })?;
            outbox.publish(&conn);
            Ok(())
        })();
        if let Err(e) = sent {
            eprintln!("auth: a contact-change code was not sent: {e:?}");
        }
    }
}

/// `POST /auth/contact/change`, up to its answer. Whether the address is taken or free, the same
/// work is done before the 202 (password check, limits, one row); the code goes out after it
/// ([`PendingCode::send`]), so neither the answer nor its time tells the two apart.
pub fn change(req: &Request) -> Result<(Response, Option<PendingCode>), Problem> {
    let ctx = authenticate(req)?;
    let body: ChangeBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let (channel, address) = contact_point(body.email.as_deref(), body.phone.as_deref())?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    check_identity(&settings, &conn, &ctx, body.current_password.as_deref())?;
    let rows = query(
        &conn,
        "SELECT email, phone FROM auth.accounts WHERE id = $1",
        &[P::Uuid(ctx.user_id.to_string())],
    )?;
    let current: Option<String> = rows.value(0, channel.as_str())?;
    if current.as_deref() == Some(address.as_str()) {
        return Err(Problem::invalid_field(channel.as_str(), "is already yours"));
    }
    let account = ctx.user_id.to_string();
    count_hourly(
        &settings,
        &["contact", "codes", &account],
        CODES_PER_ACCOUNT_PER_HOUR_MAX,
    )?;
    let address_key = sha256_hex(&address);
    count_hourly(
        &settings,
        &["contact", "codes", "to", &address_key],
        CODES_PER_ADDRESS_PER_HOUR_MAX,
    )?;
    let id = new_id();
    let code = new_code().map_err(Problem::internal)?;
    let taken = account_with_address(&conn, channel, &address)?.is_some();
    conn.execute(
        "INSERT INTO auth.contact_changes (id, account_id, channel, address, taken, code_hash, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
        &[
            P::Uuid(id.to_string()),
            P::Uuid(ctx.user_id.to_string()),
            P::Str(channel.as_str().into()),
            P::Str(address.clone()),
            P::Boolean(taken),
            P::Str(code_hash(id, &code)),
            P::Floating64(CODE_TTL_SECS as f64),
        ],
    )?;
    let answer = json(
        202,
        &json!({ "change_id": id, "channel": channel, "expires_in": CODE_TTL_SECS }),
    );
    let pending = (!taken).then_some(PendingCode {
        settings,
        change_id: id,
        account_id: ctx.user_id,
        channel,
        address,
        code,
    });
    Ok((answer, pending))
}

/// The password (its failures count like logins), or for an account without one (made through an
/// identity provider) a sign-in within the step-up window.
fn check_identity(
    settings: &Settings,
    conn: &spin_sdk::pg4::Connection,
    ctx: &nexgate_authn::AuthContext,
    password: Option<&str>,
) -> Result<(), Problem> {
    if has_password(conn, ctx.user_id)? {
        let password = password.unwrap_or("");
        current_password_field("current_password", password)?;
        return verify_current_password(settings, conn, ctx.user_id, "current_password", password);
    }
    let now = nexgate_platform::time::now_unix().0;
    if now - ctx.auth_time > nexgate_authn::extractor::STEP_UP_MAX_AGE_SECS {
        return Err(Problem::new(
            403,
            "reauthentication_required",
            "Sign in again to change a contact point",
        )
        .with_detail(format!(
            "this account has no password: sign in with your provider again (within {} s)",
            nexgate_authn::extractor::STEP_UP_MAX_AGE_SECS
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    change_id: Uuid,
    code: String,
}

enum Outcome {
    Wrong(i32),
    Changed {
        old: Option<String>,
        channel: Channel,
        address: String,
    },
}

/// `POST /auth/contact/verify`.
pub fn verify(req: &Request, component: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let body: VerifyBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let code = body.code.trim().to_string();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid_field(
            "code",
            "must be the 6 digits we sent",
        ));
    }
    let settings = Settings::from_variables()?;
    count_hourly(
        &settings,
        &["contact", "guesses", &ctx.user_id.to_string()],
        GUESSES_PER_ACCOUNT_PER_HOUR_MAX,
    )?;
    let conn = open(&settings.db_url)?;
    let id = body.change_id;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let outcome = transaction(&conn, |conn| {
        check_code(conn, &settings, &mut outbox, (ctx.user_id, id), &code)
    })?;
    match outcome {
        Outcome::Wrong(left) => Err(Problem::new(422, "code_invalid", "The code is wrong")
            .with_detail(format!("{} attempts left", left.max(0)))
            .with_field("code", "is wrong")),
        Outcome::Changed {
            old,
            channel,
            address,
        } => {
            outbox.publish(&conn);
            Ok(json(
                200,
                &json!({ "channel": channel, "address": address, "replaced": old.is_some() }),
            ))
        }
    }
}

/// Inside the transaction: the change, locked; a wrong code counts an attempt, the right one
/// makes the change.
fn check_code(
    conn: &Connection,
    settings: &Settings,
    outbox: &mut Outbox,
    (user, id): (Uuid, Uuid),
    code: &str,
) -> Result<Outcome, Problem> {
    let rows = query(
        conn,
        "SELECT channel, address, taken, code_hash, attempts, completed_at IS NOT NULL AS completed, \
                expires_at <= now() AS expired \
         FROM auth.contact_changes WHERE id = $1 AND account_id = $2 FOR UPDATE",
        &[P::Uuid(id.to_string()), P::Uuid(user.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such contact change"));
    }
    if rows.value::<bool>(0, "completed")? {
        return Err(Problem::conflict(
            "contact_change_completed",
            "this change is already done",
        ));
    }
    let attempts: i32 = rows.value(0, "attempts")?;
    if rows.value::<bool>(0, "expired")? || attempts >= CODE_ATTEMPTS_MAX {
        return Err(Problem::new(
            410,
            "contact_change_expired",
            "The code has expired or was tried too often",
        )
        .with_detail("start again with POST /auth/contact/change"));
    }
    let address: String = rows.value(0, "address")?;
    count_hourly(
        settings,
        &["contact", "guesses", "to", &sha256_hex(&address)],
        GUESSES_PER_ADDRESS_PER_HOUR_MAX,
    )?;
    let stored: String = rows.value(0, "code_hash")?;
    let matches = !rows.value::<bool>(0, "taken")? && digests_equal(&stored, &code_hash(id, code));
    if !matches {
        conn.execute(
            "UPDATE auth.contact_changes SET attempts = attempts + 1 WHERE id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        return Ok(Outcome::Wrong(CODE_ATTEMPTS_MAX - attempts - 1));
    }
    let channel = if rows.value::<String>(0, "channel")? == "email" {
        Channel::Email
    } else {
        Channel::Phone
    };
    change_contact(conn, outbox, (user, id), channel, address)
}

/// The verified address replaces the old one; the change is done and announced (the notice
/// goes to the old address).
fn change_contact(
    conn: &Connection,
    outbox: &mut Outbox,
    (user, id): (Uuid, Uuid),
    channel: Channel,
    address: String,
) -> Result<Outcome, Problem> {
    let old_rows = query(
        conn,
        &format!(
            "SELECT {0} AS old FROM auth.accounts WHERE id = $1 FOR UPDATE",
            channel.as_str()
        ),
        &[P::Uuid(user.to_string())],
    )?;
    let old: Option<String> = old_rows.value(0, "old")?;
    conn.execute(
        &format!(
            "UPDATE auth.accounts SET {0} = $2, {0}_verified_at = now(), updated_at = now() WHERE id = $1",
            channel.as_str()
        ),
        &[P::Uuid(user.to_string()), P::Str(address.clone())],
    )
    .map_err(|e| match (sqlstate(&e), constraint(&e)) {
        (Some(UNIQUE_VIOLATION), Some("accounts_email_key" | "accounts_phone_key")) => {
            Problem::conflict("address_taken", "another account took this address meanwhile")
        }
        _ => Problem::internal(format!("changing the contact point: {e:?}")),
    })?;
    conn.execute(
        "UPDATE auth.contact_changes SET completed_at = now() WHERE id = $1",
        &[P::Uuid(id.to_string())],
    )?;
    outbox.record(
        conn,
        Some(user),
        ("account", user.to_string()),
        vec![user],
        &ContactChanged {
            channel: channel.as_str().to_string(),
            old_address: old.clone(),
            new_address: address.clone(),
            changed_at: nexgate_platform::time::now_rfc3339(),
        },
    )?;
    Ok(Outcome::Changed {
        old,
        channel,
        address,
    })
}
