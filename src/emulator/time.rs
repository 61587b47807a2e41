//! Time helpers: instants are milliseconds since the Unix epoch (UTC) inside the emulator.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Milliseconds in a second, a minute, an hour and a day.
pub(crate) const SECOND: i64 = 1000;
pub(crate) const MINUTE: i64 = 60 * SECOND;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// The current instant.
pub(crate) fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2025-01-02T03:04:05.678Z`, the shape of `contentCreated` and `contentExpiration`.
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    ts(ms).strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// `2025-01-02T03:04:05`, the zone-less shape of most `CreationTime` values.
pub(crate) fn zoneless(ms: i64) -> String {
    ts(ms).strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A `strftime` rendering in UTC.
pub(crate) fn format(ms: i64, fmt: &str) -> String {
    ts(ms).strftime(fmt).to_string()
}

/// Parses a `startTime`/`endTime` value: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS` (optionally with a
/// fraction and a trailing `Z`), all UTC.
pub(crate) fn parse_window_time(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v
        .strip_suffix('Z')
        .or_else(|| v.strip_suffix('z'))
        .unwrap_or(v);
    if v.len() < 10 || v.contains('+') {
        return None;
    }
    let full = if v.len() == 10 {
        format!("{v}T00:00:00")
    } else {
        v.to_owned()
    };
    let dt: DateTime = full.parse().ok()?;
    let ts = TimeZone::UTC.to_timestamp(dt).ok()?;
    Some(ts.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_times_accept_the_documented_formats() {
        let day = parse_window_time("2025-03-04").expect("date");
        assert_eq!(rfc3339_millis(day), "2025-03-04T00:00:00.000Z");
        let minute = parse_window_time("2025-03-04T05:06").expect("minute");
        assert_eq!(rfc3339_millis(minute), "2025-03-04T05:06:00.000Z");
        let second = parse_window_time("2025-03-04T05:06:07").expect("second");
        assert_eq!(zoneless(second), "2025-03-04T05:06:07");
        assert_eq!(parse_window_time("2025-03-04T05:06:07Z"), Some(second));
        assert_eq!(parse_window_time("yesterday"), None);
        assert_eq!(parse_window_time("2025-13-04"), None);
        assert_eq!(parse_window_time("2025-03-04T05:06:07+02:00"), None);
    }
}
