//! Arbitrary input never panics the job-file reader: every string gets a value or a located diagnostic.

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;
use o365sync::job::duration::{format_duration, parse_duration, parse_when};
use o365sync::job::expand::expand;
use o365sync::job::{Context, load_str};
use proptest::prelude::*;

const GOOD: &str = "version: 1\nname: p\ntenant:\n  id: 8f3a1c2e-5b7d-4e9f-a1b2-c3d4e5f60718\n  cloud: gcc\n  \
client_id: 0d9e8f7a-6b5c-4d3e-2f1a-0b9c8d7e6f5a\n  certificate: c.pem\n  private_key: k.pem\nsync:\n  window: 1h\n\
sink:\n  type: stdout\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn durations_round_trip_through_their_printed_form(secs in 0i64..3650 * 86_400) {
        let d = jiff::SignedDuration::from_secs(secs);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn scalar_parsers_never_panic(s in ".{0,40}") {
        let _ = parse_duration(&s);
        let _ = parse_when(&s);
        let _ = expand(&s, &HashMap::new());
    }

    #[test]
    fn any_edit_of_a_job_file_loads_or_gives_located_errors(
        at in 0usize..GOOD.len(),
        cut in 0usize..12,
        insert in "[ -~\\n]{0,12}",
    ) {
        let mut text = GOOD.to_string();
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(text.len());
        text.replace_range(at..end, &insert);
        let env = HashMap::new();
        let ctx = Context { env: &env, now: Timestamp::UNIX_EPOCH };
        if let Err(diags) = load_str(&text, Path::new("/nonexistent/p.yaml"), &ctx) {
            prop_assert!(diags.errors().count() >= 1);
            let lines = text.lines().count().max(1) as u32 + 1;
            for d in &diags.0 {
                prop_assert!(d.line >= 1 && d.line <= lines, "{d} outside the file:\n{text}");
                prop_assert!(d.column >= 1);
                prop_assert!(!d.help.is_empty());
            }
        }
    }
}
