//! The `dagtrail` command: parses the command line and dispatches to one
//! subcommand module. Everything else lives in the library.

mod bench;
mod demo;
mod ingest;
mod ingest_event;
mod load;
mod migrate;
mod serve;
mod token;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// See into your ETL pipelines: record runs, browse them, serve the read API.
#[derive(Debug, Parser)]
#[command(name = "dagtrail", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure the read paths side by side with DuckDB.
    Bench(bench::BenchArgs),
    /// Fill the configured stores with realistic demo runs.
    Demo(demo::DemoArgs),
    /// Load a running server with a mix of every endpoint; watch its memory.
    Load(load::LoadArgs),
    /// Record one phase attempt from NDJSON, CSV or Parquet files.
    Ingest(ingest::IngestArgs),
    /// Record a run's event (queue_data and event files).
    IngestEvent(ingest_event::IngestEventArgs),
    /// Create the run index's table and indexes, then exit.
    Migrate(migrate::MigrateArgs),
    /// Serve the read API.
    Serve(serve::ServeArgs),
    /// Print a signed token for local use.
    Token(token::TokenArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server logs a line per request; the other commands only warnings
    // (the bench also runs a server, whose request lines would drown it).
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        _ => "warn,sqlx::query=error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("DAGTRAIL_LOG")
                .unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Bench(args) => bench::run_bench(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Load(args) => load::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::IngestEvent(args) => ingest_event::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Token(args) => token::run(args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
