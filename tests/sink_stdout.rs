//! The `stdout` sink: JSON lines flushed per batch, a closed pipe as a clean "output closed", disk full as an error.

mod sink_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use o365sync::content_type::ContentType;
use o365sync::sink::{Sink, SinkError, StdoutSink};
use sink_common::*;

/// A writer whose bytes the test can read back, and which counts flushes.
#[derive(Clone, Default)]
struct Shared {
    bytes: Arc<Mutex<Vec<u8>>>,
    flushes: Arc<Mutex<usize>>,
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        *self.flushes.lock().unwrap() += 1;
        Ok(())
    }
}

#[test]
fn lines_are_flushed_per_batch_and_a_blob_delivered_twice_appears_once() {
    let out = Shared::default();
    let mut sink = StdoutSink::with_writer(Box::new(out.clone()), "test");
    let batches = [
        batch(ContentType::General, 1, 30),
        batch(ContentType::General, 2, 20),
    ];
    for (i, b) in batches.iter().enumerate() {
        let ack = sink.write_blob(b).unwrap();
        assert_eq!(ack.written, b.events.len());
        assert_eq!(*out.flushes.lock().unwrap(), i + 1, "one flush per batch");
    }
    let again = sink.write_blob(&batches[0]).unwrap();
    assert_eq!((again.events, again.written), (30, 0));

    let text = String::from_utf8(out.bytes.lock().unwrap().clone()).unwrap();
    let mut counts = BTreeMap::new();
    count_ids(&text, &mut counts);
    assert_eq!(counts, expected_ids(&batches));
    let first_line = text.lines().next().unwrap();
    assert_eq!(first_line.as_bytes(), batches[0].events[0].line);
}

#[test]
fn a_record_repeated_within_a_blob_is_written_once() {
    let out = Shared::default();
    let mut sink = StdoutSink::with_writer(Box::new(out.clone()), "test");
    let mut b = batch(ContentType::Exchange, 3, 5);
    b.events.push(b.events[2].clone());
    let ack = sink.write_blob(&b).unwrap();
    assert_eq!((ack.events, ack.written), (5, 5));
    assert_eq!(
        out.bytes
            .lock()
            .unwrap()
            .iter()
            .filter(|&&c| c == b'\n')
            .count(),
        5
    );
}

#[test]
fn a_closed_pipe_is_output_closed_and_the_blob_stays_pending() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut sink = StdoutSink::with_writer(Box::new(writer), "pipe");
    let b = batch(ContentType::Exchange, 1, 10);
    let err = sink.write_blob(&b).unwrap_err();
    assert!(matches!(err, SinkError::OutputClosed), "{err:?}");
    assert!(err.is_output_closed());
    assert_eq!(
        err.to_string(),
        "output closed: the reader of standard output went away"
    );
    // Not acknowledged, so not remembered: a later delivery tries again.
    assert!(sink.write_blob(&b).unwrap_err().is_output_closed());
}

#[test]
fn a_pipe_closed_mid_stream_keeps_the_acknowledged_blobs() {
    let (mut reader, writer) = std::io::pipe().unwrap();
    let mut sink = StdoutSink::with_writer(Box::new(writer), "pipe");
    let first = batch(ContentType::Exchange, 1, 3);
    let _ = sink.write_blob(&first).unwrap();
    let mut got = vec![0u8; first.events.iter().map(|e| e.line.len() + 1).sum()];
    reader.read_exact(&mut got).unwrap();
    drop(reader);
    let err = sink
        .write_blob(&batch(ContentType::Exchange, 2, 3))
        .unwrap_err();
    assert!(err.is_output_closed());
    let mut counts = BTreeMap::new();
    count_ids(&String::from_utf8(got).unwrap(), &mut counts);
    assert_eq!(counts, expected_ids(&[first]));
}

#[test]
fn disk_full_is_a_clear_error_not_output_closed() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut sink = StdoutSink::with_writer(Box::new(full), "/dev/full");
    let err = sink
        .write_blob(&batch(ContentType::Exchange, 1, 10))
        .unwrap_err();
    assert!(!err.is_output_closed());
    let text = err.to_string();
    assert!(
        text.starts_with("cannot write to standard output"),
        "{text}"
    );
    assert!(
        text.contains("the file system is full: free space"),
        "{text}"
    );
}

#[test]
fn an_empty_batch_writes_nothing() {
    let out = Shared::default();
    let mut sink = StdoutSink::with_writer(Box::new(out.clone()), "test");
    let ack = sink.write_blob(&batch(ContentType::DlpAll, 1, 0)).unwrap();
    assert_eq!(ack.written, 0);
    assert!(out.bytes.lock().unwrap().is_empty());
}
