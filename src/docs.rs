//! Generated documentation: the job-file reference `docs/job-file.md`, rendered from the job file's JSON Schema
//! ([`crate::job::schema`]), whose descriptions come from the doc comments of `src/job/raw.rs`. One source, so the
//! reference, the schema and the code cannot disagree; `tests/docs.rs` fails when the committed file drifts.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Where the reference is committed, relative to the crate root.
pub const JOB_FILE_REFERENCE_PATH: &str = "docs/job-file.md";

/// The environment variable that makes `tests/docs.rs` rewrite the committed reference instead of failing.
pub const REGENERATE_ENV: &str = "O365SYNC_REGENERATE_DOCS";

/// The job-file reference in Markdown, generated from [`crate::job::schema`].
pub fn job_file_reference() -> String {
    render(&crate::job::schema())
}

/// Renders a job-file JSON Schema (draft 2020-12, as schemars writes it) as Markdown.
pub fn render(schema: &Value) -> String {
    let empty = Map::new();
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = String::new();
    let title = schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("o365sync job file");
    let _ = writeln!(out, "# Job file reference: {title}\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the JSON Schema (`o365sync schema`, built from the doc comments of src/job/raw.rs) by \
         `o365sync::docs::job_file_reference()`. Do not edit: change the doc comments, then run \
         `{REGENERATE_ENV}=1 cargo test --test docs`. -->\n"
    );
    let _ = writeln!(out, "{}\n", paragraph(description(schema)));
    let _ = writeln!(
        out,
        "Every key is checked: an unknown key is an error (with a \"did you mean\"), never ignored. `o365sync validate` \
         checks a file, `o365sync plan` shows what `run` would do, and `o365sync schema` prints the schema this page \
         is generated from (editors use it through the `# yaml-language-server: $schema=…` line of the examples in \
         `jobs/`).\n"
    );
    let _ = writeln!(out, "## Top-level keys\n");
    table(&mut out, "", schema, defs);

    let props = properties(schema);
    for (key, prop) in &props {
        let Some((def_name, def)) = object_def(prop, defs) else {
            continue;
        };
        let _ = writeln!(out, "## `{key}`\n");
        let text = paragraph(description(def));
        if !text.is_empty() {
            let _ = writeln!(out, "{text}\n");
        }
        let _ = writeln!(out, "(`{def_name}` in the schema.)\n");
        table(&mut out, &format!("{key}."), def, defs);
    }

    let enums: Vec<(&String, &Value)> = defs
        .iter()
        .filter(|(_, d)| d.get("oneOf").is_some() || d.get("enum").is_some())
        .collect();
    if !enums.is_empty() {
        let _ = writeln!(out, "## Values\n");
        for (name, def) in enums {
            let _ = writeln!(out, "### {name}\n");
            let text = paragraph(description(def));
            if !text.is_empty() {
                let _ = writeln!(out, "{text}\n");
            }
            let _ = writeln!(out, "| value | meaning |\n|---|---|");
            for (value, meaning) in enum_values(def) {
                let _ = writeln!(out, "| `{value}` | {} |", cell(&meaning));
            }
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn description(v: &Value) -> &str {
    v.get("description").and_then(Value::as_str).unwrap_or("")
}

/// Doc-comment text wrapped at 120 columns → one paragraph per blank-line-separated block.
fn paragraph(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    paragraph(text).replace("\n\n", " ").replace('|', "\\|")
}

fn properties(v: &Value) -> Vec<(&String, &Value)> {
    v.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

fn required(v: &Value) -> Vec<&str> {
    v.get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The `$ref` of a property, directly or as the non-null branch of an `anyOf`.
fn reference(prop: &Value) -> Option<&str> {
    if let Some(r) = prop.get("$ref").and_then(Value::as_str) {
        return Some(r);
    }
    prop.get("anyOf")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|b| b.get("$ref").and_then(Value::as_str))
}

fn def_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// The object definition a property refers to, if it has properties of its own.
fn object_def<'a>(prop: &Value, defs: &'a Map<String, Value>) -> Option<(&'a String, &'a Value)> {
    let name = def_name(reference(prop)?);
    let (name, def) = defs.get_key_value(name)?;
    def.get("properties").is_some().then_some((name, def))
}

fn enum_values(def: &Value) -> Vec<(String, String)> {
    if let Some(one_of) = def.get("oneOf").and_then(Value::as_array) {
        return one_of
            .iter()
            .filter_map(|b| {
                let value = b.get("const").and_then(Value::as_str)?;
                Some((value.to_owned(), description(b).to_owned()))
            })
            .collect();
    }
    def.get("enum")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|v| (v.to_owned(), String::new()))
                .collect()
        })
        .unwrap_or_default()
}

/// A human name of a property's type.
fn type_name(prop: &Value, defs: &Map<String, Value>) -> String {
    if let Some(r) = reference(prop) {
        let name = def_name(r);
        return match defs.get(name) {
            Some(d) if d.get("properties").is_some() => "mapping".to_owned(),
            Some(d) if d.get("oneOf").is_some() || d.get("enum").is_some() => {
                let values: Vec<String> = enum_values(d)
                    .into_iter()
                    .map(|(v, _)| format!("`{v}`"))
                    .collect();
                format!("one of {}", values.join(", "))
            }
            _ => name.to_owned(),
        };
    }
    let types: Vec<&str> = match prop.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    let base = types.first().copied().unwrap_or("any");
    match base {
        "array" => match prop.get("items") {
            Some(items) => format!("list of {}", type_name(items, defs)),
            None => "list".to_owned(),
        },
        "integer" => "integer".to_owned(),
        "boolean" => "boolean".to_owned(),
        "string" => "string".to_owned(),
        other => other.to_owned(),
    }
}

/// Limits written in the schema (`minLength`, `maximum`, …).
fn limits(prop: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (key, label) in [
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("minItems", "items ≥"),
    ] {
        if let Some(n) = prop.get(key).and_then(Value::as_u64) {
            out.push(format!("{label} {n}"));
        }
    }
    out
}

fn table(out: &mut String, prefix: &str, object: &Value, defs: &Map<String, Value>) {
    let req = required(object);
    let _ = writeln!(
        out,
        "| key | type | required | default | description |\n|---|---|---|---|---|"
    );
    for (key, prop) in properties(object) {
        let required = if req.contains(&key.as_str()) {
            "yes"
        } else {
            "no"
        };
        let default = match prop.get("default") {
            None | Some(Value::Null) => String::new(),
            Some(v) => format!("`{}`", serde_json::to_string(v).unwrap_or_default()),
        };
        let mut ty = type_name(prop, defs);
        let lim = limits(prop);
        if !lim.is_empty() {
            ty = format!("{ty} ({})", lim.join(", "));
        }
        let _ = writeln!(
            out,
            "| `{prefix}{key}` | {} | {required} | {} | {} |",
            cell(&ty),
            cell(&default),
            cell(description(prop))
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_keys_enums_and_defaults() {
        let schema = serde_json::json!({
            "title": "t",
            "description": "Top\nline.",
            "required": ["a"],
            "properties": {
                "a": {"$ref": "#/$defs/A", "description": "The a."},
                "n": {"type": ["integer", "null"], "default": 3, "maximum": 9, "description": "A | n."}
            },
            "$defs": {
                "A": {"description": "An A.", "properties": {"kind": {"$ref": "#/$defs/K", "description": "Kind."}}, "required": ["kind"]},
                "K": {"description": "Kinds.", "oneOf": [{"const": "x", "description": "Ex."}, {"const": "y", "description": "Why."}]}
            }
        });
        let md = render(&schema);
        assert!(md.contains("Top line."), "{md}");
        assert!(md.contains("| `a` | mapping | yes |  | The a. |"), "{md}");
        assert!(
            md.contains("| `n` | integer (≤ 9) | no | `3` | A \\| n. |"),
            "{md}"
        );
        assert!(md.contains("## `a`\n\nAn A."), "{md}");
        assert!(
            md.contains("| `a.kind` | one of `x`, `y` | yes |  | Kind. |"),
            "{md}"
        );
        assert!(md.contains("### K\n\nKinds."), "{md}");
        assert!(md.contains("| `y` | Why. |"), "{md}");
        assert!(md.ends_with("|\n"), "{md}");
    }
}
