//! Event ticketing's public routes (nexgate_ticketing, docs/ticketing.md): the draft wizard,
//! publishing, ticket types, orders (free and paid tickets), a holder's ticket, the public keys,
//! cancelling an event and its revocation list. Signing
//! (`events-signing`) and check-in (`events-checkin`) are components of their own.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::body::{read_request, send_response};
use nexgate_platform::routes::{find, unrouted, Route, Table};
use nexgate_platform::Problem;
use nexgate_ticketing::{
    analytics, attendance, attendees, cancellation, devices, drafts, orders, organizers, published,
    refunds, reviews, revocations, roles, ticket_types, tickets, transfers,
};
use spin_sdk::http::{IncomingRequest, Request, Response, ResponseOutparam};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "events-api";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/events"),
    ("GET", "/events/categories"),
    ("GET", "/events/{id}"),
    ("PATCH", "/events/{id}"),
    ("DELETE", "/events/{id}"),
    ("POST", "/events/{id}/publish"),
    ("PATCH", "/events/{id}/details"),
    ("POST", "/events/{id}/reschedule"),
    ("POST", "/events/{id}/ticket-types"),
    ("DELETE", "/events/{id}/ticket-types/{type_id}"),
    ("POST", "/events/{id}/orders"),
    ("GET", "/events/orders/{id}"),
    ("POST", "/events/{id}/cancel"),
    ("GET", "/events/{id}/revocations"),
    ("GET", "/events/{id}/reviews"),
    ("POST", "/events/{id}/reviews"),
    ("POST", "/events/{id}/reviews/{review_id}/reply"),
    ("GET", "/events/organizers/{id}/rating"),
    ("GET", "/events/organizers/{id}/events"),
    ("GET", "/events/{id}/analytics"),
    ("GET", "/events/settings/attendance"),
    ("PUT", "/events/settings/attendance"),
    ("GET", "/events/{id}/attendees"),
    ("GET", "/events/{id}/attendees.csv"),
    ("GET", "/events/{id}/devices"),
    ("POST", "/events/{id}/devices"),
    ("DELETE", "/events/{id}/devices/{device_id}"),
    ("GET", "/events/tickets/{id}"),
    ("GET", "/events/tickets/{id}/qr.svg"),
    ("GET", "/events/tickets/{id}/qr.png"),
    ("POST", "/events/tickets/{id}/refund"),
    ("POST", "/events/tickets/{id}/transfer"),
    ("PUT", "/events/{id}/refund-policy"),
    ("GET", "/events/keys"),
    ("GET", "/events/{id}/roles"),
    ("POST", "/events/{id}/roles"),
    ("DELETE", "/events/{id}/roles/{user_id}"),
];

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let req = match read_request(incoming).await {
        Ok(req) => req,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return send_response(out, problem.into_response()).await,
    };
    // The attendee download streams a page of rows at a time once it is allowed.
    if route.key() == ("GET", "/events/{id}/attendees.csv") {
        return match attendees::csv_allowed(&req, route.param("id")) {
            Ok((conn, event)) => attendees::stream_csv(conn, event, out).await,
            Err(problem) => send_response(out, problem.into_response()).await,
        };
    }
    send_response(out, answer(&req, &route).await).await
}

async fn answer(req: &Request, route: &Route) -> Response {
    let id = route.param("id").to_string();
    match route.key() {
        ("POST", "/events") => drafts::create(req),
        ("GET", "/events/categories") => drafts::categories(req),
        ("GET", "/events/{id}") => drafts::get(req, &id),
        ("PATCH", "/events/{id}") => drafts::patch(req, &id).await,
        ("DELETE", "/events/{id}") => drafts::discard(req, &id),
        ("POST", "/events/{id}/publish") => drafts::publish(req, &id).await,
        ("PATCH", "/events/{id}/details") => published::edit(req, &id),
        ("POST", "/events/{id}/reschedule") => published::reschedule(req, &id, COMPONENT),
        ("POST", "/events/{id}/ticket-types") => ticket_types::add(req, &id),
        ("DELETE", "/events/{id}/ticket-types/{type_id}") => {
            ticket_types::remove(req, &id, route.param("type_id"))
        }
        ("POST", "/events/{id}/orders") => orders::create(req, &id, COMPONENT).await,
        ("GET", "/events/orders/{id}") => orders::get(req, &id),
        ("POST", "/events/{id}/cancel") => cancellation::cancel(req, &id, COMPONENT).await,
        ("GET", "/events/{id}/revocations") => revocations::list(req, &id),
        ("GET", "/events/{id}/reviews") => reviews::list(req, &id),
        ("POST", "/events/{id}/reviews") => reviews::create(req, &id, COMPONENT),
        ("POST", "/events/{id}/reviews/{review_id}/reply") => {
            reviews::reply(req, &id, route.param("review_id"))
        }
        ("GET", "/events/organizers/{id}/rating") => reviews::organizer_rating(req, &id),
        ("GET", "/events/organizers/{id}/events") => organizers::page(req, &id),
        ("GET", "/events/{id}/analytics") => analytics::get(req, &id),
        ("GET", "/events/settings/attendance") => attendance::get(req),
        ("PUT", "/events/settings/attendance") => attendance::put(req),
        ("GET", "/events/{id}/attendees") => attendees::list(req, &id),
        ("GET", "/events/{id}/devices") => devices::list(req, &id),
        ("POST", "/events/{id}/devices") => devices::register(req, &id),
        ("DELETE", "/events/{id}/devices/{device_id}") => {
            devices::revoke(req, &id, route.param("device_id"))
        }
        ("GET", "/events/tickets/{id}") => tickets::get(req, &id).await,
        ("GET", "/events/keys") => tickets::keys(),
        ("GET", "/events/tickets/{id}/qr.svg") => tickets::image(req, &id, false).await,
        ("GET", "/events/tickets/{id}/qr.png") => tickets::image(req, &id, true).await,
        ("POST", "/events/tickets/{id}/refund") => refunds::refund(req, &id, COMPONENT).await,
        ("POST", "/events/tickets/{id}/transfer") => transfers::transfer(req, &id, COMPONENT).await,
        ("PUT", "/events/{id}/refund-policy") => refunds::set_policy(req, &id),
        ("GET", "/events/{id}/roles") => roles::list(req, &id),
        ("POST", "/events/{id}/roles") => roles::add(req, &id),
        ("DELETE", "/events/{id}/roles/{user_id}") => {
            roles::remove(req, &id, route.param("user_id"))
        }
        _ => Err(unrouted(route)),
    }
    .unwrap_or_else(Problem::into_response)
}
