//! A phase attempt (`…/phases/{phase}`), in three tabs: its data (a table
//! with column names and types, paging by page or by row, the deep keyword
//! search across every row with matches marked, nested values expandable),
//! its errors (RFC 7807 fields, the traceback collapsible, the data row an
//! error names beside it) and its logs (level and keyword filters, paging,
//! NDJSON downloads). Each page reads only the rows it shows, through the
//! endpoints' own readers.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::session::Viewer;
use super::view::{Cell, Status, Time, query_value};
use super::{Chrome, error_page, html};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{
    AttemptQuery, DataQuery, FromQuery, LogQuery, PageQuery, PhasePath, QueryValues,
};
use crate::model::Company;
use crate::read::{AttemptReader, Missing, ParquetPage};

/// Rows a data or log page shows unless the URL says otherwise.
const ROWS_PER_PAGE: u32 = 50;
/// Errors a page shows unless the URL says otherwise: each may bring its
/// data row.
const ERRORS_PER_PAGE: u32 = 20;
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
    rows: Vec<(u64, Vec<Cell>)>,
    page: u64,
    total: u64,
    pages: u64,
}

impl Table {
    fn of(page: &ParquetPage, keyword: Option<&str>) -> Self {
        let columns: Vec<(String, String)> = page
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        let first = page.page.saturating_mul(u64::from(page.limit));
        let rows = page
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let cells = columns
                    .iter()
                    .map(|(name, _)| {
                        Cell::of(row.get(name).unwrap_or(&serde_json::Value::Null), keyword)
                    })
                    .collect();
                (first + i as u64, cells)
            })
            .collect();
        Self {
            columns,
            rows,
            page: page.page,
            total: page.total,
            pages: page.total.div_ceil(u64::from(page.limit.max(1))),
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
    raw: String,
}

/// Opens the attempt a tab's URL names, or answers for it: the error page,
/// or the "not committed yet" page.
async fn open(
    state: &AppState,
    chrome: &Chrome,
    company: Company,
    path: Result<PhasePath, ApiError>,
    raw: Option<String>,
) -> Result<Opened, Response> {
    let PhasePath { run, phase } = match path {
        Ok(p) => p,
        Err(e) => return Err(error_page(chrome.clone(), e).await),
    };
    let raw = raw.unwrap_or_default();
    let attempt = match QueryValues::from_form(&raw, &[]).validate::<AttemptQuery>() {
        Ok(a) => a.attempt,
        Err(e) => return Err(error_page(chrome.clone(), e).await),
    };
    let run_link = format!(
        "/dags/{}/runs/{}/{}",
        run.dag_id,
        run.date,
        crate::http::params::url_path_segment(run.run_id.as_str())
    );
    let reader = match state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await
    {
        Ok(reader) => reader,
        Err(ApiError::NotFound(Missing::Attempt)) => {
            // Not committed: running, when the run index has the phase.
            let recorded = state.reads.get_run(&company, &run).await.ok();
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
            return Err(error_page(chrome.clone(), ApiError::NotFound(Missing::Attempt)).await);
        }
        Err(e) => return Err(error_page(chrome.clone(), e).await),
    };
    let meta = reader.metadata();
    let status = match meta.success {
        Some(true) => "succeeded",
        Some(false) => "failed",
        None => "running",
    };
    let head = Header {
        dag_id: run.dag_id.to_string(),
        date: run.date.to_string(),
        run_id: run.run_id.as_str().to_owned(),
        base: format!("{run_link}/phases/{phase}"),
        run_link,
        phase: phase.as_str(),
        attempt,
        status: Status::of_word(&chrome.tr, status),
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
        raw,
    })
}

/// The page and limit of a tab, `limit` defaulting to `default`.
fn paging(raw: &str, default: u32) -> Result<PageQuery, ApiError> {
    let values = QueryValues::from_form(raw, &[]);
    let given = values.get("limit").is_some();
    // The jump form's `go` counts pages from 1, as the page shows them.
    let go = values.get("go").map(|g| g.trim().parse::<u64>());
    let mut p: PageQuery = values.validate()?;
    if !given {
        p.limit = default;
    }
    match go {
        Some(Ok(n)) if n >= 1 => p.page = n - 1,
        Some(_) => {
            return Err(ApiError::Validation(vec![
                crate::http::error::ValidationIssue::new(
                    "query",
                    "go",
                    "greater_than_equal",
                    "Input should be a page number from 1",
                    serde_json::Value::Null,
                ),
            ]));
        }
        None => {}
    }
    Ok(p)
}

/// `?row=`: a data row to open, by its number in the attempt.
struct RowQuery(Option<u64>);

impl FromQuery for RowQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        if q.get("row").is_none() {
            return Some(Self(None));
        }
        let row = q.int("row", 0, 0, i64::MAX);
        Some(Self(u64::try_from(row).ok()))
    }
}

/// The query string without `drop`.
fn without(raw: &str, drop: &[&str]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(raw.as_bytes())
                .filter(|(k, v)| !drop.contains(&k.as_ref()) && !v.is_empty()),
        )
        .finish()
}

/// `GET …/phases/{phase}`: the Data tab.
pub async fn data(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Viewer { company, chrome } = viewer;
    let opened = match open(&state, &chrome, company, path, raw).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let result = async {
        let mut p = paging(&opened.raw, ROWS_PER_PAGE)?;
        let (DataQuery { keyword }, RowQuery(row)) =
            QueryValues::from_form(&opened.raw, &[]).validate()?;
        let keyword = keyword.filter(|k| !k.is_empty());
        // A row asked for by number opens the page holding it.
        if let (Some(row), None) = (row, &keyword) {
            p.page = row / u64::from(p.limit.max(1));
        }
        let page = match &keyword {
            Some(k) => {
                let _slot = state.search_slot(&opened.company)?;
                state
                    .timed(opened.reader.search_data(k, p.page, p.limit))
                    .await?
            }
            None => {
                state
                    .timed(opened.reader.data_page(p.page, p.limit))
                    .await?
            }
        };
        Ok::<_, ApiError>((Table::of(&page, keyword.as_deref()), keyword, row))
    };
    match result.await {
        Ok((table, keyword, row)) => html(&PhasePage {
            paging: without(&opened.raw, &["page", "row"]),
            chrome,
            head: opened.head,
            tab: Tab::Data,
            table: Some(table),
            errors: Vec::new(),
            keyword: keyword.unwrap_or_default(),
            levels: Vec::new(),
            target_row: row,
        }),
        Err(e) => error_page(chrome, e).await,
    }
}

/// `GET …/phases/{phase}/errors`: the Errors tab.
pub async fn errors(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Viewer { company, chrome } = viewer;
    let opened = match open(&state, &chrome, company, path, raw).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let result = async {
        let p = paging(&opened.raw, ERRORS_PER_PAGE)?;
        let page = state
            .timed(opened.reader.errors_page(p.page, p.limit))
            .await?;
        let mut items = Vec::new();
        for row in &page.rows {
            items.push(error_item(&state, &opened, row).await?);
        }
        Ok::<_, ApiError>((Table::of(&page, None), items))
    };
    match result.await {
        Ok((mut table, items)) => {
            // The errors show as blocks; the table keeps only the paging.
            table.rows.clear();
            html(&PhasePage {
                paging: without(&opened.raw, &["page"]),
                chrome,
                head: opened.head,
                tab: Tab::Errors,
                table: Some(table),
                errors: items,
                keyword: String::new(),
                levels: Vec::new(),
                target_row: None,
            })
        }
        Err(e) => error_page(chrome, e).await,
    }
}

/// An error's fields, its traceback apart, and the data row its `_file`
/// and `_row` name, read as one row of the Data tab.
async fn error_item(
    state: &AppState,
    opened: &Opened,
    row: &serde_json::Map<String, serde_json::Value>,
) -> Result<ErrorItem, ApiError> {
    let traceback = row
        .get("traceback")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    let fields = row
        .iter()
        .filter(|(name, _)| name.as_str() != "traceback")
        .map(|(name, value)| (name.clone(), Cell::of(value, None)))
        .collect();
    let file = row.get("_file").and_then(serde_json::Value::as_i64);
    let at = row.get("_row").and_then(serde_json::Value::as_i64);
    let place = match (file, at) {
        (Some(f), Some(r)) if f >= 0 && r >= 0 => {
            let counts = &opened.reader.metadata().data_file_rows;
            let before: i64 = counts
                .iter()
                .take(usize::try_from(f).unwrap_or(usize::MAX))
                .sum();
            let inside = counts
                .get(usize::try_from(f).unwrap_or(usize::MAX))
                .copied();
            inside.filter(|n| r < *n).map(|_| before + r)
        }
        _ => None,
    };
    let row = match place.and_then(|p| u64::try_from(p).ok()) {
        Some(global) => {
            let page = state.timed(opened.reader.data_page(global, 1)).await?;
            page.rows.first().map(|data| {
                let link = format!(
                    "{}?attempt={}&row={global}#row-{global}",
                    opened.head.base, opened.head.attempt
                );
                let cells = data
                    .iter()
                    .map(|(name, value)| (name.clone(), Cell::of(value, None)))
                    .collect();
                (link, cells)
            })
        }
        None => None,
    };
    Ok(ErrorItem {
        fields,
        traceback,
        row,
    })
}

/// `GET …/phases/{phase}/logs`: the Logs tab.
pub async fn logs(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Viewer { company, chrome } = viewer;
    let opened = match open(&state, &chrome, company, path, raw).await {
        Ok(o) => o,
        Err(page) => return page,
    };
    let result = async {
        let p = paging(&opened.raw, ROWS_PER_PAGE)?;
        let query: LogQuery = QueryValues::from_form(&opened.raw, &[]).validate()?;
        let mut levels: Vec<String> = query.level.iter().flatten().cloned().collect();
        levels.sort();
        let keyword = query.keyword.clone().unwrap_or_default();
        let filter = query.filter();
        let _slot = match filter.is_empty() {
            true => None,
            false => Some(state.search_slot(&opened.company)?),
        };
        let page = state
            .timed(opened.reader.logs_page(&filter, p.page, p.limit))
            .await?;
        let marked = (!keyword.is_empty()).then_some(keyword.as_str());
        Ok::<_, ApiError>((Table::of(&page, marked), keyword, levels))
    };
    match result.await {
        Ok((table, keyword, levels)) => html(&PhasePage {
            paging: without(&opened.raw, &["page"]),
            chrome,
            head: opened.head,
            tab: Tab::Logs,
            table: Some(table),
            errors: Vec::new(),
            keyword,
            levels,
            target_row: None,
        }),
        Err(e) => error_page(chrome, e).await,
    }
}

/// `GET …/phases/{phase}/logs.ndjson`: the whole log, or what the
/// filters keep, as a download, streamed (the API's NDJSON answer).
pub async fn logs_ndjson(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<PhasePath, ApiError>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Viewer { company, chrome } = viewer;
    let result = async {
        let PhasePath { run, phase } = path?;
        let raw = raw.unwrap_or_default();
        let (AttemptQuery { attempt }, logs): (AttemptQuery, LogQuery) =
            QueryValues::from_form(&raw, &[]).validate()?;
        let mut response =
            crate::http::phases::logs_stream(&state, &company, &run, phase, attempt, logs.filter())
                .await?;
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
        Ok::<_, ApiError>(response)
    };
    match result.await {
        Ok(response) => response,
        Err(e) => error_page(chrome, e).await,
    }
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

    fn tab_link(&self, tab: Tab) -> String {
        let suffix = match tab {
            Tab::Data => "",
            Tab::Errors => "/errors",
            Tab::Logs => "/logs",
        };
        format!("{}{suffix}?attempt={}", self.head.base, self.head.attempt)
    }

    fn current(&self, tab: Tab) -> &'static str {
        if self.tab == tab { "page" } else { "false" }
    }

    fn here_path(&self) -> String {
        match self.tab {
            Tab::Data => self.head.base.clone(),
            Tab::Errors => format!("{}/errors", self.head.base),
            Tab::Logs => format!("{}/logs", self.head.base),
        }
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

    fn has_level(&self, level: &str) -> bool {
        self.levels.iter().any(|l| l == level)
    }

    fn all_levels(&self) -> [&'static str; 5] {
        LEVELS
    }
}

/// What the templates compare tabs with.
impl Tab {
    fn is_data(self) -> bool {
        self == Tab::Data
    }
    fn is_logs(self) -> bool {
        self == Tab::Logs
    }
    fn is_errors(self) -> bool {
        self == Tab::Errors
    }
}
