//! Client IP normalization.
//!
//! Published records carry `a.b.c.d`, `a.b.c.d:port`, `[v6]:port`, bare IPv6, `::ffff:a.b.c.d`, the malformed
//! `ffff:a.b.c.d` (Copilot records), `HOST (a.b.c.d)`, leading blanks, empty strings and garbage. The result is the
//! canonical textual address (IPv4-mapped IPv6 becomes IPv4) plus the port and host name when present. Unspecified
//! addresses (`0.0.0.0`, `::`) are dropped: they say nothing about where a request came from.

use std::net::{IpAddr, Ipv4Addr};

/// A parsed client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientAddr<'a> {
    pub ip: IpAddr,
    pub port: Option<u16>,
    /// The host name of the `HOST (ip)` form.
    pub host: Option<&'a str>,
}

/// Parses a client IP field; `None` when it holds no usable address.
pub(crate) fn parse_client_ip(raw: &str) -> Option<ClientAddr<'_>> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    // `HOST (ip)`
    if let Some(open) = s.as_bytes().windows(2).position(|w| w == b" (")
        && let Some(inner) = s[open + 2..].strip_suffix(')')
    {
        let mut addr = parse_client_ip(inner)?;
        let host = s[..open].trim();
        addr.host = (!host.is_empty()).then_some(host);
        return Some(addr);
    }
    let (ip, port) = if let Some(rest) = s.strip_prefix('[') {
        // `[v6]` or `[v6]:port`
        let (inside, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse::<u16>().ok()?),
        };
        (parse_ip(inside)?, port)
    } else if let Some(ip) = parse_ip(s) {
        (ip, None)
    } else {
        // `a.b.c.d:port` (an IPv6 address without brackets has several colons and was handled above)
        let (host, port) = s.rsplit_once(':')?;
        let ip: Ipv4Addr = host.parse().ok()?;
        (IpAddr::V4(ip), Some(port.parse::<u16>().ok()?))
    };
    if ip.is_unspecified() {
        return None;
    }
    Some(ClientAddr {
        ip,
        port,
        host: None,
    })
}

/// Whether `s` is exactly `ip`'s canonical text (as `to_string` writes it), compared without building that text.
pub(crate) fn is_canonical(ip: IpAddr, s: &str) -> bool {
    // An IPv4 address parses only from its canonical text (dotted decimal without leading zeros), so parsing is
    // the cheaper test.
    if let IpAddr::V4(v4) = ip {
        return s.parse::<Ipv4Addr>() == Ok(v4);
    }
    /// Consumes the expected text as the address is written; fails at the first difference.
    struct Expect<'s>(&'s str);
    impl std::fmt::Write for Expect<'_> {
        fn write_str(&mut self, part: &str) -> std::fmt::Result {
            self.0 = self.0.strip_prefix(part).ok_or(std::fmt::Error)?;
            Ok(())
        }
    }
    let mut expect = Expect(s);
    std::fmt::write(&mut expect, format_args!("{ip}")).is_ok() && expect.0.is_empty()
}

/// An address, unmapping IPv4-mapped IPv6 and accepting the `ffff:a.b.c.d` shorthand.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        });
    }
    let v4 = s
        .strip_prefix("ffff:")
        .or_else(|| s.strip_prefix("FFFF:"))?;
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_recognized_without_formatting() {
        let v4: IpAddr = "10.1.2.3".parse().expect("ip");
        assert!(is_canonical(v4, "10.1.2.3"));
        assert!(!is_canonical(v4, "10.1.2.30"));
        assert!(!is_canonical(v4, "10.1.2."));
        assert!(!is_canonical(v4, "010.1.2.3"));
        assert!(!is_canonical(v4, " 10.1.2.3"));
        assert!(!is_canonical(v4, "::ffff:10.1.2.3"));
        let v6: IpAddr = "2001:DB8::1".parse().expect("ip");
        assert!(is_canonical(v6, "2001:db8::1"));
        assert!(!is_canonical(v6, "2001:DB8::1"));
    }

    fn norm(s: &str) -> Option<(String, Option<u16>, Option<&str>)> {
        parse_client_ip(s).map(|a| (a.ip.to_string(), a.port, a.host))
    }

    #[test]
    fn every_published_form() {
        assert_eq!(norm("1.2.3.4"), Some(("1.2.3.4".into(), None, None)));
        assert_eq!(
            norm(" 52.159.112.221"),
            Some(("52.159.112.221".into(), None, None))
        );
        assert_eq!(
            norm("1.2.3.4:10736"),
            Some(("1.2.3.4".into(), Some(10736), None))
        );
        assert_eq!(
            norm("[2001:db8::1]:443"),
            Some(("2001:db8::1".into(), Some(443), None))
        );
        assert_eq!(
            norm("[2001:db8::1]"),
            Some(("2001:db8::1".into(), None, None))
        );
        assert_eq!(
            norm("2401:4900:60d2:179b:c004:b6f:b678:b148"),
            Some(("2401:4900:60d2:179b:c004:b6f:b678:b148".into(), None, None))
        );
        assert_eq!(
            norm("::ffff:10.11.0.229"),
            Some(("10.11.0.229".into(), None, None))
        );
        assert_eq!(
            norm("ffff:10.11.0.229"),
            Some(("10.11.0.229".into(), None, None))
        );
        assert_eq!(
            norm("QWERTY (1.2.3.4)"),
            Some(("1.2.3.4".into(), None, Some("QWERTY")))
        );
    }

    #[test]
    fn empty_unspecified_and_garbage_are_dropped() {
        for bad in [
            "",
            "   ",
            "0.0.0.0",
            "::",
            "[::]:80",
            "not an ip",
            "1.2.3.4:99999",
            "1.2.3",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "HOST ()",
            "<null>",
        ] {
            assert_eq!(norm(bad), None, "{bad}");
        }
    }
}
