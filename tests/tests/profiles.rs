//! User profiles, black-box: profile reads and edits, follows (exact counts under concurrency),
//! private accounts' requests, blocks, mutes, relationships and lists.

use std::time::Duration;

use nexgate_tests::auth::{call, sign_up, Answer, User};
use nexgate_tests::{Manifest, TestApp};
use reqwest::Method;
use serde_json::json;

async fn get(app: &TestApp, user: &User, path: &str) -> Answer {
    call(app, Method::GET, path, None, Some(&user.access_token)).await
}

async fn act(app: &TestApp, user: &User, method: Method, path: &str) -> Answer {
    call(app, method, path, None, Some(&user.access_token)).await
}

async fn patch_me(app: &TestApp, user: &User, body: serde_json::Value) -> Answer {
    call(
        app,
        Method::PATCH,
        "/users/me",
        Some(body),
        Some(&user.access_token),
    )
    .await
}

async fn counts(app: &TestApp, user: &User) -> (i64, i64) {
    let me = get(app, user, "/users/me").await;
    (
        me.body["followers_count"].as_i64().unwrap(),
        me.body["following_count"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_profile_is_read_by_id_or_username_and_edited_field_by_field() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let amina = sign_up(&app, &mut events).await;
    let baraka = sign_up(&app, &mut events).await;
    let me = get(&app, &amina, "/users/me").await;
    assert_eq!(me.status, 200, "{me}\n{}", app.host.log());
    assert_eq!(me.body["id"], amina.user_id);
    assert_eq!(me.body["privacy"]["message_policy"], "everyone");

    let edited = patch_me(
        &app,
        &amina,
        json!({ "display_name": " Amina K. ", "bio": "Sells kitenge", "links": [{ "label": "shop", "url": "https://example.com/amina" }] }),
    )
    .await;
    assert_eq!(edited.status, 200, "{edited}");
    assert_eq!(edited.body["display_name"], "Amina K.");
    for path in [
        format!("/users/{}", amina.user_id),
        format!("/users/{}", amina.username.to_uppercase()),
    ] {
        let seen = get(&app, &baraka, &path).await;
        assert_eq!(seen.status, 200, "{path}: {seen}");
        assert_eq!(seen.body["bio"], "Sells kitenge");
        assert!(
            seen.body.get("privacy").is_none(),
            "privacy settings are the owner's"
        );
    }
    let (_, updated) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".profiles.profile.updated")
        })
        .await
        .expect("profiles.profile.updated");
    assert_eq!(updated["data"]["user_id"], amina.user_id);

    for (body, field) in [
        (json!({ "display_name": "" }), "display_name"),
        (json!({ "bio": "x".repeat(301) }), "bio"),
        (
            json!({ "links": [{ "label": "a", "url": "javascript:alert(1)" }] }),
            "links[0].url",
        ),
        (json!({ "message_policy": "friends" }), "message_policy"),
        (json!({ "is_private": "yes" }), "is_private"),
    ] {
        let a = patch_me(&app, &amina, body.clone()).await;
        assert_eq!(
            (a.status, a.body["errors"][0]["field"].as_str()),
            (422, Some(field)),
            "{body}: {a}"
        );
    }
    let unchanged = get(&app, &amina, "/users/me").await;
    assert_eq!(unchanged.body["display_name"], "Amina K.");
    assert_eq!(get(&app, &amina, "/users/nobody_here").await.status, 404);
    assert_eq!(
        call(&app, Method::GET, "/users/me", None, None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn follow_counts_stay_exact_after_100_concurrent_follow_and_unfollow_calls() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let star = sign_up(&app, &mut events).await;
    let mut fans = Vec::new();
    for _ in 0..4 {
        fans.push(sign_up(&app, &mut events).await);
    }
    let path = format!("/users/{}/follow", star.user_id);
    let calls = (0..100).map(|i| {
        let fan = &fans[i % fans.len()];
        let method = if (i / fans.len()) % 2 == 0 {
            Method::POST
        } else {
            Method::DELETE
        };
        let (app, path) = (&app, path.clone());
        async move { act(app, fan, method, &path).await.status }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Star follows everyone back at once too: lock ordering keeps this free of deadlocks.
    let back = fans.iter().map(|f| {
        let (app, star) = (&app, &star);
        let path = format!("/users/{}/follow", f.user_id);
        async move { act(app, star, Method::POST, &path).await }
    });
    assert!(futures::future::join_all(back)
        .await
        .iter()
        .all(|a| a.status == 200));

    let db = app.db.admin().await;
    let edges: i64 = db
        .query_one(
            "SELECT count(*) FROM profiles.follows WHERE followee_id = $1::text::uuid",
            &[&star.user_id],
        )
        .await
        .unwrap()
        .get(0);
    let (followers, following) = counts(&app, &star).await;
    assert_eq!((followers, following), (edges, 4));
    for fan in &fans {
        let (fan_followers, fan_following) = counts(&app, fan).await;
        let follows_star: i64 = db
            .query_one(
                "SELECT count(*) FROM profiles.follows WHERE follower_id = $1::text::uuid",
                &[&fan.user_id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!((fan_followers, fan_following), (1, follows_star));
    }
    let mismatched: i64 = db
        .query_one(
            "SELECT count(*) FROM profiles.profiles p WHERE followers_count <> \
             (SELECT count(*) FROM profiles.follows f WHERE f.followee_id = p.user_id) \
             OR following_count <> (SELECT count(*) FROM profiles.follows f WHERE f.follower_id = p.user_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatched, 0);
}

#[tokio::test]
async fn a_private_account_turns_follows_into_requests_it_can_approve_or_reject() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let owner = sign_up(&app, &mut events).await;
    let asker = sign_up(&app, &mut events).await;
    let rejected = sign_up(&app, &mut events).await;
    assert_eq!(
        patch_me(&app, &owner, json!({ "is_private": true }))
            .await
            .status,
        200
    );

    let follow_path = format!("/users/{}/follow", owner.user_id);
    let asked = act(&app, &asker, Method::POST, &follow_path).await;
    assert_eq!(
        (asked.status, &asked.body["requested"]),
        (202, &json!(true)),
        "{asked}"
    );
    let (_, req_event) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".profiles.follow_request.created")
        })
        .await
        .expect("follow request event");
    assert_eq!(req_event["audience"], json!([owner.user_id]));
    let hidden = get(&app, &asker, &format!("/users/{}/followers", owner.user_id)).await;
    assert_eq!((hidden.status, hidden.code()), (403, "list_hidden"));
    assert_eq!(
        act(&app, &rejected, Method::POST, &follow_path)
            .await
            .status,
        202
    );

    let pending = get(&app, &owner, "/users/me/follow-requests").await;
    assert_eq!(pending.status, 200, "{pending}");
    assert_eq!(pending.body["items"].as_array().unwrap().len(), 2);
    let approve = act(
        &app,
        &owner,
        Method::POST,
        &format!("/users/me/follow-requests/{}/approve", asker.user_id),
    )
    .await;
    assert_eq!(approve.status, 204, "{approve}");
    let reject = act(
        &app,
        &owner,
        Method::POST,
        &format!("/users/me/follow-requests/{}/reject", rejected.user_id),
    )
    .await;
    assert_eq!(reject.status, 204);
    assert_eq!(counts(&app, &owner).await, (1, 0));
    assert_eq!(
        get(&app, &asker, &format!("/users/{}/followers", owner.user_id))
            .await
            .status,
        200
    );
    let (_, approved) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".profiles.follow_request.approved")
        })
        .await
        .expect("approved event");
    assert_eq!(approved["audience"], json!([asker.user_id]));

    let again = act(&app, &rejected, Method::POST, &follow_path).await;
    assert_eq!(
        (again.status, again.code()),
        (429, "follow_request_rejected_recently"),
        "{again}"
    );
    let none = act(
        &app,
        &owner,
        Method::POST,
        &format!("/users/me/follow-requests/{}/approve", rejected.user_id),
    )
    .await;
    assert_eq!(none.status, 404);
}

#[tokio::test]
async fn a_block_removes_follows_both_ways_and_hides_each_from_the_other() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let a = sign_up(&app, &mut events).await;
    let b = sign_up(&app, &mut events).await;
    act(
        &app,
        &a,
        Method::POST,
        &format!("/users/{}/follow", b.user_id),
    )
    .await;
    act(
        &app,
        &b,
        Method::POST,
        &format!("/users/{}/follow", a.user_id),
    )
    .await;
    assert_eq!(counts(&app, &a).await, (1, 1));

    let blocked = act(
        &app,
        &a,
        Method::POST,
        &format!("/users/{}/block", b.user_id),
    )
    .await;
    assert_eq!(blocked.status, 204, "{blocked}");
    assert_eq!(counts(&app, &a).await, (0, 0));
    assert_eq!(counts(&app, &b).await, (0, 0));
    assert_eq!(
        get(&app, &b, &format!("/users/{}", a.user_id)).await.status,
        404
    );
    assert_eq!(
        get(&app, &b, &format!("/users/{}", a.username))
            .await
            .status,
        404
    );
    assert_eq!(
        get(&app, &a, &format!("/users/{}", b.user_id)).await.status,
        404
    );
    assert_eq!(
        act(
            &app,
            &b,
            Method::POST,
            &format!("/users/{}/follow", a.user_id)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        get(&app, &b, &format!("/users/{}/followers", a.user_id))
            .await
            .status,
        404
    );
    // Both follows ended before the block was recorded: announced to the services, nobody told.
    let mut ended = Vec::new();
    let (_, event) = events
        .wait_for(Duration::from_secs(10), |k, e| {
            if k.ends_with(".profiles.follow.deleted") {
                assert_eq!(e["audience"], json!([]));
                ended.push((
                    e["data"]["follower_id"].as_str().unwrap().to_string(),
                    e["data"]["reason"].as_str().unwrap().to_string(),
                ));
            }
            k.ends_with(".profiles.block.created")
        })
        .await
        .expect("block event");
    ended.sort();
    let mut expected = vec![
        (a.user_id.clone(), "blocked".to_string()),
        (b.user_id.clone(), "blocked".to_string()),
    ];
    expected.sort();
    assert_eq!(ended, expected);
    assert_eq!(
        event["audience"],
        json!([a.user_id]),
        "the blocked user is never told"
    );
    let view: i64 = app
        .db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM profiles.blocked_either_way WHERE user_a = $1::text::uuid AND user_b = $2::text::uuid",
            &[&b.user_id, &a.user_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(view, 1, "the published view sees it from both sides");
    for _ in 0..2 {
        // The second unblock finds no block: same answer, nothing announced.
        assert_eq!(
            act(
                &app,
                &a,
                Method::DELETE,
                &format!("/users/{}/block", b.user_id)
            )
            .await
            .status,
            204
        );
    }
    assert_eq!(
        get(&app, &b, &format!("/users/{}", a.user_id)).await.status,
        200
    );
    // Following again, then removed by the followed user, then again and unfollowing: each end
    // is announced with its reason.
    let follow_b = format!("/users/{}/follow", b.user_id);
    act(&app, &a, Method::POST, &follow_b).await;
    let removed = act(
        &app,
        &b,
        Method::DELETE,
        &format!("/users/me/followers/{}", a.user_id),
    )
    .await;
    assert_eq!(removed.status, 204, "{removed}");
    act(&app, &a, Method::POST, &follow_b).await;
    assert_eq!(act(&app, &a, Method::DELETE, &follow_b).await.status, 200);
    let later = events.drain(Duration::from_millis(1500)).await;
    let of = |suffix: &str| -> Vec<serde_json::Value> {
        later
            .iter()
            .filter(|(k, _)| k.ends_with(suffix))
            .map(|(_, body)| serde_json::from_slice::<serde_json::Value>(body).unwrap())
            .collect()
    };
    let unblocked = of(".profiles.block.deleted");
    assert_eq!(unblocked.len(), 1, "one unblock announced");
    assert_eq!(
        (
            unblocked[0]["data"]["blocker_id"].as_str(),
            unblocked[0]["data"]["blocked_id"].as_str(),
            unblocked[0]["audience"].clone()
        ),
        (
            Some(a.user_id.as_str()),
            Some(b.user_id.as_str()),
            json!([])
        )
    );
    let reasons: Vec<String> = of(".profiles.follow.deleted")
        .iter()
        .map(|e| e["data"]["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["removed", "unfollowed"]);
}

#[tokio::test]
async fn relationships_answer_every_button_for_a_mixed_set_of_ids() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let me = sign_up(&app, &mut events).await;
    let followed = sign_up(&app, &mut events).await;
    let fan = sign_up(&app, &mut events).await;
    let private = sign_up(&app, &mut events).await;
    let muted = sign_up(&app, &mut events).await;
    let blocker = sign_up(&app, &mut events).await;
    patch_me(&app, &private, json!({ "is_private": true })).await;
    act(
        &app,
        &me,
        Method::POST,
        &format!("/users/{}/follow", followed.user_id),
    )
    .await;
    act(
        &app,
        &fan,
        Method::POST,
        &format!("/users/{}/follow", me.user_id),
    )
    .await;
    act(
        &app,
        &me,
        Method::POST,
        &format!("/users/{}/follow", private.user_id),
    )
    .await;
    let mute = call(
        &app,
        Method::POST,
        &format!("/users/{}/mute", muted.user_id),
        Some(json!({ "duration_secs": 3600, "notifications": false })),
        Some(&me.access_token),
    )
    .await;
    assert_eq!(mute.status, 204, "{mute}");
    act(
        &app,
        &blocker,
        Method::POST,
        &format!("/users/{}/block", me.user_id),
    )
    .await;

    let unknown = uuid::Uuid::now_v7();
    let ids = [&followed, &fan, &private, &muted, &blocker]
        .iter()
        .map(|u| u.user_id.clone())
        .chain([unknown.to_string()])
        .collect::<Vec<_>>()
        .join(",");
    let r = get(&app, &me, &format!("/users/relationships?ids={ids}")).await;
    assert_eq!(r.status, 200, "{r}\n{}", app.host.log());
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "unknown ids are left out");
    let of = |u: &User| {
        items
            .iter()
            .find(|i| i["id"] == u.user_id.as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            of(&followed)["following"].clone(),
            of(&followed)["followed_by"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(of(&fan)["followed_by"], true);
    assert_eq!(
        (
            of(&private)["requested"].clone(),
            of(&private)["following"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(
        (
            of(&muted)["muting"].clone(),
            of(&muted)["muting_notifications"].clone()
        ),
        (json!(true), json!(false))
    );
    assert_eq!(
        (
            of(&blocker)["blocked_by"].clone(),
            of(&blocker)["blocking"].clone()
        ),
        (json!(true), json!(false))
    );

    let too_many = (0..101)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        get(&app, &me, &format!("/users/relationships?ids={too_many}"))
            .await
            .status,
        422
    );
    assert_eq!(
        get(&app, &me, "/users/relationships?ids=not-a-uuid")
            .await
            .status,
        422
    );
    assert_eq!(get(&app, &me, "/users/relationships").await.status, 422);
}

#[tokio::test]
async fn followers_lists_are_cursor_paginated_newest_first() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let star = sign_up(&app, &mut events).await;
    let mut fans = Vec::new();
    for _ in 0..3 {
        let fan = sign_up(&app, &mut events).await;
        act(
            &app,
            &fan,
            Method::POST,
            &format!("/users/{}/follow", star.user_id),
        )
        .await;
        fans.push(fan);
    }
    let first = get(
        &app,
        &fans[0],
        &format!("/users/{}/followers?limit=2", star.username),
    )
    .await;
    assert_eq!(first.status, 200, "{first}");
    let ids: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![fans[2].user_id.as_str(), fans[1].user_id.as_str()]
    );
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = get(
        &app,
        &fans[0],
        &format!("/users/{}/followers?limit=2&cursor={cursor}", star.user_id),
    )
    .await;
    assert_eq!(second.status, 200, "{second}\n{}", app.host.log());
    let ids: Vec<&str> = second.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![fans[0].user_id.as_str()]);
    assert!(second.body["next_cursor"].is_null());
    let following = get(
        &app,
        &star,
        &format!("/users/{}/following", fans[0].user_id),
    )
    .await;
    assert_eq!(following.body["items"][0]["id"], star.user_id);
    assert_eq!(
        get(&app, &star, "/users/me/followers?limit=0").await.status,
        422
    );
    assert_eq!(
        get(&app, &star, "/users/me/followers?cursor=garbage")
            .await
            .status,
        422
    );
    let removed = act(
        &app,
        &star,
        Method::DELETE,
        &format!("/users/me/followers/{}", fans[0].user_id),
    )
    .await;
    assert_eq!(removed.status, 204);
    assert_eq!(counts(&app, &star).await.0, 2);
}

#[tokio::test]
async fn only_operators_set_identity_or_business_and_every_change_is_audited() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let seller = sign_up(&app, &mut events).await;
    let mut operator = sign_up(&app, &mut events).await;
    let me = get(&app, &seller, "/users/me").await;
    assert_eq!(
        me.body["verification_level"], "contact",
        "a verified email gives contact"
    );

    let path = format!("/users/{}/verification", seller.user_id);
    let body = json!({ "level": "identity", "reason": "national id checked" });
    let denied = call(
        &app,
        Method::PUT,
        &path,
        Some(body.clone()),
        Some(&seller.access_token),
    )
    .await;
    assert_eq!((denied.status, denied.code()), (403, "role_required"));

    let out = std::process::Command::new(nexgate_tests::ops_bin())
        .args([
            "grant-role",
            "--user",
            &operator.user_id,
            "--role",
            "operator",
        ])
        .env("NEXGATE_ADMIN_DB_URL", app.db.url("nexgate_admin"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let refreshed = nexgate_tests::auth::post(
        &app,
        "/auth/refresh",
        json!({ "refresh_token": operator.refresh_token }),
    )
    .await;
    operator.access_token = refreshed.body["access_token"].as_str().unwrap().to_string();
    // The role alone is not enough: changing a level is sensitive, so it needs a fresh step-up.
    let without_step_up = call(
        &app,
        Method::PUT,
        &path,
        Some(body.clone()),
        Some(&operator.access_token),
    )
    .await;
    assert_eq!(
        (without_step_up.status, without_step_up.code()),
        (403, "step_up_required")
    );
    operator.access_token = nexgate_tests::auth::step_up(&app, &operator).await.0;

    let bad = call(
        &app,
        Method::PUT,
        &path,
        Some(json!({ "level": "gold", "reason": "x" })),
        Some(&operator.access_token),
    )
    .await;
    assert_eq!(bad.status, 422);
    let set = call(
        &app,
        Method::PUT,
        &path,
        Some(body),
        Some(&operator.access_token),
    )
    .await;
    assert_eq!(
        (set.status, &set.body["level"]),
        (200, &json!("identity")),
        "{set}\n{}",
        app.host.log()
    );
    assert_eq!(
        get(&app, &seller, &format!("/users/{}", seller.user_id))
            .await
            .body["verification_level"],
        "identity"
    );
    let (_, changed) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".profiles.verification.changed")
        })
        .await
        .expect("verification event");
    assert_eq!(changed["data"]["previous_level"], "contact");

    let reset = call(
        &app,
        Method::PUT,
        &path,
        Some(json!({ "level": "none", "reason": "document expired" })),
        Some(&operator.access_token),
    )
    .await;
    assert_eq!(reset.body["level"], "contact");
    let seen_by_operator = get(&app, &operator, &path).await;
    let audit = seen_by_operator.body["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["reason"], "document expired");
    assert_eq!(audit[1]["new_level"], "identity");
    let seen_by_user = get(&app, &seller, &path).await;
    assert!(
        seen_by_user.body.get("audit").is_none(),
        "the trail is for operators"
    );
}

#[tokio::test]
async fn a_renamed_user_keeps_the_old_name_for_a_while_and_waits_before_renaming_again() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let amina = sign_up(&app, &mut events).await;
    let other = sign_up(&app, &mut events).await;
    let rename = |user: &User, name: &str| {
        let (app, token, body) = (&app, user.access_token.clone(), json!({ "username": name }));
        async move {
            call(
                app,
                Method::PUT,
                "/users/me/username",
                Some(body),
                Some(&token),
            )
            .await
        }
    };
    let new_name = nexgate_tests::auth::unique_name("amina_");
    let done = rename(&amina, &new_name).await;
    assert_eq!(done.status, 200, "{done}\n{}", app.host.log());
    assert_eq!(done.body["previous_username"], amina.username);
    // The old name still leads to Amina, and nobody else may take it meanwhile.
    let old = get(&app, &other, &format!("/users/{}", amina.username)).await;
    assert_eq!((old.status, &old.body["username"]), (200, &json!(new_name)));
    let grab = rename(&other, &amina.username).await;
    assert_eq!(
        (grab.status, grab.code()),
        (409, "username_taken"),
        "{grab}"
    );
    let register = nexgate_tests::auth::post(
        &app,
        "/auth/register",
        json!({ "email": "late@example.com", "password": nexgate_tests::auth::PASSWORD, "username": amina.username, "display_name": "L" }),
    )
    .await;
    assert_eq!(
        register.status, 409,
        "held for its owner at registration too"
    );
    // A second change waits for the cooldown; case-only edits do not.
    let again = rename(&amina, "another_name_1").await;
    assert_eq!(
        (again.status, again.code()),
        (429, "username_change_too_soon"),
        "{again}"
    );
    assert!(again.headers.contains_key("retry-after"));
    let case_only = rename(&amina, &new_name.to_uppercase()).await;
    assert_eq!(case_only.status, 200, "{case_only}");
    for bad in ["support", "x", "bad name"] {
        assert_eq!(rename(&other, bad).await.status, 422, "{bad}");
    }
}

fn envelope(event_type: &str, data: serde_json::Value) -> serde_json::Value {
    json!({
        "id": uuid::Uuid::now_v7(),
        "type": event_type,
        "occurred_at": "2026-11-29T12:00:00.000Z",
        "actor": null,
        "subject": { "kind": "test", "id": "1" },
        "audience": [],
        "data": data,
        "version": 1
    })
}

async fn deliver(
    app: &TestApp,
    token: Option<&str>,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut req = app
        .http
        .post(app.url("/internal/profiles/events"))
        .json(body);
    if let Some(t) = token {
        req = req.header("x-internal-token", t);
    }
    let resp = req.send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_trust_score_moves_on_synthetic_events_and_counts_each_event_once() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let seller = sign_up(&app, &mut events).await;
    let buyer = sign_up(&app, &mut events).await;
    let token = app.profiles_internal_token.clone();
    let trust_path = format!("/users/{}/trust", seller.user_id);
    let start = get(&app, &buyer, &trust_path).await;
    assert_eq!(start.status, 200, "{start}\n{}", app.host.log());
    assert_eq!(start.body["badge"], "new");
    let start_score = start.body["score"].as_i64().unwrap();

    for _ in 0..6 {
        let e = envelope(
            "commerce.order.completed",
            json!({ "order_id": uuid::Uuid::now_v7(), "seller_id": seller.user_id, "buyer_id": buyer.user_id }),
        );
        assert_eq!(
            deliver(&app, Some(&token), &e).await,
            (200, json!({ "applied": true }))
        );
    }
    let review = envelope(
        "commerce.review.created",
        json!({ "review_id": uuid::Uuid::now_v7(), "seller_id": seller.user_id, "author_id": buyer.user_id, "rating": 5 }),
    );
    assert_eq!(
        deliver(&app, Some(&token), &review).await.1["applied"],
        true
    );
    assert_eq!(
        deliver(&app, Some(&token), &review).await.1["applied"],
        false,
        "a redelivery counts once"
    );
    let good = get(&app, &buyer, &trust_path).await;
    assert_eq!(good.body["counts"]["completed"], 6);
    assert_eq!(good.body["counts"]["ratings_count"], 1);
    assert_eq!(good.body["average_rating"], 5.0);
    assert_ne!(good.body["badge"], "new");
    let good_score = good.body["score"].as_i64().unwrap();
    assert!(good_score > start_score, "{start_score} -> {good_score}");

    for _ in 0..3 {
        let e = envelope(
            "payments.dispute.opened",
            json!({ "dispute_id": uuid::Uuid::now_v7(), "payee_id": seller.user_id, "payer_id": buyer.user_id }),
        );
        deliver(&app, Some(&token), &e).await;
    }
    let buyer_cancel = envelope(
        "commerce.order.cancelled",
        json!({ "order_id": uuid::Uuid::now_v7(), "seller_id": seller.user_id, "buyer_id": buyer.user_id, "cancelled_by": "buyer" }),
    );
    assert_eq!(
        deliver(&app, Some(&token), &buyer_cancel).await.1["applied"],
        false,
        "a buyer's cancellation is not the seller's fault"
    );
    let worse = get(&app, &buyer, &trust_path).await;
    assert_eq!(worse.body["counts"]["disputes"], 3);
    assert!(worse.body["score"].as_i64().unwrap() < good_score);

    assert_eq!(deliver(&app, None, &review).await.0, 401);
    assert_eq!(deliver(&app, Some(&"x".repeat(40)), &review).await.0, 403);
    let broken = envelope(
        "commerce.review.created",
        json!({ "review_id": uuid::Uuid::now_v7(), "seller_id": seller.user_id, "author_id": buyer.user_id, "rating": 9 }),
    );
    assert_eq!(
        deliver(&app, Some(&token), &broken).await.0,
        422,
        "malformed events go to the dead-letter queue"
    );
    let other = envelope(
        "profiles.follow.created",
        json!({ "follower_id": buyer.user_id, "followee_id": seller.user_id }),
    );
    assert_eq!(
        deliver(&app, Some(&token), &other).await,
        (
            200,
            json!({ "applied": false, "reason": "not a trust input" })
        )
    );
}

/// Publishes `e` on `amq.topic` as the broker user `user`; a refused publish is not an error here
/// (the broker closes the channel), the test looks at the effect.
async fn publish_as(app: &TestApp, user: &str, e: &serde_json::Value) {
    use lapin::options::BasicPublishOptions;
    let conn = lapin::Connection::connect(
        &app.env.amqp_url(user),
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let channel = conn.create_channel().await.unwrap();
    if let Ok(confirm) = channel
        .basic_publish(
            "amq.topic",
            &format!("{}.{}", app.prefix, e["type"].as_str().unwrap()),
            BasicPublishOptions::default(),
            &serde_json::to_vec(e).unwrap(),
            lapin::BasicProperties::default(),
        )
        .await
    {
        let _ = confirm.await;
    }
    let _ = conn.close(200, "done").await;
}

#[tokio::test]
async fn trust_events_arrive_through_the_dispatcher_only_from_their_producer() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let organizer = sign_up(&app, &mut events).await;
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
    let purchase = || {
        envelope(
            "events.event.completed",
            json!({ "event_id": uuid::Uuid::now_v7(), "organizer_id": organizer.user_id, "ended_at": "2026-12-01T22:00:00Z", "tickets": 10, "checked_in": 8, "payout_frozen": false }),
        )
    };
    // Forged: the profiles service's own broker user may not publish an events.* type.
    publish_as(&app, "nexgate-profiles", &purchase()).await;
    // Genuine: from the events service's user.
    publish_as(&app, "nexgate-events", &purchase()).await;
    let path = format!("/users/{}/trust", organizer.user_id);
    let counted = nexgate_tests::eventually(Duration::from_secs(45), || async {
        let t = get(&app, &organizer, &path).await;
        (t.body["counts"]["completed"] == 1).then_some(t)
    })
    .await;
    assert!(
        counted.is_some(),
        "the dispatcher delivered the event\n{}",
        app.host.log()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = get(&app, &organizer, &path).await;
    assert_eq!(
        t.body["counts"]["completed"], 1,
        "the forged event counted: {t}"
    );
}

#[tokio::test]
async fn the_shop_and_events_services_link_a_shop_and_an_organizer_page() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let seller = sign_up(&app, &mut events).await;
    let viewer = sign_up(&app, &mut events).await;
    let path = format!("/internal/profiles/users/{}/links", seller.user_id);
    let put = |token: String, body: serde_json::Value| {
        app.http
            .put(app.url(&path))
            .header("x-internal-token", token)
            .json(&body)
            .send()
    };
    let shop = uuid::Uuid::now_v7();
    let organizer = uuid::Uuid::now_v7();
    let forged = put(
        "not-the-profiles-token-at-all".into(),
        json!({ "shop_id": shop }),
    )
    .await
    .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let bad = put(
        app.profiles_internal_token.clone(),
        json!({ "shop_id": "not-a-uuid" }),
    )
    .await
    .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
    let linked = put(
        app.profiles_internal_token.clone(),
        json!({ "shop_id": shop, "organizer_id": organizer }),
    )
    .await
    .unwrap();
    assert_eq!(linked.status().as_u16(), 200);
    let seen = get(&app, &viewer, &format!("/users/{}", seller.username)).await;
    assert_eq!(seen.body["shop_id"], shop.to_string());
    assert_eq!(seen.body["organizer_id"], organizer.to_string());
    let updated = events
        .wait_for(Duration::from_secs(10), |k, v| {
            k.ends_with(".profiles.profile.updated")
                && v["data"]["fields"] == json!(["shop_id", "organizer_id"])
        })
        .await;
    assert!(
        updated.is_some(),
        "profiles.profile.updated was not published"
    );
    // Unlinking one leaves the other.
    let unlinked = put(
        app.profiles_internal_token.clone(),
        json!({ "shop_id": null }),
    )
    .await
    .unwrap();
    assert_eq!(unlinked.status().as_u16(), 200);
    let seen = get(&app, &viewer, &format!("/users/{}", seller.user_id)).await;
    assert!(seen.body["shop_id"].is_null());
    assert_eq!(seen.body["organizer_id"], organizer.to_string());
    let unknown = app
        .http
        .put(app.url(&format!(
            "/internal/profiles/users/{}/links",
            uuid::Uuid::now_v7()
        )))
        .header("x-internal-token", &app.profiles_internal_token)
        .json(&json!({ "shop_id": shop }))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}

/// The views and function profiles publishes for the business services, read as one of them
/// (`SET ROLE nexgate_commerce`, a member of nexgate_services): `follows(a, b)` and
/// `accepted_follows` see accepted follows only; `trust_scores` gives the score and badge the API
/// gives, over a grid of inputs (the SQL and the Rust formula are kept the same by this test).
#[tokio::test]
async fn the_published_follow_graph_and_trust_scores_agree_with_the_api() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let a = sign_up(&app, &mut events).await;
    let b = sign_up(&app, &mut events).await;
    let private = sign_up(&app, &mut events).await;
    patch_me(&app, &private, json!({ "is_private": true })).await;
    act(
        &app,
        &a,
        Method::POST,
        &format!("/users/{}/follow", b.user_id),
    )
    .await;
    let asked = act(
        &app,
        &a,
        Method::POST,
        &format!("/users/{}/follow", private.user_id),
    )
    .await;
    assert_eq!(asked.status, 202, "a request, not a follow: {asked}");

    let db = app.db.admin().await;
    db.batch_execute("SET ROLE nexgate_commerce").await.unwrap();
    let follows = |x: &User, y: &User| {
        let (x, y) = (x.user_id.clone(), y.user_id.clone());
        let db = &db;
        async move {
            db.query_one(
                "SELECT profiles.follows($1::text::uuid, $2::text::uuid)",
                &[&x, &y],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
        }
    };
    assert!(follows(&a, &b).await);
    assert!(!follows(&b, &a).await, "one way only");
    assert!(
        !follows(&a, &private).await,
        "a pending request is not a follow"
    );
    let followed: Vec<String> = db
        .query(
            "SELECT followee_id::text FROM profiles.accepted_follows WHERE follower_id = $1::text::uuid",
            &[&a.user_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(followed, std::slice::from_ref(&b.user_id));
    let hidden = db.query("SELECT count(*) FROM profiles.follows", &[]).await;
    assert!(hidden.is_err(), "the table behind the view is not granted");
    db.batch_execute("RESET ROLE").await.unwrap();

    // (completed, cancellations, refunds, disputes, ratings_count, ratings_sum, age_days)
    let grid: [(i32, i32, i32, i32, i32, i32, i32); 8] = [
        (0, 0, 0, 0, 0, 0, 0),
        (4, 0, 0, 0, 3, 15, 10),
        (5, 0, 0, 0, 5, 25, 400),
        (60, 1, 2, 0, 40, 190, 200),
        (200, 0, 0, 0, 150, 745, 900),
        (30, 5, 6, 4, 20, 45, 30),
        (12, 0, 1, 1, 12, 12, 90),
        (1000, 20, 10, 5, 800, 3600, 1500),
    ];
    for (completed, cancellations, refunds, disputes, count, sum, age) in grid {
        db.execute(
            "INSERT INTO profiles.trust_stats (user_id, completed, cancellations, refunds, disputes, ratings_count, ratings_sum) \
             VALUES ($1::text::uuid, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id) DO UPDATE SET completed = $2, cancellations = $3, refunds = $4, \
                 disputes = $5, ratings_count = $6, ratings_sum = $7",
            &[&b.user_id, &completed, &cancellations, &refunds, &disputes, &count, &sum],
        )
        .await
        .unwrap();
        db.execute(
            "UPDATE profiles.profiles SET created_at = now() - make_interval(days => $2) WHERE user_id = $1::text::uuid",
            &[&b.user_id, &age],
        )
        .await
        .unwrap();
        let api = get(&app, &a, &format!("/users/{}/trust", b.user_id)).await;
        assert_eq!(api.status, 200, "{api}");
        db.batch_execute("SET ROLE nexgate_commerce").await.unwrap();
        let row = db
            .query_one(
                "SELECT score, badge FROM profiles.trust_scores WHERE user_id = $1::text::uuid",
                &[&b.user_id],
            )
            .await
            .unwrap();
        db.batch_execute("RESET ROLE").await.unwrap();
        let view = (row.get::<_, i32>(0) as i64, row.get::<_, String>(1));
        assert_eq!(
            (
                api.body["score"].as_i64().unwrap(),
                api.body["badge"].as_str().unwrap().to_string()
            ),
            view,
            "inputs {:?}",
            (completed, cancellations, refunds, disputes, count, sum, age)
        );
    }
}

/// The caller's own block and mute lists (newest first, for them only); a mute with a duration
/// ends by itself; unblocking from the list; users blocked either way never appear in a list
/// shown to the viewer; `requested_by` says who asked to follow a private account.
#[tokio::test]
async fn blocks_and_mutes_are_listed_for_their_owner_and_a_mute_ends_by_itself() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let me = sign_up(&app, &mut events).await;
    let x = sign_up(&app, &mut events).await;
    let y = sign_up(&app, &mut events).await;
    let z = sign_up(&app, &mut events).await;
    let star = sign_up(&app, &mut events).await;
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    act(
        &app,
        &me,
        Method::POST,
        &format!("/users/{}/block", x.user_id),
    )
    .await;
    let muted = call(
        &app,
        Method::POST,
        &format!("/users/{}/mute", y.user_id),
        Some(json!({"duration_secs": 60})),
        Some(&me.access_token),
    )
    .await;
    assert_eq!(muted.status, 204, "{muted}");
    act(
        &app,
        &me,
        Method::POST,
        &format!("/users/{}/mute", z.user_id),
    )
    .await;
    let blocks = get(&app, &me, "/users/me/blocks").await;
    assert_eq!(blocks.status, 200, "{blocks}");
    assert_eq!(
        ids(&blocks.body),
        std::slice::from_ref(&x.user_id),
        "{blocks}"
    );
    let mutes = get(&app, &me, "/users/me/mutes").await;
    assert_eq!(ids(&mutes.body), [z.user_id.clone(), y.user_id.clone()]);
    // Nobody else reads them.
    assert_eq!(
        get(&app, &x, "/users/me/blocks").await.body["items"],
        json!([])
    );
    // The 60-second mute runs out (moved into the past here): it ends by itself.
    app.db
        .admin()
        .await
        .execute(
            "UPDATE profiles.mutes SET expires_at = now() - interval '1 second' \
             WHERE muted_id = $1::text::uuid",
            &[&y.user_id],
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&get(&app, &me, "/users/me/mutes").await.body),
        std::slice::from_ref(&z.user_id)
    );
    let rel = get(
        &app,
        &me,
        &format!("/users/relationships?ids={},{}", y.user_id, z.user_id),
    )
    .await;
    let muting: Vec<(String, bool)> = rel.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["muting"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(muting.contains(&(y.user_id.clone(), false)), "{rel}");
    assert!(muting.contains(&(z.user_id.clone(), true)), "{rel}");
    // Unblocked from the list.
    act(
        &app,
        &me,
        Method::DELETE,
        &format!("/users/{}/block", x.user_id),
    )
    .await;
    assert_eq!(
        get(&app, &me, "/users/me/blocks").await.body["items"],
        json!([])
    );

    // y and z follow the star; once y blocks me, y is not in the star's followers I see.
    for fan in [&y, &z] {
        act(
            &app,
            fan,
            Method::POST,
            &format!("/users/{}/follow", star.user_id),
        )
        .await;
    }
    let followers = format!("/users/{}/followers", star.user_id);
    let mut before = ids(&get(&app, &me, &followers).await.body);
    before.sort();
    let mut both = vec![y.user_id.clone(), z.user_id.clone()];
    both.sort();
    assert_eq!(before, both);
    act(
        &app,
        &y,
        Method::POST,
        &format!("/users/{}/block", me.user_id),
    )
    .await;
    assert_eq!(
        ids(&get(&app, &me, &followers).await.body),
        std::slice::from_ref(&z.user_id)
    );
    assert_eq!(
        ids(&get(&app, &star, &followers).await.body).len(),
        2,
        "others still see both"
    );

    // A private account sees who asked to follow it.
    patch_me(&app, &star, json!({ "is_private": true })).await;
    let asked = act(
        &app,
        &x,
        Method::POST,
        &format!("/users/{}/follow", star.user_id),
    )
    .await;
    assert_eq!(asked.status, 202, "{asked}");
    let rel = get(
        &app,
        &star,
        &format!("/users/relationships?ids={}", x.user_id),
    )
    .await;
    assert_eq!(rel.body["items"][0]["requested_by"], true, "{rel}");
    assert_eq!(rel.body["items"][0]["followed_by"], false);
}

/// Mentions in a bio: each newly mentioned user hears once (`profiles.mention.created`), never
/// the author, an unknown name, or someone blocked either way; editing the bio again announces
/// only the new mentions.
#[tokio::test]
async fn a_bio_mention_tells_each_newly_mentioned_user_once() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let author = sign_up(&app, &mut events).await;
    let friend = sign_up(&app, &mut events).await;
    let blocker = sign_up(&app, &mut events).await;
    let later = sign_up(&app, &mut events).await;
    act(
        &app,
        &blocker,
        Method::POST,
        &format!("/users/{}/block", author.user_id),
    )
    .await;
    let mentioned = |events: Vec<(String, Vec<u8>)>| -> Vec<String> {
        events
            .into_iter()
            .filter(|(k, _)| k.ends_with(".profiles.mention.created"))
            .map(|(_, body)| {
                let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(e["data"]["mentioner_id"], author.user_id.as_str());
                assert_eq!(e["data"]["context"], "bio");
                assert_eq!(e["audience"], json!([e["data"]["mentioned_id"]]));
                e["data"]["mentioned_id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    events.drain(Duration::from_millis(300)).await;
    let bio = format!(
        "Tailor in Arusha. With @{} (and @{} again), not @{}, not @{}, not @nobody_here. a@b.com",
        friend.username,
        friend.username.to_uppercase(),
        blocker.username,
        author.username
    );
    let a = patch_me(&app, &author, json!({ "bio": bio })).await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(
        mentioned(events.drain(Duration::from_millis(800)).await),
        std::slice::from_ref(&friend.user_id)
    );
    let edited = format!("{bio} Now with @{}.", later.username);
    patch_me(&app, &author, json!({ "bio": edited })).await;
    assert_eq!(
        mentioned(events.drain(Duration::from_millis(800)).await),
        std::slice::from_ref(&later.user_id),
        "only the new mention"
    );
}
