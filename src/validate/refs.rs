//! Other ledgers a file is checked against (`[[references]]`): a payments ledger
//! against its unit's register, a register against its previous one, both
//! against the county's lists of other agencies (a county-scope kind, every
//! month's death list together: [`RefLedger::together`]). Validation stays pure: the caller hands in a
//! [`References`] that says which ledger applies and gives its rows — the journal
//! in the daemon and with `validate --state` (see `crate::standing`), the files of
//! the same run on the command line ([`RunLedgers`]), or nothing ([`NoReferences`]).

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::HashMap;

/// One unit's ledger of a referenced kind, as much of it as rules read: each row's
/// key and the values of the columns asked for.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RefLedger {
    pub kind: String,
    pub unit: String,
    pub period: String,
    /// The file it came from, as sent.
    pub file: String,
    /// Its submission in the journal (None for a file of the same run).
    pub submission: Option<i64>,
    /// The columns each row's values are of, in order.
    pub columns: Vec<String>,
    /// Key → the row's values, joined by [`SEP`] (one string per row, key and
    /// values in one allocation, keeps a 200,000-person register small).
    pub rows: Rows,
    /// Several ledgers together (`every_up_to`: each month's death list): each
    /// row's values end with one more, the period of the ledger it came from;
    /// `period` and `submission` are the newest of them, `file` names them all.
    #[serde(default)]
    pub row_periods: bool,
}

/// Separates a row's values in [`RefLedger::rows`].
pub const SEP: char = '\u{1}';

/// Ends a row's key inside its one string in [`Rows`].
const KEY_END: char = '\u{2}';

/// A ledger's rows by key: each row one string (`key`, `KEY_END`, the values
/// joined by [`SEP`]) in a hash table looked up by the key part — about half
/// the memory of a map of two strings (four 200,000-row ledgers are held at
/// once when a payments ledger is checked against its register and three lists).
#[derive(Clone, Default)]
pub struct Rows {
    table: hashbrown::HashTable<Box<str>>,
    hasher: std::hash::RandomState,
}

fn key_of(row: &str) -> &str {
    row.split_once(KEY_END).map_or(row, |(k, _)| k)
}

impl Rows {
    pub fn with_capacity(n: usize) -> Rows {
        Rows {
            table: hashbrown::HashTable::with_capacity(n),
            hasher: Default::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn hash(&self, key: &str) -> u64 {
        std::hash::BuildHasher::hash_one(&self.hasher, key)
    }

    /// The values (joined by [`SEP`]) of the row with `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.table
            .find(self.hash(key), |r| key_of(r) == key)
            .map(|r| r.split_once(KEY_END).map_or("", |(_, v)| v))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Keeps a row unless one of `key` is there (the first row of a key stays).
    /// A key holding `KEY_END` has it replaced (as values do [`SEP`]).
    pub fn insert(&mut self, key: &str, values: &str) {
        self.insert_with(key, |s| s.push_str(values));
    }

    /// [`Rows::insert`] with the values written by `fill` after the key (only
    /// when the key is new: one hash, one allocation).
    pub fn insert_with(&mut self, key: &str, fill: impl FnOnce(&mut String)) {
        let key: std::borrow::Cow<'_, str> = if key.contains(KEY_END) {
            key.replace(KEY_END, " ").into()
        } else {
            key.into()
        };
        let hash = self.hash(&key);
        let hasher = &self.hasher;
        if let hashbrown::hash_table::Entry::Vacant(v) = self.table.entry(
            hash,
            |r| key_of(r) == key,
            |r| std::hash::BuildHasher::hash_one(hasher, key_of(r)),
        ) {
            let mut s = String::with_capacity(key.len() + 24);
            s.push_str(&key);
            s.push(KEY_END);
            fill(&mut s);
            v.insert(s.into_boxed_str());
        }
    }

    /// Every row: (key, values).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.table
            .iter()
            .map(|r| r.split_once(KEY_END).unwrap_or((r, "")))
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Rows;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of keys to a row's values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Rows, A::Error> {
                let mut rows = Rows::with_capacity(m.size_hint().unwrap_or(0));
                while let Some((k, v)) =
                    m.next_entry::<std::borrow::Cow<'de, str>, std::borrow::Cow<'de, str>>()?
                {
                    rows.insert(&k, &v);
                }
                Ok(rows)
            }
        }
        d.deserialize_map(Visit)
    }
}

impl RefLedger {
    /// The values of the row with `key`, in [`RefLedger::columns`] order.
    pub fn row(&self, key: &str) -> Option<std::str::Split<'_, char>> {
        self.rows.get(key).map(|v| v.split(SEP))
    }

    /// Keeps a row (later rows of the same key do not replace the first).
    pub fn insert(&mut self, key: String, values: &[&str]) {
        self.rows.insert_with(&key, |s| {
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    s.push(SEP);
                }
                // The separator cannot be in a value: a cell holding it is read as
                // text with it replaced.
                if v.contains(SEP) {
                    s.push_str(&v.replace(SEP, " "));
                } else {
                    s.push_str(v);
                }
            }
        });
    }
}

impl RefLedger {
    /// Several ledgers of one kind as one (`every_up_to`): oldest first, a key's
    /// first row stays (the earliest death record of a person), and each row
    /// carries the period of its ledger ([`RefLedger::row_periods`]).
    pub fn together(mut parts: Vec<RefLedger>) -> Option<RefLedger> {
        parts.sort_by(|a, b| a.period.cmp(&b.period));
        let last = parts.last()?;
        let mut out = RefLedger {
            period: last.period.clone(),
            submission: parts.iter().filter_map(|p| p.submission).max(),
            file: parts
                .iter()
                .map(|p| p.file.as_str())
                .collect::<Vec<_>>()
                .join("、"),
            columns: last.columns.clone(),
            rows: Rows::with_capacity(parts.iter().map(|p| p.rows.len()).sum()),
            row_periods: true,
            ..last.clone_header()
        };
        let n = out.columns.len();
        for p in &parts {
            for (k, v) in p.rows.iter() {
                // The values, then (unless they carry it already) the period.
                out.rows.insert_with(k, |s| {
                    s.push_str(v);
                    if !p.row_periods {
                        if n > 0 {
                            s.push(SEP);
                        }
                        s.push_str(&p.period);
                    }
                });
            }
        }
        Some(out)
    }

    /// The periods of the ledgers together in this one (its own when one).
    pub fn periods(&self) -> Vec<String> {
        if !self.row_periods {
            return vec![self.period.clone()];
        }
        let mut out: Vec<String> = self
            .rows
            .iter()
            .filter_map(|(_, v)| v.rsplit(SEP).next().map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// What of a file to keep as a ledger others are checked against: for a file of
/// `kind`, its rows keyed by `on`, with the values of `columns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSpec {
    pub kind: String,
    pub on: String,
    pub columns: Vec<String>,
}

impl LedgerSpec {
    /// What the kinds of `rules` read of other kinds: one spec per referenced kind.
    pub fn all(rules: &crate::rules::RuleSet) -> Vec<LedgerSpec> {
        let mut out: Vec<LedgerSpec> = Vec::new();
        for r in rules.kinds.iter().flat_map(|k| &k.references) {
            let i = match out.iter().position(|s| s.kind == r.kind && s.on == r.on) {
                Some(i) => i,
                None => {
                    out.push(LedgerSpec {
                        kind: r.kind.clone(),
                        on: r.on.clone(),
                        columns: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            for (c, _) in &r.columns {
                if !out[i].columns.contains(c) {
                    out[i].columns.push(c.clone());
                }
            }
        }
        out
    }
}

/// Which ledger is asked for: of `kind`, the unit's latest accepted one at or
/// before `period`, with the values of `columns`, keyed by column `on`.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub kind: &'a str,
    pub unit: &'a str,
    pub period: &'a str,
    pub on: &'a str,
    pub columns: &'a [String],
    /// Every period's ledger up to `period`, together (`every_up_to`), not the
    /// latest alone.
    pub every: bool,
}

/// Where referenced ledgers come from.
pub trait References: Sync {
    /// The ledger a file is checked against, or None when the unit has none on
    /// file. An error is the source failing (the file is then not judged on it).
    fn ledger(&self, ask: &Ask<'_>) -> Result<Option<Cow<'_, RefLedger>>, String>;

    /// Another unit whose ledger of the kind (latest accepted at or before the
    /// period) has `key`: (unit, file).
    fn elsewhere(&self, ask: &Ask<'_>, key: &str) -> Option<(String, String)>;
}

/// No other ledger is known: every reference is missing.
pub struct NoReferences;

impl References for NoReferences {
    fn ledger(&self, _: &Ask<'_>) -> Result<Option<Cow<'_, RefLedger>>, String> {
        Ok(None)
    }
    fn elsewhere(&self, _: &Ask<'_>, _: &str) -> Option<(String, String)> {
        None
    }
}

/// Ledgers of the same run (files validated together), in front of another
/// source (the journal of `--state`) that answers what they do not.
pub struct RunLedgers<'a> {
    pub ledgers: &'a [RefLedger],
    pub behind: &'a dyn References,
}

impl RunLedgers<'_> {
    fn latest<'x>(&'x self, kind: &str, unit: &str, period: &str) -> Option<&'x RefLedger> {
        self.ledgers
            .iter()
            .filter(|l| l.kind == kind && l.unit == unit && l.period.as_str() <= period)
            .max_by(|a, b| a.period.cmp(&b.period))
    }

    /// Whether the run has a ledger of `kind` that a file of `unit` and `period`
    /// is checked against.
    pub fn has(&self, kind: &str, unit: &str, period: &str) -> bool {
        self.latest(kind, unit, period).is_some()
    }
}

impl References for RunLedgers<'_> {
    fn ledger(&self, ask: &Ask<'_>) -> Result<Option<Cow<'_, RefLedger>>, String> {
        if ask.every {
            // Each period's ledger of the run (the last given of a period), then
            // those of other periods the source behind has.
            let mut given: Vec<&RefLedger> = Vec::new();
            for l in self.ledgers.iter().filter(|l| {
                l.kind == ask.kind && l.unit == ask.unit && l.period.as_str() <= ask.period
            }) {
                given.retain(|m| m.period != l.period);
                given.push(l);
            }
            let behind = self.behind.ledger(ask)?;
            // One ledger of one period: as it is (its period is every row's).
            if let ([l], None) = (given.as_slice(), &behind) {
                if l.columns.starts_with(ask.columns) {
                    return Ok(Some(Cow::Borrowed(*l)));
                }
            }
            let mut mine: Vec<RefLedger> = given.iter().map(|l| project(l, ask.columns)).collect();
            if let Some(behind) = behind {
                let n = ask.columns.len();
                let rest = behind.clone_header();
                let mut by_period: HashMap<String, RefLedger> = HashMap::new();
                for (k, v) in behind.rows.iter() {
                    let mut vals: Vec<&str> = v.split(SEP).collect();
                    let period = if behind.row_periods && vals.len() > n {
                        vals.pop().unwrap_or_default()
                    } else {
                        behind.period.as_str()
                    };
                    if mine.iter().any(|m| m.period == period) {
                        continue;
                    }
                    by_period
                        .entry(period.to_string())
                        .or_insert_with(|| RefLedger {
                            period: period.to_string(),
                            ..rest.clone_header()
                        })
                        .insert(k.to_string(), &vals);
                }
                for (_, mut l) in by_period {
                    l.columns = ask.columns.to_vec();
                    mine.push(l);
                }
            }
            return Ok(RefLedger::together(mine).map(Cow::Owned));
        }
        match self.latest(ask.kind, ask.unit, ask.period) {
            // The run's ledger as it is when its columns begin with those asked
            // for, in the order asked (a row's values are read in order, the rest
            // ignored): no copy of a large register.
            Some(l) if l.columns.starts_with(ask.columns) => Ok(Some(Cow::Borrowed(l))),
            Some(l) => Ok(Some(Cow::Owned(project(l, ask.columns)))),
            None => self.behind.ledger(ask),
        }
    }

    fn elsewhere(&self, ask: &Ask<'_>, key: &str) -> Option<(String, String)> {
        let mut units: Vec<&str> = self
            .ledgers
            .iter()
            .filter(|l| l.kind == ask.kind && l.unit != ask.unit)
            .map(|l| l.unit.as_str())
            .collect();
        units.sort_unstable();
        units.dedup();
        units
            .into_iter()
            .filter_map(|u| self.latest(ask.kind, u, ask.period))
            .find(|l| l.rows.contains_key(key))
            .map(|l| (l.unit.clone(), l.file.clone()))
            .or_else(|| self.behind.elsewhere(ask, key))
    }
}

/// A ledger with only `columns` (in that order; a column it lacks is blank).
fn project(l: &RefLedger, columns: &[String]) -> RefLedger {
    let pos: Vec<Option<usize>> = columns
        .iter()
        .map(|c| l.columns.iter().position(|x| x == c))
        .collect();
    let mut out = RefLedger {
        columns: columns.to_vec(),
        rows: Rows::with_capacity(l.rows.len()),
        ..l.clone_header()
    };
    let mut vals: Vec<&str> = Vec::new();
    for (k, v) in l.rows.iter() {
        let all: Vec<&str> = v.split(SEP).collect();
        vals.clear();
        vals.extend(
            pos.iter()
                .map(|p| p.and_then(|p| all.get(p).copied()).unwrap_or("")),
        );
        out.insert(k.to_string(), &vals);
    }
    out
}

impl RefLedger {
    fn clone_header(&self) -> RefLedger {
        RefLedger {
            kind: self.kind.clone(),
            unit: self.unit.clone(),
            period: self.period.clone(),
            file: self.file.clone(),
            submission: self.submission,
            columns: Vec::new(),
            rows: Rows::default(),
            row_periods: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::samples::{payment_row, payments, people, Register};
    use crate::validate::{validate_path, validate_with, Options};

    /// The eligibility rules read the row's own 补贴类型 and the register's level
    /// and category: with `cel` (whose verdicts are memoised by their inputs) and
    /// natively, exactly the ineligible persons' rows fire — a memo keyed on the
    /// ledger's own columns alone would give every 护理补贴 row the first verdict.
    #[test]
    fn rules_over_a_reference_see_each_rows_own_register_values() {
        let rules = RuleSet::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap();
        let code = rules.county.unit("柳河镇").unwrap().code.clone();
        let ps = people(&code, &rules.villages_of("柳河镇"), 400, 9);
        let reg_path = dir.path().join("柳河镇_残疾人信息登记簿_2026-11.xlsx");
        Register::new("柳河镇", &ps).write(&reg_path).unwrap();
        let mut pay = payments("柳河镇", &ps, "2026-11");
        pay.after_rows.clear();
        // 护理补贴 at 60 for everyone not eligible, interleaved with the eligible.
        let mut ineligible = Vec::new();
        for p in ps.iter().filter(|p| p.nursing == 0.0) {
            pay.rows.push(payment_row(p, "护理补贴", "2026-11", 60.0));
            ineligible.push(pay.cell(pay.rows.len() - 1, "subsidy_type"));
        }
        assert!(ineligible.len() > 100, "{}", ineligible.len());
        let pay_path = dir.path().join("柳河镇_两项补贴发放台账_2026-11.xlsx");
        pay.write(&pay_path).unwrap();
        let reg = validate_path(
            &rules,
            &reg_path,
            &Options {
                as_ledger: LedgerSpec::all(&rules),
                ..Options::default()
            },
        );
        assert_eq!(reg.errors, 0);
        let ledgers: Vec<RefLedger> = reg.ledger.into_iter().collect();
        assert_eq!(ledgers.len(), 1);
        let refs = RunLedgers {
            ledgers: &ledgers,
            behind: &NoReferences,
        };
        for reference_cel in [false, true] {
            let opts = Options {
                reference_cel,
                single_thread: true,
                ..Options::default()
            };
            let r = validate_with(&rules, &pay_path, &opts, &refs);
            let mut fired: Vec<String> = r
                .findings
                .iter()
                .filter(|f| f.rule == "nursing_subsidy_eligible")
                .filter_map(|f| f.cell.clone())
                .collect();
            fired.sort();
            let mut want = ineligible.clone();
            want.sort();
            assert_eq!(fired, want, "reference_cel = {reference_cel}");
            assert_eq!(r.errors, want.len(), "{:#?}", r.findings);
        }
    }

    #[test]
    fn a_ledger_of_the_run_answers_for_its_unit_and_names_others() {
        let mut a = RefLedger {
            kind: "register".into(),
            unit: "柳河镇".into(),
            period: "2026-10".into(),
            file: "a.xlsx".into(),
            columns: vec!["level".into(), "low_income".into()],
            ..RefLedger::default()
        };
        a.insert("X1".into(), &["一级", "是"]);
        a.insert("X1".into(), &["二级", "否"]);
        let mut b = a.clone();
        b.unit = "石桥镇".into();
        b.file = "b.xlsx".into();
        b.rows = Rows::default();
        b.insert("Y1".into(), &["三\u{1}级", ""]);
        let ledgers = [a, b];
        let run = RunLedgers {
            ledgers: &ledgers,
            behind: &NoReferences,
        };
        let cols = vec!["low_income".to_string()];
        let ask = Ask {
            kind: "register",
            unit: "柳河镇",
            period: "2026-11",
            on: "id_number",
            columns: &cols,
            every: false,
        };
        let l = run.ledger(&ask).unwrap().unwrap();
        // The first row of a key stays; only the columns asked for, in order.
        assert_eq!(l.row("X1").unwrap().collect::<Vec<_>>(), ["是"]);
        assert_eq!(
            run.elsewhere(&ask, "Y1"),
            Some(("石桥镇".into(), "b.xlsx".into()))
        );
        assert_eq!(run.elsewhere(&ask, "X1"), None);
        // A separator inside a value cannot shift the columns.
        assert_eq!(ledgers[1].row("Y1").unwrap().count(), 2);
        // A ledger of a later period than asked is not the one.
        let early = Ask {
            period: "2026-09",
            ..ask
        };
        assert!(run.ledger(&early).unwrap().is_none());
    }

    /// `every_up_to`: each period's ledger of the run (the last given of a
    /// period), oldest first, a key's first row kept, each row with its period;
    /// none past the period asked.
    #[test]
    fn every_ledger_up_to_a_period_is_one_with_each_rows_period() {
        let list = |period: &str, file: &str, rows: &[(&str, &str)]| {
            let mut l = RefLedger {
                kind: "deaths".into(),
                unit: crate::rules::COUNTY_LISTS.into(),
                period: period.into(),
                file: file.into(),
                columns: vec!["death_date".into()],
                ..RefLedger::default()
            };
            for (k, v) in rows {
                l.insert(k.to_string(), &[v]);
            }
            l
        };
        let ledgers = [
            list("2026-09", "a.xlsx", &[("A", "2026-09-01")]),
            list(
                "2026-10",
                "b.xlsx",
                &[("B", "2026-10-02"), ("A", "2026-10-09")],
            ),
            list("2026-10", "b2.xlsx", &[("B", "2026-10-03")]),
            list("2026-12", "c.xlsx", &[("C", "2026-12-01")]),
        ];
        let run = RunLedgers {
            ledgers: &ledgers,
            behind: &NoReferences,
        };
        let cols = vec!["death_date".to_string()];
        let ask = Ask {
            kind: "deaths",
            unit: crate::rules::COUNTY_LISTS,
            period: "2026-11",
            on: "id_number",
            columns: &cols,
            every: true,
        };
        let l = run.ledger(&ask).unwrap().unwrap();
        assert!(l.row_periods);
        assert_eq!(l.periods(), ["2026-09", "2026-10"]);
        assert_eq!(l.period, "2026-10");
        assert_eq!(
            l.row("A").unwrap().collect::<Vec<_>>(),
            ["2026-09-01", "2026-09"]
        );
        assert_eq!(
            l.row("B").unwrap().collect::<Vec<_>>(),
            ["2026-10-03", "2026-10"]
        );
        assert!(l.row("C").is_none());
        // With no column asked, the period alone.
        let none: Vec<String> = Vec::new();
        let l = run
            .ledger(&Ask {
                columns: &none,
                ..ask
            })
            .unwrap()
            .unwrap();
        assert_eq!(l.row("B").unwrap().collect::<Vec<_>>(), ["2026-10"]);
    }
}
