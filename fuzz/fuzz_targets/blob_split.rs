//! The incremental blob splitter (`api::blob::ArrayParser`) against `serde_json` on the whole body.
//!
//! Input: one byte that seeds the chunking, then the body. The body is fed whole, one byte at a time (every cut at
//! once) and in generated chunks, with and without the per-record JSON check. Whenever `serde_json` reads the body as
//! an array, every feeding must give exactly its elements' text; whenever it does not, the checking parser must fail
//! and the non-checking one must fail or hand over a record that its consumer's check rejects.
#![no_main]

use libfuzzer_sys::fuzz_target;
use o365sync::api::blob::{ArrayParser, BlobError, RawRecord};
use serde_json::value::RawValue;

fn run(parser: ArrayParser, chunks: &[&[u8]]) -> Result<Vec<String>, BlobError> {
    let mut parser = parser;
    let mut out = Vec::new();
    for chunk in chunks {
        parser
            .feed(chunk, &mut |r: RawRecord| {
                out.push(r.json);
                Ok::<(), std::convert::Infallible>(())
            })
            .map_err(|e| match e {
                Ok(b) => b,
                Err(never) => match never {},
            })?;
    }
    let n = parser.finish()?;
    assert_eq!(
        n as usize,
        out.len(),
        "the record count differs from the records emitted"
    );
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = [body];
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    let generated = o365sync_fuzz::chunks(
        body,
        u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) + 1,
    );
    let feedings: [&[&[u8]]; 3] = [&whole, &bytes, &generated];

    // The service may send a UTF-8 byte order mark before the array; serde_json reads none.
    let unmarked = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let expected = serde_json::from_slice::<Vec<&RawValue>>(unmarked);
    // A body nested deeper than serde_json's recursion limit (128) cannot be judged by it: the splitter checks one
    // record at a time, one level less deep than the whole body.
    let undecidable =
        matches!(&expected, Err(e) if e.to_string().starts_with("recursion limit exceeded"));

    for feeding in feedings {
        let checked = run(ArrayParser::new(), feeding);
        let unchecked = run(ArrayParser::without_json_check(), feeding);
        match &expected {
            Ok(values) => {
                let want: Vec<&str> = values.iter().map(|v| v.get()).collect();
                let got = checked.unwrap_or_else(|e| {
                    panic!("serde_json reads the body, the splitter fails: {e}")
                });
                assert_eq!(got, want, "the splitter's records differ from serde_json's");
                let got = unchecked.unwrap_or_else(|e| {
                    panic!("unchecked: serde_json reads the body, the splitter fails: {e}")
                });
                assert_eq!(
                    got, want,
                    "unchecked: the splitter's records differ from serde_json's"
                );
            }
            Err(_) if undecidable => {
                for record in checked.iter().flatten() {
                    serde_json::from_str::<serde::de::IgnoredAny>(record)
                        .unwrap_or_else(|e| panic!("a checked record is not JSON ({e}): {record}"));
                }
            }
            Err(whole_error) => {
                if let Ok(records) = checked {
                    panic!(
                        "serde_json refuses the body ({whole_error}), the splitter accepts it: {records:?}"
                    );
                }
                if let Ok(records) = unchecked {
                    // Without its own check the splitter relies on the consumer rejecting an invalid record: one must
                    // be invalid, or the body's defect is one the consumer never sees.
                    assert!(
                        records
                            .iter()
                            .any(|r| serde_json::from_str::<serde::de::IgnoredAny>(r).is_err()),
                        "serde_json refuses the body ({whole_error}), the unchecked splitter gives only valid records: {records:?}"
                    );
                }
            }
        }
    }
});
