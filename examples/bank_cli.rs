//! The command line of `recover::cli`, linking the bank example's model: run
//! `cargo run --example bank` (it writes `bank.db` in the system's temp folder), then
//! `cargo run --features cli --example bank_cli -- --database-url /tmp/bank.db log accounts`.
//!
//! This is the whole program a user writes: their models linked in, and one call.

#[path = "bank/model.rs"]
#[allow(dead_code)]
mod model;

fn main() -> std::process::ExitCode {
    recover::cli::main::<diesel::SqliteConnection>()
}
