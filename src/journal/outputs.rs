//! What the county side was given, kept in the journal: each county workbook's
//! freshness (stale until rebuilt; the last failure and why), the daily digest of
//! changed workbooks, and which cross-unit duplicates each unit was told about.
//!
//! A workbook is marked stale in the same transaction as the outcome that changes
//! it, so a stop, a full disk or a file held open by Excel can delay a rebuild but
//! never lose it: stale workbooks are rebuilt on the next pass and at start-up.

use super::{mail, now, Journal, Mail, Result};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notified_duplicates (
        kind TEXT NOT NULL, period TEXT NOT NULL, person TEXT NOT NULL, unit TEXT NOT NULL,
        PRIMARY KEY (kind, period, person, unit)
    );
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS inbox_skipped (
        path TEXT PRIMARY KEY, reason TEXT NOT NULL, seen_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS workbooks (
        kind TEXT NOT NULL, period TEXT NOT NULL,
        stale INTEGER NOT NULL DEFAULT 1,
        why TEXT,
        built_at TEXT,
        error TEXT,
        failed_at TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (kind, period)
    );
    CREATE TABLE IF NOT EXISTS reminders (
        kind TEXT NOT NULL, period TEXT NOT NULL, unit TEXT NOT NULL, day TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (kind, period, unit, day)
    );";

/// A county workbook as the journal knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkbookState {
    pub kind_id: String,
    pub period: String,
    /// Not rebuilt since a submission changed what it shows.
    pub stale: bool,
    /// Why it changed since it was last sent (one line per cause).
    pub why: Vec<String>,
    pub built_at: Option<String>,
    /// The last rebuild's failure, while it is stale.
    pub error: Option<String>,
    pub failed_at: Option<String>,
    /// Failed rebuilds in a row.
    pub failures: i64,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkbookState> {
    let why: Option<String> = r.get(3)?;
    Ok(WorkbookState {
        kind_id: r.get(0)?,
        period: r.get(1)?,
        stale: r.get::<_, i64>(2)? != 0,
        why: why
            .map(|w| w.lines().map(str::to_string).collect())
            .unwrap_or_default(),
        built_at: r.get(4)?,
        error: r.get(5)?,
        failed_at: r.get(6)?,
        failures: r.get(7)?,
    })
}

const COLS: &str = "kind, period, stale, why, built_at, error, failed_at, failures";

/// Marks a workbook stale, adding `why` to the reasons it changed.
pub(super) fn mark_stale(
    conn: &Connection,
    kind: &str,
    period: &str,
    why: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO workbooks (kind, period, stale, why) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT(kind, period) DO UPDATE SET stale = 1,
           why = CASE WHEN excluded.why IS NULL OR excluded.why = '' THEN why
                      WHEN why IS NULL OR why = '' THEN excluded.why
                      ELSE why || char(10) || excluded.why END",
        params![kind, period, why],
    )?;
    Ok(())
}

pub(super) fn mark_notified(
    conn: &Connection,
    kind: &str,
    period: &str,
    person: &str,
    unit: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO notified_duplicates (kind, period, person, unit) VALUES (?1, ?2, ?3, ?4)",
        params![kind, period, person, unit],
    )?;
    Ok(())
}

fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
    .optional()
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// The (kind, period) pairs waiting for the next digest (stored as `kind|period`).
fn digest_pending(conn: &Connection) -> Result<BTreeSet<String>> {
    Ok(get_meta(conn, "digest_pending")?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

impl Journal {
    /// The inbox entries the daemon will not take, as of its last pass (replaced
    /// whole): (path, reason).
    pub fn set_inbox_skipped(&mut self, entries: &[(String, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM inbox_skipped", [])?;
        for (path, reason) in entries {
            tx.execute(
                "INSERT OR REPLACE INTO inbox_skipped (path, reason, seen_at) VALUES (?1, ?2, ?3)",
                params![path, reason, now()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The inbox entries not taken: (path, reason, first seen), by path.
    pub fn inbox_skipped(&self) -> Result<Vec<(String, String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT path, reason, seen_at FROM inbox_skipped ORDER BY path")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Was this person of a kind and period already reported to this unit as a
    /// cross-unit duplicate?
    pub fn already_notified(
        &self,
        kind: &str,
        period: &str,
        person: &str,
        unit: &str,
    ) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM notified_duplicates WHERE kind = ?1 AND period = ?2 AND person = ?3 AND unit = ?4",
                params![kind, period, person, unit],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Marks a county workbook stale outside a submission (a journal from before
    /// freshness was kept, a workbook found missing at start-up).
    pub fn mark_workbook_stale(&self, kind: &str, period: &str, why: &str) -> Result<()> {
        mark_stale(&self.conn, kind, period, why)?;
        Ok(())
    }

    /// Workbooks waiting for a rebuild, oldest period first.
    pub fn stale_workbooks(&self) -> Result<Vec<WorkbookState>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM workbooks WHERE stale = 1 ORDER BY period, kind"
        ))?;
        let rows = st.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Every workbook the journal knows, by period and kind.
    pub fn workbooks(&self) -> Result<Vec<WorkbookState>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM workbooks ORDER BY period, kind"
        ))?;
        let rows = st.query_map([], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// A workbook was rebuilt: it is fresh; `mails` (the workbook for county staff)
    /// are queued and, with `digest`, it joins the next daily digest, in one
    /// transaction.
    pub fn workbook_built(
        &mut self,
        kind: &str,
        period: &str,
        mails: &[Mail],
        digest: bool,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO workbooks (kind, period, stale, built_at) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT(kind, period) DO UPDATE SET stale = 0, why = NULL, built_at = excluded.built_at,
               error = NULL, failed_at = NULL, failures = 0",
            params![kind, period, now()],
        )?;
        mail::enqueue(&tx, None, mails)?;
        if digest {
            let mut pending = digest_pending(&tx)?;
            pending.insert(format!("{kind}|{period}"));
            set_meta(&tx, "digest_pending", &serde_json::to_string(&pending)?)?;
        }
        tx.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, NULL, 'consolidated', ?2)",
            params![now(), format!("{kind} {period}")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A rebuild failed: the workbook stays stale, the error is kept for `status`,
    /// and `mails` (telling the admin) are queued, in one transaction.
    pub fn workbook_failed(
        &mut self,
        kind: &str,
        period: &str,
        error: &str,
        mails: &[Mail],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        mail::enqueue(&tx, None, mails)?;
        tx.execute(
            "INSERT INTO workbooks (kind, period, stale, error, failed_at, failures) VALUES (?1, ?2, 1, ?3, ?4, 1)
             ON CONFLICT(kind, period) DO UPDATE SET stale = 1, error = excluded.error,
               failed_at = excluded.failed_at, failures = failures + 1",
            params![kind, period, error, now()],
        )?;
        tx.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, NULL, 'consolidation_failed', ?2)",
            params![now(), format!("{kind} {period}: {error}")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Files cannot be stored in the state folder (a full disk): kept with when it
    /// began, and `mails` (telling the admin) queued, once, until it is cleared.
    /// Returns false when the problem was already noted (nothing queued).
    pub fn state_problem_began(&mut self, error: &str, mails: &[Mail]) -> Result<bool> {
        if get_meta(&self.conn, "state_problem")?.is_some() {
            return Ok(false);
        }
        let tx = self.conn.transaction()?;
        mail::enqueue(&tx, None, mails)?;
        set_meta(&tx, "state_problem", error)?;
        set_meta(&tx, "state_problem_at", &now())?;
        tx.commit()?;
        Ok(true)
    }

    /// The state folder takes files again.
    pub fn state_problem_ended(&self) -> Result<()> {
        self.conn.execute(
            "DELETE FROM meta WHERE key IN ('state_problem', 'state_problem_at')",
            [],
        )?;
        Ok(())
    }

    /// The state folder's problem, if any: (error, since when).
    pub fn state_problem(&self) -> Result<Option<(String, String)>> {
        Ok(match get_meta(&self.conn, "state_problem")? {
            Some(e) => Some((
                e,
                get_meta(&self.conn, "state_problem_at")?.unwrap_or_default(),
            )),
            None => None,
        })
    }

    /// The workbooks waiting for today's digest, or None when today's digest was
    /// already made.
    pub fn digest_due(&self, today: &str) -> Result<Option<Vec<(String, String)>>> {
        if get_meta(&self.conn, "digest_date")?.as_deref() == Some(today) {
            return Ok(None);
        }
        Ok(Some(
            digest_pending(&self.conn)?
                .iter()
                .filter_map(|kp| kp.split_once('|'))
                .map(|(k, p)| (k.to_string(), p.to_string()))
                .collect(),
        ))
    }

    /// Whether the reminder of (kind, period, unit) on `day` was queued already.
    /// The county admin's overdue list is kind `*`, unit `*`.
    pub fn reminded(&self, kind: &str, period: &str, unit: &str, day: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM reminders WHERE kind = ?1 AND period = ?2 AND unit = ?3 AND day = ?4",
            )?
            .exists(params![kind, period, unit, day])?)
    }

    /// Queues reminders and records them as sent (one transaction: never twice,
    /// never lost).
    pub fn reminders_made(
        &mut self,
        keys: &[(String, String, String, String)],
        mails: &[Mail],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (kind, period, unit, day) in keys {
            tx.execute(
                "INSERT OR IGNORE INTO reminders (kind, period, unit, day, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![kind, period, unit, day, super::now()],
            )?;
        }
        mail::enqueue(&tx, None, mails)?;
        tx.commit()?;
        Ok(())
    }

    /// Today's digest is made: its mails are queued and the pending list emptied,
    /// in one transaction.
    pub fn digest_made(&mut self, today: &str, mails: &[Mail]) -> Result<()> {
        let tx = self.conn.transaction()?;
        mail::enqueue(&tx, None, mails)?;
        set_meta(&tx, "digest_pending", "[]")?;
        set_meta(&tx, "digest_date", today)?;
        tx.commit()?;
        Ok(())
    }
}

/// Reminders an edit of `[deadlines]` would send today, held back for the
/// county to see on the page first (`reminder_hold` of the settings).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldReminders {
    pub period: String,
    pub deadline: String,
    /// When they go (local time, `HH:MM`).
    pub send_at: String,
    /// Each unit to be reminded, with the ledgers it would be reminded of.
    pub units: Vec<(String, Vec<String>)>,
    /// The county admin's list of units past the deadline would go too.
    pub overdue_list: bool,
}

impl Journal {
    /// The `[deadlines]` last seen in force (as JSON) and since when (Unix
    /// seconds of the real clock; 0: since before anyone could tell).
    pub fn deadlines_seen(&self) -> Result<Option<(String, u64)>> {
        let Some(v) = get_meta(&self.conn, "deadlines_seen")? else {
            return Ok(None);
        };
        let since = get_meta(&self.conn, "deadlines_since")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Some((v, since)))
    }

    pub fn set_deadlines_seen(&mut self, json: &str, since: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        set_meta(&tx, "deadlines_seen", json)?;
        set_meta(&tx, "deadlines_since", &since.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// The reminders held back after a deadline edit, if any.
    pub fn held_reminders(&self) -> Result<Option<HeldReminders>> {
        Ok(get_meta(&self.conn, "reminders_held")?.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Records (or, with `None`, clears) the held reminders; written only when
    /// they differ from what is recorded.
    pub fn set_held_reminders(&mut self, held: Option<&HeldReminders>) -> Result<()> {
        if self.held_reminders()?.as_ref() == held {
            return Ok(());
        }
        match held {
            Some(h) => set_meta(&self.conn, "reminders_held", &serde_json::to_string(h)?)?,
            None => {
                self.conn
                    .execute("DELETE FROM meta WHERE key = 'reminders_held'", [])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_rebuild_stays_stale_until_one_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.mark_workbook_stale("register", "2026-11", "柳河镇 已通过")
            .unwrap();
        j.mark_workbook_stale("register", "2026-11", "石桥镇 已退回")
            .unwrap();
        j.workbook_failed("register", "2026-11", "disk full", &[])
            .unwrap();
        let st = j.stale_workbooks().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].why, vec!["柳河镇 已通过", "石桥镇 已退回"]);
        assert_eq!(st[0].error.as_deref(), Some("disk full"));
        assert_eq!(st[0].failures, 1);
        j.workbook_built("register", "2026-11", &[], true).unwrap();
        assert!(j.stale_workbooks().unwrap().is_empty());
        let all = j.workbooks().unwrap();
        assert!(!all[0].stale && all[0].error.is_none() && all[0].why.is_empty());
        assert_eq!(
            j.digest_due("2026-12-01").unwrap(),
            Some(vec![("register".to_string(), "2026-11".to_string())])
        );
        j.digest_made("2026-12-01", &[]).unwrap();
        assert_eq!(j.digest_due("2026-12-01").unwrap(), None);
        assert_eq!(j.digest_due("2026-12-02").unwrap(), Some(vec![]));
    }
}
