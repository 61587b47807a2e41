//! Job files (design brief §2), in three phases:
//!
//! 1. [`raw`]: YAML → serde types that keep every value's line and column (serde-saphyr `Spanned`); unknown keys are
//!    rejected there, and the same types generate the JSON Schema ([`schema`]).
//! 2. `validate`: pure — `${VAR}` expansion (the environment is an input), GUIDs, the name
//!    pattern, clouds, content types, durations, window and lookback limits, sink and endpoints. Every problem of a
//!    file is reported, not only the first.
//! 3. `build`: paths resolved against the job file's directory; the certificate, private key and
//!    passphrase file must exist and be readable.
//!
//! Each problem is a [`Diagnostic`] printed as `file:line:column: message` with a `help:` line.

pub mod cli;
pub mod diag;
pub mod duration;
pub mod expand;
pub mod model;
pub mod raw;

mod build;
mod validate;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

pub use diag::{Diagnostic, Diagnostics, Issue, Loc, Severity};
pub use expand::{Env, ProcessEnv};
pub use model::{
    Compression, Endpoints, FileMode, Job, Output, OutputFormat, Passphrase, Signing, Sink, Sync,
    Tenant, When,
};
pub use validate::{
    Context, DEFAULT_LOOKBACK, DEFAULT_MAX_REQUESTS_PER_MINUTE, DEFAULT_START, DEFAULT_WINDOW,
    MAX_LOOKBACK,
};

/// A job that loaded, with the warnings it gave (for example a start clamped to retention).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The resolved job.
    pub job: Job,
    /// Where `name:` was written (for duplicate-name errors across files).
    pub name_at: Loc,
    /// Where `tenant.id` was written (for a job whose state belongs to another tenant).
    pub tenant_id_at: Loc,
    /// Where `tenant.cloud` was written.
    pub cloud_at: Loc,
    /// Warnings; the job is usable anyway.
    pub warnings: Vec<Diagnostic>,
    /// The certificate credential, loaded and checked (key match, validity, key size) when the job loaded.
    pub credential: std::sync::Arc<crate::auth::Credential>,
    /// The Logs Ingestion sink's own credential (`sink.auth`), loaded and checked the same way; `None`: the sink
    /// uses `credential`.
    pub sink_credential: Option<std::sync::Arc<crate::auth::Credential>>,
}

/// Parses a job file's text into its raw, located form (phase 1).
pub fn parse(text: &str) -> Result<raw::RawJob, Issue> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    if let Some(issue) = control_character(text) {
        return Err(issue);
    }
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let issue = within_text(diag::from_yaml(&e), text);
        point_at_parent(issue, text)
    })
}

/// The first character refused in a job file, as an issue at its place: a control character other than tab (YAML
/// does not allow them; such a file is damaged or not text), or a carriage return without a line feed (old Mac line
/// endings, which YAML parsers do not agree on, so no line number could be trusted).
fn control_character(text: &str) -> Option<Issue> {
    for (i, line) in yaml_lines(text).iter().enumerate() {
        if let Some((column, c)) = line
            .chars()
            .enumerate()
            .find(|(_, c)| c.is_control() && *c != '\t')
        {
            let (message, help) = if c == '\r' {
                (
                    "the job file has a carriage return without a line feed".to_owned(),
                    "save the file with LF (or CRLF) line endings",
                )
            } else {
                (
                    format!(
                        "the job file contains the control character U+{:04X}",
                        u32::from(c)
                    ),
                    "remove it: a job file is plain UTF-8 text (a damaged or binary file ends up like this)",
                )
            };
            return Some(Issue::error(
                Loc {
                    line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    column: u32::try_from(column + 1).unwrap_or(u32::MAX),
                },
                message,
                help,
            ));
        }
    }
    None
}

/// The lines of a job file: split at LF, each without the CR of a CRLF.
fn yaml_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// An end of input in a text that has content is said to be one, not an empty file.
fn within_text(mut issue: Issue, text: &str) -> Issue {
    let has_content = yaml_lines(text).iter().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && t != "---"
    });
    if issue.message == diag::EMPTY_FILE && has_content {
        issue.message = "the job file ends in the middle of a value".into();
        issue.help =
            "close the `[`, `{` or quote still open, or finish the last key's value".into();
    }
    located_in(issue, text)
}

/// An issue past the last line (YAML reports the end of input after the last line break) is placed at the end of
/// the last line.
fn located_in(mut issue: Issue, text: &str) -> Issue {
    let lines = yaml_lines(text);
    let last = u32::try_from(lines.len()).unwrap_or(u32::MAX);
    if issue.loc.line > last {
        let width = lines.last().map_or(0, |l| l.chars().count());
        issue.loc = Loc {
            line: last.max(1),
            column: u32::try_from(width + 1).unwrap_or(u32::MAX),
        };
    }
    issue
}

/// How many unknown keys of one file are reported before giving up on the rest.
const MAX_UNKNOWN_KEYS: usize = 32;

/// Parses a job file's text like [`parse`], but does not stop at an unknown key: a key written in block style
/// (alone at the start of its line) is reported, blanked out together with its indented value, and the text parsed
/// again, so that one run reports every unknown key and, when nothing else is wrong with the YAML, the problems
/// validation finds too. Returns the parsed file when the rest of it parsed, and the issues (all errors).
pub fn parse_all(original: &str) -> (Option<raw::RawJob>, Vec<Issue>) {
    let mut text = std::borrow::Cow::Borrowed(original);
    let mut issues = Vec::new();
    while issues.len() < MAX_UNKNOWN_KEYS {
        match parse(&text) {
            Ok(raw) => return (Some(raw), issues),
            Err(issue) => {
                let rest = is_unknown_key(&issue)
                    .then(|| without_key(&text, issue.loc))
                    .flatten();
                // located in the file as written, not in the text with unknown keys blanked out
                issues.push(located_in(issue, original));
                match rest {
                    Some(rest) => text = std::borrow::Cow::Owned(rest),
                    None => return (None, issues),
                }
            }
        }
    }
    (None, issues)
}

fn is_unknown_key(issue: &Issue) -> bool {
    issue.message.starts_with("unknown key `")
        || issue
            .message
            .starts_with("`client_secret` is not supported")
}

/// `text` with the block-style key at `at` and its value (the lines indented deeper below it) replaced by empty lines,
/// so every other line keeps its number; `None` when no block-style key starts at `at`.
fn without_key(text: &str, at: Loc) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let index = usize::try_from(at.line).ok()?.checked_sub(1)?;
    let indent = usize::try_from(at.column).ok()?.checked_sub(1)?;
    let line = lines.get(index)?;
    let (prefix, key) = line.split_at(line.char_indices().nth(indent)?.0);
    if !prefix.chars().all(|c| c == ' ') || key.starts_with([' ', '-', '#', '{', '[']) {
        return None;
    }
    // `key:` alone on its line may take a list written at its own indentation (`- item`).
    let bare = key
        .split_once(':')
        .is_some_and(|(_, v)| v.trim().is_empty() || v.trim_start().starts_with('#'));
    let value_lines = lines[index + 1..]
        .iter()
        .take_while(|l| {
            let t = l.trim_start();
            let depth = l.len() - t.len();
            t.is_empty()
                || t.starts_with('#')
                || depth > indent
                || (bare && depth == indent && (t == "-" || t.starts_with("- ")))
        })
        .count();
    let mut out = String::with_capacity(text.len());
    for (i, l) in lines.iter().enumerate() {
        if !(index..=index + value_lines).contains(&i) {
            out.push_str(l);
        }
        out.push('\n');
    }
    Some(out)
}

/// serde reports a missing key where the mapping ended; point at the key that owns the mapping instead (block style),
/// and name it (`3:1: missing key `cloud` in `tenant``); a missing top-level key points at the document's start.
fn point_at_parent(mut issue: Issue, text: &str) -> Issue {
    if !issue.message.starts_with("missing key") {
        return issue;
    }
    let lines: Vec<&str> = text.lines().collect();
    if issue.loc.column <= 1 {
        // A top-level key: point at the start of the document's mapping.
        let first = lines.iter().position(|l| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#') && t != "---"
        });
        issue.loc = Loc {
            line: first.map_or(1, |i| u32::try_from(i + 1).unwrap_or(u32::MAX)),
            column: 1,
        };
        return issue;
    }
    let at = issue.loc.line as usize;
    let child_indent = issue.loc.column as usize - 1;
    let parent = lines
        .iter()
        .enumerate()
        .take(at.saturating_sub(1))
        .rev()
        .find(|(_, l)| {
            let trimmed = l.trim_start();
            !trimmed.is_empty()
                && !trimmed.starts_with('#')
                && l.len() - trimmed.len() < child_indent
        });
    if let Some((i, l)) = parent {
        let indent = l.len() - l.trim_start().len();
        if let Some((key, rest)) = l.trim_start().split_once(':')
            && rest.trim().is_empty()
            && !key.is_empty()
        {
            issue.message = format!("{} in `{}`", issue.message, key.trim());
            issue.loc = Loc {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(indent + 1).unwrap_or(u32::MAX),
            };
        }
    }
    issue
}

/// Loads a job from its text; `file` names it in diagnostics and anchors its relative paths.
pub fn load_str(text: &str, file: &Path, ctx: &Context<'_>) -> Result<Loaded, Diagnostics> {
    let in_file =
        |issues: Vec<Issue>| Diagnostics(issues.into_iter().map(|i| i.in_file(file)).collect());
    let (raw, unknown) = parse_all(text);
    let raw = raw.ok_or_else(|| in_file(unknown.clone()))?;
    let checked = match validate::validate(&raw, ctx) {
        Ok(checked) if unknown.is_empty() => checked,
        Ok(checked) => {
            return Err(in_file(
                unknown.into_iter().chain(checked.warnings).collect(),
            ));
        }
        Err(issues) => {
            let (mut errors, warnings): (Vec<Issue>, Vec<Issue>) = unknown
                .into_iter()
                .chain(issues)
                .partition(|i| i.severity == Severity::Error);
            errors.sort_by_key(|i| i.loc);
            return Err(in_file(errors.into_iter().chain(warnings).collect()));
        }
    };
    let warnings: Vec<Diagnostic> = checked
        .warnings
        .iter()
        .cloned()
        .map(|i| i.in_file(file))
        .collect();
    match build::build(checked, file, ctx.now) {
        Ok(built) => Ok(Loaded {
            job: built.job,
            name_at: Loc::of(&raw.name),
            tenant_id_at: Loc::of(&raw.tenant.value.id),
            cloud_at: Loc::of(&raw.tenant.value.cloud),
            warnings: warnings
                .into_iter()
                .chain(built.warnings.into_iter().map(|i| i.in_file(file)))
                .collect(),
            credential: std::sync::Arc::new(built.credential),
            sink_credential: built.sink_credential.map(std::sync::Arc::new),
        }),
        Err(errors) => {
            let mut all: Vec<Diagnostic> = errors.into_iter().map(|i| i.in_file(file)).collect();
            all.extend(warnings);
            Err(Diagnostics(all))
        }
    }
}

/// Loads a job file.
pub fn load(file: &Path, ctx: &Context<'_>) -> Result<Loaded, Diagnostics> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Diagnostics(vec![
            Issue::error(
                Loc::START,
                format!("cannot read job file: {e}"),
                "check the path; a job file is a UTF-8 YAML file",
            )
            .in_file(file),
        ])
    })?;
    load_str(&text, file, ctx)
}

/// Loads a job file against the process environment and the current time.
pub fn load_current(file: &Path) -> Result<Loaded, Diagnostics> {
    load(
        file,
        &Context {
            env: &ProcessEnv,
            now: Timestamp::now(),
        },
    )
}

/// The job files named by `paths`: files as given, directories as their `*.yaml` / `*.yml` files (not recursive),
/// sorted. A directory without job files, or a path that does not exist, is a diagnostic.
pub fn job_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                problems.push(
                    Issue::error(
                        Loc::START,
                        format!("cannot read directory: {e}"),
                        "check the path and its permissions",
                    )
                    .in_file(path),
                );
                continue;
            }
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml"))
            })
            .collect();
        found.sort();
        if found.is_empty() {
            problems.push(
                Issue::error(
                    Loc::START,
                    "no job files (*.yaml, *.yml) in this directory",
                    "name job files NAME.yaml",
                )
                .in_file(path),
            );
        }
        files.extend(found);
    }
    (files, problems)
}

/// The outcome of loading several job files: every good job and every bad file's diagnostics.
#[derive(Debug, Default)]
pub struct Batch {
    /// Every path reported on, in order: the directories that gave a diagnostic, then the job files as examined.
    pub files: Vec<PathBuf>,
    /// Jobs that loaded, in file order.
    pub loaded: Vec<Loaded>,
    /// Problems: one `Diagnostics` per bad file (or bad directory), its warnings included.
    pub failed: Vec<Diagnostics>,
}

/// Loads every job file named by `paths` (see [`job_files`]), reporting every bad file, and rejecting a job name used
/// by two files (they would share state).
pub fn load_all(paths: &[PathBuf], ctx: &Context<'_>) -> Batch {
    let (files, problems) = job_files(paths);
    let mut batch = Batch {
        files: problems.iter().map(|d| d.file.clone()).collect(),
        failed: problems.into_iter().map(|d| Diagnostics(vec![d])).collect(),
        ..Batch::default()
    };
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for file in files {
        batch.files.push(file.clone());
        match load(&file, ctx) {
            Ok(loaded) => {
                if let Some(first) = seen.get(&loaded.job.name) {
                    let duplicate = Issue::error(
                        loaded.name_at,
                        format!(
                            "job name `{}` is already used by {}",
                            loaded.job.name,
                            first.display()
                        ),
                        "job names key the state: give every job file its own name",
                    )
                    .in_file(&file);
                    batch.failed.push(Diagnostics(
                        std::iter::once(duplicate).chain(loaded.warnings).collect(),
                    ));
                } else {
                    seen.insert(loaded.job.name.clone(), file.clone());
                    batch.loaded.push(loaded);
                }
            }
            Err(d) => batch.failed.push(d),
        }
    }
    batch
}

/// The job names written in the job files of the directories holding `files` (a file that does not parse is
/// skipped): which state names job files still use, for the rename hint.
pub fn names_near(files: &[&Path]) -> std::collections::HashSet<String> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| match f.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let (found, _) = job_files(&dirs);
    found
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|text| parse(&text).ok())
        .map(|raw| raw.name.value)
        .collect()
}

/// The job file's JSON Schema, generated from the [`raw`] types.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawJob)).unwrap_or_default()
}

/// The schema as committed in `schema/job.schema.json`: pretty JSON with a final newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "version: 1\nname: t\ntenant:\n  id: a\n  cloud: gcc\n  client_id: b\n  certificate: c\n  private_key: d\n";

    #[test]
    fn parse_all_reports_every_block_style_unknown_key_and_keeps_line_numbers() {
        let text = format!(
            "{HEAD}sync:\n  extra:\n  - a\n  - b\n  window: 2h\nsink:\n  type: stdout\n  foo: |\n    multi\n    line\n  bar: 1\nclient_secret: x\n"
        );
        let (raw, issues) = parse_all(&text);
        let at: Vec<(u32, u32, &str)> = issues
            .iter()
            .map(|i| (i.loc.line, i.loc.column, i.message.as_str()))
            .collect();
        assert_eq!(
            at,
            [
                (10, 3, "unknown key `extra`"),
                (16, 3, "unknown key `foo`"),
                (19, 3, "unknown key `bar`"),
                (
                    20,
                    1,
                    "`client_secret` is not supported: o365sync signs in with a certificate only"
                ),
            ]
        );
        let raw = raw.expect("the rest parsed");
        let window = raw.sync.unwrap().value.window.unwrap();
        assert_eq!((window.value.as_str(), Loc::of(&window).line), ("2h", 13));
    }

    #[test]
    fn parse_all_stops_at_flow_style_keys_and_other_errors() {
        let text = "version: 1\nname: t\ntenant: {id: a, bogus: 1}\n";
        let (raw, issues) = parse_all(text);
        assert!(raw.is_none());
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].message, "unknown key `bogus`");
        let (raw, issues) = parse_all(&format!("{HEAD}sync:\n  wndow: 1h\n  start: [\n"));
        assert!(raw.is_none());
        assert_eq!(issues[0].message, "unknown key `wndow`");
        assert_eq!((issues.len(), issues[1].loc.line), (2, 11), "{issues:?}");
        assert_eq!(parse_all(&format!("{HEAD}sink:\n  type: stdout\n")).1, []);
    }
}
