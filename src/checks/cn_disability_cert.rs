//! `cn_disability_cert`: the 20-character 残疾人证号.
//!
//! **What** it checks: the number is the holder's 18-character ID followed by one
//! digit for the category and one for the level. The digit is the position (from 1)
//! of the row's category and level in the `values` lists of the columns named by the
//! `category` and `level` parameters; the `id` parameter names the ID column.
//!
//! **Why**: the certificate must belong to this person and agree with the category
//! and level the ledger claims; a mismatch usually means a copy-paste from the row
//! above or an outdated certificate after re-assessment.
//!
//! The ID part is compared only when the row's ID is itself valid, so one typo in
//! the ID does not produce a second finding here.
//!
//! **Example**: ID `11010519491231002X`, 肢体 (4th) 二级 (2nd) → `11010519491231002X42`.

use super::{Check, CheckInput, Outcome};

pub struct CnDisabilityCert;

impl Check for CnDisabilityCert {
    fn name(&self) -> &'static str {
        "cn_disability_cert"
    }
    fn outcomes(&self) -> &'static [&'static str] {
        &["number", "length", "id_mismatch", "category", "level"]
    }
    fn params(&self) -> &'static [&'static str] {
        &["id", "category", "level"]
    }
    fn check(&self, input: &CheckInput<'_>) -> Option<Outcome> {
        if input.cell.is_number() {
            return Some(Outcome::new("number", "20位文本"));
        }
        let cert = input.text;
        if cert.chars().count() != 20 {
            return Some(Outcome::new("length", "20"));
        }
        let (id, digits) = cert.split_at(18.min(cert.len()));
        let [p_id, p_cat, p_level] = input.params else {
            return None;
        };
        // Compared only against a valid ID: a wrong ID is reported on its own cell.
        if id != p_id.text && super::cn_id::is_valid(p_id.text) {
            return Some(Outcome::new("id_mismatch", p_id.text));
        }
        let d = digits.as_bytes();
        for (digit, param, code) in [(d.first(), p_cat, "category"), (d.get(1), p_level, "level")] {
            if let Some(i) = param.enum_index {
                let want = (b'1' + i as u8) as char;
                if digit.map(|b| *b as char) != Some(want) {
                    return Some(Outcome::new(code, want.to_string()));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::ParamValue;
    use crate::workbook::Cell;
    use std::borrow::Cow;

    fn run(cert: &str, cat: usize, level: usize) -> Option<Outcome> {
        let cell = Cell::Text(Cow::Owned(cert.to_string()));
        let params = [
            ParamValue {
                text: "11010519491231002X",
                enum_index: None,
            },
            ParamValue {
                text: "肢体",
                enum_index: Some(cat),
            },
            ParamValue {
                text: "二级",
                enum_index: Some(level),
            },
        ];
        CnDisabilityCert.check(&CheckInput {
            cell: &cell,
            text: cert,
            params: &params,
        })
    }

    #[test]
    fn matching_certificate_passes() {
        assert_eq!(run("11010519491231002X42", 3, 1), None);
    }

    #[test]
    fn each_outcome_fires() {
        assert_eq!(
            run("11010519491231002X4", 3, 1).map(|o| o.code),
            Some("length")
        );
        assert_eq!(
            run("11010519491231003X42", 3, 1).map(|o| o.code),
            Some("id_mismatch")
        );
        assert_eq!(
            run("11010519491231002X12", 3, 1),
            Some(Outcome::new("category", "4"))
        );
        assert_eq!(
            run("11010519491231002X43", 3, 1),
            Some(Outcome::new("level", "2"))
        );
    }
}
