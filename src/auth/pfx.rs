//! Opening a PKCS#12 (`.pfx` / `.p12`) file: MAC check, decryption of the certificate and key bags, and the bags'
//! `localKeyId` attributes.
//!
//! The ASN.1 structures come from RustCrypto's `pkcs12` (with its RFC 7292 appendix B key derivation), `cms` and
//! `x509-cert`; PBES2 (PBKDF2 or scrypt with AES-CBC or 3DES) is `pkcs5`'s; the legacy PKCS#12 PBE schemes
//! (`pbeWithSHAAnd3-KeyTripleDES-CBC`, `pbeWithSHAAnd40BitRC2-CBC`, …) are the `pkcs12` key derivation feeding the
//! `des` / `rc2` block ciphers in `cbc` mode; the MAC is aws-lc-rs's HMAC. This module only connects them.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyIvInit};
use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use der::asn1::{ContextSpecific, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use pkcs8::spki::AlgorithmIdentifierOwned;
use pkcs12::kdf::{Pkcs12KeyType, derive_key};
use pkcs12::pbe_params::{EncryptedPrivateKeyInfo, Pkcs12PbeParams};
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::{SafeBag, SafeContents};

use super::secret::Secret;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const ID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
const KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const SAFE_CONTENTS_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.6");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const PBE_SHA1_2DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.4");
const PBE_SHA1_RC2_128: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.5");
const PBE_SHA1_RC2_40: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Iteration counts above this are refused (a hostile file could otherwise make the key derivation run for hours).
/// OpenSSL writes 2048, Windows 2000 to 10000.
const MAX_ITERATIONS: u64 = 10_000_000;

/// Nesting of `safeContentsBag`s followed before giving up.
const MAX_DEPTH: usize = 4;

/// Why a PKCS#12 file could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PfxError {
    /// Not a DER PKCS#12 structure (the reason is the decoder's, never data).
    Malformed(String),
    /// The integrity check (MAC) failed: wrong password, or (without a password) one is needed.
    MacMismatch,
    /// Decryption failed without a MAC to check first: almost surely the wrong password.
    DecryptFailed,
    /// An encryption or MAC scheme this module does not read.
    Unsupported(String),
}

/// A certificate or key bag and its `localKeyId` attribute.
pub(crate) struct Bag<T> {
    pub value: T,
    pub local_key_id: Option<Vec<u8>>,
}

/// What a PKCS#12 file holds, decrypted.
pub(crate) struct Contents {
    /// DER certificates, in file order.
    pub certificates: Vec<Bag<Vec<u8>>>,
    /// PKCS#8 `PrivateKeyInfo` DER, in file order.
    pub keys: Vec<Bag<Secret<Vec<u8>>>>,
    /// How the file was protected, e.g. `AES-256-CBC, PBKDF2, HMAC-SHA256 MAC`.
    pub scheme: String,
}

/// Whether `der` decodes as a PFX structure (nothing decrypted).
pub(crate) fn is_pfx(der: &[u8]) -> bool {
    Pfx::from_der(der).is_ok()
}

/// The decoder's complaint when `der` is not a PFX structure.
pub(crate) fn pfx_decode_error(der: &[u8]) -> Option<String> {
    Pfx::from_der(der).err().map(|e| e.to_string())
}

/// The password in the two encodings PKCS#12 uses.
struct Password {
    /// As given (UTF-8): what PBES2 (PBKDF2) derives from.
    raw: Secret<Vec<u8>>,
    /// BMPString (UTF-16BE) with two terminating zero bytes: what the PKCS#12 KDF (MAC, legacy PBE) derives from;
    /// empty for the "no password" convention.
    bmp: Secret<Vec<u8>>,
}

impl Password {
    fn new(raw: &[u8]) -> Password {
        let text = String::from_utf8_lossy(raw);
        let mut bmp: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        bmp.extend([0, 0]);
        Password {
            raw: Secret::new(raw.to_vec()),
            bmp: Secret::new(bmp),
        }
    }

    /// The absent password: no bytes at all, not even the terminator.
    fn absent() -> Password {
        Password {
            raw: Secret::new(Vec::new()),
            bmp: Secret::new(Vec::new()),
        }
    }
}

/// Opens a PKCS#12 file. `password: None` tries the empty password (both conventions), as OpenSSL does.
pub(crate) fn open(der: &[u8], password: Option<&[u8]>) -> Result<Contents, PfxError> {
    let pfx = Pfx::from_der(der).map_err(|e| PfxError::Malformed(e.to_string()))?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(PfxError::Unsupported(
            "public-key integrity mode (the authenticated safe is signed, not password-protected)"
                .into(),
        ));
    }
    let auth_safe = octets_of(&pfx.auth_safe.content)?;
    let candidates = match password {
        Some(p) => vec![Password::new(p)],
        None => vec![Password::new(b""), Password::absent()],
    };
    let mut schemes = Schemes::default();
    let password = match &pfx.mac_data {
        Some(mac) => {
            schemes.mac = Some(mac_name(&mac.mac.algorithm.oid)?);
            let mut matched = None;
            for candidate in candidates {
                if verify_mac(mac, &auth_safe, &candidate)? {
                    matched = Some(candidate);
                    break;
                }
            }
            matched.ok_or(PfxError::MacMismatch)?
        }
        None => candidates
            .into_iter()
            .next()
            .unwrap_or_else(Password::absent),
    };
    let infos = Vec::<ContentInfo>::from_der(&auth_safe)
        .map_err(|e| PfxError::Malformed(format!("authenticated safe: {e}")))?;
    let mut contents = Contents {
        certificates: Vec::new(),
        keys: Vec::new(),
        scheme: String::new(),
    };
    let has_mac = pfx.mac_data.is_some();
    for info in infos {
        let mut decrypted = false;
        let bags = if info.content_type == ID_DATA {
            octets_of(&info.content)?
        } else if info.content_type == ID_ENCRYPTED_DATA {
            decrypted = true;
            let encrypted = EncryptedData::from_der(&to_der(&info.content)?)
                .map_err(|e| PfxError::Malformed(format!("encrypted data: {e}")))?;
            let data = encrypted
                .enc_content_info
                .encrypted_content
                .as_ref()
                .map(OctetString::as_bytes)
                .unwrap_or_default();
            decrypt(
                &encrypted.enc_content_info.content_enc_alg,
                data,
                &password,
                &mut schemes,
            )?
            .expose()
            .clone()
        } else if info.content_type == ID_ENVELOPED_DATA {
            return Err(PfxError::Unsupported(
                "public-key privacy mode (envelopedData)".into(),
            ));
        } else {
            return Err(PfxError::Unsupported(format!(
                "content type {}",
                info.content_type
            )));
        };
        read_bags(&bags, &password, &mut schemes, &mut contents, 0).map_err(|e| match e {
            // Without a MAC, a wrong password can still give valid padding (1 in 256): the bags are then noise.
            PfxError::Malformed(_) if decrypted && !has_mac => PfxError::DecryptFailed,
            other => other,
        })?;
    }
    contents.scheme = schemes.describe();
    Ok(contents)
}

fn to_der(any: &Any) -> Result<Vec<u8>, PfxError> {
    any.to_der()
        .map_err(|e| PfxError::Malformed(format!("re-encoding: {e}")))
}

/// The bytes of an `OCTET STRING` held in an `ANY` (a `ContentInfo`'s `[0] EXPLICIT` content).
fn octets_of(any: &Any) -> Result<Vec<u8>, PfxError> {
    let os = OctetString::from_der(&to_der(any)?)
        .map_err(|e| PfxError::Malformed(format!("data content: {e}")))?;
    Ok(os.as_bytes().to_vec())
}

fn read_bags(
    der: &[u8],
    password: &Password,
    schemes: &mut Schemes,
    contents: &mut Contents,
    depth: usize,
) -> Result<(), PfxError> {
    let bags =
        SafeContents::from_der(der).map_err(|e| PfxError::Malformed(format!("safe bags: {e}")))?;
    for bag in bags {
        let local_key_id = local_key_id(&bag);
        if bag.bag_id == CERT_BAG {
            let cert: ContextSpecific<pkcs12::cert_type::CertBag> =
                ContextSpecific::from_der(&bag.bag_value)
                    .map_err(|e| PfxError::Malformed(format!("certificate bag: {e}")))?;
            // Other certificate types (SDSI) are not X.509 certificates: skip them.
            if cert.value.cert_id == X509_CERTIFICATE {
                contents.certificates.push(Bag {
                    value: cert.value.cert_value.as_bytes().to_vec(),
                    local_key_id,
                });
            }
        } else if bag.bag_id == KEY_BAG {
            let key: ContextSpecific<Any> = ContextSpecific::from_der(&bag.bag_value)
                .map_err(|e| PfxError::Malformed(format!("key bag: {e}")))?;
            schemes.plain_key = true;
            contents.keys.push(Bag {
                value: Secret::new(to_der(&key.value)?),
                local_key_id,
            });
        } else if bag.bag_id == SHROUDED_KEY_BAG {
            let key: ContextSpecific<EncryptedPrivateKeyInfo> =
                ContextSpecific::from_der(&bag.bag_value)
                    .map_err(|e| PfxError::Malformed(format!("shrouded key bag: {e}")))?;
            let plain = decrypt(
                &key.value.encryption_algorithm,
                key.value.encrypted_data.as_bytes(),
                password,
                schemes,
            )?;
            contents.keys.push(Bag {
                value: plain,
                local_key_id,
            });
        } else if bag.bag_id == SAFE_CONTENTS_BAG {
            if depth >= MAX_DEPTH {
                return Err(PfxError::Malformed(
                    "safe contents nested too deeply".into(),
                ));
            }
            let inner: ContextSpecific<Any> = ContextSpecific::from_der(&bag.bag_value)
                .map_err(|e| PfxError::Malformed(format!("safe contents bag: {e}")))?;
            read_bags(
                &to_der(&inner.value)?,
                password,
                schemes,
                contents,
                depth + 1,
            )?;
        }
        // CRL and secret bags carry nothing o365sync uses.
    }
    Ok(())
}

fn local_key_id(bag: &SafeBag) -> Option<Vec<u8>> {
    let attributes = bag.bag_attributes.as_ref()?;
    let attribute = attributes.iter().find(|a| a.oid == LOCAL_KEY_ID)?;
    let value = attribute.values.iter().next()?;
    let os = OctetString::from_der(&value.to_der().ok()?).ok()?;
    Some(os.as_bytes().to_vec())
}

/// The names of the schemes met while opening, for the operator (`doctor`).
#[derive(Default)]
struct Schemes {
    ciphers: Vec<String>,
    kdfs: Vec<String>,
    mac: Option<String>,
    plain_key: bool,
}

impl Schemes {
    fn note(&mut self, cipher: &str, kdf: &str) {
        if !self.ciphers.iter().any(|c| c == cipher) {
            self.ciphers.push(cipher.to_owned());
        }
        if !self.kdfs.iter().any(|k| k == kdf) {
            self.kdfs.push(kdf.to_owned());
        }
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.ciphers.is_empty() {
            parts.push("not encrypted".to_owned());
        } else {
            parts.push(self.ciphers.join(" + "));
            parts.push(self.kdfs.join(" + "));
            if self.plain_key {
                parts.push("key not encrypted".to_owned());
            }
        }
        parts.push(match &self.mac {
            Some(mac) => format!("{mac} MAC"),
            None => "no MAC".to_owned(),
        });
        parts.join(", ")
    }
}

fn mac_name(oid: &ObjectIdentifier) -> Result<String, PfxError> {
    Ok(match *oid {
        SHA1 => "HMAC-SHA1",
        SHA256 => "HMAC-SHA256",
        SHA384 => "HMAC-SHA384",
        SHA512 => "HMAC-SHA512",
        other => return Err(PfxError::Unsupported(format!("MAC digest {other}"))),
    }
    .to_owned())
}

fn check_iterations(iterations: i64) -> Result<i32, PfxError> {
    if iterations < 1 || iterations as u64 > MAX_ITERATIONS {
        return Err(PfxError::Unsupported(format!(
            "iteration count {iterations}"
        )));
    }
    i32::try_from(iterations)
        .map_err(|_| PfxError::Unsupported(format!("iteration count {iterations}")))
}

/// Verifies the file's MAC (RFC 7292 appendix B key, HMAC over the authenticated safe) with one password.
fn verify_mac(
    mac: &pkcs12::mac_data::MacData,
    data: &[u8],
    password: &Password,
) -> Result<bool, PfxError> {
    use aws_lc_rs::hmac;
    let rounds = check_iterations(i64::from(mac.iterations))?;
    let salt = mac.mac_salt.as_bytes();
    let bmp = password.bmp.expose();
    let (algorithm, key) = match mac.mac.algorithm.oid {
        SHA1 => (
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            derive_key::<sha1::Sha1>(bmp, salt, Pkcs12KeyType::Mac, rounds, 20),
        ),
        SHA256 => (
            hmac::HMAC_SHA256,
            derive_key::<sha2::Sha256>(bmp, salt, Pkcs12KeyType::Mac, rounds, 32),
        ),
        SHA384 => (
            hmac::HMAC_SHA384,
            derive_key::<sha2::Sha384>(bmp, salt, Pkcs12KeyType::Mac, rounds, 48),
        ),
        SHA512 => (
            hmac::HMAC_SHA512,
            derive_key::<sha2::Sha512>(bmp, salt, Pkcs12KeyType::Mac, rounds, 64),
        ),
        other => return Err(PfxError::Unsupported(format!("MAC digest {other}"))),
    };
    let key = Secret::new(key);
    let key = hmac::Key::new(algorithm, key.expose());
    Ok(hmac::verify(&key, data, mac.mac.digest.as_bytes()).is_ok())
}

/// Decrypts one encrypted bag or safe with its algorithm, noting the scheme's name.
fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    data: &[u8],
    password: &Password,
    schemes: &mut Schemes,
) -> Result<Secret<Vec<u8>>, PfxError> {
    let params = algorithm.parameters.as_ref().ok_or_else(|| {
        PfxError::Malformed(format!("encryption {} without parameters", algorithm.oid))
    })?;
    if algorithm.oid == PBES2 {
        let params = pkcs5::pbes2::Parameters::try_from(der::AnyRef::from(params))
            .map_err(|e| PfxError::Unsupported(format!("PBES2 parameters: {e}")))?;
        let cipher = cipher_name(&params.encryption.oid());
        let kdf = match &params.kdf {
            pkcs5::pbes2::Kdf::Pbkdf2(p) => {
                check_iterations(i64::from(p.iteration_count))?;
                "PBKDF2"
            }
            pkcs5::pbes2::Kdf::Scrypt(_) => "scrypt",
            _ => "KDF",
        };
        schemes.note(&cipher, kdf);
        return match params.decrypt(password.raw.expose(), data) {
            Ok(plain) => Ok(Secret::new(plain)),
            Err(pkcs5::Error::DecryptFailed) => Err(PfxError::DecryptFailed),
            Err(e) => Err(PfxError::Unsupported(format!("{cipher} with {kdf}: {e}"))),
        };
    }
    let (name, key_len) = match algorithm.oid {
        PBE_SHA1_3DES => ("3DES-CBC", 24),
        PBE_SHA1_2DES => ("2-key 3DES-CBC", 16),
        PBE_SHA1_RC2_128 => ("RC2-128-CBC", 16),
        PBE_SHA1_RC2_40 => ("RC2-40-CBC", 5),
        other => return Err(PfxError::Unsupported(scheme_name(&other))),
    };
    let pbe = Pkcs12PbeParams::from_der(
        &params
            .to_der()
            .map_err(|e| PfxError::Malformed(format!("{name} parameters: {e}")))?,
    )
    .map_err(|e| PfxError::Malformed(format!("{name} parameters: {e}")))?;
    let rounds = check_iterations(i64::from(pbe.iterations))?;
    schemes.note(name, "PBE-SHA1");
    let salt = pbe.salt.as_bytes();
    let bmp = password.bmp.expose();
    let key = Secret::new(derive_key::<sha1::Sha1>(
        bmp,
        salt,
        Pkcs12KeyType::EncryptionKey,
        rounds,
        key_len,
    ));
    let iv = derive_key::<sha1::Sha1>(bmp, salt, Pkcs12KeyType::Iv, rounds, 8);
    let key = key.expose();
    let bad_length = |_| PfxError::Malformed(format!("{name} key or iv length"));
    let plain = match algorithm.oid {
        PBE_SHA1_3DES => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, &iv)
            .map_err(bad_length)?
            .decrypt_padded_vec_mut::<Pkcs7>(data),
        PBE_SHA1_2DES => cbc::Decryptor::<des::TdesEde2>::new_from_slices(key, &iv)
            .map_err(bad_length)?
            .decrypt_padded_vec_mut::<Pkcs7>(data),
        _ => {
            let bits = key_len * 8;
            let rc2 = rc2::Rc2::new_with_eff_key_len(key, bits);
            cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, &iv)
                .map_err(bad_length)?
                .decrypt_padded_vec_mut::<Pkcs7>(data)
        }
    };
    // Bad padding: the key (so the password) is wrong.
    plain.map(Secret::new).map_err(|_| PfxError::DecryptFailed)
}

fn cipher_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "2.16.840.1.101.3.4.1.2" => "AES-128-CBC".to_owned(),
        "2.16.840.1.101.3.4.1.22" => "AES-192-CBC".to_owned(),
        "2.16.840.1.101.3.4.1.42" => "AES-256-CBC".to_owned(),
        "1.2.840.113549.3.7" => "3DES-CBC".to_owned(),
        "1.3.14.3.2.7" => "DES-CBC".to_owned(),
        other => format!("cipher {other}"),
    }
}

fn scheme_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.12.1.1" => "RC4-128 (PBE-SHA1)".to_owned(),
        "1.2.840.113549.1.12.1.2" => "RC4-40 (PBE-SHA1)".to_owned(),
        "1.2.840.113549.1.5.3" => "PBES1 with MD5 and DES".to_owned(),
        "1.2.840.113549.1.5.10" => "PBES1 with SHA-1 and DES".to_owned(),
        other => format!("encryption {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_input_are_malformed_not_a_panic() {
        for input in [
            &b""[..],
            &[0x30, 0x03, 0x02, 0x01, 0x03][..],
            &[0xff; 40][..],
        ] {
            assert!(!is_pfx(input));
            assert!(matches!(open(input, None), Err(PfxError::Malformed(_))));
        }
    }

    #[test]
    fn schemes_describe_what_was_met() {
        let mut s = Schemes::default();
        assert_eq!(s.describe(), "not encrypted, no MAC");
        s.note("RC2-40-CBC", "PBE-SHA1");
        s.note("3DES-CBC", "PBE-SHA1");
        s.note("3DES-CBC", "PBE-SHA1");
        s.mac = Some("HMAC-SHA1".into());
        assert_eq!(
            s.describe(),
            "RC2-40-CBC + 3DES-CBC, PBE-SHA1, HMAC-SHA1 MAC"
        );
    }

    #[test]
    fn the_bmp_password_is_utf16be_with_a_terminator() {
        let p = Password::new("aé".as_bytes());
        assert_eq!(p.bmp.expose(), &vec![0, b'a', 0, 0xe9, 0, 0]);
        assert_eq!(p.raw.expose(), &"aé".as_bytes().to_vec());
        assert!(Password::absent().bmp.expose().is_empty());
    }
}
