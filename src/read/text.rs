//! Case-insensitive literal substring search, fast where it can be:
//! ASCII keywords compare without allocating, and a column of already
//! lowercased text (`_searchable`) is scanned as one contiguous buffer
//! with SIMD `memmem`, hits mapped back to rows through the offsets.

use arrow_array::{Array, StringArray};
use memchr::memmem::Finder;

/// A lowercased keyword, ready to search for.
#[derive(Debug, Clone)]
pub struct Needle {
    lower: String,
    ascii: bool,
}

impl Needle {
    /// Prepares `keyword` (Unicode lowercasing, as `_searchable` was).
    pub fn new(keyword: &str) -> Self {
        let lower = keyword.to_lowercase();
        let ascii = lower.is_ascii();
        Self { lower, ascii }
    }

    /// Whether `haystack`, in any case, contains the keyword.
    pub fn in_any_case(&self, haystack: &str) -> bool {
        if self.lower.is_empty() {
            return true;
        }
        if self.ascii {
            ascii_case_insensitive_find(haystack.as_bytes(), self.lower.as_bytes())
        } else {
            haystack.to_lowercase().contains(&self.lower)
        }
    }

    /// Rows of `column` (text already lowercased) that contain the keyword,
    /// scanning the values buffer once.
    pub fn rows_in_lowercased(&self, column: &StringArray) -> Vec<usize> {
        let needle = self.lower.as_bytes();
        let offsets = column.value_offsets();
        let data = column.value_data();
        let mut rows = Vec::new();
        if column.is_empty() {
            return rows;
        }
        let base = usize::try_from(offsets[0]).unwrap_or(0);
        let end = usize::try_from(offsets[column.len()])
            .unwrap_or(data.len())
            .min(data.len());
        if needle.is_empty() {
            return (0..column.len()).filter(|i| column.is_valid(*i)).collect();
        }
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

fn ascii_case_insensitive_find(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    if haystack.len() < needle.len() {
        return false;
    }
    let last_start = haystack.len() - needle.len();
    let (lo, hi) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lo, hi, &haystack[..=last_start])
        .any(|i| haystack[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_case_matches_literally() {
        let n = Needle::new("Slow SOURCE");
        assert!(n.in_any_case("a slow source here"));
        assert!(!n.in_any_case("slow  source"));
        let u = Needle::new("ÜNÏ");
        assert!(u.in_any_case("x ünïcödé"));
        assert!(Needle::new("50%_").in_any_case("50%_off"));
        assert!(!Needle::new("50%_").in_any_case("500 off"));
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
}
