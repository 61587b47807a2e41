//! The `stdout` sink: JSON lines on standard output (or any writer), flushed once per batch.
//!
//! A closed pipe (EPIPE, e.g. `o365sync run job.yaml | head -n 1`) is reported as [`SinkError::OutputClosed`], which
//! the executor turns into a clean stop with exit code 0 and the blob left not done. The Rust runtime ignores
//! `SIGPIPE`, so the write returns the error instead of killing the process.
//!
//! A stream cannot take lines back, so idempotence here is: within one process a blob already written is skipped
//! when delivered again; across runs the content ledger never re-delivers a blob it marked done. A crash between the
//! flush and the ledger commit makes the next run write that one blob again (at-least-once): use `jsonl` or `sqlite`
//! when that matters.

use std::collections::HashSet;
use std::io::{self, Write};

use super::{Ack, BlobMeta, EventParts, Sink, SinkError, UniqueEvents};

/// The `stdout` sink.
pub struct StdoutSink {
    out: Box<dyn Write + Send>,
    name: &'static str,
    delivered: HashSet<String>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("name", &self.name)
            .field("delivered", &self.delivered.len())
            .finish_non_exhaustive()
    }
}

impl StdoutSink {
    /// Writes to the process's standard output.
    pub fn stdout() -> Self {
        Self::with_writer(Box::new(io::stdout()), "stdout")
    }

    /// Writes to any writer (a pipe, a file such as `/dev/full`, a buffer); `name` is used in [`Sink::describe`].
    pub fn with_writer(out: Box<dyn Write + Send>, name: &'static str) -> Self {
        StdoutSink {
            out,
            name,
            delivered: HashSet::new(),
            buf: Vec::new(),
        }
    }
}

impl Sink for StdoutSink {
    fn write_parts(
        &mut self,
        blob: &BlobMeta,
        parts: &mut dyn EventParts,
    ) -> Result<Ack, SinkError> {
        let mut unique = UniqueEvents::new(blob);
        // A blob this process already wrote is checked, not written again.
        let again = self.delivered.contains(&blob.content_id);
        while let Some(part) = parts.next_part()? {
            self.buf.clear();
            for event in part {
                if unique.admit(event)? && !again {
                    self.buf.extend_from_slice(&event.line);
                    self.buf.push(b'\n');
                }
            }
            if !self.buf.is_empty() {
                self.out.write_all(&self.buf).map_err(write_error)?;
            }
        }
        self.out.flush().map_err(write_error)?;
        if self.buf.capacity() > 16 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        self.delivered.insert(blob.content_id.clone());
        Ok(Ack {
            events: unique.len(),
            written: if again { 0 } else { unique.len() },
        })
    }

    fn describe(&self) -> String {
        self.name.to_owned()
    }
}

fn write_error(e: io::Error) -> SinkError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        SinkError::OutputClosed
    } else {
        SinkError::Stdout { cause: e }
    }
}
