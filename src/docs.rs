//! Generated documentation: the job-file reference `docs/job-file.md`, rendered from the job file's JSON Schema
//! ([`crate::job::schema`]), whose descriptions come from the doc comments of `src/job/raw.rs`; and the OCSF mapping
//! `docs/ocsf-mapping.md`, rendered from the class-choice tables of [`crate::normalize::record_types`]. One source
//! each, so the reference and the code cannot disagree; `tests/docs.rs` fails when a committed file drifts.

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Where the reference is committed, relative to the crate root.
pub const JOB_FILE_REFERENCE_PATH: &str = "docs/job-file.md";

/// Where the OCSF mapping reference is committed, relative to the crate root.
pub const OCSF_MAPPING_PATH: &str = "docs/ocsf-mapping.md";

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

/// The OCSF mapping reference in Markdown, generated from [`crate::normalize::record_types`]: the rules, every
/// `AuditLogRecordType` value with its class, and the operations that override their family.
pub fn ocsf_mapping_reference() -> String {
    use crate::normalize::Class;
    use crate::normalize::record_types::{OVERRIDES, RECORD_TYPES, Rule};

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# OCSF mapping: RecordType and operation → class and activity\n"
    );
    let _ = writeln!(
        out,
        "<!-- Generated from the tables of src/normalize/record_types.rs by \
         `o365sync::docs::ocsf_mapping_reference()`. Do not edit: change the tables, then run \
         `{REGENERATE_ENV}=1 cargo test --test docs`. -->\n"
    );
    let _ = writeln!(
        out,
        "o365sync normalizes each audit record of the Office 365 Management Activity API to one OCSF 1.8.0 event. \
         The class and activity come from two tables, and only from them: one row per value of Microsoft's \
         `AuditLogRecordType` enumeration ({} values), naming the family rule that turns the record's `Operation` \
         into a class and an activity, and a list of operations that override their family ({} operations). The \
         normalizer's module docs (`src/normalize/mod.rs`) say how each class's attributes are filled.\n",
        RECORD_TYPES.len(),
        OVERRIDES.len()
    );
    let _ = writeln!(out, "## How a class is chosen\n");
    for line in [
        "1. A record without an `Operation` is a Base Event (0): every field stays under `unmapped`.",
        "2. A record without a `RecordType` takes the family its content type and operation imply (`Audit.AzureActiveDirectory`: sign-ins and directory operations; `Audit.Exchange`: cmdlets and mailbox operations; `Audit.SharePoint`: file and site operations; `DLP.All`: DLP). `Audit.General` implies none: the generic rule.",
        "3. If the operation is one of the [overrides](#operations-that-override-their-family) for the record's type and the record names what the override needs (a user, a target, `ObjectId`, `TeamName`), the override decides.",
        "4. Otherwise the rule of the record's type [in the table](#every-recordtype) decides; a type the table does not know (a future one) takes the **generic** rule.",
        "5. A class is chosen only when the record can fill what the class requires (OCSF `required`): File Hosting and API Activity need a client address and an actor; Account Change, User Access Management and Group Management a target; Email Activity a sender or recipient address; Authentication a user; findings an id. Otherwise the rule names its fallback, in the end Web Resources Activity (which needs only a resource: the object, else the workload or operation).",
        "6. **Base Event is for records that carry nothing modellable**: no operation, or an unknown family with no user, application, object or client address. Every other record, a future RecordType included, gets a real class with actor, source, target and outcome from the common fields.",
        "",
        "`type_uid` is always `class_uid` × 100 + `activity_id`; activity 99 (Other) carries the record's `Operation` as `activity_name`.",
    ] {
        let _ = writeln!(out, "{line}");
    }
    out.push('\n');
    let _ = writeln!(out, "## Family rules\n");
    let _ = writeln!(
        out,
        "| rule | class | activity (and fallback) |\n|---|---|---|"
    );
    for rule in Rule::ALL {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            rule.name(),
            cell(rule.classes()),
            cell(rule.activity_rule())
        );
    }
    out.push('\n');
    let _ = writeln!(out, "## Every RecordType\n");
    let _ = writeln!(
        out,
        "Microsoft's `AuditLogRecordType` (office-365-management-activity-api-schema.md, \"Enum: \
         AuditLogRecordType\"). A value not listed here takes the generic rule.\n"
    );
    let _ = writeln!(
        out,
        "| value | name | workload | rule | class | reason |\n|---|---|---|---|---|---|"
    );
    for row in RECORD_TYPES {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |",
            row.value,
            row.name,
            row.workload,
            row.rule.name(),
            cell(row.rule.classes()),
            cell(row.reason)
        );
    }
    out.push('\n');
    let _ = writeln!(out, "## Operations that override their family\n");
    let _ = writeln!(
        out,
        "The operation is compared without case and without a trailing full stop. When the record does not name what \
         the override needs, its family rule decides.\n"
    );
    let _ = writeln!(
        out,
        "| operation | record types | class | activity | needs | reason |\n|---|---|---|---|---|---|"
    );
    for x in OVERRIDES {
        let class = Class::from_uid(x.class_uid);
        let class_name = class.map_or("?", Class::name);
        let activity = class
            .and_then(|c| c.activity_caption(x.activity_id))
            .unwrap_or("Other (the operation)");
        let types: Vec<String> = x.record_types.iter().map(i64::to_string).collect();
        let types = if types.is_empty() {
            "any".to_owned()
        } else {
            types.join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {types} | {class_name} {} | {} {activity} | {} | {} |",
            x.operation,
            x.class_uid,
            x.activity_id,
            x.need.describe(),
            cell(x.reason)
        );
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
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
