//! Least privilege: `dagtrail migrate` as the owner, then `ingest` and
//! `serve` under the roles of `deploy/postgres-roles.sql`, which may not
//! run DDL (a reading server with the write API off, a writing one with
//! the writer's roles); and a server whose role may not migrate a database that is
//! behind says so and names `dagtrail migrate`.

use dagtrail::model::Company;
use uuid::Uuid;

use crate::support::{RolesDatabase, Server, dagtrail, get, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_ingest_run_under_least_privilege_roles() {
    let Some(db) = RolesDatabase::create("roles").await else {
        return;
    };
    let (owner, reader_url, writer_url) = (db.owner.clone(), db.reader.clone(), db.writer.clone());
    let mut conn = db.owner_connection().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();

    // The writer records an attempt (it may not run DDL: the schema is
    // current, so none runs).
    let dag = Uuid::new_v4().to_string();
    let ingest = [
        "ingest",
        "--company",
        "acme",
        "--dag-id",
        &dag,
        "--date",
        "2026-11-27",
        "--run-id",
        "r1",
        "--phase",
        "extract",
        "--data",
        "-",
        "--status",
        "success",
    ];
    let env = [
        ("DAGTRAIL_DATABASE_URL", writer_url.as_str()),
        ("DAGTRAIL_STORE_URL", store.as_str()),
    ];
    let out = dagtrail(&ingest, &env, Some("{\"a\": 1}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The reader may not write.
    let env = [
        ("DAGTRAIL_DATABASE_URL", reader_url.as_str()),
        ("DAGTRAIL_STORE_URL", store.as_str()),
    ];
    let out = dagtrail(&ingest, &env, Some("{\"a\": 1}\n"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The reader serves, with the write API off: a writing token is told
    // that this server takes no writes (not a store's "access denied").
    let server = Server::start(&[
        ("DAGTRAIL_DATABASE_URL", reader_url.clone()),
        ("DAGTRAIL_STORE_URL", store.clone()),
        ("DAGTRAIL_WRITE_API", "false".into()),
    ]);
    let client = reqwest::Client::new();
    let acme = token(&Company::new("acme").unwrap());
    let writing = crate::support::token_with_scopes("acme", &[dagtrail::auth::RUNS_WRITE]);
    let run = server.url(&format!("/api/v1/dags/{dag}/runs/2026-11-27/r1"));
    let (status, body) = get(&client, &run, &acme).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&client, &format!("{run}/phases/extract/data"), &acme).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&client, &server.url("/readyz"), "").await.0, 200);
    let refused = client
        .put(format!("{run}/phases/transform/attempts/1"))
        .bearer_auth(&writing)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("Writes turned off"));
    drop(server);

    // A server taking writes runs under the writer's roles: it opens,
    // stages, commits and records an attempt, and reads.
    let server = Server::start(&[
        ("DAGTRAIL_DATABASE_URL", writer_url.clone()),
        ("DAGTRAIL_STORE_URL", store.clone()),
    ]);
    let run = server.url(&format!("/api/v1/dags/{dag}/runs/2026-11-27/r1"));
    let attempt = format!("{run}/phases/transform/attempts/1");
    let opened = client
        .put(&attempt)
        .bearer_auth(&writing)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 201, "{}", opened.text().await.unwrap());
    let staged = crate::support::put_ndjson(
        &client,
        format!("{attempt}/data/1"),
        &writing,
        "{\"b\": 2}\n",
    )
    .await;
    assert_eq!(staged.status(), 200, "{}", staged.text().await.unwrap());
    let committed = client
        .post(format!("{attempt}/commit"))
        .bearer_auth(&writing)
        .header("content-type", "application/json")
        .body("{\"message\": \"written under the writer's roles\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        committed.status(),
        200,
        "{}",
        committed.text().await.unwrap()
    );
    let (status, body) = get(&client, &format!("{run}/phases/transform/data"), &acme).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("\"b\":2"), "{body}");
    drop(server);

    // A database behind this dagtrail: the reader may not migrate it, and
    // says what to do instead of a line of PostgreSQL's source.
    sqlx::raw_sql("DELETE FROM etl.dagtrail_schema")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = dagtrail(
        &["serve", "--listen", "127.0.0.1:0"],
        &[
            ("DAGTRAIL_DATABASE_URL", reader_url.as_str()),
            ("DAGTRAIL_STORE_URL", store.as_str()),
            ("DAGTRAIL_JWT_SECRET", crate::support::SECRET),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("schema is at version 0")
            && stderr.contains(&format!("needs {}", dagtrail::runindex::SCHEMA_VERSION))
            && stderr.contains("run `dagtrail migrate`"),
        "{stderr}"
    );
    // The owner brings it up to date; the reader serves again.
    let out = dagtrail(&["migrate"], &[("DAGTRAIL_DATABASE_URL", &owner)], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&[
        ("DAGTRAIL_DATABASE_URL", reader_url),
        ("DAGTRAIL_STORE_URL", store),
    ]);
    let run = server.url(&format!("/api/v1/dags/{dag}/runs/2026-11-27/r1"));
    assert_eq!(get(&client, &run, &acme).await.0, 200);
}
