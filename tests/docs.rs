//! Documentation that must agree with the code: the generated job-file reference, the troubleshooting page's codes,
//! and the README's two commands (the ones CI and the demo use).

use std::path::Path;

use o365sync::docs::{
    JOB_FILE_REFERENCE_PATH, OCSF_MAPPING_PATH, REGENERATE_ENV, job_file_reference,
    ocsf_mapping_reference,
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn committed_job_file_reference_matches_the_schema() {
    let generated = job_file_reference();
    let path = root().join(JOB_FILE_REFERENCE_PATH);
    if std::env::var_os(REGENERATE_ENV).is_some() {
        std::fs::write(&path, &generated).expect("write the job-file reference");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{JOB_FILE_REFERENCE_PATH} is out of date with the job file's doc comments (src/job/raw.rs); regenerate it \
         with:\n    {REGENERATE_ENV}=1 cargo test --test docs"
    );
}

#[test]
fn committed_ocsf_mapping_matches_the_class_choice_tables() {
    let generated = ocsf_mapping_reference();
    let path = root().join(OCSF_MAPPING_PATH);
    if std::env::var_os(REGENERATE_ENV).is_some() {
        std::fs::write(&path, &generated).expect("write the OCSF mapping reference");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{OCSF_MAPPING_PATH} is out of date with the tables of src/normalize/record_types.rs; regenerate it with:\n    \
         {REGENERATE_ENV}=1 cargo test --test docs"
    );
}

#[test]
fn the_ocsf_mapping_lists_every_record_type_and_override() {
    use o365sync::normalize::record_types::{OVERRIDES, RECORD_TYPES};
    let md = ocsf_mapping_reference();
    for row in RECORD_TYPES {
        assert!(
            md.contains(&format!("| {} | `{}` |", row.value, row.name)),
            "RecordType {} missing",
            row.value
        );
    }
    for x in OVERRIDES {
        assert!(
            md.contains(&format!("| `{}` |", x.operation)),
            "override {} missing",
            x.operation
        );
    }
    for link in ["README.md", "ARCHITECTURE.md"] {
        assert!(
            read(link).contains("docs/ocsf-mapping.md"),
            "{link} does not link docs/ocsf-mapping.md"
        );
    }
}

#[test]
fn the_job_file_reference_names_every_key_of_the_schema() {
    let md = job_file_reference();
    let schema = o365sync::job::schema();
    for key in schema["properties"].as_object().unwrap().keys() {
        assert!(
            md.contains(&format!("| `{key}` |")),
            "top-level `{key}` missing"
        );
    }
    let tenant = schema["$defs"]["Tenant"]["properties"].as_object().unwrap();
    for key in tenant.keys() {
        assert!(
            md.contains(&format!("| `tenant.{key}` |")),
            "`tenant.{key}` missing"
        );
    }
    for value in ["gcc-high", "DLP.All", "PS256", "sqlite"] {
        assert!(
            md.contains(&format!("| `{value}` |")),
            "value `{value}` missing"
        );
    }
}

/// The AF codes of management-api.md §4.
const AF_CODES: [&str; 22] = [
    "AF10001", "AF20001", "AF20002", "AF20003", "AF20010", "AF20011", "AF20012", "AF20013",
    "AF20020", "AF20022", "AF20023", "AF20024", "AF20030", "AF20055", "AF20031", "AF20050",
    "AF20051", "AF20052", "AF429", "AF50000", "AF50005", "AF50006",
];

#[test]
fn troubleshooting_has_a_section_per_af_and_aadsts_code() {
    let page = read("docs/troubleshooting.md");
    let headings: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    for code in AF_CODES {
        assert!(
            headings.contains(&code),
            "docs/troubleshooting.md has no `### {code}` section"
        );
    }
    for code in o365sync::auth::AadstsCode::KNOWN {
        let heading = format!("AADSTS{code}");
        assert!(
            headings.contains(&heading.as_str()),
            "docs/troubleshooting.md has no `### {heading}` section"
        );
    }
}

/// The advice o365sync prints for the API's fatal errors appears word for word, so searching the page for a
/// message finds it.
#[test]
fn troubleshooting_quotes_the_printed_af_advice() {
    let page = read("docs/troubleshooting.md");
    for code in ["AF10001", "AF20010", "AF20020", "AF20001"] {
        let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
        let advice = o365sync::api::ServiceError::parse(400, body.as_bytes(), None).advice();
        assert!(
            page.contains(advice),
            "the advice for {code} is not quoted: {advice}"
        );
    }
}

/// The commands of a fenced block: lines without comments, trailing `# …` removed.
fn commands(block: &str) -> Vec<String> {
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
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
                if trimmed.starts_with("```") {
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

#[test]
fn the_readme_commands_are_the_ones_ci_and_the_demo_use() {
    let readme = read("README.md");
    let blocks = fenced_blocks(&readme);
    let (_, first) = blocks.first().expect("README.md has a fenced block");
    let readme_commands = commands(first);
    assert_eq!(
        readme_commands,
        ["cargo run --release -- demo", "cargo test"],
        "README.md's first fenced block must hold exactly the demo and the test command"
    );

    // CI runs exactly the README's test command (and no other test invocation).
    let ci = read(".ci/run");
    let ci_tests: Vec<String> = commands(&ci)
        .into_iter()
        .filter(|c| c.starts_with("cargo test"))
        .collect();
    assert_eq!(
        ci_tests,
        [readme_commands[1].clone()],
        ".ci/run must run the README's test command exactly"
    );

    // The demo command is a real command of the binary: `cargo run --release -- demo` runs `o365sync demo`.
    let demo_args = readme_commands[0]
        .split_once(" -- ")
        .map(|(_, args)| args)
        .expect("`cargo run … -- ARGS`");
    let argv: Vec<&str> = std::iter::once("o365sync")
        .chain(demo_args.split_whitespace())
        .collect();
    let cli = <o365sync::cli::Cli as clap::Parser>::try_parse_from(&argv)
        .expect("the demo command parses");
    assert!(matches!(cli.command, o365sync::cli::Command::Demo(_)));
    assert!(
        root().join("jobs/demo.yaml").is_file(),
        "the demo's job file jobs/demo.yaml is missing"
    );
}

/// Every `o365sync …` command line in the README's shell blocks is accepted by the command-line parser, so the
/// quick start cannot drift from the CLI.
#[test]
fn every_o365sync_command_in_the_readme_parses() {
    let readme = read("README.md");
    let mut seen = 0;
    for (info, body) in fenced_blocks(&readme) {
        if !matches!(info.as_str(), "sh" | "bash" | "shell" | "console") {
            continue;
        }
        for line in commands(&body) {
            let line = line.trim_start_matches("$ ");
            let Some(rest) = line.strip_prefix("o365sync ") else {
                continue;
            };
            let rest = rest.split(['|', ';', '&']).next().unwrap_or_default();
            let argv: Vec<&str> = std::iter::once("o365sync")
                .chain(rest.split_whitespace())
                .collect();
            if let Err(e) = <o365sync::cli::Cli as clap::Parser>::try_parse_from(&argv) {
                // --help and --version are "errors" for clap but fine here.
                assert!(
                    !e.use_stderr(),
                    "README command `{line}` does not parse: {e}"
                );
            }
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "expected the quick start's o365sync commands, found {seen}"
    );
}

/// Every quoted message of the troubleshooting page (`> …` lines) is what o365sync prints: each fragment between the
/// `…` placeholders appears in the source of the module that prints it.
#[test]
fn troubleshooting_quotes_are_the_printed_messages() {
    let page = read("docs/troubleshooting.md");
    let mut sources = String::new();
    for file in [
        "src/auth/aadsts.rs",
        "src/auth/token.rs",
        "src/api/error.rs",
        "src/api/window.rs",
        "src/state/error.rs",
    ] {
        sources.push_str(&read(file));
    }
    // Rust string continuations (`\` + newline + indentation) join into one space-free seam.
    let mut joined = String::with_capacity(sources.len());
    let mut rest = sources.as_str();
    while let Some(i) = rest.find("\\\n") {
        joined.push_str(&rest[..i]);
        rest = rest[i + 2..].trim_start();
    }
    joined.push_str(rest);
    let mut quotes = 0;
    for line in page.lines().filter_map(|l| l.strip_prefix("> ")) {
        quotes += 1;
        for fragment in line.split('…') {
            let fragment = fragment.trim();
            if fragment.len() < 4 {
                continue;
            }
            assert!(
                joined.contains(fragment),
                "docs/troubleshooting.md quotes `{fragment}`, which o365sync does not print (from: {line})"
            );
        }
    }
    assert!(quotes >= 30, "expected a quote per code, found {quotes}");
}
