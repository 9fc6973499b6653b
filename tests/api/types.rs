//! Every Parquet logical type, as pyarrow, DuckDB and polars write it
//! (`tests/fixtures/types/`), read through the data endpoint and compared
//! value by value with what DuckDB reads from the same file (the
//! `.duckdb.json` beside each file, written by `duckdb_values.py`). Where
//! dagtrail knowingly differs, the difference is checked too, and said in
//! the table of `docs/PARQUET_TYPES.md`, which this test writes
//! (`DAGTRAIL_UPDATE_DOCS=1`) and otherwise holds the document to.

use std::fmt::Write as _;
use std::path::Path;

use axum::http::StatusCode;
use chrono::NaiveDate;
use dagtrail::artifacts::RunFolder;
use dagtrail::model::{Company, Phase, RunId, RunRef};
use serde_json::Value;

use crate::support::{TestApp, artifacts_dir, embedded, plant_data_file};

const FILES: [&str; 8] = [
    "pyarrow.parquet",
    "pyarrow_decimal_int.parquet",
    "pyarrow_int96.parquet",
    "pyarrow_int96_schema.parquet",
    "duckdb.parquet",
    "duckdb_array.parquet",
    "polars.parquet",
    "polars_int128.parquet",
];

/// Writes a committed attempt whose only data file is `file`.
fn plant(app: &TestApp, company: &Company, run: &RunRef, file: &Path) {
    let folder = RunFolder::new(company, run)
        .unwrap()
        .attempt(Phase::Extract, 1)
        .unwrap();
    plant_data_file(&artifacts_dir(app).join(folder.folder()), file);
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// `[+-]YYYY..-MM-DD` as days since 1970-01-01.
fn parse_date(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let mut parts = rest.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    Some(days_from_civil(sign * year, month, day))
}

/// `HH:MM:SS[.f]` as nanoseconds.
fn parse_time(text: &str) -> Option<i128> {
    let (hms, fraction) = text.split_once('.').unwrap_or((text, ""));
    let mut parts = hms.split(':');
    let h: i128 = parts.next()?.parse().ok()?;
    let m: i128 = parts.next()?.parse().ok()?;
    let s: i128 = parts.next()?.parse().ok()?;
    let nanos: i128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(((h * 60 + m) * 60 + s) * 1_000_000_000 + nanos)
}

/// An RFC 3339 timestamp (or one without an offset) as nanoseconds since
/// 1970 in UTC, and whether it had an offset.
fn parse_timestamp(text: &str) -> Option<(i128, bool)> {
    let t = text.rfind('T')?;
    let (date, time) = (&text[..t], &text[t + 1..]);
    let days = i128::from(parse_date(date)?);
    let (time, offset) = if let Some(time) = time.strip_suffix('Z') {
        (time, Some(0))
    } else if let Some(at) = time.rfind(['+', '-']) {
        let (h, m) = time[at + 1..].split_once(':')?;
        let minutes: i128 = h.parse::<i128>().ok()? * 60 + m.parse::<i128>().ok()?;
        let sign = if &time[at..=at] == "-" { -1 } else { 1 };
        (&time[..at], Some(sign * minutes * 60))
    } else {
        (time, None)
    };
    let local = days * 86_400_000_000_000 + parse_time(time)?;
    Some((
        local - offset.unwrap_or(0) * 1_000_000_000,
        offset.is_some(),
    ))
}

/// ISO 8601 `P..Y..M..DT..H..M..S` as (months, days, nanoseconds).
fn parse_duration(text: &str) -> Option<(i64, i64, i128)> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let (mut months, mut days, mut nanos) = (0i64, 0i64, 0i128);
    let mut number = String::new();
    for c in date.chars() {
        match c {
            'Y' => months += 12 * number.parse::<i64>().ok()?,
            'M' => months += number.parse::<i64>().ok()?,
            'D' => days += number.parse::<i64>().ok()?,
            _ => {
                number.push(c);
                continue;
            }
        }
        number.clear();
    }
    for c in time.chars() {
        match c {
            'H' => nanos += number.parse::<i128>().ok()? * 3_600_000_000_000,
            'M' => nanos += number.parse::<i128>().ok()? * 60_000_000_000,
            'S' => {
                let negative = number.starts_with('-');
                let seconds = parse_time(&format!("0:0:{}", number.trim_start_matches('-')))?;
                nanos += if negative { -seconds } else { seconds };
            }
            _ => {
                number.push(c);
                continue;
            }
        }
        number.clear();
    }
    Some((months, days, nanos))
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Numbers compared by value, everything else exactly.
fn same_json(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            a.to_string() == b.to_string() || a.as_f64() == b.as_f64()
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| same_json(x, y)))
        }
        _ => ours == theirs,
    }
}

/// How one of our values compares with DuckDB's reading of it.
enum Verdict {
    Same,
    /// A known, documented difference (and the check that it is only that).
    Differs(&'static str),
    Wrong(String),
}

fn compare(kind: &str, our_type: &str, ours: &Value, theirs: &Value) -> Verdict {
    if theirs.is_null() {
        return if ours.is_null() {
            Verdict::Same
        } else {
            Verdict::Wrong(format!("{ours} where DuckDB reads null"))
        };
    }
    let same = match kind {
        "bool" | "string" | "uuid" | "decimal" => ours == theirs,
        "int" => match (ours, theirs) {
            (Value::Number(n), Value::String(digits)) => &n.to_string() == digits,
            // A duration (the Arrow schema says so; DuckDB reads the bare
            // INT64): the same count of its unit.
            (Value::String(iso), Value::String(digits)) if our_type.starts_with("duration") => {
                let unit: i128 = match our_type {
                    "duration[s]" => 1_000_000_000,
                    "duration[ms]" => 1_000_000,
                    "duration[us]" => 1_000,
                    _ => 1,
                };
                let same = parse_duration(iso).is_some_and(|(_, _, nanos)| {
                    Some(nanos) == digits.parse::<i128>().ok().map(|d| d * unit)
                });
                return if same {
                    Verdict::Differs(
                        "a duration (from the Arrow schema), where DuckDB reads the bare INT64",
                    )
                } else {
                    Verdict::Wrong(format!("{iso} is not {digits} {our_type}"))
                };
            }
            _ => false,
        },
        "float" => match (ours, as_f64(theirs)) {
            (Value::String(decimal), Some(double)) if our_type.starts_with("decimal") => {
                let close = decimal
                    .parse::<f64>()
                    .is_ok_and(|d| (d - double).abs() <= double.abs() * 1e-15);
                return if close {
                    Verdict::Differs(
                        "the exact decimal, where DuckDB reads a DOUBLE (it stops at 38 digits)",
                    )
                } else {
                    Verdict::Wrong(format!("{decimal} is not near {double}"))
                };
            }
            (ours, Some(double)) => as_f64(ours) == Some(double),
            _ => false,
        },
        "blob" => ours == theirs,
        "geometry" => ours == &theirs["wkb"],
        "date" => match (ours.as_str().and_then(parse_date), theirs) {
            (Some(days), Value::Number(n)) => n.as_i64() == Some(days),
            (Some(days), Value::String(infinite)) if infinite.ends_with("infinity") => {
                let end = i64::from(i32::MAX) * if infinite.starts_with('-') { -1 } else { 1 };
                return if days == end {
                    Verdict::Differs(
                        "the date the value holds, where DuckDB reads ±(2^31−1) days as ±infinity",
                    )
                } else {
                    Verdict::Wrong(format!("{ours} is not the day {end}"))
                };
            }
            _ => false,
        },
        "timestamp" => {
            if let Some(infinite) = theirs["infinite"].as_str() {
                let unit: i128 = match our_type {
                    t if t.starts_with("timestamp[s") => 1_000_000_000,
                    t if t.starts_with("timestamp[ms") => 1_000_000,
                    t if t.starts_with("timestamp[us") => 1_000,
                    _ => 1,
                };
                let sign = if infinite.starts_with('-') { -1 } else { 1 };
                let end = i128::from(i64::MAX) * unit * sign;
                return if ours.as_str().and_then(parse_timestamp).map(|(n, _)| n) == Some(end) {
                    Verdict::Differs(
                        "the instant the value holds, where DuckDB reads ±(2^63−1) as ±infinity",
                    )
                } else {
                    Verdict::Wrong(format!("{ours} is not a timestamp"))
                };
            }
            let Some((nanos, zoned)) = ours.as_str().and_then(parse_timestamp) else {
                return Verdict::Wrong(format!("{ours} is not a timestamp"));
            };
            let expected = match (&theirs["ns"], &theirs["us"]) {
                (Value::String(ns), _) => ns.parse::<i128>().ok(),
                (_, Value::String(us)) => us.parse::<i128>().ok().map(|us| us * 1000),
                _ => None,
            };
            // Below a microsecond DuckDB's us reading truncates.
            let nanos = if theirs["ns"].is_string() {
                nanos
            } else {
                nanos.div_euclid(1000) * 1000
            };
            Some(nanos) == expected && theirs["tz"].as_bool() == Some(zoned)
        }
        "time" => match ours.as_str().and_then(parse_time) {
            Some(nanos) => match (&theirs["ns"], &theirs["us"]) {
                (Value::Number(ns), _) => ns.as_i64().map(i128::from) == Some(nanos),
                (_, Value::Number(us)) => us.as_i64().map(|u| i128::from(u) * 1000) == Some(nanos),
                _ => false,
            },
            None => false,
        },
        "interval" => match (ours.as_str().and_then(parse_duration), theirs.as_array()) {
            (Some((months, days, nanos)), Some(parts)) => {
                parts.len() == 3
                    && parts[0].as_i64() == Some(months)
                    && parts[1].as_i64() == Some(days)
                    && parts[2].as_i64().map(|us| i128::from(us) * 1000) == Some(nanos)
            }
            _ => false,
        },
        "nested" => same_json(ours, theirs),
        "null" => ours.is_null(),
        other => return Verdict::Wrong(format!("unknown kind {other}")),
    };
    if same {
        Verdict::Same
    } else {
        Verdict::Wrong(format!("{ours} where DuckDB reads {theirs}"))
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_logical_type_reads_as_duckdb_reads_it() {
    let app = embedded().await;
    let company = app.company.clone();
    let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let root = Path::new("tests/fixtures/types");
    let mut wrong = Vec::new();
    let mut table = String::from(
        "| file | column | Parquet type | DuckDB reads | dagtrail type | dagtrail renders (first value) | compared with DuckDB |\n|---|---|---|---|---|---|---|\n",
    );
    for file in FILES {
        let readings: Value = serde_json::from_str(
            &std::fs::read_to_string(root.join(format!("{file}.duckdb.json"))).unwrap(),
        )
        .unwrap();
        let columns = readings["columns"].as_array().unwrap();
        let rows = columns[0]["values"].as_array().unwrap().len();
        let run_id = format!("types__{}", file.trim_end_matches(".parquet"));
        let run = RunRef::new(app.dag, day, RunId::new(run_id.clone()).unwrap());
        plant(&app, &company, &run, &root.join(file));
        let reply = app
            .get(&format!(
                "/api/v1/dags/{}/runs/2026-11-27/{run_id}/phases/extract/data?limit=1000",
                app.dag
            ))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{file}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let page = reply.json();
        let our_rows = page["rows"].as_array().unwrap();
        assert_eq!(our_rows.len(), rows, "{file}");
        for column in columns {
            let name = column["name"].as_str().unwrap();
            let kind = column["kind"].as_str().unwrap();
            let our_type = page["columns"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .and_then(|c| c["type"].as_str())
                .unwrap_or("(missing)")
                .to_owned();
            let mut differs = None;
            for (row, theirs) in column["values"].as_array().unwrap().iter().enumerate() {
                let ours = &our_rows[row][name];
                match compare(kind, &our_type, ours, theirs) {
                    Verdict::Same => {}
                    Verdict::Differs(why) => differs = Some(why),
                    Verdict::Wrong(why) => wrong.push(format!("{file} {name} row {row}: {why}")),
                }
            }
            let first = our_rows
                .iter()
                .map(|r| &r[name])
                .find(|v| !v.is_null())
                .map_or("null".to_owned(), Value::to_string);
            let first: String = if first.chars().count() > 60 {
                first.chars().take(57).chain("...".chars()).collect()
            } else {
                first
            };
            let _ = writeln!(
                table,
                "| {file} | {name} | {} | {} | {our_type} | `{}` | {} |",
                cell(column["parquet"].as_str().unwrap_or("")),
                cell(column["duckdb_type"].as_str().unwrap_or("")),
                cell(&first).replace('`', "'"),
                differs.unwrap_or("same values"),
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "{} values differ from DuckDB's:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let doc_path = Path::new("docs/PARQUET_TYPES.md");
    let doc = std::fs::read_to_string(doc_path).unwrap_or_default();
    const BEGIN: &str = "<!-- table: written by tests/api/types.rs -->\n";
    const END: &str = "<!-- end of table -->";
    let (before, after) = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) => (doc[..b].to_owned(), doc[e..].to_owned()),
        _ => (doc.clone(), format!("{END}\n")),
    };
    let updated = format!("{before}{BEGIN}{table}{after}");
    if std::env::var("DAGTRAIL_UPDATE_DOCS").is_ok() {
        std::fs::write(doc_path, &updated).unwrap();
    } else {
        assert!(
            updated == doc,
            "docs/PARQUET_TYPES.md's table is not what the files read as; run this test with DAGTRAIL_UPDATE_DOCS=1 and review the diff. The table:\n{table}"
        );
    }
}
