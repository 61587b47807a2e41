//! Documentation that must agree with the code: the generated job-file reference, the troubleshooting page's codes,
//! and the README's two commands (the ones CI and the demo use).

use std::path::Path;

use o365sync::docs::{JOB_FILE_REFERENCE_PATH, REGENERATE_ENV, job_file_reference};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn committed_job_file_reference_matches_the_schema() {
    let generated = job_file_reference();
    let path = root().join(JOB_FILE_REFERENCE_PATH);
    if std::env::var_os(REGENERATE_ENV).is_some() {
        std::fs::write(&path, &generated).expect("write the job-file reference");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{JOB_FILE_REFERENCE_PATH} is out of date with the job file's doc comments (src/job/raw.rs); regenerate it \
         with:\n    {REGENERATE_ENV}=1 cargo test --test docs"
    );
}

#[test]
fn the_job_file_reference_names_every_key_of_the_schema() {
    let md = job_file_reference();
    let schema = o365sync::job::schema();
    for key in schema["properties"].as_object().unwrap().keys() {
        assert!(
            md.contains(&format!("| `{key}` |")),
            "top-level `{key}` missing"
        );
    }
    let tenant = schema["$defs"]["Tenant"]["properties"].as_object().unwrap();
    for key in tenant.keys() {
        assert!(
            md.contains(&format!("| `tenant.{key}` |")),
            "`tenant.{key}` missing"
        );
    }
    for value in ["gcc-high", "DLP.All", "PS256", "sqlite"] {
        assert!(
            md.contains(&format!("| `{value}` |")),
            "value `{value}` missing"
        );
    }
}
