//! Which ledger a workbook is and which of its sheets to check.
//!
//! A sheet is a candidate for a kind when it has the kind's standard name or a
//! header naming all of its `recognise_by` columns; when several kinds have
//! candidates, the kind whose header names the most of its declared columns is the
//! file's (a register with an extra 补贴类型 column is still a register). One
//! candidate is checked.
//! Among several (`10月`, `11月`; a copy of last month), the one whose name or
//! `填报日期` matches the file's period is checked and the others are named in a
//! warning; when that does not decide it, or the sheets belong to different
//! units, the file is refused ("一个文件只报送一个单位、一个月份的台账").

use super::sheet::title_lines;
use super::*;

/// A sheet that looks like a kind's detail sheet, with its first rows (read
/// only when needed: a sheet known by its name is not read twice).
pub(super) struct Candidate {
    pub(super) name: String,
    pub(super) rows: Option<TextRows>,
}

/// Finds which ledger kind a workbook is, and its candidate detail sheets: by
/// the sheet's standard name, or by a header naming all of the kind's
/// `recognise_by` columns, in any of the first 20 sheets.
pub(super) fn recognise<'r>(
    book: &mut Book,
    rules: &'r RuleSet,
) -> Result<(&'r Kind, Vec<Candidate>), String> {
    let names = book.sheet_names();
    let scan = rules
        .kinds
        .iter()
        .map(|k| k.header_scan_rows)
        .max()
        .unwrap_or(30);
    // Sheets with a kind's standard name are candidates by name alone: a big
    // .xls sheet is read whole, so it is not read here as well.
    let standard: Vec<String> = rules.kinds.iter().map(|k| header_key(&k.sheet)).collect();
    let mut heads: Vec<(String, Option<TextRows>)> = Vec::new();
    for sheet in names.iter().take(20) {
        let rows = if standard.contains(&header_key(sheet)) {
            None
        } else {
            Some(head_rows(book, sheet, scan).map_err(|e| e.to_string())?)
        };
        heads.push((sheet.clone(), rows));
    }
    // Each kind's candidates; the kind whose best sheet names the most of its
    // declared columns wins (a kind found by its sheet name alone counts as found
    // when no kind is found by a header), then the one earlier in the rules.
    let mut found_kinds: Vec<(&Kind, Vec<Candidate>)> = Vec::new();
    for kind in &rules.kinds {
        let specs = kind.header_specs();
        let mut found = Vec::new();
        for (sheet, rows) in &heads {
            let named = header_key(sheet) == header_key(&kind.sheet);
            let headed = rows.as_ref().is_some_and(|rows| {
                find_header(rows, &specs, kind.recognise_by.len())
                    .is_some_and(|m| kind.recognise_by.iter().all(|i| m.columns[*i].is_some()))
            });
            if named || headed {
                found.push(Candidate {
                    name: sheet.clone(),
                    rows: rows.clone(),
                });
            }
        }
        if !found.is_empty() {
            found_kinds.push((kind, found));
        }
    }
    if found_kinds.len() > 1 {
        let mut best: Option<(usize, usize)> = None; // (columns found, index)
        for (k, (kind, found)) in found_kinds.iter_mut().enumerate() {
            let specs = kind.header_specs();
            let mut score = 0;
            for c in found.iter_mut() {
                if c.rows.is_none() {
                    c.rows = Some(head_rows(book, &c.name, scan).map_err(|e| e.to_string())?);
                }
                let rows = c.rows.as_deref().unwrap_or_default();
                if let Some(m) = find_header(rows, &specs, 1) {
                    score = score.max(m.columns.iter().flatten().count());
                }
            }
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, k));
            }
        }
        let k = best.map_or(0, |(_, k)| k);
        let (kind, found) = found_kinds.swap_remove(k);
        return Ok((kind, found));
    }
    if let Some((kind, found)) = found_kinds.pop() {
        return Ok((kind, found));
    }
    let expect: Vec<String> = rules
        .kinds
        .iter()
        .map(|k| {
            let heads: Vec<String> = k
                .recognise_by
                .iter()
                .map(|i| format!("「{}」", k.columns[*i].header))
                .collect();
            format!(
                "「{}」工作表，或含{}表头的工作表（{}）",
                k.sheet,
                heads.join(""),
                k.name
            )
        })
        .collect();
    let shown = if names.is_empty() {
        "无".to_string()
    } else {
        names.join("、")
    };
    Err(format!(
        "无法识别台账类型：未找到{}。本文件的工作表：{shown}",
        expect.join("；或")
    ))
}

/// The first rows of a sheet as text, for header search.
pub(super) fn head_rows(book: &mut Book, sheet: &str, n: u32) -> Result<TextRows, ReadError> {
    let mut rows = Vec::new();
    book.for_each_row(sheet, |r, cells| {
        if r >= n {
            return ControlFlow::Break(());
        }
        rows.push((r, cells.iter().map(|(c, v)| (*c, v.text())).collect()));
        ControlFlow::Continue(())
    })?;
    Ok(rows)
}

/// Which candidate sheet to check.
pub(super) enum Choice {
    /// This sheet; the others (named in a warning) are not checked.
    One(String, Vec<String>),
    /// No one sheet can be chosen: refused with this finding's values.
    Refused {
        /// The sheets as a clerk reads them: `「10月」（2026-10）、「11月」（2026-11）`.
        sheets: String,
        /// Units the sheets name (Source::Sheet votes), when they differ.
        votes: Vec<(Source, String)>,
    },
}

/// What one candidate sheet says about itself: units named by its name or title
/// lines, and the period its name or `填报日期` gives.
struct SheetSays {
    units: Vec<String>,
    period: Option<String>,
}

/// Chooses the sheet to check among the candidates (see the module doc).
pub(super) fn choose(
    book: &mut Book,
    rules: &RuleSet,
    kind: &Kind,
    candidates: &mut [Candidate],
    opts: &Options,
    name: &str,
) -> Result<Choice, String> {
    if let [only] = candidates {
        return Ok(Choice::One(only.name.clone(), Vec::new()));
    }
    for c in candidates.iter_mut() {
        if c.rows.is_none() {
            c.rows =
                Some(head_rows(book, &c.name, kind.header_scan_rows).map_err(|e| e.to_string())?);
        }
    }
    let candidates = &*candidates;
    let county = &rules.county;
    let received = opts.fallback_period.clone();
    let says: Vec<SheetSays> = candidates
        .iter()
        .map(|c| {
            let rows = c.rows.as_deref().unwrap_or_default();
            let specs = kind.header_specs();
            let header = find_header(rows, &specs, kind.recognise_by.len().max(2))
                .map_or(u32::MAX, |m| m.row);
            let title = title_lines(kind, rows, header);
            let mut units = identify::find_units(county, &c.name);
            for t in [title.unit.as_deref(), Some(title.text.as_str())]
                .into_iter()
                .flatten()
            {
                for u in identify::find_units(county, t) {
                    if !units.contains(&u) {
                        units.push(u);
                    }
                }
            }
            let period = identify::period_clue(&c.name)
                .or_else(|| {
                    title
                        .date
                        .as_deref()
                        .and_then(identify::period_from_date_text)
                })
                .and_then(|p| p.resolve(received.as_deref()));
            SheetSays { units, period }
        })
        .collect();
    let mut units: Vec<&String> = says.iter().flat_map(|s| &s.units).collect();
    units.sort();
    units.dedup();
    let shown: Vec<String> = candidates
        .iter()
        .zip(&says)
        .map(|(c, s)| {
            let mut what: Vec<String> = s.units.clone();
            what.extend(s.period.clone());
            if what.is_empty() {
                format!("「{}」", c.name)
            } else {
                format!("「{}」（{}）", c.name, what.join("，"))
            }
        })
        .collect();
    let refused = |votes| {
        Ok(Choice::Refused {
            sheets: shown.join("、"),
            votes,
        })
    };
    if units.len() > 1 {
        let votes = candidates
            .iter()
            .zip(&says)
            .flat_map(|(_, s)| s.units.iter().map(|u| (Source::Sheet, u.clone())))
            .collect();
        return refused(votes);
    }
    // The file's own period: given, from its name, else the month received.
    let file = identify::identify(
        county,
        &identify::Clues {
            file_name: name,
            given_period: opts.period.as_deref(),
            received: received.as_deref(),
            ..identify::Clues::default()
        },
    );
    let Some((period, _)) = file.period else {
        return refused(Vec::new());
    };
    let matching: Vec<usize> = says
        .iter()
        .enumerate()
        .filter(|(_, s)| s.period.as_deref() == Some(period.as_str()))
        .map(|(i, _)| i)
        .collect();
    match matching.as_slice() {
        [i] => Ok(Choice::One(
            candidates[*i].name.clone(),
            candidates
                .iter()
                .enumerate()
                .filter(|(j, _)| j != i)
                .map(|(_, c)| c.name.clone())
                .collect(),
        )),
        _ => refused(Vec::new()),
    }
}
