//! MySQL and MariaDB capture triggers: one per event, each calling the shared procedure
//! `recover_capture_entry_v1` that appends an entry.
//!
//! - **Seq**: a fresh ticket of `recover_tickets`, as recover's own entries take it (writers of
//!   other rows share no row; the changed row is the lock). A recover call takes its ticket
//!   before it writes the row, which leaves it in `LAST_INSERT_ID()`; the procedure reuses that
//!   seq when its ticket names this entity and it has no entry yet (a reservation of this
//!   transaction: a rolled-back one took its ticket back), and recover's own entry then
//!   completes the trigger's.
//! - **Context**: a row of `recover_context` keyed by `CONNECTION_ID()`, written inside the
//!   transaction and deleted before it ends (never committed, invisible to other connections).
//! - **Grouping outside a context**: MySQL gives a trigger no transaction id, so each changed
//!   row is a changeset of its own (a key change: one of two entries).
//! - **Values**: `JSON_OBJECT` with the server's values; binary as `"\x…"` hex text, decimal
//!   as text, FLOAT widened to DOUBLE (the server prints a FLOAT with 6 digits). Booleans stay 0/1 and DATETIME the server's text: the decoder accepts both.
//! - **Foreign-key cascades** change rows without firing triggers: `capture` refuses a table
//!   whose foreign keys cascade (`Error::CascadeNotCaptured`).

use super::{ident_mysql as ident, literal_mysql as literal, SqlKind, TriggerSpec};

/// The triggers' names on a table: insert, update, delete.
pub(crate) fn trigger_names(entity: &str) -> [String; 3] {
    ["insert", "update", "delete"].map(|what| format!("recover_capture_{entity}_{what}"))
}

/// The procedure every capture trigger calls (created by the first capture; `install` leaves it
/// out, since a server with binary logging may refuse stored programs to users without SUPER).
/// Its name carries a version: a changed body gets a new name, so that `CREATE .. IF NOT
/// EXISTS` never leaves an old body in place and no table's triggers lose theirs meanwhile.
/// The triggers' shape, in their fingerprint.
pub(crate) const VERSION: u32 = 2;

const PROCEDURE: &str = "recover_capture_entry_v2";

/// The DDL that installs (or replaces) the capture triggers of one table.
pub(crate) fn capture_ddl(spec: &TriggerSpec) -> String {
    let table = ident(spec.entity);
    let entity = literal(spec.entity);
    // The fingerprint as a value: the server keeps a trigger's body, not its comments.
    let mark = format!(
        "DECLARE mark TEXT DEFAULT {};",
        literal(&spec.fingerprint(VERSION))
    );
    let [insert, update, delete] = trigger_names(spec.entity).map(|n| ident(&n));
    let image = |row: &str| {
        let pairs: Vec<String> = spec
            .typed_columns()
            .map(|(name, kind)| {
                let value = format!("{row}.{}", ident(name));
                let value = match kind {
                    SqlKind::Binary => format!("CONCAT('\\\\x', LOWER(HEX({value})))"),
                    SqlKind::Numeric => format!("CAST({value} AS CHAR)"),
                    SqlKind::Float => format!("CAST({value} AS DOUBLE)"),
                    SqlKind::Double | SqlKind::Json | SqlKind::Jsonb | SqlKind::Other => value,
                };
                format!("{}, {value}", literal(name))
            })
            .collect();
        format!("JSON_OBJECT({})", pairs.join(", "))
    };
    let key = |row: &str| {
        let parts: Vec<String> = spec
            .key
            .iter()
            .map(|k| key_value(&format!("{row}.{}", ident(k))))
            .collect();
        match parts.as_slice() {
            [one] => one.clone(),
            _ => format!("CONCAT('[', {}, ']')", parts.join(", ',', ")),
        }
    };
    let same = |columns: &mut dyn Iterator<Item = &str>| {
        let pairs: Vec<String> = columns
            .map(|c| format!("OLD.{0} <=> NEW.{0}", ident(c)))
            .collect();
        if pairs.is_empty() {
            "TRUE".to_owned()
        } else {
            pairs.join(" AND ")
        }
    };
    let same_key = same(&mut spec.key.iter().copied());
    let same_values = same(&mut spec.value_columns());
    let call = |op: &str, row_key: &str, before: &str, after: &str, changeset: &str, out: &str| {
        format!(
            "CALL {PROCEDURE}({entity}, {row_key}, '{op}', {before}, {after}, {changeset}, {out});"
        )
    };
    let mut sql = release_ddl(spec.entity);
    sql.push_str(PROCEDURE_DDL);
    sql.push_str(&format!(
        "CREATE TRIGGER {insert} AFTER INSERT ON {table} FOR EACH ROW BEGIN\n\
         DECLARE s BIGINT; {mark}\n  {}\nEND;\n",
        call("insert", &key("NEW"), "NULL", &image("NEW"), "NULL", "s"),
    ));
    // A key change: the old key removed and the new one created, in one changeset.
    sql.push_str(&format!(
        "CREATE TRIGGER {update} AFTER UPDATE ON {table} FOR EACH ROW BEGIN\n\
         DECLARE s BIGINT; {mark}\n  \
         IF NOT ({same_key}) THEN\n    {}\n    {}\n  \
         ELSEIF NOT ({same_values}) THEN\n    {}\n  END IF;\nEND;\n",
        call("delete", &key("OLD"), &image("OLD"), "NULL", "NULL", "s"),
        call("insert", &key("NEW"), "NULL", &image("NEW"), "s", "s"),
        call(
            "update",
            &key("NEW"),
            &image("OLD"),
            &image("NEW"),
            "NULL",
            "s"
        ),
    ));
    sql.push_str(&format!(
        "CREATE TRIGGER {delete} AFTER DELETE ON {table} FOR EACH ROW BEGIN\n\
         DECLARE s BIGINT; {mark}\n  {}\nEND;\n",
        call("delete", &key("OLD"), &image("OLD"), "NULL", "NULL", "s"),
    ));
    sql
}

/// Appends one captured entry (its text parameters in utf8mb4 whatever the server's default
/// character set, which a routine's parameters would otherwise take): takes its seq (or the one the running recover call reserved),
/// joins the context's changeset (or `changeset`, the first half of a key change), and keeps
/// the context and `recover_changesets` up to date. `seq` returns the entry's seq.
const PROCEDURE_DDL: &str = "CREATE PROCEDURE IF NOT EXISTS recover_capture_entry_v2(
    IN entity_ VARCHAR(255) CHARACTER SET utf8mb4, IN key_ VARCHAR(500) CHARACTER SET utf8mb4,
    IN op_ VARCHAR(16) CHARACTER SET utf8mb4, IN before_ LONGTEXT CHARACTER SET utf8mb4,
    IN after_ LONGTEXT CHARACTER SET utf8mb4, IN changeset_ BIGINT, OUT seq_ BIGINT)
BEGIN
  DECLARE s BIGINT;
  DECLARE cs BIGINT DEFAULT NULL;
  DECLARE at_ BIGINT DEFAULT NULL;
  DECLARE actor_ TEXT CHARACTER SET utf8mb4 DEFAULT NULL;
  DECLARE reason_ TEXT CHARACTER SET utf8mb4 DEFAULT NULL;
  DECLARE active INT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET active = 0;
  SET s = LAST_INSERT_ID();
  IF NOT (s > 0
          AND EXISTS (SELECT 1 FROM recover_tickets
                      WHERE seq = s AND entity = entity_ AND entity_key = key_)
          AND NOT EXISTS (SELECT 1 FROM recover_journal WHERE seq = s)) THEN
    INSERT INTO recover_tickets (entity, entity_key) VALUES (entity_, key_);
    SET s = LAST_INSERT_ID();
  END IF;
  SELECT changeset_id, actor, reason, recorded_at, 1 INTO cs, actor_, reason_, at_, active
    FROM recover_context WHERE conn = CONNECTION_ID();
  SET cs = COALESCE(cs, changeset_);
  SET at_ = COALESCE(at_, CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED));
  INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, before_image,
    after_image, undoes, undo_next, redo_next, actor, reason, recorded_at)
  VALUES (s, COALESCE(cs, s), entity_, key_, op_, before_, after_, NULL, s, NULL,
    actor_, reason_, at_);
  IF active = 1 THEN
    UPDATE recover_context SET changeset_id = COALESCE(cs, s), last_seq = s
      WHERE conn = CONNECTION_ID();
  END IF;
  IF cs IS NOT NULL THEN
    INSERT INTO recover_changesets (id, last_seq, actor, reason, recorded_at)
    VALUES (cs, s, actor_, reason_, at_) ON DUPLICATE KEY UPDATE last_seq = VALUES(last_seq);
  END IF;
  SET seq_ = s;
END;
";

/// What `install` runs on a journal of the counter-row layout: the current procedure, and the
/// previous one's name kept for the triggers that call it, as a call of the current one.
pub(crate) fn migrate_procedures_ddl() -> String {
    format!(
        "{PROCEDURE_DDL}DROP PROCEDURE IF EXISTS recover_capture_entry_v1;\n\
         CREATE PROCEDURE recover_capture_entry_v1(
    IN entity_ VARCHAR(255) CHARACTER SET utf8mb4, IN key_ VARCHAR(500) CHARACTER SET utf8mb4,
    IN op_ VARCHAR(16) CHARACTER SET utf8mb4, IN before_ LONGTEXT CHARACTER SET utf8mb4,
    IN after_ LONGTEXT CHARACTER SET utf8mb4, IN changeset_ BIGINT, OUT seq_ BIGINT)
BEGIN
  CALL {PROCEDURE}(entity_, key_, op_, before_, after_, changeset_, seq_);
END;
"
    )
}

/// The DDL that removes the capture triggers of one table.
pub(crate) fn release_ddl(entity: &str) -> String {
    trigger_names(entity)
        .iter()
        .map(|name| format!("DROP TRIGGER IF EXISTS {};\n", ident(name)))
        .collect()
}

/// One key column's canonical text, as serde_json writes it: the value's JSON, cut out of a
/// one-element array, with the server's upper-case `\u001F` escapes in serde's lower case.
fn key_value(value: &str) -> String {
    let json = format!("JSON_ARRAY({value})");
    let mut text = format!("SUBSTRING({json}, 2, CHAR_LENGTH({json}) - 2)");
    for code in ["0B", "0E", "0F", "1A", "1B", "1C", "1D", "1E", "1F"] {
        text = format!(
            "REPLACE({text}, '\\\\u00{code}', '\\\\u00{}')",
            code.to_lowercase()
        );
    }
    text
}
