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

/// A time inside a cursor: only an API timestamp (`2026-12-07T05:16:14.123456Z`, the
/// [`crate::db::ts`] format) decodes, so a forged cursor with any other text is a 4xx naming
/// `cursor` here, not a failed SQL cast (a 500) later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CursorTime(String);

impl CursorTime {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` is `YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z` with plausible fields.
    pub fn is_api_timestamp(text: &str) -> bool {
        let b = text.as_bytes();
        if b.len() < 20 || !text.is_ascii() {
            return false;
        }
        let digits =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        let number = |r: std::ops::Range<usize>| text.get(r).and_then(|t| t.parse::<u32>().ok());
        let shape = digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[b.len() - 1] == b'Z';
        let fraction = match &b[19..b.len() - 1] {
            [] => true,
            [b'.', rest @ ..] => {
                (1..=6).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        };
        shape
            && fraction
            && number(5..7).is_some_and(|m| (1..=12).contains(&m))
            && number(8..10).is_some_and(|d| (1..=31).contains(&d))
            && number(11..13).is_some_and(|h| h < 24)
            && number(14..16).is_some_and(|m| m < 60)
            && number(17..19).is_some_and(|s| s < 61)
    }
}

impl<'de> serde::Deserialize<'de> for CursorTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if Self::is_api_timestamp(&text) {
            Ok(Self(text))
        } else {
            Err(serde::de::Error::custom("not a timestamp"))
        }
    }
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
    fn a_cursor_time_must_be_an_api_timestamp() {
        for good in [
            "2026-12-07T05:16:14Z",
            "2026-12-07T05:16:14.123Z",
            "2026-12-07T05:16:14.123456Z",
        ] {
            assert!(CursorTime::is_api_timestamp(good), "{good}");
        }
        for bad in [
            "",
            "junk",
            "2026-13-07T05:16:14Z",
            "2026-12-07 05:16:14Z",
            "2026-12-07T05:16:14.1234567Z",
            "2026-12-07T05:16:14+03:00",
            "'; DROP TABLE x; --",
        ] {
            assert!(!CursorTime::is_api_timestamp(bad), "{bad}");
        }
        let forged = encode_cursor(&("not-a-time", 1));
        let err =
            page_request::<(CursorTime, i64)>(&format!("cursor={forged}"), 20, 100).unwrap_err();
        assert_eq!(err.status, 422);
        let real = encode_cursor(&("2026-12-07T05:16:14.5Z", 1));
        let p = page_request::<(CursorTime, i64)>(&format!("cursor={real}"), 20, 100).unwrap();
        assert_eq!(p.after.unwrap().0.as_str(), "2026-12-07T05:16:14.5Z");
    }

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
