//! `dagtrail serve --demo`: the sample data written on first start, and
//! the lines printed to try it (tokens, curl commands, the explorer).

use std::net::SocketAddr;
use std::time::Duration;

use dagtrail::artifacts::writer::WriterOptions;
use dagtrail::auth::token::mint_hs256;
use dagtrail::demo::{DemoOptions, already_written, company_name, first_dag, generate};
use dagtrail::http::params::run_path;
use dagtrail::model::Phase;
use dagtrail::record::Recorder;
use dagtrail::runindex::{RunSearch, StatusFilter};
use dagtrail::settings::{Secret, Storage};
use indicatif::ProgressBar;

/// Seeds the stores with the demo when empty; returns where to look.
pub(super) async fn seed_demo(
    storage: &Storage,
) -> anyhow::Result<Option<(dagtrail::model::Company, dagtrail::model::DagId)>> {
    let options = DemoOptions::small(chrono::Utc::now().date_naive());
    let recorder = Recorder::new(
        storage.index.clone(),
        storage.store.clone(),
        WriterOptions::default(),
    );
    if !already_written(&recorder, &options).await? {
        eprintln!("writing demo data (first start only)...");
        let summary = generate(&recorder, &options, &ProgressBar::new(0)).await?;
        eprintln!(
            "wrote {} runs with {} data rows",
            summary.runs, summary.data_rows
        );
    }
    Ok(first_dag(&options)?)
}

pub(super) async fn print_try_it(
    storage: &Storage,
    addr: SocketAddr,
    secret: &Secret,
    claim: &str,
    company: &dagtrail::model::Company,
    dag: dagtrail::model::DagId,
) -> anyhow::Result<()> {
    let token = mint_hs256(secret, claim, company, Duration::from_secs(12 * 3600))?;
    let write_token = dagtrail::auth::token::mint(
        &dagtrail::auth::token::Signer::hs256(secret)?,
        claim,
        company,
        Duration::from_secs(12 * 3600),
        &dagtrail::auth::token::ExtraClaims {
            scopes: vec![dagtrail::auth::RUNS_WRITE.to_owned()],
            ..Default::default()
        },
    )?;
    let today = chrono::Utc::now().date_naive();
    let demo_companies: Vec<String> = (0..DemoOptions::small(today).companies)
        .map(company_name)
        .collect();
    let mut search = RunSearch::new(today - chrono::Duration::days(60), today);
    search.statuses = vec![(Phase::Extract, StatusFilter::Success)];
    let runs = storage.index.search_runs(company, &[dag], &search).await?;
    let base = format!("http://{addr}/api/v1");
    println!();
    println!(
        "dagtrail is serving {} (company {company}) at http://{addr}",
        dag
    );
    println!("  explorer: http://{addr}/   (open it and sign in with the token below)");
    println!("  docs:    http://{addr}/docs");
    println!("  token:   export TOKEN={token}");
    println!(
        "  writer:  export WRITE_TOKEN={write_token}   (scope {}: records runs)",
        dagtrail::auth::RUNS_WRITE
    );
    println!(
        "  others:  dagtrail token --company <company> --ttl 12h   (demo companies: {})",
        demo_companies.join(", ")
    );
    println!();
    println!("curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/dags'");
    println!("curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/dags/{dag}/calendar'");
    println!(
        "curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/dags/{dag}/runs?date_from={}&date_to={today}'",
        today - chrono::Duration::days(30)
    );
    if let Some(run) = runs.items.first() {
        let run_url = format!("{base}{}", run_path(&dag, &run.date, &run.run_id));
        println!("curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}'");
        println!("curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}/event'");
        println!("curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}/phases/extract'");
        println!(
            "curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}/phases/extract/data?limit=5'"
        );
        println!(
            "curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}/phases/extract/data?keyword=m%C3%BCnchen&limit=5'"
        );
        println!(
            "curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}/phases/extract/errors?limit=5'"
        );
        println!(
            "curl -s -H \"Authorization: Bearer $TOKEN\" '{run_url}/phases/extract/logs?level=ERROR,CRITICAL&limit=5'"
        );
        println!(
            "curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Accept: application/x-ndjson' '{run_url}/phases/extract/logs?keyword=slow'"
        );
    }
    let attempts = format!("{base}/dags/{dag}/runs/{today}/manual__tried/phases/extract/attempts");
    println!();
    println!("# record a run: open an attempt, upload a part, commit");
    println!("curl -s -X POST -H \"Authorization: Bearer $WRITE_TOKEN\" '{attempts}'");
    println!(
        "printf '{{\"order_id\": 1, \"customer\": \"Zoë\"}}\\n' | curl -s -X PUT -H \"Authorization: Bearer $WRITE_TOKEN\" -H 'Content-Type: application/x-ndjson' --data-binary @- '{attempts}/1/data/1'"
    );
    println!(
        "curl -s -X POST -H \"Authorization: Bearer $WRITE_TOKEN\" -H 'Content-Type: application/json' -d '{{\"message\": \"extracted 1 order\"}}' '{attempts}/1/commit'"
    );
    println!();
    Ok(())
}
