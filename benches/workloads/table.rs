//! T: table restore.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{At, Journal};

use crate::harness::sqlite::{open_sqlite, remove_sqlite_files, WAL_NORMAL};
use crate::harness::{changed_row, initial_row, short_count, Config, Rng, ACCOUNTS_DDL};
use crate::model::{accounts, Account};

/// T: `restore_table` of a table of 100,000 rows of which 1,000 changed since the instant:
/// its cost follows the changed entities, not the table.
pub fn sqlite_t(cfg: &Config) -> String {
    let rows = cfg.ops(100_000).max(1_000);
    let changed = (rows / 100).max(10);
    let path = std::env::temp_dir().join(format!("recover_bench_t_{}.db", std::process::id()));
    remove_sqlite_files(&path);
    let mut conn = open_sqlite(&path, WAL_NORMAL);
    conn.batch_execute(ACCOUNTS_DDL).expect("create accounts");
    recover::install(&mut conn).expect("install");
    let journal = Journal::new();
    conn.transaction::<_, recover::Error, _>(|conn| {
        for id in 1..=rows as i32 {
            journal.insert(conn, &initial_row(id))?;
        }
        Ok(())
    })
    .expect("seed the table");
    std::thread::sleep(Duration::from_millis(5));
    let before = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(5));
    let mut rng = Rng::new(7);
    conn.transaction::<_, recover::Error, _>(|conn| {
        for i in 0..changed {
            let id = (rng.next() % rows as u64) as i32 + 1;
            journal.update(conn, &changed_row(&mut rng, id, i))?;
        }
        Ok(())
    })
    .expect("change some rows");
    let started = Instant::now();
    let mut restored = 0;
    journal
        .restore_table_with_progress::<Account>(&mut conn, At::Time(before), |p| restored = p.total)
        .expect("restore the table");
    let took = started.elapsed();
    let same = accounts::table
        .order(accounts::id)
        .load::<Account>(&mut conn)
        .expect("read the table")
        .into_iter()
        .zip(1..)
        .all(|(a, id)| a == initial_row(id));
    assert!(same, "the table is not as it was");
    drop(conn);
    remove_sqlite_files(&path);
    format!(
        "T: restore_table of {} rows with {restored} changed since the instant: {:.1} ms ({:.0} entities/s)",
        short_count(rows),
        took.as_secs_f64() * 1e3,
        restored as f64 / took.as_secs_f64()
    )
}
