//! The HTTP/1.1 listener: accepts connections and hands each request to the runtime.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::runtime::{ClientAddr, Runtime};

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    loop {
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
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let runtime = runtime.clone();
                    let client_addr = client_addr.clone();
                    async move {
                        let req =
                            req.map(|b| b.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
                        Ok::<_, std::convert::Infallible>(runtime.handle(req, &client_addr).await)
                    }
                });
            if let Err(e) = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {client}: {e}");
            }
        });
    }
}

/// The address to print for a bound listener.
pub fn describe(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
