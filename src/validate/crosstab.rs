//! Sheet rules: the township's own 汇总 table against the counts of the detail
//! rows.

use super::*;

/// Counts of (row value, column value) pairs for a sheet rule.
pub(super) struct Tally {
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) width: usize,
    /// By enum positions: rows × width.
    pub(super) dense: Vec<u64>,
    /// Rows whose row or column value is blank or not one of the enum values:
    /// not counted (their cells have findings of their own).
    pub(super) left_out: u64,
    /// Only rows whose column (index) has one of these values are counted.
    pub(super) only: Option<(usize, Vec<String>)>,
}

impl Tally {
    pub(super) fn to_map(&self, kind: &Kind) -> HashMap<(String, String), u64> {
        let mut m = HashMap::new();
        let rv = &kind.columns[self.rows].values;
        let cv = &kind.columns[self.cols].values;
        for (k, n) in self.dense.iter().enumerate() {
            if *n > 0 {
                let (x, y) = (k / self.width, k % self.width);
                *m.entry((rv[x].clone(), cv[y].clone())).or_insert(0) += n;
            }
        }
        m
    }
}

/// Checks a count table (`汇总`) against the detail rows. The table's sheet is
/// found by its name (or one of `sheet_aliases`), else by its shape: a sheet
/// whose first rows hold the corner cell (or a `corner_aliases` one) followed by
/// column labels.
pub(super) fn check_crosstab(
    book: &mut Book,
    kind: &Kind,
    rule: &crate::rules::SheetRule,
    tally: &Tally,
    detail: Option<&str>,
    report: &mut FileReport,
) -> Result<(), String> {
    let counts = tally.to_map(kind);
    let left_out = tally.left_out.to_string();
    let meta = RuleMeta {
        id: rule.id.clone(),
        severity: rule.severity,
        message: rule.message.clone(),
    };
    // A cell that counts more than the detail rows by no more than the rows left
    // out (their category or level unreadable) may be right: unverifiable, not
    // wrong. A warning that says so (`left_out_message`); past that, an error.
    let unverifiable = RuleMeta {
        id: rule.id.clone(),
        severity: crate::rules::Severity::Warning,
        message: rule
            .left_out_message
            .clone()
            .unwrap_or_else(|| rule.message.clone()),
    };
    let missing = |report: &mut FileReport, detail: &str| {
        if rule.required {
            let m = RuleMeta {
                id: format!("{}.missing", rule.id),
                severity: rule.severity,
                message: rule
                    .missing_message
                    .clone()
                    .unwrap_or_else(|| "缺少「{sheet}」汇总表".into()),
            };
            let place = Place {
                sheet: rule.sheet.clone(),
                ..Place::default()
            };
            report
                .findings
                .push(Finding::new(&m, &place, detail, "", &|_| None));
        }
    };
    let corner_keys: Vec<String> = std::iter::once(&rule.corner)
        .chain(&rule.corner_aliases)
        .map(|c| header_key(c))
        .collect();
    let Some(sheet) = find_table_sheet(book, kind, rule, &corner_keys, detail)? else {
        missing(report, "");
        return Ok(());
    };
    report
        .layout
        .rule_sheets
        .push((rule.id.clone(), sheet.clone()));
    let row_values = &kind.columns[rule.rows].values;
    let col_values = &kind.columns[rule.cols].values;
    let total_key = header_key(&rule.total);
    let mut header: Option<(u32, Vec<(u32, String)>)> = None;
    let mut found = Vec::new();
    book.for_each_row(&sheet, |r, cells| {
        let first = cells.iter().find(|(_, v)| !v.is_blank());
        match &header {
            None => {
                if let Some((c0, v)) = first {
                    if corner_keys.contains(&header_key(&v.text())) {
                        let labels = cells
                            .iter()
                            .filter(|(c, _)| c > c0)
                            .map(|(c, v)| (*c, header_key(&v.text())))
                            .collect();
                        header = Some((*c0, labels));
                    }
                }
            }
            Some((c0, labels)) => {
                let label = cells
                    .iter()
                    .find(|(c, _)| c == c0)
                    .map(|(_, v)| header_key(&v.text()));
                let Some(label) = label else {
                    return ControlFlow::Continue(());
                };
                let is_row =
                    label == total_key || row_values.iter().any(|v| header_key(v) == label);
                if !is_row {
                    return ControlFlow::Continue(());
                }
                for (c, col_label) in labels {
                    let is_col = *col_label == total_key
                        || col_values.iter().any(|v| header_key(v) == *col_label);
                    if !is_col {
                        continue;
                    }
                    let cell = cells
                        .iter()
                        .find(|(cc, _)| cc == c)
                        .map(|(_, v)| v.clone().into_owned())
                        .unwrap_or(Cell::Empty);
                    found.push((r, *c, label.clone(), col_label.clone(), cell));
                }
            }
        }
        ControlFlow::Continue(())
    })
    .map_err(|e| e.to_string())?;
    if header.is_none() {
        missing(report, &rule.corner);
        return Ok(());
    }
    for (r, c, row_label, col_label, cell) in found {
        let expected: u64 = counts
            .iter()
            .filter(|((a, b), _)| {
                (row_label == total_key || header_key(a) == row_label)
                    && (col_label == total_key || header_key(b) == col_label)
            })
            .map(|(_, n)| *n)
            .sum();
        let written = match cell_integer(&cell) {
            Ok(v) => v.unwrap_or(0),
            Err(_) => -1,
        };
        if written != expected as i64 {
            let place = Place {
                sheet: sheet.clone(),
                row: Some(r),
                col: Some(c),
                header: Some(format!("{row_label}·{col_label}")),
            };
            let value = if cell.is_blank() {
                "（空）".to_string()
            } else {
                cell.raw_text()
            };
            let (rl, cl) = (row_label.clone(), col_label.clone());
            let over = written - expected as i64;
            let explained = over > 0 && over as u64 <= tally.left_out;
            report.findings.push(Finding::new(
                if explained { &unverifiable } else { &meta },
                &place,
                &value,
                &expected.to_string(),
                &|n| match n {
                    "row_label" => Some(rl.clone()),
                    "col_label" => Some(cl.clone()),
                    "left_out" => Some(left_out.clone()),
                    _ => None,
                },
            ));
        }
    }
    Ok(())
}

/// The sheet holding a count table: by name first (the rule's sheet or one of its
/// `sheet_aliases`), else the first sheet besides the detail sheet whose first 30
/// rows have the corner cell followed by at least two column labels.
fn find_table_sheet(
    book: &mut Book,
    kind: &Kind,
    rule: &crate::rules::SheetRule,
    corner_keys: &[String],
    detail: Option<&str>,
) -> Result<Option<String>, String> {
    let names = book.sheet_names();
    let name_keys: Vec<String> = std::iter::once(&rule.sheet)
        .chain(&rule.sheet_aliases)
        .map(|s| header_key(s))
        .collect();
    if let Some(s) = names
        .iter()
        .find(|n| Some(n.as_str()) != detail && name_keys.contains(&header_key(n)))
    {
        return Ok(Some(s.clone()));
    }
    let col_keys: Vec<String> = kind.columns[rule.cols]
        .values
        .iter()
        .map(|v| header_key(v))
        .collect();
    for name in names.iter().filter(|n| Some(n.as_str()) != detail).take(20) {
        let mut shaped = false;
        book.for_each_row(name, |r, cells| {
            if r >= 30 {
                return ControlFlow::Break(());
            }
            let mut texts = cells
                .iter()
                .filter(|(_, v)| !v.is_blank())
                .map(|(_, v)| header_key(&v.text()));
            if texts.next().is_some_and(|t| corner_keys.contains(&t))
                && texts.filter(|t| col_keys.contains(t)).count() >= 2
            {
                shaped = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
        .map_err(|e| e.to_string())?;
        if shaped {
            return Ok(Some(name.clone()));
        }
    }
    Ok(None)
}
