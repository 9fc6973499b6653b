//! The fleet view of the run index: a catalog of DAGs (names people know
//! them by) and what `GET /api/v1/dags` and the calendar answer from,
//! kept up to date by every write instead of computed by scanning runs.
//!
//! Two tables per backend, written in the transaction that records a
//! phase ([`super::RunIndex::record_phase`]):
//! - `dags`: one row per DAG of a company: its catalog entry (name,
//!   description, tags, owner; all optional), first and last seen, runs
//!   recorded, its newest run and that run's status, its newest failure.
//! - `dag_days`: per DAG and run date, runs and failed runs.
//!
//! The rules (what a run's status is, which run is the newest, which
//! failure is the last) are this module's, so both backends and the
//! rebuild from `logs` agree by construction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::run_time::run_duration_ms;
use super::{PhaseObject, PhaseObjects, RunSummary};
use crate::model::{Company, DagId, Phase};

/// A run's status from its phases (contract: `success` true, false, or
/// null while running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// A phase failed (`success: false`).
    Failed,
    /// No phase failed and one is still running (`success: null`).
    Running,
    /// Every phase recorded succeeded.
    Succeeded,
}

impl RunStatus {
    /// The status of a run with these phases; `None` when it has none.
    pub fn of(phases: &PhaseObjects) -> Option<Self> {
        let recorded: Vec<&PhaseObject> =
            Phase::ALL.iter().filter_map(|p| phases.get(*p)).collect();
        if recorded.is_empty() {
            return None;
        }
        Some(
            if recorded.iter().any(|o| o.status.success == Some(false)) {
                Self::Failed
            } else if recorded.iter().any(|o| o.status.success.is_none()) {
                Self::Running
            } else {
                Self::Succeeded
            },
        )
    }

    /// As stored and as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
        }
    }

    /// From its stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "failed" => Some(Self::Failed),
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            _ => None,
        }
    }
}

/// A DAG's catalog entry, as its writers describe it; every field is
/// optional, and reading never needs one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DagInfo {
    /// The name people know the DAG by (Airflow's `dag_id` string, say).
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Tags (Airflow's DAG tags).
    pub tags: Vec<String>,
    /// Who owns it.
    pub owner: Option<String>,
}

/// A run's place in the order that decides a DAG's newest run: run date,
/// then when it was first recorded, then its id (the order of the run
/// search).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunKey {
    /// Run date.
    pub date: NaiveDate,
    /// When the run was first recorded.
    pub created_at: DateTime<Utc>,
    /// Airflow run id.
    pub run_id: String,
}

/// The newest failure recorded for a DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The failed run.
    pub run: RunKey,
    /// The phase that failed.
    pub phase: Phase,
    /// Its status message.
    pub message: Option<String>,
}

/// What `dags` holds for one DAG beside its catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DagState {
    /// When a phase of the DAG was first recorded.
    pub first_seen: Option<DateTime<Utc>>,
    /// When a phase of the DAG was last recorded.
    pub last_seen: Option<DateTime<Utc>>,
    /// Runs recorded.
    pub runs: i64,
    /// The newest run and its status.
    pub last_run: Option<(RunKey, Option<RunStatus>)>,
    /// The newest failure.
    pub last_failure: Option<Failure>,
}

/// One phase recorded: the run before and after it.
#[derive(Debug, Clone)]
pub struct PhaseChange<'a> {
    /// The run's place in the order.
    pub run: RunKey,
    /// Whether this write created the run.
    pub created: bool,
    /// The run's phases before the write.
    pub before: &'a PhaseObjects,
    /// The phase written.
    pub phase: Phase,
    /// Its new object.
    pub object: &'a PhaseObject,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

impl PhaseChange<'_> {
    /// The run's phases after the write.
    pub fn after(&self) -> PhaseObjects {
        let mut after = self.before.clone();
        after.set(self.phase, self.object.clone());
        after
    }

    /// What the write adds to its run date's counts: (runs, failed runs).
    pub fn day_delta(&self) -> (i64, i64) {
        let failed =
            |phases: &PhaseObjects| i64::from(RunStatus::of(phases) == Some(RunStatus::Failed));
        (
            i64::from(self.created),
            failed(&self.after()) - failed(self.before),
        )
    }

    /// The DAG's state after the write. When the write took the failure
    /// off the run that was the DAG's last failed run, the state holds no
    /// failure and [`Applied::find_last_failure`] asks the backend to look
    /// for the newest run still failed (see [`newest_failure`]).
    pub fn apply(&self, state: &DagState) -> Applied {
        let mut next = state.clone();
        // As the rebuild sees them: the runs' first records and the
        // latest record (a run's `updated_at` never goes back).
        let created = self.run.created_at;
        next.first_seen = Some(state.first_seen.map_or(created, |t| t.min(created)));
        next.last_seen = Some(state.last_seen.map_or(self.at, |t| t.max(self.at)));
        next.runs += i64::from(self.created);
        let after = self.after();
        let newest = state
            .last_run
            .as_ref()
            .is_none_or(|(key, _)| self.run >= *key);
        if newest {
            next.last_run = Some((self.run.clone(), RunStatus::of(&after)));
        }
        let mut find_last_failure = false;
        match failure_of(&self.run, &after) {
            Some(failure)
                if state
                    .last_failure
                    .as_ref()
                    .is_none_or(|f| self.run >= f.run) =>
            {
                next.last_failure = Some(failure);
            }
            Some(_) => {}
            None => {
                if state
                    .last_failure
                    .as_ref()
                    .is_some_and(|f| f.run == self.run)
                {
                    next.last_failure = None;
                    find_last_failure = true;
                }
            }
        }
        Applied {
            state: next,
            find_last_failure,
        }
    }
}

/// A DAG's state after a write, and whether its last failed run must be
/// looked for again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The state to store.
    pub state: DagState,
    /// The run that was the last failed one recovered: the backend finds
    /// the newest run still failed (the newest day of `dag_days` with
    /// failed runs, then that day's runs) and sets it.
    pub find_last_failure: bool,
}

/// The failure of a run whose status is failed: its first failed phase,
/// in phase order, and that phase's message.
pub fn failure_of(run: &RunKey, phases: &PhaseObjects) -> Option<Failure> {
    Phase::ALL.into_iter().find_map(|p| {
        phases
            .get(p)
            .filter(|o| o.status.success == Some(false))
            .map(|o| Failure {
                run: run.clone(),
                phase: p,
                message: o.status.message.clone(),
            })
    })
}

/// The newest failure among `runs` (one run date's runs, say).
pub fn newest_failure<'a>(runs: impl IntoIterator<Item = &'a RunSummary>) -> Option<Failure> {
    runs.into_iter()
        .filter_map(|r| {
            failure_of(
                &RunKey {
                    date: r.date,
                    created_at: r.created_at,
                    run_id: r.run_id.clone(),
                },
                &r.phases,
            )
        })
        .max_by(|a, b| a.run.cmp(&b.run))
}

/// The fleet tables rebuilt from the runs themselves (a database migrated
/// from before they existed): runs are added one by one, in any order.
#[derive(Debug, Default)]
pub struct Rebuild {
    /// Every DAG's state.
    pub dags: BTreeMap<(Company, DagId), DagState>,
    /// Runs and failed runs per DAG and run date.
    pub days: BTreeMap<(Company, DagId, NaiveDate), (i64, i64)>,
    /// Runs read so far.
    pub seen: u64,
    /// Runs whose stored duration is not the one their phases give.
    pub durations: Vec<StaleDuration>,
}

/// A run whose stored `duration_ms` the rebuild corrects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleDuration {
    /// The company as stored.
    pub company: String,
    /// The DAG.
    pub dag_id: DagId,
    /// The run date.
    pub date: NaiveDate,
    /// The run id.
    pub run_id: String,
    /// Its duration ([`run_duration_ms`]).
    pub duration_ms: Option<i64>,
}

/// Runs of the rebuild between two progress lines in the log.
const REBUILD_PROGRESS_EVERY: u64 = 100_000;

impl Rebuild {
    /// Counts one run as a backend read it: the company as stored (a
    /// name no token could carry has no fleet to show, and is passed
    /// over), progress in the log.
    pub fn add_row(&mut self, company: String, run: &RunSummary) {
        let duration_ms = run_duration_ms(&run.phases);
        if duration_ms != run.duration_ms {
            self.durations.push(StaleDuration {
                company: company.clone(),
                dag_id: run.dag_id,
                date: run.date,
                run_id: run.run_id.clone(),
                duration_ms,
            });
        }
        if let Ok(company) = Company::new(company) {
            self.add(&company, run);
        }
        self.seen += 1;
        if self.seen.is_multiple_of(REBUILD_PROGRESS_EVERY) {
            tracing::info!(
                runs = self.seen,
                "rebuilding the DAG summaries from the runs"
            );
        }
    }

    /// Says in the log what was rebuilt.
    pub fn report(&self) {
        tracing::info!(
            runs = self.seen,
            dags = self.dags.len(),
            durations_set = self.durations.len(),
            "DAG summaries and run durations rebuilt from the runs"
        );
    }

    /// Counts one run of `company`.
    pub fn add(&mut self, company: &Company, run: &RunSummary) {
        let state = self.dags.entry((company.clone(), run.dag_id)).or_default();
        state.runs += 1;
        state.first_seen = Some(
            state
                .first_seen
                .map_or(run.created_at, |t| t.min(run.created_at)),
        );
        state.last_seen = Some(
            state
                .last_seen
                .map_or(run.updated_at, |t| t.max(run.updated_at)),
        );
        let key = RunKey {
            date: run.date,
            created_at: run.created_at,
            run_id: run.run_id.clone(),
        };
        let status = RunStatus::of(&run.phases);
        if state.last_run.as_ref().is_none_or(|(k, _)| key >= *k) {
            state.last_run = Some((key.clone(), status));
        }
        if let Some(failure) = failure_of(&key, &run.phases)
            && state.last_failure.as_ref().is_none_or(|f| key >= f.run)
        {
            state.last_failure = Some(failure);
        }
        let day = self
            .days
            .entry((company.clone(), run.dag_id, run.date))
            .or_default();
        day.0 += 1;
        day.1 += i64::from(status == Some(RunStatus::Failed));
    }
}

/// One DAG of `GET /api/v1/dags`.
#[derive(Debug, Clone, PartialEq)]
pub struct DagEntry {
    /// The DAG.
    pub dag_id: DagId,
    /// Its catalog entry.
    pub info: DagInfo,
    /// What the run index keeps about it.
    pub state: DagState,
    /// The newest run's phases (without inline rows), when it has runs.
    pub last_run_phases: Option<PhaseObjects>,
    /// Runs whose date is in the window asked for.
    pub runs_in_window: i64,
    /// Failed runs among them.
    pub failed_in_window: i64,
}

/// How `GET /api/v1/dags` orders DAGs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DagSort {
    /// By name (DAGs without one last, by id).
    #[default]
    Name,
    /// Newest run first.
    LastRun,
    /// Most failed runs in the window first.
    Failures,
    /// The most recent failure first (DAGs that never failed last).
    LastFailure,
}

/// A `GET /api/v1/dags` query.
#[derive(Debug, Clone)]
pub struct DagQuery {
    /// Run dates counted from this day on (the window).
    pub since: NaiveDate,
    /// Names containing this, case-insensitively.
    pub name: Option<String>,
    /// DAGs with this tag.
    pub tag: Option<String>,
    /// DAGs whose newest run has one of these statuses.
    pub statuses: Vec<RunStatus>,
    /// The order.
    pub sort: DagSort,
    /// This DAG only (one DAG's page), read by its key instead of reading
    /// the company's every DAG.
    pub dag: Option<DagId>,
}

impl DagQuery {
    /// Every DAG of the company, by name, its window from `since`.
    pub fn since(since: NaiveDate) -> Self {
        Self {
            since,
            name: None,
            tag: None,
            statuses: Vec::new(),
            sort: DagSort::default(),
            dag: None,
        }
    }
}

/// Runs and failed runs of one run date (the calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// Run date.
    pub date: NaiveDate,
    /// Runs.
    pub runs: i64,
    /// Failed runs.
    pub failed_runs: i64,
}

/// Orders and filters DAG entries read from a backend: the same rule for
/// both (there are at most a few thousand DAGs per company, so this costs
/// microseconds beside the query).
pub fn arrange(mut entries: Vec<DagEntry>, query: &DagQuery) -> Vec<DagEntry> {
    let folded = query
        .name
        .as_deref()
        .map(|n| crate::casefold::fold(n).into_owned());
    entries.retain(|e| {
        let named = match (&folded, &e.info.name) {
            (None, _) => true,
            (Some(want), Some(name)) => crate::casefold::fold(name).contains(want.as_str()),
            (Some(_), None) => false,
        };
        let tagged = query
            .tag
            .as_ref()
            .is_none_or(|t| e.info.tags.iter().any(|have| have == t));
        let status = query.statuses.is_empty()
            || e.state
                .last_run
                .as_ref()
                .and_then(|(_, s)| *s)
                .is_some_and(|s| query.statuses.contains(&s));
        named && tagged && status
    });
    match query.sort {
        DagSort::Name => entries.sort_by(|a, b| {
            (a.info.name.is_none(), &a.info.name, a.dag_id).cmp(&(
                b.info.name.is_none(),
                &b.info.name,
                b.dag_id,
            ))
        }),
        DagSort::LastRun => entries.sort_by(|a, b| {
            let key = |e: &DagEntry| e.state.last_run.as_ref().map(|(k, _)| k.clone());
            key(b).cmp(&key(a)).then(a.dag_id.cmp(&b.dag_id))
        }),
        DagSort::Failures => entries.sort_by(|a, b| {
            b.failed_in_window
                .cmp(&a.failed_in_window)
                .then(a.dag_id.cmp(&b.dag_id))
        }),
        DagSort::LastFailure => entries.sort_by(|a, b| {
            let key = |e: &DagEntry| e.state.last_failure.as_ref().map(|f| f.run.clone());
            key(b).cmp(&key(a)).then(a.dag_id.cmp(&b.dag_id))
        }),
    }
    entries
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::runindex::PhaseStatus;

    fn object(success: Option<bool>, message: &str) -> PhaseObject {
        PhaseObject {
            status: PhaseStatus {
                success,
                message: Some(message.into()),
                total: None,
            },
            ..PhaseObject::default()
        }
    }

    fn key(day: u32, run: &str) -> RunKey {
        RunKey {
            date: NaiveDate::from_ymd_opt(2026, 11, day).unwrap(),
            created_at: Utc.with_ymd_and_hms(2026, 11, day, 1, 0, 0).unwrap(),
            run_id: run.into(),
        }
    }

    #[test]
    fn a_run_is_failed_running_or_succeeded_by_its_phases() {
        let mut phases = PhaseObjects::default();
        assert_eq!(RunStatus::of(&phases), None);
        phases.set(Phase::Extract, object(Some(true), "ok"));
        assert_eq!(RunStatus::of(&phases), Some(RunStatus::Succeeded));
        phases.set(Phase::Transform, object(None, "running"));
        assert_eq!(RunStatus::of(&phases), Some(RunStatus::Running));
        phases.set(Phase::Load, object(Some(false), "boom"));
        assert_eq!(RunStatus::of(&phases), Some(RunStatus::Failed));
    }

    #[test]
    fn a_retry_that_succeeds_takes_the_failure_off_its_day() {
        let before = PhaseObjects::default();
        let failed = object(Some(false), "timeout");
        let first = PhaseChange {
            run: key(27, "r1"),
            created: true,
            before: &before,
            phase: Phase::Extract,
            object: &failed,
            at: Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap(),
        };
        assert_eq!(first.day_delta(), (1, 1));
        let state = first.apply(&DagState::default()).state;
        assert_eq!(state.runs, 1);
        assert_eq!(
            state.last_failure.as_ref().map(|f| f.message.as_deref()),
            Some(Some("timeout"))
        );
        let after_first = first.after();
        let ok = object(Some(true), "ok");
        let retry = PhaseChange {
            run: key(27, "r1"),
            created: false,
            before: &after_first,
            phase: Phase::Extract,
            object: &ok,
            at: Utc.with_ymd_and_hms(2026, 11, 27, 2, 0, 0).unwrap(),
        };
        assert_eq!(retry.day_delta(), (0, -1));
        let applied = retry.apply(&state);
        assert!(applied.find_last_failure, "it was the last failed run");
        let state = applied.state;
        assert_eq!(state.runs, 1);
        assert_eq!(
            state
                .last_run
                .as_ref()
                .map(|(k, s)| (k.run_id.as_str(), *s)),
            Some(("r1", Some(RunStatus::Succeeded)))
        );
        // The backend looks for an older failed run.
        assert!(state.last_failure.is_none());
    }

    #[test]
    fn an_older_run_does_not_become_the_newest() {
        let before = PhaseObjects::default();
        let ok = object(Some(true), "ok");
        let change = |run: RunKey| PhaseChange {
            run,
            created: true,
            before: &before,
            phase: Phase::Extract,
            object: &ok,
            at: Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap(),
        };
        let state = change(key(27, "new")).apply(&DagState::default()).state;
        let state = change(key(20, "old")).apply(&state).state;
        assert_eq!(state.runs, 2);
        assert_eq!(
            state.last_run.map(|(k, _)| k.run_id),
            Some("new".to_owned())
        );
    }
}
