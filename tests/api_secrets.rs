//! No access token appears in any log line (trace level: our code, the HTTP stack and the emulator), error message
//! or `Debug` output of the API client, across listing, paging, blob fetches, retries and a token refresh after 401.
//!
//! One test in its own binary: it installs the process-wide subscriber.

mod api_support;
mod log_capture;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use log_capture::Capture;
use o365sync::api::{ApiClient, ApiConfig, ApiRoot, BlobOutcome, ContentBlob, RetryPolicy, Window};
use o365sync::content_type::ContentType;
use o365sync::emulator::{
    ContentSettings, Emulator, EmulatorConfig, Faults, Throttle, ThrottleStyle,
    throwaway_certificate,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_logs_errors_or_debug_output() {
    let capture = Capture::install();

    let cert = throwaway_certificate("o365sync api secrets").unwrap();
    let mut config = EmulatorConfig::trusting(cert.certificate_der.clone());
    config.initial_subscriptions = ContentType::ALL.to_vec();
    config.page_size = 3;
    config.content = ContentSettings {
        hours: 3,
        records_per_blob: 2,
        late_blobs: 0,
        ..ContentSettings::default().with_blobs_per_hour(2)
    };
    config.faults = Faults {
        throttle: Some(Throttle {
            requests_per_minute: 10,
            style: ThrottleStyle::Status403,
        }),
        transient_error_rate: 0.1,
        truncated_body_rate: 0.1,
        ..Faults::default()
    };
    let emu = Emulator::start(config).await.unwrap();
    let (provider, endpoints) = api_support::provider(
        &emu,
        &cert.certificate_pem,
        &cert.private_key_pem,
        emu.url(),
    );
    let mut api =
        ApiConfig::new(ApiRoot::from_root_url(endpoints.api_root, emu.tenant_id()).unwrap());
    api.retry = RetryPolicy {
        max_attempts: 3,
        min_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
    };
    let client = ApiClient::new(api, provider.clone()).unwrap();

    let mut tokens = vec![provider.token().await.unwrap().expose().to_owned()];
    let mut texts = Vec::new();
    let now = Timestamp::now();
    let window = Window::new(
        now - SignedDuration::from_hours(3) - SignedDuration::from_mins(5),
        now,
    )
    .unwrap();
    // the budget of 10/minute and few attempts make some operations fail: their errors are searched too
    for round in 0..2 {
        if round == 1 {
            emu.expire_tokens();
        }
        match client.list_content(ContentType::Exchange, window).await {
            Ok(listing) => {
                texts.push(format!("{listing:?}"));
                let fetched: Vec<_> = client
                    .fetch_blobs(listing.blobs, |_| Vec::new())
                    .collect()
                    .await;
                for f in fetched {
                    texts.push(format!("{:?} {:?}", f.outcome, f.blob));
                    if let BlobOutcome::Failed { error } = &f.outcome {
                        texts.push(error.to_string());
                    }
                }
            }
            Err(e) => texts.push(format!("{e} {e:?}")),
        }
        if let Err(e) = client.list_subscriptions().await {
            texts.push(format!("{e} {e:?}"));
        }
    }
    // a foreign content URI is refused; its error is searched too
    let foreign = ContentBlob {
        content_type: String::new(),
        content_id: "x".into(),
        content_uri: format!(
            "{}/api/v1.0/t/activity/feed/audit/x?token=abc",
            emu.foreign_url()
        ),
        content_created: None,
        content_expiration: None,
    };
    let outcome = client.fetch_blob(&foreign, &mut Vec::new()).await;
    texts.push(format!("{outcome:?}"));
    if let BlobOutcome::Failed { error } = &outcome {
        texts.push(error.to_string());
    }
    texts.push(format!("{:?}", client.stats()));
    tokens.push(provider.token().await.unwrap().expose().to_owned());
    emu.shutdown().await;

    assert_ne!(
        tokens[0], tokens[1],
        "the token was refreshed after the 401"
    );
    let stats_line = format!("{:?}", client.stats());
    assert!(stats_line.contains("token_refreshes: 1"), "{stats_line}");
    let logs = capture.text();
    assert!(logs.len() > 1000, "trace logging was captured");
    for token in &tokens {
        // the whole token, and its signature part alone
        let signature = token.rsplit('.').next().unwrap();
        for needle in [token.as_str(), signature] {
            assert!(!logs.contains(needle), "a token reached the logs");
            for t in &texts {
                assert!(
                    !t.contains(needle),
                    "a token reached an error or Debug output: {t}"
                );
            }
        }
    }
    assert!(
        !texts.iter().any(|t| t.contains("token=abc")),
        "a refused URI's query was echoed"
    );
}
