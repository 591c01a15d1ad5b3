//! Capture triggers: what they are generated from, and the SQL per database.
//!
//! A capture trigger writes the journal entry of every row change on its table, whoever makes
//! it, in the shape recover writes itself: op, images keyed by column name, stack pointers
//! (a new change: `undo_next` is the entry itself), and the changeset of the context it runs in.
//! The context (a `journal.transaction`'s actor, reason and changeset) is per transaction and
//! lives where each database lets a trigger read it; see each backend's file.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use crate::model::{ImageColumn, Recoverable};

/// What a table's capture triggers are generated from: the model's table, image columns and key.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct TriggerSpec {
    pub entity: &'static str,
    pub columns: &'static [ImageColumn],
    pub key: &'static [&'static str],
}

impl TriggerSpec {
    pub(crate) fn of<T: Recoverable>() -> Self {
        TriggerSpec {
            entity: T::ENTITY,
            columns: T::COLUMNS,
            key: T::KEY_COLUMNS,
        }
    }

    /// The text every generated trigger carries, naming the columns it was generated for:
    /// `check` and `capture` compare it with what the model has now.
    pub fn fingerprint(&self) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        format!(
            "recover capture v1: {} columns ({}) key ({})",
            self.entity,
            columns.join(", "),
            self.key.join(", ")
        )
    }

    /// The image columns that are not key columns.
    pub(crate) fn value_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().filter(|c| !c.key).map(|c| c.name)
    }
}

/// The state a `journal.transaction` (or a bulk call on a captured table) gives the triggers.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Whether a context is set at all (outside one, triggers group as the backend can).
    pub active: bool,
    /// The changeset's first seq, once a trigger has written an entry.
    pub changeset_id: Option<i64>,
    /// The seq of the last entry a trigger wrote in this context.
    pub last_seq: Option<i64>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    /// Microseconds since the epoch, from the application's clock.
    pub recorded_at: Option<i64>,
}

/// `"name"`: an SQL identifier, quoted.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`: an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
