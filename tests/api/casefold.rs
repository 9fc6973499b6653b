//! One case-insensitive rule on every searching path (data keyword through
//! the index, logs keyword, the run search) and both run-index backends,
//! checked against Unicode's own CaseFolding data for Greek, Cyrillic,
//! Armenian, German sharp s and Cherokee
//! (`tests/fixtures/casefold/CaseFolding-sample.txt`).
//!
//! For every simple folding (statuses C and S) `c → f`: a data row holding
//! `c` is found with the keyword `f`, a log line holding `f` with the
//! keyword `c`, and a run whose phase holds `c` with the keyword `f`. Full
//! foldings to several characters (status F, `ß → ss`) are not applied, on
//! every path alike (see `src/casefold.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use chrono::{NaiveDate, TimeZone, Utc};
use dagtrail::artifacts::writer::PhaseOutcome;
use dagtrail::model::{Phase, RunId, RunRef};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestApp, encode};

/// A line of CaseFolding.txt: code point, status, mapping.
struct Folding {
    from: char,
    status: char,
    to: String,
}

fn sample() -> Vec<Folding> {
    let text = include_str!("../fixtures/casefold/CaseFolding-sample.txt");
    let char_of = |hex: &str| char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.split(';').map(str::trim).collect();
            Folding {
                from: char_of(parts[0]),
                status: parts[1].chars().next().unwrap(),
                to: parts[2].split(' ').map(char_of).collect(),
            }
        })
        .collect()
}

const DAY: &str = "2026-11-20";

fn rows(texts: &[String]) -> RecordBatch {
    let n = i64::try_from(texts.len()).unwrap();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("text", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
            Arc::new(StringArray::from(texts.to_vec())),
        ],
    )
    .unwrap()
}

fn logs(messages: &[String]) -> RecordBatch {
    let column = |v: &str| Arc::new(StringArray::from(vec![v; messages.len()])) as ArrayRef;
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Utf8, false),
            Field::new("level", DataType::Utf8, false),
            Field::new("logger", DataType::Utf8, false),
            Field::new("message", DataType::Utf8, false),
        ])),
        vec![
            column("2026-11-20T10:00:00Z"),
            column("INFO"),
            column("casefold"),
            Arc::new(StringArray::from(messages.to_vec())),
        ],
    )
    .unwrap()
}

/// The `n` column of every row of a data page, or the line number in
/// every log message of a logs page.
fn found(page: &Value, column: &str) -> BTreeSet<i64> {
    page["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {page}"))
        .iter()
        .map(|r| match &r[column] {
            Value::Number(n) => n.as_i64().unwrap(),
            Value::String(s) => s.split(' ').next().unwrap().parse().unwrap(),
            other => panic!("{other}"),
        })
        .collect()
}

async fn every_search_path_folds_alike(app: TestApp) {
    let embedded = matches!(app._backend, crate::support::Backend::Embedded(_));
    let sample = sample();
    let simple: Vec<&Folding> = sample.iter().filter(|f| f.status != 'F').collect();
    let full: Vec<&Folding> = sample
        .iter()
        .filter(|f| f.status == 'F' && !sample.iter().any(|s| s.from == f.from && s.status == 'S'))
        .collect();
    assert!(simple.len() > 450 && full.len() > 50, "the sample is whole");
    let all: Vec<&Folding> = simple.iter().chain(&full).copied().collect();

    // One attempt: data row i holds the source character of line i, log
    // line i holds its folding.
    let day = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
    let run = RunRef::new(app.dag, day, RunId::new("manual__casefold").unwrap());
    let mut rec = app
        .recorder
        .begin(&app.company, &run, Phase::Extract, 1)
        .await
        .unwrap();
    let data: Vec<String> = all.iter().map(|f| format!("<{}>", f.from)).collect();
    let messages: Vec<String> = all
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{i} <{}>", f.to))
        .collect();
    rec.write_data(&rows(&data)).await.unwrap();
    rec.write_logs(&logs(&messages)).await.unwrap();
    rec.commit(&PhaseOutcome::default(), at).await.unwrap();
    // One run per line, whose extract message holds the source character.
    for (i, f) in all.iter().enumerate() {
        let run = RunRef::new(app.dag, day, RunId::new(format!("casefold_{i}")).unwrap());
        let object = json!({"status": {"success": true, "message": format!("<{}>", f.from), "total": 0},
                            "s3_data_path": "", "attempt": 1, "started_at": null, "finished_at": null, "data": []});
        app.recorder
            .run_index()
            .record_phase(
                &app.company,
                &run,
                Phase::Extract,
                &dagtrail::runindex::PhaseObject::from_json(&object).unwrap(),
                at,
            )
            .await
            .unwrap();
    }

    let base = format!(
        "/api/v1/dags/{}/runs/{DAY}/manual__casefold/phases/extract",
        app.dag
    );
    let mut misses = Vec::new();
    for (i, f) in all.iter().enumerate() {
        let expected = f.status != 'F';
        // In brackets, so that a keyword cannot match the JSON around the
        // text on the run index ("ss" is in "success").
        let (from, to) = (format!("<{}>", f.from), format!("<{}>", f.to));
        // The data and logs searches run the same code over any store; the
        // run search is what each backend does its own way. On PostgreSQL
        // and S3 (thousands of S3 requests otherwise) only a sample of
        // lines takes the artifact paths.
        let artifacts = embedded || i % 16 == 0;
        let (data, logs) = if artifacts {
            (
                app.get(&format!("{base}/data?limit=1000&keyword={}", encode(&to)))
                    .await
                    .json(),
                app.get(&format!("{base}/logs?limit=1000&keyword={}", encode(&from)))
                    .await
                    .json(),
            )
        } else {
            (Value::Null, Value::Null)
        };
        let runs = app
            .get(&format!(
                "/api/v1/dags/{}/runs?date_from={DAY}&date_to={DAY}&extract_keyword={}&run_ids=casefold_{i}",
                app.dag,
                encode(&to)
            ))
            .await
            .json();
        let i = i64::try_from(i).unwrap();
        let mut paths = vec![("runs", runs["total"] == 1)];
        if artifacts {
            paths.push(("data", found(&data, "n").contains(&i)));
            paths.push(("logs", found(&logs, "message").contains(&i)));
        }
        for (path, hit) in paths {
            if hit != expected {
                misses.push(format!(
                    "{path}: {:04X} ({}) {} {:?}: expected {}",
                    u32::from(f.from),
                    f.from,
                    f.status,
                    f.to,
                    if expected { "a match" } else { "no match" }
                ));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

/// The example, as a new user met it.
async fn greek_sigma_is_found_everywhere(app: TestApp) {
    let day = NaiveDate::parse_from_str(DAY, "%Y-%m-%d").unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
    let run = RunRef::new(app.dag, day, RunId::new("manual__sigma").unwrap());
    let mut rec = app
        .recorder
        .begin(&app.company, &run, Phase::Extract, 1)
        .await
        .unwrap();
    rec.write_data(&rows(&["ΑΣΤΡΟ 7".to_owned()]))
        .await
        .unwrap();
    rec.write_logs(&logs(&["ΑΣΤΡΟ loaded".to_owned()]))
        .await
        .unwrap();
    rec.commit(&PhaseOutcome::default(), at).await.unwrap();
    let base = format!(
        "/api/v1/dags/{}/runs/{DAY}/manual__sigma/phases/extract",
        app.dag
    );
    for keyword in ["ΑΣ", "ας", "ασ", "Ας"] {
        let k = encode(keyword);
        let data = app.get(&format!("{base}/data?keyword={k}")).await.json();
        assert_eq!(data["total"], 1, "data {keyword}");
        let logs = app.get(&format!("{base}/logs?keyword={k}")).await.json();
        assert_eq!(logs["total"], 1, "logs {keyword}");
        let runs = app
            .get(&format!(
                "/api/v1/dags/{}/runs?date_from={DAY}&date_to={DAY}&extract_keyword={k}",
                app.dag
            ))
            .await
            .json();
        assert_eq!(runs["total"], 1, "runs {keyword}");
    }
}

both_backends!(
    every_search_path_folds_alike,
    greek_sigma_is_found_everywhere
);
