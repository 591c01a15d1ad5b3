//! The hot path: recording one change, and the bookkeeping of one changeset.

use crate::backend::JournalConn;
use crate::changeset_id::ChangesetId;
use crate::clock::now_micros;
use crate::error::Error;
use crate::history::Op;
use crate::model::{Recoverable, RowStore};
use crate::row_image;
use crate::schema::{ChangesetRow, NewEntryRow, Stack};
use crate::triggers::Context;

/// The entries one call (or one changeset block) appends: they share a changeset id, the
/// journal's actor and reason, and one timestamp.
#[doc(hidden)]
pub struct Recording<'j> {
    pub(crate) settings: Settings<'j>,
    first: Option<i64>,
    last: i64,
    /// The seq taken for the next entry before its change was written (`Some(None)`: the
    /// backend draws it when the entry is inserted).
    reserved: Option<Option<i64>>,
    recorded_at: i64,
}

/// What a recording takes from its [`Journal`](crate::Journal): who acts and why, stored with
/// every entry, and whether undo, redo and restore overwrite a row changed outside recover.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings<'j> {
    pub actor: Option<&'j str>,
    pub reason: Option<&'j str>,
    pub force: bool,
}

/// One row's new change in a bulk recording: its key's text and its images.
pub(crate) struct Change {
    pub key: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// One entry to append, before its seq is known.
pub(crate) struct NewEntry<'a> {
    pub entity: &'static str,
    pub key: &'a str,
    pub op: Op,
    pub before: Option<String>,
    pub after: Option<String>,
    pub undoes: Option<i64>,
    pub stack: Stack,
    /// The entry follows a write of its row (a capture trigger may have journaled it).
    pub after_write: bool,
}

impl<'j> Recording<'j> {
    pub(crate) fn new(settings: Settings<'j>) -> Self {
        Recording {
            settings,
            first: None,
            last: 0,
            reserved: None,
            recorded_at: now_micros(),
        }
    }

    /// Takes the seq of the next entry. Called before the change writes anything, so that the
    /// only statement left after the row write is the entry's insert (a single change needs no
    /// savepoint inside the caller's transaction, see `JournalConn::atomically`).
    pub(crate) fn reserve<C: JournalConn>(
        &mut self,
        conn: &mut C,
        entity: &str,
        key: &str,
    ) -> Result<(), Error> {
        if self.reserved.is_none() {
            let previous = self.first.map(|_| self.last);
            self.reserved = Some(conn.next_seq(previous, entity, key)?);
        }
        Ok(())
    }

    /// Appends one entry; returns its seq.
    pub(crate) fn append<C: JournalConn>(
        &mut self,
        conn: &mut C,
        entry: NewEntry<'_>,
    ) -> Result<i64, Error> {
        self.reserve(conn, entry.entity, entry.key)?;
        let seq = conn.append_entry(&NewEntryRow {
            seq: self.reserved.take().flatten(),
            changeset_id: self.first,
            entity: entry.entity,
            entity_key: entry.key,
            op: entry.op.as_str(),
            before_image: entry.before.as_deref(),
            after_image: entry.after.as_deref(),
            undoes: entry.undoes,
            stack: entry.stack,
            after_write: entry.after_write,
            actor: self.settings.actor,
            reason: self.settings.reason,
            recorded_at: self.recorded_at,
        })?;
        self.first.get_or_insert(seq);
        self.last = seq;
        Ok(seq)
    }

    /// Appends the entries of many new changes of one entity type at once (bulk recording):
    /// their seqs are taken in one statement and the entries inserted in multi-row inserts.
    pub(crate) fn append_changes<C: JournalConn>(
        &mut self,
        conn: &mut C,
        entity: &'static str,
        op: Op,
        changes: &[Change],
    ) -> Result<(), Error> {
        debug_assert!(
            self.reserved.is_none(),
            "a seq reserved for a single change"
        );
        let previous = self.first.map(|_| self.last);
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        let seqs = conn.take_seqs(previous, entity, &keys)?;
        let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
            return Ok(());
        };
        let changeset_id = self.first.unwrap_or(first);
        let rows: Vec<(i64, NewEntryRow<'_>)> = seqs
            .iter()
            .zip(changes)
            .map(|(&seq, change)| {
                let row = NewEntryRow {
                    seq: Some(seq),
                    changeset_id: Some(changeset_id),
                    entity,
                    entity_key: &change.key,
                    op: op.as_str(),
                    before_image: change.before.as_deref(),
                    after_image: change.after.as_deref(),
                    undoes: None,
                    stack: Stack::Push,
                    after_write: false,
                    actor: self.settings.actor,
                    reason: self.settings.reason,
                    recorded_at: self.recorded_at,
                };
                (seq, row)
            })
            .collect();
        conn.insert_entries(&rows)?;
        self.first = Some(changeset_id);
        self.last = last;
        Ok(())
    }

    /// Runs a bulk write with this recording as the capture context: if the table is captured,
    /// its triggers journal each changed row into this changeset, with this journal's actor and
    /// reason. Returns whether they did (then the caller appends nothing itself).
    pub(crate) fn through_triggers<C: JournalConn, R>(
        &mut self,
        conn: &mut C,
        write: impl FnOnce(&mut C) -> Result<R, Error>,
    ) -> Result<(R, bool), Error> {
        let context = Context {
            active: true,
            changeset_id: self.first,
            last_seq: self.first.map(|_| self.last),
            actor: self.settings.actor.map(str::to_owned),
            reason: self.settings.reason.map(str::to_owned),
            recorded_at: Some(self.recorded_at),
        };
        let previous = conn.enter_context(&context)?;
        let result = write(conn)?;
        let done = conn.leave_context(&previous)?;
        match (done.changeset_id, done.last_seq) {
            (Some(first), Some(last)) if done.last_seq != context.last_seq => {
                self.first = Some(first);
                self.last = last;
                Ok((result, true))
            }
            _ => Ok((result, false)),
        }
    }

    /// Closes the changeset: a changeset of several entries gets its `recover_changesets` row
    /// (the range of its seqs); a single entry carries its own metadata.
    pub(crate) fn finish<C: JournalConn>(self, conn: &mut C) -> Result<ChangesetId, Error> {
        match self.first {
            None => Ok(ChangesetId::EMPTY),
            Some(first) if first == self.last => Ok(ChangesetId(first)),
            Some(first) => {
                conn.append_changeset(&ChangesetRow {
                    id: first,
                    last_seq: self.last,
                    actor: self.settings.actor.map(str::to_owned),
                    reason: self.settings.reason.map(str::to_owned),
                    recorded_at: self.recorded_at,
                })?;
                Ok(ChangesetId(first))
            }
        }
    }
}

/// Records an insert: the row must not exist yet.
pub(crate) fn insert<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    row: &T,
) -> Result<(), Error> {
    let key = row.key();
    let key_text = row_image::encode_key::<T>(&key)?;
    // The row is absent, so there is no row lock to take: lock the entity instead, so that a
    // concurrent insert or undelete of the same key waits for this one.
    conn.lock_entity(T::ENTITY, &key_text)?;
    if conn.load_row(&key)?.is_some() {
        return Err(Error::AlreadyExists {
            entity: T::ENTITY,
            key: key_text,
        });
    }
    let after = row_image::encode(row)?;
    rec.reserve(conn, T::ENTITY, &key_text)?;
    conn.insert_row(row)?;
    rec.append(
        conn,
        NewEntry::change(T::ENTITY, &key_text, Op::Insert, None, Some(after)),
    )?;
    Ok(())
}

/// Records an update. Round trips: read (and lock) the stored row as the before-image, write
/// every column, append the entry (plus the seq lookup on SQLite, one B-tree page read).
pub(crate) fn update<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    row: &T,
) -> Result<(), Error> {
    let key = row.key();
    let key_text = row_image::encode_key::<T>(&key)?;
    let stored = stored_row(conn, &key, &key_text)?;
    let before = row_image::encode(&stored)?;
    let after = row_image::encode(row)?;
    rec.reserve(conn, T::ENTITY, &key_text)?;
    conn.update_row(row)?;
    rec.append(
        conn,
        NewEntry::change(T::ENTITY, &key_text, Op::Update, Some(before), Some(after)),
    )?;
    Ok(())
}

/// Records a delete of the row with `key`; the before-image is the stored row.
pub(crate) fn delete<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &T::Key,
) -> Result<(), Error> {
    let key_text = row_image::encode_key::<T>(key)?;
    let stored = stored_row(conn, key, &key_text)?;
    let before = row_image::encode(&stored)?;
    rec.reserve(conn, T::ENTITY, &key_text)?;
    conn.delete_row(key)?;
    rec.append(
        conn,
        NewEntry::change(T::ENTITY, &key_text, Op::Delete, Some(before), None),
    )?;
    Ok(())
}

fn stored_row<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    key: &T::Key,
    key_text: &str,
) -> Result<T, Error> {
    conn.load_row(key)?.ok_or_else(|| Error::NotFound {
        entity: T::ENTITY,
        key: key_text.to_owned(),
    })
}

impl<'a> NewEntry<'a> {
    /// A new change (insert, update, delete, restore): it clears the redo stack.
    pub(crate) fn change(
        entity: &'static str,
        key: &'a str,
        op: Op,
        before: Option<String>,
        after: Option<String>,
    ) -> Self {
        NewEntry {
            entity,
            key,
            op,
            before,
            after,
            undoes: None,
            stack: Stack::Push,
            after_write: true,
        }
    }
}
