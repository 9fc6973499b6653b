//! A run (`/dags/{dag_id}/runs/{date}/{run_id}`): its phases and every
//! attempt of each as a timeline (start, end, duration, status, message,
//! from each attempt's `metadata.parquet`; the run index's object for an
//! attempt not committed yet), and the event's two files, pretty-printed
//! and collapsible.

use axum::extract::State;
use axum::response::Response;
use futures::future::join_all;

use super::session::Viewer;
use chrono::{DateTime, Utc};

use super::gantt;
use super::view::{Cell, Status, Time, between};
use super::{Chrome, PageError, html};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::RunPath;
use crate::model::{Company, Phase, RunRef};
use crate::read::{ParquetPage, ReadError, ReadService};

/// Attempts of one phase the timeline reads at most (the newest).
const MAX_ATTEMPTS_SHOWN: u32 = 20;

struct AttemptRow {
    phase: &'static str,
    attempt: u32,
    link: String,
    status: Status,
    started: Option<Time>,
    finished: Option<Time>,
    /// The same instants, for the timeline chart.
    span: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    duration: Option<String>,
    message: String,
    committed: bool,
}

/// One event file: its rows, each field a cell.
struct EventFile {
    title: String,
    rows: Vec<Vec<(String, Cell)>>,
}

#[derive(askama::Template)]
#[template(path = "ui/run.html")]
struct RunPage {
    dag_name: String,
    chrome: Chrome,
    dag_id: String,
    date: String,
    run_id: String,
    attempts: Vec<AttemptRow>,
    /// The attempts along the run's time.
    timeline: Option<gantt::Chart>,
    event: Vec<EventFile>,
}

/// `GET /dags/{dag_id}/runs/{date}/{run_id}`: the run.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<RunPath, ApiError>,
) -> Result<Response, PageError> {
    let Viewer { company, chrome } = viewer;
    let RunPath(run) = path?;
    let read = async {
        let summary = state.reads.get_run(&company, &run).await?;
        let event = match state.reads.event(&company, &run).await {
            Ok(pages) => Some(pages),
            Err(ReadError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let dag_name = state.reads.dag_name(&company, run.dag_id).await?;
        Ok((summary, event, dag_name))
    };
    let (summary, event, dag_name) = state.timed(read).await?;
    let base = crate::http::params::run_path(&run.dag_id, &run.date, run.run_id.as_str());
    let mut attempts = Vec::new();
    for phase in Phase::ALL {
        let Some(object) = summary.phases.get(phase) else {
            continue;
        };
        let newest = object
            .attempt
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(1)
            .max(1);
        let oldest = newest.saturating_sub(MAX_ATTEMPTS_SHOWN - 1).max(1);
        let rows = join_all((oldest..=newest).map(|attempt| {
            attempt_row(&state.reads, &chrome, &company, &run, phase, attempt, &base)
        }))
        .await;
        for (attempt, row) in (oldest..=newest).zip(rows) {
            match row {
                Some(row) => attempts.push(row),
                // The event has no attempt folder: its files are shown
                // below, where its row leads.
                None if phase == Phase::Event => attempts.push(AttemptRow {
                    phase: phase.as_str(),
                    attempt,
                    link: "#event".to_owned(),
                    status: Status::of_phase(&chrome.tr, Some(object)),
                    duration: None,
                    started: Time::parse(object.started_at.as_deref()),
                    finished: Time::parse(object.finished_at.as_deref()),
                    span: phase_span(object),
                    message: object.status.message.clone().unwrap_or_default(),
                    committed: true,
                }),
                // The newest attempt as the run index has it: not committed
                // yet (it may still run), or its files are gone.
                None if attempt == newest => {
                    let started = Time::parse(object.started_at.as_deref());
                    let finished = Time::parse(object.finished_at.as_deref());
                    attempts.push(AttemptRow {
                        phase: phase.as_str(),
                        attempt,
                        link: format!("{base}/phases/{phase}?attempt={attempt}"),
                        status: Status::of_phase(&chrome.tr, Some(object)),
                        duration: between(started.as_ref(), finished.as_ref()),
                        started,
                        finished,
                        span: phase_span(object),
                        message: object.status.message.clone().unwrap_or_default(),
                        committed: false,
                    });
                }
                None => {}
            }
        }
    }
    let event = event
        .map(|pages| {
            [
                (chrome.tr.t("run-queue-data"), pages.queue_data),
                (chrome.tr.t("run-event-data"), pages.event),
            ]
            .into_iter()
            .filter_map(|(title, page)| page.map(|p| event_file(title, &p)))
            .collect()
        })
        .unwrap_or_default();
    let lines: Vec<gantt::Line> = attempts
        .iter()
        .map(|a| gantt::Line {
            label: format!("{} #{}", a.phase, a.attempt),
            link: a.link.clone(),
            spans: a
                .span
                .map(|(start, end)| gantt::Span {
                    start,
                    end,
                    class: a.status.class,
                    link: a.link.clone(),
                    title: format!("{} #{}: {}", a.phase, a.attempt, a.status.word),
                })
                .into_iter()
                .collect(),
        })
        .collect();
    let timeline = gantt::chart(&lines, gantt::Align::Shared, Utc::now());
    Ok(html(&RunPage {
        dag_id: run.dag_id.to_string(),
        dag_name,
        timeline,
        date: run.date.to_string(),
        run_id: run.run_id.as_str().to_owned(),
        attempts,
        event,
        chrome,
    }))
}

/// One committed attempt's row, from its `metadata.parquet` (`None` when
/// it has none).
async fn attempt_row(
    reads: &ReadService,
    chrome: &Chrome,
    company: &Company,
    run: &RunRef,
    phase: Phase,
    attempt: u32,
    base: &str,
) -> Option<AttemptRow> {
    let reader = reads.attempt(company, run, phase, attempt).await.ok()?;
    let meta = reader.metadata();
    let started = meta.started_at.map(Time::of);
    let finished = meta.finished_at.map(Time::of);
    let span = meta.started_at.map(|s| (s, meta.finished_at));
    Some(AttemptRow {
        span,
        phase: phase.as_str(),
        attempt,
        link: format!("{base}/phases/{phase}?attempt={attempt}"),
        status: Status::of_outcome(&chrome.tr, meta.success),
        duration: meta
            .duration_ms
            .map(super::view::duration)
            .or_else(|| between(started.as_ref(), finished.as_ref())),
        started,
        finished,
        message: meta.message.clone(),
        committed: true,
    })
}

/// A phase's start and end as the run index holds them, read by the run
/// index's own rule ([`crate::runindex::phase_time`]: RFC 3339, or a
/// naive ISO time as UTC), so that a bar is drawn wherever the run has a
/// duration.
pub(super) fn phase_span(
    object: &crate::runindex::PhaseObject,
) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
    let parse = |t: Option<&str>| crate::runindex::phase_time(t?);
    let start = parse(object.started_at.as_deref())?;
    Some((start, parse(object.finished_at.as_deref())))
}

fn event_file(title: String, page: &ParquetPage) -> EventFile {
    EventFile {
        title,
        rows: page
            .rows
            .to_json()
            .iter()
            .map(|row| {
                row.iter()
                    .map(|(name, value)| (name.clone(), Cell::of(value, None)))
                    .collect()
            })
            .collect(),
    }
}

impl RunPage {
    fn title(&self) -> String {
        self.chrome
            .tr
            .with("run-title", &[("run", self.run_id.clone())])
    }
}
