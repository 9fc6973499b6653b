//! What a run search asks for (contract 4.1, and the additions of
//! `GET /api/v1/runs`): filters, order, the page, and the keyset position
//! a cursor continues from; and the page it answers.

use chrono::{DateTime, NaiveDate, Utc};

use super::{RunSummary, fleet};
use crate::model::{DagId, Phase};

/// Most `run_ids` a search may name (contract 4.1).
pub const MAX_RUN_IDS: usize = 100;

/// Matches a run search counts by default before it reports a lower
/// bound: enough for 50 pages of 20, and cheap even when most of a
/// million runs match (see docs/PERFORMANCE.md). PostgreSQL's search
/// collects this many matching keys first, so up to here the count costs
/// nothing more.
pub const DEFAULT_SEARCH_COUNT_LIMIT: u64 = 1_000;

/// A status filter of contract 4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// No filter.
    #[default]
    All,
    /// `status.success` is true.
    Success,
    /// `status.success` is false.
    Failed,
    /// The phase is absent or `status.success` is null.
    Pending,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "success" => Ok(Self::Success),
            "failed" => Ok(Self::Failed),
            "pending" => Ok(Self::Pending),
            _ => Err("must be one of all, success, failed, pending".to_owned()),
        }
    }
}

/// The order of a run search's pages (`sort=`): by run date (the
/// contract's order, the default), by when runs were first recorded, or by
/// the run's duration ([`run_duration_ms`]; runs without one last either
/// way). Ties go by the other time, then `dag_id`, then `run_id`, in the
/// same direction, so that every run has one place in the order and a
/// cursor can continue after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunOrder {
    /// `-date`: newest run date first (the contract's order).
    #[default]
    DateDesc,
    /// `date`: oldest run date first.
    DateAsc,
    /// `-created_at`: most recently created first.
    CreatedDesc,
    /// `created_at`: first created first.
    CreatedAsc,
    /// `-duration`: longest first.
    DurationDesc,
    /// `duration`: shortest first.
    DurationAsc,
}

/// One column of a run order's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyColumn {
    /// `duration_ms`, with runs without one placed last.
    Duration,
    /// `date`.
    Date,
    /// `created_at`.
    CreatedAt,
    /// `dag_id`.
    DagId,
    /// `run_id`.
    RunId,
}

impl RunOrder {
    /// Every order, in the `sort` parameter's words.
    pub const ALL: [(&'static str, Self); 6] = [
        ("-date", Self::DateDesc),
        ("date", Self::DateAsc),
        ("-created_at", Self::CreatedDesc),
        ("created_at", Self::CreatedAsc),
        ("-duration", Self::DurationDesc),
        ("duration", Self::DurationAsc),
    ];

    /// From the `sort` parameter's value.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, order)| *order)
    }

    /// The `sort` parameter's value.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, order)| *order == self)
            .map_or("-date", |(name, _)| name)
    }

    /// Newest, latest or longest first.
    pub(crate) fn descending(self) -> bool {
        matches!(
            self,
            Self::DateDesc | Self::CreatedDesc | Self::DurationDesc
        )
    }

    /// The key's columns, most significant first.
    pub(crate) fn key_columns(self) -> &'static [KeyColumn] {
        use KeyColumn::{CreatedAt, DagId, Date, Duration, RunId};
        match self {
            Self::DateDesc | Self::DateAsc => &[Date, CreatedAt, DagId, RunId],
            Self::CreatedDesc | Self::CreatedAsc => &[CreatedAt, Date, DagId, RunId],
            Self::DurationDesc | Self::DurationAsc => &[Duration, Date, CreatedAt, DagId, RunId],
        }
    }

    /// What a run without a duration sorts as: past the last of either
    /// direction.
    pub(crate) fn missing_duration(self) -> i64 {
        if self.descending() { -1 } else { i64::MAX }
    }

    /// A key column's SQL expression, prefixed with `table` (`"l."` or
    /// `""`).
    pub(crate) fn column_sql(self, column: KeyColumn, table: &str) -> String {
        match column {
            KeyColumn::Duration => {
                format!("COALESCE({table}duration_ms, {})", self.missing_duration())
            }
            KeyColumn::Date => format!("{table}date"),
            KeyColumn::CreatedAt => format!("{table}created_at"),
            KeyColumn::DagId => format!("{table}dag_id"),
            KeyColumn::RunId => format!("{table}run_id"),
        }
    }

    /// The `ORDER BY` list, its columns prefixed with `table`.
    pub(crate) fn sql(self, table: &str) -> String {
        let direction = if self.descending() { "DESC" } else { "ASC" };
        self.key_columns()
            .iter()
            .map(|c| format!("{} {direction}", self.column_sql(*c, table)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The keyset condition "after the key" without its values:
    /// `(<columns>) < (` for a descending order, `>` otherwise; the
    /// caller binds one value per [`RunOrder::key_columns`] and closes it.
    pub(crate) fn after_sql(self, table: &str) -> String {
        let columns: Vec<String> = self
            .key_columns()
            .iter()
            .map(|c| self.column_sql(*c, table))
            .collect();
        let comparison = if self.descending() { "<" } else { ">" };
        format!("({}) {comparison} (", columns.join(", "))
    }

    /// Whether the newest-first index gives this order (read forwards or
    /// backwards), so a page can walk it instead of sorting the matches.
    pub(crate) fn follows_the_date_index(self) -> bool {
        matches!(self, Self::DateDesc | Self::DateAsc)
    }
}

/// Where a page starts in its order: the key of the run before it (the
/// last run of the page a cursor was given with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The run's duration in milliseconds, if it has one.
    pub duration_ms: Option<i64>,
    /// Its run date.
    pub date: NaiveDate,
    /// When it was first recorded.
    pub created_at: DateTime<Utc>,
    /// Its DAG.
    pub dag_id: DagId,
    /// Its run id.
    pub run_id: String,
}

impl SortKey {
    /// The key of a run of a page.
    pub fn of(run: &RunSummary) -> Self {
        Self {
            duration_ms: run.duration_ms,
            date: run.date,
            created_at: run.created_at,
            dag_id: run.dag_id,
            run_id: run.run_id.clone(),
        }
    }
}

/// A run search (contract 4.1), already validated.
#[derive(Debug, Clone)]
pub struct RunSearch {
    /// First partition date, inclusive.
    pub date_from: NaiveDate,
    /// Last partition date, inclusive.
    pub date_to: NaiveDate,
    /// Status filters of the three ETL steps; several for one phase match
    /// any of them (`extract_status=failed,pending`).
    pub statuses: Vec<(Phase, StatusFilter)>,
    /// Run-level statuses ([`fleet::RunStatus`]); several match any of
    /// them; empty: no filter.
    pub run_statuses: Vec<fleet::RunStatus>,
    /// Runs first recorded at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Runs first recorded at or before this time.
    pub created_to: Option<DateTime<Utc>>,
    /// Runs with a phase recorded at or after this time (for clients that
    /// poll).
    pub updated_since: Option<DateTime<Utc>>,
    /// Keyword filters, one per phase at most; literal, case-insensitive.
    pub keywords: Vec<(Phase, String)>,
    /// Allowlist of run ids (empty: no allowlist).
    pub run_ids: Vec<String>,
    /// The order of the pages.
    pub order: RunOrder,
    /// 0-based page (with `after`, the number of the page that starts
    /// there).
    pub page: u32,
    /// Page size, in runs.
    pub limit: u32,
    /// Start after this run of the order (keyset pagination: the page is
    /// found from the index, however deep), not at `page * limit`.
    pub after: Option<SortKey>,
    /// Count matches at least up to here, then stop (`None`: count them
    /// all). Past it the page's `total` is a lower bound: an exact count
    /// rechecks every matching run, which over a million runs takes seconds.
    pub count_limit: Option<u64>,
}

impl RunSearch {
    /// A search over a date range with no other filter, first page of 20.
    pub fn new(date_from: NaiveDate, date_to: NaiveDate) -> Self {
        Self {
            date_from,
            date_to,
            statuses: Vec::new(),
            run_statuses: Vec::new(),
            created_from: None,
            created_to: None,
            updated_since: None,
            keywords: Vec::new(),
            run_ids: Vec::new(),
            order: RunOrder::default(),
            page: 0,
            limit: 20,
            after: None,
            count_limit: None,
        }
    }

    /// Runs before the page in its order.
    pub fn offset(&self) -> i64 {
        i64::from(self.page) * i64::from(self.limit)
    }

    /// The `OFFSET` of the page query: none after a keyset position.
    pub(crate) fn sql_offset(&self) -> i64 {
        if self.after.is_some() {
            0
        } else {
            self.offset()
        }
    }

    /// The status filters that actually filter, grouped by phase (a
    /// phase's filters match any of them; a phase with `all` among them
    /// is not filtered).
    pub(crate) fn active_statuses(&self) -> Vec<(Phase, Vec<StatusFilter>)> {
        let mut groups: Vec<(Phase, Vec<StatusFilter>)> = Vec::new();
        for (phase, filter) in &self.statuses {
            match groups.iter_mut().find(|(p, _)| p == phase) {
                Some((_, filters)) => filters.push(*filter),
                None => groups.push((*phase, vec![*filter])),
            }
        }
        groups.retain(|(_, filters)| !filters.contains(&StatusFilter::All));
        groups
    }

    /// Keywords that actually filter (not empty).
    pub(crate) fn active_keywords(&self) -> impl Iterator<Item = (Phase, &str)> + '_ {
        self.keywords
            .iter()
            .filter(|(_, k)| !k.is_empty())
            .map(|(p, k)| (*p, k.as_str()))
    }

    /// What the runs a search answers depend on, besides the company and
    /// its DAGs: every filter, the order and the page size (not the
    /// position). A cursor carries a digest of it, so that it continues
    /// only the search it came from.
    pub fn identity(&self) -> String {
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
            self.date_from,
            self.date_to,
            self.active_statuses(),
            self.run_statuses,
            self.created_from.map(|t| t.timestamp_micros()),
            self.created_to.map(|t| t.timestamp_micros()),
            self.updated_since.map(|t| t.timestamp_micros()),
            self.active_keywords().collect::<Vec<_>>(),
            self.run_ids,
            self.order.as_str(),
            self.limit,
        )
    }
}

/// The rare statuses the partial indexes of schema version 4 hold, each
/// as (name, the backend's SQL condition of its filter): each phase
/// failed or pending, a run failed or running. A search whose filter is
/// one of them reads only its runs, newest first, because the index's
/// condition is exactly the filter's SQL (`phase_sql`, `run_sql`: the
/// backend's own).
pub(crate) fn rare_statuses(
    phase_sql: impl Fn(Phase, StatusFilter) -> Option<String>,
    run_sql: impl Fn(fleet::RunStatus) -> String,
) -> Vec<(String, String)> {
    let mut conditions = Vec::new();
    for phase in [Phase::Extract, Phase::Transform, Phase::Load] {
        for (name, status) in [
            ("failed", StatusFilter::Failed),
            ("pending", StatusFilter::Pending),
        ] {
            if let Some(sql) = phase_sql(phase, status) {
                conditions.push((format!("{phase}_{name}"), sql));
            }
        }
    }
    for (name, status) in [
        ("failed", fleet::RunStatus::Failed),
        ("running", fleet::RunStatus::Running),
    ] {
        conditions.push((format!("run_{name}"), run_sql(status)));
    }
    conditions
}

/// The SQL conditions of a search's status filters, each `(a OR b …)`:
/// one per phase with a status filter, one for the run status, from the
/// backend's own `phase_sql` and `run_sql` (as [`rare_statuses`]).
pub(crate) fn status_conditions(
    search: &RunSearch,
    phase_sql: impl Fn(Phase, StatusFilter) -> Option<String>,
    run_sql: impl Fn(fleet::RunStatus) -> String,
) -> Vec<String> {
    let mut conditions: Vec<String> = search
        .active_statuses()
        .into_iter()
        .map(|(phase, filters)| {
            let any: Vec<String> = filters
                .iter()
                .filter_map(|status| phase_sql(phase, *status))
                .collect();
            format!("({})", any.join(" OR "))
        })
        .collect();
    if !search.run_statuses.is_empty() {
        let any: Vec<String> = search.run_statuses.iter().map(|s| run_sql(*s)).collect();
        conditions.push(format!("({})", any.join(" OR ")));
    }
    conditions
}

/// Cleans a `run_ids` parameter: entries trimmed, empty ones and
/// duplicates dropped, order kept.
pub fn parse_run_ids(raw: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter(|s| seen.insert(*s))
        .map(str::to_owned)
        .collect()
}

/// A page of search results and the number of runs matching in all.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs of the requested page, in the search's order.
    pub items: Vec<RunSummary>,
    /// Runs matching the filters, over all pages (a lower bound when
    /// `total_exact` is false).
    pub total: u64,
    /// Whether `total` is the exact count (false: counting stopped at the
    /// search's `count_limit`).
    pub total_exact: bool,
    /// Whether a later page holds more runs (known from the page query,
    /// which fetches one run more than the page, not from the count).
    pub has_more: bool,
}

impl RunPage {
    /// The page from the rows the page query returned (up to `limit + 1`)
    /// and the count: exact when `counted_up_to` is `None` or not
    /// exceeded, else a count that stopped past `counted_up_to`.
    pub(crate) fn new(
        mut items: Vec<RunSummary>,
        counted: i64,
        counted_up_to: Option<u64>,
        search: &RunSearch,
    ) -> Self {
        let limit = usize::try_from(search.limit).unwrap_or(usize::MAX);
        let has_more = items.len() > limit;
        items.truncate(limit);
        let counted = u64::try_from(counted).unwrap_or(0);
        let (total, total_exact) = match counted_up_to {
            Some(cap) if counted > cap => {
                // The runs up to the end of a non-empty page are known to
                // match, even past the cap.
                let seen = match items.len() {
                    0 => 0,
                    n => u64::try_from(search.offset()).unwrap_or(0) + n as u64,
                };
                (cap.max(seen), false)
            }
            _ => (counted, true),
        };
        Self {
            items,
            total,
            total_exact,
            has_more,
        }
    }

    /// Where the next page starts: the key of this page's last run, when
    /// a later page holds more.
    pub fn next_key(&self) -> Option<SortKey> {
        self.items.last().filter(|_| self.has_more).map(SortKey::of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_trimmed_and_deduplicated() {
        assert_eq!(parse_run_ids(" a, b,,a , c ,"), vec!["a", "b", "c"]);
        assert!(parse_run_ids(" , ").is_empty());
    }

    #[test]
    fn orders_read_back_and_place_missing_durations_last() {
        for (name, order) in RunOrder::ALL {
            assert_eq!(RunOrder::parse(name), Some(order));
            assert_eq!(order.as_str(), name);
        }
        assert_eq!(
            RunOrder::DurationDesc.sql("l."),
            "COALESCE(l.duration_ms, -1) DESC, l.date DESC, l.created_at DESC, l.dag_id DESC, l.run_id DESC"
        );
        assert_eq!(
            RunOrder::DateAsc.after_sql(""),
            "(date, created_at, dag_id, run_id) > ("
        );
        assert_eq!(RunOrder::DurationAsc.missing_duration(), i64::MAX);
    }
}
