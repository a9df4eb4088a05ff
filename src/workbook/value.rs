//! Cell values as read, and the normalisation every check sees.
//!
//! A [`Cell`] is what the reader found, borrowed where it can be. The `normalise`
//! helpers turn it into the canonical form a rule checks (trimmed text, ASCII
//! digits, a date), while [`Cell::raw_text`] keeps what the clerk typed for messages.

use chrono::{Datelike, NaiveDate};
use std::borrow::Cow;

/// One cell as the reader found it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Empty,
    Text(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An Excel date serial, already shifted to the 1900 system.
    Date(f64),
    /// A date or date-time written as ISO 8601 text by the file (ODS does this).
    Iso(String),
    /// An Excel error value such as `#N/A`.
    Error(String),
}

impl Cell<'_> {
    /// True when the cell holds nothing a person would see.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => trim_cell(s).is_empty(),
            _ => false,
        }
    }

    /// True when the file stored the value as a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Cell::Int(_) | Cell::Float(_))
    }

    /// The value as a person sees it in the sheet, for messages.
    pub fn raw_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => number_text(*f),
            Cell::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
            Cell::Date(serial) => match serial_to_date(*serial) {
                Some(d) => d.format("%Y-%m-%d").to_string(),
                None => number_text(*serial),
            },
            Cell::Iso(s) => s.clone(),
            Cell::Error(e) => e.clone(),
        }
    }

    /// The value as text for a text column: trimmed, full-width digits and
    /// Latin letters folded to ASCII, numbers written as Excel shows them.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => clean_text(s),
            other => other.raw_text(),
        }
    }

    /// Like [`Cell::text`], into a reused buffer (appends).
    pub fn text_into(&self, buf: &mut String) {
        match self {
            Cell::Text(s) => clean_text_into(s, buf),
            Cell::Int(i) => {
                let _ = std::fmt::Write::write_fmt(buf, format_args!("{i}"));
            }
            Cell::Float(f) => number_text_into(*f, buf),
            other => buf.push_str(&other.raw_text()),
        }
    }

    /// An owned copy that no longer borrows from the reader.
    pub fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Empty => Cell::Empty,
            Cell::Text(s) => Cell::Text(Cow::Owned(s.into_owned())),
            Cell::Int(i) => Cell::Int(i),
            Cell::Float(f) => Cell::Float(f),
            Cell::Bool(b) => Cell::Bool(b),
            Cell::Date(d) => Cell::Date(d),
            Cell::Iso(s) => Cell::Iso(s),
            Cell::Error(e) => Cell::Error(e),
        }
    }
}

/// Writes a number the way Excel displays it in a General cell: integers without a
/// fraction, and at most 15 significant digits (Excel keeps no more), so an ID typed
/// as a number shows as `419901198503120000`.
pub fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return f.to_string();
    }
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    if f.abs() >= 1e15 && f.abs() < 1e21 {
        // 15 significant digits, then zeros, as Excel shows it.
        let sci = format!("{:.14e}", f.abs());
        if let Some((mant, exp)) = sci.split_once('e') {
            if let Ok(exp) = exp.parse::<usize>() {
                let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
                let mut out = String::with_capacity(exp + 2);
                if f < 0.0 {
                    out.push('-');
                }
                out.push_str(&digits);
                while out.trim_start_matches('-').len() < exp + 1 {
                    out.push('0');
                }
                return out;
            }
        }
    }
    let s = format!("{f}");
    s
}

/// Like [`number_text`], appended to a buffer (no allocation for whole numbers).
pub fn number_text_into(f: f64, buf: &mut String) {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        let _ = std::fmt::Write::write_fmt(buf, format_args!("{}", f as i64));
    } else {
        buf.push_str(&number_text(f));
    }
}

/// Appends `YYYY-MM-DD`.
pub fn iso_date_into(d: NaiveDate, buf: &mut String) {
    let (y, m, day) = (d.year(), d.month(), d.day());
    if (0..=9999).contains(&y) {
        let y = y as u32;
        let digit = |x: u32| b'0' + (x % 10) as u8;
        let text = [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(day / 10),
            digit(day),
        ];
        buf.push_str(std::str::from_utf8(&text).unwrap_or_default());
    } else {
        buf.push_str(&d.format("%Y-%m-%d").to_string());
    }
}

/// Like [`clean_text`], appended to a buffer.
pub fn clean_text_into(s: &str, buf: &mut String) {
    let t = trim_cell(s);
    // Full-width letters and digits (U+FF10–U+FF5A) all start with byte 0xEF in
    // UTF-8; text without that byte has nothing to fold.
    if !t.as_bytes().contains(&0xEF) {
        buf.push_str(t);
    } else {
        buf.extend(t.chars().map(fold_fullwidth));
    }
}

/// Trims ASCII and Unicode white space, U+3000 and a stray BOM. Most cells start
/// and end with a visible character: those are returned after looking at two bytes.
pub fn trim_cell(s: &str) -> &str {
    if surely_trimmed(s.as_bytes()) {
        return s;
    }
    s.trim_matches(|c: char| {
        if c.is_ascii() {
            c.is_ascii_whitespace() || c == '\u{b}'
        } else {
            c.is_whitespace() || c == '\u{feff}'
        }
    })
}

/// Whether text surely neither starts nor ends with white space, judged from its
/// first and last bytes without decoding: every non-ASCII white-space character
/// (U+0085, U+00A0, U+1680, U+2000–U+205F, U+3000, U+FEFF) starts with byte C2,
/// E1, E2, E3 or EF and ends with 80–8A, 9F, A0, A8, A9, AF or BF. `false` means
/// "look closer" (also for empty text and ASCII control characters).
fn surely_trimmed(b: &[u8]) -> bool {
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    let first_ok = if first < 0x80 {
        first > b' '
    } else {
        !matches!(first, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF)
    };
    let last_ok = if last < 0x80 {
        last > b' '
    } else {
        !matches!(last, 0x80..=0x8A | 0x9F | 0xA0 | 0xA8 | 0xA9 | 0xAF | 0xBF)
    };
    first_ok && last_ok
}

/// Trims white space ([`trim_cell`]) and folds full-width digits and Latin
/// letters to ASCII ([`clean_text_into`] into a new string).
pub fn clean_text(s: &str) -> String {
    let mut out = String::new();
    clean_text_into(s, &mut out);
    out
}

fn is_fullwidth_ascii(c: char) -> bool {
    matches!(c, '\u{ff10}'..='\u{ff19}' | '\u{ff21}'..='\u{ff3a}' | '\u{ff41}'..='\u{ff5a}')
}

/// Folds one full-width digit or Latin letter to ASCII; other characters are kept.
pub fn fold_fullwidth(c: char) -> char {
    if is_fullwidth_ascii(c) {
        char::from_u32(c as u32 - 0xfee0).unwrap_or(c)
    } else {
        c
    }
}

/// Normalises a header text for matching: drops all white space (newlines in
/// wrapped headers included) and folds full-width brackets and letters.
pub fn header_key(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{3000}')
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '【' | '［' => '[',
            '】' | '］' => ']',
            '：' => ':',
            '／' => '/',
            c => fold_fullwidth(c),
        })
        .collect()
}

/// Converts an Excel serial (1900 system) to a date. Serial 60 is Excel's
/// fictitious 1900-02-29; serials below 61 are shifted by one as Excel does.
pub fn serial_to_date(serial: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let days = serial.floor() as i64;
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    let days = if days < 61 { days + 1 } else { days };
    base.checked_add_signed(chrono::Duration::days(days))
}

/// Converts a date to its Excel serial (1900 system).
pub fn date_to_serial(d: NaiveDate) -> f64 {
    let base = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
    (d - base).num_days() as f64
}

/// A cell could not be read as its column's type (a date, a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable;

/// Reads a date cell in any form the spec lists: a real Excel date, a serial
/// number, or text `1985.3.12`, `1985-03-12`, `1985/3/12`, `1985年3月12日`,
/// `19850312` (ISO date-times from ODS included).
pub fn cell_date(cell: &Cell<'_>) -> Result<Option<NaiveDate>, Unreadable> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Date(serial) => serial_to_date(*serial).map(Some).ok_or(Unreadable),
        Cell::Int(i) => int_date(*i),
        Cell::Float(f) => {
            if f.fract() == 0.0 {
                int_date(*f as i64)
            } else {
                serial_to_date(*f).map(Some).ok_or(Unreadable)
            }
        }
        Cell::Iso(s) => parse_date_text(s).map(Some).ok_or(Unreadable),
        Cell::Text(s) => {
            let t = clean_text(s);
            if t.is_empty() {
                return Ok(None);
            }
            parse_date_text(&t).map(Some).ok_or(Unreadable)
        }
        Cell::Bool(_) | Cell::Error(_) => Err(Unreadable),
    }
}

/// A whole number in a date column: `19850312` written as a number, or a serial.
fn int_date(i: i64) -> Result<Option<NaiveDate>, Unreadable> {
    if (10_000_101..=99_991_231).contains(&i) {
        return ymd(i / 10_000, (i / 100) % 100, i % 100)
            .map(Some)
            .ok_or(Unreadable);
    }
    serial_to_date(i as f64).map(Some).ok_or(Unreadable)
}

fn ymd(y: i64, m: i64, d: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        i32::try_from(y).ok()?,
        u32::try_from(m).ok()?,
        u32::try_from(d).ok()?,
    )
}

/// Parses date text. Accepts `Y.M.D`, `Y-M-D`, `Y/M/D`, `Y年M月D日`, `YYYYMMDD`,
/// and an ISO date-time whose date part is one of these.
pub fn parse_date_text(s: &str) -> Option<NaiveDate> {
    // The common form, `YYYY-MM-DD` (how taizhang itself writes dates), first.
    let b = s.as_bytes();
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
    {
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
        return ymd(num(0..4), num(5..7), num(8..10));
    }
    // Full-width punctuation too: `１９８５－０３－１２`.
    let s: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            c => c,
        })
        .collect();
    let s = s.as_str();
    let date_part = s.split(['T', ' ']).next().unwrap_or(s);
    if date_part.len() == 8 && date_part.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = date_part.parse().ok()?;
        return ymd(n / 10_000, (n / 100) % 100, n % 100);
    }
    let mut parts = Vec::with_capacity(3);
    let mut cur = String::new();
    for c in date_part.chars() {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if matches!(c, '.' | '-' | '/' | '年' | '月' | '日') {
            if !cur.is_empty() {
                parts.push(std::mem::take(&mut cur));
            }
        } else {
            return None;
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() > 2 || parts[2].len() > 2 {
        return None;
    }
    let y = parts[0].parse().ok()?;
    let m = parts[1].parse().ok()?;
    let d = parts[2].parse().ok()?;
    ymd(y, m, d)
}

/// Reads a whole number: a number cell, or digits stored as text.
pub fn cell_integer(cell: &Cell<'_>) -> Result<Option<i64>, Unreadable> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Int(i) => Ok(Some(*i)),
        Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9e15 => Ok(Some(*f as i64)),
        Cell::Text(s) => {
            let t = clean_text(s);
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<i64>().map(Some).map_err(|_| Unreadable)
        }
        _ => Err(Unreadable),
    }
}

/// Reads an amount: a number cell, or a number stored as text (thousands
/// separators and a trailing `元` allowed). Blank is `None` (callers treat it as 0).
pub fn cell_money(cell: &Cell<'_>) -> Result<Option<f64>, Unreadable> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Int(i) => Ok(Some(*i as f64)),
        Cell::Float(f) if f.is_finite() => Ok(Some(*f)),
        Cell::Text(s) => {
            let t = clean_text(s);
            let t = t.trim_end_matches('元').replace([',', '，'], "");
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or(Unreadable)
        }
        _ => Err(Unreadable),
    }
}

/// The first day of a `YYYY-MM` period.
pub fn period_start(period: &str) -> Option<NaiveDate> {
    let (y, m) = period.split_once('-')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)
}

/// The last day of a `YYYY-MM` period.
pub fn period_end(period: &str) -> Option<NaiveDate> {
    let (y, m) = period.split_once('-')?;
    let y: i32 = y.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    };
    next.pred_opt().filter(|d| d.year() == first.year())
}

/// A1 name of a zero-based column.
pub fn column_name(col: u32) -> String {
    let mut n = col + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A1 reference of a zero-based (row, column).
pub fn a1(row: u32, col: u32) -> String {
    format!("{}{}", column_name(col), row + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_cell_fast_path_agrees_with_a_full_trim() {
        let space = |c: char| c.is_whitespace() || c == '\u{b}' || c == '\u{feff}';
        // Every white-space character, and characters sharing their first or last bytes.
        let mut ends: Vec<char> = ('\0'..='\u{3100}').filter(|c| space(*c)).collect();
        ends.extend([
            'a',
            '1',
            'X',
            '~',
            '\u{7f}',
            '\u{1f}',
            'é',
            '\u{a1}',
            '\u{1681}',
            '\u{2010}',
            '\u{205e}',
            '\u{3001}',
            '张',
            '王',
            '区',
            '\u{ff10}',
            '\u{fefe}',
            '\u{ffef}',
            '\u{10000}',
            '😀',
        ]);
        let mut n = 0;
        for a in &ends {
            for b in &ends {
                for mid in ["", "中", "x y", "\u{3000}"] {
                    let s = format!("{a}{mid}{b}");
                    assert_eq!(trim_cell(&s), s.trim_matches(space), "{s:?}");
                    n += 1;
                }
            }
        }
        assert!(n > 4000);
        assert_eq!(trim_cell(""), "");
    }

    #[test]
    fn dates_in_every_listed_form() {
        let want = NaiveDate::from_ymd_opt(1985, 3, 12);
        for s in [
            "1985.3.12",
            "1985-03-12",
            "1985/3/12",
            "1985年3月12日",
            "19850312",
            "１９８５－０３－１２",
            "1985-03-12T00:00:00",
        ] {
            assert_eq!(parse_date_text(s), want, "{s}");
        }
        assert_eq!(parse_date_text("1985.13.12"), None);
        assert_eq!(parse_date_text("85.3.12"), None);
        assert_eq!(parse_date_text("张三"), None);
        assert_eq!(cell_date(&Cell::Float(31118.0)).unwrap(), want);
        assert_eq!(cell_date(&Cell::Int(19850312)).unwrap(), want);
    }

    #[test]
    fn serials_round_trip_and_excel_leap_bug() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap_or_default();
        assert_eq!(serial_to_date(date_to_serial(d)), Some(d));
        assert_eq!(serial_to_date(1.0), NaiveDate::from_ymd_opt(1900, 1, 1));
        assert_eq!(serial_to_date(61.0), NaiveDate::from_ymd_opt(1900, 3, 1));
    }

    #[test]
    fn text_is_cleaned() {
        assert_eq!(clean_text("\u{3000} ４１０１Ｘ x "), "4101X x");
        assert_eq!(header_key("所属村\n（社区）"), "所属村(社区)");
        assert_eq!(number_text(4.1990119850312e17), "419901198503120000");
        assert_eq!(number_text(13812345678.0), "13812345678");
        assert_eq!(number_text(80.5), "80.5");
        let mut b = String::new();
        iso_date_into(
            NaiveDate::from_ymd_opt(985, 3, 2).unwrap_or_default(),
            &mut b,
        );
        assert_eq!(b, "0985-03-02");
        b.clear();
        clean_text_into(" ４１x\u{3000}", &mut b);
        assert_eq!(b, "41x");
    }

    #[test]
    fn a1_names() {
        assert_eq!(a1(0, 0), "A1");
        assert_eq!(a1(11, 5), "F12");
        assert_eq!(column_name(26), "AA");
        assert_eq!(column_name(16383), "XFD");
    }

    #[test]
    fn period_ends() {
        assert_eq!(period_end("2026-11"), NaiveDate::from_ymd_opt(2026, 11, 30));
        assert_eq!(period_end("2026-12"), NaiveDate::from_ymd_opt(2026, 12, 31));
        assert_eq!(period_end("2026-13"), None);
    }
}

/// How Excel's General format shows a number in a normal-width cell: long
/// numbers in scientific notation with six significant digits (`4.19901E+17` for
/// an ID typed into a General cell), others as they are.
pub fn excel_general(x: f64) -> String {
    let a = x.abs();
    if a != 0.0 && !(1e-9..1e11).contains(&a) {
        let s = format!("{x:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}E{sign}{:02}", exp.abs())
    } else {
        number_text(x)
    }
}

#[cfg(test)]
mod general_tests {
    #[test]
    fn long_numbers_show_as_excel_does() {
        assert_eq!(super::excel_general(4.1990119850312e17), "4.19901E+17");
        assert_eq!(super::excel_general(41990119850312000000.0), "4.19901E+19");
        assert_eq!(super::excel_general(80.0), "80");
    }
}

/// A month as `YYYY-MM` from a cell as people write it: a date (any day of the
/// month), `2026-11`, `2026年11月`, `2026/11`, `2026.11`, `202611` (as text or as a
/// number). A number like `2026.1` is refused: it may have been `2026.10`.
pub fn cell_month(cell: &Cell<'_>) -> Result<Option<String>, Unreadable> {
    let ym = |y: i64, m: i64| -> Result<Option<String>, Unreadable> {
        if (1900..=2200).contains(&y) && (1..=12).contains(&m) {
            Ok(Some(format!("{y:04}-{m:02}")))
        } else {
            Err(Unreadable)
        }
    };
    let whole = |i: i64| -> Result<Option<String>, Unreadable> {
        if (190001..=220012).contains(&i) {
            return ym(i / 100, i % 100);
        }
        int_date(i).map(|d| d.map(|d| d.format("%Y-%m").to_string()))
    };
    match cell {
        Cell::Empty => Ok(None),
        Cell::Int(i) => whole(*i),
        Cell::Float(f) if f.fract() == 0.0 => whole(*f as i64),
        Cell::Float(f) => {
            let cents = (f * 100.0).round();
            let tenths_only = ((f * 10.0).round() - f * 10.0).abs() < 1e-6;
            if (cents - f * 100.0).abs() < 1e-6 && !tenths_only {
                ym(cents as i64 / 100, cents as i64 % 100)
            } else {
                Err(Unreadable)
            }
        }
        Cell::Text(t) => {
            let t = clean_text(t);
            if t.is_empty() {
                return Ok(None);
            }
            if let Some(d) = parse_date_text(&t) {
                return Ok(Some(d.format("%Y-%m").to_string()));
            }
            let t = t.trim_end_matches('份').trim_end_matches('月');
            let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
            if t.len() == 6 && digits(t) {
                return whole(t.parse().map_err(|_| Unreadable)?);
            }
            match t.split_once(['-', '.', '/', '年']) {
                Some((y, m)) if y.len() == 4 && digits(y) && digits(m) && m.len() <= 2 => ym(
                    y.parse().map_err(|_| Unreadable)?,
                    m.parse().map_err(|_| Unreadable)?,
                ),
                _ => Err(Unreadable),
            }
        }
        Cell::Date(_) | Cell::Iso(_) => {
            cell_date(cell).map(|d| d.map(|d| d.format("%Y-%m").to_string()))
        }
        Cell::Bool(_) | Cell::Error(_) => Err(Unreadable),
    }
}

#[cfg(test)]
mod month_tests {
    use super::{cell_month, Cell};

    #[test]
    fn months_as_people_write_them() {
        let m = |c: Cell<'_>| cell_month(&c).ok().flatten();
        for t in [
            "2026-11",
            "2026年11月",
            "2026年11月份",
            "2026/11",
            "2026.11",
            "202611",
            "2026-11-05",
            "2026年11月5日",
        ] {
            assert_eq!(m(Cell::Text(t.into())).as_deref(), Some("2026-11"), "{t}");
        }
        assert_eq!(m(Cell::Int(202611)).as_deref(), Some("2026-11"));
        assert_eq!(m(Cell::Float(2026.11)).as_deref(), Some("2026-11"));
        assert_eq!(m(Cell::Float(2026.05)).as_deref(), Some("2026-05"));
        assert!(
            cell_month(&Cell::Float(2026.1)).is_err(),
            "2026.1 may be 2026.10"
        );
        assert_eq!(m(Cell::Date(46331.0)).as_deref(), Some("2026-11"));
        assert!(cell_month(&Cell::Text("十一月".into())).is_err());
        assert!(cell_month(&Cell::Text("2026-13".into())).is_err());
    }
}
