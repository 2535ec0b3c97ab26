//! Sign-in with identity providers (nexgate_auth::oauth): `POST /auth/oauth/{google|apple|facebook}`.
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
    let Some(provider) = path.strip_prefix("/auth/oauth/") else {
        return Problem::not_found("no such route").into_response();
    };
    if *req.method() != Method::Post {
        return Problem::method_not_allowed().into_response();
    }
    let provider = provider.to_string();
    nexgate_auth::oauth::sign_in(req, &provider, COMPONENT)
        .await
        .unwrap_or_else(Problem::into_response)
}
