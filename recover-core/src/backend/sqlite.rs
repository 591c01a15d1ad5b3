//! SQLite: `BEGIN IMMEDIATE` as the write lock, seqs allocated under it.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::{seq_range, shared_journal_queries, JournalConn, Registration, Scope};
use crate::error::Error;
use crate::schema::recover_journal;
use crate::schema::NewEntryRow;

inventory::collect!(Registration<SqliteConnection>);

impl JournalConn for SqliteConnection {
    const INSTALL_SQL: &'static str = include_str!("../../sql/sqlite.sql");

    fn atomically<R>(
        &mut self,
        scope: Scope,
        f: impl FnOnce(&mut Self) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let depth =
            AnsiTransactionManager::transaction_manager_status_mut(self).transaction_depth()?;
        match (depth, scope) {
            // SQLite has no SELECT .. FOR UPDATE: at top level, take the write lock before
            // reading the before-image, so that no other writer slips in between.
            (None, _) => self.immediate_transaction(f),
            // Inside the caller's transaction, a failed statement rolls back only itself, and a
            // single change has nothing left to fail after its row write but the entry's insert
            // into a table it has just read (on I/O errors SQLite rolls the whole transaction
            // back itself). A savepoint would cost two parsed statements and guard nothing.
            (Some(_), Scope::OneChange) => f(self),
            (Some(_), Scope::Many) => self.transaction(f),
        }
    }

    fn lock_entity(&mut self, _entity: &str, _key: &str) -> QueryResult<()> {
        // `atomically` holds the database's write lock already (or the caller's transaction
        // fails with SQLITE_BUSY on its first write if another writer got in first).
        Ok(())
    }

    fn next_seq(&mut self, previous: Option<i64>) -> QueryResult<Option<i64>> {
        // Writers are serialised by the write lock taken in `atomically`, so the seqs of one
        // call are contiguous and the next one is the journal's largest plus one: an O(log n)
        // read of the rowid B-tree's last page, no AUTOINCREMENT bookkeeping row to dirty.
        match previous {
            Some(seq) => Ok(Some(seq + 1)),
            None => recover_journal::table
                .select(diesel::dsl::max(recover_journal::seq))
                .get_result::<Option<i64>>(self)
                .map(|max| Some(max.unwrap_or(0) + 1)),
        }
    }

    fn take_seqs(&mut self, previous: Option<i64>, n: usize) -> QueryResult<Vec<i64>> {
        let first = match self.next_seq(previous)? {
            Some(seq) => seq,
            None => return Ok(Vec::new()),
        };
        Ok(seq_range(first, n))
    }

    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64> {
        let seq = entry.seq.ok_or_else(|| {
            diesel::result::Error::QueryBuilderError("an entry without its seq taken".into())
        })?;
        self.insert_entry(seq, entry)
    }

    shared_journal_queries!();
}
