//! One model's rows read and written as data: the engine builds each statement's SQL from the
//! model's column names, and binds and reads its values through the model's per-column
//! functions. Diesel's statement machinery (prepare, bind, cache, step) is so compiled once per
//! backend, not once per model. The statements have no static query id: Diesel caches them by
//! their SQL text, so each is still prepared once per connection.
//!
//! What SQL to run and how to read its rows is this module's; running it is the connection's
//! (`execute`, `get_result`), the one part an async connection would do differently. The
//! model's side (`RowStore`) is in `model`.

use std::any::Any;
use std::sync::OnceLock;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId};
use diesel::row::{Field, Row};
use diesel::sql_types::Untyped;
use diesel::{Connection, OptionalExtension, QueryResult, RunQueryDsl};

/// The columns of a model's row, as the engine writes its statements: written by
/// `#[derive(Recoverable)]` as `Recoverable::ROW`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct RowShape {
    /// Every field's column, in field order (skipped fields included).
    pub columns: &'static [&'static str],
    /// The key columns, as indexes into `columns`, in the key's order.
    pub key: &'static [usize],
    /// What an update writes: every non-key column.
    pub updated: &'static [usize],
    /// What a restore writes: the non-key columns an image holds.
    pub restored: &'static [usize],
}

/// Binds value `index` of a row or key (given as `&dyn Any`) as the next bind parameter.
pub(crate) type BindFn<DB> =
    for<'b, 'p> fn(&'b dyn Any, usize, &mut AstPass<'p, 'b, DB>) -> QueryResult<()>;

/// One model's table on one backend, as the engine reaches it: its row's shape and its
/// functions (`RowStore`'s, behind `dyn Any`).
pub(crate) struct RowAccess<DB: Backend> {
    pub shape: RowShape,
    /// Writes the table's name.
    pub table: fn(AstPass<'_, '_, DB>) -> QueryResult<()>,
    /// Binds the row's field of this index.
    pub bind_field: BindFn<DB>,
    /// Binds the key's part at this position.
    pub bind_key: BindFn<DB>,
    /// What ends a locking read (`" FOR UPDATE"`, or nothing on SQLite).
    pub lock: &'static str,
    /// Its statements' SQL, rendered once.
    pub texts: &'static SqlTexts,
}

/// The error of a bind or read of a column the model does not have: a derive out of step with
/// its engine.
#[doc(hidden)]
pub fn no_such_column(index: usize) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(format!("recover: no column {index}").into())
}

/// The statements the engine runs on one row.
#[derive(Clone, Copy)]
pub(crate) enum Statement {
    /// `SELECT` every column by key (locking where the backend does).
    Select,
    /// `INSERT` every column.
    Insert,
    /// `UPDATE` the non-key columns by the row's key.
    Update,
    /// `UPDATE` the non-key image columns by the row's key.
    Restore,
    /// `DELETE` by key.
    Delete,
}

impl Statement {
    /// Its slot in [`SqlTexts`].
    fn slot(self) -> usize {
        self as usize
    }
}

/// A model's statements on one backend, as SQL text rendered on first use (identifiers quoted
/// as the backend quotes them): the pieces between the bind parameters. Diesel keys its
/// statement cache by this text, so it is built again on every call; from these pieces that
/// costs a few copies. Held in a static of each model's `RowStore` impl.
#[doc(hidden)]
pub struct SqlTexts {
    texts: [OnceLock<Vec<String>>; 5],
}

impl SqlTexts {
    /// No statement rendered yet.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        SqlTexts {
            texts: [const { OnceLock::new() }; 5],
        }
    }
}

/// One statement on one row, with the values it binds: the row (insert, update) or its key
/// (select, delete).
struct RowStatement<'a, DB: Backend> {
    access: &'a RowAccess<DB>,
    statement: Statement,
    values: &'a dyn Any,
}

impl<DB: Backend> RowStatement<'_, DB>
where
    DB::QueryBuilder: Default,
{
    /// The statement's SQL pieces, rendered on first use.
    fn pieces(&self, backend: &DB) -> QueryResult<&'static [String]> {
        let slot = &self.access.texts.texts[self.statement.slot()];
        if let Some(pieces) = slot.get() {
            return Ok(pieces);
        }
        let pieces = self.render(backend)?;
        Ok(slot.get_or_init(|| pieces))
    }

    /// `SELECT "c1", .. FROM "t" WHERE "k1" = ` `` ` AND "k2" = ` ``, and so on: the SQL
    /// between (and around) the bind parameters, which [`RowStatement::binds`] lists.
    fn render(&self, backend: &DB) -> QueryResult<Vec<String>> {
        let shape = &self.access.shape;
        let quoted = |field: usize| -> QueryResult<String> {
            let name = shape
                .columns
                .get(field)
                .ok_or_else(|| no_such_column(field))?;
            let mut sql = DB::QueryBuilder::default();
            sql.push_identifier(name)?;
            Ok(sql.finish())
        };
        let list = |fields: &mut dyn Iterator<Item = usize>| -> QueryResult<String> {
            let names = fields.map(quoted).collect::<QueryResult<Vec<_>>>()?;
            Ok(names.join(", "))
        };
        let table = {
            let mut sql = DB::QueryBuilder::default();
            TableName(self.access.table).to_sql(&mut sql, backend)?;
            sql.finish()
        };
        let mut pieces = Vec::new();
        let by_key = |mut sql: String, pieces: &mut Vec<String>| -> QueryResult<String> {
            sql.push_str(" WHERE ");
            for (position, &field) in shape.key.iter().enumerate() {
                if position > 0 {
                    sql = " AND ".to_owned();
                }
                sql.push_str(&quoted(field)?);
                sql.push_str(" = ");
                pieces.push(sql);
                sql = String::new();
            }
            Ok(sql)
        };
        let all = || 0..shape.columns.len();
        let last = match self.statement {
            Statement::Select => {
                let sql = format!("SELECT {} FROM {table}", list(&mut all())?);
                by_key(sql, &mut pieces)? + self.access.lock
            }
            Statement::Insert => {
                pieces.push(format!(
                    "INSERT INTO {table} ({}) VALUES (",
                    list(&mut all())?
                ));
                pieces.extend((1..shape.columns.len()).map(|_| ", ".to_owned()));
                ")".to_owned()
            }
            Statement::Update | Statement::Restore => {
                let mut sql = format!("UPDATE {table} SET ");
                for (i, &field) in self.set_fields().iter().enumerate() {
                    if i > 0 {
                        sql = ", ".to_owned();
                    }
                    sql.push_str(&quoted(field)?);
                    sql.push_str(" = ");
                    pieces.push(sql);
                    sql = String::new();
                }
                by_key(sql, &mut pieces)?
            }
            Statement::Delete => by_key(format!("DELETE FROM {table}"), &mut pieces)?,
        };
        pieces.push(last);
        Ok(pieces)
    }

    /// The columns an `UPDATE` sets.
    fn set_fields(&self) -> &'static [usize] {
        match self.statement {
            Statement::Restore => self.access.shape.restored,
            _ => self.access.shape.updated,
        }
    }
}

impl<DB: Backend> QueryFragment<DB> for RowStatement<'_, DB>
where
    DB::QueryBuilder: Default,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let pieces = self.pieces(out.backend())?;
        let shape = &self.access.shape;
        let mut pieces = pieces.iter();
        let mut piece = |out: &mut AstPass<'_, 'b, DB>| match pieces.next() {
            Some(sql) => {
                out.push_sql(sql);
                Ok(())
            }
            None => Err(no_such_column(usize::MAX)),
        };
        piece(&mut out)?;
        match self.statement {
            Statement::Select | Statement::Delete => {
                for position in 0..shape.key.len() {
                    (self.access.bind_key)(self.values, position, &mut out)?;
                    piece(&mut out)?;
                }
            }
            Statement::Insert => {
                for field in 0..shape.columns.len() {
                    (self.access.bind_field)(self.values, field, &mut out)?;
                    piece(&mut out)?;
                }
            }
            Statement::Update | Statement::Restore => {
                for &field in self.set_fields().iter().chain(shape.key) {
                    (self.access.bind_field)(self.values, field, &mut out)?;
                    piece(&mut out)?;
                }
            }
        }
        Ok(())
    }
}

/// A table's name as a fragment of its own, to render it once.
struct TableName<DB: Backend>(fn(AstPass<'_, '_, DB>) -> QueryResult<()>);

impl<DB: Backend> QueryFragment<DB> for TableName<DB> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        (self.0)(out)
    }
}

/// Cached by its SQL text: the model's statements differ only in their table and columns.
impl<DB: Backend> QueryId for RowStatement<'_, DB> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> Query for RowStatement<'_, DB> {
    type SqlType = Untyped;
}

impl<DB: Backend, C> RunQueryDsl<C> for RowStatement<'_, DB> {}

/// Reads a row's columns in turn, each as its field's type. Used by the code
/// `#[derive(Recoverable)]` generates.
#[doc(hidden)]
pub struct RowReader<'r, DB: Backend + 'static> {
    row: &'r dyn Columns<DB>,
    next: usize,
}

impl<'r, DB: Backend + 'static> RowReader<'r, DB> {
    /// A reader of `row` from its first column.
    pub(crate) fn new<'a>(row: &'r impl Row<'a, DB>) -> Self {
        RowReader { row, next: 0 }
    }

    /// The next column, read as a `V` from SQL type `ST`.
    pub fn read<ST, V: FromSql<ST, DB>>(&mut self) -> deserialize::Result<V> {
        let index = self.next;
        self.next += 1;
        let mut read = None;
        self.row
            .with_value(index, &mut |raw| read = Some(V::from_nullable_sql(raw)));
        read.unwrap_or_else(|| Err(Box::new(diesel::result::UnexpectedEndOfRow)))
    }
}

/// A row's raw column values, whatever the connection's row type.
trait Columns<DB: Backend + 'static> {
    /// Calls `with` with column `index`'s raw value (`None`: SQL NULL), if the row has it.
    fn with_value(&self, index: usize, with: &mut dyn FnMut(Option<DB::RawValue<'_>>));
}

impl<'a, DB: Backend + 'static, R: Row<'a, DB>> Columns<DB> for R {
    fn with_value(&self, index: usize, with: &mut dyn FnMut(Option<DB::RawValue<'_>>)) {
        if let Some(field) = self.get(index) {
            with(field.value());
        }
    }
}

/// Reads the row whose key `key` holds (locking it where the backend does), as a `U`.
pub(crate) fn load_one<C, U>(
    conn: &mut C,
    access: &RowAccess<C::Backend>,
    key: &dyn Any,
) -> QueryResult<Option<U>>
where
    C: diesel::connection::LoadConnection<Backend: Backend<QueryBuilder: Default>>,
    C::Backend: 'static,
    U: FromSqlRow<Untyped, C::Backend> + 'static,
{
    RowStatement {
        access,
        statement: Statement::Select,
        values: key,
    }
    .get_result::<U>(conn)
    .optional()
}

/// Runs one statement that writes: compiled once per backend.
pub(crate) fn execute<C: Connection<Backend: Backend<QueryBuilder: Default>>>(
    conn: &mut C,
    access: &RowAccess<C::Backend>,
    statement: Statement,
    values: &dyn Any,
) -> QueryResult<usize> {
    RowStatement {
        access,
        statement,
        values,
    }
    .execute(conn)
}
