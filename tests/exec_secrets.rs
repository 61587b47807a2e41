//! A full sync at trace level, with an encrypted key, token expiry and faults, leaks no secret: not the private key,
//! not its passphrase, not a client assertion or access token — in no log line, no output and no state file.

mod exec_support;

use std::path::Path;

use exec_support::{DEFAULT_SYNC, Env, assert_exact, content, hostile, setup};
use o365sync::emulator::Faults;
use pkcs8::der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;

const PASS_VAR: &str = "O365SYNC_SECRETS_TEST_PASS";
const PASSPHRASE: &str = "tr0ub4dor&3-never-in-a-log";

/// Every file below `dir`, as bytes, with its path.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    o365sync::sink::jsonl::files_below(dir)
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `-vv run` at `RUST_LOG=trace` with `var=value` in the environment; asserts it succeeded with trace logging on.
async fn sync_at_trace(env: &Env, var: &str, value: &str) -> std::process::Output {
    let job = env.job();
    let mut cmd = env.command(&["-vv", "run", &job]);
    cmd.env("RUST_LOG", "trace").env(var, value);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        &stderr[stderr.len().saturating_sub(4000)..]
    );
    assert!(stderr.lines().count() > 100, "trace logging was on");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_at_trace_level_leaks_no_secret() {
    let faults = Faults {
        expire_tokens_every: Some(25),
        ..hostile()
    };
    let env = setup(content(11, 6, 0), faults, DEFAULT_SYNC).await;

    // Encrypt the job's key with a passphrase taken from the environment.
    let key_path = env.dir.path().join("certs/key.pem");
    let plain_pem = std::fs::read_to_string(&key_path).unwrap();
    let (_, der) = pkcs8::der::Document::from_pem(&plain_pem).unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).unwrap();
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[7; 16], &[9; 16]).unwrap();
    let encrypted_pem = info
        .encrypt_with_params(params, PASSPHRASE)
        .unwrap()
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .unwrap()
        .to_string();
    std::fs::write(&key_path, &encrypted_pem).unwrap();
    let job = std::fs::read_to_string(&env.job_file).unwrap().replace(
        "  private_key: ../certs/key.pem\n",
        &format!("  private_key: ../certs/key.pem\n  private_key_passphrase_env: {PASS_VAR}\n"),
    );
    std::fs::write(&env.job_file, job).unwrap();

    let out = sync_at_trace(&env, PASS_VAR, PASSPHRASE).await;
    assert_exact(&env.delivered(), &env.emu.ground_truth().all());
    let stats = env.emu.stats();
    assert!(
        stats.tokens_issued >= 2,
        "token expiry forced refreshes: {stats:?}"
    );

    // What must never appear: the key (plain and encrypted PEM body lines), the passphrase, and any JWT (client
    // assertions and access tokens are JWTs; their base64url header always starts with `eyJ`).
    let mut secrets: Vec<(String, Vec<u8>)> = vec![
        ("passphrase".into(), PASSPHRASE.as_bytes().to_vec()),
        ("jwt".into(), b"eyJ".to_vec()),
    ];
    for (what, pem) in [("key", &plain_pem), ("encrypted key", &encrypted_pem)] {
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 32)
        {
            secrets.push((what.into(), line.as_bytes().to_vec()));
        }
    }
    let mut places = vec![
        ("stderr".to_string(), out.stderr.clone()),
        ("stdout".to_string(), out.stdout.clone()),
    ];
    places.extend(files(&env.state_dir));
    places.extend(files(&env.out_dir));
    assert!(places.len() > 4, "state and output files were searched");
    for (place, bytes) in &places {
        for (what, secret) in &secrets {
            assert!(!contains(bytes, secret), "{what} found in {place}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_sink_after_a_full_sync_equals_the_ground_truth() {
    let env = setup(content(12, 30, 0), hostile(), DEFAULT_SYNC).await;
    let job = std::fs::read_to_string(&env.job_file).unwrap().replace(
        "  type: jsonl\n  path: ../out\n",
        "  type: sqlite\n  path: ../out/events.db\n",
    );
    std::fs::write(&env.job_file, job).unwrap();
    for run in 0..2 {
        let (out, _) = env.sync().await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let db = rusqlite::Connection::open(env.out_dir.join("events.db")).unwrap();
    let mut stmt = db.prepare("SELECT id, event FROM events").unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    assert_exact(&ids, &env.emu.ground_truth().all());
    for (id, event) in &rows {
        let v: serde_json::Value = serde_json::from_str(event).unwrap();
        assert_eq!(v["metadata"]["uid"].as_str(), Some(id.as_str()));
    }
}

/// Each network sink at trace level: its credential (API key, HEC token, Azure Monitor access token) appears in
/// no log line, no output and no state file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_sinks_at_trace_level_leak_no_credential() {
    const ES_KEY: &str = "c2VjcmV0LWVzLWtleS12YWx1ZS0wMTIzNDU2Nzg5";
    const ES_VAR: &str = "O365SYNC_TEST_ES_KEY";
    let env = setup(content(13, 2, 0), hostile(), DEFAULT_SYNC).await;
    let hec = o365sync::emulator::hec::HecSettings::default();
    std::fs::write(env.dir.path().join("hec-token"), &hec.token).unwrap();
    env.emu
        .receivers()
        .elastic
        .set(o365sync::emulator::elastic::ElasticSettings {
            api_key: Some(ES_KEY.into()),
            ..Default::default()
        });
    let original = std::fs::read_to_string(&env.job_file).unwrap();
    let sinks = [
        format!(
            "  type: elasticsearch\n  url: {}\n  index: o365\n  api_key_env: {ES_VAR}\n",
            env.emu.url()
        ),
        format!(
            "  type: splunk_hec\n  url: {}\n  token_file: ../hec-token\n",
            env.emu.url()
        ),
        format!(
            "  type: azure_logs_ingestion\n  endpoint: {}\n  dcr_immutable_id: {}\n  stream: {}\n",
            env.emu.url(),
            o365sync::emulator::ingestion::DEFAULT_DCR,
            o365sync::emulator::ingestion::DEFAULT_STREAM
        ),
    ];
    for section in sinks {
        std::fs::write(&env.job_file, &original).unwrap();
        env.set_sink(&section);
        let _ = std::fs::remove_dir_all(&env.state_dir);
        let out = sync_at_trace(&env, ES_VAR, ES_KEY).await;
        let mut places = vec![
            ("stderr".to_string(), out.stderr.clone()),
            ("stdout".to_string(), out.stdout.clone()),
        ];
        places.extend(files(&env.state_dir));
        for (place, bytes) in &places {
            for (what, secret) in [
                ("API key", ES_KEY.as_bytes()),
                ("HEC token", hec.token.as_bytes()),
                ("a JWT", b"eyJ".as_slice()),
            ] {
                assert!(
                    !contains(bytes, secret),
                    "{what} found in {place} with {section}"
                );
            }
        }
    }
    assert!(!env.emu.receivers().elastic.documents("o365").is_empty());
    assert!(!env.emu.receivers().hec.events().is_empty());
    assert!(!env.emu.receivers().ingestion.rows().is_empty());
}
