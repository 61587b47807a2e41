//! The GitOps pieces a jobs repository relies on (the behaviour of changed job files is in tests/gitops.rs): the pre-commit hook definition runs a real command of our CLI, and
//! docs/gitops.md's job file, throwaway-certificate script and `o365sync …` command lines work as written.

use std::path::Path;
use std::process::Command;

use clap::Parser;
use o365sync::cli::{Cli, Command as Sub};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// One hook of `.pre-commit-hooks.yaml`, with the keys pre-commit reads that we set.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Hook {
    id: String,
    name: String,
    description: String,
    entry: String,
    language: String,
    files: String,
    pass_filenames: bool,
    require_serial: bool,
}

#[test]
fn the_pre_commit_hook_runs_validate_on_the_files_it_is_given() {
    let hooks: Vec<Hook> =
        serde_saphyr::from_str(&read(".pre-commit-hooks.yaml")).expect("valid YAML");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook = &hooks[0];
    assert_eq!(hook.id, "o365sync-validate");
    assert!(!hook.name.is_empty() && !hook.description.is_empty());
    assert!(
        ["rust", "system"].contains(&hook.language.as_str()),
        "{}",
        hook.language
    );
    assert_eq!(hook.files, r"\.ya?ml$");
    assert!(
        hook.pass_filenames,
        "only the changed job files are validated"
    );
    assert!(
        hook.require_serial,
        "one process sees every file (duplicate names)"
    );

    // pre-commit runs `entry`, then the hook's args, then the file names.
    let mut argv: Vec<&str> = hook.entry.split_whitespace().collect();
    assert_eq!(
        argv[0], "o365sync",
        "the binary `cargo install` puts on PATH"
    );
    argv.extend(["--strict", "jobs/a.yaml", "jobs/b.yml"]);
    let cli = Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("`{}` does not parse: {e}", argv.join(" ")));
    match cli.command {
        Sub::Validate(args) => {
            assert!(args.strict);
            assert_eq!(
                args.paths,
                [Path::new("jobs/a.yaml"), Path::new("jobs/b.yml")]
            );
        }
        other => panic!("the hook runs {other:?}, not validate"),
    }
}

/// The fenced code blocks of a Markdown text, with their info strings.
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        match current.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    current = Some((info.trim().to_owned(), String::new()));
                }
            }
            Some((info, mut body)) => {
                if trimmed.trim_end() == "```" {
                    blocks.push((info, body));
                } else {
                    body.push_str(line);
                    body.push('\n');
                    current = Some((info, body));
                }
            }
        }
    }
    blocks
}

/// Every `o365sync ARGS…` invocation in `text`: from the word `o365sync` to the end of its shell command (a
/// redirection, pipe, `;`, `||`, `&&` or comment), quotes removed.
fn invocations(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut from = 0;
        while let Some(i) = line[from..].find("o365sync ").map(|i| i + from) {
            from = i + 1;
            let before = line[..i].chars().last();
            if before.is_some_and(|c| !matches!(c, ' ' | '(' | '`')) {
                continue;
            }
            let mut command = &line[i..];
            for end in [" >", " |", " ;", ";", " &&", " #", " 2>", "`"] {
                if let Some(at) = command.find(end) {
                    command = &command[..at];
                }
            }
            let argv: Vec<String> = command
                .split_whitespace()
                .map(|w| w.trim_matches('"').to_owned())
                .collect();
            if argv.len() > 1 {
                found.push(argv);
            }
        }
    }
    found
}

#[test]
fn every_o365sync_command_in_the_gitops_page_parses() {
    let page = read("docs/gitops.md");
    let mut checked = 0;
    for (_, body) in fenced_blocks(&page) {
        for argv in invocations(&body) {
            if let Err(e) = Cli::try_parse_from(&argv) {
                panic!(
                    "docs/gitops.md command `{}` does not parse: {e}",
                    argv.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} commands found");
}

#[test]
fn the_gitops_job_file_validates_with_the_pages_throwaway_certificates() {
    let page = read("docs/gitops.md");
    let blocks = fenced_blocks(&page);
    let job = blocks
        .iter()
        .find(|(info, body)| info == "yaml" && body.contains("\nversion: 1\n"))
        .map(|(_, body)| body.clone())
        .expect("a job file on the page");
    let script = blocks
        .iter()
        .find(|(info, body)| info == "sh" && body.starts_with("#!/bin/sh\n"))
        .map(|(_, body)| body.clone())
        .expect("the throwaway-certificate script on the page");
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED: openssl is not installed, the page's script cannot run here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::create_dir_all(dir.path().join("ci")).unwrap();
    std::fs::write(dir.path().join("jobs/contoso-gcc.yaml"), &job).unwrap();
    std::fs::write(dir.path().join("ci/throwaway-certs.sh"), &script).unwrap();
    let certs = dir.path().join(".certs");
    let status = Command::new("sh")
        .arg("ci/throwaway-certs.sh")
        .arg(&certs)
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(certs.join("contoso-gcc/key.pem").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(["validate", "--strict", "--format", "github", "jobs/"])
        .current_dir(dir.path())
        .env("O365SYNC_CERTS", &certs)
        .env("O365SYNC_OUT", dir.path().join("out"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).as_ref()
        ),
        (Some(0), ""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without the variable the job points at the production mount, which is not here: a located error.
    let out = Command::new(env!("CARGO_BIN_EXE_o365sync"))
        .args(["validate", "--format", "github", "jobs/"])
        .current_dir(dir.path())
        .env_remove("O365SYNC_CERTS")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("::error file=jobs/contoso-gcc.yaml,line=8,col=16::certificate file /etc/o365sync/certs/contoso-gcc/certificate.pem does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
