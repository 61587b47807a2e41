//! Realistic audit records for the five content types, modelled on the published records of `fixtures`/the corpus:
//! Entra sign-ins (15) and directory audit (8, 9), Exchange cmdlets (1) and mailbox access (2), SharePoint/OneDrive
//! files (6) and sharing (14), security alerts (40), threat intelligence (28), Teams (25), Copilot (261), DLP
//! (11, 13, 33), and RecordTypes no documentation lists yet.
//!
//! The mess of real data is reproduced on purpose: numbers as strings, `ExtendedProperties`/`Parameters` as a JSON
//! string, JSON inside strings, IPs as `[ipv6]:port`, `ip:port`, `::ffff:a.b.c.d` or empty, zone-less `CreationTime`
//! (sometimes with a fraction, a `Z` or a space), lower-case keys, system user IDs, and very large records.

use serde_json::{Map, Value, json};

use super::content::Rng;
use super::time::{self, DAY, MINUTE};
use crate::content_type::ContentType;

/// What a record needs besides randomness.
pub(crate) struct RecordContext<'a> {
    /// The record's `Id`.
    pub id: String,
    /// The tenant (`OrganizationId`).
    pub tenant_id: &'a str,
    /// When the blob that first carried the record became available.
    pub available_ms: i64,
    /// Fraction of records that are very large.
    pub large_rate: f64,
    /// Parameters of a large record.
    pub large_parameters: u32,
}

const USERS: &[&str] = &[
    "adele.vance@contoso.onmicrosoft.com",
    "megan.bowen@contoso.onmicrosoft.com",
    "alex.wilber@contoso.onmicrosoft.com",
    "admin@contoso.onmicrosoft.com",
    "lee.gu@contoso.onmicrosoft.com",
    "urn:spo:guest#outsider@fabrikam.com",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0.0.0 Safari/537.36",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)",
    "OneDriveMpc-Transform_Thumbnail/1.0",
];

/// Generates one record of `ct`.
pub(crate) fn record(ct: ContentType, ctx: &RecordContext<'_>, rng: &mut Rng) -> Value {
    // Event time: usually 60–90 minutes before availability, sometimes days before.
    let lag = if rng.chance(0.05) {
        DAY + rng.below(2 * DAY as u64) as i64
    } else {
        60 * MINUTE + rng.below(30 * MINUTE as u64) as i64
    };
    let event_ms = ctx.available_ms - lag;
    let large = rng.chance(ctx.large_rate);
    let mut rec = match ct {
        ContentType::AzureActiveDirectory => match rng.below(10) {
            0..=5 => sign_in(rng),
            6..=8 => directory_audit(rng),
            _ => password_logon(rng),
        },
        ContentType::Exchange => {
            if large {
                cmdlet_large(rng, ctx.large_parameters)
            } else if rng.chance(0.4) {
                cmdlet(rng)
            } else {
                mailbox(rng)
            }
        }
        ContentType::SharePoint => {
            if rng.chance(0.7) {
                file_op(rng)
            } else {
                sharing(rng)
            }
        }
        ContentType::General => match rng.below(10) {
            0..=2 => alert(rng),
            3..=4 => threat_intel(rng),
            5..=6 => teams(rng),
            7..=8 => copilot(rng),
            _ => unknown_type(rng),
        },
        ContentType::DlpAll => dlp(rng),
    };
    if large && ct != ContentType::Exchange {
        let params: Vec<Value> = (0..ctx.large_parameters)
            .map(|i| json!({"Name": format!("Property{i}"), "Value": format!("value-{}-{}", i, rng.next())}))
            .collect();
        rec.insert("AdditionalProperties".into(), Value::Array(params));
    }
    finish(rec, ctx, event_ms, rng)
}

/// Adds the common fields and the messy variants.
fn finish(
    mut rec: Map<String, Value>,
    ctx: &RecordContext<'_>,
    event_ms: i64,
    rng: &mut Rng,
) -> Value {
    rec.insert("Id".into(), json!(ctx.id));
    rec.insert("OrganizationId".into(), json!(ctx.tenant_id));
    rec.entry("Version").or_insert(json!(1));
    let creation = match rng.below(20) {
        0 => time::format(event_ms, "%Y-%m-%dT%H:%M:%S%.7f"),
        1 => format!("{}Z", time::zoneless(event_ms)),
        2 => time::format(event_ms, "%Y-%m-%d %H:%M:%S"),
        _ => time::zoneless(event_ms),
    };
    rec.insert("CreationTime".into(), json!(creation));
    // Numbers as strings.
    if rng.chance(0.1)
        && let Some(Value::Number(n)) = rec.get("RecordType").cloned()
    {
        rec.insert("RecordType".into(), json!(n.to_string()));
    }
    if rng.chance(0.05)
        && let Some(Value::Number(n)) = rec.get("UserType").cloned()
    {
        rec.insert("UserType".into(), json!(n.to_string()));
    }
    // All-lower-case keys, as some exports have them (Exchange admin records).
    let lower = rec.get("RecordType") == Some(&json!(1)) && rng.chance(0.15);
    if lower {
        let lowered: Map<String, Value> = rec
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect();
        return Value::Object(lowered);
    }
    Value::Object(rec)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn ip(rng: &mut Rng) -> String {
    let a = rng.below(223) + 1;
    let b = rng.below(256);
    let c = rng.below(256);
    let d = rng.below(254) + 1;
    let port = 1024 + rng.below(64000);
    match rng.below(12) {
        0 => format!("[2001:db8:{:x}:{:x}::{:x}]:{port}", b, c, d),
        1 => format!("2603:10a6:{:x}:{:x}::{:x}", b, c, d),
        2 => format!("{a}.{b}.{c}.{d}:{port}"),
        3 => format!("::ffff:{a}.{b}.{c}.{d}"),
        4 => String::new(),
        _ => format!("{a}.{b}.{c}.{d}"),
    }
}

fn user(rng: &mut Rng) -> String {
    (*rng.pick(USERS)).to_owned()
}

fn sign_in(rng: &mut Rng) -> Map<String, Value> {
    let failed = rng.chance(0.3);
    let user = user(rng);
    let ip = ip(rng);
    let (op, code, err) = if failed {
        let (c, e) = *rng.pick(&[
            ("50126", "InvalidUserNameOrPassword"),
            ("50074", "UserStrongAuthClientAuthNRequired"),
            ("50053", "IdsLocked"),
        ]);
        ("UserLoginFailed", c, Some(e))
    } else {
        ("UserLoggedIn", "0", None)
    };
    let ext = json!([
        {"Name": "ResultStatusDetail", "Value": if failed { "Redirect" } else { "Success" }},
        {"Name": "UserAgent", "Value": *rng.pick(AGENTS)},
        {"Name": "RequestType", "Value": *rng.pick(&["Login:login", "Login:reprocess", "OAuth2:Authorize", "SAS:ProcessAuth"])},
        {"Name": "KeepMeSignedIn", "Value": "false"}
    ]);
    let ext = if rng.chance(0.15) {
        json!(ext.to_string())
    } else {
        ext
    };
    let mut m = obj(json!({
        "RecordType": 15,
        "Operation": op,
        "Workload": "AzureActiveDirectory",
        "UserType": 0,
        "UserKey": rng.guid(),
        "UserId": user,
        "ObjectId": "00000003-0000-0000-c000-000000000000",
        "ClientIP": ip,
        "ActorIpAddress": ip,
        "ResultStatus": if failed { "Failed" } else { "Success" },
        "AzureActiveDirectoryEventType": 1,
        "ApplicationId": *rng.pick(&["00000002-0000-0ff1-ce00-000000000000", "d3590ed6-52b3-4102-aeff-aad2292ab01c", "1fec8e78-bce4-4aaf-ab1b-5451cc387264"]),
        "ErrorCode": code,
        "ExtendedProperties": ext,
        "DeviceProperties": [
            {"Name": "OS", "Value": *rng.pick(&["Windows 10", "MacOs", "Ios", "Android"])},
            {"Name": "BrowserType", "Value": *rng.pick(&["Edge", "Chrome", "Safari", "Rich Client"])},
            {"Name": "IsCompliant", "Value": "False"},
            {"Name": "SessionId", "Value": rng.guid()}
        ],
        "Actor": [{"ID": rng.guid(), "Type": 0}, {"ID": user, "Type": 5}],
        "ActorContextId": rng.guid(),
        "Target": [{"ID": rng.guid(), "Type": 0}],
        "TargetContextId": rng.guid(),
        "InterSystemsId": rng.guid(),
        "IntraSystemId": rng.guid(),
        "SupportTicketId": ""
    }));
    if let Some(e) = err {
        m.insert("LogonError".into(), json!(e));
    }
    m
}

fn directory_audit(rng: &mut Rng) -> Map<String, Value> {
    let target = user(rng);
    let (op, props) = match rng.below(4) {
        0 => (
            "Add user.",
            json!([
                {"Name": "AccountEnabled", "NewValue": "[\r\n  true\r\n]", "OldValue": "[]"},
                {"Name": "UserPrincipalName", "NewValue": format!("[\r\n  \"{target}\"\r\n]"), "OldValue": "[]"},
                {"Name": "Included Updated Properties", "NewValue": "AccountEnabled, UserPrincipalName", "OldValue": ""}
            ]),
        ),
        1 => (
            "Update user.",
            json!([
                {"Name": "StrongAuthenticationMethod", "NewValue": "[{\"Default\": true,\"MethodType\": 7}]", "OldValue": "[]"},
                {"Name": "Included Updated Properties", "NewValue": "StrongAuthenticationMethod", "OldValue": ""},
                {"Name": "TargetId.UserType", "NewValue": "Member", "OldValue": ""}
            ]),
        ),
        2 => (
            "Add member to role.",
            json!([
                {"Name": "Role.DisplayName", "NewValue": "Global Administrator", "OldValue": ""},
                {"Name": "Role.TemplateId", "NewValue": "62e90394-69f5-4237-9190-012177145e10", "OldValue": ""}
            ]),
        ),
        _ => (
            "Reset user password.",
            json!([{"Name": "Included Updated Properties", "NewValue": "", "OldValue": ""}]),
        ),
    };
    let service = rng.chance(0.3);
    obj(json!({
        "RecordType": 8,
        "Operation": op,
        "Workload": "AzureActiveDirectory",
        "UserType": if service { 4 } else { 2 },
        "UserKey": if service { "Not Available".to_owned() } else { format!("{:016X}@contoso.onmicrosoft.com", rng.next()) },
        "UserId": if service { "ServicePrincipal_".to_owned() + &rng.guid() } else { "admin@contoso.onmicrosoft.com".to_owned() },
        "ObjectId": target,
        "ResultStatus": *rng.pick(&["Success", "success", "Failure"]),
        "AzureActiveDirectoryEventType": 1,
        "Actor": [{"ID": rng.guid(), "Type": 2}, {"ID": "admin@contoso.onmicrosoft.com", "Type": 5}, {"ID": format!("{:016X}", rng.next()), "Type": 3}],
        "ActorContextId": rng.guid(),
        "Target": [{"ID": format!("User_{}", rng.guid()), "Type": 2}, {"ID": target, "Type": 5}],
        "TargetContextId": rng.guid(),
        "ModifiedProperties": props,
        "ExtendedProperties": [
            {"Name": "additionalDetails", "Value": "{\"UserType\":\"Member\"}"},
            {"Name": "extendedAuditEventCategory", "Value": "User"}
        ],
        "InterSystemsId": rng.guid(),
        "IntraSystemId": rng.guid(),
        "SupportTicketId": ""
    }))
}

fn password_logon(rng: &mut Rng) -> Map<String, Value> {
    let failed = rng.chance(0.5);
    let mut m = obj(json!({
        "RecordType": 9,
        "Operation": "PasswordLogonInitialAuthUsingPassword",
        "Workload": "AzureActiveDirectory",
        "UserType": 0,
        "UserKey": format!("{}@contoso.onmicrosoft.com", rng.below(10_000_000_000_000_000)),
        "UserId": user(rng),
        "ObjectId": user(rng),
        "ClientIP": ip(rng),
        "ResultStatus": if failed { "failed" } else { "success" },
        "AzureActiveDirectoryEventType": 0,
        "Client": "Exchange",
        "LoginStatus": if failed { -2147217390i64 } else { 0 },
        "UserDomain": "contoso.onmicrosoft.com"
    }));
    if failed {
        m.insert(
            "ExtendedProperties".into(),
            json!([{"Name": "LoginError", "Value": "-2147217390;PP_E_BAD_PASSWORD;The entered and stored passwords do not match."}]),
        );
    }
    m
}

fn system_or_admin(rng: &mut Rng) -> (String, i64) {
    if rng.chance(0.3) {
        (
            "NT AUTHORITY\\SYSTEM (Microsoft.Exchange.Servicehost)".to_owned(),
            3,
        )
    } else if rng.chance(0.1) {
        ("S-1-5-18".to_owned(), 4)
    } else {
        (user(rng), 2)
    }
}

fn cmdlet(rng: &mut Rng) -> Map<String, Value> {
    let (who, utype) = system_or_admin(rng);
    let (op, params) = match rng.below(4) {
        0 => (
            "Set-Mailbox",
            json!([
                {"Name": "Identity", "Value": user(rng)},
                {"Name": "ForwardingSmtpAddress", "Value": "smtp:someone@fabrikam.com"},
                {"Name": "DeliverToMailboxAndForward", "Value": "False"}
            ]),
        ),
        1 => (
            "New-InboxRule",
            json!([
                {"Name": "Name", "Value": "Move emails to another folder"},
                {"Name": "FromAddressContainsWords", "Value": "invoice"},
                {"Name": "MoveToFolder", "Value": "RSS Feeds"},
                {"Name": "StopProcessingRules", "Value": "True"}
            ]),
        ),
        2 => (
            "Add-MailboxPermission",
            json!([
                {"Name": "Identity", "Value": user(rng)},
                {"Name": "User", "Value": user(rng)},
                {"Name": "AccessRights", "Value": "FullAccess"},
                {"Name": "InheritanceType", "Value": "All"}
            ]),
        ),
        _ => (
            "Set-AdminAuditLogConfig",
            json!([
                {"Name": "DomainController", "Value": ""},
                {"Name": "AdminAuditLogEnabled", "Value": "True"}
            ]),
        ),
    };
    let params = if rng.chance(0.1) {
        json!(params.to_string())
    } else {
        params
    };
    obj(json!({
        "RecordType": 1,
        "Operation": op,
        "Workload": "Exchange",
        "UserType": utype,
        "UserKey": who,
        "UserId": who,
        "ObjectId": format!("NAMPR01A001.PROD.OUTLOOK.COM/Microsoft Exchange Hosted Organizations/contoso.onmicrosoft.com/{}", rng.guid()),
        "ResultStatus": *rng.pick(&["True", "False", "Succeeded"]),
        "ClientIP": ip(rng),
        "ExternalAccess": utype == 3,
        "OrganizationName": "contoso.onmicrosoft.com",
        "OriginatingServer": format!("PAXP193MB{} (15.20.{}.021)", rng.below(9999), rng.below(9999)),
        "AppId": "",
        "ClientAppId": "",
        "Parameters": params
    }))
}

fn cmdlet_large(rng: &mut Rng, parameters: u32) -> Map<String, Value> {
    let mut m = cmdlet(rng);
    let params: Vec<Value> = (0..parameters)
        .map(
            |i| json!({"Name": format!("TransportSetting{i}"), "Value": format!("{}", rng.next())}),
        )
        .collect();
    m.insert("Operation".into(), json!("Set-TransportConfig"));
    m.insert("Parameters".into(), Value::Array(params));
    m
}

fn mailbox(rng: &mut Rng) -> Map<String, Value> {
    let owner = user(rng);
    let op = *rng.pick(&[
        "MailItemsAccessed",
        "Send",
        "HardDelete",
        "MoveToDeletedItems",
        "UpdateInboxRules",
    ]);
    let mut m = obj(json!({
        "RecordType": 2,
        "Operation": op,
        "Workload": "Exchange",
        "UserType": 0,
        "UserKey": format!("10037FFE{:08X}", rng.below(u64::from(u32::MAX))),
        "UserId": owner,
        "ObjectId": format!("Inbox\\{}", rng.guid()),
        "ResultStatus": "Succeeded",
        "LogonType": rng.below(3),
        "InternalLogonType": 0,
        "MailboxOwnerUPN": owner,
        "MailboxOwnerSid": format!("S-1-5-21-{}-{}-{}-{}", rng.below(u64::from(u32::MAX)), rng.below(u64::from(u32::MAX)), rng.below(u64::from(u32::MAX)), rng.below(100_000)),
        "MailboxGuid": rng.guid(),
        "ClientIPAddress": ip(rng),
        "ClientIP": ip(rng),
        "ClientInfoString": "Client=OWA;Action=ViaProxy",
        "ExternalAccess": false,
        "OrganizationName": "contoso.onmicrosoft.com",
        "OriginatingServer": format!("BN{}MB{} (15.20.7452.000)", rng.below(99), rng.below(9999)),
        "Item": {
            "Id": format!("RgAAAAD{:016x}", rng.next()),
            "Subject": *rng.pick(&["Quarterly results", "RE: invoice", "Welcome!"]),
            "ParentFolder": {"Id": format!("LgAAAA{:016x}", rng.next()), "Path": "\\Inbox"},
            "SizeInBytes": rng.below(200_000)
        }
    }));
    if op == "MailItemsAccessed" {
        m.insert(
            "OperationProperties".into(),
            json!([{"Name": "MailAccessType", "Value": "Bind"}, {"Name": "IsThrottled", "Value": "False"}]),
        );
        m.insert(
            "Folders".into(),
            json!([{"Id": format!("LgAAAA{:016x}", rng.next()), "Path": "\\Inbox", "FolderItems": [{"InternetMessageId": format!("<{}@contoso.com>", rng.guid())}]}]),
        );
    }
    m
}

fn file_op(rng: &mut Rng) -> Map<String, Value> {
    let onedrive = rng.chance(0.4);
    let site = if onedrive {
        "https://contoso-my.sharepoint.com/personal/adele_contoso_onmicrosoft_com/"
    } else {
        "https://contoso.sharepoint.com/sites/Finance/"
    };
    let name = *rng.pick(&[
        "Budget 2025.xlsx",
        "plan.docx",
        "Cascade Car Schematics.docx",
        "notes.txt",
    ]);
    let ext = name.rsplit('.').next().unwrap_or("");
    obj(json!({
        "RecordType": 6,
        "Operation": *rng.pick(&["FileAccessed", "FileModified", "FileDownloaded", "FileUploaded", "FileDeleted"]),
        "Workload": if onedrive { "OneDrive" } else { "SharePoint" },
        "UserType": 0,
        "UserKey": format!("i:0h.f|membership|{:016x}@live.com", rng.next()),
        "UserId": user(rng),
        "ObjectId": format!("{site}Shared Documents/{name}"),
        "ClientIP": ip(rng),
        "UserAgent": *rng.pick(AGENTS),
        "EventSource": "SharePoint",
        "ItemType": "File",
        "ListId": rng.guid(),
        "ListItemUniqueId": rng.guid(),
        "Site": rng.guid(),
        "WebId": rng.guid(),
        "SiteUrl": site,
        "SourceRelativeUrl": "Shared Documents",
        "SourceFileName": name,
        "SourceFileExtension": ext,
        "HighPriorityMediaProcessing": false,
        "CorrelationId": rng.guid(),
        "AppAccessContext": {"AADSessionId": rng.guid(), "CorrelationId": rng.guid(), "UniqueTokenId": format!("{:x}", rng.next())}
    }))
}

fn sharing(rng: &mut Rng) -> Map<String, Value> {
    let guest = rng.chance(0.6);
    obj(json!({
        "RecordType": 14,
        "Operation": *rng.pick(&["SharingSet", "AddedToSecureLink", "AnonymousLinkCreated", "SharingInvitationCreated"]),
        "Workload": "OneDrive",
        "UserType": 0,
        "UserKey": "i:0h.f|membership|12345@live.com",
        "UserId": user(rng),
        "ObjectId": "https://contoso-my.sharepoint.com/personal/user_contoso/Documents/importantsecrets.docx",
        "ClientIP": ip(rng),
        "EventSource": "SharePoint",
        "ItemType": "File",
        "Site": rng.guid(),
        "SiteUrl": "https://contoso-my.sharepoint.com/personal/user_contoso",
        "SourceRelativeUrl": "Documents/importantsecrets.docx",
        "SourceFileName": "importantsecrets.docx",
        "SourceFileExtension": "docx",
        "TargetUserOrGroupName": if guest { "OUTSIDER@FABRIKAM.COM" } else { "megan.bowen@contoso.onmicrosoft.com" },
        "TargetUserOrGroupType": if guest { "Guest" } else { "Member" },
        "EventData": "<Type>Edit</Type><MembersCanShareApplied>False</MembersCanShareApplied>",
        "UserAgent": *rng.pick(AGENTS)
    }))
}

fn alert(rng: &mut Rng) -> Map<String, Value> {
    let alert_id = rng.guid();
    let data = json!({
        "etype": "User",
        "eid": user(rng),
        "op": "MailRedirect",
        "tdc": "1",
        "ts": "2025-01-02T03:04:05.0000000Z",
        "ad": "A potentially malicious URL click was detected"
    });
    obj(json!({
        "RecordType": 40,
        "Operation": *rng.pick(&["AlertTriggered", "AlertEntityGenerated"]),
        "Workload": "SecurityComplianceCenter",
        "UserType": 4,
        "UserKey": "SecurityComplianceAlerts",
        "UserId": "SecurityComplianceAlerts",
        "ObjectId": alert_id,
        "ResultStatus": "Succeeded",
        "AlertId": alert_id,
        "AlertType": "System",
        "Name": *rng.pick(&["Suspicious email sending patterns detected", "A potentially malicious URL click was detected", "Elevation of Exchange admin privilege"]),
        "PolicyId": rng.guid(),
        "Status": *rng.pick(&["Active", "Investigating", "Resolved"]),
        "Severity": *rng.pick(&["Low", "Medium", "High", "Informational"]),
        "Category": "ThreatManagement",
        "Source": "Office 365 Security & Compliance",
        "Comments": "New alert",
        "Data": data.to_string(),
        "AlertEntityId": user(rng),
        "EntityType": "User"
    }))
}

fn threat_intel(rng: &mut Rng) -> Map<String, Value> {
    obj(json!({
        "RecordType": 28,
        "Operation": "TIMailData",
        "Workload": "ThreatIntelligence",
        "UserType": 4,
        "UserKey": "ThreatIntel",
        "UserId": "ThreatIntel",
        "ObjectId": rng.guid(),
        "AttachmentData": [{"FileName": "invoice.zip", "FileType": "zip", "FileVerdict": 1, "MalwareFamily": "Trojan:Win32/Fuery", "SHA256": format!("{:016x}{:016x}{:016x}{:016x}", rng.next(), rng.next(), rng.next(), rng.next())}],
        "DeliveryAction": *rng.pick(&["Blocked", "Delivered", "Junked", "Replaced"]),
        "Directionality": "Inbound",
        "DetectionMethod": "File detonation",
        "InternetMessageId": format!("<{}@mail.fabrikam.com>", rng.guid()),
        "MessageTime": "2025-01-02T03:04:05",
        "NetworkMessageId": rng.guid(),
        "P1Sender": "billing@fabrikam.com",
        "P2Sender": "billing@fabrikam.com",
        "Recipients": [user(rng)],
        "SenderIp": ip(rng),
        "Subject": "Your invoice",
        "Verdict": *rng.pick(&["Malware", "Phish", "Spam"])
    }))
}

fn teams(rng: &mut Rng) -> Map<String, Value> {
    obj(json!({
        "RecordType": 25,
        "Operation": *rng.pick(&["TeamsSessionStarted", "MemberAdded", "MessageSent", "ChannelAdded"]),
        "Workload": "MicrosoftTeams",
        "UserType": 0,
        "UserKey": rng.guid(),
        "UserId": user(rng),
        "ObjectId": "",
        "ClientIP": ip(rng),
        "CommunicationType": "Team",
        "TeamName": "Finance",
        "TeamGuid": format!("19:{:x}@thread.skype", rng.next()),
        "Members": [{"DisplayName": "Lee Gu", "Role": 1, "UPN": user(rng)}],
        "AADGroupId": rng.guid(),
        "ItemName": "General"
    }))
}

fn copilot(rng: &mut Rng) -> Map<String, Value> {
    obj(json!({
        "RecordType": 261,
        "Operation": "CopilotInteraction",
        "Workload": "Copilot",
        "UserType": 0,
        "UserKey": rng.guid(),
        "UserId": user(rng),
        "ClientIP": ip(rng),
        "ClientRegion": "US",
        "CopilotEventData": {
            "AISystemPlugin": [{"Id": "BingWebSearch", "Name": "BuiltIn"}],
            "AccessedResources": [{"Action": "Read", "Id": format!("{:x}", rng.next()), "Name": "Document1.docx", "SiteUrl": "https://contoso.sharepoint.com/sites/Finance/Shared%20Documents/Document1.docx?web=1", "Type": "docx"}],
            "AppHost": *rng.pick(&["Bing", "Word", "Teams"]),
            "Contexts": [],
            "MessageIds": [],
            "Messages": [{"Id": format!("{}", rng.below(10_000_000_000_000)), "isPrompt": true}, {"Id": format!("{}", rng.below(10_000_000_000_000)), "isPrompt": false}],
            "ModelTransparencyDetails": [{"ModelName": "DEEP_LEO"}],
            "ThreadId": format!("19:{:x}@thread.v2", rng.next())
        }
    }))
}

fn unknown_type(rng: &mut Rng) -> Map<String, Value> {
    obj(json!({
        "RecordType": 300 + rng.below(9000),
        "Operation": *rng.pick(&["QuantumWidgetCalibrated", "FutureFeatureUsed"]),
        "Workload": "NewWorkload",
        "UserType": rng.below(11),
        "UserKey": rng.guid(),
        "UserId": user(rng),
        "ObjectId": rng.guid(),
        "ClientIP": ip(rng),
        "ResultStatus": "Success",
        "NewNestedThing": {"Level1": {"Level2": [1, "two", {"three": null}]}}
    }))
}

fn dlp(rng: &mut Rng) -> Map<String, Value> {
    let rt = *rng.pick(&[11u64, 13, 33]);
    let severity = *rng.pick(&["Low", "Medium", "High"]);
    let policy = json!([{
        "PolicyId": rng.guid(),
        "PolicyName": "U.S. Financial Data",
        "Rules": [{
            "RuleId": rng.guid(),
            "RuleName": "Low volume of content detected U.S. Financial Data",
            "Severity": severity,
            "RuleMode": "Enable",
            "Actions": ["NotifyUser"],
            "ConditionsMatched": {
                "SensitiveInformation": [{
                    "SensitiveType": "50842eb7-edc8-4019-85dd-5a5c1f2bb085",
                    "Count": rng.below(20) + 1,
                    "Confidence": 85,
                    "Location": null,
                    "SensitiveInformationTypeName": "Credit Card Number"
                }]
            }
        }]
    }]);
    let mut m = obj(json!({
        "RecordType": rt,
        "Operation": if rt == 33 { "DlpClassification" } else { "DlpRuleMatch" },
        "UserType": 0,
        "UserKey": rng.guid(),
        "UserId": user(rng),
        "ObjectId": rng.guid(),
        "ClientIP": ip(rng),
        "IncidentId": rng.guid(),
        "PolicyDetails": policy,
        "SensitiveInfoDetectionIsIncluded": true
    }));
    if rt == 13 {
        m.insert("Workload".into(), json!("Exchange"));
        m.insert(
            "ExchangeMetaData".into(),
            json!({
                "BCC": [], "CC": [], "From": user(rng), "To": [user(rng), "external@fabrikam.com"],
                "MessageID": format!("<{}@contoso.com>", rng.guid()), "RecipientCount": 2,
                "Sent": "2025-01-02T03:04:05", "Subject": "Card numbers", "UniqueID": rng.guid()
            }),
        );
    } else {
        m.insert("Workload".into(), json!("SharePoint"));
        m.insert(
            "SharePointMetaData".into(),
            json!({
                "From": user(rng), "FileName": "cards.xlsx", "FilePathUrl": "https://contoso.sharepoint.com/sites/Finance/Shared Documents/cards.xlsx",
                "SiteCollectionUrl": "https://contoso.sharepoint.com/sites/Finance", "UniqueID": rng.guid(),
                "ItemCreationTime": "2025-01-02T03:04:05", "ItemLastModifiedTime": "2025-01-02T03:04:05",
                "IsViewableByExternalUsers": false
            }),
        );
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn record_type(v: &Value) -> Option<i64> {
        let rt = v.get("RecordType").or_else(|| v.get("recordtype"))?;
        rt.as_i64()
            .or_else(|| rt.as_str().and_then(|s| s.parse().ok()))
    }

    #[test]
    fn every_content_type_yields_its_main_record_types_and_the_messy_variants() {
        let mut types = BTreeSet::new();
        let mut string_types = 0;
        let mut lower = 0;
        let mut zoneless = 0;
        let mut bracketed_ipv6 = 0;
        for ct in ContentType::ALL {
            for i in 0..400u64 {
                let ctx = RecordContext {
                    id: format!("id-{i}"),
                    tenant_id: "t",
                    available_ms: 1_700_000_000_000,
                    large_rate: 0.0,
                    large_parameters: 10,
                };
                let mut rng = Rng::new(i * 31 + ct as u64);
                let rec = record(ct, &ctx, &mut rng);
                let rt = record_type(&rec).expect("record type");
                types.insert(rt.min(300));
                string_types += usize::from(rec.get("RecordType").is_some_and(Value::is_string));
                lower += usize::from(rec.get("recordtype").is_some());
                let ct_field = rec
                    .get("CreationTime")
                    .or_else(|| rec.get("creationtime"))
                    .and_then(Value::as_str)
                    .expect("creation time");
                zoneless += usize::from(!ct_field.ends_with('Z'));
                let s = rec.to_string();
                bracketed_ipv6 += usize::from(s.contains("\"[2001:db8:"));
            }
        }
        for rt in [1, 2, 6, 8, 9, 11, 13, 14, 15, 25, 28, 33, 40, 261, 300] {
            assert!(types.contains(&rt), "record type {rt} never generated");
        }
        assert!(string_types > 0 && lower > 0 && zoneless > 1500 && bracketed_ipv6 > 0);
    }

    #[test]
    fn large_records_have_hundreds_of_parameters() {
        let ctx = RecordContext {
            id: "x".into(),
            tenant_id: "t",
            available_ms: 1_700_000_000_000,
            large_rate: 1.0,
            large_parameters: 300,
        };
        let rec = record(ContentType::Exchange, &ctx, &mut Rng::new(4));
        let params = rec
            .get("Parameters")
            .or_else(|| rec.get("parameters"))
            .and_then(Value::as_array)
            .expect("parameters");
        assert_eq!(params.len(), 300);
        assert!(rec.to_string().len() > 10_000);
    }
}
