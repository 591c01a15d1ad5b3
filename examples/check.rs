//! Checks a SQLite database's journal against itself and its rows, changing nothing:
//! `cargo run --example check -- /tmp/bank.db`. Exits with status 1 when it finds a problem.
//!
//! `recover::check` knows the models linked into the program that calls it (here the bank's
//! `Account`); entities of other tables are checked as JSON only. In an application, call
//! `recover::check(&mut conn)` from a small binary of its own that links its models.

use diesel::{Connection, SqliteConnection};

#[path = "bank/model.rs"]
#[allow(dead_code)]
mod model;

fn main() -> Result<(), recover::Error> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check <sqlite database file>");
        std::process::exit(2);
    };
    let mut conn = SqliteConnection::establish(&path)?;
    let report = recover::check(&mut conn)?;
    print!("{path}: {report}");
    if !report.is_ok() {
        std::process::exit(1);
    }
    Ok(())
}
