//! What changed in a unit's ledger since its previous one (`[consolidation.changes]`:
//! the register's 本期变动): 新增 (a person not on the previous ledger), 减少 (a
//! person whose status is no longer on the register: 死亡, 迁出, 注销, with the
//! date), 变更 (a listed column changed: old → new). Read from the journal (the
//! accepted ledger of the period and the one its `previous` reference resolves
//! to); the county workbook and the submission page render it.

use crate::journal::stored::{slot_text, stored_row};
use crate::journal::{Journal, JournalError, Submission};
use crate::rules::Kind;
use std::collections::HashMap;

/// One person as a change lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub id: String,
}

/// A changed column: its header, the value before and now.
pub type Diff = (String, String, String);

/// A unit's changes between its ledger of a period and its previous one.
#[derive(Debug, Clone, Default)]
pub struct UnitChanges {
    /// The previous ledger compared with (none: no comparison).
    pub previous: Option<Submission>,
    pub added: Vec<Person>,
    /// Each decrease with its status and date.
    pub decreased: Vec<(Person, String, String)>,
    /// Each change: the columns' headers with the old and new values.
    pub changed: Vec<(Person, Vec<Diff>)>,
}

impl UnitChanges {
    /// Decreases by status, in the order of the status column's values.
    pub fn decreased_by(&self, status: &str) -> usize {
        self.decreased
            .iter()
            .filter(|(_, s, _)| s == status)
            .count()
    }
}

/// The changes of `sub` (an accepted ledger of `kind`) since the unit's previous
/// ledger; `None` when the kind lists no changes.
pub fn of(
    journal: &Journal,
    kind: &Kind,
    sub: &Submission,
) -> Result<Option<UnitChanges>, JournalError> {
    let Some(ch) = kind.consolidation.as_ref().and_then(|c| c.changes.as_ref()) else {
        return Ok(None);
    };
    let (Some(unit), Some(period)) = (&sub.unit, &sub.period) else {
        return Ok(None);
    };
    let reference = &kind.references[ch.reference];
    let previous = journal.latest_accepted(unit, &kind.id, &reference.bound(period))?;
    let mut out = UnitChanges {
        previous: previous.clone(),
        ..UnitChanges::default()
    };
    let Some(previous) = previous else {
        return Ok(Some(out));
    };
    let keys: Vec<&str> = kind.columns.iter().map(|c| c.key.as_str()).collect();
    let person_key = reference.key;
    let name_col = kind.consolidation.as_ref().and_then(|c| c.person_name);
    let read = |id: i64| -> Result<Vec<(String, Vec<String>)>, JournalError> {
        let mut rows = Vec::new();
        journal.for_each_record(id, |_, data| -> Result<(), JournalError> {
            let cells = stored_row(data, &keys)?;
            let key = slot_text(&cells, person_key).trim().to_string();
            if !key.is_empty() {
                let vals = (0..keys.len())
                    .map(|i| slot_text(&cells, i).trim().to_string())
                    .collect();
                rows.push((key, vals));
            }
            Ok(())
        })?;
        Ok(rows)
    };
    let before: HashMap<String, Vec<String>> = read(previous.id)?.into_iter().collect();
    let status_of = |vals: &[String]| -> String {
        let s = &vals[ch.status];
        if s.is_empty() {
            ch.on_register.clone()
        } else {
            s.clone()
        }
    };
    let person = |key: &str, vals: &[String]| Person {
        id: key.to_string(),
        name: name_col.map(|i| vals[i].clone()).unwrap_or_default(),
    };
    for (key, now) in read(sub.id)? {
        let status = status_of(&now);
        let was = before.get(&key);
        if status != ch.on_register {
            // Off the register now, and it was on it (or new to it) last time.
            if was.is_none_or(|w| status_of(w) == ch.on_register) {
                let date = ch.date.map(|d| now[d].clone()).unwrap_or_default();
                out.decreased.push((person(&key, &now), status, date));
            }
            continue;
        }
        let Some(was) = was else {
            out.added.push(person(&key, &now));
            continue;
        };
        let diffs: Vec<Diff> = ch
            .columns
            .iter()
            .filter(|i| number_or_text(&was[**i]) != number_or_text(&now[**i]))
            .map(|i| {
                (
                    kind.columns[*i].header.clone(),
                    was[*i].clone(),
                    now[*i].clone(),
                )
            })
            .collect();
        if !diffs.is_empty() {
            out.changed.push((person(&key, &now), diffs));
        }
    }
    Ok(Some(out))
}

/// `80` and `80.0` are the same amount.
fn number_or_text(s: &str) -> String {
    match s.parse::<f64>() {
        Ok(x) if s.chars().any(|c| c.is_ascii_digit()) => format!("{x}"),
        _ => s.to_string(),
    }
}
