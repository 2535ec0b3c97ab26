//! Cursor pagination: `limit` (bounded) and an opaque `cursor`; answers carry `next_cursor`.
//!
//! A cursor is the base64url of a small JSON value the list chose (usually the sort key and id of
//! the last item). It is opaque to clients; a cursor that does not decode is a 4xx naming `cursor`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::problem::Problem;

/// Longest cursor accepted.
pub const CURSOR_BYTES_MAX: usize = 512;

/// A parsed page request.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest<C> {
    pub limit: u32,
    pub after: Option<C>,
}

/// Encodes a cursor.
pub fn encode_cursor<C: Serialize>(position: &C) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Reads `limit` and `cursor` from a query string; `limit` defaults to `default` and may not exceed `max`.
pub fn page_request<C: DeserializeOwned>(
    query: &str,
    default: u32,
    max: u32,
) -> Result<PageRequest<C>, Problem> {
    let mut limit = default;
    let mut after = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "limit" => {
                limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        Problem::invalid_field(
                            "limit",
                            format!("must be an integer from 1 to {max}"),
                        )
                    })?;
            }
            "cursor" if !v.is_empty() => {
                let invalid =
                    || Problem::invalid_field("cursor", "is not a cursor this list returned");
                if v.len() > CURSOR_BYTES_MAX {
                    return Err(invalid());
                }
                let bytes = URL_SAFE_NO_PAD.decode(v).map_err(|_| invalid())?;
                after = Some(serde_json::from_slice(&bytes).map_err(|_| invalid())?);
            }
            _ => {}
        }
    }
    Ok(PageRequest { limit, after })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_limits_are_bounded() {
        let c = encode_cursor(&("2026-11-29T10:00:00Z", 42));
        let p: PageRequest<(String, i64)> =
            page_request(&format!("limit=10&cursor={c}"), 20, 100).unwrap();
        assert_eq!(p.limit, 10);
        assert_eq!(p.after.unwrap().1, 42);
        assert!(page_request::<(String, i64)>("limit=0", 20, 100).is_err());
        assert!(page_request::<(String, i64)>("limit=101", 20, 100).is_err());
        assert_eq!(
            page_request::<(String, i64)>("", 20, 100).unwrap().limit,
            20
        );
    }

    #[test]
    fn forged_cursors_are_a_4xx_naming_cursor() {
        let err = page_request::<(String, i64)>("cursor=%%%", 20, 100).unwrap_err();
        assert_eq!(err.errors[0].field, "cursor");
    }
}
