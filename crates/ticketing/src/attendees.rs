//! Attendees (docs/ticketing.md, "Attendees"): `GET /events/{id}/attendees` lists the event's
//! tickets (valid and revoked) with who holds them and which days they were checked in, searched
//! by name or code and filtered by type and check-in state, with check-in counts per day; `GET
//! /events/{id}/attendees.csv` streams the same as CSV. Owners and managers see personal data
//! (holder, code); a checker sees the name and the ticket's state only; anyone else gets 404.

use futures::SinkExt;
use nexgate_authn::authenticate;
use nexgate_platform::body::{json_response as json, query_param, query_string, query_text};
use nexgate_platform::db::{open_from_variables as db, query, ts, Rows};
use nexgate_platform::ids::parse_id;
use nexgate_platform::pagination::{encode_cursor, page_request, CursorTime};
use nexgate_platform::Problem;
use serde_json::{json, Value};
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

/// Rows fetched per page of the CSV download.
const CSV_PAGE: i64 = 1000;

/// What the asker may see.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sight {
    /// Owner or manager: everything.
    Full,
    /// Checker: name and state.
    Door,
}

/// The asker's sight on `event` (404 without a role).
fn sight(conn: &Connection, event: Uuid, user: Uuid) -> Result<Sight, Problem> {
    Ok(
        match crate::roles::require(conn, event, user, &[])?.as_str() {
            "checker" => Sight::Door,
            _ => Sight::Full,
        },
    )
}

/// The list's filters, read from the query string.
struct Filters {
    /// `%q%` for names, and the code `q` spells when it is one.
    pattern: Option<(String, Option<String>)>,
    ticket_type: Option<Uuid>,
    checked_in: Option<bool>,
}

fn filters(qs: &str) -> Result<Filters, Problem> {
    let q = query_text(qs, "q");
    let pattern = match q.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) if q.chars().count() > 80 => {
            return Err(Problem::invalid_field("q", "must be at most 80 characters"))
        }
        Some(q) => {
            let escaped = q
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            Some((format!("%{escaped}%"), crate::codes::normalize(q)))
        }
    };
    let ticket_type = query_param(qs, "ticket_type_id")
        .map(|t| parse_id("ticket_type_id", t))
        .transpose()?;
    let checked_in = match query_param(qs, "checked_in") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(Problem::invalid_field(
                "checked_in",
                "must be true or false",
            ))
        }
    };
    Ok(Filters {
        pattern,
        ticket_type,
        checked_in,
    })
}

/// One page of the event's tickets after `after`, filtered.
fn page(
    conn: &Connection,
    event: Uuid,
    f: &Filters,
    after: Option<(String, Uuid)>,
    limit: i64,
) -> Result<Rows, Problem> {
    let (pattern, code) = match &f.pattern {
        Some((p, c)) => (
            P::Str(p.clone()),
            c.clone().map(P::Str).unwrap_or(P::DbNull),
        ),
        None => (P::DbNull, P::DbNull),
    };
    let (after_at, after_id) = match after {
        Some((at, id)) => (P::Str(at), P::Uuid(id.to_string())),
        None => (P::DbNull, P::DbNull),
    };
    Ok(query(
        conn,
        &format!(
            "SELECT t.id, t.code, t.state, t.holder_id, t.ticket_type_id, tt.name AS type_name, pc.username,
                    coalesce(t.attendee_name, pc.display_name, pc.username, '') AS name, {},
                    (SELECT array_agg(c.day ORDER BY c.day)::int4[] FROM events.checkins c WHERE c.ticket_id = t.id) AS days_in
             FROM events.tickets t JOIN events.ticket_types tt ON tt.id = t.ticket_type_id
             LEFT JOIN profiles.public_cards pc ON pc.user_id = t.holder_id
             WHERE t.event_id = $1 AND t.state IN ('valid', 'revoked')
               AND ($2::text IS NULL OR t.attendee_name ILIKE $2 OR pc.display_name ILIKE $2
                    OR pc.username ILIKE $2 OR t.code = $3::text)
               AND ($4::text IS NULL OR t.ticket_type_id = $4::text::uuid)
               AND ($5::bool IS NULL OR EXISTS (SELECT 1 FROM events.checkins c WHERE c.ticket_id = t.id) = $5::bool)
               AND ($6::text IS NULL OR (t.issued_at, t.id) > ($6::text::timestamptz, $7::uuid))
             ORDER BY t.issued_at, t.id LIMIT $8",
            ts("t.issued_at")
        ),
        &[
            P::Uuid(event.to_string()),
            pattern,
            code,
            f.ticket_type
                .map(|t| P::Str(t.to_string()))
                .unwrap_or(P::DbNull),
            f.checked_in.map(P::Boolean).unwrap_or(P::DbNull),
            after_at,
            after_id,
            P::Int64(limit),
        ],
    )?)
}

/// Row `i` as the asker may see it.
fn item(rows: &Rows, i: usize, sight: Sight) -> Result<Value, Problem> {
    let days: Option<Vec<Option<i32>>> = rows.value(i, "days_in")?;
    let days: Vec<i32> = days.unwrap_or_default().into_iter().flatten().collect();
    let mut v = json!({
        "ticket_id": rows.value::<Uuid>(i, "id")?,
        "name": rows.value::<String>(i, "name")?,
        "ticket_type": {"id": rows.value::<Uuid>(i, "ticket_type_id")?, "name": rows.value::<String>(i, "type_name")?},
        "state": rows.value::<String>(i, "state")?,
        "checked_in_days": days,
    });
    if sight == Sight::Full {
        v["holder"] = json!({
            "id": rows.value::<Uuid>(i, "holder_id")?,
            "username": rows.value::<Option<String>>(i, "username")?,
        });
        v["code"] = json!(crate::codes::display(&rows.value::<String>(i, "code")?));
        v["issued_at"] = json!(rows.value::<String>(i, "issued_at")?);
    }
    Ok(v)
}

/// `GET /events/{id}/attendees?q=&ticket_type_id=&checked_in=&cursor=&limit=`: `{items,
/// next_cursor, counts: {tickets, checked_in_per_day: [{day, checked_in}]}}`.
pub fn list(req: &Request, event: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let qs = query_string(req);
    let p = page_request::<(CursorTime, Uuid)>(qs, 50, 200)?;
    let f = filters(qs)?;
    let conn = db()?;
    let sight = sight(&conn, event, ctx.user_id)?;
    let after = p.after.map(|(at, id)| (at.as_str().to_string(), id));
    let rows = page(&conn, event, &f, after, i64::from(p.limit))?;
    let items = (0..rows.len())
        .map(|i| item(&rows, i, sight))
        .collect::<Result<Vec<Value>, Problem>>()?;
    let next = if rows.len() == p.limit as usize {
        let last = rows.len() - 1;
        Some(encode_cursor(&(
            rows.value::<String>(last, "issued_at")?,
            rows.value::<Uuid>(last, "id")?,
        )))
    } else {
        None
    };
    Ok(json(
        200,
        &json!({ "items": items, "next_cursor": next, "counts": counts(&conn, event)? }),
    ))
}

/// Valid tickets, and check-ins per day.
fn counts(conn: &Connection, event: Uuid) -> Result<Value, Problem> {
    let tickets = query(
        conn,
        "SELECT count(*)::int8 AS n FROM events.tickets WHERE event_id = $1 AND state = 'valid'",
        &[P::Uuid(event.to_string())],
    )?;
    let days = query(
        conn,
        "SELECT d.day, count(c.ticket_id)::int8 AS n FROM events.event_days d
         LEFT JOIN events.checkins c ON c.day = d.day
              AND c.ticket_id IN (SELECT id FROM events.tickets WHERE event_id = $1)
         WHERE d.event_id = $1 GROUP BY d.day ORDER BY d.day",
        &[P::Uuid(event.to_string())],
    )?;
    let per_day = (0..days.len())
        .map(|i| Ok(json!({"day": days.value::<i16>(i, "day")?, "checked_in": days.value::<i64>(i, "n")?})))
        .collect::<Result<Vec<Value>, Problem>>()?;
    Ok(json!({ "tickets": tickets.value::<i64>(0, "n")?, "checked_in_per_day": per_day }))
}

/// The CSV's header line.
const CSV_HEADER: &str =
    "ticket_id,code,ticket_type,name,holder_username,state,issued_at,checked_in_days\r\n";

/// Checks `GET /events/{id}/attendees.csv` may be answered (owner or manager) before anything is
/// sent: the connection and the event.
pub fn csv_allowed(req: &Request, event: &str) -> Result<(Connection, Uuid), Problem> {
    let ctx = authenticate(req)?;
    let event = parse_id("id", event)?;
    let conn = db()?;
    if sight(&conn, event, ctx.user_id)? != Sight::Full {
        return Err(Problem::not_found("no such event of yours"));
    }
    Ok((conn, event))
}

/// Streams every attendee of `event` as CSV into `out`, a page of rows per chunk (RFC 4180, every
/// cell quoted, cells that a spreadsheet would run as a formula neutralised).
pub async fn stream_csv(conn: Connection, event: Uuid, out: spin_sdk::http::ResponseOutparam) {
    let headers = spin_sdk::http::Headers::from_list(&[
        ("content-type".into(), b"text/csv; charset=utf-8".to_vec()),
        (
            "content-disposition".into(),
            format!("attachment; filename=\"attendees-{event}.csv\"").into_bytes(),
        ),
        ("cache-control".into(), b"no-store".to_vec()),
    ])
    .expect("static headers");
    let head = spin_sdk::http::OutgoingResponse::new(headers);
    let mut body = head.take_body();
    out.set(head);
    if body.send(CSV_HEADER.as_bytes().to_vec()).await.is_err() {
        return;
    }
    let all = Filters {
        pattern: None,
        ticket_type: None,
        checked_in: None,
    };
    let mut after: Option<(String, Uuid)> = None;
    loop {
        let rows = match page(&conn, event, &all, after.clone(), CSV_PAGE) {
            Ok(rows) => rows,
            Err(p) => {
                eprintln!("events: attendees CSV stopped: {}", p.to_json());
                return;
            }
        };
        let mut chunk = String::new();
        for i in 0..rows.len() {
            match csv_line(&rows, i) {
                Ok(line) => chunk.push_str(&line),
                Err(p) => return eprintln!("events: attendees CSV row: {}", p.to_json()),
            }
        }
        if !chunk.is_empty() && body.send(chunk.into_bytes()).await.is_err() {
            return;
        }
        if rows.len() < CSV_PAGE as usize {
            return;
        }
        let last = rows.len() - 1;
        after = match (
            rows.value::<String>(last, "issued_at"),
            rows.value::<Uuid>(last, "id"),
        ) {
            (Ok(at), Ok(id)) => Some((at, id)),
            _ => return,
        };
    }
}

fn csv_line(rows: &Rows, i: usize) -> Result<String, Problem> {
    let days: Option<Vec<Option<i32>>> = rows.value(i, "days_in")?;
    let days: Vec<String> = days
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|d| d.to_string())
        .collect();
    let cells = [
        rows.value::<Uuid>(i, "id")?.to_string(),
        crate::codes::display(&rows.value::<String>(i, "code")?),
        rows.value::<String>(i, "type_name")?,
        rows.value::<String>(i, "name")?,
        rows.value::<Option<String>>(i, "username")?
            .unwrap_or_default(),
        rows.value::<String>(i, "state")?,
        rows.value::<String>(i, "issued_at")?,
        days.join(" "),
    ];
    let quoted: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
    Ok(format!("{}\r\n", quoted.join(",")))
}

/// One quoted CSV cell; text a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab,
/// carriage return first) is prefixed with `'` (OWASP's CSV injection advice).
pub fn csv_cell(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text = if risky {
        format!("'{text}")
    } else {
        text.to_string()
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        assert_eq!(csv_cell("Amina"), "\"Amina\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for risky in ["+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(risky).starts_with("\"'"), "{risky}");
        }
        assert_eq!(csv_cell("a,b\nc"), "\"a,b\nc\"");
    }
}
