//! The journal's tables: their Diesel description and their rows.

diesel::table! {
    /// One row per recorded change of one entity.
    recover_journal (seq) {
        seq -> BigInt,
        changeset_id -> BigInt,
        entity -> Text,
        entity_key -> Text,
        op -> Text,
        before_image -> Nullable<Text>,
        after_image -> Nullable<Text>,
        undoes -> Nullable<BigInt>,
        undo_next -> Nullable<BigInt>,
        redo_next -> Nullable<BigInt>,
        actor -> Nullable<Text>,
        reason -> Nullable<Text>,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    /// Metadata of changesets with more than one entry.
    recover_changesets (id) {
        id -> BigInt,
        last_seq -> BigInt,
        actor -> Nullable<Text>,
        reason -> Nullable<Text>,
        recorded_at -> BigInt,
    }
}

diesel::table! {
    /// The tables in capture mode: which model they are captured for, and for which columns.
    recover_captures (entity) {
        entity -> Text,
        model -> Text,
        generated_for -> Text,
        captured_at -> BigInt,
    }
}

diesel::table! {
    /// One row per `redact`: who erased which columns of which entity, and when.
    recover_redactions (id) {
        id -> BigInt,
        entity -> Text,
        entity_key -> Text,
        erased_columns -> Text,
        actor -> Nullable<Text>,
        reason -> Nullable<Text>,
        recorded_at -> BigInt,
    }
}

// The journal seen a second time, in a subquery.
diesel::alias!(recover_journal as journal_inner: JournalInner);

/// One `recover_journal` row, as stored.
///
/// `undo_next` and `redo_next` make undo and redo index lookups: they hold the seq that `undo`
/// (and `redo`) of this entity reverts once this entry is the entity's newest. `changeset_id` is
/// the seq of the changeset's first entry; `recorded_at` is microseconds since the Unix epoch, UTC.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable)]
pub struct EntryRow {
    pub seq: i64,
    pub changeset_id: i64,
    pub entity: String,
    pub entity_key: String,
    pub op: String,
    pub before_image: Option<String>,
    pub after_image: Option<String>,
    pub undoes: Option<i64>,
    pub undo_next: Option<i64>,
    pub redo_next: Option<i64>,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: i64,
}

/// A journal row to insert, before its seq is known everywhere.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct NewEntryRow<'a> {
    /// Taken before the change (SQLite, MySQL), or `None`: drawn by the insert (PostgreSQL).
    pub seq: Option<i64>,
    /// The changeset's first seq, or `None`: this entry is the first.
    pub changeset_id: Option<i64>,
    pub entity: &'a str,
    pub entity_key: &'a str,
    pub op: &'a str,
    pub before_image: Option<&'a str>,
    pub after_image: Option<&'a str>,
    pub undoes: Option<i64>,
    pub stack: Stack,
    /// The entry follows a write of its row, which a capture trigger may have journaled.
    pub after_write: bool,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub recorded_at: i64,
}

impl NewEntryRow<'_> {
    /// `changeset_id`, `undo_next` and `redo_next` once the entry's own seq is known.
    pub fn links(&self, seq: i64) -> (i64, Option<i64>, Option<i64>) {
        let (undo_next, redo_next) = match self.stack {
            Stack::Push => (Some(seq), None),
            Stack::Undo { undo_next } => (undo_next, Some(seq)),
            Stack::Redo { redo_next } => (Some(seq), redo_next),
        };
        (self.changeset_id.unwrap_or(seq), undo_next, redo_next)
    }
}

/// Where an entry leaves the entity's undo and redo stacks.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// A new change: undo reverts it next, and nothing is left to redo.
    Push,
    /// An undo: `undo_next` is what undo reverts after it; redo reverts the undo itself.
    Undo { undo_next: Option<i64> },
    /// A redo: undo reverts the redo itself; `redo_next` is what redo reverts after it.
    Redo { redo_next: Option<i64> },
}

/// One `recover_changesets` row: written only for changesets of more than one entry (a
/// single-entry changeset keeps its metadata in its entry, and its id is that entry's seq).
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesetRow {
    pub id: i64,
    pub last_seq: i64,
    pub actor: Option<String>,
    pub reason: Option<String>,
    pub recorded_at: i64,
}
