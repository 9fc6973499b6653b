//! Stores that go away or slow down under a running `dagtrail serve`:
//! answers come within the configured timeout (502/504, never a hang),
//! `/readyz` says which store fails, and the server recovers by itself.

use std::time::{Duration, Instant};

use crate::support::{
    DelayProxy, FaultPostgres, S3Server, Server, Stores, free_port, get, required, seed, token,
};

const TIMEOUT_SECS: u64 = 2;

/// How long a failing answer may take: the timeout plus scheduling slack.
fn bound() -> Duration {
    Duration::from_secs(TIMEOUT_SECS) + Duration::from_millis(1500)
}

async fn timed(client: &reqwest::Client, url: &str, token: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let (status, body) = get(client, url, token).await;
    (status, body, started.elapsed())
}

/// GETs `url` while a store fails: the answer must come within `bound()`;
/// prints how long it took under `what`.
async fn answered_in_time(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    what: &str,
) -> (u16, String) {
    let (status, body, took) = timed(client, url, token).await;
    assert!(took < bound(), "{what}: {url} answered after {took:?}");
    eprintln!("{what}: {url} answered {status} in {took:?}");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_then_back() {
    let Some(pg) = FaultPostgres::get() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::postgres(&pg.url, dir.path());
    let seeded = seed(&stores, 120, 50).await;
    let mut env = stores.env();
    env.push(("DAGTRAIL_TIMEOUT_SECS", TIMEOUT_SECS.to_string()));
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let token = token(&seeded.company);
    let search = server.url(&seeded.search_path());
    let summary = server.url(&seeded.run_path());
    let phase = server.url(&format!("{}/phases/extract", seeded.run_path()));
    assert_eq!(get(&client, &search, &token).await.0, 200);

    pg.stop();
    let result = std::panic::AssertUnwindSafe(async {
        for url in [&search, &summary] {
            let (status, body) = answered_in_time(&client, url, &token, "postgres down").await;
            assert_eq!(status, 502, "{url}: {body}");
            assert!(body.contains("Run lookup failed"), "{body}");
        }
        let (status, body) = get(&client, &server.url("/readyz"), "").await;
        assert_eq!(status, 503);
        assert!(body.contains("run index"), "{body}");
        // What needs only the artifact store keeps working.
        assert_eq!(get(&client, &phase, &token).await.0, 200);
    });
    let down = futures::FutureExt::catch_unwind(result).await;
    pg.start();
    if let Err(panic) = down {
        std::panic::resume_unwind(panic);
    }

    // No restart of the server: the very next requests succeed.
    for url in [&search, &summary] {
        let (status, body, took) = timed(&client, url, &token).await;
        assert_eq!(status, 200, "{url} after PostgreSQL came back: {body}");
        eprintln!("postgres back: {url} answered 200 in {took:?}");
    }
    assert_eq!(get(&client, &server.url("/readyz"), "").await.0, 200);
}

/// A partition, not a shutdown: PostgreSQL's connections stay open but
/// nothing comes back (no FIN, no RST; sqlx sets no TCP keepalive). The
/// request timeout still bounds every answer, and when the partition heals
/// the server answers again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_partitioned_then_healed() {
    let Some(database_url) = required("DAGTRAIL_TEST_DATABASE_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let direct = Stores::postgres(&database_url, dir.path());
    let seeded = seed(&direct, 120, 50).await;
    let mut proxied = url::Url::parse(&direct.database_url).unwrap();
    let upstream = (
        proxied.host_str().unwrap().to_owned(),
        proxied.port().unwrap_or(5432),
    );
    let upstream = tokio::net::lookup_host(upstream)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = DelayProxy::start(upstream).await;
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.addr.port())).unwrap();
    let mut env = Stores {
        database_url: proxied.to_string(),
        ..direct
    }
    .env();
    env.push(("DAGTRAIL_TIMEOUT_SECS", TIMEOUT_SECS.to_string()));
    env.push(("DAGTRAIL_MIGRATE", "false".into()));
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let token = token(&seeded.company);
    let search = server.url(&seeded.search_path());
    let summary = server.url(&seeded.run_path());
    let phase = server.url(&format!("{}/phases/extract", seeded.run_path()));
    let ready = server.url("/readyz");
    assert_eq!(get(&client, &search, &token).await.0, 200);

    // Nothing comes back for far longer than a request may take.
    proxy.set_delay(Duration::from_secs(600));
    // No connection comes back from the pool within its wait, which
    // `serve` keeps under the request's time limit: the database cannot be
    // reached (502), not a slow answer (504).
    for url in [&search, &summary, &search] {
        let (status, body) = answered_in_time(&client, url, &token, "postgres partitioned").await;
        assert_eq!(status, 502, "{url}: {body}");
        assert!(body.contains("Run lookup failed"), "{url}: {body}");
    }
    let (status, body) = get(&client, &ready, "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(&client, &phase, &token).await.0, 200);

    // Healed: what was held arrives, and the next requests are answered.
    proxy.set_delay(Duration::ZERO);
    for url in [&search, &summary, &search, &ready] {
        let (status, body, took) = timed(&client, url, &token).await;
        assert_eq!(status, 200, "{url} after the partition healed: {body}");
        eprintln!("postgres healed: {url} answered 200 in {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_slow_then_stopped_then_back() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut s3) = S3Server::start(&dir.path().join("s3")) else {
        return;
    };
    // s3s-fs keeps objects as plain files: seeding through a folder store
    // on its bucket directory is writing to the bucket.
    let seeding = Stores {
        database_url: format!("sqlite://{}", dir.path().join("runs.db").display()),
        store_url: dir.path().join("s3").join("faults").display().to_string(),
    };
    let seeded = seed(&seeding, 6_000, 50).await;
    let proxy = DelayProxy::start(([127, 0, 0, 1], s3.port).into()).await;
    let mut env = Stores {
        database_url: seeding.database_url.clone(),
        store_url: "s3://faults".into(),
    }
    .env();
    env.extend(S3Server::env(&format!("http://{}", proxy.addr)));
    env.push(("DAGTRAIL_TIMEOUT_SECS", TIMEOUT_SECS.to_string()));
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let token = token(&seeded.company);
    // Every page is a new range of the data file, past the block of rows
    // the page before it cached (at most 1,024 rows), so each one goes to
    // S3.
    let mut page = 0;
    let mut data_page = || {
        page += 110;
        server.url(&format!(
            "{}/phases/extract/data?page={page}&limit=10",
            seeded.run_path()
        ))
    };
    let summary = server.url(&seeded.run_path());
    let ready = server.url("/readyz");
    let (status, body) = get(&client, &data_page(), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&client, &ready, "").await.0, 200);

    // Slow: every chunk back from S3 waits longer than the request may.
    proxy.set_delay(Duration::from_secs(TIMEOUT_SECS + 2));
    let (status, body) = answered_in_time(&client, &data_page(), &token, "s3 slow").await;
    assert_eq!(status, 504, "{body}");
    let (status, body) = get(&client, &ready, "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(get(&client, &summary, &token).await.0, 200);
    proxy.set_delay(Duration::ZERO);
    let (status, body) = get(&client, &data_page(), &token).await;
    assert_eq!(status, 200, "after the store sped up again: {body}");

    // Stopped.
    s3.stop();
    // Refused connections: the store's client gives up after its bounded
    // retries, well within the request's time limit: a failed store
    // (502), not a slow one (504).
    let (status, body) = answered_in_time(&client, &data_page(), &token, "s3 stopped").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("Artifact store failed"), "{body}");
    let (status, body) = get(&client, &ready, "").await;
    assert_eq!(status, 503, "{body}");
    let ready_body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready_body["failing"], "artifact store", "{body}");
    assert_eq!(
        get(&client, &summary, &token).await.0,
        200,
        "the run index does not need S3"
    );

    // Back: recovery without restarting the server.
    s3.resume();
    let started = Instant::now();
    let (status, body) = get(&client, &data_page(), &token).await;
    assert_eq!(status, 200, "after S3 came back: {body}");
    eprintln!("s3 back: data page answered 200 in {:?}", started.elapsed());
    assert_eq!(get(&client, &ready, "").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_for_s3_is_answered_in_time() {
    // A store address that refuses connections from the start.
    let dir = tempfile::tempdir().unwrap();
    let seeding = Stores::embedded(dir.path());
    let seeded = seed(&seeding, 10, 10).await;
    let mut env = Stores {
        database_url: seeding.database_url.clone(),
        store_url: "s3://nowhere".into(),
    }
    .env();
    env.extend(S3Server::env(&format!("http://127.0.0.1:{}", free_port())));
    env.push(("DAGTRAIL_TIMEOUT_SECS", TIMEOUT_SECS.to_string()));
    let server = Server::start(&env);
    let client = reqwest::Client::new();
    let (status, body) = answered_in_time(
        &client,
        &server.url(&format!("{}/phases/extract", seeded.run_path())),
        &token(&seeded.company),
        "nothing listening for s3",
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("dagtrail-secret"), "{body}");
}
