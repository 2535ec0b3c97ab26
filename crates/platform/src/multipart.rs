//! `multipart/form-data` request bodies (RFC 7578), parsed from a buffered body: each part's
//! name, file name, declared type and bytes. Declared types are only hints; callers that care
//! about what a file is look at its bytes.

use crate::problem::Problem;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

/// The boundary of a `multipart/form-data` content type; `None` for any other type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary"))
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    memchr::memmem::find(&haystack[from..], needle).map(|p| p + from)
}

fn header_param(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a body into its parts, at most `max_parts` of them; a malformed body is a 400 that says
/// what is wrong.
pub fn parse<'a>(
    body: &'a [u8],
    boundary: &str,
    max_parts: usize,
) -> Result<Vec<Part<'a>>, Problem> {
    let malformed = |why: &str| Problem::bad_request(format!("malformed multipart body: {why}"));
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut pos = find(body, open.as_bytes(), 0).ok_or_else(|| malformed("no opening boundary"))?
        + open.len();
    let mut parts = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err(malformed("a boundary is not followed by CRLF"));
        }
        pos += 2;
        // A part without headers starts with its blank line at once.
        let (headers_end, content_start) = if body[pos..].starts_with(b"\r\n") {
            (pos, pos + 2)
        } else {
            let end = find(body, b"\r\n\r\n", pos)
                .ok_or_else(|| malformed("a part has no header end"))?;
            (end, end + 4)
        };
        let headers = std::str::from_utf8(&body[pos..headers_end])
            .map_err(|_| malformed("part headers are not UTF-8"))?;
        let content_end = find(body, delimiter.as_bytes(), content_start)
            .ok_or_else(|| malformed("a part is not closed by a boundary"))?;
        let mut part = Part {
            name: None,
            filename: None,
            content_type: None,
            body: &body[content_start..content_end],
        };
        for line in headers.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                part.name = header_param(v, "name");
                part.filename = header_param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(v.trim().to_string());
            }
        }
        parts.push(part);
        if parts.len() > max_parts {
            return Err(Problem::bad_request(format!(
                "at most {max_parts} parts per request"
            )));
        }
        pos = content_end + delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_out_with_their_names_and_exact_bytes() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\r\n--not-it\r\n--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"b.png\"\r\n\r\nPNG\r\n--XyZ--\r\n";
        let parts = parse(body, "XyZ", 10).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].filename.as_deref(), Some("a.jpg"));
        assert_eq!(parts[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(parts[0].body, b"\xff\xd8\r\n--not-it");
        assert_eq!(parts[1].name.as_deref(), Some("files"));
        assert_eq!(parts[1].body, b"PNG");
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\"").as_deref(),
            Some("XyZ")
        );
        assert_eq!(boundary("application/json"), None);
    }

    #[test]
    fn malformed_bodies_and_too_many_parts_are_refused() {
        assert!(parse(b"no boundary here", "XyZ", 10).is_err());
        assert!(parse(
            b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nunclosed",
            "XyZ",
            10
        )
        .is_err());
        let many = "--B\r\n\r\nx\r\n".repeat(3) + "--B--";
        assert!(parse(many.as_bytes(), "B", 2).is_err());
        assert_eq!(parse(many.as_bytes(), "B", 3).unwrap().len(), 3);
    }
}
