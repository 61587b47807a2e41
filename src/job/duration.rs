//! Durations and instants as job files and the command line write them: `30s`, `15m`, `2h`, `7d` (combinable, e.g.
//! `1h30m`), ISO 8601 (`PT1H`, `P1D`; a day is 24 hours), and RFC 3339 instants (`2026-11-20T00:00:00Z`).

use jiff::{SignedDuration, Span, SpanRelativeTo, Timestamp};

/// The longest duration accepted anywhere (ten years), so that no arithmetic on it can overflow.
const LONGEST_SECS: i64 = 3650 * 86_400;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a recognizable duration.
    #[error("`{0}` is not a duration")]
    Syntax(String),
    /// A plain number without a unit.
    #[error("`{0}` has no unit")]
    NoUnit(String),
    /// Months or years: not a fixed length.
    #[error("`{0}` uses months or years, which have no fixed length")]
    Calendar(String),
    /// Below zero.
    #[error("`{0}` is negative")]
    Negative(String),
    /// A fraction of a second.
    #[error("`{0}` is not a whole number of seconds")]
    Fraction(String),
    /// Longer than ten years.
    #[error("`{0}` is too long")]
    TooLong(String),
}

/// The help line for any duration error.
pub const DURATION_HELP: &str = "write a duration like 30s, 15m, 2h, 7d, 1h30m or ISO 8601 PT1H";

/// Parses a non-negative, whole-second duration.
pub fn parse_duration(input: &str) -> Result<SignedDuration, DurationError> {
    let s = input.trim();
    let d = if s.starts_with(['P', 'p']) {
        iso(s).ok_or_else(|| DurationError::Syntax(input.to_string()))??
    } else {
        friendly(s, input)?
    };
    if d.is_negative() {
        return Err(DurationError::Negative(input.to_string()));
    }
    if d.subsec_nanos() != 0 {
        return Err(DurationError::Fraction(input.to_string()));
    }
    if d.as_secs() > LONGEST_SECS {
        return Err(DurationError::TooLong(input.to_string()));
    }
    Ok(d)
}

fn iso(s: &str) -> Option<Result<SignedDuration, DurationError>> {
    let span: Span = s.parse().ok()?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Some(Err(DurationError::Calendar(s.to_string())));
    }
    span.to_duration(SpanRelativeTo::days_are_24_hours())
        .ok()
        .map(Ok)
}

fn friendly(s: &str, input: &str) -> Result<SignedDuration, DurationError> {
    if s.starts_with('-') {
        return Err(DurationError::Negative(input.to_string()));
    }
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return Err(DurationError::NoUnit(input.to_string()));
    }
    let syntax = || DurationError::Syntax(input.to_string());
    let too_long = || DurationError::TooLong(input.to_string());
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(syntax());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(syntax)?;
        if digits == 0 {
            return Err(syntax());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let per = match &rest[..unit_len] {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 7 * 86_400,
            _ => return Err(syntax()),
        };
        total = n
            .checked_mul(per)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(too_long)?;
        rest = rest[unit_len..].trim_start();
    }
    Ok(SignedDuration::from_secs(total))
}

/// A point in time given either as an RFC 3339 instant or as a duration before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// An absolute instant.
    At(Timestamp),
    /// This long before now.
    Ago(SignedDuration),
}

impl When {
    /// The instant this denotes for a given clock reading (saturating at the ends of time).
    pub fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            When::At(t) => t,
            When::Ago(d) => now.checked_sub(d).unwrap_or(Timestamp::MIN),
        }
    }
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            When::At(t) => write!(f, "{t}"),
            When::Ago(d) => write!(f, "{}", format_duration(*d)),
        }
    }
}

/// Why an instant-or-duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is neither a duration (7d, 36h, PT1H) nor an RFC 3339 instant (2026-11-20T00:00:00Z)"
)]
pub struct WhenError(pub String);

/// Parses an RFC 3339 instant (with `Z` or an offset) or a non-negative duration before now.
pub fn parse_when(input: &str) -> Result<When, WhenError> {
    let s = input.trim();
    let looks_like_date =
        s.len() >= 10 && s.as_bytes()[4] == b'-' && s[..4].chars().all(|c| c.is_ascii_digit());
    if looks_like_date {
        return s
            .parse::<Timestamp>()
            .map(When::At)
            .map_err(|_| WhenError(input.to_string()));
    }
    parse_duration(s)
        .map(When::Ago)
        .map_err(|_| WhenError(input.to_string()))
}

/// Prints a duration the way job files write it: `7d`, `2h`, `1h30m`, `0s`.
pub fn format_duration(d: SignedDuration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if secs < 0 {
        out.push('-');
        secs = -secs;
    }
    for (unit, per) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= per {
            out.push_str(&format!("{}{unit}", secs / per));
            secs %= per;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        let h = |n| SignedDuration::from_hours(n);
        assert_eq!(
            parse_duration("30s").unwrap(),
            SignedDuration::from_secs(30)
        );
        assert_eq!(
            parse_duration("15m").unwrap(),
            SignedDuration::from_mins(15)
        );
        assert_eq!(parse_duration("2h").unwrap(), h(2));
        assert_eq!(parse_duration("7d").unwrap(), h(168));
        assert_eq!(parse_duration("PT1H").unwrap(), h(1));
        assert_eq!(parse_duration("P1D").unwrap(), h(24));
        assert_eq!(parse_duration("P1DT2H").unwrap(), h(26));
        assert_eq!(
            parse_duration("1h30m").unwrap(),
            SignedDuration::from_mins(90)
        );
        assert_eq!(parse_duration("0s").unwrap(), SignedDuration::ZERO);
    }

    #[test]
    fn rejects_what_is_not_a_fixed_whole_second_duration() {
        assert_eq!(
            parse_duration("3600"),
            Err(DurationError::NoUnit("3600".into()))
        );
        assert_eq!(
            parse_duration("-1h"),
            Err(DurationError::Negative("-1h".into()))
        );
        assert_eq!(
            parse_duration("P1M"),
            Err(DurationError::Calendar("P1M".into()))
        );
        assert_eq!(
            parse_duration("PT0.5S"),
            Err(DurationError::Fraction("PT0.5S".into()))
        );
        assert_eq!(
            parse_duration("1 fortnight"),
            Err(DurationError::Syntax("1 fortnight".into()))
        );
        assert_eq!(
            parse_duration(""),
            Err(DurationError::Syntax(String::new()))
        );
        assert_eq!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::TooLong("99999999999999999999d".into()))
        );
        assert_eq!(
            parse_duration("4000d"),
            Err(DurationError::TooLong("4000d".into()))
        );
    }

    #[test]
    fn instants_and_durations_before_now() {
        let now: Timestamp = "2026-11-26T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_when("3d").unwrap().resolve(now),
            "2026-11-23T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_when("2026-11-20T00:00:00+01:00").unwrap(),
            When::At("2026-11-19T23:00:00Z".parse().unwrap())
        );
        assert!(parse_when("2026-11-20").is_err());
        assert!(parse_when("yesterday").is_err());
        assert_eq!(format_duration(SignedDuration::from_mins(90)), "1h30m");
        assert_eq!(format_duration(SignedDuration::from_hours(168)), "7d");
    }
}
