//! Linting a rules folder: every problem with its file and line, in Chinese,
//! and the vocabulary rules may use (globals, functions, placeholders, message
//! keys, constraints). A row rule is also dry-run on a blank row, so a type
//! mismatch or a wrong call is caught by `check-rules`, not by a clerk.

use super::{checks, Kind, KindCtx};
use super::{ColumnType, RefWhat};
use ::cel::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One problem in a rules folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintIssue {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for LintIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// The rules folder could not be used; every problem is listed.
#[derive(Debug, thiserror::Error)]
#[error("规则文件有 {} 处问题：\n{}", .0.len(), .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct RuleErrors(pub Vec<LintIssue>);

/// Placeholders notice templates may use.
pub const NOTICE_PLACEHOLDERS: &[&str] = &[
    "county",
    "county_short",
    "unit",
    "period",
    "kind",
    "kinds",
    "file",
    "received_at",
    "rows",
    "errors",
    "warnings",
    "reason",
    "waiting",
    "checked_against",
    "recheck",
    "deadline",
    "days_left",
    "status",
    "problems_text",
    "problems_html",
    "list_text",
    "list_html",
    "attachment",
    "count",
    "items_text",
    "items_html",
    "attachment_note_text",
    "attachment_note_html",
    "people_text",
    "people_html",
    "n",
    "severity",
    "row",
    "person",
    "sheet",
    "cell",
    "header",
    "value",
    "message",
    "expected",
    "rest",
    "shown",
    "total",
    "first_file",
    "first_received_at",
    "first_outcome",
    "advice",
];

/// Names every row rule may read besides column keys.
pub const GLOBALS: &[&str] = &["unit", "period", "period_end", "standards", "county"];

/// Functions taizhang adds to CEL for row rules.
pub const FUNCTIONS: &[&str] = &["cn_id_valid", "cn_id_gender", "cn_id_birth", "age_at"];

/// Constraint names whose file-level messages each kind must define.
pub const FILE_MESSAGES: &[&str] = &[
    "missing_column",
    "unit_unknown",
    "unit_conflict",
    "no_rows",
    "period_guessed",
    "period_mismatch",
    "wrong_extension",
    "other_sheets",
    "sheet_ambiguous",
    "total_mismatch",
    "unreadable_cell",
];

/// Placeholders any message may use besides column keys.
pub const PLACEHOLDERS: &[&str] = &[
    "value",
    "expected",
    "header",
    "row",
    "cell",
    "sheet",
    "unit",
    "period",
    "other_row",
    "other_unit",
    "other_file",
    "length",
    "row_label",
    "col_label",
    "file_unit",
    "text_unit",
    "file_period",
    "title_period",
    "shown",
    "format",
    "sheets",
    "left_out",
];

pub(super) const CEL_STDLIB: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "has",
    "all",
    "exists",
    "exists_one",
    "map",
    "filter",
    "timestamp",
    "duration",
    "type",
    "dyn",
    "max",
    "min",
    "substring",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "join",
    "trim",
    "format",
    "quote",
    "getFullYear",
    "getMonth",
    "getDate",
    "getDayOfMonth",
];

pub(super) struct Lint {
    pub(super) issues: Vec<LintIssue>,
}

impl Lint {
    pub(super) fn at(
        &mut self,
        file: &Path,
        src: &str,
        span: Option<std::ops::Range<usize>>,
        msg: String,
    ) {
        let line = span.map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
        self.issues.push(LintIssue {
            file: file.to_path_buf(),
            line,
            message: msg,
        });
    }
}

pub(super) fn toml_error(file: &Path, src: &str, e: &toml::de::Error) -> LintIssue {
    let line = e
        .span()
        .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
    LintIssue {
        file: file.to_path_buf(),
        line,
        message: format!("TOML 格式错误：{}", toml_message_zh(e.message())),
    }
}

/// The TOML parser's (English) message in Chinese, for the common mistakes; an
/// unknown one is kept after a Chinese gist.
pub(super) fn toml_message_zh(msg: &str) -> String {
    let msg = msg.trim();
    let quoted = |s: &str| -> Vec<String> {
        s.split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, p)| p.to_string())
            .collect()
    };
    let q = quoted(msg);
    let first = q.first().cloned().unwrap_or_default();
    let rest = q.get(1..).unwrap_or_default().join("、");
    if msg.starts_with("string values must be quoted") || msg.starts_with("invalid string") {
        "文字值必须加英文双引号，如 name = \"柳河镇\"".into()
    } else if msg.starts_with("unknown variant") {
        format!("「{first}」不是可用的取值，可用：{rest}")
    } else if msg.starts_with("unknown field") {
        format!("不认识的设置项「{first}」（拼写错误？），可用：{rest}")
    } else if msg.starts_with("missing field") {
        format!("缺少必填的设置项「{first}」")
    } else if msg.starts_with("duplicate key") {
        format!("设置项「{first}」重复出现")
    } else if let Some(t) = msg.strip_prefix("invalid type: ") {
        let (found, expected) = t.split_once(", expected ").unwrap_or((t, ""));
        let zh = |x: &str| {
            x.replace("usize", "整数")
                .replace("u32", "整数")
                .replace("u64", "整数")
                .replace("i64", "整数")
                .replace("f64", "数字")
                .replace("a string", "文字")
                .replace("string", "文字")
                .replace("integer", "整数")
                .replace("floating point", "小数")
                .replace("boolean", "true/false")
                .replace("sequence", "列表 [ ]")
                .replace("map", "表 { }")
                .replace("a ", "")
        };
        format!(
            "类型不对：写的是{}，这里应为{}（数字不加引号）",
            zh(found),
            zh(expected)
        )
    } else if msg.contains("unclosed") || msg.starts_with("invalid table header") {
        format!("括号或引号没有闭合（{msg}）")
    } else if msg.starts_with("expected") || msg.starts_with("invalid") {
        format!("写法不对（{msg}）：每行应为“名称 = 值”，文字加英文双引号")
    } else {
        format!("写法不对（{msg}）")
    }
}

/// A regex compile error in Chinese, for the common mistakes.
pub(super) fn regex_message_zh(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or("").trim();
    let gist = if last.contains("unclosed character class") {
        "方括号 [ 没有闭合"
    } else if last.contains("unclosed group") {
        "圆括号 ( 没有闭合"
    } else if last.contains("unopened group") {
        "多了一个右括号 )"
    } else if last.contains("repetition operator missing expression") {
        "* + ? 之前缺少要重复的内容"
    } else if last.contains("unrecognized escape sequence") {
        "反斜杠 \\ 后的字符无效"
    } else if last.contains("invalid character class range") {
        "方括号中的范围（如 a-z）前后颠倒"
    } else {
        return format!("写法不对（{last}）");
    };
    gist.to_string()
}

/// Constraint names a column can use, each needing a message.
pub const CONSTRAINTS: &[&str] = &[
    "required",
    "type_integer",
    "type_money",
    "type_date",
    "type_month",
    "enum",
    "enum_alias",
    "regex",
    "min",
    "max",
    "length",
    "unique_file",
    "unique_county",
    "unique_with",
    "lookup",
    "too_long",
];

pub(super) fn message_key_known(name: &str) -> bool {
    FILE_MESSAGES.contains(&name)
        || CONSTRAINTS.contains(&name)
        || checks::registry().iter().any(|c| {
            c.outcomes()
                .iter()
                .any(|o| name == format!("{}.{o}", c.name()))
        })
}

pub(super) fn check_placeholders(
    text: &str,
    keys: &[String],
    path: &Path,
    src: &str,
    span: Option<std::ops::Range<usize>>,
    what: &str,
    lint: &mut Lint,
) {
    for name in crate::text::placeholders(text) {
        if !PLACEHOLDERS.contains(&name) && !keys.iter().any(|k| k == name) {
            lint.at(
                path,
                src,
                span.clone(),
                format!("{what} 的提示语使用了未知占位符「{{{name}}}」"),
            );
        }
    }
}

/// Runs every row rule once on a blank row, so a rule that can never evaluate (a
/// type mismatch, a wrong function call) is caught by `check-rules`, not by a clerk.
pub(super) fn dry_run(kind: &Kind, ctx: &KindCtx<'_>, lint: &mut Lint) {
    let root = super::cel::cel_root(ctx.env, ctx.standards, ctx.county);
    let mut file_scope = root.new_inner_scope();
    super::cel::bind_file_globals(&mut file_scope, "", "2000-01");
    let mut row = file_scope.new_inner_scope();
    for c in &kind.columns {
        row.add_variable_from_value(c.key.clone(), super::cel::blank_value(c));
    }
    // A reference as if the row were found, with blank values.
    for r in &kind.references {
        let m: HashMap<String, Value> = r
            .columns
            .iter()
            .map(|(k, ty)| {
                let v = match ty {
                    ColumnType::Money => Value::Float(0.0),
                    ColumnType::Integer => Value::Null,
                    _ => Value::from(""),
                };
                (k.clone(), v)
            })
            .collect();
        row.add_variable_from_value(r.name.clone(), Value::Map(m.into()));
    }
    for v in &kind.ref_vars {
        match v.what {
            RefWhat::Found | RefWhat::Available => {
                row.add_variable_from_value(v.name.clone(), true)
            }
            RefWhat::File | RefWhat::Elsewhere | RefWhat::Period => {
                row.add_variable_from_value(v.name.clone(), "")
            }
            RefWhat::Column(_) => {}
        }
    }
    for o in kind.consolidation.iter().flat_map(|c| &c.owed) {
        match o.when.execute(&row) {
            Ok(Value::Bool(_)) => {}
            other => lint.issues.push(LintIssue {
                file: ctx.path.to_path_buf(),
                line: find_line(ctx.src, &o.value),
                message: format!(
                    "[[consolidation.owed]]「{}」的 when 在空白行上无法得出真/假：{other:?}",
                    o.value
                ),
            }),
        }
    }
    for r in &kind.row_rules {
        // `when` must always evaluate; `assert` and `expected` only where `when` holds.
        let when = match &r.when {
            Some(w) => w.execute(&row),
            None => Ok(Value::Bool(true)),
        };
        let mut errors = Vec::new();
        match when {
            Ok(Value::Bool(true)) => {
                for p in std::iter::once(&r.assert).chain(r.expected.iter()) {
                    if let Err(e) = p.execute(&row) {
                        errors.push(e);
                    }
                }
            }
            Ok(Value::Bool(false)) => {}
            Ok(other) => errors.push(::cel::ExecutionError::function_error(
                "when",
                format!("结果不是真/假：{other:?}"),
            )),
            Err(e) => errors.push(e),
        }
        if let Some(e) = errors
            .into_iter()
            .find(|e| !matches!(e, ::cel::ExecutionError::NoSuchKey(_)))
        {
            lint.issues.push(LintIssue {
                file: ctx.path.to_path_buf(),
                line: find_line(ctx.src, &r.id),
                message: format!("规则 {} 在空白行上无法计算：{e:?}（检查运算两边的类型：金额是数字，日期和文字是字符串，空的整数是 null）", r.id),
            });
        }
    }
}

pub(super) fn find_line(src: &str, id: &str) -> Option<usize> {
    let needle = format!("\"{id}\"");
    src.find(&needle)
        .map(|p| src[..p].matches('\n').count() + 1)
}
