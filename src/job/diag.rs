//! Located diagnostics: every problem with a job file prints as `file:line:column: message` and a `help:` line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{MessageFormatter, Spanned, UserMessageFormatter};

/// A 1-based line and column (in characters) in a job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl Loc {
    /// The start of the file, for problems that concern the file as a whole.
    pub const START: Loc = Loc { line: 1, column: 1 };

    /// Where a spanned value was referenced (falls back to the start of the file when the span is unknown).
    pub fn of<T>(spanned: &Spanned<T>) -> Loc {
        Loc::from_saphyr(spanned.referenced)
    }

    pub(crate) fn from_saphyr(l: serde_saphyr::Location) -> Loc {
        if l.line() == 0 {
            Loc::START
        } else {
            Loc {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                column: u32::try_from(l.column()).unwrap_or(u32::MAX).max(1),
            }
        }
    }
}

/// How serious a diagnostic is (`error` or `warning` in `validate --format json|github`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The job cannot run (exit code 2).
    Error,
    /// The job runs, but not quite as written (for example a start clamped to retention).
    Warning,
}

impl Severity {
    /// `error` or `warning`: the JSON value, and the GitHub workflow command's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A problem found in one place of a job file, before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub loc: Loc,
    /// What is wrong (lowercase, no trailing period).
    pub message: String,
    /// What to do about it.
    pub help: String,
}

impl Issue {
    /// An error at `loc`.
    pub fn error(loc: Loc, message: impl Into<String>, help: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Error,
            loc,
            message: message.into(),
            help: help.into(),
        }
    }

    /// A warning at `loc`.
    pub fn warning(loc: Loc, message: impl Into<String>, help: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Warning,
            ..Issue::error(loc, message, help)
        }
    }

    /// Attaches the file the issue was found in.
    pub fn in_file(self, file: &Path) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            severity: self.severity,
            line: self.loc.line,
            column: self.loc.column,
            message: self.message,
            help: self.help,
        }
    }
}

/// A located problem in a job file, printed as `file:line:column: message` followed by `help: …` ([`fmt::Display`]),
/// as a GitHub workflow command ([`Diagnostic::github_command`]), or as JSON (its `Serialize` form: `severity`,
/// `file`, `line`, `column`, `message`, `help`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The job file, as given on the command line (or found in a directory).
    #[serde(serialize_with = "display_path")]
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

impl Diagnostic {
    /// The `file:line:column` prefix.
    pub fn position(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }

    /// True for errors (as opposed to warnings).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as one GitHub Actions workflow command, which the runner shows as an annotation on the file:
    /// `::error file=F,line=L,col=C::message (help: …)` (or `::warning …`). Escaped as GitHub's toolkit does: in the
    /// message `%`, CR and LF become `%25`, `%0D`, `%0A`; in the property values `:` and `,` also become `%3A`, `%2C`.
    /// A diagnostic about a whole file (one that cannot be read, say) points at line 1, column 1.
    pub fn github_command(&self) -> String {
        format!(
            "::{} file={},line={},col={}::{}",
            self.severity.as_str(),
            escape_property(&self.file.display().to_string()),
            self.line,
            self.column,
            escape_data(&format!("{} (help: {})", self.message, self.help)),
        )
    }
}

/// Escapes a workflow command's message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn display_path<S: serde::Serializer>(path: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&path.display())
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}: {kind}{}\nhelp: {}",
            self.position(),
            self.message,
            self.help
        )
    }
}

/// The errors (and warnings) that kept a job file from loading; at least one is an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

const SCHEMA_HELP: &str =
    "see `o365sync schema` or jobs/example-gcc.yaml for the keys a job file takes";

/// Turns a serde-saphyr error (malformed YAML, a wrong type, an unknown or missing key) into an issue a person can
/// act on.
pub(crate) fn from_yaml(err: &serde_saphyr::Error) -> Issue {
    let loc = err.location().map(Loc::from_saphyr).unwrap_or(Loc::START);
    let raw = UserMessageFormatter
        .format_message(err.without_snippet())
        .into_owned();
    let (message, help) = translate(&raw);
    Issue::error(loc, message, help)
}

/// The message of an input that ends before a job began.
pub(crate) const EMPTY_FILE: &str = "the job file is empty";

fn translate(raw: &str) -> (String, String) {
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        if key == "client_secret" {
            return (
                "`client_secret` is not supported: o365sync signs in with a certificate only".into(),
                "remove client_secret; upload a certificate to the app registration and set tenant.certificate \
                 and tenant.private_key (client secrets are long-lived shared passwords that leak easily)"
                    .into(),
            );
        }
        let allowed: Vec<&str> = tail
            .strip_prefix(", expected one of ")
            .or_else(|| tail.strip_prefix(", expected "))
            .map(|list| {
                list.split(", ")
                    .map(|k| k.trim_matches('`'))
                    .filter(|k| !k.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let help = match allowed.iter().find(|k| similar(key, k)) {
            Some(k) => format!(
                "did you mean `{k}`? allowed keys here: {}",
                allowed.join(", ")
            ),
            None if allowed.is_empty() => "remove it; no keys are allowed here".to_string(),
            None => format!("remove it; allowed keys here: {}", allowed.join(", ")),
        };
        return (format!("unknown key `{key}`"), help);
    }
    if let Some(rest) = raw.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return (
            format!("missing key `{key}`"),
            format!("add `{key}:` to this mapping; {SCHEMA_HELP}"),
        );
    }
    if let Some(rest) = raw.strip_prefix("duplicate mapping key") {
        let key = rest
            .trim_start_matches(':')
            .trim()
            .trim_start_matches('`')
            .split(['`', ','])
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        return (
            format!("duplicate key `{key}`"),
            "keep only one of them".into(),
        );
    }
    if raw.starts_with("invalid u") || raw.starts_with("invalid i") {
        return (
            "expected a whole number".into(),
            format!("write a plain number without quotes or units; {SCHEMA_HELP}"),
        );
    }
    if raw.starts_with("invalid boolean") {
        return (
            "expected true or false".into(),
            "write `true` or `false`".into(),
        );
    }
    if raw.contains("null") {
        return (
            "missing value".into(),
            format!("give this key a value or remove it; {SCHEMA_HELP}"),
        );
    }
    if raw.starts_with("expected string") {
        return (
            "expected a single value, found a list or mapping".into(),
            format!("write a plain value here; {SCHEMA_HELP}"),
        );
    }
    if raw.starts_with("expected sequence") {
        return (
            "expected a list".into(),
            "write a list, e.g. [Audit.Exchange, DLP.All] or one `- item` per line".into(),
        );
    }
    if raw.starts_with("expected mapping") || raw.starts_with("expected struct") {
        return (
            "expected a mapping of `key: value` lines".into(),
            format!("indent the keys below this one; {SCHEMA_HELP}"),
        );
    }
    if raw.starts_with("unexpected end") {
        return (
            EMPTY_FILE.into(),
            format!("a job file starts with `version: 1`; {SCHEMA_HELP}"),
        );
    }
    if raw.starts_with("only single YAML document") {
        return (
            "more than one YAML document in a job file".into(),
            "a job file holds one job: remove the `---` separator, or put each job in its own file"
                .into(),
        );
    }
    if raw.starts_with("invalid type") {
        return (raw.to_string(), SCHEMA_HELP.to_string());
    }
    (
        format!("malformed YAML: {raw}"),
        "check the indentation, quoting and `key: value` syntax at this position".into(),
    )
}

/// True when `a` is a likely misspelling of `b` (edit distance at most 2, not counting case).
fn similar(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_suggest_the_closest_allowed_key() {
        let (m, h) = translate("unknown field `lookbak`, expected one of start, window, lookback");
        assert_eq!(m, "unknown key `lookbak`");
        assert!(h.starts_with("did you mean `lookback`?"), "{h}");
        let (_, h) = translate("unknown field `zzz`, expected one of start, window");
        assert_eq!(h, "remove it; allowed keys here: start, window");
    }

    #[test]
    fn diagnostics_print_position_message_and_help() {
        let d = Issue::error(Loc { line: 3, column: 7 }, "bad thing", "fix it")
            .in_file(Path::new("j.yaml"));
        assert_eq!(d.to_string(), "j.yaml:3:7: bad thing\nhelp: fix it");
        let w = Issue::warning(Loc::START, "odd", "fine").in_file(Path::new("j.yaml"));
        assert_eq!(w.to_string(), "j.yaml:1:1: warning: odd\nhelp: fine");
    }

    #[test]
    fn github_commands_escape_the_message_and_the_properties() {
        let d = Issue::error(Loc { line: 3, column: 7 }, "100% a,b: c\r\nd", "x: y, z")
            .in_file(Path::new("dir:1/a,b%.yaml"));
        assert_eq!(
            d.github_command(),
            "::error file=dir%3A1/a%2Cb%25.yaml,line=3,col=7::100%25 a,b: c%0D%0Ad (help: x: y, z)"
        );
        let w = Issue::warning(Loc::START, "odd", "fine").in_file(Path::new("j.yaml"));
        assert_eq!(
            w.github_command(),
            "::warning file=j.yaml,line=1,col=1::odd (help: fine)"
        );
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"severity": "warning", "file": "j.yaml", "line": 1, "column": 1, "message": "odd", "help": "fine"})
        );
    }
}
