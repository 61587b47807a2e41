//! The credential loaders on arbitrary bytes: PEM (any text encoding, several blocks, encrypted PKCS#8), DER
//! certificates and keys (PKCS#8, PKCS#1), PKCS#12 (PBES1, PBES2, RC2, 3DES, AES, MACs). A refusal is an error whose
//! text carries neither the passphrase nor the key's bytes; never a panic.
//!
//! Input: one byte choosing the role of the rest, the passphrase and the signing algorithm, then the file's contents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365sync::auth::{Credential, Secret, SigningAlgorithm};

const KEY: &[u8] = include_bytes!("../../fixtures/credentials/key.pem");
const CERT: &[u8] = include_bytes!("../../fixtures/credentials/cert.pem");
/// The fixtures' passphrases (see fixtures/credentials/README.md) and the seeds' encrypted keys' one.
const PASSPHRASES: &[&str] = &[
    "fixture-legacy",
    "fixture-3des",
    "fixture-aes",
    "",
    "fixture-chain",
    "fuzz-passphrase",
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let passphrase = match usize::from(selector >> 2) % (PASSPHRASES.len() + 1) {
        0 => None,
        i => Some(PASSPHRASES[i - 1]),
    };
    let now = jiff::Timestamp::from_second(1_767_225_600).expect("now");
    let (certificate, key) = match selector % 4 {
        // the file as the certificate, the fixture key beside it
        0 => (file, Some(KEY)),
        // the fixture certificate, the file as its key
        1 => (CERT, Some(file)),
        // one file holding both (PKCS#12, combined PEM)
        2 => (file, None),
        // the same bytes named twice
        _ => (file, Some(file)),
    };
    let secret = passphrase.map(|p| Secret::new(p.as_bytes().to_vec()));
    let signing = if selector & 0x80 == 0 {
        SigningAlgorithm::Rs256
    } else {
        SigningAlgorithm::Ps256
    };
    {
        match Credential::from_bytes(certificate, key, secret.clone(), signing, now) {
            Ok(credential) => {
                let _ = credential.info();
                let _ = credential.thumbprints();
            }
            Err(error) => {
                let text = format!("{error} {error:?}");
                // (unless the file itself holds that text, which an error may quote, a PEM label say)
                if let Some(p) =
                    passphrase.filter(|p| p.len() >= 4 && !contains(file, p.as_bytes()))
                {
                    assert!(!text.contains(p), "the passphrase is in an error: {text}");
                }
                // no run of the key file's bytes (a PEM line, a DER tail) is echoed back
                if key == Some(file) {
                    for line in file.split(|&b| b == b'\n').filter(|l| l.len() >= 24) {
                        let line = String::from_utf8_lossy(line);
                        let line = line.trim();
                        if line.len() >= 24 && !line.starts_with("-----") && !line.contains(':') {
                            assert!(
                                !text.contains(line),
                                "a line of the key is in an error: {text}"
                            );
                        }
                    }
                }
            }
        }
    }
});
