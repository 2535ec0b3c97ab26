//! Sign-in with Google, Apple and Facebook, black-box against a local simulator of the providers
//! (real RS256 tokens and JWKS, Graph's debug_token and /me with appsecret_proof).

use std::time::Duration;

use nexgate_tests::auth::{call, claims, device, post, sign_up, Answer};
use nexgate_tests::oauth::{ProviderSimulator, FACEBOOK_APP_ID, FACEBOOK_APP_SECRET};
use nexgate_tests::{HostOptions, Manifest, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const GOOGLE_CLIENT: &str = "nexgate-android.apps.googleusercontent.com";
const APPLE_CLIENT: &str = "app.nexgate.ios";

async fn start() -> (TestApp, ProviderSimulator) {
    let sim = ProviderSimulator::start().await;
    let env = vec![
        (
            "SPIN_VARIABLE_OAUTH_GOOGLE_CLIENT_IDS".into(),
            format!("other-client,{GOOGLE_CLIENT}"),
        ),
        (
            "SPIN_VARIABLE_OAUTH_GOOGLE_ORIGIN".into(),
            sim.origin.clone(),
        ),
        (
            "SPIN_VARIABLE_OAUTH_APPLE_CLIENT_IDS".into(),
            APPLE_CLIENT.into(),
        ),
        (
            "SPIN_VARIABLE_OAUTH_APPLE_ORIGIN".into(),
            sim.origin.clone(),
        ),
        (
            "SPIN_VARIABLE_OAUTH_FACEBOOK_APP_ID".into(),
            FACEBOOK_APP_ID.into(),
        ),
        (
            "SPIN_VARIABLE_OAUTH_FACEBOOK_APP_SECRET".into(),
            FACEBOOK_APP_SECRET.into(),
        ),
        (
            "SPIN_VARIABLE_OAUTH_FACEBOOK_ORIGIN".into(),
            sim.origin.clone(),
        ),
    ];
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env,
            ..Default::default()
        },
    )
    .await;
    (app, sim)
}

async fn oauth(app: &TestApp, provider: &str, body: Value) -> Answer {
    let mut body = body;
    body["device"] = device("oauth-phone");
    post(app, &format!("/auth/oauth/{provider}"), body).await
}

async fn accounts(app: &TestApp) -> i64 {
    app.db
        .admin()
        .await
        .query_one("SELECT count(*) FROM auth.accounts", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn google_signs_up_then_in_and_refuses_forged_foreign_and_expired_tokens() {
    let (app, sim) = start().await;
    let sub = format!("g-{}", uuid::Uuid::new_v4().simple());
    let email = format!("{sub}@gmail.example");
    let token = sim.id_token(
        "google",
        ProviderSimulator::google_claims(GOOGLE_CLIENT, &sub, &email, true),
    );
    let first = oauth(&app, "google", json!({ "id_token": token })).await;
    assert_eq!(first.status, 201, "{first}\n{}", app.host.log());
    let user_id = first.body["user_id"].as_str().unwrap().to_string();
    let c = claims(first.body["access_token"].as_str().unwrap());
    assert_eq!(c["amr"], json!(["fed"]));
    let me = call(
        &app,
        Method::GET,
        "/users/me",
        None,
        first.body["access_token"].as_str(),
    )
    .await;
    assert_eq!(me.body["display_name"], "Amina Google", "{me}");
    assert!(
        me.body["username"]
            .as_str()
            .unwrap()
            .starts_with("aminagoogle"),
        "{me}"
    );

    let again = oauth(&app, "google", json!({ "id_token": token })).await;
    assert_eq!(again.status, 200, "{again}");
    assert_eq!(again.body["user_id"], user_id.as_str());
    assert_eq!(sim.hits("/oauth2/v3/certs"), 1, "the JWKS is cached");

    let before = accounts(&app).await;
    let forged = sim.forged_id_token(
        "google",
        ProviderSimulator::google_claims(GOOGLE_CLIENT, &sub, &email, true),
    );
    let foreign = sim.id_token(
        "google",
        ProviderSimulator::google_claims("someone-else", &sub, &email, true),
    );
    let mut old = ProviderSimulator::google_claims(GOOGLE_CLIENT, &sub, &email, true);
    old["exp"] = json!(old["iat"].as_i64().unwrap() - 3600);
    let expired = sim.id_token("google", old);
    let mut wrong_iss = ProviderSimulator::google_claims(GOOGLE_CLIENT, &sub, &email, true);
    wrong_iss["iss"] = json!("https://accounts.evil.example");
    let wrong_iss = sim.id_token("google", wrong_iss);
    for (bad, why) in [
        (forged, "signature does not verify"),
        (foreign, "another application"),
        (expired, "expired"),
        (wrong_iss, "not issued by the provider"),
        ("not.a.jwt".to_string(), "not an RS256 JWT"),
    ] {
        let a = oauth(&app, "google", json!({ "id_token": bad })).await;
        assert_eq!((a.status, a.code()), (401, "provider_token_invalid"), "{a}");
        assert!(a.body["detail"].as_str().unwrap().contains(why), "{a}");
    }
    assert_eq!(
        accounts(&app).await,
        before,
        "a refused token changed nothing"
    );

    // Google rotates its keys: the unknown kid makes the service fetch the JWKS once more.
    sim.rotate("google");
    let rotated = sim.id_token(
        "google",
        ProviderSimulator::google_claims(GOOGLE_CLIENT, &sub, &email, true),
    );
    let after = oauth(&app, "google", json!({ "id_token": rotated })).await;
    assert_eq!(after.status, 200, "{after}");
    assert_eq!(sim.hits("/oauth2/v3/certs"), 2);

    let missing = oauth(&app, "google", json!({})).await;
    assert_eq!(
        (missing.status, missing.body["errors"][0]["field"].as_str()),
        (422, Some("id_token")),
        "{missing}"
    );
    let unknown = oauth(&app, "myspace", json!({ "id_token": "x" })).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn a_verified_provider_email_links_to_the_account_and_an_unverified_one_never_does() {
    let (app, sim) = start().await;
    let mut events = app.observe_events().await;
    let user = sign_up(&app, &mut events).await;

    // Unverified at the provider: a separate account, the existing one untouched.
    let squat = sim.id_token(
        "google",
        ProviderSimulator::google_claims(GOOGLE_CLIENT, "g-squatter", &user.email, false),
    );
    let separate = oauth(&app, "google", json!({ "id_token": squat })).await;
    assert_eq!(separate.status, 201, "{separate}");
    assert_ne!(separate.body["user_id"], user.user_id.as_str());

    let linked = sim.id_token(
        "google",
        ProviderSimulator::google_claims(
            GOOGLE_CLIENT,
            "g-owner",
            &user.email.to_uppercase(),
            true,
        ),
    );
    let a = oauth(&app, "google", json!({ "id_token": linked })).await;
    assert_eq!(a.status, 200, "{a}");
    assert_eq!(a.body["user_id"], user.user_id.as_str());
    let (_, event) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.identity.linked")
        })
        .await
        .expect("the owner is told");
    assert_eq!(event["audience"], json!([user.user_id]));
    assert_eq!(event["data"]["provider"], "google");

    // Facebook never says an email is verified: it never links, even to the same address.
    let fb = sim.facebook_token(FACEBOOK_APP_ID, "fb-1", "Amina FB", Some(&user.email), 3600);
    let f = oauth(&app, "facebook", json!({ "access_token": fb })).await;
    assert_eq!(f.status, 201, "{f}");
    assert_ne!(f.body["user_id"], user.user_id.as_str());
}

#[tokio::test]
async fn apple_keeps_the_first_sign_in_name_and_checks_the_nonce() {
    let (app, sim) = start().await;
    let sub = format!("001234.{}", uuid::Uuid::new_v4().simple());
    let nonce = "raw-nonce-from-the-app";
    let hashed = hex::encode(Sha256::digest(nonce.as_bytes()));
    let claims_first = ProviderSimulator::apple_claims(
        APPLE_CLIENT,
        &sub,
        "relay@privaterelay.appleid.example",
        Some(&hashed),
    );
    let first = oauth(
        &app,
        "apple",
        json!({ "id_token": sim.id_token("apple", claims_first), "nonce": nonce,
                "user": { "name": { "firstName": "Neema", "lastName": "Mushi" }, "email": "relay@privaterelay.appleid.example" } }),
    )
    .await;
    assert_eq!(first.status, 201, "{first}\n{}", app.host.log());
    let me = call(
        &app,
        Method::GET,
        "/users/me",
        None,
        first.body["access_token"].as_str(),
    )
    .await;
    assert_eq!(me.body["display_name"], "Neema Mushi");
    let stored: Option<String> = app
        .db
        .admin()
        .await
        .query_one("SELECT display_name FROM auth.oauth_identities WHERE provider = 'apple' AND subject = $1", &[&sub])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored.as_deref(), Some("Neema Mushi"));

    // Later sign-ins carry no name; the nonce must match.
    let later = ProviderSimulator::apple_claims(
        APPLE_CLIENT,
        &sub,
        "relay@privaterelay.appleid.example",
        Some(&hashed),
    );
    let token = sim.id_token("apple", later);
    let wrong = oauth(
        &app,
        "apple",
        json!({ "id_token": token, "nonce": "another-nonce" }),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (401, "provider_token_invalid"),
        "{wrong}"
    );
    let ok = oauth(&app, "apple", json!({ "id_token": token, "nonce": nonce })).await;
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.body["user_id"], first.body["user_id"]);
}

#[tokio::test]
async fn facebook_tokens_are_checked_with_debug_token_and_me() {
    let (app, sim) = start().await;
    let good = sim.facebook_token(FACEBOOK_APP_ID, "fb-77", "Baraka FB", None, 3600);
    let first = oauth(&app, "facebook", json!({ "access_token": good, "username": format!("baraka_{}", &uuid::Uuid::new_v4().simple().to_string()[..6]) })).await;
    assert_eq!(first.status, 201, "{first}\n{}", app.host.log());
    let me = call(
        &app,
        Method::GET,
        "/users/me",
        None,
        first.body["access_token"].as_str(),
    )
    .await;
    assert!(me.body["username"].as_str().unwrap().starts_with("baraka_"));
    let again = oauth(&app, "facebook", json!({ "access_token": good })).await;
    assert_eq!(
        (again.status, &again.body["user_id"]),
        (200, &first.body["user_id"])
    );
    // No email from Facebook and no password: a fresh sign-in stands in for the password when
    // adding an email, which is verified with a code like any other.
    let mut events = app.observe_events().await;
    let address = format!("fb-{}@example.com", uuid::Uuid::new_v4().simple());
    let change = call(
        &app,
        Method::POST,
        "/auth/contact/change",
        Some(json!({ "email": address })),
        again.body["access_token"].as_str(),
    )
    .await;
    assert_eq!(change.status, 202, "{change}");
    let code = nexgate_tests::auth::code_for(&mut events, &address).await;
    let verified = call(
        &app,
        Method::POST,
        "/auth/contact/verify",
        Some(json!({ "change_id": change.body["change_id"], "code": code })),
        again.body["access_token"].as_str(),
    )
    .await;
    assert_eq!(verified.status, 200, "{verified}");

    let before = accounts(&app).await;
    let other_app = sim.facebook_token("999", "fb-78", "X", None, 3600);
    let expired = sim.facebook_token(FACEBOOK_APP_ID, "fb-79", "Y", None, -10);
    for bad in [other_app, expired, "EAAB-never-issued".to_string()] {
        let a = oauth(&app, "facebook", json!({ "access_token": bad })).await;
        assert_eq!((a.status, a.code()), (401, "provider_token_invalid"), "{a}");
    }
    let taken = oauth(&app, "facebook", json!({ "access_token": sim.facebook_token(FACEBOOK_APP_ID, "fb-80", "Z", None, 3600), "username": "ab" })).await;
    assert_eq!(taken.status, 422, "{taken}");
    assert_eq!(
        accounts(&app).await,
        before,
        "refused sign-ins made no account"
    );
}

#[tokio::test]
async fn with_mfa_on_a_provider_sign_in_needs_the_second_factor_and_says_so_in_amr() {
    let (app, sim) = start().await;
    let token = sim.id_token(
        "google",
        ProviderSimulator::google_claims(GOOGLE_CLIENT, "g-mfa", "mfa@gmail.example", true),
    );
    let first = oauth(&app, "google", json!({ "id_token": token })).await;
    assert_eq!(first.status, 201, "{first}");
    let access = first.body["access_token"].as_str().unwrap().to_string();
    let setup = call(
        &app,
        Method::POST,
        "/auth/mfa/totp/setup",
        Some(json!({})),
        Some(&access),
    )
    .await;
    assert_eq!(setup.status, 200, "{setup}");
    let secret = nexgate_auth::totp::base32_decode(setup.body["secret"].as_str().unwrap()).unwrap();
    let step = |offset: u64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        nexgate_auth::totp::code_at(&secret, nexgate_auth::totp::step_of(now) + offset)
    };
    let enabled = call(
        &app,
        Method::POST,
        "/auth/mfa/totp/enable",
        Some(json!({ "code": step(0) })),
        Some(&access),
    )
    .await;
    assert_eq!(enabled.status, 200, "{enabled}");

    let challenged = oauth(&app, "google", json!({ "id_token": token })).await;
    assert_eq!(
        (challenged.status, &challenged.body["mfa_required"]),
        (200, &json!(true)),
        "{challenged}"
    );
    assert!(challenged.body.get("access_token").is_none());
    let done = post(
        &app,
        "/auth/mfa/verify",
        json!({ "mfa_token": challenged.body["mfa_token"], "code": step(1) }),
    )
    .await;
    assert_eq!(done.status, 200, "{done}");
    assert_eq!(
        claims(done.body["access_token"].as_str().unwrap())["amr"],
        json!(["fed", "otp"])
    );
}
