//! The exact reading of a number's text, as `ingest` infers types from it
//! (see [`super::infer`]): its digits and power of ten, whether it reads
//! back from an `f64` as the same number, and its fractional digits.

/// The digits of a number written in JSON's grammar: sign, digits (no
/// leading zeros), and the power of ten of the last digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decimal {
    pub(super) negative: bool,
    pub(super) digits: String,
    pub(super) exponent: i64,
}

impl Decimal {
    /// Parses JSON's number grammar (`-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`).
    pub(super) fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut at = 0;
        let negative = bytes.first() == Some(&b'-');
        if negative {
            at += 1;
        }
        let int_start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        let int = &text[int_start..at];
        if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
            return None;
        }
        let mut fraction = "";
        if bytes.get(at) == Some(&b'.') {
            let start = at + 1;
            at = start;
            while at < bytes.len() && bytes[at].is_ascii_digit() {
                at += 1;
            }
            fraction = &text[start..at];
            if fraction.is_empty() {
                return None;
            }
        }
        let mut exponent: i64 = 0;
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            exponent = text[at + 1..].parse().ok()?;
            let digits = text[at + 1..].trim_start_matches(['+', '-']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            at = bytes.len();
        }
        if at != bytes.len() {
            return None;
        }
        let mut digits = format!("{int}{fraction}");
        let mut exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
        let trimmed = digits.trim_start_matches('0').len();
        digits.drain(..digits.len() - trimmed);
        while digits.ends_with('0') {
            digits.pop();
            exponent = exponent.checked_add(1)?;
        }
        if digits.is_empty() {
            exponent = 0;
        }
        Some(Self {
            negative: negative && !digits.is_empty(),
            digits,
            exponent,
        })
    }

    /// The value as an `i128` scaled by 10^`scale`, when it fits.
    pub(super) fn scaled(&self, scale: usize) -> Option<i128> {
        let shift = i64::try_from(scale).ok()?.checked_add(self.exponent)?;
        if shift < 0 {
            return None; // more fractional digits than the scale holds
        }
        let mut value: i128 = if self.digits.is_empty() {
            0
        } else {
            self.digits.parse().ok()?
        };
        for _ in 0..shift {
            value = value.checked_mul(10)?;
        }
        Some(if self.negative { -value } else { value })
    }
}

/// The `f64` a number's text reads as, when it reads back as the same
/// number (Rust prints the shortest text that reads back as the `f64`).
pub(super) fn exact_f64(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    (Decimal::parse(&value.to_string()) == Decimal::parse(text)).then_some(value)
}

/// Digits after the decimal point of a timestamp's seconds: past 6, a
/// microsecond timestamp would drop some.
pub(super) fn fraction_digits(text: &str) -> usize {
    text.split_once('.')
        .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count())
}
