//! Lenient reading of one raw audit record.
//!
//! A [`Record`] holds the record's top-level fields as borrowed slices of the input: keys as `Cow<str>` (borrowed
//! unless they contain escapes) and values as unparsed [`RawValue`]s. Nothing nested is built unless the mapping asks
//! for it, and whatever the mapping does not take is written back out byte for byte as `unmapped`. Mapping code
//! *takes* the fields it copies verbatim into the OCSF event and only *reads* the fields it transforms; that single
//! rule is what guarantees that no source value is lost.
//!
//! Lookups use the documented key spelling; records that spell none of the common keys that way (exports with
//! all-lower-case keys) are looked up case-insensitively. Numbers may arrive as strings and strings as numbers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The fields of a record: key to unparsed value, in key order (the last of duplicate keys wins, as in serde_json).
pub type Fields<'a> = BTreeMap<Cow<'a, str>, Cow<'a, RawValue>>;

/// The top-level object of one audit record, being taken apart.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    map: Fields<'a>,
    /// When set, `take` copies instead of moving, so the whole record stays under `unmapped` (Base Event).
    keep_all: bool,
    /// Whether a lookup that misses the documented spelling scans for other spellings. Records from the API spell
    /// every key the documented way; only when none of `Id`, `CreationTime`, `Operation` and `RecordType` is spelled
    /// that way (exports with lower-case keys) are the other keys looked up case-insensitively. This keeps misses
    /// (most lookups: each record has only some of the fields the mapping knows) at one tree lookup.
    any_case: bool,
}

/// Deserializes a JSON object into [`Fields`], borrowing from the input.
struct FieldsSeed;

impl<'de> Visitor<'de> for FieldsSeed {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields<'de>, A::Error> {
        let mut map = Fields::new();
        while let Some(Key(k)) = access.next_key::<Key<'de>>()? {
            let v: &'de RawValue = access.next_value()?;
            map.insert(k, Cow::Borrowed(v));
        }
        Ok(map)
    }
}

/// A key, borrowed unless it contains escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Parses `bytes` as a JSON object into [`Fields`]; `Ok(None)` when they are JSON but not an object.
pub(crate) fn parse_fields(bytes: &[u8]) -> Result<Option<Fields<'_>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match de
        .deserialize_map(FieldsSeed)
        .and_then(|m| de.end().map(|()| m))
    {
        Ok(m) => Ok(Some(m)),
        Err(e) => {
            // Not an object, or not JSON: tell which.
            serde_json::from_slice::<&RawValue>(bytes)?;
            if e.is_data() { Ok(None) } else { Err(e) }
        }
    }
}

impl<'a> Record<'a> {
    pub(crate) fn new(map: Fields<'a>) -> Self {
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

    /// The actual key under which `name` is stored: exact spelling first, then (see `any_case`) any ASCII case.
    fn key(&self, name: &str) -> Option<&Cow<'a, str>> {
        if let Some((k, _)) = self.map.get_key_value(name) {
            return Some(k);
        }
        if !self.any_case {
            return None;
        }
        self.map.keys().find(|k| k.eq_ignore_ascii_case(name))
    }

    /// The unparsed value of a field.
    pub(crate) fn raw(&self, name: &str) -> Option<&RawValue> {
        match self.map.get(name) {
            Some(v) => Some(v),
            None if !self.any_case => None,
            None => self
                .map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_ref()),
        }
    }

    /// The value of a field, parsed (for nested objects and lists; allocates).
    pub(crate) fn value(&self, name: &str) -> Option<Value> {
        serde_json::from_str(self.raw(name)?.get()).ok()
    }

    /// The value of a string field, trimmed; `None` when absent, not a string, or blank.
    pub(crate) fn str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.raw(name).and_then(raw_str).and_then(trimmed)
    }

    /// Whether a string field is present and not blank.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.str(name).is_some()
    }

    /// An integer field given as a number or as a numeric string.
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.raw(name).and_then(raw_int)
    }

    /// A field as text: strings trimmed, numbers and booleans as written.
    pub(crate) fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        let raw = self.raw(name)?;
        let s = raw.get();
        match s.as_bytes().first()? {
            b'"' => raw_str(raw).and_then(trimmed),
            b'{' | b'[' | b'n' => None,
            _ => Some(Cow::Borrowed(s)),
        }
    }

    /// Removes a field (nothing, after [`Record::keep_all`]).
    pub(crate) fn remove(&mut self, name: &str) {
        if self.keep_all {
            return;
        }
        if self.map.remove(name).is_none()
            && let Some(key) = self.key(name).cloned()
        {
            self.map.remove(&key);
        }
    }

    /// Takes a string field that is not blank and returns it unchanged (not trimmed); any other value stays.
    pub(crate) fn take_string(&mut self, name: &str) -> Option<String> {
        let raw = self.raw(name)?;
        let s = raw_str(raw)?;
        if s.trim().is_empty() {
            return None;
        }
        let s = s.into_owned();
        self.remove(name);
        Some(s)
    }

    /// Takes a string field when `derive(value)` returns it unchanged, else copies what `derive` returns and leaves
    /// the field. Used where a value is usually copied verbatim but sometimes cleaned first.
    pub(crate) fn take_or_derive(
        &mut self,
        name: &str,
        derive: impl FnOnce(&str) -> Option<Cow<'_, str>>,
    ) -> Option<String> {
        let raw = self.str(name)?;
        let derived = match derive(&raw)? {
            Cow::Borrowed(d) if d.len() == raw.len() => None,
            d => Some(d.into_owned()),
        };
        match derived {
            None => self.take_string(name),
            d => d,
        }
    }

    /// Looks up `key` in a Name/Value list field (`ExtendedProperties`, `Parameters`, ...), which may be an array of
    /// `{Name, Value}` objects, the same array serialized as a JSON string, or a plain object.
    pub(crate) fn name_value(&self, field: &str, key: &str) -> Option<String> {
        name_value(&self.value(field)?, key)
    }

    /// What is left: the fields nobody took.
    pub(crate) fn into_rest(self) -> Fields<'a> {
        self.map
    }
}

/// The content of a JSON string value, unescaped (borrowed when it has no escapes); `None` for other values.
pub(crate) fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let s = raw.get();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(s).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

fn trimmed(s: Cow<'_, str>) -> Option<Cow<'_, str>> {
    match s {
        Cow::Borrowed(b) => {
            let t = b.trim();
            (!t.is_empty()).then_some(Cow::Borrowed(t))
        }
        Cow::Owned(o) => {
            let t = o.trim();
            (!t.is_empty()).then(|| Cow::Owned(t.to_owned()))
        }
    }
}

fn raw_int(raw: &RawValue) -> Option<i64> {
    let s = raw.get();
    match s.as_bytes().first()? {
        b'"' => raw_str(raw)?.trim().parse().ok(),
        b'-' | b'0'..=b'9' => s.parse().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        _ => None,
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

    fn fields(v: &str) -> Fields<'_> {
        parse_fields(v.as_bytes()).expect("JSON").expect("object")
    }

    #[test]
    fn lookups_fall_back_to_any_ascii_case() {
        let text = r#"{"clientip": " 1.2.3.4", "recordtype": "15", "id": 7, "n": 1.5e3}"#;
        let mut r = Record::new(fields(text));
        assert_eq!(r.str("ClientIP").as_deref(), Some("1.2.3.4"));
        assert_eq!(r.int("RecordType"), Some(15));
        assert_eq!(r.text("Id").as_deref(), Some("7"));
        assert_eq!(r.int("n"), Some(1500));
        // Taken strings are verbatim (not trimmed).
        assert_eq!(r.take_string("ClientIP").as_deref(), Some(" 1.2.3.4"));
        assert!(r.raw("clientip").is_none());
        // A number is not taken as a string: it stays for `unmapped`.
        assert_eq!(r.take_string("Id"), None);
        assert!(r.raw("Id").is_some());
        // A record spelling the common keys the documented way is read in that spelling only.
        let r = Record::new(fields(r#"{"Id": "x", "clientip": "1.2.3.4"}"#));
        assert_eq!(r.str("ClientIP"), None);
        assert_eq!(r.str("clientip").as_deref(), Some("1.2.3.4"));
    }

    #[test]
    fn escapes_in_keys_and_values_are_decoded() {
        let text = r#"{"Us\u0065rId": "a\\b", "Id": "\"q\""}"#;
        let r = Record::new(fields(text));
        assert_eq!(r.str("UserId").as_deref(), Some("a\\b"));
        assert_eq!(r.str("Id").as_deref(), Some("\"q\""));
    }

    #[test]
    fn non_objects_and_non_json_are_told_apart() {
        assert!(parse_fields(b"[1, 2]").expect("JSON").is_none());
        assert!(parse_fields(b"\"x\"").expect("JSON").is_none());
        assert!(parse_fields(b"{\"a\": }").is_err());
        assert!(parse_fields(b"{} x").is_err());
    }

    #[test]
    fn keep_all_copies_instead_of_moving() {
        let mut r = Record::new(fields(r#"{"Operation": "X"}"#));
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
