//! `CreationTime` to epoch milliseconds.
//!
//! The API documents `YYYY-MM-DDTHH:MM:SS` in UTC without a zone; real records also carry a fraction (up to nine
//! digits), a `Z` or numeric offset, or a space instead of `T`. A hand-written parser keeps this allocation-free on
//! the hot path; it rejects impossible dates instead of guessing.

/// Parses a `CreationTime` into epoch milliseconds (UTC when the string has no zone). `None` when unparseable.
pub(crate) fn parse_creation_time(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0i64;
    if let Some((&b'.', frac)) = rest.split_first() {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        for (i, c) in frac[..n.min(3)].iter().enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &frac[n..];
    }
    let offset_secs = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second.min(59))
            - offset_secs;
    Some(secs * 1000 + millis)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cross-check against jiff, which the rest of the crate uses for time.
    fn jiff_ms(s: &str) -> i64 {
        s.parse::<jiff::Timestamp>()
            .expect("valid RFC 3339")
            .as_millisecond()
    }

    #[test]
    fn every_published_shape_parses_to_utc_milliseconds() {
        let cases = [
            ("2015-06-29T20:03:19", "2015-06-29T20:03:19Z"),
            ("2022-12-12 15:57:57", "2022-12-12T15:57:57Z"),
            ("2025-07-07 09:11:11.000000000", "2025-07-07T09:11:11.000Z"),
            ("2023-12-13T17:12:36.1234567Z", "2023-12-13T17:12:36.123Z"),
            ("2024-02-29T23:59:59.9+02:00", "2024-02-29T21:59:59.9Z"),
            ("2024-01-01T00:30:00-0130", "2024-01-01T02:00:00Z"),
            ("1969-12-31T23:59:59", "1969-12-31T23:59:59Z"),
            (" 2000-03-01T00:00:00 ", "2000-03-01T00:00:00Z"),
        ];
        for (input, rfc) in cases {
            assert_eq!(parse_creation_time(input), Some(jiff_ms(rfc)), "{input}");
        }
    }

    #[test]
    fn impossible_or_foreign_strings_are_rejected() {
        for bad in [
            "",
            "yesterday",
            "2023-02-29T00:00:00",
            "2023-13-01T00:00:00",
            "2023-01-01T24:00:00",
            "2023-01-01X00:00:00",
            "2023-01-01T00:00:00.",
            "2023-01-01T00:00:00+25:00",
            "2023-01-01T00:00:00 UTC",
            "2023-01-01T00:00:00.1234567890",
            "２０２３-01-01T00:00:00",
        ] {
            assert_eq!(parse_creation_time(bad), None, "{bad}");
        }
    }
}
