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
    /// Pairs where a value is not one of the enum values.
    pub(super) other: HashMap<(String, String), u64>,
}

impl Tally {
    pub(super) fn to_map(&self, kind: &Kind) -> HashMap<(String, String), u64> {
        let mut m = self.other.clone();
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

/// Checks a count table (`汇总`) against the detail rows.
pub(super) fn check_crosstab(
    book: &mut Book,
    kind: &Kind,
    rule: &crate::rules::SheetRule,
    counts: &HashMap<(String, String), u64>,
    report: &mut FileReport,
) -> Result<(), String> {
    let meta = RuleMeta {
        id: rule.id.clone(),
        severity: rule.severity,
        message: rule.message.clone(),
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
    let Some(sheet) = book
        .sheet_names()
        .into_iter()
        .find(|n| header_key(n) == header_key(&rule.sheet))
    else {
        missing(report, "");
        return Ok(());
    };
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
                    if header_key(&v.text()) == header_key(&rule.corner) {
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
            report.findings.push(Finding::new(
                &meta,
                &place,
                &value,
                &expected.to_string(),
                &|n| match n {
                    "row_label" => Some(rl.clone()),
                    "col_label" => Some(cl.clone()),
                    _ => None,
                },
            ));
        }
    }
    Ok(())
}
