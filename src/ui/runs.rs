//! A DAG's runs (`/dags/{dag_id}`): every filter of the run search in the
//! URL (the API's own parameters, so a link reproduces the view and the
//! back button works), the calendar strip of runs and failures per day,
//! and cursor paging.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};

use super::session::Viewer;
use super::view::{Status, Time, duration, query_value, query_without};
use super::{Chrome, PageError, html};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{DagPath, QueryValues, SearchRunsQuery};
use crate::model::{DagId, Phase};
use crate::runindex::{RunOrder, RunSummary};

/// Days a DAG's page shows when the URL names no dates: the last 30.
const DEFAULT_DAYS: i64 = 30;

/// One run of the results.
struct RunRow {
    link: String,
    run_id: String,
    date: String,
    created: Time,
    duration: Option<String>,
    status: Status,
    phases: Vec<PhaseCell>,
}

struct PhaseCell {
    name: &'static str,
    /// The phase's page (`None` for a phase not started).
    link: Option<String>,
    status: Status,
    message: String,
    /// The phase's data search for the run keyword given for this phase,
    /// when the keyword is among its rows (not only in its message).
    deep: Option<String>,
    /// Whether the run keyword matched the phase's message or status
    /// rather than a row: said, so that no link promises rows.
    matched_message: bool,
}

/// Where a phase's run keyword is found, by the project's one folding rule
/// (`casefold.rs`): in its first rows as the run index holds them, and in
/// its message or status.
fn keyword_found(object: &crate::runindex::PhaseObject, keyword: &str) -> (bool, bool) {
    let needle = crate::casefold::fold(keyword);
    let has = |text: &str| crate::casefold::fold(text).contains(needle.as_ref());
    let in_rows = object.data.as_ref().is_some_and(|rows| {
        rows.iter()
            .any(|row| row.values().any(|v| has(&v.to_string())) || row.keys().any(|k| has(k)))
    });
    let in_message = object.status.message.as_deref().is_some_and(has)
        || object
            .status
            .success
            .is_some_and(|s| has(if s { "true" } else { "false" }));
    (in_rows, in_message)
}

/// One day of the calendar strip.
struct Day {
    date: String,
    link: String,
    class: &'static str,
    runs: i64,
    failed: i64,
}

/// The form's values, as the URL gives them.
#[derive(Default)]
struct Form {
    date_from: String,
    date_to: String,
    statuses: Vec<String>,
    phase_statuses: Vec<(&'static str, Vec<String>)>,
    keywords: Vec<(&'static str, String)>,
    run_ids: String,
    created_from: String,
    created_to: String,
    updated_since: String,
    sort: String,
    limit: String,
}

impl Form {
    fn has(&self, values: &[String], value: &str) -> bool {
        values.iter().any(|v| v == value)
    }
}

#[derive(askama::Template)]
#[template(path = "ui/runs.html")]
struct RunsPage {
    /// The runs of the page, each from its own start, by phase.
    durations: Option<super::gantt::Chart>,
    chrome: Chrome,
    dag_id: String,
    name: String,
    /// The catalog's description and owner (empty when not given).
    description: String,
    owner: String,
    known: bool,
    form: Form,
    days: Vec<Day>,
    rows: Vec<RunRow>,
    total: String,
    next: Option<String>,
    first: Option<String>,
    sorts: Vec<(&'static str, String)>,
}

/// `GET /dags/{dag_id}`: the runs page.
pub async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<DagPath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let Viewer { company, chrome } = viewer;
    let DagPath { dag_id } = path?;
    let raw = raw.unwrap_or_default();
    let today = Utc::now().date_naive();
    let values = QueryValues::from_form(
        &raw,
        &[
            ("date_to", today.to_string()),
            (
                "date_from",
                (today - Duration::days(DEFAULT_DAYS - 1)).to_string(),
            ),
        ],
    );
    let form = form_of(&values);
    let mut query: SearchRunsQuery = values.validate()?;
    let cursor = query.cursor.take();
    let search = query.search(&state.limits)?;
    let (from, to) = (search.date_from, search.date_to);
    let keywords: Vec<(Phase, String)> = search.keywords.clone();
    let dag_ids = [dag_id];
    let read = async {
        tokio::try_join!(
            state
                .reads
                .search_runs(&company, &dag_ids, search, cursor.as_deref()),
            state.reads.calendar(&company, dag_id, from, to),
            state.reads.dag(&company, dag_id, today),
        )
    };
    let (found, (days, known), dag) = state.timed(read).await?;
    let info = dag.map(|d| d.info).unwrap_or_default();
    let name = info.name.clone().unwrap_or_else(|| dag_id.to_string());
    let (description, owner) = (
        info.description.unwrap_or_default(),
        info.owner.unwrap_or_default(),
    );
    let tr = &chrome.tr;
    let total = if found.page.total_exact {
        tr.count("runs-total", "total", found.page.total)
    } else {
        tr.count("runs-total-more", "total", found.page.total)
    };
    let here = format!("/dags/{dag_id}");
    let without_paging = query_without(&raw, &["cursor", "page"]);
    let next = found
        .next_cursor
        .as_ref()
        .map(|c| format!("{here}?{}cursor={}", amp(&without_paging), query_value(c)));
    let first = (found.number > 0).then(|| format!("{here}?{without_paging}"));
    let durations = durations_chart(&chrome, dag_id, &found.page.items);
    let rows = found
        .page
        .items
        .iter()
        .map(|run| run_row(&chrome, dag_id, run, &keywords))
        .collect();
    let days = strip_days(&here, &without_paging, from, to, &days);
    let sorts = RunOrder::ALL
        .iter()
        .map(|(value, order)| (*value, tr.t(sort_key(*order))))
        .collect();
    Ok(html(&RunsPage {
        durations,
        dag_id: dag_id.to_string(),
        name,
        description,
        owner,
        known,
        form,
        days,
        rows,
        total,
        next,
        first,
        sorts,
        chrome,
    }))
}

fn sort_key(order: RunOrder) -> &'static str {
    match order {
        RunOrder::DateDesc => "runs-sort-date-desc",
        RunOrder::DateAsc => "runs-sort-date-asc",
        RunOrder::CreatedDesc => "runs-sort-created-desc",
        RunOrder::CreatedAsc => "runs-sort-created-asc",
        RunOrder::DurationDesc => "runs-sort-duration-desc",
        RunOrder::DurationAsc => "runs-sort-duration-asc",
    }
}

/// `query&` when `query` is not empty.
fn amp(query: &str) -> String {
    if query.is_empty() {
        String::new()
    } else {
        format!("{query}&")
    }
}

fn form_of(values: &QueryValues) -> Form {
    let text = |name: &str| values.get(name).unwrap_or_default().to_owned();
    let list = |name: &str| -> Vec<String> {
        values
            .get(name)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    Form {
        date_from: text("date_from"),
        date_to: text("date_to"),
        statuses: list("status"),
        phase_statuses: [Phase::Extract, Phase::Transform, Phase::Load]
            .into_iter()
            .map(|p| (p.as_str(), list(&format!("{p}_status"))))
            .collect(),
        keywords: Phase::ALL
            .into_iter()
            .map(|p| (p.as_str(), text(&format!("{p}_keyword"))))
            .collect(),
        run_ids: text("run_ids"),
        created_from: text("created_from"),
        created_to: text("created_to"),
        updated_since: text("updated_since"),
        sort: text("sort"),
        limit: text("limit"),
    }
}

fn run_row(
    chrome: &Chrome,
    dag_id: DagId,
    run: &RunSummary,
    keywords: &[(Phase, String)],
) -> RunRow {
    let tr = &chrome.tr;
    let link = crate::http::params::run_path(&dag_id, &run.date, &run.run_id);
    let phases = Phase::ALL
        .into_iter()
        .map(|p| {
            let object = run.phases.get(p);
            // The event has no phase pages: its files are on the run's.
            let phase_link = if p.is_step() {
                format!("{link}/phases/{p}")
            } else {
                format!("{link}#event")
            };
            // A phase not started has no page to show.
            let page = object.map(|_| phase_link.clone());
            let keyword = keywords
                .iter()
                .find(|(kp, k)| *kp == p && !k.is_empty())
                .map(|(_, k)| k.as_str());
            let (in_rows, in_message) = match (keyword, object) {
                (Some(k), Some(o)) => keyword_found(o, k),
                _ => (false, false),
            };
            // Matched in the message alone: no rows to promise. Matched
            // nowhere the page can see (a value's JSON spelled otherwise):
            // the data search says.
            let deep = keyword
                .filter(|_| p.is_step() && object.is_some() && (in_rows || !in_message))
                .map(|k| format!("{phase_link}?keyword={}", query_value(k)));
            PhaseCell {
                name: p.as_str(),
                link: page,
                status: Status::of_phase(tr, object),
                message: object
                    .and_then(|o| o.status.message.clone())
                    .unwrap_or_default(),
                deep,
                matched_message: in_message && !in_rows,
            }
        })
        .collect();
    let status = Status::of_run(tr, crate::runindex::fleet::RunStatus::of(&run.phases));
    RunRow {
        link,
        run_id: run.run_id.clone(),
        date: run.date.to_string(),
        created: Time::of(run.created_at),
        duration: run.duration_ms.map(duration),
        status,
        phases,
    }
}

/// The page's runs as bars of their phases, each run from its own start
/// (the longest fills the axis), so a slow phase stands out.
fn durations_chart(
    chrome: &Chrome,
    dag_id: DagId,
    runs: &[RunSummary],
) -> Option<super::gantt::Chart> {
    use super::gantt::{Align, Line, Span, chart};
    let lines: Vec<Line> = runs
        .iter()
        .map(|run| {
            let link = crate::http::params::run_path(&dag_id, &run.date, &run.run_id);
            let spans = Phase::STEPS
                .into_iter()
                .filter_map(|p| {
                    let object = run.phases.get(p)?;
                    let (start, end) = super::run::phase_span(object)?;
                    let status = Status::of_phase(&chrome.tr, Some(object));
                    Some(Span {
                        start,
                        end,
                        class: status.class,
                        link: format!("{link}/phases/{p}"),
                        title: format!("{} {p}: {}", run.date, status.word),
                    })
                })
                .collect();
            Line {
                label: format!("{} {}", run.date, short(&run.run_id)),
                link,
                spans,
            }
        })
        .collect();
    chart(&lines, Align::PerRow, chrono::Utc::now())
}

/// A run id short enough for a chart's label.
fn short(run_id: &str) -> String {
    let mut chars = run_id.chars();
    let head: String = chars.by_ref().take(14).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Every day of the range, at most a year, each a link to its runs.
fn strip_days(
    here: &str,
    query: &str,
    from: NaiveDate,
    to: NaiveDate,
    counts: &[crate::runindex::fleet::DayCount],
) -> Vec<Day> {
    let without_dates = query_without(query, &["date_from", "date_to"]);
    from.iter_days()
        .take_while(|d| *d <= to)
        .take(366)
        .map(|date| {
            let (runs, failed) = counts
                .iter()
                .find(|c| c.date == date)
                .map_or((0, 0), |c| (c.runs, c.failed_runs));
            let class = match (runs, failed) {
                (0, _) => "none",
                (_, 0) => "runs",
                (r, f) if f >= r => "all-failed",
                _ => "some-failed",
            };
            Day {
                date: date.to_string(),
                link: format!(
                    "{here}?{}date_from={date}&date_to={date}",
                    amp(&without_dates)
                ),
                class,
                runs,
                failed,
            }
        })
        .collect()
}

impl RunsPage {
    fn day_title(&self, day: &Day) -> String {
        let tr = &self.chrome.tr;
        tr.counts(
            "runs-calendar-day",
            &[
                ("runs", u64::try_from(day.runs).unwrap_or(0)),
                ("failed", u64::try_from(day.failed).unwrap_or(0)),
            ],
            &[("date", day.date.clone())],
        )
    }

    /// A text with one argument: `phase`, or `dag` for the title.
    fn phase_label(&self, key: &str, value: &str) -> String {
        let name = match key {
            "runs-title" => "dag",
            "runs-owner" => "owner",
            _ => "phase",
        };
        self.chrome.tr.with(key, &[(name, value.to_owned())])
    }
}
