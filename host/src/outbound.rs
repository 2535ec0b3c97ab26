//! `allowed_outbound_hosts`: which network addresses a component may reach, with Spin's grammar.
//!
//! An entry is `scheme://host[:port]` after its `{{ variable }}` templates are filled:
//! - scheme: a name (`https`, `postgres`, `redis`, `mqtt`, ...) or `*` for any;
//! - host: a name or IP, `*` for any, `*.example.com` for any subdomain, `self` (the app itself over
//!   HTTP) or `<component>.spin.internal` / `*.spin.internal` (local service chaining);
//! - port: a number, a range `8000..8010` (end exclusive, as in Rust), `*` for any, or omitted for the
//!   scheme's default port (`http` 80, `https` 443, `postgres` 5432, `redis` 6379, `mqtt` 1883, ...).
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Default,
    Exact(u16),
    Range(u16, u16),
}

/// The default port of a scheme, where it has one.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "postgres" | "postgresql" => 5432,
        "redis" => 6379,
        "rediss" => 6380,
        "mqtt" => 1883,
        "mqtts" => 8883,
        "mysql" => 3306,
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
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Suffix(format!(".{}", suffix.to_ascii_lowercase()))
        } else if host.contains('*') {
            bail!("`{entry}`: `*` is only allowed as the whole host or as its first label (`*.example.com`)");
        } else {
            HostPattern::Exact(host.to_ascii_lowercase())
        };
        let port = match port {
            None => PortPattern::Default,
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
        let scheme = if scheme == "*" {
            None
        } else {
            Some(scheme.to_ascii_lowercase())
        };
        if port == PortPattern::Default {
            if let Some(s) = &scheme {
                let chaining = matches!(&host, HostPattern::Exact(h) if h == "self" || h.ends_with(".spin.internal"))
                    || matches!(&host, HostPattern::Suffix(s) if s == ".spin.internal");
                if default_port(s).is_none() && !chaining {
                    bail!("`{entry}`: scheme `{s}` has no default port; give one");
                }
            } else {
                bail!("`{entry}`: a `*` scheme needs an explicit port (or `:*`)");
            }
        }
        Ok(Self { scheme, host, port })
    }

    /// Whether this entry allows `scheme://host:port`.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Some(s) = &self.scheme {
            if *s != scheme {
                return false;
            }
        }
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Suffix(suffix) => {
                host.ends_with(suffix.as_str()) && host.len() > suffix.len()
            }
            HostPattern::Exact(h) => h == host,
        };
        if !host_ok {
            return false;
        }
        let port = port.or_else(|| default_port(&scheme));
        match (&self.port, port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Default, p) => {
                p == self.scheme.as_deref().and_then(default_port) || p.is_none()
            }
            (PortPattern::Exact(e), Some(p)) => *e == p,
            (PortPattern::Range(a, b), Some(p)) => *a <= p && p < *b,
            (_, None) => false,
        }
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

    /// Checks a database or broker URL such as `postgres://user:pw@host:5432/db`.
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
        let g = grants(&["http://health.spin.internal", "http://self"]);
        assert!(g.allows("http", "health.spin.internal", None));
        assert!(g.allows("http", "self", None));
        assert!(!g.allows("http", "other.spin.internal", None));
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
