//! `dagtrail migrate`: bring the run index's schema to this version, and
//! mark the artifact store as dagtrail's (what `/readyz` looks for).

use anyhow::Context;
use clap::Args;
use dagtrail::settings::StorageSettings;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    storage: StorageSettings,
}

pub fn url_note(storage: &StorageSettings) -> String {
    dagtrail::settings::redact_url(&storage.database_url())
}

pub async fn run(mut args: MigrateArgs) -> anyhow::Result<()> {
    args.storage.migrate = true;
    let storage = args
        .storage
        .open()
        .await
        .context("cannot migrate the run index")?;
    storage
        .index
        .ping()
        .await
        .context("the run index does not answer")?;
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
