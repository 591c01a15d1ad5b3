//! RB: `recover::rebuild` of an export of 100,000 journal entries from SQLite into
//! PostgreSQL: its throughput, in entries and rows per second.

use std::time::Instant;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use recover::{At, ExportFrom, Journal};

use crate::harness::postgres::Schema;
use crate::harness::sqlite::{open_sqlite, remove_sqlite_files, WAL_NORMAL};
use crate::harness::{changed_row, initial_row, Config, Rng, ACCOUNTS_DDL};
use crate::model::{accounts, Account};

/// RB: a SQLite journal of `cfg.ops(100_000)` entries (a fifth inserts, the rest updates of
/// random rows), exported and rebuilt as of its last entry into an empty PostgreSQL schema.
pub fn sqlite_to_pg(cfg: &Config, schema: &Schema) -> String {
    let entries = cfg.ops(100_000).max(1_000);
    let rows = (entries / 5) as i32;
    let path = std::env::temp_dir().join(format!("recover_bench_rb_{}.db", std::process::id()));
    remove_sqlite_files(&path);
    let mut source = open_sqlite(&path, WAL_NORMAL);
    source.batch_execute(ACCOUNTS_DDL).expect("create accounts");
    recover::install(&mut source).expect("install");
    let journal = Journal::new().actor("bench");
    let mut rng = Rng::new(11);
    source
        .transaction::<_, recover::Error, _>(|conn| {
            for id in 1..=rows {
                journal.insert(conn, &initial_row(id))?;
            }
            for i in 0..entries - rows as usize {
                let id = (rng.next() % rows as u64) as i32 + 1;
                journal.update(conn, &changed_row(&mut rng, id, i))?;
            }
            Ok(())
        })
        .expect("write the journal");
    let mut file = Vec::new();
    let summary = recover::export(&mut source, &mut file, ExportFrom::Start).expect("export");
    let expected = accounts::table
        .order(accounts::id)
        .load::<Account>(&mut source)
        .expect("read the source");
    let last = usize::try_from(summary.position.seq).expect("a seq");

    let mut target = schema.empty();
    let started = Instant::now();
    recover::rebuild(&mut target, &file[..], At::Version(last)).expect("rebuild");
    let took = started.elapsed().as_secs_f64();
    let rebuilt = accounts::table
        .order(accounts::id)
        .load::<Account>(&mut target)
        .expect("read the target");
    assert!(
        rebuilt == expected,
        "the rebuilt rows differ from the source's"
    );
    drop(source);
    remove_sqlite_files(&path);
    format!(
        "RB: rebuild of {} entries ({} rows, a {:.1} MB export) from SQLite into PostgreSQL: \
         {took:.1} s, {:.0} entries/s, {:.0} rows/s",
        summary.entries,
        expected.len(),
        file.len() as f64 / 1e6,
        summary.entries as f64 / took,
        expected.len() as f64 / took,
    )
}
