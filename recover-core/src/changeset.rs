//! Changesets: several recorded changes, one id, all-or-nothing, undone together.

use std::collections::HashSet;

use crate::backend::{JournalConn, Scope};
use crate::bulk;
use crate::changeset_id::ChangesetId;
use crate::error::Error;
use crate::model::{BulkChanges, BulkFilter, Recoverable, RowStore};
use crate::model_ops::ModelOps;
use crate::record::{self, Recording};
use crate::registry;
use crate::revert::{self, At};
use crate::row_image;

/// The recording handle inside [`Journal::changeset`](crate::Journal::changeset): every change
/// made through it joins the one changeset, in the one transaction.
pub struct ChangesetTx<'c, 'j, C> {
    conn: &'c mut C,
    rec: Recording<'j>,
}

impl<'c, 'j, C: JournalConn> ChangesetTx<'c, 'j, C> {
    pub(crate) fn new(conn: &'c mut C, rec: Recording<'j>) -> Self {
        ChangesetTx { conn, rec }
    }

    pub(crate) fn finish(self) -> Result<ChangesetId, Error> {
        self.rec.finish(self.conn)
    }

    /// Records an insert (see [`Journal::insert`](crate::Journal::insert)).
    pub fn insert<T: Recoverable>(&mut self, row: &T) -> Result<(), Error>
    where
        C: RowStore<T>,
    {
        record::insert(self.conn, &mut self.rec, row)
    }

    /// Records an update (see [`Journal::update`](crate::Journal::update)).
    pub fn update<T: Recoverable>(&mut self, row: &T) -> Result<(), Error>
    where
        C: RowStore<T>,
    {
        record::update(self.conn, &mut self.rec, row)
    }

    /// Records a delete (see [`Journal::delete`](crate::Journal::delete)).
    pub fn delete<T: Recoverable>(&mut self, row: &T) -> Result<(), Error>
    where
        C: RowStore<T>,
    {
        record::delete(self.conn, &mut self.rec, &row.key())
    }

    /// Records an update of every row `filter` matches (see
    /// [`Journal::update_where`](crate::Journal::update_where)); returns how many.
    pub fn update_where<T: Recoverable>(
        &mut self,
        filter: impl BulkFilter<T>,
        changes: impl BulkChanges<T>,
    ) -> Result<usize, Error>
    where
        C: RowStore<T>,
    {
        // In a savepoint of its own: an error leaves no row written without its entry, even
        // if the block goes on.
        let rec = &mut self.rec;
        self.conn.atomically(Scope::Many, |conn| {
            bulk::update_where::<T, _, _, _>(conn, rec, filter, changes)
        })
    }

    /// Records a delete of every row `filter` matches (see
    /// [`Journal::delete_where`](crate::Journal::delete_where)); returns how many.
    pub fn delete_where<T: Recoverable>(
        &mut self,
        filter: impl BulkFilter<T>,
    ) -> Result<usize, Error>
    where
        C: RowStore<T>,
    {
        let rec = &mut self.rec;
        self.conn.atomically(Scope::Many, |conn| {
            bulk::delete_where::<T, _, _>(conn, rec, filter)
        })
    }

    /// Undoes the entity's newest change (see [`Journal::undo`](crate::Journal::undo)).
    pub fn undo<T: Recoverable>(&mut self, key: &T::Key) -> Result<(), Error>
    where
        C: RowStore<T>,
    {
        let key = row_image::encode_key::<T>(key)?;
        revert::undo(self.conn, &mut self.rec, &ModelOps::of::<T>(), &key)
    }

    /// Restores the entity (see [`Journal::restore`](crate::Journal::restore)).
    pub fn restore<T: Recoverable>(&mut self, key: &T::Key, at: At) -> Result<(), Error>
    where
        C: RowStore<T>,
    {
        let key = row_image::encode_key::<T>(key)?;
        revert::restore(self.conn, &mut self.rec, &ModelOps::of::<T>(), &key, at)
    }

    /// The connection, for unrecorded work in the same transaction.
    pub fn conn(&mut self) -> &mut C {
        self.conn
    }
}

/// Reverts every entry of a changeset, newest first. The conflict baseline of each entity is
/// the changeset's own last after-image of it.
pub(crate) fn undo_changeset<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    changeset: ChangesetId,
) -> Result<(), Error> {
    if changeset == ChangesetId::EMPTY {
        return Ok(());
    }
    let id = changeset.0;
    let last = conn.changeset_last_seq(id)?.unwrap_or(id);
    let entries = conn.changeset_entries(id, last)?;
    if entries.is_empty() {
        return Err(Error::ChangesetNotFound(changeset));
    }
    let mut seen = HashSet::new();
    for entry in entries.iter().rev() {
        let model = registry::registered::<C>(&entry.entity, None)
            .ok_or_else(|| Error::UnknownEntity(entry.entity.clone()))?;
        let first_of_entity = seen.insert((entry.entity.as_str(), entry.entity_key.as_str()));
        model.revert(conn, rec, entry, first_of_entity)?;
    }
    Ok(())
}
