//! The embedded default's text index (schema version 4): an FTS5 table
//! with the `trigram` tokenizer (`etl_logs_text`, contentless, one row per
//! run, a column per phase) over each phase's JSON text **case-folded by
//! [`crate::casefold`]**, so that the index finds candidates by the very
//! rule the search applies. It only narrows: every candidate is matched
//! again by the exact keyword pattern of [`crate::runindex::keyword`], so
//! answers are the same with the index and without it.
//!
//! FTS5 is SQLite's own (bundled with sqlx's SQLite); ours is only what it
//! indexes and how a keyword becomes a query:
//!
//! - The text of a phase is SQLite's own rendering of it (`log -> '$.p'`,
//!   what the exact pattern is matched against), folded; when it holds
//!   `\uXXXX` escapes (Python's `json.dumps` writes them), the text with
//!   them decoded follows, after a NUL, since the pattern matches a
//!   non-ASCII character in either form.
//! - A keyword becomes the AND of its folded trigrams, in its phase's
//!   column (`detail=column`: no positions are stored, so it is an
//!   over-approximation the exact match settles). A keyword shorter than
//!   three characters, or holding `\` (whose JSON escape changes the text),
//!   is not narrowed.
//! - A run's row id in the index is `etl_logs.text_id`, not its `rowid`
//!   (which `VACUUM` may renumber). Triggers clear `text_id` and drop the
//!   run's index row whenever `log` changes or the run is deleted, by any
//!   writer: a run without `text_id` is always a candidate, so a tool that
//!   writes the table directly never makes a search miss a run.
//!   dagtrail's own writes index the run again in the same transaction.

use std::sync::LazyLock;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::casefold::fold;
use crate::model::Phase;
use crate::runindex::{IndexError, RunSearch};

/// Runs indexed per batch, each batch its own transaction: one big one
/// would hold the write lock for minutes and grow the WAL until every read
/// of it slows down (SQLite searches the WAL's index newest first).
pub(super) const BATCH: i64 = 5_000;

/// Candidates past which the index is not used: a keyword that common is
/// found at once by walking the newest-first index, and a page of it from
/// a long candidate list would sort them all.
pub(super) const MOST_CANDIDATES: i64 = 5_000;

/// Trigrams of one keyword the query uses at most (more narrow little,
/// and each reads a posting list).
const MOST_TRIGRAMS: usize = 12;

/// The triggers that keep the index honest against every writer (see the
/// module's doc), created once `text_id` exists.
pub(super) const TRIGGERS: &str = "\
CREATE TRIGGER IF NOT EXISTS etl_logs_text_stale AFTER UPDATE OF log ON etl_logs \
WHEN OLD.text_id IS NOT NULL BEGIN \
  DELETE FROM etl_logs_text WHERE rowid = OLD.text_id; \
  UPDATE etl_logs SET text_id = NULL WHERE rowid = NEW.rowid; \
END; \
CREATE TRIGGER IF NOT EXISTS etl_logs_text_gone AFTER DELETE ON etl_logs \
WHEN OLD.text_id IS NOT NULL BEGIN \
  DELETE FROM etl_logs_text WHERE rowid = OLD.text_id; \
END;";

/// What the index holds for one phase's JSON text (`None`: no phase).
pub(super) fn indexed_text(raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let mut text = fold(raw).into_owned();
    if raw.contains("\\u") {
        text.push('\0');
        text.push_str(&fold(&decode_unicode_escapes(raw)));
    }
    Some(text)
}

/// `raw` with each JSON `\uXXXX` escape (a surrogate pair as one) replaced
/// by its character; other escapes, and malformed ones, kept as they are.
/// By hand because no JSON library leaves the rest of the text as it was
/// (they re-render keys, numbers and other escapes).
fn decode_unicode_escapes(raw: &str) -> String {
    fn hex4(s: &str) -> Option<u32> {
        let digits = s.get(..4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        // An escaped backslash stays whole, so that `\\u0041` is not read
        // as an escape.
        if let Some(after) = tail.strip_prefix("\\\\") {
            out.push_str("\\\\");
            rest = after;
            continue;
        }
        let unit = tail.strip_prefix("\\u").and_then(hex4);
        let decoded = match unit {
            Some(high @ 0xD800..=0xDBFF) => tail[6..]
                .strip_prefix("\\u")
                .and_then(hex4)
                .filter(|low| (0xDC00..=0xDFFF).contains(low))
                .and_then(|low| char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)))
                .map(|c| (c, 12)),
            Some(unit) => char::from_u32(unit).map(|c| (c, 6)),
            None => None,
        };
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The FTS5 query that narrows `search`'s keywords, when one can.
pub(super) fn query(search: &RunSearch) -> Option<String> {
    let mut parts = Vec::new();
    for (phase, keyword) in search.active_keywords() {
        let folded: Vec<char> = fold(keyword).chars().collect();
        if folded.len() < 3 || folded.contains(&'\\') {
            continue;
        }
        let mut trigrams: Vec<String> = Vec::new();
        for window in folded.windows(3) {
            let trigram: String = window.iter().collect();
            if !trigrams.contains(&trigram) {
                trigrams.push(trigram);
            }
        }
        // Spread over the keyword, not only its start.
        let step = trigrams.len().div_ceil(MOST_TRIGRAMS);
        let quoted: Vec<String> = trigrams
            .iter()
            .step_by(step.max(1))
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect();
        parts.push(format!("{phase} : ({})", quoted.join(" AND ")));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

/// How many runs the narrowed search would recheck (the index's
/// candidates and the runs not indexed), counted up to
/// [`MOST_CANDIDATES`] + 1.
pub(super) async fn candidates(conn: &mut SqliteConnection, fts: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM etl_logs_text WHERE etl_logs_text MATCH ?1 LIMIT ?2)) \
              + (SELECT count(*) FROM (SELECT 1 FROM etl_logs WHERE text_id IS NULL LIMIT ?2))",
    )
    .bind(fts)
    .bind(MOST_CANDIDATES + 1)
    .fetch_one(conn)
    .await
}

/// The condition that keeps only candidates, its one parameter the FTS5
/// query: runs the index finds, and runs not indexed.
pub(super) const CANDIDATES_SQL: &str = " AND rowid IN (\
    SELECT l.rowid FROM etl_logs l WHERE l.text_id IN \
      (SELECT rowid FROM etl_logs_text WHERE etl_logs_text MATCH ";
/// Closes [`CANDIDATES_SQL`] after its parameter.
pub(super) const CANDIDATES_END: &str =
    ") UNION ALL SELECT rowid FROM etl_logs WHERE text_id IS NULL)";

/// Indexes up to [`BATCH`] runs without `text_id` (all of them after
/// the migration to version 4; afterwards those another tool wrote or
/// changed), in the caller's transaction. Returns how many: 0 when none
/// is left.
///
/// # Errors
///
/// [`IndexError::Query`] when the database fails.
pub(super) async fn index_batch(conn: &mut SqliteConnection) -> Result<u64, IndexError> {
    let mut select = QueryBuilder::new(format!(
        "SELECT rowid, {} FROM etl_logs WHERE text_id IS NULL LIMIT {BATCH}",
        *PHASE_TEXTS
    ));
    index_selected(conn, &mut select).await
}

/// Indexes one run again after dagtrail recorded a phase of it (the
/// trigger has dropped its old index row).
///
/// # Errors
///
/// [`IndexError::Query`] when the database fails.
pub(super) async fn index_run(
    conn: &mut SqliteConnection,
    (company, dag_id, date, run_id): (&str, &str, &str, &str),
) -> Result<(), IndexError> {
    let mut select = QueryBuilder::new(format!(
        "SELECT rowid, {} FROM etl_logs WHERE id_company = ",
        *PHASE_TEXTS
    ));
    select
        .push_bind(company.to_owned())
        .push(" AND dag_id = ")
        .push_bind(dag_id.to_owned())
        .push(" AND date = ")
        .push_bind(date.to_owned())
        .push(" AND run_id = ")
        .push_bind(run_id.to_owned());
    index_selected(conn, &mut select).await?;
    Ok(())
}

/// Each phase's JSON text as SQLite renders it (what the exact pattern is
/// matched against), named by the phase.
static PHASE_TEXTS: LazyLock<String> = LazyLock::new(|| {
    Phase::ALL
        .map(|p| format!("log -> '$.{p}' AS {p}"))
        .join(", ")
});

/// Indexes the runs `select` reads (`rowid` and [`PHASE_TEXTS`]), giving
/// each the next `text_id`. Returns how many.
async fn index_selected(
    conn: &mut SqliteConnection,
    select: &mut QueryBuilder<Sqlite>,
) -> Result<u64, IndexError> {
    let mut next: i64 = sqlx::query_scalar("SELECT COALESCE(max(text_id), 0) + 1 FROM etl_logs")
        .fetch_one(&mut *conn)
        .await?;
    let rows = select.build().fetch_all(&mut *conn).await?;
    for row in &rows {
        let text = |p: Phase| -> Result<Option<String>, sqlx::Error> {
            Ok(indexed_text(
                row.try_get::<Option<String>, _>(p.as_str())?.as_deref(),
            ))
        };
        let texts = Phase::ALL.map(text);
        let [event, extract, transform, load] = texts;
        write_row(conn, next, [event?, extract?, transform?, load?]).await?;
        sqlx::query("UPDATE etl_logs SET text_id = ?1 WHERE rowid = ?2")
            .bind(next)
            .bind(row.try_get::<i64, _>("rowid")?)
            .execute(&mut *conn)
            .await?;
        next += 1;
    }
    Ok(rows.len() as u64)
}

async fn write_row(
    conn: &mut SqliteConnection,
    text_id: i64,
    [event, extract, transform, load]: [Option<String>; 4],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT OR REPLACE INTO etl_logs_text (rowid, event, extract, transform, load) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(text_id)
    .bind(event)
    .bind(extract)
    .bind(transform)
    .bind(load)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn escapes_are_decoded_and_the_rest_kept() {
        assert_eq!(
            decode_unicode_escapes(r#"{"a":"Zo\u00EB \ud83d\ude00 \\u0041 \u12 \n"}"#),
            "{\"a\":\"Zoë 😀 \\\\u0041 \\u12 \\n\"}"
        );
        // A lone surrogate stays escaped.
        assert_eq!(decode_unicode_escapes(r"\ud83d x"), r"\ud83d x");
        assert_eq!(
            indexed_text(Some(r#"{"m":"\u0391\u03a3"}"#)).unwrap(),
            "{\"m\":\"\\u0391\\u03a3\"}\0{\"m\":\"ασ\"}"
        );
        assert_eq!(
            indexed_text(Some("{\"M\":\"ΑΣ\"}")).unwrap(),
            "{\"m\":\"ασ\"}"
        );
    }

    #[test]
    fn keywords_become_their_folded_trigrams() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let mut search = RunSearch::new(day, day);
        search.keywords = vec![
            (Phase::Extract, "REF-12".to_owned()),
            (Phase::Load, "a\"b".to_owned()),
            (Phase::Event, "ab".to_owned()),
            (Phase::Transform, "a\\b".to_owned()),
        ];
        assert_eq!(
            query(&search).unwrap(),
            "extract : (\"ref\" AND \"ef-\" AND \"f-1\" AND \"-12\") AND load : (\"a\"\"b\")"
        );
        search.keywords = vec![(Phase::Event, "ab".to_owned())];
        assert_eq!(query(&search), None);
        let long = "x".repeat(5) + &"0123456789".repeat(5);
        search.keywords = vec![(Phase::Extract, long)];
        assert!(query(&search).unwrap().matches("AND").count() < MOST_TRIGRAMS);
    }
}
