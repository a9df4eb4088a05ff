//! How the county workbook prints: every sheet readable on paper (text never
//! below [`MIN_SCALE`] of its size: a table too wide for one page at that scale
//! is split across pages with its row labels repeated), no clipped cell (column
//! widths follow what is written, [`Widths`]), the title and page numbers on every
//! page, and the 制表人 / 审核人 / 制表日期 line of `county.toml`'s `[print]`.

use crate::rules::schema::{Paper, Print};
use rust_xlsxwriter::{Format, FormatAlign, Worksheet, XlsxError};

/// The smallest print scale (per cent): 11 pt text prints at 7.15 pt. A sheet
/// that would fit one page wide only below it prints at it, split across pages.
pub const MIN_SCALE: u16 = 65;

/// A column never grows past this many characters; longer text wraps.
pub const MAX_WIDTH: f64 = 50.0;

/// Margins (inches): left, right, top, bottom, header, footer.
const MARGINS: (f64, f64, f64, f64, f64, f64) = (0.4, 0.4, 0.6, 0.6, 0.3, 0.3);

/// Width of text in Excel's column units: a CJK or full-width character takes
/// two, anything else one.
pub fn display_width(text: &str) -> f64 {
    text.chars()
        .map(|c| if wide(c) { 2.0 } else { 1.0 })
        .sum::<f64>()
}

fn wide(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// The widths of a sheet's columns: each at least its starting width and as
/// wide as the widest text seen in it (plus a margin), up to [`MAX_WIDTH`].
#[derive(Debug, Clone)]
pub struct Widths(Vec<f64>);

impl Widths {
    pub fn new(start: Vec<f64>) -> Widths {
        Widths(start)
    }

    /// Widens `col` for `text`; true when the text is wider than any column may
    /// be (write it wrapped).
    pub fn see(&mut self, col: u16, text: &str) -> bool {
        let need = display_width(text) + 2.0;
        let col = usize::from(col);
        if self.0.len() <= col {
            self.0.resize(col + 1, 8.0);
        }
        if need > self.0[col] {
            self.0[col] = need.min(MAX_WIDTH);
        }
        need > MAX_WIDTH
    }

    pub fn get(&self, col: u16) -> f64 {
        self.0.get(usize::from(col)).copied().unwrap_or(8.43)
    }

    /// Sets every column's width on the sheet.
    pub fn apply(&self, ws: &mut Worksheet) -> Result<(), XlsxError> {
        for (i, w) in self.0.iter().enumerate() {
            ws.set_column_width(i as u16, *w)?;
        }
        Ok(())
    }

    /// The sheet's width on paper at 100 %, in points, as the widest reader
    /// prints it: Excel's rule is `width × 7 + 5` pixels of ¾ pt for Calibri,
    /// LibreOffice without Calibri prints about 1.3 × that (measured), so a
    /// character counts 9 pixels here.
    pub fn points(&self) -> f64 {
        self.0.iter().map(|w| (w * 9.0 + 5.0).trunc() * 0.75).sum()
    }
}

/// What every sheet of one county workbook prints with.
pub struct Page<'a> {
    /// County, kind, period, as of when (top left of every page).
    pub title: String,
    pub print: &'a Print,
    /// The date the table was made (the newest submission's day, so the same
    /// journal gives the same bytes): `2026年11月30日`.
    pub date: String,
}

impl Page<'_> {
    /// The 制表人 / 审核人 / 制表日期 line; a name not set in `county.toml` is a blank
    /// to sign on.
    pub fn signature_line(&self) -> String {
        let name = |n: &str| {
            if n.trim().is_empty() {
                "＿＿＿＿＿＿".to_string()
            } else {
                n.trim().to_string()
            }
        };
        format!(
            "制表人：{}　　审核人：{}　　制表日期：{}",
            name(&self.print.prepared_by),
            name(&self.print.reviewed_by),
            self.date
        )
    }

    /// Page setup of one sheet: landscape on the county's paper, one page wide
    /// when that keeps the scale at or above [`MIN_SCALE`], else at that scale
    /// with `label_cols` repeated on every page; `header_rows` repeated on every
    /// page; the title and sheet name at the top, page numbers and the date at
    /// the bottom.
    pub fn setup(
        &self,
        ws: &mut Worksheet,
        widths: &Widths,
        header_rows: Option<(u32, u32)>,
        label_cols: Option<(u16, u16)>,
    ) -> Result<(), XlsxError> {
        let (paper_code, paper_width) = match self.print.paper {
            Paper::A4 => (9, 11.69),
            Paper::A3 => (8, 16.54),
        };
        let (l, r, t, b, h, f) = MARGINS;
        ws.set_landscape();
        ws.set_paper_size(paper_code);
        ws.set_margins(l, r, t, b, h, f);
        let printable = (paper_width - l - r) * 72.0;
        let scale = printable / widths.points().max(1.0) * 100.0;
        if scale >= f64::from(MIN_SCALE) {
            ws.set_print_fit_to_pages(1, 0);
        } else {
            ws.set_print_scale(MIN_SCALE);
            if let Some((first, last)) = label_cols {
                ws.set_repeat_columns(first, last)?;
            }
        }
        ws.set_header(format!("&L{}&R&A", self.title.replace('&', "&&")));
        ws.set_footer(format!(
            "&C第 &P 页，共 &N 页&R制表日期：{}",
            self.date.replace('&', "&&")
        ));
        if let Some((first, last)) = header_rows {
            ws.set_repeat_rows(first, last)?;
        }
        Ok(())
    }

    /// Writes the signature line at `row`, merged over the first columns wide
    /// enough to hold it.
    pub fn write_signature(
        &self,
        ws: &mut Worksheet,
        row: u32,
        widths: &Widths,
    ) -> Result<(), XlsxError> {
        let line = self.signature_line();
        let need = display_width(&line) + 2.0;
        let (mut last, mut have) = (0u16, widths.get(0));
        while have < need && last < 40 {
            last += 1;
            have += widths.get(last);
        }
        let fmt = Format::new().set_align(FormatAlign::Left);
        if last == 0 {
            ws.write_string_with_format(row, 0, &line, &fmt)?;
        } else {
            ws.merge_range(row, 0, row, last, &line, &fmt)?;
        }
        ws.set_row_height(row, 24)?;
        Ok(())
    }
}

/// A time (`2026-11-30T09:00:00+08:00`) as its local date in words: `2026年11月30日`.
pub fn date_zh(rfc3339: &str) -> String {
    let local = crate::text::local_time(rfc3339);
    let d = local.get(..10).unwrap_or("");
    let mut parts = d.split('-').map(|p| p.trim_start_matches('0'));
    match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(day)) if !y.is_empty() => format!("{y}年{m}月{day}日"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_counts_double_and_widths_grow_to_a_cap() {
        assert_eq!(display_width("0371-12345678"), 13.0);
        assert_eq!(display_width("柳河镇"), 6.0);
        let mut w = Widths::new(vec![10.0, 10.0]);
        assert!(!w.see(1, "0371-12345678，13812345678"));
        assert_eq!(w.get(1), 28.0);
        assert!(w.see(0, &"长".repeat(30)));
        assert_eq!(w.get(0), MAX_WIDTH);
        assert_eq!(w.get(5), 8.43);
    }

    #[test]
    fn the_date_in_words() {
        // Noon UTC is the same day in every zone China's offices use.
        assert_eq!(date_zh("2026-11-03T12:00:00+00:00"), "2026年11月3日");
        assert_eq!(date_zh(""), "");
    }
}
