//! Changesets: several recorded changes, one id, all-or-nothing.

use crate::backend::{JournalConn, Scope};
use crate::bulk::{self, BulkChanges, BulkFilter};
use crate::error::Error;
use crate::model::{Recoverable, RowStore};
use crate::record::{self, Recording};
use crate::revert::{self, At};

/// The id of a changeset: every recording call gets one, and `Journal::undo_changeset` takes it.
///
/// It is the seq of the changeset's first journal entry (`recover_journal.changeset_id`), so it
/// can be stored and turned back into an id with [`ChangesetId::from`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangesetId(pub(crate) i64);

impl ChangesetId {
    /// The id of a changeset block that recorded nothing; undoing it does nothing.
    pub const EMPTY: ChangesetId = ChangesetId(0);

    /// The id as stored in `recover_journal.changeset_id`.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl From<i64> for ChangesetId {
    fn from(id: i64) -> Self {
        ChangesetId(id)
    }
}

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
        revert::undo(self.conn, &mut self.rec, key)
    }

    /// Restores the entity (see [`Journal::restore`](crate::Journal::restore)).
    pub fn restore<T: Recoverable>(&mut self, key: &T::Key, at: At) -> Result<(), Error>
    where
        C: RowStore<T>,
    {
        revert::restore(self.conn, &mut self.rec, key, at)
    }

    /// The connection, for unrecorded work in the same transaction.
    pub fn conn(&mut self) -> &mut C {
        self.conn
    }
}
