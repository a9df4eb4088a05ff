//! Column constraints (required, enum values, regex, length, bounds, lookups,
//! uniqueness) and built-in checks, one kind of check at a time over the
//! columns that declare it (a per-sheet [`Plan`]).

use super::*;

/// The columns each of `constraints`' checks applies to, made once per sheet. A
/// row is nothing_to_check one kind of check at a time over the columns that declare it,
/// instead of every column asking every question: columns with nothing to check
/// cost nothing, and each loop's branches go the same way row after row (8 % fewer
/// instructions for checking than column by column, a few per cent of wall time:
/// BENCHMARKS.md, round 4).
#[derive(Default)]
pub(super) struct Plan<'k> {
    /// Required columns a blank does not fill by default.
    pub(super) required: Vec<usize>,
    /// Enum columns, and whether a blank means one of the values (`blank_means`).
    pub(super) enums: Vec<(usize, bool)>,
    pub(super) regex: Vec<(usize, &'k regex::Regex)>,
    pub(super) length: Vec<(usize, usize)>,
    /// Columns with `min` or `max`, and those bounds.
    pub(super) range: Vec<(usize, Option<f64>, Option<f64>)>,
    pub(super) lookup: Vec<(usize, &'k Lookup)>,
    pub(super) checks: Vec<(usize, &'k ColumnCheck)>,
    pub(super) unique: Vec<(usize, UniqueScope)>,
    /// Columns unique together with others.
    pub(super) unique_with: Vec<(usize, &'k [usize])>,
}

impl<'k> Plan<'k> {
    pub(super) fn new(kind: &'k Kind) -> Self {
        let mut p = Plan::default();
        for (i, c) in kind.columns.iter().enumerate() {
            let filled_by_default = c.ty == ColumnType::Enum && c.blank_means.is_some();
            if c.required && !filled_by_default {
                p.required.push(i);
            }
            if c.ty == ColumnType::Enum {
                p.enums.push((i, filled_by_default));
            }
            p.regex.extend(c.regex.as_ref().map(|re| (i, re)));
            p.length.extend(c.length.map(|len| (i, len)));
            if c.min.is_some() || c.max.is_some() {
                p.range.push((i, c.min, c.max));
            }
            p.lookup.extend(c.lookup.as_ref().map(|l| (i, l)));
            p.checks.extend(c.checks.iter().map(|k| (i, k)));
            p.unique.extend(c.unique.map(|scope| (i, scope)));
            if !c.unique_with.is_empty() {
                p.unique_with.push((i, &c.unique_with));
            }
        }
        p
    }
}

impl SheetPass<'_> {
    /// The columns' own checks on one row (`required`, `enum`, `regex`, `length`,
    /// `min`/`max`, `lookup`, `unique`, built-in checks), each over the columns of
    /// the `plan` that declare it. Findings are rare: each is decided with borrows
    /// and reported afterwards. A cell's findings come in the order above.
    pub(super) fn constraints(&mut self, plan: &Plan, r: u32, cells: &[(u32, Cell<'_>)]) {
        let kind = self.kind;
        for &i in &plan.required {
            if self.norms[i].blank && self.present(i) {
                self.report(r, i, "required", "", &|_| None, cells);
            }
        }
        for &(i, filled_by_default) in &plan.enums {
            let n = &self.norms[i];
            if n.enum_index.is_none() && (!n.blank || filled_by_default) {
                let values = kind.columns[i].values.join("、");
                self.report(r, i, "enum", &values, &|_| None, cells);
            }
        }
        for &(i, re) in &plan.regex {
            let n = &self.norms[i];
            if !n.nothing_to_check && !re.is_match(&n.text) {
                self.report(r, i, "regex", re.as_str(), &|_| None, cells);
            }
        }
        for &(i, len) in &plan.length {
            let n = &self.norms[i];
            if !n.nothing_to_check && n.text.chars().count() != len {
                self.report(r, i, "length", &len.to_string(), &|_| None, cells);
            }
        }
        for &(i, min, max) in &plan.range {
            let n = &self.norms[i];
            let (Some(v), false) = (n.num, n.nothing_to_check) else {
                continue;
            };
            if let Some(min) = min.filter(|m| v < *m) {
                self.report(r, i, "min", &number_text(min), &|_| None, cells);
            }
            if let Some(max) = max.filter(|m| v > *m) {
                self.report(r, i, "max", &number_text(max), &|_| None, cells);
            }
        }
        for &(i, l) in &plan.lookup {
            let n = &self.norms[i];
            if n.nothing_to_check {
                continue;
            }
            let ok = match (&self.unit, l.scoped) {
                (Some(u), true) => l.by_scope.get(u).is_some_and(|set| set.contains(&n.text)),
                _ => l.values.contains(&n.text),
            };
            if !ok {
                self.report(r, i, "lookup", "", &|_| None, cells);
            }
        }
        for &(i, others) in &plan.unique_with {
            let cols = std::iter::once(i).chain(others.iter().copied());
            if cols.clone().any(|j| self.norms[j].bad) || self.norms[i].blank {
                continue;
            }
            let mut joined = String::new();
            for j in cols {
                joined.push_str(&self.norms[j].text);
                joined.push('\u{1f}');
            }
            let first = seen_first(&mut self.first_seen_with, (i, hash128(&joined)), r);
            self.report_repeat(first, r, i, "unique_with", cells);
        }
        for &(i, scope) in &plan.unique {
            if self.norms[i].nothing_to_check {
                continue;
            }
            let first = seen_first(&mut self.first_seen[i], hash128(&self.norms[i].text), r);
            self.report_repeat(first, r, i, "unique_file", cells);
            if scope == UniqueScope::County && self.opts.cross_file {
                if let Some(c) = self.header.as_ref().and_then(|h| h.columns[i]) {
                    self.out.county_keys.push(CountyKey {
                        column: i,
                        value: self.norms[i].text.clone(),
                        row: r,
                        col: c,
                    });
                }
            }
        }
        for &(i, chk) in &plan.checks {
            let n = &self.norms[i];
            if n.nothing_to_check {
                continue;
            }
            let mut params: [ParamValue<'_>; 4] = [ParamValue {
                text: "",
                enum_index: None,
            }; 4];
            for (k, p) in chk.params.iter().take(4).enumerate() {
                params[k] = ParamValue {
                    text: &self.norms[*p].text,
                    enum_index: self.norms[*p].enum_index,
                };
            }
            let outcome = chk.check.check(&CheckInput {
                cell: self.cell(i, cells),
                text: &n.text,
                params: &params[..chk.params.len().min(4)],
            });
            if let Some((meta, expected)) =
                outcome.and_then(|o| Some((chk.outcomes.get(o.code)?.clone(), o.expected)))
            {
                self.report_meta(r, i, &meta, &expected, &|_| None, cells);
            }
        }
    }
}

/// The row a key was first seen in, if before `r`; else `r` is remembered as its first.
fn seen_first<K: std::hash::Hash + Eq>(
    seen: &mut FxHashMap<K, u32>,
    key: K,
    r: u32,
) -> Option<u32> {
    match seen.entry(key) {
        std::collections::hash_map::Entry::Occupied(first) => Some(*first.get()),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(r);
            None
        }
    }
}

impl SheetPass<'_> {
    /// A value repeated from row `first` (`{other_row}` in the message).
    fn report_repeat(
        &mut self,
        first: Option<u32>,
        r: u32,
        i: usize,
        constraint: &str,
        cells: &[(u32, Cell<'_>)],
    ) {
        if let Some(first) = first {
            let other = (first + 1).to_string();
            let extra = |k: &str| (k == "other_row").then(|| other.clone());
            self.report(r, i, constraint, "", &extra, cells);
        }
    }
}

/// A 128-bit key of a value, for uniqueness checks without keeping the values.
/// Exact (no collisions) for text of digits and `X` up to 32 characters — IDs,
/// certificate numbers, phone numbers — and for any text up to 15 bytes; a
/// 128-bit hash of anything longer.
pub(super) fn hash128(s: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let b = s.as_bytes();
    // The top byte tells the three forms apart: 0x00–0x0F short text (its length),
    // 0x40–0x60 digits (0x40 + length), 0xFF hashed.
    if b.len() <= 15 {
        let mut k = [0u8; 16];
        k[..b.len()].copy_from_slice(b);
        k[15] = b.len() as u8;
        return u128::from_le_bytes(k);
    }
    if b.len() <= 32 && b.iter().all(|c| c.is_ascii_digit() || *c == b'X') {
        // Base 11: 11^32 < 2^111, so the length byte above stays clear.
        let n = b.iter().fold(0u128, |n, c| {
            n * 11 + if *c == b'X' { 10 } else { u128::from(c - b'0') }
        });
        return (0x40 + b.len() as u128) << 120 | n;
    }
    let mut a = std::hash::DefaultHasher::new();
    let mut h = std::hash::DefaultHasher::new();
    0xA5u8.hash(&mut h);
    s.hash(&mut a);
    s.hash(&mut h);
    0xFF << 120 | (u128::from(a.finish()) << 64 | u128::from(h.finish())) >> 8
}

#[cfg(test)]
mod tests {
    use super::hash128;

    #[test]
    fn uniqueness_keys_are_exact_for_ids_and_short_text() {
        let values = [
            "",
            "0",
            "00",
            "X",
            "张三",
            "11010519491231002X",
            "110105194912310021",
            "110105194912310020",
            "1101051949123100210",
            "11010519491231002X11",
            "11010519491231002X12",
            "0371-6543210",
            "a text longer than fifteen bytes",
            "a text longer than fifteen bytez",
            "12345678901234567890123456789012",
            "123456789012345678901234567890123",
        ];
        let mut keys: Vec<u128> = values.iter().map(|v| hash128(v)).collect();
        assert_eq!(hash128("11010519491231002X"), keys[5], "stable");
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), values.len());
    }
}
