//! Check-in by the app (docs/ticketing.md, "Check-in"): `POST /events/{id}/checkins {qr, nonce,
//! gate?}` by someone with a role on the event. The QR is verified with the published keys only
//! (this component holds no private key), [`crate::admission::decide`] gives the reason, and one
//! statement admits: a check-in row per ticket and day, so concurrent scanners of one ticket get
//! exactly one `ok`. The same `nonce` answers the first answer (the kit's idempotency, scoped to
//! the event and the scanner).

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::config::var;
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::parse_id;
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::admission::{decide, Day, Known, Reason};
use crate::devices::Device;
use crate::qr::TicketVerifier;
use nexgate_events::catalogue::events::TicketCheckedIn;
use nexgate_events::outbox::Outbox;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    /// The QR text (method `app`), or
    qr: Option<String>,
    /// the ticket's manual code, typed (method `manual`).
    code: Option<String>,
    nonce: String,
    gate: Option<String>,
}

/// Manual codes a scanner may try per minute on one event, and all scanners of an event together
/// (against guessing: 50-bit codes, docs/ticketing.md "Manual codes").
pub const CODES_PER_MINUTE_PER_SCANNER: i64 = 10;
pub const CODES_PER_MINUTE_PER_EVENT: i64 = 100;

/// What was presented at the door, once read: the claims, and (when the ticket was read from the
/// database with them) what the server holds about it.
enum Presented {
    Claims(crate::qr::TicketClaims, Option<Stored>),
    Refused(Reason),
}

/// A ticket as the door needs it, read in the same statement as its claims.
struct Stored {
    known: Known,
    days: Vec<Day>,
    /// Each day's date in the event's time zone, in day order.
    dates: Vec<String>,
    holder: Uuid,
}

/// The claims of a ticket and everything the door decides with (add the `WHERE`).
fn door_sql() -> String {
    crate::signing::CLAIMS_SQL
        .replacen(
            "SELECT ",
            "SELECT t.qr AS stored, t.state = 'revoked' AS revoked, e.status = 'cancelled' AS cancelled, t.holder_id,
                    (SELECT array_agg(d.day::int8 ORDER BY d.day) FROM events.event_days d WHERE d.event_id = t.event_id) AS day_numbers,
                    (SELECT array_agg(extract(epoch FROM d.starts_at)::int8 ORDER BY d.day) FROM events.event_days d WHERE d.event_id = t.event_id) AS day_starts,
                    (SELECT array_agg(extract(epoch FROM d.ends_at)::int8 ORDER BY d.day) FROM events.event_days d WHERE d.event_id = t.event_id) AS day_ends,
                    (SELECT array_agg(((d.starts_at AT TIME ZONE e.time_zone)::date)::text ORDER BY d.day) FROM events.event_days d WHERE d.event_id = t.event_id) AS day_dates, ",
            1,
        )
        .replacen(
            "FROM events.tickets t JOIN events.ticket_types tt ON tt.id = t.ticket_type_id",
            "FROM events.tickets t JOIN events.ticket_types tt ON tt.id = t.ticket_type_id JOIN events.events e ON e.id = t.event_id",
            1,
        )
}

/// Row 0 of [`door_sql`] as claims and what is stored.
fn door_row(rows: &nexgate_platform::db::Rows) -> Result<Presented, Problem> {
    let list = |c: &str| -> Result<Vec<i64>, Problem> {
        Ok(rows
            .value::<Option<Vec<Option<i64>>>>(0, c)?
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect())
    };
    let (numbers, starts, ends) = (list("day_numbers")?, list("day_starts")?, list("day_ends")?);
    let days = numbers
        .iter()
        .zip(starts.iter().zip(ends.iter()))
        .map(|(d, (s, e))| Day {
            day: *d as u8,
            starts_at: *s,
            ends_at: *e,
        })
        .collect();
    let stored = Stored {
        known: Known {
            revoked: rows.value(0, "revoked")?,
            event_cancelled: rows.value(0, "cancelled")?,
        },
        days,
        dates: rows
            .value::<Option<Vec<Option<String>>>>(0, "day_dates")?
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect(),
        holder: rows.value(0, "holder_id")?,
    };
    Ok(Presented::Claims(
        crate::signing::claims_of(rows, 0, 0)?,
        Some(stored),
    ))
}

/// Who scans: a person with a role on the event (the app), or a device registered to it.
enum Scanner {
    Person(Uuid),
    Device(Device),
}

impl Scanner {
    /// Whom the nonce and the guessing limits belong to.
    fn key(&self) -> String {
        match self {
            Scanner::Person(user) => format!("u:{user}"),
            Scanner::Device(d) => format!("d:{}", d.id),
        }
    }

    /// The method recorded: `app` or `manual` for a person, `scanner` or `manual` for a scanner
    /// machine, `kiosk` for a kiosk.
    fn method(&self, by_code: bool) -> &'static str {
        match self {
            Scanner::Device(d) if d.kiosk => "kiosk",
            _ if by_code => "manual",
            Scanner::Person(_) => "app",
            Scanner::Device(_) => "scanner",
        }
    }

    fn actor(&self) -> Option<Uuid> {
        match self {
            Scanner::Person(user) => Some(*user),
            Scanner::Device(_) => None,
        }
    }

    fn device(&self) -> Option<Uuid> {
        match self {
            Scanner::Device(d) => Some(d.id),
            Scanner::Person(_) => None,
        }
    }

    /// A device's own gate wins over the one a scan names.
    fn gate<'a>(&'a self, asked: Option<&'a str>) -> Option<&'a str> {
        match self {
            Scanner::Device(d) if d.gate.is_some() => d.gate.as_deref(),
            _ => asked,
        }
    }
}

/// The scanner a request comes from: `Authorization: Device <credential>` (crate::devices), or a
/// signed-in person with a role on the event (404 otherwise).
fn scanner(
    req: &Request,
    conn: &Connection,
    event: Uuid,
    check_role: bool,
) -> Result<Scanner, Problem> {
    if let Some(credential) = crate::devices::presented(req) {
        return Ok(Scanner::Device(crate::devices::authenticate_device(
            conn,
            event,
            &credential,
        )?));
    }
    let ctx = authenticate(req)?;
    if check_role {
        require_role(conn, event, ctx.user_id)?;
    }
    Ok(Scanner::Person(ctx.user_id))
}

/// 404 unless `user` has a role on `event`.
fn require_role(conn: &Connection, event: Uuid, user: Uuid) -> Result<(), Problem> {
    crate::roles::require(conn, event, user, &[])
        .map(|_| ())
        .map_err(|p| if p.status == 404 { no_role() } else { p })
}

fn no_role() -> Problem {
    Problem::not_found("no such event of yours to check in")
}

fn check_nonce(nonce: &str, field: &str) -> Result<(), Problem> {
    if nonce.is_empty() || nonce.len() > 100 {
        return Err(Problem::invalid_field(field, "must be 1 to 100 characters"));
    }
    Ok(())
}

/// `POST /events/{id}/checkins`: 200 `{result, ticket_id?, day?, checked_in_at?, gate?}`.
pub fn scan(req: &Request, event: &str, component: &'static str) -> Result<Response, Problem> {
    let event = parse_id("id", event)?;
    let s: Scan = json_body(req)?;
    check_nonce(&s.nonce, "nonce")?;
    let conn = db()?;
    // A person scanning a QR has their role checked in the same statement that reads the ticket
    // (one round trip less); every other path checks it first.
    let role_with_ticket =
        s.qr.is_some() && s.code.is_none() && crate::devices::presented(req).is_none();
    let scanner = scanner(req, &conn, event, !role_with_ticket)?;
    let (presented, by_code) = read(&conn, event, &scanner, &s, role_with_ticket)?;
    let mut outbox = Outbox::new(crate::SCHEMA, component)?;
    let scan = Scanned {
        event,
        scanner: &scanner,
        gate: scanner.gate(s.gate.as_deref()),
        method: scanner.method(by_code),
        offline_at: None,
    };
    let answer = transaction(&conn, |conn| {
        once_per_nonce(conn, &scan, &s.nonce, req.body(), |conn| {
            admit(conn, &mut outbox, &scan, &presented)
        })
    })?;
    // Not published from here: opening an MQTT connection per admission halved the admissions a
    // second and tripled p99 (bench/README.md). The committed outbox row reaches the bus through
    // the relay (about 5 s later with its defaults), which is soon enough for a confirmation.
    drop(outbox);
    Ok(json(200, &answer))
}

/// Scans one upload may carry.
pub const OFFLINE_SCANS_PER_UPLOAD_MAX: usize = 500;

/// How old an offline scan may be when uploaded.
pub const OFFLINE_SCAN_AGE_MAX_SECS: i64 = 7 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    scans: Vec<OfflineScan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfflineScan {
    /// The QR the scanner verified offline with the published keys.
    qr: String,
    nonce: String,
    gate: Option<String>,
    /// When the scanner admitted it (RFC 3339).
    scanned_at: String,
}

/// `POST /events/{id}/checkins/offline {scans: [{qr, nonce, gate?, scanned_at}]}` (a person with a
/// role on the event or a scanner machine; a kiosk scans online only): applies the scans in scan
/// time order, each as it would have been at its scan time, each once per nonce; 200 `{results:
/// [{nonce, result, ticket_id, day?, checked_in_at?, gate?, conflict?}]}` in that order. A ticket
/// already admitted that day elsewhere is `already_checked_in` with `conflict: true`.
pub fn upload(req: &Request, event: &str, component: &'static str) -> Result<Response, Problem> {
    let event = parse_id("id", event)?;
    let b: Upload = json_body(req)?;
    if b.scans.is_empty() || b.scans.len() > OFFLINE_SCANS_PER_UPLOAD_MAX {
        return Err(Problem::invalid_field(
            "scans",
            format!("give 1 to {OFFLINE_SCANS_PER_UPLOAD_MAX} scans"),
        ));
    }
    let now = nexgate_platform::time::now_unix().0;
    let mut order: Vec<(i64, usize)> = Vec::with_capacity(b.scans.len());
    for (i, scan) in b.scans.iter().enumerate() {
        check_nonce(&scan.nonce, &format!("scans[{i}].nonce"))?;
        let field = format!("scans[{i}].scanned_at");
        let at = crate::checks::instant(&field, &scan.scanned_at)?;
        if at > now + 300 || at < now - OFFLINE_SCAN_AGE_MAX_SECS {
            return Err(Problem::invalid_field(
                field,
                "must be within the last 7 days and not in the future",
            ));
        }
        if scan.qr.len() > 1000 {
            return Err(Problem::invalid_field(
                format!("scans[{i}].qr"),
                "is longer than any ticket",
            ));
        }
        order.push((at, i));
    }
    order.sort();
    let conn = db()?;
    let scanner = scanner(req, &conn, event, true)?;
    if matches!(&scanner, Scanner::Device(d) if d.kiosk) {
        return Err(Problem::forbidden("a kiosk checks tickets in online only"));
    }
    let verifier =
        TicketVerifier::from_jwks(&var("ticket_public_keys").map_err(Problem::internal)?)
            .map_err(|e| Problem::internal(format!("ticket_public_keys: {e}")))?;
    let mut outbox = Outbox::new(crate::SCHEMA, component)?;
    let mut results = Vec::with_capacity(order.len());
    for (at, i) in order {
        let s = &b.scans[i];
        let presented = verifier
            .verify(&s.qr)
            .map_or(Presented::Refused(Reason::Invalid), |c| {
                Presented::Claims(c, None)
            });
        let scan = Scanned {
            event,
            scanner: &scanner,
            gate: scanner.gate(s.gate.as_deref()),
            method: scanner.method(false),
            offline_at: Some(at),
        };
        let mut answer = transaction(&conn, |conn| {
            once_per_nonce(conn, &scan, &s.nonce, s.qr.as_bytes(), |conn| {
                admit(conn, &mut outbox, &scan, &presented)
            })
        })?;
        answer["nonce"] = json!(s.nonce);
        results.push(answer);
    }
    drop(outbox);
    Ok(json(200, &json!({ "results": results })))
}

/// Runs `work` once per scanner and nonce (the kit's idempotency, scoped to the event and the
/// scanner): a retried scan answers the first answer.
fn once_per_nonce(
    conn: &Connection,
    scan: &Scanned<'_>,
    nonce: &str,
    presented: &[u8],
    work: impl FnOnce(&Connection) -> Result<Value, Problem>,
) -> Result<Value, Problem> {
    let scope = format!("checkin:{}:{}", scan.event, scan.scanner.key());
    let keyed = idempotency::Keyed {
        schema: crate::SCHEMA,
        scope: &scope,
        key: nonce,
        request_hash: &idempotency::fingerprint("POST", "checkin", presented),
    };
    let once = idempotency::once(conn, keyed, |conn| {
        let answer = work(conn)?;
        Ok((StoredResponse::json(200, &answer)?, answer))
    })?;
    Ok(match once {
        Once::Ran(answer) => answer,
        Once::Replayed(stored) => serde_json::from_slice(&stored.body).unwrap_or(Value::Null),
    })
}

/// The presented ticket read: a QR verified with the published keys (`app`), or a manual code
/// looked up after the guessing limits (`manual`).
fn read(
    conn: &Connection,
    event: Uuid,
    scanner: &Scanner,
    s: &Scan,
    role_unchecked: bool,
) -> Result<(Presented, bool), Problem> {
    let person = match scanner {
        Scanner::Person(user) if role_unchecked => Some(*user),
        _ => None,
    };
    match (&s.qr, &s.code) {
        (Some(qr), None) => {
            if qr.len() > 1000 {
                return Err(Problem::invalid_field("qr", "is longer than any ticket"));
            }
            if let Some((presented, has_role)) = stored_match(conn, event, qr, person)? {
                if !has_role {
                    return Err(no_role());
                }
                return Ok((presented, false));
            }
            if let Some(user) = person {
                require_role(conn, event, user)?;
            }
            let verifier =
                TicketVerifier::from_jwks(&var("ticket_public_keys").map_err(Problem::internal)?)
                    .map_err(|e| Problem::internal(format!("ticket_public_keys: {e}")))?;
            let presented = verifier
                .verify(qr)
                .map_or(Presented::Refused(Reason::Invalid), |c| {
                    Presented::Claims(c, None)
                });
            Ok((presented, false))
        }
        (None, Some(code)) => {
            let code = crate::codes::normalize(code).ok_or_else(|| {
                Problem::invalid_field(
                    "code",
                    "must be 10 characters of the ticket's code (XXXXX-XXXXX)",
                )
            })?;
            limit_guessing(event, &scanner.key())?;
            let rows = query(
                conn,
                &format!(
                    "{} WHERE t.event_id = $1 AND t.code = $2 AND t.state IN ('valid', 'revoked')",
                    door_sql()
                ),
                &[P::Uuid(event.to_string()), P::Str(code)],
            )?;
            if rows.is_empty() {
                return Ok((Presented::Refused(Reason::Unknown), true));
            }
            Ok((door_row(&rows)?, true))
        }
        _ => Err(Problem::invalid_field("qr", "give either qr or code")),
    }
}

/// Online, a QR that is exactly the one stored for its ticket (compared in constant time) is that
/// ticket: its claims come from the database and no RSA verification is needed. Anything else
/// (unknown ids, a stale QR of a re-signed ticket, a forgery) goes to the signature check.
fn stored_match(
    conn: &Connection,
    event: Uuid,
    qr: &str,
    person: Option<Uuid>,
) -> Result<Option<(Presented, bool)>, Problem> {
    let Some(ticket) = crate::qr::claimed_ticket(qr) else {
        return Ok(None);
    };
    let rows = query(
        conn,
        &format!(
            "{} WHERE t.id = $1 AND t.event_id = $2 AND t.state IN ('valid', 'revoked') AND t.qr IS NOT NULL",
            door_sql().replacen(
                "SELECT ",
                "SELECT ($3::text IS NULL OR EXISTS (SELECT 1 FROM events.event_roles r
                         WHERE r.event_id = $2 AND r.user_id = $3::text::uuid)) AS has_role, ",
                1
            )
        ),
        &[
            P::Uuid(ticket.to_string()),
            P::Uuid(event.to_string()),
            person.map(|p| P::Str(p.to_string())).unwrap_or(P::DbNull),
        ],
    )?;
    if rows.is_empty() || !crate::qr::same_text(&rows.value::<String>(0, "stored")?, qr) {
        return Ok(None);
    }
    Ok(Some((door_row(&rows)?, rows.value(0, "has_role")?)))
}

/// Counts a manual code attempt per scanner and per event (Redis; 429 with `Retry-After` past it).
fn limit_guessing(event: Uuid, scanner: &str) -> Result<(), Problem> {
    use nexgate_platform::rate_limit::count_in_window;
    let (e, a) = (event.to_string(), scanner.to_string());
    count_in_window(
        &["events", "codes", &e, &a],
        CODES_PER_MINUTE_PER_SCANNER,
        60,
        "manual codes",
    )?;
    count_in_window(
        &["events", "codes", &e],
        CODES_PER_MINUTE_PER_EVENT,
        60,
        "manual codes",
    )
}

/// Where, how and by whom a ticket was presented; `offline_at` is the scan time of a scan made
/// offline and uploaded later (Unix seconds).
struct Scanned<'a> {
    event: Uuid,
    scanner: &'a Scanner,
    gate: Option<&'a str>,
    method: &'static str,
    offline_at: Option<i64>,
}

/// The answer to one scan, the check-in written when it is `ok`. The door checks use the scan
/// time; an offline scan of a ticket already admitted that day somewhere else is flagged as a
/// conflict (`conflict: true`, recorded in `events.checkin_conflicts`).
fn admit(
    conn: &Connection,
    outbox: &mut Outbox,
    scan: &Scanned<'_>,
    presented: &Presented,
) -> Result<Value, Problem> {
    let (claims, stored) = match presented {
        Presented::Claims(c, stored) => (Some(c), stored.as_ref()),
        Presented::Refused(r) => return Ok(json!({ "result": r.code(), "ticket_id": null })),
    };
    let refuse =
        |r: Reason, ticket: Option<Uuid>| json!({ "result": r.code(), "ticket_id": ticket });
    let ticket = claims.map(|c| c.ticket_id);
    let (known, days) = match (stored, ticket) {
        (Some(s), _) => (Some(s.known), s.days.clone()),
        (None, Some(t)) => (known(conn, scan.event, t)?, days(conn, scan.event)?),
        (None, None) => (None, days(conn, scan.event)?),
    };
    let at = scan
        .offline_at
        .unwrap_or_else(|| nexgate_platform::time::now_unix().0);
    let day = match decide(claims, scan.event, known, &days, at) {
        Ok(day) => day,
        Err(r) => return Ok(refuse(r, ticket)),
    };
    let ticket = ticket.unwrap_or_default();
    let gate = scan.gate.map(|g| g.chars().take(40).collect::<String>());
    let opt = |v: Option<Uuid>| v.map(|u| P::Uuid(u.to_string())).unwrap_or(P::DbNull);
    // One statement admits or finds the admission that stands (a conflicting row committed before
    // this statement began is in its snapshot).
    let mut first = query(
        conn,
        &format!(
            "WITH admitted AS (
                 INSERT INTO events.checkins (ticket_id, day, method, actor_id, device_id, gate, scanned_at)
                 VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::int8::float8))
                 ON CONFLICT (ticket_id, day) DO NOTHING RETURNING at, gate, device_id)
             SELECT true AS new, {}, gate, device_id FROM admitted
             UNION ALL
             SELECT false, {}, gate, device_id FROM events.checkins
             WHERE ticket_id = $1 AND day = $2 AND NOT EXISTS (SELECT 1 FROM admitted)",
            ts("at"),
            ts("at")
        ),
        &[
            P::Uuid(ticket.to_string()),
            P::Int16(day as i16),
            P::Str(scan.method.into()),
            opt(scan.scanner.actor()),
            opt(scan.scanner.device()),
            gate.clone().map(P::Str).unwrap_or(P::DbNull),
            P::Int64(at),
        ],
    )?;
    if first.is_empty() {
        // The admission that won was committed after this statement's snapshot (a concurrent
        // scan): a new statement sees it.
        first = query(
            conn,
            &format!(
                "SELECT false AS new, {}, gate, device_id FROM events.checkins WHERE ticket_id = $1 AND day = $2",
                ts("at")
            ),
            &[P::Uuid(ticket.to_string()), P::Int16(day as i16)],
        )?;
    }
    let first_gate: Option<String> = first.value(0, "gate")?;
    let mut answer = json!({
        "ticket_id": ticket,
        "day": day,
        "checked_in_at": first.value::<Option<String>>(0, "at")?,
        "gate": first_gate,
    });
    if first.value::<bool>(0, "new")? {
        announce(conn, outbox, (scan.event, ticket, day), scan, stored)?;
        answer["result"] = json!(Reason::Ok.code());
        return Ok(answer);
    }
    answer["result"] = json!(Reason::AlreadyCheckedIn.code());
    let first_device: Option<Uuid> = first.value(0, "device_id")?;
    if scan.offline_at.is_some() && (first_device != scan.scanner.device() || first_gate != gate) {
        conn.execute(
            "INSERT INTO events.checkin_conflicts (id, event_id, ticket_id, day, first_gate, first_device_id,
                                                   second_gate, second_device_id, second_scanned_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, to_timestamp($9::int8::float8))",
            &[
                P::Uuid(nexgate_platform::ids::new_id().to_string()),
                P::Uuid(scan.event.to_string()),
                P::Uuid(ticket.to_string()),
                P::Int16(day as i16),
                first_gate.map(P::Str).unwrap_or(P::DbNull),
                opt(first_device),
                gate.map(P::Str).unwrap_or(P::DbNull),
                opt(scan.scanner.device()),
                P::Int64(at),
            ],
        )?;
        answer["conflict"] = json!(true);
    }
    Ok(answer)
}

/// What the server holds about a ticket of `event` (`None`: no such ticket there).
fn known(conn: &Connection, event: Uuid, ticket: Uuid) -> Result<Option<Known>, Problem> {
    let rows = query(
        conn,
        "SELECT t.state = 'revoked' AS revoked, e.status = 'cancelled' AS cancelled
         FROM events.tickets t JOIN events.events e ON e.id = t.event_id
         WHERE t.id = $1 AND t.event_id = $2 AND t.state IN ('valid', 'revoked')",
        &[P::Uuid(ticket.to_string()), P::Uuid(event.to_string())],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Known {
        revoked: rows.value(0, "revoked")?,
        event_cancelled: rows.value(0, "cancelled")?,
    }))
}

fn days(conn: &Connection, event: Uuid) -> Result<Vec<Day>, Problem> {
    let rows = query(
        conn,
        "SELECT day, extract(epoch FROM starts_at)::bigint AS s, extract(epoch FROM ends_at)::bigint AS e
         FROM events.event_days WHERE event_id = $1 ORDER BY day",
        &[P::Uuid(event.to_string())],
    )?;
    (0..rows.len())
        .map(|i| {
            Ok(Day {
                day: rows.value::<i16>(i, "day")? as u8,
                starts_at: rows.value(i, "s")?,
                ends_at: rows.value(i, "e")?,
            })
        })
        .collect()
}

/// `events.ticket.checked_in` for an admission (the holder's confirmation), with the day's date
/// in the event's time zone when the event has several days.
fn announce(
    conn: &Connection,
    outbox: &mut Outbox,
    (event, ticket, day): (Uuid, Uuid, u8),
    scan: &Scanned<'_>,
    stored: Option<&Stored>,
) -> Result<(), Problem> {
    if let Some(s) = stored {
        let date = (s.dates.len() > 1)
            .then(|| s.dates.get(usize::from(day).saturating_sub(1)).cloned())
            .flatten();
        return record_checked_in(outbox, conn, (event, ticket, s.holder), date, scan);
    }
    let rows = query(
        conn,
        "SELECT t.holder_id, (SELECT count(*) FROM events.event_days d WHERE d.event_id = t.event_id) > 1 AS multi,
                (SELECT ((d.starts_at AT TIME ZONE e.time_zone)::date)::text FROM events.event_days d
                 WHERE d.event_id = t.event_id AND d.day = $2) AS date
         FROM events.tickets t JOIN events.events e ON e.id = t.event_id WHERE t.id = $1",
        &[P::Uuid(ticket.to_string()), P::Int16(day as i16)],
    )?;
    let holder: Uuid = rows.value(0, "holder_id")?;
    let date: Option<String> = rows.value(0, "date")?;
    let date = if rows.value::<bool>(0, "multi")? {
        date
    } else {
        None
    };
    record_checked_in(outbox, conn, (event, ticket, holder), date, scan)
}

/// The `events.ticket.checked_in` row, in the admitting transaction.
fn record_checked_in(
    outbox: &mut Outbox,
    conn: &Connection,
    (event, ticket, holder): (Uuid, Uuid, Uuid),
    day: Option<String>,
    scan: &Scanned<'_>,
) -> Result<(), Problem> {
    outbox.record(
        conn,
        scan.scanner.actor(),
        ("ticket", ticket.to_string()),
        vec![holder],
        &TicketCheckedIn {
            ticket_id: ticket,
            event_id: event,
            holder_id: holder,
            method: scan.method.into(),
            day,
        },
    )
}
