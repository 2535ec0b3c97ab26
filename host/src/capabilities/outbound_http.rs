//! Outgoing HTTP from guests: `allowed_outbound_hosts` checks and local service chaining.
//!
//! As Spin 3.6 decides, in this order:
//! 1. a self request (a relative URL such as `/users/me`, or a URL whose host is `self.alt`) needs
//!    an `http(s)://self`, `self.alt` or `*` grant and goes through the app's own routes (Spin
//!    sends it to its own listener; here it runs in-process);
//! 2. `http://<component>.spin.internal/...` needs its grant and runs that component in-process;
//! 3. every other URL goes out over the network if a grant allows it. The host `self` is such a
//!    URL, and no grant allows it: Spin refuses it with `HttpRequestDenied`, and so does this host.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi_http::p2::bindings::http::outgoing_handler;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, RequestOptions, Scheme};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::{Error, WasiHttpHooks, WasiHttpView};

use super::Guest;
use crate::body::Body;

/// Suffix of the host names that address components directly.
const CHAINING_SUFFIX: &str = ".spin.internal";

/// The host name Spin takes for a self request from SDKs that need an authority.
const SELF_REQUEST_HOST: &str = "self.alt";

/// What outgoing HTTP needs of the running application: its components, and running a chained
/// request in-process. The runtime provides it; this module never sees the runtime itself.
pub trait ChainedRequests: Send + Sync + 'static {
    /// Whether a component of this id exists.
    fn has_component(&self, id: &str) -> bool;

    /// Serves `req` in-process: to component `target`, or through the routes when `None`.
    fn handle_chained(
        self: Arc<Self>,
        req: http::Request<Body>,
        target: Option<String>,
    ) -> Pin<Box<dyn Future<Output = http::Response<Body>> + Send>>;
}

/// The wasi:http hooks of one request's store: the guest's grants and the app to chain into.
pub struct OutboundHttp {
    /// The component's id.
    pub component: Arc<str>,
    /// Its grants (shared with the other capabilities' views).
    pub grants: Arc<super::outbound_grants::OutboundGrants>,
    pub app: Arc<dyn ChainedRequests>,
}

impl OutboundHttp {
    fn guest(&self) -> Guest<'_> {
        Guest {
            id: &self.component,
            grants: &self.grants,
        }
    }
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
        // wasmtime-wasi-http gives a relative URL an empty authority.
        let self_request = host.is_empty() || host == SELF_REQUEST_HOST;
        let grants = self.guest().grants;
        let allowed = if self_request {
            grants.allows_self_request()
        } else {
            grants.allows(&scheme, &host, port)
        };
        let app = self.app.clone();
        let component = self.component.clone();
        Box::new(async move {
            if !allowed {
                let target = if self_request { "self" } else { &host };
                tracing::warn!("component `{component}`: outbound request to {scheme}://{target} denied by allowed_outbound_hosts");
                return Err(Error::HttpRequestDenied);
            }
            let chained_target = if self_request {
                Some(None)
            } else {
                host.strip_suffix(CHAINING_SUFFIX)
                    .map(|c| Some(c.to_string()))
            };
            if let Some(target) = chained_target {
                if let Some(t) = &target {
                    if scheme != "http" {
                        return Err(Error::HttpRequestDenied);
                    }
                    if !app.has_component(t) {
                        return Err(Error::DestinationNotFound);
                    }
                }
                let resp = app.handle_chained(request, target).await;
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

/// The `wasi:http/outgoing-handler` instance this host links (wasmtime-wasi-http 48's WIT).
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// Replaces wasmtime's `wasi:http/outgoing-handler#handle` with one that takes relative URLs as
/// Spin does.
///
/// wasmtime-wasi-http 48 cannot build a URI without an authority, so a guest's relative URL
/// (`/users/me`; spin-sdk's own request type sends it with the authority `:80`, the `http`
/// crate's with none) would fail as `HttpRequestUriInvalid` before any hook saw it. Spin takes
/// such a URL as a self request, the same as the host `self.alt`; this handler gives it that host
/// and hands the request to wasmtime's handler, which calls [`OutboundHttp::send_request`].
pub fn link_self_aware_outgoing_handler<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(OUTGOING_HANDLER)?.func_wrap(
        "handle",
        |mut store: StoreContextMut<'_, T>,
         (request, options): (
            Resource<HostOutgoingRequest>,
            Option<Resource<RequestOptions>>,
        )| {
            let mut view = store.data_mut().http();
            let outgoing = view.table.get_mut(&request)?;
            if outgoing.authority.as_deref().is_none_or(str::is_empty) {
                outgoing.authority = Some(SELF_REQUEST_HOST.to_string());
                outgoing.scheme = Some(Scheme::Http);
            }
            let answer: Result<Resource<HostFutureIncomingResponse>, ErrorCode> =
                match outgoing_handler::Host::handle(&mut view, request, options) {
                    Ok(future) => Ok(future),
                    Err(e) => Err(e.downcast()?),
                };
            Ok((answer,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
