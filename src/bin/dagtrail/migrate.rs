//! `dagtrail migrate`: create the run index's table and indexes.

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
    println!(
        "run index ready ({} at {})",
        storage.index.backend(),
        url_note(&args.storage)
    );
    Ok(())
}
