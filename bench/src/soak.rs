//! Load against a running server, over HTTP only: a mix of every JSON
//! endpoint found through the API itself, with the server's memory watched
//! (for the load test and the soak in `scripts/load`).

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Days, Utc};
use serde_json::Value;

use super::load::{LoadResult, proc_status_kib, run_load};
use dagtrail::http::params::url_path_segment;

/// The newest run of `dag` in the last 365 days, found through the API:
/// the search's URL, the run's date and its `run_id` (path-encoded).
async fn newest_run(
    base: &str,
    token: &str,
    dag: &str,
) -> anyhow::Result<(String, String, String)> {
    let today = Utc::now().date_naive();
    let from = today.checked_sub_days(Days::new(365)).unwrap_or(today);
    let search = format!("{base}/api/v1/dags/{dag}/runs?date_from={from}&date_to={today}");
    let client = reqwest::Client::new();
    let found = client
        .get(&search)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("GET {search}"))?
        .error_for_status()
        .with_context(|| format!("GET {search}"))?
        .bytes()
        .await?;
    let found: Value = serde_json::from_slice(&found)?;
    let first = found["items"]
        .get(0)
        .with_context(|| format!("no runs of DAG {dag} in the last 365 days"))?;
    let date = first["date"].as_str().context("a run without a date")?;
    let run_id = first["run_id"].as_str().context("a run without a run_id")?;
    Ok((search, date.to_owned(), url_path_segment(run_id)))
}

/// The endpoint mix for one DAG: the run search (plain and by keyword), and
/// for its newest run the summary, event, phase, data pages (first, deeper,
/// by keyword), errors and filtered logs.
pub async fn endpoint_mix(base: &str, token: &str, dag: &str) -> anyhow::Result<Vec<String>> {
    let (search, date, run_id) = newest_run(base, token, dag).await?;
    let run = format!("{base}/api/v1/dags/{dag}/runs/{date}/{run_id}");
    Ok(vec![
        search.clone(),
        format!("{search}&extract_keyword=error&limit=50"),
        run.clone(),
        format!("{run}/event"),
        format!("{run}/phases/extract"),
        format!("{run}/phases/extract/data?limit=50"),
        format!("{run}/phases/extract/data?page=3&limit=100"),
        format!("{run}/phases/extract/data?keyword=a&limit=20"),
        format!("{run}/phases/extract/errors?limit=50"),
        format!("{run}/phases/extract/logs?level=ERROR,WARNING&limit=50"),
    ])
}

/// The run explorer's pages for the same DAG (issue 14), read with the
/// bearer token as a single sign-on proxy would send it: the fleet board,
/// the DAG's runs (plain, by status, by keyword), and for its newest run
/// the run page and each tab of its extract phase (data first and deeper,
/// by keyword, errors, logs by level).
pub async fn ui_mix(base: &str, token: &str, dag: &str) -> anyhow::Result<Vec<String>> {
    let (_, date, run_id) = newest_run(base, token, dag).await?;
    let runs = format!("{base}/dags/{dag}");
    let run = format!("{runs}/runs/{date}/{run_id}");
    Ok(vec![
        format!("{base}/"),
        runs.clone(),
        format!("{runs}?status=failed"),
        format!("{runs}?extract_keyword=error"),
        run.clone(),
        format!("{run}/phases/extract"),
        format!("{run}/phases/extract?page=3"),
        format!("{run}/phases/extract?keyword=a"),
        format!("{run}/phases/extract/errors"),
        format!("{run}/phases/extract/logs?level=ERROR,WARNING"),
    ])
}

/// Resident memory of a process over time.
#[derive(Debug, Clone, Default)]
pub struct MemoryTrace {
    /// (seconds since the start, KiB) pairs.
    pub samples: Vec<(f64, u64)>,
}

impl MemoryTrace {
    /// The highest sample, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.samples.iter().map(|(_, k)| *k).max().unwrap_or(0)
    }

    /// Median of the samples taken in `[from, to)` seconds.
    pub fn median_kib(&self, from: f64, to: f64) -> Option<u64> {
        let mut window: Vec<u64> = self
            .samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, k)| *k)
            .collect();
        window.sort_unstable();
        window.get(window.len() / 2).copied()
    }
}

/// Runs the load while sampling `pid`'s memory twice a second.
pub async fn load_watching(
    urls: &[String],
    token: &str,
    connections: usize,
    duration: Duration,
    pid: Option<u32>,
) -> anyhow::Result<(LoadResult, MemoryTrace)> {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut trace = MemoryTrace::default();
        let started = Instant::now();
        let Some(pid) = pid else { return trace };
        loop {
            if let Some(kib) = proc_status_kib(pid, "VmRSS:") {
                trace.samples.push((started.elapsed().as_secs_f64(), kib));
            }
            tokio::select! {
                _ = &mut stopped => return trace,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    });
    let result = run_load("endpoint mix", urls, token, connections, duration).await;
    let _ = stop.send(());
    let trace = sampler.await?;
    Ok((result?, trace))
}
