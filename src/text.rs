//! Text that users read: `{placeholder}` templates (rule messages, notices) and
//! HTML escaping. The one renderer and the one escaper; rules lint templates with
//! [`placeholders`], validation fills messages and notices fill bodies with
//! [`render`].

/// The names of a template's `{placeholders}`, in order (an unclosed `{` ends the
/// scan: it is literal text). A section's `{#name}` and `{/name}` give `name`.
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        let start = rest.find('{')?;
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        rest = &after[end + 1..];
        let name = &after[..end];
        Some(name.strip_prefix(['#', '/']).unwrap_or(name))
    })
}

/// Fills a template: each `{name}` becomes `vars(name)`; a name without a value
/// stays as written (so a typo shows instead of vanishing). A section
/// `{#name}…{/name}` is kept (and filled) only when `name` has a value that is
/// neither empty nor `0`: parts of a notice with nothing to say are left out.
pub fn render(template: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                rest = &after[end + 1..];
                if let Some(section) = name.strip_prefix('#') {
                    let close = format!("{{/{section}}}");
                    let (inner, tail) = match rest.find(&close) {
                        Some(i) => (&rest[..i], &rest[i + close.len()..]),
                        None => (rest, ""),
                    };
                    let shown = vars(section).is_some_and(|v| !v.trim().is_empty() && v != "0");
                    if shown {
                        out.push_str(&render(inner, vars));
                    }
                    rest = tail;
                    continue;
                }
                match vars(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// An RFC 3339 timestamp as a clerk reads it: local time, to the minute
/// (`2026-12-01 20:25`); text that is no timestamp is shown as it is.
pub fn local_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339.trim()) {
        Ok(t) => t
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => rfc3339.replace('T', " ").chars().take(16).collect(),
    }
}

/// Escapes text for HTML element content and attribute values (quotes too).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_list_their_placeholders() {
        let t = "「{header}」为 {value}，应为 {expected}{ {unclosed";
        assert_eq!(
            placeholders(t).collect::<Vec<_>>(),
            vec!["header", "value", "expected"]
        );
        let out = render(t, &|n| (n != "expected").then(|| n.to_uppercase()));
        assert_eq!(out, "「HEADER」为 VALUE，应为 {expected}{ {unclosed");
        let sections = "收到。{#warnings}{warnings} 处提醒。{/warnings}{#items}\n{items}{/items}完";
        let vars = |w: &'static str, i: &'static str| {
            move |n: &str| match n {
                "warnings" => Some(w.to_string()),
                "items" => Some(i.to_string()),
                _ => None,
            }
        };
        assert_eq!(render(sections, &vars("0", "")), "收到。完");
        assert_eq!(
            render(sections, &vars("2", "1. x")),
            "收到。2 处提醒。\n1. x完"
        );
        assert_eq!(
            placeholders(sections).collect::<Vec<_>>(),
            ["warnings", "warnings", "warnings", "items", "items", "items"]
        );
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

/// Personal numbers masked for screens and mail bodies (PIPL): every run of 15
/// to 20 digits (an `X` allowed, groups of at least 3 separated by single
/// spaces, as card numbers are written) keeps its first 6 and last 4
/// characters — `419901********1234` — whatever column or message it stands
/// in: 身份证号 (15 or 18), 残疾人证号 (20), 银行卡号 (16–19). Shorter numbers
/// (phones, unit codes, amounts, dates) are left as they are.
pub fn mask_personal(s: &str) -> std::borrow::Cow<'_, str> {
    let sig = |c: char| c.is_ascii_digit() || c == 'X' || c == 'x';
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        // A run must not continue a word (an ASCII letter or digit before it).
        let starts =
            chars[i].is_ascii_digit() && (i == 0 || !(chars[i - 1].is_ascii_alphanumeric()));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Extend over [0-9Xx] groups joined by single spaces.
        let mut j = i;
        let mut end = i;
        let mut group = 0;
        let mut ok_groups = true;
        while j < chars.len() {
            if sig(chars[j]) {
                j += 1;
                group += 1;
                end = j;
            } else if chars[j] == ' ' && group > 0 && j + 1 < chars.len() && sig(chars[j + 1]) {
                ok_groups &= group >= 3;
                group = 0;
                j += 1;
            } else {
                break;
            }
        }
        ok_groups &= group >= 3 || end == i + group;
        let run: Vec<char> = chars[i..end].iter().copied().filter(|&c| sig(c)).collect();
        let digits = run.iter().filter(|c| c.is_ascii_digit()).count();
        let spaced = chars[i..end].contains(&' ');
        let after_ok = end == chars.len() || !chars[end].is_ascii_alphanumeric();
        if (15..=20).contains(&run.len())
            && digits + 1 >= run.len()
            && after_ok
            && (!spaced || ok_groups)
        {
            out.extend(run[..6].iter());
            out.extend(std::iter::repeat_n('*', run.len() - 10));
            out.extend(run[run.len() - 4..].iter());
            changed = true;
            i = end;
        } else {
            // Not personal: copy this run of digits as it was.
            let stop = chars[i..]
                .iter()
                .position(|c| !c.is_ascii_alphanumeric())
                .map_or(chars.len(), |p| i + p);
            out.extend(chars[i..stop].iter());
            i = stop;
        }
    }
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod mask_tests {
    use super::mask_personal;

    #[test]
    fn personal_numbers_keep_their_first_six_and_last_four() {
        assert_eq!(
            mask_personal("身份证号「41990119850312123X」校验位错误"),
            "身份证号「419901********123X」校验位错误"
        );
        assert_eq!(mask_personal("410101850312123"), "410101*****2123");
        assert_eq!(
            mask_personal("卡号 6222 0212 3456 7890 123"),
            "卡号 622202*********0123"
        );
        assert_eq!(
            mask_personal("41990119850312123X11"),
            "419901**********3X11"
        );
        // Not personal numbers: left alone.
        for s in [
            "13912345678",
            "419901102",
            "2026-11-30 09:00:00",
            "第 11 行",
            "1200.00",
            "abc41990119850312123X",
        ] {
            assert_eq!(mask_personal(s), s);
        }
    }
}
