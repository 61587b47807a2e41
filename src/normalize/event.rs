//! The OCSF 1.8.0 event as o365sync emits it: typed, so that serialization needs no intermediate `Value`. Its
//! strings are [`Text`]s: borrowed from the record (and written back as the record's own JSON text when that needs
//! no escape) or owned; its constant strings (names, captions) are JSON text serialized once (`const_text!`).
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
    pub class_name: Text<'static>,
    pub category_uid: u32,
    pub category_name: Text<'static>,
    pub activity_id: u32,
    pub activity_name: Text<'a>,
    pub type_uid: u32,
    pub type_name: TypeName<'a>,
    pub severity_id: u32,
    pub severity: Text<'static>,
    /// Epoch milliseconds of `CreationTime`; 0 when the record has none that parses (see [`OcsfEvent::has_time`]).
    pub time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_detail: Option<Text<'a>>,
    pub metadata: Metadata<'a>,
    pub cloud: Cloud<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<Endpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<HttpRequest<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Service<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<Api<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<Entity<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Group<'a>>,
    /// `resource` (Group Management): where the group lives (the SharePoint site of a site group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource<'a>>,
    /// `subgroup` (Group Management): a group added to or removed from `group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subgroup: Option<Group<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileges: Option<Vec<Text<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_resources: Option<Vec<WebResource<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Resource<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_info: Option<FindingInfo<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_alert: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidences: Option<Vec<Evidence<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_security: Option<DataSecurity<'a>>,
    /// Every entity the event names (users, e-mail and IP addresses, URLs, files, resources), built from the
    /// finished event by [`OcsfEvent::observe`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observables: Option<Vec<Observable<'a>>>,
    /// `policy` (security_control profile): the DLP policy and rule that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy<'a>>,
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
        self.detach()
    }
}

/// The JSON text of a constant string, when it needs no escape (so that its content is the string itself, as
/// [`Text::Json`] requires).
pub(crate) fn constant_json(s: &str) -> Option<Box<RawValue>> {
    let raw = serde_json::value::to_raw_value(s).ok()?;
    (raw.get().len() == s.len() + 2).then_some(raw)
}

/// A constant string as [`Text::Json`]: its JSON text is built once per use site, then every event writes it with
/// one copy instead of an escape scan. (A constant that needs escapes stays [`Text::Str`].)
macro_rules! const_text {
    ($s:expr) => {{
        static JSON: std::sync::LazyLock<Option<Box<serde_json::value::RawValue>>> =
            std::sync::LazyLock::new(|| $crate::normalize::event::constant_json($s));
        match &*JSON {
            Some(raw) => $crate::normalize::event::Text::Json(raw),
            None => $crate::normalize::event::Text::Str($s),
        }
    }};
}
pub(crate) use const_text;

/// A string of the event.
///
/// Most strings of an event are copied unchanged from the record, and a JSON string without a backslash (nearly all
/// of them) is its own serialization: the parser rejects raw quotes and control characters inside strings, and
/// serde_json escapes nothing else. Such a string is kept as the record's JSON text, quotes included
/// ([`Text::Json`]): nothing is allocated for it, and it is written back with one copy instead of serde_json's
/// byte-by-byte escape scan.
#[derive(Clone)]
pub enum Text<'a> {
    /// The JSON text of a string of the input, quotes included, with no backslash in it.
    Json(&'a RawValue),
    /// A string borrowed from the input (a trimmed value, a number as written) or a constant.
    Str(&'a str),
    /// A string the mapping built or unescaped.
    Owned(String),
}

impl<'a> Text<'a> {
    /// The content of a JSON string value (the raw text, quotes included); `None` for other values. Borrowed as
    /// [`Text::Json`] unless it has escapes.
    pub(crate) fn from_json(raw: &'a RawValue) -> Option<Text<'a>> {
        let s = raw.get();
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        if has_backslash(inner.as_bytes()) {
            serde_json::from_str(s).ok().map(Text::Owned)
        } else {
            Some(Text::Json(raw))
        }
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        match self {
            Text::Json(raw) => json_content(raw),
            Text::Str(s) => s,
            Text::Owned(s) => s,
        }
    }

    /// The string without leading and trailing blanks; `None` when blank. Borrows what `self` borrows.
    pub(crate) fn trimmed(self) -> Option<Text<'a>> {
        // Nearly every value starts and ends with a visible ASCII character: nothing to trim, nothing to scan.
        let bytes = self.as_str().as_bytes();
        if let (Some(first), Some(last)) = (bytes.first(), bytes.last())
            && first.is_ascii_graphic()
            && last.is_ascii_graphic()
        {
            return Some(self);
        }
        let t = self.slice(str::trim);
        (!t.is_empty()).then_some(t)
    }

    /// A part of the string (`f` returns a slice of its argument), borrowing what `self` borrows; the whole string
    /// stays as it is.
    pub(crate) fn slice(&self, f: impl for<'s> FnOnce(&'s str) -> &'s str) -> Text<'a> {
        self.part(|s| Some(f(s))).unwrap_or_default()
    }

    /// [`Text::slice`] for a part that may not exist.
    pub(crate) fn part(
        &self,
        f: impl for<'s> FnOnce(&'s str) -> Option<&'s str>,
    ) -> Option<Text<'a>> {
        Some(match self {
            Text::Json(raw) => {
                let whole = json_content(raw);
                let part = f(whole)?;
                if part.len() == whole.len() {
                    Text::Json(raw)
                } else {
                    Text::Str(part)
                }
            }
            Text::Str(s) => Text::Str(f(s)?),
            Text::Owned(s) => Text::Owned(f(s)?.to_owned()),
        })
    }

    /// A copy of `s` (a string of a parsed nested value, which the event cannot borrow).
    pub(crate) fn copy(s: &str) -> Text<'static> {
        Text::Owned(s.to_owned())
    }

    /// The same string, owned.
    pub fn into_owned(self) -> Text<'static> {
        match self {
            Text::Owned(s) => Text::Owned(s),
            other => Text::Owned(other.as_str().to_owned()),
        }
    }
}

/// Whether a string's JSON text has an escape: eight bytes at a time (most strings are short, where a call to
/// `memchr` costs more than the scan).
fn has_backslash(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const BACKSLASHES: u64 = 0x5C5C_5C5C_5C5C_5C5C;
    // A zero byte of `word ^ BACKSLASHES` is a backslash (the classic zero-byte test: exact as a yes/no answer).
    let has = |word: u64| {
        let x = word ^ BACKSLASHES;
        x.wrapping_sub(ONES) & !x & HIGH != 0
    };
    let (words, rest) = s.as_chunks::<8>();
    // The last bytes as one word too, padded with zero bytes (never a backslash).
    words.iter().any(|w| has(u64::from_le_bytes(*w)))
        || has(rest.iter().fold(0, |w, &b| (w << 8) | u64::from(b)))
}

/// The content of the JSON text of a string without escapes: the text without its quotes.
fn json_content(raw: &RawValue) -> &str {
    let s = raw.get();
    &s[1..s.len() - 1]
}

impl Default for Text<'_> {
    fn default() -> Self {
        Text::Str("")
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text<'_> {}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text::Str(s)
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text::Owned(s)
    }
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text::Str(s),
            Cow::Owned(s) => Text::Owned(s),
        }
    }
}

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // serde_json writes a `RawValue` as it is.
            Text::Json(raw) => raw.serialize(s),
            Text::Str(t) => s.serialize_str(t),
            Text::Owned(t) => s.serialize_str(t),
        }
    }
}

/// Detaching a part of an event from the input it borrows ([`OcsfEvent::into_owned`]).
trait Detach {
    type Static;
    fn detach(self) -> Self::Static;
}

impl Detach for Text<'_> {
    type Static = Text<'static>;
    fn detach(self) -> Text<'static> {
        self.into_owned()
    }
}

impl Detach for Fields<'_> {
    type Static = Fields<'static>;
    fn detach(self) -> Fields<'static> {
        self.into_owned()
    }
}

impl<T: Detach> Detach for Option<T> {
    type Static = Option<T::Static>;
    fn detach(self) -> Self::Static {
        self.map(T::detach)
    }
}

impl<T: Detach> Detach for Vec<T> {
    type Static = Vec<T::Static>;
    fn detach(self) -> Self::Static {
        self.into_iter().map(T::detach).collect()
    }
}

/// Types that borrow nothing.
macro_rules! detached {
    ($($t:ty),*) => {$(
        impl Detach for $t {
            type Static = $t;
            fn detach(self) -> $t {
                self
            }
        }
    )*};
}

detached!(
    u16,
    u32,
    i64,
    bool,
    &'static str,
    &'static RawValue,
    String,
    Value,
    Profiles,
    Cow<'static, str>
);

/// Event structs, field by field (a field left out does not compile).
macro_rules! detach_structs {
    ($($name:ident { $($field:ident),* $(,)? })*) => {$(
        impl Detach for $name<'_> {
            type Static = $name<'static>;
            fn detach(self) -> $name<'static> {
                $name { $($field: self.$field.detach()),* }
            }
        }
    )*};
}

detach_structs! {
    OcsfEvent {
        class_uid, class_name, category_uid, category_name, activity_id, activity_name, type_uid, type_name,
        severity_id, severity, time, status_id, status, status_code, status_detail, metadata, cloud, actor, user,
        src_endpoint, http_request, service, api, entity, group, resource, subgroup, privileges, file,
        web_resources, resources, email, direction_id, direction, finding_info, is_alert, evidences, data_security,
        observables, policy, action_id, action, disposition_id, disposition, count, confidence_score, raw_data,
        unmapped,
    }
    TypeName { class_name, activity_name, json }
    Metadata {
        version, product, profiles, log_name, log_provider, uid, original_time, tenant_uid, event_code,
        correlation_uid, reporter, time_parsed,
    }
    Product { name, vendor_name, feature }
    Named { name }
    Cloud { provider, account }
    Account { uid, type_id, type_ }
    Actor { user, app_uid, app_name, session }
    Session { uid, uid_alt, created_time }
    Observable { name, type_id, type_, value }
    User { name, uid, email_addr, type_id, type_, forward_addr }
    Endpoint { ip, port, hostname }
    HttpRequest { user_agent }
    Service { name, uid }
    Api { operation, service }
    Entity { name, uid, type_, data, user }
    Group { name, uid }
    File { name, type_id, type_, path, ext, uri, parent_folder, uid, owner }
    WebResource { uid, name, type_, url_string, data }
    Resource { uid, name, type_ }
    Email { from, to, cc, subject, message_uid }
    FindingInfo { uid, title, desc, types }
    Evidence { data, user, src_endpoint, file, email }
    EvidenceEndpoint { ip }
    DataSecurity { policy, classifier_details, discovery_details }
    Discovery { type_, count }
    Classifier { type_, name, uid }
    Policy { uid, name, type_, desc }
}

/// The observable types the events use: `type_id` and caption.
fn user_name() -> (u32, Text<'static>) {
    (4, const_text!("User Name"))
}
fn email_address() -> (u32, Text<'static>) {
    (5, const_text!("Email Address"))
}
fn user_uid() -> (u32, Text<'static>) {
    (31, const_text!("User Object: uid"))
}
fn ip_address() -> (u32, Text<'static>) {
    (2, const_text!("IP Address"))
}
fn hostname() -> (u32, Text<'static>) {
    (1, const_text!("Hostname"))
}
fn url_string() -> (u32, Text<'static>) {
    (6, const_text!("URL String"))
}
fn file_name() -> (u32, Text<'static>) {
    (7, const_text!("File Name"))
}
fn file_path() -> (u32, Text<'static>) {
    (45, const_text!("File Path"))
}
fn resource_uid() -> (u32, Text<'static>) {
    (10, const_text!("Resource UID"))
}
fn group_name() -> (u32, Text<'static>) {
    (32, const_text!("Group Object: name"))
}
fn group_uid() -> (u32, Text<'static>) {
    (33, const_text!("Group Object: uid"))
}

/// Collects observables, one per (type, value): the first attribute that names an entity gives its `name`.
struct Observer<'a>(Vec<Observable<'a>>);

impl<'a> Observer<'a> {
    fn add(
        &mut self,
        name: Text<'static>,
        (type_id, type_): (u32, Text<'static>),
        value: Option<&Text<'a>>,
    ) {
        let Some(value) = value else { return };
        // "Unknown" is the placeholder of a required attribute the record does not fill, not an entity.
        if value.is_empty() || value == "Unknown" {
            return;
        }
        if self
            .0
            .iter()
            .any(|o| o.type_id == type_id && o.value == *value)
        {
            return;
        }
        self.0.push(Observable {
            name,
            type_id,
            type_,
            value: value.clone(),
        });
    }

    fn user(&mut self, [name, email_addr, uid]: [Text<'static>; 3], user: Option<&User<'a>>) {
        let Some(u) = user else { return };
        self.add(name, user_name(), u.name.as_ref());
        self.add(email_addr, email_address(), u.email_addr.as_ref());
        self.add(uid, user_uid(), u.uid.as_ref());
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

impl<'a> OcsfEvent<'a> {
    /// Sets `observables` from the event's typed attributes: every user (name, e-mail address, uid), IP address
    /// and hostname, URL, file name and path, resource uid, group, and e-mail address it holds. Typed per the OCSF
    /// 1.8.0 `observable.type_id` enum; `name` is the attribute's path (array attributes without an index).
    /// Deduplicated by type and value, so the same user named as actor and subject is listed once.
    pub(crate) fn observe(&mut self) {
        let mut o = Observer(Vec::with_capacity(8));
        o.user(
            [
                const_text!("actor.user.name"),
                const_text!("actor.user.email_addr"),
                const_text!("actor.user.uid"),
            ],
            self.actor.as_ref().and_then(|a| a.user.as_ref()),
        );
        o.user(
            [
                const_text!("user.name"),
                const_text!("user.email_addr"),
                const_text!("user.uid"),
            ],
            self.user.as_ref(),
        );
        if let Some(ep) = &self.src_endpoint {
            o.add(const_text!("src_endpoint.ip"), ip_address(), Some(&ep.ip));
            o.add(
                const_text!("src_endpoint.hostname"),
                hostname(),
                ep.hostname.as_ref(),
            );
        }
        if let Some(email) = &self.email {
            o.add(
                const_text!("email.from"),
                email_address(),
                email.from.as_ref(),
            );
            for to in email.to.iter().flatten() {
                o.add(const_text!("email.to"), email_address(), Some(to));
            }
        }
        if let Some(g) = &self.group {
            o.add(const_text!("group.name"), group_name(), Some(&g.name));
            o.add(const_text!("group.uid"), group_uid(), g.uid.as_ref());
        }
        if let Some(g) = &self.subgroup {
            o.add(const_text!("subgroup.name"), group_name(), Some(&g.name));
        }
        if let Some(f) = &self.file {
            o.add(const_text!("file.name"), file_name(), Some(&f.name));
            o.add(const_text!("file.path"), file_path(), f.path.as_ref());
            o.add(
                const_text!("file.uri"),
                url_string(),
                f.uri.as_ref().filter(|u| is_url(u)),
            );
        }
        for w in self.web_resources.iter().flatten() {
            o.add(
                const_text!("web_resources.uid"),
                resource_uid(),
                w.uid.as_ref(),
            );
            o.add(
                const_text!("web_resources.url_string"),
                url_string(),
                w.url_string.as_ref().filter(|u| is_url(u)),
            );
        }
        for res in self.resources.iter().flatten() {
            o.add(const_text!("resources.uid"), resource_uid(), Some(&res.uid));
        }
        if let Some(res) = &self.resource {
            o.add(const_text!("resource.uid"), resource_uid(), Some(&res.uid));
        }
        self.observables = (!o.0.is_empty()).then_some(o.0);
    }
}

/// `type_name`: `"<class name>: <activity name>"`, written out without building the string first.
#[derive(Debug, Clone)]
pub struct TypeName<'a> {
    pub class_name: &'static str,
    pub activity_name: Text<'a>,
    /// The whole text as JSON, when the activity is one of the class's (serialized once per class and activity).
    pub(crate) json: Option<&'static RawValue>,
}

impl std::fmt::Display for TypeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class_name, self.activity_name)
    }
}

impl Serialize for TypeName<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.json {
            Some(json) => json.serialize(s),
            None => s.collect_str(self),
        }
    }
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata<'a> {
    pub version: Text<'static>,
    pub product: Product<'a>,
    pub profiles: Profiles,
    pub log_name: Text<'static>,
    /// `metadata.log_provider`: the service the record was read from, when it is not the Management Activity API
    /// (Purview Audit Search, for history beyond its 7 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_provider: Option<Text<'static>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_time: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_code: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_uid: Option<Text<'a>>,
    /// `metadata.reporter`: the service that reported the event when it is not the actor (the DLP engine that
    /// found a match a user's message or file triggered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reporter: Option<Reporter<'a>>,
    #[serde(skip)]
    pub time_parsed: bool,
}

/// `metadata.reporter`: the same shape as [`Service`].
pub type Reporter<'a> = Service<'a>;

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
pub struct Product<'a> {
    pub name: Text<'static>,
    pub vendor_name: Text<'static>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<Named<'a>>,
}

/// An object with only a `name` (`feature`, `service`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Named<'a> {
    pub name: Text<'a>,
}

/// `cloud` (the cloud profile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cloud<'a> {
    pub provider: Text<'static>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<Account<'a>>,
}

/// `cloud.account`: the Microsoft 365 tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account<'a> {
    pub uid: Text<'a>,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub type_: Text<'static>,
}

/// `actor`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Actor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_name: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session<'a>>,
}

impl Actor<'_> {
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
pub struct Session<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_alt: Option<Text<'a>>,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
}

impl Session<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.uid.is_none() && self.uid_alt.is_none() && self.created_time.is_none()
    }
}

/// One of `observables`: an entity the event names, with the path of the attribute that holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observable<'a> {
    pub name: Text<'static>,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub type_: Text<'static>,
    pub value: Text<'a>,
}

/// `user` (actor, subject or target).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct User<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_addr: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u32>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Text<'static>>,
    /// Where the user's mail is forwarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_addr: Option<Text<'a>>,
}

impl<'a> User<'a> {
    /// A user known by a name alone: the name, and the same string as `email_addr` when it is an address.
    pub(crate) fn named(name: impl Into<Text<'a>>) -> User<'a> {
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
pub struct Endpoint<'a> {
    pub ip: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<Text<'a>>,
}

/// `http_request`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpRequest<'a> {
    pub user_agent: Text<'a>,
}

/// `service` (Authentication: the service authenticated to; its `uid` is the application signed into, `ObjectId` of
/// a sign-in) and `metadata.reporter`: an optional name and uid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
}

/// `api`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Api<'a> {
    pub operation: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Named<'a>>,
}

/// `entity` (Entity Management).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity<'a> {
    pub name: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Text<'a>>,
    /// What the operation set on the entity (an inbox rule's actions, a mailbox's forwarding), copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The user the entity belongs to or is granted to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
}

/// `group` (Group Management).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group<'a> {
    pub name: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
}

/// `file`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct File<'a> {
    pub name: Text<'a>,
    pub type_id: u32,
    #[serde(rename = "type")]
    pub type_: Text<'static>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ext: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_folder: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    /// The file's author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<User<'a>>,
}

/// One of `web_resources`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct WebResource<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_string: Option<Text<'a>>,
    /// What the operation did to the resource (a rule's actions, a permission's rights), copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// One of `resources` (API Activity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource<'a> {
    pub uid: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Text<'a>>,
}

/// `email`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Email<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<Text<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cc: Option<Vec<Text<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_uid: Option<Text<'a>>,
}

/// `finding_info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingInfo<'a> {
    pub uid: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<Text<'a>>,
    /// The alert's category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<Vec<Text<'a>>>,
}

/// One of `evidences`: the parsed JSON an alert carries as a string in `Data`, or one entity it names.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Evidence<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<EvidenceEndpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Email<'a>>,
}

/// An evidence's endpoint: an IP address an alert names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvidenceEndpoint<'a> {
    pub ip: Text<'a>,
}

/// `data_security`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSecurity<'a> {
    pub policy: Policy<'a>,
    /// The sensitive information type that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier_details: Option<Classifier<'a>>,
    /// Every sensitive information type the rules matched, with its count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_details: Option<Vec<Discovery<'a>>>,
}

/// `data_security.discovery_details[]`: one kind of sensitive data found, and how often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery<'a> {
    #[serde(rename = "type")]
    pub type_: Text<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

/// `data_security.classifier_details`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classifier<'a> {
    #[serde(rename = "type")]
    pub type_: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
}

/// `data_security.policy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// The rule(s) that matched, by name and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<Text<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslashes_are_found_at_every_position() {
        for len in 0..40 {
            let plain = "a\u{e9}]".as_bytes().repeat(len)[..len].to_vec();
            assert!(!has_backslash(&plain), "{len}");
            for at in 0..len {
                let mut b = plain.clone();
                b[at] = b'\\';
                assert!(has_backslash(&b), "{len} {at}");
            }
        }
        // Bytes that differ from a backslash by one bit are not one.
        assert!(!has_backslash(b"\x5d\x5e\x5f\x4c\x7c\xdc\x5d\x5d\x1c"));
    }

    #[test]
    fn texts_borrow_unescaped_strings_and_unescape_the_others() {
        let raw: &RawValue = serde_json::from_str(r#""  a b ""#).expect("JSON");
        let t = Text::from_json(raw).expect("a string");
        assert!(matches!(t, Text::Json(_)));
        assert_eq!(t.as_str(), "  a b ");
        assert!(matches!(t.clone().trimmed(), Some(Text::Str("a b"))));
        let raw: &RawValue = serde_json::from_str(r#""a\"b""#).expect("JSON");
        assert_eq!(Text::from_json(raw).expect("a string"), "a\"b");
        let raw: &RawValue = serde_json::from_str("3").expect("JSON");
        assert!(Text::from_json(raw).is_none());
        assert_eq!(
            serde_json::to_string(&Text::Str("q\"")).expect("JSON"),
            r#""q\"""#
        );
    }
}
