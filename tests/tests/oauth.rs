//! Sign-in with Google, Apple and Facebook, black-box against a local simulator of the providers
//! (real RS256 tokens and JWKS, Graph's debug_token and /me with appsecret_proof).

use std::time::Duration;

use nexgate_tests::auth::{call, claims, device, post, sign_up, Answer, PASSWORD};
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

/// A nonce from the service, as the app gets one before asking the provider.
async fn nonce(app: &TestApp) -> String {
    let a = post(app, "/auth/oauth/nonce", json!({})).await;
    assert_eq!(a.status, 201, "{a}");
    a.body["nonce"].as_str().unwrap().to_string()
}

/// What the provider puts in its ID token for `nonce` (Apple: its SHA-256 in hex).
fn nonce_claim(provider: &str, nonce: &str) -> String {
    if provider == "apple" {
        hex::encode(Sha256::digest(nonce.as_bytes()))
    } else {
        nonce.to_string()
    }
}

/// A whole sign-in as an app does it: a nonce from us, an ID token from the provider carrying
/// it, both sent back. Returns the answer and what was sent (to replay it).
async fn sign_in(
    app: &TestApp,
    sim: &ProviderSimulator,
    provider: &'static str,
    mut token_claims: Value,
    extra: Value,
) -> (Answer, Value) {
    let n = nonce(app).await;
    token_claims["nonce"] = json!(nonce_claim(provider, &n));
    let mut body = json!({ "id_token": sim.id_token(provider, token_claims), "nonce": n });
    if let Value::Object(more) = extra {
        body.as_object_mut().unwrap().extend(more);
    }
    (oauth(app, provider, body.clone()).await, body)
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
    let google = || ProviderSimulator::google_claims(GOOGLE_CLIENT, &sub, &email, true);
    let (first, sent) = sign_in(&app, &sim, "google", google(), json!({})).await;
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

    let (again, _) = sign_in(&app, &sim, "google", google(), json!({})).await;
    assert_eq!(again.status, 200, "{again}");
    assert_eq!(again.body["user_id"], user_id.as_str());
    assert_eq!(sim.hits("/oauth2/v3/certs"), 1, "the JWKS is cached");
    // The same token and nonce again (a replay): the nonce is spent.
    let replay = oauth(&app, "google", sent).await;
    assert_eq!(
        (replay.status, replay.code()),
        (401, "nonce_invalid"),
        "{replay}"
    );

    let before = accounts(&app).await;
    // Each bad token carries a live nonce, so only its own fault refuses it (and spends nothing).
    let n = nonce(&app).await;
    let with_nonce = |mut c: Value| {
        c["nonce"] = json!(n);
        c
    };
    let forged = sim.forged_id_token("google", with_nonce(google()));
    let foreign = sim.id_token(
        "google",
        with_nonce(ProviderSimulator::google_claims(
            "someone-else",
            &sub,
            &email,
            true,
        )),
    );
    let mut other_party = with_nonce(google());
    other_party["azp"] = json!("someone-elses-client");
    let other_party = sim.id_token("google", other_party);
    let mut old = with_nonce(google());
    old["exp"] = json!(old["iat"].as_i64().unwrap() - 3600);
    let expired = sim.id_token("google", old);
    let mut wrong_iss = with_nonce(google());
    wrong_iss["iss"] = json!("https://accounts.evil.example");
    let wrong_iss = sim.id_token("google", wrong_iss);
    let mut other_nonce = google();
    other_nonce["nonce"] = json!("a-nonce-we-never-issued");
    let other_nonce = sim.id_token("google", other_nonce);
    for (bad, why) in [
        (forged, "signature does not verify"),
        (foreign, "another application"),
        (other_party, "another application"),
        (expired, "expired"),
        (wrong_iss, "not issued by the provider"),
        (other_nonce, "nonce"),
        ("not.a.jwt".to_string(), "not an RS256 JWT"),
    ] {
        let a = oauth(&app, "google", json!({ "id_token": bad, "nonce": n })).await;
        assert_eq!((a.status, a.code()), (401, "provider_token_invalid"), "{a}");
        assert!(a.body["detail"].as_str().unwrap().contains(why), "{a}");
    }
    // A nonce we never issued, carried by a genuine token: refused too.
    let mut made_up = google();
    made_up["nonce"] = json!("made-up-by-the-client");
    let made_up = sim.id_token("google", made_up);
    let a = oauth(
        &app,
        "google",
        json!({ "id_token": made_up, "nonce": "made-up-by-the-client" }),
    )
    .await;
    assert_eq!((a.status, a.code()), (401, "nonce_invalid"), "{a}");
    let no_nonce = oauth(&app, "google", json!({ "id_token": "x.y.z" })).await;
    assert_eq!(
        (
            no_nonce.status,
            no_nonce.body["errors"][0]["field"].as_str()
        ),
        (422, Some("nonce")),
        "{no_nonce}"
    );
    assert_eq!(
        accounts(&app).await,
        before,
        "a refused token changed nothing"
    );

    // Google rotates its keys: the unknown kid makes the service fetch the JWKS once more.
    sim.rotate("google");
    let (after, _) = sign_in(&app, &sim, "google", google(), json!({})).await;
    assert_eq!(after.status, 200, "{after}");
    assert_eq!(sim.hits("/oauth2/v3/certs"), 2);

    let missing = oauth(&app, "google", json!({ "nonce": n })).await;
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
    let squat = ProviderSimulator::google_claims(GOOGLE_CLIENT, "g-squatter", &user.email, false);
    let (separate, _) = sign_in(&app, &sim, "google", squat, json!({})).await;
    assert_eq!(separate.status, 201, "{separate}");
    assert_ne!(separate.body["user_id"], user.user_id.as_str());

    let linked = ProviderSimulator::google_claims(
        GOOGLE_CLIENT,
        "g-owner",
        &user.email.to_uppercase(),
        true,
    );
    let (a, _) = sign_in(&app, &sim, "google", linked, json!({})).await;
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
    let apple = || {
        ProviderSimulator::apple_claims(
            APPLE_CLIENT,
            &sub,
            "relay@privaterelay.appleid.example",
            None,
        )
    };
    let (first, _) = sign_in(
        &app,
        &sim,
        "apple",
        apple(),
        json!({ "user": { "name": { "firstName": "Neema", "lastName": "Mushi" }, "email": "relay@privaterelay.appleid.example" } }),
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

    // Later sign-ins carry no name; the token must carry the SHA-256 of the nonce sent with it.
    let n = nonce(&app).await;
    let mut later = apple();
    later["nonce"] = json!(nonce_claim("apple", &n));
    later["nonce_supported"] = json!(true);
    let token = sim.id_token("apple", later);
    let other = nonce(&app).await;
    let wrong = oauth(&app, "apple", json!({ "id_token": token, "nonce": other })).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (401, "provider_token_invalid"),
        "{wrong}"
    );
    let ok = oauth(&app, "apple", json!({ "id_token": token, "nonce": n })).await;
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
    let google =
        || ProviderSimulator::google_claims(GOOGLE_CLIENT, "g-mfa", "mfa@gmail.example", true);
    let (first, _) = sign_in(&app, &sim, "google", google(), json!({})).await;
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

    let (challenged, _) = sign_in(&app, &sim, "google", google(), json!({})).await;
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

/// What an app sends to link Google identity `sub`: an ID token carrying a fresh nonce of ours.
async fn link_proof(app: &TestApp, sim: &ProviderSimulator, sub: &str) -> Value {
    let n = nonce(app).await;
    let mut c =
        ProviderSimulator::google_claims(GOOGLE_CLIENT, sub, &format!("{sub}@gmail.example"), true);
    c["nonce"] = json!(n);
    json!({ "id_token": sim.id_token("google", c), "nonce": n })
}

/// A signed-in user links Google after re-authenticating (an old sign-in alone is refused), sees
/// it listed, signs in with it, cannot link an identity another account holds, and unlinks it;
/// an account whose only way in is Google cannot unlink it.
#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_providers_but_never_the_last_way_in() {
    let (app, sim) = start().await;
    let mut events = app.observe_events().await;
    let mut user = sign_up(&app, &mut events).await;
    let sub = format!("g-{}", uuid::Uuid::new_v4().simple());
    let claims_for = |sub: &str| {
        ProviderSimulator::google_claims(GOOGLE_CLIENT, sub, &format!("{sub}@gmail.example"), true)
    };
    // A sign-in an hour old is not enough.
    let stale = nexgate_tests::auth::token_signed_in_minutes_ago(&app, &mut user, 60).await;
    let body = link_proof(&app, &sim, &sub).await;
    let refused = call(
        &app,
        Method::POST,
        "/auth/oauth/google/link",
        Some(body),
        Some(&stale),
    )
    .await;
    assert_eq!(
        (refused.status, refused.code()),
        (403, "reauthentication_required"),
        "{refused}"
    );
    // After re-authenticating with the password: linked, listed, announced.
    let fresh = call(
        &app,
        Method::POST,
        "/auth/reauthenticate",
        Some(json!({ "password": PASSWORD })),
        Some(&stale),
    )
    .await;
    assert_eq!(fresh.status, 200, "{fresh}");
    let token = fresh.body["access_token"].as_str().unwrap().to_string();
    let body = link_proof(&app, &sim, &sub).await;
    let linked = call(
        &app,
        Method::POST,
        "/auth/oauth/google/link",
        Some(body),
        Some(&token),
    )
    .await;
    assert_eq!(linked.status, 200, "{linked}\n{}", app.host.log());
    let (_, told) = events
        .wait_for(Duration::from_secs(10), |k, _| {
            k.ends_with(".auth.identity.linked")
        })
        .await
        .expect("linked event");
    assert_eq!(told["audience"], json!([user.user_id]));
    let listed = call(
        &app,
        Method::GET,
        "/auth/oauth/identities",
        None,
        Some(&token),
    )
    .await;
    assert_eq!(listed.body["items"][0]["provider"], "google", "{listed}");
    let (signed_in, _) = sign_in(&app, &sim, "google", claims_for(&sub), json!({})).await;
    assert_eq!(
        (signed_in.status, signed_in.body["user_id"].as_str()),
        (200, Some(user.user_id.as_str())),
        "{signed_in}"
    );
    // Another identity of the same provider, or one another account holds, is refused.
    let body = link_proof(&app, &sim, &format!("g-{}", uuid::Uuid::new_v4().simple())).await;
    let second = call(
        &app,
        Method::POST,
        "/auth/oauth/google/link",
        Some(body),
        Some(&token),
    )
    .await;
    assert_eq!(
        (second.status, second.code()),
        (409, "provider_already_linked")
    );
    let other_sub = format!("g-{}", uuid::Uuid::new_v4().simple());
    let (other, _) = sign_in(&app, &sim, "google", claims_for(&other_sub), json!({})).await;
    assert_eq!(other.status, 201, "{other}");
    let unlinked = call(
        &app,
        Method::DELETE,
        "/auth/oauth/google",
        None,
        Some(&token),
    )
    .await;
    assert_eq!(unlinked.status, 204, "{unlinked}");
    let body = link_proof(&app, &sim, &other_sub).await;
    let taken = call(
        &app,
        Method::POST,
        "/auth/oauth/google/link",
        Some(body),
        Some(&token),
    )
    .await;
    assert_eq!((taken.status, taken.code()), (409, "identity_in_use"));
    // The Google-only account cannot remove its only way in.
    let other_token = other.body["access_token"].as_str().unwrap();
    let last = call(
        &app,
        Method::DELETE,
        "/auth/oauth/google",
        None,
        Some(other_token),
    )
    .await;
    assert_eq!(
        (last.status, last.code()),
        (409, "last_sign_in_method"),
        "{last}"
    );
    let (after, _) = sign_in(&app, &sim, "google", claims_for(&sub), json!({})).await;
    assert_ne!(
        after.body["user_id"].as_str(),
        Some(user.user_id.as_str()),
        "unlinked: that Google account no longer enters this one"
    );
}

#[tokio::test]
async fn the_sandbox_page_hands_out_id_tokens_the_app_accepts() {
    // scripts/up.sh's sandbox: the identity providers' simulator, and the page that plays the
    // provider's SDK for a person (an email in, an ID token for the app's nonce out).
    let identities =
        ProviderSimulator::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page = format!("http://{}", control.local_addr().unwrap());
    let payments = nexgate_tests::payments::PaymentSimulator::start_sandbox(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    nexgate_tests::sandbox::serve_control(
        control,
        nexgate_tests::sandbox::Sandbox {
            payments,
            identities: Some(identities.clone()),
            push: None,
        },
    );
    let app = TestApp::start_with(
        Manifest::App,
        HostOptions {
            env: nexgate_tests::sandbox::Sandbox::identity_env(&identities.origin),
            ..Default::default()
        },
    )
    .await;
    let http = reqwest::Client::new();
    for provider in ["google", "apple"] {
        let email = format!("{}@example.com", nexgate_tests::auth::unique_name(provider));
        let n = nonce(&app).await;
        let issued: Value = http
            .get(format!(
                "{page}/oauth/{provider}/id-token?email={email}&nonce={n}"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id_token = issued["id_token"].as_str().unwrap().to_string();
        let signed = oauth(&app, provider, json!({ "id_token": id_token, "nonce": n })).await;
        assert_eq!(signed.status, 201, "{provider}: {signed}");
        assert!(signed.body["access_token"].is_string(), "{signed}");
    }
    let email = format!("{}@example.com", nexgate_tests::auth::unique_name("fb"));
    let issued: Value = http
        .get(format!("{page}/oauth/facebook/access-token?email={email}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let facebook = oauth(
        &app,
        "facebook",
        json!({ "access_token": issued["access_token"], "username": nexgate_tests::auth::unique_name("fb") }),
    )
    .await;
    assert_eq!(facebook.status, 201, "facebook: {facebook}");
    let missing = http
        .get(format!("{page}/oauth/google/id-token?email=a@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 422, "no nonce, no token");
}
