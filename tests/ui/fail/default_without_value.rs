#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        plan -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    #[recover(default)]
    plan: String,
}

fn main() {}
