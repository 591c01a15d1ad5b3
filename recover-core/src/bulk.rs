//! Bulk recording: `update_where` and `delete_where`, many rows in a few statements.
//!
//! The before-images are read with one `SELECT .. WHERE filter` (locking the rows on
//! PostgreSQL and MySQL), the rows changed with one `UPDATE` or `DELETE` with the same filter,
//! the after-images read back by key, 1,000 keys a statement, and the entries inserted 100 to
//! a statement: a handful of round trips for thousands of rows, not one per row.

use diesel::expression::{AppearsOnTable, Expression, NonAggregate};
use diesel::query_builder::QueryId;
use diesel::sql_types::BoolOrNullableBool;
use diesel::AsChangeset;

use crate::error::Error;
use crate::history::Op;
use crate::image;
use crate::model::{Recoverable, RowStore};
use crate::record::{Change, Recording};

/// A Diesel filter expression on `T`'s table that [`Journal::update_where`] and
/// [`Journal::delete_where`] take: any boolean expression of its columns, such as
/// `accounts::balance.lt(0)` or `accounts::status.eq("closed").and(accounts::note.is_null())`.
///
/// Implemented for every such expression that renders on each backend recover is built with.
///
/// [`Journal::update_where`]: crate::Journal::update_where
/// [`Journal::delete_where`]: crate::Journal::delete_where
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a filter on the table of `{T}`",
    label = "expected a boolean Diesel expression on the columns of `{T}`'s table",
    note = "write it as for `{T}`'s table's `.filter(..)`, e.g. `accounts::balance.lt(0)`"
)]
pub trait BulkFilter<T: Recoverable>:
    Expression<SqlType: BoolOrNullableBool>
    + AppearsOnTable<T::Table>
    + NonAggregate
    + QueryId
    + Clone
    + SqlOnEveryBackend
{
}

impl<T, F> BulkFilter<T> for F
where
    T: Recoverable,
    F: Expression<SqlType: BoolOrNullableBool>
        + AppearsOnTable<T::Table>
        + NonAggregate
        + QueryId
        + Clone
        + SqlOnEveryBackend,
{
}

/// A Diesel changeset on `T`'s table that [`Journal::update_where`] takes: what `.set(..)`
/// takes, such as `accounts::status.eq("frozen")` or a tuple of such assignments.
///
/// [`Journal::update_where`]: crate::Journal::update_where
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a changeset of the table of `{T}`",
    label = "expected what `diesel::update(..).set(..)` takes for `{T}`'s table",
    note = "write it as for `.set(..)`, e.g. `accounts::status.eq(\"frozen\")` or a tuple of such assignments"
)]
pub trait BulkChanges<T: Recoverable>:
    AsChangeset<Target = T::Table, Changeset: SqlOnEveryBackend>
{
}

impl<T, V> BulkChanges<T> for V
where
    T: Recoverable,
    V: AsChangeset<Target = T::Table, Changeset: SqlOnEveryBackend>,
{
}

/// Declares a trait that is `QueryFragment<$backend>` when `$feature` is on, and holds for
/// every type otherwise: a bound that asks for SQL only on the backends recover is built with.
macro_rules! sql_on {
    ($name:ident, $feature:literal, $backend:ty) => {
        #[doc = concat!("Renders as SQL on ", stringify!($backend), " (when recover's `", $feature, "` feature is on).")]
        #[cfg(feature = $feature)]
        #[doc(hidden)]
        pub trait $name: diesel::query_builder::QueryFragment<$backend> {}
        #[cfg(feature = $feature)]
        impl<Q: diesel::query_builder::QueryFragment<$backend> + ?Sized> $name for Q {}

        #[doc = concat!("Renders as SQL on ", stringify!($backend), " (when recover's `", $feature, "` feature is on).")]
        #[cfg(not(feature = $feature))]
        #[doc(hidden)]
        pub trait $name {}
        #[cfg(not(feature = $feature))]
        impl<Q: ?Sized> $name for Q {}
    };
}

sql_on!(SqlOnSqlite, "sqlite", diesel::sqlite::Sqlite);
sql_on!(SqlOnPg, "postgres", diesel::pg::Pg);
sql_on!(SqlOnMysql, "mysql", diesel::mysql::Mysql);

/// Renders as SQL on every backend recover is built with.
#[doc(hidden)]
pub trait SqlOnEveryBackend: SqlOnSqlite + SqlOnPg + SqlOnMysql {}

impl<Q: SqlOnSqlite + SqlOnPg + SqlOnMysql + ?Sized> SqlOnEveryBackend for Q {}

/// A query run as a prepared statement of its own and closed after use, never cached.
///
/// MySQL reports a deadlock in a locking read of many rows after the result set's header;
/// the C client then leaves the statement waiting for rows, and the next run of a cached
/// statement hangs. The bulk read of the before-images runs through this on MySQL.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Uncached<Q>(pub Q);

impl<Q> diesel::query_builder::QueryId for Uncached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Uncached<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, DB> diesel::query_builder::QueryFragment<DB> for Uncached<Q>
where
    DB: diesel::backend::Backend,
    Q: diesel::query_builder::QueryFragment<DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out)
    }
}

impl<Q, C> diesel::RunQueryDsl<C> for Uncached<Q> {}

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
        let key = image::encode_key::<T>(&old.key())?;
        if image::encode_key::<T>(&new.key())? != key {
            return Err(KEY_CHANGED);
        }
        let (old, new) = (image::encode(old)?, image::encode(new)?);
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
                key: image::encode_key::<T>(&old.key())?,
                before: Some(image::encode(old)?),
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
