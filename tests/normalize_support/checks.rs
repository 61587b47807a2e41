//! The checks of a normalized event, shared by the normalizer's tests and its fuzz targets (`fuzz/`, which include
//! this file by path): OCSF schema validation, the checks JSON Schema cannot express, and leaf preservation.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use jsonschema::Validator;
use o365sync::content_type::ContentType;
use o365sync::normalize::{Class, Format, Options, normalize_bytes, normalize_value};
use serde_json::Value;

/// The OCSF 1.8.0 schemas with the profiles applied: `fixtures/ocsf/1.8.0-profiles/` of the repository, whether
/// this file is compiled in the main crate or in the fuzz crate under `fuzz/`.
fn schema_dir() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let own = here.join("fixtures/ocsf/1.8.0-profiles");
    if own.is_dir() {
        own
    } else {
        here.join("../fixtures/ocsf/1.8.0-profiles")
    }
}

fn validators() -> &'static BTreeMap<u32, Validator> {
    static V: OnceLock<BTreeMap<u32, Validator>> = OnceLock::new();
    V.get_or_init(|| {
        Class::ALL
            .into_iter()
            .map(|class| {
                let path = schema_dir().join(format!("{}.schema.json", class.schema_stem()));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("compile {}: {e}", path.display()));
                (class.uid(), validator)
            })
            .collect()
    })
}

/// Every problem with an event: schema violations of its class's OCSF 1.8.0 schema (`cloud`, `host` and
/// `security_control` profiles applied, `fixtures/ocsf/1.8.0-profiles/`) and the [`rule_problems`]. Empty when the
/// event is valid.
pub fn problems(event: &Value) -> Vec<String> {
    let mut out = schema_problems(event);
    out.extend(rule_problems(event));
    out
}

/// The class's schema violations only (compiling the schemas takes a while, once per process).
pub fn schema_problems(event: &Value) -> Vec<String> {
    let Some(class_uid) = class_uid(event) else {
        return Vec::new();
    };
    let Some(validator) = validators().get(&class_uid) else {
        return vec![format!("no schema for class_uid {class_uid}")];
    };
    validator
        .iter_errors(event)
        .map(|e| format!("schema: {e} at {}", e.instance_path))
        .collect()
}

fn class_uid(event: &Value) -> Option<u32> {
    event["class_uid"]
        .as_u64()
        .and_then(|u| u32::try_from(u).ok())
}

/// The rules JSON Schema cannot check, cheap enough for every input of a fuzz target: a known class, type_uid =
/// class_uid × 100 + activity_id, category_uid, activity_name, type_name, metadata.version, and every profile used
/// listed in `metadata.profiles`.
pub fn rule_problems(event: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(class_uid) = class_uid(event) else {
        return vec![format!(
            "class_uid missing or not an integer: {}",
            event["class_uid"]
        )];
    };
    let profiles: Vec<&str> = event["metadata"]["profiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (profile, attrs) in [(
        "security_control",
        &["policy", "action_id", "disposition_id"][..],
    )] {
        if attrs.iter().any(|a| event.get(*a).is_some()) && !profiles.contains(&profile) {
            out.push(format!(
                "uses {profile} attributes without listing the profile"
            ));
        }
    }
    let Some(class) = Class::from_uid(class_uid) else {
        out.push(format!("unknown class_uid {class_uid}"));
        return out;
    };
    let activity_id = event["activity_id"].as_u64().unwrap_or(u64::MAX);
    if event["type_uid"].as_u64() != Some(u64::from(class_uid) * 100 + activity_id) {
        out.push(format!(
            "type_uid {} is not class_uid * 100 + activity_id",
            event["type_uid"]
        ));
    }
    if event["category_uid"].as_u64() != Some(u64::from(class_uid / 1000)) {
        out.push("category_uid is not class_uid / 1000".into());
    }
    let name = event["activity_name"].as_str().unwrap_or_default();
    match u32::try_from(activity_id)
        .ok()
        .and_then(|a| class.activity_caption(a))
    {
        Some(caption) if name != caption => out.push(format!(
            "activity_name {name:?} is not the caption {caption:?}"
        )),
        None if activity_id == 99 && name.trim().is_empty() => {
            out.push("activity_id 99 without activity_name".into())
        }
        None if activity_id != 99 => out.push(format!("activity_id {activity_id} undefined")),
        _ => {}
    }
    let profiles: Vec<&str> = event["metadata"]["profiles"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !profiles.contains(&"cloud") {
        out.push("metadata.profiles lacks cloud".into());
    }
    // The host profile's `actor` on a class without one of its own (the schemas cannot tell which class has it).
    let host_used =
        event.get("device").is_some() || (event.get("actor").is_some() && !class.has_actor());
    if host_used != profiles.contains(&"host") {
        out.push(format!(
            "metadata.profiles {profiles:?}: host profile used: {host_used}"
        ));
    }
    if event["metadata"]["version"] != "1.8.0" {
        out.push("metadata.version is not 1.8.0".into());
    }
    if event["type_name"].as_str() != Some(&format!("{}: {name}", class.name())) {
        out.push(format!("type_name {} does not match", event["type_name"]));
    }
    out
}

/// Panics with every rule problem of the event (no schema validation).
#[track_caller]
pub fn assert_rules(event: &Value, context: &str) {
    let p = rule_problems(event);
    assert!(
        p.is_empty(),
        "{context}: invalid event:\n{}\n{event:#}",
        p.join("\n")
    );
}

/// Panics with every problem of the event.
#[track_caller]
pub fn assert_valid(event: &Value, context: &str) {
    let p = problems(event);
    assert!(
        p.is_empty(),
        "{context}: invalid event:\n{}\n{event:#}",
        p.join("\n")
    );
}

fn leaves<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Value::Object(o) => o.values().for_each(|x| leaves(x, out)),
        leaf => out.push(leaf),
    }
}

/// The leaf values (strings, numbers, booleans, nulls) of `input` that appear nowhere in `output`.
pub fn lost_leaves(input: &Value, output: &Value) -> Vec<Value> {
    let mut out_leaves = Vec::new();
    leaves(output, &mut out_leaves);
    let present: HashSet<String> = out_leaves.iter().map(|v| v.to_string()).collect();
    let mut in_leaves = Vec::new();
    leaves(input, &mut in_leaves);
    in_leaves
        .into_iter()
        .filter(|v| !present.contains(&v.to_string()))
        .cloned()
        .collect()
}

/// Panics when a leaf of the input is missing from the output.
#[track_caller]
pub fn assert_leaves_kept(input: &Value, output: &Value, context: &str) {
    let lost = lost_leaves(input, output);
    assert!(
        lost.is_empty(),
        "{context}: lost leaf values {lost:?}\n{output:#}"
    );
}

/// Normalizes `input` from the value and from its bytes, with and without `include_raw`, and checks the events: the
/// OCSF rules always, the class's schema too when `schema`, no leaf value lost, and the same event by both paths.
#[track_caller]
pub fn check_record(input: &Value, ct: Option<ContentType>, schema: bool) {
    let opts = Options::default();
    let event = normalize_value(input.clone(), ct, &opts).to_value();
    let assert_event = |event: &Value, context: &str| {
        if schema {
            assert_valid(event, context);
        } else {
            assert_rules(event, context);
        }
    };
    assert_event(&event, "normalize_value");
    // Unmapped values are written back as the text they came in, and serde_json's float parsing may differ from
    // that text in the last bit: compare against the input as read back from the same text.
    let bytes = serde_json::to_vec(input).expect("serialize input");
    let reparsed: Value = serde_json::from_slice(&bytes).expect("valid JSON");
    assert_leaves_kept(&reparsed, &event, "normalize_value");
    let from_bytes = normalize_bytes(&bytes, ct, &opts)
        .expect("valid JSON")
        .to_value();
    assert_eq!(event, from_bytes, "bytes and value paths differ");
    let with_raw = normalize_bytes(
        &bytes,
        ct,
        &Options {
            format: Format::Ocsf,
            include_raw: true,
        },
    )
    .expect("valid JSON")
    .to_value();
    assert_event(&with_raw, "include_raw");
}
