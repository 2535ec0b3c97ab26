//! Event ticketing, first part (docs/ticketing.md), black-box through the real host and
//! Postgres: the draft wizard (one draft per organizer, each step checked, publishing checks
//! them all again), ticket types, and who may see what.

use nexgate_tests::auth::{call, sign_up, Answer, User};
use nexgate_tests::{Manifest, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

async fn as_user(
    app: &TestApp,
    user: &User,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    call(app, method, path, body, Some(&user.access_token)).await
}

/// The field a 422 names.
fn field(a: &Answer) -> String {
    a.body["errors"][0]["field"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Two festival days a month from now, as RFC 3339 (UTC).
fn festival_days() -> Value {
    let day = |offset_days: i64, hour: i64| {
        let secs = nexgate_platform::time::now_unix().0 + offset_days * 86_400;
        let midnight = secs - secs % 86_400;
        let (s, n) = (midnight + hour * 3600, 0);
        nexgate_platform::time::rfc3339(s, n)
    };
    json!([
        {"starts_at": day(30, 14), "ends_at": day(30, 22)},
        {"starts_at": day(31, 14), "ends_at": day(31, 22)},
    ])
}

#[tokio::test]
async fn an_organizer_writes_one_draft_step_by_step_and_publishes_it() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let amina = sign_up(&app, &mut observer).await;
    let juma = sign_up(&app, &mut observer).await;

    let draft = as_user(
        &app,
        &amina,
        Method::POST,
        "/events",
        Some(json!({"title": "Sauti za Busara"})),
    )
    .await;
    assert_eq!(
        (draft.status, draft.body["status"].as_str()),
        (201, Some("draft")),
        "{draft}"
    );
    let id = draft.body["id"].as_str().unwrap().to_string();
    let second = as_user(&app, &amina, Method::POST, "/events", None).await;
    assert_eq!(
        (second.status, second.code()),
        (409, "draft_open"),
        "{second}"
    );
    assert!(
        second.body["detail"].as_str().unwrap().contains(&id),
        "names the open draft: {second}"
    );

    // Nobody else sees, edits or publishes the draft.
    let path = format!("/events/{id}");
    for (method, p) in [
        (Method::GET, path.clone()),
        (Method::PATCH, path.clone()),
        (Method::POST, format!("{path}/publish")),
        (Method::DELETE, path.clone()),
    ] {
        let a = as_user(&app, &juma, method.clone(), &p, Some(json!({}))).await;
        assert_eq!(a.status, 404, "{method} {p}: {a}");
    }

    // Each step is checked as it is written, and a refused step changes nothing.
    for (body, bad) in [
        (json!({"title": "x"}), "title"),
        (json!({"category": "rodeo"}), "category"),
        (json!({"mode": "hybrid"}), "mode"),
        (
            json!({"online_url": "http://stream.example/x"}),
            "online_url",
        ),
        (json!({"time_zone": "Nairobi"}), "time_zone"),
        (json!({"capacity": 0}), "capacity"),
        (json!({"days": []}), "days"),
        (
            json!({"days": [{"starts_at": "2020-01-01T10:00:00Z", "ends_at": "2020-01-01T12:00:00Z"}]}),
            "days[0].starts_at",
        ),
        (
            json!({"days": [{"starts_at": "2030-01-01T10:00:00Z", "ends_at": "2030-01-01T09:00:00Z"}]}),
            "days[0].ends_at",
        ),
    ] {
        let a = as_user(&app, &amina, Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!((a.status, field(&a)), (422, bad.to_string()), "{body}: {a}");
    }
    let unchanged = as_user(&app, &amina, Method::GET, &path, None).await;
    assert_eq!(unchanged.body["title"], "Sauti za Busara", "{unchanged}");

    // Publishing an incomplete draft names the step.
    let early = as_user(&app, &amina, Method::POST, &format!("{path}/publish"), None).await;
    assert_eq!(
        (early.status, early.code(), field(&early)),
        (422, "step_incomplete", "category".to_string()),
        "{early}"
    );

    for body in [
        json!({"description": "Music of Africa, Stone Town", "category": "music"}),
        json!({"days": festival_days(), "time_zone": "Africa/Dar_es_Salaam"}),
        json!({"mode": "in_person", "venue_name": "Old Fort", "address": "Mizingani Rd, Stone Town", "region": "Zanzibar", "capacity": 3000}),
    ] {
        let a = as_user(&app, &amina, Method::PATCH, &path, Some(body)).await;
        assert_eq!(a.status, 200, "{a}");
    }
    let no_tickets = as_user(&app, &amina, Method::POST, &format!("{path}/publish"), None).await;
    assert_eq!(
        (no_tickets.status, field(&no_tickets)),
        (422, "ticket_types".to_string()),
        "{no_tickets}"
    );

    let types = format!("{path}/ticket-types");
    for (body, bad) in [
        (
            json!({"name": "Free", "kind": "free", "price": 1000, "quantity": 10}),
            "price",
        ),
        (
            json!({"name": "Day", "kind": "paid", "price": 0, "quantity": 10}),
            "price",
        ),
        (
            json!({"name": "Day", "kind": "paid", "price": 2550, "quantity": 10}),
            "price",
        ),
        (
            json!({"name": "Day", "kind": "paid", "price": -500, "quantity": 10}),
            "price",
        ),
        (
            json!({"name": "Day", "kind": "paid", "price": 2500000, "quantity": 0}),
            "quantity",
        ),
        (
            json!({"name": "Early", "kind": "early_bird", "price": 1500000, "quantity": 100}),
            "sales_end",
        ),
        (
            json!({"name": "Day", "kind": "paid", "price": 2500000, "quantity": 10, "days": [1, 1]}),
            "days",
        ),
        (
            json!({"name": "Day", "kind": "ticket", "price": 2500000, "quantity": 10}),
            "kind",
        ),
    ] {
        let a = as_user(&app, &amina, Method::POST, &types, Some(body.clone())).await;
        assert_eq!((a.status, field(&a)), (422, bad.to_string()), "{body}: {a}");
    }
    let day_three = as_user(
        &app,
        &amina,
        Method::POST,
        &types,
        Some(
            json!({"name": "Day 3", "kind": "paid", "price": 2500000, "quantity": 10, "days": [3]}),
        ),
    )
    .await;
    assert_eq!(day_three.status, 201, "{day_three}");
    let wrong_day = as_user(&app, &amina, Method::POST, &format!("{path}/publish"), None).await;
    assert_eq!(
        (wrong_day.status, field(&wrong_day)),
        (422, "ticket_types[0].days".to_string()),
        "{wrong_day}"
    );
    let bad_type = day_three.body["ticket_types"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let removed = as_user(
        &app,
        &amina,
        Method::DELETE,
        &format!("{types}/{bad_type}"),
        None,
    )
    .await;
    assert_eq!(removed.status, 204, "{removed}");
    let by_juma = as_user(
        &app,
        &juma,
        Method::POST,
        &types,
        Some(json!({"name": "Mine", "kind": "free", "quantity": 5})),
    )
    .await;
    assert_eq!(by_juma.status, 404, "{by_juma}");
    for body in [
        json!({"name": "Free entry (day 1)", "kind": "free", "quantity": 500, "days": [1]}),
        json!({"name": "Festival pass", "kind": "vip", "price": 12000000, "perks": "Front stage, lounge", "quantity": 200, "max_per_order": 4}),
    ] {
        let a = as_user(&app, &amina, Method::POST, &types, Some(body)).await;
        assert_eq!(a.status, 201, "{a}");
    }

    let published = as_user(&app, &amina, Method::POST, &format!("{path}/publish"), None).await;
    assert_eq!(
        (published.status, published.body["status"].as_str()),
        (200, Some("published")),
        "{published}"
    );
    let pass = &published.body["ticket_types"][1];
    assert_eq!(
        (
            pass["availability"].as_str(),
            pass["available"].as_i64(),
            pass["price"].as_i64()
        ),
        (Some("on_sale"), Some(200), Some(12_000_000)),
        "{published}"
    );
    assert_eq!(published.body["days"].as_array().map(Vec::len), Some(2));

    // Now public; no longer a draft, so the organizer may open a new one.
    let seen = as_user(&app, &juma, Method::GET, &path, None).await;
    assert_eq!(
        (seen.status, seen.body["title"].as_str()),
        (200, Some("Sauti za Busara")),
        "{seen}"
    );
    let edit = as_user(
        &app,
        &amina,
        Method::PATCH,
        &path,
        Some(json!({"title": "Renamed"})),
    )
    .await;
    assert_eq!((edit.status, edit.code()), (409, "not_a_draft"), "{edit}");
    let next = as_user(&app, &amina, Method::POST, "/events", None).await;
    assert_eq!(next.status, 201, "{next}");
    let discard = as_user(
        &app,
        &amina,
        Method::DELETE,
        &format!("/events/{}", next.body["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(discard.status, 204, "{discard}");
    let categories = as_user(&app, &juma, Method::GET, "/events/categories", None).await;
    assert!(
        categories.body["items"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["slug"] == "music")),
        "{categories}"
    );
}

/// An online event's link is the organizer's to see (ticket holders get it once tickets exist).
#[tokio::test]
async fn an_online_events_link_is_not_shown_to_the_public() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let host = sign_up(&app, &mut observer).await;
    let viewer = sign_up(&app, &mut observer).await;
    let draft = as_user(&app, &host, Method::POST, "/events", Some(json!({
        "title": "Rust in Dar", "category": "education", "mode": "online", "online_platform": "Jitsi",
        "online_url": "https://meet.example/rust-dar-8f2k", "days": [festival_days()[0].clone()],
    }))).await;
    assert_eq!(draft.status, 201, "{draft}");
    let id = draft.body["id"].as_str().unwrap();
    let t = as_user(
        &app,
        &host,
        Method::POST,
        &format!("/events/{id}/ticket-types"),
        Some(json!({"name": "Seat", "kind": "free", "quantity": 100})),
    )
    .await;
    assert_eq!(t.status, 201, "{t}");
    let p = as_user(
        &app,
        &host,
        Method::POST,
        &format!("/events/{id}/publish"),
        None,
    )
    .await;
    assert_eq!(p.status, 200, "{p}");
    assert_eq!(
        p.body["online"]["url"],
        "https://meet.example/rust-dar-8f2k"
    );
    let public = as_user(&app, &viewer, Method::GET, &format!("/events/{id}"), None).await;
    assert_eq!(
        (public.status, &public.body["online"]["url"]),
        (200, &Value::Null),
        "{public}"
    );
    assert!(!public.to_string().contains("rust-dar-8f2k"), "{public}");

    // A holder finds the link in the ticket the moment it is issued; the event never carries it.
    let seat = public.body["ticket_types"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let o = order(
        &app,
        &viewer,
        id,
        "seat-1",
        json!([{"ticket_type_id": seat, "quantity": 1}]),
    )
    .await;
    assert_eq!(o.status, 201, "{o}");
    let ticket = as_user(
        &app,
        &viewer,
        Method::GET,
        &format!(
            "/events/tickets/{}",
            o.body["tickets"][0]["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(
        ticket.body["online"]["url"], "https://meet.example/rust-dar-8f2k",
        "{ticket}"
    );
    let (_, purchased) = observer
        .wait_for(std::time::Duration::from_secs(10), |key, _| {
            key.ends_with(".events.ticket.purchased")
        })
        .await
        .expect("events.ticket.purchased");
    assert!(
        !purchased.to_string().contains("rust-dar-8f2k"),
        "{purchased}"
    );
}

/// A published two-day event whose first day's doors are open now (it starts within the hour),
/// with a pass for every day (`pass_quantity`) and a day-2 ticket; answers (event id, pass type,
/// day-2 type).
async fn event_open_now(
    app: &TestApp,
    organizer: &User,
    pass_quantity: i64,
) -> (String, String, String) {
    let now = nexgate_platform::time::now_unix().0;
    let at = |secs: i64| nexgate_platform::time::rfc3339(secs, 0);
    let draft = as_user(app, organizer, Method::POST, "/events", Some(json!({
        "title": "Kilimanjaro Jazz", "category": "music", "mode": "in_person", "venue_name": "Hall A",
        "address": "Moshi Rd 1", "region": "Arusha", "capacity": 1000,
        "days": [{"starts_at": at(now + 3600), "ends_at": at(now + 9 * 3600)},
                 {"starts_at": at(now + 25 * 3600), "ends_at": at(now + 33 * 3600)}],
    }))).await;
    assert_eq!(draft.status, 201, "{draft}");
    let id = draft.body["id"].as_str().unwrap().to_string();
    for body in [
        json!({"name": "Pass", "kind": "free", "quantity": pass_quantity, "max_per_order": 5}),
        json!({"name": "Day 2", "kind": "free", "quantity": 50, "days": [2]}),
    ] {
        let a = as_user(
            app,
            organizer,
            Method::POST,
            &format!("/events/{id}/ticket-types"),
            Some(body),
        )
        .await;
        assert_eq!(a.status, 201, "{a}");
    }
    let published = as_user(
        app,
        organizer,
        Method::POST,
        &format!("/events/{id}/publish"),
        None,
    )
    .await;
    assert_eq!(published.status, 200, "{published}");
    let types = &published.body["ticket_types"];
    (
        id,
        types[0]["id"].as_str().unwrap().to_string(),
        types[1]["id"].as_str().unwrap().to_string(),
    )
}

async fn order(app: &TestApp, user: &User, event: &str, key: &str, items: Value) -> Answer {
    let resp = app
        .http
        .post(app.url(&format!("/events/{event}/orders")))
        .bearer_auth(&user.access_token)
        .header("idempotency-key", key)
        .json(&json!({ "items": items }))
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

async fn qr_of(app: &TestApp, user: &User, ticket: &str) -> String {
    let t = as_user(
        app,
        user,
        Method::GET,
        &format!("/events/tickets/{ticket}"),
        None,
    )
    .await;
    assert_eq!(t.status, 200, "{t}");
    t.body["qr"].as_str().unwrap().to_string()
}

/// The ticket's PNG QR image, decoded back to its text.
async fn read_qr_png(app: &TestApp, user: &User, ticket: &str) -> String {
    let resp = app
        .http
        .get(app.url(&format!("/events/tickets/{ticket}/qr.png")))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = image::load_from_memory(&resp.bytes().await.unwrap())
        .expect("a PNG")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        png.width() as usize,
        png.height() as usize,
        |x, y| png.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("a readable QR code").1
}

async fn scan(app: &TestApp, user: &User, event: &str, qr: &str, nonce: &str) -> Answer {
    as_user(
        app,
        user,
        Method::POST,
        &format!("/events/{event}/checkins"),
        Some(json!({"qr": qr, "nonce": nonce, "gate": "North"})),
    )
    .await
}

/// Free tickets: taken exactly (a retried order is the same order), signed by events-signing
/// with the key the published JWKS verifies, shown to their holder only; checked in once a day by
/// someone with a role on the event, with the reason codes for everything else.
#[tokio::test]
async fn free_tickets_are_signed_and_checked_in_once_a_day() {
    let app = TestApp::start(Manifest::App).await;
    app.declare_queues("infra/subscriptions.toml");
    let _dispatcher = app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "infra/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    );
    let _notifier = app.notifier();
    // Check-in events reach the bus through the relay (docs/ticketing.md).
    let _relay = app.worker(
        "relay",
        &["--interval-ms", "200", "--stale-after-ms", "300"],
    );
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let other = sign_up(&app, &mut observer).await;
    let (event, pass, day_two) = event_open_now(&app, &organizer, 3).await;

    let first = order(
        &app,
        &fan,
        &event,
        "o-1",
        json!([{"ticket_type_id": pass, "quantity": 2, "attendees": ["Neema"]}]),
    )
    .await;
    assert_eq!(
        (first.status, first.body["tickets"].as_array().map(Vec::len)),
        (201, Some(2)),
        "{first}"
    );
    let again = order(
        &app,
        &fan,
        &event,
        "o-1",
        json!([{"ticket_type_id": pass, "quantity": 2, "attendees": ["Neema"]}]),
    )
    .await;
    assert_eq!(
        (again.status, &again.body["tickets"]),
        (201, &first.body["tickets"]),
        "a retry is the same order: {again}"
    );
    let too_many = order(
        &app,
        &other,
        &event,
        "o-2",
        json!([{"ticket_type_id": pass, "quantity": 2}]),
    )
    .await;
    assert_eq!(
        (too_many.status, too_many.code()),
        (409, "sold_out"),
        "{too_many}"
    );
    for (items, bad) in [
        (json!([]), "items"),
        (
            json!([{"ticket_type_id": pass, "quantity": 0}]),
            "items[0].quantity",
        ),
        (
            json!([{"ticket_type_id": pass, "quantity": 6}]),
            "items[0].quantity",
        ),
        (
            json!([{"ticket_type_id": uuid::Uuid::now_v7().to_string(), "quantity": 1}]),
            "items[0].ticket_type_id",
        ),
    ] {
        let a = order(&app, &other, &event, &format!("bad-{bad}"), items).await;
        assert_eq!((a.status, field(&a)), (422, bad.to_string()), "{a}");
    }
    let last = order(&app, &other, &event, "o-3", json!([{"ticket_type_id": pass, "quantity": 1}, {"ticket_type_id": day_two, "quantity": 1}])).await;
    assert_eq!(last.status, 201, "{last}");
    let page = as_user(&app, &other, Method::GET, &format!("/events/{event}"), None).await;
    assert_eq!(
        (
            page.body["ticket_types"][0]["available"].as_i64(),
            page.body["ticket_types"][0]["availability"].as_str()
        ),
        (Some(0), Some("sold_out")),
        "{page}"
    );

    // The ticket: its holder's only; the QR fits the budget and verifies with the published keys.
    let ticket = first.body["tickets"][0]["id"].as_str().unwrap();
    let qr = qr_of(&app, &fan, ticket).await;
    assert!(qr.starts_with("NXT1:") && qr.len() <= 600, "{qr}");
    assert_eq!(
        read_qr_png(&app, &fan, ticket).await,
        qr,
        "the PNG reads back as the ticket"
    );
    let svg = app
        .http
        .get(app.url(&format!("/events/tickets/{ticket}/qr.svg")))
        .bearer_auth(&fan.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    let stranger = as_user(
        &app,
        &other,
        Method::GET,
        &format!("/events/tickets/{ticket}"),
        None,
    )
    .await;
    assert_eq!(stranger.status, 404, "{stranger}");
    let keys = app
        .http
        .get(app.url("/events/keys"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let claims = nexgate_ticketing::qr::TicketVerifier::from_jwks(&keys)
        .unwrap()
        .verify(&qr)
        .expect("verifies");
    assert_eq!(claims.ticket_id.to_string(), ticket);
    assert_eq!(claims.event_id.to_string(), event);

    // Check-in: only with a role on the event; once a day; the same nonce answers the same.
    let no_role = scan(&app, &fan, &event, &qr, "n-0").await;
    assert_eq!(no_role.status, 404, "{no_role}");
    let ok = scan(&app, &organizer, &event, &qr, "n-1").await;
    assert_eq!(
        (
            ok.status,
            ok.body["result"].as_str(),
            ok.body["day"].as_i64()
        ),
        (200, Some("ok"), Some(1)),
        "{ok}"
    );
    let twice = scan(&app, &organizer, &event, &qr, "n-2").await;
    assert_eq!(
        (twice.body["result"].as_str(), twice.body["gate"].as_str()),
        (Some("already_checked_in"), Some("North")),
        "{twice}"
    );
    let replay = scan(&app, &organizer, &event, &qr, "n-1").await;
    assert_eq!(replay.body, ok.body, "the same nonce, the first answer");
    let day_two_ticket = last.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let mut results = Vec::new();
    for t in &day_two_ticket {
        let q = qr_of(&app, &other, t).await;
        results.push(
            scan(&app, &organizer, &event, &q, &format!("n-{t}"))
                .await
                .body["result"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    results.sort();
    assert_eq!(
        results,
        ["ok", "wrong_day"],
        "the pass gets in on day 1, the day-2 ticket does not"
    );
    // Altered, foreign and other-event tickets.
    let mut altered: Vec<char> = qr.chars().collect();
    altered[30] = if altered[30] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    assert_eq!(
        scan(&app, &organizer, &event, &altered, "n-3").await.body["result"],
        "invalid"
    );
    assert_eq!(
        scan(&app, &organizer, &event, "NXT1:AAAA", "n-4")
            .await
            .body["result"],
        "invalid"
    );
    let (elsewhere, _, _) = event_open_now(&app, &organizer, 3).await;
    assert_eq!(
        scan(&app, &organizer, &elsewhere, &qr, "n-5").await.body["result"],
        "wrong_event"
    );

    // The holder hears of the tickets and of the admission in the notification centre; the bus
    // carries ids and times, never a QR or a code.
    let notes = nexgate_tests::notify::notifications_db(&app).await;
    for event_type in ["events.ticket.purchased", "events.ticket.checked_in"] {
        let sql = format!(
            "SELECT count(*) FROM notifications.items WHERE user_id = '{}' AND event_type = '{event_type}'",
            fan.user_id
        );
        let seen = nexgate_tests::eventually(std::time::Duration::from_secs(20), || async {
            (nexgate_tests::notify::count(&notes, &sql).await > 0).then_some(())
        })
        .await;
        assert!(seen.is_some(), "{event_type} reached the holder");
    }
    let (_, checked_in) = observer
        .wait_for(std::time::Duration::from_secs(10), |key, e| {
            key.ends_with(".events.ticket.checked_in") && e["data"]["ticket_id"] == ticket
        })
        .await
        .expect("events.ticket.checked_in on the bus");
    assert_eq!(checked_in["data"]["method"], "app");
    assert!(
        !checked_in.to_string().contains(&qr[5..40]),
        "no QR on the bus"
    );
}

/// Ten scanners presenting one ticket at once: exactly one `ok`.
#[tokio::test]
async fn ten_scanners_at_once_admit_a_ticket_exactly_once() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 10).await;
    let o = order(
        &app,
        &fan,
        &event,
        "k",
        json!([{"ticket_type_id": pass, "quantity": 1}]),
    )
    .await;
    let qr = qr_of(&app, &fan, o.body["tickets"][0]["id"].as_str().unwrap()).await;
    let scans = (0..10).map(|i| {
        let (app, organizer, event, qr) = (&app, &organizer, event.clone(), qr.clone());
        async move { scan(app, organizer, &event, &qr, &format!("s-{i}")).await }
    });
    let answers = futures::future::join_all(scans).await;
    let oks = answers.iter().filter(|a| a.body["result"] == "ok").count();
    let already = answers
        .iter()
        .filter(|a| a.body["result"] == "already_checked_in")
        .count();
    let shown: Vec<String> = answers.iter().map(ToString::to_string).collect();
    assert_eq!((oks, already), (1, 9), "{shown:?}");
}

/// Thirty buyers at once for ten seats: exactly ten tickets, twenty clear refusals, no 5xx.
#[tokio::test]
async fn thirty_buyers_at_once_for_ten_seats_get_exactly_ten_tickets() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 10).await;
    let mut buyers = Vec::new();
    for s in nexgate_tests::auth::seed_users(&app, 30, "seat") {
        let a =
            nexgate_tests::auth::log_in(&app, &s.email, nexgate_tests::auth::PASSWORD, "d").await;
        buyers.push(a.body["access_token"].as_str().unwrap().to_string());
    }
    let orders = buyers.iter().enumerate().map(|(i, token)| {
        let (app, event, pass) = (&app, event.clone(), pass.clone());
        async move {
            let resp = app
                .http
                .post(app.url(&format!("/events/{event}/orders")))
                .bearer_auth(token)
                .header("idempotency-key", format!("b-{i}"))
                .json(&json!({"items": [{"ticket_type_id": pass, "quantity": 1}]}))
                .send()
                .await
                .unwrap();
            Answer::from_response(resp).await
        }
    });
    let answers = futures::future::join_all(orders).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    let shown: Vec<String> = answers.iter().map(ToString::to_string).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        10,
        "{shown:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        20,
        "{shown:?}"
    );
    let db = app.db.admin().await;
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM events.tickets WHERE event_id = $1::text::uuid),
                (SELECT sold FROM events.ticket_types WHERE id = $2::text::uuid)::bigint,
                (SELECT sold FROM events.events WHERE id = $1::text::uuid)::bigint",
            &[&event, &pass],
        )
        .await
        .unwrap();
    let (tickets, sold, event_sold): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((tickets, sold, event_sold), (10, 10, 10));
}

/// A ticket's manual code checks it in when the QR will not scan (case and dashes forgiven); a
/// wrong code is `unknown`; a malformed one is a 422; past 10 tries a minute a scanner is refused
/// with 429 (guessing a 50-bit code).
#[tokio::test]
async fn manual_codes_check_in_and_guessing_is_limited() {
    let app = TestApp::start(Manifest::App).await;
    let _relay = app.worker(
        "relay",
        &["--interval-ms", "200", "--stale-after-ms", "300"],
    );
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 5).await;
    let o = order(
        &app,
        &fan,
        &event,
        "k",
        json!([{"ticket_type_id": pass, "quantity": 1}]),
    )
    .await;
    let ticket = o.body["tickets"][0]["id"].as_str().unwrap();
    let shown = as_user(
        &app,
        &fan,
        Method::GET,
        &format!("/events/tickets/{ticket}"),
        None,
    )
    .await;
    let code = shown.body["code"].as_str().unwrap().to_string();
    assert_eq!((code.len(), &code[5..6]), (11, "-"), "{shown}");
    let typed = |code: String, nonce: String| {
        let (app, organizer, event) = (&app, &organizer, event.clone());
        async move {
            as_user(
                app,
                organizer,
                Method::POST,
                &format!("/events/{event}/checkins"),
                Some(json!({"code": code, "nonce": nonce})),
            )
            .await
        }
    };
    let bad = typed("ABC".into(), "m-0".into()).await;
    assert_eq!(
        (bad.status, field(&bad)),
        (422, "code".to_string()),
        "{bad}"
    );
    let both = as_user(
        &app,
        &organizer,
        Method::POST,
        &format!("/events/{event}/checkins"),
        Some(json!({"code": code, "qr": "NXT1:x", "nonce": "m-x"})),
    )
    .await;
    assert_eq!(both.status, 422, "{both}");
    let ok = typed(code.to_lowercase().replace('-', " "), "m-1".into()).await;
    assert_eq!(
        (
            ok.status,
            ok.body["result"].as_str(),
            ok.body["ticket_id"].as_str()
        ),
        (200, Some("ok"), Some(ticket)),
        "{ok}"
    );
    for i in 2..=10 {
        let wrong = typed("00000-00000".into(), format!("m-{i}")).await;
        assert_eq!(
            (wrong.status, wrong.body["result"].as_str()),
            (200, Some("unknown")),
            "{wrong}"
        );
    }
    let limited = typed("00000-00000".into(), "m-11".into()).await;
    assert_eq!(limited.status, 429, "{limited}");
    let (_, checked_in) = observer
        .wait_for(std::time::Duration::from_secs(10), |key, e| {
            key.ends_with(".events.ticket.checked_in") && e["data"]["ticket_id"] == ticket
        })
        .await
        .expect("events.ticket.checked_in on the bus");
    assert_eq!(checked_in["data"]["method"], "manual");
    assert!(
        !checked_in.to_string().contains(&code[..5]),
        "no code on the bus"
    );
}

/// The owner gives a checker the door (by username, with a recent sign-in) and takes it back;
/// nobody else can, and a checker cannot hand out roles.
#[tokio::test]
async fn an_owner_adds_and_removes_a_checker_who_checks_tickets_in_meanwhile() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let checker = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 5).await;
    let o = order(
        &app,
        &fan,
        &event,
        "k",
        json!([{"ticket_type_id": pass, "quantity": 2}]),
    )
    .await;
    let roles = format!("/events/{event}/roles");
    let before = scan(&app, &checker, &event, "NXT1:x", "c-0").await;
    assert_eq!(before.status, 404, "no role yet: {before}");
    let by_fan = as_user(
        &app,
        &fan,
        Method::POST,
        &roles,
        Some(json!({"username": checker.username, "role": "checker"})),
    )
    .await;
    assert_eq!(by_fan.status, 404, "{by_fan}");
    let bad = as_user(
        &app,
        &organizer,
        Method::POST,
        &roles,
        Some(json!({"username": checker.username, "role": "owner"})),
    )
    .await;
    assert_eq!(
        (bad.status, field(&bad)),
        (422, "role".to_string()),
        "{bad}"
    );
    let nobody = as_user(
        &app,
        &organizer,
        Method::POST,
        &roles,
        Some(json!({"username": "no_such_person_x", "role": "checker"})),
    )
    .await;
    assert_eq!(
        (nobody.status, field(&nobody)),
        (422, "username".to_string()),
        "{nobody}"
    );
    let added = as_user(
        &app,
        &organizer,
        Method::POST,
        &roles,
        Some(json!({"username": checker.username, "role": "checker"})),
    )
    .await;
    assert_eq!(added.status, 201, "{added}");
    let qr = qr_of(&app, &fan, o.body["tickets"][0]["id"].as_str().unwrap()).await;
    let admitted = scan(&app, &checker, &event, &qr, "c-1").await;
    assert_eq!(admitted.body["result"], "ok", "{admitted}");
    let listed = as_user(&app, &organizer, Method::GET, &roles, None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(2),
        "owner and checker: {listed}"
    );
    let not_manager = as_user(&app, &checker, Method::GET, &roles, None).await;
    assert_eq!(
        not_manager.status, 404,
        "a checker does not see the roles: {not_manager}"
    );
    let by_checker = as_user(
        &app,
        &checker,
        Method::POST,
        &roles,
        Some(json!({"username": fan.username, "role": "checker"})),
    )
    .await;
    assert_eq!(by_checker.status, 404, "{by_checker}");
    let removed = as_user(
        &app,
        &organizer,
        Method::DELETE,
        &format!("{roles}/{}", checker.user_id),
        None,
    )
    .await;
    assert_eq!(removed.status, 204, "{removed}");
    let qr2 = qr_of(&app, &fan, o.body["tickets"][1]["id"].as_str().unwrap()).await;
    let after = scan(&app, &checker, &event, &qr2, "c-2").await;
    assert_eq!(after.status, 404, "the role is gone: {after}");
}

async fn as_device(app: &TestApp, credential: &str, path: &str, body: Value) -> Answer {
    let resp = app
        .http
        .post(app.url(path))
        .header("authorization", format!("Device {credential}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    Answer::from_response(resp).await
}

/// How each admission of `event` was recorded: (ticket, method, device?, gate).
async fn admissions(app: &TestApp, event: &str) -> Vec<(String, String, bool, Option<String>)> {
    app.db
        .admin()
        .await
        .query(
            "SELECT c.ticket_id::text, c.method, c.device_id IS NOT NULL, c.gate FROM events.checkins c
             JOIN events.tickets t ON t.id = c.ticket_id WHERE t.event_id = $1::text::uuid ORDER BY c.at",
            &[&event],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Scanner machines and kiosks: registered by the owner (credential shown once, never listed),
/// limited to their event, recorded as their method and gate; a kiosk cannot upload or read
/// lists; offline scans are applied in scan-time order, once per nonce, and a ticket admitted
/// elsewhere is flagged; a revoked device is refused at once.
#[tokio::test]
async fn devices_check_in_with_their_own_credential_and_offline_scans_flag_conflicts() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let other = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 20).await;
    let (elsewhere, _, _) = event_open_now(&app, &other, 5).await;
    let o = order(
        &app,
        &fan,
        &event,
        "d-1",
        json!([{"ticket_type_id": pass, "quantity": 3}]),
    )
    .await;
    assert_eq!(o.status, 201, "{o}");
    let mut qrs = Vec::new();
    for t in o.body["tickets"].as_array().unwrap() {
        qrs.push(qr_of(&app, &fan, t["id"].as_str().unwrap()).await);
    }
    let ids: Vec<String> = o.body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();

    let devices = format!("/events/{event}/devices");
    let register = |body: Value| {
        let (app, organizer, devices) = (&app, &organizer, &devices);
        async move { as_user(app, organizer, Method::POST, devices, Some(body)).await }
    };
    let bad = register(json!({"name": "Gate", "kind": "turnstile"})).await;
    assert_eq!(
        (bad.status, field(&bad)),
        (422, "kind".to_string()),
        "{bad}"
    );
    let stranger = as_user(
        &app,
        &fan,
        Method::POST,
        &devices,
        Some(json!({"name": "Mine", "kind": "scanner"})),
    )
    .await;
    assert_eq!(stranger.status, 404, "{stranger}");
    let scanner =
        register(json!({"name": "North scanner", "kind": "scanner", "gate": "North"})).await;
    assert_eq!(scanner.status, 201, "{scanner}");
    let scanner_key = scanner.body["credential"].as_str().unwrap().to_string();
    assert!(scanner_key.starts_with("nxd_") && scanner_key.len() == 47);
    let kiosk = register(json!({"name": "Lobby kiosk", "kind": "kiosk"})).await;
    let kiosk_key = kiosk.body["credential"].as_str().unwrap().to_string();
    let listed = as_user(&app, &organizer, Method::GET, &devices, None).await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert!(
        !listed.to_string().contains(&scanner_key[4..20]),
        "credentials are shown once only"
    );

    // Each device checks in on its own event only, recorded with its method and gate.
    let checkins = format!("/events/{event}/checkins");
    let a = as_device(
        &app,
        &scanner_key,
        &checkins,
        json!({"qr": qrs[0], "nonce": "s-1", "gate": "South"}),
    )
    .await;
    assert_eq!(a.body["result"], "ok", "{a}");
    assert_eq!(a.body["gate"], "North", "the device's own gate wins");
    let b = as_device(
        &app,
        &kiosk_key,
        &checkins,
        json!({"qr": qrs[1], "nonce": "k-1"}),
    )
    .await;
    assert_eq!(b.body["result"], "ok", "{b}");
    let wrong = as_device(
        &app,
        &scanner_key,
        &format!("/events/{elsewhere}/checkins"),
        json!({"qr": qrs[2], "nonce": "s-2"}),
    )
    .await;
    assert_eq!(wrong.status, 404, "{wrong}");
    let forged = as_device(
        &app,
        &format!("nxd_{}", "A".repeat(43)),
        &checkins,
        json!({"qr": qrs[2], "nonce": "s-3"}),
    )
    .await;
    assert_eq!(
        (forged.status, forged.code()),
        (401, "invalid_device"),
        "{forged}"
    );
    let kiosk_upload = as_device(
        &app,
        &kiosk_key,
        &format!("{checkins}/offline"),
        json!({"scans": [{"qr": qrs[2], "nonce": "k-2", "scanned_at": nexgate_platform::time::rfc3339(nexgate_platform::time::now_unix().0 - 60, 0)}]}),
    )
    .await;
    assert_eq!(kiosk_upload.status, 403, "{kiosk_upload}");
    let kiosk_list = app
        .http
        .get(app.url(&format!("/events/{event}/revocations")))
        .header("authorization", format!("Device {kiosk_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        kiosk_list.status(),
        401,
        "a device reads no list through the API"
    );

    // Offline: applied in scan time order; ticket 2 was admitted by the kiosk, so the scanner's
    // offline admission of it is a conflict; ticket 1 again at the same device is a plain repeat.
    let ago =
        |secs: i64| nexgate_platform::time::rfc3339(nexgate_platform::time::now_unix().0 - secs, 0);
    let upload = json!({"scans": [
        {"qr": qrs[1], "nonce": "off-2", "scanned_at": ago(60)},
        {"qr": qrs[2], "nonce": "off-1", "scanned_at": ago(600)},
        {"qr": qrs[0], "nonce": "off-3", "scanned_at": ago(30)},
        {"qr": "NXT1:forged", "nonce": "off-4", "scanned_at": ago(20)},
    ]});
    let up = as_device(
        &app,
        &scanner_key,
        &format!("{checkins}/offline"),
        upload.clone(),
    )
    .await;
    assert_eq!(up.status, 200, "{up}\n{}", app.host.log());
    let results: Vec<(String, String, bool)> = up.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["nonce"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
                r["conflict"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let expected: Vec<(String, String, bool)> = [
        ("off-1", "ok", false),
        ("off-2", "already_checked_in", true),
        ("off-3", "already_checked_in", false),
        ("off-4", "invalid", false),
    ]
    .iter()
    .map(|(n, r, c)| (n.to_string(), r.to_string(), *c))
    .collect();
    assert_eq!(results, expected, "{up}");
    let again = as_device(&app, &scanner_key, &format!("{checkins}/offline"), upload).await;
    assert_eq!(again.body, up.body, "an upload retried answers the same");
    let db = app.db.admin().await;
    let conflicts: i64 = db
        .query_one(
            "SELECT count(*) FROM events.checkin_conflicts WHERE event_id = $1::text::uuid",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(conflicts, 1, "flagged once");
    let mut recorded = admissions(&app, &event).await;
    recorded.sort();
    let mut want = vec![
        (
            ids[0].clone(),
            "scanner".to_string(),
            true,
            Some("North".to_string()),
        ),
        (ids[1].clone(), "kiosk".to_string(), true, None),
        (
            ids[2].clone(),
            "scanner".to_string(),
            true,
            Some("North".to_string()),
        ),
    ];
    want.sort();
    assert_eq!(recorded, want);

    // Revoked: refused at once.
    let device_id = scanner.body["id"].as_str().unwrap();
    let revoked = as_user(
        &app,
        &organizer,
        Method::DELETE,
        &format!("{devices}/{device_id}"),
        None,
    )
    .await;
    assert_eq!(revoked.status, 204, "{revoked}");
    let after = as_device(
        &app,
        &scanner_key,
        &checkins,
        json!({"qr": qrs[0], "nonce": "s-9"}),
    )
    .await;
    assert_eq!(
        (after.status, after.code()),
        (401, "invalid_device"),
        "{after}"
    );
}

async fn attendees(app: &TestApp, event: &str, user: &User, query: &str) -> Answer {
    let path = format!("/events/{event}/attendees{query}");
    as_user(app, user, Method::GET, &path, None).await
}

/// Attendees: owners see holders and codes, checkers names and states only, others nothing;
/// search by name or code, filters, pages and per-day counts; the CSV download streams every
/// attendee with formula cells neutralised, to owners and managers only.
#[tokio::test]
async fn organizers_list_search_and_export_attendees_and_checkers_see_less() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let checker = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 10).await;
    let added = as_user(
        &app,
        &organizer,
        Method::POST,
        &format!("/events/{event}/roles"),
        Some(json!({"username": checker.username, "role": "checker"})),
    )
    .await;
    assert_eq!(added.status, 201, "{added}");
    let o = order(
        &app,
        &fan,
        &event,
        "att-1",
        json!([{"ticket_type_id": pass, "quantity": 3, "attendees": ["=SUM(1+1)", "Neema Juma", "Baraka"]}]),
    )
    .await;
    assert_eq!(o.status, 201, "{o}");
    let first = o.body["tickets"][0]["id"].as_str().unwrap().to_string();
    let baraka = o.body["tickets"][2]["id"].as_str().unwrap().to_string();
    let baraka_code = as_user(
        &app,
        &fan,
        Method::GET,
        &format!("/events/tickets/{baraka}"),
        None,
    )
    .await
    .body["code"]
        .as_str()
        .unwrap()
        .to_string();
    let qr = qr_of(&app, &fan, &first).await;
    assert_eq!(
        scan(&app, &organizer, &event, &qr, "a-1").await.body["result"],
        "ok"
    );

    let all = attendees(&app, &event, &organizer, "").await;
    assert_eq!(all.status, 200, "{all}\n{}", app.host.log());
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(3), "{all}");
    assert_eq!(all.body["counts"]["tickets"], 3);
    assert_eq!(
        all.body["counts"]["checked_in_per_day"],
        json!([{"day": 1, "checked_in": 1}, {"day": 2, "checked_in": 0}])
    );
    assert_eq!(all.body["items"][0]["checked_in_days"], json!([1]));
    assert!(
        all.body["items"][0]["code"].is_string()
            && all.body["items"][0]["holder"]["id"] == fan.user_id.as_str()
    );
    for (query, names) in [
        ("?q=neema", vec!["Neema Juma"]),
        ("?q=Neema+Juma", vec!["Neema Juma"]),
        (
            &format!("?q={}", baraka_code.to_lowercase()) as &str,
            vec!["Baraka"],
        ),
        ("?checked_in=true", vec!["=SUM(1+1)"]),
        ("?checked_in=false", vec!["Neema Juma", "Baraka"]),
        (&format!("?ticket_type_id={pass}&q=%25") as &str, vec![]),
    ] {
        let a = attendees(&app, &event, &organizer, query).await;
        let got: Vec<&str> = a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names, "{query}: {a}");
    }
    let page1 = attendees(&app, &event, &organizer, "?limit=2").await;
    let cursor = page1.body["next_cursor"].as_str().expect("a second page");
    let page2 = attendees(
        &app,
        &event,
        &organizer,
        &format!("?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(page2.body["items"][0]["name"], "Baraka", "{page2}");
    assert!(page2.body["next_cursor"].is_null());
    let bad = attendees(&app, &event, &organizer, "?checked_in=maybe").await;
    assert_eq!(
        (bad.status, field(&bad)),
        (422, "checked_in".to_string()),
        "{bad}"
    );

    // A checker sees names and states only; a holder sees no list at all.
    let door = attendees(&app, &event, &checker, "").await;
    assert_eq!(door.status, 200, "{door}");
    let row = &door.body["items"][0];
    assert!(row["code"].is_null() && row["holder"].is_null(), "{door}");
    assert_eq!(attendees(&app, &event, &fan, "").await.status, 404);

    // The CSV: every attendee, formulas neutralised; owners and managers only.
    let csv = app
        .http
        .get(app.url(&format!("/events/{event}/attendees.csv")))
        .bearer_auth(&organizer.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("ticket_id,code,"));
    assert!(text.contains("\"'=SUM(1+1)\""), "{text}");
    assert!(text.contains(&format!("\"{baraka_code}\"")), "{text}");
    let by_checker = app
        .http
        .get(app.url(&format!("/events/{event}/attendees.csv")))
        .bearer_auth(&checker.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(by_checker.status(), 404);
}

/// A published event is edited within rules: capacity never below the seats sold; new dates
/// (the same number of days) re-sign every ticket and tell holders with events.event.rescheduled.
#[tokio::test]
async fn a_published_event_is_edited_within_rules_and_holders_hear_of_new_dates() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let (event, pass, _) = event_open_now(&app, &organizer, 10).await;
    let o = order(
        &app,
        &fan,
        &event,
        "e-1",
        json!([{"ticket_type_id": pass, "quantity": 2}]),
    )
    .await;
    let ticket = o.body["tickets"][0]["id"].as_str().unwrap().to_string();
    let before = qr_of(&app, &fan, &ticket).await;
    let details = format!("/events/{event}/details");
    let low = as_user(
        &app,
        &organizer,
        Method::PATCH,
        &details,
        Some(json!({"capacity": 1})),
    )
    .await;
    assert_eq!(
        (low.status, field(&low)),
        (422, "capacity".to_string()),
        "{low}"
    );
    let renamed = as_user(
        &app,
        &organizer,
        Method::PATCH,
        &details,
        Some(json!({"title": "Kilimanjaro Jazz 2027", "capacity": 2})),
    )
    .await;
    assert_eq!(
        (renamed.status, renamed.body["title"].as_str()),
        (200, Some("Kilimanjaro Jazz 2027")),
        "{renamed}"
    );
    let by_fan = as_user(
        &app,
        &fan,
        Method::PATCH,
        &details,
        Some(json!({"title": "Mine now"})),
    )
    .await;
    assert_eq!(by_fan.status, 404);

    let reschedule = format!("/events/{event}/reschedule");
    let one_day = as_user(
        &app,
        &organizer,
        Method::POST,
        &reschedule,
        Some(json!({"days": [festival_days()[0]]})),
    )
    .await;
    assert_eq!(
        (one_day.status, field(&one_day)),
        (422, "days".to_string()),
        "{one_day}"
    );
    let moved = as_user(
        &app,
        &organizer,
        Method::POST,
        &reschedule,
        Some(json!({"days": festival_days()})),
    )
    .await;
    assert_eq!(moved.status, 200, "{moved}\n{}", app.host.log());
    assert_eq!(
        moved.body["days"][0]["starts_at"]
            .as_str()
            .map(|s| &s[..13]),
        festival_days()[0]["starts_at"].as_str().map(|s| &s[..13]),
        "{moved}"
    );
    assert!(
        moved.body["days"][0]["starts_local"]
            .as_str()
            .is_some_and(|t| t.ends_with("T17:00")),
        "14:00 UTC is 17:00 in Dar es Salaam: {moved}"
    );
    let (_, told) = observer
        .wait_for(std::time::Duration::from_secs(10), |key, e| {
            key.ends_with(".events.event.rescheduled") && e["data"]["event_id"] == event.as_str()
        })
        .await
        .expect("events.event.rescheduled");
    assert_eq!(told["audience"], json!([fan.user_id]), "{told}");
    let after = qr_of(&app, &fan, &ticket).await;
    assert_ne!(before, after, "signed again with the new validity");
}

/// Who `events.attendance` says goes to `event`.
async fn going(app: &TestApp, event: &str) -> Vec<String> {
    app.db
        .admin()
        .await
        .query(
            "SELECT user_id::text FROM events.attendance WHERE event_id = $1::text::uuid",
            &[&event],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// What other services and organizers read: the event card (what "click to book" needs), who is
/// going (without those who hide it: private accounts by default), unique page views and sales
/// for analytics; and account deletion is refused while tickets or events are upcoming, while a
/// user without them is erased (drafts discarded).
#[tokio::test]
async fn cards_attendance_analytics_and_deletion_blockers() {
    let app = TestApp::start(Manifest::App).await;
    app.declare_queues("infra/subscriptions.toml");
    let _dispatcher = app.worker(
        "dispatcher",
        &[
            "--subscriptions",
            "infra/subscriptions.toml",
            "--expires-ms",
            "600000",
        ],
    );
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let fan = sign_up(&app, &mut observer).await;
    let private = sign_up(&app, &mut observer).await;
    let viewer = sign_up(&app, &mut observer).await;
    let made_private = as_user(
        &app,
        &private,
        Method::PATCH,
        "/users/me",
        Some(json!({"is_private": true})),
    )
    .await;
    assert_eq!(made_private.status, 200, "{made_private}");
    let (event, pass, _) = event_open_now(&app, &organizer, 10).await;
    for user in [&fan, &viewer, &viewer, &organizer] {
        let seen = as_user(&app, user, Method::GET, &format!("/events/{event}"), None).await;
        assert_eq!(seen.status, 200);
    }
    for (user, key) in [(&fan, "f-1"), (&private, "p-1")] {
        let o = order(
            &app,
            user,
            &event,
            key,
            json!([{"ticket_type_id": pass, "quantity": 1}]),
        )
        .await;
        assert_eq!(o.status, 201, "{o}");
        if key == "f-1" {
            let qr = qr_of(&app, &fan, o.body["tickets"][0]["id"].as_str().unwrap()).await;
            assert_eq!(
                scan(&app, &organizer, &event, &qr, "c-1").await.body["result"],
                "ok"
            );
        }
    }

    // The organizer page: linked on the profile at the first publish, listing the event.
    let profile = nexgate_tests::eventually(std::time::Duration::from_secs(10), || async {
        let p = as_user(
            &app,
            &fan,
            Method::GET,
            &format!("/users/{}", organizer.user_id),
            None,
        )
        .await;
        (p.body["organizer_id"] == organizer.user_id.as_str()).then_some(p)
    })
    .await;
    assert!(
        profile.is_some(),
        "links.organizer_id on the profile\n{}",
        app.host.log()
    );
    let page = as_user(
        &app,
        &fan,
        Method::GET,
        &format!("/events/organizers/{}/events", organizer.user_id),
        None,
    )
    .await;
    assert_eq!(page.status, 200, "{page}");
    assert_eq!(
        (
            page.body["items"][0]["id"].as_str(),
            page.body["items"][0]["upcoming"].as_bool()
        ),
        (Some(event.as_str()), Some(true)),
        "{page}"
    );

    // The card, read as another service's role would (nexgate_services).
    let db = app.db.admin().await;
    let card = db
        .query_one(
            "SELECT title, seats_left, price_from, days, ticket_types->0->>'availability' FROM events.event_cards WHERE event_id = $1::text::uuid",
            &[&event],
        )
        .await
        .unwrap();
    let (title, seats_left, price_from, days, availability): (
        String,
        i32,
        Option<i64>,
        i32,
        String,
    ) = (
        card.get(0),
        card.get(1),
        card.get(2),
        card.get(3),
        card.get(4),
    );
    assert_eq!(
        (
            title.as_str(),
            seats_left,
            price_from,
            days,
            availability.as_str()
        ),
        ("Kilimanjaro Jazz", 58, Some(0), 2, "on_sale")
    );
    assert_eq!(
        going(&app, &event).await,
        vec![fan.user_id.clone()],
        "a private account hides its attendance"
    );
    let hide = as_user(
        &app,
        &fan,
        Method::PUT,
        "/events/settings/attendance",
        Some(json!({"hidden": true})),
    )
    .await;
    assert_eq!(
        (hide.status, &hide.body["chosen"]),
        (200, &json!(true)),
        "{hide}"
    );
    assert!(going(&app, &event).await.is_empty());
    let mine = as_user(
        &app,
        &private,
        Method::GET,
        "/events/settings/attendance",
        None,
    )
    .await;
    assert_eq!(mine.body, json!({"hidden": true, "chosen": false}));

    // Analytics: two unique viewers (the organizer is not counted), one of whom bought.
    let stats = as_user(
        &app,
        &organizer,
        Method::GET,
        &format!("/events/{event}/analytics"),
        None,
    )
    .await;
    assert_eq!(stats.status, 200, "{stats}\n{}", app.host.log());
    assert_eq!(stats.body["views"][0]["unique_viewers"], 2, "{stats}");
    let totals = &stats.body["totals"];
    assert_eq!(
        (
            &totals["tickets_sold"],
            &totals["conversion"],
            &totals["no_show_rate"]
        ),
        (&json!(2), &json!(0.5), &Value::Null),
        "{stats}"
    );
    assert_eq!(
        stats.body["checkins_per_day"],
        json!([{"day": 1, "checked_in": 1}])
    );
    assert_eq!(
        as_user(
            &app,
            &fan,
            Method::GET,
            &format!("/events/{event}/analytics"),
            None
        )
        .await
        .status,
        404
    );

    // Deletion: refused while tickets or events are upcoming; otherwise the account goes and its
    // draft with it.
    for (user, reason) in [
        (&fan, "events.tickets_to_upcoming_events"),
        (&organizer, "events.upcoming_events_as_organizer"),
    ] {
        let refused = as_user(&app, user, Method::DELETE, "/auth/account", None).await;
        assert_eq!(
            (refused.status, refused.code()),
            (409, "account_has_open_obligations"),
            "{refused}"
        );
        assert!(
            refused.body["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == reason),
            "{refused}"
        );
    }
    let draft = as_user(
        &app,
        &viewer,
        Method::POST,
        "/events",
        Some(json!({"title": "My own gig"})),
    )
    .await;
    assert_eq!(draft.status, 201, "{draft}");
    let gone = as_user(&app, &viewer, Method::DELETE, "/auth/account", None).await;
    assert_eq!(gone.status, 204, "{gone}");
    let erased = nexgate_tests::eventually(std::time::Duration::from_secs(20), || async {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM events.events WHERE organizer_id = $1::text::uuid",
                &[&viewer.user_id],
            )
            .await
            .unwrap()
            .get(0);
        (n == 0).then_some(())
    })
    .await;
    assert!(
        erased.is_some(),
        "the draft was discarded\n{}",
        app.host.log()
    );
}

async fn upload_image(app: &TestApp, user: &User, purpose: &str) -> String {
    let resp = app
        .http
        .post(app.url(&format!("/files?purpose={purpose}")))
        .bearer_auth(&user.access_token)
        .header("content-type", "image/jpeg")
        .body(nexgate_tests::files::jpeg(800, 450))
        .send()
        .await
        .unwrap();
    let a = Answer::from_response(resp).await;
    assert!(matches!(a.status, 200 | 201), "{a}");
    a.body["id"].as_str().unwrap().to_string()
}

/// The cover image is the organizer's own file uploaded for events, attached through the File
/// Manager; anyone else's file, or a file of another purpose, is a 422 naming the field; a new
/// cover replaces the old one, which is detached.
#[tokio::test]
async fn an_events_cover_is_the_organizers_own_event_image() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let organizer = sign_up(&app, &mut observer).await;
    let other = sign_up(&app, &mut observer).await;
    let draft = as_user(
        &app,
        &organizer,
        Method::POST,
        "/events",
        Some(json!({"title": "Zanzibar Film Week"})),
    )
    .await;
    let path = format!("/events/{}", draft.body["id"].as_str().unwrap());
    let theirs = upload_image(&app, &other, "event").await;
    let avatar = upload_image(&app, &organizer, "avatar").await;
    for file in [&theirs, &avatar] {
        let a = as_user(
            &app,
            &organizer,
            Method::PATCH,
            &path,
            Some(json!({"cover_file_id": file})),
        )
        .await;
        assert_eq!(
            (a.status, field(&a)),
            (422, "cover_file_id".to_string()),
            "{a}"
        );
    }
    let first = upload_image(&app, &organizer, "event").await;
    let set = as_user(
        &app,
        &organizer,
        Method::PATCH,
        &path,
        Some(json!({"cover_file_id": first})),
    )
    .await;
    assert_eq!(
        (set.status, set.body["cover_file_id"].as_str()),
        (200, Some(first.as_str())),
        "{set}\n{}",
        app.host.log()
    );
    let second = upload_image(&app, &organizer, "event").await;
    let replaced = as_user(
        &app,
        &organizer,
        Method::PATCH,
        &path,
        Some(json!({"cover_file_id": second})),
    )
    .await;
    assert_eq!(
        replaced.body["cover_file_id"].as_str(),
        Some(second.as_str())
    );
    let attached: Vec<String> = app
        .db
        .admin()
        .await
        .query("SELECT file_id::text FROM files.attachments WHERE service = 'events' AND object_type = 'event'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(attached, vec![second], "the old cover was detached");
}
