//! The link-time registry: every `#[derive(Recoverable)]` type submits its type-erased
//! operations per backend, so that an entity known only by its name in the journal can be
//! reverted (`undo_changeset`) and checked (`check`, capture's triggers).

use crate::backend::{JournalConn, PerBackend};
use crate::entity_check::{check_entity, Problem};
use crate::error::Error;
use crate::model::{trigger_spec, Recoverable, RowStore};
use crate::record::Recording;
use crate::revert::revert_entry;
use crate::schema::EntryRow;
use crate::triggers::TriggerSpec;

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
        }
    }
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

/// The lookup of [`registered`] in the registrations of one connection type.
struct Lookup;

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
