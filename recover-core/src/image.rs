//! Images: a row encoded as a JSON object keyed by SQL column name, and back.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::model::Recoverable;

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
    fn new(entity: &'static str) -> Self {
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

    fn finish(mut self) -> String {
        self.buf.push(b'}');
        // Only serde_json wrote into the buffer, and it writes UTF-8.
        String::from_utf8(self.buf).unwrap_or_default()
    }
}

/// Encodes a row as its image (JSON text).
pub(crate) fn encode<T: Recoverable>(row: &T) -> Result<String, Error> {
    let mut writer = ImageWriter::new(T::ENTITY);
    row.write_image(&mut writer)?;
    Ok(writer.finish())
}

/// The canonical text of a key, as stored in `recover_journal.entity_key`.
pub(crate) fn encode_key<T: Recoverable>(key: &T::Key) -> Result<String, Error> {
    serde_json::to_string(key).map_err(|e| Error::Encode {
        entity: T::ENTITY,
        column: "<key>".to_owned(),
        problem: e.to_string(),
    })
}

/// Parses a key's canonical text back into the key type.
pub(crate) fn decode_key<T: Recoverable>(seq: i64, text: &str) -> Result<T::Key, Error> {
    serde_json::from_str(text).map_err(|e| Error::CorruptJournal {
        seq,
        problem: format!("entity_key {text:?} is not a key of {}: {e}", T::ENTITY),
    })
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

/// Decodes an image of entry `seq` into a row, checking that it is the image of `key_text`.
pub(crate) fn decode<T: Recoverable>(seq: i64, text: &str, key_text: &str) -> Result<T, Error> {
    let map = parse(seq, text)?;
    decode_map(seq, &map, key_text)
}

pub(crate) fn decode_map<T: Recoverable>(
    seq: i64,
    map: &Map<String, Value>,
    key_text: &str,
) -> Result<T, Error> {
    let row = T::from_image(&ImageReader {
        entity: T::ENTITY,
        seq,
        map,
    })?;
    let row_key = encode_key::<T>(&row.key())?;
    if row_key != key_text {
        return Err(Error::CorruptImage {
            seq,
            problem: format!(
                "the image holds {} {row_key}, but the entry is for key {key_text}",
                T::ENTITY
            ),
        });
    }
    Ok(row)
}

/// Parses an image of `T` and brings each value to the form recover's own encoder writes
/// (decoded to the field's type and encoded again), so that images written by a capture trigger
/// compare equal to recover's own. A value that does not decode is left as it is; so is the
/// whole image when the row cannot be decoded (an image from an older schema).
pub(crate) fn parse_canonical<T: Recoverable>(
    seq: i64,
    text: &str,
) -> Result<Map<String, Value>, Error> {
    let mut map = parse(seq, text)?;
    let Ok(row) = T::from_image(&ImageReader {
        entity: T::ENTITY,
        seq,
        map: &map,
    }) else {
        return Ok(map);
    };
    let again = parse(seq, &encode(&row)?)?;
    for column in T::COLUMNS {
        let Some(fresh) = again.get(column.name) else {
            continue;
        };
        let present = std::iter::once(column.name)
            .chain(column.renamed_from.iter().copied())
            .find(|name| map.contains_key(*name));
        if let Some(value) = present.and_then(|name| map.get_mut(name)) {
            if !is_redacted(value) {
                *value = fresh.clone();
            }
        }
    }
    Ok(map)
}

/// The SQL names of the model's image columns whose values differ between two images; a
/// column missing from one image counts as changed, and an absent image differs in every column.
pub(crate) fn changed_columns<T: Recoverable>(
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Vec<&'static str> {
    T::COLUMNS
        .iter()
        .filter(|c| match (before, after) {
            (Some(before), Some(after)) => {
                let value = |image| lookup(image, c.name, c.renamed_from).map(|(_, v)| v);
                let (before, after) = (value(before), value(after));
                // An erased value says nothing either way.
                let erased = before.is_some_and(is_redacted) || after.is_some_and(is_redacted);
                !erased && before != after
            }
            (None, None) => false,
            _ => true,
        })
        .map(|c| c.name)
        .collect()
}

/// The columns that differ between what the journal expects and what is stored, compared over
/// the columns the recorded image has (an image from before a column existed says nothing about
/// it).
pub(crate) fn conflicting_columns<T: Recoverable>(
    expected: Option<&Map<String, Value>>,
    actual: Option<&Map<String, Value>>,
) -> Vec<String> {
    match (expected, actual) {
        (None, None) => Vec::new(),
        (Some(_), None) | (None, Some(_)) => T::COLUMNS.iter().map(|c| c.name.to_owned()).collect(),
        (Some(expected), Some(actual)) => T::COLUMNS
            .iter()
            .filter(|c| match lookup(expected, c.name, c.renamed_from) {
                Some((_, recorded)) => {
                    !is_redacted(recorded) && actual.get(c.name) != Some(recorded)
                }
                None => false,
            })
            .map(|c| c.name.to_owned())
            .collect(),
    }
}

/// Decodes an image text into a row the way undo and history do, for fuzzing and property
/// tests: any input gives a row or an error, never a panic.
#[doc(hidden)]
pub fn decode_untrusted<T: Recoverable>(text: &str) -> Result<T, Error> {
    let map = parse(0, text)?;
    let row = T::from_image(&ImageReader {
        entity: T::ENTITY,
        seq: 0,
        map: &map,
    })?;
    // Round trip: what decodes must encode again, and decode to an equal image.
    let again = encode(&row)?;
    decode::<T>(0, &again, &encode_key::<T>(&row.key())?)
}
