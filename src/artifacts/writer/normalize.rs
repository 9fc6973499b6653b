//! Bringing caller batches of errors and logs into the contract schemas:
//! columns found by name (or a common other spelling), cast to the
//! contract's types, defaults filled in where the contract has one, and
//! every problem of a batch reported at once.
//!
//! The columns, as `ingest --help` and the README show them:
//!
//! - errors: `error_title` (text), `error_status` (integer),
//!   `error_detail` (text), `occurred_at` (RFC 3339 timestamp) are
//!   required; `error_type` (a URI reference, default `about:blank`),
//!   `traceback` (text), `_file` and `_row` (integers: the data row it
//!   concerns), `record` (the offending input as JSON text, or an object)
//!   may be left out.
//! - logs: `ts` (RFC 3339 timestamp), `level` (DEBUG, INFO, WARNING,
//!   ERROR, CRITICAL in any case; Python's aliases WARN and FATAL too),
//!   `logger` (text), `message` (text), all required. Where a column is
//!   missing, one other spelling in common use is taken instead (only when
//!   exactly one of them is there): `timestamp` or `time` for `ts`,
//!   `levelname` or `severity` for `level`, `name` for `logger`, `msg` for
//!   `message` (the names of Python's `logging` records and of structured
//!   loggers).
//!
//! A timestamp without an offset is taken as UTC.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow_cast::CastOptions;
use arrow_schema::{DataType, SchemaRef};

use crate::artifacts::json_values::column_to_json;
use crate::artifacts::schemas::{LOG_LEVELS, errors_schema, logs_schema};
use crate::artifacts::type_names::type_name;

/// One thing wrong with a batch of errors or logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A required column is absent.
    Missing {
        /// The column.
        column: String,
    },
    /// Several other spellings of a missing column are there.
    Ambiguous {
        /// The column.
        column: String,
        /// The spellings found.
        found: Vec<String>,
    },
    /// A value cannot be read as the contract's type.
    BadType {
        /// The column.
        column: String,
        /// The contract's type, in words.
        expected: String,
        /// The first row (0-based in the batch) that does not fit, when
        /// one row is to blame.
        row: Option<usize>,
        /// That row's value, or why the column as a whole does not fit.
        found: String,
    },
    /// A required column holds a null.
    Null {
        /// The column.
        column: String,
        /// The first null row (0-based in the batch).
        row: usize,
    },
    /// A log level outside the five.
    BadLevel {
        /// The level as given.
        level: String,
        /// Its row (0-based in the batch).
        row: usize,
    },
}

/// Why a batch does not fit a contract schema: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe(&|row| format!("row {}", row + 1)))]
pub struct SchemaMismatch {
    /// `errors` or `logs`.
    pub what: &'static str,
    /// Every problem, columns in schema order.
    pub problems: Vec<Problem>,
}

impl SchemaMismatch {
    /// The problems in words, rows named by `place` (a 0-based row of the
    /// batch to, say, `line 12` of the input).
    pub fn describe(&self, place: &dyn Fn(usize) -> String) -> String {
        let missing: Vec<&str> = self
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::Missing { column } => Some(column.as_str()),
                _ => None,
            })
            .collect();
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!(
                "missing column{} {}",
                plural(missing.len()),
                missing.join(", ")
            ));
        }
        for problem in &self.problems {
            parts.push(match problem {
                Problem::Missing { .. } => continue,
                Problem::Ambiguous { column, found } => format!(
                    "column {column} is missing and several other spellings of it are there ({}): rename one to {column}",
                    found.join(", ")
                ),
                Problem::BadType {
                    column,
                    expected,
                    row: Some(row),
                    found,
                } => format!("column {column} must be {expected}, {} holds {found}", place(*row)),
                Problem::BadType {
                    column,
                    expected,
                    row: None,
                    found,
                } => format!("column {column} must be {expected}, it is {found}"),
                Problem::Null { column, row } => {
                    format!("column {column} must not be empty ({})", place(*row))
                }
                Problem::BadLevel { level, row } => format!(
                    "level {level:?} ({}) is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
                    place(*row)
                ),
            });
        }
        let expected = match self.what {
            "logs" => "the logs columns are ts (RFC 3339 timestamp), level, logger, message",
            _ => {
                "the errors columns are error_title, error_status (integer), error_detail, occurred_at (RFC 3339 timestamp), and optionally error_type, traceback, _file, _row, record"
            }
        };
        format!("{}; {expected}", parts.join("; "))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn default_for(column: &str, rows: usize) -> Option<ArrayRef> {
    match column {
        "error_type" => Some(Arc::new(StringArray::from(vec!["about:blank"; rows]))),
        _ => None,
    }
}

/// A text column with its nulls replaced by the column's default.
fn fill_nulls(array: &ArrayRef, column: &str) -> ArrayRef {
    let default = default_for(column, 1);
    let default = default
        .as_ref()
        .and_then(|d| d.as_string_opt::<i32>())
        .map_or("", |d| d.value(0));
    match array.as_string_opt::<i32>() {
        Some(text) => Arc::new(
            text.iter()
                .map(|v| Some(v.unwrap_or(default)))
                .collect::<StringArray>(),
        ),
        None => Arc::clone(array),
    }
}

/// Other spellings of a logs column, in common use.
fn aliases(what: &str, column: &str) -> &'static [&'static str] {
    match (what, column) {
        ("logs", "ts") => &["timestamp", "time"],
        ("logs", "level") => &["levelname", "severity"],
        ("logs", "logger") => &["name"],
        ("logs", "message") => &["msg"],
        _ => &[],
    }
}

fn expected_words(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "text".into(),
        DataType::Int32 | DataType::Int64 => "an integer".into(),
        DataType::Timestamp(..) => "an RFC 3339 timestamp".into(),
        other => type_name(other),
    }
}

/// The first row whose value is there but does not cast, and that value.
fn first_unfit(input: &ArrayRef, to: &DataType) -> Option<(usize, String)> {
    let lenient = arrow_cast::cast(input, to).ok()?;
    let row = (0..input.len()).find(|i| input.is_valid(*i) && lenient.is_null(*i))?;
    let value = column_to_json(input.slice(row, 1).as_ref())
        .into_iter()
        .next()
        .map_or_else(String::new, |v| v.to_string());
    Some((row, value))
}

fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    what: &'static str,
) -> Result<Vec<ArrayRef>, SchemaMismatch> {
    let rows = batch.num_rows();
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let mut problems = Vec::new();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name();
        let input = match batch.column_by_name(name) {
            Some(input) => Some(input),
            None => {
                let found: Vec<&str> = aliases(what, name)
                    .iter()
                    .copied()
                    .filter(|a| batch.column_by_name(a).is_some())
                    .collect();
                match found.as_slice() {
                    [one] => batch.column_by_name(one),
                    [] => None,
                    many => {
                        problems.push(Problem::Ambiguous {
                            column: name.clone(),
                            found: many.iter().map(|s| (*s).to_owned()).collect(),
                        });
                        continue;
                    }
                }
            }
        };
        let Some(input) = input else {
            if let Some(default) = default_for(name, rows) {
                columns.push(default);
            } else if field.is_nullable() {
                columns.push(new_null_array(field.data_type(), rows));
            } else {
                problems.push(Problem::Missing {
                    column: name.clone(),
                });
            }
            continue;
        };
        let nested = matches!(
            input.data_type(),
            DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _)
        );
        let array: ArrayRef = if field.data_type() == &DataType::Utf8 && nested {
            // `record` and friends given as JSON objects: keep them as JSON text.
            let text: Vec<Option<String>> = column_to_json(input.as_ref())
                .into_iter()
                .map(|v| (!v.is_null()).then(|| v.to_string()))
                .collect();
            Arc::new(StringArray::from(text))
        } else {
            match arrow_cast::cast_with_options(input, field.data_type(), &strict) {
                Ok(array) => array,
                Err(e) => {
                    let (row, found) = match first_unfit(input, field.data_type()) {
                        Some((row, value)) => (Some(row), value),
                        None => (None, format!("{} ({e})", type_name(input.data_type()))),
                    };
                    problems.push(Problem::BadType {
                        column: name.clone(),
                        expected: expected_words(field.data_type()),
                        row,
                        found,
                    });
                    continue;
                }
            }
        };
        // A column with a default takes it where a row leaves it empty.
        let array = match default_for(name, 1) {
            Some(_) if array.null_count() > 0 => fill_nulls(&array, name),
            _ => array,
        };
        if !field.is_nullable() && array.null_count() > 0 {
            let row = (0..rows).find(|i| array.is_null(*i)).unwrap_or(0);
            problems.push(Problem::Null {
                column: name.clone(),
                row,
            });
            continue;
        }
        columns.push(array);
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(SchemaMismatch { what, problems })
    }
}

fn other(what: &'static str, e: &arrow_schema::ArrowError) -> SchemaMismatch {
    SchemaMismatch {
        what,
        problems: vec![Problem::BadType {
            column: "*".into(),
            expected: format!("the {what} schema"),
            row: None,
            found: e.to_string(),
        }],
    }
}

/// Conforms a batch of error rows to `errors_NNN.parquet`'s schema.
/// `error_type` defaults to `about:blank`; nullable columns may be absent.
///
/// # Errors
///
/// Every missing or ill-typed column and null required value, at once.
pub fn conform_errors(batch: &RecordBatch) -> Result<RecordBatch, SchemaMismatch> {
    let schema = errors_schema();
    let columns = conform(batch, &schema, "errors")?;
    RecordBatch::try_new(schema, columns).map_err(|e| other("errors", &e))
}

/// The contract's level for a level as written: any case, and Python's
/// aliases `WARN` and `FATAL`.
fn level(written: &str) -> Option<&'static str> {
    let upper = written.trim().to_ascii_uppercase();
    let upper = match upper.as_str() {
        "WARN" => "WARNING",
        "FATAL" => "CRITICAL",
        other => other,
    };
    LOG_LEVELS.iter().copied().find(|l| *l == upper)
}

/// Conforms a batch of log rows to `logs_NNN.parquet`'s schema; levels are
/// upper-cased and must be one of the five.
///
/// # Errors
///
/// Every missing or ill-typed column, null required value and unknown
/// level, at once.
pub fn conform_logs(batch: &RecordBatch) -> Result<RecordBatch, SchemaMismatch> {
    let schema = logs_schema();
    let mut columns = match conform(batch, &schema, "logs") {
        Ok(columns) => columns,
        Err(mut mismatch) => {
            // Unknown levels too, under the name or the spelling used.
            let levels = std::iter::once("level")
                .chain(aliases("logs", "level").iter().copied())
                .find_map(|name| batch.column_by_name(name));
            if let Some(levels) = levels {
                mismatch.problems.extend(level_problems(levels));
            }
            return Err(mismatch);
        }
    };
    let level_at = schema.index_of("level").unwrap_or(1);
    let problems = level_problems(&columns[level_at]);
    if !problems.is_empty() {
        return Err(SchemaMismatch {
            what: "logs",
            problems,
        });
    }
    let levels = columns[level_at].as_string::<i32>();
    let normal: StringArray = levels.iter().map(|l| l.and_then(level)).collect();
    columns[level_at] = Arc::new(normal);
    RecordBatch::try_new(schema, columns).map_err(|e| other("logs", &e))
}

/// The first row of each unknown level.
fn level_problems(levels: &ArrayRef) -> Vec<Problem> {
    let Ok(levels) = arrow_cast::cast(levels, &DataType::Utf8) else {
        return Vec::new();
    };
    let mut problems: Vec<Problem> = Vec::new();
    for (row, written) in levels.as_string::<i32>().iter().enumerate() {
        let Some(written) = written else { continue };
        let known = problems
            .iter()
            .any(|p| matches!(p, Problem::BadLevel { level, .. } if level == written));
        if level(written).is_none() && !known {
            problems.push(Problem::BadLevel {
                level: written.to_owned(),
                row,
            });
        }
    }
    problems
}

/// Rows whose level is ERROR or CRITICAL, in a conformed logs batch.
pub fn error_level_rows(logs: &RecordBatch) -> usize {
    logs.column_by_name("level")
        .map(|c| {
            c.as_string::<i32>()
                .iter()
                .filter(|l| matches!(l, Some("ERROR" | "CRITICAL")))
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use arrow_schema::{Field, Schema};

    use super::*;

    fn strings(columns: &[(&str, Vec<&str>)]) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
            .collect();
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, v)| Arc::new(StringArray::from(v.clone())) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    #[test]
    fn logs_are_cast_and_levels_upper_cased() {
        let batch = strings(&[
            (
                "ts",
                vec!["2026-11-27T00:00:01Z", "2026-11-27T00:00:02+02:00"],
            ),
            ("level", vec!["warning", "Warn"]),
            ("logger", vec!["etl", "etl"]),
            ("message", vec!["hi", "there"]),
        ]);
        let logs = conform_logs(&batch).unwrap();
        assert_eq!(logs.schema(), logs_schema());
        let levels = logs.column(1).as_string::<i32>();
        assert_eq!((levels.value(0), levels.value(1)), ("WARNING", "WARNING"));
    }

    #[test]
    fn other_spellings_stand_in_for_missing_columns() {
        let batch = strings(&[
            ("timestamp", vec!["2026-11-27T00:00:01Z"]),
            ("levelname", vec!["fatal"]),
            ("name", vec!["etl"]),
            ("msg", vec!["hi"]),
        ]);
        let logs = conform_logs(&batch).unwrap();
        assert_eq!(logs.column(1).as_string::<i32>().value(0), "CRITICAL");
        let batch = strings(&[
            ("timestamp", vec!["2026-11-27T00:00:01Z"]),
            ("time", vec!["2026-11-27T00:00:01Z"]),
            ("level", vec!["INFO"]),
            ("logger", vec!["l"]),
            ("message", vec!["m"]),
        ]);
        let err = conform_logs(&batch).unwrap_err();
        assert!(
            matches!(&err.problems[..], [Problem::Ambiguous { .. }]),
            "{err}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let batch = strings(&[
            ("ts", vec!["2026-11-27T00:00:01Z", "yesterday"]),
            ("level", vec!["INFO", "LOUD"]),
        ]);
        let err = conform_logs(&batch).unwrap_err();
        assert_eq!(
            err.problems,
            vec![
                Problem::BadType {
                    column: "ts".into(),
                    expected: "an RFC 3339 timestamp".into(),
                    row: Some(1),
                    found: "\"yesterday\"".into(),
                },
                Problem::Missing {
                    column: "logger".into()
                },
                Problem::Missing {
                    column: "message".into()
                },
                Problem::BadLevel {
                    level: "LOUD".into(),
                    row: 1
                },
            ]
        );
        let text = err.describe(&|row| format!("line {}", row + 2));
        assert!(text.starts_with("missing columns logger, message; column ts must be an RFC 3339 timestamp, line 3 holds \"yesterday\"; level \"LOUD\" (line 3)"), "{text}");
    }

    #[test]
    fn errors_get_their_defaults() {
        let batch = strings(&[
            ("error_title", vec!["Bad row"]),
            ("error_status", vec!["422"]),
            ("error_detail", vec!["price is negative"]),
            ("occurred_at", vec!["2026-11-27T00:00:01.5Z"]),
        ]);
        let errors = conform_errors(&batch).unwrap();
        assert_eq!(errors.column(0).as_string::<i32>().value(0), "about:blank");
        assert!(errors.column_by_name("traceback").unwrap().is_null(0));
        let err = conform_errors(&strings(&[("error_title", vec!["x"])])).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
    }
}
