//! Finding the header row of a sheet.
//!
//! Real ledgers put a merged title, a `填报单位/填报日期` line or nothing at all
//! above the header, and write header text with newlines, spaces and either kind
//! of bracket. The header is the row among the first few that names the most
//! declared columns (by standard header or alias, compared after
//! [`header_key`]).

use super::value::header_key;
use std::collections::HashMap;

/// Rows as text: (zero-based row, [(zero-based column, text)]).
pub type TextRows = Vec<(u32, Vec<(u32, String)>)>;

/// One declared column as the header finder sees it.
#[derive(Debug, Clone)]
pub struct HeaderSpec {
    /// Normalised standard header and aliases.
    pub keys: Vec<String>,
    pub required: bool,
}

/// The header row found in a sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Zero-based row of the header.
    pub row: u32,
    /// Sheet column (zero-based) of each declared column, by declaration index.
    pub columns: Vec<Option<u32>>,
    /// Declaration indexes of required columns the header lacks.
    pub missing_required: Vec<usize>,
}

/// Builds the lookup from normalised header text to declaration index.
pub fn key_index(specs: &[HeaderSpec]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for (i, s) in specs.iter().enumerate() {
        for k in &s.keys {
            m.entry(k.clone()).or_insert(i);
        }
    }
    m
}

/// Looks for the header among `rows` (zero-based row, cells as (col, text)).
/// Returns the row naming the most declared columns, if it names at least
/// `min_matches` of them.
pub fn find_header(
    rows: &[(u32, Vec<(u32, String)>)],
    specs: &[HeaderSpec],
    min_matches: usize,
) -> Option<HeaderMatch> {
    let index = key_index(specs);
    let mut best: Option<(usize, HeaderMatch)> = None;
    for (r, cells) in rows {
        let mut columns = vec![None; specs.len()];
        let mut hits = 0;
        for (c, text) in cells {
            if let Some(&i) = index.get(&header_key(text)) {
                if columns[i].is_none() {
                    columns[i] = Some(*c);
                    hits += 1;
                }
            }
        }
        if hits >= min_matches.max(1) && best.as_ref().is_none_or(|(h, _)| hits > *h) {
            let missing_required = specs
                .iter()
                .enumerate()
                .filter(|(i, s)| s.required && columns[*i].is_none())
                .map(|(i, _)| i)
                .collect();
            best = Some((
                hits,
                HeaderMatch {
                    row: *r,
                    columns,
                    missing_required,
                },
            ));
        }
    }
    best.map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(keys: &[&str], required: bool) -> HeaderSpec {
        HeaderSpec {
            keys: keys.iter().map(|k| header_key(k)).collect(),
            required,
        }
    }

    #[test]
    fn finds_header_below_title_with_aliases_and_newlines() {
        let specs = vec![
            spec(&["姓名"], true),
            spec(&["身份证号", "公民身份号码"], true),
            spec(&["所属村（社区）", "村（社区）"], false),
            spec(&["备注"], false),
        ];
        let rows = vec![
            (0, vec![(0, "安和县残疾人信息登记簿".to_string())]),
            (1, vec![(0, "填报单位：柳河镇".to_string())]),
            (
                2,
                vec![
                    (1, "公民身份\n号码".to_string()),
                    (3, " 姓 名 ".to_string()),
                    (4, "村(社区)".to_string()),
                    (7, "其他".to_string()),
                ],
            ),
        ];
        let m = find_header(&rows, &specs, 2).expect("header");
        assert_eq!(m.row, 2);
        assert_eq!(m.columns, vec![Some(3), Some(1), Some(4), None]);
        assert!(m.missing_required.is_empty());
    }

    #[test]
    fn no_header_when_too_few_columns_match() {
        let specs = vec![spec(&["姓名"], true), spec(&["身份证号"], true)];
        let rows = vec![(0, vec![(0, "姓名".to_string())])];
        assert_eq!(find_header(&rows, &specs, 2), None);
    }
}
