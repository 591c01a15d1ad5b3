//! Values are sacred: every column type Diesel maps comes back from history and undo exactly,
//! on every backend, whether recover's own code or a capture trigger wrote the image.
//!
//! Each sample row is stored twice in a captured table: once through `Journal::insert` (the
//! image recover encodes) and once through a plain Diesel insert (the image the trigger
//! writes). Each image must decode to the row it was taken of, bit for bit (compared through
//! `{:?}`, which tells -0.0 from 0.0 and prints the shortest text that reads back as the same
//! float), and undo must write the stored row back, bit for bit, after a plain change and after
//! a recorded one.

mod common;

use std::fmt::Debug;

#[cfg(any(feature = "postgres", feature = "mysql"))]
use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{Journal, JournalConn, Recoverable, RowStore};

/// A model whose key is `id: i32`.
trait Sample: Recoverable<Key = i32> + Debug + Clone {
    fn with_id(&self, id: i32) -> Self;
}

/// The journal side of the round trip; the Diesel side comes in as closures.
fn round_trip<C, T>(
    conn: &mut C,
    samples: &[T],
    insert_plain: impl Fn(&mut C, &T),
    update_plain: impl Fn(&mut C, &T),
    load: impl Fn(&mut C, i32) -> T,
) where
    C: RowStore<T> + JournalConn,
    T: Sample,
{
    recover::capture::<T>(conn).unwrap();
    let journal = Journal::new();
    let n = i32::try_from(samples.len()).unwrap();
    let same = |a: &T, b: &T| format!("{:?}", a.with_id(0)) == format!("{:?}", b.with_id(0));
    for (i, sample) in (0..).zip(samples) {
        let (by_recover, by_trigger) = (2 * i + 1, 2 * i + 2);
        journal.insert(conn, &sample.with_id(by_recover)).unwrap();
        insert_plain(conn, &sample.with_id(by_trigger));
        let stored = load(conn, by_recover);
        assert!(same(&stored, &load(conn, by_trigger)), "{stored:?}");
        // recover's image is the row it was given; the trigger's, the row as stored (the two
        // differ where the database normalises a value: SQLite keeps no -0.0).
        for (id, written) in [(by_recover, sample), (by_trigger, &stored)] {
            let history = journal.history::<T>(conn, &id).unwrap();
            let image = history[0].after.clone().unwrap();
            assert!(
                same(&image, written),
                "entry {id}: {image:?} != {written:?}"
            );
        }
        // A plain change, journaled by the trigger, undone from the trigger's before-image.
        let other = samples[usize::try_from((i + 1) % n).unwrap()].clone();
        for id in [by_recover, by_trigger] {
            update_plain(conn, &other.with_id(id));
            journal.undo::<T>(conn, &id).unwrap();
            let back = load(conn, id);
            assert!(same(&back, &stored), "undo of {id}: {back:?} != {stored:?}");
            // A recorded change, undone from recover's own before-image.
            journal.update(conn, &other.with_id(id)).unwrap();
            journal.undo::<T>(conn, &id).unwrap();
            assert!(same(&load(conn, id), &stored));
        }
    }
    let report = recover::check(conn).unwrap();
    assert!(report.is_ok(), "{report:?}");
}

/// The test of one backend: its table, its model and its samples.
macro_rules! round_trip_test {
    ($test:ident, $fresh:path, $table:ident, $model:ident, $ddl:expr, $samples:expr) => {
        #[test]
        fn $test() {
            let mut db = $fresh(stringify!($test), true);
            db.conn.batch_execute($ddl).unwrap();
            round_trip::<_, $model>(
                &mut db.conn,
                &$samples,
                |conn, row| {
                    diesel::insert_into($table::table)
                        .values(row)
                        .execute(conn)
                        .unwrap();
                },
                |conn, row| {
                    diesel::update($table::table.find(row.id))
                        .set(row)
                        .execute(conn)
                        .unwrap();
                },
                |conn, id| $table::table.find(id).first(conn).unwrap(),
            );
        }
    };
}

fn timestamp(text: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
}

fn instant(text: &str) -> DateTime<Utc> {
    timestamp(text).and_utc()
}

const FLOATS: [f64; 8] = [
    -1.5e-300,
    5e-324,
    f64::MAX,
    f64::MIN_POSITIVE,
    0.1,
    1.0 / 3.0,
    -0.0,
    -123_456_789.012_345_68,
];

const SINGLES: [f32; 4] = [1e-45, f32::MAX, 0.1, -3.402_823e38];

const TEXTS: [&str; 4] = [
    "",
    "plain",
    "ünïcødé ✓ 𝄞 \"quoted\" \\ back",
    "tab\tnew\nline",
];

// ---------------------------------------------------------------- SQLite

diesel::table! {
    samples_sqlite (id) {
        id -> Integer,
        small -> SmallInt,
        int -> Integer,
        big -> BigInt,
        flag -> Nullable<Bool>,
        single -> Float,
        double -> Double,
        text -> Text,
        bytes -> Binary,
        date -> Nullable<Date>,
        time -> Nullable<Time>,
        at -> Timestamp,
        at_utc -> Nullable<TimestamptzSqlite>,
        doc -> Nullable<Json>,
        maybe_double -> Nullable<Double>,
        maybe_bytes -> Nullable<Binary>,
    }
}

#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    Identifiable,
    Insertable,
    AsChangeset,
    Recoverable,
)]
#[diesel(table_name = samples_sqlite, treat_none_as_null = true)]
#[diesel(check_for_backend(diesel::sqlite::Sqlite))]
struct SampleSqlite {
    id: i32,
    small: i16,
    int: i32,
    big: i64,
    flag: Option<bool>,
    single: f32,
    double: f64,
    text: String,
    bytes: Vec<u8>,
    date: Option<NaiveDate>,
    time: Option<NaiveTime>,
    at: NaiveDateTime,
    at_utc: Option<DateTime<Utc>>,
    doc: Option<serde_json::Value>,
    maybe_double: Option<f64>,
    maybe_bytes: Option<Vec<u8>>,
}

impl Sample for SampleSqlite {
    fn with_id(&self, id: i32) -> Self {
        SampleSqlite { id, ..self.clone() }
    }
}

fn sqlite_samples() -> Vec<SampleSqlite> {
    (0..8)
        .map(|i| SampleSqlite {
            id: 0,
            small: [i16::MIN, i16::MAX, 0, -1][i % 4],
            int: [i32::MIN, i32::MAX, 0, 7][i % 4],
            big: [i64::MIN, i64::MAX, 0, -42][i % 4],
            flag: [Some(true), Some(false), None][i % 3],
            single: SINGLES[i % 4],
            double: FLOATS[i],
            text: TEXTS[i % 4].to_owned(),
            bytes: [
                vec![],
                vec![0, 255, 0, 10],
                vec![b'\\', b'x', 0],
                (0..=255).collect(),
            ][i % 4]
                .clone(),
            date: [NaiveDate::from_ymd_opt(2024, 2, 29), None][i % 2],
            time: [
                NaiveTime::from_hms_micro_opt(23, 59, 59, [999_999, 0, 500_000, 1][i % 4]),
                None,
            ][i / 4],
            at: timestamp(
                [
                    "2024-02-29 23:59:59.999999",
                    "1970-01-01 00:00:00",
                    "2038-01-19 03:14:08.5",
                    "1999-12-31 12:00:00.000001",
                ][i % 4],
            ),
            at_utc: Some(instant(
                [
                    "2024-06-01 12:00:00.123456",
                    "1970-01-01 00:00:00",
                    "2001-09-09 01:46:40.5",
                    "2024-03-31 02:30:00.000007",
                ][i % 4],
            ))
            .filter(|_| i != 3),
            doc: Some(serde_json::json!({"n": i, "f": 0.1, "nested": [null, true, "x"]}))
                .filter(|_| i != 5),
            maybe_double: [None, Some(-0.0), Some(2.5e-310), Some(1e300)][i % 4],
            maybe_bytes: [None, Some(vec![]), Some(vec![0]), Some(vec![1, 2, 3])][i % 4].clone(),
        })
        .collect()
}

const SQLITE_DDL: &str = "CREATE TABLE samples_sqlite (id INTEGER PRIMARY KEY, \
    small SMALLINT NOT NULL, int INTEGER NOT NULL, big BIGINT NOT NULL, flag BOOLEAN, \
    single FLOAT NOT NULL, double DOUBLE NOT NULL, text TEXT NOT NULL, bytes BLOB NOT NULL, \
    date DATE, time TIME, at TIMESTAMP NOT NULL, at_utc TIMESTAMPTZ, doc JSON, \
    maybe_double DOUBLE, maybe_bytes BLOB)";

round_trip_test!(
    sqlite_memory_types,
    common::sqlite_memory,
    samples_sqlite,
    SampleSqlite,
    SQLITE_DDL,
    sqlite_samples()
);
round_trip_test!(
    sqlite_file_types,
    common::sqlite_file,
    samples_sqlite,
    SampleSqlite,
    SQLITE_DDL,
    sqlite_samples()
);

// ---------------------------------------------------------------- PostgreSQL

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    diesel::table! {
        samples_pg (id) {
            id -> Integer,
            small -> SmallInt,
            big -> BigInt,
            flag -> Nullable<Bool>,
            single -> Float,
            double -> Double,
            text -> Text,
            bytes -> Binary,
            date -> Nullable<Date>,
            time -> Nullable<Time>,
            at -> Timestamp,
            at_tz -> Nullable<Timestamptz>,
            amount -> Nullable<Numeric>,
            uid -> Nullable<Uuid>,
            doc -> Nullable<Json>,
            docb -> Jsonb,
        }
    }

    #[derive(
        Debug,
        Clone,
        PartialEq,
        Queryable,
        Selectable,
        Identifiable,
        Insertable,
        AsChangeset,
        Recoverable,
    )]
    #[diesel(table_name = samples_pg, treat_none_as_null = true)]
    #[diesel(check_for_backend(diesel::pg::Pg))]
    pub struct SamplePg {
        id: i32,
        small: i16,
        big: i64,
        flag: Option<bool>,
        single: f32,
        double: f64,
        text: String,
        bytes: Vec<u8>,
        date: Option<NaiveDate>,
        time: Option<NaiveTime>,
        at: NaiveDateTime,
        at_tz: Option<DateTime<Utc>>,
        amount: Option<BigDecimal>,
        uid: Option<uuid::Uuid>,
        doc: Option<serde_json::Value>,
        docb: serde_json::Value,
    }

    impl Sample for SamplePg {
        fn with_id(&self, id: i32) -> Self {
            SamplePg { id, ..self.clone() }
        }
    }

    pub fn samples() -> Vec<SamplePg> {
        let lite = sqlite_samples();
        (0..8)
            .map(|i| {
                let l = &lite[i];
                SamplePg {
                    id: 0,
                    small: l.small,
                    big: l.big,
                    flag: l.flag,
                    single: l.single,
                    double: l.double,
                    text: l.text.clone(),
                    bytes: l.bytes.clone(),
                    date: l.date,
                    time: l.time,
                    at: l.at,
                    at_tz: l.at_utc,
                    amount: [
                        "0",
                        "-12345678901234567890.123456789",
                        "0.000001",
                        "1e-20",
                        "3.14",
                    ]
                    .get(i)
                    .map(|d| d.parse().unwrap()),
                    uid: Some(uuid::Uuid::from_u128(
                        0x0123_4567_89ab_cdef_fedc_ba98_7654_3210 + i as u128,
                    ))
                    .filter(|_| i != 2),
                    doc: l.doc.clone(),
                    docb: serde_json::json!({"k": [1, 2.5, "ü"], "i": i}),
                }
            })
            .collect()
    }

    /// A session time zone far from UTC, so that a timestamptz written in it must be read
    /// back as the same instant.
    pub const DDL: &str = "SET TIME ZONE 'America/St_Johns'; \
        CREATE TABLE samples_pg (id INTEGER PRIMARY KEY, small SMALLINT NOT NULL, \
        big BIGINT NOT NULL, flag BOOLEAN, single REAL NOT NULL, \
        double DOUBLE PRECISION NOT NULL, text TEXT NOT NULL, bytes BYTEA NOT NULL, \
        date DATE, time TIME, at TIMESTAMP NOT NULL, at_tz TIMESTAMPTZ, amount NUMERIC, \
        uid UUID, doc JSON, docb JSONB NOT NULL); \
        SET extra_float_digits = 0; SET bytea_output = 'escape'";

    round_trip_test!(
        postgres_types,
        common::postgres,
        samples_pg,
        SamplePg,
        DDL,
        samples()
    );
}

// ---------------------------------------------------------------- MySQL and MariaDB

#[cfg(feature = "mysql")]
mod mysql {
    use super::*;

    diesel::table! {
        samples_my (id) {
            id -> Integer,
            tiny -> TinyInt,
            small -> SmallInt,
            big -> BigInt,
            flag -> Nullable<Bool>,
            single -> Float,
            double -> Double,
            text -> Text,
            bytes -> Blob,
            date -> Nullable<Date>,
            time -> Nullable<Time>,
            at -> Datetime,
            amount -> Numeric,
            doc -> Nullable<Json>,
            maybe_double -> Nullable<Double>,
            maybe_bytes -> Nullable<Blob>,
        }
    }

    #[derive(
        Debug,
        Clone,
        PartialEq,
        Queryable,
        Selectable,
        Identifiable,
        Insertable,
        AsChangeset,
        Recoverable,
    )]
    #[diesel(table_name = samples_my, treat_none_as_null = true)]
    #[diesel(check_for_backend(diesel::mysql::Mysql))]
    pub struct SampleMy {
        id: i32,
        tiny: i8,
        small: i16,
        big: i64,
        flag: Option<bool>,
        single: f32,
        double: f64,
        text: String,
        bytes: Vec<u8>,
        date: Option<NaiveDate>,
        time: Option<NaiveTime>,
        at: NaiveDateTime,
        amount: BigDecimal,
        doc: Option<serde_json::Value>,
        maybe_double: Option<f64>,
        maybe_bytes: Option<Vec<u8>>,
    }

    impl Sample for SampleMy {
        fn with_id(&self, id: i32) -> Self {
            SampleMy { id, ..self.clone() }
        }
    }

    pub fn samples() -> Vec<SampleMy> {
        let lite = sqlite_samples();
        (0..8)
            .map(|i| {
                let l = &lite[i];
                SampleMy {
                    id: 0,
                    tiny: [i8::MIN, i8::MAX, 0, 1][i % 4],
                    small: l.small,
                    big: l.big,
                    flag: l.flag,
                    single: l.single,
                    double: l.double,
                    text: l.text.clone(),
                    bytes: l.bytes.clone(),
                    date: l.date,
                    time: l.time,
                    at: l.at,
                    amount: [
                        "1.000000",
                        "-12345678901234.123456",
                        "0.000001",
                        "99.500000",
                    ][i % 4]
                        .parse()
                        .unwrap(),
                    doc: l.doc.clone(),
                    maybe_double: l.maybe_double,
                    maybe_bytes: l.maybe_bytes.clone(),
                }
            })
            .collect()
    }

    pub const DDL: &str = "SET time_zone = '+05:45'; \
        CREATE TABLE samples_my (id INTEGER PRIMARY KEY, tiny TINYINT NOT NULL, \
        small SMALLINT NOT NULL, big BIGINT NOT NULL, flag BOOLEAN, single FLOAT NOT NULL, \
        `double` DOUBLE NOT NULL, text TEXT NOT NULL, bytes LONGBLOB NOT NULL, date DATE, \
        time TIME(6), at DATETIME(6) NOT NULL, amount DECIMAL(30, 6) NOT NULL, doc JSON, \
        maybe_double DOUBLE, maybe_bytes BLOB) \
        ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

    round_trip_test!(
        mysql_types,
        common::mysql,
        samples_my,
        SampleMy,
        DDL,
        samples()
    );
}
