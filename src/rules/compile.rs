//! Compiling rule files: the units and notices of `county.toml` and
//! `notices.toml`, and each ledger kind's columns, messages, row rules (CEL and
//! native), sheet rules and consolidation, into the types of [`super`].

use super::lint::*;
use super::*;

pub(super) fn load_notices(dir: &Path, lint: &mut Lint) -> Option<schema::NoticeFile> {
    let path = dir.join("notices.toml");
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => {
            lint.at(
                &path,
                "",
                None,
                format!("无法读取通知模板 notices.toml：{e}"),
            );
            return None;
        }
    };
    let file: schema::NoticeFile = match toml::from_str(&src) {
        Ok(f) => f,
        Err(e) => {
            lint.issues.push(toml_error(&path, &src, &e));
            return None;
        }
    };
    let templates: Vec<(&str, &str)> = {
        let mut v = vec![
            ("items.text", file.items.text.as_str()),
            ("items.html", file.items.html.as_str()),
            ("items.more_text", file.items.more_text.as_str()),
            ("items.more_html", file.items.more_html.as_str()),
            ("items.omitted_text", file.items.omitted_text.as_str()),
            ("items.omitted_html", file.items.omitted_html.as_str()),
            ("items.attachment_text", file.items.attachment_text.as_str()),
            ("items.attachment_html", file.items.attachment_html.as_str()),
            (
                "items.no_attachment_text",
                file.items.no_attachment_text.as_str(),
            ),
            (
                "items.no_attachment_html",
                file.items.no_attachment_html.as_str(),
            ),
            (
                "resent_advice.accepted",
                file.resent_advice.accepted.as_str(),
            ),
            (
                "resent_advice.rejected",
                file.resent_advice.rejected.as_str(),
            ),
        ];
        for (name, t) in [
            ("rejected", &file.rejected),
            ("accepted", &file.accepted),
            ("unreadable", &file.unreadable),
            ("not_a_ledger", &file.not_a_ledger),
            ("list_accepted", &file.list_accepted),
            ("list_rejected", &file.list_rejected),
            ("quarantine", &file.quarantine),
            ("quarantine_unit", &file.quarantine_unit),
            ("resent", &file.resent),
            ("duplicates", &file.duplicates),
            ("county_workbook", &file.county_workbook),
            ("workbook_failed", &file.workbook_failed),
            ("state_disk", &file.state_disk),
            ("rules_refused", &file.rules_refused),
            ("rules_failed", &file.rules_failed),
            ("reminder", &file.reminder),
            ("overdue", &file.overdue),
        ] {
            v.push((name, t.subject.as_str()));
            v.push((name, t.text.as_str()));
            v.push((name, t.html.as_str()));
        }
        for t in file.duplicates_by_kind.values() {
            for part in [&t.subject, &t.text, &t.html] {
                v.push(("duplicates_by_kind", part.as_str()));
            }
        }
        v
    };
    for (name, text) in templates {
        for ph in crate::text::placeholders(text) {
            if !NOTICE_PLACEHOLDERS.contains(&ph) {
                let line = src.find(&format!("{{{ph}}}")).map(|p| p..p);
                lint.at(
                    &path,
                    &src,
                    line,
                    format!("通知模板 [{name}] 使用了未知占位符「{{{ph}}}」"),
                );
            }
        }
    }
    Some(file)
}

pub(super) fn empty_notices() -> schema::NoticeFile {
    let t = || schema::MailTemplate {
        subject: String::new(),
        text: String::new(),
        html: String::new(),
    };
    schema::NoticeFile {
        settings: schema::NoticeSettings { max_items: 30 },
        items: schema::ItemTemplates {
            text: String::new(),
            html: String::new(),
            more_text: String::new(),
            more_html: String::new(),
            omitted_text: String::new(),
            omitted_html: String::new(),
            attachment_text: String::new(),
            attachment_html: String::new(),
            no_attachment_text: String::new(),
            no_attachment_html: String::new(),
        },
        rejected: t(),
        accepted: t(),
        unreadable: t(),
        not_a_ledger: t(),
        list_accepted: t(),
        list_rejected: t(),
        quarantine: t(),
        quarantine_unit: t(),
        resent: t(),
        resent_advice: schema::ResentAdvice::default(),
        duplicates: t(),
        duplicates_by_kind: BTreeMap::new(),
        reminder: t(),
        overdue: t(),
        county_workbook: t(),
        workbook_failed: t(),
        state_disk: t(),
        rules_refused: t(),
        rules_failed: t(),
    }
}

pub(super) fn load_units(
    county: &schema::CountyFile,
    tables: &HashMap<String, Table>,
    path: &Path,
    src: &str,
    lint: &mut Lint,
) -> Vec<Unit> {
    let decl = &county.units;
    let Some(t) = tables.get(decl.table.get_ref()) else {
        lint.at(
            path,
            src,
            Some(decl.table.span()),
            format!(
                "[units] 引用的表「{}」未在 [tables] 中声明",
                decl.table.get_ref()
            ),
        );
        return Vec::new();
    };
    let cols = [&decl.code_column, &decl.name_column, &decl.email_column].map(|c| (c, t.column(c)));
    let mut idx = [0usize; 3];
    for (i, (name, pos)) in cols.iter().enumerate() {
        match pos {
            Some(p) => idx[i] = *p,
            None => {
                lint.at(
                    path,
                    src,
                    Some(decl.table.span()),
                    format!("表「{}」没有列「{}」", decl.table.get_ref(), name),
                );
                return Vec::new();
            }
        }
    }
    t.rows
        .iter()
        .map(|r| Unit {
            code: r.get(idx[0]).cloned().unwrap_or_default(),
            name: r.get(idx[1]).cloned().unwrap_or_default(),
            email: r.get(idx[2]).cloned().unwrap_or_default(),
        })
        .collect()
}

pub(super) fn compile_kind(
    file: schema::KindFile,
    ctx: &KindCtx<'_>,
    lint: &mut Lint,
) -> Option<Kind> {
    let (path, src) = (ctx.path, ctx.src);
    let before = lint.issues.len();
    let keys: Vec<String> = file
        .columns
        .iter()
        .map(|c| c.key.get_ref().clone())
        .collect();
    let key_of = |s: &Spanned<String>, what: &str, lint: &mut Lint| -> Option<usize> {
        let p = keys.iter().position(|k| k == s.get_ref());
        if p.is_none() {
            lint.at(
                path,
                src,
                Some(s.span()),
                format!("{what}引用了未知的列「{}」", s.get_ref()),
            );
        }
        p
    };
    let mut seen = HashSet::new();
    for c in &file.columns {
        if !seen.insert(c.key.get_ref().clone()) {
            lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列 key「{}」重复", c.key.get_ref()),
            );
        }
        if GLOBALS.contains(&c.key.get_ref().as_str())
            || FUNCTIONS.contains(&c.key.get_ref().as_str())
        {
            lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列 key「{}」是保留名称", c.key.get_ref()),
            );
        }
    }
    let recognise_by: Vec<usize> = file
        .kind
        .recognise_by
        .iter()
        .filter_map(|k| key_of(k, "recognise_by ", lint))
        .collect();
    let template_columns: Vec<usize> = file
        .kind
        .template_columns
        .iter()
        .filter_map(|k| key_of(k, "template_columns ", lint))
        .collect();
    for m in FILE_MESSAGES {
        if !file.messages.contains_key(*m) {
            lint.at(path, src, None, format!("[messages] 缺少文件级提示「{m}」"));
        }
    }
    for name in file.file_severity.keys() {
        if !FILE_MESSAGES.contains(&name.as_str()) {
            let line = src.find(&format!("{name} ")).map(|p| p..p);
            lint.at(
                path,
                src,
                line,
                format!(
                    "[file_severity] 中的「{name}」不是文件级检查（可用：{}）",
                    FILE_MESSAGES.join("、")
                ),
            );
        }
    }
    let (mut references, mut ref_vars) = compile_references(&file, &keys, ctx, lint);
    // `register.<column>` anywhere in an expression: a column of the referenced kind.
    {
        let mut exprs: Vec<(&Spanned<String>, String)> = Vec::new();
        for r in &file.row_rules {
            let id = r.id.get_ref();
            exprs.extend(r.when.iter().map(|w| (w, format!("规则 {id} 的 when"))));
            exprs.push((&r.assert, format!("规则 {id} 的 assert")));
            exprs.extend(
                r.expected
                    .iter()
                    .map(|e| (e, format!("规则 {id} 的 expected"))),
            );
        }
        for r in &file.references {
            if let Some(m) = &r.must_cover {
                exprs.push((
                    m,
                    format!("[[references]] {} 的 must_cover", r.name.get_ref()),
                ));
            }
        }
        // `{history.name}` in a dropped_message reads the column as an expression would.
        let dropped: Vec<(Spanned<String>, String)> = file
            .references
            .iter()
            .filter_map(|r| {
                let m = r.dropped_message.as_ref()?;
                Some((
                    Spanned::new(0..0, m.clone()),
                    format!("[[references]] {} 的 dropped_message", r.name.get_ref()),
                ))
            })
            .collect();
        exprs.extend(dropped.iter().map(|(m, w)| (m, w.clone())));
        if let Some(c) = &file.consolidation {
            for o in &c.owed {
                exprs.push((
                    &o.when,
                    format!("[[consolidation.owed]]「{}」的 when", o.value.get_ref()),
                ));
                if let Some(a) = &o.amount {
                    exprs.push((
                        a,
                        format!("[[consolidation.owed]]「{}」的 amount", o.value.get_ref()),
                    ));
                }
            }
        }
        for (e, what) in exprs {
            for (k, reference) in references.iter_mut().enumerate() {
                for col in fields_of(e.get_ref(), &reference.name) {
                    let name = format!("{}.{col}", reference.name);
                    if ref_vars.iter().any(|v| v.name == name) {
                        continue;
                    }
                    let ty = ctx
                        .kinds
                        .get(&reference.kind)
                        .and_then(|(_, cols, _)| cols.iter().find(|(c, _)| *c == col))
                        .map(|(_, t)| *t);
                    match ty {
                        Some(ty) => {
                            reference.columns.push((col.clone(), ty));
                            ref_vars.push(RefVar {
                                reference: k,
                                what: RefWhat::Column(reference.columns.len() - 1),
                                name,
                            });
                        }
                        None => lint.at(
                            path,
                            src,
                            Some(e.span()),
                            format!(
                                "{what} 引用了「{}」中不存在的列「{col}」",
                                reference.kind_name
                            ),
                        ),
                    }
                }
            }
        }
    }
    // must_cover, over the referenced row's columns (now all known).
    for (decl, reference) in file.references.iter().zip(references.iter_mut()) {
        let Some(expr) = &decl.must_cover else {
            continue;
        };
        let what = format!("[[references]] {} 的 must_cover", reference.name);
        let message = decl.dropped_message.clone().unwrap_or_default();
        if message.trim().is_empty() {
            lint.at(
                path,
                src,
                Some(expr.span()),
                format!("{what} 需要 dropped_message（缺少的人员怎么说）"),
            );
            continue;
        }
        if let Some((program, native, native_calls)) =
            compile_over_row(expr, reference, &what, ctx, lint)
        {
            reference.must_cover = Some(MustCover {
                program: std::sync::Arc::new(program),
                native,
                native_calls,
                message,
            });
        }
    }
    let ref_names: Vec<String> = ref_vars.iter().map(|v| v.name.clone()).collect();
    // What messages may name besides the columns: the references' flags.
    let mut message_keys = keys.clone();
    message_keys.extend(ref_names.iter().filter(|n| !n.contains('.')).cloned());
    let mut rule_ids: HashMap<String, usize> = HashMap::new();
    let mut columns = Vec::new();
    for c in &file.columns {
        columns.push(compile_column(c, &file, &keys, ctx, lint));
    }
    // Built-in check params refer to other columns; resolve after all are known.
    let mut row_rules = Vec::new();
    // Native evaluation sees the references' values as columns after the kind's own.
    let native_names: Vec<String> = keys.iter().chain(&ref_names).cloned().collect();
    for r in &file.row_rules {
        let id = r.id.get_ref().clone();
        if rule_ids.insert(id.clone(), 0).is_some() {
            lint.at(path, src, Some(r.id.span()), format!("规则 id「{id}」重复"));
        }
        let cell = key_of(&r.cell, &format!("规则 {id} 的 cell "), lint);
        let else_cell = r
            .else_cell
            .as_ref()
            .map(|c| key_of(c, &format!("规则 {id} 的 else_cell "), lint));
        let mut reads = HashSet::new();
        let mut ref_reads = HashSet::new();
        let mut compile = |s: &Spanned<String>, what: &str, lint: &mut Lint| -> Option<Program> {
            match ctx.env.compile(s.get_ref()) {
                Ok(p) => {
                    let refs = p.references();
                    for reference in &references {
                        for col in fields_of(s.get_ref(), &reference.name) {
                            let name = format!("{}.{col}", reference.name);
                            if let Some(i) = ref_names.iter().position(|n| *n == name) {
                                ref_reads.insert(i);
                            }
                        }
                    }
                    for v in refs.variables() {
                        if let Some(i) = keys.iter().position(|k| k == v) {
                            reads.insert(i);
                        } else if let Some(i) = ref_names.iter().position(|n| n == v) {
                            ref_reads.insert(i);
                        } else if references.iter().any(|r| r.name == v) {
                            // `register.<column>`: its columns were found above.
                        } else if !GLOBALS.contains(&v) {
                            lint.at(
                                path,
                                src,
                                Some(s.span()),
                                format!("规则 {id} 的 {what} 引用了未知的列「{v}」"),
                            );
                        }
                    }
                    for f in refs.functions() {
                        let known = f.starts_with('_')
                            || f.starts_with('@')
                            || f.starts_with('!')
                            || FUNCTIONS.contains(&f)
                            || CEL_STDLIB.contains(&f);
                        if !known {
                            lint.at(
                                path,
                                src,
                                Some(s.span()),
                                format!("规则 {id} 的 {what} 调用了未知函数「{f}」"),
                            );
                        }
                    }
                    Some(p)
                }
                Err(e) => {
                    lint.at(
                        path,
                        src,
                        Some(s.span()),
                        format!(
                            "规则 {id} 的 {what} 无法编译：{}",
                            e.to_string().replace('\n', " ")
                        ),
                    );
                    None
                }
            }
        };
        let when = r.when.as_ref().map(|w| compile(w, "when", lint));
        let assert = compile(&r.assert, "assert", lint);
        let expected = r.expected.as_ref().map(|e| compile(e, "expected", lint));
        let error_when = r
            .error_when
            .as_ref()
            .map(|e| compile(e, "error_when", lint));
        check_placeholders(
            &r.message,
            &message_keys,
            path,
            src,
            Some(r.assert.span()),
            &id,
            lint,
        );
        if let (
            Some(cell),
            Some(else_cell),
            Some(assert),
            Some(when),
            Some(expected),
            Some(error_when),
        ) = (
            cell,
            else_cell.map_or(Some(None), |c| c.map(Some)),
            assert,
            when.map_or(Some(None), |w| w.map(Some)),
            expected.map_or(Some(None), |e| e.map(Some)),
            error_when.map_or(Some(None), |e| e.map(Some)),
        ) {
            let mut reads: Vec<usize> = reads.into_iter().collect();
            reads.sort_unstable();
            let mut ref_reads: Vec<usize> = ref_reads.into_iter().collect();
            ref_reads.sort_unstable();
            let names = native::Names {
                columns: &native_names,
                standards: &ctx.county.standards,
                county: &ctx.county.name,
            };
            let compile_native = |e: &Spanned<String>| native::compile(e.get_ref(), &names);
            let native = (|| {
                Some(NativeRule {
                    when: match &r.when {
                        Some(w) => Some(compile_native(w)?),
                        None => None,
                    },
                    assert: compile_native(&r.assert)?,
                    expected: match &r.expected {
                        Some(e) => Some(compile_native(e)?),
                        None => None,
                    },
                })
            })();
            if let Some(n) = &native {
                for problem in enum_literal_problems(n, &columns) {
                    lint.at(
                        path,
                        src,
                        Some(r.assert.span()),
                        format!("规则 {id}：{problem}"),
                    );
                }
            }
            row_rules.push(RowRule {
                id,
                when,
                assert,
                expected,
                cell,
                else_cell,
                severity: r.severity,
                error_when,
                message: r.message.clone(),
                reads,
                ref_reads,
                native,
            });
        }
    }
    let mut sheet_rules = Vec::new();
    for s in &file.sheet_rules {
        let id = s.id.get_ref().clone();
        if rule_ids.insert(id.clone(), 0).is_some() {
            lint.at(path, src, Some(s.id.span()), format!("规则 id「{id}」重复"));
        }
        if s.check.get_ref() != "crosstab_count" {
            lint.at(
                path,
                src,
                Some(s.check.span()),
                format!(
                    "未知的表级检查「{}」（可用：crosstab_count）",
                    s.check.get_ref()
                ),
            );
        }
        check_placeholders(&s.message, &keys, path, src, Some(s.id.span()), &id, lint);
        if let Some(m) = &s.left_out_message {
            check_placeholders(m, &keys, path, src, Some(s.id.span()), &id, lint);
        }
        let rows = key_of(&s.rows, &format!("规则 {id} 的 rows "), lint);
        let cols = key_of(&s.columns, &format!("规则 {id} 的 columns "), lint);
        let count_only = s.count_only.as_ref().and_then(|c| {
            key_of(&c.column, &format!("规则 {id} 的 count_only "), lint)
                .map(|i| (i, c.values.clone()))
        });
        if let (Some(rows), Some(cols)) = (rows, cols) {
            sheet_rules.push(SheetRule {
                id,
                sheet: s.sheet.clone(),
                corner: s.corner.clone(),
                rows,
                cols,
                total: s.total.clone(),
                required: s.required,
                severity: s.severity,
                message: s.message.clone(),
                missing_message: s.missing_message.clone(),
                sheet_aliases: s.sheet_aliases.clone(),
                corner_aliases: s.corner_aliases.clone(),
                left_out_message: s.left_out_message.clone(),
                count_only,
            });
        }
    }
    for (name, text) in &file.messages {
        let line_of = src
            .find(&format!("\"{name}\""))
            .or_else(|| src.find(&format!("\n{name} ")));
        let span = line_of.map(|p| p + 1..p + 1);
        check_placeholders(
            text,
            &keys,
            path,
            src,
            span.clone(),
            &format!("[messages] {name}"),
            lint,
        );
        if !message_key_known(name) {
            lint.at(
                path,
                src,
                span,
                format!("[messages] 中的「{name}」不对应任何检查（拼写错误？）"),
            );
        }
    }
    let consolidation = file.consolidation.as_ref().and_then(|c| {
        let stats = match (&c.stats_rows, &c.stats_cols) {
            (Some(r), Some(k)) => Some((
                key_of(r, "[consolidation] stats_rows ", lint),
                key_of(k, "[consolidation] stats_cols ", lint),
            )),
            (None, None) => None,
            _ => {
                lint.at(
                    path,
                    src,
                    Some(c.person_key.span()),
                    "[consolidation] 的 stats_rows 和 stats_cols 要么都写，要么都不写".into(),
                );
                None
            }
        };
        let amounts: Vec<usize> = c
            .amounts
            .iter()
            .filter_map(|a| key_of(a, "[consolidation] amounts ", lint))
            .collect();
        let split = match (&c.split_by, &c.split_amount) {
            (Some(b), Some(a)) => Some((
                key_of(b, "[consolidation] split_by ", lint),
                key_of(a, "[consolidation] split_amount ", lint),
            )),
            (None, None) => None,
            (Some(b), None) | (None, Some(b)) => {
                lint.at(
                    path,
                    src,
                    Some(b.span()),
                    "[consolidation] 的 split_by 和 split_amount 要么都写，要么都不写".into(),
                );
                None
            }
        };
        let person_key = key_of(&c.person_key, "[consolidation] person_key ", lint);
        let duplicate_with: Vec<usize> = c
            .duplicate_with
            .iter()
            .filter_map(|a| key_of(a, "[consolidation] duplicate_with ", lint))
            .collect();
        let person_name = c
            .person_name
            .as_ref()
            .map(|n| key_of(n, "[consolidation] person_name ", lint));
        let mut owed = Vec::new();
        for o in &c.owed {
            let what = format!("[[consolidation.owed]]「{}」", o.value.get_ref());
            if split.is_none() {
                lint.at(
                    path,
                    src,
                    Some(o.value.span()),
                    format!("{what} 需要 [consolidation] split_by"),
                );
                continue;
            }
            let Some(reference) = references
                .iter()
                .position(|r| !fields_of(o.when.get_ref(), &r.name).is_empty())
            else {
                lint.at(
                    path,
                    src,
                    Some(o.when.span()),
                    format!("{what} 的 when 应写在所引用台账的列上（如 register.level）"),
                );
                continue;
            };
            let r = &references[reference];
            let mut compile_on_row = |e: &Spanned<String>, part: &str| {
                compile_over_row(e, r, &format!("{what} 的 {part}"), ctx, lint)
            };
            let amount = match &o.amount {
                Some(a) => match compile_on_row(a, "amount") {
                    Some((program, native, native_calls)) => Some(OwedAmount {
                        program,
                        native,
                        native_calls,
                    }),
                    None => continue,
                },
                None => None,
            };
            if let Some((when, native, native_calls)) = compile_on_row(&o.when, "when") {
                owed.push(Owed {
                    value: o.value.get_ref().clone(),
                    reference,
                    when,
                    native,
                    native_calls,
                    amount,
                });
            }
        }
        let changes = c.changes.as_ref().and_then(|ch| {
            let what = "[consolidation.changes]";
            let reference = references.iter().position(|r| {
                r.name == *ch.reference.get_ref()
                    && r.kind == *file.kind.id.get_ref()
                    && r.ledger == RefLedgerShape::Previous
            });
            if reference.is_none() {
                lint.at(
                    path,
                    src,
                    Some(ch.reference.span()),
                    format!(
                        "{what} 的 reference「{}」应是本台账 ledger = \"previous\" 的 [[references]]",
                        ch.reference.get_ref()
                    ),
                );
            }
            let status = key_of(&ch.status, &format!("{what} status "), lint);
            let date = ch
                .date
                .as_ref()
                .map(|d| key_of(d, &format!("{what} date "), lint));
            let columns: Vec<Option<usize>> = ch
                .columns
                .iter()
                .map(|k| key_of(k, &format!("{what} columns "), lint))
                .collect();
            Some(Changes {
                sheet: ch.sheet.clone().unwrap_or_else(|| "本期变动".into()),
                reference: reference?,
                status: status?,
                on_register: ch.on_register.clone(),
                date: date.flatten(),
                columns: columns.into_iter().collect::<Option<Vec<_>>>()?,
            })
        });
        let split = match split {
            Some((Some(by), Some(amount))) => Some(Split {
                by,
                amount,
                sheet: c.split_sheet.clone().unwrap_or_else(|| "分乡镇统计".into()),
            }),
            Some(_) => return None,
            None => None,
        };
        let stats = match stats {
            Some((Some(r), Some(k))) => Some((r, k)),
            Some(_) => return None,
            None => None,
        };
        Some(Consolidation {
            detail_sheet: c.detail_sheet.clone().unwrap_or_else(|| "全县明细".into()),
            stats,
            amounts,
            split,
            person_key: person_key?,
            duplicate_with,
            duplicates_sheet: c
                .duplicates_sheet
                .clone()
                .unwrap_or_else(|| "跨乡镇重复".into()),
            person_name: person_name.flatten(),
            owed,
            owed_sheet: c.owed_sheet.clone().unwrap_or_else(|| "应发未发".into()),
            changes,
            count_only: c.count_only.as_ref().and_then(|o| {
                key_of(&o.column, "[consolidation] count_only ", lint).map(|i| (i, o.values.clone()))
            }),
            hits: match &c.hits {
                Some(h) => {
                    let columns: Vec<Option<usize>> = h
                        .columns
                        .iter()
                        .map(|k| key_of(k, "[consolidation.hits] columns ", lint))
                        .collect();
                    let amount = key_of(&h.amount, "[consolidation.hits] amount ", lint);
                    Some(crate::rules::Hits {
                        sheet: h.sheet.clone().unwrap_or_else(|| "比对疑点".into()),
                        rules: h.rules.clone(),
                        columns: columns.into_iter().collect::<Option<Vec<_>>>()?,
                        amount: amount?,
                    })
                }
                None => None,
            },
        })
    });
    for r in &references {
        let mut allowed = message_keys.clone();
        allowed.push("kind".into());
        allowed.push("ref_period".into());
        check_placeholders(
            &r.missing_message,
            &allowed,
            path,
            src,
            None,
            &format!("[[references]] {} 的 missing_message", r.name),
            lint,
        );
        check_placeholders(
            &r.older_message,
            &allowed,
            path,
            src,
            None,
            &format!("[[references]] {} 的 older_message", r.name),
            lint,
        );
        if let Some(m) = &r.must_cover {
            allowed.extend(r.columns.iter().map(|(c, _)| format!("{}.{c}", r.name)));
            check_placeholders(
                &m.message,
                &allowed,
                path,
                src,
                None,
                &format!("[[references]] {} 的 dropped_message", r.name),
                lint,
            );
        }
    }
    let native_calls = {
        let mut exprs: Vec<&mut native::Expr> = row_rules
            .iter_mut()
            .filter_map(|r| r.native.as_mut())
            .flat_map(|n| {
                n.when
                    .iter_mut()
                    .chain(std::iter::once(&mut n.assert))
                    .chain(n.expected.iter_mut())
            })
            .collect();
        native::number_calls(&mut exprs)
    };
    let kind = Kind {
        id: file.kind.id.get_ref().clone(),
        name: file.kind.name.clone(),
        sheet: file.kind.sheet.clone(),
        recognise_by,
        header_scan_rows: file.kind.header_scan_rows.clamp(1, 200),
        template_columns,
        unit_label: file.kind.unit_label.clone(),
        date_label: file.kind.date_label.clone(),
        scope: file.kind.scope,
        columns,
        row_rules,
        native_calls,
        sheet_rules,
        messages: file.messages.clone(),
        file_severity: file.file_severity.clone(),
        consolidation,
        references,
        ref_vars,
        total_words: words(&file.not_persons.totals),
        footer_words: words(&file.not_persons.footers),
        source: path.to_path_buf(),
    };
    if lint.issues.len() == before {
        dry_run(&kind, ctx, lint);
    }
    (lint.issues.len() == before).then_some(kind)
}

/// The `[[references]]` of a kind, checked, with no columns yet (the expressions
/// that read them add theirs), and the variables every reference has.
fn compile_references(
    file: &schema::KindFile,
    keys: &[String],
    ctx: &KindCtx<'_>,
    lint: &mut Lint,
) -> (Vec<Reference>, Vec<RefVar>) {
    let (path, src) = (ctx.path, ctx.src);
    let mut out = Vec::new();
    let mut vars = Vec::new();
    for r in &file.references {
        let name = r.name.get_ref();
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let taken = keys.iter().any(|k| k == name)
            || GLOBALS.contains(&name.as_str())
            || FUNCTIONS.contains(&name.as_str())
            || out.iter().any(|o: &Reference| o.name == *name);
        if !ident || taken {
            lint.at(
                path,
                src,
                Some(r.name.span()),
                format!(
                    "[[references]] 的 name「{name}」应是英文标识符，且不能与列 key、保留名称或另一个引用相同"
                ),
            );
            continue;
        }
        let shape = match r.ledger.get_ref().as_str() {
            "latest_accepted" => RefLedgerShape::LatestAccepted,
            "previous" => RefLedgerShape::Previous,
            "every_up_to" => RefLedgerShape::EveryUpTo,
            other => {
                lint.at(
                    path,
                    src,
                    Some(r.ledger.span()),
                    format!("[[references]] 的 ledger「{other}」未知（可用：latest_accepted、previous、every_up_to）"),
                );
                continue;
            }
        };
        let kind_id = r.kind.get_ref();
        // A ledger of the file's own kind only as the previous one (never itself).
        if file.kind.scope == crate::rules::Scope::County {
            lint.at(
                path,
                src,
                Some(r.name.span()),
                format!("[[references]] {name}：县级名单（scope = \"county\"）只核对自身各行，不引用其他台账"),
            );
            continue;
        }
        let Some((kind_name, cols, scope)) = ctx
            .kinds
            .get(kind_id)
            .filter(|_| kind_id != file.kind.id.get_ref() || shape == RefLedgerShape::Previous)
        else {
            lint.at(
                path,
                src,
                Some(r.kind.span()),
                format!("[[references]] {name} 引用了未知的台账类型「{kind_id}」"),
            );
            continue;
        };
        let Some(key) = keys.iter().position(|k| k == r.key.get_ref()) else {
            lint.at(
                path,
                src,
                Some(r.key.span()),
                format!(
                    "[[references]] {name} 的 key 引用了未知的列「{}」",
                    r.key.get_ref()
                ),
            );
            continue;
        };
        if !cols.iter().any(|(c, _)| c == r.on.get_ref()) {
            lint.at(
                path,
                src,
                Some(r.on.span()),
                format!(
                    "[[references]] {name} 的 on「{}」不是「{kind_name}」的列",
                    r.on.get_ref()
                ),
            );
            continue;
        }
        for (suffix, what) in RefWhat::FLAGS {
            vars.push(RefVar {
                reference: out.len(),
                what,
                name: format!("{name}_{suffix}"),
            });
        }
        out.push(Reference {
            name: name.clone(),
            kind: kind_id.clone(),
            kind_name: kind_name.clone(),
            key,
            on: r.on.get_ref().clone(),
            columns: Vec::new(),
            ledger: shape,
            county: *scope == crate::rules::Scope::County,
            missing_message: r.missing_message.clone().unwrap_or_default(),
            older_message: r.older_message.clone().unwrap_or_default(),
            must_cover: None,
        });
    }
    (out, vars)
}

/// An expression over one row of a referenced ledger (an `owed` rule's `when`
/// and `amount`, a reference's `must_cover`): compiled for `cel`, and natively
/// where it can be; it may read only `<reference>.<column>` and the globals.
fn compile_over_row(
    e: &Spanned<String>,
    r: &Reference,
    what: &str,
    ctx: &KindCtx<'_>,
    lint: &mut Lint,
) -> Option<(Program, Option<native::Expr>, usize)> {
    let (path, src) = (ctx.path, ctx.src);
    match ctx.env.compile(e.get_ref()) {
        Ok(p) => {
            for v in p.references().variables() {
                if v != r.name && !GLOBALS.contains(&v) {
                    lint.at(
                        path,
                        src,
                        Some(e.span()),
                        format!(
                            "{what} 只能用「{}.列名」、standards、period_end 等，不能用「{v}」",
                            r.name
                        ),
                    );
                }
            }
            let names: Vec<String> = r
                .columns
                .iter()
                .map(|(k, _)| format!("{}.{k}", r.name))
                .collect();
            let mut native = native::compile(
                e.get_ref(),
                &native::Names {
                    columns: &names,
                    standards: &ctx.county.standards,
                    county: &ctx.county.name,
                },
            );
            let calls = native
                .as_mut()
                .map_or(0, |x| native::number_calls(&mut [x]));
            Some((p, native, calls))
        }
        Err(err) => {
            lint.at(
                path,
                src,
                Some(e.span()),
                format!("{what} 无法编译：{}", err.to_string().replace('\n', " ")),
            );
            None
        }
    }
}

/// The fields an expression reads of `name` (`register.level` → `level`),
/// outside string literals.
pub(super) fn fields_of(expr: &str, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let b = expr.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        let boundary =
            i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.');
        // Byte-wise, on bytes only (text outside quotes may be anything, Chinese too).
        if boundary && b[i..].starts_with(name.as_bytes()) && b.get(i + name.len()) == Some(&b'.') {
            let field: String = b[i + name.len() + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .map(|c| char::from(*c))
                .collect();
            if !field.is_empty() && !out.contains(&field) {
                out.push(field.clone());
            }
            i += name.len() + 1 + field.len();
            continue;
        }
        i += 1;
    }
    out
}

/// Words as rows are matched against them: [`header_key`]s, empty ones dropped.
fn words(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|w| header_key(w))
        .filter(|w| !w.is_empty())
        .collect()
}

pub(super) fn compile_column(
    c: &schema::ColumnDecl,
    file: &schema::KindFile,
    keys: &[String],
    ctx: &KindCtx<'_>,
    lint: &mut Lint,
) -> Column {
    let (path, src) = (ctx.path, ctx.src);
    let key = c.key.get_ref().clone();
    // Every column: text past Excel's cell limit cannot be kept, so it is an error.
    let mut used: Vec<String> = vec!["too_long".into()];
    if c.required {
        used.push("required".into());
    }
    match c.ty {
        ColumnType::Integer => used.push("type_integer".into()),
        ColumnType::Money => used.push("type_money".into()),
        ColumnType::Date => used.push("type_date".into()),
        ColumnType::Month => used.push("type_month".into()),
        ColumnType::Enum => {
            used.push("enum".into());
            used.push("enum_alias".into());
            if c.values.is_empty() {
                lint.at(
                    path,
                    src,
                    Some(c.key.span()),
                    format!("枚举列「{key}」没有列出 values"),
                );
            }
        }
        ColumnType::Text => {}
    }
    let regex = c
        .regex
        .as_ref()
        .and_then(|r| match Regex::new(r.get_ref()) {
            Ok(re) => Some(re),
            Err(e) => {
                lint.at(
                    path,
                    src,
                    Some(r.span()),
                    format!("列「{key}」的正则表达式无效：{}", regex_message_zh(&e)),
                );
                None
            }
        });
    if c.regex.is_some() {
        used.push("regex".into());
    }
    if c.min.is_some() {
        used.push("min".into());
    }
    if c.max.is_some() {
        used.push("max".into());
    }
    if c.length.is_some() {
        used.push("length".into());
    }
    match c.unique {
        Some(UniqueScope::File) => used.push("unique_file".into()),
        Some(UniqueScope::County) => {
            used.push("unique_file".into());
            used.push("unique_county".into());
        }
        None => {}
    }
    let mut unique_with = Vec::new();
    for other in &c.unique_with {
        match keys.iter().position(|k| k == other.get_ref()) {
            Some(j) => unique_with.push(j),
            None => lint.at(
                path,
                src,
                Some(other.span()),
                format!(
                    "列「{key}」的 unique_with 引用了不存在的列「{}」",
                    other.get_ref()
                ),
            ),
        }
    }
    if !c.unique_with.is_empty() {
        used.push("unique_with".into());
    }
    let lookup = c.lookup.as_ref().and_then(|l| {
        used.push("lookup".into());
        let Some(t) = ctx.tables.get(l.table.get_ref()) else {
            lint.at(
                path,
                src,
                Some(l.table.span()),
                format!("列「{key}」引用了未声明的参照表「{}」", l.table.get_ref()),
            );
            return None;
        };
        let Some(vc) = t.column(l.column.get_ref()) else {
            lint.at(
                path,
                src,
                Some(l.column.span()),
                format!(
                    "参照表「{}」没有列「{}」",
                    l.table.get_ref(),
                    l.column.get_ref()
                ),
            );
            return None;
        };
        let sc = match &l.scope {
            Some(s) => match t.column(s.get_ref()) {
                Some(i) => Some(i),
                None => {
                    lint.at(
                        path,
                        src,
                        Some(s.span()),
                        format!("参照表「{}」没有列「{}」", l.table.get_ref(), s.get_ref()),
                    );
                    return None;
                }
            },
            None => None,
        };
        let mut by_scope: rustc_hash::FxHashMap<String, rustc_hash::FxHashSet<String>> =
            Default::default();
        let mut values = rustc_hash::FxHashSet::default();
        for r in &t.rows {
            let v = r.get(vc).cloned().unwrap_or_default();
            let s = sc.and_then(|i| r.get(i).cloned()).unwrap_or_default();
            values.insert(v.clone());
            by_scope.entry(s).or_default().insert(v);
        }
        Some(Lookup {
            table: l.table.get_ref().clone(),
            by_scope,
            values,
            scoped: sc.is_some(),
        })
    });
    let mut checks = Vec::new();
    for d in &c.checks {
        let Some(check) = checks::find(d.check.get_ref()) else {
            let names: Vec<_> = checks::registry().iter().map(|c| c.name()).collect();
            lint.at(
                path,
                src,
                Some(d.check.span()),
                format!(
                    "未知的内置检查「{}」（可用：{}）",
                    d.check.get_ref(),
                    names.join("、")
                ),
            );
            continue;
        };
        let mut params = Vec::new();
        for p in check.params() {
            match d.params.get(*p) {
                Some(col) => match keys.iter().position(|k| k == col.get_ref()) {
                    Some(i) => params.push(i),
                    None => lint.at(
                        path,
                        src,
                        Some(col.span()),
                        format!(
                            "检查 {} 的参数 {p} 引用了未知的列「{}」",
                            check.name(),
                            col.get_ref()
                        ),
                    ),
                },
                None => lint.at(
                    path,
                    src,
                    Some(d.check.span()),
                    format!("检查 {} 缺少参数「{p}」", check.name()),
                ),
            }
        }
        for p in d.params.keys() {
            if !check.params().contains(&p.as_str()) {
                lint.at(
                    path,
                    src,
                    Some(d.check.span()),
                    format!("检查 {} 没有参数「{p}」", check.name()),
                );
            }
        }
        let mut outcomes = HashMap::new();
        for o in check.outcomes() {
            let name = format!("{}.{}", check.name(), o);
            if let Some(m) = meta(&key, &name, c, file) {
                outcomes.insert(*o, m);
            } else {
                lint.at(path, src, Some(d.check.span()), format!("列「{key}」的检查 {} 缺少结果「{o}」的提示语（[messages] 中的 \"{name}\"）", check.name()));
            }
        }
        checks.push(ColumnCheck {
            check,
            params,
            outcomes,
        });
    }
    let mut constraints = HashMap::new();
    for u in &used {
        match meta(&key, u, c, file) {
            Some(m) => {
                constraints.insert(u.clone(), m);
            }
            None => lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列「{key}」使用了「{u}」，但 [messages] 中没有对应的提示语"),
            ),
        }
    }
    for s in c.severity.keys().chain(c.messages.keys()) {
        let known = used.contains(s)
            || c.checks
                .iter()
                .any(|d| s.starts_with(&format!("{}.", d.check.get_ref())));
        if !known {
            lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列「{key}」为「{s}」设置了提示语或级别，但该列没有这项检查"),
            );
        }
    }
    let mut value_aliases = rustc_hash::FxHashMap::default();
    if c.ty == ColumnType::Enum {
        for (i, v) in c.values.iter().enumerate() {
            value_aliases.insert(header_key(v), i);
        }
    }
    for (alias, standard) in &c.value_aliases {
        match c.values.iter().position(|v| v == standard) {
            Some(i) if c.ty == ColumnType::Enum => {
                value_aliases.insert(header_key(alias), i);
            }
            _ => lint.at(
                path,
                src,
                Some(c.key.span()),
                format!("列「{key}」的 value_aliases 把「{alias}」写作「{standard}」，但「{standard}」不在该列的 values 中"),
            ),
        }
    }
    Column {
        key,
        header: c.header.clone(),
        value_aliases,
        aliases: c.aliases.clone(),
        ty: c.ty,
        required: c.required,
        uppercase: c.uppercase,
        values: c.values.clone(),
        blank_means: c.blank_means.clone(),
        regex,
        min: c.min,
        max: c.max,
        length: c.length,
        unique: c.unique,
        unique_with,
        lookup,
        checks,
        constraints,
    }
}

pub(super) fn meta(
    key: &str,
    constraint: &str,
    c: &schema::ColumnDecl,
    file: &schema::KindFile,
) -> Option<RuleMeta> {
    let message = c
        .messages
        .get(constraint)
        .or_else(|| file.messages.get(constraint))?
        .clone();
    Some(RuleMeta {
        id: format!("{key}.{constraint}"),
        // A value read through an alias is right, only not written the standard way.
        severity: c
            .severity
            .get(constraint)
            .copied()
            .unwrap_or(if constraint == "enum_alias" {
                Severity::Warning
            } else {
                Severity::Error
            }),
        message,
    })
}

/// The expressions directly under `e`.
fn children(e: &native::Expr) -> Vec<&native::Expr> {
    use native::Expr as X;
    match e {
        X::Const(_) | X::Col(_) | X::Global(_) | X::ColCmp(..) | X::ColIn(..) => Vec::new(),
        X::Not(a) | X::Neg(a) => vec![a],
        X::And(a, b)
        | X::Or(a, b)
        | X::Cmp(_, a, b)
        | X::Arith(_, a, b)
        | X::In(a, b)
        | X::Index(a, b) => {
            vec![a, b]
        }
        X::Cond(a, b, c) => vec![a, b, c],
        X::List(v) | X::Call(_, v, _) => v.iter().collect(),
    }
}

/// The values of enum column `col` that `when` lets through, when it says
/// (`level in ['一级', '二级']`, `level == '三级'`, joined by `&&` and `||`).
fn let_through(e: &native::Expr, col: usize) -> Option<std::collections::BTreeSet<String>> {
    use native::{Cmp, Const, Expr as X};
    let text = |c: &Const| match c {
        Const::Str(s) => Some(s.to_string()),
        _ => None,
    };
    match e {
        X::ColIn(c, vs) if *c == col => vs.iter().map(text).collect(),
        X::ColCmp(Cmp::Eq, c, v) if *c == col => text(v).map(|s| std::iter::once(s).collect()),
        X::And(a, b) => match (let_through(a, col), let_through(b, col)) {
            (Some(x), Some(y)) => Some(x.intersection(&y).cloned().collect()),
            (x, y) => x.or(y),
        },
        X::Or(a, b) => {
            let (x, y) = (let_through(a, col)?, let_through(b, col)?);
            Some(x.union(&y).cloned().collect())
        }
        _ => None,
    }
}

/// What `check-rules` says of a rule's literals: a text an enum column is
/// compared with must be one of its values or aliases (a misspelt value never
/// matches, and the rule quietly never fires), and a standards table a rule
/// looks up by an enum column must have every value the rule's `when` lets
/// through (else the township gets a row the county's rules cannot check).
fn enum_literal_problems(n: &NativeRule, columns: &[Column]) -> Vec<String> {
    use native::{Cmp, Const, Expr as X};
    let mut out = Vec::new();
    let enum_col = |i: usize| columns.get(i).filter(|c| c.ty == ColumnType::Enum);
    // `''` is a blank cell, always a value a column may have.
    let known = |c: &Column, s: &str| {
        s.is_empty()
            || c.values.iter().any(|v| v == s)
            || c.value_aliases
                .contains_key(&crate::workbook::value::header_key(s))
    };
    let exprs: Vec<&native::Expr> = n
        .when
        .iter()
        .chain(std::iter::once(&n.assert))
        .chain(n.expected.iter())
        .collect();
    let mut stack = exprs.clone();
    while let Some(e) = stack.pop() {
        let literals: Vec<(usize, &Const)> = match e {
            X::ColCmp(Cmp::Eq | Cmp::Ne, c, v) => vec![(*c, v)],
            X::ColIn(c, vs) => vs.iter().map(|v| (*c, v)).collect(),
            _ => Vec::new(),
        };
        for (c, v) in literals {
            if let (Some(col), Const::Str(s)) = (enum_col(c), v) {
                if !known(col, s) {
                    out.push(format!(
                        "「{}」的取值中没有「{s}」（可选：{}），这一比较永远不成立",
                        col.header,
                        col.values.join("、")
                    ));
                }
            }
        }
        if let X::Index(table, key) = e {
            if let (X::Const(Const::Map(m)), X::Col(c)) = (table.as_ref(), key.as_ref()) {
                if let Some(col) = enum_col(*c) {
                    let through = n.when.as_ref().and_then(|w| let_through(w, *c));
                    let values: Vec<String> = match through {
                        Some(set) => set.into_iter().collect(),
                        None => col.values.clone(),
                    };
                    let missing: Vec<&String> =
                        values.iter().filter(|v| !m.contains_key(*v)).collect();
                    if !missing.is_empty() {
                        let missing: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                        out.push(format!(
                            "按「{}」查 standards 时，{} 没有对应的标准（请在 county.toml 的 [standards] 中补上，或在 when 中排除）",
                            col.header,
                            missing.join("、")
                        ));
                    }
                }
            }
        }
        stack.extend(children(e));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_of_a_reference_outside_strings() {
        let f = |e: &str| super::fields_of(e, "register");
        assert_eq!(
            f("register.level in ['一级'] || (register.level == '三级' && register.category != 'register.x')"),
            ["level", "category"]
        );
        assert_eq!(
            f("my_register.level == 1 && x.register.y"),
            Vec::<String>::new()
        );
        assert_eq!(
            f("register_found && register.low_income == \"是\""),
            ["low_income"]
        );
        assert_eq!(f("register.cert_number.size()"), ["cert_number"]);
        // Text outside quotes (a message, a slip in a rule) may be Chinese.
        assert_eq!(f("上期「{register.name}」（{value}）"), ["name"]);
    }
}
