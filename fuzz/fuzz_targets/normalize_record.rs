//! `normalize_value` and `normalize_bytes` on record-shaped objects built from the fuzzer's bytes with `arbitrary`:
//! the keys the mapping reads (documented and lower-case spellings, repeated, nested), the values it reacts to
//! (record types, operations, times, addresses, user ids, Name/Value lists, JSON inside strings) and arbitrary JSON.
//! The event must pass the OCSF rules (type_uid = class_uid × 100 + activity_id, category, activity name, profiles;
//! one input in 16 also its class's OCSF 1.8.0 schema), keep every leaf value of the input, and be the same from the value and from its bytes.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use o365sync::content_type::ContentType;
use o365sync::normalize::MAPPED_KEYS;
use o365sync_fuzz::checks::check_record;
use serde_json::{Map, Number, Value, json};

/// Strings the mapping reacts to.
const INTERESTING: &[&str] = &[
    "2015-06-29T20:03:19",
    "2022-12-12 15:57:57",
    "2025-07-07 09:11:11.000000000",
    "2024-02-30T00:00:00",
    "2024-03-04T10:26:00Z",
    "1.2.3.4",
    "1.2.3.4:443",
    "[2001:db8::1]:443",
    "::ffff:10.0.0.1",
    "ffff:10.11.0.229",
    "HOST (192.0.2.1)",
    "0.0.0.0",
    "::",
    "",
    " ",
    "UserLoggedIn",
    "UserLoginFailed",
    "MailboxLogin",
    "Send",
    "SendAs",
    "HardDelete",
    "MoveToDeletedItems",
    "Add user.",
    "Update user.",
    "Delete user.",
    "Add member to role.",
    "Add member to group.",
    "Consent to application.",
    "Set-Mailbox",
    "New-InboxRule",
    "Add-MailboxPermission",
    "FileDownloaded",
    "FileAccessed",
    "SharingSet",
    "AnonymousLinkCreated",
    "TeamCreated",
    "MemberAdded",
    "AlertTriggered",
    "AlertEntityGenerated",
    "DlpRuleMatch",
    "DlpRuleUndo",
    "DlpInfo",
    "CopilotInteraction",
    "Succeeded",
    "Success",
    "Failed",
    "Failure",
    "PartiallySucceeded",
    "True",
    "High",
    "Medium",
    "Active",
    "Investigating",
    "Resolved",
    "urn:spo:guest#a@b.example",
    "NT AUTHORITY\\SYSTEM (x)",
    "a@b.example",
    "alice@contoso.com",
    "S-1-5-21-1",
    "15",
    "8",
    "Exchange",
    "SharePoint",
    "OneDrive",
    "AzureActiveDirectory",
    "MicrosoftTeams",
    "SecurityComplianceCenter",
    "[{\"Name\":\"UserAgent\",\"Value\":\"ua\"}]",
    "{\"a\":[1,{\"b\":null}]}",
    "[]",
    "{}",
    "null",
];

/// Record types of the published schema, a few unknown ones and edge values.
const RECORD_TYPES: &[i64] = &[
    0,
    1,
    2,
    3,
    4,
    6,
    8,
    9,
    11,
    14,
    15,
    18,
    20,
    25,
    28,
    40,
    50,
    52,
    55,
    64,
    78,
    98,
    147,
    181,
    216,
    261,
    9999,
    -1,
    i64::MAX,
];

/// Nested keys the mapping reads inside objects and lists.
const NESTED_KEYS: &[&str] = &[
    "Name",
    "Value",
    "Type",
    "ID",
    "Id",
    "ClientAppId",
    "ClientAppName",
    "AADSessionId",
    "IssuedAtTime",
    "InternetMessageId",
    "Subject",
    "Path",
    "FolderItems",
    "Folders",
    "DisplayName",
    "NewValue",
    "OldValue",
    "PolicyDetails",
    "Rules",
    "PolicyName",
    "RuleName",
    "Actions",
    "Severity",
    "SensitiveInformation",
];

fn string(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=3)? {
        0 => (*u.choose(INTERESTING)?).to_owned(),
        1 => (*u.choose(MAPPED_KEYS)?).to_owned(),
        _ => String::arbitrary(u)?,
    })
}

fn leaf(u: &mut Unstructured<'_>) -> Result<Value> {
    Ok(match u.int_in_range(0..=7)? {
        0 => Value::Null,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::from(i64::arbitrary(u)?),
        3 => Value::from(u64::arbitrary(u)?),
        4 => Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        5 => Value::from(*u.choose(RECORD_TYPES)?),
        _ => Value::String(string(u)?),
    })
}

fn key(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=5)? {
        0..=2 => (*u.choose(MAPPED_KEYS)?).to_owned(),
        3 => u.choose(MAPPED_KEYS)?.to_ascii_lowercase(),
        4 => (*u.choose(NESTED_KEYS)?).to_owned(),
        _ => String::arbitrary(u)?,
    })
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    if depth == 0 || u.is_empty() {
        return leaf(u);
    }
    Ok(match u.int_in_range(0..=5)? {
        0 => {
            let n = u.int_in_range(0..=4)?;
            Value::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
        }
        1 => {
            let n = u.int_in_range(0..=5)?;
            let mut m = Map::new();
            for _ in 0..n {
                m.insert(key(u)?, value(u, depth - 1)?);
            }
            Value::Object(m)
        }
        2 => {
            // a Name/Value list (ExtendedProperties, Parameters, ModifiedProperties)
            let n = u.int_in_range(0..=3)?;
            Value::Array(
                (0..n)
                    .map(|_| Ok(json!({"Name": key(u)?, "Value": value(u, depth - 1)?})))
                    .collect::<Result<_>>()?,
            )
        }
        _ => leaf(u)?,
    })
}

fn record(u: &mut Unstructured<'_>) -> Result<Value> {
    let n = u.int_in_range(0..=24)?;
    let mut m = Map::new();
    for _ in 0..n {
        let k = key(u)?;
        let v = if k.eq_ignore_ascii_case("RecordType") && bool::arbitrary(u)? {
            Value::from(*u.choose(RECORD_TYPES)?)
        } else {
            value(u, 3)?
        };
        m.insert(k, v);
    }
    Ok(Value::Object(m))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(content_type) = u.choose_index(ContentType::ALL.len() + 1) else {
        return;
    };
    let content_type = ContentType::ALL.get(content_type).copied();
    let Ok(input) = record(&mut u) else {
        return;
    };
    check_record(&input, content_type, o365sync_fuzz::sampled(data));
});
