//! The integration suite: one test binary (one link, one set of debug info)
//! holding every integration module. Each module is one subject; they share the
//! helpers in `common` (real rules, real workbook files in temp dirs, the real
//! binary). Run one subject with `cargo test --test suite <module>::`; the
//! real-binary end-to-end tests are `e2e::` (the only ones that wait on fixed
//! sleeps over 200 ms — `layout::no_long_sleep_outside_the_end_to_end_tests`).

mod annotate;
mod bad_inputs;
mod clerks;
mod common;
mod e2e;
mod history;
mod identify_and_output;
mod isolation;
mod layout;
mod lists;
mod payments;
mod pipeline;
mod real_files;
mod reminders;
mod rules_data;
mod standing;
mod township_files;
mod validate_register;
