//! Checks across the files of one run: a person in more than one unit's file
//! (files of the same unit, such as two versions, are not compared).

use super::*;

/// Checks county-unique columns across the files of one run: a value found in two
/// files is reported in both, naming the other unit, file and row.
pub fn cross_check(rules: &RuleSet, reports: &mut [FileReport]) {
    // (kind, column, value) → (file, row, col) of each occurrence.
    type Places = Vec<(usize, u32, u32)>;
    let mut seen: HashMap<(String, usize, String), Places> = HashMap::new();
    for (fi, rep) in reports.iter().enumerate() {
        let Some(kind) = rep.kind_id.clone() else {
            continue;
        };
        for k in &rep.county_keys {
            seen.entry((kind.clone(), k.column, k.value.clone()))
                .or_default()
                .push((fi, k.row, k.col));
        }
    }
    let mut add: Vec<(usize, Finding)> = Vec::new();
    for ((kind_id, column, value), places) in &seen {
        let files: std::collections::HashSet<usize> = places.iter().map(|p| p.0).collect();
        if files.len() < 2 {
            continue;
        }
        let Some(kind) = rules.kind(kind_id) else {
            continue;
        };
        let col = &kind.columns[*column];
        let meta = col.rule("unique_county");
        for (fi, row, c) in places {
            // Two versions of one unit's file are no cross-unit duplicate.
            let unit = &reports[*fi].unit;
            let others = places
                .iter()
                .filter(|p| p.0 != *fi && (unit.is_none() || reports[p.0].unit != *unit));
            for (fj, orow, _) in others {
                let other = &reports[*fj];
                let (ou, of, or) = (
                    other.unit.clone().unwrap_or_default(),
                    other.file.clone(),
                    (orow + 1).to_string(),
                );
                let place = Place {
                    sheet: reports[*fi].sheet.clone().unwrap_or_default(),
                    row: Some(*row),
                    col: Some(*c),
                    header: Some(col.header.clone()),
                };
                add.push((
                    *fi,
                    Finding::new(&meta, &place, value, "", &|n| match n {
                        "other_unit" => Some(ou.clone()),
                        "other_file" => Some(of.clone()),
                        "other_row" => Some(or.clone()),
                        _ => None,
                    }),
                ));
            }
        }
    }
    for (fi, f) in add {
        reports[fi].findings.push(f);
    }
    for r in reports.iter_mut() {
        r.sort();
        r.finish();
    }
}
