//! Writes the fuzz targets' seed corpora (`fuzz/seeds/<target>/`) from the repository's fixtures and the emulator:
//! `cargo run --example fuzz_seeds` (see fuzz/README.md). The seeds are committed; this rebuilds them.

use std::path::{Path, PathBuf};

use o365sync::content_type::ContentType;
use o365sync::emulator::{ContentSettings, blob_bodies};
use o365sync::state::{Identity, ListedBlob, RunKind, StateDir, Track, Window};
use serde_json::Value;

const ANCHOR_MS: i64 = 1_767_225_600_000;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("fuzz/seeds");
    if out.exists() {
        std::fs::remove_dir_all(&out)?;
    }
    let records = corpus_records(&root.join("fixtures/corpus"))?;
    let emulator = emulator_blobs();
    let mut seeds = Seeds::new(&out);

    // blob_split: one chunking byte, then a body
    for (i, group) in records.chunks(3).enumerate() {
        let values: Vec<Value> = group
            .iter()
            .filter_map(|r| serde_json::from_slice(r).ok())
            .collect();
        let compact = serde_json::to_vec(&values)?;
        seeds.add("blob_split", &[&[i as u8], &compact[..]].concat());
        if i % 4 == 0 {
            let pretty = serde_json::to_vec_pretty(&values)?;
            seeds.add(
                "blob_split",
                &[&[i as u8 ^ 0x55][..], &b"\xEF\xBB\xBF"[..], &pretty[..]].concat(),
            );
            seeds.add(
                "blob_split",
                &[&[i as u8], &compact[..compact.len() / 2]].concat(),
            );
        }
    }
    for (i, body) in emulator.iter().enumerate() {
        seeds.add("blob_split", &[&[i as u8], &body[..]].concat());
    }
    for body in [
        &b"[]"[..],
        b" [ ] ",
        b"[1,\"a\\\"]\",[{}],null,-0.5e3,true]",
        b"[{\"k\":\"\\u00e9\xc3\xa9\"}]",
    ] {
        seeds.add("blob_split", &[&[7u8], body].concat());
    }

    // listing: a listing page, then next-page and content URIs
    let listing = br#"[{"contentType":"Audit.Exchange","contentId":"20200705152230936019353$20200705152411486034089$audit_exchange$Audit_Exchange$emea0036","contentUri":"https://manage.office.com/api/v1.0/t/activity/feed/audit/20200705152230936019353$x","contentCreated":"2020-07-05T15:24:11.486Z","contentExpiration":"2020-07-12T15:22:30.936Z"},{"contentId":"b","contentUri":"u","contentCreated":"2020-07-05T15:24:11","contentExpiration":"soon"}]"#;
    seeds.add("listing", listing);
    seeds.add("listing", b"[]");
    for uri in [
        "https://manage.office.com/api/v1.0/t/activity/feed/subscriptions/content?contentType=Audit.General&startTime=2020-07-05T00:00:00&endTime=2020-07-05T01:00:00&nextPage=2020070500000$x",
        "/api/v1.0/t/activity/feed/audit/x?PublisherIdentifier=p",
        "https://evil.example/api/v1.0/t/activity/feed/audit/x",
        "HTTPS://MANAGE.OFFICE.COM:443/a?b=c&publisheridentifier=",
    ] {
        seeds.add("listing", uri.as_bytes());
    }

    // error_body: one status byte, then a body
    for (status, body) in [
        (0u8, &br#"{"error":{"code":"AF20022","message":"No subscription found for the specified content type"}}"#[..]),
        (3, br#"{"error":{"code":"AF429","message":"Too many requests. Method=GetBlob, PublisherId=00000000-0000-0000-0000-000000000000"}}"#),
        (4, br#"{"Message":"An error has occurred. AF50000"}"#),
        (1, br#"{"error":"invalid_client","error_description":"AADSTS700027: Client assertion contains an invalid signature."}"#),
        (7, b"<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>"),
        (2, b"Forbidden\r\n"),
        (5, b"120"),
        (6, b"Wed, 21 Oct 2015 07:28:00 GMT"),
    ] {
        seeds.add("error_body", &[&[status], body].concat());
    }

    // normalize_bytes: a content-type byte, then a record; normalize_record: the record's bytes as raw material
    for (i, record) in records.iter().enumerate() {
        seeds.add("normalize_bytes", &[&[i as u8], &record[..]].concat());
        seeds.add("normalize_record", record);
    }
    for (i, body) in emulator.iter().enumerate() {
        let values: Vec<Value> = serde_json::from_slice(body)?;
        if let Some(first) = values.first() {
            seeds.add(
                "normalize_bytes",
                &[&[i as u8], &serde_json::to_vec(first)?[..]].concat(),
            );
        }
    }

    // job_file: the repository's job files, pointed at the fixture credentials the target puts in ../certs
    for entry in std::fs::read_dir(root.join("jobs"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path)?
                .replace("../out/demo/certificate.pem", "../certs/cert.pem")
                .replace("../out/demo/key.pem", "../certs/key.pem")
                .replace("../certs/contoso-gcc/certificate.pem", "../certs/cert.pem")
                .replace("../certs/contoso-gcc/key.pem", "../certs/key.pem");
            seeds.add("job_file", text.as_bytes());
        }
    }
    for extra in JOB_VARIANTS {
        seeds.add("job_file", extra.as_bytes());
    }

    // credentials: a role-and-passphrase byte, then a file (see fuzz_targets/credentials.rs)
    let creds = root.join("fixtures/credentials");
    let passphrase_of = |name: &str| -> u8 {
        match name {
            "legacy.pfx" => 1,
            "windows-3des.pfx" => 2,
            "aes.p12" | "truncated.pfx" => 3,
            "nopass.pfx" => 4,
            "chain.pfx" | "ca-first-chain.pfx" => 5,
            _ => 0,
        }
    };
    for entry in std::fs::read_dir(&creds)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".md") || name.ends_with(".py") {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let role =
            if name.ends_with(".pfx") || name.ends_with(".p12") || name.starts_with("combined") {
                2
            } else if name.contains("key") {
                1
            } else {
                0
            };
        seeds.add(
            "credentials",
            &[&[role | (passphrase_of(&name) << 2)], &bytes[..]].concat(),
        );
    }
    seeds.add(
        "credentials",
        &[
            &[1u8 | (6 << 2)],
            encrypted_key(&creds.join("key-pkcs8.der"))?.as_bytes(),
        ]
        .concat(),
    );

    // state_open: real state databases, whole and cut
    for db in state_databases()? {
        seeds.add("state_open", &db);
        seeds.add("state_open", &db[..100.min(db.len())]);
    }
    seeds.add("state_open", b"");
    seeds.add("state_open", b"SQLite format 3\0");

    println!("{} seeds written under {}", seeds.count, out.display());
    Ok(())
}

const JOB_VARIANTS: &[&str] = &[
    "version: 1\nname: pfx-job\ntenant:\n  id: ${TENANT_ID}\n  cloud: gcc-high\n  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a\n  certificate: ${CERTS}/aes.p12\n  private_key_passphrase_env: KEY_PASS\n  signing: PS256\nsync:\n  start: 2025-12-01T00:00:00Z\n  window: PT30M\nsink:\n  type: sqlite\n  path: ../out/events.sqlite3\n",
    "version: 1\nname: hec\ntenant: {id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718, cloud: dod, client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a, certificate: ../certs/combined.pem, private_key: ../certs/combined.pem}\ncontent_types: [DLP.All]\nsink:\n  type: splunk_hec\n  url: https://splunk.example:8088\n  token_env: HEC_TOKEN\n",
    "version: 1\nname: es\ntenant:\n  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718\n  cloud: commercial\n  client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a\n  certificate: ../certs/cert.cer\n  private_key: ../certs/key-pkcs1.der\noutput: {format: raw, include_raw: false}\nsink:\n  type: elasticsearch\n  url: https://es.example:9200\n  index: o365\n",
    "version: 1\nname: bad\ntenant:\n  id: not-a-guid\n  cloud: moon\n  certificate: /nonexistent\nsync: {window: 25h, lookback: -1m, start: 9d}\nsink: {type: jsonl}\nunknown_key: ${UNSET}\n",
];

/// One record per line of every JSON-lines file of the corpus.
fn corpus_records(dir: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
    {
        for line in std::fs::read(path)?.split(|&b| b == b'\n') {
            if !line.trim_ascii().is_empty() {
                out.push(line.to_vec());
            }
        }
    }
    Ok(out)
}

/// Small blobs of every content type as the emulator serves them.
fn emulator_blobs() -> Vec<Vec<u8>> {
    let settings = ContentSettings {
        hours: 1,
        blobs_per_hour: ContentType::ALL.iter().map(|&ct| (ct, 1)).collect(),
        records_per_blob: 3,
        ..ContentSettings::default()
    };
    blob_bodies(&settings, "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718", ANCHOR_MS)
}

/// The fixture key as encrypted PKCS#8 PEM (PBES2, PBKDF2-SHA256, AES-256-CBC), passphrase `fuzz-passphrase`.
fn encrypted_key(der: &Path) -> anyhow::Result<String> {
    use pkcs8::der::pem::LineEnding;
    let der = std::fs::read(der)?;
    let info =
        pkcs8::PrivateKeyInfo::try_from(der.as_slice()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
        2048,
        b"fuzz-salt",
        b"fuzz-iv-16-bytes",
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let encrypted = info
        .encrypt_with_params(params, "fuzz-passphrase")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

/// State databases of job `fuzz`: new, and after a run that listed blobs, completed a window and recorded its identity.
fn state_databases() -> anyhow::Result<Vec<Vec<u8>>> {
    let tmp = tempfile::tempdir()?;
    let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let dir = StateDir::open(tmp.path().join("new"))?;
    drop(dir.lock_and_open("fuzz")?);
    let fresh = std::fs::read(dir.database_path("fuzz"))?;
    let dir = StateDir::open(tmp.path().join("used"))?;
    {
        let state = dir.lock_and_open("fuzz")?;
        let run = state.begin_run(RunKind::Run, now)?;
        state.record_identity(&Identity {
            tenant_id: Some("8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718".into()),
            cloud: Some("gcc".into()),
            ..Identity::default()
        })?;
        let start = now - jiff::SignedDuration::from_hours(1);
        state.init_watermark(ContentType::Exchange, start, now)?;
        let blob = ListedBlob {
            content_id: "a$b".into(),
            created: start,
            expiration: now,
        };
        state.register_listed(ContentType::Exchange, std::slice::from_ref(&blob), now)?;
        state.commit_blob(ContentType::Exchange, &blob, &["record-1".to_owned()], now)?;
        let window = Window::new(start, now).ok_or_else(|| anyhow::anyhow!("window"))?;
        state.complete_window(ContentType::Exchange, Track::Live, window, &["a$b"], now)?;
        state.finish_run(run, now, "ok", &serde_json::json!({"records": 1}))?;
    }
    let used = std::fs::read(dir.database_path("fuzz"))?;
    Ok(vec![fresh, used])
}

struct Seeds {
    dir: PathBuf,
    count: usize,
}

impl Seeds {
    fn new(dir: &Path) -> Seeds {
        Seeds {
            dir: dir.to_owned(),
            count: 0,
        }
    }

    fn add(&mut self, target: &str, bytes: &[u8]) {
        let dir = self.dir.join(target);
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        let name = format!("{:016x}", fnv(bytes));
        std::fs::write(dir.join(name), bytes).expect("write a seed");
        self.count += 1;
    }
}

/// FNV-1a: stable file names, so regenerated seeds give no spurious diff.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
