//! The `dagtrail` command: parses the command line and dispatches to one
//! subcommand module. Everything else lives in the library.

mod decode_part;
mod demo;
mod ingest;
mod ingest_event;
mod migrate;
mod reconcile;
mod serve;
mod settings_table;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// jemalloc, not the system's allocator: with glibc's, the memory of a
/// large request stayed with the process once the request ended (4 GB of
/// one tenant's events, measured: per-thread arenas are never trimmed),
/// where jemalloc's background threads return freed pages to the system
/// within seconds (docs/RELIABILITY.md, "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// See into your ETL pipelines: record runs, browse them, serve the read API.
#[derive(Debug, Parser)]
#[command(name = "dagtrail", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fill the configured stores with realistic demo runs.
    Demo(demo::DemoArgs),
    /// Record one phase attempt from NDJSON, CSV or Parquet files.
    Ingest(ingest::IngestArgs),
    /// Record a run's event (queue_data and event files).
    IngestEvent(ingest_event::IngestEventArgs),
    /// Bring the run index's schema to this version, then exit.
    Migrate(migrate::MigrateArgs),
    /// Record committed attempts the run index misses; report the reverse.
    Reconcile(reconcile::ReconcileArgs),
    /// Serve the read API.
    Serve(serve::ServeArgs),
    /// Print a signed token for local use.
    Token(token::TokenArgs),
    /// Decode one Parquet part for `serve`, under its memory limit.
    #[command(hide = true)]
    DecodePart(decode_part::DecodePartArgs),
}

/// How the log lines are written (`DAGTRAIL_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// One line of text per event; colours only on a terminal.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

fn init_logs(command: &Command) -> anyhow::Result<()> {
    use std::io::IsTerminal as _;
    // The server logs a line per request; the other commands only warnings.
    let default_level = match command {
        Command::Serve(_) => "info",
        _ => "warn,sqlx::query=error",
    };
    let filter =
        EnvFilter::try_from_env("DAGTRAIL_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let format = match std::env::var("DAGTRAIL_LOG_FORMAT") {
        Ok(name) => <LogFormat as clap::ValueEnum>::from_str(&name, true)
            .map_err(|_| anyhow::anyhow!("DAGTRAIL_LOG_FORMAT is {name:?}: use text or json"))?,
        Err(_) => LogFormat::Text,
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    init_logs(&cli.command)?;
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Ingest(args) => ingest::run(args).await,
        Command::IngestEvent(args) => ingest_event::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Reconcile(args) => reconcile::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Token(args) => token::run(args),
        // Run before any runtime (see `main`).
        Command::DecodePart(_) => Ok(()),
    }
}

/// An error and its causes on one line, joined by `: `, leaving out a
/// cause whose text the line already holds (many errors print their
/// source within their own message).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

/// A failure of a command (bad input, a store that does not answer) is the
/// user's to act on: one line, its causes joined, and exit code 1, never a
/// backtrace (even with `RUST_BACKTRACE` set). A bug still panics, and the
/// panic shows its backtrace as usual.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // The Parquet decoder runs on this thread alone, without a runtime
        // or logs: its memory limit counts every thread's stack, and its
        // stderr carries its refusal only.
        Command::DecodePart(args) => decode_part::run(args),
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(run(Cli { command }))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn errors_print_on_one_line_without_repeating_causes() {
        let inner = std::io::Error::other("no such table: etl_logs");
        let outer = anyhow::Error::new(inner)
            .context("run index query failed: no such table: etl_logs")
            .context("cannot write the demo data");
        assert_eq!(
            super::one_line(&outer),
            "cannot write the demo data: run index query failed: no such table: etl_logs"
        );
        let multi = anyhow::anyhow!("first line\nsecond line");
        assert_eq!(super::one_line(&multi), "first line second line");
    }
}
