//! The archive: every received file's bytes, kept byte for byte under
//! `state/archive/<YYYY-MM>/<id>-<name>` before the inbox copy is removed.
//!
//! A file is first *staged*: streamed into `state/archive/.staging/` while it is
//! hashed (never held in memory whole, whatever its size), fsynced, and checked
//! to be the same file before and after (size, mtime and, on Unix, device and
//! inode): a township that re-uploads under the same name while we read keeps
//! its new file in the inbox, to be taken again. Only then is it journaled and
//! renamed into place.

use crate::fsutil;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The SHA-256 of bytes, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
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

/// What identifies an inbox file's version: it changed if any of these did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    size: u64,
    mtime: Option<std::time::SystemTime>,
    /// (device, inode) where the platform has them.
    file_id: Option<(u64, u64)>,
}

impl Identity {
    /// The identity of the file at `path` now (None: gone or unreadable).
    pub fn of(path: &Path) -> Option<Identity> {
        let m = std::fs::symlink_metadata(path).ok()?;
        #[cfg(unix)]
        let file_id = {
            use std::os::unix::fs::MetadataExt;
            Some((m.dev(), m.ino()))
        };
        #[cfg(not(unix))]
        let file_id = None;
        Some(Identity {
            size: m.len(),
            mtime: m.modified().ok(),
            file_id,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

/// A file's bytes copied into the staging folder, hashed.
#[derive(Debug)]
pub struct Staged {
    pub tmp: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// The inbox file's identity while it was read.
    pub identity: Identity,
}

/// Why a file could not be staged.
#[derive(Debug)]
pub enum StageError {
    /// Gone, or changed while it was read: it stays in the inbox (if there) and
    /// is looked at again later.
    Changed,
    /// Our side failed (the state disk full, say); the partial copy is removed and
    /// the file stays in the inbox.
    Io(std::io::Error),
    /// The file is there but could not be opened or read: another program holds
    /// it (on Windows, a copy still running or Excel without sharing), or we have
    /// no right to read it. It stays in the inbox and is tried again later.
    Unreadable(std::io::Error),
}

/// Streams `src` into `staging` while hashing it; fsyncs the copy. The file must
/// be the same before and after the read.
pub fn stage(src: &Path, staging: &Path) -> Result<Staged, StageError> {
    use std::io::{Read, Write};
    let Some(identity) = Identity::of(src) else {
        return Err(StageError::Changed);
    };
    std::fs::create_dir_all(staging).map_err(StageError::Io)?;
    let tmp = staging.join(format!(
        "{}-{}.part",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let copy = || -> Result<(String, u64), StageError> {
        let mut input = match std::fs::File::open(src) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StageError::Changed),
            Err(e) => return Err(StageError::Unreadable(e)),
        };
        let mut out = std::fs::File::create(&tmp).map_err(StageError::Io)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if fsutil::is_held(&e) => return Err(StageError::Unreadable(e)),
                Err(_) => return Err(StageError::Changed),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(StageError::Io)?;
            size += n as u64;
        }
        out.sync_all().map_err(StageError::Io)?;
        // A test hook (debug builds only): a slow read, to replace the file meanwhile.
        #[cfg(debug_assertions)]
        if let Some(ms) = std::env::var("TAIZHANG_SLOW_READ_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        Ok((hex(&hasher.finalize()), size))
    };
    let res = copy().and_then(|(sha, size)| {
        if Identity::of(src).as_ref() == Some(&identity) && size == identity.size {
            Ok((sha, size))
        } else {
            Err(StageError::Changed)
        }
    });
    match res {
        Ok((sha256, size)) => Ok(Staged {
            tmp,
            sha256,
            size,
            identity,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Moves a staged copy to its place in the archive (same volume: a rename).
pub fn place(staged: &Staged, dest: &Path) -> std::io::Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::rename(&staged.tmp, dest)?;
    if let Some(dir) = dest.parent() {
        fsutil::sync_dir(dir);
    }
    Ok(())
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
