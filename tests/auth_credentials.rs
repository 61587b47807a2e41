//! Loading certificate credentials from the PEM files operators have, and refusing bad ones with clear errors.

mod auth_support;

use std::path::PathBuf;

use auth_support::{TestCert, now, other, shared, write};
use base64::Engine as _;
use jiff::Timestamp;
use o365sync::auth::{
    Credential, CredentialError, CredentialSource, CredentialWarning, PassphraseSource, Secret,
    SigningAlgorithm,
};

fn source(cert: PathBuf, key: PathBuf) -> CredentialSource {
    CredentialSource {
        certificate: cert,
        private_key: Some(key),
        passphrase: None,
        signing: SigningAlgorithm::Rs256,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn pkcs8_key_and_certificate_load_with_thumbprints_and_facts() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let cert = write(dir.path(), "certificate.pem", &t.cert_pem);
    let key = write(dir.path(), "key.pem", t.key_pkcs8_pem());
    let cred = source(cert, key).load_at(now()).unwrap();
    let info = cred.info();
    assert_eq!(info.subject, "CN=o365sync-test");
    assert_eq!(info.key_bits, 2048);
    assert_eq!(info.chain_len, 1);
    assert_eq!(
        info.not_before,
        "2024-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(
        info.not_after,
        "2034-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
    );
    assert!(info.warnings.is_empty());
    assert_eq!(cred.certificate_der(), t.cert_der.as_slice());
    // x5t is the base64url of the raw SHA-1 digest, and the hex form is that digest in upper case.
    let tp = cred.thumbprints();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    assert_eq!(hex(&b64.decode(&tp.x5t).unwrap()), tp.sha1_hex);
    assert_eq!(hex(&b64.decode(&tp.x5t_s256).unwrap()), tp.sha256_hex);
    assert_eq!(tp.sha1_hex.len(), 40);
    assert_eq!(tp.x5t.len(), 27);
    assert_eq!(tp.x5t_s256.len(), 43);
    // Debug shows facts, never the key.
    let debug = format!("{cred:?}");
    assert!(
        debug.contains(&tp.sha1_hex) && debug.contains("[redacted]"),
        "{debug}"
    );
}

#[test]
fn thumbprints_match_what_openssl_reports_for_its_own_encrypted_pkcs8() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "c.pem", auth_support::OPENSSL_CERT);
    let key = write(dir.path(), "k.pem", auth_support::OPENSSL_ENCRYPTED_KEY);
    let pass = write(
        dir.path(),
        "pass.txt",
        format!("{}\n", auth_support::OPENSSL_PASSPHRASE),
    );
    let mut src = source(cert, key);
    src.passphrase = Some(PassphraseSource::File(pass));
    let cred = src
        .load_at("2030-01-01T00:00:00Z".parse().unwrap())
        .unwrap();
    // `openssl x509 -noout -fingerprint -sha1 / -sha256` on the fixture (an independent implementation).
    assert_eq!(
        cred.thumbprints().sha1_hex,
        "925D63F39741785CBBEB2D628FCBDFF9D77E40C4"
    );
    assert_eq!(
        cred.thumbprints().sha256_hex,
        "FD874B757E5B1AF0A530835C27FDDD9D67B0EE15DCB1E184FB2AC20A73AD11A6"
    );
    assert_eq!(cred.info().subject, "CN=openssl-made");
}

#[test]
fn pkcs1_key_loads_and_gives_the_same_thumbprints() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let cert = write(dir.path(), "certificate.pem", &t.cert_pem);
    let k8 = write(dir.path(), "k8.pem", t.key_pkcs8_pem());
    let k1 = write(dir.path(), "k1.pem", t.key_pkcs1_pem());
    assert!(
        t.key_pkcs1_pem()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----")
    );
    let a = source(cert.clone(), k8).load_at(now()).unwrap();
    let b = source(cert, k1).load_at(now()).unwrap();
    assert_eq!(a.thumbprints(), b.thumbprints());
}

#[test]
fn encrypted_pkcs8_reads_its_passphrase_from_a_file_with_crlf_or_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let cert = write(dir.path(), "certificate.pem", &t.cert_pem);
    let key = write(dir.path(), "key.pem", t.key_encrypted_pem("s3cret pass"));
    let pass = write(dir.path(), "pass.txt", "s3cret pass\r\n");
    let mut src = source(cert.clone(), key.clone());
    src.passphrase = Some(PassphraseSource::File(pass));
    assert_eq!(
        src.load_at(now()).unwrap().info().subject,
        "CN=o365sync-test"
    );

    let var = "O365SYNC_TEST_AUTH_CREDENTIALS_PASS";
    // SAFETY: this test binary reads no other environment variable concurrently; the name is unique to this test.
    unsafe { std::env::set_var(var, "s3cret pass") };
    let mut src = source(cert.clone(), key.clone());
    src.passphrase = Some(PassphraseSource::Env(var.into()));
    assert!(src.load_at(now()).is_ok());

    let unset = "O365SYNC_TEST_AUTH_CREDENTIALS_UNSET";
    src.passphrase = Some(PassphraseSource::Env(unset.into()));
    let err = src.load_at(now()).unwrap_err();
    assert!(matches!(err, CredentialError::PassphraseEnvUnset { ref var } if var == unset));
    assert!(err.to_string().contains("export it"), "{err}");
}

#[test]
fn combined_files_chains_and_windows_line_endings_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let o = other();
    // Key Vault style: key first, then the leaf, then the issuer, with openssl's "Bag Attributes" text between.
    let combined = format!(
        "Bag Attributes\n    localKeyID: 01 00 00 00\n{}subject=CN = o365sync-test\n{}{}",
        t.key_pkcs8_pem(),
        t.cert_pem,
        o.cert_pem
    );
    let crlf = combined.replace('\n', "\r\n");
    let file = write(dir.path(), "combined.pem", &crlf);
    let cred = source(file.clone(), file).load_at(now()).unwrap();
    assert_eq!(cred.info().chain_len, 2);
    assert_eq!(
        cred.certificate_der(),
        t.cert_der.as_slice(),
        "the first CERTIFICATE is the leaf"
    );

    // The same file given only as the key, with a separate certificate file.
    let cert = write(
        dir.path(),
        "certificate.pem",
        t.cert_pem.replace('\n', "\r\n"),
    );
    let key = write(dir.path(), "combined2.pem", &crlf);
    assert!(source(cert, key).load_at(now()).is_ok());
}

#[test]
fn in_memory_pem_loads_with_a_passphrase() {
    let t = shared();
    let cred = Credential::from_pem(
        t.cert_pem.as_bytes(),
        t.key_encrypted_pem("pw").as_bytes(),
        Some(Secret::new(b"pw".to_vec())),
        SigningAlgorithm::Ps256,
        now(),
    )
    .unwrap();
    assert_eq!(cred.signing(), SigningAlgorithm::Ps256);
}

#[test]
fn a_certificate_expiring_within_30_days_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let cert = write(dir.path(), "certificate.pem", &t.cert_pem);
    let key = write(dir.path(), "key.pem", t.key_pkcs8_pem());
    let cred = source(cert.clone(), key.clone())
        .load_at("2033-12-20T00:00:00Z".parse().unwrap())
        .unwrap();
    assert_eq!(
        cred.info().warnings,
        vec![CredentialWarning::ExpiresSoon {
            not_after: "2034-01-01T00:00:00Z".parse().unwrap(),
            days_left: 12
        }]
    );
    assert!(
        cred.info().warnings[0]
            .to_string()
            .contains("create a new certificate")
    );
    let cred = source(cert, key)
        .load_at("2033-12-01T23:59:59Z".parse().unwrap())
        .unwrap();
    assert!(
        cred.info().warnings.is_empty(),
        "31 days left is not a warning"
    );
}

#[test]
fn a_passphrase_for_an_unencrypted_key_is_a_warning() {
    let t = shared();
    let cred = Credential::from_pem(
        t.cert_pem.as_bytes(),
        t.key_pkcs1_pem().as_bytes(),
        Some(Secret::new(b"unused".to_vec())),
        SigningAlgorithm::Rs256,
        now(),
    )
    .unwrap();
    assert_eq!(
        cred.info().warnings,
        vec![CredentialWarning::PassphraseUnused]
    );
}

// ---- bad input: each a clear error ----

fn load_err(cert_pem: &str, key_pem: &str, at: &str) -> CredentialError {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "certificate.pem", cert_pem);
    let key = write(dir.path(), "key.pem", key_pem);
    source(cert, key).load_at(at.parse().unwrap()).unwrap_err()
}

#[test]
fn missing_or_unreadable_files_name_the_path_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let cert = write(dir.path(), "certificate.pem", &t.cert_pem);
    let missing = dir.path().join("nope.pem");
    let err = source(missing.clone(), cert.clone())
        .load_at(now())
        .unwrap_err();
    assert!(matches!(err, CredentialError::CertificateUnreadable { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("nope.pem") && msg.contains("tenant.certificate"),
        "{msg}"
    );

    let err = source(cert.clone(), missing).load_at(now()).unwrap_err();
    assert!(matches!(err, CredentialError::KeyUnreadable { .. }));
    assert!(err.to_string().contains("tenant.private_key"), "{err}");

    // A directory cannot be read as a file.
    let err = source(cert, dir.path().to_owned())
        .load_at(now())
        .unwrap_err();
    assert!(
        matches!(err, CredentialError::KeyUnreadable { .. }),
        "{err}"
    );
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_refused() {
    let t = shared();
    let err = load_err(
        &t.cert_pem,
        &other().key_pkcs8_pem(),
        "2026-06-01T00:00:00Z",
    );
    match &err {
        CredentialError::KeyMismatch { thumbprint, .. } => assert_eq!(thumbprint.len(), 40),
        e => panic!("unexpected {e}"),
    }
    assert!(
        err.to_string().contains("does not match the certificate"),
        "{err}"
    );
}

#[test]
fn an_expired_or_not_yet_valid_certificate_is_refused() {
    let t = shared();
    let err = load_err(&t.cert_pem, &t.key_pkcs8_pem(), "2034-01-01T00:00:00Z");
    assert!(matches!(err, CredentialError::Expired { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("expired at 2034-01-01T00:00:00Z") && msg.contains("create a new certificate"),
        "{msg}"
    );

    let err = load_err(&t.cert_pem, &t.key_pkcs8_pem(), "2023-12-31T23:59:59Z");
    assert!(matches!(err, CredentialError::NotYetValid { .. }), "{err}");
    assert!(err.to_string().contains("check the system clock"), "{err}");

    // A certificate generated already expired, as an operator might find one on disk.
    let old = TestCert::generate("old", (2020, 1, 1), (2021, 1, 1));
    let err = load_err(&old.cert_pem, &old.key_pkcs8_pem(), "2026-06-01T00:00:00Z");
    assert!(matches!(err, CredentialError::Expired { .. }), "{err}");
}

#[test]
fn a_1024_bit_key_is_refused() {
    let err = load_err(
        auth_support::WEAK_1024_CERT,
        auth_support::WEAK_1024_KEY,
        "2030-01-01T00:00:00Z",
    );
    assert!(
        matches!(err, CredentialError::WeakKey { bits: 1024, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("1024-bit") && msg.contains("at least 2048 bits"),
        "{msg}"
    );
}

#[test]
fn a_legacy_proc_type_encrypted_key_says_how_to_convert_it() {
    let t = shared();
    let err = load_err(
        &t.cert_pem,
        auth_support::LEGACY_ENCRYPTED_KEY,
        "2026-06-01T00:00:00Z",
    );
    assert!(
        matches!(err, CredentialError::LegacyEncryptedKey { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
}

#[test]
fn an_encrypted_key_with_a_wrong_or_missing_passphrase_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let cert = write(dir.path(), "certificate.pem", &t.cert_pem);
    let key = write(dir.path(), "key.pem", t.key_encrypted_pem("right"));
    let err = source(cert.clone(), key.clone())
        .load_at(now())
        .unwrap_err();
    assert!(
        matches!(err, CredentialError::PassphraseMissing { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("private_key_passphrase_env"),
        "{err}"
    );

    for wrong in ["Tr0ub4dor&3", "right ", "Right"] {
        let pass = write(dir.path(), "pass.txt", wrong);
        let mut src = source(cert.clone(), key.clone());
        src.passphrase = Some(PassphraseSource::File(pass));
        let err = src.load_at(now()).unwrap_err();
        assert!(
            matches!(err, CredentialError::WrongPassphrase { .. }),
            "{wrong}: {err}"
        );
        assert!(
            !err.to_string().contains(wrong.trim()),
            "the message must not echo the passphrase"
        );
    }

    let mut src = source(cert.clone(), key.clone());
    src.passphrase = Some(PassphraseSource::File(dir.path().join("absent.txt")));
    let err = src.load_at(now()).unwrap_err();
    assert!(
        matches!(err, CredentialError::PassphraseFileUnreadable { .. }),
        "{err}"
    );

    let empty = write(dir.path(), "empty.txt", "\n");
    src.passphrase = Some(PassphraseSource::File(empty));
    let err = src.load_at(now()).unwrap_err();
    assert!(
        matches!(err, CredentialError::PassphraseEmpty { .. }),
        "{err}"
    );
}

#[test]
fn a_key_encrypted_with_3des_by_openssl_req_loads() {
    // OpenSSL 3.0's `openssl req -newkey` encrypts with PBES2 + DES-EDE3-CBC by default: operators have such keys.
    let der = pkcs8::der::Document::from_pem(auth_support::OPENSSL_3DES_KEY)
        .expect("pem")
        .1;
    let plain = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_bytes())
        .expect("encrypted pkcs8")
        .decrypt(auth_support::OPENSSL_PASSPHRASE)
        .expect("3des decrypts");
    let key = rcgen::KeyPair::try_from(plain.as_bytes()).expect("rsa key");
    let cert = TestCert::with_key(key, "o365sync-3des", (2024, 1, 1), (2034, 1, 1));
    let dir = tempfile::tempdir().unwrap();
    let cert_path = write(dir.path(), "certificate.pem", &cert.cert_pem);
    let key_path = write(dir.path(), "key.pem", auth_support::OPENSSL_3DES_KEY);
    let pass = write(dir.path(), "pass.txt", auth_support::OPENSSL_PASSPHRASE);
    let mut src = source(cert_path, key_path);
    src.passphrase = Some(PassphraseSource::File(pass.clone()));
    let credential = src.load_at(now()).expect("3des key loads");
    assert_eq!(credential.certificate_der(), cert.cert_der.as_slice());
    std::fs::write(&pass, "wrong horse").unwrap();
    let err = src.load_at(now()).unwrap_err();
    assert!(
        matches!(err, CredentialError::WrongPassphrase { .. }),
        "{err}"
    );
}

#[test]
fn a_file_without_a_certificate_is_refused() {
    let t = shared();
    let err = load_err(
        &t.key_pkcs8_pem(),
        &t.key_pkcs8_pem(),
        "2026-06-01T00:00:00Z",
    );
    assert!(
        matches!(err, CredentialError::NoCertificate { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");

    let err = load_err(&t.cert_pem, &t.cert_pem, "2026-06-01T00:00:00Z");
    assert!(matches!(err, CredentialError::NoPrivateKey { .. }), "{err}");
}

#[test]
fn garbage_der_and_damaged_pem_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = shared();
    let key = write(dir.path(), "key.pem", t.key_pkcs8_pem());
    let garbage: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // (A DER certificate is a certificate now: tests/auth_formats.rs loads one.)
    let cases: Vec<(&str, Vec<u8>)> = vec![("garbage.bin", garbage), ("empty.pem", Vec::new())];
    for (name, bytes) in cases {
        let cert = write(dir.path(), name, &bytes);
        let err = source(cert, key.clone()).load_at(now()).unwrap_err();
        assert!(
            matches!(
                err,
                CredentialError::NotPem {
                    what: "certificate",
                    ..
                }
            ),
            "{name}: {err}"
        );
        assert!(err.to_string().contains("PEM, DER or PKCS#12"), "{err}");
    }
    let cut = &t.cert_pem[..t.cert_pem.len() / 2];
    let cert = write(dir.path(), "cut.pem", cut);
    let err = source(cert, key.clone()).load_at(now()).unwrap_err();
    assert!(matches!(err, CredentialError::MalformedPem { .. }), "{err}");

    let not_x509 = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    let cert = write(dir.path(), "bad.pem", not_x509);
    let err = source(cert.clone(), key).load_at(now()).unwrap_err();
    assert!(
        matches!(err, CredentialError::InvalidCertificate { .. }),
        "{err}"
    );

    let bad_key = "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n";
    let good_cert = write(dir.path(), "good.pem", &t.cert_pem);
    let key = write(dir.path(), "badkey.pem", bad_key);
    let err = source(good_cert, key).load_at(now()).unwrap_err();
    assert!(
        matches!(err, CredentialError::InvalidPrivateKey { .. }),
        "{err}"
    );
}

#[test]
fn non_rsa_certificates_and_keys_are_refused() {
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec_pem = ec.serialize_pem();
    let ec_cert = TestCert::with_key(ec, "ec", (2024, 1, 1), (2034, 1, 1));
    let err = load_err(&ec_cert.cert_pem, &ec_pem, "2026-06-01T00:00:00Z");
    assert!(matches!(err, CredentialError::NotRsa { .. }), "{err}");
    let err = load_err(&shared().cert_pem, &ec_pem, "2026-06-01T00:00:00Z");
    assert!(
        matches!(err, CredentialError::UnsupportedKey { .. }),
        "{err}"
    );
}

#[test]
fn a_client_secret_gets_an_error_that_explains_certificates_are_required() {
    let msg = CredentialError::ClientSecretNotSupported.to_string();
    assert!(
        msg.contains("client secrets are not supported") && msg.contains("tenant.certificate"),
        "{msg}"
    );
}

#[test]
fn every_error_message_is_lowercase_without_a_trailing_period() {
    let t = shared();
    let errors = [
        load_err(
            &t.cert_pem,
            &other().key_pkcs8_pem(),
            "2026-06-01T00:00:00Z",
        ),
        load_err(
            &t.cert_pem,
            auth_support::LEGACY_ENCRYPTED_KEY,
            "2026-06-01T00:00:00Z",
        ),
        load_err("junk", "junk", "2026-06-01T00:00:00Z"),
        load_err(&t.cert_pem, &t.key_pkcs8_pem(), "2040-01-01T00:00:00Z"),
        CredentialError::ClientSecretNotSupported,
    ];
    for e in errors {
        let m = e.to_string();
        assert!(!m.ends_with('.'), "{m}");
        assert!(m.chars().next().is_some_and(|c| !c.is_uppercase()), "{m}");
    }
}
