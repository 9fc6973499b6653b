//! The writer's round trip through a real store: a local folder and the
//! S3-compatible server. Keys are checked byte for byte, on disk too.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use dagtrail::artifacts::schemas::AttemptMetadata;
use dagtrail::artifacts::writer::{PhaseOutcome, WriteError, WriterOptions};
use dagtrail::artifacts::{ArtifactStore, FileKind, RunFolder};
use dagtrail::model::{Phase, RunId, RunRef};
use dagtrail::record::{RecordError, Recorder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::PageIndexPolicy;

use crate::support::{fresh_company, fresh_dag, id_name_batch, s3_store, sqlite_index, text_batch};

const RUN_ID: &str = "manual__x y%";
const ENCODED_RUN_ID: &str = "manual__x%20y%25";

fn data(first: i64, n: usize) -> RecordBatch {
    id_name_batch(first, n, |i| format!("Ünïcödé row {i}"))
}

fn strings(columns: &[(&str, Vec<&str>)]) -> RecordBatch {
    text_batch(columns.to_vec())
}

async fn get(store: &Arc<dyn ObjectStore>, key: &Path) -> Bytes {
    store.get(key).await.unwrap().bytes().await.unwrap()
}

fn read_all(bytes: Bytes) -> (Vec<RecordBatch>, parquet::file::metadata::ParquetMetaData) {
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options).unwrap();
    let metadata = builder.metadata().as_ref().clone();
    (
        builder.build().unwrap().map(Result::unwrap).collect(),
        metadata,
    )
}

/// Writes an attempt and checks every file and the run index. `on_disk`
/// is the folder where the store keeps the layout's top, when known.
async fn round_trip(store: ArtifactStore, on_disk: Option<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let index = sqlite_index(&dir).await;
    let options = WriterOptions {
        rows_per_file: 1000,
        log_rows_per_file: 4,
        row_group_rows: 300,
        page_rows: 100,
        ..WriterOptions::default()
    };
    let recorder = Recorder::new(Arc::clone(&index), store.clone(), options);
    let company = fresh_company();
    let run = RunRef::new(
        fresh_dag(),
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new(RUN_ID).unwrap(),
    );
    let folder = RunFolder::new(&company, &run)
        .unwrap()
        .attempt(Phase::Extract, 1)
        .unwrap();
    let os = store.object_store();

    let mut rec = recorder
        .begin(&company, &run, Phase::Extract, 1)
        .await
        .unwrap();
    for first in (0..2500).step_by(700) {
        rec.write_data(&data(first, 700.min(2500 - first as usize)))
            .await
            .unwrap();
    }
    rec.write_errors(&strings(&[
        ("error_title", vec!["Bad row", "Bad row"]),
        ("error_status", vec!["422", "422"]),
        ("error_detail", vec!["negative", "negative"]),
        (
            "occurred_at",
            vec!["2026-11-27T00:00:01Z", "2026-11-27T00:00:02Z"],
        ),
    ]))
    .await
    .unwrap();
    let logs = strings(&[
        ("ts", vec!["2026-11-27T00:00:01Z"; 5]),
        (
            "level",
            vec!["info", "ERROR", "critical", "DEBUG", "WARNING"],
        ),
        ("logger", vec!["etl"; 5]),
        ("message", vec!["a", "b", "c", "d", "e"]),
    ]);
    rec.write_logs(&logs).await.unwrap();
    assert!(
        matches!(
            os.head(&folder.metadata()).await,
            Err(object_store::Error::NotFound { .. })
        ),
        "metadata.parquet must not exist before the commit"
    );
    let outcome = PhaseOutcome {
        success: Some(true),
        message: "extracted".into(),
        ..PhaseOutcome::default()
    };
    let meta = rec.commit(&outcome, Utc::now()).await.unwrap();
    assert_eq!(meta.data_file_rows, vec![1000, 1000, 500]);
    assert_eq!(
        (meta.data_files, meta.data_rows, meta.total),
        (3, 2500, 2500)
    );
    assert_eq!((meta.error_files, meta.error_count), (1, 2));
    assert_eq!(
        (meta.log_files, meta.log_count, meta.error_log_count),
        (2, 5, 2)
    );

    // The key is the contract's string, byte for byte.
    let expected_prefix = format!(
        "{company}/{}/2026-11-27/{ENCODED_RUN_ID}/extract/attempt=1/",
        run.dag_id
    );
    assert_eq!(folder.folder(), expected_prefix);
    for name in [
        "metadata.parquet",
        "index.parquet",
        "data_000.parquet",
        "data_002.parquet",
        "errors_000.parquet",
        "logs_001.parquet",
    ] {
        let key = Path::parse(format!("{expected_prefix}{name}")).unwrap();
        os.head(&key).await.unwrap_or_else(|e| panic!("{key}: {e}"));
        if let Some(root) = &on_disk {
            let file = root.join(&expected_prefix).join(name);
            assert!(file.is_file(), "{} is not on disk", file.display());
        }
    }
    if let Some(root) = &on_disk {
        let run_dir = root
            .join(company.as_str())
            .join(run.dag_id.to_string())
            .join("2026-11-27");
        let names: Vec<String> = std::fs::read_dir(run_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec![ENCODED_RUN_ID.to_owned()],
            "encoded exactly once"
        );
    }

    // metadata.parquet reads back as what commit returned.
    let (batches, _) = read_all(get(os, &folder.metadata()).await);
    assert_eq!(AttemptMetadata::from_batch(&batches[0]).unwrap(), meta);

    // Data files: rows in order, row groups and an offset index.
    let (batches, parquet_meta) = read_all(get(os, &folder.numbered(FileKind::Data, 1)).await);
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids.first(), Some(&1000));
    assert_eq!(ids.len(), 1000);
    assert_eq!(parquet_meta.num_row_groups(), 4);
    assert_eq!(parquet_meta.row_group(0).num_rows(), 300);
    let offsets = parquet_meta.page_index_for_row_group(0);
    let pages = offsets
        .offset_index(0)
        .expect("offset index written")
        .page_locations();
    assert!(
        pages.len() >= 3,
        "pages of about 100 rows, got {}",
        pages.len()
    );

    // index.parquet: one row per data row, in (_file, _row) order, lowercased.
    let (batches, _) = read_all(get(os, &folder.index_parquet()).await);
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, 2500);
    let b = &batches[0];
    assert_eq!(b.column(0).as_primitive::<Int32Type>().value(0), 0);
    assert_eq!(
        b.column(2).as_string::<i32>().value(0),
        "0\u{1f}ünïcödé row 0"
    );
    let last = batches.last().unwrap();
    let n = last.num_rows() - 1;
    assert_eq!(last.column(0).as_primitive::<Int32Type>().value(n), 2);
    assert_eq!(last.column(1).as_primitive::<Int64Type>().value(n), 499);

    // The run index got the phase with the first 100 rows inline.
    let object = index
        .phase_object(&company, &run, Phase::Extract)
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert_eq!(object["attempt"], 1);
    assert_eq!(object["data"].as_array().unwrap().len(), 100);
    assert_eq!(object["data"][99]["id"], 99);
    assert_eq!(object["s3_data_path"], store.url_of(&expected_prefix));
    assert_eq!(object["status"]["success"], true);

    // A committed attempt is immutable.
    let again = recorder.begin(&company, &run, Phase::Extract, 1).await;
    assert!(matches!(
        again,
        Err(RecordError::Write(WriteError::AlreadyCommitted { .. }))
    ));

    // An aborted attempt leaves nothing behind, and the index is untouched.
    assert_eq!(
        recorder
            .next_attempt(&company, &run, Phase::Extract)
            .await
            .unwrap(),
        2
    );
    let mut rec = recorder
        .begin(&company, &run, Phase::Extract, 2)
        .await
        .unwrap();
    rec.write_data(&data(0, 1500)).await.unwrap();
    rec.abort().await;
    let second = RunFolder::new(&company, &run)
        .unwrap()
        .attempt(Phase::Extract, 2)
        .unwrap();
    for key in [
        second.numbered(FileKind::Data, 0),
        second.index_parquet(),
        second.metadata(),
    ] {
        assert!(
            matches!(
                os.head(&key).await,
                Err(object_store::Error::NotFound { .. })
            ),
            "{key} left behind"
        );
    }
    assert_eq!(
        index
            .phase_object(&company, &run, Phase::Extract)
            .await
            .unwrap()
            .unwrap()
            .to_json()["attempt"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_folder_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open(dir.path().join("artifacts").to_str().unwrap()).unwrap();
    round_trip(store, Some(dir.path().join("artifacts"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_url_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(dir.path()).unwrap();
    let store = ArtifactStore::open(url.as_str()).unwrap();
    assert!(store.base_url().starts_with("file:///"));
    round_trip(store, Some(dir.path().to_owned())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip() {
    let Some((store, root, prefix)) = s3_store() else {
        return;
    };
    let url = std::env::var("DAGTRAIL_TEST_S3_URL").unwrap();
    // s3s-fs keeps `bucket/key` as a file path under its root.
    let on_disk = root.map(|r| {
        r.join(url.trim_start_matches("s3://").trim_end_matches('/'))
            .join(&prefix)
    });
    round_trip(store, on_disk).await;
}

#[test]
fn unsupported_store_urls_are_refused() {
    assert!(ArtifactStore::open("gs://bucket/x").is_err());
    assert!(ArtifactStore::open("s3://").is_err());
}
