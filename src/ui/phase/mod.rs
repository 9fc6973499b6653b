//! A phase attempt (`…/phases/{phase}`), in three tabs: its data (a table
//! with column names and types, paging by page or by row, the deep keyword
//! search across every row with matches marked, nested values expandable),
//! its errors (RFC 7807 fields, the traceback collapsible, the data row an
//! error names beside it) and its logs (level and keyword filters, paging,
//! NDJSON downloads). Each page reads only the rows it shows, through the
//! endpoints' own readers.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::session::Viewer;
use super::view::{Cell, Status, Time, query_value, query_without};
use super::{Chrome, PageError, html};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{AttemptQuery, FromQuery, LogQuery, PageQuery, PhasePath, QueryValues};
use crate::model::{Company, Phase, RunRef};
use crate::read::{AttemptReader, Missing, ParquetPage};

mod tabs;

use tabs::{data_body, errors_body, logs_body};

/// The log levels the filter offers (contract section 3).
const LEVELS: [&str; 5] = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

/// Which tab a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Data,
    Errors,
    Logs,
}

/// What every tab shows above its table.
struct Header {
    dag_id: String,
    /// The DAG's name (its catalog name, else its id).
    dag_name: String,
    /// The phase's newest attempt: the switcher offers 1 to it.
    newest: u32,
    date: String,
    run_id: String,
    run_link: String,
    phase: &'static str,
    base: String,
    attempt: u32,
    status: Status,
    message: String,
    started: Option<Time>,
    finished: Option<Time>,
    data_rows: i64,
    errors: i64,
    logs: i64,
}

/// A page of rows as a table.
struct Table {
    columns: Vec<(String, String)>,
    /// Each row's number, cells, and its log level's class (`lvl-error`;
    /// empty outside logs).
    rows: Vec<(u64, Vec<Cell>, &'static str)>,
    /// The log level's column, coloured by its row's class.
    level_col: Option<usize>,
    /// For search hits: each row's link to its place in the whole data.
    hit_links: Vec<Option<String>>,
    page: u64,
    total: u64,
    pages: u64,
}

impl Table {
    /// A page's paging alone (the Errors tab shows its rows otherwise).
    fn paging_of(page: &ParquetPage) -> Self {
        Self {
            columns: Vec::new(),
            rows: Vec::new(),
            level_col: None,
            hit_links: Vec::new(),
            page: page.page,
            total: page.total,
            pages: page.total.div_ceil(u64::from(page.limit.max(1))),
        }
    }

    /// [`Table::of`] on a blocking thread: a page's cells (each value as
    /// JSON, cut, its keyword marked) are the heavy part of a page, and the
    /// async workers answer every other request meanwhile.
    async fn of_off_workers(page: ParquetPage, keyword: Option<String>) -> Result<Self, ApiError> {
        tokio::task::spawn_blocking(move || Self::of(&page, keyword.as_deref()))
            .await
            .map_err(|e| ApiError::Busy(format!("the page could not be made ({e})")))
    }

    /// Numbers the rows by their place among the attempt's data rows
    /// (`places`, a search's hits), each a link to that row in the Data
    /// tab of `base`'s attempt.
    fn number_by(&mut self, places: &[Option<u64>], base: &str, attempt: u32) {
        self.hit_links = places
            .iter()
            .map(|p| p.map(|n| format!("{base}?attempt={attempt}&row={n}#row-{n}")))
            .collect();
        for ((n, _, _), place) in self.rows.iter_mut().zip(places) {
            if let Some(place) = place {
                *n = *place;
            }
        }
    }

    /// The link of row `i` to its place in the whole data, for a hit.
    fn hit_link(&self, i: &usize) -> Option<&str> {
        self.hit_links.get(*i).and_then(|l| l.as_deref())
    }

    fn of(page: &ParquetPage, keyword: Option<&str>) -> Self {
        let columns: Vec<(String, String)> = page
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        let first = page.page.saturating_mul(u64::from(page.limit));
        let rows = page
            .rows
            .to_json()
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let cells = columns
                    .iter()
                    .map(|(name, data_type)| {
                        let value = row.get(name).unwrap_or(&serde_json::Value::Null);
                        Cell::of_typed(value, keyword, data_type)
                    })
                    .collect();
                let class = match row.get("level").and_then(|l| l.as_str()) {
                    Some("DEBUG") => "lvl-debug",
                    Some("INFO") => "lvl-info",
                    Some("WARNING") => "lvl-warning",
                    Some("ERROR") => "lvl-error",
                    Some("CRITICAL") => "lvl-critical",
                    _ => "",
                };
                (first + i as u64, cells, class)
            })
            .collect();
        let level_col = columns.iter().position(|(name, _)| name == "level");
        Self {
            columns,
            rows,
            level_col,
            ..Self::paging_of(page)
        }
    }
}

/// One error, its fields, and the data row it names.
struct ErrorItem {
    fields: Vec<(String, Cell)>,
    traceback: Option<String>,
    row: Option<(String, Vec<(String, Cell)>)>,
}

#[derive(askama::Template)]
#[template(path = "ui/phase.html")]
struct PhasePage {
    chrome: Chrome,
    head: Header,
    tab: Tab,
    table: Option<Table>,
    errors: Vec<ErrorItem>,
    keyword: String,
    levels: Vec<String>,
    target_row: Option<u64>,
    /// The query without paging, to add `page=` to.
    paging: String,
}

/// The page of a phase whose attempt has not committed: said plainly,
/// refreshed until it has.
#[derive(askama::Template)]
#[template(path = "ui/phase_running.html")]
struct Running {
    chrome: Chrome,
    run_link: String,
    phase: &'static str,
    run_id: String,
}

struct Opened {
    company: Company,
    reader: AttemptReader,
    head: Header,
}

/// What every tab's URL says beside its filters: the attempt, the page,
/// and the jump forms' `go` (a page counted from 1, as pages show) and
/// `row` (a data row by its number in the attempt).
struct Place {
    attempt: u32,
    page: PageQuery,
    go: Option<u64>,
    row: Option<u64>,
}

impl FromQuery for Place {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let (AttemptQuery { attempt }, page) = <(AttemptQuery, PageQuery)>::from_query(q)?;
        let mut optional = |name: &str, min: i64| {
            q.get(name)
                .is_some()
                .then(|| q.int(name, min, min, i64::MAX))
                .and_then(|n| u64::try_from(n).ok())
        };
        let go = optional("go", 1);
        let row = optional("row", 0);
        Some(Self {
            attempt,
            page,
            go,
            row,
        })
    }
}

/// Opens the attempt a tab's URL names, or answers for it: the error page
/// (a [`PageError`]), or the "not committed yet" page.
async fn open(
    state: &AppState,
    chrome: &Chrome,
    company: Company,
    run: RunRef,
    phase: Phase,
    attempt: u32,
) -> Result<Opened, Response> {
    let run_link = crate::http::params::run_path(&run.dag_id, &run.date, run.run_id.as_str());
    let reader = match state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await
    {
        Ok(reader) => reader,
        Err(ApiError::NotFound(Missing::Attempt)) => {
            // Not committed: running, when the run index has the phase.
            let recorded = state.timed(state.reads.get_run(&company, &run)).await.ok();
            if recorded
                .as_ref()
                .is_some_and(|r| r.phases.get(phase).is_some())
            {
                let mut page = html(&Running {
                    chrome: chrome.clone(),
                    run_link,
                    phase: phase.as_str(),
                    run_id: run.run_id.as_str().to_owned(),
                });
                page.headers_mut()
                    .insert(header::REFRESH, HeaderValue::from_static("5"));
                return Err(page);
            }
            return Err(PageError::from(ApiError::NotFound(Missing::Attempt)).into_response());
        }
        Err(e) => return Err(PageError::from(e).into_response()),
    };
    // The DAG's name for the crumbs, and the phase's newest attempt for
    // the attempt switcher (from the run index; at least this one).
    let (dag_name, recorded) = state
        .timed(async {
            tokio::try_join!(
                state.reads.dag_name(&company, run.dag_id),
                state.reads.get_run(&company, &run)
            )
        })
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let newest = recorded
        .phases
        .get(phase)
        .and_then(|o| o.attempt)
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(attempt)
        .max(attempt);
    let meta = reader.metadata();
    let head = Header {
        dag_id: run.dag_id.to_string(),
        dag_name,
        newest,
        date: run.date.to_string(),
        run_id: run.run_id.as_str().to_owned(),
        base: format!("{run_link}/phases/{phase}"),
        run_link,
        phase: phase.as_str(),
        attempt,
        status: Status::of_outcome(&chrome.tr, meta.success),
        message: meta.message.clone(),
        started: meta.started_at.map(Time::of),
        finished: meta.finished_at.map(Time::of),
        data_rows: meta.data_rows,
        errors: meta.error_count,
        logs: meta.log_count,
    };
    Ok(Opened {
        company,
        reader,
        head,
    })
}

/// `GET …/phases/{phase}`: the Data tab.
pub async fn data(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    show(&state, viewer, path, raw, Tab::Data).await
}

/// `GET …/phases/{phase}/errors`: the Errors tab.
pub async fn errors(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    show(&state, viewer, path, raw, Tab::Errors).await
}

/// `GET …/phases/{phase}/logs`: the Logs tab.
pub async fn logs(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    show(&state, viewer, path, raw, Tab::Logs).await
}

/// A tab: its URL read, the attempt opened, the tab's rows read, the page.
async fn show(
    state: &AppState,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    raw: Option<String>,
    tab: Tab,
) -> Result<Response, PageError> {
    let Viewer { company, chrome } = viewer;
    let raw = raw.unwrap_or_default();
    let values = QueryValues::from_form(&raw, &[]);
    let limit_given = values.get("limit").is_some();
    let asked = path.and_then(|path| Ok((path, values.validate::<Place>()?)));
    let (PhasePath { run, phase }, mut place) = asked?;
    if !limit_given {
        place.page.limit = tab.rows_per_page();
    }
    if let Some(go) = place.go {
        place.page.page = go - 1;
    }
    let opened = match open(state, &chrome, company, run, phase, place.attempt).await {
        Ok(o) => o,
        Err(page) => return Ok(page),
    };
    let body = match tab {
        Tab::Data => data_body(state, &opened, &raw, &mut place).await,
        Tab::Errors => errors_body(state, &opened, &place).await,
        Tab::Logs => logs_body(state, &opened, &raw, &place).await,
    };
    let body = body?;
    Ok(super::html_off_workers(PhasePage {
        paging: query_without(&raw, &["page", "go", "row"]),
        chrome,
        head: opened.head,
        tab,
        table: body.table,
        errors: body.errors,
        keyword: body.keyword,
        levels: body.levels,
        target_row: body.target_row,
    })
    .await)
}

/// `GET …/phases/{phase}/logs.ndjson`: the whole log, or what the
/// filters keep, as a download, streamed (the API's NDJSON answer).
pub async fn logs_ndjson(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let Viewer { company, .. } = viewer;
    let PhasePath { run, phase } = path?;
    let raw = raw.unwrap_or_default();
    let (AttemptQuery { attempt }, logs): (AttemptQuery, LogQuery) =
        QueryValues::from_form(&raw, &[]).validate()?;
    let slot = state.stream_slot(&company)?;
    let reader = state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await?;
    let mut response = crate::http::ndjson::logs(&state, &reader, logs.filter(), slot).await?;
    let name = format!(
        "attachment; filename=\"{}_{}_{phase}_attempt{attempt}_logs.ndjson\"",
        run.date,
        run.run_id
            .as_str()
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_"),
    );
    if let Ok(value) = HeaderValue::from_str(&name) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

impl PhasePage {
    fn title(&self) -> String {
        self.chrome.tr.with(
            "phase-title",
            &[
                ("phase", self.head.phase.to_owned()),
                ("run", self.head.run_id.clone()),
            ],
        )
    }

    /// Links to every attempt of the phase, on the same tab (Airflow 3's
    /// try selector): empty when there is one attempt.
    fn attempt_links(&self) -> Vec<(u32, String, bool)> {
        if self.head.newest < 2 {
            return Vec::new();
        }
        (1..=self.head.newest)
            .map(|n| {
                let link = format!("{}{}?attempt={n}", self.head.base, self.tab.suffix());
                (n, link, n == self.head.attempt)
            })
            .collect()
    }

    fn tab_link(&self, tab: Tab) -> String {
        format!(
            "{}{}?attempt={}",
            self.head.base,
            tab.suffix(),
            self.head.attempt
        )
    }

    fn current(&self, tab: Tab) -> &'static str {
        if self.tab == tab { "page" } else { "false" }
    }

    fn here_path(&self) -> String {
        format!("{}{}", self.head.base, self.tab.suffix())
    }

    /// The link to page `page` of this tab, its filters kept.
    fn page_link(&self, page: u64) -> String {
        let sep = if self.paging.is_empty() { "" } else { "&" };
        format!("{}?{}{sep}page={page}", self.here_path(), self.paging)
    }

    fn download(&self, filtered: bool) -> String {
        let mut q = format!("attempt={}", self.head.attempt);
        if filtered {
            if !self.levels.is_empty() {
                q.push_str(&format!("&level={}", query_value(&self.levels.join(","))));
            }
            if !self.keyword.is_empty() {
                q.push_str(&format!("&keyword={}", query_value(&self.keyword)));
            }
        }
        format!("{}/logs.ndjson?{q}", self.head.base)
    }

    fn number(&self, n: &i64) -> String {
        self.chrome.tr.number(u64::try_from(*n).unwrap_or(0))
    }

    /// "N matching rows" for a data search, else "N rows".
    fn total_text(&self, table: &Table) -> String {
        if self.tab == Tab::Data && !self.keyword.is_empty() {
            self.chrome.tr.count("phase-matches", "total", table.total)
        } else {
            self.chrome.tr.count("phase-rows", "rows", table.total)
        }
    }

    fn is_target(&self, n: &u64) -> bool {
        self.target_row == Some(*n)
    }

    /// A row's classes: its log level's, and `target` for the row a link
    /// jumped to.
    fn row_class(&self, n: &u64, level: &str) -> String {
        match (level.is_empty(), self.is_target(n)) {
            (true, true) => "target".to_owned(),
            (false, true) => format!("{level} target"),
            _ => level.to_owned(),
        }
    }

    fn has_level(&self, level: &str) -> bool {
        self.levels.iter().any(|l| l == level)
    }

    fn all_levels(&self) -> [&'static str; 5] {
        LEVELS
    }
}

impl Tab {
    /// The tab's path after the phase's.
    fn suffix(self) -> &'static str {
        match self {
            Tab::Data => "",
            Tab::Errors => "/errors",
            Tab::Logs => "/logs",
        }
    }

    /// Rows a page of the tab shows unless the URL says otherwise: fewer
    /// errors, each of which may bring its data row.
    fn rows_per_page(self) -> u32 {
        match self {
            Tab::Data | Tab::Logs => crate::http::params::DEFAULT_ROWS_PER_PAGE,
            Tab::Errors => 20,
        }
    }
}
