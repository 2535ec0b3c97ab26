//! HTTP routing exactly as Spin documents it.
//!
//! A route is exact (`/cart`), has single-segment wildcards (`/users/:id/edit`), ends in a trailing
//! wildcard (`/users/...`, which also matches `/users` itself; `/...` matches everything), or both.
//! When several routes match: an exact route wins over any wildcard, a single-segment wildcard wins
//! over a trailing wildcard, and otherwise the more specific route wins, segment by segment from the
//! left (a literal segment beats `:name`, and a longer prefix beats a shorter one).

use std::cmp::Ordering;

use anyhow::{bail, Result};
use http::HeaderValue;

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
    trailing_wildcard: bool,
    /// The route as written (`spin-raw-component-route`, `spin-matched-route`) and without its
    /// trailing wildcard (`spin-component-route`), as header values made once; `None` where the
    /// route cannot be a header value.
    raw_header: Option<HeaderValue>,
    component_route_header: Option<HeaderValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl RoutePattern {
    /// Parses a manifest route such as `/users/:id/...`.
    pub fn parse(raw: &str) -> Result<Self> {
        if !raw.starts_with('/') {
            bail!("a route must start with `/`");
        }
        let mut rest = raw.trim_end_matches('/');
        let trailing_wildcard = if rest == "/..." || rest.ends_with("/...") {
            rest = &rest[..rest.len() - 4];
            true
        } else {
            false
        };
        let mut segments = Vec::new();
        for seg in rest.split('/').filter(|s| !s.is_empty()) {
            if seg == "..." {
                bail!("`...` is only allowed as the last segment");
            }
            if let Some(name) = seg.strip_prefix(':') {
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    bail!("`{seg}` is not a valid single-segment wildcard (use `:name`)");
                }
                segments.push(Segment::Param(name.to_string()));
            } else {
                segments.push(Segment::Literal(seg.to_string()));
            }
        }
        let component_route = segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(s) => format!("/{s}"),
                Segment::Param(n) => format!("/:{n}"),
            })
            .collect::<String>();
        Ok(Self {
            segments,
            trailing_wildcard,
            raw_header: HeaderValue::from_str(raw).ok(),
            component_route_header: HeaderValue::from_str(&component_route).ok(),
        })
    }

    /// The route as written in the manifest, as a header value (cheap to clone).
    pub fn raw_header(&self) -> Option<&HeaderValue> {
        self.raw_header.as_ref()
    }

    /// The route without its trailing wildcard, as a header value (cheap to clone).
    pub fn component_route_header(&self) -> Option<&HeaderValue> {
        self.component_route_header.as_ref()
    }

    fn category(&self) -> u8 {
        let has_params = self.segments.iter().any(|s| matches!(s, Segment::Param(_)));
        match (self.trailing_wildcard, has_params) {
            (false, false) => 3,
            (false, true) => 2,
            (true, _) => 1,
        }
    }

    /// Orders two patterns by how specific they are (greater wins).
    fn specificity_cmp(&self, other: &Self) -> Ordering {
        self.category().cmp(&other.category()).then_with(|| {
            let rank = |s: &Segment| match s {
                Segment::Literal(_) => 2u8,
                Segment::Param(_) => 1u8,
            };
            let a: Vec<u8> = self.segments.iter().map(rank).collect();
            let b: Vec<u8> = other.segments.iter().map(rank).collect();
            a.cmp(&b)
        })
    }

    /// Matches a request path; returns the captured parameters and the path info.
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        // Walks the path's segments without collecting them: every route is tried per request.
        let mut parts = path.split('/').filter(|s| !s.is_empty());
        let mut params = Vec::new();
        for seg in &self.segments {
            let part = parts.next()?;
            match seg {
                Segment::Literal(lit) if lit == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        let mut path_info = String::new();
        if self.trailing_wildcard {
            for part in parts {
                path_info.push('/');
                path_info.push_str(part);
            }
            if !path_info.is_empty() && path.ends_with('/') && path.len() > 1 {
                path_info.push('/');
            }
        } else if parts.next().is_some() {
            return None;
        }
        Some(RouteMatch { params, path_info })
    }
}

/// What a matched route captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `:name` captures, in route order (`spin-path-match-<name>`).
    pub params: Vec<(String, String)>,
    /// The part of the path after the route's fixed part (`spin-path-info`).
    pub path_info: String,
}

/// The routing table of an application.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<(RoutePattern, String)>,
}

/// A routed request: the component and what its route captured.
#[derive(Debug, Clone)]
pub struct Routed<'a> {
    pub component: &'a str,
    pub pattern: &'a RoutePattern,
    pub matched: RouteMatch,
}

impl Router {
    /// Builds the table; a route declared twice keeps its first component (as Spin does) and the
    /// duplicate is reported to the caller for a warning.
    pub fn build(
        routes: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>)> {
        let mut table: Vec<(RoutePattern, String)> = Vec::new();
        let mut duplicates = Vec::new();
        for (route, component) in routes {
            let pattern = RoutePattern::parse(&route)?;
            if table.iter().any(|(p, _)| {
                p.segments == pattern.segments && p.trailing_wildcard == pattern.trailing_wildcard
            }) {
                duplicates.push(format!("route `{route}` of component `{component}` duplicates an earlier route; the first one is used"));
                continue;
            }
            table.push((pattern, component));
        }
        Ok((Self { routes: table }, duplicates))
    }

    /// Finds the component for `path`, or `None` (a 404).
    pub fn route(&self, path: &str) -> Option<Routed<'_>> {
        let mut best: Option<(&RoutePattern, &String, RouteMatch)> = None;
        for (pattern, component) in &self.routes {
            if let Some(m) = pattern.matches(path) {
                let better = match &best {
                    None => true,
                    Some((current, _, _)) => pattern.specificity_cmp(current) == Ordering::Greater,
                };
                if better {
                    best = Some((pattern, component, m));
                }
            }
        }
        best.map(|(pattern, component, matched)| Routed {
            component,
            pattern,
            matched,
        })
    }

    /// The first route of `component`, used to compute headers for chained requests.
    pub fn route_of(&self, component: &str) -> Option<&RoutePattern> {
        self.routes
            .iter()
            .find(|(_, c)| c == component)
            .map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().map(|(r, c)| (r.to_string(), c.to_string())))
            .unwrap()
            .0
    }

    #[test]
    fn exact_routes_win_over_wildcards() {
        let r = router(&[("/cart/...", "wild"), ("/cart/checkout", "exact")]);
        assert_eq!(r.route("/cart/checkout").unwrap().component, "exact");
        assert_eq!(r.route("/cart/other").unwrap().component, "wild");
        assert_eq!(r.route("/cart").unwrap().component, "wild");
    }

    #[test]
    fn exact_routes_do_not_match_sub_paths() {
        let r = router(&[("/cart", "exact")]);
        assert!(r.route("/cart/checkout").is_none());
        assert!(r.route("/cart").is_some());
        assert!(r.route("/cart/").is_some());
    }

    #[test]
    fn the_longest_prefix_wins_among_wildcards() {
        let r = router(&[
            ("/...", "root"),
            ("/users/...", "users"),
            ("/users/admin/...", "admin"),
        ]);
        assert_eq!(r.route("/users/admin/x").unwrap().component, "admin");
        assert_eq!(r.route("/users/bob").unwrap().component, "users");
        assert_eq!(r.route("/other").unwrap().component, "root");
        assert_eq!(r.route("/").unwrap().component, "root");
    }

    #[test]
    fn single_segment_wildcards_beat_trailing_wildcards_and_capture() {
        let r = router(&[("/users/...", "users"), ("/users/:id", "one")]);
        let routed = r.route("/users/42").unwrap();
        assert_eq!(routed.component, "one");
        assert_eq!(
            routed.matched.params,
            vec![("id".to_string(), "42".to_string())]
        );
        assert_eq!(r.route("/users/42/edit").unwrap().component, "users");
    }

    #[test]
    fn path_info_is_the_rest_after_the_route() {
        let r = router(&[("/test/...", "t")]);
        let routed = r.route("/test/wildcard/abc").unwrap();
        assert_eq!(routed.matched.path_info, "/wildcard/abc");
        assert_eq!(routed.pattern.component_route_header().unwrap(), "/test");
        assert_eq!(routed.pattern.raw_header().unwrap(), "/test/...");
        assert_eq!(r.route("/test").unwrap().matched.path_info, "");
    }

    #[test]
    fn no_route_is_none() {
        let r = router(&[("/a", "a")]);
        assert!(r.route("/b").is_none());
    }

    #[test]
    fn duplicates_keep_the_first_and_are_reported() {
        let (r, dups) = Router::build(vec![
            ("/a".to_string(), "first".to_string()),
            ("/a".to_string(), "second".to_string()),
        ])
        .unwrap();
        assert_eq!(dups.len(), 1);
        assert_eq!(r.route("/a").unwrap().component, "first");
    }

    #[test]
    fn malformed_routes_are_refused() {
        assert!(RoutePattern::parse("cart").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(RoutePattern::parse("/a/:").is_err());
    }
}
