//! Test credentials for the auth tests, generated with rcgen + aws-lc-rs + pkcs8 at test time.
//!
//! The few `.pem` files next to this module could not be made that way and were generated once with OpenSSL 3.0
//! (throwaway keys, test use only):
//! - `weak-1024-*.pem`: `openssl req -x509 -newkey rsa:1024 -nodes …` (aws-lc-rs cannot generate 1024-bit keys);
//! - `legacy-encrypted-key.pem`: `openssl rsa -aes128 -traditional` (the legacy `Proc-Type: 4,ENCRYPTED` format);
//! - `openssl-encrypted-key.pem` + `openssl-cert.pem`: `openssl genpkey -algorithm RSA -aes-256-cbc -pass
//!   pass:correct-horse` then `openssl req -x509 -key …`: OpenSSL's own encrypted PKCS#8 (PBES2,
//!   PBKDF2-HMAC-SHA256, AES-256-CBC), to prove we read what operators produce;
//! - `openssl-3des-key.pem`: `openssl req -x509 -newkey rsa:2048 -passout pass:correct-horse` (OpenSSL 3.0 encrypts
//!   it with PBES2 + DES-EDE3-CBC by default), which gets an error saying how to re-encrypt it.
#![allow(dead_code)]

pub mod emu;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pkcs8::der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;

pub const WEAK_1024_CERT: &str = include_str!("weak-1024-cert.pem");
pub const WEAK_1024_KEY: &str = include_str!("weak-1024-key.pem");
pub const LEGACY_ENCRYPTED_KEY: &str = include_str!("legacy-encrypted-key.pem");
pub const OPENSSL_CERT: &str = include_str!("openssl-cert.pem");
pub const OPENSSL_ENCRYPTED_KEY: &str = include_str!("openssl-encrypted-key.pem");
pub const OPENSSL_3DES_KEY: &str = include_str!("openssl-3des-key.pem");
pub const OPENSSL_PASSPHRASE: &str = "correct-horse";

/// A self-signed RSA certificate and its key.
pub struct TestCert {
    /// PKCS#8 DER of the private key.
    pub key_pkcs8: Vec<u8>,
    /// The certificate's DER.
    pub cert_der: Vec<u8>,
    /// The certificate as PEM.
    pub cert_pem: String,
}

impl TestCert {
    /// A new 2048-bit RSA certificate valid from `not_before` to `not_after` (y, m, d).
    pub fn generate(cn: &str, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> TestCert {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("rsa keygen");
        Self::with_key(key, cn, not_before, not_after)
    }

    /// A certificate for an existing key.
    pub fn with_key(
        key: rcgen::KeyPair,
        cn: &str,
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> TestCert {
        let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert = params.self_signed(&key).expect("self-signed");
        TestCert {
            key_pkcs8: key.serialize_der(),
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
        }
    }

    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    pub fn key_pkcs8_pem(&self) -> String {
        pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &self.key_pkcs8).expect("pem")
    }

    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1).
    pub fn key_pkcs1_pem(&self) -> String {
        let info = pkcs8::PrivateKeyInfo::try_from(self.key_pkcs8.as_slice()).expect("pkcs8");
        pkcs8::der::pem::encode_string("RSA PRIVATE KEY", LineEnding::LF, info.private_key)
            .expect("pem")
    }

    /// `-----BEGIN ENCRYPTED PRIVATE KEY-----` (PBES2, PBKDF2-SHA256, AES-256-CBC — what OpenSSL writes).
    pub fn key_encrypted_pem(&self, passphrase: &str) -> String {
        let info = pkcs8::PrivateKeyInfo::try_from(self.key_pkcs8.as_slice()).expect("pkcs8");
        let salt: [u8; 16] = rand::random();
        let iv: [u8; 16] = rand::random();
        let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).expect("pbes2");
        let doc = info
            .encrypt_with_params(params, passphrase)
            .expect("encrypt");
        doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .expect("pem")
            .to_string()
    }
}

/// A 2048-bit certificate valid 2024-01-01 ..= 2034-01-01, generated once per test binary.
pub fn shared() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| TestCert::generate("o365sync-test", (2024, 1, 1), (2034, 1, 1)))
}

/// A second, unrelated certificate (for mismatches).
pub fn other() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| TestCert::generate("o365sync-other", (2024, 1, 1), (2034, 1, 1)))
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write test file");
    path
}

/// A moment inside every generated certificate's validity.
pub fn now() -> jiff::Timestamp {
    "2026-06-01T00:00:00Z".parse().expect("timestamp")
}
