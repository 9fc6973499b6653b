//! Case-insensitive literal substring search over Arrow text columns,
//! under the folding rule of [`crate::casefold`], fast where it can be: a
//! column of already lowercased text (`_searchable`) is scanned as one
//! contiguous buffer with SIMD `memmem`, hits mapped back to rows through
//! the offsets; other text is folded row by row (ASCII rows without
//! allocating).

use aho_corasick::{AhoCorasick, Input, MatchKind};
use arrow_array::{Array, StringArray};
use memchr::memmem::Finder;

use crate::casefold::{Keyword, LowercasedForm, may_fold_into_ascii};

/// A keyword, ready to search for.
#[derive(Debug, Clone)]
pub struct Needle {
    keyword: Keyword,
    lowercased: LowercasedForm,
    /// A non-empty ASCII keyword's matcher in any ASCII case.
    ascii: Option<AhoCorasick>,
}

impl Needle {
    /// Prepares `keyword`.
    pub fn new(keyword: &str) -> Self {
        let keyword = Keyword::new(keyword);
        let lowercased = LowercasedForm::of(&keyword);
        let folded = keyword.folded();
        let ascii = (folded.is_ascii() && !folded.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::LeftmostFirst)
                    .build([folded.as_bytes()])
                    .ok()
            })
            .flatten();
        Self {
            keyword,
            lowercased,
            ascii,
        }
    }

    /// The keyword as lowercased text usually holds it, and the other
    /// lowercase forms of its characters (`ſ` for `s`): a row holds the
    /// keyword only if it holds the first's bytes or one of the others,
    /// which a skipping index can rule out.
    pub fn lowercased_forms(&self) -> (&str, &[char]) {
        (&self.lowercased.text, &self.lowercased.variants)
    }

    /// Rows of `column` (text in any case) that contain the keyword.
    ///
    /// One scan of the values buffer first tells whether folding can
    /// matter: an ASCII keyword is then looked for in ASCII case alone
    /// when no value holds one of the few characters that fold into
    /// ASCII, and a keyword beyond ASCII cannot be in an ASCII buffer.
    pub fn rows_in(&self, column: &StringArray) -> Vec<usize> {
        if column.is_empty() {
            return Vec::new();
        }
        let values = &column.value_data()[value_span(column)];
        let folded = self.keyword.folded();
        let rows = 0..column.len();
        if let Some(finder) = &self.ascii
            && !may_fold_into_ascii(values)
        {
            return ascii_rows_in(column, folded.len(), finder);
        }
        if !folded.is_ascii() && values.is_ascii() {
            return Vec::new();
        }
        rows.filter(|i| column.is_valid(*i) && self.keyword.found_in(column.value(*i)))
            .collect()
    }

    /// Rows of `column` (text already lowercased) that contain the keyword.
    ///
    /// The values buffer is scanned once for the keyword's usual lowercase
    /// form. When the buffer also holds another lowercase form of one of
    /// its characters (`ς` for `σ`, `ſ` for `s`), where that scan could
    /// miss a row, every row is folded and compared instead.
    pub fn rows_in_lowercased(&self, column: &StringArray) -> Vec<usize> {
        if column.is_empty() {
            return Vec::new();
        }
        let span = value_span(column);
        let (base, end) = (span.start, span.end);
        let (data, offsets) = (column.value_data(), column.value_offsets());
        let values = &data[span];
        let needle = self.lowercased.text.as_bytes();
        if needle.is_empty() {
            return (0..column.len()).filter(|i| column.is_valid(*i)).collect();
        }
        let mut utf8 = [0u8; 4];
        let variant_present =
            self.lowercased.variants.iter().any(|v| {
                memchr::memmem::find(values, v.encode_utf8(&mut utf8).as_bytes()).is_some()
            });
        if variant_present {
            return (0..column.len())
                .filter(|i| column.is_valid(*i) && self.keyword.found_in(column.value(*i)))
                .collect();
        }
        let mut rows = Vec::new();
        let finder = Finder::new(needle);
        let mut pos = base;
        while pos < end {
            let Some(found) = finder.find(&data[pos..end]) else {
                break;
            };
            let at = pos + found;
            // The row whose value holds byte `at`.
            let row = offsets
                .partition_point(|o| usize::try_from(*o).unwrap_or(0) <= at)
                .saturating_sub(1);
            let row_end = usize::try_from(offsets[row + 1]).unwrap_or(end);
            if at + needle.len() <= row_end {
                if column.is_valid(row) {
                    rows.push(row);
                }
                pos = row_end;
            } else {
                // The match spans two values: look again from the next byte.
                pos = at + 1;
            }
        }
        rows
    }
}

/// Rows of `column` whose value holds the ASCII needle `finder` finds (in
/// any ASCII case, `needle_len` bytes long): one scan of the values buffer
/// with its prefilter (no per-row call), each hit mapped to its row
/// through the offsets; a hit that spans two values is no match, and after
/// a match the scan goes on at the next row.
fn ascii_rows_in(column: &StringArray, needle_len: usize, finder: &AhoCorasick) -> Vec<usize> {
    let span = value_span(column);
    let (data, offsets) = (column.value_data(), column.value_offsets());
    let end_of = |row: usize| {
        offsets
            .get(row + 1)
            .and_then(|o| usize::try_from(*o).ok())
            .unwrap_or(span.end)
    };
    let mut rows = Vec::new();
    let mut pos = span.start;
    while pos + needle_len <= span.end {
        let input = Input::new(&data[..span.end]).span(pos..span.end);
        let Some(at) = finder.find(input).map(|m| m.start()) else {
            break;
        };
        let row = offsets
            .partition_point(|o| usize::try_from(*o).unwrap_or(0) <= at)
            .saturating_sub(1);
        let row_end = end_of(row);
        if at + needle_len > row_end {
            pos = at + 1;
            continue;
        }
        if column.is_valid(row) {
            rows.push(row);
        }
        pos = row_end.max(at + 1);
    }
    rows
}

/// Where a (possibly sliced) column's values lie in its values buffer.
fn value_span(column: &StringArray) -> std::ops::Range<usize> {
    let offsets = column.value_offsets();
    let len = column.value_data().len();
    let at = |i: usize| usize::try_from(offsets[i]).unwrap_or(len).min(len);
    let end = at(column.len());
    at(0).min(end)..end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::casefold::ascii_case_insensitive_find;

    /// The buffer scan finds exactly the rows a per-row search does:
    /// matches at a value's edges, a would-be match across two values,
    /// nulls, empty values, a slice of a column.
    #[test]
    fn the_buffer_scan_finds_the_rows_a_per_row_search_does() {
        let values = vec![
            Some("abREJ"),
            Some("ECTED"),
            Some("Rejected at once"),
            None,
            Some(""),
            Some("rrrejected"),
            Some("rejectedrejected"),
            Some("nothing here"),
            Some("…REJECTED…"),
            Some("rejecte"),
            Some("d"),
        ];
        let column = StringArray::from(values);
        for needle in ["rejected", "r", "d", "xyz", ""] {
            for (offset, len) in [(0, column.len()), (1, 7), (5, 6), (10, 1), (3, 0)] {
                let slice = column.slice(offset, len);
                let expected: Vec<usize> = (0..slice.len())
                    .filter(|i| {
                        slice.is_valid(*i)
                            && ascii_case_insensitive_find(
                                slice.value(*i).as_bytes(),
                                needle.as_bytes(),
                            )
                    })
                    .collect();
                let prepared = Needle::new(needle);
                assert_eq!(
                    prepared.rows_in(&slice),
                    expected,
                    "{needle:?} in {offset}+{len}"
                );
                if let Some(finder) = &prepared.ascii {
                    assert_eq!(
                        ascii_rows_in(&slice, needle.len(), finder),
                        expected,
                        "{needle:?} in {offset}+{len}, prefiltered"
                    );
                }
            }
        }
    }

    #[test]
    fn any_case_matches_literally() {
        let column = StringArray::from(vec![
            Some("a slow source here"),
            Some("slow  source"),
            None,
            Some("x ünïcödé"),
            Some("50%_off"),
            Some("500 off"),
        ]);
        let rows = |k: &str| Needle::new(k).rows_in(&column);
        assert_eq!(rows("Slow SOURCE"), vec![0]);
        assert_eq!(rows("ÜNÏ"), vec![3]);
        assert_eq!(rows("50%_"), vec![4]);
        // Characters beyond ASCII that fold into it, in a batch with them
        // and in one without.
        let special = StringArray::from(vec!["\u{212A}elvin", "kelvin", "ſun", "plain"]);
        assert_eq!(Needle::new("KELVIN").rows_in(&special), vec![0, 1]);
        assert_eq!(Needle::new("sun").rows_in(&special), vec![2]);
        let ascii = StringArray::from(vec!["kelvin", "sun"]);
        assert_eq!(Needle::new("K").rows_in(&ascii), vec![0]);
        assert!(Needle::new("ü").rows_in(&ascii).is_empty());
    }

    #[test]
    fn buffer_scan_maps_hits_to_rows_and_never_across_values() {
        let column = StringArray::from(vec![
            Some("abc"),
            Some("xab"),
            None,
            Some("cab"),
            Some("zzz"),
            Some("ab"),
        ]);
        assert_eq!(
            Needle::new("ab").rows_in_lowercased(&column),
            vec![0, 1, 3, 5]
        );
        // "c" + "x" spans rows 0 and 1: no match.
        assert!(Needle::new("cx").rows_in_lowercased(&column).is_empty());
        let sliced = column.slice(3, 3);
        let sliced = sliced.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(Needle::new("ab").rows_in_lowercased(sliced), vec![0, 2]);
    }

    #[test]
    fn lowercased_text_with_other_lowercase_forms_is_folded() {
        // Python's and Rust's lower() write a word-final sigma as ς, a
        // medial one as σ; ſ and µ lowercase to themselves.
        let column = StringArray::from(vec![
            Some("αστρος"),
            Some("ꭰꭱ"),
            Some("ſun"),
            Some("µs"),
            Some("i\u{307}stanbul"),
        ]);
        let rows = |k: &str| Needle::new(k).rows_in_lowercased(&column);
        assert_eq!(rows("ΟΣ"), vec![0]);
        assert_eq!(rows("ας"), vec![0]);
        assert_eq!(rows("Ꭰ"), vec![1]);
        assert_eq!(rows("SUN"), vec![2]);
        assert_eq!(rows("μS"), vec![3]);
        assert_eq!(rows("İSTANBUL"), vec![4]);
        assert!(rows("istanbul").is_empty());
    }
}
