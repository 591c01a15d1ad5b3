#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    markers (id) {
        id -> Integer,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = markers)]
struct Marker;

fn main() {}
