//! The committed JSON Schema stays in sync with the job-file types, and the shipped job files satisfy it.

use std::path::Path;

const COMMITTED: &str = "schema/job.schema.json";

#[test]
fn committed_schema_matches_the_generated_one() {
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED))
        .unwrap_or_default();
    let generated = o365sync::job::schema_text();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date with src/job/raw.rs; regenerate it with:\n    \
         cargo run -q -- schema > {COMMITTED}"
    );
}

#[test]
fn schema_describes_every_key_and_rejects_unknown_ones() {
    let schema = o365sync::job::schema();
    assert_eq!(schema["additionalProperties"], false);
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "version",
        "name",
        "tenant",
        "content_types",
        "sync",
        "output",
        "sink",
        "endpoints",
    ] {
        let desc = props[key]["description"].as_str().unwrap_or_default();
        assert!(!desc.is_empty(), "`{key}` has no description");
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(required, ["version", "name", "tenant", "sink"]);
    let tenant = &schema["$defs"]["Tenant"];
    assert_eq!(tenant["additionalProperties"], false);
    assert!(tenant["properties"].get("client_secret").is_none());
}

fn yaml_as_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn shipped_job_files_satisfy_the_schema_and_a_bad_one_does_not() {
    let schema = o365sync::job::schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs");
    for name in ["example-gcc.yaml", "demo.yaml"] {
        let doc = yaml_as_json(&jobs.join(name));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    let mut bad = yaml_as_json(&jobs.join("example-gcc.yaml"));
    bad["tenant"]["client_secret"] = "s3cr3t".into();
    assert!(!validator.is_valid(&bad));
    let mut bad = yaml_as_json(&jobs.join("example-gcc.yaml"));
    bad["tenant"]["cloud"] = "azure-china".into();
    assert!(!validator.is_valid(&bad));
}
