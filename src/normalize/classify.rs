//! The class choice: which OCSF class and activity a record becomes.
//!
//! The choice is made from a few facts read up front (RecordType, Operation, Workload, whether a usable client IP,
//! an acting user and an object exist), so that a class is only chosen when the record can fill the attributes that
//! class requires. Otherwise the record falls back to a class with fewer requirements, and at the end to Base Event.
//!
//! Which class each RecordType and operation family gets is not written here but in the tables of
//! [`super::record_types`] (every `AuditLogRecordType` value, and the operations that override their family); this
//! module applies them. `docs/ocsf-mapping.md` is generated from the same tables.

use std::sync::LazyLock;

use serde_json::value::RawValue;

use super::event::{Text, constant_json};

use super::record_types::{Need, Rule, override_for, record_type};
use crate::content_type::ContentType;

/// The OCSF classes o365sync emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// 0: a record that could not be classified; everything stays under `unmapped`.
    BaseEvent,
    /// 2004.
    DetectionFinding,
    /// 2006.
    DataSecurityFinding,
    /// 3001.
    AccountChange,
    /// 3002.
    Authentication,
    /// 3004.
    EntityManagement,
    /// 3005.
    UserAccessManagement,
    /// 3006.
    GroupManagement,
    /// 4009.
    EmailActivity,
    /// 6001.
    WebResourcesActivity,
    /// 6003.
    ApiActivity,
    /// 6006.
    FileHostingActivity,
}

impl Class {
    /// All classes.
    pub const ALL: [Class; 12] = [
        Class::BaseEvent,
        Class::DetectionFinding,
        Class::DataSecurityFinding,
        Class::AccountChange,
        Class::Authentication,
        Class::EntityManagement,
        Class::UserAccessManagement,
        Class::GroupManagement,
        Class::EmailActivity,
        Class::WebResourcesActivity,
        Class::ApiActivity,
        Class::FileHostingActivity,
    ];

    /// `class_uid`.
    pub const fn uid(self) -> u32 {
        match self {
            Class::BaseEvent => 0,
            Class::DetectionFinding => 2004,
            Class::DataSecurityFinding => 2006,
            Class::AccountChange => 3001,
            Class::Authentication => 3002,
            Class::EntityManagement => 3004,
            Class::UserAccessManagement => 3005,
            Class::GroupManagement => 3006,
            Class::EmailActivity => 4009,
            Class::WebResourcesActivity => 6001,
            Class::ApiActivity => 6003,
            Class::FileHostingActivity => 6006,
        }
    }

    /// The class for a `class_uid`.
    pub fn from_uid(uid: u32) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.uid() == uid)
    }

    /// `class_name`.
    pub const fn name(self) -> &'static str {
        match self {
            Class::BaseEvent => "Base Event",
            Class::DetectionFinding => "Detection Finding",
            Class::DataSecurityFinding => "Data Security Finding",
            Class::AccountChange => "Account Change",
            Class::Authentication => "Authentication",
            Class::EntityManagement => "Entity Management",
            Class::UserAccessManagement => "User Access Management",
            Class::GroupManagement => "Group Management",
            Class::EmailActivity => "Email Activity",
            Class::WebResourcesActivity => "Web Resources Activity",
            Class::ApiActivity => "API Activity",
            Class::FileHostingActivity => "File Hosting Activity",
        }
    }

    /// `category_name` (`category_uid` is `uid / 1000`).
    pub const fn category_name(self) -> &'static str {
        match self.uid() / 1000 {
            2 => "Findings",
            3 => "Identity & Access Management",
            4 => "Network Activity",
            6 => "Application Activity",
            _ => "Uncategorized",
        }
    }

    /// The file stem of the class's schema under `fixtures/ocsf/1.8.0-profiles/` (`<stem>.schema.json`).
    pub const fn schema_stem(self) -> &'static str {
        match self {
            Class::BaseEvent => "base_event",
            Class::DetectionFinding => "detection_finding",
            Class::DataSecurityFinding => "data_security_finding",
            Class::AccountChange => "account_change",
            Class::Authentication => "authentication",
            Class::EntityManagement => "entity_management",
            Class::UserAccessManagement => "user_access",
            Class::GroupManagement => "group_management",
            Class::EmailActivity => "email_activity",
            Class::WebResourcesActivity => "web_resources_activity",
            Class::ApiActivity => "api_activity",
            Class::FileHostingActivity => "file_hosting",
        }
    }

    /// The OCSF caption of an activity of this class; `None` for ids the class does not define (and for 99, whose
    /// name comes from the record).
    pub fn activity_caption(self, id: u32) -> Option<&'static str> {
        if id == 0 {
            return Some("Unknown");
        }
        let names: &[&str] = match self {
            Class::BaseEvent => &[],
            Class::DetectionFinding => &["Create", "Update", "Close"],
            Class::DataSecurityFinding => &["Create", "Update", "Close", "Suppressed"],
            Class::AccountChange => &[
                "Create",
                "Enable",
                "Password Change",
                "Password Reset",
                "Disable",
                "Delete",
                "Attach Policy",
                "Detach Policy",
                "Lock",
                "MFA Factor Enable",
                "MFA Factor Disable",
                "Unlock",
            ],
            Class::Authentication => &[
                "Logon",
                "Logoff",
                "Authentication Ticket",
                "Service Ticket Request",
                "Service Ticket Renew",
                "Preauth",
                "Account Switch",
            ],
            Class::EntityManagement => &[
                "Create",
                "Read",
                "Update",
                "Delete",
                "Move",
                "Enroll",
                "Unenroll",
                "Enable",
                "Disable",
                "Activate",
                "Deactivate",
                "Suspend",
                "Resume",
            ],
            Class::UserAccessManagement => &["Assign Privileges", "Revoke Privileges"],
            Class::GroupManagement => &[
                "Assign Privileges",
                "Revoke Privileges",
                "Add User",
                "Remove User",
                "Delete",
                "Create",
                "Add Subgroup",
                "Remove Subgroup",
            ],
            Class::EmailActivity => &["Send", "Receive", "Scan", "Trace", "MTA Relay"],
            Class::WebResourcesActivity => &[
                "Create", "Read", "Update", "Delete", "Search", "Import", "Export", "Share",
            ],
            Class::ApiActivity => &["Create", "Read", "Update", "Delete"],
            Class::FileHostingActivity => &[
                "Upload",
                "Download",
                "Update",
                "Delete",
                "Rename",
                "Copy",
                "Move",
                "Restore",
                "Preview",
                "Lock",
                "Unlock",
                "Share",
                "Unshare",
                "Open",
                "Sync",
                "Unsync",
                "Access Check",
            ],
        };
        names
            .get(usize::try_from(id).ok()?.checked_sub(1)?)
            .copied()
    }

    /// `class_name` as written into events.
    pub(crate) fn name_text(self) -> Text<'static> {
        constant(&class_constants(self).name, self.name())
    }

    /// `category_name` as written into events.
    pub(crate) fn category_text(self) -> Text<'static> {
        constant(&class_constants(self).category, self.category_name())
    }

    /// Whether the class has an `actor` of its own (every class has one with the host profile).
    pub const fn has_actor(self) -> bool {
        !matches!(
            self,
            Class::BaseEvent
                | Class::DetectionFinding
                | Class::EmailActivity
                | Class::WebResourcesActivity
        )
    }

    /// Whether the class has `src_endpoint`.
    pub(crate) const fn has_src_endpoint(self) -> bool {
        !matches!(self, Class::BaseEvent | Class::DetectionFinding)
    }

    /// Whether the class has `http_request`.
    pub(crate) const fn has_http_request(self) -> bool {
        !matches!(
            self,
            Class::BaseEvent
                | Class::DetectionFinding
                | Class::DataSecurityFinding
                | Class::EmailActivity
        )
    }
}

/// The constant strings of a class as JSON text, serialized once: every event writes them.
struct ClassConstants {
    name: Option<Box<RawValue>>,
    category: Option<Box<RawValue>>,
    /// By activity id, for the activities the class defines.
    activities: Vec<ActivityConstants>,
}

/// An activity's caption and `type_name` as JSON text.
struct ActivityConstants {
    caption: Option<Box<RawValue>>,
    type_name: Option<Box<RawValue>>,
}

fn class_constants(class: Class) -> &'static ClassConstants {
    static CONSTANTS: LazyLock<Vec<ClassConstants>> = LazyLock::new(|| {
        Class::ALL
            .iter()
            .map(|&class| ClassConstants {
                name: constant_json(class.name()),
                category: constant_json(class.category_name()),
                activities: (0..)
                    .map_while(|id| class.activity_caption(id))
                    .map(|caption| ActivityConstants {
                        caption: constant_json(caption),
                        type_name: constant_json(&format!("{}: {caption}", class.name())),
                    })
                    .collect(),
            })
            .collect()
    });
    // `ALL` lists the classes in declaration order.
    &CONSTANTS[class as usize]
}

/// A constant as [`Text::Json`] when its JSON text was built, else as it is.
fn constant(json: &'static Option<Box<RawValue>>, s: &'static str) -> Text<'static> {
    match json {
        Some(raw) => Text::Json(raw),
        None => Text::Str(s),
    }
}

/// What the class choice looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub content_type: ContentType,
    pub record_type: Option<i64>,
    pub operation: Option<&'a str>,
    /// A usable client IP exists.
    pub has_ip: bool,
    /// `UserId` or `UserKey` exists.
    pub has_user: bool,
    /// An application id exists (an actor without a user).
    pub has_app: bool,
    /// `ObjectId` exists.
    pub has_object: bool,
    /// A cmdlet names the user it grants to or revokes from (`User`, `Member`, `Trustee` parameter, or `ObjectId`).
    pub has_target: bool,
    /// Teams' `TeamName` exists.
    pub has_team: bool,
    /// A SharePoint sharing or group operation names the user or group it grants to (`TargetUserOrGroupName`).
    pub has_grantee: bool,
    /// Some alert or record id exists (a finding's uid).
    pub has_uid: bool,
}

/// The chosen class and activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    pub class: Class,
    pub activity_id: u32,
}

impl Choice {
    const fn new(class: Class, activity_id: u32) -> Self {
        Choice { class, activity_id }
    }

    /// `activity_name`: the OCSF caption, or for 99 (Other) the record's Operation.
    pub(crate) fn activity_name<'a>(&self, operation: Option<Text<'a>>) -> Text<'a> {
        match self.class.activity_caption(self.activity_id) {
            Some(c) => match self.constants().and_then(|a| a.caption.as_deref()) {
                Some(raw) => Text::Json(raw),
                None => Text::Str(c),
            },
            None => operation.unwrap_or(Text::Str("Other")),
        }
    }

    /// `type_name` as JSON text, when the activity is one the class defines.
    pub(crate) fn type_name_json(&self) -> Option<&'static RawValue> {
        self.class.activity_caption(self.activity_id)?;
        self.constants()?.type_name.as_deref()
    }

    fn constants(&self) -> Option<&'static ActivityConstants> {
        class_constants(self.class)
            .activities
            .get(usize::try_from(self.activity_id).ok()?)
    }
}

/// ASCII-case-insensitive substring test, without allocating.
pub(crate) fn contains_ci(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    // The verb tables test many needles against one operation name: compare the rest only where the first byte
    // matches.
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    h.len() >= n.len()
        && (0..=h.len() - n.len()).any(|i| {
            (h[i] == lower || h[i] == upper) && h[i + 1..i + n.len()].eq_ignore_ascii_case(rest)
        })
}

/// [`contains_ci`] of one operation name, for the many verbs a table tries on it: a verb with a letter the name
/// lacks is ruled out without a search (most are).
fn searcher(op: &str) -> impl Fn(&str) -> bool + '_ {
    let present = letters(op);
    move |needle| letters(needle) & !present == 0 && contains_ci(op, needle)
}

/// The set of ASCII letters in `s`, case folded, one bit each.
fn letters(s: &str) -> u32 {
    s.bytes()
        .filter(u8::is_ascii_alphabetic)
        .fold(0, |set, b| set | 1 << (b.to_ascii_lowercase() - b'a'))
}

/// Whether `op` is one of `names`, ignoring ASCII case.
pub(crate) fn is_op(op: &str, names: &[&str]) -> bool {
    names.iter().any(|n| op.eq_ignore_ascii_case(n))
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// `s` without a trailing full stop and blanks (directory operations end in one: `Add user.`).
fn bare(s: &str) -> &str {
    s.trim().trim_end_matches('.').trim_end()
}

/// Chooses the class and activity from the tables of [`super::record_types`]: an operation override whose need the
/// record meets, else the family rule of the record's RecordType (unknown ones: [`Rule::Generic`]).
pub(crate) fn choose(f: &Facts<'_>) -> Choice {
    let Some(op) = f.operation else {
        return Choice::new(Class::BaseEvent, 0);
    };
    let rt = f
        .record_type
        .or_else(|| infer_record_type(f.content_type, op));
    if let Some(x) = override_for(rt, op)
        && meets(f, x.need)
        && let Some(class) = Class::from_uid(x.class_uid)
    {
        return Choice::new(class, x.activity_id);
    }
    let rule = rt
        .and_then(record_type)
        .map_or(Rule::Generic, |row| row.rule);
    apply(rule, op, f)
}

fn meets(f: &Facts<'_>, need: Need) -> bool {
    match need {
        Need::Nothing => true,
        Need::User => f.has_user,
        Need::Object => f.has_object,
        Need::Target => f.has_target,
        Need::Team => f.has_team,
    }
}

/// A family rule applied to an operation (the overrides already tried).
fn apply(rule: Rule, op: &str, f: &Facts<'_>) -> Choice {
    let actor = f.has_user || f.has_app;
    match rule {
        Rule::SignIn if f.has_user => Choice::new(Class::Authentication, 1),
        Rule::SignIn | Rule::Api | Rule::Generic => generic(op, f),
        Rule::Directory => directory(op, f),
        Rule::Cmdlet => cmdlet(op),
        Rule::SharePoint if starts_with_ci(op, "File") => file_op(op, f),
        Rule::FileOp => file_op(op, f),
        Rule::Sharing => sharing(op, f),
        Rule::EmailScan => Choice::new(Class::EmailActivity, 3),
        Rule::Detection if f.has_uid => detection(op),
        Rule::Dlp if f.has_uid => dlp(op),
        Rule::Copilot if f.has_ip && actor => Choice::new(Class::ApiActivity, 99),
        Rule::Copilot => Choice::new(Class::WebResourcesActivity, 2),
        Rule::Settings => Choice::new(Class::EntityManagement, settings_activity(op)),
        Rule::Mailbox
        | Rule::SharePoint
        | Rule::Teams
        | Rule::Detection
        | Rule::Dlp
        | Rule::App => web(op),
    }
}

/// A record whose family is unknown (or an API call): API Activity when a caller and a client address exist (the
/// `actor` and `src_endpoint` it requires; `api.operation` is the Operation), else Web Resources Activity when a
/// user, application or object is named, else Base Event: nothing but a name to model.
fn generic(op: &str, f: &Facts<'_>) -> Choice {
    let actor = f.has_user || f.has_app;
    if f.has_ip && actor {
        let activity = match web_activity(op) {
            a @ 1..=4 => a,
            5 | 7 => 2,
            6 => 1,
            _ => 99,
        };
        Choice::new(Class::ApiActivity, activity)
    } else if actor || f.has_object {
        web(op)
    } else {
        Choice::new(Class::BaseEvent, 0)
    }
}

/// Settings and policies (Entity Management): Create 1, Read 2, Update 3, Delete 4, else 99.
fn settings_activity(op: &str) -> u32 {
    let has = searcher(op);
    if has("Delet") || has("Remov") {
        4
    } else if has("Creat") || has("Added") || has("New") {
        1
    } else if has("Updat")
        || has("Modif")
        || has("Chang")
        || has("Set")
        || has("Applied")
        || has("Edit")
    {
        3
    } else if has("View") || has("Read") || has("Get") || has("Access") {
        2
    } else {
        99
    }
}

/// A record without a usable RecordType: the content type and the shape of the operation name say which family it
/// belongs to, when they say it unambiguously. `Audit.General` mixes too many workloads to guess: the generic rule.
fn infer_record_type(ct: ContentType, op: &str) -> Option<i64> {
    let o = op.trim();
    match ct {
        ContentType::AzureActiveDirectory => {
            if o.eq_ignore_ascii_case("UserLoggedIn") || o.eq_ignore_ascii_case("UserLoginFailed") {
                Some(15)
            } else if o.ends_with('.') {
                Some(8)
            } else {
                None
            }
        }
        ContentType::Exchange => {
            if o.contains('-') && !o.contains(' ') {
                Some(1)
            } else {
                Some(2)
            }
        }
        ContentType::SharePoint => Some(if starts_with_ci(o, "File") { 6 } else { 4 }),
        ContentType::DlpAll => Some(11),
        ContentType::General => None,
    }
}

/// RecordType 8: Entra directory audit.
fn directory(op: &str, f: &Facts<'_>) -> Choice {
    let o = bare(op);
    let is = |s: &str| o.eq_ignore_ascii_case(s);
    let account = |activity| {
        if f.has_object {
            Choice::new(Class::AccountChange, activity)
        } else {
            entity(op)
        }
    };
    if is("Add user") {
        account(1)
    } else if is("Delete user") || is("Hard delete user") {
        account(6)
    } else if is("Enable account") {
        account(2)
    } else if is("Disable account") {
        account(5)
    } else if is("Change user password") {
        account(3)
    } else if is("Reset user password") || is("Set force change user password") {
        account(4)
    } else if is("Update user") {
        // 99, refined to MFA Factor Enable / Disable from ModifiedProperties by the builder.
        account(99)
    } else if contains_ci(o, "group") {
        let activity = if is("Add group") {
            6
        } else if is("Delete group") || is("Hard delete group") {
            5
        } else if is("Add member to group") {
            3
        } else if is("Remove member from group") {
            4
        } else {
            99
        };
        if f.has_object {
            Choice::new(Class::GroupManagement, activity)
        } else {
            entity(op)
        }
    } else {
        entity(op)
    }
}

/// Entity Management for directory changes: create 1, update 3, delete 4, else 99.
fn entity(op: &str) -> Choice {
    let o = bare(op);
    let activity = if ["Add ", "Create", "New"]
        .iter()
        .any(|p| starts_with_ci(o, p))
    {
        1
    } else if ["Update", "Set ", "Change", "Modify"]
        .iter()
        .any(|p| starts_with_ci(o, p))
    {
        3
    } else if ["Delete", "Remove", "Hard delete"]
        .iter()
        .any(|p| starts_with_ci(o, p))
    {
        4
    } else {
        99
    };
    Choice::new(Class::EntityManagement, activity)
}

/// Admin cmdlets (`Verb-Noun`); the permission cmdlets are overrides.
fn cmdlet(op: &str) -> Choice {
    let o = op.trim();
    let verb = o.split('-').next().unwrap_or(o);
    let is = |v: &str| verb.eq_ignore_ascii_case(v);
    let activity = if is("New") || is("Add") || is("Install") {
        1
    } else if is("Get") {
        2
    } else if is("Set") || is("Update") {
        3
    } else if is("Remove") || is("Uninstall") {
        4
    } else if is("Enable") {
        8
    } else if is("Disable") {
        9
    } else {
        99
    };
    Choice::new(Class::EntityManagement, activity)
}

/// SharePoint / OneDrive file operations.
fn file_op(op: &str, f: &Facts<'_>) -> Choice {
    if !(f.has_ip && (f.has_user || f.has_app)) {
        // File Hosting requires `src_endpoint` and `actor`: system events (e.g. FileMalwareDetected) lack them.
        return web(op);
    }
    if !f.has_object && (contains_ci(op, "Search") || contains_ci(op, "Query")) {
        // A search (`SearchQueryInitiatedSharePoint`, `SearchQueryPerformed`) names no file: Web Resources Search.
        return web(op);
    }
    let has = searcher(op);
    let activity = if has("Unsync") {
        16
    } else if has("Sync") {
        15
    } else if has("Upload") {
        1
    } else if has("Download") {
        2
    } else if has("Modified") || has("Update") || has("CheckedIn") {
        3
    } else if has("Delete") || has("Recycle") {
        4
    } else if has("Rename") {
        5
    } else if has("Copied") || has("Copy") {
        6
    } else if has("Moved") || has("Move") {
        7
    } else if has("Restore") {
        8
    } else if has("Preview") {
        9
    } else if has("Accessed") || has("Open") || has("Viewed") {
        14
    } else {
        99
    };
    Choice::new(Class::FileHostingActivity, activity)
}

/// RecordType 14: sharing.
fn sharing(op: &str, f: &Facts<'_>) -> Choice {
    if f.has_grantee {
        // Membership of a SharePoint group: Group Management (a group as the member: Add/Remove Subgroup, set by
        // the builder, which reads the member's type).
        if op.eq_ignore_ascii_case("AddedToGroup") {
            return Choice::new(Class::GroupManagement, 3);
        }
        if op.eq_ignore_ascii_case("RemovedFromGroup") {
            return Choice::new(Class::GroupManagement, 4);
        }
        // Access to a file, folder or site given to (or taken from) a named user or group: a grant, with the
        // grantee in `user` and the item in `resources`.
        if is_op(op, &SHARING_GRANTS) {
            return Choice::new(Class::UserAccessManagement, 1);
        }
        if is_op(op, &SHARING_REVOKES) {
            return Choice::new(Class::UserAccessManagement, 2);
        }
    }
    let has = searcher(op);
    let unshare = has("Remove") || has("Revoke") || has("Delete");
    let share = !unshare && (has("Shar") || has("Link") || has("Invit") || has("Added"));
    if f.has_ip && (f.has_user || f.has_app) {
        let activity = if unshare {
            13
        } else if share {
            12
        } else {
            99
        };
        Choice::new(Class::FileHostingActivity, activity)
    } else {
        Choice::new(
            Class::WebResourcesActivity,
            if share { 8 } else { web(op).activity_id },
        )
    }
}

/// Sharing operations that give a named user or group access to an item.
pub(crate) const SHARING_GRANTS: [&str; 5] = [
    "SharingSet",
    "AddedToSecureLink",
    "AddedToSharingLink",
    "SharingInvitationCreated",
    "AccessRequestAccepted",
];
/// Sharing operations that take a named user's or group's access away.
pub(crate) const SHARING_REVOKES: [&str; 4] = [
    "SharingRevoked",
    "RemovedFromSecureLink",
    "RemovedFromSharingLink",
    "SharingInvitationRevoked",
];

/// Alerts and investigations.
fn detection(op: &str) -> Choice {
    let has = searcher(op);
    let activity = if has("Triggered") || has("Created") || has("Detected") || has("Started") {
        1
    } else if has("Resolved") || has("Closed") || has("Dismissed") {
        3
    } else if has("Update") || has("EntityGenerated") || has("Changed") {
        2
    } else {
        99
    };
    Choice::new(Class::DetectionFinding, activity)
}

/// DLP.
fn dlp(op: &str) -> Choice {
    let o = op.trim();
    let activity = if o.eq_ignore_ascii_case("DlpRuleMatch") {
        1
    } else if o.eq_ignore_ascii_case("DlpRuleUndo") {
        4
    } else if o.eq_ignore_ascii_case("DlpInfo") {
        2
    } else {
        99
    };
    Choice::new(Class::DataSecurityFinding, activity)
}

/// Web Resources Activity by the verb in the operation name.
pub(crate) fn web(op: &str) -> Choice {
    Choice::new(Class::WebResourcesActivity, web_activity(op))
}

fn web_activity(op: &str) -> u32 {
    let has = searcher(op);
    if has("Search") || has("Query") {
        5
    } else if has("Export") || has("Download") {
        7
    } else if has("Import") || has("Upload") {
        6
    } else if has("Shar") {
        8
    } else if has("Delet") || has("Remov") || has("SoftDelete") || has("HardDelete") {
        4
    } else if has("Creat") || has("Added") || has("New") {
        1
    } else if has("Updat")
        || has("Modif")
        || has("Edit")
        || has("Chang")
        || has("Applied")
        || has("Move")
    {
        3
    } else if has("View")
        || has("Access")
        || has("Read")
        || has("Open")
        || has("Get")
        || has("Bind")
    {
        2
    } else {
        99
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(rt: i64, op: &'static str) -> Facts<'static> {
        Facts {
            content_type: ContentType::General,
            record_type: Some(rt),
            operation: Some(op),
            has_ip: true,
            has_user: true,
            has_app: false,
            has_object: true,
            has_target: true,
            has_team: true,
            has_grantee: false,
            has_uid: true,
        }
    }

    #[test]
    fn the_table_of_ocsf_mapping_md() {
        let cases: &[(i64, &str, Class, u32)] = &[
            (15, "UserLoggedIn", Class::Authentication, 1),
            (15, "UserLoginFailed", Class::Authentication, 1),
            (
                9,
                "PasswordLogonInitialAuthUsingPassword",
                Class::Authentication,
                1,
            ),
            (2, "MailboxLogin", Class::Authentication, 1),
            (8, "Add user.", Class::AccountChange, 1),
            (8, "Delete user.", Class::AccountChange, 6),
            (8, "Enable account.", Class::AccountChange, 2),
            (8, "Disable account.", Class::AccountChange, 5),
            (8, "Change user password.", Class::AccountChange, 3),
            (8, "Reset user password.", Class::AccountChange, 4),
            (8, "Update user.", Class::AccountChange, 99),
            (8, "Add group.", Class::GroupManagement, 6),
            (8, "Delete group.", Class::GroupManagement, 5),
            (8, "Add member to group.", Class::GroupManagement, 3),
            (8, "Remove member from group.", Class::GroupManagement, 4),
            (25, "TeamCreated", Class::GroupManagement, 6),
            (25, "MemberRemoved", Class::GroupManagement, 4),
            (8, "Add member to role.", Class::UserAccessManagement, 1),
            (
                8,
                "Remove member from role.",
                Class::UserAccessManagement,
                2,
            ),
            (1, "Add-MailboxPermission", Class::UserAccessManagement, 1),
            (
                1,
                "Remove-MailboxPermission",
                Class::UserAccessManagement,
                2,
            ),
            (1, "Add-RoleGroupMember", Class::UserAccessManagement, 1),
            (8, "Add application.", Class::EntityManagement, 1),
            (8, "Update service principal.", Class::EntityManagement, 3),
            (8, "Remove service principal.", Class::EntityManagement, 4),
            (8, "Consent to application.", Class::EntityManagement, 99),
            (1, "New-InboxRule", Class::EntityManagement, 1),
            (
                1,
                "Install-DefaultSharingPolicy",
                Class::EntityManagement,
                1,
            ),
            (18, "Get-ComplianceSearch", Class::EntityManagement, 2),
            (1, "Set-Mailbox", Class::EntityManagement, 3),
            (23, "Remove-CsOnlineUser", Class::EntityManagement, 4),
            (
                10,
                "Enable-OrganizationCustomization",
                Class::EntityManagement,
                8,
            ),
            (1, "Disable-InboxRule", Class::EntityManagement, 9),
            (1, "Test-Thing", Class::EntityManagement, 99),
            (6, "FileUploaded", Class::FileHostingActivity, 1),
            (6, "FileDownloaded", Class::FileHostingActivity, 2),
            (6, "FileModified", Class::FileHostingActivity, 3),
            (6, "FileDeleted", Class::FileHostingActivity, 4),
            (6, "FileRenamed", Class::FileHostingActivity, 5),
            (6, "FileCopied", Class::FileHostingActivity, 6),
            (6, "FileMoved", Class::FileHostingActivity, 7),
            (6, "FileRestored", Class::FileHostingActivity, 8),
            (6, "FilePreviewed", Class::FileHostingActivity, 9),
            (6, "FileAccessed", Class::FileHostingActivity, 14),
            (6, "FileSyncDownloadedFull", Class::FileHostingActivity, 15),
            (7, "FileAccessed", Class::FileHostingActivity, 14),
            (14, "SharingSet", Class::FileHostingActivity, 12),
            (14, "AddedToSecureLink", Class::FileHostingActivity, 12),
            (14, "SharingRevoked", Class::FileHostingActivity, 13),
            (14, "PermissionLevelAdded", Class::FileHostingActivity, 12),
            (4, "PageViewed", Class::WebResourcesActivity, 2),
            (36, "ListItemCreated", Class::WebResourcesActivity, 1),
            (20, "ExportReport", Class::WebResourcesActivity, 7),
            (66, "ViewForm", Class::WebResourcesActivity, 2),
            (25, "MessageSent", Class::WebResourcesActivity, 99),
            (2, "MailItemsAccessed", Class::WebResourcesActivity, 2),
            (2, "HardDelete", Class::WebResourcesActivity, 4),
            (2, "Send", Class::EmailActivity, 1),
            (3, "SendAs", Class::EmailActivity, 1),
            (28, "TIMailData", Class::EmailActivity, 3),
            (40, "AlertTriggered", Class::DetectionFinding, 1),
            (40, "AlertEntityGenerated", Class::DetectionFinding, 2),
            (98, "AlertResolved", Class::DetectionFinding, 3),
            (11, "DlpRuleMatch", Class::DataSecurityFinding, 1),
            (13, "DlpRuleUndo", Class::DataSecurityFinding, 4),
            (33, "DlpInfo", Class::DataSecurityFinding, 2),
            (261, "CopilotInteraction", Class::ApiActivity, 99),
            (9999, "SomethingHappened", Class::ApiActivity, 99),
            (9999, "WidgetDeleted", Class::ApiActivity, 4),
            (2, "AddFolderPermissions", Class::UserAccessManagement, 1),
            (3, "ModifyFolderPermissions", Class::UserAccessManagement, 1),
            (2, "RemoveFolderPermissions", Class::UserAccessManagement, 2),
            (1, "Add-RecipientPermission", Class::UserAccessManagement, 1),
            (
                1,
                "Remove-RecipientPermission",
                Class::UserAccessManagement,
                2,
            ),
            (1, "Set-InboxRule", Class::EntityManagement, 3),
            (2, "UpdateInboxRules", Class::EntityManagement, 3),
            (
                8,
                "Add service principal credentials.",
                Class::EntityManagement,
                3,
            ),
            (2, "SendOnBehalf", Class::EmailActivity, 1),
            (50, "MailItemsAccessed", Class::WebResourcesActivity, 2),
            (22, "MessageCreated", Class::WebResourcesActivity, 1),
            (101, "SearchQueryPerformed", Class::WebResourcesActivity, 5),
            (24, "SearchExported", Class::WebResourcesActivity, 5),
            (57, "TeamSettingChanged", Class::EntityManagement, 3),
            (52, "DataInsightsRestApiGet", Class::ApiActivity, 2),
            (
                61,
                "CompromisedUserAlertCreated",
                Class::DetectionFinding,
                1,
            ),
            (87, "Add-RoleGroupMember", Class::UserAccessManagement, 1),
        ];
        for &(rt, op, class, activity) in cases {
            assert_eq!(
                choose(&facts(rt, op)),
                Choice::new(class, activity),
                "{rt} {op}"
            );
        }
    }

    #[test]
    fn classes_whose_required_attributes_are_missing_fall_back() {
        let mut f = facts(6, "FileMalwareDetected");
        f.has_ip = false;
        assert_eq!(choose(&f).class, Class::WebResourcesActivity);
        let mut f = facts(261, "CopilotInteraction");
        f.has_ip = false;
        assert_eq!(choose(&f), Choice::new(Class::WebResourcesActivity, 2));
        let mut f = facts(8, "Add user.");
        f.has_object = false;
        assert_eq!(choose(&f), Choice::new(Class::EntityManagement, 1));
        let mut f = facts(15, "UserLoggedIn");
        f.has_user = false;
        assert_eq!(choose(&f).class, Class::WebResourcesActivity);
        f.has_object = false;
        assert_eq!(choose(&f).class, Class::BaseEvent);
        let mut f = facts(15, "UserLoggedIn");
        f.operation = None;
        assert_eq!(choose(&f).class, Class::BaseEvent);
        let mut f = facts(15, "UserLoggedIn");
        f.record_type = None;
        assert_eq!(choose(&f), Choice::new(Class::ApiActivity, 99));
        let mut f = facts(9999, "SomethingHappened");
        f.has_ip = false;
        assert_eq!(choose(&f), Choice::new(Class::WebResourcesActivity, 99));
        (f.has_user, f.has_object) = (false, false);
        assert_eq!(choose(&f), Choice::new(Class::BaseEvent, 0));
        let mut f = facts(2, "ModifyFolderPermissions");
        f.has_target = false;
        assert_eq!(choose(&f), Choice::new(Class::WebResourcesActivity, 3));
        let mut f = facts(25, "TeamCreated");
        f.has_team = false;
        assert_eq!(choose(&f).class, Class::WebResourcesActivity);
        let mut f = facts(15, "UserLoggedIn");
        f.record_type = None;
        f.content_type = ContentType::AzureActiveDirectory;
        assert_eq!(choose(&f), Choice::new(Class::Authentication, 1));
        f.content_type = ContentType::Exchange;
        f.operation = Some("Set-Mailbox");
        assert_eq!(choose(&f), Choice::new(Class::EntityManagement, 3));
    }

    #[test]
    fn captions_and_names() {
        assert_eq!(
            Class::FileHostingActivity.activity_caption(17),
            Some("Access Check")
        );
        assert_eq!(
            Class::AccountChange.activity_caption(10),
            Some("MFA Factor Enable")
        );
        assert_eq!(Class::Authentication.activity_caption(99), None);
        assert_eq!(Class::BaseEvent.activity_caption(0), Some("Unknown"));
        assert_eq!(
            Choice::new(Class::EntityManagement, 99)
                .activity_name(Some(Text::Str("Consent to application."))),
            "Consent to application."
        );
        for c in Class::ALL {
            assert_eq!(Class::from_uid(c.uid()), Some(c));
        }
        assert!(contains_ci("FileSyncDownloadedFull", "sync"));
        let has = searcher("FileSyncDownloadedFull");
        assert!(has("sync") && has("DOWNLOAD") && !has("Upload") && !has("Syncs"));
        assert!(!contains_ci("Fi", "File"));
    }
}
