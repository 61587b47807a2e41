//! The attributes of the findings: DLP rule matches (Data Security Finding) and alerts (Detection Finding).
//!
//! Everything here is copied out of nested objects (`PolicyDetails`, `SharePointMetaData`, `ExchangeMetaData`,
//! `Data`), so the originals stay under `unmapped`; only top-level strings moved unchanged (`AlertId`, `Name`,
//! `Comments`) leave the record.

use std::borrow::Cow;

use super::classify::contains_ci;
use super::event::const_text;
use super::event::*;
use super::record::{Json, JsonMap, Record, is_email};

/// `Severity` text to `severity_id` and caption.
pub(super) fn severity(s: &str) -> Option<(u32, Text<'static>)> {
    let is = |v: &str| s.trim().eq_ignore_ascii_case(v);
    if is("Informational") || is("Info") {
        Some((1, const_text!("Informational")))
    } else if is("Low") {
        Some((2, const_text!("Low")))
    } else if is("Medium") {
        Some((3, const_text!("Medium")))
    } else if is("High") {
        Some((4, const_text!("High")))
    } else if is("Critical") {
        Some((5, const_text!("Critical")))
    } else {
        None
    }
}

/// Strings of a JSON value that is a string or a list of strings.
fn strings(v: Option<&Json<'_>>) -> Vec<String> {
    match v {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(Json::non_blank)
            .map(str::to_owned)
            .collect(),
        Some(v) => v.non_blank().map(str::to_owned).into_iter().collect(),
        None => Vec::new(),
    }
}

/// Addresses of a JSON value that is an address, a `;`/`,`-separated list, or a list of addresses.
fn addresses(v: Option<&Json<'_>>) -> Option<Vec<Text<'static>>> {
    let out: Vec<Text<'static>> = strings(v)
        .iter()
        .flat_map(|s| s.split([';', ',']))
        .map(str::trim)
        .filter(|s| is_email(s))
        .map(Text::copy)
        .collect();
    (!out.is_empty()).then_some(out)
}

/// (`action_id`, `action`, `disposition_id`, `disposition`).
type Outcome = (u32, Cow<'static, str>, u32, Cow<'static, str>);

/// What a DLP rule's `Actions` did: (`action_id`, `action`, `disposition_id`, `disposition`) per OCSF 1.8.0.
/// Blocking actions deny the activity (Denied / Blocked); notifications and reports let it through and alert
/// (Allowed / Alert); any other action is Other with its name. `None` when the rule lists no action.
pub(super) fn rule_outcome(actions: &[String]) -> Option<Outcome> {
    if actions.is_empty() {
        return None;
    }
    let has = |p: &str| actions.iter().any(|a| contains_ci(a, p));
    if has("Block") || has("RestrictAccess") || has("Reject") {
        return Some((2, "Denied".into(), 2, "Blocked".into()));
    }
    let notify = |a: &String| {
        ["Notify", "Alert", "IncidentReport", "Report", "Audit"]
            .iter()
            .any(|p| contains_ci(a, p))
    };
    if actions.iter().all(notify) {
        return Some((1, "Allowed".into(), 19, "Alert".into()));
    }
    let other = actions.join(", ");
    Some((99, other.clone().into(), 99, other.into()))
}

/// Data Security Finding: severity (maximum over the rules), `finding_info`, `data_security.policy` and
/// `classifier_details`, the security_control `policy`/`action`/`disposition`, `count`/`confidence_score` of the
/// first sensitive information type, the file (`SharePointMetaData`) and the message (`ExchangeMetaData`, as a
/// resource: the class has no `email`).
pub(super) fn dlp<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>) {
    let policy_details = r.value("PolicyDetails");
    let policies: Vec<&JsonMap<'_>> = policy_details
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_object)
        .collect();
    let rules: Vec<&JsonMap<'_>> = policies
        .iter()
        .filter_map(|p| p.get("Rules")?.as_array())
        .flatten()
        .filter_map(Json::as_object)
        .collect();
    let mut max: Option<(u32, Text<'static>)> = None;
    for rule in &rules {
        if let Some(s) = rule.get_str("Severity").and_then(severity)
            && max.as_ref().is_none_or(|(m, _)| s.0 > *m)
        {
            max = Some(s);
        }
    }
    if let Some((id, name)) = max {
        ev.severity_id = id;
        ev.severity = name;
    }
    let first = policies.first();
    let rule_names: Vec<String> = rules
        .iter()
        .filter_map(|rule| {
            let name = rule.get_str("RuleName");
            let id = rule.get("RuleId").and_then(Json::text);
            match (name, id) {
                (Some(n), Some(i)) => Some(format!("{n} ({i})")),
                (Some(n), None) => Some(n.to_owned()),
                (None, Some(i)) => Some(i.into_owned()),
                (None, None) => None,
            }
        })
        .collect();
    let policy = Policy {
        uid: first.and_then(|p| p.get_str("PolicyId")).map(Text::copy),
        name: first.and_then(|p| p.get_str("PolicyName")).map(Text::copy),
        type_: "DLP",
        desc: (!rule_names.is_empty()).then(|| Text::Owned(rule_names.join("; "))),
    };

    // What the rules did: the strongest outcome over the rules.
    let outcome = rules
        .iter()
        .filter_map(|rule| rule_outcome(&strings(rule.get("Actions"))))
        .max_by_key(|o| match o.0 {
            2 => 3,
            99 => 2,
            _ => 1,
        });
    if let Some((action_id, action, disposition_id, disposition)) = outcome {
        ev.action_id = Some(action_id);
        ev.action = Some(action);
        ev.disposition_id = Some(disposition_id);
        ev.disposition = Some(disposition);
    }

    // The sensitive information types: the first with its count and confidence.
    let sensitive: Vec<&JsonMap<'_>> = rules
        .iter()
        .filter_map(|rule| {
            rule.get("ConditionsMatched")?
                .as_object()
                .and_then(|c| c.get("SensitiveInformation"))?
                .as_array()
        })
        .flatten()
        .filter_map(Json::as_object)
        .collect();
    let classifier = sensitive.first().and_then(|s| {
        let name = s.get_str("SensitiveInformationTypeName").map(Text::copy);
        let uid = s.get_str("SensitiveType").map(Text::copy);
        ev.count = s.get("Count").and_then(Json::int);
        ev.confidence_score = s.get("Confidence").and_then(Json::int);
        (name.is_some() || uid.is_some()).then_some(Classifier {
            type_: "Sensitive Information Type",
            name,
            uid,
        })
    });

    let uid = ev
        .metadata
        .uid
        .clone()
        .or_else(|| r.str("AlertId"))
        .unwrap_or_default();
    ev.finding_info = Some(FindingInfo {
        uid,
        title: policy.name.clone(),
        desc: None,
        types: None,
    });
    ev.policy = Some(policy.clone());
    // One entry per type: several rules of a policy often match the same types (the highest count kept).
    let mut discovery: Vec<Discovery> = Vec::new();
    for s in &sensitive {
        let Some(type_) = s
            .get_str("SensitiveInformationTypeName")
            .or_else(|| s.get_str("SensitiveType"))
        else {
            continue;
        };
        let count = s.get("Count").and_then(Json::int);
        match discovery.iter_mut().find(|d| d.type_ == type_) {
            Some(d) => d.count = d.count.max(count),
            None => discovery.push(Discovery {
                type_: Text::copy(type_),
                count,
            }),
        }
    }
    ev.data_security = Some(DataSecurity {
        policy,
        classifier_details: classifier,
        discovery_details: (!discovery.is_empty()).then_some(discovery),
    });
    ev.file = sharepoint_file(r);
    ev.resources = exchange_message(r).map(|m| vec![m]);
    responsible_user(r, ev);
}

/// The user whose message or file triggered the match (`From` of `ExchangeMetaData` / `SharePointMetaData`,
/// copied) is the actor; the DLP engine the record names as its user (`UserId` `DlpAgent`, a policy assistant)
/// becomes `metadata.reporter`.
fn responsible_user<'a>(r: &Record<'a>, ev: &mut OcsfEvent<'a>) {
    let from = ["ExchangeMetaData", "SharePointMetaData"]
        .iter()
        .find_map(|field| {
            let meta = r.value(field)?;
            meta.as_object()?.get_str("From").map(Text::copy)
        });
    let Some(from) = from else { return };
    let actor = ev.actor.get_or_insert_with(Actor::default);
    if let Some(engine) = actor.user.take() {
        if engine
            .name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(&from))
        {
            actor.user = Some(engine);
            return;
        }
        ev.metadata.reporter = Some(Reporter {
            name: engine.name,
            uid: engine.uid,
        });
    }
    actor.user = Some(User::named(from));
}

/// The file a SharePoint/OneDrive DLP match is about.
fn sharepoint_file(r: &Record<'_>) -> Option<File<'static>> {
    let meta = r.value("SharePointMetaData")?;
    let meta = meta.as_object()?;
    let name = Text::copy(meta.get_str("FileName")?);
    let owner = meta
        .get_str("FileOwner")
        .or_else(|| meta.get_str("Author"))
        .or_else(|| meta.get_str("From"))
        .map(|owner| User::named(Text::copy(owner)));
    Some(File {
        name,
        type_id: 1,
        type_: const_text!("Regular File"),
        path: None,
        ext: None,
        uri: meta.get_str("FilePathUrl").map(Text::copy),
        parent_folder: meta.get_str("SiteCollectionUrl").map(Text::copy),
        uid: meta
            .get("FileID")
            .or_else(|| meta.get("UniqueID"))
            .and_then(Json::text)
            .map(|id| Text::copy(&id)),
        owner,
    })
}

/// The message an Exchange DLP match is about, as a resource (uid: `MessageID`, name: `Subject`).
fn exchange_message(r: &Record<'_>) -> Option<Resource<'static>> {
    let meta = r.value("ExchangeMetaData")?;
    let meta = meta.as_object()?;
    let uid = Text::copy(
        meta.get_str("MessageID")
            .or_else(|| meta.get_str("UniqueID"))?,
    );
    Some(Resource {
        uid,
        name: meta.get_str("Subject").map(Text::copy),
        type_: Some(Text::Str("Email")),
    })
}

/// The e-mail of an Exchange DLP match, for evidences.
fn exchange_email(meta: &JsonMap<'_>) -> Option<Email<'static>> {
    let email = Email {
        from: meta.get_str("From").filter(|s| is_email(s)).map(Text::copy),
        to: addresses(meta.get("To")),
        cc: addresses(meta.get("CC")),
        subject: meta.get_str("Subject").map(Text::copy),
        message_uid: meta.get_str("MessageID").map(Text::copy),
    };
    (email != Email::default()).then_some(email)
}

/// Detection Finding: severity, alert status, `finding_info` (`AlertId`, `Name`, `Comments`, `Category`), and
/// `evidences`: the parsed `Data`, and the entities the alert names (`AlertEntityId`/`EntityType`, `Data.f3u`,
/// `Data.cip`, `Entities[]`).
pub(super) fn detection<'a>(r: &mut Record<'a>, ev: &mut OcsfEvent<'a>, record_type: Option<i64>) {
    if let Some((id, name)) = r.str("Severity").as_deref().and_then(severity) {
        ev.severity_id = id;
        ev.severity = name;
    }
    let (status_id, status) = match r.str("Status") {
        None => (0, const_text!("Unknown")),
        Some(s) => {
            let is = |v: &str| s.eq_ignore_ascii_case(v);
            if is("Active") || is("New") {
                (1, const_text!("New"))
            } else if is("Investigating") || is("InProgress") || is("In Progress") {
                (2, const_text!("In Progress"))
            } else if is("Dismissed") || is("Suppressed") {
                (3, const_text!("Suppressed"))
            } else if is("Resolved") {
                (4, const_text!("Resolved"))
            } else {
                (99, s)
            }
        }
    };
    ev.status_id = Some(status_id);
    ev.status = Some(status);
    // An alert (`AlertId`, `Name`, `Category`) or an automated investigation (`InvestigationId`,
    // `InvestigationName`, `InvestigationType`).
    let uid = r
        .take_string("AlertId")
        .or_else(|| r.take_string("InvestigationId"))
        .or_else(|| ev.metadata.uid.clone())
        .unwrap_or_default();
    // `types` is a list: the category is copied, so it stays under `unmapped` too.
    let types = r
        .str("Category")
        .or_else(|| r.str("InvestigationType"))
        .map(|c| vec![c]);
    ev.finding_info = Some(FindingInfo {
        uid,
        title: r
            .take_string("Name")
            .or_else(|| r.take_string("InvestigationName")),
        desc: r.take_string("Comments"),
        types,
    });
    ev.is_alert = Some(matches!(record_type, Some(40 | 98)));
    let data_text = r.str("Data");
    let data = data_text
        .as_deref()
        .and_then(|s| serde_json::from_str::<Json<'_>>(s).ok())
        .filter(|v| v.is_object() || v.is_array());
    let mut evidences = Vec::new();
    if let Some(obj) = data.as_ref().and_then(Json::as_object) {
        for key in ["f3u", "fu", "tsd"] {
            if let Some(u) = obj.get_str(key) {
                evidences.push(user_evidence(Text::copy(u)));
            }
        }
        for key in ["cip", "clientip"] {
            if let Some(ip) = obj
                .get_str(key)
                .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            {
                evidences.push(Evidence {
                    src_endpoint: Some(EvidenceEndpoint { ip: Text::copy(ip) }),
                    ..Evidence::default()
                });
            }
        }
    }
    if let (Some(entity), Some(kind)) = (r.str("AlertEntityId"), r.str("EntityType")) {
        let e = entity_evidence(&kind, entity);
        if let Some(e) = e
            && !evidences.contains(&e)
        {
            evidences.push(e);
        }
    }
    if let Some(Json::Array(entities)) = r.value("Entities") {
        for ent in entities.iter().filter_map(Json::as_object) {
            let kind = ent.get_str("Type").or_else(|| ent.get_str("$type"));
            let Some(kind) = kind else { continue };
            let value = [
                "Upn",
                "UserPrincipalName",
                "Address",
                "Name",
                "FileName",
                "MailboxPrimaryAddress",
            ]
            .iter()
            .find_map(|k| ent.get_str(k));
            if kind.eq_ignore_ascii_case("mailMessage") {
                if let Some(m) = exchange_email(ent).or_else(|| {
                    let mut m = JsonMap::default();
                    for (from, to) in [
                        ("Sender", "From"),
                        ("Recipient", "To"),
                        ("InternetMessageId", "MessageID"),
                        ("Subject", "Subject"),
                    ] {
                        if let Some(v) = ent.get(from) {
                            m.insert(to, v.clone());
                        }
                    }
                    exchange_email(&m)
                }) {
                    evidences.push(Evidence {
                        email: Some(m),
                        ..Evidence::default()
                    });
                }
            } else if let Some(e) = value.and_then(|v| entity_evidence(kind, Text::copy(v)))
                && !evidences.contains(&e)
            {
                evidences.push(e);
            }
        }
    }
    // A malicious file found by Defender for Office 365 in SharePoint, OneDrive or Teams (`FileData`, copied).
    if let Some(Json::Object(fd)) = r.value("FileData")
        && let Some(name) = fd.get_str("FileName")
    {
        evidences.push(Evidence {
            file: Some(File {
                name: Text::copy(name),
                type_id: 1,
                type_: const_text!("Regular File"),
                path: None,
                ext: None,
                uri: fd
                    .get_str("FilePath")
                    .map(Text::copy)
                    .or_else(|| r.str("ObjectId")),
                parent_folder: None,
                uid: fd
                    .get("DocumentId")
                    .and_then(Json::text)
                    .map(|id| Text::copy(&id)),
                owner: None,
            }),
            ..Evidence::default()
        });
    }
    if let Some(data) = data {
        evidences.insert(
            0,
            Evidence {
                data: Some(data.to_value()),
                ..Evidence::default()
            },
        );
    }
    ev.evidences = (!evidences.is_empty()).then_some(evidences);
}

fn user_evidence(name: Text<'_>) -> Evidence<'_> {
    Evidence {
        user: Some(User::named(name)),
        ..Evidence::default()
    }
}

/// One entity an alert names (`EntityType`/`Type`: User, Mailbox, Account, Ip, File), as an evidence.
fn entity_evidence<'a>(kind: &str, value: Text<'a>) -> Option<Evidence<'a>> {
    let is = |k: &str| kind.eq_ignore_ascii_case(k);
    if is("User") || is("Account") || is("Mailbox") || is("MailboxOwner") {
        Some(user_evidence(value))
    } else if is("Ip") || is("IpAddress") {
        value.parse::<std::net::IpAddr>().ok().map(|_| Evidence {
            src_endpoint: Some(EvidenceEndpoint { ip: value }),
            ..Evidence::default()
        })
    } else if is("File") {
        Some(Evidence {
            file: Some(File {
                name: value,
                type_id: 1,
                type_: const_text!("Regular File"),
                path: None,
                ext: None,
                uri: None,
                parent_folder: None,
                uid: None,
                owner: None,
            }),
            ..Evidence::default()
        })
    } else {
        None
    }
}
