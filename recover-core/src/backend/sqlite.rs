//! SQLite: `BEGIN IMMEDIATE` as the write lock, seqs allocated under it.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sqlite::{Sqlite, SqliteConnection};

use diesel::sql_types::{Integer, Nullable, Text};

use super::{shared_journal_queries, JournalConn, PerBackend, Scope};
use crate::error::Error;
use crate::schema::{recover_journal, ChangesetRow, NewEntryRow};
use crate::triggers::{self, Context, TriggerSpec};

diesel::table! {
    /// The capture context of the transaction holding the write lock (one row, id 1, present
    /// only inside a `journal.transaction` or a bulk call, never committed).
    recover_context (id) {
        id -> BigInt,
        changeset_id -> Nullable<BigInt>,
        last_seq -> Nullable<BigInt>,
        actor -> Nullable<Text>,
        reason -> Nullable<Text>,
        recorded_at -> Nullable<BigInt>,
    }
}

/// An entry's insert that replaces a capture trigger's entry at the same seq: Diesel's insert
/// of every column with a constant `ON CONFLICT` clause after it. One SQL text with a static
/// query id, so it is prepared once per connection; Diesel's own
/// `on_conflict(..).do_update()` is prepared again on every call, and preparing the insert
/// costs more than running it.
struct ReplacingTriggerEntry<Q>(Q);

impl<Q: QueryId> QueryId for ReplacingTriggerEntry<Q> {
    type QueryId = ReplacingTriggerEntry<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q: QueryFragment<Sqlite>> QueryFragment<Sqlite> for ReplacingTriggerEntry<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(
            " ON CONFLICT (seq) DO UPDATE SET changeset_id = excluded.changeset_id, \
             op = excluded.op, before_image = excluded.before_image, \
             after_image = excluded.after_image, undoes = excluded.undoes, \
             undo_next = excluded.undo_next, redo_next = excluded.redo_next, \
             actor = excluded.actor, reason = excluded.reason, recorded_at = excluded.recorded_at",
        );
        Ok(())
    }
}

impl<Q, C> RunQueryDsl<C> for ReplacingTriggerEntry<Q> {}

#[derive(QueryableByName)]
struct TableColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct TriggerRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    sql: Option<String>,
}

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

    fn next_seq(
        &mut self,
        previous: Option<i64>,
        _entity: &str,
        _key: &str,
    ) -> QueryResult<Option<i64>> {
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

    fn take_seqs(
        &mut self,
        previous: Option<i64>,
        entity: &str,
        keys: &[&str],
    ) -> QueryResult<Vec<i64>> {
        let Some(key) = keys.first() else {
            return Ok(Vec::new());
        };
        let first = match self.next_seq(previous, entity, key)? {
            Some(seq) => seq,
            None => return Ok(Vec::new()),
        };
        Ok((first..).take(keys.len()).collect())
    }

    fn append_entry(&mut self, entry: &NewEntryRow<'_>) -> QueryResult<i64> {
        // The seq was reserved before the row write. If the table is captured, its trigger
        // wrote the change's entry at that same seq: this entry replaces it (one entry,
        // recover's op and stack pointers), in the statement that would insert it anyway.
        let seq = entry.seq.ok_or_else(|| {
            diesel::result::Error::QueryBuilderError("an entry without its seq taken".into())
        })?;
        ReplacingTriggerEntry(
            diesel::insert_into(crate::schema::recover_journal::table)
                .values(super::entry_values!(seq, entry)),
        )
        .execute(self)
        .map(|_| seq)
    }

    fn append_changeset(&mut self, changeset: &ChangesetRow) -> QueryResult<()> {
        replace_changeset(self, changeset)
    }

    const LOCKING_READ: &'static str = "";
    const CAPTURE_TRIGGERS: usize = 4;
    const CAPTURE_VERSION: u32 = triggers::sqlite::VERSION;

    fn capture_ddl(spec: &TriggerSpec) -> String {
        triggers::sqlite::capture_ddl(spec)
    }

    fn release_ddl(entity: &str) -> String {
        triggers::sqlite::release_ddl(entity)
    }

    fn table_columns(&mut self, table: &str) -> QueryResult<Vec<(String, bool)>> {
        let columns: Vec<TableColumn> = diesel::sql_query(
            "SELECT name, type AS kind, \"notnull\", pk FROM pragma_table_info(?)",
        )
        .bind::<Text, _>(table)
        .load(self)?;
        // An INTEGER PRIMARY KEY is the rowid, never NULL, whatever `notnull` says.
        Ok(columns
            .into_iter()
            .map(|c| {
                let rowid = c.pk > 0 && c.kind.eq_ignore_ascii_case("integer");
                (c.name, c.notnull == 0 && !rowid)
            })
            .collect())
    }

    fn capture_triggers(&mut self, table: &str) -> QueryResult<Vec<(String, String)>> {
        let names = triggers::sqlite::trigger_names(table);
        let rows: Vec<TriggerRow> = diesel::sql_query(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' \
             AND name IN (?, ?, ?, ?) ORDER BY name",
        )
        .bind::<Text, _>(&names[0])
        .bind::<Text, _>(&names[1])
        .bind::<Text, _>(&names[2])
        .bind::<Text, _>(&names[3])
        .load(self)?;
        Ok(rows
            .into_iter()
            .map(|t| (t.name, t.sql.unwrap_or_default()))
            .collect())
    }

    fn read_context(&mut self) -> QueryResult<Context> {
        use recover_context as c;
        let row: Option<ContextRow> = c::table
            .find(1_i64)
            .select((
                c::changeset_id,
                c::last_seq,
                c::actor,
                c::reason,
                c::recorded_at,
            ))
            .first(self)
            .optional()?;
        Ok(match row {
            None => Context::default(),
            Some((changeset_id, last_seq, actor, reason, recorded_at)) => Context {
                active: true,
                changeset_id,
                last_seq,
                actor,
                reason,
                recorded_at,
            },
        })
    }

    fn write_context(&mut self, context: &Context) -> QueryResult<()> {
        use recover_context as c;
        if !context.active {
            return diesel::delete(c::table.find(1_i64)).execute(self).map(drop);
        }
        diesel::replace_into(c::table)
            .values((
                c::id.eq(1_i64),
                c::changeset_id.eq(context.changeset_id),
                c::last_seq.eq(context.last_seq),
                c::actor.eq(&context.actor),
                c::reason.eq(&context.reason),
                c::recorded_at.eq(context.recorded_at),
            ))
            .execute(self)
            .map(drop)
    }

    fn enter_context(&mut self, context: &Context) -> QueryResult<Context> {
        let previous = self.read_context()?;
        // The changeset's id is the seq its first entry will take, so that the triggers only
        // read the context (see `triggers::sqlite`): the write lock is held, no one else
        // appends meanwhile.
        let changeset_id = match context.changeset_id {
            Some(id) => id,
            None => self.next_seq(None, "", "")?.unwrap_or(1),
        };
        self.write_context(&Context {
            changeset_id: Some(changeset_id),
            ..context.clone()
        })?;
        Ok(previous)
    }

    fn leave_context(&mut self, previous: &Context) -> QueryResult<Context> {
        use crate::schema::recover_journal as j;
        let mut current = self.read_context()?;
        if let Some(id) = current.changeset_id {
            // The changeset's entries are the ones at or after its first seq that carry its id.
            let last: Option<i64> = j::table
                .filter(j::seq.ge(id))
                .filter(j::changeset_id.eq(id))
                .select(diesel::dsl::max(j::seq))
                .get_result(self)?;
            match last {
                Some(last) if last > id => replace_changeset(
                    self,
                    &ChangesetRow {
                        id,
                        last_seq: last,
                        actor: current.actor.clone(),
                        reason: current.reason.clone(),
                        recorded_at: current.recorded_at.unwrap_or_else(crate::clock::now_micros),
                    },
                )?,
                Some(_) => {}
                None => current.changeset_id = None,
            }
            current.last_seq = last.or(current.last_seq);
        }
        self.write_context(previous)?;
        Ok(current)
    }

    fn pick<P: PerBackend>() -> P::Of<Self> {
        P::sqlite()
    }

    shared_journal_queries!();
}

fn replace_changeset(conn: &mut SqliteConnection, changeset: &ChangesetRow) -> QueryResult<()> {
    use crate::schema::recover_changesets as c;
    // A capture trigger may have written the row already (a bulk call on a captured table):
    // the range is the same or wider.
    diesel::replace_into(c::table)
        .values((
            c::id.eq(changeset.id),
            c::last_seq.eq(changeset.last_seq),
            c::actor.eq(&changeset.actor),
            c::reason.eq(&changeset.reason),
            c::recorded_at.eq(changeset.recorded_at),
        ))
        .execute(conn)
        .map(drop)
}

type ContextRow = (
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
);
