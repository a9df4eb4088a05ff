//! `taizhang status`: what the journal knows, for county staff.

use crate::journal::{Journal, JournalError, Outcome, State, Submission};
use crate::rules::RuleSet;
use crate::standing;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Serialize)]
pub struct Status {
    pub county: String,
    /// The period due today by the deadline rule (on 3 December, `2026-11`):
    /// its ledgers come first in `periods`, listed even before any file came in.
    pub period_due: String,
    /// The day its ledgers are due (`[deadlines]`), and the days left until it
    /// (negative once past).
    pub deadline: Option<String>,
    pub days_left: Option<i64>,
    /// Reminders a deadline edit brought about, waiting to go.
    pub reminders_held: Option<crate::journal::HeldReminders>,
    pub periods: Vec<PeriodStatus>,
    /// Files taken but not finished (a stop in the middle; resumed at next start).
    pub in_progress: Vec<Item>,
    pub quarantined: Vec<Item>,
    /// Files answered as not a ledger kind of the rules (they count nowhere).
    pub not_ledgers: Vec<Item>,
    /// Received files cannot be stored in the state folder: (error, since when).
    pub state_problem: Option<(String, String)>,
    /// Inbox entries the daemon will not take, with the reason.
    pub inbox_skipped: Vec<SkippedItem>,
    /// County workbooks that could not be written (retried automatically).
    pub workbooks_failed: Vec<WorkbookItem>,
    /// Notices waiting to be sent (queued, including those waiting for a retry).
    /// The rules in force (as the daemon last loaded them).
    pub rules: Option<RulesItem>,
    pub mail_waiting: usize,
    pub mail_sent: usize,
    /// Where notices are written when no mail server is configured (then
    /// `mail_sent` counts files written, nothing left the machine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_folder: Option<String>,
    /// Refused for good by the server (5xx): not retried; `mail resend ID` after fixing.
    pub mail_parked: Vec<MailItem>,
    /// Caught mid-send by a stop: maybe delivered, not resent automatically.
    pub mail_uncertain: Vec<MailItem>,
    /// Waiting for a retry after a temporary failure.
    pub mail_retrying: Vec<MailItem>,
}

#[derive(Debug, Serialize)]
pub struct SkippedItem {
    pub path: String,
    pub reason: String,
    pub seen_at: String,
}

#[derive(Debug, Serialize)]
pub struct WorkbookItem {
    pub kind: String,
    pub kind_name: String,
    pub period: String,
    pub error: String,
    pub failed_at: Option<String>,
    pub failures: i64,
}

#[derive(Debug, Serialize)]
pub struct MailItem {
    pub id: i64,
    pub to: Vec<String>,
    pub subject: String,
    pub attempts: i64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PeriodStatus {
    pub kind: String,
    pub kind_name: String,
    pub period: String,
    pub units: Vec<UnitStatus>,
}

#[derive(Debug, Serialize)]
pub struct UnitStatus {
    pub unit: String,
    pub code: String,
    /// 已通过 / 已退回 / 未报送, from the counting submission: a unit whose
    /// accepted file counts is 已通过 whatever came after it.
    pub status: String,
    #[serde(skip)]
    pub state: standing::UnitState,
    /// A file judged after the counting one and rejected (a correction that
    /// still had errors, a stray file): said beside 已通过, never instead of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub later_rejected: Option<LaterRejected>,
    pub outcome: Option<String>,
    pub submission: Option<i64>,
    pub file: Option<String>,
    pub received_at: Option<String>,
    pub rows: i64,
    pub errors: i64,
    pub warnings: i64,
    /// The accepted submission that counts, when the latest one was rejected
    /// (then `submission` and the fields above are that accepted one's).
    pub counting_submission: Option<i64>,
    /// The version of the rules that judged the latest submission.
    pub rules_version: Option<String>,
    /// The other ledgers the latest submission was checked against (a payments
    /// ledger's register), or that were missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checked_against: Vec<crate::validate::ReferenceUsed>,
}

/// A rejected file that came after the counting one.
#[derive(Debug, Serialize)]
pub struct LaterRejected {
    pub submission: i64,
    pub file: String,
    pub received_at: String,
    pub errors: i64,
    /// Why it was refused as a whole, when it was (else its errors say it).
    pub reason: Option<String>,
}

impl LaterRejected {
    /// `较晚收到的「x.csv」（第 9 号）已退回：…`
    pub fn said(&self) -> String {
        let why = self
            .reason
            .clone()
            .unwrap_or_else(|| format!("有 {} 处错误", self.errors));
        format!(
            "较晚收到的「{}」（第 {} 号）已退回：{why}；汇总仍用已通过的文件",
            self.file, self.submission
        )
    }
}

/// The rules the daemon last put in force.
#[derive(Debug, Serialize)]
pub struct RulesItem {
    pub version: String,
    pub loaded_at: String,
}

#[derive(Debug, Serialize)]
pub struct Item {
    pub id: i64,
    pub file: String,
    pub received_at: String,
    pub state: String,
    pub reason: Option<String>,
}

/// Builds the status from the journal, `today` deciding the period due.
pub fn collect(
    rules: &RuleSet,
    journal: &Journal,
    today: chrono::NaiveDate,
) -> Result<Status, JournalError> {
    let period_due = standing::period_due(today);
    let deadline = rules
        .county
        .deadlines
        .as_ref()
        .and_then(|d| standing::deadline(&period_due, d.day));
    let mut all_standing = standing::all(rules, journal)?;
    // The period due first, every kind of it (a kind nobody sent yet too); the
    // others after it, newest first.
    for k in rules.kinds_referenced_first() {
        if !all_standing
            .iter()
            .any(|st| st.kind_id == k.id && st.period == period_due)
        {
            all_standing.push(standing::of(rules, journal, &k.id, &period_due)?);
        }
    }
    // Kinds as the page lists them: a ledger others are checked against first.
    let order = rules.kinds_referenced_first();
    let kind_order = |id: &str| order.iter().position(|k| k.id == id);
    all_standing.sort_by(|a, b| {
        (b.period == period_due)
            .cmp(&(a.period == period_due))
            .then_with(|| b.period.cmp(&a.period))
            .then_with(|| kind_order(&a.kind_id).cmp(&kind_order(&b.kind_id)))
    });
    let mut periods = Vec::new();
    for st in all_standing {
        let units = st
            .units
            .iter()
            .map(|u| {
                // The row shows the counting submission (else the latest); a later
                // rejected one is said beside it.
                let latest = u.shown();
                UnitStatus {
                    unit: u.unit.name.clone(),
                    code: u.unit.code.clone(),
                    status: u.status_zh().to_string(),
                    state: u.state(),
                    later_rejected: u.later_rejected().map(|l| LaterRejected {
                        submission: l.id,
                        file: l.original_name.clone(),
                        received_at: l.received_at.clone(),
                        errors: l.errors,
                        reason: l.reason.clone(),
                    }),
                    outcome: latest
                        .and_then(|s| s.outcome)
                        .map(|o| o.as_str().to_string()),
                    submission: latest.map(|s| s.id),
                    file: latest.map(|s| s.original_name.clone()),
                    received_at: latest.map(|s| s.received_at.clone()),
                    rows: latest.map_or(0, |s| s.rows),
                    errors: latest.map_or(0, |s| s.errors),
                    warnings: latest.map_or(0, |s| s.warnings),
                    counting_submission: u.counting_older().map(|a| a.id),
                    rules_version: latest.and_then(|s| s.rules_version.clone()),
                    checked_against: latest.map(|s| s.references().to_vec()).unwrap_or_default(),
                }
            })
            .collect();
        periods.push(PeriodStatus {
            kind_name: st
                .kind
                .map(|k| k.name.clone())
                .unwrap_or_else(|| st.kind_id.clone()),
            kind: st.kind_id,
            period: st.period,
            units,
        });
    }
    let counts = journal.mail_counts()?;
    let count = |state: &str| {
        counts
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n as usize)
    };
    let mail_items = |state: &str| -> Result<Vec<MailItem>, JournalError> {
        Ok(journal
            .mail_in_state(state)?
            .into_iter()
            .map(|m| MailItem {
                id: m.id,
                to: m.to,
                subject: m.subject,
                attempts: m.attempts,
                error: m.last_error,
            })
            .collect())
    };
    let all = journal.all()?;
    let workbooks_failed = journal
        .workbooks()?
        .into_iter()
        .filter(|w| w.stale)
        .filter_map(|w| {
            Some(WorkbookItem {
                kind_name: rules
                    .kind(&w.kind_id)
                    .map(|k| k.name.clone())
                    .unwrap_or_else(|| w.kind_id.clone()),
                kind: w.kind_id,
                period: w.period,
                error: w.error?,
                failed_at: w.failed_at,
                failures: w.failures,
            })
        })
        .collect();
    let item = |s: &Submission| Item {
        id: s.id,
        file: s.original_name.clone(),
        received_at: s.received_at.clone(),
        state: s.state.as_str().to_string(),
        reason: s.reason.clone(),
    };
    Ok(Status {
        county: rules.county.name.clone(),
        deadline: deadline.map(|d| d.format("%Y-%m-%d").to_string()),
        days_left: deadline.map(|d| (d - today).num_days()),
        period_due,
        reminders_held: journal.held_reminders()?,
        periods,
        in_progress: all
            .iter()
            .filter(|s| s.state != State::Done)
            .map(item)
            .collect(),
        quarantined: standing::still_quarantined(&all)
            .into_iter()
            .map(item)
            .collect(),
        not_ledgers: all
            .iter()
            .filter(|s| s.outcome == Some(Outcome::Rejected) && s.kind_id.is_none())
            .map(item)
            .collect(),
        workbooks_failed,
        state_problem: journal.state_problem()?,
        inbox_skipped: journal
            .inbox_skipped()?
            .into_iter()
            .map(|(path, reason, seen_at)| SkippedItem {
                path,
                reason,
                seen_at,
            })
            .collect(),
        rules: journal
            .rules_loaded()?
            .map(|(version, loaded_at)| RulesItem { version, loaded_at }),
        mail_waiting: count("queued"),
        mail_sent: count("sent"),
        mail_folder: None,
        mail_parked: mail_items("parked")?,
        mail_uncertain: mail_items("uncertain")?,
        mail_retrying: mail_items("queued")?
            .into_iter()
            .filter(|m| m.attempts > 0)
            .collect(),
    })
}

/// The text rendering, in Chinese.
pub fn text(s: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}台账报送情况", s.county);
    let mut due = format!("应报送期间：{}", s.period_due);
    if let (Some(d), Some(n)) = (&s.deadline, s.days_left) {
        let left = match n {
            0 => "今天截止".to_string(),
            n if n > 0 => format!("还剩 {n} 天"),
            n => format!("已逾期 {} 天", -n),
        };
        let _ = write!(due, "（{d} 截止，{left}）");
    }
    let _ = writeln!(out, "{due}");
    if let Some(h) = &s.reminders_held {
        let _ = writeln!(
            out,
            "截止日期设置已修改：{} 个单位的催报将于 {} 发出（如非本意，请在此之前改回 county.toml 的 [deadlines]）",
            h.units.len(),
            h.send_at
        );
    }
    for p in &s.periods {
        let done = p
            .units
            .iter()
            .filter(|u| u.state == standing::UnitState::Accepted)
            .count();
        let _ = writeln!(
            out,
            "\n{}　{}　（{}/{} 个单位已通过）",
            p.kind_name,
            p.period,
            done,
            p.units.len()
        );
        for u in &p.units {
            let mut line = format!("  {:<10}{}", u.unit, u.status);
            if let (Some(f), Some(t)) = (&u.file, &u.received_at) {
                let _ = write!(
                    line,
                    "　{f}　{}　{} 行，错误 {}，提醒 {}",
                    crate::text::local_time(t),
                    u.rows,
                    u.errors,
                    u.warnings
                );
            }
            match (&u.later_rejected, u.counting_submission) {
                (Some(l), _) => {
                    let _ = write!(line, "　（{}）", l.said());
                }
                (None, Some(c)) => {
                    let _ = write!(line, "　（汇总沿用第 {c} 号已通过的报送）");
                }
                _ => {}
            }
            for r in crate::validate::ReferenceUsed::said_all(&u.checked_against) {
                let _ = write!(line, "　{r}");
            }
            let _ = writeln!(out, "{line}");
        }
    }
    if let Some((e, since)) = &s.state_problem {
        let _ = writeln!(
            out,
            "\n状态目录无法写入（自 {} 起）：{e}；收到的文件留在收件箱中，空间恢复后自动继续",
            crate::text::local_time(since)
        );
    }
    for w in &s.workbooks_failed {
        let _ = writeln!(
            out,
            "\n全县汇总表未能更新：{}　{}　{}（{}，已失败 {} 次，将自动重试）",
            w.kind_name,
            w.period,
            w.error,
            w.failed_at
                .as_deref()
                .map(crate::text::local_time)
                .unwrap_or_default(),
            w.failures
        );
    }
    if !s.inbox_skipped.is_empty() {
        let _ = writeln!(out, "\n收件箱中不予处理的条目：");
        for i in &s.inbox_skipped {
            let _ = writeln!(out, "  {}　{}", crate::fsutil::printable(&i.path), i.reason);
        }
    }
    if !s.not_ledgers.is_empty() {
        let _ = writeln!(
            out,
            "\n不是可识别的台账（未计入任何台账，已告知报送单位）："
        );
        for i in &s.not_ledgers {
            let _ = writeln!(out, "  #{} {}", i.id, i.file);
        }
    }
    if !s.in_progress.is_empty() {
        let _ = writeln!(out, "\n处理中（下次启动时继续）：");
        for i in &s.in_progress {
            let _ = writeln!(out, "  #{} {}（{}）", i.id, i.file, i.state);
        }
    }
    if !s.quarantined.is_empty() {
        let _ = writeln!(out, "\n已隔离（见 outbox/quarantine）：");
        for i in &s.quarantined {
            let _ = writeln!(
                out,
                "  #{} {}　{}",
                i.id,
                i.file,
                i.reason.as_deref().unwrap_or("")
            );
        }
    }
    if let Some(r) = &s.rules {
        let _ = writeln!(
            out,
            "\n规则：版本 {}，{} 载入（规则目录修改并通过检查后自动采用）",
            r.version,
            crate::text::local_time(&r.loaded_at)
        );
    }
    let _ = writeln!(
        out,
        "\n通知：待发送 {} 封，{}",
        s.mail_waiting,
        match &s.mail_folder {
            Some(dir) => format!(
                "已写入 {dir} {} 封（未配置邮件服务器，未实际发送）",
                s.mail_sent
            ),
            None => format!("已发送 {} 封", s.mail_sent),
        }
    );
    for m in &s.mail_retrying {
        let _ = writeln!(
            out,
            "  #{} 发往 {} 暂未发出（已尝试 {} 次：{}），稍后自动重试",
            m.id,
            m.to.join("、"),
            m.attempts,
            m.error.as_deref().unwrap_or("")
        );
    }
    for m in &s.mail_parked {
        let _ = writeln!(
            out,
            "  #{} 发往 {} 被邮件服务器拒收：{}（核实后用 taizhang mail resend {} 重发）",
            m.id,
            m.to.join("、"),
            m.error.as_deref().unwrap_or(""),
            m.id
        );
    }
    for m in &s.mail_uncertain {
        let _ = writeln!(
            out,
            "  #{} 发往 {} 发送中断，可能已送达（核实后可用 taizhang mail resend {} 重发）：{}",
            m.id,
            m.to.join("、"),
            m.id,
            m.subject
        );
    }
    out
}
