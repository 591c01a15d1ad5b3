//! PostgreSQL capture triggers: one PL/pgSQL function per table, fired after each row change.
//!
//! - **Seq**: `nextval('recover_journal_seq')`, as recover's own inserts. The trigger leaves the
//!   seq it wrote in the transaction-local setting `recover.entry`, so that a recover call that
//!   wrote the row completes that entry rather than adding a second one.
//! - **Context**: transaction-local settings (`set_config(.., true)`): `recover.actor`,
//!   `recover.reason`, `recover.at`, `recover.changeset`. They end with the transaction (commit
//!   or rollback, and a rolled-back savepoint restores them), so nothing outlives it: safe on a
//!   pooled connection and under PgBouncer's transaction pooling.
//! - **Grouping outside a context**: by database transaction. The first captured change of a
//!   transaction sets `recover.changeset` to its seq, and the later ones join it. The
//!   changeset's `recover_changesets` row is written once, by a statement-level trigger on the
//!   same function, at the end of the statement that gives it a second entry; a deferred
//!   trigger sets its last seq at the commit. A row-level upsert of that one row (as before)
//!   left a version of it per changed row, which every later upsert in the transaction walked:
//!   an UPDATE of N rows, or N updates in one transaction, cost O(N²).
//! - **Values**: `to_json` of each column, under the function's own `extra_float_digits = 3`
//!   (floats exact whatever the session says) and `bytea_output = 'hex'` where the table has
//!   such columns; timestamptz carries the session's offset, which the decoder converts;
//!   numeric is written as text, every digit kept.
//! - **Replication**: the trigger is `ENABLE ALWAYS`, so it fires under
//!   `session_replication_role = replica` too (pg_restore, logical replication apply).

use super::{ident, literal, SqlKind, TriggerSpec};

/// The triggers' shape, in their fingerprint: 3 since the changeset row is written once per
/// transaction.
pub(crate) const VERSION: u32 = 3;

/// The row-level trigger's name on its table.
pub(crate) const TRIGGER: &str = "recover_capture";
/// The statement-level trigger's name on its table: it closes the statement's changeset.
pub(crate) const CLOSE_TRIGGER: &str = "recover_capture_close";

/// The function's name for a table.
pub(crate) fn function_name(entity: &str) -> String {
    format!("recover_capture_{entity}")
}

/// The DDL that installs (or replaces) the capture trigger of one table.
pub(crate) fn capture_ddl(spec: &TriggerSpec) -> String {
    let table = ident(spec.entity);
    let function = ident(&function_name(spec.entity));
    let entity = literal(spec.entity);
    let image = |row: &str| {
        let pairs: Vec<String> = spec
            .typed_columns()
            .map(|(name, kind)| {
                let value = format!("{row}.{}", ident(name));
                let value = match kind {
                    // Text keeps every digit (a JSON number is read back as an f64).
                    SqlKind::Numeric => format!("{value}::text"),
                    SqlKind::Binary
                    | SqlKind::Float
                    | SqlKind::Double
                    | SqlKind::Json
                    | SqlKind::Jsonb
                    | SqlKind::Other => value,
                };
                format!("{}, {value}", literal(name))
            })
            .collect();
        image_text(&pairs)
    };
    let key = |row: &str| {
        let parts: Vec<String> = spec
            .key
            .iter()
            .map(|k| format!("to_json({row}.{})::text", ident(k)))
            .collect();
        match parts.as_slice() {
            [one] => one.clone(),
            _ => format!("'[' || {} || ']'", parts.join(" || ',' || ")),
        }
    };
    let row_of = |row: &str, columns: &mut dyn Iterator<Item = &str>| {
        let list: Vec<String> = columns.map(|c| format!("{row}.{}", ident(c))).collect();
        format!("ROW({})", list.join(", "))
    };
    let same_key = format!(
        "{} IS NOT DISTINCT FROM {}",
        row_of("OLD", &mut spec.key.iter().copied()),
        row_of("NEW", &mut spec.key.iter().copied())
    );
    // `json` has no equality: compared as its text.
    let comparable = |row: &str| {
        let list: Vec<String> = spec
            .typed_columns()
            .map(|(name, kind)| match kind {
                SqlKind::Json => format!("{row}.{}::text", ident(name)),
                _ => format!("{row}.{}", ident(name)),
            })
            .collect();
        format!("ROW({})", list.join(", "))
    };
    let same_values = format!(
        "{} IS NOT DISTINCT FROM {}",
        comparable("OLD"),
        comparable("NEW")
    );
    format!(
        r#"{CLOSE_DDL}CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql{settings} AS $recover$
-- {fingerprint}
DECLARE
  cs bigint := nullif(current_setting('recover.changeset', true), '')::bigint;
  at bigint;
  actor text;
  reason text;
  s bigint;
  rekey boolean := false;
  op text := 'insert';
  before text;
BEGIN
  IF TG_LEVEL = 'STATEMENT' THEN
    -- A changeset of two entries or more gets its row (with its first entry's actor, reason
    -- and time) once; recover_close_changeset, deferred to the commit, sets its last seq.
    s := nullif(current_setting('recover.last', true), '')::bigint;
    IF s > cs AND coalesce(current_setting('recover.closing', true), '') <> cs::text THEN
      PERFORM set_config('recover.closing', cs::text, true);
      INSERT INTO recover_changesets (id, last_seq, actor, reason, recorded_at)
      SELECT cs, s, j.actor, j.reason, j.recorded_at FROM recover_journal j WHERE j.seq = cs
      ON CONFLICT (id) DO UPDATE SET last_seq = greatest(recover_changesets.last_seq, excluded.last_seq);
    END IF;
    RETURN NULL;
  END IF;
  at := coalesce(nullif(current_setting('recover.at', true), '')::bigint,
                 (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
  actor := nullif(current_setting('recover.actor', true), '');
  reason := nullif(current_setting('recover.reason', true), '');
  IF TG_OP = 'UPDATE' THEN
    IF {same_values} THEN
      PERFORM set_config('recover.entry', '', true);
      RETURN NULL;
    END IF;
    rekey := NOT ({same_key});
    IF NOT rekey THEN
      op := 'update';
      before := {old_image};
    END IF;
  END IF;
  IF TG_OP = 'DELETE' OR rekey THEN
    s := nextval('recover_journal_seq');
    INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, before_image,
      after_image, undoes, undo_next, redo_next, actor, reason, recorded_at)
    VALUES (s, coalesce(cs, s), {entity}, {old_key}, 'delete', {old_image}, NULL, NULL, s, NULL,
      actor, reason, at);
    IF cs IS NULL THEN
      cs := s;
      PERFORM set_config('recover.changeset', s::text, true);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    s := nextval('recover_journal_seq');
    INSERT INTO recover_journal (seq, changeset_id, entity, entity_key, op, before_image,
      after_image, undoes, undo_next, redo_next, actor, reason, recorded_at)
    VALUES (s, coalesce(cs, s), {entity}, {new_key}, op, before, {new_image}, NULL, s, NULL,
      actor, reason, at);
    IF cs IS NULL THEN
      PERFORM set_config('recover.changeset', s::text, true);
    END IF;
  END IF;
  PERFORM set_config('recover.entry', s::text, true), set_config('recover.last', s::text, true);
  RETURN NULL;
END
$recover$;
DROP TRIGGER IF EXISTS {trigger} ON {table};
CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {function}();
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger};
DROP TRIGGER IF EXISTS {close} ON {table};
CREATE TRIGGER {close} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH STATEMENT EXECUTE FUNCTION {function}();
ALTER TABLE {table} ENABLE ALWAYS TRIGGER {close};
"#,
        fingerprint = spec.fingerprint(VERSION),
        settings = settings(spec),
        trigger = ident(TRIGGER),
        close = ident(CLOSE_TRIGGER),
        old_key = key("OLD"),
        new_key = key("NEW"),
        old_image = image("OLD"),
        new_image = image("NEW"),
    )
}

/// What every captured table's triggers share: the deferred trigger on `recover_changesets`
/// that, at the commit, sets the last seq of a changeset the statement-level trigger listed
/// (`recover.closing` names it while its event is queued). With `SET CONSTRAINTS ALL
/// IMMEDIATE` it runs at the end of each such statement instead, and clears
/// `recover.closing`, so that the next statement lists the changeset again.
const CLOSE_DDL: &str = r#"CREATE OR REPLACE FUNCTION recover_close_changeset() RETURNS trigger LANGUAGE plpgsql AS $recover$
DECLARE
  m bigint;
BEGIN
  PERFORM set_config('recover.closing', '', true);
  SELECT max(seq) INTO m FROM recover_journal WHERE seq >= NEW.id AND changeset_id = NEW.id;
  UPDATE recover_changesets SET last_seq = m WHERE id = NEW.id AND last_seq < m;
  RETURN NULL;
END
$recover$;
DROP TRIGGER IF EXISTS recover_close ON recover_changesets;
CREATE CONSTRAINT TRIGGER recover_close AFTER INSERT OR UPDATE ON recover_changesets
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (current_setting('recover.closing', true) = NEW.id::text)
  EXECUTE FUNCTION recover_close_changeset();
ALTER TABLE recover_changesets ENABLE ALWAYS TRIGGER recover_close;
"#;

/// The settings the function runs under, whatever the session says: floats printed exactly and
/// bytea as hex, where the table has such columns (a function's own settings cost each call).
fn settings(spec: &TriggerSpec) -> String {
    let kinds: Vec<SqlKind> = spec.typed_columns().map(|(_, kind)| kind).collect();
    let mut settings = String::new();
    if kinds
        .iter()
        .any(|k| matches!(k, SqlKind::Float | SqlKind::Double))
    {
        settings.push_str("\nSET extra_float_digits = 3");
    }
    if kinds.contains(&SqlKind::Binary) {
        settings.push_str("\nSET bytea_output = 'hex'");
    }
    settings
}

/// The DDL that removes the capture trigger and function of one table.
pub(crate) fn release_ddl(entity: &str) -> String {
    let table = ident(entity);
    format!(
        "DROP TRIGGER IF EXISTS {} ON {table};\nDROP TRIGGER IF EXISTS {} ON {table};\n\
         DROP FUNCTION IF EXISTS {}();\n",
        ident(TRIGGER),
        ident(CLOSE_TRIGGER),
        ident(&function_name(entity))
    )
}

/// Columns in one `json_build_object` call: PostgreSQL passes a function at most 100 arguments.
const COLUMNS_PER_OBJECT: usize = 50;

/// The image's JSON text from its `'name', value` pairs: one `json_build_object`, or for a table
/// of more than [`COLUMNS_PER_OBJECT`] columns the texts of several joined into one object, in
/// column order (`{"a" : 1` `, ` `"b" : 2}`).
fn image_text(pairs: &[String]) -> String {
    let objects: Vec<String> = pairs
        .chunks(COLUMNS_PER_OBJECT)
        .map(|chunk| format!("json_build_object({})::text", chunk.join(", ")))
        .collect();
    let last = objects.len().saturating_sub(1);
    let parts: Vec<String> = objects
        .into_iter()
        .enumerate()
        .map(|(i, object)| {
            let open = if i < last {
                format!("left({object}, -1)")
            } else {
                object
            };
            if i > 0 {
                format!("substr({open}, 2)")
            } else {
                open
            }
        })
        .collect();
    match parts.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", parts.join(" || ', ' || ")),
    }
}

#[cfg(test)]
mod tests {
    use super::image_text;

    #[test]
    fn a_wide_image_is_built_from_calls_of_at_most_100_arguments() {
        let pairs: Vec<String> = (0..120).map(|i| format!("'c{i}', NEW.c{i}")).collect();
        let sql = image_text(&pairs);
        assert_eq!(sql.matches("json_build_object(").count(), 3);
        for call in sql.split("json_build_object(").skip(1) {
            let arguments = call.split(")::text").next().unwrap().split(", ").count();
            assert!(arguments <= 100, "{arguments} arguments");
        }
        assert!(sql.starts_with("(left(json_build_object('c0', NEW.c0"));
        assert_eq!(
            image_text(&pairs[..2]),
            "json_build_object('c0', NEW.c0, 'c1', NEW.c1)::text"
        );
    }
}
