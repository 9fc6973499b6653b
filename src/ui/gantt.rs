//! Timelines drawn on the server as SVG, so that a slow or retried phase
//! stands out at a glance without a JavaScript build (and under the
//! pages' Content-Security-Policy: no inline style, only classes the
//! stylesheet colours): a run's phases and attempts along its time (the run
//! page), and a DAG's recent runs with their phases, each from its own
//! start (the DAG page).
//!
//! Its links repeat those of the table beside it, so the template keeps
//! them out of the keyboard's path (`tabindex="-1"`): a keyboard user
//! reaches each once, in the table, not three times.
//!
//! Geometry is in the SVG's own units (a 1,000-wide view box that scales
//! to the page): a label column, then the time axis.

use chrono::{DateTime, Utc};

use super::view::duration;

/// Width of the view box.
const WIDTH: f64 = 1000.0;
/// Where bars start (the label column is left of it).
const AXIS_X: f64 = 170.0;
/// Height of one row, and of a bar in it.
const ROW: f64 = 26.0;
const BAR: f64 = 16.0;
/// Narrowest bar drawn, so that an instant still shows.
const MIN_BAR: f64 = 3.0;

/// One span to draw: where it belongs, when, how it ended.
#[derive(Debug, Clone)]
pub struct Span {
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it ended (`None`: still running, drawn up to now).
    pub end: Option<DateTime<Utc>>,
    /// The status class (`ok`, `failed`, `running`, `absent`).
    pub class: &'static str,
    /// Where a click on it leads.
    pub link: String,
    /// What hovering it says (its name and status; the duration is added).
    pub title: String,
}

/// One row of the chart: a label and its spans.
#[derive(Debug, Clone)]
pub struct Line {
    /// The label left of the axis.
    pub label: String,
    /// Where the label leads.
    pub link: String,
    /// Its spans, drawn on one row.
    pub spans: Vec<Span>,
}

/// A bar as drawn.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Left edge, width.
    pub x: String,
    pub width: String,
    /// Top edge.
    pub y: String,
    /// Status class.
    pub class: &'static str,
    /// Link and hover text.
    pub link: String,
    pub title: String,
}

/// A row's label as drawn.
#[derive(Debug, Clone)]
pub struct Label {
    /// Its text, link and baseline.
    pub text: String,
    pub link: String,
    pub y: String,
}

/// A chart ready for the template.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The view box's height.
    pub height: String,
    /// Labels and bars.
    pub labels: Vec<Label>,
    pub bars: Vec<Bar>,
    /// The axis's ends (`0` and the span's length) and where it is drawn.
    pub axis_y: String,
    pub axis_start: String,
    pub axis_end: String,
}

/// How the rows' times are placed on the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Every row on one clock: the earliest start is the axis's origin (a
    /// run's attempts).
    Shared,
    /// Each row from its own first start (runs compared by their phases'
    /// durations).
    PerRow,
}

/// The chart of `lines`, times placed as `align` says and spans still
/// running drawn up to `now`; `None` when no span has a time.
pub fn chart(lines: &[Line], align: Align, now: DateTime<Utc>) -> Option<Chart> {
    let ends = |s: &Span| s.end.unwrap_or(now).max(s.start);
    let origin_of = |line: &Line| line.spans.iter().map(|s| s.start).min();
    let shared = lines.iter().filter_map(origin_of).min();
    // The axis's length in milliseconds: the longest row.
    let mut longest = 0i64;
    for line in lines {
        let origin = match align {
            Align::Shared => shared,
            Align::PerRow => origin_of(line),
        };
        let Some(origin) = origin else { continue };
        for span in &line.spans {
            longest = longest.max((ends(span) - origin).num_milliseconds());
        }
    }
    if lines.iter().all(|l| l.spans.is_empty()) {
        return None;
    }
    let scale = (WIDTH - AXIS_X - 10.0) / (longest.max(1) as f64);
    let mut labels = Vec::with_capacity(lines.len());
    let mut bars = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let top = i as f64 * ROW;
        labels.push(Label {
            text: line.label.clone(),
            link: line.link.clone(),
            y: fmt(top + ROW / 2.0 + 4.0),
        });
        let origin = match align {
            Align::Shared => shared,
            Align::PerRow => origin_of(line),
        };
        let Some(origin) = origin else { continue };
        for span in &line.spans {
            let from = (span.start - origin).num_milliseconds() as f64;
            let length = (ends(span) - span.start).num_milliseconds();
            let took = match span.end {
                Some(_) => duration(length),
                None => format!("{} …", duration(length)),
            };
            bars.push(Bar {
                x: fmt(AXIS_X + from * scale),
                width: fmt((length as f64 * scale).max(MIN_BAR)),
                y: fmt(top + (ROW - BAR) / 2.0),
                class: span.class,
                link: span.link.clone(),
                title: format!("{} · {took}", span.title),
            });
        }
    }
    let height = lines.len() as f64 * ROW + 22.0;
    Some(Chart {
        height: fmt(height),
        labels,
        bars,
        axis_y: fmt(height - 6.0),
        axis_start: "0".to_owned(),
        axis_end: duration(longest),
    })
}

/// A coordinate as SVG takes it (one decimal is plenty at this size).
fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn span(start: i64, end: Option<i64>, class: &'static str) -> Span {
        Span {
            start: at(start),
            end: end.map(at),
            class,
            link: "#".into(),
            title: "t".into(),
        }
    }

    #[test]
    fn a_run_is_drawn_on_one_clock_and_a_running_span_up_to_now() {
        let lines = vec![
            Line {
                label: "extract #1".into(),
                link: "#".into(),
                spans: vec![span(0, Some(10), "ok")],
            },
            Line {
                label: "transform #1".into(),
                link: "#".into(),
                spans: vec![span(10, Some(15), "failed")],
            },
            Line {
                label: "transform #2".into(),
                link: "#".into(),
                spans: vec![span(20, None, "running")],
            },
        ];
        let chart = chart(&lines, Align::Shared, at(40)).unwrap();
        // 40 minutes over 820 units: extract 0-10 is 205 wide from 170.
        assert_eq!(
            (chart.bars[0].x.as_str(), chart.bars[0].width.as_str()),
            ("170.0", "205.0")
        );
        assert_eq!(chart.bars[1].x, "375.0");
        assert_eq!(
            (chart.bars[2].x.as_str(), chart.bars[2].width.as_str()),
            ("580.0", "410.0")
        );
        assert!(
            chart.bars[2].title.ends_with("20 min 00 s …"),
            "{}",
            chart.bars[2].title
        );
        assert_eq!(chart.axis_end, "40 min 00 s");
    }

    #[test]
    fn runs_are_compared_from_their_own_starts() {
        let lines = vec![
            Line {
                label: "a".into(),
                link: "#".into(),
                spans: vec![span(0, Some(5), "ok"), span(5, Some(10), "ok")],
            },
            Line {
                label: "b".into(),
                link: "#".into(),
                spans: vec![span(100, Some(120), "failed")],
            },
        ];
        let chart = chart(&lines, Align::PerRow, at(200)).unwrap();
        assert_eq!(chart.bars[2].x, "170.0", "each row from its own start");
        assert_eq!(
            chart.bars[2].width, "820.0",
            "the longest row fills the axis"
        );
        assert!(super::chart(&[], Align::Shared, at(0)).is_none());
    }
}
