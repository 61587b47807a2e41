//! Listing windows: half-open `[start, end)` on `contentCreated`, whole seconds, at most 24 hours, start clamped to
//! the retention limit, formatted `YYYY-MM-DDTHH:MM:SS` in UTC (management-api.md §2).

use std::fmt;

use jiff::{SignedDuration, Timestamp, TimestampRound, Unit};

/// The longest window the API accepts.
pub const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// How far back a window may start: 7 days minus 5 minutes of margin (Elastic's `now − 167h55m`).
pub const RETENTION: SignedDuration = SignedDuration::from_mins(167 * 60 + 55);

/// An invalid window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `end` is not after `start`.
    #[error("window start {start} is not before its end {end}: pass a start earlier than the end")]
    Inverted {
        /// Requested start.
        start: Timestamp,
        /// Requested end.
        end: Timestamp,
    },
    /// Longer than 24 hours.
    #[error(
        "window {start}..{end} is longer than 24 hours: split it into windows of at most 24 hours"
    )]
    TooLong {
        /// Requested start.
        start: Timestamp,
        /// Requested end.
        end: Timestamp,
    },
    /// Entirely older than the retention limit.
    #[error(
        "window {start}..{end} lies entirely beyond the 7-day retention limit: its content can no longer be listed, record it as a gap"
    )]
    BeyondRetention {
        /// Requested start.
        start: Timestamp,
        /// Requested end.
        end: Timestamp,
    },
}

/// A listing window, half-open `[start, end)`, whole seconds, at most 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    start: Timestamp,
    end: Timestamp,
}

/// A window after clamping to retention: the part that can be listed, and the part that was cut off (a gap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clamped {
    /// The listable window.
    pub window: Window,
    /// The older part beyond retention, `[requested start, window.start)`, if any was cut.
    pub cut: Option<(Timestamp, Timestamp)>,
}

impl Window {
    /// A window `[start, end)`. The start is rounded down and the end up to whole seconds, so that the seconds-only
    /// wire format never shrinks the window.
    ///
    /// A window of exactly 24 hours between fractional instants would become 24 h + 1 s that way; its start is then
    /// rounded up instead. The sliver lost, under a second, is covered by the previous contiguous window, whose end
    /// was rounded up to the same second.
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Window, WindowError> {
        if end <= start {
            return Err(WindowError::Inverted { start, end });
        }
        if end.duration_since(start) > MAX_WINDOW {
            return Err(WindowError::TooLong { start, end });
        }
        let end = ceil_second(end);
        let mut start_rounded = floor_second(start);
        if end.duration_since(start_rounded) > MAX_WINDOW {
            start_rounded = ceil_second(start);
        }
        Ok(Window {
            start: start_rounded,
            end,
        })
    }

    /// Builds the window and clamps its start to `now − 167h55m` (rounded up to a whole second).
    pub fn clamped(
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> Result<Clamped, WindowError> {
        let requested = Window::new(start, end)?;
        let limit = ceil_second(now.saturating_sub(RETENTION).unwrap_or(now));
        if requested.end <= limit {
            return Err(WindowError::BeyondRetention {
                start: requested.start,
                end: requested.end,
            });
        }
        if requested.start >= limit {
            return Ok(Clamped {
                window: requested,
                cut: None,
            });
        }
        Ok(Clamped {
            window: Window {
                start: limit,
                end: requested.end,
            },
            cut: Some((requested.start, limit)),
        })
    }

    /// Inclusive start.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Exclusive end.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Whether `t` (a blob's `contentCreated`) falls inside `[start, end)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    /// `startTime` as sent: `YYYY-MM-DDTHH:MM:SS` in UTC.
    pub fn start_param(&self) -> String {
        format_param(self.start)
    }

    /// `endTime` as sent: `YYYY-MM-DDTHH:MM:SS` in UTC.
    pub fn end_param(&self) -> String {
        format_param(self.end)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// Formats an instant as the API's `YYYY-MM-DDTHH:MM:SS` (UTC, 24-hour clock, no zone suffix).
pub fn format_param(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

fn floor_second(t: Timestamp) -> Timestamp {
    t.round(
        TimestampRound::new()
            .smallest(Unit::Second)
            .mode(jiff::RoundMode::Floor),
    )
    .unwrap_or(t)
}

fn ceil_second(t: Timestamp) -> Timestamp {
    t.round(
        TimestampRound::new()
            .smallest(Unit::Second)
            .mode(jiff::RoundMode::Ceil),
    )
    .unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn formats_utc_seconds_with_24_hour_clock() {
        let w = Window::new(
            ts("2026-11-20T13:05:09.250Z"),
            ts("2026-11-20T23:59:59.001+00:00"),
        )
        .unwrap();
        assert_eq!(w.start_param(), "2026-11-20T13:05:09");
        assert_eq!(w.end_param(), "2026-11-21T00:00:00");
        let w = Window::new(
            ts("2026-11-20T01:00:00-05:00"),
            ts("2026-11-20T02:00:00-05:00"),
        )
        .unwrap();
        assert_eq!(w.start_param(), "2026-11-20T06:00:00");
    }

    #[test]
    fn rejects_inverted_and_long_windows() {
        let t = ts("2026-11-20T00:00:00Z");
        assert!(matches!(
            Window::new(t, t),
            Err(WindowError::Inverted { .. })
        ));
        assert!(Window::new(t, ts("2026-11-21T00:00:00Z")).is_ok());
        let err = Window::new(t, ts("2026-11-21T00:00:01Z")).unwrap_err();
        assert!(err.to_string().contains("split it"), "{err}");
    }

    #[test]
    fn exact_day_between_fractional_instants_stays_a_day() {
        let start = ts("2026-11-20T10:00:00.25Z");
        let w = Window::new(start, ts("2026-11-21T10:00:00.25Z")).unwrap();
        assert_eq!(w.start(), ts("2026-11-20T10:00:01Z"));
        assert_eq!(w.end(), ts("2026-11-21T10:00:01Z"));
        // the previous contiguous window ends where this one starts
        let prev = Window::new(ts("2026-11-20T09:00:00.25Z"), start).unwrap();
        assert_eq!(prev.end(), w.start());
    }

    #[test]
    fn half_open_membership() {
        let w = Window::new(ts("2026-11-20T00:00:00Z"), ts("2026-11-20T01:00:00Z")).unwrap();
        assert!(w.contains(ts("2026-11-20T00:00:00Z")));
        assert!(w.contains(ts("2026-11-20T00:59:59.999Z")));
        assert!(!w.contains(ts("2026-11-20T01:00:00Z")));
    }

    #[test]
    fn clamps_to_retention_and_reports_the_cut() {
        let now = ts("2026-11-26T22:00:00.5Z");
        let limit = ts("2026-11-19T22:05:01Z");
        let c =
            Window::clamped(ts("2026-11-19T12:00:00Z"), ts("2026-11-20T06:00:00Z"), now).unwrap();
        assert_eq!(c.window.start(), limit);
        assert_eq!(c.cut, Some((ts("2026-11-19T12:00:00Z"), limit)));
        let c =
            Window::clamped(ts("2026-11-25T00:00:00Z"), ts("2026-11-25T01:00:00Z"), now).unwrap();
        assert_eq!(c.cut, None);
        assert!(matches!(
            Window::clamped(ts("2026-11-19T00:00:00Z"), ts("2026-11-19T20:00:00Z"), now),
            Err(WindowError::BeyondRetention { .. })
        ));
    }
}
