//! The runtime of [`recover`](https://docs.rs/recover): the journal tables, recording a change
//! with its before-image, history, and undo, redo, restore and changeset undo.
//!
//! Users depend on the `recover` facade crate, which re-exports this crate and the
//! `#[derive(Recoverable)]` macro.

mod backend;
mod bulk;
mod capture;
mod changeset;
mod check;
mod codec;
mod deleted;
mod error;
mod history;
mod image;
mod journal;
mod model;
mod prune;
mod record;
mod redact;
mod revert;
mod schema;
mod table;
mod triggers;

pub use backend::JournalConn;
pub use bulk::{BulkChanges, BulkFilter};
pub use capture::{capture, capture_sql, release};
pub use changeset::{ChangesetId, ChangesetTx};
pub use check::{check, Problem, Report};
pub use deleted::Deleted;
pub use error::Error;
pub use history::{Entry, Op};
pub use journal::Journal;
pub use model::{ImageColumn, Recoverable, RowStore};
pub use prune::{PruneReport, Retention};
pub use redact::RedactReport;
pub use revert::At;
pub use schema::install;
pub use table::Progress;

/// What `#[derive(Recoverable)]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::backend::Registration;
    pub use crate::bulk::{BulkChanges, BulkFilter, Uncached};
    pub use crate::image::{decode_untrusted, ImageReader, ImageWriter};
    pub use crate::model::SkippedDefault;
    pub use crate::triggers::{KindOf, SqlKind, ViaKnownKind, ViaOtherKind};
    pub use crate::{Error, ImageColumn, JournalConn, Recoverable, RowStore};
    pub use diesel;
    pub use inventory;

    pub use crate::{
        __recover_if_mysql as if_mysql, __recover_if_postgres as if_postgres,
        __recover_if_sqlite as if_sqlite,
    };
}

/// Expands to its input when the `sqlite` feature of recover is on.
#[cfg(feature = "sqlite")]
#[doc(hidden)]
#[macro_export]
macro_rules! __recover_if_sqlite { ($($item:tt)*) => { $($item)* }; }
#[cfg(not(feature = "sqlite"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __recover_if_sqlite {
    ($($item:tt)*) => {};
}

/// Expands to its input when the `postgres` feature of recover is on.
#[cfg(feature = "postgres")]
#[doc(hidden)]
#[macro_export]
macro_rules! __recover_if_postgres { ($($item:tt)*) => { $($item)* }; }
#[cfg(not(feature = "postgres"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __recover_if_postgres {
    ($($item:tt)*) => {};
}

/// Expands to its input when the `mysql` feature of recover is on.
#[cfg(feature = "mysql")]
#[doc(hidden)]
#[macro_export]
macro_rules! __recover_if_mysql { ($($item:tt)*) => { $($item)* }; }
#[cfg(not(feature = "mysql"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __recover_if_mysql {
    ($($item:tt)*) => {};
}
