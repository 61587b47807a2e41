//! The OCSF 1.8.0 event as o365sync emits it: typed, so that serialization needs no intermediate `Value` and the
//! constant parts (names, captions) are `&'static str`.
//!
//! Only the attributes the mapping fills are modelled; each class builder sets only the attributes its class has
//! (the schemas are strict). `None` fields are not serialized.

use std::borrow::Cow;
use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

pub use super::record::Fields;
use super::record::is_email;

/// OCSF schema version of every event.
pub const OCSF_VERSION: &str = "1.8.0";
/// `metadata.product.name`.
pub const PRODUCT_NAME: &str = "Office 365 Management Activity API";
/// `metadata.product.vendor_name` and `cloud.provider`.
pub const VENDOR: &str = "Microsoft";

/// One OCSF event. `'a` is the lifetime of the input bytes: `unmapped` is written back out from them unparsed.
#[derive(Debug, Clone, Serialize)]
pub struct OcsfEvent<'a> {
    pub class_uid: u32,
    pub class_name: &'static str,
    pub category_uid: u32,
    pub category_name: &'static str,
    pub activity_id: u32,
    pub activity_name: Cow<'static, str>,
    pub type_uid: u32,
    pub type_name: TypeName,
    pub severity_id: u32,
    pub severity: &'static str,
    /// Epoch milliseconds of `CreationTime`; 0 when the record has none that parses (see [`OcsfEvent::has_time`]).
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Cow<'static, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<String>,
    pub metadata: Metadata,
    pub cloud: Cloud,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<Entity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    /// `resource` (Group Management): where the group lives (the SharePoint site of a site group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// `subgroup` (Group Management): a group added to or removed from `group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subgroup: Option<Group>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileges: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_resources: Option<Vec<WebResource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Resource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_info: Option<FindingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidences: Option<Vec<Evidence>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_security: Option<DataSecurity>,
    /// Every entity the event names (users, e-mail and IP addresses, URLs, files, resources), built from the
    /// finished event by [`OcsfEvent::observe`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observables: Option<Vec<Observable>>,
    /// `policy` (security_control profile): the DLP policy and rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// `action_id` (security_control profile): what the rule did to the activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Cow<'static, str>>,
    /// `disposition_id` (security_control profile): the outcome of the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Cow<'static, str>>,
    /// `count` (findings): how many times the finding's pattern matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// `confidence_score` (findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence_score: Option<i64>,
    /// The original record, when `include_raw` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<String>,
    /// Every source field that no OCSF attribute holds verbatim, with its original key and its original JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<Fields<'a>>,
}

impl OcsfEvent<'_> {
    /// Whether `time` came from the record (false: the record had no parseable `CreationTime` and `time` is 0).
    pub fn has_time(&self) -> bool {
        self.metadata.time_parsed
    }

    /// The same event, owning everything (no longer borrowing the input).
    pub fn into_owned(self) -> OcsfEvent<'static> {
        OcsfEvent {
            class_uid: self.class_uid,
            class_name: self.class_name,
            category_uid: self.category_uid,
            category_name: self.category_name,
            activity_id: self.activity_id,
            activity_name: self.activity_name,
            type_uid: self.type_uid,
            type_name: self.type_name,
            severity_id: self.severity_id,
            severity: self.severity,
            time: self.time,
            status_id: self.status_id,
            status: self.status,
            status_code: self.status_code,
            status_detail: self.status_detail,
            metadata: self.metadata,
            cloud: self.cloud,
            actor: self.actor,
            user: self.user,
            src_endpoint: self.src_endpoint,
            http_request: self.http_request,
            service: self.service,
            api: self.api,
            entity: self.entity,
            group: self.group,
            resource: self.resource,
            subgroup: self.subgroup,
            privileges: self.privileges,
            file: self.file,
            web_resources: self.web_resources,
            resources: self.resources,
            email: self.email,
            direction_id: self.direction_id,
            direction: self.direction,
            finding_info: self.finding_info,
            is_alert: self.is_alert,
            evidences: self.evidences,
            data_security: self.data_security,
            observables: self.observables,
            policy: self.policy,
            action_id: self.action_id,
            action: self.action,
            disposition_id: self.disposition_id,
            disposition: self.disposition,
            count: self.count,
            confidence_score: self.confidence_score,
            raw_data: self.raw_data,
            unmapped: self.unmapped.map(Fields::into_owned),
        }
    }
}

const USER_NAME: (u32, &str) = (4, "User Name");
const EMAIL_ADDRESS: (u32, &str) = (5, "Email Address");
const USER_UID: (u32, &str) = (31, "User Object: uid");
const IP_ADDRESS: (u32, &str) = (2, "IP Address");
const HOSTNAME: (u32, &str) = (1, "Hostname");
const URL_STRING: (u32, &str) = (6, "URL String");
const FILE_NAME: (u32, &str) = (7, "File Name");
const FILE_PATH: (u32, &str) = (45, "File Path");
const RESOURCE_UID: (u32, &str) = (10, "Resource UID");
const GROUP_NAME: (u32, &str) = (32, "Group Object: name");
const GROUP_UID: (u32, &str) = (33, "Group Object: uid");

/// Collects observables, one per (type, value): the first attribute that names an entity gives its `name`.
struct Observer(Vec<Observable>);

impl Observer {
    fn add(
        &mut self,
        name: &'static str,
        (type_id, type_): (u32, &'static str),
        value: Option<&str>,
    ) {
        let Some(value) = value else { return };
        // "Unknown" is the placeholder of a required attribute the record does not fill, not an entity.
        if value.is_empty() || value == "Unknown" {
            return;
        }
        if self
            .0
            .iter()
            .any(|o| o.type_id == type_id && o.value == value)
        {
            return;
        }
        self.0.push(Observable {
            name,
            type_id,
            type_,
            value: value.to_owned(),
        });
    }

    fn user(&mut self, names: [&'static str; 3], user: Option<&User>) {
        let Some(u) = user else { return };
        self.add(names[0], USER_NAME, u.name.as_deref());
        self.add(names[1], EMAIL_ADDRESS, u.email_addr.as_deref());
        self.add(names[2], USER_UID, u.uid.as_deref());
    }
}

/// Whether a `uri` is a URL (`scheme://...`), as OCSF's URL String observable means it.
fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && !rest.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    })
}

impl OcsfEvent<'_> {
    /// Sets `observables` from the event's typed attributes: every user (name, e-mail address, uid), IP address
    /// and hostname, URL, file name and path, resource uid, group, and e-mail address it holds. Typed per the OCSF
    /// 1.8.0 `observable.type_id` enum; `name` is the attribute's path (array attributes without an index).
    /// Deduplicated by type and value, so the same user named as actor and subject is listed once.
    pub(crate) fn observe(&mut self) {
        let mut o = Observer(Vec::with_capacity(8));
        o.user(
            ["actor.user.name", "actor.user.email_addr", "actor.user.uid"],
            self.actor.as_ref().and_then(|a| a.user.as_ref()),
        );
        o.user(
            ["user.name", "user.email_addr", "user.uid"],
            self.user.as_ref(),
        );
        if let Some(ep) = &self.src_endpoint {
            o.add("src_endpoint.ip", IP_ADDRESS, Some(&ep.ip));
            o.add("src_endpoint.hostname", HOSTNAME, ep.hostname.as_deref());
        }
        if let Some(email) = &self.email {
            o.add("email.from", EMAIL_ADDRESS, email.from.as_deref());
            for to in email.to.iter().flatten() {
                o.add("email.to", EMAIL_ADDRESS, Some(to));
            }
        }
        if let Some(g) = &self.group {
            o.add("group.name", GROUP_NAME, Some(&g.name));
            o.add("group.uid", GROUP_UID, g.uid.as_deref());
        }
        if let Some(g) = &self.subgroup {
            o.add("subgroup.name", GROUP_NAME, Some(&g.name));
        }
        if let Some(f) = &self.file {
            o.add("file.name", FILE_NAME, Some(&f.name));
            o.add("file.path", FILE_PATH, f.path.as_deref());
            o.add(
                "file.uri",
                URL_STRING,
                f.uri.as_deref().filter(|u| is_url(u)),
            );
        }
        for w in self.web_resources.iter().flatten() {
            o.add("web_resources.uid", RESOURCE_UID, w.uid.as_deref());
            o.add(
                "web_resources.url_string",
                URL_STRING,
                w.url_string.as_deref().filter(|u| is_url(u)),
            );
        }
        for res in self.resources.iter().flatten() {
            o.add("resources.uid", RESOURCE_UID, Some(&res.uid));
        }
        if let Some(res) = &self.resource {
            o.add("resource.uid", RESOURCE_UID, Some(&res.uid));
        }
        self.observables = (!o.0.is_empty()).then_some(o.0);
    }
}

/// `type_name`: `"<class name>: <activity name>"`, written out without building the string first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    pub class_name: &'static str,
    pub activity_name: Cow<'static, str>,
}

impl std::fmt::Display for TypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class_name, self.activity_name)
    }
}

impl Serialize for TypeName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    pub version: &'static str,
    pub product: Product,
    pub profiles: Profiles,
    pub log_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_uid: Option<String>,
    /// `metadata.reporter`: the service that reported the event when it is not the actor (the DLP engine that
    /// found a match a user's message or file triggered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Reporter>,
    #[serde(skip)]
    pub time_parsed: bool,
}

/// `metadata.reporter`: the same shape as [`Service`].
pub type Reporter = Service;

/// `metadata.profiles`: the profiles whose attributes the event uses. `cloud` always (its `cloud` attribute is
/// required); `host` when the event has an `actor` on a class that has none of its own (the host profile adds
/// `actor` and `device` to every class; no event carries `device`); `security_control` when the event carries that
/// profile's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Profiles {
    pub host: bool,
    pub security_control: bool,
}

/// A constant JSON fragment, serialized once and then written out verbatim (no escaping on every event).
fn constant(json: &'static str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).expect("constant JSON")
}

impl Serialize for Profiles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        static PROFILES: LazyLock<[Box<RawValue>; 4]> = LazyLock::new(|| {
            [
                constant(r#"["cloud"]"#),
                constant(r#"["cloud","host"]"#),
                constant(r#"["cloud","security_control"]"#),
                constant(r#"["cloud","host","security_control"]"#),
            ]
        });
        let i = usize::from(self.host) | usize::from(self.security_control) << 1;
        PROFILES[i].serialize(s)
    }
}

/// `metadata.product`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub vendor_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<Named>,
}

/// An object with only a `name` (`feature`, `service`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Named {
    pub name: String,
}

/// `cloud` (the cloud profile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cloud {
    pub provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `cloud.account`: the Microsoft 365 tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    pub uid: String,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
}

/// `actor`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Actor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
}

impl Actor {
    /// OCSF requires one of `user`, `app_uid`, `app_name`, `session` (or `process`, `invoked_by`).
    pub(crate) fn is_identified(&self) -> bool {
        self.user.is_some()
            || self.app_uid.is_some()
            || self.app_name.is_some()
            || self.session.is_some()
    }
}

/// `actor.session`: the sign-in session the action was done in.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Session {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_alt: Option<String>,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
}

impl Session {
    pub(crate) fn is_empty(&self) -> bool {
        self.uid.is_none() && self.uid_alt.is_none() && self.created_time.is_none()
    }
}

/// One of `observables`: an entity the event names, with the path of the attribute that holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observable {
    pub name: &'static str,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub value: String,
}

/// `user` (actor, subject or target).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u32>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<&'static str>,
    /// Where the user's mail is forwarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_addr: Option<String>,
}

impl User {
    /// A user known by a name alone: the name, and the same string as `email_addr` when it is an address.
    pub(crate) fn named(name: impl Into<String>) -> User {
        let name = name.into();
        User {
            email_addr: is_email(&name).then(|| name.clone()),
            name: Some(name),
            ..User::default()
        }
    }

    /// OCSF requires `name`, `uid` or `account`.
    pub(crate) fn is_identified(&self) -> bool {
        self.name.is_some() || self.uid.is_some()
    }
}

/// `src_endpoint`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Endpoint {
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// `http_request`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpRequest {
    pub user_agent: String,
}

/// `service` (Authentication: the service authenticated to; its `uid` is the application signed into, `ObjectId` of
/// a sign-in) and `metadata.reporter`: an optional name and uid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `api`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Api {
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Named>,
}

/// `entity` (Entity Management).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// What the operation set on the entity (an inbox rule's actions, a mailbox's forwarding), copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The user the entity belongs to or is granted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

/// `group` (Group Management).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `file`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct File {
    pub name: String,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub type_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_folder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The file's author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<User>,
}

/// One of `web_resources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WebResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_string: Option<String>,
    /// What the operation did to the resource (a rule's actions, a permission's rights), copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// One of `resources` (API Activity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// `email`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Email {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cc: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_uid: Option<String>,
}

/// `finding_info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingInfo {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    /// The alert's category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<String>>,
}

/// One of `evidences`: the parsed JSON an alert carries as a string in `Data`, or one entity it names.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<EvidenceEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
}

/// An evidence's endpoint: an IP address an alert names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceEndpoint {
    pub ip: String,
}

/// `data_security`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSecurity {
    pub policy: Policy,
    /// The sensitive information type that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_details: Option<Classifier>,
    /// Every sensitive information type the rules matched, with its count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_details: Option<Vec<Discovery>>,
}

/// `data_security.discovery_details[]`: one kind of sensitive data found, and how often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// `data_security.classifier_details`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classifier {
    #[serde(rename = "type")]
    pub type_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// `data_security.policy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// The rule(s) that matched, by name and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
}
