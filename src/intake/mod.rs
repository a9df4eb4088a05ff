//! Intake: everything about a received file before it is read as a ledger.
//! Today: identifying the submitting unit and the period ([`identify`]).

pub mod identify;
