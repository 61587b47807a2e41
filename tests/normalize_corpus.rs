//! The normalizer over every record of `fixtures/corpus/` (published records, and records written for the classes the
//! corpus lacks): one reviewed insta snapshot per record, each event valid against its OCSF 1.8.0 schema, no leaf value
//! lost, and the raw pass-through and `include_raw` options.

mod normalize_support;

use std::collections::BTreeMap;

use normalize_support::{assert_leaves_kept, assert_valid, fixtures};
use o365sync::normalize::{Format, Options, normalize_bytes};
use serde_json::Value;

const CORPUS: [&str; 6] = [
    "microsoft-docs.jsonl",
    "plaso.jsonl",
    "panther-analysis.jsonl",
    "o365sync-written.jsonl",
    "powerbi-docs.jsonl",
    "elastic-integrations.jsonl",
];

/// (file stem, 1-based line number, line) of every record.
fn records() -> Vec<(String, usize, Vec<u8>)> {
    let mut out = Vec::new();
    for file in CORPUS {
        let path = fixtures().join("corpus").join(file);
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let stem = file.trim_end_matches(".jsonl").to_owned();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if !line.trim_ascii().is_empty() {
                out.push((stem.clone(), i + 1, line.to_vec()));
            }
        }
    }
    out
}

#[test]
fn every_corpus_record_snapshot_is_valid_ocsf_and_keeps_every_leaf() {
    let records = records();
    assert_eq!(
        records.len(),
        13 + 4 + 19 + 49 + 7 + 23,
        "the corpus changed: review the snapshots"
    );
    let mut classes = BTreeMap::new();
    for (stem, line, raw) in &records {
        let context = format!("{stem}:{line}");
        let event = normalize_bytes(raw, None, &Options::default())
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let value = event.to_value();
        assert_valid(&value, &context);
        let input: Value = serde_json::from_slice(raw).expect("corpus line is JSON");
        assert_leaves_kept(&input, &value, &context);
        assert_eq!(
            event.id(),
            input.get("Id").or(input.get("id")).and_then(Value::as_str)
        );
        *classes
            .entry(event.class_uid().expect("ocsf event"))
            .or_insert(0) += 1;
        insta::assert_json_snapshot!(format!("{stem}-{line:02}"), value);
    }
    // Every class the mapping uses is exercised by at least one record.
    let expected = [
        0, 2004, 2006, 3001, 3002, 3004, 3005, 3006, 4009, 6001, 6003, 6006,
    ];
    assert_eq!(
        classes.keys().copied().collect::<Vec<_>>(),
        expected,
        "{classes:?}"
    );
}

#[test]
fn the_published_invalid_record_is_an_error_not_a_panic() {
    let path = fixtures().join("corpus/microsoft-docs-invalid-json.txt");
    let text = std::fs::read_to_string(path).expect("read fixture");
    // The first line is the corpus's note on why the record is invalid.
    let (note, record) = text.split_once('\n').expect("note line");
    assert!(note.starts_with("###"));
    let err = normalize_bytes(record.as_bytes(), None, &Options::default())
        .expect_err("unescaped backslash");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
}

#[test]
fn raw_format_passes_every_record_through_unchanged() {
    let opts = Options {
        format: Format::Raw,
        include_raw: false,
    };
    for (stem, line, raw) in records() {
        let event = normalize_bytes(&raw, None, &opts).expect("valid JSON");
        let mut out = Vec::new();
        event.write_json(&mut out);
        assert_eq!(out, raw.trim_ascii(), "{stem}:{line}");
        assert_eq!(event.class_uid(), None);
        let ocsf = normalize_bytes(&raw, None, &Options::default()).expect("valid JSON");
        assert_eq!(event.id(), ocsf.id(), "{stem}:{line}");
        assert_eq!(event.time_ms(), ocsf.time_ms(), "{stem}:{line}");
    }
}

#[test]
fn include_raw_adds_the_original_record_and_stays_valid() {
    let opts = Options {
        format: Format::Ocsf,
        include_raw: true,
    };
    for (stem, line, raw) in records() {
        let value = normalize_bytes(&raw, None, &opts)
            .expect("valid JSON")
            .to_value();
        assert_valid(&value, &format!("{stem}:{line}"));
        assert_eq!(
            value["raw_data"].as_str().map(str::as_bytes),
            Some(raw.trim_ascii()),
            "{stem}:{line}"
        );
    }
}
