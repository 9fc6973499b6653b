//! `dagtrail-bench load`: a mix of every JSON endpoint and every page of the
//! run explorer against a running server, with its memory watched; fails on
//! any error or on memory growth.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use dagtrail_bench::soak::{endpoint_mix, load_watching, ui_mix};

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A bearer token of the company whose DAG is loaded.
    #[arg(long, env = "DAGTRAIL_TOKEN", hide_env_values = true)]
    token: String,
    /// The DAG whose newest run the endpoints are asked about.
    #[arg(long)]
    dag: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// How long the load runs, in seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The server's process id, to watch its resident memory.
    #[arg(long)]
    pid: Option<u32>,
    /// With --pid: fail when the median memory of the last fifth of the run
    /// is more than this many percent above that of the second fifth (the
    /// first is warm-up: caches filling, pools growing).
    #[arg(long)]
    max_growth_pct: Option<f64>,
    /// What is requested: the JSON API's endpoints, the run explorer's
    /// pages, or both at once.
    #[arg(long, value_enum, default_value_t = Mix::Both)]
    mix: Mix,
}

/// A load's requests.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Mix {
    /// Every JSON endpoint (`/api/v1`).
    Api,
    /// Every page of the run explorer (HTML).
    Ui,
    /// Both, interleaved.
    Both,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/');
    let mut urls = Vec::new();
    if matches!(args.mix, Mix::Api | Mix::Both) {
        urls.extend(endpoint_mix(base, &args.token, &args.dag).await?);
    }
    if matches!(args.mix, Mix::Ui | Mix::Both) {
        urls.extend(ui_mix(base, &args.token, &args.dag).await?);
    }
    eprintln!(
        "load: {} URLs ({:?} mix), {} connections, {} s",
        urls.len(),
        args.mix,
        args.connections,
        args.seconds
    );
    let (result, memory) = load_watching(
        &urls,
        &args.token,
        args.connections,
        Duration::from_secs(args.seconds),
        args.pid,
    )
    .await?;
    println!(
        "requests {}  req/s {:.0}  p50 {:.1} ms  p99 {:.1} ms  errors {}",
        result.requests, result.per_second, result.p50_ms, result.p99_ms, result.errors
    );
    let mut growth = None;
    if args.pid.is_some() {
        let t = result.seconds;
        let early = memory
            .median_kib(t * 0.2, t * 0.4)
            .context("too few memory samples: run longer")?;
        let late = memory
            .median_kib(t * 0.8, t + 1.0)
            .context("too few memory samples: run longer")?;
        let pct = (late as f64 - early as f64) * 100.0 / early as f64;
        println!(
            "server memory: peak {:.1} MiB, median {:.1} MiB after warm-up, {:.1} MiB at the end ({pct:+.1}%)",
            memory.peak_kib() as f64 / 1024.0,
            early as f64 / 1024.0,
            late as f64 / 1024.0,
        );
        growth = Some(pct);
    }
    if result.errors > 0 {
        bail!("{} requests failed", result.errors);
    }
    if let (Some(limit), Some(pct)) = (args.max_growth_pct, growth)
        && pct > limit
    {
        bail!("server memory grew {pct:.1}% (limit {limit}%)");
    }
    Ok(())
}
