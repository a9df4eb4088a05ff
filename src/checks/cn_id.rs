//! `cn_id`: the 18-digit citizen identity number (GB 11643-1999).
//!
//! **What** it checks: 18 characters, 17 digits then a digit or `X`; a real birth
//! date at positions 7–14; the check digit (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8
//! 4 2, sum mod 11 → `10X98765432`).
//!
//! **Why**: a wrong ID makes a person impossible to find in the national systems and
//! breaks the subsidy payment. The most common cause is Excel itself: an ID typed
//! into a General cell becomes a number, and Excel keeps only 15 significant digits,
//! so the last three are lost for good (outcome `number`). Old 15-digit IDs
//! (`old15`) must be replaced with the 18-digit one.
//!
//! **Example**: `11010519491231002X` is valid; `110105194912310021` fails
//! `checksum` with expected `X`; `4.19901E+17` (a number) fails `number`.
//!
//! The helpers [`birth_date`], [`gender`] and [`is_valid`] are also exposed to row
//! rules as CEL functions `cn_id_birth`, `cn_id_gender`, `cn_id_valid`.

use super::{Check, CheckInput, Outcome};
use chrono::NaiveDate;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

pub struct CnId;

impl Check for CnId {
    fn name(&self) -> &'static str {
        "cn_id"
    }
    fn outcomes(&self) -> &'static [&'static str] {
        &["number", "old15", "length", "chars", "birth", "checksum"]
    }
    fn check(&self, input: &CheckInput<'_>) -> Option<Outcome> {
        if input.cell.is_number() {
            return Some(Outcome::new("number", "18位文本"));
        }
        validate(input.text).err()
    }
}

/// Checks an 18-character ID (already trimmed, `x` folded to `X`).
pub fn validate(id: &str) -> Result<(), Outcome> {
    let b = id.as_bytes();
    let n = if id.is_ascii() {
        b.len()
    } else {
        id.chars().count()
    };
    if n == 15 && b.iter().all(u8::is_ascii_digit) {
        return Err(Outcome::new("old15", "18位"));
    }
    if n != 18 {
        return Err(Outcome::new("length", "18"));
    }
    if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
        return Err(Outcome::new("chars", "前17位为数字，末位为数字或X"));
    }
    if birth_date(id).is_none() {
        return Err(Outcome::new("birth", ""));
    }
    let want = check_char(id);
    if b[17] != want {
        return Err(Outcome::new("checksum", (want as char).to_string()));
    }
    Ok(())
}

/// The check character the first 17 digits call for.
pub fn check_char(id: &str) -> u8 {
    let sum: u32 = id
        .bytes()
        .take(17)
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

/// True for a well-formed ID with a correct check digit.
pub fn is_valid(id: &str) -> bool {
    validate(id).is_ok()
}

/// The birth date inside an 18-character ID, if it is a real date.
pub fn birth_date(id: &str) -> Option<NaiveDate> {
    let digits = id.get(6..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y = digits[0..4].parse().ok()?;
    let m = digits[4..6].parse().ok()?;
    let d = digits[6..8].parse().ok()?;
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    (y >= 1880).then_some(date)
}

/// `男` when the 17th digit is odd, `女` when even; `None` if it is not a digit.
pub fn gender(id: &str) -> Option<&'static str> {
    let d = *id.as_bytes().get(16)?;
    d.is_ascii_digit()
        .then(|| if (d - b'0') % 2 == 1 { "男" } else { "女" })
}

/// Builds a valid ID from its first 17 digits (for tests and demo data).
pub fn with_check_char(first17: &str) -> String {
    format!("{first17}{}", check_char(first17) as char)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Check;
    use crate::workbook::Cell;
    use std::borrow::Cow;

    fn run(cell: Cell<'_>) -> Option<Outcome> {
        let text = cell.text().to_uppercase();
        CnId.check(&CheckInput {
            cell: &cell,
            text: &text,
            params: &[],
        })
    }

    #[test]
    fn valid_ids_pass() {
        assert_eq!(run(Cell::Text(Cow::Borrowed("11010519491231002X"))), None);
        assert_eq!(run(Cell::Text(Cow::Borrowed("11010519491231002x"))), None);
        assert!(is_valid(&with_check_char("41990119850312001")));
    }

    #[test]
    fn each_outcome_fires() {
        let code = |s: &str| run(Cell::Text(Cow::Owned(s.to_string()))).map(|o| o.code);
        assert_eq!(code("110105194912310021"), Some("checksum"));
        assert_eq!(code("110105491231002"), Some("old15"));
        assert_eq!(code("1101051949123100"), Some("length"));
        assert_eq!(code("11010519491231A02X"), Some("chars"));
        assert_eq!(code("110105194902300020"), Some("birth"));
        assert_eq!(
            run(Cell::Float(4.1990119850312e17)).map(|o| o.code),
            Some("number")
        );
        assert_eq!(
            run(Cell::Text(Cow::Borrowed("110105194912310021"))).map(|o| o.expected),
            Some("X".to_string())
        );
    }

    #[test]
    fn birth_and_gender() {
        assert_eq!(
            birth_date("11010519491231002X"),
            NaiveDate::from_ymd_opt(1949, 12, 31)
        );
        assert_eq!(gender("11010519491231002X"), Some("女"));
        assert_eq!(gender("11010519491231001X"), Some("男"));
    }
}
