//! What undo, redo, restore and the integrity check need of one model, as plain function
//! pointers over one backend: the row read and written as images, and the image brought to
//! recover's own encoding. The engine (`revert`, `entity_check`) takes a [`ModelOps`], so that
//! it is compiled once per backend, not once per model; only these few functions are.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::image::ImageColumn;
use crate::model::{Recoverable, RowStore};
use crate::row_image;

/// An image as a JSON object.
type Image = Map<String, Value>;

/// Called after a target image has decoded and before the row is written (the entry's seq is
/// reserved there).
pub(crate) type BeforeWrite<'a, C> = &'a mut dyn FnMut(&mut C) -> Result<(), Error>;

/// One model's part of the engine on backend `C`.
pub(crate) struct ModelOps<C: 'static> {
    /// The journal's entity name (the table's name).
    pub entity: &'static str,
    /// The columns an image holds.
    pub columns: &'static [ImageColumn],
    /// The stored row of this key text (locked on PostgreSQL and MySQL), as its image; the
    /// seq names the entry the key came from, in errors.
    pub load: fn(&mut C, i64, &str) -> Result<Option<String>, Error>,
    /// Makes the row of this key text hold an image of entry `seq` (`None`: no row), given
    /// whether a row is stored; runs `before_write` once the image has decoded, then writes.
    /// Returns the after-image, in recover's encoding.
    #[allow(clippy::type_complexity)]
    pub apply: fn(
        &mut C,
        &str,
        bool,
        Option<(&str, i64)>,
        BeforeWrite<'_, C>,
    ) -> Result<Option<String>, Error>,
    /// Checks that an image of entry `seq` decodes into a row of this key text.
    pub decodes: fn(i64, &Image, &str) -> Result<(), Error>,
    /// An image of entry `seq`, parsed and brought to recover's own encoding.
    pub canonical: fn(i64, &str) -> Result<Image, Error>,
}

impl<C> ModelOps<C> {
    /// The operations of `T` on `C`.
    pub(crate) const fn of<T: Recoverable>() -> Self
    where
        C: RowStore<T>,
    {
        ModelOps {
            entity: T::ENTITY,
            columns: T::COLUMNS,
            load: load::<T, C>,
            apply: apply::<T, C>,
            decodes: decodes::<T>,
            canonical: row_image::parse_canonical::<T>,
        }
    }
}

fn load<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    seq: i64,
    key_text: &str,
) -> Result<Option<String>, Error> {
    let key = row_image::decode_key::<T>(seq, key_text)?;
    conn.load_row(&key)?
        .as_ref()
        .map(row_image::encode)
        .transpose()
}

fn apply<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    key_text: &str,
    stored: bool,
    image: Option<(&str, i64)>,
    before_write: BeforeWrite<'_, C>,
) -> Result<Option<String>, Error> {
    let row = image
        .map(|(text, seq)| row_image::decode::<T>(seq, text, key_text))
        .transpose()?;
    before_write(conn)?;
    match (stored, &row) {
        (true, Some(row)) => drop(conn.restore_row(row)?),
        (false, Some(row)) => drop(conn.insert_row(row)?),
        (true, None) => {
            let key = row_image::decode_key::<T>(image.map_or(0, |(_, seq)| seq), key_text)?;
            conn.delete_row(&key)?;
        }
        (false, None) => {}
    }
    row.as_ref().map(row_image::encode).transpose()
}

fn decodes<T: Recoverable>(seq: i64, image: &Image, key_text: &str) -> Result<(), Error> {
    row_image::decode_map::<T>(seq, image, key_text).map(drop)
}
