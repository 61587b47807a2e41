//! `normalize_bytes` on arbitrary bytes: JSON gives an event that passes the OCSF rules (type_uid = class_uid × 100 +
//! activity_id, category_uid, activity name, profiles; one input in 16 also its class's OCSF 1.8.0 schema) and keeps
//! every leaf value of the input; anything else is refused with an error; the raw format passes a one-line record
//! through byte for byte. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365sync::content_type::ContentType;
use o365sync::normalize::{Format, Options, normalize_bytes};
use o365sync_fuzz::checks::{assert_leaves_kept, assert_rules, assert_valid};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, raw)) = data.split_first() else {
        return;
    };
    let content_type = ContentType::ALL
        .get(usize::from(selector) % (ContentType::ALL.len() + 1))
        .copied();
    let ocsf = normalize_bytes(raw, content_type, &Options::default());
    let input = serde_json::from_slice::<Value>(raw);
    match (&input, ocsf) {
        (Ok(input), Ok(event)) => {
            let value = event.to_value();
            assert_rules(&value, "normalize_bytes");
            if o365sync_fuzz::sampled(data) {
                assert_valid(&value, "normalize_bytes");
            }
            assert_leaves_kept(input, &value, "normalize_bytes");
            let with_raw = normalize_bytes(
                raw,
                content_type,
                &Options {
                    format: Format::Ocsf,
                    include_raw: true,
                },
            )
            .expect("the same bytes were JSON a moment ago")
            .to_value();
            assert_rules(&with_raw, "include_raw");
        }
        (Ok(_), Err(e)) => {
            // serde_json's recursion limit is the only reason JSON may be refused
            assert!(
                e.to_string().contains("recursion limit"),
                "JSON refused: {e}"
            );
        }
        (Err(e), Ok(event)) => {
            if !e.to_string().contains("recursion limit") {
                let mut out = Vec::new();
                event.write_json(&mut out);
                panic!(
                    "not JSON ({e}), yet normalized: {}",
                    String::from_utf8_lossy(&out)
                );
            }
        }
        (Err(_), Err(_)) => {}
    }
    let raw_event = normalize_bytes(
        raw,
        content_type,
        &Options {
            format: Format::Raw,
            include_raw: false,
        },
    );
    if let (Ok(_), Ok(event)) = (&input, raw_event) {
        let mut out = Vec::new();
        event.write_json(&mut out);
        let trimmed = raw.trim_ascii();
        if !trimmed.contains(&b'\n') {
            assert_eq!(out, trimmed, "the raw format changed a one-line record");
        }
        assert!(!out.contains(&b'\n'), "a raw record spans lines");
    }
});
