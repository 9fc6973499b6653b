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
    pattern(keyword, postgres_class)
}

/// A regular expression for SQLite's `REGEXP` (Rust `regex`, registered
/// by sqlx) that matches `keyword` anywhere in the text.
///
/// SQLite keeps a row's JSON as it was written, and a tool writing it with
/// Python's `json.dumps` (whose default is `ensure_ascii`) writes `é` as
/// `\u00e9`: each non-ASCII character also matches its escape, in either
/// case of hex digits, as a surrogate pair past U+FFFF. (PostgreSQL's
/// `jsonb` stores the characters themselves.)
pub fn sqlite_contains(keyword: &str) -> String {
    fn one(c: char, out: &mut String) {
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    }
    fn escaped(c: char, out: &mut String) {
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str("\\\\u");
            for digit in format!("{unit:04x}").chars() {
                if digit.is_ascii_alphabetic() {
                    let _ = write!(out, "[{digit}{}]", digit.to_ascii_uppercase());
                } else {
                    out.push(digit);
                }
            }
        }
    }
    fn class(members: &[char], out: &mut String) {
        let plain = |out: &mut String| match members {
            [single] => one(*single, out),
            many => {
                out.push('[');
                many.iter().for_each(|c| one(*c, out));
                out.push(']');
            }
        };
        if members.iter().all(char::is_ascii) {
            return plain(out);
        }
        out.push_str("(?:");
        plain(out);
        for c in members.iter().filter(|c| !c.is_ascii()) {
            out.push('|');
            escaped(*c, out);
        }
        out.push(')');
    }
    pattern(keyword, class)
}

/// Writes one character class of a PostgreSQL pattern.
fn postgres_class(members: &[char], out: &mut String) {
    match members {
        [single] => postgres_one(*single, out),
        many => {
            out.push('[');
            many.iter().for_each(|c| postgres_one(*c, out));
            out.push(']');
        }
    }
}

/// In an ARE a backslash before a non-alphanumeric character makes it
/// literal; alphanumerics and non-ASCII characters are literal.
fn postgres_one(c: char, out: &mut String) {
    if c.is_ascii() && !c.is_ascii_alphanumeric() {
        out.push('\\');
    }
    out.push(c);
}

/// The pattern of a keyword, each piece's characters written by `class`.
fn pattern(keyword: &str, class: fn(&[char], &mut String)) -> String {
    let mut out = String::with_capacity(keyword.len() * 4);
    for piece in Keyword::new(keyword).pieces() {
        match piece {
            Piece::Class(members) => class(&members, &mut out),
            Piece::CharOrPair(c, [first, second]) => {
                out.push_str("(?:");
                class(&[c], &mut out);
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
        // JSON written with \u escapes (Python's json.dumps), any hex case.
        assert!(matches("ας", r#""\u0391\u03a3TPO""#));
        assert!(matches("zoë", r#""Zo\u00EB""#));
        assert!(matches("🦀", r#""\ud83e\udd80 crab""#));
        assert!(!matches("ë", r#""\u00e8""#));
    }
}
