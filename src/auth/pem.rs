//! A tolerant PEM reader for the files operators actually have: several blocks per file, text between blocks
//! (`Bag Attributes` from `openssl pkcs12`), Windows line endings, RFC 1421 headers (`Proc-Type`, `DEK-Info`).

use std::fmt;

use base64::Engine as _;

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
pub(crate) struct PemBlock {
    /// The label, e.g. `CERTIFICATE` or `PRIVATE KEY`.
    pub label: String,
    /// RFC 1421 headers such as `Proc-Type: 4,ENCRYPTED`, in file order.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub der: Vec<u8>,
}

impl PemBlock {
    /// Whether the block carries a header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for PemBlock {
    // Key blocks hold private key material: show only the shape.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PemBlock")
            .field("label", &self.label)
            .field("headers", &self.headers.len())
            .field("len", &self.der.len())
            .finish()
    }
}

/// Why a file could not be read as PEM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PemError {
    /// No `-----BEGIN` line at all.
    #[error("no PEM block found")]
    NoBlocks,
    /// A `BEGIN` without its `END`.
    #[error("the `{0}` block has no matching END line")]
    Unterminated(String),
    /// The body is not valid base64.
    #[error("the `{0}` block is not valid base64")]
    BadBase64(String),
}

/// Splits `input` into PEM blocks. Text outside blocks is ignored.
pub(crate) fn parse_blocks(input: &[u8]) -> Result<Vec<PemBlock>, PemError> {
    let text = String::from_utf8_lossy(input);
    let mut blocks = Vec::new();
    // (label, headers, base64 body) of the block being read.
    type Open = (String, Vec<(String, String)>, String);
    let mut current: Option<Open> = None;
    for raw in text.split('\n') {
        let line = raw.trim();
        match current.as_mut() {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    current = Some((label.to_owned(), Vec::new(), String::new()));
                }
            }
            Some((label, headers, body)) => {
                if let Some(end) = line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    if end != label {
                        return Err(PemError::Unterminated(label.clone()));
                    }
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(body.as_bytes())
                        .map_err(|_| PemError::BadBase64(label.clone()))?;
                    let (label, headers, _) = current.take().unwrap_or_default();
                    blocks.push(PemBlock {
                        label,
                        headers,
                        der,
                    });
                } else if line.starts_with("-----BEGIN ") {
                    return Err(PemError::Unterminated(label.clone()));
                } else if body.is_empty() && line.contains(':') {
                    if let Some((k, v)) = line.split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                } else {
                    body.push_str(line);
                }
            }
        }
    }
    if let Some((label, _, _)) = current {
        return Err(PemError::Unterminated(label));
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlocks);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_several_blocks_with_crlf_headers_and_text_between() {
        let input = b"Bag Attributes\r\n    localKeyID: 01 00\r\n-----BEGIN CERTIFICATE-----\r\nAAEC\r\nAw==\r\n-----END CERTIFICATE-----\r\nsubject=CN = x\r\n-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,00\r\n\r\nBAU=\r\n-----END RSA PRIVATE KEY-----\r\n";
        let blocks = parse_blocks(input).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, vec![0, 1, 2, 3]);
        assert_eq!(blocks[1].label, "RSA PRIVATE KEY");
        assert_eq!(blocks[1].header("proc-type"), Some("4,ENCRYPTED"));
        assert_eq!(blocks[1].der, vec![4, 5]);
        assert_eq!(
            format!("{:?}", blocks[1]),
            "PemBlock { label: \"RSA PRIVATE KEY\", headers: 2, len: 2 }"
        );
    }

    #[test]
    fn rejects_garbage_unterminated_and_bad_base64() {
        assert_eq!(
            parse_blocks(&[0x30, 0x82, 0xff, 0x00]).unwrap_err(),
            PemError::NoBlocks
        );
        assert_eq!(
            parse_blocks(b"-----BEGIN CERTIFICATE-----\nAAEC\n").unwrap_err(),
            PemError::Unterminated("CERTIFICATE".into())
        );
        assert_eq!(
            parse_blocks(b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
                .unwrap_err(),
            PemError::BadBase64("CERTIFICATE".into())
        );
    }
}
