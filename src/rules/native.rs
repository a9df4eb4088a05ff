//! Native evaluation of the common shapes of CEL row rules.
//!
//! Row rules are written in CEL (rules are data), and `cel` stays the reference:
//! every rule is compiled by it, `check-rules` lints with it, and it evaluates any
//! rule this module does not cover. But `cel` boxes every value it touches, which
//! made row rules the largest cost of validating a file. The shapes county rules
//! are made of — literals, columns, `standards.…`, comparisons, `in [...]`,
//! `&&`/`||`/`!`, `?:`, arithmetic, and taizhang's functions (`cn_id_valid`,
//! `cn_id_gender`, `cn_id_birth`, `age_at`) — are compiled here as well, into a
//! small tree evaluated directly on the row's normalised values.
//!
//! The contract: **where this module answers, the answer is the one `cel` gives**
//! (a differential test in this file holds it to that). Whatever it is unsure of
//! returns `None` — at compile time an unknown construct (a macro, a method, an
//! escape it does not know), at run time anything `cel` answers with an error or
//! that is easy to get subtly different (ordering across types, NaN, integers a
//! double cannot hold exactly, an overflow, a missing key, string concatenation) —
//! and the caller then evaluates the rule with `cel`.
//!
//! # Example
//! ```
//! use taizhang::rules::native::{compile, Calls, Names, Scope, V};
//! let names = Names { columns: &["level".to_string()], standards: &toml::Table::new(), county: "安和县" };
//! let e = compile("level in ['一级', '二级']", &names).unwrap();
//! let row = |_: usize| V::Str("二级".into());
//! let scope = Scope { unit: "", period: "2026-11", period_end: "2026-11-30" };
//! assert!(matches!(e.eval(&row, &scope, &Calls::default()), Some(V::Bool(true))));
//! ```

use crate::workbook::value;
use std::borrow::Cow;
use std::collections::HashMap;

/// A constant: a literal or a value of `standards`.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Box<str>),
    List(Vec<Const>),
    Map(HashMap<String, Const>),
}

impl Const {
    /// `standards` as row rules see it (the same conversion as
    /// [`super::toml_to_cel`]: TOML integers are CEL doubles).
    pub fn from_toml(v: &toml::Value) -> Const {
        match v {
            toml::Value::String(s) => Const::Str(s.as_str().into()),
            toml::Value::Integer(i) => Const::Float(*i as f64),
            toml::Value::Float(f) => Const::Float(*f),
            toml::Value::Boolean(b) => Const::Bool(*b),
            toml::Value::Datetime(d) => Const::Str(d.to_string().into()),
            toml::Value::Array(a) => Const::List(a.iter().map(Const::from_toml).collect()),
            toml::Value::Table(t) => Const::Map(
                t.iter()
                    .map(|(k, v)| (k.clone(), Const::from_toml(v)))
                    .collect(),
            ),
        }
    }
}

/// A value during evaluation, borrowing from the row, the scope, the rule or the
/// row's call results (so it is small and `Copy`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum V<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    /// A list or map of `standards`.
    Ref(&'a Const),
}

/// What a function returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Bool(bool),
    Int(i64),
    Str(Cow<'static, str>),
}

impl Out {
    fn v(&self) -> V<'_> {
        match self {
            Out::Bool(b) => V::Bool(*b),
            Out::Int(i) => V::Int(*i),
            Out::Str(s) => V::Str(s),
        }
    }
}

impl<'a> V<'a> {
    fn of(c: &'a Const) -> V<'a> {
        match c {
            Const::Null => V::Null,
            Const::Bool(b) => V::Bool(*b),
            Const::Int(i) => V::Int(*i),
            Const::Float(f) => V::Float(*f),
            Const::Str(s) => V::Str(s),
            Const::List(_) | Const::Map(_) => V::Ref(c),
        }
    }

    /// The value as message text, as `rules::cel::cel_text` writes the CEL value.
    /// `None` for a map (left to `cel`).
    pub fn text(&self) -> Option<String> {
        Some(match self {
            V::Null => String::new(),
            V::Bool(b) => if *b { "是" } else { "否" }.to_string(),
            V::Int(i) => i.to_string(),
            V::Float(f) => value::number_text(*f),
            V::Str(s) => s.to_string(),
            V::Ref(Const::List(l)) => {
                let parts: Option<Vec<String>> = l.iter().map(|c| V::of(c).text()).collect();
                parts?.join("、")
            }
            V::Ref(_) => return None,
        })
    }
}

/// A file-level variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    Unit,
    Period,
    PeriodEnd,
}

/// The file-level variables of one file.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub unit: &'a str,
    pub period: &'a str,
    pub period_end: &'a str,
}

/// taizhang's functions for row rules; `cel` calls the same code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    CnIdValid,
    CnIdGender,
    CnIdBirth,
    AgeAt,
}

impl Func {
    fn by_name(name: &str) -> Option<(Func, usize)> {
        Some(match name {
            "cn_id_valid" => (Func::CnIdValid, 1),
            "cn_id_gender" => (Func::CnIdGender, 1),
            "cn_id_birth" => (Func::CnIdBirth, 1),
            "age_at" => (Func::AgeAt, 2),
            _ => return None,
        })
    }

    /// Applies the function to its (text) arguments. A missing second argument
    /// of `age_at` reads as no date.
    pub fn apply(self, args: &[&str]) -> Out {
        let a0 = args.first().copied().unwrap_or("");
        match self {
            Func::CnIdValid => Out::Bool(crate::checks::cn_id::is_valid(a0)),
            Func::CnIdGender => Out::Str(Cow::Borrowed(
                crate::checks::cn_id::gender(a0).unwrap_or(""),
            )),
            Func::CnIdBirth => {
                let mut out = String::new();
                if let Some(d) = crate::checks::cn_id::birth_date(a0) {
                    value::iso_date_into(d, &mut out);
                }
                Out::Str(Cow::Owned(out))
            }
            Func::AgeAt => {
                let birth = value::parse_date_text(a0);
                let at = args.get(1).and_then(|s| value::parse_date_text(s));
                Out::Int(match (birth, at) {
                    (Some(b), Some(at)) => at.years_since(b).map(i64::from).unwrap_or(-1),
                    _ => -1,
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(Const),
    Col(usize),
    Global(Global),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    Arith(Arith, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Box<Expr>),
    List(Vec<Expr>),
    Index(Box<Expr>, Box<Expr>),
    /// A function call and its slot in [`Calls`] (see [`number_calls`]).
    Call(Func, Vec<Expr>, usize),
    /// `column <op> constant`, fused from `Cmp` (the most common node).
    ColCmp(Cmp, usize, Const),
    /// `column in [constants]`, fused from `In`.
    ColIn(usize, Vec<Const>),
}

/// The results of a row's function calls, each computed at most once per row
/// (several rules ask `cn_id_valid(id_number)`; it is answered once).
#[derive(Debug, Default)]
pub struct Calls(Vec<std::cell::OnceCell<Out>>);

impl Calls {
    /// Room for `n` distinct calls (the kind's [`number_calls`] result).
    pub fn new(n: usize) -> Calls {
        Calls((0..n).map(|_| std::cell::OnceCell::new()).collect())
    }

    /// Forgets the previous row's results.
    pub fn reset(&mut self) {
        for c in &mut self.0 {
            c.take();
        }
    }
}

/// Gives every distinct call in `exprs` a slot (equal calls share one, so each is
/// computed once per row); returns the number of slots.
pub fn number_calls(exprs: &mut [&mut Expr]) -> usize {
    fn walk(e: &mut Expr, seen: &mut Vec<(Func, Vec<Expr>)>) {
        match e {
            Expr::Const(_)
            | Expr::Col(_)
            | Expr::Global(_)
            | Expr::ColCmp(..)
            | Expr::ColIn(..) => {}
            Expr::Not(a) | Expr::Neg(a) => walk(a, seen),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::Arith(_, a, b)
            | Expr::In(a, b)
            | Expr::Index(a, b) => {
                walk(a, seen);
                walk(b, seen);
            }
            Expr::Cond(c, a, b) => {
                walk(c, seen);
                walk(a, seen);
                walk(b, seen);
            }
            Expr::List(items) => items.iter_mut().for_each(|x| walk(x, seen)),
            Expr::Call(f, args, slot) => {
                // Arguments first, so equal nested calls already share slots.
                args.iter_mut().for_each(|x| walk(x, seen));
                *slot = match seen.iter().position(|(g, a)| g == f && a == args) {
                    Some(k) => k,
                    None => {
                        seen.push((*f, args.clone()));
                        seen.len() - 1
                    }
                };
            }
        }
    }
    let mut seen = Vec::new();
    for e in exprs.iter_mut() {
        walk(e, &mut seen);
    }
    seen.len()
}

/// What names mean when compiling: the kind's column keys (by position),
/// `standards` and the county name.
pub struct Names<'a> {
    pub columns: &'a [String],
    pub standards: &'a toml::Table,
    pub county: &'a str,
}

/// Compiles `src`, or `None` when it uses anything this module does not cover.
pub fn compile(src: &str, names: &Names<'_>) -> Option<Expr> {
    let tokens = lex(src)?;
    // Parsing, evaluating and dropping the tree recurse as deep as it is, and it is
    // never deeper than the tokens are many: bounded, it fits any thread's stack.
    if tokens.len() > MAX_TOKENS {
        return None;
    }
    let mut p = Parser {
        t: tokens,
        at: 0,
        names,
    };
    let e = p.expr()?;
    (p.at == p.t.len()).then(|| fuse(e))
}

/// The longest expression compiled natively (longer ones are left to `cel`).
const MAX_TOKENS: usize = 512;

impl Cmp {
    /// The operator with its operands swapped.
    fn flip(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            same => same,
        }
    }
}

/// Fuses the common shapes `column <op> constant` and `column in [constants]`
/// into single nodes.
fn fuse(e: Expr) -> Expr {
    let b = |e: Box<Expr>| Box::new(fuse(*e));
    match e {
        Expr::Cmp(op, x, y) => match (fuse(*x), fuse(*y)) {
            (Expr::Col(i), Expr::Const(c)) => Expr::ColCmp(op, i, c),
            (Expr::Const(c), Expr::Col(i)) => Expr::ColCmp(op.flip(), i, c),
            (x, y) => Expr::Cmp(op, Box::new(x), Box::new(y)),
        },
        Expr::In(x, l) => match (fuse(*x), fuse(*l)) {
            // Scalars only: a nested list or map is left to the general path.
            (Expr::Col(i), Expr::Const(Const::List(items)))
                if !items
                    .iter()
                    .any(|c| matches!(c, Const::List(_) | Const::Map(_))) =>
            {
                Expr::ColIn(i, items)
            }
            (x, l) => Expr::In(Box::new(x), Box::new(l)),
        },
        Expr::Not(x) => Expr::Not(b(x)),
        Expr::Neg(x) => Expr::Neg(b(x)),
        Expr::And(x, y) => Expr::And(b(x), b(y)),
        Expr::Or(x, y) => Expr::Or(b(x), b(y)),
        Expr::Cond(c, x, y) => Expr::Cond(b(c), b(x), b(y)),
        Expr::Arith(op, x, y) => Expr::Arith(op, b(x), b(y)),
        Expr::Index(x, y) => Expr::Index(b(x), b(y)),
        Expr::List(items) => Expr::List(items.into_iter().map(fuse).collect()),
        Expr::Call(f, args, slot) => Expr::Call(f, args.into_iter().map(fuse).collect(), slot),
        leaf @ (Expr::Const(_)
        | Expr::Col(_)
        | Expr::Global(_)
        | Expr::ColCmp(..)
        | Expr::ColIn(..)) => leaf,
    }
}

impl Expr {
    /// Evaluates on a row (`row(i)` is column `i`'s value; `calls` the row's
    /// call results, reset for each row); `None` where the answer is left to `cel`.
    pub fn eval<'a, R>(&'a self, row: &R, scope: &Scope<'a>, calls: &'a Calls) -> Option<V<'a>>
    where
        R: Fn(usize) -> V<'a> + ?Sized,
    {
        Some(match self {
            Expr::ColCmp(op, i, c) => V::Bool(compare(*op, &row(*i), &V::of(c))?),
            Expr::ColIn(i, items) => {
                let x = row(*i);
                // Text against scalar constants: equal only to equal text (other
                // types are never equal), so the first match decides.
                if let V::Str(s) = x {
                    return Some(V::Bool(
                        items
                            .iter()
                            .any(|c| matches!(c, Const::Str(t) if **t == *s)),
                    ));
                }
                V::Bool(contains(&x, items)?)
            }
            Expr::Const(c) => V::of(c),
            Expr::Col(i) => row(*i),
            Expr::Global(g) => V::Str(match g {
                Global::Unit => scope.unit,
                Global::Period => scope.period,
                Global::PeriodEnd => scope.period_end,
            }),
            Expr::Not(e) => match e.eval(row, scope, calls)? {
                V::Bool(b) => V::Bool(!b),
                _ => return None,
            },
            Expr::Neg(e) => match e.eval(row, scope, calls)? {
                V::Int(i) => V::Int(i.checked_neg()?),
                V::Float(f) => V::Float(-f),
                _ => return None,
            },
            // Short-circuit as CEL does when the left side decides; anything else
            // (an error on the left that the right might absorb) goes to `cel`.
            Expr::And(a, b) | Expr::Or(a, b) => {
                // The left value that decides alone: false for &&, true for ||.
                let decides = matches!(self, Expr::Or(..));
                match a.eval(row, scope, calls)? {
                    V::Bool(x) if x == decides => V::Bool(x),
                    V::Bool(_) => match b.eval(row, scope, calls)? {
                        V::Bool(y) => V::Bool(y),
                        _ => return None,
                    },
                    _ => return None,
                }
            }
            Expr::Cond(c, a, b) => match c.eval(row, scope, calls)? {
                V::Bool(true) => a.eval(row, scope, calls)?,
                V::Bool(false) => b.eval(row, scope, calls)?,
                _ => return None,
            },
            Expr::Cmp(op, a, b) => {
                let (x, y) = (a.eval(row, scope, calls)?, b.eval(row, scope, calls)?);
                V::Bool(compare(*op, &x, &y)?)
            }
            Expr::Arith(op, a, b) => {
                arith(*op, a.eval(row, scope, calls)?, b.eval(row, scope, calls)?)?
            }
            Expr::In(x, list) => {
                let x = x.eval(row, scope, calls)?;
                match &**list {
                    Expr::List(items) => {
                        let mut found = false;
                        for item in items {
                            found |= compare(Cmp::Eq, &x, &item.eval(row, scope, calls)?)?;
                        }
                        V::Bool(found)
                    }
                    other => match other.eval(row, scope, calls)? {
                        V::Ref(Const::List(items)) => V::Bool(contains(&x, items)?),
                        V::Ref(Const::Map(m)) => match &x {
                            V::Str(k) => V::Bool(m.contains_key(*k)),
                            _ => return None,
                        },
                        _ => return None,
                    },
                }
            }
            Expr::List(_) => return None,
            Expr::Index(m, k) => match (m.eval(row, scope, calls)?, k.eval(row, scope, calls)?) {
                (V::Ref(Const::Map(m)), V::Str(k)) => V::of(m.get(k)?),
                (V::Ref(Const::List(l)), V::Int(i)) => V::of(l.get(usize::try_from(i).ok()?)?),
                _ => return None,
            },
            Expr::Call(f, args, slot) => {
                let cell = calls.0.get(*slot)?;
                if let Some(out) = cell.get() {
                    return Some(out.v());
                }
                let mut vals: [V<'a>; 2] = [V::Null, V::Null];
                for (k, a) in args.iter().enumerate().take(2) {
                    vals[k] = a.eval(row, scope, calls)?;
                }
                let mut texts: [&str; 2] = [""; 2];
                for (k, v) in vals.iter().enumerate().take(args.len()) {
                    match v {
                        V::Str(s) => texts[k] = s,
                        _ => return None,
                    }
                }
                let out = f.apply(&texts[..args.len().min(2)]);
                cell.get_or_init(|| out).v()
            }
        })
    }
}

/// `x in items`, every item compared (an item `compare` leaves to `cel` makes the
/// whole answer `cel`'s, even after a match).
fn contains(x: &V<'_>, items: &[Const]) -> Option<bool> {
    let mut found = false;
    for item in items {
        found |= compare(Cmp::Eq, x, &V::of(item))?;
    }
    Some(found)
}

/// Comparison as CEL does it: within a type; numbers across int and double by
/// value; `==`/`!=` across other types are false/true (heterogeneous equality).
/// `None` for what is left to `cel`: ordering across types (an error there), NaN,
/// integers a double cannot hold exactly, lists and maps.
fn compare(op: Cmp, x: &V<'_>, y: &V<'_>) -> Option<bool> {
    use std::cmp::Ordering;
    /// Integers up to 2^53 are exact as doubles.
    fn exact(i: i64) -> Option<f64> {
        (i.unsigned_abs() <= 1 << 53).then_some(i as f64)
    }
    let ord: Ordering = match (x, y) {
        (V::Str(a), V::Str(b)) => match op {
            Cmp::Eq => return Some(a == b),
            Cmp::Ne => return Some(a != b),
            _ => a.cmp(b),
        },
        (V::Int(a), V::Int(b)) => a.cmp(b),
        (V::Float(a), V::Float(b)) => a.partial_cmp(b)?,
        (V::Int(a), V::Float(b)) => exact(*a)?.partial_cmp(b)?,
        (V::Float(a), V::Int(b)) => a.partial_cmp(&exact(*b)?)?,
        (V::Bool(a), V::Bool(b)) if matches!(op, Cmp::Eq | Cmp::Ne) => a.cmp(b),
        (V::Null, V::Null) if matches!(op, Cmp::Eq | Cmp::Ne) => Ordering::Equal,
        (V::Ref(_), _) | (_, V::Ref(_)) => return None,
        // Scalars of different types: never equal; ordering them is an error.
        _ if matches!(op, Cmp::Eq | Cmp::Ne) => return Some(op == Cmp::Ne),
        _ => return None,
    };
    Some(match op {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    })
}

fn arith<'a>(op: Arith, x: V<'a>, y: V<'a>) -> Option<V<'a>> {
    Some(match (x, y) {
        (V::Int(a), V::Int(b)) => V::Int(match op {
            Arith::Add => a.checked_add(b)?,
            Arith::Sub => a.checked_sub(b)?,
            Arith::Mul => a.checked_mul(b)?,
            Arith::Div => a.checked_div(b)?,
            Arith::Rem => a.checked_rem(b)?,
        }),
        (V::Float(a), V::Float(b)) => V::Float(match op {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div if b != 0.0 => a / b,
            _ => return None,
        }),
        // String concatenation needs an owned result: left to `cel`.
        _ => return None,
    })
}

// ---- lexing ------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Punct(&'static str),
}

const PUNCT: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "(", ")", "[", "]", "{", "}", ",", ".", "?", ":", "!", "-",
    "+", "*", "/", "%", "<", ">",
];

fn lex(src: &str) -> Option<Vec<Tok>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'\'' || c == b'"' {
            // Triple-quoted strings are left to `cel`.
            if b.get(i + 1) == Some(&c) && b.get(i + 2) == Some(&c) {
                return None;
            }
            let mut s = String::new();
            let mut j = i + 1;
            loop {
                let ch = src[j..].chars().next()?;
                if ch as u32 == u32::from(c) {
                    j += 1;
                    break;
                }
                match ch {
                    '\n' | '\r' => return None,
                    '\\' => {
                        let e = *b.get(j + 1)?;
                        s.push(match e {
                            b'\\' => '\\',
                            b'\'' => '\'',
                            b'"' => '"',
                            b'`' => '`',
                            b'?' => '?',
                            b'n' => '\n',
                            b't' => '\t',
                            b'r' => '\r',
                            _ => return None,
                        });
                        j += 2;
                    }
                    _ => {
                        s.push(ch);
                        j += ch.len_utf8();
                    }
                }
            }
            out.push(Tok::Str(s));
            i = j;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let mut float = false;
            if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(|d| d.is_ascii_digit()) {
                float = true;
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if matches!(b.get(j), Some(b'e' | b'E')) {
                float = true;
                j += 1;
                if matches!(b.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                if !b.get(j).is_some_and(|d| d.is_ascii_digit()) {
                    return None;
                }
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            // Hex, unsigned and other suffixes are left to `cel`.
            if b.get(j)
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == b'_')
            {
                return None;
            }
            let text = &src[i..j];
            out.push(if float {
                Tok::Float(text.parse().ok()?)
            } else {
                Tok::Int(text.parse().ok()?)
            });
            i = j;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            // r'…', b'…' and friends are left to `cel`.
            if matches!(b.get(j), Some(b'\'' | b'"')) {
                return None;
            }
            out.push(Tok::Ident(src[i..j].to_string()));
            i = j;
        } else {
            let p = PUNCT.iter().find(|p| src[i..].starts_with(**p))?;
            out.push(Tok::Punct(p));
            i += p.len();
        }
    }
    Some(out)
}

// ---- parsing -----------------------------------------------------------------

struct Parser<'n, 'a> {
    t: Vec<Tok>,
    at: usize,
    names: &'n Names<'a>,
}

impl Parser<'_, '_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.at)
    }

    fn eat(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Option<()> {
        self.eat(p).then_some(())
    }

    fn expr(&mut self) -> Option<Expr> {
        let c = self.or()?;
        if self.eat("?") {
            let a = self.or()?;
            self.expect(":")?;
            let b = self.expr()?;
            return Some(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Some(c)
    }

    fn or(&mut self) -> Option<Expr> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Some(e)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut e = self.rel()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.rel()?));
        }
        Some(e)
    }

    fn rel(&mut self) -> Option<Expr> {
        let mut e = self.add()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Punct("==")) => Some(Cmp::Eq),
                Some(Tok::Punct("!=")) => Some(Cmp::Ne),
                Some(Tok::Punct("<")) => Some(Cmp::Lt),
                Some(Tok::Punct("<=")) => Some(Cmp::Le),
                Some(Tok::Punct(">")) => Some(Cmp::Gt),
                Some(Tok::Punct(">=")) => Some(Cmp::Ge),
                Some(Tok::Ident(s)) if s == "in" => None,
                _ => return Some(e),
            };
            self.at += 1;
            let rhs = self.add()?;
            e = match op {
                Some(op) => Expr::Cmp(op, Box::new(e), Box::new(rhs)),
                None => Expr::In(Box::new(e), Box::new(rhs)),
            };
        }
    }

    fn add(&mut self) -> Option<Expr> {
        self.arith(&[("+", Arith::Add), ("-", Arith::Sub)], Self::mul)
    }

    fn mul(&mut self) -> Option<Expr> {
        self.arith(
            &[("*", Arith::Mul), ("/", Arith::Div), ("%", Arith::Rem)],
            Self::unary,
        )
    }

    /// A left-associative chain of `ops` over operands parsed by `operand`.
    fn arith(
        &mut self,
        ops: &[(&str, Arith)],
        operand: fn(&mut Self) -> Option<Expr>,
    ) -> Option<Expr> {
        let mut e = operand(self)?;
        loop {
            let Some(op) = ops.iter().find(|(p, _)| self.eat(p)).map(|(_, op)| *op) else {
                return Some(e);
            };
            e = Expr::Arith(op, Box::new(e), Box::new(operand(self)?));
        }
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.eat("!") {
            return Some(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            // A negative literal is one constant.
            return Some(match self.unary()? {
                Expr::Const(Const::Int(i)) => Expr::Const(Const::Int(i.checked_neg()?)),
                Expr::Const(Const::Float(f)) => Expr::Const(Const::Float(-f)),
                e => Expr::Neg(Box::new(e)),
            });
        }
        self.member()
    }

    fn member(&mut self) -> Option<Expr> {
        let mut e = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(Tok::Ident(field)) = self.peek().cloned() else {
                    return None;
                };
                self.at += 1;
                // Methods (`x.startsWith(…)`) are left to `cel`.
                if matches!(self.peek(), Some(Tok::Punct("("))) {
                    return None;
                }
                // Only constant maps (`standards`) have fields here.
                e = match e {
                    Expr::Const(Const::Map(mut m)) => Expr::Const(m.remove(&field)?),
                    _ => return None,
                };
            } else if self.eat("[") {
                let k = self.expr()?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(k));
            } else {
                return Some(e);
            }
        }
    }

    fn args(&mut self, close: &str) -> Option<Vec<Expr>> {
        let mut out = Vec::new();
        if self.eat(close) {
            return Some(out);
        }
        loop {
            out.push(self.expr()?);
            if self.eat(close) {
                return Some(out);
            }
            self.expect(",")?;
            if self.eat(close) {
                return Some(out);
            }
        }
    }

    fn primary(&mut self) -> Option<Expr> {
        let t = self.peek()?.clone();
        self.at += 1;
        Some(match t {
            Tok::Int(i) => Expr::Const(Const::Int(i)),
            Tok::Float(f) => Expr::Const(Const::Float(f)),
            Tok::Str(s) => Expr::Const(Const::Str(s.into())),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                e
            }
            Tok::Punct("[") => {
                let items = self.args("]")?;
                // A list of literals is one constant.
                if items.iter().all(|i| matches!(i, Expr::Const(_))) {
                    let consts = items
                        .into_iter()
                        .filter_map(|i| match i {
                            Expr::Const(c) => Some(c),
                            _ => None,
                        })
                        .collect();
                    Expr::Const(Const::List(consts))
                } else {
                    Expr::List(items)
                }
            }
            Tok::Ident(name) => {
                if self.eat("(") {
                    let (f, arity) = Func::by_name(&name)?;
                    let args = self.args(")")?;
                    if args.len() != arity {
                        return None;
                    }
                    return Some(Expr::Call(f, args, usize::MAX));
                }
                match name.as_str() {
                    "true" => Expr::Const(Const::Bool(true)),
                    "false" => Expr::Const(Const::Bool(false)),
                    "null" => Expr::Const(Const::Null),
                    "unit" => Expr::Global(Global::Unit),
                    "period" => Expr::Global(Global::Period),
                    "period_end" => Expr::Global(Global::PeriodEnd),
                    "county" => Expr::Const(Const::Str(self.names.county.into())),
                    "standards" => Expr::Const(Const::from_toml(&toml::Value::Table(
                        self.names.standards.clone(),
                    ))),
                    _ => {
                        // `register.level`: a reference's value, a column of its own.
                        if let (Some(Tok::Punct(".")), Some(Tok::Ident(field))) =
                            (self.t.get(self.at), self.t.get(self.at + 1))
                        {
                            let dotted = format!("{name}.{field}");
                            let call = matches!(self.t.get(self.at + 2), Some(Tok::Punct("(")));
                            if let (false, Some(i)) =
                                (call, self.names.columns.iter().position(|c| *c == dotted))
                            {
                                self.at += 2;
                                return Some(Expr::Col(i));
                            }
                        }
                        Expr::Col(self.names.columns.iter().position(|c| *c == name)?)
                    }
                }
            }
            Tok::Punct(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: [&str; 6] = ["name", "amount", "count", "level", "birth", "id"];

    /// The test columns and standards, owned; [`Fixture::names`] borrows them.
    struct Fixture {
        cols: Vec<String>,
        standards: toml::Table,
    }

    impl Fixture {
        fn new() -> Fixture {
            let standards: toml::Table = toml::from_str(
                "living = 100\nrate = 0.5\nlevels = ['一级', '二级']\n[nursing]\n\"一级\" = 200\n\"二级\" = 150",
            )
            .unwrap();
            Fixture {
                cols: COLS.iter().map(|s| s.to_string()).collect(),
                standards,
            }
        }

        fn names(&self) -> Names<'_> {
            Names {
                columns: &self.cols,
                standards: &self.standards,
                county: "安和县",
            }
        }
    }

    /// One row: values per column in CEL's terms.
    #[derive(Clone)]
    enum Cell {
        S(&'static str),
        F(f64),
        I(Option<i64>),
    }

    fn rows() -> Vec<Vec<Cell>> {
        use Cell::*;
        let ids = [
            "11010519491231002X",
            "110105194912310021",
            "410102201501011234",
            "",
            "abc",
        ];
        let mut out = Vec::new();
        for (k, id) in ids.iter().enumerate() {
            for amount in [0.0, 100.0, 150.5, f64::NAN] {
                for count in [None, Some(0), Some(3), Some(i64::MAX)] {
                    out.push(vec![
                        S(["张三", "", "X"][k % 3]),
                        F(amount),
                        I(count),
                        S(["一级", "二级", "三级", ""][k % 4]),
                        S(["1949-12-31", "", "2015-01-01", "x", "2026-11-30"][(k + 1) % 5]),
                        S(id),
                    ]);
                }
            }
        }
        out
    }

    /// Expressions covering every shape, including ones whose answer must be
    /// left to `cel` (mixed types, overflows, missing keys).
    const EXPRS: &[&str] = &[
        "name != '' && cn_id_valid(id)",
        "name == cn_id_gender(id)",
        "birth == cn_id_birth(id)",
        "level in ['智力', '精神'] || (cn_id_valid(id) && age_at(cn_id_birth(id), '2026-11-30') < 18)",
        "!cn_id_valid(id) && birth != '' && age_at(birth, period_end) < 18",
        "amount > 0.0",
        "amount > 0.0 && level == '一级'",
        "amount == standards.living",
        "amount == standards.nursing[level]",
        "level in ['一级', '二级'] || (level == '三级' && name in ['智力', '精神'])",
        "birth >= (cn_id_valid(id) ? cn_id_birth(id) : birth)",
        "birth <= period_end",
        "count > 2",
        "count == null",
        "count + 1 > 3",
        "count * 2 == 6",
        "count / 0 == 1",
        "amount / 0.0 > 1.0",
        "amount * standards.rate <= 75.0",
        "-amount < 0.0",
        "amount == 100",
        "count == 3.0",
        "name == null",
        "level in standards.levels",
        "level in standards.nursing",
        "standards.levels[0] == level",
        "name + level == '张三一级'",
        "amount > 0.0 ? amount : 0.0",
        "unit == '柳河镇' && period == '2026-11' && county == '安和县'",
        "true && false || !false",
        "\"双引号\\n\" == name",
        "cn_id_gender(amount) == '男'",
        "count > 2 || amount > 0.0",
        "age_at(birth, '2026-11-30')",
        "cn_id_birth(id)",
        "standards.levels",
        "count % 2 == 1",
        "-9223372036854775807 < count",
        "amount > 0",
        "count > 2.5",
        "count == 3.0 || amount >= 100",
        "name == 1",
        "level in [1, '一级', null]",
        "count in [3, '3', 3.0]",
        "amount in [100, 150.5, '100']",
        "level in [['一级'], '一级']",
        "name != '' && level in ['一级', '二级', '三级', '四级']",
        "true == name",
        "count < name",
        "9007199254740993 == 9007199254740992.0",
    ];

    /// Source text that must not compile natively (left to `cel`).
    const LEFT_TO_CEL: &[&str] = &[
        "size(name) > 2",
        "name.startsWith('张')",
        "has(standards.living)",
        "name.matches('^张')",
        "r'raw' == name",
        "'''triple''' == name",
        "1u == count",
        "0x10 == count",
        "{'a': 1}['a'] == 1",
        "standards.missing == 1.0",
        "unknown_column == ''",
        "'\\u00e9' == name",
        "cn_id_valid(id, id)",
        "[1, 2].all(x, x > 0)",
        "-9223372036854775808 < count",
    ];

    #[test]
    fn native_answers_are_the_answers_cel_gives() {
        let fixture = Fixture::new();
        let n = fixture.names();
        let env = super::super::cel_env();
        let standards_cel =
            super::super::toml_to_cel(&toml::Value::Table(fixture.standards.clone()));
        let county = crate::rules::County {
            name: "安和县".into(),
            ..crate::rules::County::default()
        };
        let root = crate::rules::cel::cel_root(&env, &standards_cel, &county);
        let mut file = root.new_inner_scope();
        let period_end = crate::rules::cel::bind_file_globals(&mut file, "柳河镇", "2026-11");
        assert_eq!(period_end, "2026-11-30");
        let scope = Scope {
            unit: "柳河镇",
            period: "2026-11",
            period_end: &period_end,
        };
        let mut answered = 0;
        let mut deferred = 0;
        for src in EXPRS {
            let mut native = compile(src, &n).unwrap_or_else(|| panic!("{src} should compile"));
            let mut calls = Calls::new(number_calls(&mut [&mut native]));
            let program = env.compile(src).unwrap();
            for row in rows() {
                let mut ctx = file.new_inner_scope();
                for (k, c) in row.iter().enumerate() {
                    let v: cel::Value = match c {
                        Cell::S(s) => (*s).into(),
                        Cell::F(f) => cel::Value::Float(*f),
                        Cell::I(Some(i)) => cel::Value::Int(*i),
                        Cell::I(None) => cel::Value::Null,
                    };
                    ctx.add_variable_from_value(COLS[k], v);
                }
                let get = |i: usize| match &row[i] {
                    Cell::S(s) => V::Str(s),
                    Cell::F(f) => V::Float(*f),
                    Cell::I(Some(i)) => V::Int(*i),
                    Cell::I(None) => V::Null,
                };
                calls.reset();
                let ours = native.eval(&get, &scope, &calls);
                let theirs = program.execute(&ctx);
                match ours {
                    None => deferred += 1,
                    Some(v) => {
                        answered += 1;
                        let theirs = theirs.unwrap_or_else(|e| {
                            panic!("{src}: native said {v:?}, cel failed: {e:?}")
                        });
                        assert_eq!(
                            v.text(),
                            Some(crate::rules::cel::cel_text(&theirs)),
                            "{src}"
                        );
                        let same = match (&v, &theirs) {
                            (V::Bool(a), cel::Value::Bool(b)) => a == b,
                            (V::Int(a), cel::Value::Int(b)) => a == b,
                            (V::Float(a), cel::Value::Float(b)) => {
                                a == b || (a.is_nan() && b.is_nan())
                            }
                            (V::Str(a), cel::Value::String(b)) => *a == b.as_str(),
                            (V::Null, cel::Value::Null) => true,
                            (V::Ref(Const::List(_)), cel::Value::List(_)) => true,
                            _ => false,
                        };
                        assert!(same, "{src}: native {v:?}, cel {theirs:?}");
                    }
                }
            }
        }
        // Most answers are native; the rest were left to cel, never contradicted.
        assert!(
            answered > deferred * 2,
            "{answered} answered, {deferred} deferred"
        );
    }

    #[test]
    fn constructs_outside_the_subset_are_left_to_cel() {
        let fixture = Fixture::new();
        let n = fixture.names();
        for src in LEFT_TO_CEL {
            assert_eq!(compile(src, &n), None, "{src}");
        }
        let long = vec!["amount > 0.0"; 300].join(" && ");
        assert_eq!(compile(&long, &n), None, "too long to be native");
        let nested = format!("{}true{}", "(".repeat(600), ")".repeat(600));
        assert_eq!(compile(&nested, &n), None, "too deep to be native");
        assert!(compile(&vec!["amount > 0.0"; 100].join(" && "), &n).is_some());
    }

    #[test]
    fn the_county_rules_compile_natively() {
        let rules = crate::rules::RuleSet::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"),
        )
        .unwrap();
        for kind in &rules.kinds {
            for r in &kind.row_rules {
                assert!(
                    r.native.is_some(),
                    "{} of {} is not compiled natively",
                    r.id,
                    kind.id
                );
            }
        }
    }
}
