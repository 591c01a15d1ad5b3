//! Bulk recording: `update_where` and `delete_where`, many rows in a few statements.
//!
//! The before-images are read with one `SELECT .. WHERE filter` (locking the rows on
//! PostgreSQL and MySQL), the rows changed with one `UPDATE` or `DELETE` with the same filter,
//! the after-images read back by key, 1,000 keys a statement, and the entries inserted 100 to
//! a statement: a handful of round trips for thousands of rows, not one per row.

use crate::error::Error;
use crate::history::Op;
use crate::model::{BulkChanges, BulkFilter, Recoverable, RowStore};
use crate::record::{Change, Recording};
use crate::row_image;

/// Records an update of every row `filter` matches: one entry per row, before- and
/// after-image, in the caller's recording (one changeset).
pub(crate) fn update_where<T, C, F, V>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    filter: F,
    changes: V,
) -> Result<usize, Error>
where
    T: Recoverable,
    C: RowStore<T>,
    F: BulkFilter<T>,
    V: BulkChanges<T>,
{
    let before = conn.load_where(filter.clone())?;
    if before.is_empty() {
        return Err(Error::NoMatch { entity: T::ENTITY });
    }
    let (updated, captured) =
        rec.through_triggers(conn, |conn| Ok(conn.update_where(filter, changes)?))?;
    if updated != before.len() {
        return Err(matching_rows_changed::<T>(before.len(), updated));
    }
    let keys: Vec<T::Key> = before.iter().map(T::key).collect();
    let after = conn.load_rows(&keys)?;
    if after.len() != before.len() {
        return Err(KEY_CHANGED);
    }
    let mut entries = Vec::with_capacity(before.len());
    for (old, new) in before.iter().zip(&after) {
        let key = row_image::encode_key::<T>(&old.key())?;
        if row_image::encode_key::<T>(&new.key())? != key {
            return Err(KEY_CHANGED);
        }
        let (old, new) = (row_image::encode(old)?, row_image::encode(new)?);
        // On a captured table the triggers journaled every row whose values changed; the rows
        // that matched but kept their values are journaled here, as without capture.
        if !captured || old == new {
            entries.push(Change {
                key,
                before: Some(old),
                after: Some(new),
            });
        }
    }
    rec.append_changes(conn, T::ENTITY, Op::Update, &entries)?;
    Ok(updated)
}

/// Records a delete of every row `filter` matches: one entry per row, with its before-image.
pub(crate) fn delete_where<T, C, F>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    filter: F,
) -> Result<usize, Error>
where
    T: Recoverable,
    C: RowStore<T>,
    F: BulkFilter<T>,
{
    let before = conn.load_where(filter.clone())?;
    if before.is_empty() {
        return Err(Error::NoMatch { entity: T::ENTITY });
    }
    let (deleted, captured) = rec.through_triggers(conn, |conn| Ok(conn.delete_where(filter)?))?;
    if deleted != before.len() {
        return Err(matching_rows_changed::<T>(before.len(), deleted));
    }
    if captured {
        return Ok(deleted);
    }
    let entries = before
        .iter()
        .map(|old| {
            Ok(Change {
                key: row_image::encode_key::<T>(&old.key())?,
                before: Some(row_image::encode(old)?),
                after: None,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    rec.append_changes(conn, T::ENTITY, Op::Delete, &entries)?;
    Ok(entries.len())
}

const KEY_CHANGED: Error = Error::Unsupported(
    "update_where cannot change key columns: a row's key is its identity in the journal \
     (delete the rows and insert them under their new keys instead); nothing was written",
);

/// A row began or stopped matching the filter between the read of the before-images and the
/// write (another transaction inserted or changed one; possible on PostgreSQL's READ
/// COMMITTED): the write would have changed a row without its entry, so it is rolled back.
fn matching_rows_changed<T: Recoverable>(read: usize, written: usize) -> Error {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    let message = format!(
        "{}: {read} rows matched the filter when their before-images were read, {written} \
         when they were written; a concurrent transaction changed which rows match",
        T::ENTITY
    );
    Error::Retryable(DieselError::DatabaseError(
        DatabaseErrorKind::SerializationFailure,
        Box::new(message),
    ))
}
