//! Bad certificate inputs through `o365sync validate`: each is a located `file:line:column` error with a help line and
//! exit code 2, and nothing is written (the credential is checked offline, before any network call).

mod auth_support;

use std::path::Path;
use std::process::Output;

use auth_support::{
    LEGACY_ENCRYPTED_KEY, TestCert, WEAK_1024_CERT, WEAK_1024_KEY, other, shared, write,
};

const PASS_VAR: &str = "O365SYNC_VALIDATE_TEST_PASS";

fn job(extra: &str) -> String {
    format!(
        "version: 1
name: bad-cred
tenant:
  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718
  cloud: gcc
  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a
  certificate: cert.pem
  private_key: key.pem
{extra}sink:
  type: stdout
"
    )
}

/// Runs `validate` on a job whose certificate and key files hold `cert` and `key`.
fn validate(cert: &str, key: &str, extra: &str, pass: Option<&str>) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cert.pem", cert);
    write(dir.path(), "key.pem", key);
    write(dir.path(), "job.yaml", job(extra));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"));
    cmd.args(["--state-dir", "state", "validate", "job.yaml"])
        .current_dir(dir.path())
        .env_remove(PASS_VAR);
    if let Some(p) = pass {
        cmd.env(PASS_VAR, p);
    }
    (cmd.output().unwrap(), dir)
}

/// Asserts exit 2, an error at `line:column` mentioning `needle`, a help line, and no state written.
fn assert_refused(out: &(Output, tempfile::TempDir), line: u32, column: u32, needle: &str) {
    let (out, dir) = out;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let head = format!("job.yaml:{line}:{column}: ");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with(&head), "expected {head}… got:\n{stderr}");
    assert!(first.contains(needle), "expected `{needle}` in:\n{stderr}");
    assert!(stderr.contains("\nhelp: "), "{stderr}");
    assert!(!has_state(dir.path()), "validate wrote state");
}

fn has_state(dir: &Path) -> bool {
    dir.join("state").exists()
}

#[test]
fn a_good_credential_validates() {
    let c = shared();
    let out = validate(&c.cert_pem, &c.key_pkcs8_pem(), "", None);
    assert_eq!(
        out.0.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.0.stderr)
    );
    assert!(!has_state(out.1.path()));
}

#[test]
fn key_that_does_not_match_the_certificate() {
    let out = validate(&shared().cert_pem, &other().key_pkcs8_pem(), "", None);
    assert_refused(&out, 8, 16, "does not match");
}

#[test]
fn expired_certificate() {
    let old = TestCert::generate("expired", (2020, 1, 1), (2021, 1, 1));
    let out = validate(&old.cert_pem, &old.key_pkcs8_pem(), "", None);
    assert_refused(&out, 7, 16, "expired");
}

#[test]
fn weak_1024_bit_key() {
    let out = validate(WEAK_1024_CERT, WEAK_1024_KEY, "", None);
    assert_refused(&out, 7, 16, "1024-bit");
}

#[test]
fn legacy_proc_type_encrypted_key_says_how_to_convert() {
    let out = validate(&shared().cert_pem, LEGACY_ENCRYPTED_KEY, "", None);
    assert_refused(&out, 8, 16, "openssl pkcs8 -topk8");
}

#[test]
fn encrypted_key_with_wrong_or_missing_passphrase() {
    let c = shared();
    let encrypted = c.key_encrypted_pem("right");
    let extra = format!("  private_key_passphrase_env: {PASS_VAR}\n");
    let wrong = validate(&c.cert_pem, &encrypted, &extra, Some("wrong"));
    assert_refused(&wrong, 8, 16, "passphrase");
    let unset = validate(&c.cert_pem, &encrypted, &extra, None);
    assert_refused(&unset, 9, 31, PASS_VAR);
    let absent = validate(&c.cert_pem, &encrypted, "", None);
    assert_refused(&absent, 8, 16, "passphrase");
    let right = validate(&c.cert_pem, &encrypted, &extra, Some("right"));
    assert_eq!(
        right.0.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&right.0.stderr)
    );
}

#[test]
fn a_file_with_no_certificate() {
    let key = shared().key_pkcs8_pem();
    let out = validate(&key, &key, "", None);
    assert_refused(&out, 7, 16, "no CERTIFICATE");
}

#[test]
fn garbage_bytes() {
    let out = validate(
        "\u{1}\u{2}garbage\u{7f}",
        &shared().key_pkcs8_pem(),
        "",
        None,
    );
    assert_refused(&out, 7, 16, "not a PEM, DER or PKCS#12 file");
    let out = validate(&shared().cert_pem, "not a key at all", "", None);
    assert_refused(&out, 8, 16, "not a PEM, DER or PKCS#12 file");
}
