//! The Audit Search client never sends the token anywhere but the Graph host the job named: a `@odata.nextLink` to
//! another host, or to another port or scheme of the same host, is refused before any request (and so before any
//! token is fetched).

use std::sync::Arc;

use o365sync::api::RetryPolicy;
use o365sync::api::audit_search::{AuditSearch, SearchError};
use o365sync::auth::{Credential, SigningAlgorithm, TokenProvider, TokenProviderConfig};
use o365sync::cloud::{Cloud, EndpointOverrides};

#[tokio::test]
async fn next_links_off_the_graph_host_are_refused_before_any_request() {
    let cert = o365sync::emulator::throwaway_certificate("audit search links").unwrap();
    let credential = Credential::from_pem(
        cert.certificate_pem.as_bytes(),
        cert.private_key_pem.as_bytes(),
        None,
        SigningAlgorithm::Rs256,
        jiff::Timestamp::now(),
    )
    .unwrap();
    // Nothing listens on port 9 of the loopback: a request or a token fetch would fail with another error.
    let mut endpoints = Cloud::Commercial
        .endpoints(
            "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718",
            &EndpointOverrides {
                login: Some("http://127.0.0.1:9".into()),
                api: None,
            },
        )
        .unwrap();
    endpoints.scope = Cloud::Commercial.graph_scope();
    let tokens = TokenProvider::new(
        Arc::new(credential),
        TokenProviderConfig::new("0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a", endpoints),
    );
    let root = Cloud::Commercial
        .audit_search_root(Some("http://127.0.0.1:9"))
        .unwrap();
    let search = AuditSearch::new(root, tokens, RetryPolicy::default()).unwrap();
    for link in [
        "https://attacker.example/v1.0/security/auditLog/queries/q/records?$skiptoken=20",
        "http://127.0.0.1:10/v1.0/security/auditLog/queries/q/records?$skiptoken=20",
        "https://127.0.0.1:9/v1.0/security/auditLog/queries/q/records?$skiptoken=20",
    ] {
        let err = search.page("q", Some(link)).await.unwrap_err();
        assert!(
            matches!(err, SearchError::ForeignLink { .. }),
            "{link}: {err}"
        );
        assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    }
    assert_eq!(search.counts(), (0, 0), "no request was sent");
}
