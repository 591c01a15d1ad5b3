//! SQLite capture triggers.
//!
//! - **Seq**: the journal's largest plus one, the rowid SQLite gives an insert without one. A
//!   recover call reserves that same seq before it writes the row (see `JournalConn::next_seq`),
//!   so its own entry then lands on the trigger's and replaces it: one entry, recover's.
//! - **Context**: one row of `recover_context` (id 1), written by `journal.transaction` inside
//!   its transaction and removed before it ends. SQLite has one writer at a time and triggers
//!   cannot read TEMP tables, so a row in the main database, never committed, is the context.
//!   Its changeset id is the seq the transaction's first entry will take (the journal's
//!   largest plus one, under the write lock), so that a trigger only reads it; the changeset's
//!   `recover_changesets` row is written when the context ends (`backend::sqlite`).
//! - **Grouping outside a context**: SQLite cannot tell one transaction from the next inside a
//!   trigger, so each changed row is a changeset of its own (a key change: one of two entries).
//! - **Values**: `json_object` with SQLite's own values, chosen by the column's SQL type: a
//!   float is written with 17 significant digits (exact; `json_object` keeps 15) and an infinite
//!   one as `"Infinity"`, binary as `"\x…"` hex text, JSON as JSON. Booleans stay 0/1 and
//!   timestamps SQLite's text: the decoder accepts both.
//! - **REPLACE** deletes the old row without firing the DELETE trigger unless
//!   `PRAGMA recursive_triggers` is on: the INSERT trigger journals an insert of a key the
//!   journal holds as present as an update from the journal's last image of it, so undo brings
//!   the replaced row back either way.
//! - **SQLite versions**: the triggers run inside every program that writes the table, with
//!   that program's SQLite (often the system's: 3.40.1 on Debian 12), so they use nothing newer
//!   than [`FLOOR`] (3.35.0, which `capture` checks on its own connection). They need the JSON
//!   functions `json_object`, `json_array`, `json_quote` and `json`: built in since 3.38.0,
//!   before that only where SQLite was built with `SQLITE_ENABLE_JSON1` (without them a write
//!   fails with `no such function`, and nothing is written). The rest (`julianday('now')`,
//!   `round`, `printf('%!.17g')`, `hex`, `lower`, `IS NOT`, subqueries, `UNION ALL`; the
//!   journal's partial index) is far older. `tests/capture_system_sqlite.rs` writes through
//!   the system's `sqlite3` shell and Python's `sqlite3`; the same SQL ran on 3.28.0, 3.31.1,
//!   3.33.0, 3.35.4, 3.41.2 and 3.44.0 as well. Before 3.44 (3.41.2 is not, 3.44.0 is) SQLite's
//!   `printf` is not exact for every double: some above about 1e100 are written one unit off
//!   in the 17th digit, so an undo of such a value written there reports a `Conflict`.

use super::{ident, literal, SqlKind, TriggerSpec};

/// The oldest SQLite the triggers run on; `capture` refuses an older connection
/// (`Error::DatabaseTooOld`).
pub(crate) const FLOOR: &str = "3.35.0";

/// The triggers' shape, in their fingerprint: 2 since one trigger per case (issue 17).
pub(crate) const VERSION: u32 = 2;

/// The triggers' names on a table: insert, update (key unchanged), delete, and update of a key.
pub(crate) fn trigger_names(entity: &str) -> [String; 4] {
    ["insert", "update", "delete", "rekey"].map(|what| format!("recover_capture_{entity}_{what}"))
}

/// The DDL that installs (or replaces) the capture triggers of one table.
///
/// SQLite compiles every trigger that a statement can fire into the statement's program, and
/// Diesel prepares each `update(..)` anew: the triggers' size is paid on every plain update,
/// before a row is touched (`tests/capture_program.rs` holds the UPDATE's program to a budget).
/// So each case has its own trigger, as small as it can be, and an UPDATE compiles only the ones
/// its columns can fire: `UPDATE OF` the value columns for the common update (the key stays,
/// one plain `INSERT .. SELECT`: no union, no sort), `UPDATE OF` the key for a key change.
pub(crate) fn capture_ddl(spec: &TriggerSpec) -> String {
    let table = ident(spec.entity);
    let entity = literal(spec.entity);
    // In a comment, which SQLite keeps in `sqlite_master.sql` and which costs no opcode.
    let mark = format!("/* {} */", spec.fingerprint(VERSION).replace("*/", "* /"));
    let [insert, update, delete, rekey] = trigger_names(spec.entity).map(|n| ident(&n));
    let mut sql = release_ddl(spec.entity);
    let key_same = spec
        .key
        .iter()
        .map(|k| format!("OLD.{0} IS NEW.{0}", ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let values: Vec<&str> = spec.value_columns().collect();
    let changed = if values.is_empty() {
        "0".to_owned()
    } else {
        values
            .iter()
            .map(|c| format!("OLD.{0} IS NOT NEW.{0}", ident(c)))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let columns_of = |columns: &[&str]| {
        columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // One entry a row of `$rows` (`k`: its offset from the new seq, the journal's largest plus
    // one; `key`, `op`, `before`, `after`), in the context's changeset if there is one.
    let entries = |rows: &str, order: &str| {
        format!(
            "INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, \
             before_image, after_image, undo_next, actor, reason, recorded_at) \
             SELECT n.s + r.k, COALESCE(c.changeset_id, n.s), {entity}, r.key, r.op, r.before, \
             r.after, n.s + r.k, c.actor, c.reason, COALESCE(c.recorded_at, {NOW}) \
             FROM (SELECT IFNULL(MAX(seq), 0) + 1 AS s FROM recover_journal) AS n \
             JOIN ({rows}) AS r LEFT JOIN recover_context AS c ON c.id = 1{order};\n"
        )
    };
    let (old_key, new_key) = (key_text(spec, "OLD"), key_text(spec, "NEW"));
    let (old_image, new_image) = (image(spec, "OLD"), image(spec, "NEW"));
    // REPLACE removes the row it replaces without firing the DELETE trigger (unless
    // `recursive_triggers` is on): an insert of a key the journal holds as present is journaled
    // as an update from the journal's last image of it.
    let inserted = entries(
        &format!(
            "SELECT 0 AS k, {new_key} AS key, \
         CASE WHEN p.image IS NULL THEN 'insert' ELSE 'update' END AS op, \
         p.image AS before, {new_image} AS after FROM (SELECT (SELECT after_image \
         FROM recover_journal WHERE entity = {entity} AND entity_key = {new_key} \
         ORDER BY seq DESC LIMIT 1) AS image) AS p"
        ),
        "",
    );
    sql.push_str(&format!(
        "CREATE TRIGGER {insert} AFTER INSERT ON {table} BEGIN {mark}\n  {inserted}END;\n"
    ));
    // The common update: the key stays and a value changes. One entry, one plain statement;
    // its seq is left to SQLite (a NULL rowid: the journal's largest plus one, `n.s`).
    // (A table of key columns only has no such update: the trigger never fires.)
    let of_values = if values.is_empty() {
        columns_of(spec.key)
    } else {
        columns_of(&values)
    };
    sql.push_str(&format!(
        "CREATE TRIGGER {update} AFTER UPDATE OF {of_values} ON {table} \
         WHEN {key_same} AND ({changed}) BEGIN {mark}\n  \
         INSERT INTO recover_journal (changeset_id, entity, entity_key, op, before_image, \
         after_image, undo_next, actor, reason, recorded_at) \
         SELECT COALESCE(c.changeset_id, n.s), {entity}, {new_key}, 'update', {old_image}, \
         {new_image}, n.s, c.actor, c.reason, COALESCE(c.recorded_at, {NOW}) \
         FROM (SELECT IFNULL(MAX(seq), 0) + 1 AS s FROM recover_journal) AS n \
         LEFT JOIN recover_context AS c ON c.id = 1;\nEND;\n"
    ));
    // A key change: the old key removed and the new one created, in one changeset (outside a
    // context, its `recover_changesets` row is written here). Compiled only into statements
    // that set a key column.
    let rekeyed = entries(
        &format!(
            "SELECT 0 AS k, {old_key} AS key, 'delete' AS op, {old_image} AS before, \
         NULL AS after UNION ALL SELECT 1, {new_key}, 'insert', NULL, {new_image}"
        ),
        " ORDER BY r.k",
    );
    sql.push_str(&format!(
        "CREATE TRIGGER {rekey} AFTER UPDATE OF {keys} ON {table} WHEN NOT ({key_same}) \
         BEGIN {mark}\n  {rekeyed}  \
         INSERT INTO recover_changesets (id, last_seq, actor, reason, recorded_at) \
         SELECT n.s - 1, n.s, NULL, NULL, {NOW} FROM (SELECT MAX(seq) AS s FROM recover_journal) \
         AS n WHERE NOT EXISTS (SELECT 1 FROM recover_context WHERE id = 1);\nEND;\n",
        keys = columns_of(spec.key),
    ));
    let deleted = entries(
        &format!(
            "SELECT 0 AS k, {old_key} AS key, 'delete' AS op, {old_image} AS before, NULL AS after"
        ),
        "",
    );
    sql.push_str(&format!(
        "CREATE TRIGGER {delete} AFTER DELETE ON {table} BEGIN {mark}\n  {deleted}END;\n"
    ));
    sql
}

/// The DDL that removes the capture triggers of one table.
pub(crate) fn release_ddl(entity: &str) -> String {
    trigger_names(entity)
        .iter()
        .map(|name| format!("DROP TRIGGER IF EXISTS {};\n", ident(name)))
        .collect()
}

/// The SQL clock in microseconds (SQLite's has milliseconds); a context brings the
/// application's clock instead.
///
/// The triggers run in whatever SQLite writes the table — another program's, often the
/// system's — so this must work on every version from [`FLOOR`] on: `unixepoch('subsec')`
/// needs 3.42 (NULL before it, no such function before 3.38), and a NULL time fails the
/// journal's insert. `julianday('now')` is SQLite's integer millisecond clock
/// divided by 86,400,000; taken back to milliseconds since 1970 its error is under 0.03 ms, so
/// `round` gives the exact millisecond.
const NOW: &str = "CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER) * 1000";

/// The key's canonical text, as recover's own `encode_key` writes it (serde_json): a single
/// column as its JSON value, several as a JSON array.
fn key_text(spec: &TriggerSpec, row: &str) -> String {
    let columns: Vec<String> = spec
        .key
        .iter()
        .map(|k| format!("{row}.{}", ident(k)))
        .collect();
    match columns.as_slice() {
        [one] => format!("json_quote({one})"),
        _ => format!("json_array({})", columns.join(", ")),
    }
}

/// `json_object(..)` of the image columns of `row` (`OLD` or `NEW`).
fn image(spec: &TriggerSpec, row: &str) -> String {
    let pairs: Vec<String> = spec
        .typed_columns()
        .map(|(name, kind)| {
            let value = format!("{row}.{}", ident(name));
            let value = match kind {
                // JSON text (or SQLite's binary JSONB) embedded as JSON, not as a string.
                SqlKind::Json | SqlKind::Jsonb => format!("json({value})"),
                SqlKind::Float | SqlKind::Double => float(&value),
                SqlKind::Binary => format!(
                    "CASE WHEN {value} IS NULL THEN NULL ELSE '\\x' || lower(hex({value})) END"
                ),
                SqlKind::Numeric | SqlKind::Other => value,
            };
            format!("{}, {value}", literal(name))
        })
        .collect();
    format!("json_object({})", pairs.join(", "))
}

/// A REAL as JSON, exact: 17 significant digits (`json_object` writes 15), and the infinities
/// as text.
fn float(value: &str) -> String {
    format!(
        "CASE WHEN {value} IS NULL THEN NULL \
         WHEN {value} > 1.7976931348623157e308 THEN 'Infinity' \
         WHEN {value} < -1.7976931348623157e308 THEN '-Infinity' \
         ELSE json(printf('%!.17g', {value})) END"
    )
}
