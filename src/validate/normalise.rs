//! Normalising a cell to its column's type: trimmed text, numbers stored as
//! text, dates in every written form, enum values; a cell that cannot be read
//! gets its own finding.

use super::*;
use crate::workbook::EXCEL_MAX_CHARS;

/// A cell after normalisation.
#[derive(Debug, Clone, Default)]
pub(super) struct Norm {
    pub(super) blank: bool,
    /// Could not be read as its column's type (already reported).
    pub(super) bad: bool,
    /// Nothing about the value is left to check: blank (and no default), not one
    /// of the enum's values, or `bad`. Set by `normalise`.
    pub(super) nothing_to_check: bool,
    pub(super) text: String,
    pub(super) int: Option<i64>,
    pub(super) num: Option<f64>,
    pub(super) date: Option<NaiveDate>,
    pub(super) enum_index: Option<usize>,
}

impl SheetPass<'_> {
    pub(super) fn normalise(&mut self, r: u32, i: usize, cells: &[(u32, Cell<'_>)]) {
        // Text past Excel's cell limit: an error in the file, and nothing else
        // is checked on that cell (no writer could keep it whole).
        let too_long = match self.slot[i].map(|k| &cells[k].1) {
            Some(Cell::Text(t)) if t.len() > EXCEL_MAX_CHARS => t.chars().count(),
            _ => 0,
        };
        if too_long > EXCEL_MAX_CHARS {
            let length = too_long.to_string();
            self.report(
                r,
                i,
                "too_long",
                &EXCEL_MAX_CHARS.to_string(),
                &|n| (n == "length").then(|| length.clone()),
                cells,
            );
            let n = &mut self.norms[i];
            n.blank = false;
            n.bad = true;
            n.nothing_to_check = true;
            n.text.clear();
            return;
        }
        let col = &self.kind.columns[i];
        let cell = match self.slot[i] {
            Some(k) => &cells[k].1,
            None => &Cell::Empty,
        };
        let n = &mut self.norms[i];
        n.blank = self.slot[i].is_none();
        n.bad = false;
        n.nothing_to_check = true;
        n.int = None;
        n.num = None;
        n.date = None;
        n.enum_index = None;
        n.text.clear();
        if self.inert[i] {
            return;
        }
        if n.blank {
            if col.ty == ColumnType::Enum {
                if let Some(b) = &col.blank_means {
                    n.text.push_str(b);
                    n.enum_index = col.values.iter().position(|v| v == b);
                    n.nothing_to_check = n.enum_index.is_none();
                }
            }
            return;
        }
        let mut problem = None;
        let mut alias = None;
        match col.ty {
            ColumnType::Text | ColumnType::Enum => {
                cell.text_into(&mut n.text);
                if col.uppercase {
                    n.text.make_ascii_uppercase();
                }
                if col.ty == ColumnType::Enum {
                    n.enum_index = col.values.iter().position(|v| *v == n.text);
                    if n.enum_index.is_none() {
                        // `二 级`, `多重残疾`: read as the standard value, and said.
                        if let Some(&k) = col.value_aliases.get(&header_key(&n.text)) {
                            n.enum_index = Some(k);
                            n.text.clear();
                            n.text.push_str(&col.values[k]);
                            alias = Some(k);
                        }
                    }
                    // Not one of the values: reported by `constraints`, and row
                    // rules reading it are skipped like for a type error.
                    n.bad = n.enum_index.is_none();
                }
            }
            ColumnType::Integer => match cell_integer(cell) {
                Ok(v) => {
                    n.int = v;
                    n.num = v.map(|x| x as f64);
                    if let Some(x) = v {
                        let _ = write!(n.text, "{x}");
                    }
                }
                Err(_) => problem = Some("type_integer"),
            },
            ColumnType::Money => match cell_money(cell) {
                Ok(v) => {
                    n.num = v;
                    if let Some(x) = v {
                        value::number_text_into(x, &mut n.text);
                    }
                }
                Err(_) => problem = Some("type_money"),
            },
            ColumnType::Month => match value::cell_month(cell) {
                Ok(m) => {
                    if let Some(m) = m {
                        n.text.push_str(&m);
                    }
                }
                Err(_) => problem = Some("type_month"),
            },
            ColumnType::Date => match cell_date(cell) {
                Ok(d) => {
                    n.date = d;
                    if let Some(d) = d {
                        value::iso_date_into(d, &mut n.text);
                    }
                }
                Err(_) => problem = Some("type_date"),
            },
        }
        n.bad |= problem.is_some();
        n.nothing_to_check = n.bad;
        if let Some(p) = problem {
            self.report(r, i, p, "", &|_| None, cells);
        }
        if let Some(k) = alias {
            let standard = self.kind.columns[i].values[k].clone();
            self.report(r, i, "enum_alias", &standard, &|_| None, cells);
        }
    }
}
