//! Loading an application onto wasmtime and running one request through a component.
//!
//! 1. Each `source` is read; a core module (what `cargo build --target wasm32-wasip1` makes) is turned
//!    into a component with the WASI preview 1 reactor adapter, as Spin does on load.
//! 2. The component is compiled once; the compiled artefact is kept in the cache folder under a
//!    name derived from the wasm bytes and the engine's settings, and reused on the next start.
//! 3. It is linked and pre-instantiated; an import the host does not provide stops start-up here.
//! 4. Each request gets a fresh instance from the pooling allocator, bounded by an epoch deadline,
//!    a memory limit and a bounded number of concurrent instances. The instance is usually made
//!    ahead, after the component's previous request was answered ([`ReadyInstance`]).

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::WasiHttpView;

use crate::key_value::KeyValueStores;
use crate::manifest::App;
use crate::outbound::OutboundGrants;
use crate::postgres::{PgLimits, PgPools};
use crate::redis_host::RedisClients;
use crate::routing::{RouteHeaders, RouteMatch, Router};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentInfo, HostState};
use crate::variables::AppVariables;

/// The body type used for every request and response inside the host.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// How often the epoch ticker advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of a reused linear-memory slot kept resident (reset in place, not decommitted) where the
/// kernel has `PAGEMAP_SCAN` (Linux 6.7+): only the pages instances in the slot have written are
/// reset (a written page stays private to the slot, so it is found and reset on every reuse, not
/// only after the instance that wrote it), so this can be generous.
const LINEAR_MEMORY_KEEP_RESIDENT_BYTES: usize = 16 << 20;
/// The same without `PAGEMAP_SCAN`, where the first this-many bytes are `memset` on every reuse
/// (and the rest given back with `madvise`).
const LINEAR_MEMORY_KEEP_RESIDENT_BYTES_WITHOUT_PAGEMAP: usize = 2 << 20;
/// Bytes of a reused table slot kept resident.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// Bytes of a reused async stack kept resident.
const ASYNC_STACK_KEEP_RESIDENT_BYTES: usize = 128 << 10;

/// Request-level limits (host flags; defaults in `main.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests that may be inside guests at once; more wait `instance_wait`, then get 503.
    pub instances_max: usize,
    /// How long a request waits for a free instance slot.
    pub instance_wait: Duration,
    /// Wall-clock budget of one request in its guest (epoch deadline), after which it gets 504.
    pub request_timeout: Duration,
    /// Linear memory one instance may grow to.
    pub memory_bytes_max: usize,
}

/// A component ready to serve.
pub struct LoadedComponent {
    pub info: Arc<ComponentInfo>,
    pub pre: ProxyPre<HostState>,
    /// An instance made ahead of the component's next request.
    pub ready: ReadyInstance,
}

/// One instance of a component, made after a request to it has been answered, for its next
/// request: that request then starts in the guest's handler instead of waiting for instantiation.
/// The instance has run no guest code; every request still gets an instance of its own.
#[derive(Default)]
pub struct ReadyInstance {
    slot: std::sync::Mutex<Option<(Store<HostState>, Proxy)>>,
    /// A request's task is making the instance (at most one at a time per component).
    making: std::sync::atomic::AtomicBool,
}

impl ReadyInstance {
    fn take(&self) -> Option<(Store<HostState>, Proxy)> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn is_empty(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// Stores `made` unless another instance got there first (then `made` is dropped).
    fn put(&self, made: (Store<HostState>, Proxy)) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(made);
        }
    }
}

/// The running application.
pub struct Runtime {
    pub engine: Engine,
    pub components: HashMap<String, Arc<LoadedComponent>>,
    pub router: Router,
    /// The `spin-*` route headers of a chained request (Spin's synthetic `/...` match).
    pub chained_headers: RouteHeaders,
    pub limits: Limits,
    pub instance_permits: Arc<Semaphore>,
    pub pg: PgPools,
    pub redis: RedisClients,
    pub kv: KeyValueStores,
}

/// Start-up options that are not part of the manifest.
pub struct LoadOptions {
    pub limits: Limits,
    pub pg_limits: PgLimits,
    pub runtime_config: RuntimeConfig,
    pub cache_dir: PathBuf,
    pub variables: AppVariables,
}

/// Builds the engine with the pooling allocator sized for `limits` and `components` (each may
/// hold one instance made ahead of its next request).
pub fn engine(limits: &Limits, components: usize) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Chained requests bypass the admission bound, hence twice the bound.
    let slots = (limits.instances_max * 2 + 16 + components) as u32;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots);
    pool.total_core_instances(slots * 8);
    pool.total_memories(slots * 4);
    pool.total_tables(slots * 8);
    pool.total_stacks(slots);
    pool.max_memory_size(limits.memory_bytes_max);
    pool.max_memories_per_component(8);
    pool.max_tables_per_component(16);
    pool.max_core_instances_per_component(32);
    pool.max_component_instance_size(1 << 20);
    // Reusing a slot resets what stays resident in place instead of madvise + page faults on the
    // next use.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(wasmtime::Enabled::Yes);
        pool.linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT_BYTES);
    } else {
        tracing::warn!(
            "this kernel has no PAGEMAP_SCAN (Linux 6.7+): reused instance memory is reset by \
             memset, which makes every request slower"
        );
        pool.linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT_BYTES_WITHOUT_PAGEMAP);
    }
    pool.table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
    pool.async_stack_keep_resident(ASYNC_STACK_KEEP_RESIDENT_BYTES);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| anyhow::anyhow!("cannot create the wasmtime engine: {e:#}"))
}

impl Runtime {
    /// Loads every component of `app`; any component that cannot run stops start-up with its name.
    pub fn load(app: &App, options: LoadOptions) -> Result<Arc<Self>> {
        let engine = engine(&options.limits, app.components.len())?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        crate::outbound_http::link_self_aware_outgoing_handler(&mut linker)?;
        crate::bindings::SpinImports::add_to_linker::<HostState, HasSelf<HostState>>(
            &mut linker,
            |s| s,
        )?;

        let routes = app
            .http_triggers
            .iter()
            .filter_map(|t| t.route.clone().map(|r| (r, t.component.clone())));
        let (router, duplicates) = Router::build(routes)?;
        for d in duplicates {
            tracing::warn!("{d}");
        }

        std::fs::create_dir_all(&options.cache_dir).with_context(|| {
            format!("cannot create cache folder {}", options.cache_dir.display())
        })?;
        let mut components = HashMap::new();
        for (id, decl) in &app.components {
            let started = Instant::now();
            let component = load_component(&engine, &decl.source, &options.cache_dir)
                .with_context(|| format!("component `{id}`"))?;
            let pre = linker.instantiate_pre(&component).map_err(|e| {
                anyhow::anyhow!(
                    "component `{id}` imports something this host does not provide: {e:#}. \
                     Remove the import or use an interface listed in docs/host.md"
                )
            })?;
            let pre = ProxyPre::new(pre).map_err(|e| {
                anyhow::anyhow!(
                    "component `{id}` does not export wasi:http/incoming-handler@0.2.x: {e:#}"
                )
            })?;
            let hosts = decl
                .allowed_outbound_hosts
                .iter()
                .map(|h| {
                    crate::template::Template::parse(h)?
                        .resolve(|n| options.variables.get(n))
                        .map_err(|e| anyhow::anyhow!("allowed_outbound_hosts `{h}`: {e}"))
                })
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("component `{id}`"))?;
            let grants =
                OutboundGrants::parse(&hosts).with_context(|| format!("component `{id}`"))?;
            options
                .runtime_config
                .check_component(id, &decl.key_value_stores)?;
            let info = ComponentInfo {
                id: id.clone(),
                grants,
                variables: options.variables.for_component(decl),
                key_value_stores: decl.key_value_stores.clone(),
                environment: decl.environment.clone().into_iter().collect(),
                stdout: crate::state::PrefixedOutput::new(id, false),
                stderr: crate::state::PrefixedOutput::new(id, true),
            };
            tracing::info!(
                "component `{id}` ready in {} ms",
                started.elapsed().as_millis()
            );
            components.insert(
                id.clone(),
                Arc::new(LoadedComponent {
                    info: Arc::new(info),
                    pre,
                    ready: ReadyInstance::default(),
                }),
            );
        }

        let runtime = Arc::new(Self {
            engine: engine.clone(),
            components,
            router,
            chained_headers: RouteHeaders::chained(),
            limits: options.limits,
            instance_permits: Arc::new(Semaphore::new(options.limits.instances_max)),
            pg: PgPools::new(options.pg_limits),
            redis: RedisClients::default(),
            kv: KeyValueStores::open(
                &options.runtime_config.key_value_stores,
                app.components.values().flat_map(|c| &c.key_value_stores),
            )?,
        });
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            })?;
        Ok(runtime)
    }

    /// Serves a request that arrived over the network.
    pub async fn handle(
        self: &Arc<Self>,
        req: Request<Body>,
        client_addr: &ClientAddr,
    ) -> Response<Body> {
        self.handle_logged(req, Origin::Network(client_addr)).await
    }

    /// Serves a request a component made to the app, in-process: to one component by name
    /// (`http://<component>.spin.internal`), or through the routes (a self request: a relative
    /// URL or the host `self.alt`).
    pub async fn handle_chained(
        self: &Arc<Self>,
        mut req: Request<Body>,
        target: Option<String>,
    ) -> Response<Body> {
        // Spin drops the outgoing request's Host before it reaches the app.
        req.headers_mut().remove(http::header::HOST);
        let origin = match target {
            Some(component) => Origin::Chained(component),
            None => {
                // A self request's URL carries no usable authority (``, `:80` or `self.alt`);
                // the guest sees it as Spin's listener would, from the path alone.
                if let Some(path) = req.uri().path_and_query().cloned() {
                    *req.uri_mut() = http::Uri::from(path);
                }
                Origin::SelfRequest
            }
        };
        self.handle_logged(req, origin).await
    }

    /// Dispatches and writes the one log line per request.
    async fn handle_logged(
        self: &Arc<Self>,
        req: Request<Body>,
        origin: Origin<'_>,
    ) -> Response<Body> {
        let started = Instant::now();
        let id = NEXT_REQUEST_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let method = req.method().clone();
        let chained = !matches!(origin, Origin::Network(_));
        let (component, route, resp) = self.dispatch(req, origin).await;
        // The matched route, never the raw path: a path can carry a secret (a provider
        // callback's per-payment token), and logs are read by more people than the database.
        tracing::info!(
            target: "request",
            "{method} {route} {} {} {:.3}ms id={id:x}{}",
            component.unwrap_or("-"),
            resp.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
            if chained { " (chained)" } else { "" }
        );
        resp
    }

    async fn dispatch<'a>(
        self: &'a Arc<Self>,
        mut req: Request<Body>,
        origin: Origin<'_>,
    ) -> (Option<&'a str>, &'a str, Response<Body>) {
        let path = req.uri().path();
        let (component_id, headers, matched, client_addr) = match &origin {
            Origin::Chained(id) => {
                let Some((id, _)) = self.components.get_key_value(id) else {
                    return (
                        None,
                        "(no such component)",
                        text_response(StatusCode::NOT_FOUND, "no such component"),
                    );
                };
                let matched = RouteMatch::chained(path);
                (
                    id.as_str(),
                    &self.chained_headers,
                    matched,
                    &*CHAINED_CLIENT_ADDR,
                )
            }
            Origin::Network(_) | Origin::SelfRequest => {
                if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
                    return (None, WELL_KNOWN_PREFIX, well_known_response(well_known));
                }
                let Some(routed) = self.router.route(path) else {
                    return (None, "(no route)", text_response(StatusCode::NOT_FOUND, ""));
                };
                let client = match &origin {
                    Origin::Network(client) => *client,
                    _ => &*SELF_CLIENT_ADDR,
                };
                (routed.component, routed.headers, routed.matched, client)
            }
        };
        set_spin_headers(&mut req, headers, &matched, client_addr);
        let chained = !matches!(origin, Origin::Network(_));
        let resp = self.run(component_id, req, chained).await;
        let route = headers.raw_component_route.to_str().unwrap_or("(route)");
        (Some(component_id), route, resp)
    }

    /// A fresh store for one request to `loaded`: its host state, memory limit and time limit.
    pub(crate) fn new_store(self: &Arc<Self>, loaded: &LoadedComponent) -> Store<HostState> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(self.clone(), loaded.info.clone()),
        );
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        self.arm_time_limit(&mut store);
        store
    }

    /// Gives `store` the request timeout from now (epoch deadline).
    fn arm_time_limit(&self, store: &mut Store<HostState>) {
        let ticks =
            (self.limits.request_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
    }

    /// Makes the instance `loaded`'s next request will use, unless one is there or being made.
    async fn make_ready_instance(self: &Arc<Self>, loaded: &LoadedComponent) {
        use std::sync::atomic::Ordering;
        if !loaded.ready.is_empty() || loaded.ready.making.swap(true, Ordering::AcqRel) {
            return;
        }
        // Cleared however this ends, also if the task is dropped half-way (at shutdown).
        struct Making<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Making<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _making = Making(&loaded.ready.making);
        let mut store = self.new_store(loaded);
        match loaded.pre.instantiate_async(&mut store).await {
            Ok(proxy) => loaded.ready.put((store, proxy)),
            // The request path instantiates (and reports a failure) itself.
            Err(e) => tracing::debug!(
                "component `{}`: no instance made ahead: {e:#}",
                loaded.info.id
            ),
        }
    }

    /// Drops the instances made ahead (each holds the runtime): call when the host stops serving.
    pub fn release_ready_instances(&self) {
        for loaded in self.components.values() {
            drop(loaded.ready.take());
        }
    }

    async fn run(
        self: &Arc<Self>,
        component_id: &str,
        req: Request<Body>,
        chained: bool,
    ) -> Response<Body> {
        let Some(loaded) = self.components.get(component_id) else {
            return text_response(StatusCode::NOT_FOUND, "");
        };
        // Chained requests already hold their caller's slot; making them wait could deadlock.
        let permit = if chained {
            None
        } else if let Ok(p) = self.instance_permits.clone().try_acquire_owned() {
            // The common case: a slot is free, no timer needed.
            Some(p)
        } else {
            match tokio::time::timeout(
                self.limits.instance_wait,
                self.instance_permits.clone().acquire_owned(),
            )
            .await
            {
                Ok(Ok(p)) => Some(p),
                _ => {
                    return text_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server busy: too many requests in progress, retry shortly",
                    )
                }
            }
        };
        // The instance made ahead for this request if there is one (its time limit counted from
        // now), else a store to instantiate into.
        let (mut store, made_ahead) = match loaded.ready.take() {
            Some((mut store, proxy)) => {
                self.arm_time_limit(&mut store);
                (store, Some(proxy))
            }
            None => (self.new_store(loaded), None),
        };
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = match store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
        {
            Ok(r) => r,
            Err(e) => {
                return text_response(StatusCode::BAD_REQUEST, &format!("invalid request: {e}"))
            }
        };
        let out = match store.data_mut().http().new_response_outparam(sender) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("component `{component_id}`: {e:#}");
                return text_response(StatusCode::INTERNAL_SERVER_ERROR, "");
            }
        };
        let loaded = loaded.clone();
        let runtime = self.clone();
        let id = component_id;
        let t0 = Instant::now();
        // Bounded in wall-clock time as a whole: the epoch deadline stops a guest that computes
        // too long, this one a guest stuck waiting on the host (an outbound call that hangs).
        let budget_end =
            tokio::time::Instant::from_std(t0) + self.limits.request_timeout + WAIT_GRACE;
        let task = tokio::spawn(async move {
            let guest = async {
                let proxy = match made_ahead {
                    Some(proxy) => proxy,
                    None => loaded
                        .pre
                        .instantiate_async(&mut store)
                        .await
                        .map_err(GuestFailure::Instantiate)?,
                };
                tracing::debug!("instantiated after {:?}", t0.elapsed());
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, out)
                    .await
                    .map_err(GuestFailure::Trap)
            };
            let result = until_deadline(guest, budget_end)
                .await
                .unwrap_or(Err(GuestFailure::WaitedTooLong));
            // The response is usually complete now and its connection task already woken: let
            // it write the response before this instance is torn down (returning its memory to
            // the pool is a tenth of a trivial request's work), not after.
            tokio::task::yield_now().await;
            drop(store);
            drop(permit);
            // Likewise the instance for the component's next request is made now, after this
            // response, rather than on that request's path.
            runtime.make_ready_instance(&loaded).await;
            result
        });
        // Ends when the guest sets its response, or when the task ends without one (the store,
        // and with it the response's sender, is dropped at the end of the task).
        match receiver.await {
            Ok(Ok(resp)) => {
                tracing::debug!("response head after {:?}", t0.elapsed());
                resp
            }
            Ok(Err(code)) => {
                tracing::warn!("component `{id}` answered with an error code: {code:?}");
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "")
            }
            Err(_) => match task.await {
                Ok(Err(GuestFailure::Trap(e))) if is_deadline(&e) => {
                    tracing::warn!(
                        "component `{id}` exceeded its time limit of {:?}",
                        self.limits.request_timeout
                    );
                    time_limit_response()
                }
                Ok(Err(GuestFailure::WaitedTooLong)) => {
                    tracing::warn!(
                        "component `{id}` exceeded its time limit while waiting on the host"
                    );
                    time_limit_response()
                }
                Ok(Err(GuestFailure::Instantiate(e))) => {
                    tracing::error!("component `{id}` could not be instantiated: {e:#}");
                    text_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server busy, retry shortly",
                    )
                }
                Ok(Err(GuestFailure::Trap(e))) => {
                    tracing::error!("component `{id}` failed: {e:?}");
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, "")
                }
                Ok(Ok(())) => {
                    tracing::error!("component `{id}` returned without setting a response");
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, "")
                }
                Err(e) => {
                    tracing::error!("component `{id}` task failed: {e}");
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, "")
                }
            },
        }
    }
}

enum GuestFailure {
    Instantiate(wasmtime::Error),
    Trap(wasmtime::Error),
    /// Still waiting on the host when the request's time was up.
    WaitedTooLong,
}

/// What a guest stuck waiting on the host gets beyond the request timeout before it is cut off
/// (a guest computing is cut off by the epoch deadline at the timeout itself).
const WAIT_GRACE: Duration = Duration::from_secs(1);

/// Runs `fut` until `deadline`; `None` if the deadline came first. The timer is armed only once
/// `fut` has to wait, so a request that completes in its first poll (most of them) never touches
/// the runtime's timer wheel.
async fn until_deadline<F: Future>(fut: F, deadline: tokio::time::Instant) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(out));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

fn is_deadline(e: &wasmtime::Error) -> bool {
    matches!(
        e.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    )
}

/// The 504 of a request whose guest ran out of time (computing or waiting on the host).
fn time_limit_response() -> Response<Body> {
    text_response(
        StatusCode::GATEWAY_TIMEOUT,
        "the component exceeded its time limit",
    )
}

/// A small text response.
pub fn text_response(status: StatusCode, text: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    if !text.is_empty() {
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    resp
}

/// The `spin-*` request headers Spin sets for a component.
mod spin_header {
    use http::HeaderName;
    pub const FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
    pub const PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
    pub const MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
    pub const RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
    pub const COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
    pub const BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
    pub const CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
}

pub(crate) fn set_spin_headers(
    req: &mut Request<Body>,
    route: &RouteHeaders,
    matched: &RouteMatch,
    client_addr: &ClientAddr,
) {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // As Spin: the Host header, or `localhost` without one (a chained request has none).
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let mut full_url = String::with_capacity(7 + host.len() + path_and_query.len());
    full_url.push_str("http://");
    full_url.push_str(host);
    full_url.push_str(path_and_query);
    // One buffer for both the absolute URI and the `spin-full-url` header.
    let full_url = Bytes::from(full_url);
    // Make the URI absolute for the guest's `authority`.
    if req.uri().authority().is_none() {
        if let Ok(uri) = http::Uri::from_maybe_shared(full_url.clone()) {
            *req.uri_mut() = uri;
        }
    }
    let headers = req.headers_mut();
    // Room for the headers below at once, rather than the map growing (and rehashing) twice.
    headers.reserve(8 + matched.params.len());
    // A client may not forge what the platform tells the component.
    let forged: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for k in forged {
        headers.remove(k);
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(full_url) {
        headers.insert(spin_header::FULL_URL, v);
    }
    if let Ok(v) = HeaderValue::from_str(&matched.path_info) {
        headers.insert(spin_header::PATH_INFO, v);
    }
    headers.insert(spin_header::MATCHED_ROUTE, route.matched_route.clone());
    headers.insert(
        spin_header::RAW_COMPONENT_ROUTE,
        route.raw_component_route.clone(),
    );
    headers.insert(spin_header::COMPONENT_ROUTE, route.component_route.clone());
    headers.insert(spin_header::BASE_PATH, HeaderValue::from_static("/"));
    headers.insert(spin_header::CLIENT_ADDR, client_addr.header.clone());
    for (name, value) in &matched.params {
        // Spin names the header `SPIN_PATH_MATCH_<NAME>`, then writes `_` as `-` in lower case.
        let name = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(name),
            HeaderValue::from_str(value),
        ) {
            headers.insert(n, v);
        }
    }
}

/// Where a request came from: its `spin-client-addr` and whether it is routed.
enum Origin<'a> {
    /// Over the network, from this peer.
    Network(&'a ClientAddr),
    /// `http://<component>.spin.internal`: that component, with Spin's synthetic `/...` match.
    Chained(String),
    /// A relative URL or `http://self.alt/...`: through the app's routes, as Spin sends it to
    /// its own listener (over loopback; here in-process).
    SelfRequest,
}

/// Numbers requests in the log (`id=`), so a request's line can be told from its neighbours.
static NEXT_REQUEST_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Spin's `spin-client-addr` of a chained request.
static CHAINED_CLIENT_ADDR: std::sync::LazyLock<ClientAddr> =
    std::sync::LazyLock::new(|| ClientAddr::new(([0, 0, 0, 0], 0).into()));

/// The `spin-client-addr` of a self request (Spin's comes from loopback).
static SELF_CLIENT_ADDR: std::sync::LazyLock<ClientAddr> =
    std::sync::LazyLock::new(|| ClientAddr::new(([127, 0, 0, 1], 0).into()));

/// Paths Spin reserves for itself; only `health` answers, as on Spin without app info.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

fn well_known_response(name: &str) -> Response<Body> {
    match name {
        "health" => text_response(StatusCode::OK, "OK"),
        _ => text_response(StatusCode::NOT_FOUND, ""),
    }
}

/// The peer of a request that came over the network, with its `spin-client-addr` value made once
/// per connection rather than per request.
pub struct ClientAddr {
    header: HeaderValue,
}

impl ClientAddr {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            header: HeaderValue::from_str(&addr.to_string())
                .expect("a socket address is a valid header value"),
        }
    }
}

/// Reads a `.wasm`, componentizes a core module, and compiles it (or loads the cached artefact).
fn load_component(engine: &Engine, source: &Path, cache_dir: &Path) -> Result<Component> {
    let bytes = std::fs::read(source).with_context(|| {
        format!(
            "cannot read {}; build the components first (scripts/build-wasm.sh)",
            source.display()
        )
    })?;
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = hex::encode(Sha256::digest(&bytes));
    let cached = cache_dir.join(format!(
        "{}-{:016x}.cwasm",
        &digest[..32],
        engine_hash.finish()
    ));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (part of its name), in a folder only this host writes.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &cached) } {
            Ok(c) => return Ok(c),
            Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e:#}", cached.display()),
        }
    }
    let component_bytes = if is_core_module(&bytes) {
        wit_component::ComponentEncoder::default()
            .module(&bytes)
            .context("not a valid core module")?
            .adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )?
            .validate(true)
            .encode()
            .context("cannot turn the core module into a component")?
    } else if is_component(&bytes) {
        bytes
    } else {
        bail!(
            "{} is not a WebAssembly module or component",
            source.display()
        );
    };
    tracing::info!(
        "compiling {} (first start after a change; cached afterwards)",
        source.display()
    );
    let component = Component::new(engine, &component_bytes)
        .map_err(|e| anyhow::anyhow!("cannot compile: {e:#}"))?;
    let serialized = component.serialize()?;
    let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized)
        .and_then(|_| std::fs::rename(&tmp, &cached))
        .ok();
    Ok(component)
}

fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}
