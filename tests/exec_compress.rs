//! `sink.compress: zstd` end to end: a run against the emulator writes only `.jsonl.zst` files, which decompress to
//! exactly the emulator's records, and a second run adds nothing.

mod exec_support;

use exec_support::*;
use o365sync::emulator::Faults;
use o365sync::sink::jsonl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zstd_jsonl_sink_delivers_every_record_once() {
    let env = setup(content(21, 4, 0), Faults::default(), DEFAULT_SYNC).await;
    let yaml = std::fs::read_to_string(&env.job_file).unwrap();
    assert!(yaml.contains("  path: ../out\n"));
    std::fs::write(
        &env.job_file,
        yaml.replace("  path: ../out\n", "  path: ../out\n  compress: zstd\n"),
    )
    .unwrap();
    let truth = env.emu.ground_truth().all();
    assert!(!truth.is_empty());

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    let ids = || {
        let mut ids = Vec::new();
        for file in jsonl::files_below(&env.out_dir) {
            let name = file.file_name().unwrap().to_str().unwrap().to_owned();
            assert!(
                name.ends_with(".jsonl.zst") && !name.starts_with('.'),
                "only final zstd files: {name}"
            );
            let lines = jsonl::read_lines(&file).unwrap();
            assert!(lines.ends_with(b"\n"), "{name} ends with a whole line");
            for line in String::from_utf8(lines).unwrap().lines() {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                ids.push(event["metadata"]["uid"].as_str().unwrap().to_owned());
            }
        }
        ids
    };
    assert_exact(&ids(), &truth);
    assert_eq!(total(&report, "records_written") as usize, truth.len());

    let (out, report) = env.sync().await;
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert_eq!(total(&report, "records_written"), 0);
    assert_exact(&ids(), &truth);
}
