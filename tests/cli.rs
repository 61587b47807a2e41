//! The command-line contract: help, usage errors and unbuilt commands.

use std::process::Command;

fn o365sync(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(args)
        .output()
        .expect("run o365sync")
}

#[test]
fn help_lists_every_command_of_the_design_brief() {
    let out = o365sync(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "validate",
        "plan",
        "run",
        "shards",
        "backfill",
        "state",
        "normalize",
        "doctor",
        "emulator",
        "demo",
        "schema",
    ] {
        assert!(
            text.contains(&format!("  {cmd} ")),
            "help lacks {cmd}:\n{text}"
        );
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let out = o365sync(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
