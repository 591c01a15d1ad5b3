//! Capture triggers: what they are generated from, and the SQL per database.
//!
//! A capture trigger writes the journal entry of every row change on its table, whoever makes
//! it, in the shape recover writes itself: op, images keyed by column name, stack pointers
//! (a new change: `undo_next` is the entry itself), and the changeset of the context it runs in.
//! The context (a `journal.transaction`'s actor, reason and changeset) is per transaction and
//! lives where each database lets a trigger read it; see each backend's file.

#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use crate::image::ImageColumn;

/// What a table's capture triggers are generated from: the model's table, image columns (with
/// what their SQL types ask of a trigger) and key.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct TriggerSpec {
    pub entity: &'static str,
    pub columns: &'static [ImageColumn],
    /// One per image column, in the same order.
    pub kinds: Vec<SqlKind>,
    pub key: &'static [&'static str],
}

impl TriggerSpec {
    /// The image columns with their kinds.
    pub(crate) fn typed_columns(&self) -> impl Iterator<Item = (&'static str, SqlKind)> + '_ {
        self.columns
            .iter()
            .zip(
                self.kinds
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(SqlKind::Other)),
            )
            .map(|(c, kind)| (c.name, kind))
    }

    /// The text every generated trigger carries, naming the columns it was generated for:
    /// `check` and `capture` compare it with what the model has now. Its `version`, the
    /// backend's (`JournalConn::CAPTURE_VERSION`), changes with the triggers' shape, so that
    /// `check` reports a table whose triggers an older release generated as stale until
    /// `capture` refreshes them (they keep working meanwhile: the journal and the completion
    /// protocol are the same).
    pub fn fingerprint(&self, version: u32) -> String {
        let columns: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        format!(
            "recover capture v{version}: {} columns ({}) key ({})",
            self.entity,
            columns.join(", "),
            self.key.join(", ")
        )
    }

    /// The image columns that are not key columns.
    #[cfg(any(feature = "sqlite", feature = "mysql"))]
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
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `` `name` ``: a MySQL identifier, quoted.
#[cfg(feature = "mysql")]
pub(crate) fn ident_mysql(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'`: an SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `'text'`: a MySQL string literal (backslashes doubled, for the default `sql_mode`).
#[cfg(feature = "mysql")]
pub(crate) fn literal_mysql(text: &str) -> String {
    literal(&text.replace('\\', "\\\\"))
}

/// What a column's SQL type asks of a trigger that writes it into an image: most values are
/// written as the database's JSON has them; these need a form of their own.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlKind {
    /// Bytes: written as `"\x…"` hex text.
    Binary,
    /// An exact decimal: written as text, which keeps every digit.
    Numeric,
    /// A single-precision float (MySQL prints it with 6 digits: widened to double, exact).
    Float,
    /// A double-precision float (SQLite's `json_object` prints 15 digits: printed with 17).
    Double,
    /// JSON held as text (SQLite, PostgreSQL's `json`): embedded as JSON, not as a string,
    /// and compared as text where the type has no equality.
    Json,
    /// JSON held in a binary form (SQLite's and PostgreSQL's `jsonb`).
    Jsonb,
    /// Everything else.
    Other,
}

/// The kind of a Diesel SQL type that needs one (see [`SqlKind`]).
#[doc(hidden)]
pub trait KnownKind {
    const KIND: SqlKind;
}

impl KnownKind for diesel::sql_types::Binary {
    const KIND: SqlKind = SqlKind::Binary;
}

impl KnownKind for diesel::sql_types::Numeric {
    const KIND: SqlKind = SqlKind::Numeric;
}

impl KnownKind for diesel::sql_types::Float {
    const KIND: SqlKind = SqlKind::Float;
}

impl KnownKind for diesel::sql_types::Double {
    const KIND: SqlKind = SqlKind::Double;
}

impl KnownKind for diesel::sql_types::Json {
    const KIND: SqlKind = SqlKind::Json;
}

impl KnownKind for diesel::sql_types::Jsonb {
    const KIND: SqlKind = SqlKind::Jsonb;
}

impl<T: KnownKind + diesel::sql_types::SqlType> KnownKind for diesel::sql_types::Nullable<T> {
    const KIND: SqlKind = T::KIND;
}

/// Finds the [`SqlKind`] of the SQL type `T` in code `#[derive(Recoverable)]` generates:
/// `(&&KindOf::<T>::new()).kind()` is `T`'s [`KnownKind`] where it has one and
/// `SqlKind::Other` for every other type, a user's own SQL types included (autoref
/// specialization: the first trait's impl is on `&KindOf<T>`, the second's on `KindOf<T>`).
#[doc(hidden)]
pub struct KindOf<T>(std::marker::PhantomData<T>);

impl<T> KindOf<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        KindOf(std::marker::PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaKnownKind {
    fn kind(&self) -> SqlKind;
}

impl<T: KnownKind> ViaKnownKind for &KindOf<T> {
    fn kind(&self) -> SqlKind {
        T::KIND
    }
}

#[doc(hidden)]
pub trait ViaOtherKind {
    fn kind(&self) -> SqlKind;
}

impl<T> ViaOtherKind for KindOf<T> {
    fn kind(&self) -> SqlKind {
        SqlKind::Other
    }
}
