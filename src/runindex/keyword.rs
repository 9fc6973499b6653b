//! Literal, case-insensitive keyword patterns for each backend: `%`, `_`
//! and `\` in a keyword match themselves.

/// A PostgreSQL `ILIKE` pattern (escape character `\`, the default) that
/// matches `keyword` anywhere in the text.
pub fn ilike_contains(keyword: &str) -> String {
    let mut pattern = String::with_capacity(keyword.len() + 2);
    pattern.push('%');
    for c in keyword.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A regular expression for SQLite's `REGEXP` (Rust `regex`, registered by
/// sqlx) that matches `keyword` literally with Unicode case folding.
/// SQLite's own `LIKE` folds ASCII only, which the contract rules out.
pub fn regex_contains(keyword: &str) -> String {
    format!("(?i){}", regex::escape(keyword))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(ilike_contains(r"50%_a\b"), r"%50\%\_a\\b%");
    }

    #[test]
    fn regex_is_literal_and_unicode_case_insensitive() {
        let re = regex::Regex::new(&regex_contains("ünïcödé (x).*")).unwrap();
        assert!(re.is_match("say ÜNÏCÖDÉ (X).* here"));
        assert!(!re.is_match("ünïcödé (x)yz"));
    }
}
