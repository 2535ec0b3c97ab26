//! `allowed_outbound_hosts`: which network addresses a component may reach, with Spin's grammar.
//!
//! An entry is `scheme://host[:port]` after its `{{ variable }}` templates are filled:
//! - scheme: a name (`https`, `postgres`, `redis`, `mqtt`, ...) or `*` for any;
//! - host: a name or IP, `*` for any, `*.example.com` for any subdomain, `self` or `self.alt` (self
//!   requests: a relative URL or one whose host is `self.alt`; never a URL whose host is `self`), or
//!   `<component>.spin.internal` / `*.spin.internal` (local service chaining);
//! - port: a number, a range `8000..8010` (end exclusive, as in Rust), `*` for any, or omitted for
//!   the scheme's well-known port, which Spin 3.6 knows only for `http` 80, `https` 443,
//!   `postgres` 5432, `mysql` 3306, `redis` 6379 and `mqtt` 1883 (so `mqtts://` and `rediss://`
//!   entries need an explicit port, as on Spin).
//!
//! A path, query or user part in an entry is an error, as in Spin.

use anyhow::{bail, Context, Result};

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Suffix(String),
    Exact(String),
    /// `self` / `self.alt`: allows self requests only.
    ToSelf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Exact(u16),
    Range(u16, u16),
}

/// The well-known port of a scheme, as Spin 3.6 knows them (no `mqtts`, `rediss`, `postgresql`).
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "postgres" => 5432,
        "mysql" => 3306,
        "redis" => 6379,
        "mqtt" => 1883,
        _ => return None,
    })
}

impl AllowedHost {
    /// Parses one resolved entry.
    pub fn parse(entry: &str) -> Result<Self> {
        let (scheme, rest) = entry.split_once("://").with_context(|| {
            format!("`{entry}` has no scheme; write it as `scheme://host[:port]`")
        })?;
        if scheme.is_empty() {
            bail!("`{entry}` has an empty scheme");
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            bail!("`{entry}` may not contain a path, query or user part");
        }
        let (host, port) =
            split_host_port(rest).with_context(|| format!("`{entry}`: invalid port"))?;
        if host.is_empty() {
            bail!("`{entry}` has no host");
        }
        let host = if host == "*" {
            HostPattern::Any
        } else if host == "self" || host == "self.alt" {
            HostPattern::ToSelf
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{}", suffix.to_ascii_lowercase()))
        } else if host.contains('*') {
            bail!("`{entry}`: `*` is only allowed as the whole host or as its first label (`*.example.com`)");
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let scheme = if scheme == "*" {
            None
        } else {
            Some(scheme.to_ascii_lowercase())
        };
        let port = match port {
            None => match scheme.as_deref().and_then(default_port) {
                Some(p) => PortPattern::Exact(p),
                None => bail!(
                    "`{entry}`: no port was given and the scheme `{}` has no well-known port; give one",
                    scheme.as_deref().unwrap_or("*")
                ),
            },
            Some("*") => PortPattern::Any,
            Some(p) => {
                if let Some((a, b)) = p.split_once("..") {
                    let a: u16 = a
                        .parse()
                        .with_context(|| format!("`{entry}`: bad port range"))?;
                    let b: u16 = b
                        .parse()
                        .with_context(|| format!("`{entry}`: bad port range"))?;
                    if a >= b {
                        bail!("`{entry}`: empty port range");
                    }
                    PortPattern::Range(a, b)
                } else {
                    PortPattern::Exact(p.parse().with_context(|| format!("`{entry}`: bad port"))?)
                }
            }
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether this entry allows `scheme://host:port` (a URL with a host; never a self request).
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !self.allows_scheme(&scheme) {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Suffix(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            HostPattern::Exact(h) => h == host,
            HostPattern::ToSelf => false,
        };
        if !host_ok {
            return false;
        }
        match (&self.port, port.or_else(|| default_port(&scheme))) {
            (PortPattern::Any, _) => true,
            (PortPattern::Exact(e), Some(p)) => *e == p,
            (PortPattern::Range(a, b), Some(p)) => *a <= p && p < *b,
            (_, None) => false,
        }
    }

    /// Whether this entry allows a self request (`self`, `self.alt` or `*` host) over `scheme`.
    pub fn allows_self_request(&self, scheme: &str) -> bool {
        self.allows_scheme(scheme) && matches!(self.host, HostPattern::Any | HostPattern::ToSelf)
    }

    fn allows_scheme(&self, scheme: &str) -> bool {
        self.scheme.as_deref().is_none_or(|s| s == scheme)
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').context("unclosed `[`")?;
        let host = &s[..end + 2];
        let after = &rest[end + 1..];
        return Ok((host, after.strip_prefix(':')));
    }
    Ok(match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

/// The resolved outbound grants of one component.
#[derive(Debug, Clone, Default)]
pub struct OutboundGrants {
    entries: Vec<AllowedHost>,
}

impl OutboundGrants {
    /// Parses resolved entries (templates already filled).
    pub fn parse(entries: &[String]) -> Result<Self> {
        let entries = entries
            .iter()
            .map(|e| AllowedHost::parse(e))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { entries })
    }

    /// Whether any entry allows the address.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries.iter().any(|e| e.allows(scheme, host, port))
    }

    /// Whether a self request (a relative URL, or the host `self.alt`) is allowed: Spin asks for
    /// an `http` or `https` entry whose host is `self`, `self.alt` or `*`.
    pub fn allows_self_request(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.allows_self_request("http") || e.allows_self_request("https"))
    }

    /// Checks a Postgres connection string, in URL or keyword/value form, as Spin does: every
    /// TCP host with its port must be granted. The error is Spin's wording (for
    /// `ConnectionFailed`), without the password.
    pub fn check_postgres(&self, address: &str) -> Result<(), String> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|e: tokio_postgres::Error| e.to_string())?;
        let ports = config.get_ports();
        for (i, host) in config.get_hosts().iter().enumerate() {
            match host {
                tokio_postgres::config::Host::Tcp(name) => {
                    let port = ports
                        .get(i)
                        .or(if ports.len() == 1 {
                            ports.first()
                        } else {
                            None
                        })
                        .copied();
                    if !self.allows("postgres", name, port) {
                        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                        return Err(format!("address postgres://{name}{port} is not permitted"));
                    }
                }
                tokio_postgres::config::Host::Unix(_) => {
                    return Err("Unix sockets are not supported on WebAssembly".into());
                }
            }
        }
        Ok(())
    }

    /// Checks a database or broker URL such as `redis://host:6379`.
    pub fn allows_url(&self, address: &str) -> bool {
        match url::Url::parse(address) {
            Ok(u) => match u.host_str() {
                Some(h) => self.allows(u.scheme(), h, u.port()),
                None => false,
            },
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(entries: &[&str]) -> OutboundGrants {
        OutboundGrants::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn default_ports_apply_when_omitted() {
        let g = grants(&["https://api.example.com", "postgres://127.0.0.1"]);
        assert!(g.allows("https", "api.example.com", None));
        assert!(g.allows("https", "api.example.com", Some(443)));
        assert!(!g.allows("https", "api.example.com", Some(8443)));
        assert!(!g.allows("http", "api.example.com", None));
        assert!(g.allows_url("postgres://u:p@127.0.0.1/db"));
        assert!(g.allows_url("postgres://u:p@127.0.0.1:5432/db"));
        assert!(!g.allows_url("postgres://u:p@127.0.0.1:5433/db"));
    }

    #[test]
    fn wildcards_for_scheme_host_and_port() {
        let g = grants(&["*://*.example.com:*", "http://localhost:8000..8010"]);
        assert!(g.allows("https", "a.example.com", Some(1)));
        assert!(!g.allows("https", "example.com", None));
        assert!(g.allows("http", "localhost", Some(8005)));
        assert!(!g.allows("http", "localhost", Some(8010)));
    }

    #[test]
    fn chaining_hosts_need_no_port() {
        let g = grants(&["http://health.spin.internal"]);
        assert!(g.allows("http", "health.spin.internal", None));
        assert!(!g.allows("http", "other.spin.internal", None));
    }

    #[test]
    fn a_self_grant_allows_relative_and_self_alt_requests_but_not_the_host_self() {
        let g = grants(&["http://self"]);
        assert!(g.allows_self_request());
        assert!(!g.allows("http", "self", None));
        assert!(grants(&["https://self.alt"]).allows_self_request());
        assert!(grants(&["*://*:*"]).allows_self_request());
        assert!(!grants(&["http://example.com"]).allows_self_request());
        assert!(!grants(&["redis://self"]).allows_self_request());
    }

    #[test]
    fn schemes_without_a_well_known_port_need_one_as_on_spin() {
        assert!(AllowedHost::parse("mqtts://broker").is_err());
        assert!(AllowedHost::parse("rediss://cache").is_err());
        assert!(AllowedHost::parse("mqtts://broker:8883").is_ok());
    }

    #[test]
    fn postgres_keyword_value_strings_are_checked_per_host_and_port() {
        let g = grants(&["postgres://127.0.0.1:5432"]);
        assert!(g
            .check_postgres("host=127.0.0.1 port=5432 user=u password=secret dbname=d")
            .is_ok());
        assert!(g.check_postgres("postgres://u:p@127.0.0.1/db").is_ok());
        let err = g
            .check_postgres("host=10.0.0.9 port=5433 user=u password=secret dbname=d")
            .unwrap_err();
        assert_eq!(err, "address postgres://10.0.0.9:5433 is not permitted");
        assert!(g
            .check_postgres("host=127.0.0.1,10.0.0.9 port=5432 user=u")
            .is_err());
    }

    #[test]
    fn paths_and_bad_wildcards_are_refused() {
        assert!(AllowedHost::parse("https://example.com/path").is_err());
        assert!(AllowedHost::parse("https://ex*ample.com").is_err());
        assert!(AllowedHost::parse("example.com").is_err());
        assert!(AllowedHost::parse("*://example.com").is_err());
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let g = grants(&[]);
        assert!(!g.allows("https", "example.com", None));
    }
}
