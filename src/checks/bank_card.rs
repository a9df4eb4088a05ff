//! `bank_card`: the bank card (or account) a subsidy is paid into.
//!
//! **What** it checks: 16 to 19 digits (spaces inside, as cards are printed, do
//! not count), stored as text. A card number typed into a General cell becomes a
//! number, and Excel keeps only 15 significant digits: the last ones are lost for
//! good (outcome `number`). Anything else that is not 16–19 digits gives `length`
//! (wrong count of digits) or `chars` (something other than digits).
//!
//! **Why**: a payment to a card number with lost digits cannot be traced, and an
//! audit asks for each payment's card first.
//!
//! **Example**: `6228 4801 2345 6789 012` passes; `6.22848E+18` (a number) →
//! `number`; `62284801234` → `length`; `6228-4801-X` → `chars`.

use super::{Check, CheckInput, Outcome};

pub struct BankCard;

impl Check for BankCard {
    fn name(&self) -> &'static str {
        "bank_card"
    }
    fn outcomes(&self) -> &'static [&'static str] {
        &["number", "length", "chars"]
    }
    fn check(&self, input: &CheckInput<'_>) -> Option<Outcome> {
        if input.cell.is_number() {
            return Some(Outcome::new("number", "16–19位文本"));
        }
        let digits: String = input
            .text
            .chars()
            .filter(|c| !matches!(c, ' ' | '\u{3000}'))
            .collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Some(Outcome::new("chars", "16–19位数字"));
        }
        if !(16..=19).contains(&digits.len()) {
            return Some(Outcome::new("length", "16–19位"));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workbook::Cell;

    fn code(cell: Cell<'_>) -> Option<&'static str> {
        let text = cell.raw_text();
        BankCard
            .check(&CheckInput {
                cell: &cell,
                text: &text,
                params: &[],
            })
            .map(|o| o.code)
    }

    #[test]
    fn cards_as_text_pass_and_numbers_lose_digits() {
        assert_eq!(code(Cell::Text("6228480123456789012".into())), None);
        assert_eq!(code(Cell::Text("6228 4801 2345 6789".into())), None);
        assert_eq!(code(Cell::Float(6.228_480_123_456_79e18)), Some("number"));
        assert_eq!(code(Cell::Text("62284801234".into())), Some("length"));
        assert_eq!(
            code(Cell::Text("6228-4801-2345-6789".into())),
            Some("chars")
        );
    }
}
