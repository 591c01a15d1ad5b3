//! Reading one image value back into a field's type, whoever wrote it.
//!
//! recover's own encoder writes each field with serde. A capture trigger writes the database's
//! own JSON for the column, which differs in form but not in value: a boolean as `0`/`1`
//! (SQLite, MySQL), binary as `"\x…"` hex text (every backend), a timestamp with a space before
//! the time (SQLite, MySQL), a non-finite float as text (`"Infinity"`). Decoding accepts both
//! forms, so one image decodes to the same typed value whichever wrote it. Numbers are parsed
//! exactly (serde_json's `float_roundtrip`): an f64 comes back bit for bit.

use serde::de::value::SeqDeserializer;
use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde_json::Value;

/// Decodes one image value into `V`, accepting the forms a capture trigger writes.
pub(crate) fn decode_value<V: DeserializeOwned>(value: &Value) -> Result<V, serde_json::Error> {
    match V::deserialize(Lenient(value)) {
        Ok(decoded) => Ok(decoded),
        Err(error) => match value.as_str().and_then(sql_datetime_as_iso) {
            // Only a type that refused the SQL form gets the ISO one: a `String` field keeps
            // the text exactly as stored.
            Some(iso) => V::deserialize(Lenient(&Value::String(iso))).map_err(|_| error),
            None => Err(error),
        },
    }
}

/// `2024-05-06 07:08:09.5` as `2024-05-06T07:08:09.5`: SQL's timestamp text as chrono reads it.
fn sql_datetime_as_iso(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let shaped = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':';
    shaped.then(|| format!("{}T{}", &text[..10], &text[11..]))
}

/// `"\x0aff"` (PostgreSQL's bytea text, and what the SQLite and MySQL triggers write) as bytes.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A non-finite float as the databases spell it.
fn non_finite(text: &str) -> Option<f64> {
    match text {
        "Infinity" | "inf" | "Inf" => Some(f64::INFINITY),
        "-Infinity" | "-inf" | "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => None,
    }
}

/// serde_json's `&Value` deserializer, widened to the forms above.
struct Lenient<'a>(&'a Value);

macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for Lenient<'de> {
    type Error = serde_json::Error;

    forward! {
        deserialize_any deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_char deserialize_str deserialize_string deserialize_unit
        deserialize_map deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0.as_i64() {
            Some(0) => visitor.visit_bool(false),
            Some(1) => visitor.visit_bool(true),
            _ => self.0.deserialize_bool(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0.as_str().and_then(non_finite) {
            Some(f) => visitor.visit_f32(f as f32),
            None => self.0.deserialize_f32(visitor),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0.as_str().and_then(non_finite) {
            Some(f) => visitor.visit_f64(f),
            None => self.0.deserialize_f64(visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0.as_str().and_then(hex_bytes) {
            Some(bytes) => visitor.visit_byte_buf(bytes),
            None => self.0.deserialize_bytes(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        // `Vec<u8>` is a sequence of numbers in serde's data model.
        match self.0.as_str().and_then(hex_bytes) {
            Some(bytes) => visitor.visit_seq(SeqDeserializer::new(bytes.into_iter())),
            None => self.0.deserialize_seq(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_struct(name, fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trigger_forms_decode_to_the_same_values() {
        assert!(decode_value::<bool>(&json!(1)).unwrap());
        assert!(!decode_value::<Option<bool>>(&json!(0)).unwrap().unwrap());
        assert_eq!(decode_value::<Option<bool>>(&json!(null)).unwrap(), None);
        assert!(decode_value::<bool>(&json!(2)).is_err());
        assert_eq!(
            decode_value::<Vec<u8>>(&json!("\\x00ff10")).unwrap(),
            vec![0, 255, 16]
        );
        assert_eq!(
            decode_value::<Vec<u8>>(&json!([0, 255])).unwrap(),
            vec![0, 255]
        );
        assert!(decode_value::<Vec<u8>>(&json!("\\x0")).is_err());
        assert_eq!(
            decode_value::<f64>(&json!("-Infinity")).unwrap(),
            f64::NEG_INFINITY
        );
        // A string field keeps SQL's timestamp text as it is.
        assert_eq!(
            decode_value::<String>(&json!("2024-05-06 07:08:09")).unwrap(),
            "2024-05-06 07:08:09"
        );
        assert_eq!(
            sql_datetime_as_iso("2024-05-06 07:08:09.25").as_deref(),
            Some("2024-05-06T07:08:09.25")
        );
    }

    #[test]
    fn floats_parse_exactly() {
        for x in [-1.5e-300, 5e-324, f64::MAX, f64::MIN_POSITIVE, 0.1, -0.0] {
            let text = serde_json::to_string(&x).unwrap();
            let value: Value = serde_json::from_str(&text).unwrap();
            let back: f64 = decode_value(&value).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
        // 17 significant digits, as SQL writes them, come back exact too.
        for x in [-1.5e-300_f64, 1.0 / 3.0, 123456.789e200] {
            let value: Value = serde_json::from_str(&format!("{x:.16e}")).unwrap();
            assert_eq!(decode_value::<f64>(&value).unwrap().to_bits(), x.to_bits());
        }
    }
}
