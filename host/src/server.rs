//! The HTTP/1.1 listener: accepts connections and hands each request to the runtime.
//!
//! Three limits keep a client from holding the host (flags in `main.rs`, docs/host.md):
//! - a header-read timeout: a connection that does not finish its request head in time is closed
//!   (a slow-headers attack holds no slot);
//! - a cap on open connections: past it, new ones wait in the listen backlog;
//! - a request body limit, enforced while streaming: a declared `Content-Length` over it is
//!   answered 413 before any of the body is read, and a body that grows past it without one ends
//!   with `HttpRequestBodySize` in the guest's stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::runtime::{text_response, Body, ClientAddr, Runtime};

/// What one client may take of the listener.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// Time to receive a request's head (its line and headers).
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub connections_max: usize,
    /// Largest request body.
    pub request_body_bytes_max: u64,
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    limits: ServeLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    let connections = Arc::new(Semaphore::new(limits.connections_max.max(1)));
    loop {
        // A free connection slot first: past the cap, new connections wait in the backlog.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit?,
            _ = &mut shutdown => return Ok(()),
        };
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: log, back off briefly, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        stream.set_nodelay(true).ok();
        let runtime = runtime.clone();
        let client_addr = Arc::new(ClientAddr::new(client));
        tokio::spawn(async move {
            let _permit = permit;
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let runtime = runtime.clone();
                    let client_addr = client_addr.clone();
                    async move {
                        let max = limits.request_body_bytes_max;
                        let answer = match limit_body(req, max) {
                            Some(req) => runtime.handle(req, &client_addr).await,
                            None => text_response(
                                http::StatusCode::PAYLOAD_TOO_LARGE,
                                &format!("the request body may be at most {max} bytes"),
                            ),
                        };
                        Ok::<_, std::convert::Infallible>(answer)
                    }
                });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {client}: {e}");
            }
        });
    }
}

/// The request with its body capped at `max` bytes, or `None` (a 413) when its declared length is
/// over that (nothing of the body has been read then).
fn limit_body(
    req: hyper::Request<hyper::body::Incoming>,
    max: u64,
) -> Option<hyper::Request<Body>> {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return None;
    }
    Some(req.map(|b| {
        http_body_util::Limited::new(b, usize::try_from(max).unwrap_or(usize::MAX))
            .map_err(move |e| match e.downcast::<hyper::Error>() {
                Ok(e) => wasmtime_wasi_http::Error::from(*e),
                Err(_) => wasmtime_wasi_http::Error::HttpRequestBodySize(Some(max)),
            })
            .boxed_unsync()
    }))
}

/// The address to print for a bound listener.
pub fn describe(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
