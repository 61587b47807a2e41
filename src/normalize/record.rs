//! Lenient reading of one raw audit record.
//!
//! A [`Record`] owns the record's top-level object. Mapping code *takes* the fields it copies verbatim into the OCSF
//! event (moving them, no copy) and only *reads* the fields it transforms; whatever is left at the end becomes
//! `unmapped`. That single rule is what guarantees that no source value is lost.
//!
//! Every lookup accepts the documented key spelling and, failing that, any ASCII-case variant of it (exports with
//! all-lower-case keys exist). Numbers may arrive as strings and strings as numbers.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// The top-level object of one audit record, being taken apart.
#[derive(Debug)]
pub(crate) struct Record {
    map: Map<String, Value>,
    /// When set, `take` copies instead of moving, so the whole record stays under `unmapped` (Base Event).
    keep_all: bool,
    /// Whether a lookup that misses the documented spelling scans for other spellings. Records from the API spell
    /// every key the documented way; only when none of `Id`, `CreationTime`, `Operation` and `RecordType` is spelled
    /// that way (exports with lower-case keys) are the other keys looked up case-insensitively. This keeps misses
    /// (most lookups: each record has only some of the fields the mapping knows) at one tree lookup.
    any_case: bool,
}

impl Record {
    pub(crate) fn new(map: Map<String, Value>) -> Self {
        let any_case = !["Id", "CreationTime", "Operation", "RecordType"]
            .iter()
            .any(|k| map.contains_key(*k));
        Record {
            map,
            keep_all: false,
            any_case,
        }
    }

    /// From now on every field stays in the record (and so under `unmapped`); `take` copies.
    pub(crate) fn keep_all(&mut self) {
        self.keep_all = true;
    }

    /// The actual key under which `name` is stored: exact spelling first, then any ASCII-case variant.
    fn key(&self, name: &str) -> Option<&str> {
        if let Some((k, _)) = self.map.get_key_value(name) {
            return Some(k.as_str());
        }
        if !self.any_case {
            return None;
        }
        self.map
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    /// The value of a field.
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        match self.map.get(name) {
            Some(v) => Some(v),
            None if !self.any_case => None,
            None => self
                .map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v),
        }
    }

    /// The value of a string field, trimmed; `None` when absent, not a string, or blank.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(non_blank)
    }

    /// An integer field given as a number or as a numeric string.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(as_int)
    }

    /// A field as text: strings as they are, numbers and booleans spelled out.
    pub(crate) fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).and_then(as_text)
    }

    /// Removes a field (or copies it, after [`Record::keep_all`]).
    pub(crate) fn take(&mut self, name: &str) -> Option<Value> {
        if self.keep_all {
            return self.get(name).cloned();
        }
        match self.map.remove(name) {
            Some(v) => Some(v),
            None => {
                let key = self.key(name)?.to_owned();
                self.map.remove(&key)
            }
        }
    }

    /// Removes a string field that is not blank and returns it unchanged; any other value stays in the record.
    pub(crate) fn take_string(&mut self, name: &str) -> Option<String> {
        self.str(name)?;
        match self.take(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Takes a string field when `keep(value)` holds, else copies what `derive(value)` returns and leaves the field.
    /// Used where a value is usually copied verbatim but sometimes cleaned first.
    pub(crate) fn take_or_derive(
        &mut self,
        name: &str,
        derive: impl FnOnce(&str) -> Option<Cow<'_, str>>,
    ) -> Option<String> {
        let raw = self.str(name)?;
        match derive(raw)? {
            Cow::Borrowed(d) if d.len() == raw.len() => self.take_string(name),
            d => Some(d.into_owned()),
        }
    }

    /// Looks up `key` in a Name/Value list field (`ExtendedProperties`, `Parameters`, ...), which may be an array of
    /// `{Name, Value}` objects, the same array serialized as a JSON string, or a plain object.
    pub(crate) fn name_value(&self, field: &str, key: &str) -> Option<String> {
        name_value(self.get(field)?, key)
    }

    /// What is left: the fields nobody took.
    pub(crate) fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}

/// See [`Record::name_value`].
pub(crate) fn name_value(list: &Value, key: &str) -> Option<String> {
    match list {
        Value::Array(items) => items.iter().find_map(|item| {
            let obj = item.as_object()?;
            let name = obj_get(obj, "Name")?.as_str()?;
            if name.eq_ignore_ascii_case(key) {
                obj_get(obj, "Value").and_then(as_text).map(Cow::into_owned)
            } else {
                None
            }
        }),
        Value::Object(obj) => obj_get(obj, key).and_then(as_text).map(Cow::into_owned),
        Value::String(s) => {
            let t = s.trim_start();
            if t.starts_with('[') || t.starts_with('{') {
                let parsed: Value = serde_json::from_str(t).ok()?;
                name_value(&parsed, key)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A key of a nested object, exact spelling first, then any ASCII-case variant.
pub(crate) fn obj_get<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A nested string field, trimmed and not blank.
pub(crate) fn obj_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    obj_get(obj, name).and_then(non_blank)
}

/// A string value, trimmed; `None` when not a string or blank.
pub(crate) fn non_blank(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then_some(t)
        }
        _ => None,
    }
}

/// An integer given as a JSON integer, an integral float or a numeric string.
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Strings as they are, numbers and booleans spelled out; `None` for blank strings, null, arrays and objects.
pub(crate) fn as_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then_some(Cow::Borrowed(t))
        }
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Whether `s` is an e-mail address as OCSF's `email_t` pattern accepts it:
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$` (the class `+-/` is the range `+ , - . /`).
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b));
    let Some((first, rest)) = domain.split_once('.') else {
        return false;
    };
    local_ok
        && !first.is_empty()
        && first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        match v {
            Value::Object(m) => Record::new(m),
            _ => unreachable!("test records are objects"),
        }
    }

    #[test]
    fn lookups_fall_back_to_any_ascii_case() {
        let mut r = rec(json!({"clientip": "1.2.3.4", "recordtype": "15", "id": 7}));
        assert_eq!(r.str("ClientIP"), Some("1.2.3.4"));
        assert_eq!(r.int("RecordType"), Some(15));
        assert_eq!(r.text("Id").as_deref(), Some("7"));
        assert_eq!(r.take_string("ClientIP").as_deref(), Some("1.2.3.4"));
        assert!(r.get("clientip").is_none());
        // A number is not taken as a string: it stays for `unmapped`.
        assert_eq!(r.take_string("Id"), None);
        assert!(r.get("Id").is_some());
        // A record spelling the common keys the documented way is read in that spelling only.
        let r = rec(json!({"Id": "x", "clientip": "1.2.3.4"}));
        assert_eq!(r.str("ClientIP"), None);
        assert_eq!(r.str("clientip"), Some("1.2.3.4"));
    }

    #[test]
    fn keep_all_copies_instead_of_moving() {
        let mut r = rec(json!({"Operation": "X"}));
        r.keep_all();
        assert_eq!(r.take_string("Operation").as_deref(), Some("X"));
        assert_eq!(r.into_rest().len(), 1);
    }

    #[test]
    fn name_value_lists_in_every_published_shape() {
        let arr = json!([{"Name": "UserAgent", "Value": "ua"}, {"Name": "n", "Value": 3}]);
        assert_eq!(name_value(&arr, "useragent").as_deref(), Some("ua"));
        assert_eq!(name_value(&arr, "n").as_deref(), Some("3"));
        let s = Value::String(arr.to_string());
        assert_eq!(name_value(&s, "UserAgent").as_deref(), Some("ua"));
        assert_eq!(
            name_value(&json!({"UserAgent": "ua"}), "UserAgent").as_deref(),
            Some("ua")
        );
        assert_eq!(name_value(&json!("not json ["), "UserAgent"), None);
    }

    #[test]
    fn email_check_follows_the_ocsf_pattern() {
        assert!(is_email("admin@contoso.onmicrosoft.com"));
        assert!(is_email("OUTSIDER@ALLOWEDDOMAIN.COM"));
        assert!(!is_email("homer.simpson@simpsons"));
        assert!(!is_email("NT AUTHORITY\\SYSTEM"));
        assert!(!is_email("a@b@c.d"));
        assert!(!is_email("@x.y"));
    }
}
