//! Dates, times, timestamps and durations as text (contract 4.2: dates as
//! `YYYY-MM-DD`, timestamps as RFC 3339), for every value their Arrow
//! types can hold.
//!
//! Written here rather than through chrono because chrono's calendar ends
//! at ±262,143 years, while a Parquet `DATE` or a timestamp in seconds
//! reaches far beyond: those would come out as null instead of their
//! value. Years 0000-9999 print as four digits; years outside, which RFC
//! 3339 cannot write, in ISO 8601's expanded form (`+10000-01-01`,
//! `-0001-12-31`; year 0 is 1 BC, as in ISO 8601). Fractions of a second
//! print with 0, 3, 6 or 9 digits, the fewest that hold the value (as
//! chrono's `SecondsFormat::AutoSi`).

use std::fmt::Write as _;

use arrow_schema::TimeUnit;

const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Units per second of a time unit.
pub fn per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => NANOS_PER_SECOND,
    }
}

/// The proleptic Gregorian (year, month, day) of a day count since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    (
        i64::try_from(year).unwrap_or(i64::MAX),
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn push_date(out: &mut String, days: i64) {
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let _ = write!(out, "{year:04}");
    } else {
        let sign = if year < 0 { '-' } else { '+' };
        let _ = write!(out, "{sign}{:04}", year.unsigned_abs());
    }
    let _ = write!(out, "-{month:02}-{day:02}");
}

/// `nanos` (under a second) as `.fff`, `.ffffff` or `.fffffffff`, or
/// nothing when zero.
fn push_fraction(out: &mut String, nanos: i64) {
    if nanos == 0 {
    } else if nanos % 1_000_000 == 0 {
        let _ = write!(out, ".{:03}", nanos / 1_000_000);
    } else if nanos % 1_000 == 0 {
        let _ = write!(out, ".{:06}", nanos / 1_000);
    } else {
        let _ = write!(out, ".{nanos:09}");
    }
}

fn push_time(out: &mut String, second_of_day: i64, nanos: i64) {
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    push_fraction(out, nanos);
}

/// A day count since 1970-01-01 as `YYYY-MM-DD`.
pub fn date(days: i64) -> String {
    let mut out = String::with_capacity(10);
    push_date(&mut out, days);
    out
}

/// A timestamp of `value` `unit`s since 1970-01-01T00:00:00 as RFC 3339:
/// with `offset_seconds` (`Some(0)` writes `Z`), or without an offset for
/// a timestamp that has no zone. An offset of whole seconds (a zone's
/// local mean time before it adopted standard time), which RFC 3339
/// cannot write, is written in UTC: the same instant.
pub fn timestamp(value: i64, unit: TimeUnit, offset_seconds: Option<i32>) -> String {
    let offset_seconds = offset_seconds.map(|o| if o % 60 == 0 { o } else { 0 });
    let per = per_second(unit);
    let seconds = i128::from(value.div_euclid(per)) + i128::from(offset_seconds.unwrap_or(0));
    let nanos = value.rem_euclid(per) * (NANOS_PER_SECOND / per);
    let day = seconds.div_euclid(i128::from(SECONDS_PER_DAY));
    let second_of_day = i64::try_from(seconds.rem_euclid(i128::from(SECONDS_PER_DAY))).unwrap_or(0);
    let mut out = String::with_capacity(32);
    push_date(&mut out, i64::try_from(day).unwrap_or(i64::MAX));
    out.push('T');
    push_time(&mut out, second_of_day, nanos);
    match offset_seconds {
        None => {}
        Some(0) => out.push('Z'),
        Some(offset) => {
            let sign = if offset < 0 { '-' } else { '+' };
            let offset = offset.unsigned_abs();
            let _ = write!(out, "{sign}{:02}:{:02}", offset / 3600, offset / 60 % 60);
        }
    }
    out
}

/// A time of day of `value` `unit`s since midnight as `HH:MM:SS[.fff]`;
/// `None` outside 00:00:00..=24:00:00 (a value no time of day holds).
pub fn time_of_day(value: i64, unit: TimeUnit) -> Option<String> {
    let per = per_second(unit);
    if value < 0 || value > SECONDS_PER_DAY.checked_mul(per)? {
        return None;
    }
    let mut out = String::with_capacity(18);
    push_time(
        &mut out,
        value / per,
        value % per * (NANOS_PER_SECOND / per),
    );
    Some(out)
}

/// A duration as ISO 8601 (`P1Y2M3DT4H5M6.789S`, `PT0S`): months (shown
/// as years and months), days and nanoseconds, each with its own sign, as
/// Arrow's intervals hold them.
pub fn iso_duration(months: i64, days: i64, nanos: i128) -> String {
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if n != 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if nanos != 0 {
        out.push('T');
        let sign = if nanos < 0 { "-" } else { "" };
        let nanos = nanos.unsigned_abs();
        let per_second = u128::from(NANOS_PER_SECOND.unsigned_abs());
        let seconds = nanos / per_second;
        let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        let fraction = nanos % per_second;
        if hours != 0 {
            let _ = write!(out, "{sign}{hours}H");
        }
        if minutes != 0 {
            let _ = write!(out, "{sign}{minutes}M");
        }
        if seconds != 0 || fraction != 0 {
            let _ = write!(out, "{sign}{seconds}");
            if fraction != 0 {
                let digits = format!("{fraction:09}");
                let _ = write!(out, ".{}", digits.trim_end_matches('0'));
            }
            out.push('S');
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_cover_every_year() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(20_419), "2025-11-27");
        assert_eq!(date(-719_162), "0001-01-01");
        assert_eq!(date(2_932_896), "9999-12-31");
        assert_eq!(date(2_932_897), "+10000-01-01");
        assert_eq!(date(-719_163), "0000-12-31");
        assert_eq!(date(-719_529), "-0001-12-31");
        assert_eq!(date(i64::from(i32::MAX)), "+5881580-07-11");
        assert_eq!(date(i64::from(i32::MIN)), "-5877641-06-23");
    }

    #[test]
    fn timestamps_are_rfc_3339() {
        let us = TimeUnit::Microsecond;
        assert_eq!(timestamp(0, us, Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(-1, us, Some(0)), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            timestamp(253_402_300_799_999_999, us, None),
            "9999-12-31T23:59:59.999999"
        );
        assert_eq!(
            timestamp(1_764_201_603_120_000, us, Some(3600)),
            "2025-11-27T01:00:03.120+01:00"
        );
        assert_eq!(
            timestamp(1_500, TimeUnit::Nanosecond, Some(-19_800)),
            "1969-12-31T18:30:00.000001500-05:30"
        );
        assert_eq!(
            timestamp(i64::MIN, TimeUnit::Second, None),
            "-292277022657-01-27T08:29:52"
        );
        assert_eq!(
            timestamp(0, TimeUnit::Second, Some(-17_762)),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn times_of_day_and_durations() {
        assert_eq!(
            time_of_day(37_862_123_456, TimeUnit::Microsecond).as_deref(),
            Some("10:31:02.123456")
        );
        assert_eq!(
            time_of_day(86_400, TimeUnit::Second).as_deref(),
            Some("24:00:00")
        );
        assert_eq!(time_of_day(86_401, TimeUnit::Second), None);
        assert_eq!(time_of_day(-1, TimeUnit::Millisecond), None);
        assert_eq!(
            iso_duration(14, 3, 14_706_789_000_000),
            "P1Y2M3DT4H5M6.789S"
        );
        assert_eq!(iso_duration(-1, 0, 0), "P-1M");
        assert_eq!(iso_duration(0, 0, -5_400_000_000_000), "PT-1H-30M");
        assert_eq!(iso_duration(0, 0, 0), "PT0S");
    }
}
