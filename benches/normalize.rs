//! Throughput of normalization against its floor, plain `serde_json` parse-and-serialize of the same records
//! (raw bytes in, JSON lines out). Issue 9 requires normalize ≥ 80 % of the floor; BENCHMARKS.md records the figures.
//!
//! Input: every record of `fixtures/corpus/*.jsonl` (published and written records), one JSON line each.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use o365sync::content_type::ContentType;
use o365sync::normalize::{Format, Options, guess_content_type, normalize_bytes};
use serde_json::Value;

/// The allocator the program runs with (`src/main.rs`), so the figures are the program's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The corpus lines, each with the content type the executor would know it by.
fn corpus() -> Vec<(Vec<u8>, ContentType)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/corpus");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read fixtures/corpus")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read(&file).expect("read corpus file");
        for line in text.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_slice(line).expect("corpus line is JSON");
            out.push((line.to_vec(), guess_content_type(&value)));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let records = corpus();
    let bytes: u64 = records.iter().map(|(l, _)| l.len() as u64).sum();
    let mut out = Vec::with_capacity(1 << 20);
    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Bytes(bytes));

    group.bench_function("serde_json_parse_serialize", |b| {
        b.iter(|| {
            out.clear();
            for (line, _) in &records {
                let v: Value = serde_json::from_slice(black_box(line)).expect("JSON");
                serde_json::to_writer(&mut out, &v).expect("serialize");
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });

    let ocsf = Options::default();
    // The floor for output of the events' size: parse each record as the floor does, then serialize its OCSF
    // event (built beforehand, as a `Value`) instead of the record. Not a target; it shows how much of
    // `normalize_ocsf` is the size of what it writes.
    let event_values: Vec<Value> = records
        .iter()
        .map(|(line, ct)| {
            normalize_bytes(line, Some(*ct), &ocsf)
                .expect("JSON")
                .to_value()
        })
        .collect();
    group.bench_function("serde_json_parse_serialize_event_sized", |b| {
        b.iter(|| {
            out.clear();
            for ((line, _), event) in records.iter().zip(&event_values) {
                let v: Value = serde_json::from_slice(black_box(line)).expect("JSON");
                black_box(&v);
                serde_json::to_writer(&mut out, black_box(event)).expect("serialize");
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });

    group.bench_function("normalize_ocsf", |b| {
        b.iter(|| {
            out.clear();
            for (line, ct) in &records {
                let ev = normalize_bytes(black_box(line), Some(*ct), &ocsf).expect("JSON");
                ev.write_json(&mut out);
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });

    let with_raw = Options {
        format: Format::Ocsf,
        include_raw: true,
    };
    group.bench_function("normalize_ocsf_include_raw", |b| {
        b.iter(|| {
            out.clear();
            for (line, ct) in &records {
                let ev = normalize_bytes(black_box(line), Some(*ct), &with_raw).expect("JSON");
                ev.write_json(&mut out);
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });

    let raw = Options {
        format: Format::Raw,
        include_raw: false,
    };
    group.bench_function("normalize_raw", |b| {
        b.iter(|| {
            out.clear();
            for (line, ct) in &records {
                let ev = normalize_bytes(black_box(line), Some(*ct), &raw).expect("JSON");
                ev.write_json(&mut out);
                out.push(b'\n');
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
