//! Normalization of raw audit records to OCSF 1.8.0 events (issue 6), following
//! `reference/ocsf-mapping.md`.
//!
//! # API
//! [`normalize_bytes`] (one record as JSON bytes) and [`normalize_value`] (an already parsed record) are pure: no
//! I/O, no clock. They never reject a record that is valid JSON: anything that cannot be classified becomes a Base
//! Event with every field under `unmapped`, and arbitrary JSON (arrays, strings, ...) becomes a Base Event holding the
//! value as `unmapped.record`. The returned [`Event`] gives the sinks what they need: [`Event::id`] (the record's
//! `Id`, the dedup key), [`Event::time_ms`], [`Event::class_uid`], and [`Event::write_json`] (one JSON line's
//! content, without the newline).
//!
//! # How no field is lost
//! The builder takes a field out of the record only when an OCSF attribute receives its value unchanged; a field
//! whose value is transformed (an IP with a port, a guest user id, a `UserType` code, anything copied out of a nested
//! object or a Name/Value list) is read and left in place. Whatever is left becomes `unmapped`, keys and values as
//! they came. So every leaf value of the input appears in the output (proved by `tests/normalize_props.rs`).
//!
//! # Where the data said the proposal was wrong (changes to ocsf-mapping.md)
//! - **Sign-in outcome.** Published `UserLoginFailed` records carry `ResultStatus: "Success"` (panther corpus), so for
//!   RecordType 15 the operation decides `status_id` (UserLoggedIn 1, UserLoginFailed 2), not `ResultStatus`.
//! - **`Failure`** is a `ResultStatus` too (OME portal records): mapped to 2 like `Failed`. Any other non-empty value
//!   gives `status_id` 99 with the value in `status`.
//! - **Actor only where the class has one.** Web Resources Activity, Email Activity, Detection Finding and Base Event
//!   have no `actor` in OCSF 1.8.0 (the schemas are strict), so there `UserId`/`UserKey`/`UserType` stay under
//!   `unmapped`. Authentication puts the signing-in user in `user` (the subject) and the application in `actor`.
//! - **Required attributes decide too.** A class is chosen only if the record can fill what the class requires: File
//!   Hosting and API Activity need a client IP and an actor (else Web Resources Activity); Account Change, User Access
//!   and Group Management need a target object (else Entity Management); Email Activity needs a sender or recipient
//!   address (else Web Resources Activity); Authentication needs a user and findings an id (else Base Event).
//! - **Unspecified IPs** (`0.0.0.0`, `::`, seen in plaso's `UserLoggedIn`) are dropped like invalid ones, and the
//!   `ffff:a.b.c.d` of Copilot records is read as the IPv4-mapped address it abbreviates.
//! - **No `ai_operation` / `security_control` profiles**: the 1.8.0 schemas we validate against are generated with the
//!   `cloud` profile only and reject those profiles' attributes, so `metadata.profiles` is `["cloud"]` everywhere and
//!   alert details go to `finding_info`, `severity_id`, `status_id` and `evidences`.
//! - **Findings' `status_id`** is the finding status (alert `Status`: Active 1 New, Investigating 2, Dismissed 3
//!   Suppressed, Resolved 4), not `ResultStatus`. `DlpInfo` is activity 2 Update, `DlpRuleUndo` 4 Suppressed.
//! - **`UserType` 3 (DcAdmin) is System, not Admin**: every published record with UserType 3 is acted by
//!   `NT AUTHORITY\SYSTEM (Microsoft.Exchange.Servicehost)` (plaso corpus), and Microsoft describes the value as "a
//!   Microsoft datacenter operator or system account". `UserType` 1 (Reserved), 9 and 10 map to `type_id` 99 with
//!   the Microsoft name in `type`.
//! - **Missing RecordType** (lenient exports): AAD, Exchange, SharePoint and DLP content types imply the family from
//!   the operation's shape; `Audit.General` does not, so such records become Base Events.
//! - **Key spelling.** Keys are matched in their documented spelling; other spellings (all-lower-case exports) are
//!   matched only when the record spells none of `Id`, `CreationTime`, `Operation`, `RecordType` the documented
//!   way. A field in an unexpected spelling is never lost: it stays under `unmapped`.
//! - **Time.** `time` is required; a record without a parseable `CreationTime` gets `time` 0, keeps the original in
//!   `metadata.original_time`/`unmapped`, and [`Event::time_ms`] returns `None` for it.
//!
//! # Performance
//! Records are parsed once into a `serde_json::Value`; mapped strings are moved, not copied, into a typed event whose
//! constant parts are `&'static str`, and the event is serialized directly (no intermediate `Value`). See
//! BENCHMARKS.md for the throughput against plain `serde_json` parse-and-serialize.

mod build;
mod classify;
pub mod cli;
pub mod event;
mod ip;
mod record;
mod time;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use classify::Class;
pub use event::OcsfEvent;

use crate::content_type::ContentType;

/// `output.format` of a job: OCSF events, or the records unchanged.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// OCSF 1.8.0 events.
    #[default]
    Ocsf,
    /// The records as received, one per line: from bytes ([`normalize_bytes`]) byte for byte except for whitespace
    /// between tokens; from a parsed value ([`normalize_value`]) re-serialized, so keys come out sorted.
    Raw,
}

/// Normalization options (`output.format`, `output.include_raw`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// OCSF or raw pass-through.
    pub format: Format,
    /// Add the original record as `raw_data` to OCSF events.
    pub include_raw: bool,
}

/// A record that is not JSON.
#[derive(Debug, thiserror::Error)]
#[error("record is not valid JSON ({0}): fix the record or drop it")]
pub struct NotJson(#[source] pub serde_json::Error);

/// The output of normalizing one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An OCSF event.
    Ocsf(Box<OcsfEvent>),
    /// A record passed through unchanged (`format: raw`).
    Raw(RawRecord),
}

/// A record passed through unchanged, with the keys the sinks need.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    json: String,
    id: Option<String>,
    time: Option<i64>,
}

impl RawRecord {
    /// The record as one line of JSON.
    pub fn json(&self) -> &str {
        &self.json
    }
}

impl Event {
    /// The record's `Id` (the dedup key), when it has one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Event::Ocsf(e) => e.metadata.uid.as_deref(),
            Event::Raw(r) => r.id.as_deref(),
        }
    }

    /// The record's `CreationTime` in epoch milliseconds, when it has one that parses.
    pub fn time_ms(&self) -> Option<i64> {
        match self {
            Event::Ocsf(e) => e.has_time().then_some(e.time),
            Event::Raw(r) => r.time,
        }
    }

    /// The OCSF `class_uid` (`None` for raw records).
    pub fn class_uid(&self) -> Option<u32> {
        match self {
            Event::Ocsf(e) => Some(e.class_uid),
            Event::Raw(_) => None,
        }
    }

    /// Appends the event as compact JSON (no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Event::Ocsf(e) => {
                // Serializing a typed struct into a Vec cannot fail: every key is a string and no Serialize impl
                // in `event` returns an error.
                if let Err(err) = serde_json::to_writer(&mut *out, e.as_ref()) {
                    debug_assert!(false, "serializing an event failed: {err}");
                }
            }
            Event::Raw(r) => out.extend_from_slice(r.json.as_bytes()),
        }
    }

    /// The event as a JSON value (for tests and for sinks that store JSON documents).
    pub fn to_value(&self) -> Value {
        match self {
            // Value to Value: no text round trip, so floats stay bit-exact.
            Event::Ocsf(e) => serde_json::to_value(e.as_ref()).unwrap_or(Value::Null),
            Event::Raw(r) => serde_json::from_str(&r.json).unwrap_or(Value::Null),
        }
    }
}

/// Normalizes one record given as JSON bytes. `content_type` is the feed it came from (guessed from the record when
/// `None`). Fails only when the bytes are not JSON.
pub fn normalize_bytes(
    raw: &[u8],
    content_type: Option<ContentType>,
    opts: &Options,
) -> Result<Event, NotJson> {
    let value: Value = serde_json::from_slice(raw).map_err(NotJson)?;
    let trimmed = raw.trim_ascii();
    Ok(match opts.format {
        Format::Raw => raw_event(
            &value,
            String::from_utf8_lossy(&minify(trimmed)).into_owned(),
        ),
        Format::Ocsf => {
            let raw_data = opts
                .include_raw
                .then(|| String::from_utf8_lossy(trimmed).into_owned());
            ocsf(value, content_type, raw_data)
        }
    })
}

/// Normalizes one parsed record. `content_type` is the feed it came from (guessed from the record when `None`).
pub fn normalize_value(record: Value, content_type: Option<ContentType>, opts: &Options) -> Event {
    match opts.format {
        Format::Raw => {
            let json = record.to_string();
            raw_event(&record, json)
        }
        Format::Ocsf => {
            let raw_data = opts.include_raw.then(|| record.to_string());
            ocsf(record, content_type, raw_data)
        }
    }
}

fn ocsf(value: Value, content_type: Option<ContentType>, raw_data: Option<String>) -> Event {
    let ct = content_type.unwrap_or_else(|| guess_content_type(&value));
    let event = match value {
        Value::Object(map) => build::build(map, ct, raw_data),
        other => build::build_non_object(other, ct, raw_data),
    };
    Event::Ocsf(Box::new(event))
}

fn raw_event(value: &Value, json: String) -> Event {
    let obj = value.as_object();
    let field = |name: &str| obj.and_then(|o| record::obj_get(o, name));
    Event::Raw(RawRecord {
        json,
        id: field("Id")
            .and_then(record::as_text)
            .map(std::borrow::Cow::into_owned),
        time: field("CreationTime")
            .and_then(Value::as_str)
            .and_then(time::parse_creation_time),
    })
}

/// The content type a record most likely came from, by `RecordType` and `Workload`.
pub fn guess_content_type(record: &Value) -> ContentType {
    let Some(obj) = record.as_object() else {
        return ContentType::General;
    };
    let rt = record::obj_get(obj, "RecordType").and_then(record::as_int);
    let workload = record::obj_str(obj, "Workload").unwrap_or_default();
    let w = |s: &str| workload.eq_ignore_ascii_case(s);
    match rt {
        Some(11 | 13 | 33 | 63 | 99 | 100 | 107) => ContentType::DlpAll,
        Some(8 | 9 | 15) => ContentType::AzureActiveDirectory,
        Some(1 | 2 | 3 | 50) => ContentType::Exchange,
        Some(4 | 6 | 7 | 14 | 36) => ContentType::SharePoint,
        _ if w("AzureActiveDirectory") => ContentType::AzureActiveDirectory,
        _ if w("Exchange") => ContentType::Exchange,
        _ if w("SharePoint") || w("OneDrive") => ContentType::SharePoint,
        _ => ContentType::General,
    }
}

/// Removes the whitespace between JSON tokens (not inside strings), so that a record fits on one line.
fn minify(json: &[u8]) -> Vec<u8> {
    if !json.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        return json.to_vec();
    }
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minify_keeps_strings_intact() {
        let pretty = b"{\n  \"a b\": \"x \\\" y\",\n  \"c\": [1, 2]\n}\n";
        assert_eq!(minify(pretty), br#"{"a b":"x \" y","c":[1,2]}"#.to_vec());
        assert_eq!(minify(br#"{"a": 1}"#), br#"{"a": 1}"#.to_vec());
    }

    #[test]
    fn raw_format_passes_the_record_through_with_its_keys() {
        let opts = Options {
            format: Format::Raw,
            include_raw: false,
        };
        let line = br#"{"Id":"x-1","CreationTime":"2015-06-29T20:03:19","Zeta":1,"Alpha":2}"#;
        let ev = normalize_bytes(line, None, &opts).expect("valid JSON");
        let mut out = Vec::new();
        ev.write_json(&mut out);
        assert_eq!(out, line.to_vec());
        assert_eq!(ev.id(), Some("x-1"));
        assert_eq!(ev.time_ms(), Some(1_435_608_199_000));
        assert_eq!(ev.class_uid(), None);
    }

    #[test]
    fn include_raw_adds_the_original() {
        let opts = Options {
            format: Format::Ocsf,
            include_raw: true,
        };
        let line = br#" {"Id":"x-1","Operation":"Odd"} "#;
        let ev = normalize_bytes(line, Some(ContentType::General), &opts).expect("valid JSON");
        assert_eq!(
            ev.to_value()["raw_data"],
            json!(r#"{"Id":"x-1","Operation":"Odd"}"#)
        );
        let Event::Ocsf(e) = &ev else {
            panic!("ocsf format gives an OCSF event")
        };
        assert_eq!(e.class_uid, 0);
        assert_eq!(ev.time_ms(), None);
    }

    #[test]
    fn not_json_is_an_error_not_a_panic() {
        let err = normalize_bytes(b"{\"a\":\"\\c\"}", None, &Options::default())
            .expect_err("invalid escape");
        assert!(err.to_string().starts_with("record is not valid JSON"));
    }

    #[test]
    fn content_type_guess() {
        assert_eq!(
            guess_content_type(&json!({"RecordType": "15"})),
            ContentType::AzureActiveDirectory
        );
        assert_eq!(
            guess_content_type(&json!({"recordtype": 1})),
            ContentType::Exchange
        );
        assert_eq!(
            guess_content_type(&json!({"RecordType": 11})),
            ContentType::DlpAll
        );
        assert_eq!(
            guess_content_type(&json!({"Workload": "OneDrive"})),
            ContentType::SharePoint
        );
        assert_eq!(guess_content_type(&json!([1])), ContentType::General);
    }
}
