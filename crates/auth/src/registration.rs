//! Registration, verified before the account exists (docs/auth.md, "Registration").
//!
//! `POST /auth/register` checks everything it can (fields, password policy, username free),
//! stores a pending registration with a hashed 6-digit code and answers 202. The code goes out
//! through `auth.verification_code.issued`; when the address already has an account, its owner
//! gets `auth.registration.address_in_use` instead and the answer is the same, so registration
//! reveals nothing. `POST /auth/register/verify` creates the account and the profile (through
//! `profiles.create_profile`) in one transaction and logs the new user in.

use nexgate_events::catalogue::auth::{
    AccountCreated, RegistrationAddressInUse, VerificationCodeIssued,
};
use nexgate_names::{display_name, username::Username};
use nexgate_platform::body::{parse_json, JSON_BODY_BYTES_MAX};
use nexgate_platform::db::{constraint, open, query, sqlstate, transaction, UNIQUE_VIOLATION};
use nexgate_platform::ids::new_id;
use nexgate_platform::Problem;
use serde::{Deserialize, Serialize};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P, PgError};
use uuid::Uuid;

use crate::device::{Device, DeviceInput};
use crate::events::SCHEMA;
use crate::http::{client_ip, content_type, json};
use crate::identifier::{contact_point, Channel};
use crate::password;
use crate::rate_limit::{self, Rule};
use crate::secrets::{code_hash, digests_equal, new_code};
use crate::session;
use crate::settings::Settings;
use nexgate_events::outbox::Outbox;

/// How long a code is valid.
pub const CODE_TTL_SECS: i64 = 10 * 60;
/// Wrong codes allowed per registration.
pub const CODE_ATTEMPTS_MAX: i32 = 5;
/// Codes sent per registration (the first and the resends).
pub const CODE_SENDS_MAX: i32 = 5;
/// Wait between sends.
pub const RESEND_COOLDOWN_SECS: i64 = 60;
/// Registrations per address per hour.
pub const REGISTRATIONS_PER_ADDRESS_PER_HOUR_MAX: i64 = 5;
/// Registrations per client IP per hour.
pub const REGISTRATIONS_PER_IP_PER_HOUR_MAX: i64 = 30;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: Option<String>,
    phone: Option<String>,
    password: String,
    username: String,
    display_name: String,
}

#[derive(Serialize)]
struct Pending {
    registration_id: Uuid,
    channel: Channel,
    expires_in: i64,
    resend_after: i64,
}

fn pending(id: Uuid, channel: Channel) -> Response {
    json(
        202,
        &Pending {
            registration_id: id,
            channel,
            expires_in: CODE_TTL_SECS,
            resend_after: RESEND_COOLDOWN_SECS,
        },
    )
}

/// `POST /auth/register`.
pub fn register(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: RegisterBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let (channel, address) = contact_point(body.email.as_deref(), body.phone.as_deref())?;
    password::check_policy(&body.password).map_err(|m| Problem::invalid_field("password", m))?;
    let username =
        Username::parse(&body.username).map_err(|m| Problem::invalid_field("username", m))?;
    let display = display_name::parse(&body.display_name)
        .map_err(|m| Problem::invalid_field("display_name", m))?;

    let settings = Settings::from_variables()?;
    limit_registrations(&settings, channel, &address, client_ip(req).as_deref())?;

    let conn = open(&settings.db_url)?;
    check_username_free(&conn, &username)?;
    // Hash before looking at the address, so both outcomes cost the same time.
    let password_hash = password::hash(&body.password).map_err(Problem::internal)?;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let id = new_id();
    transaction(&conn, |conn| -> Result<(), Problem> {
        let existing = account_with_address(conn, channel, &address)?;
        let code = new_code().map_err(Problem::internal)?;
        conn.execute(
            "INSERT INTO auth.registrations (id, channel, address, password_hash, username, display_name, \
                 existing_account_id, code_hash, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9))",
            &[
                P::Uuid(id.to_string()),
                P::Str(channel.as_str().into()),
                P::Str(address.clone()),
                P::Str(password_hash.clone()),
                P::Str(username.as_str().into()),
                P::Str(display.clone()),
                existing.map_or(P::DbNull, |a| P::Uuid(a.to_string())),
                P::Str(code_hash(id, &code)),
                P::Floating64(CODE_TTL_SECS as f64),
            ],
        )?;
        match existing {
            Some(owner) => notify_owner(conn, &mut outbox, owner, channel, &address),
            None => send_code(
                conn,
                &mut outbox,
                "registration",
                ("registration", id),
                None,
                channel,
                &address,
                &code,
            ),
        }
    })?;
    outbox.publish(&conn);
    Ok(pending(id, channel))
}

fn limit_registrations(
    settings: &Settings,
    channel: Channel,
    address: &str,
    ip: Option<&str>,
) -> Result<(), Problem> {
    let redis = settings.redis()?;
    let hour = Rule {
        limit: 0,
        window_ms: 3_600_000,
        lockout_base_ms: 3_600_000,
        lockout_max_ms: 3_600_000,
    };
    let mut keys = vec![(
        settings.redis_key(&[
            "register",
            channel.as_str(),
            &crate::secrets::sha256_hex(address),
        ]),
        REGISTRATIONS_PER_ADDRESS_PER_HOUR_MAX,
    )];
    if let Some(ip) = ip {
        keys.push((
            settings.redis_key(&["register", "ip", &crate::http::limit_bucket(ip)]),
            REGISTRATIONS_PER_IP_PER_HOUR_MAX,
        ));
    }
    for (key, limit) in keys {
        rate_limit::count_or_refuse(&redis, &key, Rule { limit, ..hour }, "registration")?;
    }
    Ok(())
}

/// 422 for an invalid or reserved username, 409 for a taken one (usernames are public).
fn check_username_free(conn: &Connection, username: &Username) -> Result<(), Problem> {
    let rows = query(
        conn,
        "SELECT profiles.username_problem($1) AS problem",
        &[P::Str(username.as_str().into())],
    )?;
    match rows
        .get::<Option<String>>(0, "problem")
        .map_err(Problem::internal)?
        .as_deref()
    {
        None => Ok(()),
        Some("taken") => Err(username_taken()),
        Some("reserved") => Err(Problem::invalid_field("username", "is reserved")),
        Some(_) => Err(Problem::invalid_field(
            "username",
            "is not a valid username",
        )),
    }
}

fn username_taken() -> Problem {
    Problem::conflict("username_taken", "the username is taken").with_field("username", "is taken")
}

pub(crate) fn account_with_address(
    conn: &Connection,
    channel: Channel,
    address: &str,
) -> Result<Option<Uuid>, Problem> {
    let sql = match channel {
        Channel::Email => "SELECT id FROM auth.accounts WHERE email = $1",
        Channel::Phone => "SELECT id FROM auth.accounts WHERE phone = $1",
    };
    let rows = query(conn, sql, &[P::Str(address.into())])?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.get::<Uuid>(0, "id").map_err(Problem::internal)?))
}

/// Sends a code in `auth.verification_code.issued` for `purpose` (`registration`,
/// `contact_change`) about `subject` (the registration or the contact change).
#[allow(clippy::too_many_arguments)]
pub(crate) fn send_code(
    conn: &Connection,
    outbox: &mut Outbox,
    purpose: &str,
    subject: (&str, Uuid),
    actor: Option<Uuid>,
    channel: Channel,
    address: &str,
    code: &str,
) -> Result<(), Problem> {
    let expires_at =
        nexgate_platform::time::rfc3339(nexgate_platform::time::now_unix().0 + CODE_TTL_SECS, 0);
    outbox.record(
        conn,
        actor,
        (subject.0, subject.1.to_string()),
        actor.into_iter().collect(),
        &VerificationCodeIssued {
            purpose: purpose.to_string(),
            channel: channel.as_str().to_string(),
            address: address.to_string(),
            code: code.to_string(),
            expires_at,
        },
    )
}

pub(crate) fn notify_owner(
    conn: &Connection,
    outbox: &mut Outbox,
    owner: Uuid,
    channel: Channel,
    address: &str,
) -> Result<(), Problem> {
    outbox.record(
        conn,
        None,
        ("account", owner.to_string()),
        vec![owner],
        &RegistrationAddressInUse {
            channel: channel.as_str().to_string(),
            address: address.to_string(),
            attempted_at: nexgate_platform::time::now_rfc3339(),
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResendBody {
    registration_id: Uuid,
}

/// A pending registration, locked for update.
struct PendingRow {
    channel: Channel,
    address: String,
    existing_account_id: Option<Uuid>,
    completed: bool,
    expired: bool,
    attempts: i32,
    sends: i32,
    secs_since_sent: i64,
    code_hash: String,
    password_hash: String,
    username: String,
    display_name: String,
}

fn lock_pending(conn: &Connection, id: Uuid) -> Result<PendingRow, Problem> {
    let rows = query(
        conn,
        "SELECT channel, address, existing_account_id, completed_at IS NOT NULL AS completed, \
                expires_at <= now() AS expired, attempts, sends, \
                floor(extract(epoch FROM now() - last_sent_at))::int8 AS secs_since_sent, \
                code_hash, password_hash, username, display_name \
         FROM auth.registrations WHERE id = $1 FOR UPDATE",
        &[P::Uuid(id.to_string())],
    )?;
    if rows.is_empty() {
        return Err(
            Problem::new(404, "registration_not_found", "No such registration")
                .with_detail("start again with POST /auth/register"),
        );
    }
    let e = Problem::internal;
    let channel = match rows.get::<String>(0, "channel").map_err(e)?.as_str() {
        "email" => Channel::Email,
        _ => Channel::Phone,
    };
    Ok(PendingRow {
        channel,
        address: rows.get(0, "address").map_err(e)?,
        existing_account_id: rows.get(0, "existing_account_id").map_err(e)?,
        completed: rows.get(0, "completed").map_err(e)?,
        expired: rows.get(0, "expired").map_err(e)?,
        attempts: rows.get(0, "attempts").map_err(e)?,
        sends: rows.get(0, "sends").map_err(e)?,
        secs_since_sent: rows.get(0, "secs_since_sent").map_err(e)?,
        code_hash: rows.get(0, "code_hash").map_err(e)?,
        password_hash: rows.get(0, "password_hash").map_err(e)?,
        username: rows.get(0, "username").map_err(e)?,
        display_name: rows.get(0, "display_name").map_err(e)?,
    })
}

fn usable(row: &PendingRow) -> Result<(), Problem> {
    if row.completed {
        return Err(Problem::conflict(
            "registration_completed",
            "this registration is already verified; log in",
        ));
    }
    if row.expired {
        return Err(
            Problem::new(410, "registration_expired", "The registration has expired")
                .with_detail("start again with POST /auth/register"),
        );
    }
    if row.attempts >= CODE_ATTEMPTS_MAX {
        return Err(Problem::new(
            410,
            "verification_attempts_exhausted",
            "Too many wrong codes",
        )
        .with_detail("start again with POST /auth/register"));
    }
    Ok(())
}

/// `POST /auth/register/resend`: a new code after the cooldown, at most [`CODE_SENDS_MAX`] sends.
pub fn resend(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: ResendBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let settings = Settings::from_variables()?;
    let conn = open(&settings.db_url)?;
    let id = body.registration_id;
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let channel = transaction(&conn, |conn| -> Result<Channel, Problem> {
        let row = lock_pending(conn, id)?;
        usable(&row)?;
        if row.secs_since_sent < RESEND_COOLDOWN_SECS {
            let wait = (RESEND_COOLDOWN_SECS - row.secs_since_sent).max(1) as u64;
            return Err(Problem::new(
                429,
                "resend_too_soon",
                "Wait before asking for another code",
            )
            .with_detail(format!("retry after {wait} s"))
            .with_retry_after(wait));
        }
        if row.sends >= CODE_SENDS_MAX {
            return Err(Problem::new(
                429,
                "resend_limit_reached",
                "No more codes for this registration",
            )
            .with_detail("start again with POST /auth/register"));
        }
        let code = new_code().map_err(Problem::internal)?;
        conn.execute(
            "UPDATE auth.registrations SET code_hash = $2, attempts = 0, sends = sends + 1, \
                 last_sent_at = now(), expires_at = now() + make_interval(secs => $3) WHERE id = $1",
            &[
                P::Uuid(id.to_string()),
                P::Str(code_hash(id, &code)),
                P::Floating64(CODE_TTL_SECS as f64),
            ],
        )?;
        // An address that already has an account never gets a code (its owner was told once).
        if row.existing_account_id.is_none() {
            send_code(
                conn,
                &mut outbox,
                "registration",
                ("registration", id),
                None,
                row.channel,
                &row.address,
                &code,
            )?;
        }
        Ok(row.channel)
    })?;
    outbox.publish(&conn);
    Ok(pending(id, channel))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    registration_id: Uuid,
    code: String,
    device: Option<DeviceInput>,
}

enum Verified {
    Wrong {
        attempts_left: i32,
    },
    Created {
        user_id: Uuid,
        started: session::Started,
    },
}

/// `POST /auth/register/verify`: the account and profile are created and the user logged in.
pub fn verify(req: &Request, component: &str) -> Result<Response, Problem> {
    let body: VerifyBody = parse_json(req.body(), content_type(req), JSON_BODY_BYTES_MAX)?;
    let code = body.code.trim().to_string();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::invalid_field(
            "code",
            "must be the 6 digits we sent",
        ));
    }
    let id = body.registration_id;
    let device = match body.device {
        Some(d) => Device::parse(d, "device")?,
        None => Device::unnamed(&id.to_string()),
    };
    let settings = Settings::from_variables()?;
    let signer = session::signer_from_variables()?;
    let conn = open(&settings.db_url)?;
    let ip = client_ip(req);
    let mut outbox = Outbox::new(SCHEMA, component)?;
    let outcome = transaction(&conn, |conn| -> Result<Verified, Problem> {
        let row = lock_pending(conn, id)?;
        usable(&row)?;
        let matches = row.existing_account_id.is_none()
            && digests_equal(&row.code_hash, &code_hash(id, &code));
        if !matches {
            conn.execute(
                "UPDATE auth.registrations SET attempts = attempts + 1 WHERE id = $1",
                &[P::Uuid(id.to_string())],
            )?;
            return Ok(Verified::Wrong {
                attempts_left: CODE_ATTEMPTS_MAX - row.attempts - 1,
            });
        }
        let user_id = new_id();
        create_account(conn, user_id, &row)?;
        conn.execute(
            "UPDATE auth.registrations SET completed_at = now() WHERE id = $1",
            &[P::Uuid(id.to_string())],
        )?;
        let started = session::start(conn, &settings, user_id, &device, ip.as_deref(), "pwd")?;
        outbox.record(
            conn,
            Some(user_id),
            ("account", user_id.to_string()),
            vec![user_id],
            &AccountCreated {
                user_id,
                channel: row.channel.as_str().to_string(),
                username: row.username,
            },
        )?;
        Ok(Verified::Created { user_id, started })
    })?;
    match outcome {
        Verified::Wrong { attempts_left } => {
            Err(Problem::new(422, "code_invalid", "The code is wrong")
                .with_detail(format!("{} attempts left", attempts_left.max(0)))
                .with_field("code", "is wrong"))
        }
        Verified::Created { user_id, started } => {
            session::mirror_live(&settings, started.session_id);
            outbox.publish(&conn);
            let auth_time = nexgate_platform::time::now_unix().0;
            Ok(json(
                201,
                &session::token_response(
                    &signer,
                    &settings,
                    session::Grant {
                        user_id,
                        session_id: started.session_id,
                        refresh_token: started.refresh_token,
                        amr: "pwd".into(),
                        auth_time,
                        roles: vec![],
                    },
                ),
            ))
        }
    }
}

/// Inserts the account and claims the username through the profile service's function.
fn create_account(conn: &Connection, user_id: Uuid, row: &PendingRow) -> Result<(), Problem> {
    let sql = match row.channel {
        Channel::Email => {
            "INSERT INTO auth.accounts (id, email, email_verified_at, password_hash, password_changed_at) \
             VALUES ($1, $2, now(), $3, now())"
        }
        Channel::Phone => {
            "INSERT INTO auth.accounts (id, phone, phone_verified_at, password_hash, password_changed_at) \
             VALUES ($1, $2, now(), $3, now())"
        }
    };
    conn.execute(
        sql,
        &[
            P::Uuid(user_id.to_string()),
            P::Str(row.address.clone()),
            P::Str(row.password_hash.clone()),
        ],
    )
    .map_err(|e| map_account_error(&e))?;
    conn.execute(
        "SELECT profiles.create_profile($1, $2, $3)",
        &[
            P::Uuid(user_id.to_string()),
            P::Str(row.username.clone()),
            P::Str(row.display_name.clone()),
        ],
    )
    .map_err(|e| map_profile_error(&e))?;
    Ok(())
}

fn map_account_error(e: &PgError) -> Problem {
    match (sqlstate(e), constraint(e)) {
        (Some(UNIQUE_VIOLATION), Some("accounts_email_key" | "accounts_phone_key")) => {
            Problem::conflict(
                "address_taken",
                "an account with this address was created meanwhile; log in or reset the password",
            )
        }
        _ => Problem::internal(format!("creating the account: {e:?}")),
    }
}

fn map_profile_error(e: &PgError) -> Problem {
    match constraint(e) {
        Some("profiles_username_key") => username_taken(),
        Some("profiles_username_reserved") => Problem::invalid_field("username", "is reserved"),
        Some("profiles_username_format") => {
            Problem::invalid_field("username", "is not a valid username")
        }
        Some("profiles_display_name_length") => {
            Problem::invalid_field("display_name", "must be 1 to 50 characters")
        }
        _ => Problem::internal(format!("creating the profile: {e:?}")),
    }
}
