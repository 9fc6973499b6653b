//! The keyword skipping index of `index.parquet` (issue 16): for each block
//! of its rows (the writer's row-group size, so a block is a row group), a
//! Parquet split-block Bloom filter (the format's own `Sbbf`: xxHash64,
//! 32-byte blocks) of the byte trigrams of `_searchable`. A keyword whose
//! lowercased form has a trigram a block's filter lacks is in none of that
//! block's rows, so the row groups it covers are not read. Each character
//! beyond ASCII a block holds is also in its filter (its UTF-8 bytes after
//! a `0xFF` byte, which UTF-8 never holds): a keyword with a character
//! that lowercased text may hold in another form (`s` as `ſ`) may match a
//! block holding that form, whatever its trigrams.
//!
//! Stored in the file's key-value metadata under [`KEY`] (an optional
//! extension of contract section 3: a reader that does not know it reads
//! the file as before, and a file without it, a foreign writer's, is
//! scanned whole), as JSON:
//! `{"version": 2, "n": 3, "rows_per_block": R, "filters": ["<base64 of
//! the filter's bitset>", ...]}`; filter `i` covers index rows
//! `[i·R, (i+1)·R)`.
//!
//! Written by hand around `Sbbf` because what it indexes (substrings of
//! our searchable text, by block) is ours; no library keeps an n-gram
//! filter inside a Parquet footer.

use std::collections::HashSet;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::KeyValue;
use serde::{Deserialize, Serialize};

/// The key of the skipping index in `index.parquet`'s key-value metadata.
pub const KEY: &str = "dagtrail.ngram_bloom";

/// Bytes per n-gram.
const N: usize = 3;

/// The false-positive rate each block's filter is sized for.
const FPP: f64 = 0.01;

/// Distinct n-grams past which a block gets no filter (stored as an empty
/// string: it may hold any keyword). Text with that many (high-entropy or
/// CJK text) would rule little out for a filter of a megabyte.
const MAX_DISTINCT: usize = 1 << 20;

/// The filters' share of the text they index, at most (1 in 50), once
/// they are past [`SMALL_INDEX`]: past both the index is left out and
/// every row group is scanned, so that a footer every cold search reads
/// stays small beside the file.
const MAX_SHARE: u64 = 50;

/// Filter bytes that are kept whatever their share (a small file's).
const SMALL_INDEX: u64 = 1 << 20;

/// Whether filters of `filter_bytes` over `text_bytes` of text are too
/// large to keep.
fn too_large(filter_bytes: u64, text_bytes: u64) -> bool {
    filter_bytes > SMALL_INDEX && filter_bytes.saturating_mul(MAX_SHARE) > text_bytes
}

#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    version: u32,
    n: usize,
    rows_per_block: u64,
    filters: Vec<String>,
}

/// Builds the skipping index while `index.parquet` is written, row by row.
#[derive(Debug)]
pub struct NgramIndexBuilder {
    rows_per_block: u64,
    rows_in_block: u64,
    rows: u64,
    trigrams: HashSet<[u8; N]>,
    chars: HashSet<char>,
    /// The block has more distinct n-grams than [`MAX_DISTINCT`].
    saturated: bool,
    text_bytes: u64,
    filter_bytes: u64,
    filters: Vec<String>,
}

/// The version of the stored index this code writes and reads.
const VERSION: u32 = 2;

/// What a character beyond ASCII is stored as: `0xFF` then its UTF-8.
fn char_key(c: char) -> Vec<u8> {
    let mut key = vec![0xFF];
    key.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    key
}

impl NgramIndexBuilder {
    /// A builder of filters over blocks of `rows_per_block` rows (at least
    /// one).
    pub fn new(rows_per_block: usize) -> Self {
        Self {
            rows_per_block: u64::try_from(rows_per_block.max(1)).unwrap_or(u64::MAX),
            rows_in_block: 0,
            rows: 0,
            trigrams: HashSet::new(),
            chars: HashSet::new(),
            saturated: false,
            text_bytes: 0,
            filter_bytes: 0,
            filters: Vec::new(),
        }
    }

    /// Adds the next row's searchable text.
    pub fn add(&mut self, text: &str) {
        self.text_bytes += text.len() as u64;
        if !self.saturated {
            for window in text.as_bytes().windows(N) {
                if let Ok(trigram) = <[u8; N]>::try_from(window) {
                    self.trigrams.insert(trigram);
                }
            }
            if !text.is_ascii() {
                self.chars.extend(text.chars().filter(|c| !c.is_ascii()));
            }
            if self.trigrams.len() + self.chars.len() > MAX_DISTINCT {
                self.saturated = true;
                self.trigrams = HashSet::new();
                self.chars = HashSet::new();
            }
        }
        self.rows += 1;
        self.rows_in_block += 1;
        if self.rows_in_block == self.rows_per_block {
            self.close_block();
        }
    }

    fn close_block(&mut self) {
        self.rows_in_block = 0;
        if std::mem::take(&mut self.saturated) {
            self.filters.push(String::new());
            return;
        }
        let distinct = u64::try_from(self.trigrams.len())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut filter = Sbbf::new_with_ndv_fpp(distinct, FPP)
            .unwrap_or_else(|_| Sbbf::new_with_num_of_bytes(32));
        for trigram in self.trigrams.drain() {
            filter.insert(&trigram[..]);
        }
        for c in self.chars.drain() {
            filter.insert(&char_key(c)[..]);
        }
        let mut bitset = Vec::new();
        // Writing into a Vec cannot fail; an empty filter would say "no
        // match" for every keyword, so a block without one is not stored
        // and the index is dropped (see `finish`).
        if filter.write_bitset(&mut bitset).is_ok() {
            self.filter_bytes += bitset.len() as u64;
            self.filters.push(STANDARD.encode(&bitset));
        }
    }

    /// The key-value pair to store in `index.parquet`, once every row was
    /// added; `None` when a filter could not be made or they would be too
    /// large.
    pub fn finish(mut self) -> Option<KeyValue> {
        if self.rows_in_block > 0 {
            self.close_block();
        }
        let blocks = self.rows.div_ceil(self.rows_per_block);
        if u64::try_from(self.filters.len()).ok() != Some(blocks)
            || too_large(self.filter_bytes, self.text_bytes)
        {
            return None;
        }
        let stored = Stored {
            version: VERSION,
            n: N,
            rows_per_block: self.rows_per_block,
            filters: self.filters,
        };
        let value = serde_json::to_string(&stored).ok()?;
        Some(KeyValue::new(KEY.to_owned(), value))
    }
}

/// The skipping index of one `index.parquet`, read from its footer.
#[derive(Debug)]
pub struct NgramIndex {
    rows_per_block: u64,
    /// One per block; `None`: the block may hold any keyword.
    filters: Vec<Option<Sbbf>>,
    bytes: usize,
}

impl NgramIndex {
    /// The index stored in a footer's key-value metadata, if any and of a
    /// version this reader knows; anything else is no index (the file is
    /// scanned whole).
    pub fn from_metadata(metadata: Option<&Vec<KeyValue>>) -> Option<Self> {
        let value = metadata?
            .iter()
            .find(|kv| kv.key == KEY)?
            .value
            .as_deref()?;
        let stored: Stored = serde_json::from_str(value).ok()?;
        if stored.version != VERSION || stored.n != N || stored.rows_per_block == 0 {
            return None;
        }
        let mut bytes = 0;
        let filters = stored
            .filters
            .iter()
            .map(|text| {
                if text.is_empty() {
                    return Some(None);
                }
                let bitset = STANDARD.decode(text).ok()?;
                // Sbbf::new takes whole 32-byte blocks; anything else is
                // not a filter this writer made.
                if bitset.is_empty() || bitset.len() % 32 != 0 {
                    return None;
                }
                bytes += bitset.len();
                Some(Some(Sbbf::new(&bitset)))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            rows_per_block: stored.rows_per_block,
            filters,
            bytes,
        })
    }

    /// The filters' size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether index rows `rows` may hold `needle` (bytes of the stored,
    /// lowercased text) or, in place of some of its characters, one of
    /// `variants` (their other lowercase forms): false only when every
    /// block they span lacks one of its trigrams and every variant. A
    /// needle shorter than a trigram, or rows past the blocks, may.
    pub fn may_contain(&self, rows: Range<u64>, needle: &[u8], variants: &[char]) -> bool {
        if needle.len() < N || rows.is_empty() {
            return true;
        }
        let first = rows.start / self.rows_per_block;
        let last = (rows.end - 1) / self.rows_per_block;
        (first..=last).any(|block| {
            let Some(Some(filter)) = usize::try_from(block)
                .ok()
                .and_then(|b| self.filters.get(b))
            else {
                return true;
            };
            needle.windows(N).all(|w| filter.check(w))
                || variants.iter().any(|v| filter.check(&char_key(*v)[..]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(rows: &[&str], per_block: usize) -> NgramIndex {
        let mut builder = NgramIndexBuilder::new(per_block);
        for row in rows {
            builder.add(row);
        }
        let kv = builder.finish().unwrap();
        NgramIndex::from_metadata(Some(&vec![kv])).unwrap()
    }

    #[test]
    fn a_block_without_a_trigram_of_the_keyword_is_skipped() {
        let rows = [
            "order 1 berlin",
            "order 2 münchen",
            "order 3 paris",
            "order 4 zürich",
            "order 5 lyon",
        ];
        let index = built(&rows, 2);
        // Blocks: rows 0-1, 2-3, 4.
        assert!(index.may_contain(0..2, "münchen".as_bytes(), &[]));
        assert!(!index.may_contain(2..4, "münchen".as_bytes(), &[]));
        assert!(!index.may_contain(4..5, "münchen".as_bytes(), &[]));
        assert!(index.may_contain(2..5, "zürich".as_bytes(), &[]));
        assert!(index.may_contain(0..5, "order".as_bytes(), &[]));
        // Every row that holds a keyword is in a block that may hold it.
        for (i, row) in rows.iter().enumerate() {
            for start in 0..row.len() {
                for end in start + 1..=row.len() {
                    if let Some(part) = row.as_bytes().get(start..end) {
                        assert!(index.may_contain(i as u64..i as u64 + 1, part, &[]));
                    }
                }
            }
        }
        // Too short to tell, or past the blocks: may.
        assert!(index.may_contain(2..4, b"zz", &[]));
        assert!(index.may_contain(10..12, b"nowhere", &[]));
        // `ſ` lowercased stays `ſ` and folds as `s`: a block holding it
        // may hold "ſeine" for the keyword "seine".
        let index = built(&["paris", "ſeine", "lyon"], 1);
        assert!(!index.may_contain(0..1, b"seine", &['\u{17f}']));
        assert!(index.may_contain(1..2, b"seine", &['\u{17f}']));
        assert!(!index.may_contain(1..2, b"seine", &[]));
    }

    #[test]
    fn a_block_of_too_many_ngrams_may_hold_anything_and_a_large_index_is_left_out() {
        let mut builder = NgramIndexBuilder::new(2);
        builder.add("paris");
        builder.add("lyon");
        builder.saturated = true; // as after MAX_DISTINCT n-grams
        builder.add("berlin");
        builder.add("bonn");
        let kv = builder.finish().unwrap();
        let index = NgramIndex::from_metadata(Some(&vec![kv])).unwrap();
        assert!(!index.may_contain(0..2, b"munich", &[]));
        assert!(index.may_contain(2..4, b"munich", &[]), "saturated: may");
        // Filters past a megabyte and a fiftieth of the text: no index.
        assert!(!too_large(4096, 10));
        assert!(!too_large(2 << 20, 200 << 20));
        assert!(too_large(2 << 20, 50 << 20));
    }

    #[test]
    fn a_stored_index_of_another_shape_is_no_index() {
        let kv = |value: &str| Some(vec![KeyValue::new(KEY.to_owned(), value.to_owned())]);
        assert!(NgramIndex::from_metadata(None).is_none());
        assert!(NgramIndex::from_metadata(kv("not json").as_ref()).is_none());
        assert!(
            NgramIndex::from_metadata(
                kv(r#"{"version":1,"n":3,"rows_per_block":2,"filters":[]}"#).as_ref()
            )
            .is_none()
        );
        assert!(
            NgramIndex::from_metadata(
                kv(r#"{"version":2,"n":3,"rows_per_block":2,"filters":["AAAA"]}"#).as_ref()
            )
            .is_none(),
            "a bitset of a partial block"
        );
    }
}
