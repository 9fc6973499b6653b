//! The domain's identifiers, validated once at the edge so that nothing past
//! it has to re-check them: a [`Company`], a [`DagId`], a run's [`RunRef`]
//! (`date` + [`RunId`]) and a [`Phase`].

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One row as a JSON object, keyed by column name: a phase object's
/// inline rows in the run index, a row of a page.
pub type JsonRow = serde_json::Map<String, serde_json::Value>;

/// A value that failed validation; the message says which rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct InvalidValue {
    /// What was being parsed (`run_id`, `company`, ...).
    pub what: &'static str,
    /// Why it was rejected.
    pub reason: String,
}

impl InvalidValue {
    fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}

/// Longest `run_id` accepted, in bytes: Airflow's own column is
/// `VARCHAR(250)`, and with percent-encoding a key must stay under S3's
/// 1024-byte limit.
pub const MAX_RUN_ID_BYTES: usize = 250;
/// Longest company identifier accepted, in bytes.
pub const MAX_COMPANY_BYTES: usize = 128;

/// Rejects the segment values the contract forbids (empty, `.`, `..`) and
/// control characters, which no Airflow id contains and no log line should
/// carry.
fn check_segment(what: &'static str, value: &str, max: usize) -> Result<(), InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue::new(what, "must not be empty"));
    }
    if value == "." || value == ".." {
        return Err(InvalidValue::new(what, "must not be `.` or `..`"));
    }
    if value.len() > max {
        return Err(InvalidValue::new(
            what,
            format!("must be at most {max} bytes long"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidValue::new(
            what,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// The tenant. Every run-index query and every artifact key is scoped by one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Company(String);

impl Company {
    /// Validates a company identifier (from a token claim or a CLI flag).
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] when it is empty, `.` or `..`, longer than
    /// [`MAX_COMPANY_BYTES`] bytes, or holds a control character.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_segment("company", &value, MAX_COMPANY_BYTES)?;
        Ok(Self(value))
    }

    /// The identifier as stored in `id_company`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Company {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Company {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A DAG's identifier: a UUID, always rendered lowercase and hyphenated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DagId(pub Uuid);

impl fmt::Display for DagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for DagId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(DagId)
            .map_err(|e| InvalidValue::new("dag_id", format!("not a UUID ({e})")))
    }
}

/// An Airflow run id, e.g. `scheduled__2026-11-27T00:00:00+00:00`. Any text
/// but the path segments the contract forbids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// Validates a run id.
    ///
    /// # Errors
    ///
    /// [`InvalidValue`] when it is empty, `.` or `..`, longer than
    /// [`MAX_RUN_ID_BYTES`] bytes, or holds a control character.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidValue> {
        let value = value.into();
        check_segment("run_id", &value, MAX_RUN_ID_BYTES)?;
        Ok(Self(value))
    }

    /// The run id as Airflow wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RunId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// Parses a `YYYY-MM-DD` date strictly (no other format is accepted).
///
/// # Errors
///
/// [`InvalidValue`], naming `what`, when `s` is not shaped `YYYY-MM-DD` or
/// is no calendar date.
pub fn parse_date(what: &'static str, s: &str) -> Result<NaiveDate, InvalidValue> {
    let ok_shape = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !ok_shape {
        return Err(InvalidValue::new(what, "must be a date as YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| InvalidValue::new(what, format!("not a valid date ({e})")))
}

/// The first date a parameter may name (`0000-01-01`: four digits).
pub const FIRST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(0, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// The last date a parameter may name (`9999-12-31`).
pub const LAST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// `date` moved by `days` (negative: back), kept within
/// [`FIRST_DATE`]..=[`LAST_DATE`]: a range end worked out from a date at
/// the edge of what a parameter may say stays a date the run index can
/// compare (SQLite compares dates as their text, and `+10000-12-30` sorts
/// before `9999-12-31`).
pub fn date_moved(date: NaiveDate, days: i64) -> NaiveDate {
    date.checked_add_signed(chrono::Duration::days(days))
        .unwrap_or(if days < 0 { FIRST_DATE } else { LAST_DATE })
        .clamp(FIRST_DATE, LAST_DATE)
}

/// One run of one DAG: the part of the run index's primary key below the
/// company. The company is always passed beside it, never inside, so that
/// every storage call names it explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunRef {
    /// The DAG the run belongs to.
    pub dag_id: DagId,
    /// The run's partition date.
    pub date: NaiveDate,
    /// The Airflow run id.
    pub run_id: RunId,
}

impl RunRef {
    /// Bundles the parts of a run's identity.
    pub fn new(dag_id: DagId, date: NaiveDate, run_id: RunId) -> Self {
        Self {
            dag_id,
            date,
            run_id,
        }
    }
}

/// One attempt of one ETL step of a run: what the write path names, the
/// company apart (it comes from the token). Attempts count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttemptRef {
    /// The run.
    pub run: RunRef,
    /// The step (never [`Phase::Event`], which has no attempts).
    pub phase: Phase,
    /// The attempt number.
    pub attempt: u32,
}

impl AttemptRef {
    /// Bundles the parts of an attempt's identity.
    pub fn new(run: RunRef, phase: Phase, attempt: u32) -> Self {
        Self {
            run,
            phase,
            attempt,
        }
    }
}

/// A phase of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The trigger.
    Event,
    /// The first ETL step.
    Extract,
    /// The second ETL step.
    Transform,
    /// The last ETL step.
    Load,
}

impl Phase {
    /// All four phases, in pipeline order.
    pub const ALL: [Phase; 4] = [Phase::Event, Phase::Extract, Phase::Transform, Phase::Load];
    /// The three ETL steps (the phases that have attempts with data).
    pub const STEPS: [Phase; 3] = [Phase::Extract, Phase::Transform, Phase::Load];

    /// The phase's name, as in the run index's `log` keys and in artifact keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Event => "event",
            Phase::Extract => "extract",
            Phase::Transform => "transform",
            Phase::Load => "load",
        }
    }

    /// Whether this phase is one of the three ETL steps.
    pub fn is_step(self) -> bool {
        self != Phase::Event
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Phase {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                InvalidValue::new("phase", "must be one of event, extract, transform, load")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_reject_forbidden_segments() {
        for bad in ["", ".", "..", "a\nb"] {
            assert!(RunId::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(RunId::new("x".repeat(MAX_RUN_ID_BYTES + 1)).is_err());
        assert!(RunId::new("manual__x y%/..").is_ok());
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("date", "2026-11-27").is_ok());
        for bad in [
            "2026-1-27",
            "2026-02-30",
            "20261127",
            "2026-11-27T00:00:00",
            " 2026-11-27",
        ] {
            assert!(parse_date("date", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn dag_ids_render_lowercase() {
        let dag: DagId = "9F0C4C2E-8B4B-4C59-9E0F-1B2B3C4D5E6F"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dag.to_string(), "9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f");
    }
}
