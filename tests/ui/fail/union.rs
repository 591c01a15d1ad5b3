#![allow(unused_imports)] // the derive expands to nothing on error, so the prelude goes unused

use diesel::prelude::*;
use recover::Recoverable;

diesel::table! {
    bits (id) {
        id -> Integer,
    }
}

#[derive(Recoverable)]
#[diesel(table_name = bits)]
union Bits {
    id: i32,
    raw: u32,
}

fn main() {}
