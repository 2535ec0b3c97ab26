//! HTTP routing exactly as Spin 3.6 routes: the same matcher (`routefinder` 0.5.4), fed the same way.
//!
//! What Spin does, and so what this module does:
//! 1. Routes are taken in manifest order. A route written twice (the same string) keeps its first
//!    position but the *last* declaration's component, and the replaced one is reported.
//! 2. Each route is given to `routefinder` with `/...` rewritten to `/*` (a trailing wildcard that
//!    also matches the prefix itself). `routefinder` orders routes by specificity, segment by
//!    segment from the left: a literal beats `:name`, which beats `*`. So `/users/me/...` beats
//!    `/users/:id` for `/users/me`.
//! 3. A request path is matched with one leading and trailing `/` ignored, but empty segments are
//!    not collapsed: `/users//me` matches neither `/users/me` nor `/users/:id`.
//! 4. `spin-path-info` is the wildcard's capture with Spin's slashes: `""` for `/foo` under
//!    `/foo/...`, `/` for `/foo/`, `/bar` for `/foo/bar`, `/bar/` for `/foo/bar/`.
//!
//! One thing Spin accepts but never matches is refused here at start-up: `routefinder` treats `.`
//! as a separator, so a segment that starts with `.` below the root (`/auth/.well-known/x`) can
//! never be reached on Spin. Any other route that could not match its own sample path is refused
//! the same way, with the reason.

use anyhow::{bail, Result};
use http::HeaderValue;

/// The `spin-*` values a matched route gives a request, made once per route.
#[derive(Debug, Clone)]
pub struct RouteHeaders {
    /// `spin-matched-route`: the route with the app's base (`/`), one trailing `/` removed.
    pub matched_route: HeaderValue,
    /// `spin-raw-component-route`: the route as written in the manifest.
    pub raw_component_route: HeaderValue,
    /// `spin-component-route`: the route without its trailing `/...`.
    pub component_route: HeaderValue,
}

impl RouteHeaders {
    fn for_route(raw: &str) -> Result<Self> {
        let based = raw.strip_suffix('/').unwrap_or(raw);
        let prefix = raw.strip_suffix("/...").unwrap_or(raw);
        let value = |s: &str| {
            HeaderValue::from_str(s)
                .map_err(|_| anyhow::anyhow!("route `{raw}` is not a valid header value"))
        };
        Ok(Self {
            matched_route: value(based)?,
            raw_component_route: value(raw)?,
            component_route: value(prefix)?,
        })
    }

    /// What Spin gives a chained request (`http://<component>.spin.internal/...`): a synthetic
    /// match of `/...`, whose component route is empty.
    pub fn chained() -> Self {
        Self {
            matched_route: HeaderValue::from_static("/..."),
            raw_component_route: HeaderValue::from_static("/..."),
            component_route: HeaderValue::from_static(""),
        }
    }
}

/// What one route maps to.
#[derive(Debug)]
struct RouteTarget {
    component: String,
    headers: RouteHeaders,
}

/// What a matched route captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `:name` captures (`spin-path-match-<name>`, with `_` written `-`).
    pub params: Vec<(String, String)>,
    /// The trailing wildcard's part of the path (`spin-path-info`), or `""` for an exact route.
    pub path_info: String,
}

impl RouteMatch {
    /// A chained request's match: the whole path is the path info.
    pub fn chained(path: &str) -> Self {
        Self {
            params: Vec::new(),
            path_info: path.to_string(),
        }
    }
}

/// The routing table of an application.
#[derive(Debug, Default)]
pub struct Router {
    inner: routefinder::Router<RouteTarget>,
}

/// A routed request: the component and what its route captured.
#[derive(Debug)]
pub struct Routed<'a> {
    pub component: &'a str,
    pub headers: &'a RouteHeaders,
    pub matched: RouteMatch,
}

impl Router {
    /// Builds the table from `(route, component)` in manifest order; returns the duplicates
    /// (a route string declared twice keeps the last component, as on Spin) for warnings.
    pub fn build(
        routes: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>)> {
        let mut table: Vec<(String, String)> = Vec::new();
        let mut duplicates = Vec::new();
        for (route, component) in routes {
            check_route(&route)?;
            match table.iter_mut().find(|(r, _)| *r == route) {
                Some(entry) => {
                    duplicates.push(format!(
                        "route `{route}` of component `{}` is declared again for `{component}`; \
                         `{component}` serves it (Spin keeps the last declaration)",
                        entry.1
                    ));
                    entry.1 = component;
                }
                None => table.push((route, component)),
            }
        }
        let mut inner = routefinder::Router::new();
        for (route, component) in table {
            let spec = spec_of(&route);
            let headers = RouteHeaders::for_route(&route)?;
            inner
                .add(spec.as_str(), RouteTarget { component, headers })
                .map_err(|e| anyhow::anyhow!("route `{route}`: {e}"))?;
        }
        Ok((Self { inner }, duplicates))
    }

    /// Finds the component for `path`, or `None` (a 404).
    pub fn route(&self, path: &str) -> Option<Routed<'_>> {
        let found = self.inner.best_match(path)?;
        let target = found.handler();
        let captures = found.captures();
        let params = captures
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(rest) => match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            },
        };
        Some(Routed {
            component: &target.component,
            headers: &target.headers,
            matched: RouteMatch { params, path_info },
        })
    }
}

/// The `routefinder` spec Spin makes of a manifest route (`/x/...` → `/x/*`).
fn spec_of(route: &str) -> String {
    let based = route.strip_suffix('/').unwrap_or(route);
    match based.strip_suffix("/...") {
        Some(prefix) => format!("{prefix}/*"),
        None => based.to_string(),
    }
}

/// Refuses what Spin would load but never route, and what it refuses outright.
pub fn check_route(route: &str) -> Result<()> {
    if !route.starts_with('/') {
        bail!("route `{route}` must start with `/`");
    }
    let body = route.strip_suffix("/...").unwrap_or(route);
    let segments: Vec<&str> = body.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        if *segment == "..." {
            bail!("route `{route}`: `...` is only allowed as the last segment");
        }
        if segment.starts_with('.') && i > 0 {
            bail!(
                "route `{route}`: Spin never matches a path segment that starts with `.` below the \
                 root (`{segment}`); serve it at the root (e.g. `/.well-known/...`) or rename it"
            );
        }
        if *segment == ":" {
            bail!("route `{route}`: `:` must be followed by a name (`:id`)");
        }
        if segment.starts_with('*') && (*segment != "*" || i + 1 != segments.len()) {
            bail!(
                "route `{route}`: `*` is only allowed as the whole last segment (or write `/...`)"
            );
        }
    }
    let spec: routefinder::RouteSpec = spec_of(route)
        .parse()
        .map_err(|e| anyhow::anyhow!("route `{route}`: {e}"))?;
    let sample = sample_path(route);
    if spec.matches(&sample).is_none() {
        bail!("route `{route}` can never be matched on Spin (it does not match `{sample}`)");
    }
    Ok(())
}

/// A path the route must match: every `:name` becomes `x`, the trailing wildcard nothing.
fn sample_path(route: &str) -> String {
    let body = route.strip_suffix("/...").unwrap_or(route);
    body.split('/')
        .map(|s| if s.starts_with(':') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().map(|(r, c)| (r.to_string(), c.to_string())))
            .unwrap()
            .0
    }

    fn component<'a>(r: &'a Router, path: &str) -> Option<&'a str> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_routes_win_over_wildcards() {
        let r = router(&[("/cart/...", "wild"), ("/cart/checkout", "exact")]);
        assert_eq!(component(&r, "/cart/checkout"), Some("exact"));
        assert_eq!(component(&r, "/cart/other"), Some("wild"));
        assert_eq!(component(&r, "/cart"), Some("wild"));
    }

    #[test]
    fn exact_routes_match_a_trailing_slash_but_not_sub_paths() {
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
        assert_eq!(component(&r, "/users/admin/x"), Some("admin"));
        assert_eq!(component(&r, "/users/bob"), Some("users"));
        assert_eq!(component(&r, "/other"), Some("root"));
        assert_eq!(component(&r, "/"), Some("root"));
    }

    #[test]
    fn a_literal_segment_beats_a_parameter_even_against_a_trailing_wildcard() {
        let r = router(&[("/users/:id", "one"), ("/users/me/...", "me")]);
        assert_eq!(component(&r, "/users/me"), Some("me"));
        assert_eq!(component(&r, "/users/me/settings"), Some("me"));
        let one = r.route("/users/42").unwrap();
        assert_eq!(one.component, "one");
        assert_eq!(one.matched.params, vec![("id".into(), "42".into())]);
    }

    #[test]
    fn single_segment_wildcards_beat_trailing_wildcards_and_capture() {
        let r = router(&[("/users/...", "users"), ("/users/:id", "one")]);
        assert_eq!(component(&r, "/users/42"), Some("one"));
        assert_eq!(component(&r, "/users/42/edit"), Some("users"));
    }

    #[test]
    fn empty_segments_are_not_collapsed() {
        let r = router(&[("/users/me", "me"), ("/users/:id", "one")]);
        assert!(r.route("/users//me").is_none());
        assert_eq!(component(&r, "/users/me"), Some("me"));
    }

    #[test]
    fn path_info_has_spins_slashes() {
        let r = router(&[("/foo/...", "t")]);
        let info = |p: &str| r.route(p).unwrap().matched.path_info;
        assert_eq!(info("/foo"), "");
        assert_eq!(info("/foo/"), "/");
        assert_eq!(info("/foo/bar"), "/bar");
        assert_eq!(info("/foo/bar/"), "/bar/");
        assert_eq!(info("/foo/a/b"), "/a/b");
        let exact = router(&[("/exact", "e")]);
        assert_eq!(exact.route("/exact").unwrap().matched.path_info, "");
    }

    #[test]
    fn route_headers_are_made_from_the_route_as_written() {
        let r = router(&[("/test/...", "t"), ("/one/:user_id", "p")]);
        let h = r.route("/test/x").unwrap().headers;
        assert_eq!(h.matched_route, "/test/...");
        assert_eq!(h.raw_component_route, "/test/...");
        assert_eq!(h.component_route, "/test");
        let chained = RouteHeaders::chained();
        assert_eq!(chained.matched_route, "/...");
        assert_eq!(chained.component_route, "");
    }

    #[test]
    fn a_route_declared_twice_keeps_the_last_component_and_is_reported() {
        let (r, dups) = Router::build(vec![
            ("/a".to_string(), "first".to_string()),
            ("/b".to_string(), "b".to_string()),
            ("/a".to_string(), "second".to_string()),
        ])
        .unwrap();
        assert_eq!(dups.len(), 1, "{dups:?}");
        assert_eq!(component(&r, "/a"), Some("second"));
        assert_eq!(component(&r, "/b"), Some("b"));
    }

    #[test]
    fn dot_segments_below_the_root_are_refused_at_start_up_and_allowed_at_the_root() {
        let err = Router::build(vec![("/auth/.well-known/jwks.json".into(), "a".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("starts with `.`"), "{err}");
        let r = router(&[("/.well-known/jwks.json", "jwks"), ("/x/y/z.json", "z")]);
        assert_eq!(component(&r, "/.well-known/jwks.json"), Some("jwks"));
        assert_eq!(component(&r, "/x/y/z.json"), Some("z"));
    }

    #[test]
    fn malformed_routes_are_refused() {
        for bad in ["cart", "/a/.../b", "/a/:", "/a/*rest", "/a/*/b"] {
            assert!(
                Router::build(vec![(bad.to_string(), "c".to_string())]).is_err(),
                "{bad}"
            );
        }
    }

    /// Spin's precedence, written from its description rather than with `routefinder`: among the
    /// routes that cover a path, compare them segment by segment from the left, a literal over a
    /// `:name` over the trailing wildcard; where one is a prefix of the other, the shorter wins.
    fn documented_match<'a>(routes: &'a [(String, String)], path: &str) -> Option<&'a str> {
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        let better = |a: &[u8], b: &[u8]| -> bool {
            match a.iter().zip(b).find(|(x, y)| x != y) {
                Some((x, y)) => x > y,
                None => a.len() < b.len(),
            }
        };
        let mut best: Option<(Vec<u8>, &str)> = None;
        for (route, component) in routes {
            let (body, wildcard) = match route.strip_suffix("/...") {
                Some(b) => (b, true),
                None => (route.as_str(), false),
            };
            let segs: Vec<&str> = body.split('/').filter(|s| !s.is_empty()).collect();
            let length_ok = if wildcard {
                parts.len() >= segs.len()
            } else {
                parts.len() == segs.len()
            };
            let covers = length_ok
                && segs
                    .iter()
                    .zip(&parts)
                    .all(|(s, p)| s.starts_with(':') || s == p);
            if !covers {
                continue;
            }
            let mut ranks: Vec<u8> = segs
                .iter()
                .map(|s| if s.starts_with(':') { 2 } else { 3 })
                .collect();
            if wildcard {
                ranks.push(1);
            }
            if best.as_ref().is_none_or(|(b, _)| better(&ranks, b)) {
                best = Some((ranks, component));
            }
        }
        best.map(|(_, c)| c)
    }

    fn app_routes() -> Vec<(String, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = std::fs::read_to_string(root.join("spin.toml")).unwrap();
        let manifest: toml::Value = toml::from_str(&text).unwrap();
        manifest["trigger"]["http"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| {
                let route = t["route"].as_str()?;
                Some((route.to_string(), t["component"].as_str()?.to_string()))
            })
            .collect()
    }

    /// Sample paths: every `spin.toml` route with its `:name`s filled (and a tail under its
    /// trailing wildcard), and every path of the OpenAPI document with its `{name}`s filled.
    fn sample_paths() -> Vec<String> {
        let fill = |seg: &str| {
            if seg.starts_with(':') || (seg.starts_with('{') && seg.ends_with('}')) {
                "0190b6a1-7a3c-7cc0-8f3e-6f1f2c3d4e5f".to_string()
            } else {
                seg.to_string()
            }
        };
        let mut paths = Vec::new();
        for (route, _) in app_routes() {
            let body = route.strip_suffix("/...").unwrap_or(&route);
            let filled: Vec<String> = body.split('/').map(fill).collect();
            let filled = filled.join("/");
            paths.push(if filled.is_empty() {
                "/".into()
            } else {
                filled.clone()
            });
            if route.ends_with("/...") {
                paths.push(format!("{filled}/tail/more"));
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let doc = std::fs::read_to_string(root.join("docs/openapi.yaml")).unwrap();
        for line in doc.lines() {
            if line.starts_with("  /") && line.trim_end().ends_with(':') {
                let path = line.trim().trim_end_matches(':');
                paths.push(path.split('/').map(fill).collect::<Vec<_>>().join("/"));
            }
        }
        paths
    }

    #[test]
    fn every_app_route_and_openapi_path_routes_the_same_by_spins_matcher_and_the_documented_rules()
    {
        let routes = app_routes();
        let (router, duplicates) = Router::build(routes.clone()).unwrap();
        assert!(duplicates.is_empty(), "{duplicates:?}");
        let paths = sample_paths();
        assert!(paths.len() > 50, "{}", paths.len());
        for path in paths {
            let spin = router.route(&path).map(|m| m.component);
            let documented = documented_match(&routes, &path);
            assert!(spin.is_some(), "{path} is not routed on Spin");
            assert_eq!(spin, documented, "{path}");
        }
    }
}
