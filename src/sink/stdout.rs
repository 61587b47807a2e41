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

use super::{Ack, Batch, Sink, SinkError, unique_events};

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
    fn write_blob(&mut self, batch: &Batch) -> Result<Ack, SinkError> {
        let events = unique_events(batch)?;
        if self.delivered.contains(&batch.content_id) {
            return Ok(Ack {
                events: events.len(),
                written: 0,
            });
        }
        self.buf.clear();
        for event in &events {
            self.buf.extend_from_slice(&event.line);
            self.buf.push(b'\n');
        }
        let result = self
            .out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush());
        if self.buf.capacity() > 16 * 1024 * 1024 {
            self.buf = Vec::new();
        }
        match result {
            Ok(()) => {
                self.delivered.insert(batch.content_id.clone());
                Ok(Ack {
                    events: events.len(),
                    written: events.len(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(SinkError::OutputClosed),
            Err(cause) => Err(SinkError::Stdout { cause }),
        }
    }

    fn describe(&self) -> String {
        self.name.to_owned()
    }
}
