//! PostgreSQL: rows locked with `SELECT .. FOR UPDATE`, seqs from a sequence.

use diesel::pg::PgConnection;
use diesel::prelude::*;

use super::{shared_journal_queries, JournalConn, Registration};
use crate::error::Error;

inventory::collect!(Registration<PgConnection>);

diesel::define_sql_function! {
    /// PostgreSQL's `nextval(regclass)`.
    fn nextval(sequence: diesel::sql_types::Text) -> diesel::sql_types::BigInt;
}

impl JournalConn for PgConnection {
    const INSTALL_SQL: &'static str = include_str!("../../sql/postgres.sql");

    fn atomically<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R, Error>) -> Result<R, Error> {
        // A transaction at top level, a savepoint inside the caller's.
        self.transaction(f)
    }

    fn next_seq(&mut self, _previous: Option<i64>) -> QueryResult<i64> {
        // Concurrent writers interleave: every entry draws from the sequence. The entries of
        // one entity stay ordered, because its row is locked while they are written.
        diesel::select(nextval("recover_journal_seq")).get_result(self)
    }

    shared_journal_queries!();
}
