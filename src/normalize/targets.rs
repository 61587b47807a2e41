//! The targets of an operation in each class's modelled attribute, keyed by the operation as well as the class (so
//! they hold whichever class the classification picks): web resources (mailbox items, inbox rules, folder
//! permissions, Teams/Power BI/Forms objects), the managed entity of admin cmdlets and directory operations (inbox
//! rules and forwarding, permission grants, applications and service principals), the application a sign-in was
//! for.
//!
//! A resource's name comes from the record, never from the workload. Values copied out of nested objects or
//! Name/Value lists stay under `unmapped` as well; only top-level strings moved unchanged leave the record.

use serde_json::{Map, Value};

use super::classify::{contains_ci, is_op};
use super::event::const_text;
use super::event::*;
use super::record::{Json, JsonMap, Record, as_text, is_email, obj_get, obj_str};

/// Inbox rule parameters an attacker uses to hide or exfiltrate mail.
const RULE_KEYS: [&str; 14] = [
    "Name",
    "ForwardTo",
    "ForwardAsAttachmentTo",
    "RedirectTo",
    "DeleteMessage",
    "MoveToFolder",
    "MarkAsRead",
    "StopProcessingRules",
    "SubjectContainsWords",
    "SubjectOrBodyContainsWords",
    "BodyContainsWords",
    "From",
    "FromAddressContainsWords",
    "SentTo",
];

/// Mailbox forwarding parameters of `Set-Mailbox`.
const FORWARD_KEYS: [&str; 3] = [
    "ForwardingSmtpAddress",
    "ForwardingAddress",
    "DeliverToMailboxAndForward",
];

/// A Name/Value list (`Parameters`, `OperationProperties`, `ModifiedProperties`'s `NewValue`) as an object, in the
/// list's order; `None` when empty or not such a list.
pub(super) fn name_values(list: &Json<'_>, value_key: &str) -> Option<Map<String, Value>> {
    let items: Vec<Json<'_>>;
    let items = match list {
        Json::Array(a) => a,
        Json::String(s) if s.trim_start().starts_with('[') => {
            items = serde_json::from_str::<Vec<Json<'_>>>(s).ok()?;
            &items
        }
        Json::Object(o) => return (!o.is_empty()).then(|| o.to_map()),
        _ => return None,
    };
    let map: Map<String, Value> = items
        .iter()
        .filter_map(Json::as_object)
        .filter_map(|o| {
            let name = o.get("Name")?.as_str()?;
            let value = o.get(value_key)?.to_value();
            Some((name.to_owned(), value))
        })
        .collect();
    (!map.is_empty()).then_some(map)
}

fn get_ci<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    obj_get(map, key).filter(|v| as_text(v).is_some())
}

/// Only `keys` of `map`, when any is there.
fn pick(map: &Map<String, Value>, keys: &[&str]) -> Option<Value> {
    let out: Map<String, Value> = keys
        .iter()
        .filter_map(|k| get_ci(map, k).map(|v| ((*k).to_owned(), v.clone())))
        .collect();
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The managed entity of Entity Management: admin cmdlets (their parameters in `data`; inbox rules by rule name,
/// `Set-Mailbox` forwarding with the forwarding address in `user.forward_addr`, permission cmdlets with the grantee
/// in `user`) and directory operations (the target's type from the operation, its changed properties in `data`).
pub(super) fn entity<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>, record_type: Option<i64>) {
    let op = ev.metadata.event_code.clone().unwrap_or_default();
    let cmdlet =
        matches!(record_type, Some(1 | 10 | 18 | 23)) || (op.contains('-') && !op.contains(' '));
    let mut params = r.value("Parameters").and_then(|p| name_values(p, "Value"));
    let param = |k: &str| {
        params
            .as_ref()
            .and_then(|p| get_ci(p, k))
            .and_then(as_text)
            .map(|t| Text::Owned(t.into_owned()))
    };
    let identity = param("Identity");
    let mut entity = Entity {
        name: Text::default(),
        uid: None,
        type_: None,
        data: None,
        user: None,
    };
    if cmdlet {
        entity.type_ = op.part(|o| o.split_once('-').map(|(_, noun)| noun));
        ev.api = Some(Api {
            operation: op.clone(),
            service: None,
        });
        if is_op(&op, &["New-InboxRule", "Set-InboxRule", "Enable-InboxRule"]) {
            entity.data = params.as_ref().and_then(|p| pick(p, &RULE_KEYS));
            entity.user = param("Mailbox").map(User::named);
            entity.name = param("Name")
                .or_else(|| identity.clone())
                .unwrap_or_default();
        } else if let Some(forwarding) = is_op(&op, &["Set-Mailbox"])
            .then(|| params.as_ref().and_then(|p| pick(p, &FORWARD_KEYS)))
            .flatten()
        {
            entity.data = Some(forwarding);
            let forward = param("ForwardingSmtpAddress")
                .or_else(|| param("ForwardingAddress"))
                .map(|a| {
                    a.slice(|a| {
                        let t = a.trim();
                        t.strip_prefix("smtp:")
                            .or_else(|| t.strip_prefix("SMTP:"))
                            .unwrap_or(t)
                    })
                })
                .filter(|a| is_email(a));
            if let Some(identity) = identity.clone() {
                entity.user = Some(User {
                    forward_addr: forward,
                    ..User::named(identity)
                });
            }
        } else if is_op(
            &op,
            &[
                "Add-MailboxPermission",
                "Remove-MailboxPermission",
                "Add-RecipientPermission",
                "Remove-RecipientPermission",
                "Add-MailboxFolderPermission",
                "Set-MailboxFolderPermission",
            ],
        ) {
            entity.user = ["User", "Trustee"]
                .iter()
                .find_map(|k| param(k))
                .map(User::named);
            entity.data = params.take().map(Value::Object);
        } else {
            entity.data = params.take().map(Value::Object);
        }
    } else if record_type == Some(8) {
        let lower = op.to_ascii_lowercase();
        entity.type_ = [
            "service principal",
            "application",
            "policy",
            "role",
            "device",
            "domain",
            "group",
            "user",
        ]
        .iter()
        .find(|n| lower.contains(*n))
        .map(|n| Text::Str(n));
        entity.data = r
            .value("ModifiedProperties")
            .and_then(|p| name_values(p, "NewValue"))
            .map(Value::Object);
        entity.uid = entra_target_id(r);
    } else if let Some(rule) = inbox_rule(r, &op) {
        // An Outlook client's rule change (`UpdateInboxRules`): the rule, on the mailbox it belongs to.
        entity.name = rule.name.unwrap_or_default();
        entity.uid = rule.uid;
        entity.type_ = rule.type_;
        entity.data = rule.data;
        entity.user = r.text("MailboxOwnerUPN").map(User::named);
    }
    if entity.name.is_empty() {
        entity.name = r
            .take_string("ObjectId")
            .or(identity)
            .or_else(|| entity.user.as_ref().and_then(|u| u.name.clone()))
            .unwrap_or_else(|| op.clone());
    } else if entity.uid.is_none() {
        // Named by a parameter (an inbox rule): `ObjectId` is its identity.
        entity.uid = r.take_string("ObjectId");
    }
    ev.entity = Some(entity);
}

/// The directory object id among `Target[]` (`Type` 2: an object id), copied.
fn entra_target_id(r: &Record<'_>) -> Option<Text<'static>> {
    let targets = r.value("Target")?;
    targets.as_array()?.iter().find_map(|t| {
        let t = t.as_object()?;
        let kind = t.get("Type").and_then(Json::text)?;
        (kind == "2")
            .then(|| t.get("ID").and_then(Json::text).map(|id| Text::copy(&id)))
            .flatten()
    })
}

/// The application a sign-in was for: `ObjectId` of a sign-in record is the target application's id.
pub(super) fn signed_into<'a>(r: &mut Record<'a>, record_type: Option<i64>) -> Option<Text<'a>> {
    (record_type == Some(15)).then(|| r.take_string("ObjectId"))?
}

/// Mail items named by a mailbox operation: `Folders[].FolderItems[]` (MailItemsAccessed), `AffectedItems[]`
/// (deletes and moves), `Item` (creates, updates, sends, folder permissions).
fn mail_items(r: &Record<'_>) -> Vec<WebResource<'static>> {
    let mut out = Vec::new();
    let item = |i: &JsonMap<'_>, folder: Option<&str>| {
        let uid = i
            .get_str("InternetMessageId")
            .or_else(|| i.get_str("Id"))
            .map(Text::copy);
        let name = i.get_str("Subject").map(Text::copy);
        let folder = folder.or_else(|| {
            i.get("ParentFolder")
                .and_then(Json::as_object)
                .and_then(|f| f.get_str("Path"))
        });
        (uid.is_some() || name.is_some()).then(|| WebResource {
            uid,
            name,
            type_: Some(Text::Str("Email")),
            url_string: None,
            data: folder.map(|f| serde_json::json!({ "folder": f })),
        })
    };
    if let Some(Json::Array(folders)) = r.value("Folders") {
        for f in folders.iter().filter_map(Json::as_object) {
            let path = f.get_str("Path");
            if let Some(items) = f.get("FolderItems").and_then(Json::as_array) {
                out.extend(
                    items
                        .iter()
                        .filter_map(Json::as_object)
                        .filter_map(|i| item(i, path)),
                );
            }
        }
    }
    if let Some(Json::Array(items)) = r.value("AffectedItems") {
        out.extend(
            items
                .iter()
                .filter_map(Json::as_object)
                .filter_map(|i| item(i, None)),
        );
    }
    if out.is_empty()
        && let Some(Json::Object(i)) = r.value("Item")
    {
        let rights = i
            .get("ParentFolder")
            .and_then(Json::as_object)
            .and_then(|f| f.get("MemberRights").map(|_| f.to_map()));
        match rights {
            // A folder permission change: the folder, with the member and the rights.
            Some(folder) => out.push(WebResource {
                uid: obj_str(&folder, "Id").map(Text::copy),
                name: obj_str(&folder, "Name")
                    .or_else(|| obj_str(&folder, "Path"))
                    .map(Text::copy),
                type_: Some(Text::Str("Folder")),
                url_string: None,
                data: pick(&folder, &["Path", "MemberUpn", "MemberSid", "MemberRights"]),
            }),
            None => out.extend(item(i, None)),
        }
    }
    out
}

/// An Outlook inbox rule change (`UpdateInboxRules`, `New-InboxRule` from a client): the rule by name, its actions
/// in `data` (copied from `OperationProperties`).
fn inbox_rule(r: &Record<'_>, op: &str) -> Option<WebResource<'static>> {
    if !is_op(op, &["UpdateInboxRules", "New-InboxRule", "Set-InboxRule"]) {
        return None;
    }
    let props = r
        .value("OperationProperties")
        .and_then(|p| name_values(p, "Value"))
        .or_else(|| r.value("Parameters").and_then(|p| name_values(p, "Value")))?;
    let name = get_ci(&props, "RuleName")
        .or_else(|| get_ci(&props, "Name"))
        .and_then(as_text)
        .map(|n| Text::copy(&n));
    Some(WebResource {
        uid: get_ci(&props, "RuleId")
            .and_then(as_text)
            .map(|id| Text::copy(&id)),
        name: name.or_else(|| Some(Text::copy(op))),
        type_: Some(Text::Str("InboxRule")),
        url_string: None,
        data: Some(Value::Object(props)),
    })
}

/// Top-level fields that name the object of a Teams, Power BI, Forms, Yammer, SharePoint list or mailbox operation.
const NAME_FIELDS: [&str; 12] = [
    "ItemName",
    "ListTitle",
    "ReportName",
    "DashboardName",
    "DatasetName",
    "WorkSpaceName",
    "FormName",
    "ChannelName",
    "TeamName",
    "GroupName",
    "ThreadId",
    "ListItemUniqueId",
];

/// `web_resources` of Web Resources Activity.
pub(super) fn web_resources<'a>(
    r: &mut Record<'a>,
    ev: &OcsfEvent<'a>,
    copilot: Vec<Resource<'a>>,
) -> Vec<WebResource<'a>> {
    if !copilot.is_empty() {
        return copilot
            .into_iter()
            .map(|res| WebResource {
                uid: Some(res.uid),
                name: res.name,
                type_: res.type_,
                ..WebResource::default()
            })
            .collect();
    }
    let op = ev.metadata.event_code.as_deref().unwrap_or_default();
    if let Some(rule) = inbox_rule(r, op) {
        return vec![rule];
    }
    let mut items = mail_items(r);
    if !items.is_empty() {
        items.extend(mailbox_web_resource(r));
        return items;
    }
    let mut res = WebResource {
        uid: r
            .take_string("ObjectId")
            .or_else(|| r.take_string("MessageId")),
        name: r.take_string("SourceFileName"),
        type_: r.take_string("ItemType"),
        url_string: r.take_string("SiteUrl").or_else(|| r.take_string("URL")),
        data: None,
    };
    let channel = r.has("ChannelName");
    if res.name.is_none()
        && let Some(name) = NAME_FIELDS.iter().find_map(|f| r.take_string(f))
    {
        res.name = Some(name);
    }
    if channel && res.uid.is_none() {
        // A Teams channel: its id and type.
        res.uid = r.take_string("ChannelGuid");
        res.type_.get_or_insert(Text::Str("Channel"));
    }
    let mailbox = mailbox_web_resource(r);
    let mut mentioned = Vec::new();
    if res.uid.is_none() && res.name.is_none() {
        // Security & Compliance records name a message and its mailbox only in `ExtendedProperties`
        // (`AdminMailAccess`: `InternetMessageId`, `MailboxId`); copied, the list stays under `unmapped`.
        if let Some(message) = r.name_value("ExtendedProperties", "InternetMessageId") {
            res.uid = Some(Text::Owned(message));
            res.type_.get_or_insert(Text::Str("Email"));
        }
        if let Some(name) = r.name_value("ExtendedProperties", "MailboxId") {
            mentioned.push(WebResource {
                name: Some(Text::Owned(name)),
                type_: Some(Text::Str("Mailbox")),
                ..WebResource::default()
            });
        }
    }
    if res.uid.is_none() && res.name.is_none() && res.url_string.is_some() {
        // A URL (a Safe Links click) is its own identifier.
        res.uid.clone_from(&res.url_string);
    }
    let others = mailbox.is_some() || !mentioned.is_empty();
    if res.uid.is_none() && res.name.is_none() && (res.type_.is_some() || !others) {
        // Nothing names the resource (and no mailbox stands for it): the operation is the one name the record
        // gives.
        res.name = Some(
            ev.metadata
                .event_code
                .clone()
                .unwrap_or(Text::Str("Unknown")),
        );
    }
    let mut out = Vec::new();
    if res.uid.is_some() || res.name.is_some() {
        out.push(res);
    }
    // The team a channel belongs to, when the channel is the resource.
    if channel && r.has("TeamName") {
        out.push(WebResource {
            uid: r.take_string("TeamGuid"),
            name: r.take_string("TeamName"),
            type_: Some(Text::Str("Team")),
            ..WebResource::default()
        });
    }
    out.extend(mailbox);
    out.extend(mentioned);
    out
}

/// The mailbox a mailbox operation acted on (`MailboxGuid`, `MailboxOwnerUPN`), moved out of the record.
fn mailbox<'a>(r: &mut Record<'a>) -> Option<(Option<Text<'a>>, Option<Text<'a>>)> {
    let uid = r.take_string("MailboxGuid");
    let name = r.take_string("MailboxOwnerUPN");
    (uid.is_some() || name.is_some()).then_some((uid, name))
}

/// The mailbox as a web resource.
fn mailbox_web_resource<'a>(r: &mut Record<'a>) -> Option<WebResource<'a>> {
    let (uid, name) = mailbox(r)?;
    Some(WebResource {
        uid,
        name,
        type_: Some(Text::Str("Mailbox")),
        ..WebResource::default()
    })
}

/// The mailbox as a resource of User Access Management.
fn mailbox_resource<'a>(r: &mut Record<'a>) -> Option<Resource<'a>> {
    let (uid, name) = mailbox(r)?;
    Some(Resource {
        uid: uid.or_else(|| name.clone())?,
        name,
        type_: Some(Text::Str("Mailbox")),
    })
}

/// The folder of a folder permission change (`Item.ParentFolder` naming a member or rights).
pub(super) fn folder_member<'r, 'a>(r: &'r Record<'a>) -> Option<&'r JsonMap<'a>> {
    let folder = r
        .value("Item")?
        .as_object()?
        .get("ParentFolder")?
        .as_object()?;
    ["MemberUpn", "MemberSid", "MemberRights"]
        .iter()
        .any(|k| folder.get_str(k).is_some())
        .then_some(folder)
}

/// A mailbox folder permission granted, changed or removed (`AddFolderPermissions`, `ModifyFolderPermissions`,
/// `RemoveFolderPermissions`): the member in `user`, the rights in `privileges`, the folder and the mailbox in
/// `resources`. Values are copied from `Item`, which stays under `unmapped`.
pub(super) fn folder_grant<'a>(
    r: &mut Record<'a>,
    ev: &mut OcsfEvent<'a>,
    folder: Map<String, Value>,
) {
    let upn = obj_str(&folder, "MemberUpn").map(Text::copy);
    let sid = obj_str(&folder, "MemberSid").map(Text::copy);
    ev.user = Some(match (upn, sid) {
        (Some(upn), sid) => User {
            uid: sid,
            ..User::named(upn)
        },
        (None, Some(sid)) => User {
            uid: Some(sid),
            ..User::default()
        },
        (None, None) => User::named("Unknown"),
    });
    ev.privileges = Some(
        obj_str(&folder, "MemberRights")
            .map(|rights| {
                rights
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(Text::copy)
                    .collect()
            })
            .unwrap_or_default(),
    );
    let mut resources = Vec::new();
    let folder_name = obj_str(&folder, "Name").or_else(|| obj_str(&folder, "Path"));
    if let Some(uid) = obj_str(&folder, "Id").or(folder_name) {
        resources.push(Resource {
            uid: Text::copy(uid),
            name: folder_name.map(Text::copy),
            type_: Some(Text::Str("Folder")),
        });
    }
    resources.extend(mailbox_resource(r));
    ev.resources = (!resources.is_empty()).then_some(resources);
}

/// SharePoint's member types that are groups, not users.
pub(super) fn is_group_type(kind: &str) -> bool {
    contains_ci(kind, "Group")
}

/// The user or group a SharePoint operation grants to (`TargetUserOrGroupName`, moved), typed from
/// `TargetUserOrGroupType` (kept): a guest's `urn:spo:guest#` prefix is not part of its e-mail address.
fn grantee<'a>(r: &mut Record<'a>) -> User<'a> {
    let kind = r.str("TargetUserOrGroupType");
    let name = r
        .take_string("TargetUserOrGroupName")
        .unwrap_or(Text::Str("Unknown"));
    let address = name.slice(|n| {
        n.get(..14)
            .filter(|p| p.eq_ignore_ascii_case("urn:spo:guest#"))
            .map_or(n, |_| &n[14..])
    });
    let is_user = kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("Member") || k.eq_ignore_ascii_case("Guest"));
    User {
        email_addr: is_email(&address).then_some(address),
        type_id: is_user.then_some(1),
        type_: is_user.then(|| const_text!("User")),
        ..User::named(name)
    }
}

/// The value of `<tag>…</tag>` in SharePoint's `EventData` (up to the next closing tag).
fn event_data_tag<'a>(data: &Text<'a>, tag: &str) -> Option<Text<'a>> {
    // Scanned for `<` (memchr) rather than searched for the whole `<tag>`: no pattern to build per look-up.
    let mut from = 0;
    let start = loop {
        let open = from + data[from..].find('<')?;
        let after = &data[open + 1..];
        if after.starts_with(tag) && after[tag.len()..].starts_with('>') {
            break open + 1 + tag.len() + 1;
        }
        from = open + 1;
    };
    let mut end = start;
    loop {
        end += data[end..].find('<')?;
        if data[end + 1..].starts_with('/') {
            break;
        }
        end += 1;
    }
    data.slice(|d| &d[start..end]).trimmed()
}

/// Access to a SharePoint/OneDrive item given to or taken from a named user or group (`SharingSet`,
/// `AddedToSecureLink`, `SharingInvitationCreated`, `SharingRevoked`, …): the grantee in `user`, the permission
/// or link type `EventData` names in `privileges`, the item in `resources`.
pub(super) fn sharing_grant<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>) {
    ev.user = Some(grantee(r));
    let data = r.str("EventData");
    ev.privileges = Some(
        ["PermissionsGranted", "Permission", "Role", "Type"]
            .iter()
            .find_map(|t| event_data_tag(data.as_ref()?, t))
            .into_iter()
            .collect(),
    );
    let name = r.take_string("SourceFileName");
    let uid = r
        .take_string("ObjectId")
        .or_else(|| r.take_string("SiteUrl"))
        .or_else(|| name.clone());
    // Moved only into a resource that exists (else it stays under `unmapped`).
    let kind = uid.as_ref().and_then(|_| r.take_string("ItemType"));
    ev.resources = uid.map(|uid| {
        vec![Resource {
            uid,
            name,
            type_: kind,
        }]
    });
}

/// A user or group added to or removed from a SharePoint group (`AddedToGroup`, `RemovedFromGroup`): the group
/// `EventData` names in `group`, the member in `user` or, for a group, in `subgroup`.
pub(super) fn sharepoint_group<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>) {
    ev.group = Some(Group {
        name: r
            .str("EventData")
            .and_then(|data| event_data_tag(&data, "Group"))
            .unwrap_or(Text::Str("Unknown")),
        uid: None,
    });
    let uid = r
        .take_string("ObjectId")
        .or_else(|| r.take_string("SiteUrl"));
    let kind = uid.as_ref().and_then(|_| r.take_string("ItemType"));
    ev.resource = uid.map(|uid| Resource {
        uid,
        name: None,
        type_: kind,
    });
    if matches!(ev.activity_id, 7 | 8) {
        ev.subgroup = r
            .take_string("TargetUserOrGroupName")
            .map(|name| Group { name, uid: None });
    } else {
        ev.user = Some(grantee(r));
    }
}
