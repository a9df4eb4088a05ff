//! The intake daemon: watch the inbox, take each file once it is complete,
//! archive it, validate it, journal the outcome and rebuild the county workbook.
//!
//! Sources (native file events or polling, plus a periodic full rescan) only wake
//! the single worker loop; the rescan is the truth. Errors come in two tiers: a
//! journal failure stops the daemon (nothing is safe without it), anything about one
//! file is recorded against that file and the loop goes on.

use crate::config::Config;
use crate::intake::identify::{self, UnitVerdict};
use crate::notice::queue;
use crate::rules::schema::SendWorkbook;
use crate::rules::RuleSet;
use crate::store::{NewSubmission, Outcome, OutcomeRecord, State, Store, StoreError, Submission};
use crate::validate::{self, FileReport, Options};
use crate::workbook::{Book, Limits};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Fatal daemon errors.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("file watcher: {0}")]
    Watch(#[from] notify::Error),
    #[error("mail: {0}")]
    Mail(String),
}

/// Local hour from which the daily digest of county workbooks is queued.
pub const DIGEST_HOUR: u32 = 17;

/// A file waiting in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    /// The inbox sub-folder it is in, if any.
    pub folder: Option<String>,
    pub name: String,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    size: u64,
    mtime: Option<SystemTime>,
    since: Instant,
}

/// Names of files that are not submissions: editor lock and temp files, partial downloads.
pub fn is_ignored(name: &str) -> bool {
    let lower = name.to_lowercase();
    name.starts_with("~$")
        || name.starts_with('.')
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

/// What one file came to.
#[derive(Debug, Clone)]
pub struct Processed {
    pub id: i64,
    pub outcome: Outcome,
    pub report: FileReport,
}

/// The daemon.
pub struct Daemon {
    pub cfg: Config,
    pub rules: RuleSet,
    pub store: Store,
    seen: HashMap<PathBuf, Seen>,
    stop: Arc<AtomicBool>,
    /// Wakes the mail thread when messages are queued (`watch` only).
    mail_wake: Option<mpsc::Sender<()>>,
}

impl Daemon {
    pub fn new(cfg: Config, rules: RuleSet, stop: Arc<AtomicBool>) -> Result<Daemon, DaemonError> {
        for d in [&cfg.inbox, &cfg.outbox, &cfg.state] {
            std::fs::create_dir_all(d).map_err(|e| DaemonError::Io(d.clone(), e))?;
        }
        let store = Store::open(&cfg.state)?;
        // Messages caught mid-send by a stop are never resent automatically.
        let uncertain = queue::settle_after_stop(store.conn()).map_err(StoreError::from)?;
        if uncertain > 0 {
            tracing::warn!("{uncertain} message(s) were being sent when the daemon stopped; marked uncertain (see status)");
        }
        Ok(Daemon {
            cfg,
            rules,
            store,
            seen: HashMap::new(),
            stop,
            mail_wake: None,
        })
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Resumes every submission a stop left unfinished, from its journaled state,
    /// and rebuilds county workbooks that are missing from the outbox.
    pub fn recover(&mut self) -> Result<(), DaemonError> {
        for sub in self.store.unfinished()? {
            tracing::info!(id = sub.id, file = %sub.original_name, state = sub.state.as_str(), "resuming after a stop");
            match sub.state {
                State::Received => {
                    let archived = self.cfg.state.join(&sub.archive_path);
                    if !sub.archive_path.is_empty()
                        && hash_file(&archived).is_some_and(|h| h == sub.sha256)
                    {
                        remove_if_same(Path::new(&sub.inbox_path), &sub.sha256);
                        self.store.set_state(sub.id, State::Archived)?;
                        self.validate_and_decide(sub.id)?;
                    } else {
                        // The bytes never reached the archive: the file is still in the
                        // inbox and is received afresh.
                        self.store.forget_unarchived(sub.id)?;
                    }
                }
                State::Archived => {
                    self.validate_and_decide(sub.id)?;
                }
                State::Validated => {
                    self.finish(sub.id)?;
                }
                State::Done => {}
            }
        }
        for (kind, period) in self.store.kind_periods()? {
            let Some(k) = self.rules.kind(&kind) else {
                continue;
            };
            let path = self
                .cfg
                .outbox
                .join(crate::consolidate::file_name(&self.rules, k, &period));
            if !path.exists() {
                self.rebuild(&kind, &period);
            }
        }
        Ok(())
    }

    /// Lists inbox files (top level and one sub-folder deep) that are not ignored.
    pub fn candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.cfg.inbox) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_symlink() {
                tracing::warn!(path = %e.path().display(), "symlink in the inbox ignored");
                continue;
            }
            if ft.is_dir() {
                if name.starts_with('.') {
                    continue;
                }
                let Ok(sub) = std::fs::read_dir(e.path()) else {
                    continue;
                };
                for f in sub.flatten() {
                    let fname = f.file_name().to_string_lossy().to_string();
                    match f.file_type() {
                        Ok(t) if t.is_file() && !is_ignored(&fname) => out.push(Candidate {
                            path: f.path(),
                            folder: Some(name.clone()),
                            name: fname,
                        }),
                        Ok(t) if t.is_symlink() => {
                            tracing::warn!(path = %f.path().display(), "symlink in the inbox ignored")
                        }
                        _ => {}
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
        out
    }

    /// One pass over the inbox: returns files that are complete (unchanged for the
    /// settle window and openable as a workbook, or unchanged for four windows) and
    /// how many are still settling.
    pub fn settled(&mut self) -> (Vec<Candidate>, Option<Duration>) {
        let now = Instant::now();
        let cands = self.candidates();
        let present: BTreeSet<PathBuf> = cands.iter().map(|c| c.path.clone()).collect();
        self.seen.retain(|p, _| present.contains(p));
        let mut ready = Vec::new();
        // When the next settling file is due for another look.
        let mut next: Option<Duration> = None;
        for c in cands {
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
            if quiet >= self.cfg.settle
                && (quiet >= self.cfg.settle * 4 || Book::open(&c.path, &Limits::default()).is_ok())
            {
                ready.push(c);
            } else {
                let settle = self.cfg.settle;
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

    /// Takes one complete file through every step. Errors about the file are
    /// journaled against it; only journal failures come back as errors.
    pub fn take(&mut self, c: &Candidate) -> Result<Option<Processed>, DaemonError> {
        let t0 = Instant::now();
        let Ok(bytes) = std::fs::read(&c.path) else {
            return Ok(None); // gone meanwhile
        };
        let before = std::fs::symlink_metadata(&c.path).ok();
        let sha = hex(&Sha256::digest(&bytes));
        let received_at = crate::store::now();
        let new = NewSubmission {
            received_at: &received_at,
            original_name: &c.name,
            folder: c.folder.as_deref(),
            inbox_path: &c.path.to_string_lossy(),
            sha256: &sha,
            size: bytes.len() as u64,
        };
        let earlier = self.store.find_by_hash(&sha)?;
        let id = self.store.insert_received(&new)?;
        let month = received_at.get(..7).unwrap_or("0000-00").to_string();
        let rel = format!(
            "archive/{month}/{id}-{}",
            crate::fsutil::safe_name(&c.name, 120)
        );
        self.store.set_archive_path(id, &rel)?;
        let dest = self.cfg.state.join(&rel);
        write_durable(&dest, &bytes).map_err(|e| DaemonError::Io(dest.clone(), e))?;
        // Remove the inbox copy only if it is still the file we read.
        let after = std::fs::symlink_metadata(&c.path).ok();
        if before.as_ref().map(|m| (m.len(), m.modified().ok()))
            == after.as_ref().map(|m| (m.len(), m.modified().ok()))
        {
            if let Err(e) = std::fs::remove_file(&c.path) {
                tracing::warn!(path = %c.path.display(), error = %e, "archived, but could not remove from the inbox");
            }
        }
        self.seen.remove(&c.path);
        self.store.set_state(id, State::Archived)?;
        if let Some(first) = earlier {
            let report = FileReport {
                file: c.name.clone(),
                unit: first.unit.clone(),
                unit_code: first.unit_code.clone(),
                kind: first.kind_name.clone(),
                kind_id: first.kind.clone(),
                period: first.period.clone(),
                rows: first.rows as usize,
                errors: first.errors as usize,
                warnings: first.warnings as usize,
                ..FileReport::default()
            };
            let reason = format!(
                "与 {} 收到的第 {} 号报送「{}」内容完全相同，未重复处理",
                first.received_at, first.id, first.original_name
            );
            self.store.record_outcome(
                id,
                &report,
                &OutcomeRecord {
                    outcome: Outcome::Duplicate,
                    reason: Some(&reason),
                    duplicate_of: Some(first.id),
                    annotated: None,
                    mails: &[],
                    person_key: None,
                },
            )?;
            self.store.set_state(id, State::Done)?;
            tracing::info!(
                "{}: duplicate of submission {} ({}), not processed again [#{id}]",
                c.name,
                first.id,
                first.original_name
            );
            return Ok(Some(Processed {
                id,
                outcome: Outcome::Duplicate,
                report,
            }));
        }
        tracing::debug!(id, "archived and journaled in {:?}", t0.elapsed());
        self.validate_and_decide(id)
    }

    /// Validates an archived submission, decides its outcome, journals it, and
    /// rebuilds the county workbook.
    fn validate_and_decide(&mut self, id: i64) -> Result<Option<Processed>, DaemonError> {
        let Some(sub) = self.store.get(id)? else {
            return Ok(None);
        };
        let archived = self.cfg.state.join(&sub.archive_path);
        let opts = Options {
            folder_unit: sub.folder.clone(),
            name: Some(sub.original_name.clone()),
            fallback_period: sub.received_at.get(..7).map(str::to_string),
            collect_rows: true,
            ..Options::default()
        };
        let t0 = Instant::now();
        let mut report = validate::validate_path(&self.rules, &archived, &opts);
        tracing::debug!(id, "validated in {:?}", t0.elapsed());
        let (outcome, reason) = self.decide(&sub, &mut report);
        let mut annotated = None;
        if report.fatal.is_none()
            && matches!(outcome, Outcome::Rejected | Outcome::Accepted)
            && !report.findings.is_empty()
        {
            let dir = self.cfg.state.join("annotated").join(id.to_string());
            match std::fs::create_dir_all(&dir)
                .map_err(crate::annotate::AnnotateError::from)
                .and_then(|_| crate::annotate::annotate_file(&archived, &report, &dir))
            {
                Ok(p) => {
                    annotated = p
                        .strip_prefix(&self.cfg.state)
                        .ok()
                        .map(|r| r.to_string_lossy().to_string())
                }
                Err(e) => tracing::warn!(id, error = %e, "annotated copy could not be written"),
            }
        }
        if outcome == Outcome::Quarantined {
            self.quarantine(&sub, &archived, reason.as_deref().unwrap_or(""));
        }
        let annotated_abs = annotated.as_ref().map(|a| self.cfg.state.join(a));
        let person_key = report
            .kind_id
            .as_deref()
            .and_then(|k| self.rules.kind(k))
            .and_then(|k| {
                k.consolidation
                    .as_ref()
                    .map(|c| k.columns[c.person_key].key.as_str())
            });
        let mails = crate::notice::for_outcome(
            &self.rules,
            &sub,
            &report,
            outcome,
            reason.as_deref(),
            annotated_abs.as_deref(),
        );
        self.store.record_outcome(
            id,
            &report,
            &OutcomeRecord {
                outcome,
                reason: reason.as_deref(),
                duplicate_of: None,
                annotated: annotated.as_deref(),
                mails: &mails,
                person_key,
            },
        )?;
        self.wake_mail();
        tracing::debug!(
            id,
            "outcome journaled {:?} after validation began",
            t0.elapsed()
        );
        tracing::info!(
            "{}: {} (unit {}, {} {}, {} rows, {} errors, {} warnings){} [#{id}]",
            sub.original_name,
            outcome.as_str(),
            report.unit.as_deref().unwrap_or("?"),
            report.kind_id.as_deref().unwrap_or("?"),
            report.period.as_deref().unwrap_or("?"),
            report.rows,
            report.errors,
            report.warnings,
            reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        self.finish(id)?;
        Ok(Some(Processed {
            id,
            outcome,
            report,
        }))
    }

    /// The outcome of a validated file, and the reason when it is not plain.
    fn decide(&self, sub: &Submission, report: &mut FileReport) -> (Outcome, Option<String>) {
        if let Some(fatal) = report.fatal.clone() {
            // The file could not be read: tell its unit, if the folder or the name says which.
            let parts = identify::parse_file_name(&sub.original_name);
            let verdict = identify::resolve_unit(
                &self.rules.county,
                &[
                    ("folder", sub.folder.as_deref()),
                    ("file_name", parts.prefix.as_deref()),
                ],
            );
            if let UnitVerdict::Known(u) = verdict {
                report.unit_code = self.rules.county.unit(&u).map(|x| x.code.clone());
                report.unit = Some(u);
                report.period = report
                    .period
                    .clone()
                    .or(parts.period)
                    .or_else(|| sub.received_at.get(..7).map(str::to_string));
                if report.kind_id.is_none() {
                    // Without a kind the file cannot count anywhere; if only one kind
                    // exists, file it under that one so the status shows it.
                    if let [k] = self.rules.kinds.as_slice() {
                        report.kind_id = Some(k.id.clone());
                        report.kind = Some(k.name.clone());
                    }
                }
                return (Outcome::Rejected, Some(fatal));
            }
            return (
                Outcome::Quarantined,
                Some(format!("{fatal}；且无法确定报送单位")),
            );
        }
        match &report.unit_verdict {
            Some(UnitVerdict::Conflict(votes)) => {
                let shown: Vec<String> = votes.iter().map(|(s, u)| format!("{}为{u}", identify::source_zh(s))).collect();
                (Outcome::Quarantined, Some(format!("填报单位前后不一致：{}", shown.join("，"))))
            }
            Some(UnitVerdict::Unknown) | None => (Outcome::Quarantined, Some("无法确定报送单位：文件夹、文件名和表内「填报单位」都没有写明已知的乡镇（街道）".into())),
            Some(UnitVerdict::Known(_)) if report.errors > 0 => (Outcome::Rejected, None),
            Some(UnitVerdict::Known(_)) => (Outcome::Accepted, None),
        }
    }

    /// Copies a quarantined file beside a note of the reason, for the county admin.
    fn quarantine(&self, sub: &Submission, archived: &Path, reason: &str) {
        let dir = self.cfg.outbox.join("quarantine");
        let name = format!(
            "{}-{}",
            sub.id,
            crate::fsutil::safe_name(&sub.original_name, 120)
        );
        let res = std::fs::create_dir_all(&dir)
            .and_then(|_| crate::fsutil::copy_durable(archived, &dir.join(&name)))
            .and_then(|_| {
                let note = format!(
                    "文件：{}\n收到时间：{}\n来自：{}\n隔离原因：{reason}\n原件存档：{}\n",
                    sub.original_name,
                    sub.received_at,
                    sub.folder
                        .as_deref()
                        .map(|f| format!("收件箱子文件夹「{f}」"))
                        .unwrap_or_else(|| "收件箱".into()),
                    sub.archive_path
                );
                write_durable(&dir.join(format!("{name}.原因.txt")), note.as_bytes())
            });
        if let Err(e) = res {
            tracing::warn!(id = sub.id, error = %e, "could not copy to quarantine (the archive keeps it)");
        }
    }

    /// Rebuilds the county workbook a validated submission belongs to; marks it done.
    fn finish(&mut self, id: i64) -> Result<(), DaemonError> {
        let Some(sub) = self.store.get(id)? else {
            return Ok(());
        };
        let mut mails = Vec::new();
        let mut notified = Vec::new();
        if matches!(sub.outcome, Some(Outcome::Accepted | Outcome::Rejected)) {
            if let (Some(kind), Some(period)) = (&sub.kind, &sub.period) {
                if let Some(built) = self.rebuild(kind, period) {
                    for (m, pairs) in crate::notice::for_duplicates(
                        &self.rules,
                        self.store.conn(),
                        kind,
                        period,
                        &built.duplicates,
                    )
                    .map_err(StoreError::from)?
                    {
                        mails.push(m);
                        notified.extend(pairs);
                    }
                    let kind_name = self
                        .rules
                        .kind(kind)
                        .map(|k| k.name.clone())
                        .unwrap_or_default();
                    match self.rules.county.send_workbook {
                        SendWorkbook::EveryTime => {
                            let why = format!(
                                "{}「{}」{}",
                                sub.unit.clone().unwrap_or_default(),
                                sub.original_name,
                                sub.outcome.map(|o| o.zh()).unwrap_or("")
                            );
                            mails.extend(crate::notice::for_workbook(
                                &self.rules,
                                &kind_name,
                                period,
                                &built.path,
                                &why,
                            ));
                        }
                        SendWorkbook::Daily => {
                            let mut pending: BTreeSet<String> =
                                queue::get_meta(self.store.conn(), "digest_pending")
                                    .map_err(StoreError::from)?
                                    .and_then(|v| serde_json::from_str(&v).ok())
                                    .unwrap_or_default();
                            pending.insert(format!("{kind}|{period}"));
                            queue::set_meta(
                                self.store.conn(),
                                "digest_pending",
                                &serde_json::to_string(&pending).unwrap_or_default(),
                            )
                            .map_err(StoreError::from)?;
                        }
                        SendWorkbook::Never => {}
                    }
                }
                self.store
                    .finish_with_mail(id, kind, period, &mails, &notified)?;
                self.wake_mail();
                return Ok(());
            }
        }
        self.store.set_state(id, State::Done)?;
        Ok(())
    }

    /// Once a day, from `DIGEST_HOUR` on, queues the county workbooks that changed
    /// since the last digest for county staff (`send_workbook = "daily"`).
    pub fn maybe_digest(&mut self) -> Result<(), DaemonError> {
        use chrono::Timelike;
        let now = chrono::Local::now();
        let today = now.format("%Y-%m-%d").to_string();
        let conn = self.store.conn();
        if now.hour() < DIGEST_HOUR
            || queue::get_meta(conn, "digest_date")
                .map_err(StoreError::from)?
                .as_deref()
                == Some(today.as_str())
        {
            return Ok(());
        }
        let pending: BTreeSet<String> = queue::get_meta(conn, "digest_pending")
            .map_err(StoreError::from)?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default();
        let mut mails = Vec::new();
        for kp in &pending {
            let Some((kind, period)) = kp.split_once('|') else {
                continue;
            };
            let Some(k) = self.rules.kind(kind) else {
                continue;
            };
            let path = self
                .cfg
                .outbox
                .join(crate::consolidate::file_name(&self.rules, k, period));
            mails.extend(crate::notice::for_workbook(
                &self.rules,
                &k.name,
                period,
                &path,
                &format!("{today} 日汇总"),
            ));
        }
        let tx = self
            .store
            .conn()
            .unchecked_transaction()
            .map_err(StoreError::from)?;
        queue::enqueue(&tx, None, &mails).map_err(StoreError::from)?;
        queue::set_meta(&tx, "digest_pending", "[]").map_err(StoreError::from)?;
        queue::set_meta(&tx, "digest_date", &today).map_err(StoreError::from)?;
        tx.commit().map_err(StoreError::from)?;
        if !mails.is_empty() {
            self.wake_mail();
        }
        Ok(())
    }

    fn wake_mail(&self) {
        if let Some(tx) = &self.mail_wake {
            let _ = tx.send(());
        }
    }

    /// Sends every message due now (used by `run --once`; `watch` has a mail thread).
    pub fn deliver_now(&self) -> Result<usize, DaemonError> {
        let target = self.cfg.mail_target().map_err(DaemonError::Mail)?;
        let sender = crate::notice::Sender::new(&target).map_err(DaemonError::Mail)?;
        Ok(crate::notice::deliver_due(
            self.store.conn(),
            &sender,
            &self.rules.county.from,
            self.cfg.mail_retry,
            &self.stop,
        )
        .map_err(StoreError::from)?)
    }

    fn rebuild(&mut self, kind: &str, period: &str) -> Option<crate::consolidate::Built> {
        let started = Instant::now();
        match crate::consolidate::rebuild(&self.rules, &self.store, kind, period, &self.cfg.outbox)
        {
            Ok(b) => {
                tracing::info!(
                    "county workbook {} rebuilt: {} rows, {} cross-unit duplicates, {:?}",
                    b.path.display(),
                    b.rows,
                    b.duplicates.len(),
                    started.elapsed()
                );
                let _ = self
                    .store
                    .event(None, "consolidated", &b.path.to_string_lossy());
                Some(b)
            }
            Err(e) => {
                tracing::error!(kind, period, error = %e, "county workbook could not be rebuilt");
                None
            }
        }
    }

    /// Processes everything pending, waiting for files still being copied, then returns.
    pub fn run_once(&mut self) -> Result<Vec<Processed>, DaemonError> {
        self.recover()?;
        let mut done = Vec::new();
        loop {
            let (ready, next) = self.settled();
            for c in &ready {
                if self.stopping() {
                    return Ok(done);
                }
                done.extend(self.take(c)?);
            }
            if self.stopping() || (ready.is_empty() && next.is_none()) {
                self.maybe_digest()?;
                let sent = self.deliver_now()?;
                if sent > 0 {
                    tracing::info!("{sent} notice(s) delivered");
                }
                return Ok(done);
            }
            if ready.is_empty() {
                if let Some(wait) = next {
                    std::thread::sleep(wait);
                }
            }
        }
    }

    /// Watches the inbox until stopped (the stop flag, set by SIGINT/SIGTERM).
    /// Native events (or polling with `poll`) wake the loop; a full rescan runs
    /// every `rescan` regardless.
    pub fn watch(
        &mut self,
        wake_rx: mpsc::Receiver<()>,
        wake_tx: mpsc::Sender<()>,
    ) -> Result<(), DaemonError> {
        use notify::Watcher;
        let target = self.cfg.mail_target().map_err(DaemonError::Mail)?;
        let (mail_tx, mail_rx) = mpsc::channel();
        self.mail_wake = Some(mail_tx);
        let mail_thread = {
            let (state, from, retry, stop) = (
                self.cfg.state.clone(),
                self.rules.county.from.clone(),
                self.cfg.mail_retry,
                self.stop.clone(),
            );
            let target = target.clone();
            std::thread::Builder::new()
                .name("mail".into())
                .spawn(move || crate::notice::worker(&state, &target, &from, retry, stop, mail_rx))
                .map_err(|e| DaemonError::Io(PathBuf::from("mail thread"), e))?
        };
        tracing::info!("notices go to {}", target.describe());
        self.recover()?;
        let tx = wake_tx.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            if res.is_ok() {
                let _ = tx.send(());
            }
        };
        let mut watcher: Box<dyn Watcher> = match self.cfg.poll {
            Some(interval) => Box::new(notify::PollWatcher::new(
                handler,
                notify::Config::default().with_poll_interval(interval),
            )?),
            None => Box::new(notify::recommended_watcher(handler)?),
        };
        watcher.watch(&self.cfg.inbox, notify::RecursiveMode::Recursive)?;
        tracing::info!(
            "watching {} ({}; settle {:?}, rescan {:?}); county workbooks in {}",
            self.cfg.inbox.display(),
            if self.cfg.poll.is_some() {
                "polling"
            } else {
                "native events"
            },
            self.cfg.settle,
            self.cfg.rescan,
            self.cfg.outbox.display()
        );
        while !self.stopping() {
            let (ready, next) = self.settled();
            for c in &ready {
                if self.stopping() {
                    break;
                }
                self.take(c)?;
            }
            self.maybe_digest()?;
            // Sleep until the next settling file is due, or the next rescan; a
            // file event wakes us earlier.
            let wait = if ready.is_empty() {
                next.unwrap_or(self.cfg.rescan).min(self.cfg.rescan)
            } else {
                Duration::ZERO
            };
            match wake_rx.recv_timeout(wait) {
                Ok(()) => while wake_rx.try_recv().is_ok() {},
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.mail_wake = None;
        let _ = mail_thread.join();
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| hex(&Sha256::digest(&b)))
}

fn remove_if_same(path: &Path, sha: &str) {
    if hash_file(path).is_some_and(|h| h == sha) {
        let _ = std::fs::remove_file(path);
    }
}

/// Writes bytes durably: temp file beside the target, fsync, rename, sync the folder.
pub fn write_durable(dest: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.part",
        dest.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dest)?;
    crate::fsutil::sync_dir(dir);
    Ok(())
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
