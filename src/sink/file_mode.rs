//! Permissions of what the file sinks create (`sink.file_mode`): audit data must not be world-readable by accident.
//!
//! - Files get exactly the mode, whatever the process umask: `jsonl` files `0640` by default (a log shipper in the
//!   group can read them), the SQLite sink's database `0600` (SQLite gives its `-wal` and `-shm` files the
//!   database's mode).
//! - Directories the sink creates get the same bits plus search (`x`) wherever read is granted: `0640` → `0750`,
//!   `0600` → `0700`.
//! - Only what the sink creates is set: an existing output directory, or an existing database, keeps its mode.
//! - A mode must let the owner read and write, must not let everyone write, and has no special bits (setuid, setgid,
//!   sticky).

use std::fmt;
use std::fs::{self, File, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use super::SinkError;

/// The permission bits of the files a file sink creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileMode(u32);

/// Why a `sink.file_mode` was refused: `(message, what to do)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FileModeError {
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: &'static str,
}

impl FileMode {
    /// The `jsonl` sink's default: owner read-write, group read.
    pub const JSONL: FileMode = FileMode(0o640);
    /// The SQLite sink's default: owner only.
    pub const SQLITE: FileMode = FileMode(0o600);

    /// Reads a mode written as octal digits (`"0640"`, `"640"`, `"0o640"`) and checks it.
    pub fn parse(text: &str) -> Result<FileMode, FileModeError> {
        let t = text.trim();
        let digits = t.strip_prefix("0o").unwrap_or(t);
        let bits = (!digits.is_empty()
            && digits.len() <= 4
            && digits.bytes().all(|b| matches!(b, b'0'..=b'7')))
        .then(|| u32::from_str_radix(digits, 8).ok())
        .flatten()
        .ok_or_else(|| FileModeError {
            message: format!("sink.file_mode `{text}` is not an octal file mode"),
            help: "write the permission bits as octal digits in quotes, e.g. file_mode: \"0640\"",
        })?;
        FileMode::new(bits)
    }

    /// Checks permission bits.
    pub fn new(bits: u32) -> Result<FileMode, FileModeError> {
        let shown = format!("{bits:04o}");
        if bits > 0o777 {
            return Err(FileModeError {
                message: format!("sink.file_mode {shown} sets setuid, setgid or sticky bits"),
                help: "give permission bits only, at most 0777, e.g. \"0640\"",
            });
        }
        if bits & 0o600 != 0o600 {
            return Err(FileModeError {
                message: format!("sink.file_mode {shown} does not let the owner read and write"),
                help: "keep 6 or 7 as the owner's digit, e.g. \"0640\"",
            });
        }
        if bits & 0o002 != 0 {
            return Err(FileModeError {
                message: format!("sink.file_mode {shown} lets anyone write the audit data"),
                help: "use \"0640\" (the group reads) or \"0600\" (the owner only)",
            });
        }
        Ok(FileMode(bits))
    }

    /// The mode of the files created.
    pub const fn file(self) -> u32 {
        self.0
    }

    /// The mode of the directories created: the file's bits plus search wherever read is granted.
    pub const fn dir(self) -> u32 {
        self.0 | ((self.0 & 0o444) >> 2)
    }

    /// Gives an open file exactly this mode (`fchmod`: the umask does not apply).
    pub fn apply(self, file: &File) -> io::Result<()> {
        file.set_permissions(Permissions::from_mode(self.file()))
    }

    /// Creates one directory with [`FileMode::dir`] exactly (its parent must exist).
    pub fn create_dir(self, path: &Path) -> io::Result<()> {
        fs::DirBuilder::new().mode(self.dir()).create(path)?;
        fs::set_permissions(path, Permissions::from_mode(self.dir()))
    }

    /// Creates `dir` and its missing ancestors with [`FileMode::dir`], calling `created` with each directory made
    /// (to sync its parent, say). Existing directories are left as they are.
    pub(crate) fn create_dir_all(
        self,
        dir: &Path,
        mut created: impl FnMut(&Path) -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .take_while(|p| !p.exists())
            .collect();
        for path in missing.into_iter().rev() {
            match self.create_dir(path) {
                Ok(()) => created(path)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => {}
                Err(e) => return Err(SinkError::io("create directory", path, e)),
            }
        }
        Ok(())
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl serde::Serialize for FileMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        FileMode::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for FileMode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FileMode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0o)?[0-7]{3,4}$",
            "description": "Octal permission bits, e.g. \"0640\""
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_directories_get_search_where_read_is_granted() {
        for (text, file, dir) in [
            ("0640", 0o640, 0o750),
            ("640", 0o640, 0o750),
            ("0o600", 0o600, 0o700),
            ("0644", 0o644, 0o755),
            ("0660", 0o660, 0o770),
        ] {
            let mode = FileMode::parse(text).unwrap();
            assert_eq!((mode.file(), mode.dir()), (file, dir), "{text}");
        }
        assert_eq!(FileMode::JSONL.to_string(), "0640");
    }

    #[test]
    fn unsafe_or_unusable_modes_are_refused_with_what_to_do() {
        for (text, says) in [
            ("rw-r-----", "not an octal"),
            ("0648", "not an octal"),
            ("", "not an octal"),
            ("00640", "not an octal"),
            ("4640", "setuid"),
            ("0440", "owner read and write"),
            ("0200", "owner read and write"),
            ("0666", "anyone write"),
            ("0602", "anyone write"),
        ] {
            let e = FileMode::parse(text).unwrap_err();
            assert!(e.message.contains(says), "{text}: {e}");
            assert!(!e.help.is_empty());
        }
    }
}
