//! `dagtrail decode-part` (hidden): the process `serve` starts to decode
//! one uploaded Parquet part under a memory limit
//! (`dagtrail::ingest::decoder`). Not for people: its input is a file on
//! stdin, its output an Arrow IPC stream on stdout.

use std::io::Write;
use std::os::fd::AsFd;

use anyhow::Context;
use clap::Args;
use dagtrail::ingest::IngestLimits;

#[derive(Debug, Args)]
pub struct DecodePartArgs {
    /// The limits, as JSON (`IngestLimits`).
    #[arg(long)]
    limits: String,
}

pub fn run(args: DecodePartArgs) -> anyhow::Result<()> {
    let limits: IngestLimits = serde_json::from_str(&args.limits).context("reading --limits")?;
    // Parquet is read from its end: stdin must be the spooled file itself.
    let input = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("taking stdin")?;
    let stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let result =
        dagtrail::ingest::decoder::decode_parquet(input.into(), stdout, &mut stderr, &limits);
    let _ = stderr.flush();
    // The refusal is on stderr already, as the server reads it.
    if result.is_err() {
        std::process::exit(3);
    }
    Ok(())
}
