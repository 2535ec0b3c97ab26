//! `nexgate-host lifecycle`: where a request's time goes inside the host, step by step, for the
//! component a path routes to. Requests are made in-process (no socket, no HTTP parsing) and run
//! one after another through the same steps as a served request: a fresh store, a fresh instance
//! from the pooling allocator, the guest's `handle`, its response body, the store's teardown.
//! `bench/run.sh` prints it beside the over-the-network figures; docs/host.md explains the steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::WasiHttpView;

use crate::runtime::Runtime;

/// Requests run first and not counted: caches, pool slots and the branch predictor warm up.
const WARM_UP: usize = 200;

/// The steps of one request, in order.
const STEPS: [&str; 5] = [
    "store + host state",
    "instantiate",
    "guest handle",
    "response body",
    "teardown (store drop)",
];

/// Durations of each step over the measured requests.
pub struct Report {
    pub component: String,
    pub requests: usize,
    steps: [Vec<Duration>; STEPS.len()],
    totals: Vec<Duration>,
}

/// Runs `requests` GET requests for `path` (after [`WARM_UP`] uncounted ones).
pub async fn measure(runtime: &Arc<Runtime>, path: &str, requests: usize) -> Result<Report> {
    let routed = runtime
        .router
        .route(path)
        .with_context(|| format!("no route of the manifest matches `{path}`"))?;
    let component = routed.component;
    let loaded = runtime
        .components
        .get(component)
        .with_context(|| format!("component `{component}` is not loaded"))?;
    let mut report = Report {
        component: component.to_string(),
        requests,
        steps: Default::default(),
        totals: Vec::with_capacity(requests),
    };
    let client = crate::runtime::ClientAddr::new(([127, 0, 0, 1], 0).into());
    for i in 0..WARM_UP + requests {
        let mut req = Request::get(format!("http://localhost{path}"))
            .header(http::header::HOST, "localhost")
            .body(
                Empty::<Bytes>::new()
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )?;
        crate::runtime::set_spin_headers(&mut req, routed.headers, &routed.matched, &client);

        let started = Instant::now();
        let mut store = runtime.new_store(loaded);
        let stored = Instant::now();
        let proxy = loaded
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!("component `{component}` could not be instantiated: {e:#}"))?;
        let instantiated = Instant::now();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| anyhow!("invalid request: {e:#}"))?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| anyhow!("{e:#}"))?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, out)
            .await
            .map_err(|e| anyhow!("component `{component}` failed: {e:#}"))?;
        let handled = Instant::now();
        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => bail!("component `{component}` answered with error {code:?}"),
            Err(_) => bail!("component `{component}` returned without setting a response"),
        };
        response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("the response body of `{component}` failed"))?;
        let body_read = Instant::now();
        drop(store);
        let torn_down = Instant::now();

        if i >= WARM_UP {
            let marks = [started, stored, instantiated, handled, body_read, torn_down];
            for (step, pair) in report.steps.iter_mut().zip(marks.windows(2)) {
                step.push(pair[1] - pair[0]);
            }
            report.totals.push(torn_down - started);
        }
    }
    Ok(report)
}

impl Report {
    /// A plain-text table: mean, p50 and p99 of each step and of the whole, in microseconds.
    pub fn table(&self) -> String {
        let mut out = format!(
            "component `{}`: {} requests in-process, one at a time, after {WARM_UP} to warm up\n\
             {:<24} {:>9} {:>9} {:>9}\n",
            self.component, self.requests, "step", "mean µs", "p50 µs", "p99 µs"
        );
        let rows = STEPS
            .iter()
            .zip(&self.steps)
            .chain(std::iter::once((&"whole request", &self.totals)));
        for (name, samples) in rows {
            let (mean, p50, p99) = summary(samples);
            out.push_str(&format!("{name:<24} {mean:>9.1} {p50:>9.1} {p99:>9.1}\n"));
        }
        out
    }
}

/// Mean, median and 99th percentile in microseconds.
fn summary(samples: &[Duration]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut sorted: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    sorted.sort_by(f64::total_cmp);
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    // Nearest rank: the smallest sample with at least a fraction `q` of all samples at or below it.
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    (mean, at(0.5), at(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_mean_median_and_tail() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        let (mean, p50, p99) = summary(&samples);
        assert!((mean - 50.5).abs() < 1e-9);
        assert_eq!((p50, p99), (50.0, 99.0));
        assert_eq!(summary(&[]), (0.0, 0.0, 0.0));
    }
}
