#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    users (id) {
        id -> Integer,
        password_hash -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    #[recover(skip = true)]
    password_hash: String,
}

fn main() {}
