//! Buying tickets (docs/ticketing.md, "Buying and issuing"). `POST /events/{id}/orders {items:
//! [{ticket_type_id, quantity, attendees?}]}` with an `Idempotency-Key`: every seat is taken by one
//! conditional statement per ticket type, one for its quota and one for the event's capacity, in
//! one transaction, so nothing is ever oversold. Free tickets are issued in that transaction and
//! signed by `events-signing` right after it; paid ones are held for [`HOLD_SECS`], each with a
//! payable (crate::payables) the buyer pays with one prompt, and issued when payments says so
//! (crate::inbox); `GET /events/orders/{id}` shows the order to its buyer.

use nexgate_authn::authenticate;
use nexgate_platform::body::{json_body, json_response as json};
use nexgate_platform::db::{open_from_variables as db, query, transaction, ts, ts_as};
use nexgate_platform::idempotency::{self, Once, StoredResponse};
use nexgate_platform::ids::{new_id, parse_id};
use nexgate_platform::Problem;
use serde::Deserialize;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::pg4::{Connection, ParameterValue as P};
use uuid::Uuid;

use crate::codes;
use nexgate_events::catalogue::events::TicketPurchased;
use nexgate_events::outbox::Outbox;

/// One item of an order: (ticket type, quantity, attendee names).
type Wanted = (Uuid, i32, Vec<String>);

/// Tickets one order may hold.
pub const TICKETS_PER_ORDER_MAX: i32 = 50;

/// Paid tickets one order may hold: one prompt pays at most 20 payables (docs/payments.md).
pub const PAID_TICKETS_PER_ORDER_MAX: i32 = 20;

/// How long paid tickets' seats are held for payment (their payables expire with the hold).
pub const HOLD_SECS: i64 = 600;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    items: Vec<Item>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    ticket_type_id: String,
    quantity: i32,
    /// Names on the tickets, in order (the buyer's own name when absent).
    #[serde(default)]
    attendees: Vec<String>,
}

/// `POST /events/{id}/orders`: 201 `{id, tickets: [ids]}` (the same for a retry with the key).
pub async fn create(
    req: &Request,
    event: &str,
    component: &'static str,
) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let key =
        idempotency::parse_key(req.header("idempotency-key").and_then(|h| h.as_str()))?.to_string();
    let event = parse_id("id", event)?;
    let order: NewOrder = json_body(req)?;
    let items = check(&order)?;
    let conn = db()?;
    let id = new_id();
    let scope = format!("order:{}", ctx.user_id);
    let keyed = idempotency::Keyed {
        schema: crate::SCHEMA,
        scope: &scope,
        key: &key,
        request_hash: &idempotency::fingerprint("POST", req.path(), req.body()),
    };
    let answer = StoredResponse::json(201, &json!({ "id": id }))?;
    let mut outbox = Outbox::new(crate::SCHEMA, component)?;
    let placed = transaction(&conn, |conn| {
        let once = idempotency::once_answering(conn, keyed, answer, |conn| {
            let sale = place(conn, id, event, ctx.user_id, &items)?;
            announce(
                conn,
                &mut outbox,
                &sale,
                ctx.user_id,
                &valid_tickets_of(conn, id)?,
            )
        })?;
        match once {
            Once::Replayed(stored) => stored.id(),
            Once::Ran(()) => Ok::<_, Problem>(id),
        }
    })?;
    outbox.publish(&conn);
    crate::signing::sign(&valid_tickets_of(&conn, placed)?).await?;
    crate::payables::open(&conn, placed).await?;
    Ok(json(201, &view(&conn, placed, ctx.user_id)?))
}

/// `GET /events/orders/{id}` (its buyer; 404 for anyone else).
pub fn get(req: &Request, id: &str) -> Result<Response, Problem> {
    let ctx = authenticate(req)?;
    let id = parse_id("id", id)?;
    let conn = db()?;
    Ok(json(200, &view(&conn, id, ctx.user_id)?))
}

/// An order as its buyer sees it: state, hold, total, its tickets and the payables still to pay.
fn view(conn: &Connection, order: Uuid, buyer: Uuid) -> Result<serde_json::Value, Problem> {
    let rows = query(
        conn,
        &format!(
            "SELECT o.event_id, o.state, o.total, o.currency, {}, {}
             FROM events.ticket_orders o WHERE o.id = $1 AND o.buyer_id = $2",
            ts("o.hold_until"),
            ts("o.created_at")
        ),
        &[P::Uuid(order.to_string()), P::Uuid(buyer.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::not_found("no such order of yours"));
    }
    let tickets = query(
        conn,
        "SELECT id, ticket_type_id, state, price, payable_id FROM events.tickets
         WHERE order_id = $1 ORDER BY issued_at, id",
        &[P::Uuid(order.to_string())],
    )?;
    let mut items = Vec::new();
    let mut to_pay = Vec::new();
    for i in 0..tickets.len() {
        let state: String = tickets.value(i, "state")?;
        let payable: Option<Uuid> = tickets.value(i, "payable_id")?;
        if state == "held" {
            to_pay.extend(payable);
        }
        items.push(json!({
            "id": tickets.value::<Uuid>(i, "id")?,
            "ticket_type_id": tickets.value::<Uuid>(i, "ticket_type_id")?,
            "state": state,
            "price": tickets.value::<i64>(i, "price")?,
            "payable_id": payable,
        }));
    }
    Ok(json!({
        "id": order,
        "event_id": rows.value::<Uuid>(0, "event_id")?,
        "state": rows.value::<String>(0, "state")?,
        "total": rows.value::<i64>(0, "total")?,
        "currency": rows.value::<String>(0, "currency")?,
        "hold_until": rows.value::<Option<String>>(0, "hold_until")?,
        "created_at": rows.value::<String>(0, "created_at")?,
        "tickets": items,
        "payable_ids": to_pay,
    }))
}

/// The items as (type, quantity, names).
fn check(order: &NewOrder) -> Result<Vec<(Uuid, i32, Vec<String>)>, Problem> {
    if order.items.is_empty() || order.items.len() > 20 {
        return Err(Problem::invalid_field("items", "give 1 to 20 items"));
    }
    let mut out: Vec<(Uuid, i32, Vec<String>)> = Vec::new();
    for (i, item) in order.items.iter().enumerate() {
        let t = parse_id(&format!("items[{i}].ticket_type_id"), &item.ticket_type_id)?;
        if out.iter().any(|(seen, _, _)| *seen == t) {
            return Err(Problem::invalid_field(
                format!("items[{i}].ticket_type_id"),
                "repeats an earlier item",
            ));
        }
        if !(1..=TICKETS_PER_ORDER_MAX).contains(&item.quantity) {
            return Err(Problem::invalid_field(
                format!("items[{i}].quantity"),
                format!("must be 1 to {TICKETS_PER_ORDER_MAX}"),
            ));
        }
        if item.attendees.len() > item.quantity as usize
            || item
                .attendees
                .iter()
                .any(|n| !(1..=80).contains(&n.trim().chars().count()))
        {
            return Err(Problem::invalid_field(
                format!("items[{i}].attendees"),
                "at most one name (1 to 80 characters) per ticket",
            ));
        }
        out.push((t, item.quantity, item.attendees.clone()));
    }
    if out.iter().map(|(_, q, _)| q).sum::<i32>() > TICKETS_PER_ORDER_MAX {
        return Err(Problem::invalid_field(
            "items",
            format!("an order holds at most {TICKETS_PER_ORDER_MAX} tickets"),
        ));
    }
    Ok(out)
}

/// Takes the seats of every item and issues the tickets (inside the keyed transaction).
fn place(
    conn: &Connection,
    order: Uuid,
    event: Uuid,
    buyer: Uuid,
    items: &[(Uuid, i32, Vec<String>)],
) -> Result<Sale, Problem> {
    let found = query(
        conn,
        &format!(
            "SELECT e.currency, e.organizer_id,
                    (SELECT {} FROM events.event_days d WHERE d.event_id = e.id ORDER BY d.day LIMIT 1) AS starts_at
             FROM events.events e WHERE e.id = $1 AND e.status = 'published'
               AND NOT EXISTS (SELECT 1 FROM profiles.blocked_either_way b WHERE b.user_a = $2 AND b.user_b = e.organizer_id)",
            ts_as("d.starts_at", "starts_at")
        ),
        &[P::Uuid(event.to_string()), P::Uuid(buyer.to_string())],
    )?;
    if found.is_empty() {
        return Err(Problem::not_found("no such event on sale"));
    }
    let currency: String = found.value(0, "currency")?;
    let sale = Sale {
        event,
        organizer: found.value(0, "organizer_id")?,
        starts_at: found.value(0, "starts_at")?,
    };
    conn.execute(
        "INSERT INTO events.ticket_orders (id, event_id, buyer_id, state, total, currency) VALUES ($1, $2, $3, 'issued', 0, $4)",
        &[P::Uuid(order.to_string()), P::Uuid(event.to_string()), P::Uuid(buyer.to_string()), P::Str(currency)],
    )?;
    let mut sorted: Vec<(usize, &Wanted)> = items.iter().enumerate().collect();
    // Rows locked in one order (by id), so two orders never deadlock.
    sorted.sort_by_key(|(_, (t, _, _))| *t);
    let (mut paid, mut amount) = (0, 0i64);
    for (i, (ticket_type, quantity, names)) in sorted {
        let price = take_seats(conn, event, *ticket_type, *quantity, i)?;
        if price > 0 {
            paid += quantity;
            amount += price * i64::from(*quantity);
        }
        for n in 0..*quantity as usize {
            issue(
                conn,
                (order, event, *ticket_type),
                buyer,
                price,
                names.get(n),
            )?;
        }
    }
    if paid > PAID_TICKETS_PER_ORDER_MAX {
        return Err(Problem::invalid_field(
            "items",
            format!("an order holds at most {PAID_TICKETS_PER_ORDER_MAX} paid tickets (one payment prompt)"),
        ));
    }
    if paid > 0 {
        conn.execute(
            "UPDATE events.ticket_orders SET state = 'held', total = $2, hold_until = now() + make_interval(secs => $3::int8::float8)
             WHERE id = $1",
            &[P::Uuid(order.to_string()), P::Int64(amount), P::Int64(HOLD_SECS)],
        )?;
    }
    let total: i32 = items.iter().map(|(_, q, _)| q).sum();
    let room = query(
        conn,
        "UPDATE events.events SET sold = sold + $2 WHERE id = $1 AND (capacity IS NULL OR sold + $2 <= capacity) RETURNING id",
        &[P::Uuid(event.to_string()), P::Int32(total)],
    )?;
    if room.is_empty() {
        return Err(sold_out("items", "the event is full"));
    }
    Ok(sale)
}

/// What the tickets' events say about the sale.
pub(crate) struct Sale {
    pub event: Uuid,
    pub organizer: Uuid,
    pub starts_at: Option<String>,
}

/// `events.ticket.purchased` for each issued ticket (the buyer's notification, and reminders
/// before the event starts), inside the transaction that issued them.
pub(crate) fn announce(
    conn: &Connection,
    outbox: &mut Outbox,
    sale: &Sale,
    buyer: Uuid,
    tickets: &[Uuid],
) -> Result<(), Problem> {
    for ticket in tickets {
        outbox.record(
            conn,
            Some(buyer),
            ("ticket", ticket.to_string()),
            vec![buyer],
            &TicketPurchased {
                ticket_id: *ticket,
                event_id: sale.event,
                organizer_id: sale.organizer,
                buyer_id: buyer,
                starts_at: sale.starts_at.clone(),
            },
        )?;
    }
    Ok(())
}

fn sold_out(field: impl Into<String>, why: &str) -> Problem {
    Problem::conflict("sold_out", why.to_string()).with_field(field, why.to_string())
}

/// Takes `quantity` seats of a type on sale now (and of its quota), or says why not; answers the
/// type's price (0: free).
fn take_seats(
    conn: &Connection,
    event: Uuid,
    ticket_type: Uuid,
    quantity: i32,
    i: usize,
) -> Result<i64, Problem> {
    let field = format!("items[{i}].ticket_type_id");
    let rows = query(
        conn,
        "SELECT price, min_per_order, max_per_order, quota_id,
                (sales_start IS NULL OR sales_start <= now()) AND (sales_end IS NULL OR sales_end > now()) AS open
         FROM events.ticket_types WHERE id = $1 AND event_id = $2",
        &[P::Uuid(ticket_type.to_string()), P::Uuid(event.to_string())],
    )?;
    if rows.is_empty() {
        return Err(Problem::invalid_field(
            field,
            "is not a ticket type of this event",
        ));
    }
    let price: i64 = rows.value(0, "price")?;
    if !rows.value::<bool>(0, "open")? {
        return Err(
            Problem::new(422, "not_on_sale", "The ticket type is not on sale now")
                .with_field(field, "its sales window is closed"),
        );
    }
    let (min, max): (i32, i32) = (
        rows.value(0, "min_per_order")?,
        rows.value(0, "max_per_order")?,
    );
    if !(min..=max).contains(&quantity) {
        return Err(Problem::invalid_field(
            format!("items[{i}].quantity"),
            format!("must be {min} to {max} for this ticket type"),
        ));
    }
    let taken = query(
        conn,
        "UPDATE events.ticket_types SET sold = sold + $2 WHERE id = $1 AND sold + $2 <= quantity RETURNING quota_id",
        &[P::Uuid(ticket_type.to_string()), P::Int32(quantity)],
    )?;
    if taken.is_empty() {
        return Err(sold_out(field, "not enough tickets of this type are left"));
    }
    if let Some(quota) = taken.value::<Option<Uuid>>(0, "quota_id")? {
        let ok = query(
            conn,
            "UPDATE events.quotas SET sold = sold + $2 WHERE id = $1 AND sold + $2 <= capacity RETURNING id",
            &[P::Uuid(quota.to_string()), P::Int32(quantity)],
        )?;
        if ok.is_empty() {
            return Err(sold_out(
                field,
                "the tickets this type shares seats with are sold out",
            ));
        }
    }
    Ok(price)
}

/// One ticket with a fresh manual code (a new one on the rare clash): valid when free, held
/// with a payable id of its own when paid.
fn issue(
    conn: &Connection,
    (order, event, ticket_type): (Uuid, Uuid, Uuid),
    holder: Uuid,
    price: i64,
    name: Option<&String>,
) -> Result<(), Problem> {
    let (state, payable) = if price > 0 {
        ("held", P::Uuid(new_id().to_string()))
    } else {
        ("valid", P::DbNull)
    };
    with_fresh_code(|code| {
        Ok(!query(
            conn,
            "INSERT INTO events.tickets (id, order_id, event_id, ticket_type_id, holder_id, attendee_name, code, state, price, payable_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id, code) DO NOTHING RETURNING id",
            &[
                P::Uuid(new_id().to_string()),
                P::Uuid(order.to_string()),
                P::Uuid(event.to_string()),
                P::Uuid(ticket_type.to_string()),
                P::Uuid(holder.to_string()),
                name.map(|n| P::Str(n.trim().to_string())).unwrap_or(P::DbNull),
                P::Str(code),
                P::Str(state.into()),
                P::Int64(price),
                payable.clone(),
            ],
        )?
        .is_empty())
    })
}

/// Runs `insert` with a fresh manual code until it stores the ticket (`true`; a clash with a
/// code of the same event answers `false`), at most five times.
pub(crate) fn with_fresh_code(
    mut insert: impl FnMut(String) -> Result<bool, Problem>,
) -> Result<(), Problem> {
    for _ in 0..5 {
        let code = codes::generate().map_err(|e| Problem::internal(format!("randomness: {e}")))?;
        if insert(code)? {
            return Ok(());
        }
    }
    Err(Problem::internal("five manual codes in a row were taken"))
}

/// The issued (valid) tickets of an order, in issue order.
pub(crate) fn valid_tickets_of(conn: &Connection, order: Uuid) -> Result<Vec<Uuid>, Problem> {
    let rows = query(
        conn,
        "SELECT id FROM events.tickets WHERE order_id = $1 AND state = 'valid' ORDER BY issued_at, id",
        &[P::Uuid(order.to_string())],
    )?;
    (0..rows.len()).map(|i| rows.value(i, "id")).collect()
}
