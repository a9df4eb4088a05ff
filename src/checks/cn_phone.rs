//! `cn_phone`: contact numbers.
//!
//! **What** it checks: each number in the cell (several may be separated by `/`,
//! `、`, `,`, `，`, `;` or spaces) is a mobile number (`1[3-9]` and 9 more digits) or
//! a landline with area code (`0AAA-NNNNNNN(N)`, the dash optional). A 7–8 digit
//! number without area code gives `no_area_code` (the shipped rules make it a
//! warning); anything else gives `invalid`.
//!
//! **Why**: the township must be able to reach the person or guardian; a number
//! stored as a number in Excel is still read correctly.
//!
//! A mobile number written in groups (`138 3712 3456`, `138-3712-3456`) is one number.
//!
//! **Example**: `13812345678/0371-6543210` passes; `6543210` → `no_area_code`;
//! `1381234567` → `invalid`.

use super::{Check, CheckInput, Outcome};

pub struct CnPhone;

impl Check for CnPhone {
    fn name(&self) -> &'static str {
        "cn_phone"
    }
    fn outcomes(&self) -> &'static [&'static str] {
        &["invalid", "no_area_code"]
    }
    fn check(&self, input: &CheckInput<'_>) -> Option<Outcome> {
        let mut worst = None;
        let parts = input
            .text
            .split(['/', '、', ',', '，', ';', '；'])
            .flat_map(|group| {
                // `138 3712 3456`, `138-3712-3456`: one mobile number written in groups.
                let joined: String = group
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '\u{3000}' | '-'))
                    .collect();
                let grouped = group.contains([' ', '\u{3000}', '-']);
                if grouped && is_mobile(&joined) {
                    vec![joined]
                } else {
                    group.split([' ', '\u{3000}']).map(str::to_string).collect()
                }
            });
        for part in parts.filter(|p| !p.is_empty()) {
            match classify(&part) {
                Kind::Ok => {}
                Kind::NoAreaCode => {
                    worst.get_or_insert(Outcome::new("no_area_code", "区号-号码"));
                }
                Kind::Invalid => return Some(Outcome::new("invalid", "11位手机号或 区号-号码")),
            }
        }
        worst
    }
}

enum Kind {
    Ok,
    NoAreaCode,
    Invalid,
}

fn is_mobile(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

fn classify(p: &str) -> Kind {
    let b = p.as_bytes();
    let all_digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if is_mobile(p) {
        return Kind::Ok;
    }
    if let Some((area, num)) = p.split_once('-') {
        let (a, n) = (area.as_bytes(), num.as_bytes());
        if a.first() == Some(&b'0')
            && (3..=4).contains(&a.len())
            && all_digits(a)
            && (7..=8).contains(&n.len())
            && all_digits(n)
        {
            return Kind::Ok;
        }
        return Kind::Invalid;
    }
    if b.first() == Some(&b'0') && (10..=12).contains(&b.len()) && all_digits(b) {
        return Kind::Ok;
    }
    if (7..=8).contains(&b.len()) && all_digits(b) && b[0] != b'0' {
        return Kind::NoAreaCode;
    }
    Kind::Invalid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbook::Cell;

    fn code(s: &str) -> Option<&'static str> {
        let cell = Cell::Empty;
        CnPhone
            .check(&CheckInput {
                cell: &cell,
                text: s,
                params: &[],
            })
            .map(|o| o.code)
    }

    #[test]
    fn accepts_mobiles_landlines_and_lists() {
        for ok in [
            "13812345678",
            "0371-65432100",
            "0371-6543210",
            "037165432100",
            "13812345678/0371-6543210",
            "13812345678、15912345678",
            "13812345678 15912345678",
            "138 3712 3456",
            "138-3712-3456",
            "138 3712 3456/0371-6543210",
        ] {
            assert_eq!(code(ok), None, "{ok}");
        }
    }

    #[test]
    fn flags_bad_and_local_numbers() {
        assert_eq!(code("6543210"), Some("no_area_code"));
        assert_eq!(code("65432100"), Some("no_area_code"));
        assert_eq!(code("1381234567"), Some("invalid"));
        assert_eq!(code("12812345678"), Some("invalid"));
        assert_eq!(code("6543210/abc"), Some("invalid"));
        assert_eq!(code("371-6543210"), Some("invalid"));
    }
}
