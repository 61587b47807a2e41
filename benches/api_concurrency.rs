//! How much bounded concurrency speeds up a sync when every request has 50 ms latency (the emulator's latency
//! fault): the same listing + blob fetches with 1 and with 8 blobs in flight, over real HTTP with real auth.

#[path = "../tests/api_support/mod.rs"]
mod api_support;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use o365sync::api::{ApiClient, ApiConfig, ApiRoot, ContentBlob, Window};
use o365sync::auth::TokenProvider;
use o365sync::content_type::ContentType;
use o365sync::emulator::{
    ContentSettings, Emulator, EmulatorConfig, EmulatorHandle, Faults, throwaway_certificate,
};

const HOURS: u32 = 2;

fn setup(
    rt: &tokio::runtime::Runtime,
    concurrency: usize,
) -> (EmulatorHandle, ApiClient<TokenProvider>) {
    rt.block_on(async {
        let cert = throwaway_certificate("o365sync bench").expect("certificate");
        let mut config = EmulatorConfig::trusting(cert.certificate_der.clone());
        config.initial_subscriptions = ContentType::ALL.to_vec();
        config.content = ContentSettings {
            hours: HOURS,
            records_per_blob: 5,
            late_blobs: 0,
            ..ContentSettings::default().with_blobs_per_hour(4)
        };
        config.faults = Faults {
            latency_ms: 50,
            ..Faults::default()
        };
        let emu = Emulator::start(config).await.expect("emulator");
        let (provider, endpoints) = api_support::provider(
            &emu,
            &cert.certificate_pem,
            &cert.private_key_pem,
            emu.url(),
        );
        let mut api = ApiConfig::new(
            ApiRoot::from_root_url(endpoints.api_root, emu.tenant_id()).expect("root"),
        );
        api.concurrency = concurrency;
        // a budget that never binds: only concurrency is measured
        api.max_requests_per_minute = 1_000_000;
        (emu, ApiClient::new(api, provider).expect("client"))
    })
}

async fn sync(client: &ApiClient<TokenProvider>) -> usize {
    let now = Timestamp::now();
    let window =
        Window::new(now - SignedDuration::from_hours(i64::from(HOURS) + 1), now).expect("window");
    let mut blobs: Vec<ContentBlob> = Vec::new();
    for ct in ContentType::ALL {
        blobs.extend(
            client
                .list_content(ct, window)
                .await
                .expect("listing")
                .blobs,
        );
    }
    let fetched: Vec<_> = client.fetch_blobs(blobs, |_| Vec::new()).collect().await;
    fetched.iter().map(|f| f.sink.len()).sum()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("sync_40_blobs_50ms_latency");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for concurrency in [1usize, 8] {
        let (emu, client) = setup(&rt, concurrency);
        group.bench_function(format!("concurrency_{concurrency}"), |b| {
            b.iter(|| rt.block_on(sync(&client)))
        });
        rt.block_on(emu.shutdown());
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
