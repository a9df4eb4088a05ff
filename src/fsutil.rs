//! Durable file operations: fsync, directory sync, moves across volumes.

use std::fs::File;
use std::io;
use std::path::Path;

/// Flushes a file's data to disk. The handle is opened for writing: Windows
/// flushes (`FlushFileBuffers`) only through a handle with write access and
/// answers "access denied" to a read-only one.
pub fn sync_file(path: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .sync_all()
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

/// Makes everything this process creates from now on owner-only (folders 0700,
/// files 0600), whatever umask it was started with: the state folder and the
/// outbox hold ID numbers, bank cards and disability records (PIPL). Unix only;
/// on Windows the folders' ACLs decide (see the README).
pub fn owner_only_from_now_on() {
    #[cfg(unix)]
    // SAFETY: umask only swaps the process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
}

/// Takes group and other access off a folder of ours that holds personal data
/// (one made by an older version, or by hand, with the default 0755). Unix only.
pub fn restrict_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A name as it may be written into a log line or a text file: control
/// An OS error as a clerk reads it (Chinese), without the OS's English text.
pub fn io_zh(e: &std::io::Error) -> String {
    io_zh_on(e, cfg!(windows))
}

/// What another program holding a file (Excel, a copy still running) looks like
/// to whoever reads the message.
pub const HELD_ZH: &str = "文件被其他程序占用（可能正在 Excel 中打开）";

/// [`io_zh`] for the given platform's error codes (both are tested on either).
fn io_zh_on(e: &std::io::Error, windows: bool) -> String {
    use std::io::ErrorKind as K;
    if windows {
        match e.raw_os_error() {
            // ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION: another program has
            // the file open without sharing it (Excel, a copy in progress).
            Some(32 | 33) => return format!("{HELD_ZH}，请关闭后再试"),
            // ERROR_ACCESS_DENIED: what replacing or deleting a file that Excel
            // holds open gives, as well as a real lack of rights.
            Some(5) => return format!("{HELD_ZH}，或没有访问权限"),
            _ => {}
        }
    }
    match e.kind() {
        K::NotFound => "文件或目录不存在".into(),
        K::PermissionDenied => "没有访问权限".into(),
        K::AlreadyExists => "已存在同名文件".into(),
        K::StorageFull => "磁盘空间已满".into(),
        K::IsADirectory => "这是一个文件夹，不是文件".into(),
        K::NotADirectory => "路径中有一段不是文件夹".into(),
        K::ReadOnlyFilesystem => "磁盘为只读".into(),
        K::InvalidData => "内容无法识别".into(),
        K::UnexpectedEof => "文件不完整".into(),
        K::TimedOut => "操作超时".into(),
        K::Interrupted => "操作被中断".into(),
        K::ResourceBusy => HELD_ZH.into(),
        _ => match e.raw_os_error() {
            Some(n) => format!("系统错误（代码 {n}）"),
            None => format!("系统错误（{e}）"),
        },
    }
}

/// Whether an error means another program holds the file (Windows sharing or
/// lock violation); such a file is waited for, not judged.
pub fn is_held(e: &std::io::Error) -> bool {
    cfg!(windows) && matches!(e.raw_os_error(), Some(32 | 33))
}

/// characters (a CR or LF in a file name could fake lines) shown as `\u{..}`.
pub fn printable(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(name);
    }
    std::borrow::Cow::Owned(
        name.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
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

/// Replaces `dest` durably: `write` fills a temp file beside it (same folder, so
/// the rename stays on one volume), which is fsynced and renamed over `dest`, and
/// the folder is synced. The folder is created when missing; on any failure the
/// temp file is removed and `dest` is left as it was. The one writer for every
/// file we put in place (archive, quarantine, annotated copies, county workbooks).
pub fn replace_durable(dest: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{}.part", safe_name(&name, 200)));
    let res = write(&tmp)
        .and_then(|_| sync_file(&tmp))
        .and_then(|_| std::fs::rename(&tmp, dest));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    sync_dir(dir);
    Ok(())
}

/// Writes `bytes` to `dest` durably (see [`replace_durable`]).
pub fn write_durable(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_durable(dest, |tmp| std::fs::write(tmp, bytes))
}

/// Copies `from` to `to` durably (see [`replace_durable`]). The bytes only: the
/// copy is created with our own mode (owner-only), never the source's.
pub fn copy_durable(from: &Path, to: &Path) -> io::Result<()> {
    replace_durable(to, |tmp| {
        let mut input = File::open(from)?;
        let mut out = File::create(tmp)?;
        io::copy(&mut input, &mut out).map(|_| ())
    })
}

/// An exclusive OS lock on a state folder (`taizhang.lock` in it), held for the
/// life of the process that took it: two daemons on one journal would take the
/// same file twice and send the same notice twice. Portable (`flock` on Unix,
/// `LockFileEx` on Windows); released by the OS when the process ends, however
/// it ends. The holder's pid is written in the lock file and in `taizhang.pid`
/// beside it (on Windows the locked file cannot be read by another process).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Why a state folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it; its pid as it wrote it (None when unreadable).
    #[error("state folder held by another process (pid {0:?})")]
    Held(Option<u32>),
    #[error("state folder lock: {0}")]
    Io(#[from] io::Error),
}

impl StateLock {
    /// Takes the lock of `state_dir` without waiting, and writes our pid in it.
    pub fn acquire(state_dir: &Path) -> Result<StateLock, LockError> {
        use std::io::{Read, Seek, Write};
        std::fs::create_dir_all(state_dir)?;
        let path = state_dir.join("taizhang.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                // Windows locks the bytes themselves (a locked range cannot be
                // read by another handle): the pid is also in `taizhang.pid`.
                let read_pid = |p: &Path| {
                    let mut text = String::new();
                    std::fs::File::open(p)
                        .and_then(|mut f| f.read_to_string(&mut text))
                        .ok()
                        .and_then(|_| text.split_whitespace().next()?.parse().ok())
                };
                let pid = read_pid(&path).or_else(|| read_pid(&state_dir.join("taizhang.pid")));
                return Err(LockError::Held(pid));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{}", std::process::id())?;
        file.flush()?;
        std::fs::write(
            state_dir.join("taizhang.pid"),
            format!("{}\n", std::process::id()),
        )?;
        Ok(StateLock { _file: file })
    }
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
        assert_eq!(printable("假\r\n收到.xlsx"), "假\\u{d}\\u{a}收到.xlsx");
        assert_eq!(printable("柳河镇.xlsx"), "柳河镇.xlsx");
    }

    #[test]
    fn os_errors_read_in_chinese_on_both_platforms() {
        let denied = io::Error::from_raw_os_error(5);
        let sharing = io::Error::from_raw_os_error(32);
        let lock = io::Error::from_raw_os_error(33);
        for e in [&denied, &sharing, &lock] {
            let zh = io_zh_on(e, true);
            assert!(
                zh.starts_with("文件被其他程序占用（可能正在 Excel 中打开）"),
                "{zh}"
            );
            assert!(!zh.contains("os error"), "{zh}");
        }
        assert_eq!(
            io_zh_on(&io::Error::from(io::ErrorKind::PermissionDenied), false),
            "没有访问权限"
        );
        assert_eq!(
            io_zh_on(&io::Error::from(io::ErrorKind::IsADirectory), true),
            "这是一个文件夹，不是文件"
        );
    }

    #[test]
    fn a_state_folder_is_held_by_one_lock_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        match StateLock::acquire(dir.path()) {
            Err(LockError::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(first);
        StateLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_failed_replace_leaves_the_target_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("汇总.xlsx");
        write_durable(&dest, b"old").unwrap();
        let err = replace_durable(&dest, |tmp| {
            std::fs::write(tmp, b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_durable(&dest, b"new").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    }
}
