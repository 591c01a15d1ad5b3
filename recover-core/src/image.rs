//! Images: a row as a JSON object keyed by SQL column name. The columns an image holds, an
//! image written and read field by field, its text parsed, and the marker `redact` leaves.
//! Which model a row belongs to is `row_image`'s concern.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;

/// One column of a model's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageColumn {
    /// The SQL column name (Diesel's `Column::NAME`).
    pub name: &'static str,
    /// Names the column had in older images (`#[recover(renamed_from = "..")]`).
    pub renamed_from: &'static [&'static str],
    /// Whether it is a key column.
    pub key: bool,
}

/// The key of the value `redact` leaves in place of an erased column: `{"$recover": "redacted"}`.
const MARKER_KEY: &str = "$recover";
const MARKER_VALUE: &str = "redacted";

/// The value `redact` writes in place of an erased column.
pub(crate) fn redacted_marker() -> Value {
    let mut marker = Map::new();
    marker.insert(
        MARKER_KEY.to_owned(),
        Value::String(MARKER_VALUE.to_owned()),
    );
    Value::Object(marker)
}

/// Whether a column's value was erased by `redact`.
pub(crate) fn is_redacted(value: &Value) -> bool {
    matches!(value, Value::Object(m) if m.len() == 1
        && m.get(MARKER_KEY).and_then(Value::as_str) == Some(MARKER_VALUE))
}

/// Builds one image, field by field. Used by the code `#[derive(Recoverable)]` generates.
#[doc(hidden)]
pub struct ImageWriter {
    entity: &'static str,
    buf: Vec<u8>,
}

impl ImageWriter {
    pub(crate) fn new(entity: &'static str) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.push(b'{');
        ImageWriter { entity, buf }
    }

    /// Appends `"column": value`.
    pub fn field<V: Serialize + ?Sized>(&mut self, column: &str, value: &V) -> Result<(), Error> {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        let encode_error = |e: serde_json::Error| Error::Encode {
            entity: self.entity,
            column: column.to_owned(),
            problem: e.to_string(),
        };
        serde_json::to_writer(&mut self.buf, column).map_err(encode_error)?;
        self.buf.push(b':');
        serde_json::to_writer(&mut self.buf, value).map_err(encode_error)
    }

    /// The image's text.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push(b'}');
        // Only serde_json wrote into the buffer, and it writes UTF-8.
        String::from_utf8(self.buf).unwrap_or_default()
    }
}

/// Parses an image's text into its JSON object.
pub(crate) fn parse(seq: i64, text: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Error::CorruptImage {
            seq,
            problem: format!("expected a JSON object, found {}", json_kind(&other)),
        }),
        Err(e) => Err(Error::CorruptImage {
            seq,
            problem: format!("not JSON: {e}"),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads fields out of one parsed image. Used by the code `#[derive(Recoverable)]` generates.
#[doc(hidden)]
pub struct ImageReader<'a> {
    entity: &'static str,
    seq: i64,
    map: &'a Map<String, Value>,
}

impl<'a> ImageReader<'a> {
    /// A reader of `map`, the parsed image of entry `seq` of `entity`.
    pub(crate) fn new(entity: &'static str, seq: i64, map: &'a Map<String, Value>) -> Self {
        ImageReader { entity, seq, map }
    }

    /// The value of `column` (or of its first old name present), or the field's default when the
    /// image predates the column.
    pub fn column<V: DeserializeOwned>(
        &self,
        column: &str,
        renamed_from: &[&str],
        default: Option<fn() -> V>,
    ) -> Result<V, Error> {
        let Some((name, value)) = lookup(self.map, column, renamed_from) else {
            return match default {
                Some(default) => Ok(default()),
                None => Err(self.drift(column, "is missing from the image (add #[recover(default = \"..\")] or #[recover(renamed_from = \"..\")] to the field)".to_owned())),
            };
        };
        if is_redacted(value) {
            return default
                .map(|default| default())
                .ok_or_else(|| Error::Redacted {
                    entity: self.entity,
                    seq: self.seq,
                    column: column.to_owned(),
                });
        }
        crate::codec::decode_value(value).map_err(|e| {
            self.drift(
                name,
                format!("holds {value} which does not fit the field: {e}"),
            )
        })
    }

    fn drift(&self, column: &str, problem: String) -> Error {
        Error::SchemaDrift {
            entity: self.entity,
            seq: self.seq,
            column: column.to_owned(),
            problem,
        }
    }
}

/// Finds a column in an image under its name or one of its old names.
pub(crate) fn lookup<'m>(
    map: &'m Map<String, Value>,
    column: &str,
    renamed_from: &[&str],
) -> Option<(&'m str, &'m Value)> {
    std::iter::once(column)
        .chain(renamed_from.iter().copied())
        .find_map(|name| map.get_key_value(name))
        .map(|(name, value)| (name.as_str(), value))
}
