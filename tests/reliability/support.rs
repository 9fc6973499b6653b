//! Real processes for the reliability tests: `dagtrail serve`, an s3s-fs
//! server the test owns, the PostgreSQL cluster reserved for fault tests,
//! and a delaying TCP proxy. Data is seeded through the library's
//! `Recorder`, the same writer the CLI uses.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use dagtrail::artifacts::ArtifactStore;
use dagtrail::artifacts::writer::{PhaseOutcome, WriterOptions};
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use dagtrail::record::Recorder;
use dagtrail::runindex::{self, IndexOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use uuid::Uuid;

#[path = "../common/services.rs"]
mod services;
pub use services::required;

#[path = "../common/tokens.rs"]
mod tokens;
pub use tokens::{SECRET, token_with_scopes};

#[path = "../common/batches.rs"]
mod batches;
use batches::{id_name_batch, text_batch};

/// A bearer token for `company`.
pub fn token(company: &Company) -> String {
    tokens::token(company.as_str())
}

/// Where a server's run index and artifacts live.
#[derive(Clone, Debug)]
pub struct Stores {
    pub database_url: String,
    pub store_url: String,
}

impl Stores {
    /// SQLite and a folder inside `dir`.
    pub fn embedded(dir: &Path) -> Self {
        Self {
            database_url: format!("sqlite://{}", dir.join("dagtrail.db").display()),
            store_url: dir.join("artifacts").display().to_string(),
        }
    }

    /// This PostgreSQL and a folder inside `dir`.
    pub fn postgres(database_url: &str, dir: &Path) -> Self {
        Self {
            database_url: database_url.to_owned(),
            store_url: dir.join("artifacts").display().to_string(),
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DAGTRAIL_DATABASE_URL", self.database_url.clone()),
            ("DAGTRAIL_STORE_URL", self.store_url.clone()),
        ]
    }
}

/// One seeded run: the tenant, the run and the URL of the run.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub company: Company,
    pub run: RunRef,
    pub log_rows: usize,
}

impl Seeded {
    pub fn run_path(&self) -> String {
        format!(
            "/api/v1/dags/{}/runs/{}/{}",
            self.run.dag_id, self.run.date, self.run.run_id
        )
    }

    pub fn search_path(&self) -> String {
        format!(
            "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
            self.run.dag_id
        )
    }
}

/// Records an extract attempt with `data_rows` rows and `log_rows` log lines
/// for a new company, through the library's writer.
pub async fn seed(stores: &Stores, data_rows: usize, log_rows: usize) -> Seeded {
    let index = runindex::open(&stores.database_url, &IndexOptions::default())
        .await
        .unwrap();
    let store = ArtifactStore::open(&stores.store_url).unwrap();
    let recorder = Recorder::new(index, store, WriterOptions::default());
    let company = Company::new(format!("r{}", &Uuid::new_v4().simple().to_string()[..10])).unwrap();
    let run = RunRef::new(
        DagId(Uuid::new_v4()),
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new("scheduled__2026-11-27").unwrap(),
    );
    let mut rec = recorder
        .begin(&company, &run, Phase::Extract, 1)
        .await
        .unwrap();
    rec.write_data(&id_name_batch(0, data_rows, |i| format!("row {i}")))
        .await
        .unwrap();
    let levels = ["INFO", "WARNING", "ERROR", "DEBUG"];
    let mut first = 0;
    while first < log_rows {
        let n = (log_rows - first).min(100_000);
        let rows = first..first + n;
        let logs = text_batch(vec![
            (
                "ts",
                rows.clone()
                    .map(|i| format!("2026-11-27T10:{:02}:{:02}Z", (i / 60) % 60, i % 60))
                    .collect(),
            ),
            (
                "level",
                rows.clone().map(|i| levels[i % 4].to_owned()).collect(),
            ),
            ("logger", vec!["etl.extract".to_owned(); n]),
            (
                "message",
                rows.map(|i| format!("fetched page {i} of the source API"))
                    .collect(),
            ),
        ]);
        rec.write_logs(&logs).await.unwrap();
        first += n;
    }
    let outcome = PhaseOutcome {
        success: Some(true),
        message: format!("extracted {data_rows} rows"),
        ..PhaseOutcome::default()
    };
    rec.commit(
        &outcome,
        Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap(),
    )
    .await
    .unwrap();
    Seeded {
        company,
        run,
        log_rows,
    }
}

/// A `dagtrail serve` process on a free loopback port.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts `dagtrail serve` with these extra environment variables and
    /// waits until it listens.
    pub fn start(env: &[(&str, String)]) -> Self {
        Self::start_on("127.0.0.1:0", env)
    }

    pub fn start_on(listen: &str, env: &[(&str, String)]) -> Self {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_dagtrail")), listen, env)
    }

    /// Starts it with at most `files` open files (soft and hard limit), as
    /// a host or container with a low `ulimit -n` would.
    pub fn start_with_file_limit(files: u64, env: &[(&str, String)]) -> Self {
        let mut command = Command::new("prlimit");
        command.args([
            &format!("--nofile={files}:{files}"),
            "--",
            env!("CARGO_BIN_EXE_dagtrail"),
        ]);
        Self::spawn(command, "127.0.0.1:0", env)
    }

    fn spawn(mut command: Command, listen: &str, env: &[(&str, String)]) -> Self {
        command.args(["serve", "--listen", listen]);
        // The test's secret, unless the server is given other keys.
        if !env.iter().any(|(k, _)| {
            k.starts_with("DAGTRAIL_JWKS")
                || k.starts_with("DAGTRAIL_JWT_PUBLIC")
                || k.starts_with("DAGTRAIL_JWT_SECRET")
        }) {
            command.env("DAGTRAIL_JWT_SECRET", SECRET);
        }
        command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // Keep draining so that the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, failing after `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "the server did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An s3s-fs server owned by one test, so that it can be stopped and
/// started again (same port, same files) without disturbing other tests.
pub struct S3Server {
    root: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl S3Server {
    /// `None` (skip) outside CI when s3s-fs is not installed.
    pub fn start(root: &Path) -> Option<Self> {
        // scripts/test sets this when s3s-fs runs; it says s3s-fs is there.
        required("DAGTRAIL_TEST_S3_URL")?;
        std::fs::create_dir_all(root.join("faults")).unwrap();
        let mut server = Self {
            root: root.to_owned(),
            port: free_port(),
            child: None,
        };
        server.resume();
        Some(server)
    }

    pub fn resume(&mut self) {
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--access-key",
                "dagtrail",
                "--secret-key",
                "dagtrail-secret",
            ])
            .arg(&self.root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for_port(self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The environment a process needs to reach this server through
    /// `endpoint` (the server itself, or a proxy in front of it).
    pub fn env(endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "dagtrail".into()),
            ("AWS_SECRET_ACCESS_KEY", "dagtrail-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", endpoint.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The PostgreSQL cluster reserved for fault tests, which they may stop.
pub struct FaultPostgres {
    pub url: String,
    ctl: String,
}

impl FaultPostgres {
    pub fn get() -> Option<Self> {
        Some(Self {
            url: required("DAGTRAIL_TEST_FAULT_PG_URL")?,
            ctl: required("DAGTRAIL_TEST_FAULT_PG_CTL")?,
        })
    }

    fn run(&self, what: &str) {
        let status = Command::new("bash")
            .arg(&self.ctl)
            .arg(what)
            .status()
            .unwrap();
        assert!(status.success(), "{} {what}", self.ctl);
    }

    pub fn stop(&self) {
        self.run("stop");
    }

    pub fn start(&self) {
        self.run("start");
    }
}

/// A TCP proxy on loopback that holds every chunk coming back from the
/// upstream for `delay` milliseconds: a slow store, or with a long delay a
/// partitioned one (connections stay open, nothing comes back).
pub struct DelayProxy {
    pub addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl DelayProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = Arc::clone(&delay_ms);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = Arc::clone(&delay);
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                        let _ = server_write.shutdown().await;
                    });
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        // Held until the delay, as it is now, has passed:
                        // setting it to zero releases what is held, as
                        // packets held in a partition arrive when it heals.
                        let held = Instant::now();
                        while held.elapsed().as_millis() < u128::from(delay.load(Ordering::Relaxed))
                        {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        Self {
            addr,
            delay_ms,
            task,
        }
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// GETs `url` with the token; the status and the body.
pub async fn get(client: &reqwest::Client, url: &str, token: &str) -> (u16, String) {
    let reply = client.get(url).bearer_auth(token).send().await.unwrap();
    let status = reply.status().as_u16();
    (status, reply.text().await.unwrap_or_default())
}

/// Runs a `dagtrail` command to its end with `env` (and `stdin` piped in),
/// outside any data folder of the caller's.
pub fn dagtrail(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dagtrail"));
    command
        .args(args)
        .env_remove("DAGTRAIL_DATA_DIR")
        .env_remove("DAGTRAIL_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let input = stdin.unwrap_or_default().to_owned();
    let mut pipe = child.stdin.take().unwrap();
    std::thread::spawn(move || std::io::Write::write_all(&mut pipe, input.as_bytes()));
    child.wait_with_output().unwrap()
}

/// A TLS-terminating proxy on loopback in front of `upstream`, presenting
/// the server certificate of the test CA in `certs` (`scripts/services.sh`,
/// `start_tls_postgres`: `server.pem` for 127.0.0.1 and localhost).
pub struct TlsProxy {
    pub addr: SocketAddr,
}

impl TlsProxy {
    pub async fn start(upstream: SocketAddr, certs: &Path) -> Self {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(certs.join("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(certs.join("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        Self { addr }
    }
}

/// A fresh PostgreSQL database migrated by its owner, with the group roles
/// of `deploy/postgres-roles.sql` and a login role in each: the reader
/// (`dagtrail_reader`) and the writer (`dagtrail_writer`).
pub struct RolesDatabase {
    /// The owner's URL (the superuser of the test cluster).
    pub owner: String,
    /// A role in `dagtrail_reader`.
    pub reader: String,
    /// A role in `dagtrail_writer`.
    pub writer: String,
}

impl RolesDatabase {
    /// `None` (the test skips) without the test cluster.
    pub async fn create(prefix: &str) -> Option<Self> {
        use sqlx::Connection as _;
        let admin = required("DAGTRAIL_TEST_DATABASE_URL")?;
        let admin_url = url::Url::parse(&admin).unwrap();
        let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
        let database = format!("{prefix}_{tag}");
        let with_user = |user: &str| {
            let mut url = admin_url.clone();
            url.set_username(user).unwrap();
            url.set_path(&format!("/{database}"));
            url.to_string()
        };
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let owner = with_user("postgres");
        let out = dagtrail(&["migrate"], &[("DAGTRAIL_DATABASE_URL", &owner)], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut conn = sqlx::PgConnection::connect(&owner).await.unwrap();
        let script = std::fs::read_to_string("deploy/postgres-roles.sql").unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(script))
            .execute(&mut conn)
            .await
            .unwrap();
        let (reader, writer) = (format!("reader_{tag}"), format!("writer_{tag}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {reader} LOGIN IN ROLE dagtrail_reader; \
             CREATE ROLE {writer} LOGIN IN ROLE dagtrail_writer;"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        Some(Self {
            reader: with_user(&reader),
            writer: with_user(&writer),
            owner,
        })
    }

    /// A connection as the owner.
    pub async fn owner_connection(&self) -> sqlx::PgConnection {
        use sqlx::Connection as _;
        sqlx::PgConnection::connect(&self.owner).await.unwrap()
    }
}

/// Serves `tests/fixtures/keys/jwks.json` at `/jwks` on a loopback port
/// (plain HTTP) for as long as the test runs; returns its address.
pub async fn serve_fixture_jwks() -> SocketAddr {
    let jwks = std::fs::read_to_string("tests/fixtures/keys/jwks.json").unwrap();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { ([("content-type", "application/json")], jwks) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// PUTs `body` as NDJSON (a write-API part) with `token`.
pub async fn put_ndjson(
    client: &reqwest::Client,
    url: impl reqwest::IntoUrl,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .put(url)
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}
