//! The rows the journal stores (`records.data`: one JSON object per row, column
//! key → text or number), read back without building a map or copying text:
//! what the county workbook, 应发未发 and a referenced ledger read.

use super::JournalError;

/// A value as the journal stores it, borrowed from the row's JSON where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored<'a> {
    Num(f64),
    Text(std::borrow::Cow<'a, str>),
}

/// Reads a journaled row (`{"key": value, …}`) into one slot per column (`keys`
/// in column order) without building a map or copying text.
pub fn stored_row<'a>(
    data: &'a str,
    keys: &[&str],
) -> Result<Vec<Option<Stored<'a>>>, JournalError> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;
    use std::fmt;

    struct Value<'a>(Option<Stored<'a>>);
    impl<'de> serde::Deserialize<'de> for Value<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Value<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a number or a string")
                }
                fn visit_f64<E>(self, v: f64) -> Result<Value<'de>, E> {
                    Ok(Value(Some(Stored::Num(v))))
                }
                fn visit_i64<E>(self, v: i64) -> Result<Value<'de>, E> {
                    Ok(Value(Some(Stored::Num(v as f64))))
                }
                fn visit_u64<E>(self, v: u64) -> Result<Value<'de>, E> {
                    Ok(Value(Some(Stored::Num(v as f64))))
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'de>, E> {
                    Ok(Value(Some(Stored::Text(Cow::Borrowed(s)))))
                }
                fn visit_str<E>(self, s: &str) -> Result<Value<'de>, E> {
                    Ok(Value(Some(Stored::Text(Cow::Owned(s.to_string())))))
                }
                fn visit_unit<E>(self) -> Result<Value<'de>, E> {
                    Ok(Value(None))
                }
                fn visit_bool<E>(self, _: bool) -> Result<Value<'de>, E> {
                    Ok(Value(None))
                }
            }
            d.deserialize_any(V)
        }
    }
    struct Row<'k, 'a> {
        keys: &'k [&'k str],
        slots: Vec<Option<Stored<'a>>>,
    }
    impl<'de> DeserializeSeed<'de> for Row<'_, 'de> {
        type Value = Vec<Option<Stored<'de>>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Row<'_, 'de> {
        type Value = Vec<Option<Stored<'de>>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a stored row")
        }
        fn visit_map<M: MapAccess<'de>>(mut self, mut m: M) -> Result<Self::Value, M::Error> {
            // Keys read like values: a column key is text.
            while let Some(Value(key)) = m.next_key::<Value<'de>>()? {
                let slot = match key {
                    Some(Stored::Text(k)) => self.keys.iter().position(|c| *c == k),
                    _ => None,
                };
                match slot {
                    Some(i) => self.slots[i] = m.next_value::<Value<'de>>()?.0,
                    None => {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(self.slots)
        }
    }
    let mut de = serde_json::Deserializer::from_str(data);
    let row = Row {
        keys,
        slots: vec![None; keys.len()],
    };
    Ok(row.deserialize(&mut de)?)
}

impl Stored<'_> {
    /// The value as text (a number as the ledger's own text would be).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Stored::Text(t) => std::borrow::Cow::Borrowed(t.as_ref()),
            Stored::Num(x) => crate::workbook::value::number_text(*x).into(),
        }
    }
}

/// The text of slot `i` of a stored row ('' when blank or absent).
pub fn slot_text<'a>(cells: &'a [Option<Stored<'_>>], i: usize) -> std::borrow::Cow<'a, str> {
    match cells.get(i) {
        Some(Some(v)) => v.text(),
        _ => std::borrow::Cow::Borrowed(""),
    }
}

/// A row's value as stored (a report's record), as text: a number as the ledger's
/// own text would be.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n
            .as_f64()
            .map(crate::workbook::value::number_text)
            .unwrap_or_else(|| n.to_string()),
        serde_json::Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn stored_rows_are_read_into_column_slots() {
        let keys = ["name", "living_subsidy", "remarks", "seq"];
        // As the journal writes them: sorted keys, text unescaped where it can be,
        // a key no column has any more, a null.
        let data = r#"{"extra":[1,2],"living_subsidy":100.0,"name":"张三","remarks":"说\"明\"","seq":null}"#;
        let row = stored_row(data, &keys).unwrap();
        assert_eq!(
            row,
            vec![
                Some(Stored::Text(Cow::Borrowed("张三"))),
                Some(Stored::Num(100.0)),
                Some(Stored::Text(Cow::Owned("说\"明\"".to_string()))),
                None,
            ]
        );
        assert!(matches!(row[0], Some(Stored::Text(Cow::Borrowed(_)))));
        assert!(stored_row("[1]", &keys).is_err());
        assert!(stored_row("{\"name\":", &keys).is_err());
    }

    #[test]
    fn stored_values_as_text() {
        let row = stored_row(r#"{"a":"x","b":80.0}"#, &["a", "b", "c"]).unwrap();
        assert_eq!(
            (slot_text(&row, 0), slot_text(&row, 1), slot_text(&row, 2)),
            ("x".into(), "80".into(), "".into())
        );
    }
}
