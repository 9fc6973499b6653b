//! The phase object: what the run index holds for one phase of a run
//! (`log.<phase>`, contract section 2), one type for the recorder that
//! writes it, the backends that store and filter it, and the HTTP view.

use serde::Serialize;
use serde_json::Value;

use crate::model::JsonRow;

/// The key of the inline rows, left out of run summaries (both backends'
/// summary columns strip it).
pub const DATA_FIELD: &str = "data";
/// The path from a phase object to its outcome, which the status filters
/// of contract 4.1 test (`true` success, `false` failed, null or absent
/// pending): `#> '{<phase>,status,success}'` on PostgreSQL,
/// `'$.<phase>.status.success'` on SQLite.
pub const SUCCESS_PATH: [&str; 2] = ["status", "success"];

/// A phase's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseStatus {
    /// `true`, `false`, or `None` while the phase runs.
    pub success: Option<bool>,
    /// Status message.
    pub message: Option<String>,
    /// Rows the phase produced.
    pub total: Option<i64>,
}

/// One phase of a run in the run index. Serialised in the contract's
/// field order (SQLite keeps this JSON text, which its keyword filters
/// match; PostgreSQL's `jsonb` orders keys its own way); read leniently:
/// rows written by other tools may lack a field or hold another type,
/// which reads as absent rather than failing the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseObject {
    /// Outcome.
    pub status: PhaseStatus,
    /// URL of the attempt's folder (of the event folder for `event`).
    pub s3_data_path: Option<String>,
    /// The attempt recorded (1-based).
    pub attempt: Option<i64>,
    /// Start time, RFC 3339 text as written.
    pub started_at: Option<String>,
    /// End time, RFC 3339 text as written.
    pub finished_at: Option<String>,
    /// The first rows of the phase (contract: up to 100); `None` in run
    /// summaries, which leave them out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<JsonRow>>,
}

impl PhaseObject {
    /// Reads a stored object leniently (see the type's doc). `None` for a
    /// JSON null (a phase not reported).
    pub fn from_json(value: &Value) -> Option<Self> {
        if value.is_null() {
            return None;
        }
        let text = |v: &Value| v.as_str().map(str::to_owned);
        let status = &value["status"];
        let data = value.get(DATA_FIELD).map(|rows| {
            rows.as_array()
                .into_iter()
                .flatten()
                .filter_map(|row| row.as_object().cloned())
                .collect()
        });
        Some(Self {
            status: PhaseStatus {
                success: status["success"].as_bool(),
                message: text(&status["message"]),
                total: status["total"].as_i64(),
            },
            s3_data_path: text(&value["s3_data_path"]),
            attempt: value["attempt"].as_i64(),
            started_at: text(&value["started_at"]),
            finished_at: text(&value["finished_at"]),
            data,
        })
    }

    /// The object as stored.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The attempt as a number a folder can have.
    pub fn attempt_number(&self) -> Option<u32> {
        self.attempt.and_then(|n| u32::try_from(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn written_in_the_contracts_shape_and_order() {
        let object = PhaseObject {
            status: PhaseStatus {
                success: Some(true),
                message: Some("ok".into()),
                total: Some(3),
            },
            s3_data_path: Some("s3://b/k/".into()),
            attempt: Some(2),
            started_at: Some("2026-11-27T00:00:00.000Z".into()),
            finished_at: None,
            data: Some(vec![json!({"id": 1}).as_object().cloned().unwrap()]),
        };
        assert_eq!(
            object.to_json().to_string(),
            r#"{"status":{"success":true,"message":"ok","total":3},"s3_data_path":"s3://b/k/","attempt":2,"started_at":"2026-11-27T00:00:00.000Z","finished_at":null,"data":[{"id":1}]}"#
        );
        assert_eq!(PhaseObject::from_json(&object.to_json()), Some(object));
    }

    #[test]
    fn other_tools_rows_read_leniently() {
        let odd = json!({"status": {"success": "yes", "total": 1.5}, "attempt": "2", "extra": 1});
        let read = PhaseObject::from_json(&odd).unwrap();
        assert_eq!(read.status, PhaseStatus::default());
        assert_eq!((read.attempt, read.data), (None, None));
        assert_eq!(PhaseObject::from_json(&Value::Null), None);
        assert_eq!(
            PhaseObject::from_json(&json!("text")),
            Some(PhaseObject::default())
        );
    }
}
