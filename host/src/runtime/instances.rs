//! Running one request in a fresh instance: admission, the instance made ahead of a component's
//! next request ([`ReadyInstance`]), the time limits, and what a failed guest answers.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::WasiHttpView;

use super::state::{ComponentInfo, HostState};
use super::{Runtime, EPOCH_TICK};
use crate::body::{text_response, Body};

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

impl Runtime {
    /// A fresh store for one request to `loaded`: its host state, memory limit and time limit.
    pub(crate) fn new_store(self: &Arc<Self>, loaded: &LoadedComponent) -> Store<HostState> {
        let mut store = Store::new(
            &self.engine,
            HostState::new(
                self.services.clone(),
                self.clone(),
                loaded.info.clone(),
                self.limits.memory_bytes_max,
            ),
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
    pub(super) async fn make_ready_instance(self: &Arc<Self>, loaded: &LoadedComponent) {
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

    pub(super) async fn run(
        self: &Arc<Self>,
        component_id: &str,
        req: Request<Body>,
        chained: bool,
    ) -> Response<Body> {
        let Some(loaded) = self.components.get(component_id) else {
            return text_response(StatusCode::NOT_FOUND, "");
        };
        let permit = match self.admit(chained).await {
            Ok(permit) => permit,
            Err(busy) => return busy,
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
            Err(_) => self.failure_response(id, task.await),
        }
    }

    /// A slot among `instances_max` for a network request, waiting `instance_wait` at most (a
    /// 503 after); a chained request already holds its caller's slot (making it wait could
    /// deadlock).
    async fn admit(&self, chained: bool) -> Result<Option<OwnedSemaphorePermit>, Response<Body>> {
        if chained {
            return Ok(None);
        }
        if let Ok(p) = self.instance_permits.clone().try_acquire_owned() {
            // The common case: a slot is free, no timer needed.
            return Ok(Some(p));
        }
        match tokio::time::timeout(
            self.limits.instance_wait,
            self.instance_permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => Ok(Some(p)),
            _ => Err(text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "server busy: too many requests in progress, retry shortly",
            )),
        }
    }

    /// The answer of a request whose guest ended without setting a response, logged.
    fn failure_response(
        &self,
        id: &str,
        ended: Result<Result<(), GuestFailure>, tokio::task::JoinError>,
    ) -> Response<Body> {
        match ended {
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
