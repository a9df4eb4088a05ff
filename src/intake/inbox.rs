//! The inbox: which entries are submissions, and when each is complete.
//!
//! A township drops `inbox/<file>` or `inbox/<乡镇名称>/<file>`. Editor lock and
//! temp files are ignored, symlinks are never followed, deeper sub-folders are
//! left alone. A file is settled when its size and mtime have not changed for the
//! settle window **and** its bytes look complete (a zip package ends with its
//! central directory, which a half-copied xlsx lacks; nothing is parsed here: the
//! file is untrusted); a file that never looks complete is taken after four
//! windows, to be answered with the reason.

use crate::workbook::looks_complete;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// A file waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    /// The inbox sub-folder it is in, if any.
    pub folder: Option<String>,
    pub name: String,
}

/// An inbox entry that will not be taken, and why (shown in `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    /// Why, in Chinese.
    pub reason: &'static str,
}

/// Names of files still being written by an editor or a copy (lock files, temp
/// files, partial downloads): not taken, and not worth a word while they last.
fn in_progress(name: &str) -> bool {
    let lower = name.to_lowercase();
    name.starts_with("~$")
        || name.starts_with(".~lock.")
        || lower.ends_with(".tmp")
        || lower.ends_with(".part")
        || lower.ends_with(".partial")
        || lower.ends_with(".crdownload")
        || lower.ends_with(".download")
        || lower.ends_with(".!ut")
        || lower.ends_with('#')
        || lower.ends_with('~')
        // Excel writes its save temp file without an extension.
        || !name.contains('.')
}

/// Names of files that are not submissions: editor lock and temp files, partial
/// downloads, hidden files.
pub fn is_ignored(name: &str) -> bool {
    in_progress(name) || name.starts_with('.')
}

/// Why an entry named `name` of this type is not taken (None: it is taken, or
/// it is a file still being written).
fn skip_reason(name: &str, ft: &std::fs::FileType) -> Option<&'static str> {
    if ft.is_symlink() {
        Some("符号链接：为安全起见不跟随，请直接放入文件本身")
    } else if !ft.is_file() && !ft.is_dir() {
        Some("不是普通文件（管道、设备等），不予处理")
    } else if ft.is_file() && in_progress(name) {
        None
    } else if name.starts_with('.') {
        Some("隐藏文件（名称以“.”开头），不予处理；如需报送请去掉开头的“.”")
    } else {
        None
    }
}

/// Lists inbox files (top level and one sub-folder deep) that are not ignored, by
/// path, and the entries that will never be taken, with the reason.
pub fn candidates(inbox: &Path) -> (Vec<Candidate>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let Ok(rd) = std::fs::read_dir(inbox) else {
        return (out, skipped);
    };
    let mut skip = |path: PathBuf, reason| skipped.push(Skipped { path, reason });
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Ok(ft) = e.file_type() else { continue };
        if let Some(reason) = skip_reason(&name, &ft) {
            skip(e.path(), reason);
            continue;
        }
        if ft.is_dir() {
            let Ok(sub) = std::fs::read_dir(e.path()) else {
                continue;
            };
            for f in sub.flatten() {
                let fname = f.file_name().to_string_lossy().to_string();
                let Ok(t) = f.file_type() else { continue };
                if let Some(reason) = skip_reason(&fname, &t) {
                    skip(f.path(), reason);
                } else if t.is_dir() {
                    skip(
                        f.path(),
                        "子文件夹层级过深：只处理收件箱及其下一层乡镇文件夹中的文件",
                    );
                } else if t.is_file() && !is_ignored(&fname) {
                    out.push(Candidate {
                        path: f.path(),
                        folder: Some(name.clone()),
                        name: fname,
                    });
                }
            }
        } else if ft.is_file() && !is_ignored(&name) {
            out.push(Candidate {
                path: e.path(),
                folder: None,
                name,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    (out, skipped)
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    size: u64,
    mtime: Option<SystemTime>,
    since: Instant,
}

/// Watches inbox entries settle: remembers each file's size and mtime between passes.
#[derive(Debug)]
pub struct Inbox {
    dir: PathBuf,
    settle: Duration,
    seen: HashMap<PathBuf, Seen>,
    /// The entries not taken, as of the last pass.
    skipped: Vec<Skipped>,
    /// Files not to look at again before then (our side failed to store them).
    deferred: HashMap<PathBuf, Instant>,
    /// Files archived but not removable yet: another program holds them open (on
    /// Windows, Excel keeps a workbook it saved open, and it cannot be deleted).
    /// Never taken again while unchanged; removal is tried again every pass.
    archived: HashMap<PathBuf, super::archive::Identity>,
    /// Whether the last pass saw a file still settling (not merely waiting on a
    /// retry).
    settling: bool,
}

/// How often the removal of an archived file still held open is tried again.
const HELD_RETRY: Duration = Duration::from_secs(2);

impl Inbox {
    pub fn new(dir: &Path, settle: Duration) -> Inbox {
        Inbox {
            dir: dir.to_path_buf(),
            settle,
            seen: HashMap::new(),
            skipped: Vec::new(),
            deferred: HashMap::new(),
            archived: HashMap::new(),
            settling: false,
        }
    }

    /// Records a file archived as `identity` whose removal from the inbox failed
    /// (held open by another program): it is removed once it can be, and not
    /// taken again meanwhile unless it changes.
    pub fn remove_later(&mut self, path: &Path, identity: super::archive::Identity) {
        self.archived.insert(path.to_path_buf(), identity);
    }

    /// Leaves a file alone for `wait` (it stays in the inbox).
    pub fn defer(&mut self, path: &Path, wait: Duration) {
        self.deferred
            .insert(path.to_path_buf(), Instant::now() + wait);
    }

    /// Whether the last pass saw a file still settling (being copied in), as
    /// against files that only wait on a retry (deferred, or held open).
    pub fn settling(&self) -> bool {
        self.settling
    }

    /// Whether some file waits because our side failed to store it.
    pub fn deferring(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// The entries of the last pass that will not be taken.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// One pass over the inbox: the files that are complete, and when the next
    /// file still settling is due for another look (None: none is settling).
    pub fn settled(&mut self) -> (Vec<Candidate>, Option<Duration>) {
        let now = Instant::now();
        let (cands, skipped) = candidates(&self.dir);
        for s in &skipped {
            if !self.skipped.iter().any(|k| k.path == s.path) {
                tracing::warn!(
                    "inbox entry not taken: {} ({})",
                    crate::fsutil::printable(&s.path.to_string_lossy()),
                    s.reason
                );
            }
        }
        self.skipped = skipped;
        let present: BTreeSet<PathBuf> = cands.iter().map(|c| c.path.clone()).collect();
        self.seen.retain(|p, _| present.contains(p));
        self.archived.retain(|p, _| present.contains(p));
        let mut ready = Vec::new();
        let mut next: Option<Duration> = None;
        let settle = self.settle;
        self.deferred.retain(|_, t| *t > now);
        self.settling = false;
        for c in cands {
            if let Some(id) = self.archived.get(&c.path) {
                if super::archive::Identity::of(&c.path).as_ref() == Some(id) {
                    if std::fs::remove_file(&c.path).is_ok() {
                        tracing::info!(path = %c.path.display(), "archived earlier; removed from the inbox now that it is closed");
                        self.archived.remove(&c.path);
                    } else {
                        tracing::debug!(path = %c.path.display(), "archived; still held open by another program");
                        next = Some(next.map_or(HELD_RETRY, |n| n.min(HELD_RETRY)));
                    }
                    continue;
                }
                // Another file under the same name: a new submission.
                self.archived.remove(&c.path);
            }
            if let Some(t) = self.deferred.get(&c.path) {
                let wait = t.duration_since(now);
                next = Some(next.map_or(wait, |n| n.min(wait)));
                continue;
            }
            let Ok(meta) = std::fs::symlink_metadata(&c.path) else {
                continue;
            };
            let (size, mtime) = (meta.len(), meta.modified().ok());
            let entry = self.seen.entry(c.path.clone()).or_insert(Seen {
                size,
                mtime,
                since: now,
            });
            if entry.size != size || entry.mtime != mtime {
                *entry = Seen {
                    size,
                    mtime,
                    since: now,
                };
            }
            let quiet = now.duration_since(entry.since);
            if quiet >= settle && (quiet >= settle * 4 || looks_complete(&c.path)) {
                ready.push(c);
            } else {
                self.settling = true;
                let wait = if quiet < settle {
                    settle - quiet
                } else {
                    (settle / 4).min(settle * 4 - quiet)
                };
                let wait = wait.max(Duration::from_millis(5));
                next = Some(next.map_or(wait, |n| n.min(wait)));
            }
        }
        (ready, next)
    }

    /// Forgets a file once taken (a new file under the same name settles afresh).
    pub fn taken(&mut self, path: &Path) {
        self.seen.remove(path);
    }
}

#[cfg(test)]
mod tests {
    use super::is_ignored;

    #[test]
    fn lock_and_temp_files_are_ignored() {
        for n in [
            "~$柳河镇.xlsx",
            ".~lock.柳河镇.xlsx#",
            "a.tmp",
            "x.xlsx.part",
            "d.crdownload",
            "8A3B2C10",
            ".hidden.xlsx",
        ] {
            assert!(is_ignored(n), "{n}");
        }
        for n in [
            "柳河镇_残疾人信息登记簿_2026-11.xlsx",
            "a.xls",
            "b.ods",
            "notes.pdf",
        ] {
            assert!(!is_ignored(n), "{n}");
        }
    }
}
