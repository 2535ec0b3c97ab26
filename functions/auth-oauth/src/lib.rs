//! Sign-in with identity providers (nexgate_auth::oauth): `POST /auth/oauth/nonce` and
//! `POST /auth/oauth/{google|apple|facebook}`; the providers linked to an account
//! (nexgate_auth::identities): `GET /auth/oauth/identities`, `POST /auth/oauth/{provider}/link`,
//! `DELETE /auth/oauth/{provider}`.
//! Issues tokens, so it holds the JWT private key; it alone reaches the providers (and holds the
//! Facebook app secret).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-oauth";

#[http_component]
async fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    use nexgate_auth::{identities, oauth};
    let Some(rest) = path.strip_prefix("/auth/oauth/") else {
        return Problem::not_found("no such route").into_response();
    };
    let parts: Vec<String> = rest.split('/').map(str::to_string).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match (req.method().clone(), parts.as_slice()) {
        (Method::Post, ["nonce"]) => oauth::issue_nonce(&req),
        (Method::Get, ["identities"]) => identities::list(&req),
        (Method::Post, [provider, "link"]) => identities::link(req, provider, COMPONENT).await,
        (Method::Delete, [provider]) => identities::unlink(&req, provider, COMPONENT),
        (Method::Post, [provider]) => oauth::sign_in(req, provider, COMPONENT).await,
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
