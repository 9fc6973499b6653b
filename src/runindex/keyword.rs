//! Keyword patterns for each backend: literal (`%`, `_`, `\`, `.` in a
//! keyword match themselves) and case-insensitive under the one folding
//! rule of [`crate::casefold`], spelled out as character classes (`ας` →
//! `[Αα][Σςσ]`) so that both databases apply exactly that rule: their own
//! case-insensitive operators lowercase instead (PostgreSQL's `ILIKE`
//! does not find `ΑΣ` with `ας`) or fold another Unicode version.

use std::fmt::Write as _;

use crate::casefold::{Keyword, Piece};

/// A PostgreSQL regular expression (ARE, for the case-sensitive `~`
/// operator, which `pg_trgm` indexes serve as they serve `ILIKE`) that
/// matches `keyword` anywhere in the text.
pub fn postgres_contains(keyword: &str) -> String {
    fn one(c: char, out: &mut String) {
        // In an ARE a backslash before a non-alphanumeric character makes
        // it literal; alphanumerics and non-ASCII characters are literal.
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    pattern(keyword, one)
}

/// A regular expression for SQLite's `REGEXP` (Rust `regex`, registered
/// by sqlx) that matches `keyword` anywhere in the text.
pub fn sqlite_contains(keyword: &str) -> String {
    fn one(c: char, out: &mut String) {
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
    pattern(keyword, one)
}

/// The pattern of a keyword, each character written by `one`.
fn pattern(keyword: &str, one: fn(char, &mut String)) -> String {
    let class = |members: &[char], out: &mut String| match members {
        [single] => one(*single, out),
        many => {
            out.push('[');
            for c in many {
                one(*c, out);
            }
            out.push(']');
        }
    };
    let mut out = String::with_capacity(keyword.len() * 4);
    for piece in Keyword::new(keyword).pieces() {
        match piece {
            Piece::Class(members) => class(&members, &mut out),
            Piece::CharOrPair(c, [first, second]) => {
                out.push_str("(?:");
                one(c, &mut out);
                out.push('|');
                class(&first, &mut out);
                class(&second, &mut out);
                out.push(')');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_patterns_are_literal_classes() {
        assert_eq!(postgres_contains("ας"), "[Αα][Σςσ]");
        assert_eq!(postgres_contains(r"50%_a\b."), r"50\%\_[Aa]\\[Bb]\.");
        assert_eq!(postgres_contains("(k)"), "\\([Kk\u{212A}]\\)");
    }

    #[test]
    fn sqlite_patterns_match_as_the_folding_rule_says() {
        let matches = |keyword: &str, text: &str| {
            regex::Regex::new(&sqlite_contains(keyword))
                .unwrap()
                .is_match(text)
        };
        assert!(matches("ünïcödé (x).*", "say ÜNÏCÖDÉ (X).* here"));
        assert!(!matches("ünïcödé (x).*", "ünïcödé (x)yz"));
        assert!(matches("ας", "ΑΣΤΡΟ 7"));
        assert!(matches("İstanbul", "i\u{307}stanbul"));
        assert!(matches("i\u{307}s", "İSTANBUL"));
        assert!(matches("ki", "KİŞİ"));
        assert!(!matches("ss", "ß"));
        assert!(!matches("is", "İs"));
    }
}
