//! What undo, redo, restore and the integrity check need of one model, as plain function
//! pointers over one backend: its image codec, and its row read, written and deleted by key
//! text. The engine (`revert`, `entity_check`, and the methods here) takes a [`ModelOps`], so
//! that it is compiled once per backend, not once per model; only these few functions are.

use std::any::Any;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::image::ImageColumn;
use crate::model::{Recoverable, RowStore};
use crate::row_image::{self, Codec};

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
    codec: Codec,
    /// The stored row of this key text (locked on PostgreSQL and MySQL); the seq names the
    /// entry the key came from, in errors.
    #[allow(clippy::type_complexity)]
    load_row: fn(&mut C, i64, &str) -> Result<Option<Box<dyn Any>>, Error>,
    /// Writes a row: restores it where one is stored, else inserts it.
    write_row: fn(&mut C, &dyn Any, bool) -> Result<(), Error>,
    /// Deletes the row of this key text.
    delete_row: fn(&mut C, &str) -> Result<(), Error>,
    /// Checks that a key text of entry `seq` is a key of the model.
    parse_key: fn(i64, &str) -> Result<(), Error>,
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
            codec: Codec::of::<T>(),
            load_row: |conn, seq, key_text| {
                let key = row_image::decode_key::<T>(seq, key_text)?;
                let row = conn.load_row(&key)?;
                Ok(row.map(|row| Box::new(row) as Box<dyn Any>))
            },
            write_row: |conn, row, stored| {
                let row = row_image::downcast::<T>(T::ENTITY, row)?;
                match stored {
                    true => conn.restore_row(row)?,
                    false => conn.insert_row(row)?,
                };
                Ok(())
            },
            delete_row: |conn, key_text| {
                conn.delete_row(&row_image::decode_key::<T>(0, key_text)?)?;
                Ok(())
            },
            parse_key: |seq, key_text| row_image::decode_key::<T>(seq, key_text).map(drop),
        }
    }

    /// Checks that a key text of entry `seq` is a key of the model
    /// ([`Error::CorruptJournal`] if not).
    pub(crate) fn check_key(&self, seq: i64, key_text: &str) -> Result<(), Error> {
        (self.parse_key)(seq, key_text)
    }

    /// The stored row of this key text (locked on PostgreSQL and MySQL), as its image; the
    /// seq names the entry the key came from, in errors.
    pub(crate) fn load(
        &self,
        conn: &mut C,
        seq: i64,
        key_text: &str,
    ) -> Result<Option<String>, Error> {
        (self.load_row)(conn, seq, key_text)?
            .map(|row| self.codec.encode(row.as_ref()))
            .transpose()
    }

    /// Makes the row of this key text hold an image of entry `seq` (`None`: no row), given
    /// whether a row is stored; runs `before_write` once the image has decoded, then writes.
    /// Returns the after-image, in recover's encoding.
    pub(crate) fn apply(
        &self,
        conn: &mut C,
        key_text: &str,
        stored: bool,
        image: Option<(&str, i64)>,
        before_write: BeforeWrite<'_, C>,
    ) -> Result<Option<String>, Error> {
        let row = image
            .map(|(text, seq)| self.codec.decode(seq, text, key_text))
            .transpose()?;
        before_write(conn)?;
        match (stored, &row) {
            (_, Some(row)) => (self.write_row)(conn, row.as_ref(), stored)?,
            (true, None) => (self.delete_row)(conn, key_text)?,
            (false, None) => {}
        }
        row.map(|row| self.codec.encode(row.as_ref())).transpose()
    }

    /// Checks that an image of entry `seq` decodes into a row of this key text.
    pub(crate) fn decodes(&self, seq: i64, image: &Image, key_text: &str) -> Result<(), Error> {
        self.codec.decode_map(seq, image, key_text).map(drop)
    }

    /// An image of entry `seq`, parsed and brought to recover's own encoding.
    pub(crate) fn canonical(&self, seq: i64, text: &str) -> Result<Image, Error> {
        self.codec.parse_canonical(seq, text)
    }
}
