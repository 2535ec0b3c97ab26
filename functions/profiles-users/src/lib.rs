//! Profiles (nexgate_profiles::profile): `GET /users/me`, `PATCH /users/me`,
//! `GET /users/{id_or_username}`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "profiles-users";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("GET", "/users/me"),
    ("PATCH", "/users/me"),
    ("PUT", "/users/me/username"),
    ("GET", "/users/{id}"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    use nexgate_profiles::profile;
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    match route.key() {
        ("GET", "/users/me") => profile::get_me(&req),
        ("PATCH", "/users/me") => profile::patch_me(&req, COMPONENT).await,
        ("PUT", "/users/me/username") => nexgate_profiles::rename::rename(&req, COMPONENT),
        ("GET", "/users/{id}") => profile::get_user(&req, route.param("id")),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
