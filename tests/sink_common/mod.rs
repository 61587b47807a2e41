//! Shared helpers of the sink tests: synthetic batches shaped like the executor's, and readers of sink output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use o365sync::content_type::ContentType;
use o365sync::sink::{Batch, SinkEvent};

/// The tenant every synthetic event belongs to.
pub const TENANT: &str = "8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718";

/// A content ID in the API's shape (with `$`), unique per `n`.
pub fn content_id(ct: ContentType, n: u32) -> String {
    let stamp = format!("20261126{:06}{:09}", 184500 + n, n);
    format!(
        "{stamp}${stamp}${}${}$na",
        ct.as_str().to_lowercase().replace('.', "_"),
        ct.as_str().replace('.', "_")
    )
}

/// An OCSF-shaped event line for record `id`.
pub fn event(ct: ContentType, id: &str, time_ms: i64, class_uid: u32) -> SinkEvent {
    let line = serde_json::json!({
        "activity_id": 1,
        "category_uid": class_uid / 1000,
        "class_uid": class_uid,
        "time": time_ms,
        "message": "UserLoggedIn \u{e9}\u{4e2d}",
        "metadata": {"uid": id, "log_name": ct.as_str(), "version": "1.8.0", "product": {"name": "Microsoft 365"}},
        "actor": {"user": {"uid": "alice@contoso.example", "name": "alice"}},
        "src_endpoint": {"ip": "203.0.113.7"},
        "cloud": {"provider": "Microsoft", "account": {"uid": TENANT}},
    });
    SinkEvent {
        id: id.to_owned(),
        time: jiff::Timestamp::from_millisecond(time_ms).expect("time in range"),
        class_uid,
        tenant: TENANT.into(),
        line: serde_json::to_vec(&line).expect("serializable"),
    }
}

/// Blob `n` of `ct` with `events` events whose Ids are `<n>-<i>` (GUID-like), created at 2026-11-26 18:45 + n s.
pub fn batch(ct: ContentType, n: u32, events: usize) -> Batch {
    let created: jiff::Timestamp = "2026-11-26T18:45:00Z".parse().expect("valid instant");
    let created = created + jiff::SignedDuration::from_secs(i64::from(n));
    Batch {
        content_type: ct,
        content_id: content_id(ct, n),
        content_created: created,
        events: (0..events)
            .map(|i| {
                let id = format!("{n:08x}-0000-4000-8000-{i:012x}");
                let class = if i % 3 == 0 { 3002 } else { 6003 };
                event(ct, &id, created.as_millisecond() - 60_000 + i as i64, class)
            })
            .collect(),
    }
}

/// Every regular file under `root`, recursively, sorted.
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable directory") {
            let entry = entry.expect("directory entry");
            if entry.file_type().expect("file type").is_dir() {
                stack.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

/// The text of a jsonl output file, gunzipped with flate2 when it ends in `.gz`, decompressed with the zstd crate
/// when it ends in `.zst`.
pub fn read_output(path: &Path) -> String {
    let bytes = fs::read(path).expect("readable output");
    if path.extension().is_some_and(|e| e == "zst") {
        String::from_utf8(zstd::decode_all(&bytes[..]).expect("valid zstd")).expect("UTF-8 output")
    } else if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("valid gzip of UTF-8");
        text
    } else {
        String::from_utf8(bytes).expect("UTF-8 output")
    }
}

/// Record Id → number of occurrences over every line of the given text, checking each line is a JSON object
/// whose `metadata.uid` is its Id.
pub fn count_ids(text: &str, counts: &mut BTreeMap<String, usize>) {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "output ends mid-line"
    );
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        let id = value["metadata"]["uid"]
            .as_str()
            .expect("metadata.uid")
            .to_owned();
        *counts.entry(id).or_default() += 1;
    }
}

/// Record Id → occurrences over every final file of a jsonl tree.
pub fn jsonl_ids(root: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for file in files_under(root) {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if o365sync::sink::jsonl::is_final_name(name) {
            count_ids(&read_output(&file), &mut counts);
        }
    }
    counts
}

/// The Ids of a set of batches, each once (the ground truth a sink must hold).
pub fn expected_ids(batches: &[Batch]) -> BTreeMap<String, usize> {
    batches
        .iter()
        .flat_map(|b| b.events.iter())
        .map(|e| (e.id.clone(), 1))
        .collect()
}
