//! `o365sync … | head -n 1`: the stdout sink writing into a pipe whose reader exits must end the process cleanly
//! with exit code 0. This test binary has no libtest harness: run plainly it is the test; run with
//! `O365SYNC_SINK_PIPE_CHILD=1` it is the writer, mapping sink outcomes to exit codes as the executor does.

mod sink_common;

use std::process::{Command, ExitCode, Stdio};

use o365sync::content_type::ContentType;
use o365sync::exit::Outcome;
use o365sync::sink::{Sink, StdoutSink};

fn main() -> ExitCode {
    if std::env::var_os("O365SYNC_SINK_PIPE_CHILD").is_some() {
        return child().into();
    }
    parent();
    println!("sink_pipe: stdout into `head -n 1` exits 0 ... ok");
    ExitCode::SUCCESS
}

/// Writes blobs forever (far more than a pipe buffer) until the sink reports the output closed.
fn child() -> Outcome {
    let mut sink = StdoutSink::stdout();
    for n in 0.. {
        match sink.write_blob(&sink_common::batch(ContentType::Exchange, n, 100)) {
            Ok(_ack) => {} // the executor would mark the blob done here
            Err(e) if e.is_output_closed() => return Outcome::Done,
            Err(e) => {
                eprintln!("error: {e}");
                return Outcome::Failed;
            }
        }
    }
    Outcome::Failed
}

fn parent() {
    let exe = std::env::current_exe().expect("own path");
    let mut writer = Command::new(exe)
        .env("O365SYNC_SINK_PIPE_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let pipe = writer.stdout.take().expect("piped stdout");
    let head = Command::new("head")
        .args(["-n", "1"])
        .stdin(Stdio::from(pipe))
        .output()
        .expect("run head");
    let status = writer.wait().expect("writer exits");
    let stderr = {
        let mut s = String::new();
        if let Some(mut e) = writer.stderr.take() {
            std::io::Read::read_to_string(&mut e, &mut s).expect("stderr");
        }
        s
    };
    assert_eq!(
        status.code(),
        Some(0),
        "writer exit status {status}; stderr: {stderr}"
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    let line = String::from_utf8(head.stdout).expect("UTF-8");
    assert_eq!(line.lines().count(), 1);
    let value: serde_json::Value = serde_json::from_str(line.trim_end()).expect("a JSON line");
    assert_eq!(
        value["metadata"]["uid"],
        "00000000-0000-4000-8000-000000000000"
    );
}
