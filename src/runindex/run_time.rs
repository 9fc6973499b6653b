//! A run's time as its phases state it: phase times read as writers put
//! them, and the run's duration (what `sort=-duration` orders by, kept at
//! record time).

use chrono::{DateTime, NaiveDateTime, Utc};

use super::PhaseObjects;
use crate::model::Phase;

/// A phase time as writers put it: RFC 3339, or an ISO 8601 time without
/// an offset (Python's `datetime.isoformat()` of a naive time), read as
/// UTC; `None` for anything else.
pub fn phase_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

/// A run's duration in milliseconds (what `sort=-duration` orders by):
/// from the earliest `started_at` of its phases to the latest
/// `finished_at`. `None` while a phase that started has not finished, when
/// no phase has both times, when a time does not parse, or when the end
/// is before the start.
pub fn run_duration_ms(phases: &PhaseObjects) -> Option<i64> {
    let mut start: Option<DateTime<Utc>> = None;
    let mut end: Option<DateTime<Utc>> = None;
    for phase in Phase::ALL {
        let Some(object) = phases.get(phase) else {
            continue;
        };
        let started = match object.started_at.as_deref() {
            Some(text) => Some(phase_time(text)?),
            None => None,
        };
        let finished = match object.finished_at.as_deref() {
            Some(text) => Some(phase_time(text)?),
            None => None,
        };
        if started.is_some() && finished.is_none() {
            return None;
        }
        start = match (start, started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        end = match (end, finished) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let millis = (end? - start?).num_milliseconds();
    (millis >= 0).then_some(millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runindex::PhaseObject;

    fn timed(started: Option<&str>, finished: Option<&str>) -> PhaseObject {
        let mut json = serde_json::json!({"status": {"success": true}});
        if let Some(s) = started {
            json["started_at"] = s.into();
        }
        if let Some(f) = finished {
            json["finished_at"] = f.into();
        }
        PhaseObject::from_json(&json).unwrap()
    }

    #[test]
    fn a_run_lasts_from_its_first_start_to_its_last_end() {
        let mut phases = PhaseObjects::default();
        phases.set(Phase::Event, timed(None, None));
        phases.set(
            Phase::Extract,
            timed(
                Some("2026-11-27T10:00:00Z"),
                Some("2026-11-27T10:01:00.5+00:00"),
            ),
        );
        phases.set(
            Phase::Load,
            // Python's isoformat() of a naive time: read as UTC.
            timed(Some("2026-11-27T10:02:00"), Some("2026-11-27 10:05:00")),
        );
        assert_eq!(run_duration_ms(&phases), Some(300_000));
        // Still running: no duration yet.
        phases.set(Phase::Transform, timed(Some("2026-11-27T10:01:00Z"), None));
        assert_eq!(run_duration_ms(&phases), None);
        // A time that does not parse, or an end before the start: none.
        phases.set(Phase::Transform, timed(Some("yesterday"), Some("today")));
        assert_eq!(run_duration_ms(&phases), None);
        let mut backwards = PhaseObjects::default();
        backwards.set(
            Phase::Extract,
            timed(Some("2026-11-27T10:00:00Z"), Some("2026-11-27T09:00:00Z")),
        );
        assert_eq!(run_duration_ms(&backwards), None);
        assert_eq!(run_duration_ms(&PhaseObjects::default()), None);
    }
}
