//! Fidelity figures of the normalization (`o365sync normalize --stats`): how much of what the records say reached
//! a modelled OCSF attribute. Pure: [`Stats::add`] takes one input record and the event it became (both as JSON
//! values) and accumulates; [`Stats::report`] gives the figures.
//!
//! # Definitions
//! A **modelled string** is any string leaf of the event (numbers and booleans are read as their JSON text) except
//! what lies under the top-level `unmapped` and `raw_data` and under `metadata.original_time`: a value that is only
//! kept under `unmapped` never counts as reached.
//!
//! A value is **found** when a modelled string equals it ignoring ASCII case, or (values of 4 characters or more)
//! contains it ignoring ASCII case (a user id inside `actor.user.name`, an object id inside a URL). IP addresses are
//! compared as addresses (see *source IP*).
//!
//! Each dimension is `reached / named`: `named` counts the records that name the dimension, `reached` those of them
//! whose value was found.
//!
//! | dimension | the record names it when | reached when |
//! |---|---|---|
//! | `actor` | `UserId` is a non-empty string (else `UserKey`) | that value is found, or (SharePoint guests) the value without a leading `urn:spo:guest#` (any case) is |
//! | `source_ip` | `ClientIPAddress`, `ClientIP`, `ActorIpAddress` or `ClientIp` holds a usable address: not empty, not `0.0.0.0`/`::`; a port, `[v6]:port`, `::ffff:` and `HOST (ip)` are read past | a modelled string parses as the same address |
//! | `target` | any of [`TARGET_KEYS`] is present with a non-empty string leaf (numbers such as a member's `Role` are not target values) | one of the string leaves of those keys is found |
//! | `session` | `AADSessionId`, `SessionId` or `AppAccessContext.AADSessionId` is a non-empty string | one of them is found |
//! | `application` | `AppId`, `ClientAppId`, `ApplicationId` or `AppAccessContext.ClientAppId` is a non-empty string | one of them is found |
//! | `outcome` | `ResultStatus` is present and not null | the event has a `status_id` other than 0 |
//!
//! **Unmapped share**: the record's top-level keys that are also top-level keys of the event's `unmapped`, over all
//! top-level keys of the records (a key read by the mapping but kept because its value was transformed counts as
//! unmapped too: it is under `unmapped`).
//!
//! **Classes**: events per `class_uid` (with `class_name`), and the Base Event (`class_uid` 0) share of all events.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::ip::parse_client_ip;

/// The record keys that name a target object (the `target` dimension). Their string leaves (of nested objects and
/// arrays too) are the target values.
pub const TARGET_KEYS: [&str; 16] = [
    "ObjectId",
    "Target",
    "MailboxOwnerUPN",
    "MailboxGuid",
    "SourceFileName",
    "SiteUrl",
    "Folders",
    "AffectedItems",
    "Item",
    "TargetUserOrGroupName",
    "Members",
    "ModifiedProperties",
    "DestinationFileName",
    "TeamName",
    "ChannelName",
    "DestFolder",
];

const ACTOR_KEYS: [&str; 2] = ["UserId", "UserKey"];
const IP_KEYS: [&str; 5] = [
    "ClientIPAddress",
    "ClientIP",
    "ActorIpAddress",
    "ClientIp",
    "UserIp",
];
const SESSION_PATHS: [&[&str]; 3] = [
    &["AADSessionId"],
    &["SessionId"],
    &["AppAccessContext", "AADSessionId"],
];
const APPLICATION_PATHS: [&[&str]; 4] = [
    &["AppId"],
    &["ClientAppId"],
    &["ApplicationId"],
    &["AppAccessContext", "ClientAppId"],
];

/// A share: `numerator` of `denominator`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    /// Records (or keys) that satisfy the definition.
    pub numerator: u64,
    /// Records (or keys) the definition applies to.
    pub denominator: u64,
}

impl Ratio {
    fn count(&mut self, hit: bool) {
        self.denominator += 1;
        self.numerator += u64::from(hit);
    }

    /// The share in percent (0 when the denominator is 0).
    pub fn percent(&self) -> f64 {
        if self.denominator == 0 {
            0.0
        } else {
            self.numerator as f64 * 100.0 / self.denominator as f64
        }
    }
}

/// The events of one class.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCount {
    /// OCSF `class_uid`.
    pub class_uid: u64,
    /// OCSF `class_name`.
    pub class_name: String,
    /// Events of the class, over all events.
    pub events: Ratio,
}

/// Per dimension: records that name it, and how many of them reached a modelled attribute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dimensions {
    /// `UserId`/`UserKey`.
    pub actor: Ratio,
    /// The client IP fields.
    pub source_ip: Ratio,
    /// [`TARGET_KEYS`].
    pub target: Ratio,
    /// The session ids.
    pub session: Ratio,
    /// The application ids.
    pub application: Ratio,
    /// `ResultStatus` → `status_id`.
    pub outcome: Ratio,
}

impl Dimensions {
    /// (name, ratio) in the order the report prints them.
    pub fn rows(&self) -> [(&'static str, Ratio); 6] {
        [
            ("actor", self.actor),
            ("source_ip", self.source_ip),
            ("target", self.target),
            ("session", self.session),
            ("application", self.application),
            ("outcome", self.outcome),
        ]
    }
}

/// The figures (`--stats --json` prints this; field names are stable).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Records read (one event each).
    pub records: u64,
    /// Events per class, by `class_uid`.
    pub classes: Vec<ClassCount>,
    /// Base Events (`class_uid` 0) over all events.
    pub base_event: Ratio,
    /// The dimensions.
    pub dimensions: Dimensions,
    /// Top-level record keys left under `unmapped`, over all top-level record keys.
    pub unmapped_keys: Ratio,
}

/// The accumulator.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    records: u64,
    classes: BTreeMap<u64, (String, u64)>,
    dimensions: Dimensions,
    unmapped_keys: Ratio,
}

impl Stats {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accounts for one record and the OCSF event it became.
    pub fn add(&mut self, record: &Value, event: &Value) {
        self.records += 1;
        let class_uid = event.get("class_uid").and_then(Value::as_u64).unwrap_or(0);
        let class_name = event
            .get("class_name")
            .and_then(Value::as_str)
            .unwrap_or("Base Event");
        self.classes
            .entry(class_uid)
            .or_insert_with(|| (class_name.to_owned(), 0))
            .1 += 1;

        let modelled = modelled_strings(event);
        let d = &mut self.dimensions;

        let actor = ACTOR_KEYS
            .iter()
            .find_map(|k| non_empty(record.get(*k)).map(str::to_owned));
        if let Some(actor) = actor {
            let guest = strip_prefix_ci(&actor, "urn:spo:guest#");
            d.actor
                .count(found(&modelled, &actor) || guest.is_some_and(|g| found(&modelled, g)));
        }

        let ips: Vec<IpAddr> = IP_KEYS
            .iter()
            .filter_map(|k| non_empty(record.get(*k)))
            .filter_map(|s| parse_client_ip(s).map(|a| a.ip))
            .collect();
        if !ips.is_empty() {
            let hit = modelled
                .iter()
                .filter_map(|s| s.parse::<IpAddr>().ok())
                .any(|ip| ips.contains(&ip));
            d.source_ip.count(hit);
        }

        let mut targets = Vec::new();
        for key in TARGET_KEYS {
            if let Some(v) = record.get(key) {
                string_leaves(v, &mut targets, false);
            }
        }
        targets.retain(|s| !s.trim().is_empty());
        if !targets.is_empty() {
            d.target.count(targets.iter().any(|t| found(&modelled, t)));
        }

        for (ratio, paths) in [
            (&mut d.session, &SESSION_PATHS[..]),
            (&mut d.application, &APPLICATION_PATHS[..]),
        ] {
            let values: Vec<&str> = paths
                .iter()
                .filter_map(|p| non_empty(lookup(record, p)))
                .collect();
            if !values.is_empty() {
                ratio.count(values.iter().any(|v| found(&modelled, v)));
            }
        }

        if record.get("ResultStatus").is_some_and(|v| !v.is_null()) {
            let status = event.get("status_id").and_then(Value::as_u64);
            d.outcome.count(status.is_some_and(|s| s != 0));
        }

        if let Some(fields) = record.as_object() {
            let unmapped = event.get("unmapped").and_then(Value::as_object);
            for key in fields.keys() {
                self.unmapped_keys
                    .count(unmapped.is_some_and(|u| u.contains_key(key)));
            }
        }
    }

    /// The figures so far.
    pub fn report(&self) -> Report {
        let events = self.records;
        let classes: Vec<ClassCount> = self
            .classes
            .iter()
            .map(|(&class_uid, (name, n))| ClassCount {
                class_uid,
                class_name: name.clone(),
                events: Ratio {
                    numerator: *n,
                    denominator: events,
                },
            })
            .collect();
        let base = self.classes.get(&0).map_or(0, |(_, n)| *n);
        Report {
            records: self.records,
            classes,
            base_event: Ratio {
                numerator: base,
                denominator: events,
            },
            dimensions: self.dimensions,
            unmapped_keys: self.unmapped_keys,
        }
    }
}

impl Report {
    /// The report as an aligned text table (what `normalize --stats` prints).
    pub fn to_text(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        rows.push(("records read".into(), self.records.to_string()));
        for c in &self.classes {
            rows.push((
                format!("class {} {}", c.class_uid, c.class_name),
                ratio_text(c.events),
            ));
        }
        rows.push(("base event share".into(), ratio_text(self.base_event)));
        for (name, r) in self.dimensions.rows() {
            rows.push((format!("{name} reached"), ratio_text(r)));
        }
        rows.push(("unmapped keys".into(), ratio_text(self.unmapped_keys)));
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            // Writing into a String cannot fail.
            let _ = writeln!(out, "{k:<width$}  {v}");
        }
        out
    }
}

fn ratio_text(r: Ratio) -> String {
    format!("{}/{} ({:.1}%)", r.numerator, r.denominator, r.percent())
}

fn non_empty(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

fn lookup<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
        .filter(|rest| !rest.is_empty())
}

/// Every string leaf of `v`, with `scalars` numbers and booleans too (as their JSON text).
fn string_leaves(v: &Value, out: &mut Vec<String>, scalars: bool) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) if scalars => out.push(n.to_string()),
        Value::Bool(b) if scalars => out.push(b.to_string()),
        Value::Number(_) | Value::Bool(_) | Value::Null => {}
        Value::Array(a) => a.iter().for_each(|x| string_leaves(x, out, scalars)),
        Value::Object(o) => o.values().for_each(|x| string_leaves(x, out, scalars)),
    }
}

/// The modelled strings of an event, lower-cased (see the module docs).
fn modelled_strings(event: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(fields) = event.as_object() {
        for (k, v) in fields {
            match k.as_str() {
                "unmapped" | "raw_data" => {}
                "metadata" => {
                    if let Some(m) = v.as_object() {
                        m.iter()
                            .filter(|(k, _)| *k != "original_time")
                            .for_each(|(_, v)| string_leaves(v, &mut out, true));
                    }
                }
                _ => string_leaves(v, &mut out, true),
            }
        }
    }
    out.iter_mut().for_each(|s| s.make_ascii_lowercase());
    out
}

fn found(modelled: &[String], value: &str) -> bool {
    let value = value.to_ascii_lowercase();
    modelled
        .iter()
        .any(|s| *s == value || (value.len() >= 4 && s.contains(&value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn found_is_case_insensitive_and_short_values_must_match_whole() {
        let m = [
            "https://contoso.sharepoint.com/a.docx".to_owned(),
            "ab".to_owned(),
        ];
        assert!(found(&m, "A.DOCX"));
        assert!(found(&m, "AB"));
        assert!(!found(&m, "a"));
    }

    #[test]
    fn original_time_and_unmapped_are_not_modelled() {
        let e = json!({"metadata": {"original_time": "x1", "uid": "x2"}, "unmapped": {"a": "x3"}, "raw_data": "x4"});
        assert_eq!(modelled_strings(&e), vec!["x2".to_owned()]);
    }

    #[test]
    fn guest_prefix_is_stripped() {
        assert_eq!(
            strip_prefix_ci("URN:SPO:GUEST#a@b.c", "urn:spo:guest#"),
            Some("a@b.c")
        );
        assert_eq!(strip_prefix_ci("a@b.c", "urn:spo:guest#"), None);
    }
}
