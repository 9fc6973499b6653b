//! Slow and odd clients against a real `dagtrail serve` (issue 23): a body
//! trickled a byte at a time is refused (408) and its
//! connection closed once its grace time is over, and so lets go of its
//! connection slot and its upload slot; a client that pipelines requests and never reads the
//! answers loses its connection after the write timeout; unknown methods
//! are 501 and counted under one label. Before, trickled bodies held
//! their connections for 90 s and more (and an upload its slot, so that
//! other companies got 503 for as long as the trickle lasted), and every
//! random method added lines to `/metrics`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::metrics::sample;
use crate::support::{Server, Stores};

const DAG: &str = "0b7e6a55-2f7c-4a86-9d1f-3c2b8c9e0a11";

/// A client that opens a connection for every request, so that
/// `dagtrail_http_connections` counts only the connections a test holds
/// (and the one asking).
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `/healthz`'s status and how long it took (status 0: no answer within
/// `limit`).
async fn healthz(server: &Server, limit: Duration) -> (u16, Duration) {
    let started = Instant::now();
    let status = tokio::time::timeout(limit, fresh_client().get(server.url("/healthz")).send())
        .await
        .ok()
        .and_then(Result::ok)
        .map_or(0, |r| r.status().as_u16());
    (status, started.elapsed())
}

async fn metrics_text(server: &Server) -> String {
    fresh_client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// What a trickling connection saw.
#[derive(Debug)]
struct Trickled {
    /// What the server sent (an answer's first bytes).
    answer: Vec<u8>,
    /// When the server closed the connection (end of file or reset),
    /// counted from the request's head; `None`: still open at the limit.
    closed_after: Option<Duration>,
}

impl Trickled {
    fn status_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.answer);
        text.lines().next().unwrap_or_default().to_owned()
    }
}

/// Opens a connection, sends `head`, then `piece` every `every` until the
/// server closes it or `limit` has passed since the head.
async fn trickle(
    server: &Server,
    head: Vec<u8>,
    piece: &'static [u8],
    every: Duration,
    limit: Duration,
) -> tokio::task::JoinHandle<Trickled> {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(&head).await.unwrap();
    let started = Instant::now();
    tokio::spawn(async move {
        let writer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if write.write_all(piece).await.is_err() {
                    break;
                }
            }
        });
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let closed_after = loop {
            let left = limit.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, read.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break Some(started.elapsed()),
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => break None,
            }
        };
        writer.abort();
        Trickled {
            answer,
            closed_after,
        }
    })
}

/// Checks that every connection was closed within `limit`, after an
/// answer of one of the `statuses` when it was answered at all.
fn assert_let_go(trickled: &[Trickled], limit: Duration, statuses: &[u16]) {
    for (i, t) in trickled.iter().enumerate() {
        let closed = t
            .closed_after
            .unwrap_or_else(|| panic!("connection {i} is still open after {limit:?}: {t:?}"));
        assert!(closed <= limit, "connection {i} closed after {closed:?}");
        let status_line = t.status_line();
        assert!(
            t.answer.is_empty()
                || statuses
                    .iter()
                    .any(|s| status_line.starts_with(&format!("HTTP/1.1 {s} "))),
            "connection {i} was answered {}",
            String::from_utf8_lossy(&t.answer)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_bodies_let_go() {
    const LIMIT: Duration = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_BODY_TIMEOUT_SECS", "2".into()));
    env.push(("DAGTRAIL_MAX_CONNECTIONS", "16".into()));
    let server = Server::start(&env);
    let head = b"POST /signin HTTP/1.1\r\nHost: dagtrail\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: 1000\r\n\r\n";
    let mut tasks = Vec::new();
    for _ in 0..12 {
        tasks.push(trickle(&server, head.to_vec(), b"a", Duration::from_secs(1), LIMIT).await);
    }
    // Twelve of the sixteen slots held: the server answers others at once.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (status, took) = healthz(&server, Duration::from_secs(5)).await;
        assert_eq!(status, 200, "/healthz while bodies trickle");
        assert!(took < Duration::from_secs(3), "/healthz took {took:?}");
    }
    let mut trickled = Vec::new();
    for task in tasks {
        trickled.push(task.await.unwrap());
    }
    let closed: Vec<String> = trickled
        .iter()
        .map(|t| format!("{:?} {:?}", t.closed_after, t.status_line()))
        .collect();
    eprintln!("trickled bodies: {closed:#?}");
    if let Some(answered) = trickled.iter().find(|t| !t.answer.is_empty()) {
        eprintln!("{}", String::from_utf8_lossy(&answered.answer));
    }
    assert_let_go(&trickled, LIMIT, &[408]);
    assert_eq!(healthz(&server, Duration::from_secs(3)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_uploads_release_their_slots() {
    const LIMIT: Duration = Duration::from_secs(15);
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_BODY_TIMEOUT_SECS", "2".into()));
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let attempt =
        |run: &str| format!("/api/v1/dags/{DAG}/runs/2026-11-29/{run}/phases/extract/attempts/1");
    let token =
        |company: &str| crate::support::token_with_scopes(company, &[dagtrail::auth::RUNS_WRITE]);
    let open = |company: &str, run: &str| {
        let request = client
            .put(server.url(&attempt(run)))
            .bearer_auth(token(company))
            .send();
        async move { assert_eq!(request.await.unwrap().status(), 201) }
    };

    // Two companies, two uploads each: every upload slot of the server.
    let mut tasks = Vec::new();
    for company in ["trickler-a", "trickler-b"] {
        for run in ["slow-1", "slow-2"] {
            open(company, run).await;
            let head = format!(
                "PUT {}/data/1 HTTP/1.1\r\nHost: dagtrail\r\n\
                 Authorization: Bearer {}\r\n\
                 Content-Type: application/x-ndjson\r\n\
                 Content-Length: 1000000\r\n\r\n{{\"n\":1}}\n",
                attempt(run),
                token(company)
            );
            tasks.push(
                trickle(
                    &server,
                    head.into_bytes(),
                    b"{\"n\":2}\n",
                    Duration::from_secs(3),
                    LIMIT,
                )
                .await,
            );
        }
    }
    let started = Instant::now();
    open("patient", "quick").await;
    let put = || {
        client
            .put(server.url(&format!("{}/data/1", attempt("quick"))))
            .bearer_auth(token("patient"))
            .header("content-type", "application/x-ndjson")
            .body("{\"n\":1}\n{\"n\":2}\n")
            .send()
    };
    // Held at first (the uploads hold every slot), then taken.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let first = put().await.unwrap().status();
    let mut refused = 0;
    let took = loop {
        let status = put().await.unwrap().status();
        if status == 200 {
            break started.elapsed();
        }
        assert_eq!(status, 503, "while the slots are held");
        refused += 1;
        assert!(
            started.elapsed() < LIMIT,
            "still 503 after {LIMIT:?} ({refused} tries)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut trickled = Vec::new();
    for task in tasks {
        trickled.push(task.await.unwrap());
    }
    let closed: Vec<String> = trickled
        .iter()
        .map(|t| format!("{:?} {:?}", t.closed_after, t.status_line()))
        .collect();
    eprintln!(
        "first try {first}, then 503 {refused} times; 200 after {took:?}; trickled uploads: {closed:#?}"
    );
    assert_eq!(first, 503, "the trickled uploads held every slot");
    assert_let_go(&trickled, LIMIT, &[408]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_answers_close_the_connection() {
    const PIPELINED: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let mut env = Stores::embedded(dir.path()).env();
    env.push(("DAGTRAIL_WRITE_TIMEOUT_SECS", "2".into()));
    let server = Server::start(&env);
    let answer_bytes = fresh_client()
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    let open_before = sample(&metrics_text(&server).await, "dagtrail_http_connections ")
        .expect("the connections gauge");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let request = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: dagtrail\r\n\r\n";
    stream.write_all(&request.repeat(PIPELINED)).await.unwrap();
    let started = Instant::now();

    let (status, took) = healthz(&server, Duration::from_secs(5)).await;
    assert_eq!(status, 200, "/healthz while a client does not read");
    assert!(took < Duration::from_secs(3), "/healthz took {took:?}");
    // The server lets go of the connection: its gauge comes back.
    let closed_after = loop {
        let open = sample(&metrics_text(&server).await, "dagtrail_http_connections ").unwrap();
        if open <= open_before {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the connection is still open after 10 s ({open} open, {open_before} before)"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // And the client sees it: what was sent before the close, then the
    // end (or a reset), far short of every answer.
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) => break "end of file".to_owned(),
            Ok(Err(e)) => break format!("{:?}", e.kind()),
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("no end after {received} bytes: the connection is still open"),
        }
    };
    eprintln!(
        "closed after {closed_after:?}; the client read {received} bytes then {ended} \
         ({PIPELINED} answers are {} bytes)",
        PIPELINED * answer_bytes
    );
    assert!(
        received < PIPELINED * answer_bytes / 2,
        "{received} bytes came: the server went on writing"
    );
    assert_eq!(healthz(&server, Duration::from_secs(3)).await.0, 200);
}

/// A method of `len` random capital letters.
fn random_method(rng: &mut fastrand::Rng, len: usize) -> String {
    (0..len).map(|_| rng.uppercase()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_do_not_grow_metrics() {
    const METHODS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&Stores::embedded(dir.path()).env());
    let lines_before = metrics_text(&server).await.lines().count();
    let mut rng = fastrand::Rng::new();
    let methods: Vec<String> = (0..METHODS).map(|_| random_method(&mut rng, 20)).collect();
    let client = reqwest::Client::new();
    let statuses: Vec<u16> = futures::stream::iter(methods.iter())
        .map(|method| {
            let request = client.request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                server.url("/api/v1/dags"),
            );
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let not_501: Vec<&u16> = statuses.iter().filter(|s| **s != 501).collect();
    assert!(not_501.is_empty(), "answers other than 501: {not_501:?}");

    let text = metrics_text(&server).await;
    let lines = text.lines().count();
    eprintln!("/metrics: {lines_before} lines before, {lines} after {METHODS} random methods");
    assert!(lines < 600, "/metrics has {lines} lines");
    for method in &methods {
        assert!(
            !text.contains(method.as_str()),
            "/metrics names the method {method}"
        );
    }
    let other: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("dagtrail_http_requests_total{") && l.contains("method=\"OTHER\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        other >= METHODS as f64,
        "{other} requests counted under OTHER: {text}"
    );

    // A method of 60 KB: an answer, and /metrics stays small and quick.
    let huge = random_method(&mut rng, 60_000);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            format!("{huge} /api/v1/dags HTTP/1.1\r\nHost: dagtrail\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("an answer to a 60 KB method within 5 s")
        .unwrap();
    let status_line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        status_line.starts_with("HTTP/1.1 501") || status_line.starts_with("HTTP/1.1 400"),
        "a 60 KB method was answered {status_line:?}"
    );
    let started = Instant::now();
    let text = metrics_text(&server).await;
    let took = started.elapsed();
    let lines = text.lines().count();
    eprintln!(
        "a 60 KB method: {status_line:?}; then /metrics: {lines} lines, {} bytes in {took:?}",
        text.len()
    );
    assert!(took < Duration::from_secs(3), "/metrics took {took:?}");
    assert!(lines < 600, "/metrics has {lines} lines");
    assert!(
        !text.contains(&huge[..32]),
        "/metrics names the 60 KB method"
    );
}
