//! The one place that builds artifact keys (contract section 3).
//!
//! Every key is `<company>/<dag_id>/<date>/<run_id>/...`, each variable
//! segment percent-encoded: every byte outside `A-Z a-z 0-9 - . _ ~ : +`
//! becomes `%XX`. The resulting string *is* the key, byte for byte, in a
//! folder name and in an S3 key. `object_store::path::Path::from` would
//! encode some characters a second time, so keys are made with
//! [`Path::parse`], which keeps the text as it is.
//!
//! A segment whose encoding is longer than a file name may be (255 bytes
//! on every common file system; a 250-byte run id of CJK text encodes to
//! 750) is stored under a shortened name: its encoding's first bytes, then
//! `%~`, then the first 128 bits of the SHA-256 of the segment, in hex
//! (255 bytes in all). Plain encodings never contain `%~` (every `%` of
//! theirs starts a `%XX`), so a shortened name cannot be another
//! segment's, and the longest key (a 128-byte company and a 250-byte run
//! id, both shortened) stays far below S3's 1,024 bytes. The contract is
//! silent on lengths; this is the one place its layout is extended
//! (`docs/ARCHITECTURE.md`).

use chrono::NaiveDate;
use object_store::path::Path;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest as _, Sha256};

use crate::model::{Company, DagId, Phase, RunId, RunRef};

/// Bytes left as they are in a segment; everything else is `%XX`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'+');

/// The longest segment kept as its plain encoding: a file name's limit.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Marks a shortened segment: never part of a plain encoding.
const SHORTENED: &str = "%~";

/// Hex digits of the segment's SHA-256 in a shortened segment.
const DIGEST_HEX: usize = 32;

/// A key could not be built from the given parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A segment that the contract forbids (`""`, `.`, `..`).
    #[error("invalid key segment {0:?}: empty, `.` and `..` are not allowed")]
    InvalidSegment(String),
    /// The assembled text was refused as an object-store path.
    #[error("invalid artifact key {key:?}: {reason}")]
    InvalidKey {
        /// The key text.
        key: String,
        /// Why the store refused it.
        reason: String,
    },
}

/// The store's marker at the layout's top: `dagtrail migrate` and every
/// writer put it there, and `/readyz` requires it, so a store URL with a
/// wrong bucket or prefix is "not ready" rather than "every run missing".
/// No company's folder can have its name: an encoded segment never holds
/// a raw `=`.
pub fn store_marker() -> Path {
    Path::from("dagtrail=store")
}

/// Percent-encodes one path segment the contract's way.
///
/// # Errors
///
/// [`KeyError::InvalidSegment`] when the segment is empty, `.` or `..`.
pub fn key_segment(segment: &str) -> Result<String, KeyError> {
    if segment.is_empty() || segment == "." || segment == ".." {
        return Err(KeyError::InvalidSegment(segment.to_owned()));
    }
    let encoded = utf8_percent_encode(segment, SEGMENT).to_string();
    if encoded.len() <= MAX_SEGMENT_BYTES {
        return Ok(encoded);
    }
    let mut keep = MAX_SEGMENT_BYTES - SHORTENED.len() - DIGEST_HEX;
    // Never cut a `%XX` in two.
    while encoded[..keep].ends_with('%') || encoded[..keep - 1].ends_with('%') {
        keep -= 1;
    }
    let digest = Sha256::digest(segment.as_bytes());
    let hex: String = digest
        .iter()
        .take(DIGEST_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{}{SHORTENED}{hex}", &encoded[..keep]))
}

fn parse_key(key: String) -> Result<Path, KeyError> {
    Path::parse(&key).map_err(|e| KeyError::InvalidKey {
        reason: e.to_string(),
        key,
    })
}

/// The files of the `event/` folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFile {
    /// `queue_data.parquet`: the raw trigger message.
    QueueData,
    /// `event.parquet`: the processed event.
    Event,
}

impl EventFile {
    /// The file name inside `event/`.
    pub fn file_name(self) -> &'static str {
        match self {
            EventFile::QueueData => "queue_data.parquet",
            EventFile::Event => "event.parquet",
        }
    }
}

/// The kinds of numbered files in an attempt folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `data_NNN.parquet`
    Data,
    /// `errors_NNN.parquet`
    Errors,
    /// `logs_NNN.parquet`
    Logs,
}

impl FileKind {
    /// The file-name stem before `_NNN`.
    pub fn stem(self) -> &'static str {
        match self {
            FileKind::Data => "data",
            FileKind::Errors => "errors",
            FileKind::Logs => "logs",
        }
    }
}

/// The folder of one run: `<company>/<dag_id>/<date>/<run_id>`, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    prefix: String,
}

impl RunFolder {
    /// Builds the run's folder from validated parts.
    ///
    /// # Errors
    ///
    /// As [`RunFolder::from_parts`].
    pub fn new(company: &Company, run: &RunRef) -> Result<Self, KeyError> {
        Self::from_parts(company, &run.dag_id, run.date, &run.run_id)
    }

    /// Same as [`RunFolder::new`], from loose parts.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidSegment`] when a part is empty, `.` or `..`;
    /// [`KeyError::InvalidKey`] when the object store refuses the
    /// assembled folder.
    pub fn from_parts(
        company: &Company,
        dag_id: &DagId,
        date: NaiveDate,
        run_id: &RunId,
    ) -> Result<Self, KeyError> {
        let prefix = format!(
            "{}/{}/{}/{}",
            key_segment(company.as_str())?,
            key_segment(&dag_id.to_string())?,
            key_segment(&date.format("%Y-%m-%d").to_string())?,
            key_segment(run_id.as_str())?,
        );
        // Validate once here so that every key derived below is known good.
        parse_key(prefix.clone())?;
        Ok(Self { prefix })
    }

    /// The folder's text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// `<run>/event/` as text, with the trailing slash.
    pub fn event_folder(&self) -> String {
        format!("{}/event/", self.prefix)
    }

    /// The key of one of the event files.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidKey`] when the object store refuses the key
    /// (the folder itself was checked when it was built).
    pub fn event_file(&self, file: EventFile) -> Result<Path, KeyError> {
        parse_key(format!("{}/event/{}", self.prefix, file.file_name()))
    }

    /// The folder of one attempt of one phase.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidSegment`] when `attempt` is 0 (attempts count
    /// from 1); [`KeyError::InvalidKey`] when the object store refuses the
    /// key.
    pub fn attempt(&self, phase: Phase, attempt: u32) -> Result<AttemptFolder, KeyError> {
        if attempt == 0 {
            return Err(KeyError::InvalidSegment("attempt=0".to_owned()));
        }
        let prefix = parse_key(format!(
            "{}/{}/attempt={attempt}",
            self.prefix,
            phase.as_str()
        ))?;
        Ok(AttemptFolder { prefix })
    }
}

/// The folder of one phase attempt: `<run>/<phase>/attempt=<n>`.
///
/// `attempt=<n>` is a fixed part of the layout, not user data, so it is
/// written as the contract shows it rather than encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptFolder {
    prefix: Path,
}

impl AttemptFolder {
    /// The folder's text, with the trailing slash.
    pub fn folder(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The folder as an object-store prefix, for listing its files.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    fn file(&self, name: &str) -> Path {
        // `child` encodes the characters object_store dislikes; our file
        // names contain none of them, so the name is kept as it is.
        self.prefix.clone().join(name)
    }

    /// `metadata.parquet`: the attempt's commit marker.
    pub fn metadata(&self) -> Path {
        self.file("metadata.parquet")
    }

    /// `index.parquet`: the keyword index over the data rows.
    pub fn index_parquet(&self) -> Path {
        self.file("index.parquet")
    }

    /// `<kind>_NNN.parquet`, numbered from 0, at least three digits.
    pub fn numbered(&self, kind: FileKind, n: usize) -> Path {
        self.file(&format!("{}_{n:03}.parquet", kind.stem()))
    }
}

/// The top folder of staged parts (beside the companies' folders): no
/// company's folder can be named so, since an encoded segment never holds
/// a raw `=`.
pub const STAGING_TOP: &str = "dagtrail=staging";

/// The marker of an open attempt, in its staging folder.
pub const STAGING_MARKER: &str = "open.json";

/// Where an attempt written over several requests keeps its parts until
/// its commit: `dagtrail=staging/{company}/{digest of the attempt's
/// folder}/`, outside the contract's layout, so nothing staged is ever
/// readable as the attempt. The digest keeps keys shorter than the
/// attempt's own (some stores limit a key's length through the file names
/// they derive from it), and a company's staging is one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingFolder {
    prefix: Path,
}

impl StagingFolder {
    /// The staging folder of the attempt in `folder`.
    ///
    /// # Errors
    ///
    /// [`KeyError::InvalidSegment`] for a folder without a company segment
    /// (none that [`RunFolder::attempt`] makes).
    pub fn of(folder: &AttemptFolder) -> Result<Self, KeyError> {
        use sha2::Digest as _;
        let company = folder
            .prefix()
            .parts()
            .next()
            .ok_or_else(|| KeyError::InvalidSegment(String::new()))?;
        let digest = sha2::Sha256::digest(folder.prefix().as_ref().as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            prefix: Path::from_iter([
                object_store::path::PathPart::from(STAGING_TOP),
                company,
                object_store::path::PathPart::from(hex.as_str()),
            ]),
        })
    }

    /// The folder, for listing what is staged.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The company's staging: one folder per staged attempt.
    pub fn company_prefix(&self) -> Path {
        Path::from_iter(self.prefix.parts().take(2))
    }

    /// `open.json`, whose presence makes the attempt open.
    pub fn marker(&self) -> Path {
        self.prefix.clone().join(STAGING_MARKER)
    }

    /// Part `part` of `kind` (`data`, `errors`, `logs`):
    /// `{kind}/{part:06}.parquet`.
    pub fn part(&self, kind: &str, part: u32) -> Path {
        self.prefix
            .clone()
            .join(kind)
            .join(format!("{part:06}.parquet"))
    }

    /// What a key below the folder is: the marker (`None` for the kind),
    /// or a part's kind and number; `None` for anything else.
    pub fn parse(&self, key: &Path) -> Option<(Option<String>, u32)> {
        let mut rest = key.prefix_match(&self.prefix)?;
        let (Some(first), second, None) = (rest.next(), rest.next(), rest.next()) else {
            return None;
        };
        let Some(file) = second else {
            return (first.as_ref() == STAGING_MARKER).then_some((None, 0));
        };
        let part = file
            .as_ref()
            .strip_suffix(".parquet")
            .and_then(|n| n.parse::<u32>().ok())?;
        Some((Some(first.as_ref().to_owned()), part))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(run_id: &str) -> RunFolder {
        let company = Company::new("acme").unwrap();
        let dag: DagId = "9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f".parse().unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        RunFolder::from_parts(&company, &dag, date, &RunId::new(run_id).unwrap()).unwrap()
    }

    #[test]
    fn segments_are_encoded_once_and_exactly() {
        assert_eq!(key_segment("manual__x y%").unwrap(), "manual__x%20y%25");
        assert_eq!(
            key_segment("scheduled__2026-11-27T00:00:00+00:00").unwrap(),
            "scheduled__2026-11-27T00:00:00+00:00"
        );
        assert_eq!(key_segment("a/b").unwrap(), "a%2Fb");
        assert_eq!(key_segment("é~").unwrap(), "%C3%A9~");
        let key = run("manual__x y%")
            .attempt(Phase::Extract, 2)
            .unwrap()
            .numbered(FileKind::Data, 7);
        assert_eq!(
            key.as_ref(),
            "acme/9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f/2026-11-27/manual__x%20y%25/extract/attempt=2/data_007.parquet"
        );
    }

    #[test]
    fn traversal_segments_are_rejected() {
        for bad in ["", ".", ".."] {
            assert!(matches!(key_segment(bad), Err(KeyError::InvalidSegment(_))));
        }
        // `..` inside a longer run id is just text, and `/` is encoded.
        let key = run("../x").event_file(EventFile::Event).unwrap();
        assert!(key.as_ref().contains("/..%2Fx/event/"));
    }

    #[test]
    fn long_segments_are_shortened_to_a_file_name() {
        let long = format!("manual__{}X", "東京倉庫の再実行".repeat(10));
        assert_eq!(long.len(), 249);
        let name = key_segment(&long).unwrap();
        assert_eq!(name.len(), MAX_SEGMENT_BYTES);
        assert!(name.starts_with("manual__%E6%9D%B1"), "{name}");
        assert!(name.contains(SHORTENED));
        // Deterministic, distinct for distinct segments, never cut inside %XX.
        assert_eq!(key_segment(&long).unwrap(), name);
        let other = key_segment(&format!("{long}Y")).unwrap();
        assert_ne!(other, name);
        let prefix = &name[..name.find(SHORTENED).unwrap()];
        assert!(!prefix.ends_with('%') && prefix.rsplit('%').next().unwrap().len() >= 2);
        for len in [85, 86, 87, 120] {
            let name = key_segment(&"é".repeat(len)).unwrap();
            assert!(name.len() <= MAX_SEGMENT_BYTES);
            assert!(Path::parse(&name).is_ok(), "{name}");
        }
        // An encoding of exactly 255 bytes is kept as it is.
        assert_eq!(key_segment(&"a".repeat(255)).unwrap(), "a".repeat(255));
    }

    #[test]
    fn numbers_widen_past_three_digits() {
        let folder = run("r").attempt(Phase::Load, 1).unwrap();
        assert!(
            folder
                .numbered(FileKind::Logs, 1234)
                .as_ref()
                .ends_with("/logs_1234.parquet")
        );
        assert!(run("r").attempt(Phase::Load, 0).is_err());
    }
}
