//! `o365sync normalize`: JSON lines and JSON arrays in, OCSF events as JSON lines out; malformed lines reported with
//! their line number and skipped, and the exit code says so.

mod normalize_support;

use std::process::Output;

use normalize_support::{assert_valid, fixtures};
use serde_json::Value;

fn normalize(args: &[&str], stdin: &[u8]) -> Output {
    normalize_support::normalize_cli(args, stdin)
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("output line {l:?}: {e}")))
        .collect()
}

const GOOD: &str = r#"{"CreationTime":"2015-06-29T20:03:19","Id":"a","Operation":"UserLoggedIn","RecordType":15,"UserId":"u@contoso.com","ClientIP":"1.2.3.4"}"#;
const OTHER: &str = r#"{"CreationTime":"2015-06-29T20:04:19","Id":"b","Operation":"Set-Mailbox","RecordType":1,"UserId":"u@contoso.com","ObjectId":"m"}"#;

#[test]
fn json_lines_with_a_malformed_line_skip_it_report_its_number_and_exit_3() {
    let input = format!("{GOOD}\n{{\"Id\": \"broken\",\n\n{OTHER}\n");
    let out = normalize(&[], input.as_bytes());
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: skipped"), "{stderr}");
    assert!(
        stderr.contains("1 malformed line(s) skipped, 2 event(s) written"),
        "{stderr}"
    );
    let evs = events(&out);
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["class_uid"], 3002);
    assert_eq!(evs[1]["class_uid"], 3004);
    for e in &evs {
        assert_valid(e, "cli");
    }
}

#[test]
fn a_pretty_printed_json_array_file_is_streamed_record_by_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("blob.json");
    let records: Vec<Value> = [GOOD, OTHER]
        .iter()
        .map(|r| serde_json::from_str(r).expect("record"))
        .collect();
    std::fs::write(
        &path,
        format!(
            "\u{feff}  {}",
            serde_json::to_string_pretty(&records).expect("pretty")
        ),
    )
    .expect("write blob");
    let out = normalize(
        &[
            "--content-type",
            "audit.azureactivedirectory",
            path.to_str().expect("utf-8 path"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let evs = events(&out);
    assert_eq!(evs.len(), 2);
    assert!(
        evs.iter()
            .all(|e| e["metadata"]["log_name"] == "Audit.AzureActiveDirectory")
    );
    assert_eq!(evs[0]["metadata"]["uid"], "a");
}

#[test]
fn a_malformed_array_reports_the_line_and_exits_1_after_the_records_before_it() {
    let input = format!("[\n{GOOD},\n{{\"Id\": }}\n]");
    let out = normalize(&["-"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: malformed JSON array"));
    assert_eq!(events(&out).len(), 1);
}

#[test]
fn a_blob_per_line_and_every_corpus_file_normalize() {
    let input = format!("[{GOOD},{OTHER}]\n{GOOD}\n");
    let out = normalize(&[], input.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(events(&out).len(), 3);

    for (file, count) in [
        ("microsoft-docs.jsonl", 13),
        ("plaso.jsonl", 4),
        ("panther-analysis.jsonl", 19),
        ("o365sync-written.jsonl", 49),
        ("powerbi-docs.jsonl", 7),
        ("elastic-integrations.jsonl", 23),
    ] {
        let path = fixtures().join("corpus").join(file);
        let out = normalize(&[path.to_str().expect("utf-8 path")], b"");
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
        let evs = events(&out);
        assert_eq!(evs.len(), count, "{file}");
        for e in &evs {
            assert_valid(e, file);
        }
    }
}

#[test]
fn raw_format_and_include_raw() {
    let out = normalize(&["--format", "raw"], format!("{GOOD}\n").as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{GOOD}\n"));

    // From a pretty-printed array too, the records come out as they were, keys in their order, one per line.
    let pretty = format!(
        "[\n  {},\n  {}\n]\n",
        GOOD.replace(",\"", ",\n    \""),
        OTHER
    );
    let out = normalize(&["--format", "raw"], pretty.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{GOOD}\n{OTHER}\n")
    );

    let out = normalize(&["--include-raw"], format!("{GOOD}\n").as_bytes());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(events(&out)[0]["raw_data"], GOOD);
}

#[test]
fn usage_errors_exit_2_and_say_what_to_do() {
    let out = normalize(&["--content-type", "Audit.Teams"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use one of"));

    let out = normalize(&["/nonexistent/records.jsonl"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/records.jsonl")
    );
}

#[test]
fn empty_input_is_a_success_with_no_output() {
    let out = normalize(&[], b"\n \n");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}
