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
}
