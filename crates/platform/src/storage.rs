//! S3 object storage over Spin's outbound HTTP, signed with SigV4 ([`crate::sigv4`]).
//!
//! Path-style addressing (`<endpoint>/<bucket>/<key>`) works with Garage, MinIO and AWS alike.
//! Two buckets: `storage_public_bucket` (served read-only behind `cdn_base_url`) and
//! `storage_private_bucket` (never public; reads through short-lived presigned URLs).

use anyhow::{bail, Context, Result};
use spin_sdk::http::{Method, Request, Response};

use crate::config::var;
use crate::sigv4::{self, Credentials};

/// Longest lifetime of a presigned URL (S3's own limit is 7 days).
pub const PRESIGN_EXPIRES_SECS_MAX: u32 = 7 * 24 * 3600;

struct SigningContext {
    path: String,
    amz_date: String,
    date: String,
    headers: Vec<(String, String)>,
}

/// An S3 endpoint with credentials.
#[derive(Debug, Clone)]
pub struct Storage {
    /// `http://127.0.0.1:3900` (no trailing slash).
    pub endpoint: String,
    pub credentials: Credentials,
}

impl Storage {
    /// From the Spin variables `storage_endpoint`, `storage_region`, `storage_access_key`, `storage_secret_key`.
    pub fn from_variables() -> Result<Self> {
        Ok(Self::new(
            &var("storage_endpoint")?,
            &var("storage_region")?,
            &var("storage_access_key")?,
            &var("storage_secret_key")?,
        ))
    }

    pub fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            credentials: Credentials {
                access_key: access_key.into(),
                secret_key: secret_key.into(),
                region: region.into(),
                service: "s3".into(),
            },
        }
    }

    fn host(&self) -> &str {
        self.endpoint
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.endpoint)
            .split('/')
            .next()
            .unwrap_or_default()
    }

    fn object_path(bucket: &str, key: &str) -> String {
        format!("/{bucket}/{key}")
    }

    /// What both signed requests and presigned URLs sign: the object's path, the time, and the
    /// headers (`host`, plus `content-type` when given).
    fn signing_context(
        &self,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        extra: &[(&str, String)],
    ) -> SigningContext {
        let (secs, _) = crate::time::now_unix();
        let (amz_date, date) = crate::time::amz_date(secs);
        let mut headers = vec![("host".to_string(), self.host().to_string())];
        if let Some(ct) = content_type {
            headers.push(("content-type".to_string(), ct.to_string()));
        }
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        headers.sort();
        SigningContext {
            path: Self::object_path(bucket, key),
            amz_date,
            date,
            headers,
        }
    }

    fn signed_request(
        &self,
        method: Method,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        extra: &[(&str, String)],
        body: Vec<u8>,
    ) -> Request {
        let SigningContext {
            path,
            amz_date,
            date,
            headers,
        } = self.signing_context(bucket, key, content_type, extra);
        let method_name = match method {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Post => "POST",
            _ => "GET",
        };
        let payload_hash = sigv4::sha256_hex(&body);
        let signed = sigv4::sign_headers(
            &self.credentials,
            method_name,
            &path,
            &[],
            &headers,
            &payload_hash,
            &amz_date,
            &date,
        );
        let mut builder = Request::builder();
        builder.method(method).uri(format!(
            "{}{}",
            self.endpoint,
            sigv4::uri_encode(&path, true)
        ));
        for (k, v) in headers
            .into_iter()
            .filter(|(k, _)| k != "host")
            .chain(signed)
        {
            builder.header(k, v);
        }
        builder.body(body).build()
    }

    /// Stores an object.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        let req = self.signed_request(Method::Put, bucket, key, Some(content_type), &[], body);
        let resp: Response = spin_sdk::http::send(req).await.context("storage PUT")?;
        if !(200..300).contains(resp.status()) {
            bail!(
                "storage PUT {bucket}/{key}: status {} {}",
                resp.status(),
                String::from_utf8_lossy(resp.body())
            );
        }
        Ok(())
    }

    /// Reads an object; `None` when it does not exist.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let req = self.signed_request(Method::Get, bucket, key, None, &[], Vec::new());
        let resp: Response = spin_sdk::http::send(req).await.context("storage GET")?;
        match *resp.status() {
            200 => Ok(Some(resp.into_body())),
            404 => Ok(None),
            s => bail!("storage GET {bucket}/{key}: status {s}"),
        }
    }

    /// Deletes an object (deleting a missing object succeeds, as in S3).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        let req = self.signed_request(Method::Delete, bucket, key, None, &[], Vec::new());
        let resp: Response = spin_sdk::http::send(req).await.context("storage DELETE")?;
        if !(200..300).contains(resp.status()) {
            bail!("storage DELETE {bucket}/{key}: status {}", resp.status());
        }
        Ok(())
    }

    /// The first `len` bytes of an object (a `Range` read); `None` when it does not exist.
    pub async fn get_object_head(
        &self,
        bucket: &str,
        key: &str,
        len: usize,
    ) -> Result<Option<Vec<u8>>> {
        let range = format!("bytes=0-{}", len.saturating_sub(1));
        let req = self.signed_request(
            Method::Get,
            bucket,
            key,
            None,
            &[("range", range)],
            Vec::new(),
        );
        let resp: Response = spin_sdk::http::send(req).await.context("storage GET")?;
        match *resp.status() {
            200 | 206 => {
                let mut body = resp.into_body();
                body.truncate(len);
                Ok(Some(body))
            }
            404 | 416 => Ok(None),
            s => bail!("storage GET {bucket}/{key} (range): status {s}"),
        }
    }

    /// The size of an object in bytes; `None` when it does not exist.
    pub async fn object_size(&self, bucket: &str, key: &str) -> Result<Option<u64>> {
        let req = self.signed_request(Method::Head, bucket, key, None, &[], Vec::new());
        let resp: Response = spin_sdk::http::send(req).await.context("storage HEAD")?;
        match *resp.status() {
            200 => {
                let len = resp
                    .header("content-length")
                    .and_then(|v| v.as_str())
                    .and_then(|v| v.parse().ok())
                    .context("storage HEAD without content-length")?;
                Ok(Some(len))
            }
            404 => Ok(None),
            s => bail!("storage HEAD {bucket}/{key}: status {s}"),
        }
    }

    /// A presigned PUT bound to one content type and one exact size: the client must send both
    /// headers with those values, or the signature does not match.
    pub fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        expires_secs: u32,
        content_type: &str,
        content_length: u64,
    ) -> Result<String> {
        self.presign_with(
            "PUT",
            bucket,
            key,
            expires_secs,
            Some(content_type),
            &[("content-length", content_length.to_string())],
        )
    }

    /// A presigned URL for `method` on one object, valid for `expires_secs`; a `content_type`
    /// binds an upload to that type.
    pub fn presign(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        expires_secs: u32,
        content_type: Option<&str>,
    ) -> Result<String> {
        self.presign_with(method, bucket, key, expires_secs, content_type, &[])
    }

    fn presign_with(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        expires_secs: u32,
        content_type: Option<&str>,
        extra: &[(&str, String)],
    ) -> Result<String> {
        if expires_secs == 0 || expires_secs > PRESIGN_EXPIRES_SECS_MAX {
            bail!("presigned URLs live 1 s to {PRESIGN_EXPIRES_SECS_MAX} s");
        }
        let SigningContext {
            path,
            amz_date,
            date,
            headers,
        } = self.signing_context(bucket, key, content_type, extra);
        let query = sigv4::presign_query(
            &self.credentials,
            method,
            &path,
            &headers,
            expires_secs,
            &amz_date,
            &date,
            &[],
        );
        Ok(format!(
            "{}{}?{query}",
            self.endpoint,
            sigv4::uri_encode(&path, true)
        ))
    }
}
