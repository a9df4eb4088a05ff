//! One submission's steps, read top to bottom; each is a [`Step`] of the
//! daemon's work queue (drained by one loop, [`Daemon::drain`]), and none calls
//! the next: a step is a method of [`Pass`] — its explicit inputs: the journal,
//! the rules in force, the [`Reader`](crate::sandbox::Reader), the folders —
//! that hands back what follows as a value.
//!
//! 1. [`Daemon::take`]: archive and journal the received bytes (a duplicate is
//!    answered here), then queue [`Step::Judge`].
//! 2. [`Pass::judge`]: read the file with the reader (a worker process),
//!    decide, record outcome, findings, rows and notices in one transaction:
//!    [`Judged::Done`], and the loop queues [`Step::Finish`] first; or
//!    [`Judged::Waits`] when the county's side failed.
//! 3. [`Pass::finish`]: cross-unit duplicate notices, done; the accepted
//!    ledgers checked against an older ledger than this one are journaled for a
//!    re-check and handed back ([`Finished`]); the loop queues them
//!    ([`Step::Recheck`], judged like a new file) and rebuilds the county
//!    workbook the outcome made stale, so no notice ever waits on it.

use super::{Daemon, DaemonError, Processed, Step};
use crate::config::Config;
use crate::fsutil::printable;
use crate::identify::{self, Clues, UnitVerdict};
use crate::intake::archive;
use crate::intake::inbox::Candidate;
use crate::journal::Journal;
use crate::journal::{Decision, NewSubmission, Outcome, OutcomeRecord, State, Submission};
use crate::rules::RuleSet;
use crate::sandbox;
use crate::sandbox::Reader;
use crate::standing;
use crate::validate::{FileReport, Options};
use std::path::Path;
use std::time::{Duration, Instant};

/// Attempts at reading one submission that may end in the daemon stopping
/// (each journaled before it starts) before the file is set aside as poison.
pub const MAX_ATTEMPTS: i64 = 2;

/// The outcome of a validated file and who, what and when it is for. Pure: the
/// report is read, never rewritten.
///
/// - Unreadable (or not a ledger kind) with a unit named by the folder or file
///   name: rejected back to that unit, filed under the kind the file name names
///   (if any: a file that names no kind never changes any unit's standing).
/// - Unreadable and no unit: quarantined.
/// - Readable: a conflict or no unit is quarantined; errors reject; else accepted.
pub fn decide(rules: &RuleSet, sub: &Submission, report: &FileReport) -> Decision {
    let county = &rules.county;
    let mut d = Decision::as_reported(Outcome::Accepted, report);
    if let Some(fatal) = &report.fatal {
        // Not read: who sent it is what the folder or the file name says.
        let mut id = identified_by_name(rules, sub);
        // Dropped among the county's lists: the admin's own file.
        if sub.folder.as_deref() == Some(crate::rules::COUNTY_LISTS) {
            id.unit = UnitVerdict::Known(crate::rules::COUNTY_LISTS.to_string());
        }
        let known = matches!(id.unit, UnitVerdict::Known(_));
        if let UnitVerdict::Known(u) = id.unit {
            d.unit_code = county.unit(&u).map(|x| x.code.clone());
            d.unit = Some(u);
        }
        if known || report.abnormal {
            d.period = d.period.or(id.period.map(|(p, _)| p));
        }
        if report.abnormal {
            // Reading it killed its worker (or the daemon, twice): set aside for
            // the admin, and its unit told when known.
            d.outcome = Outcome::Quarantined;
            d.reason = Some(fatal.clone());
            return d;
        }
        if !known {
            d.outcome = Outcome::Quarantined;
            d.reason = Some(format!("{fatal}；且无法确定报送单位"));
            return d;
        }
        if d.kind_id.is_none() {
            if let Some(k) = rules.kind_named_in(&sub.original_name) {
                d.kind_id = Some(k.id.clone());
                d.kind_name = Some(k.name.clone());
            }
        }
        d.outcome = Outcome::Rejected;
        d.reason = Some(fatal.clone());
        return d;
    }
    match &report.unit_verdict {
        Some(UnitVerdict::Conflict(votes)) => {
            let shown: Vec<String> = votes
                .iter()
                .map(|(s, u)| format!("{}为{u}", s.zh()))
                .collect();
            d.outcome = Outcome::Quarantined;
            let mut reason = format!("填报单位前后不一致：{}", shown.join("，"));
            // Sheets of different units in one file: the refusal says what to do.
            if let Some(f) = report
                .findings
                .iter()
                .find(|f| f.rule == "file.sheet_ambiguous")
            {
                reason = format!("{reason}。{}", f.message);
            }
            d.reason = Some(reason);
        }
        Some(UnitVerdict::Unknown) | None => {
            d.outcome = Outcome::Quarantined;
            let said: Vec<String> = report
                .layout
                .clues
                .iter()
                .map(|(src, text)| {
                    let short: String = text.chars().take(60).collect();
                    let cut = if short.len() < text.len() { "…" } else { "" };
                    format!("{}「{}{cut}」", src.zh(), printable(&short))
                })
                .collect();
            let mut reason = "无法确定报送单位：文件夹、文件名、表格标题和表内「填报单位」都没有写明已知的乡镇（街道）".to_string();
            if !said.is_empty() {
                reason.push_str(&format!("。各处写的是：{}", said.join("；")));
            }
            if let Some((unit, hits, total, header)) =
                suggest_unit(rules, d.kind_id.as_deref(), report)
            {
                reason.push_str(&standing::suggestion(
                    &format!("据各行的「{header}」（{hits}/{total} 行属于{unit}）"),
                    &unit,
                ));
            }
            d.reason = Some(reason);
        }
        Some(UnitVerdict::Known(_)) if report.errors > 0 => d.outcome = Outcome::Rejected,
        Some(UnitVerdict::Known(_)) => d.outcome = Outcome::Accepted,
    }
    d
}

/// The unit a file of unknown sender most likely comes from, by the rows: a
/// column whose values are looked up in a table scoped by unit (the register's
/// 所属村 in `villages.csv`) names each row's unit; the unit of at least half
/// the rows is suggested (unit, its rows, rows with such a value, the header).
fn suggest_unit(
    rules: &RuleSet,
    kind: Option<&str>,
    report: &FileReport,
) -> Option<(String, usize, usize, String)> {
    let kind = rules.kind(kind?)?;
    for c in &kind.columns {
        let Some(lookup) = c.lookup.as_ref().filter(|l| l.scoped) else {
            continue;
        };
        let mut tally: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut total = 0;
        for r in &report.records {
            let Some(serde_json::Value::String(v)) = r.values.get(&c.key) else {
                continue;
            };
            let units: Vec<&str> = lookup
                .by_scope
                .iter()
                .filter(|(_, vs)| vs.contains(v))
                .map(|(u, _)| u.as_str())
                .collect();
            if units.is_empty() {
                continue;
            }
            total += 1;
            // A village name two units share says nothing.
            if let [u] = units.as_slice() {
                *tally.entry(u).or_default() += 1;
            }
        }
        if let Some((u, n)) = tally.into_iter().max_by_key(|(_, n)| *n) {
            if total > 0 && n * 2 >= total {
                return Some((u.to_string(), n, total, c.header.clone()));
            }
        }
    }
    None
}

impl Pass<'_> {
    /// A file of unknown sender whose rows did not suggest a unit by their
    /// villages: the unit whose accepted ledgers already have most of its
    /// persons (at least half of those found anywhere), else the unit whose
    /// landlines share the exchanges of most of the file's, is suggested, said
    /// in the reason as the village suggestion is.
    fn suggest_by_persons(&self, d: &mut Decision, report: &FileReport) -> Result<(), DaemonError> {
        let reason = d.reason.clone().unwrap_or_default();
        if standing::suggests_a_unit(&reason) || report.records.is_empty() {
            return Ok(());
        }
        // Each kind whose stored person is one column (the register's 身份证号),
        // with that column in this file.
        for kind in self.rules.kinds_referenced_first() {
            let [key] = crate::standing::person_columns(kind)[..] else {
                continue;
            };
            let persons: std::collections::BTreeSet<String> = report
                .records
                .iter()
                .filter_map(|r| match r.values.get(key) {
                    Some(serde_json::Value::String(v)) if !v.trim().is_empty() => {
                        Some(v.trim().to_string())
                    }
                    _ => None,
                })
                .collect();
            if persons.is_empty() {
                continue;
            }
            let persons: Vec<String> = persons.into_iter().collect();
            let units = self.journal.units_having_persons(&kind.id, &persons)?;
            let found: usize = units.iter().map(|(_, n)| n).sum();
            if let Some((unit, n)) = units.first() {
                if n * 2 >= found && self.rules.county.unit(unit).is_some() {
                    let basis = format!(
                        "文件中 {n}/{} 人已登记在{unit}已通过的{}中",
                        persons.len(),
                        kind.name
                    );
                    d.reason = Some(reason + &standing::suggestion(&basis, unit));
                    return Ok(());
                }
            }
        }
        // Else the phone area: the exchanges (区号 and the local number's first
        // three digits) of its landlines, against those on each unit's accepted
        // ledgers; an exchange two units share says nothing.
        for kind in self.rules.kinds_referenced_first() {
            for c in kind
                .columns
                .iter()
                .filter(|c| c.checks.iter().any(|k| k.check.name() == "cn_phone"))
            {
                let mine: Vec<String> = report
                    .records
                    .iter()
                    .filter_map(|r| match r.values.get(&c.key) {
                        Some(serde_json::Value::String(v)) => Some(exchanges(v)),
                        _ => None,
                    })
                    .flatten()
                    .collect();
                if mine.len() < 3 {
                    continue;
                }
                let wanted: std::collections::BTreeSet<&str> =
                    mine.iter().map(String::as_str).collect();
                let mut owners: std::collections::BTreeMap<
                    String,
                    std::collections::BTreeSet<String>,
                > = Default::default();
                self.journal.accepted_values(&kind.id, &c.key, |unit, v| {
                    for x in exchanges(v) {
                        if wanted.contains(x.as_str()) {
                            owners.entry(x).or_default().insert(unit.to_string());
                        }
                    }
                })?;
                let mut tally: std::collections::BTreeMap<&str, usize> = Default::default();
                for x in &mine {
                    if let Some(units) = owners.get(x).filter(|u| u.len() == 1) {
                        if let Some(u) = units.iter().next() {
                            *tally.entry(u.as_str()).or_default() += 1;
                        }
                    }
                }
                if let Some((unit, n)) = tally.into_iter().max_by_key(|(_, n)| *n) {
                    if n * 2 >= mine.len() && self.rules.county.unit(unit).is_some() {
                        let basis = format!(
                            "文件中 {n}/{} 个固定电话的号段（区号及局号）只见于{unit}已通过的{}",
                            mine.len(),
                            kind.name
                        );
                        d.reason = Some(reason + &standing::suggestion(&basis, unit));
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }
}

/// The exchanges of the landlines in a phone cell: `0371-6543210` gives
/// `0371-654` (区号 and the local number's first three digits).
fn exchanges(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in cell.split(|c: char| !(c.is_ascii_digit() || c == '-')) {
        let Some((area, local)) = part.split_once('-') else {
            continue;
        };
        let area_ok = area.starts_with('0') && (3..=4).contains(&area.len());
        let local_ok = (7..=8).contains(&local.len()) && local.chars().all(|c| c.is_ascii_digit());
        if area_ok && local_ok {
            out.push(format!("{area}-{}", &local[..3]));
        }
    }
    out
}

/// `1 row`, `2 rows`: counts in the console read as English.
fn counted(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Who sent a file and when, from what is known without reading it (the
/// sub-folder, the file name, the month received).
fn identified_by_name(rules: &RuleSet, sub: &Submission) -> identify::Identity {
    identify::identify(
        &rules.county,
        &Clues {
            folder: sub.folder.as_deref(),
            file_name: &sub.original_name,
            received: sub.received_at.get(..7),
            ..Clues::default()
        },
    )
}

impl Daemon {
    /// Takes one complete file: archived and journaled, its judgement queued (a
    /// duplicate is answered at once: `Some`). Errors about the file are
    /// journaled against it; only journal failures come back as errors.
    pub fn take(&mut self, c: &Candidate) -> Result<Option<Processed>, DaemonError> {
        let t0 = Instant::now();
        let staging = self.cfg.state.join("archive").join(".staging");
        let staged = match archive::stage(&c.path, &staging) {
            Ok(s) => s,
            Err(archive::StageError::Changed) => {
                // Replaced or still being written while we read: it settles again.
                tracing::info!(path = %c.path.display(), "changed while being read; left in the inbox, taken again later");
                self.inbox.taken(&c.path);
                return Ok(None);
            }
            Err(archive::StageError::Unreadable(e)) => {
                // Held by another program (a copy still running, Excel on Windows)
                // or not ours to read: said as it is, and tried again later.
                let wait = self.cfg.rescan.max(Duration::from_secs(1));
                tracing::warn!(
                    path = %c.path.display(),
                    error = %e,
                    "cannot be opened ({}); left in the inbox, tried again in {wait:?}",
                    crate::fsutil::io_zh(&e)
                );
                self.inbox.defer(&c.path, wait);
                return Ok(None);
            }
            Err(archive::StageError::Io(e)) => {
                // Our side failed (a full state disk): the file stays in the inbox, the
                // admin hears of it once, and it is tried again later.
                let wait = self.cfg.rescan.max(Duration::from_secs(1));
                tracing::error!(path = %c.path.display(), error = %e, "could not copy into the archive; the file stays in the inbox, tried again in {wait:?}");
                self.inbox.defer(&c.path, wait);
                let why = format!("{}：{}", self.cfg.state.display(), crate::fsutil::io_zh(&e));
                let mails: Vec<_> = crate::notice::for_state_problem(&self.rules, &why)
                    .into_iter()
                    .collect();
                match self.journal.state_problem_began(&why, &mails) {
                    Ok(true) => self.wake_mail(),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "the journal could not record it either"),
                }
                return Ok(None);
            }
        };
        if self.journal.state_problem()?.is_some() {
            tracing::info!("the state folder takes files again");
            self.journal.state_problem_ended()?;
        }
        let sha = staged.sha256.clone();
        let received_at = crate::journal::now();
        // A quarantine copy released into a unit's folder (`<id>-<name>`): it
        // goes on under the name it was sent with.
        let released = self.journal.find_quarantined_by_hash(&sha)?;
        let name = match &released {
            Some(q) => {
                tracing::info!(
                    "{}: quarantined file #{} released by the admin",
                    printable(&c.name),
                    q.id
                );
                q.original_name.clone()
            }
            None => c.name.clone(),
        };
        let new = NewSubmission {
            received_at: &received_at,
            original_name: &name,
            folder: c.folder.as_deref(),
            inbox_path: &c.path.to_string_lossy(),
            sha256: &sha,
            size: staged.size,
        };
        let earlier = self.journal.find_by_hash(&sha)?;
        let id = self.journal.insert_received(&new)?;
        let month = received_at.get(..7).unwrap_or("0000-00");
        let rel = archive::relative_path(month, id, &name);
        self.journal.set_archive_path(id, &rel)?;
        let dest = self.cfg.state.join(&rel);
        archive::place(&staged, &dest).map_err(|e| DaemonError::Io(dest.clone(), e))?;
        // Remove the inbox copy only if it is still the file we read.
        if archive::Identity::of(&c.path).as_ref() == Some(&staged.identity) {
            self.inbox.taken(&c.path);
            if let Err(e) = std::fs::remove_file(&c.path) {
                tracing::warn!(
                    path = %c.path.display(),
                    error = %e,
                    "archived, but cannot be removed from the inbox yet ({}); removed once it can be, not taken again",
                    crate::fsutil::io_zh(&e)
                );
                self.inbox.remove_later(&c.path, staged.identity.clone());
            }
        } else {
            self.inbox.taken(&c.path);
        }
        self.journal.set_state(id, State::Archived)?;
        if let Some(first) = earlier {
            let reason = format!(
                "与 {} 收到的第 {} 号报送「{}」内容完全相同，未重复处理",
                first.received_at, first.id, first.original_name
            );
            let mails: Vec<_> =
                crate::notice::for_resent(&self.rules, &c.name, &received_at, &first)
                    .into_iter()
                    .collect();
            self.journal.record_duplicate(id, &first, &reason, &mails)?;
            self.wake_mail();
            tracing::info!(
                "{}: duplicate of submission {} ({}), not processed again [#{id}]",
                printable(&c.name),
                first.id,
                printable(&first.original_name)
            );
            return Ok(Some(Processed {
                id,
                outcome: Outcome::Duplicate,
                report: FileReport {
                    file: c.name.clone(),
                    ..FileReport::default()
                },
            }));
        }
        tracing::debug!(id, "archived and journaled in {:?}", t0.elapsed());
        self.work.push_back(Step::Judge(id));
        Ok(None)
    }

    /// Works off the queue: each step in turn, a finished file's county
    /// workbook rebuilt before the next step (it never holds up a notice: the
    /// notices were journaled with the outcome). With `hold_rechecks` (a batch
    /// still being taken) re-checks wait, so the county's lists dropped together
    /// are all on file before any ledger is checked against them again — once,
    /// not once per list. Stopping: the queued judgements and re-checks are
    /// journaled (archived) and taken at the next start.
    pub(super) fn drain(&mut self, hold_rechecks: bool) -> Result<Vec<Processed>, DaemonError> {
        let mut done = Vec::new();
        loop {
            let next = if hold_rechecks {
                self.work
                    .iter()
                    .position(|s| !matches!(s, Step::Recheck(_)))
            } else {
                (!self.work.is_empty()).then_some(0)
            };
            let Some(step) = next.and_then(|i| self.work.remove(i)) else {
                break;
            };
            match step {
                Step::Judge(id) | Step::Recheck(id) => {
                    if self.stopping() {
                        self.work.push_front(step);
                        break;
                    }
                    let judged = self.pass().judge(id);
                    self.wake_mail();
                    match judged? {
                        Judged::Done(p) => {
                            // This file's own next step before any other work.
                            self.work.push_front(Step::Finish(id));
                            // What the files received came to (a re-check is no new file).
                            if matches!(step, Step::Judge(_)) {
                                done.push(*p);
                            }
                        }
                        Judged::Waits { name, why } => self.wait_for_rules(id, &name, &why)?,
                        Judged::Gone => {}
                    }
                }
                Step::Finish(id) => {
                    let finished = self.pass().finish(id);
                    self.wake_mail();
                    let finished = finished?;
                    // A new outcome: its workbook is tried now, whatever an
                    // earlier failure's back-off said.
                    if let Some(key) = finished.workbook {
                        self.retry_at.remove(&key);
                    }
                    for r in finished.rechecks {
                        if !self.work.contains(&Step::Recheck(r)) {
                            self.work.push_back(Step::Recheck(r));
                        }
                    }
                    self.rebuild_stale()?;
                }
            }
        }
        Ok(done)
    }

    /// Takes a batch of ready files, each judged and finished before the next is
    /// taken, the re-checks they cause held until all are taken
    /// ([`Daemon::drain`]). Reloads the rules after each file when `reload` (the
    /// watching daemon).
    pub(super) fn take_all(
        &mut self,
        ready: &[Candidate],
        reload: bool,
    ) -> Result<Vec<Processed>, DaemonError> {
        let mut done = Vec::new();
        for c in ready {
            if self.stopping() {
                break;
            }
            done.extend(self.take(c)?);
            done.extend(self.drain(true)?);
            if reload {
                self.reload_rules()?;
            }
        }
        done.extend(self.drain(false)?);
        Ok(done)
    }

    /// The inputs of the next step, as they stand.
    fn pass(&mut self) -> Pass<'_> {
        Pass {
            journal: &mut self.journal,
            rules: &self.rules,
            rules_version: &self.rules_version,
            rules_in_force: &self.rules_in_force,
            reader: &*self.reader,
            cfg: &self.cfg,
        }
    }
}

/// The explicit inputs of a step: the journal, the rules in force (their
/// version, and the copy of their folder a reader loads), the reader and the
/// folders. A step is a method of it, reads top to bottom, and hands back what
/// follows as a value ([`Judged`], [`Finished`]) for the loop to queue; the
/// clock is [`crate::clock`]'s (injected in a test).
pub(super) struct Pass<'d> {
    journal: &'d mut Journal,
    rules: &'d RuleSet,
    rules_version: &'d str,
    rules_in_force: &'d Path,
    reader: &'d dyn Reader,
    cfg: &'d Config,
}

/// What judging a submission came to.
pub(super) enum Judged {
    /// Its outcome journaled with its notices: to be finished next.
    Done(Box<Processed>),
    /// The county's side failed (the rules in force, the journal): no verdict,
    /// the file waits archived (its attempt undone) until the rules are usable.
    Waits { name: String, why: String },
    /// No such submission.
    Gone,
}

/// What finishing a submission left to do.
#[derive(Default)]
pub(super) struct Finished {
    /// Accepted ledgers journaled to be checked again (it replaced what they
    /// were checked against).
    pub rechecks: Vec<i64>,
    /// The county workbook (kind, period) its outcome made stale.
    pub workbook: Option<(String, String)>,
}

impl Pass<'_> {
    /// Reads an archived submission, decides its outcome and journals it with its
    /// notices (its finish is the next step); or says it waits for usable rules.
    pub(super) fn judge(&mut self, id: i64) -> Result<Judged, DaemonError> {
        let Some(sub) = self.journal.get(id)? else {
            return Ok(Judged::Gone);
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
        // Journaled before it starts: a file that takes the daemon down with it
        // (power loss, kill -9 mid-read) twice is not tried a third time.
        let earlier_attempts = self.journal.begin_attempt(id)?;
        let (report, copy) = if earlier_attempts >= MAX_ATTEMPTS {
            let reason = format!(
                "文件异常：处理该文件时程序已 {earlier_attempts} 次意外中断（崩溃、被强制结束或断电），为保护系统不再处理"
            );
            (FileReport::set_aside(&sub.original_name, reason), None)
        } else {
            let req = sandbox::Request {
                rules: self.rules_in_force.to_path_buf(),
                file: archived.clone(),
                opts,
                annotate_dir: Some(self.cfg.state.join("annotated").join(id.to_string())),
                refs: sandbox::RefSources {
                    ledgers: Vec::new(),
                    state: Some(self.cfg.state.clone()),
                },
            };
            match self.reader.read(&req) {
                Ok(done) => done,
                // The county's side failed (the rules in force, the journal): the
                // file waits, uncounted, and no township hears of it.
                Err(why) => {
                    self.journal.undo_attempt(id)?;
                    return Ok(Judged::Waits {
                        name: sub.original_name,
                        why,
                    });
                }
            }
        };
        tracing::debug!(id, "validated in {:?}", t0.elapsed());
        let mut d = decide(self.rules, &sub, &report);
        if d.outcome == Outcome::Quarantined && d.unit.is_none() {
            self.suggest_by_persons(&mut d, &report)?;
        }
        let outcome = d.outcome;
        let mut annotated = None;
        if matches!(outcome, Outcome::Rejected | Outcome::Accepted) {
            match copy {
                Some(Ok(p)) => {
                    annotated = p
                        .strip_prefix(&self.cfg.state)
                        .ok()
                        .map(|r| r.to_string_lossy().to_string())
                }
                Some(Err(e)) => {
                    tracing::warn!(id, error = %e, "annotated copy could not be written")
                }
                None => {}
            }
        }
        if outcome == Outcome::Quarantined {
            self.quarantine(&sub, &archived, d.reason.as_deref().unwrap_or(""));
        }
        let annotated_abs = annotated.as_ref().map(|a| self.cfg.state.join(a));
        let person_key: Vec<&str> = d
            .kind_id
            .as_deref()
            .and_then(|k| self.rules.kind(k))
            .map(crate::standing::person_columns)
            .unwrap_or_default();
        let original = (outcome == Outcome::Quarantined).then_some(archived.as_path());
        // The rows the county workbook lists whatever the outcome (比对疑点).
        let keep_rows: Vec<u32> = match d
            .kind_id
            .as_deref()
            .and_then(|k| self.rules.kind(k))
            .and_then(|k| k.consolidation.as_ref()?.hits.as_ref())
        {
            Some(h) if outcome == Outcome::Rejected => report
                .findings
                .iter()
                .filter(|f| f.rule.starts_with(&h.rules))
                .filter_map(|f| f.row)
                .collect(),
            _ => Vec::new(),
        };
        // Checked again against a newer register and still accepted: nothing to tell.
        let quiet = sub.recheck_because.is_some() && outcome == Outcome::Accepted;
        let mails = if quiet {
            Vec::new()
        } else {
            crate::notice::for_outcome(
                self.rules,
                &sub,
                &report,
                &d,
                annotated_abs.as_deref(),
                original,
            )
        };
        // What county staff are told the workbook changed for.
        // A county list has no workbook of its own (the ledgers checked against
        // it are rebuilt when their re-checks are judged).
        let workbook_why = (matches!(outcome, Outcome::Accepted | Outcome::Rejected)
            && !d.is_county_list())
        .then(|| {
            format!(
                "{}「{}」{}",
                d.unit.clone().unwrap_or_default(),
                sub.original_name,
                outcome.zh()
            )
        });
        self.journal.record_outcome(
            id,
            &d,
            &report,
            &OutcomeRecord {
                annotated: annotated.as_deref(),
                mails: &mails,
                person_key: &person_key,
                workbook_why: workbook_why.as_deref(),
                rules_version: Some(self.rules_version),
                keep_rows: &keep_rows,
            },
        )?;
        tracing::debug!(
            id,
            "outcome journaled {:?} after validation began",
            t0.elapsed()
        );
        tracing::info!(
            "{}: {} (unit {}, {} {}, {}, {}, {}){} [#{id}]",
            printable(&sub.original_name),
            outcome.as_str(),
            d.unit.as_deref().unwrap_or("?"),
            d.kind_id.as_deref().unwrap_or("?"),
            d.period.as_deref().unwrap_or("?"),
            counted(report.rows, "row"),
            counted(report.errors, "error"),
            counted(report.warnings, "warning"),
            d.reason
                .as_deref()
                .map(|r| format!(": {}", printable(r)))
                .unwrap_or_default()
        );
        Ok(Judged::Done(Box::new(Processed {
            id,
            outcome,
            report,
        })))
    }

    /// Copies a quarantined file beside a note of the reason, for the county admin.
    fn quarantine(&self, sub: &Submission, archived: &Path, reason: &str) {
        let dir = self.cfg.outbox.join("quarantine");
        let name = format!(
            "{}-{}",
            sub.id,
            crate::fsutil::safe_name(&sub.original_name, 120)
        );
        let note = format!(
            "文件：{}\n收到时间：{}\n来自：{}\n隔离原因：{}\n原件存档：{}\n\n确认报送单位后，把本文件放入收件箱中该单位的子文件夹（如 inbox/柳河镇/）即重新处理，原文件名照旧。\n",
            printable(&sub.original_name),
            crate::text::local_time(&sub.received_at),
            sub.folder
                .as_deref()
                .map(|f| format!("收件箱子文件夹「{}」", printable(f)))
                .unwrap_or_else(|| "收件箱".into()),
            printable(reason),
            printable(&self.cfg.state.join(&sub.archive_path).display().to_string())
        );
        let res = crate::fsutil::copy_durable(archived, &dir.join(&name)).and_then(|_| {
            crate::fsutil::write_durable(&dir.join(format!("{name}.原因.txt")), note.as_bytes())
        });
        if let Err(e) = res {
            tracing::warn!(id = sub.id, error = %e, "could not copy to quarantine (the archive keeps it)");
        }
    }

    /// Finishes a judged submission: queues the cross-unit duplicate notices
    /// its outcome caused and marks it done (one transaction); the ledgers it
    /// makes stale are journaled for a re-check first and handed back. Its
    /// county workbook is left stale for the loop: one that cannot be written
    /// delays no notice.
    pub(super) fn finish(&mut self, id: i64) -> Result<Finished, DaemonError> {
        let Some(sub) = self.journal.get(id)? else {
            return Ok(Finished::default());
        };
        let judged = matches!(sub.outcome, Some(Outcome::Accepted | Outcome::Rejected));
        let (Some(kind), Some(period), true) = (&sub.kind_id, &sub.period, judged) else {
            self.journal.set_state(id, State::Done)?;
            return Ok(Finished::default());
        };
        let standing = standing::of(self.rules, self.journal, kind, period)?;
        let dups = standing::cross_unit_duplicates(self.journal, &standing)?;
        let mut mails = Vec::new();
        let mut notified = Vec::new();
        for (m, pairs) in
            crate::notice::for_duplicates(self.rules, self.journal, kind, period, &dups)?
        {
            mails.push(m);
            notified.extend(pairs);
        }
        // Ledgers checked against this one that it now replaces: set to be checked
        // again before this one is done (a stop in between finds them archived).
        let rechecks = if sub.outcome == Some(Outcome::Accepted) {
            self.stale_dependents(&sub)?
        } else {
            Vec::new()
        };
        for r in &rechecks {
            self.journal.begin_recheck(*r, id)?;
        }
        self.journal
            .finish_with_mail(id, kind, period, &mails, &notified)?;
        for r in &rechecks {
            tracing::info!(
                "#{r}: checked again against {} [#{id}]",
                printable(&sub.original_name)
            );
        }
        Ok(Finished {
            rechecks,
            workbook: Some((kind.clone(), period.clone())),
        })
    }

    /// The accepted ledgers (counting, of this unit) that refer to `sub`'s kind —
    /// of any shape: a payments ledger's register of its period or before, a
    /// register's previous register — and were checked against another ledger of
    /// it than the one that now applies: one re-check loop for every reference.
    fn stale_dependents(&self, sub: &Submission) -> Result<Vec<i64>, DaemonError> {
        let (Some(kind), Some(unit), Some(period)) = (&sub.kind_id, &sub.unit, &sub.period) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let periods = self.journal.kind_periods()?;
        for k in &self.rules.kinds {
            for reference in k.references.iter().filter(|r| &r.kind == kind) {
                for (kid, p) in &periods {
                    // Only a period whose reference may be `sub` (never `sub` itself).
                    if *kid != k.id || reference.bound(p).as_str() < period.as_str() {
                        continue;
                    }
                    // What applies now, as the edges record it: the latest, or the
                    // newest of the lists joined (`every_up_to`).
                    let applies = standing::applying(
                        self.journal,
                        unit,
                        kind,
                        &reference.bound(p),
                        reference.every(),
                    )?
                    .iter()
                    .map(|s| s.id)
                    .max();
                    let st = standing::of(self.rules, self.journal, &k.id, p)?;
                    // A unit's own ledgers; every unit's for a county list.
                    for u in st
                        .units
                        .iter()
                        .filter(|u| reference.county || &u.unit.name == unit)
                    {
                        let Some(counting) = u.counting.as_ref() else {
                            continue;
                        };
                        if counting.id == sub.id {
                            continue;
                        }
                        let used = counting
                            .references()
                            .iter()
                            .find(|u| u.name == reference.name)
                            .and_then(|u| u.submission);
                        if applies != used {
                            out.push(counting.id);
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_as_english() {
        assert_eq!(super::counted(1, "warning"), "1 warning");
        assert_eq!(super::counted(0, "error"), "0 errors");
        assert_eq!(super::counted(120, "row"), "120 rows");
    }

    #[test]
    fn landline_exchanges() {
        assert_eq!(
            super::exchanges("13812345678/0371-6543210、0396-28812345 5551234"),
            vec!["0371-654".to_string(), "0396-288".to_string()]
        );
        assert!(super::exchanges("0371-12").is_empty());
    }
}
