//! The app under test: the real router over real storage (SQLite + a temp
//! folder, or PostgreSQL + the S3-compatible server), seeded through the
//! same `Recorder` the CLI uses.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{NaiveDate, TimeZone, Utc};
use dagtrail::app::router;
use dagtrail::artifacts::ArtifactStore;
use dagtrail::artifacts::writer::{PhaseOutcome, WriterOptions};
use dagtrail::auth::{KeySource, TokenVerifier, VerifierConfig};
use dagtrail::http::{AppState, Limits};
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use dagtrail::read::ReadService;
use dagtrail::record::Recorder;
use dagtrail::runindex::{self, IndexOptions, RunIndex};
use dagtrail::settings::Secret;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

#[path = "../common/services.rs"]
mod services;
use services::required;

#[path = "../common/plant.rs"]
mod plant;
pub use plant::plant_data_file;

#[path = "../common/tokens.rs"]
mod tokens;
pub use tokens::{SECRET, token, token_with_scopes};

#[path = "../common/batches.rs"]
mod batches;
pub use batches::{id_name_batch, text_batch};

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as JSON, after checking the answer is a 200 (showing the
    /// body when it is not).
    pub fn ok_json(&self) -> Value {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

/// Where the test data lives.
pub enum Backend {
    Embedded(tempfile::TempDir),
    Services,
}

/// The app, its tenants and the runs seeded for them.
pub struct TestApp {
    pub router: Router,
    pub company: Company,
    pub other: Company,
    pub dag: DagId,
    pub run: RunRef,
    /// Writes to the app's stores (for tests that seed more runs).
    pub recorder: Recorder,
    pub _backend: Backend,
}

impl TestApp {
    pub fn token(&self) -> String {
        token(self.company.as_str())
    }

    pub fn other_token(&self) -> String {
        token(self.other.as_str())
    }

    /// `/api/v1/dags/{dag}/runs/{date}/{run_id}` of the main run.
    pub fn run_url(&self) -> String {
        format!(
            "/api/v1/dags/{}/runs/2026-11-27/{}",
            self.dag,
            encode(self.run.run_id.as_str())
        )
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(uri, Some(&self.token()), &[]).await
    }

    /// A token of the app's company that may write (`runs:write`).
    pub fn write_token(&self) -> String {
        token_with_scopes(self.company.as_str(), &[dagtrail::auth::RUNS_WRITE])
    }

    /// `method uri` with `body`, as `token` (none: no Authorization).
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        reply(
            self.router
                .clone()
                .oneshot(request.body(body.into()).unwrap())
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn call(&self, uri: &str, token: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        call(&self.router, uri, token, headers).await
    }
}

pub async fn call(
    router: &Router,
    uri: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = Request::builder().method(Method::GET).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    reply(
        router
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap(),
    )
    .await
}

/// A response read whole.
async fn reply(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Percent-encodes a path segment the way a client would.
pub fn encode(segment: &str) -> String {
    dagtrail::http::params::url_path_segment(segment)
}

fn data(first: i64, n: usize) -> RecordBatch {
    id_name_batch(first, n, |i| match i {
        42 => "Ünïcödé 50%_off".to_owned(),
        77 => "Zoë 500 off".to_owned(),
        _ => format!("row {i}"),
    })
}

/// Log rows: 3 levels cycling, a keyword every 10th row.
pub const LOG_ROWS: usize = 1500;

fn logs() -> RecordBatch {
    let levels = ["INFO", "ERROR", "DEBUG"];
    text_batch(vec![
        (
            "ts",
            (0..LOG_ROWS)
                .map(|i| format!("2026-11-27T10:{:02}:{:02}Z", (i / 60) % 60, i % 60))
                .collect(),
        ),
        (
            "level",
            (0..LOG_ROWS).map(|i| levels[i % 3].to_owned()).collect(),
        ),
        ("logger", vec!["etl".to_owned(); LOG_ROWS]),
        (
            "message",
            (0..LOG_ROWS)
                .map(|i| {
                    if i % 10 == 0 {
                        format!("Slow Source {i}")
                    } else {
                        format!("line {i}")
                    }
                })
                .collect(),
        ),
    ])
}

async fn seed(
    index: Arc<dyn RunIndex>,
    store: ArtifactStore,
    company: &Company,
    other: &Company,
    dag: DagId,
) -> (RunRef, RunRef) {
    let options = WriterOptions {
        rows_per_file: 100,
        log_rows_per_file: 1000,
        row_group_rows: 40,
        page_rows: 10,
        ..WriterOptions::default()
    };
    let recorder = Recorder::new(index, store, options);
    let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let run = RunRef::new(
        dag,
        day,
        RunId::new("manual__2026-11-27T10:00:00+00:00 x%").unwrap(),
    );
    let slash_run = RunRef::new(dag, day, RunId::new("a/b").unwrap());
    let ok = PhaseOutcome {
        success: Some(true),
        message: "extracted 250 rows".into(),
        ..PhaseOutcome::default()
    };
    for (company, run, rows) in [
        (company, &run, 250usize),
        (company, &slash_run, 5),
        (other, &run, 3),
    ] {
        let mut rec = recorder
            .begin(company, run, Phase::Extract, 1)
            .await
            .unwrap();
        let mut first = 0;
        while first < rows {
            let n = (rows - first).min(70);
            rec.write_data(&data(first as i64, n)).await.unwrap();
            first += n;
        }
        if rows == 250 {
            rec.write_errors(&text_batch(vec![
                (
                    "error_title",
                    (0..7).map(|i| format!("Bad row {i}")).collect(),
                ),
                ("error_status", vec!["422".to_owned(); 7]),
                ("error_detail", vec!["negative".to_owned(); 7]),
                ("occurred_at", vec!["2026-11-27T10:00:05Z".to_owned(); 7]),
            ]))
            .await
            .unwrap();
            rec.write_logs(&logs()).await.unwrap();
        }
        rec.commit(&ok, at).await.unwrap();
    }
    let queue = text_batch::<String>(vec![
        ("message_id", vec!["m-1".into()]),
        ("body", vec!["{\"a\": 1}".into()]),
    ]);
    let event = text_batch(vec![("trigger", vec!["manual"])]);
    recorder
        .record_event(company, &run, &[queue], &[event], &ok, at)
        .await
        .unwrap();
    // A transform that is still running (attempt 1, no data).
    let rec = recorder
        .begin(company, &run, Phase::Transform, 1)
        .await
        .unwrap();
    rec.commit(
        &PhaseOutcome {
            success: None,
            message: "running".into(),
            ..PhaseOutcome::default()
        },
        at,
    )
    .await
    .unwrap();
    (run, slash_run)
}

pub fn verifier() -> TokenVerifier {
    TokenVerifier::new(VerifierConfig {
        sources: vec![KeySource::Secret(Secret::new(SECRET))],
        algorithms: None,
        issuer: None,
        audience: None,
        company_claim: "id_company".into(),
        jwks_refetch_interval: dagtrail::auth::JWKS_REFETCH_INTERVAL,
    })
    .unwrap()
}

/// The app over the embedded default in a temp folder.
pub async fn embedded() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let index = runindex::open(
        &format!("sqlite://{}", dir.path().join("runs.db").display()),
        &IndexOptions::default(),
    )
    .await
    .unwrap();
    let store = ArtifactStore::open(dir.path().join("artifacts").to_str().unwrap()).unwrap();
    build(index, store, Backend::Embedded(dir)).await
}

/// The app over PostgreSQL and the S3-compatible server, or `None` (skip)
/// outside CI when they are not configured.
pub async fn services() -> Option<TestApp> {
    let db = required("DAGTRAIL_TEST_DATABASE_URL")?;
    let s3 = required("DAGTRAIL_TEST_S3_URL")?;
    let index = runindex::open(&db, &IndexOptions::default()).await.unwrap();
    let prefix = &Uuid::new_v4().simple().to_string()[..8];
    let store = ArtifactStore::open(&format!("{}/a{prefix}", s3.trim_end_matches('/'))).unwrap();
    Some(build(index, store, Backend::Services).await)
}

/// The embedded app, with the store and limits the router reads through
/// replaced (seeding still writes to the plain folder). For fault tests.
pub async fn embedded_with(
    wrap: impl FnOnce(ArtifactStore) -> ArtifactStore,
    index_url: Option<&str>,
    limits: Limits,
) -> TestApp {
    embedded_reopened(wrap, index_url, limits, verifier(), |s| s).await
}

/// The embedded app, verifying tokens with `verifier` instead of the shared
/// secret (the data is still seeded for `company`).
pub async fn embedded_verified_by(verifier: TokenVerifier) -> TestApp {
    embedded_reopened(|s| s, None, Limits::default(), verifier, |s| s).await
}

/// The embedded app reading through a store that counts its requests
/// (seeding still writes to the plain folder), and that counter.
pub async fn embedded_counting() -> (
    TestApp,
    dagtrail::artifacts::instrumented::InstrumentedStore,
) {
    use dagtrail::artifacts::instrumented::InstrumentedStore;
    let counter: Arc<std::sync::Mutex<Option<InstrumentedStore>>> = Arc::default();
    let slot = Arc::clone(&counter);
    let wrap = move |store: ArtifactStore| {
        let counting = InstrumentedStore::new(Arc::clone(store.object_store()));
        *slot.lock().unwrap() = Some(counting.clone());
        ArtifactStore::from_object_store(Arc::new(counting), store.base_url())
    };
    let app = embedded_with(wrap, None, Limits::default()).await;
    let counting = counter.lock().unwrap().clone().unwrap();
    (app, counting)
}

/// The embedded app whose router's state `configure` changed (CORS
/// origins, say).
pub async fn embedded_configured(configure: impl FnOnce(AppState) -> AppState) -> TestApp {
    embedded_reopened(|s| s, None, Limits::default(), verifier(), configure).await
}

async fn embedded_reopened(
    wrap: impl FnOnce(ArtifactStore) -> ArtifactStore,
    index_url: Option<&str>,
    limits: Limits,
    verifier: TokenVerifier,
    configure: impl FnOnce(AppState) -> AppState,
) -> TestApp {
    let mut app = embedded().await;
    let Backend::Embedded(dir) = &app._backend else {
        unreachable!()
    };
    let store = ArtifactStore::open(dir.path().join("artifacts").to_str().unwrap()).unwrap();
    let url = index_url.map_or_else(
        || format!("sqlite://{}", dir.path().join("runs.db").display()),
        str::to_owned,
    );
    let options = IndexOptions {
        migrate: false,
        acquire_timeout: Duration::from_secs(2),
        ..IndexOptions::default()
    };
    let index = runindex::open(&url, &options).await.unwrap();
    let store = wrap(store);
    let recorder = Recorder::new(Arc::clone(&index), store.clone(), WriterOptions::default());
    let reads = ReadService::new(index, store, 16 * 1024 * 1024);
    app.router = router(configure(AppState::new(reads, recorder, verifier, limits)));
    app
}

/// Records one attempt of `phase` holding `batch` as its data, with
/// `outcome`, committed at `at`: what every other recording helper does.
pub async fn record_attempt(
    recorder: &Recorder,
    company: &Company,
    run: &RunRef,
    (phase, attempt): (Phase, u32),
    batch: &RecordBatch,
    outcome: &PhaseOutcome,
    at: chrono::DateTime<Utc>,
) {
    let mut rec = recorder.begin(company, run, phase, attempt).await.unwrap();
    rec.write_data(batch).await.unwrap();
    rec.commit(outcome, at).await.unwrap();
}

/// Records attempt `attempt` of `phase` of `dag`'s run of November `d`
/// (`scheduled__2026-11-DD`) for the app's company, two data rows, its
/// outcome `success` with `message`, committed at 06:`attempt` that day.
pub async fn record_outcome(
    app: &TestApp,
    dag: DagId,
    d: u32,
    phase: Phase,
    attempt: u32,
    success: Option<bool>,
    message: &str,
) {
    let day = NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let run = RunRef::new(
        dag,
        day,
        RunId::new(format!("scheduled__2026-11-{d:02}")).unwrap(),
    );
    let outcome = PhaseOutcome {
        success,
        message: message.to_owned(),
        ..PhaseOutcome::default()
    };
    record_attempt(
        &app.recorder,
        &app.company,
        &run,
        (phase, attempt),
        &id_name_batch(0, 2, |i| format!("row {i}")),
        &outcome,
        Utc.with_ymd_and_hms(2026, 11, d, 6, attempt, 0).unwrap(),
    )
    .await;
}

/// Records one successful attempt of `phase` holding `batch` as its data,
/// committed at `hour` o'clock on the run's day.
pub async fn commit_rows(
    recorder: &Recorder,
    company: &Company,
    run: &RunRef,
    phase_attempt: (Phase, u32),
    batch: &RecordBatch,
    hour: u32,
) {
    let ok = PhaseOutcome {
        success: Some(true),
        ..PhaseOutcome::default()
    };
    let at = Utc.with_ymd_and_hms(2026, 11, 27, hour, 0, 0).unwrap();
    record_attempt(recorder, company, run, phase_attempt, batch, &ok, at).await;
}

/// The artifacts folder of an embedded app.
pub fn artifacts_dir(app: &TestApp) -> std::path::PathBuf {
    let Backend::Embedded(dir) = &app._backend else {
        unreachable!()
    };
    dir.path().join("artifacts")
}

async fn build(index: Arc<dyn RunIndex>, store: ArtifactStore, backend: Backend) -> TestApp {
    // Short, unique names: tests share one database and one bucket.
    let company = Company::new(format!("a{}", &Uuid::new_v4().simple().to_string()[..10])).unwrap();
    let other = Company::new(format!("b{}", &Uuid::new_v4().simple().to_string()[..10])).unwrap();
    let dag = DagId(Uuid::new_v4());
    let (run, _) = seed(Arc::clone(&index), store.clone(), &company, &other, dag).await;
    let recorder = Recorder::new(Arc::clone(&index), store.clone(), WriterOptions::default());
    let reads = ReadService::new(index, store, 16 * 1024 * 1024);
    let state = AppState::new(reads, recorder.clone(), verifier(), Limits::default());
    TestApp {
        router: router(state),
        company,
        other,
        dag,
        run,
        recorder,
        _backend: backend,
    }
}

/// Runs each named `async fn(TestApp)` against both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name($crate::support::embedded().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_and_s3() {
                    let Some(app) = $crate::support::services().await else { return };
                    super::$name(app).await;
                }
            }
        )*
    };
}
