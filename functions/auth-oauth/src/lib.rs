//! Sign-in with identity providers (nexgate_auth::oauth): `POST /auth/oauth/nonce` and
//! `POST /auth/oauth/{google|apple|facebook}`; the providers linked to an account
//! (nexgate_auth::identities): `GET /auth/oauth/identities`, `POST /auth/oauth/{provider}/link`,
//! `DELETE /auth/oauth/{provider}`.
//! Issues tokens, so it holds the JWT private key; it alone reaches the providers (and holds the
//! Facebook app secret).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "auth-oauth";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/auth/oauth/nonce"),
    ("GET", "/auth/oauth/identities"),
    ("POST", "/auth/oauth/{provider}/link"),
    ("DELETE", "/auth/oauth/{provider}"),
    ("POST", "/auth/oauth/{provider}"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    use nexgate_auth::{identities, oauth};
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let provider = route.param("provider").to_string();
    match route.key() {
        ("POST", "/auth/oauth/nonce") => oauth::issue_nonce(&req),
        ("GET", "/auth/oauth/identities") => identities::list(&req),
        ("POST", "/auth/oauth/{provider}/link") => {
            identities::link(req, &provider, COMPONENT).await
        }
        ("DELETE", "/auth/oauth/{provider}") => identities::unlink(&req, &provider, COMPONENT),
        ("POST", "/auth/oauth/{provider}") => oauth::sign_in(req, &provider, COMPONENT).await,
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
