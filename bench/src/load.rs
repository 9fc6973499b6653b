//! Our side over HTTP: an in-process server on loopback, single-request
//! timings, a load generator, and the NDJSON stream from a server in its
//! own process (so that its peak memory can be read).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;

use dagtrail::auth::token::mint_hs256;
use dagtrail::auth::{KeySource, TokenVerifier, VerifierConfig};
use dagtrail::http::params::url_path_segment;
use dagtrail::http::{AppState, Limits, serve};
use dagtrail::model::{Company, RunRef};
use dagtrail::read::ReadService;
use dagtrail::settings::Secret;

/// An in-process server on an ephemeral loopback port.
pub struct Server {
    addr: std::net::SocketAddr,
    secret: Secret,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn bench_secret() -> Secret {
    Secret::new(format!("bench-{:032x}", fastrand::u128(..)))
}

impl Server {
    /// Serves `reads` on 127.0.0.1 with a secret made up for the run.
    pub async fn start(reads: ReadService) -> anyhow::Result<Self> {
        let secret = bench_secret();
        let verifier = TokenVerifier::new(VerifierConfig {
            sources: vec![KeySource::Secret(secret.clone())],
            algorithms: None,
            issuer: None,
            audience: None,
            company_claim: "id_company".into(),
            jwks_refetch_interval: dagtrail::auth::JWKS_REFETCH_INTERVAL,
        })?;
        let limits = Limits {
            max_streams: 256,
            ..Limits::default()
        };
        let recorder = dagtrail::record::Recorder::new(
            std::sync::Arc::clone(reads.run_index()),
            reads.store().clone(),
            dagtrail::artifacts::writer::WriterOptions::default(),
        );
        let app = dagtrail::app::router(AppState::new(reads, recorder, verifier, limits));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            app,
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(1),
            dagtrail::http::ConnectionLimits::default(),
        ));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .build()?;
        Ok(Self {
            addr,
            secret,
            client,
            _stop: stop,
        })
    }

    /// A token for `company`.
    pub fn token(&self, company: &Company) -> anyhow::Result<String> {
        Ok(mint_hs256(
            &self.secret,
            "id_company",
            company,
            Duration::from_secs(3600),
        )?)
    }

    /// The run's URL on this server.
    pub fn run_url(&self, run: &RunRef) -> String {
        let run_id = url_path_segment(run.run_id.as_str());
        format!(
            "http://{}/api/v1/dags/{}/runs/{}/{run_id}",
            self.addr, run.dag_id, run.date
        )
    }

    /// The run's page in the run explorer on this server.
    pub fn ui_run_url(&self, run: &RunRef) -> String {
        let run_id = url_path_segment(run.run_id.as_str());
        format!(
            "http://{}/dags/{}/runs/{}/{run_id}",
            self.addr, run.dag_id, run.date
        )
    }

    /// The length in bytes of one GET's body (a 200).
    pub async fn get_len(&self, url: &str, token: &str) -> anyhow::Result<usize> {
        let response = self.client.get(url).bearer_auth(token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        Ok(response.bytes().await?.len())
    }

    /// Milliseconds for one GET, body read whole.
    pub async fn time_get(&self, url: &str, token: &str) -> anyhow::Result<f64> {
        let started = Instant::now();
        let response = self.client.get(url).bearer_auth(token).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    }
}

/// One endpoint under load.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// What was requested.
    pub name: String,
    /// Concurrent connections.
    pub connections: usize,
    /// Seconds the load ran.
    pub seconds: f64,
    /// Requests completed.
    pub requests: usize,
    /// Requests per second.
    pub per_second: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Requests that failed or were not 200.
    pub errors: usize,
}

/// Sends GETs from `connections` concurrent clients for `duration`, each
/// client going round the `urls` from its own starting point (so a mix of
/// endpoints is in flight at every moment). A request counts as an error
/// unless it is a 200 read to its end.
pub async fn run_load(
    name: &str,
    urls: &[String],
    token: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    anyhow::ensure!(!urls.is_empty(), "no URLs to load");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()?;
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let client = client.clone();
            let urls = urls.to_vec();
            let token = token.to_owned();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0usize;
                let mut next = c;
                while Instant::now() < deadline {
                    let url = &urls[next % urls.len()];
                    next += 1;
                    let t = Instant::now();
                    match client.get(url).bearer_auth(&token).send().await {
                        Ok(r) if r.status().is_success() => match r.bytes().await {
                            Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1000.0),
                            Err(_) => errors += 1,
                        },
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        latencies.extend(l);
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok(LoadResult {
        name: name.to_owned(),
        connections,
        seconds,
        requests: latencies.len(),
        per_second: latencies.len() as f64 / seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        errors,
    })
}

/// The NDJSON stream's figures.
pub struct NdjsonRun {
    /// Milliseconds until the last byte.
    pub ms: f64,
    /// Lines received.
    pub lines: u64,
    /// The server's peak resident memory (VmHWM), MiB.
    pub peak_rss_mib: f64,
    /// Its resident memory before the stream, MiB.
    pub base_rss_mib: f64,
}

fn rss_mib(pid: u32, field: &str) -> f64 {
    proc_status_kib(pid, field).map_or(f64::NAN, |kib| kib as f64 / 1024.0)
}

/// Starts `dagtrail serve` on the bench data in its own process, streams
/// every log row as NDJSON, and reads the server's peak RSS.
pub async fn ndjson_in_child(
    exe: &Path,
    data_dir: &Path,
    in_process_run_url: &str,
    company: &Company,
) -> anyhow::Result<NdjsonRun> {
    let secret = bench_secret();
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DAGTRAIL_DATA_DIR", data_dir)
        .env_remove("DAGTRAIL_DATABASE_URL")
        .env_remove("DAGTRAIL_STORE_URL")
        .env("DAGTRAIL_JWT_SECRET", secret.expose())
        .env("DAGTRAIL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start dagtrail serve")?;
    let pid = child.id();
    let mut first = String::new();
    BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut first)?;
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .context("no address printed")?
        .to_owned();
    let path = in_process_run_url
        .split_once("/api/")
        .map(|(_, p)| p)
        .context("bad url")?;
    let url = format!("http://{addr}/api/{path}/phases/extract/logs");
    let token = mint_hs256(&secret, "id_company", company, Duration::from_secs(3600))?;
    let client = reqwest::Client::new();
    // A first small request warms the footers, as for the other scenarios.
    client
        .get(format!("{url}?limit=1"))
        .bearer_auth(&token)
        .send()
        .await?
        .bytes()
        .await?;
    let base_rss_mib = rss_mib(pid, "VmRSS:");
    let started = Instant::now();
    let response = client
        .get(&url)
        .bearer_auth(&token)
        .header("accept", "application/x-ndjson")
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "ndjson: {}",
        response.status()
    );
    let mut lines = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        lines += chunk?.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let peak_rss_mib = rss_mib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    Ok(NdjsonRun {
        ms,
        lines,
        peak_rss_mib,
        base_rss_mib,
    })
}

/// A KiB figure of `pid`'s `/proc/<pid>/status` (Linux): `field` is
/// `"VmRSS:"` (resident now) or `"VmHWM:"` (resident at its peak).
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
