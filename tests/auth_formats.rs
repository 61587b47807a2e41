//! Credentials as operators have them (`fixtures/credentials/`, made with the openssl CLI): PEM with a UTF-8 BOM, in
//! UTF-16LE/BE with a BOM, with CRLF; DER certificates and keys; PKCS#12 as `-legacy`, Windows (3DES) and OpenSSL 3
//! (AES) write it, without a password, with a chain. Each good form loads through the job loader (a job file in a
//! temporary directory) and signs an assertion the in-process emulator accepts; each bad form is a located exit-2
//! error from `o365sync validate` that says what to do, with nothing written.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use o365sync::auth::{
    CredentialError, CredentialSource, FileForm, SigningAlgorithm, TextEncoding, Thumbprints,
    TokenProvider, TokenProviderConfig,
};
use o365sync::emulator::{ContentSettings, Emulator, EmulatorConfig, EmulatorHandle};
use o365sync::exit::Outcome;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/credentials")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

/// The DER bytes of a PEM certificate fixture.
fn der_of(name: &str) -> Vec<u8> {
    o365sync::emulator::certificates_from_pem(&fixture_bytes(name)).expect("pem")[0].clone()
}

/// One credential layout: the files (fixture name → name in the job directory) and the job's tenant lines.
struct Case {
    name: &'static str,
    files: Vec<(&'static str, &'static str)>,
    certificate: &'static str,
    private_key: Option<&'static str>,
    passphrase: Option<&'static str>,
    /// The certificate the emulator must see (its fixture name).
    leaf: &'static str,
    /// What `CertificateInfo::source` must say.
    form: &'static str,
}

fn case(
    name: &'static str,
    certificate: &'static str,
    private_key: Option<&'static str>,
    passphrase: Option<&'static str>,
) -> Case {
    let mut files = vec![(certificate, certificate)];
    if let Some(k) = private_key
        && k != certificate
    {
        files.push((k, k));
    }
    Case {
        name,
        files,
        certificate,
        private_key,
        passphrase,
        leaf: "cert.pem",
        form: "",
    }
}

/// Writes the case's files, a passphrase file and a job file pointing at `url` into a fresh directory.
fn job_dir(case: &Case, url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (from, to) in &case.files {
        std::fs::copy(fixture(from), dir.path().join(to)).expect("copy fixture");
    }
    let mut tenant = format!("  certificate: {}\n", case.certificate);
    if let Some(k) = case.private_key {
        tenant.push_str(&format!("  private_key: {k}\n"));
    }
    if let Some(p) = case.passphrase {
        std::fs::write(dir.path().join("pass.txt"), format!("{p}\n")).expect("pass");
        tenant.push_str("  private_key_passphrase_file: pass.txt\n");
    }
    let job = format!(
        "version: 1
name: formats
tenant:
  id: {tenant_id}
  cloud: commercial
  client_id: {client}
{tenant}sink:
  type: jsonl
  path: out
endpoints:
  login: {url}
  api: {url}
",
        tenant_id = o365sync::emulator::DEFAULT_TENANT_ID,
        client = o365sync::emulator::DEFAULT_CLIENT_ID,
    );
    std::fs::write(dir.path().join("job.yaml"), job).expect("job");
    dir
}

async fn emulator() -> EmulatorHandle {
    let mut config = EmulatorConfig {
        trusted_certificates: vec![der_of("cert.pem"), der_of("chain-leaf.pem")],
        ..EmulatorConfig::default()
    };
    let mut content = ContentSettings::default().with_blobs_per_hour(0);
    content.late_blobs = 0;
    content.blob_listed_twice = false;
    config.content = content;
    Emulator::start(config).await.expect("emulator starts")
}

fn good_cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            form: "PEM (UTF-8 with BOM) from combined-utf8-bom.pem: certificate + key",
            ..case(
                "utf-8 bom",
                "combined-utf8-bom.pem",
                Some("combined-utf8-bom.pem"),
                None,
            )
        },
        Case {
            form: "PEM (UTF-16LE with BOM, CRLF) from combined-utf16le-bom.pem: certificate + key",
            ..case(
                "utf-16le bom",
                "combined-utf16le-bom.pem",
                Some("combined-utf16le-bom.pem"),
                None,
            )
        },
        Case {
            form: "PEM (UTF-16BE with BOM) from combined-utf16be-bom.pem: certificate + key",
            ..case(
                "utf-16be bom",
                "combined-utf16be-bom.pem",
                Some("combined-utf16be-bom.pem"),
                None,
            )
        },
        Case {
            form: "PEM (CRLF) from combined-crlf.pem: certificate + key",
            ..case("crlf", "combined-crlf.pem", Some("combined-crlf.pem"), None)
        },
        Case {
            form: "certificate: DER certificate from cert.cer; private key: PEM from key.pem",
            ..case("der cert + pem key", "cert.cer", Some("key.pem"), None)
        },
        Case {
            form: "certificate: DER certificate from cert.cer; private key: DER PKCS#8 key from key-pkcs8.der",
            ..case(
                "der cert + der pkcs8",
                "cert.cer",
                Some("key-pkcs8.der"),
                None,
            )
        },
        Case {
            form: "certificate: DER certificate from cert.cer; private key: DER PKCS#1 key from key-pkcs1.der",
            ..case(
                "der cert + der pkcs1",
                "cert.cer",
                Some("key-pkcs1.der"),
                None,
            )
        },
        Case {
            form: "PKCS#12 (RC2-40-CBC + 3DES-CBC, PBE-SHA1, HMAC-SHA1 MAC) from legacy.pfx: certificate + key",
            ..case("pfx legacy", "legacy.pfx", None, Some("fixture-legacy"))
        },
        Case {
            form: "PKCS#12 (3DES-CBC, PBE-SHA1, HMAC-SHA1 MAC) from windows-3des.pfx: certificate + key",
            ..case("pfx 3des", "windows-3des.pfx", None, Some("fixture-3des"))
        },
        Case {
            form: "PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from aes.p12: certificate + key",
            ..case("pfx aes", "aes.p12", None, Some("fixture-aes"))
        },
        Case {
            form: "PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from aes.p12: certificate + key",
            ..case(
                "pfx aes as certificate and private_key",
                "aes.p12",
                Some("aes.p12"),
                Some("fixture-aes"),
            )
        },
        Case {
            form: "PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from nopass.pfx: certificate + key",
            ..case("pfx without password", "nopass.pfx", None, None)
        },
        Case {
            form: "PKCS#12 (not encrypted, no MAC) from plain.pfx: certificate + key",
            ..case("pfx without encryption", "plain.pfx", None, None)
        },
        Case {
            form: "PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from chain.pfx: certificate + key",
            leaf: "chain-leaf.pem",
            ..case("pfx with chain", "chain.pfx", None, Some("fixture-chain"))
        },
        Case {
            form: "PKCS#12 (AES-256-CBC, PBKDF2, no MAC) from ca-first-chain.pfx: certificate + key",
            leaf: "chain-leaf.pem",
            ..case(
                "pfx with the ca first",
                "ca-first-chain.pfx",
                None,
                Some("fixture-chain"),
            )
        },
    ];
    // Content, not the name, decides: a DER certificate named `.pem` and a PKCS#12 file named `.pem`.
    let mut der_named_pem = case("der named .pem", "cert.pem", Some("key.pem"), None);
    der_named_pem.files = vec![("cert.cer", "cert.pem"), ("key-pkcs8.der", "key.pem")];
    der_named_pem.form =
        "certificate: DER certificate from cert.pem; private key: DER PKCS#8 key from key.pem";
    cases.push(der_named_pem);
    let mut pfx_named_pem = case("pfx named .pem", "app.pem", None, Some("fixture-aes"));
    pfx_named_pem.files = vec![("aes.p12", "app.pem")];
    pfx_named_pem.form =
        "PKCS#12 (AES-256-CBC, PBKDF2, HMAC-SHA256 MAC) from app.pem: certificate + key";
    cases.push(pfx_named_pem);
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_good_form_loads_through_the_job_loader_and_gets_a_token_from_the_emulator() {
    let emu = emulator().await;
    let cases = good_cases();
    for case in &cases {
        let dir = job_dir(case, &emu.url());
        let loaded = o365sync::job::load_current(&dir.path().join("job.yaml"))
            .unwrap_or_else(|d| panic!("{}: the job does not load:\n{d}", case.name));
        let info = loaded.credential.info();
        assert_eq!(info.source.to_string(), case.form, "{}", case.name);
        // The leaf is the certificate matching the key, and the thumbprints are over its original DER bytes.
        let leaf = der_of(case.leaf);
        assert_eq!(
            loaded.credential.certificate_der(),
            leaf.as_slice(),
            "{}",
            case.name
        );
        assert_eq!(
            info.thumbprints,
            Thumbprints::of_der(&leaf),
            "{}",
            case.name
        );
        assert_eq!(info.key_bits, 2048, "{}", case.name);
        assert!(
            info.warnings.is_empty(),
            "{}: {:?}",
            case.name,
            info.warnings
        );
        for signing in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
            let mut source: CredentialSource = loaded.job.credential_source();
            source.signing = signing;
            let credential = Arc::new(source.load().expect("loads again"));
            let endpoints = loaded.job.endpoints().expect("endpoints");
            let mut config = TokenProviderConfig::new(emu.client_id(), endpoints);
            config.retries = 0;
            let token = TokenProvider::new(credential, config)
                .token()
                .await
                .unwrap_or_else(|e| panic!("{} {signing}: {e}", case.name));
            assert!(
                token.roles().iter().any(|r| r == "ActivityFeed.Read"),
                "{} {signing}",
                case.name
            );
        }
    }
    let stats = emu.stats();
    assert_eq!(stats.tokens_issued, cases.len() as u64 * 2);
    assert_eq!(stats.tokens_refused, 0);
}

#[test]
fn a_chain_an_encrypted_der_key_and_in_memory_input_report_their_forms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "fixture-chain").expect("pass");
    let source = CredentialSource {
        certificate: fixture("chain.pfx"),
        private_key: None,
        passphrase: Some(o365sync::auth::PassphraseSource::File(pass)),
        signing: SigningAlgorithm::Rs256,
    };
    let cred = source.load().expect("chain.pfx loads");
    assert_eq!(cred.info().chain_len, 2);
    assert_eq!(cred.info().subject, "CN=o365sync-fixture-leaf");
    assert_eq!(cred.info().issuer, "CN=o365sync-fixture-ca");
    assert!(
        matches!(&cred.info().source.certificate, FileForm::Pkcs12 { scheme } if scheme.contains("AES-256-CBC")),
        "{:?}",
        cred.info().source
    );
    assert_eq!(cred.info().source.private_key, None);
    // The in-memory loader detects the same forms.
    let cred = o365sync::auth::Credential::from_pem(
        &fixture_bytes("combined-utf16le-bom.pem"),
        &fixture_bytes("key-pkcs1.der"),
        None,
        SigningAlgorithm::Rs256,
        jiff::Timestamp::now(),
    )
    .expect("utf-16 certificate and der key from memory");
    assert_eq!(
        cred.info().source.certificate,
        FileForm::Pem {
            encoding: TextEncoding::Utf16LeBom,
            crlf: true
        }
    );
    // A DER encrypted PKCS#8 key (PBES2, AES-256-CBC), made from the fixture key by the pkcs8 crate.
    let key = fixture_bytes("key-pkcs8.der");
    let info = pkcs8::PrivateKeyInfo::try_from(key.as_slice()).expect("pkcs8");
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[3; 16], &[4; 16])
        .expect("params");
    let encrypted = info
        .encrypt_with_params(params, "der-pass-5b2e")
        .expect("encrypt");
    let key_path = dir.path().join("key-encrypted.der");
    std::fs::write(&key_path, encrypted.as_bytes()).expect("write");
    let pass = dir.path().join("der-pass");
    std::fs::write(&pass, "der-pass-5b2e\n").expect("pass");
    let cred = CredentialSource {
        certificate: fixture("cert.cer"),
        private_key: Some(key_path),
        passphrase: Some(o365sync::auth::PassphraseSource::File(pass)),
        signing: SigningAlgorithm::Rs256,
    }
    .load()
    .expect("der certificate and encrypted der key");
    assert_eq!(
        cred.info().source.to_string(),
        "certificate: DER certificate from cert.cer; private key: DER encrypted PKCS#8 key from key-encrypted.der"
    );
    assert!(cred.info().warnings.is_empty());
}

/// Runs `validate` on a job in a fresh directory holding the case's files; returns its output and the directory.
fn validate(case: &Case) -> (Output, tempfile::TempDir) {
    let dir = job_dir(case, "http://127.0.0.1:9");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(["--state-dir", "state", "validate", "job.yaml"])
        .current_dir(dir.path())
        .output()
        .expect("run o365sync");
    (out, dir)
}

/// Exit 2; the first line is `job.yaml:LINE:COLUMN: error: …` at `tenant.certificate` (line 7, column 16) or
/// `tenant.private_key` (line 8); it holds every needle; a help line follows; nothing is written.
fn assert_refused(case: &Case, line: u32, needles: &[&str]) {
    let (out, dir) = validate(case);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.name);
    let first = stderr.lines().next().unwrap_or_default();
    let head = format!("job.yaml:{line}:16: ");
    assert!(
        first.starts_with(&head),
        "{}: expected {head}… got:\n{stderr}",
        case.name
    );
    for needle in needles {
        assert!(
            first.contains(needle),
            "{}: expected `{needle}` in:\n{stderr}",
            case.name
        );
    }
    assert!(stderr.contains("\nhelp: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let message = &first[head.len()..];
    assert!(!message.ends_with('.'), "{message}");
    assert!(
        !message.starts_with(|c: char| c.is_uppercase()),
        "{message}"
    );
    assert!(
        !dir.path().join("state").exists(),
        "{}: state written",
        case.name
    );
    assert!(
        !dir.path().join("out").exists(),
        "{}: output written",
        case.name
    );
    // Secrets never appear: not the passphrase, not key material.
    if let Some(p) = case.passphrase {
        assert!(!stderr.contains(p), "{stderr}");
    }
}

#[test]
fn bad_pkcs12_files_are_located_exit_2_errors_that_say_what_to_do() {
    assert_refused(
        &case(
            "wrong passphrase",
            "aes.p12",
            None,
            Some("not-the-passphrase-7f3e"),
        ),
        7,
        &[
            "aes.p12",
            "passphrase is wrong",
            "private_key_passphrase_env",
        ],
    );
    assert_refused(
        &case("passphrase needed, none configured", "aes.p12", None, None),
        7,
        &[
            "aes.p12",
            "protected by a passphrase",
            "private_key_passphrase_file",
        ],
    );
    assert_refused(
        &case("no key", "nokey.pfx", None, Some("fixture-nokey")),
        7,
        &["nokey.pfx", "holds no private key", "export it again"],
    );
    assert_refused(
        &case(
            "two unrelated keys",
            "two-keys.pfx",
            None,
            Some("fixture-two"),
        ),
        7,
        &[
            "two-keys.pfx",
            "2 private keys and 2 of them match",
            "cannot tell which",
        ],
    );
    assert_refused(
        &case("truncated", "truncated.pfx", None, Some("fixture-aes")),
        7,
        &["truncated.pfx", "cut short", "export the file again"],
    );
    assert_refused(
        &case(
            "a wrong passphrase for a pfx given as the key",
            "cert.pem",
            Some("aes.p12"),
            Some("nope-1234"),
        ),
        8,
        &["aes.p12", "passphrase is wrong"],
    );
}

#[test]
fn run_with_a_bad_pkcs12_file_exits_2_before_writing_anything() {
    for case in [
        case(
            "wrong passphrase",
            "aes.p12",
            None,
            Some("not-the-passphrase-7f3e"),
        ),
        case("truncated", "truncated.pfx", None, Some("fixture-aes")),
    ] {
        let dir = job_dir(&case, "http://127.0.0.1:9");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_o365sync"))
            .args(["--state-dir", "state", "run", "job.yaml"])
            .current_dir(dir.path())
            .output()
            .expect("run o365sync");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", case.name);
        assert!(stderr.contains("job.yaml:7:16: "), "{stderr}");
        assert!(
            !dir.path().join("state").exists(),
            "{}: state written",
            case.name
        );
        assert!(
            !dir.path().join("out").exists(),
            "{}: output written",
            case.name
        );
    }
}

#[test]
fn bad_text_and_missing_keys_are_located_exit_2_errors_that_say_what_to_do() {
    assert_refused(
        &case(
            "utf-16 without bom",
            "combined-utf16le-nobom.pem",
            Some("combined-utf16le-nobom.pem"),
            None,
        ),
        7,
        &["UTF-16 text without a byte-order mark", "save it as UTF-8"],
    );
    assert_refused(
        &case("pem certificate alone", "cert.pem", None, None),
        7,
        &["cert.pem", "add `tenant.private_key`", "PKCS#12 (.pfx)"],
    );
    assert_refused(
        &case("der certificate alone", "cert.cer", None, None),
        7,
        &["cert.cer", "DER certificate", "add `tenant.private_key`"],
    );
    assert_refused(
        &case(
            "a key whose certificate is elsewhere",
            "cert.pem",
            Some("other-key.pem"),
            None,
        ),
        8,
        &["does not match"],
    );
    assert_refused(
        &case(
            "a pfx with another key",
            "other-cert.pem",
            Some("aes.p12"),
            Some("fixture-aes"),
        ),
        8,
        &["does not match"],
    );
}

#[test]
fn pkcs12_errors_are_credential_errors_of_the_configuration_class() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "wrong-passphrase-9d1c").expect("pass");
    let load = |cert: &str, pass: Option<&Path>| {
        CredentialSource {
            certificate: fixture(cert),
            private_key: None,
            passphrase: pass.map(|p| o365sync::auth::PassphraseSource::File(p.to_path_buf())),
            signing: SigningAlgorithm::Rs256,
        }
        .load()
        .expect_err("refused")
    };
    let errors = [
        load("aes.p12", Some(&wrong)),
        load("aes.p12", None),
        load("legacy.pfx", Some(&wrong)),
        load("nokey.pfx", None),
        load("truncated.pfx", None),
        load("cert.pem", None),
    ];
    assert!(
        matches!(errors[0], CredentialError::Pkcs12WrongPassphrase { .. }),
        "{}",
        errors[0]
    );
    assert!(
        matches!(errors[1], CredentialError::Pkcs12PassphraseMissing { .. }),
        "{}",
        errors[1]
    );
    assert!(
        matches!(errors[2], CredentialError::Pkcs12WrongPassphrase { .. }),
        "{}",
        errors[2]
    );
    // Without a passphrase the MAC fails first: the file needs one.
    assert!(
        matches!(errors[3], CredentialError::Pkcs12PassphraseMissing { .. }),
        "{}",
        errors[3]
    );
    assert!(
        matches!(errors[4], CredentialError::Truncated { expected, actual: 1000, .. } if expected > 1000),
        "{}",
        errors[4]
    );
    assert!(
        matches!(errors[5], CredentialError::PrivateKeyRequired { .. }),
        "{}",
        errors[5]
    );
    for e in &errors {
        assert_eq!(e.outcome(), Outcome::Invalid, "{e}");
        assert!(!e.to_string().ends_with('.'), "{e}");
        assert!(!format!("{e:?}").contains("wrong-passphrase-9d1c"), "{e:?}");
    }
}

#[test]
fn damaged_pkcs12_and_der_files_are_errors_never_panics() {
    let pass = Some(o365sync::auth::Secret::new(b"fixture-aes".to_vec()));
    for name in ["aes.p12", "legacy.pfx", "cert.cer", "key-pkcs8.der"] {
        let original = fixture_bytes(name);
        // Every 7th byte flipped, one at a time, and cuts at many lengths.
        let mut inputs: Vec<Vec<u8>> = (0..original.len())
            .step_by(7)
            .map(|i| {
                let mut bytes = original.clone();
                bytes[i] ^= 0x5a;
                bytes
            })
            .collect();
        inputs.extend(
            (0..original.len())
                .step_by(97)
                .map(|n| original[..n].to_vec()),
        );
        for input in inputs {
            let result = o365sync::auth::Credential::from_pem(
                &input,
                &input,
                pass.clone(),
                SigningAlgorithm::Rs256,
                jiff::Timestamp::now(),
            );
            if let Err(e) = result {
                assert_eq!(e.outcome(), Outcome::Invalid, "{name}: {e}");
                assert!(!e.to_string().contains("fixture-aes"), "{name}: {e}");
            }
        }
    }
}
