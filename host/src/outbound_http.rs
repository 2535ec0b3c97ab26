//! Outgoing HTTP from guests: `allowed_outbound_hosts` checks and local service chaining.
//!
//! `http://<component>.spin.internal/...` runs that component and `http://self/...` routes through
//! the application's own routes, both in-process without a network hop. Every other request goes
//! out over the network if the component's grants allow it, and is refused with
//! `HttpRequestDenied` otherwise.

use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, WasiHttpHooks};

use crate::runtime::{Body, Runtime};
use crate::state::ComponentInfo;

/// Suffix of the host names that address components directly.
const CHAINING_SUFFIX: &str = ".spin.internal";

/// The wasi:http hooks of one request's store.
pub struct OutboundHttp {
    pub runtime: Arc<Runtime>,
    pub component: Arc<ComponentInfo>,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<Body>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<Body>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn std::future::Future<Output = SendResult> + Send> {
        drop(fut);
        let uri = request.uri().clone();
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let port = uri.port_u16();
        let allowed = self.component.grants.allows(&scheme, &host, port);
        let runtime = self.runtime.clone();
        let component = self.component.id.clone();
        Box::new(async move {
            if !allowed {
                tracing::warn!("component `{component}`: outbound request to {scheme}://{host} denied by allowed_outbound_hosts");
                return Err(Error::HttpRequestDenied);
            }
            let chained_target = if host == "self" {
                Some(None)
            } else {
                host.strip_suffix(CHAINING_SUFFIX)
                    .map(|c| Some(c.to_string()))
            };
            if let Some(target) = chained_target {
                if scheme != "http" {
                    return Err(Error::HttpRequestDenied);
                }
                if let Some(t) = &target {
                    if !runtime.components.contains_key(t) {
                        return Err(Error::DestinationNotFound);
                    }
                }
                let resp = runtime.handle_chained(request, target).await;
                let done: Box<
                    dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send,
                > = Box::new(async { Ok(()) });
                return Ok((resp, done));
            }
            let (resp, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let done: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                Box::new(io);
            Ok((resp.map(|b| b.boxed_unsync()), done))
        })
    }
}
