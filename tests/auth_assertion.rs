//! The JWT client assertion: header thumbprints per algorithm, claims per the reference, a real signature.

mod auth_support;

use std::collections::HashSet;

use auth_support::{now, shared};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use o365sync::auth::{ASSERTION_LIFETIME, Credential, SigningAlgorithm};
use x509_cert::der::Decode as _;

const TOKEN_URL: &str =
    "https://login.microsoftonline.us/8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718/oauth2/v2.0/token";
const CLIENT: &str = "0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a";

fn credential(signing: SigningAlgorithm) -> Credential {
    let t = shared();
    Credential::from_pem(
        t.cert_pem.as_bytes(),
        t.key_pkcs8_pem().as_bytes(),
        None,
        signing,
        now(),
    )
    .unwrap()
}

/// The certificate's public key as PKCS#1 DER, taken from the certificate (not from our code).
fn public_key() -> DecodingKey {
    let cert = x509_cert::Certificate::from_der(&shared().cert_der).unwrap();
    DecodingKey::from_rsa_der(
        cert.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
}

fn verify(jwt: &str, alg: Algorithm) -> (jsonwebtoken::Header, serde_json::Value) {
    let mut v = Validation::new(alg);
    v.set_audience(&[TOKEN_URL]);
    v.set_issuer(&[CLIENT]);
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    v.validate_nbf = true;
    let data = jsonwebtoken::decode::<serde_json::Value>(jwt, &public_key(), &v).unwrap();
    (data.header, data.claims)
}

#[test]
fn rs256_assertion_carries_x5t_and_verifies_with_the_certificate() {
    let cred = credential(SigningAlgorithm::Rs256);
    let a = cred.client_assertion(CLIENT, TOKEN_URL).unwrap();
    let (header, claims) = verify(a.expose(), Algorithm::RS256);
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.x5t.as_deref(), Some(cred.thumbprints().x5t.as_str()));
    assert_eq!(header.x5t_s256, None);
    assert_eq!(claims["aud"], TOKEN_URL);
    assert_eq!(claims["iss"], CLIENT);
    assert_eq!(claims["sub"], CLIENT);
    assert_eq!(claims["jti"], a.jti());
    assert_eq!(claims["nbf"], claims["iat"]);
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime as u64, ASSERTION_LIFETIME.as_secs());
    assert_eq!(ASSERTION_LIFETIME.as_secs(), 600);
    // PS256 must not verify an RS256 signature.
    let mut v = Validation::new(Algorithm::PS256);
    v.set_audience(&[TOKEN_URL]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(a.expose(), &public_key(), &v).is_err());
}

#[test]
fn ps256_assertion_carries_x5t_s256_and_verifies_with_the_certificate() {
    let cred = credential(SigningAlgorithm::Ps256);
    let a = cred.client_assertion(CLIENT, TOKEN_URL).unwrap();
    let (header, claims) = verify(a.expose(), Algorithm::PS256);
    assert_eq!(header.alg, Algorithm::PS256);
    assert_eq!(
        header.x5t_s256.as_deref(),
        Some(cred.thumbprints().x5t_s256.as_str())
    );
    assert_eq!(header.x5t, None);
    assert_eq!(claims["sub"], CLIENT);
}

#[test]
fn every_assertion_has_a_fresh_jti_and_debug_hides_the_jwt() {
    let cred = credential(SigningAlgorithm::Rs256);
    let mut jtis = HashSet::new();
    for _ in 0..20 {
        let a = cred.client_assertion(CLIENT, TOKEN_URL).unwrap();
        assert!(uuid::Uuid::parse_str(a.jti()).is_ok());
        assert!(jtis.insert(a.jti().to_owned()));
        let debug = format!("{a:?}");
        assert!(
            !debug.contains(a.expose()) && debug.contains("[redacted]"),
            "{debug}"
        );
        let signature = a.expose().rsplit('.').next().unwrap();
        assert!(!debug.contains(signature));
    }
}

#[test]
fn the_assertion_is_valid_from_the_given_instant() {
    let cred = credential(SigningAlgorithm::Rs256);
    let at: jiff::Timestamp = "2026-06-01T12:00:00Z".parse().unwrap();
    let a = cred.client_assertion_at(CLIENT, TOKEN_URL, at).unwrap();
    let payload = a.expose().split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iat"], at.as_second());
    assert_eq!(claims["nbf"], at.as_second());
    assert_eq!(claims["exp"], at.as_second() + 600);
}
