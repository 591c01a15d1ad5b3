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

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
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
    /// `UPDATE` these columns by the row's key.
    Update(&'static [usize]),
    /// `DELETE` by key.
    Delete,
}

/// One statement on one row, with the values it binds: the row (insert, update) or its key
/// (select, delete).
struct RowStatement<'a, DB: Backend> {
    access: &'a RowAccess<DB>,
    statement: Statement,
    values: &'a dyn Any,
}

impl<DB: Backend> RowStatement<'_, DB> {
    /// `"c1", "c2", ..` of these fields.
    fn columns(&self, out: &mut AstPass<'_, '_, DB>, fields: &[usize]) -> QueryResult<()> {
        for (i, &field) in fields.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(self.column(field)?)?;
        }
        Ok(())
    }

    /// `"k1" = ? AND "k2" = ?`, bound from the row or from the key.
    fn by_key<'b>(&'b self, out: &mut AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(" WHERE ");
        for (position, &field) in self.access.shape.key.iter().enumerate() {
            if position > 0 {
                out.push_sql(" AND ");
            }
            out.push_identifier(self.column(field)?)?;
            out.push_sql(" = ");
            match self.statement {
                Statement::Update(_) => (self.access.bind_field)(self.values, field, out)?,
                _ => (self.access.bind_key)(self.values, position, out)?,
            }
        }
        Ok(())
    }

    fn column(&self, field: usize) -> QueryResult<&'static str> {
        let columns = self.access.shape.columns;
        columns
            .get(field)
            .copied()
            .ok_or_else(|| no_such_column(field))
    }
}

impl<DB: Backend> QueryFragment<DB> for RowStatement<'_, DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let shape = &self.access.shape;
        match self.statement {
            Statement::Select => {
                out.push_sql("SELECT ");
                let all: Vec<usize> = (0..shape.columns.len()).collect();
                self.columns(&mut out, &all)?;
                out.push_sql(" FROM ");
                (self.access.table)(out.reborrow())?;
                self.by_key(&mut out)?;
                out.push_sql(self.access.lock);
            }
            Statement::Insert => {
                out.push_sql("INSERT INTO ");
                (self.access.table)(out.reborrow())?;
                out.push_sql(" (");
                let all: Vec<usize> = (0..shape.columns.len()).collect();
                self.columns(&mut out, &all)?;
                out.push_sql(") VALUES (");
                for field in 0..shape.columns.len() {
                    if field > 0 {
                        out.push_sql(", ");
                    }
                    (self.access.bind_field)(self.values, field, &mut out)?;
                }
                out.push_sql(")");
            }
            Statement::Update(fields) => {
                out.push_sql("UPDATE ");
                (self.access.table)(out.reborrow())?;
                out.push_sql(" SET ");
                for (i, &field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_sql(", ");
                    }
                    out.push_identifier(self.column(field)?)?;
                    out.push_sql(" = ");
                    (self.access.bind_field)(self.values, field, &mut out)?;
                }
                self.by_key(&mut out)?;
            }
            Statement::Delete => {
                out.push_sql("DELETE FROM ");
                (self.access.table)(out.reborrow())?;
                self.by_key(&mut out)?;
            }
        }
        Ok(())
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
    C: diesel::connection::LoadConnection,
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
pub(crate) fn execute<C: Connection>(
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
