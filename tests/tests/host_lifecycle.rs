//! `nexgate-host lifecycle`: the per-step timing of requests inside the host, in-process.

use std::process::Command;

use nexgate_tests::{host_bin, repo_root};

/// `nexgate-host lifecycle` on the fixture app; the variables it requires are set to values the
/// measured route never uses (it reads no store).
fn lifecycle(path: &str, requests: &str) -> std::process::Output {
    Command::new(host_bin())
        .arg("lifecycle")
        .arg("--from")
        .arg(repo_root().join("tests/fixtures/spin.toml"))
        .arg("--runtime-config-file")
        .arg(repo_root().join("tests/fixtures/runtime-config.toml"))
        .args(["--path", path, "--requests", requests])
        .envs([
            (
                "SPIN_VARIABLE_DB_URL",
                "postgres://unused@127.0.0.1:9/unused",
            ),
            ("SPIN_VARIABLE_REDIS_KEY_PREFIX", "lifecycle:"),
            ("SPIN_VARIABLE_EVENT_TOPIC_PREFIX", "lifecycle"),
            ("SPIN_VARIABLE_PROBE_INTERNAL_TOKEN", "unused"),
            ("RUST_LOG", "warn"),
        ])
        .output()
        .expect("run nexgate-host lifecycle")
}

#[test]
fn lifecycle_times_every_step_of_real_requests() {
    let out = lifecycle("/probe/headers", "50");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("component `probe`: 50 requests"),
        "{stdout}"
    );
    for step in [
        "store + host state",
        "instantiate",
        "guest handle",
        "response body",
        "teardown (store drop)",
        "whole request",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(step))
            .unwrap_or_else(|| panic!("no `{step}` row in:\n{stdout}"));
        let numbers: Vec<f64> = line[step.len()..]
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(numbers.len(), 3, "{line}");
        // Mean, p50 and p99 of work that really ran: never zero, the tail never below the median.
        assert!(numbers.iter().all(|n| *n > 0.0), "{line}");
        assert!(numbers[2] >= numbers[1], "{line}");
    }
}

#[test]
fn lifecycle_names_a_path_no_route_matches() {
    let out = lifecycle("/no/such/route", "10");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no route of the manifest matches `/no/such/route`"),
        "{stderr}"
    );
}
