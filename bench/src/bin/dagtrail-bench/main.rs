//! `dagtrail-bench`: the benchmark harness and the load generator (see
//! docs/PERFORMANCE.md and docs/RELIABILITY.md).

mod compare;
mod load;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Measure dagtrail: its read paths beside DuckDB's, and a running server
/// under load.
#[derive(Debug, Parser)]
#[command(name = "dagtrail-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the read paths side by side with DuckDB.
    Run(run::BenchArgs),
    /// Load a running server with a mix of every endpoint; watch its memory.
    Load(load::LoadArgs),
    /// Compare ours with the original stack (FastAPI + DuckDB) over HTTP.
    Compare(compare::CompareArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings only: the harness also runs a server, whose request lines
    // would drown the report.
    let filter = EnvFilter::try_from_env("DAGTRAIL_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,sqlx::query=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run::run_bench(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Compare(args) => compare::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
