//! `o365sync normalize [--content-type CT] [--format ocsf|raw] [--include-raw] [FILE|-]`, and
//! `o365sync normalize --stats [--json] [--content-type CT] [FILE|-]`.
//!
//! With `--stats` the command prints fidelity figures instead of events (definitions in [`super::stats`]): an aligned
//! text table, or with `--json` one JSON object ([`super::stats::Report`]). The input is read the same way and the
//! exit codes are the same.
//!
//! Reads JSON lines (one record, or one array of records, per line) or, when the input starts with `[`, a JSON array
//! of records (several arrays one after the other are accepted too), and writes one event per line. Streaming: only
//! one record (one line) is held at a time, so memory does not grow with the input. A malformed line is reported on
//! standard error with its line number and skipped; the command then exits with 3 (finished, with gaps). A malformed
//! JSON array cannot be resynchronized: the error is reported with its line and the command exits with 1 after
//! writing the records before it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::stats::Stats;
use super::{Event, Format, Options, blob_records, normalize_bytes, normalize_value};
use crate::content_type::ContentType;
use crate::exit::Outcome;

/// Exit codes: 0 done, 3 malformed lines were skipped (each reported with its line number), 1 the input could not be
/// read to its end, 2 usage.
#[derive(Debug, clap::Args)]
pub struct NormalizeArgs {
    /// The content type the records came from (guessed from each record when absent).
    #[arg(long)]
    pub content_type: Option<String>,
    /// Output OCSF events, or the records unchanged.
    #[arg(long, value_enum, default_value_t = crate::normalize::Format::Ocsf)]
    pub format: crate::normalize::Format,
    /// Add the original record to each OCSF event as `raw_data`.
    #[arg(long)]
    pub include_raw: bool,
    /// Print fidelity figures (records, events per class, share of actor, source IP, target, session, application
    /// and outcome values that reached a modelled OCSF attribute, unmapped keys) instead of events.
    #[arg(long)]
    pub stats: bool,
    /// With `--stats`: print the figures as one JSON object.
    #[arg(long, requires = "stats")]
    pub json: bool,
    /// Input file (a JSON array or JSON lines); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
}

/// What a stream produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Events written.
    pub events: u64,
    /// Malformed lines skipped.
    pub skipped: u64,
}

/// A stream that could not be processed to its end.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the input or writing the output failed.
    #[error("i/o error: {0}: check the input file and that standard output is writable")]
    Io(#[from] io::Error),
    /// The input is a JSON array that is malformed; nothing after the error can be read.
    #[error(
        "line {line}: malformed JSON array ({message}): fix the input or convert it to JSON lines"
    )]
    Array { line: usize, message: String },
}

/// Runs the command.
pub fn run(args: NormalizeArgs) -> Outcome {
    let content_type = match args.content_type.as_deref().map(str::parse::<ContentType>) {
        None => None,
        Some(Ok(ct)) => Some(ct),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return Outcome::Invalid;
        }
    };
    let opts = Options {
        format: args.format,
        include_raw: args.include_raw,
    };
    let input: Box<dyn Read> = match args.file.as_deref() {
        None => Box::new(io::stdin().lock()),
        Some(p) if p == Path::new("-") => Box::new(io::stdin().lock()),
        Some(p) => match File::open(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!(
                    "error: cannot open {}: {e}: check the path, or pass - to read standard input",
                    p.display()
                );
                return Outcome::Invalid;
            }
        },
    };
    let reader = BufReader::with_capacity(64 * 1024, input);
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout);
    let mut err = io::stderr().lock();
    let result = if args.stats {
        stats_stream(reader, &mut err, content_type).and_then(|(s, stats)| {
            let report = stats.report();
            let text = if args.json {
                let mut json = serde_json::to_string_pretty(&report).map_err(io::Error::other)?;
                json.push('\n');
                json
            } else {
                report.to_text()
            };
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(s)
        })
    } else {
        normalize_stream(reader, &mut out, &mut err, content_type, &opts)
            .and_then(|s| out.flush().map(|()| s).map_err(StreamError::from))
    };
    match result {
        Ok(s) if s.skipped > 0 => {
            let verb = if args.stats { "counted" } else { "written" };
            eprintln!(
                "error: {} malformed line(s) skipped, {} event(s) {verb}",
                s.skipped, s.events
            );
            Outcome::Gaps
        }
        Ok(_) => Outcome::Done,
        Err(StreamError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Outcome::Done,
        Err(e) => {
            eprintln!("error: {e}");
            Outcome::Failed
        }
    }
}

/// Normalizes a stream (a JSON array, or JSON lines) into JSON lines on `out`; malformed lines are reported on
/// `diag` as `line N: ...` and skipped.
pub fn normalize_stream(
    input: impl BufRead,
    out: &mut impl Write,
    diag: &mut impl Write,
    content_type: Option<ContentType>,
    opts: &Options,
) -> Result<Summary, StreamError> {
    let mut buf = Vec::new();
    let mut sink = |_: Input<'_>, event: &Event<'_>| {
        buf.clear();
        event.write_json(&mut buf);
        buf.push(b'\n');
        out.write_all(&buf)
    };
    stream(input, diag, content_type, opts, &mut sink)
}

/// Reads a stream like [`normalize_stream`] and accumulates the fidelity figures of its records and their OCSF
/// events instead of writing them; malformed lines are reported on `diag` and skipped.
pub fn stats_stream(
    input: impl BufRead,
    diag: &mut impl Write,
    content_type: Option<ContentType>,
) -> Result<(Summary, Stats), StreamError> {
    let mut stats = Stats::new();
    let opts = Options {
        format: Format::Ocsf,
        include_raw: false,
    };
    let mut sink = |record: Input<'_>, event: &Event<'_>| {
        let record = match record {
            Input::Bytes(b) => serde_json::from_slice(b).map_err(io::Error::other)?,
            Input::Value(v) => v.clone(),
        };
        stats.add(&record, &event.to_value());
        Ok(())
    };
    let summary = stream(input, diag, content_type, &opts, &mut sink)?;
    Ok((summary, stats))
}

/// One input record, as its bytes or (an object between arrays) as parsed.
enum Input<'a> {
    Bytes(&'a [u8]),
    Value(&'a Value),
}

/// What receives each record and its event.
trait Sink: FnMut(Input<'_>, &Event<'_>) -> io::Result<()> {}
impl<F: FnMut(Input<'_>, &Event<'_>) -> io::Result<()>> Sink for F {}

fn stream(
    mut input: impl BufRead,
    diag: &mut impl Write,
    content_type: Option<ContentType>,
    opts: &Options,
    sink: &mut impl Sink,
) -> Result<Summary, StreamError> {
    skip_bom(&mut input)?;
    if first_byte(&mut input)? == Some(b'[') {
        normalize_array(input, sink, content_type, opts)
    } else {
        normalize_lines(input, sink, diag, content_type, opts)
    }
}

fn skip_bom(input: &mut impl BufRead) -> io::Result<()> {
    if input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    Ok(())
}

/// The first non-whitespace byte, consuming the whitespace before it.
fn first_byte(input: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                input.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

fn normalize_lines(
    mut input: impl BufRead,
    sink: &mut impl Sink,
    diag: &mut impl Write,
    content_type: Option<ContentType>,
    opts: &Options,
) -> Result<Summary, StreamError> {
    let mut summary = Summary::default();
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(summary);
        }
        number += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let blob;
        let records: &[&[u8]] = if text.starts_with(b"[") {
            // A whole blob (array of records) on one line.
            blob = match blob_records(text) {
                Ok(records) => records,
                Err(e) => {
                    skip(diag, number, &e.0, &mut summary)?;
                    continue;
                }
            };
            &blob
        } else {
            std::slice::from_ref(&text)
        };
        for &record in records {
            match normalize_bytes(record, content_type, opts) {
                Ok(event) => {
                    sink(Input::Bytes(record), &event)?;
                    summary.events += 1;
                }
                // Inside a blob that parsed this is not expected, but never dropped silently.
                Err(e) => skip(diag, number, &e.0, &mut summary)?,
            }
        }
    }
}

fn skip(
    diag: &mut impl Write,
    line: usize,
    e: &serde_json::Error,
    summary: &mut Summary,
) -> io::Result<()> {
    summary.skipped += 1;
    writeln!(
        diag,
        "line {line}: skipped, not valid JSON ({e}): fix or remove the line"
    )
}

/// A JSON array document (or several arrays and objects one after the other), each array element normalized as soon
/// as it is parsed.
fn normalize_array(
    input: impl BufRead,
    sink: &mut impl Sink,
    content_type: Option<ContentType>,
    opts: &Options,
) -> Result<Summary, StreamError> {
    let mut summary = Summary::default();
    let mut io_error = None;
    let mut each = |element: Element| -> Result<(), String> {
        let written = match element {
            Element::Raw(raw) => {
                let bytes = raw.get().as_bytes();
                let event =
                    normalize_bytes(bytes, content_type, opts).map_err(|e| e.to_string())?;
                sink(Input::Bytes(bytes), &event)
            }
            Element::Parsed(value) => {
                let event = normalize_value(value.clone(), content_type, opts);
                sink(Input::Value(&value), &event)
            }
        };
        summary.events += 1;
        written.map_err(|e| {
            let msg = e.to_string();
            io_error = Some(e);
            msg
        })
    };
    let mut de = serde_json::Deserializer::from_reader(input);
    let parsed = loop {
        if let Err(e) = Each(&mut each).deserialize(&mut de) {
            break Err(e);
        }
        match de.end() {
            Ok(()) => break Ok(()),
            Err(e) if e.is_io() => break Err(e),
            // Another value follows (one blob per line, say): keep going with the same parser.
            Err(_) => {}
        }
    };
    if let Some(e) = io_error {
        return Err(StreamError::Io(e));
    }
    match parsed {
        Ok(()) => Ok(summary),
        Err(e) if e.is_io() => Err(StreamError::Io(io::Error::other(e.to_string()))),
        Err(e) => Err(StreamError::Array {
            line: e.line(),
            message: e.to_string(),
        }),
    }
}

/// Visits a JSON array, handing each element to a closure as soon as it is parsed.
struct Each<'a, F>(&'a mut F);

/// An element of the stream: a record of an array (kept as its text), or an object on its own.
enum Element {
    Raw(Box<RawValue>),
    Parsed(Value),
}

impl<'de, F: FnMut(Element) -> Result<(), String>> DeserializeSeed<'de> for Each<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Element) -> Result<(), String>> Visitor<'de> for Each<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of audit records, or one audit record")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            (self.0)(Element::Raw(raw)).map_err(A::Error::custom)?;
        }
        Ok(())
    }

    /// A record on its own between arrays.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let v = Value::deserialize(MapAccessDeserializer::new(map))?;
        (self.0)(Element::Parsed(v)).map_err(A::Error::custom)
    }
}
