//! `dagtrail-bench compare`: ours and the original stack (FastAPI + DuckDB,
//! `bench/original_stack.py`) over HTTP on the same files, side by side
//! (issue 16's table). Both servers run already (`bench/compare.sh`
//! starts them); this measures and prints the report.

use anyhow::Context;
use clap::Args;
use dagtrail_bench::compare::{Scenario, Side, latencies, markdown, throughput};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Our server's base URL.
    #[arg(long)]
    ours: String,
    /// Our server's process id (its CPU time is read from /proc).
    #[arg(long)]
    ours_pid: u32,
    /// The original stack's base URL.
    #[arg(long)]
    original: String,
    /// The original stack's process id (its workers are its children).
    #[arg(long)]
    original_pid: u32,
    /// A bearer token both accept.
    #[arg(long, env = "DAGTRAIL_TOKEN", hide_env_values = true)]
    token: String,
    /// The run's path: `/api/v1/dags/{dag_id}/runs/{date}/{run_id}`.
    #[arg(long)]
    run_path: String,
    /// A data keyword with few matches (about ten).
    #[arg(long, default_value = "123456")]
    rare_keyword: String,
    /// A log keyword.
    #[arg(long, default_value = "rejected")]
    log_keyword: String,
    /// Requests per scenario and side.
    #[arg(long, default_value_t = 15)]
    reps: usize,
    /// Seconds of each load.
    #[arg(long, default_value_t = 10)]
    load_secs: u64,
    /// Connections of each load.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// The report's title (the data set).
    #[arg(long, default_value = "ours vs the original stack")]
    title: String,
    /// Append the report to this file as well as printing it.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

fn scenario(name: &str, path: String, target: &str) -> Scenario {
    Scenario {
        name: name.to_owned(),
        path,
        target: target.to_owned(),
    }
}

/// `text` as a query value.
fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    let ours = Side {
        url: args.ours.trim_end_matches('/').to_owned(),
        pid: args.ours_pid,
    };
    let original = Side {
        url: args.original.trim_end_matches('/').to_owned(),
        pid: args.original_pid,
    };
    let data = "/phases/extract/data";
    let logs = "/phases/extract/logs";
    let scenarios = [
        scenario(
            "data page 0, limit 50",
            format!("{data}?page=0&limit=50"),
            "≤ 0.2",
        ),
        // Each request a page of rows no request read before (see
        // `Scenario::path`): what the first look at rows costs.
        scenario(
            "data page of rows not read before",
            format!("{data}?page={{page}}&limit=50"),
            "≤ 0.2",
        ),
        scenario(
            "data page at offset 900,500",
            format!("{data}?page=18010&limit=50"),
            "≤ 0.1",
        ),
        // Rows 99,984-100,031: the end of the first file and the start of
        // the second.
        scenario(
            "data page across a file boundary",
            format!("{data}?page=2083&limit=48"),
            "≤ 0.15",
        ),
        scenario(
            "logs level=ERROR page 0",
            format!("{logs}?level=ERROR&page=0&limit=50"),
            "≤ 0.2",
        ),
        scenario(
            "logs keyword page 0",
            format!(
                "{logs}?keyword={}&page=0&limit=50",
                query_value(&args.log_keyword)
            ),
            "≤ 0.2",
        ),
        scenario(
            "data keyword, rare",
            format!(
                "{data}?keyword={}&page=0&limit=50",
                query_value(&args.rare_keyword)
            ),
            "≤ 0.1 (our writer's files), ≤ 0.2 (foreign)",
        ),
    ];
    let compared = latencies(
        &ours,
        &original,
        &args.run_path,
        &args.token,
        &scenarios,
        args.reps,
    )
    .await?;
    let mut loads = Vec::new();
    for (name, path) in [
        ("data page 0", format!("{data}?page=0&limit=50")),
        ("run summary", String::new()),
    ] {
        loads.push(
            throughput(
                &ours,
                &original,
                &args.run_path,
                &args.token,
                (name, &path, "≥ 10×"),
                args.connections,
                args.load_secs,
            )
            .await?,
        );
    }
    let report = markdown(&args.title, &compared, &loads);
    println!("{report}");
    if let Some(out) = &args.out {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .with_context(|| format!("cannot open {}", out.display()))?;
        writeln!(file, "{report}")?;
    }
    Ok(())
}
