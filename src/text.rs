//! Text that users read: `{placeholder}` templates (rule messages, notices) and
//! HTML escaping. The one renderer and the one escaper; rules lint templates with
//! [`placeholders`], validation fills messages and notices fill bodies with
//! [`render`].

/// The names of a template's `{placeholders}`, in order (an unclosed `{` ends the
/// scan: it is literal text).
pub fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        let start = rest.find('{')?;
        let after = &rest[start + 1..];
        let end = after.find('}')?;
        rest = &after[end + 1..];
        Some(&after[..end])
    })
}

/// Fills a template: each `{name}` becomes `vars(name)`; a name without a value
/// stays as written (so a typo shows instead of vanishing).
pub fn render(template: &str, vars: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
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
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
