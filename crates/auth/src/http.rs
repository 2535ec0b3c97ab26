//! Small HTTP helpers the auth handlers share.

use spin_sdk::http::{Request, Response};

pub use nexgate_platform::body::json_response as json;

/// 204 No Content.
pub fn no_content() -> Response {
    Response::builder().status(204).body(Vec::new()).build()
}

/// Proxies whose `X-Forwarded-For` is believed: the `trusted_proxies` variable, a comma-separated
/// list of IP addresses (empty by default: only the runtime's peer address counts).
pub fn trusted_proxies() -> Vec<std::net::IpAddr> {
    nexgate_platform::config::var("trusted_proxies")
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// The client's IP address: the runtime's peer (`spin-client-addr`, `ip:port`), or, when that peer
/// is a trusted proxy, the nearest address in `X-Forwarded-For` that is not a trusted proxy.
pub fn client_ip(req: &Request) -> Option<String> {
    let peer = req.header("spin-client-addr")?.as_str()?;
    let forwarded = req.header("x-forwarded-for").and_then(|v| v.as_str());
    Some(client_ip_from(peer, forwarded, &trusted_proxies()))
}

/// [`client_ip`] without the request, for tests.
pub fn client_ip_from(peer: &str, forwarded: Option<&str>, trusted: &[std::net::IpAddr]) -> String {
    let peer_ip = match peer.parse::<std::net::SocketAddr>() {
        Ok(sock) => sock.ip(),
        Err(_) => match peer.parse::<std::net::IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return peer.to_string(),
        },
    };
    if !trusted.contains(&peer_ip) {
        return peer_ip.to_string();
    }
    // Walk from the nearest hop back; the first address no trusted proxy added is the client.
    let mut client = peer_ip;
    for hop in forwarded.unwrap_or("").rsplit(',') {
        let Ok(ip) = hop.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client.to_string()
}

/// The request's content type.
pub fn content_type(req: &Request) -> Option<&str> {
    req.header("content-type").and_then(|v| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let xff = Some("198.51.100.7, 203.0.113.9");
        assert_eq!(
            client_ip_from("192.0.2.1:5000", xff, &[proxy]),
            "192.0.2.1",
            "untrusted peer"
        );
        assert_eq!(
            client_ip_from("10.0.0.2:5000", xff, &[proxy]),
            "203.0.113.9"
        );
        let inner: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip_from("10.0.0.2:5000", xff, &[proxy, inner]),
            "198.51.100.7"
        );
        assert_eq!(client_ip_from("10.0.0.2:5000", None, &[proxy]), "10.0.0.2");
        assert_eq!(
            client_ip_from("10.0.0.2:5000", Some("garbage"), &[proxy]),
            "10.0.0.2"
        );
    }
}
