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
    /// A scalar, as text (its first [`CELL_CHARS`] characters), with the
    /// keyword's matches marked, and how many characters were left out.
    Text(Highlighted, Option<usize>),
    /// A struct, list or map: a one-line preview, and the value
    /// pretty-printed when expanded, the keyword's matches marked in both
    /// (and the value shown expanded when it holds one).
    Nested {
        /// The value on one line, cut.
        preview: Highlighted,
        /// The value pretty-printed.
        pretty: Highlighted,
        /// Whether the keyword is found inside.
        matched: bool,
    },
    /// An instant with its zone (a `timestamp[…, tz=…]` value): shown in
    /// the reader's zone by the page's script, as the page's own times are.
    Time(String),
}

/// Characters of a nested value shown before it is expanded.
const PREVIEW_CHARS: usize = 80;
/// Characters of one value a page shows at most (a text, or a nested
/// value expanded): a page of a few rows of megabyte cells would be
/// megabytes of HTML; the whole value is in the API.
pub const CELL_CHARS: usize = 2_000;

/// `text`'s first `max` characters, and how many were left out.
fn cut(text: &str, max: usize) -> (&str, Option<usize>) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (&text[..at], Some(text[at..].chars().count())),
        None => (text, None),
    }
}

impl Cell {
    /// [`Cell::of`] for a value of a column of Arrow type `data_type`
    /// (as `type_names.rs` writes it): an instant with a zone becomes a
    /// [`Cell::Time`], unless the keyword is found in its text (then it is
    /// marked there).
    pub fn of_typed(value: &Value, keyword: Option<&str>, data_type: &str) -> Self {
        match value {
            Value::String(s)
                if data_type.starts_with("timestamp[") && data_type.contains("tz=") =>
            {
                let hit = keyword.is_some_and(|k| {
                    crate::casefold::fold(s).contains(crate::casefold::fold(k).as_ref())
                });
                if hit {
                    Self::of(value, keyword)
                } else {
                    Cell::Time(s.clone())
                }
            }
            _ => Self::of(value, keyword),
        }
    }

    /// A JSON value of a page's row, `keyword`'s matches marked.
    pub fn of(value: &Value, keyword: Option<&str>) -> Self {
        let text = |s: &str| {
            let (shown, left) = cut(s, CELL_CHARS);
            Cell::Text(Highlighted::new(shown, keyword), left)
        };
        match value {
            Value::Null => Cell::Null,
            Value::String(s) => text(s),
            Value::Array(_) | Value::Object(_) => {
                let line = value.to_string();
                let preview = match cut(&line, PREVIEW_CHARS) {
                    (shown, Some(_)) => format!("{shown}…"),
                    (shown, None) => shown.to_owned(),
                };
                let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
                let pretty = match cut(&pretty, CELL_CHARS) {
                    (shown, Some(left)) => format!("{shown}\n… (+{left})"),
                    (shown, None) => shown.to_owned(),
                };
                let pretty = Highlighted::new(&pretty, keyword);
                Cell::Nested {
                    preview: Highlighted::new(&preview, keyword),
                    matched: pretty.0.contains("<mark>"),
                    pretty,
                }
            }
            other => text(&other.to_string()),
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
    /// finds, such as `ß` for `ss`, is found but not marked). Linear in
    /// the text: both are lowercased character by character (a character
    /// whose lowercase is longer than one character stays as it is) and
    /// the keyword is found with `memchr`'s substring search; a naive
    /// search took 65 s for two pages of 2 MB cells and a 256-character
    /// keyword.
    pub fn new(text: &str, keyword: Option<&str>) -> Self {
        let fold = |c: char| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        };
        let keyword: String = keyword
            .map(|k| k.chars().map(fold).collect())
            .unwrap_or_default();
        if keyword.is_empty() {
            return Self(escape(text));
        }
        // The folded text, and where each of its characters starts in it
        // and in `text`.
        let mut folded = String::with_capacity(text.len());
        let mut starts: Vec<(usize, usize)> = Vec::with_capacity(text.len());
        for (at, c) in text.char_indices() {
            starts.push((folded.len(), at));
            folded.push(fold(c));
        }
        let original = |folded_at: usize| {
            starts
                .binary_search_by_key(&folded_at, |(f, _)| *f)
                .map_or(text.len(), |i| starts[i].1)
        };
        let mut out = String::with_capacity(text.len() + 16);
        let mut plain_from = 0;
        for found in memchr::memmem::find_iter(folded.as_bytes(), keyword.as_bytes()) {
            let (start, end) = (original(found), original(found + keyword.len()));
            if start < plain_from {
                continue;
            }
            out.push_str(&escape(&text[plain_from..start]));
            out.push_str("<mark>");
            out.push_str(&escape(&text[start..end]));
            out.push_str("</mark>");
            plain_from = end;
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
    fn highlighting_is_linear_and_cells_are_cut() {
        let text = "a".repeat(2_000_000);
        let keyword = "a".repeat(255) + "b";
        let started = std::time::Instant::now();
        let h = Highlighted::new(&text, Some(&keyword));
        assert_eq!(h.0.len(), text.len());
        // Unmarked, and in far less than the naive search's minute.
        assert!(started.elapsed().as_secs() < 10);
        assert_eq!(
            Highlighted::new("İstanbul x ISTANBUL", Some("istanbul")).0,
            "İstanbul x <mark>ISTANBUL</mark>"
        );
        assert_eq!(
            Highlighted::new("aaaa", Some("aa")).0,
            "<mark>aa</mark><mark>aa</mark>"
        );
        let Cell::Text(shown, left) = Cell::of(&Value::String("é".repeat(CELL_CHARS + 5)), None)
        else {
            panic!("text is text");
        };
        assert_eq!(shown.0.chars().count(), CELL_CHARS);
        assert_eq!(left, Some(5));
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
        let Cell::Nested {
            preview,
            pretty,
            matched,
        } = Cell::of(&v, None)
        else {
            panic!("a struct is nested");
        };
        // The preview is escaped HTML: its quotes are entities.
        let shown = preview.0.replace("&quot;", "\"").replace("&#34;", "\"");
        assert!(
            shown.ends_with('…') && shown.chars().count() == PREVIEW_CHARS + 1,
            "{shown}"
        );
        assert!(pretty.0.contains('\n') && !matched);
        // A keyword inside a nested value is marked, and the value opens.
        let Cell::Nested {
            pretty, matched, ..
        } = Cell::of(&v, Some("XX"))
        else {
            panic!("a struct is nested");
        };
        assert!(
            matched && pretty.0.contains("<mark>xx</mark>"),
            "{}",
            pretty.0
        );
    }

    #[test]
    fn instants_with_a_zone_are_times_unless_the_keyword_is_in_them() {
        let t = serde_json::json!("2026-11-27T10:31:02.123456Z");
        assert!(matches!(
            Cell::of_typed(&t, None, "timestamp[us, tz=UTC]"),
            Cell::Time(_)
        ));
        assert!(matches!(
            Cell::of_typed(&t, None, "timestamp[us]"),
            Cell::Text(..)
        ));
        assert!(matches!(
            Cell::of_typed(&t, Some("10:31"), "timestamp[us, tz=UTC]"),
            Cell::Text(..)
        ));
    }
}
