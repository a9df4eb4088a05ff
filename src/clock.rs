//! The daemon's clock for what happens at a time of day (the daily digest).
//!
//! `TAIZHANG_NOW` (RFC 3339, e.g. `2026-12-01T09:00:00+08:00`) sets the time it
//! reads, so tests and drills decide the hour instead of the wall clock; unset,
//! it is the local time. Journal timestamps always use the real clock.

use chrono::{DateTime, Local};

/// Now, as the daemon's time-of-day decisions see it.
pub fn now() -> DateTime<Local> {
    std::env::var("TAIZHANG_NOW")
        .ok()
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .map(|d| d.with_timezone(&Local))
        .unwrap_or_else(Local::now)
}
