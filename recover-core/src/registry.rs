//! The link-time registry: every `#[derive(Recoverable)]` type submits its type-erased
//! operations per backend, so that an entity known only by its name in the journal can be
//! reverted (`undo_changeset`), checked (`check`, capture's triggers), and read and reverted by
//! tools that know it by its table name and its key as text (`dynamic`).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::backend::{JournalConn, PerBackend};
use crate::entity_check::{check_entity, Problem};
use crate::error::Error;
use crate::image::ImageColumn;
use crate::model::{trigger_spec, Recoverable, RowStore};
use crate::model_ops::ModelOps;
use crate::record::Recording;
use crate::revert::{self, At};
use crate::row_image;
use crate::schema::EntryRow;
use crate::table::{self, Progress};
use crate::triggers::TriggerSpec;

/// Link-time registration of one `Recoverable` type on one backend: the operations that reach
/// an entity known only by its name in the journal (`undo_changeset` of entities this process
/// has not touched yet, `check`, `dynamic`). Submitted by `#[derive(Recoverable)]`.
#[doc(hidden)]
pub struct Registration<C: 'static> {
    pub entity: &'static str,
    /// The model's own part of undo, redo, restore and check; the engine is shared.
    pub(crate) ops: ModelOps<C>,
    /// The model's Rust type name.
    pub model: fn() -> &'static str,
    /// What the model's capture triggers are generated from.
    pub spec: fn() -> TriggerSpec,
    /// The SQL names of the key columns, in the key's order.
    pub key_columns: &'static [&'static str],
    /// The canonical key text (as `recover_journal.entity_key` stores it) of a key written as
    /// JSON text, or [`Error::InvalidKey`].
    pub parse_key: fn(&str) -> Result<String, Error>,
}

impl<C: JournalConn> Registration<C> {
    /// The registration of `T`.
    pub const fn of<T: Recoverable>() -> Self
    where
        C: RowStore<T>,
    {
        Registration {
            entity: T::ENTITY,
            ops: ModelOps::of::<T>(),
            model: std::any::type_name::<T>,
            spec: trigger_spec::<T>,
            key_columns: T::KEY_COLUMNS,
            parse_key: parse_key::<T>,
        }
    }

    /// The columns an image holds.
    pub(crate) fn columns(&self) -> &'static [ImageColumn] {
        self.ops.columns
    }

    /// Reverts one entry; `check_conflict` asks for the conflict check against its
    /// after-image.
    pub(crate) fn revert(
        &self,
        conn: &mut C,
        rec: &mut Recording<'_>,
        entry: &EntryRow,
        check_conflict: bool,
    ) -> Result<(), Error> {
        revert::revert_entry(conn, rec, &self.ops, entry, check_conflict)
    }

    /// Checks the entries of one entity (oldest first) against each other and the stored row.
    pub(crate) fn check(&self, conn: &mut C, entries: &[EntryRow]) -> Result<Vec<Problem>, Error> {
        check_entity(conn, &self.ops, entries)
    }

    /// Undoes the newest change of the entity with this canonical key text.
    pub(crate) fn undo(
        &self,
        conn: &mut C,
        rec: &mut Recording<'_>,
        key: &str,
    ) -> Result<(), Error> {
        revert::undo(conn, rec, &self.ops, key)
    }

    /// Redoes the most recently undone change of the entity with this canonical key text.
    pub(crate) fn redo(
        &self,
        conn: &mut C,
        rec: &mut Recording<'_>,
        key: &str,
    ) -> Result<(), Error> {
        revert::redo(conn, rec, &self.ops, key)
    }

    /// Restores the entity with this canonical key text.
    pub(crate) fn restore(
        &self,
        conn: &mut C,
        rec: &mut Recording<'_>,
        key: &str,
        at: At,
    ) -> Result<(), Error> {
        revert::restore(conn, rec, &self.ops, key, at)
    }

    /// The row stored under this canonical key text, as a parsed image.
    pub(crate) fn stored(
        &self,
        conn: &mut C,
        key: &str,
    ) -> Result<Option<Map<String, Value>>, Error> {
        self.ops
            .load(conn, 0, key)?
            .map(|image| crate::image::parse(0, &image))
            .transpose()
    }

    /// Restores every entity of the model changed since `t` to its state at `t`.
    pub(crate) fn restore_table(
        &self,
        conn: &mut C,
        rec: &mut Recording<'_>,
        t: DateTime<Utc>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), Error> {
        table::restore_table(conn, rec, &self.ops, t, progress)
    }

    /// An image of entry `seq`, parsed and brought to recover's own encoding.
    pub(crate) fn canonical(&self, seq: i64, text: &str) -> Result<Map<String, Value>, Error> {
        self.ops.canonical(seq, text)
    }

    /// The SQL names of the image columns whose values differ between two images.
    pub(crate) fn changed(
        &self,
        before: Option<&Map<String, Value>>,
        after: Option<&Map<String, Value>>,
    ) -> Vec<&'static str> {
        row_image::changed_columns(self.ops.columns, before, after)
    }

    /// Inserts the row an entry's after-image holds, unless a row with its key is stored
    /// already (`rebuild`, resumable); whether it inserted.
    pub(crate) fn rebuild_row(&self, conn: &mut C, entry: &EntryRow) -> Result<bool, Error> {
        let Some(image) = entry.after_image.as_deref() else {
            return Ok(false);
        };
        if self.ops.load(conn, entry.seq, &entry.entity_key)?.is_some() {
            return Ok(false);
        }
        self.ops.apply(
            conn,
            &entry.entity_key,
            false,
            Some((image, entry.seq)),
            &mut |_| Ok(()),
        )?;
        Ok(true)
    }
}

/// The canonical text of a key of `T` written as JSON (`1`, `"abc"`, `[7,"acme"]`).
fn parse_key<T: Recoverable>(text: &str) -> Result<String, Error> {
    let key: T::Key = serde_json::from_str(text).map_err(|e| Error::InvalidKey {
        entity: T::ENTITY,
        key: text.to_owned(),
        problem: format!(
            "expected the key ({}) as JSON, as the journal stores it ({}): {e}",
            T::KEY_COLUMNS.join(", "),
            if T::KEY_COLUMNS.len() == 1 {
                "1 or \"text\""
            } else {
                "an array such as [7,\"acme\"]"
            }
        ),
    })?;
    row_image::encode_key::<T>(&key)
}

#[cfg(feature = "sqlite")]
inventory::collect!(Registration<diesel::sqlite::SqliteConnection>);
#[cfg(feature = "postgres")]
inventory::collect!(Registration<diesel::pg::PgConnection>);
#[cfg(feature = "mysql")]
inventory::collect!(Registration<diesel::mysql::MysqlConnection>);

/// The registered `Recoverable` type of an entity on backend `C`, as its type-erased
/// operations: the type named `model` (a Rust type name) if it is registered, else the one with
/// the most image columns.
pub(crate) fn registered<C: JournalConn>(
    entity: &str,
    model: Option<&str>,
) -> Option<&'static Registration<C>> {
    C::pick::<Lookup>()(entity, model)
}

/// Every registered `Recoverable` type on backend `C`, one per entity (the one [`registered`]
/// picks), ordered by entity.
pub(crate) fn all<C: JournalConn>() -> Vec<&'static Registration<C>> {
    C::pick::<All>()()
}

/// The lookup of [`registered`] in the registrations of one connection type.
struct Lookup;

/// [`all`], per connection type.
struct All;

impl PerBackend for All {
    type Of<C: JournalConn> = fn() -> Vec<&'static Registration<C>>;

    #[cfg(feature = "sqlite")]
    fn sqlite() -> Self::Of<diesel::sqlite::SqliteConnection> {
        every
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Self::Of<diesel::pg::PgConnection> {
        every
    }

    #[cfg(feature = "mysql")]
    fn mysql() -> Self::Of<diesel::mysql::MysqlConnection> {
        every
    }
}

/// [`all`], over what `inventory` collected for `C`.
fn every<C>() -> Vec<&'static Registration<C>>
where
    Registration<C>: inventory::Collect,
{
    let entities: std::collections::BTreeSet<&'static str> = inventory::iter::<Registration<C>>
        .into_iter()
        .map(|r| r.entity)
        .collect();
    entities
        .into_iter()
        .filter_map(|entity| find::<C>(entity, None))
        .collect()
}

impl PerBackend for Lookup {
    type Of<C: JournalConn> = fn(&str, Option<&str>) -> Option<&'static Registration<C>>;

    #[cfg(feature = "sqlite")]
    fn sqlite() -> Self::Of<diesel::sqlite::SqliteConnection> {
        find
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Self::Of<diesel::pg::PgConnection> {
        find
    }

    #[cfg(feature = "mysql")]
    fn mysql() -> Self::Of<diesel::mysql::MysqlConnection> {
        find
    }
}

/// [`registered`], over what `inventory` collected for `C`.
fn find<C>(entity: &str, model: Option<&str>) -> Option<&'static Registration<C>>
where
    Registration<C>: inventory::Collect,
{
    let of_entity = || {
        inventory::iter::<Registration<C>>
            .into_iter()
            .filter(move |r| r.entity == entity)
    };
    model
        .and_then(|model| of_entity().find(|r| (r.model)() == model))
        // Several models may map one table: the one with the most image columns reads and
        // restores every column the others do.
        .or_else(|| of_entity().max_by_key(|r| (r.spec)().columns.len()))
}
