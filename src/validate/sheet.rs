//! The sheet pass: one detail sheet streamed row by row. The header is found
//! in the first rows (and the unit and period nothing_to_check from the title lines
//! above it), then each data row is normalised, constrained and ruled.

use super::*;

pub(super) struct SheetPass<'a> {
    pub(super) rules: &'a RuleSet,
    pub(super) kind: &'a Kind,
    pub(super) sheet: String,
    pub(super) opts: &'a Options,
    pub(super) name: &'a str,
    pub(super) header: Option<HeaderMatch>,
    pub(super) buffered: Vec<(u32, Vec<(u32, Cell<'static>)>)>,
    /// Sheet column → declared column.
    pub(super) colmap: Vec<Option<usize>>,
    pub(super) unit: Option<String>,
    pub(super) period: String,
    pub(super) period_end: String,
    pub(super) first_seen: Vec<FxHashMap<u128, u32>>,
    /// (column, key of its value with its `unique_with` columns) → first row.
    pub(super) first_seen_with: FxHashMap<(usize, u128), u32>,
    pub(super) tallies: Vec<Tally>,
    pub(super) norms: Vec<Norm>,
    /// Columns whose value nothing reads (only whether they are blank).
    pub(super) inert: Vec<bool>,
    /// Declared column → index of its cell in the current row.
    pub(super) slot: Vec<Option<usize>>,
    /// Column key → declared column, for row rules.
    pub(super) names: FxHashMap<String, usize>,
    pub(super) file_scope: Context<'a, 'a>,
    pub(super) memo: Vec<Memo>,
    pub(super) calls: native::Calls,
    pub(super) plan: Plan<'a>,
    pub(super) out: FileReport,
    /// More data rows than `[limits] max_rows`: the file is refused.
    pub(super) over_limit: bool,
    /// Sums of the money columns over the data rows so far (for 合计 rows).
    pub(super) sums: Vec<f64>,
    /// Shared string 0 of the workbook, and the data cells whose text equals it
    /// (maybe an index the reader could not map: see `workbook::shared`).
    pub(super) shared0: Option<String>,
    pub(super) like_shared0: Vec<(u32, u32)>,
    /// Where referenced ledgers come from, each one as found (None: the unit has
    /// none), and the current row's view of each.
    pub(super) refs: &'a dyn References,
    pub(super) linked: Vec<Option<std::borrow::Cow<'a, RefLedger>>>,
    pub(super) ref_now: Vec<RefNow>,
    /// Per reference with `must_cover`, the keys this file's rows have.
    pub(super) covered: Vec<Option<std::collections::HashSet<String>>>,
    /// The rows kept as a ledger others are checked against: key column, value
    /// columns, the ledger (`Options::as_ledger`).
    pub(super) as_ledger: Option<(usize, Vec<Option<usize>>, RefLedger)>,
}

/// The current row as looked up in one referenced ledger.
#[derive(Default)]
pub(super) struct RefNow {
    pub(super) found: bool,
    /// The found row's values, in the reference's column order ('' when not found).
    pub(super) values: Vec<String>,
    /// Another unit whose ledger has the key, when this one's has not.
    pub(super) elsewhere: String,
    /// The period of the ledger the row was found in, when the reference joins
    /// several ([`RefLedger::row_periods`]).
    pub(super) period: String,
}

impl<'a> SheetPass<'a> {
    pub(super) fn new(
        rules: &'a RuleSet,
        kind: &'a Kind,
        sheet: &str,
        opts: &'a Options,
        name: &'a str,
        root: &'a Context<'a, 'a>,
        refs: &'a dyn References,
    ) -> Self {
        let n = kind.columns.len();
        let tallies = kind
            .sheet_rules
            .iter()
            .map(|r| {
                let width = kind.columns[r.cols].values.len().max(1);
                let height = kind.columns[r.rows].values.len().max(1);
                Tally {
                    rows: r.rows,
                    cols: r.cols,
                    width,
                    dense: vec![0; width * height],
                    left_out: 0,
                    only: r.count_only.clone(),
                }
            })
            .collect();
        SheetPass {
            rules,
            kind,
            sheet: sheet.to_string(),
            opts,
            name,
            header: None,
            buffered: Vec::new(),
            colmap: Vec::new(),
            unit: None,
            period: String::new(),
            period_end: String::new(),
            first_seen: vec![FxHashMap::default(); n],
            first_seen_with: FxHashMap::default(),
            tallies,
            norms: vec![Norm::default(); n],
            inert: inert_columns(kind, opts),
            slot: vec![None; n],
            names: kind
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.key.clone(), i))
                .collect(),
            file_scope: root.new_inner_scope(),
            memo: kind.row_rules.iter().map(|_| Memo::default()).collect(),
            calls: native::Calls::new(kind.native_calls),
            plan: Plan::new(kind),
            out: FileReport::default(),
            over_limit: false,
            sums: vec![0.0; n],
            shared0: None,
            like_shared0: Vec::new(),
            refs,
            as_ledger: opts
                .as_ledger
                .iter()
                .find(|s| s.kind == kind.id)
                .and_then(|s| {
                    let on = kind.column(&s.on)?;
                    let cols = s.columns.iter().map(|c| kind.column(c)).collect();
                    Some((
                        on,
                        cols,
                        RefLedger {
                            kind: kind.id.clone(),
                            file: name.to_string(),
                            columns: s.columns.clone(),
                            ..RefLedger::default()
                        },
                    ))
                }),
            linked: kind.references.iter().map(|_| None).collect(),
            covered: kind
                .references
                .iter()
                .map(|r| r.must_cover.as_ref().map(|_| Default::default()))
                .collect(),
            ref_now: kind
                .references
                .iter()
                .map(|r| RefNow {
                    values: vec![String::new(); r.columns.len()],
                    ..RefNow::default()
                })
                .collect(),
        }
    }

    pub(super) fn feed(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) -> Result<(), String> {
        if self.header.is_none() {
            if r < self.kind.header_scan_rows {
                self.buffered.push((
                    r,
                    cells
                        .iter()
                        .map(|(c, v)| (*c, v.clone().into_owned()))
                        .collect(),
                ));
                return Ok(());
            }
            self.read_header()?;
        }
        self.row(r, cells);
        if self.over_limit {
            let max = self.rules.county.limits.max_rows;
            return Err(format!(
                "数据行数超过上限：「{}」工作表超过 {max} 行（上限 {max} 行），未作校验。请检查是否误填了大量空行、重复行，或把多个月份、多个单位的数据放在了一个文件里",
                self.sheet
            ));
        }
        Ok(())
    }

    /// Keeps a finding, up to `[limits] max_findings`; past it only counts it.
    pub(super) fn push_finding(&mut self, f: Finding) {
        if self.out.findings.len() < self.rules.county.limits.max_findings {
            self.out.findings.push(f);
        } else if f.severity == Severity::Error {
            self.out.omitted_errors += 1;
        } else {
            self.out.omitted_warnings += 1;
        }
    }

    pub(super) fn finish(&mut self) -> Result<(), String> {
        if self.header.is_none() {
            self.read_header()?;
        }
        if self.out.rows == 0 {
            let meta = self.kind.file_rule("no_rows", Severity::Error);
            self.file_finding(&meta, None, "", "");
        }
        self.not_covered();
        Ok(())
    }

    /// Finds the header in the buffered rows, settles unit and period, then checks
    /// the buffered rows below the header.
    pub(super) fn read_header(&mut self) -> Result<(), String> {
        let specs = self.kind.header_specs();
        let text_rows: TextRows = self
            .buffered
            .iter()
            .map(|(r, cells)| (*r, cells.iter().map(|(c, v)| (*c, v.text())).collect()))
            .collect();
        let min = self.kind.recognise_by.len().max(2);
        let Some(m) = find_header(&text_rows, &specs, min) else {
            let heads: Vec<String> = self
                .kind
                .recognise_by
                .iter()
                .map(|i| format!("「{}」", self.kind.columns[*i].header))
                .collect();
            return Err(format!(
                "工作表「{}」前 {} 行中找不到表头（应包含{}等列）",
                self.sheet,
                self.kind.header_scan_rows,
                heads.join("")
            ));
        };
        let title = title_lines(self.kind, &text_rows, m.row);
        let county = &self.rules.county;
        let identity = identify::identify(
            county,
            &identify::Clues {
                folder: self.opts.folder_unit.as_deref(),
                file_name: self.name,
                title_unit: title.unit.as_deref(),
                title_date: title.date.as_deref(),
                title_text: Some(&title.text),
                given_period: self.opts.period.as_deref(),
                received: self.opts.fallback_period.as_deref(),
            },
        );
        self.out.layout.clues = title.said(self.opts, self.name);
        let verdict = if self.kind.is_county() {
            // A list of the county's: no township's, whatever its name says.
            UnitVerdict::Known(crate::rules::COUNTY_LISTS.to_string())
        } else {
            match given_unit(county, self.opts)? {
                Some(u) => UnitVerdict::Known(u),
                None => identity.unit.clone(),
            }
        };
        match &verdict {
            UnitVerdict::Known(u) => self.unit = Some(u.clone()),
            UnitVerdict::Conflict(votes) => {
                let meta = self.kind.file_rule("unit_conflict", Severity::Error);
                let shown: Vec<String> = votes
                    .iter()
                    .map(|(s, u)| format!("{}：{u}", s.zh()))
                    .collect();
                let get = |n: &str| -> Option<String> {
                    let pick = |src: Source| {
                        votes
                            .iter()
                            .find(|(s, _)| *s == src)
                            .map(|(_, u)| u.clone())
                    };
                    match n {
                        "file_unit" => pick(Source::FileName).or_else(|| pick(Source::Folder)),
                        "text_unit" => pick(Source::Title).or_else(|| pick(Source::TitleText)),
                        _ => None,
                    }
                };
                let f = Finding::new(&meta, &self.place(None, None), &shown.join("；"), "", &get);
                self.push_finding(f);
            }
            UnitVerdict::Unknown => {
                let meta = self.kind.file_rule("unit_unknown", Severity::Error);
                self.file_finding(&meta, None, &title.unit.clone().unwrap_or_default(), "");
            }
        }
        record_unit(&mut self.out, county, verdict);
        // Validation reads no clock: the month received is the caller's
        // (`Options::fallback_period`); with none and no other source the file
        // cannot be placed in a period.
        let Some((period, source)) = identity.period.clone() else {
            return Err(
                "无法确定期间：文件名和表格中都没有写明月份（如“柳河镇_残疾人信息登记簿_2026-11.xlsx”）"
                    .to_string(),
            );
        };
        self.period = period;
        self.out.period = Some(self.period.clone());
        self.out.layout.period_source = Some(source);
        self.period_end = bind_file_globals(
            &mut self.file_scope,
            self.unit.as_deref().unwrap_or(""),
            &self.period,
        );
        self.link_references()?;
        if source == Source::Received {
            let meta = self.kind.file_rule("period_guessed", Severity::Warning);
            self.file_finding(&meta, None, "", "");
        }
        if let (Some(f), Some(t)) = (&identity.file_period, &identity.title_period) {
            if f != t && self.opts.period.is_none() {
                let meta = self.kind.file_rule("period_mismatch", Severity::Warning);
                let (f, t) = (f.clone(), t.clone());
                let date = title.date.clone().unwrap_or_default();
                let vars = |n: &str| match n {
                    "file_period" => Some(f.clone()),
                    "title_period" => Some(t.clone()),
                    _ => None,
                };
                self.file_finding_with(&meta, None, &date, "", &vars);
            }
        }

        let width = m
            .columns
            .iter()
            .flatten()
            .max()
            .map_or(0, |c| *c as usize + 1);
        self.colmap = vec![None; width];
        for (i, c) in m.columns.iter().enumerate() {
            if let Some(c) = c {
                self.colmap[*c as usize] = Some(i);
            }
        }
        for i in &m.missing_required {
            let meta = self.kind.file_rule("missing_column", Severity::Error);
            let col = &self.kind.columns[*i];
            let place = Place {
                sheet: self.sheet.clone(),
                row: Some(m.row),
                col: None,
                header: Some(col.header.clone()),
            };
            self.out
                .findings
                .push(Finding::new(&meta, &place, "", &col.header, &|_| None));
        }
        let header_row = m.row;
        self.out.header_row = Some(header_row);
        let layout = &mut self.out.layout;
        layout.sheet = Some(self.sheet.clone());
        layout.header_row = Some(header_row + 1);
        for (i, c) in m.columns.iter().enumerate() {
            let header = self.kind.columns[i].header.clone();
            match c {
                Some(c) => layout.columns.push((header, value::column_name(*c))),
                None => layout.missing.push(header),
            }
        }
        self.header = Some(m);
        let rows = std::mem::take(&mut self.buffered);
        for (r, cells) in rows.iter().filter(|(r, _)| *r > header_row) {
            self.row(*r, cells);
        }
        Ok(())
    }

    pub(super) fn place(&self, row: Option<u32>, col: Option<usize>) -> Place {
        let sheet_col = col.and_then(|i| self.header.as_ref().and_then(|h| h.columns[i]));
        Place {
            sheet: self.sheet.clone(),
            row,
            col: sheet_col,
            header: col.map(|i| self.kind.columns[i].header.clone()),
        }
    }

    pub(super) fn file_finding(
        &mut self,
        meta: &RuleMeta,
        row: Option<u32>,
        value: &str,
        expected: &str,
    ) {
        self.file_finding_with(meta, row, value, expected, &|_| None);
    }

    /// A file-level finding with placeholders of its own besides `unit` and `period`.
    pub(super) fn file_finding_with(
        &mut self,
        meta: &RuleMeta,
        row: Option<u32>,
        value: &str,
        expected: &str,
        vars: &dyn Fn(&str) -> Option<String>,
    ) {
        let unit = self.unit.clone().unwrap_or_default();
        let period = self.period.clone();
        let f = Finding::new(
            meta,
            &self.place(row, None),
            value,
            expected,
            &|n| match n {
                "unit" => Some(unit.clone()),
                "period" => Some(period.clone()),
                other => vars(other),
            },
        );
        self.push_finding(f);
    }

    /// Checks one data row.
    pub(super) fn row(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) {
        let kind = self.kind;
        for s in self.slot.iter_mut() {
            *s = None;
        }
        let mut any = false;
        let mut only_template = true;
        for (k, (c, v)) in cells.iter().enumerate() {
            let Some(Some(i)) = self.colmap.get(*c as usize) else {
                continue;
            };
            if v.is_blank() {
                continue;
            }
            any = true;
            if !kind.template_columns.contains(i) {
                only_template = false;
            }
            self.slot[*i] = Some(k);
        }
        if !any || self.not_a_person(r, cells) || only_template {
            return;
        }
        if let Some(s0) = &self.shared0 {
            for (c, v) in cells {
                if let Cell::Text(t) = v {
                    if t.len() == s0.len() && t == s0 && self.like_shared0.len() < 10_000 {
                        self.like_shared0.push((r, *c));
                    }
                }
            }
        }
        self.out.rows += 1;
        if self.out.rows > self.rules.county.limits.max_rows {
            self.over_limit = true;
            return;
        }
        for i in 0..kind.columns.len() {
            self.normalise(r, i, cells);
        }
        let plan = std::mem::take(&mut self.plan);
        self.constraints(&plan, r, cells);
        self.plan = plan;
        self.look_up();
        self.row_rules(r, cells);
        for (i, c) in kind.columns.iter().enumerate() {
            if c.ty == ColumnType::Money {
                if let (Some(x), false) = (self.norms[i].num, self.norms[i].bad) {
                    self.sums[i] += x;
                }
            }
        }
        if self.opts.collect_rows {
            self.collect(r, cells);
        }
        if let Some((on, cols, ledger)) = &mut self.as_ledger {
            let key = &self.norms[*on].text;
            if !key.is_empty() && !self.norms[*on].bad {
                let vals: Vec<std::borrow::Cow<'_, str>> = cols
                    .iter()
                    .map(
                        |c| match c.map(|c| (&self.norms[c], self.kind.columns[c].ty)) {
                            Some((n, ColumnType::Money | ColumnType::Integer)) => n
                                .num
                                .map_or(std::borrow::Cow::Borrowed(""), |x| number_text(x).into()),
                            Some((n, _)) => std::borrow::Cow::Borrowed(n.text.as_str()),
                            None => std::borrow::Cow::Borrowed(""),
                        },
                    )
                    .collect();
                let refs: Vec<&str> = vals.iter().map(|v| v.as_ref()).collect();
                ledger.insert(key.clone(), &refs);
            }
        }
        for t in self.tallies.iter_mut() {
            if let Some((c, values)) = &t.only {
                if !values.iter().any(|v| *v == self.norms[*c].text) {
                    continue;
                }
            }
            let (a, b) = (&self.norms[t.rows], &self.norms[t.cols]);
            match (a.enum_index, b.enum_index) {
                (Some(x), Some(y)) => t.dense[x * t.width + y] += 1,
                // Blank or unreadable: left out of the comparison, and said.
                _ => t.left_out += 1,
            }
        }
    }

    /// Whether a row is a total or a footer (`[not_persons]`): its first filled
    /// cell says so. A total row's amounts are checked against the sums of the
    /// rows above; neither is checked as a person. `slot` holds the row's cells.
    pub(super) fn not_a_person(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) -> bool {
        let kind = self.kind;
        if kind.total_words.is_empty() && kind.footer_words.is_empty() {
            return false;
        }
        let Some((_, Cell::Text(t))) = cells.iter().find(|(_, v)| !v.is_blank()) else {
            return false;
        };
        // Most rows start with a name: the first character settles it cheaply.
        let first = t
            .chars()
            .find(|c| !c.is_whitespace())
            .map(crate::workbook::value::fold_fullwidth);
        let may = first.is_some_and(|f| {
            kind.total_words
                .iter()
                .chain(&kind.footer_words)
                .any(|w| w.starts_with(f))
        });
        if !may {
            return false;
        }
        let key = header_key(t);
        let total = kind.total_words.iter().any(|w| {
            key.strip_prefix(w.as_str())
                .is_some_and(|rest| rest.chars().next().is_none_or(|c| !c.is_alphabetic()))
        });
        let footer = !total
            && kind
                .footer_words
                .iter()
                .any(|w| key.starts_with(w.as_str()));
        if !total && !footer {
            return false;
        }
        if self.out.layout.not_persons.len() < 100 {
            let shown: String = t.chars().take(40).collect();
            self.out.layout.not_persons.push((r + 1, shown));
        }
        if total {
            for (i, c) in kind.columns.iter().enumerate() {
                if c.ty != ColumnType::Money {
                    continue;
                }
                let Ok(Some(written)) = cell_money(self.cell(i, cells)) else {
                    continue;
                };
                let sum = (self.sums[i] * 100.0).round() / 100.0;
                if (written - sum).abs() > 0.005 {
                    let mut meta = kind.file_rule("total_mismatch", Severity::Error);
                    meta.id = format!("{}.total_mismatch", c.key);
                    self.report_meta(r, i, &meta, &number_text(sum), &|_| None, cells);
                }
            }
        }
        true
    }

    /// The cell of declared column `i` in the current row.
    pub(super) fn cell<'c>(&self, i: usize, cells: &'c [(u32, Cell<'c>)]) -> &'c Cell<'c> {
        match self.slot[i] {
            Some(k) => &cells[k].1,
            None => &Cell::Empty,
        }
    }

    /// Keeps the row's normalised values: text as text, amounts and whole numbers
    /// as numbers, dates as `YYYY-MM-DD`, blanks left out.
    pub(super) fn collect(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) {
        let mut values = serde_json::Map::new();
        for (i, c) in self.kind.columns.iter().enumerate() {
            let n = &self.norms[i];
            let v = if n.blank && n.text.is_empty() {
                continue;
            } else if n.bad {
                serde_json::Value::String(self.cell(i, cells).raw_text())
            } else {
                match c.ty {
                    ColumnType::Money | ColumnType::Integer => match n.num {
                        Some(x) => serde_json::json!(x),
                        None => continue,
                    },
                    _ => serde_json::Value::String(n.text.clone()),
                }
            };
            values.insert(c.key.clone(), v);
        }
        self.out.records.push(Record { row: r + 1, values });
    }

    pub(super) fn present(&self, i: usize) -> bool {
        self.header.as_ref().is_some_and(|h| h.columns[i].is_some())
    }

    pub(super) fn report(
        &mut self,
        r: u32,
        i: usize,
        constraint: &str,
        expected: &str,
        extra: &dyn Fn(&str) -> Option<String>,
        cells: &[(u32, Cell<'_>)],
    ) {
        let meta = self.kind.columns[i].rule(constraint);
        self.report_meta(r, i, &meta, expected, extra, cells);
    }

    pub(super) fn report_meta(
        &mut self,
        r: u32,
        i: usize,
        meta: &RuleMeta,
        expected: &str,
        extra: &dyn Fn(&str) -> Option<String>,
        cells: &[(u32, Cell<'_>)],
    ) {
        let raw_value = self.cell(i, cells).raw_text();
        let place = self.place(Some(r), Some(i));
        let unit = self.unit.clone().unwrap_or_default();
        let period = self.period.clone();
        let kind = self.kind;
        let this = &*self;
        let mut f = Finding::new(meta, &place, &raw_value, expected, &|n| {
            if let Some(v) = extra(n) {
                return Some(v);
            }
            match n {
                "unit" => Some(unit.clone()),
                "period" => Some(period.clone()),
                // What the clerk sees in Excel (a long number in scientific notation).
                "shown" => Some(match this.cell(i, cells) {
                    Cell::Float(x) => value::excel_general(*x),
                    Cell::Int(x) => value::excel_general(*x as f64),
                    c => c.raw_text(),
                }),
                other => kind.column(other).map(|j| this.cell(j, cells).raw_text()),
            }
        });
        f.person = kind
            .consolidation
            .as_ref()
            .and_then(|c| c.person_name)
            .map(|j| this.cell(j, cells).raw_text().trim().to_string())
            .filter(|n| !n.is_empty() && n.chars().count() <= 40);
        self.push_finding(f);
    }
}

/// Columns whose normalised value nothing reads: free text without constraints,
/// checks, uniqueness or lookups, that no row rule, check or count reads, when
/// rows are not kept. Only whether such a cell is blank matters (`required`), so
/// its text is not copied.
pub(super) fn inert_columns(kind: &Kind, opts: &Options) -> Vec<bool> {
    let read_elsewhere = |i: usize| {
        kind.row_rules.iter().any(|r| r.reads.contains(&i))
            || kind
                .columns
                .iter()
                .any(|c| c.checks.iter().any(|k| k.params.contains(&i)))
            || kind.sheet_rules.iter().any(|s| {
                s.rows == i || s.cols == i || s.count_only.as_ref().is_some_and(|(c, _)| *c == i)
            })
            || kind.columns.iter().any(|c| c.unique_with.contains(&i))
    };
    // A column another kind reads of this one (a payments rule's
    // `register.ethnicity`) is kept when this file is kept as a ledger, as the
    // daemon keeps every column of an accepted file.
    let kept_as_ledger = |key: &str| {
        opts.as_ledger
            .iter()
            .any(|s| s.kind == kind.id && (s.on == key || s.columns.iter().any(|c| c == key)))
    };
    kind.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            !opts.collect_rows
                && !kept_as_ledger(&c.key)
                && c.ty == ColumnType::Text
                && c.regex.is_none()
                && c.length.is_none()
                && c.unique.is_none()
                && c.unique_with.is_empty()
                && c.lookup.is_none()
                && c.checks.is_empty()
                && !read_elsewhere(i)
        })
        .collect()
}

/// What the rows above a header say: the `填报单位` and `填报日期` values and
/// the other text (the title rows), for identifying the file.
#[derive(Debug, Clone, Default)]
pub(super) struct TitleLines {
    pub(super) unit: Option<String>,
    pub(super) date: Option<String>,
    /// Every other cell above the header, joined by spaces.
    pub(super) text: String,
}

impl TitleLines {
    /// What each source said, as written, for reports and the admin's notice.
    pub(super) fn said(&self, opts: &Options, name: &str) -> Vec<(Source, String)> {
        let mut v = Vec::new();
        if let Some(f) = &opts.folder_unit {
            v.push((Source::Folder, f.clone()));
        }
        v.push((Source::FileName, name.to_string()));
        if let Some(u) = &self.unit {
            v.push((Source::Title, u.clone()));
        }
        if !self.text.trim().is_empty() {
            v.push((Source::TitleText, self.text.trim().to_string()));
        }
        v
    }
}

/// Reads the rows above the header row `header`: a cell `填报单位：X` (or a cell
/// `填报单位` followed by `X`) gives the unit, likewise `填报日期`; other text is
/// the title.
pub(super) fn title_lines(
    kind: &Kind,
    rows: &[(u32, Vec<(u32, String)>)],
    header: u32,
) -> TitleLines {
    let mut out = TitleLines::default();
    let labels = [kind.unit_label.as_deref(), kind.date_label.as_deref()];
    for (r, cells) in rows {
        if *r >= header {
            break;
        }
        let mut skip_next = false;
        for (i, (_, t)) in cells.iter().enumerate() {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            let next = cells.get(i + 1).map(|(_, t)| t.clone());
            let grab = |label: Option<&str>| -> Option<(String, bool)> {
                let l = label?;
                if let Some(v) = identify::labelled_value(t, l) {
                    return Some((v, false));
                }
                let bare = t.trim_end_matches([':', '：']).trim();
                let bare = bare.split(['（', '(']).next().unwrap_or(bare).trim();
                (bare == l)
                    .then(|| next.clone().map(|n| (n, true)))
                    .flatten()
            };
            let mut labelled = false;
            if let Some((v, took_next)) = grab(labels[0]) {
                out.unit.get_or_insert(v);
                skip_next |= took_next;
                labelled = true;
            }
            if let Some((v, took_next)) = grab(labels[1]) {
                out.date.get_or_insert(v);
                skip_next |= took_next;
                labelled = true;
            }
            if !labelled && labels.iter().flatten().all(|l| !t.contains(l)) {
                if !out.text.is_empty() {
                    out.text.push(' ');
                }
                out.text.push_str(t.trim());
            }
        }
    }
    out
}
