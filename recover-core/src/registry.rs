//! The link-time registry: every `#[derive(Recoverable)]` type submits its type-erased
//! operations per backend, so that an entity known only by its name in the journal can be
//! reverted (`undo_changeset`), checked (`check`, capture's triggers), and read and reverted by
//! tools that know it by its table name and its key as text (`dynamic`).

use serde_json::{Map, Value};

use crate::backend::{JournalConn, PerBackend};
use crate::entity_check::{check_entity, Problem};
use crate::error::Error;
use crate::image::ImageColumn;
use crate::model::{trigger_spec, Recoverable, RowStore};
use crate::record::Recording;
use crate::revert::{self, revert_entry, At};
use crate::row_image;
use crate::schema::EntryRow;
use crate::triggers::TriggerSpec;

/// An image parsed and brought to recover's own encoding.
type Canonical = fn(i64, &str) -> Result<Map<String, Value>, Error>;
/// The columns that differ between two images.
type Changed = fn(Option<&Map<String, Value>>, Option<&Map<String, Value>>) -> Vec<&'static str>;

/// Link-time registration of one `Recoverable` type on one backend: the operations that reach
/// an entity known only by its name in the journal (`undo_changeset` of entities this process
/// has not touched yet, `check`). Submitted by `#[derive(Recoverable)]`.
#[doc(hidden)]
pub struct Registration<C: 'static> {
    pub entity: &'static str,
    /// Reverts one entry; the bool asks for the conflict check against its after-image.
    pub revert: fn(&mut C, &mut Recording<'_>, &EntryRow, bool) -> Result<(), Error>,
    /// Checks the entries of one entity (oldest first) against each other and the stored row.
    pub check: fn(&mut C, &[EntryRow]) -> Result<Vec<Problem>, Error>,
    /// The model's Rust type name.
    pub model: fn() -> &'static str,
    /// What the model's capture triggers are generated from.
    pub spec: fn() -> TriggerSpec,
    /// The columns an image holds.
    pub columns: &'static [ImageColumn],
    /// The SQL names of the key columns, in the key's order.
    pub key_columns: &'static [&'static str],
    /// The canonical key text (as `recover_journal.entity_key` stores it) of a key written as
    /// JSON text, or [`Error::InvalidKey`].
    pub parse_key: fn(&str) -> Result<String, Error>,
    /// An image of entry `seq`, parsed and brought to recover's own encoding.
    pub canonical: Canonical,
    /// The SQL names of the image columns whose values differ between two images.
    pub changed: Changed,
    /// Undoes the newest change of the entity with this canonical key text.
    pub undo: fn(&mut C, &mut Recording<'_>, &str) -> Result<(), Error>,
    /// Redoes the most recently undone change of the entity with this canonical key text.
    pub redo: fn(&mut C, &mut Recording<'_>, &str) -> Result<(), Error>,
    /// Restores the entity with this canonical key text.
    pub restore: fn(&mut C, &mut Recording<'_>, &str, At) -> Result<(), Error>,
    /// Inserts the row an entry's after-image holds, unless a row with its key is stored
    /// already (`rebuild`, resumable); whether it inserted.
    pub rebuild_row: fn(&mut C, &EntryRow) -> Result<bool, Error>,
}

impl<C: JournalConn> Registration<C> {
    /// The registration of `T`.
    pub const fn of<T: Recoverable>() -> Self
    where
        C: RowStore<T>,
    {
        Registration {
            entity: T::ENTITY,
            revert: revert_entry::<T, C>,
            check: check_entity::<T, C>,
            model: std::any::type_name::<T>,
            spec: trigger_spec::<T>,
            columns: T::COLUMNS,
            key_columns: T::KEY_COLUMNS,
            parse_key: parse_key::<T>,
            canonical: row_image::parse_canonical::<T>,
            changed: row_image::changed_columns::<T>,
            undo: undo_key::<T, C>,
            redo: redo_key::<T, C>,
            restore: restore_key::<T, C>,
            rebuild_row: rebuild_row::<T, C>,
        }
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

/// [`revert::undo`] of the entity with this canonical key text (checked by `parse_key`).
fn undo_key<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &str,
) -> Result<(), Error> {
    let key = row_image::decode_key::<T>(0, key)?;
    revert::undo::<T, C>(conn, rec, &key)
}

/// [`revert::redo`] of the entity with this canonical key text.
fn redo_key<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &str,
) -> Result<(), Error> {
    let key = row_image::decode_key::<T>(0, key)?;
    revert::redo::<T, C>(conn, rec, &key)
}

/// [`revert::restore`] of the entity with this canonical key text.
fn restore_key<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    rec: &mut Recording<'_>,
    key: &str,
    at: At,
) -> Result<(), Error> {
    let key = row_image::decode_key::<T>(0, key)?;
    revert::restore::<T, C>(conn, rec, &key, at)
}

/// Inserts the row of `entry`'s after-image unless its key is stored already.
fn rebuild_row<T: Recoverable, C: RowStore<T>>(
    conn: &mut C,
    entry: &EntryRow,
) -> Result<bool, Error> {
    let Some(image) = entry.after_image.as_deref() else {
        return Ok(false);
    };
    let key = row_image::decode_key::<T>(entry.seq, &entry.entity_key)?;
    if conn.load_row(&key)?.is_some() {
        return Ok(false);
    }
    let row = row_image::decode::<T>(entry.seq, image, &entry.entity_key)?;
    conn.insert_row(&row)?;
    Ok(true)
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
