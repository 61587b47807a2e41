//! The network sinks end to end: the real binary syncs the emulator into its in-process receivers (Elasticsearch
//! `_bulk`, Splunk HEC, Logs Ingestion), with the receivers hostile (throttling, rejected items, busy, late and lost
//! acknowledgements, 413, expired tokens) and the binary SIGKILLed between a sink's acknowledgement and the ledger's
//! commit. Elasticsearch ends with exactly the ground truth; HEC and Logs Ingestion with every record at least once.

mod exec_support;

use std::collections::{BTreeMap, BTreeSet};

use exec_support::*;
use o365sync::emulator::elastic::ElasticSettings;
use o365sync::emulator::hec::HecSettings;
use o365sync::emulator::ingestion::{DEFAULT_DCR, DEFAULT_STREAM, IngestionSettings};

const ES_KEY: &str = "ZW11bGF0b3ItaWQ6ZW11bGF0b3Ita2V5";
const INDEX: &str = "logs-o365.audit-default";

/// Runs the binary, SIGKILLs it at each of `kills` (after the sink acknowledged, before the ledger commit), then
/// runs it to the end; returns the final run's report.
async fn kill_then_finish(env: &Env, kills: &[&str]) -> serde_json::Value {
    let job = env.job();
    for at in kills {
        let mut child = env.start_paused(&["run", &job], at).await;
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("reaped");
        assert!(!status.success(), "killed at {at}");
    }
    let (out, report) = env.sync().await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// Asserts every ground-truth record is there at least once and nothing else is.
fn assert_at_least_once(ids: &[String], truth: &BTreeSet<String>) -> usize {
    let got: BTreeSet<_> = ids.iter().cloned().collect();
    let missing: Vec<_> = truth.difference(&got).take(5).collect();
    assert!(missing.is_empty(), "records missing, e.g. {missing:?}");
    let extra: Vec<_> = got.difference(truth).take(5).collect();
    assert!(
        extra.is_empty(),
        "records not in the ground truth: {extra:?}"
    );
    ids.len() - got.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_holds_exactly_the_ground_truth_through_kills_and_throttling() {
    let env = setup(content(31, 3, 0), hostile(), DEFAULT_SYNC).await;
    env.emu.receivers().elastic.set(ElasticSettings {
        api_key: Some(ES_KEY.into()),
        throttle_every: 5,
        reject_item_every: 37,
        refuse_field: None,
    });
    let key = env.dir.path().join("es-key");
    std::fs::write(&key, format!("{ES_KEY}\n")).unwrap();
    env.set_sink(&format!(
        "  type: elasticsearch\n  url: {}\n  index: {INDEX}\n  api_key_file: {}\n",
        env.emu.url(),
        key.display()
    ));
    let truth = env.emu.ground_truth().all();

    let report = kill_then_finish(&env, &["ack:2", "ack:3"]).await;
    let docs = env.emu.receivers().elastic.documents(INDEX);
    let ids: Vec<String> = docs.keys().cloned().collect();
    assert_exact(&ids, &truth);
    let (requests, items, conflicts) = env.emu.receivers().elastic.counts();
    assert!(
        conflicts > 0,
        "the blobs acknowledged before the kills were delivered again: {conflicts} conflicts"
    );
    assert!(
        items > truth.len() as u64,
        "{items} items for {} records",
        truth.len()
    );
    assert!(requests > 5, "{requests} requests");
    for (id, doc) in &docs {
        assert_eq!(doc["metadata"]["uid"], id.as_str(), "_id is the record Id");
        assert!(doc["@timestamp"].is_string(), "{doc}");
        assert!(doc["class_uid"].is_u64(), "{doc}");
    }
    let sink = &report["sink"];
    assert!(sink["retries"].as_u64().unwrap() > 0, "{report}");
    assert!(sink["throttled"].as_u64().unwrap() > 0, "{report}");

    // A run with nothing new sends nothing.
    let (out, _) = env.sync().await;
    assert!(out.status.success());
    assert_eq!(
        env.emu.receivers().elastic.documents(INDEX).len(),
        truth.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elasticsearch_mapping_error_fails_the_run_naming_the_record_and_field() {
    let env = setup(content(32, 1, 0), Default::default(), DEFAULT_SYNC).await;
    env.emu.receivers().elastic.set(ElasticSettings {
        refuse_field: Some("severity_id".into()),
        ..ElasticSettings::default()
    });
    env.set_sink(&format!(
        "  type: elasticsearch\n  url: {}\n  index: o365\n",
        env.emu.url()
    ));
    let (out, _) = env.sync().await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed to parse field [severity_id]"),
        "{stderr}"
    );
    assert!(stderr.contains("the document of record `"), "{stderr}");
    assert!(env.emu.receivers().elastic.documents("o365").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_elasticsearch_key_fails_without_showing_it() {
    let env = setup(content(33, 1, 0), Default::default(), DEFAULT_SYNC).await;
    env.emu.receivers().elastic.set(ElasticSettings {
        api_key: Some(ES_KEY.into()),
        ..ElasticSettings::default()
    });
    let key = env.dir.path().join("es-key");
    std::fs::write(&key, "d3Jvbmcta2V5LXZhbHVl\n").unwrap();
    env.set_sink(&format!(
        "  type: elasticsearch\n  url: {}\n  index: o365\n  api_key_file: {}\n",
        env.emu.url(),
        key.display()
    ));
    let (out, _) = env.sync().await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(stderr.contains("check the API key"), "{stderr}");
    assert!(
        !stderr.contains("d3Jvbmcta2V5LXZhbHVl"),
        "the key leaked: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_holds_every_record_through_kills_busy_servers_and_lost_acks() {
    let env = setup(content(34, 3, 0), hostile(), DEFAULT_SYNC).await;
    let settings = HecSettings {
        busy_every: 4,
        ack_after_polls: 2,
        lose_ack_every: 9,
        ..HecSettings::default()
    };
    let token = settings.token.clone();
    env.emu.receivers().hec.set(settings);
    let token_file = env.dir.path().join("hec-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    env.set_sink(&format!(
        "  type: splunk_hec\n  url: {}\n  token_file: {}\n  index: o365\n  ack_timeout: 3s\n",
        env.emu.url(),
        token_file.display()
    ));
    let truth = env.emu.ground_truth().all();

    let report = kill_then_finish(&env, &["ack:2"]).await;
    let events = env.emu.receivers().hec.events();
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["event"]["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect();
    let repeats = assert_at_least_once(&ids, &truth);
    assert!(
        repeats > 0,
        "lost acknowledgements and the kill make some records arrive twice"
    );
    for e in &events {
        assert_eq!(e["index"], "o365");
        assert_eq!(e["sourcetype"], "o365:ocsf");
        let source = e["source"].as_str().unwrap();
        assert!(
            source == "o365sync:DLP.All" || source.starts_with("o365sync:Audit."),
            "{e}"
        );
        assert_eq!(e["host"], env.emu.tenant_id());
        let ms = e["event"]["time"].as_i64().unwrap();
        assert_eq!(
            (e["time"].as_f64().unwrap() * 1000.0).round() as i64,
            ms,
            "{e}"
        );
    }
    let sink = &report["sink"];
    assert!(sink["acks"].as_u64().unwrap() > 0, "{report}");
    assert!(sink["throttled"].as_u64().unwrap() > 0, "{report}");
    assert!(
        sink["retries"].as_u64().unwrap() > sink["throttled"].as_u64().unwrap(),
        "lost acks were retried: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_await_their_acknowledgements_together_and_a_record_in_two_blobs_still_goes_once() {
    // Slow acknowledgements (each ackId answered true at its third poll) and records repeated across blobs: the
    // executor keeps several blobs awaiting their acknowledgement at once, and the Ids a blob sends stay reserved
    // until its commit, so a repeated record is sent by one blob only.
    let env = setup(content(39, 4, 0), Default::default(), DEFAULT_SYNC).await;
    let settings = HecSettings {
        ack_after_polls: 2,
        ..HecSettings::default()
    };
    let token_file = env.dir.path().join("hec-token");
    std::fs::write(&token_file, &settings.token).unwrap();
    env.emu.receivers().hec.set(settings);
    env.set_sink(&format!(
        "  type: splunk_hec\n  url: {}\n  token_file: {}\n",
        env.emu.url(),
        token_file.display()
    ));
    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let ids: Vec<String> = env
        .emu
        .receivers()
        .hec
        .events()
        .iter()
        .map(|e| e["event"]["metadata"]["uid"].as_str().unwrap().to_owned())
        .collect();
    let repeats = assert_at_least_once(&ids, &env.emu.ground_truth().all());
    assert_eq!(repeats, 0, "no record was sent twice");
    assert!(
        total(&report, "records_duplicate") > 0,
        "the content repeats records across blobs: {report}"
    );
    let together = env.emu.receivers().hec.most_pending_acks();
    assert!(
        together >= 2,
        "blobs awaited their acknowledgement together (at most {together} at once)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_hec_errors_say_what_to_fix_and_never_show_the_token() {
    let env = setup(content(35, 1, 0), Default::default(), DEFAULT_SYNC).await;
    let token_file = env.dir.path().join("hec-token");
    std::fs::write(&token_file, "11111111-2222-4333-8444-555555555555\n").unwrap();
    env.set_sink(&format!(
        "  type: splunk_hec\n  url: {}\n  token_file: {}\n",
        env.emu.url(),
        token_file.display()
    ));
    let (out, _) = env.sync().await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Invalid token"), "{stderr}");
    assert!(stderr.contains("check the HEC token"), "{stderr}");
    assert!(
        !stderr.contains("11111111-2222-4333-8444-555555555555"),
        "the token leaked: {stderr}"
    );

    // The right token on a token without indexer acknowledgement.
    let settings = HecSettings {
        ack: false,
        ..HecSettings::default()
    };
    std::fs::write(&token_file, &settings.token).unwrap();
    env.emu.receivers().hec.set(settings);
    let (out, _) = env.sync().await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("returned no ackId"), "{stderr}");
    assert!(
        stderr.contains("enable indexer acknowledgement on the HEC token"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_ingestion_holds_every_record_through_kills_throttling_413_and_expired_tokens() {
    // No record alone is over the receiver's small limit, so every 413 can be answered by splitting.
    let mut records = content(36, 3, 0);
    records.large_record_rate = 0.0;
    let env = setup(records, hostile(), DEFAULT_SYNC).await;
    env.emu.receivers().ingestion.set(IngestionSettings {
        throttle_every: 10,
        unavailable_every: 23,
        max_body: 12_000,
        ..IngestionSettings::default()
    });
    env.set_sink(&format!(
        "  type: azure_logs_ingestion\n  endpoint: {}\n  dcr_immutable_id: {DEFAULT_DCR}\n  stream: {DEFAULT_STREAM}\n",
        env.emu.url()
    ));
    let truth = env.emu.ground_truth().all();

    let job = env.job();
    let mut child = env.start_paused(&["run", &job], "ack:2").await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    env.emu.expire_tokens();
    let report = kill_then_finish(&env, &[]).await;

    let rows = env.emu.receivers().ingestion.rows();
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r["RecordId"].as_str().unwrap().to_owned())
        .collect();
    assert_at_least_once(&ids, &truth);
    for r in &rows {
        assert_eq!(r["Event"]["metadata"]["uid"], r["RecordId"]);
        let ct = r["ContentType"].as_str().unwrap();
        assert!(ct == "DLP.All" || ct.starts_with("Audit."), "{r}");
        assert!(r["TimeGenerated"].as_str().unwrap().ends_with('Z'), "{r}");
        assert_eq!(r["TenantId"], env.emu.tenant_id());
    }
    let (_, too_large) = env.emu.receivers().ingestion.counts();
    assert!(too_large > 0, "bodies over the receiver's limit were split");
    let sink = &report["sink"];
    assert!(sink["throttled"].as_u64().unwrap() > 0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_ingestion_names_a_wrong_stream_or_rule() {
    let env = setup(content(37, 1, 0), Default::default(), DEFAULT_SYNC).await;
    env.set_sink(&format!(
        "  type: azure_logs_ingestion\n  endpoint: {}\n  dcr_immutable_id: {DEFAULT_DCR}\n  stream: Custom-Other_CL\n",
        env.emu.url()
    ));
    let (out, _) = env.sync().await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Custom-Other_CL' is not declared"),
        "{stderr}"
    );
    assert!(
        stderr.contains("check sink.dcr_immutable_id and sink.stream"),
        "{stderr}"
    );
    let counts: BTreeMap<_, _> = [("rows", env.emu.receivers().ingestion.rows().len())].into();
    assert_eq!(counts["rows"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_ingestion_writes_to_a_workspace_in_another_tenant_and_cloud_with_sink_auth() {
    // A commercial Microsoft 365 tenant beside a workspace in Azure Government: the rule's role assignment is in
    // the workspace's tenant, so only that directory's app registration may write to it.
    const WORKSPACE_TENANT: &str = "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
    const WORKSPACE_CLIENT: &str = "7e6d5c4b-3a29-4817-a6b5-c4d3e2f1a0b9";
    let workspace_cert =
        o365sync::emulator::throwaway_certificate("workspace writer").expect("certificate");
    let der = workspace_cert.certificate_der.clone();
    let env = setup_with(
        content(38, 2, 0),
        Default::default(),
        DEFAULT_SYNC,
        |config| {
            config.workspace = Some(o365sync::emulator::WorkspaceRegistration {
                tenant_id: WORKSPACE_TENANT.to_owned(),
                client_id: WORKSPACE_CLIENT.to_owned(),
                cloud: o365sync::cloud::Cloud::GccHigh,
                trusted_certificates: vec![der],
            });
        },
    )
    .await;
    let certs = env.dir.path().join("certs");
    std::fs::write(certs.join("workspace.pem"), &workspace_cert.certificate_pem).expect("cert");
    std::fs::write(
        certs.join("workspace-key.pem"),
        &workspace_cert.private_key_pem,
    )
    .expect("key");
    let sink = format!(
        "  type: azure_logs_ingestion\n  endpoint: {}\n  dcr_immutable_id: {DEFAULT_DCR}\n  stream: {DEFAULT_STREAM}\n",
        env.emu.url()
    );
    env.set_sink(&sink);

    // Without `auth`, the job's own registration gets a valid token that has no access to the rule.
    let (out, _) = env.sync().await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not have access to ingest data"),
        "{stderr}"
    );
    assert!(stderr.contains("needs `sink.auth`"), "{stderr}");
    assert!(env.emu.receivers().ingestion.rows().is_empty());

    // With `auth`, the workspace's registration signs its own assertion, at its own tenant's token endpoint, for
    // Azure Government's Azure Monitor audience.
    let yaml = std::fs::read_to_string(&env.job_file).expect("job file");
    let with_auth = yaml.replace(
        &sink,
        &format!(
            "{sink}  auth:\n    id: {WORKSPACE_TENANT}\n    cloud: gcc-high\n    client_id: {WORKSPACE_CLIENT}\n    certificate: ../certs/workspace.pem\n    private_key: ../certs/workspace-key.pem\n"
        ),
    );
    assert_ne!(yaml, with_auth);
    std::fs::write(&env.job_file, with_auth).expect("job file");
    let job = env.job();
    let doctor = env.run(&["doctor", &job]).await;
    let printed = String::from_utf8_lossy(&doctor.stdout);
    for check in [
        "sink.auth certificate",
        "sink.auth key match",
        "sink.auth expiry",
    ] {
        assert!(printed.contains(check), "doctor shows {check}:\n{printed}");
    }
    assert!(
        printed.contains(
            &o365sync::auth::Thumbprints::of_der(&workspace_cert.certificate_der).sha1_hex
        ),
        "doctor shows the workspace certificate's thumbprint:\n{printed}"
    );
    assert_eq!(doctor.status.code(), Some(0), "{printed}");

    let report = kill_then_finish(&env, &[]).await;
    let ids: Vec<String> = env
        .emu
        .receivers()
        .ingestion
        .rows()
        .iter()
        .map(|r| r["RecordId"].as_str().unwrap().to_owned())
        .collect();
    let duplicates = assert_at_least_once(&ids, &env.emu.ground_truth().all());
    assert_eq!(duplicates, 0, "one clean run sends each record once");
    assert_eq!(report["sink"]["retries"], 0, "{report}");
}
