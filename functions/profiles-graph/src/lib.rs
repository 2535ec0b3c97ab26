//! The follow graph (nexgate_profiles::graph): follow and unfollow, followers and following,
//! follow requests, removing a follower, blocks, mutes and `GET /users/relationships`; and the
//! verification level (nexgate_profiles::verification).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "profiles-graph";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("GET", "/users/relationships"),
    ("POST", "/users/{id}/follow"),
    ("DELETE", "/users/{id}/follow"),
    ("GET", "/users/{id}/followers"),
    ("GET", "/users/{id}/following"),
    ("GET", "/users/me/follow-requests"),
    ("GET", "/users/me/blocks"),
    ("GET", "/users/me/mutes"),
    ("POST", "/users/me/follow-requests/{id}/approve"),
    ("POST", "/users/me/follow-requests/{id}/reject"),
    ("DELETE", "/users/me/followers/{id}"),
    ("POST", "/users/{id}/block"),
    ("DELETE", "/users/{id}/block"),
    ("PUT", "/users/{id}/verification"),
    ("GET", "/users/{id}/verification"),
    ("GET", "/users/{id}/trust"),
    ("POST", "/users/{id}/mute"),
    ("DELETE", "/users/{id}/mute"),
];

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_profiles::graph::{self, List};
    use nexgate_profiles::{trust, verification};
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id");
    match route.key() {
        ("GET", "/users/relationships") => graph::relationships(&req),
        ("POST", "/users/{id}/follow") => graph::follow(&req, id, COMPONENT),
        ("DELETE", "/users/{id}/follow") => graph::unfollow(&req, id, COMPONENT),
        ("GET", "/users/{id}/followers") => graph::list(&req, id, List::Followers),
        ("GET", "/users/{id}/following") => graph::list(&req, id, List::Following),
        ("GET", "/users/me/follow-requests") => graph::list(&req, "me", List::FollowRequests),
        ("GET", "/users/me/blocks") => graph::list(&req, "me", List::Blocks),
        ("GET", "/users/me/mutes") => graph::list(&req, "me", List::Mutes),
        ("POST", "/users/me/follow-requests/{id}/approve") => {
            graph::answer_request(&req, id, true, COMPONENT)
        }
        ("POST", "/users/me/follow-requests/{id}/reject") => {
            graph::answer_request(&req, id, false, COMPONENT)
        }
        ("DELETE", "/users/me/followers/{id}") => graph::remove_follower(&req, id, COMPONENT),
        ("POST", "/users/{id}/block") => graph::block(&req, id, COMPONENT),
        ("DELETE", "/users/{id}/block") => graph::unblock(&req, id, COMPONENT),
        ("PUT", "/users/{id}/verification") => verification::set(&req, id, COMPONENT),
        ("GET", "/users/{id}/verification") => verification::get(&req, id),
        ("GET", "/users/{id}/trust") => trust::get(&req, id),
        ("POST", "/users/{id}/mute") => graph::mute(&req, id),
        ("DELETE", "/users/{id}/mute") => graph::unmute(&req, id),
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
