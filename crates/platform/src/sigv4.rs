//! AWS Signature Version 4 for S3, sans-IO: it builds headers and URLs, the caller sends them.
//! Works the same natively and in wasm32 (only `sha2` and `hmac`).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The hash S3 accepts in place of the payload's for presigned URLs.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Who signs, and for which region and service.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub service: String,
}

/// The hex SHA-256 of a payload.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, everything else is %XX;
/// `/` stays when `keep_slash` (object keys in paths).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn scope(creds: &Credentials, date: &str) -> String {
    format!("{date}/{}/{}/aws4_request", creds.region, creds.service)
}

fn signature(creds: &Credentials, amz_date: &str, date: &str, canonical_request: &str) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        scope(creds, date),
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac(format!("AWS4{}", creds.secret_key).as_bytes(), date);
    let k_region = hmac(&k_date, &creds.region);
    let k_service = hmac(&k_region, &creds.service);
    let k_signing = hmac(&k_service, "aws4_request");
    hex::encode(hmac(&k_signing, &string_to_sign))
}

fn canonical_query(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs a request: returns the headers to add (`x-amz-date`, `x-amz-content-sha256`,
/// `authorization`). `headers` are the other headers to sign (at least `host`), lowercase names.
#[allow(clippy::too_many_arguments)]
pub fn sign_headers(
    creds: &Credentials,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    payload_hash: &str,
    amz_date: &str,
    date: &str,
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    all.push(("x-amz-content-sha256".into(), payload_hash.into()));
    all.push(("x-amz-date".into(), amz_date.into()));
    all.sort();
    let canonical_headers: String = all.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = all
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        uri_encode(path, true),
        canonical_query(query)
    );
    let sig = signature(creds, amz_date, date, &canonical_request);
    vec![
        ("x-amz-date".into(), amz_date.into()),
        ("x-amz-content-sha256".into(), payload_hash.into()),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{},SignedHeaders={signed_headers},Signature={sig}",
                creds.access_key,
                scope(creds, date)
            ),
        ),
    ]
}

/// A presigned URL's query string (without `?`). `headers` are signed too (at least `host`; add
/// `content-type` to bind an upload to a type).
#[allow(clippy::too_many_arguments)]
pub fn presign_query(
    creds: &Credentials,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    expires_secs: u32,
    amz_date: &str,
    date: &str,
    extra_query: &[(String, String)],
) -> String {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    hs.sort();
    let signed_headers = hs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut query: Vec<(String, String)> = extra_query.to_vec();
    query.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
    query.push((
        "X-Amz-Credential".into(),
        format!("{}/{}", creds.access_key, scope(creds, date)),
    ));
    query.push(("X-Amz-Date".into(), amz_date.into()));
    query.push(("X-Amz-Expires".into(), expires_secs.to_string()));
    query.push(("X-Amz-SignedHeaders".into(), signed_headers.clone()));
    let canonical_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{UNSIGNED_PAYLOAD}",
        uri_encode(path, true),
        canonical_query(&query)
    );
    let sig = signature(creds, amz_date, date, &canonical_request);
    format!("{}&X-Amz-Signature={sig}", canonical_query(&query))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked examples of AWS's "Signature Calculations for the Authorization Header" and
    // "Authenticating Requests: Using Query Parameters" pages for Amazon S3.
    fn aws_example() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        }
    }

    #[test]
    fn matches_the_aws_get_object_example() {
        let headers = vec![
            (
                "host".to_string(),
                "examplebucket.s3.amazonaws.com".to_string(),
            ),
            ("range".to_string(), "bytes=0-9".to_string()),
        ];
        let out = sign_headers(
            &aws_example(),
            "GET",
            "/test.txt",
            &[],
            &headers,
            &sha256_hex(b""),
            "20130524T000000Z",
            "20130524",
        );
        let auth = &out.iter().find(|(k, _)| k == "authorization").unwrap().1;
        assert!(
            auth.ends_with(
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{auth}"
        );
        assert!(auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"));
    }

    #[test]
    fn matches_the_aws_presigned_url_example() {
        let q = presign_query(
            &aws_example(),
            "GET",
            "/test.txt",
            &[(
                "host".to_string(),
                "examplebucket.s3.amazonaws.com".to_string(),
            )],
            86_400,
            "20130524T000000Z",
            "20130524",
            &[],
        );
        assert!(
            q.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{q}"
        );
    }

    #[test]
    fn keys_are_encoded_but_slashes_kept() {
        assert_eq!(uri_encode("a b/c+d", true), "a%20b/c%2Bd");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
    }
}
