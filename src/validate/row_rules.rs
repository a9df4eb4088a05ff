//! Row rules: CEL expressions over a row's values, evaluated natively where
//! the shape allows (`rules::native`) and by `cel` otherwise; verdicts memoised
//! per distinct input.

use super::*;

impl SheetPass<'_> {
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
        let mut fired: Vec<(usize, String)> = Vec::new();
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
                    if memo.key(&rule.reads, &self.norms) {
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
                Verdict::Fired(expected) => fired.push((k, expected)),
                Verdict::Failed(e) => failed.push((k, e)),
            }
        }
        drop(ctx);
        for (k, expected) in fired {
            let rule = &kind.row_rules[k];
            let meta = RuleMeta {
                id: rule.id.clone(),
                severity: rule.severity,
                message: rule.message.clone(),
            };
            self.report_meta(r, rule.cell, &meta, &expected, &|_| None, cells);
        }
        for (k, err) in failed {
            let rule = &kind.row_rules[k];
            tracing::warn!(rule = %rule.id, row = r + 1, error = %err, "row rule could not be evaluated");
            let meta = RuleMeta {
                id: format!("{}.eval", rule.id),
                severity: Severity::Warning,
                message: format!(
                    "本行无法按规则「{}」核对（{err}），请县残联检查规则文件",
                    rule.id
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
        Err(e) => Verdict::Failed(format!("{e:?}")),
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

    /// Builds the key of the current row's inputs; false when not memoising.
    pub(super) fn key(&mut self, reads: &[usize], norms: &[Norm]) -> bool {
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
}

impl<'x> RowVars<'x> {
    /// Column `i` as native evaluation sees it (the same values as for `cel`).
    pub(super) fn native(&self, i: usize) -> native::V<'x> {
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

impl cel::context::VariableResolver for RowVars<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        use cel::common::types::{CelBool, CelDouble, CelInt, CelNull, CelString};
        let i = *self.names.get(variable)?;
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
