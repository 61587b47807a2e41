//! Certificates: the throwaway certificate of tests and the demo, and the registered certificates the token endpoint
//! verifies client assertions against.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;

use super::EmulatorError;

/// A freshly generated self-signed RSA 2048 certificate and its key.
pub struct ThrowawayCertificate {
    /// The certificate as PEM (`CERTIFICATE`).
    pub certificate_pem: String,
    /// The private key as unencrypted PKCS#8 PEM (`PRIVATE KEY`).
    pub private_key_pem: String,
    /// The certificate's DER bytes (what the emulator is told to trust).
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for ThrowawayCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrowawayCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// Generates a self-signed RSA 2048 certificate (valid from the start of last year for three years) with this common
/// name.
pub fn throwaway_certificate(common_name: &str) -> Result<ThrowawayCertificate, EmulatorError> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .map_err(|e| EmulatorError::Certificate(format!("cannot generate an rsa key: {e}")))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| EmulatorError::Certificate(format!("cannot build certificate: {e}")))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let year = i32::from(
        jiff::Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .year(),
    );
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 2, 1, 1);
    let cert = params
        .self_signed(&key)
        .map_err(|e| EmulatorError::Certificate(format!("cannot sign certificate: {e}")))?;
    Ok(ThrowawayCertificate {
        certificate_pem: cert.pem(),
        private_key_pem: key.serialize_pem(),
        certificate_der: cert.der().to_vec(),
    })
}

/// Reads every `CERTIFICATE` block of a PEM text (UTF-8, or UTF-16 with a byte-order mark) and returns their DER
/// bytes (at least one). A DER certificate is returned as it is.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, EmulatorError> {
    if crate::auth::certificate_facts(pem).is_ok() {
        return Ok(vec![pem.to_vec()]);
    }
    let (text, _) = crate::auth::decode_text(pem).map_err(|e| {
        EmulatorError::Certificate(format!(
            "cannot read pem: {e}; give a file with a CERTIFICATE block"
        ))
    })?;
    let blocks = crate::auth::parse_blocks(&text).map_err(|e| {
        EmulatorError::Certificate(format!(
            "cannot read pem: {e}; give a file with a CERTIFICATE block"
        ))
    })?;
    let out: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect();
    if out.is_empty() {
        return Err(EmulatorError::Certificate(
            "no CERTIFICATE block found: give a pem file holding the application's certificate"
                .to_owned(),
        ));
    }
    Ok(out)
}

/// The SHA-1 thumbprint of DER bytes as base64url (the `x5t` header).
pub fn x5t(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

/// The SHA-256 thumbprint of DER bytes as base64url (the `x5t#S256` header).
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der))
}

/// A certificate registered for the application: its thumbprints and public key.
pub(crate) struct RegisteredCertificate {
    pub x5t: String,
    pub x5t_s256: String,
    pub key: DecodingKey,
}

impl RegisteredCertificate {
    /// Parses a DER certificate holding an RSA public key of at least 2048 bits.
    pub fn from_der(der: &[u8]) -> Result<Self, EmulatorError> {
        let facts = crate::auth::certificate_facts(der).map_err(|e| {
            EmulatorError::Certificate(format!("cannot parse trusted certificate: {e}"))
        })?;
        let (modulus, exponent) = facts.public_key.map_err(|_| {
            EmulatorError::Certificate(
                "trusted certificate does not hold an rsa public key: register an rsa certificate"
                    .to_owned(),
            )
        })?;
        let bits = modulus.len() * 8 - modulus.first().map_or(0, |b| b.leading_zeros() as usize);
        if bits < 2048 {
            return Err(EmulatorError::Certificate(format!(
                "trusted certificate has a {bits}-bit rsa key: register one of at least 2048 bits"
            )));
        }
        Ok(RegisteredCertificate {
            x5t: x5t(der),
            x5t_s256: x5t_s256(der),
            key: DecodingKey::from_rsa_raw_components(&modulus, &exponent),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throwaway_certificate_round_trips_through_pem_and_registers() {
        let cert = throwaway_certificate("unit").expect("generate");
        assert!(
            cert.private_key_pem
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        let ders = certificates_from_pem(cert.certificate_pem.as_bytes()).expect("pem");
        assert_eq!(ders, vec![cert.certificate_der.clone()]);
        let reg = RegisteredCertificate::from_der(&cert.certificate_der).expect("register");
        assert_eq!(URL_SAFE_NO_PAD.decode(&reg.x5t).expect("b64").len(), 20);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&reg.x5t_s256).expect("b64").len(),
            32
        );
        assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn pem_without_certificate_is_refused_with_advice() {
        let err = certificates_from_pem(b"nothing here")
            .unwrap_err()
            .to_string();
        assert!(err.contains("CERTIFICATE"), "{err}");
    }
}
