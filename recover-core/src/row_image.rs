//! A model's rows and keys as journal text, and back: the images of a `Recoverable` type (in
//! `image`'s format), its key text, and its images compared column by column.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::image::{is_redacted, lookup, parse, ImageColumn, ImageReader, ImageWriter};
use crate::model::Recoverable;

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
    let row = T::from_image(&ImageReader::new(T::ENTITY, seq, map))?;
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
    let Ok(row) = T::from_image(&ImageReader::new(T::ENTITY, seq, &map)) else {
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
