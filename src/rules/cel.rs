//! The CEL runtime of row rules, beside the native evaluator ([`super::native`]):
//! the environment rules are compiled in, the root context (standards, county,
//! taizhang's functions), the per-file globals, blank values and how CEL values
//! read as message text. Validation evaluates with these; linting dry-runs with
//! them.

use super::native::{Func, Out};
use super::{ColumnType, County};
use crate::workbook::value::{self, number_text};
use cel::common::types::{CelBool, CelInt, CelString};
use cel::common::value::CowVal;
use cel::{Context, Env, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The CEL environment rules are compiled in: the standard library plus the strings
/// extension (`substring`, `charAt`, …).
pub fn cel_env() -> Arc<Env> {
    let mut env = Env::stdlib();
    // The extension only declares functions; it cannot fail on a fresh stdlib env.
    if let Err(e) = env.add_extension(cel::extensions::strings) {
        tracing::warn!(error = %e, "CEL strings extension unavailable");
    }
    Arc::new(env)
}

/// Converts a TOML value to a CEL value (numbers as double, so `==` against money works).
pub fn toml_to_cel(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::Float(*i as f64),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(a) => Value::List(Arc::new(a.iter().map(toml_to_cel).collect())),
        toml::Value::Table(t) => {
            let m: HashMap<String, Value> =
                t.iter().map(|(k, v)| (k.clone(), toml_to_cel(v))).collect();
            Value::Map(m.into())
        }
    }
}

/// The CEL root context: standards, county and taizhang's functions.
pub fn cel_root<'a>(env: &Arc<Env>, standards: &Value, county: &County) -> Context<'a, 'a> {
    let mut ctx = Context::with_env(env.clone());
    ctx.add_variable_from_value("standards", standards.clone());
    ctx.add_variable_from_value("county", county.name.as_str());
    // The functions borrow their string arguments (no copy per call) and run the
    // same code as native evaluation (`rules::native::Func`).
    let reg = |ctx: &mut Context<'_, '_>| -> Result<(), cel::DeclarationError> {
        for (name, f) in [
            ("cn_id_valid", Func::CnIdValid),
            ("cn_id_gender", Func::CnIdGender),
            ("cn_id_birth", Func::CnIdBirth),
            ("age_at", Func::AgeAt),
        ] {
            ctx.add_function(
                name,
                cel_fn(move |a| {
                    Ok(match f.apply(a) {
                        Out::Bool(b) => CowVal::owned(CelBool::from(b)),
                        Out::Int(i) => CowVal::owned(CelInt::from(i)),
                        Out::Str(s) => CowVal::owned(CelString::from(s.into_owned())),
                    })
                }),
            )?;
        }
        Ok(())
    };
    if let Err(e) = reg(&mut ctx) {
        tracing::error!(error = ?e, "registering CEL functions");
    }
    ctx
}

/// Wraps a function of string arguments as a CEL function that borrows them.
type CelFunction = Box<
    dyn for<'c, 'l> Fn(
            &mut cel::FunctionContext<'c, 'l>,
        ) -> Result<CowVal<'c, 'l>, cel::ExecutionError>
        + Send
        + Sync,
>;

fn cel_fn<F>(f: F) -> CelFunction
where
    F: for<'x> Fn(&[&'x str]) -> Result<CowVal<'static, 'static>, cel::ExecutionError>
        + Send
        + Sync
        + 'static,
{
    Box::new(move |ftx: &mut cel::FunctionContext<'_, '_>| {
        let mut args: [&str; 4] = [""; 4];
        let n = ftx.args.len().min(4);
        for (k, v) in ftx.args.iter().take(4).enumerate() {
            let val: &dyn cel::common::value::Val = &**v;
            match val.downcast_ref::<CelString>() {
                Some(s) => args[k] = s.inner(),
                None => return Err(ftx.error("参数应为文字")),
            }
        }
        if n == 0 {
            return Err(ftx.error("缺少参数"));
        }
        f(&args[..n])
    })
}

/// Binds the per-file globals of row rules. Returns the `period_end` it bound: the period's last day as `YYYY-MM-DD`
/// (empty when the period is not a month), for native evaluation.
pub fn bind_file_globals(ctx: &mut Context<'_, '_>, unit: &str, period: &str) -> String {
    ctx.add_variable_from_value("unit", unit);
    ctx.add_variable_from_value("period", period);
    let end = value::period_end(period)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    ctx.add_variable_from_value("period_end", end.as_str());
    end
}

/// The CEL value of a blank cell of a column.
pub fn blank_value(c: &super::Column) -> Value {
    match c.ty {
        ColumnType::Money => Value::Float(0.0),
        ColumnType::Integer => Value::Null,
        ColumnType::Enum => Value::from(c.blank_means.clone().unwrap_or_default()),
        ColumnType::Text | ColumnType::Date | ColumnType::Month => Value::from(""),
    }
}

/// A CEL value as message text.
pub fn cel_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Float(f) => number_text(*f),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Bool(b) => if *b { "是" } else { "否" }.to_string(),
        Value::Null => String::new(),
        Value::List(l) => l.iter().map(cel_text).collect::<Vec<_>>().join("、"),
        other => format!("{other:?}"),
    }
}

/// A value of a referenced ledger's row as kept (text), typed as its column:
/// money a decimal (0.0 when blank), an integer a whole number (null when blank),
/// anything else text.
pub fn typed_text(ty: ColumnType, text: &str) -> super::native::V<'_> {
    use super::native::V;
    match ty {
        ColumnType::Money => V::Float(text.trim().parse().unwrap_or(0.0)),
        ColumnType::Integer => text.trim().parse().map_or(V::Null, V::Int),
        _ => V::Str(text),
    }
}

/// An expression over one row of a referenced ledger (`register.level …`, an
/// `owed` rule's `when` and `amount`, a reference's `must_cover`): natively where
/// it compiled so, else by `cel` with the row bound under the reference's name;
/// `None` when it cannot be evaluated. `value(k)` is the row's value of the
/// reference's column `k`.
pub fn eval_over_row<'v>(
    program: &cel::Program,
    native: Option<&super::native::Expr>,
    native_calls: usize,
    reference: &super::Reference,
    value: &dyn Fn(usize) -> super::native::V<'v>,
    scope: &super::native::Scope<'v>,
    file_scope: &Context<'_, '_>,
) -> Option<Value> {
    use super::native::{Calls, V};
    let to_cel = |v: V<'_>| match v {
        V::Float(x) => Value::Float(x),
        V::Int(x) => Value::Int(x),
        V::Str(s) => Value::from(s),
        V::Bool(b) => Value::Bool(b),
        _ => Value::Null,
    };
    if let Some(expr) = native {
        let calls = Calls::new(native_calls);
        let row = |k: usize| value(k);
        if let Some(v) = expr.eval(&row, scope, &calls) {
            if !matches!(v, V::Null) {
                return Some(to_cel(v));
            }
        }
    }
    let m: HashMap<String, Value> = reference
        .columns
        .iter()
        .enumerate()
        .map(|(k, (c, _))| (c.clone(), to_cel(value(k))))
        .collect();
    let mut ctx = file_scope.new_inner_scope();
    ctx.add_variable_from_value(reference.name.clone(), Value::Map(m.into()));
    program.execute(&ctx).ok()
}
