//! Two `dagtrail serve` processes over one PostgreSQL and one S3 bucket, as
//! behind a load balancer: the same answers from both, while a phase is
//! being recorded, and from the survivor when one is stopped.

use std::process::{Command, Stdio};
use std::time::Duration;

use uuid::Uuid;

use crate::support::{Server, Stores, get, required, seed, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_answer_alike_during_ingest_and_after_one_stops() {
    let Some(database_url) = required("DAGTRAIL_TEST_DATABASE_URL") else {
        return;
    };
    let Some(s3) = required("DAGTRAIL_TEST_S3_URL") else {
        return;
    };
    let prefix = &Uuid::new_v4().simple().to_string()[..8];
    let stores = Stores {
        database_url,
        store_url: format!("{}/scale{prefix}", s3.trim_end_matches('/')),
    };
    let seeded = seed(&stores, 3_000, 3_000).await;
    // Both start at once: their migrations meet on the advisory lock.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start(&stores.env()));
        let b = s.spawn(|| Server::start(&stores.env()));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut a = a;
    let token = token(&seeded.company);
    let run = seeded.run_path();
    let paths = [
        seeded.search_path(),
        format!("{}&extract_keyword=extracted", seeded.search_path()),
        run.clone(),
        format!("{run}/event"),
        format!("{run}/phases/extract"),
        format!("{run}/phases/extract/data"),
        format!("{run}/phases/extract/data?page=7&limit=100"),
        format!("{run}/phases/extract/errors"),
        format!("{run}/phases/extract/logs?level=ERROR&keyword=page%2017"),
    ];
    let client = reqwest::Client::new();
    let mut baseline = Vec::new();
    for path in &paths {
        let from_a = get(&client, &a.url(path), &token).await;
        let from_b = get(&client, &b.url(path), &token).await;
        assert_eq!(from_a, from_b, "{path}");
        assert!(
            from_a.0 == 200 || path.ends_with("/event"),
            "{path}: {from_a:?}"
        );
        baseline.push(from_a);
    }

    // Record a transform phase with the CLI while both keep answering.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("transform.ndjson");
    let rows: String = (0..20_000)
        .map(|i| format!("{{\"id\": {i}, \"total\": {}.25}}\n", i * 7))
        .collect();
    std::fs::write(&input, rows).unwrap();
    let mut ingest = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["ingest", "--company", seeded.company.as_str()])
        .args(["--dag-id", &seeded.run.dag_id.to_string()])
        .args([
            "--date",
            "2026-11-27",
            "--run-id",
            seeded.run.run_id.as_str(),
        ])
        .args(["--phase", "transform", "--rows-per-file", "5000", "--data"])
        .arg(&input)
        .envs(stores.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut rounds = 0;
    loop {
        let done = ingest.try_wait().unwrap();
        for (i, path) in paths.iter().enumerate() {
            let server = if (rounds + i) % 2 == 0 { &a } else { &b };
            let reply = get(&client, &server.url(path), &token).await;
            if i < 2 || path == &run {
                // The run index gains the transform phase when it commits.
                assert_eq!(reply.0, 200, "{path}");
            } else {
                assert_eq!(reply, baseline[i], "{path} during the ingest");
            }
        }
        rounds += 1;
        if done.is_some() {
            break;
        }
    }
    let out = ingest.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("scale-out: {rounds} rounds of requests while the ingest ran");
    let transform = format!("{run}/phases/transform/data?page=3&limit=1000");
    let from_a = get(&client, &a.url(&transform), &token).await;
    let from_b = get(&client, &b.url(&transform), &token).await;
    assert_eq!(from_a.0, 200, "{from_a:?}");
    assert_eq!(from_a, from_b);
    let page: serde_json::Value = serde_json::from_str(&from_a.1).unwrap();
    assert_eq!(page["total"], 20_000);
    assert_eq!(page["rows"][0]["id"], 3_000);

    // One stops (as in a rolling deploy); the other answers everything.
    a.sigterm();
    assert!(a.wait_exit(Duration::from_secs(20)).await.success());
    for (i, path) in paths.iter().enumerate().skip(2) {
        let reply = get(&client, &b.url(path), &token).await;
        if path == &run {
            assert_eq!(reply.0, 200);
        } else {
            assert_eq!(reply, baseline[i], "{path} from the survivor");
        }
    }
    assert_eq!(get(&client, &b.url(&transform), &token).await, from_a);
}

/// A process holds at most `DAGTRAIL_DB_MAX_CONNECTIONS` run-index
/// connections however many requests wait: what lets DEPLOYMENT.md size
/// processes × pool against the database's connection limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_holds_at_most_its_configured_connections() {
    let Some(database_url) = required("DAGTRAIL_TEST_DATABASE_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::postgres(&database_url, dir.path());
    let seeded = seed(&stores, 100, 10).await;
    // The server's own connections, told apart from every other test's.
    let name = format!(
        "dagtrail-pool-{}",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let mut named_url = url::Url::parse(&database_url).unwrap();
    named_url
        .query_pairs_mut()
        .append_pair("application_name", &name);
    let named = Stores {
        database_url: named_url.to_string(),
        ..stores
    };
    let mut env = named.env();
    env.push(("DAGTRAIL_DB_MAX_CONNECTIONS", "2".into()));
    let server = Server::start(&env);
    let watcher = sqlx::PgPool::connect(&database_url).await.unwrap();
    let held = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&name)
        .fetch_one(&watcher)
        .await
        .unwrap()
    };
    let client = reqwest::Client::new();
    let token = token(&seeded.company);
    let url = server.url(&format!(
        "{}&extract_keyword=extracted",
        seeded.search_path()
    ));
    let requests = futures::future::join_all((0..48).map(|_| get(&client, &url, &token)));
    tokio::pin!(requests);
    let mut most = 0;
    let answers = loop {
        tokio::select! {
            answers = &mut requests => break answers,
            () = tokio::time::sleep(Duration::from_millis(10)) => most = most.max(held().await),
        }
    };
    most = most.max(held().await);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
    }
    // 48 requests at once grow the pool to its limit, and no further.
    assert_eq!(most, 2, "connections held by the server");
}
