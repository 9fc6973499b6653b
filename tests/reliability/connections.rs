//! Hostile connections (issue 12, item 11): half-sent requests and idle
//! keep-alive connections end after the header timeout, the connection cap
//! holds new ones in the backlog until a slot frees, and a low open-file
//! limit lowers the cap instead of starving the accept loop. Before, 50
//! half-sent requests stayed open past 40 s and, with a low file limit,
//! `/healthz` stopped answering.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::metrics::sample;
use crate::support::{Server, Stores};

/// A request whose headers never end (no blank line).
const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: dagtrail\r\nX-Slow: ";

async fn half_sent(server: &Server) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(HALF_SENT).await.unwrap();
    stream
}

/// Waits until the server closes `stream` (end of file or reset), failing
/// after `limit`; returns how long it took.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            // A 408 or the rest of an answer; the close follows.
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection was still open after {limit:?}"),
        }
    }
}

async fn healthz(server: &Server) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    client
        .get(server.url("/healthz"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn metrics(server: &Server) -> String {
    reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_and_silent_connections_end_after_the_header_timeout_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_HEADER_TIMEOUT_SECS", "2".into()));
    let server = Server::start(&env);
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(half_sent(&server).await);
    }
    // Silent ones too: nothing sent at all, or the start of HTTP/2's
    // preface (whose detection had no time limit).
    for opening in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(opening).await.unwrap();
        slow.push(stream);
    }
    // Held connections do not keep anyone else out.
    assert_eq!(healthz(&server).await, 200);
    for stream in &mut slow {
        let took = closed_within(stream, Duration::from_secs(6)).await;
        assert!(took < Duration::from_secs(6), "closed after {took:?}");
    }
    assert_eq!(healthz(&server).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_ends_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_HEADER_TIMEOUT_SECS", "2".into()));
    let server = Server::start(&env);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: dagtrail\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Kept alive for a next request, but not for ever.
    let idle = closed_within(&mut stream, Duration::from_secs(6)).await;
    assert!(idle >= Duration::from_secs(1), "closed after only {idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_MAX_CONNECTIONS", "4".into()));
    let server = Server::start(&env);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(half_sent(&server).await);
    }
    // The fifth waits in the backlog: no answer while every slot is held.
    let waiting = tokio::spawn({
        let url = server.url("/healthz");
        async move {
            let started = Instant::now();
            let status = reqwest::Client::new()
                .get(url)
                .send()
                .await
                .unwrap()
                .status();
            (status, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!waiting.is_finished(), "answered past the cap");
    drop(held.pop());
    let (status, waited) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("still waiting after a slot freed")
        .unwrap();
    assert_eq!(status, 200);
    assert!(waited >= Duration::from_millis(1500), "waited {waited:?}");
    drop(held);
    let text = metrics(&server).await;
    assert_eq!(sample(&text, "dagtrail_http_connections_max "), Some(4.0));
    assert!(
        sample(&text, "dagtrail_http_connections_saturated_total ").is_some_and(|n| n >= 1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_open_file_limit_lowers_the_cap_and_the_server_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_HEADER_TIMEOUT_SECS", "2".into()));
    let server = Server::start_with_file_limit(200, &env);
    // More half-sent requests than the server has descriptors for.
    let mut slow = Vec::new();
    for _ in 0..250 {
        slow.push(half_sent(&server).await);
    }
    for stream in &mut slow {
        closed_within(stream, Duration::from_secs(20)).await;
    }
    drop(slow);
    assert_eq!(healthz(&server).await, 200);
    let text = metrics(&server).await;
    // 200 files less the 128 kept for the stores and logs.
    assert_eq!(sample(&text, "dagtrail_http_connections_max "), Some(72.0));
}
