//! A model's rows and keys as journal text, and back: the images of a `Recoverable` type (in
//! `image`'s format), its key text, and its images compared column by column.

use std::any::Any;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::image::{is_redacted, lookup, parse, ImageColumn, ImageReader, ImageWriter};
use crate::model::Recoverable;

/// A model's image codec over rows as `dyn Any`: the three functions each model compiles
/// (`write_image`, `from_image` and its key's text, behind `Recoverable`). Everything built on
/// them, this module's decoding and canonical form and the engine above it, compiles once.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    /// The journal's entity name.
    pub entity: &'static str,
    /// The columns an image holds.
    pub columns: &'static [ImageColumn],
    /// Decodes an image into a row (`Box<T>`).
    from_image: fn(&ImageReader<'_>) -> Result<Box<dyn Any>, Error>,
    /// Writes a row's fields into an image.
    write_image: fn(&dyn Any, &mut ImageWriter) -> Result<(), Error>,
    /// A row's key, as its canonical text.
    row_key: fn(&dyn Any) -> Result<String, Error>,
}

impl Codec {
    /// The codec of `T`.
    pub(crate) const fn of<T: Recoverable>() -> Self {
        Codec {
            entity: T::ENTITY,
            columns: T::COLUMNS,
            from_image: |image| Ok(Box::new(T::from_image(image)?)),
            write_image: |row, image| downcast::<T>(T::ENTITY, row)?.write_image(image),
            row_key: |row| encode_key::<T>(&downcast::<T>(T::ENTITY, row)?.key()),
        }
    }

    /// Encodes a row as its image (JSON text).
    pub(crate) fn encode(&self, row: &dyn Any) -> Result<String, Error> {
        let mut writer = ImageWriter::new(self.entity);
        (self.write_image)(row, &mut writer)?;
        Ok(writer.finish())
    }

    /// Decodes an image of entry `seq` into a row, checking that it is the image of `key_text`.
    pub(crate) fn decode(
        &self,
        seq: i64,
        text: &str,
        key_text: &str,
    ) -> Result<Box<dyn Any>, Error> {
        self.decode_map(seq, &parse(seq, text)?, key_text)
    }

    /// [`Codec::decode`] of an image already parsed.
    pub(crate) fn decode_map(
        &self,
        seq: i64,
        map: &Map<String, Value>,
        key_text: &str,
    ) -> Result<Box<dyn Any>, Error> {
        let row = (self.from_image)(&ImageReader::new(self.entity, seq, map))?;
        let row_key = (self.row_key)(row.as_ref())?;
        if row_key != key_text {
            return Err(Error::CorruptImage {
                seq,
                problem: format!(
                    "the image holds {} {row_key}, but the entry is for key {key_text}",
                    self.entity
                ),
            });
        }
        Ok(row)
    }

    /// Parses an image and brings each value to the form recover's own encoder writes
    /// (decoded to the field's type and encoded again), so that images written by a capture
    /// trigger compare equal to recover's own. A value that does not decode is left as it is;
    /// so is the whole image when the row cannot be decoded (an image from an older schema).
    pub(crate) fn parse_canonical(
        &self,
        seq: i64,
        text: &str,
    ) -> Result<Map<String, Value>, Error> {
        let mut map = parse(seq, text)?;
        let Ok(row) = (self.from_image)(&ImageReader::new(self.entity, seq, &map)) else {
            return Ok(map);
        };
        let again = parse(seq, &self.encode(row.as_ref())?)?;
        for column in self.columns {
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
}

/// A row of `T` given as `dyn Any`.
pub(crate) fn downcast<'r, T: Any>(entity: &'static str, row: &'r dyn Any) -> Result<&'r T, Error> {
    row.downcast_ref().ok_or_else(|| not_a_row::<T>(entity))
}

/// A row of `T` out of its box.
fn unbox<T: Any>(entity: &'static str, row: Box<dyn Any>) -> Result<T, Error> {
    row.downcast()
        .map(|row| *row)
        .map_err(|_| not_a_row::<T>(entity))
}

/// The error of a row handed to another model's codec: a bug in recover, never user data.
fn not_a_row<T>(entity: &'static str) -> Error {
    Error::Encode {
        entity,
        column: "<row>".to_owned(),
        problem: format!("not a {}", std::any::type_name::<T>()),
    }
}

/// Encodes a row as its image (JSON text).
pub(crate) fn encode<T: Recoverable>(row: &T) -> Result<String, Error> {
    Codec::of::<T>().encode(row)
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

/// Decodes an image of entry `seq` into a row, checking that it is the image of `key_text`.
pub(crate) fn decode<T: Recoverable>(seq: i64, text: &str, key_text: &str) -> Result<T, Error> {
    unbox(T::ENTITY, Codec::of::<T>().decode(seq, text, key_text)?)
}

/// [`decode`] of an image already parsed.
pub(crate) fn decode_map<T: Recoverable>(
    seq: i64,
    map: &Map<String, Value>,
    key_text: &str,
) -> Result<T, Error> {
    unbox(T::ENTITY, Codec::of::<T>().decode_map(seq, map, key_text)?)
}

/// The SQL names of the model's image columns whose values differ between two images; a
/// column missing from one image counts as changed, and an absent image differs in every column.
pub(crate) fn changed_columns(
    columns: &'static [ImageColumn],
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Vec<&'static str> {
    columns
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
pub(crate) fn conflicting_columns(
    columns: &[ImageColumn],
    expected: Option<&Map<String, Value>>,
    actual: Option<&Map<String, Value>>,
) -> Vec<String> {
    match (expected, actual) {
        (None, None) => Vec::new(),
        (Some(_), None) | (None, Some(_)) => columns.iter().map(|c| c.name.to_owned()).collect(),
        (Some(expected), Some(actual)) => columns
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
    let row = T::from_image(&ImageReader::new(T::ENTITY, 0, &map))?;
    // Round trip: what decodes must encode again, and decode to an equal image.
    let again = encode(&row)?;
    decode::<T>(0, &again, &encode_key::<T>(&row.key())?)
}
