//! Single updates: W1 (each update in its own transaction, on SQLite with synchronous NORMAL;
//! W1-FULL with synchronous FULL), W2 (every update inside one transaction), W4 (changesets of
//! 100 updates), and PG-W1 and PG-W2, W1 and W2 on PostgreSQL. The recorded side calls
//! `Journal::update` (or `Journal::changeset`), the bare side Diesel's update of every column.

use std::time::Instant;

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use recover::Journal;

#[cfg(feature = "postgres")]
use crate::harness::postgres::Schema;
use crate::harness::sqlite::{SqliteDb, WAL_NORMAL};
use crate::harness::{
    bare_update, check_outcome, expected_rows, measure, random_updates, Config, Pair, Rng, Side,
};
use crate::model::{accounts, Account};

/// One round of W1 on `$conn`, a fresh database: `$updates`, each in its own transaction
/// (begun by `$conn.$begin` on the bare side), timed; checks the outcome.
macro_rules! own_txn_round {
    ($conn:expr, $journal:expr, $side:expr, $updates:expr, $begin:ident) => {{
        let (conn, journal, side, updates) = ($conn, $journal, $side, $updates);
        let start = Instant::now();
        match side {
            Side::Bare => {
                for u in updates {
                    conn.$begin(|c| bare_update!(c, u)).expect("bare update");
                }
            }
            Side::Recorded => {
                for u in updates {
                    journal.update(conn, u).expect("recorded update");
                }
            }
        }
        let t = start.elapsed();
        let entries = if side == Side::Recorded {
            updates.len()
        } else {
            0
        };
        check_outcome!(conn, expected_rows(updates), entries);
        t
    }};
}

/// Bare Diesel updates of `$updates`, all inside one transaction begun by `$conn.$begin`.
macro_rules! bare_in_one_txn {
    ($conn:expr, $begin:ident, $updates:expr) => {
        $conn
            .$begin::<_, diesel::result::Error, _>(|c| {
                for u in $updates {
                    bare_update!(c, u)?;
                }
                Ok(())
            })
            .expect("bare transaction")
    };
}

/// One round of W2 on `$conn`, a fresh database: `$updates`, all inside one transaction,
/// timed; checks the outcome.
macro_rules! one_txn_round {
    ($conn:expr, $journal:expr, $side:expr, $updates:expr) => {{
        let (conn, journal, side, updates) = ($conn, $journal, $side, $updates);
        let start = Instant::now();
        match side {
            Side::Bare => bare_in_one_txn!(conn, transaction, updates),
            Side::Recorded => conn
                .transaction::<_, recover::Error, _>(|c| {
                    for u in updates {
                        journal.update(c, u)?;
                    }
                    Ok(())
                })
                .expect("recorded transaction"),
        }
        let t = start.elapsed();
        let entries = if side == Side::Recorded {
            updates.len()
        } else {
            0
        };
        check_outcome!(conn, expected_rows(updates), entries);
        t
    }};
}

/// W1: each update in its own transaction.
pub fn sqlite_w1(cfg: &Config, name: &str, pragmas: &str, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    measure(name, ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(1), n);
        let mut db = SqliteDb::create(pragmas);
        own_txn_round!(
            &mut db.conn,
            &journal,
            side,
            &updates,
            immediate_transaction
        )
    })
}

/// W2: every update inside one transaction.
pub fn sqlite_w2(cfg: &Config, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    measure("W2", ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(2), n);
        let mut db = SqliteDb::create(WAL_NORMAL);
        one_txn_round!(&mut db.conn, &journal, side, &updates)
    })
}

/// W4: changesets of `size` updates vs the same updates, `size` to a transaction.
pub fn sqlite_w4(cfg: &Config, changesets: usize, size: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    let ops = changesets * size;
    let warm = (cfg.ops(10).min(changesets)) * size;
    measure("W4", ops, warm, rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(4), n);
        let mut db = SqliteDb::create(WAL_NORMAL);
        let conn = &mut db.conn;
        let start = Instant::now();
        for chunk in updates.chunks(size) {
            match side {
                Side::Bare => bare_in_one_txn!(conn, immediate_transaction, chunk),
                Side::Recorded => drop(
                    journal
                        .changeset(conn, |tx| {
                            for u in chunk {
                                tx.update(u)?;
                            }
                            Ok(())
                        })
                        .expect("changeset"),
                ),
            }
        }
        let t = start.elapsed();
        let entries = if side == Side::Recorded { n } else { 0 };
        check_outcome!(conn, expected_rows(&updates), entries);
        if side == Side::Recorded && size > 1 {
            let changesets: i64 = diesel::select(diesel::dsl::sql::<BigInt>(
                "(SELECT count(*) FROM recover_changesets)",
            ))
            .get_result(conn)
            .expect("count changesets");
            assert_eq!(changesets as usize, n.div_ceil(size), "changeset rows");
        }
        t
    })
}

/// PG-W1: each update in its own transaction.
#[cfg(feature = "postgres")]
pub fn pg_w1(cfg: &Config, schema: &Schema, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    measure("PG-W1", ops, cfg.ops(500).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(1), n);
        own_txn_round!(&mut schema.fresh(), &journal, side, &updates, transaction)
    })
}

/// PG-W2: every update inside one transaction.
#[cfg(feature = "postgres")]
pub fn pg_w2(cfg: &Config, schema: &Schema, ops: usize, rounds: usize) -> Pair {
    let journal = Journal::new();
    measure("PG-W2", ops, cfg.ops(1_000).min(ops), rounds, |side, n| {
        let updates = random_updates(&mut Rng::new(2), n);
        one_txn_round!(&mut schema.fresh(), &journal, side, &updates)
    })
}
