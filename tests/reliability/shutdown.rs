//! SIGTERM with work in flight: the listener closes at once, what was
//! accepted is finished (or, past the grace period, ended), and the process
//! exits 0 within the bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Server, Stores, seed, token};

/// An idle server on an empty embedded store: health, a search with its
/// request id, then SIGTERM and exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_answers_then_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&Stores::embedded(dir.path()).env());
    let client = reqwest::Client::new();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let company = dagtrail::model::Company::new("acme").unwrap();
    let runs = client
        .get(server.url(
            "/api/v1/dags/9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f/runs?date_from=2026-11-01&date_to=2026-11-30",
        ))
        .bearer_auth(token(&company))
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), 200);
    let request_id = runs.headers().get("x-request-id").map(|v| v.len());
    assert!(request_id.is_some_and(|len| len > 0), "x-request-id");
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status}");
}

/// A server over 300,000 log lines with this grace period, and an NDJSON
/// stream of them opened (its first chunk read, so it is in flight).
async fn streaming(
    grace_secs: u64,
) -> (tempfile::TempDir, Server, reqwest::Response, Vec<u8>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let seeded = seed(&stores, 10, 300_000).await;
    let mut env = stores.env();
    env.push(("DAGTRAIL_SHUTDOWN_GRACE_SECS", grace_secs.to_string()));
    let server = Server::start(&env);
    let mut stream = reqwest::Client::new()
        .get(server.url(&format!("{}/phases/extract/logs", seeded.run_path())))
        .bearer_auth(token(&seeded.company))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await.unwrap().unwrap().to_vec();
    (dir, server, stream, first, seeded.log_rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_long_ndjson_stream_finishes_it() {
    let (_dir, mut server, mut stream, mut body, log_rows) = streaming(20).await;
    server.sigterm();
    // The listener closes: a new connection is refused (give the signal a
    // moment to arrive).
    let started = Instant::now();
    loop {
        let fresh = reqwest::Client::new();
        if fresh.get(server.url("/healthz")).send().await.is_err() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still accepting after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The stream in flight runs to its end.
    while let Some(chunk) = stream.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let mut count = 0;
    for line in lines {
        serde_json::from_slice::<serde_json::Value>(line).unwrap();
        count += 1;
    }
    assert_eq!(count, log_rows, "every log row arrived whole");
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_past_the_grace_period_ends_the_stream_and_exits_0() {
    let (_dir, mut server, mut stream, _, _) = streaming(1).await;
    // A client that stopped reading: backpressure holds the stream open.
    let started = Instant::now();
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let took = started.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    // The client sees an ended body, not a complete one: a chunked response
    // cut short is an error, so nobody mistakes it for all the rows.
    let mut ended = false;
    loop {
        match stream.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the cut stream must not look complete");
}

/// Ctrl-C waits for the stream in flight (20 s grace); a second Ctrl-C or
/// SIGTERM ends the process at once, its exit code saying which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_process_at_once() {
    use std::os::unix::process::ExitStatusExt as _;
    for (second, code) in [("INT", 130), ("TERM", 143)] {
        let (_dir, mut server, _stream, _, _) = streaming(20).await;
        server.signal("INT");
        // The first signal closes the listener; then the second one.
        let started = Instant::now();
        while reqwest::Client::new()
            .get(server.url("/healthz"))
            .send()
            .await
            .is_ok()
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still accepting"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let started = Instant::now();
        server.signal(second);
        let status = server.wait_exit(Duration::from_secs(5)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(
            (status.code(), status.signal()),
            (Some(code), None),
            "after SIG{second}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_answers_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let seeded = seed(&stores, 2_000, 2_000).await;
    // 32 clients of one company: the per-company bound on deep searches
    // (a fairness rule, not what this test is about) is lifted.
    let mut env = stores.env();
    env.push(("DAGTRAIL_MAX_SEARCHES_PER_COMPANY", "32".to_owned()));
    env.push(("DAGTRAIL_MAX_SEARCHES", "32".to_owned()));
    let mut server = Server::start(&env);
    let token = token(&seeded.company);
    let urls: Vec<String> = [
        seeded.search_path(),
        seeded.run_path(),
        format!("{}/phases/extract/data?page=3&limit=100", seeded.run_path()),
        format!("{}/phases/extract/logs?level=ERROR", seeded.run_path()),
    ]
    .iter()
    .map(|p| server.url(p))
    .collect();
    // 32 clients send back to back until the server stops taking requests.
    let progress = Arc::new(AtomicU32::new(0));
    let mut clients = Vec::new();
    for c in 0..32 {
        let urls = urls.clone();
        let token = token.clone();
        let progress = progress.clone();
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut answered = 0u32;
            for i in c.. {
                let reply = match client
                    .get(&urls[i % urls.len()])
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(reply) => reply,
                    // Not accepted: the listener is closed, the client knows.
                    Err(_) => return answered,
                };
                // Accepted: it must be answered whole and right.
                assert_eq!(reply.status(), 200);
                let body = reply
                    .bytes()
                    .await
                    .expect("an accepted request is answered whole");
                serde_json::from_slice::<serde_json::Value>(&body).unwrap();
                answered += 1;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            answered
        }));
    }
    // SIGTERM once the burst is under way; a fixed sleep is not enough on a
    // loaded CI machine, where a debug server may not answer anything in it.
    let started = Instant::now();
    while progress.load(Ordering::Relaxed) < 64 && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(20)).await;
    assert!(status.success(), "exit status {status}");
    let mut answered = 0;
    for client in clients {
        answered += client.await.unwrap();
    }
    eprintln!("burst: {answered} requests answered whole, then SIGTERM; exit 0");
    assert!(answered > 0);
}
