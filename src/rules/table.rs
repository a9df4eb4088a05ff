//! Reference tables (CSV with a header row) shipped in the rules folder.
//!
//! UTF-8 (with or without Excel's BOM) is read as it is; a file that is not UTF-8
//! is read as GB18030 (the superset of GBK: what Excel on Chinese Windows saves as
//! "CSV"), and the table says so in [`Table::note`].

use std::path::{Path, PathBuf};

/// A CSV table held in memory.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub path: PathBuf,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// The file's line of each row (1-based), for messages about a row's data.
    pub lines: Vec<usize>,
    /// Said about how the file was read (its encoding), when worth saying.
    pub note: Option<String>,
}

impl Table {
    /// Reads a CSV file.
    pub fn load(path: &Path) -> Result<Table, String> {
        let raw = std::fs::read(path)
            .map_err(|e| format!("无法读取 {}：{}", path.display(), crate::fsutil::io_zh(&e)))?;
        let raw = raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&raw);
        let (text, note) = match std::str::from_utf8(raw) {
            Ok(t) => (std::borrow::Cow::Borrowed(t), None),
            Err(_) => match encoding_rs::GB18030
                .decode_without_bom_handling_and_without_replacement(raw)
            {
                Some(t) => (
                    t,
                    Some(format!(
                        "{} 不是 UTF-8 编码，已按 GBK（GB18030）读取；建议在 Excel 中另存为“CSV UTF-8（逗号分隔）”",
                        path.display()
                    )),
                ),
                None => {
                    return Err(format!(
                        "{} 既不是 UTF-8 也不是 GBK 编码的文本，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”",
                        path.display()
                    ))
                }
            },
        };
        // The header is read as a record too, so every record's position
        // (the line it starts on) comes from one counting.
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(false)
            .has_headers(false)
            .from_reader(text.as_bytes());
        let mut records = rdr.records();
        let headers = match records.next() {
            Some(h) => h
                .map_err(|e| format!("{} 表头无法读取：{}", path.display(), csv_zh(&e)))?
                .iter()
                .map(|h| h.trim().to_string())
                .collect(),
            None => Vec::new(),
        };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let bytes = text.as_bytes();
        let (mut counted_to, mut newlines) = (0usize, 0usize);
        for rec in records {
            let rec = rec.map_err(|e| format!("{} 内容有误：{}", path.display(), csv_zh(&e)))?;
            // From the byte offset: the reader's own line count lags a line on
            // CRLF files (it starts a record before taking the previous `\n`).
            let at = rec
                .position()
                .map_or(0, |p| p.byte() as usize)
                .clamp(counted_to, text.len());
            newlines += bytes[counted_to..at]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            counted_to = at;
            let lf = usize::from(bytes.get(at) == Some(&b'\n'));
            lines.push(newlines + 1 + lf);
            rows.push(rec.iter().map(|v| v.trim().to_string()).collect());
        }
        Ok(Table {
            path: path.to_path_buf(),
            headers,
            rows,
            lines,
            note,
        })
    }

    /// Position of a column by header.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}

/// A CSV error as a clerk reads it.
fn csv_zh(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "第 {} 行有 {len} 列，应与表头一样为 {expected_len} 列（多了或少了逗号？）",
            pos.as_ref().map_or(0, |p| p.line())
        ),
        csv::ErrorKind::Io(e) => crate::fsutil::io_zh(e),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_know_their_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("t.csv");
        for text in ["a,b\n1,2\n3,4\n5,6\n", "a,b\r\n1,2\r\n3,4\r\n5,6\r\n"] {
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
            let t = super::Table::load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(t.lines, [2, 3, 4], "{text:?}");
        }
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/townships.csv");
        let t = super::Table::load(&shipped).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.lines[..4], [2, 3, 4, 5]);
    }
}
