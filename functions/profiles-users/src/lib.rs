//! Profiles (nexgate_profiles::profile): `GET /users/me`, `PATCH /users/me`,
//! `GET /users/{id_or_username}`.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "profiles-users";

#[http_component]
async fn handle(req: Request) -> Response {
    use nexgate_profiles::profile;
    let path = req.path().to_string();
    match (req.method(), path.as_str()) {
        (Method::Get, "/users/me") => profile::get_me(&req),
        (Method::Patch, "/users/me") => profile::patch_me(&req, COMPONENT).await,
        (_, "/users/me") => Err(Problem::method_not_allowed()),
        (Method::Put, "/users/me/username") => nexgate_profiles::rename::rename(&req, COMPONENT),
        (_, "/users/me/username") => Err(Problem::method_not_allowed()),
        (Method::Get, p) => profile::get_user(&req, p.trim_start_matches("/users/")),
        _ => Err(Problem::method_not_allowed()),
    }
    .unwrap_or_else(Problem::into_response)
}
