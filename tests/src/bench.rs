//! Shared by the benchmarks in `tests/tests/*_bench.rs`: the same-run baselines.

use crate::TestApp;

/// `pgbench -c <concurrency> -j 2 -T secs -n` on `UPDATE ... SET stock = stock - 1 WHERE id = 1 AND stock >= 1`:
/// transactions per second.
pub fn pgbench_bare_update(app: &TestApp, concurrency: usize, secs: u64) -> f64 {
    let url = app.db.url("nexgate_admin");
    let setup = std::process::Command::new("psql")
        .arg(&url)
        .args(["-qc", "CREATE TABLE IF NOT EXISTS public.bench_stock (id int PRIMARY KEY, stock int NOT NULL);
                       INSERT INTO public.bench_stock VALUES (1, 2000000000) ON CONFLICT (id) DO UPDATE SET stock = 2000000000"])
        .status()
        .expect("psql");
    assert!(setup.success());
    let script = std::env::temp_dir().join("nexgate-bench-stock.sql");
    std::fs::write(
        &script,
        "UPDATE public.bench_stock SET stock = stock - 1 WHERE id = 1 AND stock >= 1;\n",
    )
    .unwrap();
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/pgbench")
        .args([
            "-c",
            &concurrency.to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-n",
            "-f",
        ])
        .arg(&script)
        .arg(&url)
        .output()
        .expect("pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no tps in {text}"))
}

/// The `q`-quantile (0..1) of sorted durations, in milliseconds.
pub fn quantile_ms(sorted: &[std::time::Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `work(worker, round)` on `concurrency` tasks until `secs` have passed; every latency it
/// returned, sorted (a round may time several requests).
pub async fn run_for<F, Fut>(concurrency: usize, secs: u64, work: F) -> Vec<std::time::Duration>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Vec<std::time::Duration>> + Send,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let tasks: Vec<_> = (0..concurrency)
        .map(|worker| {
            let work = work.clone();
            tokio::spawn(async move {
                let mut out = Vec::new();
                let mut round = 0;
                while std::time::Instant::now() < deadline {
                    out.extend(work(worker, round).await);
                    round += 1;
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("a load task"));
    }
    all.sort();
    all
}

/// A Markdown row `| what | requests | rate | p50 ms | p99 ms |` of sorted latencies measured
/// over `secs` (and the phase's end time on stderr, to line it up with a `top` log).
pub fn latency_row(what: &str, latencies: &[std::time::Duration], secs: u64) {
    eprintln!("# {what} ended at {}", nexgate_platform::time::now_unix().0);
    println!(
        "| {what} | {} | {:.0}/s | {:.1} | {:.1} |",
        latencies.len(),
        latencies.len() as f64 / secs as f64,
        quantile_ms(latencies, 0.5),
        quantile_ms(latencies, 0.99)
    );
}
