//! The follow graph (nexgate_profiles::graph): follow and unfollow, followers and following,
//! follow requests, removing a follower, blocks, mutes and `GET /users/relationships`; and the
//! verification level (nexgate_profiles::verification).

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "profiles-graph";

#[http_component]
fn handle(req: Request) -> Response {
    use nexgate_profiles::graph::{self, List};
    let path = req.path().to_string();
    let segments: Vec<&str> = path.trim_start_matches("/users/").split('/').collect();
    let method = req.method().clone();
    match (method, segments.as_slice()) {
        (Method::Get, ["relationships"]) => graph::relationships(&req),
        (Method::Post, [id, "follow"]) => graph::follow(&req, id, COMPONENT),
        (Method::Delete, [id, "follow"]) => graph::unfollow(&req, id, COMPONENT),
        (Method::Get, [id, "followers"]) => graph::list(&req, id, List::Followers),
        (Method::Get, [id, "following"]) => graph::list(&req, id, List::Following),
        (Method::Get, ["me", "follow-requests"]) => graph::list(&req, "me", List::FollowRequests),
        (Method::Get, ["me", "blocks"]) => graph::list(&req, "me", List::Blocks),
        (Method::Get, ["me", "mutes"]) => graph::list(&req, "me", List::Mutes),
        (Method::Post, ["me", "follow-requests", id, "approve"]) => {
            graph::answer_request(&req, id, true, COMPONENT)
        }
        (Method::Post, ["me", "follow-requests", id, "reject"]) => {
            graph::answer_request(&req, id, false, COMPONENT)
        }
        (Method::Delete, ["me", "followers", id]) => graph::remove_follower(&req, id, COMPONENT),
        (Method::Post, [id, "block"]) => graph::block(&req, id, COMPONENT),
        (Method::Delete, [id, "block"]) => graph::unblock(&req, id, COMPONENT),
        (Method::Put, [id, "verification"]) => {
            nexgate_profiles::verification::set(&req, id, COMPONENT)
        }
        (Method::Get, [id, "verification"]) => nexgate_profiles::verification::get(&req, id),
        (Method::Get, [id, "trust"]) => nexgate_profiles::trust::get(&req, id),
        (Method::Post, [id, "mute"]) => graph::mute(&req, id),
        (Method::Delete, [id, "mute"]) => graph::unmute(&req, id),
        _ => Err(Problem::not_found("no such route")),
    }
    .unwrap_or_else(Problem::into_response)
}
