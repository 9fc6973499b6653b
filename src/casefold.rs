//! The one case-insensitive rule of every keyword search: data rows, log
//! messages and the run index, on both backends.
//!
//! Two texts match case-insensitively when their **Unicode simple case
//! foldings** (`CaseFolding.txt`, statuses C and S, from ICU4X's data) are
//! equal, applied the same way to the keyword and to the text: `ας`,
//! `ΑΣ` and `Ας` all find `ΑΣΤΡΟ`, `ẞ` finds `ß`, `ſ` finds `s`. Lowercasing
//! is not such a rule: it depends on context (a word-final `Σ` lowercases
//! to `ς`, a medial one to `σ`), so a lowercased keyword need not occur in
//! lowercased text.
//!
//! Simple folding maps each character to one character, which is what
//! lets the run index apply the very same rule inside PostgreSQL's and
//! SQLite's regular expressions (a class of the characters that fold
//! alike, see [`Keyword::pieces`]). Full folding's one-to-many mappings
//! (`ß` → `ss`, `ﬁ` → `fi`) are therefore not applied: `ss` does not find
//! `ß` on any path. The one exception is `İ` (U+0130), whose lowercase is
//! two characters (`i` + U+0307): it folds to those two, as its full
//! folding says, so that text lowercased by Python or Rust (`searchable`
//! indexes) and the original text fold alike. No Unicode normalization is
//! applied: a precomposed `é` and `e` + U+0301 differ, as in DuckDB and
//! PostgreSQL.

use std::borrow::Cow;

use icu_casemap::CaseMapper;
use icu_casemap::CaseMapperBorrowed;
use icu_casemap::ClosureSink;
use memchr::memmem::Finder;
use std::sync::LazyLock;

const CASE: CaseMapperBorrowed<'static> = CaseMapper::new();

/// The characters beyond ASCII whose folding holds ASCII (checked
/// against every character by a test): LATIN CAPITAL LETTER I WITH DOT
/// ABOVE (to `i` + U+0307), LATIN SMALL LETTER LONG S (to `s`), KELVIN
/// SIGN (to `k`). Text without them holds an ASCII keyword only in ASCII.
#[cfg(test)]
const FOLD_INTO_ASCII: [char; 3] = ['\u{130}', '\u{17F}', '\u{212A}'];

/// `İ`, the one character folded to two.
const CAPITAL_I_WITH_DOT: char = '\u{130}';
/// What `İ` folds to: `i` and COMBINING DOT ABOVE.
const CAPITAL_I_WITH_DOT_FOLDED: [char; 2] = ['i', '\u{307}'];

/// Appends the folding of `c` to `out`.
fn push_folded(c: char, out: &mut String) {
    if c == CAPITAL_I_WITH_DOT {
        out.extend(CAPITAL_I_WITH_DOT_FOLDED);
    } else {
        out.push(CASE.simple_fold(c));
    }
}

/// The case folding of `text` (borrowed when folding changes nothing).
pub fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(text.to_ascii_lowercase());
        }
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_folded(c, &mut out);
    }
    Cow::Owned(out)
}

struct Chars(Vec<char>);

impl ClosureSink for Chars {
    fn add_char(&mut self, c: char) {
        self.0.push(c);
    }

    // Strings come from full foldings (`ß` ~ "ss"), which this rule does
    // not apply.
    fn add_string(&mut self, _string: &str) {}
}

/// Every character whose folding is the single character `folded`
/// (`folded` itself included), sorted: `σ` → `Σ ς σ`.
pub fn fold_class(folded: char) -> Vec<char> {
    let mut found = Chars(vec![folded]);
    CASE.add_case_closure_to(folded, &mut found);
    let mut class: Vec<char> = found
        .0
        .into_iter()
        .filter(|c| *c != CAPITAL_I_WITH_DOT && CASE.simple_fold(*c) == folded)
        .collect();
    class.sort_unstable();
    class.dedup();
    class
}

/// One step of a keyword's pattern, for engines that match characters
/// rather than foldings (the run index's regular expressions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// One character of the class.
    Class(Vec<char>),
    /// The character alone (`İ`), or one character of each class in turn
    /// (`i` then U+0307): a character that folds to two of the keyword's.
    CharOrPair(char, [Vec<char>; 2]),
}

/// A keyword prepared for matching: its folding, and tests of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    folded: String,
}

impl Keyword {
    /// Prepares `keyword` (folded once).
    pub fn new(keyword: &str) -> Self {
        Self {
            folded: fold(keyword).into_owned(),
        }
    }

    /// The folded keyword.
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// Whether the keyword is empty (it then matches every text).
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// Whether `text` contains the keyword under the folding.
    pub fn found_in(&self, text: &str) -> bool {
        if self.folded.is_empty() {
            return true;
        }
        if self.folded.is_ascii() {
            // An ASCII keyword found in any ASCII case is found: those
            // bytes fold to it. Otherwise only the few characters beyond
            // ASCII that fold into ASCII (`K`, `ſ`, `İ`) could hold it.
            let text = text.as_bytes();
            if ascii_case_insensitive_find(text, self.folded.as_bytes()) {
                return true;
            }
            if !may_fold_into_ascii(text) {
                return false;
            }
        } else if text.is_ascii() {
            // ASCII text folds to ASCII: a keyword beyond it is not there.
            return false;
        }
        fold(text).contains(self.folded.as_str())
    }

    /// The keyword as steps of character classes, for the run index's
    /// regular expressions: a text matches the sequence exactly when its
    /// folding contains the keyword's.
    pub fn pieces(&self) -> Vec<Piece> {
        let chars: Vec<char> = self.folded.chars().collect();
        let last = chars.len().saturating_sub(1);
        let mut pieces = Vec::with_capacity(chars.len());
        let mut at = 0;
        while at < chars.len() {
            let c = chars[at];
            if chars.get(at..at + 2) == Some(&CAPITAL_I_WITH_DOT_FOLDED[..]) {
                pieces.push(Piece::CharOrPair(
                    CAPITAL_I_WITH_DOT,
                    CAPITAL_I_WITH_DOT_FOLDED.map(fold_class),
                ));
                at += 2;
                continue;
            }
            let mut class = fold_class(c);
            // `İ` folds to two characters, so it also matches where the
            // keyword ends in the first of them or starts with the second.
            if (at == last && c == CAPITAL_I_WITH_DOT_FOLDED[0])
                || (at == 0 && c == CAPITAL_I_WITH_DOT_FOLDED[1])
            {
                class.push(CAPITAL_I_WITH_DOT);
            }
            pieces.push(Piece::Class(class));
            at += 1;
        }
        pieces
    }
}

/// Whether `text` holds one of the characters beyond ASCII that fold into
/// ASCII: `İ`, `ſ`, `K` (their UTF-8, searched with SIMD `memmem`; the
/// first bytes alone are also those of common marks such as `—`).
pub fn may_fold_into_ascii(text: &[u8]) -> bool {
    static FINDERS: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
        [
            Finder::new("\u{130}".as_bytes()),
            Finder::new("\u{17F}".as_bytes()),
            Finder::new("\u{212A}".as_bytes()),
        ]
    });
    // Only text beyond ASCII can hold them; most text is ASCII.
    !text.is_ascii() && FINDERS.iter().any(|f| f.find(text).is_some())
}

/// Whether `haystack` contains `needle` (ASCII lowercase) in any ASCII case.
pub fn ascii_case_insensitive_find(haystack: &[u8], needle: &[u8]) -> bool {
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

/// How a folded keyword appears in text that was lowercased (by Rust's or
/// Python's `lower`): each folded character becomes the lowercase most
/// characters of its class take, and `variants` lists the other lowercase
/// forms of those classes (`ς` beside `σ`, `ſ` beside `s`), which a
/// lowercased text may hold instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowercasedForm {
    /// The keyword as lowercased text usually holds it.
    pub text: String,
    /// Other lowercase characters that fold like one of the keyword's.
    pub variants: Vec<char>,
}

impl LowercasedForm {
    /// The lowercased form of a keyword.
    pub fn of(keyword: &Keyword) -> Self {
        let mut text = String::with_capacity(keyword.folded.len());
        let mut variants = Vec::new();
        for c in keyword.folded.chars() {
            let usual = single_lowercase(c).unwrap_or(c);
            text.push(usual);
            for member in fold_class(c) {
                if let Some(lower) = single_lowercase(member)
                    && lower != usual
                    && !variants.contains(&lower)
                {
                    variants.push(lower);
                }
            }
        }
        Self { text, variants }
    }
}

fn single_lowercase(c: char) -> Option<char> {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => Some(l),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greek_sigma_in_every_position_matches() {
        for keyword in ["ΑΣ", "ας", "ασ", "Ας", "αΣ"] {
            let k = Keyword::new(keyword);
            assert!(k.found_in("ΑΣΤΡΟ 7"), "{keyword}");
            assert!(k.found_in("αστρο 7"), "{keyword}");
            assert!(k.found_in("ας"), "{keyword}");
        }
        assert!(!Keyword::new("ας").found_in("αβ"));
    }

    #[test]
    fn classes_hold_everything_that_folds_alike() {
        assert_eq!(fold_class('σ'), vec!['Σ', 'ς', 'σ']);
        assert_eq!(fold_class('k'), vec!['K', 'k', '\u{212A}']);
        assert_eq!(fold_class('s'), vec!['S', 's', 'ſ']);
        assert_eq!(fold_class('i'), vec!['I', 'i']);
        assert!(fold_class('ß').starts_with(&['ß', 'ẞ']));
        assert_eq!(fold_class('1'), vec!['1']);
    }

    #[test]
    fn dotted_capital_i_folds_like_its_lowercase() {
        let k = Keyword::new("İstanbul");
        assert_eq!(k.folded(), "i\u{307}stanbul");
        assert!(k.found_in("İSTANBUL"));
        assert!(k.found_in(&"İstanbul".to_lowercase()));
        assert!(!k.found_in("istanbul"));
        assert!(Keyword::new("i").found_in("İ"));
    }

    #[test]
    fn full_foldings_are_not_applied() {
        assert!(!Keyword::new("ss").found_in("Straße"));
        assert!(Keyword::new("STRAẞE").found_in("straße"));
    }

    #[test]
    fn ascii_text_takes_the_fast_path_exactly() {
        let k = Keyword::new("Slow SOURCE");
        assert!(k.found_in("a slow source here"));
        assert!(!k.found_in("slow  source"));
        assert!(Keyword::new("50%_").found_in("50%_off"));
        assert!(!Keyword::new("ünï").found_in("uni"));
        // Kelvin sign and long s fold to ASCII letters.
        assert!(Keyword::new("k").found_in("\u{212A}elvin"));
        assert!(Keyword::new("\u{212A}").found_in("kelvin"));
        assert!(Keyword::new("s").found_in("ſ"));
    }

    #[test]
    fn lowercased_forms_name_their_variants() {
        let form = LowercasedForm::of(&Keyword::new("ΑΣ"));
        assert_eq!(form.text, "ασ");
        assert_eq!(form.variants, vec!['ς']);
        let form = LowercasedForm::of(&Keyword::new("Ꭰ"));
        assert_eq!(form.text, "ꭰ");
        assert!(form.variants.is_empty());
        assert_eq!(LowercasedForm::of(&Keyword::new("Sk")).variants, vec!['ſ']);
    }

    #[test]
    fn pieces_cover_the_dotted_capital_i() {
        let pieces = Keyword::new("xİ").pieces();
        assert_eq!(
            pieces,
            vec![
                Piece::Class(vec!['X', 'x']),
                Piece::CharOrPair('İ', [vec!['I', 'i'], vec!['\u{307}']]),
            ]
        );
        let end = Keyword::new("ki").pieces();
        assert_eq!(end[1], Piece::Class(vec!['I', 'i', 'İ']));
        let start = Keyword::new("\u{307}x").pieces();
        assert_eq!(start[0], Piece::Class(vec!['\u{307}', 'İ']));
    }
}

#[cfg(test)]
mod ascii_reach {
    use super::*;

    /// Which characters beyond ASCII fold to something holding ASCII:
    /// the fast path of [`Keyword::found_in`] relies on this list.
    #[test]
    fn few_characters_fold_into_ascii() {
        let reach: Vec<char> = (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| {
                let mut folded = String::new();
                push_folded(*c, &mut folded);
                folded.chars().any(|f| f.is_ascii())
            })
            .collect();
        assert_eq!(reach, FOLD_INTO_ASCII);
        for c in reach {
            assert!(
                may_fold_into_ascii(c.encode_utf8(&mut [0; 4]).as_bytes()),
                "{c}"
            );
        }
        assert!(!may_fold_into_ascii("a — á ☃".as_bytes()));
    }
}
