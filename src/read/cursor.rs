//! Cursors of run searches (keyset pagination, issue 13): an opaque text
//! that carries where the next page starts (the last run's sort key), its
//! page number, and a digest of the search it continues (the company, the
//! DAGs, every filter, the order and the page size), signed with
//! HMAC-SHA-256 (RFC 2104) under the run index's cursor key.
//!
//! The signature makes it tamper-evident: a changed or made-up cursor is
//! refused, and so is one of another search or another company, which
//! would otherwise silently skip runs. Secrecy is not the point (the key
//! only proves the cursor is ours); the payload is plain JSON in base64url.
//! HMAC and SHA-2 come from the RustCrypto crates; only the layout is ours.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Company, DagId};
use crate::runindex::{RunSearch, SortKey};

/// Longest cursor accepted, in characters (a run id of 1,024 bytes and
/// the rest fit in well under it).
pub const MAX_CURSOR_CHARS: usize = 2_048;

/// Bytes of the signature kept (128 bits: forgery by chance is out of reach).
const TAG_BYTES: usize = 16;

/// A cursor that cannot continue the search it was given with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this service made, or one changed since.
    #[error("the cursor was changed or was not made by this service; start from the first page")]
    Tampered,
    /// A cursor of another search (other filters, order, page size, DAGs
    /// or company).
    #[error(
        "the cursor continues another search (its filters, sort, limit or DAGs differ); \
         send the same parameters as the page it came from, or start from the first page"
    )]
    OtherSearch,
}

/// Where a cursor continues: the number of the page it opens and the key
/// of the run before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The page number of the page that starts here.
    pub page: u32,
    /// The last run of the previous page.
    pub after: SortKey,
}

/// The signed part.
#[derive(Serialize, Deserialize)]
struct Payload {
    /// Digest of the search ([`search_digest`]), base64url.
    q: String,
    /// Page number.
    p: u32,
    /// The sort key: duration, date, created_at (µs since the epoch),
    /// dag_id, run_id.
    k: (Option<i64>, NaiveDate, i64, uuid::Uuid, String),
}

/// What a cursor is tied to: the company, the DAGs searched, and
/// [`RunSearch::identity`].
fn search_digest(company: &Company, dag_ids: &[DagId], search: &RunSearch) -> String {
    let mut dags: Vec<String> = dag_ids.iter().map(ToString::to_string).collect();
    dags.sort();
    let mut hash = Sha256::new();
    for part in [company.as_str(), &dags.join(","), &search.identity()] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..12])
}

fn tag(key: &[u8], payload: &[u8]) -> Result<Vec<u8>, CursorError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| CursorError::Tampered)?;
    mac.update(payload);
    Ok(mac.finalize().into_bytes()[..TAG_BYTES].to_vec())
}

/// The cursor of the page after `page_number`, which ended at `after`.
///
/// # Errors
///
/// Never in practice: only when `key` is unusable as an HMAC key
/// ([`CursorError::Tampered`]).
pub fn encode(
    key: &[u8],
    company: &Company,
    dag_ids: &[DagId],
    search: &RunSearch,
    next_page: u32,
    after: &SortKey,
) -> Result<String, CursorError> {
    let payload = Payload {
        q: search_digest(company, dag_ids, search),
        p: next_page,
        k: (
            after.duration_ms,
            after.date,
            after.created_at.timestamp_micros(),
            after.dag_id.0,
            after.run_id.clone(),
        ),
    };
    let json = serde_json::to_vec(&payload).map_err(|_| CursorError::Tampered)?;
    let tag = tag(key, &json)?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// The position a cursor continues `search` from.
///
/// # Errors
///
/// [`CursorError::Tampered`] when it is not a cursor signed with `key`
/// (malformed, edited, or from another database);
/// [`CursorError::OtherSearch`] when it is one, of another search.
pub fn decode(
    key: &[u8],
    text: &str,
    company: &Company,
    dag_ids: &[DagId],
    search: &RunSearch,
) -> Result<Cursor, CursorError> {
    // No key (a run index served unmigrated) signs nothing.
    if key.is_empty() {
        return Err(CursorError::Tampered);
    }
    let (payload, signature) = text.split_once('.').ok_or(CursorError::Tampered)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| CursorError::Tampered)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| CursorError::Tampered)?;
    if signature.len() != TAG_BYTES {
        return Err(CursorError::Tampered);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| CursorError::Tampered)?;
    mac.update(&json);
    // Compared in constant time.
    mac.verify_truncated_left(&signature)
        .map_err(|_| CursorError::Tampered)?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|_| CursorError::Tampered)?;
    if payload.q != search_digest(company, dag_ids, search) {
        return Err(CursorError::OtherSearch);
    }
    let (duration_ms, date, created_micros, dag_id, run_id) = payload.k;
    let created_at: DateTime<Utc> =
        DateTime::from_timestamp_micros(created_micros).ok_or(CursorError::Tampered)?;
    Ok(Cursor {
        page: payload.p,
        after: SortKey {
            duration_ms,
            date,
            created_at,
            dag_id: DagId(dag_id),
            run_id,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search() -> RunSearch {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        RunSearch::new(day, day)
    }

    fn key_of_a_run() -> SortKey {
        SortKey {
            duration_ms: Some(61_500),
            date: NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
            created_at: DateTime::from_timestamp_micros(1_764_201_601_123_456).unwrap(),
            dag_id: DagId(uuid::Uuid::from_u128(7)),
            run_id: "manual__2026-11-27T10:31:02+00:00".to_owned(),
        }
    }

    #[test]
    fn a_cursor_continues_only_its_own_search() {
        let key = [7u8; 32];
        let company = Company::new("acme".to_owned()).unwrap();
        let dags = [DagId(uuid::Uuid::from_u128(7))];
        let after = key_of_a_run();
        let text = encode(&key, &company, &dags, &search(), 3, &after).unwrap();
        assert_eq!(
            decode(&key, &text, &company, &dags, &search()),
            Ok(Cursor { page: 3, after })
        );
        // Another filter, page size, company, DAG set: another search.
        let mut other = search();
        other.limit = 50;
        assert_eq!(
            decode(&key, &text, &company, &dags, &other),
            Err(CursorError::OtherSearch)
        );
        let rival = Company::new("rival".to_owned()).unwrap();
        assert_eq!(
            decode(&key, &text, &rival, &dags, &search()),
            Err(CursorError::OtherSearch)
        );
        assert_eq!(
            decode(&key, &text, &company, &[], &search()),
            Err(CursorError::OtherSearch)
        );
        // Another key (another database), or any edit: tampered.
        assert_eq!(
            decode(&[8u8; 32], &text, &company, &dags, &search()),
            Err(CursorError::Tampered)
        );
        let (payload, signature) = text.split_once('.').unwrap();
        let mut json = URL_SAFE_NO_PAD.decode(payload).unwrap();
        let at = json.iter().position(|b| *b == b'3').unwrap();
        json[at] = b'4';
        let edited = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(json));
        for bad in [
            edited.as_str(),
            &text[..text.len() - 1],
            payload,
            "",
            ".",
            "not a cursor",
        ] {
            assert_eq!(
                decode(&key, bad, &company, &dags, &search()),
                Err(CursorError::Tampered),
                "{bad:?}"
            );
        }
    }
}
