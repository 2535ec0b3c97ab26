//! What one request's store holds: WASI, wasi:http, the Spin interfaces' context, and limits.

use std::collections::BTreeMap;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outbound::OutboundGrants;
use crate::runtime::Runtime;
use crate::variables::VariableError;

/// Everything the host knows about one component, resolved at start-up.
pub struct ComponentInfo {
    pub id: String,
    pub grants: OutboundGrants,
    pub variables: BTreeMap<String, Result<String, VariableError>>,
    pub key_value_stores: Vec<String>,
    pub environment: Vec<(String, String)>,
    /// The guest's stdout, stderr: `[id] ` in front of each line (made once, used per request).
    pub stdout: PrefixedOutput,
    pub stderr: PrefixedOutput,
}

/// The `T` of `Store<T>` for one request.
pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub table: ResourceTable,
    pub hooks: crate::outbound_http::OutboundHttp,
    pub limits: StoreLimits,
    pub component: Arc<ComponentInfo>,
    pub shared: Arc<Runtime>,
}

impl HostState {
    pub fn new(shared: Arc<Runtime>, component: Arc<ComponentInfo>) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&component.environment)
            .stdout(component.stdout.clone())
            .stderr(component.stderr.clone())
            // Spin gives components no sockets: outbound traffic goes through the Spin interfaces
            // and wasi:http, which check allowed_outbound_hosts.
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(shared.limits.memory_bytes_max)
            .trap_on_grow_failure(false)
            .build();
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: crate::outbound_http::OutboundHttp {
                runtime: shared.clone(),
                component: component.clone(),
            },
            limits,
            component,
            shared,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A guest's stdout or stderr, written line by line to the host's with `[component]` in front.
#[derive(Clone)]
pub struct PrefixedOutput {
    prefix: Arc<str>,
    to_stderr: bool,
}

impl PrefixedOutput {
    pub fn new(component: &str, to_stderr: bool) -> Self {
        Self {
            prefix: Arc::from(format!("[{component}] ")),
            to_stderr,
        }
    }
}

impl IsTerminal for PrefixedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PrefixedOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            out: self.clone(),
            partial: Vec::new(),
        })
    }
}

/// Longest partial line kept before it is written out anyway.
const GUEST_LINE_BYTES_MAX: usize = 16 * 1024;

struct LineWriter {
    out: PrefixedOutput,
    partial: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let mut text = Vec::with_capacity(line.len() + self.out.prefix.len() + 1);
        text.extend_from_slice(self.out.prefix.as_bytes());
        text.extend_from_slice(line);
        text.push(b'\n');
        let _ = if self.out.to_stderr {
            std::io::stderr().lock().write_all(&text)
        } else {
            std::io::stdout().lock().write_all(&text)
        };
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &b in buf {
            if b == b'\n' || self.partial.len() >= GUEST_LINE_BYTES_MAX {
                let line = std::mem::take(&mut self.partial);
                self.emit(&line);
                if b != b'\n' {
                    self.partial.push(b);
                }
            } else {
                self.partial.push(b);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line);
        }
    }
}
