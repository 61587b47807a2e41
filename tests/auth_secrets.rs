//! No private key, passphrase, client assertion or access token appears in any log line (trace level, our code,
//! the HTTP stack and the emulator), error message or `Debug` output, across every auth path.
//!
//! One test in its own binary: it installs the process-wide subscriber.

mod auth_support;
mod log_capture;

use std::sync::Arc;
use std::time::Duration;

use auth_support::emu;
use log_capture::Capture;
use o365sync::auth::{
    Credential, CredentialSource, PassphraseSource, Secret, SigningAlgorithm, TokenProvider,
    TokenProviderConfig,
};
use o365sync::cloud::{Cloud, EndpointOverrides};

/// The base64 body lines of every PEM block in `pem` (each line is a slice of key material).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.contains(':'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_logs_errors_or_debug_output() {
    let capture = Capture::install();

    let passphrase = "pass-phrase-9f1c2d7a";
    let env_var = "O365SYNC_TEST_AUTH_SECRETS_PASS";
    // SAFETY: set before any other thread of this test reads the environment.
    unsafe { std::env::set_var(env_var, passphrase) };

    let c = emu::certificate();
    let key_der = pkcs8::der::pem::decode_vec(c.private_key_pem.as_bytes())
        .unwrap()
        .1;
    let info = pkcs8::PrivateKeyInfo::try_from(key_der.as_slice()).unwrap();
    let pkcs1_pem =
        pkcs8::der::pem::encode_string("RSA PRIVATE KEY", pkcs8::LineEnding::LF, info.private_key)
            .unwrap();
    let salt = [1u8; 16];
    let iv = [2u8; 16];
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
    let encrypted_pem = info
        .encrypt_with_params(params, passphrase)
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let cert = auth_support::write(dir.path(), "certificate.pem", &c.certificate_pem);
    let key = auth_support::write(dir.path(), "key.pem", &encrypted_pem);
    let pkcs1 = auth_support::write(dir.path(), "pkcs1.pem", &pkcs1_pem);
    let pass_file = auth_support::write(dir.path(), "pass.txt", format!("{passphrase}\n"));
    let wrong_file = auth_support::write(dir.path(), "wrong.txt", "not-the-pass-3e8b\n");

    let mut visible = Vec::<String>::new(); // every Debug / Display string produced along the way
    let mut tokens = Vec::<String>::new();
    let mut assertions = Vec::<String>::new();

    // Loading: env and file passphrases, a wrong passphrase, PKCS#1, a mismatch.
    let source = |private_key, passphrase| CredentialSource {
        certificate: cert.clone(),
        private_key: Some(private_key),
        passphrase,
        signing: SigningAlgorithm::Rs256,
    };
    let from_env = source(key.clone(), Some(PassphraseSource::Env(env_var.into())));
    let credential = Arc::new(from_env.load().unwrap());
    visible.push(format!(
        "{credential:?} {from_env:?} {:?}",
        credential.info()
    ));
    let from_file = source(key.clone(), Some(PassphraseSource::File(pass_file)));
    visible.push(format!("{:?}", from_file.load().unwrap()));
    let wrong = source(
        key.clone(),
        Some(PassphraseSource::File(wrong_file.clone())),
    );
    let err = wrong.load().unwrap_err();
    visible.push(format!("{err} {err:?}"));
    let err = source(key.clone(), None).load().unwrap_err();
    visible.push(format!("{err} {err:?}"));
    visible.push(format!("{:?}", source(pkcs1.clone(), None).load().unwrap()));
    let other = auth_support::shared();
    let err = Credential::from_pem(
        c.certificate_pem.as_bytes(),
        other.key_pkcs8_pem().as_bytes(),
        Some(Secret::new(passphrase.as_bytes().to_vec())),
        SigningAlgorithm::Ps256,
        jiff::Timestamp::now(),
    )
    .unwrap_err();
    visible.push(format!("{err} {err:?}"));

    // PKCS#12: the passphrase from the environment and from a file, a wrong one, none, a legacy (RC2/3DES) file,
    // and the file given as both certificate and key.
    let pfx_env = "O365SYNC_TEST_AUTH_SECRETS_PFX_PASS";
    // SAFETY: set before any other thread of this test reads the environment.
    unsafe { std::env::set_var(pfx_env, "fixture-aes") };
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/credentials");
    let legacy_pass = auth_support::write(dir.path(), "legacy-pass.txt", "fixture-legacy\n");
    let pfx = |file: &str, private_key: Option<&str>, passphrase| CredentialSource {
        certificate: fixtures.join(file),
        private_key: private_key.map(|k| fixtures.join(k)),
        passphrase,
        signing: SigningAlgorithm::Ps256,
    };
    let pfx_sources = [
        pfx("aes.p12", None, Some(PassphraseSource::Env(pfx_env.into()))),
        pfx(
            "aes.p12",
            Some("aes.p12"),
            Some(PassphraseSource::Env(pfx_env.into())),
        ),
        pfx(
            "legacy.pfx",
            None,
            Some(PassphraseSource::File(legacy_pass)),
        ),
    ];
    for source in &pfx_sources {
        let cred = source.load().unwrap();
        let a = cred
            .client_assertion("client", "http://127.0.0.1/t/oauth2/v2.0/token")
            .unwrap();
        visible.push(format!(
            "{cred:?} {source:?} {:?} {} {a:?}",
            cred.info(),
            cred.info().source
        ));
        assertions.push(a.expose().to_owned());
    }
    for source in [
        pfx(
            "aes.p12",
            None,
            Some(PassphraseSource::File(wrong_file.clone())),
        ),
        pfx(
            "legacy.pfx",
            None,
            Some(PassphraseSource::File(wrong_file.clone())),
        ),
        pfx("aes.p12", None, None),
        pfx(
            "truncated.pfx",
            None,
            Some(PassphraseSource::Env(pfx_env.into())),
        ),
        pfx(
            "two-keys.pfx",
            None,
            Some(PassphraseSource::Env(pfx_env.into())),
        ),
    ] {
        let err = source.load().unwrap_err();
        visible.push(format!("{err} {err:?}"));
    }

    // Assertions signed directly.
    for signing in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
        let cred = Credential::from_pem(
            c.certificate_pem.as_bytes(),
            c.private_key_pem.as_bytes(),
            None,
            signing,
            jiff::Timestamp::now(),
        )
        .unwrap();
        let a = cred
            .client_assertion("client", "http://127.0.0.1/t/oauth2/v2.0/token")
            .unwrap();
        visible.push(format!("{a:?}"));
        assertions.push(a.expose().to_owned());
    }

    // Tokens: RS256 and PS256, concurrency, 401 refresh, expiry refresh.
    let emu_handle = emu::start(Cloud::GccHigh, Duration::from_secs(2)).await;
    for signing in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
        let provider = emu::provider(&emu_handle, Cloud::GccHigh, emu::credential(signing));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let p = provider.clone();
                tokio::spawn(async move { p.token().await })
            })
            .collect();
        for h in handles {
            let t = h.await.unwrap().unwrap();
            visible.push(format!("{t:?}"));
            tokens.push(t.expose().to_owned());
        }
        let t = provider.token().await.unwrap();
        assert_eq!(
            emu::list_subscriptions(&provider.config().endpoints, &t).await,
            200
        );
        emu_handle.expire_tokens();
        assert_eq!(
            emu::list_subscriptions(&provider.config().endpoints, &t).await,
            401
        );
        provider.invalidate(&t).await;
        let t = provider.token().await.unwrap();
        tokens.push(t.expose().to_owned());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let t = provider.token().await.unwrap();
        tokens.push(t.expose().to_owned());
        visible.push(format!("{provider:?} {t:?} {:?}", t.authorization()));
    }
    // The credential loaded from the encrypted file, too.
    let provider = emu::provider(&emu_handle, Cloud::GccHigh, credential.clone());
    tokens.push(provider.token().await.unwrap().expose().to_owned());

    // Refusals: wrong cloud, unregistered certificate, unreachable host (with a logged retry).
    let err = emu::provider(&emu_handle, Cloud::Commercial, credential.clone())
        .token()
        .await
        .unwrap_err();
    visible.push(format!("{err} {err:?}"));
    let stranger_cert = o365sync::emulator::throwaway_certificate("stranger").unwrap();
    let stranger = emu::start_trusting(
        Cloud::GccHigh,
        Duration::from_secs(60),
        stranger_cert.certificate_der,
    )
    .await;
    let err = emu::provider(&stranger, Cloud::GccHigh, credential.clone())
        .token()
        .await
        .unwrap_err();
    visible.push(format!("{err} {err:?}"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoints = Cloud::GccHigh
        .endpoints(
            emu_handle.tenant_id(),
            &EndpointOverrides {
                login: Some(format!("http://127.0.0.1:{port}")),
                api: None,
            },
        )
        .unwrap();
    let mut config = TokenProviderConfig::new(emu_handle.client_id(), endpoints);
    config.retries = 1;
    let err = TokenProvider::new(credential.clone(), config)
        .token()
        .await
        .unwrap_err();
    visible.push(format!("{err} {err:?}"));
    let logs = capture.text();
    assert!(
        logs.contains("requesting an access token"),
        "the capture saw our trace output"
    );
    assert!(logs.contains("access token acquired"));
    assert!(
        logs.contains("token request failed; retrying"),
        "the retry path was exercised"
    );
    assert!(logs.contains("certificate and private key loaded"));
    let haystacks = [
        ("logs", logs.as_str()),
        ("debug/display", &visible.join("\n")),
    ];

    let mut needles: Vec<(&str, String)> = vec![("passphrase", passphrase.to_owned())];
    for line in pem_body_lines(&c.private_key_pem)
        .into_iter()
        .chain(pem_body_lines(&pkcs1_pem))
        .chain(pem_body_lines(&encrypted_pem))
    {
        needles.push(("private key", line));
    }
    assert!(tokens.len() >= 20);
    for t in &tokens {
        needles.push(("access token", t.clone()));
        needles.push((
            "access token signature",
            t.rsplit('.').next().unwrap().to_owned(),
        ));
    }
    for a in &assertions {
        needles.push(("client assertion", a.clone()));
        needles.push((
            "client assertion signature",
            a.rsplit('.').next().unwrap().to_owned(),
        ));
    }
    // The fixture PKCS#12 files hold the fixture key; their passphrases are shorter but just as distinctive.
    let fixture_key = std::fs::read_to_string(fixtures.join("key.pem")).unwrap();
    for line in pem_body_lines(&fixture_key) {
        needles.push(("pkcs#12 private key", line));
    }
    for pass in ["fixture-aes", "fixture-legacy"] {
        for (place, hay) in haystacks {
            assert!(!hay.contains(pass), "pkcs#12 passphrase found in {place}");
        }
    }
    for (what, needle) in &needles {
        assert!(
            needle.len() >= 16,
            "{what} needle too short to be meaningful"
        );
        for (place, hay) in haystacks {
            assert!(!hay.contains(needle.as_str()), "{what} found in {place}");
        }
    }
    // Assertions sent by the providers are never seen by the test: no JWT of any kind may appear.
    for (place, hay) in haystacks {
        assert!(
            !hay.contains("eyJ"),
            "a JWT (assertion or token) appears in {place}"
        );
    }
}
