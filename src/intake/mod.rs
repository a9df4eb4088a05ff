//! Intake: everything about a received file before it is read as a ledger.
//!
//! - [`inbox`]: which entries of the inbox are submissions, and when each is
//!   complete (settled).
//! - [`archive`]: the received bytes, hashed and kept durably before the inbox
//!   copy is removed.
//! - [`identify`]: who sent a file and for which month, from every source that
//!   says so (sub-folder, file name, the text above the header).

pub mod archive;
pub mod identify;
pub mod inbox;
