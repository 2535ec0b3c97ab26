//! Small HTTP helpers the auth handlers share.

use std::net::IpAddr;

use spin_sdk::http::{Request, Response};

pub use nexgate_platform::body::json_response as json;

/// 204 No Content.
pub fn no_content() -> Response {
    Response::builder().status(204).body(Vec::new()).build()
}

/// A network in `trusted_proxies`: an address, or a CIDR block (`10.42.0.0/16`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Self { base: addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                masked(u32::from(b) as u128, 32, self.prefix)
                    == masked(u32::from(a) as u128, 32, self.prefix)
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                masked(u128::from(b), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `bits`-wide address.
fn masked(addr: u128, bits: u32, prefix: u8) -> u128 {
    let keep = u32::from(prefix).min(bits);
    if keep == 0 {
        0
    } else {
        addr >> (bits - keep)
    }
}

/// Proxies whose `X-Forwarded-For` is believed: the `trusted_proxies` variable, comma-separated
/// addresses or CIDR blocks (empty by default: only the runtime's peer address counts). Behind an
/// ingress it must name the ingress's addresses, or every client is one address to the limits.
pub fn trusted_proxies() -> Vec<Network> {
    nexgate_platform::config::var("trusted_proxies")
        .unwrap_or_default()
        .split(',')
        .filter_map(Network::parse)
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
pub fn client_ip_from(peer: &str, forwarded: Option<&str>, trusted: &[Network]) -> String {
    let peer_ip = match peer.parse::<std::net::SocketAddr>() {
        Ok(sock) => sock.ip(),
        Err(_) => match peer.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return peer.to_string(),
        },
    };
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer_ip) {
        return peer_ip.to_string();
    }
    // Walk from the nearest hop back; the first address no trusted proxy added is the client.
    let mut client = peer_ip;
    for hop in forwarded.unwrap_or("").rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client.to_string()
}

/// The bucket a client address is counted in by per-address limits: the address itself for IPv4,
/// its /64 for IPv6 (one subscriber usually holds a whole /64, so counting single addresses
/// would give them 2^64 tries).
pub fn limit_bucket(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        _ => ip.to_string(),
    }
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
        let proxy = Network::parse("10.0.0.2").unwrap();
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
        let inner = Network::parse("203.0.113.9").unwrap();
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

    #[test]
    fn trusted_proxies_may_be_cidr_blocks() {
        let pods = Network::parse("10.42.0.0/16").unwrap();
        assert!(pods.contains("10.42.7.9".parse().unwrap()));
        assert!(!pods.contains("10.43.0.1".parse().unwrap()));
        assert!(!pods.contains("::1".parse().unwrap()));
        let v6 = Network::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::5".parse().unwrap()));
        assert!(!v6.contains("fe80::1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "nonsense", "10.0.0.0/x", ""] {
            assert_eq!(Network::parse(bad), None, "{bad}");
        }
        assert_eq!(
            client_ip_from("[fd12::5]:443", Some("2001:db8::7"), &[v6]),
            "2001:db8::7"
        );
    }

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        assert_eq!(limit_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            limit_bucket("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(limit_bucket("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(limit_bucket("203.0.113.9"), "203.0.113.9");
        assert_eq!(limit_bucket("::ffff:203.0.113.9"), "203.0.113.9");
    }
}
