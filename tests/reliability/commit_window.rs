//! The commit window (docs/RELIABILITY.md): an attempt whose
//! `metadata.parquet` is written but whose run-index record fails. Here
//! the record fails because the writer's role may not write the run index
//! (a real refusal by PostgreSQL, at exactly that step); a retry of the
//! same `ingest` records the committed attempt, and `dagtrail reconcile`
//! finds and records such attempts, and reports records whose files are
//! gone.

use sqlx::Connection as _;
use uuid::Uuid;

use crate::support::{RolesDatabase, dagtrail};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_after_the_commit_is_recovered_by_a_retry_or_by_reconcile() {
    let Some(db) = RolesDatabase::create("window").await else {
        return;
    };
    let owner = db.owner.clone();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store").display().to_string();
    let dag = Uuid::new_v4().to_string();
    let ingest = |run_id: &str, url: &str| {
        dagtrail(
            &[
                "ingest",
                "--company",
                "acme",
                "--dag-id",
                &dag,
                "--date",
                "2026-11-27",
                "--run-id",
                run_id,
                "--phase",
                "extract",
                "--data",
                "-",
                "--status",
                "success",
                "--message",
                "extracted 2 rows",
            ],
            &[
                ("DAGTRAIL_DATABASE_URL", url),
                ("DAGTRAIL_STORE_URL", &store),
            ],
            Some("{\"id\": 1}\n{\"id\": 2}\n"),
        )
    };
    let recorded = |run_id: String| {
        let owner = owner.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&owner).await.unwrap();
            sqlx::query_scalar::<_, Option<serde_json::Value>>(
                "SELECT log->'extract' FROM etl.logs WHERE run_id = $1",
            )
            .bind(run_id)
            .fetch_optional(&mut conn)
            .await
            .unwrap()
            .flatten()
        }
    };

    // The failure after the commit: the files are there, the run index
    // knows nothing.
    let out = ingest("r1", &db.reader);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("permission denied"),
        "{}",
        text(&out.stderr)
    );
    let metadata = format!("{store}/acme/{dag}/2026-11-27/r1/extract/attempt=1/metadata.parquet");
    assert!(std::path::Path::new(&metadata).exists());
    assert_eq!(recorded("r1".into()).await, None);

    // The same command again, by a role that may write: the committed
    // attempt is recorded (before: "attempt 1 is committed and immutable").
    let out = ingest("r1", &db.writer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("recorded it now"),
        "{}",
        text(&out.stdout)
    );
    let object = recorded("r1".into()).await.unwrap();
    assert_eq!(object["attempt"], 1);
    assert_eq!(object["status"]["message"], "extracted 2 rows");
    assert_eq!(object["status"]["success"], true);
    assert_eq!(object["data"], serde_json::json!([{"id": 1}, {"id": 2}]));
    assert!(
        object["s3_data_path"]
            .as_str()
            .unwrap()
            .ends_with("/r1/extract/attempt=1/")
    );
    // And once more: now it is an ordinary re-run, the next attempt.
    let out = ingest("r1", &db.writer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(recorded("r1".into()).await.unwrap()["attempt"], 2);

    // reconcile: a dry run reports and changes nothing; a run records.
    let out = ingest("r2", &db.reader);
    assert!(!out.status.success());
    let env = [
        ("DAGTRAIL_DATABASE_URL", owner.as_str()),
        ("DAGTRAIL_STORE_URL", store.as_str()),
    ];
    let out = dagtrail(&["reconcile", "--dry-run"], &env, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains(&format!("unrecorded: acme {dag} 2026-11-27 r2 extract attempt 1 is committed; the run index records none")),
        "{report}"
    );
    assert_eq!(report.lines().count(), 1, "r1 agrees: {report}");
    assert_eq!(recorded("r2".into()).await, None);
    let out = dagtrail(&["reconcile"], &env, None);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("recorded 1 committed attempts"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(recorded("r2".into()).await.unwrap()["attempt"], 1);
    let out = dagtrail(&["reconcile"], &env, None);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("agree"), "{}", text(&out.stdout));

    // A record whose files are gone is reported, not "repaired".
    std::fs::remove_file(format!(
        "{store}/acme/{dag}/2026-11-27/r2/extract/attempt=1/metadata.parquet"
    ))
    .unwrap();
    let out = dagtrail(&["reconcile"], &env, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!(
            "missing files: acme {dag} 2026-11-27 r2 extract: the run index records attempt 1, which has no metadata.parquet"
        )),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("1 disagreements need a person"),
        "{}",
        text(&out.stderr)
    );
}
