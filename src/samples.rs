//! Realistic register workbooks, generated: for tests, the demo and the benchmark.
//!
//! [`people`] makes a deterministic population for a unit (valid IDs, certificates
//! matching category and level, subsidies by the standards, guardians where
//! needed). [`Register`] turns it into rows of [`Val`]s that a test may alter cell
//! by cell, and writes them as a township would: title, `填报单位` line, header,
//! data, template rows, and a `汇总` sheet.

use crate::checks::cn_id::with_check_char;
use crate::workbook::value::date_to_serial;
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};
use std::collections::BTreeMap;
use std::path::Path;

/// A cell to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(String),
    Num(f64),
    /// A real Excel date (a serial with a date format).
    Date(NaiveDate),
    Blank,
}

impl Val {
    pub fn text(s: impl Into<String>) -> Val {
        Val::Text(s.into())
    }
}

/// Small deterministic PRNG (xorshift64*), so samples are the same on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "郑",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建国", "红梅", "志强", "玉兰", "国庆",
    "海燕", "春生",
];
pub const CATEGORIES: &[&str] = &["视力", "听力", "言语", "肢体", "智力", "精神", "多重"];
pub const LEVELS: &[&str] = &["一级", "二级", "三级", "四级"];
const EMPLOYMENT: &[&str] = &[
    "未就业",
    "农业生产",
    "灵活就业",
    "按比例就业",
    "无劳动能力",
    "",
];
const REHAB: &[&str] = &[
    "辅助器具适配",
    "康复训练",
    "精神病服药补贴",
    "",
    "",
    "白内障复明手术",
];

/// One person of the register.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub gender: &'static str,
    pub birth: NaiveDate,
    pub id: String,
    pub category: usize,
    pub level: usize,
    pub village: String,
    pub phone: String,
    pub guardian: String,
    pub low_income: bool,
    pub living: f64,
    pub nursing: f64,
    pub employment: &'static str,
    pub rehab: &'static str,
    pub issue: NaiveDate,
}

impl Person {
    pub fn cert(&self) -> String {
        format!("{}{}{}", self.id, self.category + 1, self.level + 1)
    }
}

/// A valid population of `n` persons of a unit, all checks passing for `period`.
pub fn people(unit_code: &str, villages: &[String], n: usize, seed: u64) -> Vec<Person> {
    let mut rng = Rng::new(seed);
    let region = &unit_code[..6.min(unit_code.len())];
    let mut out = Vec::with_capacity(n);
    let mut used = std::collections::HashSet::new();
    while out.len() < n {
        let birth = NaiveDate::from_ymd_opt(
            1935 + rng.below(85) as i32,
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        )
        .unwrap_or_default();
        let male = rng.chance(55);
        let seq = 1 + rng.below(998);
        let seq = if male { seq | 1 } else { seq & !1 };
        let first17 = format!("{region}{}{:03}", birth.format("%Y%m%d"), seq % 1000);
        if !used.insert(first17.clone()) {
            continue;
        }
        let id = with_check_char(&first17);
        let category = rng.below(CATEGORIES.len());
        let level = rng.below(LEVELS.len());
        // Under 18 at the end of 2026-11 (or any later period).
        let minor = NaiveDate::from_ymd_opt(2008, 11, 30).is_some_and(|d| birth > d);
        let needs_guardian = category == 4 || category == 5 || minor;
        let low_income = rng.chance(25);
        let nursing_ok = level <= 1 || (level == 2 && (category == 4 || category == 5));
        let nursing = if nursing_ok {
            [100.0, 80.0, 60.0, 0.0][level]
        } else {
            0.0
        };
        let phone = match rng.below(10) {
            0 => String::new(),
            1 => format!("0371-6{:06}", rng.below(1_000_000)),
            2 => format!(
                "13{}{:08}/0371-6{:06}",
                5 + rng.below(5),
                rng.below(100_000_000),
                rng.below(1_000_000)
            ),
            _ => format!(
                "1{}{}{:08}",
                3 + rng.below(7),
                rng.below(10),
                rng.below(100_000_000)
            ),
        };
        let issue_year = (birth.year() + 1).max(2008) + rng.below(10) as i32;
        let issue = NaiveDate::from_ymd_opt(
            issue_year.min(2025),
            1 + rng.below(12) as u32,
            1 + rng.below(28) as u32,
        )
        .unwrap_or_default();
        out.push(Person {
            name: format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN)),
            gender: if male { "男" } else { "女" },
            birth,
            id,
            category,
            level,
            village: rng.pick(villages).clone(),
            phone,
            guardian: if needs_guardian || rng.chance(10) {
                format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN))
            } else {
                String::new()
            },
            low_income,
            living: if low_income { 80.0 } else { 0.0 },
            nursing,
            employment: EMPLOYMENT[rng.below(EMPLOYMENT.len())],
            rehab: REHAB[rng.below(REHAB.len())],
            issue,
        });
    }
    out
}

/// Standard headers of the register, in template order, with their column keys.
pub const REGISTER_COLUMNS: &[(&str, &str)] = &[
    ("seq", "序号"),
    ("name", "姓名"),
    ("gender", "性别"),
    ("ethnicity", "民族"),
    ("birth_date", "出生日期"),
    ("id_number", "身份证号"),
    ("cert_number", "残疾人证号"),
    ("category", "残疾类别"),
    ("level", "残疾等级"),
    ("village", "所属村（社区）"),
    ("phone", "联系电话"),
    ("guardian", "监护人"),
    ("low_income", "是否低保"),
    ("living_subsidy", "生活补贴（元/月）"),
    ("nursing_subsidy", "护理补贴（元/月）"),
    ("employment", "就业状况"),
    ("rehab", "康复服务"),
    ("remarks", "备注"),
    ("issue_date", "办证日期"),
];

/// Standard headers of the payments ledger (两项补贴发放台账), in template order.
pub const PAYMENT_COLUMNS: &[(&str, &str)] = &[
    ("seq", "序号"),
    ("name", "姓名"),
    ("id_number", "身份证号"),
    ("cert_number", "残疾人证号"),
    ("subsidy_type", "补贴类型"),
    ("pay_month", "发放月份"),
    ("amount", "发放金额"),
    ("card_number", "银行卡号"),
    ("remarks", "备注"),
];

/// A 19-digit bank card number of a person (deterministic, from the ID).
pub fn card_of(p: &Person) -> String {
    let digits: String = p.id.chars().filter(char::is_ascii_digit).collect();
    format!("6228{:0>15}", &digits[digits.len().saturating_sub(15)..])
}

/// One payment row of a person (序号 blank).
pub fn payment_row(p: &Person, kind: &str, month: &str, amount: f64) -> BTreeMap<String, Val> {
    let mut m = BTreeMap::new();
    m.insert("name".into(), Val::text(&p.name));
    m.insert("id_number".into(), Val::text(&p.id));
    m.insert("cert_number".into(), Val::text(p.cert()));
    m.insert("subsidy_type".into(), Val::text(kind));
    m.insert("pay_month".into(), Val::text(month));
    m.insert("amount".into(), Val::Num(amount));
    m.insert("card_number".into(), Val::text(card_of(p)));
    m.insert("remarks".into(), Val::Blank);
    m
}

/// A clean payments ledger of `period` for the given persons: one row per
/// subsidy each receives by the register (生活补贴 for 低保, 护理补贴 by level),
/// laid out as the county template (title, 填报单位 line, header, rows), a 合计
/// row at the bottom. Written by [`Register::write`] (no 汇总 sheet).
pub fn payments(unit: &str, persons: &[Person], period: &str) -> Register {
    let mut rows = Vec::new();
    for p in persons {
        for (kind, amount) in [("生活补贴", p.living), ("护理补贴", p.nursing)] {
            if amount <= 0.0 {
                continue;
            }
            let mut m = payment_row(p, kind, period, amount);
            m.insert("seq".to_string(), Val::Num((rows.len() + 1) as f64));
            rows.push(m);
        }
    }
    let mut reg = Register::new(unit, &[]);
    reg.columns = PAYMENT_COLUMNS
        .iter()
        .map(|(k, h)| (k.to_string(), h.to_string()))
        .collect();
    reg.rows = rows;
    reg.sheet_name = "补贴发放".into();
    reg.summary = false;
    reg.title_line = Some(format!("安和县{unit}两项补贴发放台账"));
    if let Some(end) = crate::workbook::value::period_end(period) {
        reg.date_text = end.format("%Y年%-m月%-d日").to_string();
    }
    reg.after_rows = vec![reg.payments_total(0.0)];
    reg
}

/// Another agency's list (部门比对) as the county gets it: `kind` is `deaths`
/// (姓名, 身份证号, 死亡日期, 来源), `dibao` (姓名, 身份证号, 所属乡镇, 保障类别) or
/// `tekun` (姓名, 身份证号, 供养方式); each row (name, ID, the third column: a
/// date `2026-10-15`, a township, a 供养方式).
pub fn agency_list(kind: &str, rows: &[(&str, &str, &str)]) -> Register {
    let (title, columns): (&str, &[(&str, &str)]) = match kind {
        "deaths" => (
            "死亡人员名单",
            &[
                ("seq", "序号"),
                ("name", "姓名"),
                ("id_number", "身份证号"),
                ("third", "死亡日期"),
                ("source", "来源"),
            ],
        ),
        "dibao" => (
            "低保对象名单",
            &[
                ("seq", "序号"),
                ("name", "姓名"),
                ("id_number", "身份证号"),
                ("third", "所属乡镇"),
                ("class", "保障类别"),
            ],
        ),
        _ => (
            "特困供养人员名单",
            &[
                ("seq", "序号"),
                ("name", "姓名"),
                ("id_number", "身份证号"),
                ("third", "供养方式"),
            ],
        ),
    };
    let mut reg = Register::new("", &[]);
    reg.columns = columns
        .iter()
        .map(|(k, h)| (k.to_string(), h.to_string()))
        .collect();
    reg.rows = rows
        .iter()
        .enumerate()
        .map(|(i, (name, id, third))| {
            let mut m = BTreeMap::new();
            m.insert("seq".to_string(), Val::Num((i + 1) as f64));
            m.insert("name".to_string(), Val::text(*name));
            m.insert("id_number".to_string(), Val::text(*id));
            let v = match chrono::NaiveDate::parse_from_str(third, "%Y-%m-%d") {
                Ok(d) => Val::Date(d),
                Err(_) => Val::text(*third),
            };
            m.insert("third".to_string(), v);
            m.insert("source".to_string(), Val::text("民政殡葬"));
            m.insert("class".to_string(), Val::text("城乡低保"));
            m
        })
        .collect();
    reg.sheet_name = title.into();
    reg.summary = false;
    reg.title = false;
    reg
}

/// A register workbook about to be written: change anything, then [`Register::write`].
#[derive(Debug, Clone)]
pub struct Register {
    pub unit: String,
    pub date_text: String,
    /// Columns in sheet order: (key, header text as written).
    pub columns: Vec<(String, String)>,
    pub rows: Vec<BTreeMap<String, Val>>,
    /// A merged title row and a 填报单位/填报日期 row above the header.
    pub title: bool,
    /// Blank rows inserted before these data-row indexes.
    pub blank_before: Vec<usize>,
    /// Pre-numbered template rows after the data.
    pub template_rows: usize,
    /// Write the 汇总 sheet (counts from the rows).
    pub summary: bool,
    /// Overrides of 汇总 cells: (category index or 7 for 合计, level index or 4 for 合计) → value.
    pub summary_override: Vec<((usize, usize), Val)>,
    pub sheet_name: String,
    /// Write dates in the 1904 date system (as old Mac Excel does).
    pub date1904: bool,
    /// Extra columns after the declared ones (header, value per data row), as
    /// townships add their own columns.
    pub columns_extra: Vec<(String, Vec<Val>)>,
    /// Rows written after the data and template rows, by column key: a 合计 row,
    /// a footer (`填表人：…`).
    pub after_rows: Vec<BTreeMap<String, Val>>,
    /// The merged title (default `安和县<unit>残疾人信息登记簿`); `Some("")` leaves it out.
    pub title_line: Option<String>,
    /// The unit line's text (default `填报单位：<unit>`); `Some("")` leaves it out.
    pub unit_line: Option<String>,
    /// The 汇总 sheet's name and its corner cell's text.
    pub summary_name: String,
    pub summary_corner: String,
}

impl Register {
    /// A clean register of the given persons, laid out as the county template.
    pub fn new(unit: &str, persons: &[Person]) -> Register {
        let rows = persons
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut m = BTreeMap::new();
                let t = |s: &str| {
                    if s.is_empty() {
                        Val::Blank
                    } else {
                        Val::text(s)
                    }
                };
                m.insert("seq".into(), Val::Num((i + 1) as f64));
                m.insert("name".into(), Val::text(&p.name));
                m.insert("gender".into(), Val::text(p.gender));
                m.insert("ethnicity".into(), Val::text("汉族"));
                m.insert("birth_date".into(), Val::Date(p.birth));
                m.insert("id_number".into(), Val::text(&p.id));
                m.insert("cert_number".into(), Val::text(p.cert()));
                m.insert("category".into(), Val::text(CATEGORIES[p.category]));
                m.insert("level".into(), Val::text(LEVELS[p.level]));
                m.insert("village".into(), Val::text(&p.village));
                m.insert("phone".into(), t(&p.phone));
                m.insert("guardian".into(), t(&p.guardian));
                m.insert(
                    "low_income".into(),
                    Val::text(if p.low_income { "是" } else { "否" }),
                );
                m.insert(
                    "living_subsidy".into(),
                    if p.living > 0.0 {
                        Val::Num(p.living)
                    } else {
                        Val::Blank
                    },
                );
                m.insert(
                    "nursing_subsidy".into(),
                    if p.nursing > 0.0 {
                        Val::Num(p.nursing)
                    } else {
                        Val::Num(0.0)
                    },
                );
                m.insert("employment".into(), t(p.employment));
                m.insert("rehab".into(), t(p.rehab));
                m.insert("remarks".into(), Val::Blank);
                m.insert("issue_date".into(), Val::Date(p.issue));
                m
            })
            .collect();
        Register {
            unit: unit.to_string(),
            date_text: "2026年11月30日".into(),
            columns: REGISTER_COLUMNS
                .iter()
                .map(|(k, h)| (k.to_string(), h.to_string()))
                .collect(),
            rows,
            title: true,
            blank_before: Vec::new(),
            template_rows: 0,
            summary: true,
            summary_override: Vec::new(),
            sheet_name: "残疾人信息".into(),
            date1904: false,
            columns_extra: Vec::new(),
            after_rows: Vec::new(),
            title_line: None,
            unit_line: None,
            summary_name: "汇总".into(),
            summary_corner: "残疾类别".into(),
        }
    }

    /// A row for [`Register::after_rows`]: `text` in the first column.
    pub fn text_row(text: &str) -> BTreeMap<String, Val> {
        let mut m = BTreeMap::new();
        m.insert("seq".to_string(), Val::text(text));
        m
    }

    /// The 合计 row a clerk adds: `合计` under 姓名 and the sums of the subsidy
    /// columns (plus `off` on 生活补贴).
    pub fn total_row(&self, off: f64) -> BTreeMap<String, Val> {
        let sum = |k: &str| -> f64 {
            self.rows
                .iter()
                .map(|r| match r.get(k) {
                    Some(Val::Num(x)) => *x,
                    _ => 0.0,
                })
                .sum()
        };
        let mut m = BTreeMap::new();
        m.insert("name".to_string(), Val::text("合计"));
        m.insert(
            "living_subsidy".to_string(),
            Val::Num(sum("living_subsidy") + off),
        );
        m.insert(
            "nursing_subsidy".to_string(),
            Val::Num(sum("nursing_subsidy")),
        );
        m
    }

    /// The 合计 row of a payments ledger: `合计` under 姓名 and the sum of 发放金额
    /// (plus `off`).
    pub fn payments_total(&self, off: f64) -> BTreeMap<String, Val> {
        let sum: f64 = self
            .rows
            .iter()
            .map(|r| match r.get("amount") {
                Some(Val::Num(x)) => *x,
                _ => 0.0,
            })
            .sum();
        let mut m = BTreeMap::new();
        m.insert("name".to_string(), Val::text("合计"));
        m.insert("amount".to_string(), Val::Num(sum + off));
        m
    }

    /// Sets one cell of data row `i` (0-based) by column key.
    pub fn set(&mut self, i: usize, key: &str, v: Val) -> &mut Self {
        if let Some(r) = self.rows.get_mut(i) {
            r.insert(key.to_string(), v);
        }
        self
    }

    /// Zero-based sheet row of data row `i`, as written (for asserting on cells).
    pub fn sheet_row(&self, i: usize) -> u32 {
        let top = if self.title { 3 } else { 1 };
        let blanks = self.blank_before.iter().filter(|b| **b <= i).count();
        (top + i + blanks) as u32
    }

    /// A1 reference of data row `i`, column `key`.
    pub fn cell(&self, i: usize, key: &str) -> String {
        let c = self.columns.iter().position(|(k, _)| k == key).unwrap_or(0);
        crate::workbook::value::a1(self.sheet_row(i), c as u32)
    }

    /// How many rows have this category and level (`None`: any), counting rows by
    /// the labels as written, as a township's own 汇总 table does.
    pub fn count(&self, category: Option<&str>, level: Option<&str>) -> u64 {
        let get = |r: &BTreeMap<String, Val>, k: &str| match r.get(k) {
            Some(Val::Text(s)) => crate::workbook::value::clean_text(s),
            _ => String::new(),
        };
        // 汇总 counts the persons on the register (人员状态 blank or 在册).
        self.rows
            .iter()
            .filter(|r| matches!(get(r, "status").as_str(), "" | "在册" | "正常" | "在籍"))
            .filter(|r| !get(r, "category").is_empty() && !get(r, "level").is_empty())
            .filter(|r| {
                category.is_none_or(|c| get(r, "category") == c)
                    && level.is_none_or(|l| get(r, "level") == l)
            })
            .count() as u64
    }

    /// Writes the workbook as `.xlsx`.
    pub fn write(&self, path: &Path) -> Result<(), XlsxError> {
        Register::write_book(&[self], path)
    }

    /// Writes several registers as the sheets of one workbook (each under its
    /// `sheet_name`), then the first one's 汇总 sheet if it has one.
    pub fn write_book(sheets: &[&Register], path: &Path) -> Result<(), XlsxError> {
        let mut wb = Workbook::new();
        for reg in sheets {
            reg.write_sheet(&mut wb)?;
        }
        if let Some(first) = sheets.first() {
            if first.summary {
                first.write_summary(&mut wb)?;
            }
        }
        wb.save(path)?;
        if sheets.first().is_some_and(|r| r.date1904) {
            set_1904(path)?;
        }
        Ok(())
    }

    fn write_sheet(&self, wb: &mut Workbook) -> Result<(), XlsxError> {
        let date = Format::new().set_num_format("yyyy-mm-dd");
        let bold = Format::new()
            .set_bold()
            .set_align(FormatAlign::Center)
            .set_text_wrap();
        let ws = wb.add_worksheet();
        ws.set_name(&self.sheet_name)?;
        let ncol = self.columns.len() as u16;
        let mut r: u32 = 0;
        if self.title {
            let title = self
                .title_line
                .clone()
                .unwrap_or_else(|| format!("安和县{}残疾人信息登记簿", self.unit));
            if !title.is_empty() {
                ws.merge_range(0, 0, 0, ncol.saturating_sub(1), &title, &bold)?;
            }
            let unit = self
                .unit_line
                .clone()
                .unwrap_or_else(|| format!("填报单位：{}", self.unit));
            if !unit.is_empty() {
                ws.write_string(1, 0, unit)?;
            }
            ws.write_string(1, 8, format!("填报日期：{}", self.date_text))?;
            r = 2;
        }
        for (c, (_, h)) in self.columns.iter().enumerate() {
            ws.write_string_with_format(r, c as u16, h, &bold)?;
            ws.set_column_width(c as u16, 12)?;
        }
        for (k, (h, _)) in self.columns_extra.iter().enumerate() {
            ws.write_string_with_format(r, (self.columns.len() + k) as u16, h, &bold)?;
        }
        let shift = if self.date1904 { 1462.0 } else { 0.0 };
        r += 1;
        for (i, row) in self.rows.iter().enumerate() {
            r += self.blank_before.iter().filter(|b| **b == i).count() as u32;
            for (c, (k, _)) in self.columns.iter().enumerate() {
                let c = c as u16;
                match row.get(k).unwrap_or(&Val::Blank) {
                    Val::Text(s) => {
                        ws.write_string(r, c, s)?;
                    }
                    Val::Num(n) => {
                        ws.write_number(r, c, *n)?;
                    }
                    Val::Date(d) => {
                        ws.write_number_with_format(r, c, date_to_serial(*d) - shift, &date)?;
                    }
                    Val::Blank => {}
                }
            }
            for (k, (_, vals)) in self.columns_extra.iter().enumerate() {
                if let Some(Val::Text(s)) = vals.get(i) {
                    ws.write_string(r, (self.columns.len() + k) as u16, s)?;
                }
            }
            r += 1;
        }
        let seq_col = self
            .columns
            .iter()
            .position(|(k, _)| k == "seq")
            .unwrap_or(0) as u16;
        for t in 0..self.template_rows {
            ws.write_number(r, seq_col, (self.rows.len() + t + 1) as f64)?;
            r += 1;
        }
        for row in &self.after_rows {
            for (c, (k, _)) in self.columns.iter().enumerate() {
                match row.get(k) {
                    Some(Val::Text(s)) => {
                        ws.write_string(r, c as u16, s)?;
                    }
                    Some(Val::Num(n)) => {
                        ws.write_number(r, c as u16, *n)?;
                    }
                    _ => {}
                }
            }
            r += 1;
        }
        Ok(())
    }

    fn write_summary(&self, wb: &mut Workbook) -> Result<(), XlsxError> {
        let bold = Format::new()
            .set_bold()
            .set_align(FormatAlign::Center)
            .set_text_wrap();
        let ws = wb.add_worksheet();
        ws.set_name(&self.summary_name)?;
        ws.merge_range(0, 0, 0, 5, &format!("{}残疾人分类统计", self.unit), &bold)?;
        ws.write_string(1, 0, &self.summary_corner)?;
        for (j, l) in LEVELS.iter().chain(["合计"].iter()).enumerate() {
            ws.write_string(1, 1 + j as u16, *l)?;
        }
        for (i, cat) in CATEGORIES.iter().chain(["合计"].iter()).enumerate() {
            let rr = 2 + i as u32;
            ws.write_string(rr, 0, *cat)?;
            for j in 0..5 {
                let v = self.count(CATEGORIES.get(i).copied(), LEVELS.get(j).copied());
                let val = self
                    .summary_override
                    .iter()
                    .find(|((a, b), _)| *a == i && *b == j)
                    .map(|(_, v)| v.clone())
                    .unwrap_or(Val::Num(v as f64));
                match val {
                    Val::Num(x) => ws.write_number(rr, 1 + j as u16, x)?,
                    Val::Text(s) => ws.write_string(rr, 1 + j as u16, s)?,
                    Val::Date(d) => ws.write_number(rr, 1 + j as u16, date_to_serial(d))?,
                    Val::Blank => ws,
                };
            }
        }
        Ok(())
    }
}

/// Marks a saved xlsx as using the 1904 date system (`<workbookPr date1904="1">`),
/// the way Excel for Mac files come.
fn set_1904(path: &Path) -> Result<(), XlsxError> {
    use std::io::{Read, Write};
    let io = |e: std::io::Error| XlsxError::IoError(e);
    let zerr = |e: zip::result::ZipError| XlsxError::IoError(std::io::Error::other(e.to_string()));
    let bytes = std::fs::read(path).map_err(io)?;
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(zerr)?;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for i in 0..zin.len() {
        let mut f = zin.by_index(i).map_err(zerr)?;
        let name = f.name().map_err(zerr)?.to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).map_err(io)?;
        if name == "xl/workbook.xml" {
            let text =
                String::from_utf8_lossy(&data).replace("<workbookPr", "<workbookPr date1904=\"1\"");
            data = text.into_bytes();
        }
        out.start_file(name, opts).map_err(zerr)?;
        out.write_all(&data).map_err(io)?;
    }
    let buf = out.finish().map_err(zerr)?.into_inner();
    std::fs::write(path, buf).map_err(io)
}
