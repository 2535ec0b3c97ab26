//! Routing inside a component: its route table is data, so what it serves is written once.
//!
//! A component declares `const ROUTES: &[(&str, &str)]` (method, path template with `{name}`
//! segments, exactly as `docs/openapi.yaml` or `docs/openapi-internal.yaml` writes the path), asks
//! [`find`] which entry a request is for, and matches on [`Route::key`]. A path no entry matches is
//! a 404, a path whose entries all have other methods a 405 naming them in `Allow`; so a component
//! serves exactly its table, and `tests/tests/contracts.rs` reads every table against the OpenAPI
//! documents both ways.
//!
//! When several templates match a path, the most literal wins, segment by segment from the left:
//! `/users/me` beats `/users/{id}`, `/files/limits` beats `/files/{id}`.

use crate::Problem;
use spin_sdk::http::Method;

/// A component's route table: (method, path template).
pub type Table = [(&'static str, &'static str)];

/// The entry a request matched, with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub template: &'static str,
    params: Params,
}

impl Route {
    /// `(method, template)`, what a component matches on.
    pub fn key(&self) -> (&'static str, &'static str) {
        (self.method, self.template)
    }

    /// The path parameter `name` (empty when the template has none of that name).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The upper-case name of a method.
pub fn method_name(method: &Method) -> &str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
        Method::Connect => "CONNECT",
        Method::Trace => "TRACE",
        Method::Other(other) => other.as_str(),
    }
}

/// The entry of `table` for `method path`: 404 `not_found` when no template matches the path,
/// 405 `method_not_allowed` when only other methods do.
pub fn find(table: &Table, method: &Method, path: &str) -> Result<Route, Problem> {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let mut best: Option<Vec<bool>> = None;
    let mut candidates: Vec<Route> = Vec::new();
    for &(method, template) in table {
        let Some((literal, params)) = match_template(template, path) else {
            continue;
        };
        match best.as_ref().map(|b| literal.cmp(b)) {
            Some(std::cmp::Ordering::Less) => continue,
            Some(std::cmp::Ordering::Greater) | None => {
                best = Some(literal);
                candidates.clear();
            }
            Some(std::cmp::Ordering::Equal) => {}
        }
        candidates.push(Route {
            method,
            template,
            params,
        });
    }
    if candidates.is_empty() {
        return Err(Problem::not_found("no such route"));
    }
    let wanted = method_name(method);
    match candidates.iter().position(|r| r.method == wanted) {
        Some(i) => Ok(candidates.swap_remove(i)),
        None => {
            let allowed: Vec<&str> = candidates.iter().map(|r| r.method).collect();
            Err(Problem::method_not_allowed()
                .with_detail(format!("this route answers {}", allowed.join(", "))))
        }
    }
}

/// A table entry the component's match has no arm for: a bug in the component, so a 500.
pub fn unrouted(route: &Route) -> Problem {
    Problem::internal(format!(
        "route {} {} is in ROUTES but not handled",
        route.method, route.template
    ))
}

/// A route's path parameters, by name.
type Params = Vec<(&'static str, String)>;

/// Whether `template` matches `path`: which segments were literal, and the parameters.
fn match_template(template: &'static str, path: &str) -> Option<(Vec<bool>, Params)> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut literal = Vec::new();
    let mut params = Vec::new();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some((literal, params)),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.push((name, ps.to_string()));
                    literal.push(false);
                } else if ts == ps {
                    literal.push(true);
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &Table = &[
        ("GET", "/users/me"),
        ("PATCH", "/users/me"),
        ("GET", "/users/{id}"),
        ("POST", "/users/{id}/follow"),
        ("DELETE", "/users/{id}/follow"),
        ("GET", "/users/me/blocks"),
    ];

    #[test]
    fn the_most_literal_template_wins_and_parameters_are_named() {
        let me = find(TABLE, &Method::Get, "/users/me").unwrap();
        assert_eq!(me.key(), ("GET", "/users/me"));
        let other = find(TABLE, &Method::Get, "/users/amina/").unwrap();
        assert_eq!(other.key(), ("GET", "/users/{id}"));
        assert_eq!(other.param("id"), "amina");
        let follow = find(TABLE, &Method::Delete, "/users/x/follow").unwrap();
        assert_eq!(
            (follow.template, follow.param("id")),
            ("/users/{id}/follow", "x")
        );
        assert_eq!(
            find(TABLE, &Method::Get, "/users/me/blocks")
                .unwrap()
                .template,
            "/users/me/blocks"
        );
    }

    #[test]
    fn unknown_paths_are_404_and_other_methods_405() {
        assert_eq!(find(TABLE, &Method::Get, "/users").unwrap_err().status, 404);
        assert_eq!(
            find(TABLE, &Method::Get, "/users/x/follow/extra")
                .unwrap_err()
                .status,
            404
        );
        assert_eq!(
            find(TABLE, &Method::Get, "/users//follow")
                .unwrap_err()
                .status,
            404
        );
        let wrong = find(TABLE, &Method::Delete, "/users/me").unwrap_err();
        assert_eq!(wrong.status, 405);
        assert_eq!(
            wrong.detail.as_deref(),
            Some("this route answers GET, PATCH")
        );
        // `/users/me` with PUT: the literal templates decide, not `/users/{id}`.
        assert_eq!(
            find(TABLE, &Method::Put, "/users/me").unwrap_err().status,
            405
        );
    }
}
