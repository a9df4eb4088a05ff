//! Where each unit stands: the read model every reader asks (the county
//! workbook, `status`, duplicate notices, and later the web page and the
//! cross-ledger lookup).
//!
//! For a ledger kind and period, each unit of the county has a **latest**
//! submission (the last one judged, accepted or rejected) and a **counting** one
//! (the last accepted: its rows are the unit's in the county workbook). A file
//! that is not a known ledger kind, a quarantined file and a duplicate never
//! change a unit's standing for any kind.

use crate::journal::{Journal, Outcome, Result, Submission};
use crate::rules::{Kind, RuleSet, Unit};

/// One unit's standing for a kind and period.
#[derive(Debug, Clone)]
pub struct UnitStanding<'r> {
    pub unit: &'r Unit,
    /// The last submission judged (accepted or rejected).
    pub latest: Option<Submission>,
    /// The last accepted submission: the one whose rows count.
    pub counting: Option<Submission>,
}

impl UnitStanding<'_> {
    /// What a clerk sees: 已通过 / 已退回 / 未报送.
    pub fn status_zh(&self) -> &'static str {
        self.latest
            .as_ref()
            .and_then(|s| s.outcome)
            .map_or("未报送", |o| o.zh())
    }

    /// The counting submission when it is not the latest (the latest was rejected
    /// and an earlier accepted file still counts).
    pub fn counting_older(&self) -> Option<&Submission> {
        self.counting
            .as_ref()
            .filter(|c| Some(c.id) != self.latest.as_ref().map(|l| l.id))
    }
}

/// Every unit's standing for one kind and period, in the county's unit order.
#[derive(Clone)]
pub struct Standing<'r> {
    pub kind_id: String,
    /// The kind's rules (None for a kind no longer in the rules folder).
    pub kind: Option<&'r Kind>,
    pub period: String,
    pub units: Vec<UnitStanding<'r>>,
    /// The newest time a submission of this kind and period was received.
    pub newest_received: Option<String>,
}

impl Standing<'_> {
    /// The counting submissions, in unit order.
    pub fn counting(&self) -> impl Iterator<Item = (&Unit, &Submission)> {
        self.units
            .iter()
            .filter_map(|u| u.counting.as_ref().map(|c| (u.unit, c)))
    }
}

/// The standing of `kind_id` for `period`.
pub fn of<'r>(
    rules: &'r RuleSet,
    journal: &Journal,
    kind_id: &str,
    period: &str,
) -> Result<Standing<'r>> {
    let subs = journal.for_kind_period(kind_id, period)?;
    let units = rules
        .county
        .units
        .iter()
        .map(|u| {
            let judged: Vec<&Submission> = subs
                .iter()
                .filter(|s| {
                    s.unit.as_deref() == Some(u.name.as_str())
                        && matches!(s.outcome, Some(Outcome::Accepted | Outcome::Rejected))
                })
                .collect();
            UnitStanding {
                unit: u,
                latest: judged.last().map(|s| (*s).clone()),
                counting: judged
                    .iter()
                    .rev()
                    .find(|s| s.outcome == Some(Outcome::Accepted))
                    .map(|s| (*s).clone()),
            }
        })
        .collect();
    Ok(Standing {
        kind_id: kind_id.to_string(),
        kind: rules.kind(kind_id),
        period: period.to_string(),
        units,
        newest_received: subs.iter().map(|s| s.received_at.clone()).max(),
    })
}

/// The standing of every kind and period the journal has judged files for,
/// oldest period first.
pub fn all<'r>(rules: &'r RuleSet, journal: &Journal) -> Result<Vec<Standing<'r>>> {
    journal
        .kind_periods()?
        .iter()
        .map(|(k, p)| of(rules, journal, k, p))
        .collect()
}

/// A unit's latest accepted ledger of a kind for `period` or an earlier one (what
/// a ledger of another kind is checked against).
pub fn latest_accepted(
    journal: &Journal,
    unit: &str,
    kind_id: &str,
    at_or_before: &str,
) -> Result<Option<Submission>> {
    journal.latest_accepted(unit, kind_id, at_or_before)
}

/// A person found in more than one unit's counting ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossDuplicate {
    pub key: String,
    pub name: String,
    /// (unit, submission id, file, Excel row) of each occurrence.
    pub places: Vec<(String, i64, String, u32)>,
}

/// Persons in more than one unit's counting ledger of a standing, ordered by key
/// (the kind's `person_key`; found in SQL, in bounded memory). A person twice in
/// one unit's file is that file's own business, not listed here.
pub fn cross_unit_duplicates(
    journal: &Journal,
    standing: &Standing<'_>,
) -> Result<Vec<CrossDuplicate>> {
    let Some(kind) = standing.kind else {
        return Ok(Vec::new());
    };
    let Some(cons) = &kind.consolidation else {
        return Ok(Vec::new());
    };
    let name_key = cons.person_name.map(|i| kind.columns[i].key.as_str());
    let counting: Vec<(&Unit, &Submission)> = standing.counting().collect();
    let ids: Vec<i64> = counting.iter().map(|(_, s)| s.id).collect();
    let mut duplicates: Vec<CrossDuplicate> = Vec::new();
    for (person, sid, row, data) in journal.shared_persons(&ids)? {
        let Some((unit, sub)) = counting.iter().find(|(_, s)| s.id == sid) else {
            continue;
        };
        if duplicates.last().map(|d| &d.key) != Some(&person) {
            let name = name_key
                .and_then(|k| {
                    serde_json::from_str::<serde_json::Value>(&data)
                        .ok()?
                        .get(k)?
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_default();
            duplicates.push(CrossDuplicate {
                key: person.clone(),
                name,
                places: Vec::new(),
            });
        }
        if let Some(d) = duplicates.last_mut() {
            d.places
                .push((unit.name.clone(), sid, sub.original_name.clone(), row));
        }
    }
    duplicates.retain(|d| d.places.iter().any(|p| p.0 != d.places[0].0));
    duplicates.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(duplicates)
}
