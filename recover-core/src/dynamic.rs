//! Any `Recoverable` model linked into the program, known only by its table name and its key
//! as text: what tools (a command line, a history page) read and revert without naming a Rust
//! type. Entries come back as journal-level data, images as JSON objects keyed by column name.
//!
//! ```
//! use diesel::{Connection, SqliteConnection};
//! use recover_core::dynamic::{self, Log};
//!
//! let mut conn = SqliteConnection::establish(":memory:")?;
//! recover_core::install(&mut conn)?;
//! // Every model linked into this program, one per table.
//! for model in dynamic::models::<SqliteConnection>() {
//!     println!("{} ({})", model.entity(), model.type_name());
//! }
//! // The journal's newest entries, every table, 20 at a time.
//! let page = dynamic::log(&mut conn, &Log::new().limit(20))?;
//! assert!(page.is_empty());
//! // A table no model maps is an error, not a panic.
//! assert!(dynamic::model::<SqliteConnection>("no_such_table").is_err());
//! # Ok::<(), recover_core::Error>(())
//! ```
//!
//! Writes go through [`Journal`](crate::Journal) (`undo_key`, `redo_key`, `restore_key`, and
//! `undo_changeset`), so that they carry its actor and reason; [`dry_run`] runs one and rolls it
//! back, to show what it would change.

use std::fmt;

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use serde_json::{Map, Value};

use crate::backend::{JournalConn, PerBackend};
use crate::changeset_id::ChangesetId;
use crate::entity_check::raw_difference;
use crate::error::Error;
use crate::history::Op;
use crate::image::{self, ImageColumn};
use crate::record::Recording;
use crate::registry::{self, Registration};
use crate::revert::At;
use crate::schema::EntryRow;
use crate::table::Progress;

/// A `Recoverable` model linked into the program, on connection type `C`: found by its table
/// name with [`model`], or listed with [`models`].
pub struct Model<C: 'static> {
    registration: &'static Registration<C>,
}

impl<C> Clone for Model<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Model<C> {}

impl<C> PartialEq for Model<C> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.registration, other.registration)
    }
}

impl<C> fmt::Debug for Model<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("entity", &self.registration.entity)
            .field("type_name", &(self.registration.model)())
            .finish()
    }
}

/// Every `Recoverable` model linked into the program, one per table, ordered by table name.
/// Where several types map one table, the one with the most image columns stands for it (as in
/// `undo_changeset`).
pub fn models<C: JournalConn>() -> Vec<Model<C>> {
    registry::all::<C>()
        .into_iter()
        .map(|registration| Model { registration })
        .collect()
}

/// The model of a table; [`Error::UnknownEntity`] when no `Recoverable` type linked into the
/// program maps it.
pub fn model<C: JournalConn>(entity: &str) -> Result<Model<C>, Error> {
    registry::registered::<C>(entity, None)
        .map(|registration| Model { registration })
        .ok_or_else(|| Error::UnknownEntity(entity.to_owned()))
}

impl<C: JournalConn> Model<C> {
    /// The table name, as the journal's `entity` stores it.
    pub fn entity(&self) -> &'static str {
        self.registration.entity
    }

    /// The Rust type's name.
    pub fn type_name(&self) -> &'static str {
        (self.registration.model)()
    }

    /// The columns an image holds.
    pub fn columns(&self) -> &'static [ImageColumn] {
        self.registration.columns()
    }

    /// The SQL names of the key columns, in the key's order.
    pub fn key_columns(&self) -> &'static [&'static str] {
        self.registration.key_columns
    }

    /// The entity of this model with the key given as text: the JSON of the key, as
    /// `recover_journal.entity_key` stores it (`1`, `"abc"`, `[7,"acme"]` for a composite key
    /// in `primary_key(..)` order); other spacing is accepted and made canonical. Anything else
    /// is [`Error::InvalidKey`].
    pub fn key(&self, text: &str) -> Result<Key<C>, Error> {
        Ok(Key {
            model: *self,
            text: (self.registration.parse_key)(text)?,
        })
    }

    /// How many entities (distinct keys) and entries the journal holds for this table: counted
    /// by the database over the journal's index, nothing loaded.
    pub fn counts(&self, conn: &mut C) -> Result<Counts, Error> {
        let (entities, entries) = (C::pick::<Reads>().counts)(conn, self.entity())?;
        Ok(Counts { entities, entries })
    }

    /// The entities of this table whose newest entry removed their row, newest first: up to
    /// `limit` removing entries older than `before_seq` (`None`: the newest), each with the row
    /// as it was last in its `before` image. `Journal::undo_key` brings one back.
    pub fn deleted(
        &self,
        conn: &mut C,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, Error> {
        conn.removals_page(
            self.entity(),
            before_seq.unwrap_or(i64::MAX),
            to_limit(limit),
        )?
        .into_iter()
        .map(decode::<C>)
        .collect()
    }
}

/// How much of the journal one table takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct keys with at least one entry.
    pub entities: i64,
    /// Entries.
    pub entries: i64,
}

/// One entity: a model and a key in its canonical text, checked to be a key of that model.
pub struct Key<C: 'static> {
    model: Model<C>,
    text: String,
}

impl<C> Clone for Key<C> {
    fn clone(&self) -> Self {
        Key {
            model: self.model,
            text: self.text.clone(),
        }
    }
}

impl<C> PartialEq for Key<C> {
    fn eq(&self, other: &Self) -> bool {
        self.model == other.model && self.text == other.text
    }
}

impl<C> fmt::Debug for Key<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("entity", &self.model.registration.entity)
            .field("key", &self.text)
            .finish()
    }
}

impl<C: JournalConn> Key<C> {
    /// The entity's model.
    pub fn model(&self) -> Model<C> {
        self.model
    }

    /// The entity's table.
    pub fn entity(&self) -> &'static str {
        self.model.entity()
    }

    /// The key's canonical text, as `recover_journal.entity_key` stores it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many journal entries the entity has: the newest version `restore` can go to.
    pub fn versions(&self, conn: &mut C) -> Result<i64, Error> {
        Ok(conn.count_entries(self.entity(), &self.text)?)
    }

    /// The row stored now under this key, as an image (a JSON object keyed by column, in
    /// recover's encoding); `None` when there is no such row.
    pub fn current(&self, conn: &mut C) -> Result<Option<Map<String, Value>>, Error> {
        self.model.registration.stored(conn, &self.text)
    }
}

/// The state [`Journal::restore_key`](crate::Journal::restore_key) brings an entity to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTo {
    /// The state right after its n-th entry (1-based), as [`At::Version`].
    Version(usize),
    /// Its state as of an instant, as [`At::Time`].
    Time(DateTime<Utc>),
    /// The state right after this journal entry (by seq), which must be one of the entity's
    /// own ([`Error::EntryOfOtherEntity`] otherwise): "restore this version" from a history.
    Entry(i64),
}

impl From<At> for RestoreTo {
    fn from(at: At) -> Self {
        match at {
            At::Version(n) => RestoreTo::Version(n),
            At::Time(t) => RestoreTo::Time(t),
        }
    }
}

/// One journal entry, of any model, as the journal holds it. Images are JSON objects keyed by
/// SQL column name; for a model linked into the program they are in recover's own encoding
/// (whoever wrote them: recover or a capture trigger), else as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// The entry's position in the journal.
    pub seq: i64,
    /// The changeset it belongs to.
    pub changeset: ChangesetId,
    /// The entity's table.
    pub entity: String,
    /// The entity's key, canonical text.
    pub key: String,
    /// What it did.
    pub op: Op,
    /// The row before (`None`: it did not exist).
    pub before: Option<Map<String, Value>>,
    /// The row after (`None`: it no longer exists).
    pub after: Option<Map<String, Value>>,
    /// For an undo or a redo: the seq of the entry it reverts.
    pub undoes: Option<i64>,
    /// Who made the change.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// When (the application's clock, microseconds).
    pub recorded_at: DateTime<Utc>,
    /// The SQL names of the columns whose values differ between `before` and `after` (every
    /// image column for an insert or a delete), in the model's column order.
    pub changed_columns: Vec<String>,
}

/// Which entries [`log`] reads: every table's, one table's or one entity's, newest first, a
/// page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    entity: Option<String>,
    key: Option<String>,
    actor: Option<String>,
    since: Option<i64>,
    before_seq: Option<i64>,
    limit: usize,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            entity: None,
            key: None,
            actor: None,
            since: None,
            before_seq: None,
            limit: 50,
        }
    }
}

impl Log {
    /// The newest 50 entries of the whole journal.
    pub fn new() -> Self {
        Log::default()
    }

    /// Only this table's entries.
    pub fn table<C: JournalConn>(mut self, model: Model<C>) -> Self {
        self.entity = Some(model.entity().to_owned());
        self.key = None;
        self
    }

    /// Only this entity's entries.
    pub fn entity<C: JournalConn>(mut self, key: &Key<C>) -> Self {
        self.entity = Some(key.entity().to_owned());
        self.key = Some(key.text.clone());
        self
    }

    /// Only the entries recorded by this actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Only the entries recorded at or after `t`.
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t.timestamp_micros());
        self
    }

    /// Only the entries older than entry `seq`: pass the last seq of one page to get the next.
    pub fn before(mut self, seq: i64) -> Self {
        self.before_seq = Some(seq);
        self
    }

    /// At most `n` entries (at least 1; default 50).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n.max(1);
        self
    }
}

/// A page of the journal, newest first, as `filter` says. The database does the filtering and
/// the limit: nothing reads a whole table.
pub fn log<C: JournalConn>(conn: &mut C, filter: &Log) -> Result<Vec<JournalEntry>, Error> {
    (C::pick::<Reads>().log)(conn, filter)?
        .into_iter()
        .map(decode::<C>)
        .collect()
}

/// The journal entry with this seq; [`Error::EntryNotFound`] if there is none.
pub fn entry<C: JournalConn>(conn: &mut C, seq: i64) -> Result<JournalEntry, Error> {
    decode::<C>(conn.entry(seq)?.ok_or(Error::EntryNotFound(seq))?)
}

/// The entries of a changeset, oldest first; [`Error::ChangesetNotFound`] if it has none
/// (the empty changeset, [`ChangesetId::EMPTY`], has none and is not an error).
pub fn changeset<C: JournalConn>(
    conn: &mut C,
    changeset: ChangesetId,
) -> Result<Vec<JournalEntry>, Error> {
    if changeset == ChangesetId::EMPTY {
        return Ok(Vec::new());
    }
    let id = changeset.get();
    let last = conn.changeset_last_seq(id)?.unwrap_or(id);
    let rows = conn.changeset_entries(id, last)?;
    if rows.is_empty() {
        return Err(Error::ChangesetNotFound(changeset));
    }
    rows.into_iter().map(decode::<C>).collect()
}

/// A page of a changeset's entries, oldest first: up to `limit` entries after entry
/// `after_seq` (`None`: from its first). An id naming no entries gives an empty page; a page
/// reads only its own rows (the changeset's seq range, in order, stopping at `limit`).
pub fn changeset_page<C: JournalConn>(
    conn: &mut C,
    changeset: ChangesetId,
    after_seq: Option<i64>,
    limit: usize,
) -> Result<Vec<JournalEntry>, Error> {
    if changeset == ChangesetId::EMPTY {
        return Ok(Vec::new());
    }
    let id = changeset.get();
    let last = conn.changeset_last_seq(id)?.unwrap_or(id);
    let from = after_seq.map_or(id, |seq| seq.saturating_add(1).max(id));
    (C::pick::<Reads>().changeset_page)(conn, id, from, last, to_limit(limit))?
        .into_iter()
        .map(decode::<C>)
        .collect()
}

/// Runs `f` in a transaction and rolls it back: what a write would do, with nothing written.
/// Inside `f`, read what the write did (say, [`changeset`] of the id it returns) and return it.
/// An error from `f` (a conflict, nothing to undo) is returned as is.
///
/// ```
/// # use diesel::{Connection, SqliteConnection};
/// # use recover_core::{dynamic, Journal};
/// # let mut conn = SqliteConnection::establish(":memory:")?;
/// # recover_core::install(&mut conn)?;
/// let journal = Journal::new().actor("ops");
/// let would = dynamic::dry_run(&mut conn, |conn| {
///     let cs = journal.undo_changeset(conn, recover_core::ChangesetId::EMPTY)?;
///     dynamic::changeset(conn, cs)
/// })?;
/// assert!(would.is_empty());
/// # Ok::<(), recover_core::Error>(())
/// ```
pub fn dry_run<C: JournalConn, R>(
    conn: &mut C,
    f: impl FnOnce(&mut C) -> Result<R, Error>,
) -> Result<R, Error> {
    let mut outcome = None;
    let rolled_back = conn.transaction::<(), Error, _>(|conn| {
        outcome = Some(f(conn)?);
        Err(diesel::result::Error::RollbackTransaction.into())
    });
    match (rolled_back, outcome) {
        (Err(Error::Database(diesel::result::Error::RollbackTransaction)), Some(outcome)) => {
            Ok(outcome)
        }
        (Err(e), _) => Err(e),
        (Ok(()), _) => Err(Error::Unsupported("a dry run committed")),
    }
}

/// Undoes the entity's newest change (the body of `Journal::undo_key`).
pub(crate) fn undo<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &Key<C>,
) -> Result<(), Error> {
    key.model.registration.undo(conn, rec, &key.text)
}

/// Redoes the entity's most recently undone change (the body of `Journal::redo_key`).
pub(crate) fn redo<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &Key<C>,
) -> Result<(), Error> {
    key.model.registration.redo(conn, rec, &key.text)
}

/// Restores the entity (the body of `Journal::restore_key`).
pub(crate) fn restore<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &Key<C>,
    to: RestoreTo,
) -> Result<(), Error> {
    let at = match to {
        RestoreTo::Version(n) => At::Version(n),
        RestoreTo::Time(t) => At::Time(t),
        RestoreTo::Entry(seq) => {
            let entry = conn.entry(seq)?.ok_or(Error::EntryNotFound(seq))?;
            if entry.entity != key.entity() || entry.entity_key != key.text {
                return Err(Error::EntryOfOtherEntity {
                    seq,
                    entity: key.entity(),
                    key: key.text.clone(),
                    found_entity: entry.entity,
                    found_key: entry.entity_key,
                });
            }
            let n = (C::pick::<Reads>().position)(conn, key.entity(), &key.text, seq)?;
            At::Version(usize::try_from(n).unwrap_or(usize::MAX))
        }
    };
    key.model.registration.restore(conn, rec, &key.text, at)
}

/// A journal row as a [`JournalEntry`], its images in recover's encoding when the model is
/// linked into the program.
fn decode<C: JournalConn>(row: EntryRow) -> Result<JournalEntry, Error> {
    let op = Op::parse(row.seq, &row.op)?;
    let registration = registry::registered::<C>(&row.entity, None);
    let parse = |text: &Option<String>| {
        text.as_deref()
            .map(|text| match registration {
                Some(r) => r.canonical(row.seq, text),
                None => image::parse(row.seq, text),
            })
            .transpose()
    };
    let before = parse(&row.before_image)?;
    let after = parse(&row.after_image)?;
    let changed_columns = match registration {
        Some(r) => r
            .changed(before.as_ref(), after.as_ref())
            .into_iter()
            .map(str::to_owned)
            .collect(),
        None => raw_difference(before.as_ref(), after.as_ref()),
    };
    let recorded_at =
        DateTime::from_timestamp_micros(row.recorded_at).ok_or_else(|| Error::CorruptJournal {
            seq: row.seq,
            problem: format!("recorded_at {} is out of range", row.recorded_at),
        })?;
    Ok(JournalEntry {
        seq: row.seq,
        changeset: ChangesetId::from(row.changeset_id),
        entity: row.entity,
        key: row.entity_key,
        op,
        before,
        after,
        undoes: row.undoes,
        actor: row.actor,
        reason: row.reason,
        recorded_at,
        changed_columns,
    })
}

fn to_limit(limit: usize) -> i64 {
    i64::try_from(limit.max(1)).unwrap_or(i64::MAX)
}

/// The journal reads of this module, per connection type (the same SQL on every backend, each
/// checked against its concrete connection and prepared by Diesel's statement cache where it
/// can be).
struct Reads;

/// [`Reads`] for one connection type.
struct ReadsOf<C> {
    /// A page of [`log`].
    log: fn(&mut C, &Log) -> QueryResult<Vec<EntryRow>>,
    /// (distinct keys, entries) of one table.
    counts: fn(&mut C, &str) -> QueryResult<(i64, i64)>,
    /// How many entries of the entity have a seq at most the given one: that entry's version.
    position: fn(&mut C, &str, &str, i64) -> QueryResult<i64>,
    /// Entries of changeset `id` with a seq from the first bound to the second, oldest first,
    /// at most the limit.
    changeset_page: fn(&mut C, i64, i64, i64, i64) -> QueryResult<Vec<EntryRow>>,
}

macro_rules! reads {
    ($conn:ty) => {{
        use diesel::prelude::*;

        use crate::schema::recover_journal as j;

        fn log(conn: &mut $conn, filter: &Log) -> QueryResult<Vec<EntryRow>> {
            let mut query = j::table.into_boxed();
            if let Some(entity) = &filter.entity {
                query = query.filter(j::entity.eq(entity.as_str()));
            }
            if let Some(key) = &filter.key {
                query = query.filter(j::entity_key.eq(key.as_str()));
            }
            if let Some(actor) = &filter.actor {
                query = query.filter(j::actor.eq(actor.as_str()));
            }
            if let Some(since) = filter.since {
                query = query.filter(j::recorded_at.ge(since));
            }
            if let Some(before) = filter.before_seq {
                query = query.filter(j::seq.lt(before));
            }
            query
                .order(j::seq.desc())
                .limit(to_limit(filter.limit))
                .load(conn)
        }

        fn counts(conn: &mut $conn, entity: &str) -> QueryResult<(i64, i64)> {
            j::table
                .filter(j::entity.eq(entity))
                .select((
                    diesel::dsl::count(j::entity_key).aggregate_distinct(),
                    diesel::dsl::count_star(),
                ))
                .get_result(conn)
        }

        fn position(conn: &mut $conn, entity: &str, key: &str, seq: i64) -> QueryResult<i64> {
            j::table
                .filter(j::entity.eq(entity))
                .filter(j::entity_key.eq(key))
                .filter(j::seq.le(seq))
                .count()
                .get_result(conn)
        }

        fn changeset_page(
            conn: &mut $conn,
            id: i64,
            from: i64,
            last: i64,
            limit: i64,
        ) -> QueryResult<Vec<EntryRow>> {
            j::table
                .filter(j::seq.between(from, last))
                .filter(j::changeset_id.eq(id))
                .order(j::seq.asc())
                .limit(limit)
                .load(conn)
        }

        ReadsOf {
            log,
            counts,
            position,
            changeset_page,
        }
    }};
}

impl PerBackend for Reads {
    type Of<C: JournalConn> = ReadsOf<C>;

    #[cfg(feature = "sqlite")]
    fn sqlite() -> Self::Of<diesel::sqlite::SqliteConnection> {
        reads!(diesel::sqlite::SqliteConnection)
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Self::Of<diesel::pg::PgConnection> {
        reads!(diesel::pg::PgConnection)
    }

    #[cfg(feature = "mysql")]
    fn mysql() -> Self::Of<diesel::mysql::MysqlConnection> {
        reads!(diesel::mysql::MysqlConnection)
    }
}

/// Restores every entity of `model` changed since `t` to its state at `t`.
pub(crate) fn restore_table<C: JournalConn>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    model: Model<C>,
    t: DateTime<Utc>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), Error> {
    model.registration.restore_table(conn, rec, t, progress)
}
