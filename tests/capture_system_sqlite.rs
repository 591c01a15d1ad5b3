//! Capture mode when other programs write the table with their own SQLite: Debian's `sqlite3`
//! shell and Python's stdlib `sqlite3` module, which link the system's libsqlite3 (3.40.1 on
//! Debian 12), older than the SQLite recover bundles. The triggers run inside those programs:
//! each of their inserts, updates, key changes and deletes must be journaled there, stamped in
//! microseconds, read back by `history` and undone from Rust.
//!
//! Needs `/usr/bin/sqlite3` and `python3` (Debian packages `sqlite3` and `python3`; CI installs
//! them). Without them the test fails: it never skips.

mod common;

use std::process::Command;

use common::TestDb;
use diesel::prelude::*;
use recover::{Journal, Op, Recoverable};
use serde_json::{json, Value};

diesel::table! {
    gadgets (id) {
        id -> Integer,
        name -> Text,
        stock -> BigInt,
        price -> Double,
        note -> Nullable<Text>,
        active -> Bool,
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Recoverable)]
#[diesel(table_name = gadgets)]
struct Gadget {
    id: i32,
    name: String,
    stock: i64,
    price: f64,
    note: Option<String>,
    active: bool,
}

const GADGETS: &str = "CREATE TABLE gadgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
    stock BIGINT NOT NULL, price DOUBLE NOT NULL, note TEXT, active BOOLEAN NOT NULL)";

/// The oldest SQLite capture's triggers run on (`recover::capture` refuses an older
/// connection): what the external writers must have at least.
const FLOOR: &str = "3.35.0";

/// The Debian shell the test runs.
const SHELL: &str = "/usr/bin/sqlite3";

/// A program other than this one that writes the database file with its own SQLite.
#[derive(Debug, Clone, Copy)]
enum Writer {
    /// Debian's `sqlite3` shell: the parameters are written into the SQL as literals.
    Shell,
    /// Python's stdlib `sqlite3` module: the parameters are bound.
    Python,
}

/// The Python writer: runs `argv[2]` with the JSON parameters `argv[3]` on the file `argv[1]`
/// in one transaction, then prints the SQLite it ran on.
const PYTHON: &str = "import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
if len(sys.argv) > 2:
    db.execute(sys.argv[2], json.loads(sys.argv[3]))
    db.commit()
print(db.execute('SELECT sqlite_version()').fetchone()[0])";

impl Writer {
    /// Runs `sql`, whose `?`s take `params` in order, on the database file `path` as one
    /// statement of its own; returns the `sqlite_version()` it ran on.
    fn write(self, path: &str, sql: &str, params: &[Value]) -> String {
        let output = match self {
            Writer::Shell => {
                assert_eq!(sql.matches('?').count(), params.len(), "{sql}");
                let mut pieces = sql.split('?');
                let mut text = pieces.next().unwrap().to_owned();
                for (piece, param) in pieces.zip(params) {
                    text.push_str(&literal(param));
                    text.push_str(piece);
                }
                let script = if sql.is_empty() {
                    "SELECT sqlite_version();".to_owned()
                } else {
                    format!("{text}; SELECT sqlite_version();")
                };
                Command::new(SHELL)
                    .args(["-bail", "-batch", "-cmd", ".timeout 5000", path, &script])
                    .output()
                    .unwrap_or_else(|e| {
                        panic!(
                            "cannot run {SHELL} ({e}): install the `sqlite3` Debian package \
                             (apt-get install sqlite3; CI installs it)"
                        )
                    })
            }
            Writer::Python => {
                let mut command = Command::new("python3");
                command.args(["-c", PYTHON, path]);
                if !sql.is_empty() {
                    command.args([sql, &Value::from(params.to_vec()).to_string()]);
                }
                command.output().unwrap_or_else(|e| {
                    panic!(
                        "cannot run python3 ({e}): install the `python3` Debian package, whose \
                         stdlib `sqlite3` module links the system's SQLite like the `sqlite3` \
                         package's shell (apt-get install python3 sqlite3; CI installs them)"
                    )
                })
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{self:?} failed ({}) on `{sql}` {params:?}:\n{stderr}{stdout}",
            output.status
        );
        stdout.lines().last().unwrap_or_default().trim().to_owned()
    }

    /// The SQLite this writer runs on (and so runs the triggers on).
    fn version(self) -> String {
        self.write(":memory:", "", &[])
    }
}

/// A parameter as an SQL literal, for the shell.
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => i32::from(*b).to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => panic!("no literal for {other}"),
    }
}

/// A gadget as the writers' parameters, in the table's column order.
fn params(g: &Gadget) -> Vec<Value> {
    vec![
        json!(g.id),
        json!(g.name),
        json!(g.stock),
        json!(g.price),
        json!(g.note),
        json!(g.active),
    ]
}

/// A dotted version as numbers, for comparing.
fn version_parts(version: &str) -> Vec<u32> {
    version
        .split('.')
        .map(|p| {
            p.parse()
                .unwrap_or_else(|_| panic!("not a version: {version}"))
        })
        .collect()
}

/// One journal row, with what a trigger fills in.
#[derive(Debug, QueryableByName)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    changeset_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity_key: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    op: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    before_image: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    after_image: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    undoes: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    actor: Option<String>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    recorded_at: i64,
}

/// The journal rows after `seq`, oldest first.
fn rows_after(conn: &mut SqliteConnection, seq: i64) -> Vec<Row> {
    diesel::sql_query(
        "SELECT seq, changeset_id, entity, entity_key, op, before_image, after_image, undoes, \
         actor, recorded_at FROM recover_journal WHERE seq > ? ORDER BY seq",
    )
    .bind::<diesel::sql_types::BigInt, _>(seq)
    .load(conn)
    .unwrap()
}

fn gadgets(conn: &mut SqliteConnection) -> Vec<Gadget> {
    gadgets::table.order(gadgets::id).load(conn).unwrap()
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// An image written by a trigger holds `expected`, column by column (the float bit for bit; a
/// bool as SQLite stores it, 0 or 1).
fn assert_image(image: Option<&str>, expected: Option<&Gadget>, what: &str) {
    let (image, expected) = match (image, expected) {
        (None, None) => return,
        (Some(image), Some(expected)) => (image, expected),
        (image, expected) => panic!("{what}: image {image:?}, expected {expected:?}"),
    };
    let image: serde_json::Map<String, Value> = serde_json::from_str(image)
        .unwrap_or_else(|e| panic!("{what}: image {image} is not a JSON object: {e}"));
    let mut columns: Vec<_> = image.keys().map(String::as_str).collect();
    columns.sort_unstable();
    assert_eq!(
        columns,
        ["active", "id", "name", "note", "price", "stock"],
        "{what}"
    );
    assert_eq!(image["id"], json!(expected.id), "{what}");
    assert_eq!(image["name"], json!(expected.name), "{what}");
    assert_eq!(image["stock"], json!(expected.stock), "{what}");
    assert_eq!(image["note"], json!(expected.note), "{what}");
    let price = image["price"]
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: price"));
    assert_eq!(price.to_bits(), expected.price.to_bits(), "{what}: {price}");
    assert!(
        image["active"] == json!(i32::from(expected.active))
            || image["active"] == json!(expected.active),
        "{what}: active {}",
        image["active"]
    );
}

/// What one external write must have journaled.
struct Expect<'a> {
    key: &'a str,
    op: &'a str,
    before: Option<&'a Gadget>,
    after: Option<&'a Gadget>,
}

/// Runs one write of `writer` and checks the entries its triggers wrote: one per `expected`,
/// in one changeset, with no actor (no context), recorded at the SQL clock's now in
/// microseconds. Returns the entries' seqs.
fn external_write(
    conn: &mut SqliteConnection,
    writer: Writer,
    path: &str,
    (sql, params): (&str, Vec<Value>),
    expected: &[Expect<'_>],
) -> Vec<i64> {
    let last: Option<i64> = diesel::select(diesel::dsl::sql::<
        diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
    >("(SELECT MAX(seq) FROM recover_journal)"))
    .get_result(conn)
    .unwrap();
    let from = now_micros();
    writer.write(path, sql, &params);
    let to = now_micros();
    let rows = rows_after(conn, last.unwrap_or(0));
    assert_eq!(rows.len(), expected.len(), "{writer:?} `{sql}`: {rows:#?}");
    for (row, expect) in rows.iter().zip(expected) {
        let what = format!("{writer:?} `{sql}`, entry {}", row.seq);
        assert_eq!(row.entity, "gadgets", "{what}");
        assert_eq!(row.entity_key, expect.key, "{what}");
        assert_eq!(row.op, expect.op, "{what}");
        assert_eq!(row.changeset_id, rows[0].seq, "{what}: one changeset");
        assert_eq!((row.undoes, row.actor.as_deref()), (None, None), "{what}");
        assert_image(row.before_image.as_deref(), expect.before, &what);
        assert_image(row.after_image.as_deref(), expect.after, &what);
        // Microseconds since 1970 from SQLite's millisecond clock: within a few seconds of
        // this process's clock around the write, and a whole number of milliseconds.
        assert!(
            from - 3_000_000 <= row.recorded_at && row.recorded_at <= to + 3_000_000,
            "{what}: recorded_at {} is not within 3 s of [{from}, {to}] (microseconds)",
            row.recorded_at
        );
        assert_eq!(row.recorded_at % 1_000, 0, "{what}: {}", row.recorded_at);
    }
    rows.iter().map(|r| r.seq).collect()
}

/// Undoes the newest change of `key` from Rust and checks the table afterwards.
fn undo(conn: &mut SqliteConnection, key: i32, then: &[&Gadget]) {
    let before = rows_after(conn, 0).len();
    Journal::new()
        .undo::<Gadget>(conn, &key)
        .unwrap_or_else(|e| panic!("undo of gadget {key}: {e}"));
    let then: Vec<Gadget> = then.iter().map(|g| (*g).clone()).collect();
    assert_eq!(gadgets(conn), then, "after the undo of gadget {key}");
    let rows = rows_after(conn, 0);
    assert_eq!(rows.len(), before + 1, "one undo entry");
    assert_eq!(rows.last().unwrap().op, "undo");
}

/// The SQLite a writer runs on is the system's: older than the one recover bundles (this
/// process's), and not older than the floor.
fn assert_system_sqlite(conn: &mut SqliteConnection, writer: Writer) {
    let bundled: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "sqlite_version()",
    ))
    .get_result(conn)
    .unwrap();
    let external = writer.version();
    let system = Writer::Shell.version();
    println!(
        "{writer:?} writes with SQLite {external}; {SHELL} has {system}; recover bundles {bundled}"
    );
    assert!(
        version_parts(&external) < version_parts(&bundled),
        "{writer:?} runs SQLite {external}, not older than the bundled {bundled}: \
         this test would not exercise an older SQLite"
    );
    assert!(
        version_parts(&external) >= version_parts(FLOOR),
        "{writer:?} runs SQLite {external}, older than capture's floor {FLOOR}"
    );
    assert_eq!(
        external, system,
        "{writer:?} runs SQLite {external}, not the system's ({SHELL}: {system}); put the \
         system's python3 (Debian's /usr/bin/python3) first in PATH"
    );
}

/// One writer's insert, update, key change and delete, each journaled by the triggers in the
/// writer's SQLite, read back by `history`, and undone from Rust.
fn external_writes_are_journaled_and_undone(writer: Writer, test: &str) {
    let mut db = common::sqlite_file(test, true);
    let path = db.path.clone().unwrap();
    let conn = &mut db.conn;
    conn.exec(GADGETS);
    recover::capture::<Gadget>(conn).unwrap();
    assert_system_sqlite(conn, writer);

    let lamp = Gadget {
        id: 1,
        name: "lamp".into(),
        stock: 3,
        price: 0.1 + 0.2, // 17 significant digits: 0.30000000000000004
        note: None,
        active: true,
    };
    let desk = Gadget {
        id: 1,
        name: "desk lamp".into(),
        stock: 9_000_000_000,
        price: -2.5e-7,
        note: Some("it's \"new\"\n— ünïcödé".into()),
        active: false,
    };
    let moved = Gadget {
        id: 2,
        ..desk.clone()
    };

    // Insert.
    let insert = "INSERT INTO gadgets (id, name, stock, price, note, active) \
                  VALUES (?, ?, ?, ?, ?, ?)";
    let inserted = external_write(
        conn,
        writer,
        &path,
        (insert, params(&lamp)),
        &[Expect {
            key: "1",
            op: "insert",
            before: None,
            after: Some(&lamp),
        }],
    );
    assert_eq!(gadgets(conn), std::slice::from_ref(&lamp));

    // Update of every value column.
    let mut update = params(&desk);
    update.rotate_left(1); // the key last, for WHERE
    let updated = external_write(
        conn,
        writer,
        &path,
        (
            "UPDATE gadgets SET name = ?, stock = ?, price = ?, note = ?, active = ? WHERE id = ?",
            update,
        ),
        &[Expect {
            key: "1",
            op: "update",
            before: Some(&lamp),
            after: Some(&desk),
        }],
    );
    assert_eq!(gadgets(conn), std::slice::from_ref(&desk));

    // Key change: the old key removed and the new one created, in one changeset.
    let rekeyed = external_write(
        conn,
        writer,
        &path,
        (
            "UPDATE gadgets SET id = ? WHERE id = ?",
            vec![json!(2), json!(1)],
        ),
        &[
            Expect {
                key: "1",
                op: "delete",
                before: Some(&desk),
                after: None,
            },
            Expect {
                key: "2",
                op: "insert",
                before: None,
                after: Some(&moved),
            },
        ],
    );
    assert_eq!(gadgets(conn), std::slice::from_ref(&moved));

    // Delete.
    let deleted = external_write(
        conn,
        writer,
        &path,
        ("DELETE FROM gadgets WHERE id = ?", vec![json!(2)]),
        &[Expect {
            key: "2",
            op: "delete",
            before: Some(&moved),
            after: None,
        }],
    );
    assert!(gadgets(conn).is_empty());

    // History decodes the triggers' images into the model, with their seqs and times.
    let journal = Journal::new();
    let raw = rows_after(conn, 0);
    let recorded_at = |seq: i64| raw.iter().find(|r| r.seq == seq).unwrap().recorded_at;
    let one = journal.history::<Gadget>(conn, &1).unwrap();
    let summary = |h: &[recover::Entry<Gadget>]| {
        h.iter()
            .map(|e| (e.seq, e.op, e.before.clone(), e.after.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        summary(&one),
        [
            (inserted[0], Op::Insert, None, Some(lamp.clone())),
            (
                updated[0],
                Op::Update,
                Some(lamp.clone()),
                Some(desk.clone())
            ),
            (rekeyed[0], Op::Delete, Some(desk.clone()), None),
        ]
    );
    assert_eq!(
        one[1].changed_columns(),
        ["name", "stock", "price", "note", "active"]
    );
    let two = journal.history::<Gadget>(conn, &2).unwrap();
    assert_eq!(
        summary(&two),
        [
            (rekeyed[1], Op::Insert, None, Some(moved.clone())),
            (deleted[0], Op::Delete, Some(moved.clone()), None),
        ]
    );
    for entry in one.iter().chain(&two) {
        assert_eq!(entry.recorded_at.timestamp_micros(), recorded_at(entry.seq));
        assert_eq!(
            (entry.actor.as_deref(), entry.reason.as_deref()),
            (None, None)
        );
        assert_eq!(entry.undoes, None);
    }
    assert_eq!(
        two[0].changeset, one[2].changeset,
        "the key change: one changeset"
    );
    assert!(recover::check(conn).unwrap().is_ok());

    // Undo from Rust walks every external change back.
    undo(conn, 2, &[&moved]); // the delete
    undo(conn, 2, &[]); // the key change's new key
    undo(conn, 1, &[&desk]); // the key change's old key
    undo(conn, 1, &[&lamp]); // the update
    undo(conn, 1, &[]); // the insert
    assert!(recover::check(conn).unwrap().is_ok());

    // The writer's next change follows recover's entries, and is undone too.
    external_write(
        conn,
        writer,
        &path,
        (insert, params(&desk)),
        &[Expect {
            key: "1",
            op: "insert",
            before: None,
            after: Some(&desk),
        }],
    );
    undo(conn, 1, &[]);
    assert!(recover::check(conn).unwrap().is_ok());
}

#[test]
fn sqlite3_shell_writes_are_journaled_and_undone() {
    external_writes_are_journaled_and_undone(Writer::Shell, "capture_system_sqlite_shell");
}

#[test]
fn python_sqlite3_writes_are_journaled_and_undone() {
    external_writes_are_journaled_and_undone(Writer::Python, "capture_system_sqlite_python");
}
