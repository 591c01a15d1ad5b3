#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        full_name -> Text,
    }
}

// The field is `name`, but its column is `full_name`: naming the column is the mistake.
#[derive(Recoverable)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    #[diesel(column_name = full_name)]
    #[recover(renamed_from = "full_name")]
    name: String,
}

fn main() {}
