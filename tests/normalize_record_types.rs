//! The class-choice table over the normalizer: a minimal record of every `AuditLogRecordType` value becomes a valid
//! event of the class its row names, an unknown RecordType with a user and an operation still gets a real class, and
//! only a record with nothing modellable is a Base Event.

mod normalize_support;

use normalize_support::{assert_leaves_kept, assert_valid};
use o365sync::normalize::record_types::{RECORD_TYPES, Rule};
use o365sync::normalize::{Options, normalize_value};
use serde_json::{Value, json};

/// A minimal record: the common fields, a user, an object, an operation and a client address.
fn record(record_type: i64, operation: &str) -> Value {
    json!({
        "Id": format!("00000000-0000-0000-0000-{record_type:012}"),
        "CreationTime": "2026-12-04T10:00:00",
        "RecordType": record_type,
        "Operation": operation,
        "OrganizationId": "4a1c1d2e-0000-4000-8000-000000000001",
        "UserType": 0,
        "UserId": "alice@contoso.com",
        "UserKey": "10032000ABCDEF",
        "ObjectId": "https://contoso.sharepoint.com/sites/x/doc.docx",
        "ClientIP": "203.0.113.7",
    })
}

/// The class uid a rule gives that minimal record for a verb-less operation named after the type.
fn expected(rule: Rule) -> u32 {
    match rule {
        Rule::SignIn => 3002,
        Rule::Directory | Rule::Cmdlet | Rule::Settings => 3004,
        Rule::FileOp | Rule::Sharing => 6006,
        Rule::EmailScan => 4009,
        Rule::Detection => 2004,
        Rule::Dlp => 2006,
        Rule::Copilot | Rule::Api | Rule::Generic => 6003,
        Rule::Mailbox | Rule::SharePoint | Rule::Teams | Rule::App => 6001,
    }
}

fn normalize(v: &Value) -> Value {
    normalize_value(v.clone(), None, &Options::default()).to_value()
}

#[test]
fn every_record_type_becomes_a_valid_event_of_its_row_s_class() {
    for row in RECORD_TYPES {
        let mut input = record(row.value, &format!("{}Operation", row.name));
        if row.rule == Rule::EmailScan {
            input["P2Sender"] = json!("mallory@example.net");
        }
        let event = normalize(&input);
        let context = format!("RecordType {} {}", row.value, row.name);
        assert_eq!(
            event["class_uid"],
            json!(expected(row.rule)),
            "{context}: {event:#}"
        );
        assert_valid(&event, &context);
        assert_leaves_kept(&input, &event, &context);
    }
}

#[test]
fn an_unknown_record_type_with_a_user_is_not_a_base_event() {
    let input = record(9999, "WidgetDeleted");
    let event = normalize(&input);
    assert_eq!(event["class_uid"], json!(6003), "{event:#}");
    assert_eq!(event["activity_id"], json!(4));
    assert_eq!(event["api"]["operation"], json!("WidgetDeleted"));
    assert_eq!(event["src_endpoint"]["ip"], json!("203.0.113.7"));
    assert_eq!(event["actor"]["user"]["name"], json!("alice@contoso.com"));
    assert_valid(&event, "9999");
    assert_leaves_kept(&input, &event, "9999");

    // Without a client address: Web Resources Activity, the object as the resource.
    let mut input = record(9999, "WidgetDeleted");
    input.as_object_mut().expect("object").remove("ClientIP");
    let event = normalize(&input);
    assert_eq!(event["class_uid"], json!(6001), "{event:#}");
    assert_eq!(event["activity_id"], json!(4));
    assert_valid(&event, "9999 without IP");
    assert_leaves_kept(&input, &event, "9999 without IP");
}

#[test]
fn only_a_record_with_nothing_modellable_is_a_base_event() {
    let mut input = record(9999, "SomethingHappened");
    let obj = input.as_object_mut().expect("object");
    for key in ["UserId", "UserKey", "ObjectId", "ClientIP"] {
        obj.remove(key);
    }
    let event = normalize(&input);
    assert_eq!(event["class_uid"], json!(0), "{event:#}");
    assert_valid(&event, "nothing named");
    assert_leaves_kept(&input, &event, "nothing named");

    let mut input = record(15, "UserLoggedIn");
    input.as_object_mut().expect("object").remove("Operation");
    let event = normalize(&input);
    assert_eq!(event["class_uid"], json!(0), "{event:#}");
    assert_valid(&event, "no operation");
}

/// Fields added to the minimal record.
type Extra<'a> = &'a [(&'a str, Value)];

#[test]
fn soc_first_operations_land_in_their_class() {
    let cases: &[(i64, &str, Extra<'_>, u32, u32)] = &[
        (
            1,
            "Add-MailboxPermission",
            &[(
                "Parameters",
                json!([{"Name": "User", "Value": "bob@contoso.com"}, {"Name": "AccessRights", "Value": "FullAccess"}]),
            )],
            3005,
            1,
        ),
        (
            1,
            "Add-RecipientPermission",
            &[(
                "Parameters",
                json!([{"Name": "Trustee", "Value": "bob@contoso.com"}, {"Name": "AccessRights", "Value": "SendAs"}]),
            )],
            3005,
            1,
        ),
        (2, "AddFolderPermissions", &[], 3005, 1),
        (2, "ModifyFolderPermissions", &[], 3005, 1),
        (2, "RemoveFolderPermissions", &[], 3005, 2),
        (1, "New-InboxRule", &[], 3004, 1),
        (1, "Set-InboxRule", &[], 3004, 3),
        (2, "UpdateInboxRules", &[], 3004, 3),
        (1, "Set-Mailbox", &[], 3004, 3),
        (50, "MailItemsAccessed", &[], 6001, 2),
        (2, "Send", &[], 4009, 1),
        (
            2,
            "SendAs",
            &[("SendAsUserSmtp", json!("ceo@contoso.com"))],
            4009,
            1,
        ),
        (
            2,
            "SendOnBehalf",
            &[("SendOnBehalfOfUserSmtp", json!("ceo@contoso.com"))],
            4009,
            1,
        ),
        (8, "Consent to application.", &[], 3004, 99),
        (8, "Add service principal credentials.", &[], 3004, 3),
        (8, "Add member to role.", &[], 3005, 1),
        (15, "UserLoginFailed", &[], 3002, 1),
        (22, "MessageCreated", &[], 6001, 1),
        (20, "ViewReport", &[], 6001, 2),
        (65, "QuarantineDeleteMessage", &[], 6001, 4),
        (66, "CreateForm", &[], 6001, 1),
        (83, "SensitivityLabelRemoved", &[], 6001, 4),
    ];
    for (rt, op, extra, class_uid, activity_id) in cases {
        let mut input = record(*rt, op);
        for (k, v) in *extra {
            input[*k] = v.clone();
        }
        let event = normalize(&input);
        let context = format!("{rt} {op}");
        assert_eq!(
            (event["class_uid"].clone(), event["activity_id"].clone()),
            (json!(class_uid), json!(activity_id)),
            "{context}: {event:#}"
        );
        assert_valid(&event, &context);
        assert_leaves_kept(&input, &event, &context);
    }
    // A failed sign-in: Authentication with status 2.
    let event = normalize(&record(15, "UserLoginFailed"));
    assert_eq!(event["status_id"], json!(2), "{event:#}");
}
