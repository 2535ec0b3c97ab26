//! What one request's store holds: WASI, wasi:http, the resource table, limits, and what each
//! Spin capability needs to build its view ([`HostState::postgres`] and the others); and the
//! linker that gives each capability its view.

use std::collections::BTreeMap;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::StoreLimits;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::variables::VariableError;
use crate::bindings::fermyon::spin2_0_0 as spin2;
use crate::bindings::spin::postgres4_0_0::postgres as spin_postgres;
use crate::capabilities::key_value::{KeyValue, KvView};
use crate::capabilities::mqtt::{Mqtt, MqttView};
use crate::capabilities::outbound_grants::OutboundGrants;
use crate::capabilities::outbound_http::{ChainedRequests, OutboundHttp};
use crate::capabilities::postgres::{PgView, Postgres};
use crate::capabilities::redis::{Redis, RedisView};
use crate::capabilities::variables::{Variables, VariablesView};
use crate::capabilities::{Guest, Services};

/// Everything the host knows about one component, resolved at start-up.
pub struct ComponentInfo {
    pub id: Arc<str>,
    pub grants: Arc<OutboundGrants>,
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
    pub hooks: OutboundHttp,
    pub limits: StoreLimits,
    pub component: Arc<ComponentInfo>,
    pub services: Arc<Services>,
}

impl HostState {
    /// The state of one request to `component`: `memory_bytes_max` of linear memory, outgoing
    /// HTTP chained into `app`.
    pub fn new(
        services: Arc<Services>,
        app: Arc<dyn ChainedRequests>,
        component: Arc<ComponentInfo>,
        memory_bytes_max: usize,
    ) -> Self {
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
            .memory_size(memory_bytes_max)
            .trap_on_grow_failure(false)
            .build();
        Self {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHttp {
                component: component.id.clone(),
                grants: component.grants.clone(),
                app,
            },
            limits,
            component,
            services,
        }
    }

    fn postgres(&mut self) -> PgView<'_> {
        PgView {
            guest: guest(&self.component),
            pools: &self.services.pg,
            table: &mut self.table,
        }
    }

    fn redis(&mut self) -> RedisView<'_> {
        RedisView {
            guest: guest(&self.component),
            clients: &self.services.redis,
            table: &mut self.table,
        }
    }

    fn mqtt(&mut self) -> MqttView<'_> {
        MqttView {
            guest: guest(&self.component),
            table: &mut self.table,
        }
    }

    fn key_value(&mut self) -> KvView<'_> {
        KvView {
            allowed: &self.component.key_value_stores,
            stores: &self.services.kv,
            redis: &self.services.redis,
            table: &mut self.table,
        }
    }

    fn variables(&mut self) -> VariablesView<'_> {
        VariablesView {
            component: &self.component.id,
            variables: &self.component.variables,
        }
    }
}

/// The guest a capability serves, from its component.
fn guest(component: &ComponentInfo) -> Guest<'_> {
    Guest {
        id: &component.id,
        grants: &component.grants,
    }
}

/// Links WASI, wasi:http (with Spin's outgoing-handler behaviour) and each Spin capability, each
/// given its own view of the request's state.
pub fn link(linker: &mut Linker<HostState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::capabilities::outbound_http::link_self_aware_outgoing_handler(linker)?;
    spin_postgres::add_to_linker::<HostState, Postgres>(linker, HostState::postgres)?;
    spin2::redis::add_to_linker::<HostState, Redis>(linker, HostState::redis)?;
    spin2::mqtt::add_to_linker::<HostState, Mqtt>(linker, HostState::mqtt)?;
    spin2::key_value::add_to_linker::<HostState, KeyValue>(linker, HostState::key_value)?;
    spin2::variables::add_to_linker::<HostState, Variables>(linker, HostState::variables)?;
    Ok(())
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
