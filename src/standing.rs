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

/// Where a unit stands with a kind and period, as every reader says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitState {
    /// An accepted file counts (whatever came after it).
    Accepted,
    /// No accepted file, and the last one was rejected.
    Rejected,
    /// Nothing judged yet.
    Missing,
}

impl UnitState {
    pub fn zh(self) -> &'static str {
        match self {
            UnitState::Accepted => "已通过",
            UnitState::Rejected => "已退回",
            UnitState::Missing => "未报送",
        }
    }
}

impl UnitStanding<'_> {
    /// From the counting submission: accepted when the unit has an accepted file
    /// whose rows count (whatever came after it: a later attempt that failed is
    /// said beside it, [`UnitStanding::later_rejected`]), else rejected when its
    /// last file was rejected, else missing.
    pub fn state(&self) -> UnitState {
        if self.counting.is_some() {
            return UnitState::Accepted;
        }
        match self.latest.as_ref().and_then(|s| s.outcome) {
            Some(Outcome::Rejected) => UnitState::Rejected,
            Some(Outcome::Accepted) => UnitState::Accepted,
            _ => UnitState::Missing,
        }
    }

    /// [`UnitStanding::state`] as a clerk reads it: 已通过 / 已退回 / 未报送.
    pub fn status_zh(&self) -> &'static str {
        self.state().zh()
    }

    /// The submission a unit's row shows: the counting one, else the latest.
    pub fn shown(&self) -> Option<&Submission> {
        self.counting.as_ref().or(self.latest.as_ref())
    }

    /// A file rejected after the counting one (a corrected file that still had
    /// errors, a stray file of the same kind): said beside the unit's 已通过.
    pub fn later_rejected(&self) -> Option<&Submission> {
        self.counting.as_ref()?;
        self.latest
            .as_ref()
            .filter(|l| l.outcome == Some(Outcome::Rejected))
            .filter(|l| Some(l.id) != self.counting.as_ref().map(|c| c.id))
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

/// Every unit without an accepted ledger of some kind of a period, in the
/// county's order, with each such kind and where it stands: what 催报 is about
/// (the reminders, the page's 催报名单). `standings` are one per kind, of one period.
pub type Owing<'a, 'r> = Vec<(&'r Unit, Vec<(&'r Kind, &'a UnitStanding<'r>)>)>;

pub fn owing<'a, 'r>(standings: &'a [(&'r Kind, Standing<'r>)]) -> Owing<'a, 'r> {
    let mut out: Owing<'a, 'r> = Vec::new();
    for (kind, st) in standings {
        for u in st.units.iter().filter(|u| u.counting.is_none()) {
            match out.iter_mut().find(|(unit, _)| unit.name == u.unit.name) {
                Some((_, kinds)) => kinds.push((*kind, u)),
                None => out.push((u.unit, vec![(*kind, u)])),
            }
        }
    }
    out
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
        // A township's ledgers only: the county's lists are no unit's to send.
        .filter(|(k, _)| rules.kind(k).is_some_and(|k| !k.is_county()))
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

/// The ledgers of `kind` filed under `unit` that apply to a file whose
/// reference is bound to `bound` ([`crate::rules::Reference::bound`]): the
/// latest accepted at or before it, or with `every` (`every_up_to`) each
/// period's latest accepted up to it, oldest first. The one answer to "which
/// referenced ledger applies" — validation's journal source, the re-checks and
/// the county workbook's list of lists all ask it.
pub fn applying(
    journal: &Journal,
    unit: &str,
    kind_id: &str,
    bound: &str,
    every: bool,
) -> Result<Vec<Submission>> {
    if every {
        journal.accepted_each_period(unit, kind_id, bound)
    } else {
        Ok(journal
            .latest_accepted(unit, kind_id, bound)?
            .into_iter()
            .collect())
    }
}

/// The quarantined submissions still waiting for the county admin: a file the
/// admin released (the same bytes judged later) is no longer waiting.
pub fn still_quarantined(all: &[Submission]) -> Vec<&Submission> {
    all.iter()
        .filter(|s| s.outcome == Some(Outcome::Quarantined))
        .filter(|s| {
            !all.iter().any(|t| {
                t.id > s.id
                    && t.sha256 == s.sha256
                    && matches!(t.outcome, Some(Outcome::Accepted | Outcome::Rejected))
            })
        })
        .collect()
}

/// How a quarantine reason ends when the file's rows point at a unit: `basis`
/// (what points there), then the unit suggested. The page preselects that unit
/// ([`suggests`]); the daemon tries another basis only when none was found
/// ([`suggests_a_unit`]).
pub fn suggestion(basis: &str, unit: &str) -> String {
    format!("。{basis}，{SUGGESTED}{unit}的文件：核实后可在报送情况网页的“隔离文件”中指定单位处理")
}

const SUGGESTED: &str = "可能是";

/// Whether a quarantine reason suggests `unit` ([`suggestion`]).
pub fn suggests(reason: &str, unit: &str) -> bool {
    reason.contains(&format!("{SUGGESTED}{unit}的文件"))
}

/// Whether a quarantine reason suggests any unit ([`suggestion`]).
pub fn suggests_a_unit(reason: &str) -> bool {
    reason.contains(SUGGESTED)
}

/// The reporting period due on `today`: the month before today's (11 月的台账 is
/// reported in December).
pub fn period_due(today: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let first = today.with_day(1).unwrap_or(today);
    first
        .pred_opt()
        .unwrap_or(first)
        .format("%Y-%m")
        .to_string()
}

/// The day a period's ledgers are due: `day` of the month after the period.
pub fn deadline(period: &str, day: u32) -> Option<chrono::NaiveDate> {
    use chrono::Datelike;
    let end = crate::workbook::value::period_end(period)?;
    let next = end.succ_opt()?;
    chrono::NaiveDate::from_ymd_opt(next.year(), next.month(), day)
}

/// The columns whose values make a stored row's `person` key: the kind's
/// `person_key` and its `duplicate_with` columns (empty without consolidation).
pub fn person_columns(kind: &Kind) -> Vec<&str> {
    kind.consolidation
        .as_ref()
        .map(|c| {
            std::iter::once(c.person_key)
                .chain(c.duplicate_with.iter().copied())
                .map(|i| kind.columns[i].key.as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// A stored `person` key as a clerk reads it: `419…（护理补贴，2026-11）` for a key
/// of several columns.
pub fn key_said(key: &str) -> String {
    let mut parts = key.split('|');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}（{}）", rest.join("，"))
    }
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

/// The journal as the source of referenced ledgers (a payments ledger's
/// register): the unit's latest accepted ledger of the kind, at or before the
/// period. Used by workers (read-only) and `validate --state`.
pub struct JournalRefs {
    journal: std::sync::Mutex<Journal>,
    /// The referenced kinds' person keys (`records.person`), by kind id: a key
    /// joined on it is found through the index.
    person_keys: Vec<(String, String)>,
}

impl JournalRefs {
    pub fn new(journal: Journal, rules: &RuleSet) -> JournalRefs {
        JournalRefs {
            journal: std::sync::Mutex::new(journal),
            person_keys: rules
                .kinds
                .iter()
                .filter_map(|k| {
                    let c = k.consolidation.as_ref()?;
                    // A composite key (person and more) is no person lookup.
                    c.duplicate_with
                        .is_empty()
                        .then(|| (k.id.clone(), k.columns[c.person_key].key.clone()))
                })
                .collect(),
        }
    }

    fn by_person(&self, kind: &str, on: &str) -> bool {
        self.person_keys.iter().any(|(k, c)| k == kind && c == on)
    }
}

/// An accepted submission's stored rows as a referenced ledger: keyed by
/// `ask.on`, with the values of `ask.columns`.
fn stored_ledger(
    journal: &Journal,
    ask: &crate::validate::refs::Ask<'_>,
    sub: &Submission,
) -> Result<crate::validate::RefLedger> {
    let mut ledger = crate::validate::RefLedger {
        kind: ask.kind.to_string(),
        unit: ask.unit.to_string(),
        period: sub.period.clone().unwrap_or_default(),
        file: sub.original_name.clone(),
        submission: Some(sub.id),
        columns: ask.columns.to_vec(),
        rows: crate::validate::refs::Rows::with_capacity(sub.rows as usize),
        row_periods: false,
    };
    // Slot 0 is the key, then the columns asked for (each stored column read
    // once, whichever of them it is).
    let mut keys: Vec<&str> = vec![ask.on];
    let slots: Vec<usize> = ask
        .columns
        .iter()
        .map(|c| match keys.iter().position(|k| k == c) {
            Some(i) => i,
            None => {
                keys.push(c);
                keys.len() - 1
            }
        })
        .collect();
    journal.for_each_record(sub.id, |_, data| -> Result<()> {
        let cells = crate::journal::stored::stored_row(data, &keys)?;
        let key = crate::journal::stored::slot_text(&cells, 0);
        if key.is_empty() {
            return Ok(());
        }
        let vals: Vec<_> = slots
            .iter()
            .map(|i| crate::journal::stored::slot_text(&cells, *i))
            .collect();
        let refs: Vec<&str> = vals.iter().map(|v| v.as_ref()).collect();
        ledger.insert(key.into_owned(), &refs);
        Ok(())
    })?;
    Ok(ledger)
}

impl crate::validate::References for JournalRefs {
    fn ledger(
        &self,
        ask: &crate::validate::refs::Ask<'_>,
    ) -> std::result::Result<Option<std::borrow::Cow<'_, crate::validate::RefLedger>>, String> {
        let journal = self.journal.lock().map_err(|e| e.to_string())?;
        let subs = applying(&journal, ask.unit, ask.kind, ask.period, ask.every)
            .map_err(|e| e.to_string())?;
        let mut parts = Vec::with_capacity(subs.len());
        for sub in subs {
            parts.push(stored_ledger(&journal, ask, &sub).map_err(|e| e.to_string())?);
        }
        let one = if ask.every {
            crate::validate::RefLedger::together(parts)
        } else {
            parts.pop()
        };
        Ok(one.map(std::borrow::Cow::Owned))
    }

    fn elsewhere(
        &self,
        ask: &crate::validate::refs::Ask<'_>,
        key: &str,
    ) -> Option<(String, String)> {
        if !self.by_person(ask.kind, ask.on) {
            return None;
        }
        let journal = self.journal.lock().ok()?;
        let found = journal
            .accepted_with_person(ask.kind, ask.unit, ask.period, key)
            .ok()?;
        // Only a unit's ledger that still counts (its latest accepted) says so.
        found.into_iter().find_map(|s| {
            let unit = s.unit.clone()?;
            let latest = journal
                .latest_accepted(&unit, ask.kind, ask.period)
                .ok()??;
            (latest.id == s.id).then(|| (unit, s.original_name.clone()))
        })
    }
}
