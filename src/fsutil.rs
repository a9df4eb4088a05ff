//! Durable file operations: fsync, directory sync, moves across volumes.

use std::fs::File;
use std::io;
use std::path::Path;

/// Flushes a file's data to disk.
pub fn sync_file(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Flushes a directory entry change (a rename, a new file) to disk. Only Unix can
/// open a directory for syncing; elsewhere this is a no-op.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
    }
}

/// Copies `from` to `to` durably: into a temp file beside `to`, fsync, rename.
pub fn copy_durable(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = to.with_extension(format!(
        "{}.part",
        to.extension()
            .map(|e| e.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    std::fs::copy(from, &tmp)?;
    sync_file(&tmp)?;
    std::fs::rename(&tmp, to)?;
    if let Some(parent) = to.parent() {
        sync_dir(parent);
    }
    Ok(())
}

/// Makes a file name safe to use inside our own folders: no separators, no
/// control characters, no leading dots, at most `max` bytes of UTF-8 (file systems
/// count bytes: 255 on ext4; the extension is kept).
pub fn safe_name(name: &str, max: usize) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.').trim().to_string();
    let cleaned = if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    };
    if cleaned.len() <= max {
        return cleaned;
    }
    let (stem, ext) = match cleaned.rfind('.') {
        Some(p) if cleaned.len() - p <= 8 => (&cleaned[..p], &cleaned[p..]),
        _ => (cleaned.as_str(), ""),
    };
    let budget = max.saturating_sub(ext.len()).max(4);
    let mut out = String::new();
    for c in stem.chars() {
        if out.len() + c.len_utf8() > budget {
            break;
        }
        out.push(c);
    }
    format!("{out}{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("../../etc/passwd", 100), "_.._etc_passwd");
        assert_eq!(
            safe_name("柳河镇_登记簿_2026-11.xlsx", 100),
            "柳河镇_登记簿_2026-11.xlsx"
        );
        assert_eq!(safe_name("...", 100), "file");
        let long = format!("{}.xlsx", "长".repeat(300));
        let s = safe_name(&long, 60);
        assert_eq!(s, format!("{}.xlsx", "长".repeat(18)));
        assert_eq!(safe_name("a\u{0}b\nc.xls", 100), "a_b_c.xls");
    }
}
