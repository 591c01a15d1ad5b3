//! SQLite: `BEGIN IMMEDIATE` as the write lock, seqs allocated under it.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::{shared_journal_queries, JournalConn, Registration};
use crate::error::Error;
use crate::schema::recover_journal;

inventory::collect!(Registration<SqliteConnection>);

impl JournalConn for SqliteConnection {
    const INSTALL_SQL: &'static str = include_str!("../../sql/sqlite.sql");

    fn atomically<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R, Error>) -> Result<R, Error> {
        let depth =
            AnsiTransactionManager::transaction_manager_status_mut(self).transaction_depth()?;
        if depth.is_some() {
            // Inside the caller's transaction: a savepoint.
            self.transaction(f)
        } else {
            // SQLite has no SELECT .. FOR UPDATE: take the write lock before reading the
            // before-image, so that no other writer slips in between.
            self.immediate_transaction(f)
        }
    }

    fn next_seq(&mut self, previous: Option<i64>) -> QueryResult<i64> {
        // Writers are serialised by the write lock taken in `atomically`, so the seqs of one
        // call are contiguous and the next one is the journal's largest plus one: an O(log n)
        // read of the rowid B-tree's last page, no AUTOINCREMENT bookkeeping row to dirty.
        match previous {
            Some(seq) => Ok(seq + 1),
            None => recover_journal::table
                .select(diesel::dsl::max(recover_journal::seq))
                .first::<Option<i64>>(self)
                .map(|max| max.unwrap_or(0) + 1),
        }
    }

    shared_journal_queries!();
}
