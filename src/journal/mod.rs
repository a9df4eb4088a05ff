//! The journal: an embedded SQLite database on local disk that records every
//! received file, every step taken on it, its outcome, findings and accepted rows,
//! the mail queue ([`mail`]) and what the county side was given ([`outputs`]:
//! county workbooks and their freshness, the daily digest, duplicate notices).
//! This module is the only one that speaks SQL; everything else asks it.
//!
//! Every step of a submission is a state, written before the next step starts:
//! `received` (the row exists, the file is still in the inbox) → `archived` (the
//! bytes are safe in the archive, the inbox copy removed) → `validated` (outcome,
//! findings and rows stored in one transaction) → `done` (county workbook rebuilt).
//! After a crash the daemon resumes each submission from its state, so nothing is
//! lost and nothing is processed twice.

pub mod access;
pub mod mail;
pub mod outputs;
pub mod stored;

use crate::validate::{FileReport, Record};
pub use mail::{Mail, Queued};
pub use outputs::{HeldReminders, WorkbookState};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// Journal errors (the daemon treats them as fatal: without the journal nothing is safe).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("journal folder {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("journal data: {0}")]
    Json(#[from] serde_json::Error),
    /// Opened read-only, a journal written by an older version (its schema not
    /// yet brought up to date: only a writer does that).
    #[error("台账记录 {0} 由旧版本写成，尚未升级：先运行一次 taizhang run --once（或启动 taizhang watch），升级后再读取")]
    Outdated(PathBuf),
}

pub type Result<T> = std::result::Result<T, JournalError>;

/// Seconds since the Unix epoch (mail due times).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Processing state of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Received,
    Archived,
    Validated,
    Done,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Archived => "archived",
            State::Validated => "validated",
            State::Done => "done",
        }
    }
    fn parse(s: &str) -> State {
        match s {
            "received" => State::Received,
            "archived" => State::Archived,
            "validated" => State::Validated,
            _ => State::Done,
        }
    }
}

/// What became of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No errors: its rows count in the consolidation.
    Accepted,
    /// Errors: sent back; an earlier accepted file of the unit stays in.
    Rejected,
    /// Unreadable, or its unit unknown or contradictory: set aside for the county admin.
    Quarantined,
    /// The same bytes were received before.
    Duplicate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Quarantined => "quarantined",
            Outcome::Duplicate => "duplicate",
        }
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "accepted" => Outcome::Accepted,
            "rejected" => Outcome::Rejected,
            "quarantined" => Outcome::Quarantined,
            "duplicate" => Outcome::Duplicate,
            _ => return None,
        })
    }
    /// The word a clerk sees.
    pub fn zh(self) -> &'static str {
        match self {
            Outcome::Accepted => "已通过",
            Outcome::Rejected => "已退回",
            Outcome::Quarantined => "已隔离",
            Outcome::Duplicate => "重复报送",
        }
    }
}

/// One submission as journaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub id: i64,
    pub received_at: String,
    pub original_name: String,
    pub folder: Option<String>,
    pub inbox_path: String,
    pub sha256: String,
    pub size: i64,
    /// Relative to the state folder.
    pub archive_path: String,
    pub state: State,
    pub outcome: Option<Outcome>,
    pub duplicate_of: Option<i64>,
    pub unit: Option<String>,
    pub unit_code: Option<String>,
    /// The ledger kind's id (`register`).
    pub kind_id: Option<String>,
    /// The ledger kind's name as users see it (`残疾人信息登记簿`).
    pub kind_name: Option<String>,
    pub period: Option<String>,
    pub rows: i64,
    pub errors: i64,
    pub warnings: i64,
    pub reason: Option<String>,
    pub annotated_path: Option<String>,
    pub processed_at: Option<String>,
    /// The version of the rules that judged it.
    pub rules_version: Option<String>,
    /// The other ledgers it was checked against or compared with, when its kind
    /// refers to any (read once, with the row: a stored list that does not read
    /// is an error of the journal, never an empty list).
    pub checked_against: Vec<crate::validate::ReferenceUsed>,
    /// Being checked again because this submission (a newer register) was accepted.
    pub recheck_because: Option<i64>,
}

impl Submission {
    /// The ledgers it was checked against or compared with.
    pub fn references(&self) -> &[crate::validate::ReferenceUsed] {
        &self.checked_against
    }
}

/// A submission's columns, its edges (the ledgers it was checked against, rows
/// of `checked_against`) gathered into one JSON array, in order.
const COLUMNS: &str = "id, received_at, original_name, folder, inbox_path, sha256, size, archive_path, state, outcome, duplicate_of, unit, unit_code, kind, kind_name, period, rows, errors, warnings, reason, annotated_path, processed_at, rules_version,
    (SELECT json_group_array(json(edge)) FROM (SELECT json_object('name', e.name, 'kind', e.kind, 'kind_name', e.kind_name,
        'file', e.file, 'period', e.period, 'submission', e.ref_submission,
        'previous', json(CASE WHEN e.previous THEN 'true' ELSE 'false' END),
        'county', json(CASE WHEN e.county THEN 'true' ELSE 'false' END), 'periods', e.periods) AS edge
      FROM checked_against e WHERE e.submission_id = submissions.id ORDER BY e.seq)),
    recheck_because";

fn row_to_submission(r: &rusqlite::Row<'_>) -> rusqlite::Result<Submission> {
    Ok(Submission {
        id: r.get(0)?,
        received_at: r.get(1)?,
        original_name: r.get(2)?,
        folder: r.get(3)?,
        inbox_path: r.get(4)?,
        sha256: r.get(5)?,
        size: r.get(6)?,
        archive_path: r.get(7)?,
        state: State::parse(&r.get::<_, String>(8)?),
        outcome: r
            .get::<_, Option<String>>(9)?
            .as_deref()
            .and_then(Outcome::parse),
        duplicate_of: r.get(10)?,
        unit: r.get(11)?,
        unit_code: r.get(12)?,
        kind_id: r.get(13)?,
        kind_name: r.get(14)?,
        period: r.get(15)?,
        rows: r.get::<_, Option<i64>>(16)?.unwrap_or(0),
        errors: r.get::<_, Option<i64>>(17)?.unwrap_or(0),
        warnings: r.get::<_, Option<i64>>(18)?.unwrap_or(0),
        reason: r.get(19)?,
        annotated_path: r.get(20)?,
        processed_at: r.get(21)?,
        rules_version: r.get(22)?,
        checked_against: match r.get::<_, Option<String>>(23)? {
            Some(j) => serde_json::from_str(&j).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    23,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
            None => Vec::new(),
        },
        recheck_because: r.get(24)?,
    })
}

/// A newly received file, before it is archived.
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    pub received_at: &'a str,
    pub original_name: &'a str,
    pub folder: Option<&'a str>,
    pub inbox_path: &'a str,
    pub sha256: &'a str,
    pub size: u64,
}

/// What was decided about a submission: its outcome and who, what and when it
/// is for. Recorded as decided (the validation report is kept beside it as it
/// was, never rewritten).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Why, when it is not plain (quarantine, unreadable, not a ledger).
    pub reason: Option<String>,
    pub unit: Option<String>,
    pub unit_code: Option<String>,
    pub kind_id: Option<String>,
    pub kind_name: Option<String>,
    pub period: Option<String>,
}

impl Decision {
    /// About a list of the county's (another agency's): filed under
    /// [`crate::rules::COUNTY_LISTS`], answered to the admin only.
    pub fn is_county_list(&self) -> bool {
        self.unit.as_deref() == Some(crate::rules::COUNTY_LISTS)
    }

    /// A decision that takes unit, kind and period as the report found them.
    pub fn as_reported(outcome: Outcome, report: &FileReport) -> Decision {
        Decision {
            outcome,
            reason: None,
            unit: report.unit.clone(),
            unit_code: report.unit_code.clone(),
            kind_id: report.kind_id.clone(),
            kind_name: report.kind_name.clone(),
            period: report.period.clone(),
        }
    }
}

/// What [`Journal::record_outcome`] stores besides the decision and the report.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeRecord<'a> {
    /// The annotated copy, relative to the state folder.
    pub annotated: Option<&'a str>,
    /// Notices to queue in the same transaction.
    pub mails: &'a [Mail],
    /// Column keys identifying a person (indexed for the cross-unit duplicate
    /// list), joined by `|` when more than one (person, subsidy, month).
    pub person_key: &'a [&'a str],
    /// The county workbook of the decision's kind and period must be rebuilt, for
    /// this reason (said to county staff when it is sent).
    pub workbook_why: Option<&'a str>,
    /// The version of the rules that judged it ([`Journal::rules_loaded`]).
    pub rules_version: Option<&'a str>,
    /// Rows (Excel row numbers) kept even when it is not accepted: those the
    /// county workbook lists ([`Journal::hit_rows`]). An accepted ledger keeps all.
    pub keep_rows: &'a [u32],
}

/// An accepted row found by [`Journal::person_rows`]: its submission, its sheet
/// row, its values as journaled (JSON by column key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub submission_id: i64,
    pub row: u32,
    pub data: String,
}

/// The journal.
pub struct Journal {
    conn: Connection,
}

impl Journal {
    /// Opens (creating if needed) `journal.sqlite3` in the state folder.
    pub fn open(state_dir: &Path) -> Result<Journal> {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| JournalError::Io(state_dir.to_path_buf(), e))?;
        let mut conn = Connection::open(state_dir.join("journal.sqlite3"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Switching to WAL takes an exclusive lock: only when not in WAL already,
        // so a `status` beside a running daemon never fails on it.
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // The schema in one immediate transaction: it waits for a writer (the busy
        // timeout applies) instead of failing on a lock upgrade.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS submissions (
                id INTEGER PRIMARY KEY,
                received_at TEXT NOT NULL,
                original_name TEXT NOT NULL,
                folder TEXT,
                inbox_path TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                archive_path TEXT NOT NULL DEFAULT '',
                state TEXT NOT NULL,
                outcome TEXT,
                duplicate_of INTEGER,
                unit TEXT, unit_code TEXT, kind TEXT, kind_name TEXT, period TEXT,
                rows INTEGER, errors INTEGER, warnings INTEGER,
                reason TEXT,
                annotated_path TEXT,
                report_json TEXT,
                processed_at TEXT,
                attempts INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX IF NOT EXISTS submissions_sha ON submissions(sha256);
            CREATE INDEX IF NOT EXISTS submissions_ukp ON submissions(unit, kind, period);
            CREATE TABLE IF NOT EXISTS findings (
                submission_id INTEGER NOT NULL REFERENCES submissions(id),
                seq INTEGER NOT NULL,
                sheet TEXT, cell TEXT, row INTEGER, col TEXT, header TEXT, value TEXT,
                severity TEXT NOT NULL, rule TEXT NOT NULL, message TEXT NOT NULL, expected TEXT,
                PRIMARY KEY (submission_id, seq)
            );
            CREATE TABLE IF NOT EXISTS records (
                submission_id INTEGER NOT NULL REFERENCES submissions(id),
                row INTEGER NOT NULL,
                data TEXT NOT NULL,
                person TEXT,
                PRIMARY KEY (submission_id, row)
            );
            CREATE INDEX IF NOT EXISTS records_person ON records(person) WHERE person IS NOT NULL;
            -- The edges: each ledger a submission was checked against or compared
            -- with (`[[references]]`), in order; `ref_submission` the one used.
            CREATE TABLE IF NOT EXISTS checked_against (
                submission_id INTEGER NOT NULL REFERENCES submissions(id),
                seq INTEGER NOT NULL,
                name TEXT NOT NULL, kind TEXT NOT NULL, kind_name TEXT NOT NULL,
                file TEXT, period TEXT, ref_submission INTEGER,
                previous INTEGER NOT NULL DEFAULT 0, county INTEGER NOT NULL DEFAULT 0,
                periods TEXT,
                PRIMARY KEY (submission_id, seq)
            );
            CREATE INDEX IF NOT EXISTS checked_against_ref ON checked_against(ref_submission);
            CREATE TABLE IF NOT EXISTS events (
                id INTEGER PRIMARY KEY,
                at TEXT NOT NULL,
                submission_id INTEGER,
                event TEXT NOT NULL,
                detail TEXT
            );",
        )?;
        tx.execute_batch(mail::SCHEMA)?;
        tx.execute_batch(outputs::SCHEMA)?;
        tx.execute_batch(access::SCHEMA)?;
        // Journals from before a column existed get it.
        for (table, column, decl) in [
            ("submissions", "attempts", "INTEGER NOT NULL DEFAULT 0"),
            ("submissions", "rules_version", "TEXT"),
            ("findings", "person", "TEXT"),
            ("submissions", "checked_against", "TEXT"),
            ("submissions", "recheck_because", "INTEGER"),
            ("mail", "name_hint", "TEXT"),
        ] {
            let has: bool = tx
                .prepare(&format!(
                    "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
                ))?
                .exists([])?;
            if !has {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
            }
        }
        // Journals that kept the edges as a JSON array in `submissions.checked_against`
        // (before they were rows): moved into the table, once.
        tx.execute_batch(
            "INSERT OR IGNORE INTO checked_against
               (submission_id, seq, name, kind, kind_name, file, period, ref_submission, previous, county, periods)
             SELECT s.id, j.key, json_extract(j.value, '$.name'), json_extract(j.value, '$.kind'),
               json_extract(j.value, '$.kind_name'), json_extract(j.value, '$.file'),
               json_extract(j.value, '$.period'), json_extract(j.value, '$.submission'),
               COALESCE(json_extract(j.value, '$.previous'), 0), COALESCE(json_extract(j.value, '$.county'), 0),
               json_extract(j.value, '$.periods')
             FROM submissions s, json_each(s.checked_against) j
             WHERE s.checked_against IS NOT NULL AND json_valid(s.checked_against);
             UPDATE submissions SET checked_against = NULL WHERE checked_against IS NOT NULL;",
        )?;
        tx.commit()?;
        Ok(Journal { conn })
    }

    /// Opens an existing journal for reading only (a worker's or `validate
    /// --state`'s view of the accepted ledgers): no schema, no writes, never
    /// blocks the daemon.
    pub fn open_read_only(state_dir: &Path) -> Result<Journal> {
        let path = state_dir.join("journal.sqlite3");
        if !path.is_file() {
            return Err(JournalError::Io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "没有台账记录（journal.sqlite3）",
                ),
            ));
        }
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // A reader cannot bring an older schema up to date (the writer does, at
        // open): said as such, not as the SQL error of the first query.
        let current: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checked_against')",
            [],
            |r| r.get(0),
        )?;
        if !current {
            return Err(JournalError::Outdated(path));
        }
        Ok(Journal { conn })
    }

    /// Accepted submissions of `kind_id` of other units than `unit`, for `period` or
    /// earlier, whose stored rows have `person` (their `person` key): newest
    /// period first.
    pub fn accepted_with_person(
        &self,
        kind_id: &str,
        unit: &str,
        period: &str,
        person: &str,
    ) -> Result<Vec<Submission>> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM submissions
                 WHERE id IN (SELECT submission_id FROM records WHERE person = ?1)
                 AND kind = ?2 AND unit != ?3 AND period <= ?4
                 AND outcome = 'accepted' AND state IN ('validated','done')
                 ORDER BY period DESC, id DESC"
            ),
            &[&person, &kind_id, &unit, &period],
        )
    }

    /// A mark that changes whenever anything is journaled (a step, an outcome, a
    /// message's state): what the status page polls.
    pub fn change_mark(&self) -> Result<String> {
        Ok(self.conn.query_row(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM events) || '.' ||
                    (SELECT COUNT(*) || '.' || COALESCE(SUM(attempts), 0) || '.' || COALESCE(SUM(state = 'sent'), 0) FROM mail)",
            [],
            |r| r.get(0),
        )?)
    }

    /// The report a submission was judged by, as journaled (JSON).
    pub fn report_json(&self, id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT report_json FROM submissions WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// A unit's judged submissions of a kind, newest first.
    pub fn unit_submissions(&self, unit: &str, kind_id: &str) -> Result<Vec<Submission>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM submissions WHERE unit = ?1 AND kind = ?2 AND state IN ('validated','done') ORDER BY id DESC"),
            &[&unit, &kind_id],
        )
    }

    /// Records that the daemon put rules of `version` in force now.
    pub fn rules_loaded_now(&self, version: &str) -> Result<()> {
        self.event(None, "rules_loaded", version)
    }

    /// The rules last put in force: (version, when).
    pub fn rules_loaded(&self) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT detail, at FROM events WHERE event = 'rules_loaded' ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, Option<String>>(0)?.unwrap_or_default(), r.get(1)?)),
            )
            .optional()?)
    }

    /// Appends to the event log.
    pub fn event(&self, submission: Option<i64>, event: &str, detail: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, ?2, ?3, ?4)",
            params![now(), submission, event, detail],
        )?;
        Ok(())
    }

    /// An earlier submission with the same content, if any (quarantined and
    /// duplicate ones aside: those are looked at again when resent).
    pub fn find_by_hash(&self, sha: &str) -> Result<Option<Submission>> {
        let sql = format!("SELECT {COLUMNS} FROM submissions WHERE sha256 = ?1 AND state = 'done' AND outcome IN ('accepted','rejected') ORDER BY id LIMIT 1");
        Ok(self
            .conn
            .query_row(&sql, params![sha], row_to_submission)
            .optional()?)
    }

    /// The quarantined submission with this content, if any: a file the admin
    /// released by moving its quarantine copy into a unit's inbox folder.
    pub fn find_quarantined_by_hash(&self, sha: &str) -> Result<Option<Submission>> {
        let sql = format!("SELECT {COLUMNS} FROM submissions WHERE sha256 = ?1 AND outcome = 'quarantined' ORDER BY id LIMIT 1");
        Ok(self
            .conn
            .query_row(&sql, params![sha], row_to_submission)
            .optional()?)
    }

    /// Records a received file (state `received`) and returns its id. The archive
    /// path is set from the id by the caller with [`Journal::set_archive_path`].
    pub fn insert_received(&self, s: &NewSubmission<'_>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO submissions (received_at, original_name, folder, inbox_path, sha256, size, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'received')",
            params![s.received_at, s.original_name, s.folder, s.inbox_path, s.sha256, s.size as i64],
        )?;
        let id = self.conn.last_insert_rowid();
        self.event(Some(id), "received", s.inbox_path)?;
        Ok(id)
    }

    pub fn set_archive_path(&self, id: i64, rel: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE submissions SET archive_path = ?2 WHERE id = ?1",
            params![id, rel],
        )?;
        Ok(())
    }

    pub fn set_state(&self, id: i64, state: State) -> Result<()> {
        self.conn.execute(
            "UPDATE submissions SET state = ?2 WHERE id = ?1",
            params![id, state.as_str()],
        )?;
        self.event(Some(id), state.as_str(), "")?;
        Ok(())
    }

    /// Records that reading a submission starts, before it starts; returns how
    /// many earlier attempts there were (each one interrupted: a finished attempt
    /// moves the submission on, so it is never attempted again).
    pub fn begin_attempt(&self, id: i64) -> Result<i64> {
        let before: i64 = self.conn.query_row(
            "SELECT attempts FROM submissions WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "UPDATE submissions SET attempts = attempts + 1 WHERE id = ?1",
            params![id],
        )?;
        self.event(Some(id), "attempt", &(before + 1).to_string())?;
        Ok(before)
    }

    /// Takes back an attempt that failed on the county's side (the rules in
    /// force), so it never counts toward setting the file aside.
    pub fn undo_attempt(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE submissions SET attempts = max(attempts - 1, 0) WHERE id = ?1",
            params![id],
        )?;
        self.event(Some(id), "attempt_undone", "rules")?;
        Ok(())
    }

    /// Forgets a submission that never got its bytes into the archive (the file is
    /// still in the inbox and will be received again).
    pub fn forget_unarchived(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "DELETE FROM submissions WHERE id = ?1 AND state = 'received'",
            params![id],
        )?;
        self.event(
            Some(id),
            "forgotten",
            "not archived before a stop; will be received again",
        )?;
        Ok(())
    }

    /// Stores a submission's outcome with its findings and (accepted) rows, in one
    /// transaction; the state becomes `validated`.
    pub fn record_outcome(
        &mut self,
        id: i64,
        d: &Decision,
        report: &FileReport,
        o: &OutcomeRecord<'_>,
    ) -> Result<()> {
        let outcome = d.outcome;
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM findings WHERE submission_id = ?1", params![id])?;
        tx.execute("DELETE FROM records WHERE submission_id = ?1", params![id])?;
        tx.execute(
            "DELETE FROM checked_against WHERE submission_id = ?1",
            params![id],
        )?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO checked_against (submission_id, seq, name, kind, kind_name, file, period, ref_submission, previous, county, periods)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for (k, r) in report.references.iter().enumerate() {
                ins.execute(params![
                    id,
                    k as i64,
                    r.name,
                    r.kind,
                    r.kind_name,
                    r.file,
                    r.period,
                    r.submission,
                    r.previous,
                    r.county,
                    r.periods
                ])?;
            }
        }
        tx.execute(
            "UPDATE submissions SET state = 'validated', outcome = ?2, duplicate_of = NULL, unit = ?3, unit_code = ?4,
               kind = ?5, kind_name = ?6, period = ?7, rows = ?8, errors = ?9, warnings = ?10, reason = ?11,
               annotated_path = ?12, report_json = ?13, processed_at = ?14, rules_version = ?15,
               checked_against = NULL, recheck_because = NULL
             WHERE id = ?1",
            params![
                id,
                outcome.as_str(),
                d.unit,
                d.unit_code,
                d.kind_id,
                d.kind_name,
                d.period,
                report.rows as i64,
                report.errors as i64,
                report.warnings as i64,
                d.reason,
                o.annotated,
                serde_json::to_string(report)?,
                now(),
                o.rules_version,
            ],
        )?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO findings (submission_id, seq, sheet, cell, row, col, header, value, severity, rule, message, expected, person)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for (k, f) in report.findings.iter().enumerate() {
                let sev = match f.severity {
                    crate::rules::Severity::Error => "error",
                    crate::rules::Severity::Warning => "warning",
                };
                ins.execute(params![
                    id, k as i64, f.sheet, f.cell, f.row, f.column, f.header, f.value, sev, f.rule,
                    f.message, f.expected, f.person
                ])?;
            }
            if outcome == Outcome::Accepted || !o.keep_rows.is_empty() {
                let mut ins = tx.prepare(
                    "INSERT INTO records (submission_id, row, data, person) VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut json = Vec::with_capacity(512);
                let all = outcome == Outcome::Accepted;
                for r in report
                    .records
                    .iter()
                    .filter(|r| all || o.keep_rows.contains(&r.row))
                {
                    json.clear();
                    serde_json::to_writer(&mut json, &r.values)?;
                    let person = person_of(&r.values, o.person_key);
                    ins.execute(params![
                        id,
                        r.row,
                        std::str::from_utf8(&json).unwrap_or("{}"),
                        person
                    ])?;
                }
            }
        }
        mail::enqueue(&tx, Some(id), o.mails)?;
        if let (Some(why), Some(kind), Some(period)) = (o.workbook_why, &d.kind_id, &d.period) {
            outputs::mark_stale(&tx, kind, period, why)?;
        }
        tx.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, ?2, 'validated', ?3)",
            params![now(), id, outcome.as_str()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a submission whose bytes equal an earlier one's: it is `done` as a
    /// duplicate of `first`, for the same unit, kind and period, and nothing else
    /// happens to it.
    pub fn record_duplicate(
        &mut self,
        id: i64,
        first: &Submission,
        reason: &str,
        mails: &[Mail],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE submissions SET state = 'done', outcome = 'duplicate', duplicate_of = ?2, unit = ?3,
               unit_code = ?4, kind = ?5, kind_name = ?6, period = ?7, rows = ?8, errors = ?9,
               warnings = ?10, reason = ?11, processed_at = ?12
             WHERE id = ?1",
            params![
                id,
                first.id,
                first.unit,
                first.unit_code,
                first.kind_id,
                first.kind_name,
                first.period,
                first.rows,
                first.errors,
                first.warnings,
                reason,
                now()
            ],
        )?;
        tx.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, ?2, 'validated', 'duplicate')",
            params![now(), id],
        )?;
        mail::enqueue(&tx, Some(id), mails)?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a submission done and queues the notices it caused besides its own
    /// (cross-unit duplicates), in one transaction; `notified` are the (person,
    /// unit) pairs those notices cover, under `kind` and `period`.
    pub fn finish_with_mail(
        &mut self,
        id: i64,
        kind: &str,
        period: &str,
        mails: &[Mail],
        notified: &[(String, String)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        mail::enqueue(&tx, Some(id), mails)?;
        for (person, unit) in notified {
            outputs::mark_notified(&tx, kind, period, person, unit)?;
        }
        tx.execute(
            "UPDATE submissions SET state = 'done' WHERE id = ?1",
            params![id],
        )?;
        tx.execute(
            "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, ?2, 'done', '')",
            params![now(), id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A submission by id.
    pub fn get(&self, id: i64) -> Result<Option<Submission>> {
        let sql = format!("SELECT {COLUMNS} FROM submissions WHERE id = ?1");
        Ok(self
            .conn
            .query_row(&sql, params![id], row_to_submission)
            .optional()?)
    }

    /// Submissions not yet `done`, oldest first.
    pub fn unfinished(&self) -> Result<Vec<Submission>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM submissions WHERE state != 'done' ORDER BY id"),
            &[],
        )
    }

    /// All submissions, oldest first.
    pub fn all(&self) -> Result<Vec<Submission>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM submissions ORDER BY id"),
            &[],
        )
    }

    /// Submissions of a kind and period that were validated (any outcome), oldest first.
    pub fn for_kind_period(&self, kind_id: &str, period: &str) -> Result<Vec<Submission>> {
        self.query(
            &format!("SELECT {COLUMNS} FROM submissions WHERE kind = ?1 AND period = ?2 AND state IN ('validated','done') ORDER BY id"),
            &[&kind_id, &period],
        )
    }

    /// The latest accepted submission of a unit and kind for `at_or_before` or an
    /// earlier period (the newest period first, then the newest submission).
    pub fn latest_accepted(
        &self,
        unit: &str,
        kind_id: &str,
        at_or_before: &str,
    ) -> Result<Option<Submission>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM submissions WHERE unit = ?1 AND kind = ?2 AND period <= ?3
             AND outcome = 'accepted' AND state IN ('validated','done') ORDER BY period DESC, id DESC LIMIT 1"
        );
        Ok(self
            .conn
            .query_row(
                &sql,
                params![unit, kind_id, at_or_before],
                row_to_submission,
            )
            .optional()?)
    }

    /// The rows of a submission that rules whose id starts with `prefix` fired
    /// on: (Excel row, the rules and their messages, the row's stored values), by row.
    #[allow(clippy::type_complexity)]
    pub fn hit_rows(
        &self,
        id: i64,
        prefix: &str,
    ) -> Result<Vec<(u32, Vec<(String, String)>, String)>> {
        let mut st = self.conn.prepare(
            "SELECT f.row, f.rule, f.message, r.data FROM findings f
             JOIN records r ON r.submission_id = f.submission_id AND r.row = f.row
             WHERE f.submission_id = ?1 AND substr(f.rule, 1, length(?2)) = ?2
             ORDER BY f.row, f.seq",
        )?;
        let rows = st.query_map(params![id, prefix], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                (r.get::<_, String>(1)?, r.get::<_, String>(2)?),
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out: Vec<(u32, Vec<(String, String)>, String)> = Vec::new();
        for row in rows {
            let (n, hit, data) = row?;
            match out.last_mut() {
                Some(last) if last.0 == n => last.1.push(hit),
                _ => out.push((n, vec![hit], data)),
            }
        }
        Ok(out)
    }

    /// The submissions whose latest outcome was checked against (or compared
    /// with) submission `id`: the edges pointing at it.
    pub fn checked_against_it(&self, id: i64) -> Result<Vec<i64>> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT submission_id FROM checked_against WHERE ref_submission = ?1 ORDER BY submission_id",
        )?;
        let rows = st.query_map(params![id], |r| r.get::<_, i64>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Of each period up to `at_or_before`, the unit's latest accepted ledger of
    /// the kind (the county's monthly death lists), oldest period first.
    pub fn accepted_each_period(
        &self,
        unit: &str,
        kind_id: &str,
        at_or_before: &str,
    ) -> Result<Vec<Submission>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM submissions WHERE unit = ?1 AND kind = ?2 AND period <= ?3
             AND outcome = 'accepted' AND state IN ('validated','done') ORDER BY period, id"
        );
        let mut st = self.conn.prepare(&sql)?;
        let all = st
            .query_map(params![unit, kind_id, at_or_before], row_to_submission)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out: Vec<Submission> = Vec::new();
        for s in all {
            // The latest of a period replaces an earlier one of it.
            if out.last().is_some_and(|l| l.period == s.period) {
                out.pop();
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Units whose accepted ledgers of `kind_id` (any period) have persons of
    /// `persons` (stored person keys), with how many of them each has, most first.
    pub fn units_having_persons(
        &self,
        kind_id: &str,
        persons: &[String],
    ) -> Result<Vec<(String, usize)>> {
        let mut found: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for chunk in persons.chunks(400) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT s.unit, r.person FROM records r JOIN submissions s ON s.id = r.submission_id
                 WHERE s.kind = ? AND s.unit IS NOT NULL AND s.outcome = 'accepted'
                 AND s.state IN ('validated','done') AND r.person IN ({marks})"
            );
            let mut st = self.conn.prepare(&sql)?;
            let args: Vec<&dyn rusqlite::ToSql> = std::iter::once(&kind_id as &dyn rusqlite::ToSql)
                .chain(chunk.iter().map(|p| p as &dyn rusqlite::ToSql))
                .collect();
            let rows = st.query_map(args.as_slice(), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (unit, person) = row?;
                found.entry(unit).or_default().insert(person);
            }
        }
        let mut out: Vec<(String, usize)> = found.into_iter().map(|(u, p)| (u, p.len())).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Every text value of column `key` in the accepted ledgers of `kind_id`
    /// (any period), with the unit it came from.
    pub fn accepted_values(
        &self,
        kind_id: &str,
        key: &str,
        mut f: impl FnMut(&str, &str),
    ) -> Result<()> {
        let mut st = self.conn.prepare(
            "SELECT s.unit, r.data FROM records r JOIN submissions s ON s.id = r.submission_id
             WHERE s.kind = ?1 AND s.unit IS NOT NULL AND s.outcome = 'accepted'
             AND s.state IN ('validated','done')",
        )?;
        let mut rows = st.query(params![kind_id])?;
        while let Some(row) = rows.next()? {
            let unit: String = row.get(0)?;
            let data: String = row.get(1)?;
            if let Some(Some(stored::Stored::Text(t))) = stored::stored_row(&data, &[key])?.first()
            {
                f(&unit, t);
            }
        }
        Ok(())
    }

    /// Sets an accepted submission up to be checked again (from its archived copy)
    /// because `because` was accepted: back to `archived`, attempts cleared.
    /// False when it is no longer an accepted, finished submission.
    pub fn begin_recheck(&mut self, id: i64, because: i64) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE submissions SET state = 'archived', recheck_because = ?2, attempts = 0
             WHERE id = ?1 AND state = 'done' AND outcome = 'accepted'",
            params![id, because],
        )?;
        if n > 0 {
            tx.execute(
                "INSERT INTO events (at, submission_id, event, detail) VALUES (?1, ?2, 'recheck', ?3)",
                params![now(), id, because.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Every (kind, period) that has validated submissions.
    pub fn kind_periods(&self) -> Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT kind, period FROM submissions WHERE kind IS NOT NULL AND period IS NOT NULL AND state IN ('validated','done') ORDER BY period, kind",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn query(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Submission>> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(args, row_to_submission)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The stored rows of an accepted submission, in sheet order.
    pub fn records(&self, id: i64) -> Result<Vec<Record>> {
        let mut st = self
            .conn
            .prepare("SELECT row, data FROM records WHERE submission_id = ?1 ORDER BY row")?;
        let rows = st.query_map(params![id], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (row, data) = row?;
            let values = match serde_json::from_str::<serde_json::Value>(&data)? {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            out.push(Record { row, values });
        }
        Ok(out)
    }

    /// Streams the stored rows of a submission in sheet order, one at a time, so a
    /// rebuild never holds a whole ledger in memory: `f(Excel row, the row's JSON)`.
    /// Accepted rows of a person across units, kinds and periods: by ID number
    /// (a prefix of the person key: 身份证号, or `身份证号|…` for payments) or by
    /// 姓名. Newest submission first, at most `limit`.
    pub fn person_rows(&self, query: &str, limit: usize) -> Result<Vec<PersonRow>> {
        let q = query.trim();
        let by_id = q.len() >= 6
            && q.chars()
                .all(|c| c.is_ascii_digit() || c == 'X' || c == 'x');
        let sql = if by_id {
            "SELECT r.submission_id, r.row, r.data FROM records r
             JOIN submissions s ON s.id = r.submission_id AND s.outcome = 'accepted'
             WHERE r.person >= ?1 AND r.person < ?1 || '~'
             ORDER BY r.submission_id DESC, r.row LIMIT ?2"
        } else {
            "SELECT r.submission_id, r.row, r.data FROM records r
             JOIN submissions s ON s.id = r.submission_id AND s.outcome = 'accepted'
             WHERE json_extract(r.data, '$.name') = ?1
             ORDER BY r.submission_id DESC, r.row LIMIT ?2"
        };
        let key = if by_id {
            q.to_ascii_uppercase()
        } else {
            q.to_string()
        };
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(params![key, limit as i64], |r| {
            Ok(PersonRow {
                submission_id: r.get(0)?,
                row: r.get(1)?,
                data: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn for_each_record<E: From<JournalError>>(
        &self,
        id: i64,
        mut f: impl FnMut(u32, &str) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut st = self
            .conn
            .prepare_cached("SELECT row, data FROM records WHERE submission_id = ?1 ORDER BY row")
            .map_err(JournalError::from)?;
        let mut rows = st.query(params![id]).map_err(JournalError::from)?;
        while let Some(r) = rows.next().map_err(JournalError::from)? {
            let row: u32 = r.get(0).map_err(JournalError::from)?;
            let data = r.get_ref(1).map_err(JournalError::from)?;
            let data = data
                .as_str()
                .map_err(|e| JournalError::from(rusqlite::Error::from(e)))?;
            f(row, data)?;
        }
        Ok(())
    }

    /// Persons found in more than one of the given submissions: (person, submission,
    /// row, the row's stored values), ordered by person. Done in SQL, in bounded memory.
    pub fn shared_persons(&self, submissions: &[i64]) -> Result<Vec<(String, i64, u32, String)>> {
        if submissions.len() < 2 {
            return Ok(Vec::new());
        }
        let ids = submissions
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT person, submission_id, row, data FROM records
             WHERE submission_id IN ({ids}) AND person IN (
                 SELECT person FROM records WHERE submission_id IN ({ids}) AND person IS NOT NULL
                 GROUP BY person HAVING COUNT(DISTINCT submission_id) > 1)
             ORDER BY person, submission_id, row"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The findings of a submission, in order.
    pub fn findings(&self, id: i64) -> Result<Vec<crate::validate::Finding>> {
        let mut st = self.conn.prepare(
            "SELECT sheet, cell, row, col, header, value, severity, rule, message, expected, person FROM findings WHERE submission_id = ?1 ORDER BY seq",
        )?;
        let rows = st.query_map(params![id], |r| {
            Ok(crate::validate::Finding {
                sheet: r.get(0)?,
                cell: r.get(1)?,
                row: r.get(2)?,
                column: r.get(3)?,
                header: r.get(4)?,
                value: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                severity: if r.get::<_, String>(6)? == "warning" {
                    crate::rules::Severity::Warning
                } else {
                    crate::rules::Severity::Error
                },
                rule: r.get(7)?,
                message: r.get(8)?,
                expected: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
                person: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

/// The `person` a stored row is indexed by: its value of each key column, joined
/// by `|` (None when the first is blank).
pub fn person_of(
    values: &serde_json::Map<String, serde_json::Value>,
    keys: &[&str],
) -> Option<String> {
    let first = keys.first().and_then(|k| values.get(*k))?.as_str()?;
    if first.is_empty() {
        return None;
    }
    let mut out = first.to_string();
    for k in &keys[1..] {
        out.push('|');
        if let Some(v) = values.get(*k) {
            out.push_str(&stored::json_text(v));
        }
    }
    Some(out)
}

/// Local time as RFC 3339 seconds, the journal's time format.
pub fn now() -> String {
    crate::clock::now()
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::ReferenceUsed;

    fn received(j: &Journal, name: &str) -> i64 {
        j.insert_received(&NewSubmission {
            received_at: "2026-11-30T09:00:00+08:00",
            original_name: name,
            folder: None,
            inbox_path: name,
            sha256: name,
            size: 1,
        })
        .unwrap()
    }

    /// Read-only, a journal an older version wrote is said to be one (a
    /// reader cannot upgrade it); once a writer opened it, it reads.
    #[test]
    fn a_journal_of_an_older_version_is_said_to_be_one_when_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.conn.execute_batch("DROP TABLE checked_against").unwrap();
        drop(j);
        let err = Journal::open_read_only(dir.path())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("由旧版本写成，尚未升级") && err.contains("run --once"),
            "{err}"
        );
        // The writer brings it up to date; then it reads.
        drop(Journal::open(dir.path()).unwrap());
        assert!(Journal::open_read_only(dir.path()).is_ok());
    }

    /// What a submission was checked against is kept as rows, one per
    /// reference in order (`checked_against`), read back with the submission,
    /// and asked the other way round: who was checked against a ledger. A
    /// journal that kept them as a JSON array has them moved into rows.
    #[test]
    fn the_ledgers_a_submission_was_checked_against_are_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        let reg = received(&j, "柳河镇_残疾人信息登记簿_2026-11.xlsx");
        let list = received(&j, "死亡人员名单_2026-11.xlsx");
        let pay = received(&j, "柳河镇_两项补贴发放台账_2026-11.xlsx");
        let refs = vec![
            ReferenceUsed {
                name: "register".into(),
                kind: "register".into(),
                kind_name: "残疾人信息登记簿".into(),
                file: Some("柳河镇_残疾人信息登记簿_2026-11.xlsx".into()),
                period: Some("2026-11".into()),
                submission: Some(reg),
                ..ReferenceUsed::default()
            },
            ReferenceUsed {
                name: "deaths".into(),
                kind: "deaths".into(),
                kind_name: "死亡人员名单".into(),
                file: Some("死亡人员名单_2026-11.xlsx".into()),
                period: Some("2026-11".into()),
                submission: Some(list),
                county: true,
                periods: Some("2026-11".into()),
                ..ReferenceUsed::default()
            },
            ReferenceUsed {
                name: "tekun".into(),
                kind: "tekun".into(),
                kind_name: "特困供养人员名单".into(),
                county: true,
                ..ReferenceUsed::default()
            },
        ];
        let report = FileReport {
            references: refs.clone(),
            ..FileReport::default()
        };
        let d = Decision::as_reported(Outcome::Accepted, &report);
        let o = OutcomeRecord {
            annotated: None,
            mails: &[],
            person_key: &[],
            workbook_why: None,
            rules_version: None,
            keep_rows: &[],
        };
        j.record_outcome(pay, &d, &report, &o).unwrap();
        assert_eq!(j.get(pay).unwrap().unwrap().references(), refs.as_slice());
        assert_eq!(j.checked_against_it(reg).unwrap(), [pay]);
        assert_eq!(j.checked_against_it(list).unwrap(), [pay]);
        assert!(j.get(reg).unwrap().unwrap().references().is_empty());
        // Judged again with fewer references: the old edges go.
        let again = FileReport {
            references: refs[..1].to_vec(),
            ..FileReport::default()
        };
        j.record_outcome(pay, &d, &again, &o).unwrap();
        assert_eq!(j.get(pay).unwrap().unwrap().references(), &refs[..1]);
        assert!(j.checked_against_it(list).unwrap().is_empty());

        // A journal of the JSON days: reopened, its edges are rows.
        j.conn.execute("DELETE FROM checked_against", []).unwrap();
        j.conn
            .execute(
                "UPDATE submissions SET checked_against = ?1 WHERE id = ?2",
                params![serde_json::to_string(&refs).unwrap(), pay],
            )
            .unwrap();
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.get(pay).unwrap().unwrap().references(), refs.as_slice());
        assert_eq!(j.checked_against_it(list).unwrap(), [pay]);
    }
}
