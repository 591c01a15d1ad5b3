//! The one error type of `recover`.

use crate::changeset_id::ChangesetId;

/// Everything that can go wrong in `recover`.
///
/// Every variant leaves the database exactly as it was before the call: the call's transaction
/// (or savepoint) is rolled back. Variants name the entity (its table) and its key so that a
/// message is actionable on its own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The row, or the entity's history, does not exist.
    #[error("{entity} {key}: no such row")]
    NotFound {
        /// The entity's table.
        entity: &'static str,
        /// The key, as canonical JSON text.
        key: String,
    },

    /// `update_where` or `delete_where` with a filter that matches no row: nothing was written.
    #[error("{entity}: no row matches the filter; nothing was written")]
    NoMatch {
        /// The entity's table.
        entity: &'static str,
    },

    /// `insert` of a key that is already stored.
    #[error("{entity} {key}: a row with this key already exists")]
    AlreadyExists {
        /// The entity's table.
        entity: &'static str,
        /// The key, as canonical JSON text.
        key: String,
    },

    /// `undo` found no change of this entity that is not yet undone.
    #[error("{entity} {key}: nothing to undo")]
    NothingToUndo {
        /// The entity's table.
        entity: &'static str,
        /// The key, as canonical JSON text.
        key: String,
    },

    /// `redo` found nothing undone, or a new change was recorded since the last undo.
    #[error("{entity} {key}: nothing to redo")]
    NothingToRedo {
        /// The entity's table.
        entity: &'static str,
        /// The key, as canonical JSON text.
        key: String,
    },

    /// The stored row differs from the journal's newest after-image: someone changed it outside
    /// `recover`. Nothing was written; use [`Journal::force`](crate::Journal::force) to
    /// overwrite anyway.
    #[error(
        "{entity} {key}: the stored row was changed outside recover (columns differ: {}); \
         nothing was written, use Journal::force() to overwrite",
        columns.join(", ")
    )]
    Conflict {
        /// The entity's table.
        entity: &'static str,
        /// The key, as canonical JSON text.
        key: String,
        /// What the journal says the row holds (`None`: absent).
        expected: Option<Box<serde_json::Value>>,
        /// What the row holds now (`None`: absent).
        actual: Option<Box<serde_json::Value>>,
        /// The SQL names of the columns that differ (every image column when one side is absent).
        columns: Vec<String>,
    },

    /// A journal image does not fit the model any more: a column is missing (and the field has
    /// no `#[recover(default = ..)]`) or holds a value the field's type cannot take.
    #[error("{entity} journal entry {seq}: column `{column}` {problem}")]
    SchemaDrift {
        /// The entity's table.
        entity: &'static str,
        /// The journal entry holding the image.
        seq: i64,
        /// The SQL column name.
        column: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A journal image's column was erased by `redact`, and the field has no
    /// `#[recover(default = "..")]` to stand in for it.
    #[error("{entity} journal entry {seq}: column `{column}` was redacted; give the field #[recover(default = \"..\")] to restore images without it")]
    Redacted {
        /// The entity's table.
        entity: &'static str,
        /// The journal entry holding the image.
        seq: i64,
        /// The SQL column name.
        column: String,
    },

    /// A column named to an operation that cannot take it.
    #[error("{entity}: column `{column}` {problem}")]
    InvalidColumn {
        /// The entity's table.
        entity: &'static str,
        /// The column as named.
        column: String,
        /// Why it cannot be used.
        problem: &'static str,
    },

    /// A journal image is not a JSON object, or belongs to another entity.
    #[error("journal entry {seq}: corrupt image: {problem}")]
    CorruptImage {
        /// The journal entry holding the image.
        seq: i64,
        /// What is wrong with it.
        problem: String,
    },

    /// A journal row is inconsistent (unknown op, dangling pointer, wrong entity).
    #[error("journal entry {seq}: corrupt journal row: {problem}")]
    CorruptJournal {
        /// The journal entry.
        seq: i64,
        /// What is wrong with it.
        problem: String,
    },

    /// `restore` to a version the entity never had.
    #[error("{entity} {key}: no version {requested} (the entity has {latest} journal entries)")]
    VersionOutOfRange {
        /// The entity's table.
        entity: &'static str,
        /// The key, as canonical JSON text.
        key: String,
        /// The version asked for (1-based).
        requested: usize,
        /// How many entries the entity has.
        latest: usize,
    },

    /// A table restore found rows changed outside recover: one (key, columns that differ) per
    /// entity. Nothing was written; use [`Journal::force`](crate::Journal::force) to overwrite.
    #[error(
        "{entity}: {} rows were changed outside recover ({}); nothing was written, use Journal::force() to overwrite",
        conflicts.len(),
        conflicts.iter().map(|(key, columns)| format!("{key}: {}", columns.join(", "))).collect::<Vec<_>>().join("; ")
    )]
    TableConflict {
        /// The table.
        entity: &'static str,
        /// Each conflicting entity's key (canonical JSON text) and the columns that differ.
        conflicts: Vec<(String, Vec<String>)>,
    },

    /// A table restore to an instant before the journal's first entry: the journal cannot say
    /// what the table held then.
    #[error("the journal begins after {at}: it cannot say what the table held then")]
    BeforeJournal {
        /// The instant asked for.
        at: chrono::DateTime<chrono::Utc>,
    },

    /// An argument the operation does not take (say which and why).
    #[error("{0}")]
    Unsupported(&'static str),

    /// `undo_changeset` of an id that names no journal entries.
    #[error("changeset {} not found in the journal", .0.get())]
    ChangesetNotFound(ChangesetId),

    /// The journal holds an entity whose `Recoverable` type is not linked into this program.
    #[error("journal entity `{0}` has no #[derive(Recoverable)] type in this program")]
    UnknownEntity(String),

    /// A key given as text that is not the JSON of the model's key (`1`, `"abc"`, `[7,"acme"]`:
    /// the form `recover_journal.entity_key` stores).
    #[error("{entity}: {key:?} is not a key: {problem}")]
    InvalidKey {
        /// The entity's table.
        entity: &'static str,
        /// The text as given.
        key: String,
        /// What is wrong with it.
        problem: String,
    },

    /// No journal entry has this seq (it never existed, or retention removed it).
    #[error("journal entry {0} not found")]
    EntryNotFound(i64),

    /// A journal entry named for an entity is an entry of another one.
    #[error(
        "journal entry {seq} is an entry of {found_entity} {found_key}, not of {entity} {key}"
    )]
    EntryOfOtherEntity {
        /// The entry.
        seq: i64,
        /// The entity's table, as asked.
        entity: &'static str,
        /// The key, as asked (canonical JSON text).
        key: String,
        /// The entity the entry belongs to.
        found_entity: String,
        /// Its key.
        found_key: String,
    },

    /// A field value could not be encoded as JSON.
    #[error("{entity}: column `{column}` cannot be encoded as JSON: {problem}")]
    Encode {
        /// The entity's table.
        entity: &'static str,
        /// The SQL column name.
        column: String,
        /// The serializer's message.
        problem: String,
    },

    /// The journal tables do not exist: call [`install`](crate::install) first.
    #[error("the recover journal is not installed in this database: call recover::install(conn) first ({0})")]
    NotInstalled(diesel::result::Error),

    /// The database refused because of a concurrent transaction (serialization failure,
    /// deadlock, or a busy SQLite file after its timeout). Nothing was written; the call can be
    /// retried as is.
    #[error("concurrent transaction, retry the call: {0}")]
    Retryable(diesel::result::Error),

    /// `capture` of a model whose table does not exist in the database.
    #[error("cannot capture {entity}: the table does not exist")]
    NoSuchTable {
        /// The entity's table.
        entity: &'static str,
    },

    /// `capture` of a table with a key column that allows NULL: a NULL key names no entity.
    #[error("cannot capture {entity}: key column `{column}` is nullable; declare it NOT NULL")]
    NullableKey {
        /// The entity's table.
        entity: &'static str,
        /// The nullable key column.
        column: String,
    },

    /// `capture` of a table that another model captures already: one table, one model.
    #[error(
        "{entity} is captured for model `{captured_by}`, not `{requested_by}`: release it first"
    )]
    CapturedByOtherModel {
        /// The entity's table.
        entity: &'static str,
        /// The Rust type the table is captured for.
        captured_by: String,
        /// The Rust type `capture` was called with.
        requested_by: &'static str,
    },

    /// A trigger with the name capture uses exists on the table and was not made by recover.
    #[error("cannot capture {entity}: trigger `{trigger}` exists and is not recover's; rename or drop it")]
    TriggerExists {
        /// The entity's table.
        entity: &'static str,
        /// The trigger's name.
        trigger: String,
    },

    /// `capture` on MySQL of a table with a foreign key that cascades: MySQL changes rows by
    /// cascade without firing their triggers, so those changes could not be journaled.
    #[error("cannot capture {entity}: MySQL does not fire triggers for foreign key `{constraint}`'s cascades; make it RESTRICT, or record changes through Journal")]
    CascadeNotCaptured {
        /// The entity's table.
        entity: &'static str,
        /// The cascading foreign key.
        constraint: String,
    },

    /// The database refused to create capture triggers for lack of privilege (MySQL with
    /// binary logging: grant SUPER, or set `log_bin_trust_function_creators = 1`).
    #[error("cannot capture {entity}: the database refused to create its triggers ({problem}); on MySQL with binary logging, set log_bin_trust_function_creators = 1 or grant SUPER")]
    CaptureRefused {
        /// The entity's table.
        entity: &'static str,
        /// The database's message.
        problem: String,
    },

    /// `capture` on a connection whose database is older than capture's triggers need
    /// (SQLite before 3.35.0: see [`capture`](crate::capture())). Nothing was written.
    #[error("cannot capture {entity}: this connection's {database} is {version}, and capture's triggers need {database} {minimum} or later")]
    DatabaseTooOld {
        /// The entity's table.
        entity: &'static str,
        /// The database: `SQLite`.
        database: &'static str,
        /// The connection's version, as the database gives it (`select sqlite_version()`).
        version: String,
        /// The oldest version the triggers run on.
        minimum: &'static str,
    },

    /// An export (`verify_export`, `compare`, `rebuild`) with a line that is not what the format
    /// says, or whose hash does not chain: it was altered, reordered, cut or is not an export.
    #[error("export line {line}{}: {problem}", .seq.map(|s| format!(" (journal entry {s})")).unwrap_or_default())]
    BadExport {
        /// The line, 1-based.
        line: u64,
        /// The journal entry the line holds, if it is an entry line that parsed.
        seq: Option<i64>,
        /// What is wrong with it.
        problem: String,
    },

    /// An export written in a format version this release does not read (a later one).
    #[error(
        "export line {line}: format version {found}, this release reads versions up to {supported}"
    )]
    ExportVersion {
        /// The header's line, 1-based.
        line: u64,
        /// The version the header names.
        found: u64,
        /// The newest version this release reads.
        supported: u64,
    },

    /// An export position (`ExportFrom::After`) that is malformed or was taken on another
    /// backend than the connection's.
    #[error("export position {position:?}: {problem}")]
    BadPosition {
        /// The position as given.
        position: String,
        /// What is wrong with it.
        problem: String,
    },

    /// `rebuild` to a point the export cannot rebuild: before its first entry, or before an
    /// entity's history begins in it (pruned, or recorded only from an update on).
    #[error("the export cannot rebuild {requested}: the earliest point it can rebuild is journal entry {earliest_seq} ({earliest_time})")]
    BeforeHorizon {
        /// The point asked for, as text.
        requested: String,
        /// The earliest seq it can rebuild (`At::Version`).
        earliest_seq: i64,
        /// The earliest instant it can rebuild (`At::Time`).
        earliest_time: chrono::DateTime<chrono::Utc>,
    },

    /// Reading or writing an export failed.
    #[error("export I/O: {0}")]
    Io(#[from] std::io::Error),

    /// Any other database error.
    #[error("database error: {0}")]
    Database(diesel::result::Error),

    /// Opening a connection failed.
    #[error("connection error: {0}")]
    Connection(#[from] diesel::ConnectionError),
}

impl From<diesel::result::Error> for Error {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error as E};
        match &error {
            E::DatabaseError(kind, info) => {
                let message = info.message();
                let journal_missing = [
                    "recover_journal",
                    "recover_changesets",
                    "recover_heads",
                    "recover_tickets",
                    "recover_captures",
                    "recover_context",
                    "recover_marks",
                ]
                .iter()
                .any(|table| message.contains(table))
                    && (message.contains("no such table")
                        || message.contains("does not exist")
                        || message.contains("doesn't exist"));
                if journal_missing {
                    Error::NotInstalled(error)
                } else if matches!(kind, DatabaseErrorKind::SerializationFailure)
                    || message.contains("deadlock")
                    || message.contains("Deadlock")
                    || message.contains("database is locked")
                    || message.contains("database table is locked")
                    || message.contains("Lock wait timeout")
                {
                    Error::Retryable(error)
                } else {
                    Error::Database(error)
                }
            }
            _ => Error::Database(error),
        }
    }
}

impl Error {
    /// `true` when the call failed only because of a concurrent transaction and can be retried.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Retryable(_))
    }
}
