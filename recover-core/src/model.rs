//! What `#[derive(Recoverable)]` implements: the model's description and its row access, with
//! the filters and changesets its bulk access takes.

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, NonAggregate};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDsl;
use diesel::sql_types::BoolOrNullableBool;
use diesel::AsChangeset;
use diesel::{Connection, QueryResult, QuerySource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::any::Any;
use std::marker::PhantomData;

use diesel::deserialize::{self, FromSqlRow};
use diesel::row::Row;
use diesel::sql_types::Untyped;

use crate::backend::{JournalConn, SqlOnEveryBackend};
use crate::error::Error;
use crate::image::{ImageColumn, ImageReader, ImageWriter};
use crate::row_access::{self, RowAccess, RowReader, RowShape, SqlTexts, Statement};
use crate::triggers::{SqlKind, TriggerSpec};

/// A Diesel model whose changes `recover` can journal and revert.
///
/// Implement it with `#[derive(Recoverable)]`; the derive reads the model's
/// `#[diesel(table_name = .., primary_key(..))]` and `column_name` attributes.
pub trait Recoverable: Sized + 'static {
    /// The primary key: the key field's type, or the tuple of the key fields' types in
    /// `primary_key(..)` order.
    type Key: Serialize + DeserializeOwned + Clone + std::fmt::Debug + 'static;

    /// The model's Diesel table (`accounts::table`): what `update_where` and `delete_where`
    /// filters and changesets are checked against.
    type Table: diesel::Table;

    /// The entity name stored in the journal: the table's name.
    const ENTITY: &'static str;

    /// The columns an image holds (every column but the `#[recover(skip)]` ones).
    const COLUMNS: &'static [ImageColumn];

    /// The SQL names of the key columns, in the key's order (`primary_key(..)`).
    const KEY_COLUMNS: &'static [&'static str];

    /// The row's columns as the engine writes its statements.
    #[doc(hidden)]
    const ROW: RowShape;

    /// What each image column's SQL type asks of a capture trigger, in `COLUMNS` order.
    #[doc(hidden)]
    fn column_kinds() -> Vec<SqlKind>;

    /// This row's key.
    fn key(&self) -> Self::Key;

    #[doc(hidden)]
    fn write_image(&self, image: &mut ImageWriter) -> Result<(), Error>;

    #[doc(hidden)]
    fn from_image(image: &ImageReader<'_>) -> Result<Self, Error>;
}

/// A connection on which rows of `T` can be read and written: implemented by
/// `#[derive(Recoverable)]` for every connection type whose backend feature is on.
///
/// Public operations take `conn: &mut impl RowStore<T>`, so that `journal.undo::<Account>(..)`
/// names the model alone.
///
/// The model gives its table, and binds and reads its columns one by one; recover's engine
/// (compiled once per backend) writes and runs the statements.
pub trait RowStore<T: Recoverable>: JournalConn {
    /// Writes the table's name, as Diesel does (schema and quoting included).
    #[doc(hidden)]
    fn walk_table(out: AstPass<'_, '_, Self::Backend>) -> QueryResult<()>;
    /// Binds the row's field of this index (in `Recoverable::ROW.columns` order).
    #[doc(hidden)]
    fn bind_field<'b>(
        row: &'b T,
        field: usize,
        out: &mut AstPass<'_, 'b, Self::Backend>,
    ) -> QueryResult<()>;
    /// Binds the key's part at this position (in `primary_key(..)` order).
    #[doc(hidden)]
    fn bind_key<'b>(
        key: &'b T::Key,
        position: usize,
        out: &mut AstPass<'_, 'b, Self::Backend>,
    ) -> QueryResult<()>;
    /// Its statements' SQL text, rendered on first use: a static of the impl.
    #[doc(hidden)]
    fn sql_texts() -> &'static SqlTexts;
    /// Reads a row of every column, in field order.
    #[doc(hidden)]
    fn read_row(row: &mut RowReader<'_, Self::Backend>) -> deserialize::Result<T>;

    /// Reads the row (locking it on PostgreSQL and MySQL): [`load_row`], which only a
    /// concrete connection type can name.
    #[doc(hidden)]
    fn load_row(&mut self, key: &T::Key) -> QueryResult<Option<T>>;
    /// Inserts every column.
    #[doc(hidden)]
    fn insert_row(&mut self, row: &T) -> QueryResult<usize> {
        row_access::execute(self, &access::<T, Self>(), Statement::Insert, row)
    }
    /// Writes every non-key column (skipped ones included).
    #[doc(hidden)]
    fn update_row(&mut self, row: &T) -> QueryResult<usize> {
        update_fields(self, row, Statement::Update, T::ROW.updated)
    }
    /// Writes the non-key image columns, leaving skipped columns as they are.
    #[doc(hidden)]
    fn restore_row(&mut self, row: &T) -> QueryResult<usize> {
        update_fields(self, row, Statement::Restore, T::ROW.restored)
    }
    /// Deletes the row.
    #[doc(hidden)]
    fn delete_row(&mut self, key: &T::Key) -> QueryResult<usize> {
        row_access::execute(self, &access::<T, Self>(), Statement::Delete, key)
    }
    /// Reads (and locks) every row `filter` matches, in key order.
    #[doc(hidden)]
    fn load_where<F: BulkFilter<T>>(&mut self, filter: F) -> diesel::QueryResult<Vec<T>>;
    /// Reads the rows with these keys, in key order (the order `load_where` returns).
    #[doc(hidden)]
    fn load_rows(&mut self, keys: &[T::Key]) -> diesel::QueryResult<Vec<T>>;
    /// `UPDATE .. SET changes WHERE filter`; returns the number of rows matched.
    #[doc(hidden)]
    fn update_where<F: BulkFilter<T>, V: BulkChanges<T>>(
        &mut self,
        filter: F,
        changes: V,
    ) -> diesel::QueryResult<usize>;
    /// `DELETE .. WHERE filter`; returns the number of rows deleted.
    #[doc(hidden)]
    fn delete_where<F: BulkFilter<T>>(&mut self, filter: F) -> diesel::QueryResult<usize>;
}

/// `T`'s table on `C`, as the engine reaches it.
fn access<T: Recoverable, C: RowStore<T>>() -> RowAccess<C::Backend> {
    RowAccess {
        shape: T::ROW,
        table: C::walk_table,
        bind_field: bind_field::<T, C>,
        bind_key: bind_key::<T, C>,
        lock: C::LOCKING_READ,
        texts: C::sql_texts(),
    }
}

/// Reads the row with this key (locking it on PostgreSQL and MySQL): the body of
/// `RowStore::load_row`, which the derive writes for each connection type.
#[doc(hidden)]
#[allow(private_bounds)]
pub fn load_row<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    key: &T::Key,
) -> QueryResult<Option<T>>
where
    Loaded<T, C>: FromSqlRow<Untyped, C::Backend>,
{
    let access = access::<T, C>();
    let row = row_access::load_one::<C, Loaded<T, C>>(conn, &access, key)?;
    Ok(row.map(|Loaded(row, _)| row))
}

/// Writes these fields of `row`, found by its key.
fn update_fields<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    row: &T,
    statement: Statement,
    fields: &'static [usize],
) -> QueryResult<usize> {
    if fields.is_empty() {
        // Nothing but key columns: nothing to write, only a row to find.
        return conn
            .load_row(&row.key())
            .map(|row| usize::from(row.is_some()));
    }
    row_access::execute(conn, &access::<T, C>(), statement, row)
}

fn bind_field<'b, T: Recoverable, C: RowStore<T>>(
    row: &'b dyn Any,
    field: usize,
    out: &mut AstPass<'_, 'b, C::Backend>,
) -> QueryResult<()> {
    C::bind_field(downcast::<T>(row)?, field, out)
}

fn bind_key<'b, T: Recoverable, C: RowStore<T>>(
    key: &'b dyn Any,
    position: usize,
    out: &mut AstPass<'_, 'b, C::Backend>,
) -> QueryResult<()> {
    C::bind_key(downcast::<T::Key>(key)?, position, out)
}

fn downcast<V: Any>(value: &dyn Any) -> QueryResult<&V> {
    value.downcast_ref().ok_or_else(|| {
        diesel::result::Error::QueryBuilderError(
            format!("recover: expected a {}", std::any::type_name::<V>()).into(),
        )
    })
}

/// A row of `T` as `C` reads it.
#[doc(hidden)]
pub struct Loaded<T, C>(T, PhantomData<fn() -> C>);

/// `Loaded` read on each backend's connection. One impl per backend: an impl generic over the
/// backend would overlap Diesel's `QueryableByName` rows.
macro_rules! loaded_on {
    ($($feature:literal: $conn:ty, $backend:ty;)*) => {$(
        #[cfg(feature = $feature)]
        impl<T: Recoverable> FromSqlRow<Untyped, $backend> for Loaded<T, $conn>
        where
            $conn: RowStore<T>,
        {
            fn build_from_row<'a>(row: &impl Row<'a, $backend>) -> deserialize::Result<Self> {
                <$conn>::read_row(&mut RowReader::new(row)).map(|row| Loaded(row, PhantomData))
            }
        }
    )*};
}

loaded_on! {
    "sqlite": diesel::sqlite::SqliteConnection, diesel::sqlite::Sqlite;
    "postgres": diesel::pg::PgConnection, diesel::pg::Pg;
    "mysql": diesel::mysql::MysqlConnection, diesel::mysql::Mysql;
}

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
    AsChangeset<Target = T::Table, Changeset: SqlOnEveryBackend> + Clone
{
}

impl<T, V> BulkChanges<T> for V
where
    T: Recoverable,
    V: AsChangeset<Target = T::Table, Changeset: SqlOnEveryBackend> + Clone,
{
}

/// `UPDATE table SET changes WHERE filter`, the statement of `update_where`.
///
/// Written out here rather than through `diesel::update(..).filter(..).set(..)`: from Diesel
/// 2.4 on that statement renders only where the changeset implements a trait private to
/// Diesel (it refuses its batch changesets a `WHERE` clause), so generic code over any
/// [`BulkChanges`] cannot name the bound. A batch changeset (a slice of models, Diesel 2.4)
/// is not a changeset this statement can take: the database refuses the SQL it renders.
/// Like Diesel's own `UPDATE`, it is never cached (`Option` fields change its SQL).
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct UpdateWhere<Tab: QuerySource, F, V> {
    from: Tab::FromClause,
    filter: F,
    changes: V,
}

impl<Tab: QuerySource, F, V> UpdateWhere<Tab, F, V> {
    /// The update of `table`'s rows that `filter` matches.
    pub fn new<C>(table: Tab, filter: F, changes: C) -> Self
    where
        C: AsChangeset<Target = Tab, Changeset = V>,
    {
        UpdateWhere {
            from: table.from_clause(),
            filter,
            changes: changes.as_changeset(),
        }
    }
}

impl<Tab: QuerySource, F, V> QueryId for UpdateWhere<Tab, F, V> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Tab, F, V, DB> QueryFragment<DB> for UpdateWhere<Tab, F, V>
where
    DB: Backend,
    Tab: QuerySource,
    Tab::FromClause: QueryFragment<DB>,
    F: QueryFragment<DB>,
    V: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if self.changes.is_noop(out.backend())? {
            return Err(diesel::result::Error::QueryBuilderError(Box::new(
                diesel::result::EmptyChangeset,
            )));
        }
        out.unsafe_to_cache_prepared();
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

impl<Tab: QuerySource, F, V, C: Connection> RunQueryDsl<C> for UpdateWhere<Tab, F, V> {}

/// The value a `#[recover(skip)]` field without `default = ".."` takes when an image becomes a
/// row again: its type's `Default`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the skipped field's type `{Self}` has no `Default`",
    label = "a skipped field needs a value when an image becomes a row again",
    note = "give the field a default function: #[recover(skip, default = \"path::to::fn\")], or implement Default for `{Self}`"
)]
pub trait SkippedDefault {
    /// `Default::default()`.
    fn skipped_default() -> Self;
}

impl<T: Default> SkippedDefault for T {
    fn skipped_default() -> Self {
        T::default()
    }
}

/// What `T`'s capture triggers are generated from.
pub(crate) fn trigger_spec<T: Recoverable>() -> TriggerSpec {
    TriggerSpec {
        entity: T::ENTITY,
        columns: T::COLUMNS,
        kinds: T::column_kinds(),
        key: T::KEY_COLUMNS,
    }
}
