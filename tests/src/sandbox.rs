//! The local sandbox (README, "Try it"; docs/operations.md, "Local sandbox"): the third parties
//! simulated the way they speak, like a provider's test mode. Run by `scripts/up.sh` through
//! `nexgate-sandbox`; never part of a production manifest.
//!
//! - Payments: Daraja, Selcom and Tembo Plus (tests/src/payments.rs); every payment and payout
//!   waits for a person, who approves or declines it on the page (or with curl).
//! - Sign-in: Google's and Apple's keys and Facebook's Graph API (tests/src/oauth.rs); the page
//!   hands out an ID token for an email and the nonce the app got from `POST /auth/oauth/nonce`,
//!   or a Facebook access token, as the provider's SDK would.
//! - Push: FCM (tests/src/notify.rs); every push the notifier sends is listed.
//!
//! Control routes (plain HTTP on their own port):
//! - `GET /`: the page (payments with Approve and Decline buttons, pushes);
//! - `GET /payments`: the payments as JSON (`[{provider, request_id, amount, phone, decided}]`);
//! - `POST /payments/{request_id}/approve` and `/decline`: 303 back to the page for a form, 200
//!   JSON otherwise; 404 for an unknown payment, 409 for one already decided;
//! - `GET /oauth/{google|apple}/id-token?email=...&nonce=...`: `{id_token}` for audience
//!   [`SANDBOX_CLIENT_ID`]; `GET /oauth/facebook/access-token?email=...`: `{access_token}`;
//! - `GET /pushes`: `[{token, title, body, data}]`, newest first.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};

use sha2::{Digest, Sha256};

use crate::notify::GatewaySimulator;
use crate::oauth::{ProviderSimulator, FACEBOOK_APP_ID, FACEBOOK_APP_SECRET};
use crate::payments::PaymentSimulator;

/// The OAuth client id (Google) and service id (Apple) the sandbox's ID tokens are issued for.
pub const SANDBOX_CLIENT_ID: &str = "nexgate-sandbox";

/// The simulated third parties behind one control page.
#[derive(Clone)]
pub struct Sandbox {
    pub payments: PaymentSimulator,
    pub identities: Option<ProviderSimulator>,
    pub push: Option<GatewaySimulator>,
}

impl Sandbox {
    /// The app's variables for sign-in through `identities_origin`.
    pub fn identity_env(identities_origin: &str) -> Vec<(String, String)> {
        let facebook = [
            ("SPIN_VARIABLE_OAUTH_FACEBOOK_APP_ID", FACEBOOK_APP_ID),
            (
                "SPIN_VARIABLE_OAUTH_FACEBOOK_APP_SECRET",
                FACEBOOK_APP_SECRET,
            ),
            ("SPIN_VARIABLE_OAUTH_FACEBOOK_ORIGIN", identities_origin),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        ["GOOGLE", "APPLE"]
            .into_iter()
            .flat_map(|p| {
                [
                    (
                        format!("SPIN_VARIABLE_OAUTH_{p}_CLIENT_IDS"),
                        SANDBOX_CLIENT_ID.to_string(),
                    ),
                    (
                        format!("SPIN_VARIABLE_OAUTH_{p}_ORIGIN"),
                        identities_origin.to_string(),
                    ),
                ]
            })
            .chain(facebook)
            .collect()
    }
}

/// Serves the control page and routes on `listener`.
pub fn serve_control(listener: tokio::net::TcpListener, sandbox: Sandbox) {
    crate::serve_http(listener, move |req| {
        let sandbox = sandbox.clone();
        async move { answer(&sandbox, req) }
    });
}

fn answer(sandbox: &Sandbox, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let sim = &sandbox.payments;
    let query = req.uri().query().unwrap_or("").to_string();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let from_form = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match (req.method(), parts.as_slice()) {
        (&Method::GET, []) => html(&page(sandbox)),
        (&Method::GET, ["pushes"]) => json_reply(200, &Value::Array(pushes(sandbox))),
        (&Method::GET, ["oauth", provider @ ("google" | "apple"), "id-token"]) => {
            id_token(sandbox, provider, &query)
        }
        (&Method::GET, ["oauth", "facebook", "access-token"]) => facebook_token(sandbox, &query),
        (&Method::GET, ["payments"]) => json_reply(200, &Value::Array(listing(sim))),
        (&Method::POST, ["payments", id, verb @ ("approve" | "decline")]) => {
            match sim.decide(id, *verb == "approve") {
                Ok(_) if from_form => Response::builder()
                    .status(303)
                    .header("location", "/")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
                Ok(p) => json_reply(
                    200,
                    &json!({"request_id": p.request_id, "decided": *verb == "approve"}),
                ),
                Err(why @ "already decided") => json_reply(409, &json!({"error": why})),
                Err(why) => json_reply(404, &json!({"error": why})),
            }
        }
        _ => json_reply(404, &json!({"error": "no such route"})),
    }
}

/// The payments as the control routes list them (the phone shown as the provider shows it to
/// its merchant: the last three digits).
fn listing(sim: &PaymentSimulator) -> Vec<Value> {
    sim.payments_with_decisions()
        .into_iter()
        .rev()
        .map(|(p, decided)| {
            let tail = &p.msisdn[p.msisdn.len().saturating_sub(3)..];
            json!({
                "provider": p.provider,
                "request_id": p.request_id,
                "amount": p.amount,
                "phone": format!("…{tail}"),
                "decided": decided.map(|approved| if approved { "approved" } else { "declined" }),
            })
        })
        .collect()
}

/// `name` of a query string (`%40` read as `@`), when given and not empty.
fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.replace("%40", "@"))
        .filter(|v| !v.is_empty())
}

/// What Facebook's SDK hands the app after the person logs in as `email`: a user access token
/// for the sandbox's app, valid for an hour.
fn facebook_token(sandbox: &Sandbox, query: &str) -> Response<Full<Bytes>> {
    let Some(identities) = &sandbox.identities else {
        return json_reply(404, &json!({"error": "sign-in is not simulated here"}));
    };
    let Some(email) = query_param(query, "email") else {
        return json_reply(422, &json!({"error": "give email"}));
    };
    let id = format!("fb{}", &hex::encode(Sha256::digest(email.as_bytes()))[..12]);
    let name = email.split('@').next().unwrap_or("Sandbox").to_string();
    let token = identities.facebook_token(FACEBOOK_APP_ID, &id, &name, Some(&email), 3600);
    json_reply(200, &json!({"access_token": token}))
}

/// What the provider's SDK hands the app after the person signs in as `email`: an ID token for
/// the sandbox's client id carrying the app's nonce (Apple: its SHA-256, as Apple does).
fn id_token(sandbox: &Sandbox, provider: &str, query: &str) -> Response<Full<Bytes>> {
    let Some(identities) = &sandbox.identities else {
        return json_reply(404, &json!({"error": "sign-in is not simulated here"}));
    };
    let (Some(email), Some(nonce)) = (query_param(query, "email"), query_param(query, "nonce"))
    else {
        return json_reply(422, &json!({"error": "give email and nonce"}));
    };
    let sub = format!(
        "sandbox-{}",
        &hex::encode(Sha256::digest(email.as_bytes()))[..16]
    );
    let (provider, mut claims, nonce_claim) = if provider == "apple" {
        let hashed = hex::encode(Sha256::digest(nonce.as_bytes()));
        (
            "apple",
            ProviderSimulator::apple_claims(SANDBOX_CLIENT_ID, &sub, &email, None),
            hashed,
        )
    } else {
        (
            "google",
            ProviderSimulator::google_claims(SANDBOX_CLIENT_ID, &sub, &email, true),
            nonce,
        )
    };
    claims["nonce"] = json!(nonce_claim);
    json_reply(
        200,
        &json!({"id_token": identities.id_token(provider, claims)}),
    )
}

/// The pushes the notifier sent, newest first (a token shown by its last characters).
fn pushes(sandbox: &Sandbox) -> Vec<Value> {
    let Some(push) = &sandbox.push else {
        return Vec::new();
    };
    push.pushes()
        .into_iter()
        .rev()
        .map(|p| {
            let tail = &p.token[p.token.len().saturating_sub(6)..];
            json!({"token": format!("…{tail}"), "title": p.title, "body": p.body, "data": p.data})
        })
        .collect()
}

fn page(sandbox: &Sandbox) -> String {
    let sim = &sandbox.payments;
    let mut pushed = String::new();
    for p in pushes(sandbox) {
        pushed.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(p["token"].as_str().unwrap_or("")),
            escape(p["title"].as_str().unwrap_or("")),
            escape(p["body"].as_str().unwrap_or("")),
        ));
    }
    let mut rows = String::new();
    for p in listing(sim) {
        let id = p["request_id"].as_str().unwrap_or("");
        let state = match p["decided"].as_str() {
            Some(d) => d.to_string(),
            None => format!(
                "<form method=post action=\"/payments/{id}/approve\"><button>Approve</button></form>\
                 <form method=post action=\"/payments/{id}/decline\"><button>Decline</button></form>"
            ),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>{id}</code></td><td>{}</td><td>{}</td><td>{state}</td></tr>",
            p["provider"].as_str().unwrap_or(""),
            p["amount"],
            p["phone"].as_str().unwrap_or(""),
        ));
    }
    format!(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>\
         <title>Nexgate sandbox: payments</title>\
         <style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em}}form{{display:inline}}</style>\
         <h1>Payments waiting for you</h1>\
         <p>Every M-Pesa prompt, Selcom or Tembo payment and payout the local platform starts shows \
         here. Approve it as the customer would on their phone, or decline it.</p>\
         <table><tr><th>provider<th>request<th>amount (major units)<th>phone<th></tr>{rows}</table>\
         <h2>Pushes sent</h2><table><tr><th>device token<th>title<th>body</tr>{pushed}</table>\
         <h2>Signing in with Google or Apple</h2><p>Ask the app for a nonce \
         (<code>POST /auth/oauth/nonce</code>), then <code>GET /oauth/google/id-token?email=you@example.com&amp;nonce=...</code> \
         here, and send both to <code>POST /auth/oauth/google</code>.</p>"
    )
}

/// Text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn html(body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn json_reply(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
