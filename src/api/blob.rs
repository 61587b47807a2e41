//! Streaming parse of a content blob (a JSON array of audit records), record by record.
//!
//! The body arrives in chunks; [`ArrayParser`] finds the boundaries of the array's elements (tracking strings,
//! escapes and nesting) and hands each complete element to `serde_json`. Only the record being read is buffered, so
//! memory is bounded by the largest record, not by the blob. A body that ends early or is not a JSON array is an
//! error: the caller discards what it got and fetches the blob again, never delivering half a blob.

use serde_json::Value;

/// One audit record: its exact JSON text as served, already checked to be one valid JSON value. It is not kept
/// parsed: the normalizer reads the bytes itself, so building a `serde_json::Value` per record would be wasted work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The record's JSON text exactly as the service sent it (for `format: raw`).
    pub json: String,
}

impl RawRecord {
    /// The record parsed into a `serde_json::Value` (parsed on each call).
    pub fn value(&self) -> Value {
        // The parser accepted this text as JSON, so this does not fail; `Null` keeps the signature total.
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }

    /// The record's `Id` (the dedup key), matched case-insensitively; `None` when absent or not a string.
    pub fn id(&self) -> Option<String> {
        let Value::Object(obj) = self.value() else {
            return None;
        };
        obj.get("Id")
            .or_else(|| {
                obj.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("id"))
                    .map(|(_, v)| v)
            })
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

/// Why a blob body could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// The body ended before the array was closed.
    #[error(
        "the blob body ended after {records} records before the JSON array was closed (truncated)"
    )]
    Truncated {
        /// Complete records read before the end.
        records: u64,
    },
    /// Not a JSON array of values.
    #[error("the blob body is not a valid JSON array at byte {offset}: {detail}")]
    Invalid {
        /// Byte offset of the problem.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `[`.
    Start,
    /// After `[`: an element or `]`.
    FirstElement,
    /// After `,`: an element.
    NextElement,
    /// Inside an element.
    InElement,
    /// After an element: `,` or `]`.
    AfterElement,
    /// After `]`: only whitespace.
    Done,
}

/// An incremental parser of a JSON array, element by element.
#[derive(Debug)]
pub struct ArrayParser {
    state: State,
    buf: Vec<u8>,
    depth: u32,
    in_string: bool,
    escape: bool,
    offset: u64,
    records: u64,
    high_water: usize,
    /// Bytes of the UTF-8 byte order mark read at the start.
    bom: usize,
    /// Whether each record's JSON syntax is checked here (off when the consumer parses every record anyway).
    check_json: bool,
}

impl Default for ArrayParser {
    fn default() -> Self {
        ArrayParser::new()
    }
}

impl ArrayParser {
    /// A parser at the start of a body.
    pub fn new() -> ArrayParser {
        ArrayParser {
            state: State::Start,
            buf: Vec::new(),
            depth: 0,
            in_string: false,
            escape: false,
            offset: 0,
            records: 0,
            high_water: 0,
            bom: 0,
            check_json: true,
        }
    }

    /// A parser that only follows the array's structure (strings, nesting, separators) and leaves each record's
    /// JSON syntax to the consumer, which must reject an invalid record itself (see
    /// [`crate::api::RecordSink::checks_json`]): one parse per record instead of two.
    pub fn without_json_check() -> ArrayParser {
        ArrayParser {
            check_json: false,
            ..ArrayParser::new()
        }
    }

    /// Records completed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The largest number of bytes ever buffered (the largest record), the parser's memory bound.
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    fn invalid(&self, detail: impl Into<String>) -> BlobError {
        BlobError::Invalid {
            offset: self.offset,
            detail: detail.into(),
        }
    }

    /// Feeds the next chunk of the body; calls `emit` for every record completed in it. An error from `emit` stops
    /// parsing and is returned as `Err(Err(e))`; a parse error as `Err(Ok(blob_error))`.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        emit: &mut impl FnMut(RawRecord) -> Result<(), E>,
    ) -> Result<(), Result<BlobError, E>> {
        let mut i = 0;
        while i < chunk.len() {
            // Fast paths inside a record: copy at once the run of bytes that cannot change the state.
            let rest = &chunk[i..];
            let run = if self.state != State::InElement {
                None
            } else if self.in_string && !self.escape {
                // inside a string only `"` and `\` matter
                Some(memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len()))
            } else if !self.in_string && self.depth > 0 {
                // outside strings only the start of a string and brackets matter (separators and whitespace matter
                // between records only)
                Some(
                    rest.iter()
                        .position(|&c| matches!(c, b'"' | b'{' | b'}' | b'[' | b']'))
                        .unwrap_or(rest.len()),
                )
            } else {
                None
            };
            if let Some(n) = run {
                self.buf.extend_from_slice(&rest[..n]);
                self.offset += n as u64;
                i += n;
                if i == chunk.len() {
                    break;
                }
            }
            self.step(chunk[i], emit)?;
            self.offset += 1;
            i += 1;
        }
        Ok(())
    }

    fn step<E>(
        &mut self,
        b: u8,
        emit: &mut impl FnMut(RawRecord) -> Result<(), E>,
    ) -> Result<(), Result<BlobError, E>> {
        match self.state {
            State::Start => match b {
                // a UTF-8 byte order mark before the array, whole
                _ if self.bom < BOM.len()
                    && self.offset == self.bom as u64
                    && b == BOM[self.bom] =>
                {
                    self.bom += 1
                }
                _ if self.bom != 0 && self.bom != BOM.len() => {
                    return Err(Ok(
                        self.invalid("a partial byte order mark at the start of the blob")
                    ));
                }
                b'[' => self.state = State::FirstElement,
                _ if is_json_whitespace(b) => {}
                _ => return Err(Ok(self.invalid("expected `[` at the start of the blob"))),
            },
            State::FirstElement | State::NextElement => match b {
                _ if is_json_whitespace(b) => {}
                b']' if self.state == State::FirstElement => self.state = State::Done,
                b']' | b',' => return Err(Ok(self.invalid("expected a record"))),
                _ => {
                    self.state = State::InElement;
                    self.element_byte(b, emit)?;
                }
            },
            State::InElement => self.element_byte(b, emit)?,
            State::AfterElement => self.after_element(b)?,
            State::Done => {
                if !is_json_whitespace(b) {
                    return Err(Ok(self.invalid("unexpected data after the closing `]`")));
                }
            }
        }
        Ok(())
    }

    fn after_element<E>(&mut self, b: u8) -> Result<(), Result<BlobError, E>> {
        match b {
            b',' => self.state = State::NextElement,
            b']' => self.state = State::Done,
            _ if is_json_whitespace(b) => {}
            _ => return Err(Ok(self.invalid("expected `,` or `]` after a record"))),
        }
        Ok(())
    }

    fn element_byte<E>(
        &mut self,
        b: u8,
        emit: &mut impl FnMut(RawRecord) -> Result<(), E>,
    ) -> Result<(), Result<BlobError, E>> {
        if self.in_string {
            self.buf.push(b);
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    self.complete(emit)?;
                }
            }
            return Ok(());
        }
        match b {
            b'"' => {
                self.in_string = true;
                self.buf.push(b);
            }
            b'{' | b'[' => {
                self.depth += 1;
                self.buf.push(b);
            }
            b'}' | b']' if self.depth > 0 => {
                self.depth -= 1;
                self.buf.push(b);
                if self.depth == 0 {
                    self.complete(emit)?;
                }
            }
            // end of a scalar element (number, true, false, null) at the top level
            b',' | b']' if self.depth == 0 => {
                self.complete(emit)?;
                self.after_element(b)?;
            }
            _ if is_json_whitespace(b) && self.depth == 0 => self.complete(emit)?,
            _ => self.buf.push(b),
        }
        Ok(())
    }

    fn complete<E>(
        &mut self,
        emit: &mut impl FnMut(RawRecord) -> Result<(), E>,
    ) -> Result<(), Result<BlobError, E>> {
        self.high_water = self.high_water.max(self.buf.len());
        // A full syntax check without building the value (IgnoredAny accepts any JSON value and allocates nothing).
        if self.check_json {
            serde_json::from_slice::<serde::de::IgnoredAny>(&self.buf).map_err(|e| {
                Ok(self.invalid(format!(
                    "record {} is not valid JSON: {e}",
                    self.records + 1
                )))
            })?;
        }
        let json = String::from_utf8(std::mem::take(&mut self.buf))
            .map_err(|_| Ok(self.invalid("record is not UTF-8")))?;
        // keep the allocation for the next record
        self.buf = Vec::with_capacity(json.len().min(1 << 20));
        self.state = State::AfterElement;
        self.records += 1;
        emit(RawRecord { json }).map_err(Err)
    }

    /// The body ended: succeeds with the record count only if the array was closed.
    pub fn finish(&self) -> Result<u64, BlobError> {
        match self.state {
            State::Done => Ok(self.records),
            _ => Err(BlobError::Truncated {
                records: self.records,
            }),
        }
    }
}

/// The UTF-8 byte order mark, which may precede the array.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// JSON's whitespace (RFC 8259): space, tab, line feed, carriage return; not the form feed ASCII counts.
fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Parses a whole body at once (for small bodies and tests).
pub fn parse_all(body: &[u8]) -> Result<Vec<RawRecord>, BlobError> {
    let mut p = ArrayParser::new();
    let mut out = Vec::new();
    p.feed(body, &mut |r| {
        out.push(r);
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        Ok(b) => b,
        Err(never) => match never {},
    })?;
    p.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(records: &[RawRecord]) -> Vec<String> {
        records.iter().filter_map(|r| r.id()).collect()
    }

    #[test]
    fn parses_records_with_tricky_strings() {
        let body = br#" [ {"Id":"a","X":"}],[\"{"} ,{"id":"b","N":[1,[2,{"c":"]"}]]},
            {"Id":"c","Data":"{\"k\":\"v\\\\\"}"} ] "#;
        let recs = parse_all(body).unwrap();
        assert_eq!(ids(&recs), ["a", "b", "c"]);
        assert_eq!(recs[0].json, r#"{"Id":"a","X":"}],[\"{"}"#);
    }

    /// Found while writing the oracle of the `blob_split` fuzz target (serde_json on the whole body): any of the
    /// byte order mark's bytes in any order, and ASCII whitespace that JSON does not allow (form feed), were accepted.
    #[test]
    fn only_a_whole_byte_order_mark_and_json_whitespace_are_accepted() {
        for bad in [
            &b"\xBB[]"[..],
            b"\xEF\xEF\xEF[]",
            b"\xEF [\xBF]",
            b"\xEF\xBB[]",
            b"\x0c[]",
            b"[1\x0c]",
            b"[{}\x0c,{}]",
            b"[]\x0c",
        ] {
            assert!(parse_all(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_all(b"\xEF\xBB\xBF \t\r\n[1 ,\n2]\r\n").unwrap().len(),
            2
        );
    }

    #[test]
    fn empty_array_and_scalars() {
        assert!(parse_all(b"[]").unwrap().is_empty());
        assert!(parse_all(b"\xEF\xBB\xBF[ ]\n").unwrap().is_empty());
        let recs = parse_all(br#"[1, "two" ,null,{"Id":"x"}]"#).unwrap();
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[1].value(), Value::String("two".into()));
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let full = br#"[{"Id":"a"},{"Id":"b"},{"Id":"c"}]"#;
        for cut in 0..full.len() {
            let err = parse_all(&full[..cut]);
            assert!(err.is_err(), "cut at {cut} accepted");
        }
        assert!(matches!(
            parse_all(br#"[{"Id":"a"},{"Id":"b"#),
            Err(BlobError::Truncated { records: 1 })
        ));
        for bad in [
            &br#"{"Id":"a"}"#[..],
            br#"[{"Id":"a"},]"#,
            br#"[,{"Id":"a"}]"#,
            br#"[{"Id":"a"} {"Id":"b"}]"#,
            br#"[{"Id":"a"}] x"#,
            br#"[{"Id":a}]"#,
            b"<html>503</html>",
        ] {
            assert!(
                matches!(parse_all(bad), Err(BlobError::Invalid { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn memory_is_bounded_by_the_largest_record() {
        let record = format!(
            r#"{{"Id":"{}","Pad":"{}"}}"#,
            "0".repeat(36),
            "p".repeat(1000)
        );
        let mut p = ArrayParser::new();
        let mut n = 0u64;
        p.feed(b"[", &mut |_| Ok::<(), ()>(())).unwrap();
        for i in 0..20_000 {
            let chunk = if i == 0 {
                record.clone()
            } else {
                format!(",{record}")
            };
            // feed in small pieces, as a network stream would
            for piece in chunk.as_bytes().chunks(700) {
                p.feed(piece, &mut |_| {
                    n += 1;
                    Ok::<(), ()>(())
                })
                .unwrap();
            }
        }
        p.feed(b"]", &mut |_| Ok::<(), ()>(())).unwrap();
        assert_eq!(p.finish(), Ok(20_000));
        assert_eq!(n, 20_000);
        // ~21 MB went through; the parser never held more than one record
        assert_eq!(p.high_water(), record.len());
    }

    #[test]
    fn emit_errors_stop_parsing() {
        let mut p = ArrayParser::new();
        let r = p.feed(br#"[{"Id":"a"},{"Id":"b"}]"#, &mut |_| Err("sink full"));
        assert_eq!(r, Err(Err("sink full")));
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_records(
            values in proptest::collection::vec(any::<(String, i64, bool)>(), 0..20),
            cuts in proptest::collection::vec(1usize..50, 1..10),
        ) {
            let arr: Vec<Value> = values
                .iter()
                .map(|(s, n, b)| serde_json::json!({"Id": s, "N": n, "B": b, "Nested": [{"s": s}]}))
                .collect();
            let body = serde_json::to_vec_pretty(&arr).unwrap();
            let mut p = ArrayParser::new();
            let mut got = Vec::new();
            let mut rest = &body[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                p.feed(&rest[..n], &mut |r: RawRecord| { got.push(r.value()); Ok::<(), ()>(()) }).unwrap();
                rest = &rest[n..];
                i += 1;
            }
            prop_assert_eq!(p.finish(), Ok(arr.len() as u64));
            prop_assert_eq!(got, arr);
        }
    }
}
