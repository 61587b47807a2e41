//! Builds the OCSF event of one record: common fields, then the attributes of the chosen class, then `unmapped`.

use serde_json::value::RawValue;

use super::classify::{Class, Facts, choose, contains_ci, web};
use super::event::const_text;
use super::event::*;
use super::ip::{is_canonical, parse_client_ip};
use super::record::{Fields, Json, JsonMap, Record, is_email};
use super::time::parse_creation_time;
use super::{dlp, targets};
use crate::content_type::ContentType;

/// The fields that may hold the client IP, in order of preference (`SenderIp`: the sending host of TIMailData;
/// `UserIp`: the clicking user's address in Safe Links click records).
const IP_FIELDS: [&str; 5] = [
    "ClientIPAddress",
    "ClientIP",
    "ActorIpAddress",
    "SenderIp",
    "UserIp",
];
/// The fields that may hold the acting application's id, in order of preference.
const APP_FIELDS: [&str; 3] = ["AppId", "ApplicationId", "ClientAppId"];

/// The client address found in a record.
struct Client<'a> {
    field: &'static str,
    endpoint: Endpoint<'a>,
    /// The field holds exactly `endpoint.ip`, so it can be moved rather than kept under `unmapped`.
    verbatim: bool,
}

fn client<'a>(r: &Record<'a>) -> Option<Client<'a>> {
    IP_FIELDS.iter().find_map(|&field| {
        let raw = r.string(field)?;
        let addr = parse_client_ip(&raw)?;
        // Nearly every record gives the address alone and in canonical form: the field's own text is then the
        // attribute's value, with nothing to format.
        let verbatim = addr.port.is_none() && addr.host.is_none() && is_canonical(addr.ip, &raw);
        let endpoint = Endpoint {
            ip: if verbatim {
                raw.clone()
            } else {
                Text::Owned(addr.ip.to_string())
            },
            port: addr.port,
            hostname: addr.host.map(Text::copy),
        };
        Some(Client {
            field,
            verbatim,
            endpoint,
        })
    })
}

fn has_app(r: &Record<'_>, context: Option<&Fields<'_>>) -> bool {
    APP_FIELDS.iter().any(|f| r.has(f)) || context.and_then(|c| c.str("ClientAppId")).is_some()
}

/// Builds the event of an object record.
pub(crate) fn build<'a>(
    fields: Fields<'a>,
    ct: ContentType,
    raw_data: Option<String>,
) -> Box<OcsfEvent<'a>> {
    let mut r = Record::new(fields);
    let client = client(&r);
    // Several attributes come from it: parsed once.
    let context = r.nested("AppAccessContext");
    let record_type = r.int("RecordType");
    let operation = r.str("Operation");
    let facts = Facts {
        content_type: ct,
        record_type,
        operation: operation.as_deref(),
        has_ip: client.is_some(),
        has_user: r.has("UserId") || r.has("UserKey"),
        has_app: has_app(&r, context.as_ref()),
        has_object: r.has("ObjectId"),
        has_target: r.has("ObjectId")
            || cmdlet_target(&r).is_some()
            || targets::folder_member(&r).is_some(),
        has_team: r.has("TeamName"),
        has_grantee: r.has("TargetUserOrGroupName"),
        has_uid: r.has("AlertId") || r.text("Id").is_some(),
    };
    let mut choice = choose(&facts);
    let has_grantee = facts.has_grantee;
    drop(operation);

    // Refinements that need more of the record than the facts.
    let mut email = None;
    match choice.class {
        Class::AccountChange if choice.activity_id == 99 => {
            if let Some(a) = mfa_change(&r) {
                choice.activity_id = a;
            }
        }
        Class::EmailActivity => {
            email = email_of(&r, record_type);
            if email.is_none() {
                choice = web(r.str("Operation").as_deref().unwrap_or_default());
            }
        }
        Class::BaseEvent => r.keep_all(),
        Class::GroupManagement
            if matches!(choice.activity_id, 3 | 4)
                && has_grantee
                && r.str("TargetUserOrGroupType")
                    .is_some_and(|t| targets::is_group_type(&t)) =>
        {
            // A group added to or removed from a group: Add Subgroup 7 / Remove Subgroup 8.
            choice.activity_id += 4;
        }
        _ => {}
    }
    let class = choice.class;
    let activity_name = choice.activity_name(r.str("Operation"));

    // Common fields.
    let original_time = r.take_string("CreationTime");
    let time = original_time.as_deref().and_then(parse_creation_time);
    let uid = r.take_string("Id").or_else(|| r.text("Id"));
    let tenant_uid = r.take_string("OrganizationId");
    let operation = r.take_string("Operation");
    let correlation_uid = r
        .take_string("CorrelationId")
        .or_else(|| r.take_string("InterSystemsId"))
        .or_else(|| context.as_ref().and_then(|c| c.str("CorrelationId")));
    let workload = r.take_string("Workload");

    // Built in place: the event is large, and it ends up boxed in `Event`.
    let mut ev = Box::new(OcsfEvent {
        class_uid: class.uid(),
        class_name: class.name_text(),
        category_uid: class.uid() / 1000,
        category_name: class.category_text(),
        activity_id: choice.activity_id,
        type_uid: class.uid() * 100 + choice.activity_id,
        type_name: TypeName {
            class_name: class.name(),
            activity_name: activity_name.clone(),
            json: choice.type_name_json(),
        },
        activity_name,
        severity_id: 1,
        severity: const_text!("Informational"),
        time: time.unwrap_or(0),
        status_id: None,
        status: None,
        status_code: None,
        status_detail: None,
        cloud: Cloud {
            provider: const_text!(VENDOR),
            account: tenant_uid.as_ref().map(|t| Account {
                uid: t.clone(),
                type_id: 17,
                type_: const_text!("M365 Tenant"),
            }),
        },
        metadata: Metadata {
            version: const_text!(OCSF_VERSION),
            product: Product {
                name: const_text!(PRODUCT_NAME),
                vendor_name: const_text!(VENDOR),
                feature: None,
            },
            profiles: Profiles::default(),
            log_name: log_name(ct),
            log_provider: None,
            uid,
            original_time,
            tenant_uid,
            event_code: operation,
            correlation_uid,
            reporter: None,
            time_parsed: time.is_some(),
        },
        actor: None,
        user: None,
        src_endpoint: None,
        http_request: None,
        service: None,
        api: None,
        entity: None,
        group: None,
        resource: None,
        subgroup: None,
        privileges: None,
        file: None,
        web_resources: None,
        resources: None,
        email,
        direction_id: None,
        direction: None,
        finding_info: None,
        is_alert: None,
        evidences: None,
        data_security: None,
        observables: None,
        policy: None,
        action_id: None,
        action: None,
        disposition_id: None,
        disposition: None,
        count: None,
        confidence_score: None,
        raw_data,
        unmapped: None,
    });

    // `ExtendedProperties` is parsed only when one of its values is needed (at most once).
    if !matches!(class, Class::DetectionFinding | Class::DataSecurityFinding) {
        result_status(&mut r, &mut ev, record_type);
    }
    if class.has_src_endpoint()
        && let Some(c) = client
    {
        if c.verbatim {
            r.remove(c.field);
        }
        ev.src_endpoint = Some(c.endpoint);
    }
    if class.has_http_request() {
        let ua = r.take_string("UserAgent").or_else(|| {
            r.name_value("ExtendedProperties", "UserAgent")
                .map(Text::Owned)
        });
        ev.http_request = ua.map(|user_agent| HttpRequest { user_agent });
    }
    // Every event says who acted: the class's own `actor`, or the host profile's on classes without one.
    ev.actor = actor(&mut r, context.as_ref());
    ev.metadata.profiles.host = ev.actor.is_some() && !class.has_actor();
    if class == Class::Authentication {
        // The signing-in user is the subject too.
        ev.user = ev.actor.as_ref().and_then(|a| a.user.clone());
        // The service signed into: the application a directory sign-in names (its id; the record has no name for
        // it, and the workload is the identity provider, not the service), else the workload signed into (a
        // mailbox logon: Exchange).
        ev.service = Some(match targets::signed_into(&mut r, record_type) {
            Some(uid) => Service {
                uid: Some(uid),
                name: None,
            },
            None => Service {
                uid: None,
                name: Some(workload.clone().unwrap_or(Text::Str(default_workload(ct)))),
            },
        });
    }
    ev.metadata.product.feature = workload.map(|name| Named { name });

    match class {
        Class::AccountChange => {
            ev.user = Some(target_user(&mut r, "ObjectId"));
        }
        Class::UserAccessManagement => user_access(&mut r, &mut ev, record_type),
        Class::GroupManagement => group(&mut r, &mut ev),
        Class::EntityManagement => targets::entity(&mut r, &mut ev, record_type),
        Class::FileHostingActivity => ev.file = Some(file(&mut r)),
        Class::WebResourcesActivity => {
            let copilot = copilot_resources(&r);
            ev.web_resources = Some(targets::web_resources(&mut r, &ev, copilot));
        }
        Class::ApiActivity => api_activity(&mut r, &mut ev),
        Class::EmailActivity => {
            let (id, name) = direction(&r);
            ev.direction_id = Some(id);
            ev.direction = Some(name);
        }
        Class::DetectionFinding => dlp::detection(&mut r, &mut ev, record_type),
        Class::DataSecurityFinding => dlp::dlp(&mut r, &mut ev),
        Class::Authentication | Class::BaseEvent => {}
    }

    ev.metadata.profiles.security_control =
        ev.policy.is_some() || ev.action_id.is_some() || ev.disposition_id.is_some();
    ev.observe();
    let rest = r.into_rest();
    ev.unmapped = (!rest.is_empty()).then_some(rest);
    ev
}

/// The Base Event of a record that is not a JSON object (arbitrary JSON): the value is kept as `unmapped.record`.
pub(crate) fn build_non_object<'a>(
    value: &'a RawValue,
    ct: ContentType,
    raw_data: Option<String>,
) -> Box<OcsfEvent<'a>> {
    // An object whose only key is `record` classifies as Base Event (no Operation, no RecordType).
    build(Fields::single("record", value), ct, raw_data)
}

/// `status_id`, `status`, `status_detail`, `status_code`.
fn result_status<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>, record_type: Option<i64>) {
    let op = ev.metadata.event_code.as_deref().unwrap_or_default();
    let (id, name) = if record_type == Some(15) && op.eq_ignore_ascii_case("UserLoginFailed") {
        // The operation is authoritative: published UserLoginFailed records carry ResultStatus "Success".
        (2, const_text!("Failure"))
    } else if record_type == Some(15) && op.eq_ignore_ascii_case("UserLoggedIn") {
        (1, const_text!("Success"))
    } else {
        // `IsSuccess` (Power BI): a boolean instead of `ResultStatus`.
        match r.text("ResultStatus").or_else(|| r.text("IsSuccess")) {
            None => (0, const_text!("Unknown")),
            Some(s) => {
                let is = |v: &str| s.eq_ignore_ascii_case(v);
                if is("Succeeded") || is("Success") || is("True") || is("PartiallySucceeded") {
                    (1, const_text!("Success"))
                } else if is("Failed") || is("Failure") || is("False") {
                    (2, const_text!("Failure"))
                } else {
                    (99, s)
                }
            }
        }
    };
    ev.status_id = Some(id);
    ev.status = Some(name);
    ev.status_detail = r
        .take_string("LogonError")
        .or_else(|| {
            r.name_value("ExtendedProperties", "ResultStatusDetail")
                .map(Text::Owned)
        })
        .or_else(|| {
            r.name_value("ExtendedProperties", "LoginError")
                .map(Text::Owned)
        });
    ev.status_code = r
        .take_string("ErrorCode")
        .or_else(|| r.text("ErrorCode"))
        .or_else(|| r.take_string("ErrorNumber"))
        .or_else(|| r.text("LoginStatus"));
}

/// The actor of any class: the user (`UserId`, `UserKey`, `UserType`), the application (`AppId`, `ApplicationId`,
/// `ClientAppId`, `AppAccessContext.ClientAppId`; `ApplicationName`, `AppAccessContext.ClientAppName`) and the
/// session (`AppAccessContext.AADSessionId` or `AADSessionId`, `SessionId`, `AppAccessContext.IssuedAtTime`).
/// `None` when the record names none of them.
fn actor<'a>(r: &mut Record<'a>, context: Option<&Fields<'a>>) -> Option<Actor<'a>> {
    let user = take_user(r);
    let (app_uid, app_name) = take_app(r, context).unwrap_or_default();
    let session = take_session(r, context);
    let actor = Actor {
        user,
        app_uid,
        app_name,
        session,
    };
    actor.is_identified().then_some(actor)
}

/// `actor.session`: the Entra (AAD) session id as `uid`, the workload's `SessionId` as `uid_alt` when both exist
/// (else as `uid`), and the token's issue time as `created_time`. Nested values are copied (they stay under
/// `unmapped` with their object).
fn take_session<'a>(r: &mut Record<'a>, context: Option<&Fields<'a>>) -> Option<Session<'a>> {
    let aad = context
        .and_then(|c| c.str("AADSessionId"))
        .or_else(|| r.take_string("AADSessionId"));
    let workload = r.take_string("SessionId");
    let (uid, uid_alt) = match aad {
        Some(aad) => (Some(aad), workload),
        None => (workload, None),
    };
    let created_time = context
        .and_then(|c| c.str("IssuedAtTime"))
        .as_deref()
        .and_then(parse_creation_time);
    let session = Session {
        uid,
        uid_alt,
        created_time,
    };
    (!session.is_empty()).then_some(session)
}

/// The acting (or, for Authentication, authenticating) user: `UserId`, `UserKey`, `UserType`.
fn take_user<'a>(r: &mut Record<'a>) -> Option<User<'a>> {
    // `UserId` as the record gives it (a guest's `urn:spo:guest#` prefix too: analysts search for it as
    // written); the address without that prefix is the e-mail address.
    let name = r.take_string("UserId");
    let email_addr = name
        .as_ref()
        .map(|n| n.slice(|n| n.strip_prefix("urn:spo:guest#").unwrap_or(n)))
        .filter(|n| is_email(n));
    let uid = r.take_string("UserKey");
    let (type_id, type_) = r.int("UserType").map(user_type).unzip();
    let user = User {
        name,
        uid,
        email_addr,
        type_id,
        type_,
        forward_addr: None,
    };
    user.is_identified().then_some(user)
}

/// The workload a content type's records name in `Workload`, for records that lack it.
fn default_workload(ct: ContentType) -> &'static str {
    match ct {
        ContentType::AzureActiveDirectory => "AzureActiveDirectory",
        ContentType::Exchange => "Exchange",
        ContentType::SharePoint => "SharePoint",
        ContentType::General | ContentType::DlpAll => ct.as_str(),
    }
}

/// `metadata.log_name`: the content type.
fn log_name(ct: ContentType) -> Text<'static> {
    match ct {
        ContentType::AzureActiveDirectory => {
            const_text!(ContentType::AzureActiveDirectory.as_str())
        }
        ContentType::Exchange => const_text!(ContentType::Exchange.as_str()),
        ContentType::SharePoint => const_text!(ContentType::SharePoint.as_str()),
        ContentType::General => const_text!(ContentType::General.as_str()),
        ContentType::DlpAll => const_text!(ContentType::DlpAll.as_str()),
    }
}

/// `UserType` (management-api.md §5) to OCSF `user.type_id` and `type`.
fn user_type(code: i64) -> (u32, Text<'static>) {
    match code {
        0 => (1, const_text!("User")),
        // 3 (DcAdmin) is documented as "a Microsoft datacenter operator or system account"; the published records
        // with UserType 3 are all `NT AUTHORITY\SYSTEM (...)`, so it maps to System, not Admin.
        2 => (2, const_text!("Admin")),
        3 | 4 | 7 | 8 => (3, const_text!("System")),
        5 | 6 => (4, const_text!("Service")),
        1 => (99, const_text!("Reserved")),
        9 => (99, const_text!("PartnerTechnician")),
        10 => (99, const_text!("Guest")),
        _ => (0, const_text!("Unknown")),
    }
}

/// The acting application: (`app_uid`, `app_name`).
fn take_app<'a>(
    r: &mut Record<'a>,
    context: Option<&Fields<'a>>,
) -> Option<(Option<Text<'a>>, Option<Text<'a>>)> {
    let uid = APP_FIELDS
        .iter()
        .find_map(|f| r.take_string(f))
        .or_else(|| context.and_then(|c| c.str("ClientAppId")));
    let name = r
        .take_string("ApplicationName")
        .or_else(|| context.and_then(|c| c.str("ClientAppName")));
    (uid.is_some() || name.is_some()).then_some((uid, name))
}

/// A target user named by a field (an e-mail-like string or an id).
fn target_user<'a>(r: &mut Record<'a>, field: &str) -> User<'a> {
    User::named(r.take_string(field).unwrap_or(Text::Str("Unknown")))
}

/// `Update user.` changing strong authentication: 10 MFA Factor Enable, 11 MFA Factor Disable.
fn mfa_change(r: &Record<'_>) -> Option<u32> {
    let props = r.value("ModifiedProperties")?;
    let props = props.as_array()?;
    props.iter().find_map(|p| {
        let p = p.as_object()?;
        let name = p.get("Name")?.as_str()?;
        if !name.starts_with("StrongAuthentication") {
            return None;
        }
        let set = |key| p.get(key).is_some_and(|v| !is_empty_json(v));
        match (set("OldValue"), set("NewValue")) {
            (false, true) => Some(10),
            (true, false) => Some(11),
            _ => None,
        }
    })
}

/// A value that says "nothing": null, blank, `[]`, `{}`, or a string holding one of those.
fn is_empty_json(v: &Json<'_>) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => {
            let t = s.trim();
            t.is_empty()
                || serde_json::from_str::<Json<'_>>(t)
                    .is_ok_and(|inner| !matches!(inner, Json::String(_)) && is_empty_json(&inner))
        }
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A `ModifiedProperties` entry's new (or, failing that, old) value.
fn modified_property(r: &Record<'_>, name: &str) -> Option<Text<'static>> {
    let props = r.value("ModifiedProperties")?;
    let props = props.as_array()?;
    props.iter().find_map(|p| {
        let p = p.as_object()?;
        if !p.get("Name")?.as_str()?.eq_ignore_ascii_case(name) {
            return None;
        }
        ["NewValue", "OldValue"].iter().find_map(|k| {
            let v = p.get_str(k)?;
            let v = v.trim_matches('"').trim();
            (!v.is_empty() && v != "[]").then(|| Text::copy(v))
        })
    })
}

/// The user a permission or role-group cmdlet grants to or revokes from.
fn cmdlet_target(r: &Record<'_>) -> Option<String> {
    ["User", "Member", "Trustee"]
        .iter()
        .find_map(|k| r.name_value("Parameters", k))
}

fn user_access<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>, record_type: Option<i64>) {
    if record_type == Some(8) {
        let role = modified_property(r, "Role.DisplayName");
        ev.user = Some(target_user(r, "ObjectId"));
        ev.privileges = Some(role.into_iter().collect());
    } else if r.has("TargetUserOrGroupName") {
        targets::sharing_grant(r, ev);
    } else if let Some(folder) = targets::folder_member(r).map(JsonMap::to_map) {
        targets::folder_grant(r, ev, folder);
    } else {
        let op = ev.metadata.event_code.as_deref().unwrap_or_default();
        let privilege = if contains_ci(op, "RoleGroupMember") {
            r.name_value("Parameters", "Identity")
        } else {
            r.name_value("Parameters", "AccessRights")
        };
        ev.user = Some(match cmdlet_target(r) {
            Some(name) => User::named(Text::Owned(name)),
            None => target_user(r, "ObjectId"),
        });
        ev.privileges = Some(privilege.into_iter().map(Text::Owned).collect());
        ev.resources = r
            .name_value("Parameters", "Identity")
            .filter(|_| !contains_ci(op, "RoleGroupMember"))
            .map(|uid| {
                vec![Resource {
                    uid: Text::Owned(uid),
                    name: None,
                    type_: Some(Text::Str("Mailbox")),
                }]
            });
    }
}

fn group<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>) {
    if r.has("TargetUserOrGroupName") {
        targets::sharepoint_group(r, ev);
    } else if r.has("TeamName") {
        let name = r.take_string("TeamName").unwrap_or_default();
        let uid = r.take_string("TeamGuid");
        ev.group = Some(Group { name, uid });
        let members = r.value("Members");
        let member = members
            .and_then(Json::as_array)
            .and_then(|m| m.first())
            .and_then(Json::as_object)
            .and_then(|m| m.get_str("UPN"))
            .map(Text::copy);
        ev.user = member.map(User::named);
    } else if let Some(name) = modified_property(r, "Group.DisplayName") {
        ev.group = Some(Group { name, uid: None });
        if matches!(ev.activity_id, 3 | 4) {
            ev.user = Some(target_user(r, "ObjectId"));
        }
    } else {
        let name = r.take_string("ObjectId").unwrap_or(Text::Str("Unknown"));
        ev.group = Some(Group { name, uid: None });
    }
}

fn file<'a>(r: &mut Record<'a>) -> File<'a> {
    let folder = r
        .str("ItemType")
        .is_some_and(|t| t.eq_ignore_ascii_case("Folder"));
    let name = r.take_string("SourceFileName").or_else(|| {
        // The last segment of the object's path.
        let last = r.str("ObjectId")?.slice(|o| {
            o.trim_end_matches('/')
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default()
        });
        (!last.is_empty()).then_some(last)
    });
    let relative = r.str("SourceRelativeUrl");
    let is_path = match (relative.as_deref(), &name) {
        (Some(rel), Some(n)) => rel.ends_with(n.as_str()),
        _ => false,
    };
    let relative = r.take_string("SourceRelativeUrl");
    let (path, parent_folder) = if is_path {
        (relative, None)
    } else {
        (None, relative)
    };
    File {
        name: name.unwrap_or(Text::Str("Unknown")),
        type_id: if folder { 2 } else { 1 },
        type_: if folder {
            const_text!("Folder")
        } else {
            const_text!("Regular File")
        },
        path,
        ext: r.take_string("SourceFileExtension"),
        uri: r.take_string("ObjectId"),
        parent_folder,
        uid: r.take_string("ListItemUniqueId"),
        owner: None,
    }
}

/// Copilot's `AccessedResources` and `Contexts` (copied; the originals stay under `unmapped`).
fn copilot_resources(r: &Record<'_>) -> Vec<Resource<'static>> {
    let value = r.value("CopilotEventData");
    let Some(data) = value.and_then(Json::as_object) else {
        return Vec::new();
    };
    ["AccessedResources", "Contexts"]
        .iter()
        .filter_map(|k| data.get(k)?.as_array())
        .flatten()
        .filter_map(|item| {
            let item = item.as_object()?;
            Some(Resource {
                uid: Text::copy(&item.get("Id").and_then(Json::text)?),
                name: item.get_str("Name").map(Text::copy),
                type_: item.get_str("Type").map(Text::copy),
            })
        })
        .collect()
}

fn api_activity<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>) {
    let app_host = r
        .nested_str("CopilotEventData", "AppHost")
        .map(|name| Named { name });
    ev.api = Some(Api {
        operation: ev.metadata.event_code.clone().unwrap_or_default(),
        service: app_host,
    });
    let resources = copilot_resources(r);
    ev.resources = (!resources.is_empty()).then_some(resources);
}

/// The `email` of Send/SendAs/SendOnBehalf and TIMailData; `None` when no sender or recipient address is known.
fn email_of<'a>(r: &Record<'a>, record_type: Option<i64>) -> Option<Email<'a>> {
    let email_field = |k: &str| r.str(k).filter(|s| is_email(s));
    let item_value = r.value("Item");
    let item = item_value.and_then(Json::as_object);
    let recipients = r.value("Recipients");
    let mut email = if record_type == Some(28) {
        Email {
            from: email_field("P2Sender").or_else(|| email_field("P1Sender")),
            to: recipients.and_then(Json::as_array).map(|a| {
                a.iter()
                    .filter_map(Json::non_blank)
                    .filter(|s| is_email(s))
                    .map(Text::copy)
                    .collect()
            }),
            cc: None,
            subject: r.str("Subject"),
            message_uid: r.str("InternetMessageId"),
        }
    } else {
        Email {
            from: email_field("SendAsUserSmtp")
                .or_else(|| email_field("SendOnBehalfOfUserSmtp"))
                .or_else(|| email_field("MailboxOwnerUPN"))
                .or_else(|| email_field("UserId")),
            to: None,
            cc: None,
            subject: item.and_then(|i| i.get_str("Subject")).map(Text::copy),
            message_uid: item
                .and_then(|i| i.get_str("InternetMessageId"))
                .map(Text::copy),
        }
    };
    if email.to.as_ref().is_some_and(Vec::is_empty) {
        email.to = None;
    }
    (email.from.is_some() || email.to.is_some()).then_some(email)
}

/// `direction_id` of TIMailData's `Directionality`; 0 for sends (the recipients are not in the record).
fn direction(r: &Record<'_>) -> (u32, &'static str) {
    match r.str("Directionality").as_deref() {
        Some(d) if d.eq_ignore_ascii_case("Inbound") => (1, "Inbound"),
        Some(d) if d.eq_ignore_ascii_case("Outbound") => (2, "Outbound"),
        Some(d) if d.eq_ignore_ascii_case("IntraOrg") || d.eq_ignore_ascii_case("Internal") => {
            (3, "Internal")
        }
        _ => (0, "Unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn event(v: Value) -> OcsfEvent<'static> {
        let text = v.to_string();
        let fields = crate::normalize::record::parse_fields(text.as_bytes())
            .expect("JSON")
            .expect("object");
        build(fields, ContentType::AzureActiveDirectory, None).into_owned()
    }

    #[test]
    fn user_types_follow_the_documented_codes() {
        let table: Vec<_> = (0..=11).map(user_type).collect();
        assert_eq!(
            table.iter().map(|t| t.0).collect::<Vec<_>>(),
            [1, 99, 2, 3, 3, 4, 4, 3, 3, 99, 99, 0]
        );
    }

    #[test]
    fn result_status_in_every_published_spelling() {
        for (status, id) in [
            ("Succeeded", 1),
            ("success", 1),
            ("True", 1),
            ("PartiallySucceeded", 1),
            ("Failed", 2),
            ("Failure", 2),
            ("false", 2),
            ("Pending", 99),
        ] {
            let e = event(json!({"Operation": "X", "ResultStatus": status}));
            assert_eq!(e.status_id, Some(id), "{status}");
        }
        assert_eq!(event(json!({"Operation": "X"})).status_id, Some(0));
    }

    #[test]
    fn strong_authentication_requirement_changes_are_mfa_activities() {
        let rec = |old: &str, new: &str| {
            event(json!({"Operation": "Update user.", "RecordType": 8, "ObjectId": "u@contoso.com",
                "UserId": "a@contoso.com", "ModifiedProperties": [
                    {"Name": "StrongAuthenticationRequirement", "OldValue": old, "NewValue": new}]}))
            .activity_id
        };
        assert_eq!(rec("[]", "[{\"State\":1}]"), 10);
        assert_eq!(rec("[{\"State\":1}]", ""), 11);
        assert_eq!(rec("[{\"State\":1}]", "[{\"State\":2}]"), 99);
        assert!(is_empty_json(&Json::String(" {} ".into())));
        assert!(!is_empty_json(&Json::String("\"\"".into())));
    }

    #[test]
    fn every_class_gets_the_actor_with_session_and_observables() {
        let e = event(
            json!({"Operation": "PageViewed", "RecordType": 4, "Workload": "SharePoint",
            "UserId": "urn:spo:guest#ann@fabrikam.com", "UserKey": "k1", "UserType": 10,
            "SessionId": "s-2", "AppAccessContext": {"AADSessionId": "s-1", "ClientAppId": "app-1",
            "IssuedAtTime": "2026-12-01T10:00:00Z"}}),
        );
        let actor = e.actor.as_ref().expect("actor");
        let user = actor.user.as_ref().expect("user");
        assert_eq!(user.name.as_deref(), Some("urn:spo:guest#ann@fabrikam.com"));
        assert_eq!(user.email_addr.as_deref(), Some("ann@fabrikam.com"));
        assert_eq!(user.uid.as_deref(), Some("k1"));
        assert_eq!(actor.app_uid.as_deref(), Some("app-1"));
        let session = actor.session.as_ref().expect("session");
        assert_eq!(session.uid.as_deref(), Some("s-1"));
        assert_eq!(session.uid_alt.as_deref(), Some("s-2"));
        assert_eq!(session.created_time, Some(1_796_119_200_000));
        let class = Class::from_uid(e.class_uid).expect("class");
        assert_eq!(e.metadata.profiles.host, !class.has_actor());
        // UserId and SessionId, modelled verbatim, leave unmapped.
        let rest = e.unmapped.as_ref().expect("unmapped");
        assert!(rest.get("UserId").is_none());
        assert!(rest.get("SessionId").is_none());
        let obs = e.observables.as_ref().expect("observables");
        assert!(
            obs.iter()
                .any(|o| o.type_id == 5 && o.value == "ann@fabrikam.com")
        );
        assert!(obs.iter().any(|o| o.type_id == 31 && o.value == "k1"));
    }
}
