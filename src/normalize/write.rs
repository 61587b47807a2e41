//! Writing an [`OcsfEvent`] as compact JSON, byte for byte what serde_json writes from its `Serialize` impl (the
//! derived one stays the reference: a test compares the two over the corpus), without going through serde.
//!
//! Why: through serde_json, every key of every object is a string that is escape-scanned byte by byte on every
//! event, and every field goes through the generic map machinery. Here an object's keys are literals (`"name":`)
//! copied whole, and the fields are written in one straight function per struct. Keys and values are what
//! serde_json would write: strings without escapes as they are (`Text::Json`, borrowed keys of `unmapped`), other
//! strings and numbers through serde_json itself.

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::event::*;
use super::record::Fields;

/// A part of the event that writes itself as JSON.
pub(crate) trait WriteJson {
    /// Appends the JSON text.
    fn write_json(&self, out: &mut Vec<u8>);

    /// Whether an object leaves this field out: a `None` (every `Option` of the event is
    /// `skip_serializing_if = "Option::is_none"`).
    #[inline(always)]
    fn absent(&self) -> bool {
        false
    }
}

/// Writes `v` through serde_json (strings that need their escape scan, numbers, nested `Value`s).
#[inline]
fn via_serde<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and neither can these values (every map key of a `Value` is a string).
    if let Err(err) = v.serialize(&mut serde_json::Serializer::new(out)) {
        debug_assert!(false, "serializing a value failed: {err}");
    }
}

impl WriteJson for Text<'_> {
    #[inline]
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            // The JSON text of a string without escapes: serde_json would write the same bytes.
            Text::Json(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Text::Str(s) => via_serde(*s, out),
            Text::Owned(s) => via_serde(s.as_str(), out),
        }
    }
}

impl<T: WriteJson> WriteJson for Option<T> {
    #[inline(always)]
    fn write_json(&self, out: &mut Vec<u8>) {
        if let Some(v) = self {
            v.write_json(out);
        }
    }

    #[inline(always)]
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl<T: WriteJson> WriteJson for Vec<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            v.write_json(out);
        }
        out.push(b']');
    }
}

/// Types serde_json writes well enough: numbers, booleans, strings that need their escape scan, nested values.
macro_rules! through_serde {
    ($($t:ty),*) => {$(
        impl WriteJson for $t {
            #[inline]
            fn write_json(&self, out: &mut Vec<u8>) {
                via_serde(self, out);
            }
        }
    )*};
}

through_serde!(
    u16,
    u32,
    i64,
    bool,
    &str,
    String,
    std::borrow::Cow<'_, str>,
    Value
);

impl WriteJson for RawValue {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.get().as_bytes());
    }
}

impl WriteJson for TypeName<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        match self.json {
            Some(json) => json.write_json(out),
            None => via_serde(self, out),
        }
    }
}

impl WriteJson for Profiles {
    fn write_json(&self, out: &mut Vec<u8>) {
        // The same four texts as its `Serialize` impl.
        const PROFILES: [&str; 4] = [
            r#"["cloud"]"#,
            r#"["cloud","host"]"#,
            r#"["cloud","security_control"]"#,
            r#"["cloud","host","security_control"]"#,
        ];
        let i = usize::from(self.host) | usize::from(self.security_control) << 1;
        out.extend_from_slice(PROFILES[i].as_bytes());
    }
}

impl WriteJson for Fields<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, borrowed, value)) in self.iter_written().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if borrowed {
                // A key borrowed from the input had no escape in it, and the parser rejects raw quotes and control
                // characters inside strings: serde_json would write it as it is.
                debug_assert!(!key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
                out.push(b'"');
                out.extend_from_slice(key.as_bytes());
                out.push(b'"');
            } else {
                via_serde(key, out);
            }
            out.push(b':');
            value.write_json(out);
        }
        out.push(b'}');
    }
}

/// The JSON text of a key and its colon, `"key":`: the field's name, or the name it is written under.
macro_rules! key {
    ($field:ident) => {
        concat!("\"", stringify!($field), "\":").as_bytes()
    };
    ($field:ident, $key:literal) => {
        concat!("\"", $key, "\":").as_bytes()
    };
}

/// Writers for the event's structs: their fields in declaration order (the order serde writes them in), each under
/// its name or its `as` name (serde's `rename`); the fields after `skip` are the ones serde skips. Each struct is destructured in
/// full, so that a field missing from its list does not compile.
macro_rules! write_objects {
    ($($name:ident { $($field:ident $(as $key:literal)?),* $(,)? $(; skip $($skip:ident),*)? })*) => {$(
        impl WriteJson for $name<'_> {
            fn write_json(&self, out: &mut Vec<u8>) {
                let $name { $($field,)* $($($skip: _,)*)? } = self;
                // `{` before the first field written, `,` before the others.
                let mut sep = b'{';
                $(
                    if !$field.absent() {
                        out.push(sep);
                        sep = b',';
                        out.extend_from_slice(key!($field $(, $key)?));
                        $field.write_json(out);
                    }
                )*
                if sep == b'{' {
                    out.push(b'{');
                }
                out.push(b'}');
            }
        }
    )*};
}

write_objects! {
    OcsfEvent {
        class_uid, class_name, category_uid, category_name, activity_id, activity_name, type_uid, type_name,
        severity_id, severity, time, status_id, status, status_code, status_detail, metadata, cloud, actor, user,
        src_endpoint, http_request, service, api, entity, group, resource, subgroup, privileges, file,
        web_resources, resources, email, direction_id, direction, finding_info, is_alert, evidences, data_security,
        observables, policy, action_id, action, disposition_id, disposition, count, confidence_score, raw_data,
        unmapped,
    }
    Metadata {
        version, product, profiles, log_name, log_provider, uid, original_time, tenant_uid, event_code,
        correlation_uid, reporter;
        skip time_parsed
    }
    Product { name, vendor_name, feature }
    Named { name }
    Cloud { provider, account }
    Account { uid, type_id, type_ as "type" }
    Actor { user, app_uid, app_name, session }
    Session { uid, uid_alt, created_time }
    Observable { name, type_id, type_ as "type", value }
    User { name, uid, email_addr, type_id, type_ as "type", forward_addr }
    Endpoint { ip, port, hostname }
    HttpRequest { user_agent }
    Service { name, uid }
    Api { operation, service }
    Entity { name, uid, type_ as "type", data, user }
    Group { name, uid }
    File { name, type_id, type_ as "type", path, ext, uri, parent_folder, uid, owner }
    WebResource { uid, name, type_ as "type", url_string, data }
    Resource { uid, name, type_ as "type" }
    Email { from, to, cc, subject, message_uid }
    FindingInfo { uid, title, desc, types }
    Evidence { data, user, src_endpoint, file, email }
    EvidenceEndpoint { ip }
    DataSecurity { policy, classifier_details, discovery_details }
    Discovery { type_ as "type", count }
    Classifier { type_ as "type", name, uid }
    Policy { uid, name, type_ as "type", desc }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::normalize::{Event, Format, Options, normalize_bytes};

    /// The writer against serde_json's serialization of the same event.
    fn assert_same(line: &[u8], opts: &Options) {
        let event = normalize_bytes(line, None, opts).expect("JSON");
        let Event::Ocsf(e) = &event else {
            panic!("an OCSF event")
        };
        let mut written = Vec::new();
        e.as_ref().write_json(&mut written);
        let serialized = serde_json::to_vec(e.as_ref()).expect("serializes");
        assert_eq!(
            String::from_utf8_lossy(&written),
            String::from_utf8_lossy(&serialized),
            "{}",
            String::from_utf8_lossy(line)
        );
    }

    #[test]
    fn the_writer_writes_what_serde_json_writes() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
        let mut lines = 0;
        for file in std::fs::read_dir(dir).expect("corpus") {
            let path = file.expect("corpus entry").path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            let text = std::fs::read(&path).expect("corpus file");
            for line in text
                .split(|&b| b == b'\n')
                .filter(|l| !l.trim_ascii().is_empty())
            {
                for include_raw in [false, true] {
                    let opts = Options {
                        format: Format::Ocsf,
                        include_raw,
                    };
                    assert_same(line, &opts);
                }
                lines += 1;
            }
        }
        assert!(lines > 100, "{lines} corpus lines");
        // Escaped keys and values, strings the mapping builds, a record over several lines (owned keys), a value
        // that is not an object.
        for line in [
            br#"{"Id":"a\"b","Operation":"UserLoggedIn","RecordType":15,"UserId":"u\u00e9@x.example","K\u0065y\n":"v\t","ClientIP":"[::1]:80"}"#.as_slice(),
            b"{\"Id\":\"a\",\n\"Operation\":\"Set-Mailbox\",\"RecordType\":1,\"Odd key\":[1,{\"x\":null}],\"Parameters\":[{\"Name\":\"Identity\",\"Value\":\"m\\\\x\"}]}",
            br#"{"Operation":"Unknown \u0001 op","Workload":"X","UserId":"s"}"#,
            br#"[1,"two"]"#,
        ] {
            assert_same(line, &Options::default());
        }
    }
}
