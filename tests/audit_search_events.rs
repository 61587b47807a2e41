//! A record read from Purview Audit Search gives the event the Management API's copy of it gives, but for
//! `metadata.log_provider`: checked on every published record of the corpus, each shaped as Graph returns it
//! (`auditData` with its OData annotations and `CreationTime` ending in `Z`) and decoded back as the backfill does.

use o365sync::api::audit_search::management_record;
use o365sync::emulator::audit_search::graph_record;
use o365sync::normalize::record_types::content_type_of;
use o365sync::normalize::{Options, normalize_value};
use serde_json::Value;

fn event(record: Value, provider: Option<&'static str>) -> Value {
    let m = record.as_object().unwrap();
    let field = |k: &str| m.get(k).or_else(|| m.get(&k.to_lowercase()));
    let rt = field("RecordType").and_then(|v| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    let ct = content_type_of(rt, field("Workload").and_then(Value::as_str));
    let mut e = normalize_value(record, Some(ct), &Options::default());
    if let Some(p) = provider {
        e.set_log_provider(p);
    }
    let mut out = Vec::new();
    e.write_json(&mut out);
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn audit_search_records_give_the_management_api_events_but_for_the_source() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Ok(record) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if !record.is_object() {
                continue;
            }
            let from_api = event(record.clone(), None);
            let graph = graph_record(&record);
            assert!(graph["auditData"]["@odata.type"].is_string());
            let decoded = Value::Object(management_record(graph).expect("auditData"));
            let mut from_search = event(decoded, Some("Microsoft Purview Audit Search"));
            assert_eq!(
                from_search["metadata"]["log_provider"],
                "Microsoft Purview Audit Search"
            );
            from_search["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("log_provider");
            // Graph writes every `CreationTime` with a `Z`, which the backfill takes off to give the Management
            // API's zoneless form back. A record whose Management API copy carried the `Z` itself (none published
            // does; the corpus has written ones) cannot be told apart: only `original_time` then lacks the `Z`.
            let created = record
                .get("CreationTime")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if created.ends_with('Z') {
                let api_time = from_api["metadata"]["original_time"].as_str().unwrap();
                assert_eq!(
                    format!(
                        "{}Z",
                        from_search["metadata"]["original_time"].as_str().unwrap()
                    ),
                    api_time
                );
                from_search["metadata"]["original_time"] = api_time.into();
            }
            assert_eq!(from_search, from_api, "{}: {line}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 100, "{checked} records checked");
}
