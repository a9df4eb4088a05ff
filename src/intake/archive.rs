//! The archive: every received file's bytes, kept byte for byte under
//! `state/archive/<YYYY-MM>/<id>-<name>` before the inbox copy is removed.

use crate::fsutil;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SHA-256 of a file's bytes, or None when it cannot be read.
pub fn hash_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

/// Where a submission's bytes go, relative to the state folder: by the month
/// received, the id first so two uploads of one name never collide.
pub fn relative_path(month: &str, id: i64, name: &str) -> String {
    format!("archive/{month}/{id}-{}", fsutil::safe_name(name, 120))
}

/// Writes the bytes durably at `dest` (temp file, fsync, rename).
pub fn store(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fsutil::write_durable(dest, bytes)
}

/// Removes an inbox file only if it still holds the bytes with this hash.
pub fn remove_if_same(path: &Path, sha: &str) {
    if hash_file(path).is_some_and(|h| h == sha) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether the archived copy at `path` holds the bytes with this hash.
pub fn holds(path: &Path, sha: &str) -> bool {
    hash_file(path).is_some_and(|h| h == sha)
}
