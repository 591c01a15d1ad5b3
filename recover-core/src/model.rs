//! What `#[derive(Recoverable)]` implements: the model's description and its row access.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::backend::JournalConn;
use crate::bulk::{BulkChanges, BulkFilter};
use crate::error::Error;
use crate::image::{ImageReader, ImageWriter};

/// A Diesel model whose changes `recover` can journal and revert.
///
/// Implement it with `#[derive(Recoverable)]`; the derive reads the model's
/// `#[diesel(table_name = .., primary_key(..))]` and `column_name` attributes.
pub trait Recoverable: Sized + 'static {
    /// The primary key: the key field's type, or the tuple of the key fields' types in
    /// `primary_key(..)` order.
    type Key: Serialize + DeserializeOwned + Clone + std::fmt::Debug;

    /// The model's Diesel table (`accounts::table`): what `update_where` and `delete_where`
    /// filters and changesets are checked against.
    type Table: diesel::Table;

    /// The entity name stored in the journal: the table's name.
    const ENTITY: &'static str;

    /// The columns an image holds (every column but the `#[recover(skip)]` ones).
    const COLUMNS: &'static [ImageColumn];

    /// The SQL names of the key columns, in the key's order (`primary_key(..)`).
    const KEY_COLUMNS: &'static [&'static str];

    /// What each image column's SQL type asks of a capture trigger, in `COLUMNS` order.
    #[doc(hidden)]
    fn column_kinds() -> Vec<crate::triggers::SqlKind>;

    /// This row's key.
    fn key(&self) -> Self::Key;

    #[doc(hidden)]
    fn write_image(&self, image: &mut ImageWriter) -> Result<(), Error>;

    #[doc(hidden)]
    fn from_image(image: &ImageReader<'_>) -> Result<Self, Error>;
}

/// One column of a model's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageColumn {
    /// The SQL column name (Diesel's `Column::NAME`).
    pub name: &'static str,
    /// Names the column had in older images (`#[recover(renamed_from = "..")]`).
    pub renamed_from: &'static [&'static str],
    /// Whether it is a key column.
    pub key: bool,
}

/// A connection on which rows of `T` can be read and written: implemented by
/// `#[derive(Recoverable)]` for every connection type whose backend feature is on.
///
/// Public operations take `conn: &mut impl RowStore<T>`, so that `journal.undo::<Account>(..)`
/// names the model alone.
pub trait RowStore<T: Recoverable>: JournalConn {
    /// Reads the row (locking it on PostgreSQL and MySQL).
    #[doc(hidden)]
    fn load_row(&mut self, key: &T::Key) -> diesel::QueryResult<Option<T>>;
    /// Inserts every column.
    #[doc(hidden)]
    fn insert_row(&mut self, row: &T) -> diesel::QueryResult<usize>;
    /// Writes every non-key column (skipped ones included).
    #[doc(hidden)]
    fn update_row(&mut self, row: &T) -> diesel::QueryResult<usize>;
    /// Writes the non-key image columns, leaving skipped columns as they are.
    #[doc(hidden)]
    fn restore_row(&mut self, row: &T) -> diesel::QueryResult<usize>;
    /// Deletes the row.
    #[doc(hidden)]
    fn delete_row(&mut self, key: &T::Key) -> diesel::QueryResult<usize>;
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
