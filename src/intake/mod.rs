//! Intake: everything about a received file before it is read as a ledger.
//!
//! - [`inbox`]: which entries of the inbox are submissions, and when each is
//!   complete (settled).
//! - [`archive`]: the received bytes, hashed and kept durably before the inbox
//!   copy is removed.
//!
//! Who sent a file and for which month is [`crate::identify`]'s question (pure,
//! asked by validation too).

pub mod archive;
pub mod inbox;
