//! Reference tables (CSV, UTF-8 with a header row) shipped in the rules folder.

use std::path::Path;

/// A CSV table held in memory.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads a CSV file; a UTF-8 BOM (Excel's "CSV UTF-8") is accepted.
    pub fn load(path: &Path) -> Result<Table, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("无法读取 {}：{e}", path.display()))?;
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
        let headers = rdr
            .headers()
            .map_err(|e| format!("{} 表头无法读取：{e}", path.display()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| format!("{} 内容有误：{e}", path.display()))?;
            rows.push(rec.iter().map(|v| v.trim().to_string()).collect());
        }
        Ok(Table { headers, rows })
    }

    /// Position of a column by header.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}
