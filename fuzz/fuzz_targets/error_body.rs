//! A failed response's body (JSON of any shape, HTML, text, bytes) and its `Retry-After` header: the parsed error is
//! one bounded line without control characters, its code one short token, and its class is decided.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365sync::api::ServiceError;
use o365sync::api::error::{MAX_MESSAGE_CHARS, parse_retry_after};

fuzz_target!(|data: &[u8]| {
    let Some((&status, body)) = data.split_first() else {
        return;
    };
    let status = [400, 401, 403, 404, 408, 429, 500, 503][usize::from(status) % 8];
    let error = ServiceError::parse(status, body, None);
    assert!(
        error.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
        "message longer than the limit: {}",
        error.message.chars().count()
    );
    assert!(
        !error.message.chars().any(char::is_control),
        "control character in {:?}",
        error.message
    );
    assert_eq!(error.message, error.message.trim(), "message not trimmed");
    if let Some(code) = &error.code {
        // a code is shown in errors and logs: one short token
        assert!(
            !code.is_empty()
                && code.len() <= 64
                && !code.chars().any(|c| c.is_control() || c.is_whitespace()),
            "code {code:?}"
        );
    }
    let _ = error.class();
    let _ = error.advice();
    let _ = error.to_string();
    let now = jiff::Timestamp::from_second(1_700_000_000).expect("now");
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = parse_retry_after(text, now);
    }
});
