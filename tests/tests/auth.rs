//! Authentication, black-box: registration, login, refresh, logout, sessions, roles, the
//! extractor, re-authentication. Codes are read from the `auth.verification_code.issued` events,
//! opened with the notifier's key as the notifier would (tests/tests/bus_security.rs reads them
//! from the mailbox, as a user does).

use std::time::{Duration, Instant};

use nexgate_tests::auth::{
    call, claims, code_for, device, enable_mfa, log_in, post, sign_up, token_signed_in_minutes_ago,
    totp_now, unique_name, Answer, PASSWORD,
};
use nexgate_tests::{eventually, HostOptions, Manifest, TestApp};
use reqwest::Method;
use serde_json::json;

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.db
        .admin()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

async fn get(app: &TestApp, path: &str, token: &str) -> Answer {
    call(app, Method::GET, path, None, Some(token)).await
}

async fn with_vars(vars: &[(&str, &str)]) -> TestApp {
    TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        },
    )
    .await
}

#[tokio::test]
async fn registration_creates_the_account_and_profile_only_after_the_code_is_verified() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let username = unique_name("Amina_");
    let started = post(
        &app,
        "/auth/register",
        json!({ "phone": "+255 712 345 678", "password": PASSWORD, "username": username, "display_name": "  Amina K " }),
    )
    .await;
    assert_eq!(started.status, 202, "{started}");
    assert_eq!(started.body["channel"], "phone");
    let code = code_for(&mut events, "+255712345678").await;
    assert_eq!(count(&app, "SELECT count(*) FROM auth.accounts").await, 0);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let bad = post(
        &app,
        "/auth/register/verify",
        json!({ "registration_id": started.body["registration_id"], "code": wrong }),
    )
    .await;
    assert_eq!((bad.status, bad.code()), (422, "code_invalid"), "{bad}");
    assert_eq!(count(&app, "SELECT count(*) FROM auth.accounts").await, 0);

    let done = post(
        &app,
        "/auth/register/verify",
        json!({ "registration_id": started.body["registration_id"], "code": code, "device": device("d1") }),
    )
    .await;
    assert_eq!(done.status, 201, "{done}\n{}", app.host.log());
    assert_eq!(done.body["token_type"], "Bearer");
    assert_eq!(done.body["expires_in"], 900);
    let user_id = done.body["user_id"].as_str().unwrap().to_string();
    assert_eq!(
        claims(done.body["access_token"].as_str().unwrap())["sub"],
        user_id
    );

    let db = app.db.admin().await;
    let row = db
        .query_one(
            "SELECT a.phone, a.phone_verified_at IS NOT NULL, p.username, p.display_name \
             FROM auth.accounts a JOIN profiles.profiles p ON p.user_id = a.id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "+255712345678");
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), username, "case kept");
    assert_eq!(row.get::<_, String>(3), "Amina K");
    let flags = db
        .query_one(
            "SELECT phone_verified, email_verified FROM auth.verification_flags",
            &[],
        )
        .await
        .unwrap();
    assert!(flags.get::<_, bool>(0) && !flags.get::<_, bool>(1));
    let (_, created) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.account.created")
        })
        .await
        .expect("auth.account.created");
    assert_eq!(created["audience"], json!([user_id]));

    let again = post(
        &app,
        "/auth/register/verify",
        json!({ "registration_id": started.body["registration_id"], "code": code }),
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (409, "registration_completed")
    );
    assert_eq!(count(&app, "SELECT count(*) FROM auth.accounts").await, 1);
}

#[tokio::test]
async fn registering_an_existing_address_answers_the_same_and_tells_its_owner_instead() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let owner = sign_up(&app, &mut events).await;
    let fresh_email = format!("{}@example.com", unique_name("new"));
    let mut answers = Vec::new();
    for email in [&owner.email, &fresh_email] {
        let a = post(
            &app,
            "/auth/register",
            json!({ "email": email.to_uppercase(), "password": PASSWORD, "username": unique_name("x"), "display_name": "X" }),
        )
        .await;
        assert_eq!(a.status, 202, "{a}");
        answers.push(a);
    }
    let keys = |a: &Answer| {
        let mut k: Vec<String> = a.body.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&answers[0]),
        keys(&answers[1]),
        "same shape either way"
    );
    assert_eq!(answers[0].body["expires_in"], answers[1].body["expires_in"]);

    let (_, notice) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.registration.address_in_use")
        })
        .await
        .expect("notice to the owner");
    assert_eq!(notice["audience"], json!([owner.user_id]));
    assert_eq!(notice["data"]["address"], owner.email);
    // The fresh address got its code; the taken one never gets one, so it cannot be verified.
    code_for(&mut events, &fresh_email).await;
    for code in ["000000", "123456"] {
        let v = post(
            &app,
            "/auth/register/verify",
            json!({ "registration_id": answers[0].body["registration_id"], "code": code }),
        )
        .await;
        assert_eq!(v.status, 422, "{v}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM auth.accounts").await, 1);
}

#[tokio::test]
async fn usernames_taken_reserved_or_malformed_are_refused_at_register_and_nothing_is_stored() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let owner = sign_up(&app, &mut events).await;
    let cases = [
        (owner.username.to_uppercase(), 409, "username_taken"),
        ("support".to_string(), 422, "validation_failed"),
        ("NexgateTeam".to_string(), 422, "validation_failed"),
        ("ab".to_string(), 422, "validation_failed"),
        ("has space".to_string(), 422, "validation_failed"),
        ("trailing.".to_string(), 422, "validation_failed"),
    ];
    for (username, status, code) in cases {
        let a = post(
            &app,
            "/auth/register",
            json!({ "email": format!("{}@example.com", unique_name("e")), "password": PASSWORD, "username": username, "display_name": "X" }),
        )
        .await;
        assert_eq!((a.status, a.code()), (status, code), "{username}: {a}");
        assert_eq!(a.body["errors"][0]["field"], "username", "{a}");
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.registrations").await,
        1
    );
}

#[tokio::test]
async fn bad_input_on_register_verify_and_login_is_a_4xx_naming_the_field_that_changes_nothing() {
    let app = TestApp::start(Manifest::App).await;
    let ok = json!({ "email": "a@example.com", "password": PASSWORD, "username": "valid_name", "display_name": "A" });
    let with = |field: &str, value: serde_json::Value| {
        let mut b = ok.clone();
        b[field] = value;
        b
    };
    let cases = [
        (with("email", json!("not-an-email")), 422, "email"),
        (with("phone", json!("+255712345678")), 422, "email"),
        (with("password", json!("short")), 422, "password"),
        (with("password", json!("password123")), 422, "password"),
        (with("display_name", json!("   ")), 422, "display_name"),
        (with("password", json!(12345678)), 422, "password"),
        (with("extra", json!(1)), 422, ""),
        (
            json!({ "phone": "0712345678", "password": PASSWORD, "username": "valid_name", "display_name": "A" }),
            422,
            "phone",
        ),
    ];
    for (body, status, field) in cases {
        let a = post(&app, "/auth/register", body.clone()).await;
        assert_eq!(a.status, status, "{body}: {a}");
        if !field.is_empty() {
            assert_eq!(a.body["errors"][0]["field"], field, "{body}: {a}");
        }
    }
    let raw = app
        .http
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    let text = app
        .http
        .post(app.url("/auth/register"))
        .header("content-type", "text/plain")
        .body(ok.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status().as_u16(), 415);

    let verify_cases = [
        json!({ "registration_id": "nope", "code": "123456" }),
        json!({ "registration_id": uuid::Uuid::now_v7(), "code": "12ab56" }),
        json!({ "registration_id": uuid::Uuid::now_v7() }),
    ];
    for body in verify_cases {
        let a = post(&app, "/auth/register/verify", body.clone()).await;
        assert_eq!(a.status, 422, "{body}: {a}");
    }
    let unknown = post(
        &app,
        "/auth/register/verify",
        json!({ "registration_id": uuid::Uuid::now_v7(), "code": "123456" }),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "registration_not_found")
    );

    let login_cases = [
        json!({ "identifier": "a@example.com", "password": PASSWORD }),
        json!({ "identifier": "a@example.com", "password": PASSWORD, "device": { "id": "x", "name": "n", "platform": "toaster", "app_version": "1" } }),
        json!({ "identifier": "", "password": PASSWORD, "device": device("x") }),
        json!({ "identifier": "0712345678", "password": PASSWORD, "device": device("x") }),
    ];
    for body in login_cases {
        let a = post(&app, "/auth/login", body.clone()).await;
        assert_eq!(a.status, 422, "{body}: {a}");
    }
    let wrong_method = call(&app, Method::GET, "/auth/login", None, None).await;
    assert_eq!(wrong_method.status, 405);
    for table in ["registrations", "accounts", "sessions"] {
        assert_eq!(
            count(&app, &format!("SELECT count(*) FROM auth.{table}")).await,
            0,
            "{table}"
        );
    }
}

#[tokio::test]
async fn five_wrong_codes_end_a_registration_and_resends_wait_for_the_cooldown() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let email = format!("{}@example.com", unique_name("c"));
    let started = post(
        &app,
        "/auth/register",
        json!({ "email": email, "password": PASSWORD, "username": unique_name("c"), "display_name": "C" }),
    )
    .await;
    let id = started.body["registration_id"].clone();
    let code = code_for(&mut events, &email).await;
    let resend = post(
        &app,
        "/auth/register/resend",
        json!({ "registration_id": id }),
    )
    .await;
    assert_eq!(
        (resend.status, resend.code()),
        (429, "resend_too_soon"),
        "{resend}"
    );
    let retry_after: u64 = resend.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after));

    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let a = post(
            &app,
            "/auth/register/verify",
            json!({ "registration_id": id, "code": wrong }),
        )
        .await;
        assert_eq!(a.status, 422, "{a}");
    }
    let right = post(
        &app,
        "/auth/register/verify",
        json!({ "registration_id": id, "code": code }),
    )
    .await;
    assert_eq!(
        (right.status, right.code()),
        (410, "verification_attempts_exhausted"),
        "{right}"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM auth.accounts").await, 0);
}

#[tokio::test]
async fn login_works_with_email_phone_or_username_and_the_token_verifies_with_the_published_keys() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    for identifier in [user.email.to_uppercase(), user.username.to_uppercase()] {
        let a = log_in(&app, &identifier, PASSWORD, "phone-1").await;
        assert_eq!(a.status, 200, "{identifier}: {a}\n{}", app.host.log());
        assert_eq!(a.body["user_id"], user.user_id);
        let c = claims(a.body["access_token"].as_str().unwrap());
        assert_eq!(c["sid"], a.body["session_id"]);
        assert_eq!(c["amr"], json!(["pwd"]));
        assert_eq!(c["roles"], json!([]));
        assert_eq!(c["iss"], "nexgate");
    }
    let jwks = call(&app, Method::GET, "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks.status, 200, "{jwks}");
    assert_eq!(jwks.body["keys"][0]["kty"], "OKP");
    assert!(
        jwks.body["keys"][0].get("d").is_none(),
        "no private part published"
    );
    let verifier = nexgate_authn::jwt::TokenVerifier::from_jwks_json(
        &jwks.body.to_string(),
        "nexgate",
        "nexgate",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    verifier
        .verify(&user.access_token, now)
        .expect("verifies with the published JWKS");

    let sessions = get(&app, "/auth/sessions", &user.access_token).await;
    assert_eq!(sessions.status, 200, "{sessions}");
    let items = sessions.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "sign-up plus two logins");
    let current: Vec<_> = items.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], user.session_id);
    assert_eq!(current[0]["device"]["platform"], "android");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer_after_the_same_work() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let mut timings = [Vec::new(), Vec::new()];
    let mut bodies = Vec::new();
    // Five rounds, medians compared: single samples scatter when other tests load the machine.
    for round in 0..5 {
        for (i, identifier) in [user.email.clone(), format!("ghost{round}@example.com")]
            .iter()
            .enumerate()
        {
            let started = Instant::now();
            let a = log_in(&app, identifier, "not-the-password-1", "d").await;
            timings[i].push(started.elapsed());
            assert_eq!((a.status, a.code()), (401, "invalid_credentials"), "{a}");
            bodies.push(a.body);
        }
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "identical bodies: {bodies:?}"
    );
    timings.iter_mut().for_each(|t| t.sort());
    let (known, unknown) = (timings[0][2], timings[1][2]);
    // Both hash: the unknown user is not answered in a fraction of the time.
    assert!(
        unknown * 2 >= known,
        "unknown {unknown:?} vs known {known:?}"
    );
}

#[tokio::test]
async fn fifty_parallel_wrong_passwords_cannot_exceed_the_limit_and_lock_the_identifier() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let attempts = (0..50).map(|i| {
        let app = &app;
        let email = user.email.clone();
        async move { log_in(app, &email, &format!("wrong-password-{i}"), "d").await }
    });
    let answers = futures::future::join_all(attempts).await;
    let checked = answers.iter().filter(|a| a.status == 401).count();
    let refused = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(
        (checked, refused),
        (5, 45),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    for a in answers.iter().filter(|a| a.status == 429) {
        assert_eq!(a.code(), "login_locked");
        let secs: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&secs), "{secs}");
    }
    // Locked: even the right password is refused now, without being checked.
    let right = log_in(&app, &user.email, PASSWORD, "d").await;
    assert_eq!(right.status, 429, "{right}");
    let (_, event) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.suspicious_activity.detected")
        })
        .await
        .expect("suspicious activity event");
    assert_eq!(event["data"]["reason"], "login_lockout");
    assert_eq!(event["audience"], json!([user.user_id]));
}

#[tokio::test]
async fn a_lockout_ends_and_the_next_one_lasts_twice_as_long() {
    let app = with_vars(&[
        ("SPIN_VARIABLE_LOGIN_FAILURES_PER_IDENTIFIER_MAX", "2"),
        ("SPIN_VARIABLE_LOGIN_LOCKOUT_BASE_SECS", "2"),
    ])
    .await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let retry_after =
        |a: &Answer| -> u64 { a.headers["retry-after"].to_str().unwrap().parse().unwrap() };
    for _ in 0..2 {
        assert_eq!(
            log_in(&app, &user.username, "wrong-password", "d")
                .await
                .status,
            401
        );
    }
    let first = log_in(&app, &user.username, "wrong-password", "d").await;
    assert_eq!(first.status, 429);
    assert!(retry_after(&first) <= 2);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let ok = log_in(&app, &user.username, PASSWORD, "d").await;
    assert_eq!(ok.status, 200, "the lockout ended: {ok}");
    for _ in 0..2 {
        assert_eq!(
            log_in(&app, &user.username, "wrong-password", "d")
                .await
                .status,
            401
        );
    }
    let second = log_in(&app, &user.username, "wrong-password", "d").await;
    assert_eq!(second.status, 429);
    assert!(
        retry_after(&second) > 2 && retry_after(&second) <= 4,
        "{}",
        retry_after(&second)
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_of_a_rotated_token_revokes_the_whole_family() {
    let app = with_vars(&[("SPIN_VARIABLE_REFRESH_REUSE_GRACE_MS", "300")]).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let first = post(
        &app,
        "/auth/refresh",
        json!({ "refresh_token": user.refresh_token }),
    )
    .await;
    assert_eq!(first.status, 200, "{first}\n{}", app.host.log());
    assert_ne!(first.body["refresh_token"], json!(user.refresh_token));
    assert_eq!(first.body["session_id"], json!(user.session_id));
    let newest = first.body["refresh_token"].as_str().unwrap().to_string();
    let access = first.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(get(&app, "/auth/sessions", &access).await.status, 200);

    tokio::time::sleep(Duration::from_millis(600)).await;
    let reuse = post(
        &app,
        "/auth/refresh",
        json!({ "refresh_token": user.refresh_token }),
    )
    .await;
    assert_eq!(
        (reuse.status, reuse.code()),
        (401, "refresh_token_reused"),
        "{reuse}"
    );
    let newest_after = post(&app, "/auth/refresh", json!({ "refresh_token": newest })).await;
    assert_eq!(
        (newest_after.status, newest_after.code()),
        (401, "refresh_token_invalid"),
        "the new token dies too"
    );
    let revoked = get(&app, "/auth/sessions", &access).await;
    assert_eq!((revoked.status, revoked.code()), (401, "session_revoked"));
    let (_, event) = events
        .wait_for(Duration::from_secs(10), |k, v| {
            k.ends_with(".auth.suspicious_activity.detected")
                && v["data"]["reason"] == "refresh_token_reuse"
        })
        .await
        .expect("reuse reported");
    assert_eq!(event["data"]["session_id"], json!(user.session_id));
}

#[tokio::test]
async fn a_racing_retry_inside_the_grace_window_gets_409_and_revokes_nothing() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let racing = (0..5).map(|_| {
        post(
            &app,
            "/auth/refresh",
            json!({ "refresh_token": user.refresh_token }),
        )
    });
    let answers = futures::future::join_all(racing).await;
    let winners: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one rotation: {:?}",
        answers.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    );
    assert!(answers
        .iter()
        .filter(|a| a.status != 200)
        .all(|a| a.status == 409 && a.code() == "refresh_token_rotated"));
    let newest = winners[0].body["refresh_token"].as_str().unwrap();
    let next = post(&app, "/auth/refresh", json!({ "refresh_token": newest })).await;
    assert_eq!(next.status, 200, "the family is intact: {next}");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM auth.sessions WHERE revoked_at IS NOT NULL"
        )
        .await,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.refresh_tokens").await,
        3
    );
}

#[tokio::test]
async fn logout_and_logout_all_take_effect_on_the_next_request() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let other = log_in(&app, &user.email, PASSWORD, "tablet").await;
    let other_token = other.body["access_token"].as_str().unwrap().to_string();

    let out = call(
        &app,
        Method::POST,
        "/auth/logout",
        None,
        Some(&user.access_token),
    )
    .await;
    assert_eq!(out.status, 204, "{out}");
    let after = get(&app, "/auth/sessions", &user.access_token).await;
    assert_eq!((after.status, after.code()), (401, "session_revoked"));
    let refresh = post(
        &app,
        "/auth/refresh",
        json!({ "refresh_token": user.refresh_token }),
    )
    .await;
    assert_eq!(refresh.status, 401);
    assert_eq!(
        get(&app, "/auth/sessions", &other_token).await.status,
        200,
        "other devices stay"
    );

    let all = call(
        &app,
        Method::POST,
        "/auth/logout/all",
        None,
        Some(&other_token),
    )
    .await;
    assert_eq!(all.status, 204);
    assert_eq!(
        get(&app, "/auth/sessions", &other_token).await.code(),
        "session_revoked"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.live_sessions").await,
        0
    );
}

#[tokio::test]
async fn the_extractor_asks_postgres_when_the_redis_mirror_has_nothing() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let redis_key = format!("{}:auth:session:{}", app.prefix, user.session_id);
    let mut redis = redis::Client::open(format!("redis://127.0.0.1:{}", app.env.get("REDIS_PORT")))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mirrored: Option<String> = redis::cmd("GET")
        .arg(&redis_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(mirrored.as_deref(), Some("live"));
    let _: i64 = redis::cmd("DEL")
        .arg(&redis_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/auth/sessions", &user.access_token).await.status,
        200
    );
    let remembered: Option<String> = redis::cmd("GET")
        .arg(&redis_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        remembered.as_deref(),
        Some("live"),
        "the answer is mirrored again"
    );

    // Revoked directly in Postgres with the mirror empty: the extractor still refuses.
    app.db
        .admin()
        .await
        .execute(
            "UPDATE auth.sessions SET revoked_at = now(), revoke_reason = 'logout'",
            &[],
        )
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&redis_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/auth/sessions", &user.access_token).await.code(),
        "session_revoked"
    );
}

#[tokio::test]
async fn forged_expired_and_missing_tokens_are_401_with_stable_codes() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let c = claims(&user.access_token);
    let mut claims: nexgate_authn::jwt::AccessClaims = serde_json::from_value(c).unwrap();
    let foreign = nexgate_authn::jwt::TokenSigner::from_secret_bytes(
        &app.jwt_signer().public_jwk().kid,
        &[7; 32],
    );
    claims.roles = vec!["operator".into()];
    let forged = foreign.sign(&claims);
    assert_eq!(
        get(&app, "/auth/sessions", &forged).await.code(),
        "token_invalid"
    );
    claims.roles = vec![];
    claims.iat -= 3600;
    claims.exp -= 3600;
    let expired = app.jwt_signer().sign(&claims);
    assert_eq!(
        get(&app, "/auth/sessions", &expired).await.code(),
        "token_expired"
    );
    let missing = call(&app, Method::GET, "/auth/sessions", None, None).await;
    assert_eq!((missing.status, missing.code()), (401, "token_missing"));
    let garbage = get(&app, "/auth/sessions", "not.a.jwt").await;
    assert_eq!((garbage.status, garbage.code()), (401, "token_invalid"));
}

#[tokio::test]
async fn a_user_can_end_their_own_other_session_but_not_someone_elses() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let amina = sign_up(&app, &mut events).await;
    let baraka = sign_up(&app, &mut events).await;
    let laptop = log_in(&app, &amina.email, PASSWORD, "laptop").await;
    let laptop_sid = laptop.body["session_id"].as_str().unwrap();
    let path = format!("/auth/sessions/{laptop_sid}");
    let theirs = call(
        &app,
        Method::DELETE,
        &path,
        None,
        Some(&baraka.access_token),
    )
    .await;
    assert_eq!(theirs.status, 404);
    let bad_id = call(
        &app,
        Method::DELETE,
        "/auth/sessions/nope",
        None,
        Some(&amina.access_token),
    )
    .await;
    assert_eq!(bad_id.status, 422);
    let mine = call(&app, Method::DELETE, &path, None, Some(&amina.access_token)).await;
    assert_eq!(mine.status, 204, "{mine}");
    let laptop_token = laptop.body["access_token"].as_str().unwrap();
    assert_eq!(
        get(&app, "/auth/sessions", laptop_token).await.code(),
        "session_revoked"
    );
    assert_eq!(
        get(&app, "/auth/sessions", &amina.access_token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_login_from_a_new_device_is_announced_once() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    assert_eq!(
        log_in(&app, &user.email, PASSWORD, "signup").await.status,
        200
    );
    assert_eq!(
        log_in(&app, &user.email, PASSWORD, "new-phone")
            .await
            .status,
        200
    );
    assert_eq!(
        log_in(&app, &user.email, PASSWORD, "new-phone")
            .await
            .status,
        200
    );
    let mut seen = 0;
    while let Some((_, e)) = events
        .wait_for(Duration::from_secs(3), |k, _| {
            k.ends_with(".auth.login.new_device")
        })
        .await
    {
        assert_eq!(e["audience"], json!([user.user_id]));
        assert_eq!(e["data"]["device_name"], "test device new-phone");
        seen += 1;
    }
    assert_eq!(seen, 1);
}

#[tokio::test]
async fn the_operator_role_is_granted_only_by_the_operator_command_and_shows_in_the_next_token() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    assert_eq!(claims(&user.access_token)["roles"], json!([]));
    let out = std::process::Command::new(nexgate_tests::ops_bin())
        .args([
            "grant-role",
            "--user",
            &user.user_id,
            "--role",
            "operator",
            "--by",
            "test",
        ])
        .env("NEXGATE_ADMIN_DB_URL", app.db.url("nexgate_admin"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refreshed = post(
        &app,
        "/auth/refresh",
        json!({ "refresh_token": user.refresh_token }),
    )
    .await;
    assert_eq!(
        claims(refreshed.body["access_token"].as_str().unwrap())["roles"],
        json!(["operator"])
    );
    let unknown = std::process::Command::new(nexgate_tests::ops_bin())
        .args(["grant-role", "--user", &user.user_id, "--role", "god"])
        .env("NEXGATE_ADMIN_DB_URL", app.db.url("nexgate_admin"))
        .output()
        .unwrap();
    assert!(!unknown.status.success());
}

async fn reset_token_for(
    events: &mut nexgate_tests::EventObserver,
    address: &str,
) -> Option<String> {
    let (_, e) = events
        .wait_for(Duration::from_secs(5), |k, v| {
            k.ends_with(".auth.password_reset.requested") && v["data"]["address"] == address
        })
        .await?;
    // Sealed on the bus: nothing of the token in clear; the notifier's key opens it.
    assert!(e["data"].get("token").is_none() && e["data"].get("link").is_none());
    let data = events.open_sealed(&e["data"]);
    assert!(data["link"]
        .as_str()
        .unwrap()
        .contains("/reset-password?token="));
    Some(data["token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_password_reset_is_single_use_and_ends_every_session() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let second = log_in(&app, &user.username, PASSWORD, "tablet").await;

    let asked = post(
        &app,
        "/auth/password/forgot",
        json!({ "identifier": user.username }),
    )
    .await;
    assert_eq!(asked.status, 202, "{asked}\n{}", app.host.log());
    let token = reset_token_for(&mut events, &user.email)
        .await
        .expect("reset link sent");

    let weak = post(
        &app,
        "/auth/password/reset",
        json!({ "token": token, "new_password": "password1" }),
    )
    .await;
    assert_eq!(
        (weak.status, weak.body["errors"][0]["field"].as_str()),
        (422, Some("new_password"))
    );
    let done = post(
        &app,
        "/auth/password/reset",
        json!({ "token": token, "new_password": "a-brand-new-secret-9" }),
    )
    .await;
    assert_eq!(done.status, 204, "{done}");
    let again = post(
        &app,
        "/auth/password/reset",
        json!({ "token": token, "new_password": "another-new-secret-9" }),
    )
    .await;
    assert_eq!((again.status, again.code()), (400, "reset_token_invalid"));

    for token in [
        &user.access_token,
        second.body["access_token"].as_str().unwrap(),
    ] {
        assert_eq!(
            get(&app, "/auth/sessions", token).await.code(),
            "session_revoked"
        );
    }
    assert_eq!(log_in(&app, &user.email, PASSWORD, "d").await.status, 401);
    assert_eq!(
        log_in(&app, &user.email, "a-brand-new-secret-9", "d")
            .await
            .status,
        200
    );
    let (_, changed) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.password.changed")
        })
        .await
        .expect("owner told");
    assert_eq!(changed["data"]["how"], "reset");
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_unknown_accounts_and_sends_nothing() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let known = post(
        &app,
        "/auth/password/forgot",
        json!({ "identifier": user.email }),
    )
    .await;
    let unknown = post(
        &app,
        "/auth/password/forgot",
        json!({ "identifier": "nobody@example.com" }),
    )
    .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert!(reset_token_for(&mut events, &user.email).await.is_some());
    assert!(reset_token_for(&mut events, "nobody@example.com")
        .await
        .is_none());
    // Past 3 an hour nothing more is sent, and the answer does not change.
    for _ in 0..3 {
        let a = post(
            &app,
            "/auth/password/forgot",
            json!({ "identifier": user.email }),
        )
        .await;
        assert_eq!(a.status, 202);
    }
    // The reset is stored after the answer leaves: wait for the third, then make sure the
    // fourth request (past the limit) added nothing once its work is done too.
    let resets = "SELECT count(*) FROM auth.password_resets";
    eventually(Duration::from_secs(10), || async {
        (count(&app, resets).await >= 3).then_some(())
    })
    .await
    .expect("three resets stored");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&app, resets).await, 3);
    let bad = post(&app, "/auth/password/forgot", json!({ "identifier": "" })).await;
    assert_eq!(bad.status, 422);
}

/// The answer to a reset request leaves before the account is looked up (the link is sent after
/// it), so its time says nothing about whether the account exists: 50 interleaved samples per
/// branch, medians within 5 ms.
#[tokio::test]
async fn forgot_password_takes_the_same_time_for_known_and_unknown_accounts() {
    let app = with_vars(&[(
        "SPIN_VARIABLE_PASSWORD_RESETS_PER_IDENTIFIER_PER_HOUR_MAX",
        "1000",
    )])
    .await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let unknown = format!("{}@example.com", unique_name("nobody"));
    let ask = |identifier: String| {
        let app = &app;
        async move {
            let t = Instant::now();
            let a = post(
                app,
                "/auth/password/forgot",
                json!({ "identifier": identifier }),
            )
            .await;
            assert_eq!(a.status, 202, "{a}");
            t.elapsed()
        }
    };
    for _ in 0..3 {
        ask(user.email.clone()).await;
        ask(unknown.clone()).await;
    }
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    for i in 0..50 {
        // Alternate which branch goes first; let the known branch's link go out in between.
        let (k, u) = if i % 2 == 0 {
            let k = ask(user.email.clone()).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
            (k, ask(unknown.clone()).await)
        } else {
            let u = ask(unknown.clone()).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
            (ask(user.email.clone()).await, u)
        };
        known_times.push(k);
        unknown_times.push(u);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    known_times.sort();
    unknown_times.sort();
    let (known, unknown) = (known_times[25], unknown_times[25]);
    let gap = known.abs_diff(unknown);
    eprintln!("forgot-password medians: known {known:?}, unknown {unknown:?}");
    assert!(
        gap <= Duration::from_millis(5),
        "medians: known {known:?}, unknown {unknown:?}"
    );
    // And the links really went out (the work happens after the answer).
    assert!(
        count(&app, "SELECT count(*) FROM auth.password_resets").await >= 50,
        "every known request made a token"
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let other = log_in(&app, &user.email, PASSWORD, "tablet").await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let wrong = call(
        &app,
        Method::POST,
        "/auth/password/change",
        Some(change("not-it-at-all", "fresh-secret-77")),
        Some(&user.access_token),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (403, "current_password_wrong")
    );
    let anonymous = call(
        &app,
        Method::POST,
        "/auth/password/change",
        Some(change(PASSWORD, "fresh-secret-77")),
        None,
    )
    .await;
    assert_eq!(anonymous.status, 401);
    let ok = call(
        &app,
        Method::POST,
        "/auth/password/change",
        Some(change(PASSWORD, "fresh-secret-77")),
        Some(&user.access_token),
    )
    .await;
    assert_eq!(ok.status, 204, "{ok}");
    assert_eq!(
        get(&app, "/auth/sessions", &user.access_token).await.status,
        200,
        "this session goes on"
    );
    let other_token = other.body["access_token"].as_str().unwrap();
    assert_eq!(
        get(&app, "/auth/sessions", other_token).await.code(),
        "session_revoked"
    );
    assert_eq!(
        log_in(&app, &user.email, "fresh-secret-77", "d")
            .await
            .status,
        200
    );
}

async fn authed_post(app: &TestApp, path: &str, token: &str, body: serde_json::Value) -> Answer {
    call(app, Method::POST, path, Some(body), Some(token)).await
}

#[tokio::test]
async fn with_mfa_on_a_login_needs_a_totp_code_and_a_code_works_once() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let (secret, _, first_code) = enable_mfa(&app, &user.access_token).await;
    let (_, enabled) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.mfa.enabled")
        })
        .await
        .expect("mfa enabled event");
    assert_eq!(enabled["audience"], json!([user.user_id]));

    let first = log_in(&app, &user.email, PASSWORD, "d").await;
    assert_eq!(
        (first.status, &first.body["mfa_required"]),
        (200, &json!(true)),
        "{first}"
    );
    assert!(
        first.body.get("access_token").is_none(),
        "no tokens before the second factor"
    );
    let mfa_token = first.body["mfa_token"].as_str().unwrap().to_string();
    // The code that enabled MFA was spent: the same step is refused (replay).
    let replay = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "code": first_code }),
    )
    .await;
    let next = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "code": totp_now(&secret, 1) }),
    )
    .await;
    assert_eq!(
        (replay.status, replay.code()),
        (422, "code_invalid"),
        "{replay}"
    );
    assert_eq!(next.status, 200, "{next}");
    let c = claims(next.body["access_token"].as_str().unwrap());
    assert_eq!(c["amr"], json!(["pwd", "otp"]));
    let again = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "code": totp_now(&secret, 1) }),
    )
    .await;
    assert_eq!(
        (again.status, again.code()),
        (401, "mfa_token_invalid"),
        "a challenge is single-use"
    );
}

#[tokio::test]
async fn recovery_codes_finish_a_login_once_each() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let (_, codes, _) = enable_mfa(&app, &user.access_token).await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let a = log_in(&app, &user.email, PASSWORD, "d").await;
        tokens.push(a.body["mfa_token"].as_str().unwrap().to_string());
    }
    let ok = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": tokens[0], "recovery_code": codes[0].to_uppercase() }),
    )
    .await;
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(
        claims(ok.body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa"])
    );
    let reused = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": tokens[1], "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(reused.status, 422, "{reused}");
    let bad = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": tokens[1], "code": "123456", "recovery_code": codes[1] }),
    )
    .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn step_up_gives_a_fresh_otp_token_and_needs_mfa_on() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let without = authed_post(
        &app,
        "/auth/mfa/step-up",
        &user.access_token,
        json!({ "code": "123456" }),
    )
    .await;
    assert_eq!(
        (without.status, without.code()),
        (409, "mfa_not_set_up"),
        "{without}"
    );
    let (secret, codes, _) = enable_mfa(&app, &user.access_token).await;
    let by_recovery = authed_post(
        &app,
        "/auth/mfa/step-up",
        &user.access_token,
        json!({ "recovery_code": codes[0] }),
    )
    .await;
    assert_eq!(by_recovery.status, 422, "step-up takes TOTP only");
    let wrong = authed_post(
        &app,
        "/auth/mfa/step-up",
        &user.access_token,
        json!({ "code": "000000" }),
    )
    .await;
    let wrong_expected = if totp_now(&secret, 0) == "000000" {
        200
    } else {
        422
    };
    assert_eq!(wrong.status, wrong_expected);
    let up = authed_post(
        &app,
        "/auth/mfa/step-up",
        &user.access_token,
        json!({ "code": totp_now(&secret, 1) }),
    )
    .await;
    assert_eq!(up.status, 200, "{up}");
    let before = claims(&user.access_token);
    let after = claims(up.body["access_token"].as_str().unwrap());
    assert_eq!(after["amr"], json!(["pwd", "otp"]));
    assert_eq!(after["sid"], before["sid"], "same session");
    assert!(after["auth_time"].as_i64().unwrap() >= before["auth_time"].as_i64().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ctx = |c: &serde_json::Value| nexgate_authn::AuthContext {
        user_id: uuid::Uuid::nil(),
        session_id: uuid::Uuid::nil(),
        amr: serde_json::from_value(c["amr"].clone()).unwrap(),
        auth_time: c["auth_time"].as_i64().unwrap(),
        roles: vec![],
    };
    assert!(ctx(&after).require_step_up(now).is_ok());
    assert!(ctx(&before).require_step_up(now).is_err());
    assert_eq!(
        get(
            &app,
            "/auth/sessions",
            up.body["access_token"].as_str().unwrap()
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn mfa_can_be_disabled_with_a_fresh_code_and_logins_go_back_to_one_step() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let (secret, _, _) = enable_mfa(&app, &user.access_token).await;
    let again = authed_post(&app, "/auth/mfa/totp/setup", &user.access_token, json!({})).await;
    assert_eq!((again.status, again.code()), (409, "mfa_already_enabled"));
    let off = authed_post(
        &app,
        "/auth/mfa/totp/disable",
        &user.access_token,
        json!({ "code": totp_now(&secret, 1) }),
    )
    .await;
    assert_eq!(off.status, 204, "{off}");
    events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.mfa.disabled")
        })
        .await
        .expect("mfa disabled event");
    let login = log_in(&app, &user.email, PASSWORD, "d").await;
    assert!(login.body.get("access_token").is_some(), "{login}");
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.mfa_recovery_codes").await,
        0
    );
}

#[tokio::test]
async fn a_new_email_replaces_the_old_only_after_its_code_and_the_old_one_is_told() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let other = sign_up(&app, &mut events).await;
    let new_email = format!("{}@example.org", unique_name("new"));
    let change = |body: serde_json::Value| {
        let (app, token) = (&app, user.access_token.clone());
        async move {
            call(
                app,
                Method::POST,
                "/auth/contact/change",
                Some(body),
                Some(&token),
            )
            .await
        }
    };
    let wrong_pw =
        change(json!({ "email": new_email, "current_password": "not-my-password" })).await;
    assert_eq!(
        (wrong_pw.status, wrong_pw.code()),
        (403, "current_password_wrong")
    );
    let started = change(json!({ "email": new_email, "current_password": PASSWORD })).await;
    assert_eq!(started.status, 202, "{started}\n{}", app.host.log());
    let code = code_for(&mut events, &new_email).await;
    assert_eq!(
        log_in(&app, &user.email, PASSWORD, "d").await.status,
        200,
        "the old email still works"
    );

    let verify = |body: serde_json::Value, token: String| {
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                "/auth/contact/verify",
                Some(body),
                Some(&token),
            )
            .await
        }
    };
    let id = started.body["change_id"].clone();
    let theirs = verify(
        json!({ "change_id": id, "code": code }),
        other.access_token.clone(),
    )
    .await;
    assert_eq!(theirs.status, 404, "another user cannot finish my change");
    let done = verify(
        json!({ "change_id": id, "code": code }),
        user.access_token.clone(),
    )
    .await;
    assert_eq!(done.status, 200, "{done}");
    assert_eq!(done.body["replaced"], true);
    let (_, changed) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.contact.changed")
        })
        .await
        .expect("auth.contact.changed");
    assert_eq!(changed["data"]["old_address"], user.email);
    assert_eq!(changed["data"]["new_address"], new_email);
    assert_eq!(log_in(&app, &user.email, PASSWORD, "d").await.status, 401);
    assert_eq!(log_in(&app, &new_email, PASSWORD, "d").await.status, 200);

    // Someone else's address: the same 202, no code, and it can never be verified.
    let squat = change(json!({ "email": other.email, "current_password": PASSWORD })).await;
    assert_eq!(squat.status, 202);
    let guess = verify(
        json!({ "change_id": squat.body["change_id"], "code": "123456" }),
        user.access_token.clone(),
    )
    .await;
    assert_eq!(guess.status, 422);
    let bad = change(json!({ "phone": "0712345678", "current_password": PASSWORD })).await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].as_str()),
        (422, Some("phone"))
    );
}

/// Codes to new contact points are limited per account (5 an hour) and per address (3 an hour,
/// whoever asks), and code checks per account (10 an hour across all its changes): a 429 with
/// `Retry-After` past each.
#[tokio::test]
async fn contact_change_codes_and_guesses_are_limited_per_account_and_per_address() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let other = sign_up(&app, &mut events).await;
    let change = |token: String, email: String| {
        let app = &app;
        async move {
            call(
                app,
                Method::POST,
                "/auth/contact/change",
                Some(json!({ "email": email, "current_password": PASSWORD })),
                Some(&token),
            )
            .await
        }
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        let email = format!("{}@example.org", unique_name(&format!("mine{i}")));
        let a = change(user.access_token.clone(), email).await;
        assert_eq!(a.status, 202, "{a}");
        ids.push(a.body["change_id"].clone());
    }
    let sixth = change(user.access_token.clone(), "sixth@example.org".into()).await;
    assert_eq!(
        (sixth.status, sixth.code()),
        (429, "rate_limited"),
        "{sixth}"
    );
    assert!(sixth.headers.contains_key("retry-after"));
    // One address, whoever targets it: three codes an hour.
    let target = format!("{}@example.org", unique_name("target"));
    for _ in 0..3 {
        assert_eq!(
            change(other.access_token.clone(), target.clone())
                .await
                .status,
            202
        );
    }
    let fourth = change(other.access_token.clone(), target.clone()).await;
    assert_eq!(fourth.status, 429, "{fourth}");
    // Ten wrong codes an hour per account, across its changes (each change allows five).
    let verify = |id: serde_json::Value| {
        let (app, token) = (&app, user.access_token.clone());
        async move {
            call(
                app,
                Method::POST,
                "/auth/contact/verify",
                Some(json!({ "change_id": id, "code": "000000" })),
                Some(&token),
            )
            .await
        }
    };
    for id in &ids[..2] {
        for _ in 0..5 {
            let wrong = verify(id.clone()).await;
            assert!(matches!(wrong.status, 422 | 410), "{wrong}");
        }
    }
    let eleventh = verify(ids[2].clone()).await;
    assert_eq!(
        (eleventh.status, eleventh.code()),
        (429, "rate_limited"),
        "{eleventh}"
    );
}

#[tokio::test]
async fn the_hourly_purge_deletes_only_what_auth_is_done_with_and_demands_its_token() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let other = log_in(&app, &user.email, PASSWORD, "old-phone").await;
    let db = app.db.admin().await;
    // Age one ended session past 30 days and one finished registration past a day.
    db.execute(
        "UPDATE auth.sessions SET revoked_at = now() - interval '31 days', revoke_reason = 'logout' WHERE id = $1::text::uuid",
        &[&other.body["session_id"].as_str().unwrap()],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE auth.registrations SET completed_at = now() - interval '2 days'",
        &[],
    )
    .await
    .unwrap();
    let purge = |token: Option<String>| {
        let app = &app;
        async move {
            let mut req = app.http.post(app.url("/internal/auth/jobs/purge"));
            if let Some(t) = token {
                req = req.header("x-internal-token", t);
            }
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    assert_eq!(purge(None).await.0, 401);
    assert_eq!(purge(Some("x".repeat(40))).await.0, 403);
    let (status, body) = purge(Some(app.auth_internal_token.clone())).await;
    assert_eq!(status, 200, "{body}\n{}", app.host.log());
    assert_eq!(body["deleted"]["sessions"], 1);
    assert_eq!(body["deleted"]["registrations"], 1);
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.sessions").await,
        1,
        "the live session stays"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.refresh_tokens").await,
        1
    );
    assert_eq!(
        get(&app, "/auth/sessions", &user.access_token).await.status,
        200
    );
}

#[tokio::test]
async fn a_verified_token_is_remembered_only_for_its_lifetime_and_its_key_set() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    assert_eq!(
        get(&app, "/auth/sessions", &user.access_token).await.status,
        200
    );
    use sha2::Digest;
    let key = format!(
        "{}:auth:verified:{}",
        app.prefix,
        hex::encode(sha2::Sha256::digest(user.access_token.as_bytes()))
    );
    let mut redis = redis::Client::open(format!("redis://127.0.0.1:{}", app.env.get("REDIS_PORT")))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        ttl > 0 && ttl <= 900_000,
        "remembered until the token expires: {ttl}"
    );
    // A verdict for another key set does not count: the token is verified again and re-tagged.
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("stale-tag")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/auth/sessions", &user.access_token).await.status,
        200
    );
    let tag: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_ne!(tag, "stale-tag");
    // A token with a bad signature is never remembered.
    let forged = format!("{}x", &user.access_token[..user.access_token.len() - 1]);
    assert_eq!(get(&app, "/auth/sessions", &forged).await.status, 401);
    let forged_key = format!(
        "{}:auth:verified:{}",
        app.prefix,
        hex::encode(sha2::Sha256::digest(forged.as_bytes()))
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&forged_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

/// A login through the local proxy (trusted) for the client at the end of `forwarded_for`.
async fn log_in_from(app: &TestApp, forwarded_for: &str, identifier: &str, password: &str) -> u16 {
    app.http
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "identifier": identifier, "password": password, "device": device("d") }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Failed logins count per account (every spelling of it) and source: a guesser locks out only
/// themselves; guessers everywhere lock the account only for places its owner never signed in from.
#[tokio::test]
async fn login_limits_count_the_account_and_lock_out_only_the_guessing_source() {
    let app = with_vars(&[
        ("SPIN_VARIABLE_LOGIN_FAILURES_PER_IDENTIFIER_MAX", "3"),
        ("SPIN_VARIABLE_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let (email, name) = (user.email.as_str(), user.username.as_str());
    let home = "198.51.100.10";
    assert_eq!(log_in_from(&app, home, email, PASSWORD).await, 200);
    // Three wrong guesses under three spellings are one account's: the fourth is refused, even
    // with the right password, from that source.
    let guesser = "203.0.113.66";
    for identifier in [email, name, &name.to_uppercase()] {
        assert_eq!(
            log_in_from(&app, guesser, identifier, "wrong-guess").await,
            401
        );
    }
    assert_eq!(log_in_from(&app, guesser, email, "wrong-guess").await, 429);
    assert_eq!(log_in_from(&app, guesser, name, PASSWORD).await, 429);
    // The owner, from a place they never used, is not locked out by it.
    assert_eq!(log_in_from(&app, "192.0.2.44", email, PASSWORD).await, 200);
    // Guessers at four more places reach the account-wide limit (4 x 3): a fifth new place is
    // refused, but the owner's known places still get in.
    for n in 1..=4 {
        for _ in 0..3 {
            let from = format!("203.0.113.{n}");
            assert_eq!(log_in_from(&app, &from, email, "wrong-guess").await, 401);
        }
    }
    assert_eq!(log_in_from(&app, "203.0.113.5", email, PASSWORD).await, 429);
    assert_eq!(log_in_from(&app, home, email, PASSWORD).await, 200);
}

/// Behind a trusted proxy, per-address limits count each client (the nearest untrusted hop of
/// `X-Forwarded-For`, whatever the client wrote before it), and an IPv6 client per /64.
#[tokio::test]
async fn per_address_login_limits_count_each_client_behind_the_proxy_and_ipv6_per_64() {
    let app = with_vars(&[
        ("SPIN_VARIABLE_LOGIN_FAILURES_PER_IP_MAX", "4"),
        ("SPIN_VARIABLE_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let nobody = |i: usize| format!("{}@example.com", unique_name(&format!("nobody{i}")));
    for i in 0..4 {
        // The client claims another address first; the proxy appended the real one.
        let chain = format!("10.9.9.{i}, 2001:db8:5:5::{i}");
        assert_eq!(
            log_in_from(&app, &chain, &nobody(i), "wrong-guess").await,
            401
        );
    }
    // Another address of the same /64 is the same client.
    assert_eq!(
        log_in_from(&app, "2001:db8:5:5:ffff::9", &nobody(9), "wrong-guess").await,
        429
    );
    // Other clients behind the same proxy have their own buckets.
    assert_eq!(
        log_in_from(&app, "2001:db8:5:6::1", &nobody(10), "wrong-guess").await,
        401
    );
    assert_eq!(
        log_in_from(&app, "10.9.9.0, 198.51.100.99", &nobody(11), "wrong-guess").await,
        401
    );
}

#[tokio::test]
async fn x_forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    for (trusted, expected) in [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")] {
        let app = with_vars(&[("SPIN_VARIABLE_TRUSTED_PROXIES", trusted)]).await;
        let mut events = app.observe_events().await;
        let user = sign_up(&app, &mut events).await;
        let login = app
            .http
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", "198.51.100.7, 203.0.113.9")
            .json(&json!({ "identifier": user.email, "password": PASSWORD, "device": device("proxied") }))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status().as_u16(), 200);
        let sessions = get(&app, "/auth/sessions", &user.access_token).await;
        let proxied = sessions.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["device"]["id"] == "proxied")
            .unwrap()
            .clone();
        assert_eq!(proxied["ip"], expected, "trusted_proxies = {trusted:?}");
    }
}

#[tokio::test]
async fn mfa_changes_need_a_recent_reauthentication_and_recovery_codes_can_be_renewed() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let mut user = sign_up(&app, &mut events).await;

    // A token whose sign-in is eleven minutes old (a stolen one, say) cannot enrol an authenticator.
    let stale = token_signed_in_minutes_ago(&app, &mut user, 11).await;
    let refused = authed_post(&app, "/auth/mfa/totp/setup", &stale, json!({})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "reauthentication_required"),
        "{refused}"
    );

    // The password again: a wrong one is refused (and counted), the right one gives a fresh token.
    let wrong = authed_post(
        &app,
        "/auth/reauthenticate",
        &stale,
        json!({ "password": "nope-nope-1" }),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (403, "current_password_wrong"),
        "{wrong}"
    );
    assert_eq!(wrong.body["errors"][0]["field"], "password");
    let empty = authed_post(
        &app,
        "/auth/reauthenticate",
        &stale,
        json!({ "password": "" }),
    )
    .await;
    assert_eq!(
        (empty.status, empty.body["errors"][0]["field"].as_str()),
        (422, Some("password")),
        "{empty}"
    );
    let again = authed_post(
        &app,
        "/auth/reauthenticate",
        &stale,
        json!({ "password": PASSWORD }),
    )
    .await;
    assert_eq!(again.status, 200, "{again}");
    let fresh = again.body["access_token"].as_str().unwrap().to_string();
    let c = claims(&fresh);
    assert_eq!(c["sid"], user.session_id, "the same session");
    assert!(c["amr"].as_array().unwrap().contains(&json!("pwd")));
    let (secret, old_codes, _) = enable_mfa(&app, &fresh).await;

    // Renewing recovery codes: refused with a stale sign-in, then the old codes stop working.
    let stale = token_signed_in_minutes_ago(&app, &mut user, 11).await;
    let refused = authed_post(&app, "/auth/mfa/recovery-codes", &stale, json!({})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "reauthentication_required")
    );
    let stepped = authed_post(
        &app,
        "/auth/mfa/step-up",
        &stale,
        json!({ "code": totp_now(&secret, 1) }),
    )
    .await;
    assert_eq!(stepped.status, 200, "{stepped}");
    let renewed = authed_post(
        &app,
        "/auth/mfa/recovery-codes",
        stepped.body["access_token"].as_str().unwrap(),
        json!({}),
    )
    .await;
    assert_eq!(renewed.status, 200, "{renewed}");
    let new_codes: Vec<String> = renewed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.contains(c)));
    let (_, notice) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.mfa.recovery_codes_regenerated")
        })
        .await
        .expect("the owner is told of new recovery codes");
    assert_eq!(notice["audience"], json!([user.user_id]));
    let login = log_in(&app, &user.email, PASSWORD, "d2").await;
    let mfa_token = login.body["mfa_token"].as_str().unwrap().to_string();
    let old = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "recovery_code": old_codes[0] }),
    )
    .await;
    assert_eq!(old.status, 422, "an old recovery code still worked: {old}");
    let new = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": mfa_token, "recovery_code": new_codes[0] }),
    )
    .await;
    assert_eq!(new.status, 200, "{new}");

    // Turning MFA off also needs a recent sign-in, whatever code comes with it.
    let stale = token_signed_in_minutes_ago(&app, &mut user, 11).await;
    let off = authed_post(
        &app,
        "/auth/mfa/totp/disable",
        &stale,
        json!({ "recovery_code": new_codes[1] }),
    )
    .await;
    assert_eq!(
        (off.status, off.code()),
        (403, "reauthentication_required"),
        "{off}"
    );
}

/// MFA codes cannot be guessed across challenges: every check counts against the account (the
/// login limits, 5 in the window), so after five wrong codes even a fresh challenge with the
/// right code is 429 until the window ends.
#[tokio::test]
async fn mfa_code_guesses_are_limited_per_account_across_challenges() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let (secret, _, first_code) = enable_mfa(&app, &user.access_token).await;
    let wrong = |code: &str| {
        let c: u32 = code.parse().unwrap();
        format!("{:06}", (c + 500_000) % 1_000_000)
    };
    let mut statuses = Vec::new();
    for round in 0..2 {
        let login = log_in(&app, &user.email, PASSWORD, &format!("d{round}")).await;
        let token = login.body["mfa_token"].as_str().unwrap().to_string();
        for _ in 0..3 {
            let a = post(
                &app,
                "/auth/mfa/verify",
                json!({ "mfa_token": token, "code": wrong(&first_code) }),
            )
            .await;
            statuses.push(a.status);
        }
    }
    assert_eq!(statuses, [422, 422, 422, 422, 422, 429], "the sixth check");
    let login = log_in(&app, &user.email, PASSWORD, "d2").await;
    let right = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": login.body["mfa_token"], "code": totp_now(&secret, 1) }),
    )
    .await;
    assert_eq!(
        (right.status, right.code()),
        (429, "rate_limited"),
        "{right}"
    );
    assert!(right.headers.get("retry-after").is_some(), "{right}");
}

/// Registrations are limited per address (5 an hour) and per client address (30 an hour): past
/// them a 429 with Retry-After, and nothing more is stored.
#[tokio::test]
async fn registrations_are_limited_per_address_and_per_client() {
    let app = TestApp::start(Manifest::App).await;
    let email = format!("{}@example.com", unique_name("lim"));
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let a = post(
            &app,
            "/auth/register",
            json!({ "email": email, "password": PASSWORD, "username": unique_name("u"), "display_name": "X" }),
        )
        .await;
        statuses.push(a.status);
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 429]);
    let stored = count(&app, "SELECT count(*) FROM auth.registrations").await;
    let mut per_client = Vec::new();
    for _ in 0..26 {
        let name = unique_name("u");
        let a = post(
            &app,
            "/auth/register",
            json!({ "email": format!("{name}@example.com"), "password": PASSWORD, "username": name, "display_name": "X" }),
        )
        .await;
        per_client.push(a.status);
    }
    // 5 counted above (the refused sixth was stopped by its address first) + 25 = 30 from this
    // client; the 31st is refused.
    assert_eq!(per_client.iter().filter(|s| **s == 202).count(), 25);
    assert_eq!(per_client.last(), Some(&429));
    assert_eq!(
        count(&app, "SELECT count(*) FROM auth.registrations").await,
        stored + 25,
        "a refused registration stores nothing"
    );
}

/// An account keeps at most 100 sessions: the 101st login ends the oldest one (its refresh
/// token stops working), and the session list shows 100.
#[tokio::test]
async fn the_hundred_and_first_session_ends_the_oldest() {
    let app = TestApp::start(Manifest::App).await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;
    let oldest = user.refresh_token.clone();
    for i in 0..100 {
        let a = log_in(&app, &user.email, PASSWORD, &format!("device-{i}")).await;
        assert_eq!(a.status, 200, "{a}");
    }
    let refreshed = post(&app, "/auth/refresh", json!({ "refresh_token": oldest })).await;
    assert_eq!(
        (refreshed.status, refreshed.code()),
        (401, "refresh_token_invalid")
    );
    let last = log_in(&app, &user.email, PASSWORD, "device-last").await;
    let sessions = get(
        &app,
        "/auth/sessions",
        last.body["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        sessions.body["items"].as_array().unwrap().len(),
        100,
        "{sessions}"
    );
}

/// Tests and benchmarks make many users with `nexgate-ops seed-users` (no registration limits
/// loosened): 300 ready accounts in one call, each with a profile, each able to log in through
/// the API; the command refuses a database that is not a test or benchmark one.
#[tokio::test]
async fn many_users_are_seeded_for_tests_and_log_in_like_any_other() {
    let app = TestApp::start(Manifest::App).await;
    let started = Instant::now();
    let users = nexgate_tests::auth::seed_users(&app, 300, "seedu");
    assert_eq!(users.len(), 300);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM profiles.profiles WHERE username LIKE 'seedu%'"
        )
        .await,
        300
    );
    for u in [&users[0], &users[299]] {
        let a = log_in(&app, &u.email, PASSWORD, "seed").await;
        assert_eq!(a.status, 200, "{a}");
        assert_eq!(a.body["user_id"], u.user_id.as_str());
        let by_name = log_in(&app, &u.username, PASSWORD, "seed").await;
        assert_eq!(by_name.status, 200, "{by_name}");
    }
    let refused = std::process::Command::new(nexgate_tests::ops_bin())
        .args(["seed-users", "--database-url"])
        .arg(
            app.db
                .url("nexgate_admin")
                .replace("nexgate_test_", "nexgate_prod_"),
        )
        .args(["--count", "1", "--prefix", "x", "--password", PASSWORD])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nexgate_test_"));
}
