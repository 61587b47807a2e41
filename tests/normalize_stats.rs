//! `normalize --stats`: the fidelity figures over the whole of `fixtures/corpus/` stay at or above today's floors
//! (raise them when the mapping improves, never lower them without saying why), the definitions of
//! `o365sync::normalize::stats` on small hand-written records, and the command through the real binary.

mod normalize_support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use normalize_support::fixtures;
use o365sync::normalize::cli::stats_stream;
use o365sync::normalize::stats::{Ratio, Report, Stats};
use o365sync::normalize::{Options, normalize_bytes};
use serde_json::{Value, json};

/// Every JSON lines file of the corpus.
fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join("corpus"))
        .expect("read fixtures/corpus")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

fn corpus_report() -> Report {
    let mut all = Vec::new();
    for file in corpus_files() {
        all.extend(std::fs::read(&file).expect("read corpus file"));
        all.push(b'\n');
    }
    let mut diag = Vec::new();
    let (summary, stats) = stats_stream(all.as_slice(), &mut diag, None).expect("stats");
    assert_eq!(summary.skipped, 0, "{}", String::from_utf8_lossy(&diag));
    stats.report()
}

fn at_least(name: &str, r: Ratio, floor_percent: f64, min_denominator: u64) {
    assert!(
        r.denominator >= min_denominator,
        "{name}: only {} records name it (expected at least {min_denominator})",
        r.denominator
    );
    assert!(
        r.percent() >= floor_percent,
        "{name}: {}/{} ({:.1}%) is below the floor of {floor_percent}%",
        r.numerator,
        r.denominator,
        r.percent()
    );
}

#[test]
fn corpus_figures_stay_at_or_above_the_floors() {
    let report = corpus_report();
    assert!(report.records >= FLOOR_RECORDS, "{}", report.to_text());
    let d = report.dimensions;
    at_least("actor", d.actor, FLOOR_ACTOR, 50);
    at_least("source_ip", d.source_ip, FLOOR_SOURCE_IP, 30);
    at_least("target", d.target, FLOOR_TARGET, 30);
    at_least("session", d.session, FLOOR_SESSION, 5);
    at_least("application", d.application, FLOOR_APPLICATION, 5);
    at_least("outcome", d.outcome, FLOOR_OUTCOME, 20);
    assert!(
        report.base_event.percent() <= CEILING_BASE_EVENT,
        "{}",
        report.to_text()
    );
    assert!(
        report.unmapped_keys.percent() <= CEILING_UNMAPPED_KEYS,
        "{}",
        report.to_text()
    );
    let events: u64 = report.classes.iter().map(|c| c.events.numerator).sum();
    assert_eq!(events, report.records);
}

// Today's figures over fixtures/corpus/, rounded down (ceilings rounded up) a little; the issue's targets are 98 %
// (actor, source IP), 90 % (target, session, application) and at most 2 % Base Event.
const FLOOR_RECORDS: u64 = 115;
const FLOOR_ACTOR: f64 = 98.0; // 104/104 (was 42/71 before the host-profile actor)
const FLOOR_SOURCE_IP: f64 = 98.0; // 63/63 (was 40/46)
const FLOOR_TARGET: f64 = 95.0; // 87/88 (98.9%; was 48/59)
const FLOOR_SESSION: f64 = 98.0; // 7/7 (was 0/5)
const FLOOR_APPLICATION: f64 = 98.0; // 11/11 (was 4/6)
const FLOOR_OUTCOME: f64 = 98.0; // 45/45
const CEILING_BASE_EVENT: f64 = 2.0; // 1/115 (0.9%; was 6/81): the one record that names nothing but its operation
const CEILING_UNMAPPED_KEYS: f64 = 48.0; // 968/2028 (47.7%; was 744/1371)

fn stats_of(records: &[Value]) -> Report {
    let mut stats = Stats::new();
    for record in records {
        let raw = serde_json::to_vec(record).expect("serialize");
        let event = normalize_bytes(&raw, None, &Options::default()).expect("JSON");
        stats.add(record, &event.to_value());
    }
    stats.report()
}

fn ratio(numerator: u64, denominator: u64) -> Ratio {
    Ratio {
        numerator,
        denominator,
    }
}

#[test]
fn a_value_only_under_unmapped_does_not_count_and_a_modelled_one_does() {
    let mut stats = Stats::new();
    let record = json!({"UserId": "u@contoso.com", "ClientIP": "1.2.3.4", "ObjectId": "obj-1",
        "AADSessionId": "sess-1", "AppId": "app-1", "ResultStatus": "Succeeded"});
    // Everything only under unmapped: nothing reached.
    let unmapped_only = json!({"class_uid": 0, "class_name": "Base Event", "status_id": 0,
        "metadata": {"original_time": "u@contoso.com"}, "raw_data": "1.2.3.4 obj-1",
        "unmapped": record.clone()});
    stats.add(&record, &unmapped_only);
    // The same values in modelled attributes: every dimension reached.
    let modelled = json!({"class_uid": 6003, "class_name": "API Activity", "status_id": 1,
        "actor": {"user": {"uid": "U@CONTOSO.COM"}, "session": {"uid": "sess-1"}, "app_uid": "app-1"},
        "src_endpoint": {"ip": "1.2.3.4"}, "resources": [{"uid": "obj-1"}]});
    stats.add(&record, &modelled);
    let r = stats.report();
    assert_eq!(r.records, 2);
    for (name, got) in r.dimensions.rows() {
        assert_eq!(got, ratio(1, 2), "{name}");
    }
    assert_eq!(r.base_event, ratio(1, 2));
    // Six keys each: all under unmapped in the first event, none in the second.
    assert_eq!(r.unmapped_keys, ratio(6, 12));
    assert_eq!(r.classes.len(), 2);
    assert_eq!(r.classes[1].class_uid, 6003);
    assert_eq!(r.classes[1].class_name, "API Activity");
}

#[test]
fn an_ip_with_a_port_counts_as_the_ip_and_unusable_ips_are_not_named() {
    let mut stats = Stats::new();
    let event = json!({"class_uid": 3002, "src_endpoint": {"ip": "2001:db8::1"}});
    stats.add(&json!({"ClientIP": "[2001:db8::1]:443"}), &event);
    stats.add(
        &json!({"ClientIPAddress": "::ffff:10.0.0.1"}),
        &json!({"src_endpoint": {"ip": "10.0.0.1"}}),
    );
    stats.add(
        &json!({"ActorIpAddress": "10.0.0.2:5000"}),
        &json!({"src_endpoint": {"ip": "10.0.0.20"}}),
    );
    stats.add(&json!({"ClientIP": "0.0.0.0"}), &event);
    stats.add(&json!({"ClientIp": ""}), &event);
    let r = stats.report();
    // 10.0.0.2 is not 10.0.0.20: addresses compare as addresses, not as text.
    assert_eq!(r.dimensions.source_ip, ratio(2, 3));
}

#[test]
fn guests_user_keys_and_outcomes_follow_the_definitions() {
    let mut stats = Stats::new();
    stats.add(
        &json!({"UserId": "urn:spo:guest#g@fabrikam.com"}),
        &json!({"actor": {"user": {"email_addr": "g@fabrikam.com"}}}),
    );
    // No UserId: UserKey decides.
    stats.add(
        &json!({"UserKey": "1003BFFD"}),
        &json!({"actor": {"user": {"uid": "1003bffd"}}}),
    );
    // Empty UserId and no UserKey: the record does not name an actor.
    stats.add(&json!({"UserId": ""}), &json!({}));
    stats.add(&json!({"ResultStatus": "Failed"}), &json!({"status_id": 2}));
    stats.add(
        &json!({"ResultStatus": "PartiallySucceeded"}),
        &json!({"status_id": 0}),
    );
    stats.add(&json!({"ResultStatus": null}), &json!({"status_id": 0}));
    let r = stats.report();
    assert_eq!(r.dimensions.actor, ratio(2, 2));
    assert_eq!(r.dimensions.outcome, ratio(1, 2));
}

#[test]
fn nested_session_and_application_ids_and_target_lists_are_read() {
    let record = json!({"AppAccessContext": {"AADSessionId": "s-9", "ClientAppId": "c-9"},
        "Members": [{"UPN": "m@contoso.com", "Role": 1}], "ModifiedProperties": []});
    let hit =
        json!({"actor": {"session": {"uid": "s-9"}}, "user": {"email_addr": "m@contoso.com"}});
    let r = {
        let mut s = Stats::new();
        s.add(&record, &hit);
        s.report()
    };
    assert_eq!(r.dimensions.session, ratio(1, 1));
    assert_eq!(r.dimensions.application, ratio(0, 1));
    assert_eq!(r.dimensions.target, ratio(1, 1));
}

#[test]
fn real_records_through_the_normalizer_count_once_each() {
    let r = stats_of(&[
        json!({"CreationTime": "2015-06-29T20:03:19", "Id": "a", "Operation": "UserLoggedIn",
            "RecordType": 15, "UserId": "u@contoso.com", "ClientIP": "1.2.3.4:50000"}),
        json!([1, 2]),
    ]);
    assert_eq!(r.records, 2);
    assert_eq!(r.dimensions.source_ip, ratio(1, 1));
    assert_eq!(r.dimensions.actor, ratio(1, 1));
    assert_eq!(r.base_event, ratio(1, 2));
}

fn stats_cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["--stats"];
    all.extend_from_slice(args);
    normalize_support::normalize_cli(&all, stdin)
}

const LOGIN: &str = r#"{"CreationTime":"2015-06-29T20:03:19","Id":"a","Operation":"UserLoggedIn","RecordType":15,"UserId":"u@contoso.com","ClientIP":"1.2.3.4"}"#;

#[test]
fn the_command_prints_an_aligned_table() {
    let out = stats_cli(&[], format!("{LOGIN}\n{LOGIN}\n").as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("records read") && l.ends_with(" 2")),
        "{text}"
    );
    assert!(text.contains("class 3002 Authentication"), "{text}");
    assert!(text.contains("source_ip reached"), "{text}");
    assert!(text.contains("2/2 (100.0%)"), "{text}");
    // Values start in the same column on every line.
    let column = |l: &str| {
        let gap = l.find("  ").expect("two spaces after the name");
        gap + l[gap..].len() - l[gap..].trim_start().len()
    };
    let columns: Vec<usize> = text.lines().map(column).collect();
    assert!(columns.windows(2).all(|w| w[0] == w[1]), "{text}");
}

#[test]
fn the_command_prints_json_and_reports_malformed_lines_with_exit_3() {
    let corpus = corpus_files();
    let path = corpus[0].to_str().expect("utf-8 path");
    let out = stats_cli(&["--json", path], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "records",
        "classes",
        "base_event",
        "dimensions",
        "unmapped_keys",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    for key in [
        "actor",
        "source_ip",
        "target",
        "session",
        "application",
        "outcome",
    ] {
        assert!(v["dimensions"][key]["denominator"].is_u64(), "{key}: {v}");
    }
    assert!(v["classes"][0]["class_uid"].is_u64());

    let out = stats_cli(&["--json", "-"], format!("{LOGIN}\n{{broken\n").as_bytes());
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["records"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: skipped"));

    // --json without --stats is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(["normalize", "--json"])
        .stdin(Stdio::null())
        .output()
        .expect("run o365sync");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
