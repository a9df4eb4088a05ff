//! The status page's pages, rendered with `maud` (every `(value)` is escaped).

use super::WebConfig;
use crate::journal::{Journal, Result};
use crate::rules::{RuleSet, Severity};
use crate::standing;
use crate::text::{local_time, mask_personal};
use maud::{html, Markup, DOCTYPE};

/// A whole page: the navigation (with the logout button when there is a
/// session, whose CSRF token is `csrf`), `body`, the change mark the script polls.
fn page(title: &str, mark: &str, csrf: Option<&str>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — 台账系统" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body data-mark=(mark) {
                nav {
                    a href="/" { "报送情况" }
                    a href="/quarantine" { "隔离文件" }
                    a href="/mail" { "邮件" }
                    @if let Some(csrf) = csrf {
                        a href="/search" { "查找人员" }
                        a href="/access" { "访问记录" }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "退出登录" }
                        }
                    }
                    span.live id="live" {}
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The login form: the password (shared use) or the access token the daemon
/// printed when it started (also shown by `taizhang status`).
pub(super) fn login(why: Option<&str>, password: bool) -> String {
    page(
        "登录",
        "",
        None,
        html! {
            h1 { "台账系统登录" }
            @match why {
                Some("wrong") => p.error { "密码或访问令牌不正确，请重试。" },
                Some("expired") => p.notice { "长时间未操作，已自动退出，请重新登录。" },
                Some("logout") => p.notice { "已退出登录。" },
                _ => {},
            }
            p {
                "请打开台账系统启动时显示的网址（含访问令牌，也可运行 "
                code { "taizhang status" } " 查看）"
                @if password { "，或输入登录密码" }
                "。"
            }
            form method="post" action="/login" {
                label { (if password { "密码或访问令牌 " } else { "访问令牌 " })
                    input type="password" name="password" autofocus; }
                " "
                button type="submit" { "登录" }
            }
        },
    )
}

/// `/`: for the chosen period, every kind's 13 units; the county workbooks.
pub(super) fn index(
    rules: &RuleSet,
    journal: &Journal,
    cfg: &WebConfig,
    period: Option<&str>,
    mark: &str,
    csrf: &str,
) -> Result<String> {
    let known = journal.kind_periods()?;
    let mut periods: Vec<String> = known.iter().map(|(_, p)| p.clone()).collect();
    let today = crate::clock::now().date_naive();
    let due = standing::period_due(today);
    // The period shown first: the one due now (by the deadline rule: on
    // 3 December, November's), whatever came in; the others one click away.
    periods.push(due.clone());
    periods.sort();
    periods.dedup();
    periods.reverse();
    let chosen = period.map(str::to_string).unwrap_or(due);
    let deadline = rules
        .county
        .deadlines
        .as_ref()
        .and_then(|d| standing::deadline(&chosen, d.day));
    let days_left = deadline.map(|d| (d - today).num_days());
    let mut kinds = Vec::new();
    for k in rules.kinds_referenced_first() {
        kinds.push((k, standing::of(rules, journal, &k.id, &chosen)?));
    }
    let held = journal.held_reminders()?;
    // Each shown submission's hits against the county's lists (比对疑点).
    let mut hits: std::collections::HashMap<i64, usize> = Default::default();
    for (k, st) in &kinds {
        let Some(h) = k.consolidation.as_ref().and_then(|c| c.hits.as_ref()) else {
            continue;
        };
        for s in st.units.iter().filter_map(|u| u.shown()) {
            hits.insert(s.id, journal.hit_rows(s.id, &h.rules)?.len());
        }
    }
    // The county's lists on file (newest first), by kind.
    let mut lists = Vec::new();
    for k in rules.county_kinds() {
        lists.push((
            k,
            journal.unit_submissions(crate::rules::COUNTY_LISTS, &k.id)?,
        ));
    }
    let body = html! {
        h1 { (rules.county.name) " 台账报送情况" }
        @if let Some(h) = &held {
            section.held {
                h2 { "截止日期设置已修改：以下催报将于 " (h.send_at) " 发出" }
                p {
                    (h.period) " 期报送截止日现为 " (h.deadline) "。按新的设置，今天要向 "
                    strong { (h.units.len()) } " 个单位发送催报"
                    @if h.overdue_list { "，并向管理员发送逾期名单" }
                    "。如非本意，请在此之前改回 county.toml 的 [deadlines]，这些催报就不会发出。"
                }
                ul {
                    @for (unit, kinds) in &h.units {
                        li { (unit) "：" (kinds.join("、")) }
                    }
                }
            }
        }
        form.period method="get" action="/" {
            label { "期间 "
                select name="period" {
                    @for p in &periods {
                        option value=(p) selected[*p == chosen] { (p) }
                    }
                }
            }
            " " button type="submit" { "查看" }
        }
        @if let (Some(d), Some(left)) = (deadline, days_left) {
            p.deadline {
                (chosen) " 期报送截止日：" (d.format("%Y-%m-%d").to_string()) "　"
                @if left > 0 { "还剩 " strong { (left) } " 天" }
                @else if left == 0 { strong { "今天截止" } }
                @else { strong.late { "已逾期 " (-left) " 天" } }
            }
        }
        @for (k, st) in &kinds {
            @let done = st.units.iter().filter(|u| u.state() == standing::UnitState::Accepted).count();
            section.kind {
                h2 { (k.name) " " span.count { (done) "/" (st.units.len()) " 个单位已通过" } }
                table.units {
                    thead { tr {
                        th { "单位" } th { "状态" } th { "文件" } th { "收到时间" }
                        th { "数据行" } th { "错误" } th { "提醒" } th { "计入汇总" } th { "说明" }
                    } }
                    tbody {
                        // Units still to report first (in the county's order), then
                        // the accepted ones.
                        @for u in st.units.iter().filter(|u| u.counting.is_none()).chain(st.units.iter().filter(|u| u.counting.is_some())) {
                            @let status = u.status_zh();
                            @let late = days_left.is_some_and(|l| l < 0) && status != "已通过";
                            @let class = match (status, late) {
                                ("已通过", _) => "accepted",
                                (_, true) => "late",
                                ("已退回", _) => "rejected",
                                _ => "missing",
                            };
                            tr class=(class) data-unit=(u.unit.name) {
                                td { (u.unit.name) }
                                td.status { (status) @if late { "（逾期）" } }
                                @if let Some(s) = u.shown() {
                                    td { a href={ "/submission/" (s.id) } { (s.original_name) } }
                                    td { (local_time(&s.received_at)) }
                                    td.num { (s.rows) } td.num { (s.errors) } td.num { (s.warnings) }
                                    td { (if u.counting.is_some() { "本报送" } else { "无" }) }
                                    td {
                                        @if let Some(l) = u.later_rejected() {
                                            span.later {
                                                "较晚收到的 " a href={ "/submission/" (l.id) } { "「" (l.original_name) "」" }
                                                " 已退回："
                                                @if let Some(reason) = &l.reason { (mask_personal(reason)) }
                                                @else { "有 " (l.errors) " 处错误" }
                                                "；汇总仍用本报送 "
                                            }
                                        }
                                        @if let Some(reason) = &s.reason { (mask_personal(reason)) " " }
                                        @else if s.outcome == Some(crate::journal::Outcome::Rejected) {
                                            "有 " (s.errors) " 处错误，已退回乡镇更正 "
                                        }
                                        @if let Some(n) = hits.get(&s.id).filter(|n| **n > 0) {
                                            strong.hits { "比对疑点 " (n) " 行 " }
                                        }
                                        @for r in crate::validate::ReferenceUsed::said_all(s.references()) { (r) " " }
                                    }
                                } @else {
                                    td {} td {} td {} td {} td {} td { "无" } td { (chosen) " 期尚未收到报送" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !lists.is_empty() {
            section.lists {
                h2 { "部门比对名单" }
                p.hint { "民政、公安等部门的名单，放入收件箱的「部门比对」文件夹；只用于比对，不发给任何乡镇。" }
                table.lists {
                    thead { tr { th { "名单" } th { "月份" } th { "文件" } th { "收到时间" } th { "行数" } th { "结果" } } }
                    tbody {
                        @for (k, subs) in &lists {
                            @if subs.is_empty() {
                                tr { td { (k.name) } td {} td { "尚未收到：相关检查不进行" } td {} td {} td {} }
                            }
                            @for s in subs {
                                tr {
                                    td { (k.name) }
                                    td { (s.period.as_deref().unwrap_or("—")) }
                                    td { a href={ "/submission/" (s.id) } { (s.original_name) } }
                                    td { (local_time(&s.received_at)) }
                                    td.num { (s.rows) }
                                    td { (s.outcome.map_or("处理中", |o| o.zh())) @if s.errors > 0 { "（" (s.errors) " 处错误）" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @let to_chase: Vec<(&crate::rules::Unit, Vec<(&str, &'static str)>)> = standing::owing(&kinds)
            .into_iter()
            .map(|(unit, ks)| (unit, ks.iter().map(|(k, u)| (k.name.as_str(), u.status_zh())).collect()))
            .collect();
        @if !to_chase.is_empty() {
            section.chase {
                h2 { (chosen) " 期催报名单（" (to_chase.len()) " 个单位）" }
                p.hint { "未报送或未通过的单位及联系方式；可直接打印。" }
                table.chase {
                    thead { tr { th { "单位" } th { "未完成的台账" } th { "联系邮箱" } } }
                    tbody {
                        @for (unit, ks) in &to_chase {
                            tr {
                                td { (unit.name) }
                                td { @for (i, (k, s)) in ks.iter().enumerate() { @if i > 0 { "；" } "《" (k) "》" (s) } }
                                td { (unit.email) }
                            }
                        }
                    }
                }
            }
        }
        section.workbooks {
            h2 { "全县汇总表" }
            ul {
                @for (kid, p) in known.iter().rev() {
                    @if let Some(k) = rules.kind(kid) {
                        @let name = crate::consolidate::file_name(rules, k, p);
                        @if cfg.outbox.join(&name).exists() {
                            li { a href={ "/workbook/" (kid) "/" (p) } { (name) } }
                        }
                    }
                }
            }
        }
        p.api { "供其他程序读取：" a href="/api/status" { "/api/status" } }
    };
    Ok(page("报送情况", mark, Some(csrf), body))
}

/// A submission: outcome, how it was read, every finding, downloads, the unit's others.
///
/// ID and card numbers are masked ([`mask_personal`]); each finding that had
/// one masked links to [`reveal`], which shows it whole (and is logged).
pub(super) fn submission(
    journal: &Journal,
    rules: Option<&RuleSet>,
    id: i64,
    mark: &str,
    csrf: &str,
) -> Result<Option<String>> {
    let Some(sub) = journal.get(id)? else {
        return Ok(None);
    };
    // An accepted register: what changed since the unit's previous one.
    let changes = match (rules, &sub.kind_id, sub.outcome) {
        (Some(rules), Some(k), Some(crate::journal::Outcome::Accepted)) => match rules.kind(k) {
            Some(kind) => crate::changes::of(journal, kind, &sub)?,
            None => None,
        },
        _ => None,
    };
    let findings = journal.findings(id)?;
    let report: Option<crate::validate::FileReport> = journal
        .report_json(id)?
        .and_then(|j| serde_json::from_str(&j).ok());
    let layout = report
        .as_ref()
        .map(|r| r.layout.clone())
        .unwrap_or_default();
    let others = match (&sub.unit, &sub.kind_id) {
        (Some(u), Some(k)) => journal
            .unit_submissions(u, k)?
            .into_iter()
            .filter(|s| s.id != id)
            .collect(),
        _ => Vec::new(),
    };
    let outcome = sub.outcome.map_or("处理中", |o| o.zh());
    let body = html! {
        h1 { "第 " (sub.id) " 号报送：" (sub.original_name) }
        table.facts {
            tr { th { "结果" } td.outcome { (outcome) } }
            @if let Some(r) = &sub.reason { tr { th { "原因" } td { (mask_personal(r)) } } }
            tr { th { "单位" } td {
                (sub.unit.as_deref().unwrap_or("未能确定"))
                @if !layout.clues.is_empty() {
                    ul.clues { @for (src, text) in &layout.clues { li { (src.zh()) "：" (text) } } }
                }
            } }
            tr { th { "期间" } td {
                (sub.period.as_deref().unwrap_or("未能确定"))
                @if let Some(src) = layout.period_source { "（据" (src.zh()) "）" }
            } }
            tr { th { "台账" } td { (sub.kind_name.as_deref().unwrap_or("—")) } }
            tr { th { "工作表" } td { (layout.sheet.as_deref().unwrap_or("—")) } }
            tr { th { "收到时间" } td { (local_time(&sub.received_at)) } }
            @if let Some(t) = &sub.processed_at { tr { th { "处理时间" } td { (local_time(t)) } } }
            tr { th { "数据行" } td { (sub.rows) "　错误 " (sub.errors) "　提醒 " (sub.warnings) } }
            @for r in crate::validate::ReferenceUsed::said_all(sub.references()) { tr { th { "依据" } td { (r) } } }
            @if let Some(v) = &sub.rules_version { tr { th { "规则版本" } td { (v) } } }
        }
        p.downloads {
            a href={ "/submission/" (id) "/original" } { "下载原件" }
            @if sub.annotated_path.is_some() {
                "　" a href={ "/submission/" (id) "/annotated" } { "下载带批注的副本" }
            }
        }
        h2 { "问题（" (findings.len()) "）" }
        @if findings.is_empty() {
            p { "没有发现问题。" }
        } @else {
            p.filter { label { "筛选 " input type="search" data-filter="findings" placeholder="输入单元格、列名、姓名或文字"; } }
            table.findings.sortable id="findings" {
                thead { tr {
                    th { "级别" } th { "工作表" } th { "单元格" } th { "行" } th { "姓名" }
                    th { "列" } th { "填写内容" } th { "问题" } th {}
                } }
                tbody {
                    @for (n, f) in findings.iter().enumerate() {
                        @let value = mask_personal(&f.value);
                        @let message = mask_personal(&f.message);
                        @let masked = matches!(value, std::borrow::Cow::Owned(_)) || matches!(message, std::borrow::Cow::Owned(_));
                        tr class=(if f.severity == Severity::Error { "error" } else { "warning" }) {
                            td { (if f.severity == Severity::Error { "错误" } else { "提醒" }) }
                            td { (f.sheet) }
                            td { (f.cell.as_deref().unwrap_or("—")) }
                            td.num { (f.row.map(|r| r.to_string()).unwrap_or_default()) }
                            td { (f.person.as_deref().unwrap_or("")) }
                            td { (f.header.as_deref().unwrap_or("")) }
                            td { (value) }
                            td { (message) }
                            td { @if masked { a href={ "/submission/" (id) "/reveal/" (n + 1) } { "显示完整号码" } } }
                        }
                    }
                }
            }
        }
        @if let Some(c) = &changes {
            h2 { "本期变动" }
            @match &c.previous {
                None => p { "本单位没有更早的已通过登记簿，未作比对。" },
                Some(prev) => p {
                    "与 " (prev.period.as_deref().unwrap_or("")) " 的登记簿（"
                    a href={ "/submission/" (prev.id) } { "第 " (prev.id) " 号报送" }
                    "）比对：新增 " strong { (c.added.len()) } " 人，减少 " strong { (c.decreased.len()) }
                    " 人，变更 " strong { (c.changed.len()) } " 人。"
                },
            }
            @if !(c.added.is_empty() && c.decreased.is_empty() && c.changed.is_empty()) {
                table.changes {
                    thead { tr { th { "姓名" } th { "身份证号" } th { "变动" } th { "内容（上期 → 本期）" } th { "变动日期" } } }
                    tbody {
                        @for p in &c.added {
                            tr { td { (p.name) } td { (mask_personal(&p.id)) } td { "新增" } td {} td {} }
                        }
                        @for (p, status, date) in &c.decreased {
                            tr { td { (p.name) } td { (mask_personal(&p.id)) } td { "减少（" (status) "）" } td {} td { (date) } }
                        }
                        @for (p, diffs) in &c.changed {
                            tr {
                                td { (p.name) } td { (mask_personal(&p.id)) } td { "变更" }
                                td { @for (h, old, new) in diffs { (h) "：" (old) " → " (new) br; } }
                                td {}
                            }
                        }
                    }
                }
            }
        }
        @if !others.is_empty() {
            h2 { "本单位的其他报送" }
            ul {
                @for s in &others {
                    li {
                        a href={ "/submission/" (s.id) } { "第 " (s.id) " 号" }
                        "　" (s.period.as_deref().unwrap_or("")) "　" (s.original_name) "　"
                        (local_time(&s.received_at)) "　" (s.outcome.map_or("", |o| o.zh()))
                    }
                }
            }
        }
    };
    Ok(Some(page(
        &format!("第 {id} 号报送"),
        mark,
        Some(csrf),
        body,
    )))
}

/// One finding of a submission (its `n`th, from 1) with its value and message
/// whole: what a clerk asks for to phone a township about a number. Logged.
pub(super) fn reveal(
    journal: &Journal,
    id: i64,
    n: usize,
    mark: &str,
    csrf: &str,
) -> Result<Option<String>> {
    let Some(sub) = journal.get(id)? else {
        return Ok(None);
    };
    let findings = journal.findings(id)?;
    let Some(f) = n.checked_sub(1).and_then(|i| findings.get(i)) else {
        return Ok(None);
    };
    let body = html! {
        h1 { "第 " (id) " 号报送 · 第 " (n) " 条问题" }
        p.notice { "完整号码属于个人信息，本次查看已记入访问记录。" }
        table.facts {
            tr { th { "文件" } td { (sub.original_name) } }
            tr { th { "单元格" } td { (f.sheet) " " (f.cell.as_deref().unwrap_or("—")) } }
            tr { th { "姓名" } td { (f.person.as_deref().unwrap_or("")) } }
            tr { th { "列" } td { (f.header.as_deref().unwrap_or("")) } }
            tr { th { "填写内容" } td { (f.value) } }
            tr { th { "问题" } td { (f.message) } }
        }
        p { a href={ "/submission/" (id) } { "返回第 " (id) " 号报送" } }
    };
    Ok(Some(page(
        &format!("第 {id} 号报送"),
        mark,
        Some(csrf),
        body,
    )))
}

/// `/search`: one person across units, kinds and periods — where registered,
/// what was paid, when — from the accepted rows, with links to the submissions;
/// ID and card numbers masked.
pub(super) fn search(
    rules: &RuleSet,
    journal: &Journal,
    q: Option<&str>,
    rows: &[crate::journal::PersonRow],
    mark: &str,
    csrf: &str,
) -> Result<String> {
    let mut subs = std::collections::HashMap::new();
    for r in rows {
        if let std::collections::hash_map::Entry::Vacant(e) = subs.entry(r.submission_id) {
            e.insert(journal.get(r.submission_id)?);
        }
    }
    // A row's values as `列名：值` in the kind's column order (masked).
    let said = |kind: Option<&crate::rules::Kind>, data: &str| -> String {
        let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(data)
        else {
            return String::new();
        };
        let Some(kind) = kind else {
            return String::new();
        };
        kind.columns
            .iter()
            .filter(|c| c.key != "seq")
            .filter_map(|c| {
                let v = m.get(&c.key)?;
                let text = match v {
                    serde_json::Value::String(s) if !s.is_empty() => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some(format!("{}：{}", c.header, mask_personal(&text)))
            })
            .collect::<Vec<_>>()
            .join("；")
    };
    let body = html! {
        h1 { "查找人员" }
        form.period method="post" action="/search" {
            input type="hidden" name="csrf" value=(csrf);
            // A name stays in the box; an ID number is not shown again.
            @let again = q.filter(|q| matches!(mask_personal(q), std::borrow::Cow::Borrowed(_)) && !q.chars().any(|c| c.is_ascii_digit()));
            label { "姓名或身份证号 " input type="search" name="q" value=(again.unwrap_or("")) autofocus; }
            " " button type="submit" { "查找" }
        }
        p { "在各乡镇已通过的台账中查找（登记簿、发放台账，所有期间）。身份证号可只输前几位。" }
        @if let Some(q) = q {
            @if rows.is_empty() { p { "没有找到「" (mask_personal(q)) "」。" } }
            @else {
                p { "找到 " (rows.len()) " 行：" }
                table.sortable id="persons" {
                    thead { tr { th { "期间" } th { "单位" } th { "台账" } th { "报送" } th { "行" } th { "内容" } } }
                    tbody {
                        @for r in rows {
                            @let sub = subs.get(&r.submission_id).cloned().flatten();
                            @let kind = sub.as_ref().and_then(|s| s.kind_id.as_deref()).and_then(|k| rules.kind(k));
                            tr {
                                td { (sub.as_ref().and_then(|s| s.period.clone()).unwrap_or_default()) }
                                td { (sub.as_ref().and_then(|s| s.unit.clone()).unwrap_or_default()) }
                                td { (kind.map(|k| k.name.as_str()).unwrap_or("")) }
                                td { a href={ "/submission/" (r.submission_id) } { "第 " (r.submission_id) " 号" } }
                                td.num { (r.row) }
                                td { (said(kind, &r.data)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("查找人员", mark, Some(csrf), body))
}

/// `/access`: who looked at what, newest first, by day and submission.
pub(super) fn access(
    rows: &[crate::journal::access::Access],
    day: Option<&str>,
    submission: Option<i64>,
    mark: &str,
    csrf: &str,
) -> String {
    let body = html! {
        h1 { "访问记录" }
        p { "登录、查看报送、下载、查看完整号码和重新发送邮件，都记录在此（至少保存 180 天）。" }
        form.period method="get" action="/access" {
            label { "日期 " input type="date" name="date" value=(day.unwrap_or("")); }
            " "
            label { "报送编号 " input type="number" name="submission" value=(submission.map(|s| s.to_string()).unwrap_or_default()); }
            " " button type="submit" { "筛选" }
        }
        @if rows.is_empty() { p { "没有记录。" } }
        @else {
            table.sortable id="access" {
                thead { tr { th { "时间" } th { "来访地址" } th { "登录方式" } th { "操作" } th { "报送" } th { "说明" } } }
                tbody {
                    @for a in rows {
                        tr {
                            td { (local_time(&a.at)) }
                            td { (a.client) }
                            td { (a.who) }
                            td { (super::action_zh(&a.action)) }
                            td { @if let Some(s) = a.submission_id { a href={ "/submission/" (s) } { "第 " (s) " 号" } } }
                            td { (a.detail) }
                        }
                    }
                }
            }
        }
    };
    page("访问记录", mark, Some(csrf), body)
}

/// The quarantine: files whose sender could not be settled, with the reasons.
pub(super) fn quarantine(
    journal: &Journal,
    mark: &str,
    csrf: &str,
    units: &[String],
    done: Option<&str>,
) -> Result<String> {
    let all = journal.all()?;
    let held = standing::still_quarantined(&all);
    let body = html! {
        h1 { "隔离文件（" (held.len()) "）" }
        p { "无法确定报送单位、或读取时异常的文件。核实是哪个单位的文件后，在该行选择单位并点“按此单位处理”，系统即按该单位的报送重新处理（也可把文件放入收件箱中该单位的子文件夹）。" }
        @match done {
            Some("assigned") => p.notice { "已交给系统按所选单位处理，稍后在报送情况中查看结果。" },
            Some(_) => p.error { "未能指定：该文件已不在隔离中，或单位不在名单中。" },
            None => {},
        }
        @if held.is_empty() { p { "没有隔离的文件。" } }
        @else {
            table.sortable id="quarantine" {
                thead { tr { th { "编号" } th { "文件" } th { "收到时间" } th { "原因" } th { "原件" } th { "指定单位" } } }
                tbody {
                    @for s in &held {
                        tr {
                            td { a href={ "/submission/" (s.id) } { (s.id) } }
                            td { (s.original_name) }
                            td { (local_time(&s.received_at)) }
                            td { (mask_personal(s.reason.as_deref().unwrap_or(""))) }
                            td { a href={ "/submission/" (s.id) "/original" } { "下载" } }
                            td {
                                form method="post" action={ "/quarantine/" (s.id) "/assign" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    select name="unit" {
                                        @for u in units {
                                            option value=(u) selected[s.reason.as_deref().is_some_and(|r| standing::suggests(r, u))] { (u) }
                                        }
                                    }
                                    " " button type="submit" { "按此单位处理" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("隔离文件", mark, Some(csrf), body))
}

/// The mail queue: waiting, retrying, refused and uncertain messages (the last
/// two with a resend button), how many went out — "written, not sent" when no
/// mail server is configured (`folder`) — and every notice, newest first.
pub(super) fn mail(
    journal: &Journal,
    csrf: &str,
    done: Option<&str>,
    mark: &str,
    folder: Option<&str>,
) -> Result<String> {
    let queued = journal.mail_in_state("queued")?;
    let (retrying, waiting): (Vec<_>, Vec<_>) = queued.into_iter().partition(|m| m.attempts > 0);
    let parked = journal.mail_in_state("parked")?;
    let uncertain = journal.mail_in_state("uncertain")?;
    let log = journal.mail_log(500)?;
    let mut units = std::collections::HashMap::new();
    for id in log.iter().filter_map(|m| m.submission_id) {
        if let std::collections::hash_map::Entry::Vacant(e) = units.entry(id) {
            e.insert(journal.get(id)?.and_then(|s| s.unit));
        }
    }
    let sent = journal
        .mail_counts()?
        .into_iter()
        .find(|(s, _)| s == "sent")
        .map_or(0, |(_, n)| n);
    let list = |title: &str, items: &[crate::journal::mail::Queued], resend: bool| {
        html! {
            h2 { (title) "（" (items.len()) "）" }
            @if !items.is_empty() {
                table.mail {
                    thead { tr { th { "编号" } th { "收件人" } th { "主题" } th { "尝试次数" } th { "错误" } @if resend { th {} } } }
                    tbody {
                        @for m in items {
                            tr {
                                td { (m.id) }
                                td { (m.to.join("、")) }
                                td { (m.subject) }
                                td.num { (m.attempts) }
                                td { (m.last_error.as_deref().unwrap_or("")) }
                                @if resend {
                                    td {
                                        form method="post" action={ "/mail/" (m.id) "/resend" } {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button type="submit" { "重新发送" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        div #csrf hidden data-token=(csrf) {}
        h1 { "邮件" }
        @match done {
            Some("resent") => p.notice { "已重新排入发送队列。" },
            Some(_) => p.error { "该邮件不在“被拒收”或“不确定”状态，未做改动。" },
            None => {},
        }
        @match folder {
            Some(f) => p { "已写入 " (sent) " 封（未配置邮件服务器，未实际发送；邮件文件在 " code { (f) } "）。" },
            None => p { "已发送 " (sent) " 封。" },
        }
        (list("等待发送", &waiting, false))
        (list("等待重试", &retrying, false))
        (list("被邮件服务器拒收（确认地址后可重新发送）", &parked, true))
        (list("不确定是否送达（发送时程序中断；确认对方未收到后可重新发送）", &uncertain, true))
        h2 { "全部通知（最近 " (log.len()) " 封）" }
        @if !log.is_empty() {
            table.mail.sortable id="mail-log" {
                thead { tr { th { "编号" } th { "时间" } th { "单位" } th { "类型" } th { "收件人" } th { "主题" } th { "状态" } } }
                tbody {
                    @for m in &log {
                        @let unit = m.submission_id.and_then(|id| units.get(&id).cloned().flatten());
                        tr {
                            td.num { (m.id) }
                            td { (local_time(m.sent_at.as_deref().unwrap_or(&m.created_at))) }
                            td { (unit.as_deref().unwrap_or("县")) }
                            td { (crate::notice::purpose_zh(&m.purpose)) }
                            td { (m.to.join("、")) }
                            td { (mask_personal(&m.subject)) }
                            td { (state_zh(&m.state, folder.is_some())) }
                        }
                    }
                }
            }
        }
    };
    Ok(page("邮件", mark, Some(csrf), body))
}

/// A message's state as the mail page says it (`written`: no mail server, the
/// message was written as a file, nothing left the machine).
fn state_zh(state: &str, written: bool) -> &'static str {
    match state {
        "sent" if written => "已写入，未发送",
        "sent" => "已发送",
        "queued" => "等待发送",
        "sending" => "正在发送",
        "parked" => "被拒收",
        "uncertain" => "不确定是否送达",
        _ => "其他",
    }
}
