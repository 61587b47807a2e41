//! Shared checks of the normalizer's tests: OCSF schema validation, the checks JSON Schema cannot express, and leaf
//! preservation.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

mod checks;
#[allow(unused_imports)]
pub use checks::*;

/// Runs `o365sync normalize ARGS…` with `stdin` as its standard input.
pub fn normalize_cli(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .arg("normalize")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start o365sync");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for o365sync")
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
