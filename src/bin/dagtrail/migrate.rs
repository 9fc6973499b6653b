//! `dagtrail migrate`: bring the run index's schema to this version, and
//! mark the artifact store as dagtrail's (what `/readyz` looks for).

use anyhow::Context;
use clap::Args;
use dagtrail::settings::StorageSettings;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    storage: StorageSettings,
    /// Rebuild the fleet view's tables (GET /dags, the calendar) from the
    /// runs: after runs were written by a dagtrail older than the schema's
    /// version 2 (a rolling upgrade's old writers), whose writes did not
    /// keep them. Writers wait while it runs.
    #[arg(long)]
    rebuild_fleet: bool,
}

pub fn url_note(storage: &StorageSettings) -> String {
    dagtrail::settings::redact_url(&storage.database_url())
}

pub async fn run(mut args: MigrateArgs) -> anyhow::Result<()> {
    args.storage.migrate = true;
    // Drawn only while a long step (the text index) runs; on a terminal.
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {human_pos}/{human_len} runs, {per_sec}, {eta} left",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let storage = args
        .storage
        .open_reporting(&progress)
        .await
        .context("cannot migrate the run index")?;
    progress.finish_and_clear();
    storage
        .index
        .ping()
        .await
        .context("the run index does not answer")?;
    if args.rebuild_fleet {
        eprintln!("rebuilding the fleet tables from the runs (writers wait)...");
        storage
            .index
            .rebuild_fleet()
            .await
            .context("cannot rebuild the fleet tables")?;
    }
    storage
        .store
        .mark()
        .await
        .with_context(|| format!("cannot write the marker of {}", storage.store.base_url()))?;
    println!(
        "run index ready ({} at {}); artifact store marked ({})",
        storage.index.backend(),
        url_note(&args.storage),
        storage.store.base_url()
    );
    Ok(())
}
