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
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::sync::LazyLock;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::event::Text;

/// The top-level fields of a record in input order: key (borrowed unless escaped) to unparsed value. Fields that the
/// mapping took are flagged, not removed; serializing writes the others as a JSON object (the `unmapped` object).
#[derive(Debug, Clone, Default)]
pub struct Fields<'a> {
    entries: Vec<Entry<'a>>,
}

#[derive(Debug, Clone)]
struct Entry<'a> {
    key: Cow<'a, str>,
    value: Cow<'a, RawValue>,
    taken: bool,
    /// Known to be a string without escapes (its JSON text is its [`Text`]): set at the first read, since the
    /// mapping reads many fields several times (`has`, then `str` or `take_string`).
    plain: Cell<bool>,
}

impl<'a> Fields<'a> {
    /// One field.
    pub(crate) fn single(key: &'a str, value: &'a RawValue) -> Self {
        Fields {
            entries: vec![Entry {
                key: Cow::Borrowed(key),
                value: Cow::Borrowed(value),
                taken: false,
                plain: Cell::new(false),
            }],
        }
    }

    /// Whether every field was taken.
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(|e| e.taken)
    }

    /// The fields that were not taken, in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.entries
            .iter()
            .filter(|e| !e.taken)
            .map(|e| (e.key.as_ref(), e.value.as_ref()))
    }

    /// The fields that were not taken, in input order, each key with whether it is borrowed from the input (so
    /// without escapes).
    pub(crate) fn iter_written(&self) -> impl Iterator<Item = (&str, bool, &RawValue)> {
        self.entries.iter().filter(|e| !e.taken).map(|e| {
            (
                e.key.as_ref(),
                matches!(e.key, Cow::Borrowed(_)),
                e.value.as_ref(),
            )
        })
    }

    /// The value of a field that was not taken (exact key).
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The string of a field (exact key, else any ASCII-case variant), trimmed and not blank.
    pub(crate) fn str(&self, key: &str) -> Option<Text<'a>> {
        let entry = self.entries.iter().find(|e| e.key == key).or_else(|| {
            self.entries
                .iter()
                .find(|e| e.key.eq_ignore_ascii_case(key))
        })?;
        lend(&entry.value, |raw| Text::from_json(raw)).and_then(Text::trimmed)
    }

    /// The same fields, owning their keys and values.
    pub fn into_owned(self) -> Fields<'static> {
        Fields {
            entries: self
                .entries
                .into_iter()
                .filter(|e| !e.taken)
                .map(|e| Entry {
                    key: Cow::Owned(e.key.into_owned()),
                    value: Cow::Owned(e.value.into_owned()),
                    taken: false,
                    plain: Cell::new(false),
                })
                .collect(),
        }
    }
}

/// `f` of a value, borrowing from the input when the value does (the values of a detached record are copied).
fn lend<'a>(
    value: &Cow<'a, RawValue>,
    f: impl for<'v> FnOnce(&'v RawValue) -> Option<Text<'v>>,
) -> Option<Text<'a>> {
    match value {
        Cow::Borrowed(raw) => f(raw),
        Cow::Owned(raw) => f(raw).map(Text::into_owned),
    }
}

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.iter() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Defines, from one list of keys, [`KNOWN`] (the keys the mapping reads, each with a slot in [`Record`]'s index,
/// in list order) and `slot_of` (a key's slot: a `match`, so that a lookup with a constant name, every lookup of
/// the mapping once inlined, folds to a constant; `slot_of_runtime` is the same for names only known at run time).
macro_rules! known_keys {
    ($($key:ident),* $(,)?) => {
        /// The slots, in the order of the list.
        #[allow(clippy::upper_case_acronyms)]
        #[derive(Clone, Copy)]
        enum Slot {
            $($key),*
        }

        /// The keys the mapping reads, each with a slot in [`Record`]'s index.
        pub const KNOWN: &[&str] = &[$(stringify!($key)),*];

        #[inline(always)]
        fn slot_of(name: &str) -> Option<usize> {
            match name {
                $(stringify!($key) => Some(Slot::$key as usize),)*
                _ => None,
            }
        }
    };
}

known_keys!(
    Id,
    RecordType,
    CreationTime,
    Operation,
    OrganizationId,
    UserType,
    UserKey,
    UserId,
    Workload,
    ResultStatus,
    ObjectId,
    ClientIPAddress,
    ClientIP,
    ActorIpAddress,
    SenderIp,
    AppId,
    ApplicationId,
    ClientAppId,
    AppAccessContext,
    ApplicationName,
    UserAgent,
    ExtendedProperties,
    Parameters,
    ModifiedProperties,
    CorrelationId,
    InterSystemsId,
    LogonError,
    ErrorCode,
    LoginStatus,
    TeamName,
    TeamGuid,
    Members,
    AlertId,
    Name,
    Severity,
    Status,
    Comments,
    Data,
    PolicyDetails,
    SourceFileName,
    SourceRelativeUrl,
    SourceFileExtension,
    ItemType,
    ItemName,
    SiteUrl,
    MessageId,
    MailboxOwnerUPN,
    Item,
    Recipients,
    Subject,
    InternetMessageId,
    Directionality,
    P1Sender,
    P2Sender,
    SendAsUserSmtp,
    SendOnBehalfOfUserSmtp,
    CopilotEventData,
    AADSessionId,
    SessionId,
    AffectedItems,
    AlertEntityId,
    Category,
    Entities,
    EntityType,
    ExchangeMetaData,
    Folders,
    ListItemUniqueId,
    OperationProperties,
    SharePointMetaData,
    Target,
    TargetUserOrGroupName,
    TargetUserOrGroupType,
    EventData,
    IsSuccess,
    UserIp,
    URL,
    MailboxGuid,
    ChannelName,
    ChannelGuid,
    ErrorNumber,
    FileData,
    InvestigationId,
    InvestigationName,
    InvestigationType,
);
const KNOWN_LEN: usize = KNOWN.len();

/// [`slot_of`] for a name read from the input: one probe of an open-addressing table of the known keys, which is
/// empty for nearly every other key (so most keys of a record cost no string comparison at all) and one comparison
/// for a known key.
fn slot_of_runtime(name: &str) -> Option<usize> {
    static TABLE: LazyLock<SlotTable> = LazyLock::new(|| SlotTable::new(false));
    TABLE.find(name, |known| same_key(known, name))
}

/// `a == b`, without a call to `memcmp` for keys of up to 16 bytes (nearly all): their first and last eight bytes
/// cover them.
fn same_key(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    match (a.first_chunk::<8>(), a.last_chunk::<8>()) {
        (Some(head), Some(tail)) if a.len() <= 16 => {
            Some(head) == b.first_chunk::<8>() && Some(tail) == b.last_chunk::<8>()
        }
        (None, _) => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// [`slot_of_runtime`] ignoring ASCII case (records that spell keys their own way).
fn slot_of_any_case(name: &str) -> Option<usize> {
    static TABLE: LazyLock<SlotTable> = LazyLock::new(|| SlotTable::new(true));
    TABLE.find(name, |known| known.eq_ignore_ascii_case(name))
}

/// Slot + 1 of the known key hashed to each bucket (0: empty); about one bucket in ten is taken.
struct SlotTable {
    buckets: [u8; SLOT_TABLE_LEN],
    /// Whether keys are hashed with their letters folded to one case.
    fold: bool,
}

const SLOT_TABLE_LEN: usize = 1024;

impl SlotTable {
    fn new(fold: bool) -> SlotTable {
        let mut buckets = [0u8; SLOT_TABLE_LEN];
        for (slot, key) in KNOWN.iter().enumerate() {
            let mut i = key_hash(key, fold);
            while buckets[i] != 0 {
                i = (i + 1) % SLOT_TABLE_LEN;
            }
            buckets[i] = u8::try_from(slot + 1).expect("fewer than 255 known keys");
        }
        SlotTable { buckets, fold }
    }

    fn find(&self, name: &str, is: impl Fn(&str) -> bool) -> Option<usize> {
        let mut i = key_hash(name, self.fold);
        loop {
            let slot = usize::from(self.buckets[i]).checked_sub(1)?;
            if is(KNOWN[slot]) {
                return Some(slot);
            }
            i = (i + 1) % SLOT_TABLE_LEN;
        }
    }
}

/// A bucket of a [`SlotTable`]: a hash of the length and the first and last eight bytes of a key (the bytes of a
/// shorter key). With `fold`, bit 5 of every byte is set first, which maps both cases of a letter to one value.
fn key_hash(key: &str, fold: bool) -> usize {
    let b = key.as_bytes();
    let mask = if fold { 0x2020_2020_2020_2020 } else { 0 };
    let words = match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(head), Some(tail)) => {
            (u64::from_le_bytes(*head) | mask) ^ (u64::from_le_bytes(*tail) | mask).rotate_left(23)
        }
        _ => b
            .iter()
            .fold(0, |h, &x| (h << 8) | u64::from(x) | (mask & 0xff)),
    };
    // Fibonacci hashing: the top bits of the product are well mixed.
    ((words ^ b.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize % SLOT_TABLE_LEN
}

/// The top-level object of one audit record, being taken apart.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    fields: Fields<'a>,
    /// For each known key, 1 + the index of its entry (0: absent). Built in one pass over the keys, so that the
    /// many lookups of the mapping (most of them misses) cost an array access instead of string comparisons.
    slots: [u32; KNOWN_LEN],
    /// When set, `take` copies instead of moving, so the whole record stays under `unmapped` (Base Event).
    keep_all: bool,
    /// Records from the API spell every key the documented way; only when none of `Id`, `CreationTime`,
    /// `Operation` and `RecordType` is spelled that way (exports with lower-case keys) are keys matched
    /// case-insensitively.
    any_case: bool,
    /// Nested values parsed, by entry, once some mapping asked for them ([`Record::value`]; several read the same
    /// field). Allocated at the first parse: most records parse none.
    parsed: OnceCell<Box<[OnceCell<Option<Json<'a>>>]>>,
}

/// Deserializes a JSON object into [`Fields`], borrowing from the input.
struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields<'de>, A::Error> {
        let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(24));
        while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
            let v: &'de RawValue = access.next_value()?;
            entries.push(Entry {
                key,
                value: Cow::Borrowed(v),
                taken: false,
                plain: Cell::new(false),
            });
        }
        Ok(Fields { entries })
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

/// The top level of a JSON object already known to be valid UTF-8 (a value of a parsed record); `None` when it is
/// not an object.
fn parse_object(text: &str) -> Option<Fields<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_map(FieldsVisitor)
        .and_then(|m| de.end().map(|()| m))
        .ok()
}

/// Parses `bytes` as a JSON object into [`Fields`]; `Ok(None)` when they are JSON but not an object.
pub(crate) fn parse_fields(bytes: &[u8]) -> Result<Option<Fields<'_>>, serde_json::Error> {
    // Validating UTF-8 once up front (ASCII fast path) lets the parser skip validating every string on its own.
    let result = match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            de.deserialize_map(FieldsVisitor)
                .and_then(|m| de.end().map(|()| m))
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            de.deserialize_map(FieldsVisitor)
                .and_then(|m| de.end().map(|()| m))
        }
    };
    match result {
        Ok(m) => Ok(Some(m)),
        Err(e) => {
            // Not an object, or not JSON: tell which.
            serde_json::from_slice::<&RawValue>(bytes)?;
            if e.is_data() { Ok(None) } else { Err(e) }
        }
    }
}

impl<'a> Record<'a> {
    pub(crate) fn new(fields: Fields<'a>) -> Self {
        let mut record = Record {
            fields,
            slots: [0; KNOWN_LEN],
            keep_all: false,
            any_case: false,
            parsed: OnceCell::new(),
        };
        record.index_keys();
        if [
            Slot::Id,
            Slot::CreationTime,
            Slot::Operation,
            Slot::RecordType,
        ]
        .iter()
        .all(|&slot| record.slots[slot as usize] == 0)
        {
            // None of the common keys is spelled the documented way: index again, matching any ASCII case.
            record.any_case = true;
            record.slots = [0; KNOWN_LEN];
            for e in &mut record.fields.entries {
                e.taken = false;
            }
            record.index_keys();
        }
        record
    }

    /// Fills `slots` in one pass over the keys.
    fn index_keys(&mut self) {
        let any_case = self.any_case;
        let entries = &mut self.fields.entries;
        for i in 0..entries.len() {
            let key = entries[i].key.as_ref();
            let slot =
                slot_of_runtime(key).or_else(|| any_case.then(|| slot_of_any_case(key)).flatten());
            if let Some(slot) = slot
                && let Ok(index) = u32::try_from(i + 1)
            {
                let prev = self.slots[slot] as usize;
                if prev == 0 {
                    self.slots[slot] = index;
                } else if entries[prev - 1].key == entries[i].key {
                    // A duplicate key: the last one wins, as in serde_json.
                    entries[prev - 1].taken = true;
                    self.slots[slot] = index;
                } else if entries[i].key == KNOWN[slot] {
                    // Two spellings of one key: the documented one is read, the other stays for `unmapped`.
                    self.slots[slot] = index;
                }
            }
        }
    }

    /// From now on every field stays in the record (and so under `unmapped`); `take` copies.
    pub(crate) fn keep_all(&mut self) {
        self.keep_all = true;
    }

    /// The index of the entry under which `name` is stored, if not taken. Always inlined, so that the slot of a
    /// constant name is a constant; so are the look-ups by name below (out of line, each would match its name
    /// against every known key at run time).
    #[inline(always)]
    fn index(&self, name: &str) -> Option<usize> {
        let i = match slot_of(name) {
            Some(slot) => (self.slots[slot] as usize).checked_sub(1)?,
            None => self.scan(name)?,
        };
        (!self.fields.entries[i].taken).then_some(i)
    }

    /// The entry of a key without a slot, by comparing keys.
    #[inline(never)]
    fn scan(&self, name: &str) -> Option<usize> {
        self.fields
            .entries
            .iter()
            .position(|e| e.key == name || (self.any_case && e.key.eq_ignore_ascii_case(name)))
    }

    /// The unparsed value of a field.
    #[inline(always)]
    pub(crate) fn raw(&self, name: &str) -> Option<&RawValue> {
        self.index(name)
            .map(|i| self.fields.entries[i].value.as_ref())
    }
    /// The value of a field, parsed (for nested objects and lists; allocates), at most once per record.
    pub(crate) fn value(&self, name: &str) -> Option<&Json<'a>> {
        let i = self.index(name)?;
        let cells = self.parsed.get_or_init(|| {
            std::iter::repeat_with(OnceCell::new)
                .take(self.fields.entries.len())
                .collect()
        });
        cells[i]
            .get_or_init(|| match &self.fields.entries[i].value {
                Cow::Borrowed(raw) => serde_json::from_str(raw.get()).ok(),
                Cow::Owned(raw) => serde_json::from_str::<Json<'_>>(raw.get())
                    .ok()
                    .map(Json::into_owned),
            })
            .as_ref()
    }

    /// The value of a string field, trimmed; `None` when absent, not a string, or blank.
    #[inline(always)]
    pub(crate) fn str(&self, name: &str) -> Option<Text<'a>> {
        self.string_at(self.index(name)?).and_then(Text::trimmed)
    }

    /// Whether a string field is present and not blank.
    #[inline(always)]
    pub(crate) fn has(&self, name: &str) -> bool {
        self.str(name).is_some()
    }

    /// An integer field given as a number or as a numeric string.
    #[inline(always)]
    pub(crate) fn int(&self, name: &str) -> Option<i64> {
        self.raw(name).and_then(raw_int)
    }

    /// A field as text: strings trimmed, numbers and booleans as written.
    #[inline(always)]
    pub(crate) fn text(&self, name: &str) -> Option<Text<'a>> {
        let i = self.index(name)?;
        match self.fields.entries[i].value.get().as_bytes().first()? {
            b'"' => self.string_at(i).and_then(Text::trimmed),
            b'{' | b'[' | b'n' => None,
            _ => Some(match &self.fields.entries[i].value {
                Cow::Borrowed(raw) => Text::Str(raw.get()),
                Cow::Owned(raw) => Text::Owned(raw.get().to_owned()),
            }),
        }
    }

    /// The value of a string field, unchanged (not trimmed, may be blank).
    #[inline(always)]
    pub(crate) fn string(&self, name: &str) -> Option<Text<'a>> {
        self.string_at(self.index(name)?)
    }

    /// The string value of entry `i`, unchanged.
    #[inline]
    fn string_at(&self, i: usize) -> Option<Text<'a>> {
        let entry = &self.fields.entries[i];
        if let (true, Cow::Borrowed(raw)) = (entry.plain.get(), &entry.value) {
            return Some(Text::Json(raw));
        }
        let text = lend(&entry.value, |raw| Text::from_json(raw));
        entry.plain.set(matches!(text, Some(Text::Json(_))));
        text
    }

    /// The top level of an object field, its values unparsed (borrowed from the input when the record is); `None`
    /// when absent or not an object.
    pub(crate) fn nested(&self, field: &str) -> Option<Fields<'a>> {
        let i = self.index(field)?;
        match &self.fields.entries[i].value {
            Cow::Borrowed(raw) => parse_object(raw.get()),
            Cow::Owned(raw) => parse_object(raw.get()).map(Fields::into_owned),
        }
    }

    /// A string inside an object field, trimmed and not blank.
    pub(crate) fn nested_str(&self, field: &str, key: &str) -> Option<Text<'a>> {
        self.nested(field)?.str(key)
    }

    /// Removes a field (nothing, after [`Record::keep_all`]).
    #[inline(always)]
    pub(crate) fn remove(&mut self, name: &str) {
        if self.keep_all {
            return;
        }
        if let Some(i) = self.index(name) {
            self.fields.entries[i].taken = true;
        }
    }

    /// Takes a string field that is not blank and returns it unchanged (not trimmed); any other value stays.
    #[inline(always)]
    pub(crate) fn take_string(&mut self, name: &str) -> Option<Text<'a>> {
        let i = self.index(name)?;
        let s = self.string_at(i)?;
        if s.trim().is_empty() {
            return None;
        }
        if !self.keep_all {
            self.fields.entries[i].taken = true;
        }
        Some(s)
    }

    /// Looks up `key` in a Name/Value list field (`ExtendedProperties`, `Parameters`, ...), which may be an array of
    /// `{Name, Value}` objects, the same array serialized as a JSON string, or a plain object.
    pub(crate) fn name_value(&self, field: &str, key: &str) -> Option<String> {
        name_value(self.value(field)?, key)
    }

    /// What is left: the fields nobody took.
    pub(crate) fn into_rest(self) -> Fields<'a> {
        self.fields
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

/// A nested value of a record, parsed for the mapping to read: strings without escapes and keys stay borrowed from
/// the input (a `serde_json::Value` allocates every string and map node, and most of them are never read).
/// Lookups behave as on a `Value`: the last of repeated keys wins, and the any-case fallback takes the first
/// matching key in sorted order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(JsonMap<'a>),
}

/// The members of a [`Json`] object, in input order (repeats included).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct JsonMap<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Json<'a> {
    pub(crate) fn as_object(&self) -> Option<&JsonMap<'a>> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&Vec<Json<'a>>> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub(crate) fn is_array(&self) -> bool {
        matches!(self, Json::Array(_))
    }

    /// A string value, trimmed; `None` when not a string or blank.
    pub(crate) fn non_blank(&self) -> Option<&str> {
        let t = self.as_str()?.trim();
        (!t.is_empty()).then_some(t)
    }

    /// An integer given as a JSON integer, an integral float or a numeric string.
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Json::Number(n) => number_int(n),
            Json::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Strings as they are (trimmed), numbers and booleans spelled out; `None` for blank strings, null, arrays and
    /// objects.
    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Json::String(_) => self.non_blank().map(Cow::Borrowed),
            Json::Number(n) => Some(Cow::Owned(n.to_string())),
            Json::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value` (for the event attributes that copy nested data): what parsing its
    /// text as a `Value` gives.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.clone().into_owned()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(m) => Value::Object(m.to_map()),
        }
    }

    /// The same value, owning its strings.
    fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Number(n) => Json::Number(n),
            Json::String(s) => Json::String(Cow::Owned(s.into_owned())),
            Json::Array(a) => Json::Array(a.into_iter().map(Json::into_owned).collect()),
            Json::Object(m) => Json::Object(JsonMap(
                m.0.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            )),
        }
    }
}

impl<'a> JsonMap<'a> {
    /// A member, exact spelling first (the last of repeats, as in a `Value`), then any ASCII-case variant (the first
    /// in sorted order, as a `Value`'s map iterates).
    pub(crate) fn get(&self, name: &str) -> Option<&Json<'a>> {
        if let Some((_, v)) = self.0.iter().rev().find(|(k, _)| k == name) {
            return Some(v);
        }
        let mut best: Option<&(Cow<'a, str>, Json<'a>)> = None;
        for member in &self.0 {
            if member.0.eq_ignore_ascii_case(name) && best.is_none_or(|b| member.0 <= b.0) {
                best = Some(member);
            }
        }
        best.map(|(_, v)| v)
    }

    /// A member's string, trimmed and not blank.
    pub(crate) fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Json::non_blank)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a member (a later one of the same key wins).
    pub(crate) fn insert(&mut self, key: &'a str, value: Json<'a>) {
        self.0.push((Cow::Borrowed(key), value));
    }

    /// The members as a `Value`'s map.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
            .collect()
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
                // As `Value` does: a float that is not finite (never from JSON text) is null.
                Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
                Json::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Json<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Json<'de>, A::Error> {
                let mut members = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(Key(key)) = access.next_key::<Key<'de>>()? {
                    members.push((key, access.next_value()?));
                }
                Ok(Json::Object(JsonMap(members)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number as an integer: integral floats too (below 2^53, where every integer is exact).
fn number_int(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// See [`Record::name_value`].
pub(crate) fn name_value(list: &Json<'_>, key: &str) -> Option<String> {
    match list {
        Json::Array(items) => items.iter().find_map(|item| {
            let obj = item.as_object()?;
            let name = obj.get("Name")?.as_str()?;
            if name.eq_ignore_ascii_case(key) {
                obj.get("Value").and_then(Json::text).map(Cow::into_owned)
            } else {
                None
            }
        }),
        Json::Object(obj) => obj.get(key).and_then(Json::text).map(Cow::into_owned),
        Json::String(s) => {
            let t = s.trim_start();
            if t.starts_with('[') || t.starts_with('{') {
                let parsed: Json<'_> = serde_json::from_str(t).ok()?;
                name_value(&parsed, key)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Whether `s` is an e-mail address as OCSF's `email_t` pattern accepts it:
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$` (the class `+-/` is the range `+ , - . /`).
pub(crate) fn is_email(s: &str) -> bool {
    // One pass: the local part up to the first `@`, the first domain label up to the next `.`, then the rest;
    // each part not empty and of its class.
    let (mut class, mut len) = (LOCAL, 0);
    for b in s.bytes() {
        if (class == LOCAL && b == b'@') || (class == LABEL && b == b'.') {
            if len == 0 {
                return false;
            }
            (class, len) = (class << 1, 0);
        } else if EMAIL[usize::from(b)] & class == 0 {
            return false;
        } else {
            len += 1;
        }
    }
    class == DOMAIN && len > 0
}

/// Character classes of [`is_email`], one bit each: the local part, the first domain label, the rest of the domain
/// (in this order: `is_email` moves to the next part by shifting the bit).
const LOCAL: u8 = 1;
const LABEL: u8 = 2;
const DOMAIN: u8 = 4;
/// For each byte, the parts of an address it may appear in (a table, so each byte costs one look-up).
static EMAIL: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alnum = c.is_ascii_alphanumeric();
        let mut bits = 0;
        if alnum
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b',' | b'-' | b'.'
            )
            || matches!(
                c,
                b'/' | b'=' | b'?' | b'^' | b'_' | b'`' | b'{' | b'|' | b'}' | b'~'
            )
        {
            bits |= LOCAL;
        }
        if alnum || c == b'-' {
            bits |= LABEL;
        }
        if alnum || c == b'-' || c == b'.' {
            bits |= DOMAIN;
        }
        table[b] = bits;
        b += 1;
    }
    table
};

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
    fn every_known_key_has_its_slot() {
        for (i, key) in KNOWN.iter().enumerate() {
            assert_eq!(slot_of(key), Some(i), "{key}");
            assert_eq!(slot_of_runtime(key), Some(i), "{key}");
        }
        for (a, b) in [
            ("", ""),
            ("Id", "Id"),
            ("Id", "Ix"),
            ("Workload", "Workload"),
            ("ClientIPAddress", "ClientIPAddresS"),
        ] {
            assert_eq!(same_key(a, b), a == b, "{a} {b}");
        }
        assert!(same_key("ExtendedProperties", "ExtendedProperties"));
        assert!(!same_key("ExtendedProperties", "ExtendedPropXrties"));
        assert!(!same_key("ExtendedProperties", "ExtendedPropertie"));
        for other in ["", "id", "Ids", "UserIdX", "Operation ", "X"] {
            assert_eq!(slot_of_runtime(other), None, "{other}");
        }
        // Any case: the first known key that matches (no two known keys differ in case only).
        for key in KNOWN {
            let position = KNOWN.iter().position(|k| k.eq_ignore_ascii_case(key));
            for spelling in [
                key.to_ascii_lowercase(),
                key.to_ascii_uppercase(),
                (*key).to_owned(),
            ] {
                assert_eq!(slot_of_any_case(&spelling), position, "{spelling}");
            }
        }
        assert_eq!(slot_of_any_case("user_id"), None);
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
        assert_eq!(r.into_rest().iter().count(), 1);
    }

    #[test]
    fn name_value_lists_in_every_published_shape() {
        let parse = |v: &Value| {
            let text = v.to_string();
            serde_json::from_str::<Json<'_>>(&text).map(Json::into_owned)
        };
        let arr = json!([{"Name": "UserAgent", "Value": "ua"}, {"Name": "n", "Value": 3}]);
        let list = parse(&arr).expect("JSON");
        assert_eq!(name_value(&list, "useragent").as_deref(), Some("ua"));
        assert_eq!(name_value(&list, "n").as_deref(), Some("3"));
        let s = parse(&Value::String(arr.to_string())).expect("JSON");
        assert_eq!(name_value(&s, "UserAgent").as_deref(), Some("ua"));
        let obj = parse(&json!({"UserAgent": "ua"})).expect("JSON");
        assert_eq!(name_value(&obj, "UserAgent").as_deref(), Some("ua"));
        let not = parse(&json!("not json [")).expect("JSON");
        assert_eq!(name_value(&not, "UserAgent"), None);
    }

    #[test]
    fn nested_values_read_and_convert_as_values_do() {
        // Repeated keys: the last wins; any-case look-ups take the first key in sorted order.
        let text = r#"{"b": 1, "B": 2, "a": {"x": [1.5, "s\u00e9", null, true]}, "b": 3, "A": 4}"#;
        let json: Json<'_> = serde_json::from_str(text).expect("JSON");
        let value: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(json.to_value(), value);
        let (j, v) = (
            json.as_object().expect("object"),
            value.as_object().expect("object"),
        );
        for key in ["b", "B", "a", "A", "x"] {
            assert_eq!(
                j.get(key).map(Json::to_value).as_ref(),
                obj_get(v, key),
                "{key}"
            );
        }
        let escaped: Json<'_> = serde_json::from_str(r#""a\"b""#).expect("JSON");
        assert_eq!(escaped.as_str(), Some("a\"b"));
        assert_eq!(
            json.as_object()
                .and_then(|o| o.get("b"))
                .and_then(Json::int),
            Some(3)
        );
    }

    #[test]
    fn email_check_follows_the_ocsf_pattern() {
        assert!(is_email("admin@contoso.onmicrosoft.com"));
        assert!(is_email("OUTSIDER@ALLOWEDDOMAIN.COM"));
        assert!(!is_email("homer.simpson@simpsons"));
        assert!(!is_email("NT AUTHORITY\\SYSTEM"));
        assert!(!is_email("a@b@c.d"));
        assert!(!is_email("@x.y"));
        for s in [
            "a@b.",
            "a@.b",
            "a.b@c.d.e",
            "a@b.c@d",
            "a@b-c.d-e.f",
            "a b@c.d",
            "@",
            "",
            "a@b",
            "a@b..c",
        ] {
            let reference = s.split_once('@').is_some_and(|(local, domain)| {
                domain.split_once('.').is_some_and(|(first, rest)| {
                    let all = |p: &str, c: u8| {
                        !p.is_empty() && p.bytes().all(|b| EMAIL[usize::from(b)] & c != 0)
                    };
                    all(local, LOCAL) && all(first, LABEL) && all(rest, DOMAIN)
                })
            });
            assert_eq!(is_email(s), reference, "{s}");
        }
        // The table holds the pattern's classes.
        for b in 0..=255u8 {
            let local = b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b);
            assert_eq!(EMAIL[usize::from(b)] & LOCAL != 0, local, "{b}");
            let label = b.is_ascii_alphanumeric() || b == b'-';
            assert_eq!(EMAIL[usize::from(b)] & LABEL != 0, label, "{b}");
            assert_eq!(
                EMAIL[usize::from(b)] & DOMAIN != 0,
                label || b == b'.',
                "{b}"
            );
        }
    }
}
