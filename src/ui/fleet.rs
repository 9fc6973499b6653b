//! The fleet board (`/`): every DAG of the company, its newest run and
//! each phase's status, failed runs in the last day and week, the last
//! failure's reason; filtered by name and tag, sorted by failures.

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;

use super::session::Viewer;
use super::view::{Status, Time, query_value};
use super::{Chrome, PageError, html};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{DagsQuery, Params};
use crate::model::Phase;
use crate::runindex::fleet::{DagEntry, DagSort, RunStatus};

/// One DAG's row.
struct Row {
    link: String,
    name: String,
    id: String,
    tags: Vec<String>,
    last: Option<LastRun>,
    phases: Vec<(&'static str, Status)>,
    failed_day: String,
    failed_week: String,
    runs_week: String,
    failure: Option<LastFailure>,
    /// The newest runs, oldest first.
    recent: Vec<RecentRun>,
}

/// Runs in a DAG's strip of recent runs (Airflow's run-history bars).
const STRIP_RUNS: u32 = 14;
/// DAGs of the board given a strip: past them, the board shows its rows
/// without one rather than asking the run index once more per DAG.
const STRIP_DAGS: usize = 200;

/// One square of the strip: a run, its status, its page.
struct RecentRun {
    link: String,
    title: String,
    status: Status,
}

/// Each DAG's newest runs of the last year, oldest first (a strip reads
/// left to right), a few DAGs at a time; empty past [`STRIP_DAGS`].
async fn recent_runs(
    state: &AppState,
    company: &crate::model::Company,
    dags: &[DagEntry],
    today: chrono::NaiveDate,
) -> Result<Vec<Vec<crate::runindex::RunSummary>>, crate::read::ReadError> {
    use futures::{StreamExt, TryStreamExt};
    let ids: Vec<crate::model::DagId> = dags.iter().take(STRIP_DAGS).map(|d| d.dag_id).collect();
    let asked = futures::stream::iter(ids)
        .map(|dag_id| newest_runs(state, company, dag_id, today))
        .buffered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let mut strips = asked;
    strips.resize_with(dags.len(), Vec::new);
    Ok(strips)
}

/// A DAG's newest runs of the last year, oldest first.
async fn newest_runs(
    state: &AppState,
    company: &crate::model::Company,
    dag_id: crate::model::DagId,
    today: chrono::NaiveDate,
) -> Result<Vec<crate::runindex::RunSummary>, crate::read::ReadError> {
    let mut search = crate::runindex::RunSearch::new(today - chrono::Duration::days(365), today);
    search.limit = STRIP_RUNS;
    search.count_limit = Some(u64::from(STRIP_RUNS));
    let found = state
        .reads
        .search_runs(company, &[dag_id], search, None)
        .await?;
    let mut runs = found.page.items;
    runs.reverse();
    Ok(runs)
}

/// A DAG's newest failure: the run (its page), the phase, its message,
/// and when.
struct LastFailure {
    link: String,
    phase: String,
    message: String,
    date: String,
    created: Time,
}

struct LastRun {
    link: String,
    date: String,
    run_id: String,
    created: Time,
    status: Status,
}

#[derive(askama::Template)]
#[template(path = "ui/fleet.html")]
struct Board {
    chrome: Chrome,
    rows: Vec<Row>,
    name: String,
    tag: String,
    sort: &'static str,
}

/// `GET /`: the board.
pub async fn board(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Result<Params<DagsQuery>, ApiError>,
) -> Result<Response, PageError> {
    let Viewer { company, chrome } = viewer;
    let Params(query) = query?;
    let today = Utc::now().date_naive();
    let mut week = query.query(today);
    week.since = today - chrono::Duration::days(6);
    let mut day = week.clone();
    day.since = today;
    let (name, tag) = (
        week.name.clone().unwrap_or_default(),
        week.tag.clone().unwrap_or_default(),
    );
    let sort = match week.sort {
        DagSort::Name => "name",
        DagSort::LastRun => "-last_run",
        DagSort::Failures => "-failures",
        DagSort::LastFailure => "-last_failure",
    };
    let read = async {
        let (dags, days) = tokio::try_join!(
            state.reads.dags(&company, &week),
            state.reads.dags(&company, &day)
        )?;
        Ok::<_, crate::read::ReadError>((dags, days))
    };
    let (dags, days) = state.timed(read).await?;
    let strips = state
        .timed(recent_runs(&state, &company, &dags, today))
        .await?;
    let rows = dags
        .iter()
        .zip(strips)
        .map(|(dag, strip)| {
            let failed_day = days
                .iter()
                .find(|d| d.dag_id == dag.dag_id)
                .map_or(0, |d| d.failed_in_window);
            let mut row = row(&chrome, dag, failed_day);
            row.recent = strip
                .into_iter()
                .map(|run| {
                    let status = Status::of_run(&chrome.tr, RunStatus::of(&run.phases));
                    RecentRun {
                        link: crate::http::params::run_path(&dag.dag_id, &run.date, &run.run_id),
                        title: format!("{} · {} · {}", run.date, run.run_id, status.word),
                        status,
                    }
                })
                .collect();
            row
        })
        .collect();
    Ok(html(&Board {
        chrome,
        rows,
        name,
        tag,
        sort,
    }))
}

fn row(chrome: &Chrome, dag: &DagEntry, failed_day: i64) -> Row {
    let tr = &chrome.tr;
    let id = dag.dag_id.to_string();
    let run_link =
        |date: &chrono::NaiveDate, run_id: &str| crate::http::params::run_path(&id, date, run_id);
    let last = dag.state.last_run.as_ref().map(|(key, status)| LastRun {
        link: run_link(&key.date, &key.run_id),
        date: key.date.to_string(),
        run_id: key.run_id.clone(),
        created: Time::of(key.created_at),
        status: Status::of_run(tr, *status),
    });
    let phases = Phase::ALL
        .into_iter()
        .map(|p| {
            let object = dag.last_run_phases.as_ref().and_then(|ps| ps.get(p));
            (p.as_str(), Status::of_phase(tr, object))
        })
        .collect();
    let failure = dag.state.last_failure.as_ref().map(|f| LastFailure {
        link: run_link(&f.run.date, &f.run.run_id),
        phase: f.phase.as_str().to_owned(),
        message: f.message.clone().unwrap_or_default(),
        date: f.run.date.to_string(),
        created: Time::of(f.run.created_at),
    });
    Row {
        link: format!("/dags/{id}"),
        name: dag.info.name.clone().unwrap_or_else(|| id.clone()),
        id,
        tags: dag.info.tags.clone(),
        last,
        phases,
        failed_day: tr.number(u64::try_from(failed_day).unwrap_or(0)),
        failed_week: tr.number(u64::try_from(dag.failed_in_window).unwrap_or(0)),
        runs_week: tr.count("fleet-runs-of", "runs", dag.runs_in_window),
        failure,
        recent: Vec::new(),
    }
}

impl Board {
    fn tag_link(&self, tag: &str) -> String {
        format!("/?tag={}&sort={}", query_value(tag), self.sort)
    }
}
