//! Normalization of raw audit records to OCSF 1.8.0 events (issue 6), following
//! `reference/ocsf-mapping.md`.
//!
//! # API
//! [`normalize_bytes`] (one record as JSON bytes; [`blob_records`] splits a content blob into them) and
//! [`normalize_value`] (an already parsed record) are pure: no I/O, no clock. They never reject a record that is
//! valid JSON: anything that cannot be classified becomes a Base Event with every field under `unmapped`, and
//! arbitrary JSON (arrays, strings, ...) becomes a Base Event holding the value as `unmapped.record`. The returned [`Event`] gives the sinks what they need: [`Event::id`] (the record's
//! `Id`, the dedup key), [`Event::time_ms`], [`Event::class_uid`], and [`Event::write_json`] (one JSON line's
//! content, without the newline).
//!
//! # How no field is lost
//! The builder takes a field out of the record only when an OCSF attribute receives its value unchanged; a field
//! whose value is transformed (an IP with a port, a guest user id, a `UserType` code, anything copied out of a nested
//! object or a Name/Value list) is read and left in place. Whatever is left becomes `unmapped`, keys and values as
//! they came (the values as their original JSON text). So every leaf value of the input appears in the output
//! (proved over the corpus in `tests/normalize_corpus.rs` and over arbitrary JSON in `tests/normalize_props.rs`).
//!
//! # Where the data said the proposal was wrong (changes to ocsf-mapping.md)
//! - **Sign-in outcome.** Published `UserLoginFailed` records carry `ResultStatus: "Success"` (panther corpus), so for
//!   RecordType 15 the operation decides `status_id` (UserLoggedIn 1, UserLoginFailed 2), not `ResultStatus`.
//! - **`Failure`** is a `ResultStatus` too (OME portal records): mapped to 2 like `Failed`. Any other non-empty value
//!   gives `status_id` 99 with the value in `status`.
//! - **Every event says who acted.** One helper builds `actor` for every class: `UserId` → `user.name` (guest prefix
//!   stripped; `email_addr` when it is an e-mail address), `UserKey` → `user.uid`, `UserType` → `user.type_id`/`type`,
//!   `AppId`/`ApplicationId`/`ClientAppId`/`AppAccessContext.ClientAppId` → `app_uid`, `ApplicationName`/
//!   `AppAccessContext.ClientAppName` → `app_name`, and the session: `AppAccessContext.AADSessionId` (or `AADSessionId`)
//!   → `session.uid`, `SessionId` → `session.uid` (or `uid_alt` next to an AAD session), `AppAccessContext.IssuedAtTime`
//!   → `session.created_time`. Web Resources Activity, Email Activity, Detection Finding and Base Event have no `actor`
//!   of their own: they get it through the `host` profile. Authentication puts the signing-in user in `user` (the
//!   subject) and in `actor` with the application and session.
//! - **`metadata.profiles`** is `["cloud"]`, plus `"host"` exactly when the event carries `actor` on a class without
//!   one of its own (no event carries `device`). Events are validated against the 1.8.0 schemas generated with the
//!   `cloud`, `host` and `security_control` profiles (`fixtures/ocsf/1.8.0-profiles/`).
//! - **`observables`** are built from the finished, typed event (so every class's attributes get them): users
//!   (name 4, e-mail 5, uid 31), `src_endpoint` IP 2 and hostname 1, `email.from`/`to` 5, group name 32 / uid 33,
//!   `file.name` 7, `file.path` 45, URLs 6 (`file.uri`, `web_resources.url_string`), resource uids 10
//!   (`web_resources.uid`, `resources.uid`); `name` is the attribute path, one entry per (type, value). A client IP
//!   of a class without `src_endpoint` (Base Event, Detection Finding) stays under `unmapped` only.
//! - **Required attributes decide too.** A class is chosen only if the record can fill what the class requires: File
//!   Hosting and API Activity need a client IP and an actor (else Web Resources Activity); Account Change, User Access
//!   and Group Management need a target object (else Entity Management); Email Activity needs a sender or recipient
//!   address (else Web Resources Activity); Authentication needs a user and findings an id (else Base Event).
//! - **Unspecified IPs** (`0.0.0.0`, `::`, seen in plaso's `UserLoggedIn`) are dropped like invalid ones, and the
//!   `ffff:a.b.c.d` of Copilot records is read as the IPv4-mapped address it abbreviates.
//! - **No `ai_operation` profile**: the schemas we validate against do not include it, so Copilot details stay in
//!   `api`, `resources` and `unmapped`. **`security_control`** only on DLP findings: rule matches carry its `policy`,
//!   `action_id`/`action` and `disposition_id`/`disposition` and list it in `metadata.profiles`. Alert details go to
//!   `finding_info`, `severity_id`, `status_id` and `evidences`.
//! - **Targets come from the record** (`targets.rs`, `dlp.rs`): a web resource is named by the object, file, item,
//!   list, report, channel or mailbox the record names, and only when it names none by the operation — never by the
//!   workload. Admin cmdlets keep their parameters in `entity.data`; inbox rules are named by the rule, forwarding
//!   addresses go to `entity.user.forward_addr`; mailbox items (`Folders[].FolderItems[]`, `AffectedItems`, `Item`)
//!   become one web resource each (uid: `InternetMessageId`); a sign-in's `ObjectId` (the application signed into)
//!   is `service.uid`.
//! - **Findings' `status_id`** is the finding status (alert `Status`: Active 1 New, Investigating 2, Dismissed 3
//!   Suppressed, Resolved 4), not `ResultStatus`. `DlpInfo` is activity 2 Update, `DlpRuleUndo` 4 Suppressed.
//! - **`UserType` 3 (DcAdmin) is System, not Admin**: every published record with UserType 3 is acted by
//!   `NT AUTHORITY\SYSTEM (Microsoft.Exchange.Servicehost)` (plaso corpus), and Microsoft describes the value as "a
//!   Microsoft datacenter operator or system account". `UserType` 1 (Reserved), 9 and 10 map to `type_id` 99 with
//!   the Microsoft name in `type`.
//! - **Missing RecordType** (lenient exports): AAD, Exchange, SharePoint and DLP content types imply the family from
//!   the operation's shape; `Audit.General` does not, so such records take the generic rule.
//! - **Base Event only for records with nothing modellable.** The proposal made an unknown RecordType a Base Event;
//!   every published `AuditLogRecordType` now has a row in [`record_types`] (rendered as `docs/ocsf-mapping.md`),
//!   and a type the table does not know is an API Activity (with a caller and a client address: `actor`,
//!   `src_endpoint`, `api.operation` = Operation, activity from the verb) or else a Web Resources Activity. Base
//!   Event is left for records without an Operation, or without any user, application, object or client address.
//! - **SOC-first operations** override their family (`record_types::OVERRIDES`): mailbox, recipient and folder
//!   permissions → User Access Management; inbox rules and `Set-Mailbox` (forwarding) → Entity Management (no class
//!   models mail rules); consent and service principal credentials → Entity Management (the target is an
//!   application, not a user).
//! - **Key spelling.** Keys are matched in their documented spelling; other spellings (all-lower-case exports) are
//!   matched only when the record spells none of `Id`, `CreationTime`, `Operation`, `RecordType` the documented
//!   way. A field in an unexpected spelling is never lost: it stays under `unmapped`.
//! - **Time.** `time` is required; a record without a parseable `CreationTime` gets `time` 0, keeps the original in
//!   `metadata.original_time`/`unmapped`, and [`Event::time_ms`] returns `None` for it.
//!
//! # Limits
//! - Values the mapping does not read are never parsed, so their depth is not limited. A value the mapping reads
//!   that is nested deeper than serde_json's recursion limit (128) counts as absent and stays under `unmapped`.
//! - A record with the same key twice keeps the last one for the mapping (as serde_json does); repeated keys the
//!   mapping does not read are written to `unmapped` as they came, repeats included.
//!
//! # Performance
//! A record is parsed once, into its top-level fields only: keys borrowed from the input, values left unparsed
//! (`RawValue`). The known keys are indexed in one pass; the mapping parses the few values it needs (nested ones
//! only for the classes that use them) and everything it does not take is written back byte for byte as `unmapped`.
//! Nested values the mapping reads are parsed once per record into a tree that borrows its strings from the input
//! (`record::Json`). The event is typed and written directly (`write.rs`, not through serde: object keys are
//! literals): strings copied from the record stay borrowed and a string without escapes is written back as the
//! record's own JSON text (`event::Text`), constant strings are JSON text serialized once. See BENCHMARKS.md for the throughput against plain `serde_json` parse-and-serialize of the
//! same records.

mod build;
mod classify;
pub mod cli;
mod dlp;
pub mod event;
mod ip;
mod record;
pub mod record_types;
pub mod stats;
mod targets;
mod time;
mod write;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

pub use classify::Class;
pub use event::OcsfEvent;
/// The audit record keys the mapping reads (any other key goes to `unmapped`).
pub use record::KNOWN as MAPPED_KEYS;

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
    /// The records as received, one per line: from bytes ([`normalize_bytes`], and the `normalize` command) byte
    /// for byte, except that a record spread over several lines loses the whitespace between its tokens; from a
    /// parsed value ([`normalize_value`]) re-serialized, so keys come out sorted.
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

/// The output of normalizing one record. `'a` is the lifetime of the input bytes (see [`Event::into_owned`]).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// An OCSF event.
    Ocsf(Box<OcsfEvent<'a>>),
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

impl Event<'_> {
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

    /// Names the service the record was read from in `metadata.log_provider` (OCSF events only; a raw record stays
    /// unchanged).
    pub fn set_log_provider(&mut self, provider: &'static str) {
        if let Event::Ocsf(e) = self {
            e.metadata.log_provider = Some(event::Text::from(provider));
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
            // The same bytes as `serde_json::to_writer(out, e)`, faster (`write.rs`).
            Event::Ocsf(e) => write::WriteJson::write_json(e.as_ref(), out),
            Event::Raw(r) => out.extend_from_slice(r.json.as_bytes()),
        }
    }

    /// The event as a JSON value (for tests and for sinks that store JSON documents). `Null` in the one case
    /// serde_json cannot read its own output back: an unmapped value nested deeper than its recursion limit (128).
    pub fn to_value(&self) -> Value {
        let mut buf = Vec::new();
        self.write_json(&mut buf);
        serde_json::from_slice(&buf).unwrap_or(Value::Null)
    }

    /// The same event, owning everything (no longer borrowing the input bytes).
    pub fn into_owned(self) -> Event<'static> {
        match self {
            Event::Ocsf(e) => Event::Ocsf(Box::new(e.into_owned())),
            Event::Raw(r) => Event::Raw(r),
        }
    }
}

/// Normalizes one record given as JSON bytes. `content_type` is the feed it came from (guessed from the record when
/// `None`). Fails only when the bytes are not JSON. The event borrows the fields it leaves under `unmapped` from
/// `raw` (written back out unparsed); [`Event::into_owned`] detaches it.
pub fn normalize_bytes<'a>(
    raw: &'a [u8],
    content_type: Option<ContentType>,
    opts: &Options,
) -> Result<Event<'a>, NotJson> {
    let trimmed = trim_json_whitespace(raw);
    if memchr::memchr(b'\n', trimmed).is_some() {
        // Unparsed values are written back as they are: take the line breaks out first, so that an event stays one
        // line. (A lone carriage return is JSON whitespace that no line reader splits on.) Taking whitespace out can
        // join two tokens (`[1\n2]` would read as `[12]`), so the record is checked as it came first.
        serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).map_err(NotJson)?;
        let compact = minify(trimmed);
        let raw_data = (opts.format == Format::Ocsf && opts.include_raw)
            .then(|| String::from_utf8_lossy(trimmed).into_owned());
        return normalize_compact(&compact, content_type, opts, raw_data).map(Event::into_owned);
    }
    let raw_data = (opts.format == Format::Ocsf && opts.include_raw)
        .then(|| String::from_utf8_lossy(trimmed).into_owned());
    normalize_compact(trimmed, content_type, opts, raw_data)
}

/// `bytes` without JSON's whitespace (space, tab, line feed, carriage return) at either end: a form feed, which
/// `trim_ascii` would take too, is not JSON and must be refused with the record.
fn trim_json_whitespace(bytes: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = bytes.iter().position(|b| !ws(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn normalize_compact<'a>(
    json: &'a [u8],
    content_type: Option<ContentType>,
    opts: &Options,
    raw_data: Option<String>,
) -> Result<Event<'a>, NotJson> {
    let fields = record::parse_fields(json).map_err(NotJson)?;
    if opts.format == Format::Raw {
        let (id, time) = match fields {
            Some(f) => {
                let r = record::Record::new(f);
                (
                    r.text("Id").map(|id| id.as_str().to_owned()),
                    r.str("CreationTime")
                        .and_then(|t| time::parse_creation_time(&t)),
                )
            }
            None => (None, None),
        };
        return Ok(Event::Raw(RawRecord {
            json: String::from_utf8_lossy(json).into_owned(),
            id,
            time,
        }));
    }
    let event = match fields {
        Some(fields) => {
            let ct = content_type.unwrap_or_else(|| guess_from_fields(&fields));
            build::build(fields, ct, raw_data)
        }
        None => {
            let value: &RawValue = serde_json::from_slice(json).map_err(NotJson)?;
            build::build_non_object(
                value,
                content_type.unwrap_or(ContentType::General),
                raw_data,
            )
        }
    };
    Ok(Event::Ocsf(event))
}

/// Splits a content blob (the JSON array the API returns) into its records' bytes, without parsing the records, for
/// [`normalize_bytes`]. Fails when the blob is not a JSON array.
pub fn blob_records(blob: &[u8]) -> Result<Vec<&[u8]>, NotJson> {
    let records: Vec<&RawValue> = serde_json::from_slice(blob).map_err(NotJson)?;
    Ok(records.into_iter().map(|r| r.get().as_bytes()).collect())
}

/// Normalizes one parsed record. `content_type` is the feed it came from (guessed from the record when `None`).
/// The record is serialized and read back by [`normalize_bytes`]: callers that have the bytes should pass those.
pub fn normalize_value(
    record: Value,
    content_type: Option<ContentType>,
    opts: &Options,
) -> Event<'static> {
    let json = record.to_string();
    match normalize_bytes(json.as_bytes(), content_type, opts) {
        Ok(event) => event.into_owned(),
        // serde_json reads back what it wrote, except values nested deeper than its recursion limit: keep those
        // whole, unparsed, under `unmapped.record` of a Base Event.
        Err(_) => {
            if opts.format == Format::Raw {
                return Event::Raw(RawRecord {
                    json,
                    id: None,
                    time: None,
                });
            }
            let raw_data = opts.include_raw.then(|| json.clone());
            // `to_raw_value` serializes without parsing back, so the depth does not matter here. (It cannot fail for
            // a `Value`; should it, the record still goes out unchanged.)
            let Ok(value) = serde_json::value::to_raw_value(&record) else {
                return Event::Raw(RawRecord {
                    json,
                    id: None,
                    time: None,
                });
            };
            let ct = content_type.unwrap_or(ContentType::General);
            Event::Ocsf(Box::new(
                build::build_non_object(&value, ct, raw_data).into_owned(),
            ))
        }
    }
}

fn guess_from_fields(fields: &record::Fields<'_>) -> ContentType {
    let get = |k: &str| fields.get(k);
    let rt = get("RecordType")
        .or_else(|| get("recordtype"))
        .and_then(|v| serde_json::from_str::<Value>(v.get()).ok())
        .as_ref()
        .and_then(record::as_int);
    let workload = get("Workload")
        .or_else(|| get("workload"))
        .and_then(record::raw_str);
    guess(rt, workload.as_deref().unwrap_or_default())
}

/// The content type a record most likely came from, by `RecordType` and `Workload`.
pub fn guess_content_type(record: &Value) -> ContentType {
    let Some(obj) = record.as_object() else {
        return ContentType::General;
    };
    let rt = record::obj_get(obj, "RecordType").and_then(record::as_int);
    guess(rt, record::obj_str(obj, "Workload").unwrap_or_default())
}

fn guess(rt: Option<i64>, workload: &str) -> ContentType {
    let w = |s: &str| workload.trim().eq_ignore_ascii_case(s);
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
    fn a_blob_splits_into_records_that_normalize_alone() {
        let blob =
            br#"[{"Id":"a","Operation":"UserLoggedIn","RecordType":15,"UserId":"u@x.example"},
            {"Id":"b","Operation":"X"}, 3]"#;
        let records = blob_records(blob).expect("array");
        assert_eq!(records.len(), 3);
        let ids: Vec<_> = records
            .iter()
            .map(|r| {
                let e = normalize_bytes(r, None, &Options::default()).expect("JSON");
                (e.id().map(str::to_owned), e.class_uid())
            })
            .collect();
        assert_eq!(
            ids,
            [
                (Some("a".to_owned()), Some(3002)),
                (Some("b".to_owned()), Some(0)),
                (None, Some(0))
            ]
        );
        assert!(blob_records(br#"{"Id":"a"}"#).is_err());
    }

    /// Fuzzing findings (`fuzz/` target `normalize_bytes`): a form feed around a record, and whitespace between two
    /// tokens of a record spread over lines, made bytes that are not JSON normalize.
    #[test]
    fn bytes_that_are_not_json_are_refused_whatever_the_whitespace() {
        let opts = Options::default();
        for bad in [&b"3\x0c"[..], b"\x0c{}", b"[1\n2]", b"{\"a\":tr\nue}"] {
            assert!(normalize_bytes(bad, None, &opts).is_err(), "{bad:?}");
        }
        for good in [&b" \t{}\r\n"[..], b"[1,\n2]", b"{\n\"a\": true\n}\n"] {
            assert!(normalize_bytes(good, None, &opts).is_ok(), "{good:?}");
        }
    }

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
