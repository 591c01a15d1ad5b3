//! The `Journal` builder and the public operations.

use std::sync::Arc;

use crate::backend::{JournalConn, Scope};
use crate::bulk;
use crate::changeset::{self, ChangesetTx};
use crate::changeset_id::ChangesetId;
use crate::clock::now_micros;
use crate::deleted::{self, Deleted};
use crate::dynamic::{self, Key, Model, RestoreTo};
use crate::error::Error;
use crate::history::{self, Entry};
use crate::model::{BulkChanges, BulkFilter, Recoverable, RowStore};
use crate::model_ops::ModelOps;
use crate::prune::{self, PruneReport, Retention};
use crate::record::{self, Recording, Settings};
use crate::redact::{self, RedactReport};
use crate::revert::{self, At};
use crate::row_image;
use crate::table::{self, Progress};
use crate::triggers::Context;

/// Records changes with their before-images, and reverts them.
///
/// A small builder, cheap to clone: who acts and why are stored with every entry it records.
/// Every operation runs all-or-nothing in its own transaction, or in a savepoint when called
/// inside the caller's transaction.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    actor: Option<Arc<str>>,
    reason: Option<Arc<str>>,
    force: bool,
    retries: u32,
}

impl Journal {
    /// A journal with no actor, no reason, and conflict detection on.
    pub fn new() -> Self {
        Journal::default()
    }

    /// Who makes the changes (stored in each entry's `actor`).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(Arc::from(actor.into()));
        self
    }

    /// Why (stored in each entry's `reason`).
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(Arc::from(reason.into()));
        self
    }

    /// Undo, redo and restore even when the stored row was changed outside `recover`
    /// (no [`Error::Conflict`]).
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Retries a call that failed only because of a concurrent transaction
    /// ([`Error::Retryable`]: a deadlock, a serialization failure, a lock wait timeout, a busy
    /// SQLite file) up to `retries` more times, after a randomized pause that doubles from about
    /// 2 ms up to 250 ms. Each attempt is all-or-nothing, so a retried call is journaled once.
    ///
    /// Only top-level calls retry. Inside your own `conn.transaction(..)`, a collision has
    /// rolled back (or poisoned) your whole transaction, which a savepoint cannot repeat: retry
    /// your transaction as a whole instead, while [`Error::is_retryable`] says so.
    /// [`Journal::changeset`] and [`Journal::transaction`] run your closure once, and are not
    /// retried either.
    ///
    /// ```
    /// let journal = recover_core::Journal::new().actor("batch").retries(5);
    /// # let _ = journal;
    /// ```
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// What each recording takes from this journal.
    fn settings(&self) -> Settings<'_> {
        Settings {
            actor: self.actor.as_deref(),
            reason: self.reason.as_deref(),
            force: self.force,
        }
    }

    /// Runs `f` as one changeset, all-or-nothing; at top level, again after a collision with a
    /// concurrent transaction, as [`Journal::retries`] allows.
    fn record<C: JournalConn>(
        &self,
        conn: &mut C,
        scope: Scope,
        mut f: impl FnMut(&mut C, &mut Recording<'_>) -> Result<(), Error>,
    ) -> Result<ChangesetId, Error> {
        let retries = if at_top_level(conn) { self.retries } else { 0 };
        let mut attempt = 0;
        loop {
            let result = conn.atomically(scope, |conn| {
                let mut rec = Recording::new(self.settings());
                f(conn, &mut rec)?;
                rec.finish(conn)
            });
            match result {
                Err(e) if e.is_retryable() && attempt < retries => {
                    std::thread::sleep(retry_pause(attempt));
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Inserts `row` and journals it. [`Error::AlreadyExists`] if its key is stored already.
    pub fn insert<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        row: &T,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            record::insert(conn, rec, row)
        })
    }

    /// Writes every column of `row` to the stored row with its key, journaling the stored row
    /// as the before-image (read in the same transaction). [`Error::NotFound`] if there is none.
    pub fn update<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        row: &T,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            record::update(conn, rec, row)
        })
    }

    /// Deletes the stored row with `row`'s key, journaling it as the before-image.
    pub fn delete<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        row: &T,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            record::delete(conn, rec, &row.key())
        })
    }

    /// Deletes the stored row with `key`, journaling it as the before-image.
    pub fn delete_by_key<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        key: &T::Key,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            record::delete::<T, _>(conn, rec, key)
        })
    }

    /// Updates every row of `T`'s table that `filter` matches with `changes` — Diesel
    /// expressions, as for `diesel::update(table.filter(filter)).set(changes)` — and journals
    /// each row's before- and after-image, all in one changeset (undo it with
    /// [`Journal::undo_changeset`]). The images are read and the entries written in a few
    /// statements, not one per row. [`Error::NoMatch`] when no row matches; changing a key
    /// column is [`Error::Unsupported`]; nothing is written either way.
    ///
    /// ```text
    /// let fee = journal.update_where::<Account>(
    ///     &mut conn,
    ///     accounts::balance.ge(100),
    ///     accounts::balance.eq(accounts::balance - 10),
    /// )?;
    /// journal.undo_changeset(&mut conn, fee)?; // every row as it was
    /// ```
    pub fn update_where<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        filter: impl BulkFilter<T>,
        changes: impl BulkChanges<T>,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::Many, |conn, rec| {
            // Cloned for each attempt (see `Journal::retries`).
            let (filter, changes) = (filter.clone(), changes.clone());
            bulk::update_where::<T, _, _, _>(conn, rec, filter, changes).map(drop)
        })
    }

    /// Deletes every row of `T`'s table that `filter` matches, journaling each as its
    /// before-image, all in one changeset (undo it with [`Journal::undo_changeset`], or undelete
    /// rows one by one with [`Journal::undo`]). [`Error::NoMatch`] when no row matches, and
    /// nothing is written.
    pub fn delete_where<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        filter: impl BulkFilter<T>,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::Many, |conn, rec| {
            bulk::delete_where::<T, _, _>(conn, rec, filter.clone()).map(drop)
        })
    }

    /// Reverts the entity's newest change that is not undone yet (stack semantics, like an
    /// editor): an insert is deleted, an update written back, a delete re-inserted. The undo is
    /// itself journaled. [`Error::NothingToUndo`] when there is nothing left;
    /// [`Error::Conflict`] when the row was changed outside `recover`.
    pub fn undo<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        key: &T::Key,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            revert::undo(
                conn,
                rec,
                &ModelOps::of::<T>(),
                &row_image::encode_key::<T>(key)?,
            )
        })
    }

    /// Re-applies the most recently undone change. [`Error::NothingToRedo`] when nothing is
    /// undone, or a new change was recorded since.
    pub fn redo<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        key: &T::Key,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            revert::redo(
                conn,
                rec,
                &ModelOps::of::<T>(),
                &row_image::encode_key::<T>(key)?,
            )
        })
    }

    /// Brings the entity to its state after its n-th entry ([`At::Version`]) or as of an
    /// instant ([`At::Time`]; deleted if it did not exist then). The restore is journaled, can
    /// be undone, and clears the redo stack.
    pub fn restore<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        key: &T::Key,
        at: At,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            let key = row_image::encode_key::<T>(key)?;
            revert::restore(conn, rec, &ModelOps::of::<T>(), &key, at)
        })
    }

    /// [`Journal::undo`] of an entity known by its table name and key text (a
    /// [`dynamic::Key`]), for tools that act on any model linked into the program.
    pub fn undo_key<C: JournalConn>(
        &self,
        conn: &mut C,
        key: &Key<C>,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            dynamic::undo(conn, rec, key)
        })
    }

    /// [`Journal::redo`] of an entity known by its table name and key text.
    pub fn redo_key<C: JournalConn>(
        &self,
        conn: &mut C,
        key: &Key<C>,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::OneChange, |conn, rec| {
            dynamic::redo(conn, rec, key)
        })
    }

    /// [`Journal::restore`] of an entity known by its table name and key text, to a version,
    /// an instant, or the state after one of its entries ([`RestoreTo::Entry`]).
    pub fn restore_key<C: JournalConn>(
        &self,
        conn: &mut C,
        key: &Key<C>,
        to: impl Into<RestoreTo>,
    ) -> Result<ChangesetId, Error> {
        let to = to.into();
        self.record(conn, Scope::OneChange, |conn, rec| {
            dynamic::restore(conn, rec, key, to)
        })
    }

    /// Every journal entry of the entity, oldest first (empty if it has none).
    ///
    /// It reads the journal a page at a time, so it holds little more than what it returns; for
    /// a long history that should not be held at once, use [`Journal::history_page`].
    pub fn history<T: Recoverable>(
        &self,
        conn: &mut impl JournalConn,
        key: &T::Key,
    ) -> Result<Vec<Entry<T>>, Error> {
        const PAGE: usize = 1_000;
        let mut entries = Vec::new();
        loop {
            let after = entries.last().map_or(i64::MIN, |e: &Entry<T>| e.seq);
            let page = history::page::<T, _>(conn, key, after, PAGE)?;
            let last_page = page.len() < PAGE;
            entries.extend(page);
            if last_page {
                entries.shrink_to_fit();
                return Ok(entries);
            }
        }
    }

    /// Up to `limit` entries of the entity with a seq greater than `after_seq`, oldest first:
    /// a long history read page by page (pass the last seq of one page to get the next).
    pub fn history_page<T: Recoverable>(
        &self,
        conn: &mut impl JournalConn,
        key: &T::Key,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Entry<T>>, Error> {
        history::page::<T, _>(conn, key, after_seq, limit)
    }

    /// Brings every entity of the table to its state at `at` (`At::Time`): rows changed since
    /// are written back, rows deleted since re-inserted, rows created since deleted — as one
    /// changeset, which `undo_changeset` reverts. Rows changed outside recover are reported
    /// together in [`Error::TableConflict`] and abort it all, unless forced. Rows never
    /// recorded through recover are left alone.
    pub fn restore_table<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        at: At,
    ) -> Result<ChangesetId, Error> {
        self.restore_table_with_progress::<T>(conn, at, |_| {})
    }

    /// [`Journal::restore_table`], calling `progress` after each entity.
    pub fn restore_table_with_progress<T: Recoverable>(
        &self,
        conn: &mut impl RowStore<T>,
        at: At,
        mut progress: impl FnMut(Progress),
    ) -> Result<ChangesetId, Error> {
        let t = table_instant(at)?;
        self.record(conn, Scope::Many, |conn, rec| {
            table::restore_table(conn, rec, &ModelOps::of::<T>(), t, &mut progress)
        })
    }

    /// [`Journal::restore_table_with_progress`] of a model known by its table name (a
    /// [`dynamic::Model`]), for tools that act on any model linked into the program.
    pub fn restore_table_of<C: JournalConn>(
        &self,
        conn: &mut C,
        model: Model<C>,
        at: At,
        mut progress: impl FnMut(Progress),
    ) -> Result<ChangesetId, Error> {
        let t = table_instant(at)?;
        self.record(conn, Scope::Many, |conn, rec| {
            dynamic::restore_table(conn, rec, model, t, &mut progress)
        })
    }

    /// Removes old journal entries as `policy` allows, in bounded batches (one transaction
    /// each), and reports what it removed. It never removes an entity's newest entry, nor part
    /// of a changeset of several entries. Undo and redo stop where the history was pruned
    /// ([`Error::NothingToUndo`]), and `At::Version(n)` counts the entries that remain.
    pub fn prune(
        &self,
        conn: &mut impl JournalConn,
        policy: &Retention,
    ) -> Result<PruneReport, Error> {
        prune::prune(conn, policy)
    }

    /// Erases the named columns' values from every journal image of one entity (a privacy
    /// request), putting a marker in their place, and records who did it, when and which
    /// columns — not the values. The one change to past journal rows recover makes besides
    /// `prune`. The stored row is not touched: erase it there with a recorded `update`.
    /// Restoring or reading an image without an erased value then needs the field's
    /// `#[recover(default = "..")]`, or fails with [`Error::Redacted`]. Key columns and columns
    /// the images do not hold are [`Error::InvalidColumn`], and nothing is written.
    pub fn redact<T: Recoverable>(
        &self,
        conn: &mut impl JournalConn,
        key: &T::Key,
        columns: &[&str],
    ) -> Result<RedactReport, Error> {
        conn.atomically(Scope::Many, |conn| {
            redact::redact::<T, _>(conn, self.settings(), key, columns)
        })
    }

    /// The entities of `T` whose row is gone (their newest entry removed it), newest first,
    /// with their last image, who removed them and when. Found through a partial index on the
    /// journal's removing entries, not by scanning it.
    pub fn deleted<T: Recoverable>(
        &self,
        conn: &mut impl JournalConn,
    ) -> Result<Vec<Deleted<T>>, Error> {
        const PAGE: usize = 1_000;
        let mut all = Vec::new();
        loop {
            let before = all.last().map_or(i64::MAX, |d: &Deleted<T>| d.seq);
            let page = deleted::page::<T, _>(conn, before, PAGE)?;
            let last_page = page.len() < PAGE;
            all.extend(page);
            if last_page {
                return Ok(all);
            }
        }
    }

    /// Up to `limit` entries of [`Journal::deleted`] removed before entry `before_seq`
    /// (`i64::MAX` for the newest): pass the last `seq` of one page to get the next.
    pub fn deleted_page<T: Recoverable>(
        &self,
        conn: &mut impl JournalConn,
        before_seq: i64,
        limit: usize,
    ) -> Result<Vec<Deleted<T>>, Error> {
        deleted::page::<T, _>(conn, before_seq, limit)
    }

    /// Runs `f` as one changeset: every change made through the [`ChangesetTx`] is journaled
    /// under one id, and all of them are kept or none (an error from `f` rolls everything back).
    pub fn changeset<C: JournalConn>(
        &self,
        conn: &mut C,
        f: impl FnOnce(&mut ChangesetTx<'_, '_, C>) -> Result<(), Error>,
    ) -> Result<ChangesetId, Error> {
        conn.atomically(Scope::Many, |conn| {
            let mut tx = ChangesetTx::new(conn, Recording::new(self.settings()));
            f(&mut tx)?;
            tx.finish()
        })
    }

    /// Runs `f` — plain Diesel, raw SQL, anything — in one transaction (a savepoint inside the
    /// caller's), as one changeset: every change the capture triggers journal in it (see
    /// [`capture`](crate::capture)) joins that changeset, with this journal's actor and reason.
    /// Returns its id ([`ChangesetId::EMPTY`] when nothing captured changed), which
    /// [`Journal::undo_changeset`] reverts. An error from `f` rolls everything back.
    ///
    /// The context lives inside the transaction and ends with it: after commit or rollback,
    /// the connection's next transaction is outside it, pooled or not, and other connections
    /// never see it. recover's own calls inside `f` record their own changesets, as always.
    ///
    /// ```text
    /// let cs = journal.transaction(&mut conn, |conn| {
    ///     diesel::update(accounts::table.find(1)).set(accounts::balance.eq(0)).execute(conn)?;
    ///     diesel::delete(accounts::table.filter(accounts::status.eq("closed"))).execute(conn)?;
    ///     Ok(())
    /// })?;
    /// journal.undo_changeset(&mut conn, cs)?;
    /// ```
    pub fn transaction<C: JournalConn>(
        &self,
        conn: &mut C,
        f: impl FnOnce(&mut C) -> Result<(), Error>,
    ) -> Result<ChangesetId, Error> {
        conn.atomically(Scope::Many, |conn| {
            let context = Context {
                active: true,
                actor: self.actor.as_deref().map(str::to_owned),
                reason: self.reason.as_deref().map(str::to_owned),
                recorded_at: Some(now_micros()),
                ..Context::default()
            };
            let previous = conn.enter_context(&context)?;
            f(conn)?;
            let done = conn.leave_context(&previous)?;
            Ok(done.changeset_id.map_or(ChangesetId::EMPTY, ChangesetId))
        })
    }

    /// Reverts every entry of a changeset, newest first, in one transaction, and returns the id
    /// of the changeset that did it (which can be undone the same way). A row changed after the
    /// changeset is a [`Error::Conflict`] and aborts it all, unless forced.
    pub fn undo_changeset<C: JournalConn>(
        &self,
        conn: &mut C,
        changeset: ChangesetId,
    ) -> Result<ChangesetId, Error> {
        self.record(conn, Scope::Many, |conn, rec| {
            changeset::undo_changeset(conn, rec, changeset)
        })
    }
}

/// Whether no transaction is open on `conn` (a call there can be retried as a whole).
fn at_top_level<C: JournalConn>(conn: &mut C) -> bool {
    use diesel::connection::TransactionManager;
    matches!(
        C::TransactionManager::transaction_manager_status_mut(conn).transaction_depth(),
        Ok(None)
    )
}

/// The pause before retry `attempt` (0-based): about 2 ms doubling up to 250 ms, times a random
/// factor in [0.5, 1.5), so that the writers that collided do not collide again in step.
fn retry_pause(attempt: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = 2_000_u64.saturating_mul(1 << attempt.min(7)).min(250_000);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let factor = 0.5 + (random % 1_000) as f64 / 1_000.0;
    std::time::Duration::from_micros((base as f64 * factor) as u64)
}

/// The instant a table restore goes back to: only `At::Time` names one for a whole table.
fn table_instant(at: At) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    match at {
        At::Time(t) => Ok(t),
        At::Version(_) => Err(Error::Unsupported(
            "restore_table takes At::Time: a version counts the entries of one entity",
        )),
    }
}
