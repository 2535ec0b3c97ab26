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
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http::{Request, Response, StatusCode};
use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::app::manifest::{App, ComponentDecl};
use crate::app::routing::{RouteHeaders, RouteMatch, Router};
use crate::app::runtime_config::RuntimeConfig;
use crate::app::variables::AppVariables;
use crate::capabilities::key_value::KeyValueStores;
use crate::capabilities::outbound_grants::OutboundGrants;
use crate::capabilities::outbound_http::ChainedRequests;
use crate::capabilities::postgres::{PgLimits, PgPools};
use crate::capabilities::Services;
use state::{ComponentInfo, HostState, PrefixedOutput};

pub use crate::body::{text_response, Body};
pub use compile::engine;
pub use instances::{LoadedComponent, ReadyInstance};
pub use spin_headers::{set_spin_headers, ClientAddr};

mod compile;
mod instances;
mod spin_headers;
pub mod state;

/// How often the epoch ticker advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

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

/// The running application.
pub struct Runtime {
    pub engine: Engine,
    pub components: HashMap<String, Arc<LoadedComponent>>,
    pub router: Router,
    /// The `spin-*` route headers of a chained request (Spin's synthetic `/...` match).
    pub chained_headers: RouteHeaders,
    pub limits: Limits,
    pub instance_permits: Arc<Semaphore>,
    /// The capabilities' shared side (pools, clients, stores).
    pub services: Arc<Services>,
}

/// Start-up options that are not part of the manifest.
pub struct LoadOptions {
    pub limits: Limits,
    pub pg_limits: PgLimits,
    pub runtime_config: RuntimeConfig,
    pub cache_dir: PathBuf,
    pub variables: AppVariables,
}

impl Runtime {
    /// Loads every component of `app`; any component that cannot run stops start-up with its name.
    pub fn load(app: &App, options: LoadOptions) -> Result<Arc<Self>> {
        let engine = engine(&options.limits, app.components.len())?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        state::link(&mut linker)?;
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
            let loaded = load_one(&engine, &linker, id, decl, &options)?;
            tracing::info!(
                "component `{id}` ready in {} ms",
                started.elapsed().as_millis()
            );
            components.insert(id.clone(), Arc::new(loaded));
        }
        let services = Services {
            pg: PgPools::new(options.pg_limits),
            redis: Default::default(),
            kv: KeyValueStores::open(
                &options.runtime_config.key_value_stores,
                app.components.values().flat_map(|c| &c.key_value_stores),
            )?,
        };
        let runtime = Arc::new(Self {
            engine: engine.clone(),
            components,
            router,
            chained_headers: RouteHeaders::chained(),
            limits: options.limits,
            instance_permits: Arc::new(Semaphore::new(options.limits.instances_max)),
            services: Arc::new(services),
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

/// Compiles, links and pre-instantiates one component, with its grants, variables and output.
fn load_one(
    engine: &Engine,
    linker: &Linker<HostState>,
    id: &str,
    decl: &ComponentDecl,
    options: &LoadOptions,
) -> Result<LoadedComponent> {
    let in_component = || format!("component `{id}`");
    let component = compile::load_component(engine, &decl.source, &options.cache_dir)
        .with_context(in_component)?;
    let pre = linker.instantiate_pre(&component).map_err(|e| {
        anyhow::anyhow!(
            "component `{id}` imports something this host does not provide: {e:#}. \
             Remove the import or use an interface listed in docs/host.md"
        )
    })?;
    let pre = ProxyPre::new(pre).map_err(|e| {
        anyhow::anyhow!("component `{id}` does not export wasi:http/incoming-handler@0.2.x: {e:#}")
    })?;
    let hosts = decl
        .allowed_outbound_hosts
        .iter()
        .map(|h| {
            crate::app::template::Template::parse(h)?
                .resolve(|n| options.variables.get(n))
                .map_err(|e| anyhow::anyhow!("allowed_outbound_hosts `{h}`: {e}"))
        })
        .collect::<Result<Vec<_>>>()
        .with_context(in_component)?;
    let grants = OutboundGrants::parse(&hosts).with_context(in_component)?;
    options
        .runtime_config
        .check_component(id, &decl.key_value_stores)?;
    let info = ComponentInfo {
        id: Arc::from(id),
        grants: Arc::new(grants),
        variables: options.variables.for_component(decl),
        key_value_stores: decl.key_value_stores.clone(),
        environment: decl.environment.clone().into_iter().collect(),
        stdout: PrefixedOutput::new(id, false),
        stderr: PrefixedOutput::new(id, true),
    };
    Ok(LoadedComponent {
        info: Arc::new(info),
        pre,
        ready: ReadyInstance::default(),
    })
}

impl ChainedRequests for Runtime {
    fn has_component(&self, id: &str) -> bool {
        self.components.contains_key(id)
    }

    fn handle_chained(
        self: Arc<Self>,
        req: Request<Body>,
        target: Option<String>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send>> {
        Box::pin(async move { Runtime::handle_chained(&self, req, target).await })
    }
}
