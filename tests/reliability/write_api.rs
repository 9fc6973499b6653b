//! The write API against a real `dagtrail serve` killed (SIGKILL) in the
//! middle of an upload: nothing of the attempt is readable, the parts
//! finished before the kill are kept, and after a restart the attempt is
//! resumed from the part that was cut and committed whole.

use std::time::Duration;

use dagtrail::model::Company;

use crate::support::{Server, Stores};

fn write_token(company: &Company) -> String {
    crate::support::token_with_scopes(company.as_str(), &[dagtrail::auth::RUNS_WRITE])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_upload_leaves_nothing_readable_and_the_attempt_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let company = Company::new("acme").unwrap();
    let token = write_token(&company);
    let client = reqwest::Client::new();
    let run = "/api/v1/dags/0b7e6a55-2f7c-4a86-9d1f-3c2b8c9e0a11/runs/2026-11-29/killed";
    let attempt = format!("{run}/phases/extract/attempts/1");
    let line = |n: usize| format!("{{\"n\": {n}, \"text\": \"row {n} of the part\"}}\n");

    let mut server = Server::start(&stores.env());
    let opened = client
        .put(server.url(&attempt))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let part1: String = (0..1_000).map(line).collect();
    let staged = crate::support::put_ndjson(
        &client,
        server.url(&format!("{attempt}/data/1")),
        &token,
        part1,
    )
    .await;
    assert_eq!(staged.status(), 200);

    // Part 2 streams slowly; the server is killed while it arrives.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    let upload = tokio::spawn({
        let client = client.clone();
        let url = server.url(&format!("{attempt}/data/2"));
        let token = token.clone();
        async move {
            client
                .put(url)
                .bearer_auth(token)
                .header("content-type", "application/x-ndjson")
                .body(reqwest::Body::wrap_stream(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                ))
                .send()
                .await
        }
    });
    for n in 1_000..3_000 {
        tx.send(Ok(line(n))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).await;
    drop(tx);
    let cut = upload.await.unwrap();
    assert!(
        !matches!(&cut, Ok(r) if r.status().is_success()),
        "the cut upload did not succeed: {cut:?}"
    );

    // Restarted on the same stores: nothing readable, part 1 kept.
    let server = Server::start(&stores.env());
    let read = client
        .get(server.url(&format!("{run}/phases/extract")))
        .bearer_auth(crate::support::token(&company))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 404);
    let resumed = client
        .post(server.url(&format!("{run}/phases/extract/attempts")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let resumed: serde_json::Value =
        serde_json::from_slice(&resumed.bytes().await.unwrap()).unwrap();
    assert_eq!(resumed["attempt"], 1);
    assert_eq!(resumed["data"], serde_json::json!([1]));

    // The cut part again, then the commit: every row once.
    let part2: String = (1_000..3_000).map(line).collect();
    let staged = crate::support::put_ndjson(
        &client,
        server.url(&format!("{attempt}/data/2")),
        &token,
        part2,
    )
    .await;
    assert_eq!(staged.status(), 200);
    let committed = client
        .post(server.url(&format!("{attempt}/commit")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"message\": \"after a restart\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(committed.status(), 200);
    let data = client
        .get(server.url(&format!("{run}/phases/extract/data?page=59&limit=50")))
        .bearer_auth(crate::support::token(&company))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let data: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(data["total"], 3_000);
    assert_eq!(data["rows"][49]["n"], 2_999);
}

/// A part far larger than what the server may hold is streamed through:
/// 64 MiB of NDJSON sent in chunks as they are made, the server's resident
/// memory sampled throughout, its growth well under the part's size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_part_streams_through_in_bounded_memory() {
    const PART_BYTES: usize = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let company = Company::new("acme").unwrap();
    let token = write_token(&company);
    let client = reqwest::Client::new();
    let server = Server::start(&stores.env());
    let attempt = "/api/v1/dags/0b7e6a55-2f7c-4a86-9d1f-3c2b8c9e0a11/runs/2026-11-29/large/phases/extract/attempts/1";
    let opened = client
        .put(server.url(attempt))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let base = server.rss_kib();
    let row = |n: usize| {
        format!(
            "{{\"n\": {n}, \"city\": \"München\", \"note\": \"row {n} of a part larger than memory should hold\"}}\n"
        )
    };
    let rows = PART_BYTES / row(1_000_000).len();
    let chunks = futures::stream::iter((0..rows).step_by(1_000).map(move |from| {
        Ok::<_, std::io::Error>(
            (from..(from + 1_000).min(rows))
                .map(row)
                .collect::<String>(),
        )
    }));
    let upload = tokio::spawn({
        let url = server.url(&format!("{attempt}/data/1"));
        let token = token.clone();
        let client = client.clone();
        async move {
            crate::support::put_ndjson(&client, url, &token, reqwest::Body::wrap_stream(chunks))
                .await
        }
    });
    let mut peak = base;
    while !upload.is_finished() {
        peak = peak.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let staged = upload.await.unwrap();
    assert_eq!(staged.status(), 200);
    let staged: serde_json::Value = serde_json::from_slice(&staged.bytes().await.unwrap()).unwrap();
    assert_eq!(staged["rows"], rows);
    let growth_mib = (peak.saturating_sub(base)) as f64 / 1024.0;
    eprintln!(
        "a {} MiB part: server resident memory {:.1} MiB before, peak {:.1} MiB (+{growth_mib:.1})",
        PART_BYTES >> 20,
        base as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(
        growth_mib < 40.0,
        "the server grew {growth_mib:.1} MiB for a 64 MiB part"
    );
}

/// `DAGTRAIL_STAGED_ATTEMPT_TTL` wired through `dagtrail serve`: an
/// attempt opened, given a part and forgotten is deleted by the server's
/// own sweep once it has been untouched that long, and can be opened anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_attempt_is_deleted_after_the_staged_attempt_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let company = Company::new("acme").unwrap();
    let token = write_token(&company);
    let client = reqwest::Client::new();
    let attempt = "/api/v1/dags/0b7e6a55-2f7c-4a86-9d1f-3c2b8c9e0a11/runs/2026-11-29/forgotten/phases/extract/attempts/1";
    let mut env = stores.env();
    env.push(("DAGTRAIL_STAGED_ATTEMPT_TTL", "2s".into()));
    let server = Server::start(&env);
    let opened = client
        .put(server.url(attempt))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201);
    let staged = crate::support::put_ndjson(
        &client,
        server.url(&format!("{attempt}/data/1")),
        &token,
        "{\"n\": 1}\n",
    )
    .await;
    assert_eq!(staged.status(), 200);

    // Untouched for 2 s, then swept (every second at this TTL).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state = client
            .get(server.url(attempt))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if state.status() == 404 {
            break;
        }
        assert_eq!(state.status(), 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the forgotten attempt is still open after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        files_under(&dir.path().join("artifacts/dagtrail=staging")),
        Vec::<std::path::PathBuf>::new(),
        "nothing of the attempt is left staged"
    );
    let reopened = client
        .put(server.url(attempt))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(reopened.status(), 201, "opened anew, not resumed");
    let reopened: serde_json::Value =
        serde_json::from_slice(&reopened.bytes().await.unwrap()).unwrap();
    assert_eq!(reopened["data"], serde_json::json!([]));
}

/// Every file under `folder` (none when it does not exist).
fn files_under(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}
