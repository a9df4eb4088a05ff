//! The mail queue, kept in the journal.
//!
//! A message is written here, composed to its final bytes, before any attempt to
//! send it. States: `queued` (due at `next_at`) → `sending` (committed just before
//! the SMTP transaction) → `sent`; a permanent refusal (5xx) → `parked`; a stop
//! between `sending` and `sent` leaves the message `uncertain`: it is **not** sent
//! again automatically (at most once), and `taizhang status` lists it for staff,
//! who can queue it again with `taizhang mail resend ID`.

use super::{now, unix_now, Journal, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// A composed message, ready to be queued (made by `notice`, stored here).
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    /// What it is: `rejected`, `accepted`, `unreadable`, `not_a_ledger`, `quarantine`,
    /// `duplicates`, `county_workbook`.
    pub purpose: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The whole RFC 5322 message.
    pub bytes: Vec<u8>,
    /// What its `.eml` file is named for when it is about no submission (a
    /// reminder: `石桥镇_2026-11`).
    pub name_hint: Option<String>,
}

/// A queued message.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub id: i64,
    pub purpose: String,
    pub submission_id: Option<i64>,
    pub to: Vec<String>,
    pub subject: String,
    pub bytes: Vec<u8>,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// See [`Mail::name_hint`].
    pub name_hint: Option<String>,
}

/// A message as the mail page lists it (no bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    pub id: i64,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub purpose: String,
    pub submission_id: Option<i64>,
    pub to: Vec<String>,
    pub subject: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// The queue's tables.
pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mail (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            purpose TEXT NOT NULL,
            submission_id INTEGER,
            recipients TEXT NOT NULL,
            subject TEXT NOT NULL,
            message BLOB NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at INTEGER NOT NULL,
            last_error TEXT,
            sent_at TEXT
        );
        CREATE INDEX IF NOT EXISTS mail_due ON mail(state, next_at);";

/// Adds messages to the queue (inside the caller's transaction, if any).
pub(super) fn enqueue(
    conn: &Connection,
    submission: Option<i64>,
    mails: &[Mail],
) -> rusqlite::Result<()> {
    let mut st = conn.prepare(
        "INSERT INTO mail (created_at, purpose, submission_id, recipients, subject, message, state, next_at, name_hint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?8)",
    )?;
    for m in mails {
        let to = serde_json::to_string(&m.to).unwrap_or_else(|_| "[]".into());
        st.execute(params![
            now(),
            m.purpose,
            submission,
            to,
            m.subject,
            m.bytes,
            unix_now(),
            m.name_hint
        ])?;
    }
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Queued> {
    let to: String = r.get(3)?;
    Ok(Queued {
        id: r.get(0)?,
        purpose: r.get(1)?,
        submission_id: r.get(2)?,
        to: serde_json::from_str(&to).unwrap_or_default(),
        subject: r.get(4)?,
        bytes: r.get(5)?,
        state: r.get(6)?,
        attempts: r.get(7)?,
        last_error: r.get(8)?,
        name_hint: r.get(9)?,
    })
}

const COLS: &str =
    "id, purpose, submission_id, recipients, subject, message, state, attempts, last_error, name_hint";

impl Journal {
    /// Queues messages outside any other change (a digest, a resend by staff).
    pub fn queue_mail(&self, submission: Option<i64>, mails: &[Mail]) -> Result<()> {
        enqueue(&self.conn, submission, mails)?;
        Ok(())
    }

    /// The oldest message due now, if any.
    pub fn mail_next_due(&self) -> Result<Option<Queued>> {
        Ok(self.conn.query_row(
            &format!(
                "SELECT {COLS} FROM mail WHERE state = 'queued' AND next_at <= ?1 ORDER BY id LIMIT 1"
            ),
            params![unix_now()],
            row,
        )
        .optional()?)
    }

    /// Seconds until the next queued message is due (None: nothing queued).
    pub fn mail_seconds_to_next(&self) -> Result<Option<i64>> {
        let next: Option<i64> = self.conn.query_row(
            "SELECT MIN(next_at) FROM mail WHERE state = 'queued'",
            [],
            |r| r.get(0),
        )?;
        Ok(next.map(|n| (n - unix_now()).max(0)))
    }

    pub fn mail_sending(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE mail SET state = 'sending', attempts = attempts + 1 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    pub fn mail_sent(&self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE mail SET state = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1",
            params![id, now()],
        )?;
        Ok(())
    }

    /// A temporary failure: try again after `delay_secs`.
    pub fn mail_retry(&self, id: i64, delay_secs: i64, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE mail SET state = 'queued', next_at = ?2, last_error = ?3 WHERE id = ?1",
            params![id, unix_now() + delay_secs, error],
        )?;
        Ok(())
    }

    /// A permanent failure: kept, not retried, shown by `status`.
    pub fn mail_parked(&self, id: i64, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE mail SET state = 'parked', last_error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    /// After a stop: messages caught between `sending` and `sent` become `uncertain`.
    pub fn mail_uncertain_after_stop(&self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE mail SET state = 'uncertain', last_error = '发送过程中程序停止，无法确定是否已送达；为避免重复发送，未自动重发' WHERE state = 'sending'",
            [],
        )?)
    }

    /// A send whose end is unknown (it overran its deadline): not sent again by
    /// itself; staff decide with `mail resend`.
    pub fn mail_uncertain(&self, id: i64, why: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE mail SET state = 'uncertain', last_error = ?2 WHERE id = ?1",
            params![id, why],
        )?;
        Ok(())
    }

    /// Queues a parked or uncertain message again (staff decision).
    pub fn mail_resend(&self, id: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE mail SET state = 'queued', next_at = ?2 WHERE id = ?1 AND state IN ('parked', 'uncertain', 'sent')",
            params![id, unix_now()],
        )?;
        Ok(n == 1)
    }

    /// Queues a refused or uncertain message again (what staff may do from the
    /// status page); false for any other message.
    pub fn mail_resend_held(&self, id: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE mail SET state = 'queued', next_at = ?2 WHERE id = ?1 AND state IN ('parked', 'uncertain')",
            params![id, unix_now()],
        )?;
        Ok(n == 1)
    }

    /// Messages in a state, oldest first.
    pub fn mail_in_state(&self, state: &str) -> Result<Vec<Queued>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {COLS} FROM mail WHERE state = ?1 ORDER BY id"
        ))?;
        let rows = st.query_map(params![state], row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The latest `limit` messages, newest first, without their bytes: what the
    /// mail page lists (who was sent what, when, and where it stands).
    pub fn mail_log(&self, limit: usize) -> Result<Vec<Logged>> {
        let mut st = self.conn.prepare(
            "SELECT id, created_at, sent_at, purpose, submission_id, recipients, subject, state, attempts, last_error
             FROM mail ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit as i64], |r| {
            let to: String = r.get(5)?;
            Ok(Logged {
                id: r.get(0)?,
                created_at: r.get(1)?,
                sent_at: r.get(2)?,
                purpose: r.get(3)?,
                submission_id: r.get(4)?,
                to: serde_json::from_str(&to).unwrap_or_default(),
                subject: r.get(6)?,
                state: r.get(7)?,
                attempts: r.get(8)?,
                last_error: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Counts by state.
    pub fn mail_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT state, COUNT(*) FROM mail GROUP BY state ORDER BY state")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(to: &str) -> Mail {
        Mail {
            purpose: "accepted".into(),
            to: vec![to.into()],
            subject: "s".into(),
            bytes: b"x".to_vec(),
            name_hint: None,
        }
    }

    #[test]
    fn a_stop_mid_send_never_leads_to_a_second_send() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Journal::open(dir.path()).unwrap();
        conn.queue_mail(Some(1), &[mail("a@x.cn"), mail("b@x.cn")])
            .unwrap();
        let first = conn.mail_next_due().unwrap().unwrap();
        conn.mail_sending(first.id).unwrap();
        // The process dies here: the server may or may not have the message.
        assert_eq!(conn.mail_uncertain_after_stop().unwrap(), 1);
        let next = conn.mail_next_due().unwrap().unwrap();
        assert_ne!(next.id, first.id, "the uncertain message is not due again");
        assert_eq!(conn.mail_in_state("uncertain").unwrap().len(), 1);
        // Staff decide to resend it.
        assert!(conn.mail_resend(first.id).unwrap());
        assert_eq!(conn.mail_in_state("queued").unwrap().len(), 2);
    }

    #[test]
    fn retries_back_off_and_refusals_park() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Journal::open(dir.path()).unwrap();
        conn.queue_mail(None, &[mail("a@x.cn")]).unwrap();
        let m = conn.mail_next_due().unwrap().unwrap();
        conn.mail_sending(m.id).unwrap();
        conn.mail_retry(m.id, 60, "connection refused").unwrap();
        assert!(
            conn.mail_next_due().unwrap().is_none(),
            "not due before its retry time"
        );
        assert!(conn.mail_seconds_to_next().unwrap().unwrap() > 50);
        conn.mail_parked(m.id, "550 no such user").unwrap();
        assert!(conn.mail_seconds_to_next().unwrap().is_none());
        assert_eq!(conn.mail_in_state("parked").unwrap()[0].attempts, 1);
    }
}
