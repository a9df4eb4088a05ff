//! Who sent a file and for which month: from the sub-folder, the file name and
//! the text above the header, in that order (see the spec's "Submissions").
//!
//! Township clerks name files every way (`柳河镇_…_2026-11`, `2026年11月柳河镇…`,
//! `附件1：柳河镇…_11月`) and write the unit as `柳河镇人民政府` or `柳河镇残联`:
//! a known unit's name (or its short form) found anywhere in the file stem, the
//! title rows or the `填报单位` value counts, the longest match winning; a month
//! without a year is the most recent such month not after the month received.

use crate::rules::County;
use crate::workbook::value::{fold_fullwidth, parse_date_text};

/// A period as written: a whole `YYYY-MM`, or a month whose year is not said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodClue {
    /// `2026-11`, `2026.11`, `202611`, `2026年11月`, `26年11月`.
    Full(String),
    /// `11月`, `十一月`: the year is the one of the month received (or the year before).
    Month(u32),
}

impl PeriodClue {
    /// The `YYYY-MM` this clue means for a file received in `received` (`YYYY-MM`):
    /// a month alone is the most recent such month not after the month received.
    pub fn resolve(&self, received: Option<&str>) -> Option<String> {
        match self {
            PeriodClue::Full(p) => Some(p.clone()),
            PeriodClue::Month(m) => {
                let r = received?;
                let y: i32 = r.get(..4)?.parse().ok()?;
                let rm: u32 = r.get(5..7)?.parse().ok()?;
                let year = if *m <= rm { y } else { y - 1 };
                Some(format!("{year:04}-{m:02}"))
            }
        }
    }
}

/// The stem of a file name with full-width characters folded.
fn stem_of(file_name: &str) -> String {
    let stem = std::path::Path::new(file_name)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    stem.chars().map(fold_fullwidth).collect()
}

/// Finds a whole period in free text: `2026-11`, `2026.11`, `202611`, `2026年11月`,
/// `26年11月`; the last one wins.
pub fn find_period(text: &str) -> Option<String> {
    match period_clue(text)? {
        PeriodClue::Full(p) => Some(p),
        PeriodClue::Month(_) => None,
    }
}

/// Finds a period in free text: a whole one if there is one (the last wins), else a
/// month alone (`11月`, `十一月`, `11月份`).
pub fn period_clue(text: &str) -> Option<PeriodClue> {
    let chars: Vec<char> = text.chars().map(fold_fullwidth).collect();
    full_period(&chars)
        .or_else(|| short_year_period(&chars))
        .map(PeriodClue::Full)
        .or_else(|| month_alone(&chars).map(PeriodClue::Month))
}

fn digits_at(chars: &[char], i: usize, max: usize) -> (String, usize) {
    let mut s = String::new();
    let mut j = i;
    while j < chars.len() && chars[j].is_ascii_digit() && s.len() < max {
        s.push(chars[j]);
        j += 1;
    }
    (s, j)
}

fn full_period(chars: &[char]) -> Option<String> {
    let mut found = None;
    let mut i = 0;
    while i + 4 <= chars.len() {
        let is_year = chars[i..i + 4].iter().all(|c| c.is_ascii_digit())
            && (i == 0 || !chars[i - 1].is_ascii_digit());
        if !is_year {
            i += 1;
            continue;
        }
        let year: String = chars[i..i + 4].iter().collect();
        let mut j = i + 4;
        if j < chars.len() && matches!(chars[j], '-' | '.' | '/' | '年' | '_') {
            j += 1;
        }
        let (month, end) = digits_at(chars, j, 2);
        let boundary = end >= chars.len() || !chars[end].is_ascii_digit();
        if let (Ok(m), Ok(y)) = (month.parse::<u32>(), year.parse::<u32>()) {
            if (1..=12).contains(&m)
                && boundary
                && (month.len() == 2 || chars[i + 4] != '_')
                && (2000..=2100).contains(&y)
            {
                found = Some(format!("{y:04}-{m:02}"));
            }
        }
        i = end.max(i + 1);
    }
    found
}

/// `26年11月`: a two-digit year is this century's.
fn short_year_period(chars: &[char]) -> Option<String> {
    let mut found = None;
    for i in 0..chars.len() {
        if i > 0 && chars[i - 1].is_ascii_digit() {
            continue;
        }
        let (year, j) = digits_at(chars, i, 2);
        if year.len() != 2 || chars.get(j) != Some(&'年') {
            continue;
        }
        let (month, k) = digits_at(chars, j + 1, 2);
        if chars.get(k) != Some(&'月') {
            continue;
        }
        if let (Ok(y), Ok(m)) = (year.parse::<u32>(), month.parse::<u32>()) {
            if (1..=12).contains(&m) {
                found = Some(format!("{:04}-{m:02}", 2000 + y));
            }
        }
    }
    found
}

/// `11月`, `十一月`, `11月份`: a month without its year; the last one wins.
fn month_alone(chars: &[char]) -> Option<u32> {
    const NUMERALS: [char; 10] = ['一', '二', '三', '四', '五', '六', '七', '八', '九', '十'];
    let numeral = |c: char| NUMERALS.iter().position(|n| *n == c).map(|p| p as u32 + 1);
    let mut found = None;
    for (j, c) in chars.iter().enumerate() {
        if *c != '月' || j == 0 {
            continue;
        }
        // Arabic digits right before 月.
        let mut i = j;
        while i > 0 && chars[i - 1].is_ascii_digit() && j - i < 3 {
            i -= 1;
        }
        if i < j {
            if i > 0 && chars[i - 1].is_ascii_digit() {
                continue;
            }
            if let Ok(m) = chars[i..j].iter().collect::<String>().parse::<u32>() {
                if (1..=12).contains(&m) {
                    found = Some(m);
                }
            }
            continue;
        }
        // Chinese numerals: 一月 … 十月, 十一月, 十二月.
        let last = numeral(chars[j - 1]);
        let before = (j >= 2).then(|| numeral(chars[j - 2])).flatten();
        let m = match (before, last) {
            (Some(10), Some(n @ 1..=2)) => Some(10 + n),
            (Some(_), _) => None,
            (None, Some(n)) => Some(n),
            _ => None,
        };
        let clean = j < 3 || numeral(chars[j - 3]).is_none() || before.is_none();
        if let (Some(m), true) = (m, clean) {
            found = Some(m);
        }
    }
    found
}

/// The value after a label such as `填报单位：` or `填报单位（盖章）：` in a title
/// line, up to the next gap.
pub fn labelled_value(text: &str, label: &str) -> Option<String> {
    let pos = text.find(label)?;
    let mut after = &text[pos + label.len()..];
    // `填报单位（盖章）：`: a bracketed remark between label and value.
    let t = after.trim_start();
    for (open, close) in [('（', '）'), ('(', ')')] {
        if let Some(rest) = t.strip_prefix(open) {
            if let Some(end) = rest.find(close) {
                after = &rest[end + close.len_utf8()..];
            }
        }
    }
    let after = after.trim_start_matches([':', '：', ' ', '\u{3000}']);
    let v: String = after
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '\u{3000}')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// A period clue from a `填报日期` value such as `2026年11月30日`.
pub fn period_from_date_text(text: &str) -> Option<PeriodClue> {
    if let Some(d) = parse_date_text(text.trim()) {
        return Some(PeriodClue::Full(d.format("%Y-%m").to_string()));
    }
    period_clue(text)
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
    /// The title rows above the header (`安和县柳河镇残疾人信息登记簿`).
    TitleText,
    /// The name of the sheet.
    Sheet,
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
            Source::TitleText => "表格标题",
            Source::Sheet => "工作表名",
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

impl UnitVerdict {
    /// The units this verdict points at (one when known, each named in a conflict).
    pub fn units(&self) -> Vec<String> {
        match self {
            UnitVerdict::Known(u) => vec![u.clone()],
            UnitVerdict::Conflict(votes) => {
                let mut v: Vec<String> = Vec::new();
                for (_, u) in votes {
                    if !v.contains(u) {
                        v.push(u.clone());
                    }
                }
                v
            }
            UnitVerdict::Unknown => Vec::new(),
        }
    }
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
    /// The other text above the header (the title rows), joined.
    pub title_text: Option<&'a str>,
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
    /// The period the file name says, and the one its `填报日期` says (for the
    /// warning when they differ).
    pub file_period: Option<String>,
    pub title_period: Option<String>,
}

/// Settles the unit and the period of a file from its clues, in the spec's order:
/// the unit from the sub-folder, the file name and the title (sources that name no
/// known unit are no vote; two different units are a conflict); the period from
/// the caller, the file name, the `填报日期`, else the month received. Validation
/// and the daemon both ask this, with whatever of the file they have read.
pub fn identify(county: &County, clues: &Clues<'_>) -> Identity {
    let stem = stem_of(clues.file_name);
    let mut votes: Vec<(Source, String)> = Vec::new();
    if let Some(u) = clues.folder.and_then(|f| match_unit(county, f)) {
        votes.push((Source::Folder, u));
    }
    for (src, text) in [
        (Source::FileName, Some(stem.as_str())),
        (Source::Title, clues.title_unit),
        (Source::TitleText, clues.title_text),
    ] {
        for u in text.map(|t| find_units(county, t)).unwrap_or_default() {
            votes.push((src, u));
        }
    }
    let unit = match votes.first() {
        None => UnitVerdict::Unknown,
        Some((_, first)) if votes.iter().all(|(_, u)| u == first) => {
            UnitVerdict::Known(first.clone())
        }
        Some(_) => UnitVerdict::Conflict(votes),
    };
    let received = clues.received;
    let file_period = period_clue(&stem).and_then(|c| c.resolve(received));
    let title_period = clues
        .title_date
        .and_then(period_from_date_text)
        .and_then(|c| c.resolve(received));
    let period = clues
        .given_period
        .map(|p| (p.to_string(), Source::Given))
        .or_else(|| file_period.clone().map(|p| (p, Source::FileName)))
        .or_else(|| title_period.clone().map(|p| (p, Source::Title)))
        .or_else(|| received.map(|p| (p.to_string(), Source::Received)));
    Identity {
        unit,
        period,
        file_period,
        title_period,
    }
}

/// The names a unit goes by: its full name and its short forms, from the
/// county's `[units] short_form_drops` (`柳河` for `柳河镇`; `东城` or `东城街道` for
/// `东城街道办事处` when `街道办事处` and `街道` are both listed). A short form has
/// at least two characters; one two units share is nobody's.
fn unit_names(county: &County) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = Vec::new();
    let drops = &county.unit_suffixes; // longest first
    for u in &county.units {
        names.push((u.name.clone(), u.name.clone()));
        if let Some((base, s)) = drops
            .iter()
            .find_map(|s| u.name.strip_suffix(s.as_str()).map(|b| (b, s)))
        {
            if base.chars().count() >= 2 {
                names.push((base.to_string(), u.name.clone()));
                for t in drops {
                    if t != s && s.starts_with(t.as_str()) {
                        names.push((format!("{base}{t}"), u.name.clone()));
                    }
                }
            }
        }
    }
    let shared: Vec<String> = names
        .iter()
        .filter(|(n, u)| names.iter().any(|(m, v)| m == n && v != u))
        .map(|(n, _)| n.clone())
        .collect();
    names.retain(|(n, _)| !shared.contains(n));
    names.sort();
    names.dedup();
    names
}

/// The known units named anywhere in `text` (`柳河镇人民政府`, `2026年11月柳河镇…`,
/// `附件1：柳河…`), in order of appearance. The longest name wins where names
/// overlap (`东城街道办事处` over `东城`).
pub fn find_units(county: &County, text: &str) -> Vec<String> {
    let text: String = text.chars().map(fold_fullwidth).collect();
    let mut spans: Vec<(usize, usize, String)> = Vec::new();
    for (name, unit) in unit_names(county) {
        for (at, _) in text.match_indices(name.as_str()) {
            spans.push((at, at + name.len(), unit.clone()));
        }
    }
    spans.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
    let mut taken: Vec<(usize, usize, String)> = Vec::new();
    for s in spans {
        if taken.iter().all(|t| s.1 <= t.0 || s.0 >= t.1) {
            taken.push(s);
        }
    }
    taken.sort_by_key(|t| t.0);
    let mut units: Vec<String> = Vec::new();
    for (_, _, u) in taken {
        if !units.contains(&u) {
            units.push(u);
        }
    }
    units
}

/// A known unit named by `text` as a whole: its full name, or a short form
/// (`柳河` for `柳河镇`, `东城` for `东城街道办事处`, `东城街道`). For names given
/// as a unit (a folder, `--unit`), not free text.
pub fn match_unit(county: &County, text: &str) -> Option<String> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(u) = county.unit(t) {
        return Some(u.name.clone());
    }
    unit_names(county)
        .into_iter()
        .find(|(n, _)| n == t)
        .map(|(_, u)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn county() -> County {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        crate::rules::RuleSet::load(&dir)
            .map(|r| r.county)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn periods() {
        assert_eq!(
            find_period("柳河镇_残疾人信息登记簿_2026-11").as_deref(),
            Some("2026-11")
        );
        assert_eq!(find_period("登记簿202611").as_deref(), Some("2026-11"));
        assert_eq!(find_period("石桥镇2026年3月").as_deref(), Some("2026-03"));
        assert_eq!(find_period("（2026年11月）").as_deref(), Some("2026-11"));
        assert_eq!(find_period("2026.11").as_deref(), Some("2026-11"));
        assert_eq!(find_period("26年11月").as_deref(), Some("2026-11"));
        assert_eq!(find_period("名单"), None);
        let dec = Some("2026-12");
        let jan = Some("2027-01");
        for (text, received, want) in [
            ("柳河镇_残疾人信息登记簿_11月", dec, "2026-11"),
            ("十一月", dec, "2026-11"),
            ("十二月", dec, "2026-12"),
            ("十月份", dec, "2026-10"),
            ("11月份", jan, "2026-11"),
            ("1月", jan, "2027-01"),
            ("二月", jan, "2026-02"),
        ] {
            let got = period_clue(text).and_then(|c| c.resolve(received));
            assert_eq!(got.as_deref(), Some(want), "{text} received {received:?}");
        }
        assert_eq!(period_clue("附件1：柳河镇"), None);
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
            labelled_value("填报单位（盖章）：柳河镇残联", "填报单位").as_deref(),
            Some("柳河镇残联")
        );
        assert_eq!(
            period_from_date_text("2026年11月30日"),
            Some(PeriodClue::Full("2026-11".into()))
        );
    }

    #[test]
    fn units_anywhere() {
        let c = county();
        for text in [
            "柳河镇残疾人信息登记簿2026年11月",
            "2026年11月柳河镇残疾人信息登记簿",
            "附件1：柳河镇残疾人信息登记簿",
            "柳河镇人民政府",
            "柳河镇残联",
            "安和县柳河镇残疾人信息登记簿",
            "柳河残联",
        ] {
            assert_eq!(find_units(&c, text), vec!["柳河镇".to_string()], "{text}");
        }
        assert_eq!(
            find_units(&c, "东城街道残联"),
            vec!["东城街道办事处".to_string()]
        );
        assert_eq!(
            find_units(&c, "柳河镇、石桥镇合并"),
            vec!["柳河镇".to_string(), "石桥镇".to_string()]
        );
        assert!(find_units(&c, "安和县残疾人信息登记簿").is_empty());
        assert_eq!(match_unit(&c, "东城").as_deref(), Some("东城街道办事处"));
        assert_eq!(
            match_unit(&c, "东城街道").as_deref(),
            Some("东城街道办事处")
        );
        assert_eq!(match_unit(&c, "柳河镇人民政府"), None);
    }
}
