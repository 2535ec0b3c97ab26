//! The social service's public routes (nexgate_social, docs/social.md): posts read, edited,
//! deleted, pinned and scheduled; likes, reposts, bookmarks, comments, polls, collaborations;
//! the trending, discover, profile and hashtag feeds; reports and their operator queue. Post
//! creation (`social-posts`) and the home feed (`social-feed`) are components of their own.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::routes::{find, unrouted, Route, Table};
use nexgate_platform::Problem;
use nexgate_social::{coauthors, comments, feeds, interactions, polls, posts, reports, scheduled};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "social-api";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("GET", "/social/posts/{id}"),
    ("PATCH", "/social/posts/{id}"),
    ("DELETE", "/social/posts/{id}"),
    ("PUT", "/social/posts/{id}/pin"),
    ("DELETE", "/social/posts/{id}/pin"),
    ("POST", "/social/posts/{id}/like"),
    ("DELETE", "/social/posts/{id}/like"),
    ("GET", "/social/posts/{id}/likes"),
    ("GET", "/social/posts/{id}/quotes"),
    ("POST", "/social/posts/{id}/repost"),
    ("DELETE", "/social/posts/{id}/repost"),
    ("PUT", "/social/posts/{id}/bookmark"),
    ("DELETE", "/social/posts/{id}/bookmark"),
    ("GET", "/social/bookmarks"),
    ("GET", "/social/posts/{id}/comments"),
    ("POST", "/social/posts/{id}/comments"),
    ("GET", "/social/posts/{id}/comments/{comment_id}/replies"),
    ("DELETE", "/social/posts/{id}/comments/{comment_id}"),
    ("POST", "/social/posts/{id}/comments/{comment_id}/like"),
    ("DELETE", "/social/posts/{id}/comments/{comment_id}/like"),
    ("GET", "/social/posts/{id}/poll"),
    ("POST", "/social/posts/{id}/votes"),
    ("POST", "/social/posts/{id}/collaboration/accept"),
    ("POST", "/social/posts/{id}/collaboration/decline"),
    ("DELETE", "/social/posts/{id}/collaboration"),
    ("GET", "/social/collaborations"),
    ("POST", "/social/posts/{id}/reports"),
    ("GET", "/social/scheduled"),
    ("PATCH", "/social/scheduled/{id}"),
    ("DELETE", "/social/scheduled/{id}"),
    ("GET", "/social/users/{id}/posts"),
    ("GET", "/social/tags/trending"),
    ("GET", "/social/tags/{tag}/posts"),
    ("GET", "/social/feed/trending"),
    ("GET", "/social/feed/discover"),
    ("GET", "/social/operator/reports"),
    ("POST", "/social/operator/reports/{id}/resolve"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    answer(&req, &route)
        .await
        .unwrap_or_else(Problem::into_response)
}

async fn answer(req: &Request, route: &Route) -> Result<Response, Problem> {
    let id = route.param("id");
    let comment = || route.param("comment_id");
    match route.key() {
        ("GET", "/social/posts/{id}") => posts::get(req, id),
        ("PATCH", "/social/posts/{id}") => posts::edit(req, id, COMPONENT),
        ("DELETE", "/social/posts/{id}") => posts::delete(req, id, COMPONENT),
        ("PUT", "/social/posts/{id}/pin") => posts::pin(req, id),
        ("DELETE", "/social/posts/{id}/pin") => posts::unpin(req, id),
        ("POST", "/social/posts/{id}/like") => interactions::like(req, id, COMPONENT),
        ("DELETE", "/social/posts/{id}/like") => interactions::unlike(req, id),
        ("GET", "/social/posts/{id}/likes") => interactions::likers(req, id),
        ("GET", "/social/posts/{id}/quotes") => feeds::quotes(req, id),
        ("POST", "/social/posts/{id}/repost") => interactions::repost(req, id, COMPONENT),
        ("DELETE", "/social/posts/{id}/repost") => interactions::unrepost(req, id, COMPONENT),
        ("PUT", "/social/posts/{id}/bookmark") => interactions::bookmark(req, id),
        ("DELETE", "/social/posts/{id}/bookmark") => interactions::unbookmark(req, id),
        ("GET", "/social/bookmarks") => interactions::bookmarks(req),
        ("GET", "/social/posts/{id}/comments") => comments::list(req, id),
        ("POST", "/social/posts/{id}/comments") => comments::create(req, id, COMPONENT),
        ("GET", "/social/posts/{id}/comments/{comment_id}/replies") => {
            comments::replies(req, id, comment())
        }
        ("DELETE", "/social/posts/{id}/comments/{comment_id}") => {
            comments::delete(req, id, comment())
        }
        ("POST", "/social/posts/{id}/comments/{comment_id}/like") => {
            comments::like(req, id, comment(), true)
        }
        ("DELETE", "/social/posts/{id}/comments/{comment_id}/like") => {
            comments::like(req, id, comment(), false)
        }
        ("GET", "/social/posts/{id}/poll") => polls::get(req, id),
        ("POST", "/social/posts/{id}/votes") => polls::vote(req, id),
        ("POST", "/social/posts/{id}/collaboration/accept") => {
            coauthors::answer(req, id, "accept", COMPONENT)
        }
        ("POST", "/social/posts/{id}/collaboration/decline") => {
            coauthors::answer(req, id, "decline", COMPONENT)
        }
        ("DELETE", "/social/posts/{id}/collaboration") => {
            coauthors::answer(req, id, "remove", COMPONENT)
        }
        ("GET", "/social/collaborations") => coauthors::invitations(req),
        ("POST", "/social/posts/{id}/reports") => reports::create(req, id),
        ("GET", "/social/scheduled") => scheduled::list(req),
        ("PATCH", "/social/scheduled/{id}") => scheduled::edit(req, id),
        ("DELETE", "/social/scheduled/{id}") => scheduled::cancel(req, id).await,
        ("GET", "/social/users/{id}/posts") => feeds::profile(req, id),
        ("GET", "/social/tags/trending") => feeds::trending_tags(req),
        ("GET", "/social/tags/{tag}/posts") => feeds::tag(req, route.param("tag")),
        ("GET", "/social/feed/trending") => feeds::trending(req),
        ("GET", "/social/feed/discover") => feeds::discover(req),
        ("GET", "/social/operator/reports") => reports::queue(req),
        ("POST", "/social/operator/reports/{id}/resolve") => reports::resolve(req, id),
        _ => Err(unrouted(route)),
    }
}
