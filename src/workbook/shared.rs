//! Shared-string indexes calamine cannot map.
//!
//! calamine reads a `t="s"` cell whose `<v>` is no valid index (`-1`,
//! `18446744073709551616`, `abc`) as shared string 0 — usually the title — so a
//! person could be "named" `安和县柳河镇残疾人信息登记簿`. Scanning every sheet's
//! XML for this would cost a second inflate of every file; instead the sheet pass
//! notes the cells whose text equals shared string 0 (rare outside the title),
//! and only then are the sheet parts scanned for cells whose index is unreadable.

use std::io::Read;
use std::path::Path;

/// The text of shared string 0 of an xlsx package, from the first `<si>` of
/// `xl/sharedStrings.xml` (its `<t>` runs joined, entities decoded).
pub fn first_shared_string(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f)).ok()?;
    let entry = zip.by_name("xl/sharedStrings.xml").ok()?;
    let mut head = Vec::new();
    entry.take(256 << 10).read_to_end(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head);
    let si = text.find("<si>").or_else(|| text.find("<si "))?;
    let end = text[si..].find("</si>")? + si;
    let item = &text[si..end];
    let mut out = String::new();
    let mut rest = item;
    while let Some(open) = rest.find("<t") {
        let after = &rest[open + 2..];
        // `<t>` or `<t xml:space="preserve">`, not `<tx…>`.
        if !after.starts_with('>') && !after.starts_with(' ') {
            rest = after;
            continue;
        }
        let body_start = after.find('>')? + 1;
        let body_end = after.find("</t>")?;
        out.push_str(&unescape(&after[body_start..body_end]));
        rest = &after[body_end + 4..];
    }
    Some(out)
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(semi) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let ent = &tail[1..semi];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=semi]),
        }
        rest = &tail[semi + 1..];
    }
    out.push_str(rest);
    out
}

/// Cells of every worksheet part whose `t="s"` index is no valid number:
/// (zero-based row, zero-based column, the `<v>` as written).
pub fn unreadable_indexes(path: &Path) -> Vec<(u32, u32, String)> {
    let mut out = Vec::new();
    let Ok(f) = std::fs::File::open(path) else {
        return out;
    };
    let Ok(mut zip) = zip::ZipArchive::new(std::io::BufReader::new(f)) else {
        return out;
    };
    let parts: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.to_string()))
        .filter(|n| n.starts_with("xl/worksheets/") && n.ends_with(".xml"))
        .collect();
    for part in parts {
        let Ok(entry) = zip.by_name(&part) else {
            continue;
        };
        let mut xml = Vec::new();
        // Bounded like everything a file makes us do (the precheck bounds the total).
        if entry.take(4 << 30).read_to_end(&mut xml).is_err() {
            continue;
        }
        scan(&xml, &mut out);
        if out.len() >= 10_000 {
            break;
        }
    }
    out
}

fn scan(xml: &[u8], out: &mut Vec<(u32, u32, String)>) {
    let mut i = 0;
    while let Some(at) = find(&xml[i..], b"<c ") {
        let start = i + at;
        let Some(tag_len) = find(&xml[start..], b">") else {
            return;
        };
        let tag = &xml[start..start + tag_len];
        i = start + tag_len + 1;
        if !contains(tag, b" t=\"s\"") || tag.ends_with(b"/") {
            continue;
        }
        let (Some(v0), Some(close)) = (find(&xml[i..], b"<v>"), find(&xml[i..], b"</c>")) else {
            continue;
        };
        if v0 > close {
            continue;
        }
        let v_start = i + v0 + 3;
        let Some(v_len) = find(&xml[v_start..], b"</v>") else {
            continue;
        };
        let v = String::from_utf8_lossy(&xml[v_start..v_start + v_len]).to_string();
        if v.trim().parse::<usize>().is_err() {
            if let Some((r, c)) = attr(tag, b" r=\"").and_then(|r| a1_parse(&r)) {
                out.push((r, c, v));
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

fn attr(tag: &[u8], key: &[u8]) -> Option<String> {
    let at = find(tag, key)? + key.len();
    let end = find(&tag[at..], b"\"")?;
    Some(String::from_utf8_lossy(&tag[at..at + end]).to_string())
}

/// `B5` → (4, 1).
fn a1_parse(r: &str) -> Option<(u32, u32)> {
    let letters: String = r.chars().take_while(|c| c.is_ascii_uppercase()).collect();
    let digits = &r[letters.len()..];
    let row: u32 = digits.parse().ok()?;
    let mut col: u32 = 0;
    for b in letters.bytes() {
        col = col.checked_mul(26)?.checked_add(u32::from(b - b'A') + 1)?;
    }
    Some((row.checked_sub(1)?, col.checked_sub(1)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn unreadable_indexes_are_found() {
        let xml = br#"<row r="5"><c r="B5" t="s"><v>-1</v></c><c r="C5" t="s"><v>3</v></c><c r="D5"><v>7</v></c><c r="AA5" t="s"><v>18446744073709551616</v></c></row>"#;
        let mut out = Vec::new();
        super::scan(xml, &mut out);
        assert_eq!(
            out,
            [
                (4, 1, "-1".to_string()),
                (4, 26, "18446744073709551616".to_string())
            ]
        );
        assert_eq!(super::unescape("a&amp;b&#x4E00;&lt;"), "a&b一<");
    }
}
