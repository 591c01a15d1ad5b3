//! The runtime of [`recover`](https://docs.rs/recover): the journal tables, recording a change
//! with its before-image, history, and undo, redo, restore and changeset undo.
//!
//! Users depend on the `recover` facade crate, which re-exports this crate and the
//! `#[derive(Recoverable)]` macro.

// The layers, from the ground up: a module uses only modules of its own layer and of the
// layers listed before it.
// ground: the error, the clock, changeset ids, images and the values in them.
mod changeset_id;
mod clock;
mod codec;
mod error;
mod image;
// storage: the journal's tables, SQL per backend, capture triggers per backend, and the
// statements on a model's rows.
mod backend;
mod row_access;
mod schema;
mod triggers;
// the model: what the derive implements, a model's rows and keys as journal text, and its
// part of the engine as function pointers.
mod model;
mod model_ops;
mod row_image;
// the engine: record one change, read a history, revert one entry.
mod history;
mod record;
mod revert;
// capabilities built from the engine.
mod bulk;
mod capture;
mod changeset;
mod check;
mod compare;
mod deleted;
pub mod dynamic;
mod entity_check;
mod export;
mod export_sql;
mod prune;
mod rebuild;
mod redact;
mod registry;
mod table;
// the face.
mod journal;

pub use backend::{install, JournalConn};
pub use capture::{capture, capture_sql, release};
pub use changeset::ChangesetTx;
pub use changeset_id::ChangesetId;
pub use check::{check, Report};
pub use compare::{compare, CompareReport};
pub use deleted::Deleted;
pub use entity_check::Problem;
pub use error::Error;
pub use export::{
    export, verify_export, ExportFrom, ExportPosition, ExportSummary, VerifySummary,
    CHECKPOINT_EVERY, FORMAT, FORMAT_VERSION,
};
pub use history::{Entry, Op};
pub use image::ImageColumn;
pub use journal::Journal;
pub use model::{BulkChanges, BulkFilter, Recoverable, RowStore};
pub use prune::{PruneReport, Retention};
pub use rebuild::{rebuild, rebuild_with_progress, RebuildSummary};
pub use redact::RedactReport;
pub use revert::At;
pub use table::Progress;

/// What `#[derive(Recoverable)]` expands to refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::backend::Uncached;
    pub use crate::image::{ImageReader, ImageWriter};
    pub use crate::model::{load_row, BulkChanges, BulkFilter, SkippedDefault, UpdateWhere};
    pub use crate::registry::Registration;
    pub use crate::row_access::{no_such_column, RowReader, RowShape, SqlTexts};
    pub use crate::row_image::decode_untrusted;
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
