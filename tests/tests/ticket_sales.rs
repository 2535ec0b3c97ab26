//! Paid tickets and cancellations (docs/ticketing.md, "Buying and issuing", "Cancellation and
//! refunds"), black-box: the real host and components, payments with its provider simulator, the
//! dispatcher delivering payment events to events-internal. Seats, tickets and refunds are counted
//! exactly after each scenario.

use std::time::Duration;

use nexgate_tests::auth::{call, sign_up, Answer, User};
use nexgate_tests::payments::PaymentSimulator;
use nexgate_tests::{eventually, EventObserver, HostOptions, Manifest, TestApp, Worker};
use reqwest::Method;
use serde_json::{json, Value};

struct World {
    app: TestApp,
    sim: PaymentSimulator,
    observer: EventObserver,
    organizer: User,
    buyer: User,
    dispatcher: Option<Worker>,
}

/// The app with the payment simulator; the dispatcher only when `dispatching` (a test that wants
/// payment events to wait in the queue starts it later).
async fn world(dispatching: bool) -> World {
    let sim = PaymentSimulator::start().await;
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: sim.app_env(),
            ..HostOptions::default()
        },
    )
    .await;
    sim.deliver_to(&app.host.base_url);
    app.declare_queues("infra/subscriptions.toml");
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let buyer = sign_up(&app, &mut observer).await;
    let mut w = World {
        app,
        sim,
        observer,
        organizer,
        buyer,
        dispatcher: None,
    };
    if dispatching {
        w.start_dispatcher();
    }
    w
}

impl World {
    fn start_dispatcher(&mut self) {
        self.dispatcher = Some(self.app.worker(
            "dispatcher",
            &[
                "--subscriptions",
                "infra/subscriptions.toml",
                "--expires-ms",
                "600000",
            ],
        ));
    }

    async fn as_user(
        &self,
        user: &User,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        call(&self.app, method, path, body, Some(&user.access_token)).await
    }

    async fn internal(&self, path: &str) -> Value {
        let resp = self
            .app
            .http
            .post(self.app.url(path))
            .header("x-internal-token", &self.app.events_internal_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp.json().await.unwrap()
    }
}

/// A published one-day event in KES (M-Pesa) a week from now with the given ticket types;
/// answers (event id, type ids in order).
async fn event_with(w: &World, types: Vec<Value>) -> (String, Vec<String>) {
    event_starting_in(w, 7 * 86_400, types).await
}

/// The same, starting in `secs` (within 2 hours: its doors are open now).
async fn event_starting_in(w: &World, secs: i64, types: Vec<Value>) -> (String, Vec<String>) {
    let now = nexgate_platform::time::now_unix().0;
    let at = |secs: i64| nexgate_platform::time::rfc3339(secs, 0);
    let draft = w.as_user(&w.organizer, Method::POST, "/events", Some(json!({
        "title": "Nyama Choma Festival", "category": "food", "mode": "in_person", "venue_name": "Uhuru Gardens",
        "address": "Langata Rd", "region": "Nairobi", "currency": "KES", "capacity": 500,
        "days": [{"starts_at": at(now + secs), "ends_at": at(now + secs + 8 * 3600)}],
    }))).await;
    assert_eq!(draft.status, 201, "{draft}");
    let id = draft.body["id"].as_str().unwrap().to_string();
    for body in types {
        let a = w
            .as_user(
                &w.organizer,
                Method::POST,
                &format!("/events/{id}/ticket-types"),
                Some(body),
            )
            .await;
        assert_eq!(a.status, 201, "{a}");
    }
    let published = w
        .as_user(
            &w.organizer,
            Method::POST,
            &format!("/events/{id}/publish"),
            None,
        )
        .await;
    assert_eq!(published.status, 200, "{published}");
    let types = published.body["ticket_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    (id, types)
}

async fn order(w: &World, user: &User, event: &str, key: &str, items: Value) -> Answer {
    let resp = w
        .app
        .http
        .post(w.app.url(&format!("/events/{event}/orders")))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", key)
        .json(&json!({ "items": items }))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn mpesa(w: &World, user: &User) -> String {
    let a = w
        .as_user(
            user,
            Method::POST,
            "/payments/methods",
            Some(json!({"kind": "mobile_money", "phone": "+254712345678"})),
        )
        .await;
    assert_eq!(a.status, 201, "{a}");
    a.body["id"].as_str().unwrap().to_string()
}

/// Pays every payable of an order with one prompt.
async fn pay(w: &World, user: &User, payables: &Value, key: &str) -> Answer {
    let method = mpesa(w, user).await;
    let resp = w
        .app
        .http
        .post(w.app.url("/payments/intents"))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", key)
        .json(&json!({"payable_ids": payables, "method_id": method}))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn order_state(w: &World, user: &User, id: &str) -> Value {
    let a = w
        .as_user(user, Method::GET, &format!("/events/orders/{id}"), None)
        .await;
    assert_eq!(a.status, 200, "{a}");
    a.body
}

async fn wait_order(w: &World, user: &User, id: &str, state: &str) -> Value {
    eventually(Duration::from_secs(20), || async {
        let o = order_state(w, user, id).await;
        (o["state"] == state).then_some(o)
    })
    .await
    .unwrap_or_else(|| panic!("order {id} never became {state}\n{}", w.app.host.log()))
}

/// (payable state, refunded amount) as payments keeps it.
async fn payable(w: &World, id: &str) -> (String, i64) {
    let row = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT state, refunded_amount FROM payments.payables WHERE id = $1",
            &[&uuid::Uuid::parse_str(id).unwrap()],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Refunds paid out per payable (payable id, amount), as payments recorded them.
async fn refunds(w: &World) -> Vec<(uuid::Uuid, i64)> {
    w.app
        .db
        .admin()
        .await
        .query(
            "SELECT payable_id, amount FROM payments.disbursements WHERE kind = 'refund' ORDER BY payable_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The seats sold of each ticket type and of the event, after checking each equals its tickets
/// that hold a seat (held or valid).
async fn seats(w: &World, event: &str) -> (i32, Vec<i32>) {
    let db = w.app.db.admin().await;
    let id = uuid::Uuid::parse_str(event).unwrap();
    let rows = db
        .query(
            "SELECT tt.sold, (SELECT count(*)::int FROM events.tickets t
                              WHERE t.ticket_type_id = tt.id AND t.state IN ('held', 'valid'))
             FROM events.ticket_types tt WHERE tt.event_id = $1 ORDER BY tt.position",
            &[&id],
        )
        .await
        .unwrap();
    let per_type: Vec<i32> = rows
        .iter()
        .map(|r| {
            let (sold, held): (i32, i32) = (r.get(0), r.get(1));
            assert_eq!(sold, held, "a type's seats are its held and valid tickets");
            sold
        })
        .collect();
    let event_sold: i32 = db
        .query_one("SELECT sold FROM events.events WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(event_sold, per_type.iter().sum::<i32>());
    (event_sold, per_type)
}

/// Paid tickets: seats held with one payable each, a retried order is the same order (no second
/// payable), one prompt pays them all, each is issued once (a redelivered payment event changes
/// nothing) and signed; a free ticket in the same order is issued at once.
#[tokio::test]
async fn paid_tickets_are_held_paid_with_one_prompt_and_issued_once() {
    let mut w = world(true).await;
    let (event, types) = event_with(
        &w,
        vec![
            json!({"name": "VIP", "kind": "vip", "price": 150_000, "perks": "Front row", "quantity": 10}),
            json!({"name": "Kids", "kind": "free", "quantity": 10}),
        ],
    )
    .await;
    let items = json!([
        {"ticket_type_id": types[0], "quantity": 2, "attendees": ["Amina", "Juma"]},
        {"ticket_type_id": types[1], "quantity": 1},
    ]);
    let first = order(&w, &w.buyer, &event, "buy-1", items.clone()).await;
    assert_eq!(first.status, 201, "{first}\n{}", w.app.host.log());
    assert_eq!(
        (&first.body["state"], &first.body["total"]),
        (&json!("held"), &json!(300_000)),
        "{first}"
    );
    assert!(first.body["hold_until"].is_string(), "{first}");
    let payables = first.body["payable_ids"].clone();
    assert_eq!(payables.as_array().map(Vec::len), Some(2), "{first}");
    let states: Vec<&str> = first.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.iter().filter(|s| **s == "held").count(), 2);
    assert_eq!(
        states.iter().filter(|s| **s == "valid").count(),
        1,
        "free at once"
    );
    let again = order(&w, &w.buyer, &event, "buy-1", items).await;
    assert_eq!(
        (again.status, &again.body["id"], &again.body["payable_ids"]),
        (201, &first.body["id"], &payables),
        "a retry is the same order with the same payables: {again}"
    );
    assert_eq!(seats(&w, &event).await, (3, vec![2, 1]));
    for p in payables.as_array().unwrap() {
        assert_eq!(payable(&w, p.as_str().unwrap()).await.0, "open");
    }
    let count: i64 = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM payments.payables WHERE reference = ANY($1)",
            &[&first.body["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count, 2,
        "one payable per paid ticket, none for the free one"
    );
    // Someone else cannot see the order.
    let other = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/orders/{}", first.body["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(other.status, 404, "{other}");

    // One prompt pays both tickets.
    let paid = pay(&w, &w.buyer, &payables, "pay-1").await;
    assert_eq!(paid.status, 201, "{paid}");
    assert_eq!(w.sim.payments().len(), 1, "one prompt");
    assert_eq!(w.sim.payments()[0].amount, 3_000, "the total, in shillings");
    let id = first.body["id"].as_str().unwrap().to_string();
    let issued = wait_order(&w, &w.buyer, &id, "issued").await;
    assert_eq!(issued["payable_ids"], json!([]), "nothing left to pay");
    for t in issued["tickets"].as_array().unwrap() {
        assert_eq!(t["state"], "valid", "{issued}");
        let ticket = w
            .as_user(
                &w.buyer,
                Method::GET,
                &format!("/events/tickets/{}", t["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert!(
            ticket.body["qr"].as_str().unwrap().starts_with("NXT1:"),
            "{ticket}"
        );
    }
    for p in payables.as_array().unwrap() {
        assert_eq!(
            payable(&w, p.as_str().unwrap()).await.0,
            "paid",
            "in escrow"
        );
    }
    // Observed in publishing order: the payments first, then the tickets they issued.
    let (_, succeeded) = w
        .observer
        .wait_for(Duration::from_secs(10), |key, _| {
            key.ends_with(".payments.payment.succeeded")
        })
        .await
        .expect("the payment event");
    let mut purchased = 0;
    while let Some((_, e)) = w
        .observer
        .wait_for(Duration::from_secs(5), |key, e| {
            key.ends_with(".events.ticket.purchased") && e["data"]["event_id"] == event.as_str()
        })
        .await
    {
        assert!(e["data"].get("qr").is_none() && e["data"].get("code").is_none());
        purchased += 1;
        if purchased == 2 {
            break;
        }
    }
    assert_eq!(purchased, 2, "one events.ticket.purchased per paid ticket");

    // A redelivered payment event issues nothing twice.
    let replay = w
        .app
        .http
        .post(w.app.url("/internal/events/events"))
        .header("x-internal-token", &w.app.events_internal_token)
        .json(&succeeded)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let replayed: Value = replay.json().await.unwrap();
    assert_eq!(replayed["applied"], false, "{replayed}");
    assert_eq!(seats(&w, &event).await, (3, vec![2, 1]));
    let refused = w
        .app
        .http
        .post(w.app.url("/internal/events/events"))
        .json(&succeeded)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401, "the internal route needs its token");
    assert!(w.dispatcher.take().is_some());
}

/// A hold that runs out gives its seat back once; a payment that reached payments but not yet
/// events when the hold ended is refunded in full exactly once and issues nothing.
#[tokio::test]
async fn an_expired_hold_gives_the_seat_back_and_a_late_payment_is_refunded_once() {
    // No dispatcher yet: the payment event waits in events' queue.
    let mut w = world(false).await;
    let (event, types) = event_with(
        &w,
        vec![json!({"name": "Regular", "kind": "paid", "price": 100_000, "quantity": 1})],
    )
    .await;
    let one = json!([{"ticket_type_id": types[0], "quantity": 1}]);
    let held = order(&w, &w.buyer, &event, "late-1", one.clone()).await;
    assert_eq!(held.status, 201, "{held}");
    let other = sign_up(&w.app, &mut w.observer).await;
    let full = order(&w, &other, &event, "other-1", one.clone()).await;
    assert_eq!(
        (full.status, full.code()),
        (409, "sold_out"),
        "the seat is held: {full}"
    );
    let payable_id = held.body["payable_ids"][0].as_str().unwrap().to_string();
    let paid = pay(&w, &w.buyer, &held.body["payable_ids"], "late-pay").await;
    assert_eq!(paid.status, 201, "{paid}");
    eventually(Duration::from_secs(20), || async {
        (payable(&w, &payable_id).await.0 == "paid").then_some(())
    })
    .await
    .expect("payments took the money into escrow");

    // The hold runs out (moved back in the database: time passing) before events hears of it.
    let id = held.body["id"].as_str().unwrap().to_string();
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE events.ticket_orders SET hold_until = now() - interval '1 second' WHERE id = $1",
            &[&uuid::Uuid::parse_str(&id).unwrap()],
        )
        .await
        .unwrap();
    let job = w.internal("/internal/events/jobs/expire-holds").await;
    assert_eq!(
        (&job["orders"], &job["tickets"], &job["voided"]),
        (&json!(1), &json!(1), &json!(1)),
        "{job}"
    );
    let again = w.internal("/internal/events/jobs/expire-holds").await;
    assert_eq!(
        (&again["orders"], &again["voided"]),
        (&json!(0), &json!(0)),
        "{again}"
    );
    assert_eq!(order_state(&w, &w.buyer, &id).await["state"], "expired");
    assert_eq!(seats(&w, &event).await, (0, vec![0]), "the seat is back");

    // Now the payment event arrives: nothing is issued, and the money goes back once.
    w.start_dispatcher();
    eventually(Duration::from_secs(30), || async {
        (payable(&w, &payable_id).await == ("refunded".to_string(), 100_000)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("refunded in full\n{}", w.app.host.log()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        refunds(&w).await,
        vec![(uuid::Uuid::parse_str(&payable_id).unwrap(), 100_000)],
        "one refund, in full"
    );
    assert_eq!(order_state(&w, &w.buyer, &id).await["state"], "expired");
    let voids = w.internal("/internal/events/jobs/void-payables").await;
    assert_eq!(voids["voided"], 0, "nothing owed any more: {voids}");
    let now_free = order(&w, &other, &event, "other-2", one).await;
    assert_eq!(now_free.status, 201, "the seat sells again: {now_free}");
    assert_eq!(seats(&w, &event).await, (1, vec![1]));
}

/// An organizer cancels: every ticket is revoked (listed for offline scanners), every paid one
/// refunded in full exactly once, a held one voided, holders told; check-in then says
/// `cancelled`; nobody else can cancel, and a cancelled event cannot be cancelled again.
#[tokio::test]
async fn cancelling_an_event_revokes_every_ticket_and_refunds_each_paid_one_once() {
    let mut w = world(true).await;
    let _notifier = w.app.notifier();
    let (event, types) = event_with(
        &w,
        vec![
            json!({"name": "Regular", "kind": "paid", "price": 50_000, "quantity": 10}),
            json!({"name": "Kids", "kind": "free", "quantity": 10}),
        ],
    )
    .await;
    let bought = order(
        &w,
        &w.buyer,
        &event,
        "c-1",
        json!([{"ticket_type_id": types[0], "quantity": 2}, {"ticket_type_id": types[1], "quantity": 1}]),
    )
    .await;
    assert_eq!(bought.status, 201, "{bought}");
    let paid = pay(&w, &w.buyer, &bought.body["payable_ids"], "c-pay").await;
    assert_eq!(paid.status, 201, "{paid}");
    let id = bought.body["id"].as_str().unwrap().to_string();
    let issued = wait_order(&w, &w.buyer, &id, "issued").await;
    let other = sign_up(&w.app, &mut w.observer).await;
    let holding = order(
        &w,
        &other,
        &event,
        "c-2",
        json!([{"ticket_type_id": types[0], "quantity": 1}]),
    )
    .await;
    assert_eq!(holding.status, 201, "{holding}");
    let path = format!("/events/{event}/cancel");

    let not_yours = w
        .as_user(
            &w.buyer,
            Method::POST,
            &path,
            Some(json!({"reason": "rain"})),
        )
        .await;
    assert_eq!(not_yours.status, 404, "{not_yours}");
    let no_reason = w
        .as_user(
            &w.organizer,
            Method::POST,
            &path,
            Some(json!({"reason": ""})),
        )
        .await;
    assert_eq!(
        (
            no_reason.status,
            no_reason.body["errors"][0]["field"].as_str()
        ),
        (422, Some("reason")),
        "{no_reason}"
    );
    let cancelled = w
        .as_user(
            &w.organizer,
            Method::POST,
            &path,
            Some(json!({"reason": "The venue flooded"})),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled}\n{}", w.app.host.log());
    assert_eq!(
        (
            &cancelled.body["tickets_revoked"],
            &cancelled.body["refunds_owed"]
        ),
        (&json!(3), &json!(3)),
        "{cancelled}"
    );
    let twice = w
        .as_user(
            &w.organizer,
            Method::POST,
            &path,
            Some(json!({"reason": "The venue flooded"})),
        )
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "not_published"),
        "{twice}"
    );

    // Each paid ticket refunded in full once; the unpaid hold voided.
    let paid_payables: Vec<uuid::Uuid> = issued["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["payable_id"].as_str())
        .map(|p| uuid::Uuid::parse_str(p).unwrap())
        .collect();
    assert_eq!(paid_payables.len(), 2);
    for p in &paid_payables {
        eventually(Duration::from_secs(30), || async {
            (payable(&w, &p.to_string()).await == ("refunded".to_string(), 50_000)).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{p} refunded\n{}", w.app.host.log()));
    }
    let held_payable = holding.body["payable_ids"][0].as_str().unwrap();
    assert_eq!(payable(&w, held_payable).await.0, "voided");
    let voids = w.internal("/internal/events/jobs/void-payables").await;
    assert_eq!(voids["voided"], 0, "every void was made once: {voids}");
    let mut expected: Vec<(uuid::Uuid, i64)> = paid_payables.iter().map(|p| (*p, 50_000)).collect();
    expected.sort();
    assert_eq!(
        refunds(&w).await,
        expected,
        "one full refund per paid ticket"
    );

    // Holders are told; the event carries ids only.
    let (_, told) = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".events.event.cancelled") && e["data"]["event_id"] == event.as_str()
        })
        .await
        .expect("events.event.cancelled");
    assert_eq!(told["data"]["organizer_id"], w.organizer.user_id.as_str());
    // ... and see it, after their purchase, in their notification centre.
    let centre = eventually(Duration::from_secs(20), || async {
        let page = w
            .as_user(&w.buyer, Method::GET, "/notifications", None)
            .await;
        let types: Vec<String> = page.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["type"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        (types.iter().any(|t| t == "events.event.cancelled")
            && types.iter().any(|t| t == "events.ticket.purchased"))
        .then_some(types)
    })
    .await;
    assert!(
        centre.is_some(),
        "the holder's notification centre\n{}",
        w.app.host.log()
    );

    // Offline scanners download the revocations, then nothing new since their cursor.
    let list = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/{event}/revocations"),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{list}");
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(3),
        "{list}"
    );
    let cursor = list.body["next_cursor"].as_str().unwrap();
    let since = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/{event}/revocations?cursor={cursor}"),
            None,
        )
        .await;
    // Revoked seconds ago: the cursor stays behind a 10-second horizon, so they come again (a
    // scanner applies a revocation twice harmlessly, and never misses one committed late).
    assert_eq!(since.body["items"], list.body["items"], "{since}");
    let db = w.app.db.admin().await;
    db.execute(
        "UPDATE events.tickets SET revoked_at = revoked_at - interval '1 minute' WHERE event_id = $1",
        &[&uuid::Uuid::parse_str(&event).unwrap()],
    )
    .await
    .unwrap();
    let full = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/{event}/revocations"),
            None,
        )
        .await;
    let settled = full.body["next_cursor"].as_str().unwrap();
    let nothing_new = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/{event}/revocations?cursor={settled}"),
            None,
        )
        .await;
    assert_eq!(nothing_new.body["items"], json!([]), "{nothing_new}");
    let bad = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/{event}/revocations?cursor=x"),
            None,
        )
        .await;
    assert_eq!(bad.status, 422, "{bad}");
    let hidden = w
        .as_user(
            &w.buyer,
            Method::GET,
            &format!("/events/{event}/revocations"),
            None,
        )
        .await;
    assert_eq!(hidden.status, 404, "{hidden}");

    // A revoked ticket of a cancelled event does not check in.
    let ticket = issued["tickets"][0]["id"].as_str().unwrap();
    let qr = w
        .as_user(
            &w.buyer,
            Method::GET,
            &format!("/events/tickets/{ticket}"),
            None,
        )
        .await;
    let scan = w
        .as_user(
            &w.organizer,
            Method::POST,
            &format!("/events/{event}/checkins"),
            Some(json!({"qr": qr.body["qr"], "nonce": "n-1"})),
        )
        .await;
    assert_eq!(scan.body["result"], "cancelled", "{scan}");
}

/// Moves the event's (only) day so that it ended `hours_ago` hours ago (time passing).
async fn ended_hours_ago(w: &World, event: &str, hours_ago: i64) {
    w.app
        .db
        .admin()
        .await
        .execute(
            "UPDATE events.event_days SET starts_at = now() - make_interval(hours => $2 + 8),
                    ends_at = now() - make_interval(hours => $2) WHERE event_id = $1",
            &[&uuid::Uuid::parse_str(event).unwrap(), &(hours_ago as i32)],
        )
        .await
        .unwrap();
}

/// Buys one paid ticket of `ticket_type` as `user`, pays it, and checks it in: the ticket id.
async fn attend(w: &World, user: &User, event: &str, ticket_type: &str, key: &str) -> String {
    let o = order(
        w,
        user,
        event,
        key,
        json!([{"ticket_type_id": ticket_type, "quantity": 1}]),
    )
    .await;
    assert_eq!(o.status, 201, "{o}");
    let paid = pay(w, user, &o.body["payable_ids"], &format!("pay-{key}")).await;
    assert_eq!(paid.status, 201, "{paid}");
    let issued = wait_order(w, user, o.body["id"].as_str().unwrap(), "issued").await;
    let ticket = issued["tickets"][0]["id"].as_str().unwrap().to_string();
    let t = w
        .as_user(
            user,
            Method::GET,
            &format!("/events/tickets/{ticket}"),
            None,
        )
        .await;
    let scan = w
        .as_user(
            &w.organizer,
            Method::POST,
            &format!("/events/{event}/checkins"),
            Some(json!({"qr": t.body["qr"], "nonce": format!("n-{key}")})),
        )
        .await;
    assert_eq!(scan.body["result"], "ok", "{scan}");
    ticket
}

async fn payable_of_ticket(w: &World, ticket: &str) -> String {
    let row = w
        .app
        .db
        .admin()
        .await
        .query_one(
            "SELECT payable_id::text FROM events.tickets WHERE id = $1",
            &[&uuid::Uuid::parse_str(ticket).unwrap()],
        )
        .await
        .unwrap();
    row.get(0)
}

/// After the event: an attendee who checked in reviews once, the organizer replies; the
/// checked-in ticket's money is released a day after the end, the rest when the complaint window
/// closes and the event completes (`events.event.completed`, counted by profiles as a completed
/// event, with the rating); nothing is released twice, and an ended event cannot be cancelled.
#[tokio::test]
async fn organizers_are_paid_after_the_event_checked_in_tickets_first() {
    let mut w = world(true).await;
    let (event, types) = event_starting_in(
        &w,
        1800,
        vec![json!({"name": "Regular", "kind": "paid", "price": 80_000, "quantity": 10})],
    )
    .await;
    let came = attend(&w, &w.buyer, &event, &types[0], "came").await;
    let absent = sign_up(&w.app, &mut w.observer).await;
    let o = order(
        &w,
        &absent,
        &event,
        "absent",
        json!([{"ticket_type_id": types[0], "quantity": 1}]),
    )
    .await;
    let paid = pay(&w, &absent, &o.body["payable_ids"], "pay-absent").await;
    assert_eq!(paid.status, 201, "{paid}");
    let issued = wait_order(&w, &absent, o.body["id"].as_str().unwrap(), "issued").await;
    let no_show = issued["tickets"][0]["id"].as_str().unwrap().to_string();
    let reviews = format!("/events/{event}/reviews");
    let early = w
        .as_user(&w.buyer, Method::POST, &reviews, Some(json!({"rating": 5})))
        .await;
    assert_eq!(
        (early.status, early.code()),
        (409, "event_not_ended"),
        "{early}"
    );

    ended_hours_ago(&w, &event, 30).await;
    let cancel = w
        .as_user(
            &w.organizer,
            Method::POST,
            &format!("/events/{event}/cancel"),
            Some(json!({"reason": "too late now"})),
        )
        .await;
    assert_eq!(
        (cancel.status, cancel.code()),
        (409, "event_ended"),
        "{cancel}"
    );
    let stranger = w
        .as_user(
            &absent,
            Method::POST,
            &reviews,
            Some(json!({"rating": 1, "body": "never went"})),
        )
        .await;
    assert_eq!(
        (stranger.status, stranger.code()),
        (403, "not_an_attendee"),
        "{stranger}"
    );
    let bad = w
        .as_user(&w.buyer, Method::POST, &reviews, Some(json!({"rating": 6})))
        .await;
    assert_eq!(bad.status, 422, "{bad}");
    let review = w
        .as_user(
            &w.buyer,
            Method::POST,
            &reviews,
            Some(json!({"rating": 4, "body": "Great food, long queues"})),
        )
        .await;
    assert_eq!(review.status, 201, "{review}\n{}", w.app.host.log());
    let twice = w
        .as_user(&w.buyer, Method::POST, &reviews, Some(json!({"rating": 1})))
        .await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "already_reviewed"),
        "{twice}"
    );
    let review_id = review.body["id"].as_str().unwrap();
    let reply_path = format!("{reviews}/{review_id}/reply");
    let not_theirs = w
        .as_user(
            &w.buyer,
            Method::POST,
            &reply_path,
            Some(json!({"text": "me too"})),
        )
        .await;
    assert_eq!(not_theirs.status, 404, "{not_theirs}");
    let reply = w
        .as_user(
            &w.organizer,
            Method::POST,
            &reply_path,
            Some(json!({"text": "Asante! More gates next year."})),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply}");
    let listed = w.as_user(&absent, Method::GET, &reviews, None).await;
    assert_eq!(listed.body["summary"]["count"], 1, "{listed}");
    assert_eq!(listed.body["summary"]["average"], 4.0, "{listed}");
    assert_eq!(
        listed.body["items"][0]["reply"],
        "Asante! More gates next year."
    );
    let rating = w
        .as_user(
            &absent,
            Method::GET,
            &format!("/events/organizers/{}/rating", w.organizer.user_id),
            None,
        )
        .await;
    assert_eq!(
        (
            rating.body["count"].as_i64(),
            rating.body["events"].as_i64()
        ),
        (Some(1), Some(1)),
        "{rating}"
    );

    // A day after the end: the checked-in ticket's money goes to the organizer, the rest waits.
    let first = w.internal("/internal/events/jobs/release-escrow").await;
    assert_eq!(
        (&first["released"], &first["completed"]),
        (&json!(1), &json!(0)),
        "{first}"
    );
    assert_eq!(
        payable(&w, &payable_of_ticket(&w, &came).await).await.0,
        "released"
    );
    assert_eq!(
        payable(&w, &payable_of_ticket(&w, &no_show).await).await.0,
        "paid"
    );

    // The complaint window closes: the event completes and the rest is released, once.
    ended_hours_ago(&w, &event, 80).await;
    let second = w.internal("/internal/events/jobs/release-escrow").await;
    assert_eq!(
        (&second["released"], &second["completed"]),
        (&json!(1), &json!(1)),
        "{second}"
    );
    assert_eq!(
        payable(&w, &payable_of_ticket(&w, &no_show).await).await.0,
        "released"
    );
    let third = w.internal("/internal/events/jobs/release-escrow").await;
    assert_eq!(
        (&third["released"], &third["completed"], &third["failed"]),
        (&json!(0), &json!(0), &json!(0)),
        "{third}"
    );
    let (_, completed) = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".events.event.completed") && e["data"]["event_id"] == event.as_str()
        })
        .await
        .expect("events.event.completed");
    assert_eq!(
        (
            &completed["data"]["tickets"],
            &completed["data"]["checked_in"],
            &completed["data"]["payout_frozen"]
        ),
        (&json!(2), &json!(1), &json!(false))
    );

    // Profiles counts the completed event (not the two purchases) and the rating.
    let trust = format!("/users/{}/trust", w.organizer.user_id);
    let counted = eventually(Duration::from_secs(20), || async {
        let t = w.as_user(&w.buyer, Method::GET, &trust, None).await;
        (t.body["counts"]["completed"] == 1 && t.body["average_rating"].is_number()).then_some(t)
    })
    .await;
    assert!(
        counted.is_some(),
        "profiles counted the event\n{}",
        w.app.host.log()
    );
}

/// Poor ratings after the event freeze every paid ticket's money for an operator instead of
/// paying the organizer.
#[tokio::test]
async fn poor_ratings_freeze_the_payout_for_an_operator() {
    let mut w = world(true).await;
    let (event, types) = event_starting_in(
        &w,
        1800,
        vec![json!({"name": "Regular", "kind": "paid", "price": 50_000, "quantity": 10})],
    )
    .await;
    let mut attendees = vec![];
    for i in 0..3 {
        let user = sign_up(&w.app, &mut w.observer).await;
        let ticket = attend(&w, &user, &event, &types[0], &format!("poor-{i}")).await;
        attendees.push((user, ticket));
    }
    ended_hours_ago(&w, &event, 80).await;
    for (i, (user, _)) in attendees.iter().enumerate() {
        let r = w
            .as_user(
                user,
                Method::POST,
                &format!("/events/{event}/reviews"),
                Some(json!({"rating": 1 + (i as i64 % 2), "body": "Nothing as advertised"})),
            )
            .await;
        assert_eq!(r.status, 201, "{r}");
    }
    let job = w.internal("/internal/events/jobs/release-escrow").await;
    assert_eq!(
        (&job["frozen"], &job["released"], &job["completed"]),
        (&json!(3), &json!(0), &json!(1)),
        "{job}"
    );
    for (_, ticket) in &attendees {
        assert_eq!(
            payable(&w, &payable_of_ticket(&w, ticket).await).await.0,
            "frozen"
        );
    }
    let (_, completed) = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".events.event.completed") && e["data"]["event_id"] == event.as_str()
        })
        .await
        .expect("events.event.completed");
    assert_eq!(completed["data"]["payout_frozen"], true);
}

async fn transfer(w: &World, user: &User, ticket: &str, key: &str, username: &str) -> Answer {
    let resp = w
        .app
        .http
        .post(w.app.url(&format!("/events/tickets/{ticket}/transfer")))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", key)
        .json(&json!({ "username": username }))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

/// Within the organizer's refund policy a holder gets a paid ticket refunded in full to the
/// number that paid (the seat sells again), or transfers it: the old QR is revoked, the recipient
/// gets a new ticket, a replay transfers nothing twice, and the recipient's later refund still goes
/// to the payer. Every refund is made exactly once.
#[tokio::test]
async fn holders_refund_or_transfer_tickets_within_the_policy() {
    let mut w = world(true).await;
    let friend = sign_up(&w.app, &mut w.observer).await;
    let (event, types) = event_with(
        &w,
        vec![json!({"name": "Regular", "kind": "paid", "price": 60_000, "quantity": 5})],
    )
    .await;
    let o = order(
        &w,
        &w.buyer,
        &event,
        "r-1",
        json!([{"ticket_type_id": types[0], "quantity": 2}]),
    )
    .await;
    let paid = pay(&w, &w.buyer, &o.body["payable_ids"], "r-pay").await;
    assert_eq!(paid.status, 201, "{paid}");
    let issued = wait_order(&w, &w.buyer, o.body["id"].as_str().unwrap(), "issued").await;
    let (a, b) = (
        issued["tickets"][0]["id"].as_str().unwrap().to_string(),
        issued["tickets"][1]["id"].as_str().unwrap().to_string(),
    );
    let (pa, pb) = (
        payable_of_ticket(&w, &a).await,
        payable_of_ticket(&w, &b).await,
    );
    let refund = |user: &User, ticket: &str| {
        let path = format!("/events/tickets/{ticket}/refund");
        let token = user.access_token.clone();
        let app = &w.app;
        async move { call(app, Method::POST, &path, None, Some(&token)).await }
    };
    let closed = refund(&w.buyer, &a).await;
    assert_eq!(
        (closed.status, closed.code()),
        (409, "no_refunds"),
        "{closed}"
    );
    let policy = format!("/events/{event}/refund-policy");
    let not_owner = w
        .as_user(
            &w.buyer,
            Method::PUT,
            &policy,
            Some(json!({"policy": "until_deadline"})),
        )
        .await;
    assert_eq!(not_owner.status, 404, "{not_owner}");
    let bad = w
        .as_user(
            &w.organizer,
            Method::PUT,
            &policy,
            Some(json!({"policy": "always"})),
        )
        .await;
    assert_eq!(bad.status, 422, "{bad}");
    let set = w
        .as_user(
            &w.organizer,
            Method::PUT,
            &policy,
            Some(json!({"policy": "until_deadline", "deadline_hours": 24})),
        )
        .await;
    assert_eq!(set.status, 200, "{set}");

    // A refund: revoked, the seat back, the money back in full once.
    let done = refund(&w.buyer, &a).await;
    assert_eq!(
        (done.status, done.body["refund"].as_str()),
        (200, Some("done")),
        "{done}\n{}",
        w.app.host.log()
    );
    let again = refund(&w.buyer, &a).await;
    assert_eq!(
        (again.status, again.code()),
        (409, "not_refundable"),
        "{again}"
    );
    assert_eq!(
        seats(&w, &event).await,
        (1, vec![1]),
        "the refunded seat sells again"
    );
    let (_, revoked) = w
        .observer
        .wait_for(Duration::from_secs(10), |key, e| {
            key.ends_with(".events.ticket.revoked") && e["data"]["ticket_id"] == a.as_str()
        })
        .await
        .expect("events.ticket.revoked");
    assert_eq!(
        revoked["data"]["holder_still_attending"], true,
        "ticket b is still held"
    );

    // A transfer: the old ticket revoked, a new one for the friend; a replay is the same transfer.
    let to_self = transfer(&w, &w.buyer, &b, "t-0", &w.buyer.username).await;
    assert_eq!(to_self.status, 422, "{to_self}");
    let moved = transfer(&w, &w.buyer, &b, "t-1", &friend.username).await;
    assert_eq!(moved.status, 201, "{moved}\n{}", w.app.host.log());
    let replay = transfer(&w, &w.buyer, &b, "t-1", &friend.username).await;
    assert_eq!(
        (replay.status, &replay.body),
        (201, &moved.body),
        "{replay}"
    );
    let twice = transfer(&w, &w.buyer, &b, "t-2", &friend.username).await;
    assert_eq!(
        (twice.status, twice.code()),
        (409, "not_transferable"),
        "{twice}"
    );
    let new = moved.body["ticket_id"].as_str().unwrap().to_string();
    let old_view = w
        .as_user(&w.buyer, Method::GET, &format!("/events/tickets/{b}"), None)
        .await;
    assert_eq!(old_view.body["state"], "revoked", "{old_view}");
    let new_view = w
        .as_user(
            &friend,
            Method::GET,
            &format!("/events/tickets/{new}"),
            None,
        )
        .await;
    assert_eq!(new_view.body["state"], "valid", "{new_view}");
    assert!(new_view.body["qr"].as_str().unwrap().starts_with("NXT1:"));
    assert_ne!(new_view.body["code"], old_view.body["code"], "a new code");
    let hidden = w
        .as_user(
            &w.buyer,
            Method::GET,
            &format!("/events/tickets/{new}"),
            None,
        )
        .await;
    assert_eq!(hidden.status, 404);
    let listed = w
        .as_user(
            &w.organizer,
            Method::GET,
            &format!("/events/{event}/revocations"),
            None,
        )
        .await;
    let reasons: Vec<(&str, &str)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["ticket_id"].as_str().unwrap(),
                i["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![(a.as_str(), "refunded"), (b.as_str(), "transferred")]
    );

    // The friend's refund goes back to the number that paid.
    let theirs = refund(&friend, &new).await;
    assert_eq!(theirs.status, 200, "{theirs}");
    for p in [&pa, &pb] {
        eventually(Duration::from_secs(30), || async {
            (payable(&w, p).await == ("refunded".to_string(), 60_000)).then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("{p} refunded\n{}", w.app.host.log()));
    }
    let mut expected = vec![
        (uuid::Uuid::parse_str(&pa).unwrap(), 60_000),
        (uuid::Uuid::parse_str(&pb).unwrap(), 60_000),
    ];
    expected.sort();
    assert_eq!(refunds(&w).await, expected, "each refunded once, in full");
    assert_eq!(seats(&w, &event).await, (0, vec![0]));
}

/// 500 distinct buyers (at most 64 in flight) for 100 seats of two paid types sharing one quota:
/// exactly 100 held tickets with a payable each and 400 clear `sold_out` refusals, never a 5xx.
#[tokio::test]
async fn five_hundred_buyers_for_a_hundred_shared_seats_get_exactly_a_hundred() {
    use futures::StreamExt;
    let w = world(false).await;
    let now = nexgate_platform::time::now_unix().0;
    let at = |secs: i64| nexgate_platform::time::rfc3339(secs, 0);
    let draft = w.as_user(&w.organizer, Method::POST, "/events", Some(json!({
        "title": "Fiesta Dar", "category": "music", "mode": "in_person", "venue_name": "Leaders Club",
        "address": "Kinondoni", "region": "Dar es Salaam", "currency": "KES", "capacity": 1000,
        "days": [{"starts_at": at(now + 7 * 86_400), "ends_at": at(now + 7 * 86_400 + 6 * 3600)}],
    }))).await;
    let id = draft.body["id"].as_str().unwrap().to_string();
    // Two types of 80 seats each that share a quota of 100 (pretix's quotas).
    for (name, price) in [("Regular", 50_000), ("VIP", 150_000)] {
        let a = w
            .as_user(&w.organizer, Method::POST, &format!("/events/{id}/ticket-types"),
                Some(json!({"name": name, "kind": "paid", "price": price, "quantity": 80, "quota": {"name": "Floor", "capacity": 100}})))
            .await;
        assert_eq!(a.status, 201, "{a}");
    }
    let published = w
        .as_user(
            &w.organizer,
            Method::POST,
            &format!("/events/{id}/publish"),
            None,
        )
        .await;
    assert_eq!(published.status, 200, "{published}");
    let types: Vec<String> = published.body["ticket_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();

    let seeded = nexgate_tests::auth::seed_users(&w.app, 500, "fan");
    let tokens: Vec<String> = futures::stream::iter(seeded.iter().map(|s| {
        let app = &w.app;
        async move {
            let a =
                nexgate_tests::auth::log_in(app, &s.email, nexgate_tests::auth::PASSWORD, "fan")
                    .await;
            assert_eq!(a.status, 200, "{a}");
            a.body["access_token"].as_str().unwrap().to_string()
        }
    }))
    .buffer_unordered(16)
    .collect()
    .await;
    let answers: Vec<(u16, String)> =
        futures::stream::iter(tokens.iter().enumerate().map(|(i, token)| {
            let (http, url, ticket_type) = (
                w.app.http.clone(),
                w.app.url(&format!("/events/{id}/orders")),
                types[i % 2].clone(),
            );
            async move {
                let resp = http
                    .post(&url)
                    .bearer_auth(token)
                    .header("idempotency-key", format!("rush-{i}"))
                    .json(&json!({"items": [{"ticket_type_id": ticket_type, "quantity": 1}]}))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or_default();
                (
                    status,
                    body["code"].as_str().unwrap_or_default().to_string(),
                )
            }
        }))
        .buffer_unordered(64)
        .collect()
        .await;
    let held = answers.iter().filter(|(s, _)| *s == 201).count();
    let sold_out = answers
        .iter()
        .filter(|(s, c)| *s == 409 && c == "sold_out")
        .count();
    assert_eq!(
        (held, sold_out),
        (100, 400),
        "{:?}",
        answers
            .iter()
            .filter(|(s, _)| *s != 201 && *s != 409)
            .take(5)
            .collect::<Vec<_>>()
    );
    let (event_sold, per_type) = seats(&w, &id).await;
    assert_eq!(event_sold, 100);
    assert_eq!(per_type.iter().sum::<i32>(), 100);
    let db = w.app.db.admin().await;
    let (tickets, quota): (i64, i32) = {
        let t = db
            .query_one(
                "SELECT count(*), (SELECT sold FROM events.quotas WHERE event_id = $1) FROM events.tickets
                 WHERE event_id = $1 AND state = 'held' AND payable_id IN (SELECT id FROM payments.payables)",
                &[&uuid::Uuid::parse_str(&id).unwrap()],
            )
            .await
            .unwrap();
        (t.get(0), t.get(1))
    };
    assert_eq!(
        (tickets, quota),
        (100, 100),
        "every held ticket has its payable; the quota is exactly full"
    );
}
