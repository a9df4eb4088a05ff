//! Notices: who hears what, composed from `notices.toml`, queued in the journal,
//! delivered by SMTP or as `.eml` files.
//!
//! - [`compose`]: templates → the exact bytes of a message (attachments included).
//! - [`transport`]: SMTP (STARTTLS, implicit TLS or plain; optional auth) or files.
//!
//! The queue itself (at-most-once delivery, retries, parking) is the journal's
//! ([`crate::journal::mail`]); this module composes and delivers, and holds no SQL.

pub mod compose;
pub mod transport;

use crate::journal::{Decision, Journal, JournalError, Outcome, Queued, Submission};
use crate::rules::RuleSet;
use crate::standing::CrossDuplicate;
use crate::validate::FileReport;
pub use compose::{Attachment, Mail};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
pub use transport::{MailTarget, Sender};

/// The most an original file attached to the admin's quarantine notice may weigh.
const MAX_ORIGINAL_ATTACHMENT: u64 = 10 << 20;

/// The notices a submission's outcome causes. `annotated` is the annotated copy
/// (attached to rejections and to acceptances with warnings); `original` the
/// archived file, attached to the admin's notice of a quarantined file.
pub fn for_outcome(
    rules: &RuleSet,
    sub: &Submission,
    report: &FileReport,
    d: &Decision,
    annotated: Option<&Path>,
    original: Option<&Path>,
) -> Vec<Mail> {
    let (outcome, reason) = (d.outcome, d.reason.as_deref());
    let mut v: compose::Vars = HashMap::new();
    v.insert("unit", d.unit.clone().unwrap_or_default());
    v.insert("period", d.period.clone().unwrap_or_default());
    v.insert("kind", d.kind_name.clone().unwrap_or_default());
    v.insert(
        "file",
        crate::fsutil::printable(&sub.original_name).into_owned(),
    );
    v.insert("received_at", crate::text::local_time(&sub.received_at));
    v.insert("rows", report.rows.to_string());
    v.insert("errors", report.errors.to_string());
    v.insert("warnings", report.warnings.to_string());
    v.insert("reason", reason.unwrap_or_default().to_string());
    // The ledgers it was checked against (a payments ledger's register).
    let said = crate::validate::ReferenceUsed::said_all(&report.references);
    v.insert("checked_against", said.join("；"));
    // Checked again because a newer register of the unit was accepted.
    // Checked again because a newer ledger it refers to was accepted: this
    // period's register (a payments ledger), or last period's (a register).
    // Lists of the county dropped together queue a ledger once, for the first of
    // them: a county reference that holds it (its newest list or a later one).
    let cause = sub.recheck_because.and_then(|because| {
        report
            .references
            .iter()
            .find(|r| r.submission == Some(because))
            .or_else(|| {
                report
                    .references
                    .iter()
                    .find(|r| r.county && r.submission.is_some_and(|s| s >= because))
            })
            .or_else(|| report.references.first())
    });
    let recheck = match cause {
        // Another agency's list: its kind and months, never its file or rows.
        Some(r) if r.county => format!(
            "县残联收到了新的部门比对名单。系统按{}重新核对了此前已通过的本期《{}》「{}」，结果如下（只涉及你单位自己的人员）。",
            report
                .references
                .iter()
                .filter(|r| r.county && r.periods.is_some())
                .map(|r| format!("《{}》（{}）", r.kind_name, r.periods.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("、"),
            d.kind_name.as_deref().unwrap_or(""),
            crate::fsutil::printable(&sub.original_name)
        ),
        Some(r) if d.kind_id.as_deref() == Some(r.kind.as_str()) => format!(
            "你单位上期（{}）的《{}》已更新（「{}」已通过）。系统按更新后的上期登记簿重新核对了此前已通过的本期《{}》「{}」，结果如下。",
            r.period.as_deref().unwrap_or(""),
            r.kind_name,
            r.file.as_deref().unwrap_or(""),
            d.kind_name.as_deref().unwrap_or(""),
            crate::fsutil::printable(&sub.original_name)
        ),
        Some(r) => format!(
            "你单位新的《{}》「{}」已通过。系统按新登记簿重新核对了此前已通过的本期《{}》「{}」，结果如下。",
            r.kind_name,
            r.file.as_deref().unwrap_or(""),
            d.kind_name.as_deref().unwrap_or(""),
            crate::fsutil::printable(&sub.original_name)
        ),
        None => String::new(),
    };
    v.insert("recheck", recheck);
    v.insert(
        "sheet",
        report
            .layout
            .sheet
            .as_deref()
            .map(|s| crate::fsutil::printable(s).into_owned())
            .unwrap_or_else(|| "（未选定）".into()),
    );
    // A list of the county's (another agency's) is never attached to any mail:
    // its answer goes to the admin, who has the annotated copy in the state folder.
    let county_list = d.is_county_list();
    let attachment = annotated.filter(|_| !county_list).and_then(|p| {
        let bytes = std::fs::read(p).ok()?;
        Some(Attachment {
            name: p.file_name()?.to_string_lossy().to_string(),
            bytes,
        })
    });
    // Without the annotated copy (it could not be made), the body lists every problem.
    let copy_missing = attachment.is_none() && !report.findings.is_empty();
    let (text, html) = compose::items(
        rules,
        &report.findings,
        report.findings_total(),
        copy_missing,
    );
    v.insert("items_text", text);
    v.insert("items_html", html);
    let (note_text, note_html) = compose::attachment_note(rules, attachment.as_ref(), copy_missing);
    v.insert("attachment_note_text", note_text);
    v.insert("attachment_note_html", note_html);
    let unit_email = if county_list {
        rules.county.admin.clone()
    } else {
        d.unit
            .as_deref()
            .and_then(|u| rules.county.unit(u))
            .map(|u| vec![u.email.clone()])
            .unwrap_or_default()
    };
    let n = &rules.notices;
    let made = match outcome {
        // Another agency's list: the admin's, whatever became of it.
        Outcome::Accepted if county_list => compose::compose(
            rules,
            "list_accepted",
            &n.list_accepted,
            &unit_email,
            &v,
            None,
        ),
        Outcome::Rejected if county_list => compose::compose(
            rules,
            "list_rejected",
            &n.list_rejected,
            &unit_email,
            &v,
            None,
        ),
        Outcome::Accepted => compose::compose(
            rules,
            "accepted",
            &n.accepted,
            &unit_email,
            &v,
            attachment.as_ref(),
        ),
        Outcome::Rejected if report.not_a_ledger => compose::compose(
            rules,
            "not_a_ledger",
            &n.not_a_ledger,
            &unit_email,
            &v,
            None,
        ),
        Outcome::Rejected if report.fatal.is_some() => {
            compose::compose(rules, "unreadable", &n.unreadable, &unit_email, &v, None)
        }
        Outcome::Rejected => compose::compose(
            rules,
            "rejected",
            &n.rejected,
            &unit_email,
            &v,
            attachment.as_ref(),
        ),
        Outcome::Quarantined => {
            let file = original
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() <= MAX_ORIGINAL_ATTACHMENT));
            let copy = file.and_then(|p| {
                Some(Attachment {
                    name: crate::fsutil::safe_name(&sub.original_name, 120),
                    bytes: std::fs::read(p).ok()?,
                })
            });
            compose::compose(
                rules,
                "quarantine",
                &n.quarantine,
                &rules.county.admin,
                &v,
                copy.as_ref(),
            )
        }
        Outcome::Duplicate => return Vec::new(),
    };
    let mut made = vec![made];
    // A file whose sources name different units: each of them is told too.
    if outcome == Outcome::Quarantined && !report.abnormal {
        if let Some(crate::identify::UnitVerdict::Conflict(_)) = &report.unit_verdict {
            for unit in report.unit_verdict.iter().flat_map(|v| v.units()) {
                let Some(u) = rules.county.unit(&unit) else {
                    continue;
                };
                let mut vu = v.clone();
                vu.insert("unit", unit.clone());
                made.push(compose::compose(
                    rules,
                    "quarantine_unit",
                    &n.quarantine_unit,
                    std::slice::from_ref(&u.email),
                    &vu,
                    None,
                ));
            }
        }
    }
    // A file set aside as abnormal is also told to its unit, when known.
    if outcome == Outcome::Quarantined && report.abnormal && !unit_email.is_empty() {
        made.push(compose::compose(
            rules,
            "unreadable",
            &n.unreadable,
            &unit_email,
            &v,
            None,
        ));
    }
    made.into_iter()
        .filter_map(|m| match m {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::error!(submission = sub.id, error = %e, "notice could not be composed");
                None
            }
        })
        .collect()
}

/// The answer to a file identical to one already judged (`first`): which file it
/// was, what it got, what to do. To the unit `first` was filed under (else the
/// county admin).
pub fn for_resent(
    rules: &RuleSet,
    file_name: &str,
    received_at: &str,
    first: &Submission,
) -> Option<Mail> {
    let n = &rules.notices;
    let mut v: compose::Vars = HashMap::new();
    v.insert("unit", first.unit.clone().unwrap_or_default());
    v.insert("period", first.period.clone().unwrap_or_default());
    v.insert("kind", first.kind_name.clone().unwrap_or_default());
    v.insert("file", crate::fsutil::printable(file_name).into_owned());
    v.insert("received_at", crate::text::local_time(received_at));
    v.insert(
        "first_file",
        crate::fsutil::printable(&first.original_name).into_owned(),
    );
    v.insert(
        "first_received_at",
        crate::text::local_time(&first.received_at),
    );
    let (outcome, advice) = match first.outcome {
        Some(Outcome::Accepted) => ("已通过".to_string(), &n.resent_advice.accepted),
        _ => (
            format!("已退回（{} 处错误）", first.errors),
            &n.resent_advice.rejected,
        ),
    };
    v.insert("first_outcome", outcome);
    v.insert("advice", advice.clone());
    let to = first
        .unit
        .as_deref()
        .and_then(|u| rules.county.unit(u))
        .map(|u| vec![u.email.clone()])
        .unwrap_or_else(|| rules.county.admin.clone());
    composed(rules, "resent", &n.resent, &to, &v, None)
}

/// A notice and the (person, unit) pairs it tells about.
pub type DuplicateNotice = (Mail, Vec<(String, String)>);

/// Notices about persons registered in more than one unit: each unit involved is
/// told once per person (persons already told are skipped). Returns each message
/// with the (person, unit) pairs it covers, to be marked in the same transaction.
pub fn for_duplicates(
    rules: &RuleSet,
    journal: &Journal,
    kind: &str,
    period: &str,
    dups: &[CrossDuplicate],
) -> Result<Vec<DuplicateNotice>, JournalError> {
    let kind_name = rules.kind(kind).map(|k| k.name.clone()).unwrap_or_default();
    let mut per_unit: BTreeMap<String, Vec<(&CrossDuplicate, u32)>> = BTreeMap::new();
    for d in dups {
        for (unit, _, _, row) in &d.places {
            if !journal.already_notified(kind, period, &d.key, unit)? {
                per_unit.entry(unit.clone()).or_default().push((d, *row));
            }
        }
    }
    let mut out = Vec::new();
    for (unit, people) in per_unit {
        let Some(u) = rules.county.unit(&unit) else {
            continue;
        };
        let mut text = Vec::new();
        let mut html = Vec::new();
        for (d, row) in &people {
            let others: Vec<String> = d
                .places
                .iter()
                .filter(|p| p.0 != unit)
                .map(|p| format!("{}（文件「{}」第 {} 行）", p.0, p.2, p.3))
                .collect();
            let key = crate::standing::key_said(&d.key);
            text.push(format!(
                "{key} {}（本单位第 {row} 行）同时见于：{}",
                d.name,
                others.join("、")
            ));
            let esc = crate::text::escape_html;
            html.push(format!(
                "<tr><td>{}</td><td>{}</td><td>{row}</td><td>{}</td></tr>",
                esc(&key),
                esc(&d.name),
                esc(&others.join("、"))
            ));
        }
        let mut v: compose::Vars = HashMap::new();
        v.insert("unit", unit.clone());
        v.insert("period", period.to_string());
        v.insert("kind", kind_name.clone());
        v.insert("count", people.len().to_string());
        v.insert("people_text", text.join("\n"));
        v.insert("people_html", html.join("\n"));
        let template = rules
            .notices
            .duplicates_by_kind
            .get(kind)
            .unwrap_or(&rules.notices.duplicates);
        match compose::compose(
            rules,
            "duplicates",
            template,
            std::slice::from_ref(&u.email),
            &v,
            None,
        ) {
            Ok(m) => out.push((
                m,
                people
                    .iter()
                    .map(|(d, _)| (d.key.clone(), unit.clone()))
                    .collect(),
            )),
            Err(e) => tracing::error!(unit, error = %e, "duplicate notice could not be composed"),
        }
    }
    Ok(out)
}

/// Composes a notice; one that cannot be composed (a bad address in the rule
/// files) is logged and left out.
fn composed(
    rules: &RuleSet,
    purpose: &str,
    template: &crate::rules::schema::MailTemplate,
    to: &[String],
    vars: &compose::Vars,
    attachment: Option<&Attachment>,
) -> Option<Mail> {
    match compose::compose(rules, purpose, template, to, vars, attachment) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(purpose, error = %e, "notice not composed");
            None
        }
    }
}

/// A notice to the county admin from `template` with these values.
fn to_admin(
    rules: &RuleSet,
    purpose: &str,
    template: &crate::rules::schema::MailTemplate,
    vars: &[(&'static str, &str)],
) -> Option<Mail> {
    let v: compose::Vars = vars.iter().map(|(k, x)| (*k, x.to_string())).collect();
    composed(rules, purpose, template, &rules.county.admin, &v, None)
}

/// To the county admin: a county workbook could not be written (told once per
/// failure streak; the rebuild is retried).
pub fn for_workbook_failure(
    rules: &RuleSet,
    kind_name: &str,
    period: &str,
    error: &str,
) -> Option<Mail> {
    let n = &rules.notices;
    let vars = [("kind", kind_name), ("period", period), ("reason", error)];
    to_admin(rules, "workbook_failed", &n.workbook_failed, &vars)
}

/// To the county admin: received files cannot be stored in the state folder.
pub fn for_state_problem(rules: &RuleSet, error: &str) -> Option<Mail> {
    to_admin(
        rules,
        "state_disk",
        &rules.notices.state_disk,
        &[("reason", error)],
    )
}

/// To the county admin: an edit of the rules folder has problems, so the rules
/// in force stay (told once per broken edit).
pub fn for_rules_refused(rules: &RuleSet, problems: &str) -> Option<Mail> {
    let t = &rules.notices.rules_refused;
    to_admin(rules, "rules_refused", t, &[("reason", problems)])
}

/// To the county admin: the rules in force could not be used to read a file;
/// the files wait until they can be (told once until fixed).
pub fn for_rules_failed(rules: &RuleSet, problem: &str, waiting: &str) -> Option<Mail> {
    let t = &rules.notices.rules_failed;
    to_admin(
        rules,
        "rules_failed",
        t,
        &[("reason", problem), ("waiting", waiting)],
    )
}

/// The county workbook for county staff.
pub fn for_workbook(
    rules: &RuleSet,
    kind_name: &str,
    period: &str,
    path: &Path,
    reason: &str,
) -> Option<Mail> {
    let bytes = std::fs::read(path).ok()?;
    let attachment = Attachment {
        name: path.file_name()?.to_string_lossy().to_string(),
        bytes,
    };
    let mut v: compose::Vars = HashMap::new();
    v.insert("kind", kind_name.to_string());
    v.insert("period", period.to_string());
    v.insert("reason", reason.to_string());
    composed(
        rules,
        "county_workbook",
        &rules.notices.county_workbook,
        &rules.county.staff,
        &v,
        Some(&attachment),
    )
}

/// How long to wait before retry number `attempts` (1-based): doubling from `base`, at most an hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let factor = 2u32.saturating_pow((attempts.max(1) - 1).min(16) as u32);
    (base * factor).min(Duration::from_secs(3600)).max(base)
}

/// How notices are delivered.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The sender address (`county.toml`).
    pub from: String,
    /// First retry delay after a temporary failure; doubles each time.
    pub retry: Duration,
    /// The most one SMTP transaction may take, whatever the server does (a server
    /// that answers one byte every few seconds never trips a per-read timeout).
    pub deadline: Duration,
}

/// What one bounded send came to.
enum Sent {
    Done(Result<(), transport::SendError>),
    /// Past the deadline: the server may yet take it.
    Overran,
    /// A stop was asked for mid-send.
    Stopped,
}

/// Sends in a helper thread and waits at most `deadline`, watching `stop`.
fn send_bounded(
    sender: &Sender,
    d: &Delivery,
    m: &Queued,
    name: String,
    stop: &AtomicBool,
) -> Sent {
    let (tx, rx) = mpsc::channel();
    let (s, from, to, bytes) = (
        sender.clone(),
        d.from.clone(),
        m.to.clone(),
        m.bytes.clone(),
    );
    let spawned = std::thread::Builder::new()
        .name("smtp".into())
        .spawn(move || {
            let _ = tx.send(s.send(&from, &to, &bytes, &name));
        });
    if let Err(e) = spawned {
        return Sent::Done(Err(transport::SendError {
            permanent: false,
            message: e.to_string(),
        }));
    }
    let until = std::time::Instant::now() + d.deadline;
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => return Sent::Done(r),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Sent::Done(Err(transport::SendError {
                    permanent: false,
                    message: "发送线程意外结束".into(),
                }))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) {
                    return Sent::Stopped;
                }
                if std::time::Instant::now() >= until {
                    return Sent::Overran;
                }
            }
        }
    }
}

/// What a notice is, in a word a clerk reads (its `.eml` name, the mail page).
pub fn purpose_zh(purpose: &str) -> &str {
    match purpose {
        "rejected" => "退回",
        "accepted" => "通过",
        "unreadable" => "无法读取",
        "not_a_ledger" => "非台账",
        "quarantine" => "隔离",
        "quarantine_unit" => "暂未处理",
        "resent" => "重复报送",
        "duplicates" => "跨乡镇重复",
        "county_workbook" => "全县汇总",
        "workbook_failed" => "汇总未更新",
        "state_disk" => "状态目录",
        "rules_refused" => "规则有误",
        "rules_failed" => "规则无法使用",
        "reminder" => "催报",
        "overdue" => "逾期未报",
        other => other,
    }
}

/// The `.eml` file name of a message, so a clerk finds it: unit, period, what
/// it is, its queue id (`石桥镇_2026-11_退回_2.eml`).
fn eml_name(journal: &Journal, m: &Queued) -> String {
    let what = purpose_zh(&m.purpose);
    let sub = m
        .submission_id
        .and_then(|id| journal.get(id).ok().flatten());
    let mut parts: Vec<String> = Vec::new();
    match (&sub, &m.name_hint) {
        (Some(s), _) => {
            parts.extend(s.unit.clone());
            parts.extend(s.period.clone());
        }
        (None, Some(hint)) => parts.push(hint.clone()),
        (None, None) => {}
    }
    parts.push(what.to_string());
    parts.push(m.id.to_string());
    format!("{}.eml", crate::fsutil::safe_name(&parts.join("_"), 100))
}

/// Sends every message due now, one at a time. Returns how many were sent.
pub fn deliver_due(
    journal: &Journal,
    sender: &Sender,
    d: &Delivery,
    stop: &AtomicBool,
) -> Result<usize, JournalError> {
    let mut sent = 0;
    while !stop.load(Ordering::SeqCst) {
        let Some(m) = journal.mail_next_due()? else {
            break;
        };
        journal.mail_sending(m.id)?;
        let name = eml_name(journal, &m);
        match send_bounded(sender, d, &m, name.clone(), stop) {
            Sent::Done(Ok(())) => {
                journal.mail_sent(m.id)?;
                sent += 1;
                match sender.folder() {
                    Some(dir) => tracing::info!(
                        "mail #{} for {} written to {} (no mail server configured; nothing left the machine): {}",
                        m.id,
                        m.to.join(", "),
                        dir.join(&name).display(),
                        crate::fsutil::printable(&m.subject)
                    ),
                    None => tracing::info!(
                        "mail #{} sent to {}: {}",
                        m.id,
                        m.to.join(", "),
                        crate::fsutil::printable(&m.subject)
                    ),
                }
            }
            Sent::Done(Err(e)) if e.permanent => {
                journal.mail_parked(m.id, &e.message)?;
                tracing::warn!("mail #{} refused for good, parked: {}", m.id, e.message);
            }
            Sent::Done(Err(e)) => {
                let wait = backoff(d.retry, m.attempts + 1);
                journal.mail_retry(m.id, wait.as_secs().max(1) as i64, &e.message)?;
                tracing::warn!(
                    "mail #{} not sent ({}); retry in {:?}",
                    m.id,
                    e.message,
                    wait
                );
                break; // the server is likely down for the others too
            }
            Sent::Overran => {
                // The server may still take it: at most once, so not sent again by itself.
                journal.mail_uncertain(
                    m.id,
                    &format!(
                        "邮件服务器在 {} 秒内未完成接收，无法确定是否已送达；为避免重复发送，未自动重发",
                        d.deadline.as_secs()
                    ),
                )?;
                tracing::warn!(
                    "mail #{} not finished within {:?}; marked uncertain (see status)",
                    m.id,
                    d.deadline
                );
                break;
            }
            Sent::Stopped => {
                // Left `sending`: the next start marks it uncertain, as for a crash.
                tracing::warn!(
                    "mail #{} was being sent at the stop; marked uncertain at the next start",
                    m.id
                );
                break;
            }
        }
    }
    Ok(sent)
}

/// The mail thread of the daemon: delivers due messages until stopped, woken
/// when new messages are queued.
pub fn worker(
    state_dir: &Path,
    target: &MailTarget,
    delivery: &Delivery,
    stop: Arc<AtomicBool>,
    wake: mpsc::Receiver<()>,
) {
    let sender = match Sender::new(target) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("mail delivery disabled: {e}");
            return;
        }
    };
    let journal = match Journal::open(state_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("mail delivery disabled: {e}");
            return;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        if let Err(e) = deliver_due(&journal, &sender, delivery, &stop) {
            tracing::error!("mail queue: {e}");
        }
        let next = journal
            .mail_seconds_to_next()
            .ok()
            .flatten()
            .map(|s| Duration::from_secs(s as u64));
        let wait = next
            .unwrap_or(Duration::from_secs(5))
            .clamp(Duration::from_millis(100), Duration::from_secs(5));
        match wake.recv_timeout(wait) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// One kind a unit is reminded of: its name, and its latest rejected file with
/// the findings still to correct (None: nothing sent yet).
pub type Due<'a> = (
    &'a str,
    Option<(&'a Submission, &'a [crate::validate::Finding])>,
);

/// To a unit, on a reminder day: one mail for every kind it has not yet got
/// accepted (催报), each kind's state and, for a rejected file, what is still
/// wrong. `{kind}` is the kinds' names joined by 、, `{kinds}` each in 《》.
pub fn for_reminder(
    rules: &RuleSet,
    unit: &crate::rules::Unit,
    due: &[Due<'_>],
    period: &str,
    deadline: &str,
    days_left: i64,
) -> Option<Mail> {
    let mut v: compose::Vars = HashMap::new();
    let names: Vec<&str> = due.iter().map(|(k, _)| *k).collect();
    v.insert("unit", unit.name.clone());
    v.insert("kind", names.join("、"));
    v.insert(
        "kinds",
        names.iter().map(|k| format!("《{k}》")).collect::<String>(),
    );
    v.insert("period", period.to_string());
    v.insert("deadline", deadline.to_string());
    v.insert("days_left", days_left.to_string());
    let several = due.len() > 1;
    let mut status = Vec::new();
    let (mut text, mut html) = (String::new(), String::new());
    for (kind, rejected) in due {
        let head = if several {
            format!("《{kind}》：")
        } else {
            String::new()
        };
        match rejected {
            Some((sub, findings)) => {
                status.push(format!(
                    "{head}你单位 {} 报送的「{}」未通过校验，以下 {} 处错误尚未更正{}",
                    crate::text::local_time(&sub.received_at),
                    crate::fsutil::printable(&sub.original_name),
                    sub.errors,
                    if several { "" } else { "：" }
                ));
                let (t, h) = compose::items(rules, findings, findings.len(), false);
                if several {
                    text.push_str(&format!("《{kind}》\n"));
                    html.push_str(&format!(
                        "<tr><td colspan=\"9\"><b>《{}》</b></td></tr>\n",
                        crate::text::escape_html(kind)
                    ));
                }
                text.push_str(&t);
                text.push('\n');
                html.push_str(&h);
            }
            None => status.push(format!("{head}你单位尚未报送。")),
        }
    }
    v.insert(
        "status",
        if several {
            format!("\n{}", status.join("\n"))
        } else {
            status.concat()
        },
    );
    v.insert("problems_text", text.trim_end().to_string());
    v.insert("problems_html", html);
    let mut mail = composed(
        rules,
        "reminder",
        &rules.notices.reminder,
        std::slice::from_ref(&unit.email),
        &v,
        None,
    )?;
    mail.name_hint = Some(format!("{}_{period}", unit.name));
    Some(mail)
}

/// To the county admin, the day after the deadline: (unit, kind name, status) of
/// every unit still missing or rejected.
pub fn for_overdue(
    rules: &RuleSet,
    period: &str,
    deadline: &str,
    missing: &[(String, String, String)],
) -> Option<Mail> {
    let esc = crate::text::escape_html;
    let text: Vec<String> = missing
        .iter()
        .map(|(u, k, s)| format!("{u}　《{k}》　{s}"))
        .collect();
    let html: Vec<String> = missing
        .iter()
        .map(|(u, k, s)| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(u),
                esc(k),
                esc(s)
            )
        })
        .collect();
    let count = missing.len().to_string();
    let (t, h) = (text.join("\n"), html.join("\n"));
    to_admin(
        rules,
        "overdue",
        &rules.notices.overdue,
        &[
            ("period", period),
            ("deadline", deadline),
            ("count", &count),
            ("list_text", &t),
            ("list_html", &h),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn retries_double_up_to_an_hour() {
        assert_eq!(backoff(Duration::from_secs(60), 1), Duration::from_secs(60));
        assert_eq!(
            backoff(Duration::from_secs(60), 3),
            Duration::from_secs(240)
        );
        assert_eq!(
            backoff(Duration::from_secs(60), 30),
            Duration::from_secs(3600)
        );
    }
}
