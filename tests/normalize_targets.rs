//! Targets, SOC-first operations, DLP matches and alerts on hand-written records: the exact modelled fields, every
//! event valid (cloud-only schema when it lists only `cloud`, always the profiles schema), no leaf value lost.

mod normalize_support;

use normalize_support::{assert_leaves_kept, assert_valid};
use o365sync::normalize::{Options, normalize_bytes};
use serde_json::{Value, json};

/// The event of `record`, checked for validity and lost leaves.
#[track_caller]
fn event(record: Value) -> Value {
    let bytes = record.to_string().into_bytes();
    let ev = normalize_bytes(&bytes, None, &Options::default())
        .expect("valid JSON")
        .to_value();
    let context = record["Operation"].as_str().unwrap_or("record").to_owned();
    assert_valid(&ev, &context);
    assert_leaves_kept(&record, &ev, &context);
    ev
}

fn base(op: &str, record_type: u32, workload: &str) -> Value {
    json!({
        "CreationTime": "2026-12-01T10:00:00",
        "Id": format!("id-{op}"),
        "Operation": op,
        "OrganizationId": "t-1",
        "RecordType": record_type,
        "UserKey": "1003",
        "UserType": 0,
        "UserId": "mallory@contoso.com",
        "Workload": workload,
        "ClientIP": "203.0.113.9",
        "ResultStatus": "True",
    })
}

fn with(mut v: Value, extra: Value) -> Value {
    let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) else {
        panic!("objects")
    };
    o.extend(e);
    v
}

#[test]
fn new_inbox_rule_names_the_rule_and_keeps_its_actions_in_entity_data() {
    let ev = event(with(
        base("New-InboxRule", 1, "Exchange"),
        json!({"ObjectId": "mallory\\hide", "Parameters": [
            {"Name": "Mailbox", "Value": "mallory@contoso.com"},
            {"Name": "Name", "Value": "hide"},
            {"Name": "ForwardTo", "Value": "drop@evil.example"},
            {"Name": "DeleteMessage", "Value": "True"},
            {"Name": "SubjectContainsWords", "Value": "invoice"}]}),
    ));
    assert_eq!(ev["class_uid"], 3004);
    let entity = &ev["entity"];
    assert_eq!(entity["name"], "hide");
    assert_eq!(entity["type"], "InboxRule");
    assert_eq!(entity["data"]["ForwardTo"], "drop@evil.example");
    assert_eq!(entity["data"]["DeleteMessage"], "True");
    assert_eq!(entity["data"]["SubjectContainsWords"], "invoice");
    assert_eq!(entity["user"]["email_addr"], "mallory@contoso.com");
    assert_eq!(entity["uid"], "mallory\\hide");
    // Copied out of a Name/Value list: the list stays under unmapped; ObjectId moved to entity.uid unchanged.
    assert!(ev["unmapped"]["Parameters"].is_array());
    assert!(ev["unmapped"].get("ObjectId").is_none());
}

#[test]
fn set_mailbox_forwarding_puts_the_address_in_forward_addr() {
    let ev = event(with(
        base("Set-Mailbox", 1, "Exchange"),
        json!({"ObjectId": "bob", "Parameters": [
            {"Name": "Identity", "Value": "bob@contoso.com"},
            {"Name": "ForwardingSmtpAddress", "Value": "smtp:bob@evil.example"},
            {"Name": "DeliverToMailboxAndForward", "Value": "False"}]}),
    ));
    let entity = &ev["entity"];
    assert_eq!(entity["name"], "bob");
    assert_eq!(entity["user"]["name"], "bob@contoso.com");
    assert_eq!(entity["user"]["forward_addr"], "bob@evil.example");
    assert_eq!(
        entity["data"],
        json!({"ForwardingSmtpAddress": "smtp:bob@evil.example", "DeliverToMailboxAndForward": "False"})
    );
    assert!(ev["unmapped"]["Parameters"].is_array());
}

#[test]
fn update_inbox_rules_from_outlook_is_the_rule_entity_on_its_mailbox() {
    let ev = event(with(
        base("UpdateInboxRules", 2, "Exchange"),
        json!({"MailboxOwnerUPN": "mallory@contoso.com", "OperationProperties": [
            {"Name": "RuleName", "Value": "."},
            {"Name": "RuleActions", "Value": "[{\"ActionType\":\"MoveToFolder\"}]"}]}),
    ));
    // Entity Management (the class table's override for inbox rules): the rule is the entity, on its mailbox.
    assert_eq!(ev["class_uid"], 3004);
    let res = &ev["entity"];
    assert_eq!(res["name"], ".");
    assert_eq!(res["type"], "InboxRule");
    assert_eq!(res["user"]["name"], "mallory@contoso.com");
    assert_eq!(
        res["data"]["RuleActions"],
        "[{\"ActionType\":\"MoveToFolder\"}]"
    );
    assert!(ev["unmapped"]["OperationProperties"].is_array());
}

#[test]
fn mail_items_accessed_lists_every_message_with_its_folder() {
    let ev = event(with(
        base("MailItemsAccessed", 50, "Exchange"),
        json!({"MailboxOwnerUPN": "ceo@contoso.com", "Folders": [
            {"Path": "\\Inbox", "FolderItems": [
                {"InternetMessageId": "<a@contoso.com>"}, {"InternetMessageId": "<b@contoso.com>"}]}]}),
    ));
    let res = ev["web_resources"].as_array().expect("web_resources");
    let uids: Vec<&str> = res.iter().filter_map(|r| r["uid"].as_str()).collect();
    assert_eq!(uids, ["<a@contoso.com>", "<b@contoso.com>"]);
    assert_eq!(res[0]["type"], "Email");
    assert_eq!(res[0]["data"]["folder"], "\\Inbox");
}

#[test]
fn folder_permission_grants_name_the_folder_member_and_rights() {
    let ev = event(with(
        base("AddFolderPermissions", 2, "Exchange"),
        json!({"MailboxOwnerUPN": "ceo@contoso.com", "MailboxGuid": "mbx-1", "Item": {"Id": "LgAAA",
            "ParentFolder": {"Id": "LgAAAF", "Name": "Inbox", "Path": "\\Inbox",
            "MemberUpn": "mallory@contoso.com", "MemberSid": "S-1-5-21-1", "MemberRights": "ReadAny, Visible"}}}),
    ));
    assert_eq!(ev["class_uid"], 3005);
    assert_eq!(ev["activity_id"], 1);
    assert_eq!(ev["user"]["name"], "mallory@contoso.com");
    assert_eq!(ev["user"]["email_addr"], "mallory@contoso.com");
    assert_eq!(ev["user"]["uid"], "S-1-5-21-1");
    assert_eq!(ev["privileges"], json!(["ReadAny", "Visible"]));
    assert_eq!(
        ev["resources"],
        json!([{"uid": "LgAAAF", "name": "Inbox", "type": "Folder"},
               {"uid": "mbx-1", "name": "ceo@contoso.com", "type": "Mailbox"}])
    );
    // Moved verbatim into the mailbox resource, so no longer unmapped; Item (copied from) stays.
    assert!(ev["unmapped"].get("MailboxOwnerUPN").is_none());
    assert!(ev["unmapped"].get("Item").is_some());
}

#[test]
fn every_mailbox_operation_names_its_mailbox() {
    let ev = event(with(
        base("MailItemsAccessed", 50, "Exchange"),
        json!({"MailboxOwnerUPN": "ceo@contoso.com", "MailboxGuid": "mbx-1", "Folders": [
            {"Path": "\\Inbox", "FolderItems": [{"InternetMessageId": "<a@contoso.com>"}]}]}),
    ));
    let res = ev["web_resources"].as_array().expect("web_resources");
    assert_eq!(
        res.last(),
        Some(&json!({"uid": "mbx-1", "name": "ceo@contoso.com", "type": "Mailbox"}))
    );
    let ev = event(with(
        base("MailboxLogin", 2, "Exchange"),
        json!({"MailboxOwnerUPN": "ceo@contoso.com"}),
    ));
    assert_eq!(ev["service"]["name"], "Exchange");
}

#[test]
fn sharing_with_a_named_user_is_a_grant_and_an_anonymous_link_a_share() {
    let grant = |op: &str| {
        event(with(
            base(op, 14, "OneDrive"),
            json!({"ObjectId": "https://contoso-my.sharepoint.com/personal/m/Documents/plan.docx",
                "SourceFileName": "plan.docx", "ItemType": "File",
                "TargetUserOrGroupName": "urn:spo:guest#partner@fabrikam.com", "TargetUserOrGroupType": "Guest",
                "EventData": "<Type>Edit</Type><MembersCanShareApplied>False</MembersCanShareApplied>"}),
        ))
    };
    let ev = grant("AddedToSecureLink");
    assert_eq!(
        (ev["class_uid"].clone(), ev["activity_id"].clone()),
        (json!(3005), json!(1))
    );
    assert_eq!(ev["user"]["name"], "urn:spo:guest#partner@fabrikam.com");
    assert_eq!(ev["user"]["email_addr"], "partner@fabrikam.com");
    assert_eq!(ev["user"]["type_id"], 1);
    assert_eq!(ev["privileges"], json!(["Edit"]));
    assert_eq!(ev["resources"][0]["name"], "plan.docx");
    assert_eq!(ev["resources"][0]["type"], "File");
    let ev = grant("SharingRevoked");
    assert_eq!(
        (ev["class_uid"].clone(), ev["activity_id"].clone()),
        (json!(3005), json!(2))
    );
    let ev = event(with(
        base("AnonymousLinkCreated", 14, "OneDrive"),
        json!({"ObjectId": "https://contoso-my.sharepoint.com/personal/m/Documents/plan.docx",
            "SourceFileName": "plan.docx", "ItemType": "File"}),
    ));
    assert_eq!(
        (ev["class_uid"].clone(), ev["activity_id"].clone()),
        (json!(6006), json!(12))
    );
}

#[test]
fn sharepoint_group_membership_names_the_group_and_the_member_or_subgroup() {
    let member = |name: &str, kind: &str| {
        event(with(
            base("AddedToGroup", 14, "SharePoint"),
            json!({"ObjectId": "https://contoso.sharepoint.com/sites/hr", "ItemType": "Web",
                "TargetUserOrGroupName": name, "TargetUserOrGroupType": kind,
                "EventData": "<Group>HR Members</Group>"}),
        ))
    };
    let ev = member("ann@contoso.com", "Member");
    assert_eq!(
        (ev["class_uid"].clone(), ev["activity_id"].clone()),
        (json!(3006), json!(3))
    );
    assert_eq!(ev["group"]["name"], "HR Members");
    assert_eq!(ev["user"]["email_addr"], "ann@contoso.com");
    assert_eq!(
        ev["resource"]["uid"],
        "https://contoso.sharepoint.com/sites/hr"
    );
    let ev = member("Everyone except external users", "SecurityGroup");
    assert_eq!(ev["activity_id"], 7);
    assert_eq!(ev["activity_name"], "Add Subgroup");
    assert_eq!(ev["subgroup"]["name"], "Everyone except external users");
    assert!(ev.get("user").is_none());
}

#[test]
fn a_directory_sign_in_names_the_application_not_the_workload_as_service() {
    let ev = event(with(
        base("UserLoggedIn", 15, "AzureActiveDirectory"),
        json!({"ObjectId": "00000003-0000-0000-c000-000000000000"}),
    ));
    assert_eq!(
        ev["service"],
        json!({"uid": "00000003-0000-0000-c000-000000000000"})
    );
}

#[test]
fn a_resource_the_record_does_not_name_is_never_named_by_the_workload() {
    let ev = event(base("SearchQueryPerformed", 2, "Exchange"));
    let name = ev["web_resources"][0]["name"].as_str().expect("name");
    assert_ne!(name, "Exchange");
    assert_eq!(name, "SearchQueryPerformed");
    let ev = event(with(
        base("ViewReport", 20, "PowerBI"),
        json!({"ReportName": "Payroll", "WorkSpaceName": "HR"}),
    ));
    assert_eq!(ev["web_resources"][0]["name"], "Payroll");
}

#[test]
fn failed_sign_in_names_the_application_and_the_logon_error() {
    let ev = event(with(
        base("UserLoginFailed", 15, "AzureActiveDirectory"),
        json!({"ObjectId": "00000002-0000-0ff1-ce00-000000000000", "LogonError": "InvalidUserNameOrPassword"}),
    ));
    assert_eq!(ev["class_uid"], 3002);
    assert_eq!(ev["status_id"], 2);
    assert_eq!(ev["status_detail"], "InvalidUserNameOrPassword");
    assert_eq!(ev["service"]["uid"], "00000002-0000-0ff1-ce00-000000000000");
}

#[test]
fn exchange_dlp_match_has_policy_rule_action_message_and_sensitive_type() {
    let ev = event(json!({
        "CreationTime": "2026-12-01T10:00:00", "Id": "dlp-1", "Operation": "DlpRuleMatch",
        "OrganizationId": "t-1", "RecordType": 13, "UserKey": "1003", "UserType": 0,
        "UserId": "DlpAgent", "Workload": "Exchange",
        "PolicyDetails": [{"PolicyId": "p-1", "PolicyName": "PCI DSS", "Rules": [
            {"RuleId": "r-1", "RuleName": "Cards", "Severity": "Medium",
             "Actions": ["NotifyUser", "BlockAccess"],
             "ConditionsMatched": {"SensitiveInformation": [
                 {"SensitiveInformationTypeName": "Credit Card Number", "SensitiveType": "50842eb7",
                  "Count": 3, "Confidence": 85}]}}]}],
        "ExchangeMetaData": {"From": "heidi@contoso.com", "To": ["x@fabrikam.com"], "CC": [],
            "Subject": "cards", "MessageID": "<dlp-1@contoso.com>"}
    }));
    assert_eq!(ev["class_uid"], 2006);
    assert_eq!(
        ev["metadata"]["profiles"],
        json!(["cloud", "security_control"])
    );
    assert_eq!(ev["severity_id"], 3);
    assert_eq!(
        ev["policy"],
        json!({"uid": "p-1", "name": "PCI DSS", "type": "DLP", "desc": "Cards (r-1)"})
    );
    assert_eq!(ev["data_security"]["policy"]["name"], "PCI DSS");
    assert_eq!(
        ev["data_security"]["classifier_details"],
        json!({"type": "Sensitive Information Type", "name": "Credit Card Number", "uid": "50842eb7"})
    );
    assert_eq!(ev["count"], 3);
    assert_eq!(ev["confidence_score"], 85);
    assert_eq!(
        ev["data_security"]["discovery_details"],
        json!([{"type": "Credit Card Number", "count": 3}])
    );
    assert_eq!(
        (ev["action_id"].clone(), ev["action"].clone()),
        (json!(2), json!("Denied"))
    );
    assert_eq!(
        (ev["disposition_id"].clone(), ev["disposition"].clone()),
        (json!(2), json!("Blocked"))
    );
    assert_eq!(
        ev["resources"],
        json!([{"uid": "<dlp-1@contoso.com>", "name": "cards", "type": "Email"}])
    );
    assert_eq!(ev["actor"]["user"]["email_addr"], "heidi@contoso.com");
    // The record's user is the DLP engine that reported the match, not the user responsible for it.
    assert_eq!(ev["metadata"]["reporter"]["name"], "DlpAgent");
    assert!(ev["unmapped"]["PolicyDetails"].is_array());
    assert!(ev["unmapped"]["ExchangeMetaData"].is_object());
}

#[test]
fn sharepoint_dlp_match_that_only_notifies_is_allowed_with_an_alert() {
    let ev = event(json!({
        "CreationTime": "2026-12-01T10:00:00", "Id": "dlp-2", "Operation": "DlpRuleMatch",
        "OrganizationId": "t-1", "RecordType": 11, "UserKey": "1003", "UserType": 0,
        "UserId": "heidi@contoso.com", "Workload": "SharePoint", "ClientIP": "203.0.113.44",
        "PolicyDetails": [{"PolicyId": "p-1", "PolicyName": "PCI DSS", "Rules": [
            {"RuleId": "r-1", "RuleName": "Cards", "Severity": "Low", "Actions": ["NotifyUser"]}]}],
        "SharePointMetaData": {"FileName": "cards.xlsx", "FileOwner": "bob@contoso.com",
            "FilePathUrl": "https://contoso.sharepoint.com/sites/fin/Docs/cards.xlsx",
            "SiteCollectionUrl": "https://contoso.sharepoint.com/sites/fin", "UniqueID": "u-1"}
    }));
    assert_eq!(
        (ev["action_id"].clone(), ev["disposition_id"].clone()),
        (json!(1), json!(19))
    );
    assert_eq!(ev["disposition"], "Alert");
    let file = &ev["file"];
    assert_eq!(file["name"], "cards.xlsx");
    assert_eq!(
        file["uri"],
        "https://contoso.sharepoint.com/sites/fin/Docs/cards.xlsx"
    );
    assert_eq!(
        file["parent_folder"],
        "https://contoso.sharepoint.com/sites/fin"
    );
    assert_eq!(file["uid"], "u-1");
    assert_eq!(file["owner"]["email_addr"], "bob@contoso.com");
}

#[test]
fn alert_entities_become_evidences_and_the_category_a_type() {
    let ev = event(json!({
        "CreationTime": "2026-12-01T10:00:00", "Id": "al-1", "Operation": "AlertTriggered",
        "OrganizationId": "t-1", "RecordType": 40, "UserId": "SecurityComplianceAlerts",
        "AlertId": "a-1", "Name": "Suspicious forwarding", "Severity": "High", "Status": "Active",
        "Category": "ThreatManagement",
        "Data": "{\"f3u\":\"mallory@contoso.com\",\"cip\":\"198.51.100.7\"}",
        "AlertEntityId": "mallory@contoso.com", "EntityType": "User"
    }));
    assert_eq!(ev["class_uid"], 2004);
    assert_eq!(ev["finding_info"]["uid"], "a-1");
    assert_eq!(ev["finding_info"]["title"], "Suspicious forwarding");
    assert_eq!(ev["finding_info"]["types"], json!(["ThreatManagement"]));
    let ev_list = ev["evidences"].as_array().expect("evidences");
    assert_eq!(ev_list[0]["data"]["f3u"], "mallory@contoso.com");
    assert_eq!(ev_list[1]["user"]["email_addr"], "mallory@contoso.com");
    assert_eq!(ev_list[2]["src_endpoint"]["ip"], "198.51.100.7");
    // The AlertEntityId names the same user: not repeated.
    assert_eq!(ev_list.len(), 3);
}

#[test]
fn a_message_named_only_in_extended_properties_and_its_mailbox_are_resources() {
    let ev = event(with(
        base("AdminMailAccess", 38, "SecurityComplianceCenter"),
        json!({"ExtendedProperties": [{"Name": "DownloadEMail", "Value": "True"},
            {"Name": "MailboxId", "Value": "ceo@contoso.com"},
            {"Name": "InternetMessageId", "Value": "<m@contoso.com>"}]}),
    ));
    assert_eq!(
        ev["web_resources"],
        json!([{"uid": "<m@contoso.com>", "type": "Email"},
               {"name": "ceo@contoso.com", "type": "Mailbox"}])
    );
    // A resource type without a name keeps its resource (named by the operation) beside the mailbox.
    let ev = event(with(
        base("SoftDelete", 3, "Exchange"),
        json!({"ItemType": "Folder", "MailboxOwnerUPN": "ceo@contoso.com"}),
    ));
    let res = ev["web_resources"].as_array().expect("web_resources");
    assert_eq!(res[0], json!({"name": "SoftDelete", "type": "Folder"}));
    assert_eq!(
        res[1],
        json!({"name": "ceo@contoso.com", "type": "Mailbox"})
    );
}

#[test]
fn a_grant_or_membership_without_an_item_keeps_the_item_type_under_unmapped() {
    for op in ["SharingSet", "AddedToGroup"] {
        let ev = event(with(
            base(op, 14, "SharePoint"),
            json!({"ItemType": "Web", "TargetUserOrGroupName": "ann@contoso.com",
                "TargetUserOrGroupType": "Member"}),
        ));
        assert_eq!(ev["unmapped"]["ItemType"], "Web", "{op}");
        assert_eq!(ev["user"]["email_addr"], "ann@contoso.com", "{op}");
    }
}
