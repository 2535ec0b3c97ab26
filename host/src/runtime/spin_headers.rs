//! The `spin-*` request headers Spin sets for a component, and the client address they carry.

use bytes::Bytes;
use http::{HeaderValue, Request};

use crate::app::routing::{RouteHeaders, RouteMatch};
use crate::body::Body;

/// The `spin-*` request headers Spin sets for a component.
mod spin_header {
    use http::HeaderName;
    pub const FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
    pub const PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
    pub const MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
    pub const RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
    pub const COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
    pub const BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
    pub const CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
}

pub fn set_spin_headers(
    req: &mut Request<Body>,
    route: &RouteHeaders,
    matched: &RouteMatch,
    client_addr: &ClientAddr,
) {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // As Spin: the Host header, or `localhost` without one (a chained request has none).
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut full_url = String::with_capacity(7 + host.len() + path_and_query.len());
    full_url.push_str("http://");
    full_url.push_str(host);
    full_url.push_str(path_and_query);
    // One buffer for both the absolute URI and the `spin-full-url` header.
    let full_url = Bytes::from(full_url);
    // Make the URI absolute for the guest's `authority`.
    if req.uri().authority().is_none() {
        if let Ok(uri) = http::Uri::from_maybe_shared(full_url.clone()) {
            *req.uri_mut() = uri;
        }
    }
    let headers = req.headers_mut();
    // Room for the headers below at once, rather than the map growing (and rehashing) twice.
    headers.reserve(8 + matched.params.len());
    // A client may not forge what the platform tells the component.
    let forged: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for k in forged {
        headers.remove(k);
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(full_url) {
        headers.insert(spin_header::FULL_URL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&matched.path_info) {
        headers.insert(spin_header::PATH_INFO, v);
    }
    headers.insert(spin_header::MATCHED_ROUTE, route.matched_route.clone());
    headers.insert(
        spin_header::RAW_COMPONENT_ROUTE,
        route.raw_component_route.clone(),
    );
    headers.insert(spin_header::COMPONENT_ROUTE, route.component_route.clone());
    headers.insert(spin_header::BASE_PATH, HeaderValue::from_static("/"));
    headers.insert(spin_header::CLIENT_ADDR, client_addr.header.clone());
    for (name, value) in &matched.params {
        // Spin names the header `SPIN_PATH_MATCH_<NAME>`, then writes `_` as `-` in lower case.
        let name = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(name),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
}

/// The peer of a request that came over the network, with its `spin-client-addr` value made once
/// per connection rather than per request.
pub struct ClientAddr {
    header: HeaderValue,
}

impl ClientAddr {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            header: HeaderValue::from_str(&addr.to_string())
                .expect("a socket address is a valid header value"),
        }
    }
}
