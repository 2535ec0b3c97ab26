//! Errors as RFC 9457 `application/problem+json`, with a stable machine `code`.
//!
//! A handler builds a 4xx on purpose (never by `?` from an internal error); a 5xx body carries only
//! a generic title and the code, while the detail goes to the component's log.

use serde::Serialize;
use spin_sdk::http::Response;

/// One field-level complaint inside a 4xx.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON path of the field (`device.name`, `items[2].quantity`), or the query parameter's name.
    pub field: String,
    pub message: String,
}

/// A problem document. Kept small (static title and code) so `Result<_, Problem>` stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    /// Stable machine-readable code (`validation_failed`, `idempotency_key_reused`, ...).
    pub code: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    /// Sent as `Retry-After` (429, 503).
    pub retry_after_secs: Option<u64>,
    /// Stable codes of what stands in the way (a 409 `account_has_open_obligations` lists
    /// `payments.available_balance`, ...), sent as `reasons`.
    pub reasons: Box<[String]>,
}

/// The wire form (RFC 9457 members plus `code` and `errors`).
#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    code: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    reasons: &'a [String],
}

impl Problem {
    /// A problem with a status, a stable code and a human title.
    pub fn new(status: u16, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: None,
            errors: Vec::new(),
            retry_after_secs: None,
            reasons: Box::default(),
        }
    }

    /// Adds a human-readable explanation (4xx only; ignored for 5xx when rendered).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a field-level error.
    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// Adds the stable codes of what stands in the way (sent as `reasons`).
    pub fn with_reasons(mut self, reasons: Vec<String>) -> Self {
        self.reasons = reasons.into_boxed_slice();
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "bad_request", "The request is malformed").with_detail(detail)
    }

    /// 422 `validation_failed` naming one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(422, "validation_failed", "Some fields are invalid").with_field(field, message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(401, "unauthenticated", "Authentication is required").with_detail(detail)
    }

    /// 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, "forbidden", "Not allowed").with_detail(detail)
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(404, "not_found", "Not found").with_detail(what)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(405, "method_not_allowed", "Method not allowed")
    }

    /// 409 with a caller-chosen code (`username_taken`, `request_in_progress`, ...).
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(409, code, "Conflict").with_detail(detail)
    }

    /// 413 `body_too_large`.
    pub fn body_too_large(limit_bytes: usize) -> Self {
        Self::new(413, "body_too_large", "The request body is too large")
            .with_detail(format!("the body may be at most {limit_bytes} bytes"))
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(415, "unsupported_media_type", "Unsupported media type")
            .with_detail(format!("send {expected}"))
    }

    /// 429 `rate_limited`, with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(429, "rate_limited", "Too many requests")
            .with_detail(format!("retry after {retry_after_secs} s"))
            .with_retry_after(retry_after_secs)
    }

    /// Sets `Retry-After` (seconds).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// 500 `internal_error`: the detail is logged to stderr, never sent.
    pub fn internal(log_detail: impl std::fmt::Display) -> Self {
        eprintln!("internal error: {log_detail}");
        Self::new(500, "internal_error", "Something went wrong on our side")
    }

    /// 503 `unavailable` naming what is down (component names only, never internals).
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self::new(503, "unavailable", "Temporarily unavailable").with_detail(what)
    }

    /// The JSON body; a 5xx loses its detail and field list (except `unavailable`, whose detail
    /// only names the dependency).
    pub fn to_json(&self) -> String {
        let hide = self.status >= 500 && self.code != "unavailable";
        let wire = Wire {
            type_uri: format!("https://docs.nexgate.app/problems/{}", self.code),
            title: self.title,
            status: self.status,
            detail: if hide { None } else { self.detail.as_deref() },
            code: self.code,
            errors: if hide { &[] } else { &self.errors },
            reasons: if hide { &[] } else { &self.reasons },
        };
        serde_json::to_string(&wire).unwrap_or_else(|_| "{}".into())
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response {
        let mut builder = Response::builder();
        builder
            .status(self.status)
            .header("content-type", "application/problem+json");
        if let Some(secs) = self.retry_after_secs {
            builder.header("retry-after", secs.to_string());
        }
        builder.body(self.to_json()).build()
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// An unexpected database error is a 500 (logged); expected ones (a named constraint, a
/// serialization failure) are mapped by the caller before they get here.
impl From<spin_sdk::pg4::PgError> for Problem {
    fn from(e: spin_sdk::pg4::PgError) -> Self {
        Problem::internal(format!("database: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_carry_detail_and_fields() {
        let p = Problem::invalid_field("device.name", "must not be empty");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["status"], 422);
        assert_eq!(v["code"], "validation_failed");
        assert_eq!(v["errors"][0]["field"], "device.name");
    }

    #[test]
    fn server_errors_never_carry_internal_detail() {
        let p = Problem::internal("connection to 10.0.0.5 refused").with_detail("secret");
        let body = p.to_json();
        assert!(!body.contains("10.0.0.5"));
        assert!(!body.contains("secret"));
        assert!(body.contains("internal_error"));
    }
}
