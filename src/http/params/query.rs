//! Query parameters: one struct per group, deriving `IntoParams` for the
//! document and parsed by [`FromQuery`] with the bounds of `super`.

use std::collections::HashSet;

use chrono::NaiveDate;
use utoipa::IntoParams;

use super::{
    DEFAULT_ROWS_PER_PAGE, DEFAULT_RUNS_PER_PAGE, FromQuery, MAX_KEYWORD_CHARS, MAX_LEVELS_CHARS,
    MAX_ROWS_PAGE, MAX_ROWS_PER_PAGE, MAX_RUN_IDS, MAX_RUN_IDS_CHARS, MAX_RUNS_PAGE,
    MAX_RUNS_PER_PAGE, QueryValues,
};
use crate::artifacts::schemas::LOG_LEVELS;
use crate::http::Limits;
use crate::http::error::ApiError;
use crate::model::DagId;
use crate::model::Phase;
use crate::read::LogFilter;
use crate::read::cursor::MAX_CURSOR_CHARS;
use crate::runindex::fleet::{DagQuery, DagSort, RunStatus};
use crate::runindex::{RunOrder, RunSearch, StatusFilter, parse_run_ids};

/// `?attempt=` (endpoints 4-7).
#[derive(Debug, Clone, Copy, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    /// Attempt number (1-based).
    #[param(value_type = Option<u32>, minimum = 1, default = 1)]
    pub attempt: u32,
}

impl FromQuery for AttemptQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let attempt = q.int("attempt", 1, 1, i64::from(u32::MAX));
        Some(Self {
            attempt: u32::try_from(attempt).unwrap_or(1),
        })
    }
}

/// `?page=&limit=` of endpoints 5-7.
#[derive(Debug, Clone, Copy, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 0-indexed page.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 1_000_000_000, default = 0)]
    pub page: u64,
    /// Page size.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000, default = 50)]
    pub limit: u32,
}

impl FromQuery for PageQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let page = q.int("page", 0, 0, MAX_ROWS_PAGE.cast_signed());
        let limit = q.int(
            "limit",
            DEFAULT_ROWS_PER_PAGE.into(),
            1,
            MAX_ROWS_PER_PAGE.into(),
        );
        Some(Self {
            page: u64::try_from(page).unwrap_or(0),
            limit: u32::try_from(limit).unwrap_or(DEFAULT_ROWS_PER_PAGE),
        })
    }
}

/// `?keyword=` of endpoint 5.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataQuery {
    /// Case-insensitive literal substring of a row's values (through index.parquet).
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub keyword: Option<String>,
}

impl FromQuery for DataQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let keyword = q
            .text("keyword", MAX_KEYWORD_CHARS)
            .filter(|k| !k.is_empty());
        Some(Self { keyword })
    }
}

/// `?level=&keyword=` of endpoint 7.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// A level or a comma-separated list of levels (DEBUG, INFO, WARNING, ERROR, CRITICAL), case-insensitive.
    #[param(
        value_type = Option<String>,
        max_length = 200,
        pattern = "^\\s*([Dd][Ee][Bb][Uu][Gg]|[Ii][Nn][Ff][Oo]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ee][Rr][Rr][Oo][Rr]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll])?\\s*(,\\s*([Dd][Ee][Bb][Uu][Gg]|[Ii][Nn][Ff][Oo]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ee][Rr][Rr][Oo][Rr]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll])?\\s*)*$"
    )]
    pub level: Option<HashSet<String>>,
    /// Case-insensitive literal substring of `message`.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub keyword: Option<String>,
}

impl LogQuery {
    /// The filter the parameters ask for.
    pub fn filter(self) -> LogFilter {
        LogFilter::new(self.level, self.keyword.as_deref())
    }
}

impl FromQuery for LogQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let level = levels(q);
        let keyword = q.text("keyword", MAX_KEYWORD_CHARS);
        Some(Self { level, keyword })
    }
}

/// The upper-case levels of `level` (`None`: all levels).
fn levels(q: &mut QueryValues) -> Option<HashSet<String>> {
    let raw = q.text("level", MAX_LEVELS_CHARS)?;
    let levels: HashSet<String> = raw
        .split(',')
        .map(|l| l.trim().to_ascii_uppercase())
        .filter(|l| !l.is_empty())
        .collect();
    if levels.is_empty() {
        return None;
    }
    if levels.iter().any(|l| !LOG_LEVELS.contains(&l.as_str())) {
        q.invalid(
            "level",
            "literal_error",
            "Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (or a comma-separated list of them)",
        );
        return None;
    }
    Some(levels)
}

/// The values of a phase status filter, as the 422 lists them.
/// A phase's status filters: a comma-separated list of `all`, `success`,
/// `failed`, `pending` (empty when absent: no filter).
fn phase_statuses(q: &mut QueryValues, name: &str) -> Vec<StatusFilter> {
    let mut found = Vec::new();
    let Some(raw) = q.text(name, 64) else {
        return found;
    };
    for part in raw.split(',').map(str::trim) {
        match part.parse::<StatusFilter>() {
            Ok(f) if !found.contains(&f) => found.push(f),
            Ok(_) => {}
            Err(_) => {
                q.invalid(
                    name,
                    "literal_error",
                    "Input should be 'all', 'success', 'failed' or 'pending', or several of them comma-separated",
                );
                return Vec::new();
            }
        }
    }
    found
}

/// Run-level statuses: a comma-separated list of `failed`, `running`,
/// `succeeded` (empty when absent: no filter).
fn run_statuses(q: &mut QueryValues, name: &str) -> Vec<RunStatus> {
    let mut found = Vec::new();
    let Some(raw) = q.text(name, 64) else {
        return found;
    };
    for part in raw.split(',').map(str::trim) {
        match RunStatus::parse(part) {
            Some(s) if !found.contains(&s) => found.push(s),
            Some(_) => {}
            None => {
                q.invalid(
                    name,
                    "literal_error",
                    "Input should be 'failed', 'running' or 'succeeded', or several of them comma-separated",
                );
                return Vec::new();
            }
        }
    }
    found
}

/// Query parameters of endpoint 1 (`GET /dags/{dag_id}/runs`, contract
/// 4.1). The date range's width is checked against the server's limit by
/// [`SearchRunsQuery::search`].
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchRunsQuery {
    /// First partition date, inclusive (YYYY-MM-DD).
    #[param(value_type = String, format = Date)]
    pub date_from: NaiveDate,
    /// Last partition date, inclusive (YYYY-MM-DD); at most the configured range (default 366 days) after `date_from`.
    #[param(value_type = String, format = Date)]
    pub date_to: NaiveDate,
    /// `all`, `success`, `failed` or `pending` (absent or not finished); several, comma-separated, match any of them (`failed,pending`).
    #[param(inline, value_type = Option<String>, default = "all", max_length = 64, pattern = "^(all|success|failed|pending)(,(all|success|failed|pending))*$")]
    pub extract_status: Vec<StatusFilter>,
    /// Same values as `extract_status`.
    #[param(value_type = Option<String>, default = "all", max_length = 64, pattern = "^(all|success|failed|pending)(,(all|success|failed|pending))*$")]
    pub transform_status: Vec<StatusFilter>,
    /// Same values as `extract_status`.
    #[param(value_type = Option<String>, default = "all", max_length = 64, pattern = "^(all|success|failed|pending)(,(all|success|failed|pending))*$")]
    pub load_status: Vec<StatusFilter>,
    /// The run's status, comma-separated for several: `failed` (a phase failed), `running` (none failed, one still running), `succeeded` (every phase recorded succeeded).
    #[param(value_type = Option<String>, max_length = 64, pattern = "^(failed|running|succeeded)(,(failed|running|succeeded))*$")]
    pub status: Vec<RunStatus>,
    /// Runs first recorded at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Runs first recorded at or before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_to: Option<chrono::DateTime<chrono::Utc>>,
    /// Runs with a phase recorded at or after this time (RFC 3339): what changed since a client last polled.
    #[param(value_type = Option<String>, format = DateTime)]
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Case-insensitive literal substring of the event phase's JSON text.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub event_keyword: Option<String>,
    /// Same, for the extract phase (includes its first 100 rows).
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub extract_keyword: Option<String>,
    /// Same, for the transform phase.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub transform_keyword: Option<String>,
    /// Same, for the load phase.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub load_keyword: Option<String>,
    /// Comma-separated run_id allowlist (at most 100; trimmed, empties and duplicates ignored).
    #[param(value_type = Option<String>, max_length = 26_000, pattern = "^[^\\u0000]*$")]
    pub run_ids: Vec<String>,
    /// The order: `-date` (the default: newest run date first, then most recently created, then DAG and run id), `date` (oldest first), `-created_at` (most recently created first, then run date, then DAG and run id), `created_at`, `-duration` (longest first: from the phases' first `started_at` to their last `finished_at`; runs without one, such as running ones, last), `duration` (shortest first, runs without one last).
    #[param(value_type = Option<String>, default = "-date", pattern = "^-?(date|created_at|duration)$")]
    pub sort: RunOrder,
    /// Continue from the page whose `next_cursor` this is (keyset paging: as fast a thousand pages deep as on the first). Send the same other parameters as for that page; a cursor of another search, or one changed, is a 422. Excludes `page`; empty: no cursor.
    #[param(max_length = 2048, pattern = "^[A-Za-z0-9_.-]*$")]
    pub cursor: Option<String>,
    /// 0-based page.
    #[param(value_type = Option<u32>, minimum = 0, maximum = 42_949_672, default = 0)]
    pub page: u32,
    /// Page size.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, default = 20)]
    pub limit: u32,
}

impl FromQuery for SearchRunsQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let date_from = q.date("date_from");
        let date_to = q.date("date_to");
        let mut status = |phase: Phase| phase_statuses(q, &format!("{phase}_status"));
        let (extract_status, transform_status, load_status) = (
            status(Phase::Extract),
            status(Phase::Transform),
            status(Phase::Load),
        );
        let status = run_statuses(q, "status");
        let created_from = q.optional_time("created_from");
        let created_to = q.optional_time("created_to");
        let updated_since = q.optional_time("updated_since");
        let mut keyword = |phase: Phase| q.text(&format!("{phase}_keyword"), MAX_KEYWORD_CHARS);
        let (event_keyword, extract_keyword, transform_keyword, load_keyword) = (
            keyword(Phase::Event),
            keyword(Phase::Extract),
            keyword(Phase::Transform),
            keyword(Phase::Load),
        );
        let run_ids = q
            .text("run_ids", MAX_RUN_IDS_CHARS)
            .map(|r| parse_run_ids(&r))
            .unwrap_or_default();
        if run_ids.len() > MAX_RUN_IDS {
            q.invalid(
                "run_ids",
                "too_long",
                format!("at most {MAX_RUN_IDS} run ids"),
            );
        }
        let sort = match q.text("sort", 16) {
            None => RunOrder::default(),
            Some(text) => RunOrder::parse(&text).unwrap_or_else(|| {
                q.invalid(
                    "sort",
                    "literal_error",
                    "Input should be '-date', 'date', '-created_at', 'created_at', '-duration' or 'duration'",
                );
                RunOrder::default()
            }),
        };
        // Empty: no cursor, as an empty keyword is no filter.
        let cursor = q.text("cursor", MAX_CURSOR_CHARS).filter(|c| !c.is_empty());
        let page = q.int("page", 0, 0, MAX_RUNS_PAGE.into());
        if cursor.is_some() && page != 0 {
            q.invalid(
                "page",
                "value_error",
                "page and cursor exclude each other: the cursor says which page it opens",
            );
        }
        let limit = q.int(
            "limit",
            DEFAULT_RUNS_PER_PAGE.into(),
            1,
            MAX_RUNS_PER_PAGE.into(),
        );
        Some(Self {
            date_from: date_from?,
            date_to: date_to?,
            extract_status,
            transform_status,
            load_status,
            status,
            created_from,
            created_to,
            updated_since,
            event_keyword,
            extract_keyword,
            transform_keyword,
            load_keyword,
            run_ids,
            sort,
            cursor,
            page: u32::try_from(page).unwrap_or(0),
            limit: u32::try_from(limit).unwrap_or(DEFAULT_RUNS_PER_PAGE),
        })
    }
}

impl SearchRunsQuery {
    /// The search these parameters ask for, within the server's `limits`.
    ///
    /// # Errors
    ///
    /// [`ApiError::BadDateRange`] (a 422 problem, contract 4.1) when
    /// `date_from` is after `date_to` or the range is wider than
    /// `limits.max_date_range_days`.
    pub fn search(self, limits: &Limits) -> Result<RunSearch, ApiError> {
        let (date_from, date_to) = (self.date_from, self.date_to);
        check_range(date_from, date_to, limits)?;
        if let (Some(from), Some(to)) = (self.created_from, self.created_to)
            && from > to
        {
            return Err(ApiError::BadDateRange(format!(
                "created_from {from} is after created_to {to}"
            )));
        }
        let keywords = [
            (Phase::Event, self.event_keyword),
            (Phase::Extract, self.extract_keyword),
            (Phase::Transform, self.transform_keyword),
            (Phase::Load, self.load_keyword),
        ];
        Ok(RunSearch {
            date_from,
            date_to,
            statuses: [
                (Phase::Extract, self.extract_status),
                (Phase::Transform, self.transform_status),
                (Phase::Load, self.load_status),
            ]
            .into_iter()
            .flat_map(|(phase, filters)| filters.into_iter().map(move |f| (phase, f)))
            .collect(),
            run_statuses: self.status,
            created_from: self.created_from,
            created_to: self.created_to,
            updated_since: self.updated_since,
            keywords: keywords
                .into_iter()
                .filter_map(|(p, k)| k.map(|k| (p, k)))
                .collect(),
            run_ids: self.run_ids,
            order: self.sort,
            page: self.page,
            limit: self.limit,
            after: None,
            count_limit: limits.search_count_limit,
        })
    }
}

/// Most DAGs one `GET /runs` may name.
pub const MAX_DAG_IDS: usize = 100;

/// `?dag_id=` of `GET /runs`: the DAGs to search, comma-separated UUIDs.
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DagIdsQuery {
    /// The DAGs to search, comma-separated (at most 100); absent: every DAG of the company.
    #[param(value_type = Option<String>, max_length = 3_700, pattern = "^[0-9A-Fa-f-]*(,[0-9A-Fa-f-]*)*$")]
    pub dag_id: Vec<DagId>,
}

impl FromQuery for DagIdsQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let raw = q.text("dag_id", MAX_DAG_IDS * 37).unwrap_or_default();
        let mut dag_id: Vec<DagId> = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match uuid::Uuid::parse_str(part) {
                Ok(id) if !dag_id.contains(&DagId(id)) => dag_id.push(DagId(id)),
                Ok(_) => {}
                Err(e) => {
                    // The value is the issue's `input`; the message names
                    // only the fault, as the path's UUID parser words it.
                    q.invalid(
                        "dag_id",
                        "uuid_parsing",
                        format!("Input should be comma-separated UUIDs ({e})"),
                    );
                    return None;
                }
            }
        }
        if dag_id.len() > MAX_DAG_IDS {
            q.invalid("dag_id", "too_long", format!("at most {MAX_DAG_IDS} DAGs"));
            return None;
        }
        Some(Self { dag_id })
    }
}

/// Days `GET /dags` counts runs over by default (`since` = today less it).
pub const DEFAULT_DAGS_WINDOW_DAYS: i64 = 7;
/// Longest name filter, in characters.
pub const MAX_DAG_FILTER_CHARS: usize = 256;
/// Days the calendar covers by default (up to `date_to`, today unless given).
pub const DEFAULT_CALENDAR_DAYS: i64 = 366;

/// Query parameters of `GET /dags` (the fleet view).
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DagsQuery {
    /// Runs and failed runs are counted for run dates from this day on (YYYY-MM-DD) [default: 7 days ago].
    #[param(value_type = Option<String>, format = Date)]
    pub since: Option<NaiveDate>,
    /// DAGs whose name contains this, case-insensitively.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub name: Option<String>,
    /// DAGs carrying this tag (exact).
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    pub tag: Option<String>,
    /// Comma-separated statuses of the DAG's newest run: `failed`, `running`, `succeeded`.
    #[param(value_type = Option<String>, max_length = 64, pattern = "^(failed|running|succeeded)(,(failed|running|succeeded))*$")]
    pub status: Vec<RunStatus>,
    /// `name` (A to Z, unnamed DAGs last), `-last_run` (newest run first), `-failures` (most failed runs in the window first) or `-last_failure` (the most recent failure first, DAGs that never failed last).
    #[param(value_type = Option<String>, default = "name", pattern = "^(name|-last_run|-failures|-last_failure)$")]
    pub sort: DagSort,
}

impl FromQuery for DagsQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        let since = q.optional_date("since");
        let name = q
            .text("name", MAX_DAG_FILTER_CHARS)
            .filter(|n| !n.is_empty());
        let tag = q
            .text("tag", MAX_DAG_FILTER_CHARS)
            .filter(|t| !t.is_empty());
        let status = run_statuses(q, "status");
        let sort = match q.text("sort", 16).as_deref() {
            None | Some("name") => DagSort::Name,
            Some("-last_run") => DagSort::LastRun,
            Some("-failures") => DagSort::Failures,
            Some("-last_failure") => DagSort::LastFailure,
            Some(_) => {
                q.invalid(
                    "sort",
                    "literal_error",
                    "Input should be 'name', '-last_run', '-failures' or '-last_failure'",
                );
                DagSort::Name
            }
        };
        Some(Self {
            since,
            name,
            tag,
            status,
            sort,
        })
    }
}

impl DagsQuery {
    /// The query, its window starting [`DEFAULT_DAGS_WINDOW_DAYS`] before
    /// `today` unless `since` says otherwise.
    pub fn query(self, today: NaiveDate) -> DagQuery {
        DagQuery {
            since: self
                .since
                .unwrap_or(crate::model::date_moved(today, -DEFAULT_DAGS_WINDOW_DAYS)),
            name: self.name,
            tag: self.tag,
            statuses: self.status,
            sort: self.sort,
            dag: None,
        }
    }
}

/// Query parameters of `GET /dags/{dag_id}/calendar`.
#[derive(Debug, Clone, Copy, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// First run date, inclusive (YYYY-MM-DD) [default: 365 days before `date_to`, or the configured range when shorter].
    #[param(value_type = Option<String>, format = Date)]
    pub date_from: Option<NaiveDate>,
    /// Last run date, inclusive (YYYY-MM-DD) [default: today (UTC) when `date_from` is not given, else the end of the widest range from it]; at most the configured range (default 366 days) after `date_from`.
    #[param(value_type = Option<String>, format = Date)]
    pub date_to: Option<NaiveDate>,
}

impl FromQuery for CalendarQuery {
    fn from_query(q: &mut QueryValues) -> Option<Self> {
        Some(Self {
            date_from: q.optional_date("date_from"),
            date_to: q.optional_date("date_to"),
        })
    }
}

impl CalendarQuery {
    /// The range asked for, with its defaults, within the server's limits.
    ///
    /// # Errors
    ///
    /// [`ApiError::BadDateRange`] when `date_from` is after `date_to` or
    /// the range is wider than `limits.max_date_range_days`.
    pub fn range(
        self,
        today: NaiveDate,
        limits: &Limits,
    ) -> Result<(NaiveDate, NaiveDate), ApiError> {
        // One end given: the other is the widest range from it, so that a
        // single date never makes the range too wide.
        let span = DEFAULT_CALENDAR_DAYS.min(i64::from(limits.max_date_range_days.max(1))) - 1;
        let moved = crate::model::date_moved;
        let (date_from, date_to) = match (self.date_from, self.date_to) {
            (Some(from), Some(to)) => (from, to),
            (Some(from), None) => (from, moved(from, span)),
            (None, Some(to)) => (moved(to, -span), to),
            (None, None) => (moved(today, -span), today),
        };
        check_range(date_from, date_to, limits)?;
        Ok((date_from, date_to))
    }
}

/// A date range's rule (contract 4.1): `date_from` not after `date_to`,
/// at most `limits.max_date_range_days` days.
///
/// # Errors
///
/// [`ApiError::BadDateRange`] (a 422 problem) when it breaks the rule.
fn check_range(date_from: NaiveDate, date_to: NaiveDate, limits: &Limits) -> Result<(), ApiError> {
    if date_from > date_to {
        return Err(ApiError::BadDateRange(format!(
            "date_from {date_from} is after date_to {date_to}"
        )));
    }
    let days = (date_to - date_from).num_days() + 1;
    let max_days = limits.max_date_range_days;
    if days > i64::from(max_days) {
        return Err(ApiError::BadDateRange(format!(
            "the range covers {days} days; at most {max_days} are allowed"
        )));
    }
    Ok(())
}
