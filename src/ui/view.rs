//! What pages show, in the shapes templates print: statuses with their
//! words and symbols, times, durations, data cells (nested values
//! expandable) and keyword highlights. Templates escape every value they
//! print; [`Highlighted`] is the one value made of HTML, built here from
//! escaped pieces.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::i18n::Tr;
use crate::runindex::PhaseObject;
use crate::runindex::fleet::RunStatus;

/// `text` fit for a query string's value (a link's `?next=`).
pub fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A query string without the names `drop` and without empty values (a
/// form's empty field is no filter): what links add their own page or
/// cursor to.
pub fn query_without(raw: &str, drop: &[&str]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            url::form_urlencoded::parse(raw.as_bytes())
                .filter(|(k, v)| !drop.contains(&k.as_ref()) && !v.is_empty()),
        )
        .finish()
}

/// A status as the board and the tables show it: a word, a symbol (so it
/// never rests on colour alone) and a CSS class for its colour.
#[derive(Debug, Clone)]
pub struct Status {
    /// The word, in the reader's language.
    pub word: String,
    /// ✓, ✗, ◷ (running), ○ (not run).
    pub symbol: &'static str,
    /// `ok`, `failed`, `running`, `absent`.
    pub class: &'static str,
}

impl Status {
    /// A phase's status: succeeded, failed, running (present, no outcome)
    /// or not run (absent).
    pub fn of_phase(tr: &Tr, phase: Option<&PhaseObject>) -> Self {
        match phase {
            Some(p) => Self::of_outcome(tr, p.status.success),
            None => Self::absent(tr),
        }
    }

    /// An attempt's outcome: succeeded, failed, or none yet (running).
    pub fn of_outcome(tr: &Tr, success: Option<bool>) -> Self {
        match success {
            Some(true) => Self::new(tr, "status-success", "✓", "ok"),
            Some(false) => Self::new(tr, "status-failed", "✗", "failed"),
            None => Self::new(tr, "status-running", "◷", "running"),
        }
    }

    /// A run's status (`None`: a run without phases).
    pub fn of_run(tr: &Tr, status: Option<RunStatus>) -> Self {
        match status {
            Some(RunStatus::Succeeded) => Self::of_outcome(tr, Some(true)),
            Some(RunStatus::Failed) => Self::of_outcome(tr, Some(false)),
            Some(RunStatus::Running) => Self::of_outcome(tr, None),
            None => Self::absent(tr),
        }
    }

    fn absent(tr: &Tr) -> Self {
        Self::new(tr, "status-absent", "○", "absent")
    }

    fn new(tr: &Tr, key: &str, symbol: &'static str, class: &'static str) -> Self {
        Self {
            word: tr.t(key),
            symbol,
            class,
        }
    }
}

/// A time for `<time datetime>`: the machine-readable instant (the
/// script shows it in the reader's zone and locale) and the UTC text shown
/// without the script and on hover.
#[derive(Debug, Clone)]
pub struct Time {
    /// RFC 3339, UTC.
    pub iso: String,
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    pub utc: String,
}

impl Time {
    /// From an instant.
    pub fn of(t: DateTime<Utc>) -> Self {
        Self {
            iso: t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            utc: t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }

    /// From a phase's RFC 3339 text; `None` when absent or unreadable.
    pub fn parse(text: Option<&str>) -> Option<Self> {
        let t = DateTime::parse_from_rfc3339(text?).ok()?;
        Some(Self::of(t.with_timezone(&Utc)))
    }
}

/// A duration in milliseconds as people read it: `850 ms`, `12.3 s`,
/// `4 min 05 s`, `2 h 03 min`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// The duration between two phase times, when both are known.
pub fn between(start: Option<&Time>, end: Option<&Time>) -> Option<String> {
    let start = DateTime::parse_from_rfc3339(&start?.iso).ok()?;
    let end = DateTime::parse_from_rfc3339(&end?.iso).ok()?;
    Some(duration((end - start).num_milliseconds()))
}

/// One cell of a data, error or log table.
#[derive(Debug, Clone)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// A scalar, as text, with the keyword's matches marked.
    Text(Highlighted),
    /// A struct, list or map: a one-line preview, and the value
    /// pretty-printed when expanded.
    Nested {
        /// The value on one line, cut.
        preview: String,
        /// The value pretty-printed.
        pretty: String,
    },
}

/// Characters of a nested value shown before it is expanded.
const PREVIEW_CHARS: usize = 80;

impl Cell {
    /// A JSON value of a page's row, `keyword`'s matches marked.
    pub fn of(value: &Value, keyword: Option<&str>) -> Self {
        match value {
            Value::Null => Cell::Null,
            Value::String(s) => Cell::Text(Highlighted::new(s, keyword)),
            Value::Array(_) | Value::Object(_) => {
                let line = value.to_string();
                let preview = if line.chars().count() > PREVIEW_CHARS {
                    let cut: String = line.chars().take(PREVIEW_CHARS).collect();
                    format!("{cut}…")
                } else {
                    line
                };
                Cell::Nested {
                    preview,
                    pretty: serde_json::to_string_pretty(value).unwrap_or_default(),
                }
            }
            other => Cell::Text(Highlighted::new(&other.to_string(), keyword)),
        }
    }
}

/// Text with a keyword's case-insensitive matches in `<mark>`: HTML made
/// here of escaped pieces, so templates print it as is.
#[derive(Debug, Clone)]
pub struct Highlighted(pub String);

impl Highlighted {
    /// `text` escaped, with each match of `keyword` marked (matched by
    /// simple lower-casing: a match only the search's full case folding
    /// finds, such as `ß` for `ss`, is found but not marked).
    pub fn new(text: &str, keyword: Option<&str>) -> Self {
        let keyword = keyword.map(str::to_lowercase).filter(|k| !k.is_empty());
        let Some(keyword) = keyword else {
            return Self(escape(text));
        };
        let mut out = String::new();
        let lower: Vec<(usize, char)> = text.char_indices().collect();
        let needle: Vec<char> = keyword.chars().collect();
        let mut i = 0;
        let mut plain_from = 0;
        while i < lower.len() {
            let matches = needle.len() <= lower.len() - i
                && needle.iter().enumerate().all(|(j, n)| {
                    let mut folded = lower[i + j].1.to_lowercase();
                    folded.next() == Some(*n) && folded.next().is_none()
                });
            if matches {
                let start = lower[i].0;
                let end = lower.get(i + needle.len()).map_or(text.len(), |c| c.0);
                out.push_str(&escape(&text[plain_from..start]));
                out.push_str("<mark>");
                out.push_str(&escape(&text[start..end]));
                out.push_str("</mark>");
                plain_from = end;
                i += needle.len();
            } else {
                i += 1;
            }
        }
        out.push_str(&escape(&text[plain_from..]));
        Self(out)
    }
}

/// HTML-escaped text (what askama does to every value it prints).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_the_only_html() {
        let h = Highlighted::new("<script>alert('Zoë')</script> ZOË", Some("zoë"));
        assert_eq!(
            h.0,
            "&lt;script&gt;alert(&#39;<mark>Zoë</mark>&#39;)&lt;/script&gt; <mark>ZOË</mark>"
        );
        assert_eq!(Highlighted::new("a<b", None).0, "a&lt;b");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(245_000), "4 min 05 s");
        assert_eq!(duration(7_380_000), "2 h 03 min");
    }

    #[test]
    fn nested_values_preview_and_expand() {
        let v = serde_json::json!({"a": [1, 2], "b": "x".repeat(100)});
        let Cell::Nested { preview, pretty } = Cell::of(&v, None) else {
            panic!("a struct is nested");
        };
        assert!(preview.ends_with('…') && preview.chars().count() == PREVIEW_CHARS + 1);
        assert!(pretty.contains("\n"));
    }
}
