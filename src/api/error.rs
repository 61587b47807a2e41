//! The error taxonomy of the Management Activity API (management-api.md §4).
//!
//! A failed response is parsed into a [`ServiceError`] (HTTP status, `AF…` code when the body carries one, a short
//! sanitized message) whatever shape the body has: `{"error":{"code","message"}}`, `{"Message":"…"}`, HTML or plain
//! text. [`ServiceError::class`] then decides what the client does with it.

use std::fmt;
use std::time::Duration;

/// What the client does with a failed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 429, or AF429 under any status: wait (`Retry-After` when given) and retry within the shared budget.
    Throttled,
    /// Connection trouble, 408, 5xx, AF50000/AF50005/AF50006: retry with backoff.
    Transient,
    /// 401 without a permission code: the token expired or was revoked; refresh it once and retry.
    Unauthorized,
    /// AF20022/AF20023: the subscription is missing or disabled; start it (15-minute rule), then retry.
    NotSubscribed,
    /// AF20024: the subscription is already enabled (success for `start`).
    AlreadyEnabled,
    /// AF20030/AF20055: the time window is invalid; fix it, never read it as "no content".
    BadWindow,
    /// AF20031: the next-page token is stale; re-list the window.
    InvalidNextPage,
    /// AF20050/AF20051/AF20052: the blob is gone; record a gap.
    Gone(GapReason),
    /// Configuration or consent problem (AF10001, AF200xx): stop the job and tell the operator what to fix.
    Fatal,
}

/// Why a blob could not be fetched and became a recorded gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GapReason {
    /// AF20050 (or a plain 404 for a blob past its expiration): the content does not exist.
    Missing,
    /// AF20051: the content expired (older than 7 days).
    Expired,
    /// AF20052: the content ID is invalid.
    BadId,
}

impl GapReason {
    /// A stable lower-case name for state and reports (`missing`, `expired`, `bad-id`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GapReason::Missing => "missing",
            GapReason::Expired => "expired",
            GapReason::BadId => "bad-id",
        }
    }
}

impl fmt::Display for GapReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed response of the service, parsed from its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// HTTP status code.
    pub status: u16,
    /// The `AF…` error code, when the body carried one.
    pub code: Option<String>,
    /// The service's message, whitespace-collapsed, tags stripped, at most [`MAX_MESSAGE_CHARS`] characters.
    pub message: String,
    /// The `Retry-After` delay, when the response had a parseable one.
    pub retry_after: Option<Duration>,
}

/// Longest service message kept in an error (HTML error pages can be kilobytes long).
pub const MAX_MESSAGE_CHARS: usize = 300;

impl ServiceError {
    /// Parses a failed response body of any shape.
    pub fn parse(status: u16, body: &[u8], retry_after: Option<Duration>) -> ServiceError {
        let (code, message) = parse_body(body);
        ServiceError {
            status,
            code,
            message,
            retry_after,
        }
    }

    /// The code in upper case (`AF20024`), or `None`.
    fn code_upper(&self) -> Option<String> {
        self.code.as_deref().map(str::to_ascii_uppercase)
    }

    /// How the client handles this error.
    pub fn class(&self) -> ErrorClass {
        if let Some(code) = self.code_upper() {
            match code.as_str() {
                "AF429" => return ErrorClass::Throttled,
                "AF50000" | "AF50005" | "AF50006" => return ErrorClass::Transient,
                "AF20022" | "AF20023" => return ErrorClass::NotSubscribed,
                "AF20024" => return ErrorClass::AlreadyEnabled,
                "AF20030" | "AF20055" => return ErrorClass::BadWindow,
                "AF20031" => return ErrorClass::InvalidNextPage,
                "AF20050" => return ErrorClass::Gone(GapReason::Missing),
                "AF20051" => return ErrorClass::Gone(GapReason::Expired),
                "AF20052" => return ErrorClass::Gone(GapReason::BadId),
                "AF10001" => return ErrorClass::Fatal,
                c if c.starts_with("AF200") || c.starts_with("AF100") => return ErrorClass::Fatal,
                _ => {}
            }
        }
        match self.status {
            429 => ErrorClass::Throttled,
            408 | 500..=599 => ErrorClass::Transient,
            401 => ErrorClass::Unauthorized,
            _ => ErrorClass::Fatal,
        }
    }

    /// What the operator should do about a fatal error.
    pub fn advice(&self) -> &'static str {
        match self.code_upper().as_deref() {
            Some("AF10001") => {
                "grant the app the ActivityFeed.Read application permission with admin consent, and check that the \
                 job's cloud matches the tenant (the token audience must be that cloud's API)"
            }
            Some("AF20010" | "AF20011" | "AF20012" | "AF20013") => {
                "check tenant.id (a directory GUID of this cloud) and that unified audit logging is enabled in the tenant"
            }
            Some("AF20020") => "use one of the five documented content types",
            Some("AF20001" | "AF20002" | "AF20003") => {
                "this is a bug in o365sync (bad request parameter); please report it with the log"
            }
            Some("AF20030" | "AF20055") => {
                "check the local clock: windows must be at most 24 hours long and start within the last 7 days"
            }
            _ => match self.status {
                401 | 403 => "check the app's permissions, admin consent and the job's cloud",
                404 => "check endpoints.api and tenant.id",
                _ => "check the job configuration and the service status",
            },
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Extracts `(code, message)` from an error body of any shape.
fn parse_body(body: &[u8]) -> (Option<String>, String) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = value.get("error").or_else(|| value.get("Error"));
        let (code, message) = match error {
            Some(serde_json::Value::Object(e)) => (
                field(e, &["code", "Code"]),
                field(e, &["message", "Message"]),
            ),
            Some(serde_json::Value::String(s)) => (None, Some(s.clone())),
            _ => match value.as_object() {
                Some(o) => (
                    field(o, &["code", "Code"]),
                    field(o, &["Message", "message", "error_description"]),
                ),
                None => (None, value.as_str().map(str::to_owned)),
            },
        };
        let message = sanitize(&message.unwrap_or_default());
        // The code is shown in errors and logs as a word: a code that is not one is ignored.
        let code = code
            .filter(|c| is_code(c))
            .or_else(|| find_af_code(&message));
        return (code, message);
    }
    let text = String::from_utf8_lossy(body);
    let message = sanitize(&strip_tags(&text));
    (find_af_code(&message), message)
}

/// Whether a body's `code` reads as an error code: one short word of letters, digits and `_.-`.
fn is_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn field(obj: &serde_json::Map<String, serde_json::Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match obj.get(*n) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// Finds the first `AF` followed by 3 to 8 digits (the service's codes have 3 to 5) in free text (HTML pages and `{"Message":…}` bodies sometimes carry it).
fn find_af_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        if bytes[i].eq_ignore_ascii_case(&b'A')
            && bytes[i + 1].eq_ignore_ascii_case(&b'F')
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            let digits = bytes[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let end = i + 2 + digits;
            if (3..=8).contains(&digits)
                && (end == bytes.len() || !bytes[end].is_ascii_alphanumeric())
            {
                return Some(text[i..end].to_ascii_uppercase());
            }
        }
        i += 1;
    }
    None
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len().min(4096));
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Collapses whitespace, drops control characters and cuts to [`MAX_MESSAGE_CHARS`].
pub(crate) fn sanitize(text: &str) -> String {
    let collapsed = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if collapsed.chars().count() > MAX_MESSAGE_CHARS {
        let mut cut: String = collapsed.chars().take(MAX_MESSAGE_CHARS).collect();
        cut.push('…');
        cut
    } else {
        collapsed
    }
}

/// Parses a `Retry-After` value: delay seconds, or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let at = crate::api::clock::parse_http_date(value)?;
    let delta = at.duration_since(now);
    Some(Duration::try_from(delta).unwrap_or(Duration::ZERO))
}

/// A failed API operation, as the executor sees it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A configuration or consent problem: stop the job.
    #[error("{operation}: {error}; {advice}")]
    Fatal {
        /// What was being done.
        operation: String,
        /// The service's answer.
        error: ServiceError,
        /// What to fix.
        advice: &'static str,
    },
    /// The service kept failing (throttling or transient trouble) until the attempts were used up.
    #[error(
        "{operation}: still failing after {attempts} attempts (last: {last}); the window stays incomplete and the next run retries it"
    )]
    Exhausted {
        /// What was being done.
        operation: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// AF20022/AF20023: the content type has no enabled subscription.
    #[error(
        "{operation}: the subscription to {content_type} is missing or disabled ({detail}); o365sync starts it when \
         the 15-minute rule allows, and new content can take up to 12 hours to appear"
    )]
    NotSubscribed {
        /// What was being done.
        operation: String,
        /// The content type.
        content_type: crate::content_type::ContentType,
        /// The service's answer, or why no start was sent.
        detail: String,
    },
    /// AF20030/AF20055: the service rejected the time window.
    #[error(
        "{operation}: the service rejected the time window ({error}); check the local clock, windows must be at most \
         24 hours long and start within the last 7 days"
    )]
    BadWindow {
        /// What was being done.
        operation: String,
        /// The service's answer.
        error: ServiceError,
    },
    /// The window cannot be listed at all (entirely beyond retention).
    #[error("{operation}: {error}")]
    Window {
        /// What was being done.
        operation: String,
        /// Why.
        error: crate::api::window::WindowError,
    },
    /// AF20031 kept coming back after listing the window afresh.
    #[error(
        "{operation}: the next-page link stayed invalid after {relists} fresh listings; the window stays incomplete"
    )]
    StaleNextPage {
        /// What was being done.
        operation: String,
        /// Fresh listings tried.
        relists: u32,
    },
    /// A next-page or content URI that is not on the API origin (no token was sent to it).
    #[error("{operation}: {error}")]
    Uri {
        /// What was being done.
        operation: String,
        /// The refused URI.
        error: crate::api::urls::UriError,
    },
    /// The pages link back to one already read.
    #[error(
        "{operation}: page {page} links back to a page already read (a paging loop); the window stays incomplete"
    )]
    PageLoop {
        /// What was being done.
        operation: String,
        /// The page whose link loops.
        page: usize,
    },
    /// No access token.
    #[error("{operation}: {error}")]
    Token {
        /// What was being done.
        operation: String,
        /// Why no token.
        error: crate::api::bearer::BearerError,
    },
    /// The service rejected a freshly obtained token too.
    #[error(
        "{operation}: the service rejected a fresh access token ({error}); grant ActivityFeed.Read with admin consent \
         and check that the job's cloud matches the tenant"
    )]
    Unauthorized {
        /// What was being done.
        operation: String,
        /// The service's answer.
        error: ServiceError,
    },
    /// The sink refused a record.
    #[error("{operation}: the sink refused a record: {detail}")]
    Sink {
        /// What was being done.
        operation: String,
        /// The sink's error.
        detail: String,
    },
}

impl ApiError {
    /// Whether the job must stop (configuration, consent, credentials) rather than only leave a window incomplete.
    pub fn is_fatal(&self) -> bool {
        match self {
            ApiError::Fatal { .. } | ApiError::Unauthorized { .. } => true,
            ApiError::Token { error, .. } => !error.transient,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> ServiceError {
        ServiceError::parse(status, body.as_bytes(), None)
    }

    #[test]
    fn standard_error_body() {
        let e = parse(
            400,
            r#"{"error":{"code":"AF20024","message":"The subscription is already enabled. No property change."}}"#,
        );
        assert_eq!(e.code.as_deref(), Some("AF20024"));
        assert_eq!(e.class(), ErrorClass::AlreadyEnabled);
        assert_eq!(
            e.to_string(),
            "HTTP 400 AF20024: The subscription is already enabled. No property change."
        );
    }

    #[test]
    fn throttling_is_recognised_under_any_status() {
        let body = r#"{"error":{"code":"AF429","message":"Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"}}"#;
        for status in [403, 429, 400, 503] {
            assert_eq!(parse(status, body).class(), ErrorClass::Throttled);
        }
        assert_eq!(parse(429, "").class(), ErrorClass::Throttled);
    }

    #[test]
    fn message_shape_and_html_bodies() {
        let e = parse(500, r#"{"Message":"An error has occurred."}"#);
        assert_eq!(e.code, None);
        assert_eq!(e.message, "An error has occurred.");
        assert_eq!(e.class(), ErrorClass::Transient);

        let e = parse(
            403,
            "<html><head><title>Forbidden</title></head>\n<body><h1>Error AF429</h1> too many</body></html>",
        );
        assert_eq!(e.code.as_deref(), Some("AF429"));
        assert_eq!(e.class(), ErrorClass::Throttled);
        assert_eq!(e.message, "Forbidden Error AF429 too many");

        let e = parse(502, "<html><body>Bad Gateway</body></html>");
        assert_eq!(
            (e.code.as_deref(), e.class()),
            (None, ErrorClass::Transient)
        );
    }

    #[test]
    fn codes_map_to_their_handling() {
        let cases = [
            ("AF10001", 401, ErrorClass::Fatal),
            ("AF20011", 400, ErrorClass::Fatal),
            ("AF20020", 400, ErrorClass::Fatal),
            ("AF20022", 400, ErrorClass::NotSubscribed),
            ("AF20023", 400, ErrorClass::NotSubscribed),
            ("AF20055", 400, ErrorClass::BadWindow),
            ("AF20030", 400, ErrorClass::BadWindow),
            ("AF20031", 400, ErrorClass::InvalidNextPage),
            ("AF20050", 404, ErrorClass::Gone(GapReason::Missing)),
            ("AF20051", 400, ErrorClass::Gone(GapReason::Expired)),
            ("AF20052", 400, ErrorClass::Gone(GapReason::BadId)),
            ("AF50000", 500, ErrorClass::Transient),
            ("AF50005", 400, ErrorClass::Transient),
            ("af50006", 400, ErrorClass::Transient),
        ];
        for (code, status, class) in cases {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            assert_eq!(parse(status, &body).class(), class, "{code}");
        }
        assert_eq!(parse(401, "").class(), ErrorClass::Unauthorized);
        assert_eq!(parse(408, "").class(), ErrorClass::Transient);
        assert_eq!(parse(400, "nonsense").class(), ErrorClass::Fatal);
        assert!(
            parse(401, r#"{"error":{"code":"AF10001","message":"x"}}"#)
                .advice()
                .contains("ActivityFeed.Read")
        );
    }

    #[test]
    fn long_messages_are_cut_and_codes_need_digits() {
        let long = "x".repeat(5000);
        let e = parse(500, &long);
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(find_af_code("SAFE AFX AF12 done"), None);
        assert_eq!(find_af_code("code:AF20051."), Some("AF20051".into()));
    }

    /// Fuzzing finding (`fuzz/` target `error_body`): a JSON `code` was taken as it came, line breaks and all, into
    /// errors and logs.
    #[test]
    fn a_code_that_is_not_a_word_is_ignored() {
        let e = parse(
            400,
            r#"{"error":{"code":"AF200\nforged log line","message":"see AF20022 here"}}"#,
        );
        assert_eq!(e.code.as_deref(), Some("AF20022"));
        let e = parse(400, r#"{"error":{"code":"InvalidRequest","message":"m"}}"#);
        assert_eq!(e.code.as_deref(), Some("InvalidRequest"));
        let e = parse(
            400,
            &format!(r#"{{"code":"{}","message":"m"}}"#, "A".repeat(65)),
        );
        assert_eq!(e.code, None);
        // a code found in the text is as short: `AF` and at most 8 digits
        let e = parse(400, &format!("#AF{}1", "2".repeat(80)));
        assert_eq!(e.code, None);
    }

    #[test]
    fn retry_after_as_seconds_or_date() {
        let now: jiff::Timestamp = "2026-11-26T22:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 22:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 21:00:30 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
