//! What the fuzz targets check, shared with the regression test that
//! replays `fuzz/regressions/` on stable (`tests/fuzz_regressions.rs`).
//!
//! * [`query_params`]: any query string and path segments, through the
//!   real router, never make a 5xx or a panic.
//! * [`parquet_files`]: any bytes in place of one file of a committed
//!   attempt (data, index, errors, logs or metadata), read through every
//!   read path, give rows or a typed error, never a panic.
//! * [`write_parts`]: any bytes uploaded as a part of an open attempt
//!   (NDJSON, CSV, Parquet or an Arrow IPC stream; data, errors or logs),
//!   through the real router, are staged or refused with a 4xx, never a
//!   5xx or a panic.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{Field, Schema};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use bytes::Bytes;
use chrono::{NaiveDate, TimeZone, Utc};
use dagtrail::app::router;
use dagtrail::artifacts::ArtifactStore;
use dagtrail::artifacts::writer::{PhaseOutcome, WriterOptions};
use dagtrail::auth::{KeySource, TokenVerifier, VerifierConfig};
use dagtrail::http::{AppState, Limits};
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use dagtrail::read::{LogFilter, ReadService};
use dagtrail::record::Recorder;
use dagtrail::runindex::{self, IndexOptions, RunIndex};
use dagtrail::settings::Secret;
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tower::ServiceExt;

const SECRET: &str = "fuzz-secret-with-enough-length-0123456789";

struct World {
    runtime: tokio::runtime::Runtime,
    index: Arc<dyn RunIndex>,
    files: Vec<(Path, Bytes)>,
    router: Router,
    token: String,
    write_token: String,
    company: Company,
    run: RunRef,
    _dir: tempfile::TempDir,
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("a valid batch")
}

fn strings(values: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from(values.collect::<Vec<_>>()))
}

/// One committed attempt (3 data files, errors, logs) in memory, written by
/// the real writer, and the router over it.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temp dir");
        let (index, files, router, company, run) = runtime.block_on(async {
            let index = runindex::open(
                &format!("sqlite://{}", dir.path().join("runs.db").display()),
                &IndexOptions::default(),
            )
            .await
            .expect("the run index");
            let memory = Arc::new(InMemory::new());
            let store = ArtifactStore::from_object_store(memory.clone(), "memory://");
            let options = WriterOptions {
                rows_per_file: 40,
                row_group_rows: 16,
                page_rows: 4,
                ..WriterOptions::default()
            };
            let recorder = Recorder::new(Arc::clone(&index), store.clone(), options);
            let company = Company::new("fuzz").expect("a company");
            let run = RunRef::new(
                DagId(uuid::Uuid::nil()),
                NaiveDate::from_ymd_opt(2026, 11, 27).expect("a date"),
                RunId::new("manual__fuzz").expect("a run id"),
            );
            let mut rec = recorder
                .begin(&company, &run, Phase::Extract, 1)
                .await
                .expect("begin");
            rec.write_data(&batch(vec![
                (
                    "id",
                    Arc::new(Int64Array::from_iter_values(0..100)) as ArrayRef,
                ),
                ("name", strings((0..100).map(|i| format!("row {i} Zürich")))),
            ]))
            .await
            .expect("data");
            rec.write_errors(&batch(vec![
                ("error_title", strings((0..5).map(|i| format!("bad {i}")))),
                ("error_status", strings((0..5).map(|_| "422".to_owned()))),
                (
                    "error_detail",
                    strings((0..5).map(|_| "negative".to_owned())),
                ),
                (
                    "occurred_at",
                    strings((0..5).map(|_| "2026-11-27T10:00:00Z".to_owned())),
                ),
            ]))
            .await
            .expect("errors");
            rec.write_logs(&batch(vec![
                (
                    "ts",
                    strings((0..50).map(|_| "2026-11-27T10:00:00Z".to_owned())),
                ),
                (
                    "level",
                    strings((0..50).map(|i| ["INFO", "ERROR"][i % 2].to_owned())),
                ),
                ("logger", strings((0..50).map(|_| "etl".to_owned()))),
                ("message", strings((0..50).map(|i| format!("message {i}")))),
            ]))
            .await
            .expect("logs");
            let outcome = PhaseOutcome {
                success: Some(true),
                message: "ok".into(),
                ..PhaseOutcome::default()
            };
            rec.commit(
                &outcome,
                Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
                    .single()
                    .expect("a time"),
            )
            .await
            .expect("commit");
            let mut files = Vec::new();
            let mut listing = memory.list(None);
            while let Some(meta) = listing.next().await {
                let meta = meta.expect("listed");
                // The files of the attempt; the store's marker is not one
                // (and the fuzz inputs' first byte picks among these).
                if meta.location == dagtrail::artifacts::key::store_marker() {
                    continue;
                }
                let bytes = memory
                    .get(&meta.location)
                    .await
                    .expect("get")
                    .bytes()
                    .await
                    .expect("bytes");
                files.push((meta.location, bytes));
            }
            files.sort_by(|a, b| a.0.cmp(&b.0));
            let verifier = TokenVerifier::new(VerifierConfig {
                sources: vec![KeySource::Secret(Secret::new(SECRET))],
                algorithms: None,
                issuer: None,
                audience: None,
                company_claim: "id_company".into(),
                jwks_refetch_interval: dagtrail::auth::JWKS_REFETCH_INTERVAL,
            })
            .expect("a verifier");
            let recorder = dagtrail::record::Recorder::new(
                Arc::clone(&index),
                store.clone(),
                dagtrail::artifacts::writer::WriterOptions::default(),
            );
            let reads = ReadService::new(Arc::clone(&index), store, 1 << 20);
            let router = router(AppState::new(reads, recorder, verifier, Limits::default()));
            (index, files, router, company, run)
        });
        let token = dagtrail::auth::token::mint_hs256(
            &Secret::new(SECRET),
            "id_company",
            &company,
            Duration::from_secs(365 * 24 * 3600),
        )
        .expect("a token");
        let write_token = dagtrail::auth::token::mint(
            &dagtrail::auth::token::Signer::hs256(&Secret::new(SECRET)).expect("a signer"),
            "id_company",
            &company,
            Duration::from_secs(365 * 24 * 3600),
            &dagtrail::auth::token::ExtraClaims {
                scopes: vec![dagtrail::auth::RUNS_WRITE.to_owned()],
                ..Default::default()
            },
        )
        .expect("a token");
        World {
            runtime,
            index,
            files,
            router,
            token,
            write_token,
            company,
            run,
            _dir: dir,
        }
    })
}

/// The committed attempt's files (key and bytes): a seed corpus.
pub fn seed_files() -> Vec<(String, Vec<u8>)> {
    world()
        .files
        .iter()
        .map(|(k, b)| (k.to_string(), b.to_vec()))
        .collect()
}

async fn status_of(router: &Router, uri: &str, token: &str, ndjson: bool) -> Option<u16> {
    let mut request = Request::get(uri).header("authorization", format!("Bearer {token}"));
    if ndjson {
        request = request.header("accept", "application/x-ndjson");
    }
    // An URI that `http` refuses never reaches the server's router.
    let request = request.body(Body::empty()).ok()?;
    let response = router.clone().oneshot(request).await.ok()?;
    let status = response.status().as_u16();
    let _ = axum::body::to_bytes(response.into_body(), 64 << 20).await;
    Some(status)
}

/// Fuzzed text as the query string and the path segments of every endpoint.
pub fn query_params(data: &[u8]) {
    let world = world();
    let text = String::from_utf8_lossy(data);
    let (segment, query) = text.split_once('\n').unwrap_or((&text, &text));
    let run = format!(
        "/api/v1/dags/{}/runs/2026-11-27/{}",
        world.run.dag_id, world.run.run_id
    );
    let uris = [
        format!("/api/v1/dags/{}/runs?{query}", world.run.dag_id),
        format!("{run}?{query}"),
        format!("{run}/event?{query}"),
        format!("{run}/phases/extract?{query}"),
        format!("{run}/phases/extract/data?{query}"),
        format!("{run}/phases/extract/errors?{query}"),
        format!("{run}/phases/extract/logs?{query}"),
        format!("/api/v1/dags/{segment}/runs/{segment}/{segment}/phases/{segment}/data?{query}"),
        format!(
            "/api/v1/dags/{}/runs/2026-11-27/{segment}/phases/extract/data",
            world.run.dag_id
        ),
    ];
    world.runtime.block_on(async {
        for (i, uri) in uris.iter().enumerate() {
            let ndjson = i == 6 && data.first().is_some_and(|b| b % 2 == 0);
            if let Some(status) = status_of(&world.router, uri, &world.token, ndjson).await {
                assert!(status < 500, "{uri} answered {status}");
            }
        }
    });
}

/// A read service over the fuzz attempt with file number `pick` (modulo
/// the number of files) replaced by `content`; a new service each time, so
/// that its caches hold nothing of an earlier input.
async fn service_with(world: &World, pick: u8, content: &[u8]) -> ReadService {
    let target = usize::from(pick) % world.files.len();
    let memory = Arc::new(InMemory::new());
    for (i, (key, bytes)) in world.files.iter().enumerate() {
        let bytes = if i == target {
            Bytes::copy_from_slice(content)
        } else {
            bytes.clone()
        };
        memory
            .put(key, PutPayload::from_bytes(bytes))
            .await
            .expect("an in-memory put");
    }
    let store = ArtifactStore::from_object_store(memory, "memory://");
    ReadService::new(Arc::clone(&world.index), store, 1 << 20)
}

/// `data[0]` picks the file of the attempt to replace; the rest is its new
/// content. Every read path then runs over the attempt.
pub fn parquet_files(data: &[u8]) {
    let Some((&pick, content)) = data.split_first() else {
        return;
    };
    let world = world();
    world.runtime.block_on(async {
        let reads = service_with(world, pick, content).await;
        let Ok(attempt) = reads
            .attempt(&world.company, &world.run, Phase::Extract, 1)
            .await
        else {
            return;
        };
        let _ = attempt.metadata_page();
        for (page, limit) in [(0, 50), (1, 30), (2, 40), (0, 1000)] {
            let _ = attempt.data_page(page, limit).await;
        }
        let _ = attempt.search_data("zürich", 0, 10).await;
        let _ = attempt.search_data("row 9", 1, 5).await;
        let _ = attempt.errors_page(0, 50).await;
        let _ = attempt.logs_page(&LogFilter::new(None, None), 0, 50).await;
        let levels: HashSet<String> = ["ERROR".to_owned()].into();
        let filter = LogFilter::new(Some(levels), Some("message 1"));
        let _ = attempt.logs_page(&filter, 0, 10).await;
        if let Ok(stream) = attempt
            .logs_ndjson(filter, tokio_util::sync::CancellationToken::new())
            .await
        {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                if item.is_err() {
                    break;
                }
            }
        }
        let _ = reads.event(&world.company, &world.run).await;
    });
}

/// The first data page (limit 50) over the attempt that `data` makes, as
/// [`parquet_files`] reads it: `Err` holds the error's text.
pub fn first_data_page(data: &[u8]) -> Result<(), String> {
    let (&pick, content) = data.split_first().ok_or("empty input")?;
    let world = world();
    world.runtime.block_on(async {
        let reads = service_with(world, pick, content).await;
        let attempt = reads
            .attempt(&world.company, &world.run, Phase::Extract, 1)
            .await
            .map_err(|e| e.to_string())?;
        attempt
            .data_page(0, 50)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// The media types a part is taken in, and the kinds of part: `data[0]`
/// picks one of each for the rest of the input.
const PART_TYPES: [&str; 4] = [
    "application/x-ndjson",
    "text/csv",
    "application/vnd.apache.parquet",
    "application/vnd.apache.arrow.stream",
];
const PART_KINDS: [&str; 3] = ["data", "errors", "logs"];

/// `data[0]` picks the part's media type and kind; the rest is its body,
/// uploaded as part 1 of an open attempt through the router (replacing the
/// previous input's). It must be staged or refused with a 4xx.
pub fn write_parts(data: &[u8]) {
    let world = world();
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = PART_TYPES[usize::from(pick) % PART_TYPES.len()];
    let kind = PART_KINDS[usize::from(pick) / PART_TYPES.len() % PART_KINDS.len()];
    let attempt = format!(
        "/api/v1/dags/{}/runs/2026-11-28/fuzz-writes/phases/extract/attempts/1",
        world.run.dag_id
    );
    world.runtime.block_on(async {
        let send = |method: &str, uri: String, content_type: Option<&str>, body: Vec<u8>| {
            let mut request = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {}", world.write_token));
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let request = request.body(Body::from(body)).expect("a request");
            let router = world.router.clone();
            async move {
                let response = router.oneshot(request).await.expect("an answer");
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                    .await
                    .unwrap_or_default();
                (status, String::from_utf8_lossy(&body).into_owned())
            }
        };
        let (opened, why) = send("PUT", attempt.clone(), None, Vec::new()).await;
        assert!(opened < 300, "open: {opened} {why}");
        let (status, why) = send(
            "PUT",
            format!("{attempt}/{kind}/1"),
            Some(content_type),
            body.to_vec(),
        )
        .await;
        assert!(
            status < 500,
            "a {kind} part as {content_type} answered {status}: {why}"
        );
    });
}

/// Seeds of `write_parts`: a valid part of each media type.
pub fn write_part_seeds() -> Vec<(String, Vec<u8>)> {
    let rows = batch(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..3)) as ArrayRef,
        ),
        ("name", strings((0..3).map(|i| format!("row {i} Zürich")))),
    ]);
    let mut parquet = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut parquet, rows.schema(), None).expect("a writer");
    writer.write(&rows).expect("written");
    writer.close().expect("closed");
    let mut ipc = Vec::new();
    {
        let mut stream =
            arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &rows.schema()).expect("a writer");
        stream.write(&rows).expect("written");
        stream.finish().expect("finished");
    }
    let with_pick = |pick: u8, body: &[u8]| {
        let mut input = vec![pick];
        input.extend_from_slice(body);
        input
    };
    vec![
        (
            "ndjson-data".into(),
            with_pick(0, b"{\"id\": 1, \"o\": {\"a\": [1, 2]}}\n{\"id\": 2}\n"),
        ),
        ("csv-data".into(), with_pick(1, b"id,name\n1,a\n2,\"b,c\"\n")),
        ("parquet-data".into(), with_pick(2, &parquet)),
        ("arrow-data".into(), with_pick(3, &ipc)),
        (
            "ndjson-errors".into(),
            with_pick(
                4,
                b"{\"error_title\": \"t\", \"error_status\": 422, \"error_detail\": \"d\", \"occurred_at\": \"2026-11-27T10:00:00Z\"}\n",
            ),
        ),
        (
            "ndjson-logs".into(),
            with_pick(
                8,
                b"{\"ts\": \"2026-11-27T10:00:00Z\", \"level\": \"INFO\", \"logger\": \"etl\", \"message\": \"m\"}\n",
            ),
        ),
    ]
}
