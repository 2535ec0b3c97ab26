//! Small HTTP helpers the auth handlers share.

use serde::Serialize;
use spin_sdk::http::{Request, Response};

/// A JSON response.
pub fn json(status: u16, body: &impl Serialize) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(serde_json::to_vec(body).unwrap_or_default())
        .build()
}

/// 204 No Content.
pub fn no_content() -> Response {
    Response::builder().status(204).body(Vec::new()).build()
}

/// The client's IP address as the runtime saw it (`spin-client-addr`, `ip:port`).
pub fn client_ip(req: &Request) -> Option<String> {
    let addr = req.header("spin-client-addr")?.as_str()?;
    let ip = match addr.parse::<std::net::SocketAddr>() {
        Ok(sock) => sock.ip().to_string(),
        Err(_) => addr.to_string(),
    };
    Some(ip)
}

/// The request's content type.
pub fn content_type(req: &Request) -> Option<&str> {
    req.header("content-type").and_then(|v| v.as_str())
}

/// Now, RFC 3339.
pub fn now_rfc3339() -> String {
    let (secs, nanos) = nexgate_platform::time::now_unix();
    nexgate_platform::time::rfc3339(secs, nanos)
}
