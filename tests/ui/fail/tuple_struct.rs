#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    points (id) {
        id -> Integer,
        x -> Integer,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = points)]
struct Point(i32, i32);

fn main() {}
