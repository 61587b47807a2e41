//! Property tests of the normalizer: arbitrary JSON values and arbitrary record-shaped objects never panic, always
//! give an event valid against its OCSF 1.8.0 schema, and keep every leaf value of the input.

mod normalize_support;

use normalize_support::{assert_leaves_kept, assert_valid, check_record};
use o365sync::content_type::ContentType;
use o365sync::normalize::{Options, normalize_bytes, normalize_value};
use proptest::prelude::*;
use serde_json::{Map, Number, Value, json};

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        ".{0,16}".prop_map(Value::String),
        interesting().prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// Strings the mapping reacts to: times, addresses, operations, statuses, user ids, JSON inside strings.
fn interesting() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "2015-06-29T20:03:19",
        "2022-12-12 15:57:57",
        "2025-07-07 09:11:11.000000000",
        "2024-02-30T00:00:00",
        "1.2.3.4",
        "1.2.3.4:443",
        "[2001:db8::1]:443",
        "::ffff:10.0.0.1",
        "ffff:10.11.0.229",
        "HOST (192.0.2.1)",
        "0.0.0.0",
        "",
        " ",
        "UserLoggedIn",
        "UserLoginFailed",
        "MailboxLogin",
        "Send",
        "Add user.",
        "Update user.",
        "Add member to role.",
        "Add member to group.",
        "Set-Mailbox",
        "Add-MailboxPermission",
        "FileDownloaded",
        "SharingSet",
        "TeamCreated",
        "AlertTriggered",
        "DlpRuleMatch",
        "CopilotInteraction",
        "Succeeded",
        "Failed",
        "PartiallySucceeded",
        "High",
        "Active",
        "urn:spo:guest#a@b.example",
        "NT AUTHORITY\\SYSTEM (x)",
        "a@b.example",
        "15",
        "8",
        "[{\"Name\":\"UserAgent\",\"Value\":\"ua\"}]",
        "{\"a\":[1,{\"b\":null}]}",
        "[]",
    ])
}

fn arb_json() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys of real records, in their documented and in lower case.
fn arb_key() -> impl Strategy<Value = String> {
    let known = prop::sample::select(o365sync::normalize::MAPPED_KEYS.to_vec());
    prop_oneof![
        3 => known.clone().prop_map(str::to_owned),
        1 => known.prop_map(str::to_ascii_lowercase),
        1 => ".{0,10}",
    ]
}

fn arb_record_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => arb_json(),
        1 => prop::sample::select(vec![1i64, 2, 4, 6, 8, 9, 11, 14, 15, 20, 25, 28, 40, 50, 98, 261, 9999])
            .prop_map(Value::from),
        1 => prop::collection::vec(
            (".{0,6}", arb_leaf()).prop_map(|(n, v)| json!({"Name": n, "Value": v})),
            0..4
        ).prop_map(Value::Array),
    ]
}

fn arb_record() -> impl Strategy<Value = Value> {
    prop::collection::vec((arb_key(), arb_record_value()), 0..24).prop_map(|pairs| {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert(k, v);
        }
        Value::Object(m)
    })
}

fn arb_content_type() -> impl Strategy<Value = Option<ContentType>> {
    prop_oneof![
        Just(None),
        prop::sample::select(ContentType::ALL.to_vec()).prop_map(Some)
    ]
}

fn check(input: &Value, ct: Option<ContentType>) {
    check_record(input, ct, true);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_gives_a_valid_event_and_loses_nothing(v in arb_json(), ct in arb_content_type()) {
        check(&v, ct);
    }

    #[test]
    fn arbitrary_records_give_a_valid_event_and_lose_nothing(v in arb_record(), ct in arb_content_type()) {
        check(&v, ct);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        // Not JSON (almost always): an error, never a panic; JSON: a valid event.
        if let Ok(e) = normalize_bytes(&bytes, None, &Options::default()) {
            assert_valid(&e.to_value(), "arbitrary bytes");
        }
    }
}

#[test]
fn a_huge_record_is_normalized_whole() {
    let params: Vec<Value> = (0..600)
        .map(|i| json!({"Name": format!("Param{i}"), "Value": format!("value {i}")}))
        .collect();
    let mut record = json!({
        "CreationTime": "2024-03-04T10:26:00",
        "Id": "huge-1",
        "Operation": "Set-TransportRule",
        "OrganizationId": "t-1",
        "RecordType": 1,
        "ResultStatus": "True",
        "UserId": "alice@contoso.com",
        "UserKey": "k",
        "UserType": 2,
        "Workload": "Exchange",
        "ObjectId": "Block external forwarding",
        "Parameters": params,
    });
    let obj = record.as_object_mut().expect("object");
    for i in 0..400 {
        obj.insert(
            format!("Extra{i}"),
            json!({"n": i, "s": "x".repeat(i % 50)}),
        );
    }
    let event = normalize_value(
        record.clone(),
        Some(ContentType::Exchange),
        &Options::default(),
    )
    .to_value();
    assert_valid(&event, "huge record");
    assert_leaves_kept(&record, &event, "huge record");
    assert_eq!(event["class_uid"], 3004);
    assert_eq!(
        event["unmapped"]["Parameters"].as_array().map(Vec::len),
        Some(600)
    );
}

#[test]
fn lower_case_keys_map_like_documented_ones() {
    let documented = json!({"CreationTime": "2022-12-12 22:19:00", "Id": "x", "Operation": "UserLoggedIn",
        "RecordType": 15, "UserId": "a@b.example", "ClientIP": "1.2.3.4", "OrganizationId": "t"});
    let lower: Map<String, Value> = documented
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut a = normalize_value(documented, None, &Options::default()).to_value();
    let mut b = normalize_value(Value::Object(lower), None, &Options::default()).to_value();
    // `unmapped` keeps the keys as they came.
    assert_eq!(a["unmapped"].take(), json!({"RecordType": 15}));
    assert_eq!(b["unmapped"].take(), json!({"recordtype": 15}));
    assert_eq!(a, b);
    assert_eq!(a["class_uid"], 3002);
    assert_eq!(a["src_endpoint"]["ip"], "1.2.3.4");
    assert_eq!(a["time"], 1_670_883_540_000_i64);
}

#[test]
fn json_nested_beyond_the_parser_limit_is_kept_whole_not_a_panic() {
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = Value::Array(vec![deep]);
    }
    let text = deep.to_string();
    let record = format!(r#"{{"Id":"deep","Operation":"X","RecordType":15,"Nested":{text}}}"#);
    for event in [
        normalize_bytes(text.as_bytes(), None, &Options::default()).expect("JSON"),
        normalize_value(deep, None, &Options::default()),
        normalize_bytes(record.as_bytes(), None, &Options::default()).expect("JSON"),
    ] {
        // Base Events (no user for the sign-in) keeping the deep value whole, unparsed.
        assert_eq!(event.class_uid(), Some(0));
        let mut out = Vec::new();
        event.write_json(&mut out);
        let out = String::from_utf8(out).expect("UTF-8");
        assert!(out.contains(&text), "{out}");
    }
}
