//! Capture mode: database triggers journal every change of a table, however it is made.
//!
//! `capture` installs the triggers a model's columns call for (`triggers::*` holds the SQL per
//! database), `release` removes them, and `capture_sql` gives the same DDL for a migration.
//! The tables in capture mode are listed in `recover_captures`, so that `check` can report a
//! captured table whose triggers went missing or were generated for other columns.

use crate::backend::{JournalConn, PerBackend, Scope};
use crate::entity_check::Problem;
use crate::error::Error;
use crate::model::{trigger_spec, Recoverable};
use crate::registry;
use crate::triggers::{literal, TriggerSpec};

/// Turns capture mode on for `T`'s table: from now on every INSERT, UPDATE and DELETE on it —
/// plain Diesel, raw SQL, another connection or service — writes its journal entry in the same
/// transaction, so undo, restore and history cover it. recover's own calls on `T` still write
/// one entry per change, with their own op.
///
/// Idempotent: a second call refreshes the triggers (after a migration changed the model's
/// columns). Needs [`install`](crate::install) first ([`Error::NotInstalled`]); refuses a table
/// that does not exist ([`Error::NoSuchTable`]), a nullable key column
/// ([`Error::NullableKey`]), a table captured for another model
/// ([`Error::CapturedByOtherModel`]) and a trigger of capture's name that recover did not make
/// ([`Error::TriggerExists`]), and, on MySQL, a table whose foreign keys cascade (cascades do
/// not fire triggers there: [`Error::CascadeNotCaptured`]), writing nothing. A database that
/// refuses to create triggers for lack of privilege is [`Error::CaptureRefused`].
///
/// On SQLite the triggers need SQLite 3.35.0 or later, with the JSON functions (built in since
/// 3.38.0, the `SQLITE_ENABLE_JSON1` compile option before): a connection whose
/// `sqlite_version()` is older is refused with [`Error::DatabaseTooOld`]. The triggers then run
/// in every program that writes the table, with that program's own SQLite (the system's
/// `sqlite3` shell, Python's `sqlite3` module, …), which this check cannot see: those need
/// 3.35.0 or later too. One without the JSON functions fails its writes to the table with
/// `no such function` rather than leave them unjournaled. Before SQLite 3.44 a double above
/// about 1e100 can be journaled one unit off in its 17th digit (SQLite's `printf`), and its
/// undo reports [`Error::Conflict`].
///
/// ```text
/// recover::install(&mut conn)?;
/// recover::capture::<Note>(&mut conn)?;
///
/// // A plain Diesel insert, journaled by the trigger, undone through recover.
/// diesel::insert_into(notes::table).values((notes::id.eq(1), notes::body.eq("hi"))).execute(&mut conn)?;
/// assert_eq!(Journal::new().history::<Note>(&mut conn, &1)?.len(), 1);
/// Journal::new().undo::<Note>(&mut conn, &1)?;
/// ```
pub fn capture<T: Recoverable>(conn: &mut impl JournalConn) -> Result<(), Error> {
    capture_on::<T, _>(conn)
}

fn capture_on<T: Recoverable, C: JournalConn>(conn: &mut C) -> Result<(), Error> {
    C::pick::<Floor>()(conn, T::ENTITY)?;
    let spec = trigger_spec::<T>();
    let ddl = C::capture_ddl(&spec);
    conn.atomically(Scope::Many, |conn| {
        // The journal must exist; the capture tables of an older install are added.
        conn.count_entries("", "")?;
        conn.batch_execute(C::INSTALL_SQL)?;
        let columns = conn.table_columns(T::ENTITY)?;
        if columns.is_empty() {
            return Err(Error::NoSuchTable { entity: T::ENTITY });
        }
        if let Some((column, _)) = columns
            .iter()
            .find(|(name, nullable)| *nullable && T::KEY_COLUMNS.contains(&name.as_str()))
        {
            return Err(Error::NullableKey {
                entity: T::ENTITY,
                column: column.clone(),
            });
        }
        if let Some(constraint) = conn.uncaptured_cascades(T::ENTITY)?.into_iter().next() {
            return Err(Error::CascadeNotCaptured {
                entity: T::ENTITY,
                constraint,
            });
        }
        if let Some((trigger, _)) = conn
            .capture_triggers(T::ENTITY)?
            .into_iter()
            .find(|(_, definition)| !ours(definition))
        {
            return Err(Error::TriggerExists {
                entity: T::ENTITY,
                trigger,
            });
        }
        let model = std::any::type_name::<T>();
        if let Some(captured_by) = conn.captured_by(T::ENTITY)?.filter(|m| m != model) {
            return Err(Error::CapturedByOtherModel {
                entity: T::ENTITY,
                captured_by,
                requested_by: model,
            });
        }
        conn.batch_execute(&ddl).map_err(|e| refused::<T>(e))?;
        conn.batch_execute(&register_sql::<C>(&spec, model))?;
        Ok(())
    })
}

/// The DDL [`capture`] runs for `T` on backend `C`, for a migration: run it with
/// `batch_execute` (or as a migration's `up.sql`) after `recover::install`'s tables exist.
/// Nothing checks the database's version here: on SQLite, every program that writes the
/// table needs SQLite 3.35.0 or later (see [`capture`]).
///
/// ```text
/// let ddl: String = recover::capture_sql::<Note, PgConnection>();
/// std::fs::write("migrations/2026-12-01-capture-notes/up.sql", ddl)?;
/// ```
pub fn capture_sql<T: Recoverable, C: JournalConn>() -> String {
    let spec = trigger_spec::<T>();
    C::capture_ddl(&spec) + &register_sql::<C>(&spec, std::any::type_name::<T>())
}

/// Turns capture mode off for `T`'s table: its triggers are dropped, the journal stays. Later
/// changes outside recover are not journaled, and undo reports them as [`Error::Conflict`].
/// Releasing a table that is not captured changes nothing.
pub fn release<T: Recoverable>(conn: &mut impl JournalConn) -> Result<(), Error> {
    release_on::<T, _>(conn)
}

fn release_on<T: Recoverable, C: JournalConn>(conn: &mut C) -> Result<(), Error> {
    conn.atomically(Scope::Many, |conn| {
        conn.count_entries("", "")?;
        if conn.table_columns(T::ENTITY)?.is_empty() {
            return Err(Error::NoSuchTable { entity: T::ENTITY });
        }
        if conn
            .capture_triggers(T::ENTITY)?
            .iter()
            .any(|(_, definition)| !ours(definition))
        {
            // Not recover's: left alone.
            return Ok(());
        }
        let unregister = format!(
            "DELETE FROM recover_captures WHERE entity = {};",
            literal(T::ENTITY)
        );
        conn.batch_execute(&(C::release_ddl(T::ENTITY) + &unregister))?;
        Ok(())
    })
}

/// The captured tables whose triggers are missing or were generated for other columns than
/// their model has now (part of [`check`](crate::check)).
pub(crate) fn check_captures<C: JournalConn>(conn: &mut C) -> Result<Vec<Problem>, Error> {
    let captured = match conn.captured_entities().map_err(Error::from) {
        Ok(captured) => captured,
        // Installed before capture mode existed: nothing is captured.
        Err(Error::NotInstalled(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut problems = Vec::new();
    for entity in captured {
        let model = conn.captured_by(&entity)?;
        let Some(registration) = registry::registered::<C>(&entity, model.as_deref()) else {
            continue;
        };
        let expected = (registration.spec)().fingerprint(C::CAPTURE_VERSION);
        let triggers = conn.capture_triggers(&entity)?;
        // Stale first: the triggers of an earlier release may be fewer than today's.
        if let Some((trigger, _)) = triggers.iter().find(|(_, d)| !d.contains(&expected)) {
            problems.push(Problem::CaptureStale {
                entity,
                trigger: trigger.clone(),
                expected,
            });
        } else if triggers.len() < C::CAPTURE_TRIGGERS {
            problems.push(Problem::CaptureMissing { entity });
        }
    }
    Ok(problems)
}

/// The oldest database version capture's triggers run on, checked on the connection before
/// anything is written: per connection type, `Ok` where there is nothing to check.
struct Floor;

/// Checks the connection's database version for capturing `entity`.
type FloorCheck<C> = fn(&mut C, &'static str) -> Result<(), Error>;

impl PerBackend for Floor {
    type Of<C: JournalConn> = FloorCheck<C>;

    #[cfg(feature = "sqlite")]
    fn sqlite() -> Self::Of<diesel::sqlite::SqliteConnection> {
        |conn, entity| {
            use diesel::RunQueryDsl;
            let version: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "sqlite_version()",
            ))
            .get_result(conn)?;
            floor(entity, "SQLite", &version, crate::triggers::sqlite::FLOOR)
        }
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Self::Of<diesel::pg::PgConnection> {
        |conn, entity| {
            use diesel::RunQueryDsl;
            let version: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "current_setting('server_version')",
            ))
            .get_result(conn)?;
            floor(entity, "PostgreSQL", &version, POSTGRES_FLOOR)
        }
    }

    #[cfg(feature = "mysql")]
    fn mysql() -> Self::Of<diesel::mysql::MysqlConnection> {
        |_, _| Ok(())
    }
}

/// The oldest PostgreSQL whose triggers capture runs on (`jsonb`, `set_config`, transaction-local
/// settings, and the trigger functions' `EXECUTE FUNCTION` syntax, all present since 11; 13 is
/// the oldest release still supported upstream and the oldest claimed).
#[cfg(feature = "postgres")]
const POSTGRES_FLOOR: &str = "13";

/// [`Error::DatabaseTooOld`] when `version` (as the database reports it, `3.40.1` or
/// `15.19 (Debian 15.19-0+deb12u1)`) is older than `minimum`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn floor(
    entity: &'static str,
    database: &'static str,
    version: &str,
    minimum: &'static str,
) -> Result<(), Error> {
    if older_than(version, minimum) {
        return Err(Error::DatabaseTooOld {
            entity,
            database,
            version: version.to_owned(),
            minimum,
        });
    }
    Ok(())
}

/// Whether the dotted version `version` (`3.40.1`) is older than `floor`, part by part; a
/// missing part counts as 0. A version that does not start with a number is not refused:
/// nothing is known about it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
fn older_than(version: &str, floor: &str) -> bool {
    fn parts(version: &str) -> Option<Vec<u64>> {
        version
            .trim()
            .split('.')
            .map(|part| {
                let digits =
                    part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                part[..digits].parse().ok()
            })
            .collect()
    }
    let (Some(mut version), Some(mut floor)) = (parts(version), parts(floor)) else {
        return false;
    };
    let len = version.len().max(floor.len());
    version.resize(len, 0);
    floor.resize(len, 0);
    version < floor
}

/// A refusal to create triggers for lack of privilege, as [`Error::CaptureRefused`].
fn refused<T: Recoverable>(error: diesel::result::Error) -> Error {
    let message = error.to_string();
    let privilege = [
        "log_bin_trust_function_creators",
        "SUPER privilege",
        "permission denied",
    ]
    .iter()
    .any(|m| message.contains(m))
        || message.contains("command denied");
    if privilege {
        Error::CaptureRefused {
            entity: T::ENTITY,
            problem: message,
        }
    } else {
        error.into()
    }
}

/// The texts capture triggers carry (see `TriggerSpec::fingerprint`), of every release: a
/// trigger an older release generated is still recover's, to refresh or release.
const MARKS: [&str; 3] = [
    "recover capture v1: ",
    "recover capture v2: ",
    "recover capture v3: ",
];

/// Whether a trigger's definition is one capture generated.
fn ours(definition: &str) -> bool {
    MARKS.iter().any(|mark| definition.contains(mark))
}

/// Lists the table in `recover_captures` (the same statement on every backend).
fn register_sql<C: JournalConn>(spec: &TriggerSpec, model: &str) -> String {
    let entity = literal(spec.entity);
    format!(
        "DELETE FROM recover_captures WHERE entity = {entity};\n\
         INSERT INTO recover_captures (entity, model, generated_for, captured_at) VALUES ({entity}, {}, {}, 0);\n",
        literal(model),
        literal(&spec.fingerprint(C::CAPTURE_VERSION)),
    )
}

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    use super::older_than;

    #[test]
    fn postgres_versions_compare_with_their_packaging_suffix() {
        assert!(!older_than("15.19 (Debian 15.19-0+deb12u1)", "13"));
        assert!(!older_than("18.1", "13"));
        assert!(!older_than("13.0", "13"));
        assert!(older_than("12.22", "13"));
        assert!(older_than("9.6.24", "13"));
    }

    #[test]
    fn versions_compare_part_by_part() {
        // Debian 12's system SQLite, the bundled one, and the floor itself are not older.
        assert!(!older_than("3.40.1", "3.35.0"));
        assert!(!older_than("3.53.2", "3.35.0"));
        assert!(!older_than("3.35.0", "3.35.0"));
        assert!(!older_than("3.35", "3.35.0"));
        assert!(!older_than("3.100.0", "3.35.0"));
        assert!(!older_than("4.0.0", "3.35.0"));
        // Debian 11, Ubuntu 20.04, RHEL 8.
        assert!(older_than("3.34.1", "3.35.0"));
        assert!(older_than("3.31.1", "3.35.0"));
        assert!(older_than("3.26.0", "3.35.0"));
        assert!(older_than("3.9", "3.35.0"));
        assert!(older_than("2.8.17", "3.35.0"));
        // Trailing text after a part's digits is ignored.
        assert!(older_than("3.34.1-beta", "3.35.0"));
        assert!(!older_than(" 3.36.0\n", "3.35.0"));
        // A version with no number in it is not refused.
        assert!(!older_than("", "3.35.0"));
        assert!(!older_than("unknown", "3.35.0"));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn below_the_floor_is_database_too_old() {
        use crate::error::Error;
        let refused =
            super::floor("notes", "SQLite", "3.34.1", crate::triggers::sqlite::FLOOR).unwrap_err();
        assert!(matches!(
            &refused,
            Error::DatabaseTooOld {
                entity: "notes",
                database: "SQLite",
                version,
                minimum: "3.35.0",
            } if version == "3.34.1"
        ));
        assert_eq!(
            refused.to_string(),
            "cannot capture notes: this connection's SQLite is 3.34.1, and capture's triggers \
             need SQLite 3.35.0 or later"
        );
        assert!(super::floor("notes", "SQLite", "3.35.0", crate::triggers::sqlite::FLOOR).is_ok());
        assert!(super::floor("notes", "SQLite", "3.40.1", crate::triggers::sqlite::FLOOR).is_ok());
    }
}
