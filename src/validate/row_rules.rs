//! Row rules: CEL expressions over a row's values, evaluated natively where
//! the shape allows (`rules::native`) and by `cel` otherwise; verdicts memoised
//! per distinct input.

use super::*;

impl SheetPass<'_> {
    /// Finds the ledgers the kind refers to, once unit and period are settled; a
    /// missing one is one warning (rules then see `<name>_available` false).
    pub(super) fn link_references(&mut self) -> Result<(), String> {
        let kind = self.kind;
        for (k, r) in kind.references.iter().enumerate() {
            let bound = r.bound(&self.period);
            let found = match self.unit.as_deref() {
                Some(unit) => {
                    let ask = refs::Ask {
                        kind: &r.kind,
                        // The county's lists, whichever unit's file asks.
                        unit: r.filed_under(unit),
                        period: &bound,
                        on: &r.on,
                        columns: &r.columns.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
                        every: r.every(),
                    };
                    self.refs
                        .ledger(&ask)
                        .map_err(|e| format!("无法读取本单位的{}以作核对：{e}", r.kind_name))?
                }
                None => None,
            };
            self.out.references.push(ReferenceUsed {
                name: r.name.clone(),
                kind: r.kind.clone(),
                kind_name: r.kind_name.clone(),
                file: found.as_ref().map(|l| l.file.clone()),
                period: found.as_ref().map(|l| l.period.clone()),
                submission: found.as_ref().and_then(|l| l.submission),
                previous: r.ledger == crate::rules::RefLedgerShape::Previous,
                county: r.county,
                periods: found
                    .as_ref()
                    .filter(|_| r.county)
                    .map(|l| l.periods().join("、")),
            });
            if found.is_none() && self.unit.is_some() && !r.missing_message.is_empty() {
                let meta = RuleMeta {
                    id: format!("{}.missing", r.name),
                    severity: Severity::Warning,
                    message: r.missing_message.clone(),
                };
                let kind_name = r.kind_name.clone();
                self.file_finding_with(&meta, None, "", "", &|n| {
                    (n == "kind").then(|| kind_name.clone())
                });
            }
            // Older than asked for: the register of an earlier month (the unit's
            // for this month has not come), or a gap before the previous one.
            if let Some(l) = found
                .as_ref()
                .filter(|l| !r.older_message.is_empty() && !l.period.is_empty() && l.period < bound)
            {
                let meta = RuleMeta {
                    id: format!("{}.{}", r.name, r.ledger.older_rule()),
                    severity: Severity::Warning,
                    message: r.older_message.clone(),
                };
                let (kind_name, used) = (r.kind_name.clone(), l.period.clone());
                self.file_finding_with(&meta, None, &used, &bound, &|n| match n {
                    "kind" => Some(kind_name.clone()),
                    "ref_period" => Some(used.clone()),
                    _ => None,
                });
            }
            self.linked[k] = found;
        }
        Ok(())
    }

    /// Looks the current row up in each referenced ledger.
    pub(super) fn look_up(&mut self) {
        let kind = self.kind;
        for (k, r) in kind.references.iter().enumerate() {
            let now = &mut self.ref_now[k];
            now.found = false;
            now.elsewhere.clear();
            now.period.clear();
            for v in now.values.iter_mut() {
                v.clear();
            }
            let Some(ledger) = &self.linked[k] else {
                continue;
            };
            let key = self.norms[r.key].text.as_str();
            if key.is_empty() {
                continue;
            }
            if let Some(seen) = &mut self.covered[k] {
                if !seen.contains(key) {
                    seen.insert(key.to_string());
                }
            }
            match ledger.row(key) {
                Some(mut vals) => {
                    now.found = true;
                    for (slot, v) in now.values.iter_mut().zip(vals.by_ref()) {
                        slot.push_str(v);
                    }
                    if ledger.row_periods {
                        now.period.push_str(vals.next().unwrap_or_default());
                    }
                }
                // Another unit's list is nobody's business: a county list is
                // the only one of its kind.
                None if r.county => {}
                None => {
                    let columns: Vec<String> = Vec::new();
                    let ask = refs::Ask {
                        kind: &r.kind,
                        unit: self.unit.as_deref().unwrap_or(""),
                        period: &self.period,
                        on: &r.on,
                        columns: &columns,
                        every: false,
                    };
                    if let Some((unit, _)) = self.refs.elsewhere(&ask, key) {
                        now.elsewhere = unit;
                    }
                }
            }
        }
    }

    /// The references' flags and files, as message placeholders
    /// (`{register_file}`, `{register_elsewhere}`).
    fn ref_placeholders(&self) -> Vec<(String, String)> {
        let vars = RowVars {
            kind: self.kind,
            names: &self.names,
            norms: &self.norms,
            linked: &self.linked,
            now: &self.ref_now,
        };
        self.kind
            .ref_vars
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v.what, crate::rules::RefWhat::Column(_)))
            .map(|(i, v)| {
                let text = vars
                    .native(self.kind.columns.len() + i)
                    .text()
                    .unwrap_or_default();
                (v.name.clone(), text)
            })
            .collect()
    }

    pub(super) fn row_rules(&mut self, r: u32, cells: &[(u32, Cell<'_>)]) {
        let kind = self.kind;
        if kind.row_rules.is_empty() {
            return;
        }
        self.calls.reset();
        let calls = &self.calls;
        let vars = RowVars {
            kind,
            names: &self.names,
            norms: &self.norms,
            linked: &self.linked,
            now: &self.ref_now,
        };
        let scope = native::Scope {
            unit: self.unit.as_deref().unwrap_or(""),
            period: &self.period,
            period_end: &self.period_end,
        };
        // The CEL context is only made for a rule that needs it.
        let mut ctx: Option<Context<'_, '_>> = None;
        let new_ctx = || {
            let mut c = self.file_scope.new_inner_scope();
            c.set_variable_resolver(&vars);
            c
        };
        let mut fired: Vec<(usize, String, Severity)> = Vec::new();
        let mut failed: Vec<(usize, String)> = Vec::new();
        for (k, rule) in kind.row_rules.iter().enumerate() {
            if rule.reads.iter().any(|i| self.norms[*i].bad) {
                continue;
            }
            let verdict = match rule
                .native
                .as_ref()
                .filter(|_| !self.opts.reference_cel)
                .and_then(|n| evaluate_native(n, &|i| vars.native(i), &scope, calls))
            {
                Some(NativeVerdict::Pass) => Verdict::Pass,
                Some(NativeVerdict::Fired(Some(expected))) => Verdict::Fired(expected),
                // Fired, but the expected value is left to cel.
                Some(NativeVerdict::Fired(None)) => {
                    let ctx = ctx.get_or_insert_with(new_ctx);
                    Verdict::Fired(expected_text(rule, ctx))
                }
                None => {
                    let ctx = ctx.get_or_insert_with(new_ctx);
                    let memo = &mut self.memo[k];
                    if memo.key(&rule.reads, &self.norms, &rule.ref_reads, &vars) {
                        match memo.get() {
                            Some(v) => v,
                            None => {
                                let v = evaluate(rule, ctx);
                                memo.put(v.clone());
                                v
                            }
                        }
                    } else {
                        evaluate(rule, ctx)
                    }
                }
            };
            match verdict {
                Verdict::Pass => {}
                Verdict::Fired(expected) => {
                    // `error_when`: an error on this row whatever the rule's severity.
                    let severity = match &rule.error_when {
                        Some(e) if rule.severity != Severity::Error => {
                            let ctx = ctx.get_or_insert_with(new_ctx);
                            if e.execute(ctx) == Ok(Value::Bool(true)) {
                                Severity::Error
                            } else {
                                rule.severity
                            }
                        }
                        _ => rule.severity,
                    };
                    fired.push((k, expected, severity))
                }
                Verdict::Failed(e) => failed.push((k, e)),
            }
        }
        drop(ctx);
        let placeholders = if fired.is_empty() || kind.references.is_empty() {
            Vec::new()
        } else {
            self.ref_placeholders()
        };
        let extra = |n: &str| {
            placeholders
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        for (k, expected, severity) in fired {
            let rule = &kind.row_rules[k];
            let meta = RuleMeta {
                id: rule.id.clone(),
                severity,
                message: rule.message.clone(),
            };
            let in_file = |i: usize| self.header.as_ref().is_some_and(|h| h.columns[i].is_some());
            let cell = match rule.else_cell {
                Some(e) if !in_file(rule.cell) => e,
                _ => rule.cell,
            };
            self.report_meta(r, cell, &meta, &expected, &extra, cells);
        }
        for (k, err) in failed {
            let rule = &kind.row_rules[k];
            tracing::warn!(rule = %rule.id, row = r + 1, error = %err, "row rule could not be evaluated");
            let meta = RuleMeta {
                id: format!("{}.eval", rule.id),
                severity: Severity::Warning,
                message: format!(
                    "本行有一项检查无法进行（{err}）：这是县里规则的问题，不是本表填写的问题，县残联会检查规则"
                ),
            };
            self.report_meta(r, rule.cell, &meta, "", &|_| None, cells);
        }
    }
}

/// What a row rule says about one row.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    Pass,
    /// The assertion failed; the expected value for the message.
    Fired(String),
    /// The rule could not be evaluated.
    Failed(String),
}

pub(super) fn evaluate(rule: &crate::rules::RowRule, ctx: &Context<'_, '_>) -> Verdict {
    let applies = match &rule.when {
        Some(w) => w.execute(ctx).map(|v| v == Value::Bool(true)),
        None => Ok(true),
    };
    let ok = match applies {
        Ok(false) => return Verdict::Pass,
        Ok(true) => rule.assert.execute(ctx),
        Err(e) => Err(e),
    };
    match ok {
        Ok(Value::Bool(true)) => Verdict::Pass,
        Ok(Value::Bool(false)) => Verdict::Fired(expected_text(rule, ctx)),
        Ok(other) => Verdict::Failed(format!("结果不是真/假：{}", cel_text(&other))),
        Err(e) => Verdict::Failed(cel_error_zh(&e)),
    }
}

/// Why a rule could not be evaluated, in words a township reads (never the
/// evaluator's debug text: the log keeps that).
pub(super) fn cel_error_zh(e: &::cel::ExecutionError) -> String {
    use ::cel::ExecutionError as E;
    tracing::debug!(error = ?e, "row rule evaluation failed");
    match e {
        E::NoSuchKey(k) => format!("县里的规则中没有「{k}」对应的标准"),
        E::UndeclaredReference(n) => format!("规则用到了未定义的名称「{n}」"),
        E::DivisionByZero(_) | E::RemainderByZero(_) => "规则中的除数为零".into(),
        E::ValuesNotComparable(..)
        | E::UnsupportedBinaryOperator(..)
        | E::NoSuchOverload(_)
        | E::UnexpectedType { .. } => "规则中比较或计算的两边类型不一致".into(),
        E::FunctionError { function, .. } => format!("规则中的函数 {function} 无法计算"),
        _ => "规则无法计算".into(),
    }
}

/// The text of a fired rule's `expected` expression, by `cel` (empty when it
/// cannot be evaluated).
pub(super) fn expected_text(rule: &crate::rules::RowRule, ctx: &Context<'_, '_>) -> String {
    rule.expected
        .as_ref()
        .and_then(|e| e.execute(ctx).ok())
        .map(|v| cel_text(&v))
        .unwrap_or_default()
}

/// A native verdict; a fired rule's expected text is `None` when left to `cel`.
pub(super) enum NativeVerdict {
    Pass,
    Fired(Option<String>),
}

/// Evaluates a rule natively; `None` when the answer is left to `cel`.
pub(super) fn evaluate_native<'a>(
    rule: &'a crate::rules::NativeRule,
    row: &dyn Fn(usize) -> native::V<'a>,
    scope: &native::Scope<'a>,
    calls: &'a native::Calls,
) -> Option<NativeVerdict> {
    if let Some(w) = &rule.when {
        match w.eval(row, scope, calls)? {
            native::V::Bool(true) => {}
            native::V::Bool(false) => return Some(NativeVerdict::Pass),
            _ => return None,
        }
    }
    match rule.assert.eval(row, scope, calls)? {
        native::V::Bool(true) => Some(NativeVerdict::Pass),
        native::V::Bool(false) => Some(NativeVerdict::Fired(match &rule.expected {
            Some(e) => e.eval(row, scope, calls).and_then(|v| v.text()),
            None => Some(String::new()),
        })),
        _ => None,
    }
}

/// Remembers a row rule's verdict by the values it reads. Rules over columns with
/// few distinct values (amounts, 低保, category, level) are then evaluated once per
/// combination instead of once per row; a rule whose inputs rarely repeat (it reads
/// an ID) stops being remembered after a trial, so it costs nothing extra.
#[derive(Default)]
pub(super) struct Memo {
    pub(super) map: FxHashMap<String, Verdict>,
    pub(super) buf: String,
    pub(super) tries: u32,
    pub(super) hits: u32,
    pub(super) off: bool,
}

impl Memo {
    const TRIAL: u32 = 512;
    const MAX: usize = 4096;

    /// Builds the key of the current row's inputs (its own columns and the
    /// reference values the rule reads); false when not memoising.
    pub(super) fn key(
        &mut self,
        reads: &[usize],
        norms: &[Norm],
        ref_reads: &[usize],
        vars: &RowVars<'_>,
    ) -> bool {
        if self.off {
            return false;
        }
        self.tries += 1;
        if self.tries == Self::TRIAL && self.hits * 2 < self.tries {
            self.off = true;
            self.map = FxHashMap::default();
            return false;
        }
        self.buf.clear();
        for i in reads {
            self.buf.push_str(&norms[*i].text);
            self.buf.push('\u{1}');
        }
        for i in ref_reads {
            vars.ref_text(*i, &mut self.buf);
            self.buf.push('\u{1}');
        }
        true
    }

    pub(super) fn get(&mut self) -> Option<Verdict> {
        let v = self.map.get(self.buf.as_str()).cloned();
        if v.is_some() {
            self.hits += 1;
        }
        v
    }

    pub(super) fn put(&mut self, v: Verdict) {
        if self.map.len() < Self::MAX {
            self.map.insert(self.buf.clone(), v);
        }
    }
}

/// Row values for CEL, looked up by name when an expression reads them (no
/// per-row map of variables is built).
pub(super) struct RowVars<'x> {
    pub(super) kind: &'x Kind,
    pub(super) names: &'x FxHashMap<String, usize>,
    pub(super) norms: &'x [Norm],
    pub(super) linked: &'x [Option<std::borrow::Cow<'x, RefLedger>>],
    pub(super) now: &'x [super::sheet::RefNow],
}

impl<'x> RowVars<'x> {
    /// Column `i` as native evaluation sees it (the same values as for `cel`);
    /// past the kind's own columns, the reference values of [`Kind::ref_vars`].
    pub(super) fn native(&self, i: usize) -> native::V<'x> {
        if i >= self.kind.columns.len() {
            return self.reference(i - self.kind.columns.len());
        }
        let n = &self.norms[i];
        match self.kind.columns[i].ty {
            ColumnType::Money => native::V::Float(n.num.unwrap_or(0.0)),
            ColumnType::Integer => match n.int {
                Some(x) => native::V::Int(x),
                None => native::V::Null,
            },
            _ => native::V::Str(&n.text),
        }
    }
}

impl<'x> RowVars<'x> {
    /// Reference value `v` of [`Kind::ref_vars`].
    fn reference(&self, v: usize) -> native::V<'x> {
        use crate::rules::RefWhat;
        let Some(var) = self.kind.ref_vars.get(v) else {
            return native::V::Null;
        };
        let now = &self.now[var.reference];
        let ledger = self.linked[var.reference].as_ref();
        match var.what {
            RefWhat::Found => native::V::Bool(now.found),
            RefWhat::Available => native::V::Bool(ledger.is_some()),
            RefWhat::File => native::V::Str(ledger.map_or("", |l| l.file.as_str())),
            RefWhat::Elsewhere => native::V::Str(&now.elsewhere),
            RefWhat::Period if now.found && !now.period.is_empty() => native::V::Str(&now.period),
            RefWhat::Period => native::V::Str(ledger.map_or("", |l| l.period.as_str())),
            RefWhat::Column(c) => {
                let text = now.values.get(c).map_or("", String::as_str);
                let ty = self.kind.references[var.reference].columns[c].1;
                typed(ty, text)
            }
        }
    }

    /// Appends reference value `v` as memo-key text.
    fn ref_text(&self, v: usize, out: &mut String) {
        match self.reference(v) {
            native::V::Str(s) => out.push_str(s),
            native::V::Bool(b) => out.push(if b { 'T' } else { 'F' }),
            native::V::Float(x) => {
                let _ = write!(out, "{x}");
            }
            native::V::Int(x) => {
                let _ = write!(out, "{x}");
            }
            native::V::Null | native::V::Ref(_) => {}
        }
    }

    /// A reference as a CEL map of its columns' values.
    fn reference_map(&self, name: &str) -> Option<Value> {
        let k = self.kind.references.iter().position(|r| r.name == name)?;
        let r = &self.kind.references[k];
        let now = &self.now[k];
        let m: HashMap<String, Value> = r
            .columns
            .iter()
            .enumerate()
            .map(|(c, (key, ty))| {
                let text = now.values.get(c).map_or("", String::as_str);
                let v = match typed(*ty, text) {
                    native::V::Float(x) => Value::Float(x),
                    native::V::Int(x) => Value::Int(x),
                    native::V::Null => Value::Null,
                    _ => Value::from(text),
                };
                (key.clone(), v)
            })
            .collect();
        Some(Value::Map(m.into()))
    }
}

/// A referenced ledger's stored text as rules see its column's type.
fn typed(ty: ColumnType, text: &str) -> native::V<'_> {
    match ty {
        ColumnType::Money => native::V::Float(text.trim().parse().unwrap_or(0.0)),
        ColumnType::Integer => match text.trim().parse::<f64>() {
            Ok(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => native::V::Int(x as i64),
            _ => native::V::Null,
        },
        _ => native::V::Str(text),
    }
}

impl cel::context::VariableResolver for RowVars<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        use cel::common::types::{CelBool, CelDouble, CelInt, CelNull, CelString};
        let i = match self.names.get(variable) {
            Some(i) => *i,
            None => {
                if let Some(v) = self.kind.ref_vars.iter().position(|v| v.name == variable) {
                    self.kind.columns.len() + v
                } else {
                    let map = self.reference_map(variable)?;
                    let b: Box<dyn cel::common::value::Val> = map.try_into().ok()?;
                    return Some(CowVal::from(b));
                }
            }
        };
        // The values native evaluation sees, in CEL's types.
        Some(match self.native(i) {
            native::V::Float(x) => CowVal::owned(CelDouble::from(x)),
            native::V::Int(x) => CowVal::owned(CelInt::from(x)),
            native::V::Str(s) => CowVal::owned(CelString::from(s)),
            native::V::Bool(b) => CowVal::owned(CelBool::from(b)),
            native::V::Null | native::V::Ref(_) => CowVal::owned(CelNull),
        })
    }
}

impl<'a> SheetPass<'a> {
    /// `must_cover`: each row of a referenced ledger for which it holds and whose
    /// key no row of this file has is a file-level error `<name>.dropped` (a
    /// person on last month's register missing from this one), in key order.
    pub(super) fn not_covered(&mut self) {
        let kind = self.kind;
        for (k, r) in kind.references.iter().enumerate() {
            let (Some(cover), Some(seen), Some(ledger)) =
                (&r.must_cover, &self.covered[k], &self.linked[k])
            else {
                continue;
            };
            // The ledger's columns as the reference reads them.
            let pos: Vec<Option<usize>> = r
                .columns
                .iter()
                .map(|(c, _)| ledger.columns.iter().position(|x| x == c))
                .collect();
            let mut missing: Vec<(&str, Vec<&str>)> = ledger
                .rows
                .iter()
                .filter(|(key, _)| !seen.contains(*key))
                .map(|(key, vals)| (key, vals.split(refs::SEP).collect()))
                .collect();
            missing.sort_by(|a, b| a.0.cmp(b.0));
            let scope = native::Scope {
                unit: self.unit.as_deref().unwrap_or(""),
                period: &self.period,
                period_end: &self.period_end,
            };
            let mut dropped: Vec<(String, Vec<(String, String)>)> = Vec::new();
            for (key, vals) in &missing {
                let text = |k: usize| pos[k].and_then(|i| vals.get(i).copied()).unwrap_or("");
                let value = |k: usize| crate::rules::cel::typed_text(r.columns[k].1, text(k));
                let holds = crate::rules::cel::eval_over_row(
                    &cover.program,
                    cover.native.as_ref(),
                    cover.native_calls,
                    r,
                    &value,
                    &scope,
                    &self.file_scope,
                );
                if matches!(holds, Some(cel::Value::Bool(true))) {
                    let named = (0..r.columns.len())
                        .map(|c| {
                            (
                                format!("{}.{}", r.name, r.columns[c].0),
                                text(c).to_string(),
                            )
                        })
                        .collect();
                    dropped.push((key.to_string(), named));
                }
            }
            let meta = RuleMeta {
                id: format!("{}.dropped", r.name),
                severity: Severity::Error,
                message: cover.message.clone(),
            };
            let used = ledger.period.clone();
            for (key, named) in dropped {
                self.file_finding_with(&meta, None, &key, "", &|n| match n {
                    "ref_period" => Some(used.clone()),
                    other => named
                        .iter()
                        .find(|(k, _)| k == other)
                        .map(|(_, v)| v.clone()),
                });
            }
        }
    }
}
