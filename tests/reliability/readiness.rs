//! `/readyz` tells the truth within a second (docs/DEPLOYMENT.md, "Health
//! checks"): a store URL naming a wrong bucket or prefix, a JWKS that
//! cannot be fetched, and a run index that refuses connections are each
//! "not ready", and say which.

use std::time::{Duration, Instant};

use crate::support::{S3Server, Server, dagtrail, free_port, get, required};

/// `/readyz`'s status, the store it names, and how long it took.
async fn readyz(server: &Server) -> (u16, String, Duration) {
    let started = Instant::now();
    let (status, body) = get(&reqwest::Client::new(), &server.url("/readyz"), "").await;
    let failing = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|b| b["failing"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, failing, started.elapsed())
}

/// Each probe has a second; the answer comes within it and a little.
const WITHIN: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unready_store_is_named_within_a_second() {
    let Some(_) = required("DAGTRAIL_TEST_S3_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("runs.db").display());
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let s3 = S3Server::env(&endpoint);
    let with = |extra: Vec<(&'static str, String)>| {
        let mut env = s3.clone();
        env.push(("DAGTRAIL_DATABASE_URL", sqlite.clone()));
        env.extend(extra);
        env
    };

    // A healthy server over a prefix of the shared bucket that `dagtrail
    // migrate` has marked.
    let prefix = format!("s3://dagtrail-test/ready-{}", uuid::Uuid::new_v4().simple());
    let mut migrate = with(vec![("DAGTRAIL_STORE_URL", prefix.clone())]);
    migrate.push(("DAGTRAIL_LOG", "warn".to_owned()));
    let env: Vec<(&str, &str)> = migrate.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = dagtrail(&["migrate"], &env, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let good = Server::start(&with(vec![("DAGTRAIL_STORE_URL", prefix.clone())]));
    let (status, failing, took) = readyz(&good).await;
    assert_eq!((status, failing.as_str()), (200, ""), "control");
    assert!(took < WITHIN, "{took:?}");
    drop(good);

    // A bucket that does not exist: every artifact would be a 404.
    let server = Server::start(&with(vec![(
        "DAGTRAIL_STORE_URL",
        format!("s3://no-such-bucket-{}/runs", uuid::Uuid::new_v4().simple()),
    )]));
    let (status, failing, took) = readyz(&server).await;
    assert_eq!((status, failing.as_str()), (503, "artifact store"));
    assert!(took < WITHIN, "{took:?}");
    drop(server);

    // A prefix nothing was written to (a typo).
    let server = Server::start(&with(vec![(
        "DAGTRAIL_STORE_URL",
        format!("{prefix}-typo"),
    )]));
    let (status, failing, took) = readyz(&server).await;
    assert_eq!((status, failing.as_str()), (503, "artifact store"));
    assert!(took < WITHIN, "{took:?}");
    drop(server);

    // A JWKS nobody answers for: every token would be a 401.
    let server = Server::start(&with(vec![
        ("DAGTRAIL_STORE_URL", prefix.clone()),
        (
            "DAGTRAIL_JWKS_URL",
            format!("http://127.0.0.1:{}/jwks", free_port()),
        ),
    ]));
    let (status, failing, took) = readyz(&server).await;
    assert_eq!((status, failing.as_str()), (503, "token keys"));
    assert!(took < WITHIN, "{took:?}");
    drop(server);

    // A run index that refuses connections (was 5.0 s: the pool retries
    // until its wait ends).
    let refused = format!("postgres://postgres@127.0.0.1:{}/runs", free_port());
    let mut env = s3.clone();
    env.extend([
        ("DAGTRAIL_DATABASE_URL", refused),
        ("DAGTRAIL_STORE_URL", prefix),
        ("DAGTRAIL_MIGRATE", "false".to_owned()),
    ]);
    let server = Server::start(&env);
    let (status, failing, took) = readyz(&server).await;
    assert_eq!((status, failing.as_str()), (503, "run index"));
    assert!(took < WITHIN, "{took:?}");
}
