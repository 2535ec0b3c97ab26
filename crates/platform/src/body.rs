//! JSON request bodies: content type, size limit, and errors that name the field.

use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON response that no cache keeps.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> spin_sdk::http::Response {
    spin_sdk::http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(serde_json::to_vec(body).unwrap_or_default())
        .build()
}

/// Default largest JSON body a route accepts.
pub const JSON_BODY_BYTES_MAX: usize = 64 * 1024;

/// The request's JSON body: content type checked, at most [`JSON_BODY_BYTES_MAX`], errors naming
/// the field. The one body reader every component uses.
pub fn json_body<T: DeserializeOwned>(req: &spin_sdk::http::Request) -> Result<T, Problem> {
    parse_json(
        req.body(),
        req.header("content-type").and_then(|h| h.as_str()),
        JSON_BODY_BYTES_MAX,
    )
}

/// The query string of a request (empty when there is none).
pub fn query_string(req: &spin_sdk::http::Request) -> &str {
    req.uri().split_once('?').map(|(_, q)| q).unwrap_or("")
}

/// The first value of `name` in a query string (not percent-decoded: for ids and tokens).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A query value as text: `+` is a space and `%XX` escapes are decoded (a search for "Amína
/// Juma" arrives as `Am%C3%ADna+Juma`); a malformed escape is kept as it is.
pub fn query_text(query: &str, name: &str) -> Option<String> {
    let raw = query_param(query, name)?.replace('+', " ");
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%')
            .then(|| raw.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Parses a JSON body of at most `limit_bytes`; a wrong type, a missing field or malformed JSON is
/// a 4xx naming the field (`items[0].quantity`).
pub fn parse_json<T: DeserializeOwned>(
    body: &[u8],
    content_type: Option<&str>,
    limit_bytes: usize,
) -> Result<T, Problem> {
    if body.len() > limit_bytes {
        return Err(Problem::body_too_large(limit_bytes));
    }
    let is_json = content_type
        .map(|c| {
            let essence = c
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false);
    if !is_json {
        return Err(Problem::unsupported_media_type("application/json"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(Problem::bad_request(format!("malformed JSON: {inner}")));
            }
            let field = if path == "." { String::new() } else { path };
            let message = inner.to_string();
            // serde's messages end with " at line X column Y"; the field path says where.
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            return Err(Problem::invalid_field(field, message));
        }
    };
    de.end()
        .map_err(|e| Problem::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// An incoming request read whole (an async component's first step); a body that cannot be read
/// is a 400.
pub async fn read_request(
    incoming: spin_sdk::http::IncomingRequest,
) -> Result<spin_sdk::http::Request, Problem> {
    use spin_sdk::http::conversions::TryFromIncomingRequest;
    spin_sdk::http::Request::try_from_incoming_request(incoming)
        .await
        .map_err(|_| Problem::bad_request("the request body could not be read"))
}

/// Sends `response` through `out` and returns once its body is written, so an async component
/// (`async fn handle(IncomingRequest, ResponseOutparam)`) can go on working after the client has
/// its answer: Spin, and our host, deliver the response when it is set and keep the instance until
/// the handler returns. Used where the answer must not wait on (or reveal) the work behind it.
pub async fn send_response(
    out: spin_sdk::http::ResponseOutparam,
    response: spin_sdk::http::Response,
) {
    let body = response.body().to_vec();
    match spin_sdk::http::OutgoingResponse::try_from(response) {
        Ok(head) => {
            if let Err(e) = out.set_with_body(head, body).await {
                eprintln!("http: the response body was not written: {e:?}");
            }
        }
        Err(e) => {
            eprintln!("http: the response could not be built: {e:#}");
            let head = spin_sdk::http::OutgoingResponse::new(spin_sdk::http::Headers::new());
            let _ = head.set_status_code(500);
            out.set(head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_decodes_spaces_and_escapes() {
        assert_eq!(
            query_text("q=Am%C3%ADna+Juma&x=1", "q").as_deref(),
            Some("Amína Juma")
        );
        assert_eq!(query_text("q=50%", "q").as_deref(), Some("50%"));
        assert_eq!(query_text("q=%zz", "q").as_deref(), Some("%zz"));
        assert_eq!(query_text("x=1", "q"), None);
    }
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Item {
        #[allow(dead_code)]
        quantity: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Order {
        #[allow(dead_code)]
        items: Vec<Item>,
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let err = parse_json::<Order>(
            br#"{"items":[{"quantity":"two"}]}"#,
            Some("application/json"),
            1024,
        )
        .unwrap_err();
        assert_eq!(err.status, 422);
        assert_eq!(err.errors[0].field, "items[0].quantity");
    }

    #[test]
    fn malformed_json_is_a_400_and_big_bodies_a_413() {
        assert_eq!(
            parse_json::<Order>(b"{", Some("application/json"), 1024)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_json::<Order>(&[b' '; 2048], Some("application/json"), 1024)
                .unwrap_err()
                .status,
            413
        );
    }

    #[test]
    fn the_content_type_must_be_json() {
        assert_eq!(
            parse_json::<Order>(b"{}", Some("text/plain"), 1024)
                .unwrap_err()
                .status,
            415
        );
        assert!(parse_json::<Order>(
            br#"{"items":[]}"#,
            Some("application/json; charset=utf-8"),
            1024
        )
        .is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = parse_json::<Order>(br#"{"items":[],"extra":1}"#, Some("application/json"), 1024)
            .unwrap_err();
        assert_eq!(err.status, 422);
    }
}
