//! The token client against the emulator's token endpoint: RS256 and PS256, every file format, all four clouds,
//! one token request per run, refresh on expiry and after a 401, and the errors operators meet.

mod auth_support;

use std::sync::Arc;
use std::time::Duration;

use auth_support::emu;
use o365sync::auth::{
    CredentialSource, PassphraseSource, SigningAlgorithm, TokenError, TokenProvider,
    TokenProviderConfig,
};
use o365sync::cloud::Cloud;

const HOUR: Duration = Duration::from_secs(3599);

#[tokio::test]
async fn rs256_and_ps256_with_every_file_format_get_working_tokens() {
    let emu_handle = emu::start(Cloud::Commercial, HOUR).await;
    let dir = tempfile::tempdir().unwrap();
    let c = emu::certificate();
    // PKCS#8, PKCS#1, encrypted PKCS#8 and a combined file, all of the emulator-trusted certificate.
    let key_der = pkcs8::der::pem::decode_vec(c.private_key_pem.as_bytes())
        .unwrap()
        .1;
    let info = pkcs8::PrivateKeyInfo::try_from(key_der.as_slice()).unwrap();
    let pkcs1 = pkcs8::der::pem::encode_string(
        "RSA PRIVATE KEY",
        pkcs8::LineEnding::CRLF,
        info.private_key,
    )
    .unwrap();
    let salt = [7u8; 16];
    let iv = [9u8; 16];
    let params =
        pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
    let encrypted = info
        .encrypt_with_params(params, "p4ss")
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    let cert = auth_support::write(dir.path(), "certificate.pem", &c.certificate_pem);
    let combined = auth_support::write(
        dir.path(),
        "combined.pem",
        format!("{}{}", c.certificate_pem, c.private_key_pem),
    );
    let pass = auth_support::write(dir.path(), "pass", "p4ss\n");
    let sources = [
        (
            "pkcs8",
            cert.clone(),
            auth_support::write(dir.path(), "k8.pem", &c.private_key_pem),
            None,
        ),
        (
            "pkcs1",
            cert.clone(),
            auth_support::write(dir.path(), "k1.pem", &pkcs1),
            None,
        ),
        (
            "encrypted",
            cert.clone(),
            auth_support::write(dir.path(), "ke.pem", &encrypted),
            Some(PassphraseSource::File(pass)),
        ),
        ("combined", combined.clone(), combined, None),
    ];
    let mut issued = 0;
    for (name, certificate, private_key, passphrase) in sources {
        for signing in [SigningAlgorithm::Rs256, SigningAlgorithm::Ps256] {
            let source = CredentialSource {
                certificate: certificate.clone(),
                private_key: Some(private_key.clone()),
                passphrase: passphrase.clone(),
                signing,
            };
            let credential = Arc::new(source.load().unwrap());
            let provider = emu::provider(&emu_handle, Cloud::Commercial, credential);
            let token = provider
                .token()
                .await
                .unwrap_or_else(|e| panic!("{name} {signing}: {e}"));
            issued += 1;
            assert!(
                token.roles().iter().any(|r| r == "ActivityFeed.Read"),
                "{name} {signing}"
            );
            assert_eq!(
                emu::list_subscriptions(&provider.config().endpoints, &token).await,
                200,
                "{name} {signing}: the API accepts the token"
            );
        }
    }
    let stats = emu_handle.stats();
    assert_eq!(stats.tokens_issued, issued);
    assert_eq!(stats.tokens_refused, 0);
}

#[tokio::test]
async fn each_cloud_gets_its_token_and_the_other_clouds_scopes_are_rejected() {
    let credential = emu::credential(SigningAlgorithm::Rs256);
    for cloud in Cloud::ALL {
        let emu_handle = emu::start(cloud, HOUR).await;
        for asked in Cloud::ALL {
            let provider = emu::provider(&emu_handle, asked, credential.clone());
            assert_eq!(provider.config().endpoints.scope, asked.scope());
            let result = provider.token().await;
            if asked == cloud {
                let token = result.unwrap_or_else(|e| panic!("{cloud}: {e}"));
                assert_eq!(
                    emu::list_subscriptions(&provider.config().endpoints, &token).await,
                    200
                );
            } else {
                let err = result.expect_err("another cloud's scope must be refused");
                assert_eq!(
                    err.aadsts().map(|c| c.0),
                    Some(500011),
                    "{cloud} asked {asked}: {err}"
                );
                let msg = err.to_string();
                assert!(
                    msg.contains("AADSTS500011")
                        && msg.contains(&asked.scope())
                        && msg.contains("tenant.cloud"),
                    "{msg}"
                );
            }
        }
        let stats = emu_handle.stats();
        assert_eq!(
            (stats.tokens_issued, stats.tokens_refused),
            (1, 3),
            "{cloud}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_callers_share_one_token_request() {
    let emu_handle = emu::start(Cloud::Gcc, HOUR).await;
    let provider = emu::provider(
        &emu_handle,
        Cloud::Gcc,
        emu::credential(SigningAlgorithm::Ps256),
    );
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let p = provider.clone();
            tokio::spawn(async move { p.token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap().unwrap());
    }
    for _ in 0..100 {
        tokens.push(provider.token().await.unwrap());
    }
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "every caller got the same token"
    );
    assert_eq!(provider.token_requests(), 1);
    assert_eq!(emu_handle.stats().requests.token, 1);
    // The emulator shares our clock: the skew read from its Date header is within the header's 1 s resolution.
    let skew = provider
        .clock_skew()
        .expect("the emulator sends a Date header");
    assert!(skew.abs() <= jiff::SignedDuration::from_secs(2), "{skew:?}");
    assert_eq!(emu_handle.stats().tokens_issued, 1);
}

#[tokio::test]
async fn an_expired_token_is_replaced() {
    // Tokens of one second: the cache keeps each for half of it, so after a pause the next call must refresh.
    let emu_handle = emu::start(Cloud::GccHigh, Duration::from_secs(1)).await;
    let provider = emu::provider(
        &emu_handle,
        Cloud::GccHigh,
        emu::credential(SigningAlgorithm::Rs256),
    );
    let first = provider.token().await.unwrap();
    assert_eq!(first.serial(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(
        emu::list_subscriptions(&provider.config().endpoints, &first).await,
        401,
        "the emulator no longer accepts the expired token"
    );
    let second = provider.token().await.unwrap();
    assert_ne!(first, second);
    assert_ne!(first.expose(), second.expose());
    assert_eq!(second.serial(), 2);
    assert_eq!(provider.token_requests(), 2);
    assert_eq!(
        emu::list_subscriptions(&provider.config().endpoints, &second).await,
        200
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_the_cached_token_until_it_expires() {
    // Tokens of six seconds are refreshed after three; between three and six a failed refresh is not fatal.
    let emu_handle = emu::start(Cloud::Gcc, Duration::from_secs(6)).await;
    let provider = emu::provider(
        &emu_handle,
        Cloud::Gcc,
        emu::credential(SigningAlgorithm::Rs256),
    );
    let first = provider.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    emu_handle.shutdown().await;
    let still = provider.token().await.unwrap();
    assert_eq!(first, still);
    assert_eq!(provider.token_requests(), 2, "the refresh was attempted");
}

#[tokio::test]
async fn a_401_from_the_api_causes_exactly_one_refresh() {
    let emu_handle = emu::start(Cloud::Dod, HOUR).await;
    let provider = emu::provider(
        &emu_handle,
        Cloud::Dod,
        emu::credential(SigningAlgorithm::Rs256),
    );
    let endpoints = provider.config().endpoints.clone();
    let first = provider.token().await.unwrap();
    assert_eq!(emu::list_subscriptions(&endpoints, &first).await, 200);
    emu_handle.expire_tokens();
    assert_eq!(emu::list_subscriptions(&endpoints, &first).await, 401);
    // Three workers saw the same 401: one refresh.
    for _ in 0..3 {
        provider.invalidate(&first).await;
    }
    let second = provider.token().await.unwrap();
    provider.invalidate(&first).await; // late report of the old token: ignored
    let again = provider.token().await.unwrap();
    assert_eq!(second, again);
    assert_eq!(provider.token_requests(), 2);
    assert_eq!(emu::list_subscriptions(&endpoints, &second).await, 200);
}

#[tokio::test]
async fn entra_refusals_get_specific_messages() {
    let emu_handle = emu::start(Cloud::Commercial, HOUR).await;
    let credential = emu::credential(SigningAlgorithm::Rs256);
    let sha1 = credential.thumbprints().sha1_hex.clone();

    // Wrong client ID: AADSTS700016.
    let mut config = TokenProviderConfig::new(
        "11111111-2222-3333-4444-555555555555",
        emu::endpoints(&emu_handle, Cloud::Commercial),
    );
    config.retries = 0;
    let err = TokenProvider::new(credential.clone(), config)
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.aadsts().map(|c| c.0), Some(700016), "{err}");
    assert!(err.to_string().contains("tenant.client_id"), "{err}");

    // Certificate not registered on the app: AADSTS700027 naming the thumbprint to compare with the portal.
    let other = o365sync::emulator::throwaway_certificate("not-registered").unwrap();
    let stranger = emu::start_trusting(Cloud::Commercial, HOUR, other.certificate_der).await;
    let err = emu::provider(&stranger, Cloud::Commercial, credential.clone())
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.aadsts().map(|c| c.0), Some(700027), "{err}");
    assert!(err.to_string().contains(&sha1), "{err}");

    // Unknown tenant: AADSTS90002.
    let overrides = o365sync::cloud::EndpointOverrides {
        login: Some(emu_handle.url()),
        api: Some(emu_handle.url()),
    };
    let endpoints = Cloud::Commercial
        .endpoints("contoso.example", &overrides)
        .unwrap();
    let mut config = TokenProviderConfig::new(emu_handle.client_id(), endpoints);
    config.retries = 0;
    let err = TokenProvider::new(credential.clone(), config)
        .token()
        .await
        .unwrap_err();
    assert_eq!(err.aadsts().map(|c| c.0), Some(90002), "{err}");
    assert!(err.to_string().contains("tenant.id"), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn network_errors_name_the_host() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let overrides = o365sync::cloud::EndpointOverrides {
        login: Some(format!("http://127.0.0.1:{port}")),
        api: None,
    };
    let endpoints = Cloud::Gcc
        .endpoints("8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718", &overrides)
        .unwrap();
    let mut config = TokenProviderConfig::new("0d9e8f7a-6b5c-4d3e-8f1a-0b9c8d7e6f5a", endpoints);
    config.retries = 1;
    let provider = TokenProvider::new(emu::credential(SigningAlgorithm::Rs256), config);
    let err = provider.token().await.unwrap_err();
    assert!(matches!(err, TokenError::Network { .. }), "{err}");
    assert!(err.is_transient());
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("check the network"),
        "{msg}"
    );
    assert_eq!(
        provider.token_requests(),
        2,
        "one retry after a transient failure"
    );
}

#[tokio::test]
async fn jobs_sharing_an_app_registration_share_one_provider_and_one_token() {
    use o365sync::auth::TokenProviders;
    let emu_handle = emu::start(Cloud::Gcc, HOUR).await;
    let providers = TokenProviders::new();
    let http = reqwest::Client::new();
    let credential = emu::credential(SigningAlgorithm::Rs256);
    let config = |client: &str, cloud: Cloud| {
        let mut c = TokenProviderConfig::new(client, emu::endpoints(&emu_handle, cloud));
        c.retries = 0;
        c
    };
    // Two jobs of the same tenant and app (client ID spelled in another case): one provider.
    let a = providers.provider(
        credential.clone(),
        config(emu_handle.client_id(), Cloud::Gcc),
        &http,
    );
    let upper = emu_handle.client_id().to_ascii_uppercase();
    let b = providers.provider(credential.clone(), config(&upper, Cloud::Gcc), &http);
    let ta = a.token().await.unwrap();
    let tb = b.token().await.unwrap();
    assert_eq!(ta, tb);
    assert_eq!(emu_handle.stats().requests.token, 1);
    // Another scope is another provider.
    let c = providers.provider(
        credential,
        config(emu_handle.client_id(), Cloud::Commercial),
        &http,
    );
    assert_eq!(providers.len(), 2);
    assert!(c.token().await.is_err());
    assert_eq!(emu_handle.stats().requests.token, 2);
}

#[test]
fn bad_local_input_is_exit_code_2_and_token_failures_exit_code_1() {
    use o365sync::auth::CredentialError;
    use o365sync::exit::Outcome;
    assert_eq!(
        CredentialError::ClientSecretNotSupported.outcome().code(),
        2
    );
    let insecure = Cloud::Gcc
        .endpoints(
            "contoso.com",
            &o365sync::cloud::EndpointOverrides {
                login: Some("http://login.example.net".into()),
                api: None,
            },
        )
        .unwrap_err();
    assert_eq!(insecure.outcome(), Outcome::Invalid);
    assert_eq!(
        "azure-china".parse::<Cloud>().unwrap_err().outcome(),
        Outcome::Invalid
    );
    let network = TokenError::Network {
        host: "login.microsoftonline.us".into(),
        reason: "timed out".into(),
    };
    assert_eq!(network.outcome(), Outcome::Failed);
}

#[tokio::test]
async fn a_redirecting_token_endpoint_never_receives_a_second_copy_of_the_assertion() {
    // A hostile "login" host that redirects the POST (307 keeps method and body) to the emulator on another port.
    let emu_handle = emu::start(Cloud::Commercial, HOUR).await;
    let target = emu_handle.token_url();
    let app = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, target)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let overrides = o365sync::cloud::EndpointOverrides {
        login: Some(format!("http://{addr}")),
        api: None,
    };
    let endpoints = Cloud::Commercial
        .endpoints(emu_handle.tenant_id(), &overrides)
        .unwrap();
    let mut config = TokenProviderConfig::new(emu_handle.client_id(), endpoints);
    config.retries = 0;
    let err = TokenProvider::new(emu::credential(SigningAlgorithm::Rs256), config)
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(err, TokenError::Refused { status: 307, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert_eq!(
        emu_handle.stats().requests.token,
        0,
        "the redirect was not followed"
    );
    server.abort();
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_string_expires_in_is_accepted() {
    // A v1-style peer: first an HTML 503 from a gateway, then a token whose numbers are strings.
    use std::sync::atomic::{AtomicU32, Ordering};
    let hits = Arc::new(AtomicU32::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            use axum::response::IntoResponse;
            if n == 0 {
                (
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "<html>gateway timeout</html>",
                )
                    .into_response()
            } else {
                axum::Json(serde_json::json!({
                    "token_type": "Bearer",
                    "expires_in": "3599",
                    "ext_expires_in": "3599",
                    "access_token": "opaque-token-value-for-this-test",
                }))
                .into_response()
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let overrides = o365sync::cloud::EndpointOverrides {
        login: Some(format!("http://{addr}")),
        api: None,
    };
    let endpoints = Cloud::Gcc.endpoints("contoso.com", &overrides).unwrap();
    let mut config = TokenProviderConfig::new("0d9e8f7a-6b5c-4d3e-8f1a-0b9c8d7e6f5a", endpoints);
    config.retries = 1;
    let provider = TokenProvider::new(emu::credential(SigningAlgorithm::Ps256), config);
    let token = provider.token().await.unwrap();
    assert_eq!(token.expose(), "opaque-token-value-for-this-test");
    let lifetime = token.expires_at().duration_since(jiff::Timestamp::now());
    assert!(
        lifetime > jiff::SignedDuration::from_secs(3000),
        "{lifetime:?}"
    );
    assert_eq!(provider.token_requests(), 2);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // Cached: no third request.
    provider.token().await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    server.abort();
}
