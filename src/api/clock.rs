//! Clock-skew detection from the response `Date` header (management-api.md §3: both Entra's assertion validity and
//! the 7-day rule depend on the local clock).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// Skew beyond which the client warns (once per client).
pub const SKEW_WARNING: SignedDuration = SignedDuration::from_secs(60);

/// Parses an HTTP date (`Thu, 26 Nov 2026 22:19:48 GMT`, RFC 9110 IMF-fixdate, a subset of RFC 2822).
pub fn parse_http_date(value: &str) -> Option<Timestamp> {
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    PARSER.parse_timestamp(value.trim()).ok()
}

/// The server clock minus the local clock, from a `Date` header value observed at local time `now`.
///
/// `Date` has a resolution of one second, so the result is only meaningful beyond a couple of seconds.
pub fn skew_from_date(value: &str, now: Timestamp) -> Option<SignedDuration> {
    let server = parse_http_date(value)?;
    Some(server.duration_since(now))
}

/// Whether a skew is large enough to warn about.
pub fn is_significant(skew: SignedDuration) -> bool {
    skew.abs() > SKEW_WARNING
}

/// The latest observed skew, shared by all requests of a client; warns once when it exceeds [`SKEW_WARNING`].
#[derive(Debug, Default)]
pub struct SkewMonitor {
    /// Latest skew in milliseconds; `i64::MIN` means "never observed".
    millis: AtomicI64,
    observed: AtomicBool,
    warned: AtomicBool,
}

impl SkewMonitor {
    /// A monitor that has observed nothing yet.
    pub fn new() -> SkewMonitor {
        SkewMonitor::default()
    }

    /// Records the skew seen in a response's `Date` header; logs a warning the first time it is significant.
    pub fn observe(&self, date_header: &str, now: Timestamp) {
        let Some(skew) = skew_from_date(date_header, now) else {
            return;
        };
        let millis = i64::try_from(skew.as_millis()).unwrap_or(i64::MAX);
        self.millis.store(millis, Ordering::Relaxed);
        self.observed.store(true, Ordering::Relaxed);
        if is_significant(skew) && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                skew_seconds = skew.as_secs(),
                "the local clock differs from the service's Date header by more than a minute: \
                 synchronise the clock (NTP), or token requests and time windows may be rejected"
            );
        }
    }

    /// The latest observed skew (server minus local), if any response carried a `Date` header.
    pub fn skew(&self) -> Option<SignedDuration> {
        self.observed
            .load(Ordering::Relaxed)
            .then(|| SignedDuration::from_millis(self.millis.load(Ordering::Relaxed)))
    }

    /// Whether a warning was logged.
    pub fn warned(&self) -> bool {
        self.warned.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_server_minus_local() {
        let now: Timestamp = "2026-11-26T22:19:48Z".parse().unwrap();
        assert_eq!(
            skew_from_date("Thu, 26 Nov 2026 22:21:48 GMT", now),
            Some(SignedDuration::from_secs(120))
        );
        assert_eq!(
            skew_from_date("Thu, 26 Nov 2026 22:19:18 GMT", now),
            Some(SignedDuration::from_secs(-30))
        );
        assert_eq!(skew_from_date("yesterday", now), None);
    }

    #[test]
    fn monitor_warns_only_beyond_a_minute() {
        let now: Timestamp = "2026-11-26T22:19:48Z".parse().unwrap();
        let m = SkewMonitor::new();
        assert_eq!(m.skew(), None);
        m.observe("Thu, 26 Nov 2026 22:20:40 GMT", now);
        assert_eq!(m.skew(), Some(SignedDuration::from_secs(52)));
        assert!(!m.warned());
        m.observe("Thu, 26 Nov 2026 22:17:40 GMT", now);
        assert_eq!(m.skew(), Some(SignedDuration::from_secs(-128)));
        assert!(m.warned());
    }
}
