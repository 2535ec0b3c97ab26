//! The notifier, black-box: synthetic events of catalogued types published on the real RabbitMQ
//! (as producers' MQTT publishes arrive: `amq.topic`, routing key `<prefix>.<type>`), the real
//! `nexgate-notifier` binary, the real `notifications` database.

use std::time::{Duration, Instant};

use nexgate_tests::notify::{count, envelope, notifications_db, wait_count, Bus};
use nexgate_tests::{Manifest, TestApp};
use serde_json::json;
use tokio_postgres::Client;
use uuid::Uuid;

async fn start(app: &TestApp) -> (Bus, Client, nexgate_tests::Worker) {
    app.declare_queues("infra/subscriptions.toml");
    let notifier = app.notifier();
    (Bus::open(app).await, notifications_db(app).await, notifier)
}

#[tokio::test]
async fn events_become_grouped_in_app_notifications_once_each() {
    let app = TestApp::start(Manifest::App).await;
    let (bus, db, _notifier) = start(&app).await;
    let author = Uuid::now_v7();
    let post = Uuid::now_v7();
    let likers: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut first = None;
    for liker in &likers {
        let e = envelope(
            "social.post.liked",
            Some(*liker),
            &[author],
            json!({"post_id": post, "author_id": author, "liker_id": liker}),
        );
        bus.publish(&e).await;
        first.get_or_insert(e);
    }
    // The same event delivered again (at least once in): notified once.
    bus.publish(first.as_ref().unwrap()).await;
    // A second like from the first liker does not count them twice.
    bus.publish(&envelope(
        "social.post.liked",
        Some(likers[0]),
        &[author],
        json!({"post_id": post, "author_id": author, "liker_id": likers[0]}),
    ))
    .await;
    // A follow is its own notification; a payment failure is critical.
    bus.publish(&envelope(
        "profiles.follow.created",
        Some(likers[1]),
        &[author],
        json!({"follower_id": likers[1], "followee_id": author}),
    ))
    .await;
    bus.publish(&envelope(
        "payments.payment.failed",
        None,
        &[author],
        json!({"intent_id": Uuid::now_v7(), "payable_id": Uuid::now_v7(), "payer_id": author, "owner_service": "commerce",
               "reference": "o-1", "amount": 100_000, "currency": "TZS", "code": "1032", "reason": "Request cancelled by user"}),
    ))
    .await;
    // A type without a template is acked and recorded as skipped.
    bus.publish(&envelope(
        "profiles.profile.updated",
        Some(author),
        &[author],
        json!({"user_id": author, "fields": ["bio"]}),
    ))
    .await;

    wait_count(
        &db,
        "SELECT count(*) FROM notifications.processed_events",
        7,
    )
    .await;
    // Events are handled by several workers at once, so the order is fixed here, not by arrival.
    let rows = db
        .query(
            "SELECT event_type, category, cardinality(actors)::int8, title, body FROM notifications.items WHERE user_id = $1 ORDER BY category = 'critical', event_type DESC",
            &[&author],
        )
        .await
        .unwrap();
    let items: Vec<(String, String, i64, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        (items[0].0.as_str(), items[0].2),
        ("social.post.liked", 3),
        "three likers, one row: {items:?}"
    );
    assert_eq!(items[1].0, "profiles.follow.created");
    assert_eq!(
        (items[2].1.as_str(), items[2].4.as_str()),
        ("critical", "Request cancelled by user")
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM notifications.processed_events WHERE outcome = 'skipped'"
        )
        .await,
        1
    );
    // One in-app delivery per event that notified (4 likes, the follow, the payment; the
    // duplicate made none).
    assert_eq!(count(&db, "SELECT count(*) FROM notifications.deliveries WHERE channel = 'in_app' AND status = 'delivered'").await, 6);
}

#[tokio::test]
async fn malformed_events_are_dead_lettered_with_the_reason_and_the_notifier_goes_on() {
    let app = TestApp::start(Manifest::App).await;
    let (bus, db, _notifier) = start(&app).await;
    let user = Uuid::now_v7();
    bus.publish_raw("social.post.liked", b"{ not json").await;
    let mut missing = envelope(
        "social.post.liked",
        None,
        &[user],
        json!({"post_id": Uuid::now_v7()}),
    );
    missing["data"].as_object_mut().unwrap().remove("liker_id");
    bus.publish(&missing).await;
    bus.publish(&envelope(
        "profiles.follow.created",
        None,
        &[user],
        json!({"follower_id": Uuid::now_v7(), "followee_id": user}),
    ))
    .await;
    wait_count(&db, "SELECT count(*) FROM notifications.items", 1).await;
    let dead = bus.wait_dead_letters(2).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|(_, a)| a.contains("not an event envelope")),
        "{dead:?}"
    );
    assert!(
        dead.iter()
            .any(|(_, a)| a.contains("author_id") || a.contains("liker_id")),
        "{dead:?}"
    );
}

#[tokio::test]
async fn a_secret_in_clear_or_sealed_to_another_key_is_dead_lettered_and_never_sent() {
    let app = TestApp::start(Manifest::App).await;
    let (bus, db, _notifier) = start(&app).await;
    let code = |address: &str| {
        envelope(
            "auth.verification_code.issued",
            None,
            &[],
            json!({"purpose": "registration", "channel": "email", "address": address,
                   "code": "771204", "expires_at": "2026-12-31T00:00:00Z"}),
        )
    };
    // In clear (as a forged or outdated producer would send it).
    bus.publish_unsealed(&code("clear@example.com")).await;
    // Sealed, but to a key that is not the notifier's.
    let (_, stranger) = nexgate_events::sealed::generate_key_pair();
    let mut foreign = code("foreign@example.com");
    nexgate_events::sealed::SealingKey::parse(&stranger)
        .unwrap()
        .seal_secrets("auth.verification_code.issued", &mut foreign["data"])
        .unwrap();
    bus.publish_unsealed(&foreign).await;
    let dead = bus.wait_dead_letters(2).await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter().any(|(_, a)| a.contains("must arrive sealed")),
        "{dead:?}"
    );
    assert!(dead.iter().any(|(_, a)| a.contains("no key")), "{dead:?}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM notifications.deliveries").await,
        0,
        "nothing was sent"
    );
}

#[tokio::test]
async fn killing_the_notifier_mid_stream_loses_and_repeats_nothing() {
    let app = TestApp::start(Manifest::App).await;
    let (bus, db, notifier) = start(&app).await;
    let followee = Uuid::now_v7();
    // 300 followers of 300 different users (no grouping), published at once.
    for _ in 0..300 {
        let who = Uuid::now_v7();
        bus.publish(&envelope(
            "profiles.follow.created",
            Some(Uuid::now_v7()),
            &[who],
            json!({"follower_id": followee, "followee_id": who}),
        ))
        .await;
    }
    // Kill it while it works through them, then start a new one.
    let start = Instant::now();
    while count(&db, "SELECT count(*) FROM notifications.processed_events").await < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the notifier did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(notifier);
    let done_before = count(&db, "SELECT count(*) FROM notifications.processed_events").await;
    assert!(
        done_before < 300,
        "killed too late to prove anything ({done_before})"
    );
    let _again = app.notifier();
    wait_count(
        &db,
        "SELECT count(*) FROM notifications.processed_events",
        300,
    )
    .await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM notifications.items").await,
        300,
        "none lost, none twice"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM notifications.deliveries WHERE channel = 'in_app'"
        )
        .await,
        300
    );
}

#[tokio::test]
async fn likes_handled_at_once_fold_into_one_group_without_losing_an_actor() {
    let app = TestApp::start(Manifest::App).await;
    let (bus, db, _notifier) = start(&app).await;
    let author = Uuid::now_v7();
    let post = Uuid::now_v7();
    // Published in one burst: the notifier's workers race to open and fold the same group.
    for _ in 0..60 {
        let liker = Uuid::now_v7();
        bus.publish(&envelope(
            "social.post.liked",
            Some(liker),
            &[author],
            json!({"post_id": post, "author_id": author, "liker_id": liker}),
        ))
        .await;
    }
    wait_count(
        &db,
        "SELECT count(*) FROM notifications.processed_events",
        60,
    )
    .await;
    assert_eq!(
        count(&db, "SELECT count(*) FROM notifications.items").await,
        1,
        "one group"
    );
    assert_eq!(
        count(
            &db,
            "SELECT cardinality(actors)::bigint FROM notifications.items"
        )
        .await,
        60,
        "every liker counted once"
    );
    assert!(bus.dead_letters().await.is_empty());
}

/// Every event meant for a user reaches the notifier and becomes a notification: a failed upload
/// (the notifier is bound to `files.file.failed` only, not to the media worker's jobs), a linked
/// sign-in method, a dispute (payer and payee) and a cancelled order (buyer and seller).
#[tokio::test]
async fn files_failures_links_disputes_and_cancellations_are_notified() {
    let app = TestApp::start(Manifest::App).await;
    let (bus, db, _notifier) = start(&app).await;
    let (owner, payer, payee) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let file = Uuid::now_v7();
    bus.publish(&envelope(
        "files.file.failed",
        Some(owner),
        &[owner],
        json!({"file_id": file, "owner_id": owner, "purpose": "post", "reason": "the video is longer than 600 s"}),
    ))
    .await;
    bus.publish(&envelope(
        "files.media_job.requested",
        Some(owner),
        &[],
        json!({"job": "transcode_video", "job_id": Uuid::now_v7(), "file_id": file, "owner_id": owner}),
    ))
    .await;
    bus.publish(&envelope(
        "auth.identity.linked",
        Some(owner),
        &[owner],
        json!({"user_id": owner, "provider": "google", "email": "amina@example.com"}),
    ))
    .await;
    bus.publish(&envelope(
        "payments.dispute.opened",
        None,
        &[payer, payee],
        json!({"dispute_id": Uuid::now_v7(), "payable_id": Uuid::now_v7(), "owner_service": "commerce",
               "reference": "order-1", "payee_id": payee, "payer_id": payer, "reason": "not as described"}),
    ))
    .await;
    bus.publish(&envelope(
        "commerce.order.cancelled",
        Some(payer),
        &[payer, payee],
        json!({"order_id": Uuid::now_v7(), "seller_id": payee, "buyer_id": payer, "cancelled_by": "buyer"}),
    ))
    .await;
    wait_count(
        &db,
        "SELECT count(*) FROM notifications.items WHERE event_type IN \
         ('files.file.failed', 'auth.identity.linked', 'payments.dispute.opened', 'commerce.order.cancelled')",
        6,
    )
    .await;
    let body: String = db
        .query_one(
            "SELECT body FROM notifications.items WHERE event_type = 'files.file.failed' AND user_id = $1",
            &[&owner],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        body, "the video is longer than 600 s",
        "the reason the user sees"
    );
    // The media worker's job is not for the notifier: its queue is not even bound to it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM notifications.processed_events WHERE event_type = 'files.media_job.requested'"
        )
        .await,
        0
    );
}
