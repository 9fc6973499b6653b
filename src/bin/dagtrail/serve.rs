//! `dagtrail serve`: the read API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use dagtrail::artifacts::writer::WriterOptions;
use dagtrail::auth::token::DEFAULT_COMPANY_CLAIM;
use dagtrail::auth::{JWKS_REFETCH_INTERVAL, KeySource, TokenVerifier, VerifierConfig};
use dagtrail::http::{
    AppState, BodyRate, ConnectionLimits, DEFAULT_BODY_MIN_RATE, DEFAULT_BODY_TIMEOUT_SECS,
    DEFAULT_HEADER_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_DATE_RANGE_DAYS,
    DEFAULT_MAX_PART_BYTES, DEFAULT_MAX_SEARCHES, DEFAULT_MAX_SEARCHES_PER_COMPANY,
    DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_COMPANY, DEFAULT_MAX_WRITES,
    DEFAULT_MAX_WRITES_PER_COMPANY, DEFAULT_REQUEST_DEADLINE_SECS, DEFAULT_STREAM_STALL_SECS,
    DEFAULT_TIMEOUT_SECS, DEFAULT_UPLOAD_DEADLINE_SECS, DEFAULT_WRITE_TIMEOUT_SECS, Deadlines,
    Limits, serve,
};
use dagtrail::read::ReadService;
use dagtrail::record::Recorder;
use dagtrail::runindex::DEFAULT_SEARCH_COUNT_LIMIT;
use dagtrail::settings::{
    DEMO_SECRET_FILE, IngestSettings, Secret, StorageSettings, demo_secret_or_new,
    read_secret_file, redact_url,
};

mod demo;

use demo::{print_try_it, seed_demo};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    storage: StorageSettings,
    /// Address to listen on.
    #[arg(long, env = "DAGTRAIL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// HMAC secret for HS256/384/512 tokens.
    #[arg(long, env = "DAGTRAIL_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<Secret>,
    /// Files each holding an HMAC secret (mounted secrets),
    /// comma-separated, instead of DAGTRAIL_JWT_SECRET: each verifies, so a
    /// rotation lists the new secret's file and the old one's until the
    /// old one's tokens have expired.
    #[arg(long, env = "DAGTRAIL_JWT_SECRET_FILE", conflicts_with = "jwt_secret", value_delimiter = ',', value_parser = read_secret_file)]
    jwt_secret_file: Vec<Secret>,
    /// PEM public keys (RSA, P-256, P-384 or Ed25519): comma-separated
    /// files, each holding one key or more; each verifies, tried in order.
    #[arg(long, env = "DAGTRAIL_JWT_PUBLIC_KEY", value_delimiter = ',')]
    jwt_public_key: Vec<PathBuf>,
    /// JWKS endpoint (keys cached, refetched on an unknown kid); may be
    /// set beside a secret or PEM keys, e.g. while moving to it.
    #[arg(long, env = "DAGTRAIL_JWKS_URL")]
    jwks_url: Option<String>,
    /// Shortest time between two JWKS fetches caused by tokens with an
    /// unknown kid, in seconds.
    #[arg(long, env = "DAGTRAIL_JWKS_REFETCH_SECS", default_value_t = JWKS_REFETCH_INTERVAL.as_secs())]
    jwks_refetch_secs: u64,
    /// Allowed algorithms, comma-separated [default: from the key kind].
    #[arg(long, env = "DAGTRAIL_JWT_ALGORITHMS", value_delimiter = ',')]
    jwt_algorithms: Option<Vec<String>>,
    /// Required `iss`.
    #[arg(long, env = "DAGTRAIL_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Required `aud`.
    #[arg(long, env = "DAGTRAIL_JWT_AUDIENCE")]
    jwt_audience: Option<String>,
    /// Claim that names the company.
    #[arg(long, env = "DAGTRAIL_JWT_COMPANY_CLAIM", default_value = DEFAULT_COMPANY_CLAIM)]
    jwt_company_claim: String,
    /// Longest token lifetime accepted (`exp` - `iat`, e.g. 1h, 12h)
    /// [default: any].
    #[arg(long, env = "DAGTRAIL_JWT_MAX_TTL", value_parser = humantime::parse_duration)]
    jwt_max_ttl: Option<Duration>,
    /// Widest run search, in days.
    #[arg(long, env = "DAGTRAIL_MAX_DATE_RANGE_DAYS", default_value_t = DEFAULT_MAX_DATE_RANGE_DAYS)]
    max_date_range_days: u32,
    /// Matches a run search counts before it reports `total` as a lower
    /// bound (`total_exact: false`); 0 counts them all.
    #[arg(long, env = "DAGTRAIL_SEARCH_COUNT_LIMIT", default_value_t = DEFAULT_SEARCH_COUNT_LIMIT)]
    search_count_limit: u64,
    /// Time limit of one request's work against the stores, in seconds (then 504).
    #[arg(long, env = "DAGTRAIL_TIMEOUT_SECS", default_value_t = DEFAULT_TIMEOUT_SECS)]
    timeout_secs: u64,
    /// Bytes of Parquet footers, attempt metadata and decoded row blocks kept in memory.
    #[arg(long, env = "DAGTRAIL_CACHE_BYTES", default_value_t = 256 * 1024 * 1024)]
    cache_bytes: u64,
    /// NDJSON log streams served at once (more get 503).
    #[arg(long, env = "DAGTRAIL_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS)]
    max_streams: usize,
    /// NDJSON log streams one company may hold at once (more get 503), so
    /// that no company takes every slot.
    #[arg(long, env = "DAGTRAIL_MAX_STREAMS_PER_COMPANY", default_value_t = DEFAULT_MAX_STREAMS_PER_COMPANY)]
    max_streams_per_company: usize,
    /// Seconds an NDJSON stream waits for a client that does not read what
    /// it was sent; then the stream ends and frees its slot.
    #[arg(long, env = "DAGTRAIL_STREAM_STALL_SECS", default_value_t = DEFAULT_STREAM_STALL_SECS)]
    stream_stall_secs: u64,
    /// Deep searches (data keywords, log filters) run at once (more get
    /// 503 with Retry-After).
    #[arg(long, env = "DAGTRAIL_MAX_SEARCHES", default_value_t = DEFAULT_MAX_SEARCHES)]
    max_searches: usize,
    /// Deep searches one company may run at once (more get 503), so that
    /// no company slows every other.
    #[arg(long, env = "DAGTRAIL_MAX_SEARCHES_PER_COMPANY", default_value_t = DEFAULT_MAX_SEARCHES_PER_COMPANY)]
    max_searches_per_company: usize,
    /// Uploads (parts and commits of the write API) run at once (more get
    /// 503 with Retry-After), so that writing never takes every core from
    /// reading.
    #[arg(long, env = "DAGTRAIL_MAX_WRITES", default_value_t = DEFAULT_MAX_WRITES)]
    max_writes: usize,
    /// Uploads one company may run at once (more get 503).
    #[arg(long, env = "DAGTRAIL_MAX_WRITES_PER_COMPANY", default_value_t = DEFAULT_MAX_WRITES_PER_COMPANY)]
    max_writes_per_company: usize,
    /// Bytes of one uploaded part at most (more get 413): split bigger
    /// uploads into parts.
    #[arg(long, env = "DAGTRAIL_MAX_PART_BYTES", default_value_t = DEFAULT_MAX_PART_BYTES)]
    max_part_bytes: u64,
    #[command(flatten)]
    ingest: IngestSettings,
    /// Mark the explorer's session cookie `Secure` always (browsers then
    /// send it over HTTPS only); by default it is when the proxy in front
    /// says the page came over HTTPS (X-Forwarded-Proto, Forwarded).
    #[arg(long, env = "DAGTRAIL_COOKIE_SECURE", default_value_t = false, action = clap::ArgAction::Set)]
    cookie_secure: bool,
    /// Attempts one company may hold open through the write API at once
    /// (more get 429): each is kept until committed, aborted or expired.
    #[arg(long, env = "DAGTRAIL_MAX_OPEN_ATTEMPTS", default_value_t = dagtrail::record::staging::DEFAULT_MAX_OPEN_ATTEMPTS)]
    max_open_attempts: usize,
    /// Parts of one kind (data, errors, logs) an attempt takes at most
    /// (more get 409).
    #[arg(long, env = "DAGTRAIL_MAX_PARTS", default_value_t = dagtrail::record::staging::DEFAULT_MAX_PARTS)]
    max_parts: u32,
    /// Data rows per data_NNN.parquet file of an attempt committed over
    /// the write API (as `dagtrail ingest --rows-per-file`).
    #[arg(long, env = "DAGTRAIL_ROWS_PER_FILE", default_value_t = WriterOptions::default().rows_per_file)]
    rows_per_file: usize,
    /// Compression of the files the write API writes (as `dagtrail ingest
    /// --codec`).
    #[arg(long, env = "DAGTRAIL_CODEC", value_enum, default_value_t = dagtrail::artifacts::writer::Codec::Zstd)]
    codec: dagtrail::artifacts::writer::Codec,
    /// Seconds a connection has to send a request's headers, counted from
    /// its opening or from its previous answer (so also the keep-alive
    /// idle timeout; keep a balancer's idle timeout below it).
    #[arg(long, env = "DAGTRAIL_HEADER_TIMEOUT_SECS", default_value_t = DEFAULT_HEADER_TIMEOUT_SECS)]
    header_timeout_secs: u64,
    /// Seconds an answer's write may wait for a client that does not read
    /// it (one that stopped reading, or pipelines requests and never reads
    /// the answers); then the connection is closed.
    #[arg(long, env = "DAGTRAIL_WRITE_TIMEOUT_SECS", default_value_t = DEFAULT_WRITE_TIMEOUT_SECS)]
    write_timeout_secs: u64,
    /// Seconds a request body has before its rate counts; then it must
    /// keep to DAGTRAIL_BODY_MIN_RATE (its deadline moves a second on for
    /// each so many bytes), else 408 and the connection is closed.
    #[arg(long, env = "DAGTRAIL_BODY_TIMEOUT_SECS", default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    body_timeout_secs: u64,
    /// Bytes a second a request body must keep to after
    /// DAGTRAIL_BODY_TIMEOUT_SECS.
    #[arg(long, env = "DAGTRAIL_BODY_MIN_RATE", default_value_t = DEFAULT_BODY_MIN_RATE)]
    body_min_rate: u64,
    /// Seconds a request may take to its answer (a page, a JSON answer, a
    /// stream's first bytes), uploads aside; then 503 and its work stops.
    #[arg(long, env = "DAGTRAIL_REQUEST_DEADLINE_SECS", default_value_t = DEFAULT_REQUEST_DEADLINE_SECS)]
    request_deadline_secs: u64,
    /// Seconds a part's upload or a commit may take; then 503 and its work
    /// stops (a 1 GiB part must come at 300 KB/s at least by default).
    #[arg(long, env = "DAGTRAIL_UPLOAD_DEADLINE_SECS", default_value_t = DEFAULT_UPLOAD_DEADLINE_SECS)]
    upload_deadline_secs: u64,
    /// Connections open at once; more wait in the listen backlog. Lowered
    /// at start to fit the process's open-file limit.
    #[arg(long, env = "DAGTRAIL_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "DAGTRAIL_SHUTDOWN_GRACE_SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
    /// Show a local store's `file://` URLs in the phase objects'
    /// `s3_data_path`; by default they show the key inside the store, so no
    /// tenant learns a path of the server (S3 URLs are shown as they are).
    #[arg(long, env = "DAGTRAIL_SHOW_FILE_URLS", default_value_t = false, action = clap::ArgAction::Set)]
    show_file_urls: bool,
    /// Take writes (the write API); false answers them 403, so that the
    /// server may run under roles that can only read.
    #[arg(long, env = "DAGTRAIL_WRITE_API", default_value_t = true, action = clap::ArgAction::Set)]
    write_api: bool,
    /// How long an attempt opened through the write API may stay
    /// untouched (no part, resumption or commit) before its staged parts
    /// are deleted, swept every hour (e.g. 7d, 36h; 0s keeps them).
    #[arg(long, env = "DAGTRAIL_STAGED_ATTEMPT_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    staged_attempt_ttl: Duration,
    /// Web origins whose pages may call the API from a browser (CORS), as
    /// `scheme://host[:port]`, comma-separated; none by default.
    #[arg(long, env = "DAGTRAIL_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<dagtrail::http::cors::Origin>,
    /// Try-it-out mode: write demo data when the stores hold none, make up a
    /// signing secret when none is set, and print a token and curl lines.
    #[arg(long)]
    demo: bool,
}

/// The program Parquet parts are decoded by (`dagtrail decode-part`):
/// this one. On Linux, `/proc/self/exe`, which is this process's program
/// even when an upgrade has replaced its file on disk since it started.
fn decoder_program() -> Option<PathBuf> {
    let this = PathBuf::from("/proc/self/exe");
    if this.exists() {
        return Some(this);
    }
    std::env::current_exe()
        .map_err(|e| tracing::warn!(error = %e, "cannot find this program: Parquet parts are decoded in the server's own process"))
        .ok()
}

/// Deletes the write API's staged attempts untouched for `ttl`, every
/// hour from the start (every quarter of a TTL under four hours, at most
/// every second). Every server of a store taking writes sweeps: a
/// deletion is idempotent, and a sweep with nothing to expire is a
/// delimited listing of the staging folder and of each company's.
async fn expire_staged_attempts(recorder: Recorder, ttl: Duration) {
    let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(before) = chrono::TimeDelta::from_std(ttl)
            .ok()
            .and_then(|ttl| chrono::Utc::now().checked_sub_signed(ttl))
        else {
            tracing::warn!(
                "DAGTRAIL_STAGED_ATTEMPT_TTL reaches before the calendar: nothing is swept"
            );
            return;
        };
        match recorder.expire_staged(before).await {
            Ok(expired) if expired.attempts + expired.failed > 0 => tracing::info!(
                attempts = expired.attempts,
                bytes = expired.bytes,
                failed = expired.failed,
                "deleted staged attempts untouched for DAGTRAIL_STAGED_ATTEMPT_TTL"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(
                error = %error,
                "cannot delete staged attempts past DAGTRAIL_STAGED_ATTEMPT_TTL; the next sweep tries again"
            ),
        }
    }
}

/// Every verification key configured: the secret(s), the PEM files, the
/// JWKS, in that order (several at once for a rotation's overlap).
fn verifier(args: &ServeArgs, secrets: Vec<Secret>) -> anyhow::Result<TokenVerifier> {
    let mut sources: Vec<KeySource> = secrets.into_iter().map(KeySource::Secret).collect();
    sources.extend(
        args.jwt_public_key
            .iter()
            .map(|p| KeySource::PublicKeyFile(p.clone())),
    );
    sources.extend(args.jwks_url.clone().map(KeySource::JwksUrl));
    if sources.is_empty() {
        bail!(
            "no way to verify tokens: set DAGTRAIL_JWT_SECRET, DAGTRAIL_JWT_PUBLIC_KEY or DAGTRAIL_JWKS_URL"
        );
    }
    Ok(TokenVerifier::new(VerifierConfig {
        sources,
        algorithms: args.jwt_algorithms.clone(),
        issuer: args.jwt_issuer.clone(),
        audience: args.jwt_audience.clone(),
        company_claim: args.jwt_company_claim.clone(),
        jwks_refetch_interval: Duration::from_secs(args.jwks_refetch_secs),
    })?
    .with_max_ttl(args.jwt_max_ttl))
}

/// File descriptors kept for what is not a client connection: the run
/// index's pool, the store's connections, Parquet files, logs.
const RESERVED_FILES: u64 = 128;

/// `wanted` connections, or fewer when the open-file limit cannot hold them
/// beside [`RESERVED_FILES`]: a server that runs out of descriptors can
/// neither accept nor reach its stores. The soft limit is raised to the
/// hard one first (as Go's runtime does), since the usual soft default of
/// 1,024 is a relic of `select`, which nothing here uses.
fn fit_connections(wanted: usize) -> usize {
    // When the limit cannot be raised, the cap must still fit it.
    let files = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft));
    let Ok(files) = files else {
        return wanted;
    };
    let room = usize::try_from(files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
    if wanted > room {
        let fitted = room.max(1);
        tracing::warn!(
            wanted,
            fitted,
            open_file_limit = files,
            "DAGTRAIL_MAX_CONNECTIONS lowered to fit the open-file limit (raise `ulimit -n` or LimitNOFILE)"
        );
        fitted
    } else {
        wanted
    }
}

/// The next SIGINT (Ctrl-C) or SIGTERM, as the exit code a process ended
/// by it has (128 + the signal's number).
async fn next_signal() -> i32 {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        130
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                143
            }
            Err(_) => std::future::pending::<i32>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<i32>();
    tokio::select! {
        code = ctrl_c => code,
        code = term => code,
    }
}

/// Resolves at the first SIGINT or SIGTERM, which starts the graceful
/// shutdown; a second one ends the process at once, with the exit code of
/// that signal, whatever is still in flight.
async fn shutdown_signal() {
    next_signal().await;
    tracing::info!(
        "shutting down: finishing in-flight requests (Ctrl-C or SIGTERM again ends at once)"
    );
    tokio::spawn(async {
        let code = next_signal().await;
        tracing::warn!(
            code,
            "second signal: exiting without waiting for in-flight requests"
        );
        std::process::exit(code);
    });
}

pub async fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    let mut secrets: Vec<Secret> = match &args.jwt_secret {
        Some(secret) => vec![secret.clone()],
        None => args.jwt_secret_file.clone(),
    };
    if args.demo && secrets.is_empty() && args.jwt_public_key.is_empty() && args.jwks_url.is_none()
    {
        let data_dir = &args.storage.data_dir;
        secrets.push(demo_secret_or_new(data_dir).with_context(|| {
            format!(
                "cannot keep the demo signing secret in {}",
                data_dir.display()
            )
        })?);
        eprintln!(
            "no DAGTRAIL_JWT_SECRET set: --demo signs with the secret kept in {} (`dagtrail token` finds it there)",
            data_dir.join(DEMO_SECRET_FILE).display()
        );
    }
    // The demo's curl lines are signed with the first secret.
    let secret = secrets.first().cloned();
    let verifier = verifier(&args, secrets)?;
    let timeout = Duration::from_secs(args.timeout_secs.max(1));
    args.storage.acquire_timeout = Some((timeout / 2).min(Duration::from_secs(5)));
    let storage = args
        .storage
        .open()
        .await
        .context("cannot open the stores")?;
    let demo_dag = if args.demo {
        seed_demo(&storage).await?
    } else {
        None
    };
    let reads = ReadService::new(
        storage.index.clone(),
        storage.store.clone(),
        args.cache_bytes,
    )
    .with_file_urls_shown(args.show_file_urls);
    // Asked now, so that the first request does not wait for it (and
    // whether the store folds case is known before any tenant reads).
    match reads.store().is_marked().await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            store = %storage.store.base_url(),
            "the artifact store holds no dagtrail marker: /readyz fails until `dagtrail migrate` (or a writer) marks it"
        ),
        Err(error) => tracing::warn!(error = %error, "cannot reach the artifact store yet"),
    }
    if args.write_timeout_secs < args.stream_stall_secs {
        tracing::warn!(
            write_timeout_secs = args.write_timeout_secs,
            stream_stall_secs = args.stream_stall_secs,
            "a client that stalls an NDJSON stream loses its connection after DAGTRAIL_WRITE_TIMEOUT_SECS, before DAGTRAIL_STREAM_STALL_SECS: raise both"
        );
    }
    if args.request_deadline_secs <= args.timeout_secs {
        tracing::warn!(
            request_deadline_secs = args.request_deadline_secs,
            timeout_secs = args.timeout_secs,
            "DAGTRAIL_REQUEST_DEADLINE_SECS is not above DAGTRAIL_TIMEOUT_SECS: a slow store answers 503 (the deadline) before 504"
        );
    }
    let limits = Limits {
        max_date_range_days: args.max_date_range_days,
        timeout,
        max_streams: args.max_streams,
        max_streams_per_company: args.max_streams_per_company,
        stream_stall: Duration::from_secs(args.stream_stall_secs.max(1)),
        max_searches: args.max_searches,
        max_searches_per_company: args.max_searches_per_company,
        search_count_limit: Some(args.search_count_limit).filter(|n| *n > 0),
        max_writes: args.max_writes,
        max_writes_per_company: args.max_writes_per_company,
        max_part_bytes: args.max_part_bytes,
        // Parquet parts are decoded by this program in a process of its
        // own, under a memory limit (`decode-part`).
        ingest: args.ingest.limits(decoder_program()),
        body_rate: BodyRate {
            grace: Duration::from_secs(args.body_timeout_secs.max(1)),
            min_rate: args.body_min_rate,
        },
        deadlines: Deadlines {
            request: Duration::from_secs(args.request_deadline_secs.max(1)),
            upload: Duration::from_secs(args.upload_deadline_secs.max(1)),
        },
    };
    if !args.cors_origins.is_empty() {
        let origins: Vec<String> = args.cors_origins.iter().map(ToString::to_string).collect();
        tracing::info!(origins = %origins.join(","), "the API answers browsers on these origins (CORS)");
    }
    let recorder = Recorder::new(
        Arc::clone(reads.run_index()),
        reads.store().clone(),
        WriterOptions {
            rows_per_file: args.rows_per_file.max(1),
            codec: args.codec,
            ..WriterOptions::default()
        },
    )
    .with_staging_limits(dagtrail::record::staging::StagingLimits {
        max_open_attempts: args.max_open_attempts.max(1),
        max_parts: args.max_parts.max(1),
    });
    let state = AppState::new(reads, recorder, verifier, limits)
        .with_cors_origins(args.cors_origins)
        .with_write_api(args.write_api)
        .with_cookie_secure(args.cookie_secure);
    // A server that takes no writes may not be allowed to delete either.
    if args.write_api && !args.staged_attempt_ttl.is_zero() {
        tokio::spawn(expire_staged_attempts(
            state.recorder.clone(),
            args.staged_attempt_ttl,
        ));
    }
    let app = dagtrail::app::router(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, index = %redact_url(&args.storage.database_url()), store = %storage.store.base_url(), "listening");
    if let (Some((company, dag)), Some(secret)) = (demo_dag, &secret) {
        print_try_it(
            &storage,
            addr,
            secret,
            &args.jwt_company_claim,
            &company,
            dag,
        )
        .await?;
    } else {
        println!("dagtrail listening on http://{addr} (docs at http://{addr}/docs)");
    }
    serve(
        listener,
        app,
        shutdown_signal(),
        Duration::from_secs(args.shutdown_grace_secs),
        ConnectionLimits {
            header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
            max_connections: fit_connections(args.max_connections),
            write_timeout: Duration::from_secs(args.write_timeout_secs.max(1)),
        },
    )
    .await?;
    Ok(())
}
