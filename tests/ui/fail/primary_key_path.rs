#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    memberships (user_id, group_id) {
        user_id -> Integer,
        group_id -> Integer,
        role -> Text,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = memberships, primary_key(memberships::user_id, group_id))]
struct Membership {
    user_id: i32,
    group_id: i32,
    role: String,
}

fn main() {}
