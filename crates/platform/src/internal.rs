//! Service-to-service routes (`/internal/<service>/...`) demand the called service's own token
//! (Spin variable `<service>_internal_token`), sent as `x-internal-token`.

use crate::problem::Problem;

/// Shortest token the platform accepts in configuration.
pub const INTERNAL_TOKEN_BYTES_MIN: usize = 24;

/// Checks a request's `x-internal-token` against the component's `internal_token` variable.
pub fn check_request(req: &spin_sdk::http::Request) -> Result<(), Problem> {
    let expected = crate::config::var("internal_token").map_err(Problem::internal)?;
    check_internal_token(
        req.header("x-internal-token").and_then(|v| v.as_str()),
        &expected,
    )
}

/// Checks the presented token against the expected one in constant time.
pub fn check_internal_token(presented: Option<&str>, expected: &str) -> Result<(), Problem> {
    if crate::config::is_placeholder_secret(expected) {
        return Err(Problem::internal(
            "the internal token is empty or the documented placeholder; refusing every caller",
        ));
    }
    if expected.len() < INTERNAL_TOKEN_BYTES_MIN {
        return Err(Problem::internal(format!(
            "the internal token is shorter than {INTERNAL_TOKEN_BYTES_MIN} bytes; refusing every caller"
        )));
    }
    let Some(presented) = presented else {
        return Err(Problem::unauthenticated("x-internal-token is required"));
    };
    let a = presented.as_bytes();
    let b = expected.as_bytes();
    let mut diff = (a.len() ^ b.len()) as u8;
    for (i, byte) in b.iter().enumerate() {
        diff |= byte ^ a.get(i).copied().unwrap_or(0);
    }
    if diff == 0 {
        Ok(())
    } else {
        Err(Problem::forbidden("the internal token is wrong"))
    }
}

/// Calls another service's internal component by Spin's local service chaining: `method
/// http://<service>-internal.spin.internal<path>` with the JSON `body`, the service's own token
/// (variable `<service>_internal_token`, which the calling component must declare, with the host
/// in `allowed_outbound_hosts`) and an optional `Idempotency-Key`. Answers (status, JSON); the
/// other service down or failing (5xx) is a 503 naming it.
pub async fn call(
    service: &str,
    method: spin_sdk::http::Method,
    path: &str,
    body: &serde_json::Value,
    idempotency_key: Option<&str>,
) -> Result<(u16, serde_json::Value), Problem> {
    let component = format!("{service}-internal");
    call_component(&component, service, method, path, body, idempotency_key).await
}

/// [`call`] to another of the service's private components (`http://<component>.spin.internal`,
/// e.g. `events-signing`), with the same `<service>_internal_token`.
pub async fn call_component(
    component: &str,
    service: &str,
    method: spin_sdk::http::Method,
    path: &str,
    body: &serde_json::Value,
    idempotency_key: Option<&str>,
) -> Result<(u16, serde_json::Value), Problem> {
    let token =
        crate::config::var(&format!("{service}_internal_token")).map_err(Problem::internal)?;
    let mut builder = spin_sdk::http::Request::builder();
    builder
        .method(method)
        .uri(format!("http://{component}.spin.internal{path}"))
        .header("content-type", "application/json")
        .header("x-internal-token", token);
    if let Some(key) = idempotency_key {
        builder.header("idempotency-key", key);
    }
    let req = builder
        .body(serde_json::to_vec(body).unwrap_or_default())
        .build();
    let resp: spin_sdk::http::Response = spin_sdk::http::send(req).await.map_err(|e| {
        eprintln!("internal call to {service} {path}: {e}");
        Problem::unavailable(service.to_string())
    })?;
    let status = *resp.status();
    let answer = serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
    if status >= 500 {
        eprintln!("internal call to {service} {path} answered {status}: {answer}");
        return Err(Problem::unavailable(service.to_string()));
    }
    Ok((status, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_documented_placeholder_token_refuses_every_caller_even_itself() {
        let placeholder = "CHANGE-ME-at-least-24-bytes";
        assert_eq!(
            check_internal_token(Some(placeholder), placeholder)
                .unwrap_err()
                .status,
            500
        );
    }

    #[test]
    fn only_the_exact_token_passes() {
        assert!(check_internal_token(Some(TOKEN), TOKEN).is_ok());
        assert_eq!(check_internal_token(None, TOKEN).unwrap_err().status, 401);
        assert_eq!(
            check_internal_token(Some("0123"), TOKEN)
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            check_internal_token(Some(&format!("{TOKEN}x")), TOKEN)
                .unwrap_err()
                .status,
            403
        );
    }

    #[test]
    fn a_short_configured_token_refuses_everyone() {
        assert_eq!(
            check_internal_token(Some("short"), "short")
                .unwrap_err()
                .status,
            500
        );
    }
}
