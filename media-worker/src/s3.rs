//! A small native S3 client on reqwest, signed with the platform's SigV4 module (the same signing
//! code the components use in wasm).

use anyhow::{bail, Context, Result};
use nexgate_platform::sigv4::{self, Credentials};

/// Why a read failed: the object is not there (permanent), or storage failed (transient).
#[derive(Debug)]
pub enum ReadError {
    Missing,
    Failed(anyhow::Error),
}

#[derive(Clone)]
pub struct S3 {
    endpoint: String,
    host: String,
    credentials: Credentials,
    http: reqwest::Client,
}

impl S3 {
    pub fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let host = endpoint
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&endpoint)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok(Self {
            endpoint,
            host,
            credentials: Credentials {
                access_key: access_key.into(),
                secret_key: secret_key.into(),
                region: region.into(),
                service: "s3".into(),
            },
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(300))
                .build()?,
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        bucket: &str,
        key: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        let path = format!("/{bucket}/{key}");
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let (amz_date, date) = nexgate_platform::time::amz_date(secs);
        let mut headers = vec![("host".to_string(), self.host.clone())];
        if let Some(ct) = content_type {
            headers.push(("content-type".to_string(), ct.to_string()));
        }
        let signed = sigv4::sign_headers(
            &self.credentials,
            method.as_str(),
            &path,
            &[],
            &headers,
            &sigv4::sha256_hex(body),
            &amz_date,
            &date,
        );
        let mut rb = self.http.request(
            method,
            format!("{}{}", self.endpoint, sigv4::uri_encode(&path, true)),
        );
        for (k, v) in headers
            .into_iter()
            .filter(|(k, _)| k != "host")
            .chain(signed)
        {
            rb = rb.header(k, v);
        }
        rb
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, ReadError> {
        let resp = self
            .request(reqwest::Method::GET, bucket, key, None, &[])
            .send()
            .await
            .map_err(|e| ReadError::Failed(e.into()))?;
        match resp.status().as_u16() {
            200 => Ok(resp
                .bytes()
                .await
                .map_err(|e| ReadError::Failed(e.into()))?
                .to_vec()),
            404 => Err(ReadError::Missing),
            s => Err(ReadError::Failed(anyhow::anyhow!(
                "storage GET {bucket}/{key}: status {s}"
            ))),
        }
    }

    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        let resp = self
            .request(reqwest::Method::PUT, bucket, key, Some(content_type), &body)
            .body(body)
            .send()
            .await
            .context("storage PUT")?;
        if !resp.status().is_success() {
            bail!("storage PUT {bucket}/{key}: status {}", resp.status());
        }
        Ok(())
    }

    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let resp = self
            .request(reqwest::Method::DELETE, bucket, key, None, &[])
            .send()
            .await
            .context("storage DELETE")?;
        if !resp.status().is_success() {
            bail!("storage DELETE {bucket}/{key}: status {}", resp.status());
        }
        Ok(())
    }
}
