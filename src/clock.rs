//! The daemon's clock: journal timestamps (when a file was received, hence the
//! month a period is inferred from), the daily digest, `validate`'s fallback month.
//!
//! `TAIZHANG_NOW` (RFC 3339, e.g. `2026-12-01T09:00:00+08:00`) sets the time it
//! reads, so tests and drills decide the day and hour instead of the wall clock;
//! unset, it is the local time. A test driving the daemon in-process injects
//! its clock for its own thread instead ([`fixed`]): tests of one binary run
//! side by side, each with its own time. Timers (mail retries, back-off) use the real
//! clock whatever it says; the journal orders by id, never by these timestamps.

use chrono::{DateTime, FixedOffset, Local};
use std::cell::Cell;

thread_local! {
    static FIXED: Cell<Option<DateTime<FixedOffset>>> = const { Cell::new(None) };
}

/// The clock of this thread stays at `at` until the guard is dropped (then it
/// is what it was before).
pub fn fixed(at: DateTime<FixedOffset>) -> Fixed {
    Fixed(FIXED.with(|f| f.replace(Some(at))))
}

/// What [`fixed`] returns: the thread's clock is fixed while it lives.
#[must_use = "the clock is fixed only while the guard lives"]
pub struct Fixed(Option<DateTime<FixedOffset>>);

impl Fixed {
    /// Moves this thread's fixed clock to `at`.
    pub fn set(&self, at: DateTime<FixedOffset>) {
        FIXED.with(|f| f.set(Some(at)));
    }
}

impl Drop for Fixed {
    fn drop(&mut self) {
        let before = self.0;
        FIXED.with(|f| f.set(before));
    }
}

/// Now, as the daemon's time-of-day decisions see it.
pub fn now() -> DateTime<Local> {
    if let Some(t) = FIXED.with(Cell::get) {
        return t.with_timezone(&Local);
    }
    std::env::var("TAIZHANG_NOW")
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .map(|d| d.with_timezone(&Local))
        .unwrap_or_else(Local::now)
}
