//! Events per second of each sink, one blob of `EVENTS` OCSF-sized events per write (each write fully durable:
//! fsync for jsonl, a `synchronous = FULL` WAL commit for sqlite, a flush for stdout).
//!
//! Run with `cargo bench --bench sinks`; results are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use o365sync::content_type::ContentType;
use o365sync::sink::{Batch, Compression, JsonlSink, Sink, SinkEvent, SqliteSink, StdoutSink};

const EVENTS: usize = 1000;
const TENANT: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

/// A blob of `EVENTS` events of about 700 bytes each, with Ids unique to `n`.
fn blob(n: u64) -> Batch {
    let created = jiff::Timestamp::from_second(1_795_000_000 + n as i64).expect("in range");
    let events = (0..EVENTS)
        .map(|i| {
            let id = format!("{:08x}-0000-4000-8000-{i:012x}", n);
            let time = created.as_millisecond() - 1000 + i as i64;
            let line = serde_json::json!({
                "activity_id": 1, "category_uid": 3, "class_uid": 3002, "type_uid": 300201, "severity_id": 1,
                "time": time, "status_id": 1, "message": "UserLoggedIn",
                "metadata": {"uid": id, "log_name": "Audit.AzureActiveDirectory", "version": "1.8.0",
                    "product": {"name": "Microsoft 365", "vendor_name": "Microsoft"}, "original_time": "2026-11-18T10:00:00"},
                "actor": {"user": {"uid": "alice@contoso.example", "name": "alice", "type_id": 1}},
                "user": {"uid": "alice@contoso.example", "email_addr": "alice@contoso.example"},
                "src_endpoint": {"ip": "203.0.113.7"},
                "http_request": {"user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"},
                "cloud": {"provider": "Microsoft", "account": {"uid": TENANT}},
                "unmapped": {"Workload": "AzureActiveDirectory", "RecordType": 15, "ObjectId": "00000003-0000-0000-c000-000000000000"}
            });
            SinkEvent {
                id,
                time: jiff::Timestamp::from_millisecond(time).expect("in range"),
                class_uid: 3002,
                tenant: TENANT.into(),
                line: serde_json::to_vec(&line).expect("serializable"),
            }
        })
        .collect();
    Batch {
        content_type: ContentType::AzureActiveDirectory,
        content_id: format!(
            "{n:023}${n:023}$audit_azureactivedirectory$Audit_AzureActiveDirectory$na"
        ),
        content_created: created,
        events,
    }
}

fn sinks(c: &mut Criterion) {
    let mut group = c.benchmark_group("sink");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    // 16 blobs re-delivered in turn: each write replaces a whole file, so the tree stays small while every write
    // still costs a full temporary-file write, fsync, rename and directory fsync.
    let blobs: Vec<Batch> = (0..16).map(blob).collect();

    for (name, compress) in [("jsonl", None), ("jsonl_gzip", Some(Compression::Gzip))] {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut sink = JsonlSink::open(dir.path(), compress).expect("open jsonl sink");
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                black_box(sink.write_blob(&blobs[i % blobs.len()]).expect("write"))
            })
        });
    }

    {
        // Fresh content IDs each time (the sink skips blobs it already wrote); output into the void.
        let mut sink = StdoutSink::with_writer(Box::new(std::io::sink()), "null");
        let mut n = 0u64;
        let mut template = blobs[0].clone();
        group.bench_function("stdout", |b| {
            b.iter(|| {
                n += 1;
                template.content_id = format!("stdout-{n}");
                black_box(sink.write_blob(&template).expect("write"))
            })
        });
    }

    {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut sink = SqliteSink::open(dir.path().join("events.db")).expect("open sqlite sink");
        let mut n = 1_000u64;
        group.bench_function("sqlite_new_records", |b| {
            b.iter_batched(
                || {
                    n += 1;
                    blob(n)
                },
                |batch| black_box(sink.write_blob(&batch).expect("write")),
                BatchSize::LargeInput,
            )
        });
        let _ = sink.write_blob(&blobs[0]).expect("write");
        group.bench_function("sqlite_redelivered", |b| {
            b.iter(|| black_box(sink.write_blob(&blobs[0]).expect("write")))
        });
    }
    group.finish();
}

/// The network sinks against the emulator's receivers on 127.0.0.1 (same machine, same cores): one blob of
/// `EVENTS` fresh events per delivery, acknowledged as in production (Elasticsearch item statuses, HEC `ackId`
/// polled until indexed, Logs Ingestion 204).
fn network_sinks(c: &mut Criterion) {
    use o365sync::auth::{Credential, SigningAlgorithm, TokenProvider, TokenProviderConfig};
    use o365sync::emulator::{Emulator, EmulatorConfig, throwaway_certificate};
    use o365sync::sink::elasticsearch::{
        DEFAULT_BATCH_BYTES, ElasticAuth, ElasticsearchConfig, ElasticsearchSink,
    };
    use o365sync::sink::http::SecretSource;
    use o365sync::sink::logs_ingestion::{LogsIngestionConfig, LogsIngestionSink};
    use o365sync::sink::splunk::{self, SplunkConfig, SplunkSink};
    use o365sync::sink::{Destination, SharedSink};
    use std::sync::Arc;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cert = throwaway_certificate("o365sync sink bench").expect("certificate");
    let emu = runtime
        .block_on(Emulator::start(EmulatorConfig::trusting(
            cert.certificate_der.clone(),
        )))
        .expect("emulator");
    let url: url::Url = emu.url().parse().expect("url");
    let dir = tempfile::tempdir().expect("temporary directory");
    let token_file = dir.path().join("hec-token");
    std::fs::write(
        &token_file,
        o365sync::emulator::hec::HecSettings::default().token,
    )
    .expect("token");

    let elastic = ElasticsearchSink::open(&ElasticsearchConfig {
        url: url.clone(),
        index: "logs-o365.audit-bench".into(),
        auth: ElasticAuth::None,
        ca_file: None,
        batch_bytes: DEFAULT_BATCH_BYTES,
    })
    .expect("elasticsearch sink");
    let hec = |ack: bool| {
        SplunkSink::open(&SplunkConfig {
            url: url.clone(),
            token: SecretSource::File(token_file.clone()),
            index: None,
            sourcetype: splunk::DEFAULT_SOURCETYPE.into(),
            ack,
            ca_file: None,
            ack_timeout: splunk::DEFAULT_ACK_TIMEOUT,
            batch_bytes: splunk::DEFAULT_BATCH_BYTES,
        })
        .expect("splunk sink")
    };
    let credential = Credential::from_pem(
        cert.certificate_pem.as_bytes(),
        cert.private_key_pem.as_bytes(),
        None,
        SigningAlgorithm::Rs256,
        jiff::Timestamp::now(),
    )
    .expect("credential");
    let mut endpoints = o365sync::cloud::Cloud::Commercial
        .endpoints(
            emu.tenant_id(),
            &o365sync::cloud::EndpointOverrides {
                login: Some(emu.url()),
                api: Some(emu.url()),
            },
        )
        .expect("endpoints");
    endpoints.scope = o365sync::cloud::Cloud::Commercial.monitor_scope();
    let tokens = TokenProvider::new(
        Arc::new(credential),
        TokenProviderConfig::new(emu.client_id(), endpoints),
    );
    let ingestion = LogsIngestionSink::open(
        &LogsIngestionConfig {
            endpoint: url.clone(),
            dcr_immutable_id: o365sync::emulator::ingestion::DEFAULT_DCR.into(),
            stream: o365sync::emulator::ingestion::DEFAULT_STREAM.into(),
        },
        tokens,
    )
    .expect("logs ingestion sink");

    let receivers = emu.receivers();
    let clear = || {
        receivers.elastic.clear();
        receivers.hec.clear();
        receivers.ingestion.clear();
    };
    let hec_ack: Arc<dyn Destination> = Arc::new(hec(true));
    let destinations: Vec<(&str, Arc<dyn Destination>)> = vec![
        ("elasticsearch", Arc::new(elastic)),
        ("splunk_hec_ack", Arc::clone(&hec_ack)),
        ("splunk_hec_no_ack", Arc::new(hec(false))),
        ("azure_logs_ingestion", Arc::new(ingestion)),
    ];
    let mut group = c.benchmark_group("sink");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    let mut n = 10_000u64;
    for (name, destination) in destinations {
        let sink = SharedSink::from_destination(destination);
        if name == "splunk_hec_no_ack" {
            receivers.hec.set(o365sync::emulator::hec::HecSettings {
                ack: false,
                ..Default::default()
            });
        } else {
            receivers.hec.set(o365sync::emulator::hec::HecSettings {
                ack_after_polls: 0,
                ..Default::default()
            });
        }
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    clear();
                    n += 1;
                    blob(n)
                },
                |batch| black_box(runtime.block_on(sink.write_blob(batch)).expect("delivered")),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    // The executor lets up to `IN_FLIGHT` blobs of a job await their acknowledgement together: HEC with
    // acknowledgement, one blob after another against `IN_FLIGHT` at once.
    const IN_FLIGHT: usize = 8;
    let mut group = c.benchmark_group("sink_in_flight");
    group.throughput(Throughput::Elements((IN_FLIGHT * EVENTS) as u64));
    group.sample_size(10);
    receivers.hec.set(o365sync::emulator::hec::HecSettings {
        ack_after_polls: 0,
        ..Default::default()
    });
    let sink = SharedSink::from_destination(hec_ack);
    for (name, together) in [
        ("splunk_hec_ack_sequential", false),
        ("splunk_hec_ack_8_at_once", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    clear();
                    (0..IN_FLIGHT)
                        .map(|_| {
                            n += 1;
                            blob(n)
                        })
                        .collect::<Vec<_>>()
                },
                |batches| {
                    runtime.block_on(async {
                        if together {
                            let writes = batches.into_iter().map(|b| sink.write_blob(b));
                            for ack in futures::future::join_all(writes).await {
                                let _ = black_box(ack.expect("delivered"));
                            }
                        } else {
                            for b in batches {
                                let _ = black_box(sink.write_blob(b).await.expect("delivered"));
                            }
                        }
                    })
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, sinks, network_sinks);
criterion_main!(benches);
