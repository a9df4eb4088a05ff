//! The access log: who looked at what on the status page (PIPL: every access
//! to personal data is recorded). Logins (success or failure), page views of a
//! submission, downloads, revealed values and resends, each with its time and
//! client address. Kept at least 180 days (the Cybersecurity Law's six months;
//! entries are pruned after 400); never written with an ID number: what was
//! looked at is a submission id, a kind and period, a finding's number.

use super::{now, Journal, Result};
use rusqlite::params;

pub(super) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS access_log (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        client TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        submission_id INTEGER,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS access_log_at ON access_log(at);";

/// Days an entry is kept (at least the 180 the law asks).
pub const KEEP_DAYS: i64 = 400;

/// One access.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    pub at: String,
    pub client: String,
    pub who: String,
    pub action: String,
    pub submission_id: Option<i64>,
    pub detail: String,
}

impl Journal {
    /// Records one access (now).
    pub fn access(
        &self,
        client: &str,
        who: &str,
        action: &str,
        submission_id: Option<i64>,
        detail: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO access_log (at, client, who, action, submission_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![now(), client, who, action, submission_id, detail],
        )?;
        Ok(())
    }

    /// The accesses of a day (`YYYY-MM-DD`, local) and/or of a submission, newest
    /// first, at most `limit`.
    pub fn accesses(
        &self,
        day: Option<&str>,
        submission_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Access>> {
        let mut st = self.conn.prepare(
            "SELECT at, client, who, action, submission_id, detail FROM access_log
             WHERE (?1 IS NULL OR substr(at, 1, 10) = ?1)
               AND (?2 IS NULL OR submission_id = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![day, submission_id, limit as i64], |r| {
            Ok(Access {
                at: r.get(0)?,
                client: r.get(1)?,
                who: r.get(2)?,
                action: r.get(3)?,
                submission_id: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Removes entries older than [`KEEP_DAYS`].
    pub fn prune_accesses(&self) -> Result<usize> {
        let cutoff = (crate::clock::now() - chrono::Duration::days(KEEP_DAYS))
            .format("%Y-%m-%d")
            .to_string();
        Ok(self.conn.execute(
            "DELETE FROM access_log WHERE substr(at, 1, 10) < ?1",
            params![cutoff],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accesses_are_kept_and_filtered() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.access("127.0.0.1", "令牌 ab12", "download_original", Some(7), "")
            .unwrap();
        j.access("127.0.0.1", "令牌 ab12", "view_submission", Some(8), "")
            .unwrap();
        let today = crate::clock::now().format("%Y-%m-%d").to_string();
        assert_eq!(j.accesses(Some(&today), None, 10).unwrap().len(), 2);
        let one = j.accesses(None, Some(7), 10).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].action, "download_original");
        assert_eq!(j.accesses(Some("2000-01-01"), None, 10).unwrap().len(), 0);
        assert_eq!(j.prune_accesses().unwrap(), 0);
    }
}
