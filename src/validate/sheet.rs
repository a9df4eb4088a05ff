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
}

impl<'a> SheetPass<'a> {
    pub(super) fn new(
        rules: &'a RuleSet,
        kind: &'a Kind,
        sheet: &str,
        opts: &'a Options,
        name: &'a str,
        root: &'a Context<'a, 'a>,
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
                    other: HashMap::new(),
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
        // Title lines above the header: 填报单位 and 填报日期.
        let (mut title_unit, mut title_date) = (None, None);
        for (r, cells) in &text_rows {
            if *r >= m.row {
                break;
            }
            for (i, (_, t)) in cells.iter().enumerate() {
                let next = cells.get(i + 1).map(|(_, t)| t.clone());
                let grab = |label: &Option<String>| -> Option<String> {
                    let l = label.as_deref()?;
                    identify::labelled_value(t, l).or_else(|| {
                        (t.trim_end_matches([':', '：']).trim() == l)
                            .then(|| next.clone())
                            .flatten()
                    })
                };
                if title_unit.is_none() {
                    title_unit = grab(&self.kind.unit_label);
                }
                if title_date.is_none() {
                    title_date = grab(&self.kind.date_label);
                }
            }
        }
        let county = &self.rules.county;
        let identity = identify::identify(
            county,
            &identify::Clues {
                folder: self.opts.folder_unit.as_deref(),
                file_name: self.name,
                title_unit: title_unit.as_deref(),
                title_date: title_date.as_deref(),
                given_period: self.opts.period.as_deref(),
                received: self.opts.fallback_period.as_deref(),
            },
        );
        let verdict = match &self.opts.unit {
            Some(u) => match identify::match_unit(county, u) {
                Some(u) => UnitVerdict::Known(u),
                None => return Err(format!("未知的填报单位「{u}」（不在乡镇名单中）")),
            },
            None => identity.unit,
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
                        "text_unit" => pick(Source::Title),
                        _ => None,
                    }
                };
                let f = Finding::new(&meta, &self.place(None, None), &shown.join("；"), "", &get);
                self.push_finding(f);
            }
            UnitVerdict::Unknown => {
                let meta = self.kind.file_rule("unit_unknown", Severity::Warning);
                self.file_finding(&meta, None, &title_unit.clone().unwrap_or_default(), "");
            }
        }
        self.out.unit_verdict = Some(verdict);
        self.out.unit = self.unit.clone();
        self.out.unit_code = self
            .unit
            .as_deref()
            .and_then(|u| county.unit(u))
            .map(|u| u.code.clone());
        self.period = identity
            .period
            .map(|(p, _)| p)
            .unwrap_or_else(|| chrono::Local::now().format("%Y-%m").to_string());
        self.out.period = Some(self.period.clone());
        self.period_end = bind_file_globals(
            &mut self.file_scope,
            self.unit.as_deref().unwrap_or(""),
            &self.period,
        );

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
                _ => None,
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
        if !any || only_template {
            return;
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
        self.row_rules(r, cells);
        if self.opts.collect_rows {
            self.collect(r, cells);
        }
        for t in self.tallies.iter_mut() {
            let (a, b) = (&self.norms[t.rows], &self.norms[t.cols]);
            match (a.enum_index, b.enum_index) {
                (Some(x), Some(y)) => t.dense[x * t.width + y] += 1,
                _ if !a.blank && !b.blank => {
                    *t.other.entry((a.text.clone(), b.text.clone())).or_insert(0) += 1
                }
                _ => {}
            }
        }
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
        let f = Finding::new(meta, &place, &raw_value, expected, &|n| {
            if let Some(v) = extra(n) {
                return Some(v);
            }
            match n {
                "unit" => Some(unit.clone()),
                "period" => Some(period.clone()),
                other => kind.column(other).map(|j| this.cell(j, cells).raw_text()),
            }
        });
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
            || kind.sheet_rules.iter().any(|s| s.rows == i || s.cols == i)
    };
    kind.columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            !opts.collect_rows
                && c.ty == ColumnType::Text
                && c.regex.is_none()
                && c.length.is_none()
                && c.unique.is_none()
                && c.lookup.is_none()
                && c.checks.is_empty()
                && !read_elsewhere(i)
        })
        .collect()
}
