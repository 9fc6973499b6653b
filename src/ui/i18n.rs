//! The run explorer's two languages, English and Spanish: one Fluent
//! catalog per language in `locales/` (compiled into the binary by
//! `fluent-templates`), the reader's language from the switch's `lang`
//! cookie, else `Accept-Language` (RFC 9110 section 12.5.4), else English.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: they would show as
        // stray characters in `<title>` and in copied text.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The name of the cookie the language switch sets.
pub const LANG_COOKIE: &str = "dagtrail_lang";

/// A language of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English (the fallback).
    En,
    /// Spanish.
    Es,
}

impl Lang {
    /// Every language, the fallback first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    /// From a tag's primary language subtag (`es-MX` is Spanish).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Self::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Self {
        match self {
            Lang::En => Lang::Es,
            Lang::Es => Lang::En,
        }
    }

    /// The reader's language: the cookie's when it names one, else the
    /// first of `Accept-Language` (by `q`, then order) that we have.
    pub fn negotiate(cookie: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(lang) = cookie.and_then(Self::from_tag) {
            return lang;
        }
        let mut ranges: Vec<(f32, usize, &str)> = accept_language
            .unwrap_or_default()
            .split(',')
            .enumerate()
            .filter_map(|(i, item)| {
                let mut parts = item.split(';');
                let tag = parts.next()?.trim();
                let q = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0 && !tag.is_empty()).then_some((q, i, tag))
            })
            .collect();
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges
            .into_iter()
            .find_map(|(_, _, tag)| Self::from_tag(tag))
            .unwrap_or(Lang::En)
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::En => langid!("en"),
            Lang::Es => langid!("es"),
        }
    }
}

/// Texts of one language, for a page's template.
#[derive(Debug, Clone)]
pub struct Tr {
    lang: Lang,
    id: LanguageIdentifier,
}

impl Tr {
    /// The texts of `lang`.
    pub fn new(lang: Lang) -> Self {
        Self {
            lang,
            id: lang.id(),
        }
    }

    /// The language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The text of `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(&self.id, key)
    }

    /// The text of `key` with its arguments (`{ $name }` in the catalog).
    pub fn with(&self, key: &str, args: &[(&'static str, String)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.clone())))
            .collect();
        LOCALES.lookup_with_args(&self.id, key, &args)
    }

    /// The text of `key` whose one argument `name` is a count.
    pub fn count(&self, key: &str, name: &'static str, n: impl TryInto<u64>) -> String {
        self.counts(key, &[(name, n.try_into().unwrap_or(0))], &[])
    }

    /// The text of `key` with counts and texts: each count `name` is given
    /// as the number written in the reader's language (`$name`) and as the
    /// number itself (`$name_n`), for the message to pick its plural form
    /// by the language's rules (`{ $runs_n -> [one] … *[other] … }`).
    pub fn counts(
        &self,
        key: &str,
        counts: &[(&'static str, u64)],
        texts: &[(&'static str, String)],
    ) -> String {
        let mut args: HashMap<Cow<'static, str>, FluentValue> = texts
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(value.clone())))
            .collect();
        for (name, n) in counts {
            args.insert(Cow::Borrowed(*name), FluentValue::from(self.number(*n)));
            args.insert(Cow::Owned(format!("{name}_n")), FluentValue::from(*n));
        }
        LOCALES.lookup_with_args(&self.id, key, &args)
    }

    /// A count in the reader's language (digit grouping).
    pub fn number(&self, n: u64) -> String {
        let digits = n.to_string();
        let separator = match self.lang {
            Lang::En => ',',
            // The RAE's rule: no separator up to four digits, then a space.
            Lang::Es if digits.len() <= 4 => return digits,
            Lang::Es => '\u{a0}',
        };
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(separator);
            }
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts take the plural form of the reader's language (Fluent's
    /// plural selectors), not "1 runs" or "1 ejecuciones".
    #[test]
    fn counts_take_the_languages_plural_forms() {
        let (en, es) = (Tr::new(Lang::En), Tr::new(Lang::Es));
        assert_eq!(en.count("runs-total", "total", 1u64), "1 run");
        assert_eq!(en.count("runs-total", "total", 2u64), "2 runs");
        assert_eq!(en.count("runs-total", "total", 1_234u64), "1,234 runs");
        assert_eq!(es.count("runs-total", "total", 1u64), "1 ejecución");
        assert_eq!(es.count("runs-total", "total", 0u64), "0 ejecuciones");
        assert_eq!(en.count("phase-rows", "rows", 1u64), "1 row");
        assert!(
            en.count("cell-cut", "count", 1u64)
                .starts_with("1 more character:")
        );
        assert!(
            es.count("cell-cut", "count", 2u64)
                .starts_with("2 caracteres más:")
        );
        assert_eq!(es.count("phase-matches", "total", 1u64), "1 fila coincide");
        assert_eq!(
            es.counts(
                "runs-calendar-day",
                &[("runs", 1), ("failed", 1)],
                &[("date", "2026-11-27".into())]
            ),
            "2026-11-27: 1 ejecución, 1 fallida"
        );
    }

    fn keys(text: &str) -> Vec<String> {
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains(" = "))
            .filter_map(|l| l.split(" = ").next().map(str::to_owned))
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn both_catalogs_have_the_same_keys() {
        let en = keys(include_str!("../../locales/en/ui.ftl"));
        let es = keys(include_str!("../../locales/es/ui.ftl"));
        assert!(en.len() > 50);
        assert_eq!(en, es);
    }

    #[test]
    fn every_key_a_template_or_page_uses_is_in_the_catalog() {
        let en = keys(include_str!("../../locales/en/ui.ftl"));
        let mut sources = String::new();
        for dir in ["templates/ui", "src/ui"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                sources.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        let used = regex::Regex::new(r#"\.(?:t|with|count)\("([a-z0-9-]+)""#)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut missing: Vec<&str> = used
            .captures_iter(&sources)
            .filter_map(|c| c.get(1).map(|m| m.as_str()))
            .filter(|k| !en.iter().any(|e| e == k))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "keys used but not in the catalog: {missing:?}"
        );
    }

    #[test]
    fn the_reader_s_language() {
        assert_eq!(Lang::negotiate(None, None), Lang::En);
        assert_eq!(
            Lang::negotiate(None, Some("es-MX,es;q=0.9,en;q=0.8")),
            Lang::Es
        );
        assert_eq!(
            Lang::negotiate(None, Some("fr, en;q=0.5, es;q=0.7")),
            Lang::Es
        );
        assert_eq!(Lang::negotiate(None, Some("es;q=0, en")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en"), Some("es")), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), Some("es")), Lang::Es);
    }

    #[test]
    fn texts_and_numbers() {
        let es = Tr::new(Lang::Es);
        assert_eq!(es.count("runs-total", "total", 1234u64), "1234 ejecuciones");
        assert_eq!(es.number(1_234_567), "1\u{a0}234\u{a0}567");
        assert_eq!(Tr::new(Lang::En).number(1_234_567), "1,234,567");
        assert_eq!(Tr::new(Lang::En).t("nav-signout"), "Sign out");
    }
}
