//! The mail queue, kept in the journal.
//!
//! A message is written here, composed to its final bytes, before any attempt to
//! send it. States: `queued` (due at `next_at`) → `sending` (committed just before
//! the SMTP transaction) → `sent`; a permanent refusal (5xx) → `parked`; a stop
//! between `sending` and `sent` leaves the message `uncertain`: it is **not** sent
//! again automatically (at most once), and `taizhang status` lists it for staff,
//! who can queue it again with `taizhang mail resend ID`.

use super::compose::Mail;
use rusqlite::{params, Connection, OptionalExtension};

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
}

/// Creates the queue's tables.
pub fn init(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS mail (
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
        CREATE INDEX IF NOT EXISTS mail_due ON mail(state, next_at);
        CREATE TABLE IF NOT EXISTS notified_duplicates (
            kind TEXT NOT NULL, period TEXT NOT NULL, person TEXT NOT NULL, unit TEXT NOT NULL,
            PRIMARY KEY (kind, period, person, unit)
        );
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Adds messages to the queue (inside the caller's transaction, if any).
pub fn enqueue(conn: &Connection, submission: Option<i64>, mails: &[Mail]) -> rusqlite::Result<()> {
    let mut st = conn.prepare(
        "INSERT INTO mail (created_at, purpose, submission_id, recipients, subject, message, state, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7)",
    )?;
    for m in mails {
        let to = serde_json::to_string(&m.to).unwrap_or_else(|_| "[]".into());
        st.execute(params![
            crate::store::now(),
            m.purpose,
            submission,
            to,
            m.subject,
            m.bytes,
            unix_now()
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
    })
}

const COLS: &str =
    "id, purpose, submission_id, recipients, subject, message, state, attempts, last_error";

/// The oldest message due now, if any.
pub fn next_due(conn: &Connection) -> rusqlite::Result<Option<Queued>> {
    conn.query_row(
        &format!(
            "SELECT {COLS} FROM mail WHERE state = 'queued' AND next_at <= ?1 ORDER BY id LIMIT 1"
        ),
        params![unix_now()],
        row,
    )
    .optional()
}

/// Seconds until the next queued message is due (None: nothing queued).
pub fn seconds_to_next(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let next: Option<i64> = conn.query_row(
        "SELECT MIN(next_at) FROM mail WHERE state = 'queued'",
        [],
        |r| r.get(0),
    )?;
    Ok(next.map(|n| (n - unix_now()).max(0)))
}

pub fn mark_sending(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE mail SET state = 'sending', attempts = attempts + 1 WHERE id = ?1",
        params![id],
    )?;
    Ok(())
}

pub fn mark_sent(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE mail SET state = 'sent', sent_at = ?2, last_error = NULL WHERE id = ?1",
        params![id, crate::store::now()],
    )?;
    Ok(())
}

/// A temporary failure: try again after `delay_secs`.
pub fn mark_retry(
    conn: &Connection,
    id: i64,
    delay_secs: i64,
    error: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE mail SET state = 'queued', next_at = ?2, last_error = ?3 WHERE id = ?1",
        params![id, unix_now() + delay_secs, error],
    )?;
    Ok(())
}

/// A permanent failure: kept, not retried, shown by `status`.
pub fn mark_parked(conn: &Connection, id: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE mail SET state = 'parked', last_error = ?2 WHERE id = ?1",
        params![id, error],
    )?;
    Ok(())
}

/// After a stop: messages caught between `sending` and `sent` become `uncertain`.
pub fn settle_after_stop(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE mail SET state = 'uncertain', last_error = '发送过程中程序停止，无法确定是否已送达；为避免重复发送，未自动重发' WHERE state = 'sending'",
        [],
    )
}

/// Queues a parked or uncertain message again (staff decision).
pub fn resend(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE mail SET state = 'queued', next_at = ?2 WHERE id = ?1 AND state IN ('parked', 'uncertain', 'sent')",
        params![id, unix_now()],
    )?;
    Ok(n == 1)
}

/// Messages in a state, oldest first.
pub fn in_state(conn: &Connection, state: &str) -> rusqlite::Result<Vec<Queued>> {
    let mut st = conn.prepare(&format!(
        "SELECT {COLS} FROM mail WHERE state = ?1 ORDER BY id"
    ))?;
    let rows = st.query_map(params![state], row)?;
    rows.collect()
}

/// Counts by state.
pub fn counts(conn: &Connection) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut st = conn.prepare("SELECT state, COUNT(*) FROM mail GROUP BY state ORDER BY state")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Persons of a kind and period already reported to a unit as cross-unit duplicates.
pub fn already_notified(
    conn: &Connection,
    kind: &str,
    period: &str,
    person: &str,
    unit: &str,
) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM notified_duplicates WHERE kind = ?1 AND period = ?2 AND person = ?3 AND unit = ?4",
        params![kind, period, person, unit],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
}

pub fn mark_notified(
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

pub fn get_meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
        r.get(0)
    })
    .optional()
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value", params![key, value])?;
    Ok(())
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
        }
    }

    #[test]
    fn a_stop_mid_send_never_leads_to_a_second_send() {
        let conn = Connection::open_in_memory().unwrap();
        init(&conn).unwrap();
        enqueue(&conn, Some(1), &[mail("a@x.cn"), mail("b@x.cn")]).unwrap();
        let first = next_due(&conn).unwrap().unwrap();
        mark_sending(&conn, first.id).unwrap();
        // The process dies here: the server may or may not have the message.
        assert_eq!(settle_after_stop(&conn).unwrap(), 1);
        let next = next_due(&conn).unwrap().unwrap();
        assert_ne!(next.id, first.id, "the uncertain message is not due again");
        assert_eq!(in_state(&conn, "uncertain").unwrap().len(), 1);
        // Staff decide to resend it.
        assert!(resend(&conn, first.id).unwrap());
        assert_eq!(in_state(&conn, "queued").unwrap().len(), 2);
    }

    #[test]
    fn retries_back_off_and_refusals_park() {
        let conn = Connection::open_in_memory().unwrap();
        init(&conn).unwrap();
        enqueue(&conn, None, &[mail("a@x.cn")]).unwrap();
        let m = next_due(&conn).unwrap().unwrap();
        mark_sending(&conn, m.id).unwrap();
        mark_retry(&conn, m.id, 60, "connection refused").unwrap();
        assert!(
            next_due(&conn).unwrap().is_none(),
            "not due before its retry time"
        );
        assert!(seconds_to_next(&conn).unwrap().unwrap() > 50);
        mark_parked(&conn, m.id, "550 no such user").unwrap();
        assert!(seconds_to_next(&conn).unwrap().is_none());
        assert_eq!(in_state(&conn, "parked").unwrap()[0].attempts, 1);
        let b = crate::notice::backoff(std::time::Duration::from_secs(60), 3);
        assert_eq!(b, std::time::Duration::from_secs(240));
        assert_eq!(
            crate::notice::backoff(std::time::Duration::from_secs(60), 30),
            std::time::Duration::from_secs(3600)
        );
    }
}
