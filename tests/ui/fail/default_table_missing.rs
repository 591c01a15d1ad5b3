#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
    }
}

// No table_name: the derive looks for `people_rows`.
#[derive(Recoverable)]
struct PeopleRow {
    id: i32,
    name: String,
}

fn main() {}
