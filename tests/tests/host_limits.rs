//! Every request is bounded: time, memory, and how many run at once.

use std::time::Duration;

use nexgate_tests::{HostOptions, Manifest, TestApp};

/// The fixture app on a host started with these extra flags.
async fn start_with_flags(flags: &[&str]) -> TestApp {
    TestApp::start_with(
        Manifest::Fixture,
        HostOptions {
            args: flags.iter().map(|f| f.to_string()).collect(),
            ..Default::default()
        },
    )
    .await
}

/// The host still answers a normal request (after a guest was cut off or requests were refused).
async fn assert_still_serving(app: &TestApp) {
    let status = app
        .http
        .get(app.url("/probe/headers"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the host stopped serving");
}

#[tokio::test]
async fn a_runaway_guest_is_cut_off_while_others_are_served() {
    let app = start_with_flags(&["--request-timeout-ms", "1500"]).await;
    let started = std::time::Instant::now();
    let spin = app.http.get(app.url("/probe/spin")).send();
    let other = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.http
            .get(app.url("/probe/headers"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let (spin, other) = tokio::join!(spin, other);
    assert_eq!(
        other, 200,
        "a normal request was not served while a guest looped"
    );
    assert_eq!(spin.unwrap().status().as_u16(), 504);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_guest_stuck_waiting_on_the_host_is_cut_off_after_its_budget() {
    // The epoch deadline only fires while guest code runs; a guest blocked in a host call (here a
    // 20 s sleep on a WASI clock) is ended by the host's wall-clock bound: the request timeout
    // plus one second of grace.
    let app = start_with_flags(&["--request-timeout-ms", "1000"]).await;
    let started = std::time::Instant::now();
    let resp = app
        .http
        .get(app.url("/probe/sleep?ms=20000"))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(resp.status().as_u16(), 504);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(10),
        "cut off after {took:?}"
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn requests_beyond_the_instance_limit_get_503_and_the_host_survives() {
    let app = start_with_flags(&["--instances-max", "2", "--instance-wait-ms", "200"]).await;
    let requests = (0..8).map(|_| app.http.get(app.url("/probe/sleep?ms=1500")).send());
    let statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(ok + busy, 8, "{statuses:?}");
    assert!(ok >= 2 && busy >= 1, "{statuses:?}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn an_instance_cannot_grow_past_its_memory_limit() {
    let app = start_with_flags(&["--instance-memory-mib", "64"]).await;
    let (status, body) = app.get_json("/probe/memory?mib=8").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get_json("/probe/memory?mib=128").await;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["allocated"], false);
}

#[tokio::test]
async fn request_bodies_reach_the_guest_intact() {
    let app = TestApp::start(Manifest::Fixture).await;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let resp = app
        .http
        .post(app.url("/probe/echo"))
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), payload);
}

#[tokio::test]
async fn every_request_gets_an_instance_of_its_own() {
    // The host makes each component's next instance after answering a request (docs/host.md);
    // that instance must still be unused when its request arrives, one after another and at once.
    let app = start_with_flags(&[]).await;
    for _ in 0..20 {
        let (status, body) = app.get_json("/probe/instance").await;
        assert_eq!(status, 200);
        assert_eq!(
            body["requests_seen"], 1,
            "an instance served a second request"
        );
    }
    let at_once = futures::future::join_all((0..32).map(|_| app.get_json("/probe/instance"))).await;
    for (status, body) in at_once {
        assert_eq!(status, 200);
        assert_eq!(
            body["requests_seen"], 1,
            "an instance served a second request"
        );
    }
}

#[tokio::test]
async fn an_instance_made_ahead_gets_its_time_limit_from_its_request() {
    // After this request the host makes the next instance; it then waits longer than the time
    // limit before its request comes. Its budget must start with the request, not when it was
    // made: the request is answered, not cut off with 504.
    let app = start_with_flags(&["--request-timeout-ms", "1000"]).await;
    let (status, _) = app.get_json("/probe/instance").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, body) = app.get_json("/probe/instance").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["requests_seen"], 1);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read_and_one_under_it_arrives() {
    let app = start_with_flags(&["--request-body-mib-max", "1"]).await;
    // Declared too large: 413 at once (the body is never sent in full, so this cannot take long).
    let started = std::time::Instant::now();
    let big = vec![7u8; 2 * 1024 * 1024];
    let resp = app.http.post(app.url("/probe/echo")).body(big).send().await;
    match resp {
        Ok(r) => assert_eq!(r.status(), 413),
        // The host may answer and close before the client finished sending.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // Streamed without a length (chunked) and over the limit: the guest's read of it fails, so
    // no 200 comes back.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = app.host.base_url.trim_start_matches("http://").to_string();
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        conn.write_all(
            b"POST /probe/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        let chunk = vec![b'a'; 128 * 1024];
        for _ in 0..20 {
            let head = format!("{:x}\r\n", chunk.len());
            if conn.write_all(head.as_bytes()).await.is_err()
                || conn.write_all(&chunk).await.is_err()
                || conn.write_all(b"\r\n").await.is_err()
            {
                break;
            }
        }
        let _ = conn.write_all(b"0\r\n\r\n").await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            !answer.starts_with("HTTP/1.1 200"),
            "a 2.5 MiB stream passed a 1 MiB limit: {}",
            answer.lines().next().unwrap_or("")
        );
    }
    // Under the limit: intact.
    let small: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
    let resp = app
        .http
        .post(app.url("/probe/echo"))
        .body(small.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), small);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = start_with_flags(&["--header-read-timeout-ms", "500"]).await;
    let addr = app.host.base_url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /probe/headers HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The host closes the connection (or answers 408) once the header timeout passes.
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the half-sent request still held its connection"
    );
    assert_still_serving(&app).await;
}

/// 64 signed-in clients at once on one component: every request is served (none waits for the
/// host's connection cap), and the component's database address never has more server
/// connections than its limit (16), counting those still being reset after a request: a finished
/// request's slot is given back only once its connection is idle again.
#[tokio::test]
async fn a_burst_on_one_database_address_stays_within_its_connections_and_is_served() {
    let app = TestApp::start(Manifest::App).await;
    let mut observer = app.observe_events().await;
    let user = nexgate_tests::auth::sign_up(&app, &mut observer).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut clients = Vec::new();
    for _ in 0..64 {
        let (http, url, token) = (
            app.http.clone(),
            app.url("/users/me"),
            user.access_token.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while std::time::Instant::now() < deadline {
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                statuses.push(resp.status().as_u16());
            }
            statuses
        }));
    }
    let admin = app.db.admin().await;
    let mut most = 0i64;
    while std::time::Instant::now() < deadline {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND usename = 'nexgate_profiles'",
                &[&app.db.name],
            )
            .await
            .unwrap();
        most = most.max(row.get(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut served = 0;
    for c in clients {
        for status in c.await.unwrap() {
            assert_eq!(status, 200, "{}", app.host.log());
            served += 1;
        }
    }
    assert!(served > 64, "only {served} requests in 3 s");
    assert!(
        (1..=16).contains(&most),
        "profiles' address had {most} connections (limit 16)"
    );
}
