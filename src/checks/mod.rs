//! Built-in domain checks: the knowledge that is code, not data.
//!
//! A rule file names a check on a column (`checks = [{ check = "cn_id" }]`); the
//! check decides *whether* a value is wrong and *which* of its outcomes applies,
//! while the rule file holds *what to say* (`[messages]` key `cn_id.checksum`) and
//! how severe it is. Each check lives in its own file with its doc and tests.
//!
//! | check | column | outcomes |
//! |---|---|---|
//! | [`cn_id`] | 18-digit resident ID (GB 11643-1999) | `number`, `old15`, `length`, `chars`, `birth`, `checksum` |
//! | [`cn_disability_cert`] | 20-character disability certificate number | `number`, `length`, `id_mismatch`, `category`, `level` |
//! | [`cn_phone`] | contact numbers, several per cell | `invalid`, `no_area_code` |
//! | [`bank_card`] | the card a subsidy is paid into: 16–19 digits, as text | `number`, `length`, `chars` |

pub mod bank_card;
pub mod cn_disability_cert;
pub mod cn_id;
pub mod cn_phone;

use crate::workbook::Cell;

/// What a check sees of one cell.
pub struct CheckInput<'a> {
    /// The cell as read (a check may care that it was stored as a number).
    pub cell: &'a Cell<'a>,
    /// The normalised text of the cell.
    pub text: &'a str,
    /// Other columns named in the check's `params`, in the order of [`Check::params`]:
    /// normalised text and, for an `enum` column, the value's position in its list.
    pub params: &'a [ParamValue<'a>],
}

/// A parameter column's value in the current row.
#[derive(Debug, Clone, Copy)]
pub struct ParamValue<'a> {
    pub text: &'a str,
    pub enum_index: Option<usize>,
}

/// A check's verdict on one cell: which outcome, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: &'static str,
    pub expected: String,
}

impl Outcome {
    pub fn new(code: &'static str, expected: impl Into<String>) -> Self {
        Outcome {
            code,
            expected: expected.into(),
        }
    }
}

/// A built-in check.
pub trait Check: Send + Sync {
    /// The name rule files use.
    fn name(&self) -> &'static str;
    /// Every outcome code it can return (each needs a message in the rule file).
    fn outcomes(&self) -> &'static [&'static str];
    /// Parameter names it needs, each naming another column.
    fn params(&self) -> &'static [&'static str] {
        &[]
    }
    /// Checks one non-blank cell.
    fn check(&self, input: &CheckInput<'_>) -> Option<Outcome>;
}

/// All built-in checks, by name.
pub fn registry() -> Vec<&'static dyn Check> {
    vec![
        &cn_id::CnId,
        &cn_disability_cert::CnDisabilityCert,
        &cn_phone::CnPhone,
        &bank_card::BankCard,
    ]
}

/// Looks a built-in check up by name.
pub fn find(name: &str) -> Option<&'static dyn Check> {
    registry().into_iter().find(|c| c.name() == name)
}
