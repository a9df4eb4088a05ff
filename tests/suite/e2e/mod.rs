//! End to end: the real binary, for what only it shows — native file events
//! and polling, slow copies and Excel-style saves as they land, signals and
//! `kill -9`, the state lock, a real SMTP server that is down, slow or refuses,
//! the status page over HTTP(S) and in a browser. These tests wait on the
//! world (a watcher's event, a server's reply, an idle window measured) and so
//! are the only ones allowed a fixed sleep over 200 ms; the daemon's logic
//! itself is tested in-process in `pipeline` (one pass at a time, the clock
//! injected, nothing to wait for).

mod daemon;
mod faults;
mod mail;
pub(crate) mod web;
