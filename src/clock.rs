//! The daemon's clock: journal timestamps (when a file was received, hence the
//! month a period is inferred from), the daily digest, `validate`'s fallback month.
//!
//! `TAIZHANG_NOW` (RFC 3339, e.g. `2026-12-01T09:00:00+08:00`) sets the time it
//! reads, so tests and drills decide the day and hour instead of the wall clock;
//! unset, it is the local time. Timers (mail retries, back-off) use the real
//! clock whatever it says; the journal orders by id, never by these timestamps.

use chrono::{DateTime, Local};

/// Now, as the daemon's time-of-day decisions see it.
pub fn now() -> DateTime<Local> {
    std::env::var("TAIZHANG_NOW")
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .map(|d| d.with_timezone(&Local))
        .unwrap_or_else(Local::now)
}
