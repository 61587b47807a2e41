//! `${VAR}` and `${VAR:-default}` expansion in job-file strings. Pure: the environment is passed in.
//!
//! `$$` writes a literal `$`; a `$` not followed by `{` or `$` is kept as is. A variable that is unset, or set but
//! empty, takes the default when one is given (shell `:-` semantics); unset without a default is an error.

use std::collections::HashMap;

/// Where variable values come from.
pub trait Env {
    /// The value of `name`, or `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${NAME}` with `NAME` unset and no default.
    #[error("environment variable `{0}` is not set")]
    Unset(String),
    /// `${` without its `}`.
    #[error("unterminated `${{`: missing `}}`")]
    Unterminated,
    /// `${…}` whose name is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("invalid variable name `{0}` in `${{…}}`")]
    BadName(String),
}

impl ExpandError {
    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            ExpandError::Unset(name) => format!(
                "set {name} in the environment, or give a default: ${{{name}:-value}}"
            ),
            ExpandError::Unterminated => "close it with `}`, or write `$$` for a literal `$`".into(),
            ExpandError::BadName(_) => {
                "variable names are letters, digits and `_`, not starting with a digit; write `$$` for a literal `$`"
                    .into()
            }
        }
    }
}

/// Expands `${VAR}` and `${VAR:-default}` in `input`.
pub fn expand(input: &str, env: &dyn Env) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or(ExpandError::Unterminated)?;
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if !valid_name(name) {
                return Err(ExpandError::BadName(name.to_string()));
            }
            match (
                env.var(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([
            ("HOST".to_string(), "127.0.0.1".to_string()),
            ("EMPTY".to_string(), String::new()),
        ])
    }

    #[test]
    fn expands_variables_defaults_and_escapes() {
        let e = env();
        assert_eq!(
            expand("http://${HOST}:8400", &e).unwrap(),
            "http://127.0.0.1:8400"
        );
        assert_eq!(expand("${PORT:-8400}", &e).unwrap(), "8400");
        assert_eq!(expand("${HOST:-x}", &e).unwrap(), "127.0.0.1");
        assert_eq!(expand("${EMPTY:-d}", &e).unwrap(), "d");
        assert_eq!(expand("${EMPTY}", &e).unwrap(), "");
        assert_eq!(expand("a$$b $x ${X:-}", &e).unwrap(), "a$b $x ");
        assert_eq!(expand("${A:-http://h:1}/p", &e).unwrap(), "http://h:1/p");
    }

    #[test]
    fn unset_unterminated_and_bad_names_are_errors() {
        let e = env();
        assert_eq!(
            expand("${NOPE}", &e),
            Err(ExpandError::Unset("NOPE".into()))
        );
        assert_eq!(expand("${HOST", &e), Err(ExpandError::Unterminated));
        assert_eq!(expand("${1X}", &e), Err(ExpandError::BadName("1X".into())));
        assert!(
            ExpandError::Unset("K".into())
                .help()
                .contains("${K:-value}")
        );
    }
}
