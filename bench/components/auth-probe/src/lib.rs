//! Benchmark component (bench/auth.sh), never deployed. Three routes that differ in one thing:
//! - `GET /bench/noop`: 204, the baseline;
//! - `GET /bench/authenticated`: the auth extractor (JWT verification, Redis session check), 204;
//! - `GET /bench/argon2`: one argon2id verification of the password in the `x-bench-password` header
//!   against the hash in the `bench_password_hash` variable, 204 or 401.

// The #[http_component] export glue is generated unsafe code.
#![allow(unsafe_code)]

use nexgate_platform::Problem;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let result = match req.path() {
        "/bench/noop" => Ok(()),
        "/bench/authenticated" => nexgate_authn::authenticate(&req).map(|_| ()),
        "/bench/argon2" => {
            let hash = spin_sdk::variables::get("bench_password_hash").unwrap_or_default();
            let password = req
                .header("x-bench-password")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if nexgate_auth::password::verify(password, Some(&hash)) {
                Ok(())
            } else {
                Err(Problem::unauthenticated("wrong password"))
            }
        }
        _ => Err(Problem::not_found("no such route")),
    };
    match result {
        Ok(()) => Response::builder().status(204).body(Vec::new()).build(),
        Err(p) => p.into_response(),
    }
}
