//! `dagtrail reconcile`: find committed attempts the run index does not
//! record (a failure after the commit, docs/RELIABILITY.md) and record
//! them; report run-index records whose files are gone.

use anyhow::{Context, bail};
use clap::Args;
use dagtrail::artifacts::writer::WriterOptions;
use dagtrail::model::Company;
use dagtrail::read::ReadService;
use dagtrail::reconcile::{Finding, Reconciler};
use dagtrail::record::Recorder;
use dagtrail::settings::StorageSettings;
use indicatif::ProgressBar;

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    storage: StorageSettings,
    /// Only this company's runs [default: every company in the store].
    #[arg(long)]
    company: Option<Company>,
    /// Report what disagrees; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Fails (exit status 1) when the store and the run index still disagree
/// at the end (after the repairs, unless `--dry-run`), so that a scheduled
/// run can alert.
pub async fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    let storage = args
        .storage
        .open()
        .await
        .context("cannot open the stores")?;
    let reads = ReadService::new(storage.index.clone(), storage.store.clone(), 64 << 20);
    let recorder = Recorder::new(storage.index, storage.store, WriterOptions::default());
    let reconciler = Reconciler::new(reads, recorder);
    let spinner = ProgressBar::new_spinner();
    let findings = reconciler
        .scan(args.company.as_ref(), |listed| {
            spinner.set_message(format!("{listed} objects listed"));
            spinner.tick();
        })
        .await
        .context("cannot compare the store with the run index")?;
    spinner.finish_and_clear();
    for finding in &findings {
        println!("{finding}");
    }
    let repairable = findings
        .iter()
        .filter(|f| matches!(f, Finding::Unrecorded { .. }))
        .count();
    if findings.is_empty() {
        println!("the store and the run index agree");
        return Ok(());
    }
    if args.dry_run {
        bail!(
            "{} disagreements, {repairable} of which `dagtrail reconcile` (without --dry-run) records",
            findings.len()
        );
    }
    let repaired = reconciler
        .repair(&findings)
        .await
        .context("cannot record a committed attempt")?;
    println!("recorded {repaired} committed attempts in the run index");
    let left = findings.len() - repairable;
    if left > 0 {
        bail!("{left} disagreements need a person (see above)");
    }
    Ok(())
}
