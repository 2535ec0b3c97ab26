//! Sending a direct message (nexgate_dm::messages::send), a component of its own; Spin routes by
//! path, so the history on the same path is served here too.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::respond::{read_request, respond_then};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "dm-send";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/dm/conversations/{id}/messages"),
    ("GET", "/dm/conversations/{id}/messages"),
];

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let req = match read_request(incoming).await {
        Ok(req) => req,
        Err(refused) => return respond_then(out, refused, async {}).await,
    };
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return respond_then(out, problem.into_response(), async {}).await,
    };
    let id = route.param("id");
    match route.key() {
        // The answer goes out once the message is committed; its events are published after
        // (docs/dm.md, "Speed").
        ("POST", "/dm/conversations/{id}/messages") => {
            match nexgate_dm::messages::send(&req, id, COMPONENT).await {
                Ok((answer, after)) => {
                    respond_then(out, answer, async move {
                        if let Some(after) = after {
                            after.publish();
                        }
                    })
                    .await
                }
                Err(problem) => respond_then(out, problem.into_response(), async {}).await,
            }
        }
        ("GET", "/dm/conversations/{id}/messages") => {
            let answer = nexgate_dm::messages::list(&req, id)
                .await
                .unwrap_or_else(Problem::into_response);
            respond_then(out, answer, async {}).await
        }
        _ => respond_then(out, unrouted(&route).into_response(), async {}).await,
    }
}
