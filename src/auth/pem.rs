//! A tolerant PEM reader for the files operators actually have: several blocks per file, text between blocks
//! (`Bag Attributes` from `openssl pkcs12`), Windows line endings, RFC 1421 headers (`Proc-Type`, `DEK-Info`), and the
//! text encodings Windows tools write (a UTF-8 byte-order mark, UTF-16LE or UTF-16BE with a byte-order mark).

use std::borrow::Cow;
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

/// How a text file was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8 (or ASCII) without a byte-order mark.
    Utf8,
    /// UTF-8 with a byte-order mark (Notepad, PowerShell `-Encoding utf8` before 6.0).
    Utf8Bom,
    /// UTF-16 little-endian with a byte-order mark (PowerShell 5 `Out-File`, `>`).
    Utf16LeBom,
    /// UTF-16 big-endian with a byte-order mark.
    Utf16BeBom,
}

impl fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf8Bom => "UTF-8 with BOM",
            TextEncoding::Utf16LeBom => "UTF-16LE with BOM",
            TextEncoding::Utf16BeBom => "UTF-16BE with BOM",
        })
    }
}

/// Why a file's bytes could not be read as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TextError {
    /// Every other byte is zero, as in UTF-16 text, but there is no byte-order mark to say which order.
    #[error("UTF-16 text without a byte-order mark")]
    Utf16WithoutBom,
    /// A byte-order mark says UTF-16 but the rest is not valid UTF-16.
    #[error("invalid UTF-16 after the byte-order mark")]
    BadUtf16,
}

/// The file's bytes as UTF-8 text (byte-order mark removed, UTF-16 converted by `encoding_rs`) and the encoding
/// found. Bytes without a byte-order mark are returned as they are (they may be binary DER: the caller decides).
pub(crate) fn decode_text(input: &[u8]) -> Result<(Cow<'_, [u8]>, TextEncoding), TextError> {
    match encoding_rs::Encoding::for_bom(input) {
        Some((encoding, bom_len)) => {
            let rest = &input[bom_len..];
            if encoding == encoding_rs::UTF_8 {
                return Ok((Cow::Borrowed(rest), TextEncoding::Utf8Bom));
            }
            let found = if encoding == encoding_rs::UTF_16LE {
                TextEncoding::Utf16LeBom
            } else {
                TextEncoding::Utf16BeBom
            };
            let text = encoding
                .decode_without_bom_handling_and_without_replacement(rest)
                .ok_or(TextError::BadUtf16)?;
            Ok((Cow::Owned(text.into_owned().into_bytes()), found))
        }
        None if looks_like_utf16(input) => Err(TextError::Utf16WithoutBom),
        None => Ok((Cow::Borrowed(input), TextEncoding::Utf8)),
    }
}

/// ASCII text in UTF-16: in the first bytes, every other byte is zero and the others are printable or whitespace.
fn looks_like_utf16(input: &[u8]) -> bool {
    let head = &input[..input.len().min(64) & !1];
    if head.len() < 8 {
        return false;
    }
    let ascii = |b: u8| b.is_ascii_graphic() || b.is_ascii_whitespace();
    let pairs = || head.chunks_exact(2);
    pairs().all(|p| p[1] == 0 && ascii(p[0])) || pairs().all(|p| p[0] == 0 && ascii(p[1]))
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
                        return Err(PemError::Unterminated(shown(label)));
                    }
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(body.as_bytes())
                        .map_err(|_| PemError::BadBase64(shown(label)))?;
                    let (label, headers, _) = current.take().unwrap_or_default();
                    blocks.push(PemBlock {
                        label,
                        headers,
                        der,
                    });
                } else if line.starts_with("-----BEGIN ") {
                    return Err(PemError::Unterminated(shown(label)));
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
        return Err(PemError::Unterminated(shown(&label)));
    }
    if blocks.is_empty() {
        return Err(PemError::NoBlocks);
    }
    Ok(blocks)
}

/// A block's label as an error may show it: a label is a few upper-case words (`PRIVATE KEY`, `CERTIFICATE`); a
/// damaged file's "label" can be anything, key material included, and is not repeated.
fn shown(label: &str) -> String {
    let plausible = !label.is_empty()
        && label.len() <= 40
        && label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b' ' | b'#'));
    if plausible {
        label.to_owned()
    } else {
        "(unreadable label)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzzing finding (`fuzz/` target `credentials`): a damaged BEGIN line was repeated in the error whole, so key
    /// material on that line would have reached logs.
    #[test]
    fn a_damaged_label_is_not_repeated_in_errors() {
        let secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7";
        let file = format!("-----BEGIN PRIVATE KEY {secret}-----\nAAAA\n");
        let e = parse_blocks(file.as_bytes()).unwrap_err();
        assert_eq!(e, PemError::Unterminated("(unreadable label)".into()));
        assert!(!e.to_string().contains(secret));
        let e = parse_blocks(b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
        assert_eq!(e.to_string(), "the `PRIVATE KEY` block is not valid base64");
    }

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
    fn decodes_boms_and_utf16_and_refuses_utf16_without_bom() {
        let pem = "-----BEGIN X-----\r\nAAEC\r\n-----END X-----\r\n";
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(pem.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(pem.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let utf8_bom: Vec<u8> = [0xEF, 0xBB, 0xBF].into_iter().chain(pem.bytes()).collect();
        for (input, encoding) in [
            (le.clone(), TextEncoding::Utf16LeBom),
            (be, TextEncoding::Utf16BeBom),
            (utf8_bom, TextEncoding::Utf8Bom),
            (pem.as_bytes().to_vec(), TextEncoding::Utf8),
        ] {
            let (text, found) = decode_text(&input).unwrap();
            assert_eq!(found, encoding);
            assert_eq!(&*text, pem.as_bytes());
            assert_eq!(parse_blocks(&text).unwrap()[0].der, vec![0, 1, 2]);
        }
        assert_eq!(
            decode_text(&le[2..]).unwrap_err(),
            TextError::Utf16WithoutBom
        );
        assert_eq!(
            decode_text(&[0xFF, 0xFE, 0x00, 0xD8, 0x41]).unwrap_err(),
            TextError::BadUtf16
        );
        // DER is not mistaken for UTF-16.
        let der = [
            0x30, 0x82, 0x03, 0x0A, 0x30, 0x82, 0x01, 0xF2, 0xA0, 0x03, 0x02, 0x01,
        ];
        assert_eq!(decode_text(&der).unwrap().1, TextEncoding::Utf8);
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
