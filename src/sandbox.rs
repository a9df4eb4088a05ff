//! Untrusted files are read in a worker process, never in the daemon's own.
//!
//! Reading a township's workbook (calamine) and validating it runs in a child of
//! our own binary (`taizhang worker`, hidden): the request goes in as JSON on
//! stdin, the whole report (and the annotated copy's path) comes back as JSON on
//! stdout. The parent bounds the child's wall-clock time (killed past
//! [`WorkerLimits::timeout`]) and its memory: on Unix its address space
//! (`setrlimit(RLIMIT_AS)` in the child before `exec`), on Windows its committed
//! memory (a Job Object with `JOB_OBJECT_LIMIT_PROCESS_MEMORY`). A file that makes
//! the reader allocate 100 GB, loop, or abort ends as a [`Failure`] for that file,
//! and the daemon goes on with the next.
//!
//! A worker never outlives its daemon, however the daemon ends (`kill -9`
//! included): on Linux the child asks the kernel for SIGKILL when its parent dies
//! (`PR_SET_PDEATHSIG`, set before `exec`, then checks the parent is still the
//! one that started it); on Windows the child is created suspended, put in its
//! job (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: the job, and the worker with it,
//! ends when the daemon's handle closes, as it does when the daemon dies) and only
//! then resumed, so it runs no instruction outside the job.

use crate::rules::RuleSet;
use crate::validate::{self, FileReport, Options, WireReport};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a worker is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// The rules folder (loaded by the worker; the same one the caller loaded).
    pub rules: PathBuf,
    pub file: PathBuf,
    pub opts: Options,
    /// Write the annotated copy here when the file has findings.
    pub annotate_dir: Option<PathBuf>,
    /// Where the ledgers a kind refers to come from.
    #[serde(default)]
    pub refs: RefSources,
}

/// Where a worker finds the ledgers a file is checked against (a payments
/// ledger's register): the files of the same run first, then a journal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefSources {
    #[serde(default)]
    pub ledgers: Vec<validate::RefLedger>,
    /// A state folder whose journal (opened read-only) answers the rest.
    #[serde(default)]
    pub state: Option<PathBuf>,
}

/// What a worker hands back.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub report: WireReport,
    /// The annotated copy written, or why it could not be.
    pub annotated: Option<Result<PathBuf, String>>,
}

/// Bounds on one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerLimits {
    pub timeout: Duration,
    /// Bytes of address space (Unix).
    pub memory: u64,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            timeout: Duration::from_secs(60),
            memory: 1 << 30,
        }
    }
}

/// Why a worker gave no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("文件异常，无法读取：解析时内存超限（上限 {0} MB）")]
    Memory(u64),
    #[error("文件异常，无法读取：解析超时（超过 {0} 秒）")]
    Timeout(u64),
    #[error("文件异常，无法读取：解析进程异常退出（{0}）")]
    Crashed(String),
    #[error("无法启动解析进程：{0}")]
    Spawn(String),
    /// The county's side failed, not the file: the rules in force or the journal
    /// could not be read by the worker. The file waits; no township is told.
    #[error("规则或台账数据库无法使用：{0}")]
    OurSide(String),
}

/// The worker's exit code when the county's side failed (rules, journal).
pub const EXIT_OUR_SIDE: i32 = 4;

/// Why a worker could not serve its request.
#[derive(Debug)]
pub enum ServeError {
    /// The rules in force or the journal (the county's side).
    OurSide(String),
    /// Anything else (the request, the reply).
    Other(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::OurSide(m) | ServeError::Other(m) => f.write_str(m),
        }
    }
}

/// The worker's side: reads a [`Request`] from `input`, validates (and
/// annotates), writes the [`Reply`] to `output`.
pub fn serve(input: impl Read, output: impl Write) -> Result<(), ServeError> {
    let req: Request =
        serde_json::from_reader(input).map_err(|e| ServeError::Other(format!("request: {e}")))?;
    // A test hook (debug builds only): the worker dies as a reader that aborts would.
    #[cfg(debug_assertions)]
    if std::env::var_os("TAIZHANG_WORKER_ABORT")
        .is_some_and(|v| v.is_empty() || req.file.to_string_lossy().contains(&*v.to_string_lossy()))
    {
        std::process::abort();
    }
    // A test hook (debug builds only): the worker hangs on files whose path holds this.
    #[cfg(debug_assertions)]
    if std::env::var_os("TAIZHANG_WORKER_HANG")
        .is_some_and(|v| req.file.to_string_lossy().contains(&*v.to_string_lossy()))
    {
        std::thread::sleep(Duration::from_secs(30));
    }
    let reply = answer(&req)?;
    let mut out = std::io::BufWriter::new(output);
    serde_json::to_writer(&mut out, &reply)
        .map_err(|e| ServeError::Other(format!("reply: {e}")))?;
    out.flush()
        .map_err(|e| ServeError::Other(format!("reply: {e}")))
}

/// What a worker answers to a request: the rules it names loaded, the file
/// validated against them (and the ledgers it refers to), annotated if asked.
fn answer(req: &Request) -> Result<Reply, ServeError> {
    let rules = RuleSet::load(&req.rules).map_err(|e| {
        ServeError::OurSide(format!(
            "{}：{}",
            req.rules.display(),
            e.to_string().replace('\n', "；")
        ))
    })?;
    let journal = match &req.refs.state {
        Some(state) if rules.kinds.iter().any(|k| !k.references.is_empty()) => Some(
            crate::journal::Journal::open_read_only(state)
                .map(|j| crate::standing::JournalRefs::new(j, &rules))
                .map_err(|e| ServeError::OurSide(format!("journal: {e}")))?,
        ),
        _ => None,
    };
    let behind: &dyn validate::References = match &journal {
        Some(j) => j,
        None => &validate::NoReferences,
    };
    let refs = validate::RunLedgers {
        ledgers: &req.refs.ledgers,
        behind,
    };
    let report = validate::validate_with(&rules, &req.file, &req.opts, &refs);
    let annotated = match &req.annotate_dir {
        Some(dir) if report.fatal.is_none() && !report.findings.is_empty() => Some(
            std::fs::create_dir_all(dir)
                .map_err(crate::annotate::AnnotateError::from)
                .and_then(|_| crate::annotate::annotate_file(&req.file, &report, dir))
                .map_err(|e| e.to_string()),
        ),
        _ => None,
    };
    Ok(Reply {
        report: report.into(),
        annotated,
    })
}

/// What reading a file gives: the report and the annotated copy if asked
/// (or why it could not be written); `Err`, the county's side failed (the rules
/// in force, the journal): no verdict on the file, which waits.
pub type Answer = Result<(FileReport, Option<Result<PathBuf, String>>), String>;

/// How the daemon reads a file, one of its explicit inputs: [`Worker`] (a
/// process of our own binary, bounded in time and memory) in production,
/// [`InProcess`] where a test drives the daemon's logic.
pub trait Reader {
    /// A file that defeated the reader is a report that sets it aside.
    fn read(&self, req: &Request) -> Answer;
}

/// Reads each file in a worker process of `exe` within `limits`.
pub struct Worker {
    pub exe: PathBuf,
    pub limits: WorkerLimits,
}

impl Reader for Worker {
    fn read(&self, req: &Request) -> Answer {
        validate_file(&self.exe, req, self.limits)
    }
}

/// Reads each file in the caller's process, answering exactly what a worker
/// would (the report through the same wire form) but with no isolation and no
/// bounds: for tests of the daemon's logic on trusted files, never for a
/// township's file in production.
pub struct InProcess;

impl Reader for InProcess {
    fn read(&self, req: &Request) -> Answer {
        match answer(req) {
            Ok(r) => Ok((r.report.into(), r.annotated)),
            Err(ServeError::OurSide(why)) => Err(why),
            Err(ServeError::Other(why)) => Ok((set_aside(req, &Failure::Crashed(why)), None)),
        }
    }
}

/// Runs one request in a worker process of `exe` within `limits`.
pub fn run(exe: &Path, req: &Request, limits: WorkerLimits) -> Result<Reply, Failure> {
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let bytes = limits.memory as libc::rlim_t;
        #[cfg(target_os = "linux")]
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls between fork and exec (setrlimit,
        // prctl, getppid).
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Killed with the daemon, whenever and however it dies; a daemon
                // that died before this line is seen as a new parent.
                #[cfg(target_os = "linux")]
                {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                }
                Ok(())
            });
        }
    }
    // Windows: created suspended, put in a Job Object with a memory limit that
    // dies with our handle, and only then resumed.
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        cmd.creation_flags(job::CREATE_SUSPENDED);
    }
    let mut child = cmd.spawn().map_err(|e| Failure::Spawn(e.to_string()))?;
    #[cfg(windows)]
    let _job =
        match job::confine(&child, limits.memory).and_then(|j| job::resume(&child).map(|_| j)) {
            Ok(j) => j,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Spawn(format!(
                    "无法设置内存上限：{}",
                    crate::fsutil::io_zh(&e)
                )));
            }
        };
    tracing::debug!(pid = child.id(), file = %req.file.display(), "worker started");
    // The request is written as it is serialized (the ledgers it carries may be
    // large: no second copy of them in memory); the worker reading it in
    // parallel. A failed write shows as the worker's failure to read it.
    let stdin = child.stdin.take();
    let (status, stdout, stderr) = std::thread::scope(|sc| {
        let writer = sc.spawn(move || {
            if let Some(s) = stdin {
                let mut w = std::io::BufWriter::with_capacity(1 << 16, s);
                let _ = serde_json::to_writer(&mut w, req)
                    .and_then(|_| w.flush().map_err(serde_json::Error::io));
            }
        });
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            sc.spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + limits.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Failure::Crashed(e.to_string()));
                }
            }
        };
        let _ = writer.join();
        Ok((
            status,
            out.join().unwrap_or_default(),
            err.join().unwrap_or_default(),
        ))
    })?;
    let Some(status) = status else {
        return Err(Failure::Timeout(limits.timeout.as_secs()));
    };
    let stderr = String::from_utf8_lossy(&stderr);
    if status.success() {
        return serde_json::from_slice(&stdout)
            .map_err(|e| Failure::Crashed(format!("结果无法识别：{e}")));
    }
    if status.code() == Some(EXIT_OUR_SIDE) {
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(Failure::OurSide(
            last.trim_start_matches("worker: ").to_string(),
        ));
    }
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return Err(Failure::Memory(limits.memory >> 20));
    }
    let how = match status.code() {
        Some(c) => format!("退出码 {c}"),
        None => signal_name(&status),
    };
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    tracing::warn!(file = %req.file.display(), "worker died ({how}): {}", last.unwrap_or(""));
    Err(Failure::Crashed(how))
}

/// Windows: a Job Object that bounds a worker's memory
/// (`JOB_OBJECT_LIMIT_PROCESS_MEMORY`) and kills it when the handle is closed
/// (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`), so a worker never outlives its parent.
#[cfg(windows)]
mod job {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
        SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    };

    /// `CreateProcess` flag: the new process's first thread does not run until
    /// resumed.
    pub(super) const CREATE_SUSPENDED: u32 =
        windows_sys::Win32::System::Threading::CREATE_SUSPENDED;

    /// Resumes the threads of a process created suspended (its one thread: std
    /// keeps no handle to it, so it is found by a snapshot of the system's
    /// threads).
    pub(super) fn resume(child: &std::process::Child) -> std::io::Result<()> {
        use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
        use windows_sys::Win32::System::Diagnostics::ToolHelp::{
            CreateToolhelp32Snapshot, Thread32First, Thread32Next, TH32CS_SNAPTHREAD, THREADENTRY32,
        };
        use windows_sys::Win32::System::Threading::{
            OpenThread, ResumeThread, THREAD_SUSPEND_RESUME,
        };
        let pid = child.id();
        // SAFETY: plain Win32 calls; the snapshot and thread handles are closed
        // before returning, the entry struct is zeroed with its size set.
        unsafe {
            let snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
            if snap == INVALID_HANDLE_VALUE {
                return Err(std::io::Error::last_os_error());
            }
            let mut entry: THREADENTRY32 = std::mem::zeroed();
            entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
            let mut resumed = 0;
            let mut more = Thread32First(snap, &mut entry) != 0;
            while more {
                if entry.th32OwnerProcessID == pid {
                    let thread = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                    if !thread.is_null() {
                        if ResumeThread(thread) != u32::MAX {
                            resumed += 1;
                        }
                        CloseHandle(thread);
                    }
                }
                more = Thread32Next(snap, &mut entry) != 0;
            }
            CloseHandle(snap);
            if resumed == 0 {
                return Err(std::io::Error::other(
                    "no thread of the worker could be resumed",
                ));
            }
        }
        Ok(())
    }

    /// The job a worker runs in; closing it ends the worker.
    pub(super) struct Job(HANDLE);

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: the handle came from CreateJobObjectW and is closed once.
            unsafe {
                CloseHandle(self.0);
            }
        }
    }

    /// Puts `child` in a new job limited to `bytes` of committed memory.
    pub(super) fn confine(child: &std::process::Child, bytes: u64) -> std::io::Result<Job> {
        // SAFETY: plain Win32 calls on handles we own; the struct is zeroed as the
        // API expects, then the two limits set.
        unsafe {
            let handle = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if handle.is_null() {
                return Err(std::io::Error::last_os_error());
            }
            let job = Job(handle);
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags =
                JOB_OBJECT_LIMIT_PROCESS_MEMORY | JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            info.ProcessMemoryLimit = usize::try_from(bytes).unwrap_or(usize::MAX);
            let ok = SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            );
            if ok == 0 {
                return Err(std::io::Error::last_os_error());
            }
            if AssignProcessToJobObject(job.0, child.as_raw_handle() as HANDLE) == 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(job)
        }
    }
}

#[cfg(unix)]
fn signal_name(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(libc::SIGABRT) => "进程中止 SIGABRT".into(),
        Some(libc::SIGKILL) => "进程被强制结束 SIGKILL".into(),
        Some(libc::SIGSEGV) => "内存访问错误 SIGSEGV".into(),
        Some(s) => format!("信号 {s}"),
        None => "未知原因".into(),
    }
}

#[cfg(not(unix))]
fn signal_name(_: &std::process::ExitStatus) -> String {
    "未知原因".into()
}

/// Validates one file in a worker: the report, and the annotated copy if asked.
/// A worker that failed on the file is a report that sets it aside; one that
/// failed on the county's side (the rules in force, the journal) is `Err`, the
/// reason: no verdict on the file.
pub fn validate_file(exe: &Path, req: &Request, limits: WorkerLimits) -> Answer {
    match run(exe, req, limits) {
        Ok(r) => Ok((r.report.into(), r.annotated)),
        Err(Failure::OurSide(why)) => Err(why),
        Err(f) => Ok((set_aside(req, &f), None)),
    }
}

/// The report of a file a worker gave no answer for.
fn set_aside(req: &Request, f: &Failure) -> FileReport {
    let name = req.opts.name.clone().unwrap_or_else(|| {
        req.file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    });
    FileReport::set_aside(&name, f.to_string())
}

/// Validates many files, each in its own worker, on all cores; reports in the
/// order of `files`. `done` is told of each report as it comes (a progress bar).
pub fn validate_many(
    exe: &Path,
    rules: &Path,
    files: &[PathBuf],
    opts: &Options,
    refs: &RefSources,
    limits: WorkerLimits,
    done: &(dyn Fn(&FileReport) + Sync),
) -> Vec<FileReport> {
    validate::on_all_cores(files.len(), |i, _| {
        let req = Request {
            rules: rules.to_path_buf(),
            file: files[i].clone(),
            opts: opts.clone(),
            annotate_dir: None,
            refs: refs.clone(),
        };
        // `validate` has no file to wait with: the county's side failing is said
        // as the file's outcome, as before.
        let report = match validate_file(exe, &req, limits) {
            Ok((report, _)) => report,
            Err(why) => set_aside(&req, &Failure::OurSide(why)),
        };
        done(&report);
        report
    })
}

/// Validates the files of one run (`taizhang validate FILE...`), each in its own
/// worker: a file whose kind refers to another (a payments ledger to its unit's
/// register) is checked against that unit's ledger among the files of the run if
/// one passed, else the journal of `state`, else it says none is on file. Files
/// named as a referring kind are read after the others; one that turns out to be
/// such a kind without saying so in its name is read again.
pub fn validate_run(
    exe: &Path,
    rules: &RuleSet,
    files: &[PathBuf],
    opts: &Options,
    state: Option<PathBuf>,
    limits: WorkerLimits,
    done: &(dyn Fn(&FileReport) + Sync),
) -> Vec<FileReport> {
    let behind = RefSources {
        ledgers: Vec::new(),
        state,
    };
    if rules.kinds.iter().all(|k| k.references.is_empty()) || files.len() < 2 {
        return validate_many(exe, &rules.dir, files, opts, &behind, limits, done);
    }
    let name_of = |p: &PathBuf| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    // The county's lists first, then the ledgers others are checked against
    // (registers; files named as no kind), then those checked against them
    // (payments ledgers): [`RuleSet::batch_rank`], from the references.
    let rank: Vec<u8> = files
        .iter()
        .map(|f| rules.batch_rank(&name_of(f)))
        .collect();
    let of_rank = |r: u8| -> Vec<usize> { (0..files.len()).filter(|&i| rank[i] == r).collect() };
    let (lists, first) = (of_rank(0), of_rank(1));
    // Everything that refers to another township kind is read last, against
    // the ledgers of the first two phases (the shipped rules have one such
    // kind; a kind referring to it would be checked against the journal's, not
    // the run's).
    let later: Vec<usize> = (0..files.len()).filter(|&i| rank[i] >= 2).collect();
    // The first files are kept as ledgers (the columns references read), to
    // check the later ones against — when a file of the run may be one: named as
    // a referring kind, or as no kind.
    let may_refer = !later.is_empty()
        || !lists.is_empty()
        || files
            .iter()
            .any(|f| match rules.kind_named_in(&name_of(f)) {
                // Named as no kind; or a kind checked against its own earlier ledgers.
                None => true,
                Some(k) => k.references.iter().any(|r| r.kind == k.id),
            });
    let collecting = Options {
        as_ledger: if may_refer {
            validate::refs::LedgerSpec::all(rules)
        } else {
            Vec::new()
        },
        ..opts.clone()
    };
    let paths = |ix: &[usize]| -> Vec<PathBuf> { ix.iter().map(|&i| files[i].clone()).collect() };
    let mut reports: Vec<FileReport> = (0..files.len()).map(|_| FileReport::default()).collect();
    // The ledgers others refer to, from the files that passed: the lists of the
    // run are there when the first files are read.
    let mut ledgers: Vec<validate::RefLedger> = Vec::new();
    for (phase, ix) in [&lists, &first].into_iter().enumerate() {
        if ix.is_empty() {
            continue;
        }
        let sources = RefSources {
            ledgers: if phase == 0 {
                Vec::new()
            } else {
                std::mem::take(&mut ledgers)
            },
            state: behind.state.clone(),
        };
        let got = validate_many(
            exe,
            &rules.dir,
            &paths(ix),
            &collecting,
            &sources,
            limits,
            done,
        );
        ledgers.extend(sources.ledgers);
        for (&i, mut r) in ix.iter().zip(got) {
            let ledger = r.ledger.take();
            if r.fatal.is_none() && r.errors == 0 {
                ledgers.extend(ledger);
            }
            reports[i] = r;
        }
    }
    let with = RefSources {
        ledgers,
        state: behind.state.clone(),
    };
    // First files that turned out to refer to a ledger of the run: again, with it.
    let run = validate::RunLedgers {
        ledgers: &with.ledgers,
        behind: &validate::NoReferences,
    };
    let applies = |r: &FileReport| {
        let kind = r.kind_id.as_deref().and_then(|k| rules.kind(k));
        match (kind, &r.unit, &r.period) {
            // The lists of the run were there when the first files were read.
            (Some(k), Some(unit), Some(period)) => k
                .references
                .iter()
                .filter(|x| !x.county)
                .any(|x| run.has(&x.kind, unit, &x.bound(period))),
            _ => false,
        }
    };
    let again: Vec<usize> = first
        .iter()
        .copied()
        .filter(|&i| applies(&reports[i]))
        .collect();
    let mut second: Vec<usize> = later.clone();
    second.extend(&again);
    // Progress counts each file once: the re-read ones were counted already.
    let later_names: Vec<String> = later.iter().map(|&i| name_of(&files[i])).collect();
    let redone = validate_many(
        exe,
        &rules.dir,
        &paths(&second),
        opts,
        &with,
        limits,
        &|r| {
            if later_names.contains(&r.file) {
                done(r)
            }
        },
    );
    for (i, r) in second.into_iter().zip(redone) {
        reports[i] = r;
    }
    reports
}
