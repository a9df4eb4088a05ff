//! The intake daemon: watch the inbox, take each file once it is complete,
//! archive it, validate it, journal the outcome and rebuild the county workbook.
//!
//! Sources (native file events or polling, plus a periodic full rescan) only wake
//! the single worker loop; the rescan is the truth. A pass: put an edited rules
//! folder in force, scan, order the ready files by the rules' references, take
//! each (archive; its next [`Step`]s go on the work queue, drained before the
//! next file, re-checks held until the batch is taken), rebuild stale county
//! workbooks, the digest, reminders. Errors come in two tiers: a
//! journal failure stops the daemon (nothing is safe without it), anything about one
//! file is recorded against that file and the loop goes on.

pub mod submission;

use crate::config::Config;
use crate::intake::archive;
use crate::intake::inbox::{Candidate, Inbox};
use crate::journal::{Journal, JournalError, Outcome, State};
use crate::rules::schema::SendWorkbook;
use crate::rules::RuleSet;
use crate::validate::FileReport;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fatal daemon errors.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("file watcher: {0}")]
    Watch(#[from] notify::Error),
    #[error("mail: {0}")]
    Mail(String),
    /// The status page could not start (a bad address, off loopback without a
    /// password, the port taken).
    #[error("{0}")]
    Web(String),
    /// `run --once` could not store the files of its inbox (the state disk full):
    /// they stay in the inbox for the next run; a scheduler sees the failure.
    #[error("状态目录无法写入（{0}）：收件箱中的文件未能收取，仍留在收件箱中，问题解决后再运行")]
    StateUnwritable(String),
    /// Another daemon (or `run --once`) works on the same state folder.
    #[error("state folder {0} is in use by another taizhang process (pid {1:?})")]
    Locked(PathBuf, Option<u32>),
}

/// Local hour from which the daily digest of county workbooks is queued.
pub const DIGEST_HOUR: u32 = 17;

/// What one file came to.
#[derive(Debug, Clone)]
pub struct Processed {
    pub id: i64,
    pub outcome: Outcome,
    pub report: FileReport,
}

/// What the loop does next for a submission after it is archived: one file's
/// way as values on a queue ([`Daemon::drain`] works it off; no step calls the
/// next). See [`submission`] for each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read and judge an archived submission (a new file, one resumed after a
    /// stop, one that waited for usable rules).
    Judge(i64),
    /// Its cross-unit duplicate notices, done, and the re-checks it causes.
    Finish(i64),
    /// Judge again an accepted ledger whose reference was replaced (journaled
    /// as such before it was queued: a stop finds it archived).
    Recheck(i64),
}

/// The daemon.
pub struct Daemon {
    cfg: Config,
    rules: RuleSet,
    journal: Journal,
    inbox: Inbox,
    stop: Arc<AtomicBool>,
    /// Wakes the mail thread when messages are queued (`watch` only).
    mail_wake: Option<mpsc::Sender<()>>,
    /// County workbooks whose last rebuild failed: not tried again before then.
    retry_at: HashMap<(String, String), Instant>,
    /// How each file is read: a worker process of our own binary (bounded by
    /// `cfg.worker`), or in-process where a test says so.
    reader: Box<dyn crate::sandbox::Reader>,
    /// Held while the daemon lives: no second process on this state folder.
    _lock: crate::fsutil::StateLock,
    /// A copy of the rules folder as loaded at start, which workers read: files
    /// are judged by the rules the daemon loaded, whatever is edited meanwhile.
    rules_in_force: PathBuf,
    /// The inbox entries not taken, as last journaled.
    skipped_journaled: Option<Vec<(String, String)>>,
    /// The version (content hash) of the rules in force, journaled with each outcome.
    pub(super) rules_version: String,
    /// The rules folder as last looked at (names, sizes, mtimes), since when it
    /// looks so, and whether that look was acted on: a change is linted and, if
    /// the rules pass, put in force once the folder has settled (unchanged for
    /// `settle`, as an inbox file: a file half-written by an editor is never judged).
    rules_seen: Vec<(String, u64, Option<std::time::SystemTime>)>,
    rules_seen_at: Instant,
    rules_settled: bool,
    /// The version of a broken edit the admin was told about (told once).
    rules_refused: Option<String>,
    /// Submissions waiting because a worker could not use the rules in force
    /// (taken again once a fresh copy of the rules folder passes).
    waiting_on_rules: Vec<i64>,
    /// The copy the workers read failed them: copy and lint the folder again.
    snapshot_broken: bool,
    /// The work queue of archived submissions' next steps.
    work: std::collections::VecDeque<Step>,
}

impl Daemon {
    pub fn new(cfg: Config, rules: RuleSet, stop: Arc<AtomicBool>) -> Result<Daemon, DaemonError> {
        for d in [&cfg.inbox, &cfg.outbox, &cfg.state] {
            std::fs::create_dir_all(d).map_err(|e| DaemonError::Io(d.clone(), e))?;
        }
        // The state folder and the outbox hold personal data: owner-only (the
        // inbox is the townships' drop folder and stays as the county set it).
        for d in [&cfg.outbox, &cfg.state] {
            crate::fsutil::restrict_dir(d).map_err(|e| DaemonError::Io(d.clone(), e))?;
        }
        // One process per state folder, for the process's life.
        let lock = crate::fsutil::StateLock::acquire(&cfg.state).map_err(|e| match e {
            crate::fsutil::LockError::Held(pid) => DaemonError::Locked(cfg.state.clone(), pid),
            crate::fsutil::LockError::Io(e) => DaemonError::Io(cfg.state.join("taizhang.lock"), e),
        })?;
        let journal = Journal::open(&cfg.state)?;
        // Messages caught mid-send by a stop are never resent automatically.
        let uncertain = journal.mail_uncertain_after_stop()?;
        if uncertain > 0 {
            tracing::warn!("{uncertain} message(s) were being sent when the daemon stopped; marked uncertain (see status)");
        }
        let inbox = Inbox::new(&cfg.inbox, cfg.settle);
        let exe =
            std::env::current_exe().map_err(|e| DaemonError::Io(PathBuf::from("taizhang"), e))?;
        let rules_seen = rules_fingerprint(&cfg.rules);
        let rules_in_force = snapshot_rules(&cfg.rules, &cfg.state.join("rules-in-force"))
            .map_err(|e| DaemonError::Io(cfg.state.join("rules-in-force"), e))?;
        let rules_version = rules_version(&rules_in_force)
            .map_err(|e| DaemonError::Io(rules_in_force.clone(), e))?;
        journal.rules_loaded_now(&rules_version)?;
        tracing::info!(
            "rules {} in force (version {rules_version})",
            cfg.rules.display()
        );
        for n in &rules.notes {
            tracing::info!("rules: {n}");
        }
        let mut daemon = Daemon {
            rules_version,
            rules_seen,
            rules_seen_at: Instant::now(),
            rules_settled: true,
            rules_refused: None,
            waiting_on_rules: Vec::new(),
            snapshot_broken: false,
            rules_in_force,
            skipped_journaled: None,
            _lock: lock,
            reader: Box::new(crate::sandbox::Worker {
                exe,
                limits: cfg.worker,
            }),
            cfg,
            rules,
            journal,
            inbox,
            stop,
            mail_wake: None,
            retry_at: HashMap::new(),
            work: Default::default(),
        };
        // The deadlines in force at start are noted now: an edit made while
        // running is told from them.
        daemon.deadlines_edited_at()?;
        Ok(daemon)
    }

    /// Reads files with `reader` instead of a worker process (tests of the
    /// daemon's logic: [`crate::sandbox::InProcess`]).
    pub fn with_reader(mut self, reader: Box<dyn crate::sandbox::Reader>) -> Daemon {
        self.reader = reader;
        self
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Puts an edited rules folder in force, between files: when it changed and
    /// has then stayed unchanged for `settle`, it is loaded and linted; rules that pass replace the ones in force (journaled,
    /// shown in `status`); a broken edit keeps the old rules and the admin is told
    /// once what is wrong.
    pub fn reload_rules(&mut self) -> Result<(), DaemonError> {
        let seen = rules_fingerprint(&self.cfg.rules);
        if seen != self.rules_seen {
            self.rules_seen = seen;
            self.rules_seen_at = Instant::now();
            self.rules_settled = false;
            return Ok(());
        }
        if self.rules_settled || self.rules_seen_at.elapsed() < self.cfg.settle {
            return Ok(());
        }
        self.rules_settled = true;
        // The folder is copied first and the copy is what is linted and put in
        // force: a save landing meanwhile is judged on the next pass, never in
        // force unlinted.
        let candidate = self.cfg.state.join("rules-candidate");
        let copied = snapshot_rules(&self.cfg.rules, &candidate);
        // A test hook (debug builds only): a pause after the copy, for a second
        // save to land between the copy and the lint.
        #[cfg(debug_assertions)]
        if let Some(ms) = std::env::var("TAIZHANG_RULES_COPY_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let version = match copied.and_then(|c| rules_version(&c)) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "rules folder could not be read; the rules in force stay");
                return Ok(());
            }
        };
        if (version == self.rules_version && !self.snapshot_broken)
            || self.rules_refused.as_deref() == Some(&version)
        {
            let _ = std::fs::remove_dir_all(&candidate);
            return Ok(());
        }
        let loaded = RuleSet::load(&candidate).map_err(|mut errors| {
            // Said of the county's own files, not of our copy.
            for i in &mut errors.0 {
                if let Ok(rel) = i.file.strip_prefix(&candidate) {
                    i.file = self.cfg.rules.join(rel);
                }
            }
            errors
        });
        match loaded {
            Ok(mut rules) => {
                let to = self.cfg.state.join("rules-in-force");
                let swap = || -> std::io::Result<()> {
                    if to.exists() {
                        std::fs::remove_dir_all(&to)?;
                    }
                    std::fs::rename(&candidate, &to)?;
                    crate::fsutil::sync_dir(&self.cfg.state);
                    Ok(())
                };
                swap().map_err(|e| DaemonError::Io(to.clone(), e))?;
                rules.dir = self.cfg.rules.clone();
                self.journal.rules_loaded_now(&version)?;
                tracing::info!(
                    "rules changed: version {version} in force from now on (was {})",
                    self.rules_version
                );
                self.rules = rules;
                self.rules_version = version;
                self.rules_refused = None;
                self.snapshot_broken = false;
                // Files that waited for usable rules are taken now.
                for id in std::mem::take(&mut self.waiting_on_rules) {
                    tracing::info!(id, "rules usable again: the waiting file is read");
                    self.work.push_back(Step::Judge(id));
                }
            }
            Err(errors) => {
                tracing::warn!(
                    "rules changed but have problems; the rules in force (version {}) stay: {errors}",
                    self.rules_version
                );
                let mails: Vec<_> =
                    crate::notice::for_rules_refused(&self.rules, &errors.to_string())
                        .into_iter()
                        .collect();
                self.journal.queue_mail(None, &mails)?;
                self.wake_mail();
                self.rules_refused = Some(version);
                let _ = std::fs::remove_dir_all(&candidate);
            }
        }
        Ok(())
    }

    /// A worker could not use the rules in force for submission `id`: the file
    /// waits (archived, uncounted), the admin is told once, and the rules folder
    /// is copied and checked again at the next pass (a damaged copy heals itself;
    /// a broken folder waits for the admin).
    pub(super) fn wait_for_rules(
        &mut self,
        id: i64,
        name: &str,
        why: &str,
    ) -> Result<(), DaemonError> {
        tracing::error!(
            id,
            "{}: waits; the rules in force could not be used to read it ({why}); the rules folder is copied and checked again",
            crate::fsutil::printable(name)
        );
        let first = self.waiting_on_rules.is_empty() && !self.snapshot_broken;
        if !self.waiting_on_rules.contains(&id) {
            self.waiting_on_rules.push(id);
        }
        self.snapshot_broken = true;
        self.rules_seen = Vec::new();
        self.rules_seen_at = Instant::now();
        self.rules_settled = false;
        if first {
            let waiting = format!("第 {id} 号「{name}」");
            let mails: Vec<_> = crate::notice::for_rules_failed(&self.rules, why, &waiting)
                .into_iter()
                .collect();
            self.journal.queue_mail(None, &mails)?;
            self.wake_mail();
        }
        Ok(())
    }

    /// Resumes every submission a stop left unfinished, from its journaled state,
    /// and rebuilds county workbooks that are stale or missing from the outbox.
    pub fn recover(&mut self) -> Result<(), DaemonError> {
        // Copies a stop left half-staged (we hold the state lock: none is ours now).
        let staging = self.cfg.state.join("archive").join(".staging");
        for e in std::fs::read_dir(&staging).into_iter().flatten().flatten() {
            let _ = std::fs::remove_file(e.path());
        }
        for sub in self.journal.unfinished()? {
            tracing::info!(id = sub.id, file = %sub.original_name, state = sub.state.as_str(), "resuming after a stop");
            match sub.state {
                State::Received => {
                    let archived = self.cfg.state.join(&sub.archive_path);
                    if !sub.archive_path.is_empty() && archive::holds(&archived, &sub.sha256) {
                        archive::remove_if_same(Path::new(&sub.inbox_path), &sub.sha256);
                        self.journal.set_state(sub.id, State::Archived)?;
                        self.work.push_back(Step::Judge(sub.id));
                    } else {
                        // The bytes never reached the archive: the file is still in the
                        // inbox and is received afresh.
                        self.journal.forget_unarchived(sub.id)?;
                    }
                }
                State::Archived => self.work.push_back(Step::Judge(sub.id)),
                State::Validated => self.work.push_back(Step::Finish(sub.id)),
                State::Done => {}
            }
        }
        self.drain(false)?;
        for (kind, period) in self.journal.kind_periods()? {
            // A county list has no workbook of its own.
            let Some(k) = self.rules.kind(&kind).filter(|k| !k.is_county()) else {
                continue;
            };
            let path = self
                .cfg
                .outbox
                .join(crate::consolidate::file_name(&self.rules, k, &period));
            if !path.exists() {
                self.journal.mark_workbook_stale(&kind, &period, "")?;
            }
        }
        self.rebuild_stale()
    }

    /// One pass over the inbox: the files ready to take, when to look again, and
    /// the entries that will not be taken journaled for `status` (when changed).
    fn scan(&mut self) -> Result<(Vec<Candidate>, Option<Duration>), DaemonError> {
        let (mut ready, next) = self.inbox.settled();
        // What is referenced before what refers to it, from the references the
        // rules declare ([`RuleSet::batch_rank`]: the county's lists, registers,
        // payments ledgers), so a payments ledger dropped with its register is
        // judged against it; within a rank the earlier months first, so a
        // register is judged against the previous one dropped with it. Kind and
        // month are told by the file name here (nothing is read yet); a file
        // named otherwise is re-checked when what it refers to is accepted after it.
        ready.sort_by_cached_key(|c| {
            let named = crate::identify::identify(
                &self.rules.county,
                &crate::identify::Clues {
                    file_name: &c.name,
                    ..Default::default()
                },
            );
            (self.rules.batch_rank(&c.name), named.period.map(|(p, _)| p))
        });
        let skipped: Vec<(String, String)> = self
            .inbox
            .skipped()
            .iter()
            .map(|s| (s.path.to_string_lossy().to_string(), s.reason.to_string()))
            .collect();
        if self.skipped_journaled.as_ref() != Some(&skipped) {
            self.journal.set_inbox_skipped(&skipped)?;
            self.skipped_journaled = Some(skipped);
        }
        Ok((ready, next))
    }

    /// Rebuilds every stale county workbook that is due (a failed one waits out
    /// its back-off), then queues it for county staff as `send_workbook` says. A
    /// failure is journaled (shown by `status`) and retried later; it never stops
    /// the daemon.
    pub fn rebuild_stale(&mut self) -> Result<(), DaemonError> {
        let now = Instant::now();
        for w in self.journal.stale_workbooks()? {
            let key = (w.kind_id.clone(), w.period.clone());
            if self.retry_at.get(&key).is_some_and(|t| now < *t) {
                continue;
            }
            let Some(kind) = self.rules.kind(&w.kind_id).filter(|k| !k.is_county()) else {
                continue;
            };
            let started = Instant::now();
            match crate::consolidate::rebuild(
                &self.rules,
                &self.journal,
                &w.kind_id,
                &w.period,
                &self.cfg.outbox,
            ) {
                Ok(b) => {
                    tracing::info!(
                        "county workbook {} rebuilt: {} rows, {} cross-unit duplicates, {:?}",
                        b.path.display(),
                        b.rows,
                        b.duplicates.len(),
                        started.elapsed()
                    );
                    let send = self.rules.county.send_workbook;
                    let mails: Vec<_> = match send {
                        SendWorkbook::EveryTime if !w.why.is_empty() => {
                            crate::notice::for_workbook(
                                &self.rules,
                                &kind.name,
                                &w.period,
                                &b.path,
                                &w.why.join("；"),
                            )
                            .into_iter()
                            .collect()
                        }
                        _ => Vec::new(),
                    };
                    let digest = send == SendWorkbook::Daily && !w.why.is_empty();
                    self.journal
                        .workbook_built(&w.kind_id, &w.period, &mails, digest)?;
                    self.retry_at.remove(&key);
                    if !mails.is_empty() {
                        self.wake_mail();
                    }
                }
                Err(e) => {
                    let failures = w.failures + 1;
                    let wait = Duration::from_secs(5 * 2u64.pow(failures.clamp(1, 6) as u32 - 1))
                        .min(Duration::from_secs(300));
                    tracing::error!(
                        kind = w.kind_id,
                        period = w.period,
                        error = %e,
                        "county workbook could not be rebuilt; retry in {wait:?}"
                    );
                    // The admin hears of it once, at the first failure of a streak.
                    let mails: Vec<_> = if w.failures == 0 {
                        crate::notice::for_workbook_failure(
                            &self.rules,
                            &kind.name,
                            &w.period,
                            &e.zh(),
                        )
                        .into_iter()
                        .collect()
                    } else {
                        Vec::new()
                    };
                    self.journal
                        .workbook_failed(&w.kind_id, &w.period, &e.zh(), &mails)?;
                    if !mails.is_empty() {
                        self.wake_mail();
                    }
                    self.retry_at.insert(key, now + wait);
                }
            }
        }
        Ok(())
    }

    /// Once a day, from `DIGEST_HOUR` on, queues the county workbooks that changed
    /// since the last digest for county staff (`send_workbook = "daily"`).
    pub fn maybe_digest(&mut self) -> Result<(), DaemonError> {
        use chrono::Timelike;
        let now = crate::clock::now();
        let today = now.format("%Y-%m-%d").to_string();
        if now.hour() < DIGEST_HOUR {
            return Ok(());
        }
        let Some(pending) = self.journal.digest_due(&today)? else {
            return Ok(());
        };
        let mut mails = Vec::new();
        for (kind, period) in &pending {
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
        self.journal.digest_made(&today, &mails)?;
        if !mails.is_empty() {
            self.wake_mail();
        }
        Ok(())
    }

    /// 催报, once a day: on each of `[deadlines] remind_days_before` days before the
    /// deadline of the period due now, every unit without an accepted ledger of
    /// each kind gets a reminder (a rejected one with what is still wrong); the
    /// day after the deadline the county admin gets the list of those still
    /// missing. Each is journaled with its day: never twice, across restarts.
    pub fn maybe_remind(&mut self) -> Result<(), DaemonError> {
        let held_since = self.deadlines_edited_at()?;
        let Some(dl) = self.rules.county.deadlines.clone() else {
            self.journal.set_held_reminders(None)?;
            return Ok(());
        };
        let today = crate::clock::now().date_naive();
        let day = today.format("%Y-%m-%d").to_string();
        let period = crate::standing::period_due(today);
        let Some(deadline) = crate::standing::deadline(&period, dl.day) else {
            return Ok(());
        };
        let days_left = (deadline - today).num_days();
        let remind = days_left > 0 && dl.remind_days_before.contains(&(days_left as u32));
        let overdue = days_left == -1;
        if !remind && !overdue {
            self.journal.set_held_reminders(None)?;
            return Ok(());
        }
        let deadline_text = deadline.format("%Y-%m-%d").to_string();
        let mut keys = Vec::new();
        let mut mails = Vec::new();
        let mut missing = Vec::new();
        // Per unit, every kind it is to be reminded of today: one mail each.
        let mut due: Vec<UnitDue<'_>> = Vec::new();
        let mut standings = Vec::new();
        for kind in self.rules.kinds_referenced_first() {
            standings.push((
                kind,
                crate::standing::of(&self.rules, &self.journal, &kind.id, &period)?,
            ));
        }
        for (unit, kinds) in crate::standing::owing(&standings) {
            let mut items = Vec::new();
            for (kind, u) in kinds {
                let rejected = u
                    .latest
                    .as_ref()
                    .filter(|s| s.outcome == Some(crate::journal::Outcome::Rejected));
                missing.push((
                    u.unit.name.clone(),
                    kind.name.clone(),
                    match rejected {
                        Some(s) => format!("已退回（{} 处错误）", s.errors),
                        None => "未报送".to_string(),
                    },
                ));
                if !remind
                    || self
                        .journal
                        .reminded(&kind.id, &period, &u.unit.name, &day)?
                {
                    continue;
                }
                keys.push((
                    kind.id.clone(),
                    period.clone(),
                    u.unit.name.clone(),
                    day.clone(),
                ));
                let item = match rejected {
                    Some(s) => Some((s.clone(), self.journal.findings(s.id)?)),
                    None => None,
                };
                items.push((kind.name.as_str(), item));
            }
            if !items.is_empty() {
                due.push((unit, items));
            }
        }
        for (unit, kinds) in &due {
            let items: Vec<crate::notice::Due<'_>> = kinds
                .iter()
                .map(|(name, rejected)| (*name, rejected.as_ref().map(|(s, f)| (s, f.as_slice()))))
                .collect();
            mails.extend(crate::notice::for_reminder(
                &self.rules,
                unit,
                &items,
                &period,
                &deadline_text,
                days_left,
            ));
        }
        if overdue && !missing.is_empty() && !self.journal.reminded("*", &period, "*", &day)? {
            mails.extend(crate::notice::for_overdue(
                &self.rules,
                &period,
                &deadline_text,
                &missing,
            ));
            keys.push(("*".into(), period.clone(), "*".into(), day.clone()));
        }
        if keys.is_empty() {
            self.journal.set_held_reminders(None)?;
            return Ok(());
        }
        // Reminders a deadline edit brought about wait, shown on the page.
        let now_unix = unix_now();
        let hold = self.cfg.reminder_hold.as_secs();
        if let Some(since) = held_since.filter(|t| now_unix < t.saturating_add(hold)) {
            let left = since.saturating_add(hold) - now_unix;
            let send_at = crate::clock::now() + chrono::Duration::seconds(left as i64);
            let held = crate::journal::HeldReminders {
                period: period.clone(),
                deadline: deadline_text.clone(),
                send_at: send_at.format("%H:%M").to_string(),
                units: due
                    .iter()
                    .map(|(u, kinds)| {
                        (
                            u.name.clone(),
                            kinds.iter().map(|(k, _)| k.to_string()).collect(),
                        )
                    })
                    .collect(),
                overdue_list: keys.iter().any(|k| k.2 == "*"),
            };
            if self.journal.held_reminders()?.as_ref() != Some(&held) {
                tracing::info!(
                    "{period}: the deadlines were edited; {} reminder(s) held until {} (shown on the page)",
                    mails.len(),
                    held.send_at
                );
            }
            self.journal.set_held_reminders(Some(&held))?;
            return Ok(());
        }
        self.journal.set_held_reminders(None)?;
        tracing::info!(
            "{period}: {} reminder(s) for the deadline {deadline_text} queued",
            mails.len()
        );
        self.journal.reminders_made(&keys, &mails)?;
        self.wake_mail();
        Ok(())
    }

    /// When the `[deadlines]` in force were last edited (Unix seconds of the
    /// real clock), noticing an edit now; `None` for the deadlines the journal
    /// first saw (nothing to hold back then).
    fn deadlines_edited_at(&mut self) -> Result<Option<u64>, DaemonError> {
        let json = serde_json::to_string(&self.rules.county.deadlines).unwrap_or_default();
        match self.journal.deadlines_seen()? {
            None => {
                self.journal.set_deadlines_seen(&json, 0)?;
                Ok(None)
            }
            Some((seen, since)) if seen == json => Ok((since > 0).then_some(since)),
            Some(_) => {
                let now = unix_now();
                tracing::info!("the deadlines in county.toml changed: reminders they bring about today wait {} s", self.cfg.reminder_hold.as_secs());
                self.journal.set_deadlines_seen(&json, now)?;
                Ok(Some(now))
            }
        }
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
            &self.journal,
            &sender,
            &self.delivery(),
            &self.stop,
        )?)
    }

    fn delivery(&self) -> crate::notice::Delivery {
        crate::notice::Delivery {
            from: self.rules.county.from.clone(),
            retry: self.cfg.mail_retry,
            deadline: self.cfg.mail_deadline,
        }
    }

    /// Processes everything pending, waiting for files still being copied, then returns.
    pub fn run_once(&mut self) -> Result<Vec<Processed>, DaemonError> {
        self.recover()?;
        let mut done = Vec::new();
        loop {
            let (ready, next) = self.scan()?;
            done.extend(self.take_all(&ready, false)?);
            // Files only waiting on a retry (the state disk full, held by another
            // program) are left for the next run: a scheduled run always ends.
            if self.stopping() || (ready.is_empty() && !self.inbox.settling()) {
                self.rebuild_stale()?;
                self.maybe_digest()?;
                self.maybe_remind()?;
                let sent = self.deliver_now()?;
                if sent > 0 {
                    tracing::info!("{sent} notice(s) delivered");
                }
                if self.inbox.deferring() {
                    if let Some((why, _)) = self.journal.state_problem()? {
                        return Err(DaemonError::StateUnwritable(why));
                    }
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
            let (state, delivery, stop) =
                (self.cfg.state.clone(), self.delivery(), self.stop.clone());
            let target = target.clone();
            std::thread::Builder::new()
                .name("mail".into())
                .spawn(move || crate::notice::worker(&state, &target, &delivery, stop, mail_rx))
                .map_err(|e| DaemonError::Io(PathBuf::from("mail thread"), e))?
        };
        tracing::info!("notices go to {}", target.describe());
        // The status page: started before anything else happens, so a refused
        // address stops the daemon at once.
        let web_thread = match &self.cfg.web {
            Some(addr) => {
                let password = match &self.cfg.web_password_file {
                    Some(p) => Some(
                        crate::web::read_password(p)
                            .map_err(|e| DaemonError::Web(e.to_string()))?,
                    ),
                    None => None,
                };
                let wcfg = crate::web::WebConfig {
                    addr: addr.clone(),
                    password,
                    state: self.cfg.state.clone(),
                    outbox: self.cfg.outbox.clone(),
                    inbox: self.cfg.inbox.clone(),
                    rules: self.rules_in_force.clone(),
                    mail_folder: target.folder().map(|d| d.display().to_string()),
                    hosts: self.cfg.web_hosts.clone(),
                    session_idle: self.cfg.web_session_idle,
                    tls: self.cfg.web_tls.clone(),
                };
                let token = crate::web::access_token(&self.cfg.state)
                    .map_err(|e| DaemonError::Web(e.to_string()))?;
                match crate::web::bind(&wcfg) {
                    Ok(bound) => {
                        let url = crate::web::token_url(addr, bound.tls(), &token);
                        let scheme = if bound.tls() { "https" } else { "http" };
                        tracing::info!("status page at {scheme}://{addr}/ (open it with the address printed on the console, or see `taizhang status`)");
                        eprintln!("报送情况网页（含访问令牌，请勿外传）：{url}");
                        let (stop, wake) = (self.stop.clone(), self.mail_wake.clone());
                        Some(
                            std::thread::Builder::new()
                                .name("web".into())
                                .spawn(move || crate::web::serve(bound, wcfg, token, stop, wake))
                                .map_err(|e| DaemonError::Io(PathBuf::from("web thread"), e))?,
                        )
                    }
                    // The default port taken (another daemon on this machine): the
                    // daemon runs without its page; an address set on purpose must work.
                    Err(e @ crate::web::WebError::Bind(..))
                        if addr == crate::config::DEFAULT_WEB =>
                    {
                        tracing::warn!(
                            "{e}; running without the status page (set another with --web)"
                        );
                        None
                    }
                    Err(e) => return Err(DaemonError::Web(e.to_string())),
                }
            }
            None => None,
        };
        self.recover()?;
        let tx = wake_tx.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            // An error is passed on as a wake-up: the rescan is the truth.
            if res.as_ref().map_or(true, wakes) {
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
        // The rules folder wakes the loop too (an edit is put in force promptly).
        if let Err(e) = watcher.watch(&self.cfg.rules, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, "rules folder not watched; edits are seen at the next rescan");
        }
        while !self.stopping() {
            self.reload_rules()?;
            let (ready, next) = self.scan()?;
            self.take_all(&ready, true)?;
            self.rebuild_stale()?;
            self.maybe_digest()?;
            // Reminders wait until the inbox is worked off: a unit whose file is
            // already here (waiting at start-up, still settling) is not reminded.
            if ready.is_empty() && !self.inbox.settling() {
                self.maybe_remind()?;
            }
            // Sleep until the next settling file is due, or the next rescan; a
            // file event wakes us earlier.
            let wait = if ready.is_empty() {
                next.unwrap_or(self.cfg.rescan).min(self.cfg.rescan)
            } else {
                Duration::ZERO
            };
            // An edited rules folder is looked at again once it can have settled.
            let wait = if self.rules_settled {
                wait
            } else {
                wait.min(self.cfg.settle.saturating_sub(self.rules_seen_at.elapsed()))
            };
            match wake_rx.recv_timeout(wait) {
                Ok(()) => while wake_rx.try_recv().is_ok() {},
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        self.mail_wake = None;
        // Every service ends with the loop, however it ended.
        self.stop.store(true, Ordering::SeqCst);
        let _ = mail_thread.join();
        if let Some(w) = web_thread {
            let _ = w.join();
        }
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// A unit to remind, with each kind it is reminded of and that kind's latest
/// rejected file with its findings (None: nothing sent).
type UnitDue<'r> = (
    &'r crate::rules::Unit,
    Vec<(
        &'r str,
        Option<(crate::journal::Submission, Vec<crate::validate::Finding>)>,
    )>,
);

/// Whether a file event can change what the loop must do: a file created,
/// written, renamed or removed (or an event the platform cannot say more of).
/// Reads are not: the loop's own scans open the inbox and rules folders, and a
/// watcher that reported those would wake the loop to scan again, forever (an
/// idle daemon spinning a core).
fn wakes(e: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind, MetadataKind, ModifyKind};
    match e.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Any | EventKind::Other => true,
    }
}

/// The files of a rules folder, in name order. A symlink counts as the file it
/// points to (rules deployed from version control are often links): the
/// fingerprint, the version and the snapshot all see what `RuleSet::load` reads.
fn rule_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let m = std::fs::metadata(e.path()).ok()?;
            m.is_file().then(|| (e.path(), m))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

/// What the rules folder looks like now, cheaply: each file's name, size, mtime.
fn rules_fingerprint(dir: &Path) -> Vec<(String, u64, Option<std::time::SystemTime>)> {
    rule_files(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(p, m)| {
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                m.len(),
                m.modified().ok(),
            )
        })
        .collect()
}

/// A rules folder's version: the first 12 hex digits of the SHA-256 of its
/// files' names and bytes, in name order.
fn rules_version(dir: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (p, _) in rule_files(dir)? {
        h.update(
            p.file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        );
        h.update([0]);
        h.update(std::fs::read(&p)?);
        h.update([0]);
    }
    Ok(crate::intake::archive::hex(&h.finalize())[..12].to_string())
}

/// Copies the rules folder's files into `to` (replacing what was there), so the
/// workers read the rules this process loaded.
fn snapshot_rules(from: &Path, to: &Path) -> std::io::Result<PathBuf> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for (p, _) in rule_files(from)? {
        if let Some(name) = p.file_name() {
            // The bytes the link points to, never the link.
            crate::fsutil::copy_durable(&p, &to.join(name))?;
        }
    }
    Ok(to.to_path_buf())
}

/// Seconds since the Unix epoch by the real clock (timers never follow
/// `TAIZHANG_NOW`).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::wakes;
    use notify::event::{
        AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind, RenameMode,
    };

    #[test]
    fn reads_never_wake_the_loop_changes_do() {
        let ev = notify::Event::new;
        for k in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Read),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
        ] {
            assert!(!wakes(&ev(k)), "{k:?}");
        }
        for k in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Remove(RemoveKind::File),
            EventKind::Any,
        ] {
            assert!(wakes(&ev(k)), "{k:?}");
        }
    }
}
