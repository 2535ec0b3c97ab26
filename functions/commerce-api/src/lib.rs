//! The marketplace's public routes (nexgate_commerce, docs/commerce.md): shops, products and
//! their stock, the address book, orders. Checkout has a component of its own.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_commerce::{
    addresses, cart, inventory, orders, products, reviews, shops, verification, wishlist,
};
use nexgate_platform::routes::{find, unrouted, Table};
use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// This component's id in spin.toml (its MQTT client id).
const COMPONENT: &str = "commerce-api";

/// Every route this component answers (docs/openapi.yaml; tests/tests/contracts.rs).
const ROUTES: &Table = &[
    ("POST", "/shop/shops"),
    ("GET", "/shop/shops/{id}"),
    ("PATCH", "/shop/shops/{id}"),
    ("POST", "/shop/shops/{id}/products"),
    ("PUT", "/shop/shops/{id}/handle"),
    ("GET", "/shop/shops/{id}/staff"),
    ("POST", "/shop/shops/{id}/staff"),
    ("DELETE", "/shop/shops/{id}/staff/{user_id}"),
    ("GET", "/shop/products"),
    ("GET", "/shop/products/{id}"),
    ("GET", "/shop/products/{id}/reviews"),
    ("POST", "/shop/reviews/{id}/reply"),
    ("POST", "/shop/orders/{id}/reviews"),
    ("POST", "/shop/variants/{id}/stock"),
    ("PATCH", "/shop/variants/{id}"),
    ("GET", "/shop/cart"),
    ("PUT", "/shop/cart/items/{id}"),
    ("DELETE", "/shop/cart/items/{id}"),
    ("GET", "/shop/wishlist"),
    ("PUT", "/shop/wishlist/{id}"),
    ("DELETE", "/shop/wishlist/{id}"),
    ("GET", "/shop/addresses"),
    ("POST", "/shop/addresses"),
    ("DELETE", "/shop/addresses/{id}"),
    ("GET", "/shop/orders"),
    ("GET", "/shop/orders/{id}"),
    ("POST", "/shop/orders/{id}/process"),
    ("POST", "/shop/orders/{id}/ship"),
    ("POST", "/shop/orders/{id}/deliver"),
    ("POST", "/shop/orders/{id}/confirm"),
    ("POST", "/shop/orders/{id}/cancel"),
    ("POST", "/shop/orders/{id}/dispute"),
    ("POST", "/shop/operator/orders/{id}/resolve"),
    ("GET", "/shop/shops/{id}/verification-requests"),
    ("POST", "/shop/shops/{id}/verification-requests"),
    ("GET", "/shop/operator/verification-requests"),
    ("POST", "/shop/operator/verification-requests/{id}/decision"),
];

#[http_component]
async fn handle(req: Request) -> Response {
    let route = match find(ROUTES, req.method(), req.path()) {
        Ok(route) => route,
        Err(problem) => return problem.into_response(),
    };
    let id = route.param("id").to_string();
    let action = route.key().1.rsplit('/').next().unwrap_or_default();
    match route.key() {
        ("POST", "/shop/shops") => shops::create(&req).await,
        ("GET", "/shop/shops/{id}") => shops::get(&req, &id),
        ("PATCH", "/shop/shops/{id}") => shops::patch(&req, &id).await,
        ("POST", "/shop/shops/{id}/products") => products::create(&req, &id).await,
        ("PUT", "/shop/shops/{id}/handle") => shops::rename(&req, &id),
        ("GET", "/shop/shops/{id}/staff") => shops::staff(&req, &id),
        ("POST", "/shop/shops/{id}/staff") => shops::add_staff(&req, &id),
        ("DELETE", "/shop/shops/{id}/staff/{user_id}") => {
            shops::remove_staff(&req, &id, route.param("user_id"))
        }
        ("GET", "/shop/products") => products::list(&req),
        ("GET", "/shop/products/{id}") => products::get(&req, &id),
        ("GET", "/shop/products/{id}/reviews") => reviews::list(&req, &id),
        ("POST", "/shop/reviews/{id}/reply") => reviews::reply(&req, &id),
        ("POST", "/shop/orders/{id}/reviews") => reviews::create(&req, &id, COMPONENT).await,
        ("POST", "/shop/variants/{id}/stock") => inventory::change(&req, &id, COMPONENT),
        ("PATCH", "/shop/variants/{id}") => products::update_variant(&req, &id, COMPONENT),
        ("GET", "/shop/cart") => cart::get(&req),
        ("PUT", "/shop/cart/items/{id}") => cart::set(&req, &id),
        ("DELETE", "/shop/cart/items/{id}") => cart::remove(&req, &id),
        ("GET", "/shop/wishlist") => wishlist::list(&req),
        ("PUT", "/shop/wishlist/{id}") => wishlist::save(&req, &id),
        ("DELETE", "/shop/wishlist/{id}") => wishlist::unsave(&req, &id),
        ("GET", "/shop/addresses") => addresses::list(&req),
        ("POST", "/shop/addresses") => addresses::add(&req),
        ("DELETE", "/shop/addresses/{id}") => addresses::remove(&req, &id),
        ("GET", "/shop/orders") => orders::list(&req),
        ("GET", "/shop/orders/{id}") => orders::get(&req, &id),
        ("POST", "/shop/operator/orders/{id}/resolve") => {
            orders::resolve(&req, &id, COMPONENT).await
        }
        ("GET", "/shop/shops/{id}/verification-requests") => verification::history(&req, &id),
        ("POST", "/shop/shops/{id}/verification-requests") => {
            verification::request(&req, &id).await
        }
        ("GET", "/shop/operator/verification-requests") => verification::queue(&req).await,
        ("POST", "/shop/operator/verification-requests/{id}/decision") => {
            verification::decide(&req, &id, COMPONENT).await
        }
        ("POST", _) if route.key().1.starts_with("/shop/orders/{id}/") => {
            orders::act(&req, &id, action, COMPONENT).await
        }
        _ => Err(unrouted(&route)),
    }
    .unwrap_or_else(Problem::into_response)
}
