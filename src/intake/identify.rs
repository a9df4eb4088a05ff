//! Who sent a file and for which month: from the sub-folder, the file name and
//! the text above the header, in that order (see the spec's "Submissions").

use crate::rules::County;
use crate::workbook::value::{fold_fullwidth, parse_date_text};

/// What a file name says: `<unit>_<anything>_<YYYY-MM>.<ext>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameParts {
    /// Text before the first `_` (or the whole stem when there is none).
    pub prefix: Option<String>,
    /// A `YYYY-MM` (or `YYYYMM`, `YYYY年MM月`) period anywhere in the stem, last one wins.
    pub period: Option<String>,
}

/// Splits a file name into its unit prefix and period.
pub fn parse_file_name(file_name: &str) -> NameParts {
    let stem = std::path::Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem: String = stem.chars().map(fold_fullwidth).collect();
    let prefix = stem
        .split(['_', '-', ' ', '－'])
        .next()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    NameParts {
        prefix,
        period: find_period(&stem),
    }
}

/// Finds a period in free text: `2026-11`, `2026.11`, `202611`, `2026年11月`.
pub fn find_period(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().map(fold_fullwidth).collect();
    let mut found = None;
    let mut i = 0;
    while i + 4 <= chars.len() {
        let is_year = chars[i..i + 4].iter().all(|c| c.is_ascii_digit())
            && (i == 0 || !chars[i - 1].is_ascii_digit());
        if is_year {
            let year: String = chars[i..i + 4].iter().collect();
            let mut j = i + 4;
            if j < chars.len() && matches!(chars[j], '-' | '.' | '/' | '年' | '_') {
                j += 1;
            }
            let mut month = String::new();
            while j < chars.len() && chars[j].is_ascii_digit() && month.len() < 2 {
                month.push(chars[j]);
                j += 1;
            }
            let boundary = j >= chars.len() || !chars[j].is_ascii_digit();
            if let Ok(m) = month.parse::<u32>() {
                if (1..=12).contains(&m) && boundary && (month.len() == 2 || chars[i + 4] != '_') {
                    if let Ok(y) = year.parse::<u32>() {
                        if (2000..=2100).contains(&y) {
                            found = Some(format!("{y:04}-{m:02}"));
                        }
                    }
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

/// The value after a label such as `填报单位：` in a title line, up to the next gap.
pub fn labelled_value(text: &str, label: &str) -> Option<String> {
    let pos = text.find(label)?;
    let after = text[pos + label.len()..].trim_start_matches([':', '：', ' ', '\u{3000}']);
    let v: String = after
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{3000}')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// A `YYYY-MM` period from a `填报日期` value such as `2026年11月30日`.
pub fn period_from_date_text(text: &str) -> Option<String> {
    if let Some(d) = parse_date_text(text) {
        return Some(d.format("%Y-%m").to_string());
    }
    find_period(text)
}

/// Where a unit or a period was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Source {
    /// Given by the caller (`validate --unit` / `--period`).
    Given,
    /// The inbox sub-folder the file was dropped in.
    Folder,
    /// The file name.
    FileName,
    /// The lines above the header (`填报单位：…`, `填报日期：…`).
    Title,
    /// The month the file was received (a guess).
    Received,
}

impl Source {
    /// The name a clerk knows the source by.
    pub fn zh(self) -> &'static str {
        match self {
            Source::Given => "指定的单位",
            Source::Folder => "报送文件夹",
            Source::FileName => "文件名",
            Source::Title => "表内填报单位",
            Source::Received => "收到月份",
        }
    }
}

/// How the submitting unit was settled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UnitVerdict {
    /// Exactly one known unit was named (by one source or several agreeing).
    Known(String),
    /// Sources name different known units: (source, unit) pairs.
    Conflict(Vec<(Source, String)>),
    /// No source names a known unit.
    Unknown,
}

/// What a file says about who sent it and when, as far as it was read.
#[derive(Debug, Clone, Default)]
pub struct Clues<'a> {
    /// The inbox sub-folder.
    pub folder: Option<&'a str>,
    /// The file name as received.
    pub file_name: &'a str,
    /// The `填报单位` value above the header (None when the file was not read).
    pub title_unit: Option<&'a str>,
    /// The `填报日期` value above the header.
    pub title_date: Option<&'a str>,
    /// A period given by the caller (`--period`).
    pub given_period: Option<&'a str>,
    /// The month the file was received (`YYYY-MM`), the last resort.
    pub received: Option<&'a str>,
}

/// Who sent a file and for which month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub unit: UnitVerdict,
    /// The period and where it came from.
    pub period: Option<(String, Source)>,
}

/// Settles the unit and the period of a file from its clues, in the spec's order:
/// the unit from the sub-folder, the file name and the title (sources that name no
/// known unit are no vote; two different units are a conflict); the period from
/// the caller, the file name, the `填报日期`, else the month received. Validation
/// and the daemon both ask this, with whatever of the file they have read.
pub fn identify(county: &County, clues: &Clues<'_>) -> Identity {
    let parts = parse_file_name(clues.file_name);
    let unit = resolve_unit(
        county,
        &[
            (Source::Folder, clues.folder),
            (Source::FileName, parts.prefix.as_deref()),
            (Source::Title, clues.title_unit),
        ],
    );
    let period = clues
        .given_period
        .map(|p| (p.to_string(), Source::Given))
        .or_else(|| parts.period.map(|p| (p, Source::FileName)))
        .or_else(|| {
            clues
                .title_date
                .and_then(period_from_date_text)
                .map(|p| (p, Source::Title))
        })
        .or_else(|| clues.received.map(|p| (p.to_string(), Source::Received)));
    Identity { unit, period }
}

/// Settles the unit from its sources, in the spec's order. A source that names
/// no known unit (a file name like `登记簿_2026-11.xlsx`) is not a vote.
fn resolve_unit(county: &County, sources: &[(Source, Option<&str>)]) -> UnitVerdict {
    let mut votes: Vec<(Source, String)> = Vec::new();
    for (src, name) in sources {
        if let Some(u) = name.and_then(|n| match_unit(county, n)) {
            votes.push((*src, u));
        }
    }
    match votes.first() {
        None => UnitVerdict::Unknown,
        Some((_, first)) if votes.iter().all(|(_, u)| u == first) => {
            UnitVerdict::Known(first.clone())
        }
        Some(_) => UnitVerdict::Conflict(votes),
    }
}

/// A known unit named by `text`: its full name, or a short form (`柳河` for
/// `柳河镇`, `东城` for `东城街道办事处`, `东城街道`).
pub fn match_unit(county: &County, text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(u) = county.unit(t) {
        return Some(u.name.clone());
    }
    let hits: Vec<&str> = county
        .units
        .iter()
        .filter(|u| {
            u.name.strip_prefix(t).is_some_and(|rest| {
                matches!(
                    rest,
                    "镇" | "乡" | "街道办事处" | "办事处" | "街道" | "街道办"
                )
            })
        })
        .map(|u| u.name.as_str())
        .collect();
    (hits.len() == 1).then(|| hits[0].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let p = parse_file_name("柳河镇_残疾人信息登记簿_2026-11.xlsx");
        assert_eq!(p.prefix.as_deref(), Some("柳河镇"));
        assert_eq!(p.period.as_deref(), Some("2026-11"));
        assert_eq!(
            parse_file_name("登记簿202611.xls").period.as_deref(),
            Some("2026-11")
        );
        assert_eq!(
            parse_file_name("石桥镇2026年3月.xlsx").period.as_deref(),
            Some("2026-03")
        );
        assert_eq!(parse_file_name("名单.xlsx").period, None);
    }

    #[test]
    fn title_labels() {
        assert_eq!(
            labelled_value("填报单位：柳河镇   填报日期：2026年11月30日", "填报单位").as_deref(),
            Some("柳河镇")
        );
        assert_eq!(
            labelled_value("填报单位: 石桥镇", "填报单位").as_deref(),
            Some("石桥镇")
        );
        assert_eq!(
            period_from_date_text("2026年11月30日").as_deref(),
            Some("2026-11")
        );
    }
}
