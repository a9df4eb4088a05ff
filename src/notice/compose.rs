//! Composing notices from the templates in `notices.toml`.
//!
//! Every notice is composed once, when its cause is journaled, into the exact bytes
//! that will be sent (Message-ID included); the queue then only delivers bytes.
//! Recipients come only from the rule files (`townships.csv`, `county.toml`), never
//! from a submitted file.

use crate::rules::schema::MailTemplate;
use crate::rules::{RuleSet, Severity};
use crate::text::{escape_html, render};
use crate::validate::Finding;
use lettre::message::header::{ContentTransferEncoding, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::Message;
use std::collections::HashMap;

pub use crate::journal::Mail;

/// Why a notice could not be composed (a bad address in the rule files).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("address {0:?}: {1}")]
    Address(String, lettre::address::AddressError),
    #[error("message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("no recipient")]
    NoRecipient,
}

/// An attachment: the name the recipient sees and its bytes.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Placeholder values of one notice.
pub type Vars = HashMap<&'static str, String>;

/// Fills a template: plain values as they are (text), or HTML-escaped (html); the
/// pre-rendered `*_html` blocks are inserted as they are.
fn fill(template: &str, vars: &Vars, html: bool) -> String {
    render(template, &|name| {
        let v = vars.get(name)?;
        Some(if html && !name.ends_with("_html") {
            escape_html(v)
        } else {
            v.clone()
        })
    })
}

/// Renders the problem list for a body: errors first, then warnings, at most
/// `max_items`, then a line pointing at the attachment for the rest.
/// `total` counts the findings found, kept or not (`[limits] max_findings`).
/// With `all`, every finding is listed (the annotated copy is missing).
pub fn items(rules: &RuleSet, findings: &[Finding], total: usize, all: bool) -> (String, String) {
    let t = &rules.notices.items;
    let max = if all {
        usize::MAX
    } else {
        rules.notices.settings.max_items
    };
    let ordered: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .chain(findings.iter().filter(|f| f.severity == Severity::Warning))
        .collect();
    let mut text = Vec::new();
    let mut html = Vec::new();
    for (n, f) in ordered.iter().take(max).enumerate() {
        let mut v: Vars = HashMap::new();
        v.insert("n", (n + 1).to_string());
        v.insert(
            "severity",
            if f.severity == Severity::Error {
                "错误"
            } else {
                "提醒"
            }
            .to_string(),
        );
        v.insert("sheet", f.sheet.clone());
        v.insert("row", f.row.map(|r| r.to_string()).unwrap_or_default());
        v.insert("person", f.person.clone().unwrap_or_default());
        v.insert("cell", f.cell.clone().unwrap_or_default());
        v.insert("header", f.header.clone().unwrap_or_default());
        v.insert("value", f.value.clone());
        v.insert("message", f.message.clone());
        v.insert("expected", f.expected.clone());
        text.push(fill(&t.text, &v, false));
        html.push(fill(&t.html, &v, true));
    }
    if ordered.len() > max {
        let mut v: Vars = HashMap::new();
        v.insert("rest", (ordered.len() - max).to_string());
        text.push(fill(&t.more_text, &v, false));
        html.push(fill(&t.more_html, &v, true));
    }
    if total > findings.len() {
        let mut v: Vars = HashMap::new();
        v.insert("shown", findings.len().to_string());
        v.insert("total", total.to_string());
        text.push(fill(&t.omitted_text, &v, false));
        html.push(fill(&t.omitted_html, &v, true));
    }
    (text.join("\n"), html.join("\n"))
}

/// The paragraph about the annotated copy (text, HTML): what it is when attached,
/// that it could not be made when `missing`, else nothing.
pub fn attachment_note(
    rules: &RuleSet,
    attachment: Option<&Attachment>,
    missing: bool,
) -> (String, String) {
    let t = &rules.notices.items;
    match attachment {
        Some(a) => {
            let mut v: Vars = HashMap::new();
            v.insert("attachment", a.name.clone());
            (
                fill(&t.attachment_text, &v, false),
                fill(&t.attachment_html, &v, true),
            )
        }
        None if missing => (
            fill(&t.no_attachment_text, &HashMap::new(), false),
            fill(&t.no_attachment_html, &HashMap::new(), true),
        ),
        None => (String::new(), String::new()),
    }
}

/// Text with runs of blank lines (left where a part had nothing to say) cut to one.
fn without_blank_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// Composes one message from a template.
pub fn compose(
    rules: &RuleSet,
    purpose: &str,
    template: &MailTemplate,
    to: &[String],
    vars: &Vars,
    attachment: Option<&Attachment>,
) -> Result<Mail, ComposeError> {
    if to.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let mut vars = vars.clone();
    vars.entry("county")
        .or_insert_with(|| rules.county.name.clone());
    vars.entry("county_short")
        .or_insert_with(|| rules.county.short_name.clone());
    if let Some(a) = attachment {
        vars.insert("attachment", a.name.clone());
    }
    // ID and card numbers are masked in the subject and bodies (mail crosses
    // servers and is forwarded); the attachment, the township's own workbook
    // annotated, stays whole.
    let mask = crate::text::mask_personal;
    let subject = mask(fill(&template.subject, &vars, false).trim()).into_owned();
    let text = without_blank_runs(&mask(fill(&template.text, &vars, false).trim())) + "\n";
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">\n{}\n</body></html>\n",
        mask(fill(&template.html, &vars, true).trim())
    );
    let parse = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| ComposeError::Address(a.to_string(), e))
    };
    // A Message-ID fixed now, so every attempt sends the same message.
    let mut b = Message::builder()
        .from(parse(&rules.county.from)?)
        .subject(subject.clone())
        .message_id(None);
    for r in to {
        b = b.to(parse(r)?);
    }
    let body = MultiPart::alternative_plain_html(text, html);
    let msg = match attachment {
        Some(a) => b.multipart(
            MultiPart::mixed()
                .multipart(body)
                .singlepart(attachment_part(a)),
        )?,
        None => b.multipart(body)?,
    };
    Ok(Mail {
        purpose: purpose.to_string(),
        to: to.to_vec(),
        subject,
        bytes: msg.formatted(),
        name_hint: None,
    })
}

/// `Content-Disposition: attachment` naming the file twice: RFC 2231
/// (`filename*=utf-8''…`, what standards-following clients read) and an RFC 2047
/// encoded word in plain `filename="…"` (what Outlook and older webmail read).
#[derive(Debug, Clone)]
struct Disposition(String);

impl Header for Disposition {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Disposition")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Disposition(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        use email_encoding::headers::writer::EmailWriter;
        use std::fmt::Write;
        let name = &self.0;
        let mut encoded = String::new();
        {
            let mut w = EmailWriter::new(&mut encoded, "Content-Disposition: ".len(), 0, false);
            let _ = w.write_str("attachment;");
            w.space();
            let _ = w.write_str("filename=\"");
            let _ = email_encoding::headers::rfc2047::encode(name, &mut w);
            let _ = w.write_str("\";");
            w.space();
            let _ = w.write_str(&rfc2231_single(name));
        }
        HeaderValue::dangerous_new_pre_encoded(
            Self::name(),
            format!("attachment; filename=\"{name}\""),
            encoded,
        )
    }
}

/// `Content-Type` of an xlsx attachment with the RFC 2047 `name=` that old clients show.
#[derive(Debug, Clone)]
struct XlsxType(String);

impl Header for XlsxType {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Type")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(XlsxType(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        use email_encoding::headers::writer::EmailWriter;
        use std::fmt::Write;
        let mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        let mut encoded = String::new();
        {
            let mut w = EmailWriter::new(&mut encoded, "Content-Type: ".len(), 0, false);
            let _ = w.write_str(mime);
            let _ = w.write_str(";");
            w.space();
            let _ = w.write_str("name=\"");
            let _ = email_encoding::headers::rfc2047::encode(&self.0, &mut w);
            let _ = w.write_str("\"");
        }
        HeaderValue::dangerous_new_pre_encoded(
            Self::name(),
            format!("{mime}; name=\"{}\"", self.0),
            encoded,
        )
    }
}

/// `filename*=utf-8''…` on one line (RFC 2231 without continuations, which some
/// clients mishandle); header lines may be up to 998 characters.
fn rfc2231_single(name: &str) -> String {
    let mut out = String::from("filename*=utf-8''");
    for b in name.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn attachment_part(a: &Attachment) -> SinglePart {
    SinglePart::builder()
        .header(XlsxType(a.name.clone()))
        .header(Disposition(a.name.clone()))
        .header(ContentTransferEncoding::Base64)
        .body(a.bytes.clone())
}
